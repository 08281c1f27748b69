#!/bin/bash
# The pre-connect audio buffer: caller audio that arrives before OpenAI's
# session is ready is kept up to [relay] preconnect_audio_ms and sent once
# it is; beyond that the oldest is dropped and the drop is logged.  The
# fake OpenAI server's "slow-created" scenario sends session.created 1.5 s
# late.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
. "$top_srcdir/tests/lib/relay.sh"
CLEANUP="relay_stop fake_stop wh_stop db_stop"

db_start
db_sql "INSERT INTO agents (name, model) VALUES ('slow', 'fake-slow-created');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550199', 1);
	INSERT INTO agents (name, model) VALUES ('big', 'fake-big');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550198', 2);"
fake_start
relay_config "$TEST_TMP/callbridge.conf" "preconnect_audio_ms = 400"
wh_start
relay_start

appends() { grep -c '"input_audio_buffer.append"' "$(ls -t "$FAKE_DIR"/conn-*.jsonl | head -1)"; }

read -r sid cs <<<"$(new_session)"
res=$(sim -D 3000 -T s3000 "$sid:$cs")
sent=$(( $(json_field "$res" sent_media_ms) / 20 ))
sleep 0.3
dropped=$(sed -n "s/.*\[$sid\] \([0-9]*\) ms of early caller audio dropped.*/\1/p" "$RELAY_LOG")
ok "$([ "${dropped:-0}" -ge 600 ]; echo $?)" "preconnect_audio_ms = 400 with a 1.5 s late session: the oldest audio is dropped (${dropped:-0} ms) and logged"
n=$(appends)
kept=$((sent - ${dropped:-0} / 20))
ok "$([ $((n - kept)) -ge -2 ] && [ $((n - kept)) -le 2 ]; echo $?)" \
	"  ... the rest reaches OpenAI: $n appends for $sent frames sent, $((${dropped:-0} / 20)) dropped"
ok "$([ $((sent - n)) -ge 40 ]; echo $?)" "  ... no more than the newest 400 ms were kept ($((sent - n)) frames never sent)"

relay_stop
sed -i 's/^preconnect_audio_ms = 400$/preconnect_audio_ms = 5000/' "$TEST_TMP/callbridge.conf"
relay_start
read -r sid cs <<<"$(new_session)"
res=$(sim -D 3000 -T s3000 "$sid:$cs")
sent=$(( $(json_field "$res" sent_media_ms) / 20 ))
sleep 0.3
n=$(appends)
ok "$([ $((sent - n)) -ge -2 ] && [ $((sent - n)) -le 2 ]; echo $?)" "the default 5 s buffer keeps it all: $n appends for $sent frames"
unlike "$(grep "\[$sid\]" "$RELAY_LOG")" 'early caller audio dropped' "  ... and nothing is dropped"

# [openai] max_message: the default (4 MiB) takes a 150 kB event; 65536 does not.
read -r sid cs <<<"$(new_session +18005550198)"
res=$(sim -D 2500 "$sid:$cs")
is "$(json_field "$res" closed_by)" client "a 150 kB event from OpenAI within the default max_message: the call goes on"
relay_stop
printf 'max_message = 65536\n' >>"$TEST_TMP/callbridge.conf"	# [openai] is last
relay_start
read -r sid cs <<<"$(new_session +18005550198)"
res=$(sim -D 6000 "$sid:$cs")
is "$(json_field "$res" close_code)" 1011 "over [openai] max_message (65536): the relay ends the call (1011)"
sleep 0.3
is "$(db_sql "SELECT CONCAT(status, '|', end_reason) FROM call_sessions WHERE session_id = '$sid'")" \
	"failed|message from OpenAI over max_message" "  ... failed with the reason"

relay_stop
is "$RELAY_STATUS" 0 "the relay exits 0 on SIGTERM"
wh_stop
no_sanitizer_reports
done_testing
