/*
 * test_url: the configured-URL parser.  Schemes http/https/ws/wss with
 * their default ports (80/443) and TLS flag, explicit ports, bracketed
 * IPv6, IPv4, paths kept as written; refused: no scheme, other schemes,
 * user information, query or fragment, port 0/65536/non-digits, an empty
 * host, spaces and other bytes that do not belong, over-long hosts and
 * paths.
 */
#include "config.h"

#include <string.h>

#include "tap.h"
#include "url.h"

static void
good(const char *s, const char *scheme, const char *host, int port,
    bool given, bool tls, const char *path)
{
	struct url	 u;
	const char	*why = "(not set)";
	char		 d[512];
	bool		 r;

	r = url_parse(s, &u, &why);
	snprintf(d, sizeof(d), "%s parses", s);
	if (!ok(r, d)) {
		diag("reason: %s", why);
		return;
	}
	snprintf(d, sizeof(d), "%s: scheme", s);
	is_str(u.scheme, scheme, d);
	snprintf(d, sizeof(d), "%s: host", s);
	is_str(u.host, host, d);
	snprintf(d, sizeof(d), "%s: port", s);
	is_int(u.port, port, d);
	snprintf(d, sizeof(d), "%s: port_given", s);
	is_int(u.port_given, given, d);
	snprintf(d, sizeof(d), "%s: tls", s);
	is_int(u.tls, tls, d);
	snprintf(d, sizeof(d), "%s: path", s);
	is_str(u.path, path, d);
}

static void
bad(const char *s, const char *why_part)
{
	struct url	 u;
	const char	*why = NULL;
	char		 d[600];

	snprintf(d, sizeof(d), "\"%s\" is refused", s);
	ok(!url_parse(s, &u, &why), d);
	snprintf(d, sizeof(d), "\"%s\": the reason mentions \"%s\"", s,
	    why_part);
	like(why, why_part, d);
}

int
main(void)
{
	char	 longhost[400], longpath[1200], s[1700];

	good("http://example.com", "http", "example.com", 80, false, false, "");
	good("https://example.com", "https", "example.com", 443, false, true, "");
	good("ws://example.com", "ws", "example.com", 80, false, false, "");
	good("wss://example.com", "wss", "example.com", 443, false, true, "");
	good("HTTPS://Example.COM", "https", "Example.COM", 443, false, true, "");
	good("https://voice.example.com:8443", "https", "voice.example.com",
	    8443, true, true, "");
	good("http://example.com:80", "http", "example.com", 80, true, false, "");
	good("wss://h:1", "wss", "h", 1, true, true, "");
	good("ws://h:65535/", "ws", "h", 65535, true, false, "/");
	good("http://[::1]:8080", "http", "::1", 8080, true, false, "");
	good("https://[2001:db8::1]/x", "https", "2001:db8::1", 443, false,
	    true, "/x");
	good("http://127.0.0.1:8081/", "http", "127.0.0.1", 8081, true, false,
	    "/");
	good("wss://api.openai.com/v1/realtime", "wss", "api.openai.com", 443,
	    false, true, "/v1/realtime");
	good("https://my_host-1.example.com/a/b/c.php", "https",
	    "my_host-1.example.com", 443, false, true, "/a/b/c.php");
	good("http://h/%41~!$&'()*+,;=:@", "http", "h", 80, false, false,
	    "/%41~!$&'()*+,;=:@");

	bad("example.com", "scheme://host");
	bad("//example.com", "scheme://host");
	bad("://example.com", "scheme");
	bad("", "scheme://host");
	bad("ftp://example.com", "unsupported scheme");
	bad("file:///etc/passwd", "unsupported scheme");
	bad("javascript://x", "unsupported scheme");
	bad("httpx://example.com", "unsupported scheme");
	bad("https://user@example.com", "user information");
	bad("https://user:pass@example.com", "user information");
	bad("https://example.com/?a=1", "query");
	bad("https://example.com/path?a=1", "query");
	bad("https://example.com/#frag", "fragment");
	bad("https://example.com?a=1", "after the host");
	bad("https://example.com#x", "after the host");
	bad("https://example.com:0", "port");
	bad("https://example.com:65536", "port");
	bad("https://example.com:99999999999999999999999", "port");
	bad("https://example.com:", "port");
	bad("https://example.com:/x", "port");
	bad("https://example.com:abc", "port");
	bad("https://example.com:-1", "port");
	bad("https://example.com:+80", "port");
	bad("https://example.com:80x", "after the host");
	bad("https://example.com: 80", "port");
	bad("https://", "missing host");
	bad("https:///path", "missing host");
	bad("https://:443", "missing host");
	bad("http://[]:80", "missing host");
	bad("http://[::1", "IPv6");
	bad("http://[::1x]", "IPv6");
	bad("http://[::1]x", "after the host");
	bad("https://exa mple.com", "after the host");
	bad("https:// example.com", "missing host");
	bad("https://example.com/a b", "path");
	bad("https://example.com/a\tb", "path");
	bad("https://example.com/\x7f", "path");
	bad("https://example.com/caf\xc3\xa9", "path");
	bad("https://exa\xc3\xa9mple.com", "after the host");
	bad("https://example.com\\evil", "after the host");

	memset(longhost, 'a', 255);
	longhost[255] = '\0';
	snprintf(s, sizeof(s), "https://%s/", longhost);
	good(s, "https", longhost, 443, false, true, "/");
	memset(longhost, 'a', 256);
	longhost[256] = '\0';
	snprintf(s, sizeof(s), "https://%s/", longhost);
	bad(s, "too long");

	longpath[0] = '/';
	memset(longpath + 1, 'p', 1023);
	longpath[1024] = '\0';
	snprintf(s, sizeof(s), "https://h%s", longpath);
	good(s, "https", "h", 443, false, true, longpath);
	longpath[1024] = 'p';
	longpath[1025] = '\0';
	snprintf(s, sizeof(s), "https://h%s", longpath);
	bad(s, "too long");

	return done_testing();
}
