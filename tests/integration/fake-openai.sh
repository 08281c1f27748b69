#!/bin/bash
# fake-openai, the OpenAI Realtime stand-in the relay's tests rely on: its
# command line, the refusals before the upgrade, the GA session handshake,
# the server VAD and the echo, the recording, every scenario, the bounds,
# a hundred calls at once and a clean stop.  The client is ws-probe.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/fake-openai.sh"
CLEANUP=fo_stop
command -v curl >/dev/null 2>&1 || skip_all "curl not installed"

T=$TEST_TMP
REC=$T/rec

# The HTTP status of a WebSocket upgrade request for TARGET (refusals only:
# curl would wait for more after a 101).
upgrade_status() {
	local target=$1; shift
	curl -s -o "$T/body" -w '%{http_code}' --max-time 2 \
		-H 'Connection: Upgrade' -H 'Upgrade: websocket' \
		-H 'Sec-WebSocket-Version: 13' \
		-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
		"$@" "http://127.0.0.1:$FO_PORT$target"
}

# Audio: speech is any byte but 0xFF and 0x7F (the μ-law zeros).
head -c 8000 /dev/urandom | tr -d '\377\177' | head -c 2400 >"$T/speech.bin"
mulaw 377 4000 >"$T/silence.bin"		# 500 ms
mulaw 125 800 >"$T/speech100.bin"		# 100 ms of 0x55
UPD='{"type":"session.update","session":{"type":"realtime","instructions":"Be brief.","audio":{"input":{"format":{"type":"audio/pcmu"},"turn_detection":{"type":"server_vad","create_response":true,"interrupt_response":true}},"output":{"format":{"type":"audio/pcmu"},"voice":"marin"}}}}'
SPEECH=$(append_event "$T/speech.bin")
SILENCE=$(append_event "$T/silence.bin")
SPEECH100=$(append_event "$T/speech100.bin")

# Line number of the first line of OUTPUT matching the fixed string S.
line_of() { printf '%s\n' "$1" | grep -nF -m1 -- "$2" | cut -d: -f1; }

# ---------------------------------------------------------------- command line
out=$("$FAKE_OPENAI" -h)
is "$?" 0 "-h exits 0"
like "$out" 'usage: fake-openai .*-s SCENARIO' "-h prints the usage"
like "$out" 'echo greeting long transcripts error refuse close hang slow-handshake function .*slow-created big' \
	"-h lists the scenarios"
"$FAKE_OPENAI" -s nonsense >/dev/null 2>&1
is "$?" 2 "an unknown -s scenario exits 2"
"$FAKE_OPENAI" -p 70000 >/dev/null 2>&1
is "$?" 2 "a bad port exits 2"

fo_start -k "$FO_KEY" -r "$REC"
like "$FO_PORT" '^[1-9][0-9]*$' "prints 'listening on PORT <n>' with the port it got"

# ---------------------------------------------------------------- before the upgrade
st=$(upgrade_status "/v1/realtime?model=gpt-realtime")
is "$st" 401 "no Authorization header: 401, no upgrade"
st=$(upgrade_status "/v1/realtime?model=gpt-realtime" -H "Authorization: Bearer sk-wrong")
is "$st" 401 "a wrong API key: 401"
like "$(cat "$T/body")" '"code":"invalid_api_key"' "with an OpenAI-style JSON error"
unlike "$(cat "$T/body")" 'sk-wrong' "which does not repeat the key"
st=$(upgrade_status "/v1/other?model=gpt-realtime" -H "Authorization: Bearer $FO_KEY")
is "$st" 404 "another path: 404"
st=$(upgrade_status "/v1/realtime?model=fake-refuse" -H "Authorization: Bearer $FO_KEY")
is "$st" 500 "scenario refuse: 500 instead of 101"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
	-H "Authorization: Bearer $FO_KEY" "http://127.0.0.1:$FO_PORT/v1/realtime?model=x")
is "$st" 426 "no upgrade asked for: 426"
out=$("$WS_PROBE" -t 5 "$FO_URL?model=gpt-realtime" /dev/null)
is "$?" 2 "ws-probe without a key exits 2"
is "$out" "#refused 401" "and says the upgrade was refused with 401"
out=$(probe fake-refuse /dev/null)
is "$out" "#refused 500" "ws-probe sees refuse's 500"

# ---------------------------------------------------------------- handshake (connection 1)
cat >"$T/hs" <<EOF
#wait session.created
$UPD
#wait session.updated
#close
EOF
out=$(probe gpt-realtime "$T/hs")
is "$?" 0 "a session: ws-probe exits 0"
first=$(printf '%s\n' "$out" | head -n1)
like "$first" '^\{"type":"session.created","event_id":"[^"]+","session":\{"type":"realtime","object":"realtime.session","id":"sess_1","model":"gpt-realtime",' \
	"session.created comes first, with id sess_1, object, type and model"
like "$first" '"expires_at":[0-9]{10}' "and expires_at"
like "$first" '"format":\{"type":"audio/pcm","rate":24000\}' "the defaults are the API's (24 kHz PCM)"
upd=$(events "$out" session.updated)
like "$upd" '"input":\{"format":\{"type":"audio/pcmu"\},"transcription":null,"noise_reduction":null,"turn_detection":\{"type":"server_vad","create_response":true,"interrupt_response":true\}\}' \
	"session.updated: the update merged into the session (turn_detection replaced whole)"
like "$upd" '"output":\{"format":\{"type":"audio/pcmu"\},"voice":"marin","speed":1.0\}' \
	"session.updated: output format and voice"
like "$upd" '"instructions":"Be brief."' "session.updated: instructions"
is "$(printf '%s\n' "$out" | grep -o '"event_id":"[^"]*"' | sort | uniq -d)" "" \
	"every server event has its own event_id"
is "$(printf '%s\n' "$out" | tail -n1)" "#closed client 1000" "the client's close is answered"

rec=$REC/conn-1.jsonl
is "$(sed -n 1p "$rec")" \
	"{\"connect\":{\"path\":\"/v1/realtime\",\"model\":\"gpt-realtime\",\"authorization\":\"Bearer $FO_KEY\",\"beta_header\":false}}" \
	"the recording starts with the connection"
is "$(sed -n 2p "$rec")" "$UPD" "then each client event exactly as received"
is "$(tail -n1 "$rec")" '{"closed":{"by":"client","code":1000}}' \
	"and ends with who closed and the code"
is "$(cat "$REC/connections.log")" "1 gpt-realtime" "connections.log: '<n> <model>'"

# ---------------------------------------------------------------- bad session.update (2)
cat >"$T/bad" <<'EOF'
#wait session.created
{"type":"session.update","event_id":"ev_beta","session":{"modalities":["audio"],"input_audio_format":"g711_ulaw"}}
{"type":"session.update","event_id":"ev_pcm","session":{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcm","rate":24000}},"output":{"format":{"type":"audio/pcmu"}}}}}
{"type":"session.update","event_id":"ev_voice","session":{"type":"realtime","voice":"marin"}}
{"type":"session.update","event_id":"ev_fmt","session":{"type":"realtime","audio":{"input":{"format":"g711_ulaw"},"output":{"format":{"type":"audio/pcmu"}}}}}
{"type":"response.cancel","event_id":"ev_cancel"}
{"type":"no.such.event","event_id":"ev_type"}
not json
#wait error 7
#close
EOF
out=$(probe gpt-realtime "$T/bad")
errs=$(events "$out" error)
like "$errs" '"code":"missing_required_parameter","message":"Missing required parameter: .session.type.\.","param":"session.type","event_id":"ev_beta"' \
	"a beta-shaped update: missing session.type, with the client's event_id"
like "$errs" '"code":"invalid_value","message":"fake-openai speaks only G.711 mu-law: session.audio.input.format must be .*audio/pcmu.*","param":"session.audio.input.format","event_id":"ev_pcm"' \
	"a format other than audio/pcmu: invalid_value that says so"
like "$errs" '"code":"unknown_parameter","message":"Unknown parameter: .session.voice.\.","param":"session.voice","event_id":"ev_voice"' \
	"a beta key: unknown_parameter"
like "$errs" '"event_id":"ev_fmt"' "a format as a string: an error"
like "$errs" '"code":"response_cancel_not_active".*"event_id":"ev_cancel"' \
	"response.cancel with nothing active: response_cancel_not_active"
like "$errs" '"code":"invalid_value".*"param":"type","event_id":"ev_type"' "an unknown event type: invalid_value"
like "$errs" 'could not parse the JSON' "text that is not JSON: an error"
is "$(events "$out" session.updated)" "" "no session.updated for any of them"
like "$(sed -n '/not json/p' "$REC/conn-2.jsonl")" '^\{"invalid_json":"not json"\}$' \
	"text that is not JSON is recorded as {\"invalid_json\":…}"

# ---------------------------------------------------------------- echo (3)
cat >"$T/echo" <<EOF
#wait session.created
$UPD
#wait session.updated
$SILENCE
$SPEECH
$SILENCE
#wait response.done
#close
EOF
out=$(probe gpt-realtime "$T/echo")
like "$(events "$out" input_audio_buffer.speech_started)" '"audio_start_ms":500,"item_id":"item_1"' \
	"speech_started once 100 ms of speech came, at 500 ms on the audio clock"
like "$(events "$out" input_audio_buffer.speech_stopped)" '"audio_end_ms":1200,"item_id":"item_1"' \
	"speech_stopped after 400 ms of silence"
like "$(events "$out" input_audio_buffer.committed)" '"previous_item_id":null,"item_id":"item_1"' "committed"
like "$(events "$out" conversation.item.added | head -n1)" '"item":\{"id":"item_1","object":"realtime.item","type":"message","status":"completed","role":"user"' \
	"the user item is added"
like "$(events "$out" conversation.item.input_audio_transcription.completed)" '"item_id":"item_1","content_index":0,"transcript":"caller said 2400 bytes"' \
	"the caller's transcription"
like "$(events "$out" response.created)" '"response":\{"object":"realtime.response","id":"resp_1","status":"in_progress"' \
	"then a response"
like "$(events "$out" response.output_item.added)" '"item":\{"id":"item_2","object":"realtime.item","type":"message","status":"in_progress","role":"assistant"' \
	"with an assistant item"
deltas_bin "$out" "$T/got.bin"
cmp -s "$T/speech.bin" "$T/got.bin"
ok $? "the answer's audio is exactly the caller's speech"
bad=0
for d in $(events "$out" response.output_audio.delta | sed 's/.*"delta":"\([^"]*\)".*/\1/'); do
	n=$(printf '%s' "$d" | base64 -d | wc -c)
	[ "$n" -ge 160 ] && [ "$n" -le 800 ] || bad=$((bad + 1))
done
is "$bad" 0 "in deltas of 20 to 100 ms"
like "$(events "$out" response.output_audio.delta | head -n1)" '"response_id":"resp_1","item_id":"item_2","output_index":0,"content_index":0,"delta":' \
	"deltas carry response_id, item_id, output_index, content_index"
like "$(events "$out" response.output_audio_transcript.done)" '"transcript":"echo of 300 ms"' "transcript: echo of 300 ms"
done_line=$(events "$out" response.done)
like "$done_line" '"id":"resp_1","status":"completed","status_details":null,"output":\[\{"id":"item_2"' \
	"response.done: completed, with the item"
like "$done_line" '"usage":\{"total_tokens":60,"input_tokens":30,"output_tokens":30,"input_token_details":\{"text_tokens":0,"audio_tokens":30,.*"output_token_details":\{"text_tokens":0,"audio_tokens":30\}' \
	"usage: ms of input and output audio / 10"
order=
for t in speech_started speech_stopped committed conversation.item.added \
    conversation.item.done transcription.completed response.created \
    response.output_item.added response.content_part.added \
    response.output_audio.delta response.output_audio_transcript.delta \
    response.output_audio_transcript.done response.output_audio.done \
    response.content_part.done response.output_item.done response.done; do
	order="$order $(line_of "$out" "$t\"")"
done
is "$(echo $order | tr ' ' '\n' | sort -n | tr '\n' ' ')" "$(echo $order) " \
	"events come in the documented order"

# ---------------------------------------------------------------- beta header (4)
out=$(probe gpt-realtime /dev/null -H 'OpenAI-Beta: realtime=v1')
is "$(printf '%s\n' "$out" | head -n1 | sed 's/"event_id":"[^"]*",//')" \
	'{"type":"error","error":{"type":"invalid_request_error","code":"beta_api_shape_disabled","message":"The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.","param":null,"event_id":null}}' \
	"OpenAI-Beta header: upgraded, then the beta_api_shape_disabled error"
is "$(printf '%s\n' "$out" | sed -n 2p)" "#closed server 1008 beta_api_shape_disabled" "and closed"
like "$(head -n1 "$REC/conn-4.jsonl")" '"beta_header":true' "recorded with beta_header true"
is "$(tail -n1 "$REC/conn-4.jsonl")" '{"closed":{"by":"server","code":1008}}' "closed by the server"

# ---------------------------------------------------------------- greeting (5)
cat >"$T/greet" <<EOF
#wait session.created
$UPD
#wait session.updated
{"type":"response.create"}
#wait response.done
#close
EOF
out=$(probe fake-greeting "$T/greet")
deltas_bin "$out" "$T/got.bin"
mulaw 125 8000 >"$T/want.bin"
cmp -s "$T/want.bin" "$T/got.bin"
ok $? "greeting: response.create before any speech says 1000 ms of 0x55"
like "$(events "$out" response.output_audio_transcript.done)" '"transcript":"Hello, how can I help\?"' \
	"greeting: its transcript"

# ---------------------------------------------------------------- long and barge-in (6)
cat >"$T/long" <<EOF
#wait session.created
$UPD
#wait session.updated
{"type":"response.create"}
#wait response.created
{"type":"response.create","event_id":"ev_again"}
#wait error
$SPEECH100
#wait response.done
{"type":"conversation.item.truncate","event_id":"ev_trunc","item_id":"item_1","content_index":0,"audio_end_ms":9000}
#wait error
{"type":"conversation.item.truncate","item_id":"item_1","content_index":0,"audio_end_ms":1500}
#wait conversation.item.truncated
#close
EOF
out=$(probe fake-long "$T/long")
like "$(events "$out" error | head -n1)" '"code":"conversation_already_has_active_response","message":"Conversation already has an active response in progress: resp_1\.[^"]*","param":null,"event_id":"ev_again"' \
	"long: response.create while one is active: conversation_already_has_active_response"
like "$(events "$out" input_audio_buffer.speech_started)" '"item_id":"item_2"' \
	"long: caller speech during the answer: speech_started"
done_line=$(events "$out" response.done)
like "$done_line" '"status":"cancelled","status_details":\{"type":"cancelled","reason":"turn_detected"\}' \
	"then response.done cancelled, reason turn_detected"
like "$(events "$out" response.output_item.done)" '"status":"incomplete"' "the item is incomplete"
ss=$(line_of "$out" input_audio_buffer.speech_started)
rd=$(line_of "$out" '"type":"response.done"')
[ "$ss" -lt "$rd" ]
ok $? "speech_started comes before the cancelled response.done"
is "$(printf '%s\n' "$out" | sed -n "$rd,\$p" | grep -c 'response.output_audio.delta')" 0 \
	"no delta of the cancelled response after its response.done"
deltas_bin "$out" "$T/got.bin"
sent_ms=$(( $(wc -c <"$T/got.bin") / 8 ))
for i in $(seq 32 95); do printf "\\$(printf %03o "$i")"; done >"$T/cycle.bin"
cmp -s "$T/cycle.bin" <(head -c 64 "$T/got.bin")
ok $? "long: the audio cycles through the bytes 0x20..0x5F"
like "$(events "$out" error | sed -n 2p)" "\"type\":\"invalid_request_error\",\"code\":null,\"message\":\"Audio content of ${sent_ms}ms is already shorter than 9000ms\",\"param\":null,\"event_id\":\"ev_trunc\"" \
	"truncate beyond the audio sent: the API's error, code null"
like "$(events "$out" conversation.item.truncated)" '"item_id":"item_1","content_index":0,"audio_end_ms":1500' \
	"truncate within it: conversation.item.truncated"
grep -qF '"type":"conversation.item.truncate","item_id":"item_1","content_index":0,"audio_end_ms":1500' "$REC/conn-6.jsonl"
ok $? "the truncate is in the recording"

# long, not interrupted: it stays active while it "plays" (audio clock)
mulaw 377 64000 >"$T/silence8s.bin"
cat >"$T/long2" <<EOF
#wait session.created
$UPD
#wait session.updated
{"type":"response.create"}
#wait response.created
$(append_event "$T/silence8s.bin")
#wait response.done
#close
EOF
out=$(probe fake-long "$T/long2")
like "$(events "$out" response.done)" '"status":"completed".*"usage":\{"total_tokens":800,"input_tokens":0,"output_tokens":800,' \
	"long: completed once 8 s of caller audio went by; 8000 ms = 800 output tokens"

# ---------------------------------------------------------------- error (8)
cat >"$T/err" <<EOF
#wait session.created
$UPD
#wait session.updated
#wait error
$SPEECH
$SILENCE
#wait response.done
#close
EOF
out=$(probe fake-error "$T/err")
e=$(line_of "$out" '"type":"error"')
u=$(line_of "$out" session.updated)
like "$(events "$out" error)" '"code":"conversation_already_has_active_response"' \
	"error: a non-fatal error event after session.updated"
[ -n "$e" ] && [ "$u" -lt "$e" ]
ok $? "error: it comes after session.updated"
like "$(events "$out" response.done)" '"status":"completed"' "error: then it echoes as usual"

# ---------------------------------------------------------------- close (9)
cat >"$T/close" <<EOF
#wait session.created
$UPD
#wait session.updated
#sleep 5000
EOF
t0=$(now_ms)
out=$(probe fake-close "$T/close")
t1=$(now_ms)
is "$(printf '%s\n' "$out" | tail -n1)" "#closed server 1011 server error" "close: closed with 1011 'server error'"
[ $((t1 - t0)) -ge 1400 ] && [ $((t1 - t0)) -lt 4000 ]
ok $? "close: about 1.5 s after session.updated ($((t1 - t0)) ms)"
is "$(tail -n1 "$REC/conn-9.jsonl")" '{"closed":{"by":"server","code":1011}}' "close: recorded as closed by the server"

# ---------------------------------------------------------------- hang (10)
cat >"$T/hang" <<EOF
$UPD
{"type":"response.create"}
#sleep 1000
#close
EOF
out=$(probe fake-hang "$T/hang")
is "$out" "#closed client 1000" "hang: upgraded, then not a word"
is "$(wc -l <"$REC/conn-10.jsonl")" 4 "hang: still records what it was sent"

# ---------------------------------------------------------------- function (11)
cat >"$T/fn" <<EOF
#wait session.created
$UPD
#wait session.updated
$SPEECH
$SILENCE
#wait response.done
{"type":"conversation.item.create","event_id":"ev_nope","item":{"type":"function_call_output","call_id":"call_nope","output":"x"}}
#wait error
{"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"call_1","output":"{\"status\":\"shipped\"}"}}
{"type":"response.create"}
#wait response.done
#close
EOF
out=$(probe fake-function "$T/fn")
like "$(events "$out" response.output_item.added | head -n1)" '"item":\{"id":"item_2","object":"realtime.item","type":"function_call","status":"in_progress","name":"lookup_order","call_id":"call_1","arguments":""\}' \
	"function: the first turn is answered with a function call"
is "$(events "$out" response.function_call_arguments.delta | sed 's/.*"delta":\(.*\)}$/\1/' | tr -d '\n')" \
	'"{\"order_id\":""\"42\"}"' "function: the arguments in deltas"
like "$(events "$out" response.function_call_arguments.done)" '"call_id":"call_1","name":"lookup_order","arguments":"\{\\"order_id\\":\\"42\\"\}"' \
	"function: arguments.done"
like "$(events "$out" response.done | head -n1)" '"status":"completed","status_details":null,"output":\[\{"id":"item_2","object":"realtime.item","type":"function_call","status":"completed"' \
	"function: response.done with the function_call item"
like "$(events "$out" error)" "Tool call ID 'call_nope' not found in conversation.*\"event_id\":\"ev_nope\"" \
	"function: an output for an unknown call_id is an error"
like "$(events "$out" conversation.item.added | grep function_call_output)" '"item":\{"type":"function_call_output","call_id":"call_1","output":"\{\\"status\\":\\"shipped\\"\}","id":"item_3","object":"realtime.item","status":"completed"\}' \
	"function: the tool's output becomes an item"
second=$(printf '%s\n' "$out" | sed -n "$(line_of "$out" '"call_id":"call_1","output"'),\$p")
deltas_bin "$second" "$T/got.bin"
mulaw 146 8000 >"$T/want.bin"
cmp -s "$T/want.bin" "$T/got.bin"
ok $? "function: then response.create says 1000 ms of 0x66"
like "$(events "$out" response.output_audio_transcript.done)" '"transcript":"The tool said: \{\\"status\\":\\"shipped\\"\}"' \
	"function: 'The tool said: <output>'"

# ---------------------------------------------------------------- manual turns (12)
NOVAD='{"type":"session.update","session":{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcmu"},"turn_detection":null},"output":{"format":{"type":"audio/pcmu"}}}}}'
cat "$T/speech.bin" "$T/silence.bin" >"$T/manual.bin"
cat >"$T/manual" <<EOF
#wait session.created
$NOVAD
#wait session.updated
{"type":"input_audio_buffer.commit","event_id":"ev_empty"}
#wait error
$(append_event "$T/manual.bin")
{"type":"input_audio_buffer.commit"}
{"type":"response.create"}
#wait response.done
#close
EOF
out=$(probe gpt-realtime "$T/manual")
like "$(events "$out" error)" '"code":"input_audio_buffer_commit_empty".*"event_id":"ev_empty"' \
	"turn_detection null: committing nothing is input_audio_buffer_commit_empty"
is "$(events "$out" input_audio_buffer.speech_started)" "" "turn_detection null: no VAD events"
deltas_bin "$out" "$T/got.bin"
cmp -s "$T/manual.bin" "$T/got.bin"
ok $? "turn_detection null: commit + response.create echoes the whole buffer"

# ---------------------------------------------------------------- bounds (13, 14)
head -c 720000 /dev/zero | tr '\0' '\125' >"$T/90s.bin"
cat >"$T/cap" <<EOF
#wait session.created
$UPD
#wait session.updated
$(append_event "$T/90s.bin")
$SILENCE
#wait response.done
#close
EOF
out=$(probe gpt-realtime "$T/cap" -t 30)
like "$(events "$out" conversation.item.input_audio_transcription.completed)" '"transcript":"caller said 480000 bytes"' \
	"90 s of speech in one turn: 60 s are kept"
like "$(events "$out" response.output_audio_transcript.done)" '"transcript":"echo of 60000 ms"' \
	"and 60 s are echoed"

{
	printf '{"type":"input_audio_buffer.append","audio":"'
	head -c $((16 * 1024 * 1024)) /dev/zero | tr '\0' A
	printf '"}\n'
} >"$T/big"
out=$(probe gpt-realtime "$T/big" -t 30)
is "$(printf '%s\n' "$out" | tail -n1)" "#closed server 1009 message too big" \
	"a client message over 16 MiB: close 1009"
is "$(tail -n1 "$REC/conn-14.jsonl")" '{"closed":{"by":"server","code":1009}}' "recorded as closed by the server"

# ---------------------------------------------------------------- unknown scenario (15)
out=$(probe fake-nonsense /dev/null)
like "$out" '"code":"model_not_found"' "model=fake-<unknown>: model_not_found"
like "$out" '#closed server 1008' "and closed"

# ---------------------------------------------------------------- big (16)
cat >"$T/big-event" <<EOF
#wait session.created
$UPD
#wait session.updated
#wait response.output_audio_transcript.delta
$SPEECH
$SILENCE
#wait response.done
#close
EOF
out=$(probe fake-big "$T/big-event")
big=$(printf '%s\n' "$out" | sed -n "$(( $(line_of "$out" session.updated) + 1 ))p")
like "$(printf '%s' "$big" | head -c 300)" '^\{"type":"response.output_audio_transcript.delta","event_id":"[^"]+","response_id":"[^"]+","item_id":"[^"]+","output_index":0,"content_index":0,"delta":"aaaa' \
	"big: right after session.updated, a transcript delta with its ids"
is "$(printf '%s' "$big" | sed 's/.*"delta":"\([a]*\)".*/\1/' | tr -d '\n' | wc -c)" 150000 "big: its delta is 150000 'a's"
ok "$([ "$(printf '%s' "$big" | wc -c)" -gt 102400 ]; echo $?)" "big: the event is over 100 KiB ($(printf '%s' "$big" | wc -c) bytes)"
like "$(events "$out" response.done)" '"status":"completed"' "big: then it echoes as usual"

# ---------------------------------------------------------------- slow-created (17)
t0=$(now_ms)
out=$(probe fake-slow-created "$T/hs")
t1=$(now_ms)
like "$(printf '%s\n' "$out" | head -n1)" '^\{"type":"session.created",' "slow-created: session.created still comes first"
ok "$([ $((t1 - t0)) -ge 1400 ] && [ $((t1 - t0)) -lt 4000 ]; echo $?)" \
	"slow-created: about 1.5 s after the upgrade ($((t1 - t0)) ms)"
is "$(events "$out" session.updated | wc -l)" 1 "slow-created: then the session works"

# ---------------------------------------------------------------- many at once (18..117)
out=$(probe gpt-realtime "$T/echo" -n 100 -t 30)
is "$?" 0 "100 concurrent sessions: ws-probe exits 0"
is "$(printf '%s\n' "$out" | grep -c '"type":"response.done","event_id":"[^"]*","response":{[^}]*"status":"completed"')" 100 \
	"100 concurrent sessions: each one is answered"
is "$(printf '%s\n' "$out" | grep -c '#closed client 1000$')" 100 "and each one closes cleanly"
for i in 1 50 100; do
	deltas_bin "$(printf '%s\n' "$out" | sed -n "s/^$i //p")" "$T/got.bin"
	cmp -s "$T/speech.bin" "$T/got.bin" || break
done
ok $? "each one hears its own echo (checked: 1, 50, 100)"
is "$(wc -l <"$REC/connections.log")" 117 "connections.log has a line per WebSocket"

# ---------------------------------------------------------------- slow-handshake and stop
t0=$(now_ms)
st=$(upgrade_status "/v1/realtime?model=fake-slow-handshake" -H "Authorization: Bearer $FO_KEY")
t1=$(now_ms)
is "$st" 000 "slow-handshake: no answer to the upgrade within 2 s"

cat >"$T/stay" <<EOF
#wait session.created
#sleep 20000
EOF
"$WS_PROBE" -t 20 -H "Authorization: Bearer $FO_KEY" "$FO_URL?model=gpt-realtime" "$T/stay" >"$T/stay.out" &
probe_pid=$!
for i in $(seq 1 100); do
	grep -q session.created "$T/stay.out" && break
	sleep 0.05
done
fo_stop
is "$FO_STATUS" 0 "SIGTERM: exits 0"
wait "$probe_pid"
is "$(tail -n1 "$T/stay.out")" "#closed server 1001 server shutting down" \
	"SIGTERM: open sessions are closed with 1001"
is "$(tail -n1 "$REC/conn-118.jsonl")" '{"closed":{"by":"server","code":1001}}' \
	"SIGTERM: recorded as closed by the server"
unlike "$(cat "$FO_LOG")" '^<3>|Sanitizer|runtime error' "no errors in fake-openai's log"

done_testing
