/*
 * tool_http: http tools, run on the ctl thread with libevent's HTTP client
 * (and OpenSSL for https), never on the audio thread.
 *
 * The model's arguments are POSTed as the JSON body to the tool's URL.
 * The receiver can check that the request came from this relay:
 *   X-Callbridge-Timestamp: <unix seconds>
 *   X-Callbridge-Signature: sha256=<hex HMAC-SHA256([tools] secret,
 *                                   timestamp "." body)>
 * A 2xx answer's body becomes the function_call_output; a timeout
 * (timeout_ms of the tool's row, counting everything), a connection or
 * TLS error, another status or an answer over [tools] max_response becomes
 * an error output the model can explain to the caller.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "relay.h"
#include "twiml.h"

#define TOOLS_INFLIGHT_MAX	1024	/* tool requests at once, all calls */

struct tools {
	struct event_base	*base;
	struct evdns_base	*dns;
	const struct conf	*cf;
	struct mailbox		*to_ws;
	struct ws		*ws;
	SSL_CTX			*ssl;
	int			 inflight;
};

struct tool_req {
	struct tools			*t;
	struct msg			*m;	/* the M_TOOL_CALL */
	struct evhttp_connection	*conn;
	struct evhttp_request		*req;
	struct event			*timer;
	struct timespec			 t0;
	enum evhttp_request_error	 error;
	bool				 have_error;
	bool				 finished;
};

static long long
elapsed_ms(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(now.tv_sec - t0->tv_sec) * 1000 +
	    (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void
tool_req_free(evutil_socket_t fd, short what, void *arg)
{
	struct tool_req *tr = arg;

	(void)fd;
	(void)what;
	if (tr->conn != NULL)
		evhttp_connection_free(tr->conn);
	if (tr->timer != NULL)
		event_free(tr->timer);
	msg_free(tr->m);
	tr->t->inflight--;
	free(tr);
}

/* Answer the ws thread once, then free everything on a later loop turn. */
static void
tool_finish(struct tool_req *tr, bool ok, const char *output, const char *summary)
{
	struct msg	*r;
	const struct timeval zero = { 0, 0 };

	if (tr->finished)
		return;
	tr->finished = true;
	if ((r = msg_new(M_TOOL_RESULT, tr->m->call_id, tr->m->session_id)) != NULL) {
		r->s1 = strdup(tr->m->s1);
		r->s2 = strdup(output);
		r->s3 = strdup(summary);
		/* "name(arguments)", for the call's function_call event. */
		r->s4 = malloc(strlen(tr->m->s4) + strlen(tr->m->s3) + 3);
		if (r->s4 != NULL)
			sprintf(r->s4, "%s(%s)", tr->m->s4, tr->m->s3);
		r->n1 = ok;
		r->n2 = elapsed_ms(&tr->t0);
		if (mailbox_put(tr->t->to_ws, r) == -1)
			log_err("mailbox to the ws thread full; tool result dropped");
		ws_wake(tr->t->ws);
	}
	event_base_once(tr->t->base, -1, EV_TIMEOUT, tool_req_free, tr, &zero);
}

static void
tool_error(struct tool_req *tr, const char *what)
{
	json_object	*o = json_object_new_object();
	char		 text[256];

	snprintf(text, sizeof(text), "the tool could not be reached: %s", what);
	json_object_object_add(o, "error", json_object_new_string(text));
	tool_finish(tr, false, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN), what);
	json_object_put(o);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tool_req	*tr = arg;
	char		 why[64];

	(void)fd;
	(void)what;
	if (tr->finished)
		return;
	snprintf(why, sizeof(why), "no answer within %lld ms", tr->m->n1);
	tool_error(tr, why);
	/* The connection goes with tool_req_free(), cancelling the request. */
}

static void
on_error(enum evhttp_request_error err, void *arg)
{
	struct tool_req *tr = arg;

	tr->error = err;
	tr->have_error = true;
}

static void
on_done(struct evhttp_request *req, void *arg)
{
	struct tool_req		*tr = arg;
	struct evbuffer		*body;
	int			 code;
	size_t			 len;
	const char		*data;
	char			 why[96];

	tr->req = NULL;		/* libevent frees it after this callback */
	if (tr->finished)
		return;
	code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	if (code == 0) {
		if (tr->have_error && tr->error == EVREQ_HTTP_DATA_TOO_LONG)
			tool_error(tr, "the answer is larger than max_response");
		else if (tr->have_error && tr->error == EVREQ_HTTP_TIMEOUT)
			tool_error(tr, "timed out");
		else
			tool_error(tr, "connection failed (refused, DNS or TLS)");
		return;
	}
	if (code < 200 || code > 299) {
		snprintf(why, sizeof(why), "the tool answered HTTP %d", code);
		tool_error(tr, why);
		return;
	}
	body = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(body);
	if (len > (size_t)tr->t->cf->tools_max_response) {
		tool_error(tr, "the answer is larger than max_response");
		return;
	}
	data = len > 0 ? (const char *)evbuffer_pullup(body, -1) : "";
	if (memchr(data, '\0', len) != NULL || !utf8_valid(data, len)) {
		tool_error(tr, "the answer is not UTF-8 text");
		return;
	}
	{
		char *copy = strndup(data, len);

		snprintf(why, sizeof(why), "HTTP %d, %zu bytes", code, len);
		tool_finish(tr, true, copy != NULL ? copy : "", why);
		free(copy);
	}
}

static void
hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void
tool_http_start(struct tools *t, struct msg *m)
{
	struct tool_req		*tr;
	struct evhttp_uri	*uri = NULL;
	struct evkeyvalq	*h;
	struct bufferevent	*bev = NULL;
	const char		*scheme, *host, *path, *query;
	char			 target[4096], hostport[300], ts[32];
	char			 sig[EVP_MAX_MD_SIZE * 2 + 8];
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0;
	struct timeval		 tv;
	bool			 https;
	int			 port;

	if ((tr = calloc(1, sizeof(*tr))) == NULL) {
		msg_free(m);
		return;
	}
	tr->t = t;
	tr->m = m;
	t->inflight++;
	clock_gettime(CLOCK_MONOTONIC, &tr->t0);
	if (t->inflight > TOOLS_INFLIGHT_MAX) {
		tool_error(tr, "too many tool requests at once");
		return;
	}
	if ((uri = evhttp_uri_parse(m->s2)) == NULL ||
	    (scheme = evhttp_uri_get_scheme(uri)) == NULL ||
	    (host = evhttp_uri_get_host(uri)) == NULL ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		tool_error(tr, "bad tool URL");
		goto out;
	}
	https = strcmp(scheme, "https") == 0;
	port = evhttp_uri_get_port(uri);
	if (port <= 0)
		port = https ? 443 : 80;
	path = evhttp_uri_get_path(uri);
	query = evhttp_uri_get_query(uri);
	snprintf(target, sizeof(target), "%s%s%s",
	    path != NULL && path[0] != '\0' ? path : "/",
	    query != NULL ? "?" : "", query != NULL ? query : "");

	if (https) {
		SSL			*ssl = SSL_new(t->ssl);
		struct in6_addr		 a6;
		struct in_addr		 a4;

		if (ssl == NULL) {
			tool_error(tr, "TLS setup failed");
			goto out;
		}
		/* Verify the certificate's name (or address) too. */
		if (inet_pton(AF_INET, host, &a4) == 1 ||
		    inet_pton(AF_INET6, host, &a6) == 1)
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
		else {
			SSL_set_tlsext_host_name(ssl, host);
			SSL_set1_host(ssl, host);
		}
		bev = bufferevent_openssl_socket_new(t->base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (bev == NULL) {
			SSL_free(ssl);
			tool_error(tr, "TLS setup failed");
			goto out;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	}
	tr->conn = evhttp_connection_base_bufferevent_new(t->base, t->dns, bev,
	    host, (unsigned short)port);
	if (tr->conn == NULL) {
		if (bev != NULL)
			bufferevent_free(bev);
		tool_error(tr, "cannot create a connection");
		goto out;
	}
	evhttp_connection_set_max_body_size(tr->conn,
	    (ev_ssize_t)t->cf->tools_max_response);
	evhttp_connection_set_retries(tr->conn, 0);
	tv.tv_sec = m->n1 / 1000;
	tv.tv_usec = (m->n1 % 1000) * 1000;
	evhttp_connection_set_timeout_tv(tr->conn, &tv);

	tr->req = evhttp_request_new(on_done, tr);
	evhttp_request_set_error_cb(tr->req, on_error);
	h = evhttp_request_get_output_headers(tr->req);
	if ((https && port == 443) || (!https && port == 80))
		snprintf(hostport, sizeof(hostport), "%s", host);
	else
		snprintf(hostport, sizeof(hostport), "%s:%d", host, port);
	evhttp_add_header(h, "Host", hostport);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "User-Agent", "callbridge/" PACKAGE_VERSION);
	evhttp_add_header(h, "Connection", "close");
	evhttp_add_header(h, "X-Callbridge-Session", m->session_id);
	evhttp_add_header(h, "X-Callbridge-Tool", m->s4);
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	evhttp_add_header(h, "X-Callbridge-Timestamp", ts);
	if (t->cf->tools_secret[0] != '\0') {
		{
			struct evbuffer	*signed_data = evbuffer_new();
			size_t		 n;

			evbuffer_add_printf(signed_data, "%s.", ts);
			evbuffer_add(signed_data, m->s3, strlen(m->s3));
			n = evbuffer_get_length(signed_data);
			HMAC(EVP_sha256(), t->cf->tools_secret,
			    (int)strlen(t->cf->tools_secret),
			    evbuffer_pullup(signed_data, -1), n, md, &mdlen);
			evbuffer_free(signed_data);
		}
		memcpy(sig, "sha256=", 7);
		hex(sig + 7, md, mdlen);
		evhttp_add_header(h, "X-Callbridge-Signature", sig);
	}
	evbuffer_add(evhttp_request_get_output_buffer(tr->req), m->s3,
	    strlen(m->s3));

	tr->timer = evtimer_new(t->base, on_timeout, tr);
	tv.tv_sec = m->n1 / 1000;
	tv.tv_usec = (m->n1 % 1000) * 1000;
	evtimer_add(tr->timer, &tv);
	if (evhttp_make_request(tr->conn, tr->req, EVHTTP_REQ_POST, target) != 0) {
		tr->req = NULL;		/* freed by libevent on failure */
		tool_error(tr, "cannot send the request");
	}
out:
	if (uri != NULL)
		evhttp_uri_free(uri);
}

struct tools *
tools_new(struct event_base *base, struct evdns_base *dns,
    const struct conf *cf, struct mailbox *to_ws, struct ws *ws, char **cause)
{
	struct tools *t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	t->base = base;
	t->dns = dns;
	t->cf = cf;
	t->to_ws = to_ws;
	t->ws = ws;
	if ((t->ssl = SSL_CTX_new(TLS_client_method())) == NULL) {
		*cause = strdup("cannot create the TLS context for tools");
		free(t);
		return NULL;
	}
	SSL_CTX_set_verify(t->ssl, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_min_proto_version(t->ssl, TLS1_2_VERSION);
	if ((cf->tools_ca_file[0] != '\0' &&
	    SSL_CTX_load_verify_locations(t->ssl, cf->tools_ca_file, NULL) != 1) ||
	    (cf->tools_ca_file[0] == '\0' &&
	    SSL_CTX_set_default_verify_paths(t->ssl) != 1)) {
		*cause = strdup("cannot load [tools] ca_file or the system CAs");
		SSL_CTX_free(t->ssl);
		free(t);
		return NULL;
	}
	if (cf->tools_secret[0] == '\0')
		log_warn("[tools] secret is not set: http tools get unsigned "
		    "requests that their receivers cannot verify");
	return t;
}

void
tools_free(struct tools *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ssl);
	free(t);
}
