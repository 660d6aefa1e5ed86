#!/bin/bash
# maintain.sh - herald maintain against real MariaDB servers: finished
# mailings move from their stage tables into monthly archives, the
# history MERGE table then lists the archives, the history stays
# queryable, a run killed at each step is completed by the next without
# duplicating rows, expired leases are released, and closed months are
# packed with myisampack on the embedded server. A bounce that arrives
# after compaction, and after packing, is recorded all the same.
. "$HERALD_SRCDIR/tests/lib/common.sh"
t_use_database
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
tpl="$T_DIR/t"; mkdir -p "$tpl"; echo "Hi {{first_name}}" >"$tpl/text.mustache"
awk 'BEGIN { print "email,first_name"; for (i = 1; i <= 300; i++) printf "m%d@example.org,M%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
new_mailing() {	# NAME: a staged mailing, then marked done two days ago
	"$HERALD_BIN" mailing create --name "$1" --template "$tpl" --segment all \
	    --from a@example.org --subject s >/dev/null
	"$HERALD_BIN" stage >/dev/null
	t_sql "UPDATE mailings SET state = 'done', finished_at = UTC_TIMESTAMP() - INTERVAL 2 DAY WHERE name = '$1'"
}
month=$(t_sql "SELECT DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL 2 DAY, '%Y%m')")
new_mailing one; new_mailing two; new_mailing three
"$HERALD_BIN" mailing create --name fresh --template "$tpl" --segment all --from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null
t_sql "UPDATE batches SET state = 'claimed', owner_node = 'gone', owner_pid = 1, lease_expires_at = NOW(3) - INTERVAL 1 MINUTE WHERE mailing_id = 4 LIMIT 1"

t_check "herald maintain" "$HERALD_BIN" maintain
grep -q "compacted 3 mailings, packed 0 archives, released 1 lease; history has 2 tables" "$T_DIR/out" &&
	t_ok "it compacts the three finished mailings and releases the expired lease" ||
	t_fail "compacts and releases" "$(cat "$T_DIR/out" "$T_DIR/err")"
union=$(t_sql "SHOW CREATE TABLE history" | tr -d '\n' | grep -o 'UNION=([^)]*)')
[ "$union" = "UNION=(\`stage_4\`,\`history_$month\`)" ] && t_ok "history's UNION: the running mailing and one archive" ||
	t_fail "history's UNION" "$union"
[ "$(t_sql "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('stage_1', 'stage_2', 'stage_3')")" = 0 ] &&
	t_ok "their stage tables are dropped" || t_fail "stage tables dropped" "still there"
[ "$(t_sql "SELECT COUNT(*) FROM history_$month")" = 900 ] && [ "$(t_sql "SELECT COUNT(*) FROM history")" = 1200 ] &&
	t_ok "every row is in the archive once, and in history" || t_fail "rows" "$(t_sql "SELECT COUNT(*) FROM history_$month")"
t_check "herald history still finds them" "$HERALD_BIN" history m7@example.org
[ "$(grep -c '^ *[0-9]' "$T_DIR/out")" = 4 ] && t_ok "four mailings for one recipient" || t_fail "four mailings" "$(cat "$T_DIR/out")"
t_check "preview of an archived mailing" "$HERALD_BIN" preview 2 --recipient m7@example.org
[ "$(t_sql "SELECT COUNT(*) FROM batches WHERE mailing_id IN (1, 2, 3)")" = 0 ] &&
	[ "$(t_sql "SELECT COUNT(*) FROM batches WHERE state = 'claimed'")" = 0 ] &&
	t_ok "their batches are gone; no claimed batch left" || t_fail "batches" "$(t_sql "SELECT mailing_id, state FROM batches")"
t_check "a second run has nothing to do" "$HERALD_BIN" maintain
[ ! -s "$T_DIR/out" ] && t_ok "and is silent" || t_fail "silent" "$(cat "$T_DIR/out")"

# A late bounce (Postfix returns a DSN after maximal_queue_lifetime, 5
# days) finds the row in the archive: recorded, counted, suppressed.
dsn() {	# MAILING RECIPIENT-ID: a permanent failure for them
	# The return path as heraldd signs it (herald bounce refuses others).
	printf '%s\n' 'From: MAILER-DAEMON@mx.test' \
	    "To: bounces+$("$HERALD_BIN" token make --purpose return-path "$1" "$2")@bounce.test" \
	    'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"' '' \
	    '--b1' 'Content-Type: message/delivery-status' '' 'Reporting-MTA: dns; mx.test' '' \
	    'Final-Recipient: rfc822; someone' 'Action: failed' 'Status: 5.1.1' \
	    'Diagnostic-Code: smtp; 550 5.1.1 no such user' '' '--b1--'
}
late_bounce() {	# SQL MAILING EMAIL WHERE: herald bounce, then what it recorded
	local id
	id=$($1 "SELECT id FROM recipients WHERE email = '$3'")
	dsn "$2" "$id" >"$T_DIR/dsn"
	t_check "a bounce for mailing $2 after $4 is accepted" "$HERALD_BIN" bounce "$T_DIR/dsn"
	[ "$($1 "SELECT CONCAT_WS(' ', (SELECT bounced_count FROM mailings WHERE id = $2),
	        (SELECT COUNT(*) FROM bounces WHERE mailing_id = $2 AND recipient_id = $id),
	        (SELECT status FROM recipients WHERE id = $id),
	        (SELECT reason FROM suppressions WHERE email = '$3'))")" = "1 1 bounced bounced" ] &&
		t_ok "it is recorded once, counted, the recipient bounced and suppressed" ||
		t_fail "bounce after $4 recorded" "$(cat "$T_DIR/out" "$T_DIR/err")"
	"$HERALD_BIN" report "$2" >"$T_DIR/report" 2>&1
	"$HERALD_BIN" history "$3" >"$T_DIR/history" 2>&1
	grep -Eq '^ +bounced +1 *$' "$T_DIR/report" && grep -Eq "^ +$2 +bounced .*5\.1\.1" "$T_DIR/history" &&
		t_ok "herald report and herald history show it bounced" ||
		t_fail "report and history after $4" "$(cat "$T_DIR/report" "$T_DIR/history")"
	"$HERALD_BIN" bounce "$T_DIR/dsn" >"$T_DIR/out" 2>&1
	[ "$($1 "SELECT bounced_count FROM mailings WHERE id = $2")" = 1 ] && grep -q "nothing changed" "$T_DIR/out" &&
		t_ok "the same bounce again changes nothing" || t_fail "bounce again after $4" "$(cat "$T_DIR/out")"
}
# Killed at each step: the next run completes without duplicates.
n=5
for step in archived swapped; do
	new_mailing "kill-$step"
	{ HERALD_TEST_KILL_AT=$step "$HERALD_BIN" maintain; } >/dev/null 2>&1
	killed=$?
	"$HERALD_BIN" maintain >"$T_DIR/after" 2>&1
	rows=$(t_sql "SELECT COUNT(*) FROM history_$month WHERE mailing_id = $n")
	gone=$(t_sql "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'stage_$n'")
	seen=$(t_sql "SELECT COUNT(*) FROM history WHERE mailing_id = $n")
	[ $killed = 137 ] && [ "$rows" = 300 ] && [ "$gone" = 0 ] && [ "$seen" = 300 ] &&
		t_ok "killed after '$step': the next run finishes, 300 rows once" ||
		t_fail "killed after '$step'" "exit $killed, archive $rows, stage table $gone, history $seen; $(cat "$T_DIR/after")"
	n=$((n + 1))
done
late_bounce t_sql 2 m7@example.org compaction

# Packing closed months needs the server's files: an embedded server.
cat >"$T_DIR/embedded.conf" <<CONF
state_directory = $T_DIR/embedded
sql_directory = $HERALD_SRCDIR/sql
CONF
export HERALD_CONFIG="$T_DIR/embedded.conf"
t_at_exit "HERALD_CONFIG='$T_DIR/embedded.conf' '$HERALD_BIN' db stop >/dev/null 2>&1"
"$HERALD_BIN" db init >/dev/null 2>&1 || t_fail "embedded db init" "failed"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name old --template "$tpl" --segment all --from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null
esql() { mariadb --no-defaults --socket="$T_DIR/embedded/mariadb/mysqld.sock" -uroot herald -N -e "$1"; }
esql "UPDATE mailings SET state = 'done', finished_at = UTC_TIMESTAMP() - INTERVAL 3 MONTH"
old=$(esql "SELECT DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL 3 MONTH, '%Y%m')")
t_check "maintain on the embedded server" "$HERALD_BIN" maintain
grep -q "packed 1 archive" "$T_DIR/out" &&
	[ "$(esql "SELECT ROW_FORMAT FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'herald' AND TABLE_NAME = 'history_$old'")" = Compressed ] &&
	t_ok "a closed month's archive is packed (myisampack)" || t_fail "packed" "$(cat "$T_DIR/out" "$T_DIR/err")"
[ "$(esql "SELECT COUNT(*) FROM history WHERE mailing_id = 1")" = 300 ] &&
	t_ok "the packed archive is read through history" || t_fail "packed archive in history" "$(esql "SHOW CREATE TABLE history")"
late_bounce esql 1 m9@example.org packing
t_done
