#!/bin/bash
# Every way a stream is refused: bad or missing signature, malformed,
# unknown, expired, reused session ids, a foreign callSid, no start, too
# many calls.  None of them opens an OpenAI connection.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
. "$top_srcdir/tests/lib/relay.sh"
CLEANUP="relay_stop fake_stop wh_stop db_stop"

db_start
db_sql "INSERT INTO agents (name) VALUES ('support');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550199', 1);"
fake_start
relay_config "$TEST_TMP/callbridge.conf" "max_calls = 2"
wh_start
relay_start

openai_connections() { cat "$FAKE_DIR/connections.log" 2>/dev/null | wc -l; }
status_of() { db_sql "SELECT status FROM call_sessions WHERE session_id = '$1'"; }

refused_before_upgrade() { # DESCRIPTION sim-args...
	local desc=$1 res; shift
	res=$(sim -D 1000 "$@")
	is "$(json_field "$res" upgrade_status)" 403 "$desc: refused with 403 before the upgrade"
}

read -r sid cs <<<"$(new_session)"
refused_before_upgrade "wrong signature" -B "$sid:$cs"
refused_before_upgrade "no signature" -N "$sid:$cs"
res=$("$TWILIO_SIM" -u "ws://127.0.0.1:$RELAY_PORT" -P "wss://other.example.com" -t "$WH_TOKEN" -D 1000 "$sid:$cs")
is "$(json_field "$res" upgrade_status)" 403 "signature over another URL: 403"
res=$("$TWILIO_SIM" -u "ws://127.0.0.1:$RELAY_PORT" -P "$WH_RELAY" -t wrong-token -D 1000 "$sid:$cs")
is "$(json_field "$res" upgrade_status)" 403 "signature with another auth token: 403"
refused_before_upgrade "malformed session id" "not-a-session-id:$cs"
refused_before_upgrade "upper-case session id" "$(printf '%s' "$sid" | tr a-f A-F):$cs"
is "$(status_of "$sid")" pending "refused upgrades leave the session claimable"

# Valid shape, signed, but the database says no: closed with 1008.
closed_1008() { # DESCRIPTION sim-args...
	local desc=$1 res; shift
	res=$(sim -D 1500 "$@")
	is "$(json_field "$res" close_code)" 1008 "$desc: closed with 1008"
	is "$(json_field "$res" heard_bytes)" 0 "$desc: nothing heard"
}
closed_1008 "unknown session" "$(cat /proc/sys/kernel/random/uuid):$cs"

read -r sid2 cs2 <<<"$(new_session)"
db_sql "UPDATE call_sessions SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE session_id = '$sid2'"
closed_1008 "expired session" "$sid2:$cs2"
like "$(cat "$RELAY_LOG")" "\[$sid2\] stream refused: session expired" "the log says the session expired"

read -r sid3 cs3 <<<"$(new_session)"
read -r sid4 cs4 <<<"$(new_session)"
closed_1008 "a start with another call's callSid" -C "$cs4" "$sid3:$cs3"
is "$(status_of "$sid3")" failed "foreign callSid: the session is failed"
closed_1008 "a session used once already" "$sid3:$cs3"
like "$(cat "$RELAY_LOG")" "\[$sid3\] stream refused: session already claimed" "the log says it was claimed"

res=$(sim -D 3500 -S "$sid4:$cs4")
is "$(json_field "$res" close_code)" 1008 "no start within start_timeout: closed with 1008"
like "$(db_sql "SELECT end_reason FROM call_sessions WHERE session_id = '$sid4'")" 'no start message in time' "  ... and the reason is stored"

is "$(openai_connections)" 0 "no refused stream opened an OpenAI connection"

# max_calls = 2: a third concurrent stream is refused before the upgrade.
read -r a ca <<<"$(new_session)"
read -r b cb <<<"$(new_session)"
read -r c cc <<<"$(new_session)"
sim -D 3000 "$a:$ca" "$b:$cb" >"$TEST_TMP/two" &
two=$!
# The relay counts a call from its upgrade: the third comes once both are in.
eventually 20 relay_logged "\[$a\] stream connected" &&
	eventually 20 relay_logged "\[$b\] stream connected"
ok $? "two calls in progress"
res=$(sim -D 500 "$c:$cc")
ok "$([ "$(json_field "$res" upgrade_status)" = 503 ]; echo $?)" "a call beyond max_calls is refused with 503 (got $(json_field "$res" upgrade_status))"
wait "$two"
is "$?" 0 "the two calls within max_calls complete"
is "$(status_of "$c")" pending "the refused third session stays pending (Twilio's connect-action gives the fallback)"

relay_stop
is "$RELAY_STATUS" 0 "the relay exits 0 on SIGTERM"
wh_stop
no_sanitizer_reports

done_testing
