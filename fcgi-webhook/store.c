/*
 * store: the webhook's SQL, per worker thread (see store.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store.h"

/* Every statement the webhook runs; values only ever travel as parameters. */
static const char *const store_sql[ST_COUNT] = {
	[ST_AGENT_BY_NUMBER] =
	    "SELECT a.id, a.name, (a.enabled AND p.enabled) "
	    "FROM phone_numbers p JOIN agents a ON a.id = p.agent_id "
	    "WHERE p.number = ?",
	/* A retried webhook hits the call_sid key and changes nothing. */
	[ST_SESSION_INSERT] =
	    "INSERT INTO call_sessions (session_id, call_sid, account_sid, "
	    "agent_id, from_number, to_number, twilio_status, expires_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6) + INTERVAL ? SECOND) "
	    "ON DUPLICATE KEY UPDATE session_id = session_id",
	[ST_SESSION_BY_CALL] =
	    "SELECT session_id, status FROM call_sessions WHERE call_sid = ?",
	[ST_CONNECT_INFO] =
	    "SELECT s.session_id, s.status, COALESCE(s.transfer_to, ''), "
	    "s.to_number, COALESCE(s.end_reason, ''), "
	    "COALESCE(a.fallback_number, ''), COALESCE(a.fallback_message, ''), "
	    "COALESCE(a.transfer_caller_id, '') "
	    "FROM call_sessions s LEFT JOIN agents a ON a.id = s.agent_id "
	    "WHERE s.call_sid = ?",
	[ST_SESSION_FAIL_PENDING] =
	    "UPDATE call_sessions SET status = 'failed', "
	    "ended_at = UTC_TIMESTAMP(6), end_reason = ? "
	    "WHERE call_sid = ? AND status = 'pending'",
	/*
	 * Out-of-order callbacks: a lower SequenceNumber never overwrites a
	 * higher one, and the status never moves back (a late "ringing" after
	 * "completed" changes nothing even without sequence numbers).
	 */
	[ST_STATUS_UPDATE] =
	    "UPDATE call_sessions SET twilio_status = ?, "
	    "twilio_seq = COALESCE(?, twilio_seq), "
	    "duration_s = COALESCE(?, duration_s) "
	    "WHERE call_sid = ? "
	    "AND (? IS NULL OR twilio_seq IS NULL OR twilio_seq < ?) "
	    "AND ? >= CASE WHEN twilio_status IS NULL THEN 0 "
	    "WHEN twilio_status IN ('queued', 'initiated') THEN 1 "
	    "WHEN twilio_status = 'ringing' THEN 2 "
	    "WHEN twilio_status = 'in-progress' THEN 3 ELSE 4 END",
	[ST_SESSION_EXPIRE] =
	    "UPDATE call_sessions SET status = 'expired', "
	    "ended_at = UTC_TIMESTAMP(6), end_reason = ? "
	    "WHERE call_sid = ? AND status = 'pending'",
	[ST_STREAM_SID] =
	    "UPDATE call_sessions SET stream_sid = COALESCE(stream_sid, ?) "
	    "WHERE call_sid = ?",
	/* Per-session event order: the row lock makes the counter atomic. */
	[ST_EVENT_SEQ] =
	    "UPDATE call_sessions SET event_seq = LAST_INSERT_ID(event_seq + 1) "
	    "WHERE call_sid = ?",
	[ST_EVENT_INSERT] =
	    "INSERT INTO call_events (session_id, seq, kind, role, content) "
	    "SELECT session_id, LAST_INSERT_ID(), ?, ?, ? FROM call_sessions "
	    "WHERE call_sid = ?",
	[ST_AGENT_BY_NAME] =
	    "SELECT id FROM agents WHERE name = ?",
	[ST_TOOLS] =
	    "SELECT name, kind, description, parameters FROM agent_tools "
	    "WHERE agent_id = ? AND enabled ORDER BY id",
	[ST_HEALTH] =
	    "SELECT COALESCE(MAX(version), 0) FROM schema_version",
};

long long
store_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
store_init(struct store *s, const struct conf *cf)
{
	memset(s, 0, sizeof(*s));
	s->cf = cf;
}

static void
store_disconnect(struct store *s)
{
	int i;

	for (i = 0; i < ST_COUNT; i++)
		db_stmt_close(&s->st[i]);
	if (s->db != NULL)
		mysql_close(s->db);
	s->db = NULL;
}

void
store_close(struct store *s)
{
	store_disconnect(s);
}

void
store_begin(struct store *s)
{
	s->request_start_ms = store_now_ms();
	s->err[0] = '\0';
}

/* Connect, check the schema and prepare every statement. */
static int
store_open(struct store *s)
{
	char	 advice[256];
	int	 version, i;

	if (s->db != NULL)
		return 0;
	if (s->last_fail_ms != 0 &&
	    store_now_ms() - s->last_fail_ms < STORE_RETRY_INTERVAL_MS) {
		snprintf(s->err, sizeof(s->err),
		    "database unavailable (last attempt failed %lld ms ago)",
		    store_now_ms() - s->last_fail_ms);
		return -1;
	}
	if ((s->db = db_connect(s->cf, s->err)) == NULL)
		goto fail;
	if ((version = db_schema_version(s->db, s->err)) == -1)
		goto fail;
	if (version != DB_SCHEMA_VERSION) {
		db_schema_advice(version, advice, sizeof(advice));
		snprintf(s->err, sizeof(s->err), "%s", advice);
		goto fail;
	}
	for (i = 0; i < ST_COUNT; i++) {
		if (db_stmt_prepare(s->db, &s->st[i], store_sql[i]) == -1) {
			snprintf(s->err, sizeof(s->err), "preparing statement "
			    "%d: %s", i, s->st[i].prep_error);
			goto fail;
		}
	}
	s->last_fail_ms = 0;
	return 0;
fail:
	s->last_fail_ms = store_now_ms();
	store_disconnect(s);
	return -1;
}

int
store_connect(struct store *s)
{
	int version;

	store_disconnect(s);
	if ((s->db = db_connect(s->cf, s->err)) == NULL)
		return -1;
	version = db_schema_version(s->db, s->err);
	store_disconnect(s);
	return version;
}

/*
 * Run statement idx; on a connection error reconnect and retry once, but
 * only while the request is within its retry budget.
 */
static int
store_run(struct store *s, enum store_stmt idx, const char *in,
    const char *out, ...)
{
	va_list		 ap;
	int		 attempt, rc = -1;
	unsigned int	 e;

	for (attempt = 0; attempt < 2; attempt++) {
		if (store_open(s) == -1)
			return -1;
		va_start(ap, out);
		rc = db_stmt_vrun(&s->st[idx], in, out, ap);
		va_end(ap);
		if (rc != -1)
			return rc;
		e = db_stmt_errno(&s->st[idx]);
		snprintf(s->err, sizeof(s->err), "%s", db_stmt_error(&s->st[idx]));
		if (!db_error_is_connection(e))
			return -1;
		store_disconnect(s);
		if (store_now_ms() - s->request_start_ms > STORE_RETRY_BUDGET_MS)
			break;
		log_info("database connection lost (%s); reconnecting", s->err);
		s->last_fail_ms = 0;
	}
	return rc;
}

int
store_agent_by_number(struct store *s, const char *number, struct agent_ref *a)
{
	long long	 enabled = 0;
	int		 rc;

	memset(a, 0, sizeof(*a));
	rc = store_run(s, ST_AGENT_BY_NUMBER, "s", "isi", number, &a->id,
	    a->name, sizeof(a->name), &enabled);
	db_stmt_done(&s->st[ST_AGENT_BY_NUMBER]);
	a->enabled = enabled != 0;
	return rc;
}

int
store_session_open(struct store *s, const char *call_sid,
    const char *account_sid, const struct agent_ref *a, const char *from,
    const char *to, const char *call_status, struct session_ref *out)
{
	char	 sid[SESSION_ID_LEN + 1];
	int	 rc;

	if (session_id_new(sid) == -1) {
		snprintf(s->err, sizeof(s->err), "getrandom failed");
		return -1;
	}
	if (store_run(s, ST_SESSION_INSERT, "sssisssi", "", sid, call_sid,
	    account_sid, a->id, from, to, call_status,
	    (long long)s->cf->relay_session_ttl) == -1)
		return -1;
	rc = store_run(s, ST_SESSION_BY_CALL, "s", "ss", call_sid,
	    out->session_id, sizeof(out->session_id), out->status,
	    sizeof(out->status));
	db_stmt_done(&s->st[ST_SESSION_BY_CALL]);
	if (rc == 0)
		snprintf(s->err, sizeof(s->err), "session row vanished");
	return rc == 1 ? 1 : -1;
}

int
store_connect_info(struct store *s, const char *call_sid, struct connect_info *ci)
{
	int rc;

	memset(ci, 0, sizeof(*ci));
	rc = store_run(s, ST_CONNECT_INFO, "s", "ssssssss", call_sid,
	    ci->session_id, sizeof(ci->session_id), ci->status, sizeof(ci->status),
	    ci->transfer_to, sizeof(ci->transfer_to), ci->to_number,
	    sizeof(ci->to_number), ci->end_reason, sizeof(ci->end_reason),
	    ci->fallback_number, sizeof(ci->fallback_number),
	    ci->fallback_message, sizeof(ci->fallback_message),
	    ci->caller_id, sizeof(ci->caller_id));
	db_stmt_done(&s->st[ST_CONNECT_INFO]);
	return rc;
}

int
store_session_fail_pending(struct store *s, const char *call_sid, const char *reason)
{
	if (store_run(s, ST_SESSION_FAIL_PENDING, "ss", "", reason, call_sid) == -1)
		return -1;
	return db_stmt_affected(&s->st[ST_SESSION_FAIL_PENDING]) > 0;
}

int
store_status_update(struct store *s, const char *call_sid, const char *status,
    int rank, long long seq, long long duration)
{
	/* seq or duration < 0: not in the callback, bound as SQL NULL. */
	const long long	*sq = seq >= 0 ? &seq : NULL;
	const long long	*du = duration >= 0 ? &duration : NULL;

	if (store_run(s, ST_STATUS_UPDATE, "sIIsIIi", "", status, sq, du,
	    call_sid, sq, sq, (long long)rank) == -1)
		return -1;
	return db_stmt_affected(&s->st[ST_STATUS_UPDATE]) > 0;
}

int
store_session_expire(struct store *s, const char *call_sid, const char *reason)
{
	if (store_run(s, ST_SESSION_EXPIRE, "ss", "", reason, call_sid) == -1)
		return -1;
	return db_stmt_affected(&s->st[ST_SESSION_EXPIRE]) > 0;
}

int
store_stream_sid(struct store *s, const char *call_sid, const char *stream_sid)
{
	if (store_run(s, ST_STREAM_SID, "ss", "", stream_sid, call_sid) == -1)
		return -1;
	return db_stmt_affected(&s->st[ST_STREAM_SID]) > 0;
}

int
store_event(struct store *s, const char *call_sid, const char *kind,
    const char *role, const char *content)
{
	if (store_run(s, ST_EVENT_SEQ, "s", "", call_sid) == -1)
		return -1;
	if (db_stmt_affected(&s->st[ST_EVENT_SEQ]) == 0)
		return 0;	/* not one of our calls */
	if (store_run(s, ST_EVENT_INSERT, "ssss", "", kind, role, content,
	    call_sid) == -1)
		return -1;
	return 1;
}

int
store_agent_by_name(struct store *s, const char *name, long long *id)
{
	int rc;

	rc = store_run(s, ST_AGENT_BY_NAME, "s", "i", name, id);
	db_stmt_done(&s->st[ST_AGENT_BY_NAME]);
	return rc;
}

int
store_tools(struct store *s, long long agent_id, bool first, struct tool_row *t)
{
	static __thread char params[STORE_TOOL_PARAMS_MAX];

	t->parameters = params;
	if (!first)
		return db_stmt_next(&s->st[ST_TOOLS]);
	return store_run(s, ST_TOOLS, "i", "ssss", agent_id, t->name,
	    sizeof(t->name), t->kind, sizeof(t->kind), t->description,
	    sizeof(t->description), params, sizeof(params));
}

void
store_tools_done(struct store *s)
{
	db_stmt_done(&s->st[ST_TOOLS]);
}

int
store_health(struct store *s, int *version)
{
	long long	 v = 0;
	int		 rc;

	rc = store_run(s, ST_HEALTH, "", "i", &v);
	db_stmt_done(&s->st[ST_HEALTH]);
	*version = (int)v;
	return rc;
}
