/*
 * outq: the messages waiting for one WebSocket to become writable, with a
 * bound on the bytes they hold.
 *
 * lws allows one write per *_WRITEABLE callback, with LWS_PRE bytes of
 * room in front of the payload: entries are allocated with that room, so
 * a message can be built in place and written without another copy.  A
 * push beyond the bound fails; the caller decides what that means (the
 * relay ends the call).  Single-threaded: the ws thread only.
 */
#ifndef CALLBRIDGE_OUTQ_H
#define CALLBRIDGE_OUTQ_H

#include <stdbool.h>
#include <stddef.h>

#include <libwebsockets.h>

struct outmsg {
	struct outmsg	*next;
	size_t		 len;
	bool		 audio;		/* caller audio: may be dropped when old */
	unsigned char	 data[];	/* LWS_PRE bytes, then len bytes */
};

struct outq {
	struct outmsg	*head, *tail;
	size_t		 bytes;
	size_t		 max;		/* [relay] outbound_queue */
};

/* A queue entry for len bytes (plus a NUL), to be filled in place. */
struct outmsg *outmsg_new(size_t len);
/* Queue m (taking it); -1 (m freed) when the queue is over its bound. */
int	 outq_append(struct outq *, struct outmsg *m);
/* Queue a copy of data; -1 when the queue is over its bound. */
int	 outq_push(struct outq *, const char *data, size_t len, bool audio);
void	 outq_clear(struct outq *);
/* Write the head of q to wsi; returns -1 on a write error. */
int	 outq_write(struct outq *, struct lws *wsi);
/* Take the oldest entry off the queue (NULL when empty). */
struct outmsg *outq_pop(struct outq *);
#endif
