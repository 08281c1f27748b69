/*
 * db_async: MariaDB through Connector/C's non-blocking API, driven by a
 * libevent event_base (see db_async.h).
 *
 * Each connection is a state machine (enum conn_state, changed only by
 * conn_set_state()) with at most one library operation in flight
 * (enum conn_op).  conn_drive() takes the status a mysql_*_start() or
 * _cont() returned: while operations complete at once it moves on in a
 * loop, never by recursion (a result of many rows would otherwise grow the
 * stack), and when the library has to wait it parks the connection on its
 * event.  Jobs reach idle connections only from pool_kick_cb(), on a loop
 * turn of their own, so a callback that submits never re-enters a
 * connection in the middle of its work; callbacks run at points where the
 * connection's state is already settled.
 *
 * An operation that must be abandoned (job timeout, shutdown deadline) is
 * finished by continuing it with MYSQL_WAIT_TIMEOUT, which makes the
 * library fail its pending read or write and drop the socket, then the
 * connection is closed: a suspended operation is never left behind.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "buf.h"
#include "db.h"
#include "db_async.h"
#include "log.h"

#define DB_ASYNC_BACKOFF_MIN_MS	100	/* first delay before reconnecting */
#define DB_ASYNC_BACKOFF_MAX_MS	5000	/* ... doubling up to this */
#define DB_ASYNC_SCRATCH	256	/* per-column fetch buffer; a longer
					   cell is fetched again, whole */
#define DB_ASYNC_ABORT_TRIES	8	/* _cont() calls to end an operation */
#define DB_ASYNC_LOG_INTERVAL_MS 60000	/* one message logged once per */
#define DB_ASYNC_LOG_SLOTS	8	/* messages remembered for that */
#define DB_ASYNC_KEEP		(64 * 1024)	/* larger result buffers are
						   freed after the job */
#define DB_ASYNC_MSG_MAX	(DB_ERR_MAX + 128)

static const char db_version_sql[] =
    "SELECT COALESCE(MAX(version), 0) FROM schema_version";

struct conn;

/*
 * The evdns base and the lookups in flight.  libevent 2.1 reports a
 * cancelled lookup on a later loop turn and needs the evdns base then, so
 * when db_async_free() leaves lookups behind, this outlives the pool and
 * the last report frees it.
 */
struct db_dns {
	struct evdns_base	*base;
	int			 inflight;
	bool			 orphan;	/* the pool is gone */
};

/* One lookup; conn is NULL once it was cancelled. */
struct lookup {
	struct db_dns		*dns;
	struct db_async		*pool;		/* unless dns->orphan */
	struct conn		*conn;
};

/* A submitted job; freed after its callback (or by db_async_free()). */
struct job {
	TAILQ_ENTRY(job)	 entry;		/* in *queue while waiting */
	struct db_async		*pool;
	struct job_queue	*queue;		/* waiting here, or NULL */
	struct conn		*conn;		/* running here, or NULL */
	uint64_t		 seq;		/* submission order */
	struct event		*timer;		/* the job's timeout */
	int			 timeout_ms;
	db_async_cb		 cb;
	void			*arg;
	size_t			 bytes;		/* copied strings */
	int			 nsteps;
	struct db_step		 steps[];	/* then the strings */
};
TAILQ_HEAD(job_queue, job);

enum conn_state {
	CONN_DOWN,		/* no connection; retry timer pending */
	CONN_RESOLVING,		/* looking the host name up (evdns) */
	CONN_CONNECTING,	/* mysql_real_connect_start/_cont */
	CONN_CHECKING,		/* reading the schema version */
	CONN_PREPARING,		/* preparing the pool's statements */
	CONN_IDLE,		/* ready; the socket watched for EOF */
	CONN_BUSY,		/* running c->job */
	CONN_CLOSING,		/* mysql_close_start/_cont */
	CONN_CLOSED,		/* closed for good (shutdown) */
};

static const char *const conn_state_names[] = {
	"down", "resolving", "connecting", "checking", "preparing", "idle",
	"busy", "closing", "closed",
};

/* The library operation in flight; its result is in ret/bret/mret. */
enum conn_op {
	OP_NONE,
	OP_DONE,	/* nothing to wait for: go on to the next step */
	OP_CONNECT,
	OP_PREPARE,
	OP_EXECUTE,
	OP_STORE,
	OP_FETCH,
	OP_FREE,
	OP_CLOSE,
};

/* One connection of the pool; owned by the pool, event_base thread only. */
struct conn {
	struct db_async		*pool;
	int			 id;		/* 1.. in log lines */
	enum conn_state		 state;
	enum conn_op		 op;
	MYSQL			*m;
	MYSQL_STMT		*check;		/* the schema version query */
	MYSQL_STMT		**stmts;	/* the pool's statements */
	int			 nprepared;
	struct event		*ev;		/* socket wait or idle watch */
	struct event		*retry;		/* reconnection timer */
	int			 backoff_ms;	/* next reconnection delay */
	struct evdns_getaddrinfo_request *dnsreq;
	struct lookup		*lookup;	/* with dnsreq */
	char			 addr[INET6_ADDRSTRLEN];
	struct job_queue	 queue;		/* keyed jobs hashing here */

	/* What is running: the schema check, or step `step` of job. */
	struct job		*job;
	int			 step;
	MYSQL_STMT		*st;
	bool			 waited_timeout;	/* last wait expired */
	bool			 has_result;	/* st holds a stored result */
	bool			 collect;	/* copy this step's rows */
	bool			 failed;	/* err says why */
	bool			 broken;	/* ... and the connection too */
	char			 err[DB_ASYNC_MSG_MAX];
	int			 ret;
	my_bool			 bret;
	MYSQL			*mret;
	unsigned long long	 affected;

	MYSQL_BIND		 in[DB_ASYNC_PARAMS_MAX];
	unsigned long		 in_len[DB_ASYNC_PARAMS_MAX];
	MYSQL_BIND		 out[DB_ASYNC_COLS_MAX];
	unsigned long		 out_len[DB_ASYNC_COLS_MAX];
	my_bool			 out_null[DB_ASYNC_COLS_MAX];
	my_bool			 out_err[DB_ASYNC_COLS_MAX];
	char			 scratch[DB_ASYNC_COLS_MAX][DB_ASYNC_SCRATCH];

	/* The result set being copied: cell i is data + offs[i]. */
	int			 ncols;
	size_t			 ncells, maxcells;
	size_t			*offs;		/* SIZE_MAX for SQL NULL */
	struct buf		 data;
	char			*big;		/* for long cells */
	size_t			 bigcap;
	bool			 truncated;
};

struct db_async {
	struct event_base	*base;
	const char *const	*sql;
	int			 nstmts;

	/* Copied from the struct conf. */
	char			*host;		/* NULL: the unix socket */
	char			*socket;
	char			*user;
	char			*password;
	char			*name;
	unsigned int		 port;
	unsigned int		 connect_timeout, read_timeout, write_timeout;
	struct db_dns		*dns;		/* when host is a name */

	struct conn		 conns[DB_ASYNC_CONN_MAX];
	int			 nconn;
	struct job_queue	 shared;	/* jobs with order_key 0 */
	int			 njobs;		/* queued or running */
	size_t			 nbytes;	/* their strings */
	uint64_t		 seq;
	struct event		*kick;		/* dispatch on the next turn */

	bool			 shutting_down;	/* no new jobs */
	bool			 closing_all;	/* no new connections */
	struct event		*deadline;
	struct event		*done_ev;
	void			(*done)(void *);
	void			*done_arg;
	bool			 done_scheduled;

	/* Failures since the last success, and what was logged. */
	bool			 trouble;
	bool			 told;		/* the episode was logged */
	unsigned		 failures;
	struct logged {
		char		 msg[DB_ASYNC_MSG_MAX];
		int64_t		 when;		/* mono_ms() */
		unsigned	 suppressed;
	}			 logged[DB_ASYNC_LOG_SLOTS];
};

static void	conn_drive(struct conn *, int);
static int	conn_close(struct conn *, bool);
static void	conn_closed(struct conn *);
static int	conn_dispatch(struct conn *);
static int	conn_prepare_next(struct conn *);
static int	step_start(struct conn *);
static void	pool_kick(struct db_async *);
static void	pool_close_all(struct db_async *);

/* ------------------------------------------------------------ logging */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Log msg at most once per DB_ASYNC_LOG_INTERVAL_MS: a dead database with
 * 200 calls gives a few lines, not 200.  Returns whether it was logged.
 */
static bool
pool_log(struct db_async *p, int prio, const char *msg)
{
	struct logged	*l, *oldest = &p->logged[0];
	int64_t		 now = mono_ms();
	int		 i;

	for (i = 0; i < DB_ASYNC_LOG_SLOTS; i++) {
		l = &p->logged[i];
		if (strcmp(l->msg, msg) == 0)
			break;
		if (l->when < oldest->when)
			oldest = l;
	}
	if (i == DB_ASYNC_LOG_SLOTS) {
		l = oldest;
		snprintf(l->msg, sizeof(l->msg), "%s", msg);
		l->suppressed = 0;
	} else if (now - l->when < DB_ASYNC_LOG_INTERVAL_MS) {
		l->suppressed++;
		return false;
	}
	if (l->suppressed > 0)
		log_msg(prio, "database: %s (and %u times since it was last "
		    "logged)", msg, l->suppressed);
	else
		log_msg(prio, "database: %s", msg);
	l->when = now;
	l->suppressed = 0;
	return true;
}

/* A failure: logged (see pool_log), it starts or extends an episode. */
static void __attribute__((format(printf, 3, 4)))
pool_trouble(struct db_async *p, int prio, const char *fmt, ...)
{
	char	 msg[DB_ASYNC_MSG_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!p->trouble) {
		p->trouble = true;
		p->failures = 0;
		p->told = false;
	}
	p->failures++;
	if (pool_log(p, prio, msg))
		p->told = true;
}

/* Something worked: the episode is over; say so if it was reported. */
static void
pool_recovered(struct db_async *p)
{
	if (!p->trouble)
		return;
	if (p->told)
		log_notice("database: working again (%u failure%s since the "
		    "first report)", p->failures, p->failures == 1 ? "" : "s");
	p->trouble = false;
}

/* ------------------------------------------------------------ jobs */

/* Hash a key to a connection; keys are often small consecutive ids. */
static int
key_slot(uint64_t k, int n)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return (int)(k % (uint64_t)n);
}

/* The job is out of every queue and connection: report and free it. */
static void
job_finish(struct job *j, const struct db_result *r)
{
	struct db_async *p = j->pool;

	assert(j->queue == NULL && j->conn == NULL);
	p->njobs--;
	p->nbytes -= j->bytes;
	event_free(j->timer);
	if (j->cb != NULL)
		j->cb(r, j->arg);
	else if (r->status != 0 && strncmp(r->error, "timed out", 9) != 0 &&
	    strcmp(r->error, "shutting down") != 0)
		log_warn("database: a query failed: %s", r->error);
	free(j);
	if (p->shutting_down && p->njobs == 0)
		pool_kick(p);
}

static void
job_fail(struct job *j, const char *why)
{
	struct db_result r;

	memset(&r, 0, sizeof(r));
	r.status = -1;
	r.error = why;
	job_finish(j, &r);
}

static void
job_unqueue(struct job *j)
{
	TAILQ_REMOVE(j->queue, j, entry);
	j->queue = NULL;
}

/* ------------------------------------------------------------ states */

static void
conn_set_state(struct conn *c, enum conn_state s)
{
	static const unsigned allowed[] = {
		[CONN_DOWN] = 1u << CONN_RESOLVING | 1u << CONN_CONNECTING |
		    1u << CONN_CLOSED | 1u << CONN_DOWN,
		[CONN_RESOLVING] = 1u << CONN_CONNECTING | 1u << CONN_DOWN |
		    1u << CONN_CLOSED,
		[CONN_CONNECTING] = 1u << CONN_CHECKING | 1u << CONN_CLOSING,
		[CONN_CHECKING] = 1u << CONN_PREPARING | 1u << CONN_CLOSING,
		[CONN_PREPARING] = 1u << CONN_IDLE | 1u << CONN_CLOSING,
		[CONN_IDLE] = 1u << CONN_BUSY | 1u << CONN_CLOSING,
		[CONN_BUSY] = 1u << CONN_IDLE | 1u << CONN_CLOSING,
		[CONN_CLOSING] = 1u << CONN_DOWN | 1u << CONN_CLOSED,
		[CONN_CLOSED] = 0,
	};

	assert(allowed[c->state] & (1u << s));
	if (log_get_level() >= LOG_DEBUG)
		log_debug("database: connection %d: %s -> %s", c->id,
		    conn_state_names[c->state], conn_state_names[s]);
	c->state = s;
}

/* ------------------------------------------------------------ operations */

/*
 * Each op_*() starts one library call and returns what it returned: 0 when
 * it finished at once, else the MYSQL_WAIT_* events it waits for.
 */
static int
op_connect(struct conn *c, const char *host)
{
	struct db_async *p = c->pool;

	c->op = OP_CONNECT;
	c->waited_timeout = false;
	return mysql_real_connect_start(&c->mret, c->m, host, p->user,
	    p->password, p->name, host != NULL ? p->port : 0,
	    host != NULL ? NULL : p->socket, 0);
}

static int
op_prepare(struct conn *c, MYSQL_STMT *st, const char *sql)
{
	c->op = OP_PREPARE;
	c->st = st;
	c->waited_timeout = false;
	return mysql_stmt_prepare_start(&c->ret, st, sql,
	    (unsigned long)strlen(sql));
}

static int
op_execute(struct conn *c)
{
	c->op = OP_EXECUTE;
	c->waited_timeout = false;
	return mysql_stmt_execute_start(&c->ret, c->st);
}

static int
op_store(struct conn *c)
{
	c->op = OP_STORE;
	c->waited_timeout = false;
	return mysql_stmt_store_result_start(&c->ret, c->st);
}

/* On a stored result this only reads memory, but costs little. */
static int
op_fetch(struct conn *c)
{
	c->op = OP_FETCH;
	c->waited_timeout = false;
	return mysql_stmt_fetch_start(&c->ret, c->st);
}

static int
op_free(struct conn *c)
{
	c->op = OP_FREE;
	c->waited_timeout = false;
	return mysql_stmt_free_result_start(&c->bret, c->st);
}

static int
op_close(struct conn *c)
{
	c->op = OP_CLOSE;
	c->waited_timeout = false;
	return mysql_close_start(c->m);
}

/* Nothing to wait for; conn_drive() goes on with the next step. */
static int
op_done(struct conn *c)
{
	c->op = OP_DONE;
	return 0;
}

static int
op_cont(struct conn *c, int ready)
{
	switch (c->op) {
	case OP_CONNECT:
		return mysql_real_connect_cont(&c->mret, c->m, ready);
	case OP_PREPARE:
		return mysql_stmt_prepare_cont(&c->ret, c->st, ready);
	case OP_EXECUTE:
		return mysql_stmt_execute_cont(&c->ret, c->st, ready);
	case OP_STORE:
		return mysql_stmt_store_result_cont(&c->ret, c->st, ready);
	case OP_FETCH:
		return mysql_stmt_fetch_cont(&c->ret, c->st, ready);
	case OP_FREE:
		return mysql_stmt_free_result_cont(&c->bret, c->st, ready);
	case OP_CLOSE:
		return mysql_close_cont(c->m, ready);
	case OP_NONE:
	case OP_DONE:
		break;
	}
	return 0;
}

/* ------------------------------------------------------------ waiting */

static void
conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	int		 ready = 0;

	(void)fd;
	if (what & EV_READ)
		ready |= MYSQL_WAIT_READ;
	if (what & EV_WRITE)
		ready |= MYSQL_WAIT_WRITE;
	if (what & EV_TIMEOUT) {
		ready |= MYSQL_WAIT_TIMEOUT;
		c->waited_timeout = true;
	}
	conn_drive(c, op_cont(c, ready));
}

/* Wait for what the library asked: the socket, a timeout, or both. */
static void
conn_wait(struct conn *c, int status)
{
	struct timeval	 tv;
	short		 what = 0;
	my_socket	 fd = mysql_get_socket(c->m);
	unsigned int	 ms;

	if (status & MYSQL_WAIT_READ)
		what |= EV_READ;
	if (status & MYSQL_WAIT_WRITE)
		what |= EV_WRITE;
	if ((status & MYSQL_WAIT_EXCEPT) && what == 0)
		what |= EV_READ;	/* errors and hang-ups wake readers */
	if (fd == MARIADB_INVALID_SOCKET) {
		/* Cannot happen; end the operation rather than hang. */
		what = 0;
		status |= MYSQL_WAIT_TIMEOUT;
		ms = 0;
	} else
		ms = mysql_get_timeout_value_ms(c->m);
	event_del(c->ev);
	event_assign(c->ev, c->pool->base, what != 0 ? fd : -1, what,
	    conn_io_cb, c);
	if (status & MYSQL_WAIT_TIMEOUT) {
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		event_add(c->ev, &tv);
	} else
		event_add(c->ev, NULL);
}

/* The server sent something to an idle connection: it is closing it. */
static void
conn_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	/* Normal after wait_timeout; a dead server shows when reconnecting. */
	pool_log(c->pool, LOG_INFO, "the server closed an idle connection; "
	    "reconnecting");
	conn_drive(c, conn_close(c, true));
}

static void
conn_watch_idle(struct conn *c)
{
	my_socket fd = mysql_get_socket(c->m);

	event_del(c->ev);
	if (fd == MARIADB_INVALID_SOCKET)
		return;
	event_assign(c->ev, c->pool->base, fd, EV_READ, conn_idle_cb, c);
	event_add(c->ev, NULL);
}

/* Make every read and write of the connection fail at once. */
static void
conn_cut(struct conn *c)
{
	my_socket fd;

	if (c->m == NULL)
		return;
	fd = mysql_get_socket(c->m);
	if (fd != MARIADB_INVALID_SOCKET)
		shutdown(fd, SHUT_RDWR);
}

/* Close the statements of a connection whose MYSQL is closed: no I/O. */
static void
conn_release(struct conn *c)
{
	int i;

	for (i = 0; i < c->pool->nstmts; i++) {
		if (c->stmts[i] != NULL)
			mysql_stmt_close(c->stmts[i]);
		c->stmts[i] = NULL;
	}
	if (c->check != NULL)
		mysql_stmt_close(c->check);
	c->check = NULL;
	c->m = NULL;
	c->st = NULL;
	c->has_result = false;
}

/*
 * End the operation in flight now: continuing it with MYSQL_WAIT_TIMEOUT
 * makes its pending read or write fail, and the library then drops the
 * socket.  The connection must be closed afterwards.
 */
static void
conn_abort(struct conn *c)
{
	enum conn_op	 op = c->op;
	int		 i, status = 1;

	event_del(c->ev);
	if (op == OP_NONE || op == OP_DONE) {
		c->op = OP_NONE;
		return;
	}
	for (i = 0; i < DB_ASYNC_ABORT_TRIES && status != 0; i++) {
		if (i == DB_ASYNC_ABORT_TRIES / 2)
			conn_cut(c);
		c->waited_timeout = true;
		status = op_cont(c, MYSQL_WAIT_TIMEOUT);
	}
	c->op = OP_NONE;
	if (status != 0) {
		/* Never seen; leaking beats blocking or freeing live memory. */
		log_err("database: connection %d: an abandoned operation does "
		    "not end; leaking the connection", c->id);
		memset(c->stmts, 0,
		    sizeof(*c->stmts) * (size_t)c->pool->nstmts);
		c->check = NULL;
		c->m = NULL;
		c->has_result = false;
	} else if (op == OP_CLOSE)
		conn_release(c);	/* mysql_close() finished */
}

/* ------------------------------------------------------------ connecting */

static int
conn_connect(struct conn *c, const char *host)
{
	struct db_async	*p = c->pool;
	my_bool		 off = 0;

	if ((c->m = mysql_init(NULL)) == NULL ||
	    mysql_options(c->m, MYSQL_OPT_NONBLOCK, 0) != 0) {
		pool_trouble(p, LOG_ERR, "cannot set up a connection: out of "
		    "memory");
		mysql_close(c->m);	/* never connected: no I/O */
		c->m = NULL;
		return conn_close(c, false);
	}
	mysql_options(c->m, MYSQL_OPT_CONNECT_TIMEOUT, &p->connect_timeout);
	mysql_options(c->m, MYSQL_OPT_READ_TIMEOUT, &p->read_timeout);
	mysql_options(c->m, MYSQL_OPT_WRITE_TIMEOUT, &p->write_timeout);
	mysql_options(c->m, MYSQL_OPT_RECONNECT, &off);
	mysql_options(c->m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(c->m, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
	conn_set_state(c, CONN_CONNECTING);
	return op_connect(c, host);
}

static void
conn_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct lookup	*l = arg;
	struct db_dns	*dns = l->dns;
	struct db_async	*p = l->pool;
	struct conn	*c = l->conn;
	const void	*a;

	free(l);
	dns->inflight--;
	if (result == EVUTIL_EAI_CANCEL || c == NULL) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		if (dns->orphan) {
			if (dns->inflight == 0) {
				evdns_base_free(dns->base, 0);
				free(dns);
			}
		} else if (p->shutting_down)
			pool_kick(p);	/* done waits for this report */
		return;
	}
	c->dnsreq = NULL;
	c->lookup = NULL;
	if (result != 0 || ai == NULL) {
		pool_trouble(p, LOG_ERR, "cannot resolve %s: %s", p->host,
		    evutil_gai_strerror(result));
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		conn_drive(c, conn_close(c, false));
		return;
	}
	if (ai->ai_family == AF_INET6)
		a = &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr;
	else
		a = &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr;
	if (evutil_inet_ntop(ai->ai_family, a, c->addr, sizeof(c->addr)) ==
	    NULL)
		c->addr[0] = '\0';
	evutil_freeaddrinfo(ai);
	conn_drive(c, conn_connect(c, c->addr));
}

/* Forget the lookup in flight; its report comes later, or has come. */
static void
conn_cancel_lookup(struct conn *c)
{
	struct evdns_getaddrinfo_request *req = c->dnsreq;

	if (c->lookup == NULL)
		return;
	c->lookup->conn = NULL;
	c->lookup = NULL;
	c->dnsreq = NULL;
	if (req != NULL)
		evdns_getaddrinfo_cancel(req);
}

/* Start (re)opening a connection. */
static void
conn_open(struct conn *c)
{
	struct db_async			*p = c->pool;
	struct evutil_addrinfo		 hints;
	struct evdns_getaddrinfo_request *req;
	struct lookup			*l;

	if (p->closing_all) {
		conn_set_state(c, CONN_CLOSED);
		pool_kick(p);
		return;
	}
	if (p->dns == NULL) {
		conn_drive(c, conn_connect(c, p->host));
		return;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		pool_trouble(p, LOG_ERR, "cannot resolve %s: out of memory",
		    p->host);
		conn_closed(c);
		return;
	}
	l->dns = p->dns;
	l->pool = p;
	l->conn = c;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	conn_set_state(c, CONN_RESOLVING);
	c->lookup = l;
	p->dns->inflight++;
	req = evdns_getaddrinfo(p->dns->base, p->host, NULL, &hints,
	    conn_resolved, l);
	/* NULL: answered at once, and conn_resolved() has run. */
	if (req != NULL && c->lookup == l)
		c->dnsreq = req;
}

static void
conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_open(arg);
}

/* The connection is closed (or never opened): retry later, or stay closed. */
static void
conn_closed(struct conn *c)
{
	struct db_async	*p = c->pool;
	struct timeval	 tv;

	if (p->closing_all) {
		conn_set_state(c, CONN_CLOSED);
		pool_kick(p);	/* perhaps the last one: see pool_kick_cb */
		return;
	}
	conn_set_state(c, CONN_DOWN);
	tv.tv_sec = c->backoff_ms / 1000;
	tv.tv_usec = (c->backoff_ms % 1000) * 1000;
	evtimer_add(c->retry, &tv);
	c->backoff_ms *= 2;
	if (c->backoff_ms > DB_ASYNC_BACKOFF_MAX_MS)
		c->backoff_ms = DB_ASYNC_BACKOFF_MAX_MS;
}

/*
 * Close c (bad: its socket is cut first, so that nothing waits on a server
 * that stalled); returns the status of mysql_close_start().
 */
static int
conn_close(struct conn *c, bool bad)
{
	event_del(c->ev);
	conn_cancel_lookup(c);
	if (c->m == NULL) {
		conn_closed(c);
		return 0;
	}
	if (bad)
		conn_cut(c);
	conn_set_state(c, CONN_CLOSING);
	return op_close(c);
}

/* Connected, checked and prepared. */
static int
conn_ready(struct conn *c)
{
	conn_set_state(c, CONN_IDLE);
	c->backoff_ms = DB_ASYNC_BACKOFF_MIN_MS;
	pool_recovered(c->pool);
	return conn_dispatch(c);
}

static int
conn_schema_bad(struct conn *c, int found)
{
	char advice[DB_ERR_MAX];

	db_schema_advice(found, advice, sizeof(advice));
	pool_trouble(c->pool, LOG_ERR, "%s", advice);
	return conn_close(c, false);
}

static int
conn_prepare_next(struct conn *c)
{
	struct db_async	*p = c->pool;
	MYSQL_STMT	*st;

	if (c->nprepared == p->nstmts)
		return conn_ready(c);
	if ((st = mysql_stmt_init(c->m)) == NULL) {
		pool_trouble(p, LOG_ERR, "cannot prepare a statement: %s",
		    mysql_error(c->m));
		return conn_close(c, true);
	}
	c->stmts[c->nprepared] = st;
	return op_prepare(c, st, p->sql[c->nprepared]);
}

/* The connection is being set up and the schema check finished. */
static int
check_end(struct conn *c)
{
	long v = 0;

	if (c->failed) {
		pool_trouble(c->pool, LOG_ERR, "cannot read the schema "
		    "version: %s", c->err);
		return conn_close(c, c->broken);
	}
	if (c->ncells >= 1 && c->offs[0] != SIZE_MAX)
		v = strtol(c->data.data + c->offs[0], NULL, 10);
	if (v != DB_SCHEMA_VERSION)
		return conn_schema_bad(c, (int)v);
	conn_set_state(c, CONN_PREPARING);
	c->nprepared = 0;
	return conn_prepare_next(c);
}

/* ------------------------------------------------------------ running */

static bool
error_breaks_connection(unsigned int e)
{
	return db_error_is_connection(e) ||
	    (e >= CR_MIN_ERROR && e <= CR_MAX_ERROR) ||
	    (e >= CER_MIN_ERROR && e <= CER_MAX_ERROR);
}

/* Build the callback's result and report the job. */
static void
conn_report(struct conn *c, struct job *j)
{
	struct db_result	 r;
	char			*block = NULL;
	const char		**cells;
	size_t			 i, ptrs;

	memset(&r, 0, sizeof(r));
	if (c->failed) {
		r.status = -1;
		r.error = c->err;
		job_finish(j, &r);
		return;
	}
	r.affected_rows = c->affected;
	if (c->collect && c->ncols > 0) {
		/* One allocation: the cell pointers, then the strings. */
		ptrs = c->ncells * sizeof(char *);
		if ((block = malloc(ptrs + c->data.len + 1)) == NULL) {
			r.status = -1;
			r.error = "out of memory";
			job_finish(j, &r);
			return;
		}
		cells = (const char **)(void *)block;
		if (c->data.len > 0)
			memcpy(block + ptrs, c->data.data, c->data.len);
		for (i = 0; i < c->ncells; i++)
			cells[i] = c->offs[i] == SIZE_MAX ? NULL :
			    block + ptrs + c->offs[i];
		r.ncols = c->ncols;
		r.nrows = (int)(c->ncells / (size_t)c->ncols);
		r.cells = cells;
		r.truncated = c->truncated;
	}
	job_finish(j, &r);
	free(block);
}

/* The check or the job is over, well or not. */
static int
task_end(struct conn *c)
{
	struct db_async	*p = c->pool;
	struct job	*j = c->job;
	bool		 broken = c->failed && c->broken;
	int		 status = 0;

	if (c->state == CONN_CHECKING)
		return check_end(c);
	c->job = NULL;
	j->conn = NULL;
	if (broken) {
		pool_trouble(p, LOG_WARNING, "lost a connection: %s; "
		    "reconnecting", c->err);
		status = conn_close(c, true);
	} else
		conn_set_state(c, CONN_IDLE);
	if (!c->failed)
		pool_recovered(p);
	/* The callback may submit or shut down; both only kick the pool. */
	conn_report(c, j);
	if (c->bigcap > DB_ASYNC_KEEP) {
		free(c->big);
		c->big = NULL;
		c->bigcap = 0;
	}
	return broken ? status : conn_dispatch(c);
}

static int
step_fail(struct conn *c, bool broken, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fail the running task; a stored result is freed first. */
static int
step_fail(struct conn *c, bool broken, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->failed = true;
	c->broken = broken;
	if (!broken && c->has_result)
		return op_free(c);
	return op_done(c);
}

/* The library call on c->st failed. */
static int
step_error(struct conn *c)
{
	unsigned int	 e = mysql_stmt_errno(c->st);
	const char	*msg = mysql_stmt_error(c->st);

	if (e == 0) {
		e = mysql_errno(c->m);
		msg = mysql_error(c->m);
	}
	if (e == 0) {
		e = CR_UNKNOWN_ERROR;
		msg = "unknown error";
	}
	if (c->waited_timeout)
		return step_fail(c, true, "no answer from the server in time "
		    "(%s)", msg);
	return step_fail(c, error_breaks_connection(e), "%s", msg);
}

static int
step_done(struct conn *c)
{
	if (c->state == CONN_CHECKING || ++c->step == c->job->nsteps)
		return op_done(c);
	return step_start(c);
}

/* Bind the parameters of the current step and execute it. */
static int
step_start(struct conn *c)
{
	struct db_step	*s;
	unsigned long	 want;
	int		 i;

	c->has_result = false;
	c->collect = false;
	c->failed = c->broken = false;
	c->ncols = 0;
	c->ncells = 0;
	c->truncated = false;
	c->affected = 0;
	if (c->state == CONN_CHECKING) {
		c->st = c->check;
		return op_execute(c);
	}
	s = &c->job->steps[c->step];
	c->st = c->stmts[s->stmt];
	want = mysql_stmt_param_count(c->st);
	if (want != (unsigned long)s->nparams)
		return step_fail(c, false, "statement %d takes %lu parameters, "
		    "not %d", s->stmt, want, s->nparams);
	memset(c->in, 0, sizeof(c->in));
	for (i = 0; i < s->nparams; i++) {
		MYSQL_BIND		*b = &c->in[i];
		struct db_value		*v = &s->params[i];

		switch (v->type) {
		case DBV_INT:
			b->buffer_type = MYSQL_TYPE_LONGLONG;
			b->buffer = &v->i;
			break;
		case DBV_STR:
			if (v->s == NULL) {
				b->buffer_type = MYSQL_TYPE_NULL;
				break;
			}
			c->in_len[i] = (unsigned long)strlen(v->s);
			b->buffer_type = MYSQL_TYPE_STRING;
			b->buffer = (void *)(uintptr_t)v->s;
			b->buffer_length = c->in_len[i];
			b->length = &c->in_len[i];
			break;
		case DBV_NULL:
		default:
			b->buffer_type = MYSQL_TYPE_NULL;
			break;
		}
	}
	if (s->nparams > 0 && mysql_stmt_bind_param(c->st, c->in) != 0)
		return step_fail(c, false, "%s", mysql_stmt_error(c->st));
	return op_execute(c);
}

/* Executed: note the counts, bind the columns to copy, store the rows. */
static int
step_executed(struct conn *c)
{
	unsigned int	 n, i;

	c->affected = (unsigned long long)mysql_stmt_affected_rows(c->st);
	if ((n = mysql_stmt_field_count(c->st)) == 0)
		return step_done(c);
	c->collect = c->state == CONN_CHECKING ||
	    c->step == c->job->nsteps - 1;
	if (c->collect && n > DB_ASYNC_COLS_MAX) {
		c->collect = false;
		c->failed = true;
		snprintf(c->err, sizeof(c->err), "the result has %u columns, "
		    "more than %d", n, DB_ASYNC_COLS_MAX);
	}
	if (c->collect) {
		memset(c->out, 0, sizeof(c->out));
		for (i = 0; i < n; i++) {
			MYSQL_BIND *b = &c->out[i];

			b->buffer_type = MYSQL_TYPE_STRING;
			b->buffer = c->scratch[i];
			b->buffer_length = DB_ASYNC_SCRATCH;
			b->length = &c->out_len[i];
			b->is_null = &c->out_null[i];
			b->error = &c->out_err[i];
		}
		if (mysql_stmt_bind_result(c->st, c->out) != 0) {
			c->collect = false;
			c->failed = true;
			snprintf(c->err, sizeof(c->err), "%s",
			    mysql_stmt_error(c->st));
		} else
			c->ncols = (int)n;
	}
	return op_store(c);
}

/* Stored: make room for the rows, or free the result when not copying. */
static int
step_stored(struct conn *c)
{
	unsigned long long	 rows = mysql_stmt_num_rows(c->st);
	size_t			 max;

	c->has_result = true;
	c->affected = rows;	/* a SELECT "affects" the rows it returns */
	if (!c->collect || c->failed)
		return op_free(c);
	/* Every cell costs a pointer and at least its NUL. */
	if (rows > DB_ASYNC_RESULT_MAX / (sizeof(char *) + 1) /
	    (unsigned long long)c->ncols)
		return step_fail(c, false, "the result has %llu rows, more "
		    "than fit in %d bytes", rows, DB_ASYNC_RESULT_MAX);
	c->ncells = 0;
	c->maxcells = (size_t)rows * (size_t)c->ncols;
	free(c->offs);
	if ((c->offs = calloc(c->maxcells + 1, sizeof(*c->offs))) == NULL)
		return step_fail(c, false, "out of memory");
	max = DB_ASYNC_RESULT_MAX - c->maxcells * sizeof(char *);
	if (c->data.cap > DB_ASYNC_KEEP)
		buf_free(&c->data);
	buf_reset(&c->data);
	c->data.max = max;
	return op_fetch(c);
}

/* Copy the row just fetched; -1 when the result grows too large. */
static int
step_copy_row(struct conn *c)
{
	MYSQL_BIND	 b;
	unsigned long	 len, want, got;
	my_bool		 isnull, err;
	int		 i;

	if (c->ncells + (size_t)c->ncols > c->maxcells)
		return -1;
	for (i = 0; i < c->ncols; i++) {
		if (c->out_null[i]) {
			c->offs[c->ncells++] = SIZE_MAX;
			continue;
		}
		c->offs[c->ncells++] = c->data.len;
		len = c->out_len[i];
		if (len <= DB_ASYNC_SCRATCH) {
			if (buf_append(&c->data, c->scratch[i], len) == -1 ||
			    buf_append(&c->data, "", 1) == -1)
				return -1;
			continue;
		}
		/* Too long for the scratch buffer: fetch it again, whole. */
		want = len;
		if (want > DB_ASYNC_CELL_MAX) {
			want = DB_ASYNC_CELL_MAX;
			c->truncated = true;
		}
		if (c->bigcap < want) {
			char *nb = realloc(c->big, want);

			if (nb == NULL)
				return -1;
			c->big = nb;
			c->bigcap = want;
		}
		memset(&b, 0, sizeof(b));
		b.buffer_type = MYSQL_TYPE_STRING;
		b.buffer = c->big;
		b.buffer_length = want;
		b.length = &got;
		b.is_null = &isnull;
		b.error = &err;
		/* Reads the stored row: no I/O. */
		if (mysql_stmt_fetch_column(c->st, &b, (unsigned int)i, 0) != 0)
			return -1;
		if (buf_append(&c->data, c->big, want) == -1 ||
		    buf_append(&c->data, "", 1) == -1)
			return -1;
	}
	return 0;
}

static int
step_fetched(struct conn *c)
{
	if (c->ret == MYSQL_NO_DATA)
		return op_free(c);
	if (c->ret != 0 && c->ret != MYSQL_DATA_TRUNCATED)
		return step_error(c);
	if (step_copy_row(c) == -1)
		return step_fail(c, false, "the result is larger than %d "
		    "bytes", DB_ASYNC_RESULT_MAX);
	return op_fetch(c);
}

static int
step_freed(struct conn *c)
{
	c->has_result = false;
	if (c->bret != 0 && !c->failed)
		return step_error(c);
	if (c->failed)
		return op_done(c);
	return step_done(c);
}

/*
 * The operation in c->op has finished: act on its result and start the
 * next one.  Returns that one's status; c->op is OP_NONE when nothing runs.
 */
static int
conn_next(struct conn *c)
{
	enum conn_op op = c->op;

	c->op = OP_NONE;
	switch (op) {
	case OP_CONNECT:
		if (c->mret == NULL) {
			pool_trouble(c->pool, LOG_ERR, "cannot connect: %s",
			    mysql_error(c->m));
			return conn_close(c, true);
		}
		conn_set_state(c, CONN_CHECKING);
		if ((c->check = mysql_stmt_init(c->m)) == NULL) {
			pool_trouble(c->pool, LOG_ERR, "cannot prepare a "
			    "statement: %s", mysql_error(c->m));
			return conn_close(c, true);
		}
		return op_prepare(c, c->check, db_version_sql);
	case OP_PREPARE:
		if (c->ret != 0) {
			unsigned int e = mysql_stmt_errno(c->st);

			if (c->state == CONN_CHECKING && e == ER_NO_SUCH_TABLE)
				return conn_schema_bad(c, 0);
			if (c->waited_timeout || error_breaks_connection(e)) {
				pool_trouble(c->pool, LOG_WARNING, "lost a "
				    "connection: %s; reconnecting",
				    mysql_stmt_error(c->st));
				return conn_close(c, true);
			}
			if (c->state == CONN_CHECKING)
				pool_trouble(c->pool, LOG_ERR, "cannot read "
				    "the schema version: %s",
				    mysql_stmt_error(c->st));
			else
				pool_trouble(c->pool, LOG_ERR, "cannot prepare "
				    "statement %d: %s", c->nprepared,
				    mysql_stmt_error(c->st));
			return conn_close(c, false);
		}
		if (c->state == CONN_CHECKING)
			return step_start(c);
		c->nprepared++;
		return conn_prepare_next(c);
	case OP_EXECUTE:
		if (c->ret != 0)
			return step_error(c);
		return step_executed(c);
	case OP_STORE:
		if (c->ret != 0)
			return step_error(c);
		return step_stored(c);
	case OP_FETCH:
		return step_fetched(c);
	case OP_FREE:
		return step_freed(c);
	case OP_DONE:
		return task_end(c);
	case OP_CLOSE:
		conn_release(c);
		conn_closed(c);
		return 0;
	case OP_NONE:
		break;
	}
	return 0;
}

static void
conn_drive(struct conn *c, int status)
{
	while (status == 0 && c->op != OP_NONE)
		status = conn_next(c);
	if (status != 0)
		conn_wait(c, status);
}

/* ------------------------------------------------------------ dispatch */

/* The oldest job this connection may run: its own keys, or key 0. */
static struct job *
conn_next_job(struct conn *c)
{
	struct job *a = TAILQ_FIRST(&c->queue);
	struct job *b = TAILQ_FIRST(&c->pool->shared);

	if (a != NULL && b != NULL)
		return a->seq < b->seq ? a : b;
	return a != NULL ? a : b;
}

/* c is idle: start its next job, or watch it (or close it at shutdown). */
static int
conn_dispatch(struct conn *c)
{
	struct job *j;

	assert(c->state == CONN_IDLE && c->op == OP_NONE);
	if ((j = conn_next_job(c)) == NULL) {
		if (c->pool->closing_all)
			return conn_close(c, false);
		conn_watch_idle(c);
		return 0;
	}
	event_del(c->ev);
	job_unqueue(j);
	j->conn = c;
	c->job = j;
	c->step = 0;
	conn_set_state(c, CONN_BUSY);
	return step_start(c);
}

static void
pool_kick(struct db_async *p)
{
	event_active(p->kick, EV_TIMEOUT, 0);
}

static void
pool_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_async *p = arg;

	(void)fd;
	(void)what;
	/* Last: done may free the pool. */
	if (p->done != NULL)
		p->done(p->done_arg);
}

static void
pool_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_async	*p = arg;
	int		 i, closed = 0;

	(void)fd;
	(void)what;
	for (i = 0; i < p->nconn; i++) {
		struct conn *c = &p->conns[i];

		if (c->state == CONN_IDLE && c->op == OP_NONE)
			conn_drive(c, conn_dispatch(c));
	}
	if (!p->shutting_down)
		return;
	if (!p->closing_all && p->njobs == 0)
		pool_close_all(p);
	for (i = 0; i < p->nconn; i++)
		if (p->conns[i].state == CONN_CLOSED)
			closed++;
	if (closed == p->nconn && (p->dns == NULL || p->dns->inflight == 0) &&
	    p->done_ev != NULL && !p->done_scheduled) {
		/* From an event of its own: done may free the pool. */
		p->done_scheduled = true;
		event_active(p->done_ev, EV_TIMEOUT, 0);
	}
}

/* Fail the waiting jobs of one queue. */
static void
queue_fail(struct job_queue *q, const char *why)
{
	struct job *j;

	while ((j = TAILQ_FIRST(q)) != NULL) {
		job_unqueue(j);
		job_fail(j, why);
	}
}

/* No more connections: close every one (jobs still running fail). */
static void
pool_close_all(struct db_async *p)
{
	int i;

	p->closing_all = true;
	for (i = 0; i < p->nconn; i++) {
		struct conn	*c = &p->conns[i];
		struct job	*j;

		switch (c->state) {
		case CONN_DOWN:
			evtimer_del(c->retry);
			conn_set_state(c, CONN_CLOSED);
			break;
		case CONN_IDLE:
			conn_drive(c, conn_close(c, false));
			break;
		case CONN_BUSY:
			j = c->job;
			c->job = NULL;
			j->conn = NULL;
			conn_abort(c);
			conn_drive(c, conn_close(c, true));
			job_fail(j, "shutting down");
			break;
		case CONN_RESOLVING:
		case CONN_CONNECTING:
		case CONN_CHECKING:
		case CONN_PREPARING:
			conn_abort(c);
			conn_drive(c, conn_close(c, true));
			break;
		case CONN_CLOSING:
		case CONN_CLOSED:
			break;
		}
	}
	pool_kick(p);
}

static void
pool_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db_async	*p = arg;
	int		 i;

	(void)fd;
	(void)what;
	p->closing_all = true;
	queue_fail(&p->shared, "shutting down");
	for (i = 0; i < p->nconn; i++)
		queue_fail(&p->conns[i].queue, "shutting down");
	pool_close_all(p);
}

static void
job_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job	*j = arg;
	struct conn	*c = j->conn;
	char		 why[64];

	(void)fd;
	(void)what;
	snprintf(why, sizeof(why), "timed out after %d ms (%s)",
	    j->timeout_ms, c != NULL ? "running" : "waiting for a connection");
	if (c == NULL) {
		job_unqueue(j);
		pool_trouble(j->pool, LOG_WARNING, "queries time out waiting "
		    "for a connection");
	} else {
		/* The server may have stalled: do not wait for it. */
		pool_trouble(j->pool, LOG_WARNING, "a query ran past its "
		    "timeout; reopening its connection");
		c->job = NULL;
		j->conn = NULL;
		conn_abort(c);
		conn_drive(c, conn_close(c, true));
	}
	job_fail(j, why);
}

/* ------------------------------------------------------------ interface */

static bool
host_is_numeric(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];

	return evutil_inet_pton(AF_INET, host, a) == 1 ||
	    evutil_inet_pton(AF_INET6, host, a) == 1;
}

struct db_async *
db_async_new(struct event_base *base, const struct conf *cf,
    const char *const *sql, int nstmts, int nconn)
{
	struct db_async	*p;
	int		 i;

	if (base == NULL || cf == NULL || nstmts < 0 || (nstmts > 0 &&
	    sql == NULL) || nconn < 1 || nconn > DB_ASYNC_CONN_MAX)
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->base = base;
	p->sql = sql;
	p->nstmts = nstmts;
	p->nconn = nconn;
	p->port = (unsigned int)cf->db_port;
	p->connect_timeout = (unsigned int)cf->db_connect_timeout;
	p->read_timeout = (unsigned int)cf->db_read_timeout;
	p->write_timeout = (unsigned int)cf->db_write_timeout;
	TAILQ_INIT(&p->shared);
	if (strcmp(cf->db_host, "localhost") != 0 &&
	    (p->host = strdup(cf->db_host)) == NULL)
		goto fail;
	if ((p->socket = strdup(cf->db_socket)) == NULL ||
	    (p->user = strdup(cf->db_user)) == NULL ||
	    (p->password = strdup(cf->db_password)) == NULL ||
	    (p->name = strdup(cf->db_name)) == NULL)
		goto fail;
	if (p->host != NULL && !host_is_numeric(p->host)) {
		if ((p->dns = calloc(1, sizeof(*p->dns))) == NULL)
			goto fail;
		p->dns->base = evdns_base_new(base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS);
		if (p->dns->base == NULL)	/* no resolv.conf: hosts only */
			p->dns->base = evdns_base_new(base, 0);
		if (p->dns->base == NULL)
			goto fail;
	}
	if ((p->kick = event_new(base, -1, 0, pool_kick_cb, p)) == NULL)
		goto fail;
	for (i = 0; i < nconn; i++) {
		struct conn *c = &p->conns[i];

		c->pool = p;
		c->id = i + 1;
		c->state = CONN_DOWN;
		c->backoff_ms = DB_ASYNC_BACKOFF_MIN_MS;
		TAILQ_INIT(&c->queue);
		buf_init(&c->data, DB_ASYNC_RESULT_MAX);
		c->stmts = calloc((size_t)nstmts + 1, sizeof(*c->stmts));
		if (c->stmts == NULL ||
		    (c->ev = event_new(base, -1, 0, conn_io_cb, c)) == NULL ||
		    (c->retry = evtimer_new(base, conn_retry_cb, c)) == NULL)
			goto fail;
		/* Connect on the first loop turn. */
		event_active(c->retry, EV_TIMEOUT, 0);
	}
	return p;
fail:
	db_async_free(p);
	return NULL;
}

int
db_async_submit(struct db_async *p, const struct db_step *steps, int nsteps,
    uint64_t order_key, int timeout_ms, db_async_cb cb, void *arg)
{
	struct job		*j;
	struct job_queue	*q;
	struct timeval		 tv;
	size_t			 bytes = 0, len, head;
	char			*s;
	int			 i, k;

	if (p == NULL || p->shutting_down || steps == NULL || nsteps < 1 ||
	    nsteps > DB_ASYNC_STEPS_MAX || timeout_ms <= 0)
		return -1;
	for (i = 0; i < nsteps; i++) {
		const struct db_step *st = &steps[i];

		if (st->stmt < 0 || st->stmt >= p->nstmts ||
		    st->nparams < 0 || st->nparams > DB_ASYNC_PARAMS_MAX)
			return -1;
		for (k = 0; k < st->nparams; k++) {
			if (st->params[k].type != DBV_STR ||
			    st->params[k].s == NULL)
				continue;
			bytes += strlen(st->params[k].s) + 1;
			if (bytes > DB_ASYNC_JOB_BYTES_MAX)
				return -1;
		}
	}
	if (p->njobs >= DB_ASYNC_QUEUE_MAX ||
	    p->nbytes + bytes > DB_ASYNC_QUEUE_BYTES_MAX)
		return -1;

	head = offsetof(struct job, steps) + (size_t)nsteps * sizeof(*steps);
	if ((j = calloc(1, head + bytes)) == NULL)
		return -1;
	j->pool = p;
	j->timeout_ms = timeout_ms;
	j->cb = cb;
	j->arg = arg;
	j->bytes = bytes;
	j->nsteps = nsteps;
	memcpy(j->steps, steps, (size_t)nsteps * sizeof(*steps));
	s = (char *)j + head;
	for (i = 0; i < nsteps; i++) {
		for (k = 0; k < j->steps[i].nparams; k++) {
			struct db_value *v = &j->steps[i].params[k];

			if (v->type != DBV_STR || v->s == NULL)
				continue;
			len = strlen(v->s) + 1;
			memcpy(s, v->s, len);
			v->s = s;
			s += len;
		}
	}
	if ((j->timer = evtimer_new(p->base, job_timeout_cb, j)) == NULL) {
		free(j);
		return -1;
	}
	/* From now, not from the loop's cached time: queue time counts. */
	event_base_update_cache_time(p->base);
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(j->timer, &tv);

	j->seq = ++p->seq;
	q = order_key == 0 ? &p->shared :
	    &p->conns[key_slot(order_key, p->nconn)].queue;
	TAILQ_INSERT_TAIL(q, j, entry);
	j->queue = q;
	p->njobs++;
	p->nbytes += bytes;
	pool_kick(p);
	return 0;
}

int
db_async_connected(const struct db_async *p)
{
	int i, n = 0;

	for (i = 0; i < p->nconn; i++)
		if (p->conns[i].state == CONN_IDLE ||
		    p->conns[i].state == CONN_BUSY)
			n++;
	return n;
}

int
db_async_pending(const struct db_async *p)
{
	return p->njobs;
}

void
db_async_shutdown(struct db_async *p, int deadline_ms, void (*done)(void *),
    void *arg)
{
	struct timeval tv;

	if (p->shutting_down)
		return;
	p->shutting_down = true;
	p->done = done;
	p->done_arg = arg;
	p->done_ev = evtimer_new(p->base, pool_done_cb, p);
	p->deadline = evtimer_new(p->base, pool_deadline_cb, p);
	if (p->done_ev == NULL || p->deadline == NULL) {
		/* Out of memory: no grace period, and done is not called. */
		log_err("database: out of memory while shutting down");
		pool_close_all(p);
		return;
	}
	if (deadline_ms < 0)
		deadline_ms = 0;
	tv.tv_sec = deadline_ms / 1000;
	tv.tv_usec = (deadline_ms % 1000) * 1000;
	evtimer_add(p->deadline, &tv);
	pool_kick(p);
}

static void
jobs_drop(struct job_queue *q)
{
	struct job *j;

	while ((j = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, j, entry);
		event_free(j->timer);
		free(j);
	}
}

void
db_async_free(struct db_async *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nconn; i++) {
		struct conn *c = &p->conns[i];

		if (c->ev != NULL)
			conn_abort(c);
		conn_cancel_lookup(c);
		if (c->m != NULL) {
			/* Cut first: mysql_close() then cannot wait. */
			conn_cut(c);
			mysql_close(c->m);
		}
		if (c->stmts != NULL)
			conn_release(c);
		if (c->job != NULL) {
			event_free(c->job->timer);
			free(c->job);
		}
		jobs_drop(&c->queue);
		if (c->ev != NULL)
			event_free(c->ev);
		if (c->retry != NULL)
			event_free(c->retry);
		free(c->stmts);
		free(c->offs);
		free(c->big);
		buf_free(&c->data);
	}
	jobs_drop(&p->shared);
	if (p->kick != NULL)
		event_free(p->kick);
	if (p->deadline != NULL)
		event_free(p->deadline);
	if (p->done_ev != NULL)
		event_free(p->done_ev);
	if (p->dns != NULL) {
		if (p->dns->inflight > 0)
			p->dns->orphan = true;	/* see struct db_dns */
		else {
			if (p->dns->base != NULL)
				evdns_base_free(p->dns->base, 0);
			free(p->dns);
		}
	}
	if (p->password != NULL)
		explicit_bzero(p->password, strlen(p->password));
	free(p->host);
	free(p->socket);
	free(p->user);
	free(p->password);
	free(p->name);
	free(p);
}
