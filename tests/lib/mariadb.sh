# mariadb.sh: a private MariaDB server for one test (sourced).
#
# db_start creates a data directory under $TEST_TMP, starts mariadbd on a
# unix socket there (no TCP, no system service), and runs the built
# callbridge-dbsetup --create as root over that socket: it creates the
# database "callbridge" and the user "callbridge" and applies schema/*.sql,
# so every test that starts a server goes through the real command.
# DB_KEEP_SCHEMA=1 db_start leaves the data alone: a restart keeps what
# the server had, a first start gives a server with only its system
# database.  db_sql runs SQL as that user; db_root_sql as root.
# db_stop shuts the server down; db_pause/db_resume stop and continue it
# (a "slow" server).

: "${top_srcdir:?}"
: "${top_builddir:?}"
DBSETUP=${DBSETUP:-$top_builddir/callbridge-dbsetup}

db_find() {
	local p
	for p in "${MARIADBD:-}" /usr/sbin/mariadbd /usr/libexec/mariadbd /usr/sbin/mysqld; do
		[ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return 0; }
	done
	return 1
}

db_start() {
	DB_DIR=$TEST_TMP/mariadb
	DB_SOCK=$DB_DIR/mysqld.sock
	DB_PASSWORD=cb-test-password
	local mariadbd install
	mariadbd=$(db_find) || skip_all "mariadbd not installed (apt-get install mariadb-server)"
	install=$(command -v mariadb-install-db || command -v mysql_install_db) ||
		skip_all "mariadb-install-db not installed"
	command -v mariadb >/dev/null || skip_all "mariadb client not installed"
	mkdir -p "$DB_DIR"
	if [ ! -d "$DB_DIR/data/mysql" ]; then
		db_template "$install" || {
			echo "Bail out! mariadb-install-db failed"
			exit 1
		}
		cp -a "$DB_TEMPLATE" "$DB_DIR/data"
	fi
	"$mariadbd" --no-defaults --datadir="$DB_DIR/data" --socket="$DB_SOCK" \
		--skip-networking --user="$(id -un)" --pid-file="$DB_DIR/mysqld.pid" \
		--log-error="$DB_DIR/error.log" --innodb-buffer-pool-size=32M \
		--innodb-log-file-size=16M --skip-log-bin --max-connections=200 \
		--innodb-flush-log-at-trx-commit=2 \
		>/dev/null 2>&1 &
	DB_PID=$!
	local i
	for i in $(seq 1 300); do
		[ -S "$DB_SOCK" ] && db_root_sql "SELECT 1" >/dev/null 2>&1 && break
		if ! kill -0 "$DB_PID" 2>/dev/null; then
			cat "$DB_DIR/error.log" >&2
			echo "Bail out! mariadbd exited"
			exit 1
		fi
		sleep 0.1
	done
	db_root_sql "SELECT 1" >/dev/null || { echo "Bail out! mariadbd did not start"; exit 1; }
	if [ -z "${DB_KEEP_SCHEMA:-}" ]; then
		db_apply_schema
	fi
}

# One freshly installed system database per build tree, copied by every
# test (installing takes a second and, with several at once under load,
# has been seen to fail; it is retried).
db_template() {
	local install=$1 tries tmp
	DB_TEMPLATE=${top_builddir:-$TEST_TMP}/tests/.mariadb-template
	mkdir -p "$(dirname "$DB_TEMPLATE")"
	(
		flock 9
		[ -d "$DB_TEMPLATE/mysql" ] && exit 0
		for tries in 1 2 3; do
			tmp=$DB_TEMPLATE.tmp.$$
			rm -rf "$tmp"
			mkdir -p "$tmp"
			if "$install" --no-defaults --datadir="$tmp" --user="$(id -un)" \
				--auth-root-authentication-method=socket --skip-test-db \
				>"$DB_DIR/install.log" 2>&1; then
				rm -rf "$DB_TEMPLATE"
				mv "$tmp" "$DB_TEMPLATE"
				exit 0
			fi
			cat "$DB_DIR/install.log" >&2
			rm -rf "$tmp"
		done
		exit 1
	) 9>"$DB_TEMPLATE.lock"
}

# db_setup_config FILE [NAME [USER]]: a configuration with only the
# [database] section, for callbridge-dbsetup against the private server.
db_setup_config() {
	cat >"$1" <<CONF
[database]
host = localhost
socket = $DB_SOCK
name = ${2:-callbridge}
user = ${3:-callbridge}
password = $DB_PASSWORD
CONF
	chmod 600 "$1"
}

# The database, its user and the schema, by callbridge-dbsetup as root
# (the private server lets root in over the socket, as Debian's does).
db_apply_schema() {
	[ -x "$DBSETUP" ] || {
		echo "Bail out! $DBSETUP is not built"
		exit 1
	}
	db_setup_config "$DB_DIR/dbsetup.conf"
	"$DBSETUP" --create -c "$DB_DIR/dbsetup.conf" -s "$top_srcdir/schema" \
		>"$DB_DIR/dbsetup.log" 2>&1 || {
		sed 's/^/# /' "$DB_DIR/dbsetup.log"
		echo "Bail out! callbridge-dbsetup --create failed"
		exit 1
	}
}

db_root_sql() {
	mariadb --no-defaults -S "$DB_SOCK" -u root -N -B -e "$1"
}

db_sql() {
	mariadb --no-defaults -S "$DB_SOCK" -u callbridge -p"$DB_PASSWORD" -N -B callbridge -e "$1"
}

db_stop() {
	[ -n "${DB_PID:-}" ] || return 0
	kill -CONT "$DB_PID" 2>/dev/null
	kill "$DB_PID" 2>/dev/null
	local i
	for i in $(seq 1 100); do
		kill -0 "$DB_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$DB_PID" 2>/dev/null || :
	wait "$DB_PID" 2>/dev/null
	DB_PID=
}

db_pause() { kill -STOP "$DB_PID"; }
db_resume() { kill -CONT "$DB_PID"; }
