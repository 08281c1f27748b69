/*
 * fake-openai-session: the Realtime protocol (GA shape) on one WebSocket.
 *
 * It keeps what the real service keeps for a session, only simpler: the
 * effective session configuration, the caller's audio with a server VAD
 * that runs on the audio clock (bytes received / 8 = ms), the conversation
 * items, and at most one active response.  Answers are made of audio the
 * scenario chooses (the caller's own speech for "echo"), so tests know
 * exactly what the relay must play.  Every client event is recorded as it
 * came when -r is given.
 *
 * Server events go through one queue and leave one per WRITEABLE callback.
 * Audio deltas of the active response are made only when the queue is
 * empty, so a cancelled response stops at once: nothing of it is queued
 * beyond the delta in flight.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "fake-openai.h"
#include "log.h"

#define AUDIO_MAX_BYTES		(60 * 8000)	/* stored caller audio: 60 s */
#define OUTQ_MAX_BYTES		(64u << 20)	/* unsent events; more: close */
#define ITEMS_MAX		1024		/* conversation items kept */
#define RX_KEEP_BYTES		(1u << 20)	/* larger rx: freed after use */

/*
 * The simulated server VAD, in μ-law bytes (8 per ms).  A byte other than
 * the two zero codes 0xFF and 0x7F is speech.  100 ms of speech starts a
 * turn; 100 ms of silence before that forgets the speech counted so far;
 * 400 ms of silence ends the turn.
 */
#define SPEECH_START_BYTES	(100 * 8)
#define SPEECH_FORGET_BYTES	(100 * 8)
#define SPEECH_STOP_BYTES	(400 * 8)

#define CLOSE_AFTER_US		(1500 * LWS_US_PER_MS)	/* scenario close */
#define LONG_MS			8000
#define GREETING_MS		1000
#define TOOL_ANSWER_MS		1000
#define SESSION_LIFETIME_S	3600	/* expires_at: the GA 60 minutes */

#define FILL_AUDIO		(-1)	/* response audio from struct audio */
#define FILL_CYCLE		(-2)	/* bytes 0x20..0x5F, repeating */

static const unsigned chunk_ms[] = { 100, 40, 80, 20, 60 }; /* delta sizes */

/* A caller speech segment; shared by the session and a response. */
struct audio {
	unsigned	 refs;
	size_t		 len;
	uint8_t		 bytes[];
};

struct item {
	char		 id[40];
	char		 call_id[40];	/* function_call items */
	json_object	*obj;		/* as last sent */
	bool		 assistant_audio;
	size_t		 audio_bytes;	/* sent (after truncation: kept) */
};

struct outmsg {
	TAILQ_ENTRY(outmsg) entry;
	size_t		 len;
	unsigned char	 data[];	/* LWS_PRE bytes, then the text */
};

enum resp_phase {
	RP_STREAMING,		/* deltas still to send */
	RP_HOLDING,		/* all sent; "playing" until the audio ends */
};

struct response {
	struct session	*s;
	char		 id[40];
	char		 item_id[40];
	char		 prev_id[40];	/* the item before ours, or "" */
	struct audio	*audio;		/* FILL_AUDIO */
	int		 fill;		/* FILL_* or a constant byte */
	size_t		 total;		/* bytes to send */
	size_t		 sent;
	char		*transcript;
	enum resp_phase	 phase;
	bool		 hold;		/* stay active until played (long) */
	bool		 hold_over;	/* the wall clock says it has played */
	uint64_t	 clock_start;	/* session audio clock at creation */
	unsigned	 chunk_seq;
	lws_sorted_usec_list_t sul;	/* end of the hold */
};

enum vad_state {
	VAD_IDLE,		/* no turn; may be counting speech */
	VAD_SPEECH,		/* speech_started sent */
};

/*
 * One Realtime session = one WebSocket.  Allocated by session_open() at
 * LWS_CALLBACK_ESTABLISHED, freed by session_free() from conn_free().
 */
struct session {
	struct conn	*conn;
	struct lws	*wsi;
	unsigned	 n;		/* connection number, from 1 */
	char		 id[40];	/* sess_<n> */
	enum scenario	 scenario;
	json_object	*config;	/* the effective session */
	bool		 updated;	/* a session.updated was sent */
	uint64_t	 event_seq;
	unsigned	 next_item, next_resp, next_call;
	FILE		*rec;		/* conn-<n>.jsonl */

	TAILQ_HEAD(, outmsg) outq;
	size_t		 outq_bytes;

	struct buf	 rx;		/* message being reassembled */
	bool		 rx_binary;

	uint64_t	 clock;		/* caller bytes received: audio clock */
	enum vad_state	 vad;
	uint64_t	 vad_speech;	/* speech bytes counted (VAD_IDLE) */
	uint64_t	 vad_silence;	/* silence bytes in a row */
	uint64_t	 seg_start;	/* clock of the first speech byte */
	uint64_t	 seg_end;	/* clock after the last speech byte */
	char		 turn_item[40];	/* item of speech_started */
	struct buf	 inbuf;		/* caller audio not yet committed */
	bool		 clipped;	/* inbuf hit AUDIO_MAX_BYTES */
	struct audio	*last_speech;	/* the last committed user audio */
	bool		 had_user_audio;
	uint64_t	 user_audio_bytes; /* all committed user audio */

	struct item	*items;
	size_t		 nitems, items_cap;

	struct response	*resp;		/* the active response */
	char		*tool_output;	/* function_call_output not answered */
	bool		 fn_called;	/* function scenario: call made */

	lws_sorted_usec_list_t close_sul; /* scenario close */
	lws_sorted_usec_list_t created_sul; /* scenario slow-created */
	bool		 close_pending;	/* close once the queue is empty */
	int		 close_code;
	const char	*close_reason;
	bool		 closed_recorded;
};

static void	response_finish(struct session *, const char *, const char *);
static void	response_function_call(struct session *, const char *);

#define BIG_EVENT_BYTES	150000	/* scenario big: one event this long */

/* ------------------------------------------------------------ helpers */

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

static bool
jint(json_object *o, const char *key, int64_t *out)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

/* A boolean of turn_detection, or its default when absent. */
static bool
jbool_or(json_object *o, const char *key, bool dflt)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return dflt;
	return json_object_get_boolean(v);
}

static void
jadd_str(json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key,
	    val != NULL ? json_object_new_string(val) : NULL);
}

static void
jadd_int(json_object *o, const char *key, int64_t val)
{
	json_object_object_add(o, key, json_object_new_int64(val));
}

static const char *
jtext(json_object *o)
{
	return json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding; out has room for 4 * ((len + 2) / 3) + 1. */
static void
b64_encode(char *out, const uint8_t *in, size_t len)
{
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*out++ = b64chars[in[i] >> 2];
		*out++ = b64chars[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*out++ = b64chars[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*out++ = b64chars[in[i + 2] & 63];
	}
	if (i < len) {
		*out++ = b64chars[in[i] >> 2];
		if (i + 1 < len) {
			*out++ = b64chars[((in[i] & 3) << 4) |
			    (in[i + 1] >> 4)];
			*out++ = b64chars[(in[i + 1] & 15) << 2];
		} else {
			*out++ = b64chars[(in[i] & 3) << 4];
			*out++ = '=';
		}
		*out++ = '=';
	}
	*out = '\0';
}

static int
b64_value(int ch)
{
	const char *p = ch != '\0' ? strchr(b64chars, ch) : NULL;

	return p != NULL ? (int)(p - b64chars) : -1;
}

/*
 * Strict base64 (padding optional at the very end); out has room for
 * len / 4 * 3 + 3 bytes.  Returns the decoded length or -1.
 */
static ssize_t
b64_decode(uint8_t *out, const char *in, size_t len)
{
	size_t i, o = 0, pad = 0;
	uint32_t acc = 0;
	int bits = 0, v;

	while (len > 0 && in[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (pad > 0 && (len + pad) % 4 != 0)
		return -1;
	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		if ((v = b64_value((unsigned char)in[i])) < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return (ssize_t)o;
}

static struct audio *
audio_new(const void *bytes, size_t len)
{
	struct audio *a = malloc(sizeof(*a) + len);

	if (a == NULL)
		return NULL;
	a->refs = 1;
	a->len = len;
	if (len > 0)
		memcpy(a->bytes, bytes, len);
	return a;
}

static void
audio_unref(struct audio *a)
{
	if (a != NULL && --a->refs == 0)
		free(a);
}

/* ------------------------------------------------------------ recording */

static void
rec_line(struct session *s, const char *text, size_t len)
{
	if (s->rec == NULL)
		return;
	fwrite(text, 1, len, s->rec);
	fputc('\n', s->rec);
	fflush(s->rec);
}

static void
rec_json(struct session *s, json_object *o)
{
	const char *t = jtext(o);

	rec_line(s, t, strlen(t));
}

/* A received text message, as received when it is one line of JSON. */
static void
rec_client_event(struct session *s, const char *text, size_t len,
    json_object *parsed)
{
	json_object *o;

	if (s->rec == NULL)
		return;
	if (parsed != NULL && memchr(text, '\n', len) == NULL &&
	    memchr(text, '\r', len) == NULL) {
		rec_line(s, text, len);
		return;
	}
	if (parsed != NULL) {
		rec_json(s, parsed);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "invalid_json",
	    json_object_new_string_len(text, (int)len));
	rec_json(s, o);
	json_object_put(o);
}

static void
rec_closed(struct session *s, const char *by, int code)
{
	json_object *o, *c;

	if (s->closed_recorded)
		return;
	s->closed_recorded = true;
	log_info("conn %u: closed by %s, code %d", s->n, by, code);
	if (s->rec == NULL)
		return;
	o = json_object_new_object();
	c = json_object_new_object();
	jadd_str(c, "by", by);
	jadd_int(c, "code", code);
	json_object_object_add(o, "closed", c);
	rec_json(s, o);
	json_object_put(o);
	fclose(s->rec);
	s->rec = NULL;
}

static void
rec_open(struct session *s)
{
	struct request *r = &s->conn->req;
	json_object *o, *c;
	char path[4096];

	if (settings.record_dir == NULL)
		return;
	fprintf(settings.connections_log, "%u %s\n", s->n, r->model);
	fflush(settings.connections_log);
	snprintf(path, sizeof(path), "%s/conn-%u.jsonl", settings.record_dir,
	    s->n);
	if ((s->rec = fopen(path, "w")) == NULL) {
		log_warn("conn %u: %s: %s", s->n, path, strerror(errno));
		return;
	}
	o = json_object_new_object();
	c = json_object_new_object();
	jadd_str(c, "path", r->path);
	jadd_str(c, "model", r->model);
	jadd_str(c, "authorization", r->authorization);
	json_object_object_add(c, "beta_header",
	    json_object_new_boolean(r->beta_header));
	json_object_object_add(o, "connect", c);
	rec_json(s, o);
	json_object_put(o);
}

/* ------------------------------------------------------------ sending */

static void
close_later(struct session *s, int code, const char *reason)
{
	if (s->close_pending)
		return;
	s->close_pending = true;
	s->close_code = code;
	s->close_reason = reason;
	lws_callback_on_writable(s->wsi);
}

/* Scenario close: 1011 "server error" 1.5 s after session.updated. */
static void
close_scenario_fire(lws_sorted_usec_list_t *sul)
{
	struct session *s = lws_container_of(sul, struct session, close_sul);

	close_later(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "server error");
}

/* A new server event: {"type":…, "event_id":…}; fields follow. */
static json_object *
ev_new(struct session *s, const char *type)
{
	json_object *ev = json_object_new_object();
	char id[64];

	snprintf(id, sizeof(id), "event_%u_%" PRIu64, s->n, ++s->event_seq);
	jadd_str(ev, "type", type);
	jadd_str(ev, "event_id", id);
	return ev;
}

/* Queue ev (and drop our reference to it). */
static void
ev_send(struct session *s, json_object *ev)
{
	const char *text = jtext(ev);
	size_t len = strlen(text);
	struct outmsg *m;

	if (settings.debug)
		log_debug("conn %u: <- %s", s->n, jstr(ev, "type"));
	if (s->outq_bytes + len > OUTQ_MAX_BYTES) {
		log_warn("conn %u: client does not read; closing", s->n);
		close_later(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    "send queue full");
		json_object_put(ev);
		return;
	}
	m = malloc(sizeof(*m) + LWS_PRE + len);
	if (m == NULL) {
		close_later(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    "out of memory");
		json_object_put(ev);
		return;
	}
	m->len = len;
	memcpy(m->data + LWS_PRE, text, len);
	TAILQ_INSERT_TAIL(&s->outq, m, entry);
	s->outq_bytes += len;
	json_object_put(ev);
	lws_callback_on_writable(s->wsi);
}

static void
send_error(struct session *s, const char *type, const char *code,
    const char *message, const char *param, const char *client_event_id)
{
	json_object *ev = ev_new(s, "error"), *e = json_object_new_object();
	char esc[256];

	jadd_str(e, "type", type);
	jadd_str(e, "code", code);
	jadd_str(e, "message", message);
	jadd_str(e, "param", param);
	jadd_str(e, "event_id", client_event_id);
	json_object_object_add(ev, "error", e);
	log_info("conn %u: error %s: %s", s->n, code != NULL ? code : "-",
	    log_escape(esc, sizeof(esc), message));
	ev_send(s, ev);
}

/* ------------------------------------------------------------ configuration */

static json_object *
config_default(struct session *s)
{
	static const char tmpl[] = "{"
	    "\"type\":\"realtime\",\"object\":\"realtime.session\","
	    "\"id\":\"\",\"model\":\"\",\"output_modalities\":[\"audio\"],"
	    "\"instructions\":\"You are a helpful, witty, and friendly AI.\","
	    "\"tools\":[],\"tool_choice\":\"auto\","
	    "\"max_output_tokens\":\"inf\",\"tracing\":null,"
	    "\"truncation\":\"auto\",\"prompt\":null,\"expires_at\":0,"
	    "\"audio\":{\"input\":{"
	    "\"format\":{\"type\":\"audio/pcm\",\"rate\":24000},"
	    "\"transcription\":null,\"noise_reduction\":null,"
	    "\"turn_detection\":{\"type\":\"server_vad\",\"threshold\":0.5,"
	    "\"prefix_padding_ms\":300,\"silence_duration_ms\":500,"
	    "\"idle_timeout_ms\":null,\"create_response\":true,"
	    "\"interrupt_response\":true}},"
	    "\"output\":{\"format\":{\"type\":\"audio/pcm\",\"rate\":24000},"
	    "\"voice\":\"alloy\",\"speed\":1.0}},"
	    "\"include\":null}";
	json_object *c = json_tokener_parse(tmpl);

	if (c == NULL)
		return NULL;
	jadd_str(c, "id", s->id);
	jadd_str(c, "model", s->conn->req.model);
	jadd_int(c, "expires_at", (int64_t)time(NULL) + SESSION_LIFETIME_S);
	return c;
}

/* audio.input.turn_detection, or NULL when turned off. */
static json_object *
turn_detection(struct session *s)
{
	return jobj(jobj(jobj(s->config, "audio"), "input"), "turn_detection");
}

static const char *const session_keys[] = {
	"type", "model", "instructions", "output_modalities", "audio",
	"tools", "tool_choice", "max_output_tokens", "truncation", "tracing",
	"include", "prompt", "reasoning", "parallel_tool_calls", NULL
};
static const char *const audio_keys[] = { "input", "output", NULL };
static const char *const input_keys[] = {
	"format", "noise_reduction", "transcription", "turn_detection", NULL
};
static const char *const output_keys[] = { "format", "voice", "speed", NULL };

/* The first key of o not in allowed, as "prefix.key" in param. */
static bool
unknown_key(json_object *o, const char *const *allowed, const char *prefix,
    char *param, size_t size)
{
	size_t i;

	if (o == NULL)
		return false;
	json_object_object_foreach(o, key, val) {
		(void)val;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			snprintf(param, size, "%s.%s", prefix, key);
			return true;
		}
	}
	return false;
}

/*
 * Merge an update into a configuration: "audio" and its "input"/"output"
 * merge key by key, every other value (formats, turn_detection, tools …)
 * is replaced whole, null included, as the API documents.
 */
static void
config_merge(json_object *dst, json_object *src, int depth)
{
	json_object_object_foreach(src, key, val) {
		json_object *cur;
		bool container = (depth == 0 && strcmp(key, "audio") == 0) ||
		    (depth == 1 && (strcmp(key, "input") == 0 ||
		    strcmp(key, "output") == 0));

		if (container && json_object_is_type(val, json_type_object) &&
		    json_object_object_get_ex(dst, key, &cur) &&
		    json_object_is_type(cur, json_type_object))
			config_merge(cur, val, depth + 1);
		else
			json_object_object_add(dst, key, json_object_get(val));
	}
}

/* Is audio.<dir>.format {"type":"audio/pcmu"}?  Else say so in msg. */
static bool
format_is_pcmu(json_object *config, const char *dir, char *msg, size_t size,
    char *param, size_t psize)
{
	json_object *fmt = NULL, *d = jobj(jobj(config, "audio"), dir);
	const char *type;

	if (d != NULL)
		json_object_object_get_ex(d, "format", &fmt);
	type = jstr(fmt, "type");
	if (type != NULL && strcmp(type, "audio/pcmu") == 0)
		return true;
	snprintf(param, psize, "session.audio.%s.format", dir);
	snprintf(msg, size, "fake-openai speaks only G.711 mu-law: %s must be "
	    "{\"type\":\"audio/pcmu\"}, not %s.", param,
	    fmt != NULL ? jtext(fmt) : "missing");
	return false;
}

static void
on_session_update(struct session *s, json_object *ev, const char *eid)
{
	json_object *upd = jobj(ev, "session"), *cand, *out;
	const char *type = jstr(upd, "type");
	char param[160], msg[768];

	if (upd == NULL) {
		send_error(s, "invalid_request_error",
		    "missing_required_parameter",
		    "Missing required parameter: 'session'.", "session", eid);
		return;
	}
	if (type == NULL) {
		send_error(s, "invalid_request_error",
		    "missing_required_parameter",
		    "Missing required parameter: 'session.type'.",
		    "session.type", eid);
		return;
	}
	if (strcmp(type, "realtime") != 0) {
		snprintf(msg, sizeof(msg), "Invalid value: '%.64s'. "
		    "fake-openai supports only 'realtime'.", type);
		send_error(s, "invalid_request_error", "invalid_value", msg,
		    "session.type", eid);
		return;
	}
	if (unknown_key(upd, session_keys, "session", param, sizeof(param)) ||
	    unknown_key(jobj(upd, "audio"), audio_keys, "session.audio",
	    param, sizeof(param)) ||
	    unknown_key(jobj(jobj(upd, "audio"), "input"), input_keys,
	    "session.audio.input", param, sizeof(param)) ||
	    unknown_key(jobj(jobj(upd, "audio"), "output"), output_keys,
	    "session.audio.output", param, sizeof(param))) {
		snprintf(msg, sizeof(msg), "Unknown parameter: '%.128s'.",
		    param);
		send_error(s, "invalid_request_error", "unknown_parameter", msg,
		    param, eid);
		return;
	}
	cand = NULL;
	if (json_object_deep_copy(s->config, &cand, NULL) != 0 || cand == NULL)
		return;
	config_merge(cand, upd, 0);
	/* The model is the one in the URL; an update cannot change it. */
	jadd_str(cand, "model", s->conn->req.model);
	if (!format_is_pcmu(cand, "input", msg, sizeof(msg), param,
	    sizeof(param)) || !format_is_pcmu(cand, "output", msg,
	    sizeof(msg), param, sizeof(param))) {
		send_error(s, "invalid_request_error", "invalid_value", msg,
		    param, eid);
		json_object_put(cand);
		return;
	}
	json_object_put(s->config);
	s->config = cand;

	out = ev_new(s, "session.updated");
	json_object_object_add(out, "session", json_object_get(s->config));
	ev_send(s, out);

	if (s->updated)
		return;
	s->updated = true;
	if (s->scenario == SC_BIG) {
		/* One event bigger than a client's smallest message bound. */
		char *big = malloc(BIG_EVENT_BYTES + 1);

		if (big != NULL) {
			memset(big, 'a', BIG_EVENT_BYTES);
			big[BIG_EVENT_BYTES] = '\0';
			out = ev_new(s, "response.output_audio_transcript.delta");
			jadd_str(out, "response_id", "resp_big");
			jadd_str(out, "item_id", "item_big");
			jadd_int(out, "output_index", 0);
			jadd_int(out, "content_index", 0);
			jadd_str(out, "delta", big);
			ev_send(s, out);
			free(big);
		}
	}
	if (s->scenario == SC_ERROR)
		send_error(s, "invalid_request_error",
		    "conversation_already_has_active_response",
		    "Conversation already has an active response in progress: "
		    "resp_fake. Wait until the response is finished before "
		    "creating a new one.", NULL, NULL);
	else if (s->scenario == SC_CLOSE)
		lws_sul_schedule(settings.context, 0, &s->close_sul,
		    close_scenario_fire, CLOSE_AFTER_US);
}

#define SLOW_CREATED_US	((lws_usec_t)1500 * 1000)	/* slow-created */

static void
send_created(struct session *s)
{
	json_object *ev = ev_new(s, "session.created");

	json_object_object_add(ev, "session", json_object_get(s->config));
	ev_send(s, ev);
}

static void
created_late(lws_sorted_usec_list_t *sul)
{
	send_created(lws_container_of(sul, struct session, created_sul));
}

/* ------------------------------------------------------------ conversation */

static const char *
last_item_id(struct session *s)
{
	return s->nitems > 0 ? s->items[s->nitems - 1].id : NULL;
}

static struct item *
item_find(struct session *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->nitems; i++)
		if (strcmp(s->items[i].id, id) == 0)
			return &s->items[i];
	return NULL;
}

/* Append an item (a new reference to obj); past ITEMS_MAX the oldest goes. */
static struct item *
item_add(struct session *s, const char *id, json_object *obj)
{
	struct item *it;

	if (s->nitems == ITEMS_MAX) {
		json_object_put(s->items[0].obj);
		memmove(&s->items[0], &s->items[1],
		    (s->nitems - 1) * sizeof(s->items[0]));
		s->nitems--;
	}
	if (s->nitems == s->items_cap) {
		size_t cap = s->items_cap != 0 ? s->items_cap * 2 : 16;
		struct item *n = realloc(s->items, cap * sizeof(*n));

		if (n == NULL)
			return NULL;
		s->items = n;
		s->items_cap = cap;
	}
	it = &s->items[s->nitems++];
	memset(it, 0, sizeof(*it));
	snprintf(it->id, sizeof(it->id), "%s", id);
	it->obj = json_object_get(obj);
	return it;
}

static void
item_set_obj(struct item *it, json_object *obj)
{
	json_object_put(it->obj);
	it->obj = json_object_get(obj);
}

static void
new_id(char *dst, size_t size, const char *prefix, unsigned *counter)
{
	snprintf(dst, size, "%s_%u", prefix, ++*counter);
}

/* conversation.item.added or .done for an item. */
static void
send_item_event(struct session *s, const char *type, const char *prev,
    json_object *item)
{
	json_object *ev = ev_new(s, type);

	jadd_str(ev, "previous_item_id", prev);
	json_object_object_add(ev, "item", json_object_get(item));
	ev_send(s, ev);
}

/* ------------------------------------------------------------ responses */

/*
 * Deterministic usage: input tokens are the caller audio committed so far
 * in ms / 10, output tokens the answer's audio sent in ms / 10 (a function
 * call counts 10 text tokens).
 */
static json_object *
usage_new(struct session *s, int64_t audio_out, int64_t text_out)
{
	json_object *u = json_object_new_object(), *in, *cached, *out;
	int64_t input = (int64_t)(s->user_audio_bytes / 8 / 10);

	jadd_int(u, "total_tokens", input + audio_out + text_out);
	jadd_int(u, "input_tokens", input);
	jadd_int(u, "output_tokens", audio_out + text_out);
	in = json_object_new_object();
	jadd_int(in, "text_tokens", 0);
	jadd_int(in, "audio_tokens", input);
	jadd_int(in, "image_tokens", 0);
	jadd_int(in, "cached_tokens", 0);
	cached = json_object_new_object();
	jadd_int(cached, "text_tokens", 0);
	jadd_int(cached, "audio_tokens", 0);
	jadd_int(cached, "image_tokens", 0);
	json_object_object_add(in, "cached_tokens_details", cached);
	json_object_object_add(u, "input_token_details", in);
	out = json_object_new_object();
	jadd_int(out, "text_tokens", text_out);
	jadd_int(out, "audio_tokens", audio_out);
	json_object_object_add(u, "output_token_details", out);
	return u;
}

/* The "response" object of response.created / response.done. */
static json_object *
response_obj(struct session *s, const char *id, const char *status,
    json_object *details, json_object *output, json_object *usage)
{
	json_object *r = json_object_new_object(), *mods, *audio, *o;
	json_object *fmt = NULL, *voice = NULL;
	json_object *cout = jobj(jobj(s->config, "audio"), "output");
	char conv[40];

	jadd_str(r, "object", "realtime.response");
	jadd_str(r, "id", id);
	jadd_str(r, "status", status);
	json_object_object_add(r, "status_details", details);
	json_object_object_add(r, "output",
	    output != NULL ? output : json_object_new_array());
	snprintf(conv, sizeof(conv), "conv_%u", s->n);
	jadd_str(r, "conversation_id", conv);
	mods = json_object_new_array();
	json_object_array_add(mods, json_object_new_string("audio"));
	json_object_object_add(r, "output_modalities", mods);
	jadd_str(r, "max_output_tokens", "inf");
	audio = json_object_new_object();
	o = json_object_new_object();
	if (cout != NULL) {
		json_object_object_get_ex(cout, "format", &fmt);
		json_object_object_get_ex(cout, "voice", &voice);
	}
	json_object_object_add(o, "format", json_object_get(fmt));
	json_object_object_add(o, "voice", json_object_get(voice));
	json_object_object_add(audio, "output", o);
	json_object_object_add(r, "audio", audio);
	json_object_object_add(r, "usage", usage);
	json_object_object_add(r, "metadata", NULL);
	return r;
}

static void
send_response_event(struct session *s, const char *type, json_object *resp)
{
	json_object *ev = ev_new(s, type);

	json_object_object_add(ev, "response", resp);
	ev_send(s, ev);
}

/* {response_id, item_id, output_index:0, content_index:0} and more. */
static json_object *
part_event(struct session *s, const char *type, struct response *r)
{
	json_object *ev = ev_new(s, type);

	jadd_str(ev, "response_id", r->id);
	jadd_str(ev, "item_id", r->item_id);
	jadd_int(ev, "output_index", 0);
	jadd_int(ev, "content_index", 0);
	return ev;
}

static json_object *
assistant_item(struct response *r, const char *status, bool with_content)
{
	json_object *it = json_object_new_object(), *content, *part;

	jadd_str(it, "id", r->item_id);
	jadd_str(it, "object", "realtime.item");
	jadd_str(it, "type", "message");
	jadd_str(it, "status", status);
	jadd_str(it, "role", "assistant");
	content = json_object_new_array();
	if (with_content) {
		part = json_object_new_object();
		jadd_str(part, "type", "output_audio");
		jadd_str(part, "transcript", r->transcript);
		json_object_array_add(content, part);
	}
	json_object_object_add(it, "content", content);
	return it;
}

static json_object *
audio_part(const char *transcript)
{
	json_object *p = json_object_new_object();

	jadd_str(p, "type", "output_audio");
	jadd_str(p, "transcript", transcript);
	return p;
}

static void
response_free(struct response *r)
{
	if (r == NULL)
		return;
	lws_sul_cancel(&r->sul);
	audio_unref(r->audio);
	free(r->transcript);
	free(r);
}

/* The wall clock says a held response has played out. */
static void
response_hold_end(lws_sorted_usec_list_t *sul)
{
	struct response *r = lws_container_of(sul, struct response, sul);
	struct session *s = r->s;

	r->hold_over = true;
	if (r->phase == RP_HOLDING)
		response_finish(s, "completed", NULL);
}

/* Queue the next audio delta of the active response, or its end. */
static void
response_pump(struct session *s)
{
	struct response *r = s->resp;
	size_t n, i;
	uint8_t *raw;
	char *b64;
	json_object *ev;

	if (r == NULL || r->phase != RP_STREAMING || s->close_pending)
		return;
	if (r->sent == r->total) {
		if (r->hold && !r->hold_over &&
		    s->clock - r->clock_start < r->total) {
			r->phase = RP_HOLDING;
			return;
		}
		response_finish(s, "completed", NULL);
		return;
	}
	n = chunk_ms[r->chunk_seq++ % (sizeof(chunk_ms) / sizeof(chunk_ms[0]))]
	    * 8;
	if (n > r->total - r->sent)
		n = r->total - r->sent;
	raw = malloc(n);
	b64 = malloc(4 * ((n + 2) / 3) + 1);
	if (raw == NULL || b64 == NULL) {
		free(raw);
		free(b64);
		close_later(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		size_t at = r->sent + i;

		raw[i] = r->fill == FILL_AUDIO ? r->audio->bytes[at] :
		    r->fill == FILL_CYCLE ? (uint8_t)(0x20 + at % 64) :
		    (uint8_t)r->fill;
	}
	b64_encode(b64, raw, n);
	r->sent += n;
	ev = part_event(s, "response.output_audio.delta", r);
	jadd_str(ev, "delta", b64);
	ev_send(s, ev);
	free(raw);
	free(b64);
}

/*
 * End the active audio response: "completed", or "cancelled" with a
 * reason (turn_detected, client_cancelled).  Nothing more of it is sent.
 */
static void
response_finish(struct session *s, const char *status, const char *reason)
{
	struct response *r = s->resp;
	bool done = strcmp(status, "completed") == 0;
	json_object *ev, *item, *output, *details = NULL;
	struct item *it;

	if (r == NULL)
		return;
	if (done) {
		ev = part_event(s, "response.output_audio_transcript.delta", r);
		jadd_str(ev, "delta", r->transcript);
		ev_send(s, ev);
	}
	ev = part_event(s, "response.output_audio_transcript.done", r);
	jadd_str(ev, "transcript", r->transcript);
	ev_send(s, ev);
	ev_send(s, part_event(s, "response.output_audio.done", r));
	ev = part_event(s, "response.content_part.done", r);
	json_object_object_add(ev, "part", audio_part(r->transcript));
	ev_send(s, ev);

	item = assistant_item(r, done ? "completed" : "incomplete", true);
	ev = ev_new(s, "response.output_item.done");
	jadd_str(ev, "response_id", r->id);
	jadd_int(ev, "output_index", 0);
	json_object_object_add(ev, "item", json_object_get(item));
	ev_send(s, ev);
	if ((it = item_find(s, r->item_id)) != NULL) {
		it->audio_bytes = r->sent;
		item_set_obj(it, item);
	}
	send_item_event(s, "conversation.item.done", r->prev_id[0] != '\0' ?
	    r->prev_id : NULL, item);

	if (!done) {
		details = json_object_new_object();
		jadd_str(details, "type", "cancelled");
		jadd_str(details, "reason", reason);
	}
	output = json_object_new_array();
	json_object_array_add(output, item);
	send_response_event(s, "response.done", response_obj(s, r->id, status,
	    details, output, usage_new(s, (int64_t)(r->sent / 8 / 10), 0)));
	log_info("conn %u: %s %s, %zu ms of audio sent%s%s", s->n, r->id,
	    status, r->sent / 8, reason != NULL ? ", " : "",
	    reason != NULL ? reason : "");
	s->resp = NULL;
	response_free(r);
	/* function-goodbye: the words first (still playing), then the call. */
	if (done && s->scenario == SC_FUNCTION_GOODBYE && !s->fn_called) {
		char next[40];

		new_id(next, sizeof(next), "resp", &s->next_resp);
		response_function_call(s, next);
	}
}

/* An answer with a function call, all at once (function scenario). */
static void
response_function_call(struct session *s, const char *resp_id)
{
	/* function-badargs: cut off, as a model's stream can be. */
	const char *args = s->scenario == SC_FUNCTION_BADARGS ?
	    "{\"order_id\":" : "{\"order_id\":\"42\"}";
	char item_id[40], call_id[40];
	json_object *item, *ev, *output;
	const char *prev = last_item_id(s);
	struct item *it;
	char prevbuf[40];

	snprintf(prevbuf, sizeof(prevbuf), "%s", prev != NULL ? prev : "");
	new_id(item_id, sizeof(item_id), "item", &s->next_item);
	new_id(call_id, sizeof(call_id), "call", &s->next_call);
	send_response_event(s, "response.created", response_obj(s, resp_id,
	    "in_progress", NULL, NULL, NULL));

	item = json_object_new_object();
	jadd_str(item, "id", item_id);
	jadd_str(item, "object", "realtime.item");
	jadd_str(item, "type", "function_call");
	jadd_str(item, "status", "in_progress");
	jadd_str(item, "name", "lookup_order");
	jadd_str(item, "call_id", call_id);
	jadd_str(item, "arguments", "");
	ev = ev_new(s, "response.output_item.added");
	jadd_str(ev, "response_id", resp_id);
	jadd_int(ev, "output_index", 0);
	json_object_object_add(ev, "item", json_object_get(item));
	ev_send(s, ev);
	send_item_event(s, "conversation.item.added", prev != NULL ? prevbuf :
	    NULL, item);
	json_object_put(item);

	/* Two deltas, split inside the JSON as the real stream does. */
	ev = ev_new(s, "response.function_call_arguments.delta");
	jadd_str(ev, "response_id", resp_id);
	jadd_str(ev, "item_id", item_id);
	jadd_int(ev, "output_index", 0);
	jadd_str(ev, "call_id", call_id);
	jadd_str(ev, "delta", "{\"order_id\":");
	ev_send(s, ev);
	ev = ev_new(s, "response.function_call_arguments.delta");
	jadd_str(ev, "response_id", resp_id);
	jadd_str(ev, "item_id", item_id);
	jadd_int(ev, "output_index", 0);
	jadd_str(ev, "call_id", call_id);
	jadd_str(ev, "delta", "\"42\"}");
	ev_send(s, ev);
	ev = ev_new(s, "response.function_call_arguments.done");
	jadd_str(ev, "response_id", resp_id);
	jadd_str(ev, "item_id", item_id);
	jadd_int(ev, "output_index", 0);
	jadd_str(ev, "call_id", call_id);
	jadd_str(ev, "name", "lookup_order");
	jadd_str(ev, "arguments", args);
	ev_send(s, ev);

	item = json_object_new_object();
	jadd_str(item, "id", item_id);
	jadd_str(item, "object", "realtime.item");
	jadd_str(item, "type", "function_call");
	jadd_str(item, "status", "completed");
	jadd_str(item, "name", "lookup_order");
	jadd_str(item, "call_id", call_id);
	jadd_str(item, "arguments", args);
	ev = ev_new(s, "response.output_item.done");
	jadd_str(ev, "response_id", resp_id);
	jadd_int(ev, "output_index", 0);
	json_object_object_add(ev, "item", json_object_get(item));
	ev_send(s, ev);
	send_item_event(s, "conversation.item.done", prev != NULL ? prevbuf :
	    NULL, item);
	if ((it = item_add(s, item_id, item)) != NULL)
		snprintf(it->call_id, sizeof(it->call_id), "%s", call_id);

	output = json_object_new_array();
	json_object_array_add(output, item);
	send_response_event(s, "response.done", response_obj(s, resp_id,
	    "completed", NULL, output, usage_new(s, 0, 10)));
	s->fn_called = true;
	log_info("conn %u: %s: function call %s", s->n, resp_id, call_id);
}

/* Start a response: what it says depends on the scenario and the state. */
static void
response_start(struct session *s)
{
	struct response *r;
	char resp_id[40], buf[256];
	const char *prev;
	json_object *item, *ev;

	new_id(resp_id, sizeof(resp_id), "resp", &s->next_resp);
	if ((s->scenario == SC_FUNCTION || s->scenario == SC_FUNCTION_BADARGS) &&
	    !s->fn_called && s->had_user_audio && s->tool_output == NULL) {
		response_function_call(s, resp_id);
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return;
	r->s = s;
	snprintf(r->id, sizeof(r->id), "%s", resp_id);
	new_id(r->item_id, sizeof(r->item_id), "item", &s->next_item);
	r->clock_start = s->clock;
	if (s->tool_output != NULL) {
		r->fill = 0x66;
		r->total = TOOL_ANSWER_MS * 8;
		snprintf(buf, sizeof(buf), "The tool said: %s", s->tool_output);
		r->transcript = strdup(buf);
		free(s->tool_output);
		s->tool_output = NULL;
	} else if (s->scenario == SC_LONG || s->scenario == SC_FUNCTION_LATE) {
		r->fill = FILL_CYCLE;
		r->total = LONG_MS * 8;
		r->hold = true;
		snprintf(buf, sizeof(buf), "long answer of %d ms", LONG_MS);
		r->transcript = strdup(buf);
	} else if (s->scenario == SC_GREETING && !s->had_user_audio) {
		r->fill = 0x55;
		r->total = GREETING_MS * 8;
		r->transcript = strdup("Hello, how can I help?");
	} else {
		r->fill = FILL_AUDIO;
		r->audio = s->last_speech;
		if (r->audio != NULL)
			r->audio->refs++;
		r->total = r->audio != NULL ? r->audio->len : 0;
		snprintf(buf, sizeof(buf), "echo of %zu ms", r->total / 8);
		r->transcript = strdup(buf);
	}
	if (r->transcript == NULL) {
		response_free(r);
		return;
	}
	s->resp = r;
	if (r->hold)
		lws_sul_schedule(settings.context, 0, &r->sul,
		    response_hold_end, (lws_usec_t)(r->total / 8) *
		    LWS_US_PER_MS);

	prev = last_item_id(s);
	snprintf(r->prev_id, sizeof(r->prev_id), "%s",
	    prev != NULL ? prev : "");
	send_response_event(s, "response.created", response_obj(s, r->id,
	    "in_progress", NULL, NULL, NULL));
	item = assistant_item(r, "in_progress", false);
	ev = ev_new(s, "response.output_item.added");
	jadd_str(ev, "response_id", r->id);
	jadd_int(ev, "output_index", 0);
	json_object_object_add(ev, "item", json_object_get(item));
	ev_send(s, ev);
	send_item_event(s, "conversation.item.added", prev, item);
	if (item_add(s, r->item_id, item) != NULL)
		s->items[s->nitems - 1].assistant_audio = true;
	json_object_put(item);
	ev = part_event(s, "response.content_part.added", r);
	json_object_object_add(ev, "part", audio_part(""));
	ev_send(s, ev);
	log_info("conn %u: %s: %zu ms of audio, \"%s\"", s->n, r->id,
	    r->total / 8, r->transcript);
}

/* ------------------------------------------------------------ caller audio */

static void
inbuf_reset(struct session *s)
{
	buf_reset(&s->inbuf);
}

static void
inbuf_put(struct session *s, const uint8_t *p, size_t n)
{
	size_t room = s->inbuf.max - s->inbuf.len;

	if (n > room) {
		if (!s->clipped)
			log_warn("conn %u: more than %d s of caller audio in "
			    "one turn; keeping the first %d s", s->n,
			    AUDIO_MAX_BYTES / 8000, AUDIO_MAX_BYTES / 8000);
		s->clipped = true;
		n = room;
	}
	if (n > 0)
		(void)buf_append(&s->inbuf, p, n);
}

static void
speech_started(struct session *s)
{
	json_object *ev = ev_new(s, "input_audio_buffer.speech_started");

	s->vad = VAD_SPEECH;
	new_id(s->turn_item, sizeof(s->turn_item), "item", &s->next_item);
	jadd_int(ev, "audio_start_ms", (int64_t)(s->seg_start / 8));
	jadd_str(ev, "item_id", s->turn_item);
	ev_send(s, ev);
	/* Server VAD with interrupt_response cancels what is playing. */
	if (s->resp != NULL && jbool_or(turn_detection(s),
	    "interrupt_response", true)) {
		char resp_id[40], call_id[40];

		snprintf(resp_id, sizeof(resp_id), "%s", s->resp->id);
		response_finish(s, "cancelled", "turn_detected");
		if (s->scenario == SC_FUNCTION_LATE) {
			/* A function call of the cancelled answer, late. */
			new_id(call_id, sizeof(call_id), "call", &s->next_call);
			ev = ev_new(s, "response.function_call_arguments.done");
			jadd_str(ev, "response_id", resp_id);
			jadd_str(ev, "item_id", "item_late");
			jadd_int(ev, "output_index", 1);
			jadd_str(ev, "call_id", call_id);
			jadd_str(ev, "name", "lookup_order");
			jadd_str(ev, "arguments", "{\"order_id\":\"42\"}");
			ev_send(s, ev);
		}
	}
}

/*
 * Commit caller audio as a user message item: after speech_stopped (VAD)
 * or on input_audio_buffer.commit.  seg is the audio of the turn.
 */
static void
user_turn(struct session *s, const uint8_t *seg, size_t len, bool vad)
{
	json_object *item, *content, *part, *ev, *usage;
	const char *prev = last_item_id(s);
	char prevbuf[40], transcript[64], secs[32];

	snprintf(prevbuf, sizeof(prevbuf), "%s", prev != NULL ? prev : "");
	if (!vad)
		new_id(s->turn_item, sizeof(s->turn_item), "item",
		    &s->next_item);
	if (vad) {
		ev = ev_new(s, "input_audio_buffer.speech_stopped");
		jadd_int(ev, "audio_end_ms", (int64_t)(s->clock / 8));
		jadd_str(ev, "item_id", s->turn_item);
		ev_send(s, ev);
	}
	ev = ev_new(s, "input_audio_buffer.committed");
	jadd_str(ev, "previous_item_id", prev != NULL ? prevbuf : NULL);
	jadd_str(ev, "item_id", s->turn_item);
	ev_send(s, ev);

	item = json_object_new_object();
	jadd_str(item, "id", s->turn_item);
	jadd_str(item, "object", "realtime.item");
	jadd_str(item, "type", "message");
	jadd_str(item, "status", "completed");
	jadd_str(item, "role", "user");
	content = json_object_new_array();
	part = json_object_new_object();
	jadd_str(part, "type", "input_audio");
	jadd_str(part, "transcript", NULL);
	json_object_array_add(content, part);
	json_object_object_add(item, "content", content);
	send_item_event(s, "conversation.item.added", prev != NULL ? prevbuf :
	    NULL, item);
	send_item_event(s, "conversation.item.done", prev != NULL ? prevbuf :
	    NULL, item);
	(void)item_add(s, s->turn_item, item);
	json_object_put(item);

	snprintf(transcript, sizeof(transcript), "caller said %zu bytes", len);
	ev = ev_new(s, "conversation.item.input_audio_transcription.completed");
	jadd_str(ev, "item_id", s->turn_item);
	jadd_int(ev, "content_index", 0);
	jadd_str(ev, "transcript", transcript);
	usage = json_object_new_object();
	jadd_str(usage, "type", "duration");
	snprintf(secs, sizeof(secs), "%.6g", (double)len / 8000.0);
	json_object_object_add(usage, "seconds",
	    json_object_new_double_s((double)len / 8000.0, secs));
	json_object_object_add(ev, "usage", usage);
	ev_send(s, ev);

	audio_unref(s->last_speech);
	s->last_speech = audio_new(seg, len);
	s->had_user_audio = true;
	s->user_audio_bytes += len;
	log_info("conn %u: user turn %s, %zu ms", s->n, s->turn_item,
	    len / 8);

	if (vad && s->resp == NULL &&
	    jbool_or(turn_detection(s), "create_response", true))
		response_start(s);
}

static void
vad_reset(struct session *s)
{
	s->vad = VAD_IDLE;
	s->vad_speech = 0;
	s->vad_silence = 0;
	s->clipped = false;
	inbuf_reset(s);
}

/* Caller audio arrives: run the VAD byte by byte on the audio clock. */
static void
audio_in(struct session *s, const uint8_t *p, size_t n)
{
	bool vad_on = turn_detection(s) != NULL;
	size_t i, from = 0;	/* p[from, i) still to store */

	for (i = 0; i < n; i++) {
		uint64_t pos = s->clock++;
		bool speech = p[i] != 0xFF && p[i] != 0x7F;

		if (!vad_on)
			continue;
		if (s->vad == VAD_IDLE) {
			if (speech) {
				if (s->vad_speech == 0) {
					inbuf_reset(s);
					s->clipped = false;
					s->seg_start = pos;
					from = i;
				}
				s->vad_speech++;
				s->vad_silence = 0;
				s->seg_end = pos + 1;
				if (s->vad_speech >= SPEECH_START_BYTES) {
					inbuf_put(s, p + from, i + 1 - from);
					from = i + 1;
					speech_started(s);
				}
			} else if (s->vad_speech > 0) {
				if (++s->vad_silence >= SPEECH_FORGET_BYTES) {
					s->vad_speech = 0;
					s->vad_silence = 0;
					inbuf_reset(s);
					from = i + 1;
				}
			} else
				from = i + 1;
		} else if (speech) {
			s->vad_silence = 0;
			s->seg_end = pos + 1;
		} else if (++s->vad_silence >= SPEECH_STOP_BYTES) {
			size_t len;

			inbuf_put(s, p + from, i + 1 - from);
			from = i + 1;
			len = (size_t)(s->seg_end - s->seg_start);
			if (len > s->inbuf.len)
				len = s->inbuf.len;
			user_turn(s, (const uint8_t *)s->inbuf.data, len, true);
			vad_reset(s);
		}
	}
	if (!vad_on || s->vad == VAD_SPEECH || s->vad_speech > 0)
		inbuf_put(s, p + from, n - from);

	/* A held response (long) has played once the caller's clock says so. */
	if (s->resp != NULL && s->resp->phase == RP_HOLDING &&
	    s->clock - s->resp->clock_start >= s->resp->total)
		response_finish(s, "completed", NULL);
}

/* ------------------------------------------------------------ client events */

static void
on_append(struct session *s, json_object *ev, const char *eid)
{
	const char *a = jstr(ev, "audio");
	size_t len;
	uint8_t *raw;
	ssize_t n;

	if (a == NULL) {
		send_error(s, "invalid_request_error",
		    "missing_required_parameter",
		    "Missing required parameter: 'audio'.", "audio", eid);
		return;
	}
	len = strlen(a);
	if ((raw = malloc(len / 4 * 3 + 3)) == NULL)
		return;
	n = b64_decode(raw, a, len);
	if (n < 0)
		send_error(s, "invalid_request_error", "invalid_value",
		    "Invalid 'audio'. Expected base64-encoded audio bytes.",
		    "audio", eid);
	else
		audio_in(s, raw, (size_t)n);
	free(raw);
}

static void
on_commit(struct session *s, const char *eid)
{
	char msg[256];

	if (s->inbuf.len < SPEECH_START_BYTES) {
		snprintf(msg, sizeof(msg), "Error committing input audio "
		    "buffer: buffer too small. Expected at least 100ms of "
		    "audio, but buffer only has %.2fms of audio.",
		    (double)s->inbuf.len / 8.0);
		send_error(s, "invalid_request_error",
		    "input_audio_buffer_commit_empty", msg, NULL, eid);
		return;
	}
	user_turn(s, (const uint8_t *)s->inbuf.data, s->inbuf.len, false);
	vad_reset(s);
}

static void
on_clear(struct session *s)
{
	vad_reset(s);
	ev_send(s, ev_new(s, "input_audio_buffer.cleared"));
}

static bool
call_known(struct session *s, const char *call_id)
{
	size_t i;

	for (i = 0; i < s->nitems; i++)
		if (strcmp(s->items[i].call_id, call_id) == 0)
			return true;
	return false;
}

static void
on_item_create(struct session *s, json_object *ev, const char *eid)
{
	json_object *in = jobj(ev, "item"), *item = NULL;
	const char *type = jstr(in, "type"), *id = jstr(in, "id");
	const char *call_id = jstr(in, "call_id"), *output = jstr(in, "output");
	const char *prev = last_item_id(s);
	char idbuf[40], prevbuf[40], msg[256];

	if (in == NULL || type == NULL) {
		send_error(s, "invalid_request_error",
		    "missing_required_parameter", in == NULL ?
		    "Missing required parameter: 'item'." :
		    "Missing required parameter: 'item.type'.",
		    in == NULL ? "item" : "item.type", eid);
		return;
	}
	if (strcmp(type, "function_call_output") == 0) {
		if (call_id == NULL || output == NULL) {
			send_error(s, "invalid_request_error",
			    "missing_required_parameter", call_id == NULL ?
			    "Missing required parameter: 'item.call_id'." :
			    "Missing required parameter: 'item.output'.",
			    call_id == NULL ? "item.call_id" : "item.output",
			    eid);
			return;
		}
		if (!call_known(s, call_id)) {
			snprintf(msg, sizeof(msg), "Tool call ID '%.64s' not "
			    "found in conversation.", call_id);
			send_error(s, "invalid_request_error", NULL, msg,
			    "item.call_id", eid);
			return;
		}
	} else if (strcmp(type, "message") != 0 &&
	    strcmp(type, "function_call") != 0) {
		snprintf(msg, sizeof(msg), "Invalid value: '%.64s'. Supported "
		    "values are: 'message', 'function_call', and "
		    "'function_call_output'.", type);
		send_error(s, "invalid_request_error", "invalid_value", msg,
		    "item.type", eid);
		return;
	}
	if (id != NULL && item_find(s, id) != NULL) {
		snprintf(msg, sizeof(msg), "Item with id '%.64s' already "
		    "exists.", id);
		send_error(s, "invalid_request_error", NULL, msg, "item.id",
		    eid);
		return;
	}
	if (id == NULL) {
		new_id(idbuf, sizeof(idbuf), "item", &s->next_item);
		id = idbuf;
	} else {
		snprintf(idbuf, sizeof(idbuf), "%s", id);
		id = idbuf;
	}
	snprintf(prevbuf, sizeof(prevbuf), "%s", prev != NULL ? prev : "");

	if (json_object_deep_copy(in, &item, NULL) != 0 || item == NULL)
		return;
	jadd_str(item, "id", id);
	jadd_str(item, "object", "realtime.item");
	jadd_str(item, "status", "completed");
	send_item_event(s, "conversation.item.added", prev != NULL ? prevbuf :
	    NULL, item);
	send_item_event(s, "conversation.item.done", prev != NULL ? prevbuf :
	    NULL, item);
	(void)item_add(s, id, item);
	json_object_put(item);
	if (strcmp(type, "function_call_output") == 0) {
		free(s->tool_output);
		s->tool_output = strdup(output);
	}
}

static void
on_truncate(struct session *s, json_object *ev, const char *eid)
{
	const char *id = jstr(ev, "item_id");
	int64_t ci, end;
	size_t have;
	struct item *it;
	json_object *out;
	char msg[256];

	if (id == NULL || !jint(ev, "content_index", &ci) ||
	    !jint(ev, "audio_end_ms", &end)) {
		send_error(s, "invalid_request_error",
		    "missing_required_parameter", "Missing required parameter: "
		    "'item_id', 'content_index' and 'audio_end_ms' are "
		    "required.", NULL, eid);
		return;
	}
	if ((it = item_find(s, id)) == NULL) {
		snprintf(msg, sizeof(msg), "Conversation item with id '%.64s' "
		    "not found.", id);
		send_error(s, "invalid_request_error", NULL, msg, "item_id",
		    eid);
		return;
	}
	if (!it->assistant_audio || ci != 0 || end < 0) {
		send_error(s, "invalid_request_error", NULL,
		    !it->assistant_audio ?
		    "Only assistant messages with audio can be truncated." :
		    "Invalid content_index or audio_end_ms.",
		    !it->assistant_audio ? "item_id" : "audio_end_ms", eid);
		return;
	}
	have = s->resp != NULL && strcmp(s->resp->item_id, id) == 0 ?
	    s->resp->sent : it->audio_bytes;
	if ((uint64_t)end > have / 8) {
		snprintf(msg, sizeof(msg), "Audio content of %zums is already "
		    "shorter than %" PRId64 "ms", have / 8, end);
		send_error(s, "invalid_request_error", NULL, msg, NULL, eid);
		return;
	}
	it->audio_bytes = (size_t)end * 8;
	out = ev_new(s, "conversation.item.truncated");
	jadd_str(out, "item_id", id);
	jadd_int(out, "content_index", ci);
	jadd_int(out, "audio_end_ms", end);
	ev_send(s, out);
	log_info("conn %u: %s truncated at %" PRId64 " ms", s->n, id, end);
}

static void
on_item_delete_retrieve(struct session *s, json_object *ev, const char *eid,
    bool del)
{
	const char *id = jstr(ev, "item_id");
	struct item *it = id != NULL ? item_find(s, id) : NULL;
	json_object *out;
	char msg[256];

	if (it == NULL) {
		snprintf(msg, sizeof(msg), "Conversation item with id '%.64s' "
		    "not found.", id != NULL ? id : "");
		send_error(s, "invalid_request_error", NULL, msg, "item_id",
		    eid);
		return;
	}
	if (!del) {
		out = ev_new(s, "conversation.item.retrieved");
		json_object_object_add(out, "item", json_object_get(it->obj));
		ev_send(s, out);
		return;
	}
	out = ev_new(s, "conversation.item.deleted");
	jadd_str(out, "item_id", id);
	ev_send(s, out);
	json_object_put(it->obj);
	memmove(it, it + 1, (size_t)(&s->items[s->nitems] - (it + 1)) *
	    sizeof(*it));
	s->nitems--;
}

static void
on_response_create(struct session *s, const char *eid)
{
	char msg[256];

	if (s->resp != NULL) {
		snprintf(msg, sizeof(msg), "Conversation already has an active "
		    "response in progress: %s. Wait until the response is "
		    "finished before creating a new one.", s->resp->id);
		send_error(s, "invalid_request_error",
		    "conversation_already_has_active_response", msg, NULL, eid);
		return;
	}
	response_start(s);
}

static void
on_response_cancel(struct session *s, json_object *ev, const char *eid)
{
	const char *id = jstr(ev, "response_id");

	if (s->resp == NULL || (id != NULL && strcmp(id, s->resp->id) != 0)) {
		send_error(s, "invalid_request_error",
		    "response_cancel_not_active",
		    "Cancellation failed: no active response found", NULL, eid);
		return;
	}
	response_finish(s, "cancelled", "client_cancelled");
}

static void
handle_event(struct session *s, json_object *ev)
{
	const char *type = jstr(ev, "type"), *eid = jstr(ev, "event_id");
	char msg[256];

	if (settings.debug)
		log_debug("conn %u: -> %s", s->n, type != NULL ? type : "?");
	if (s->scenario == SC_HANG)
		return;
	if (type == NULL)
		send_error(s, "invalid_request_error",
		    "missing_required_parameter",
		    "Missing required parameter: 'type'.", "type", eid);
	else if (strcmp(type, "session.update") == 0)
		on_session_update(s, ev, eid);
	else if (strcmp(type, "input_audio_buffer.append") == 0)
		on_append(s, ev, eid);
	else if (strcmp(type, "input_audio_buffer.commit") == 0)
		on_commit(s, eid);
	else if (strcmp(type, "input_audio_buffer.clear") == 0)
		on_clear(s);
	else if (strcmp(type, "conversation.item.create") == 0)
		on_item_create(s, ev, eid);
	else if (strcmp(type, "conversation.item.truncate") == 0)
		on_truncate(s, ev, eid);
	else if (strcmp(type, "conversation.item.delete") == 0)
		on_item_delete_retrieve(s, ev, eid, true);
	else if (strcmp(type, "conversation.item.retrieve") == 0)
		on_item_delete_retrieve(s, ev, eid, false);
	else if (strcmp(type, "response.create") == 0)
		on_response_create(s, eid);
	else if (strcmp(type, "response.cancel") == 0)
		on_response_cancel(s, ev, eid);
	else if (strcmp(type, "output_audio_buffer.clear") == 0)
		send_error(s, "invalid_request_error", NULL,
		    "output_audio_buffer.clear is only supported for WebRTC "
		    "and SIP connections.", "type", eid);
	else {
		snprintf(msg, sizeof(msg), "Invalid value: '%.64s'. This is "
		    "not a client event type of the Realtime API.", type);
		send_error(s, "invalid_request_error", "invalid_value", msg,
		    "type", eid);
	}
}

/* ------------------------------------------------------------ lws callbacks */

int
session_open(struct conn *c)
{
	struct session *s = calloc(1, sizeof(*s));
	char msg[256], model[FO_MODEL_MAX * 4];

	if (s == NULL)
		return -1;
	c->session = s;
	s->conn = c;
	s->wsi = c->wsi;
	s->n = ++settings.last_conn;
	s->scenario = c->scenario;
	snprintf(s->id, sizeof(s->id), "sess_%u", s->n);
	TAILQ_INIT(&s->outq);
	buf_init(&s->rx, FO_MSG_MAX);
	buf_init(&s->inbuf, AUDIO_MAX_BYTES);
	if ((s->config = config_default(s)) == NULL)
		return -1;
	rec_open(s);
	log_info("conn %u: model=%s scenario=%s%s", s->n,
	    log_escape(model, sizeof(model), c->req.model),
	    scenario_name(s->scenario), c->req.beta_header ?
	    " with an OpenAI-Beta header" : "");

	if (c->req.beta_header) {
		/* The beta shape is retired: upgrade, one error, close. */
		send_error(s, "invalid_request_error",
		    "beta_api_shape_disabled", "The Realtime Beta API is no "
		    "longer supported. Please use /v1/realtime for the GA "
		    "API.", NULL, NULL);
		close_later(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    "beta_api_shape_disabled");
		return 0;
	}
	if (s->scenario == SC_UNKNOWN) {
		snprintf(msg, sizeof(msg), "The model '%.100s' does not exist "
		    "or you do not have access to it (fake-openai scenarios "
		    "are fake-<scenario>).", c->req.model);
		send_error(s, "invalid_request_error", "model_not_found", msg,
		    NULL, NULL);
		close_later(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    "model_not_found");
		return 0;
	}
	if (s->scenario == SC_HANG)
		return 0;
	if (s->scenario == SC_SLOW_CREATED) {
		lws_sul_schedule(settings.context, 0, &s->created_sul,
		    created_late, SLOW_CREATED_US);
		return 0;
	}
	send_created(s);
	return 0;
}

int
session_receive(struct session *s, const void *in, size_t len, bool final,
    bool binary)
{
	static unsigned char too_big[] = "message too big";
	json_tokener *tok;
	json_object *ev;
	const char *text;

	if (s->rx.len == 0)
		s->rx_binary = binary;
	if (buf_append(&s->rx, in, len) < 0) {
		log_warn("conn %u: a client message over %u bytes", s->n,
		    FO_MSG_MAX);
		lws_close_reason(s->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		    too_big, sizeof(too_big) - 1);
		rec_closed(s, "server", LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE);
		return -1;
	}
	if (!final)
		return 0;
	text = s->rx.data != NULL ? s->rx.data : "";
	if (s->rx_binary) {
		json_object *o = json_object_new_object();

		jadd_int(o, "binary_frame", (int64_t)s->rx.len);
		rec_json(s, o);
		json_object_put(o);
		if (s->scenario != SC_HANG)
			send_error(s, "invalid_request_error", NULL,
			    "Binary frames are not supported; send JSON text.",
			    NULL, NULL);
	} else {
		tok = json_tokener_new();
		ev = tok != NULL ? json_tokener_parse_ex(tok, text,
		    (int)s->rx.len) : NULL;
		if (ev != NULL && (tok->char_offset != (int)s->rx.len ||
		    !json_object_is_type(ev, json_type_object))) {
			json_object_put(ev);
			ev = NULL;
		}
		if (tok != NULL)
			json_tokener_free(tok);
		rec_client_event(s, text, s->rx.len, ev);
		if (ev != NULL)
			handle_event(s, ev);
		else if (s->scenario != SC_HANG)
			send_error(s, "invalid_request_error", NULL,
			    "We could not parse the JSON body of your request. "
			    "Expected a JSON object.", NULL, NULL);
		json_object_put(ev);
	}
	if (s->rx.cap > RX_KEEP_BYTES)
		buf_free(&s->rx);
	else
		buf_reset(&s->rx);
	return 0;
}

int
session_writeable(struct session *s)
{
	struct outmsg *m;
	int n;

	if (TAILQ_EMPTY(&s->outq))
		response_pump(s);
	m = TAILQ_FIRST(&s->outq);
	if (m == NULL) {
		if (!s->close_pending)
			return 0;
		lws_close_reason(s->wsi, (enum lws_close_status)s->close_code,
		    (unsigned char *)(uintptr_t)s->close_reason,
		    strlen(s->close_reason));
		rec_closed(s, "server", s->close_code);
		return -1;
	}
	n = lws_write(s->wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
	if (n < 0 || (size_t)n < m->len) {
		log_warn("conn %u: write failed", s->n);
		return -1;
	}
	TAILQ_REMOVE(&s->outq, m, entry);
	s->outq_bytes -= m->len;
	free(m);
	if (!TAILQ_EMPTY(&s->outq) || s->close_pending ||
	    (s->resp != NULL && s->resp->phase == RP_STREAMING))
		lws_callback_on_writable(s->wsi);
	return 0;
}

void
session_peer_close(struct session *s, const void *in, size_t len)
{
	const unsigned char *p = in;

	rec_closed(s, "client", len >= 2 ? (p[0] << 8) | p[1] : 1005);
}

void
session_closed(struct session *s)
{
	if (s->close_pending)
		rec_closed(s, "server", s->close_code);
	else
		rec_closed(s, "client", 1006);	/* gone without a close frame */
}

void
session_stop(struct session *s)
{
	close_later(s, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
}

void
session_free(struct session *s)
{
	struct outmsg *m;
	size_t i;

	if (!s->closed_recorded)
		session_closed(s);
	lws_sul_cancel(&s->close_sul);
	lws_sul_cancel(&s->created_sul);
	response_free(s->resp);
	while ((m = TAILQ_FIRST(&s->outq)) != NULL) {
		TAILQ_REMOVE(&s->outq, m, entry);
		free(m);
	}
	buf_free(&s->rx);
	buf_free(&s->inbuf);
	audio_unref(s->last_speech);
	for (i = 0; i < s->nitems; i++)
		json_object_put(s->items[i].obj);
	free(s->items);
	free(s->tool_output);
	json_object_put(s->config);
	if (s->rec != NULL)
		fclose(s->rec);
	free(s);
}
