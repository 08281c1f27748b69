# relay.sh: run callbridge-relay with the fake OpenAI server and the
# Twilio media-stream simulator (sourced after mariadb.sh and webhook.sh).
#
# fake_start [args]      start tests/tools/fake-openai on a free port
# relay_config FILE [ini lines...]  the webhook's config plus relay keys
# relay_start / relay_stop
# new_session [TO]       place a call through the webhook; prints
#                        "SESSION_ID CALL_SID"
# sim ARGS...            run tests/tools/twilio-sim against the relay

FAKE_OPENAI=${FAKE_OPENAI:-$top_builddir/tests/tools/fake-openai}
TWILIO_SIM=${TWILIO_SIM:-$top_builddir/tests/tools/twilio-sim}
RELAY=$top_builddir/callbridge-relay
OPENAI_KEY=sk-test-0123456789

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

fake_start() {
	FAKE_DIR=$TEST_TMP/fake
	mkdir -p "$FAKE_DIR"
	"$FAKE_OPENAI" -p 0 -k "$OPENAI_KEY" -r "$FAKE_DIR" "$@" \
		>"$TEST_TMP/fake.out" 2>"$TEST_TMP/fake.log" &
	FAKE_PID=$!
	local i
	for i in $(seq 1 100); do
		FAKE_PORT=$(sed -n 's/^listening on PORT \([0-9]*\)$/\1/p' "$TEST_TMP/fake.out")
		[ -n "$FAKE_PORT" ] && return 0
		sleep 0.05
	done
	echo "Bail out! fake-openai did not start"
	exit 1
}

fake_stop() {
	[ -n "${FAKE_PID:-}" ] || return 0
	kill "$FAKE_PID" 2>/dev/null
	wait "$FAKE_PID" 2>/dev/null
	FAKE_PID=
}

relay_config() {
	local file=$1; shift
	RELAY_PORT=$(free_port)
	wh_config "$file" "listen = 127.0.0.1:$RELAY_PORT" \
		"start_timeout = 2" "upgrade_timeout = 3" "drain_time = 2" "$@"
	# wh_config appends to the end: the lines above land in [relay].
	cat >>"$file" <<CONF

[openai]
api_key = $OPENAI_KEY
url = ws://127.0.0.1:${FAKE_PORT:-1}/v1/realtime
connect_timeout = 3
CONF
}

relay_start() {
	RELAY_LOG=$TEST_TMP/relay.log
	"$RELAY" -c "$TEST_TMP/callbridge.conf" "$@" >>"$RELAY_LOG" 2>&1 &
	RELAY_PID=$!
	local i
	for i in $(seq 1 100); do
		grep -q 'ready' "$RELAY_LOG" 2>/dev/null && return 0
		kill -0 "$RELAY_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "Bail out! callbridge-relay did not start"
	cat "$RELAY_LOG" >&2
	exit 1
}

relay_stop() {
	[ -n "${RELAY_PID:-}" ] || return 0
	kill -TERM "$RELAY_PID" 2>/dev/null
	wait "$RELAY_PID" 2>/dev/null
	RELAY_STATUS=$?
	RELAY_PID=
}

new_session() {
	local cs r sid
	cs=$(new_call_sid)
	r=$(twilio_post /api/webhook/ CallSid="$cs" AccountSid=$ACCOUNT_SID \
		From=+14155550100 To="${1:-+18005550199}" CallStatus=ringing)
	sid=$(printf '%s' "$r" | grep -oE 'realtime/[0-9a-f-]{36}' | head -1 | cut -d/ -f2)
	printf '%s %s\n' "$sid" "$cs"
}

sim() {
	"$TWILIO_SIM" -u "ws://127.0.0.1:$RELAY_PORT" -P "$WH_RELAY" -t "$WH_TOKEN" "$@"
}

# json_field JSONLINE KEY: a scalar of a flat JSON object (numbers, bools, strings).
json_field() {
	printf '%s' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p"
}
