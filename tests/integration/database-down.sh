#!/bin/bash
# A dead or stalled database: the incoming-call route still answers 200
# with the fallback TwiML well inside Twilio's 15 s, health says 503, and
# the webhook recovers by itself when the server is back.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
CLEANUP="wh_stop db_stop"

db_start
db_sql "INSERT INTO agents (name) VALUES ('support');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550199', 1);"
wh_config "$TEST_TMP/callbridge.conf"
sed -i 's/^threads = 4$/threads = 2\nfallback_message = Please hold on, connecting you to our team.\nfallback_number = +18005550000/' \
	"$TEST_TMP/callbridge.conf"
wh_start

incoming() {
	twilio_post /api/webhook/ CallSid="${1:-$(new_call_sid)}" AccountSid=$ACCOUNT_SID \
		From=+14155550100 To=+18005550199 CallStatus=ringing
}
FALLBACK='<Response><Say>Please hold on, connecting you to our team.</Say><Dial><Number>\+18005550000</Number></Dial></Response>'
# Twilio gives up after 15 s; "a few seconds" here is under 8.
LIMIT_MS=8000

r=$(incoming)
like "$(resp_body "$r")" '<Connect action=' "database up: the call is connected"

# --- the server is gone
db_stop
t0=$(now_ms); r=$(incoming); t1=$(now_ms)
is "$(resp_status "$r")" 200 "database down: still 200"
like "$(resp_body "$r")" "$FALLBACK" "database down: fallback message, then the fallback number"
ok "$([ $((t1 - t0)) -lt $LIMIT_MS ]; echo $?)" "database down: answered in $((t1 - t0)) ms"
t0=$(now_ms); r=$(incoming); t1=$(now_ms)
like "$(resp_body "$r")" "$FALLBACK" "database still down: fallback again"
ok "$([ $((t1 - t0)) -lt $LIMIT_MS ]; echo $?)" "database still down: answered in $((t1 - t0)) ms"
r=$(fcgi GET /api/health/)
is "$(resp_status "$r")" 503 "health: 503 while the database is down"
like "$(resp_body "$r")" '"database":"unavailable"' "health says why"
r=$(twilio_post /api/connect-action/ CallSid=$(new_call_sid) AccountSid=$ACCOUNT_SID CallStatus=in-progress)
like "$(resp_body "$r")" "$FALLBACK" "connect-action with the database down: fallback"
like "$(cat "$WH_LOG")" 'database error .*answering with the fallback' "the log says why the caller got the fallback"

# --- the server comes back: no restart of the webhook needed
DB_KEEP_SCHEMA=1 db_start
sleep 1.1	# STORE_RETRY_INTERVAL_MS
cs=$(new_call_sid)
r=$(incoming "$cs")
like "$(resp_body "$r")" '<Connect action=' "database back: calls are connected again"
is "$(db_sql "SELECT status FROM call_sessions WHERE call_sid = '$cs'")" pending "database back: the session is stored"
is "$(resp_status "$(fcgi GET /api/health/)")" 200 "health: 200 again"

# --- the server hangs (SIGSTOP): timeouts, not Twilio's patience
db_pause
t0=$(now_ms); r=$(incoming); t1=$(now_ms)
is "$(resp_status "$r")" 200 "database stalled: still 200"
like "$(resp_body "$r")" "$FALLBACK" "database stalled: fallback"
ok "$([ $((t1 - t0)) -lt $LIMIT_MS ]; echo $?)" "database stalled: answered in $((t1 - t0)) ms"

# --- SIGTERM while a request waits on the stalled server: it is answered
incoming >"$TEST_TMP/inflight" &
inflight=$!
eventually 10 wh_connected
ok $? "SIGTERM: a request waits on the stalled server"
kill -TERM "$WH_PID"
wait "$inflight"
like "$(resp_body "$(cat "$TEST_TMP/inflight")")" "$FALLBACK" "SIGTERM: the request in flight still gets its answer"
wait "$WH_PID"
is "$?" 0 "SIGTERM: the webhook exits 0 after finishing it"
WH_PID=
db_resume

# --- starting while the database is down
db_stop
wh_start
kill -0 "$WH_PID"
ok $? "the webhook starts although the database is down"
like "$(cat "$WH_LOG")" 'database not reachable at start-up' "  ... and says so"
like "$(resp_body "$(incoming)")" "$FALLBACK" "  ... and answers calls with the fallback"

wh_stop
no_sanitizer_reports

done_testing
