/*
 * fake-openai: the OpenAI Realtime API (GA, PROTOCOLS.md §7 and §8) as a
 * local plain-ws:// server, for the relay's tests, the demo and benchmarks.
 *
 *   fake-openai [-a ADDR] [-p PORT] [-k API_KEY] [-r RECORD_DIR]
 *               [-s DEFAULT_SCENARIO] [-d]
 *
 * -a ADDR (127.0.0.1) and -p PORT (0: any free port): where to listen; once
 * listening it prints "listening on PORT <n>" on stdout.  -k: the only API
 * key accepted (without -k any "Authorization: Bearer <key>" will do, but
 * one is required).  -r: record each WebSocket n in RECORD_DIR/conn-<n>.jsonl
 * (a {"connect":…} line, every client event as received, a {"closed":…}
 * line) and append "<n> <model>" to RECORD_DIR/connections.log.  -d: debug
 * log.  SIGTERM/SIGINT close every session (1001) and exit 0.
 *
 * Only GET /v1/realtime?model=<model> with a WebSocket upgrade is served:
 * another path is 404, a missing or wrong key 401, no upgrade 426.  The
 * scenario of a connection is the model name after "fake-" (model=fake-long
 * is "long"), else -s, else "echo"; "fake-<unknown>" is model_not_found.
 *
 *   echo           answers with the caller's last speech segment
 *   greeting       echo; response.create before any speech: 1 s of 0x55
 *   long           answers are 8 s of 0x20..0x5F, sent at once, active
 *                  until played out (caller audio clock or wall clock):
 *                  caller speech cancels them (turn_detected)
 *   transcripts    echo (transcript events come in every scenario)
 *   error          a non-fatal error event after session.updated, then echo
 *   refuse         HTTP 500 instead of the upgrade
 *   close          echo, closed with 1011 1.5 s after session.updated
 *   hang           upgraded, then never a word
 *   slow-handshake the upgrade is answered after 30 s, then echo
 *   function       the first user turn is answered with a lookup_order
 *                  function call; its output answers with 1 s of 0x66
 *   slow-created   upgraded at once, but session.created comes 1.5 s
 *                  later; then echo
 *   big            echo; right after the first session.updated one
 *                  response.output_audio_transcript.delta whose delta is
 *                  150000 'a's (an event over 100 KiB, for a client's
 *                  message bound)
 *
 * The server VAD runs on the audio clock (bytes received / 8 = ms): a byte
 * other than 0xFF and 0x7F is speech; 100 ms of it starts a turn, 400 ms
 * of silence ends it.  A request with an OpenAI-Beta header is upgraded,
 * then gets the beta_api_shape_disabled error and a close (1008).
 *
 * This file is the part before the WebSocket: it owns the listening socket
 * and reads each request head itself instead of letting lws do it, because
 * lws 4.1 can neither answer a refused upgrade with a status of our choice
 * nor hold an upgrade back (the slow-handshake scenario).  A request that
 * passes is handed to lws together with the bytes already read
 * (lws_adopt_socket_vhost_readbuf), and lws answers the upgrade.  The
 * Realtime protocol itself is in fake-openai-session.c.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fake-openai.h"
#include "log.h"

#define HEAD_TIMEOUT_S		10	/* to send a whole request head */
#define SLOW_HANDSHAKE_US	(30 * LWS_US_PER_SEC)
#define STOP_GRACE_US		(2 * LWS_US_PER_SEC) /* close frames at exit */
#define LISTEN_BACKLOG		1024	/* bursts of a few hundred calls */

struct settings settings = {
	.addr = "127.0.0.1",
	.port = 0,			/* tests want any free port */
	.default_scenario = SC_ECHO,
};
struct conn_list conns = TAILQ_HEAD_INITIALIZER(conns);

static struct wsi_tag	 listener_tag = { TAG_LISTENER, NULL };
static struct wsi_tag	 signal_tag = { TAG_SIGNAL, NULL };
static int		 listen_fd = -1;
static int		 signal_fd = -1;
static unsigned		 accepted;	/* connections accepted so far */

/*
 * lws calls LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED from inside
 * lws_adopt_socket_vhost_readbuf(), before it returns the wsi and possibly
 * before the upgrade has been answered; this is how that callback learns
 * which connection the new wsi belongs to.
 */
static struct conn	*adopting;
static bool		 adopting_bound;

static const struct {
	const char	*name;
	enum scenario	 scenario;
} scenarios[] = {
	{ "echo",		SC_ECHO },
	{ "greeting",		SC_GREETING },
	{ "long",		SC_LONG },
	{ "transcripts",	SC_TRANSCRIPTS },
	{ "error",		SC_ERROR },
	{ "refuse",		SC_REFUSE },
	{ "close",		SC_CLOSE },
	{ "hang",		SC_HANG },
	{ "slow-handshake",	SC_SLOW_HANDSHAKE },
	{ "function",		SC_FUNCTION },
	{ "function-badargs",	SC_FUNCTION_BADARGS },
	{ "function-late",	SC_FUNCTION_LATE },
	{ "function-goodbye",	SC_FUNCTION_GOODBYE },
	{ "slow-created",	SC_SLOW_CREATED },
	{ "big",		SC_BIG },
};

static bool
scenario_from_name(const char *name, enum scenario *sc)
{
	size_t i;

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (strcmp(name, scenarios[i].name) == 0) {
			*sc = scenarios[i].scenario;
			return true;
		}
	}
	return false;
}

const char *
scenario_name(enum scenario sc)
{
	size_t i;

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (scenarios[i].scenario == sc)
			return scenarios[i].name;
	return "unknown";
}

/* ------------------------------------------------------------ connections */

static const char *const conn_state_names[] = {
	[CONN_HEAD] = "head", [CONN_DELAYED] = "delayed",
	[CONN_UPGRADING] = "upgrading", [CONN_OPEN] = "open",
};

/* Every state change goes through here: forward only, traced with -d. */
static void
conn_set_state(struct conn *c, enum conn_state to)
{
	assert(to > c->state);
	log_debug("accept %u: %s -> %s", c->id, conn_state_names[c->state],
	    conn_state_names[to]);
	c->state = to;
}

void
conn_free(struct conn *c)
{
	if (c->watch_wsi != NULL)
		lws_set_opaque_user_data(c->watch_wsi, NULL);
	if (c->wsi != NULL)
		lws_set_opaque_user_data(c->wsi, NULL);
	lws_sul_cancel(&c->sul);
	if (c->fd >= 0)
		close(c->fd);
	if (c->session != NULL)
		session_free(c->session);
	buf_free(&c->head);
	free(c->req.authorization);
	TAILQ_REMOVE(&conns, c, entry);
	free(c);
}

/* Give the connection to lws, which parses the head again and upgrades. */
static void
conn_adopt(lws_sorted_usec_list_t *sul)
{
	struct conn *c = lws_container_of(sul, struct conn, sul);
	int fd = c->fd;

	conn_set_state(c, CONN_UPGRADING);
	c->fd = -1;			/* lws closes it from now on */
	adopting = c;
	adopting_bound = false;
	(void)lws_adopt_socket_vhost_readbuf(settings.vhost, fd,
	    c->head.data, c->head.len);
	adopting = NULL;
	if (!adopting_bound) {
		/* lws refused the socket before any callback: it closed fd. */
		log_warn("lws did not adopt a connection");
		conn_free(c);
	}
	/* Else c belongs to its wsi and may already be gone. */
}

/* ------------------------------------------------------------ request head */

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decode [s, s + len) into dst; false if it does not fit. */
static bool
urldecode(char *dst, size_t size, const char *s, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		int ch = (unsigned char)s[i];

		if (ch == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			ch = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
		} else if (ch == '+')
			ch = ' ';
		if (ch == '\0' || o + 1 >= size)
			return false;
		dst[o++] = (char)ch;
	}
	dst[o] = '\0';
	return true;
}

static void
parse_target(struct request *r, const char *t, size_t len)
{
	const char *q = memchr(t, '?', len), *p, *end = t + len;
	size_t plen = q != NULL ? (size_t)(q - t) : len;

	if (plen >= sizeof(r->path))
		plen = sizeof(r->path) - 1;	/* too long: never matches */
	memcpy(r->path, t, plen);
	r->path[plen] = '\0';
	if (q == NULL)
		return;
	for (p = q + 1; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp != NULL ? amp : end;

		if ((size_t)(pe - p) >= 6 && memcmp(p, "model=", 6) == 0 &&
		    !urldecode(r->model, sizeof(r->model), p + 6,
		    (size_t)(pe - p) - 6))
			r->model[0] = '\0';
		p = pe + 1;
	}
}

/* Does the comma-separated header value contain token (any case)? */
static bool
has_token(const char *v, size_t len, const char *token)
{
	size_t tl = strlen(token), i = 0;

	while (i < len) {
		size_t s, e;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
			return true;
	}
	return false;
}

/*
 * Parse the request line and the few headers that decide the answer.
 * head ends with the blank line; false when the request line is malformed.
 */
static bool
parse_head(struct request *r, const char *head, size_t len)
{
	const char *end = head + len, *line = head, *eol, *sp1, *sp2;

	eol = memchr(line, '\n', len);
	if (eol == NULL)
		return false;
	sp1 = memchr(line, ' ', (size_t)(eol - line));
	if (sp1 == NULL)
		return false;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (sp2 == NULL || sp2 == sp1 + 1)
		return false;
	r->get = sp1 - line == 3 && memcmp(line, "GET", 3) == 0;
	parse_target(r, sp1 + 1, (size_t)(sp2 - sp1 - 1));

	for (line = eol + 1; line < end; line = eol + 1) {
		const char *colon, *v, *ve;

		eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL)
			break;
		ve = eol;
		if (ve > line && ve[-1] == '\r')
			ve--;
		if (ve == line)
			break;			/* the blank line */
		colon = memchr(line, ':', (size_t)(ve - line));
		if (colon == NULL)
			continue;
		for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
			;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
#define NAME_IS(n) ((size_t)(colon - line) == strlen(n) && \
		    strncasecmp(line, n, strlen(n)) == 0)
		if (NAME_IS("authorization") && r->authorization == NULL)
			r->authorization = strndup(v, (size_t)(ve - v));
		else if (NAME_IS("openai-beta"))
			r->beta_header = true;
		else if (NAME_IS("upgrade"))
			r->upgrade = has_token(v, (size_t)(ve - v),
			    "websocket");
#undef NAME_IS
	}
	return true;
}

/* The scenario a model name asks for. */
static enum scenario
scenario_for_model(const char *model)
{
	enum scenario sc;

	if (strncmp(model, "fake-", 5) != 0)
		return settings.default_scenario;
	if (!scenario_from_name(model + 5, &sc))
		return SC_UNKNOWN;
	return sc;
}

/* "Bearer <key>": is the key there and, with -k, the right one? */
static bool
authorized(const char *authorization, bool *present)
{
	const char *key;

	*present = authorization != NULL &&
	    strncasecmp(authorization, "Bearer ", 7) == 0 &&
	    authorization[7] != '\0';
	if (!*present)
		return false;
	for (key = authorization + 7; *key == ' '; key++)
		;
	return settings.api_key == NULL || strcmp(key, settings.api_key) == 0;
}

/*
 * Answer with an HTTP error and an OpenAI-style JSON body, then the caller
 * drops the connection.  The answer is small and the socket new, so one
 * send() either takes it all or the client is gone anyway.
 */
static void
http_refuse(struct conn *c, int status, const char *reason,
    const char *type, const char *code, const char *message)
{
	json_object *body = json_object_new_object(), *err;
	const char *text;
	char out[2048], path[256], model[256];
	int n;

	err = json_object_new_object();
	json_object_object_add(err, "message", json_object_new_string(message));
	json_object_object_add(err, "type", json_object_new_string(type));
	json_object_object_add(err, "param", NULL);
	json_object_object_add(err, "code",
	    code != NULL ? json_object_new_string(code) : NULL);
	json_object_object_add(body, "error", err);
	text = json_object_to_json_string_ext(body,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	n = snprintf(out, sizeof(out), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", status, reason, strlen(text), text);
	if (n > 0 && (size_t)n < sizeof(out))
		(void)send(c->fd, out, (size_t)n, MSG_NOSIGNAL);
	json_object_put(body);
	log_info("refused %s model=%s: %d %s",
	    log_escape(path, sizeof(path), c->req.path),
	    log_escape(model, sizeof(model), c->req.model), status, reason);
}

/*
 * The head is complete: refuse the request, or schedule its hand-off to
 * lws (at once, or in 30 s for slow-handshake).  Returns false when the
 * connection was refused and must be dropped.
 */
static bool
head_decide(struct conn *c)
{
	struct request *r = &c->req;
	char msg[512];
	bool present;

	if (!parse_head(r, c->head.data, c->head.len)) {
		http_refuse(c, 400, "Bad Request", "invalid_request_error",
		    NULL, "Malformed HTTP request.");
		return false;
	}
	if (strcmp(r->path, FO_PATH) != 0) {
		char path[128];

		snprintf(msg, sizeof(msg), "Invalid URL (%s %s)",
		    r->get ? "GET" : "?", log_escape(path, sizeof(path),
		    r->path));
		http_refuse(c, 404, "Not Found", "invalid_request_error",
		    NULL, msg);
		return false;
	}
	if (!r->get) {
		http_refuse(c, 405, "Method Not Allowed",
		    "invalid_request_error", NULL,
		    "Only GET with a WebSocket upgrade is served here.");
		return false;
	}
	if (!authorized(r->authorization, &present)) {
		if (!present)
			http_refuse(c, 401, "Unauthorized",
			    "invalid_request_error", NULL,
			    "You didn't provide an API key. You need to "
			    "provide your API key in an Authorization header "
			    "using Bearer auth (i.e. Authorization: Bearer "
			    "YOUR_KEY).");
		else
			http_refuse(c, 401, "Unauthorized",
			    "invalid_request_error", "invalid_api_key",
			    "Incorrect API key provided.");
		return false;
	}
	if (!r->upgrade) {
		http_refuse(c, 426, "Upgrade Required",
		    "invalid_request_error", NULL,
		    "This endpoint expects a WebSocket upgrade.");
		return false;
	}
	c->scenario = scenario_for_model(r->model);
	if (c->scenario == SC_REFUSE) {
		http_refuse(c, 500, "Internal Server Error", "server_error",
		    NULL, "The server had an error while processing your "
		    "request. Sorry about that!");
		return false;
	}
	conn_set_state(c, CONN_DELAYED);
	lws_sul_schedule(settings.context, 0, &c->sul, conn_adopt,
	    c->scenario == SC_SLOW_HANDSHAKE ? SLOW_HANDSHAKE_US : 0);
	if (c->scenario == SC_SLOW_HANDSHAKE)
		log_info("model=%s: answering the upgrade in 30 s", r->model);
	return true;
}

/* The watcher is done with c: detach it, so that closing it frees nothing. */
static void
head_detach(struct conn *c)
{
	lws_set_opaque_user_data(c->watch_wsi, NULL);
	c->watch_wsi = NULL;
}

/* The head watcher's fd is readable; -1 closes the watcher. */
static int
head_readable(struct conn *c)
{
	char tmp[4096];
	size_t want = FO_HEAD_MAX + 1 - c->head.len;
	ssize_t n;

	if (want > sizeof(tmp))
		want = sizeof(tmp);
	n = recv(c->fd, tmp, want, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return 0;
	if (n <= 0) {
		head_detach(c);
		conn_free(c);
		return -1;
	}
	if (buf_append(&c->head, tmp, (size_t)n) < 0) {
		http_refuse(c, 431, "Request Header Fields Too Large",
		    "invalid_request_error", NULL, "Request head too large.");
		head_detach(c);
		conn_free(c);
		return -1;
	}
	if (memmem(c->head.data, c->head.len, "\r\n\r\n", 4) == NULL &&
	    memmem(c->head.data, c->head.len, "\n\n", 2) == NULL)
		return 0;
	head_detach(c);
	if (!head_decide(c))
		conn_free(c);
	return -1;
}

/* ------------------------------------------------------------ listener */

static void
accept_all(void)
{
	for (;;) {
		struct conn *c;
		lws_adopt_desc_t ad;
		int fd, dupfd;

		fd = accept4(listen_fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		if (settings.stopping) {
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		dupfd = c != NULL ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
		if (dupfd < 0) {
			log_warn("accept: out of memory or descriptors");
			free(c);
			close(fd);
			continue;
		}
		c->state = CONN_HEAD;	/* the first state: no transition */
		c->id = ++accepted;
		c->tag.kind = TAG_CONN;
		c->tag.conn = c;
		c->fd = fd;
		buf_init(&c->head, FO_HEAD_MAX);
		TAILQ_INSERT_TAIL(&conns, c, entry);

		/*
		 * The watcher gets a duplicate because lws closes the fd of a
		 * raw-file wsi when it goes, and fd must outlive it.
		 */
		memset(&ad, 0, sizeof(ad));
		ad.vh = settings.vhost;
		ad.type = LWS_ADOPT_RAW_FILE_DESC;
		ad.fd.filefd = dupfd;
		ad.vh_prot_name = "fake-openai-fd";
		ad.opaque = &c->tag;
		c->watch_wsi = lws_adopt_descriptor_vhost_via_info(&ad);
		if (c->watch_wsi == NULL) {
			log_warn("cannot watch a new connection");
			close(dupfd);
			conn_free(c);
			continue;
		}
		lws_set_timeout(c->watch_wsi, PENDING_TIMEOUT_USER_OK,
		    HEAD_TIMEOUT_S);
	}
}

static int
listen_socket(const char *addr, int port, int *bound)
{
	struct addrinfo hints, *ai;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char portstr[16];
	int fd, on = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((rc = getaddrinfo(addr, portstr, &hints, &ai)) != 0) {
		log_err("listen address %s: %s", addr, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
		log_err("listen on %s port %d: %s", addr, port,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	*bound = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* ------------------------------------------------------------ stopping */

static lws_sorted_usec_list_t	stop_sul;
static bool			stop_grace_over;

static void
stop_grace_end(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	stop_grace_over = true;
}

/* SIGTERM/SIGINT: say goodbye (close 1001) on every open WebSocket. */
static void
stop(void)
{
	struct conn *c, *next;

	if (settings.stopping)
		return;
	settings.stopping = true;
	log_info("stopping");
	for (c = TAILQ_FIRST(&conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == CONN_DELAYED)
			conn_free(c);
		else if (c->state == CONN_OPEN && c->session != NULL)
			session_stop(c->session);
	}
	lws_sul_schedule(settings.context, 0, &stop_sul, stop_grace_end,
	    STOP_GRACE_US);
}

static bool
any_open(void)
{
	struct conn *c;

	TAILQ_FOREACH(c, &conns, entry)
		if (c->state == CONN_OPEN)
			return true;
	return false;
}

/* ------------------------------------------------------------ lws glue */

static int	cb_realtime(struct lws *, enum lws_callback_reasons, void *,
		    void *, size_t);
static int	cb_fd(struct lws *, enum lws_callback_reasons, void *, void *,
		    size_t);

static const struct lws_protocols protocols[] = {
	/* protocols[0] is what an upgrade without a subprotocol binds to. */
	{ "fake-openai-realtime", cb_realtime, 0, 65536, 0, NULL, 0 },
	{ "fake-openai-fd", cb_fd, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* HTTP and WebSocket callbacks of adopted connections (and WSI_DESTROY). */
static int
cb_realtime(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct wsi_tag *tag = lws_get_opaque_user_data(wsi);
	struct conn *c = tag != NULL && tag->kind == TAG_CONN ?
	    tag->conn : NULL;

	(void)user;
	/* Watchers share WSI_DESTROY with us but nothing else. */
	if (c != NULL && c->wsi != wsi &&
	    reason != LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED)
		c = NULL;

	switch (reason) {
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		if (adopting != NULL && !adopting_bound) {
			adopting->wsi = wsi;
			adopting_bound = true;
			lws_set_opaque_user_data(wsi, &adopting->tag);
		}
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		if (c == NULL)
			return -1;
		conn_set_state(c, CONN_OPEN);
		return session_open(c);
	case LWS_CALLBACK_RECEIVE:
		if (c == NULL || c->session == NULL)
			return -1;
		return session_receive(c->session, in, len,
		    lws_is_final_fragment(wsi), lws_frame_is_binary(wsi));
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (c == NULL || c->session == NULL)
			return -1;
		return session_writeable(c->session);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (c != NULL && c->session != NULL)
			session_peer_close(c->session, in, len);
		return 0;
	case LWS_CALLBACK_CLOSED:
		if (c != NULL && c->session != NULL)
			session_closed(c->session);
		return 0;
	case LWS_CALLBACK_HTTP:
		/* The head was checked already; lws should never get here. */
		if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
			return -1;
		return lws_http_transaction_completed(wsi);
	case LWS_CALLBACK_WSI_DESTROY:
		if (c != NULL) {
			c->wsi = NULL;
			conn_free(c);
		}
		return 0;
	default:
		return 0;
	}
}

/* Raw-file watchers: the listener, the signalfd, request heads. */
static int
cb_fd(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct wsi_tag *tag = lws_get_opaque_user_data(wsi);
	struct signalfd_siginfo si;

	(void)user;
	(void)in;
	(void)len;
	if (tag == NULL)
		return reason == LWS_CALLBACK_RAW_RX_FILE ? -1 : 0;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		switch (tag->kind) {
		case TAG_LISTENER:
			accept_all();
			return 0;
		case TAG_SIGNAL:
			while (read(signal_fd, &si, sizeof(si)) == sizeof(si))
				stop();
			return 0;
		case TAG_CONN:
			return head_readable(tag->conn);
		}
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		/* Closed without our say: hang-up, head timeout, or exit. */
		if (tag->kind == TAG_CONN) {
			head_detach(tag->conn);
			conn_free(tag->conn);
		}
		return 0;
	default:
		return 0;
	}
}

/*
 * lws' own log lines.  adopt_socket_readbuf() logs every adoption with a
 * readbuf at error level; that is our normal path, so those lines go.
 */
static void
lws_log_emit(int level, const char *line)
{
	size_t len = strlen(line);

	if (strstr(line, "adopt_socket_readbuf") != NULL)
		return;
	while (len > 0 && line[len - 1] == '\n')
		len--;
	log_msg(level & LLL_ERR ? LOG_ERR : level & LLL_WARN ? LOG_WARNING :
	    LOG_DEBUG, "lws: %.*s", (int)len, line);
}

static struct lws *
watch_fd(int fd, struct wsi_tag *tag)
{
	lws_adopt_desc_t ad;

	memset(&ad, 0, sizeof(ad));
	ad.vh = settings.vhost;
	ad.type = LWS_ADOPT_RAW_FILE_DESC;
	ad.fd.filefd = fd;
	ad.vh_prot_name = "fake-openai-fd";
	ad.opaque = tag;
	return lws_adopt_descriptor_vhost_via_info(&ad);
}

static void __attribute__((noreturn))
usage(int status)
{
	size_t i;

	fprintf(status ? stderr : stdout,
	    "usage: fake-openai [-a ADDR] [-p PORT] [-k API_KEY] "
	    "[-r RECORD_DIR] [-s SCENARIO] [-d]\n"
	    "scenarios (or model=fake-<scenario>):");
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		fprintf(status ? stderr : stdout, " %s", scenarios[i].name);
	fprintf(status ? stderr : stdout, "\n");
	exit(status);
}

int
main(int argc, char *argv[])
{
	struct lws_context_creation_info info;
	struct conn *c;
	sigset_t mask;
	char *end;
	long port;
	int ch, bound;

	while ((ch = getopt(argc, argv, "a:p:k:r:s:dh")) != -1) {
		switch (ch) {
		case 'a':
			settings.addr = optarg;
			break;
		case 'p':
			errno = 0;
			port = strtol(optarg, &end, 10);
			if (errno || *end != '\0' || end == optarg ||
			    port < 0 || port > 65535) {
				fprintf(stderr, "fake-openai: bad port %s\n",
				    optarg);
				return 2;
			}
			settings.port = (int)port;
			break;
		case 'k':
			settings.api_key = optarg;
			break;
		case 'r':
			settings.record_dir = optarg;
			break;
		case 's':
			if (!scenario_from_name(optarg,
			    &settings.default_scenario)) {
				fprintf(stderr, "fake-openai: unknown scenario "
				    "%s\n", optarg);
				usage(2);
			}
			break;
		case 'd':
			settings.debug = true;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);

	log_init("fake-openai", settings.debug ? LOG_DEBUG : LOG_INFO);
	lws_set_log_level(settings.debug ? LLL_ERR | LLL_WARN | LLL_NOTICE :
	    LLL_ERR | LLL_WARN, lws_log_emit);
	signal(SIGPIPE, SIG_IGN);

	if (settings.record_dir != NULL) {
		char path[4096];

		if (mkdir(settings.record_dir, 0755) < 0 && errno != EEXIST)
			fatalx("%s: %s", settings.record_dir, strerror(errno));
		snprintf(path, sizeof(path), "%s/connections.log",
		    settings.record_dir);
		settings.connections_log = fopen(path, "a");
		if (settings.connections_log == NULL)
			fatalx("%s: %s", path, strerror(errno));
	}

	/* Signals arrive as readable data on the loop, never mid-callback. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		fatalx("signalfd: %s", strerror(errno));

	listen_fd = listen_socket(settings.addr, settings.port, &bound);
	if (listen_fd < 0)
		return 1;

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.max_http_header_data = FO_HEAD_MAX;
	info.max_http_header_pool = 1024;	/* calls upgrading at once */
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;
	settings.context = lws_create_context(&info);
	if (settings.context == NULL)
		fatalx("lws_create_context failed");
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;	/* we accept() */
	info.protocols = protocols;
	info.vhost_name = "fake-openai";
	settings.vhost = lws_create_vhost(settings.context, &info);
	if (settings.vhost == NULL)
		fatalx("lws_create_vhost failed");
	if (watch_fd(listen_fd, &listener_tag) == NULL ||
	    watch_fd(signal_fd, &signal_tag) == NULL)
		fatalx("cannot watch the listening socket");

	printf("listening on PORT %d\n", bound);
	fflush(stdout);
	log_info("listening on %s port %d, default scenario %s%s%s",
	    settings.addr, bound, scenario_name(settings.default_scenario),
	    settings.api_key != NULL ? ", API key required" : "",
	    settings.record_dir != NULL ? ", recording" : "");

	while (!settings.stopping)
		if (lws_service(settings.context, 0) < 0)
			break;
	while (settings.stopping && !stop_grace_over && any_open())
		if (lws_service(settings.context, 0) < 0)
			break;

	lws_sul_cancel(&stop_sul);
	lws_context_destroy(settings.context);
	while ((c = TAILQ_FIRST(&conns)) != NULL)
		conn_free(c);
	if (settings.connections_log != NULL)
		fclose(settings.connections_log);
	log_info("stopped");
	return 0;
}
