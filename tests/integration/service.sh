#!/bin/bash
# The programs under a service manager, as their systemd units run them:
# the webhook on a socket handed over as fd 0 (socket activation), both
# programs telling $NOTIFY_SOCKET when they serve (READY=1) and when they
# stop (STOPPING=1), and a manager socket that is gone changing nothing.
# tests/tools/svc-run plays systemd's part.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
. "$top_srcdir/tests/lib/relay.sh"
SVC_RUN=$top_builddir/tests/tools/svc-run
CLEANUP="svc_stop relay_stop fake_stop db_stop"

svc_stop() {
	local pid
	for pid in ${SVC_PIDS:-}; do
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	SVC_PIDS=
}

db_start
db_sql "INSERT INTO agents (name) VALUES ('support');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550100', 1);"
fake_start
relay_config "$TEST_TMP/callbridge.conf"

# ---- the webhook, socket-activated
WH_SOCK=$TEST_TMP/activated.sock
WH_NOTIFY=$TEST_TMP/webhook.notify
"$SVC_RUN" -S "$WH_SOCK:0660::" -N "$WH_NOTIFY" -- \
	"$WEBHOOK" -c "$TEST_TMP/callbridge.conf" >"$TEST_TMP/webhook.log" 2>&1 &
WH_SVC=$!
SVC_PIDS=$WH_SVC
eventually 10 grep -Eqs '^READY=1' "$WH_NOTIFY"
ok $? "the webhook on fd 0 tells the manager READY=1"
like "$(cat "$WH_NOTIFY")" 'STATUS=serving on fd 0 with [0-9]+ threads' "  ... with a STATUS line"
like "$(grep ' ready: ' "$TEST_TMP/webhook.log")" 'on fd 0' "  ... and logs that it serves fd 0"
is "$(stat -c %a "$WH_SOCK")" 660 "the manager's socket keeps its mode"
resp=$(fcgi GET /api/health/)
is "$(resp_status "$resp")" 200 "a request through the inherited socket is answered"
like "$(resp_body "$resp")" '"database": *"ok"' "  ... and the database answers"
resp=$(twilio_post /api/webhook/ CallSid="$(new_call_sid)" AccountSid="$ACCOUNT_SID" \
	From=+15551230000 To=+18005550100 CallStatus=ringing)
like "$(resp_body "$resp")" '<Response>' "  ... a signed incoming call gets TwiML"
kill -TERM "$WH_SVC"
wait "$WH_SVC"
is "$?" 0 "SIGTERM: the webhook exits 0"
SVC_PIDS=
like "$(cat "$WH_NOTIFY")" 'STOPPING=1' "  ... after telling the manager STOPPING=1"
ok "$([ -S "$WH_SOCK" ]; echo $?)" "  ... and leaves the manager's socket alone"

# ---- the relay, Type=notify
RELAY_NOTIFY=$TEST_TMP/relay.notify
"$SVC_RUN" -N "$RELAY_NOTIFY" -- \
	"$RELAY" -c "$TEST_TMP/callbridge.conf" >"$TEST_TMP/relay-svc.log" 2>&1 &
RELAY_SVC=$!
SVC_PIDS=$RELAY_SVC
eventually 10 grep -Eqs '^READY=1' "$RELAY_NOTIFY"
ok $? "the relay tells the manager READY=1"
(exec 3<>"/dev/tcp/127.0.0.1/$RELAY_PORT") 2>/dev/null
ok $? "  ... once it accepts connections on its port"
like "$(cat "$RELAY_NOTIFY")" "STATUS=streams on 127.0.0.1:$RELAY_PORT, up to [0-9]+ calls" "  ... with a STATUS line"
is "$(grep -c '^READY=1' "$RELAY_NOTIFY")" 1 "  ... once"
kill -TERM "$RELAY_SVC"
wait "$RELAY_SVC"
is "$?" 0 "SIGTERM: the relay exits 0"
SVC_PIDS=
like "$(cat "$RELAY_NOTIFY")" 'STOPPING=1 \| STATUS=draining: calls in progress may go on for 2 s' \
	"  ... after telling the manager STOPPING=1 and that it drains"

# ---- a manager socket that is not there: a warning, nothing else
NOTIFY_SOCKET=$TEST_TMP/nobody.sock relay_start
ok $? "the relay starts when \$NOTIFY_SOCKET leads nowhere"
like "$(cat "$RELAY_LOG")" 'cannot notify the service manager' "  ... and says it could not notify"
relay_stop
NOTIFY_SOCKET=relative.sock "$WEBHOOK" -c "$TEST_TMP/callbridge.conf" \
	-l "unix:$TEST_TMP/plain.sock" >"$TEST_TMP/webhook2.log" 2>&1 &
WH2=$!
eventually 10 grep -Eqs ' ready: ' "$TEST_TMP/webhook2.log"
ok $? "the webhook starts with a malformed \$NOTIFY_SOCKET"
like "$(cat "$TEST_TMP/webhook2.log")" 'cannot notify the service manager: Invalid argument' "  ... and says why it could not notify"
kill -TERM "$WH2"
wait "$WH2"
is "$?" 0 "  ... and exits 0 on SIGTERM"

no_sanitizer_reports
done_testing
