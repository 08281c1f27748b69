#!/bin/bash
# The incoming-call route end to end: signed webhook -> real
# callbridge-webhook (FastCGI via cgi-fcgi) -> private MariaDB -> TwiML.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
CLEANUP="wh_stop db_stop"

db_start
db_sql "INSERT INTO agents (name, instructions) VALUES ('sales', 'Sell things.');
	INSERT INTO agents (name, instructions, enabled) VALUES ('off', 'x', FALSE);
	INSERT INTO agents (name, instructions) VALUES ('A&B <\"quoted\">', 'x');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550199', 1);
	INSERT INTO phone_numbers (number, agent_id, enabled) VALUES ('+18005550100', 1, FALSE);
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550101', 2);
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550102', 3);"
wh_config "$TEST_TMP/callbridge.conf"
wh_start

incoming() { # incoming TO CALLSID [URI]
	twilio_post "${3:-/api/webhook/}" CallSid="$2" AccountSid=$ACCOUNT_SID \
		From=+14155550100 To="$1" CallStatus=ringing Direction=inbound \
		ApiVersion=2010-04-01 FromCountry=US Caller=+14155550100
}

UUID_RE='[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'

# --- a known number gets <Connect><Stream> and a pending session
cs=$(new_call_sid)
r=$(incoming +18005550199 "$cs")
body=$(resp_body "$r")
is "$(resp_status "$r")" 200 "incoming call: 200"
like "$(resp_header "$r" Content-Type)" '^text/xml' "incoming call: text/xml"
is "$(resp_header "$r" Content-Length)" "$(printf '%s\n' "$body" | wc -c)" "incoming call: Content-Length matches the body"
like "$body" '^<\?xml version="1.0" encoding="UTF-8"\?>' "TwiML starts with the XML declaration"
like "$body" "<Connect action=\"https://voice.example.com/api/connect-action/\" method=\"POST\"><Stream url=\"wss://relay.example.com/ws/realtime/$UUID_RE/\"" "TwiML connects the stream to the relay"
like "$body" 'statusCallback="https://voice.example.com/api/stream-status/"' "stream status callback set"
like "$body" '<Parameter name="agent" value="sales"/>' "agent parameter"
sid=$(printf '%s' "$body" | grep -oE "realtime/$UUID_RE" | cut -d/ -f2)
like "$body" "<Parameter name=\"session_id\" value=\"$sid\"/>" "session_id parameter"
if command -v xmllint >/dev/null; then
	printf '%s' "$body" | xmllint --noout - 2>/dev/null
	ok $? "TwiML is well-formed XML"
fi
row=$(db_sql "SELECT session_id, status, agent_id, from_number, to_number, account_sid, twilio_status,
	TIMESTAMPDIFF(SECOND, created_at, expires_at) FROM call_sessions WHERE call_sid = '$cs'")
is "$row" "$(printf '%s\tpending\t1\t+14155550100\t+18005550199\t%s\tringing\t60' "$sid" "$ACCOUNT_SID")" \
	"session row: pending, agent, numbers, expires after session_ttl"

# --- a retried webhook returns the same session id and adds no row
r2=$(incoming +18005550199 "$cs")
is "$(resp_body "$r2")" "$body" "retried webhook: identical TwiML (same session id)"
is "$(db_sql "SELECT COUNT(*) FROM call_sessions WHERE call_sid = '$cs'")" 1 "retried webhook: still one row"

# --- retries racing each other still make one row
cs2=$(new_call_sid)
pids=
for i in 1 2 3 4 5 6 7 8; do
	incoming +18005550199 "$cs2" >"$TEST_TMP/race.$i" &
	pids="$pids $!"
done
wait $pids
ids=$(cat "$TEST_TMP"/race.* | grep -oE "realtime/$UUID_RE" | sort -u | wc -l)
is "$ids" 1 "8 concurrent retries: one session id in every answer"
is "$(db_sql "SELECT COUNT(*) FROM call_sessions WHERE call_sid = '$cs2'")" 1 "8 concurrent retries: one row"

# --- every call gets its own random id
cs3=$(new_call_sid)
r3=$(incoming +18005550199 "$cs3")
sid3=$(resp_body "$r3" | grep -oE "realtime/$UUID_RE" | cut -d/ -f2)
ok "$([ -n "$sid3" ] && [ "$sid3" != "$sid" ]; echo $?)" "a new call gets a new session id"

# --- unknown, disabled number, disabled agent: spoken message and hang up, 200
for to in +18005559999 +18005550100 +18005550101; do
	r=$(incoming "$to" "$(new_call_sid)")
	is "$(resp_status "$r")" 200 "number $to: 200, not an HTTP error"
	like "$(resp_body "$r")" '<Say>The number you have called is not in service.</Say><Hangup/></Response>' \
		"number $to: says so and hangs up"
done
is "$(db_sql "SELECT COUNT(*) FROM call_sessions WHERE to_number IN ('+18005559999','+18005550100','+18005550101')")" 0 \
	"no session for unknown or disabled numbers"

# --- escaping: an agent name with XML metacharacters
r=$(incoming +18005550102 "$(new_call_sid)")
like "$(resp_body "$r")" '<Parameter name="agent" value="A&amp;B &lt;&quot;quoted&quot;&gt;"/>' "agent name is XML-escaped"
if command -v xmllint >/dev/null; then
	resp_body "$r" | xmllint --noout - 2>/dev/null
	ok $? "TwiML with escaped name is well-formed"
fi

# --- alias, no trailing slash, path prefix
r=$(incoming +18005550199 "$(new_call_sid)" /api/twiml/)
like "$(resp_body "$r")" '<Connect action=' "alias /api/twiml/ works"
r=$(incoming +18005550199 "$(new_call_sid)" /api/webhook)
like "$(resp_body "$r")" '<Connect action=' "route without the trailing slash works"
r=$(incoming +18005550199 "$(new_call_sid)" /voice/api/webhook/)
like "$(resp_body "$r")" 'action="https://voice.example.com/voice/api/connect-action/"' "path prefix carried into the action URL"
like "$(resp_body "$r")" 'statusCallback="https://voice.example.com/voice/api/stream-status/"' "path prefix carried into the status callback"

# --- signatures: the SDKs' port variants, query strings, missing, wrong
cs=$(new_call_sid)
set -- CallSid=$cs AccountSid=$ACCOUNT_SID From=+14155550100 To=+18005550199
sig=$(twilio_sign "https://voice.example.com:443/api/webhook/" "$@")
r=$(fcgi POST /api/webhook/ "$(form_body "$@")" application/x-www-form-urlencoded "$sig")
is "$(resp_status "$r")" 200 "signature computed with :443 is accepted"
sig=$(twilio_sign "https://voice.example.com/api/webhook/?tenant=a&x=1" "$@")
r=$(fcgi POST "/api/webhook/?tenant=a&x=1" "$(form_body "$@")" application/x-www-form-urlencoded "$sig")
is "$(resp_status "$r")" 200 "query string is part of the signed URL"
r=$(fcgi POST "/api/webhook/?tenant=b&x=1" "$(form_body "$@")" application/x-www-form-urlencoded "$sig")
is "$(resp_status "$r")" 403 "a changed query string is refused"
r=$(fcgi POST /api/webhook/ "$(form_body "$@")")
is "$(resp_status "$r")" 403 "missing signature: 403"
sig=$(twilio_sign "https://voice.example.com/api/webhook/" "$@")
r=$(fcgi POST /api/webhook/ "$(form_body CallSid=$cs AccountSid=$ACCOUNT_SID From=+14155550100 To=+18005550101)" \
	application/x-www-form-urlencoded "$sig")
is "$(resp_status "$r")" 403 "tampered parameter: 403"
sig=$(TOKEN=another-token twilio_sign "https://voice.example.com/api/webhook/" "$@")
r=$(fcgi POST /api/webhook/ "$(form_body "$@")" application/x-www-form-urlencoded "$sig")
is "$(resp_status "$r")" 403 "signature with another auth token: 403"
is "$(db_sql "SELECT COUNT(*) FROM call_sessions WHERE call_sid = '$cs'")" 1 "refused requests created no session"

# --- health, public-url, tools
r=$(fcgi GET /api/health/)
is "$(resp_status "$r")" 200 "health: 200"
like "$(resp_body "$r")" '"status":"ok".*"schema_version":1' "health: ok with schema version"
r=$(fcgi GET /api/public-url/)
like "$(resp_body "$r")" '"webhook_url":"https://voice.example.com/api/webhook/"' "public-url: webhook URL"
like "$(resp_body "$r")" '"stream_url_template":"wss://relay.example.com/ws/realtime/\{session_id\}/"' "public-url: stream URL template"

db_sql "INSERT INTO agent_tools (agent_id, name, description, parameters, kind, url) VALUES
	(1, 'lookup_order', 'Find an order', '{\"type\":\"object\",\"properties\":{\"order\":{\"type\":\"string\"}},\"required\":[\"order\"]}', 'http', 'https://tools.example.com/order');
	INSERT INTO agent_tools (agent_id, name, kind) VALUES (1, 'hang_up', 'end_call');
	INSERT INTO agent_tools (agent_id, name, kind, transfer_to) VALUES (1, 'to_human', 'transfer_call', '+18005550000');
	INSERT INTO agent_tools (agent_id, name, kind, enabled) VALUES (1, 'disabled_tool', 'end_call', FALSE);
	INSERT INTO agent_tools (agent_id, name, parameters, kind) VALUES (1, 'broken_json', '{not json', 'end_call');
	INSERT INTO agent_tools (agent_id, name, parameters, kind) VALUES (1, 'not_object', '[1,2]', 'end_call');"
r=$(fcgi GET "/api/tools/?agent=sales")
b=$(resp_body "$r")
is "$(resp_status "$r")" 200 "tools: 200"
like "$b" '^\{"agent":"sales","tools":\[\{"type":"function","name":"lookup_order","description":"Find an order","parameters":\{"type":"object","properties":\{"order":\{"type":"string"\}\},"required":\["order"\]\},"kind":"http"\}' \
	"tools: function tool with its JSON Schema"
like "$b" '"name":"hang_up".*"name":"to_human"' "tools: every enabled tool, in order"
unlike "$b" 'disabled_tool' "tools: disabled tool left out"
unlike "$b" 'tools.example.com|18005550000' "tools: no URL or transfer number exposed"
like "$b" '"skipped":\[\{"name":"broken_json","reason":"parameters is not valid JSON"\},\{"name":"not_object","reason":"parameters is not a JSON object"\}\]' \
	"tools: invalid rows skipped with a reason"
r=$(fcgi GET "/api/tools/?number=%2B18005550199")
like "$(resp_body "$r")" '"agent":"sales"' "tools by number"
is "$(resp_status "$(fcgi GET "/api/tools/?agent=nobody")")" 404 "tools: unknown agent 404"
is "$(resp_status "$(fcgi GET "/api/tools/")")" 400 "tools: no agent given 400"

# --- connect-action: what happens after the stream
connect_action() { # CALLSID [CallStatus]
	twilio_post /api/connect-action/ CallSid="$1" AccountSid=$ACCOUNT_SID \
		From=+14155550100 To=+18005550199 CallStatus="${2:-in-progress}"
}
new_session() { # prints the CallSid of a fresh pending session
	local c
	c=$(new_call_sid)
	incoming +18005550199 "$c" >/dev/null
	printf '%s' "$c"
}

c=$(new_session)
db_sql "UPDATE call_sessions SET status = 'connected' WHERE call_sid = '$c';
	UPDATE call_sessions SET status = 'ended', end_reason = 'caller hung up' WHERE call_sid = '$c'"
r=$(connect_action "$c")
like "$(resp_body "$r")" '<Response><Hangup/></Response>' "connect-action, ended: hang up"
is "$(db_sql "SELECT content FROM call_events WHERE session_id = (SELECT session_id FROM call_sessions WHERE call_sid = '$c') ORDER BY seq DESC LIMIT 1")" \
	"connect-action: hang up (session ended)" "connect-action recorded as an event"

c=$(new_session)
db_sql "UPDATE call_sessions SET status = 'connected', transfer_to = '+18005550000' WHERE call_sid = '$c'"
r=$(connect_action "$c")
like "$(resp_body "$r")" '<Dial callerId="\+18005550199"><Number>\+18005550000</Number></Dial>' \
	"connect-action, transfer: <Dial> to the recorded target with the called number as caller ID"
c=$(new_session)
db_sql "UPDATE agents SET transfer_caller_id = '+18005557777' WHERE id = 1;
	UPDATE call_sessions SET status = 'ended', transfer_to = 'sip:desk@pbx.example.com' WHERE call_sid = '$c'"
r=$(connect_action "$c")
like "$(resp_body "$r")" '<Dial callerId="\+18005557777"><Sip>sip:desk@pbx.example.com</Sip></Dial>' \
	"connect-action, SIP transfer with the agent's caller ID"

c=$(new_session)
db_sql "UPDATE call_sessions SET status = 'failed', end_reason = 'upstream refused' WHERE call_sid = '$c'"
r=$(connect_action "$c")
like "$(resp_body "$r")" "<Say>We are sorry, our assistant is not available right now. Please call again later.</Say><Hangup/>" \
	"connect-action, failed, no agent fallback: the configured message"
db_sql "UPDATE agents SET fallback_message = 'Sorry & goodbye' WHERE id = 1"
r=$(connect_action "$c")
like "$(resp_body "$r")" "<Say>Sorry &amp; goodbye</Say><Hangup/>" "connect-action, failed: the agent's fallback message"
db_sql "UPDATE agents SET fallback_number = '+18005551234' WHERE id = 1"
r=$(connect_action "$c")
like "$(resp_body "$r")" '<Dial callerId="\+18005557777"><Number>\+18005551234</Number></Dial>' \
	"connect-action, failed: the agent's fallback number first"

c=$(new_session)
r=$(connect_action "$c")
like "$(resp_body "$r")" '<Number>\+18005551234</Number>' "connect-action, never claimed: fallback"
is "$(db_sql "SELECT status FROM call_sessions WHERE call_sid = '$c'")" failed "connect-action, never claimed: session failed"
like "$(db_sql "SELECT end_reason FROM call_sessions WHERE call_sid = '$c'")" 'before a relay claimed' "  ... with a reason"

c=$(new_session)
db_sql "UPDATE call_sessions SET status = 'connected' WHERE call_sid = '$c'"
r=$(connect_action "$c")
like "$(resp_body "$r")" '<Number>\+18005551234</Number>' "connect-action, relay vanished mid-call: fallback"

r=$(connect_action "$c" completed)
like "$(resp_body "$r")" '<Response><Hangup/></Response>' "connect-action after the caller hung up: hang up"
r=$(connect_action "$(new_call_sid)")
like "$(resp_body "$r")" '<Say>We are sorry' "connect-action for an unknown call: configured fallback"

# --- -n 1 serves requests one after another on one connection
wh_stop
wh_start -n 1
for i in 1 2 3; do
	r=$(incoming +18005550199 "$(new_call_sid)")
	like "$(resp_body "$r")" '<Connect action=' "one thread: request $i answered"
done
wh_stop
is "$WH_STATUS" 0 "SIGTERM: exit status 0"
like "$(cat "$WH_LOG")" 'stopped' "SIGTERM: logged a clean stop"
no_sanitizer_reports

done_testing
