#!/bin/bash
# Status and stream-status callbacks: out-of-order safe, forward only, and
# a call that ends before its stream connects leaves nothing claimable.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
CLEANUP="wh_stop db_stop"

db_start
db_sql "INSERT INTO agents (name) VALUES ('support');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550199', 1);"
wh_config "$TEST_TMP/callbridge.conf"
wh_start

incoming() {
	twilio_post /api/webhook/ CallSid="$1" AccountSid=$ACCOUNT_SID \
		From=+14155550100 To=+18005550199 CallStatus=ringing >/dev/null
}
status() { # CALLSID STATUS [SEQ [DURATION]]
	twilio_post /api/status/ CallSid="$1" AccountSid=$ACCOUNT_SID \
		From=+14155550100 To=+18005550199 CallStatus="$2" \
		${3:+SequenceNumber=$3} ${4:+CallDuration=$4} \
		CallbackSource=call-progress-events Timestamp="Sat, 21 Nov 2026 16:00:00 +0000"
}
stream() { # CALLSID EVENT [ERROR]
	twilio_post /api/stream-status/ CallSid="$1" AccountSid=$ACCOUNT_SID \
		StreamSid=MZ0123456789abcdef0123456789abcdef StreamName=callbridge \
		StreamEvent="$2" ${3:+StreamError="$3"} Timestamp=2026-11-21T16:00:00.000Z
}
field() { db_sql "SELECT $2 FROM call_sessions WHERE call_sid = '$1'"; }

# --- in order
c=$(new_call_sid); incoming "$c"
r=$(status "$c" in-progress 1)
is "$(resp_status "$r")" 204 "status callback: 204"
is "$(resp_header "$r" Content-Length)" 0 "status callback: Content-Length 0"
is "$(field "$c" "CONCAT(twilio_status, '/', twilio_seq)")" "in-progress/1" "in-progress recorded with its sequence number"

# --- out of order: completed (seq 3) before ringing (seq 2)
db_sql "UPDATE call_sessions SET status = 'connected', connected_at = UTC_TIMESTAMP(6) WHERE call_sid = '$c'"
r=$(status "$c" completed 3 42)
is "$(field "$c" "CONCAT(twilio_status, '/', twilio_seq, '/', duration_s)")" "completed/3/42" "completed recorded with CallDuration"
r=$(status "$c" ringing 2)
is "$(resp_status "$r")" 204 "late callback: still 204"
is "$(field "$c" "CONCAT(twilio_status, '/', twilio_seq)")" "completed/3" "a lower SequenceNumber never overwrites a higher one"
r=$(status "$c" completed 3 42)
is "$(db_sql "SELECT COUNT(*) FROM call_events e JOIN call_sessions s USING (session_id) WHERE s.call_sid = '$c' AND e.kind = 'status'")" 2 \
	"duplicate and stale callbacks record no event"
is "$(field "$c" status)" connected "a connected session is left to its relay to end"

# --- without sequence numbers the status still never moves back
c=$(new_call_sid); incoming "$c"
status "$c" in-progress >/dev/null
status "$c" ringing >/dev/null
is "$(field "$c" twilio_status)" in-progress "no SequenceNumber: ringing after in-progress ignored"

# --- a call that completes without ever connecting: nothing claimable
for final in completed busy no-answer canceled failed; do
	c=$(new_call_sid); incoming "$c"
	status "$c" "$final" 2 >/dev/null
	is "$(field "$c" "CONCAT(status, '|', end_reason)")" "expired|call $final before the stream connected" \
		"$final before the stream connected: session expired with a reason"
	is "$(db_sql "SELECT COUNT(*) FROM call_sessions WHERE call_sid = '$c' AND status = 'pending'")" 0 \
		"  ... and no longer claimable"
done

# --- events in order, per session
c=$(new_call_sid); incoming "$c"
status "$c" initiated 0 >/dev/null
status "$c" ringing 1 >/dev/null
status "$c" in-progress 2 >/dev/null
status "$c" completed 3 >/dev/null
is "$(db_sql "SELECT GROUP_CONCAT(CONCAT(seq, ':', content) ORDER BY seq SEPARATOR ',') FROM call_events e JOIN call_sessions s USING (session_id) WHERE s.call_sid = '$c'")" \
	"1:call status ringing,2:call status in-progress,3:call status completed" \
	"status events numbered in order (initiated after the webhook's ringing is stale)"

# --- unknown calls are accepted and ignored
r=$(status "$(new_call_sid)" completed 5)
is "$(resp_status "$r")" 204 "status for an unknown call: 204"

# --- malformed
r=$(status "$c" exploded 3)
is "$(resp_status "$r")" 400 "unknown CallStatus: 400"
r=$(status "$c" completed -1)
is "$(resp_status "$r")" 400 "negative SequenceNumber: 400"
r=$(status "$c" completed x1)
is "$(resp_status "$r")" 400 "non-numeric SequenceNumber: 400"

# --- stream status
c=$(new_call_sid); incoming "$c"
r=$(stream "$c" stream-started)
is "$(resp_status "$r")" 204 "stream-started: 204"
is "$(field "$c" stream_sid)" MZ0123456789abcdef0123456789abcdef "stream-started records the StreamSid"
r=$(stream "$c" stream-stopped)
is "$(resp_status "$r")" 204 "stream-stopped: 204"
is "$(field "$c" status)" pending "stream events do not move the session by themselves"

c=$(new_call_sid); incoming "$c"
r=$(stream "$c" stream-error "Stream - WebSocket - Handshake Error")
is "$(resp_status "$r")" 204 "stream-error: 204"
is "$(field "$c" "CONCAT(status, '|', end_reason)")" "failed|stream error: Stream - WebSocket - Handshake Error" \
	"stream-error before the relay claimed it: session failed with the reason"
is "$(db_sql "SELECT CONCAT(kind, '|', content) FROM call_events e JOIN call_sessions s USING (session_id) WHERE s.call_sid = '$c'")" \
	"error|stream-error MZ0123456789abcdef0123456789abcdef: Stream - WebSocket - Handshake Error" "stream-error recorded as an error event"
r=$(twilio_post /api/connect-action/ CallSid="$c" AccountSid=$ACCOUNT_SID CallStatus=in-progress)
like "$(resp_body "$r")" '<Say>We are sorry' "after a stream error the caller hears the fallback"

r=$(stream "$c" stream-exploded)
is "$(resp_status "$r")" 400 "unknown StreamEvent: 400"
r=$(twilio_post /api/stream-status/ CallSid="$c" StreamEvent=stream-started)
is "$(resp_status "$r")" 400 "stream status without StreamSid: 400"

wh_stop
no_sanitizer_reports

done_testing
