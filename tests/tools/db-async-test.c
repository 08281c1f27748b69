/*
 * db-async-test: drives media-relay/db_async.c against the private MariaDB
 * of tests/integration/db-async.sh and prints TAP.
 *
 *   db-async-test -c CONFIG -p PIDFILE -r RESTART_SCRIPT
 *
 * CONFIG points at the server, PIDFILE is mariadbd's pid file (the driver
 * stops, continues and kills the server itself, so that its own event loop
 * is what is being watched), RESTART_SCRIPT starts the server again and
 * exits when it answers.  The tables t_* are created by the shell test.
 * Lines "== NAME" on stderr mark the phases for the log checks there.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <mysql.h>

#include "buf.h"
#include "conf.h"
#include "db_async.h"
#include "log.h"
#include "tap.h"

enum {
	S_PEOPLE, S_ISNULL, S_REPEAT, S_BUMP, S_SEQ_INSERT, S_SEQ_CHECK,
	S_ORDER_INSERT, S_ORDER_GET, S_OTHER, S_OTHER_CONNS, S_PEOPLE_INSERT,
	S_SLEEP, S_ONE, S_SET_VERSION, S_AFFECT, S_COUNT
};

static const char *const sql[S_COUNT] = {
	[S_PEOPLE] = "SELECT id, name, note FROM t_people "
	    "WHERE id >= ? AND name <> ? ORDER BY id",
	[S_ISNULL] = "SELECT ? IS NULL, CHAR_LENGTH(?), ?",
	[S_REPEAT] = "SELECT REPEAT('x', ?), 'after'",
	[S_BUMP] = "UPDATE t_counter SET n = LAST_INSERT_ID(n + 1) "
	    "WHERE id = ?",
	[S_SEQ_INSERT] = "INSERT INTO t_seq (counter, seq) "
	    "VALUES (?, LAST_INSERT_ID())",
	[S_SEQ_CHECK] = "SELECT COUNT(*), COUNT(DISTINCT seq), MIN(seq), "
	    "MAX(seq) FROM t_seq WHERE counter = ?",
	[S_ORDER_INSERT] = "INSERT INTO t_order (k, seq, conn) "
	    "VALUES (?, ?, CONNECTION_ID())",
	[S_ORDER_GET] = "SELECT GROUP_CONCAT(seq ORDER BY id SEPARATOR ','), "
	    "COUNT(DISTINCT conn) FROM t_order WHERE k = ?",
	[S_OTHER] = "INSERT INTO t_other (k, v, conn) "
	    "VALUES (?, ?, CONNECTION_ID())",
	[S_OTHER_CONNS] = "SELECT COUNT(*), COUNT(DISTINCT conn) FROM t_other",
	[S_PEOPLE_INSERT] = "INSERT INTO t_people (id, name, note) "
	    "VALUES (?, ?, ?)",
	[S_SLEEP] = "SELECT SLEEP(?)",
	[S_ONE] = "SELECT 1",
	[S_SET_VERSION] = "UPDATE schema_version SET version = ? "
	    "WHERE version = ?",
	[S_AFFECT] = "UPDATE t_people SET note = ? WHERE id > ?",
};

#define NCONN		4
#define EARLY_MS	5	/* libevent's coarse monotonic clock (4 ms
				   ticks) may fire a timer this much early */
#define STALL_MS	2000

static struct event_base	*base;
static struct conf		 cf;
static const char		*pidfile, *restart_script;
static int			 completions;	/* callbacks so far */

/* ------------------------------------------------------------ helpers */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A result, copied out of the callback. */
struct res {
	bool			 done;
	int			 status;
	char			 error[512];
	unsigned long long	 affected;
	int			 nrows, ncols, truncated;
	char			**cells;
	int64_t			 t_submit, t_done;
	int			 order;		/* completion number */
};

static void
res_cb(const struct db_result *r, void *arg)
{
	struct res	*res = arg;
	int		 i, n;

	res->done = true;
	res->t_done = now_ms();
	res->order = ++completions;
	res->status = r->status;
	snprintf(res->error, sizeof(res->error), "%s",
	    r->error != NULL ? r->error : "");
	res->affected = r->affected_rows;
	res->nrows = r->nrows;
	res->ncols = r->ncols;
	res->truncated = r->truncated;
	n = r->nrows * r->ncols;
	if (n > 0 && (res->cells = calloc((size_t)n, sizeof(char *))) != NULL)
		for (i = 0; i < n; i++)
			res->cells[i] = r->cells[i] != NULL ?
			    strdup(r->cells[i]) : NULL;
}

static void
res_free(struct res *res)
{
	int i;

	if (res == NULL)
		return;
	if (res->cells != NULL)
		for (i = 0; i < res->nrows * res->ncols; i++)
			free(res->cells[i]);
	free(res->cells);
	free(res);
}

static const char *
cell(const struct res *res, int row, int col)
{
	if (res->cells == NULL || row >= res->nrows || col >= res->ncols)
		return "(missing)";
	return res->cells[row * res->ncols + col];
}

/* A step: fmt has one letter per parameter: i long long, s string, n NULL. */
static struct db_step
step(int stmt, const char *fmt, ...)
{
	struct db_step	 s;
	va_list		 ap;
	int		 i;

	memset(&s, 0, sizeof(s));
	s.stmt = stmt;
	va_start(ap, fmt);
	for (i = 0; fmt[i] != '\0'; i++) {
		struct db_value *v = &s.params[i];

		if (fmt[i] == 'i') {
			v->type = DBV_INT;
			v->i = va_arg(ap, long long);
		} else if (fmt[i] == 's') {
			v->type = DBV_STR;
			v->s = va_arg(ap, const char *);
		} else
			v->type = DBV_NULL;
	}
	va_end(ap);
	s.nparams = i;
	return s;
}

/* Submit; the result is NULL when refused. */
static struct res *
submit(struct db_async *p, uint64_t key, int timeout_ms, int nsteps,
    const struct db_step *steps)
{
	struct res *res = calloc(1, sizeof(*res));

	if (res == NULL)
		abort();
	res->t_submit = now_ms();
	if (db_async_submit(p, steps, nsteps, key, timeout_ms, res_cb,
	    res) == -1) {
		free(res);
		return NULL;
	}
	return res;
}

static struct res *
submit1(struct db_async *p, uint64_t key, int timeout_ms, struct db_step s)
{
	return submit(p, key, timeout_ms, 1, &s);
}

/* The loop keeps a 10 ms ticker; these record how regularly it ran. */
static int		 ticks;
static int64_t		 last_tick, max_gap;

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t t = now_ms();

	(void)fd;
	(void)what;
	(void)arg;
	ticks++;
	if (last_tick != 0 && t - last_tick > max_gap)
		max_gap = t - last_tick;
	last_tick = t;
}

static void
ticks_reset(void)
{
	ticks = 0;
	last_tick = 0;
	max_gap = 0;
}

static void
run_ms(int ms)
{
	int64_t end = now_ms() + ms;

	while (now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
}

/* Run until every result is in, at most ms; true when they all are. */
static bool
run_until_done(struct res **rs, int n, int ms)
{
	int64_t	 end = now_ms() + ms;
	int	 i;

	for (;;) {
		for (i = 0; i < n; i++)
			if (rs[i] != NULL && !rs[i]->done)
				break;
		if (i == n)
			return true;
		if (now_ms() >= end)
			return false;
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static bool
run_one(struct res *r, int ms)
{
	return run_until_done(&r, 1, ms);
}

static bool
run_until_connected(struct db_async *p, int n, int ms)
{
	int64_t end = now_ms() + ms;

	while (db_async_connected(p) < n && now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	return db_async_connected(p) >= n;
}

static pid_t
server_pid(void)
{
	FILE	*fp = fopen(pidfile, "r");
	long	 pid = 0;

	if (fp == NULL)
		return 0;
	if (fscanf(fp, "%ld", &pid) != 1)
		pid = 0;
	fclose(fp);
	return (pid_t)pid;
}

/* True when every thread of pid is stopped (/proc/PID/task/TID/stat). */
static bool
all_stopped(pid_t pid)
{
	char		 path[64], line[512], *paren;
	DIR		*d;
	struct dirent	*de;
	FILE		*fp;
	bool		 stopped = true;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	if ((d = opendir(path)) == NULL)
		return false;
	while (stopped && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/stat",
		    (long)pid, de->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		if (fgets(line, sizeof(line), fp) == NULL ||
		    (paren = strrchr(line, ')')) == NULL ||
		    (paren[1] != '\0' && paren[2] != 'T' && paren[2] != 't'))
			stopped = false;
		fclose(fp);
	}
	closedir(d);
	return stopped;
}

/* SIGSTOP, and wait until it has taken effect in every thread. */
static bool
server_stop(pid_t pid)
{
	int i;

	if (pid <= 0 || kill(pid, SIGSTOP) != 0)
		return false;
	for (i = 0; i < 2000 && !all_stopped(pid); i++)
		usleep(1000);
	return all_stopped(pid);
}

static void
phase(const char *name)
{
	fprintf(stderr, "== %s\n", name);
	diag("%s", name);
}

/* ------------------------------------------------------------ tests */

/* (1) A SELECT with parameters returns the right rows. */
static void
test_select(struct db_async *p)
{
	struct res *r;

	phase("select");
	r = submit1(p, 0, 5000, step(S_PEOPLE, "is", 1LL, "dave"));
	ok(r != NULL && run_one(r, 5000), "select: answered");
	is_int(r->status, 0, "select: ok");
	is_int(r->nrows, 3, "select: 3 rows");
	is_int(r->ncols, 3, "select: 3 columns");
	is_str(cell(r, 0, 0), "1", "select: an integer column as text");
	is_str(cell(r, 0, 1), "alice", "select: a string column");
	ok(r->nrows == 3 && cell(r, 0, 2) == NULL,
	    "select: SQL NULL is a NULL cell");
	is_str(cell(r, 1, 2), "b", "select: row 2");
	is_str(cell(r, 2, 1), "carol", "select: row 3, in ORDER BY order");
	is_str(cell(r, 2, 2), "\xc3\xa7 \xc3\xbc \xe2\x9c\x93",
	    "select: utf8mb4 text intact");
	is_int(r->truncated, 0, "select: nothing cut");
	res_free(r);

	r = submit1(p, 0, 5000, step(S_ISNULL, "nss", "h\xc3\xa9llo", "x"));
	ok(r != NULL && run_one(r, 5000) && r->status == 0,
	    "NULL and string parameters");
	is_str(cell(r, 0, 0), "1", "  ... a NULL parameter is SQL NULL");
	is_str(cell(r, 0, 1), "5",
	    "  ... a string parameter arrives as utf8mb4");
	res_free(r);

	r = submit1(p, 0, 5000, step(S_REPEAT, "i", 1000LL));
	ok(r != NULL && run_one(r, 5000) && r->status == 0, "a 1000-byte cell");
	ok(r->nrows == 1 && strlen(cell(r, 0, 0)) == 1000 && !r->truncated,
	    "  ... arrives whole");
	is_str(cell(r, 0, 1), "after", "  ... and the next column too");
	res_free(r);

	r = submit1(p, 0, 10000, step(S_REPEAT, "i",
	    (long long)DB_ASYNC_CELL_MAX + 100));
	ok(r != NULL && run_one(r, 10000) && r->status == 0,
	    "a cell over 1 MiB");
	ok(r->nrows == 1 && strlen(cell(r, 0, 0)) == DB_ASYNC_CELL_MAX,
	    "  ... is cut at DB_ASYNC_CELL_MAX");
	is_int(r->truncated, 1, "  ... and the result says so");
	is_str(cell(r, 0, 1), "after", "  ... the next column is intact");
	res_free(r);

	r = submit1(p, 0, 5000, step(S_AFFECT, "si", "z", 3LL));
	ok(r != NULL && run_one(r, 5000) && r->status == 0, "an UPDATE");
	is_int(r->affected, 1, "  ... reports its affected rows");
	ok(r->cells == NULL && r->nrows == 0, "  ... and no result set");
	res_free(r);

	r = submit1(p, 0, 5000, step(S_PEOPLE, "i", 1LL));
	ok(r != NULL && run_one(r, 5000) && r->status == -1,
	    "a step with the wrong number of parameters fails");
	like(r->error, "parameters", "  ... and says why");
	res_free(r);
}

/* (2) Two-step jobs and per-key order while 200 other jobs run. */
static void
test_concurrency(struct db_async *p)
{
	enum { NORDER = 100, NSEQ = 50, NOTHER = 200 };
	struct res	*order[NORDER], *seq[NSEQ], *other[NOTHER], *r;
	struct buf	 want;
	struct db_step	 two[2];
	int		 i, io = 0, is = 0, ix = 0, failed = 0, inorder = 1;
	bool		 all;

	phase("concurrency");
	ok(run_until_connected(p, NCONN, 5000), "4 connections are up");
	/* Interleave the three kinds. */
	while (io < NORDER || is < NSEQ || ix < NOTHER) {
		if (io < NORDER) {
			order[io] = submit1(p, 7777, 20000, step(S_ORDER_INSERT,
			    "ii", 7777LL, (long long)io + 1));
			io++;
		}
		if (is < NSEQ) {
			two[0] = step(S_BUMP, "i", 1LL);
			two[1] = step(S_SEQ_INSERT, "i", 1LL);
			seq[is++] = submit(p, 0, 20000, 2, two);
		}
		for (i = 0; i < 2 && ix < NOTHER; i++, ix++)
			other[ix] = submit1(p, ix % 2 ? (uint64_t)ix : 0,
			    20000, step(S_OTHER, "ii", (long long)ix,
			    (long long)ix * 3));
	}
	all = run_until_done(order, NORDER, 20000) &&
	    run_until_done(seq, NSEQ, 20000) &&
	    run_until_done(other, NOTHER, 20000);
	ok(all, "350 jobs all answered");
	for (i = 0; i < NORDER; i++) {
		if (order[i] == NULL || order[i]->status != 0)
			failed++;
		if (i > 0 && order[i] != NULL && order[i - 1] != NULL &&
		    order[i]->order < order[i - 1]->order)
			inorder = 0;
	}
	for (i = 0; i < NSEQ; i++)
		if (seq[i] == NULL || seq[i]->status != 0)
			failed++;
	for (i = 0; i < NOTHER; i++)
		if (other[i] == NULL || other[i]->status != 0)
			failed++;
	is_int(failed, 0, "  ... and all succeeded");
	ok(inorder, "jobs of one key complete in submission order");

	buf_init(&want, 4096);
	for (i = 1; i <= NORDER; i++)
		buf_printf(&want, "%s%d", i > 1 ? "," : "", i);
	r = submit1(p, 0, 5000, step(S_ORDER_GET, "i", 7777LL));
	ok(r != NULL && run_one(r, 5000) && r->status == 0,
	    "read the keyed rows back");
	is_str(cell(r, 0, 0), buf_str(&want),
	    "  ... stored in submission order");
	is_str(cell(r, 0, 1), "1", "  ... all by one connection");
	res_free(r);
	buf_free(&want);

	r = submit1(p, 0, 5000, step(S_SEQ_CHECK, "i", 1LL));
	ok(r != NULL && run_one(r, 5000) && r->status == 0,
	    "read the two-step rows back");
	is_str(cell(r, 0, 0), "50", "  ... 50 rows");
	is_str(cell(r, 0, 1), "50",
	    "  ... each with its own LAST_INSERT_ID() from step 0");
	is_str(cell(r, 0, 2), "1", "  ... from 1");
	is_str(cell(r, 0, 3), "50", "  ... to 50");
	res_free(r);

	r = submit1(p, 0, 5000, step(S_OTHER_CONNS, ""));
	ok(r != NULL && run_one(r, 5000) && r->status == 0,
	    "read the other rows back");
	is_str(cell(r, 0, 0), "200", "  ... 200 rows");
	is_str(cell(r, 0, 1), "4", "  ... written over 4 connections");
	res_free(r);

	for (i = 0; i < NORDER; i++)
		res_free(order[i]);
	for (i = 0; i < NSEQ; i++)
		res_free(seq[i]);
	for (i = 0; i < NOTHER; i++)
		res_free(other[i]);
}

/* (6) A constraint error fails its job only. */
static void
test_constraint(struct db_async *p)
{
	struct res *a, *b, *c;

	phase("constraint");
	a = submit1(p, 42, 5000, step(S_PEOPLE_INSERT, "isn", 10LL, "eve"));
	b = submit1(p, 42, 5000, step(S_PEOPLE_INSERT, "isn", 1LL, "dup"));
	c = submit1(p, 42, 5000, step(S_PEOPLE_INSERT, "isn", 11LL, "frank"));
	ok(a && b && c && run_one(a, 5000) && run_one(b, 5000) &&
	    run_one(c, 5000), "three inserts on one key answered");
	is_int(b->status, -1, "a duplicate key fails");
	like(b->error, "Duplicate entry", "  ... with the server's message");
	ok(a->status == 0 && c->status == 0,
	    "  ... the jobs before and after it succeed");
	is_int(db_async_connected(p), NCONN,
	    "  ... and no connection was closed");
	res_free(a);
	res_free(b);
	res_free(c);
}

/* A query slower than its timeout: the job fails, its connection reopens. */
static void
test_slow(struct db_async *p)
{
	struct res *r;

	phase("slow");
	r = submit1(p, 0, 300, step(S_SLEEP, "i", 3LL));
	ok(r != NULL && run_one(r, 3000),
	    "a 3 s query with a 300 ms timeout answered");
	is_int(r->status, -1, "  ... failed");
	like(r->error, "timed out", "  ... timed out");
	ok(r->t_done - r->t_submit >= 300 - EARLY_MS &&
	    r->t_done - r->t_submit < 450,
	    "  ... after 300 ms");
	diag("timed out after %lld ms", (long long)(r->t_done - r->t_submit));
	res_free(r);
	ok(run_until_connected(p, NCONN, 3000),
	    "  ... its connection is reopened");
	r = submit1(p, 0, 2000, step(S_ONE, ""));
	ok(r != NULL && run_one(r, 2000) && r->status == 0,
	    "  ... and queries work");
	res_free(r);
}

/* (3) The loop runs on while the server is stopped. */
static void
test_stall(struct db_async *p)
{
	enum { N = 8 };
	struct res	*r[2 * N];
	pid_t		 pid = server_pid();
	int		 i, timedout = 0, late = 0;
	int64_t		 t0, worst = 0;

	phase("stall");
	ok(server_stop(pid), "mariadbd stopped (SIGSTOP)");
	t0 = now_ms();
	ticks_reset();
	for (i = 0; i < N; i++)
		r[i] = submit1(p, i % 2 ? (uint64_t)i : 0, 500,
		    step(S_ONE, ""));
	run_ms(800);
	/* A second wave while the connections are being reopened. */
	for (i = N; i < 2 * N; i++)
		r[i] = submit1(p, i % 2 ? (uint64_t)i : 0, 500,
		    step(S_ONE, ""));
	run_ms((int)(STALL_MS - (now_ms() - t0)));
	kill(pid, SIGCONT);
	diag("%d ticks of 10 ms in %lld ms, longest gap %lld ms", ticks,
	    (long long)(now_ms() - t0), (long long)max_gap);
	ok(ticks >= STALL_MS / 10 * 3 / 4, "the 10 ms timer kept firing");
	ok(max_gap < 100, "  ... never more than 100 ms apart");
	for (i = 0; i < 2 * N; i++) {
		int64_t took;

		if (r[i] == NULL || !r[i]->done)
			continue;
		took = r[i]->t_done - r[i]->t_submit;
		if (r[i]->status == -1 &&
		    strncmp(r[i]->error, "timed out", 9) == 0)
			timedout++;
		if (took < 500 - EARLY_MS || took > 650)
			late++;
		if (took > worst)
			worst = took;
	}
	is_int(timedout, 2 * N, "jobs sent to the stopped server time out");
	is_int(late, 0, "  ... after their 500 ms, not later");
	diag("slowest: %lld ms", (long long)worst);
	for (i = 0; i < 2 * N; i++)
		res_free(r[i]);

	t0 = now_ms();
	r[0] = submit1(p, 0, 5000, step(S_ONE, ""));
	ok(r[0] != NULL && run_one(r[0], 5000) && r[0]->status == 0,
	    "after SIGCONT, a new job succeeds");
	diag("in %lld ms", (long long)(now_ms() - t0));
	res_free(r[0]);
	ok(run_until_connected(p, NCONN, 6000),
	    "  ... and all connections are back");
}

/* (5) The queue bound. */
static void
test_queue_bound(struct db_async *p)
{
	struct res	**r;
	pid_t		 pid = server_pid();
	int		 i, accepted = 0, answered = 0;
	struct res	*extra;

	phase("queue bound");
	r = calloc(DB_ASYNC_QUEUE_MAX, sizeof(*r));
	if (r == NULL)
		abort();
	is_int(db_async_pending(p), 0, "nothing pending");
	ok(server_stop(pid), "mariadbd stopped");
	for (i = 0; i < DB_ASYNC_QUEUE_MAX; i++)
		if ((r[i] = submit1(p, (uint64_t)(i % 3), 5000,
		    step(S_ONE, ""))) != NULL)
			accepted++;
	is_int(accepted, DB_ASYNC_QUEUE_MAX,
	    "DB_ASYNC_QUEUE_MAX jobs are queued");
	extra = submit1(p, 0, 5000, step(S_ONE, ""));
	ok(extra == NULL, "  ... one more is refused at once");
	res_free(extra);
	is_int(db_async_pending(p), DB_ASYNC_QUEUE_MAX,
	    "  ... pending says so");
	run_ms(200);
	kill(pid, SIGCONT);
	ok(run_until_done(r, DB_ASYNC_QUEUE_MAX, 15000),
	    "after SIGCONT every queued job is answered");
	for (i = 0; i < DB_ASYNC_QUEUE_MAX; i++)
		if (r[i] != NULL && r[i]->done && r[i]->status == 0)
			answered++;
	diag("%d of %d succeeded", answered, DB_ASYNC_QUEUE_MAX);
	is_int(db_async_pending(p), 0, "  ... nothing pending");
	for (i = 0; i < DB_ASYNC_QUEUE_MAX; i++)
		res_free(r[i]);
	free(r);
	extra = submit1(p, 0, 5000, step(S_ONE, ""));
	ok(extra != NULL && run_one(extra, 5000) && extra->status == 0,
	    "  ... and new jobs are accepted and run");
	res_free(extra);
}

static bool
child_exited(pid_t child, int *status)
{
	return waitpid(child, status, WNOHANG) == child;
}

/* (4) The server is killed and started again. */
static void
test_restart(struct db_async *p)
{
	enum { NDOWN = 200 };
	struct res	*r[NDOWN], *x;
	pid_t		 pid = server_pid(), child;
	int		 i, quick = 0, failed = 0, st = 0;
	int64_t		 t0, up = 0;
	bool		 exited = false;

	phase("restart");
	ok(pid > 0 && kill(pid, SIGKILL) == 0, "mariadbd killed (SIGKILL)");
	run_ms(300);
	ticks_reset();
	for (i = 0; i < NDOWN; i++)
		r[i] = submit1(p, (uint64_t)i, 400, step(S_ONE, ""));
	ok(run_until_done(r, NDOWN, 2000),
	    "200 jobs while it is down are answered");
	for (i = 0; i < NDOWN; i++) {
		if (r[i] == NULL || !r[i]->done)
			continue;
		if (r[i]->status == -1)
			failed++;
		if (r[i]->t_done - r[i]->t_submit < 550)
			quick++;
		res_free(r[i]);
	}
	is_int(failed, NDOWN, "  ... they fail");
	is_int(quick, NDOWN, "  ... within their 400 ms timeout");
	is_int(db_async_connected(p), 0, "no connection is up");

	child = fork();
	if (child == 0) {
		closefrom(3);
		execl("/bin/sh", "sh", restart_script, (char *)NULL);
		_exit(127);
	}
	ok(child > 0, "restart the server");
	t0 = now_ms();
	while (child > 0 && now_ms() - t0 < 30000 &&
	    !(exited = child_exited(child, &st)))
		event_base_loop(base, EVLOOP_ONCE);
	ok(exited && WIFEXITED(st) && WEXITSTATUS(st) == 0, "  ... it is up");
	diag("restart took %lld ms", (long long)(now_ms() - t0));
	diag("while restarting: %d ticks, longest gap %lld ms", ticks,
	    (long long)max_gap);
	ok(max_gap < 100, "the loop ran on while the server was down");

	t0 = now_ms();
	while (now_ms() - t0 < 8000) {
		x = submit1(p, 0, 1000, step(S_ONE, ""));
		if (x != NULL && run_one(x, 1500) && x->status == 0) {
			up = now_ms() - t0;
			res_free(x);
			break;
		}
		res_free(x);
		run_ms(100);
	}
	ok(up > 0, "jobs succeed again without restarting the pool");
	diag("first success %lld ms after the server was up", (long long)up);
	ok(run_until_connected(p, NCONN, 8000),
	    "  ... all connections are back");
}

/* A schema version the program does not know: no connection is used. */
static void
test_schema(struct db_async *p)
{
	struct db_async	*q;
	struct res	*r;

	phase("schema");
	r = submit1(p, 0, 5000, step(S_SET_VERSION, "ii", 99LL, 1LL));
	ok(r != NULL && run_one(r, 5000) && r->status == 0 && r->affected == 1,
	    "schema_version set to 99");
	res_free(r);
	q = db_async_new(base, &cf, sql, S_COUNT, 2);
	ok(q != NULL, "a second pool");
	run_ms(1500);
	is_int(db_async_connected(q), 0,
	    "  ... refuses a schema it does not know");
	r = submit1(p, 0, 5000, step(S_SET_VERSION, "ii", 1LL, 99LL));
	ok(r != NULL && run_one(r, 5000) && r->status == 0,
	    "schema_version back to 1");
	res_free(r);
	ok(run_until_connected(q, 2, 8000),
	    "  ... and the second pool connects");
	db_async_free(q);
}

/* A host name is looked up without blocking; a bad one fails the jobs. */
static void
test_dns(void)
{
	struct conf	 c = cf;
	struct db_async	*q;
	struct res	*r;

	phase("dns");
	c.db_host = (char *)(uintptr_t)"db.invalid";
	q = db_async_new(base, &c, sql, S_COUNT, 2);
	ok(q != NULL, "a pool for host db.invalid");
	ticks_reset();
	r = submit1(q, 0, 300, step(S_ONE, ""));
	ok(r != NULL && run_one(r, 2000) && r->status == -1,
	    "  ... its job fails");
	ok(r->t_done - r->t_submit < 450, "  ... by its timeout");
	ok(max_gap < 100, "  ... and the loop never waited");
	res_free(r);
	db_async_free(q);

	/* Freed with the lookup perhaps still in flight. */
	q = db_async_new(base, &c, sql, S_COUNT, 2);
	ok(q != NULL, "another pool for db.invalid");
	event_base_loop(base, EVLOOP_NONBLOCK);
	db_async_free(q);
	run_ms(200);
	ok(1, "  ... freed at once, with its lookups");
}

static void
done_cb(void *arg)
{
	struct db_async **pp = arg;

	db_async_free(*pp);	/* done may free the pool */
	*pp = NULL;
}

/* (7) Shutdown lets queued jobs finish, then calls done. */
static void
test_shutdown(struct db_async **pp)
{
	enum { N = 20 };
	struct res	*r[N], *x;
	struct db_async	*q;
	pid_t		 pid;
	int		 i, okn = 0;
	int64_t		 t0;

	phase("shutdown");
	for (i = 0; i < N; i++)
		r[i] = submit1(*pp, (uint64_t)i % 3, 5000, step(S_ONE, ""));
	db_async_shutdown(*pp, 5000, done_cb, pp);
	x = submit1(*pp, 0, 5000, step(S_ONE, ""));
	ok(x == NULL, "no new jobs once shutting down");
	res_free(x);
	t0 = now_ms();
	while (*pp != NULL && now_ms() - t0 < 6000)
		event_base_loop(base, EVLOOP_ONCE);
	ok(*pp == NULL, "shutdown calls done");
	for (i = 0; i < N; i++) {
		if (r[i] != NULL && r[i]->done && r[i]->status == 0)
			okn++;
		res_free(r[i]);
	}
	is_int(okn, N, "  ... after the queued jobs finished");

	/* Past the deadline with the server stopped. */
	q = db_async_new(base, &cf, sql, S_COUNT, 2);
	ok(q != NULL && run_until_connected(q, 2, 5000), "another pool");
	pid = server_pid();
	ok(server_stop(pid), "mariadbd stopped");
	for (i = 0; i < N; i++)
		r[i] = submit1(q, 0, 30000, step(S_ONE, ""));
	t0 = now_ms();
	db_async_shutdown(q, 300, done_cb, &q);
	while (q != NULL && now_ms() - t0 < 5000)
		event_base_loop(base, EVLOOP_ONCE);
	kill(pid, SIGCONT);
	ok(q == NULL, "shutdown with a stalled server calls done");
	ok(now_ms() - t0 < 1000, "  ... soon after its 300 ms deadline");
	diag("in %lld ms", (long long)(now_ms() - t0));
	okn = 0;
	for (i = 0; i < N; i++) {
		if (r[i] != NULL && r[i]->done && r[i]->status == -1 &&
		    strcmp(r[i]->error, "shutting down") == 0)
			okn++;
		else if (r[i] != NULL)
			diag("job %d: done %d status %d error %s", i,
			    r[i]->done, r[i]->status, r[i]->error);
		res_free(r[i]);
	}
	is_int(okn, N, "  ... and the jobs it cut short say so");
}

static int
usage(void)
{
	fprintf(stderr, "usage: db-async-test -c config -p pidfile "
	    "-r restart-script\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct buf	 diagbuf;
	struct db_async	*p;
	struct event	*ticker;
	const char	*config = NULL;
	int		 ch;
	int64_t		 t0 = now_ms();

	while ((ch = getopt(argc, argv, "c:p:r:")) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'r':
			restart_script = optarg;
			break;
		default:
			return usage();
		}
	}
	if (config == NULL || pidfile == NULL || restart_script == NULL)
		return usage();
	log_init("db-async-test", LOG_INFO);
	buf_init(&diagbuf, 65536);
	if (conf_load(&cf, config, 0, &diagbuf) != 0) {
		fprintf(stderr, "%s", buf_str(&diagbuf));
		return 2;
	}
	buf_free(&diagbuf);
	if (mysql_library_init(0, NULL, NULL) != 0) {
		fprintf(stderr, "mysql_library_init failed\n");
		return 2;
	}
	base = event_base_new();
	ticker = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(ticker, &(struct timeval){ 0, 10000 });

	p = db_async_new(base, &cf, sql, S_COUNT, NCONN);
	ok(p != NULL, "a pool of 4 connections");
	ok(db_async_new(base, &cf, sql, S_COUNT, DB_ASYNC_CONN_MAX + 1) == NULL,
	    "more than DB_ASYNC_CONN_MAX connections are refused");

	test_select(p);
	test_concurrency(p);
	test_constraint(p);
	test_slow(p);
	test_stall(p);
	test_queue_bound(p);
	test_restart(p);
	test_schema(p);
	test_dns();
	test_shutdown(&p);

	event_free(ticker);
	event_base_free(base);
	conf_free(&cf);
	mysql_library_end();
	diag("driver ran %lld ms", (long long)(now_ms() - t0));
	return done_testing();
}
