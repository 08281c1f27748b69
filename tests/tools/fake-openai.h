/*
 * fake-openai: a stand-in for the OpenAI Realtime API (GA shape, over plain
 * ws://) for callbridge's tests, demo and benchmarks.  See fake-openai.c for
 * the command line and the list of scenarios.
 *
 * The program is one libwebsockets context served by one thread; every
 * object here belongs to that thread.  fake-openai.c owns the listening
 * socket and reads each HTTP request head itself, so that it can refuse or
 * delay an upgrade; accepted requests are handed to lws, which answers the
 * upgrade.  fake-openai-session.c is the Realtime protocol of one WebSocket.
 */
#ifndef FAKE_OPENAI_H
#define FAKE_OPENAI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>

#include <libwebsockets.h>

#include "buf.h"

#define FO_PATH		"/v1/realtime"	/* the only path served */
#define FO_HEAD_MAX	16384		/* request head, and lws' header room */
#define FO_MODEL_MAX	128		/* longest model name (from the URL) */
#define FO_MSG_MAX	(16u << 20)	/* client message; bigger: close 1009 */

enum scenario {
	SC_ECHO,		/* answer with the caller's last speech */
	SC_GREETING,		/* echo, and a greeting before any speech */
	SC_LONG,		/* 8 s answers that barge-in cancels */
	SC_TRANSCRIPTS,		/* echo (transcripts are always sent) */
	SC_ERROR,		/* a non-fatal error after session.updated */
	SC_REFUSE,		/* HTTP 500 instead of the upgrade */
	SC_CLOSE,		/* close 1011 1.5 s after session.updated */
	SC_HANG,		/* upgrade, then never a word */
	SC_SLOW_HANDSHAKE,	/* answer the upgrade after 30 s */
	SC_FUNCTION,		/* the first turn is a function call */
	SC_FUNCTION_BADARGS,	/* the same, with arguments that are not JSON */
	SC_FUNCTION_LATE,	/* long answers; a function call of the answer
				   the caller interrupts arrives after it */
	SC_FUNCTION_GOODBYE,	/* echo, then at once a function call */
	SC_SLOW_CREATED,	/* echo, but session.created 1.5 s late */
	SC_BIG,			/* echo, after one 150 kB event */
	SC_UNKNOWN,		/* "fake-<unknown>": an error, then close */
};

/* Options and process-wide state; service thread only. */
struct settings {
	const char	*addr;		/* listen address (numeric) */
	int		 port;		/* 0: any free port */
	const char	*api_key;	/* NULL: any key, but one is required */
	const char	*record_dir;	/* NULL: record nothing */
	enum scenario	 default_scenario;
	bool		 debug;
	struct lws_context *context;
	struct lws_vhost   *vhost;
	FILE		*connections_log; /* record_dir/connections.log */
	unsigned	 last_conn;	/* number of the last WebSocket */
	bool		 stopping;	/* SIGTERM/SIGINT seen */
};
extern struct settings settings;

/*
 * What the opaque user data of each of our lws wsis points at.  A
 * connection's tag stays valid as long as the connection: conn_free()
 * clears it from every wsi that still carries it.
 */
enum tag_kind {
	TAG_LISTENER,		/* raw-file watcher on the listening socket */
	TAG_SIGNAL,		/* raw-file watcher on the signalfd */
	TAG_CONN,		/* a connection: head watcher or http/ws wsi */
};
struct wsi_tag {
	enum tag_kind	 kind;
	struct conn	*conn;		/* TAG_CONN only */
};

/* The request head as fake-openai.c parsed it. */
struct request {
	bool		 get;			/* method GET */
	char		 path[256];		/* without the query */
	char		 model[FO_MODEL_MAX];	/* ?model=, decoded */
	char		*authorization;		/* header value, or NULL */
	bool		 beta_header;		/* an OpenAI-Beta header came */
	bool		 upgrade;		/* Upgrade: websocket */
};

/*
 * One accepted TCP connection, from accept() until lws destroys its wsi.
 * Allocated by the listener in fake-openai.c and freed only by conn_free():
 * there when the request is refused or fails before lws has it, otherwise
 * from LWS_CALLBACK_WSI_DESTROY of its own wsi.
 */
enum conn_state {
	CONN_HEAD,		/* reading the request head ourselves */
	CONN_DELAYED,		/* head read; hand-off to lws scheduled */
	CONN_UPGRADING,		/* lws has it and answers the upgrade */
	CONN_OPEN,		/* WebSocket up; the session runs */
};

struct conn {
	enum conn_state	 state;
	unsigned	 id;		/* accept order, for the debug log */
	struct wsi_tag	 tag;
	int		 fd;		/* ours until handed to lws, then -1 */
	struct lws	*watch_wsi;	/* CONN_HEAD: watcher on a dup of fd */
	struct lws	*wsi;		/* once lws has adopted fd */
	lws_sorted_usec_list_t sul;	/* CONN_DELAYED: the hand-off */
	struct buf	 head;		/* the request head as read */
	struct request	 req;
	enum scenario	 scenario;
	struct session	*session;	/* CONN_OPEN: fake-openai-session.c */
	TAILQ_ENTRY(conn) entry;
};
TAILQ_HEAD(conn_list, conn);
extern struct conn_list conns;

/* fake-openai.c */
void		 conn_free(struct conn *);
const char	*scenario_name(enum scenario);

/* fake-openai-session.c */
int		 session_open(struct conn *);
int		 session_receive(struct session *, const void *, size_t,
		    bool final, bool binary);
int		 session_writeable(struct session *);
void		 session_peer_close(struct session *, const void *, size_t);
void		 session_closed(struct session *);
void		 session_stop(struct session *);
void		 session_free(struct session *);

#endif
