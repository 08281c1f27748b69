/*
 * signature: Twilio's X-Twilio-Signature.
 *
 * Base64(HMAC-SHA1(auth_token, url + sorted(name + value)...)) where the
 * parameters are the decoded form fields sorted by name (byte order), with
 * repeated names contributing each distinct value once, in sorted order.
 * A request is accepted when the header matches the URL as given, the URL
 * with its port removed, or the URL with the scheme's default port added,
 * as the official SDKs do.  Comparison is constant-time.
 */
#ifndef CALLBRIDGE_SIGNATURE_H
#define CALLBRIDGE_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>

#include "form.h"

#define SIGNATURE_B64_LEN	28	/* base64 of a 20-byte SHA-1 digest */
#define SIGNATURE_URL_MAX	8192	/* longest URL we sign or check */
#define SIGNATURE_DATA_MAX	(1024 * 1024) /* longest string we sign */

/*
 * Compute the signature of url with params (may be NULL for none) into
 * out (SIGNATURE_B64_LEN + 1 bytes).  Returns false when the input passes
 * the limits above or on an OpenSSL failure.
 */
bool	 signature_compute(const char *token, const char *url,
	    const struct form *params, char out[SIGNATURE_B64_LEN + 1]);

/* True when header is the signature of any accepted form of url. */
bool	 signature_check(const char *token, const char *url,
	    const struct form *params, const char *header);

/*
 * The URL variants the SDKs accept, for url: with the port removed
 * (always) and with the default port added (when there is no port).
 * Each out buffer must hold SIGNATURE_URL_MAX + 8 bytes; a variant that
 * does not apply is set to "".
 */
void	 signature_url_variants(const char *url, char *without_port,
	    char *with_port);

/*
 * For a request with a JSON body (PROTOCOLS.md §2.3), whose signature
 * covers the URL only (check it with params NULL): true when the first
 * bodySHA256 query parameter of url is the lower-case hex SHA-256 of the
 * len bytes of body.  A missing or malformed parameter is false.
 */
bool	 signature_body_sha256_ok(const char *url, const char *body,
	    size_t len);

#endif
