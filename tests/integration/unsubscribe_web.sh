#!/bin/bash
# unsubscribe_web.sh - recipients unsubscribe over herald-web: a mailbox
# provider's one-click POST (RFC 8058, form and multipart), the link of
# the mail itself (unsubscribe_url?t=TOKEN from herald preview), and a
# person in a real headless Chromium who opens the page and clicks its
# button. Each records, once, the recipient's status and a suppression
# entry (channel, mailing, remote address). A GET, a forged, garbled or
# unknown token, a wrong method, a bad or oversized body change nothing;
# slow clients are cut off after web_timeout and connections beyond
# web_connection_limit wait until a slot frees. The mailing was staged
# before anyone unsubscribed: heraldd then sends it to the others only.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALD_WEB_BIN:?HERALD_WEB_BIN is not set: run the tests with make check}"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
t_start_sink "$T_DIR/sink"
PORT=$(t_free_port)
cat >>"$T_CONFIG" <<CONF
relay_host = 127.0.0.1
relay_port = $T_SINK_PORT
worker_count = 1
pid_file = $T_DIR/heraldd.pid
message_domain = news.example.org
web_listen = 127.0.0.1:$PORT
web_timeout = 2
web_connection_limit = 4
token_key k1 = a-test-secret-of-at-least-32-characters-long
CONF
chmod 600 "$T_CONFIG"
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t"
echo "Hello {{first_name}}" >"$T_DIR/t/text.mustache"
printf 'email,first_name\n' >"$T_DIR/r.csv"
for i in 1 2 3 4 5 6 7; do printf 'u%d@example.net,N%d\n' $i $i >>"$T_DIR/r.csv"; done
printf "o'brien&co@example.net,Pat\n" >>"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null || { t_fail "import" "failed"; t_done; }
"$HERALD_BIN" mailing create --name web --template "$T_DIR/t" --segment all \
	--from "News <news@example.org>" --subject s >/dev/null || { t_fail "mailing create" "failed"; t_done; }
"$HERALD_BIN" stage >/dev/null || { t_fail "stage" "failed"; t_done; }
[ "$(t_sql "SELECT COUNT(*) FROM stage_1")" = 8 ] || { t_fail "all 8 staged" "$(t_sql "SELECT COUNT(*) FROM stage_1")"; t_done; }
id_of() { t_sql "SELECT id FROM recipients WHERE email = '${1//\'/\'\'}'"; }
token() { "$HERALD_BIN" token make "$1" "$(id_of "$2")"; }
status_of() { t_sql "SELECT status FROM recipients WHERE email = '$1'"; }
suppressions() { t_sql "SELECT COUNT(*) FROM suppressions"; }
entry_of() { t_sql "SELECT source, reason, channel, mailing_id, remote_address FROM suppressions WHERE email = '$1'" | tr '\t' ' '; }
URL="http://127.0.0.1:$PORT"

# --- start-up ------------------------------------------------------------------
t_expect_fail "a bad web_listen is refused, naming the key" 1 'web_listen "nonsense:x"' \
	env HERALD_CONFIG=<(sed "s/^web_listen = .*/web_listen = nonsense:x/" "$T_CONFIG") "$HERALD_WEB_BIN" -f
"$HERALD_WEB_BIN" --help >"$T_DIR/help" 2>&1 && grep -q "usage: herald-web" "$T_DIR/help" &&
	t_ok "--help prints the usage" || t_fail "--help" "$(cat "$T_DIR/help")"
"$HERALD_WEB_BIN" -f >"$T_DIR/web.log" 2>&1 &
WEB_PID=$!
t_at_exit "kill $WEB_PID 2>/dev/null"
for _ in $(seq 1 200); do
	grep -q "listening on 127.0.0.1:$PORT" "$T_DIR/web.log" && break
	kill -0 $WEB_PID 2>/dev/null || break
	sleep 0.1
done
grep -q "listening on 127.0.0.1:$PORT" "$T_DIR/web.log" && t_ok "herald-web listens on web_listen" ||
	{ t_fail "herald-web starts" "$(cat "$T_DIR/web.log")"; t_done; }
sed -n '/listening on/q;p' "$T_DIR/web.log" | grep -q . && t_fail "a clean start" "$(cat "$T_DIR/web.log")" ||
	t_ok "it starts without a warning"

# request METHOD PATH [CURL ARGS...]: the status code on stdout, the body
# in $T_DIR/body, the headers in $T_DIR/headers.
request() {
	local method=$1 path=$2
	shift 2
	curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -X "$method" "$@" "$URL$path"
}
T1=$(token 1 u1@example.net)

# --- GET: a page, and nothing changes -------------------------------------------
code=$(request GET "/u/$T1")
[ "$code" = 200 ] && grep -q '<form method="post">' "$T_DIR/body" &&
	grep -q 'u1@example.net' "$T_DIR/body" && ! grep -qi '<script' "$T_DIR/body" &&
	t_ok "GET shows the page: the address and a form that POSTs back to it, no script" ||
	t_fail "GET page" "$code $(cat "$T_DIR/body")"
grep -qi '^Content-Type: text/html' "$T_DIR/headers" && grep -qi '^Cache-Control: no-store' "$T_DIR/headers" &&
	grep -qi '^Referrer-Policy: no-referrer' "$T_DIR/headers" && t_ok "the page is HTML, not cached, sends no Referer" ||
	t_fail "page headers" "$(cat "$T_DIR/headers")"
[ "$(request HEAD "/u/$T1" -I)" = 200 ] && t_ok "HEAD answers 200" || t_fail "HEAD" "$(cat "$T_DIR/headers")"
[ "$(status_of u1@example.net)" = active ] && [ "$(suppressions)" = 0 ] &&
	t_ok "GET and HEAD change nothing (a mail scanner unsubscribes nobody)" ||
	t_fail "GET changes nothing" "$(status_of u1@example.net), $(suppressions) suppressions"

# --- one-click POST, then again ------------------------------------------------------
code=$(request POST "/u/$T1" -d List-Unsubscribe=One-Click)
[ "$code" = 200 ] && [ "$(cat "$T_DIR/body")" = unsubscribed ] && grep -qi '^Content-Type: text/plain' "$T_DIR/headers" &&
	t_ok "one-click POST answers 200 in plain text" || t_fail "one-click POST" "$code $(cat "$T_DIR/body")"
[ "$(status_of u1@example.net)" = unsubscribed ] && t_ok "the recipient is unsubscribed" ||
	t_fail "recipient status" "$(status_of u1@example.net)"
[ "$(entry_of u1@example.net)" = "unsubscribe unsubscribed one-click 1 127.0.0.1" ] &&
	t_ok "a suppression entry with source, reason, channel, mailing and remote address" ||
	t_fail "suppression entry" "$(entry_of u1@example.net)"
first=$(t_sql "SELECT created_at FROM suppressions WHERE email = 'u1@example.net'")
[ -n "$first" ] && t_ok "and its time" || t_fail "suppression time" "empty"
grep -q "unsubscribed recipient $(id_of u1@example.net) (mailing 1, one-click, from 127.0.0.1)" "$T_DIR/web.log" &&
	t_ok "the unsubscribe is logged" || t_fail "log line" "$(cat "$T_DIR/web.log")"
code=$(request POST "/u/$T1" -d List-Unsubscribe=One-Click -H 'X-Real-IP: 203.0.113.9')
[ "$code" = 200 ] && [ "$(cat "$T_DIR/body")" = unsubscribed ] && [ "$(suppressions)" = 1 ] &&
	[ "$(t_sql "SELECT created_at FROM suppressions WHERE email = 'u1@example.net'")" = "$first" ] &&
	[ "$(entry_of u1@example.net)" = "unsubscribe unsubscribed one-click 1 127.0.0.1" ] &&
	t_ok "a repeated POST answers the same and changes nothing (idempotent)" ||
	t_fail "repeated POST" "$code, $(suppressions) entries, $(entry_of u1@example.net)"
T2=$(token 1 u2@example.net)
code=$(request POST "/u/$T2" -F List-Unsubscribe=One-Click -H 'X-Real-IP: 203.0.113.9')
[ "$code" = 200 ] && [ "$(entry_of u2@example.net)" = "unsubscribe unsubscribed one-click 1 203.0.113.9" ] &&
	t_ok "multipart/form-data (RFC 8058's SHOULD) works; nginx's X-Real-IP is the remote address" ||
	t_fail "multipart POST" "$code $(cat "$T_DIR/body") $(entry_of u2@example.net)"

# --- the link herald puts in the mail -------------------------------------------------
"$HERALD_BIN" preview 1 --recipient u3@example.net >"$T_DIR/preview" 2>&1
link=$(sed -n 's/^List-Unsubscribe: .*<\(https:[^>]*\)>.*/\1/p' "$T_DIR/preview" | head -1)
path=${link#https://news.example.org}
case $path in
/unsubscribe\?t=*) t_ok "the mail's List-Unsubscribe link is $path" ;;
*) t_fail "List-Unsubscribe link" "$(grep -i '^List-Unsubscribe' "$T_DIR/preview")" ;;
esac
grep -q '^List-Unsubscribe-Post: List-Unsubscribe=One-Click' "$T_DIR/preview" &&
	t_ok "with List-Unsubscribe-Post" || t_fail "List-Unsubscribe-Post" "$(head -30 "$T_DIR/preview")"
code=$(request POST "$path" -d List-Unsubscribe=One-Click)
[ "$code" = 200 ] && [ "$(status_of u3@example.net)" = unsubscribed ] &&
	t_ok "a provider's one-click POST to that very link unsubscribes u3" ||
	t_fail "POST to the mail's link" "$code $(cat "$T_DIR/body") $(status_of u3@example.net)"

# --- refused requests change nothing ------------------------------------------------
T4=$(token 1 u4@example.net)
before=$(suppressions)
request POST /nothing-here -d List-Unsubscribe=One-Click >/dev/null
cp "$T_DIR/body" "$T_DIR/404"
forged="${T4%?}$([ "${T4: -1}" = A ] && echo B || echo A)"
other=$("$HERALD_BIN" token make 1 "$(id_of u4@example.net)" | sed 's/\.1\./.2./')
unknown=$("$HERALD_BIN" token make 99 "$(id_of u4@example.net)")
# Signed with a key since retired (no longer a token_key line).
sed 's/^token_key k1 = .*/token_key k0 = an-old-secret-of-at-least-32-characters-long/' "$T_CONFIG" >"$T_DIR/old.conf"
chmod 600 "$T_DIR/old.conf"
retired=$(HERALD_CONFIG="$T_DIR/old.conf" "$HERALD_BIN" token make 1 "$(id_of u4@example.net)")
# A token of another purpose (view online) unsubscribes no one.
view=$("$HERALD_BIN" token make --purpose view-online 1 "$(id_of u4@example.net)")
for bad in "$forged" "$other" "garbled" "k1.1.2" "../../etc/passwd" "$unknown" "$retired" "$view"; do
	code=$(request POST "/u/$bad" -d List-Unsubscribe=One-Click)
	[ "$code" = 404 ] && cmp -s "$T_DIR/body" "$T_DIR/404" && t_ok "POST with token \"$bad\": the same 404" ||
		t_fail "bad token $bad" "$code $(cat "$T_DIR/body")"
done
[ "$(request GET "/u/$forged")" = 404 ] && cmp -s "$T_DIR/body" "$T_DIR/404" && t_ok "GET with a forged token: the same 404" ||
	t_fail "GET forged" "$(cat "$T_DIR/body")"
[ "$(request POST "/unsubscribe?t=$forged" -d List-Unsubscribe=One-Click)" = 404 ] && t_ok "?t=FORGED: 404" ||
	t_fail "?t= forged" "$(cat "$T_DIR/body")"
for method in PUT DELETE PATCH; do
	code=$(request $method "/u/$T4" -d List-Unsubscribe=One-Click)
	[ "$code" = 405 ] && grep -qi '^Allow: GET, HEAD, POST' "$T_DIR/headers" && t_ok "$method: 405 with Allow" ||
		t_fail "$method" "$code $(cat "$T_DIR/headers")"
done
code=$(request POST "/u/$T4" -d something=else)
[ "$code" = 400 ] && grep -q 'List-Unsubscribe=One-Click' "$T_DIR/body" && t_ok "a POST without List-Unsubscribe=One-Click: 400" ||
	t_fail "POST bad body" "$code $(cat "$T_DIR/body")"
[ "$(request POST "/u/$T4" -d List-Unsubscribe=One-Click-Not)" = 400 ] && t_ok "a wrong value: 400" ||
	t_fail "wrong value" "$(cat "$T_DIR/body")"
head -c 100000 /dev/zero | tr '\0' a | sed 's/^/List-Unsubscribe=One-Click\&x=/' >"$T_DIR/big"
code=$(request POST "/u/$T4" --data-binary @"$T_DIR/big")
[ "$code" = 413 ] && t_ok "a 100 kB body: 413" || t_fail "oversized body" "$code"
code=$(request POST "/u/$T4" -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @"$T_DIR/big")
[ "$code" = 000 ] && t_ok "a 100 kB chunked body (no Content-Length): the connection is closed when it passes the limit" ||
	t_fail "oversized chunked body" "$code"
code=$(request GET "/u/$T4" -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' b)")
case $code in 4??) t_ok "a 20 kB header: refused ($code)" ;; *) t_fail "oversized header" "$code" ;; esac
[ "$(status_of u4@example.net)" = active ] && [ "$(suppressions)" = "$before" ] &&
	t_ok "refused requests change nothing" || t_fail "refused requests" "$(status_of u4@example.net), $(suppressions) vs $before"

# --- the database fails: 503, nothing changes, and it recovers ---------------------
t_sql "RENAME TABLE recipients TO recipients_away"
code=$(request POST "/u/$T4" -d List-Unsubscribe=One-Click)
t_sql "RENAME TABLE recipients_away TO recipients"
[ "$code" = 503 ] && grep -qi '^Retry-After: 60' "$T_DIR/headers" && ! grep -qi recipients "$T_DIR/body" &&
	t_ok "a database failure answers 503 with Retry-After, naming nothing inside" || t_fail "database failure" "$code $(cat "$T_DIR/body")"
grep -q "error: mailing 1, recipient $(id_of u4@example.net): .*recipients" "$T_DIR/web.log" &&
	t_ok "and logs the error with the mailing and recipient" || t_fail "database failure logged" "$(tail -3 "$T_DIR/web.log")"
[ "$(status_of u4@example.net)" = active ] && [ "$(suppressions)" = "$before" ] && [ "$(request GET "/u/$T4")" = 200 ] &&
	t_ok "nothing changed, and the next request is served again" || t_fail "after the failure" "$(status_of u4@example.net)"

# --- slow clients and the connection limit -------------------------------------------
"${PYTHON3:-python3}" - "$PORT" >"$T_DIR/slow" 2>&1 <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def half_request():
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.sendall(b"POST /u/x HTTP/1.1\r\nHost: a\r\nContent-Le")
    return s
def closed_within(s, seconds):
    s.settimeout(seconds)
    try:
        while s.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True
start = time.time()
slow = half_request()
print("slow client cut off:", closed_within(slow, 10), "after %.0f s" % (time.time() - start))
held = [half_request() for _ in range(4)]
time.sleep(0.3)
extra = socket.create_connection(("127.0.0.1", port), 5)
extra.sendall(b"GET /u/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
extra.settimeout(1)
try:
    waited = extra.recv(4096) == b""
except socket.timeout:
    waited = True
print("fifth connection waits while four are held:", waited)
print("held ones cut off:", all(closed_within(s, 10) for s in held))
extra.settimeout(10)
print("then the fifth is served:", extra.recv(4096).split(b"\r\n")[0].decode())
PY
grep -Eq "slow client cut off: True after [2-4] s" "$T_DIR/slow" && t_ok "a client that stalls mid-request is cut off after web_timeout (2 s)" ||
	t_fail "slow client" "$(cat "$T_DIR/slow")"
grep -q "fifth connection waits while four are held: True" "$T_DIR/slow" &&
	grep -q "then the fifth is served: HTTP/1.1 404" "$T_DIR/slow" &&
	t_ok "beyond web_connection_limit (4) a connection waits, and is served when a slot frees" ||
	t_fail "connection limit" "$(cat "$T_DIR/slow")"
grep -q "held ones cut off: True" "$T_DIR/slow" && [ "$(request GET "/u/$T4")" = 200 ] &&
	t_ok "the stalled ones are cut off too, and the service answers" || t_fail "after the limit" "$(cat "$T_DIR/slow")"

# --- a person in a real browser -------------------------------------------------------
T5=$(token 1 "o'brien&co@example.net")
request GET "/u/$T5" >/dev/null
grep -q "o&#39;brien&amp;co@example.net" "$T_DIR/body" && t_ok "the page escapes the address" ||
	t_fail "escaping" "$(cat "$T_DIR/body")"
CHROMIUM=$(command -v chromium || true)
T6=$(token 1 u6@example.net)
if [ -z "$CHROMIUM" ]; then
	t_fail "headless Chromium" "chromium is not installed (apt-get install chromium)"
else
	"${PYTHON3:-python3}" "$HERALD_SRCDIR/tests/lib/click.py" "$CHROMIUM" "$URL/u/$T6" \
		"$T_DIR/page.png" "$T_DIR/chromium" >"$T_DIR/click" 2>&1
	grep -q "u6@example.net is unsubscribed" "$T_DIR/click" &&
		t_ok "Chromium opens the page, clicks the button, sees the answer" || t_fail "Chromium click" "$(cat "$T_DIR/click")"
	[ "$(status_of u6@example.net)" = unsubscribed ] &&
		[ "$(entry_of u6@example.net)" = "unsubscribe unsubscribed page 1 127.0.0.1" ] &&
		t_ok "the database shows the page's unsubscribe" || t_fail "page unsubscribe recorded" "$(entry_of u6@example.net)"
	[ "$(head -c 8 "$T_DIR/page.png" | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ] &&
		t_ok "the page's screenshot is a PNG" || t_fail "screenshot" "$(ls -l "$T_DIR/page.png" 2>&1)"
	[ -n "${HERALD_SCREENSHOT:-}" ] && cp "$T_DIR/page.png" "$HERALD_SCREENSHOT"
	# The mail's own link: the form posts back to /unsubscribe?t=TOKEN.
	rm -rf "$T_DIR/chromium"
	"${PYTHON3:-python3}" "$HERALD_SRCDIR/tests/lib/click.py" "$CHROMIUM" "$URL/unsubscribe?t=$(token 1 u7@example.net)" \
		"$T_DIR/page7.png" "$T_DIR/chromium" >"$T_DIR/click" 2>&1
	grep -q "u7@example.net is unsubscribed" "$T_DIR/click" &&
		[ "$(entry_of u7@example.net)" = "unsubscribe unsubscribed page 1 127.0.0.1" ] &&
		t_ok "the same from the mail's link (/unsubscribe?t=TOKEN): its form posts back there" ||
		t_fail "Chromium click on ?t=" "$(cat "$T_DIR/click") $(entry_of u7@example.net)"
fi
request GET "/u/$T6" >/dev/null
grep -q "is unsubscribed" "$T_DIR/body" && ! grep -q "<form" "$T_DIR/body" &&
	t_ok "the page of an unsubscribed recipient says so, without a button" || t_fail "page after" "$(cat "$T_DIR/body")"
[ "$(t_sql "SELECT COUNT(*) FROM recipients WHERE status = 'unsubscribed'")" = 5 ] &&
	t_ok "five recipients unsubscribed in all, the others untouched" ||
	t_fail "unsubscribed count" "$(t_sql "SELECT email, status FROM recipients")"

# --- the mailing staged before: only the others get it -------------------------
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 600); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	sleep 0.1
done
kill -TERM $daemon; wait $daemon
got=$(grep -h '^X-Rcpt-Args: <' -r "$T_DIR/sink" | sed 's/^X-Rcpt-Args: <\([^>]*\)>.*/\1/' | sort | tr '\n' ' ')
[ "$got" = "o'brien&co@example.net u4@example.net u5@example.net " ] &&
	t_ok "heraldd sends the staged mailing to the three who did not unsubscribe, only" ||
	t_fail "sent after unsubscribes" "got: $got; $(tail -c 600 "$T_DIR/heraldd.log")"
[ "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'suppressed' AND relay_reply = 'suppressed (unsubscribe: unsubscribed)'")" = 5 ] &&
	t_ok "the five unsubscribed rows end suppressed, saying why" ||
	t_fail "suppressed rows" "$(t_sql "SELECT email, delivery_state, relay_reply FROM stage_1")"

# --- stop ---------------------------------------------------------------------------
kill -TERM $WEB_PID
wait $WEB_PID
rc=$?
[ $rc = 0 ] && grep -q "stopping on signal 15" "$T_DIR/web.log" && t_ok "TERM stops herald-web with status 0" ||
	t_fail "stop" "status $rc: $(tail -3 "$T_DIR/web.log")"
t_done
