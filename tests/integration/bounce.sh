#!/bin/bash
# bounce.sh - bounces from a real Postfix, recorded by "herald bounce".
#
# A mailing goes through a private Postfix: recipients at ok.test reach a
# sink, recipients at gone.test reach a relay that answers 5xx to RCPT,
# so Postfix returns a DSN to each one's VERP return path. Postfix
# routes bounce.test to a pipe(8) transport running "herald bounce"
# (as contrib/postfix/main.cf shows). Then: exactly the gone.test rows
# end bounced with the reply, those recipients are marked bounced and
# suppressed, the mailing counts them, the next mailing is not staged for
# them. A bounce read again changes nothing; a delay notice, mail that is
# no DSN, an unknown mailing or recipient change nothing; a database that
# cannot be reached exits 75 so Postfix keeps the bounce.
# Return paths are signed: a forged or unsigned one is refused, logged
# and counted, and exits 0 so Postfix neither retries it nor returns it
# to the forger's sender (checked through Postfix itself); unsigned
# return paths of mailings staged before the upgrade are accepted for
# 14 days after it.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/postfix.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
OK=20
GONE=10

t_start_sink "$T_DIR/sink"
# gone.test's relay refuses every recipient as an unknown user (550
# 5.1.1), as a provider would: a hard bounce.
/usr/bin/python3 "$HERALD_SRCDIR/tests/lib/reject_relay.py" '@gone\.test$' >"$T_DIR/gone.log" 2>&1 &
t_at_exit "kill $! 2>/dev/null"
for _ in $(seq 1 100); do grep -q '^ready' "$T_DIR/gone.log" && break; sleep 0.1; done
gone_port=$(awk '/^ready/ { print $2 }' "$T_DIR/gone.log")
[ -n "$gone_port" ] || t_skip "the reject relay did not start: $(cat "$T_DIR/gone.log")"
t_start_postfix "$T_SINK_PORT" \
	"transport_maps = inline:{gone.test=smtp:[127.0.0.1]:$gone_port, bounce.test=herald-bounce:}" \
	"herald-bounce_destination_recipient_limit = 1" \
	"queue_run_delay = 1s" "minimal_backoff_time = 1s" "maximal_backoff_time = 2s"
# The pipe runs as nobody (pipe(8) refuses root): it must read the
# configuration and reach the database socket (contrib/check: mode 711).
chmod 711 "$T_DIR"
chmod 644 "$T_CONFIG"
cat >>"$T_DIR/postfix/conf/master.cf" <<CF
herald-bounce unix - n n - - pipe
  flags=Rq user=nobody argv=$HERALD_BIN --config $T_CONFIG bounce --recipient \${recipient}
CF
t_postfix reload >/dev/null 2>&1 || t_fail "Postfix reloads with the pipe transport" "$(tail -3 "$(t_postfix_log)")"
cat >>"$T_CONFIG" <<CONF
worker_count = 2
relay_port = $T_POSTFIX_PORT
bounce_domain = bounce.test
message_domain = herald.test
pid_file = $T_DIR/heraldd.pid
metrics_interval = 0
view_online_url = https://herald.test/view
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
# The token keys sign the return paths; the pipe, as nobody, must read
# them (in production the pipe runs as heraldd's user, who owns them).
"$HERALD_BIN" token make 1 1 >/dev/null
chown -R nobody "$T_DIR/state"
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
{
	echo "email,first_name"
	for i in $(seq 1 $OK); do echo "r$i@ok.test,Ok$i"; done
	for i in $(seq 1 $GONE); do echo "g$i@gone.test,Gone$i"; done
} >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null

state() { t_sql "SELECT state FROM mailings WHERE id = $1"; }
rows() { t_sql "SELECT COUNT(*) FROM stage_$1 WHERE delivery_state = '$2'"; }
"$HERALD_BIN" mailing create --name first --template "$T_DIR/t" --segment all --from a@herald.test --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
"$HERALDD_BIN" -f >>"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
for _ in $(seq 1 300); do [ "$(state 1)" = done ] && break; sleep 0.2; done
kill -TERM $daemon; wait $daemon
# (Some may have bounced already.)
# (One query: a row may move from sent to bounced between two.)
[ "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state IN ('sent', 'bounced')")" = $((OK + GONE)) ] && t_ok "Postfix took all $((OK + GONE)) messages" ||
	t_fail "Postfix took all messages" "$(rows 1 sent) sent, $(rows 1 bounced) bounced, mailing $(state 1); $(tail -3 "$T_DIR/heraldd.log")"

# Postfix tries gone.test, gets 5xx, and sends each DSN through the pipe.
# (A slow machine may defer a delivery: Postfix retries within seconds.)
for _ in $(seq 1 900); do [ "$(rows 1 bounced)" -ge $GONE ] && break; sleep 0.2; done
bounced=$(t_sql "SELECT GROUP_CONCAT(email ORDER BY email) FROM stage_1 WHERE delivery_state = 'bounced'")
expected=$(for i in $(seq 1 $GONE); do echo "g$i@gone.test"; done | sort | paste -sd,)
[ "$bounced" = "$expected" ] && t_ok "exactly the $GONE gone.test rows are bounced" ||
	t_fail "exactly the gone.test rows are bounced" "got '$bounced'; $(grep -E 'herald-bounce|status=' "$(t_postfix_log)" | tail -4)"
[ "$(rows 1 sent)" = $OK ] && t_ok "the $OK ok.test rows stay sent" || t_fail "ok.test rows stay sent" "$(rows 1 sent)"
reply=$(t_sql "SELECT relay_reply FROM stage_1 WHERE email = 'g1@gone.test'")
[[ $reply == 5.* ]] && t_ok "the row keeps the DSN's status and diagnostic ($reply)" || t_fail "the row keeps the DSN" "'$reply'"
[ "$(t_sql "SELECT bounced_count FROM mailings WHERE id = 1")" = $GONE ] &&
[ "$("$HERALD_BIN" mailing show 1 | awk '$1 == "bounced" { print $2 }')" = $GONE ] && t_ok "mailing 1 counts $GONE bounces (herald mailing show)" ||
	t_fail "mailing 1 counts the bounces" "$(t_sql "SELECT bounced_count FROM mailings WHERE id = 1")"
[ "$(t_sql "SELECT COUNT(*) FROM recipients WHERE status = 'bounced'")" = $GONE ] &&
[ "$(t_sql "SELECT COUNT(*) FROM recipients WHERE status = 'bounced' AND email LIKE '%@gone.test'")" = $GONE ] &&
	t_ok "those $GONE recipients are marked bounced" || t_fail "recipients marked bounced" "$(t_sql "SELECT email, status FROM recipients WHERE status <> 'active'")"
[ "$(t_sql "SELECT CONCAT(COUNT(*), ' ', MIN(reason), ' ', MAX(reason), ' ', MIN(hard)) FROM bounces WHERE mailing_id = 1")" = "$GONE userunknown userunknown 1" ] &&
	t_ok "each bounce is classified userunknown, hard" || t_fail "bounces classified" "$(t_sql "SELECT email, reason, hard, reply FROM bounces")"
[ "$(t_sql "SELECT COUNT(*) FROM suppressions WHERE reason = 'bounced' AND mailing_id = 1 AND email LIKE '%@gone.test'")" = $GONE ] &&
	t_ok "and their addresses suppressed, naming mailing 1" || t_fail "addresses suppressed" "$(t_sql "SELECT * FROM suppressions")"

# A bounce processed again (Postfix retrying after a crash) counts once.
cat >"$T_DIR/dsn" <<'DSN'
From: MAILER-DAEMON@herald-test.localdomain
To: RETURN_PATH
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; herald-test.localdomain

Final-Recipient: rfc822; g1@gone.test
Action: ACTION
Status: STATUS
Diagnostic-Code: smtp; 550 5.1.1 no such user

--b1--
DSN
g1=$(t_sql "SELECT id FROM recipients WHERE email = 'g1@gone.test'")
r1=$(t_sql "SELECT id FROM recipients WHERE email = 'r1@ok.test'")
rp() {	# MAILING RECIPIENT: the signed return path
	echo "bounces+$("$HERALD_BIN" token make --purpose return-path "$1" "$2")@bounce.test"
}
dsn() {	# RECIPIENT ACTION STATUS: the DSN above for them, to their return path
	sed "s/RETURN_PATH/$(rp 1 "$1")/; s/ACTION/$2/; s/STATUS/$3/" "$T_DIR/dsn"
}
snapshot() {
	t_sql "SELECT CONCAT_WS('|', (SELECT GROUP_CONCAT(CONCAT(row_id, delivery_state, IFNULL(relay_reply, '')) ORDER BY row_id) FROM stage_1),
		(SELECT bounced_count FROM mailings WHERE id = 1),
		(SELECT GROUP_CONCAT(CONCAT(id, status) ORDER BY id) FROM recipients),
		(SELECT GROUP_CONCAT(email ORDER BY email) FROM suppressions))" | md5sum
}
before=$(snapshot)
out=$(dsn "$g1" failed 5.1.1 | "$HERALD_BIN" bounce 2>&1)
[ $? = 0 ] && [[ $out == *"bounced already"*"nothing changed" ]] && [ "$(snapshot)" = "$before" ] &&
	t_ok "the same bounce again changes nothing ($out)" || t_fail "the same bounce again" "$out"

# A delay notice is reported and changes nothing.
out=$(dsn "$r1" delayed 4.4.1 | "$HERALD_BIN" bounce 2>&1)
[ $? = 0 ] && [[ $out == *"delayed 4.4.1, nothing recorded"* ]] && [ "$(snapshot)" = "$before" ] &&
	t_ok "a delay notice changes nothing" || t_fail "a delay notice changes nothing" "$out"

# Bad input: each refused with the reason, nothing changed.
printf 'From: a@b.test\nTo: %s\nSubject: out of office\n\nback Monday\n' "$(rp 1 "$r1")" >"$T_DIR/ooo"
# Mail that is none of the kinds herald reads (an auto-reply to a return
# path) is logged and dropped with exit 0: Postfix neither retries it
# nor returns it to its sender (backscatter).
t_expect_fail "mail that is no DSN is logged and dropped, exit 0" 0 "ignored, not a report.*not multipart/report" "$HERALD_BIN" bounce "$T_DIR/ooo"
dsn "$r1" failed 5.1.1 | sed 's/^To: .*/To: someone@bounce.test/' >"$T_DIR/nowhere"
t_expect_fail "a DSN naming no return path is logged and dropped, exit 0" 0 "ignored.*a DSN that names no herald return path" "$HERALD_BIN" bounce "$T_DIR/nowhere"
dsn "$r1" failed 5.1.1 >"$T_DIR/r1"
t_expect_fail "an unknown mailing is refused" 1 "mailing 99 does not exist" "$HERALD_BIN" bounce --recipient "$(rp 99 "$r1")" "$T_DIR/r1"
t_expect_fail "a recipient not in the mailing is refused" 1 "recipient 999999 was not in mailing 1" "$HERALD_BIN" bounce --recipient "$(rp 1 999999)" "$T_DIR/r1"
t_expect_fail "a --recipient that is no return path is refused" 1 "is not a herald return path" "$HERALD_BIN" bounce --recipient postmaster@bounce.test "$T_DIR/r1"
dsn "$r1" failed 9.1 >"$T_DIR/badstatus"
t_expect_fail "a malformed Status is refused with its line" 1 "line 12: Status \"9.1\" is no status code" "$HERALD_BIN" bounce "$T_DIR/badstatus"
t_expect_fail "a missing file is refused" 1 "cannot open" "$HERALD_BIN" bounce "$T_DIR/absent"
t_expect_fail "usage errors exit 2" 2 "usage: herald feedback" "$HERALD_BIN" bounce --nonsense
[ "$(snapshot)" = "$before" ] && t_ok "none of these changed anything" || t_fail "bad input changed nothing" "the database changed"

# Forged feedback against r2 (sent, active): r1's signed address moved
# to r2, an unsigned one, a made-up signature, a key never configured:
# each exits 0 (Postfix neither retries nor returns it), is logged and
# counted, and changes nothing.
refused() { t_sql "SELECT IFNULL(SUM(count), 0) FROM feedback_refused WHERE reason = '$1'"; }
r2=$(t_sql "SELECT id FROM recipients WHERE email = 'r2@ok.test'")
r1_rp=$(rp 1 "$r1")
moved="bounces+1-$r2-${r1_rp#bounces+1-$r1-}"
t_expect_fail "a signature moved to another recipient is refused, exit 0" 0 \
	"refused forged return path \"bounces\+1-$r2-k1-[a-z2-7]{13}@bounce.test\": bad signature.*nothing recorded \(1 forged refused today\)" \
	"$HERALD_BIN" bounce --recipient "$moved" "$T_DIR/r1"
t_expect_fail "an unsigned return path of a mailing staged since is refused, exit 0" 0 \
	"refused unsigned return path .*mailing 1 was staged after return paths were signed.*1 unsigned refused today" \
	"$HERALD_BIN" bounce --recipient "bounces+1-$r2@bounce.test" "$T_DIR/r1"
t_expect_fail "a made-up signature is refused" 0 "refused forged return path.*bad signature" \
	"$HERALD_BIN" bounce --recipient "bounces+1-$r2-k1-aaaaaaaaaaaaa@bounce.test" "$T_DIR/r1"
t_expect_fail "a key never configured is refused" 0 "refused forged.*key \"k9\", which is not among the keys in use" \
	"$HERALD_BIN" bounce --recipient "bounces+1-$r2-k9-aaaaaaaaaaaaa@bounce.test" "$T_DIR/r1"
t_expect_fail "a forged return path on mail that is no DSN is refused too, exit 0" 0 "refused forged" \
	"$HERALD_BIN" bounce --recipient "$moved" "$T_DIR/ooo"
dsn "$r2" failed 5.1.1 | sed "s/^To: .*/To: $moved/" >"$T_DIR/forged"
t_expect_fail "a forged return path in the To header is refused" 0 "refused forged" "$HERALD_BIN" bounce "$T_DIR/forged"
[ "$(refused forged)" = 5 ] && [ "$(refused unsigned)" = 1 ] && t_ok "feedback_refused counts them (5 forged, 1 unsigned)" ||
	t_fail "refusals counted" "$(t_sql "SELECT * FROM feedback_refused")"
[ "$(snapshot)" = "$before" ] && t_ok "no forgery changed anything" || t_fail "forgeries changed nothing" "the database changed"

# Through Postfix: a forged DSN mailed to the bounce domain by someone
# else is delivered to the pipe, which takes it (status=sent): no
# deferral, and no bounce back to the forger's address.
python3 - "$T_POSTFIX_PORT" "$moved" "$T_DIR/forged" <<'PY' || t_fail "the forged DSN is mailed to Postfix" "smtplib failed"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.sendmail("forger@ok.test", [sys.argv[2]],
               open(sys.argv[3], "rb").read().replace(b"\n", b"\r\n"))
PY
for _ in $(seq 1 300); do grep -q "to=<$moved>.*status=" "$(t_postfix_log)" && break; sleep 0.2; done
line=$(grep "to=<$moved>.*status=" "$(t_postfix_log)")
[[ $line == *"relay=herald-bounce"*"status=sent"* ]] && [ "$(refused forged)" = 6 ] &&
	t_ok "Postfix hands the forgery to herald bounce, which takes it: status=sent, counted" ||
	t_fail "Postfix delivers the forgery to the pipe" "$line; forged $(refused forged)"
grep -q "to=<forger@ok.test>" "$(t_postfix_log)" &&
	t_fail "no backscatter to the forger" "$(grep "forger@ok.test" "$(t_postfix_log)" | tail -3)" ||
	t_ok "and returns nothing to the forger's address"
[ "$(snapshot)" = "$before" ] && t_ok "and nothing changed" || t_fail "forgery through Postfix changed nothing" "the database changed"

# The grace period: unsigned return paths of a mailing staged before
# the upgrade (the signing migration's applied_at) are accepted for 14
# days after it, then refused.
upgrade="SELECT applied_at FROM schema_migrations WHERE name LIKE '%signed\\_return\\_paths.sql'"
saved_upgrade=$(t_sql "$upgrade")
t_sql "UPDATE schema_migrations SET applied_at = (SELECT staged_at + INTERVAL 1 SECOND FROM mailings WHERE id = 1) WHERE name LIKE '%signed\\_return\\_paths.sql'"
dsn "$r1" delayed 4.4.1 | sed "s/^To: .*/To: bounces+1-$r1@bounce.test/" >"$T_DIR/unsigned"
out=$("$HERALD_BIN" bounce "$T_DIR/unsigned" 2>&1)
[ $? = 0 ] && [[ $out == *"delayed 4.4.1, nothing recorded"* ]] &&
	t_ok "an unsigned return path of a mailing staged before the upgrade is accepted" || t_fail "unsigned within the grace period" "$out"
t_sql "UPDATE schema_migrations SET applied_at = UTC_TIMESTAMP() - INTERVAL 15 DAY WHERE name LIKE '%signed\\_return\\_paths.sql'"
t_sql "UPDATE mailings SET staged_at = UTC_TIMESTAMP() - INTERVAL 16 DAY WHERE id = 1"
t_expect_fail "and refused 14 days after the upgrade" 0 "refused unsigned.*accepted for 14 days after it" \
	"$HERALD_BIN" bounce "$T_DIR/unsigned"
t_sql "UPDATE schema_migrations SET applied_at = '$saved_upgrade' WHERE name LIKE '%signed\\_return\\_paths.sql'"

# The database out of reach: exit 75 (EX_TEMPFAIL), Postfix keeps it.
sed "s|^database_socket = .*|database_socket = $T_DIR/no.sock|" "$T_CONFIG" >"$T_DIR/down.conf"
t_expect_fail "the database out of reach exits 75: Postfix keeps the bounce" 75 "try again later" \
	"$HERALD_BIN" --config "$T_DIR/down.conf" bounce "$T_DIR/r1"
[ "$(snapshot)" = "$before" ] && t_ok "and nothing changed" || t_fail "database down changed nothing" "changed"

# The next mailing is not staged for the bounced addresses.
"$HERALD_BIN" mailing create --name second --template "$T_DIR/t" --segment all --from a@herald.test --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
staged=$(t_sql "SELECT COUNT(*), SUM(email LIKE '%@gone.test') FROM stage_2")
[ "$staged" = "$OK	0" ] && t_ok "the next mailing is staged for the $OK others only" || t_fail "next mailing skips bounced" "$staged"
# Token purposes: the view-online link carries a token of its own,
# which cannot unsubscribe; the unsubscribe token cannot sign a return
# path.
mkdir -p "$T_DIR/v" && echo "view {{view_online_url}} unsubscribe {{unsubscribe_url}}" >"$T_DIR/v/text.mustache"
"$HERALD_BIN" mailing create --name links --template "$T_DIR/v" --segment all --from a@herald.test --subject s >/dev/null
"$HERALD_BIN" preview 3 --recipient r1@ok.test 2>&1 | tr -d '\r' |
	python3 -c 'import quopri, sys; sys.stdout.write(quopri.decodestring(sys.stdin.buffer.read()).decode())' >"$T_DIR/preview"
view=$(sed -n 's|.*view https://herald.test/view?t=\([^ ]*\) unsubscribe.*|\1|p' "$T_DIR/preview" | tr -d '\r')
unsub=$(sed -n 's|.*unsubscribe https://herald.test/unsubscribe?t=\([^ ]*\).*|\1|p' "$T_DIR/preview" | tr -d '\r')
[ -n "$view" ] && [ -n "$unsub" ] && [ "$view" != "$unsub" ] &&
	t_ok "the view-online link does not carry the unsubscribe token" || t_fail "separate view-online token" "view '$view', unsubscribe '$unsub': $(cat "$T_DIR/preview")"
t_check "the view-online token verifies as one" "$HERALD_BIN" token verify --purpose view-online "$view"
t_expect_fail "and cannot unsubscribe" 1 "is a view-online token; it cannot be used as a unsubscribe token" \
	"$HERALD_BIN" token verify "$view"
t_check "the unsubscribe token verifies" "$HERALD_BIN" token verify "$unsub"
t_expect_fail "and cannot sign a return path" 1 "malformed return-path token" \
	"$HERALD_BIN" token verify --purpose return-path "$unsub"
"$HERALD_BIN" report 1 >"$T_DIR/report" 2>&1
grep -q "bounced" "$T_DIR/report" && t_ok "herald report shows the bounces" || t_fail "herald report shows the bounces" "$(cat "$T_DIR/report")"
t_done
