/*
 * test_buf: the bounded buffer.  Appends up to exactly max succeed, one
 * byte more fails, sets overflow and leaves the content as it was (for
 * append, puts, putc and printf); printf grows the buffer across several
 * reallocations; reset empties the buffer and clears overflow; free keeps
 * max; the content is always NUL-terminated, even with binary data.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tap.h"

static int
wrap_vprintf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
wrap_vprintf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

static void
test_empty(void)
{
	struct buf b;

	buf_init(&b, 16);
	is_str(buf_str(&b), "", "a new buffer reads as \"\"");
	is_int(b.len, 0, "a new buffer is empty");
	ok(b.data == NULL, "no memory before the first append");
	ok(!b.overflow, "no overflow on a new buffer");
	is_int(buf_append(&b, "", 0), 0, "appending nothing succeeds");
	is_str(buf_str(&b), "", "still \"\" after appending nothing");
	is_int(b.len, 0, "still empty after appending nothing");
	buf_free(&b);

	buf_init(&b, 0);
	is_int(buf_append(&b, "", 0), 0, "max 0: appending nothing succeeds");
	is_int(buf_putc(&b, 'a'), -1, "max 0: one byte fails");
	ok(b.overflow, "max 0: overflow set");
	is_str(buf_str(&b), "", "max 0: still \"\"");
	buf_free(&b);
}

static void
test_bounds(void)
{
	struct buf	 b;
	char		 big[100];

	memset(big, 'x', sizeof(big));
	buf_init(&b, 10);
	is_int(buf_append(&b, big, 10), 0, "append exactly max bytes");
	is_int(b.len, 10, "len is max");
	ok(!b.overflow, "no overflow at exactly max");
	is_str(buf_str(&b), "xxxxxxxxxx", "content at max, NUL-terminated");
	is_int(buf_putc(&b, 'y'), -1, "one more byte (putc) fails");
	ok(b.overflow, "overflow is set");
	is_int(b.len, 10, "len unchanged after the refused append");
	is_str(buf_str(&b), "xxxxxxxxxx",
	    "content unchanged after the refused append");
	is_int(buf_append(&b, "", 0), 0,
	    "appending nothing at max still succeeds");
	is_int(buf_printf(&b, "%d", 1), -1, "printf past max fails");
	is_int(buf_puts(&b, "z"), -1, "puts past max fails");
	is_str(buf_str(&b), "xxxxxxxxxx", "content still unchanged");
	buf_free(&b);

	buf_init(&b, 10);
	is_int(buf_append(&b, big, 11), -1, "max + 1 bytes at once fails");
	ok(b.overflow, "overflow set by the first append");
	is_int(b.len, 0, "nothing kept of the refused append");
	is_str(buf_str(&b), "", "reads as \"\" after the refused append");
	buf_free(&b);

	buf_init(&b, 10);
	is_int(buf_puts(&b, "hello"), 0, "puts 5 of 10");
	is_int(buf_puts(&b, "world!"), -1, "puts of 6 more fails as a whole");
	ok(b.overflow, "overflow after the puts that does not fit");
	is_str(buf_str(&b), "hello", "no partial write: content kept");
	is_int(buf_puts(&b, "world"), 0,
	    "an append that fits still succeeds after an overflow");
	is_str(buf_str(&b), "helloworld", "content after filling to max");
	ok(b.overflow, "overflow stays set until reset");
	buf_free(&b);

	buf_init(&b, 64);
	is_int(buf_puts(&b, "abc"), 0, "puts before a huge append");
	is_int(buf_append(&b, big, SIZE_MAX), -1,
	    "an append of SIZE_MAX bytes fails (no wrap-around)");
	is_int(buf_append(&b, big, SIZE_MAX - 2), -1,
	    "len + n wrapping around SIZE_MAX fails");
	is_str(buf_str(&b), "abc", "content kept after the huge appends");
	buf_free(&b);
}

static void
test_binary(void)
{
	struct buf b;

	buf_init(&b, 16);
	is_int(buf_append(&b, "a\0b", 3), 0, "append bytes with a NUL");
	is_int(b.len, 3, "len counts the NUL");
	is_mem(b.data, "a\0b", 4, "bytes kept and followed by a NUL");
	is_int(buf_putc(&b, '\0'), 0, "putc of a NUL byte");
	is_int(b.len, 4, "len counts it");
	ok(b.data[4] == '\0', "still terminated");
	buf_free(&b);
}

static void
test_printf(void)
{
	struct buf	 b;
	char		 want[8000], *w;
	char		 s[5001];
	int		 i;

	buf_init(&b, 100000);
	w = want;
	for (i = 0; i < 1000; i++) {
		if (buf_printf(&b, "%05d,", i) == -1)
			break;
		w += sprintf(w, "%05d,", i);
	}
	is_int(i, 1000, "1000 printf appends succeed");
	is_int(b.len, 6000, "len after 1000 printfs");
	is_str(buf_str(&b), want, "printf content across reallocations");
	ok(b.cap > b.len, "capacity grew past len (room for the NUL)");
	buf_free(&b);

	memset(s, 'q', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	buf_init(&b, 100000);
	is_int(buf_printf(&b, "<%s>", s), 0, "one printf of 5002 bytes");
	is_int(b.len, 5002, "len of the big printf");
	ok(b.data[0] == '<' && b.data[5001] == '>' && b.data[5002] == '\0',
	    "big printf content and terminator");
	buf_free(&b);

	buf_init(&b, 8);
	is_int(buf_printf(&b, "%s-%d", "abc", 123), 0, "printf to exactly max");
	is_str(buf_str(&b), "abc-123", "printf content (7 bytes)");
	is_int(buf_printf(&b, "%d", 4), 0, "printf of the last byte");
	is_str(buf_str(&b), "abc-1234", "8 bytes, exactly max");
	ok(!b.overflow, "no overflow at max");
	is_int(buf_printf(&b, "%s", ""), 0, "printf of nothing at max");
	is_int(buf_printf(&b, "%d", 5), -1, "printf one past max fails");
	ok(b.overflow, "overflow after printf");
	is_str(buf_str(&b), "abc-1234", "content kept after the refused printf");
	buf_free(&b);

	buf_init(&b, 32);
	is_int(wrap_vprintf(&b, "%s=%u", "n", 42u), 0, "vprintf");
	is_str(buf_str(&b), "n=42", "vprintf content");
	is_int(wrap_vprintf(&b, "%040d", 0), -1, "vprintf past max fails");
	is_str(buf_str(&b), "n=42", "vprintf: content kept");
	buf_free(&b);
}

static void
test_reset_free(void)
{
	struct buf	 b;
	char		*before;

	buf_init(&b, 4);
	buf_puts(&b, "abcd");
	buf_putc(&b, 'e');
	ok(b.overflow, "overflow before reset");
	before = b.data;
	buf_reset(&b);
	is_int(b.len, 0, "reset: len 0");
	is_str(buf_str(&b), "", "reset: reads as \"\"");
	ok(!b.overflow, "reset clears overflow");
	ok(b.data == before, "reset keeps the memory");
	is_int(b.max, 4, "reset keeps max");
	is_int(buf_puts(&b, "wxyz"), 0, "after reset the whole max is usable");
	is_str(buf_str(&b), "wxyz", "content after reset");

	buf_free(&b);
	ok(b.data == NULL, "free releases the memory");
	is_int(b.len, 0, "free: len 0");
	is_int(b.max, 4, "free keeps max");
	ok(!b.overflow, "free clears overflow");
	is_int(buf_puts(&b, "1234"), 0, "the buffer is usable after free");
	is_int(buf_putc(&b, '5'), -1, "and still bounded by max");
	buf_free(&b);
	buf_free(&b);
	ok(b.data == NULL, "free twice is harmless");

	buf_init(&b, 4);
	buf_reset(&b);
	is_str(buf_str(&b), "", "reset of a never-used buffer");
	buf_free(&b);
}

int
main(void)
{
	test_empty();
	test_bounds();
	test_binary();
	test_printf();
	test_reset_free();
	return done_testing();
}
