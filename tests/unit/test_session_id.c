/*
 * test_session_id: 1000 new ids all have the UUID v4 shape (lower-case
 * hex, dashes at 8/13/18/23, version nibble 4, variant 8-b), are accepted
 * by session_id_valid() and are all distinct; session_id_valid() refuses
 * upper case, wrong lengths, misplaced dashes, other versions and
 * variants and non-hex characters.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "session_id.h"
#include "tap.h"

#define N	1000

static int
cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static bool
shape_ok(const char *s)
{
	size_t i;

	if (strlen(s) != SESSION_ID_LEN)
		return false;
	for (i = 0; i < SESSION_ID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (strchr("0123456789abcdef", s[i]) == NULL)
			return false;
	}
	return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static void
test_new(void)
{
	static char	 ids[N][SESSION_ID_LEN + 1];
	int		 i, fails = 0, shape = 0, valid = 0, dups = 0;
	int		 variants[4] = { 0, 0, 0, 0 };
	char		 canary[SESSION_ID_LEN + 2];

	for (i = 0; i < N; i++) {
		if (session_id_new(ids[i]) != 0)
			fails++;
		if (shape_ok(ids[i]))
			shape++;
		if (session_id_valid(ids[i]))
			valid++;
		if (ids[i][19] >= '8' && ids[i][19] <= 'b')
			variants[strchr("89ab", ids[i][19]) - "89ab"]++;
	}
	is_int(fails, 0, "1000 session_id_new calls succeed");
	is_int(shape, N, "every id has the v4 shape");
	is_int(valid, N, "every id passes session_id_valid");
	qsort(ids, N, sizeof(ids[0]), cmp);
	for (i = 1; i < N; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			dups++;
	is_int(dups, 0, "1000 ids are all distinct");
	/* 1000 draws over 4 variants: each shows up unless getrandom is broken. */
	ok(variants[0] > 0 && variants[1] > 0 && variants[2] > 0 &&
	    variants[3] > 0, "all four variant digits 8, 9, a, b occur");

	memset(canary, '#', sizeof(canary));
	session_id_new(canary);
	is_int(strlen(canary), SESSION_ID_LEN, "the id is NUL-terminated at 36");
	ok(canary[SESSION_ID_LEN + 1] == '#', "nothing written past 37 bytes");
}

static void
test_valid(void)
{
	static const char *good[] = {
		"00000000-0000-4000-8000-000000000000",
		"ffffffff-ffff-4fff-bfff-ffffffffffff",
		"3f2504e0-4f89-41d3-9a0c-0305e82c3301",
		"3f2504e0-4f89-41d3-ba0c-0305e82c3301",
	};
	static const struct { const char *s, *why; } bad[] = {
		{ "", "empty" },
		{ "3F2504E0-4F89-41D3-9A0C-0305E82C3301", "upper case" },
		{ "3f2504e0-4f89-41d3-9A0c-0305e82c3301", "one upper-case digit" },
		{ "3f2504e0-4f89-41d3-9a0c-0305e82c330", "35 characters" },
		{ "3f2504e0-4f89-41d3-9a0c-0305e82c33011", "37 characters" },
		{ "3f2504e04f8941d39a0c0305e82c3301", "no dashes" },
		{ "3f2504e0-4f8941d3-9a0c-0305e82c3301-", "dash moved to the end" },
		{ "3f2504e04-f89-41d3-9a0c-0305e82c3301", "dash one place right" },
		{ "3f2504e0_4f89-41d3-9a0c-0305e82c3301", "underscore for dash" },
		{ "3f2504e0-4f89-41d3-9a0c-0305e82c330-", "dash as last digit" },
		{ "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "version 1" },
		{ "3f2504e0-4f89-51d3-9a0c-0305e82c3301", "version 5" },
		{ "3f2504e0-4f89-01d3-9a0c-0305e82c3301", "version 0" },
		{ "3f2504e0-4f89-41d3-7a0c-0305e82c3301", "variant 7 (NCS)" },
		{ "3f2504e0-4f89-41d3-ca0c-0305e82c3301", "variant c (Microsoft)" },
		{ "3f2504e0-4f89-41d3-0a0c-0305e82c3301", "variant 0" },
		{ "3f2504e0-4f89-41d3-9a0c-0305e82c330g", "non-hex g" },
		{ "3f2504e0-4f89-41d3-9a0c-0305e82c330 ", "trailing space" },
		{ " 3f2504e0-4f89-41d3-9a0c-0305e82c330", "leading space" },
		{ "3f2504e0-4f89-41d3-9a0c-0305e82c33\xc3\xa9", "UTF-8 byte" },
		{ "../../../../../../../../etc/passwd", "a path" },
		{ "3f2504e0-4f89-41d3-9a0c-0305e82c33/1", "slash" },
		{ "{3f2504e0-4f89-41d3-9a0c-0305e82c33}", "braces" },
	};
	char	 d[128];
	size_t	 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(d, sizeof(d), "valid: %s", good[i]);
		ok(session_id_valid(good[i]), d);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(d, sizeof(d), "refused: %s", bad[i].why);
		ok(!session_id_valid(bad[i].s), d);
	}
}

int
main(void)
{
	test_new();
	test_valid();
	return done_testing();
}
