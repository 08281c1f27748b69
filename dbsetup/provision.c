/*
 * provision: --create, the first install on the database host.
 *
 * As the MariaDB administrator (by default root over the Unix socket,
 * which Debian's unix_socket authentication lets the system's root in
 * without a password): create the database, create the programs' account
 * 'user'@'localhost' with the configured password, and grant it what the
 * programs and the migrations need on that database and nothing else.
 *
 * Names cannot be bound as parameters, so the database and account names
 * are restricted to letters, digits and '_' (and '-' and '.' for the
 * account) before they are quoted into SQL.  The password never is: the
 * server hashes it in a prepared statement (SELECT PASSWORD(?)), and the
 * account is created with that hash (IDENTIFIED BY PASSWORD '*...'),
 * after checking that it is a hash.
 *
 * An account that exists keeps its password unless reset_password is set:
 * an account made by hand may use another authentication method, and its
 * password may be shared with something else.  The caller then finds out
 * whether the configured password works by logging in with it.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mysqld_error.h>

#include "db.h"
#include "dbsetup.h"
#include "log.h"

/*
 * What the programs need (rows) and what the migrations need (tables,
 * indexes, foreign keys, views), on their own database only.  SHOW VIEW
 * lets the account dump its views (mariadb-dump) for a backup.
 */
#define PROVISION_GRANTS \
	"SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, " \
	"REFERENCES, CREATE VIEW, SHOW VIEW"

#define PASSWORD_HASH_LEN	41	/* '*' and 40 hex digits */

bool
provision_valid_name(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_')
			return false;
	return n >= 1 && n <= DBSETUP_NAME_MAX;
}

/* Account names may also have '-' and '.': they are quoted with '. */
static bool
provision_valid_account(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' &&
		    s[n] != '-' && s[n] != '.')
			return false;
	return n >= 1 && n <= DBSETUP_NAME_MAX;
}

void
provision_grant_db(char *out, size_t size, const char *name)
{
	size_t o = 0;

	if (size < 3)
		return;
	out[o++] = '`';
	for (; *name != '\0' && o + 3 < size; name++) {
		if (*name == '_')
			out[o++] = '\\';
		out[o++] = *name;
	}
	out[o++] = '`';
	out[o] = '\0';
}

/* Run one statement that returns no rows; on failure -1 and *cause. */
static int
provision_sql(MYSQL *m, const char *sql, const char *what, char **cause)
{
	if (mysql_real_query(m, sql, (unsigned long)strlen(sql)) == 0)
		return 0;
	cause_set(cause, "%s: %s (error %u)", what, mysql_error(m),
	    mysql_errno(m));
	return -1;
}

/* The server's hash of the password, checked to be nothing but a hash. */
static int
provision_hash(MYSQL *m, const char *password, char hash[PASSWORD_HASH_LEN + 1],
    char **cause)
{
	struct db_stmt	 s;
	int		 rc, i;

	if (db_stmt_prepare(m, &s, "SELECT PASSWORD(?)") == -1) {
		cause_set(cause, "hashing the password: %s", s.prep_error);
		return -1;
	}
	rc = db_stmt_run(&s, "s", "s", password, hash,
	    (size_t)PASSWORD_HASH_LEN + 1);
	if (rc != 1) {
		cause_set(cause, "hashing the password: %s",
		    rc == -1 ? db_stmt_error(&s) : "no result");
		db_stmt_close(&s);
		return -1;
	}
	db_stmt_close(&s);
	for (i = 1; i < PASSWORD_HASH_LEN; i++)
		if (!isxdigit((unsigned char)hash[i]))
			break;
	if (hash[0] != '*' || i != PASSWORD_HASH_LEN ||
	    hash[PASSWORD_HASH_LEN] != '\0') {
		cause_set(cause, "the server's PASSWORD() does not give a "
		    "mysql_native_password hash (old_passwords set?); create "
		    "the account yourself (see callbridge-schema(7))");
		return -1;
	}
	return 0;
}

static int
provision_account_exists(MYSQL *m, const char *user, bool *exists,
    char **cause)
{
	struct db_stmt	 s;
	long long	 n = 0;
	int		 rc;

	if (db_stmt_prepare(m, &s, "SELECT COUNT(*) FROM mysql.user "
	    "WHERE User = ? AND Host = 'localhost'") == -1) {
		cause_set(cause, "looking for the account: %s", s.prep_error);
		return -1;
	}
	rc = db_stmt_run(&s, "s", "i", user, &n);
	if (rc == -1)
		cause_set(cause, "looking for the account: %s",
		    db_stmt_error(&s));
	db_stmt_close(&s);
	*exists = n > 0;
	return rc == -1 ? -1 : 0;
}

/* Warn when an existing database has another default character set. */
static void
provision_check_charset(MYSQL *m, const char *name)
{
	struct db_stmt	 s;
	char		 cs[65];

	if (db_stmt_prepare(m, &s, "SELECT DEFAULT_CHARACTER_SET_NAME FROM "
	    "information_schema.SCHEMATA WHERE SCHEMA_NAME = ?") == -1)
		return;
	if (db_stmt_run(&s, "s", "s", name, cs, sizeof(cs)) == 1 &&
	    strcmp(cs, "utf8mb4") != 0)
		log_warn("database %s has the default character set %s; "
		    "callbridge's tables set utf8mb4 themselves, but tables "
		    "you add would get %s", name, cs, cs);
	db_stmt_close(&s);
}

int
provision_run(const struct conf *cf, struct provision *pv, char **cause)
{
	struct conf	 admin;
	MYSQL		*m;
	char		 err[DB_ERR_MAX], hash[PASSWORD_HASH_LEN + 1];
	char		 sql[512], gdb[2 * DBSETUP_NAME_MAX + 3];
	const char	*name = cf->db_name, *user = cf->db_user;
	bool		 exists;
	int		 rc = -1;

	if (strcmp(cf->db_host, "localhost") != 0) {
		cause_set(cause, "--create works on the database host, over "
		    "the Unix socket ([database] host = localhost), but host "
		    "is %s; create the database and the account there by hand "
		    "(see callbridge-schema(7)), then run callbridge-dbsetup "
		    "without --create", cf->db_host);
		return -1;
	}
	if (!provision_valid_name(name)) {
		char esc[2 * DBSETUP_NAME_MAX];

		cause_set(cause, "[database] name \"%s\": --create takes 1 to "
		    "%d letters, digits or '_'", log_escape(esc, sizeof(esc),
		    name), DBSETUP_NAME_MAX);
		return -1;
	}
	if (!provision_valid_account(user)) {
		char esc[2 * DBSETUP_NAME_MAX];

		cause_set(cause, "[database] user \"%s\": --create takes 1 to "
		    "%d letters, digits, '_', '-' or '.'", log_escape(esc,
		    sizeof(esc), user), DBSETUP_NAME_MAX);
		return -1;
	}
	if (cf->db_password == NULL || cf->db_password[0] == '\0') {
		cause_set(cause, "[database] password is empty; --create gives "
		    "the account the configured password: set it in %s or in "
		    "CALLBRIDGE_DB_PASSWORD", cf->path);
		return -1;
	}

	/* The same server and timeouts; the administrator, no database. */
	admin = *cf;
	admin.db_user = (char *)(uintptr_t)pv->admin_user;
	admin.db_password = (char *)(uintptr_t)(pv->admin_password != NULL ?
	    pv->admin_password : "");
	admin.db_name = NULL;
	if ((m = db_connect(&admin, err)) == NULL) {
		cause_set(cause, "cannot connect as the administrator %s over "
		    "%s: %s (run --create as root on the database host, or name "
		    "another administrator with --admin-user and its password "
		    "in CALLBRIDGE_DB_ADMIN_PASSWORD)", pv->admin_user,
		    cf->db_socket, err);
		return -1;
	}
	log_info("connected as the administrator %s", pv->admin_user);

	snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS `%s` "
	    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", name);
	if (provision_sql(m, sql, "creating the database", cause) == -1)
		goto out;
	if (mysql_warning_count(m) == 0)
		log_notice("created database %s", name);
	else {
		log_info("database %s exists", name);
		provision_check_charset(m, name);
	}

	if (provision_account_exists(m, user, &exists, cause) == -1)
		goto out;
	pv->account_existed = exists;
	if (!exists || pv->reset_password) {
		if (provision_hash(m, cf->db_password, hash, cause) == -1)
			goto out;
		snprintf(sql, sizeof(sql), "%s '%s'@'localhost' IDENTIFIED BY "
		    "PASSWORD '%s'", exists ? "ALTER USER" :
		    "CREATE USER IF NOT EXISTS", user, hash);
		if (mysql_real_query(m, sql, (unsigned long)strlen(sql)) != 0) {
			if (mysql_errno(m) == ER_OPTION_PREVENTS_STATEMENT)
				cause_set(cause, "the server refuses to take "
				    "a password hash (strict_password_validation "
				    "with a password validation plugin): create "
				    "the account '%s'@'localhost' yourself (see "
				    "callbridge-schema(7)), then run --create "
				    "again", user);
			else
				cause_set(cause, "%s the account '%s'@'localhost': "
				    "%s (error %u)", exists ? "changing" :
				    "creating", user, mysql_error(m),
				    mysql_errno(m));
			goto out;
		}
		if (exists)
			log_notice("account '%s'@'localhost': password set to "
			    "the configured one", user);
		else
			log_notice("created account '%s'@'localhost'", user);
	} else
		log_info("account '%s'@'localhost' exists; its password is "
		    "left alone", user);

	provision_grant_db(gdb, sizeof(gdb), name);
	snprintf(sql, sizeof(sql), "GRANT " PROVISION_GRANTS " ON %s.* TO "
	    "'%s'@'localhost'", gdb, user);
	if (provision_sql(m, sql, "granting privileges", cause) == -1)
		goto out;
	log_info("granted %s on %s.* to '%s'@'localhost'", PROVISION_GRANTS,
	    name, user);
	rc = 0;
out:
	mysql_close(m);
	return rc;
}
