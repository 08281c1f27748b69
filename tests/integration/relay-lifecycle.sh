#!/bin/bash
# The relay's command line, its start-up checks, SIGTERM's drain, a
# database that goes away, and sockets that never finish their upgrade.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
. "$top_srcdir/tests/lib/relay.sh"
CLEANUP="relay_stop fake_stop wh_stop db_stop"

out=$("$RELAY" -V)
like "$out" '^callbridge-relay [0-9]+\.[0-9]+\.[0-9]+$' "-V prints the version"
like "$("$RELAY" -h)" 'usage: callbridge-relay' "-h prints the usage"
"$RELAY" -Z >/dev/null 2>&1
is "$?" 2 "an unknown option exits 2"

db_start
db_sql "INSERT INTO agents (name) VALUES ('support');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550199', 1);"
fake_start
relay_config "$TEST_TMP/callbridge.conf"
out=$("$RELAY" -t -c "$TEST_TMP/callbridge.conf" 2>&1)
is "$?" 0 "-t on a good configuration exits 0"
sed '/^api_key/d' "$TEST_TMP/callbridge.conf" >"$TEST_TMP/nokey.conf"
out=$("$RELAY" -t -c "$TEST_TMP/nokey.conf" 2>&1)
is "$?" 1 "-t without an OpenAI key exits 1"
like "$out" '\[openai\] api_key is required \(or set CALLBRIDGE_OPENAI_API_KEY\)' "  ... and names the key and its variable"
out=$(CALLBRIDGE_OPENAI_API_KEY=from-env "$RELAY" -t -c "$TEST_TMP/nokey.conf" 2>&1)
is "$?" 0 "the OpenAI key may come from the environment"
sed 's/^session_ttl = 60$/session_ttl = 60\nmax_message = 12/' "$TEST_TMP/callbridge.conf" >"$TEST_TMP/bad.conf"
out=$("$RELAY" -t -c "$TEST_TMP/bad.conf" 2>&1)
like "$out" 'bad.conf:[0-9]+: \[relay\] max_message = "12": out of range' "-t reports a bad relay key with its line"

# A schema the relay does not know: it refuses to start.
db_root_sql "INSERT INTO callbridge.schema_version (version, name) VALUES (99, 'future')"
out=$(timeout 10 "$RELAY" -c "$TEST_TMP/callbridge.conf" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "a newer schema: the relay refuses to start"
like "$out" 'schema is version 99, newer than this program' "  ... and says so"
db_root_sql "DELETE FROM callbridge.schema_version WHERE version = 99"
db_root_sql "RENAME TABLE callbridge.schema_version TO callbridge.schema_version_saved"
out=$(timeout 10 "$RELAY" -c "$TEST_TMP/callbridge.conf" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "no schema: the relay refuses to start"
like "$out" 'no callbridge schema; run callbridge-dbsetup \(see callbridge-dbsetup\(8\)\)' "  ... and names the command to run"
db_root_sql "RENAME TABLE callbridge.schema_version_saved TO callbridge.schema_version"

# A port in use: a clear error.
exec 7<>/dev/tcp/127.0.0.1/"$FAKE_PORT"
sed "s/^listen = .*/listen = 127.0.0.1:$FAKE_PORT/" "$TEST_TMP/callbridge.conf" >"$TEST_TMP/busy.conf"
out=$(timeout 10 "$RELAY" -c "$TEST_TMP/busy.conf" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "a listen address in use: the relay exits non-zero"
like "$out" 'cannot listen on \[relay\] listen' "  ... with a clear error"
exec 7>&-

wh_start
relay_start

# A TCP connection that never sends its upgrade is closed (upgrade_timeout = 3).
exec 8<>/dev/tcp/127.0.0.1/"$RELAY_PORT"
t0=$(now_ms)
timeout 8 cat <&8 >/dev/null
t1=$(now_ms)
exec 8>&-
ok "$([ $((t1 - t0)) -ge 2500 ] && [ $((t1 - t0)) -lt 7000 ]; echo $?)" "a socket that never upgrades is closed after upgrade_timeout ($((t1 - t0)) ms)"

# SIGTERM: calls in progress go on up to drain_time (2 s), new ones are refused.
read -r sid cs <<<"$(new_session)"
read -r sid2 cs2 <<<"$(new_session)"
sim -D 8000 "$sid:$cs" >"$TEST_TMP/long" &
long=$!
# SIGTERM once the call is in progress (the relay counts it from its
# upgrade), and the new stream once the relay has taken the signal.
eventually 20 relay_logged "\[$sid\] stream connected"
ok $? "the long call is in progress"
kill -TERM "$RELAY_PID"
eventually 10 relay_logged 'no new streams'
ok $? "SIGTERM: the relay says it takes no new streams"
res=$(sim -D 500 "$sid2:$cs2")
is "$(json_field "$res" upgrade_status)" 503 "while draining, a new stream is refused with 503"
wait "$long"
res=$(cat "$TEST_TMP/long")
is "$(json_field "$res" close_code)" 1001 "after drain_time the call in progress is ended (1001 going away)"
ok "$([ "$(json_field "$res" duration_ms)" -lt 6000 ]; echo $?)" "  ... after the drain time, not the call's 8 s ($(json_field "$res" duration_ms) ms)"
wait "$RELAY_PID"
is "$?" 0 "the relay exits 0 after draining"
RELAY_PID=
is "$(db_sql "SELECT CONCAT(status, '|', end_reason) FROM call_sessions WHERE session_id = '$sid'")" \
	"ended|relay shutting down (drain time over)" "the drained call's session says why it ended"

# A drain ends with the last call, not at drain_time (20 s here).
sed -i 's/^drain_time = 2$/drain_time = 20/' "$TEST_TMP/callbridge.conf"
relay_start
read -r sid cs <<<"$(new_session)"
sim -D 1500 "$sid:$cs" >"$TEST_TMP/short" &
short=$!
sleep 0.5
t0=$(now_ms)
kill -TERM "$RELAY_PID"
wait "$short"
wait "$RELAY_PID"
st=$?
t1=$(now_ms)
is "$st" 0 "a drain whose last call ends: the relay exits 0"
ok "$([ $((t1 - t0)) -lt 8000 ]; echo $?)" "  ... as soon as the call is over ($((t1 - t0)) ms after SIGTERM, drain_time 20 s)"
is "$(db_sql "SELECT status FROM call_sessions WHERE session_id = '$sid'")" ended "  ... and the call ended normally"
RELAY_PID=
sed -i 's/^drain_time = 20$/drain_time = 2/' "$TEST_TMP/callbridge.conf"

# The database goes away: streams are refused, no OpenAI session is opened.
relay_start
read -r sid cs <<<"$(new_session)"
before=$(cat "$FAKE_DIR/connections.log" | wc -l)
db_stop
res=$(sim -D 8000 "$sid:$cs")
is "$(json_field "$res" close_code)" 1008 "database down: the stream is closed with 1008"
ok "$([ "$(json_field "$res" duration_ms)" -lt 5000 ]; echo $?)" "  ... within the claim's time limit ($(json_field "$res" duration_ms) ms)"
is "$(cat "$FAKE_DIR/connections.log" | wc -l)" "$before" "database down: no OpenAI session opened"
like "$(cat "$RELAY_LOG")" "\[$sid\] claiming the session failed" "database down: the log says why"
DB_KEEP_SCHEMA=1 db_start
# The relay's connections retry with a back-off that grows to 5 s while
# the server is away: the next call goes through once one of them is back.
eventually 20 relay_logged 'database: working again'
ok $? "database back: the relay reconnects by itself"
read -r sid cs <<<"$(new_session)"
res=$(sim -D 2500 "$sid:$cs")
is "$(json_field "$res" closed_by)" client "database back: calls go through again without a restart"
ok "$([ "$(json_field "$res" heard_bytes)" -gt 0 ]; echo $?)" "  ... and the caller hears the agent"

kill -HUP "$RELAY_PID"
eventually 10 relay_logged 'SIGHUP: logs go to standard error'
kill -0 "$RELAY_PID"
ok $? "SIGHUP does not stop the relay"
relay_stop
is "$RELAY_STATUS" 0 "the relay exits 0 on SIGTERM"
wh_stop
no_sanitizer_reports

done_testing
