/*
 * request: one FastCGI request as the routes see it, and its response.
 *
 * request_read() checks what every route shares (route, method, content
 * type, body size, form syntax, Twilio signature) and answers the
 * request itself when one of them is wrong, so a route handler only runs
 * on a well-formed request.  Every response has a Content-Length and is
 * written in one piece: Twilio does not handle chunked TwiML.
 */
#ifndef CALLBRIDGE_REQUEST_H
#define CALLBRIDGE_REQUEST_H

#include <stdbool.h>

#include <fcgiapp.h>

#include "buf.h"
#include "conf.h"
#include "form.h"

#define REQUEST_URI_MAX		4096	/* longest request target we accept */
#define REQUEST_PREFIX_MAX	1024	/* longest path prefix before /api/ */
#define RESPONSE_MAX		(256 * 1024)	/* largest response body */

enum route_id {
	ROUTE_NONE = 0,
	ROUTE_WEBHOOK,
	ROUTE_CONNECT_ACTION,
	ROUTE_STATUS,
	ROUTE_STREAM_STATUS,
	ROUTE_HEALTH,
	ROUTE_TOOLS,
	ROUTE_PUBLIC_URL,
};

struct request {
	FCGX_Request		*fcgi;
	const struct conf	*cf;
	enum route_id		 route;
	const char		*route_name;	/* "/api/webhook/" ... */
	const char		*method;
	char			 uri[REQUEST_URI_MAX + 1];	/* path?query as received */
	char			 prefix[REQUEST_PREFIX_MAX + 1];	/* path before /api/... */
	const char		*query;		/* after '?' in uri, or "" */
	struct buf		 body;
	struct form		 form;		/* POST: the body; GET: the query */
	bool			 responded;
};

struct response {
	int		 status;
	const char	*content_type;
	const char	*allow;		/* for 405 */
	struct buf	 body;
};

/*
 * Read and check the request.  Returns true when a route handler should
 * run; false when the request was answered already (an error).
 */
bool	 request_read(struct request *, FCGX_Request *, const struct conf *);
void	 request_free(struct request *);
const char *request_param(const struct request *, const char *env);

void	 response_init(struct response *, int status, const char *ctype);
void	 response_free(struct response *);
/* Send r; the request is then answered. */
void	 request_respond(struct request *, struct response *);
/* Send a short text/plain error. */
void	 request_error(struct request *, int status, const char *message);
/* Build "<public_url><prefix><path>" for URLs handed to Twilio. */
int	 request_public_url(const struct request *, const char *path,
	    struct buf *out);

#endif
