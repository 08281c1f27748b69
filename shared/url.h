/*
 * url: the small URL parser used for configured URLs (public URLs, the
 * OpenAI endpoint, tool URLs).  It accepts scheme://host[:port][/path] with
 * a DNS name, an IPv4 address or a bracketed IPv6 address; no user info, no
 * query, no fragment.
 */
#ifndef CALLBRIDGE_URL_H
#define CALLBRIDGE_URL_H

#include <stdbool.h>

#define URL_HOST_MAX	255
#define URL_PATH_MAX	1024

struct url {
	char	scheme[8];		/* lower case: http, https, ws, wss */
	char	host[URL_HOST_MAX + 1];	/* without brackets */
	int	port;			/* explicit or the scheme's default */
	bool	port_given;
	bool	tls;			/* https or wss */
	char	path[URL_PATH_MAX + 1];	/* "" or starting with '/' */
};

/* Parse s; on failure return false and point *why at a static reason. */
bool	 url_parse(const char *s, struct url *, const char **why);

#endif
