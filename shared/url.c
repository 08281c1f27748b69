/*
 * url: parse configured URLs (see url.h).
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"

static bool
host_char_ok(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

bool
url_parse(const char *s, struct url *u, const char **why)
{
	const char	*p, *hs, *he, *ps;
	size_t		 n;

	memset(u, 0, sizeof(*u));
	if ((p = strstr(s, "://")) == NULL) {
		*why = "not a URL (scheme://host expected)";
		return false;
	}
	n = (size_t)(p - s);
	if (n == 0 || n >= sizeof(u->scheme)) {
		*why = "unsupported scheme";
		return false;
	}
	memcpy(u->scheme, s, n);
	u->scheme[n] = '\0';
	for (char *c = u->scheme; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	if (strcmp(u->scheme, "http") == 0 || strcmp(u->scheme, "ws") == 0)
		u->port = 80;
	else if (strcmp(u->scheme, "https") == 0 || strcmp(u->scheme, "wss") == 0) {
		u->port = 443;
		u->tls = true;
	} else {
		*why = "unsupported scheme (http, https, ws or wss expected)";
		return false;
	}

	hs = p + 3;
	n = strcspn(hs, "/");
	if (memchr(hs, '@', n) != NULL) {
		*why = "user information is not allowed";
		return false;
	}
	if (*hs == '[') {
		he = strchr(hs, ']');
		if (he == NULL) {
			*why = "unterminated IPv6 address";
			return false;
		}
		for (p = hs + 1; p < he; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.') {
				*why = "bad character in IPv6 address";
				return false;
			}
		hs++;
		p = he + 1;
	} else {
		for (p = hs; host_char_ok(*p); p++)
			;
		he = p;
	}
	n = (size_t)(he - hs);
	if (n == 0) {
		*why = "missing host";
		return false;
	}
	if (n > URL_HOST_MAX) {
		*why = "host name too long";
		return false;
	}
	memcpy(u->host, hs, n);
	u->host[n] = '\0';

	if (*p == ':') {
		char	*end;
		long	 port;

		if (!isdigit((unsigned char)p[1])) {
			*why = "bad port";
			return false;
		}
		port = strtol(p + 1, &end, 10);
		if (port < 1 || port > 65535) {
			*why = "port out of range (1-65535)";
			return false;
		}
		u->port = (int)port;
		u->port_given = true;
		p = end;
	}
	ps = p;
	if (*ps != '\0' && *ps != '/') {
		*why = (*ps == '@') ? "user information is not allowed" :
		    "bad character after the host";
		return false;
	}
	for (p = ps; *p != '\0'; p++) {
		if (*p == '?' || *p == '#') {
			*why = "query strings and fragments are not allowed";
			return false;
		}
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			*why = "bad character in the path";
			return false;
		}
	}
	n = (size_t)(p - ps);
	if (n > URL_PATH_MAX) {
		*why = "path too long";
		return false;
	}
	memcpy(u->path, ps, n);
	u->path[n] = '\0';
	return true;
}
