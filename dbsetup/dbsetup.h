/*
 * callbridge-dbsetup: creates the database and its account, and applies
 * the schema migrations.  Prototypes of its files, grouped by file.
 *
 * Errors are returned as -1 with an allocated message in *cause, which
 * the caller logs once and frees.
 */
#ifndef CALLBRIDGE_DBSETUP_H
#define CALLBRIDGE_DBSETUP_H

#include <stdbool.h>

#include <mysql.h>

#include "conf.h"

#define MIGRATIONS_MAX		999	/* highest migration number */
#define MIGRATION_FILE_MAX	(4 * 1024 * 1024)	/* bytes of one file */
#define MIGRATION_NAME_MAX	128	/* schema_version.name is VARCHAR(128) */
#define DBSETUP_NAME_MAX	64	/* database and account names */

/* main.c */
void	 cause_set(char **cause, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* migration.c */

/* One file NNN_name.sql of the schema directory. */
struct migration {
	int	 number;
	char	 name[MIGRATION_NAME_MAX + 1];	/* "NNN_name", no ".sql" */
	char	*path;				/* allocated */
};

/* The migrations of a directory, numbered 1 to n without gaps. */
struct migration_set {
	char			*dir;		/* allocated */
	struct migration	*list;		/* list[i].number == i + 1 */
	int			 n;
};

/*
 * Read dir: every file whose name ends in ".sql" must be NNN_name.sql
 * (digits, '_', letters, digits, '_' or '-'), the numbers must run from 1
 * without a gap or a duplicate.  Other files are ignored.
 */
int	 migration_scan(struct migration_set *, const char *dir, char **cause);
void	 migration_free(struct migration_set *);

/*
 * Run one migration on m, a connection of its own (as "mariadb < file"
 * would): every statement of the file, in order, stopping at the first
 * that fails; *statement tells which (1 for the first), 0 when the file
 * could not be read.
 */
int	 migration_run(MYSQL *m, const struct migration *, int *statement,
	    char **cause);

/* provision.c */

/* True when s may be a database or account name (pasted into SQL). */
bool	 provision_valid_name(const char *s);
/* Quote a database name for GRANT, where '_' is a wildcard: `a\_b`. */
void	 provision_grant_db(char *out, size_t size, const char *name);

struct provision {
	const char	*admin_user;
	const char	*admin_password;	/* NULL or "" for none */
	bool		 reset_password;
	bool		 account_existed;	/* out */
};

/*
 * As the administrator: create the database and the account of cf if
 * they are missing, and grant the account what the programs and the
 * migrations need on that database.
 */
int	 provision_run(const struct conf *cf, struct provision *,
	    char **cause);

#endif
