/*
 * ws: the ws thread: one libwebsockets context with the Twilio-facing
 * server vhost and the OpenAI client vhost, the calls, and the ctl
 * mailbox.  lws_cancel_service() from the ctl thread makes lws call
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED here, where the mailbox is drained.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "call.h"
#include "log.h"
#include "signature.h"

struct ws {
	const struct conf	*cf;
	struct lws_context	*ctx;
	struct lws_vhost	*server, *client;
	struct mailbox		*in, *out;
	void			(*wake_ctl)(void *);
	void			*wake_arg;
	pthread_t		 thread;
	struct call		*calls;		/* ws thread only */
	int			 ncalls;	/* ws thread only */
	uint32_t		 next_id;	/* ws thread only */
	bool			 draining;	/* ws thread only */
	bool			 stopping;	/* ws thread only */
	volatile int		 exit_loop;
	lws_sorted_usec_list_t	 sul_drain;
	lws_retry_bo_t		 retry;
};

/* Per-connection data of the Twilio protocol. */
struct tw_pss {
	struct call	*call;
};

const struct conf *
ws_conf(struct ws *ws)
{
	return ws->cf;
}

struct lws_context *
ws_context(struct ws *ws)
{
	return ws->ctx;
}

struct lws_vhost *
ws_client_vhost(struct ws *ws)
{
	return ws->client;
}

void
ws_to_ctl(struct ws *ws, struct msg *m)
{
	if (m == NULL)
		return;
	if (mailbox_put(ws->out, m) == -1)
		log_err("mailbox to the ctl thread full; message dropped");
	ws->wake_ctl(ws->wake_arg);
}

void
ws_wake(struct ws *ws)
{
	lws_cancel_service(ws->ctx);
}

static struct call *
ws_find(struct ws *ws, uint32_t id)
{
	struct call *c;

	for (c = ws->calls; c != NULL; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

void
ws_call_unlink(struct ws *ws, struct call *c)
{
	struct call **pp;

	for (pp = &ws->calls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			ws->ncalls--;
			return;
		}
	}
}

/* Free the call once neither socket refers to it any more. */
static void
ws_call_release(struct ws *ws, struct call *c)
{
	/* A claim in flight comes back to this call: keep it until then. */
	if (c->tw != NULL || c->up != NULL || c->claim_pending)
		return;
	ws_call_unlink(ws, c);
	call_free(c);
	/* The last call is over: a drain need not wait out drain_time. */
	if ((ws->stopping || ws->draining) && ws->calls == NULL) {
		lws_sul_cancel(&ws->sul_drain);
		ws->stopping = true;
		ws->exit_loop = 1;
	}
}

static void
ws_end_all(struct ws *ws, const char *reason)
{
	struct call *c;

	for (c = ws->calls; c != NULL; c = c->next)
		call_end(c, "ended", LWS_CLOSE_STATUS_GOINGAWAY, reason);
}

static void
sul_drain_done(lws_sorted_usec_list_t *sul)
{
	struct ws *ws = lws_container_of(sul, struct ws, sul_drain);

	ws->stopping = true;
	ws_end_all(ws, "relay shutting down (drain time over)");
	if (ws->calls == NULL)
		ws->exit_loop = 1;
}

static void
ws_drain_mailbox(struct ws *ws)
{
	struct msg	*m, *next;
	struct call	*c;

	for (m = mailbox_take_all(ws->in); m != NULL; m = next) {
		next = m->next;
		if (m->type == M_DRAIN || m->type == M_STOP) {
			ws->draining = true;
			if (m->type == M_STOP || m->n1 <= 0 || ws->calls == NULL)
				sul_drain_done(&ws->sul_drain);
			else
				lws_sul_schedule(ws->ctx, 0, &ws->sul_drain,
				    sul_drain_done, m->n1 * LWS_USEC_PER_SEC);
			msg_free(m);
			continue;
		}
		if ((c = ws_find(ws, m->call_id)) == NULL) {
			/*
			 * The call is gone.  A claim that succeeded after it
			 * went must not leave its session "connected".
			 */
			if (m->type == M_CLAIMED) {
				struct msg *e = msg_new(M_END, m->call_id,
				    m->session_id);

				if (e != NULL) {
					e->s1 = strdup("failed");
					e->s2 = strdup("stream closed before the "
					    "session was claimed");
					ws_to_ctl(ws, e);
				}
			}
			msg_free(m);
			continue;
		}
		switch (m->type) {
		case M_CLAIMED:
			call_on_claimed(c, m->agent);
			m->agent = NULL;
			ws_call_release(ws, c);
			break;
		case M_REFUSED:
			call_on_refused(c, m->s1 != NULL ? m->s1 : "refused");
			ws_call_release(ws, c);
			break;
		case M_RESOLVED:
			call_on_resolved(c, m->s1, m->s2);
			break;
		case M_TOOL_RESULT:
			call_on_tool_result(c, m);
			break;
		default:
			break;
		}
		msg_free(m);
	}
}

/* Accumulate fragments of one message, bounded by buf's max. */
static int
ws_rx(struct lws *wsi, struct buf *b, const void *in, size_t len,
    const char **msg, size_t *msglen)
{
	*msg = NULL;
	if (lws_is_first_fragment(wsi))
		buf_reset(b);
	if (buf_append(b, in, len) == -1)
		return -1;
	if (!lws_is_final_fragment(wsi))
		return 0;
	if (lws_frame_is_binary(wsi))
		return -2;
	*msg = buf_str(b);
	*msglen = b->len;
	return 0;
}

/* Check the upgrade of /ws/realtime/<session_id>/; returns a reason or NULL. */
static const char *
ws_check_upgrade(struct ws *ws, struct lws *wsi, char *sid)
{
	char		 path[256], sig[64], url[SIGNATURE_URL_MAX + 1];
	const char	*p;
	size_t		 n;
	int		 len;

	if (ws->draining)
		return "relay shutting down";
	if (ws->ncalls >= ws->cf->relay_max_calls)
		return "too many calls (max_calls)";
	if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0)
		return "no path";
	if (strncmp(path, TWILIO_PATH_PREFIX, strlen(TWILIO_PATH_PREFIX)) != 0)
		return "unknown path";
	p = path + strlen(TWILIO_PATH_PREFIX);
	n = strcspn(p, "/");
	if (n != SESSION_ID_LEN || (p[n] != '\0' && strcmp(p + n, "/") != 0))
		return "malformed session id";
	memcpy(sid, p, n);
	sid[n] = '\0';
	if (!session_id_valid(sid))
		return "malformed session id";
	if (!ws->cf->twilio_validate_signatures)
		return NULL;
	len = lws_hdr_custom_length(wsi, "x-twilio-signature:", 19);
	if (len <= 0 || len >= (int)sizeof(sig) ||
	    lws_hdr_custom_copy(wsi, sig, sizeof(sig), "x-twilio-signature:", 19) <= 0)
		return "no X-Twilio-Signature";
	/* Twilio signs the <Stream url> it was given: public URL + path. */
	snprintf(url, sizeof(url), "%s%s", ws->cf->relay_public_url, path);
	if (!signature_check(ws->cf->twilio_auth_token, url, NULL, sig))
		return "bad X-Twilio-Signature";
	return NULL;
}

static int
cb_twilio(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct ws	*ws = lws_context_user(lws_get_context(wsi));
	struct tw_pss	*pss = user;
	struct call	*c = pss != NULL ? pss->call : NULL;
	const char	*why, *msg;
	char		 sid[SESSION_ID_LEN + 1];
	size_t		 msglen = 0;
	int		 rc;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		ws_drain_mailbox(ws);
		break;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if ((why = ws_check_upgrade(ws, wsi, sid)) != NULL) {
			char esc[64];

			log_notice("stream upgrade refused: %s", why);
			(void)esc;
			lws_return_http_status(wsi, strstr(why, "too many") ||
			    strstr(why, "shutting") ? HTTP_STATUS_SERVICE_UNAVAILABLE :
			    HTTP_STATUS_FORBIDDEN, NULL);
			return -1;
		}
		break;
	case LWS_CALLBACK_ESTABLISHED:
		/* The path was checked in the filter: copy the id out of it. */
		{
			char path[256];

			if (lws_hdr_copy(wsi, path, sizeof(path),
			    WSI_TOKEN_GET_URI) <= 0)
				return -1;
			memcpy(sid, path + strlen(TWILIO_PATH_PREFIX), SESSION_ID_LEN);
			sid[SESSION_ID_LEN] = '\0';
		}
		if ((c = call_new(ws, ++ws->next_id, sid, wsi)) == NULL)
			return -1;
		c->last_rx = lws_now_usecs();
		c->next = ws->calls;
		ws->calls = c;
		ws->ncalls++;
		pss->call = c;
		log_call(LOG_INFO, sid, "stream connected; claiming the session");
		call_arm_start_timer(c);
		c->claim_pending = true;
		ws_to_ctl(ws, msg_new(M_CLAIM, c->id, sid));
		break;
	case LWS_CALLBACK_RECEIVE:
		if (c == NULL || c->state == CALL_ENDING)
			break;
		c->last_rx = lws_now_usecs();
		rc = ws_rx(wsi, &c->tw_rx, in, len, &msg, &msglen);
		if (rc == -1)
			call_end(c, "failed", LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
			    "message from Twilio over max_message");
		else if (rc == -2)
			call_end(c, "failed", LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
			    "binary frame from Twilio");
		else if (msg != NULL)
			call_on_twilio(c, msg, msglen);
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (c == NULL)
			break;
		if (c->tw_out.head != NULL)
			return outq_write(&c->tw_out, wsi);
		if (c->state == CALL_ENDING) {
			lws_close_reason(wsi, (enum lws_close_status)c->close_code,
			    (unsigned char *)c->end_reason, strlen(c->end_reason));
			return -1;
		}
		break;
	case LWS_CALLBACK_CLOSED:
		if (c == NULL)
			break;
		c->tw = NULL;
		/* lws hangs up a socket that stays silent past idle_timeout. */
		if (c->state != CALL_ENDING && lws_now_usecs() - c->last_rx >=
		    (lws_usec_t)ws->cf->relay_idle_timeout * LWS_USEC_PER_SEC -
		    LWS_USEC_PER_SEC / 2)
			call_end(c, "ended", LWS_CLOSE_STATUS_NORMAL,
			    "Twilio's stream went silent (idle_timeout)");
		else if (c->state != CALL_ENDING)
			call_end(c, "ended", LWS_CLOSE_STATUS_NORMAL,
			    "caller hung up (stream closed)");
		pss->call = NULL;
		ws_call_release(ws, c);
		break;
	default:
		break;
	}
	return 0;
}

static int
cb_openai(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct ws	*ws = lws_context_user(lws_get_context(wsi));
	struct call	*c = user;
	const char	*msg;
	size_t		 msglen = 0;
	char		 why[CALL_REASON_MAX];
	int		 rc;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char	**p = in, *end = (*p) + len;
		char		  auth[512];
		int		  n;

		n = snprintf(auth, sizeof(auth), "Bearer %s",
		    ws->cf->openai_api_key);
		if (n < 0 || (size_t)n >= sizeof(auth) ||
		    lws_add_http_header_by_name(wsi,
		    (const unsigned char *)"authorization:",
		    (unsigned char *)auth, n, p, end))
			return -1;
		break;
	}
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c == NULL)
			break;
		snprintf(why, sizeof(why), "OpenAI connection failed: %s",
		    in != NULL ? (const char *)in : "unknown error");
		c->up = NULL;
		call_on_openai_closed(c, why);
		ws_call_release(ws, c);
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (c != NULL)
			call_on_openai_established(c);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (c == NULL || c->state == CALL_ENDING)
			break;
		rc = ws_rx(wsi, &c->up_rx, in, len, &msg, &msglen);
		if (rc == -1)
			call_end(c, "failed", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
			    "message from OpenAI over max_message");
		else if (msg != NULL)
			call_on_openai(c, msg, msglen);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (c == NULL)
			break;
		if (c->state == CALL_ENDING) {
			static unsigned char bye[] = "call ended";

			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, bye,
			    sizeof(bye) - 1);
			return -1;
		}
		if (c->up_out.head != NULL)
			return outq_write(&c->up_out, wsi);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (c != NULL && len >= 2) {
			const unsigned char *b = in;
			int code = b[0] << 8 | b[1];

			snprintf(why, sizeof(why), "OpenAI closed the session "
			    "(%d %.*s)", code, (int)(len - 2 > 100 ? 100 : len - 2),
			    (const char *)b + 2);
			call_on_openai_closed(c, why);
		}
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c == NULL)
			break;
		c->up = NULL;
		call_on_openai_closed(c, "OpenAI closed the session");
		ws_call_release(ws, c);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols tw_protocols[] = {
	{ "twilio", cb_twilio, sizeof(struct tw_pss), 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static const struct lws_protocols up_protocols[] = {
	{ "openai", cb_openai, 0, 16384, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
ws_lws_log(int level, const char *line)
{
	char esc[512];

	log_msg(level == LLL_ERR ? LOG_ERR : LOG_DEBUG, "lws: %s",
	    log_escape(esc, sizeof(esc), line));
}

struct ws *
ws_new(const struct conf *cf, struct mailbox *in, struct mailbox *out,
    void (*wake_ctl)(void *), void *wake_arg, char **cause)
{
	struct lws_context_creation_info	 info;
	struct ws				*ws;
	char					 host[128];
	const char				*colon;
	int					 port;

	if ((ws = calloc(1, sizeof(*ws))) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	ws->cf = cf;
	ws->in = in;
	ws->out = out;
	ws->wake_ctl = wake_ctl;
	ws->wake_arg = wake_arg;
	ws->retry.secs_since_valid_ping = (uint16_t)cf->relay_ping_interval;
	ws->retry.secs_since_valid_hangup = (uint16_t)cf->relay_idle_timeout;

	lws_set_log_level(LLL_ERR | (log_get_level() >= LOG_DEBUG ?
	    LLL_WARN | LLL_NOTICE : 0), ws_lws_log);

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	    LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.user = ws;
	info.timeout_secs = (unsigned int)cf->relay_upgrade_timeout;
	info.fd_limit_per_thread = (unsigned int)(cf->relay_max_calls * 2 + 64);
	if ((ws->ctx = lws_create_context(&info)) == NULL) {
		*cause = strdup("cannot create the libwebsockets context");
		free(ws);
		return NULL;
	}

	colon = strrchr(cf->relay_listen, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon - cf->relay_listen),
	    cf->relay_listen);
	port = atoi(colon + 1);
	memset(&info, 0, sizeof(info));
	info.vhost_name = "twilio";
	info.port = port;
	info.iface = strcmp(host, "*") == 0 ? NULL : host;
	info.protocols = tw_protocols;
	info.retry_and_idle_policy = &ws->retry;
	info.timeout_secs = (unsigned int)cf->relay_upgrade_timeout;
	/* A socket that holds a header buffer without upgrading is closed. */
	info.timeout_secs_ah_idle = (unsigned int)cf->relay_upgrade_timeout;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
	if ((ws->server = lws_create_vhost(ws->ctx, &info)) == NULL) {
		*cause = strdup("cannot listen on [relay] listen (address in use?)");
		lws_context_destroy(ws->ctx);
		free(ws);
		return NULL;
	}

	memset(&info, 0, sizeof(info));
	info.vhost_name = "openai";
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = up_protocols;
	info.retry_and_idle_policy = &ws->retry;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (cf->openai_ca_file[0] != '\0')
		info.client_ssl_ca_filepath = cf->openai_ca_file;
	if ((ws->client = lws_create_vhost(ws->ctx, &info)) == NULL) {
		*cause = strdup("cannot set up the OpenAI client (TLS or CA file?)");
		lws_context_destroy(ws->ctx);
		free(ws);
		return NULL;
	}
	return ws;
}

static void *
ws_main(void *arg)
{
	struct ws *ws = arg;

	while (!ws->exit_loop)
		if (lws_service(ws->ctx, 0) < 0)
			break;
	ws_to_ctl(ws, msg_new(M_WS_DONE, 0, NULL));
	return NULL;
}

int
ws_start(struct ws *ws)
{
	return pthread_create(&ws->thread, NULL, ws_main, ws) == 0 ? 0 : -1;
}

void
ws_join(struct ws *ws)
{
	pthread_join(ws->thread, NULL);
}

void
ws_free(struct ws *ws)
{
	struct call *c, *next;

	if (ws == NULL)
		return;
	lws_context_destroy(ws->ctx);
	for (c = ws->calls; c != NULL; c = next) {
		next = c->next;
		call_free(c);
	}
	free(ws);
}
