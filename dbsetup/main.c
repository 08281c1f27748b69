/*
 * callbridge-dbsetup: create or upgrade the callbridge database.
 *
 * It reads the [database] section of callbridge.conf, compares the
 * database's schema version (MAX(version) of schema_version, 0 without
 * the table) with the numbered migrations of the schema directory, and
 * applies the newer ones in order, each on a connection of its own, as
 * the configured account.  A named lock (GET_LOCK) on another connection
 * serialises runs against one database; the version is read only once
 * the lock is held, so a run that waited sees what the other one did.
 * With --create it first makes the database and the account as the
 * administrator (provision.c).  With --check it only reports.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>
#include <mysqld_error.h>

#include "conf.h"
#include "db.h"
#include "dbsetup.h"
#include "log.h"

#ifndef SCHEMADIR
#define SCHEMADIR "/usr/share/callbridge/schema"
#endif

#define EXIT_USAGE	2
#define EXIT_PENDING	3	/* --check: migrations to apply */

/*
 * How long a run waits for another one to finish: long enough for a big
 * ALTER TABLE of call_events, short enough that a hung run gets noticed.
 */
#define LOCK_WAIT_DEFAULT	300	/* seconds */
#define LOCK_WAIT_MAX		86400
/* The lock is per server, so its name says which database it guards. */
#define LOCK_PREFIX		"callbridge-dbsetup:"
/*
 * A migration may rebuild a large table: the read and write timeouts of
 * [database], meant for the programs' short queries, would cut it off.
 */
#define MIGRATION_IO_TIMEOUT	86400	/* seconds */

#define ADMIN_PASSWORD_ENV	"CALLBRIDGE_DB_ADMIN_PASSWORD"

enum { OPT_RESET_PASSWORD = 256 };

static const struct option long_options[] = {
	{ "admin-user", required_argument, NULL, 'a' },
	{ "create", no_argument, NULL, 'C' },
	{ "config", required_argument, NULL, 'c' },
	{ "debug", no_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{ "check", no_argument, NULL, 'n' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "reset-password", no_argument, NULL, OPT_RESET_PASSWORD },
	{ "schema-dir", required_argument, NULL, 's' },
	{ "version", no_argument, NULL, 'V' },
	{ "wait", required_argument, NULL, 'w' },
	{ NULL, 0, NULL, 0 },
};

/* What a run is asked to do. */
struct dbsetup {
	const struct conf	*cf;	/* timeouts raised for migrations */
	struct migration_set	 set;
	int			 lock_wait;	/* seconds */
	bool			 quiet;
	bool			 created;	/* --create ran */
	bool			 account_existed;	/* ... and found the account */
};

void
cause_set(char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		fatalx("out of memory");
	va_end(ap);
}

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: callbridge-dbsetup [-CdhnqtV] [-a user] [-c file] [-s dir] "
	    "[-w seconds]\n"
	    "  -C, --create           first create the database and the account,\n"
	    "                         as the administrator (run as root on the\n"
	    "                         database host)\n"
	    "  -a, --admin-user user  administrator for --create (default root);\n"
	    "                         its password, if any, in\n"
	    "                         " ADMIN_PASSWORD_ENV "\n"
	    "      --reset-password   with --create: give an existing account the\n"
	    "                         configured password\n"
	    "  -c, --config file      configuration file\n"
	    "                         (default %s)\n"
	    "  -d, --debug            debug logging\n"
	    "  -h, --help             this help\n"
	    "  -n, --check            report the schema version and the pending\n"
	    "                         migrations; exit 0 up to date, 3 pending,\n"
	    "                         1 error\n"
	    "  -q, --quiet            log warnings and errors only\n"
	    "  -s, --schema-dir dir   migrations (default %s)\n"
	    "  -t                     check the configuration and exit\n"
	    "  -V, --version          print the version and exit\n"
	    "  -w, --wait seconds     wait this long for another run to finish\n"
	    "                         (default %d)\n",
	    conf_default_path(), SCHEMADIR, LOCK_WAIT_DEFAULT);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool
access_denied(unsigned int e)
{
	/* 1698: an account that does not exist, or a refused unix_socket. */
	return e == ER_ACCESS_DENIED_ERROR || e == ER_DBACCESS_DENIED_ERROR ||
	    e == ER_ACCESS_DENIED_NO_PASSWORD_ERROR;
}

/* Connect as the configured account, with a hint when that fails. */
static MYSQL *
dbsetup_connect(const struct dbsetup *ds, char **cause)
{
	const struct conf	*cf = ds->cf;
	MYSQL			*m;
	char			 err[DB_ERR_MAX], where[300];
	char			 name[2 * DBSETUP_NAME_MAX], user[2 * DBSETUP_NAME_MAX];
	const char		*hint = "";
	unsigned int		 e;

	if ((m = db_connect_errno(cf, err, &e)) != NULL)
		return m;
	if (strcmp(cf->db_host, "localhost") == 0)
		snprintf(where, sizeof(where), "%s", cf->db_socket);
	else
		snprintf(where, sizeof(where), "%s:%d", cf->db_host, cf->db_port);
	if (e == ER_BAD_DB_ERROR && !ds->created)
		hint = "; to create the database and its account, run "
		    "callbridge-dbsetup --create as root on the database host";
	else if (access_denied(e) && ds->account_existed)
		hint = "; the account existed before --create, which left its "
		    "password alone: correct [database] password (or "
		    "CALLBRIDGE_DB_PASSWORD), or run --create --reset-password";
	else if (access_denied(e))
		hint = "; check [database] user and password (or "
		    "CALLBRIDGE_DB_PASSWORD), or create the account with "
		    "callbridge-dbsetup --create as root on the database host";
	cause_set(cause, "cannot connect to database %s as %s on %s: %s%s",
	    log_escape(name, sizeof(name), cf->db_name),
	    log_escape(user, sizeof(user), cf->db_user), where, err, hint);
	return NULL;
}

/* One integer from a prepared statement with a string parameter. */
static int
dbsetup_query_int(MYSQL *m, const char *sql, const char *arg,
    const long long *arg2, long long *out, char **cause)
{
	struct db_stmt	 s;
	int		 rc;

	if (db_stmt_prepare(m, &s, sql) == -1) {
		cause_set(cause, "%s", s.prep_error);
		return -1;
	}
	if (arg2 != NULL)
		rc = db_stmt_run(&s, "sI", "i", arg, arg2, out);
	else
		rc = db_stmt_run(&s, "s", "i", arg, out);
	if (rc == -1)
		cause_set(cause, "%s", db_stmt_error(&s));
	db_stmt_close(&s);
	return rc == -1 ? -1 : 0;
}

/* Take the named lock of the database, waiting up to lock_wait seconds. */
static int
dbsetup_lock(const struct dbsetup *ds, MYSQL *m, const char *lock,
    char **cause)
{
	long long	 got = 0, holder = 0, wait = ds->lock_wait;

	if (dbsetup_query_int(m, "SELECT GET_LOCK(?, 0)", lock, NULL, &got,
	    cause) == -1)
		return -1;
	if (got == 1)
		return 0;
	if (dbsetup_query_int(m, "SELECT IS_USED_LOCK(?)", lock, NULL, &holder,
	    cause) == -1)
		return -1;
	log_notice("another callbridge-dbsetup (connection %lld) is working on "
	    "database %s; waiting up to %d s for it", holder, ds->cf->db_name,
	    ds->lock_wait);
	if (dbsetup_query_int(m, "SELECT GET_LOCK(?, ?)", lock, &wait, &got,
	    cause) == -1)
		return -1;
	if (got == 1)
		return 0;
	cause_set(cause, "another callbridge-dbsetup is still working on "
	    "database %s after %d s (the lock \"%s\" is held by connection "
	    "%lld); wait for it, or look at it with SHOW PROCESSLIST",
	    ds->cf->db_name, ds->lock_wait, lock, holder);
	return -1;
}

/* Warn when schema_version's name for the current version is not ours. */
static void
dbsetup_check_name(MYSQL *m, const struct dbsetup *ds, int version)
{
	const struct migration	*mg = &ds->set.list[version - 1];
	struct db_stmt		 s;
	char			 name[MIGRATION_NAME_MAX + 1];

	if (db_stmt_prepare(m, &s,
	    "SELECT name FROM schema_version WHERE version = ?") == -1)
		return;
	if (db_stmt_run(&s, "i", "s", (long long)version, name,
	    sizeof(name)) == 1 && strcmp(name, mg->name) != 0) {
		char esc[2 * MIGRATION_NAME_MAX];

		log_warn("schema_version names version %d \"%s\", but the "
		    "schema directory has %s.sql: is %s the right directory?",
		    version, log_escape(esc, sizeof(esc), name), mg->name,
		    ds->set.dir);
	}
	db_stmt_close(&s);
}

/* Read the version, and refuse one newer than the newest migration. */
static int
dbsetup_version(MYSQL *m, const struct dbsetup *ds, char **cause)
{
	char	 err[DB_ERR_MAX];
	int	 v;

	if ((v = db_schema_version(m, err)) == -1) {
		cause_set(cause, "reading the schema version of database %s: %s",
		    ds->cf->db_name, err);
		return -1;
	}
	if (v > ds->set.n) {
		cause_set(cause, "database %s has schema version %d, newer than "
		    "the newest migration in %s (%d): it was upgraded by a newer "
		    "callbridge; use that version's callbridge-dbsetup",
		    ds->cf->db_name, v, ds->set.dir, ds->set.n);
		return -1;
	}
	if (v > 0)
		dbsetup_check_name(m, ds, v);
	return v;
}

/* --check: report, and say with the exit status whether work is left. */
static int
dbsetup_check(const struct dbsetup *ds)
{
	MYSQL	*m;
	char	*cause = NULL;
	int	 v, i;

	if ((m = dbsetup_connect(ds, &cause)) == NULL)
		goto fail;
	if ((v = dbsetup_version(m, ds, &cause)) == -1)
		goto fail;
	mysql_close(m);
	if (!ds->quiet) {
		printf("database %s: schema version %d\n", ds->cf->db_name, v);
		printf("newest migration: %d (%s)\n", ds->set.n, ds->set.dir);
		for (i = v; i < ds->set.n; i++)
			printf("pending: %s.sql\n", ds->set.list[i].name);
		if (v == ds->set.n)
			printf("up to date\n");
		else
			printf("%d migration%s pending\n", ds->set.n - v,
			    ds->set.n - v == 1 ? "" : "s");
	}
	return v == ds->set.n ? EXIT_SUCCESS : EXIT_PENDING;
fail:
	if (m != NULL)
		mysql_close(m);
	log_err("%s", cause);
	free(cause);
	return EXIT_FAILURE;
}

/*
 * After a migration failed: MariaDB cannot roll back DDL, so whatever ran
 * before the failing statement stays.  When the file had already claimed
 * its version in schema_version (001 does that first), remove the claim:
 * the database must not pretend to have a schema it only partly has.
 */
static void
dbsetup_failed(MYSQL *lm, const struct dbsetup *ds, const struct migration *mg,
    int statement, const char *why)
{
	struct db_stmt	 s;
	char		 err[DB_ERR_MAX], ran[MIGRATION_NAME_MAX + 64];
	int		 v;

	log_err("%s failed at statement %d: %s", mg->path, statement, why);
	v = db_schema_version(lm, err);
	if (v == mg->number) {
		if (db_stmt_prepare(lm, &s,
		    "DELETE FROM schema_version WHERE version = ?") == 0 &&
		    db_stmt_run(&s, "i", "", (long long)mg->number) == 0) {
			log_notice("removed the schema_version row %d that %s.sql "
			    "wrote before it failed", mg->number, mg->name);
			v = mg->number - 1;
		} else
			log_err("could not remove the schema_version row %d that "
			    "%s.sql wrote before it failed: %s", mg->number,
			    mg->name, db_stmt_error(&s));
		db_stmt_close(&s);
	}
	if (statement == 1) {
		log_err("the first statement failed: nothing of %s.sql stays "
		    "applied, and database %s stays at schema version %d; "
		    "correct the migration and run callbridge-dbsetup again",
		    mg->name, ds->cf->db_name, mg->number - 1);
	} else {
		if (statement == 2)
			snprintf(ran, sizeof(ran), "statement 1 of %s.sql stays",
			    mg->name);
		else
			snprintf(ran, sizeof(ran), "statements 1 to %d of %s.sql "
			    "stay", statement - 1, mg->name);
		log_err("MariaDB cannot roll back CREATE, ALTER or DROP: %s "
		    "applied, and database %s is left between schema versions "
		    "%d and %d.  Inspect it, then restore the backup or finish "
		    "the migration by hand (schema_version included) before "
		    "running callbridge-dbsetup again", ran, ds->cf->db_name,
		    mg->number - 1, mg->number);
	}
	if (v != mg->number - 1 && v >= 0)
		log_err("schema_version says %d", v);
}

/* Apply every migration newer than the database, in order. */
static int
dbsetup_migrate(const struct dbsetup *ds)
{
	const struct migration	*mg;
	MYSQL			*lm, *m;
	char			*cause = NULL, *lock = NULL;
	char			 err[DB_ERR_MAX];
	double			 t0;
	int			 v, i, statement, rc = EXIT_FAILURE;

	if ((lm = dbsetup_connect(ds, &cause)) == NULL)
		goto fail;
	if (asprintf(&lock, "%s%s", LOCK_PREFIX, ds->cf->db_name) == -1)
		fatalx("out of memory");
	if (dbsetup_lock(ds, lm, lock, &cause) == -1)
		goto fail;
	if ((v = dbsetup_version(lm, ds, &cause)) == -1)
		goto fail;
	if (v == ds->set.n) {
		log_notice("database %s is up to date (schema version %d)",
		    ds->cf->db_name, v);
		rc = EXIT_SUCCESS;
		goto done;
	}
	log_info("database %s: schema version %d; %d migration%s to apply "
	    "from %s", ds->cf->db_name, v, ds->set.n - v,
	    ds->set.n - v == 1 ? "" : "s", ds->set.dir);
	for (i = v; i < ds->set.n; i++) {
		mg = &ds->set.list[i];
		log_notice("applying %s.sql", mg->name);
		t0 = now_s();
		/* A fresh session per file, as "mariadb < file" would have. */
		if ((m = dbsetup_connect(ds, &cause)) == NULL)
			goto fail;
		if (migration_run(m, mg, &statement, &cause) == -1) {
			mysql_close(m);
			if (statement == 0)
				goto fail;
			dbsetup_failed(lm, ds, mg, statement, cause);
			free(cause);
			cause = NULL;
			goto done;
		}
		/* Closed first: an uncommitted transaction is rolled back. */
		mysql_close(m);
		if ((v = db_schema_version(lm, err)) == -1) {
			cause_set(&cause, "%s.sql ran, but reading the schema "
			    "version failed: %s", mg->name, err);
			goto fail;
		}
		if (v != mg->number) {
			cause_set(&cause, "%s ran, but schema_version says %d "
			    "instead of %d: a migration must record itself "
			    "(INSERT INTO schema_version (version, name) VALUES "
			    "(%d, '%s')); inspect the database before running "
			    "callbridge-dbsetup again", mg->path, v, mg->number,
			    mg->number, mg->name);
			goto fail;
		}
		log_notice("%s.sql applied in %.1f s: schema version %d",
		    mg->name, now_s() - t0, v);
	}
	log_notice("database %s is up to date (schema version %d)",
	    ds->cf->db_name, v);
	rc = EXIT_SUCCESS;
	goto done;
fail:
	log_err("%s", cause);
	free(cause);
done:
	/* Closing the connection releases the lock too; say it anyway. */
	if (lm != NULL && lock != NULL) {
		long long released;

		cause = NULL;
		(void)dbsetup_query_int(lm, "SELECT RELEASE_LOCK(?)", lock,
		    NULL, &released, &cause);
		free(cause);
	}
	free(lock);
	if (lm != NULL)
		mysql_close(lm);
	return rc;
}

static int
parse_wait(const char *s)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || n < 0 ||
	    n > LOCK_WAIT_MAX)
		return -1;
	return (int)n;
}

int
main(int argc, char *argv[])
{
	struct conf	 cf, dbc;
	struct dbsetup	 ds;
	struct provision pv;
	const char	*path = conf_default_path(), *dir = SCHEMADIR;
	const char	*admin_user = NULL;
	char		*cause = NULL;
	bool		 check_only = false, debug = false, create = false;
	bool		 check = false, reset_password = false;
	int		 ch, rc;

	memset(&ds, 0, sizeof(ds));
	ds.lock_wait = LOCK_WAIT_DEFAULT;
	while ((ch = getopt_long(argc, argv, "a:Cc:dhnqs:tVw:", long_options,
	    NULL)) != -1) {
		switch (ch) {
		case 'a':
			admin_user = optarg;
			break;
		case 'C':
			create = true;
			break;
		case 'c':
			path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'n':
			check = true;
			break;
		case 'q':
			ds.quiet = true;
			break;
		case 's':
			dir = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'V':
			printf("callbridge-dbsetup %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		case 'w':
			if ((ds.lock_wait = parse_wait(optarg)) == -1) {
				fprintf(stderr, "callbridge-dbsetup: -w: 0 to "
				    "%d seconds\n", LOCK_WAIT_MAX);
				return EXIT_USAGE;
			}
			break;
		case OPT_RESET_PASSWORD:
			reset_password = true;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (check && create) {
		fprintf(stderr, "callbridge-dbsetup: --check only reads; it "
		    "does not go with --create\n");
		return EXIT_USAGE;
	}
	if ((admin_user != NULL || reset_password) && !create) {
		fprintf(stderr, "callbridge-dbsetup: --admin-user and "
		    "--reset-password go with --create\n");
		return EXIT_USAGE;
	}
	if (admin_user != NULL && admin_user[0] == '\0') {
		fprintf(stderr, "callbridge-dbsetup: -a: an empty user name\n");
		return EXIT_USAGE;
	}

	log_init("callbridge-dbsetup", LOG_INFO);
	conf_startup(&cf, path, CONF_DBSETUP, check_only);
	/* An interactive command: [log] level is for the services. */
	log_set_level(debug ? LOG_DEBUG : ds.quiet ? LOG_WARNING : LOG_INFO);

	if (migration_scan(&ds.set, dir, &cause) == -1) {
		log_err("%s", cause);
		free(cause);
		conf_free(&cf);
		return EXIT_FAILURE;
	}
	log_debug("%s: migrations 1 to %d", ds.set.dir, ds.set.n);

	if (mysql_library_init(0, NULL, NULL) != 0)
		fatalx("MariaDB client library initialisation failed");
	/* A shallow copy: the strings stay cf's. */
	dbc = cf;
	dbc.db_read_timeout = MIGRATION_IO_TIMEOUT;
	dbc.db_write_timeout = MIGRATION_IO_TIMEOUT;
	ds.cf = &dbc;

	rc = EXIT_SUCCESS;
	if (create) {
		memset(&pv, 0, sizeof(pv));
		pv.admin_user = admin_user != NULL ? admin_user : "root";
		pv.admin_password = getenv(ADMIN_PASSWORD_ENV);
		pv.reset_password = reset_password;
		if (provision_run(&dbc, &pv, &cause) == -1) {
			log_err("%s", cause);
			free(cause);
			rc = EXIT_FAILURE;
		}
		ds.created = true;
		ds.account_existed = pv.account_existed;
	}
	if (rc == EXIT_SUCCESS)
		rc = check ? dbsetup_check(&ds) : dbsetup_migrate(&ds);
	if (rc == EXIT_SUCCESS && !check && ds.set.n != DB_SCHEMA_VERSION)
		log_warn("callbridge-webhook and callbridge-relay of this build "
		    "need schema version %d, but %s goes to %d", DB_SCHEMA_VERSION,
		    ds.set.dir, ds.set.n);

	migration_free(&ds.set);
	mysql_library_end();
	conf_free(&cf);
	return rc;
}
