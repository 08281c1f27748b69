#!/bin/bash
# Every man page renders without a warning from groff or man-db, and each
# documents the sections the project asks of it.
. "$top_srcdir/tests/lib/tap.sh"
command -v man >/dev/null 2>&1 || skip_all "man not installed (apt-get install man-db groff-base)"
test_init

for page in "$top_srcdir"/man/*.[1-8]; do
	name=$(basename "$page")
	err=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 "$page" 2>&1 >"$TEST_TMP/raw")
	col -bx <"$TEST_TMP/raw" >"$TEST_TMP/out"
	is "$err" "" "$name renders without warnings"
	text=$(cat "$TEST_TMP/out")
	for section in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
		like "$text" "^$section" "$name has $section"
	done
done
# Every configuration key of the loader is documented in callbridge.conf(5).
keys=$(sed -n 's/^\t{ "\([a-z]*\)", "\([a-z_]*\)",.*/\2/p' "$top_srcdir/shared/conf.c")
for k in $keys; do
	grep -q "^\.\(B\|TP\|IP\).*$k\|^$k\|\\\\fB$k" "$top_srcdir/man/callbridge.conf.5"
	ok $? "callbridge.conf(5) documents $k"
done
# Every option of the webhook is in its page.
for o in c d h l n t V; do
	grep -q -- "\\\\-$o" "$top_srcdir/man/callbridge-webhook.8"
	ok $? "callbridge-webhook(8) documents -$o"
done
# callbridge-dbsetup(8): the sections an administrator's command needs,
# and every option its -h lists, short and long, under OPTIONS.
page=$top_srcdir/man/callbridge-dbsetup.8
LC_ALL=C.UTF-8 MANWIDTH=80 man -E UTF-8 -l -Tutf8 "$page" 2>/dev/null | col -bx >"$TEST_TMP/dbsetup"
text=$(cat "$TEST_TMP/dbsetup")
for section in OPTIONS FILES ENVIRONMENT "EXIT STATUS" EXAMPLES; do
	like "$text" "^$section" "callbridge-dbsetup.8 has $section"
done
opts=$(sed -n '/^OPTIONS/,/^FILES/p' "$TEST_TMP/dbsetup")
DBSETUP=$top_builddir/callbridge-dbsetup
if [ -x "$DBSETUP" ]; then
	usage=$("$DBSETUP" -h)
	shorts=$(printf '%s\n' "$usage" | sed -n 's/^  -\([A-Za-z]\)[ ,].*/\1/p')
	longs=$(printf '%s\n' "$usage" | sed -n 's/^ *\(-[A-Za-z], \)\{0,1\}--\([a-z][a-z-]*\).*/\2/p')
	is "$(echo $shorts)" "C a c d h n q s t V w" "callbridge-dbsetup -h lists its short options"
	for o in $shorts; do
		like "$opts" "^       -$o[ ,]" "callbridge-dbsetup(8) documents -$o"
	done
	for o in $longs; do
		like "$opts" "^       (-[A-Za-z]( [a-z]+)?, )?--$o\\b" "callbridge-dbsetup(8) documents --$o"
	done
	for v in CALLBRIDGE_CONFIG CALLBRIDGE_DB_PASSWORD CALLBRIDGE_DB_ADMIN_PASSWORD; do
		like "$(sed -n '/^ENVIRONMENT/,/^EXIT STATUS/p' "$TEST_TMP/dbsetup")" "^       $v" \
			"callbridge-dbsetup(8) documents $v"
	done
fi
done_testing
