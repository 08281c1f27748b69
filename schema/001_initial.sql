-- callbridge schema, migration 001: the initial schema.
--
-- Apply the files of this folder in order to an empty database (see
-- callbridge-schema(7)).  Each migration records itself in schema_version;
-- running one twice fails on that table's primary key and changes nothing.

SET NAMES utf8mb4;

CREATE TABLE IF NOT EXISTS schema_version (
  version     INT UNSIGNED NOT NULL PRIMARY KEY,
  name        VARCHAR(128) NOT NULL,
  applied_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Claim this version first: a second run stops here with a duplicate key.
INSERT INTO schema_version (version, name) VALUES (1, '001_initial');

-- An AI voice agent: what the model is told and how it sounds.
CREATE TABLE agents (
  id                 INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name               VARCHAR(100) NOT NULL,
  model              VARCHAR(100) NOT NULL DEFAULT 'gpt-realtime',
  voice              VARCHAR(50)  NOT NULL DEFAULT 'marin',
  instructions       TEXT         NOT NULL DEFAULT '',
  -- What the agent says first; NULL lets the caller speak first.
  greeting           TEXT         NULL,
  -- When the AI side fails: <Dial> this number, else <Say> this message,
  -- else the [webhook] fallback_message of callbridge.conf.
  fallback_number    VARCHAR(255) NULL,
  fallback_message   TEXT         NULL,
  -- Caller ID for transfers (<Dial callerId>); NULL: the number called.
  transfer_caller_id VARCHAR(32)  NULL,
  enabled            BOOLEAN      NOT NULL DEFAULT TRUE,
  created_at         DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at         DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                                  ON UPDATE CURRENT_TIMESTAMP(6),
  UNIQUE KEY agents_name (name),
  CONSTRAINT agents_fallback_number CHECK (fallback_number IS NULL OR
    fallback_number REGEXP '^(\\+[0-9]{2,15}|sip:[^@[:space:]]+@[^[:space:]]+)$'),
  CONSTRAINT agents_transfer_caller_id CHECK (transfer_caller_id IS NULL OR
    transfer_caller_id REGEXP '^\\+[0-9]{2,15}$')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Which agent answers which Twilio number (E.164, exactly as Twilio sends To).
CREATE TABLE phone_numbers (
  number      VARCHAR(32)  NOT NULL PRIMARY KEY,
  agent_id    INT UNSIGNED NOT NULL,
  enabled     BOOLEAN      NOT NULL DEFAULT TRUE,
  description VARCHAR(255) NULL,
  created_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY phone_numbers_agent (agent_id),
  CONSTRAINT phone_numbers_agent_fk FOREIGN KEY (agent_id)
    REFERENCES agents (id) ON DELETE RESTRICT,
  CONSTRAINT phone_numbers_e164 CHECK (number REGEXP '^\\+[0-9]{2,15}$')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Function tools an agent offers the model.
CREATE TABLE agent_tools (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  agent_id    INT UNSIGNED NOT NULL,
  name        VARCHAR(64)  NOT NULL,
  description TEXT         NOT NULL DEFAULT '',
  -- JSON Schema of the arguments, as sent to the model.
  parameters  LONGTEXT     NOT NULL DEFAULT '{"type":"object","properties":{}}',
  kind        ENUM('http', 'end_call', 'transfer_call') NOT NULL DEFAULT 'http',
  -- http: where the relay POSTs the arguments.
  url         VARCHAR(2048) NULL,
  -- transfer_call: E.164 number or SIP URI; never chosen by the model.
  transfer_to VARCHAR(255) NULL,
  timeout_ms  INT UNSIGNED NOT NULL DEFAULT 5000,
  enabled     BOOLEAN      NOT NULL DEFAULT TRUE,
  created_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                           ON UPDATE CURRENT_TIMESTAMP(6),
  UNIQUE KEY agent_tools_name (agent_id, name),
  CONSTRAINT agent_tools_agent_fk FOREIGN KEY (agent_id)
    REFERENCES agents (id) ON DELETE CASCADE,
  CONSTRAINT agent_tools_name_shape CHECK (name REGEXP '^[A-Za-z0-9_-]{1,64}$'),
  CONSTRAINT agent_tools_http_url CHECK (kind <> 'http' OR
    COALESCE(url, '') REGEXP '^https?://[^[:space:]]+$'),
  CONSTRAINT agent_tools_transfer_to CHECK (kind <> 'transfer_call' OR
    COALESCE(transfer_to, '') REGEXP '^(\\+[0-9]{2,15}|sip:[^@[:space:]]+@[^[:space:]]+)$'),
  CONSTRAINT agent_tools_timeout CHECK (timeout_ms BETWEEN 100 AND 60000)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per call that reached the webhook.  status moves only forward:
-- pending -> connected -> ended, or pending -> expired; failed from any state.
CREATE TABLE call_sessions (
  session_id    CHAR(36)     CHARACTER SET ascii NOT NULL PRIMARY KEY,
  call_sid      VARCHAR(64)  CHARACTER SET ascii NOT NULL,
  account_sid   VARCHAR(64)  CHARACTER SET ascii NOT NULL DEFAULT '',
  stream_sid    VARCHAR(64)  CHARACTER SET ascii NULL,
  agent_id      INT UNSIGNED NULL,
  from_number   VARCHAR(64)  NOT NULL DEFAULT '',
  to_number     VARCHAR(64)  NOT NULL DEFAULT '',
  status        ENUM('pending', 'connected', 'ended', 'expired', 'failed')
                             NOT NULL DEFAULT 'pending',
  -- Twilio's CallStatus and the SequenceNumber of the callback that set it.
  twilio_status VARCHAR(32)  CHARACTER SET ascii NULL,
  twilio_seq    INT UNSIGNED NULL,
  created_at    DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  -- The relay may claim the session only before this instant.
  expires_at    DATETIME(6)  NOT NULL,
  connected_at  DATETIME(6)  NULL,
  ended_at      DATETIME(6)  NULL,
  end_reason    VARCHAR(255) NULL,
  -- Set by the relay when the agent hands the caller over.
  transfer_to   VARCHAR(255) NULL,
  -- Which relay served the call (host name), for operators.
  relay_host    VARCHAR(255) NULL,
  -- Twilio's CallDuration, seconds, from the completed callback.
  duration_s    INT UNSIGNED NULL,
  input_tokens  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  output_tokens BIGINT UNSIGNED NOT NULL DEFAULT 0,
  -- Last seq given to this session's call_events.
  event_seq     INT UNSIGNED NOT NULL DEFAULT 0,
  UNIQUE KEY call_sessions_call_sid (call_sid),
  KEY call_sessions_status (status, created_at),
  KEY call_sessions_agent (agent_id, created_at),
  KEY call_sessions_created (created_at),
  CONSTRAINT call_sessions_agent_fk FOREIGN KEY (agent_id)
    REFERENCES agents (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Everything that happened during a call, in order (seq within a session).
CREATE TABLE call_events (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  session_id  CHAR(36)     CHARACTER SET ascii NOT NULL,
  seq         INT UNSIGNED NOT NULL,
  created_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  kind        ENUM('transcript', 'function_call', 'dtmf', 'status', 'error')
                           NOT NULL,
  -- transcript: 'user' (the caller) or 'assistant' (the agent).
  role        ENUM('user', 'assistant', 'system') NULL,
  content     MEDIUMTEXT   NOT NULL,
  UNIQUE KEY call_events_order (session_id, seq),
  KEY call_events_kind (kind, created_at),
  CONSTRAINT call_events_session_fk FOREIGN KEY (session_id)
    REFERENCES call_sessions (session_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Calls in progress: connected and not reported finished by Twilio.
CREATE VIEW calls_in_progress AS
SELECT s.session_id, s.call_sid, a.name AS agent, s.from_number, s.to_number,
       s.connected_at, TIMESTAMPDIFF(SECOND, s.connected_at, UTC_TIMESTAMP(6)) AS seconds,
       s.relay_host
  FROM call_sessions s
  LEFT JOIN agents a ON a.id = s.agent_id
 WHERE s.status = 'connected'
   AND (s.twilio_status IS NULL OR s.twilio_status NOT IN
        ('completed', 'busy', 'failed', 'no-answer', 'canceled'));

-- The call log: one row per call.
CREATE VIEW call_log AS
SELECT s.created_at, s.session_id, s.call_sid, a.name AS agent,
       s.from_number, s.to_number, s.status, s.twilio_status,
       COALESCE(s.duration_s,
                TIMESTAMPDIFF(SECOND, s.connected_at, s.ended_at)) AS duration_s,
       s.end_reason, s.transfer_to, s.input_tokens, s.output_tokens,
       (SELECT COUNT(*) FROM call_events e
         WHERE e.session_id = s.session_id AND e.kind = 'transcript') AS transcript_lines
  FROM call_sessions s
  LEFT JOIN agents a ON a.id = s.agent_id;
