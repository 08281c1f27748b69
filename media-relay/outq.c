/*
 * outq: bounded queues of outbound WebSocket messages (see outq.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "outq.h"

struct outmsg *
outmsg_new(size_t len)
{
	struct outmsg *m;

	if ((m = malloc(sizeof(*m) + LWS_PRE + len + 1)) == NULL)
		return NULL;
	m->next = NULL;
	m->len = len;
	m->audio = false;
	return m;
}

int
outq_append(struct outq *q, struct outmsg *m)
{
	if (q->bytes + m->len > q->max) {
		free(m);
		return -1;
	}
	m->next = NULL;
	if (q->tail != NULL)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->bytes += m->len;
	return 0;
}

int
outq_push(struct outq *q, const char *data, size_t len, bool audio)
{
	struct outmsg *m;

	if (q->bytes + len > q->max || (m = outmsg_new(len)) == NULL)
		return -1;
	m->audio = audio;
	memcpy(m->data + LWS_PRE, data, len);
	return outq_append(q, m);
}

struct outmsg *
outq_pop(struct outq *q)
{
	struct outmsg *m = q->head;

	if (m == NULL)
		return NULL;
	q->head = m->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->bytes -= m->len;
	return m;
}

void
outq_clear(struct outq *q)
{
	struct outmsg *m;

	while ((m = outq_pop(q)) != NULL)
		free(m);
}

int
outq_write(struct outq *q, struct lws *wsi)
{
	struct outmsg	*m;
	int		 n;

	if ((m = outq_pop(q)) == NULL)
		return 0;
	n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
	free(m);
	if (n < 0)
		return -1;
	if (q->head != NULL)
		lws_callback_on_writable(wsi);
	return 0;
}

