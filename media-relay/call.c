/*
 * call: the life of one call on the ws thread (see call.h): Twilio's
 * stream, the OpenAI Realtime session, the audio between them, barge-in,
 * DTMF, transcripts and the end.
 *
 * Audio is never decoded or re-encoded: Twilio's media.payload goes into
 * input_audio_buffer.append as it is, OpenAI's delta into Twilio's media
 * as it is (both are base64 G.711 μ-law at 8 kHz).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "call.h"
#include "log.h"
#include "url.h"

static const char *const state_names[] = {
	[CALL_CLAIMING] = "claiming",
	[CALL_RESOLVING] = "resolving",
	[CALL_CONNECTING] = "connecting",
	[CALL_ACTIVE] = "active",
	[CALL_ENDING] = "ending",
};

#define TAG(c)	((c)->session_id)

#define APPEND_PREFIX	"{\"type\":\"input_audio_buffer.append\",\"audio\":\""
#define APPEND_SUFFIX	"\"}"
#define APPEND_OVERHEAD	(sizeof(APPEND_PREFIX) - 1 + sizeof(APPEND_SUFFIX) - 1)
#define MEDIA_FMT	"{\"event\":\"media\",\"streamSid\":\"%s\",\"media\":{\"payload\":\"%s\"}}"
#define MEDIA_OVERHEAD	(sizeof(MEDIA_FMT) - 1 - 4)
#define B64_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="

void
call_set_state(struct call *c, enum call_state s)
{
	log_call(LOG_DEBUG, TAG(c), "state %s -> %s", state_names[c->state],
	    state_names[s]);
	c->state = s;
}

struct call *
call_new(struct ws *ws, uint32_t id, const char *session_id, struct lws *tw)
{
	const struct conf	*cf = ws_conf(ws);
	struct call		*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->ws = ws;
	c->id = id;
	snprintf(c->session_id, sizeof(c->session_id), "%s", session_id);
	c->tw = tw;
	c->state = CALL_CLAIMING;
	c->tw_out.max = (size_t)cf->relay_outbound_queue;
	c->up_out.max = (size_t)cf->relay_outbound_queue;
	/* Bounded by preconnect_audio_ms below; the byte cap is a backstop. */
	c->early.max = (size_t)cf->relay_outbound_queue;
	buf_init(&c->tw_rx, (size_t)cf->relay_max_message);
	buf_init(&c->up_rx, (size_t)cf->openai_max_message);
	c->close_code = LWS_CLOSE_STATUS_NORMAL;
	return c;
}

void
call_free(struct call *c)
{
	lws_sul_cancel(&c->sul_start);
	lws_sul_cancel(&c->sul_up);
	lws_sul_cancel(&c->sul_drain);
	lws_sul_cancel(&c->sul_hangup);
	outq_clear(&c->tw_out);
	outq_clear(&c->up_out);
	outq_clear(&c->early);
	buf_free(&c->tw_rx);
	buf_free(&c->up_rx);
	agent_free(c->agent);
	free(c);
}

void
call_tw_send(struct call *c, const char *data, size_t len)
{
	if (c->tw == NULL || c->state == CALL_ENDING)
		return;
	if (outq_push(&c->tw_out, data, len, false) == -1) {
		call_end(c, "failed", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    "Twilio does not read its stream (outbound queue full)");
		return;
	}
	lws_callback_on_writable(c->tw);
}

void
call_up_send(struct call *c, const char *data, size_t len)
{
	if (c->up == NULL || c->state == CALL_ENDING)
		return;
	if (outq_push(&c->up_out, data, len, false) == -1) {
		call_end(c, "failed", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    "OpenAI does not read its socket (outbound queue full)");
		return;
	}
	lws_callback_on_writable(c->up);
}

/* Queue messages built in place (the audio path: no extra copy). */
static void
call_tw_send_msg(struct call *c, struct outmsg *m)
{
	if (c->tw == NULL || c->state == CALL_ENDING) {
		free(m);
		return;
	}
	if (outq_append(&c->tw_out, m) == -1) {
		call_end(c, "failed", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    "Twilio does not read its stream (outbound queue full)");
		return;
	}
	lws_callback_on_writable(c->tw);
}

static void
call_up_send_msg(struct call *c, struct outmsg *m)
{
	if (c->up == NULL || c->state == CALL_ENDING) {
		free(m);
		return;
	}
	if (outq_append(&c->up_out, m) == -1) {
		call_end(c, "failed", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    "OpenAI does not read its socket (outbound queue full)");
		return;
	}
	lws_callback_on_writable(c->up);
}

static void
send_json(struct call *c, json_object *o, bool upstream)
{
	size_t		 len;
	const char	*s = json_object_to_json_string_length(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

	if (upstream)
		call_up_send(c, s, len);
	else
		call_tw_send(c, s, len);
	json_object_put(o);
}

static void
event_to_ctl(struct call *c, const char *kind, const char *role,
    const char *content)
{
	struct msg *m;

	if (!c->claimed || (m = msg_new(M_EVENT, c->id, c->session_id)) == NULL)
		return;
	m->s1 = strdup(kind);
	m->s2 = role != NULL ? strdup(role) : NULL;
	m->s3 = strdup(content);
	ws_to_ctl(c->ws, m);
}

void
call_end(struct call *c, const char *status, int code, const char *reason)
{
	struct msg *m;

	if (c->state == CALL_ENDING)
		return;
	log_call(strcmp(status, "failed") == 0 ? LOG_WARNING : LOG_INFO,
	    TAG(c), "call %s: %s", status, reason);
	snprintf(c->end_reason, sizeof(c->end_reason), "%s", reason);
	c->end_status = strcmp(status, "failed") == 0 ? "failed" : "ended";
	c->close_code = code;
	call_set_state(c, CALL_ENDING);
	lws_sul_cancel(&c->sul_start);
	lws_sul_cancel(&c->sul_up);
	lws_sul_cancel(&c->sul_hangup);
	if (c->claimed) {
		if (c->tokens_in != 0 || c->tokens_out != 0) {
			if ((m = msg_new(M_TOKENS, c->id, c->session_id)) != NULL) {
				m->n1 = c->tokens_in;
				m->n2 = c->tokens_out;
				ws_to_ctl(c->ws, m);
			}
			c->tokens_in = c->tokens_out = 0;
		}
		if ((m = msg_new(M_END, c->id, c->session_id)) != NULL) {
			m->s1 = strdup(status);
			m->s2 = strdup(reason);
			ws_to_ctl(c->ws, m);
		}
	}
	/* Both sockets close from their writable callbacks. */
	outq_clear(&c->up_out);
	if (c->up != NULL)
		lws_callback_on_writable(c->up);
	if (c->tw != NULL)
		lws_callback_on_writable(c->tw);
}

/* ------------------------------------------------------------ OpenAI */

static void
sul_up_timeout(lws_sorted_usec_list_t *sul)
{
	struct call *c = lws_container_of(sul, struct call, sul_up);

	call_end(c, "failed", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
	    "OpenAI did not open the session in time");
}

static void
url_encode(char *out, size_t size, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0' && o + 4 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.' || ch == '~')
			out[o++] = (char)ch;
		else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

static void
call_connect_openai(struct call *c)
{
	const struct conf		*cf = ws_conf(c->ws);
	struct lws_client_connect_info	 i;
	struct url			 u;
	const char			*why;
	char				 path[URL_PATH_MAX + 256], model[200];

	if (!url_parse(cf->openai_url, &u, &why)) {
		call_end(c, "failed", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    "bad [openai] url");
		return;
	}
	url_encode(model, sizeof(model), c->agent->model);
	snprintf(path, sizeof(path), "%s?model=%s",
	    u.path[0] != '\0' ? u.path : "/", model);
	memset(&i, 0, sizeof(i));
	i.context = ws_context(c->ws);
	i.vhost = ws_client_vhost(c->ws);
	i.address = c->address;
	i.port = u.port;
	i.path = path;
	i.host = u.host;
	i.origin = u.host;
	i.ssl_connection = u.tls ? LCCSCF_USE_SSL : 0;
	i.local_protocol_name = "openai";
	i.userdata = c;
	i.pwsi = &c->up;
	call_set_state(c, CALL_CONNECTING);
	if (lws_client_connect_via_info(&i) == NULL && c->state == CALL_CONNECTING) {
		c->up = NULL;
		call_end(c, "failed", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    "cannot open a connection to OpenAI");
	}
}

/* Both the claim and Twilio's start are needed; then resolve, connect. */
static void
call_maybe_proceed(struct call *c)
{
	const struct conf	*cf = ws_conf(c->ws);
	struct url		 u;
	const char		*why;
	struct msg		*m;

	if (c->state != CALL_CLAIMING || !c->claimed || !c->started)
		return;
	if (c->agent->call_sid == NULL || strcmp(c->agent->call_sid, c->call_sid) != 0) {
		call_end(c, "failed", LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    "start's callSid is not the session's");
		return;
	}
	lws_sul_cancel(&c->sul_start);
	lws_sul_schedule(ws_context(c->ws), 0, &c->sul_up, sul_up_timeout,
	    (lws_usec_t)cf->openai_connect_timeout * LWS_USEC_PER_SEC);
	if (!url_parse(cf->openai_url, &u, &why)) {
		call_end(c, "failed", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    "bad [openai] url");
		return;
	}
	call_set_state(c, CALL_RESOLVING);
	/* lws 4.1 would resolve with a blocking call: the ctl thread does it. */
	if ((m = msg_new(M_RESOLVE, c->id, c->session_id)) == NULL) {
		call_end(c, "failed", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    "out of memory");
		return;
	}
	m->s1 = strdup(u.host);
	ws_to_ctl(c->ws, m);
}

void
call_on_claimed(struct call *c, struct agent *a)
{
	struct msg *m;

	c->claim_pending = false;
	if (c->state == CALL_ENDING) {
		/* Ended while the claim was in flight: record how it ended. */
		agent_free(a);
		if ((m = msg_new(M_END, c->id, c->session_id)) != NULL) {
			m->s1 = strdup(c->end_status);
			m->s2 = strdup(c->end_reason);
			ws_to_ctl(c->ws, m);
		}
		return;
	}
	if (c->state != CALL_CLAIMING) {
		agent_free(a);
		return;
	}
	c->agent = a;
	c->claimed = true;
	log_call(LOG_INFO, TAG(c), "session claimed: call %s, agent \"%s\" "
	    "(model %s, %d tool%s)", a->call_sid ? a->call_sid : "?", a->name,
	    a->model, a->ntools, a->ntools == 1 ? "" : "s");
	call_maybe_proceed(c);
}

void
call_on_refused(struct call *c, const char *reason)
{
	c->claim_pending = false;
	call_end(c, "failed", LWS_CLOSE_STATUS_POLICY_VIOLATION, reason);
}

void
call_on_resolved(struct call *c, const char *address, const char *error)
{
	char why[CALL_REASON_MAX];

	if (c->state != CALL_RESOLVING)
		return;
	if (address == NULL) {
		snprintf(why, sizeof(why), "cannot resolve OpenAI's host: %s",
		    error != NULL ? error : "unknown error");
		call_end(c, "failed", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, why);
		return;
	}
	snprintf(c->address, sizeof(c->address), "%s", address);
	call_connect_openai(c);
}

static json_object *
session_update(struct call *c)
{
	const struct conf	*cf = ws_conf(c->ws);
	json_object		*o = json_object_new_object();
	json_object		*s = json_object_new_object();
	json_object		*audio = json_object_new_object();
	json_object		*in = json_object_new_object();
	json_object		*out = json_object_new_object();
	json_object		*fmt, *td, *tools;

	json_object_object_add(o, "type", json_object_new_string("session.update"));
	json_object_object_add(s, "type", json_object_new_string("realtime"));
	json_object_object_add(s, "model", json_object_new_string(c->agent->model));
	json_object_object_add(s, "instructions",
	    json_object_new_string(c->agent->instructions));
	json_object_object_add(s, "output_modalities",
	    json_tokener_parse("[\"audio\"]"));
	fmt = json_object_new_object();
	json_object_object_add(fmt, "type", json_object_new_string("audio/pcmu"));
	json_object_object_add(in, "format", fmt);
	if (cf->openai_transcription_model[0] != '\0') {
		json_object *tr = json_object_new_object();

		json_object_object_add(tr, "model",
		    json_object_new_string(cf->openai_transcription_model));
		if (cf->openai_language[0] != '\0')
			json_object_object_add(tr, "language",
			    json_object_new_string(cf->openai_language));
		json_object_object_add(in, "transcription", tr);
	}
	td = json_object_new_object();
	json_object_object_add(td, "type", json_object_new_string("server_vad"));
	json_object_object_add(td, "create_response", json_object_new_boolean(1));
	json_object_object_add(td, "interrupt_response", json_object_new_boolean(1));
	json_object_object_add(in, "turn_detection", td);
	fmt = json_object_new_object();
	json_object_object_add(fmt, "type", json_object_new_string("audio/pcmu"));
	json_object_object_add(out, "format", fmt);
	json_object_object_add(out, "voice", json_object_new_string(c->agent->voice));
	json_object_object_add(audio, "input", in);
	json_object_object_add(audio, "output", out);
	json_object_object_add(s, "audio", audio);
	tools = json_tokener_parse(c->agent->tools_json != NULL ?
	    c->agent->tools_json : "[]");
	json_object_object_add(s, "tools", tools != NULL ? tools :
	    json_object_new_array());
	json_object_object_add(s, "tool_choice", json_object_new_string("auto"));
	json_object_object_add(o, "session", s);
	return o;
}

void
call_on_openai_established(struct call *c)
{
	log_call(LOG_DEBUG, TAG(c), "OpenAI WebSocket open");
}

/* session.created: configure, greet, then let the early audio through. */
static void
call_configure(struct call *c)
{
	struct outmsg	*m;
	char		 greet[2048];

	if (c->up_ready)
		return;
	send_json(c, session_update(c), true);
	if (c->agent->greeting != NULL) {
		json_object *o = json_object_new_object(), *r = json_object_new_object();

		snprintf(greet, sizeof(greet), "Greet the caller by saying "
		    "exactly this, then listen: %s", c->agent->greeting);
		json_object_object_add(o, "type", json_object_new_string("response.create"));
		json_object_object_add(r, "instructions", json_object_new_string(greet));
		json_object_object_add(o, "response", r);
		send_json(c, o, true);
	}
	c->up_ready = true;
	lws_sul_cancel(&c->sul_up);
	/* The early audio moves to OpenAI's queue as it is. */
	while ((m = c->early.head) != NULL) {
		c->early.head = m->next;
		c->early.bytes -= m->len;
		call_up_send_msg(c, m);
	}
	c->early.tail = NULL;
	if (c->early_dropped_ms > 0)
		log_call(LOG_NOTICE, TAG(c), "%lld ms of early caller audio "
		    "dropped (preconnect_audio_ms)", c->early_dropped_ms);
	call_set_state(c, CALL_ACTIVE);
	log_call(LOG_INFO, TAG(c), "OpenAI session open; audio flowing");
}

void
call_on_openai_closed(struct call *c, const char *why)
{
	c->up = NULL;
	if (c->state != CALL_ENDING)
		call_end(c, "failed", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, why);
}

static const char *
jstr(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *
jobj(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

static long long
jint(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_int64(v);
}

/* Decoded length of a base64 string, without decoding it. */
static size_t
b64_decoded_len(const char *s, size_t n)
{
	size_t pad = 0;

	if (n >= 1 && s[n - 1] == '=')
		pad++;
	if (n >= 2 && s[n - 2] == '=')
		pad++;
	return n / 4 * 3 - pad;
}

static void
on_audio_delta(struct call *c, json_object *ev)
{
	const char	*resp = jstr(ev, "response_id");
	const char	*item = jstr(ev, "item_id");
	const char	*delta = jstr(ev, "delta");
	char		 buf[256];
	struct outmsg	*m;
	size_t		 n;

	if (delta == NULL || item == NULL || c->stream_sid[0] == '\0')
		return;
	/* Late deltas of a response cancelled by barge-in are not played. */
	if (resp != NULL && c->cancelled_id[0] != '\0' &&
	    strcmp(resp, c->cancelled_id) == 0)
		return;
	if (strcmp(item, c->item_id) != 0) {
		snprintf(c->item_id, sizeof(c->item_id), "%s", item);
		c->item_sent_ms = c->item_played_ms = 0;
	}
	n = strlen(delta);
	/* Base64 only: it goes into Twilio's JSON without escaping. */
	if (strspn(delta, B64_CHARS) != n) {
		log_call(LOG_WARNING, TAG(c), "OpenAI sent audio that is not "
		    "base64; dropped");
		return;
	}
	c->item_sent_ms += (long long)b64_decoded_len(delta, n) / 8;
	if ((m = outmsg_new(n + MEDIA_OVERHEAD + strlen(c->stream_sid))) == NULL)
		return;
	m->len = (size_t)snprintf((char *)m->data + LWS_PRE,
	    n + MEDIA_OVERHEAD + strlen(c->stream_sid) + 1, MEDIA_FMT,
	    c->stream_sid, delta);
	call_tw_send_msg(c, m);

	/* A uniquely named mark after each chunk: item, sent ms, sequence. */
	c->mark_seq++;
	snprintf(buf, sizeof(buf), "{\"event\":\"mark\",\"streamSid\":\"%s\","
	    "\"mark\":{\"name\":\"%s:%lld:%lu\"}}", c->stream_sid, c->item_id,
	    c->item_sent_ms, c->mark_seq);
	call_tw_send(c, buf, strlen(buf));
}

static void
barge_in(struct call *c)
{
	char		 buf[256];
	long long	 end_ms;
	json_object	*o;

	if (c->mark_acked >= c->mark_seq || c->item_id[0] == '\0')
		return;		/* nothing unplayed: nothing to interrupt */
	/* Stop the sound first, then align the model with what was heard. */
	snprintf(buf, sizeof(buf), "{\"event\":\"clear\",\"streamSid\":\"%s\"}",
	    c->stream_sid);
	call_tw_send(c, buf, strlen(buf));
	c->ignore_upto = c->mark_seq;
	end_ms = c->item_played_ms;
	if (end_ms > c->item_sent_ms)
		end_ms = c->item_sent_ms;
	o = json_object_new_object();
	json_object_object_add(o, "type",
	    json_object_new_string("conversation.item.truncate"));
	json_object_object_add(o, "item_id", json_object_new_string(c->item_id));
	json_object_object_add(o, "content_index", json_object_new_int(0));
	json_object_object_add(o, "audio_end_ms", json_object_new_int64(end_ms));
	send_json(c, o, true);
	if (c->response_id[0] != '\0')
		snprintf(c->cancelled_id, sizeof(c->cancelled_id), "%s",
		    c->response_id);
	log_call(LOG_INFO, TAG(c), "barge-in: cleared playback, item %s "
	    "truncated at %lld ms of %lld ms sent", c->item_id, end_ms,
	    c->item_sent_ms);
	c->item_id[0] = '\0';
}

/* ------------------------------------------------------------ tools */

static void
request_response(struct call *c)
{
	/* Never response.create while a response is active. */
	if (c->response_id[0] != '\0')
		c->pending_response = true;
	else
		call_up_send(c, "{\"type\":\"response.create\"}", 26);
}

static void
function_output(struct call *c, const char *call_id, const char *output,
    bool respond)
{
	json_object *o = json_object_new_object(), *item = json_object_new_object();

	json_object_object_add(o, "type",
	    json_object_new_string("conversation.item.create"));
	json_object_object_add(item, "type",
	    json_object_new_string("function_call_output"));
	json_object_object_add(item, "call_id", json_object_new_string(call_id));
	json_object_object_add(item, "output", json_object_new_string(output));
	json_object_object_add(o, "item", item);
	send_json(c, o, true);
	if (respond)
		request_response(c);
}

static void
function_event(struct call *c, const char *name, const char *args,
    const char *outcome, long long ms)
{
	char text[2048];

	if (ms >= 0)
		snprintf(text, sizeof(text), "%s(%s) -> %s (%lld ms)", name,
		    args, outcome, ms);
	else
		snprintf(text, sizeof(text), "%s(%s) -> %s", name, args, outcome);
	event_to_ctl(c, "function_call", NULL, text);
}

static const struct agent_tool *
find_tool(struct call *c, const char *name)
{
	int i;

	for (i = 0; name != NULL && i < c->agent->ntools; i++)
		if (strcmp(c->agent->tools[i].name, name) == 0)
			return &c->agent->tools[i];
	return NULL;
}

static void
sul_hangup_timeout(lws_sorted_usec_list_t *sul)
{
	struct call *c = lws_container_of(sul, struct call, sul_hangup);

	call_end(c, "ended", LWS_CLOSE_STATUS_NORMAL, c->hangup_reason);
}

/* end_call/transfer_call: end once the last words have played. */
static void
call_check_hangup(struct call *c)
{
	if (c->hangup_reason[0] == '\0' || c->state != CALL_ACTIVE)
		return;
	if (c->response_id[0] != '\0' || c->pending_response ||
	    c->mark_acked < c->mark_seq)
		return;
	call_end(c, "ended", LWS_CLOSE_STATUS_NORMAL, c->hangup_reason);
}

static void
start_hangup(struct call *c, const char *reason)
{
	snprintf(c->hangup_reason, sizeof(c->hangup_reason), "%s", reason);
	/* Marks that never come back must not keep the call open. */
	lws_sul_schedule(ws_context(c->ws), 0, &c->sul_hangup,
	    sul_hangup_timeout, HANGUP_PLAYBACK_MAX_S * LWS_USEC_PER_SEC);
	call_check_hangup(c);
}

static void
remember_function_name(struct call *c, json_object *item)
{
	const char *call_id = jstr(item, "call_id"), *name = jstr(item, "name");
	struct fn_name *f;

	if (call_id == NULL || name == NULL)
		return;
	f = &c->fn_names[c->fn_next++ % FN_NAMES];
	snprintf(f->call_id, sizeof(f->call_id), "%s", call_id);
	snprintf(f->name, sizeof(f->name), "%s", name);
}

static const char *
function_name(struct call *c, json_object *ev, const char *call_id)
{
	int i;

	if (jstr(ev, "name") != NULL)
		return jstr(ev, "name");
	for (i = 0; i < FN_NAMES; i++)
		if (strcmp(c->fn_names[i].call_id, call_id) == 0)
			return c->fn_names[i].name;
	return NULL;
}

static void
on_function_call(struct call *c, json_object *ev)
{
	const char		*call_id = jstr(ev, "call_id");
	const char		*args = jstr(ev, "arguments");
	const char		*resp = jstr(ev, "response_id");
	const char		*name;
	const struct agent_tool	*tool;
	json_object		*parsed;
	struct msg		*m;

	if (call_id == NULL || strlen(call_id) >= CALL_ID_MAX)
		return;
	name = function_name(c, ev, call_id);
	if (args == NULL)
		args = "";
	if (resp != NULL && c->cancelled_id[0] != '\0' &&
	    strcmp(resp, c->cancelled_id) == 0) {
		/* The caller interrupted: answer it, but do not run it. */
		function_output(c, call_id, "{\"error\":\"not run: the caller "
		    "interrupted\"}", false);
		function_event(c, name ? name : "?", args, "not run (barge-in)", -1);
		return;
	}
	if ((tool = find_tool(c, name)) == NULL) {
		function_output(c, call_id, "{\"error\":\"no such tool\"}", true);
		function_event(c, name ? name : "?", args, "error: no such tool", -1);
		log_call(LOG_WARNING, TAG(c), "the model called an unknown tool");
		return;
	}
	parsed = json_tokener_parse(args);
	if (parsed == NULL || !json_object_is_type(parsed, json_type_object)) {
		json_object_put(parsed);
		function_output(c, call_id, "{\"error\":\"the arguments are not "
		    "a valid JSON object\"}", true);
		function_event(c, tool->name, args, "error: malformed arguments", -1);
		return;
	}
	json_object_put(parsed);
	switch (tool->kind) {
	case TOOL_HTTP:
		if ((m = msg_new(M_TOOL_CALL, c->id, c->session_id)) == NULL)
			return;
		m->s1 = strdup(call_id);
		m->s2 = strdup(tool->url != NULL ? tool->url : "");
		m->s3 = strdup(args);
		m->s4 = strdup(tool->name);
		m->n1 = tool->timeout_ms;
		ws_to_ctl(c->ws, m);
		log_call(LOG_INFO, TAG(c), "tool %s called", tool->name);
		break;
	case TOOL_END_CALL:
		function_output(c, call_id, "{\"status\":\"ok\",\"note\":\"the "
		    "call ends once your last words have played\"}", false);
		function_event(c, tool->name, args, "the call ends", -1);
		start_hangup(c, "agent ended the call");
		break;
	case TOOL_TRANSFER_CALL:
		if ((m = msg_new(M_TRANSFER, c->id, c->session_id)) != NULL) {
			m->s1 = strdup(tool->transfer_to != NULL ?
			    tool->transfer_to : "");
			ws_to_ctl(c->ws, m);
		}
		function_output(c, call_id, "{\"status\":\"ok\",\"note\":\"the "
		    "caller is transferred once your last words have played\"}",
		    false);
		function_event(c, tool->name, args, "transfer", -1);
		{
			char reason[CALL_REASON_MAX];

			snprintf(reason, sizeof(reason), "agent transferred "
			    "the call to %s", tool->transfer_to != NULL ?
			    tool->transfer_to : "?");
			start_hangup(c, reason);
		}
		break;
	}
}

void
call_on_tool_result(struct call *c, struct msg *m)
{
	char text[2048];

	if (c->state != CALL_ACTIVE || m->s1 == NULL || m->s2 == NULL)
		return;
	log_call(m->n1 ? LOG_INFO : LOG_WARNING, TAG(c), "tool result: %s "
	    "(%lld ms)", m->s3 != NULL ? m->s3 : "", m->n2);
	function_output(c, m->s1, m->s2, true);
	snprintf(text, sizeof(text), "%s -> %s (%lld ms)",
	    m->s4 != NULL ? m->s4 : "?", m->n1 ? m->s2 : m->s3, m->n2);
	event_to_ctl(c, "function_call", NULL, text);
}

void
call_on_openai(struct call *c, const char *msg, size_t len)
{
	json_object		*ev;
	enum json_tokener_error	 jerr;
	const char		*type;
	json_tokener		*tok = json_tokener_new();

	ev = json_tokener_parse_ex(tok, msg, (int)len);
	jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (ev == NULL || jerr != json_tokener_success ||
	    (type = jstr(ev, "type")) == NULL) {
		log_call(LOG_WARNING, TAG(c), "OpenAI sent a malformed event; "
		    "ignored");
		json_object_put(ev);
		return;
	}
	if (strcmp(type, "response.output_audio.delta") == 0)
		on_audio_delta(c, ev);
	else if (strcmp(type, "session.created") == 0)
		call_configure(c);
	else if (strcmp(type, "input_audio_buffer.speech_started") == 0)
		barge_in(c);
	else if (strcmp(type, "response.created") == 0) {
		snprintf(c->response_id, sizeof(c->response_id), "%s",
		    jstr(jobj(ev, "response"), "id") ?
		    jstr(jobj(ev, "response"), "id") : "");
	} else if (strcmp(type, "response.done") == 0) {
		json_object *r = jobj(ev, "response"), *u = jobj(r, "usage");

		c->tokens_in += jint(u, "input_tokens");
		c->tokens_out += jint(u, "output_tokens");
		c->response_id[0] = '\0';
		if (c->pending_response) {
			c->pending_response = false;
			call_up_send(c, "{\"type\":\"response.create\"}", 26);
		}
		call_check_hangup(c);
	} else if (strcmp(type, "response.output_item.added") == 0) {
		json_object *item = jobj(ev, "item");

		if (jstr(item, "type") != NULL &&
		    strcmp(jstr(item, "type"), "function_call") == 0)
			remember_function_name(c, item);
	} else if (strcmp(type, "conversation.item.input_audio_transcription.completed") == 0) {
		const char *t = jstr(ev, "transcript");

		if (t != NULL)
			event_to_ctl(c, "transcript", "user", t);
	} else if (strcmp(type, "response.output_audio_transcript.done") == 0) {
		const char *t = jstr(ev, "transcript");

		if (t != NULL)
			event_to_ctl(c, "transcript", "assistant", t);
	} else if (strcmp(type, "response.function_call_arguments.done") == 0)
		on_function_call(c, ev);
	else if (strcmp(type, "error") == 0) {
		json_object	*e = jobj(ev, "error");
		char		 text[600], esc[400];

		snprintf(text, sizeof(text), "%s: %s",
		    jstr(e, "code") ? jstr(e, "code") : (jstr(e, "type") ?
		    jstr(e, "type") : "error"),
		    jstr(e, "message") ? jstr(e, "message") : "");
		log_call(LOG_WARNING, TAG(c), "OpenAI error: %s",
		    log_escape(esc, sizeof(esc), text));
		event_to_ctl(c, "error", NULL, text);
	}
	json_object_put(ev);
}

/* ------------------------------------------------------------ Twilio */

static void
sul_start_timeout(lws_sorted_usec_list_t *sul)
{
	struct call *c = lws_container_of(sul, struct call, sul_start);

	call_end(c, "failed", LWS_CLOSE_STATUS_POLICY_VIOLATION,
	    "no start message in time");
}

void
call_arm_start_timer(struct call *c)
{
	lws_sul_schedule(ws_context(c->ws), 0, &c->sul_start, sul_start_timeout,
	    (lws_usec_t)ws_conf(c->ws)->relay_start_timeout * LWS_USEC_PER_SEC);
}

static void
on_media(struct call *c, json_object *ev)
{
	const struct conf	*cf = ws_conf(c->ws);
	json_object		*media = jobj(ev, "media");
	const char		*payload = jstr(media, "payload");
	const char		*ts = jstr(media, "timestamp");
	struct outmsg		*m;
	size_t			 plen;
	int			 n;
	long long		 ms;

	if (payload == NULL)
		return;
	if (ts != NULL)
		c->last_media_ts = strtoll(ts, NULL, 10);
	plen = strlen(payload);
	/* The append event is written straight into its queue entry. */
	if ((m = outmsg_new(plen + APPEND_OVERHEAD)) == NULL)
		return;
	n = snprintf((char *)m->data + LWS_PRE, plen + APPEND_OVERHEAD + 1,
	    APPEND_PREFIX "%s" APPEND_SUFFIX, payload);
	m->len = (size_t)n;
	m->audio = true;
	if (c->up_ready) {
		call_up_send_msg(c, m);
		return;
	}
	/* Keep the newest preconnect_audio_ms of audio, drop the oldest. */
	ms = (long long)b64_decoded_len(payload, plen) / 8;
	while (c->early.head != NULL &&
	    c->early_ms + ms > cf->relay_preconnect_audio_ms) {
		struct outmsg	*old = c->early.head;
		long long	 old_ms = (long long)(old->len -
		    APPEND_OVERHEAD) * 3 / 4 / 8;

		c->early.head = old->next;
		if (c->early.head == NULL)
			c->early.tail = NULL;
		c->early.bytes -= old->len;
		c->early_ms -= old_ms;
		c->early_dropped_ms += old_ms;
		free(old);
	}
	if (ms <= cf->relay_preconnect_audio_ms && outq_append(&c->early, m) == 0)
		c->early_ms += ms;
	else
		c->early_dropped_ms += ms;
}

static void
on_mark(struct call *c, json_object *ev)
{
	const char	*name = jstr(jobj(ev, "mark"), "name");
	const char	*p, *q;
	unsigned long	 seq;
	long long	 sent;

	if (name == NULL || (q = strrchr(name, ':')) == NULL)
		return;
	seq = strtoul(q + 1, NULL, 10);
	if (seq <= c->ignore_upto || seq > c->mark_seq)
		return;		/* echoed because of a clear, or not ours */
	if (seq > c->mark_acked)
		c->mark_acked = seq;
	call_check_hangup(c);
	for (p = q - 1; p > name && *p != ':'; p--)
		;
	if (*p != ':')
		return;
	sent = strtoll(p + 1, NULL, 10);
	/* Only marks of the item still playing move its playback point. */
	if ((size_t)(p - name) == strlen(c->item_id) &&
	    strncmp(name, c->item_id, (size_t)(p - name)) == 0 &&
	    sent > c->item_played_ms)
		c->item_played_ms = sent;
}

static void
on_start(struct call *c, json_object *ev)
{
	json_object	*start = jobj(ev, "start");
	const char	*call_sid = jstr(start, "callSid");
	const char	*stream_sid = jstr(start, "streamSid");
	struct msg	*m;

	if (c->started)
		return;
	if (call_sid == NULL || stream_sid == NULL ||
	    strlen(call_sid) >= CALL_ID_MAX || strlen(stream_sid) >= CALL_ID_MAX) {
		call_end(c, "failed", LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    "malformed start message");
		return;
	}
	c->started = true;
	lws_sul_cancel(&c->sul_start);
	snprintf(c->call_sid, sizeof(c->call_sid), "%s", call_sid);
	snprintf(c->stream_sid, sizeof(c->stream_sid), "%s", stream_sid);
	if ((m = msg_new(M_STREAM, c->id, c->session_id)) != NULL) {
		m->s1 = strdup(stream_sid);
		ws_to_ctl(c->ws, m);
	}
	call_maybe_proceed(c);
}

static void
on_dtmf(struct call *c, json_object *ev)
{
	const char	*digit = jstr(jobj(ev, "dtmf"), "digit");
	char		 text[128];
	json_object	*o, *item, *content, *part;

	if (digit == NULL || strlen(digit) != 1 ||
	    strchr("0123456789*#ABCDabcd", digit[0]) == NULL)
		return;
	event_to_ctl(c, "dtmf", NULL, digit);
	if (c->up_ready) {
		snprintf(text, sizeof(text), "The caller pressed %s on the "
		    "keypad.", digit);
		o = json_object_new_object();
		json_object_object_add(o, "type",
		    json_object_new_string("conversation.item.create"));
		item = json_object_new_object();
		json_object_object_add(item, "type", json_object_new_string("message"));
		json_object_object_add(item, "role", json_object_new_string("user"));
		content = json_object_new_array();
		part = json_object_new_object();
		json_object_object_add(part, "type", json_object_new_string("input_text"));
		json_object_object_add(part, "text", json_object_new_string(text));
		json_object_array_add(content, part);
		json_object_object_add(item, "content", content);
		json_object_object_add(o, "item", item);
		send_json(c, o, true);
	}
}

void
call_on_twilio(struct call *c, const char *msg, size_t len)
{
	json_object		*ev;
	const char		*event, *sid;
	json_tokener		*tok = json_tokener_new();
	enum json_tokener_error	 jerr;

	ev = json_tokener_parse_ex(tok, msg, (int)len);
	jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (ev == NULL || jerr != json_tokener_success ||
	    (event = jstr(ev, "event")) == NULL) {
		json_object_put(ev);
		call_end(c, "failed", LWS_CLOSE_STATUS_INVALID_PAYLOAD,
		    "malformed message from Twilio");
		return;
	}
	/* After start, everything must name this stream. */
	sid = jstr(ev, "streamSid");
	if (c->started && sid != NULL && strcmp(sid, c->stream_sid) != 0) {
		json_object_put(ev);
		call_end(c, "failed", LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    "message for another stream");
		return;
	}
	if (strcmp(event, "media") == 0)
		on_media(c, ev);
	else if (strcmp(event, "mark") == 0)
		on_mark(c, ev);
	else if (strcmp(event, "start") == 0)
		on_start(c, ev);
	else if (strcmp(event, "dtmf") == 0)
		on_dtmf(c, ev);
	else if (strcmp(event, "stop") == 0)
		call_end(c, "ended", LWS_CLOSE_STATUS_NORMAL,
		    "caller hung up (stop)");
	/* "connected" and unknown events: nothing to do. */
	json_object_put(ev);
}
