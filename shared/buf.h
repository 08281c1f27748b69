/*
 * buf: a growable byte buffer with a hard upper bound.
 *
 * Every buffer that grows with input has a named maximum (the "max" field);
 * an append that would pass it fails, sets overflow and leaves the content
 * as it was, so callers handle "too big" as one ordinary case.  The buffer
 * is always NUL-terminated so that it can be used as a C string.
 */
#ifndef CALLBRIDGE_BUF_H
#define CALLBRIDGE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char	*data;		/* NUL-terminated; NULL until the first append */
	size_t	 len;
	size_t	 cap;
	size_t	 max;		/* most bytes the buffer may hold (without the NUL) */
	bool	 overflow;	/* an append was refused because of max */
};

void	 buf_init(struct buf *, size_t max);
void	 buf_free(struct buf *);
void	 buf_reset(struct buf *);
int	 buf_append(struct buf *, const void *, size_t);
int	 buf_puts(struct buf *, const char *);
int	 buf_putc(struct buf *, char);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 buf_vprintf(struct buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
const char *buf_str(const struct buf *);

#endif
