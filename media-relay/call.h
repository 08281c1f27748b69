/*
 * call.h: one call, from Twilio's upgrade to the end, on the ws thread.
 *
 * Ownership: ws.c allocates a struct call when Twilio's WebSocket is
 * established and frees it once both sockets are closed; only the ws
 * thread ever touches it.  Every transition of state goes through
 * call_set_state(); every end goes through call_end() with a reason.
 */
#ifndef CALLBRIDGE_CALL_H
#define CALLBRIDGE_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "buf.h"
#include "outq.h"
#include "relay.h"

#define CALL_ID_MAX		64	/* longest OpenAI or Twilio id we keep */
#define CALL_REASON_MAX		160
#define FN_NAMES		8	/* function call ids remembered with their names */
#define HANGUP_PLAYBACK_MAX_S	20	/* end_call/transfer: longest wait for playback */

struct fn_name {
	char	call_id[CALL_ID_MAX];
	char	name[CALL_ID_MAX];
};

enum call_state {
	CALL_CLAIMING,		/* upgraded; the session is being claimed */
	CALL_RESOLVING,		/* claimed and started; resolving OpenAI's host */
	CALL_CONNECTING,	/* OpenAI's WebSocket is being opened */
	CALL_ACTIVE,		/* audio flows both ways */
	CALL_ENDING,		/* sockets are being closed */
};

struct ws;

struct call {
	struct call		*next;		/* ws->calls */
	struct ws		*ws;
	uint32_t		 id;
	char			 session_id[SESSION_ID_LEN + 1];
	enum call_state		 state;
	struct lws		*tw;		/* Twilio's socket, or NULL */
	struct lws		*up;		/* OpenAI's socket, or NULL */
	struct agent		*agent;		/* after the claim */
	bool			 claimed;
	bool			 claim_pending;	/* M_CLAIM sent, no answer yet */
	bool			 started;	/* Twilio's start seen */
	char			 call_sid[CALL_ID_MAX];	/* from start */
	char			 stream_sid[CALL_ID_MAX];
	char			 address[64];	/* OpenAI's resolved address */

	struct outq		 tw_out;	/* to Twilio */
	struct outq		 up_out;	/* to OpenAI, once configured */
	struct outq		 early;		/* caller audio before OpenAI is ready */
	long long		 early_ms, early_dropped_ms;
	struct buf		 tw_rx, up_rx;	/* fragments of one message */
	bool			 up_ready;	/* session.update sent */

	/* Barge-in: mark-acknowledged playback accounting (PROTOCOLS §8.3). */
	char			 response_id[CALL_ID_MAX];	/* active, or "" */
	char			 cancelled_id[CALL_ID_MAX];	/* its late deltas are dropped */
	char			 item_id[CALL_ID_MAX];		/* assistant item playing */
	long long		 item_sent_ms;
	long long		 item_played_ms;
	unsigned long		 mark_seq;	/* last mark sent */
	unsigned long		 mark_acked;	/* last mark echoed after playback */
	unsigned long		 ignore_upto;	/* marks echoed because of a clear */
	long long		 last_media_ts;	/* Twilio's media.timestamp */
	lws_usec_t		 last_rx;	/* last message from Twilio */

	bool			 pending_response;	/* response.create after response.done */
	struct fn_name		 fn_names[FN_NAMES];	/* from response.output_item.added */
	unsigned		 fn_next;
	char			 hangup_reason[CALL_REASON_MAX];	/* end_call or transfer pending */
	lws_sorted_usec_list_t	 sul_hangup;
	long long		 tokens_in, tokens_out;
	int			 close_code;	/* for Twilio's socket */
	const char		*end_status;	/* "ended" or "failed", once ending */
	char			 end_reason[CALL_REASON_MAX];
	lws_sorted_usec_list_t	 sul_start;	/* start_timeout */
	lws_sorted_usec_list_t	 sul_up;	/* OpenAI connect_timeout */
	lws_sorted_usec_list_t	 sul_drain;
};

/* ws.c */
const struct conf *ws_conf(struct ws *);
struct lws_context *ws_context(struct ws *);
struct lws_vhost *ws_client_vhost(struct ws *);
void	 ws_to_ctl(struct ws *, struct msg *);
void	 ws_call_unlink(struct ws *, struct call *);

/* call.c */
struct call *call_new(struct ws *, uint32_t id, const char *session_id, struct lws *tw);
void	 call_free(struct call *);
void	 call_set_state(struct call *, enum call_state);
/*
 * End the call once: status "ended" or "failed" (stored with reason),
 * close code for Twilio's socket; OpenAI's socket is closed at once.
 */
void	 call_end(struct call *, const char *status, int code, const char *reason);
void	 call_arm_start_timer(struct call *);
void	 call_on_claimed(struct call *, struct agent *);
void	 call_on_refused(struct call *, const char *reason);
void	 call_on_resolved(struct call *, const char *address, const char *error);
void	 call_on_twilio(struct call *, const char *msg, size_t len);
void	 call_on_openai(struct call *, const char *msg, size_t len);
void	 call_on_openai_established(struct call *);
void	 call_on_openai_closed(struct call *, const char *why);
void	 call_on_tool_result(struct call *, struct msg *);
void	 call_tw_send(struct call *, const char *data, size_t len);
void	 call_up_send(struct call *, const char *data, size_t len);

#endif
