#!/bin/bash
# Every man page renders without a warning from groff or man-db (the way
# lintian runs them too), has a proper .TH line and whatis entry, escapes
# the hyphens of options and commands, and has the sections the project
# asks of it.  The pages agree with the code: every configuration key
# with its default and range, every option, every environment variable,
# and a complete example configuration that the programs accept.
. "$top_srcdir/tests/lib/tap.sh"
command -v man >/dev/null 2>&1 || skip_all "man not installed (apt-get install man-db groff-base)"
test_init
MAN=$top_srcdir/man
CONF_C=$top_srcdir/shared/conf.c

# ---- the sections each page must have (its .SH lines)
# Program pages: what a system administrator looks for; SIGNALS for the
# daemons.  A section 8 page not listed here (callbridge-dbsetup(8)) is
# held to the program pages' list without SIGNALS; any other page to
# NAME, DESCRIPTION and SEE ALSO.
program_sections="NAME|SYNOPSIS|DESCRIPTION|OPTIONS|FILES|ENVIRONMENT|EXIT STATUS|EXAMPLES|SEE ALSO"
required_sections() {
	case "$1" in
	callbridge.7)
		echo "NAME|DESCRIPTION|A CALL'S PATH|CONFIGURATION|PACKAGES|WHERE TO START|TROUBLESHOOTING|FILES|EXAMPLES|SEE ALSO" ;;
	callbridge-webhook.8|callbridge-relay.8)
		echo "$program_sections|SIGNALS" ;;
	callbridge.conf.5)
		echo "NAME|SYNOPSIS|DESCRIPTION|SECTIONS AND KEYS|FILES|ENVIRONMENT|EXAMPLES|SEE ALSO" ;;
	callbridge-schema.7)
		echo "NAME|DESCRIPTION|EXAMPLES|FILES|SEE ALSO" ;;
	*.8)
		echo "$program_sections" ;;
	*)
		echo "NAME|DESCRIPTION|SEE ALSO" ;;
	esac
}

# The section names of a page, one per line, as its .SH lines spell them.
sh_lines() {
	sed -n 's/^\.SH  *//p' "$1" | sed -e 's/^"\(.*\)"$/\1/' \
	    -e 's/\\-/-/g' -e "s/\\\\(aq/'/g"
}

# The source lines of one section (.SH NAME up to the next .SH).
section_text() {
	awk -v want="$2" '/^\.SH/ { s = $0; sub(/^\.SH +/, "", s); gsub(/"/, "", s); on = (s == want); next } on' "$1"
}

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
[ -n "$version" ] || version=$(sed -n 's/^AC_INIT(\[callbridge\], *\[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")

pages=$(ls "$MAN"/*.[1-8])
for page in $pages; do
	name=$(basename "$page")
	sect=${name##*.}
	base=${name%.*}

	# man-db as a user runs it, and as lintian does (-Z: troff only, 120
	# columns); groff's own checks with every warning on.
	err=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 "$page" 2>&1 >"$TEST_TMP/raw")
	col -bx <"$TEST_TMP/raw" >"$TEST_TMP/out"
	is "$err" "" "$name renders without warnings"
	err=$(cd "$MAN" && LC_ALL=C.UTF-8 MANWIDTH=120 MANROFFSEQ= man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
	is "$err" "" "$name: no warnings as lintian runs man (-Z, 120 columns)"
	err=$(groff -ww -man -z "$page" 2>&1)
	is "$err" "" "$name: no warnings from groff -ww -man -z"
	text=$(cat "$TEST_TMP/out")
	for section in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
		case "|$(required_sections "$name")|" in
		*"|$section|"*) like "$text" "^$section" "$name renders $section" ;;
		esac
	done

	# .TH TITLE SECTION DATE "callbridge VERSION" "MANUAL"
	th=$(grep -m1 '^\.TH ' "$page")
	title=$(printf '%s' "$base" | tr '[:lower:]' '[:upper:]' | sed 's/-/\\\\-/g')
	like "$th" "^\\.TH $title $sect [0-9]{4}\\\\-[0-9]{2}\\\\-[0-9]{2} \"callbridge $version\" \"[^\"]+\"\$" \
	    "$name: .TH has its name, section $sect, a date and the source \"callbridge $version\""
	date=$(printf '%s' "$th" | awk '{ print $4 }' | sed 's/\\-/-/g')
	date -d "$date" >/dev/null 2>&1
	ok $? "$name: the .TH date $date is a date"

	# The whatis entry, as mandb and lintian read it.
	if command -v lexgrog >/dev/null 2>&1; then
		out=$(LC_ALL=C.UTF-8 lexgrog "$page" 2>&1)
		ok $? "$name: lexgrog reads its whatis entry"
		like "$out" ": \"$base - [^\"]+\"\$" "  ... \"$base - description\""
	fi

	# Hyphens: an option (-t, --create) and anything in an example must
	# use \- (a plain "-" is a hyphen, U+2010, which no shell takes for a
	# minus).  The acute accent \' is not a quote (lintian).
	bad=$(awk '
		/^\.\\"/ { next }
		/^\.EX/ { ex = 1; next }
		/^\.EE/ { ex = 0; next }
		{
			line = $0
			gsub(/\\\\/, "", line)
			gsub(/\\-/, "", line)
			if (ex && line ~ /-/) { print NR ": " $0; next }
			if (line ~ /(^|[ \t(\[|="])--?[A-Za-z0-9]/) print NR ": " $0
		}' "$page")
	is "$bad" "" "$name: options and examples use \\- for their hyphens"
	bad=$(grep -n "\\\\'" "$page")
	is "$bad" "" "$name: no \\' (acute accent) where a quote is meant"

	# Sections.
	have=$(sh_lines "$page")
	IFS='|' read -r -a want <<<"$(required_sections "$name")"
	for section in "${want[@]}"; do
		printf '%s\n' "$have" | grep -qxF -- "$section"
		ok $? "$name has .SH $section"
	done

	# Installed: make install and the packages see only dist_man_MANS.
	grep -q "^[[:space:]]*man/$name\\( \\\\\\)\\?\$" "$top_srcdir/Makefile.am"
	ok $? "$name is in dist_man_MANS"

	# References to callbridge pages point at pages that exist (or at
	# callbridge-dbsetup(8), which comes with the program).
	for ref in $(grep -o 'callbridge[a-z\\.-]* *(\?[1-8])' "$page" |
	    sed -e 's/\\-/-/g' -e 's/[ (]//g' -e 's/)$//' |
	    sed 's/^\(.*\)\([1-8]\)$/\1.\2/' | sort -u); do
		case "$ref" in
		callbridge-dbsetup.8) continue ;;
		esac
		[ -f "$MAN/$ref" ]
		ok $? "$name: the page it refers to, $ref, exists"
	done
done

# ---- callbridge.conf(5) and conf_keys[]
# The table as "section key type min max default" lines, the default
# "(none)" when the table has NULL (no default).
keys_table() {
	awk '
		/^static const struct conf_key conf_keys\[\]/ { on = 1; next }
		on && /^};/ { exit }
		on && /^\t\{ "/ { e = $0; if (e !~ /\},?[ \t]*$/) { partial = 1; next } }
		on && partial { e = e " " $0; if (e !~ /\},?[ \t]*$/) next; partial = 0 }
		on && e != "" {
			# { "sec", "key", T_X, O(f), min, max, "def" "ault" | NULL, ...
			s = e
			sub(/^[ \t]*\{ *"/, "", s); sec = s; sub(/".*/, "", sec)
			sub(/^[^"]*", *"/, "", s); key = s; sub(/".*/, "", key)
			sub(/^[^"]*", */, "", s)
			n = split(s, f, /, */)
			type = f[1]; min = f[3]; max = f[4]
			rest = s; for (i = 1; i <= 4; i++) sub(/^[^,]*, */, "", rest)
			if (rest ~ /^NULL/) def = "(none)"
			else {
				def = ""
				while (match(rest, /^[ \t]*"[^"]*"/)) {
					chunk = substr(rest, RSTART, RLENGTH)
					sub(/^[ \t]*"/, "", chunk); sub(/"$/, "", chunk)
					def = def chunk
					rest = substr(rest, RSTART + RLENGTH)
				}
			}
			printf "%s %s %s %s %s %s\n", sec, key, type, min, max, def
			e = ""
		}' "$CONF_C"
}

# What the page says of each key: "section<TAB>key<TAB>type<TAB>default",
# unescaped; the type as written ("integer 1-65535"), the default
# "(none)" for "no default" and empty for "default empty".
keys_documented() {
	awk '
		/^\.SS \[/ { sec = $2; gsub(/[\[\]]/, "", sec); next }
		/^\.S[HS]/ { sec = ""; next }
		sec != "" && /^\.BI "[a-z_]+ = " / {
			key = $2; gsub(/"/, "", key)
			s = $0; sub(/^\.BI "[a-z_]+ = " /, "", s)
			gsub(/\\-/, "-", s); gsub(/\\\(en/, "-", s); gsub(/\\\(dq/, "\"", s)
			type = s; sub(/^"/, "", type); sub(/,.*/, "", type)
			if (s ~ /no default"$/) def = "(none)"
			else if (s ~ /default empty"$/) def = ""
			else { def = s; sub(/^.*default " */, "", def); gsub(/"/, "", def) }
			printf "%s\t%s\t%s\t%s\n", sec, key, type, def
		}' "$MAN/callbridge.conf.5"
}

keys_table >"$TEST_TMP/keys"
keys_documented >"$TEST_TMP/documented"
nkeys=$(wc -l <"$TEST_TMP/keys")
ok "$([ "$nkeys" -ge 40 ]; echo $?)" "conf_keys[] read from shared/conf.c ($nkeys keys)"
while read -r sec key type min max def; do
	doc=$(awk -F '\t' -v s="$sec" -v k="$key" '$1 == s && $2 == k { print $3 "\t" $4; exit }' "$TEST_TMP/documented")
	if [ -z "$doc" ]; then
		ok 1 "callbridge.conf(5) documents [$sec] $key under .SS [$sec]"
		continue
	fi
	is "${doc#*$'\t'}" "$def" "callbridge.conf(5): [$sec] $key defaults to ${def:-(empty)}"
	if [ "$type" = T_INT ]; then
		is "${doc%%$'\t'*}" "integer $min-$max" "  ... an integer from $min to $max"
	fi
done <"$TEST_TMP/keys"
# The old check, kept: the key's name appears where a key is named.
for k in $(awk '{ print $2 }' "$TEST_TMP/keys"); do
	grep -q "^\.\(B\|TP\|IP\).*$k\|^$k\|\\\\fB$k" "$MAN/callbridge.conf.5"
	ok $? "callbridge.conf(5) documents $k"
done

# The complete example of callbridge.conf(5) has every key, and both
# programs accept it.
awk '/^A complete configuration/ { want = 1 } want && /^\.EX/ { on = 1; next }
	on && /^\.EE/ { exit } on' "$MAN/callbridge.conf.5" |
    sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e "s/\\\\(aq/'/g" -e 's/\\(dq/"/g' >"$TEST_TMP/complete.conf"
chmod 0640 "$TEST_TMP/complete.conf"
awk '/^\[/ { sec = $0; gsub(/[\[\] \t]/, "", sec); next }
	/^[a-z_]+ *=/ { k = $0; sub(/ *=.*/, "", k); print sec, k }' "$TEST_TMP/complete.conf" |
    LC_ALL=C sort >"$TEST_TMP/example-keys"
missing=$(awk '{ print $1, $2 }' "$TEST_TMP/keys" | LC_ALL=C sort |
    LC_ALL=C comm -23 - "$TEST_TMP/example-keys" | tr '\n' ' ')
is "$missing" "" "the complete example of callbridge.conf(5) has every key"
for prog in callbridge-webhook callbridge-relay; do
	out=$(env -u CALLBRIDGE_DB_PASSWORD -u CALLBRIDGE_TWILIO_AUTH_TOKEN \
	    -u CALLBRIDGE_OPENAI_API_KEY -u CALLBRIDGE_TOOLS_SECRET \
	    "$top_builddir/$prog" -t -c "$TEST_TMP/complete.conf" 2>&1)
	is "$?:$out" "0:$TEST_TMP/complete.conf: configuration OK" "$prog -t accepts the complete example"
done

# ---- options and environment of the programs
# Every option of a program is in its page.
for o in c d h l n t V; do
	grep -q -- "\\\\-$o" "$MAN/callbridge-webhook.8"
	ok $? "callbridge-webhook(8) documents -$o"
done
for o in c d h t V; do
	grep -q -- "^\.BI\? \\\\-$o" "$MAN/callbridge-relay.8"
	ok $? "callbridge-relay(8) documents -$o"
done
# Every variable the code reads (getenv, and the secrets of conf_keys[])
# is in the ENVIRONMENT section of both program pages; the configuration's
# own variables also in callbridge.conf(5).
vars=$( (grep -ho 'getenv("[A-Z_]*")' "$top_srcdir"/shared/*.c "$top_srcdir"/fcgi-webhook/*.c \
    "$top_srcdir"/media-relay/*.c | sed 's/getenv("\(.*\)")/\1/'
    grep -o '"CALLBRIDGE_[A-Z_]*" }' "$CONF_C" | tr -d '"} ') | sort -u)
ok "$([ -n "$vars" ]; echo $?)" "environment variables read from the code: $(echo $vars)"
for v in $vars; do
	for page in callbridge-webhook.8 callbridge-relay.8 callbridge.conf.5; do
		case "$page:$v" in
		callbridge.conf.5:CALLBRIDGE_*) ;;
		callbridge.conf.5:*) continue ;;
		esac
		section_text "$MAN/$page" ENVIRONMENT | grep -q "^\.B.* $v\b"
		ok $? "$page documents $v under ENVIRONMENT"
	done
done
# Both daemons document the signals they handle.
for s in SIGTERM SIGINT SIGHUP; do
	for page in callbridge-webhook.8 callbridge-relay.8; do
		section_text "$MAN/$page" SIGNALS | grep -q "$s"
		ok $? "$page documents $s under SIGNALS"
	done
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
