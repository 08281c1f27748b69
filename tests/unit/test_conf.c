/*
 * test_conf: the callbridge.conf loader, on temporary files.  A full
 * valid file and the defaults; every kind of bad value as an error that
 * names file:line and the key; unknown keys and sections as warnings;
 * the required keys per program; environment overrides of the secrets;
 * CALLBRIDGE_CONFIG; comments, quotes, CRLF; over-long lines, malformed
 * section headers, keys outside a section, NUL bytes, over-large files;
 * the world-readable warning; secrets never shown in diagnostics;
 * conf_valid_dial_target.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "tap.h"

/* Every required key, for both programs: 8 lines. */
#define REQ \
	"[twilio]\n" \
	"auth_token = tok\n" \
	"[webhook]\n" \
	"public_url = https://voice.example.com\n" \
	"[relay]\n" \
	"public_url = wss://voice.example.com\n" \
	"[openai]\n" \
	"api_key = sk-test\n"

#define BOTH	(CONF_WEBHOOK | CONF_RELAY)

static char		 cur_path[64];
static struct buf	 msgs;

static void
write_file(const char *text, size_t len, mode_t mode)
{
	int fd;

	strcpy(cur_path, "/tmp/test_conf.XXXXXX");
	if ((fd = mkstemp(cur_path)) == -1 || fchmod(fd, mode) == -1 ||
	    write(fd, text, len) != (ssize_t)len) {
		perror(cur_path);
		exit(1);
	}
	close(fd);
}

/* Load text (len bytes) as a file with mode; diag holds the messages. */
static int
load_mode(struct conf *cf, const char *text, size_t len, mode_t mode,
    unsigned programs)
{
	int errors;

	write_file(text, len, mode);
	buf_free(&msgs);
	buf_init(&msgs, 1024 * 1024);
	errors = conf_load(cf, cur_path, programs, &msgs);
	unlink(cur_path);
	return errors;
}

static int
load(struct conf *cf, const char *text, unsigned programs)
{
	return load_mode(cf, text, strlen(text), 0600, programs);
}

/* "path:line: " of the last loaded file. */
static const char *
at(int line)
{
	static char s[96];

	if (line > 0)
		snprintf(s, sizeof(s), "%s:%d: ", cur_path, line);
	else
		snprintf(s, sizeof(s), "%s: ", cur_path);
	return s;
}

/* The diagnostics contain "path:line: " immediately followed by msg. */
static void
diag_has(int line, const char *msg, const char *desc)
{
	char want[512];

	snprintf(want, sizeof(want), "%s%s", at(line), msg);
	like(buf_str(&msgs), want, desc);
}

static void
test_full(void)
{
	struct conf	 cf;
	int		 errors;

	errors = load(&cf,
	    "; callbridge.conf for the tests\n"
	    "# both comment styles\n"
	    "\n"
	    "[database]\n"
	    "host = db.example.com      ; a comment after a value\n"
	    "socket = /var/run/mysqld/m.sock\n"
	    "port = 3307\n"
	    "name = cb_test\n"
	    "user = cb_user\n"
	    "password = db-pass\n"
	    "connect_timeout = 5\n"
	    "read_timeout = 6\n"
	    "write_timeout = 7\n"
	    "\n"
	    "[twilio]\n"
	    "auth_token = 0123456789abcdef0123456789abcdef\n"
	    "validate_signatures = yes ; \"no\" only for local development\n"
	    "\n"
	    "[webhook]\n"
	    "public_url = https://voice.example.com   ; scheme://host[:port]\n"
	    "                                         ; the signed URL is this + the request URI\n"
	    "threads = 8\n"
	    "max_body = 131072\n"
	    "max_params = 512\n"
	    "request_timeout = 20\n"
	    "fallback_message = \"  Sorry, try later.  \"\n"
	    "fallback_number = +15551234567\n"
	    "unknown_number_message = Not in service.\n"
	    "reject_unknown = on\n"
	    "say_voice = Polly.Joanna\n"
	    "say_language = en-US\n"
	    "stream_status_callback = false\n"
	    "\n"
	    "[relay]\n"
	    "listen = 0.0.0.0:9000\n"
	    "public_url = wss://relay.example.com:8443/   # trailing slash\n"
	    "session_ttl = 120\n"
	    "\n"
	    "[openai]\n"
	    "api_key = sk-full\n"
	    "url = wss://api.openai.com/v1/realtime\n"
	    "\n"
	    "[log]\n"
	    "level = debug\n", BOTH);
	is_int(errors, 0, "full file: 0 errors");
	is_str(buf_str(&msgs), "", "full file: no diagnostics at all");
	is_str(cf.path, cur_path, "path kept");
	is_str(cf.db_host, "db.example.com", "database host");
	is_str(cf.db_socket, "/var/run/mysqld/m.sock", "database socket");
	is_int(cf.db_port, 3307, "database port");
	is_str(cf.db_name, "cb_test", "database name");
	is_str(cf.db_user, "cb_user", "database user");
	is_str(cf.db_password, "db-pass", "database password");
	is_int(cf.db_connect_timeout, 5, "connect_timeout");
	is_int(cf.db_read_timeout, 6, "read_timeout");
	is_int(cf.db_write_timeout, 7, "write_timeout");
	is_str(cf.twilio_auth_token, "0123456789abcdef0123456789abcdef",
	    "auth_token");
	ok(cf.twilio_validate_signatures, "validate_signatures");
	is_str(cf.webhook_public_url, "https://voice.example.com",
	    "webhook public_url");
	is_int(cf.webhook_threads, 8, "threads");
	is_int(cf.webhook_max_body, 131072, "max_body");
	is_int(cf.webhook_max_params, 512, "max_params");
	is_int(cf.webhook_request_timeout, 20, "request_timeout");
	is_str(cf.webhook_fallback_message, "  Sorry, try later.  ",
	    "quoted fallback_message keeps its spaces");
	is_str(cf.webhook_fallback_number, "+15551234567", "fallback_number");
	is_str(cf.webhook_unknown_number_message, "Not in service.",
	    "unknown_number_message");
	ok(cf.webhook_reject_unknown, "reject_unknown = on");
	is_str(cf.webhook_say_voice, "Polly.Joanna", "say_voice");
	is_str(cf.webhook_say_language, "en-US", "say_language");
	ok(!cf.webhook_stream_status_callback, "stream_status_callback = false");
	is_str(cf.relay_listen, "0.0.0.0:9000", "relay listen");
	is_str(cf.relay_public_url, "wss://relay.example.com:8443",
	    "relay public_url without its trailing slash");
	is_int(cf.relay_session_ttl, 120, "session_ttl");
	is_str(cf.openai_api_key, "sk-full", "api_key");
	is_str(cf.openai_url, "wss://api.openai.com/v1/realtime", "openai url");
	is_int(cf.log_level, LOG_DEBUG, "log level debug");
	conf_free(&cf);
	ok(cf.db_host == NULL && cf.path == NULL, "conf_free clears the struct");
	conf_free(&cf);
	ok(1, "conf_free twice is harmless");
}

static void
test_defaults(void)
{
	struct conf cf;

	is_int(load(&cf, REQ, BOTH), 0, "only the required keys: 0 errors");
	is_str(buf_str(&msgs), "", "no diagnostics");
	is_str(cf.db_host, "localhost", "default host");
	is_str(cf.db_socket, "/run/mysqld/mysqld.sock", "default socket");
	is_int(cf.db_port, 3306, "default port");
	is_str(cf.db_name, "callbridge", "default database name");
	is_str(cf.db_user, "callbridge", "default user");
	is_str(cf.db_password, "", "default password is empty");
	is_int(cf.db_connect_timeout, 2, "default connect_timeout");
	is_int(cf.db_read_timeout, 3, "default read_timeout");
	is_int(cf.db_write_timeout, 3, "default write_timeout");
	ok(cf.twilio_validate_signatures, "signatures validated by default");
	is_int(cf.webhook_threads, 4, "default threads");
	is_int(cf.webhook_max_body, 65536, "default max_body");
	is_int(cf.webhook_max_params, 256, "default max_params");
	is_int(cf.webhook_request_timeout, 10, "default request_timeout");
	like(cf.webhook_fallback_message, "not available",
	    "default fallback_message");
	is_str(cf.webhook_fallback_number, "", "no fallback_number by default");
	is_str(cf.webhook_unknown_number_message,
	    "The number you have called is not in service.",
	    "default unknown_number_message");
	ok(!cf.webhook_reject_unknown, "reject_unknown off by default");
	is_str(cf.webhook_say_voice, "", "default say_voice");
	is_str(cf.webhook_say_language, "", "default say_language");
	ok(cf.webhook_stream_status_callback, "stream_status_callback default");
	is_str(cf.relay_listen, "127.0.0.1:8081", "default listen");
	is_int(cf.relay_session_ttl, 60, "default session_ttl");
	is_str(cf.openai_url, "wss://api.openai.com/v1/realtime",
	    "default openai url");
	is_int(cf.log_level, LOG_INFO, "default log level");
	conf_free(&cf);
}

/* A file whose line 2 is "key = value" in section: exactly one error. */
static void
bad_value(const char *section, const char *key, const char *value,
    const char *why)
{
	struct conf	 cf;
	char		 text[1024], want[512], d[256];
	int		 errors;

	snprintf(text, sizeof(text), "[%s]\n%s = %s\n" REQ, section, key,
	    value);
	errors = load(&cf, text, BOTH);
	snprintf(d, sizeof(d), "[%s] %s = %s: one error", section, key, value);
	is_int(errors, 1, d);
	snprintf(want, sizeof(want), "[%s] %s = \"%s\": %s", section, key,
	    value, why);
	snprintf(d, sizeof(d), "[%s] %s = %s: file:line, key, reason", section,
	    key, value);
	diag_has(2, want, d);
	conf_free(&cf);
}

static void
test_bad_values(void)
{
	struct conf cf;

	bad_value("database", "port", "abc", "not an integer");
	bad_value("database", "port", "33o6", "not an integer");
	bad_value("database", "port", "3306.0", "not an integer");
	bad_value("database", "port", "0x10", "not an integer");
	bad_value("database", "port", "99999999999999999999", "not an integer");
	bad_value("database", "port", "", "not an integer");
	bad_value("database", "port", "0", "out of range");
	bad_value("database", "port", "65536", "out of range");
	bad_value("database", "port", "-1", "out of range");
	bad_value("database", "connect_timeout", "61", "out of range");
	bad_value("webhook", "threads", "0", "out of range");
	bad_value("webhook", "max_body", "1023", "out of range");
	bad_value("webhook", "max_params", "15", "out of range");
	bad_value("relay", "session_ttl", "3601", "out of range");
	bad_value("twilio", "validate_signatures", "maybe", "not a boolean");
	bad_value("webhook", "reject_unknown", "2", "not a boolean");
	bad_value("webhook", "stream_status_callback", "yess", "not a boolean");
	bad_value("webhook", "public_url", "ftp://voice.example.com",
	    "unsupported scheme");
	bad_value("webhook", "public_url", "voice.example.com", "not a URL");
	bad_value("webhook", "public_url", "https://voice.example.com/api",
	    "must be scheme://host[:port] with no path");
	bad_value("webhook", "public_url", "wss://voice.example.com",
	    "must be an http:// or https:// URL");
	bad_value("webhook", "public_url", "https://voice.example.com/?a=1",
	    "query");
	bad_value("relay", "public_url", "https://voice.example.com",
	    "must be a ws:// or wss:// URL");
	bad_value("relay", "public_url", "wss://voice.example.com/ws",
	    "must be scheme://host[:port] with no path");
	bad_value("relay", "public_url", "wss://user@voice.example.com",
	    "user information");
	bad_value("openai", "url", "https://api.openai.com/v1/realtime",
	    "must be a ws:// or wss:// URL");
	bad_value("webhook", "fallback_number", "5551234567", "must be an E.164");
	bad_value("webhook", "fallback_number", "+1", "must be an E.164");
	bad_value("webhook", "fallback_number", "+1555123456789012",
	    "must be an E.164");
	bad_value("webhook", "fallback_number", "sip:nobody", "must be an E.164");
	bad_value("relay", "listen", "8081", "must be host:port");
	bad_value("relay", "listen", ":8081", "must be host:port");
	bad_value("relay", "listen", "127.0.0.1:0", "bad port");
	bad_value("relay", "listen", "127.0.0.1:", "bad port");
	bad_value("relay", "listen", "127.0.0.1:http", "bad port");
	bad_value("log", "level", "verbose", "not a log level");

	/* Good values at the edges of the ranges and of the types. */
	is_int(load(&cf, "[database]\nport = 1\nconnect_timeout = 60\n"
	    "[webhook]\nthreads = 256\nmax_body = 1024\nmax_params = 4096\n"
	    "fallback_number = sip:agent@pbx.example.com\n"
	    "[relay]\nsession_ttl = 5\nlisten = [::1]:65535\n"
	    "public_url = ws://relay.example.com:8081\n"
	    "[twilio]\nvalidate_signatures = TRUE\n"
	    "[log]\nlevel = Error\n" REQ, BOTH), 0,
	    "values at the edges of their ranges are accepted");
	is_int(cf.db_port, 1, "port 1");
	is_int(cf.webhook_threads, 256, "threads 256");
	is_int(cf.relay_session_ttl, 5, "session_ttl 5");
	is_str(cf.webhook_fallback_number, "sip:agent@pbx.example.com",
	    "fallback_number may be a SIP URI");
	is_int(cf.log_level, LOG_ERR, "level names are case-insensitive");
	conf_free(&cf);

	/* Several errors in one file are all reported, each with its line. */
	is_int(load(&cf, "[database]\nport = x\nread_timeout = 0\n"
	    "[webhook]\nthreads = many\n" REQ "[log]\nlevel = loud\n", BOTH), 4,
	    "four bad values: four errors");
	diag_has(2, "[database] port = \"x\"", "first error on line 2");
	diag_has(3, "[database] read_timeout = \"0\"", "second on line 3");
	diag_has(5, "[webhook] threads = \"many\"", "third on line 5");
	diag_has(15, "[log] level = \"loud\"", "fourth on line 15");
	conf_free(&cf);

	/* An escaped and shortened value in the message. */
	is_int(load(&cf, "[database]\nport = 1\x1b[31m2\n" REQ, BOTH), 1,
	    "a value with an escape sequence: one error");
	like(buf_str(&msgs), "port = \"1\\x1b[31m2\"",
	    "the value is escaped in the message");
	unlike(buf_str(&msgs), "\x1b", "no raw control byte in diagnostics");
	conf_free(&cf);
}

static void
test_warnings(void)
{
	struct conf cf;

	is_int(load(&cf, REQ "[database]\nhost = h\nhots = h\n", BOTH), 0,
	    "unknown key: not an error");
	diag_has(11, "warning: unknown key \"hots\" in [database] (ignored)",
	    "unknown key: a warning with its line");
	conf_free(&cf);

	is_int(load(&cf, REQ "[databse]\nhost = h\nport = nonsense\n", BOTH), 0,
	    "unknown section: not an error, its keys are not checked");
	diag_has(9, "warning: unknown section [databse]",
	    "unknown section: a warning with its line");
	unlike(buf_str(&msgs), "nonsense",
	    "keys of an unknown section are not looked at");
	conf_free(&cf);

	is_int(load(&cf, "[database]\nport = 1\nport = 2\n" REQ, BOTH), 0,
	    "a key set twice: not an error");
	diag_has(3, "warning: [database] port set again; the last value wins",
	    "a key set twice: a warning on the second line");
	is_int(cf.db_port, 2, "the last value wins");
	conf_free(&cf);

	is_int(load(&cf, REQ "[twilio]\nvalidate_signatures = no\n", BOTH), 0,
	    "validate_signatures = no: not an error");
	diag_has(0, "warning: [twilio] validate_signatures = no",
	    "validate_signatures = no: warned about");
	conf_free(&cf);

	is_int(load_mode(&cf, REQ, strlen(REQ), 0644, BOTH), 0,
	    "world-readable file: not an error");
	diag_has(0, "warning: readable by every user",
	    "world-readable file: a warning");
	conf_free(&cf);
	is_int(load_mode(&cf, REQ, strlen(REQ), 0640, BOTH), 0,
	    "group-readable file loads");
	unlike(buf_str(&msgs), "readable", "group-readable file: no warning");
	conf_free(&cf);
}

static void
test_required(void)
{
	struct conf cf;

	is_int(load(&cf, "", CONF_WEBHOOK), 3,
	    "empty file for the webhook: three errors");
	diag_has(0, "[webhook] public_url is required", "webhook public_url");
	diag_has(0, "[relay] public_url is required",
	    "relay public_url (the webhook builds the stream URL)");
	diag_has(0, "[twilio] auth_token is required (or set "
	    "CALLBRIDGE_TWILIO_AUTH_TOKEN) while validate_signatures = yes",
	    "auth_token while validating signatures");
	unlike(buf_str(&msgs), "api_key", "the webhook needs no api_key");
	conf_free(&cf);

	is_int(load(&cf, "", CONF_RELAY), 3,
	    "empty file for the relay: three errors");
	unlike(buf_str(&msgs), "[webhook] public_url",
	    "the relay needs no webhook public_url");
	diag_has(0, "[relay] public_url is required", "relay: public_url");
	diag_has(0, "[openai] api_key is required (or set "
	    "CALLBRIDGE_OPENAI_API_KEY)", "relay: api_key");
	conf_free(&cf);

	is_int(load(&cf, "", BOTH), 4, "empty file for both: four errors");
	conf_free(&cf);

	is_int(load(&cf, "[twilio]\nvalidate_signatures = no\n[webhook]\n"
	    "public_url = http://localhost:8080\n[relay]\n"
	    "public_url = ws://localhost:8081\n", CONF_WEBHOOK), 0,
	    "no auth_token is fine with validate_signatures = no");
	conf_free(&cf);

	is_int(load(&cf, REQ "[database]\nname =\nuser = \"\"\n", BOTH), 2,
	    "empty database name and user: two errors");
	diag_has(0, "[database] name is required", "database name required");
	diag_has(0, "[database] user is required", "database user required");
	conf_free(&cf);

	is_int(load(&cf, REQ "[twilio]\nauth_token =\n", CONF_WEBHOOK), 1,
	    "an empty auth_token counts as missing");
	conf_free(&cf);

	/* callbridge-dbsetup needs [database] only. */
	is_int(load(&cf, "[database]\npassword = x\n", CONF_DBSETUP), 0,
	    "dbsetup: a file with only [database] loads");
	is_str(buf_str(&msgs), "", "dbsetup: no message about Twilio or OpenAI");
	is_str(cf.db_name, "callbridge", "dbsetup: the default database name");
	conf_free(&cf);
	is_int(load(&cf, "[twilio]\nvalidate_signatures = no\n", CONF_DBSETUP),
	    0, "dbsetup: validate_signatures = no is not its business");
	unlike(buf_str(&msgs), "validate_signatures",
	    "dbsetup: ... and not warned about");
	conf_free(&cf);
	is_int(load(&cf, "[database]\nname =\n", CONF_DBSETUP), 1,
	    "dbsetup: an empty database name is an error");
	diag_has(0, "[database] name is required", "dbsetup: name required");
	conf_free(&cf);
	is_int(load(&cf, "[webhook]\nthreads = 0\n", CONF_DBSETUP), 1,
	    "dbsetup: a bad value elsewhere in the file is still an error");
	conf_free(&cf);
}

static void
test_env(void)
{
	struct conf	 cf;
	const char	*file = "[database]\npassword = file-db\n"
	    "[twilio]\nauth_token = file-token\n[openai]\napi_key = file-key\n"
	    "[webhook]\npublic_url = https://h\n[relay]\npublic_url = wss://h\n";

	is_int(load(&cf, file, BOTH), 0, "secrets from the file");
	is_str(cf.db_password, "file-db", "password from the file");
	is_str(cf.twilio_auth_token, "file-token", "auth_token from the file");
	is_str(cf.openai_api_key, "file-key", "api_key from the file");
	conf_free(&cf);

	setenv("CALLBRIDGE_DB_PASSWORD", "env-db", 1);
	setenv("CALLBRIDGE_TWILIO_AUTH_TOKEN", "env-token", 1);
	setenv("CALLBRIDGE_OPENAI_API_KEY", "env-key", 1);
	is_int(load(&cf, file, BOTH), 0, "secrets from the environment");
	is_str(cf.db_password, "env-db", "CALLBRIDGE_DB_PASSWORD wins");
	is_str(cf.twilio_auth_token, "env-token",
	    "CALLBRIDGE_TWILIO_AUTH_TOKEN wins");
	is_str(cf.openai_api_key, "env-key", "CALLBRIDGE_OPENAI_API_KEY wins");
	conf_free(&cf);

	is_int(load(&cf, "[webhook]\npublic_url = https://h\n[relay]\n"
	    "public_url = wss://h\n", BOTH), 0,
	    "secrets only in the environment satisfy the required keys");
	is_str(cf.twilio_auth_token, "env-token", "auth_token from env");
	is_str(cf.openai_api_key, "env-key", "api_key from env");
	conf_free(&cf);

	setenv("CALLBRIDGE_DB_PASSWORD", "", 1);
	setenv("CALLBRIDGE_TWILIO_AUTH_TOKEN", "", 1);
	setenv("CALLBRIDGE_OPENAI_API_KEY", "", 1);
	is_int(load(&cf, file, BOTH), 0, "empty environment variables");
	is_str(cf.db_password, "file-db", "an empty variable does not override");
	is_str(cf.twilio_auth_token, "file-token", "nor for auth_token");
	is_str(cf.openai_api_key, "file-key", "nor for api_key");
	conf_free(&cf);
	is_int(load(&cf, "[webhook]\npublic_url = https://h\n[relay]\n"
	    "public_url = wss://h\n", BOTH), 2,
	    "empty variables do not satisfy the required keys");
	conf_free(&cf);
	unsetenv("CALLBRIDGE_DB_PASSWORD");
	unsetenv("CALLBRIDGE_TWILIO_AUTH_TOKEN");
	unsetenv("CALLBRIDGE_OPENAI_API_KEY");

	unsetenv("CALLBRIDGE_CONFIG");
	is_str(conf_default_path(), SYSCONFDIR "/callbridge/callbridge.conf",
	    "default path under sysconfdir");
	setenv("CALLBRIDGE_CONFIG", "/srv/cb/test.conf", 1);
	is_str(conf_default_path(), "/srv/cb/test.conf",
	    "CALLBRIDGE_CONFIG overrides the default path");
	setenv("CALLBRIDGE_CONFIG", "", 1);
	is_str(conf_default_path(), SYSCONFDIR "/callbridge/callbridge.conf",
	    "an empty CALLBRIDGE_CONFIG is ignored");
	unsetenv("CALLBRIDGE_CONFIG");
}

static void
test_syntax(void)
{
	struct conf	 cf;
	char		*text;
	size_t		 n;

	is_int(load(&cf, REQ
	    "; comment\n"
	    "# comment\n"
	    "   ; indented comment\n"
	    "\t# indented with a tab\n"
	    "[webhook]   \n"
	    "  say_voice=Polly#1\n"
	    "say_language = en-US;x\n"
	    "fallback_message = Press 1 ; then hang up\n"
	    "unknown_number_message = Gone\t# tab before the comment\n"
	    "[ database ]\n"
	    "port = \"3310\"   ; quoted number\n"
	    "host =    \n", BOTH), 0, "comments and spacing: 0 errors");
	is_str(cf.webhook_say_voice, "Polly#1", "'#' inside a value is kept");
	is_str(cf.webhook_say_language, "en-US;x", "';' inside a value is kept");
	is_str(cf.webhook_fallback_message, "Press 1",
	    "' ;' starts a comment after a value");
	is_str(cf.webhook_unknown_number_message, "Gone", "tab + '#' comment");
	is_int(cf.db_port, 3310, "quoted number, section name with spaces");
	is_str(cf.db_host, "", "an empty value");
	conf_free(&cf);

	is_int(load(&cf, REQ "[webhook]\n"
	    "fallback_message = \"Press 1 ; or # 2\"  ; comment\n"
	    "say_voice = \" v \"\n"
	    "say_language = \"\n", BOTH), 0, "quoted values: 0 errors");
	is_str(cf.webhook_fallback_message, "Press 1 ; or # 2",
	    "';' and '#' inside quotes are part of the value");
	is_str(cf.webhook_say_voice, " v ", "quotes keep spaces");
	is_str(cf.webhook_say_language, "\"", "a lone quote is kept as is");
	conf_free(&cf);

	is_int(load(&cf, REQ "[webhook]\n"
	    "fallback_message = \"a\" b \"c\"\n"
	    "unknown_number_message = \"abc\"#x\n"
	    "say_voice = \"\"\n"
	    "say_language = \"x\" ; \"y\"\n", BOTH), 0,
	    "more quoted values: 0 errors");
	is_str(cf.webhook_fallback_message, "a\" b \"c",
	    "outer quotes only are removed");
	is_str(cf.webhook_unknown_number_message, "\"abc\"#x",
	    "text right after the closing quote: kept as written");
	is_str(cf.webhook_say_voice, "", "\"\" is empty");
	is_str(cf.webhook_say_language, "x", "a comment after the closing quote");
	conf_free(&cf);

	is_int(load(&cf, "[database]\r\nport = 3311\r\n"
	    "[twilio]\r\nauth_token = crlf\r\n[webhook]\r\n"
	    "public_url = https://h/\r\n[relay]\r\npublic_url = wss://h\r\n"
	    "[openai]\r\napi_key = k\r\n", BOTH), 0, "CRLF line ends");
	is_int(cf.db_port, 3311, "CRLF: number");
	is_str(cf.twilio_auth_token, "crlf", "CRLF: no CR in the value");
	is_str(cf.webhook_public_url, "https://h", "CRLF: URL");
	conf_free(&cf);

	is_int(load(&cf, "port = 3306\n" REQ, BOTH), 1,
	    "a key before any section: an error");
	diag_has(1, "key \"port\" outside of any section", "with its line");
	conf_free(&cf);

	is_int(load(&cf, REQ "[database]\njust some words\n", BOTH), 1,
	    "a line without '=': an error");
	diag_has(10, "expected \"key = value\"", "with its line");
	conf_free(&cf);

	is_int(load(&cf, REQ "[database\nport = 1\n", BOTH), 1,
	    "unterminated section header: one error");
	diag_has(9, "malformed section header", "with its line");
	conf_free(&cf);
	is_int(load(&cf, REQ "[]\n", BOTH), 1, "empty section header: an error");
	diag_has(9, "malformed section header", "[] with its line");
	conf_free(&cf);
	is_int(load(&cf, REQ "[  ]\nport = 1\nhost = h\n", BOTH), 1,
	    "a blank section name: one error, its keys are skipped");
	diag_has(9, "malformed section header", "[  ] with its line");
	conf_free(&cf);
	is_int(load(&cf, REQ "[database\nport = 1\n[webhook]\nthreads = x\n",
	    BOTH), 2, "keys after the next good header are read again");
	diag_has(12, "[webhook] threads = \"x\"", "the bad value after it");
	conf_free(&cf);
	is_int(load(&cf, REQ "[database] x\n", BOTH), 1,
	    "text after a section header: an error");
	diag_has(9, "malformed section header", "[database] x with its line");
	conf_free(&cf);
	is_int(load(&cf, REQ "[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaa]\n", BOTH), 1,
	    "a section name longer than 63 bytes: an error");
	conf_free(&cf);

	/* Lines of CONF_LINE_MAX bytes are fine; one more is an error. */
	n = strlen(REQ);
	text = malloc(n + 3 * (CONF_LINE_MAX + 2) + 64);
	memcpy(text, REQ, n);
	text[n] = '#';
	memset(text + n + 1, 'x', CONF_LINE_MAX - 1);
	n += CONF_LINE_MAX;
	text[n++] = '\n';				/* line 9 */
	memcpy(text + n, "[webhook]\nsay_voice = ", 22);	/* 10, 11 */
	n += 22;
	memset(text + n, 'v', CONF_LINE_MAX - 12);
	n += CONF_LINE_MAX - 12;
	text[n++] = '\n';
	text[n++] = '#';				/* line 12 */
	memset(text + n, 'y', CONF_LINE_MAX);
	n += CONF_LINE_MAX;
	text[n++] = '\n';
	memcpy(text + n, "[database]\nport = bad\n", 22);	/* 13, 14 */
	n += 22;
	is_int(load_mode(&cf, text, n, 0600, BOTH), 2,
	    "a line of CONF_LINE_MAX + 1 bytes: an error (plus the bad port)");
	is_int(strlen(cf.webhook_say_voice), CONF_LINE_MAX - 12,
	    "a line of exactly CONF_LINE_MAX bytes is read whole");
	diag_has(12, "line longer than 4096 bytes", "long line: its line number");
	diag_has(14, "[database] port = \"bad\"",
	    "line numbers stay right after a long line");
	conf_free(&cf);

	/* The last line may lack its newline. */
	n = strlen(REQ);
	memcpy(text, REQ "[database]\nport = 3312", n + 22);
	is_int(load_mode(&cf, text, n + 22, 0600, BOTH), 0,
	    "no newline at the end of the file");
	is_int(cf.db_port, 3312, "the last line is read");
	conf_free(&cf);

	/* A NUL byte hides the rest of a line from C strings: refuse it. */
	memcpy(text, REQ "[database]\npassword = abc\0def\nport = 3313\n",
	    n + 42);
	is_int(load_mode(&cf, text, n + 42, 0600, BOTH), 1,
	    "a NUL byte in a line: an error");
	diag_has(10, "NUL byte in line", "NUL byte: its line number");
	is_int(cf.db_port, 3313, "the next line is still read");
	conf_free(&cf);
	free(text);

	/* A file past CONF_FILE_MAX. */
	n = CONF_FILE_MAX + 4096;
	text = malloc(n);
	memset(text, '#', n);
	for (size_t i = 99; i < n; i += 100)
		text[i] = '\n';
	is_int(load_mode(&cf, text, n, 0600, CONF_WEBHOOK) >= 1, 1,
	    "a file larger than CONF_FILE_MAX: an error");
	like(buf_str(&msgs), "file larger than 1048576 bytes",
	    "file too large: the message");
	conf_free(&cf);
	free(text);

	buf_free(&msgs);
	buf_init(&msgs, 4096);
	is_int(conf_load(&cf, "/nonexistent/callbridge.conf", BOTH, &msgs) >= 1,
	    1, "a missing file: an error");
	like(buf_str(&msgs), "/nonexistent/callbridge.conf: cannot open: ",
	    "a missing file: the message");
	conf_free(&cf);
	is_int(conf_load(&cf, "/nonexistent/callbridge.conf", BOTH, NULL) >= 1,
	    1, "diag may be NULL");
	conf_free(&cf);
}

static void
test_secrets(void)
{
	struct conf	 cf;
	const char	*d;
	int		 errors;

	errors = load_mode(&cf,
	    "password = SECRET-A\n"			/* outside a section */
	    "[database]\n"
	    "pasword = SECRET-B\n"			/* unknown key */
	    "password = SECRET-C\n"
	    "password = SECRET-D\n"			/* set again */
	    "[secrets]\n"
	    "auth_token = SECRET-E\n"			/* unknown section */
	    "[twilio]\n"
	    "auth_token SECRET-F\n"			/* no '=' */
	    "auth_token = SECRET-G\n"
	    "[openai]\n"
	    "api_key = \"SECRET-H\n"
	    "[webhook]\npublic_url = https://h\n[relay]\npublic_url = wss://h\n",
	    strlen("password = SECRET-A\n[database]\npasword = SECRET-B\n"
	    "password = SECRET-C\npassword = SECRET-D\n[secrets]\n"
	    "auth_token = SECRET-E\n[twilio]\nauth_token SECRET-F\n"
	    "auth_token = SECRET-G\n[openai]\napi_key = \"SECRET-H\n"
	    "[webhook]\npublic_url = https://h\n[relay]\npublic_url = wss://h\n"),
	    0644, BOTH);
	d = buf_str(&msgs);
	is_int(errors, 2, "two errors (outside a section, no '=')");
	ok(strlen(d) > 0, "there are diagnostics");
	unlike(d, "SECRET", "no secret value appears in any diagnostic");
	is_str(cf.db_password, "SECRET-D", "the last password wins");
	is_str(cf.openai_api_key, "\"SECRET-H", "an unbalanced quote is kept");
	for (const char *nl; (nl = strchr(d, '\n')) != NULL; d = nl + 1)
		diag("%.*s", (int)(nl - d), d);
	conf_free(&cf);

	/* A NUL byte or an over-long line in a secret: no value shown either. */
	{
		static const char nul[] = "[twilio]\nauth_token = SECRET-I\0x\n";
		char	*text;
		size_t	 n;

		is_int(load_mode(&cf, nul, sizeof(nul) - 1, 0600, CONF_WEBHOOK),
		    4, "NUL in a secret: an error (and the missing keys)");
		unlike(buf_str(&msgs), "SECRET", "the secret is not shown");
		conf_free(&cf);
		text = malloc(CONF_LINE_MAX + 64);
		n = (size_t)sprintf(text, "[openai]\napi_key = SECRET-J");
		memset(text + n, 'j', CONF_LINE_MAX);
		n += CONF_LINE_MAX;
		text[n++] = '\n';
		is_int(load_mode(&cf, text, n, 0600, CONF_RELAY) >= 1, 1,
		    "an over-long secret line: an error");
		unlike(buf_str(&msgs), "SECRET", "the secret is not shown");
		conf_free(&cf);
		free(text);
	}
}

/* The packaged file's "change-me" secrets are refused, file or env. */
static void
test_placeholders(void)
{
	static const char base[] = "[webhook]\npublic_url = https://v.example.com\n"
	    "[relay]\npublic_url = wss://v.example.com\n";
	struct conf	cf;
	char		text[512];

	snprintf(text, sizeof(text), "%s[database]\npassword = change-me\n"
	    "[twilio]\nauth_token = change-me\n[openai]\napi_key = Change-Me\n"
	    "[tools]\nsecret = change-me-tools-secret\n", base);
	is_int(load(&cf, text, BOTH), 4, "four placeholder secrets: four errors");
	diag_has(0, "[database] password is still the example's placeholder; "
	    "set it (or CALLBRIDGE_DB_PASSWORD)", "  ... the database password");
	diag_has(0, "[twilio] auth_token is still the example's placeholder",
	    "  ... the auth token");
	diag_has(0, "[openai] api_key is still the example's placeholder",
	    "  ... the API key, in any case");
	diag_has(0, "[tools] secret is still the example's placeholder",
	    "  ... the tools secret");
	conf_free(&cf);

	setenv("CALLBRIDGE_TWILIO_AUTH_TOKEN", "real-token-from-env", 1);
	snprintf(text, sizeof(text), "%s[twilio]\nauth_token = change-me\n", base);
	is_int(load(&cf, text, CONF_WEBHOOK), 0,
	    "a placeholder overridden from the environment is fine");
	conf_free(&cf);
	setenv("CALLBRIDGE_TWILIO_AUTH_TOKEN", "change-me", 1);
	is_int(load(&cf, base, CONF_WEBHOOK), 1,
	    "the placeholder from the environment is refused too");
	conf_free(&cf);
	unsetenv("CALLBRIDGE_TWILIO_AUTH_TOKEN");

	snprintf(text, sizeof(text), "%s[twilio]\nauth_token = changed-me\n", base);
	is_int(load(&cf, text, CONF_WEBHOOK), 0, "a real secret is fine");
	conf_free(&cf);
}

static void
test_dial(void)
{
	static const char *good[] = {
		"+15551234567", "+12", "+123456789012345", "+442079460958",
		"sip:alice@example.com", "SIP:alice@example.com",
		"sip:+15551234567@pbx.example.com;transport=tls",
	};
	static const char *bad[] = {
		"", "+", "+1", "+1234567890123456", "15551234567",
		"++15551234567", "+1555 123 4567", "+1555-123-4567",
		"+1555123456a", "+15551234567\n", "tel:+15551234567",
		"sip:", "sip:alice", "sip:al ice@example.com",
		"sip:alice@exa\x7fmple.com", "sip:alice@exa\xc3\xa9.com",
		"sip:alice@example.com\n", "sips:alice@example.com",
	};
	char	 d[128];
	size_t	 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(d, sizeof(d), "dial target ok: %s", good[i]);
		ok(conf_valid_dial_target(good[i]), d);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(d, sizeof(d), "dial target refused: #%zu", i);
		ok(!conf_valid_dial_target(bad[i]), d);
	}
}

int
main(void)
{
	unsetenv("CALLBRIDGE_DB_PASSWORD");
	unsetenv("CALLBRIDGE_TWILIO_AUTH_TOKEN");
	unsetenv("CALLBRIDGE_OPENAI_API_KEY");
	unsetenv("CALLBRIDGE_CONFIG");
	buf_init(&msgs, 4096);
	test_full();
	test_defaults();
	test_bad_values();
	test_warnings();
	test_required();
	test_env();
	test_syntax();
	test_secrets();
	test_placeholders();
	test_dial();
	buf_free(&msgs);
	return done_testing();
}
