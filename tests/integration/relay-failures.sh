#!/bin/bash
# When the AI side fails, the caller is never left in silence: the session
# is failed with the reason, the relay closes Twilio's stream, and the
# connect-action route gives the agent's fallback.  OpenAI error events
# that leave the session usable do not end the call.  Barge-in.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
. "$top_srcdir/tests/lib/relay.sh"
CLEANUP="relay_stop fake_stop wh_stop db_stop"

db_start
n=0
for model in fake-refuse fake-close fake-hang fake-error fake-long fake-function; do
	n=$((n + 1))
	db_sql "INSERT INTO agents (name, model, fallback_message) VALUES ('$model', '$model', 'Sorry, please call back.');
		INSERT INTO phone_numbers (number, agent_id) VALUES ('+1800555010$n', $n);"
done
fake_start
relay_config "$TEST_TMP/callbridge.conf"
wh_start
relay_start

field() { db_sql "SELECT $2 FROM call_sessions WHERE session_id = '$1'"; }
fallback() { # CALLSID: what Twilio gets from connect-action once the stream closed
	resp_body "$(twilio_post /api/connect-action/ CallSid="$1" AccountSid=$ACCOUNT_SID CallStatus=in-progress)"
}

# --- OpenAI refuses the WebSocket
read -r sid cs <<<"$(new_session +18005550101)"
t0=$(now_ms)
res=$(sim -D 8000 "$sid:$cs")
t1=$(now_ms)
is "$(json_field "$res" closed_by)" server "OpenAI refuses: the relay closes Twilio's stream"
is "$(json_field "$res" close_code)" 1011 "  ... with 1011"
ok "$([ $((t1 - t0)) -lt 4000 ]; echo $?)" "  ... at once, not after the call's 8 s ($((t1 - t0)) ms)"
eventually 10 session_over "$sid"
like "$(field "$sid" "CONCAT(status, '|', end_reason)")" '^failed\|OpenAI connection failed' "  ... session failed with the reason"
like "$(fallback "$cs")" '<Say>Sorry, please call back.</Say><Hangup/>' "  ... and the caller hears the agent's fallback"

# --- OpenAI closes mid-call
read -r sid cs <<<"$(new_session +18005550102)"
res=$(sim -D 8000 "$sid:$cs")
is "$(json_field "$res" close_code)" 1011 "OpenAI closes mid-call: Twilio's stream closed with 1011"
ok "$([ "$(json_field "$res" duration_ms)" -lt 5000 ]; echo $?)" "  ... soon after ($(json_field "$res" duration_ms) ms)"
eventually 10 session_over "$sid"
like "$(field "$sid" "CONCAT(status, '|', end_reason)")" '^failed\|OpenAI closed the session \(1011 server error\)' "  ... session failed with OpenAI's close code"
like "$(fallback "$cs")" '<Say>Sorry, please call back.</Say>' "  ... fallback"

# --- OpenAI accepts and never answers
read -r sid cs <<<"$(new_session +18005550103)"
res=$(sim -D 10000 "$sid:$cs")
is "$(json_field "$res" close_code)" 1011 "OpenAI hangs: Twilio's stream closed with 1011"
ok "$([ "$(json_field "$res" duration_ms)" -lt 6000 ]; echo $?)" "  ... after connect_timeout (3 s), not the call ($(json_field "$res" duration_ms) ms)"
eventually 10 session_over "$sid"
like "$(field "$sid" "CONCAT(status, '|', end_reason)")" '^failed\|OpenAI did not open the session in time' "  ... with the reason"

# --- an error event that leaves the session usable
read -r sid cs <<<"$(new_session +18005550104)"
res=$(sim -D 3000 "$sid:$cs")
is "$(json_field "$res" closed_by)" client "a non-fatal OpenAI error does not end the call"
ok "$([ "$(json_field "$res" heard_bytes)" -gt 0 ]; echo $?)" "  ... the caller still hears the agent"
eventually 10 session_over "$sid"
eventually 10 events_at_least "$sid" 1 error
is "$(field "$sid" status)" ended "  ... the session ends normally"
like "$(db_sql "SELECT content FROM call_events WHERE session_id = '$sid' AND kind = 'error'")" \
	'^conversation_already_has_active_response: ' "  ... the error is recorded"

# --- barge-in: the caller talks over a long answer
read -r sid cs <<<"$(new_session +18005550105)"
res=$(sim -D 4500 -T s400,q700,s400,q3000 "$sid:$cs")
ok "$([ "$(json_field "$res" clears)" -ge 1 ]; echo $?)" "barge-in: the relay clears Twilio's playback ($(json_field "$res" clears) clear)"
heard=$(json_field "$res" heard_bytes)
ok "$([ "$heard" -lt 32000 ]; echo $?)" "barge-in: the caller heard $heard bytes, not the whole 8 s answer (64000)"
like "$(cat "$RELAY_LOG")" "\[$sid\] barge-in: cleared playback, item item_[0-9]+ truncated at [0-9]+ ms of 8000 ms sent" \
	"barge-in: the relay logs what it cut"
f=$(grep -l '"model":"fake-long"' "$FAKE_DIR"/conn-*.jsonl | head -1)
tr=$(grep -m1 '"conversation.item.truncate"' "$f")
like "$tr" '"item_id":"item_[0-9]+","content_index":0,"audio_end_ms":[0-9]+' "barge-in: conversation.item.truncate sent"
end_ms=$(printf '%s' "$tr" | sed 's/.*"audio_end_ms":\([0-9]*\).*/\1/')
ok "$([ "$end_ms" -le 8000 ] && [ "$end_ms" -le $((heard / 8 + 200)) ]; echo $?)" \
	"barge-in: audio_end_ms ($end_ms) is what was played ($((heard / 8)) ms heard), never more than sent"
unlike "$(cat "$FAKE_DIR"/conn-*.jsonl | grep -c 'already shorter')" '^[1-9]' "barge-in: OpenAI never rejects the truncate"

# --- a function call before tools exist: an error output, and the model goes on
read -r sid cs <<<"$(new_session +18005550106)"
res=$(sim -D 4000 -T s600,q3400 -E 0x66 "$sid:$cs")
is "$(json_field "$res" closed_by)" client "function call: the call goes on"
ok "$([ "$(json_field "$res" heard_bytes)" -ge 7000 ]; echo $?)" "function call: the caller hears the answer given after the tool output ($(json_field "$res" heard_bytes) bytes)"
f=$(grep -l '"model":"fake-function"' "$FAKE_DIR"/conn-*.jsonl | head -1)
like "$(grep '"function_call_output"' "$f")" '"call_id":"call_1","output":"\{\\"error\\":' "function call: an error output for its call_id"
like "$(grep -A1 '"function_call_output"' "$f" | tail -1)" '"type":"response.create"' "function call: then response.create"
eventually 10 events_at_least "$sid" 1 function_call
like "$(db_sql "SELECT content FROM call_events WHERE session_id = '$sid' AND kind = 'function_call'")" \
	'^lookup_order\(\{"order_id":"42"\}\)' "function call: recorded as an event"

relay_stop
is "$RELAY_STATUS" 0 "the relay exits 0 on SIGTERM"
wh_stop
no_sanitizer_reports

done_testing
