/*
 * test_twiml: xml_escape and the TwiML writer.  The five XML specials are
 * escaped; control characters other than tab, newline and CR are dropped;
 * invalid UTF-8 (lone continuation bytes, overlong forms, surrogates,
 * code points past U+10FFFF, truncated sequences, U+FFFE/U+FFFF) becomes
 * U+FFFD while valid multi-byte characters pass through; attributes whose
 * value is NULL or "" are left out; elements nest and twiml_end closes
 * what is open; more than TWIML_DEPTH_MAX open elements, a stray close or
 * a document past TWIML_MAX make twiml_end return NULL.  Documents are
 * also checked with xmllint when it is installed (skipped otherwise).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "twiml.h"

#define DECL	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define FFFD	"\xef\xbf\xbd"

static bool have_xmllint;

/* A strict UTF-8 check written independently of twiml.c. */
static bool
is_valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		unsigned long	 cp;
		int		 n, i;

		if (*p < 0x80) {
			p++;
			continue;
		} else if ((*p & 0xe0) == 0xc0) {
			n = 1;
			cp = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 2;
			cp = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			n = 3;
			cp = *p & 0x07;
		} else
			return false;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

static const char *
esc(const char *s)
{
	static struct buf b;

	buf_free(&b);
	buf_init(&b, 4096);
	if (xml_escape(&b, s) == -1)
		return "(xml_escape failed)";
	return buf_str(&b);
}

static void
xmllint_ok(const char *doc, const char *desc)
{
	char	 path[] = "/tmp/test_twiml.XXXXXX", cmd[256];
	int	 fd;
	size_t	 n = strlen(doc);

	if (!have_xmllint) {
		skip("xmllint is not installed");
		return;
	}
	if ((fd = mkstemp(path)) == -1 || write(fd, doc, n) != (ssize_t)n) {
		ok(0, "write a temporary file for xmllint");
		if (fd != -1)
			close(fd);
		return;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "xmllint --noout '%s' >/dev/null 2>&1",
	    path);
	ok(system(cmd) == 0, desc);
	unlink(path);
}

static void
test_escape(void)
{
	struct buf	 b;
	char		 d[64];
	int		 c;

	is_str(esc(""), "", "empty string");
	is_str(esc("plain text 123"), "plain text 123", "plain text unchanged");
	is_str(esc("&"), "&amp;", "&");
	is_str(esc("<"), "&lt;", "<");
	is_str(esc(">"), "&gt;", ">");
	is_str(esc("\""), "&quot;", "\"");
	is_str(esc("'"), "&apos;", "'");
	is_str(esc("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&apos;f",
	    "all five specials in one string");
	is_str(esc("&amp;"), "&amp;amp;", "an entity is escaped again");
	is_str(esc("]]>"), "]]&gt;", "]]> cannot end a CDATA section by accident");

	is_str(esc("a\tb\nc\rd"), "a\tb\nc\rd", "tab, newline and CR kept");
	for (c = 1; c < 0x20; c++) {
		char in[4] = { 'x', (char)c, 'y', '\0' };

		if (c == '\t' || c == '\n' || c == '\r')
			continue;
		snprintf(d, sizeof(d), "control 0x%02x dropped", c);
		is_str(esc(in), "xy", d);
	}
	is_str(esc("\x7f"), "\x7f", "DEL is a legal XML character, kept");

	is_str(esc("caf\xc3\xa9"), "caf\xc3\xa9", "2-byte UTF-8 kept");
	is_str(esc("\xe2\x82\xac"), "\xe2\x82\xac", "3-byte UTF-8 (euro) kept");
	is_str(esc("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80",
	    "4-byte UTF-8 (emoji) kept");
	is_str(esc("\xc2\x80"), "\xc2\x80", "U+0080, smallest 2-byte, kept");
	is_str(esc("\xe0\xa0\x80"), "\xe0\xa0\x80", "U+0800 kept");
	is_str(esc("\xed\x9f\xbf"), "\xed\x9f\xbf", "U+D7FF kept");
	is_str(esc("\xee\x80\x80"), "\xee\x80\x80", "U+E000 kept");
	is_str(esc("\xef\xbf\xbd"), "\xef\xbf\xbd", "U+FFFD itself kept");
	is_str(esc("\xf0\x90\x80\x80"), "\xf0\x90\x80\x80", "U+10000 kept");
	is_str(esc("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf", "U+10FFFF kept");
	is_str(esc("\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"),
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", "Cyrillic kept");

	is_str(esc("a\x80z"), "a" FFFD "z", "lone continuation byte");
	is_str(esc("\xbf"), FFFD, "lone 0xbf");
	is_str(esc("\xfe\xff"), FFFD FFFD, "0xfe 0xff are never UTF-8");
	is_str(esc("\xf5\x80\x80\x80"), FFFD FFFD FFFD FFFD, "0xf5 lead byte");

	static const struct { const char *in, *what; } invalid[] = {
		{ "a\xc0\x80z", "overlong NUL C0 80" },
		{ "a\xc1\xbfz", "overlong C1 BF" },
		{ "a\xe0\x80\xafz", "overlong 3-byte '/' E0 80 AF" },
		{ "a\xf0\x80\x80\xafz", "overlong 4-byte F0 80 80 AF" },
		{ "a\xed\xa0\x80z", "surrogate U+D800 ED A0 80" },
		{ "a\xed\xbf\xbfz", "surrogate U+DFFF ED BF BF" },
		{ "a\xf4\x90\x80\x80z", "U+110000 F4 90 80 80" },
		{ "a\xf7\xbf\xbf\xbfz", "F7 BF BF BF" },
		{ "a\xe2\x82z", "truncated 3-byte sequence" },
		{ "a\xf0\x9f\x98z", "truncated 4-byte sequence" },
		{ "a\xc3z", "lead byte without continuation" },
		{ "a\xef\xbf\xbez", "U+FFFE" },
		{ "a\xef\xbf\xbfz", "U+FFFF" },
	};
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		const char *out = esc(invalid[i].in);

		snprintf(d, sizeof(d), "%s: U+FFFD in its place", invalid[i].what);
		ok(strncmp(out, "a" FFFD, 4) == 0 && strstr(out, FFFD) != NULL &&
		    out[strlen(out) - 1] == 'z', d);
		snprintf(d, sizeof(d), "%s: output is valid UTF-8", invalid[i].what);
		ok(is_valid_utf8(out), d);
		snprintf(d, sizeof(d), "%s: only U+FFFD between a and z",
		    invalid[i].what);
		ok((strlen(out) - 2) % 3 == 0 && strlen(out) > 2 &&
		    strspn(out + 1, FFFD) == strlen(out) - 2, d);
	}
	is_str(esc("\xe2\x82"), FFFD FFFD, "truncated sequence at the very end");
	is_str(esc("ok\xc3\xa9\x80\xc3\xa9"), "ok\xc3\xa9" FFFD "\xc3\xa9",
	    "a stray byte between valid characters");
	is_str(esc("\x01<\xc0>"), "&lt;" FFFD "&gt;",
	    "control, special and invalid byte together");

	buf_init(&b, 8);
	is_int(xml_escape(&b, "abc&"), 0, "xml_escape to exactly max");
	is_str(buf_str(&b), "abc&amp;", "8 bytes");
	is_int(xml_escape(&b, "x"), -1, "xml_escape past max fails");
	ok(b.overflow, "and sets overflow");
	buf_free(&b);
	buf_init(&b, 4);
	is_int(xml_escape(&b, "&"), -1, "an entity that does not fit fails");
	buf_free(&b);
}

static void
test_writer(void)
{
	struct twiml	 t;
	const char	*doc;
	size_t		 len = 0;

	twiml_begin(&t);
	doc = twiml_end(&t, &len);
	is_str(doc, DECL "<Response></Response>\n", "empty document");
	is_int(len, strlen(DECL "<Response></Response>\n"), "len of it");
	twiml_free(&t);

	twiml_begin(&t);
	twiml_elem(&t, "Say", "Hello & <welcome>", "voice", "Polly.Joanna",
	    "language", "en-US", NULL);
	twiml_elem(&t, "Hangup", NULL, NULL);
	doc = twiml_end(&t, &len);
	is_str(doc, DECL "<Response><Say voice=\"Polly.Joanna\" "
	    "language=\"en-US\">Hello &amp; &lt;welcome&gt;</Say><Hangup/>"
	    "</Response>\n", "Say with attributes, then Hangup");
	is_int(len, strlen(doc != NULL ? doc : ""), "len matches");
	xmllint_ok(doc, "xmllint: Say and Hangup");
	twiml_free(&t);

	twiml_begin(&t);
	twiml_elem(&t, "Say", "x", "voice", NULL, "language", "", "loop", "2",
	    NULL);
	twiml_elem(&t, "Pause", NULL, "length", "", NULL);
	doc = twiml_end(&t, &len);
	is_str(doc, DECL "<Response><Say loop=\"2\">x</Say><Pause/>"
	    "</Response>\n", "attributes with NULL or \"\" values left out");
	twiml_free(&t);

	twiml_begin(&t);
	twiml_elem(&t, "Say", "", NULL);
	doc = twiml_end(&t, &len);
	is_str(doc, DECL "<Response><Say></Say></Response>\n",
	    "empty text gives an open and a close tag");
	twiml_free(&t);

	twiml_begin(&t);
	twiml_open(&t, "Connect", "action",
	    "https://voice.example.com/api/connect-action/?a=1&b=2", NULL);
	twiml_open(&t, "Stream", "url",
	    "wss://voice.example.com/ws/realtime/x/", NULL);
	twiml_elem(&t, "Parameter", NULL, "name", "tenant", "value",
	    "O'Brien \"&\" <Co>", NULL);
	twiml_close(&t);
	is_int(t.depth, 1, "one element still open after a close");
	twiml_close(&t);
	twiml_elem(&t, "Hangup", NULL, NULL);
	doc = twiml_end(&t, &len);
	is_str(doc, DECL "<Response><Connect action=\"https://voice.example.com"
	    "/api/connect-action/?a=1&amp;b=2\"><Stream url=\"wss://voice."
	    "example.com/ws/realtime/x/\"><Parameter name=\"tenant\" value=\""
	    "O&apos;Brien &quot;&amp;&quot; &lt;Co&gt;\"/></Stream></Connect>"
	    "<Hangup/></Response>\n", "nested elements closed explicitly");
	xmllint_ok(doc, "xmllint: nested Connect/Stream/Parameter");
	twiml_free(&t);

	twiml_begin(&t);
	twiml_open(&t, "Connect", NULL);
	twiml_open(&t, "Stream", "url", "wss://h/", NULL);
	doc = twiml_end(&t, &len);
	is_str(doc, DECL "<Response><Connect><Stream url=\"wss://h/\">"
	    "</Stream></Connect></Response>\n",
	    "twiml_end closes open elements in order");
	is_int(t.depth, 0, "nothing open after twiml_end");
	twiml_free(&t);

	twiml_begin(&t);
	twiml_elem(&t, "Say",
	    "bad \x01 bytes \xc0\x80 and \xed\xa0\x80 ok \xe2\x82\xac",
	    "voice", "\x02v\xff", NULL);
	doc = twiml_end(&t, &len);
	ok(doc != NULL && is_valid_utf8(doc), "hostile input gives valid UTF-8");
	xmllint_ok(doc != NULL ? doc : "", "xmllint: hostile input is well-formed");
	twiml_free(&t);
}

static void
test_limits(void)
{
	struct twiml	 t;
	const char	*doc;
	size_t		 len = 0, over, l;
	char		*text;
	int		 i;

	twiml_begin(&t);
	for (i = 0; i < TWIML_DEPTH_MAX; i++)
		twiml_open(&t, "Gather", NULL);
	ok(!t.failed, "TWIML_DEPTH_MAX open elements are fine");
	doc = twiml_end(&t, &len);
	ok(doc != NULL, "a document at the depth limit is produced");
	ok(doc != NULL && strstr(doc, "<Gather><Gather><Gather><Gather>"
	    "<Gather><Gather><Gather><Gather></Gather></Gather></Gather>"
	    "</Gather></Gather></Gather></Gather></Gather></Response>") != NULL,
	    "all eight closed by twiml_end");
	twiml_free(&t);

	twiml_begin(&t);
	for (i = 0; i < TWIML_DEPTH_MAX + 1; i++)
		twiml_open(&t, "Gather", NULL);
	ok(t.failed, "one more than TWIML_DEPTH_MAX fails");
	is_int(t.depth, TWIML_DEPTH_MAX, "depth stays at the maximum");
	ok(twiml_end(&t, &len) == NULL, "twiml_end returns NULL");
	twiml_free(&t);

	twiml_begin(&t);
	twiml_close(&t);
	ok(t.failed, "a close with nothing open fails");
	ok(twiml_end(&t, &len) == NULL, "and twiml_end returns NULL");
	twiml_free(&t);

	/* A document of exactly TWIML_MAX bytes, then one byte more. */
	over = strlen(DECL "<Response><Say></Say></Response>\n");
	l = TWIML_MAX - over;
	text = malloc(l + 2);
	memset(text, 'a', l + 1);
	text[l] = '\0';
	twiml_begin(&t);
	twiml_elem(&t, "Say", text, NULL);
	doc = twiml_end(&t, &len);
	ok(doc != NULL, "a document of exactly TWIML_MAX bytes is produced");
	is_int(len, TWIML_MAX, "its length is TWIML_MAX");
	twiml_free(&t);

	text[l] = 'a';
	text[l + 1] = '\0';
	twiml_begin(&t);
	twiml_elem(&t, "Say", text, NULL);
	ok(twiml_end(&t, &len) == NULL, "twiml_end returns NULL past TWIML_MAX");
	ok(t.failed, "the document is marked failed");
	twiml_free(&t);

	/* Escaping expands: 15000 '&' become 75000 bytes. */
	text[0] = '\0';
	for (i = 0; i < 15000; i++)
		text[i] = '&';
	text[15000] = '\0';
	twiml_begin(&t);
	twiml_elem(&t, "Say", text, NULL);
	ok(twiml_end(&t, &len) == NULL,
	    "escaped text that expands past TWIML_MAX fails");
	twiml_free(&t);

	/* Many small elements that add up past the limit. */
	twiml_begin(&t);
	for (i = 0; i < 10000; i++)
		twiml_elem(&t, "Pause", NULL, "length", "1", NULL);
	ok(twiml_end(&t, &len) == NULL, "10000 elements (190 KB) fail");
	twiml_free(&t);
	free(text);
}

int
main(void)
{
	have_xmllint = system("command -v xmllint >/dev/null 2>&1") == 0;
	if (!have_xmllint)
		diag("xmllint not found: well-formedness checks skipped");
	test_escape();
	test_writer();
	test_limits();
	/* utf8_valid(): the check the relay applies to a tool's answer. */
	ok(utf8_valid("plain", 5), "utf8_valid: ASCII");
	ok(utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e", 14), "utf8_valid: 2, 3 and 4-byte sequences");
	ok(!utf8_valid("a\0b", 3), "utf8_valid: a NUL byte is refused");
	ok(!utf8_valid("\xc3", 1), "utf8_valid: a sequence cut by the length");
	ok(!utf8_valid("\xc3\xa9", 1), "utf8_valid: never reads past n");
	ok(!utf8_valid("\xc0\x80", 2), "utf8_valid: overlong");
	ok(!utf8_valid("\xed\xa0\x80", 3), "utf8_valid: surrogate");
	ok(!utf8_valid("\xff", 1), "utf8_valid: 0xFF");
	ok(utf8_valid("", 0), "utf8_valid: empty");
	return done_testing();
}
