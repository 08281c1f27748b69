#!/bin/bash
# The command line: -V, -h, -t with good and bad files, bad options, and
# refusing to run without a FastCGI socket.
. "$top_srcdir/tests/lib/tap.sh"
test_init
WEBHOOK=$top_builddir/callbridge-webhook

out=$("$WEBHOOK" -V)
is "$?" 0 "-V exits 0"
like "$out" '^callbridge-webhook [0-9]+\.[0-9]+\.[0-9]+$' "-V prints the version"
out=$("$WEBHOOK" -h)
is "$?" 0 "-h exits 0"
like "$out" 'usage: callbridge-webhook' "-h prints the usage"
out=$("$WEBHOOK" -Z 2>&1)
is "$?" 2 "an unknown option exits 2"
out=$("$WEBHOOK" -n 0 2>&1)
is "$?" 2 "-n 0 exits 2"

conf=$TEST_TMP/good.conf
cat >"$conf" <<'CONF'
; a comment
# another
[database]
password = "s3cret with spaces"
[twilio]
auth_token = abc   ; trailing comment
[webhook]
public_url = https://voice.example.com/
[relay]
public_url = wss://relay.example.com
CONF
chmod 600 "$conf"
out=$("$WEBHOOK" -t -c "$conf" 2>&1)
is "$?" 0 "-t on a good file exits 0"
like "$out" 'configuration OK' "-t says OK"
out=$(CALLBRIDGE_CONFIG=$conf "$WEBHOOK" -t 2>&1)
is "$?" 0 "CALLBRIDGE_CONFIG names the file"
chmod 644 "$conf"
out=$("$WEBHOOK" -t -c "$conf" 2>&1)
like "$out" 'warning: readable by every user' "a world-readable file is warned about"

bad=$TEST_TMP/bad.conf
cat >"$bad" <<'CONF'
[database]
port = 99999
connect_timeout = soon
[twilio]
validate_signatures = maybe
[webhook]
public_url = ftp://voice.example.com
threads = 0
fallback_number = 555-1234
colour = blue
[relay]
public_url = https://relay.example.com/path
[nonsense]
x = 1
garbage line
CONF
out=$("$WEBHOOK" -t -c "$bad" 2>&1)
is "$?" 1 "-t on a bad file exits 1"
like "$out" 'bad.conf:2: \[database\] port = "99999": out of range' "bad port: file:line and the key"
like "$out" 'bad.conf:3: \[database\] connect_timeout = "soon": not an integer' "bad integer"
like "$out" 'bad.conf:5: \[twilio\] validate_signatures = "maybe": not a boolean' "bad boolean"
like "$out" 'bad.conf:7: \[webhook\] public_url = "ftp://voice.example.com": unsupported scheme' "bad URL scheme"
like "$out" 'bad.conf:8: \[webhook\] threads = "0": out of range' "threads out of range"
like "$out" 'bad.conf:9: \[webhook\] fallback_number = "555-1234": must be an E.164' "bad fallback number"
like "$out" 'bad.conf:10: warning: unknown key "colour" in \[webhook\]' "unknown key: a warning with its line"
like "$out" 'bad.conf:12: \[relay\] public_url = "https://relay.example.com/path": must be a ws:// or wss:// URL' "relay URL must be ws(s)"
like "$out" 'bad.conf:13: warning: unknown section \[nonsense\]' "unknown section: a warning"
like "$out" 'bad.conf:15: expected "key = value"' "garbage line"
like "$out" 'auth_token is required' "missing auth token"
like "$out" '[0-9]+ errors' "the number of errors is printed"

out=$("$WEBHOOK" -t -c "$TEST_TMP/missing.conf" 2>&1)
is "$?" 1 "-t on a missing file exits 1"
like "$out" 'missing.conf: cannot open: No such file or directory' "a missing file is named"

out=$(CALLBRIDGE_TWILIO_AUTH_TOKEN=from-env "$WEBHOOK" -t -c <(sed '/auth_token/d' "$conf") 2>&1)
is "$?" 0 "the auth token may come from the environment"

# Secrets never appear in diagnostics.
sec=$TEST_TMP/secret.conf
printf '[twilio]\nauth_token = TOPSECRET123\nvalidate_signatures = nah\n' >"$sec"
out=$("$WEBHOOK" -t -c "$sec" 2>&1)
unlike "$out" 'TOPSECRET123' "-t never prints a secret"

# Started by hand without -l: fd 0 is not a FastCGI socket.
out=$("$WEBHOOK" -c "$conf" </dev/null 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "without -l and without a FastCGI socket on fd 0: exits non-zero"
like "$out" 'not started by a FastCGI manager' "  ... and says what to do"

# A configuration error at start-up (not -t) is fatal and logged.
out=$("$WEBHOOK" -c "$bad" -l "unix:$TEST_TMP/x.sock" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "a bad configuration stops the start"
like "$out" '^<2>callbridge-webhook: .*configuration error' "  ... with a critical log line"

# -l never replaces a file that is not a socket.
echo precious >"$TEST_TMP/regular"
out=$("$WEBHOOK" -c "$conf" -l "unix:$TEST_TMP/regular" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "-l on an existing regular file: refused"
is "$(cat "$TEST_TMP/regular")" precious "  ... and the file is left alone"
like "$out" 'is never replaced' "  ... with a reason"

done_testing
