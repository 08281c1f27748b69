/*
 * twiml: XML escaping and TwiML writer (see twiml.h).
 */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "twiml.h"

/* Length of the valid UTF-8 sequence at s, or 0 when it is not valid. */
static size_t
utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n, i;
	unsigned long cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF, U+FFFE/U+FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
	    cp == 0xfffe || cp == 0xffff)
		return 0;
	return n;
}

bool
utf8_valid(const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, k;

	while (i < n) {
		unsigned char c = p[i];

		/* The sequence's length from its lead byte, before reading on. */
		k = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 :
		    (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
		if (c == '\0' || k == 0 || k > n - i || utf8_len(p + i) != k)
			return false;
		i += k;
	}
	return true;
}

int
xml_escape(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int rc = 0;

	while (*p != '\0' && rc == 0) {
		size_t n;

		switch (*p) {
		case '&': rc = buf_puts(b, "&amp;"); p++; continue;
		case '<': rc = buf_puts(b, "&lt;"); p++; continue;
		case '>': rc = buf_puts(b, "&gt;"); p++; continue;
		case '"': rc = buf_puts(b, "&quot;"); p++; continue;
		case '\'': rc = buf_puts(b, "&apos;"); p++; continue;
		default: break;
		}
		if (*p < 0x20) {
			/* XML 1.0 allows only tab, newline and carriage return. */
			if (*p == '\t' || *p == '\n' || *p == '\r')
				rc = buf_putc(b, (char)*p);
			p++;
			continue;
		}
		if ((n = utf8_len(p)) == 0) {
			rc = buf_puts(b, "\xef\xbf\xbd");
			p++;
			continue;
		}
		rc = buf_append(b, p, n);
		p += n;
	}
	return rc;
}

void
twiml_begin(struct twiml *t)
{
	memset(t, 0, sizeof(*t));
	buf_init(&t->out, TWIML_MAX);
	if (buf_puts(&t->out,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>") == -1)
		t->failed = true;
}

static void
twiml_vstart(struct twiml *t, const char *name, va_list ap)
{
	const char *an, *av;

	if (buf_printf(&t->out, "<%s", name) == -1)
		t->failed = true;
	while ((an = va_arg(ap, const char *)) != NULL) {
		av = va_arg(ap, const char *);
		if (av == NULL || av[0] == '\0')
			continue;
		if (buf_printf(&t->out, " %s=\"", an) == -1 ||
		    xml_escape(&t->out, av) == -1 || buf_putc(&t->out, '"') == -1)
			t->failed = true;
	}
}

void
twiml_open(struct twiml *t, const char *name, ...)
{
	va_list ap;

	if (t->depth == TWIML_DEPTH_MAX) {
		t->failed = true;
		return;
	}
	va_start(ap, name);
	twiml_vstart(t, name, ap);
	va_end(ap);
	if (buf_putc(&t->out, '>') == -1)
		t->failed = true;
	t->open[t->depth++] = name;
}

void
twiml_elem(struct twiml *t, const char *name, const char *text, ...)
{
	va_list ap;

	va_start(ap, text);
	twiml_vstart(t, name, ap);
	va_end(ap);
	if (text == NULL) {
		if (buf_puts(&t->out, "/>") == -1)
			t->failed = true;
		return;
	}
	if (buf_putc(&t->out, '>') == -1 || xml_escape(&t->out, text) == -1 ||
	    buf_printf(&t->out, "</%s>", name) == -1)
		t->failed = true;
}

void
twiml_close(struct twiml *t)
{
	if (t->depth == 0) {
		t->failed = true;
		return;
	}
	t->depth--;
	if (buf_printf(&t->out, "</%s>", t->open[t->depth]) == -1)
		t->failed = true;
}

const char *
twiml_end(struct twiml *t, size_t *len)
{
	while (t->depth > 0)
		twiml_close(t);
	if (buf_puts(&t->out, "</Response>\n") == -1)
		t->failed = true;
	if (t->failed)
		return NULL;
	*len = t->out.len;
	return buf_str(&t->out);
}

void
twiml_free(struct twiml *t)
{
	buf_free(&t->out);
}
