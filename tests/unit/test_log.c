/*
 * test_log: log_escape (printable ASCII kept, backslash doubled, control
 * and high bytes as \xHH, NULL as "(null)", truncation with "..." that
 * never writes past dst and never cuts an escape in half, for every size
 * from 0 to 10 and beyond), log_phone (masked but for a leading '+' and
 * the last four characters below debug level, whole at debug level),
 * log_level_from_string, and the line format on stderr (captured in a
 * temporary file): "<N>prog: [tag] message", levels above the current
 * one dropped, per-thread tags, long lines cut to one line, fatalx.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

/* ------------------------------------------------------------ log_escape */

/* The escape of one byte, as log.h describes it. */
static size_t
unit(unsigned char c, char out[5])
{
	if (c == '\\')
		return (size_t)snprintf(out, 5, "\\\\");
	if (c >= 0x20 && c < 0x7f)
		return (size_t)snprintf(out, 5, "%c", c);
	return (size_t)snprintf(out, 5, "\\x%02x", c);
}

/*
 * Check log_escape(dst, size, src) against the full escape: no byte
 * written past size, NUL-terminated, the whole escape when it fits,
 * otherwise a prefix made of whole escapes followed by "..." (when
 * size >= 4).
 */
static void
escape_bounds(const char *src, size_t size)
{
	char		 full[1024], u[5], area[64], d[1200];
	size_t		 flen = 0, i, n, plen, cut;
	bool		 aligned = false, fine;
	const char	*p;

	for (p = src; *p != '\0'; p++)
		flen += unit((unsigned char)*p, full + flen);
	full[flen] = '\0';

	memset(area, 0x55, sizeof(area));
	log_escape(area, size, src);
	for (fine = true, i = size; i < sizeof(area); i++)
		if ((unsigned char)area[i] != 0x55)
			fine = false;
	snprintf(d, sizeof(d), "escape \"%s\" size %zu: nothing past dst",
	    full, size);
	ok(fine, d);
	if (size == 0)
		return;
	n = strnlen(area, size);
	snprintf(d, sizeof(d), "escape \"%s\" size %zu: terminated within size",
	    full, size);
	ok(n < size, d);
	if (n >= size)
		return;
	if (flen < size) {
		snprintf(d, sizeof(d), "escape \"%s\" size %zu: whole", full, size);
		is_str(area, full, d);
		return;
	}
	/* Truncated: a prefix of whole escapes, then "..." when it fits. */
	plen = n;
	if (size >= 4) {
		snprintf(d, sizeof(d), "escape \"%s\" size %zu: ends in \"...\"",
		    full, size);
		ok(n >= 3 && strcmp(area + n - 3, "...") == 0, d);
		plen = n >= 3 ? n - 3 : 0;
	}
	for (cut = 0, p = src; cut < plen && *p != '\0'; p++)
		cut += unit((unsigned char)*p, u);
	aligned = cut == plen;
	snprintf(d, sizeof(d), "escape \"%s\" size %zu: kept part \"%.*s\" is "
	    "whole escapes of the input", full, size, (int)plen, area);
	ok(aligned && strncmp(area, full, plen) == 0, d);
}

static const char *
esc(const char *s)
{
	static char out[256];

	return log_escape(out, sizeof(out), s);
}

static void
test_escape(void)
{
	static const char *inputs[] = {
		"abcdefghijklmnop",
		"\x01\x02\x03\x04",
		"a\\b\\c\\d\\",
		"\xc3\xa9t\xc3\xa9 \xe2\x82\xac",
		"ab\ncd\tef\x7fgh",
		"",
		"x",
	};
	char	 small[8];
	size_t	 i, size;

	is_str(esc("Hello, world! ~{}[]"), "Hello, world! ~{}[]",
	    "printable ASCII kept");
	is_str(esc(""), "", "empty string");
	is_str(esc("a\\b"), "a\\\\b", "backslash doubled");
	is_str(esc("\\x41"), "\\\\x41", "an escape-looking input stays literal");
	is_str(esc("a\nb"), "a\\x0ab", "newline escaped");
	is_str(esc("\r\t\x1b[31m"), "\\x0d\\x09\\x1b[31m",
	    "CR, tab, ANSI escape");
	is_str(esc("\x01\x1f\x7f\x80\xff"), "\\x01\\x1f\\x7f\\x80\\xff",
	    "control, DEL and high bytes");
	is_str(esc("caf\xc3\xa9"), "caf\\xc3\\xa9", "UTF-8 bytes escaped");
	is_str(esc(NULL), "(null)", "NULL reads as (null)");
	is_str(log_escape(small, sizeof(small), "1234567"), "1234567",
	    "exactly size - 1 characters fit");
	is_str(log_escape(small, sizeof(small), "12345678"), "1234...",
	    "one more is cut with \"...\"");
	is_str(log_escape(small, sizeof(small), "\\\\\\\\"), "\\\\\\\\...",
	    "four backslashes in 8 bytes: two whole escapes and \"...\"");

	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
		for (size = 0; size <= 10; size++)
			escape_bounds(inputs[i], size);
	for (size = 11; size <= 40; size += 3)
		escape_bounds("\x01\\\x02z\xff\\\\y\x80\x81\x82 tail", size);

	is_str(log_escape(small, 4, "abcdef"), "...", "size 4: only \"...\"");
	is_str(log_escape(small, 5, "abcdef"), "a...", "size 5");
	is_str(log_escape(small, 7, "abcdef"), "abcdef", "size 7: fits");
	is_str(log_escape(small, 6, "abcdef"), "ab...", "size 6");
	is_str(log_escape(small, 8, "\x01\x02"), "\\x01...",
	    "size 8: one whole escape and \"...\"");
	is_str(log_escape(small, 7, "\x01\x02"), "...",
	    "size 7: an escape is never cut in half");
	is_str(log_escape(small, 6, "a\\bcdef"), "a...",
	    "size 6: a doubled backslash is never cut in half");
	is_str(log_escape(small, 3, "abcdef"), "ab",
	    "size 3: no room for \"...\", what fits is kept");
	is_str(log_escape(small, 3, "\x01"), "",
	    "size 3: no room for an escape");
	is_str(log_escape(small, 1, "abc"), "", "size 1 gives \"\"");
}

/* ------------------------------------------------------------ log_phone */

static const char *
phone(const char *s)
{
	static char out[128];

	return log_phone(out, sizeof(out), s);
}

static void
test_phone(void)
{
	char	 small[8];

	log_init("test_log", LOG_INFO);
	is_str(phone("+14155550100"), "+*******0100",
	    "info: E.164 keeps + and the last four");
	is_str(phone("+442079460958"), "+********0958", "info: a UK number");
	is_str(phone("14155550100"), "*******0100", "info: without +");
	is_str(phone("anonymous"), "*****mous", "info: a word");
	is_str(phone("client:alice"), "********lice", "info: a client id");
	is_str(phone("+123"), "+123", "info: four characters or fewer");
	is_str(phone("12345"), "*2345", "info: five characters");
	is_str(phone(""), "", "info: empty");
	is_str(phone(NULL), "**ull)", "info: NULL is masked \"(null)\"");
	is_str(phone("+1415555\n0100"), "+***********0100",
	    "info: a control character is escaped, then masked");
	is_str(log_phone(small, sizeof(small), "+14155550100"), "+******",
	    "info: a small dst gets a masked prefix, no digits");
	memset(small, 'Z', sizeof(small));
	log_phone(small, 0, "+14155550100");
	ok(small[0] == 'Z', "info: size 0 writes nothing");

	log_set_level(LOG_NOTICE);
	is_str(phone("+14155550100"), "+*******0100", "notice: masked");
	log_set_level(LOG_DEBUG);
	is_str(phone("+14155550100"), "+14155550100", "debug: whole number");
	is_str(phone("+1415555\n0100"), "+1415555\\x0a0100",
	    "debug: whole but escaped");
	is_str(log_phone(small, sizeof(small), "+14155550100"), "+141555",
	    "debug: cut to the buffer");
	log_set_level(LOG_INFO);
}

/* ------------------------------------------------------------ lines */

static int	 saved_stderr = -1;
static char	 cap_path[] = "/tmp/test_log.XXXXXX";

static void
capture_begin(void)
{
	int fd;

	fflush(stderr);
	if ((fd = mkstemp(cap_path)) == -1 ||
	    (saved_stderr = dup(STDERR_FILENO)) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1) {
		perror("capture");
		exit(1);
	}
	close(fd);
}

/* Restore stderr and return what was written meanwhile. */
static const char *
capture_end(void)
{
	static char	 got[8192];
	FILE		*fp;
	size_t		 n;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	fp = fopen(cap_path, "r");
	n = fp != NULL ? fread(got, 1, sizeof(got) - 1, fp) : 0;
	got[n] = '\0';
	if (fp != NULL)
		fclose(fp);
	unlink(cap_path);
	strcpy(cap_path, "/tmp/test_log.XXXXXX");
	return got;
}

static void *
thread_main(void *arg)
{
	(void)arg;
	log_info("thread before tag");
	log_set_tag("session=thread");
	log_info("thread after tag");
	return NULL;
}

static void
test_lines(void)
{
	const char	*got;
	char		 longmsg[5000], tag[200];
	pthread_t	 th;
	pid_t		 pid;
	int		 status, e;
	size_t		 i, nl;

	log_init("prog", LOG_INFO);
	is_int(log_get_level(), LOG_INFO, "log_get_level after log_init");

	capture_begin();
	log_set_tag("session=%s", "abc");
	log_info("hello %d", 42);
	log_debug("not shown");
	log_clear_tag();
	log_info("untagged");
	log_err("an error");
	log_warn("a warning");
	log_notice("a notice");
	log_call(LOG_WARNING, "call=CA1", "explicit %s", "tag");
	log_call(LOG_INFO, NULL, "no tag");
	log_call(LOG_INFO, "", "empty tag");
	log_call(LOG_DEBUG, "call=CA1", "debug dropped");
	got = capture_end();
	is_str(got,
	    "<6>prog: [session=abc] hello 42\n"
	    "<6>prog: untagged\n"
	    "<3>prog: an error\n"
	    "<4>prog: a warning\n"
	    "<5>prog: a notice\n"
	    "<4>prog: [call=CA1] explicit tag\n"
	    "<6>prog: no tag\n"
	    "<6>prog: empty tag\n",
	    "line format at info level; debug dropped");

	capture_begin();
	log_set_level(LOG_WARNING);
	log_info("dropped info");
	log_notice("dropped notice");
	log_warn("kept warning");
	log_err("kept error");
	log_set_level(LOG_ERR);
	log_warn("dropped warning");
	log_err("kept error 2");
	log_set_level(LOG_DEBUG);
	log_debug("kept debug");
	got = capture_end();
	is_str(got, "<4>prog: kept warning\n<3>prog: kept error\n"
	    "<3>prog: kept error 2\n<7>prog: kept debug\n",
	    "messages above the level are dropped");
	log_set_level(LOG_INFO);

	/* A long message: one line, cut, ending in a newline. */
	memset(longmsg, 'm', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	capture_begin();
	log_info("%s", longmsg);
	log_info("after");
	got = capture_end();
	for (nl = 0, i = 0; got[i] != '\0'; i++)
		if (got[i] == '\n')
			nl++;
	is_int(nl, 2, "a long message is one line (two lines in all)");
	ok(strchr(got, '\n') != NULL &&
	    (size_t)(strchr(got, '\n') - got) + 1 <= LOG_LINE_MAX,
	    "the long line is at most LOG_LINE_MAX bytes");
	ok(strncmp(got, "<6>prog: mmm", 12) == 0, "it starts with the prefix");
	like(got, "m\n<6>prog: after\n", "the next line follows intact");

	/* A tag longer than LOG_TAG_MAX is cut, not overflowed. */
	memset(tag, 't', sizeof(tag) - 1);
	tag[sizeof(tag) - 1] = '\0';
	capture_begin();
	log_set_tag("%s", tag);
	log_info("x");
	log_clear_tag();
	got = capture_end();
	is_int(strlen(got), strlen("<6>prog: [] x\n") + LOG_TAG_MAX - 1,
	    "a long tag is cut to LOG_TAG_MAX - 1 characters");

	/* The tag is per thread. */
	capture_begin();
	log_set_tag("session=main");
	pthread_create(&th, NULL, thread_main, NULL);
	pthread_join(th, NULL);
	log_info("main");
	log_clear_tag();
	got = capture_end();
	is_str(got, "<6>prog: thread before tag\n"
	    "<6>prog: [session=thread] thread after tag\n"
	    "<6>prog: [session=main] main\n", "tags are per thread");

	/* errno survives logging. */
	capture_begin();
	errno = EINTR;
	log_info("keeps errno");
	e = errno;
	capture_end();
	is_int(e, EINTR, "errno is preserved");

	/* fatalx logs at LOG_CRIT and exits 1. */
	capture_begin();
	fflush(stdout);
	if ((pid = fork()) == 0)
		fatalx("cannot go on: %s", "reason");
	status = -1;
	waitpid(pid, &status, 0);
	got = capture_end();
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 1, "fatalx exits 1");
	is_str(got, "<2>prog: cannot go on: reason\n", "fatalx line");
}

static void
test_levels(void)
{
	static const struct { const char *s; int level; } names[] = {
		{ "error", LOG_ERR }, { "warning", LOG_WARNING },
		{ "notice", LOG_NOTICE }, { "info", LOG_INFO },
		{ "debug", LOG_DEBUG }, { "DEBUG", LOG_DEBUG },
		{ "Info", LOG_INFO },
	};
	static const char *bad[] = { "", "warn", "err", "verbose", "7",
	    "info ", " info", "debug2" };
	char	 d[64];
	size_t	 i;
	int	 level;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		level = -1;
		snprintf(d, sizeof(d), "level \"%s\"", names[i].s);
		ok(log_level_from_string(names[i].s, &level) &&
		    level == names[i].level, d);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		level = -1;
		snprintf(d, sizeof(d), "level \"%s\" refused", bad[i]);
		ok(!log_level_from_string(bad[i], &level) && level == -1, d);
	}
}

int
main(void)
{
	test_escape();
	test_phone();
	test_levels();
	test_lines();
	return done_testing();
}
