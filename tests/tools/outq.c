/*
 * outq: messages waiting for a writable WebSocket (see outq.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "outq.h"

struct outq_msg {
	struct outq_msg	*next;
	size_t		 len;
	bool		 binary;
	unsigned char	 data[];	/* LWS_PRE bytes, then the payload */
};

void
outq_init(struct outq *q)
{
	memset(q, 0, sizeof(*q));
}

void
outq_free(struct outq *q)
{
	struct outq_msg *m;

	while ((m = q->head) != NULL) {
		q->head = m->next;
		free(m);
	}
	outq_init(q);
}

int
outq_push(struct outq *q, const void *data, size_t len, bool binary)
{
	struct outq_msg *m;

	if ((m = malloc(sizeof(*m) + LWS_PRE + len)) == NULL)
		return -1;
	m->next = NULL;
	m->len = len;
	m->binary = binary;
	memcpy(m->data + LWS_PRE, data, len);
	if (q->tail != NULL)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->bytes += len;
	q->count++;
	return 0;
}

int
outq_write_one(struct outq *q, struct lws *wsi)
{
	struct outq_msg	*m = q->head;
	int		 n;

	if (m == NULL)
		return 0;
	q->head = m->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->bytes -= m->len;
	q->count--;
	/* lws keeps whatever the kernel did not take and sends it first. */
	n = lws_write(wsi, m->data + LWS_PRE, m->len,
	    m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	free(m);
	return n < 0 ? -1 : 0;
}
