# fake-openai.sh: run the OpenAI Realtime stand-in for a test (sourced).
#
# fo_start [args]        start tests/tools/fake-openai on a free port; sets
#                        FO_PID, FO_PORT, FO_LOG and
#                        FO_URL (ws://127.0.0.1:PORT/v1/realtime);
#                        Bail out! when it does not come up
# fo_stop                SIGTERM and wait; FO_STATUS is its exit status
# probe MODEL SCRIPT [ws-probe options]
#                        run tests/tools/ws-probe against FO_URL?model=MODEL
#                        with "Authorization: Bearer $FO_KEY"; prints what
#                        ws-probe prints (one received event per line)
# events OUTPUT TYPE     the lines of OUTPUT whose "type" is TYPE
# deltas_bin OUTPUT FILE decode the response.output_audio.delta events of
#                        OUTPUT into FILE (the audio an answer carried)
# mulaw BYTE COUNT       COUNT bytes of value BYTE (octal, as tr wants it)
# append_event FILE      an input_audio_buffer.append event with FILE's bytes

: "${top_builddir:?}"
FAKE_OPENAI=${FAKE_OPENAI:-$top_builddir/tests/tools/fake-openai}
WS_PROBE=${WS_PROBE:-$top_builddir/tests/tools/ws-probe}
FO_KEY=${FO_KEY:-sk-test-0123456789}

fo_start() {
	FO_LOG=$TEST_TMP/fake-openai.log
	local out=$TEST_TMP/fake-openai.out i
	: >"$out"
	"$FAKE_OPENAI" -p 0 "$@" >"$out" 2>>"$FO_LOG" &
	FO_PID=$!
	for i in $(seq 1 100); do
		FO_PORT=$(sed -n 's/^listening on PORT \([0-9]*\)$/\1/p' "$out")
		[ -n "$FO_PORT" ] && break
		kill -0 "$FO_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ -z "$FO_PORT" ]; then
		echo "Bail out! fake-openai did not start"
		cat "$FO_LOG" >&2
		exit 1
	fi
	FO_URL=ws://127.0.0.1:$FO_PORT/v1/realtime
}

fo_stop() {
	[ -n "${FO_PID:-}" ] || return 0
	kill -TERM "$FO_PID" 2>/dev/null
	wait "$FO_PID" 2>/dev/null
	FO_STATUS=$?
	FO_PID=
}

probe() {
	local model=$1 script=$2; shift 2
	"$WS_PROBE" -t 10 -H "Authorization: Bearer $FO_KEY" "$@" \
		"$FO_URL?model=$model" "$script"
}

events() {
	printf '%s\n' "$1" | grep -F "\"type\":\"$2\"" || true
}

deltas_bin() {
	local d
	printf '%s\n' "$1" | grep -F '"type":"response.output_audio.delta"' |
		sed 's/.*"delta":"\([^"]*\)".*/\1/' |
		while read -r d; do printf '%s' "$d" | base64 -d; done >"$2"
}

mulaw() {
	head -c "$2" /dev/zero | tr '\0' "\\$1"
}

append_event() {
	printf '{"type":"input_audio_buffer.append","audio":"%s"}\n' \
		"$(base64 -w0 <"$1")"
}
