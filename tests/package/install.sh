#!/bin/bash
# The Debian packages, installed and used the way an operator would: apt
# installs the .debs built by scripts/package; the configuration file is
# edited; callbridge-dbsetup creates the database on the machine's own
# MariaDB; the Apache configuration is enabled with a2enconf; the webhook
# and the relay run from their installed units' ExecStart= lines, as the
# units' users, with the socket and $NOTIFY_SOCKET systemd would give them
# (tests/tools/svc-run: systemd is not PID 1 in CI); a call goes through
# the installed Apache -> webhook -> relay -> the fake OpenAI; then the
# packages are purged.  The units are checked with systemd-analyze.
#
# Usage (as root): tests/package/install.sh PACKAGE_DIR
# Changes the machine: installs and purges the packages, enables Apache
# modules, starts the system's MariaDB and Apache when they are not
# running (and stops them again), creates and drops the database
# "callbridge" and its user.
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/lib/tap.sh"
PKG_DIR=${1:?usage: install.sh PACKAGE_DIR}

[ "$(id -u)" -eq 0 ] || skip_all "installs packages: run as root"
ls "$PKG_DIR"/callbridge-common_*.deb >/dev/null 2>&1 || skip_all "no packages in $PKG_DIR (scripts/package)"
for unit_cmd in systemd-analyze apache2ctl a2enconf mariadb; do
	command -v "$unit_cmd" >/dev/null || skip_all "$unit_cmd not installed"
done
test_init
# The sourced helpers need these; the database is the system's, not a private one.
DB_SOCK=/run/mysqld/mysqld.sock
DB_PASSWORD=pkg-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
. "$top_srcdir/tests/lib/webhook.sh"
. "$top_srcdir/tests/lib/relay.sh"
SVC_RUN=$top_builddir/tests/tools/svc-run
CONF=/etc/callbridge/callbridge.conf
UNITS=/lib/systemd/system
export DEBIAN_FRONTEND=noninteractive

STARTED_DB= STARTED_APACHE= WH_SVC= RELAY_SVC=
cleanup_all() {
	local pid
	for pid in $WH_SVC $RELAY_SVC; do
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	fake_stop
	apt-get purge -y -q callbridge callbridge-webhook callbridge-relay callbridge-common >/dev/null 2>&1
	if mariadb -e "SELECT 1" >/dev/null 2>&1; then
		mariadb -e "DROP DATABASE IF EXISTS callbridge; DROP USER IF EXISTS 'callbridge'@'localhost'"
	fi
	[ -n "$STARTED_APACHE" ] && apache2ctl -k stop >/dev/null 2>&1
	[ -n "$STARTED_DB" ] && /etc/init.d/mariadb stop >/dev/null 2>&1
	rm -rf /run/callbridge
}
CLEANUP=cleanup_all

# okd STATUS DESCRIPTION TEXT: ok, and TEXT as diagnostics when it failed.
okd() {
	ok "$1" "$2"
	[ "$1" -eq 0 ] || printf '%s\n' "$3" | tail -n 30 | sed 's/^/#   /'
}

# unit_value UNIT KEY: the first KEY= of an installed unit.
unit_value() { sed -n "s/^$2=//p" "$UNITS/$1" | head -n 1; }

# ---------------------------------------------------------------- install
apt-get purge -y -q callbridge callbridge-webhook callbridge-relay callbridge-common >/dev/null 2>&1
out=$(apt-get install -y -q "$PKG_DIR"/callbridge_*_all.deb "$PKG_DIR"/callbridge-common_*.deb \
	"$PKG_DIR"/callbridge-webhook_*.deb "$PKG_DIR"/callbridge-relay_*.deb 2>&1)
okd $? "apt installs the four packages" "$out"
ok "$(getent passwd callbridge >/dev/null; echo $?)" "the system user callbridge exists"
is "$(getent passwd callbridge | cut -d: -f6,7)" "/nonexistent:/usr/sbin/nologin" "  ... with no home and no shell"
is "$(stat -c '%a %U:%G' "$CONF")" "640 root:callbridge" "$CONF is 0640 root:callbridge"
ok "$(dpkg-query -W -f='${Conffiles}' callbridge-common | grep -q " $CONF "; echo $?)" "  ... and a conffile"
for f in /usr/sbin/callbridge-relay /usr/libexec/callbridge/callbridge-webhook /usr/sbin/callbridge-dbsetup; do
	ok "$([ -x "$f" ]; echo $?)" "installed: $f"
done
ok "$([ -f /usr/share/callbridge/schema/001_initial.sql ]; echo $?)" "installed: the schema under /usr/share/callbridge/schema/"
ok "$([ -f /etc/apache2/conf-available/callbridge.conf ]; echo $?)" "installed: /etc/apache2/conf-available/callbridge.conf"
ok "$([ ! -e /etc/apache2/conf-enabled/callbridge.conf ]; echo $?)" "  ... not enabled until the administrator says so"
for p in callbridge.7 callbridge-webhook.8 callbridge-relay.8 callbridge.conf.5 callbridge-schema.7 callbridge-dbsetup.8; do
	page=${p%.*} sect=${p##*.}
	path=$(man -w "$sect" "$page" 2>/dev/null)
	ok $? "man $sect $page is installed"
	warnings=$(MANWIDTH=80 man --warnings -l "$path" 2>&1 >/dev/null)
	is "$warnings" "" "  ... and renders without warnings"
done
is "$(/usr/sbin/callbridge-relay -V)" "callbridge-relay $(sed -n 's/^PACKAGE_VERSION = //p' "$top_builddir/Makefile")" \
	"the installed relay is this version"

# ---------------------------------------------------------------- units
for u in callbridge-relay.service callbridge-webhook.service callbridge-webhook.socket; do
	out=$(systemd-analyze verify "$UNITS/$u" 2>&1)
	is "$out" "" "systemd-analyze verify $u"
done
for u in callbridge-relay.service callbridge-webhook.service; do
	score=$(systemd-analyze security --offline=true "$UNITS/$u" 2>&1 |
		sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	ok "$(awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }'; echo $?)" \
		"systemd-analyze security rates $u $score (2.0 or better)"
done
is "$(unit_value callbridge-relay.service Type)" notify "the relay's unit is Type=notify"
is "$(unit_value callbridge-webhook.service StandardInput)" socket "the webhook's unit takes the socket on fd 0"

# ---------------------------------------------------------------- configure
out=$(/usr/sbin/callbridge-relay -t 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "the unedited configuration fails the relay's -t"
like "$out" 'is still the example.s placeholder' "  ... naming the placeholder secrets"

if ! mariadb -e "SELECT 1" >/dev/null 2>&1; then
	/etc/init.d/mariadb start >/dev/null 2>&1 && STARTED_DB=1
fi
mariadb -e "SELECT 1" >/dev/null 2>&1
st=$?
ok $st "the machine's MariaDB answers on $DB_SOCK"
[ $st -eq 0 ] || { echo "Bail out! the machine's MariaDB did not start"; exit 1; }
mariadb -e "DROP DATABASE IF EXISTS callbridge; DROP USER IF EXISTS 'callbridge'@'localhost'"

fake_start -s greeting
WH_PUBLIC=http://localhost
WH_RELAY=ws://localhost
TOOLS_SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
sed -i -e "s|^password = change-me|password = $DB_PASSWORD|" \
	-e "s|^auth_token = change-me|auth_token = $WH_TOKEN|" \
	-e "s|^api_key = change-me|api_key = $OPENAI_KEY|" \
	-e "s|^secret = change-me|secret = $TOOLS_SECRET|" \
	-e "s|^public_url = https://voice.example.com|public_url = $WH_PUBLIC|" \
	-e "s|^public_url = wss://voice.example.com|public_url = $WH_RELAY|" \
	-e "s|^url = wss://api.openai.com/v1/realtime|url = ws://127.0.0.1:$FAKE_PORT/v1/realtime|" "$CONF"
out=$(setpriv --reuid=callbridge --regid=callbridge --init-groups /usr/sbin/callbridge-relay -t 2>&1)
okd $? "the edited configuration passes -t as the user callbridge" "$out"

out=$(callbridge-dbsetup --create 2>&1)
okd $? "callbridge-dbsetup --create makes the database, its user and the tables" "$out"
out=$(callbridge-dbsetup 2>&1)
okd $? "callbridge-dbsetup again" "$out"
like "$out" 'up to date' "  ... finds it up to date"
db_sql() { mariadb -N -B callbridge -e "$1"; }
is "$(db_sql "SELECT MAX(version) FROM schema_version")" 1 "the schema is version 1"
is "$(mariadb -N -B -u callbridge -p"$DB_PASSWORD" callbridge -e 'SELECT 1' 2>&1)" 1 \
	"the user callbridge logs in with the configured password"
db_sql "INSERT INTO agents (name, greeting) VALUES ('support', 'Hello, how can I help?');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550100', 1);"

# ---------------------------------------------------------------- Apache
out=$(a2enmod -q proxy_fcgi proxy_wstunnel env 2>&1 && a2enconf -q callbridge 2>&1)
okd $? "a2enmod proxy_fcgi proxy_wstunnel && a2enconf callbridge" "$out"
out=$(apache2ctl configtest 2>&1)
okd $? "apache2ctl configtest" "$out"
# (apache2ctl graceful would start a stopped Apache: look first.)
if [ -s /var/run/apache2/apache2.pid ] && kill -0 "$(cat /var/run/apache2/apache2.pid)" 2>/dev/null; then
	apache2ctl -k graceful >/dev/null 2>&1
else
	apache2ctl -k start >/dev/null 2>&1 && STARTED_APACHE=1
fi
for i in $(seq 1 100); do
	curl -s -o /dev/null "$WH_PUBLIC/" && break
	sleep 0.1
done

# ---------------------------------------------------------------- the services, as their units run them
sock=$(unit_value callbridge-webhook.socket ListenStream)
mkdir -p -m "$(unit_value callbridge-webhook.socket DirectoryMode)" "$(dirname "$sock")"
set -- $(unit_value callbridge-webhook.service ExecStartPre)
out=$(setpriv --reuid="$(unit_value callbridge-webhook.service User)" \
	--regid="$(unit_value callbridge-webhook.service Group)" --init-groups "$@" 2>&1)
okd $? "the webhook's ExecStartPre (-t) passes" "$out"
"$SVC_RUN" -S "$sock:$(unit_value callbridge-webhook.socket SocketMode):$(unit_value callbridge-webhook.socket SocketUser):$(unit_value callbridge-webhook.socket SocketGroup)" \
	-N "$TEST_TMP/webhook.notify" -u "$(unit_value callbridge-webhook.service User)" \
	-g "$(unit_value callbridge-webhook.service Group)" -- \
	$(unit_value callbridge-webhook.service ExecStart) >"$TEST_TMP/webhook.log" 2>&1 &
WH_SVC=$!
eventually 10 grep -Eqs '^READY=1' "$TEST_TMP/webhook.notify"
okd $? "the webhook, socket-activated as the unit runs it, tells READY=1" "$(cat "$TEST_TMP/webhook.log")"
is "$(stat -c '%a %U:%G' "$sock")" "660 root:www-data" "  ... on $sock, 0660 root:www-data"

set -- $(unit_value callbridge-relay.service ExecStartPre)
out=$(setpriv --reuid=callbridge --regid=callbridge --init-groups "$@" 2>&1)
okd $? "the relay's ExecStartPre (-t) passes" "$out"
"$SVC_RUN" -N "$TEST_TMP/relay.notify" -u "$(unit_value callbridge-relay.service User)" \
	-g "$(unit_value callbridge-relay.service Group)" -- \
	$(unit_value callbridge-relay.service ExecStart) >"$TEST_TMP/relay.log" 2>&1 &
RELAY_SVC=$!
eventually 10 grep -Eqs '^READY=1' "$TEST_TMP/relay.notify"
okd $? "the relay, as the unit runs it, tells READY=1" "$(cat "$TEST_TMP/relay.log")"
is "$(ps -o user= -p "$(pgrep -P "$RELAY_SVC" | head -n 1)")" callbridge "  ... running as callbridge"

# ---------------------------------------------------------------- a call
health=$(curl -s "$WH_PUBLIC/api/health/")
like "$health" '"database": *"ok"' "GET /api/health/ through the installed Apache"
CALL=$(new_call_sid)
COMMON=(CallSid=$CALL AccountSid=$ACCOUNT_SID From=+14155550100 To=+18005550100 ApiVersion=2010-04-01 Direction=inbound)
# The configured public URL is what is signed, whatever Host says.
spoof=(CallSid=$(new_call_sid) AccountSid=$ACCOUNT_SID From=+14155550100 To=+18005550100 CallStatus=ringing)
resp=$(curl -s -i -X POST "$WH_PUBLIC/api/webhook/" -H 'Host: attacker.example' \
	-H "X-Twilio-Signature: $(twilio_sign "http://attacker.example/api/webhook/" "${spoof[@]}")" \
	-H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$(form_body "${spoof[@]}")" | tr -d '\r')
like "$resp" '^HTTP/1.1 403' "a request signed for the Host it sends, not for public_url: 403"
resp=$(http_twilio_post /api/webhook/ "${COMMON[@]}" CallStatus=ringing)
like "$resp" '^HTTP/1.1 200' "the incoming-call webhook through Apache: 200"
SID=$(printf '%s' "$resp" | grep -oE 'realtime/[0-9a-f-]{36}' | cut -d/ -f2)
like "$resp" "<Stream url=\"ws://localhost/ws/realtime/$SID/\"" "  ... TwiML streaming to the relay's public URL"
"$TWILIO_SIM" -u "$WH_RELAY" -t "$WH_TOKEN" -D 3000 -T q1000,s600,q1400 -E 0x55 \
	-j "$TEST_TMP/call.json" "$SID:$CALL" 2>"$TEST_TMP/sim.log"
okd $? "a simulated call streams through Apache to the relay and OpenAI" "$(tail -n 5 "$TEST_TMP/sim.log")"
result=$(cat "$TEST_TMP/call.json")
ok "$(awk -v n="$(json_field "$result" heard_bytes)" 'BEGIN { exit !(n > 0) }'; echo $?)" \
	"  ... and the caller hears the agent ($(json_field "$result" heard_bytes) bytes)"
resp=$(http_twilio_post /api/connect-action/ "${COMMON[@]}" CallStatus=in-progress)
like "$resp" '<Hangup/>' "connect-action after the stream: hang up"
http_twilio_post /api/status/ "${COMMON[@]}" CallStatus=completed SequenceNumber=2 CallDuration=4 >/dev/null
for i in $(seq 1 50); do
	[ "$(db_sql "SELECT status FROM call_sessions WHERE session_id = '$SID'")" = ended ] && break
	sleep 0.1
done
is "$(db_sql "SELECT CONCAT(status, '/', twilio_status) FROM call_log WHERE session_id = '$SID'")" "ended/completed" \
	"the call log has the call, ended and completed"
ok "$([ "$(db_sql "SELECT COUNT(*) FROM call_events WHERE session_id = '$SID' AND kind = 'transcript'")" -gt 0 ]; echo $?)" \
	"  ... with its transcript"

# ---------------------------------------------------------------- stop
kill -TERM "$RELAY_SVC"; wait "$RELAY_SVC"
is "$?" 0 "SIGTERM: the relay exits 0"
like "$(cat "$TEST_TMP/relay.notify")" 'STOPPING=1' "  ... after STOPPING=1"
RELAY_SVC=
kill -TERM "$WH_SVC"; wait "$WH_SVC"
is "$?" 0 "SIGTERM: the webhook exits 0"
WH_SVC=
unlike "$(cat "$TEST_TMP/webhook.log" "$TEST_TMP/relay.log")" '4155550100|'"$WH_TOKEN|$OPENAI_KEY|$DB_PASSWORD" \
	"the logs hold no full phone number and no secret"

# ---------------------------------------------------------------- upgrade, purge
# The same packages as a newer version (the control files' versions
# bumped, nothing rebuilt): what an upgrade does to the configuration,
# the user, the Apache configuration and the database.
old_version=$(dpkg-query -W -f='${Version}' callbridge-common)
new_version=$old_version+upgrade1
mkdir -p "$TEST_TMP/upgrade"
for deb in "$PKG_DIR"/callbridge_*_all.deb "$PKG_DIR"/callbridge-common_*.deb \
	"$PKG_DIR"/callbridge-webhook_*.deb "$PKG_DIR"/callbridge-relay_*.deb; do
	rm -rf "$TEST_TMP/upgrade/tree"
	dpkg-deb -R "$deb" "$TEST_TMP/upgrade/tree"
	sed -i "s/$old_version/$new_version/g" "$TEST_TMP/upgrade/tree/DEBIAN/control"
	dpkg-deb -b "$TEST_TMP/upgrade/tree" "$TEST_TMP/upgrade/$(basename "${deb%%_*}")_new.deb" >/dev/null
done
out=$(apt-get install -y -q "$TEST_TMP"/upgrade/*_new.deb 2>&1)
okd $? "apt upgrades the four packages to $new_version" "$out"
is "$(dpkg-query -W -f='${Version}' callbridge-relay)" "$new_version" "  ... the relay's package is the new version"
like "$(cat "$CONF")" "auth_token = $WH_TOKEN" "  ... the edited configuration is kept"
is "$(stat -c '%a %U:%G' "$CONF")" "640 root:callbridge" "  ... with its mode"
ok "$([ -e /etc/apache2/conf-enabled/callbridge.conf ]; echo $?)" "  ... the Apache configuration stays enabled"
out=$(callbridge-dbsetup --check 2>&1)
okd $? "  ... and callbridge-dbsetup --check finds nothing to apply" "$out"
out=$(apt-get purge -y -q callbridge callbridge-webhook callbridge-relay callbridge-common 2>&1)
okd $? "apt purges the packages" "$out"
ok "$([ ! -e /usr/sbin/callbridge-relay ] && [ ! -e /etc/callbridge ] && [ ! -e /etc/apache2/conf-enabled/callbridge.conf ]; echo $?)" \
	"  ... programs, configuration and the enabled Apache conf are gone"
out=$(apache2ctl configtest 2>&1)
okd $? "  ... and Apache's configuration is still valid" "$out"

done_testing
