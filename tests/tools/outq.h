/*
 * outq: the messages waiting for one WebSocket to become writable.
 *
 * lws allows one write per LWS_CALLBACK_*_WRITEABLE, with LWS_PRE bytes of
 * room in front of the payload; timers and receive callbacks push whole
 * messages here and ask for a writable callback, which sends them in order.
 * Used by the simulator and the test server; ws thread only.
 */
#ifndef CALLBRIDGE_OUTQ_H
#define CALLBRIDGE_OUTQ_H

#include <stdbool.h>
#include <stddef.h>

struct lws;
struct outq_msg;

struct outq {
	struct outq_msg	*head;
	struct outq_msg	*tail;
	size_t		 bytes;		/* payload bytes queued */
	size_t		 count;		/* messages queued */
};

void	 outq_init(struct outq *);
void	 outq_free(struct outq *);
/* Copy len bytes as one text (or binary) message; -1 when out of memory. */
int	 outq_push(struct outq *, const void *data, size_t len, bool binary);
/* Write the oldest message on wsi; -1 when the write failed. */
int	 outq_write_one(struct outq *, struct lws *wsi);

#endif
