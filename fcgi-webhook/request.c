/*
 * request: FastCGI request checks and responses (see request.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "request.h"
#include "signature.h"

static const struct route {
	const char	*path;		/* without the trailing slash */
	enum route_id	 id;
	const char	*method;
	bool		 twilio;	/* signed by Twilio, form body */
} routes[] = {
	{ "/api/webhook", ROUTE_WEBHOOK, "POST", true },
	{ "/api/twiml", ROUTE_WEBHOOK, "POST", true },
	{ "/api/connect-action", ROUTE_CONNECT_ACTION, "POST", true },
	{ "/api/status", ROUTE_STATUS, "POST", true },
	{ "/api/stream-status", ROUTE_STREAM_STATUS, "POST", true },
	{ "/api/health", ROUTE_HEALTH, "GET", false },
	{ "/api/tools", ROUTE_TOOLS, "GET", false },
	{ "/api/public-url", ROUTE_PUBLIC_URL, "GET", false },
};

static const char *
status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

const char *
request_param(const struct request *rq, const char *env)
{
	return FCGX_GetParam(env, rq->fcgi->envp);
}

void
response_init(struct response *r, int status, const char *ctype)
{
	memset(r, 0, sizeof(*r));
	r->status = status;
	r->content_type = ctype;
	buf_init(&r->body, RESPONSE_MAX);
}

void
response_free(struct response *r)
{
	buf_free(&r->body);
}

void
request_respond(struct request *rq, struct response *r)
{
	struct buf	 head;

	if (rq->responded)
		return;
	rq->responded = true;
	buf_init(&head, 1024);
	buf_printf(&head, "Status: %d %s\r\n", r->status, status_text(r->status));
	if (r->status != 204 && r->content_type != NULL)
		buf_printf(&head, "Content-Type: %s\r\n", r->content_type);
	if (r->allow != NULL)
		buf_printf(&head, "Allow: %s\r\n", r->allow);
	buf_printf(&head, "Content-Length: %zu\r\n",
	    r->status == 204 ? (size_t)0 : r->body.len);
	buf_puts(&head, "Cache-Control: no-store\r\n\r\n");
	FCGX_PutStr(buf_str(&head), (int)head.len, rq->fcgi->out);
	if (r->status != 204 && r->body.len > 0 &&
	    strcmp(rq->method, "HEAD") != 0)
		FCGX_PutStr(buf_str(&r->body), (int)r->body.len, rq->fcgi->out);
	FCGX_FFlush(rq->fcgi->out);
	buf_free(&head);
}

void
request_error(struct request *rq, int status, const char *message)
{
	struct response r;

	response_init(&r, status, "text/plain; charset=utf-8");
	if (status == 405 && rq->route != ROUTE_NONE) {
		size_t i;

		for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
			if (routes[i].id == rq->route)
				r.allow = routes[i].method;
	}
	buf_printf(&r.body, "%d %s\n", status, message);
	request_respond(rq, &r);
	response_free(&r);
}

int
request_public_url(const struct request *rq, const char *path, struct buf *out)
{
	return buf_printf(out, "%s%s%s", rq->cf->webhook_public_url,
	    rq->prefix, path);
}

/*
 * Find the route: the path ends with one of the route paths, with or
 * without a trailing slash; whatever comes before is the prefix under
 * which the web server mounted us.
 */
static const struct route *
route_match(const char *path, size_t len, size_t *prefix_len)
{
	size_t i, rl;

	if (len > 0 && path[len - 1] == '/')
		len--;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		rl = strlen(routes[i].path);
		if (len >= rl && memcmp(path + len - rl, routes[i].path, rl) == 0) {
			*prefix_len = len - rl;
			return &routes[i];
		}
	}
	return NULL;
}

static bool
content_type_is_form(const char *ct)
{
	static const char form[] = "application/x-www-form-urlencoded";
	size_t n = sizeof(form) - 1;

	if (ct == NULL || strncasecmp(ct, form, n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Read the whole body, refusing more than max bytes. */
static int
read_body(struct request *rq, size_t max, bool *too_big)
{
	const char	*cl = request_param(rq, "CONTENT_LENGTH");
	char		 chunk[8192];
	long long	 want = -1;
	int		 n;

	*too_big = false;
	if (cl != NULL && cl[0] != '\0') {
		char *end;

		want = strtoll(cl, &end, 10);
		if (*end != '\0' || want < 0)
			return -1;
		if ((unsigned long long)want > max) {
			*too_big = true;
			return -1;
		}
	}
	buf_init(&rq->body, max);
	/* Ensure body.data exists even for an empty body. */
	buf_append(&rq->body, "", 0);
	for (;;) {
		size_t room = sizeof(chunk);

		if (want >= 0) {
			if ((long long)rq->body.len >= want)
				break;
			if ((long long)room > want - (long long)rq->body.len)
				room = (size_t)(want - (long long)rq->body.len);
		}
		n = FCGX_GetStr(chunk, (int)room, rq->fcgi->in);
		if (n <= 0)
			break;
		if (buf_append(&rq->body, chunk, (size_t)n) == -1) {
			*too_big = true;
			return -1;
		}
	}
	if (want >= 0 && (long long)rq->body.len != want)
		return -1;	/* the web server gave up, or timed out */
	return 0;
}

static bool
check_signature(struct request *rq)
{
	const char	*sig = request_param(rq, "HTTP_X_TWILIO_SIGNATURE");
	struct buf	 url;
	bool		 ok;
	char		 esc[64], uesc[256];

	if (!rq->cf->twilio_validate_signatures)
		return true;
	if (sig == NULL || sig[0] == '\0') {
		log_warn("%s: no X-Twilio-Signature header; refused",
		    rq->route_name);
		return false;
	}
	buf_init(&url, SIGNATURE_URL_MAX);
	buf_printf(&url, "%s%s", rq->cf->webhook_public_url, rq->uri);
	ok = !url.overflow && signature_check(rq->cf->twilio_auth_token,
	    buf_str(&url), &rq->form, sig);
	if (!ok)
		log_warn("%s: X-Twilio-Signature \"%s\" does not match %s; "
		    "refused (is [webhook] public_url the URL Twilio calls?)",
		    rq->route_name, log_escape(esc, sizeof(esc), sig),
		    log_escape(uesc, sizeof(uesc), buf_str(&url)));
	buf_free(&url);
	return ok;
}

bool
request_read(struct request *rq, FCGX_Request *fcgi, const struct conf *cf)
{
	const struct route	*rt;
	const char		*uri, *q, *why;
	size_t			 pathlen, prefix_len = 0;
	bool			 too_big;
	char			 esc[128], uesc[128];

	memset(rq, 0, sizeof(*rq));
	rq->fcgi = fcgi;
	rq->cf = cf;
	buf_init(&rq->body, (size_t)cf->webhook_max_body);
	rq->method = request_param(rq, "REQUEST_METHOD");
	if (rq->method == NULL)
		rq->method = "";

	/* The request target exactly as the client sent it: it is signed. */
	uri = request_param(rq, "REQUEST_URI");
	if (uri != NULL && uri[0] != '\0') {
		if (strlen(uri) > REQUEST_URI_MAX) {
			request_error(rq, 414, "request URI too long");
			return false;
		}
		snprintf(rq->uri, sizeof(rq->uri), "%s", uri);
	} else {
		const char *sn = request_param(rq, "SCRIPT_NAME");
		const char *pi = request_param(rq, "PATH_INFO");
		const char *qs = request_param(rq, "QUERY_STRING");
		int n = snprintf(rq->uri, sizeof(rq->uri), "%s%s%s%s",
		    sn ? sn : "", pi ? pi : "", qs && *qs ? "?" : "",
		    qs ? qs : "");

		if (n < 0 || (size_t)n >= sizeof(rq->uri)) {
			request_error(rq, 414, "request URI too long");
			return false;
		}
	}
	q = strchr(rq->uri, '?');
	pathlen = q != NULL ? (size_t)(q - rq->uri) : strlen(rq->uri);
	rq->query = q != NULL ? q + 1 : "";

	if ((rt = route_match(rq->uri, pathlen, &prefix_len)) == NULL) {
		log_info("%s %s: no such route (404)",
		    log_escape(esc, 16, rq->method),
		    log_escape(uesc, sizeof(uesc), rq->uri));
		request_error(rq, 404, "not found");
		return false;
	}
	rq->route = rt->id;
	rq->route_name = rt->path;
	if (prefix_len > REQUEST_PREFIX_MAX) {
		request_error(rq, 414, "request URI too long");
		return false;
	}
	memcpy(rq->prefix, rq->uri, prefix_len);
	rq->prefix[prefix_len] = '\0';

	if (strcmp(rq->method, rt->method) != 0 &&
	    !(strcmp(rt->method, "GET") == 0 && strcmp(rq->method, "HEAD") == 0)) {
		log_info("%s %s: method not allowed (405)",
		    log_escape(esc, 16, rq->method), rt->path);
		request_error(rq, 405, "method not allowed");
		return false;
	}

	if (strcmp(rt->method, "POST") == 0) {
		if (!content_type_is_form(request_param(rq, "CONTENT_TYPE"))) {
			log_info("%s: content type \"%s\" refused (415)", rt->path,
			    log_escape(esc, 64, request_param(rq, "CONTENT_TYPE")));
			request_error(rq, 415,
			    "expected application/x-www-form-urlencoded");
			return false;
		}
		if (read_body(rq, (size_t)cf->webhook_max_body, &too_big) == -1) {
			if (too_big) {
				log_warn("%s: body larger than max_body (%d "
				    "bytes); refused (413)", rt->path,
				    cf->webhook_max_body);
				request_error(rq, 413, "request body too large");
			} else {
				log_warn("%s: incomplete request body (400)",
				    rt->path);
				request_error(rq, 400, "incomplete request body");
			}
			return false;
		}
		if (!form_parse(&rq->form, buf_str(&rq->body), rq->body.len,
		    (size_t)cf->webhook_max_params, &why)) {
			log_warn("%s: malformed form body: %s (400)", rt->path, why);
			request_error(rq, 400, why);
			return false;
		}
	} else if (!form_parse(&rq->form, rq->query, strlen(rq->query),
	    (size_t)cf->webhook_max_params, &why)) {
		log_info("%s: malformed query string: %s (400)", rt->path, why);
		request_error(rq, 400, why);
		return false;
	}

	if (rt->twilio && !check_signature(rq)) {
		request_error(rq, 403, "invalid Twilio signature");
		return false;
	}
	return true;
}

void
request_free(struct request *rq)
{
	buf_free(&rq->body);
	form_free(&rq->form);
}
