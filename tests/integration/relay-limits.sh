#!/bin/bash
# Two of the relay's named bounds, reached.  The pre-connect audio buffer:
# caller audio that arrives before OpenAI's session is ready is kept up to
# [relay] preconnect_audio_ms and sent once it is; beyond that the oldest
# is dropped and the drop is logged (the fake OpenAI server's
# "slow-created" scenario sends session.created 1.5 s late).  [openai]
# max_message: a bigger message from OpenAI ends the call (the "big"
# scenario sends a 150 kB event right after session.updated).
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

# The recording of the newest OpenAI connection (connections.log says
# which), once the relay has closed it.
last_rec() {
	local f
	f=$FAKE_DIR/conn-$(tail -n1 "$FAKE_DIR/connections.log" | cut -d' ' -f1).jsonl
	eventually 10 rec_closed "$f"
	echo "$f"
}
appends() { grep -c '"input_audio_buffer.append"' "$1"; }
# The types of lines 2.. of a recording (line 1 is the connection).
rec_types() { sed -n "2,${2}p" "$1" | sed 's/^{"type":"\([^"]*\)".*/\1/' | tr '\n' ' '; }

read -r sid cs <<<"$(new_session)"
res=$(sim -D 3000 -T s3000 "$sid:$cs")
sent=$(( $(json_field "$res" sent_media_ms) / 20 ))
f=$(last_rec)
is "$(tail -n1 "$FAKE_DIR/connections.log" | cut -d' ' -f2)" fake-slow-created "a call to a fake-slow-created agent"
dropped=$(sed -n "s/.*\[$sid\] \([0-9]*\) ms of early caller audio dropped (preconnect_audio_ms)$/\1/p" "$RELAY_LOG")
ok "$([ "${dropped:-0}" -ge 600 ]; echo $?)" "preconnect_audio_ms = 400 with a 1.5 s late session: the oldest audio is dropped (${dropped:-0} ms) and logged"
is "$(rec_types "$f" 4)" "session.update input_audio_buffer.append input_audio_buffer.append " \
	"  ... what was kept reaches OpenAI right after session.update"
n=$(appends "$f")
# Within 2 frames: the relay drops what is still queued for OpenAI when the
# caller's stop comes (usually the last frame, sent together with stop).
kept=$((sent - ${dropped:-0} / 20))
ok "$([ $((n - kept)) -ge -2 ] && [ $((n - kept)) -le 2 ]; echo $?)" \
	"  ... the rest reaches OpenAI: $n appends for $sent frames sent, $((${dropped:-0} / 20)) dropped"
ok "$([ $((sent - n)) -ge 40 ]; echo $?)" "  ... no more than the newest 400 ms were kept ($((sent - n)) frames never sent)"

relay_stop
sed -i '/^preconnect_audio_ms = 400$/d' "$TEST_TMP/callbridge.conf"	# the default, 5000
relay_start
read -r sid cs <<<"$(new_session)"
res=$(sim -D 3000 -T s3000 "$sid:$cs")
sent=$(( $(json_field "$res" sent_media_ms) / 20 ))
f=$(last_rec)
n=$(appends "$f")
ok "$([ $((sent - n)) -ge -2 ] && [ $((sent - n)) -le 2 ]; echo $?)" "the default 5 s buffer keeps it all: $n appends for $sent frames"
unlike "$(grep "\[$sid\]" "$RELAY_LOG")" 'early caller audio dropped' "  ... and nothing is dropped"
is "$(rec_types "$f" 3)" "session.update input_audio_buffer.append " "  ... it comes right after session.update"

# [openai] max_message: the default (4 MiB) takes a 150 kB event; 65536 does not.
read -r sid cs <<<"$(new_session +18005550198)"
res=$(sim -D 2500 "$sid:$cs")
is "$(json_field "$res" closed_by)" client "a 150 kB event from OpenAI within the default max_message: the call goes on"
ok "$([ "$(json_field "$res" heard_bytes)" -gt 0 ]; echo $?)" "  ... and the caller hears the echo ($(json_field "$res" heard_bytes) bytes)"
relay_stop
printf 'max_message = 65536\n' >>"$TEST_TMP/callbridge.conf"	# [openai] is last
relay_start
read -r sid cs <<<"$(new_session +18005550198)"
res=$(sim -D 6000 "$sid:$cs")
is "$(json_field "$res" closed_by)" server "over [openai] max_message (65536): the relay closes Twilio's stream"
is "$(json_field "$res" close_code)" 1011 "  ... with 1011"
ok "$([ "$(json_field "$res" duration_ms)" -lt 4000 ]; echo $?)" "  ... soon, not after the call's 6 s ($(json_field "$res" duration_ms) ms)"
eventually 10 session_over "$sid"
is "$(db_sql "SELECT CONCAT(status, '|', end_reason) FROM call_sessions WHERE session_id = '$sid'")" \
	"failed|message from OpenAI over max_message" "  ... failed with the reason"

relay_stop
is "$RELAY_STATUS" 0 "the relay exits 0 on SIGTERM"
wh_stop
no_sanitizer_reports
done_testing
