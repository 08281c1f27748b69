#!/bin/bash
# 50 calls at once through one relay: each caller streams its own audio
# pattern to its own agent (echo) and must hear only that, with every
# session stored on its own.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
. "$top_srcdir/tests/lib/relay.sh"
CLEANUP="relay_stop fake_stop wh_stop db_stop"
N=50

db_start
for i in 1 2 3 4 5; do
	db_sql "INSERT INTO agents (name, instructions) VALUES ('agent$i', 'Agent number $i.');
		INSERT INTO phone_numbers (number, agent_id) VALUES ('+1800555020$i', $i);"
done
fake_start
relay_config "$TEST_TMP/callbridge.conf"
wh_start
relay_start

calls=()
for i in $(seq 1 $N); do
	read -r sid cs <<<"$(new_session "+1800555020$(( (i - 1) % 5 + 1 ))")"
	calls+=("$sid:$cs")
done
is "${#calls[@]}" $N "$N sessions issued by the webhook"

sim -D 4000 -T s600,q1400 -j "$TEST_TMP/results" "${calls[@]}"
is "$?" 0 "$N simultaneous calls complete"
is "$(wc -l <"$TEST_TMP/results")" $N "one result per call"
is "$(grep -c '"upgrade_status":101' "$TEST_TMP/results")" $N "every stream accepted"
is "$(grep -c '"heard_foreign_bytes":0,' "$TEST_TMP/results")" $N "no caller hears anybody else's audio"
short=$(sed -n 's/.*"heard_bytes":\([0-9]*\).*/\1/p' "$TEST_TMP/results" | awk '$1 < 4800' | wc -l)
is "$short" 0 "every caller hears its own agent (at least 600 ms of echo each)"
is "$(grep -c '"protocol_errors":0,' "$TEST_TMP/results")" $N "no malformed message to any caller"
# The relay stores each end after the caller's side closed, in its own time.
all_ended() { [ "$(db_sql "SELECT COUNT(*) FROM call_sessions WHERE status IN ('ended', 'failed')")" -ge $N ]; }
eventually 20 all_ended
is "$(db_sql "SELECT COUNT(*) FROM call_sessions WHERE status = 'ended' AND end_reason = 'caller hung up (stop)'")" $N \
	"$N sessions ended, each with its reason"
is "$(db_sql "SELECT COUNT(DISTINCT relay_host) FROM call_sessions")" $N "each call claimed its own session"
is "$(db_sql "SELECT COUNT(*) FROM (SELECT session_id FROM call_events WHERE kind = 'transcript' GROUP BY session_id HAVING COUNT(*) >= 2) t")" $N \
	"every call has its own transcript"
is "$(cat "$FAKE_DIR/connections.log" | wc -l)" $N "one OpenAI session per call"
# Each OpenAI session got the instructions of the agent of its number.
mism=0
for f in "$FAKE_DIR"/conn-*.jsonl; do
	grep -q '"instructions":"Agent number [1-5]."' "$f" || mism=$((mism + 1))
done
is "$mism" 0 "every OpenAI session carries its agent's instructions"

relay_stop
is "$RELAY_STATUS" 0 "the relay exits 0 on SIGTERM"
wh_stop
no_sanitizer_reports

done_testing
