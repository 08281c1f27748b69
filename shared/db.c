/*
 * db: MariaDB connection and prepared-statement helpers (see db.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <errmsg.h>
#include <mysqld_error.h>

#include "db.h"

MYSQL *
db_connect(const struct conf *cf, char err[DB_ERR_MAX])
{
	unsigned int errnum;

	return db_connect_errno(cf, err, &errnum);
}

MYSQL *
db_connect_errno(const struct conf *cf, char err[DB_ERR_MAX],
    unsigned int *errnum)
{
	MYSQL		*m;
	unsigned int	 ct = (unsigned int)cf->db_connect_timeout;
	unsigned int	 rt = (unsigned int)cf->db_read_timeout;
	unsigned int	 wt = (unsigned int)cf->db_write_timeout;
	my_bool		 off = 0;
	bool		 local = strcmp(cf->db_host, "localhost") == 0;

	*errnum = 0;
	if ((m = mysql_init(NULL)) == NULL) {
		snprintf(err, DB_ERR_MAX, "out of memory");
		return NULL;
	}
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &rt);
	mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &wt);
	mysql_options(m, MYSQL_OPT_RECONNECT, &off);
	mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(m, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
	if (mysql_real_connect(m, local ? NULL : cf->db_host, cf->db_user,
	    cf->db_password, cf->db_name, local ? 0 : (unsigned int)cf->db_port,
	    local ? cf->db_socket : NULL, 0) == NULL) {
		snprintf(err, DB_ERR_MAX, "%s", mysql_error(m));
		*errnum = mysql_errno(m);
		mysql_close(m);
		return NULL;
	}
	return m;
}

int
db_schema_version(MYSQL *m, char err[DB_ERR_MAX])
{
	struct db_stmt	 s;
	long long	 v = 0;
	int		 rc;

	if (db_stmt_prepare(m, &s,
	    "SELECT COALESCE(MAX(version), 0) FROM schema_version") == -1) {
		if (s.prep_errno == ER_NO_SUCH_TABLE)
			return 0;
		snprintf(err, DB_ERR_MAX, "%s", s.prep_error);
		return -1;
	}
	rc = db_stmt_run(&s, "", "i", &v);
	if (rc == -1)
		snprintf(err, DB_ERR_MAX, "%s", db_stmt_error(&s));
	db_stmt_close(&s);
	return rc == -1 ? -1 : (int)v;
}

void
db_schema_advice(int found, char *out, size_t size)
{
	if (found == 0)
		snprintf(out, size, "the database has no callbridge schema; "
		    "run callbridge-dbsetup (see callbridge-dbsetup(8))");
	else if (found < DB_SCHEMA_VERSION)
		snprintf(out, size, "the database schema is version %d but this "
		    "program needs version %d; run callbridge-dbsetup (see "
		    "callbridge-dbsetup(8))", found, DB_SCHEMA_VERSION);
	else
		snprintf(out, size, "the database schema is version %d, newer "
		    "than this program (version %d); upgrade callbridge",
		    found, DB_SCHEMA_VERSION);
}

bool
db_error_is_connection(unsigned int e)
{
	switch (e) {
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case CR_COMMANDS_OUT_OF_SYNC:
	case ER_SERVER_SHUTDOWN:
	case ER_CONNECTION_KILLED:
	case ER_QUERY_INTERRUPTED:
	case ER_UNKNOWN_STMT_HANDLER:
	case ER_NEED_REPREPARE:
		return true;
	default:
		return false;
	}
}

int
db_stmt_prepare(MYSQL *m, struct db_stmt *s, const char *sql)
{
	memset(s, 0, sizeof(*s));
	s->sql = sql;
	if ((s->st = mysql_stmt_init(m)) == NULL) {
		s->prep_errno = mysql_errno(m);
		snprintf(s->prep_error, sizeof(s->prep_error), "%s",
		    mysql_error(m));
		return -1;
	}
	if (mysql_stmt_prepare(s->st, sql, strlen(sql)) != 0) {
		s->prep_errno = mysql_stmt_errno(s->st);
		snprintf(s->prep_error, sizeof(s->prep_error), "%s",
		    mysql_stmt_error(s->st));
		mysql_stmt_close(s->st);
		s->st = NULL;
		return -1;
	}
	return 0;
}

void
db_stmt_close(struct db_stmt *s)
{
	if (s->st != NULL) {
		db_stmt_done(s);
		mysql_stmt_close(s->st);
	}
	s->st = NULL;
}

/* Make every fetched string a C string; SQL NULL becomes "". */
static void
db_stmt_terminate(struct db_stmt *s)
{
	int i;

	for (i = 0; i < s->n_out; i++) {
		if (s->out_str[i] == NULL)
			continue;
		if (s->out_null[i])
			s->out_str[i][0] = '\0';
		else if (s->out_len[i] < s->out_cap[i])
			s->out_str[i][s->out_len[i]] = '\0';
		else
			s->out_str[i][s->out_cap[i] - 1] = '\0';
	}
}

int
db_stmt_next(struct db_stmt *s)
{
	int rc;

	if (!s->has_result)
		return 0;
	rc = mysql_stmt_fetch(s->st);
	if (rc == MYSQL_NO_DATA)
		return 0;
	if (rc == 1)
		return -1;
	/* MYSQL_DATA_TRUNCATED: a value longer than its buffer is cut. */
	db_stmt_terminate(s);
	return 1;
}

int
db_stmt_run(struct db_stmt *s, const char *in, const char *out, ...)
{
	va_list	 ap;
	int	 rc;

	va_start(ap, out);
	rc = db_stmt_vrun(s, in, out, ap);
	va_end(ap);
	return rc;
}

int
db_stmt_vrun(struct db_stmt *s, const char *in, const char *out, va_list ap)
{
	size_t	 nin = strlen(in), nout = strlen(out), i;

	if (s->st == NULL || nin > DB_BIND_MAX || nout > DB_BIND_MAX ||
	    nin != mysql_stmt_param_count(s->st))
		return -1;
	db_stmt_done(s);
	memset(s->in, 0, sizeof(s->in));
	memset(s->out, 0, sizeof(s->out));
	for (i = 0; i < nin; i++) {
		MYSQL_BIND *b = &s->in[i];

		if (in[i] == 's') {
			const char *v = va_arg(ap, const char *);

			if (v == NULL)
				b->buffer_type = MYSQL_TYPE_NULL;
			else {
				b->buffer_type = MYSQL_TYPE_STRING;
				b->buffer = (void *)(uintptr_t)v;
				s->in_len[i] = strlen(v);
				b->buffer_length = s->in_len[i];
				b->length = &s->in_len[i];
			}
		} else if (in[i] == 'I') {
			const long long *v = va_arg(ap, const long long *);

			if (v == NULL)
				b->buffer_type = MYSQL_TYPE_NULL;
			else {
				s->in_int[i] = *v;
				b->buffer_type = MYSQL_TYPE_LONGLONG;
				b->buffer = &s->in_int[i];
			}
		} else {
			s->in_int[i] = va_arg(ap, long long);
			b->buffer_type = MYSQL_TYPE_LONGLONG;
			b->buffer = &s->in_int[i];
		}
	}
	s->n_out = (int)nout;
	for (i = 0; i < nout; i++) {
		MYSQL_BIND *b = &s->out[i];

		b->length = &s->out_len[i];
		b->is_null = &s->out_null[i];
		b->error = &s->out_err[i];
		if (out[i] == 's') {
			s->out_str[i] = va_arg(ap, char *);
			s->out_cap[i] = va_arg(ap, size_t);
			s->out_str[i][0] = '\0';
			b->buffer_type = MYSQL_TYPE_STRING;
			b->buffer = s->out_str[i];
			b->buffer_length = s->out_cap[i];
		} else {
			long long *v = va_arg(ap, long long *);

			*v = 0;
			s->out_str[i] = NULL;
			b->buffer_type = MYSQL_TYPE_LONGLONG;
			b->buffer = v;
		}
	}

	if ((nin > 0 && mysql_stmt_bind_param(s->st, s->in) != 0) ||
	    mysql_stmt_execute(s->st) != 0)
		return -1;
	if (mysql_stmt_field_count(s->st) == 0)
		return 0;
	if (nout != mysql_stmt_field_count(s->st) ||
	    mysql_stmt_bind_result(s->st, s->out) != 0 ||
	    mysql_stmt_store_result(s->st) != 0) {
		mysql_stmt_free_result(s->st);
		return -1;
	}
	s->has_result = true;
	return db_stmt_next(s);
}

void
db_stmt_done(struct db_stmt *s)
{
	if (s->has_result)
		mysql_stmt_free_result(s->st);
	s->has_result = false;
}

unsigned long long
db_stmt_affected(const struct db_stmt *s)
{
	return (unsigned long long)mysql_stmt_affected_rows(s->st);
}

unsigned int
db_stmt_errno(const struct db_stmt *s)
{
	if (s->st == NULL)
		return s->prep_errno != 0 ? s->prep_errno : CR_SERVER_GONE_ERROR;
	return mysql_stmt_errno(s->st);
}

const char *
db_stmt_error(const struct db_stmt *s)
{
	if (s->st == NULL)
		return s->prep_error[0] != '\0' ? s->prep_error :
		    "statement not prepared";
	return mysql_stmt_error(s->st);
}
