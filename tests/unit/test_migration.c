/*
 * test_migration: callbridge-dbsetup's reading of the schema directory
 * (names, order, gaps, duplicates, files it ignores) and its checks of
 * the names it quotes into SQL.  The database side is tested by
 * tests/integration/dbsetup.sh.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbsetup.h"
#include "log.h"
#include "tap.h"

static char dir[64];

/* main.c's, which this test does not link. */
void
cause_set(char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		abort();
	va_end(ap);
}

/* A fresh directory holding the files named (NULL-terminated). */
static void
make_dir(const char *first, ...)
{
	const char	*name;
	char		 path[256];
	va_list		 ap;
	FILE		*fp;

	if (dir[0] != '\0') {
		snprintf(path, sizeof(path), "rm -rf %s", dir);
		if (system(path) != 0)
			abort();
	}
	strcpy(dir, "/tmp/test_migration.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	va_start(ap, first);
	for (name = first; name != NULL; name = va_arg(ap, const char *)) {
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (name[strlen(name) - 1] == '/') {
			if (mkdir(path, 0700) == -1)
				abort();
			continue;
		}
		if ((fp = fopen(path, "w")) == NULL)
			abort();
		fputs("SELECT 1;\n", fp);
		fclose(fp);
	}
	va_end(ap);
}

/* Scan dir; returns the error message ("" when it succeeded). */
static const char *
scan(struct migration_set *set)
{
	static char	 msg[1024];
	char		*cause = NULL;

	if (migration_scan(set, dir, &cause) == 0)
		return "";
	snprintf(msg, sizeof(msg), "%s", cause);
	free(cause);
	return msg;
}

static void
test_scan(void)
{
	struct migration_set	 set;
	char			 path[256];

	make_dir("002_add-things.sql", "001_initial.sql", "README",
	    ".#003_x.sql", "003_x.sql~", "001_initial.sql.dpkg-old", NULL);
	is_str(scan(&set), "", "a directory of two migrations and other files");
	is_int(set.n, 2, "  ... two migrations");
	is_str(set.list[0].name, "001_initial", "  ... 001 first, without .sql");
	is_int(set.list[0].number, 1, "  ... numbered 1");
	is_str(set.list[1].name, "002_add-things", "  ... then 002");
	snprintf(path, sizeof(path), "%s/002_add-things.sql", dir);
	is_str(set.list[1].path, path, "  ... with its path");
	migration_free(&set);

	make_dir("1_a.sql", "2_b.sql", "10_c.sql", "3_d.sql", "4_e.sql",
	    "5_f.sql", "6_g.sql", "7_h.sql", "8_i.sql", "9_j.sql", NULL);
	is_str(scan(&set), "", "numbers without leading zeros");
	is_str(set.list[9].name, "10_c", "  ... in numeric order (10 last)");
	migration_free(&set);

	make_dir("001_initial.sql", "003_x.sql", NULL);
	like(scan(&set), "migration 2 is missing (between 001_initial.sql and "
	    "003_x.sql)", "a gap is refused, naming the missing number");
	is_int(set.n, 0, "  ... and nothing is kept");
	make_dir("002_x.sql", NULL);
	like(scan(&set), "migration 1 is missing (the first file is 002_x.sql)",
	    "a directory that does not start at 1 is refused");
	make_dir("001_initial.sql", "002_a.sql", "002_b.sql", NULL);
	like(scan(&set), "002_a.sql and 002_b.sql have the same number",
	    "two files with one number are refused");
	make_dir("001_initial.sql", "1_again.sql", NULL);
	like(scan(&set), "have the same number",
	    "  ... also when written differently (001, 1)");
	make_dir("000_zero.sql", "001_initial.sql", NULL);
	like(scan(&set), "000_zero.sql: migrations are numbered from 1",
	    "migration 0 is refused");
	make_dir(NULL);
	like(scan(&set), "has no migrations", "an empty directory is refused");
	make_dir("README", NULL);
	like(scan(&set), "has no migrations", "  ... and one without .sql files");
	make_dir("001_initial.sql", "002_dir.sql/", NULL);
	like(scan(&set), "002_dir.sql: not a regular file",
	    "a directory named like a migration is refused");

	static const char *bad[] = {
		"initial.sql", "001.sql", "001_.sql", "001-x.sql",
		"001_a b.sql", "001_a.b.sql", "1000_big.sql", "_001_x.sql",
		"x001_a.sql", "001_\xc3\xa9t\xc3\xa9.sql",
	};
	size_t i;
	char desc[128];

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		make_dir("001_initial.sql", bad[i], NULL);
		snprintf(desc, sizeof(desc), "\"%s\" is not a migration name",
		    bad[i]);
		like(scan(&set), "not a migration name", desc);
	}
	{
		char long_name[MIGRATION_NAME_MAX + 8];

		memset(long_name, 'a', sizeof(long_name));
		memcpy(long_name, "001_", 4);
		strcpy(long_name + MIGRATION_NAME_MAX, ".sql");
		make_dir(long_name, NULL);
		is_str(scan(&set), "", "a name of MIGRATION_NAME_MAX bytes");
		migration_free(&set);
		strcpy(long_name + MIGRATION_NAME_MAX, "a.sql");
		make_dir(long_name, NULL);
		like(scan(&set), "not a migration name", "  ... one more is "
		    "refused (schema_version.name is VARCHAR(128))");
	}

	snprintf(path, sizeof(path), "%s/nonexistent", dir);
	{
		char *cause = NULL;

		is_int(migration_scan(&set, path, &cause), -1,
		    "a missing directory is an error");
		like(cause, "No such file or directory", "  ... with the reason");
		free(cause);
	}
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		abort();
}

static void
test_names(void)
{
	char out[2 * DBSETUP_NAME_MAX + 3];
	char n64[DBSETUP_NAME_MAX + 2];

	ok(provision_valid_name("callbridge"), "\"callbridge\" is a name");
	ok(provision_valid_name("Call_Bridge_2"), "letters, digits and _");
	ok(!provision_valid_name(""), "an empty name is refused");
	ok(!provision_valid_name("call-bridge"), "'-' is refused");
	ok(!provision_valid_name("x`; DROP DATABASE mysql; --"),
	    "a backquote and SQL are refused");
	ok(!provision_valid_name("a'b"), "a quote is refused");
	ok(!provision_valid_name("a b"), "a space is refused");
	ok(!provision_valid_name("caf\xc3\xa9"), "non-ASCII letters are refused");
	memset(n64, 'a', sizeof(n64));
	n64[DBSETUP_NAME_MAX] = '\0';
	ok(provision_valid_name(n64), "64 characters are fine");
	n64[DBSETUP_NAME_MAX] = 'a';
	n64[DBSETUP_NAME_MAX + 1] = '\0';
	ok(!provision_valid_name(n64), "65 are refused");

	provision_grant_db(out, sizeof(out), "callbridge");
	is_str(out, "`callbridge`", "GRANT: a name is backquoted");
	provision_grant_db(out, sizeof(out), "cb_test_1");
	is_str(out, "`cb\\_test\\_1`", "GRANT: '_' is escaped (a wildcard there)");
	memset(n64, '_', sizeof(n64));
	n64[DBSETUP_NAME_MAX] = '\0';
	provision_grant_db(out, sizeof(out), n64);
	is_int(strlen(out), 2 * DBSETUP_NAME_MAX + 2,
	    "GRANT: 64 underscores fit the buffer");
}

int
main(void)
{
	log_init("test_migration", LOG_ERR);
	test_scan();
	test_names();
	return done_testing();
}
