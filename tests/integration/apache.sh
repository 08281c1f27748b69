#!/bin/bash
# callbridge-webhook behind a real Apache httpd (/usr/sbin/apache2) with a
# throw-away configuration of its own, against a private MariaDB:
#
#  1. mod_proxy_fcgi: the webhook listens on a unix socket and Apache
#     forwards /api/ to it (and the prefix mounts /voice/api/ and, with
#     ProxyFCGIBackendType GENERIC, /generic/api/; and /reuse/api/ with
#     enablereuse=on), as in examples/apache-proxy-fcgi.conf;
#  2. mod_fcgid, when libapache2-mod-fcgid is installed: Apache spawns the
#     webhook itself; it accepts on fd 0 and runs as the Apache user, as in
#     examples/apache-fcgid.conf;
#  3. the shipped examples/apache-proxy-fcgi.conf and apache-fcgid.conf
#     themselves, with only paths and the address replaced, over TLS.
#
# Every request goes through Apache with curl, signed the way Twilio signs
# for the public URL: http://127.0.0.1:<Apache's port> in 1 and 2,
# https://voice.example.com:<Apache's port> in 3.
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/lib/tap.sh"

APACHE2=${APACHE2:-/usr/sbin/apache2}
AP_MODULES=${AP_MODULES:-/usr/lib/apache2/modules}
[ -x "$APACHE2" ] || skip_all "apache2 not installed (apt-get install apache2)"
for m in proxy proxy_fcgi authz_core env; do
	[ -f "$AP_MODULES/mod_$m.so" ] || skip_all "$AP_MODULES/mod_$m.so not found"
done
command -v curl >/dev/null || skip_all "curl not installed"

# skip REASON: one skipped test point.
skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n # SKIP $*"
}

# ---------------------------------------------------------------- Apache
AP_PID=
FCGID_PIDS=

# ap_start NAME CONF_FUNCTION: write $TEST_TMP/NAME.conf (the common part,
# then what CONF_FUNCTION prints), start Apache in the foreground (as a
# background job of this shell) and wait until it answers.  The port is
# picked at random in 20000-60000; another one is tried when Apache cannot
# bind it.
ap_start() {
	local name=$1 body=$2 try i
	AP_CONF=$TEST_TMP/$name.conf
	AP_LOG=$TEST_TMP/apache-$name.log
	AP_RUN=$TEST_TMP/apache-$name
	mkdir -p "$AP_RUN/htdocs"
	for try in 1 2 3 4 5 6 7 8; do
		AP_PORT=$(shuf -i 20000-60000 -n 1)
		ss -Htln "sport = :$AP_PORT" 2>/dev/null | grep -q . && continue
		: >"$AP_LOG"
		{
			cat <<CONF
# callbridge test: $name
ServerRoot "$AP_RUN"
ServerName 127.0.0.1
Listen 127.0.0.1:$AP_PORT
Define APACHE_LOG_DIR "$TEST_TMP"
PidFile "$AP_RUN/httpd.pid"
DefaultRuntimeDir "$AP_RUN"
Mutex file:$AP_RUN default
ErrorLog "$AP_LOG"
LogLevel warn
LogFormat "%h \"%r\" %>s %b %D" brief
LogFormat "%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" combined
CustomLog "$TEST_TMP/access-$name.log" brief
LoadModule ${AP_MPM}_module $AP_MODULES/mod_$AP_MPM.so
LoadModule authz_core_module $AP_MODULES/mod_authz_core.so
LoadModule env_module $AP_MODULES/mod_env.so
User $AP_USER
Group $AP_GROUP
StartServers 1
ServerLimit 2
$([ "$AP_MPM" = mpm_event ] && printf '%s\n' 'ThreadsPerChild 16' \
	'ThreadLimit 16' 'MinSpareThreads 1' 'MaxSpareThreads 32' \
	'MaxRequestWorkers 32')
Timeout 15
DocumentRoot "$AP_RUN/htdocs"
<Directory />
    Require all denied
    AllowOverride None
</Directory>
<Directory "$AP_RUN/htdocs">
    Require all granted
</Directory>
CONF
			"$body"
		} >"$AP_CONF"
		"$APACHE2" -f "$AP_CONF" -DFOREGROUND >>"$AP_LOG" 2>&1 &
		AP_PID=$!
		for i in $(seq 1 100); do
			if ! kill -0 "$AP_PID" 2>/dev/null; then
				wait "$AP_PID" 2>/dev/null
				AP_PID=
				break
			fi
			curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$AP_PORT/" &&
				return 0
			sleep 0.05
		done
		if [ -n "$AP_PID" ]; then
			ap_stop
			break
		fi
		grep -Eq 'could not bind|Address already in use' "$AP_LOG" || break
	done
	echo "Bail out! apache2 did not start ($name)"
	sed 's/^/# /' "$AP_LOG"
	exit 1
}

# ap_stop: stop Apache; its children exit with it and mod_fcgid's process
# manager stops the webhooks it spawned.  Whatever is still there after
# 7.5 s is killed, and so are the webhooks in FCGID_PIDS (unless
# AP_KEEP_FCGID is set: the caller checks that they went by themselves).
ap_stop() {
	local i p
	if [ -n "$AP_PID" ]; then
		kill -TERM "$AP_PID" 2>/dev/null
		for i in $(seq 1 150); do
			kill -0 "$AP_PID" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$AP_PID" 2>/dev/null; then
			pkill -KILL -P "$AP_PID" 2>/dev/null
			kill -KILL "$AP_PID" 2>/dev/null
		fi
		wait "$AP_PID" 2>/dev/null
		AP_PID=
	fi
	[ -n "${AP_KEEP_FCGID:-}" ] && return 0
	for p in $FCGID_PIDS; do
		kill -KILL "$p" 2>/dev/null
	done
	FCGID_PIDS=
}

# ---------------------------------------------------------------- set-up
ap_cleanup() {
	local rc=$? f
	ap_stop
	declare -F wh_stop >/dev/null && wh_stop >/dev/null 2>&1
	declare -F db_stop >/dev/null && db_stop >/dev/null 2>&1
	if [ "$rc" -ne 0 ] || [ "$tap_failed" -ne 0 ]; then
		# Keep the evidence of a failure: logs go into the test's .log.
		for f in "$TEST_TMP"/*.log "$TEST_TMP"/mariadb/error.log; do
			[ -f "$f" ] || continue
			echo "# ---- $f"
			sed 's/^/# /' "$f" | tail -n 60
		done
	fi
	rm -rf "$TEST_TMP"
	exit "$rc"
}

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/callbridge-apache.XXXXXX") ||
	{ echo "Bail out! mktemp failed"; exit 1; }
trap ap_cleanup EXIT
trap 'exit 1' INT TERM HUP
# Apache's children and the webhooks mod_fcgid spawns run as the Apache
# user: they must reach the sockets and files below this directory.
chmod 755 "$TEST_TMP"

. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"

# Apache will not run its children as root: as root, use www-data (or
# nobody); otherwise everything runs as the current user.
if [ "$(id -u)" -eq 0 ]; then
	if getent passwd www-data >/dev/null; then
		AP_USER=www-data
	else
		AP_USER=nobody
	fi
	AP_GROUP=$(id -gn "$AP_USER")
else
	AP_USER=$(id -un)
	AP_GROUP=$(id -gn)
fi
if [ -f "$AP_MODULES/mod_mpm_event.so" ]; then
	AP_MPM=mpm_event
else
	AP_MPM=mpm_prefork
fi

# ---------------------------------------------------------------- requests
# req METHOD URI [BODY [SIGNATURE]]: one request through Apache, to
# $AP_URL (default http://127.0.0.1:$AP_PORT) with curl and $CURL_OPTS.
# Sets R_CODE, R_HEAD (headers, CR removed), R_BODY, R_SIZE (body bytes)
# and R_MS (milliseconds).
AP_URL=
CURL_OPTS=()
req() {
	local method=$1 uri=$2 body=${3-} sig=${4-} f=$TEST_TMP/resp.$BASHPID out
	local args=(-sS --max-time 10 -o "$f.body" -D "$f.head"
		-w '%{http_code} %{time_total}' -X "$method" "${CURL_OPTS[@]}")
	if [ "$method" = POST ]; then
		args+=(-H 'Content-Type: application/x-www-form-urlencoded'
			--data-binary "$body")
	fi
	[ -n "$sig" ] && args+=(-H "X-Twilio-Signature: $sig")
	out=$(curl "${args[@]}" "${AP_URL:-http://127.0.0.1:$AP_PORT}$uri" 2>>"$TEST_TMP/curl.log")
	R_CODE=${out%% *}
	R_MS=$(awk -v t="${out#* }" 'BEGIN { printf "%d", t * 1000 }')
	R_HEAD=$(tr -d '\r' <"$f.head" 2>/dev/null)
	R_BODY=$(cat "$f.body" 2>/dev/null)
	R_SIZE=$(stat -c %s "$f.body" 2>/dev/null || echo 0)
	rm -f "$f.body" "$f.head"
}

# hdr NAME: a header of the last response.
hdr() { printf '%s\n' "$R_HEAD" | sed -n "s/^$1: *//Ip" | tail -n 1; }

# signed URI name=value...: a form POST, signed for $WH_PUBLIC$URI.
signed() {
	local uri=$1; shift
	req POST "$uri" "$(form_body "$@")" "$(twilio_sign "$WH_PUBLIC$uri" "$@")"
}

# incoming URI CALLSID: Twilio's incoming-call webhook.
incoming() {
	signed "$1" CallSid="$2" AccountSid=$ACCOUNT_SID From=+14155550100 \
		To=+18005550199 CallStatus=ringing Direction=inbound \
		ApiVersion=2010-04-01 Caller=+14155550100 Called=+18005550199
}

# burst N URI: N incoming calls at once; prints how many got 200 with a
# pending session, and the slowest in ms.
burst() {
	local n=$1 uri=$2 i pids= good=0 slowest=0 code ms c
	for i in $(seq 1 "$n"); do
		(
			c=$(new_call_sid)
			incoming "$uri" "$c"
			echo "$R_CODE $R_MS $c"
		) >"$TEST_TMP/burst.$i" &
		pids+=" $!"
	done
	wait $pids
	for i in $(seq 1 "$n"); do
		read -r code ms c <"$TEST_TMP/burst.$i"
		[ "${ms:-0}" -gt "$slowest" ] && slowest=$ms
		if [ "$code" = 200 ] &&
			[ "$(db_sql "SELECT status FROM call_sessions WHERE call_sid = '$c'")" = pending ]; then
			good=$((good + 1))
		else
			diag "burst $uri #$i: HTTP ${code:-none} after ${ms:-?} ms for $c" >&2
		fi
	done
	echo "$good $slowest"
}

UUID_RE='[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'
RELAY_RE=${WH_RELAY//./\\.}

# check_twiml WHAT PREFIX CALLSID: the last response is the TwiML for an
# incoming call, with URLs under $WH_PUBLIC + PREFIX, and MariaDB has the
# call's pending session.
check_twiml() {
	local what=$1 prefix=$2 cs=$3 sid pub_re=${WH_PUBLIC//./\\.}
	is "$R_CODE" 200 "$what: 200"
	like "$(hdr Content-Type)" '^text/xml' "$what: Content-Type text/xml"
	is "$(hdr Content-Length)" "$R_SIZE" "$what: Content-Length present and equal to the body size"
	is "$(hdr Transfer-Encoding)" "" "$what: not chunked"
	like "$R_BODY" '^<\?xml version="1.0" encoding="UTF-8"\?>' "$what: XML declaration first"
	like "$R_BODY" "<Connect action=\"$pub_re$prefix/api/connect-action/\" method=\"POST\"><Stream url=\"$RELAY_RE/ws/realtime/$UUID_RE/\"" \
		"$what: <Connect action> under ${prefix:-}/api/, <Stream url> on the relay"
	like "$R_BODY" "statusCallback=\"$pub_re$prefix/api/stream-status/\"" \
		"$what: stream status callback under ${prefix:-}/api/"
	if command -v xmllint >/dev/null; then
		printf '%s' "$R_BODY" | xmllint --noout - 2>/dev/null
		ok $? "$what: TwiML is well-formed (xmllint)"
	else
		skip "xmllint not installed"
	fi
	sid=$(printf '%s' "$R_BODY" | grep -oE "realtime/$UUID_RE" | cut -d/ -f2)
	is "$(db_sql "SELECT session_id, status FROM call_sessions WHERE call_sid = '$cs'")" \
		"$(printf '%s\tpending' "$sid")" \
		"$what: call_sessions row, pending, with the TwiML's session id"
}

elapsed() { echo $((($(date +%s%N) - $1) / 1000000)); }

db_start
db_sql "INSERT INTO agents (name, instructions) VALUES ('sales', 'Sell things.');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550199', 1);"

# ================================================ 1. mod_proxy_fcgi
WH_SOCK=$TEST_TMP/webhook.sock		# where wh_start puts it
proxy_fcgi_conf() {
	cat <<CONF
LoadModule proxy_module $AP_MODULES/mod_proxy.so
LoadModule proxy_fcgi_module $AP_MODULES/mod_proxy_fcgi.so
# As in examples/apache-proxy-fcgi.conf.  REQUEST_URI reaches the webhook
# exactly as the client sent it, whatever path the fcgi:// URL names.
ProxyTimeout 15
# Since 2.4.59 mod_proxy_fcgi drops the backend's Content-Length (so HTTP/1.1
# clients get the response chunked) unless told to trust it.
<LocationMatch "^/(voice/|generic/|reuse/)?api/">
    SetEnv ap_trust_cgilike_cl 1
</LocationMatch>
ProxyPass "/api/" "unix:$WH_SOCK|fcgi://localhost/api/"
# The same webhook under a prefix.
ProxyPass "/voice/api/" "unix:$WH_SOCK|fcgi://localhost/voice/api/"
# The same with ProxyFCGIBackendType GENERIC (the default is FPM).
<Location "/generic/api/">
    ProxyFCGIBackendType GENERIC
</Location>
ProxyPass "/generic/api/" "unix:$WH_SOCK|fcgi://localhost/generic/api/"
# With persistent FastCGI connections (FCGI_KEEP_CONN).
ProxyPass "/reuse/api/" "unix:$WH_SOCK|fcgi://reuse/reuse/api/" enablereuse=on
# Without ap_trust_cgilike_cl (for a note in the output).
ProxyPass "/plain/api/" "unix:$WH_SOCK|fcgi://localhost/plain/api/"
CONF
}

t0=$(date +%s%N)
ap_start proxy-fcgi proxy_fcgi_conf
WH_PUBLIC=http://127.0.0.1:$AP_PORT
wh_config "$TEST_TMP/callbridge.conf"
wh_start
# Apache's children, running as the Apache user, connect to the socket
# (mode 0660, made by root here).
[ "$(id -u)" -eq 0 ] && chgrp "$AP_GROUP" "$WH_SOCK"

cs=$(new_call_sid)
incoming /api/webhook/ "$cs"
check_twiml "proxy_fcgi /api/webhook/" "" "$cs"

# The query string is signed as sent: Apache must pass it on unchanged.
cs=$(new_call_sid)
incoming "/api/twiml?x=it's&y=%2F%27a+b" "$cs"
is "$R_CODE" 200 "proxy_fcgi: /api/twiml, no trailing slash, raw query with ' %2F %27 +: signature valid"

# Wrong signatures, and none.
cs=$(new_call_sid)
args=(CallSid=$cs AccountSid=$ACCOUNT_SID From=+14155550100 To=+18005550199
	CallStatus=ringing Direction=inbound)
req POST /api/webhook/ "$(form_body "${args[@]}")" \
	"$(TOKEN=wrong-token twilio_sign "$WH_PUBLIC/api/webhook/" "${args[@]}")"
is "$R_CODE" 403 "proxy_fcgi: wrong signature: 403"
req POST /api/webhook/ "$(form_body "${args[@]}")" \
	"$(twilio_sign "https://voice.example.com/api/webhook/" "${args[@]}")"
is "$R_CODE" 403 "proxy_fcgi: signature for another public URL: 403"
req POST /api/webhook/ "$(form_body "${args[@]}")"
is "$R_CODE" 403 "proxy_fcgi: no signature: 403"
is "$(db_sql "SELECT COUNT(*) FROM call_sessions WHERE call_sid = '$cs'")" 0 \
	"proxy_fcgi: the refused requests created no session"

req GET /api/health/
is "$R_CODE" 200 "proxy_fcgi: GET /api/health/: 200"
like "$(hdr Content-Type)" '^application/json' "proxy_fcgi: health: JSON"
like "$R_BODY" '"status":"ok"' "proxy_fcgi: health: ok"
is "$(hdr Content-Length)" "$R_SIZE" "proxy_fcgi: health: correct Content-Length"

# Prefix mounts: the URLs handed to Twilio carry the prefix, and the
# signature is checked against the prefixed URL.
cs=$(new_call_sid)
incoming /voice/api/webhook/ "$cs"
check_twiml "proxy_fcgi /voice/api/webhook/" /voice "$cs"
cs=$(new_call_sid)
incoming /generic/api/webhook "$cs"
check_twiml "proxy_fcgi GENERIC /generic/api/webhook" /generic "$cs"

# Call status callback: 204, no body; the row follows.
signed /api/status/ CallSid="$cs" AccountSid=$ACCOUNT_SID CallStatus=in-progress \
	SequenceNumber=1 Direction=inbound From=+14155550100 To=+18005550199
is "$R_CODE" 204 "proxy_fcgi: /api/status/: 204"
is "$R_SIZE" 0 "proxy_fcgi: /api/status/: no body"
is "$(db_sql "SELECT twilio_status FROM call_sessions WHERE call_sid = '$cs'")" in-progress \
	"proxy_fcgi: /api/status/ updated the row"

# <Connect action>: the stream ended before a relay claimed the session.
signed /generic/api/connect-action/ CallSid="$cs" AccountSid=$ACCOUNT_SID CallStatus=in-progress
is "$R_CODE" 200 "proxy_fcgi: /generic/api/connect-action/: 200"
like "$R_BODY" '<Say[ >].*<Hangup/>' "proxy_fcgi: connect-action: the fallback"

# LimitRequestBody does not apply to proxied requests; the webhook's
# [webhook] max_body (65536) refuses from CONTENT_LENGTH, unread.
req POST /api/webhook/ "Pad=$(head -c 70000 /dev/zero | tr '\0' a)"
is "$R_CODE" 413 "proxy_fcgi: a body over [webhook] max_body: 413"

req GET /api/nothing/
is "$R_CODE" 404 "proxy_fcgi: unknown route: 404"

# More calls at once than the webhook has threads (4).
read -r good slowest < <(burst 12 /api/webhook/)
is "$good" 12 "proxy_fcgi: 12 concurrent calls: all 200 with a pending session"

# enablereuse=on: Apache keeps FastCGI connections open (FCGI_KEEP_CONN).
# Workers must not get stuck on idle kept connections.
cs=$(new_call_sid)
incoming /reuse/api/webhook/ "$cs"
check_twiml "proxy_fcgi enablereuse=on /reuse/api/webhook/" /reuse "$cs"
read -r good slowest < <(burst 12 /reuse/api/webhook/)
is "$good" 12 "proxy_fcgi enablereuse=on: 12 concurrent calls: all 200 with a pending session"
ok $((slowest < 3000 ? 0 : 1)) "proxy_fcgi enablereuse=on: the slowest took ${slowest} ms (< 3000)"
slowest=0
for i in 1 2 3 4 5 6; do
	incoming /reuse/api/webhook/ "$(new_call_sid)"
	[ "$R_CODE" = 200 ] || slowest=99999
	[ "$R_MS" -gt "$slowest" ] && slowest=$R_MS
done
ok $((slowest < 1000 ? 0 : 1)) "proxy_fcgi enablereuse=on: 6 calls one after the other: all 200, slowest ${slowest} ms (< 1000)"

cs=$(new_call_sid)
incoming /plain/api/webhook/ "$cs"
diag "without ap_trust_cgilike_cl Apache answers $R_CODE with" \
	"Content-Length '$(hdr Content-Length)', Transfer-Encoding '$(hdr Transfer-Encoding)'"

ap_stop
t1=$(date +%s%N)
wh_stop
is "$WH_STATUS" 0 "proxy_fcgi: the webhook stops cleanly on SIGTERM"
ok $(($(elapsed "$t1") < 3000 ? 0 : 1)) "proxy_fcgi: ... within 3 s"
diag "mod_proxy_fcgi part: $(elapsed "$t0") ms"

# ================================================ 2. mod_fcgid
# The webhook runs as the Apache user: its binary, its configuration (mode
# 0640, group of the Apache user), the MariaDB socket and every directory
# above them must be reachable by that user.
FC_DIR=$TEST_TMP/fcgid
fcgid_setup() {
	mkdir -p "$FC_DIR/ipc"
	chmod 755 "$FC_DIR" "$TEST_TMP/mariadb"
	install -m 755 "$WEBHOOK" "$FC_DIR/callbridge-webhook"
	[ "$(id -u)" -eq 0 ] && chown "$AP_USER:$AP_GROUP" "$FC_DIR/ipc"
	chmod 700 "$FC_DIR/ipc"
}

# fcgid_config: the webhook's configuration for $WH_PUBLIC, readable by the
# Apache user.
fcgid_config() {
	wh_config "$FC_DIR/callbridge.conf"
	[ "$(id -u)" -eq 0 ] && chgrp "$AP_GROUP" "$FC_DIR/callbridge.conf"
	chmod 640 "$FC_DIR/callbridge.conf"
}

fcgid_conf() {
	cat <<CONF
LoadModule fcgid_module $AP_MODULES/mod_fcgid.so
FcgidIPCDir "$FC_DIR/ipc"
FcgidProcessTableFile "$FC_DIR/fcgid_shm"
# As in examples/apache-fcgid.conf.
FcgidInitialEnv CALLBRIDGE_CONFIG "$FC_DIR/callbridge.conf"
FcgidMaxRequestLen 65536
FcgidIOTimeout 15
FcgidBusyTimeout 30
FcgidMinProcessesPerClass 0
FcgidMaxProcessesPerClass 4
<Location "/api/">
    SetHandler fcgid-script
    Options +ExecCGI
    FcgidWrapper "$FC_DIR/callbridge-webhook -n 1" virtual
    LimitRequestBody 65536
</Location>
CONF
}

# fcgid_stop WHAT: stop Apache and check that the webhooks it spawned
# went with it.
fcgid_stop() {
	local what=$1 pids left= p i
	pids=$(pgrep -f "^$FC_DIR/callbridge-webhook" | tr '\n' ' ')
	FCGID_PIDS=$pids	# killed by ap_cleanup should we stop here
	AP_KEEP_FCGID=1 ap_stop
	for p in $pids; do
		for i in $(seq 1 60); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$p" 2>/dev/null && left+=" $p"
	done
	is "$left" "" "$what: no webhook process left after Apache stopped"
	FCGID_PIDS=$left
	ap_stop		# kills what was left, if anything
}

fcgid_part() {
	local cs pids big pad good slowest t0=$(date +%s%N)

	fcgid_setup
	ap_start fcgid fcgid_conf
	WH_PUBLIC=http://127.0.0.1:$AP_PORT
	fcgid_config

	cs=$(new_call_sid)
	incoming /api/webhook/ "$cs"
	check_twiml "mod_fcgid /api/webhook/" "" "$cs"

	pids=($(pgrep -f "^$FC_DIR/callbridge-webhook"))
	FCGID_PIDS=${pids[*]}
	ok $((${#pids[@]} >= 1 ? 0 : 1)) "mod_fcgid: spawned the webhook (pid ${pids[*]:-none})"
	is "$(ps -o user= -p "${pids[0]:-1}" | tr -d ' ')" "$AP_USER" \
		"mod_fcgid: the webhook runs as $AP_USER"
	grep -q 'ready: 1 thread on fd 0' "$AP_LOG"
	ok $? "mod_fcgid: the webhook accepts on fd 0 with 1 thread (-n 1)"

	req POST /api/webhook/ "$(form_body "${args[@]}")" \
		"$(TOKEN=wrong-token twilio_sign "$WH_PUBLIC/api/webhook/" "${args[@]}")"
	is "$R_CODE" 403 "mod_fcgid: wrong signature: 403"
	req GET /api/health
	is "$R_CODE" 200 "mod_fcgid: GET /api/health: 200"
	like "$R_BODY" '"status":"ok"' "mod_fcgid: health: ok"
	signed /api/status/ CallSid="$cs" AccountSid=$ACCOUNT_SID CallStatus=completed \
		SequenceNumber=3 CallDuration=0 Direction=inbound
	is "$R_CODE" 204 "mod_fcgid: /api/status/: 204"
	is "$(db_sql "SELECT status, twilio_status FROM call_sessions WHERE call_sid = '$cs'")" \
		"$(printf 'expired\tcompleted')" \
		"mod_fcgid: completed before the stream connected: session expired"

	# mod_fcgid 2.3.9 passes a body over LimitRequestBody on to the webhook
	# as an empty body (CONTENT_LENGTH=0); the signature then does not match.
	cs=$(new_call_sid)
	big=("${args[@]/#CallSid=*/CallSid=$cs}")
	pad=$(head -c 70000 /dev/zero | tr '\0' a)	# needs no URL-encoding
	req POST /api/webhook/ "$(form_body "${big[@]}")&Pad=$pad" \
		"$(twilio_sign "$WH_PUBLIC/api/webhook/" "${big[@]}" "Pad=$pad")"
	like "$R_CODE" '^(403|413)$' "mod_fcgid: a signed body over LimitRequestBody: refused ($R_CODE)"
	is "$(db_sql "SELECT COUNT(*) FROM call_sessions WHERE call_sid = '$cs'")" 0 \
		"mod_fcgid: ... and no session"

	# One process per concurrent request.
	read -r good slowest < <(burst 6 /api/webhook/)
	is "$good" 6 "mod_fcgid: 6 concurrent calls: all 200 with a pending session"

	fcgid_stop mod_fcgid
	diag "mod_fcgid part: $(elapsed "$t0") ms"
}

if [ -f "$AP_MODULES/mod_fcgid.so" ]; then
	fcgid_part
else
	skip "mod_fcgid not installed (apt-get install libapache2-mod-fcgid)"
fi

# ================================================ 3. the shipped examples
# examples/apache-proxy-fcgi.conf and apache-fcgid.conf as they are, with
# only the certificate, socket, program, configuration and log paths and
# the address replaced, over TLS with a throw-away self-signed certificate
# (curl -k), for the public URL https://voice.example.com:<port>.
# example FILE: print an Include of the adapted copy of examples/FILE.
example() {
	local copy=$TEST_TMP/example-$1
	sed -e "s|\*:443|127.0.0.1:$AP_PORT|" \
		-e "s|/etc/letsencrypt/live/voice.example.com/fullchain.pem|$TEST_TMP/cert.pem|" \
		-e "s|/etc/letsencrypt/live/voice.example.com/privkey.pem|$TEST_TMP/key.pem|" \
		-e "s|/run/callbridge/webhook.sock|$WH_SOCK|g" \
		-e "s|/usr/libexec/callbridge/callbridge-webhook|$FC_DIR/callbridge-webhook|" \
		-e "s|/etc/callbridge/callbridge.conf|$FC_DIR/callbridge.conf|" \
		"$top_srcdir/examples/$1" >"$copy"
	echo "Include \"$copy\""
}

ex_modules() {
	local m
	for m in ssl socache_shmcb proxy proxy_http proxy_wstunnel authz_host "$@"; do
		echo "LoadModule ${m}_module $AP_MODULES/mod_$m.so"
	done
	# As Debian's ssl.conf has it (a2enmod ssl enables socache_shmcb).
	echo "SSLSessionCache \"shmcb:$AP_RUN/ssl_scache(512000)\""
}
ex_proxy_fcgi_conf() {
	ex_modules proxy_fcgi
	example apache-proxy-fcgi.conf
}
ex_fcgid_conf() {
	ex_modules fcgid
	echo "FcgidIPCDir \"$FC_DIR/ipc\""
	echo "FcgidProcessTableFile \"$FC_DIR/fcgid_shm\""
	example apache-fcgid.conf
}

# ex_checks WHAT: a signed call, health, a wrong signature and the relay's
# WebSocket path, through the example running in Apache.
ex_checks() {
	local what=$1 cs code
	AP_URL=https://voice.example.com:$AP_PORT
	CURL_OPTS=(-k --resolve "voice.example.com:$AP_PORT:127.0.0.1")
	WH_PUBLIC=$AP_URL
	cs=$(new_call_sid)
	incoming /api/webhook/ "$cs"
	check_twiml "$what" "" "$cs"
	req POST /api/webhook/ "$(form_body "${args[@]}")" \
		"$(TOKEN=wrong-token twilio_sign "$WH_PUBLIC/api/webhook/" "${args[@]}")"
	is "$R_CODE" 403 "$what: wrong signature: 403"
	req GET /api/health/
	is "$R_CODE $(hdr Content-Type)" "200 application/json" "$what: GET /api/health/ from 127.0.0.1: 200 JSON"
	if ss -Htln 'sport = :8081' 2>/dev/null | grep -q .; then
		skip "something listens on port 8081"
	else
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${CURL_OPTS[@]}" \
			-H 'Upgrade: websocket' -H 'Connection: Upgrade' \
			-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
			"$AP_URL/ws/realtime/00000000-0000-4000-8000-000000000000/")
		is "$code" 503 "$what: /ws/realtime/ goes to 127.0.0.1:8081 (no relay there: 503)"
	fi
	AP_URL=
	CURL_OPTS=()
}

ex_part() {
	local m t0=$(date +%s%N)
	for m in ssl socache_shmcb proxy_http proxy_wstunnel authz_host; do
		if [ ! -f "$AP_MODULES/mod_$m.so" ]; then
			skip "examples: mod_$m not installed"
			return
		fi
	done
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$TEST_TMP/key.pem" -out "$TEST_TMP/cert.pem" -days 2 \
		-subj /CN=voice.example.com -addext basicConstraints=critical,CA:FALSE \
		-addext subjectAltName=DNS:voice.example.com >"$TEST_TMP/openssl.out" 2>&1 ||
		{ echo "Bail out! openssl req failed"; cat "$TEST_TMP/openssl.out"; exit 1; }

	ap_start example-proxy-fcgi ex_proxy_fcgi_conf
	WH_PUBLIC=https://voice.example.com:$AP_PORT
	wh_config "$TEST_TMP/callbridge.conf"
	wh_start
	[ "$(id -u)" -eq 0 ] && chgrp "$AP_GROUP" "$WH_SOCK"
	ex_checks "examples/apache-proxy-fcgi.conf"
	ap_stop
	wh_stop

	if [ -f "$AP_MODULES/mod_fcgid.so" ]; then
		ap_start example-fcgid ex_fcgid_conf
		WH_PUBLIC=https://voice.example.com:$AP_PORT
		fcgid_config
		ex_checks "examples/apache-fcgid.conf"
		fcgid_stop "examples/apache-fcgid.conf"
	else
		skip "examples/apache-fcgid.conf: mod_fcgid not installed"
	fi
	diag "examples part: $(elapsed "$t0") ms"
}
ex_part

done_testing
