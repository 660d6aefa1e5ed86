#!/bin/bash
# clicks.sh - click tracking end to end, with the real herald-web and
# MariaDB: the links of a mailing's HTML and text parts become
# https://track_domain/c/TOKEN (one links row per target, made when the
# templates compile: preview and heraldd's worker add none the second
# time), except a link after {{! notrack }}, a link built with a tag,
# mailto: and stylesheets; UTM parameters join the targets. GET
# /c/TOKEN answers 302 to the target at once and the clicks are counted
# (first, last and total per recipient and link), also those still
# queued when herald-web is stopped cleanly. Forged, garbled, retired
# or other-purpose tokens, a link of another mailing, and a URL in the
# query all get the same 404: no open redirect. A mailing created with
# --no-track-clicks keeps its links as written.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALD_WEB_BIN:?HERALD_WEB_BIN is not set: run the tests with make check}"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
command -v curl >/dev/null || t_skip "curl not installed"
t_use_database
t_start_sink "$T_DIR/sink"
PORT=$(t_free_port)
cat >>"$T_CONFIG" <<CONF
relay_host = 127.0.0.1
relay_port = $T_SINK_PORT
worker_count = 1
pid_file = $T_DIR/heraldd.pid
message_domain = news.example.org
track_domain = click.example.org
web_listen = 127.0.0.1:$PORT
token_key k1 = a-test-secret-of-at-least-32-characters-long
CONF
chmod 600 "$T_CONFIG"
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t"
cat >"$T_DIR/t/html.mustache" <<'HTML'
<html><head><link rel="stylesheet" href="https://cdn.example.org/s.css"></head><body>
<p>Dear {{first_name}},</p>
<p><a href="https://example.org/give?campaign=spring&amp;amount=50">Give</a></p>
<p><a class="{{first_name}}" href="https://example.org/story#top">Read</a></p>
{{! notrack }}<a href="https://example.org/privacy">Privacy</a>
<a href="https://example.org/you/{{recipient_id}}">Your page</a>
<a href="mailto:help@example.org">Help</a>
<a href="{{unsubscribe_url}}">Unsubscribe</a>
</body></html>
HTML
cat >"$T_DIR/t/text.mustache" <<'TEXT'
Dear {{first_name}},
Give: https://example.org/give?campaign=spring&amount=50
Read: https://example.org/story#top.
TEXT
printf 'email,first_name\n' >"$T_DIR/r.csv"
for i in 1 2 3; do printf 'u%d@example.net,N%d\n' $i $i >>"$T_DIR/r.csv"; done
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null || { t_fail "import" "failed"; t_done; }
t_expect_fail "a bad --utm is refused, naming the option" 1 '--utm "utm_source=a b"' \
	"$HERALD_BIN" mailing create --name bad --template "$T_DIR/t" --segment all \
	--from "News <news@example.org>" --subject s --utm "utm_source=a b"
[ "$(t_sql "SELECT COUNT(*) FROM mailings")" = 0 ] && t_ok "and creates nothing" || t_fail "bad --utm" "a mailing was created"
"$HERALD_BIN" mailing create --name tracked --template "$T_DIR/t" --segment all \
	--from "News <news@example.org>" --subject s --utm "utm_source=herald&utm_medium=email" >/dev/null ||
	{ t_fail "mailing create" "failed"; t_done; }
"$HERALD_BIN" mailing create --name untracked --template "$T_DIR/t" --segment all \
	--from "News <news@example.org>" --subject s --no-track-clicks >/dev/null ||
	{ t_fail "mailing create --no-track-clicks" "failed"; t_done; }
id_of() { t_sql "SELECT id FROM recipients WHERE email = '$1'"; }
links_of() { t_sql "SELECT COUNT(*) FROM links WHERE mailing_id = $1"; }
link_id() { t_sql "SELECT id FROM links WHERE mailing_id = $1 AND url = '$2'"; }
GIVE='https://example.org/give?campaign=spring&amount=50&utm_source=herald&utm_medium=email'
STORY='https://example.org/story?utm_source=herald&utm_medium=email#top'

# --- rewriting ------------------------------------------------------------------
"$HERALD_BIN" preview 1 --recipient u1@example.net --html >"$T_DIR/html" 2>"$T_DIR/preview.err" ||
	{ t_fail "preview" "$(cat "$T_DIR/preview.err")"; t_done; }
[ "$(links_of 1)" = 2 ] && [ -n "$(link_id 1 "$GIVE")" ] && [ -n "$(link_id 1 "$STORY")" ] &&
	t_ok "compiling the templates made 2 links rows (each target once, UTM parameters added)" ||
	t_fail "links rows" "$(t_sql "SELECT id, url FROM links")"
U1=$(id_of u1@example.net)
give_href=$(grep -o 'href="https://click.example.org/c/[^"]*">Give' "$T_DIR/html" | sed 's/^href="\(.*\)">Give$/\1/')
case $give_href in
"https://click.example.org/c/k1.1.$U1.$(link_id 1 "$GIVE")."*) t_ok "the HTML link is $give_href" ;;
*) t_fail "HTML link rewritten" "$(cat "$T_DIR/html")" ;;
esac
grep -q '<a class="N1" href="https://click.example.org/c/k1\.1\.' "$T_DIR/html" &&
	t_ok "a link whose tag holds a template value is tracked too" || t_fail "second link" "$(cat "$T_DIR/html")"
grep -q 'href="https://cdn.example.org/s.css"' "$T_DIR/html" && grep -q '^<a href="https://example.org/privacy">' "$T_DIR/html" &&
	grep -q "<a href=\"https://example.org/you/$U1\">" "$T_DIR/html" && grep -q 'href="mailto:help@example.org"' "$T_DIR/html" &&
	grep -q 'href="https://news.example.org/unsubscribe?t=' "$T_DIR/html" &&
	t_ok "untouched: the stylesheet, the {{! notrack }} link, a link built with a tag, mailto:, unsubscribe" ||
	t_fail "links left alone" "$(cat "$T_DIR/html")"
"$HERALD_BIN" preview 1 --recipient u1@example.net >"$T_DIR/message" 2>&1
tr -d '\r' <"$T_DIR/message" | grep -q "^Give: https://click.example.org/c/k1\.1\.$U1\.$(link_id 1 "$GIVE")\." &&
	tr -d '\r' <"$T_DIR/message" | grep -q "^Read: https://click.example.org/c/k1\.1\.$U1\.$(link_id 1 "$STORY")\.[A-Za-z0-9_-]*\.$" &&
	t_ok "the text part's URLs are tracked too, the same links, the final full stop kept out" ||
	t_fail "text part" "$(tr -d '\r' <"$T_DIR/message" | grep -A4 '^Dear')"
"$HERALD_BIN" preview 1 --recipient u2@example.net --html >"$T_DIR/html2" 2>&1
[ "$(links_of 1)" = 2 ] && grep -q "href=\"https://click.example.org/c/k1\.1\.$(id_of u2@example.net)\.$(link_id 1 "$GIVE")\." "$T_DIR/html2" &&
	t_ok "compiling again adds no row; another recipient gets a token of its own for the same link" ||
	t_fail "second preview" "$(links_of 1) rows"
"$HERALD_BIN" preview 2 --recipient u1@example.net --html >"$T_DIR/html-untracked" 2>&1
[ "$(links_of 2)" = 0 ] && grep -q 'href="https://example.org/give?campaign=spring&amp;amount=50"' "$T_DIR/html-untracked" &&
	! grep -q 'click.example.org' "$T_DIR/html-untracked" &&
	t_ok "--no-track-clicks: the links stay as written and no links row is made" ||
	t_fail "untracked mailing" "$(links_of 2) rows; $(cat "$T_DIR/html-untracked")"

# --- the redirect ------------------------------------------------------------------
"$HERALD_WEB_BIN" -f >"$T_DIR/web.log" 2>&1 &
WEB_PID=$!
t_at_exit "kill $WEB_PID 2>/dev/null"
for _ in $(seq 1 200); do
	grep -q "listening on 127.0.0.1:$PORT" "$T_DIR/web.log" && break
	kill -0 $WEB_PID 2>/dev/null || break
	sleep 0.1
done
grep -q "listening on 127.0.0.1:$PORT" "$T_DIR/web.log" && t_ok "herald-web listens" ||
	{ t_fail "herald-web starts" "$(cat "$T_DIR/web.log")"; t_done; }
URL="http://127.0.0.1:$PORT"
request() {
	local method=$1 path=$2
	shift 2
	curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -X "$method" "$@" "$URL$path"
}
location() { tr -d '\r' <"$T_DIR/headers" | sed -n 's/^Location: //p'; }
GIVE_PATH=${give_href#https://click.example.org}
code=$(request GET "$GIVE_PATH")
[ "$code" = 302 ] && [ "$(location)" = "$GIVE" ] &&
	t_ok "GET /c/TOKEN answers 302 to the target, UTM parameters included" ||
	t_fail "redirect" "$code $(cat "$T_DIR/headers")"
grep -qi '^Cache-Control: no-store' "$T_DIR/headers" && grep -qi '^Referrer-Policy: no-referrer' "$T_DIR/headers" &&
	t_ok "not cached, and the target sees no Referer (the URL holds the token)" || t_fail "redirect headers" "$(cat "$T_DIR/headers")"
code=$(request GET "$GIVE_PATH?url=https://evil.example/&u=https://evil.example/")
[ "$code" = 302 ] && [ "$(location)" = "$GIVE" ] &&
	t_ok "a URL in the query changes nothing: the target comes from the links table" ||
	t_fail "query URL" "$code $(location)"
code=$(request HEAD "$GIVE_PATH" -I)
[ "$code" = 302 ] && t_ok "HEAD answers the same" || t_fail "HEAD" "$code"
code=$(request POST "$GIVE_PATH" -d x=1)
[ "$code" = 405 ] && t_ok "POST gets 405" || t_fail "POST" "$code"

# --- refused tokens: the same 404, nothing recorded --------------------------------------
request GET /nothing-here >/dev/null
cp "$T_DIR/body" "$T_DIR/404"
TOK=${GIVE_PATH#/c/}
forged="${TOK%?}$([ "${TOK: -1}" = A ] && echo B || echo A)"
story=$(link_id 1 "$STORY")
moved=$(echo "$TOK" | sed "s/^k1\.1\.$U1\.[0-9]*\./k1.1.$U1.$story./")
# A genuine click token naming mailing 1 and a link that is not mailing 1's.
"$HERALD_BIN" preview 2 --recipient u1@example.net >/dev/null 2>&1
t_sql "INSERT INTO links (mailing_id, url_hash, url) VALUES (2, UNHEX(SHA2('https://elsewhere.example/', 256)), 'https://elsewhere.example/')" >/dev/null
other_link=$(link_id 2 https://elsewhere.example/)
cross=$("$HERALD_BIN" token make --purpose click 1 "$U1" "$other_link")
unknown_link=$("$HERALD_BIN" token make --purpose click 1 "$U1" 999999)
unsubscribe=$("$HERALD_BIN" token make 1 "$U1")
sed 's/^token_key k1 = .*/token_key k0 = an-old-secret-of-at-least-32-characters-long/' "$T_CONFIG" >"$T_DIR/old.conf"
chmod 600 "$T_DIR/old.conf"
retired=$(HERALD_CONFIG="$T_DIR/old.conf" "$HERALD_BIN" token make --purpose click 1 "$U1" "$(link_id 1 "$GIVE")")
all_404=1
for bad in "$forged" "$moved" "$cross" "$unknown_link" "$unsubscribe" "$retired" garbage "k1.1.$U1" \
	"k1.1.$U1.1" "k1.1.0$U1.1.AAAA" "k1.1.-1.1.AAAA" "%2e%2e%2fu" "$TOK%0d%0aX:1" "$TOK/" "$(head -c 300 /dev/zero | tr '\0' a)" ""; do
	code=$(request GET "/c/$bad")
	if [ "$code" != 404 ] || ! cmp -s "$T_DIR/body" "$T_DIR/404" || grep -qi '^Location' "$T_DIR/headers"; then
		all_404=0
		t_fail "bad token $bad" "$code $(cat "$T_DIR/headers")"
	fi
done
[ $all_404 = 1 ] && t_ok "forged, moved to another link, another mailing's link, unknown link, unsubscribe purpose, retired key and garbled tokens: the same 404, no Location" 

# --- counting ----------------------------------------------------------------------------
STORY_PATH=$(grep -o 'href="https://click.example.org/c/[^"]*">Read' "$T_DIR/html" | sed 's/^href="https:\/\/click.example.org\(.*\)">Read$/\1/')
U2_PATH=$(grep -o 'href="https://click.example.org/c/[^"]*">Give' "$T_DIR/html2" | sed 's/^href="https:\/\/click.example.org\(.*\)">Give$/\1/')
request GET "$STORY_PATH" >/dev/null
[ "$(location)" = "$STORY" ] && t_ok "the story link goes to its own target, fragment after the query" || t_fail "story" "$(location)"
request GET "$U2_PATH" >/dev/null
for _ in $(seq 1 200); do
	[ "$(t_sql "SELECT COUNT(*) FROM clicks")" = 3 ] && break
	sleep 0.05
done
give=$(link_id 1 "$GIVE")
row() { t_sql "SELECT clicks, first_at <= last_at FROM clicks WHERE mailing_id = 1 AND recipient_id = $1 AND link_id = $2" | tr '\t' ' '; }
[ "$(row "$U1" "$give")" = "2 1" ] && [ "$(row "$U1" "$story")" = "1 1" ] && [ "$(row "$(id_of u2@example.net)" "$give")" = "1 1" ] &&
	t_ok "recorded within moments: u1 clicked Give twice (HEAD and POST not counted), Story once; u2 Give once" ||
	t_fail "click rows" "$(t_sql "SELECT * FROM clicks")"
# A burst, then a clean stop at once: what was still queued is written.
for _ in $(seq 1 200); do echo "url = \"$URL$GIVE_PATH\""; echo "output = /dev/null"; done >"$T_DIR/burst"
curl -s -K "$T_DIR/burst" --parallel --parallel-max 8 >/dev/null 2>&1
kill -TERM $WEB_PID
wait $WEB_PID
rc=$?
total=$(t_sql "SELECT SUM(clicks) FROM clicks")
[ $rc = 0 ] && [ "$(row "$U1" "$give")" = "202 1" ] && [ "$total" = 204 ] &&
	t_ok "200 clicks in a burst, then TERM: all 204 clicks are in the table (nothing lost on a clean stop)" ||
	t_fail "clean stop" "status $rc, total $total, $(row "$U1" "$give"); $(tail -3 "$T_DIR/web.log")"
grep -q "clicks: 204 recorded" "$T_DIR/web.log" && t_ok "herald-web logs how many it recorded" ||
	t_fail "stop log" "$(tail -3 "$T_DIR/web.log")"

# --- heraldd's worker: the same links, no new row ------------------------------------------
"$HERALD_BIN" stage >/dev/null || t_fail "stage" "failed"
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 600); do
	[ "$(t_sql "SELECT COUNT(*) FROM mailings WHERE state = 'done'")" = 2 ] && break
	sleep 0.1
done
kill -TERM $daemon; wait $daemon
[ "$(t_sink_count "$T_DIR/sink")" = 6 ] && [ "$(links_of 1)" = 2 ] &&
	[ "$(grep -l "click.example.org/c/k1\.1\." -r "$T_DIR/sink" | wc -l)" = 3 ] &&
	t_ok "heraldd sent 6 messages: mailing 1's three carry click URLs, still 2 links rows" ||
	t_fail "sent" "$(t_sink_count "$T_DIR/sink") sent, $(links_of 1) rows; $(tail -c 600 "$T_DIR/heraldd.log")"

# --- the report ----------------------------------------------------------------------------
"$HERALD_BIN" report 1 --json >"$T_DIR/report.json" 2>&1
python3 - "$T_DIR/report.json" <<'PY' >"$T_DIR/report.check" 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
assert d["clicks"] == [
    {"variant": 0, "name": "A", "delivered": 3, "unique_clicks": 2, "total_clicks": 204, "click_rate": 66.67},
    {"variant": None, "name": "all", "delivered": 3, "unique_clicks": 2, "total_clicks": 204, "click_rate": 66.67}], d["clicks"]
print("ok")
PY
[ $? = 0 ] && t_ok "report --json: per variant and in all, 3 delivered, 2 unique clicks, 204 in all, a click rate of 66.67%" ||
	t_fail "report --json clicks" "$(cat "$T_DIR/report.check" "$T_DIR/report.json")"
"$HERALD_BIN" report 1 --csv >"$T_DIR/report.csv"
grep -q '^clicks,0,unique_clicks,2$' "$T_DIR/report.csv" && grep -q '^clicks,,total_clicks,204$' "$T_DIR/report.csv" &&
	grep -q '^clicks,0,click_rate,66.67$' "$T_DIR/report.csv" && t_ok "report --csv: the same figures" ||
	t_fail "report --csv clicks" "$(grep '^clicks' "$T_DIR/report.csv")"
"$HERALD_BIN" report 1 >"$T_DIR/report.txt"
grep -Eq '^  variant +name +delivered +unique_clicks +total_clicks +click_rate$' "$T_DIR/report.txt" &&
	grep -Eq '^  +- +all +3 +2 +204 +66.67$' "$T_DIR/report.txt" && t_ok "report (text): a clicks table" ||
	t_fail "report text clicks" "$(cat "$T_DIR/report.txt")"
"$HERALD_BIN" report 2 --csv >"$T_DIR/report2.csv"
grep -q '^clicks,0,unique_clicks,0$' "$T_DIR/report2.csv" && grep -q '^clicks,0,click_rate,0.00$' "$T_DIR/report2.csv" &&
	t_ok "the untracked mailing: 0 clicks, a rate of 0.00" || t_fail "report 2" "$(grep '^clicks' "$T_DIR/report2.csv")"
t_done
