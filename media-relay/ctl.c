/*
 * ctl: what the ctl thread does for calls: claim sessions and load agents,
 * resolve the OpenAI host, and write everything a call produces to
 * MariaDB, all without blocking (db_async, evdns).
 *
 * Writes of one call run in the order the ws thread sent them (the call
 * id is the db_async order key), so a transcript is stored in order.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <json-c/json.h>

#include "db_async.h"
#include "log.h"
#include "relay.h"
#include "tools.h"

#define CTL_DB_TIMEOUT_MS	3000	/* claim and agent load: the caller waits */
#define CTL_WRITE_TIMEOUT_MS	30000	/* events and session updates */
#define CTL_EVENT_MAX		(64 * 1024)	/* longest call_events.content kept */

enum {
	S_CLAIM,
	S_LOAD,
	S_WHY,
	S_TOOLS,
	S_STREAM,
	S_EVENT_SEQ,
	S_EVENT_INSERT,
	S_TOKENS,
	S_END,
	S_TRANSFER,
	S_COUNT
};

static const char *const ctl_sql[S_COUNT] = {
	/* Single use, short-lived: only a pending session before it expires. */
	[S_CLAIM] =
	    "UPDATE call_sessions SET status = 'connected', "
	    "connected_at = UTC_TIMESTAMP(6), relay_host = ? "
	    "WHERE session_id = ? AND status = 'pending' "
	    "AND expires_at > UTC_TIMESTAMP(6)",
	/* Only the claim made by this very call (relay_host is unique). */
	[S_LOAD] =
	    "SELECT s.call_sid, a.id, a.name, a.model, a.voice, a.instructions, "
	    "a.greeting FROM call_sessions s JOIN agents a ON a.id = s.agent_id "
	    "WHERE s.session_id = ? AND s.relay_host = ? AND s.status = 'connected'",
	[S_WHY] =
	    "SELECT status, expires_at > UTC_TIMESTAMP(6) FROM call_sessions "
	    "WHERE session_id = ?",
	[S_TOOLS] =
	    "SELECT name, description, parameters, kind, url, transfer_to, "
	    "timeout_ms FROM agent_tools WHERE agent_id = ? AND enabled "
	    "ORDER BY id",
	[S_STREAM] =
	    "UPDATE call_sessions SET stream_sid = ? WHERE session_id = ?",
	[S_EVENT_SEQ] =
	    "UPDATE call_sessions SET event_seq = LAST_INSERT_ID(event_seq + 1) "
	    "WHERE session_id = ?",
	[S_EVENT_INSERT] =
	    "INSERT INTO call_events (session_id, seq, kind, role, content) "
	    "VALUES (?, LAST_INSERT_ID(), ?, ?, ?)",
	[S_TOKENS] =
	    "UPDATE call_sessions SET input_tokens = input_tokens + ?, "
	    "output_tokens = output_tokens + ? WHERE session_id = ?",
	/* ended only from connected; failed from any state not yet final. */
	[S_END] =
	    "UPDATE call_sessions SET status = ?, ended_at = UTC_TIMESTAMP(6), "
	    "end_reason = ? WHERE session_id = ? "
	    "AND status IN ('pending', 'connected') "
	    "AND (? = 'failed' OR status = 'connected')",
	/* The destination comes from the tool's row, never from the model. */
	[S_TRANSFER] =
	    "UPDATE call_sessions SET transfer_to = ? WHERE session_id = ?",
};

struct ctl {
	struct event_base	*base;
	const struct conf	*cf;
	struct mailbox		*to_ws;
	struct ws		*ws;
	struct db_async		*db;
	struct evdns_base	*dns;
	struct tools		*tools;		/* http tool requests */
	char			 host[128];	/* this relay, for relay_host */
};

/* A claim in progress; lives until the last of its queries answers. */
struct claim {
	struct ctl	*ctl;
	uint32_t	 call_id;
	char		 session_id[SESSION_ID_LEN + 1];
	char		 owner[192];	/* relay_host value of this claim */
	struct agent	*agent;
};

static void
ctl_send(struct ctl *c, struct msg *m)
{
	if (m == NULL)
		return;
	if (mailbox_put(c->to_ws, m) == -1)
		log_err("mailbox to the ws thread full; message dropped");
	ws_wake(c->ws);
}

static void
refuse(struct claim *cl, const char *reason)
{
	struct msg *m = msg_new(M_REFUSED, cl->call_id, cl->session_id);

	if (m != NULL)
		m->s1 = strdup(reason);
	ctl_send(cl->ctl, m);
}

static void
claim_free(struct claim *cl)
{
	agent_free(cl->agent);
	free(cl);
}

static void
why_done(const struct db_result *r, void *arg)
{
	struct claim	*cl = arg;
	const char	*reason = "session unknown";

	if (r->status != 0)
		reason = "database unavailable";
	else if (r->nrows == 1) {
		const char *status = r->cells[0], *live = r->cells[1];

		if (strcmp(status, "pending") == 0 && live != NULL &&
		    strcmp(live, "0") == 0)
			reason = "session expired";
		else if (strcmp(status, "pending") != 0)
			reason = "session already claimed";
		else
			reason = "session claimed concurrently";
	}
	log_call(LOG_NOTICE, cl->session_id, "stream refused: %s", reason);
	refuse(cl, reason);
	claim_free(cl);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void
tools_done(const struct db_result *r, void *arg)
{
	struct claim	*cl = arg;
	json_object	*arr;
	struct msg	*m;
	int		 i;

	if (r->status != 0) {
		log_call(LOG_ERR, cl->session_id, "loading the agent's tools "
		    "failed: %s", r->error);
		refuse(cl, "database unavailable");
		claim_free(cl);
		return;
	}
	arr = json_object_new_array();
	for (i = 0; i < r->nrows; i++) {
		const char *const *row = r->cells + i * r->ncols;
		const char	*why = NULL;
		json_object	*t;

		struct agent_tool	*at;

		if (cl->agent->ntools == AGENT_TOOLS_MAX) {
			log_call(LOG_WARNING, cl->session_id, "agent \"%s\": "
			    "more than %d tools; the rest are skipped",
			    cl->agent->name, AGENT_TOOLS_MAX);
			break;
		}
		t = tool_object(row[0], row[1] ? row[1] : "",
		    row[2] ? row[2] : "", &why);
		if (t == NULL) {
			log_call(LOG_WARNING, cl->session_id, "agent \"%s\": "
			    "tool \"%s\" skipped: %s", cl->agent->name, row[0], why);
			continue;
		}
		json_object_array_add(arr, t);
		at = &cl->agent->tools[cl->agent->ntools++];
		at->name = strdup(row[0]);
		at->kind = strcmp(row[3], "end_call") == 0 ? TOOL_END_CALL :
		    strcmp(row[3], "transfer_call") == 0 ? TOOL_TRANSFER_CALL :
		    TOOL_HTTP;
		at->url = dup_or_null(row[4]);
		at->transfer_to = dup_or_null(row[5]);
		at->timeout_ms = row[6] != NULL ? atoi(row[6]) : 5000;
	}
	cl->agent->tools_json = strdup(json_object_to_json_string_ext(arr,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	if ((m = msg_new(M_CLAIMED, cl->call_id, cl->session_id)) != NULL) {
		m->agent = cl->agent;
		cl->agent = NULL;
	}
	ctl_send(cl->ctl, m);
	claim_free(cl);
}

static void
load_done(const struct db_result *r, void *arg)
{
	struct claim		*cl = arg;
	struct db_step		 step;
	const char *const	*row;

	if (r->status != 0) {
		log_call(LOG_ERR, cl->session_id, "claiming the session "
		    "failed: %s", r->error);
		refuse(cl, "database unavailable");
		claim_free(cl);
		return;
	}
	if (r->nrows != 1) {
		/* Not claimed by us: find out why, for the log. */
		memset(&step, 0, sizeof(step));
		step.stmt = S_WHY;
		step.params[0] = (struct db_value){ .type = DBV_STR, .s = cl->session_id };
		step.nparams = 1;
		if (db_async_submit(cl->ctl->db, &step, 1, cl->call_id,
		    CTL_DB_TIMEOUT_MS, why_done, cl) == -1) {
			refuse(cl, "session unknown, expired or already claimed");
			claim_free(cl);
		}
		return;
	}
	row = r->cells;
	if ((cl->agent = calloc(1, sizeof(*cl->agent))) == NULL) {
		refuse(cl, "out of memory");
		claim_free(cl);
		return;
	}
	cl->agent->call_sid = dup_or_null(row[0]);
	cl->agent->id = row[1] != NULL ? strtoll(row[1], NULL, 10) : 0;
	cl->agent->name = dup_or_null(row[2]);
	cl->agent->model = dup_or_null(row[3]);
	cl->agent->voice = dup_or_null(row[4]);
	cl->agent->instructions = dup_or_null(row[5] != NULL ? row[5] : "");
	cl->agent->greeting = row[6] != NULL && row[6][0] != '\0' ?
	    strdup(row[6]) : NULL;

	memset(&step, 0, sizeof(step));
	step.stmt = S_TOOLS;
	step.params[0] = (struct db_value){ .type = DBV_INT, .i = cl->agent->id };
	step.nparams = 1;
	if (db_async_submit(cl->ctl->db, &step, 1, cl->call_id,
	    CTL_DB_TIMEOUT_MS, tools_done, cl) == -1) {
		refuse(cl, "database busy");
		claim_free(cl);
	}
}

static void
ctl_claim(struct ctl *c, struct msg *m)
{
	struct claim	*cl;
	struct db_step	 steps[2];

	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		struct msg *r = msg_new(M_REFUSED, m->call_id, m->session_id);

		if (r != NULL)
			r->s1 = strdup("out of memory");
		ctl_send(c, r);
		return;
	}
	cl->ctl = c;
	cl->call_id = m->call_id;
	memcpy(cl->session_id, m->session_id, sizeof(cl->session_id));
	snprintf(cl->owner, sizeof(cl->owner), "%s pid %ld call %u", c->host,
	    (long)getpid(), m->call_id);

	memset(steps, 0, sizeof(steps));
	steps[0].stmt = S_CLAIM;
	steps[0].params[0] = (struct db_value){ .type = DBV_STR, .s = cl->owner };
	steps[0].params[1] = (struct db_value){ .type = DBV_STR, .s = cl->session_id };
	steps[0].nparams = 2;
	steps[1].stmt = S_LOAD;
	steps[1].params[0] = (struct db_value){ .type = DBV_STR, .s = cl->session_id };
	steps[1].params[1] = (struct db_value){ .type = DBV_STR, .s = cl->owner };
	steps[1].nparams = 2;
	if (db_async_submit(c->db, steps, 2, cl->call_id, CTL_DB_TIMEOUT_MS,
	    load_done, cl) == -1) {
		refuse(cl, "database busy");
		claim_free(cl);
	}
}

/* Fire-and-forget writes: a failure is logged, the call goes on. */
static void
write_done(const struct db_result *r, void *arg)
{
	const char *what = arg;

	if (r->status != 0)
		log_warn("storing %s failed: %s", what, r->error);
}

static void
ctl_write(struct ctl *c, const struct db_step *steps, int n, uint32_t call_id,
    const char *what)
{
	if (db_async_submit(c->db, steps, n, call_id, CTL_WRITE_TIMEOUT_MS,
	    write_done, (void *)(uintptr_t)what) == -1)
		log_warn("storing %s refused: database queue full", what);
}

static void
ctl_event(struct ctl *c, struct msg *m)
{
	struct db_step steps[2];

	if (m->s3 != NULL && strlen(m->s3) > CTL_EVENT_MAX)
		m->s3[CTL_EVENT_MAX] = '\0';
	memset(steps, 0, sizeof(steps));
	steps[0].stmt = S_EVENT_SEQ;
	steps[0].params[0] = (struct db_value){ .type = DBV_STR, .s = m->session_id };
	steps[0].nparams = 1;
	steps[1].stmt = S_EVENT_INSERT;
	steps[1].params[0] = (struct db_value){ .type = DBV_STR, .s = m->session_id };
	steps[1].params[1] = (struct db_value){ .type = DBV_STR, .s = m->s1 };
	steps[1].params[2] = m->s2 != NULL ?
	    (struct db_value){ .type = DBV_STR, .s = m->s2 } :
	    (struct db_value){ .type = DBV_NULL };
	steps[1].params[3] = (struct db_value){ .type = DBV_STR, .s = m->s3 ? m->s3 : "" };
	steps[1].nparams = 4;
	ctl_write(c, steps, 2, m->call_id, "a call event");
}

static void
resolve_done(int err, struct evutil_addrinfo *res, void *arg)
{
	struct msg	*m = arg;
	struct ctl	*c = (struct ctl *)(uintptr_t)m->n1;
	char		 addr[INET6_ADDRSTRLEN];

	m->type = M_RESOLVED;
	free(m->s1);
	m->s1 = NULL;
	if (err != 0 || res == NULL) {
		m->s2 = strdup(evutil_gai_strerror(err));
	} else {
		const void *p = res->ai_family == AF_INET6 ?
		    (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr :
		    (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;

		if (inet_ntop(res->ai_family, p, addr, sizeof(addr)) != NULL)
			m->s1 = strdup(addr);
		else
			m->s2 = strdup("bad address");
	}
	if (res != NULL)
		evutil_freeaddrinfo(res);
	m->n1 = 0;
	ctl_send(c, m);
}

static void
ctl_resolve(struct ctl *c, struct msg *m)
{
	struct evutil_addrinfo hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	m->n1 = (long long)(uintptr_t)c;
	/* The callback may run before this returns (numeric hosts). */
	evdns_getaddrinfo(c->dns, m->s1, NULL, &hints, resolve_done, m);
}

void
ctl_handle(struct ctl *c, struct msg *m)
{
	struct db_step	 step;
	const char	*role;

	switch (m->type) {
	case M_CLAIM:
		ctl_claim(c, m);
		break;
	case M_RESOLVE:
		ctl_resolve(c, m);
		return;		/* m lives on in the resolver */
	case M_STREAM:
		memset(&step, 0, sizeof(step));
		step.stmt = S_STREAM;
		step.params[0] = (struct db_value){ .type = DBV_STR, .s = m->s1 };
		step.params[1] = (struct db_value){ .type = DBV_STR, .s = m->session_id };
		step.nparams = 2;
		ctl_write(c, &step, 1, m->call_id, "the stream sid");
		break;
	case M_EVENT:
		ctl_event(c, m);
		break;
	case M_TOKENS:
		memset(&step, 0, sizeof(step));
		step.stmt = S_TOKENS;
		step.params[0] = (struct db_value){ .type = DBV_INT, .i = m->n1 };
		step.params[1] = (struct db_value){ .type = DBV_INT, .i = m->n2 };
		step.params[2] = (struct db_value){ .type = DBV_STR, .s = m->session_id };
		step.nparams = 3;
		ctl_write(c, &step, 1, m->call_id, "token usage");
		break;
	case M_TOOL_CALL:
		tool_http_start(c->tools, m);
		return;		/* m lives on in the request */
	case M_TRANSFER:
		memset(&step, 0, sizeof(step));
		step.stmt = S_TRANSFER;
		step.params[0] = (struct db_value){ .type = DBV_STR, .s = m->s1 };
		step.params[1] = (struct db_value){ .type = DBV_STR, .s = m->session_id };
		step.nparams = 2;
		ctl_write(c, &step, 1, m->call_id, "the transfer destination");
		break;
	case M_END:
		role = m->s1;
		memset(&step, 0, sizeof(step));
		step.stmt = S_END;
		step.params[0] = (struct db_value){ .type = DBV_STR, .s = role };
		step.params[1] = (struct db_value){ .type = DBV_STR, .s = m->s2 };
		step.params[2] = (struct db_value){ .type = DBV_STR, .s = m->session_id };
		step.params[3] = (struct db_value){ .type = DBV_STR, .s = role };
		step.nparams = 4;
		ctl_write(c, &step, 1, m->call_id, "the end of a call");
		break;
	default:
		log_warn("ctl: unexpected message %d", (int)m->type);
		break;
	}
	msg_free(m);
}

struct ctl *
ctl_new(struct event_base *base, const struct conf *cf, struct mailbox *to_ws,
    struct ws *ws, char **cause)
{
	struct ctl *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	c->base = base;
	c->cf = cf;
	c->to_ws = to_ws;
	c->ws = ws;
	if (gethostname(c->host, sizeof(c->host)) != 0)
		snprintf(c->host, sizeof(c->host), "relay");
	c->host[sizeof(c->host) - 1] = '\0';
	if ((c->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL)
		c->dns = evdns_base_new(base, 0);	/* no resolv.conf: numeric only */
	c->db = db_async_new(base, cf, ctl_sql, S_COUNT, cf->relay_db_connections);
	if (c->dns != NULL)
		c->tools = tools_new(base, c->dns, cf, to_ws, ws, cause);
	if (c->dns == NULL || c->db == NULL || c->tools == NULL) {
		if (*cause == NULL)
			*cause = strdup("cannot set up DNS or the database pool");
		ctl_free(c);
		return NULL;
	}
	return c;
}

struct db_async *
ctl_db(struct ctl *c)
{
	return c->db;
}

void
ctl_free(struct ctl *c)
{
	if (c == NULL)
		return;
	if (c->tools != NULL)
		tools_free(c->tools);
	if (c->db != NULL)
		db_async_free(c->db);
	if (c->dns != NULL)
		evdns_base_free(c->dns, 1);
	free(c);
}
