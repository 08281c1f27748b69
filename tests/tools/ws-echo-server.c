/*
 * ws-echo-server: a small WebSocket server that stands in for the relay in
 * the simulator's own tests (tests/integration/twilio-sim.sh).
 *
 * It records, one line per event and flushed at once, what a connection
 * did, with the milliseconds since that connection's upgrade:
 *
 *   <conn> <ms> UPGRADE <X-Twilio-Signature or -> <path, as lws decoded it>
 *   <conn> <ms> TEXT <message>
 *   <conn> <ms> BINARY <length>
 *   <conn> <ms> PEERCLOSE <code> <reason>
 *   <conn> <ms> CLOSED
 *   - 0 REFUSED <signature or -> <path>     (-r)
 *
 * and answers like the relay would, as told by the options (see usage()).
 * Test code only: one listening socket on 127.0.0.1, no limits beyond the
 * message size.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libwebsockets.h>
#include <openssl/evp.h>

#include "buf.h"
#include "outq.h"

#define ES_MESSAGE_MAX	(4 * 1024 * 1024)
#define ES_HDR_MAX	1024
#define ES_BIG		(2 * 1024 * 1024)	/* -b: past the simulator's 1 MiB */
#define ES_LONG_CHUNK	600000			/* -L: bytes per message */
#define ES_LONG_COUNT	9			/* -L: 9 x 75 s = 11.25 min */

static struct {
	int		 port;
	FILE		*out;
	const char	*cert, *key;
	bool		 echo;		/* -e */
	int		 echo_byte;	/* -x, -1: as received */
	int		 greeting_ms;	/* -g */
	bool		 clear_on_dtmf;	/* -c */
	bool		 junk;		/* -J */
	bool		 big;		/* -b */
	bool		 longaudio;	/* -L */
	int		 refuse;	/* -r */
	int		 stop_close;	/* -s */
	int		 kill_ms, kill_code; /* -k */
} opt = { .echo_byte = -1 };

/* Per connection; lws allocates and frees it (per_session_data_size). */
struct conn {
	int		 id;
	int64_t		 t0;
	struct lws	*wsi;
	char		 path[ES_HDR_MAX];
	char		 sig[ES_HDR_MAX];
	char		 stream_sid[128];
	struct outq	 outq;
	struct buf	 rx;
	bool		 rx_binary;
	int		 close_code;	/* != 0: close once the queue is out */
	lws_sorted_usec_list_t kill;
};

static struct lws_context	*context;
static volatile sig_atomic_t	 interrupted;
static int			 nconns;

static void
record(const struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
record(const struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c != NULL)
		fprintf(opt.out, "%d %" PRId64 " ", c->id,
		    ((int64_t)lws_now_usecs() - c->t0) / 1000);
	else
		fprintf(opt.out, "- 0 ");
	va_start(ap, fmt);
	vfprintf(opt.out, fmt, ap);
	va_end(ap);
	fputc('\n', opt.out);
	fflush(opt.out);
}

static void
send_text(struct conn *c, const char *s, size_t len)
{
	outq_push(&c->outq, s, len, false);
	lws_callback_on_writable(c->wsi);
}

static void
send_json(struct conn *c, json_object *o)
{
	const char *s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	send_text(c, s, strlen(s));
	json_object_put(o);
}

static void
send_event(struct conn *c, const char *event, const char *key,
    json_object *inner)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "event", json_object_new_string(event));
	json_object_object_add(o, "streamSid",
	    json_object_new_string(c->stream_sid));
	if (key != NULL)
		json_object_object_add(o, key, inner);
	send_json(c, o);
}

static void
send_media_b64(struct conn *c, const char *b64)
{
	json_object *m = json_object_new_object();

	json_object_object_add(m, "payload", json_object_new_string(b64));
	send_event(c, "media", "media", m);
}

static void
send_media(struct conn *c, const uint8_t *audio, size_t len)
{
	char *b64 = malloc((len + 2) / 3 * 4 + 1);

	EVP_EncodeBlock((unsigned char *)b64, audio, (int)len);
	send_media_b64(c, b64);
	free(b64);
}

static void
send_mark(struct conn *c, const char *name)
{
	json_object *m = json_object_new_object();

	json_object_object_add(m, "name", json_object_new_string(name));
	send_event(c, "mark", "mark", m);
}

static void
conn_close(struct conn *c, int code)
{
	c->close_code = code;
	lws_callback_on_writable(c->wsi);
}

static void
kill_timer(lws_sorted_usec_list_t *sul)
{
	struct conn *c = lws_container_of(sul, struct conn, kill);

	conn_close(c, opt.kill_code);
}

/* What the options say to send when the stream starts. */
static void
on_start(struct conn *c)
{
	static const char wrong_sid[] = "{\"event\":\"media\","
	    "\"streamSid\":\"MZwrong\",\"media\":{\"payload\":\"VVVV\"}}";
	uint8_t	 frame[160], *big;
	char	 name[32], *s;
	int	 i;

	if (opt.greeting_ms > 0) {
		memset(frame, 0x55, sizeof(frame));
		for (i = 1; i <= opt.greeting_ms / 20; i++) {
			send_media(c, frame, sizeof(frame));
			snprintf(name, sizeof(name), "g%d", i);
			send_mark(c, name);
		}
	}
	if (opt.junk) {
		outq_push(&c->outq, "\x01\x02\x03", 3, true);
		send_text(c, "{\"event\":\"media\",", 17);
		send_text(c, wrong_sid, strlen(wrong_sid));
		send_event(c, "bogus", NULL, NULL);
	}
	if (opt.big) {
		s = malloc(ES_BIG + 1);
		memset(s, 'A', ES_BIG);
		memcpy(s, "{\"event\":\"media\",\"media\":{\"payload\":\"", 37);
		memcpy(s + ES_BIG - 3, "\"}}", 3);
		send_text(c, s, ES_BIG);
		free(s);
	}
	if (opt.longaudio) {
		big = malloc(ES_LONG_CHUNK);
		memset(big, 0x55, ES_LONG_CHUNK);
		for (i = 0; i < ES_LONG_COUNT; i++)
			send_media(c, big, ES_LONG_CHUNK);
		free(big);
		send_mark(c, "long");
	}
}

static void
on_media(struct conn *c, json_object *o)
{
	json_object	*m, *v;
	const char	*payload, *chunk = "?";
	uint8_t		 audio[4096];
	char		 name[64];
	size_t		 len;
	int		 n;

	if (!json_object_object_get_ex(o, "media", &m) ||
	    !json_object_object_get_ex(m, "payload", &v))
		return;
	payload = json_object_get_string(v);
	if (json_object_object_get_ex(m, "chunk", &v))
		chunk = json_object_get_string(v);
	if (opt.echo_byte >= 0) {
		len = strlen(payload);
		if (len == 0 || len > sizeof(audio) / 3 * 4)
			return;
		n = EVP_DecodeBlock(audio, (const unsigned char *)payload,
		    (int)len);
		if (n <= 0)
			return;
		/* EVP_DecodeBlock counts the padding as bytes. */
		n -= payload[len - 1] == '=' ? (payload[len - 2] == '=' ? 2 : 1) : 0;
		memset(audio, opt.echo_byte, (size_t)n);
		send_media(c, audio, (size_t)n);
	} else
		send_media_b64(c, payload);
	snprintf(name, sizeof(name), "echo-%s", chunk);
	send_mark(c, name);
}

static void
on_message(struct conn *c, const char *text)
{
	json_object	*o = json_tokener_parse(text), *v, *s;
	const char	*event;

	if (o == NULL || !json_object_object_get_ex(o, "event", &v))
		goto done;
	event = json_object_get_string(v);
	if (strcmp(event, "start") == 0) {
		if (json_object_object_get_ex(o, "start", &s) &&
		    json_object_object_get_ex(s, "streamSid", &v))
			snprintf(c->stream_sid, sizeof(c->stream_sid), "%s",
			    json_object_get_string(v));
		on_start(c);
	} else if (strcmp(event, "media") == 0 && opt.echo)
		on_media(c, o);
	else if (strcmp(event, "dtmf") == 0 && opt.clear_on_dtmf)
		send_event(c, "clear", NULL, NULL);
	else if (strcmp(event, "stop") == 0 && opt.stop_close != 0)
		conn_close(c, opt.stop_close);
done:
	json_object_put(o);
}

static void
copy_header(struct lws *wsi, char *dst, size_t size, const char *name)
{
	int n = lws_hdr_custom_copy(wsi, dst, (int)size, name,
	    (int)strlen(name));

	if (n < 0 || dst[0] == '\0')
		snprintf(dst, size, "-");
}

static int
es_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct conn	*c = user;
	char		 path[ES_HDR_MAX], sig[ES_HDR_MAX];
	const uint8_t	*code;
	unsigned char	 reason_buf[8];

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		if (opt.refuse == 0)
			return 0;
		if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
			path[0] = '\0';
		copy_header(wsi, sig, sizeof(sig), "x-twilio-signature:");
		record(NULL, "REFUSED %s %s", sig, path);
		if (lws_return_http_status(wsi, (unsigned int)opt.refuse, NULL))
			return -1;
		return 1;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		memset(c, 0, sizeof(*c));
		c->id = ++nconns;
		c->t0 = (int64_t)lws_now_usecs();
		c->wsi = wsi;
		if (lws_hdr_copy(wsi, c->path, sizeof(c->path),
		    WSI_TOKEN_GET_URI) < 0)
			c->path[0] = '\0';
		copy_header(wsi, c->sig, sizeof(c->sig), "x-twilio-signature:");
		outq_init(&c->outq);
		buf_init(&c->rx, ES_MESSAGE_MAX);
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		c->wsi = wsi;
		record(c, "UPGRADE %s %s", c->sig, c->path);
		if (opt.kill_ms > 0)
			lws_sul_schedule(context, 0, &c->kill, kill_timer,
			    (lws_usec_t)opt.kill_ms * 1000);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (lws_is_first_fragment(wsi)) {
			buf_reset(&c->rx);
			c->rx_binary = lws_frame_is_binary(wsi) != 0;
		}
		if (buf_append(&c->rx, in, len) == -1)
			return -1;
		if (!lws_is_final_fragment(wsi))
			return 0;
		if (c->rx_binary)
			record(c, "BINARY %zu", c->rx.len);
		else {
			record(c, "TEXT %s", buf_str(&c->rx));
			on_message(c, buf_str(&c->rx));
		}
		buf_reset(&c->rx);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (c->outq.head != NULL) {
			if (outq_write_one(&c->outq, wsi) == -1)
				return -1;
			if (c->outq.head != NULL || c->close_code != 0)
				lws_callback_on_writable(wsi);
			return 0;
		}
		if (c->close_code != 0) {
			memcpy(reason_buf, "closing", 7);
			lws_close_reason(wsi, (enum lws_close_status)c->close_code,
			    reason_buf, 7);
			return -1;
		}
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		code = in;
		if (len >= 2)
			record(c, "PEERCLOSE %d %.*s", code[0] << 8 | code[1],
			    (int)len - 2, (const char *)code + 2);
		else
			record(c, "PEERCLOSE 1005 ");
		return 0;
	case LWS_CALLBACK_CLOSED:
		record(c, "CLOSED");
		lws_sul_cancel(&c->kill);
		outq_free(&c->outq);
		buf_free(&c->rx);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{ "twilio-media", es_callback, sizeof(struct conn), 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
usage(void)
{
	fprintf(stderr,
"usage: ws-echo-server [-bceJL] [-p PORT] [-o FILE] [-C CERT -K KEY] [-x BYTE]\n"
"                      [-g MS] [-r STATUS] [-s CODE] [-k MS:CODE]\n"
"  -p PORT    listen on 127.0.0.1:PORT (default: any free port)\n"
"  -o FILE    record events to FILE (default: stdout)\n"
"  -C, -K     TLS certificate and key (wss)\n"
"  -e         echo inbound media as outbound media + mark \"echo-<chunk>\"\n"
"  -x BYTE    with -e: replace every echoed byte with BYTE\n"
"  -g MS      on start: MS ms of 0x55 in 20 ms messages, mark \"g<n>\" after each\n"
"  -c         send clear when a dtmf arrives\n"
"  -J         on start: a binary frame, bad JSON, a wrong streamSid, an unknown event\n"
"  -b         on start: one 2 MiB message\n"
"  -L         on start: 11.25 minutes of audio in 9 messages, mark \"long\"\n"
"  -r STATUS  refuse every upgrade with this HTTP status\n"
"  -s CODE    close with CODE when stop arrives\n"
"  -k MS:CODE close with CODE MS ms after the upgrade\n");
	exit(2);
}

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
	if (context != NULL)
		lws_cancel_service(context);
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info	 info;
	struct lws_vhost			*vh;
	struct sigaction			 sa;
	int					 ch;

	opt.out = stdout;
	while ((ch = getopt(argc, argv, "bC:ceg:Jk:K:Lo:p:r:s:x:")) != -1) {
		switch (ch) {
		case 'b': opt.big = true; break;
		case 'C': opt.cert = optarg; break;
		case 'c': opt.clear_on_dtmf = true; break;
		case 'e': opt.echo = true; break;
		case 'g': opt.greeting_ms = atoi(optarg); break;
		case 'J': opt.junk = true; break;
		case 'k':
			if (sscanf(optarg, "%d:%d", &opt.kill_ms, &opt.kill_code) != 2)
				usage();
			break;
		case 'K': opt.key = optarg; break;
		case 'L': opt.longaudio = true; break;
		case 'o':
			if ((opt.out = fopen(optarg, "w")) == NULL) {
				fprintf(stderr, "%s: %s\n", optarg, strerror(errno));
				return 1;
			}
			break;
		case 'p': opt.port = atoi(optarg); break;
		case 'r': opt.refuse = atoi(optarg); break;
		case 's': opt.stop_close = atoi(optarg); break;
		case 'x': opt.echo_byte = (int)strtol(optarg, NULL, 0); break;
		default: usage();
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	lws_set_log_level(LLL_ERR, NULL);

	memset(&info, 0, sizeof(info));
	info.port = opt.port;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	if (opt.cert != NULL) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = opt.cert;
		info.ssl_private_key_filepath = opt.key;
	}
	if ((context = lws_create_context(&info)) == NULL) {
		fprintf(stderr, "ws-echo-server: cannot create the context\n");
		return 1;
	}
	vh = lws_get_vhost_by_name(context, "default");
	printf("listening on PORT %d\n", vh != NULL ?
	    lws_get_vhost_listen_port(vh) : -1);
	fflush(stdout);
	while (!interrupted && lws_service(context, 0) >= 0)
		;
	lws_context_destroy(context);
	if (opt.out != stdout)
		fclose(opt.out);
	return 0;
}
