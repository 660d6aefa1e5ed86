#!/bin/bash
# db_accounts.sh - one database account per role, created by db init.
#
# With daemon_database_user and intake_database_user set, "herald db
# init" creates both with their grants. heraldd sends a whole mailing as
# the daemon account (the stager granted it the new stage table), and
# "herald bounce" records a bounce as the intake account. Neither can
# drop a table; the daemon cannot read recipients at all, the intake
# only their id and status; an account without a password is refused.
# With web_database_user set too, herald-web records a one-click
# unsubscribe as its own account, which can read recipients' addresses
# and statuses only.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
t_start_sink "$T_DIR/sink"
daemon_user="hd$$" intake_user="hi$$" web_user="hw$$"
daemon_pw="daemon-pw-$RANDOM-$RANDOM" intake_pw="intake-pw-$RANDOM-$RANDOM"
web_pw="web-pw-$RANDOM-$RANDOM"
WEB_PORT=$(t_free_port)
for u in $daemon_user $intake_user $web_user; do
	t_at_exit "t_sql \"DROP USER IF EXISTS '$u'@'localhost', '$u'@'%'\" >/dev/null 2>&1"
done
cat >>"$T_CONFIG" <<CONF
relay_port = $T_SINK_PORT
worker_count = 2
metrics_interval = 0
bounce_domain = bounce.test
daemon_database_user = $daemon_user
daemon_database_password = $daemon_pw
intake_database_user = $intake_user
intake_database_password = $intake_pw
web_database_user = $web_user
web_database_password = $web_pw
web_listen = 127.0.0.1:$WEB_PORT
CONF
chmod 600 "$T_CONFIG"
t_check "db init creates the accounts" "$HERALD_BIN" db init
as() {	# USER PASSWORD SQL: run SQL as that account; stderr in $T_DIR/as.err
	mariadb --no-defaults --socket="$HERALD_TEST_SOCKET" -u"$1" -p"$2" \
	    --batch --skip-column-names "$T_DATABASE" -e "$3" 2>"$T_DIR/as.err"
}
denied() {	# WHAT USER PASSWORD SQL
	if as "$2" "$3" "$4" >/dev/null; then
		t_fail "$1" "it was allowed: $4"
	elif grep -Eq "denied|command denied" "$T_DIR/as.err"; then
		t_ok "$1"
	else
		t_fail "$1" "$(cat "$T_DIR/as.err")"
	fi
}

mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
{ echo "email,first_name,donated_total"; for i in $(seq 1 30); do echo "r$i@example.org,R$i,$i"; done; } >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name one --template "$T_DIR/t" --segment all --from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
# heraldd and herald bounce get a configuration whose operator password
# is wrong: what they do, they do as their own accounts.
{ cat "$T_CONFIG"; echo "database_password = not-the-operators"; } >"$T_DIR/role.conf"
chmod 600 "$T_DIR/role.conf"
t_expect_fail "(the operator's account is out of reach with it)" 1 "cannot connect.*as user \"root\"" \
	"$HERALD_BIN" --config "$T_DIR/role.conf" mailing list
"$HERALDD_BIN" -f --config "$T_DIR/role.conf" >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
for _ in $(seq 1 300); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	sleep 0.2
done
kill -TERM $daemon; wait $daemon
[ "$(t_sql "SELECT sent_count FROM mailings WHERE id = 1")" = 30 ] &&
	t_ok "heraldd sends the whole mailing as the daemon account" ||
	t_fail "heraldd sends as the daemon account" "$(t_sql "SELECT state, sent_count FROM mailings WHERE id = 1"); $(tail -4 "$T_DIR/heraldd.log")"
! grep -Eq "cannot connect|denied" "$T_DIR/heraldd.log" && t_ok "with no connection or privilege error" ||
	t_fail "no connection or privilege errors" "$(grep -E "cannot connect|denied" "$T_DIR/heraldd.log" | head -2)"

denied "the daemon account cannot DROP a table" $daemon_user "$daemon_pw" "DROP TABLE recipients"
denied "nor drop a stage table" $daemon_user "$daemon_pw" "DROP TABLE stage_1"
denied "nor read recipients' donations" $daemon_user "$daemon_pw" "SELECT donated_total FROM recipients"
denied "nor their addresses" $daemon_user "$daemon_pw" "SELECT email FROM recipients"
denied "nor create a table" $daemon_user "$daemon_pw" "CREATE TABLE x (a INT)"
[ "$(as $daemon_user "$daemon_pw" "SELECT COUNT(*) FROM stage_1")" = 30 ] &&
	t_ok "it reads the stage table it sends from" || t_fail "daemon reads stage_1" "$(cat "$T_DIR/as.err")"

denied "the intake account cannot DROP a table" $intake_user "$intake_pw" "DROP TABLE suppressions"
denied "nor read recipients' names" $intake_user "$intake_pw" "SELECT first_name FROM recipients"
denied "nor the names in a stage table" $intake_user "$intake_pw" "SELECT first_name FROM stage_1"
denied "nor remove a suppression" $intake_user "$intake_pw" "DELETE FROM suppressions"
denied "nor change an address" $intake_user "$intake_pw" "UPDATE recipients SET email = 'x@example.org'"
denied "nor touch batches" $intake_user "$intake_pw" "SELECT * FROM batches"

# A bounce recorded as the intake account.
r5=$(t_sql "SELECT id FROM recipients WHERE email = 'r5@example.org'")
rp="bounces+$("$HERALD_BIN" token make --purpose return-path 1 "$r5")@bounce.test"
cat >"$T_DIR/dsn" <<DSN
To: $rp
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.test

Final-Recipient: rfc822; r5@example.org
Action: failed
Status: 5.1.1

--b--
DSN
t_check "herald bounce records a bounce as the intake account" "$HERALD_BIN" --config "$T_DIR/role.conf" bounce "$T_DIR/dsn"
[ "$(t_sql "SELECT status FROM recipients WHERE id = $r5")" = bounced ] &&
[ "$(t_sql "SELECT delivery_state FROM stage_1 WHERE recipient_id = $r5")" = bounced ] &&
[ "$(t_sql "SELECT COUNT(*) FROM suppressions WHERE email = 'r5@example.org'")" = 1 ] &&
	t_ok "the recipient, the row and the suppression are recorded" ||
	t_fail "bounce recorded" "$(cat "$T_DIR/out" "$T_DIR/err")"
t_expect_fail "an unsigned one is judged (grace period) and counted as the intake account" 0 \
	"refused unsigned return path.*staged after return paths were signed.*1 unsigned refused today" \
	"$HERALD_BIN" --config "$T_DIR/role.conf" bounce --recipient "bounces+1-$r5@bounce.test" "$T_DIR/dsn"
t_expect_fail "a forged return path is counted as the intake account" 0 "1 forged refused today" \
	"$HERALD_BIN" --config "$T_DIR/role.conf" bounce --recipient "bounces+1-$r5-k1-aaaaaaaaaaaaa@bounce.test" "$T_DIR/dsn"
# A complaint and a mailto unsubscribe, and the brake's look at the
# mailing, as the intake account.
r6=$(t_sql "SELECT id FROM recipients WHERE email = 'r6@example.org'")
r7=$(t_sql "SELECT id FROM recipients WHERE email = 'r7@example.org'")
sed "s/RETURN_PATH/bounces+$("$HERALD_BIN" token make --purpose return-path 1 "$r6")@bounce.test/g" \
	"$HERALD_SRCDIR/tests/data/feedback/arf-yahoo-abuse.eml" >"$T_DIR/arf"
t_sql "UPDATE mailings SET state = 'sending' WHERE id = 1"
# With minimum volumes of 1, that one complaint pulls the mailing: the
# brake reads and moves it as the intake account.
{ cat "$T_DIR/role.conf"; echo "brake_min_delivered = 1"; echo "brake_min_events = 1"; } >"$T_DIR/brake.conf"
chmod 600 "$T_DIR/brake.conf"
t_check "herald feedback records a complaint as the intake account" "$HERALD_BIN" --config "$T_DIR/brake.conf" feedback "$T_DIR/arf"
[ "$(t_sql "SELECT status FROM recipients WHERE id = $r6")" = complained ] &&
	t_ok "the recipient is complained" || t_fail "complaint recorded" "$(cat "$T_DIR/out" "$T_DIR/err")"
[ "$(t_sql "SELECT CONCAT(state, ' ', pulled_reason LIKE 'brake: complaints 1 of %') FROM mailings WHERE id = 1")" = "pulled 1" ] &&
	t_ok "and the brake pulls the mailing as the intake account" || t_fail "brake as intake" "$(t_sql "SELECT state, pulled_reason FROM mailings WHERE id = 1"); $(cat "$T_DIR/err")"
sed "s/UNSUBSCRIBE_TOKEN/$("$HERALD_BIN" token make 1 "$r7")/" "$HERALD_SRCDIR/tests/data/feedback/mailto-unsubscribe.eml" >"$T_DIR/mailto"
t_check "herald feedback records a mailto unsubscribe as the intake account" "$HERALD_BIN" --config "$T_DIR/role.conf" feedback "$T_DIR/mailto"
[ "$(t_sql "SELECT status FROM recipients WHERE id = $r7")" = unsubscribed ] &&
	t_ok "the recipient is unsubscribed" || t_fail "mailto recorded" "$(cat "$T_DIR/out" "$T_DIR/err")"

# A late bounce, after herald maintain moved the mailing into its
# monthly archive, recorded as the intake account.
# (The brake pulled it above; a cancelled mailing is compacted too.)
echo "compact_after = 0" >>"$T_CONFIG"
t_check "mailing 1 cancelled" "$HERALD_BIN" mailing cancel 1
t_check "herald maintain archives the mailing" "$HERALD_BIN" maintain
archive=$(t_sql "SELECT stage_table FROM mailings WHERE id = 1")
[[ $archive == history_* ]] && t_ok "mailing 1 now lives in $archive" ||
	t_fail "mailing 1 archived" "its table: $archive"
denied "the intake account cannot read names in the archive" $intake_user "$intake_pw" "SELECT first_name FROM $archive"
r8=$(t_sql "SELECT id FROM recipients WHERE email = 'r8@example.org'")
sed "s/r5@example.org/r8@example.org/" "$T_DIR/dsn" >"$T_DIR/dsn8"
t_check "herald bounce records a late bounce as the intake account" "$HERALD_BIN" --config "$T_DIR/role.conf" bounce \
	--recipient "bounces+$("$HERALD_BIN" token make --purpose return-path 1 "$r8")@bounce.test" "$T_DIR/dsn8"
[ "$(t_sql "SELECT COUNT(*) FROM bounces WHERE mailing_id = 1 AND recipient_id = $r8")" = 1 ] &&
[ "$(t_sql "SELECT status FROM recipients WHERE id = $r8")" = bounced ] &&
	t_ok "the late bounce is in the bounces table and the recipient is bounced" ||
	t_fail "late bounce recorded" "$(t_sql "SELECT status FROM recipients WHERE id = $r8")"

# A one-click unsubscribe recorded by herald-web as the web account.
denied "the web account cannot DROP a table" $web_user "$web_pw" "DROP TABLE suppressions"
denied "nor read recipients' names" $web_user "$web_pw" "SELECT first_name FROM recipients"
denied "nor read an archive" $web_user "$web_pw" "SELECT email FROM $archive"
denied "nor remove a suppression" $web_user "$web_pw" "DELETE FROM suppressions"
denied "nor change an address" $web_user "$web_pw" "UPDATE recipients SET email = 'x@example.org'"
denied "nor touch batches" $web_user "$web_pw" "SELECT * FROM batches"
if command -v curl >/dev/null; then
	"$HERALD_WEB_BIN" -f --config "$T_DIR/role.conf" >"$T_DIR/web.log" 2>&1 &
	web=$!
	t_at_exit "kill $web 2>/dev/null"
	for _ in $(seq 1 200); do
		grep -q "listening on" "$T_DIR/web.log" && break
		kill -0 $web 2>/dev/null || break
		sleep 0.1
	done
	r9=$(t_sql "SELECT id FROM recipients WHERE email = 'r9@example.org'")
	code=$(curl -s -o "$T_DIR/body" -w '%{http_code}' -d List-Unsubscribe=One-Click \
	    "http://127.0.0.1:$WEB_PORT/u/$("$HERALD_BIN" token make 1 "$r9")")
	[ "$code" = 200 ] && [ "$(t_sql "SELECT status FROM recipients WHERE id = $r9")" = unsubscribed ] &&
	[ "$(t_sql "SELECT channel FROM suppressions WHERE email = 'r9@example.org'")" = one-click ] &&
		t_ok "herald-web records a one-click unsubscribe as the web account" ||
		t_fail "herald-web unsubscribes as the web account" "HTTP $code; $(cat "$T_DIR/web.log")"
	! grep -Eq "cannot connect|denied" "$T_DIR/web.log" && t_ok "with no connection or privilege error" ||
		t_fail "herald-web: no privilege errors" "$(grep -E "cannot connect|denied" "$T_DIR/web.log" | head -2)"
	kill $web; wait $web 2>/dev/null
else
	t_fail "curl is installed (contrib/check installs it)" "not found"
fi

sed -i "s/^intake_database_password = .*/intake_database_password =/" "$T_CONFIG"
t_expect_fail "an account without a password is refused" 1 \
	"intake_database_user \"$intake_user\" has no password \(intake_database_password\)" "$HERALD_BIN" db migrate
t_done
