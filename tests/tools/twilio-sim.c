/*
 * twilio-sim: plays Twilio's side of bidirectional Media Streams
 * (PROTOCOLS.md §3, §5, §8) for the relay's tests, the demo and the
 * benchmarks, since Twilio itself cannot be reached from a test machine.
 *
 * Each CALL on the command line is one WebSocket to
 * CONNECT_URL/ws/realtime/<session_id>/, signed like Twilio signs the
 * upgrade.  After the upgrade a call sends `connected` and `start`, then
 * 20 ms of caller audio every 20 ms (scheduled by absolute time, so the
 * cadence never drifts) following a talk pattern, DTMF at given times,
 * and `stop`.  What the server sends back is played in real time by a
 * model of Twilio's playback buffer (playback.c), which echoes marks when
 * their audio has played and on `clear`.  Malformed server messages are
 * counted, as Twilio would log them, never fatal.
 *
 * All calls run concurrently in one lws service thread; every call
 * prints one JSON line of results when it ends.  Run with -h for the
 * command line.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libwebsockets.h>
#include <openssl/evp.h>

#include "buf.h"
#include "log.h"
#include "outq.h"
#include "playback.h"
#include "signature.h"
#include "url.h"

#define SIM_CALLS_MAX		1000	/* calls per process */
#define SIM_ID_MAX		256	/* longest session id or CallSid */
#define SIM_MESSAGE_MAX		(1024 * 1024) /* from the server; else 1009 */
#define SIM_RX_CHUNK		65536	/* lws receive buffer per call */
#define SIM_FRAME_MS		20	/* Twilio's inbound frame */
#define SIM_TICK_US		5000	/* the one timer's period: see ticker() */
#define SIM_FRAME_BYTES		(SIM_FRAME_MS * PLAYBACK_BYTES_PER_MS)
#define SIM_SEGMENTS_MAX	64	/* entries in -T */
#define SIM_DTMF_MAX		256	/* entries in -F */
#define SIM_OUTQ_MAX		(1024 * 1024) /* queued bytes before media is dropped */
#define SIM_CONNECT_TIMEOUT	10	/* seconds for connect + upgrade */
#define SIM_DRAIN_MS		2000	/* -R: wait for the server's close */
#define SIM_DURATION_MAX	86400000 /* -D, -W and times in -F: one day */
#define SIM_SILENCE		0xff	/* μ-law silence */
#define SIM_SILENCE_ALT		0x7f	/* the other μ-law zero */

struct segment {
	int		 ms;
	bool		 speech;
};

struct dtmf {
	char		 digit;
	int		 at_ms;		/* after `start` */
};

enum sig_mode {
	SIG_GOOD,
	SIG_BAD,			/* -B */
	SIG_NONE,			/* -N */
};

/* The command line; read-only once main() has parsed it. */
static struct settings {
	struct url	 connect;	/* -u */
	char		 base_path[URL_PATH_MAX + 1]; /* -u's path, no trailing '/' */
	char		 public_base[SIGNATURE_URL_MAX]; /* -P, no trailing '/' */
	const char	*token;		/* -t */
	enum sig_mode	 sig;
	bool		 insecure;	/* -k */
	char		 account_sid[SIM_ID_MAX + 1]; /* -A */
	int		 duration_ms;	/* -D */
	struct segment	 talk[SIM_SEGMENTS_MAX]; /* -T */
	int		 ntalk;
	int		 talk_period_ms;
	struct dtmf	 dtmf[SIM_DTMF_MAX]; /* -F, sorted by time */
	int		 ndtmf;
	int		 wait_ms;	/* -W */
	bool		 no_start;	/* -S */
	const char	*callsid_override; /* -C */
	bool		 wait_close;	/* -R */
	bool		 expected[256];	/* -E, plus silence */
	FILE		*results;	/* -j */
} settings;

/*
 * A call goes through these states in order; call_set_state() is the only
 * place that changes it and refuses to go back.
 */
enum call_state {
	CALL_IDLE,		/* not started */
	CALL_CONNECTING,	/* TCP, TLS and the upgrade request under way */
	CALL_OPEN,		/* upgraded, `connected` sent, no `start` yet */
	CALL_STREAMING,		/* `start` sent: media every 20 ms, playback */
	CALL_STOPPED,		/* `stop` queued: close when written (-R: wait) */
	CALL_CLOSING,		/* our close frame goes after the queue */
	CALL_ENDED,		/* the connection is gone, results written */
};

static const char *const call_state_names[] = {
	"idle", "connecting", "open", "streaming", "stopped", "closing",
	"ended",
};

/*
 * One simulated call.  Allocated in one array by main() before the lws
 * context exists and freed after it is destroyed, so no callback can see
 * a freed call; lws service thread only.
 */
struct call {
	int		 index;
	enum call_state	 state;
	char		 tag[SIM_ID_MAX + 16];	/* "session=<id>" for logs */
	char		*session_id;
	char		*call_sid;
	uint8_t		 pattern;	/* the caller's speech byte */
	char		 stream_sid[35];
	char		 path[3 * SIM_ID_MAX + URL_PATH_MAX + 32];
	char		 signature[SIGNATURE_B64_LEN + 1];
	bool		 expected[256];	/* settings.expected + pattern */

	struct lws	*wsi;
	int64_t		 timer_at;	/* µs, 0: none: -W start, -S end, -R wait */
	struct outq	 outq;
	struct buf	 rx;		/* the message being received */
	bool		 rx_binary;
	bool		 rx_skip;	/* the rest of an over-long message */
	struct playback	 pb;

	int64_t		 t_begin;	/* µs: connection attempt */
	int64_t		 t_start;	/* µs: `start` sent */
	int64_t		 t_end;
	uint64_t	 seq;		/* last sequenceNumber sent */
	int		 chunks;	/* media chunks due so far */
	int		 chunks_total;
	int		 next_dtmf;	/* index in settings.dtmf */
	int		 close_req_code; /* what CALL_CLOSING sends */
	const char	*close_req_reason;

	/* results */
	int		 upgrade_status;
	bool		 connected;
	int		 close_code;
	char		 close_reason[128];
	const char	*closed_by;
	int64_t		 sent_media_ms;
	int		 sent_dtmf;
	int64_t		 dropped_media_ms; /* send queue full (Twilio 31930) */
	int64_t		 received_media_bytes;
	int64_t		 first_audio_us; /* -1: none yet */
	int64_t		 marks_received;
	int64_t		 protocol_errors;
};

static struct call		*calls;
static int			 ncalls;
static int			 ncalls_ended;
static struct lws_context	*context;
static lws_sorted_usec_list_t	 ticker_sul;
static json_tokener		*rx_tok;	/* reused for every message */
static int64_t			 ticker_next;	/* µs: the grid point scheduled */
static volatile sig_atomic_t	 interrupted;

static void	 call_end(struct call *, const char *reason);
static void	 call_after(struct call *, int ms);
static void	 call_close(struct call *, int code, const char *reason);

static void
usage(FILE *f)
{
	fprintf(f,
"usage: twilio-sim -u CONNECT_URL -t AUTH_TOKEN [-BNdkRS] [-P PUBLIC_URL]\n"
"                  [-A ACCOUNT_SID] [-D MS] [-T TALK] [-F DTMF] [-W MS]\n"
"                  [-C CALLSID] [-E BYTES] [-j FILE] SESSION_ID:CALL_SID[:PATTERN]...\n"
"  -u URL   ws:// or wss:// base to connect to; the path is /ws/realtime/<id>/\n"
"  -t TOKEN Twilio auth token that signs the upgrade\n"
"  -P URL   base URL that is signed (default: CONNECT_URL)\n"
"  -B       send a wrong signature      -N  send no signature\n"
"  -k       wss: do not verify the server's certificate\n"
"  -A SID   account sid (default: AC and 32 random hex digits)\n"
"  -D MS    stream caller audio for MS ms, then stop (default 3000)\n"
"  -T TALK  talk pattern: s<ms> speech, q<ms> quiet, comma-separated,\n"
"           repeated (default s600,q1400)\n"
"  -F DTMF  dtmf events: <digit>@<ms>, comma-separated\n"
"  -W MS    wait MS ms between connected and start (default 0)\n"
"  -S       never send start; the call ends after -D or when the server closes\n"
"  -R       after stop, wait up to 2 s for the server to close\n"
"  -C SID   put SID in start and stop instead of each call's CallSid\n"
"  -E BYTES byte values that also count as expected audio (e.g. 0x55,0x56)\n"
"  -j FILE  write the per-call JSON results to FILE (default stdout)\n"
"  -d       debug log to stderr\n"
"PATTERN is the caller's speech byte (default derived from the call's place).\n");
}

static void
usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "twilio-sim: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage(stderr);
	exit(2);
}

static int64_t
now_us(void)
{
	return (int64_t)lws_now_usecs();
}

/* ------------------------------------------------------- command line */

static bool
parse_int(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (*s == '\0')
		return false;
	errno = 0;
	v = strtol(s, &end, 0);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool
parse_talk(const char *s)
{
	char		*copy, *tok, *save = NULL;
	long		 ms;
	bool		 ok = true;

	settings.ntalk = 0;
	settings.talk_period_ms = 0;
	if ((copy = strdup(s)) == NULL)
		return false;
	for (tok = strtok_r(copy, ",", &save); tok != NULL && ok;
	    tok = strtok_r(NULL, ",", &save)) {
		if ((tok[0] != 's' && tok[0] != 'q') ||
		    !parse_int(tok + 1, 1, SIM_DURATION_MAX, &ms) ||
		    settings.ntalk == SIM_SEGMENTS_MAX ||
		    settings.talk_period_ms > SIM_DURATION_MAX - ms) {
			ok = false;
			break;
		}
		settings.talk[settings.ntalk].speech = tok[0] == 's';
		settings.talk[settings.ntalk].ms = (int)ms;
		settings.talk_period_ms += (int)ms;
		settings.ntalk++;
	}
	free(copy);
	return ok && settings.ntalk > 0;
}

static int
dtmf_cmp(const void *a, const void *b)
{
	const struct dtmf *da = a, *db = b;

	return (da->at_ms > db->at_ms) - (da->at_ms < db->at_ms);
}

static bool
parse_dtmf(const char *s)
{
	char	*copy, *tok, *save = NULL;
	long	 ms;
	bool	 ok = true;

	settings.ndtmf = 0;
	if ((copy = strdup(s)) == NULL)
		return false;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (strchr("0123456789*#", tok[0]) == NULL || tok[0] == '\0' ||
		    tok[1] != '@' ||
		    !parse_int(tok + 2, 0, SIM_DURATION_MAX, &ms) ||
		    settings.ndtmf == SIM_DTMF_MAX) {
			ok = false;
			break;
		}
		settings.dtmf[settings.ndtmf].digit = tok[0];
		settings.dtmf[settings.ndtmf].at_ms = (int)ms;
		settings.ndtmf++;
	}
	free(copy);
	/* A stable order for equal times is not needed: digits are events. */
	qsort(settings.dtmf, (size_t)settings.ndtmf, sizeof(settings.dtmf[0]),
	    dtmf_cmp);
	return ok && settings.ndtmf > 0;
}

static bool
parse_bytes(const char *s, bool set[256])
{
	char	*copy, *tok, *save = NULL;
	long	 v;
	bool	 ok = true, any = false;

	if ((copy = strdup(s)) == NULL)
		return false;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (!parse_int(tok, 0, 255, &v)) {
			ok = false;
			break;
		}
		set[v] = true;
		any = true;
	}
	free(copy);
	return ok && any;
}

static void
random_hex(char *out, size_t nbytes)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 r[64];
	size_t			 i;

	if (nbytes > sizeof(r) || getrandom(r, nbytes, 0) != (ssize_t)nbytes) {
		fprintf(stderr, "twilio-sim: getrandom failed\n");
		exit(1);
	}
	for (i = 0; i < nbytes; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 0xf];
	}
	out[2 * nbytes] = '\0';
}

/* Copy s into dst, percent-encoding what is not an unreserved character. */
static void
path_escape(char *dst, size_t size, const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 n = 0;
	unsigned char		 c;

	for (; *s != '\0' && n + 4 < size; s++) {
		c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			dst[n++] = (char)c;
		else {
			dst[n++] = '%';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 0xf];
		}
	}
	dst[n] = '\0';
}

/*
 * The default speech byte of the call at index: 0x10 + index % 200 over
 * the values that are neither silence nor listed in -E, so that audio of
 * one call heard in another is always foreign.
 */
static uint8_t
default_pattern(int index)
{
	int	 allowed[256], n = 0, v;

	for (v = 0x10; v < 0x100; v++)
		if (!settings.expected[v])
			allowed[n++] = v;
	if (n == 0)
		return 0x10;
	return (uint8_t)allowed[(index % 200) % n];
}

static void
call_setup(struct call *c, int index, const char *arg)
{
	char	*copy, *p, *q, esc[3 * SIM_ID_MAX + 1], url[SIGNATURE_URL_MAX];
	char	 token[1024];
	long	 v;
	int	 n;

	memset(c, 0, sizeof(*c));
	c->index = index;
	c->first_audio_us = -1;
	c->closed_by = "client";
	if ((copy = strdup(arg)) == NULL)
		usage_error("out of memory");
	if ((p = strchr(copy, ':')) == NULL)
		usage_error("%s: SESSION_ID:CALL_SID[:PATTERN] expected", arg);
	*p++ = '\0';
	if ((q = strchr(p, ':')) != NULL) {
		*q++ = '\0';
		if (!parse_int(q, 0, 255, &v))
			usage_error("%s: PATTERN must be a byte value (0-255)",
			    arg);
		c->pattern = (uint8_t)v;
	} else
		c->pattern = default_pattern(index);
	if (copy[0] == '\0' || p[0] == '\0' || strlen(copy) > SIM_ID_MAX ||
	    strlen(p) > SIM_ID_MAX)
		usage_error("%s: the session id and CallSid must be 1 to 256 "
		    "characters", arg);
	c->session_id = copy;
	c->call_sid = p;
	memcpy(c->tag, "session=", 8);
	log_escape(c->tag + 8, sizeof(c->tag) - 8, copy);
	memcpy(c->stream_sid, "MZ", 2);
	random_hex(c->stream_sid + 2, 16);

	path_escape(esc, sizeof(esc), c->session_id);
	snprintf(c->path, sizeof(c->path), "%s/ws/realtime/%s/",
	    settings.base_path, esc);
	n = snprintf(url, sizeof(url), "%s/ws/realtime/%s/",
	    settings.public_base, esc);
	if (n < 0 || (size_t)n >= sizeof(url))
		usage_error("%s: the signed URL is too long", arg);
	if (settings.sig != SIG_NONE) {
		/* -B: a well-formed signature made with another token. */
		snprintf(token, sizeof(token), "%s%s", settings.token,
		    settings.sig == SIG_BAD ? "-wrong" : "");
		if (!signature_compute(token, url, NULL, c->signature))
			usage_error("%s: cannot sign the URL", url);
	}
	memcpy(c->expected, settings.expected, sizeof(c->expected));
	c->expected[c->pattern] = true;
	playback_init(&c->pb, c->expected);
	outq_init(&c->outq);
	buf_init(&c->rx, SIM_MESSAGE_MAX);
}

static void
parse_args(int argc, char **argv)
{
	const char	*why, *connect_url = NULL, *public_url = NULL;
	const char	*results = NULL;
	struct url	 pub;
	size_t		 n;
	long		 v;
	int		 ch, i;

	settings.duration_ms = 3000;
	settings.expected[SIM_SILENCE] = settings.expected[SIM_SILENCE_ALT] = true;
	if (!parse_talk("s600,q1400"))
		abort();
	while ((ch = getopt(argc, argv, "A:BC:D:dE:F:hj:kNP:RST:t:u:W:")) != -1) {
		switch (ch) {
		case 'A':
			if (optarg[0] == '\0' || strlen(optarg) > SIM_ID_MAX)
				usage_error("-A %s: 1 to 256 characters", optarg);
			snprintf(settings.account_sid,
			    sizeof(settings.account_sid), "%s", optarg);
			break;
		case 'B':
			settings.sig = SIG_BAD;
			break;
		case 'C':
			if (optarg[0] == '\0' || strlen(optarg) > SIM_ID_MAX)
				usage_error("-C %s: 1 to 256 characters", optarg);
			settings.callsid_override = optarg;
			break;
		case 'D':
			if (!parse_int(optarg, 0, SIM_DURATION_MAX, &v))
				usage_error("-D %s: milliseconds expected", optarg);
			settings.duration_ms = (int)v;
			break;
		case 'd':
			log_set_level(LOG_DEBUG);
			break;
		case 'E':
			if (!parse_bytes(optarg, settings.expected))
				usage_error("-E %s: a comma list of byte values "
				    "expected", optarg);
			break;
		case 'F':
			if (!parse_dtmf(optarg))
				usage_error("-F %s: <digit>@<ms>,... expected",
				    optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'j':
			results = optarg;
			break;
		case 'k':
			settings.insecure = true;
			break;
		case 'N':
			settings.sig = SIG_NONE;
			break;
		case 'P':
			public_url = optarg;
			break;
		case 'R':
			settings.wait_close = true;
			break;
		case 'S':
			settings.no_start = true;
			break;
		case 'T':
			if (!parse_talk(optarg))
				usage_error("-T %s: s<ms>/q<ms>,... expected",
				    optarg);
			break;
		case 't':
			settings.token = optarg;
			break;
		case 'u':
			connect_url = optarg;
			break;
		case 'W':
			if (!parse_int(optarg, 0, SIM_DURATION_MAX, &v))
				usage_error("-W %s: milliseconds expected", optarg);
			settings.wait_ms = (int)v;
			break;
		default:
			usage(stderr);
			exit(2);
		}
	}
	argc -= optind;
	argv += optind;

	if (connect_url == NULL)
		usage_error("-u CONNECT_URL is required");
	if (!url_parse(connect_url, &settings.connect, &why) ||
	    (strcmp(settings.connect.scheme, "ws") != 0 &&
	    strcmp(settings.connect.scheme, "wss") != 0))
		usage_error("-u %s: a ws:// or wss:// URL is expected",
		    connect_url);
	snprintf(settings.base_path, sizeof(settings.base_path), "%s",
	    settings.connect.path);
	n = strlen(settings.base_path);
	if (n > 0 && settings.base_path[n - 1] == '/')
		settings.base_path[n - 1] = '\0';
	if (public_url == NULL)
		public_url = connect_url;
	else if (!url_parse(public_url, &pub, &why))
		usage_error("-P %s: not a URL", public_url);
	if (strlen(public_url) >= sizeof(settings.public_base) - 512)
		usage_error("-P %s: too long", public_url);
	snprintf(settings.public_base, sizeof(settings.public_base), "%s",
	    public_url);
	n = strlen(settings.public_base);
	if (n > 0 && settings.public_base[n - 1] == '/')
		settings.public_base[n - 1] = '\0';
	if (settings.token == NULL && settings.sig != SIG_NONE)
		usage_error("-t AUTH_TOKEN is required (or -N)");
	if (settings.account_sid[0] == '\0') {
		memcpy(settings.account_sid, "AC", 2);
		random_hex(settings.account_sid + 2, 16);
	}
	for (i = 0; i < settings.ndtmf; i++)
		if (settings.dtmf[i].at_ms > settings.duration_ms)
			usage_error("-F: an event after the end of the call (-D)");
	if (argc < 1)
		usage_error("no CALL given");
	if (argc > SIM_CALLS_MAX)
		usage_error("at most 1000 calls per process");

	settings.results = stdout;
	if (results != NULL && (settings.results = fopen(results, "w")) == NULL) {
		fprintf(stderr, "twilio-sim: %s: %s\n", results, strerror(errno));
		exit(2);
	}

	ncalls = argc;
	if ((calls = calloc((size_t)ncalls, sizeof(*calls))) == NULL)
		usage_error("out of memory");
	for (i = 0; i < ncalls; i++)
		call_setup(&calls[i], i, argv[i]);
}

/* ------------------------------------------------------------ sending */

static void
call_set_state(struct call *c, enum call_state to)
{
	if (to <= c->state && to != CALL_ENDED) {
		log_call(LOG_ERR, c->tag, "bug: state %s -> %s",
		    call_state_names[c->state], call_state_names[to]);
		abort();
	}
	log_call(LOG_DEBUG, c->tag, "%s -> %s", call_state_names[c->state],
	    call_state_names[to]);
	c->state = to;
}

static void
call_want_write(struct call *c)
{
	if (c->wsi != NULL)
		lws_callback_on_writable(c->wsi);
}

/* Queue a JSON object (and release it). */
static void
call_send_json(struct call *c, json_object *o)
{
	const char	*s;
	size_t		 len;

	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(s);
	if (outq_push(&c->outq, s, len, false) == -1)
		log_call(LOG_ERR, c->tag, "out of memory: message dropped");
	json_object_put(o);
	call_want_write(c);
}

static json_object *
jstr(const char *s)
{
	return json_object_new_string(s);
}

static json_object *
jseq(struct call *c)
{
	char n[24];

	snprintf(n, sizeof(n), "%" PRIu64, ++c->seq);
	return json_object_new_string(n);
}

static const char *
call_sid_sent(const struct call *c)
{
	return settings.callsid_override != NULL ? settings.callsid_override :
	    c->call_sid;
}

static void
send_connected(struct call *c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "event", jstr("connected"));
	json_object_object_add(o, "protocol", jstr("Call"));
	json_object_object_add(o, "version", jstr("1.0.0"));
	call_send_json(c, o);
}

static void
send_start(struct call *c)
{
	json_object *o = json_object_new_object();
	json_object *s = json_object_new_object();
	json_object *tracks = json_object_new_array();
	json_object *fmt = json_object_new_object();
	json_object *params = json_object_new_object();

	json_object_array_add(tracks, jstr("inbound"));
	json_object_object_add(fmt, "encoding", jstr("audio/x-mulaw"));
	json_object_object_add(fmt, "sampleRate", json_object_new_int(8000));
	json_object_object_add(fmt, "channels", json_object_new_int(1));
	json_object_object_add(params, "session_id", jstr(c->session_id));
	json_object_object_add(s, "accountSid", jstr(settings.account_sid));
	json_object_object_add(s, "streamSid", jstr(c->stream_sid));
	json_object_object_add(s, "callSid", jstr(call_sid_sent(c)));
	json_object_object_add(s, "tracks", tracks);
	json_object_object_add(s, "mediaFormat", fmt);
	json_object_object_add(s, "customParameters", params);
	json_object_object_add(o, "event", jstr("start"));
	json_object_object_add(o, "sequenceNumber", jseq(c));
	json_object_object_add(o, "start", s);
	json_object_object_add(o, "streamSid", jstr(c->stream_sid));
	call_send_json(c, o);
}

static void
send_dtmf(struct call *c, char digit)
{
	json_object	*o = json_object_new_object();
	json_object	*d = json_object_new_object();
	char		 s[2] = { digit, '\0' };

	json_object_object_add(d, "track", jstr("inbound_track"));
	json_object_object_add(d, "digit", jstr(s));
	json_object_object_add(o, "event", jstr("dtmf"));
	json_object_object_add(o, "streamSid", jstr(c->stream_sid));
	json_object_object_add(o, "sequenceNumber", jseq(c));
	json_object_object_add(o, "dtmf", d);
	call_send_json(c, o);
	c->sent_dtmf++;
}

static void
send_stop(struct call *c)
{
	json_object *o = json_object_new_object();
	json_object *s = json_object_new_object();

	json_object_object_add(s, "accountSid", jstr(settings.account_sid));
	json_object_object_add(s, "callSid", jstr(call_sid_sent(c)));
	json_object_object_add(o, "event", jstr("stop"));
	json_object_object_add(o, "sequenceNumber", jseq(c));
	json_object_object_add(o, "streamSid", jstr(c->stream_sid));
	json_object_object_add(o, "stop", s);
	call_send_json(c, o);
}

/* playback_echo_fn: Twilio's answer to a mark whose audio has played. */
static void
call_echo_mark(void *arg, const char *name)
{
	struct call	*c = arg;
	json_object	*o = json_object_new_object();
	json_object	*m = json_object_new_object();

	json_object_object_add(m, "name", jstr(name));
	json_object_object_add(o, "event", jstr("mark"));
	json_object_object_add(o, "streamSid", jstr(c->stream_sid));
	json_object_object_add(o, "sequenceNumber", jseq(c));
	json_object_object_add(o, "mark", m);
	call_send_json(c, o);
}

/* The caller's audio for milliseconds [from, from + 20) of the stream. */
static void
caller_audio(const struct call *c, int64_t from, uint8_t out[SIM_FRAME_BYTES])
{
	int64_t	 t;
	int	 i, ms, s;

	for (i = 0; i < SIM_FRAME_MS; i++) {
		t = (from + i) % settings.talk_period_ms;
		for (s = 0, ms = 0; s < settings.ntalk; s++) {
			ms += settings.talk[s].ms;
			if (t < ms)
				break;
		}
		memset(out + i * PLAYBACK_BYTES_PER_MS,
		    settings.talk[s].speech ? c->pattern : SIM_SILENCE,
		    PLAYBACK_BYTES_PER_MS);
	}
}

/*
 * Media chunk number c->chunks (from 1), timestamped with the start of
 * its audio.  Hand-written for speed: this is the hot path of benchmarks.
 */
static void
send_media(struct call *c)
{
	uint8_t		 audio[SIM_FRAME_BYTES];
	char		 b64[(SIM_FRAME_BYTES + 2) / 3 * 4 + 1];
	char		 msg[512];
	int64_t		 ts = (int64_t)(c->chunks - 1) * SIM_FRAME_MS;
	int		 n;

	if (c->outq.bytes > SIM_OUTQ_MAX) {
		/* The server does not read: Twilio drops audio (31930). */
		c->dropped_media_ms += SIM_FRAME_MS;
		return;
	}
	caller_audio(c, ts, audio);
	EVP_EncodeBlock((unsigned char *)b64, audio, SIM_FRAME_BYTES);
	n = snprintf(msg, sizeof(msg),
	    "{\"event\":\"media\",\"sequenceNumber\":\"%" PRIu64 "\","
	    "\"media\":{\"track\":\"inbound\",\"chunk\":\"%d\","
	    "\"timestamp\":\"%" PRId64 "\",\"payload\":\"%s\"},"
	    "\"streamSid\":\"%s\"}",
	    c->seq + 1, c->chunks, ts, b64, c->stream_sid);
	if (n < 0 || (size_t)n >= sizeof(msg) ||
	    outq_push(&c->outq, msg, (size_t)n, false) == -1) {
		c->dropped_media_ms += SIM_FRAME_MS;
		return;
	}
	c->seq++;
	c->sent_media_ms += SIM_FRAME_MS;
}

/* ------------------------------------------------------------- timing */

static void
call_stop(struct call *c, int64_t now)
{
	/* Audio due until now was heard before the call stopped. */
	playback_advance(&c->pb, now, call_echo_mark, c);
	send_stop(c);
	call_set_state(c, CALL_STOPPED);
	if (settings.wait_close)
		call_after(c, SIM_DRAIN_MS);
}

/*
 * Play what is due and send the media chunks due by now.  Chunk k is due
 * k * 20 ms after `start`, whenever this runs, so a late tick sends more
 * and the cadence never drifts.
 */
static void
call_tick(struct call *c, int64_t now)
{
	playback_advance(&c->pb, now, call_echo_mark, c);
	while (c->chunks < c->chunks_total &&
	    c->t_start + (int64_t)(c->chunks + 1) * SIM_FRAME_MS * 1000 <= now) {
		c->chunks++;
		while (c->next_dtmf < settings.ndtmf &&
		    settings.dtmf[c->next_dtmf].at_ms <=
		    c->chunks * SIM_FRAME_MS)
			send_dtmf(c, settings.dtmf[c->next_dtmf++].digit);
		send_media(c);
	}
	call_want_write(c);
	if (c->chunks >= c->chunks_total)
		call_stop(c, now);
}

static void
call_start(struct call *c)
{
	c->t_start = now_us();
	c->chunks_total = (settings.duration_ms + SIM_FRAME_MS - 1) /
	    SIM_FRAME_MS;
	send_start(c);
	call_set_state(c, CALL_STREAMING);
	/* DTMF at time 0 goes right after start. */
	while (c->next_dtmf < settings.ndtmf &&
	    settings.dtmf[c->next_dtmf].at_ms == 0)
		send_dtmf(c, settings.dtmf[c->next_dtmf++].digit);
	if (c->chunks_total == 0)
		call_stop(c, c->t_start);
}

/* The call's one-shot timer went off: -W's start, -S's end, -R's wait. */
static void
call_timer(struct call *c)
{
	switch (c->state) {
	case CALL_OPEN:
		if (settings.no_start)
			call_close(c, LWS_CLOSE_STATUS_NORMAL, "call ended");
		else
			call_start(c);
		break;
	case CALL_STOPPED:
		call_close(c, LWS_CLOSE_STATUS_NORMAL, "call ended");
		break;
	default:
		break;
	}
}

static void
call_after(struct call *c, int ms)
{
	c->timer_at = now_us() + (int64_t)ms * 1000;
}

/*
 * The only lws timer: every SIM_TICK_US on a fixed grid it runs the tick
 * of every streaming call and the one-shot timers that are due.  One
 * timer for all calls instead of one per call keeps lws's sorted timer
 * list short and groups the wake-ups: with a thousand calls, a timer per
 * call cost a wake-up (and a poll of every socket) per call and frame.
 * Media goes out at most SIM_TICK_US late, always with its own timestamp.
 */
static void
ticker(lws_sorted_usec_list_t *sul)
{
	int64_t	 now = now_us();
	int	 i;

	for (i = 0; i < ncalls; i++) {
		struct call *c = &calls[i];

		if (c->state == CALL_STREAMING)
			call_tick(c, now);
		if (c->timer_at != 0 && now >= c->timer_at) {
			c->timer_at = 0;
			call_timer(c);
		}
	}
	do
		ticker_next += SIM_TICK_US;
	while (ticker_next <= now);
	lws_sul_schedule(context, 0, sul, ticker, ticker_next - now);
}

/* Ask for our close frame, sent once the queue is written. */
static void
call_close(struct call *c, int code, const char *reason)
{
	if (c->state >= CALL_CLOSING)
		return;
	c->timer_at = 0;
	c->close_req_code = code;
	c->close_req_reason = reason;
	call_set_state(c, CALL_CLOSING);
	call_want_write(c);
}

/* ---------------------------------------------------------- receiving */

static void
protocol_error(struct call *c, const char *what)
{
	c->protocol_errors++;
	log_call(LOG_DEBUG, c->tag, "protocol error: %s", what);
}

/* Strict base64 (standard alphabet, padded); -1 when malformed. */
static ssize_t
b64_decode(const char *s, size_t len, uint8_t *out)
{
	static signed char	 map[256];
	static bool		 ready;
	size_t			 i, n = 0, pad = 0;
	unsigned		 acc = 0;
	int			 v, j;

	if (!ready) {
		const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789+/";

		memset(map, -1, sizeof(map));
		for (j = 0; j < 64; j++)
			map[(unsigned char)a[j]] = (signed char)j;
		ready = true;
	}
	if (len % 4 != 0)
		return -1;
	if (len > 0 && s[len - 1] == '=')
		pad++;
	if (len > 1 && s[len - 2] == '=')
		pad++;
	for (i = 0; i < len - pad; i++) {
		if ((v = map[(unsigned char)s[i]]) < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		if (i % 4 == 3) {
			out[n++] = (uint8_t)(acc >> 16);
			out[n++] = (uint8_t)(acc >> 8);
			out[n++] = (uint8_t)acc;
			acc = 0;
		}
	}
	if (pad == 1) {
		acc <<= 6;
		out[n++] = (uint8_t)(acc >> 16);
		out[n++] = (uint8_t)(acc >> 8);
	} else if (pad == 2) {
		acc <<= 12;
		out[n++] = (uint8_t)(acc >> 16);
	}
	return (ssize_t)n;
}

static const char *
jget_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *
jget_obj(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

static void
handle_media(struct call *c, json_object *o, int64_t now)
{
	json_object	*m = jget_obj(o, "media");
	const char	*payload = m != NULL ? jget_str(m, "payload") : NULL;
	uint8_t		*audio;
	size_t		 len;
	ssize_t		 n;

	if (payload == NULL) {
		protocol_error(c, "media without media.payload");
		return;
	}
	len = strlen(payload);
	if ((audio = malloc(len / 4 * 3 + 3)) == NULL)
		return;
	if ((n = b64_decode(payload, len, audio)) < 0)
		protocol_error(c, "media.payload is not base64");
	else {
		if (c->first_audio_us < 0)
			c->first_audio_us = now - c->t_start;
		c->received_media_bytes += n;
		playback_append(&c->pb, now, audio, (size_t)n, call_echo_mark,
		    c);
	}
	free(audio);
}

static void
handle_mark(struct call *c, json_object *o, int64_t now)
{
	json_object	*m = jget_obj(o, "mark");
	const char	*name = m != NULL ? jget_str(m, "name") : NULL;

	if (name == NULL) {
		protocol_error(c, "mark without mark.name");
		return;
	}
	c->marks_received++;
	if (playback_mark(&c->pb, now, name, call_echo_mark, c) == -1)
		protocol_error(c, "mark name too long or too many marks");
}

/* One whole text message from the server. */
static void
call_message(struct call *c, const char *text, size_t len)
{
	json_tokener	*tok = rx_tok;
	json_object	*o;
	const char	*event, *sid;
	int64_t		 now = now_us();
	size_t		 end;

	json_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, text, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (o != NULL && json_tokener_get_error(tok) == json_tokener_success)
		while (end < len && strchr(" \t\r\n", text[end]) != NULL)
			end++;
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    end != len) {
		protocol_error(c, "invalid JSON");
		goto done;
	}
	if (!json_object_is_type(o, json_type_object) ||
	    (event = jget_str(o, "event")) == NULL) {
		protocol_error(c, "no event");
		goto done;
	}
	if (strcmp(event, "media") != 0 && strcmp(event, "mark") != 0 &&
	    strcmp(event, "clear") != 0) {
		protocol_error(c, "unknown event");
		goto done;
	}
	sid = jget_str(o, "streamSid");
	if (sid == NULL || strcmp(sid, c->stream_sid) != 0 ||
	    c->state != CALL_STREAMING) {
		protocol_error(c, "wrong streamSid");
		goto done;
	}
	if (strcmp(event, "media") == 0)
		handle_media(c, o, now);
	else if (strcmp(event, "mark") == 0)
		handle_mark(c, o, now);
	else
		playback_clear(&c->pb, now, call_echo_mark, c);
done:
	json_object_put(o);
}

/* ------------------------------------------------------ lws callbacks */

static int
append_headers(struct call *c, void *in, size_t len)
{
	unsigned char	**p = in, *end = *p + len;
	static const char ua[] = "Twilio.TmeWs/1.0";

	if (lws_add_http_header_by_name(c->wsi, (const unsigned char *)
	    "user-agent:", (const unsigned char *)ua, (int)strlen(ua), p, end))
		return -1;
	if (settings.sig != SIG_NONE &&
	    lws_add_http_header_by_name(c->wsi, (const unsigned char *)
	    "x-twilio-signature:", (const unsigned char *)c->signature,
	    (int)strlen(c->signature), p, end))
		return -1;
	return 0;
}

static void
call_established(struct call *c)
{
	c->connected = true;
	c->upgrade_status = 101;
	call_set_state(c, CALL_OPEN);
	send_connected(c);
	if (settings.no_start)
		call_after(c, settings.duration_ms);
	else if (settings.wait_ms > 0)
		call_after(c, settings.wait_ms);
	else
		call_start(c);
}

static int
call_writeable(struct call *c)
{
	if (c->outq.head != NULL) {
		if (outq_write_one(&c->outq, c->wsi) == -1)
			return -1;
		if (c->outq.head != NULL || c->state == CALL_CLOSING ||
		    (c->state == CALL_STOPPED && !settings.wait_close))
			call_want_write(c);
		return 0;
	}
	if (c->state == CALL_STOPPED && !settings.wait_close)
		call_close(c, LWS_CLOSE_STATUS_NORMAL, "call ended");
	if (c->state == CALL_CLOSING) {
		c->close_code = c->close_req_code;
		snprintf(c->close_reason, sizeof(c->close_reason), "%s",
		    c->close_req_reason);
		c->closed_by = "client";
		lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
		    (unsigned char *)c->close_reason, strlen(c->close_reason));
		return -1;
	}
	return 0;
}

static int
call_receive(struct call *c, const void *in, size_t len)
{
	if (lws_is_first_fragment(c->wsi)) {
		buf_reset(&c->rx);
		c->rx_binary = lws_frame_is_binary(c->wsi) != 0;
		c->rx_skip = false;
	}
	if (c->rx_skip)
		return 0;
	if (buf_append(&c->rx, in, len) == -1) {
		/*
		 * Close from the writable callback: lws 4.1.6 crashes (a
		 * wild write, under ASan too) when lws_close_reason() is
		 * called from a receive callback in the middle of a long
		 * message.
		 */
		protocol_error(c, "message over 1 MiB");
		c->rx_skip = true;
		buf_reset(&c->rx);
		call_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		    "message too big");
		return 0;
	}
	if (!lws_is_final_fragment(c->wsi))
		return 0;
	if (c->state >= CALL_STOPPED)
		;	/* the stream is over: Twilio no longer listens */
	else if (c->rx_binary)
		protocol_error(c, "binary frame");	/* Twilio 31950 */
	else
		call_message(c, buf_str(&c->rx), c->rx.len);
	buf_reset(&c->rx);
	return 0;
}

static void
peer_close(struct call *c, const unsigned char *in, size_t len)
{
	size_t n;

	if (c->close_code != 0)
		return;		/* the answer to our own close */
	c->closed_by = "server";
	if (len < 2) {
		c->close_code = LWS_CLOSE_STATUS_NO_STATUS;
		return;
	}
	c->close_code = in[0] << 8 | in[1];
	n = len - 2 < sizeof(c->close_reason) - 1 ? len - 2 :
	    sizeof(c->close_reason) - 1;
	memcpy(c->close_reason, in + 2, n);
	c->close_reason[n] = '\0';
}

static int
sim_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct call *c = user;

	if (c == NULL)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	if (c->state == CALL_ENDED)	/* interrupted: let lws finish it */
		return reason == LWS_CALLBACK_CLIENT_WRITEABLE ||
		    reason == LWS_CALLBACK_CLIENT_RECEIVE ? -1 : 0;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		c->wsi = wsi;
		return append_headers(c, in, len);
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->wsi = wsi;
		call_established(c);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return call_writeable(c);
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return call_receive(c, in, len);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		peer_close(c, in, len);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		c->upgrade_status = (int)lws_http_client_http_response(wsi);
		c->closed_by = c->upgrade_status > 0 ? "server" : "client";
		if (in != NULL && len > 0)
			snprintf(c->close_reason, sizeof(c->close_reason),
			    "%.*s", (int)len, (const char *)in);
		else
			snprintf(c->close_reason, sizeof(c->close_reason),
			    "connection failed");
		c->wsi = NULL;
		call_end(c, c->close_reason);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		c->wsi = NULL;
		call_end(c, "closed");
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if (c->wsi == wsi || c->wsi == NULL) {
			c->wsi = NULL;
			call_end(c, "connection destroyed");
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "twilio-sim", sim_callback, 0, SIM_RX_CHUNK, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ------------------------------------------------------------ results */

static void
call_write_result(struct call *c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "session_id", jstr(c->session_id));
	json_object_object_add(o, "call_sid", jstr(c->call_sid));
	json_object_object_add(o, "stream_sid", jstr(c->stream_sid));
	json_object_object_add(o, "upgrade_status",
	    json_object_new_int(c->upgrade_status));
	json_object_object_add(o, "connected",
	    json_object_new_boolean(c->connected));
	json_object_object_add(o, "close_code",
	    json_object_new_int(c->close_code));
	json_object_object_add(o, "close_reason", jstr(c->close_reason));
	json_object_object_add(o, "closed_by", jstr(c->closed_by));
	json_object_object_add(o, "sent_media_ms",
	    json_object_new_int64(c->sent_media_ms));
	json_object_object_add(o, "sent_dtmf", json_object_new_int(c->sent_dtmf));
	json_object_object_add(o, "received_media_bytes",
	    json_object_new_int64(c->received_media_bytes));
	json_object_object_add(o, "heard_bytes",
	    json_object_new_int64((int64_t)c->pb.played));
	json_object_object_add(o, "heard_foreign_bytes",
	    json_object_new_int64((int64_t)c->pb.played_foreign));
	json_object_object_add(o, "first_audio_ms", json_object_new_int64(
	    c->first_audio_us < 0 ? -1 : c->first_audio_us / 1000));
	json_object_object_add(o, "marks_received",
	    json_object_new_int64(c->marks_received));
	json_object_object_add(o, "marks_echoed",
	    json_object_new_int64((int64_t)c->pb.echoed));
	json_object_object_add(o, "clears",
	    json_object_new_int64((int64_t)c->pb.clears));
	json_object_object_add(o, "protocol_errors",
	    json_object_new_int64(c->protocol_errors));
	json_object_object_add(o, "duration_ms",
	    json_object_new_int64((c->t_end - c->t_begin) / 1000));
	/* Beyond the brief: Twilio's 31931 and 31930 cases. */
	json_object_object_add(o, "discarded_media_bytes",
	    json_object_new_int64((int64_t)c->pb.discarded));
	json_object_object_add(o, "dropped_media_ms",
	    json_object_new_int64(c->dropped_media_ms));
	fprintf(settings.results, "%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(settings.results);
	json_object_put(o);
}

/* The one way a call ends: stop its timers, write its results. */
static void
call_end(struct call *c, const char *reason)
{
	if (c->state == CALL_ENDED)
		return;
	c->timer_at = 0;
	c->t_end = now_us();
	if (c->close_reason[0] == '\0' && !c->connected)
		snprintf(c->close_reason, sizeof(c->close_reason), "%s",
		    reason);
	if (c->close_code == 0 && c->connected) {
		if (c->close_reason[0] == '\0')
			snprintf(c->close_reason, sizeof(c->close_reason),
			    "connection lost");
		c->closed_by = "server";
	}
	log_call(LOG_DEBUG, c->tag, "ended (%s): close %d \"%s\" by %s",
	    reason, c->close_code, c->close_reason, c->closed_by);
	call_set_state(c, CALL_ENDED);
	call_write_result(c);
	ncalls_ended++;
}

/* --------------------------------------------------------------- main */

static void
call_connect(struct call *c)
{
	struct lws_client_connect_info	 i;
	char				 host[URL_HOST_MAX + 16];

	if (settings.connect.port_given)
		snprintf(host, sizeof(host), "%s:%d", settings.connect.host,
		    settings.connect.port);
	else
		snprintf(host, sizeof(host), "%s", settings.connect.host);
	memset(&i, 0, sizeof(i));
	i.context = context;
	i.address = settings.connect.host;
	i.port = settings.connect.port;
	i.path = c->path;
	i.host = host;
	i.alpn = "http/1.1";
	i.local_protocol_name = protocols[0].name;
	i.userdata = c;
	i.ssl_connection = LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
	if (settings.connect.tls) {
		i.ssl_connection |= LCCSCF_USE_SSL;
		if (settings.insecure)
			i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
			    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
			    LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
	}
	c->t_begin = now_us();
	call_set_state(c, CALL_CONNECTING);
	if (lws_client_connect_via_info(&i) == NULL && c->state != CALL_ENDED) {
		/* lws reports failures inside the call here, not by callback. */
		snprintf(c->close_reason, sizeof(c->close_reason),
		    "connect failed");
		c->wsi = NULL;
		call_end(c, c->close_reason);
	}
}

static void
on_signal(int sig)
{
	(void)sig;
	interrupted++;
	if (context != NULL)
		lws_cancel_service(context);
}

/* Room for one descriptor per call, whatever the shell's soft limit. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)ncalls + 64) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("cannot raise the open files limit: %s",
			    strerror(errno));
	}
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct sigaction		 sa;
	int				 i, failed = 0, handled = 0;

	log_init("twilio-sim", LOG_WARNING);
	parse_args(argc, argv);
	raise_fd_limit();
	lws_set_log_level(log_get_level() >= LOG_DEBUG ?
	    LLL_ERR | LLL_WARN | LLL_NOTICE : LLL_ERR, NULL);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.timeout_secs = SIM_CONNECT_TIMEOUT;
	info.fd_limit_per_thread = (unsigned int)ncalls + 16;
	if ((context = lws_create_context(&info)) == NULL) {
		fprintf(stderr, "twilio-sim: cannot create the lws context\n");
		return 1;
	}

	if ((rx_tok = json_tokener_new()) == NULL) {
		fprintf(stderr, "twilio-sim: out of memory\n");
		return 1;
	}
	ticker_next = now_us();
	lws_sul_schedule(context, 0, &ticker_sul, ticker, SIM_TICK_US);
	ticker_next += SIM_TICK_US;
	for (i = 0; i < ncalls; i++)
		call_connect(&calls[i]);
	while (ncalls_ended < ncalls) {
		if (interrupted > handled) {
			handled = interrupted;
			if (handled > 1)
				break;	/* a second signal: stop now */
			for (i = 0; i < ncalls; i++)
				if (calls[i].state == CALL_CONNECTING ||
				    calls[i].state == CALL_IDLE)
					call_end(&calls[i], "interrupted");
				else
					call_close(&calls[i],
					    LWS_CLOSE_STATUS_GOINGAWAY,
					    "interrupted");
		}
		if (lws_service(context, 0) < 0)
			break;
	}
	for (i = 0; i < ncalls; i++)
		if (calls[i].state != CALL_ENDED) {
			snprintf(calls[i].close_reason,
			    sizeof(calls[i].close_reason), "interrupted");
			call_end(&calls[i], "interrupted");
		}
	lws_sul_cancel(&ticker_sul);
	lws_context_destroy(context);

	for (i = 0; i < ncalls; i++) {
		if (!calls[i].connected || calls[i].close_code == 0)
			failed++;
		playback_free(&calls[i].pb);
		outq_free(&calls[i].outq);
		buf_free(&calls[i].rx);
		free(calls[i].session_id);
	}
	free(calls);
	json_tokener_free(rx_tok);
	if (settings.results != stdout && fclose(settings.results) != 0)
		failed++;
	return failed > 0 || interrupted ? 1 : 0;
}
