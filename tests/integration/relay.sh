#!/bin/bash
# callbridge-relay end to end: the webhook issues a session, the Twilio
# simulator streams a call into the relay, the fake OpenAI server answers;
# every numbered step of a call is checked on the wire and in MariaDB.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
. "$top_srcdir/tests/lib/relay.sh"
CLEANUP="relay_stop fake_stop wh_stop db_stop"

db_start
db_sql "INSERT INTO agents (name, model, voice, instructions) VALUES ('sales', 'gpt-realtime', 'cedar', 'You sell things.');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550199', 1);
	INSERT INTO agents (name, model, instructions, greeting) VALUES ('greeter', 'fake-greeting', 'Greet.', 'Hello & welcome!');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550198', 2);
	INSERT INTO agent_tools (agent_id, name, description, parameters, kind, url) VALUES
	    (1, 'lookup_order', 'Find an order', '{\"type\":\"object\",\"properties\":{\"order_id\":{\"type\":\"string\"}}}', 'http', 'https://tools.example.com/o');
	INSERT INTO agent_tools (agent_id, name, parameters, kind) VALUES (1, 'broken', '{oops', 'end_call');"
fake_start
relay_config "$TEST_TMP/callbridge.conf"
wh_start
relay_start

field() { db_sql "SELECT $2 FROM call_sessions WHERE session_id = '$1'"; }
conn_file() { # the recording of the OpenAI connection whose session.update names this voice/model
	printf '%s/conn-%s.jsonl' "$FAKE_DIR" "$1"
}

# --- a whole call: caller speaks twice, hears its own audio back (echo)
read -r sid cs <<<"$(new_session)"
res=$(sim -D 4000 -T s600,q1400 -F 5@2500 "$sid:$cs")
is "$?" 0 "simulated call completes"
is "$(json_field "$res" upgrade_status)" 101 "the relay accepts the signed upgrade"
ok "$([ "$(json_field "$res" heard_bytes)" -ge 4800 ]; echo $?)" "the caller hears the agent ($(json_field "$res" heard_bytes) bytes)"
is "$(json_field "$res" heard_foreign_bytes)" 0 "the caller hears exactly its own agent's audio"
is "$(json_field "$res" marks_echoed)" "$(json_field "$res" marks_received)" "every mark the relay sent was echoed"
ok "$([ "$(json_field "$res" marks_received)" -gt 0 ]; echo $?)" "a mark follows the agent's audio"
is "$(json_field "$res" protocol_errors)" 0 "every message to Twilio is well-formed and names the stream"
# The relay stores the end, and closes OpenAI's socket, after the caller's
# side closed: wait for both (and for the call's 5 transcripts and digit).
eventually 10 session_over "$sid"
eventually 10 rec_closed "$(conn_file 1)"
eventually 10 events_at_least "$sid" 5 transcript dtmf
stream=$(json_field "$res" stream_sid)
is "$(field "$sid" "CONCAT(status, '|', end_reason, '|', stream_sid, '|', ended_at IS NOT NULL, '|', connected_at IS NOT NULL)")" \
	"ended|caller hung up (stop)|$stream|1|1" "session: ended, with the stream, the reason and the times"
like "$(field "$sid" relay_host)" 'pid [0-9]+ call [0-9]+' "session: the relay that served it"
f=$(conn_file 1)
head -1 "$f" >"$TEST_TMP/connect"
like "$(cat "$TEST_TMP/connect")" '"model":"gpt-realtime"' "OpenAI: ?model= from the agent"
like "$(cat "$TEST_TMP/connect")" "\"authorization\":\"Bearer $OPENAI_KEY\"" "OpenAI: Authorization: Bearer key"
like "$(cat "$TEST_TMP/connect")" '"beta_header":false' "OpenAI: no OpenAI-Beta header"
upd=$(grep -m1 '"session.update"' "$f")
like "$upd" '"session":\{"type":"realtime"' "session.update in the GA shape (type realtime)"
like "$upd" '"input":\{"format":\{"type":"audio/pcmu"\}' "  ... pcmu in"
like "$upd" '"output":\{"format":\{"type":"audio/pcmu"\},"voice":"cedar"\}' "  ... pcmu out with the agent's voice"
like "$upd" '"instructions":"You sell things."' "  ... the agent's instructions"
like "$upd" '"turn_detection":\{"type":"server_vad"' "  ... server VAD"
like "$upd" '"transcription":\{"model":"gpt-4o-transcribe"\}' "  ... input transcription"
like "$upd" '"tools":\[\{"type":"function","name":"lookup_order","description":"Find an order","parameters":\{"type":"object"' "  ... the agent's valid tools"
unlike "$upd" 'broken|tools.example.com' "  ... without the invalid tool or any URL"
like "$(cat "$RELAY_LOG")" 'tool "broken" skipped: parameters is not valid JSON' "the invalid tool is skipped with a logged reason"
# Caller audio went to OpenAI unchanged: every append carries 160 bytes of 0x10 or silence.
appends=$(grep -c '"input_audio_buffer.append"' "$f")
ok "$([ "$appends" -ge 180 ]; echo $?)" "caller audio forwarded ($appends appends for 4 s of 20 ms frames)"
bad=$(grep '"input_audio_buffer.append"' "$f" | grep -vcE '"audio":"(EBAQ[A-Za-z0-9+/=]*|//////[A-Za-z0-9+/=]*)"')
is "$bad" 0 "every append carries Twilio's payload unchanged"
like "$(tail -1 "$f")" '"closed":\{"by":"client"' "the relay closed OpenAI's socket when the call ended"
is "$(db_sql "SELECT GROUP_CONCAT(CONCAT(kind, ':', COALESCE(role, '-'), ':', content) ORDER BY seq SEPARATOR '|') FROM call_events WHERE session_id = '$sid' AND kind IN ('transcript', 'dtmf')")" \
	"transcript:user:caller said 4800 bytes|transcript:assistant:echo of 600 ms|dtmf:-:5|transcript:user:caller said 4800 bytes|transcript:assistant:echo of 600 ms" \
	"transcripts and the DTMF digit stored in order"
grep -q '"text":"The caller pressed 5 on the keypad."' "$f"
ok $? "the DTMF digit is told to the model"
ok "$([ "$(field "$sid" input_tokens)" -gt 0 ] && [ "$(field "$sid" output_tokens)" -gt 0 ]; echo $?)" \
	"token usage summed on the session ($(field "$sid" input_tokens) in, $(field "$sid" output_tokens) out)"

# --- the greeting: the agent speaks first
read -r sid cs <<<"$(new_session +18005550198)"
res=$(sim -D 2500 -T q2500 -E 0x55 "$sid:$cs")
ok "$([ "$(json_field "$res" heard_bytes)" -ge 7000 ]; echo $?)" "greeting: heard before the caller said anything ($(json_field "$res" heard_bytes) bytes)"
is "$(json_field "$res" heard_foreign_bytes)" 0 "greeting: nothing but the greeting"
f=$(grep -l '"model":"fake-greeting"' "$FAKE_DIR"/conn-*.jsonl | head -1)
like "$(grep '"response.create"' "$f" | head -1)" 'Hello & welcome!' "greeting: response.create asks for the agent's greeting"

relay_stop
is "$RELAY_STATUS" 0 "the relay exits 0 on SIGTERM"
wh_stop
no_sanitizer_reports

done_testing
