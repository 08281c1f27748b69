#!/bin/bash
# The OpenAI connection over TLS: the relay verifies the server's
# certificate (chain and host name) against [openai] ca_file, and refuses
# a server it cannot verify.  A real nginx terminates TLS in front of the
# fake OpenAI server with a certificate from a private CA made here.
. "$top_srcdir/tests/lib/tap.sh"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || skip_all "nginx not installed (apt-get install nginx)"
test_init
. "$top_srcdir/tests/lib/mariadb.sh"
. "$top_srcdir/tests/lib/webhook.sh"
. "$top_srcdir/tests/lib/relay.sh"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
nginx_stop() { [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null; wait "${NGINX_PID:-}" 2>/dev/null; NGINX_PID=; }
CLEANUP="relay_stop nginx_stop fake_stop wh_stop db_stop"

# A private CA, a server certificate for "localhost" signed by it, and a
# second CA that signed nothing.
cd "$TEST_TMP"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=callbridge test CA" \
	-keyout ca.key -out ca.pem >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key \
	-out server.csr >/dev/null 2>&1
printf 'subjectAltName=DNS:localhost\n' >san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
	-extfile san.ext -out server.pem >/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=another CA" \
	-keyout other.key -out other.pem >/dev/null 2>&1
cd - >/dev/null
ok "$([ -s "$TEST_TMP/server.pem" ] && [ -s "$TEST_TMP/other.pem" ]; echo $?)" "test certificates made"

db_start
db_sql "INSERT INTO agents (name) VALUES ('support');
	INSERT INTO phone_numbers (number, agent_id) VALUES ('+18005550199', 1);"
fake_start
TLS_PORT=$(free_port)
mkdir -p "$TEST_TMP/nginx"
cat >"$TEST_TMP/nginx.conf" <<CONF
daemon off;
master_process off;
pid $TEST_TMP/nginx.pid;
error_log $TEST_TMP/nginx-error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $TEST_TMP/nginx;
	proxy_temp_path $TEST_TMP/nginx;
	fastcgi_temp_path $TEST_TMP/nginx;
	uwsgi_temp_path $TEST_TMP/nginx;
	scgi_temp_path $TEST_TMP/nginx;
	server {
		listen 127.0.0.1:$TLS_PORT ssl;
		ssl_certificate $TEST_TMP/server.pem;
		ssl_certificate_key $TEST_TMP/server.key;
		location / {
			proxy_pass http://127.0.0.1:$FAKE_PORT;
			proxy_http_version 1.1;
			proxy_set_header Upgrade \$http_upgrade;
			proxy_set_header Connection "upgrade";
			proxy_set_header Authorization \$http_authorization;
			proxy_read_timeout 60s;
		}
	}
}
CONF
"$NGINX" -c "$TEST_TMP/nginx.conf" -p "$TEST_TMP" >/dev/null 2>"$TEST_TMP/nginx.log" &
NGINX_PID=$!
for i in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$TLS_PORT) 2>/dev/null && break; sleep 0.1; done

relay_config "$TEST_TMP/callbridge.conf"
sed -i "s|^url = ws://127.0.0.1:.*|url = wss://localhost:$TLS_PORT/v1/realtime\nca_file = $TEST_TMP/ca.pem|" "$TEST_TMP/callbridge.conf"
wh_start
relay_start

read -r sid cs <<<"$(new_session)"
res=$(sim -D 2500 "$sid:$cs")
is "$(json_field "$res" closed_by)" client "wss with the right CA: the call goes through"
ok "$([ "$(json_field "$res" heard_bytes)" -gt 0 ]; echo $?)" "  ... and the caller hears the agent"
is "$(json_field "$res" heard_foreign_bytes)" 0 "  ... only its own agent"
like "$(head -1 "$FAKE_DIR/conn-1.jsonl")" "\"authorization\":\"Bearer $OPENAI_KEY\"" "  ... the key went through TLS"

# A server whose certificate does not chain to ca_file is refused.
relay_stop
sed -i "s|^ca_file = .*|ca_file = $TEST_TMP/other.pem|" "$TEST_TMP/callbridge.conf"
relay_start
before=$(wc -l <"$FAKE_DIR/connections.log")
read -r sid cs <<<"$(new_session)"
res=$(sim -D 6000 "$sid:$cs")
is "$(json_field "$res" close_code)" 1011 "a certificate from another CA: the call fails over to the fallback (1011)"
eventually 10 session_over "$sid"
like "$(db_sql "SELECT end_reason FROM call_sessions WHERE session_id = '$sid'")" '^OpenAI connection failed' "  ... with the reason stored"
is "$(wc -l <"$FAKE_DIR/connections.log")" "$before" "  ... and nothing reached the server behind TLS"

# The right chain but the wrong host name is refused too.
relay_stop
sed -i "s|^ca_file = .*|ca_file = $TEST_TMP/ca.pem|; s|^url = wss://localhost:|url = wss://127.0.0.1:|" "$TEST_TMP/callbridge.conf"
relay_start
read -r sid cs <<<"$(new_session)"
res=$(sim -D 6000 "$sid:$cs")
is "$(json_field "$res" close_code)" 1011 "a certificate for another host name: refused (1011)"
is "$(wc -l <"$FAKE_DIR/connections.log")" "$before" "  ... nothing reached the server"

relay_stop
is "$RELAY_STATUS" 0 "the relay exits 0 on SIGTERM"
wh_stop
no_sanitizer_reports
done_testing
