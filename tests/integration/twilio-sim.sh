#!/bin/bash
# The Twilio media-stream simulator against a stand-in server
# (tests/tools/ws-echo-server): the command line, the signed upgrade, the
# exact shapes and sequence numbers of Twilio's messages, the 20 ms media
# cadence, real-time playback with marks echoed after playback and all at
# once on clear, heard and foreign bytes, protocol errors, the 1 MiB and
# 10-minute limits, the ways a call ends, 20 concurrent calls, wss, and the
# JSON results and exit status.
. "$top_srcdir/tests/lib/tap.sh"
test_init

SIM=$top_builddir/tests/tools/twilio-sim
SRV=$top_builddir/tests/tools/ws-echo-server
TOKEN=sim-test-token-0123456789abcdef
ACCOUNT=AC0123456789abcdef0123456789abcdef

[ -x "$SIM" ] && [ -x "$SRV" ] ||
	skip_all "twilio-sim or ws-echo-server not built (make check builds them)"

# srv_start [server options]: a fresh server and record file; sets URL,
# PORT and REC.
srv_n=0
srv_start() {
	srv_n=$((srv_n + 1))
	REC=$TEST_TMP/rec.$srv_n
	: >"$TEST_TMP/srv.out"
	"$SRV" -o "$REC" "$@" >"$TEST_TMP/srv.out" 2>>"$TEST_TMP/server.log" &
	SRV_PID=$!
	local i
	for i in $(seq 1 100); do
		PORT=$(sed -n 's/^listening on PORT \([0-9]*\)$/\1/p' "$TEST_TMP/srv.out")
		[ -n "$PORT" ] && break
		sleep 0.05
	done
	if [ -z "$PORT" ]; then
		echo "Bail out! ws-echo-server did not start"
		exit 1
	fi
	URL=ws://127.0.0.1:$PORT
}

srv_stop() {
	[ -n "${SRV_PID:-}" ] || return 0
	kill -TERM "$SRV_PID" 2>/dev/null
	wait "$SRV_PID" 2>/dev/null
	SRV_PID=
}
CLEANUP=srv_stop

# sim [options and calls]: run the simulator (under a time limit) with its
# results in $RES (all lines) and its exit status in $RC.
sim() {
	timeout 60 "$SIM" -j "$TEST_TMP/res.json" "$@" 2>>"$TEST_TMP/sim.log"
	RC=$?
	RES=$(cat "$TEST_TMP/res.json")
}

# j KEY [SESSION]: a field of the result line (of that session).
j() {
	local line=$RES
	[ -n "${2:-}" ] && line=$(printf '%s\n' "$RES" | grep "\"session_id\":\"$2\"")
	printf '%s\n' "$line" | head -n 1 |
		sed -n "s/.*\"$1\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" | tr -d '"'
}

# msgs [CONN]: the text frames the server received on a connection.
msgs() { awk -v c="${1:-1}" '$1 == c && $3 == "TEXT"' "$REC" | cut -d' ' -f4-; }
# t_of PATTERN [CONN]: ms after the upgrade of the first frame matching.
t_of() {
	awk -v c="${2:-1}" -v p="$1" '$1 == c && $3 == "TEXT" && index($0, p) { print $2; exit }' "$REC"
}
# in_range VALUE LOW HIGH
in_range() { [ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
sign() {
	printf '%s' "$1" | openssl dgst -sha1 -hmac "$TOKEN" -binary | openssl base64 -A
}
b64_of() { head -c 160 /dev/zero | tr '\0' "$1" | base64 -w0; }

# ---------------------------------------------------------------- usage
"$SIM" -h >"$TEST_TMP/out" 2>&1
is "$?" 0 "-h exits 0"
like "$(cat "$TEST_TMP/out")" '^usage: twilio-sim -u CONNECT_URL' "  ... and prints the usage"
for args in "" "-u ws://127.0.0.1:1 -t x" "-t x a:b" "-u http://x -t x a:b" \
    "-u ws://127.0.0.1:1 a:b" "-u ws://127.0.0.1:1 -t x nocolon" \
    "-u ws://127.0.0.1:1 -t x :CA1" "-u ws://127.0.0.1:1 -t x a:CA1:300" \
    "-u ws://127.0.0.1:1 -t x -T s600,x5 a:b" "-u ws://127.0.0.1:1 -t x -T s0 a:b" \
    "-u ws://127.0.0.1:1 -t x -F 5@x a:b" "-u ws://127.0.0.1:1 -t x -F x@100 a:b" \
    "-u ws://127.0.0.1:1 -t x -D 1000 -F 1@1001 a:b" \
    "-u ws://127.0.0.1:1 -t x -E 256 a:b" "-u ws://127.0.0.1:1 -t x -Z a:b"; do
	# shellcheck disable=SC2086
	"$SIM" $args >/dev/null 2>&1
	is "$?" 2 "usage error exits 2: twilio-sim $args"
done
many=$(for i in $(seq 1 1001); do printf 's%d:CA%d ' "$i" "$i"; done)
# shellcheck disable=SC2086
"$SIM" -u ws://127.0.0.1:1 -t x $many >/dev/null 2>&1
is "$?" 2 "more than 1000 calls: usage error"

# ---------------------------------------------------- nobody listening
srv_start
closed_port=$PORT
srv_stop
sim -u "ws://127.0.0.1:$closed_port" -t "$TOKEN" -D 200 nobody:CA1
is "$RC" 1 "nobody listening: exit 1"
is "$(j upgrade_status)" 0 "  ... upgrade_status 0"
is "$(j connected)" false "  ... connected false"
is "$(j close_code)" 0 "  ... close_code 0"

# ----------------------------------------- one call, shapes, cadence
srv_start
sim -u "$URL" -t "$TOKEN" -A "$ACCOUNT" -D 3000 -F '7@500' basic-1:CAbasic:0x41
is "$RC" 0 "a 3 s call: exit 0"
set -- $(awk '$1 == 1 && $3 == "UPGRADE" { print $4, $5 }' "$REC")
is "${2:-}" /ws/realtime/basic-1/ "the path is /ws/realtime/<session_id>/"
is "${1:-}" "$(sign "$URL/ws/realtime/basic-1/")" \
	"X-Twilio-Signature is HMAC-SHA1 of CONNECT_URL + path (openssl)"
msgs >"$TEST_TMP/m"
is "$(sed -n 1p "$TEST_TMP/m")" '{"event":"connected","protocol":"Call","version":"1.0.0"}' \
	"connected comes first, exactly"
sid=$(j stream_sid)
like "$sid" '^MZ[0-9a-f]{32}$' "the stream sid is MZ + 32 hex digits"
is "$(sed -n 2p "$TEST_TMP/m")" "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"accountSid\":\"$ACCOUNT\",\"streamSid\":\"$sid\",\"callSid\":\"CAbasic\",\"tracks\":[\"inbound\"],\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1},\"customParameters\":{\"session_id\":\"basic-1\"}},\"streamSid\":\"$sid\"}" \
	"start comes second, exactly"
is "$(grep -c '"event":"media"' "$TEST_TMP/m")" 150 "3000 ms: 150 media messages"
bad=$(grep '"event":"media"' "$TEST_TMP/m" | grep -Evc "^\\{\"event\":\"media\",\"sequenceNumber\":\"[0-9]+\",\"media\":\\{\"track\":\"inbound\",\"chunk\":\"[0-9]+\",\"timestamp\":\"[0-9]+\",\"payload\":\"[A-Za-z0-9+/]{214}==\"\\},\"streamSid\":\"$sid\"\\}$")
is "$bad" 0 "every media message has Twilio's shape and 160 bytes of payload"
is "$(sed -n '2,$p' "$TEST_TMP/m" | grep -o '"sequenceNumber":"[0-9]*"' | tr -dc '0-9\n' |
	awk '$1 != NR { bad++ } END { print bad + 0 }')" 0 \
	"sequenceNumber counts every message from 1 (start)"
is "$(grep -o '"chunk":"[0-9]*","timestamp":"[0-9]*"' "$TEST_TMP/m" | tr -c '0-9\n' ' ' |
	awk '$1 != NR || $2 != (NR - 1) * 20 { bad++ } END { print bad + 0 }')" 0 \
	"chunk counts from 1, timestamp = (chunk - 1) * 20 ms"
chunk() { grep "\"chunk\":\"$1\"" "$TEST_TMP/m" | sed 's/.*"payload":"\([^"]*\)".*/\1/'; }
speech=$(b64_of A)
silence=$(b64_of '\377')
is "$(chunk 1)" "$speech" "0-20 ms: the call's PATTERN byte (s600)"
is "$(chunk 30)" "$speech" "580-600 ms: still speech"
is "$(chunk 31)" "$silence" "600-620 ms: μ-law silence 0xFF (q1400)"
is "$(chunk 100)" "$silence" "1980-2000 ms: silence"
is "$(chunk 101)" "$speech" "2000-2020 ms: the pattern repeats"
dtmf_line=$(grep -n '"event":"dtmf"' "$TEST_TMP/m")
is "${dtmf_line#*:}" "{\"event\":\"dtmf\",\"streamSid\":\"$sid\",\"sequenceNumber\":\"$(( $(grep -B1 '"event":"dtmf"' "$TEST_TMP/m" | head -1 | sed 's/.*"sequenceNumber":"\([0-9]*\)".*/\1/') + 1 ))\",\"dtmf\":{\"track\":\"inbound_track\",\"digit\":\"7\"}}" \
	"dtmf has Twilio's shape"
like "$(grep -B1 '"event":"dtmf"' "$TEST_TMP/m" | head -1)" '"chunk":"24"' \
	"  ... and goes out at 500 ms, before chunk 25"
is "$(tail -n 1 "$TEST_TMP/m")" "{\"event\":\"stop\",\"sequenceNumber\":\"153\",\"streamSid\":\"$sid\",\"stop\":{\"accountSid\":\"$ACCOUNT\",\"callSid\":\"CAbasic\"}}" \
	"stop comes last, exactly"
like "$(awk '$1 == 1 && $3 == "PEERCLOSE"' "$REC")" 'PEERCLOSE 1000 call ended' \
	"then the simulator closes with 1000"
# Cadence: real time, by absolute schedule.
t_start=$(t_of '"event":"start"')
t_first=$(t_of '"chunk":"1",')
t_last=$(t_of '"chunk":"150",')
ok "$(in_range "$((t_first - t_start))" 0 150; echo $?)" \
	"the first media goes 20 ms after start ($((t_first - t_start)) ms)"
ok "$(in_range "$((t_last - t_first))" 2850 3250; echo $?)" \
	"chunks 1 to 150 span 2980 ms ($((t_last - t_first)) ms)"
per_s=$(awk -v a="$((t_start + 1000))" -v b="$((t_start + 2000))" \
	'$1 == 1 && index($0, "\"event\":\"media\"") && $2 >= a && $2 < b { n++ } END { print n + 0 }' "$REC")
ok "$(in_range "$per_s" 40 60; echo $?)" "about 50 media in the second second ($per_s)"
gap=$(awk '$1 == 1 && index($0, "\"event\":\"media\"") { if (p != "" && $2 - p > g) g = $2 - p; p = $2 } END { print g + 0 }' "$REC")
ok "$(in_range "$gap" 0 250; echo $?)" "no gap between media over 250 ms, even on a loaded machine (max $gap ms)"
# The JSON results.
like "$RES" '^\{"session_id":"basic-1","call_sid":"CAbasic","stream_sid":"MZ[0-9a-f]{32}","upgrade_status":101,"connected":true,"close_code":1000,"close_reason":"call ended","closed_by":"client","sent_media_ms":3000,"sent_dtmf":1,"received_media_bytes":0,"heard_bytes":0,"heard_foreign_bytes":0,"first_audio_ms":-1,"marks_received":0,"marks_echoed":0,"clears":0,"protocol_errors":0,"duration_ms":[0-9]+,"discarded_media_bytes":0,"dropped_media_ms":0\}$' \
	"one JSON line with every field, in order"
ok "$(in_range "$(j duration_ms)" 3000 4000; echo $?)" "duration_ms ($(j duration_ms))"
srv_stop

# ------------------------------------------------------- signatures
srv_start
sim -u "$URL" -t "$TOKEN" -P wss://voice.example.com/ -D 0 'a b:CA1'
is "$(awk '$3 == "UPGRADE" { print $4 }' "$REC")" \
	"$(sign "wss://voice.example.com/ws/realtime/a%20b/")" \
	"-P: the signature covers PUBLIC_URL + path, percent-encoded"
is "$(sed -n 's/^1 [0-9]* UPGRADE [^ ]* //p' "$REC")" "/ws/realtime/a b/" \
	"  ... and the server decodes that path to the session id"
is "$(j sent_media_ms)" 0 "-D 0: no media"
is "$(msgs | grep -c '"event":"stop"')" 1 "  ... but start and stop"
srv_stop
srv_start
sim -u "$URL" -t "$TOKEN" -B -D 0 bad:CA1
sig=$(awk '$3 == "UPGRADE" { print $4 }' "$REC")
like "$sig" '^[A-Za-z0-9+/]{27}=$' "-B: a well-formed signature"
ok "$([ "$sig" != "$(sign "$URL/ws/realtime/bad/")" ]; echo $?)" "  ... that is wrong"
srv_stop
srv_start
sim -u "$URL" -N -D 0 none:CA1
is "$(awk '$3 == "UPGRADE" { print $4 }' "$REC")" - "-N: no X-Twilio-Signature header"
srv_stop

# ------------------------------------------------- playback and marks
srv_start -g 1000
sim -u "$URL" -t "$TOKEN" -D 1600 -E 0x55 greet:CA1
is "$RC" 0 "a greeting of 1 s: exit 0"
is "$(j received_media_bytes)" 8000 "8000 bytes received"
is "$(j heard_bytes)" 8000 "all 8000 heard within the call"
is "$(j heard_foreign_bytes)" 0 "-E 0x55: the greeting is not foreign"
is "$(j marks_received)/$(j marks_echoed)" 50/50 "50 marks received and echoed"
ok "$(in_range "$(j first_audio_ms)" 0 200; echo $?)" "first_audio_ms ($(j first_audio_ms))"
sid=$(j stream_sid)
line=$(msgs | grep '"name":"g1"}')
like "$line" "^\\{\"event\":\"mark\",\"streamSid\":\"$sid\",\"sequenceNumber\":\"[0-9]+\",\"mark\":\\{\"name\":\"g1\"\\}\\}$" \
	"a mark echo has Twilio's shape"
is "$(msgs | sed -n '2,$p' | grep -o '"sequenceNumber":"[0-9]*"' | tr -dc '0-9\n' |
	awk '$1 != NR { bad++ } END { print bad + 0 }')" 0 \
	"  ... and takes its place in the sequence numbers"
t0=$(t_of '"event":"start"')
g1=$(( $(t_of '"name":"g1"}') - t0 ))
g25=$(( $(t_of '"name":"g25"}') - t0 ))
g50=$(( $(t_of '"name":"g50"}') - t0 ))
ok "$(in_range "$g1" 15 60; echo $?)" "g1 is echoed when its 20 ms have played ($g1 ms)"
ok "$(in_range "$g25" 490 560; echo $?)" "g25 after 500 ms ($g25 ms)"
ok "$(in_range "$g50" 990 1080; echo $?)" "g50 after 1000 ms ($g50 ms)"
srv_stop
srv_start -g 1000
sim -u "$URL" -t "$TOKEN" -D 1400 greet2:CA1
is "$(j heard_foreign_bytes)" 8000 "without -E, a greeting of 0x55 is foreign"

# ------------------------------------------------------------- clear
srv_stop
srv_start -g 3000 -c
sim -u "$URL" -t "$TOKEN" -D 1500 -E 0x55 -F 1@1000 clear:CA1
is "$(j clears)" 1 "clear is counted"
is "$(j marks_received)/$(j marks_echoed)" 150/150 "every mark is echoed"
ok "$(in_range "$(j heard_bytes)" 7600 8400; echo $?)" \
	"only the audio before the clear was heard ($(j heard_bytes) bytes)"
t_dtmf=$(t_of '"event":"dtmf"')
at_once=$(awk -v t="$t_dtmf" '$1 == 1 && index($0, "\"event\":\"mark\"") && $2 >= t && $2 <= t + 60 { n++ } END { print n + 0 }' "$REC")
ok "$(in_range "$at_once" 95 105; echo $?)" \
	"the ~100 pending marks come back at once after clear ($at_once)"
before=$(awk -v t="$t_dtmf" '$1 == 1 && index($0, "\"event\":\"mark\"") && $2 < t { n++ } END { print n + 0 }' "$REC")
ok "$(in_range "$before" 45 52; echo $?)" "  ... the others one by one as they played ($before)"
srv_stop

# ------------------------------------------------ 20 calls, echo, crosstalk
srv_start -e
calls=$(for i in $(seq 1 20); do printf 'c%d:CA%d ' "$i" "$i"; done)
# shellcheck disable=SC2086
sim -u "$URL" -t "$TOKEN" -D 2000 $calls
is "$RC" 0 "20 concurrent calls in one process: exit 0"
is "$(printf '%s\n' "$RES" | grep -c '"upgrade_status":101,"connected":true,"close_code":1000')" 20 \
	"  ... 20 result lines, all connected and closed"
is "$(printf '%s\n' "$RES" | grep -o '"stream_sid":"[^"]*"' | sort -u | wc -l)" 20 \
	"  ... 20 different stream sids"
is "$(awk '$3 == "TEXT" && index($0, "\"event\":\"media\"") { n[$1]++ } END { for (c in n) if (n[c] == 100) k++; print k + 0 }' "$REC")" 20 \
	"  ... 100 media messages on each connection"
is "$(awk '$3 == "TEXT" && index($0, "\"chunk\":\"1\",") { sub(/.*"payload":"/, ""); sub(/".*/, ""); print }' "$REC" | sort -u | wc -l)" 20 \
	"  ... each call speaks its own byte"
is "$(msgs "$(awk '$3 == "UPGRADE" && $5 == "/ws/realtime/c1/" { print $1 }' "$REC")" | grep '"chunk":"1",' | sed 's/.*"payload":"\([^"]*\)".*/\1/')" \
	"$(b64_of '\020')" "  ... the first call's default PATTERN is 0x10"
is "$(printf '%s\n' "$RES" | grep -c '"heard_foreign_bytes":0,')" 20 \
	"  ... each hears only its own audio echoed back"
low=$(for i in $(seq 1 20); do j heard_bytes "c$i"; done | sort -n | head -1)
ok "$(in_range "$low" 12000 16000; echo $?)" "  ... and hears it in real time (least heard: $low bytes)"
lag=$(for i in $(seq 1 20); do echo $(( $(j marks_received "c$i") - $(j marks_echoed "c$i") )); done | sort -n | tail -1)
ok "$(in_range "$lag" 0 3; echo $?)" "  ... marks echoed as the echo plays (at most $lag pending at the end)"
srv_stop
srv_start -e -x 0x33
sim -u "$URL" -t "$TOKEN" -D 1000 x1:CA1
ok "$([ "$(j heard_bytes)" -gt 0 ] && [ "$(j heard_foreign_bytes)" = "$(j heard_bytes)" ]; echo $?)" \
	"audio that is not the call's own is counted as foreign ($(j heard_foreign_bytes))"
srv_stop

# --------------------------------------------------- what Twilio rejects
srv_start -J
sim -u "$URL" -t "$TOKEN" -D 500 junk:CA1
is "$(j protocol_errors)" 4 "binary frame, bad JSON, wrong streamSid, unknown event: 4 protocol errors"
is "$RC/$(j close_code)" 0/1000 "  ... and the call goes on to its normal end"
srv_stop
srv_start -b
sim -u "$URL" -t "$TOKEN" -D 1000 big:CA1
is "$(j close_code)/$(j closed_by)" 1009/client "a message over 1 MiB: the simulator closes with 1009"
is "$(j protocol_errors)" 1 "  ... and counts it"
srv_stop
srv_start -L
sim -u "$URL" -t "$TOKEN" -D 1000 long:CA1
is "$(j received_media_bytes)" 5400000 "11.25 minutes of audio received"
ok "$(in_range "$(j discarded_media_bytes)" 590000 600000; echo $?)" \
	"  ... what passes 10 minutes buffered is discarded ($(j discarded_media_bytes))"
is "$(j marks_received)/$(j marks_echoed)" 1/0 "  ... the mark behind it is still pending"
srv_stop

# ------------------------------------------------ how a call can end
srv_start -r 403
sim -u "$URL" -t "$TOKEN" -D 500 refused:CA1
is "$RC" 1 "upgrade refused: exit 1"
is "$(j upgrade_status)/$(j connected)/$(j closed_by)" 403/false/server "  ... upgrade_status 403"
is "$(awk '$3 == "REFUSED" { print $4, $5 }' "$REC")" \
	"$(sign "$URL/ws/realtime/refused/") /ws/realtime/refused/" \
	"  ... the upgrade was signed all the same"
srv_stop
srv_start -k 500:1008
sim -u "$URL" -t "$TOKEN" -D 3000 kicked:CA1
is "$RC" 0 "closed by the server: exit 0"
is "$(j close_code)/$(j closed_by)/$(j close_reason)" 1008/server/closing \
	"  ... close_code, closed_by and close_reason"
ok "$(in_range "$(j sent_media_ms)" 400 600; echo $?)" "  ... media stopped there ($(j sent_media_ms) ms)"
is "$(msgs | grep -c '"event":"stop"')" 0 "  ... and no stop was sent"
srv_stop
srv_start -s 1000
sim -u "$URL" -t "$TOKEN" -D 500 -R drain:CA1
is "$(j close_code)/$(j closed_by)" 1000/server "-R: the server closes after stop"
ok "$(in_range "$(j duration_ms)" 500 1500; echo $?)" "  ... at once ($(j duration_ms) ms)"
srv_stop
srv_start
sim -u "$URL" -t "$TOKEN" -D 500 -R drain2:CA1
is "$(j close_code)/$(j closed_by)" 1000/client "-R: if the server does not close, the simulator does"
ok "$(in_range "$(j duration_ms)" 2450 3500; echo $?)" "  ... 2 s after stop ($(j duration_ms) ms)"
srv_stop
srv_start
sim -u "$URL" -t "$TOKEN" -S -D 800 nostart:CA1
is "$(msgs | grep -c '"event":"start"')" 0 "-S: no start"
is "$(msgs | wc -l)" 1 "  ... only connected"
is "$RC/$(j closed_by)/$(j sent_media_ms)" 0/client/0 "  ... closed by the simulator after -D"
ok "$(in_range "$(j duration_ms)" 750 1500; echo $?)" "  ... ($(j duration_ms) ms)"
srv_stop
srv_start
sim -u "$URL" -t "$TOKEN" -W 500 -C CAforeign -D 100 -T s30,q30 wait:CAown:0x41
t_start=$(t_of '"event":"start"')
msgs >"$TEST_TMP/m"
half=$({ head -c 80 /dev/zero | tr '\0' A; head -c 80 /dev/zero | tr '\0' '\377'; } | base64 -w0)
is "$(chunk 1) $(chunk 2) $(chunk 3) $(chunk 4) $(chunk 5)" \
	"$(b64_of A) $half $(b64_of '\377') $(b64_of A) $half" \
	"-T s30,q30: speech and silence switch inside a chunk, to the millisecond"
ok "$(in_range "$t_start" 480 700; echo $?)" "-W 500: start 500 ms after connected ($t_start ms)"
like "$(msgs | grep '"event":"start"')" '"callSid":"CAforeign"' "-C: start carries the other callSid"
like "$(msgs | grep '"event":"stop"')" '"callSid":"CAforeign"' "  ... and so does stop"
is "$(j call_sid)" CAown "  ... the result names the call's own"
srv_stop

# ------------------------------------------------------ stdout, -d
srv_start
out=$(timeout 30 "$SIM" -u "$URL" -t "$TOKEN" -D 0 -d s1:CA1 s2:CA2 2>"$TEST_TMP/debug")
is "$?" 0 "without -j: exit 0"
is "$(printf '%s\n' "$out" | grep -c '^{"session_id":"s[12]",')" 2 "  ... one JSON line per call on stdout"
like "$(cat "$TEST_TMP/debug")" '\[session=s2\] streaming -> stopped' \
	"-d: the debug log names the session"
unlike "$(cat "$TEST_TMP/debug")" "$TOKEN" "  ... and never the auth token"
srv_stop

# ---------------------------------------------------------------- wss
if openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 \
    -keyout "$TEST_TMP/key.pem" -out "$TEST_TMP/cert.pem" >/dev/null 2>&1; then
	srv_start -C "$TEST_TMP/cert.pem" -K "$TEST_TMP/key.pem"
	sim -u "wss://127.0.0.1:$PORT" -t "$TOKEN" -k -D 200 tls:CA1
	is "$RC/$(j upgrade_status)" 0/101 "wss with -k: connected"
	is "$(awk '$3 == "UPGRADE" { print $4 }' "$REC")" \
		"$(sign "wss://127.0.0.1:$PORT/ws/realtime/tls/")" "  ... signed for the wss:// URL"
	is "$(msgs | grep -c '"event":"media"')" 10 "  ... media flows"
	sim -u "wss://127.0.0.1:$PORT" -t "$TOKEN" -D 200 tls2:CA1
	is "$RC/$(j connected)" 1/false "wss without -k: a self-signed certificate is refused"
	srv_stop
else
	ok 1 "openssl could not make a test certificate"
fi

# Under --enable-sanitizers, a report would be in the logs.
unlike "$(cat "$TEST_TMP/sim.log" "$TEST_TMP/debug" 2>/dev/null)" 'Sanitizer|runtime error' \
	"no sanitizer report from the simulator"
unlike "$(cat "$TEST_TMP/server.log" 2>/dev/null)" 'Sanitizer|runtime error' \
	"no sanitizer report from the server"

done_testing
