/*
 * conf: load and validate callbridge.conf (see conf.h).
 *
 * All keys are described by one table; defaults live there with the reason
 * beside each value, so the man page, the loader and "-t" agree.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "conf.h"
#include "log.h"
#include "url.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

enum conf_type {
	T_STR,		/* any string */
	T_SECRET,	/* string that may come from the environment */
	T_INT,		/* integer in [min, max] */
	T_BOOL,		/* yes/no/true/false/on/off/1/0 */
	T_ORIGIN,	/* URL with no path: scheme://host[:port] */
	T_URL,		/* URL that may have a path */
	T_LISTEN,	/* host:port */
	T_DIAL,		/* "" or an E.164 number or sip: URI */
	T_LEVEL,	/* log level name */
};

struct conf_key {
	const char	*section;
	const char	*name;
	enum conf_type	 type;
	size_t		 offset;
	long		 min, max;	/* T_INT range; schemes mask for URLs */
	const char	*def;		/* default, parsed like a file value; NULL: none */
	unsigned	 required;	/* programs that need a non-empty value */
	const char	*env;		/* T_SECRET: environment override */
};

#define SCHEMES_HTTP	1
#define SCHEMES_WS	2

#define O(f)	offsetof(struct conf, f)
static const struct conf_key conf_keys[] = {
	/* "localhost" means the unix socket, as in the mariadb client. */
	{ "database", "host", T_STR, O(db_host), 0, 0, "localhost", 0, NULL },
	{ "database", "socket", T_STR, O(db_socket), 0, 0, "/run/mysqld/mysqld.sock", 0, NULL },
	{ "database", "port", T_INT, O(db_port), 1, 65535, "3306", 0, NULL },
	{ "database", "name", T_STR, O(db_name), 0, 0, "callbridge", CONF_WEBHOOK | CONF_RELAY | CONF_DBSETUP, NULL },
	{ "database", "user", T_STR, O(db_user), 0, 0, "callbridge", CONF_WEBHOOK | CONF_RELAY | CONF_DBSETUP, NULL },
	{ "database", "password", T_SECRET, O(db_password), 0, 0, "", 0, "CALLBRIDGE_DB_PASSWORD" },
	/*
	 * Twilio gives a webhook 15 s in all; two seconds to connect and three
	 * per read or write keep a dead or stalled server well inside that.
	 */
	{ "database", "connect_timeout", T_INT, O(db_connect_timeout), 1, 60, "2", 0, NULL },
	{ "database", "read_timeout", T_INT, O(db_read_timeout), 1, 300, "3", 0, NULL },
	{ "database", "write_timeout", T_INT, O(db_write_timeout), 1, 300, "3", 0, NULL },

	{ "twilio", "auth_token", T_SECRET, O(twilio_auth_token), 0, 0, "", 0, "CALLBRIDGE_TWILIO_AUTH_TOKEN" },
	{ "twilio", "validate_signatures", T_BOOL, O(twilio_validate_signatures), 0, 0, "yes", 0, NULL },

	{ "webhook", "public_url", T_ORIGIN, O(webhook_public_url), SCHEMES_HTTP, 0, NULL, CONF_WEBHOOK, NULL },
	/* A few threads per process; mod_fcgid users set 1 and scale processes. */
	{ "webhook", "threads", T_INT, O(webhook_threads), 1, 256, "4", 0, NULL },
	/* Twilio's voice webhooks are 1-3 KiB; 64 KiB leaves room for any future field. */
	{ "webhook", "max_body", T_INT, O(webhook_max_body), 1024, 1048576, "65536", 0, NULL },
	{ "webhook", "max_params", T_INT, O(webhook_max_params), 16, 4096, "256", 0, NULL },
	/* A web server that stalls mid-request frees its worker after this. */
	{ "webhook", "request_timeout", T_INT, O(webhook_request_timeout), 1, 300, "10", 0, NULL },
	{ "webhook", "fallback_message", T_STR, O(webhook_fallback_message), 0, 0,
	    "We are sorry, our assistant is not available right now. Please call again later.", 0, NULL },
	{ "webhook", "fallback_number", T_DIAL, O(webhook_fallback_number), 0, 0, "", 0, NULL },
	{ "webhook", "unknown_number_message", T_STR, O(webhook_unknown_number_message), 0, 0,
	    "The number you have called is not in service.", 0, NULL },
	{ "webhook", "reject_unknown", T_BOOL, O(webhook_reject_unknown), 0, 0, "no", 0, NULL },
	{ "webhook", "say_voice", T_STR, O(webhook_say_voice), 0, 0, "", 0, NULL },
	{ "webhook", "say_language", T_STR, O(webhook_say_language), 0, 0, "", 0, NULL },
	{ "webhook", "stream_status_callback", T_BOOL, O(webhook_stream_status_callback), 0, 0, "yes", 0, NULL },

	{ "relay", "listen", T_LISTEN, O(relay_listen), 0, 0, "127.0.0.1:8081", 0, NULL },
	{ "relay", "public_url", T_ORIGIN, O(relay_public_url), SCHEMES_WS, 0, NULL, CONF_WEBHOOK | CONF_RELAY, NULL },
	/* Twilio opens the stream within a second or two of our answer. */
	{ "relay", "session_ttl", T_INT, O(relay_session_ttl), 5, 3600, "60", 0, NULL },
	/* Each call holds two sockets and ~100 kB; 100 fit a small machine. */
	{ "relay", "max_calls", T_INT, O(relay_max_calls), 1, 10000, "100", 0, NULL },
	/* Twilio's messages are under 1 kB (20 ms of audio is 216 base64 bytes). */
	{ "relay", "max_message", T_INT, O(relay_max_message), 1024, 1048576, "65536", 0, NULL },
	/* Caller audio kept while OpenAI's session is being opened. */
	{ "relay", "preconnect_audio_ms", T_INT, O(relay_preconnect_audio_ms), 0, 60000, "5000", 0, NULL },
	/* OpenAI sends audio faster than real time: 2 MiB is ~3 min of base64 μ-law. */
	{ "relay", "outbound_queue", T_INT, O(relay_outbound_queue), 65536, 67108864, "2097152", 0, NULL },
	{ "relay", "upgrade_timeout", T_INT, O(relay_upgrade_timeout), 1, 60, "5", 0, NULL },
	/* Twilio sends "start" right after "connected". */
	{ "relay", "start_timeout", T_INT, O(relay_start_timeout), 1, 60, "5", 0, NULL },
	{ "relay", "ping_interval", T_INT, O(relay_ping_interval), 1, 300, "10", 0, NULL },
	/* A socket silent this long (no message, no pong) is half-open. */
	{ "relay", "idle_timeout", T_INT, O(relay_idle_timeout), 2, 3600, "30", 0, NULL },
	/* SIGTERM: calls in progress may go on this long. */
	{ "relay", "drain_time", T_INT, O(relay_drain_time), 0, 86400, "30", 0, NULL },
	{ "relay", "db_connections", T_INT, O(relay_db_connections), 1, 16, "4", 0, NULL },

	{ "openai", "api_key", T_SECRET, O(openai_api_key), 0, 0, "", CONF_RELAY, "CALLBRIDGE_OPENAI_API_KEY" },
	{ "openai", "url", T_URL, O(openai_url), SCHEMES_WS, 0, "wss://api.openai.com/v1/realtime", 0, NULL },
	{ "openai", "ca_file", T_STR, O(openai_ca_file), 0, 0, "", 0, NULL },
	/* DNS, TCP, TLS, the upgrade and session.created together. */
	{ "openai", "connect_timeout", T_INT, O(openai_connect_timeout), 1, 120, "10", 0, NULL },
	{ "openai", "max_message", T_INT, O(openai_max_message), 65536, 16777216, "4194304", 0, NULL },
	{ "openai", "transcription_model", T_STR, O(openai_transcription_model), 0, 0, "gpt-4o-transcribe", 0, NULL },
	{ "openai", "language", T_STR, O(openai_language), 0, 0, "", 0, NULL },

	/* http tools: the receiver checks the body's HMAC with this secret. */
	{ "tools", "secret", T_SECRET, O(tools_secret), 0, 0, "", 0, "CALLBRIDGE_TOOLS_SECRET" },
	/* A tool's answer is read to the model: 64 KiB is plenty. */
	{ "tools", "max_response", T_INT, O(tools_max_response), 1024, 16777216, "65536", 0, NULL },
	{ "tools", "ca_file", T_STR, O(tools_ca_file), 0, 0, "", 0, NULL },

	{ "log", "level", T_LEVEL, O(log_level), 0, 0, "info", 0, NULL },
};
#undef O

#define NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]))

const char *
conf_default_path(void)
{
	const char *env = getenv("CALLBRIDGE_CONFIG");

	if (env != NULL && env[0] != '\0')
		return env;
	return SYSCONFDIR "/callbridge/callbridge.conf";
}

static void
diag_add(struct buf *diag, const char *path, int line, bool warning,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
diag_add(struct buf *diag, const char *path, int line, bool warning,
    const char *fmt, ...)
{
	va_list ap;

	if (diag == NULL)
		return;
	if (line > 0)
		buf_printf(diag, "%s:%d: ", path, line);
	else
		buf_printf(diag, "%s: ", path);
	if (warning)
		buf_puts(diag, "warning: ");
	va_start(ap, fmt);
	buf_vprintf(diag, fmt, ap);
	va_end(ap);
	buf_putc(diag, '\n');
}

bool
conf_valid_dial_target(const char *s)
{
	size_t n;

	if (strncasecmp(s, "sip:", 4) == 0) {
		if (s[4] == '\0' || strchr(s + 4, '@') == NULL)
			return false;
		for (s += 4; *s != '\0'; s++)
			if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
				return false;
		return true;
	}
	if (*s++ != '+')
		return false;
	for (n = 0; isdigit((unsigned char)s[n]); n++)
		;
	return s[n] == '\0' && n >= 2 && n <= 15;
}

static bool
parse_bool(const char *v, bool *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* Check and store one value; returns a static reason on failure. */
static const char *
conf_set(struct conf *cf, const struct conf_key *k, const char *v)
{
	void		*field = (char *)cf + k->offset;
	struct url	 u;
	const char	*why;
	char		*end, *copy;
	long		 n;

	switch (k->type) {
	case T_INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0)
			return "not an integer";
		if (n < k->min || n > k->max)
			return "out of range";
		*(int *)field = (int)n;
		return NULL;
	case T_BOOL:
		if (!parse_bool(v, (bool *)field))
			return "not a boolean (yes or no)";
		return NULL;
	case T_LEVEL:
		if (!log_level_from_string(v, (int *)field))
			return "not a log level (error, warning, notice, info, debug)";
		return NULL;
	case T_ORIGIN:
	case T_URL:
		if (!url_parse(v, &u, &why))
			return why;
		if ((k->min & SCHEMES_HTTP) && strncmp(u.scheme, "http", 4) != 0)
			return "must be an http:// or https:// URL";
		if ((k->min & SCHEMES_WS) && strncmp(u.scheme, "ws", 2) != 0)
			return "must be a ws:// or wss:// URL";
		if (k->type == T_ORIGIN && u.path[0] != '\0' &&
		    strcmp(u.path, "/") != 0)
			return "must be scheme://host[:port] with no path";
		break;
	case T_LISTEN: {
		const char *colon = strrchr(v, ':');

		if (colon == NULL || colon == v)
			return "must be host:port";
		errno = 0;
		n = strtol(colon + 1, &end, 10);
		if (*end != '\0' || colon[1] == '\0' || n < 1 || n > 65535)
			return "bad port (1-65535)";
		break;
	}
	case T_DIAL:
		if (v[0] != '\0' && !conf_valid_dial_target(v))
			return "must be an E.164 number (+15551234567) or a sip: URI";
		break;
	case T_STR:
	case T_SECRET:
		break;
	}
	if ((copy = strdup(v)) == NULL)
		return "out of memory";
	/* Origins are kept without a trailing slash so paths can be appended. */
	if (k->type == T_ORIGIN && copy[0] != '\0' &&
	    copy[strlen(copy) - 1] == '/')
		copy[strlen(copy) - 1] = '\0';
	free(*(char **)field);
	*(char **)field = copy;
	return NULL;
}

static const struct conf_key *
conf_find(const char *section, const char *name, bool *section_known)
{
	size_t i;

	*section_known = false;
	for (i = 0; i < NKEYS; i++) {
		if (strcmp(conf_keys[i].section, section) != 0)
			continue;
		*section_known = true;
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	}
	return NULL;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* Strip a comment that follows a value after white space. */
static void
strip_comment(char *v)
{
	char *p;

	for (p = v; *p != '\0'; p++) {
		if ((*p == ';' || *p == '#') && p > v &&
		    (p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

/*
 * Optional double quotes keep leading and trailing spaces, ';' and '#':
 * when *v starts with '"' and a later '"' is followed only by white space
 * or by white space and a comment, *v becomes the text between them.
 * Returns false, leaving *v alone, for anything else.
 */
static bool
unquote(char **v)
{
	char *q, *p;

	if (**v != '"')
		return false;
	for (q = *v + 1; (q = strchr(q, '"')) != NULL; q++) {
		for (p = q + 1; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '\0' || (p > q + 1 && (*p == ';' || *p == '#'))) {
			*q = '\0';
			(*v)++;
			return true;
		}
	}
	return false;
}

/*
 * Read one line, without its '\n', into line (CONF_LINE_MAX + 1 bytes).
 * Unlike fgets() this counts the bytes it read, so a NUL byte inside a
 * line is seen instead of silently hiding the rest of the line.  Returns
 * the number of bytes stored, or -1 at the end of the file.  *too_long
 * is set when the line had more than CONF_LINE_MAX bytes (the excess is
 * read and dropped); *total counts every byte read, and reading stops
 * once it passes CONF_FILE_MAX.
 */
static long
conf_read_line(FILE *fp, char *line, bool *too_long, long *total)
{
	size_t	 n = 0;
	bool	 any = false;
	int	 c;

	*too_long = false;
	while (*total <= CONF_FILE_MAX && (c = getc(fp)) != EOF) {
		any = true;
		(*total)++;
		if (c == '\n')
			break;
		if (n < CONF_LINE_MAX)
			line[n++] = (char)c;
		else
			*too_long = true;
	}
	line[n] = '\0';
	return any ? (long)n : -1;
}

static int
conf_parse_file(struct conf *cf, const char *path, struct buf *diag,
    bool *seen)
{
	FILE		*fp;
	char		 line[CONF_LINE_MAX + 1];
	char		 section[64] = "";
	bool		 section_known = true, too_long;
	int		 lineno = 0, errors = 0;
	long		 total = 0, len;
	struct stat	 st;

	if ((fp = fopen(path, "r")) == NULL) {
		diag_add(diag, path, 0, false, "cannot open: %s", strerror(errno));
		return 1;
	}
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & S_IROTH))
		diag_add(diag, path, 0, true,
		    "readable by every user, but it may hold secrets (chmod o-r)");

	while ((len = conf_read_line(fp, line, &too_long, &total)) != -1) {
		char			*s, *eq, *k, *v;
		const struct conf_key	*key;
		const char		*why;

		lineno++;
		if (total > CONF_FILE_MAX) {
			diag_add(diag, path, lineno, false,
			    "file larger than %d bytes", CONF_FILE_MAX);
			errors++;
			break;
		}
		if (too_long) {
			diag_add(diag, path, lineno, false,
			    "line longer than %d bytes", CONF_LINE_MAX);
			errors++;
			continue;
		}
		if (memchr(line, '\0', (size_t)len) != NULL) {
			diag_add(diag, path, lineno, false, "NUL byte in line");
			errors++;
			continue;
		}
		s = trim(line);
		if (*s == '\0' || *s == ';' || *s == '#')
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');

			if (e == NULL || *trim(e + 1) != '\0' || e - s - 1 <= 0 ||
			    (size_t)(e - s - 1) >= sizeof(section)) {
				diag_add(diag, path, lineno, false,
				    "malformed section header");
				errors++;
				section_known = false;
				section[0] = '\0';
				continue;
			}
			*e = '\0';
			snprintf(section, sizeof(section), "%s", trim(s + 1));
			if (section[0] == '\0') {
				diag_add(diag, path, lineno, false,
				    "malformed section header");
				errors++;
				section_known = false;
				continue;
			}
			conf_find(section, "", &section_known);
			if (!section_known)
				diag_add(diag, path, lineno, true,
				    "unknown section [%s] (its keys are ignored)",
				    section);
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL) {
			diag_add(diag, path, lineno, false,
			    "expected \"key = value\"");
			errors++;
			continue;
		}
		*eq = '\0';
		k = trim(s);
		v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (!unquote(&v)) {
			strip_comment(v);
			v = trim(v);
		}
		/* Keys of an unknown or malformed section were reported once. */
		if (!section_known)
			continue;
		if (section[0] == '\0') {
			diag_add(diag, path, lineno, false,
			    "key \"%s\" outside of any section", k);
			errors++;
			continue;
		}
		if ((key = conf_find(section, k, &section_known)) == NULL) {
			diag_add(diag, path, lineno, true,
			    "unknown key \"%s\" in [%s] (ignored)", k, section);
			continue;
		}
		if (seen[key - conf_keys])
			diag_add(diag, path, lineno, true,
			    "[%s] %s set again; the last value wins",
			    section, k);
		seen[key - conf_keys] = true;
		if ((why = conf_set(cf, key, v)) != NULL) {
			char esc[80];

			diag_add(diag, path, lineno, false,
			    "[%s] %s = \"%s\": %s", section, k,
			    log_escape(esc, sizeof(esc),
			    key->type == T_SECRET ? "(secret)" : v), why);
			errors++;
		}
	}
	if (ferror(fp)) {
		diag_add(diag, path, 0, false, "read error: %s", strerror(errno));
		errors++;
	}
	fclose(fp);
	return errors;
}

int
conf_load(struct conf *cf, const char *path, unsigned programs,
    struct buf *diag)
{
	bool	 seen[NKEYS];
	int	 errors = 0;
	size_t	 i;

	memset(cf, 0, sizeof(*cf));
	memset(seen, 0, sizeof(seen));
	cf->path = strdup(path);
	for (i = 0; i < NKEYS; i++)
		if (conf_keys[i].def != NULL &&
		    conf_set(cf, &conf_keys[i], conf_keys[i].def) != NULL)
			abort();	/* a default that fails its own check */

	errors += conf_parse_file(cf, path, diag, seen);

	for (i = 0; i < NKEYS; i++) {
		const struct conf_key	*k = &conf_keys[i];
		const char		*env;
		char			*v;

		if (k->type == T_SECRET && (env = getenv(k->env)) != NULL &&
		    env[0] != '\0') {
			free(*(char **)((char *)cf + k->offset));
			*(char **)((char *)cf + k->offset) = strdup(env);
		}
		/*
		 * The packaged configuration file ships "change-me" secrets:
		 * refuse them, so that an unedited install fails its -t check
		 * with a clear message instead of running with a guessable
		 * secret.  Database set-up only reads [database].
		 */
		if (k->type == T_SECRET &&
		    (v = *(char **)((char *)cf + k->offset)) != NULL &&
		    strncasecmp(v, CONF_PLACEHOLDER, strlen(CONF_PLACEHOLDER)) == 0 &&
		    ((programs & (CONF_WEBHOOK | CONF_RELAY)) ||
		    strcmp(k->section, "database") == 0)) {
			diag_add(diag, path, 0, false,
			    "[%s] %s is still the example's placeholder; "
			    "set it (or %s)", k->section, k->name, k->env);
			errors++;
		}
		if (!(k->required & programs))
			continue;
		v = *(char **)((char *)cf + k->offset);
		if (v == NULL || v[0] == '\0') {
			if (k->type == T_SECRET)
				diag_add(diag, path, 0, false,
				    "[%s] %s is required (or set %s)",
				    k->section, k->name, k->env);
			else
				diag_add(diag, path, 0, false,
				    "[%s] %s is required", k->section, k->name);
			errors++;
		}
	}
	/* Only the programs that take calls care about Twilio. */
	if (!(programs & (CONF_WEBHOOK | CONF_RELAY)))
		return errors;
	if (cf->twilio_validate_signatures &&
	    (cf->twilio_auth_token == NULL || cf->twilio_auth_token[0] == '\0')) {
		diag_add(diag, path, 0, false,
		    "[twilio] auth_token is required (or set "
		    "CALLBRIDGE_TWILIO_AUTH_TOKEN) while validate_signatures = yes");
		errors++;
	}
	if (!cf->twilio_validate_signatures)
		diag_add(diag, path, 0, true,
		    "[twilio] validate_signatures = no: anyone can place calls "
		    "through this service; use it only for local development");
	return errors;
}

void
conf_free(struct conf *cf)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		switch (conf_keys[i].type) {
		case T_INT:
		case T_BOOL:
		case T_LEVEL:
			break;
		default:
			free(*(char **)((char *)cf + conf_keys[i].offset));
			break;
		}
	}
	free(cf->path);
	memset(cf, 0, sizeof(*cf));
}

void
conf_startup(struct conf *cf, const char *path, unsigned programs,
    bool check_only)
{
	struct buf	 diag;
	char		*line, *save = NULL;
	int		 errors;

	buf_init(&diag, 64 * 1024);
	errors = conf_load(cf, path, programs, &diag);
	if (check_only) {
		fputs(buf_str(&diag), stderr);
		buf_free(&diag);
		conf_free(cf);
		if (errors > 0) {
			fprintf(stderr, "%s: %d error%s\n", path, errors,
			    errors == 1 ? "" : "s");
			exit(1);
		}
		printf("%s: configuration OK\n", path);
		exit(0);
	}
	for (line = diag.len > 0 ? strtok_r(diag.data, "\n", &save) : NULL;
	    line != NULL; line = strtok_r(NULL, "\n", &save))
		log_msg(strstr(line, ": warning: ") ? LOG_WARNING : LOG_ERR,
		    "%s", line);
	buf_free(&diag);
	if (errors > 0) {
		conf_free(cf);
		fatalx("%s: %d configuration error%s; see above (check with -t)",
		    path, errors, errors == 1 ? "" : "s");
	}
}
