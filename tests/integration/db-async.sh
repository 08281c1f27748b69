#!/bin/bash
# db_async, the relay's non-blocking MariaDB pool, against a real server:
# rows and parameters, two-step jobs and per-key order under load, a slow
# query, a stopped server (the event loop runs on, jobs time out on time),
# the queue bound, a killed and restarted server, an unknown schema, a host
# that does not resolve, and shutdown.  tests/tools/db-async-test does the
# work and prints TAP; this script renumbers it and checks the log.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
CLEANUP="db_stop db_stop_restarted"

DRIVER=${top_builddir:?}/tests/tools/db-async-test
[ -x "$DRIVER" ] || skip_all "$DRIVER not built (make check builds it)"

# The driver may have started the server again: stop that one too.
db_stop_restarted() {
	local pid
	pid=$(cat "$DB_DIR/mysqld.pid" 2>/dev/null) || return 0
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = mariadbd ] || return 0
	kill -CONT "$pid"
	kill -9 "$pid"
}

db_start
db_sql "CREATE TABLE t_people (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, note TEXT NULL);
	INSERT INTO t_people VALUES (1, 'alice', NULL), (2, 'bob', 'b'),
		(3, 'carol', 'ç ü ✓'), (4, 'dave', 'd');
	CREATE TABLE t_counter (id INT PRIMARY KEY, n INT NOT NULL);
	INSERT INTO t_counter VALUES (1, 0);
	CREATE TABLE t_seq (counter INT NOT NULL, seq INT NOT NULL);
	CREATE TABLE t_order (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL,
		seq INT NOT NULL, conn BIGINT NOT NULL);
	CREATE TABLE t_other (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL,
		v INT NOT NULL, conn BIGINT NOT NULL);"

cat >"$TEST_TMP/callbridge.conf" <<CONF
[database]
host = localhost
socket = $DB_SOCK
name = callbridge
user = callbridge
password = $DB_PASSWORD
connect_timeout = 2
read_timeout = 2
write_timeout = 2

[twilio]
auth_token = unused
CONF

# How the driver starts the server again after killing it.
cat >"$TEST_TMP/restart.sh" <<SCRIPT
exec >&2
top_srcdir='$top_srcdir'
TEST_TMP='$TEST_TMP'
. "\$top_srcdir/tests/lib/tap.sh"
. "\$top_srcdir/tests/lib/mariadb.sh"
DB_KEEP_SCHEMA=1 db_start
SCRIPT

# Renumber the driver's TAP into ours.
timeout 120 "$DRIVER" -c "$TEST_TMP/callbridge.conf" -p "$DB_DIR/mysqld.pid" \
	-r "$TEST_TMP/restart.sh" >"$TEST_TMP/driver.tap" 2>"$TEST_TMP/driver.log"
status=$?
while IFS= read -r line; do
	case $line in
	"ok "*) ok 0 "$(printf '%s' "$line" | sed 's/^ok [0-9]* - //')" ;;
	"not ok "*) ok 1 "$(printf '%s' "$line" | sed 's/^not ok [0-9]* - //')" ;;
	"#"*) printf '%s\n' "$line" ;;
	esac
done <"$TEST_TMP/driver.tap"
is "$status" 0 "the driver exits 0"

# Log lines of the pool, per phase of the driver.
phase_log() {
	sed -n "/^== $1\$/,/^== /p" "$TEST_TMP/driver.log" | grep -c 'database: '
}
n=$(phase_log restart)
ok "$([ "$n" -ge 1 ] && [ "$n" -le 6 ]; echo $?)" \
	"server down, 200 jobs failed: $n log lines, not one per job"
n=$(phase_log stall)
ok "$([ "$n" -ge 1 ] && [ "$n" -le 6 ]; echo $?)" "server stopped: $n log lines"
like "$(cat "$TEST_TMP/driver.log")" 'database: the database schema is version 99' \
	"an unknown schema is logged with what to do"
is "$(grep -c 'schema is version 99' "$TEST_TMP/driver.log")" 1 "  ... once"
like "$(cat "$TEST_TMP/driver.log")" 'database: working again' "recovery is logged"
no_sanitizer_reports
diag "$(grep -c . "$TEST_TMP/driver.log") lines on the driver's stderr"

done_testing
