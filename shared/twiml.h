/*
 * twiml: XML escaping and a small writer for TwiML documents.
 *
 * Every text and attribute value goes through xml_escape(), which escapes
 * & < > " ', drops the control characters XML 1.0 cannot carry and
 * replaces invalid UTF-8 with U+FFFD, so whatever an operator put in the
 * database or a caller put in a form field, the document stays well-formed
 * (Twilio answers a malformed one with error 12100 and its own message).
 */
#ifndef CALLBRIDGE_TWIML_H
#define CALLBRIDGE_TWIML_H

#include <stdbool.h>

#include "buf.h"

#define TWIML_MAX	(64 * 1024)	/* largest document we produce */
#define TWIML_DEPTH_MAX	8		/* deepest nesting of open elements */

/* True when s[0, n) is valid UTF-8 without NUL bytes. */
bool	 utf8_valid(const char *s, size_t n);
/* Append s to b, escaped for XML text and attribute values. */
int	 xml_escape(struct buf *b, const char *s);

struct twiml {
	struct buf	 out;
	const char	*open[TWIML_DEPTH_MAX];
	int		 depth;
	bool		 failed;	/* an append failed; the document is unusable */
};

/* Start a document: the XML declaration and <Response>. */
void	 twiml_begin(struct twiml *);
/*
 * Open element name with attributes given as name, value pairs ended by
 * NULL; a pair whose value is NULL or "" is left out.
 */
void	 twiml_open(struct twiml *, const char *name, ...)
	    __attribute__((sentinel));
/* An element with text content (text may be NULL for an empty element). */
void	 twiml_elem(struct twiml *, const char *name, const char *text, ...)
	    __attribute__((sentinel));
void	 twiml_close(struct twiml *);
/* Close everything and </Response>; returns the document or NULL. */
const char *twiml_end(struct twiml *, size_t *len);
void	 twiml_free(struct twiml *);

#endif
