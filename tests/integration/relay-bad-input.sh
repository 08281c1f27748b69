#!/bin/bash
# Hostile or broken messages on Twilio's side of the relay: each ends only
# its own call, with a close code and a stored reason; the relay keeps
# serving other calls.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
. "$top_srcdir/tests/lib/relay.sh"
CLEANUP="relay_stop fake_stop wh_stop db_stop"
WS_PROBE=$top_builddir/tests/tools/ws-probe

db_start
db_sql "INSERT INTO agents (name) VALUES ('support');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550199', 1);"
fake_start
relay_config "$TEST_TMP/callbridge.conf" "max_message = 1024"
wh_start
relay_start

# probe SID SCRIPT: a signed WebSocket to the relay that sends SCRIPT's lines.
probe() {
	local sid=$1 path="/ws/realtime/$1/"
	printf '%s\n' "$2" >"$TEST_TMP/script"
	"$WS_PROBE" -t 8 -H "X-Twilio-Signature: $(twilio_sign "$WH_RELAY$path")" \
		"ws://127.0.0.1:$RELAY_PORT$path" "$TEST_TMP/script"
}
start_msg() { # CALLSID STREAMSID
	printf '{"event":"start","sequenceNumber":"1","start":{"accountSid":"%s","streamSid":"%s","callSid":"%s","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{}},"streamSid":"%s"}' \
		"$ACCOUNT_SID" "$2" "$1" "$2"
}
reason() { db_sql "SELECT CONCAT(status, '|', end_reason) FROM call_sessions WHERE session_id = '$1'"; }
MZ=MZ0123456789abcdef0123456789abcdef

read -r sid cs <<<"$(new_session)"
out=$(probe "$sid" '{"event":"connected","protocol":"Call","version":"1.0.0"}
{"event": this is not json')
like "$out" '#closed server 1007' "malformed JSON from Twilio: closed with 1007"
eventually 10 session_over "$sid"
is "$(reason "$sid")" "failed|malformed message from Twilio" "  ... the session says why"

read -r sid cs <<<"$(new_session)"
big=$(head -c 1500 /dev/zero | tr '\0' 'A')
out=$(probe "$sid" "{\"event\":\"media\",\"media\":{\"payload\":\"$big\"}}")
like "$out" '#closed server 1009' "a message over max_message (1024): closed with 1009"
eventually 10 session_over "$sid"
is "$(reason "$sid")" "failed|message from Twilio over max_message" "  ... the session says why"

read -r sid cs <<<"$(new_session)"
out=$(probe "$sid" "$(start_msg "$cs" "$MZ")
#sleep 300
{\"event\":\"media\",\"streamSid\":\"MZffffffffffffffffffffffffffffffff\",\"media\":{\"payload\":\"//8=\"}}")
like "$out" '#closed server 1008' "a message for another stream: closed with 1008"
eventually 10 session_over "$sid"
is "$(reason "$sid")" "failed|message for another stream" "  ... the session says why"

read -r sid cs <<<"$(new_session)"
out=$(probe "$sid" '{"event":"start","start":{"callSid":12}}')
like "$out" '#closed server 1008' "a start without a callSid string: closed with 1008"

read -r sid cs <<<"$(new_session)"
out=$(probe "$sid" "$(start_msg "$cs" "$MZ")
{\"event\":\"media\"}
{\"event\":\"media\",\"media\":{\"payload\":17}}
{\"event\":\"mark\",\"mark\":{\"name\":\"no:such:mark\"}}
{\"event\":\"dtmf\",\"dtmf\":{\"digit\":\"<script>\"}}
{\"event\":\"unknown-event\"}
#sleep 500
{\"event\":\"stop\",\"streamSid\":\"$MZ\"}")
like "$out" '#closed server 1000' "odd but well-formed messages are ignored; stop ends the call normally"
eventually 10 session_over "$sid"
is "$(reason "$sid")" "ended|caller hung up (stop)" "  ... as a normal end"
is "$(db_sql "SELECT COUNT(*) FROM call_events WHERE session_id = '$sid' AND kind = 'dtmf'")" 0 "  ... an invalid DTMF digit is not stored"

read -r sid cs <<<"$(new_session)"
out=$(probe "$sid" '[1,2,3]')
like "$out" '#closed server 1007' "JSON that is not an object: closed with 1007"

# Other calls are unaffected.
read -r sid cs <<<"$(new_session)"
res=$(sim -D 2500 "$sid:$cs")
is "$(json_field "$res" closed_by)" client "after all that, a normal call works"
ok "$([ "$(json_field "$res" heard_bytes)" -gt 0 ]; echo $?)" "  ... and the caller hears the agent"

relay_stop
is "$RELAY_STATUS" 0 "the relay exits 0 on SIGTERM"
wh_stop
no_sanitizer_reports
done_testing
