/*
 * routes: what each webhook route does (see DESIGN.md, "Webhook routes").
 *
 * Twilio-facing routes never answer the caller with an HTTP error once the
 * request is well-formed and signed: if the database fails, the caller
 * hears the configured fallback instead of Twilio's "application error".
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "db.h"
#include "log.h"
#include "routes.h"
#include "session_id.h"
#include "tools.h"
#include "twiml.h"

#define FIELD_MAX	64	/* longest CallSid, AccountSid, From, To we store */

/* Twilio SIDs: a two-letter prefix and letters or digits (normally 32 hex). */
static bool
sid_valid(const char *s, const char *prefix)
{
	size_t n;

	if (s == NULL || strncmp(s, prefix, 2) != 0)
		return false;
	for (n = 2; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]))
			return false;
	return n > 2 && n <= FIELD_MAX;
}

/* A From/To value: short and without control characters. */
static bool
party_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	for (n = 0; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
			return false;
	return n <= FIELD_MAX;
}

static void
send_twiml(struct request *rq, struct twiml *t)
{
	struct response	 r;
	const char	*doc;
	size_t		 len;

	if ((doc = twiml_end(t, &len)) == NULL) {
		/* Cannot happen with our bounded inputs; still never send junk. */
		log_err("%s: TwiML document too large", rq->route_name);
		request_error(rq, 500, "internal error");
		twiml_free(t);
		return;
	}
	response_init(&r, 200, "text/xml; charset=utf-8");
	buf_append(&r.body, doc, len);
	request_respond(rq, &r);
	response_free(&r);
	twiml_free(t);
}

static void
send_empty(struct request *rq, int status)
{
	struct response r;

	response_init(&r, status, NULL);
	request_respond(rq, &r);
	response_free(&r);
}

static void
send_json(struct request *rq, int status, json_object *obj)
{
	struct response r;

	response_init(&r, status, "application/json");
	buf_puts(&r.body, json_object_to_json_string_ext(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	buf_putc(&r.body, '\n');
	request_respond(rq, &r);
	response_free(&r);
	json_object_put(obj);
}

static void
say(struct request *rq, struct twiml *t, const char *text)
{
	twiml_elem(t, "Say", text, "voice", rq->cf->webhook_say_voice,
	    "language", rq->cf->webhook_say_language, (const char *)NULL);
}

/* <Dial> to an E.164 number or a SIP URI. */
static void
dial(struct twiml *t, const char *target, const char *caller_id)
{
	twiml_open(t, "Dial", "callerId", caller_id, (const char *)NULL);
	if (strncasecmp(target, "sip:", 4) == 0)
		twiml_elem(t, "Sip", target, (const char *)NULL);
	else
		twiml_elem(t, "Number", target, (const char *)NULL);
	twiml_close(t);
}

/* The configured fallback: a message, then the fallback number or hang up. */
static void
config_fallback(struct request *rq, struct twiml *t)
{
	say(rq, t, rq->cf->webhook_fallback_message);
	if (rq->cf->webhook_fallback_number[0] != '\0')
		dial(t, rq->cf->webhook_fallback_number, NULL);
	else
		twiml_elem(t, "Hangup", NULL, (const char *)NULL);
}

static void
answer_fallback(struct request *rq)
{
	struct twiml t;

	twiml_begin(&t);
	config_fallback(rq, &t);
	send_twiml(rq, &t);
}

static void
route_webhook(struct request *rq, struct store *st)
{
	const char		*call_sid = form_get(&rq->form, "CallSid");
	const char		*account_sid = form_get(&rq->form, "AccountSid");
	const char		*from = form_get(&rq->form, "From");
	const char		*to = form_get(&rq->form, "To");
	const char		*call_status = form_get(&rq->form, "CallStatus");
	struct agent_ref	 agent;
	struct session_ref	 sess;
	struct twiml		 t;
	struct buf		 action, stream, status_cb;
	char			 mfrom[80], mto[80];
	int			 rc;

	if (!sid_valid(call_sid, "CA") || !sid_valid(account_sid, "AC") ||
	    !party_valid(from) || !party_valid(to) || to[0] == '\0') {
		log_warn("%s: missing or malformed CallSid, AccountSid, From "
		    "or To (400)", rq->route_name);
		request_error(rq, 400, "missing or malformed CallSid, "
		    "AccountSid, From or To");
		return;
	}
	if (call_status == NULL || !party_valid(call_status))
		call_status = "ringing";
	log_set_tag("call=%s", call_sid);
	log_phone(mfrom, sizeof(mfrom), from);
	log_phone(mto, sizeof(mto), to);

	rc = store_agent_by_number(st, to, &agent);
	if (rc == -1) {
		log_err("incoming call from %s to %s: database error (%s); "
		    "answering with the fallback", mfrom, mto, st->err);
		answer_fallback(rq);
		return;
	}
	if (rc == 0 || !agent.enabled) {
		log_notice("incoming call from %s to %s: %s; %s", mfrom, mto,
		    rc == 0 ? "no agent for this number" :
		    "the number or its agent is disabled",
		    rq->cf->webhook_reject_unknown ? "rejected" : "told so");
		twiml_begin(&t);
		if (rq->cf->webhook_reject_unknown)
			twiml_elem(&t, "Reject", NULL, "reason", "rejected",
			    (const char *)NULL);
		else {
			say(rq, &t, rq->cf->webhook_unknown_number_message);
			twiml_elem(&t, "Hangup", NULL, (const char *)NULL);
		}
		send_twiml(rq, &t);
		return;
	}

	if (store_session_open(st, call_sid, account_sid, &agent, from, to,
	    call_status, &sess) == -1) {
		log_err("incoming call from %s to %s: database error creating "
		    "the session (%s); answering with the fallback", mfrom, mto,
		    st->err);
		answer_fallback(rq);
		return;
	}
	log_set_tag("session=%s call=%s", sess.session_id, call_sid);
	log_info("incoming call from %s to %s: agent \"%s\", session %s%s",
	    mfrom, mto, agent.name, strcmp(sess.status, "pending") == 0 ?
	    "pending" : sess.status, "");

	buf_init(&action, REQUEST_URI_MAX);
	buf_init(&stream, REQUEST_URI_MAX);
	buf_init(&status_cb, REQUEST_URI_MAX);
	request_public_url(rq, "/api/connect-action/", &action);
	buf_printf(&stream, "%s/ws/realtime/%s/", rq->cf->relay_public_url,
	    sess.session_id);
	if (rq->cf->webhook_stream_status_callback)
		request_public_url(rq, "/api/stream-status/", &status_cb);

	twiml_begin(&t);
	twiml_open(&t, "Connect", "action", buf_str(&action), "method", "POST",
	    (const char *)NULL);
	twiml_open(&t, "Stream", "url", buf_str(&stream), "name", "callbridge",
	    "statusCallback", buf_str(&status_cb), "statusCallbackMethod",
	    status_cb.len > 0 ? "POST" : NULL, (const char *)NULL);
	twiml_elem(&t, "Parameter", NULL, "name", "session_id", "value",
	    sess.session_id, (const char *)NULL);
	twiml_elem(&t, "Parameter", NULL, "name", "agent", "value", agent.name,
	    (const char *)NULL);
	twiml_close(&t);
	twiml_close(&t);
	send_twiml(rq, &t);
	buf_free(&action);
	buf_free(&stream);
	buf_free(&status_cb);
}

static bool
call_status_final(const char *s)
{
	static const char *const final[] = {
		"completed", "busy", "failed", "no-answer", "canceled",
	};
	size_t i;

	for (i = 0; s != NULL && i < sizeof(final) / sizeof(final[0]); i++)
		if (strcmp(s, final[i]) == 0)
			return true;
	return false;
}

static void
route_connect_action(struct request *rq, struct store *st)
{
	const char		*call_sid = form_get(&rq->form, "CallSid");
	const char		*call_status = form_get(&rq->form, "CallStatus");
	struct connect_info	 ci;
	struct twiml		 t;
	const char		*outcome;
	char			 event[512];
	int			 rc;

	if (!sid_valid(call_sid, "CA")) {
		log_warn("%s: missing or malformed CallSid (400)", rq->route_name);
		request_error(rq, 400, "missing or malformed CallSid");
		return;
	}
	log_set_tag("call=%s", call_sid);
	twiml_begin(&t);
	if (call_status_final(call_status)) {
		/* The caller is gone; nothing to say to anyone. */
		twiml_elem(&t, "Hangup", NULL, (const char *)NULL);
		send_twiml(rq, &t);
		return;
	}
	rc = store_connect_info(st, call_sid, &ci);
	if (rc == -1) {
		log_err("stream ended: database error (%s); answering with the "
		    "fallback", st->err);
		config_fallback(rq, &t);
		send_twiml(rq, &t);
		return;
	}
	if (rc == 0) {
		log_warn("stream ended for a call without a session; answering "
		    "with the fallback");
		config_fallback(rq, &t);
		send_twiml(rq, &t);
		return;
	}
	log_set_tag("session=%s call=%s", ci.session_id, call_sid);

	if (ci.transfer_to[0] != '\0') {
		/* Only the relay writes transfer_to, from the tool's row. */
		dial(&t, ci.transfer_to, ci.caller_id[0] != '\0' ? ci.caller_id :
		    ci.to_number);
		outcome = "transfer";
	} else if (strcmp(ci.status, "ended") == 0) {
		twiml_elem(&t, "Hangup", NULL, (const char *)NULL);
		outcome = "hang up";
	} else {
		/*
		 * failed, expired, still pending (the stream never reached a
		 * relay) or still connected (the relay died without ending
		 * the call): the caller is on the line and must hear something.
		 */
		if (strcmp(ci.status, "pending") == 0)
			(void)store_session_fail_pending(st, call_sid,
			    "the stream ended before a relay claimed the session");
		if (ci.fallback_number[0] != '\0') {
			dial(&t, ci.fallback_number, ci.caller_id[0] != '\0' ?
			    ci.caller_id : ci.to_number);
			outcome = "fallback dial";
		} else if (ci.fallback_message[0] != '\0') {
			say(rq, &t, ci.fallback_message);
			twiml_elem(&t, "Hangup", NULL, (const char *)NULL);
			outcome = "fallback message";
		} else {
			config_fallback(rq, &t);
			outcome = "default fallback";
		}
	}
	log_info("stream ended (session %s%s%s): %s", ci.status,
	    ci.end_reason[0] != '\0' ? ", " : "", ci.end_reason, outcome);
	send_twiml(rq, &t);
	snprintf(event, sizeof(event), "connect-action: %s (session %s)",
	    outcome, ci.status);
	if (store_event(st, call_sid, "status", NULL, event) == -1)
		log_warn("recording the connect-action event failed: %s", st->err);
}

static int
status_rank(const char *s)
{
	if (strcmp(s, "queued") == 0 || strcmp(s, "initiated") == 0)
		return 1;
	if (strcmp(s, "ringing") == 0)
		return 2;
	if (strcmp(s, "in-progress") == 0)
		return 3;
	if (call_status_final(s))
		return 4;
	return -1;
}

/* A non-negative decimal integer field, or -1 when absent; -2 malformed. */
static long long
int_field(const struct request *rq, const char *name)
{
	const char	*v = form_get(&rq->form, name);
	char		*end;
	long long	 n;

	if (v == NULL || v[0] == '\0')
		return -1;
	n = strtoll(v, &end, 10);
	if (*end != '\0' || n < 0 || n > 0x7fffffff || !isdigit((unsigned char)v[0]))
		return -2;
	return n;
}

static void
route_status(struct request *rq, struct store *st)
{
	const char	*call_sid = form_get(&rq->form, "CallSid");
	const char	*status = form_get(&rq->form, "CallStatus");
	long long	 seq = int_field(rq, "SequenceNumber");
	long long	 duration = int_field(rq, "CallDuration");
	int		 rank, rc;
	char		 event[128], reason[128];

	if (!sid_valid(call_sid, "CA") || status == NULL ||
	    (rank = status_rank(status)) < 0 || seq == -2 || duration == -2) {
		log_warn("%s: missing or malformed CallSid, CallStatus, "
		    "SequenceNumber or CallDuration (400)", rq->route_name);
		request_error(rq, 400, "missing or malformed CallSid, "
		    "CallStatus, SequenceNumber or CallDuration");
		return;
	}
	log_set_tag("call=%s", call_sid);
	rc = store_status_update(st, call_sid, status, rank, seq, duration);
	if (rc == -1) {
		log_err("call status %s: database error (%s)", status, st->err);
		request_error(rq, 503, "database unavailable");
		return;
	}
	if (rc == 0) {
		log_debug("call status %s (seq %lld): stale or unknown call; "
		    "ignored", status, seq);
		send_empty(rq, 204);
		return;
	}
	if (seq >= 0)
		log_info("call status %s (seq %lld)", status, seq);
	else
		log_info("call status %s", status);
	if (rank == 4) {
		snprintf(reason, sizeof(reason),
		    "call %s before the stream connected", status);
		if (store_session_expire(st, call_sid, reason) == 1)
			log_info("session expired: %s", reason);
	}
	snprintf(event, sizeof(event), "call status %s", status);
	if (store_event(st, call_sid, "status", NULL, event) == -1)
		log_warn("recording the status event failed: %s", st->err);
	send_empty(rq, 204);
}

static void
route_stream_status(struct request *rq, struct store *st)
{
	const char	*call_sid = form_get(&rq->form, "CallSid");
	const char	*stream_sid = form_get(&rq->form, "StreamSid");
	const char	*ev = form_get(&rq->form, "StreamEvent");
	const char	*error = form_get(&rq->form, "StreamError");
	char		 text[512], esc[256];
	int		 rc = 0;

	if (!sid_valid(call_sid, "CA") || !sid_valid(stream_sid, "MZ") ||
	    ev == NULL || (strcmp(ev, "stream-started") != 0 &&
	    strcmp(ev, "stream-stopped") != 0 &&
	    strcmp(ev, "stream-error") != 0)) {
		log_warn("%s: missing or malformed CallSid, StreamSid or "
		    "StreamEvent (400)", rq->route_name);
		request_error(rq, 400, "missing or malformed CallSid, "
		    "StreamSid or StreamEvent");
		return;
	}
	log_set_tag("call=%s", call_sid);
	if (error == NULL)
		error = "";
	if (strlen(error) > 300)
		error = "(error text too long)";
	if (strcmp(ev, "stream-started") == 0)
		rc = store_stream_sid(st, call_sid, stream_sid);
	else if (strcmp(ev, "stream-error") == 0) {
		snprintf(text, sizeof(text), "stream error: %s", error);
		rc = store_session_fail_pending(st, call_sid, text);
		log_warn("stream %s error: %s", stream_sid,
		    log_escape(esc, sizeof(esc), error));
	}
	if (rc == -1) {
		log_err("%s: database error (%s)", ev, st->err);
		request_error(rq, 503, "database unavailable");
		return;
	}
	snprintf(text, sizeof(text), "%s %s%s%s", ev, stream_sid,
	    error[0] != '\0' ? ": " : "", error);
	rc = store_event(st, call_sid, strcmp(ev, "stream-error") == 0 ?
	    "error" : "status", NULL, text);
	if (rc == -1) {
		log_err("%s: database error (%s)", ev, st->err);
		request_error(rq, 503, "database unavailable");
		return;
	}
	log_info("%s %s", ev, stream_sid);
	send_empty(rq, 204);
}

static void
route_health(struct request *rq, struct store *st)
{
	json_object	*o = json_object_new_object();
	int		 version = 0, rc;

	rc = store_health(st, &version);
	json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
	if (rc == 1 && version == DB_SCHEMA_VERSION) {
		json_object_object_add(o, "status", json_object_new_string("ok"));
		json_object_object_add(o, "database", json_object_new_string("ok"));
		json_object_object_add(o, "schema_version", json_object_new_int(version));
		send_json(rq, 200, o);
		return;
	}
	if (rc == -1)
		log_warn("health: database unavailable (%s)", st->err);
	json_object_object_add(o, "status", json_object_new_string("unavailable"));
	json_object_object_add(o, "database", json_object_new_string(
	    rc == -1 ? "unavailable" : "wrong schema version"));
	send_json(rq, 503, o);
}

static void
json_error(struct request *rq, int status, const char *message)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(message));
	send_json(rq, status, o);
}

static void
route_tools(struct request *rq, struct store *st)
{
	const char	*name = form_get(&rq->form, "agent");
	const char	*number = form_get(&rq->form, "number");
	json_object	*o, *tools, *skipped;
	struct agent_ref agent;
	struct tool_row	 row;
	long long	 agent_id = 0;
	int		 rc;

	if ((name == NULL) == (number == NULL)) {
		json_error(rq, 400, "give exactly one of agent=<name> or "
		    "number=<E.164>");
		return;
	}
	if (name != NULL) {
		rc = store_agent_by_name(st, name, &agent_id);
		snprintf(agent.name, sizeof(agent.name), "%s", name);
	} else {
		rc = store_agent_by_number(st, number, &agent);
		agent_id = agent.id;
	}
	if (rc == -1) {
		log_err("tools: database error (%s)", st->err);
		json_error(rq, 503, "database unavailable");
		return;
	}
	if (rc == 0) {
		json_error(rq, 404, "no such agent");
		return;
	}
	o = json_object_new_object();
	tools = json_object_new_array();
	skipped = json_object_new_array();
	json_object_object_add(o, "agent", json_object_new_string(agent.name));
	for (rc = store_tools(st, agent_id, true, &row); rc == 1;
	    rc = store_tools(st, agent_id, false, &row)) {
		json_object		*t;
		const char		*why = NULL;

		t = tool_object(row.name, row.description, row.parameters, &why);
		if (t == NULL) {
			json_object *sk = json_object_new_object();

			log_warn("tools: agent \"%s\": tool \"%s\" skipped: %s",
			    agent.name, row.name, why);
			json_object_object_add(sk, "name", json_object_new_string(row.name));
			json_object_object_add(sk, "reason", json_object_new_string(why));
			json_object_array_add(skipped, sk);
			continue;
		}
		json_object_object_add(t, "kind", json_object_new_string(row.kind));
		json_object_array_add(tools, t);
	}
	store_tools_done(st);
	if (rc == -1) {
		log_err("tools: database error (%s)", st->err);
		json_object_put(tools);
		json_object_put(skipped);
		json_object_put(o);
		json_error(rq, 503, "database unavailable");
		return;
	}
	json_object_object_add(o, "tools", tools);
	json_object_object_add(o, "skipped", skipped);
	send_json(rq, 200, o);
}

static void
route_public_url(struct request *rq)
{
	static const struct { const char *key, *path; } urls[] = {
		{ "webhook_url", "/api/webhook/" },
		{ "connect_action_url", "/api/connect-action/" },
		{ "status_callback_url", "/api/status/" },
		{ "stream_status_url", "/api/stream-status/" },
	};
	json_object	*o = json_object_new_object();
	struct buf	 b;
	size_t		 i;

	buf_init(&b, REQUEST_URI_MAX);
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		buf_reset(&b);
		request_public_url(rq, urls[i].path, &b);
		json_object_object_add(o, urls[i].key,
		    json_object_new_string(buf_str(&b)));
	}
	json_object_object_add(o, "webhook_public_url",
	    json_object_new_string(rq->cf->webhook_public_url));
	json_object_object_add(o, "relay_public_url",
	    json_object_new_string(rq->cf->relay_public_url));
	buf_reset(&b);
	buf_printf(&b, "%s/ws/realtime/{session_id}/", rq->cf->relay_public_url);
	json_object_object_add(o, "stream_url_template",
	    json_object_new_string(buf_str(&b)));
	buf_free(&b);
	send_json(rq, 200, o);
}

void
routes_dispatch(struct request *rq, struct store *st)
{
	store_begin(st);
	switch (rq->route) {
	case ROUTE_WEBHOOK:
		route_webhook(rq, st);
		break;
	case ROUTE_CONNECT_ACTION:
		route_connect_action(rq, st);
		break;
	case ROUTE_STATUS:
		route_status(rq, st);
		break;
	case ROUTE_STREAM_STATUS:
		route_stream_status(rq, st);
		break;
	case ROUTE_HEALTH:
		route_health(rq, st);
		break;
	case ROUTE_TOOLS:
		route_tools(rq, st);
		break;
	case ROUTE_PUBLIC_URL:
		route_public_url(rq);
		break;
	case ROUTE_NONE:
		request_error(rq, 404, "not found");
		break;
	}
	if (!rq->responded)
		request_error(rq, 500, "internal error");
}
