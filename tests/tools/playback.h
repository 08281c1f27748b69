/*
 * playback: Twilio's outbound audio buffer for one simulated call.
 *
 * What the relay sends as `media` is queued and played in real time at
 * 8 bytes (μ-law samples) per millisecond; a `mark` waits behind the audio
 * queued before it and is echoed when playback reaches it, or at once when
 * nothing is queued; `clear` drops the queued audio and echoes every
 * pending mark (PROTOCOLS.md §5.1, §5.2).  Audio past Twilio's 10-minute
 * limit is discarded and counted (error 31931).
 *
 * Time is passed in (microseconds on any monotonic clock), so the buffer
 * is a plain data structure the unit test drives without sleeping.  A byte
 * takes 125 µs to play; when the buffer runs dry, playback restarts at the
 * arrival of the next audio, as a phone line would.
 *
 * Ownership: embedded in the simulator's struct call, used by the lws
 * service thread only; playback_free() releases what it allocated.
 */
#ifndef CALLBRIDGE_PLAYBACK_H
#define CALLBRIDGE_PLAYBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLAYBACK_BYTES_PER_MS	8
#define PLAYBACK_US_PER_BYTE	125	/* 8000 samples per second */
#define PLAYBACK_MAX_BYTES	(10 * 60 * 1000 * PLAYBACK_BYTES_PER_MS)
#define PLAYBACK_MARKS_MAX	10000	/* pending marks kept per call */
#define PLAYBACK_MARK_NAME_MAX	1024	/* longest mark name kept */

/* Called for each mark as it is echoed, oldest first. */
typedef void (*playback_echo_fn)(void *arg, const char *name);

struct playback_mark {
	char		*name;
	uint64_t	 pos;		/* echoed when gone reaches this */
};

struct playback {
	uint8_t		*ring;		/* queued audio, circular */
	size_t		 cap;		/* grows up to PLAYBACK_MAX_BYTES */
	size_t		 head;		/* index of the next byte to play */
	size_t		 len;		/* bytes queued */
	int64_t		 clock_us;	/* audio before this time has played */

	struct playback_mark *marks;	/* FIFO: marks[mhead .. mhead+nmarks) */
	size_t		 mcap;
	size_t		 mhead;
	size_t		 nmarks;

	bool		 expected[256];	/* byte values that are not foreign */

	uint64_t	 appended;	/* bytes accepted since the start */
	uint64_t	 gone;		/* bytes that left the queue: played or cleared */
	uint64_t	 played;	/* bytes played ("heard") */
	uint64_t	 played_foreign; /* played bytes not in expected[] */
	uint64_t	 discarded;	/* bytes refused by the 10-minute limit */
	uint64_t	 echoed;	/* marks echoed */
	uint64_t	 clears;
};

/* expected[b] tells whether byte value b is an expected one when heard. */
void	 playback_init(struct playback *, const bool expected[256]);
void	 playback_free(struct playback *);

/* Play what is due at now_us, echoing the marks it reaches. */
void	 playback_advance(struct playback *, int64_t now_us,
	    playback_echo_fn, void *arg);

/*
 * Queue len bytes arriving at now_us.  Returns the number accepted; the
 * rest passed the 10-minute limit and was discarded (and counted), or
 * memory ran out.
 */
size_t	 playback_append(struct playback *, int64_t now_us,
	    const uint8_t *data, size_t len, playback_echo_fn, void *arg);

/*
 * Queue a mark arriving at now_us, or echo it at once when nothing is
 * queued.  Returns -1 (nothing queued, nothing echoed) when the name is
 * longer than PLAYBACK_MARK_NAME_MAX, PLAYBACK_MARKS_MAX marks are pending
 * or memory ran out.
 */
int	 playback_mark(struct playback *, int64_t now_us, const char *name,
	    playback_echo_fn, void *arg);

/*
 * At now_us: play what is due, then drop the rest of the queued audio and
 * echo every pending mark.
 */
void	 playback_clear(struct playback *, int64_t now_us,
	    playback_echo_fn, void *arg);

/* Bytes still queued. */
size_t	 playback_queued(const struct playback *);

#endif
