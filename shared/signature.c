/*
 * signature: compute and check X-Twilio-Signature (see signature.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "signature.h"

static int
pair_cmp(const void *a, const void *b)
{
	const struct form_pair *pa = *(const struct form_pair *const *)a;
	const struct form_pair *pb = *(const struct form_pair *const *)b;
	int c = strcmp(pa->name, pb->name);

	return c != 0 ? c : strcmp(pa->value, pb->value);
}

bool
signature_compute(const char *token, const char *url,
    const struct form *params, char out[SIGNATURE_B64_LEN + 1])
{
	const struct form_pair	**sorted = NULL;
	struct buf		  data;
	unsigned char		  md[EVP_MAX_MD_SIZE];
	unsigned int		  mdlen = 0;
	size_t			  i, n = params != NULL ? params->n : 0;
	bool			  ok = false;

	out[0] = '\0';
	if (strlen(url) > SIGNATURE_URL_MAX)
		return false;
	buf_init(&data, SIGNATURE_DATA_MAX);
	if (buf_puts(&data, url) == -1)
		goto done;
	if (n > 0) {
		if ((sorted = calloc(n, sizeof(*sorted))) == NULL)
			goto done;
		for (i = 0; i < n; i++)
			sorted[i] = &params->pairs[i];
		qsort(sorted, n, sizeof(*sorted), pair_cmp);
		for (i = 0; i < n; i++) {
			/* A repeated name+value pair counts once. */
			if (i > 0 && pair_cmp(&sorted[i - 1], &sorted[i]) == 0)
				continue;
			if (buf_puts(&data, sorted[i]->name) == -1 ||
			    buf_puts(&data, sorted[i]->value) == -1)
				goto done;
		}
	}
	if (HMAC(EVP_sha1(), token, (int)strlen(token),
	    (const unsigned char *)buf_str(&data), data.len, md, &mdlen) == NULL ||
	    mdlen != 20)
		goto done;
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
	ok = true;
done:
	free(sorted);
	buf_free(&data);
	return ok;
}

void
signature_url_variants(const char *url, char *without_port, char *with_port)
{
	const char	*hs, *he, *p, *rest;
	size_t		 n = strlen(url);
	bool		 https;

	without_port[0] = with_port[0] = '\0';
	if (n > SIGNATURE_URL_MAX || (hs = strstr(url, "://")) == NULL)
		return;
	https = (size_t)(hs - url) == 5 && strncasecmp(url, "https", 5) == 0;
	if (!https && (size_t)(hs - url) == 3 && strncasecmp(url, "wss", 3) == 0)
		https = true;
	hs += 3;
	/* Skip user information; the SDKs keep it in every variant. */
	rest = hs + strcspn(hs, "/?#");
	if ((p = memchr(hs, '@', (size_t)(rest - hs))) != NULL)
		hs = p + 1;
	if (*hs == '[') {
		he = memchr(hs, ']', (size_t)(rest - hs));
		if (he == NULL)
			return;
		he++;
	} else
		he = hs + strcspn(hs, ":/?#");
	if (*he == ':') {
		/* A port: the variant without it; no default-port variant. */
		memcpy(without_port, url, (size_t)(he - url));
		strcpy(without_port + (he - url), rest);
		return;
	}
	memcpy(with_port, url, (size_t)(he - url));
	strcpy(with_port + (he - url), https ? ":443" : ":80");
	strcat(with_port, he);
	strcpy(without_port, url);
}

bool
signature_check(const char *token, const char *url,
    const struct form *params, const char *header)
{
	char	 expect[SIGNATURE_B64_LEN + 1];
	char	 nop[SIGNATURE_URL_MAX + 8], wp[SIGNATURE_URL_MAX + 8];
	const char *candidates[3];
	size_t	 i, hlen;
	bool	 match = false;

	if (header == NULL || token == NULL || token[0] == '\0')
		return false;
	hlen = strlen(header);
	if (hlen != SIGNATURE_B64_LEN)
		return false;
	signature_url_variants(url, nop, wp);
	candidates[0] = url;
	candidates[1] = nop;
	candidates[2] = wp;
	for (i = 0; i < 3; i++) {
		if (candidates[i][0] == '\0' ||
		    (i > 0 && strcmp(candidates[i], url) == 0))
			continue;
		if (!signature_compute(token, candidates[i], params, expect))
			continue;
		/* Every candidate is compared, so timing tells nothing either. */
		if (CRYPTO_memcmp(expect, header, SIGNATURE_B64_LEN) == 0)
			match = true;
	}
	return match;
}

bool
signature_body_sha256_ok(const char *url, const char *body, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	static const char	 name[] = "bodySHA256=";
	const size_t		 nlen = sizeof(name) - 1;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0, i;
	char			 want[2 * 32];
	const char		*p, *end;

	if (url == NULL || strlen(url) > SIGNATURE_URL_MAX ||
	    (body == NULL && len > 0) || (p = strchr(url, '?')) == NULL)
		return false;
	/* The query runs from '?' to the end or to a fragment. */
	for (p++; ; p = end + 1) {
		end = p + strcspn(p, "&#");
		if ((size_t)(end - p) >= nlen && memcmp(p, name, nlen) == 0)
			break;
		if (*end != '&')
			return false;
	}
	p += nlen;
	if ((size_t)(end - p) != sizeof(want))
		return false;
	if (EVP_Digest(body != NULL ? body : "", len, md, &mdlen, EVP_sha256(),
	    NULL) != 1 || mdlen != 32)
		return false;
	for (i = 0; i < mdlen; i++) {
		want[2 * i] = hex[md[i] >> 4];
		want[2 * i + 1] = hex[md[i] & 0xf];
	}
	return CRYPTO_memcmp(want, p, sizeof(want)) == 0;
}
