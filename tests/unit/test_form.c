/*
 * test_form: x-www-form-urlencoded parsing.  Decoding of '+', %2B, %20
 * and mixed-case hex; pairs kept in wire order with repeated names;
 * empty segments skipped; empty values and names without '='; errors
 * (and an empty form) for malformed escapes, %00, a raw NUL, an empty
 * name and more pairs than the limit; form_get; a large body.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "tap.h"

static bool
parse(struct form *f, const char *s, size_t max, const char **why)
{
	*why = NULL;
	return form_parse(f, s, strlen(s), max, why);
}

/* "n1=v1|n2=v2|..." as decoded, for compact comparisons. */
static const char *
dump(const struct form *f)
{
	static char	 out[4096];
	size_t		 i, o = 0;

	out[0] = '\0';
	for (i = 0; i < f->n && o < sizeof(out); i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s=%s",
		    i > 0 ? "|" : "", f->pairs[i].name, f->pairs[i].value);
	return out;
}

static void
good(const char *body, size_t max, const char *want, const char *desc)
{
	struct form	 f;
	const char	*why;
	char		 d[256];

	snprintf(d, sizeof(d), "%s: parses", desc);
	if (!ok(parse(&f, body, max, &why), d)) {
		diag("reason: %s", why != NULL ? why : "(none)");
		return;
	}
	snprintf(d, sizeof(d), "%s: pairs", desc);
	is_str(dump(&f), want, d);
	form_free(&f);
}

static void
bad(const char *body, size_t len, size_t max, const char *why_part,
    const char *desc)
{
	struct form	 f;
	const char	*why = NULL;
	char		 d[256];

	memset(&f, 0x5a, sizeof(f));
	snprintf(d, sizeof(d), "%s: refused", desc);
	ok(!form_parse(&f, body, len, max, &why), d);
	snprintf(d, sizeof(d), "%s: reason", desc);
	like(why, why_part, d);
	snprintf(d, sizeof(d), "%s: the form is left empty", desc);
	ok(f.n == 0 && f.pairs == NULL && f.storage == NULL, d);
	form_free(&f);
}

#define BAD(s, max, why, desc)	bad((s), strlen(s), (max), (why), (desc))

static void
test_decoding(void)
{
	good("a=1", 10, "a=1", "one pair");
	good("From=%2B14155550100", 10, "From=+14155550100", "%2B is a plus");
	good("Body=x+y", 10, "Body=x y", "+ is a space");
	good("Body=x%20y", 10, "Body=x y", "%20 is a space");
	good("k=%2b%2B%aA%Aa%ff", 10, "k=++\xaa\xaa\xff", "mixed-case hex");
	good("k=%e2%82%ac", 10, "k=\xe2\x82\xac", "UTF-8 euro sign");
	good("na%6De=v", 10, "name=v", "escapes in names");
	good("a+b=c+d", 10, "a b=c d", "+ in a name");
	good("k=a%3Db%26c", 10, "k=a=b&c", "escaped = and &");
	good("k=a=b", 10, "k=a=b", "a second '=' belongs to the value");
	good("k=%25", 10, "k=%", "%25 is a percent sign");
	good("k=%2525", 10, "k=%25", "decoded once, not twice");
	good("k=++", 10, "k=  ", "two spaces");
}

static void
test_structure(void)
{
	struct form	 f;
	const char	*why;

	good("", 10, "", "empty body");
	good("&&&", 10, "", "only separators");
	good("a=1&&b=2", 10, "a=1|b=2", "empty segment skipped");
	good("&a=1&", 10, "a=1", "leading and trailing '&'");
	good("a=", 10, "a=", "empty value");
	good("a", 10, "a=", "name without '='");
	good("a&b=2&c", 10, "a=|b=2|c=", "names without '=' between pairs");
	good("Digits=5678&Digits=1234&Digits=1234", 10,
	    "Digits=5678|Digits=1234|Digits=1234",
	    "repeated names kept in order");
	good("b=2&a=1&b=3", 10, "b=2|a=1|b=3", "wire order, not sorted");

	ok(parse(&f, "x=1&Digits=5678&y=&Digits=1234", 10, &why), "form_get: parse");
	is_int(f.n, 4, "form_get: 4 pairs");
	is_str(form_get(&f, "Digits"), "5678", "form_get returns the first value");
	is_str(form_get(&f, "y"), "", "form_get of an empty value");
	ok(form_get(&f, "z") == NULL, "form_get of a missing name is NULL");
	ok(form_get(&f, "digits") == NULL, "form_get is case-sensitive");
	ok(form_get(&f, "Digit") == NULL, "form_get does not match a prefix");
	ok(form_get(&f, "") == NULL, "form_get of \"\" is NULL");
	form_free(&f);
	form_free(&f);
	is_int(f.n, 0, "form_free twice is harmless");

	/* Only len bytes are read: the rest of the string is not part of it. */
	ok(form_parse(&f, "a=1&b=2", 3, 10, &why), "parse a prefix (len 3)");
	is_str(dump(&f), "a=1", "only len bytes are used");
	form_free(&f);
	ok(form_parse(&f, "a=1%41", 4, 10, &why) == false,
	    "an escape cut by len is malformed");
}

static void
test_errors(void)
{
	BAD("a=%", 10, "percent", "'%' at the end");
	BAD("a=%4", 10, "percent", "'%4' at the end");
	BAD("a=%zz", 10, "percent", "'%zz' at the end");
	BAD("a=%zz&b=1", 10, "percent", "'%zz' in the middle");
	BAD("a=%4&b=1", 10, "percent", "'%4&' in the middle");
	BAD("a=%&b=1", 10, "percent", "'%&' in the middle");
	BAD("a=%g0", 10, "percent", "'%g0'");
	BAD("a=%0g", 10, "percent", "'%0g'");
	BAD("a=% 1", 10, "percent", "'% 1'");
	BAD("a=%-1", 10, "percent", "'%-1' (sign)");
	BAD("%=1", 10, "percent", "'%' in a name");
	BAD("a%4=1", 10, "percent", "'%4' in a name");
	BAD("a=1&b=2&c=%", 10, "percent", "error in the last pair");
	BAD("a=%00", 10, "NUL", "%00");
	BAD("a=x%00y", 10, "NUL", "%00 in the middle");
	BAD("%00=1", 10, "NUL", "%00 in a name");
	bad("a=x\0y", 5, 10, "NUL", "a raw NUL byte");
	BAD("=x", 10, "empty name", "\"=x\"");
	BAD("=", 10, "empty name", "\"=\"");
	BAD("a=1&=2", 10, "empty name", "empty name after a good pair");
}

static void
test_limits(void)
{
	struct form	 f;
	const char	*why;
	char		*body, *p;
	size_t		 i, n;

	good("a=1&b=2&c=3", 3, "a=1|b=2|c=3", "max_pairs reached exactly");
	BAD("a=1&b=2&c=3&d=4", 3, "too many", "max_pairs exceeded by one");
	good("a=1&&b=2&&&c=3&&", 3, "a=1|b=2|c=3",
	    "empty segments do not count toward max_pairs");
	good("a=1", 1, "a=1", "max_pairs 1");
	BAD("a=1&b", 1, "too many", "max_pairs 1 exceeded by a bare name");
	BAD("a=1", 0, "too many", "max_pairs 0 with one pair");
	good("", 0, "", "max_pairs 0 with an empty body");

	/* 4000 pairs of a 10-byte name and a 100-byte escaped value. */
	n = 4000;
	body = malloc(n * 320);
	p = body;
	for (i = 0; i < n; i++) {
		size_t j;

		p += sprintf(p, "%sParam%05zu=", i > 0 ? "&" : "", i);
		for (j = 0; j < 100; j++)
			p += sprintf(p, "%s", j % 3 == 0 ? "%2B" :
			    (j % 3 == 1 ? "+" : "x"));
	}
	diag("large body: %zu bytes", (size_t)(p - body));
	ok(form_parse(&f, body, (size_t)(p - body), n, &why),
	    "a large body (4000 pairs, 720 KB) parses");
	is_int(f.n, n, "all 4000 pairs kept");
	is_str(f.pairs[0].name, "Param00000", "first name");
	is_str(f.pairs[n - 1].name, "Param03999", "last name");
	is_int(strlen(f.pairs[1234].value), 100, "a decoded value has 100 bytes");
	ok(strncmp(f.pairs[1234].value, "+ x+ x", 6) == 0, "decoded value");
	is_str(form_get(&f, "Param02500"), f.pairs[2500].value,
	    "form_get finds a pair deep in the body");
	form_free(&f);
	ok(!form_parse(&f, body, (size_t)(p - body), n - 1, &why),
	    "the same body with max_pairs 3999 is refused");
	form_free(&f);

	/* One huge value. */
	memset(body, 'v', n * 320);
	memcpy(body, "big=", 4);
	ok(form_parse(&f, body, n * 320, 1, &why), "one 1.28 MB value parses");
	is_int(strlen(form_get(&f, "big")), n * 320 - 4, "its length");
	form_free(&f);
	free(body);
}

int
main(void)
{
	test_decoding();
	test_structure();
	test_errors();
	test_limits();
	return done_testing();
}
