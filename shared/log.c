/*
 * log: leveled logging to stderr with syslog priority prefixes (see log.h).
 *
 * Each line is written with a single write(2) so that lines from several
 * threads never interleave.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

static const char	*log_progname = "callbridge";
static int		 log_level = LOG_INFO;
static __thread char	 log_tag[LOG_TAG_MAX];

void
log_init(const char *progname, int level)
{
	log_progname = progname;
	log_level = level;
}

void
log_set_level(int level)
{
	log_level = level;
}

int
log_get_level(void)
{
	return log_level;
}

bool
log_level_from_string(const char *s, int *level)
{
	static const struct { const char *name; int level; } names[] = {
		{ "error", LOG_ERR }, { "warning", LOG_WARNING },
		{ "notice", LOG_NOTICE }, { "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*level = names[i].level;
			return true;
		}
	}
	return false;
}

void
log_set_tag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(log_tag, sizeof(log_tag), fmt, ap);
	va_end(ap);
}

void
log_clear_tag(void)
{
	log_tag[0] = '\0';
}

static void
log_write(int prio, const char *tag, const char *fmt, va_list ap)
{
	char	 line[LOG_LINE_MAX];
	int	 n, m;
	size_t	 len;
	int	 saved = errno;

	if (prio > log_level)
		return;
	n = snprintf(line, sizeof(line), "<%d>%s: ", prio, log_progname);
	if (n < 0)
		return;
	len = (size_t)n;
	if (tag != NULL && tag[0] != '\0' && len < sizeof(line)) {
		m = snprintf(line + len, sizeof(line) - len, "[%s] ", tag);
		if (m > 0)
			len += (size_t)m;
	}
	if (len < sizeof(line)) {
		m = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
		if (m > 0)
			len += (size_t)m;
	}
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line; a short write to stderr is not worth a retry. */
	if (write(STDERR_FILENO, line, len) < 0)
		(void)0;
	errno = saved;
}

void
log_vmsg(int prio, const char *fmt, va_list ap)
{
	log_write(prio, log_tag, fmt, ap);
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(prio, log_tag, fmt, ap);
	va_end(ap);
}

void
log_call(int prio, const char *tag, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(prio, tag, fmt, ap);
	va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_CRIT, log_tag, fmt, ap);
	va_end(ap);
	exit(1);
}

char *
log_escape(char *dst, size_t size, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t	 o = 0, keep = 0;
	unsigned char c;

	if (size == 0)
		return dst;
	if (src == NULL)
		src = "(null)";
	for (; (c = (unsigned char)*src) != '\0'; src++) {
		size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 :
		    (c == '\\' ? 2 : 4);
		if (o + need + 1 > size) {
			/*
			 * Cut after the last whole escape that leaves room
			 * for "...": half an escape would read as something
			 * else.  Below four bytes there is no room for it.
			 */
			if (size >= 4) {
				o = keep;
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 1)
			dst[o++] = (char)c;
		else if (need == 2) {
			dst[o++] = '\\';
			dst[o++] = '\\';
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 0xf];
		}
		if (o + 4 <= size)
			keep = o;
	}
	dst[o] = '\0';
	return dst;
}

char *
log_phone(char *dst, size_t size, const char *number)
{
	char	 esc[128];
	size_t	 n, i, keep = 4;

	log_escape(esc, sizeof(esc), number);
	if (log_level >= LOG_DEBUG) {
		snprintf(dst, size, "%s", esc);
		return dst;
	}
	n = strlen(esc);
	if (size == 0)
		return dst;
	for (i = 0; i < n && i + 1 < size; i++) {
		/* Keep a leading '+' and the last four characters. */
		if (i + keep >= n || (i == 0 && esc[i] == '+'))
			dst[i] = esc[i];
		else
			dst[i] = '*';
	}
	dst[i] = '\0';
	return dst;
}
