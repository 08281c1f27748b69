/*
 * playback: Twilio's outbound audio buffer for one simulated call (see
 * playback.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "playback.h"

#define PLAYBACK_CAP_MIN	8192	/* first allocation: about 1 s of audio */

void
playback_init(struct playback *pb, const bool expected[256])
{
	memset(pb, 0, sizeof(*pb));
	memcpy(pb->expected, expected, sizeof(pb->expected));
}

void
playback_free(struct playback *pb)
{
	size_t i;

	for (i = 0; i < pb->nmarks; i++)
		free(pb->marks[pb->mhead + i].name);
	free(pb->marks);
	free(pb->ring);
	pb->marks = NULL;
	pb->ring = NULL;
	pb->cap = pb->len = pb->head = 0;
	pb->mcap = pb->mhead = pb->nmarks = 0;
}

size_t
playback_queued(const struct playback *pb)
{
	return pb->len;
}

/* Echo, oldest first, the marks whose audio has all been played. */
static void
echo_reached(struct playback *pb, playback_echo_fn echo, void *arg)
{
	struct playback_mark *m;

	while (pb->nmarks > 0) {
		m = &pb->marks[pb->mhead];
		if (m->pos > pb->gone)
			break;
		echo(arg, m->name);
		free(m->name);
		m->name = NULL;
		pb->mhead++;
		pb->nmarks--;
		pb->echoed++;
	}
	if (pb->nmarks == 0)
		pb->mhead = 0;
}

/* Play n queued bytes, counting the foreign ones. */
static void
consume(struct playback *pb, size_t n)
{
	size_t i, foreign = 0;

	for (i = 0; i < n; i++) {
		if (!pb->expected[pb->ring[pb->head]])
			foreign++;
		if (++pb->head == pb->cap)
			pb->head = 0;
	}
	pb->len -= n;
	pb->gone += n;
	pb->played += n;
	pb->played_foreign += foreign;
	if (pb->len == 0)
		pb->head = 0;
}

void
playback_advance(struct playback *pb, int64_t now_us, playback_echo_fn echo,
    void *arg)
{
	int64_t	 due;
	size_t	 n;

	if (pb->len > 0 && now_us > pb->clock_us) {
		due = (now_us - pb->clock_us) / PLAYBACK_US_PER_BYTE;
		n = (uint64_t)due < pb->len ? (size_t)due : pb->len;
		consume(pb, n);
		pb->clock_us += (int64_t)n * PLAYBACK_US_PER_BYTE;
	}
	echo_reached(pb, echo, arg);
}

/* Make room for want more bytes; false when memory runs out. */
static bool
grow(struct playback *pb, size_t want)
{
	uint8_t	*ring;
	size_t	 cap, first;

	if (pb->len + want <= pb->cap)
		return true;
	cap = pb->cap > 0 ? pb->cap : PLAYBACK_CAP_MIN;
	while (cap < pb->len + want)
		cap *= 2;
	if (cap > PLAYBACK_MAX_BYTES)
		cap = PLAYBACK_MAX_BYTES;
	if ((ring = malloc(cap)) == NULL)
		return false;
	/* Unwrap the queued bytes to the front of the new ring. */
	first = pb->len < pb->cap - pb->head ? pb->len : pb->cap - pb->head;
	if (pb->len > 0) {
		memcpy(ring, pb->ring + pb->head, first);
		memcpy(ring + first, pb->ring, pb->len - first);
	}
	free(pb->ring);
	pb->ring = ring;
	pb->cap = cap;
	pb->head = 0;
	return true;
}

size_t
playback_append(struct playback *pb, int64_t now_us, const uint8_t *data,
    size_t len, playback_echo_fn echo, void *arg)
{
	size_t	 n = len, tail, first;

	playback_advance(pb, now_us, echo, arg);
	if (pb->len + n > PLAYBACK_MAX_BYTES)
		n = PLAYBACK_MAX_BYTES - pb->len;
	if (n > 0 && !grow(pb, n))
		n = 0;
	pb->discarded += len - n;
	if (n == 0)
		return 0;
	if (pb->len == 0)
		pb->clock_us = now_us;	/* the line was silent: start now */
	tail = (pb->head + pb->len) % pb->cap;
	first = n < pb->cap - tail ? n : pb->cap - tail;
	memcpy(pb->ring + tail, data, first);
	memcpy(pb->ring, data + first, n - first);
	pb->len += n;
	pb->appended += n;
	return n;
}

int
playback_mark(struct playback *pb, int64_t now_us, const char *name,
    playback_echo_fn echo, void *arg)
{
	struct playback_mark	*marks;
	size_t			 mcap;

	if (strlen(name) > PLAYBACK_MARK_NAME_MAX)
		return -1;
	playback_advance(pb, now_us, echo, arg);
	if (pb->len == 0) {	/* nothing queued: no mark is pending either */
		echo(arg, name);
		pb->echoed++;
		return 0;
	}
	if (pb->nmarks >= PLAYBACK_MARKS_MAX)
		return -1;
	if (pb->mhead + pb->nmarks == pb->mcap) {
		if (pb->mhead > 0) {
			/* Slide the pending marks back to the front. */
			memmove(pb->marks, pb->marks + pb->mhead,
			    pb->nmarks * sizeof(*pb->marks));
			pb->mhead = 0;
		} else {
			mcap = pb->mcap > 0 ? pb->mcap * 2 : 16;
			marks = realloc(pb->marks, mcap * sizeof(*marks));
			if (marks == NULL)
				return -1;
			pb->marks = marks;
			pb->mcap = mcap;
		}
	}
	marks = &pb->marks[pb->mhead + pb->nmarks];
	if ((marks->name = strdup(name)) == NULL)
		return -1;
	marks->pos = pb->appended;
	pb->nmarks++;
	return 0;
}

void
playback_clear(struct playback *pb, int64_t now_us, playback_echo_fn echo,
    void *arg)
{
	playback_advance(pb, now_us, echo, arg);
	pb->gone += pb->len;	/* every pending mark is now reached */
	pb->len = 0;
	pb->head = 0;
	pb->clears++;
	echo_reached(pb, echo, arg);
}
