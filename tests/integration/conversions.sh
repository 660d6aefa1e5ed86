#!/bin/bash
# conversions.sh - conversions imported from a file and a URL
# (file://, through libcurl), attributed to the mailing of the
# recipient's last click (made through the real herald-web) within
# attribution_window, else to its last delivery within it, else to
# none; each bad row refused with FILE:LINE and the field; a conversion
# imported twice counts once. Then a site posts conversions to the real
# herald-web's POST /v, signed with conversion_secret: recorded once,
# and an unsigned, wrongly signed or malformed body changes nothing.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALD_WEB_BIN:?HERALD_WEB_BIN is not set: run the tests with make check}"
command -v curl >/dev/null || t_skip "curl not installed"
t_use_database
PORT=$(t_free_port)
cat >>"$T_CONFIG" <<CONF
message_domain = news.example.org
track_domain = click.example.org
web_listen = 127.0.0.1:$PORT
conversion_secret = a-shared-conversion-secret-of-32-characters
token_key k1 = a-test-secret-of-at-least-32-characters-long
CONF
chmod 600 "$T_CONFIG"
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t"
echo '<a href="https://example.org/give">Give</a>' >"$T_DIR/t/html.mustache"
printf 'email\nu1@example.net\nu2@example.net\nu3@example.net\nu4@example.net\n' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null &&
	"$HERALD_BIN" mailing create --name m --template "$T_DIR/t" --segment all \
	--from "News <news@example.org>" --subject s >/dev/null &&
	"$HERALD_BIN" stage >/dev/null || { t_fail "set-up" "failed"; t_done; }
id_of() { t_sql "SELECT id FROM recipients WHERE email = '$1'"; }
# Delivered a day ago to u1, u2, u3; u4 never.
t_sql "UPDATE stage_1 SET delivery_state = 'sent', delivered_at = UTC_TIMESTAMP() - INTERVAL 1 DAY WHERE email <> 'u4@example.net'"
"$HERALD_BIN" preview 1 --recipient u1@example.net --html >"$T_DIR/html" 2>&1
path=$(sed -n 's/.*href="https:\/\/click.example.org\([^"]*\)".*/\1/p' "$T_DIR/html")
"$HERALD_WEB_BIN" -f >"$T_DIR/web.log" 2>&1 &
web=$!
t_at_exit "kill $web 2>/dev/null"
for _ in $(seq 1 200); do grep -q "listening on" "$T_DIR/web.log" && break; sleep 0.1; done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$path")
kill -TERM $web; wait $web
[ "$code" = 302 ] && [ "$(t_sql "SELECT SUM(clicks) FROM clicks")" = 1 ] && t_ok "u1 clicked through herald-web" ||
	{ t_fail "the click" "$code $(cat "$T_DIR/web.log")"; t_done; }
token=${path#/c/}
now=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
# A minute on: the click (to the millisecond) comes before the donation.
soon=$(date -u -d '1 minute' '+%Y-%m-%d %H:%M:%S UTC')
month_ago=$(date -u -d '30 days ago' '+%Y-%m-%d %H:%M:%S UTC')
cat >"$T_DIR/conv.csv" <<CSV
id,amount,currency,time,token,email,mailing
c1,50.00,EUR,$soon,$token,,
c2,25,EUR,$now,,u2@example.net,1
c3,10,EUR,$month_ago,,u3@example.net,1
c4,5.5,EUR,$now,,u4@example.net,1
c5,ten,EUR,$now,,u2@example.net,1
c6,5,euro,$now,,u2@example.net,1
c7,5,EUR,$now,$token,u2@example.net,1
c8,5,EUR,$now,${token%?}A,,
c9,5,EUR,$now,,nobody@example.net,1
c10,5,EUR,$now,,u2@example.net,99
c11,5,EUR,2026-02-30 10:00,,u2@example.net,1
c 12,5,EUR,$now,,u2@example.net,1
CSV
"$HERALD_BIN" conversion import "$T_DIR/conv.csv" >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
[ $rc = 1 ] && grep -q "^4 conversions recorded, 0 already recorded, 8 rows refused$" "$T_DIR/out" &&
	t_ok "4 rows recorded, 8 refused, exit status 1" || t_fail "import" "status $rc: $(cat "$T_DIR/out" "$T_DIR/err")"
want() { grep -qF "conv.csv:$1: $2" "$T_DIR/err" || { t_fail "row $1 refused" "$(cat "$T_DIR/err")"; return 1; }; }
want 6 'amount "ten": expected an amount' && want 7 'currency "euro": expected an ISO 4217 code' &&
	want 8 'give either token (a click token) or email and mailing, not both' && want 9 'token: bad signature' &&
	want 10 'email "nobody@example.net": no such recipient' && want 11 'mailing 99 does not exist' &&
	want 12 'time "2026-02-30 10:00":' && want 13 'id "c 12": expected' &&
	t_ok "each bad row is refused with FILE:LINE, the field and what is wrong"
[ "$(t_sql "SELECT COUNT(*) FROM conversions WHERE conversion_id NOT IN ('c1','c2','c3','c4')")" = 0 ] &&
	t_ok "refused rows change nothing" || t_fail "refused rows" "$(t_sql "SELECT conversion_id FROM conversions")"
row() { t_sql "SELECT recipient_id, IFNULL(mailing_id, '-'), IFNULL(link_id, '-'), attribution, amount, source FROM conversions WHERE conversion_id = '$1'" | tr '\t' ' '; }
link=$(t_sql "SELECT id FROM links")
[ "$(row c1)" = "$(id_of u1@example.net) 1 $link click 50.00 import" ] &&
	t_ok "c1 (a click token; u1 clicked a moment ago): attributed to the click" || t_fail "c1" "$(row c1)"
[ "$(row c2)" = "$(id_of u2@example.net) 1 - delivery 25.00 import" ] &&
	t_ok "c2 (u2, no click, delivered a day before): attributed to the delivery" || t_fail "c2" "$(row c2)"
[ "$(row c3)" = "$(id_of u3@example.net) - - none 10.00 import" ] &&
	t_ok "c3 (a month ago, before the delivery): attributed to none" || t_fail "c3" "$(row c3)"
[ "$(row c4)" = "$(id_of u4@example.net) - - none 5.50 import" ] &&
	t_ok "c4 (u4, never delivered): attributed to none" || t_fail "c4" "$(row c4)"
head -5 "$T_DIR/conv.csv" >"$T_DIR/again.csv"
echo "c20,7,USD,$now,,u3@example.net,1" >>"$T_DIR/again.csv"
"$HERALD_BIN" conversion import "file://$T_DIR/again.csv" >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
[ $rc = 0 ] && grep -q "^1 conversions recorded, 4 already recorded, 0 rows refused$" "$T_DIR/out" &&
	[ "$(t_sql "SELECT COUNT(*), SUM(amount) FROM conversions" | tr '\t' ' ')" = "5 97.50" ] &&
	t_ok "imported again from a file:// URL: the 4 count once, the new one is added" ||
	t_fail "import again" "status $rc: $(cat "$T_DIR/out" "$T_DIR/err") $(t_sql "SELECT COUNT(*), SUM(amount) FROM conversions")"
[ "$(row c20)" = "$(id_of u3@example.net) 1 - delivery 7.00 import" ] && t_ok "c20 (u3, now): attributed to the delivery" ||
	t_fail "c20" "$(row c20)"
t_expect_fail "a missing file is an error naming it" 1 "nothing.csv: cannot read" "$HERALD_BIN" conversion import "$T_DIR/nothing.csv"
printf 'id,amount,price\n' >"$T_DIR/badhead.csv"
t_expect_fail "an unknown column is refused, naming it" 1 'column "price": unknown' "$HERALD_BIN" conversion import "$T_DIR/badhead.csv"

# --- POST /v -----------------------------------------------------------------------
"$HERALD_WEB_BIN" -f >"$T_DIR/web2.log" 2>&1 &
web=$!
t_at_exit "kill $web 2>/dev/null"
for _ in $(seq 1 200); do grep -q "listening on" "$T_DIR/web2.log" && break; sleep 0.1; done
sign() { python3 -c 'import hmac, hashlib, sys; print("sha256=" + hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())' "$1" "$2"; }
SECRET=a-shared-conversion-secret-of-32-characters
# post BODY [SIGNATURE]: the status, the answer in $T_DIR/answer.
post() {
	curl -s -o "$T_DIR/answer" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	    -H "X-Herald-Signature: ${2-$(sign "$SECRET" "$1")}" --data-binary "$1" "http://127.0.0.1:$PORT/v"
}
body="{\"id\": \"p1\", \"amount\": \"12.50\", \"currency\": \"EUR\", \"time\": \"$soon\", \"token\": \"$token\"}"
code=$(post "$body")
[ "$code" = 200 ] && [ "$(cat "$T_DIR/answer")" = recorded ] && [ "$(row p1)" = "$(id_of u1@example.net) 1 $link click 12.50 post" ] &&
	t_ok "a signed POST /v is recorded and attributed to u1's click" || t_fail "POST /v" "$code $(cat "$T_DIR/answer") $(row p1); $(tail -3 "$T_DIR/web2.log")"
code=$(post "$body")
[ "$code" = 200 ] && [ "$(cat "$T_DIR/answer")" = "already recorded" ] && [ "$(t_sql "SELECT COUNT(*) FROM conversions WHERE conversion_id = 'p1'")" = 1 ] &&
	t_ok "posted again: 200 already recorded, counted once" || t_fail "POST /v again" "$code $(cat "$T_DIR/answer")"
before=$(t_sql "SELECT COUNT(*) FROM conversions")
body2="{\"id\": \"p2\", \"amount\": \"5\", \"currency\": \"EUR\", \"time\": \"$now\", \"email\": \"u2@example.net\", \"mailing\": \"1\"}"
refused=1
check() { # what status pattern code
	if [ "$3" != "$2" ] || ! grep -q "$4" "$T_DIR/answer"; then refused=0; t_fail "$1" "$3 $(cat "$T_DIR/answer")"; fi
}
check "no signature" 401 "$(post "$body2" "")" "refused: no X-Herald-Signature header"
check "a wrong signature" 401 "$(post "$body2" "$(sign wrong-secret-wrong-secret-wrong-secret "$body2")")" "bad signature"
check "a signature of another body" 401 "$(post "$body2" "$(sign "$SECRET" "$body")")" "bad signature"
check "a body that is not JSON" 400 "$(post "id=p2")" "not a JSON object"
check "an unknown field" 400 "$(post '{"id": "p2", "price": "5"}')" 'field "price": unknown'
check "a number, not a string" 400 "$(post '{"id": "p2", "amount": 5}')" 'field "amount": expected a string'
check "a bad amount" 400 "$(post "${body2/\"5\"/\"five\"}")" 'amount "five"'
check "a forged token" 400 "$(post "${body/$token/${token%?}A}")" "token: bad signature"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v")" = 405 ] || { refused=0; t_fail "GET /v" "not 405"; }
[ $refused = 1 ] && [ "$(t_sql "SELECT COUNT(*) FROM conversions")" = "$before" ] &&
	t_ok "unsigned, wrongly signed, malformed, bad fields, forged token: 401 or 400 saying why, GET 405; nothing recorded" ||
	t_fail "refusals changed something" "$(t_sql "SELECT conversion_id FROM conversions")"
code=$(post "$body2")
[ "$code" = 200 ] && [ "$(row p2)" = "$(id_of u2@example.net) 1 - delivery 5.00 post" ] &&
	t_ok "email and mailing work too: attributed to u2's delivery" || t_fail "POST /v by email" "$code $(cat "$T_DIR/answer") $(row p2)"
kill -TERM $web; wait $web
# Attributed to mailing 1: c1 50, c2 25, c20 7, p1 12.50, p2 5 (3 delivered).
"$HERALD_BIN" report 1 --csv >"$T_DIR/report.csv"
grep -q '^conversions,0,conversions,5$' "$T_DIR/report.csv" && grep -q '^conversions,0,revenue,99.50$' "$T_DIR/report.csv" &&
	grep -q '^conversions,,revenue_per_1000,33166.67$' "$T_DIR/report.csv" &&
	t_ok "report: 5 conversions, 99.50 in revenue, 33,166.67 per 1,000 delivered" ||
	t_fail "report conversions" "$(grep '^conversions' "$T_DIR/report.csv")"
t_done
