/*
 * tap.h: a minimal TAP producer for the unit tests (header only).
 *
 * ok, is_str, is_int, like/unlike (substring), is_mem (bytes), skip and
 * diag; done_testing prints the plan last, which TAP allows.
 */
#ifndef CALLBRIDGE_TAP_H
#define CALLBRIDGE_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int
tap_ok(int cond, const char *file, int line, const char *desc)
{
	tap_n++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, desc);
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, desc)	tap_ok(!!(cond), __FILE__, __LINE__, (desc))

#define is_str(got, want, desc) do {					\
	const char *g_ = (got), *w_ = (want);				\
	if (!tap_ok(g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0,	\
	    __FILE__, __LINE__, (desc)))					\
		printf("#   got:  \"%s\"\n#   want: \"%s\"\n",		\
		    g_ ? g_ : "(null)", w_ ? w_ : "(null)");		\
} while (0)

#define is_int(got, want, desc) do {					\
	long long g_ = (long long)(got), w_ = (long long)(want);	\
	if (!tap_ok(g_ == w_, __FILE__, __LINE__, (desc)))		\
		printf("#   got:  %lld\n#   want: %lld\n", g_, w_);	\
} while (0)

/* got contains (like) or does not contain (unlike) the substring want. */
#define like(got, want, desc) do {					\
	const char *g_ = (got), *w_ = (want);				\
	if (!tap_ok(g_ != NULL && strstr(g_, w_) != NULL,		\
	    __FILE__, __LINE__, (desc)))					\
		printf("#   got:  \"%s\"\n#   want a substring: \"%s\"\n", \
		    g_ ? g_ : "(null)", w_);				\
} while (0)

#define unlike(got, want, desc) do {					\
	const char *g_ = (got), *w_ = (want);				\
	if (!tap_ok(g_ != NULL && strstr(g_, w_) == NULL,		\
	    __FILE__, __LINE__, (desc)))					\
		printf("#   got:  \"%s\"\n#   unwanted: \"%s\"\n",	\
		    g_ ? g_ : "(null)", w_);				\
} while (0)

/* got and want hold the same n bytes (which need not be a C string). */
#define is_mem(got, want, n, desc) do {					\
	const void *g_ = (got), *w_ = (want);				\
	size_t n_ = (n);						\
	if (!tap_ok(g_ != NULL && memcmp(g_, w_, n_) == 0,		\
	    __FILE__, __LINE__, (desc)))					\
		printf("#   the %zu bytes differ\n", n_);		\
} while (0)

static inline void
diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void
diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Count one test as skipped, with the reason. */
static inline void
skip(const char *why)
{
	tap_n++;
	printf("ok %d # SKIP %s\n", tap_n, why);
	fflush(stdout);
}

static inline int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed == 0 ? 0 : 1;
}

#endif
