/*
 * tool-server: an HTTP (and HTTPS) server standing in for the services
 * behind callbridge's http tools, for the relay's tests.
 *
 *   tool-server [-a ADDR] [-p PORT] [-r RECORD] [-c CERT -k KEY]
 *
 * Prints "listening on PORT <n>" once ready.  Every request is appended
 * to RECORD as one JSON line: method, path, the X-Callbridge-* headers,
 * Content-Type and the body.  What it answers depends on the path:
 *   /ok            200 {"status":"shipped","received":<the body>}
 *   /slow/<ms>     the same, after <ms> milliseconds
 *   /status/<n>    HTTP <n> with a short body
 *   /big/<bytes>   200 with a JSON string of that many bytes
 *   /binary        200 with bytes that are not UTF-8
 * Built on libevent's evhttp (and bufferevent_openssl for -c/-k).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

static FILE		*record;
static SSL_CTX		*ssl_ctx;
static struct event_base *base;

struct delayed {
	struct evhttp_request	*req;
	struct evbuffer		*body;
	struct event		*ev;
};

static void
reply_later(evutil_socket_t fd, short what, void *arg)
{
	struct delayed *d = arg;

	(void)fd;
	(void)what;
	evhttp_send_reply(d->req, 200, "OK", d->body);
	evbuffer_free(d->body);
	event_free(d->ev);
	free(d);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq	*in = evhttp_request_get_input_headers(req);
	struct evbuffer		*body = evhttp_request_get_input_buffer(req);
	struct evbuffer		*out = evbuffer_new();
	const char		*path = evhttp_request_get_uri(req);
	size_t			 len = evbuffer_get_length(body);
	char			*text = calloc(1, len + 1);
	json_object		*rec = json_object_new_object();
	static const char *const hdrs[] = {
		"Content-Type", "X-Callbridge-Timestamp", "X-Callbridge-Signature",
		"X-Callbridge-Session", "X-Callbridge-Tool", "Host",
	};
	size_t			 i;
	int			 n;

	(void)arg;
	evbuffer_copyout(body, text, len);
	json_object_object_add(rec, "method", json_object_new_string(
	    evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "other"));
	json_object_object_add(rec, "path", json_object_new_string(path));
	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		const char *v = evhttp_find_header(in, hdrs[i]);

		if (v != NULL)
			json_object_object_add(rec, hdrs[i], json_object_new_string(v));
	}
	json_object_object_add(rec, "body", json_object_new_string(text));
	if (record != NULL) {
		fprintf(record, "%s\n", json_object_to_json_string_ext(rec,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		fflush(record);
	}
	json_object_put(rec);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");

	if (strcmp(path, "/ok") == 0 || strncmp(path, "/slow/", 6) == 0) {
		evbuffer_add_printf(out, "{\"status\":\"shipped\",\"received\":%s}",
		    len > 0 ? text : "null");
		if (path[1] == 's') {
			struct delayed	*d = calloc(1, sizeof(*d));
			long		 ms = atol(path + 6);
			struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

			d->req = req;
			d->body = out;
			d->ev = evtimer_new(base, reply_later, d);
			evtimer_add(d->ev, &tv);
			free(text);
			return;
		}
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strncmp(path, "/status/", 8) == 0) {
		n = atoi(path + 8);
		evbuffer_add_printf(out, "{\"error\":\"status %d\"}", n);
		evhttp_send_reply(req, n, "Status", out);
	} else if (strncmp(path, "/big/", 5) == 0) {
		long size = atol(path + 5);

		evbuffer_add(out, "\"", 1);
		for (; size > 2; size--)
			evbuffer_add(out, "x", 1);
		evbuffer_add(out, "\"", 1);
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strcmp(path, "/binary") == 0) {
		evbuffer_add(out, "\xff\xfe\xfd", 3);
		evhttp_send_reply(req, 200, "OK", out);
	} else
		evhttp_send_reply(req, 404, "Not Found", out);
	evbuffer_free(out);
	free(text);
}

static struct bufferevent *
make_ssl_bev(struct event_base *b, void *arg)
{
	(void)arg;
	return bufferevent_openssl_socket_new(b, -1, SSL_new(ssl_ctx),
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	event_base_loopexit(base, NULL);
}

int
main(int argc, char *argv[])
{
	struct evhttp			*http;
	struct evhttp_bound_socket	*bound;
	struct event			*sig1, *sig2;
	const char			*addr = "127.0.0.1", *cert = NULL, *key = NULL;
	int				 ch, port = 0;

	while ((ch = getopt(argc, argv, "a:c:k:p:r:")) != -1) {
		switch (ch) {
		case 'a': addr = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'r':
			if ((record = fopen(optarg, "a")) == NULL) {
				perror(optarg);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: tool-server [-a addr] [-p port] "
			    "[-r record] [-c cert -k key]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	http = evhttp_new(base);
	evhttp_set_gencb(http, on_request, NULL);
	if (cert != NULL && key != NULL) {
		ssl_ctx = SSL_CTX_new(TLS_server_method());
		if (SSL_CTX_use_certificate_chain_file(ssl_ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ssl_ctx, key, SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr, "tool-server: cannot load %s / %s\n", cert, key);
			return 1;
		}
		evhttp_set_bevcb(http, make_ssl_bev, NULL);
	}
	if ((bound = evhttp_bind_socket_with_handle(http, addr,
	    (unsigned short)port)) == NULL) {
		fprintf(stderr, "tool-server: cannot listen on %s:%d\n", addr, port);
		return 1;
	}
	{
		struct sockaddr_storage	 ss;
		socklen_t		 sl = sizeof(ss);
		evutil_socket_t		 fd = evhttp_bound_socket_get_fd(bound);

		getsockname(fd, (struct sockaddr *)&ss, &sl);
		printf("listening on PORT %d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
		fflush(stdout);
	}
	sig1 = evsignal_new(base, SIGTERM, on_signal, NULL);
	sig2 = evsignal_new(base, SIGINT, on_signal, NULL);
	event_add(sig1, NULL);
	event_add(sig2, NULL);
	event_base_dispatch(base);
	event_free(sig1);
	event_free(sig2);
	evhttp_free(http);
	event_base_free(base);
	if (ssl_ctx != NULL)
		SSL_CTX_free(ssl_ctx);
	if (record != NULL)
		fclose(record);
	return 0;
}
