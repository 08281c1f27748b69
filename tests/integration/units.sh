#!/bin/bash
# The systemd units and the Apache configuration, statically: the units
# pass systemd-analyze verify (with this build's programs in ExecStart=),
# both services rate 2.0 or better in systemd-analyze security, they say
# what the programs do (Type=notify, the socket on fd 0, the service
# user), and the socket, the Apache configuration, the examples and the
# relay's default listen address name the same places.
# tests/package/install.sh checks the installed units the same way.
. "$top_srcdir/tests/lib/tap.sh"
command -v systemd-analyze >/dev/null || skip_all "systemd-analyze not installed (apt-get install systemd)"
test_init

UNITS="callbridge-relay.service callbridge-webhook.service callbridge-webhook.socket"
for u in $UNITS; do
	sed -e "s|@sbindir@|$top_builddir|g" -e "s|@pkglibexecdir@|$top_builddir|g" \
		"$top_srcdir/systemd/$u.in" >"$TEST_TMP/$u"
done
for u in $UNITS; do
	# The units find each other (Requires=) in $TEST_TMP, then the system's.
	out=$(cd "$TEST_TMP" && SYSTEMD_UNIT_PATH="$TEST_TMP:" systemd-analyze verify --man=no "./$u" 2>&1)
	is "$out" "" "systemd-analyze verify $u"
	grep -E '^Documentation=' "$TEST_TMP/$u" | tr ' =' '\n\n' | sed -n 's/^man:\(.*\)(\([0-9]\))$/\1.\2/p' >"$TEST_TMP/pages"
	missing=
	while read -r page; do
		[ -f "$top_srcdir/man/$page" ] || missing+=" $page"
	done <"$TEST_TMP/pages"
	is "$missing" "" "  ... its Documentation= pages are in man/ ($(tr '\n' ' ' <"$TEST_TMP/pages"))"
done
for u in callbridge-relay.service callbridge-webhook.service; do
	score=$(systemd-analyze security --offline=true "$TEST_TMP/$u" 2>&1 |
		sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	ok "$(awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }'; echo $?)" \
		"systemd-analyze security rates $u ${score:-?} (2.0 or better)"
done

val() { sed -n "s/^$2=//p" "$TEST_TMP/$1" | head -n 1; }
is "$(val callbridge-relay.service Type)" notify "the relay's unit waits for READY=1 (Type=notify)"
is "$(val callbridge-relay.service ExecStartPre)" "$top_builddir/callbridge-relay -t" "  ... checks the configuration first"
is "$(val callbridge-relay.service KillMode)" mixed "  ... and stops only the main process with SIGTERM (the drain)"
is "$(val callbridge-webhook.service StandardInput)" socket "the webhook's unit hands it the socket as fd 0"
is "$(val callbridge-webhook.service Type)" notify "  ... and waits for READY=1"
is "$(val callbridge-webhook.service StandardOutput)" journal "  ... its output goes to the journal, not the socket"
is "$(val callbridge-relay.service User):$(val callbridge-webhook.service User)" callbridge:callbridge \
	"both run as the user callbridge"
is "$(val callbridge-webhook.socket SocketGroup):$(val callbridge-webhook.socket SocketMode)" www-data:0660 \
	"the socket: the web server's group may connect, nobody else"
drain=$(sed -n 's/.*"relay", "drain_time", T_INT, [^"]*"\([0-9]*\)".*/\1/p' "$top_srcdir/shared/conf.c")
stop=$(val callbridge-relay.service TimeoutStopSec)
ok "$([ "${stop:-0}" -gt "${drain:-999}" ]; echo $?)" "TimeoutStopSec ($stop s) outlasts the default drain_time ($drain s)"

sock=$(val callbridge-webhook.socket ListenStream)
conf=$top_srcdir/apache2/callbridge.conf
like "$(cat "$conf")" "ProxyPass \"/api/\" \"unix:$sock\\|fcgi://localhost/api/\"" \
	"apache2/callbridge.conf forwards /api/ to the socket unit's $sock"
listen=$(sed -n 's/.*"relay", "listen", T_LISTEN, [^"]*"\([^"]*\)".*/\1/p' "$top_srcdir/shared/conf.c")
like "$(cat "$conf")" "ProxyPass \"/ws/realtime/\" \"ws://$listen/ws/realtime/\"" \
	"  ... and /ws/realtime/ to the relay's default listen address ($listen)"
like "$(head -n 1 "$conf")" '^# Depends: .*proxy_fcgi.*proxy_wstunnel' "  ... and names the modules it needs (# Depends:)"
is "$(grep -c '^<IfModule' "$conf")" "$(grep -c '^</IfModule>' "$conf")" "  ... with its directives inside <IfModule>"
for ex in nginx.conf apache-proxy-fcgi.conf; do
	like "$(cat "$top_srcdir/examples/$ex")" "unix:$sock" "examples/$ex uses the same socket"
done
if [ -x "${APACHE2:-/usr/sbin/apache2}" ]; then
	mods=/usr/lib/apache2/modules
	cat >"$TEST_TMP/httpd.conf" <<CONF
ServerRoot "$TEST_TMP"
ServerName localhost
Listen 127.0.0.1:1
PidFile "$TEST_TMP/httpd.pid"
ErrorLog "$TEST_TMP/httpd-error.log"
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authz_host_module $mods/mod_authz_host.so
LoadModule env_module $mods/mod_env.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_fcgi_module $mods/mod_proxy_fcgi.so
LoadModule proxy_wstunnel_module $mods/mod_proxy_wstunnel.so
Include "$conf"
CONF
	out=$("${APACHE2:-/usr/sbin/apache2}" -t -f "$TEST_TMP/httpd.conf" 2>&1)
	is "$out" "Syntax OK" "Apache accepts apache2/callbridge.conf (apache2 -t)"
fi
done_testing
