/*
 * form: application/x-www-form-urlencoded parsing.
 *
 * "a=1&b=x+y&a=%2B1" becomes the pairs (a,1) (b,"x y") (a,"+1") in their
 * order on the wire.  '+' is a space; "%HH" is a byte; a '%' not followed
 * by two hex digits, an escaped NUL, an empty name or more pairs than the
 * limit is an error, never a crash.  Empty segments ("a=1&&b=2") are
 * skipped as browsers and the Twilio SDKs do.
 */
#ifndef CALLBRIDGE_FORM_H
#define CALLBRIDGE_FORM_H

#include <stdbool.h>
#include <stddef.h>

struct form_pair {
	char	*name;
	char	*value;
};

struct form {
	struct form_pair	*pairs;
	size_t			 n;
	char			*storage;	/* one block holding every string */
};

/*
 * Parse len bytes of body into f, keeping at most max_pairs pairs.  On
 * failure returns false with a static reason in *why and f empty.
 */
bool		 form_parse(struct form *f, const char *body, size_t len,
		    size_t max_pairs, const char **why);
void		 form_free(struct form *f);
/* First value of name, or NULL. */
const char	*form_get(const struct form *f, const char *name);

#endif
