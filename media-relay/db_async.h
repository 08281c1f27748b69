/*
 * db_async: a pool of MariaDB connections driven by a libevent event_base,
 * running prepared statements without ever blocking that event loop.
 *
 * Every connection uses Connector/C's non-blocking API (mysql_*_start and
 * mysql_*_cont, MYSQL_OPT_NONBLOCK): whenever the library would wait, the
 * pool waits instead through an event on mysql_get_socket() with the timeout
 * of mysql_get_timeout_value_ms().  A host name other than "localhost" is
 * resolved with evdns first, because the connector would resolve it with a
 * blocking getaddrinfo().
 *
 * A connection opens with the options of db_connect() (timeouts, utf8mb4,
 * UTC, no automatic reconnection), checks the schema version and prepares
 * the pool's statements.  A connection that fails (lost, timed out, closed
 * by the server while idle) is closed and reopened after a back-off of
 * 100 ms doubling to 5 s; jobs wait in the queue meanwhile, up to their own
 * timeout.  Trouble is logged once per episode, not once per job.
 *
 * A job is up to DB_ASYNC_STEPS_MAX statements run back to back on one
 * connection with nothing else in between (LAST_INSERT_ID() of one step is
 * seen by the next), under autocommit: the steps are not a transaction.
 * A job runs at most once: one that failed because the connection broke is
 * not retried, since the server may have applied it.
 *
 * Ownership and threads: the caller owns the pool and frees it with
 * db_async_free(); the pool owns its connections and the jobs until their
 * callbacks return; a struct db_result and its cells belong to the pool
 * and live only during the callback.  All of it belongs to the thread
 * running the event_base and may be used from that thread only.  The SQL
 * texts passed to db_async_new() must outlive the pool; the struct conf
 * is copied.  Callbacks run from the event loop, never from inside
 * db_async_submit(); a callback may submit jobs and call
 * db_async_shutdown(), but must not call db_async_free() (the done
 * function of db_async_shutdown() may).  The process should call
 * mysql_library_init() before it starts threads.
 */
#ifndef CALLBRIDGE_DB_ASYNC_H
#define CALLBRIDGE_DB_ASYNC_H

#include <stdint.h>

#include <event2/event.h>

#include "conf.h"

#define DB_ASYNC_QUEUE_MAX	4096	/* pending jobs; more are refused */
#define DB_ASYNC_STEPS_MAX	4	/* statements per job */
#define DB_ASYNC_PARAMS_MAX	16	/* parameters per statement */
#define DB_ASYNC_CONN_MAX	16	/* connections per pool */
#define DB_ASYNC_COLS_MAX	32	/* columns of a result set */
#define DB_ASYNC_CELL_MAX	(1024 * 1024)	/* longer cells are cut */
#define DB_ASYNC_RESULT_MAX	(16 * 1024 * 1024) /* bytes of one result */
#define DB_ASYNC_JOB_BYTES_MAX	(4 * 1024 * 1024) /* string params, one job */
#define DB_ASYNC_QUEUE_BYTES_MAX (64 * 1024 * 1024) /* ... all pending jobs */

enum db_value_type { DBV_NULL, DBV_INT, DBV_STR };

struct db_value {
	enum db_value_type	 type;
	long long		 i;
	const char		*s;	/* NUL-terminated; copied at submit;
					   NULL is SQL NULL */
};

struct db_step {
	int		 stmt;		/* index into the pool's statements */
	struct db_value	 params[DB_ASYNC_PARAMS_MAX];
	int		 nparams;	/* must match the statement's markers */
};

/* Valid only during the callback. */
struct db_result {
	int		 status;	/* 0 ok, -1 failed */
	const char	*error;		/* when failed: a message for the log;
					   starts with "timed out" on timeout */
	unsigned long long affected_rows; /* of the last step (a SELECT's:
					     its rows) */
	int		 nrows, ncols;	/* the last step's result set, if any */
	const char *const *cells;	/* nrows * ncols, row-major; NULL is
					   SQL NULL; strings NUL-terminated */
	int		 truncated;	/* a cell was cut (DB_ASYNC_CELL_MAX) */
};

typedef void (*db_async_cb)(const struct db_result *, void *arg);

struct db_async;

/*
 * A pool of nconn connections (1..DB_ASYNC_CONN_MAX) that prepare the
 * nstmts statements sql[] (static text) on every connection.  Connecting
 * starts on the next loop turn.  NULL on bad arguments or out of memory.
 */
struct db_async	*db_async_new(struct event_base *, const struct conf *,
		    const char *const *sql, int nstmts, int nconn);

/*
 * Queue a job of nsteps (1..DB_ASYNC_STEPS_MAX) steps.  Jobs with the same
 * non-zero order_key run in submission order, on the connection the key
 * hashes to; order_key 0 runs on any connection.  The job fails ("timed
 * out") when not finished timeout_ms (> 0) after submission, queue time
 * included; the connection it was running on is then closed and reopened.
 * cb may be NULL; it is called exactly once for an accepted job.  Params
 * are copied.  Returns 0, or -1 when the queue is full
 * (DB_ASYNC_QUEUE_MAX jobs or DB_ASYNC_QUEUE_BYTES_MAX bytes), the pool is
 * shutting down, or an argument is out of range; then cb is not called.
 */
int		 db_async_submit(struct db_async *, const struct db_step *steps,
		    int nsteps, uint64_t order_key, int timeout_ms,
		    db_async_cb cb, void *arg);

/* Connections ready for queries right now, for health and metrics. */
int		 db_async_connected(const struct db_async *);

/* Jobs submitted and not yet finished (queued or running). */
int		 db_async_pending(const struct db_async *);

/*
 * Stop: refuse new jobs, let the pending ones finish for up to deadline_ms,
 * then fail the rest ("shutting down"), close every connection and call
 * done(arg) once, from the event loop, when all are closed.  done may free
 * the pool.  A second call does nothing.
 */
void		 db_async_shutdown(struct db_async *, int deadline_ms,
		    void (*done)(void *), void *arg);

/*
 * Free the pool at once: connections are cut, pending jobs are dropped
 * without their callbacks.  Use after done, or on an error path.
 */
void		 db_async_free(struct db_async *);

#endif
