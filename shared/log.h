/*
 * log: one line per event on stderr, with the "<N>" syslog priority prefix
 * that journald (SyslogLevelPrefix=) and most log collectors understand.
 *
 * A line about a call carries its tag ("session=<id>" or "call=<CallSid>"):
 * the webhook sets a per-thread tag for the request it serves, the relay
 * passes the tag explicitly.  Untrusted strings go through log_escape()
 * first; phone numbers through log_phone(), which keeps only the last four
 * digits unless the level is debug.
 */
#ifndef CALLBRIDGE_LOG_H
#define CALLBRIDGE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

#define LOG_TAG_MAX	96	/* longest per-thread tag kept */
#define LOG_LINE_MAX	2048	/* longer lines are cut, never split */

void	 log_init(const char *progname, int level);
void	 log_set_level(int level);
int	 log_get_level(void);
bool	 log_level_from_string(const char *, int *);
void	 log_set_tag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 log_clear_tag(void);

void	 log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void	 log_vmsg(int prio, const char *fmt, va_list) __attribute__((format(printf, 2, 0)));
void	 log_call(int prio, const char *tag, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * Escape an untrusted string for a log line: printable ASCII is kept, a
 * backslash is doubled, everything else becomes \xHH, and the result is
 * cut at size - 1 with "..." when it does not fit, never inside an escape
 * (below 4 bytes there is no room for the dots).  Returns dst.
 */
char	*log_escape(char *dst, size_t size, const char *src);

/*
 * A phone number for a log line: all but a leading '+' and the last four
 * characters masked ("+*******0100") at the default levels, the whole
 * (escaped) value at debug level.  Returns dst.
 */
char	*log_phone(char *dst, size_t size, const char *number);

#endif
