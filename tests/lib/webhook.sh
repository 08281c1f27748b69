# webhook.sh: run callbridge-webhook for a test and talk FastCGI to it (sourced).
#
# wh_config FILE [extra INI lines]  write a configuration for the private DB
# wh_start [args]                    start the webhook on a unix socket
# wh_stop                            SIGTERM and wait
# twilio_sign URL [name=value ...]   print X-Twilio-Signature, computed with
#                                    openssl(1), independently of our code
# fcgi METHOD URI [BODY [CTYPE [SIG]]]  one request through cgi-fcgi; prints
#                                    the raw response (headers, blank line, body)
# twilio_post URI name=value ...     a correctly signed form POST
# http_twilio_post URI name=value ... the same over HTTP to $WH_PUBLIC (through
#                                    a web server) with curl; prints the
#                                    response with its status line and headers
# resp_status/resp_body/resp_header  pick a response apart

: "${top_builddir:?}"
WEBHOOK=${WEBHOOK:-$top_builddir/callbridge-webhook}
WH_PUBLIC=https://voice.example.com
WH_RELAY=wss://relay.example.com
WH_TOKEN=test-auth-token-0123456789abcdef

command -v "${CGI_FCGI:-cgi-fcgi}" >/dev/null 2>&1 ||
	skip_all "cgi-fcgi not installed (apt-get install libfcgi-bin)"
CGI_FCGI=${CGI_FCGI:-cgi-fcgi}

wh_config() {
	local file=$1; shift
	cat >"$file" <<CONF
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
auth_token = $WH_TOKEN
validate_signatures = yes

[webhook]
public_url = $WH_PUBLIC
threads = 4

[relay]
public_url = $WH_RELAY
session_ttl = 60
CONF
	local line
	for line in "$@"; do
		printf '%s\n' "$line" >>"$file"
	done
	chmod 600 "$file"
}

wh_start() {
	WH_SOCK=$TEST_TMP/webhook.sock
	WH_LOG=$TEST_TMP/webhook.log
	rm -f "$WH_SOCK"
	local before=0 i
	[ -f "$WH_LOG" ] && before=$(wc -l <"$WH_LOG")
	"$WEBHOOK" -c "$TEST_TMP/callbridge.conf" -l "unix:$WH_SOCK" "$@" \
		>>"$WH_LOG" 2>&1 &
	WH_PID=$!
	# Ready means this instance logged "ready" (after its start-up checks).
	for i in $(seq 1 200); do
		if [ -S "$WH_SOCK" ] && tail -n +$((before + 1)) "$WH_LOG" | grep -q ' ready: '; then
			return 0
		fi
		kill -0 "$WH_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "Bail out! callbridge-webhook did not start"
	cat "$WH_LOG" >&2
	exit 1
}

wh_stop() {
	[ -n "${WH_PID:-}" ] || return 0
	kill -TERM "$WH_PID" 2>/dev/null
	wait "$WH_PID" 2>/dev/null
	WH_STATUS=$?
	WH_PID=
}

# wh_connected [N]: at least N (default 1) FastCGI connections to the
# webhook's socket are established (ss(8) lists the webhook's end of each
# under the socket's path).  The webhook accepts at once when it has an
# idle worker: this is how a test knows its request reached it.
wh_connected() {
	[ "$(ss -Hx state established 2>/dev/null |
		awk -v p="$WH_SOCK" '$4 == p { n++ } END { print n + 0 }')" -ge "${1:-1}" ]
}

urlencode() {
	local LC_ALL=C s=$1 i c out=
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out+=$c ;;
		' ') out+=+ ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

twilio_sign() {
	local url=$1; shift
	local data=$url kv
	if [ $# -gt 0 ]; then
		data+=$(for kv in "$@"; do
			printf '%s\001%s\n' "${kv%%=*}" "${kv#*=}"
		done | LC_ALL=C sort -u | tr -d '\001\n')
	fi
	printf '%s' "$data" | openssl dgst -sha1 -hmac "${TOKEN:-$WH_TOKEN}" -binary |
		openssl base64 -A
}

form_body() {
	local kv out= sep=
	for kv in "$@"; do
		out+="$sep$(urlencode "${kv%%=*}")=$(urlencode "${kv#*=}")"
		sep='&'
	done
	printf '%s' "$out"
}

fcgi() {
	local method=$1 uri=$2 body=${3-} ctype=${4-application/x-www-form-urlencoded} sig=${5-}
	local path=${uri%%\?*} query=
	[ "$path" != "$uri" ] && query=${uri#*\?}
	printf '%s' "$body" | env -i PATH="$PATH" REQUEST_METHOD="$method" \
		REQUEST_URI="$uri" SCRIPT_NAME="$path" QUERY_STRING="$query" \
		SERVER_PROTOCOL=HTTP/1.1 GATEWAY_INTERFACE=CGI/1.1 \
		CONTENT_TYPE="$ctype" CONTENT_LENGTH="${#body}" \
		${sig:+HTTP_X_TWILIO_SIGNATURE="$sig"} \
		"$CGI_FCGI" -bind -connect "$WH_SOCK" 2>&1 | tr -d '\r'
}

twilio_post() {
	local uri=$1; shift
	fcgi POST "$uri" "$(form_body "$@")" application/x-www-form-urlencoded \
		"$(twilio_sign "$WH_PUBLIC$uri" "$@")"
}

http_twilio_post() {
	local uri=$1; shift
	curl -s -i -X POST "$WH_PUBLIC$uri" \
		-H "X-Twilio-Signature: $(twilio_sign "$WH_PUBLIC$uri" "$@")" \
		-H 'Content-Type: application/x-www-form-urlencoded' \
		--data-binary "$(form_body "$@")" | tr -d '\r'
}

resp_status() { printf '%s\n' "$1" | sed -n '1s/^Status: \([0-9]*\).*/\1/p'; }
resp_body() { printf '%s\n' "$1" | sed '1,/^$/d'; }
resp_header() { printf '%s\n' "$1" | sed '/^$/q' | sed -n "s/^$2: //Ip"; }

# A fresh CallSid: CA and 32 hex digits.
new_call_sid() { printf 'CA%s' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"; }
ACCOUNT_SID=AC0123456789abcdef0123456789abcdef
