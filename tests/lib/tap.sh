# tap.sh: TAP output for the shell tests (sourced).
#
# ok COND_STATUS DESCRIPTION, is GOT EXPECTED DESCRIPTION, like GOT REGEX
# DESCRIPTION; done_testing prints the plan and exits non-zero when a test
# failed.  skip_all REASON exits 77, which automake counts as SKIP.

tap_n=0
tap_failed=0

ok() {
	local status=$1; shift
	tap_n=$((tap_n + 1))
	if [ "$status" -eq 0 ]; then
		echo "ok $tap_n - $*"
	else
		echo "not ok $tap_n - $*"
		tap_failed=$((tap_failed + 1))
	fi
}

is() {
	local got=$1 want=$2; shift 2
	if [ "$got" = "$want" ]; then
		ok 0 "$*"
	else
		ok 1 "$*"
		printf '#   got:  %s\n#   want: %s\n' "$got" "$want"
	fi
}

like() {
	local got=$1 re=$2; shift 2
	if printf '%s' "$got" | grep -Eq -- "$re"; then
		ok 0 "$*"
	else
		ok 1 "$*"
		printf '#   got:  %s\n#   want: /%s/\n' "$(printf '%s' "$got" | head -c 2000)" "$re"
	fi
}

unlike() {
	local got=$1 re=$2; shift 2
	if printf '%s' "$got" | grep -Eq -- "$re"; then
		ok 1 "$*"
		printf '#   got:  %s\n#   unwanted: /%s/\n' "$(printf '%s' "$got" | head -c 2000)" "$re"
	else
		ok 0 "$*"
	fi
}

diag() {
	printf '# %s\n' "$*"
}

skip_all() {
	echo "1..0 # SKIP $*"
	exit 77
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

# test_init: a private temporary directory and a cleanup trap that stops
# whatever the test started (functions named in CLEANUP run in order).
CLEANUP=
test_init() {
	TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/callbridge-test.XXXXXX")
	chmod 755 "$TEST_TMP"
	trap 'test_cleanup' EXIT
	trap 'exit 1' INT TERM
}

test_cleanup() {
	local rc=$? f
	for f in $CLEANUP; do
		"$f" >/dev/null 2>&1
	done
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

# now_ms: milliseconds since the epoch.
now_ms() { date +%s%3N; }

# eventually SECONDS COMMAND [ARGS...]: run COMMAND every 50 ms until it
# succeeds; fails when it still does not after SECONDS.  For what another
# process does in its own time (a row stored, a file written, a log line):
# SECONDS is a deadline, not a delay, so make it generous.
eventually() {
	local end=$(($(now_ms) + $1 * 1000))
	shift
	until "$@"; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# no_sanitizer_reports: after stopping the programs, check that none of
# their logs has an AddressSanitizer, LeakSanitizer or UBSan report (the
# suite is built with --enable-sanitizers in CI).
no_sanitizer_reports() {
	local hits
	hits=$(grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' \
		"$TEST_TMP"/*.log 2>/dev/null | xargs -r -n1 basename | tr '\n' ' ')
	is "$hits" "" "no sanitizer report in the programs' logs"
}
