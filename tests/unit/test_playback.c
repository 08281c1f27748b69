/*
 * test_playback: the simulator's model of Twilio's playback buffer.  Audio
 * plays at 8 bytes per millisecond from its arrival, restarting after the
 * buffer ran dry; a mark is echoed when the audio before it has played, at
 * once when nothing is queued, and with every other pending mark on clear;
 * foreign bytes are counted as they play, in order, across the ring's wrap
 * and growth; the 10-minute limit discards and counts; over-long mark
 * names and too many pending marks are refused.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "playback.h"
#include "tap.h"

#define MS	1000	/* microseconds */

static char	echoes[4096];	/* names echoed so far, each followed by ' ' */

static void
record(void *arg, const char *name)
{
	int *count = arg;

	(*count)++;
	if (strlen(echoes) + strlen(name) + 2 < sizeof(echoes)) {
		strcat(echoes, name);
		strcat(echoes, " ");
	}
}

static void
fill(uint8_t *p, uint8_t v, size_t n)
{
	memset(p, v, n);
}

static void
setup(struct playback *pb, const int *values, size_t n)
{
	bool	 expected[256] = { false };
	size_t	 i;

	for (i = 0; i < n; i++)
		expected[values[i]] = true;
	playback_init(pb, expected);
	echoes[0] = '\0';
}

static void
test_timing(void)
{
	static const int ok_bytes[] = { 0xff, 0x10 };
	struct playback	 pb;
	uint8_t		 a[160];
	int		 n = 0;

	setup(&pb, ok_bytes, 2);
	is_int(playback_mark(&pb, 0, "empty", record, &n), 0,
	    "a mark with nothing queued is accepted");
	is_str(echoes, "empty ", "  ... and echoed at once");

	fill(a, 0x10, sizeof(a));
	is_int(playback_append(&pb, 1000 * MS, a, sizeof(a), record, &n), 160,
	    "160 bytes are queued");
	playback_mark(&pb, 1000 * MS, "m1", record, &n);
	is_int(n, 1, "a mark behind audio is not echoed yet");
	playback_advance(&pb, 1010 * MS, record, &n);
	is_int(pb.played, 80, "after 10 ms, 80 bytes have played");
	playback_advance(&pb, 1020 * MS - 1, record, &n);
	is_int(pb.played, 159, "1 µs before the end, 159 bytes");
	is_int(n, 1, "  ... and the mark still waits");
	playback_advance(&pb, 1020 * MS, record, &n);
	is_int(pb.played, 160, "after 20 ms, all 160 bytes have played");
	is_int(n, 2, "  ... and the mark is echoed");
	is_str(echoes, "empty m1 ", "  ... in order");
	is_int(playback_queued(&pb), 0, "nothing is queued");

	/* The line was silent from 1020 to 1500 ms: playback restarts. */
	playback_append(&pb, 1500 * MS, a, sizeof(a), record, &n);
	playback_advance(&pb, 1510 * MS, record, &n);
	is_int(pb.played, 240, "after a gap, playback restarts at the arrival");
	playback_advance(&pb, 9000 * MS, record, &n);
	is_int(pb.played, 320, "  ... and plays only what was queued");
	is_int(pb.played_foreign, 0, "expected bytes are not foreign");
	is_int(pb.echoed, 2, "echoed counts the marks");
	playback_free(&pb);
}

static void
test_foreign_and_wrap(void)
{
	static const int ok_bytes[] = { 0x41, 0x42 };
	struct playback	 pb;
	uint8_t		*d;
	int		 n = 0;

	setup(&pb, ok_bytes, 2);
	d = malloc(10000);
	fill(d, 0x41, 6000);
	playback_append(&pb, 0, d, 6000, record, &n);
	playback_advance(&pb, 625 * MS, record, &n);	/* 5000 bytes */
	is_int(pb.played, 5000, "5000 of 6000 bytes played");
	fill(d, 0x42, 5000);
	playback_append(&pb, 625 * MS, d, 5000, record, &n);	/* wraps */
	is_int(playback_queued(&pb), 6000, "the ring wraps: 6000 queued");
	fill(d, 0x43, 10000);
	playback_append(&pb, 625 * MS, d, 10000, record, &n);	/* grows */
	is_int(playback_queued(&pb), 16000, "the ring grows: 16000 queued");
	playback_advance(&pb, 1375 * MS, record, &n);	/* 6000 more */
	is_int(pb.played, 11000, "11000 bytes played");
	is_int(pb.played_foreign, 0,
	    "  ... all of the expected values, in order across wrap and growth");
	playback_advance(&pb, 1376 * MS, record, &n);
	is_int(pb.played_foreign, 8, "then 1 ms of a foreign value: 8 bytes");
	playback_advance(&pb, 10000 * MS, record, &n);
	is_int(pb.played_foreign, 10000, "all 10000 foreign bytes counted");
	is_int(pb.played, 21000, "every byte played once");
	free(d);
	playback_free(&pb);
}

static void
test_clear(void)
{
	static const int ok_bytes[] = { 0x55 };
	struct playback	 pb;
	uint8_t		 a[160];
	char		 name[16];
	int		 i, n = 0;

	setup(&pb, ok_bytes, 1);
	fill(a, 0x55, sizeof(a));
	for (i = 1; i <= 50; i++) {	/* one second, a mark per 20 ms */
		playback_append(&pb, 0, a, sizeof(a), record, &n);
		snprintf(name, sizeof(name), "g%d", i);
		playback_mark(&pb, 0, name, record, &n);
	}
	playback_advance(&pb, 250 * MS, record, &n);
	is_int(n, 12, "after 250 ms, the marks of 240 ms of audio are echoed");
	playback_clear(&pb, 250 * MS, record, &n);
	is_int(n, 50, "clear echoes every pending mark at once");
	ok(strstr(echoes, "g12 g13 ") != NULL && strstr(echoes, "g49 g50 ") != NULL,
	    "  ... in order");
	is_int(pb.played, 2000, "the audio played before the clear was heard");
	is_int(playback_queued(&pb), 0, "nothing is left queued");
	is_int(pb.clears, 1, "clears are counted");
	playback_mark(&pb, 260 * MS, "after", record, &n);
	is_int(n, 51, "a mark after the clear is echoed at once");
	playback_append(&pb, 300 * MS, a, sizeof(a), record, &n);
	playback_advance(&pb, 310 * MS, record, &n);
	is_int(pb.played, 2080, "playback restarts with new audio after a clear");
	playback_clear(&pb, 310 * MS, record, &n);
	is_int(pb.played, 2080, "a clear never counts the dropped audio as heard");
	playback_free(&pb);
}

static void
test_limits(void)
{
	static const int ok_bytes[] = { 0xff };
	struct playback	 pb;
	uint8_t		*d;
	char		*longname;
	size_t		 chunk = 600000, total = 0, got = 0;
	int		 i, n = 0;

	setup(&pb, ok_bytes, 1);
	d = calloc(1, chunk);
	while (total < (size_t)PLAYBACK_MAX_BYTES + 1000) {
		got += playback_append(&pb, 0, d, chunk, record, &n);
		total += chunk;
	}
	is_int(got, PLAYBACK_MAX_BYTES, "10 minutes of audio are accepted");
	is_int(pb.discarded, total - PLAYBACK_MAX_BYTES,
	    "  ... and what passes the limit is discarded and counted");
	playback_advance(&pb, 1000 * MS, record, &n);
	is_int(playback_append(&pb, 1000 * MS, d, 9000, record, &n), 8000,
	    "after 1 s of playback, 1 s more fits");
	free(d);

	longname = malloc(PLAYBACK_MARK_NAME_MAX + 2);
	memset(longname, 'x', PLAYBACK_MARK_NAME_MAX + 1);
	longname[PLAYBACK_MARK_NAME_MAX + 1] = '\0';
	is_int(playback_mark(&pb, 1000 * MS, longname, record, &n), -1,
	    "an over-long mark name is refused");
	longname[PLAYBACK_MARK_NAME_MAX] = '\0';
	is_int(playback_mark(&pb, 1000 * MS, longname, record, &n), 0,
	    "a name of exactly the maximum is kept");
	free(longname);
	for (i = 1; i < PLAYBACK_MARKS_MAX; i++)
		if (playback_mark(&pb, 1000 * MS, "m", record, &n) != 0)
			break;
	is_int(i, PLAYBACK_MARKS_MAX, "PLAYBACK_MARKS_MAX marks may be pending");
	is_int(playback_mark(&pb, 1000 * MS, "m", record, &n), -1,
	    "  ... and one more is refused");
	n = 0;
	playback_clear(&pb, 1000 * MS, record, &n);
	is_int(n, PLAYBACK_MARKS_MAX, "clear echoes them all");
	playback_free(&pb);
}

int
main(void)
{
	test_timing();
	test_foreign_and_wrap();
	test_clear();
	test_limits();
	return done_testing();
}
