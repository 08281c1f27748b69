/*
 * migration: the numbered files of the schema directory, and running one.
 *
 * A migration is an SQL script that records itself in schema_version.
 * Scanning is strict, because a file that looks like a migration but is
 * skipped, or two files with one number, would leave databases that claim
 * the same version with different schemas.  A file runs as one
 * multi-statement query, so it sees what "mariadb < file" would: the
 * server splits the statements (compound statements such as CREATE
 * TRIGGER need no DELIMITER) and stops at the first that fails.  Client
 * commands of the mariadb tool (DELIMITER, SOURCE) are not available.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dbsetup.h"
#include "log.h"

/*
 * Parse "NNN_name.sql" into *mg (path not set).  Returns false when the
 * name has another shape.
 */
static bool
migration_parse_name(const char *file, struct migration *mg)
{
	size_t	 len = strlen(file), base, i;
	long	 n = 0;

	if (len < 4 || strcmp(file + len - 4, ".sql") != 0)
		return false;
	base = len - 4;
	if (base > MIGRATION_NAME_MAX)
		return false;
	for (i = 0; i < base && isdigit((unsigned char)file[i]); i++) {
		n = n * 10 + (file[i] - '0');
		if (n > MIGRATIONS_MAX)
			return false;
	}
	if (i == 0 || i >= base - 1 || file[i] != '_')
		return false;
	for (i++; i < base; i++)
		if (!isalnum((unsigned char)file[i]) && file[i] != '_' &&
		    file[i] != '-')
			return false;
	mg->number = (int)n;
	memcpy(mg->name, file, base);
	mg->name[base] = '\0';
	return true;
}

static int
migration_cmp(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	if (x->number != y->number)
		return x->number < y->number ? -1 : 1;
	return strcmp(x->name, y->name);
}

void
migration_free(struct migration_set *set)
{
	int i;

	for (i = 0; i < set->n; i++)
		free(set->list[i].path);
	free(set->list);
	free(set->dir);
	set->list = NULL;
	set->dir = NULL;
	set->n = 0;
}

int
migration_scan(struct migration_set *set, const char *dir, char **cause)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	struct migration mg, *grown;
	int		 cap = 0, i;

	memset(set, 0, sizeof(*set));
	if ((set->dir = strdup(dir)) == NULL) {
		cause_set(cause, "out of memory");
		return -1;
	}
	if ((d = opendir(dir)) == NULL) {
		cause_set(cause, "schema directory %s: %s", dir, strerror(errno));
		goto fail;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		/* Editors' and dpkg's leftovers (.#x.sql, x.sql~, .dpkg-old). */
		if (de->d_name[0] == '.' || len < 4 ||
		    strcmp(de->d_name + len - 4, ".sql") != 0)
			continue;
		memset(&mg, 0, sizeof(mg));
		if (!migration_parse_name(de->d_name, &mg)) {
			cause_set(cause, "%s/%s: not a migration name "
			    "(NNN_name.sql: a number from 1 to %d, '_', then "
			    "letters, digits, '_' or '-'); move it out of the "
			    "schema directory", dir, de->d_name, MIGRATIONS_MAX);
			goto fail_dir;
		}
		if (mg.number == 0) {
			cause_set(cause, "%s/%s: migrations are numbered from 1",
			    dir, de->d_name);
			goto fail_dir;
		}
		if (asprintf(&mg.path, "%s/%s", dir, de->d_name) == -1) {
			cause_set(cause, "out of memory");
			goto fail_dir;
		}
		if (stat(mg.path, &st) == -1 || !S_ISREG(st.st_mode)) {
			cause_set(cause, "%s: not a regular file", mg.path);
			free(mg.path);
			goto fail_dir;
		}
		if (set->n == MIGRATIONS_MAX) {
			/* Numbers are at most MIGRATIONS_MAX: a duplicate. */
			cause_set(cause, "%s: more than %d migrations", dir,
			    MIGRATIONS_MAX);
			free(mg.path);
			goto fail_dir;
		}
		if (set->n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((grown = realloc(set->list,
			    (size_t)cap * sizeof(*grown))) == NULL) {
				cause_set(cause, "out of memory");
				free(mg.path);
				goto fail_dir;
			}
			set->list = grown;
		}
		set->list[set->n++] = mg;
	}
	if (errno != 0) {
		cause_set(cause, "schema directory %s: %s", dir, strerror(errno));
		goto fail_dir;
	}
	closedir(d);

	if (set->n == 0) {
		cause_set(cause, "schema directory %s has no migrations "
		    "(NNN_name.sql)", dir);
		goto fail;
	}
	qsort(set->list, (size_t)set->n, sizeof(*set->list), migration_cmp);
	for (i = 0; i < set->n; i++) {
		if (i > 0 && set->list[i].number == set->list[i - 1].number) {
			cause_set(cause, "%s: %s.sql and %s.sql have the same "
			    "number; each migration needs a number of its own",
			    dir, set->list[i - 1].name, set->list[i].name);
			goto fail;
		}
		if (set->list[i].number != i + 1) {
			if (i == 0)
				cause_set(cause, "%s: migration 1 is missing "
				    "(the first file is %s.sql)", dir,
				    set->list[i].name);
			else
				cause_set(cause, "%s: migration %d is missing "
				    "(between %s.sql and %s.sql)", dir, i + 1,
				    set->list[i - 1].name, set->list[i].name);
			goto fail;
		}
	}
	return 0;

fail_dir:
	closedir(d);
fail:
	migration_free(set);
	return -1;
}

/* Read the whole file into an allocated, NUL-terminated buffer. */
static char *
migration_read(const struct migration *mg, size_t *len, char **cause)
{
	FILE		*fp;
	struct stat	 st;
	char		*sql = NULL;

	if ((fp = fopen(mg->path, "r")) == NULL) {
		cause_set(cause, "%s: %s", mg->path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) == -1) {
		cause_set(cause, "%s: %s", mg->path, strerror(errno));
		goto out;
	}
	if (st.st_size > MIGRATION_FILE_MAX) {
		cause_set(cause, "%s: larger than %d bytes", mg->path,
		    MIGRATION_FILE_MAX);
		goto out;
	}
	if ((sql = malloc((size_t)st.st_size + 1)) == NULL) {
		cause_set(cause, "out of memory");
		goto out;
	}
	*len = fread(sql, 1, (size_t)st.st_size, fp);
	if (ferror(fp) || *len != (size_t)st.st_size) {
		cause_set(cause, "%s: read error", mg->path);
		free(sql);
		sql = NULL;
		goto out;
	}
	sql[*len] = '\0';
	if (memchr(sql, '\0', *len) != NULL) {
		cause_set(cause, "%s: NUL byte in the file", mg->path);
		free(sql);
		sql = NULL;
	}
out:
	fclose(fp);
	return sql;
}

int
migration_run(MYSQL *m, const struct migration *mg, int *statement,
    char **cause)
{
	MYSQL_RES	*res;
	char		*sql, esc[2 * MYSQL_ERRMSG_SIZE];
	size_t		 len;
	int		 rc = -1, more;

	*statement = 0;
	if ((sql = migration_read(mg, &len, cause)) == NULL)
		return -1;
	if (mysql_set_server_option(m, MYSQL_OPTION_MULTI_STATEMENTS_ON) != 0) {
		cause_set(cause, "cannot enable multiple statements: %s",
		    mysql_error(m));
		goto out;
	}
	*statement = 1;
	if (mysql_real_query(m, sql, (unsigned long)len) != 0)
		goto failed;
	for (;;) {
		/* A migration may SELECT something: read it and drop it. */
		if ((res = mysql_store_result(m)) != NULL)
			mysql_free_result(res);
		else if (mysql_field_count(m) != 0)
			goto failed;
		if (mysql_warning_count(m) > 0)
			log_debug("%s.sql: statement %d: %u warning%s", mg->name,
			    *statement, mysql_warning_count(m),
			    mysql_warning_count(m) == 1 ? "" : "s");
		if ((more = mysql_next_result(m)) == -1)
			break;
		(*statement)++;
		if (more > 0)
			goto failed;
	}
	rc = 0;
	goto out;
failed:
	/* "near '...'" quotes the file: keep it on one log line. */
	cause_set(cause, "%s (error %u)", log_escape(esc, sizeof(esc),
	    mysql_error(m)), mysql_errno(m));
out:
	free(sql);
	return rc;
}
