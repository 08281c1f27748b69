/*
 * ws-probe: a small scripted WebSocket client for the tests.
 *
 *   ws-probe [-H 'Name: value']... [-n COUNT] [-t SECONDS] [-v] URL [SCRIPT]
 *
 * Connects to URL (ws://host[:port]/path[?query]) and runs SCRIPT, a file
 * ("-" or none: standard input; /dev/null for nothing), one line at a time:
 *
 *   #wait TYPE [N]      wait until N (default 1) more received JSON events
 *                       of that "type" have come; events that came before
 *                       the #wait count, each #wait uses up what it waited
 *                       for
 *   #sleep MS           pause
 *   #close [CODE [REASON]]  close (default 1000) and wait for the answer
 *   # anything          a comment (a hash and a space); blank lines too
 *   anything else       sent as one text frame, as it is
 *
 * Every text frame received is printed on stdout as one line as it came,
 * and flushed.  Status lines start with '#', which no JSON text does:
 *   #binary LEN                   a binary frame came
 *   #closed server CODE [REASON]  the server closed
 *   #closed client CODE           we closed (the script's #close)
 *   #closed none 1006             the connection dropped without a close
 *   #refused STATUS               the upgrade was answered with STATUS
 *   #error MESSAGE                no connection
 *   #timeout                      -t SECONDS (default 10) passed
 *
 * With -n COUNT, COUNT connections run the script at the same time, each
 * on its own, and every output line starts with the connection's number
 * (1..COUNT) and a space.
 *
 * Exit status: 0 when every connection closed, 1 on timeout, 2 when one
 * had no WebSocket (usage, refused, unreachable).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libwebsockets.h>

#define PROBE_HEADERS_MAX	16
#define PROBE_MSG_MAX		(64u << 20)	/* a received message */

struct line {
	size_t		 len;
	unsigned char	*buf;		/* LWS_PRE bytes, then the text */
};

struct type_count {
	char		*type;
	unsigned	 seen;		/* received */
	unsigned	 used;		/* claimed by #wait */
};

/* One connection running the script; index i of conns[]. */
struct pconn {
	unsigned	 i;		/* 1..count */
	struct lws	*wsi;
	size_t		 next;		/* script line */
	struct type_count *types;
	size_t		 ntypes;
	char		 wait_type[256]; /* #wait in progress, or "" */
	unsigned	 wait_n;
	bool		 sending;	/* lines[next] waits for WRITEABLE */
	bool		 closing;	/* #close waits for WRITEABLE */
	int		 close_code;
	char		 close_reason[124];
	int		 peer_code;	/* the server's close frame, or -1 */
	char		 peer_reason[128];
	unsigned char	*rx;
	size_t		 rx_len;
	bool		 rx_binary;
	unsigned char	*tx;		/* LWS_PRE, then the frame being sent */
	size_t		 tx_cap;
	bool		 ended;
	lws_sorted_usec_list_t sul_sleep;
};

static struct {
	const char	*headers[PROBE_HEADERS_MAX];
	int		 nheaders;
	struct line	*lines;
	size_t		 nlines;
	struct pconn	*conns;
	unsigned	 count, running;
	bool		 prefix;	/* -n > 1: number each output line */
	bool		 done;
	int		 status;
	struct lws_context *context;
	lws_sorted_usec_list_t sul_timeout;
} p = { .count = 1 };

static void	script_run(struct pconn *);

static struct type_count *
type_get(struct pconn *c, const char *type)
{
	struct type_count *t;
	size_t i;

	for (i = 0; i < c->ntypes; i++)
		if (strcmp(c->types[i].type, type) == 0)
			return &c->types[i];
	t = realloc(c->types, (c->ntypes + 1) * sizeof(*t));
	if (t == NULL || (t[c->ntypes].type = strdup(type)) == NULL) {
		fprintf(stderr, "ws-probe: out of memory\n");
		exit(2);
	}
	c->types = t;
	t = &c->types[c->ntypes++];
	t->seen = t->used = 0;
	return t;
}

/* Print one output line of connection c. */
static void
out_line(struct pconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
out_line(struct pconn *c, const char *fmt, ...)
{
	va_list ap;

	if (p.prefix)
		printf("%u ", c->i);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void
finish(int status)
{
	p.done = true;
	if (status > p.status)
		p.status = status;
	lws_cancel_service(p.context);
}

/* Connection c is over; the worst status of all is the exit status. */
static void
conn_end(struct pconn *c, int status)
{
	if (c->ended)
		return;
	c->ended = true;
	c->wsi = NULL;
	lws_sul_cancel(&c->sul_sleep);
	if (status > p.status)
		p.status = status;
	if (--p.running == 0)
		finish(p.status);
}

static void
sleep_over(lws_sorted_usec_list_t *sul)
{
	struct pconn *c = lws_container_of(sul, struct pconn, sul_sleep);

	c->next++;
	script_run(c);
}

static void
timed_out(lws_sorted_usec_list_t *sul)
{
	unsigned i;

	(void)sul;
	for (i = 0; i < p.count; i++)
		if (!p.conns[i].ended)
			out_line(&p.conns[i], "#timeout");
	finish(1);
}

/* Is the #wait in progress satisfied?  Then use its events up. */
static bool
wait_satisfied(struct pconn *c)
{
	struct type_count *t = type_get(c, c->wait_type);

	if (t->seen - t->used < c->wait_n)
		return false;
	t->used += c->wait_n;
	c->wait_type[0] = '\0';
	return true;
}

/* Run script lines until one has to wait for something. */
static void
script_run(struct pconn *c)
{
	while (c->next < p.nlines && !c->sending && !c->closing &&
	    c->wsi != NULL) {
		const char *l = (const char *)p.lines[c->next].buf + LWS_PRE;
		unsigned n = 1;
		int ms;

		if (c->wait_type[0] != '\0') {
			if (!wait_satisfied(c))
				return;
			c->next++;
			continue;
		}
		if (l[0] == '\0' || strncmp(l, "# ", 2) == 0 ||
		    strcmp(l, "#") == 0) {
			c->next++;
		} else if (sscanf(l, "#wait %255s %u", c->wait_type, &n) >= 1) {
			c->wait_n = n;
		} else if (sscanf(l, "#sleep %d", &ms) == 1) {
			lws_sul_schedule(p.context, 0, &c->sul_sleep,
			    sleep_over, (lws_usec_t)ms * LWS_US_PER_MS);
			return;
		} else if (strncmp(l, "#close", 6) == 0) {
			c->close_code = 1000;
			c->close_reason[0] = '\0';
			sscanf(l, "#close %d %123[^\n]", &c->close_code,
			    c->close_reason);
			c->closing = true;
			lws_callback_on_writable(c->wsi);
			return;
		} else if (l[0] == '#') {
			fprintf(stderr, "ws-probe: unknown directive: %s\n", l);
			exit(2);
		} else {
			c->sending = true;
			lws_callback_on_writable(c->wsi);
			return;
		}
	}
}

static void
received(struct pconn *c)
{
	json_object *o, *v;
	const char *type = NULL;

	if (c->rx_binary) {
		out_line(c, "#binary %zu", c->rx_len);
		return;
	}
	out_line(c, "%s", (const char *)c->rx);
	o = json_tokener_parse((const char *)c->rx);
	if (o != NULL && json_object_object_get_ex(o, "type", &v) &&
	    json_object_is_type(v, json_type_string))
		type = json_object_get_string(v);
	if (type != NULL)
		type_get(c, type)->seen++;
	json_object_put(o);
	if (c->wait_type[0] != '\0')
		script_run(c);
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct pconn *c = lws_get_opaque_user_data(wsi);
	unsigned char **hp, *end;
	struct line *l;
	int i, n;

	(void)user;
	if (c == NULL || c->ended || p.done)
		return 0;	/* not ours, over, or lws_context_destroy() */
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		hp = (unsigned char **)in;
		end = *hp + len;
		for (i = 0; i < p.nheaders; i++) {
			const char *h = p.headers[i], *colon = strchr(h, ':');
			char name[128];
			const char *v;

			if (colon == NULL ||
			    (size_t)(colon - h) + 2 > sizeof(name))
				continue;
			memcpy(name, h, (size_t)(colon - h) + 1);
			name[colon - h + 1] = '\0';
			for (v = colon + 1; *v == ' '; v++)
				;
			if (lws_add_http_header_by_name(wsi,
			    (const unsigned char *)name,
			    (const unsigned char *)v, (int)strlen(v), hp, end))
				return -1;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		n = lws_http_client_http_response(wsi);
		if (n > 0)
			out_line(c, "#refused %d", n);
		else
			out_line(c, "#error %s", in != NULL ? (const char *)in :
			    "connection failed");
		conn_end(c, 2);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		script_run(c);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (c->rx_len == 0)
			c->rx_binary = lws_frame_is_binary(wsi);
		if (c->rx_len + len > PROBE_MSG_MAX) {
			fprintf(stderr, "ws-probe: message too big\n");
			return -1;
		}
		if ((c->rx = realloc(c->rx, c->rx_len + len + 1)) == NULL)
			return -1;
		memcpy(c->rx + c->rx_len, in, len);
		c->rx_len += len;
		c->rx[c->rx_len] = '\0';
		if (lws_is_final_fragment(wsi)) {
			received(c);
			c->rx_len = 0;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (c->closing) {
			lws_close_reason(wsi,
			    (enum lws_close_status)c->close_code,
			    (unsigned char *)c->close_reason,
			    strlen(c->close_reason));
			return -1;
		}
		if (!c->sending)
			return 0;
		/* lws masks a client frame in place: send a copy. */
		l = &p.lines[c->next];
		if (l->len + 1 > c->tx_cap) {
			free(c->tx);
			c->tx_cap = l->len + 1;
			if ((c->tx = malloc(LWS_PRE + c->tx_cap)) == NULL)
				return -1;
		}
		memcpy(c->tx + LWS_PRE, l->buf + LWS_PRE, l->len);
		n = lws_write(wsi, c->tx + LWS_PRE, l->len, LWS_WRITE_TEXT);
		if (n < 0 || (size_t)n < l->len)
			return -1;
		c->sending = false;
		c->next++;
		script_run(c);
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			const unsigned char *b = in;

			c->peer_code = (b[0] << 8) | b[1];
			snprintf(c->peer_reason, sizeof(c->peer_reason), "%.*s",
			    (int)(len - 2), (const char *)b + 2);
		} else
			c->peer_code = 1005;
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c->peer_code >= 0)
			out_line(c, "#closed server %d%s%s", c->peer_code,
			    c->peer_reason[0] != '\0' ? " " : "",
			    c->peer_reason);
		else if (c->closing)
			out_line(c, "#closed client %d", c->close_code);
		else
			out_line(c, "#closed none 1006");
		conn_end(c, 0);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		/* lws gave up (e.g. its handshake timeout) and said nothing. */
		out_line(c, "#error closed before the upgrade was answered");
		conn_end(c, 2);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "ws-probe", callback, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
script_load(const char *path)
{
	FILE *f = path == NULL || strcmp(path, "-") == 0 ? stdin :
	    fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	if (f == NULL) {
		fprintf(stderr, "ws-probe: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while ((n = getline(&buf, &cap, f)) >= 0) {
		struct line *l;

		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		l = realloc(p.lines, (p.nlines + 1) * sizeof(*l));
		if (l == NULL)
			exit(2);
		p.lines = l;
		l = &p.lines[p.nlines++];
		l->len = (size_t)n;
		if ((l->buf = malloc(LWS_PRE + (size_t)n + 1)) == NULL)
			exit(2);
		memcpy(l->buf + LWS_PRE, buf, (size_t)n);
		l->buf[LWS_PRE + n] = '\0';
	}
	free(buf);
	if (f != stdin)
		fclose(f);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: ws-probe [-H 'Name: value']... [-n COUNT] "
	    "[-t SECONDS] [-v] ws://HOST[:PORT]/PATH [SCRIPT]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	const char *prot, *ads, *path;
	char *url, pathbuf[4096];
	int ch, port, timeout = 10, verbose = 0;
	size_t i;
	unsigned k;

	while ((ch = getopt(argc, argv, "H:n:t:v")) != -1) {
		switch (ch) {
		case 'H':
			if (p.nheaders == PROBE_HEADERS_MAX)
				usage();
			p.headers[p.nheaders++] = optarg;
			break;
		case 'n':
			if (atoi(optarg) <= 0 || atoi(optarg) > 10000)
				usage();
			p.count = (unsigned)atoi(optarg);
			break;
		case 't':
			timeout = atoi(optarg);
			if (timeout <= 0)
				usage();
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		usage();
	if ((url = strdup(argv[optind])) == NULL ||
	    lws_parse_uri(url, &prot, &ads, &port, &path) ||
	    strcmp(prot, "ws") != 0) {
		fprintf(stderr, "ws-probe: not a ws:// URL: %s\n",
		    argv[optind]);
		return 2;
	}
	snprintf(pathbuf, sizeof(pathbuf), "/%s", path);
	script_load(argc - optind == 2 ? argv[optind + 1] : NULL);

	lws_set_log_level(verbose ? LLL_ERR | LLL_WARN | LLL_NOTICE : 0, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;
	info.timeout_secs = (unsigned)timeout;	/* lws' own: 5 s by default */
	if ((p.context = lws_create_context(&info)) == NULL) {
		fprintf(stderr, "ws-probe: lws_create_context failed\n");
		return 2;
	}
	lws_sul_schedule(p.context, 0, &p.sul_timeout, timed_out,
	    (lws_usec_t)timeout * LWS_US_PER_SEC);

	if ((p.conns = calloc(p.count, sizeof(*p.conns))) == NULL)
		return 2;
	p.prefix = p.count > 1;
	p.running = p.count;
	for (k = 0; k < p.count; k++) {
		struct pconn *c = &p.conns[k];

		c->i = k + 1;
		c->peer_code = -1;
		memset(&ci, 0, sizeof(ci));
		ci.context = p.context;
		ci.address = ads;
		ci.port = port;
		ci.path = pathbuf;
		ci.host = ads;
		ci.origin = ads;
		ci.local_protocol_name = "ws-probe";
		ci.opaque_user_data = c;
		ci.pwsi = &c->wsi;
		if (lws_client_connect_via_info(&ci) == NULL && !c->ended) {
			out_line(c, "#error cannot connect");
			conn_end(c, 2);
		}
	}
	while (!p.done)
		if (lws_service(p.context, 0) < 0)
			break;

	lws_sul_cancel(&p.sul_timeout);
	for (k = 0; k < p.count; k++)
		lws_sul_cancel(&p.conns[k].sul_sleep);
	lws_context_destroy(p.context);
	for (k = 0; k < p.count; k++) {
		for (i = 0; i < p.conns[k].ntypes; i++)
			free(p.conns[k].types[i].type);
		free(p.conns[k].types);
		free(p.conns[k].rx);
		free(p.conns[k].tx);
	}
	free(p.conns);
	for (i = 0; i < p.nlines; i++)
		free(p.lines[i].buf);
	free(p.lines);
	free(url);
	return p.status;
}
