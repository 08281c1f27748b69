/*
 * db: MariaDB helpers shared by both programs.
 *
 * db_connect() opens a connection with the configured connect/read/write
 * timeouts, utf8mb4 and UTC; automatic reconnection stays off because a
 * silent reconnect would invalidate prepared statements behind our back:
 * callers see the error, classify it with db_error_is_connection() and
 * reconnect themselves.  SQL goes only through prepared statements
 * (struct db_stmt); values are never pasted into SQL text.
 */
#ifndef CALLBRIDGE_DB_H
#define CALLBRIDGE_DB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <mysql.h>

#include "conf.h"

/* The schema version these programs are built for (schema/NNN_*.sql). */
#define DB_SCHEMA_VERSION	1
#define DB_BIND_MAX		16	/* most parameters or columns per statement */
#define DB_ERR_MAX		256

struct db_stmt {
	MYSQL_STMT	*st;
	const char	*sql;		/* static text */
	MYSQL_BIND	 in[DB_BIND_MAX];
	long long	 in_int[DB_BIND_MAX];
	unsigned long	 in_len[DB_BIND_MAX];
	MYSQL_BIND	 out[DB_BIND_MAX];
	unsigned long	 out_len[DB_BIND_MAX];
	my_bool		 out_null[DB_BIND_MAX];
	my_bool		 out_err[DB_BIND_MAX];
	char		*out_str[DB_BIND_MAX];	/* caller's buffers */
	size_t		 out_cap[DB_BIND_MAX];
	int		 n_out;
	bool		 has_result;
	unsigned int	 prep_errno;	/* why db_stmt_prepare() failed */
	char		 prep_error[DB_ERR_MAX];
};

/* Open a connection; on failure NULL with the reason in err. */
MYSQL	*db_connect(const struct conf *, char err[DB_ERR_MAX]);
/* The same; on failure *errnum is also set (mysql_errno(), 0 for none). */
MYSQL	*db_connect_errno(const struct conf *, char err[DB_ERR_MAX],
	    unsigned int *errnum);
/* Read the schema version: 0 when the table is missing, -1 on error. */
int	 db_schema_version(MYSQL *, char err[DB_ERR_MAX]);
/* A message telling the operator what to do about a wrong version. */
void	 db_schema_advice(int found, char *out, size_t size);
/* True when errno says the connection itself is gone or unusable. */
bool	 db_error_is_connection(unsigned int mysql_errno);

int	 db_stmt_prepare(MYSQL *, struct db_stmt *, const char *sql);
void	 db_stmt_close(struct db_stmt *);

/*
 * Execute with parameters and bind result columns, then fetch the first
 * row.  in: one letter per parameter, 's' a const char * (NULL is SQL NULL)
 * 'i' a long long, or 'I' a const long long * (NULL is SQL NULL).  out: one letter per column, 's' a char * and a
 * size_t capacity (SQL NULL reads as "", longer values are cut) or 'i' a
 * long long * (SQL NULL reads as 0).  Returns 1 with a row, 0 without,
 * -1 on error (mysql_stmt_errno() tells which).  Call db_stmt_next() for
 * further rows and db_stmt_done() when finished with a result.
 */
int	 db_stmt_run(struct db_stmt *, const char *in, const char *out, ...);
int	 db_stmt_vrun(struct db_stmt *, const char *in, const char *out, va_list);
int	 db_stmt_next(struct db_stmt *);
void	 db_stmt_done(struct db_stmt *);
unsigned long long db_stmt_affected(const struct db_stmt *);
unsigned int db_stmt_errno(const struct db_stmt *);
const char *db_stmt_error(const struct db_stmt *);

#endif
