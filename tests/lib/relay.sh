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

# free_port: a port nothing listens on, below the kernel's ephemeral range
# (ip_local_port_range, usually from 32768): a port in that range may be
# taken as the source port of an outgoing connection (of this test or of
# one running beside it) between this check and the bind.
free_port() {
	local p lo=32768
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	[ "$lo" -gt 21000 ] || lo=32768
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % (lo - 20000)))
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

# relay_start [args]: start the relay and wait for this instance's
# "ready" (the log is appended to across restarts: an earlier instance's
# line does not count; the listener exists when it is logged).  When the
# port free_port picked was taken in the meantime (by a test running beside
# this one), another one is picked and written into the configuration.
relay_start() {
	RELAY_LOG=$TEST_TMP/relay.log
	local before i try
	for try in 1 2 3 4 5; do
		before=0
		[ -f "$RELAY_LOG" ] && before=$(wc -l <"$RELAY_LOG")
		"$RELAY" -c "$TEST_TMP/callbridge.conf" "$@" >>"$RELAY_LOG" 2>&1 &
		RELAY_PID=$!
		for i in $(seq 1 200); do
			tail -n +$((before + 1)) "$RELAY_LOG" | grep -q ' ready: ' && return 0
			kill -0 "$RELAY_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$RELAY_PID" 2>/dev/null && break
		wait "$RELAY_PID" 2>/dev/null
		tail -n +$((before + 1)) "$RELAY_LOG" | grep -q 'cannot listen on \[relay\] listen' &&
			grep -q "^listen = 127.0.0.1:$RELAY_PORT\$" "$TEST_TMP/callbridge.conf" || break
		RELAY_PORT=$(free_port)
		sed -i "s/^listen = 127.0.0.1:[0-9]*\$/listen = 127.0.0.1:$RELAY_PORT/" \
			"$TEST_TMP/callbridge.conf"
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

# session_over SID: the relay has stored the end of that session (ended or
# failed); it does so after Twilio's side closed, in its own time.
session_over() {
	case $(db_sql "SELECT status FROM call_sessions WHERE session_id = '$1'") in
	ended | failed) return 0 ;;
	esac
	return 1
}

# events_at_least SID N [KIND...]: the session has at least N stored
# call_events (of those kinds).
events_at_least() {
	local sid=$1 n=$2 kinds=
	shift 2
	[ $# -gt 0 ] && kinds=" AND kind IN ('$(printf '%s\n' "$@" | paste -sd, - | sed "s/,/','/g")')"
	[ "$(db_sql "SELECT COUNT(*) FROM call_events WHERE session_id = '$sid'$kinds")" -ge "$n" ]
}

# rec_closed FILE: the fake OpenAI server has recorded the end of the
# connection FILE records (the relay closes it after the call, in its own
# time).
rec_closed() { tail -n1 "$1" 2>/dev/null | grep -q '^{"closed":'; }

# relay_logged REGEX: the relay's log has a line matching REGEX (grep -E).
relay_logged() { grep -Eq -- "$1" "$RELAY_LOG"; }

# json_field JSONLINE KEY: a scalar of a flat JSON object (numbers, bools, strings).
json_field() {
	printf '%s' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p"
}
