#!/bin/bash
# callbridge-dbsetup against a private MariaDB that starts empty: --create
# makes the database, the account and the schema; a second run changes
# nothing; --check's exit status; a new migration, applied once by two
# runs at the same time; directories with a gap or a duplicate number, a
# database newer than the migrations, a migration that fails or does not
# record itself; the lock held elsewhere; wrong and changed passwords;
# hostile names; another administrator; and no password in any output.
. "$top_srcdir/tests/lib/tap.sh"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
CLEANUP="holder_stop db_stop"

SCHEMA=$top_srcdir/schema
OUT=$TEST_TMP/dbsetup.log	# every run's output, for the checks at the end

# run ARGS...: callbridge-dbsetup; output (both streams) in $out, status in $rc.
run() {
	out=$("$DBSETUP" "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" >>"$OUT"
}

# A schema directory of our own: migration 001 and the files given as
# NAME=SQL arguments.
schema_dir() {
	local dir=$TEST_TMP/$1 arg; shift
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$SCHEMA"/001_initial.sql "$dir"/
	for arg in "$@"; do
		printf '%s\n' "${arg#*=}" >"$dir/${arg%%=*}"
	done
	echo "$dir"
}

# The state a second run must leave alone: tables with their creation
# times, the schema_version rows, the account and its password hash.
snapshot() {
	db_root_sql "SELECT GROUP_CONCAT(table_name, '@', COALESCE(create_time, '') ORDER BY table_name)
		FROM information_schema.tables WHERE table_schema = 'callbridge';
		SELECT GROUP_CONCAT(version, ':', name, ':', applied_at ORDER BY version) FROM callbridge.schema_version;
		SELECT CONCAT(user, '@', host, ' ', authentication_string) FROM mysql.user WHERE user = 'callbridge';
		SHOW GRANTS FOR 'callbridge'@'localhost'"
}

version() { db_root_sql "SELECT COALESCE(MAX(version), 0) FROM callbridge.schema_version"; }

# A session of the mariadb client that holds the lock: killed on the
# server (a sleeping session would keep it), then the client.
HOLDER_PID= HOLDER_ID=
holder_stop() {
	[ -n "$HOLDER_ID" ] && db_root_sql "KILL $HOLDER_ID" 2>/dev/null
	[ -n "$HOLDER_PID" ] && kill "$HOLDER_PID" 2>/dev/null
	[ -n "$HOLDER_PID" ] && wait "$HOLDER_PID" 2>/dev/null
	HOLDER_PID= HOLDER_ID=
}

# ------------------------------------------------------------ command line
run -V
is "$rc" 0 "-V exits 0"
like "$out" '^callbridge-dbsetup [0-9]+\.[0-9]+\.[0-9]+$' "-V prints the version"
run -h
like "$out" 'usage: callbridge-dbsetup' "-h prints the usage"
run -Z
is "$rc" 2 "an unknown option exits 2"
run -n -C
is "$rc" 2 "--check with --create is a usage error"
like "$out" 'does not go with --create' "  ... and says so"
run -a root
is "$rc" 2 "--admin-user without --create is a usage error"
run --reset-password
is "$rc" 2 "--reset-password without --create is a usage error"
run -w soon
is "$rc" 2 "-w takes seconds"
run extra-argument
is "$rc" 2 "an argument after the options is a usage error"

# ------------------------------------------------------------ an empty server
DB_KEEP_SCHEMA=1 db_start
is "$(db_root_sql "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'callbridge'")" 0 \
	"the server starts without a callbridge database"

# The password has quotes, a backslash, a non-ASCII letter, ';' and '#'.
DB_PASSWORD='Pw-zQ7'"'"'"\\ä;#%_x'
conf=$TEST_TMP/db.conf
write_conf() { # FILE NAME USER PASSWORD [HOST]
	cat >"$1" <<CONF
[database]
host = ${5:-localhost}
socket = $DB_SOCK
name = $2
user = $3
password = "$4"
CONF
	chmod 600 "$1"
}
write_conf "$conf" callbridge callbridge "$DB_PASSWORD"
run -t -c "$conf"
is "$rc" 0 "-t: a file with only [database] is enough (no Twilio or OpenAI keys)"
like "$out" 'configuration OK' "  ... and says so"
printf '[database]\nname =\n' >"$TEST_TMP/noname.conf"
chmod 600 "$TEST_TMP/noname.conf"
run -t -c "$TEST_TMP/noname.conf"
is "$rc" 1 "-t: an empty database name is an error"

run -c "$conf" -s "$SCHEMA"
is "$rc" 1 "without --create, no account: exit 1"
like "$out" 'cannot connect to database callbridge as callbridge on .*mysqld.sock: Access denied' \
	"  ... says it cannot log in, and where"
like "$out" 'callbridge-dbsetup --create as root on the database host' "  ... and what to run"
run -n -c "$conf" -s "$SCHEMA"
is "$rc" 1 "--check without a database: exit 1"

run --create -c "$conf" -s "$SCHEMA"
is "$rc" 0 "--create on an empty server exits 0"
like "$out" 'connected as the administrator root' "  ... as root over the socket, without a password"
like "$out" 'created database callbridge' "  ... creates the database"
like "$out" "created account 'callbridge'@'localhost'" "  ... and the account"
like "$out" 'applying 001_initial.sql' "  ... applies 001"
like "$out" 'database callbridge is up to date \(schema version 1\)' "  ... and ends up to date"
unlike "$out" 'need schema version' "  ... with the version this build's programs need"
is "$(db_root_sql "SELECT CONCAT(default_character_set_name, ' ', default_collation_name) FROM information_schema.schemata WHERE schema_name = 'callbridge'")" \
	"utf8mb4 utf8mb4_unicode_ci" "the database is utf8mb4 with utf8mb4_unicode_ci"
is "$(db_root_sql "SELECT GROUP_CONCAT(table_name ORDER BY BINARY table_name) FROM information_schema.tables WHERE table_schema = 'callbridge'")" \
	"agent_tools,agents,call_events,call_log,call_sessions,calls_in_progress,phone_numbers,schema_version" \
	"every table and view of 001 exists"
is "$(db_sql "SELECT CONCAT(CURRENT_USER(), ' ', MAX(version)) FROM schema_version")" "callbridge@localhost 1" \
	"the configured account logs in with the configured password"
grants=$(db_root_sql "SHOW GRANTS FOR 'callbridge'@'localhost'")
like "$grants" 'GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, REFERENCES, INDEX, ALTER, CREATE VIEW, SHOW VIEW ON `callbridge`\.\*' \
	"the account has rows and schema on its database"
is "$(printf '%s\n' "$grants" | grep -vc '^GRANT USAGE ON \*\.\*')" 1 "  ... and nothing on any other"
db_sql "CREATE DATABASE elsewhere" >/dev/null 2>&1
ok "$([ $? -ne 0 ]; echo $?)" "  ... so it cannot create another database"
is "$(db_root_sql "SELECT definer FROM information_schema.views WHERE table_schema = 'callbridge' GROUP BY definer")" \
	"callbridge@localhost" "the migrations ran as the account (it owns the views)"

# ------------------------------------------------------------ a second run
before=$(snapshot)
run --create -c "$conf" -s "$SCHEMA"
is "$rc" 0 "--create again exits 0"
like "$out" 'database callbridge exists' "  ... finds the database"
like "$out" "account 'callbridge'@'localhost' exists; its password is left alone" "  ... and the account"
like "$out" 'up to date \(schema version 1\)' "  ... and says up to date"
unlike "$out" 'applying' "  ... applying nothing"
run -c "$conf" -s "$SCHEMA"
is "$rc" 0 "a plain run exits 0"
like "$out" 'database callbridge is up to date \(schema version 1\)' "  ... up to date"
is "$(snapshot)" "$before" "nothing changed: tables, schema_version, account, grants"

run -n -c "$conf" -s "$SCHEMA"
is "$rc" 0 "--check when up to date: exit 0"
like "$out" 'database callbridge: schema version 1' "  ... prints the version"
like "$out" "newest migration: 1 \\($SCHEMA\\)" "  ... the newest migration and where"
like "$out" '^up to date$' "  ... and up to date"
run -n -q -c "$conf" -s "$SCHEMA"
is "$rc$out" 0 "--check --quiet: only the exit status"
CALLBRIDGE_CONFIG=$conf run -n -q -s "$SCHEMA"
is "$rc" 0 "CALLBRIDGE_CONFIG names the file"

# ------------------------------------------------------------ a new migration
S2=$(schema_dir s2 "002_more.sql=-- a slow one, to be caught by a second run
INSERT INTO schema_version (version, name) VALUES (2, '002_more');
DO SLEEP(2);
CREATE TABLE more_things (id INT PRIMARY KEY) ENGINE=InnoDB;")
run -n -c "$conf" -s "$S2"
is "$rc" 3 "--check with a migration to apply: exit 3"
like "$out" '^pending: 002_more.sql$' "  ... names it"
like "$out" '^1 migration pending$' "  ... and counts"

"$DBSETUP" -c "$conf" -s "$S2" >"$TEST_TMP/run-a.log" 2>&1 &
pa=$!
"$DBSETUP" -c "$conf" -s "$S2" >"$TEST_TMP/run-b.log" 2>&1 &
pb=$!
wait "$pa"; ra=$?
wait "$pb"; rb=$?
is "$ra $rb" "0 0" "two runs at once both succeed"
both=$(cat "$TEST_TMP/run-a.log" "$TEST_TMP/run-b.log")
cat "$TEST_TMP/run-a.log" "$TEST_TMP/run-b.log" >>"$OUT"
is "$(printf '%s\n' "$both" | grep -c 'applying 002_more.sql')" 1 "  ... one applies 002"
is "$(printf '%s\n' "$both" | grep -c 'another callbridge-dbsetup (connection [0-9]*) is working on database callbridge; waiting up to 300 s')" 1 \
	"  ... the other waits for it"
is "$(printf '%s\n' "$both" | grep -c 'up to date (schema version 2)')" 2 "  ... and both end at version 2"
is "$(db_root_sql "SELECT COUNT(*) FROM callbridge.schema_version WHERE version = 2")" 1 "002 is recorded once"
like "$both" 'need schema version 1, but .*s2 goes to 2' "a warning: this build's programs need version 1"
run -n -c "$conf" -s "$S2"
is "$rc" 0 "--check after applying it: exit 0"

# ------------------------------------------------------------ refusals
G=$(schema_dir gap "003_later.sql=SELECT 1;")
run -c "$conf" -s "$G"
is "$rc" 1 "a directory with a gap: exit 1"
like "$out" 'migration 2 is missing \(between 001_initial.sql and 003_later.sql\)' "  ... naming the missing number"
D=$(schema_dir dup "002_more.sql=SELECT 1;" "002_other.sql=SELECT 1;")
run -c "$conf" -s "$D"
is "$rc" 1 "two migrations with one number: exit 1"
like "$out" '002_more.sql and 002_other.sql have the same number' "  ... naming both"
B=$(schema_dir badname "002_more.sql=SELECT 1;" "fix-later.sql=SELECT 1;")
run -c "$conf" -s "$B"
is "$rc" 1 "a .sql file that is not a migration name: exit 1"
like "$out" 'fix-later.sql: not a migration name' "  ... naming it"
run -c "$conf" -s "$TEST_TMP/nonexistent"
is "$rc" 1 "a missing schema directory: exit 1"

run -c "$conf" -s "$SCHEMA"
is "$rc" 1 "a database newer than the newest migration: exit 1"
like "$out" 'database callbridge has schema version 2, newer than the newest migration in .* \(1\)' "  ... and says so"
run -n -c "$conf" -s "$SCHEMA"
is "$rc" 1 "  ... --check too"
is "$(version)" 2 "the refusals changed nothing"

# ------------------------------------------------------------ failures
S3=$(schema_dir s3 "002_more.sql=SELECT 1;" "003_broken.sql=INSERT INTO schema_version (version, name) VALUES (3, '003_broken');
CREATE TABLE half_done (id INT PRIMARY KEY) ENGINE=InnoDB;
ALTER TABLE agents ADD COLUMN oops INT NOT NUL;
CREATE TABLE never_made (id INT) ENGINE=InnoDB;")
run -c "$conf" -s "$S3"
is "$rc" 1 "a failing migration: exit 1"
like "$out" "s3/003_broken.sql failed at statement 3: .*near 'NUL;\\\\x0aCREATE TABLE never_made .*\\(error 1064\\)" \
	"  ... names the file, the statement and the server's message"
like "$out" 'removed the schema_version row 3 that 003_broken.sql wrote before it failed' \
	"  ... removes the version the file claimed first"
like "$out" 'cannot roll back CREATE, ALTER or DROP: statements 1 to 2 of 003_broken.sql stay applied' \
	"  ... says DDL cannot be rolled back"
like "$out" 'Inspect it, then restore the backup or finish the migration by hand' "  ... and what to do"
is "$(version)" 2 "the version stays 2"
is "$(db_root_sql "SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'callbridge' AND table_name IN ('half_done', 'never_made')")" \
	"half_done" "what ran before the failing statement stays, nothing after it ran"
run -n -c "$conf" -s "$S3"
is "$rc" 3 "--check: 003 is still pending"

S4=$(schema_dir s4 "002_more.sql=SELECT 1;" "003_typo.sql=SELEKT 1;")
run -c "$conf" -s "$S4"
is "$rc" 1 "a migration whose first statement fails: exit 1"
like "$out" 'the first statement failed: nothing of 003_typo.sql stays applied, and database callbridge stays at schema version 2' \
	"  ... says nothing stays applied"
S5=$(schema_dir s5 "002_more.sql=SELECT 1;" "003_silent.sql=CREATE TABLE silent (id INT) ENGINE=InnoDB;")
run -c "$conf" -s "$S5"
is "$rc" 1 "a migration that does not record itself: exit 1"
like "$out" 's5/003_silent.sql ran, but schema_version says 2 instead of 3: a migration must record itself' "  ... and says so"
is "$(version)" 2 "the version stays 2"

# ------------------------------------------------------------ the lock
mariadb --no-defaults -S "$DB_SOCK" -u root -N -B \
	-e "SELECT GET_LOCK('callbridge-dbsetup:callbridge', 0); DO SLEEP(30)" >/dev/null 2>&1 &
HOLDER_PID=$!
for _ in $(seq 1 100); do
	HOLDER_ID=$(db_root_sql "SELECT IS_USED_LOCK('callbridge-dbsetup:callbridge')")
	[ "$HOLDER_ID" != NULL ] && break
	sleep 0.05
done
t0=$(now_ms)
run -w 1 -c "$conf" -s "$S2"
t1=$(now_ms)
is "$rc" 1 "the lock held elsewhere beyond -w: exit 1"
like "$out" 'another callbridge-dbsetup is still working on database callbridge after 1 s \(the lock "callbridge-dbsetup:callbridge" is held by connection [0-9]+\)' \
	"  ... names the lock and who holds it"
ok "$([ $((t1 - t0)) -lt 5000 ]; echo $?)" "  ... after about a second ($((t1 - t0)) ms)"
run -n -c "$conf" -s "$S2"
is "$rc" 0 "--check takes no lock"
holder_stop

# ------------------------------------------------------------ passwords
write_conf "$TEST_TMP/wrong.conf" callbridge callbridge "Wr0ng-pass"
run -c "$TEST_TMP/wrong.conf" -s "$S2"
is "$rc" 1 "a wrong password: exit 1"
like "$out" "cannot connect to database callbridge as callbridge on .*: Access denied for user 'callbridge'@'localhost' \\(using password: YES\\); check \\[database\\] user and password" \
	"  ... a clear error"
CALLBRIDGE_DB_PASSWORD=$DB_PASSWORD run -c "$TEST_TMP/wrong.conf" -s "$S2"
is "$rc" 0 "CALLBRIDGE_DB_PASSWORD wins over the file"

# A second database and account, with '_' in the name (a GRANT wildcard).
conf2=$TEST_TMP/cb2.conf
write_conf "$conf2" cb_test cb_user "first-Pass-1"
run --create -c "$conf2" -s "$SCHEMA"
is "$rc" 0 "--create for a second database on the same server"
like "$(db_root_sql "SHOW GRANTS FOR 'cb_user'@'localhost'")" 'ON `cb\\+_test`\.\*' \
	"  ... its '_' is escaped in GRANT"
mariadb --no-defaults -S "$DB_SOCK" -u cb_user -p"first-Pass-1" -e "CREATE DATABASE cbXtest" >/dev/null 2>&1
ok "$([ $? -ne 0 ]; echo $?)" "  ... so the account has nothing on cbXtest"
write_conf "$conf2" cb_test cb_user "second-Pass-2"
run --create -c "$conf2" -s "$SCHEMA"
is "$rc" 1 "--create with another password for an existing account: exit 1"
like "$out" 'the account existed before --create, which left its password alone: .*or run --create --reset-password' \
	"  ... points at --reset-password"
run --create --reset-password -c "$conf2" -s "$SCHEMA"
is "$rc" 0 "--create --reset-password: exit 0"
like "$out" "account 'cb_user'@'localhost': password set to the configured one" "  ... and says so"
is "$(mariadb --no-defaults -S "$DB_SOCK" -u cb_user -p"second-Pass-2" -N -B cb_test -e 'SELECT MAX(version) FROM schema_version' 2>&1)" 1 \
	"  ... the new password works"

# Another administrator, with a password from the environment only.
db_root_sql "CREATE USER 'dba'@'localhost' IDENTIFIED BY 'Adm1n-Secret';
	GRANT ALL PRIVILEGES ON *.* TO 'dba'@'localhost' WITH GRANT OPTION"
write_conf "$TEST_TMP/cb3.conf" cb_three cb_three "third-Pass-3"
run --create -a dba -c "$TEST_TMP/cb3.conf" -s "$SCHEMA"
is "$rc" 1 "--admin-user without its password: exit 1"
like "$out" 'cannot connect as the administrator dba over .*Access denied.*CALLBRIDGE_DB_ADMIN_PASSWORD' \
	"  ... says how to give it"
CALLBRIDGE_DB_ADMIN_PASSWORD=Adm1n-Secret run --create -a dba -c "$TEST_TMP/cb3.conf" -s "$SCHEMA"
is "$rc" 0 "--admin-user with CALLBRIDGE_DB_ADMIN_PASSWORD"
like "$out" 'connected as the administrator dba' "  ... connects as that administrator"

# A server that refuses password hashes.
if db_root_sql "INSTALL SONAME 'simple_password_check'" 2>/dev/null; then
	write_conf "$TEST_TMP/cb4.conf" cb_four cb_four "Fourth-Pass-4!"
	run --create -c "$TEST_TMP/cb4.conf" -s "$SCHEMA"
	is "$rc" 1 "strict_password_validation: exit 1"
	like "$out" "the server refuses to take a password hash \\(strict_password_validation with a password validation plugin\\): create the account 'cb_four'@'localhost' yourself" \
		"  ... and says to create the account by hand"
	db_root_sql "UNINSTALL SONAME 'simple_password_check'"
else
	ok 0 "# SKIP simple_password_check not available"
	ok 0 "# SKIP simple_password_check not available"
fi

# ------------------------------------------------------------ hostile names
before=$(db_root_sql "SELECT GROUP_CONCAT(schema_name ORDER BY schema_name) FROM information_schema.schemata;
	SELECT GROUP_CONCAT(user ORDER BY user) FROM mysql.user")
write_conf "$TEST_TMP/evil.conf" 'callbridge`; DROP DATABASE callbridge; --' callbridge "$DB_PASSWORD"
run --create -c "$TEST_TMP/evil.conf" -s "$SCHEMA"
is "$rc" 1 "a hostile database name: --create refuses"
like "$out" '\[database\] name "callbridge`; DROP DATABASE callbridge; --": --create takes 1 to 64 letters, digits or' "  ... and says why"
unlike "$out" 'connected as the administrator' "  ... before connecting"
write_conf "$TEST_TMP/evil.conf" callbridge "x'@'%' IDENTIFIED BY 'y" "$DB_PASSWORD"
run --create -c "$TEST_TMP/evil.conf" -s "$SCHEMA"
is "$rc" 1 "a hostile account name: --create refuses"
like "$out" '\[database\] user "x.@.%. IDENTIFIED BY .y": --create takes' "  ... and says why"
write_conf "$TEST_TMP/far.conf" callbridge callbridge "$DB_PASSWORD" db.example.com
run --create -c "$TEST_TMP/far.conf" -s "$SCHEMA"
is "$rc" 1 "--create for a database on another host: refused"
like "$out" '--create works on the database host, over the Unix socket' "  ... saying how to do it instead"
write_conf "$TEST_TMP/nopass.conf" cb_five cb_five ""
run --create -c "$TEST_TMP/nopass.conf" -s "$SCHEMA"
is "$rc" 1 "--create with an empty password: refused"
like "$out" '\[database\] password is empty' "  ... and says so"
is "$(db_root_sql "SELECT GROUP_CONCAT(schema_name ORDER BY schema_name) FROM information_schema.schemata;
	SELECT GROUP_CONCAT(user ORDER BY user) FROM mysql.user")" "$before" "the refusals created and dropped nothing"

# ------------------------------------------------------------ the end
all=$(cat "$OUT")
for secret in "$DB_PASSWORD" Pw-zQ7 Wr0ng-pass first-Pass-1 second-Pass-2 third-Pass-3 Adm1n-Secret Fourth-Pass-4; do
	case "$all" in
	*"$secret"*) ok 1 "no password in any output ($secret)" ;;
	*) ok 0 "no password in any output (${secret:0:3}...)" ;;
	esac
done
unlike "$all" "PASSWORD '\\*" "no password hash in any output either"
no_sanitizer_reports
done_testing
