/*
 * store: the webhook's database work, one struct store per worker thread.
 *
 * Each worker owns its MariaDB connection and prepared statements; nothing
 * here is shared between threads.  A request gets a time budget: after a
 * connection error the store reconnects and retries once only while the
 * request is young, so a dead or stalled server costs at most about one
 * connect or read timeout before the caller hears the fallback.  After a
 * failed connect, new connects are not tried for STORE_RETRY_INTERVAL_MS so
 * that requests during an outage answer at once.
 */
#ifndef CALLBRIDGE_STORE_H
#define CALLBRIDGE_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "db.h"
#include "session_id.h"

#define STORE_RETRY_INTERVAL_MS	1000	/* between connect attempts in an outage */
#define STORE_RETRY_BUDGET_MS	1000	/* a request older than this is not retried */
#define STORE_NAME_MAX		100	/* agents.name */
#define STORE_NUMBER_MAX	255	/* dial targets */
#define STORE_TEXT_MAX		4096	/* messages spoken with <Say> */
#define STORE_TOOL_PARAMS_MAX	(64 * 1024)	/* agent_tools.parameters read */
#define STORE_TOOL_DESC_MAX	4096	/* agent_tools.description read */

enum store_stmt {
	ST_AGENT_BY_NUMBER,
	ST_SESSION_INSERT,
	ST_SESSION_BY_CALL,
	ST_CONNECT_INFO,
	ST_SESSION_FAIL_PENDING,
	ST_STATUS_UPDATE,
	ST_SESSION_EXPIRE,
	ST_STREAM_SID,
	ST_EVENT_SEQ,
	ST_EVENT_INSERT,
	ST_AGENT_BY_NAME,
	ST_TOOLS,
	ST_HEALTH,
	ST_COUNT
};

struct store {
	const struct conf	*cf;
	MYSQL			*db;
	struct db_stmt		 st[ST_COUNT];
	long long		 last_fail_ms;	/* monotonic; 0: none */
	long long		 request_start_ms;
	char			 err[DB_ERR_MAX];	/* last error, for the log */
};

struct agent_ref {
	long long	 id;
	char		 name[STORE_NAME_MAX + 1];
	bool		 enabled;	/* agent and number both enabled */
};

struct session_ref {
	char		 session_id[SESSION_ID_LEN + 1];
	char		 status[16];
};

struct connect_info {
	char		 session_id[SESSION_ID_LEN + 1];
	char		 status[16];
	char		 transfer_to[STORE_NUMBER_MAX + 1];
	char		 to_number[65];
	char		 end_reason[256];
	char		 fallback_number[STORE_NUMBER_MAX + 1];
	char		 fallback_message[STORE_TEXT_MAX];
	char		 caller_id[33];
};

struct tool_row {
	char		 name[65];
	char		 kind[16];
	char		 description[STORE_TOOL_DESC_MAX];
	char		*parameters;	/* STORE_TOOL_PARAMS_MAX bytes, owned by store */
};

void	 store_init(struct store *, const struct conf *);
void	 store_close(struct store *);
long long store_now_ms(void);
/* Start a request's time budget. */
void	 store_begin(struct store *);
/* Connect once (at start-up) and return the schema version, or -1. */
int	 store_connect(struct store *);

/*
 * All of these return 1 when found/done, 0 when there is no such row,
 * -1 on a database error (store->err says why).
 */
int	 store_agent_by_number(struct store *, const char *number, struct agent_ref *);
/* Insert the pending session or find the one of a retried webhook. */
int	 store_session_open(struct store *, const char *call_sid,
	    const char *account_sid, const struct agent_ref *, const char *from,
	    const char *to, const char *call_status, struct session_ref *);
int	 store_connect_info(struct store *, const char *call_sid, struct connect_info *);
int	 store_session_fail_pending(struct store *, const char *call_sid, const char *reason);
int	 store_status_update(struct store *, const char *call_sid,
	    const char *status, int rank, long long seq, long long duration);
int	 store_session_expire(struct store *, const char *call_sid, const char *reason);
int	 store_stream_sid(struct store *, const char *call_sid, const char *stream_sid);
int	 store_event(struct store *, const char *call_sid, const char *kind,
	    const char *role, const char *content);
int	 store_agent_by_name(struct store *, const char *name, long long *id);
/* Iterate an agent's enabled tools: first call with first = true. */
int	 store_tools(struct store *, long long agent_id, bool first, struct tool_row *);
void	 store_tools_done(struct store *);
int	 store_health(struct store *, int *schema_version);

#endif
