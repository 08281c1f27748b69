#!/bin/bash
# The schema: the migrations build every table and view of the contract,
# refuse a second run, enforce their constraints, and the webhook refuses
# a schema version it does not know.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
CLEANUP="wh_stop db_stop"

db_start
is "$(db_sql "SELECT GROUP_CONCAT(table_name ORDER BY BINARY table_name) FROM information_schema.tables WHERE table_schema = 'callbridge'")" \
	"agent_tools,agents,call_events,call_log,call_sessions,calls_in_progress,phone_numbers,schema_version" \
	"all tables and views exist"
is "$(db_sql "SELECT GROUP_CONCAT(version) FROM schema_version")" 1 "schema_version records migration 1"

out=$(mariadb --no-defaults -S "$DB_SOCK" -u root callbridge <"$top_srcdir/schema/001_initial.sql" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "applying a migration twice fails"
like "$out" "Duplicate entry '1'" "  ... on schema_version, before changing anything"

# One short INSERT makes an agent.
db_sql "INSERT INTO agents (name, instructions) VALUES ('minimal', 'Be brief.')"
is "$(db_sql "SELECT CONCAT(model, '/', voice, '/', enabled) FROM agents WHERE name = 'minimal'")" "gpt-realtime/marin/1" \
	"an agent from one short INSERT gets sensible defaults"
db_sql "INSERT INTO phone_numbers (number, agent_id) VALUES ('+15550001111', 1)"
is "$(db_sql "SELECT enabled FROM phone_numbers WHERE number = '+15550001111'")" 1 "a number from one short INSERT is enabled"

refused() { # SQL DESCRIPTION
	db_sql "$1" >/dev/null 2>&1
	ok "$([ $? -ne 0 ]; echo $?)" "refused: $2"
}
refused "INSERT INTO agents (name) VALUES ('minimal')" "a second agent with the same name"
refused "INSERT INTO phone_numbers (number, agent_id) VALUES ('5550001111', 1)" "a number not in E.164"
refused "INSERT INTO phone_numbers (number, agent_id) VALUES ('+15550002222', 99)" "a number for a missing agent"
refused "INSERT INTO agents (name, fallback_number) VALUES ('x', '0900-PREMIUM')" "a fallback number that is not E.164 or SIP"
refused "INSERT INTO agent_tools (agent_id, name, kind) VALUES (1, 'lookup', 'http')" "an http tool without a URL"
refused "INSERT INTO agent_tools (agent_id, name, kind) VALUES (1, 'human', 'transfer_call')" "a transfer tool without a destination"
refused "INSERT INTO agent_tools (agent_id, name, kind, transfer_to) VALUES (1, 'human', 'transfer_call', 'anywhere')" "a transfer destination that is not E.164 or SIP"
refused "INSERT INTO agent_tools (agent_id, name, kind) VALUES (1, 'bad name!', 'end_call')" "a tool name the model cannot use"
refused "INSERT INTO agent_tools (agent_id, name, kind, timeout_ms) VALUES (1, 'slow', 'end_call', 600000)" "a tool timeout over 60 s"
refused "INSERT INTO agent_tools (agent_id, name, kind) VALUES (1, 'x', 'shell')" "an unknown tool kind"
refused "DELETE FROM agents WHERE id = 1" "deleting an agent that still has numbers"
db_sql "INSERT INTO agent_tools (agent_id, name, kind, url) VALUES (1, 'lookup', 'http', 'https://tools.example.com/x')"
is "$(db_sql "SELECT timeout_ms FROM agent_tools WHERE name = 'lookup'")" 5000 "tools default to a 5 s timeout"

# The views.
db_sql "INSERT INTO call_sessions (session_id, call_sid, agent_id, from_number, to_number, status, expires_at, connected_at)
	VALUES ('11111111-1111-4111-8111-111111111111', 'CA1', 1, '+1415', '+15550001111', 'connected', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) - INTERVAL 30 SECOND),
	       ('22222222-2222-4222-8222-222222222222', 'CA2', 1, '+1415', '+15550001111', 'connected', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));
	UPDATE call_sessions SET twilio_status = 'completed' WHERE call_sid = 'CA2';
	INSERT INTO call_events (session_id, seq, kind, role, content) VALUES
	       ('11111111-1111-4111-8111-111111111111', 1, 'transcript', 'user', 'Hello'),
	       ('11111111-1111-4111-8111-111111111111', 2, 'transcript', 'assistant', 'Hi!');"
is "$(db_sql "SELECT CONCAT(call_sid, '/', agent, '/', seconds >= 29) FROM calls_in_progress")" "CA1/minimal/1" \
	"calls_in_progress: connected calls Twilio has not reported finished"
is "$(db_sql "SELECT CONCAT(call_sid, '/', agent, '/', status, '/', transcript_lines) FROM call_log ORDER BY call_sid")" \
	"$(printf 'CA1/minimal/connected/2\nCA2/minimal/connected/0')" "call_log: one row per call with its transcript size"
refused "INSERT INTO call_events (session_id, seq, kind, content) VALUES ('11111111-1111-4111-8111-111111111111', 2, 'dtmf', '5')" \
	"two events with the same seq in one session"
db_sql "DELETE FROM call_sessions WHERE call_sid = 'CA1'"
is "$(db_sql "SELECT COUNT(*) FROM call_events")" 0 "deleting a session deletes its events"

# The webhook refuses an unknown schema version, and says what to do.
wh_config "$TEST_TMP/callbridge.conf"
db_root_sql "INSERT INTO callbridge.schema_version (version, name) VALUES (2, 'from the future')"
out=$(timeout 10 "$WEBHOOK" -c "$TEST_TMP/callbridge.conf" -l "unix:$TEST_TMP/w.sock" 2>&1)
ok "$([ $? -ne 0 ] && [ $? -ne 124 ]; echo $?)" "a newer schema: the webhook refuses to start"
like "$out" 'schema is version 2, newer than this program \(version 1\)' "  ... and says so"
db_root_sql "DROP TABLE callbridge.schema_version"
out=$(timeout 10 "$WEBHOOK" -c "$TEST_TMP/callbridge.conf" -l "unix:$TEST_TMP/w.sock" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "no schema: the webhook refuses to start"
like "$out" 'no callbridge schema; run callbridge-dbsetup \(see callbridge-dbsetup\(8\)\)' "  ... and names the command to run"

done_testing
