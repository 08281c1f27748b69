#!/bin/bash
# Half-open sockets: a Twilio stream that goes silent (no messages, no
# pongs) is found by the relay's pings and closed after idle_timeout.  The
# peer here is a bare bash TCP socket that does the WebSocket upgrade by
# hand, sends "connected" and "start", and then never answers again.
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
relay_config "$TEST_TMP/callbridge.conf" "ping_interval = 1" "idle_timeout = 3"
wh_start
relay_start

# frame TEXT: a masked (with a zero key, which RFC 6455 allows) text frame.
frame() {
	local len=${#1}
	if [ "$len" -lt 126 ]; then
		printf "\\x81\\x$(printf %02x $((0x80 | len)))\\x00\\x00\\x00\\x00%s" "$1"
	else
		printf "\\x81\\xfe\\x$(printf %02x $((len >> 8)))\\x$(printf %02x $((len & 255)))\\x00\\x00\\x00\\x00%s" "$1"
	fi
}

read -r sid cs <<<"$(new_session)"
path="/ws/realtime/$sid/"
MZ=MZ0123456789abcdef0123456789abcdef
exec 5<>/dev/tcp/127.0.0.1/"$RELAY_PORT"
printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Twilio-Signature: %s\r\n\r\n' \
	"$path" "$(twilio_sign "$WH_RELAY$path")" >&5
read -r -t 5 status <&5
like "$status" '^HTTP/1.1 101' "the hand-made upgrade is accepted"
frame '{"event":"connected","protocol":"Call","version":"1.0.0"}' >&5
frame "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"accountSid\":\"$ACCOUNT_SID\",\"streamSid\":\"$MZ\",\"callSid\":\"$cs\",\"tracks\":[\"inbound\"],\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1},\"customParameters\":{}},\"streamSid\":\"$MZ\"}" >&5
t0=$(now_ms)
# Never answer: read (and ignore) until the relay closes the socket.
timeout 15 cat <&5 >"$TEST_TMP/received"
t1=$(now_ms)
exec 5>&-
ok "$([ $((t1 - t0)) -ge 2000 ] && [ $((t1 - t0)) -lt 8000 ]; echo $?)" \
	"the silent stream is closed after idle_timeout (3 s): $((t1 - t0)) ms"
ok "$(grep -q $'\x89' "$TEST_TMP/received"; echo $?)" "the relay pinged it first"
eventually 10 session_over "$sid"
eventually 10 rec_closed "$FAKE_DIR/conn-1.jsonl"
is "$(db_sql "SELECT CONCAT(status, '|', end_reason) FROM call_sessions WHERE session_id = '$sid'")" \
	"ended|Twilio's stream went silent (idle_timeout)" "the session says why it ended"
like "$(tail -1 "$FAKE_DIR/conn-1.jsonl")" '"closed":\{"by":"client"' "the OpenAI session was closed with it"

relay_stop
is "$RELAY_STATUS" 0 "the relay exits 0 on SIGTERM"
wh_stop
no_sanitizer_reports
done_testing
