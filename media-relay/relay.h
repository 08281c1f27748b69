/*
 * relay.h: callbridge-relay's private header.
 *
 * Two threads (DESIGN.md, "The relay's two threads"):
 *  - the ws thread owns the libwebsockets context, every struct call and
 *    all audio (ws.c, call.c);
 *  - the ctl thread (the main thread) owns the libevent base: signals,
 *    MariaDB through the non-blocking API, DNS, timers (main.c, ctl.c).
 * They talk only through struct msg in two bounded mailboxes, addressed
 * by call id, never by pointer into the other thread's objects.
 */
#ifndef CALLBRIDGE_RELAY_H
#define CALLBRIDGE_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "session_id.h"

#define MAILBOX_MAX		8192	/* messages waiting in one direction */
#define TWILIO_PATH_PREFIX	"/ws/realtime/"

#define AGENT_TOOLS_MAX		64	/* tools one agent may offer */

enum tool_kind { TOOL_HTTP, TOOL_END_CALL, TOOL_TRANSFER_CALL };

/* One enabled agent_tools row that passed validation. */
struct agent_tool {
	char		*name;
	enum tool_kind	 kind;
	char		*url;		/* http */
	char		*transfer_to;	/* transfer_call */
	int		 timeout_ms;
};

/* The agent a call is answered by, as loaded from MariaDB. */
struct agent {
	long long	 id;
	char		*name;
	char		*model;
	char		*voice;
	char		*instructions;
	char		*greeting;	/* NULL: the caller speaks first */
	char		*tools_json;	/* JSON array for session.update */
	int		 ntools;
	struct agent_tool tools[AGENT_TOOLS_MAX];	/* [0, ntools) */
	char		*call_sid;	/* the session's CallSid */
};

enum msg_type {
	/* ws -> ctl */
	M_CLAIM,		/* session_id: claim it and load the agent */
	M_RESOLVE,		/* s1: host name of the OpenAI endpoint */
	M_STREAM,		/* s1: streamSid, from Twilio's start */
	M_EVENT,		/* s1: kind, s2: role or NULL, s3: content */
	M_TOKENS,		/* n1: input tokens, n2: output tokens (to add) */
	M_END,			/* s1: status (ended|failed), s2: reason */
	M_TOOL_CALL,		/* s1: OpenAI call_id, s2: url, s3: arguments,
				   s4: tool name, n1: timeout ms */
	M_TRANSFER,		/* s1: the destination to record */
	M_WS_DONE,		/* the ws thread has stopped */
	/* ctl -> ws */
	M_CLAIMED,		/* agent */
	M_REFUSED,		/* s1: reason */
	M_RESOLVED,		/* s1: address, or NULL with s2: the error */
	M_TOOL_RESULT,		/* s1: OpenAI call_id, s2: output, s3: summary
				   for the log, n1: 1 ok / 0 error, n2: ms */
	M_DRAIN,		/* stop accepting; end calls after n1 seconds */
	M_STOP,			/* end every call now and stop */
};

struct msg {
	struct msg	*next;
	enum msg_type	 type;
	uint32_t	 call_id;
	char		 session_id[SESSION_ID_LEN + 1];
	long long	 n1, n2;
	char		*s1, *s2, *s3, *s4;	/* owned by the message */
	struct agent	*agent;		/* owned by the message */
};

/* mailbox.c */
struct mailbox;
struct mailbox	*mailbox_new(size_t max);
void		 mailbox_free(struct mailbox *);
/* Returns -1 (and frees m) when the mailbox is full. */
int		 mailbox_put(struct mailbox *, struct msg *m);
/* Takes every waiting message, oldest first (a list linked by next). */
struct msg	*mailbox_take_all(struct mailbox *);
struct msg	*msg_new(enum msg_type, uint32_t call_id, const char *session_id);
void		 msg_free(struct msg *);
void		 agent_free(struct agent *);

/* ws.c: the ws thread */
struct ws;
struct ws	*ws_new(const struct conf *, struct mailbox *in,
		    struct mailbox *out, void (*wake_ctl)(void *), void *wake_arg,
		    char **cause);
int		 ws_start(struct ws *);		/* starts the thread */
void		 ws_wake(struct ws *);		/* from the ctl thread */
void		 ws_join(struct ws *);
void		 ws_free(struct ws *);

/* tool_http.c: http tools, on the ctl thread */
struct tools;
struct event_base;
struct evdns_base;
struct tools	*tools_new(struct event_base *, struct evdns_base *,
		    const struct conf *, struct mailbox *to_ws, struct ws *,
		    char **cause);
/* Run the request of an M_TOOL_CALL (taking m); answers M_TOOL_RESULT. */
void		 tool_http_start(struct tools *, struct msg *m);
void		 tools_free(struct tools *);

/* ctl.c: the ctl thread's work on the messages of the ws thread */
struct ctl;
struct ctl	*ctl_new(struct event_base *, const struct conf *,
		    struct mailbox *to_ws, struct ws *, char **cause);
void		 ctl_handle(struct ctl *, struct msg *);
struct db_async	*ctl_db(struct ctl *);
void		 ctl_free(struct ctl *);

#endif
