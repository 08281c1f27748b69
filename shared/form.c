/*
 * form: parse x-www-form-urlencoded bodies (see form.h).
 *
 * Decoding never grows a string, so one block the size of the input holds
 * every decoded name and value: one allocation for the strings and one for
 * the pair array, whatever the number of fields.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "form.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode src[0..n) into dst; returns false on a malformed escape or NUL. */
static bool
decode(char *dst, const char *src, size_t n, const char **why)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = src[i];

		if (c == '+')
			c = ' ';
		else if (c == '%') {
			int hi, lo;

			if (n - i < 3 || (hi = hexval(src[i + 1])) < 0 ||
			    (lo = hexval(src[i + 2])) < 0) {
				*why = "malformed percent escape";
				return false;
			}
			c = (char)(hi << 4 | lo);
			i += 2;
			if (c == '\0') {
				*why = "escaped NUL byte";
				return false;
			}
		} else if (c == '\0') {
			*why = "NUL byte in form data";
			return false;
		}
		*dst++ = c;
	}
	*dst = '\0';
	return true;
}

bool
form_parse(struct form *f, const char *body, size_t len, size_t max_pairs,
    const char **why)
{
	size_t	 i, start, npairs = 0;
	char	*out;

	memset(f, 0, sizeof(*f));
	/* Upper bound on pairs: one more than the number of '&'. */
	for (i = 0; i < len; i++)
		if (body[i] == '&')
			npairs++;
	npairs++;
	if (npairs > max_pairs)
		npairs = max_pairs + 1;	/* enough to notice "too many" */
	/* Each pair needs at most its bytes plus two NULs. */
	f->storage = malloc(len + 2 * npairs + 1);
	f->pairs = calloc(npairs, sizeof(*f->pairs));
	if (f->storage == NULL || f->pairs == NULL) {
		*why = "out of memory";
		goto fail;
	}
	out = f->storage;
	for (start = 0; start <= len; ) {
		size_t	 end, eq;

		for (end = start; end < len && body[end] != '&'; end++)
			;
		if (end == start) {
			start = end + 1;
			continue;
		}
		for (eq = start; eq < end && body[eq] != '='; eq++)
			;
		if (eq == start) {
			*why = "field with an empty name";
			goto fail;
		}
		if (f->n == max_pairs) {
			*why = "too many fields";
			goto fail;
		}
		f->pairs[f->n].name = out;
		if (!decode(out, body + start, eq - start, why))
			goto fail;
		out += strlen(out) + 1;
		f->pairs[f->n].value = out;
		if (eq < end) {
			if (!decode(out, body + eq + 1, end - eq - 1, why))
				goto fail;
		} else
			*out = '\0';
		out += strlen(out) + 1;
		f->n++;
		start = end + 1;
	}
	return true;
fail:
	form_free(f);
	return false;
}

void
form_free(struct form *f)
{
	free(f->storage);
	free(f->pairs);
	memset(f, 0, sizeof(*f));
}

const char *
form_get(const struct form *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->pairs[i].name, name) == 0)
			return f->pairs[i].value;
	return NULL;
}
