/*
 * conf: the callbridge.conf loader shared by both programs.
 *
 * The file is INI: "[section]", "key = value", comments starting with ';'
 * or '#' (also after a value when preceded by white space); a value in
 * double quotes keeps its leading and trailing spaces, ';' and '#'.
 * Every key is checked for type and range when the file is read; unknown
 * sections and keys are warned about; a missing required key is an error.
 * Secrets may also come from the environment, which wins over the file.
 *
 * Ownership: conf_load() fills a struct conf whose strings it allocates;
 * conf_free() releases them.  The struct is read-only once loaded and may
 * then be shared by any thread.
 */
#ifndef CALLBRIDGE_CONF_H
#define CALLBRIDGE_CONF_H

#include <stdbool.h>

#include "buf.h"

#define CONF_LINE_MAX		4096	/* longest accepted line */
#define CONF_FILE_MAX		(1024 * 1024)	/* largest accepted file */
/* A secret starting with this is the packaged file's, not yet set. */
#define CONF_PLACEHOLDER	"change-me"

/*
 * Which program is loading: decides which keys are required.  The whole
 * file is always checked; CONF_DBSETUP requires only [database], so that
 * the database can be set up before Twilio and OpenAI are configured.
 */
enum conf_program {
	CONF_WEBHOOK = 1 << 0,
	CONF_RELAY = 1 << 1,
	CONF_DBSETUP = 1 << 2,
};

struct conf {
	/* [database] */
	char	*db_host;
	char	*db_socket;
	int	 db_port;
	char	*db_name;
	char	*db_user;
	char	*db_password;
	int	 db_connect_timeout;	/* seconds */
	int	 db_read_timeout;	/* seconds */
	int	 db_write_timeout;	/* seconds */

	/* [twilio] */
	char	*twilio_auth_token;
	bool	 twilio_validate_signatures;

	/* [webhook] */
	char	*webhook_public_url;	/* scheme://host[:port], no trailing '/' */
	int	 webhook_threads;
	int	 webhook_max_body;	/* bytes */
	int	 webhook_max_params;	/* form fields per request */
	int	 webhook_request_timeout; /* seconds for one web-server connection */
	char	*webhook_fallback_message;
	char	*webhook_fallback_number;	/* "" when none */
	char	*webhook_unknown_number_message;
	bool	 webhook_reject_unknown;
	char	*webhook_say_voice;	/* "" for Twilio's default */
	char	*webhook_say_language;	/* "" for Twilio's default */
	bool	 webhook_stream_status_callback;

	/* [relay] */
	char	*relay_listen;
	char	*relay_public_url;	/* scheme://host[:port], no trailing '/' */
	int	 relay_session_ttl;	/* seconds */
	int	 relay_max_calls;
	int	 relay_max_message;	/* bytes, one Twilio WebSocket message */
	int	 relay_preconnect_audio_ms;
	int	 relay_outbound_queue;	/* bytes queued per socket */
	int	 relay_upgrade_timeout;	/* seconds */
	int	 relay_start_timeout;	/* seconds */
	int	 relay_ping_interval;	/* seconds */
	int	 relay_idle_timeout;	/* seconds */
	int	 relay_drain_time;	/* seconds */
	int	 relay_db_connections;

	/* [openai] */
	char	*openai_api_key;
	char	*openai_url;
	char	*openai_ca_file;	/* "" for the system CAs */
	int	 openai_connect_timeout;	/* seconds */
	int	 openai_max_message;	/* bytes, one OpenAI WebSocket message */
	char	*openai_transcription_model;	/* "" disables transcripts */
	char	*openai_language;	/* "" lets the model detect it */

	/* [tools] */
	char	*tools_secret;		/* HMAC key for X-Callbridge-Signature */
	int	 tools_max_response;	/* bytes of an http tool's answer */
	char	*tools_ca_file;		/* "" for the system CAs */

	/* [log] */
	int	 log_level;

	/* Where the values came from, for messages. */
	char	*path;
};

/* Default configuration file: $CALLBRIDGE_CONFIG, else the sysconfdir one. */
const char *conf_default_path(void);

/*
 * Load path into cf for the given programs.  Errors and warnings are
 * appended to diag, one per line, as "path:line: message" (warnings start
 * with "warning: " after the location).  Returns the number of errors; the
 * struct is usable only when that is 0.
 */
int	 conf_load(struct conf *cf, const char *path, unsigned programs,
	    struct buf *diag);
void	 conf_free(struct conf *cf);

/*
 * A program's start-up: load path; with check_only print every problem
 * (or "configuration OK") and exit 1 or 0; otherwise log the warnings,
 * and log the errors and exit 1 when there are any.
 */
void	 conf_startup(struct conf *cf, const char *path, unsigned programs,
	    bool check_only);

/* True when s is an E.164 number (+ and 2 to 15 digits) or a sip: URI. */
bool	 conf_valid_dial_target(const char *s);

#endif
