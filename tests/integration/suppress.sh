#!/bin/bash
# suppress.sh - an operator suppresses addresses after a mailing was
# staged: "herald suppress add|remove|list|import", then heraldd sends
# the mailing into smtp-sink. None of the suppressed addresses gets a
# message; their rows end "suppressed" and herald report and herald
# mailing show count them. Bad input (an invalid address on the command
# line, or at FILE:LINE) changes nothing.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
t_start_sink "$T_DIR/sink"
N=40
cat >>"$T_CONFIG" <<CONF
relay_host = 127.0.0.1
relay_port = $T_SINK_PORT
worker_count = 2
relay_session_size = 5
batch_size = 10
pid_file = $T_DIR/heraldd.pid
message_domain = news.example.org
bounce_domain = bounce.example.org
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
tpl="$T_DIR/template"
mkdir -p "$tpl"
echo "Hello {{first_name}}" >"$tpl/text.mustache"
awk -v n=$N 'BEGIN { print "email,first_name"; for (i = 1; i <= n; i++) printf "s%d@example.net,Name%d\n", i, i }' >"$T_DIR/r.csv"
t_check "import $N recipients" "$HERALD_BIN" import "$T_DIR/r.csv"
t_check "mailing create" "$HERALD_BIN" mailing create --name half --template "$tpl" \
	--segment all --from "News <news@example.org>" --subject "Hi {{first_name}}"
t_check "herald stage" "$HERALD_BIN" stage
[ "$(t_sql "SELECT COUNT(*) FROM stage_1")" = $N ] && t_ok "all $N staged" ||
	t_fail "all $N staged" "$(t_sql "SELECT COUNT(*) FROM stage_1")"
suppressions() { t_sql "SELECT COUNT(*) FROM suppressions"; }

# --- bad input changes nothing ------------------------------------------------
t_expect_fail "add refuses an invalid address, naming it" 1 '"not-an-address" is not an email address.*nothing changed' \
	"$HERALD_BIN" suppress add s1@example.net not-an-address
[ "$(suppressions)" = 0 ] && t_ok "and suppresses nothing, not even the valid one" ||
	t_fail "a refused add changes nothing" "$(suppressions) entries"
printf 's2@example.net\n# a comment\n\ns4@example.net\nbad@@example.net\n' >"$T_DIR/bad.txt"
t_expect_fail "import refuses a bad line with FILE:LINE" 1 "bad.txt:5: \"bad@@example.net\" is not an email address" \
	"$HERALD_BIN" suppress import "$T_DIR/bad.txt"
[ "$(suppressions)" = 0 ] && t_ok "and imports nothing" || t_fail "a refused import changes nothing" "$(suppressions) entries"
t_expect_fail "suppress without a verb is a usage error" 2 "usage: herald suppress" "$HERALD_BIN" suppress
t_expect_fail "add without an address is a usage error" 2 "usage: herald suppress" "$HERALD_BIN" suppress add --reason x
t_expect_fail "import of a missing file fails" 1 "absent.txt: cannot open" "$HERALD_BIN" suppress import "$T_DIR/absent.txt"

# --- half of the staged recipients suppressed after staging ------------------
# The even ones: a few by hand, the rest from a file (with CRLF lines and
# an upper-case domain, as operators' files come).
t_check "add three by hand with a reason" "$HERALD_BIN" suppress add s2@example.net s4@example.net s6@EXAMPLE.net --reason "asked by phone"
grep -q "3 of 3 addresses suppressed" "$T_DIR/out" && t_ok "add says how many it suppressed" || t_fail "add output" "$(cat "$T_DIR/out")"
awk -v n=$N 'BEGIN { print "# even recipients"; for (i = 2; i <= n; i += 2) printf "  s%d@Example.NET\r\n", i }' >"$T_DIR/even.txt"
t_check "import the even ones from a file" "$HERALD_BIN" suppress import "$T_DIR/even.txt" --reason "list cleaning"
grep -q "17 of 20 addresses suppressed (the others already were)" "$T_DIR/out" &&
	t_ok "import keeps the first entry of an address already suppressed" || t_fail "import output" "$(cat "$T_DIR/out")"
t_check "add and remove a mistaken address" "$HERALD_BIN" suppress add s1@example.net
t_check "remove it" "$HERALD_BIN" suppress remove s1@example.net nobody@example.net
grep -q "1 of 2 addresses removed" "$T_DIR/out" && t_ok "remove says how many it removed" || t_fail "remove output" "$(cat "$T_DIR/out")"
[ "$(suppressions)" = $((N / 2)) ] && t_ok "$((N / 2)) addresses suppressed" || t_fail "$((N / 2)) suppressed" "$(suppressions)"
[ "$(t_sql "SELECT CONCAT(source, '|', reason) FROM suppressions WHERE email = 's6@example.net'")" = "operator|asked by phone" ] &&
[ "$(t_sql "SELECT CONCAT(source, '|', reason) FROM suppressions WHERE email = 's8@example.net'")" = "import|list cleaning" ] &&
[ "$(t_sql "SELECT COUNT(*) FROM suppressions WHERE created_at > UTC_TIMESTAMP() - INTERVAL 1 HOUR")" = $((N / 2)) ] &&
	t_ok "each entry keeps its source, reason and time" || t_fail "source, reason, time" "$(t_sql "SELECT * FROM suppressions")"
t_check "list" "$HERALD_BIN" suppress list
[ "$(grep -c '@example.net' "$T_DIR/out")" = $((N / 2)) ] && grep -q 's6@example.net .*operator .*asked by phone' "$T_DIR/out" &&
	t_ok "list shows every entry with source and reason" || t_fail "list" "$(head -5 "$T_DIR/out")"
"$HERALD_BIN" suppress list --json >"$T_DIR/list.json"
"$PYTHON3" -c '
import json, sys
entries = json.load(open(sys.argv[1]))
assert len(entries) == int(sys.argv[2]), len(entries)
e = [x for x in entries if x["email"] == "s6@example.net"][0]
assert e["source"] == "operator" and e["reason"] == "asked by phone" and e["mailing"] is None and e["created_at"], e
' "$T_DIR/list.json" $((N / 2)) 2>"$T_DIR/err" && t_ok "list --json is valid JSON with every field" ||
	t_fail "list --json" "$(cat "$T_DIR/err")"

# --- send: none of the suppressed goes out -----------------------------------
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 600); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	sleep 0.1
done
[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && t_ok "the mailing is done" ||
	t_fail "the mailing is done" "$(t_sql "SELECT state FROM mailings WHERE id = 1"); $(tail -c 600 "$T_DIR/heraldd.log")"
kill -TERM $daemon; wait $daemon
got=$(grep -h '^X-Rcpt-Args: <' -r "$T_DIR/sink" | sed 's/^X-Rcpt-Args: <s\([0-9]*\)@.*/\1/' | sort -n | tr '\n' ' ')
want=$(seq 1 2 $N | tr '\n' ' ')
[ "$got" = "$want" ] && t_ok "exactly the $((N / 2)) unsuppressed recipients got a message, once each" ||
	t_fail "only the unsuppressed are mailed" "got: $got"
[ "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'suppressed' AND row_id % 2 = 0")" = $((N / 2)) ] &&
[ "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'sent' AND row_id % 2 = 1")" = $((N / 2)) ] &&
	t_ok "their rows are suppressed, the others sent" ||
	t_fail "rows suppressed" "$(t_sql "SELECT delivery_state, COUNT(*) FROM stage_1 GROUP BY 1")"
[ "$(t_sql "SELECT relay_reply FROM stage_1 WHERE email = 's6@example.net'")" = "suppressed (operator: asked by phone)" ] &&
	t_ok "a suppressed row says why" || t_fail "a suppressed row says why" "$(t_sql "SELECT relay_reply FROM stage_1 WHERE email = 's6@example.net'")"
"$HERALD_BIN" mailing show 1 >"$T_DIR/show"
[ "$(awk '$1 == "suppressed" { print $2 }' "$T_DIR/show")" = $((N / 2)) ] &&
[ "$(awk '$1 == "sent" { print $2 }' "$T_DIR/show")" = $((N / 2)) ] &&
	t_ok "mailing show counts $((N / 2)) suppressed and $((N / 2)) sent" || t_fail "mailing show counts" "$(cat "$T_DIR/show")"
"$HERALD_BIN" report 1 --json >"$T_DIR/report.json"
"$PYTHON3" -c '
import json, sys
r = json.load(open(sys.argv[1]))
states = {row["state"]: row["messages"] for row in r["states"]}
assert states == {"sent": int(sys.argv[2]), "suppressed": int(sys.argv[2])}, states
' "$T_DIR/report.json" $((N / 2)) 2>"$T_DIR/err" && t_ok "herald report counts them suppressed" ||
	t_fail "herald report" "$(cat "$T_DIR/err") $(cat "$T_DIR/report.json")"
grep -q "rows suppressed since staging, not sent" "$T_DIR/heraldd.log" && t_ok "heraldd logs the suppressed rows" ||
	t_fail "heraldd logs the suppressed rows" "$(tail -c 600 "$T_DIR/heraldd.log")"

# --- a permanent bounce: recorded in one transaction -----------------------
# A failure injected between its statements (a trigger refusing the
# stage row, then one refusing the counter) leaves nothing half done:
# Postfix's retry (herald bounce exits 75) records it whole, counted once,
# and suppresses the address with source bounce.
s1=$(t_sql "SELECT id FROM recipients WHERE email = 's1@example.net'")
# The return path as heraldd signs it (herald bounce refuses others).
s1_path=$("$HERALD_BIN" token make --purpose return-path 1 "$s1")
cat >"$T_DIR/dsn" <<DSN
From: MAILER-DAEMON@example.net
To: bounces+$s1_path@bounce.example.org
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; s1@example.net
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 no such user

--b1--
DSN
bounce_state() {
	t_sql "SELECT CONCAT_WS('|', (SELECT delivery_state FROM stage_1 WHERE email = 's1@example.net'),
		(SELECT bounced_count FROM mailings WHERE id = 1), (SELECT status FROM recipients WHERE id = $s1),
		(SELECT COUNT(*) FROM suppressions WHERE email = 's1@example.net'))"
}
refuse() {	# NAME TABLE CONDITION: a trigger failing updates where CONDITION
	printf "DELIMITER //\nCREATE TRIGGER %s BEFORE UPDATE ON %s FOR EACH ROW IF %s THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected'; END IF //\n" "$1" "$2" "$3" |
		mariadb --no-defaults --socket="$HERALD_TEST_SOCKET" -uroot "$T_DATABASE"
}
refuse refuse_row stage_1 "NEW.delivery_state = 'bounced'"
t_expect_fail "a bounce whose stage row cannot be written exits 75" 75 "injected.*try again later" "$HERALD_BIN" bounce "$T_DIR/dsn"
[ "$(bounce_state)" = "sent|0|active|0" ] && t_ok "and changes nothing" || t_fail "a failed bounce changes nothing" "$(bounce_state)"
t_sql "DROP TRIGGER refuse_row"
refuse refuse_count mailings "NEW.bounced_count <> OLD.bounced_count"
t_expect_fail "a bounce whose counter cannot be written exits 75" 75 "injected.*try again later" "$HERALD_BIN" bounce "$T_DIR/dsn"
[ "$(bounce_state)" = "sent|0|active|0" ] && t_ok "and changes nothing either" || t_fail "a failed bounce changes nothing" "$(bounce_state)"
t_sql "DROP TRIGGER refuse_count"
t_check "Postfix's retry records the bounce" "$HERALD_BIN" bounce "$T_DIR/dsn"
t_check "and a retry of that changes nothing" "$HERALD_BIN" bounce "$T_DIR/dsn"
grep -q "bounced already" "$T_DIR/out" && t_ok "it says the bounce was recorded already" || t_fail "bounced already" "$(cat "$T_DIR/out")"
[ "$(bounce_state)" = "bounced|1|bounced|1" ] && t_ok "the bounce is counted once, the recipient bounced and suppressed" ||
	t_fail "the bounce is counted once" "$(bounce_state)"
[ "$(t_sql "SELECT CONCAT_WS('|', source, reason, mailing_id, detail) FROM suppressions WHERE email = 's1@example.net'")" = "bounce|bounced|1|5.1.1 550 5.1.1 no such user (userunknown)" ] &&
	t_ok "the suppression says bounce, its mailing, the DSN and its class" ||
	t_fail "the bounce's suppression" "$(t_sql "SELECT * FROM suppressions WHERE email = 's1@example.net'")"
t_done
