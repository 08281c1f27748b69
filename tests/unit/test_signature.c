/*
 * test_signature: X-Twilio-Signature.  Every official vector of
 * PROTOCOLS.md §2.4 (A with its URL forms, B with repeated values, C with
 * a JSON body and bodySHA256), the URL-with-credentials vectors of the
 * SDK test suites (§2.2), an apostrophe in the query, and the WebSocket
 * vector of §3; the port tolerance of signature_check (port stripped,
 * default port added); signature_url_variants; byte-order sorting of
 * names; refusals: wrong token, empty token, wrong header length, a
 * tampered parameter or URL, URLs past SIGNATURE_URL_MAX and data past
 * SIGNATURE_DATA_MAX; signature_body_sha256_ok.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "form.h"
#include "signature.h"
#include "tap.h"

#define TOKEN	"12345"
#define BASE	"https://mycompany.com/myapp.php?foo=1&bar=2"
#define SIG_A	"RSOYDt4T1cUTdK1PDd93/VVr8B8="
#define HASH_C	"0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
#define BODY_C	"{\"property\": \"value\", \"boolean\": true}"
#define HASH_E	"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

/* Vector A's parameters, deliberately not in sorted order on the wire. */
static const char body_a[] = "To=%2B18005551212&Digits=1234&CallSid="
    "CA1234567890ABCDE&From=%2B14158675309&Caller=%2B14158675309";
static struct form form_a;

static void
parse(struct form *f, const char *body)
{
	const char *why = NULL;

	if (!form_parse(f, body, strlen(body), 1000, &why)) {
		diag("cannot parse \"%s\": %s", body, why);
		exit(1);
	}
}

/* HMAC-SHA1 of data straight from OpenSSL, base64-encoded. */
static const char *
reference(const char *token, const char *data, size_t len)
{
	static char	 out[SIGNATURE_B64_LEN + 1];
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;

	HMAC(EVP_sha1(), token, (int)strlen(token),
	    (const unsigned char *)data, len, md, &mdlen);
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
	return out;
}

static void
compute_is(const char *url, const struct form *params, const char *want,
    const char *desc)
{
	char	 out[SIGNATURE_B64_LEN + 1];
	bool	 r;

	memset(out, 'X', sizeof(out));
	r = signature_compute(TOKEN, url, params, out);
	ok(r, desc);
	is_str(r ? out : "(failed)", want, desc);
}

static void
test_vector_a(void)
{
	parse(&form_a, body_a);
	compute_is(BASE, &form_a, SIG_A, "vector A");
	compute_is("https://mycompany.com:443/myapp.php?foo=1&bar=2", &form_a,
	    "kvajT1Ptam85bY51eRf/AJRuM3w=", "vector A, https :443");
	compute_is("http://mycompany.com:1234/myapp.php?foo=1&bar=2", &form_a,
	    "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", "vector A, http :1234");
	compute_is("http://mycompany.com:80/myapp.php?foo=1&bar=2", &form_a,
	    "0ZXoZLH/DfblKGATFgpif+LLRf4=", "vector A, http :80");
	is_str(reference(TOKEN, BASE "CallSidCA1234567890ABCDECaller"
	    "+14158675309Digits1234From+14158675309To+18005551212",
	    strlen(BASE "CallSidCA1234567890ABCDECaller+14158675309Digits1234"
	    "From+14158675309To+18005551212")), SIG_A,
	    "vector A's signed string (§2.4) gives its signature");

	ok(signature_check(TOKEN, BASE, &form_a, SIG_A), "check: vector A");
	ok(signature_check(TOKEN, BASE, &form_a, "kvajT1Ptam85bY51eRf/AJRuM3w="),
	    "check: the :443 signature on the port-less URL (port added)");
	ok(signature_check(TOKEN,
	    "https://mycompany.com:1234/myapp.php?foo=1&bar=2", &form_a, SIG_A),
	    "check: request URL with :1234 accepts A (port stripped)");
	ok(signature_check(TOKEN,
	    "https://mycompany.com:443/myapp.php?foo=1&bar=2", &form_a, SIG_A),
	    "check: request URL with :443 accepts A (port stripped)");
	ok(signature_check(TOKEN,
	    "https://mycompany.com:443/myapp.php?foo=1&bar=2", &form_a,
	    "kvajT1Ptam85bY51eRf/AJRuM3w="),
	    "check: request URL with :443 accepts the :443 signature as is");
	ok(signature_check(TOKEN,
	    "http://mycompany.com:1234/myapp.php?foo=1&bar=2", &form_a,
	    "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="), "check: http :1234 as is");
	ok(signature_check(TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2",
	    &form_a, "0ZXoZLH/DfblKGATFgpif+LLRf4="),
	    "check: http without port accepts the :80 signature");
	ok(!signature_check(TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2",
	    &form_a, "kvajT1Ptam85bY51eRf/AJRuM3w="),
	    "check: http is not given the https default port");
	ok(!signature_check(TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2",
	    &form_a, SIG_A), "check: the https signature fails on http");
	ok(!signature_check(TOKEN,
	    "https://mycompany.com:1234/myapp.php?foo=1&bar=2", &form_a,
	    "kvajT1Ptam85bY51eRf/AJRuM3w="),
	    "check: a URL with a port is not given a second, default one");
}

static void
test_vector_b(void)
{
	struct form f;

	parse(&f, "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&"
	    "Digits=1234");
	compute_is(BASE, &f, "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
	    "vector B (repeated Digits)");
	ok(signature_check(TOKEN, BASE, &f, "IK+Dwps556ElfBT0I3Rgjkr1wJU="),
	    "check: vector B");
	form_free(&f);

	parse(&f, "Digits=1234&SidAccount=AC123&Digits=1234&Sid=CA123&"
	    "Digits=5678");
	compute_is(BASE, &f, "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
	    "vector B in another wire order");
	form_free(&f);

	parse(&f, "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234");
	compute_is(BASE, &f, "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
	    "vector B without the duplicate value (dedup)");
	form_free(&f);

	parse(&f, "Sid=CA123&SidAccount=AC123&Digits=1234");
	ok(!signature_check(TOKEN, BASE, &f, "IK+Dwps556ElfBT0I3Rgjkr1wJU="),
	    "check: vector B with a value missing fails");
	form_free(&f);
}

static void
test_vector_c(void)
{
	compute_is(BASE "&bodySHA256=" HASH_C, NULL,
	    "a9nBmqA0ju/hNViExpshrM61xv4=", "vector C");
	compute_is("https://mycompany.com/myapp.php?bodySHA256=" HASH_C, NULL,
	    "y77kIzt2vzLz71DgmJGsen2scGs=", "vector C, only bodySHA256");
	compute_is("https://mycompany.com:443/myapp.php?foo=1&bar=2&bodySHA256="
	    HASH_E, NULL, "Ldidvp12m26NI7eqEvxnEpkd9Hc=",
	    "vector C, {} body, :443 form");
	compute_is(BASE "&bodySHA256=" HASH_E, NULL,
	    "rw/jVviOgicj2+kHZULvebnA4ag=", "vector C, {} body, port-less");

	ok(signature_check(TOKEN, BASE "&bodySHA256=" HASH_C, NULL,
	    "a9nBmqA0ju/hNViExpshrM61xv4="), "check: vector C");
	ok(signature_check(TOKEN,
	    "https://mycompany.com/myapp.php?bodySHA256=" HASH_C, NULL,
	    "y77kIzt2vzLz71DgmJGsen2scGs="), "check: vector C, short URL");
	ok(signature_check(TOKEN, BASE "&bodySHA256=" HASH_E, NULL,
	    "Ldidvp12m26NI7eqEvxnEpkd9Hc="),
	    "check: {} body, the :443 signature on the port-less URL");
	ok(signature_check(TOKEN, BASE "&bodySHA256=" HASH_E, NULL,
	    "rw/jVviOgicj2+kHZULvebnA4ag="), "check: {} body, port-less");
	ok(!signature_check(TOKEN, BASE "&bodySHA256=" HASH_C, &form_a,
	    "a9nBmqA0ju/hNViExpshrM61xv4="),
	    "check: vector C fails when parameters are added");

	ok(signature_body_sha256_ok(BASE "&bodySHA256=" HASH_C, BODY_C,
	    strlen(BODY_C)), "bodySHA256: vector C's body");
	ok(signature_body_sha256_ok(
	    "https://mycompany.com/myapp.php?bodySHA256=" HASH_C, BODY_C,
	    strlen(BODY_C)), "bodySHA256: as the only parameter");
	ok(signature_body_sha256_ok("https://h/p?bodySHA256=" HASH_C "&z=1",
	    BODY_C, strlen(BODY_C)), "bodySHA256: as the first parameter");
	ok(signature_body_sha256_ok("https://h/p?bodySHA256=" HASH_C "#frag",
	    BODY_C, strlen(BODY_C)), "bodySHA256: before a fragment");
	ok(signature_body_sha256_ok(BASE "&bodySHA256=" HASH_E, "{}", 2),
	    "bodySHA256: the {} body");
	ok(signature_body_sha256_ok("https://h/?bodySHA256="
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    NULL, 0), "bodySHA256: an empty body (NULL, 0)");
	ok(signature_body_sha256_ok("https://h/?bodySHA256="
	    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	    "\0", 1), "bodySHA256: a body of one NUL byte (len counts)");

	ok(!signature_body_sha256_ok(BASE "&bodySHA256=" HASH_C, "{}", 2),
	    "bodySHA256: another body fails");
	ok(!signature_body_sha256_ok(BASE "&bodySHA256=" HASH_C, BODY_C,
	    strlen(BODY_C) - 1), "bodySHA256: a body one byte short fails");
	ok(!signature_body_sha256_ok(BASE "&bodySHA256=" HASH_E, BODY_C,
	    strlen(BODY_C)), "bodySHA256: the {} hash on vector C's body fails");
	ok(!signature_body_sha256_ok(BASE, BODY_C, strlen(BODY_C)),
	    "bodySHA256: no parameter fails");
	ok(!signature_body_sha256_ok("https://mycompany.com/myapp.php", BODY_C,
	    strlen(BODY_C)), "bodySHA256: no query fails");
	ok(!signature_body_sha256_ok(BASE "&bodySHA256=", "", 0),
	    "bodySHA256: an empty value fails");
	ok(!signature_body_sha256_ok(BASE "&bodySHA256="
	    "0A1FF7634D9AB3B95DB5C9A2DFE9416E41502B283A80C7CF19632632F96E6620",
	    BODY_C, strlen(BODY_C)), "bodySHA256: upper-case hex fails");
	ok(!signature_body_sha256_ok(BASE "&bodySHA256=" HASH_C "0", BODY_C,
	    strlen(BODY_C)), "bodySHA256: 65 hex digits fail");
	ok(!signature_body_sha256_ok(BASE "&bodySHA256=" HASH_C "&bodySHA256="
	    HASH_E, "{}", 2), "bodySHA256: only the first parameter counts");
	ok(!signature_body_sha256_ok("https://h/p?xbodySHA256=" HASH_C, BODY_C,
	    strlen(BODY_C)), "bodySHA256: a longer name does not match");
	ok(!signature_body_sha256_ok("https://h/p?bodysha256=" HASH_C, BODY_C,
	    strlen(BODY_C)), "bodySHA256: the name is case-sensitive");
	ok(!signature_body_sha256_ok("https://h/p#bodySHA256=" HASH_C, BODY_C,
	    strlen(BODY_C)), "bodySHA256: a fragment is not the query");
	ok(!signature_body_sha256_ok("https://h/p?a=1#&bodySHA256=" HASH_C,
	    BODY_C, strlen(BODY_C)), "bodySHA256: nothing after a fragment");
	ok(!signature_body_sha256_ok("https://h/p?bodySHA256=" HASH_C, NULL, 5),
	    "bodySHA256: NULL body with a length fails");
}

static void
test_credentials_and_more(void)
{
	/* twilio-node spec/validation.spec.js and the other SDKs' suites. */
	compute_is("https://user:pass@mycompany.com/myapp.php?foo=1&bar=2",
	    &form_a, "CukzLTc1tT5dXEDIHm/tKBanW10=", "URL with credentials");
	compute_is("https://user:pass@mycompany.com:443/myapp.php?foo=1&bar=2",
	    &form_a, "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=",
	    "URL with credentials and :443");
	compute_is("https://user@mycompany.com/myapp.php?foo=1&bar=2", &form_a,
	    "2YRLlVAflCqxaNicjMpJcSTgzSs=", "URL with a user name only");
	ok(signature_check(TOKEN,
	    "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", &form_a,
	    "CukzLTc1tT5dXEDIHm/tKBanW10="), "check: URL with credentials");
	ok(signature_check(TOKEN,
	    "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", &form_a,
	    "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI="),
	    "check: URL with credentials, port added after the host");
	ok(signature_check(TOKEN,
	    "https://user@mycompany.com/myapp.php?foo=1&bar=2", &form_a,
	    "2YRLlVAflCqxaNicjMpJcSTgzSs="), "check: URL with a user name");
	ok(!signature_check(TOKEN,
	    "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", &form_a,
	    SIG_A), "check: credentials are part of the signed URL");

	/* twilio-node: "should validate urls with special characters". */
	compute_is(BASE "&Body=It's+amazing", &form_a,
	    "dsq4Ehbj6cs+KdTkpF5sSSplOWw=", "apostrophe in the query, unescaped");

	/* PROTOCOLS.md §3: the Media Streams upgrade, no parameters. */
	compute_is("wss://example.com/media-stream", NULL,
	    "XFfwGS2Ev7f9qAP9MmRoMS7C724=", "WebSocket vector");
	{
		struct form empty = { NULL, 0, NULL };

		compute_is("wss://example.com/media-stream", &empty,
		    "XFfwGS2Ev7f9qAP9MmRoMS7C724=",
		    "WebSocket vector with an empty form");
	}
	ok(signature_check(TOKEN, "wss://example.com/media-stream", NULL,
	    "XFfwGS2Ev7f9qAP9MmRoMS7C724="), "check: WebSocket vector");
	ok(signature_check(TOKEN, "wss://example.com:443/media-stream", NULL,
	    "XFfwGS2Ev7f9qAP9MmRoMS7C724="),
	    "check: WebSocket vector with :443 in the request URL");
	ok(signature_check(TOKEN, "wss://example.com:8443/media-stream", NULL,
	    "XFfwGS2Ev7f9qAP9MmRoMS7C724="),
	    "check: WebSocket vector with :8443 stripped");
	ok(!signature_check(TOKEN, "https://example.com/media-stream", NULL,
	    "XFfwGS2Ev7f9qAP9MmRoMS7C724="),
	    "check: the WebSocket signature does not hold for https://");
}

static void
test_sorting(void)
{
	struct form	 f;
	char		 out[SIGNATURE_B64_LEN + 1];
	const char	*want = "https://h/pB2_4a3b1z6\xc3\xa9" "5";

	/* Byte order: 'B' < '_' < 'a' < 'b' < 'z' < 0xc3. */
	parse(&f, "b=1&B=2&a=3&_=4&%C3%A9=5&z=6");
	ok(signature_compute(TOKEN, "https://h/p", &f, out), "sorting: compute");
	is_str(out, reference(TOKEN, want, strlen(want)),
	    "names sorted by bytes (unsigned), not by locale or case");
	form_free(&f);

	parse(&f, "CallSid=1&Caller=2");
	want = "https://h/pCallSid1Caller2";
	ok(signature_compute(TOKEN, "https://h/p", &f, out), "sorting: compute");
	is_str(out, reference(TOKEN, want, strlen(want)),
	    "CallSid sorts before Caller (S < e)");
	form_free(&f);

	parse(&f, "a=&b&c=x+y");
	want = "https://h/pab" "cx y";
	ok(signature_compute(TOKEN, "https://h/p", &f, out), "empty values");
	is_str(out, reference(TOKEN, want, strlen(want)),
	    "empty values contribute only the name; values are decoded");
	form_free(&f);
}

static void
test_refusals(void)
{
	struct form	 f;
	char		 out[SIGNATURE_B64_LEN + 1], empty_sig[SIGNATURE_B64_LEN + 1];
	char		*url, *body;
	size_t		 n;

	ok(!signature_check("54321", BASE, &form_a, SIG_A), "wrong token");
	ok(!signature_check("123456", BASE, &form_a, SIG_A),
	    "token with an extra character");
	ok(!signature_check("", BASE, &form_a, SIG_A), "empty token");
	ok(!signature_check(NULL, BASE, &form_a, SIG_A), "NULL token");
	ok(signature_compute("", BASE, &form_a, empty_sig),
	    "a signature made with an empty key");
	ok(!signature_check("", BASE, &form_a, empty_sig),
	    "is still refused: an empty token never validates");

	ok(!signature_check(TOKEN, BASE, &form_a, NULL), "NULL header");
	ok(!signature_check(TOKEN, BASE, &form_a, ""), "empty header");
	ok(!signature_check(TOKEN, BASE, &form_a, "RSOYDt4T1cUTdK1PDd93/VVr8B8"),
	    "header one character short");
	ok(!signature_check(TOKEN, BASE, &form_a, SIG_A "="),
	    "header one character long");
	ok(!signature_check(TOKEN, BASE, &form_a, SIG_A "\n"),
	    "header with a trailing newline");
	ok(!signature_check(TOKEN, BASE, &form_a, " " SIG_A),
	    "header with a leading space");
	ok(!signature_check(TOKEN, BASE, &form_a, "WRONG_SIGNATURE"),
	    "WRONG_SIGNATURE (the SDK test)");
	ok(!signature_check(TOKEN, BASE, &form_a, "rsoydt4t1cutdk1pdd93/vvr8b8="),
	    "header in another case");
	ok(!signature_check(TOKEN, BASE, &form_a, "RSOYDt4T1cUTdK1PDd93/VVr8B9="),
	    "last significant character changed");
	ok(!signature_check(TOKEN, BASE, &form_a, "SSOYDt4T1cUTdK1PDd93/VVr8B8="),
	    "first character changed");

	parse(&f, "To=%2B18005551212&Digits=1235&CallSid=CA1234567890ABCDE&"
	    "From=%2B14158675309&Caller=%2B14158675309");
	ok(!signature_check(TOKEN, BASE, &f, SIG_A), "tampered Digits value");
	form_free(&f);
	parse(&f, "To=%2B18005551212&Digits=1234&CallSid=CA1234567890ABCDE&"
	    "From=%2B14158675309&Caller=14158675309");
	ok(!signature_check(TOKEN, BASE, &f, SIG_A),
	    "Caller without its + (%2B decoded matters)");
	form_free(&f);
	parse(&f, "To=%2B18005551212&Digits=1234&CallSid=CA1234567890ABCDE&"
	    "From=%2B14158675309&Caller=%2B14158675309&Extra=1");
	ok(!signature_check(TOKEN, BASE, &f, SIG_A), "an added parameter");
	form_free(&f);
	parse(&f, "To=%2B18005551212&Digits=1234&CallSid=CA1234567890ABCDE&"
	    "From=%2B14158675309");
	ok(!signature_check(TOKEN, BASE, &f, SIG_A), "a removed parameter");
	form_free(&f);
	parse(&f, "To=%2B18005551212&digits=1234&CallSid=CA1234567890ABCDE&"
	    "From=%2B14158675309&Caller=%2B14158675309");
	ok(!signature_check(TOKEN, BASE, &f, SIG_A), "a renamed parameter");
	form_free(&f);
	ok(!signature_check(TOKEN, BASE, NULL, SIG_A), "no parameters at all");
	ok(!signature_check(TOKEN, "https://mycompany.com/myapp.php?foo=1&bar=3",
	    &form_a, SIG_A), "tampered query");
	ok(!signature_check(TOKEN, "https://mycompany.com/myapp.php?bar=2&foo=1",
	    &form_a, SIG_A), "query reordered");
	ok(!signature_check(TOKEN, "https://evil.com/myapp.php?foo=1&bar=2",
	    &form_a, SIG_A), "another host");
	ok(!signature_check(TOKEN, "https://mycompany.com/myapp.php", &form_a,
	    SIG_A), "query dropped");

	/* URL length: exactly SIGNATURE_URL_MAX is signed, one more is not. */
	n = SIGNATURE_URL_MAX;
	url = malloc(n + 2);
	memcpy(url, "https://h/", 10);
	memset(url + 10, 'a', n - 10);
	url[n] = '\0';
	ok(signature_compute(TOKEN, url, NULL, out),
	    "a URL of SIGNATURE_URL_MAX bytes is signed");
	is_str(out, reference(TOKEN, url, n), "and its signature is right");
	ok(signature_check(TOKEN, url, NULL, reference(TOKEN, url, n)),
	    "check: a URL of SIGNATURE_URL_MAX bytes");
	url[n] = 'a';
	url[n + 1] = '\0';
	memset(out, 'X', sizeof(out));
	ok(!signature_compute(TOKEN, url, NULL, out),
	    "a URL one byte past SIGNATURE_URL_MAX is refused");
	is_str(out, "", "and out is \"\"");
	ok(!signature_check(TOKEN, url, NULL, reference(TOKEN, url, n + 1)),
	    "check refuses it even with the right signature");
	free(url);

	/* The whole signed string is bounded too. */
	n = SIGNATURE_DATA_MAX;
	body = malloc(n + 16);
	memcpy(body, "v=", 2);
	memset(body + 2, 'x', n);
	body[n + 2] = '\0';
	parse(&f, body);
	ok(!signature_compute(TOKEN, "https://h/", &f, out),
	    "URL + parameters past SIGNATURE_DATA_MAX is refused");
	form_free(&f);
	/* "https://h/" (10) + "v" (1) + value = SIGNATURE_DATA_MAX exactly. */
	body[n + 2 - 11] = '\0';
	parse(&f, body);
	ok(signature_compute(TOKEN, "https://h/", &f, out),
	    "URL + parameters of exactly SIGNATURE_DATA_MAX is signed");
	form_free(&f);
	free(body);
}

static void
variants_are(const char *url, const char *nop, const char *wp)
{
	char	 a[SIGNATURE_URL_MAX + 8], b[SIGNATURE_URL_MAX + 8];
	char	 d[300];

	memset(a, 'X', sizeof(a));
	memset(b, 'X', sizeof(b));
	signature_url_variants(url, a, b);
	snprintf(d, sizeof(d), "variants of %s: without port", url);
	is_str(a, nop, d);
	snprintf(d, sizeof(d), "variants of %s: with port", url);
	is_str(b, wp, d);
}

static void
test_variants(void)
{
	variants_are("https://h/p?x=1", "https://h/p?x=1", "https://h:443/p?x=1");
	variants_are("http://h/p", "http://h/p", "http://h:80/p");
	variants_are("wss://h/ws", "wss://h/ws", "wss://h:443/ws");
	variants_are("ws://h/ws", "ws://h/ws", "ws://h:80/ws");
	variants_are("HTTPS://H/p", "HTTPS://H/p", "HTTPS://H:443/p");
	variants_are("https://h", "https://h", "https://h:443");
	variants_are("https://h?x=1", "https://h?x=1", "https://h:443?x=1");
	variants_are("https://h:1234/p?x=1", "https://h/p?x=1", "");
	variants_are("https://h:443/p", "https://h/p", "");
	variants_are("http://h:80", "http://h", "");
	variants_are("https://[::1]/p", "https://[::1]/p", "https://[::1]:443/p");
	variants_are("https://[::1]:8443/p", "https://[::1]/p", "");
	variants_are("https://u:p@h/x", "https://u:p@h/x", "https://u:p@h:443/x");
	variants_are("https://u:p@h:99/x", "https://u:p@h/x", "");
	variants_are("https://h/p?u=a@b:1", "https://h/p?u=a@b:1",
	    "https://h:443/p?u=a@b:1");
	variants_are("https://h/p#a:1", "https://h/p#a:1", "https://h:443/p#a:1");
	variants_are("no scheme", "", "");
	variants_are("https://[::1/p", "", "");
}

int
main(void)
{
	test_vector_a();
	test_vector_b();
	test_vector_c();
	test_credentials_and_more();
	test_sorting();
	test_refusals();
	test_variants();
	form_free(&form_a);
	return done_testing();
}
