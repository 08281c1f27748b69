/*
 * test_outq: the relay's bounded outbound queues (media-relay/outq.c):
 * entries carry LWS_PRE bytes of room, order is kept, the byte bound is
 * reached exactly and a push past it fails without changing the queue.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "outq.h"
#include "tap.h"

int
main(void)
{
	struct outq	 q = { .max = 100 };
	struct outmsg	*m;
	char		 data[101];
	int		 i;

	memset(data, 'x', sizeof(data));
	ok(outq_push(&q, "hello", 5, false) == 0, "push a message");
	is_int(q.bytes, 5, "bytes counted");
	ok(outq_push(&q, data, 95, true) == 0, "push up to the bound exactly (100 bytes)");
	is_int(q.bytes, 100, "the queue is full");
	ok(outq_push(&q, "y", 1, false) == -1, "one byte more is refused");
	is_int(q.bytes, 100, "  ... and the queue is unchanged");
	m = outmsg_new(3);
	ok(m != NULL, "outmsg_new");
	memcpy(m->data + LWS_PRE, "abc", 3);
	ok(outq_append(&q, m) == -1, "appending past the bound fails (and frees the entry)");

	m = outq_pop(&q);
	ok(m != NULL && m->len == 5 && memcmp(m->data + LWS_PRE, "hello", 5) == 0,
	    "the oldest comes first, its payload after LWS_PRE");
	ok(m != NULL && !m->audio, "  ... with its flag");
	free(m);
	is_int(q.bytes, 95, "popping gives the bytes back");
	m = outmsg_new(5);
	memcpy(m->data + LWS_PRE, "12345", 5);
	ok(outq_append(&q, m) == 0, "room again after a pop");
	m = outq_pop(&q);
	ok(m != NULL && m->len == 95 && m->audio, "order kept");
	free(m);
	m = outq_pop(&q);
	ok(m != NULL && m->len == 5 && memcmp(m->data + LWS_PRE, "12345", 5) == 0,
	    "the appended entry last");
	free(m);
	ok(outq_pop(&q) == NULL && q.head == NULL && q.tail == NULL && q.bytes == 0,
	    "empty again");

	q.max = 1000;
	for (i = 0; i < 100; i++)
		if (outq_push(&q, data, 10, false) == -1)
			break;
	is_int(i, 100, "100 pushes of 10 bytes fit a 1000-byte bound");
	ok(outq_push(&q, data, 1, false) == -1, "the 1001st byte does not");
	outq_clear(&q);
	ok(q.head == NULL && q.bytes == 0, "clear empties the queue");
	ok(outq_push(&q, data, 1001, false) == -1, "a message bigger than the bound is refused");
	return done_testing();
}
