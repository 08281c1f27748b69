#!/bin/bash
# Function calling through the relay: http tools against a real HTTP(S)
# server (success, timeout, refused, 500, oversized, TLS), end_call and
# transfer_call, unknown tools.  The fake OpenAI server's "function"
# scenario calls lookup_order({"order_id":"42"}) after the caller's first
# turn, and speaks "The tool said: <output>" (audio 0x66) once it gets the
# output and response.create.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
. "$top_srcdir/tests/lib/relay.sh"
TOOL_SERVER=$top_builddir/tests/tools/tool-server
tools_stop() {
	local p
	for p in ${TOOL_PIDS:-}; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	TOOL_PIDS=
}
CLEANUP="relay_stop tools_stop fake_stop wh_stop db_stop"
SECRET=tool-secret-0123

# A private CA and a certificate for "localhost", for the https tool.
( cd "$TEST_TMP" &&
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test CA" -keyout ca.key -out ca.pem &&
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout tls.key -out tls.csr &&
  printf 'subjectAltName=DNS:localhost\n' >san.ext &&
  openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out tls.pem
) >/dev/null 2>&1

tool_start() { # NAME [args]: start a tool server, set PORT_<NAME>
	local name=$1 out i; shift
	out=$TEST_TMP/tool-$name.out
	"$TOOL_SERVER" -p 0 -r "$TEST_TMP/tool-$name.jsonl" "$@" >"$out" 2>"$TEST_TMP/tool-$name.log" &
	TOOL_PIDS="${TOOL_PIDS:-} $!"
	for i in $(seq 1 100); do
		p=$(sed -n 's/^listening on PORT \([0-9]*\)$/\1/p' "$out")
		[ -n "$p" ] && { eval "PORT_$name=$p"; return 0; }
		sleep 0.05
	done
	echo "Bail out! tool-server did not start"; exit 1
}
tool_start http
tool_start https -c "$TEST_TMP/tls.pem" -k "$TEST_TMP/tls.key"

db_start
agent() { # N KIND URL_OR_TARGET TIMEOUT_MS
	local col=url
	[ "$2" = transfer_call ] && col=transfer_to
	[ "$2" = end_call ] && col=url
	db_sql "INSERT INTO agents (id, name, model, fallback_message) VALUES ($1, 'agent$1', 'fake-function', 'Sorry.');
		INSERT INTO phone_numbers (number, agent_id) VALUES ('+1800555030$1', $1);
		INSERT INTO agent_tools (agent_id, name, description, parameters, kind, $col, timeout_ms)
		VALUES ($1, 'lookup_order', 'Find an order',
		        '{\"type\":\"object\",\"properties\":{\"order_id\":{\"type\":\"string\"}}}',
		        '$2', $( [ "$2" = end_call ] && echo NULL || echo "'$3'" ), ${4:-2000});"
}
agent 1 http "http://127.0.0.1:$PORT_http/ok"
agent 2 http "http://127.0.0.1:$PORT_http/slow/4000" 500
agent 3 http "http://127.0.0.1:1/ok"
agent 4 http "http://127.0.0.1:$PORT_http/status/500"
agent 5 http "http://127.0.0.1:$PORT_http/big/200000"
agent 6 http "https://localhost:$PORT_https/ok"
agent 7 end_call x
agent 8 transfer_call "+18005550000"
# An agent whose only tool has another name: lookup_order is unknown to it.
db_sql "INSERT INTO agents (id, name, model) VALUES (9, 'agent9', 'fake-function');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550309', 9);
	INSERT INTO agent_tools (agent_id, name, kind, url) VALUES (9, 'other_tool', 'http', 'http://127.0.0.1:$PORT_http/ok');"
# Arguments that are not JSON: the model's stream was cut off.
db_sql "INSERT INTO agents (id, name, model) VALUES (10, 'agent10', 'fake-function-badargs');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550310', 10);
	INSERT INTO agent_tools (agent_id, name, kind, url) VALUES (10, 'lookup_order', 'http', 'http://127.0.0.1:$PORT_http/ok');"
# Ten calls at once whose tool takes 1.5 s each.
db_sql "INSERT INTO agents (id, name, model) VALUES (13, 'agent13', 'fake-function');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550313', 13);
	INSERT INTO agent_tools (agent_id, name, kind, url, timeout_ms) VALUES (13, 'lookup_order', 'http', 'http://127.0.0.1:$PORT_http/slow/1500', 4000);"
# end_call after the goodbye: echo (the goodbye), then at once end_call.
db_sql "INSERT INTO agents (id, name, model) VALUES (12, 'agent12', 'fake-function-goodbye');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550312', 12);
	INSERT INTO agent_tools (agent_id, name, kind) VALUES (12, 'lookup_order', 'end_call');"
# A function call from an answer the caller interrupted.
db_sql "INSERT INTO agents (id, name, model) VALUES (11, 'agent11', 'fake-function-late');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550311', 11);
	INSERT INTO agent_tools (agent_id, name, kind, url) VALUES (11, 'lookup_order', 'http', 'http://127.0.0.1:$PORT_http/ok');"
fake_start
relay_config "$TEST_TMP/callbridge.conf"
cat >>"$TEST_TMP/callbridge.conf" <<CONF

[tools]
secret = $SECRET
max_response = 65536
ca_file = $TEST_TMP/ca.pem
CONF
wh_start
relay_start

call() { # N: one call to agent N; sets SID, CS, RES
	read -r SID CS <<<"$(new_session "+1800555030$1")"
	RES=$(sim -D "${2:-4000}" -T s600,q3400 -E 0x66 "$SID:$CS")
	settle
}
# settle: the relay stored the session's end and its function call.
settle() {
	eventually 10 session_over "$SID"
	eventually 10 events_at_least "$SID" 1 function_call
}
fn_event() { db_sql "SELECT content FROM call_events WHERE session_id = '$SID' AND kind = 'function_call'"; }
said() { db_sql "SELECT GROUP_CONCAT(content SEPARATOR '|') FROM call_events WHERE session_id = '$SID' AND kind = 'transcript' AND role = 'assistant'"; }

# --- success
call 1
ok "$([ "$(json_field "$RES" heard_bytes)" -ge 7000 ]; echo $?)" "http tool: the caller hears the answer ($(json_field "$RES" heard_bytes) bytes)"
like "$(said)" 'The tool said: \{"status":"shipped","received":\{"order_id":"42"\}\}' "http tool: the answer is the function_call_output"
rec=$(tail -1 "$TEST_TMP/tool-http.jsonl")
like "$rec" '"method":"POST","path":"/ok"' "http tool: POST to the tool's URL"
like "$rec" '"body":"\{\\"order_id\\":\\"42\\"\}"' "http tool: the body is the model's arguments"
like "$rec" '"Content-Type":"application/json"' "http tool: as JSON"
like "$rec" "\"X-Callbridge-Session\":\"$SID\"" "http tool: the session is named"
ts=$(printf '%s' "$rec" | sed 's/.*"X-Callbridge-Timestamp":"\([0-9]*\)".*/\1/')
sig=$(printf '%s' "$rec" | sed 's/.*"X-Callbridge-Signature":"sha256=\([0-9a-f]*\)".*/\1/')
want=$(printf '%s.%s' "$ts" '{"order_id":"42"}' | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
is "$sig" "$want" "http tool: X-Callbridge-Signature is HMAC-SHA256(secret, timestamp.body)"
like "$(fn_event)" '^lookup_order\(\{"order_id":"42"\}\) -> \{"status":"shipped".* \([0-9]+ ms\)$' "http tool: a function_call event with the output and the duration"

# --- failures become error outputs the model explains; the call goes on
call 2
like "$(said)" 'The tool said: \{"error":"the tool could not be reached: no answer within 500 ms"\}' "timeout_ms: an error output"
ok "$([ "$(json_field "$RES" heard_bytes)" -ge 7000 ]; echo $?)" "timeout_ms: the call goes on"
like "$(fn_event)" 'no answer within 500 ms \([0-9]+ ms\)$' "timeout_ms: recorded"
call 3
like "$(said)" 'could not be reached: connection failed' "connection refused: an error output"
call 4
like "$(said)" 'could not be reached: the tool answered HTTP 500' "HTTP 500: an error output"
call 5
like "$(said)" 'could not be reached: the answer is larger than max_response' "an answer over max_response: an error output"
call 6
like "$(said)" 'The tool said: \{"status":"shipped"' "https with the configured CA: success"
call 9
like "$(said)" 'The tool said: \{"error":"no such tool"\}' "an unknown tool: an error output"
like "$(fn_event)" 'no such tool' "  ... recorded"

before=$(wc -l <"$TEST_TMP/tool-http.jsonl")
read -r SID CS <<<"$(new_session +18005550310)"
RES=$(sim -D 4000 -T s600,q3400 -E 0x66 "$SID:$CS")
settle
like "$(said)" 'The tool said: \{"error":"the arguments are not a valid JSON object"\}' "malformed arguments: an error output"
is "$(wc -l <"$TEST_TMP/tool-http.jsonl")" "$before" "  ... and the tool is not called"
like "$(fn_event)" 'malformed arguments' "  ... recorded"

before=$(wc -l <"$TEST_TMP/tool-http.jsonl")
read -r SID CS <<<"$(new_session +18005550311)"
RES=$(sim -D 4500 -T s400,q700,s400,q3000 "$SID:$CS")
settle
ok "$([ "$(json_field "$RES" clears)" -ge 1 ]; echo $?)" "barge-in: the answer was interrupted"
f=$(grep -l '"model":"fake-function-late"' "$FAKE_DIR"/conn-*.jsonl | head -1)
like "$(grep '"function_call_output"' "$f")" 'not run: the caller interrupted' "barge-in: the late function call gets an error output"
is "$(wc -l <"$TEST_TMP/tool-http.jsonl")" "$before" "  ... and the tool is not called"
is "$(grep -A1 '"function_call_output"' "$f" | grep -c '"response.create"')" 0 "  ... and no response.create for it"
like "$(fn_event)" 'not run \(barge-in\)' "  ... recorded"

# --- slow tools in ten calls at once do not wait for each other
calls=()
for i in $(seq 1 10); do
	read -r sid cs <<<"$(new_session +18005550313)"
	calls+=("$sid:$cs")
done
t0=$(now_ms)
sim -D 5000 -T s600,q4400 -E 0x66 -j "$TEST_TMP/ten" "${calls[@]}"
t1=$(now_ms)
short=$(sed -n 's/.*"heard_bytes":\([0-9]*\).*/\1/p' "$TEST_TMP/ten" | awk '$1 < 7000' | wc -l)
is "$short" 0 "ten calls with a 1.5 s tool each: every caller hears its tool's answer"
is "$(grep -c '"heard_foreign_bytes":0,' "$TEST_TMP/ten")" 10 "  ... and only its own call's audio"
ok "$([ $((t1 - t0)) -lt 9000 ]; echo $?)" "  ... in parallel, not one after another ($((t1 - t0)) ms for 10 x 1.5 s tools)"

# --- end_call: the relay ends the call itself; connect-action hangs up
call 7 8000
is "$(json_field "$RES" closed_by)" server "end_call: the relay closes the stream"
ok "$([ "$(json_field "$RES" duration_ms)" -lt 7000 ]; echo $?)" "  ... before the caller's 8 s ($(json_field "$RES" duration_ms) ms)"
is "$(json_field "$RES" marks_echoed)" "$(json_field "$RES" marks_received)" "  ... after every mark came back (playback finished)"
is "$(db_sql "SELECT CONCAT(status, '|', end_reason) FROM call_sessions WHERE session_id = '$SID'")" "ended|agent ended the call" "  ... the session ended by the agent"
like "$(resp_body "$(twilio_post /api/connect-action/ CallSid="$CS" AccountSid=$ACCOUNT_SID CallStatus=in-progress)")" \
	'<Response><Hangup/></Response>' "  ... connect-action hangs up"

# The goodbye (600 ms of the caller's own audio, echoed) is still playing
# when end_call arrives: the call ends only after it has played.
read -r SID CS <<<"$(new_session +18005550312)"
RES=$(sim -D 8000 -T s600,q7400 "$SID:$CS")
is "$(json_field "$RES" closed_by)" server "end_call after a goodbye: the relay ends the call"
is "$(json_field "$RES" heard_bytes)" 4800 "  ... after the whole goodbye played (600 ms = 4800 bytes heard)"
is "$(json_field "$RES" marks_echoed)" "$(json_field "$RES" marks_received)" "  ... every mark acknowledged first"

# --- transfer_call: to the row's destination, never the model's
call 8 8000
is "$(json_field "$RES" closed_by)" server "transfer_call: the relay closes the stream"
is "$(db_sql "SELECT CONCAT(status, '|', transfer_to, '|', end_reason) FROM call_sessions WHERE session_id = '$SID'")" \
	"ended|+18005550000|agent transferred the call to +18005550000" "  ... the row's destination recorded on the session"
like "$(resp_body "$(twilio_post /api/connect-action/ CallSid="$CS" AccountSid=$ACCOUNT_SID CallStatus=in-progress)")" \
	'<Dial callerId="\+18005550308"><Number>\+18005550000</Number></Dial>' "  ... connect-action dials it with the called number as caller ID"

relay_stop
is "$RELAY_STATUS" 0 "the relay exits 0 on SIGTERM"
wh_stop
no_sanitizer_reports
done_testing
