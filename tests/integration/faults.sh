#!/bin/bash
# faults.sh - real faults while heraldd sends, each ending with the same
# accounting: messages, lost (recipients the sink never received),
# duplicates (received more than once), final states in the database.
#   - the MariaDB server stopped for 10 s and started again mid-send;
#   - the primary relay down (it stops answering) with a backup up;
#   - both relays down for 30 s, then back;
#   - a relay answering 5xx, then 4xx, to every RCPT.
# Uses its own embedded MariaDB (herald db start/stop), so stopping it
# touches no other test. Prints the Guarantees table of the README.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
export HERALD_CONFIG="$T_DIR/herald.conf"
primary=$(t_free_port)
backup=$(t_free_port)
WORKERS=2
SESSION=20
cat >"$HERALD_CONFIG" <<CONF
state_directory = $T_DIR/state
user =
sql_directory = $HERALD_SRCDIR/sql
relay_port = $primary
relay_backup_host = 127.0.0.1
relay_backup_port = $backup
relay_retry_limit = 2s
relay_timeout = 5
retry_schedule = 2s 2s 2s 2s 2s
worker_count = $WORKERS
relay_session_size = $SESSION
batch_size = 200
batch_lease = 10
pid_file = $T_DIR/heraldd.pid
CONF
"$HERALD_BIN" db init >/dev/null 2>&1 || t_skip "the embedded MariaDB did not start"
t_at_exit "'$HERALD_BIN' db stop --force >/dev/null 2>&1"
sql() { mariadb --no-defaults --socket="$T_DIR/state/mariadb/mysqld.sock" -uroot herald -N -e "$1"; }
mkdir -p "$T_DIR/t" "$T_DIR/sink"
chown nobody "$T_DIR/sink"; chmod 711 "$T_DIR"
echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
awk 'BEGIN { print "email,first_name"; for (i = 1; i <= 3000; i++) printf "f%d@example.org,F%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null || t_fail "import" "failed"

sink_on() {	# PORT: a sink dumping into $T_DIR/sink; its pid in sink_pid_PORT
	/usr/sbin/smtp-sink -u nobody -d "$T_DIR/sink/%H%M%S." "127.0.0.1:$1" 1000 >>"$T_DIR/sink.log" 2>&1 &
	eval "sink_pid_$1=$!"
	t_at_exit "kill $! 2>/dev/null"
	for _ in $(seq 1 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null && return; sleep 0.1; done
}
# A relay goes down by hanging (SIGSTOP: connections are accepted by the
# kernel and never answered, so workers time out) and comes back with
# SIGCONT. Killing smtp-sink instead could lose a message it had just
# acknowledged (it writes its dump after replying): the sink's loss, not
# herald's, and not what a real relay does.
sink_off() { eval "kill -STOP \$sink_pid_$1"; }
sink_back() { eval "kill -CONT \$sink_pid_$1"; }
sent() { sql "SELECT COUNT(*) FROM stage_$1 WHERE delivery_state = 'sent'" 2>/dev/null || echo 0; }
wait_sent() { for _ in $(seq 1 600); do [ "$(sent "$1")" -ge "$2" ] && return 0; sleep 0.1; done; return 1; }
wait_done() { for _ in $(seq 1 1200); do [ "$(sql "SELECT state FROM mailings WHERE id = $1" 2>/dev/null)" = done ] && return 0; sleep 0.1; done; return 1; }
table=""
# account MAILING FAULT: compare the sink with the database; one table row.
# A message whose end of DATA went out but whose reply never came (the
# relay died right then) is recorded sent with "possibly delivered" in
# its reply, as documented: it may be missing from the sink without
# being lost. Lost = recorded sent on a real 2xx, yet never received.
account() {
	local total distinct states possibly lost
	sleep 1
	grep -h "^Message-ID: <herald\.$1\." -r "$T_DIR/sink" | sed 's/.*herald\.[0-9]*\.\([0-9]*\)@.*/\1/' | sort >"$T_DIR/received"
	total=$(wc -l <"$T_DIR/received")
	distinct=$(sort -u "$T_DIR/received" | wc -l)
	states=$(sql "SELECT GROUP_CONCAT(CONCAT(delivery_state, ' ', n) ORDER BY delivery_state SEPARATOR ', ') FROM (SELECT delivery_state, COUNT(*) n FROM stage_$1 GROUP BY delivery_state) s")
	possibly=$(sql "SELECT COUNT(*) FROM stage_$1 WHERE relay_reply LIKE '%possibly delivered%'")
	sql "SELECT recipient_id FROM stage_$1 WHERE relay_reply IS NULL OR relay_reply NOT LIKE '%possibly delivered%'" | sort >"$T_DIR/confirmed"
	lost=$(sort -u "$T_DIR/received" | comm -13 - "$T_DIR/confirmed" | wc -l)
	table="$table
| $2 | 3000 | $lost | $((total - distinct)) | $states$([ "$possibly" -gt 0 ] && echo " ($possibly possibly delivered)") |"
	[ "$lost" = 0 ] && t_ok "$2: nothing lost ($distinct of 3000 received, $possibly possibly delivered)" ||
		t_fail "$2: nothing lost" "$lost recorded sent but not received; $distinct of 3000 received"
	[ $((total - distinct)) -le $((WORKERS * SESSION)) ] &&
		t_ok "$2: duplicates ($((total - distinct))) at most the $((WORKERS * SESSION)) in flight" ||
		t_fail "$2: duplicates at most in flight" "$((total - distinct))"
	[ "$states" = "sent 3000" ] && t_ok "$2: every row sent in the database" || t_fail "$2: every row sent" "$states"
}
new_mailing() {
	"$HERALD_BIN" mailing create --name "$1" --template "$T_DIR/t" --segment all --from a@example.org --subject s >/dev/null
	"$HERALD_BIN" stage >"$T_DIR/stage.out" 2>&1 || { echo "herald stage failed:"; cat "$T_DIR/stage.out"; }
}

sink_on "$primary"
sink_on "$backup"
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"

# 1. MariaDB stopped for 10 s mid-send.
new_mailing db-restart
wait_sent 1 600 || t_fail "mailing 1 sends" "$(tail -5 "$T_DIR/heraldd.log")"
"$HERALD_BIN" db stop --force >/dev/null 2>&1 || t_fail "MariaDB stops under heraldd" "db stop --force failed"
sleep 10
"$HERALD_BIN" db start >/dev/null 2>&1 || t_fail "MariaDB starts again" "failed"
wait_done 1 && t_ok "mailing 1 finishes after MariaDB came back" || t_fail "mailing 1 finishes" "$(sent 1) sent; $(tail -5 "$T_DIR/heraldd.log")"
grep -q "reconnecting\|retrying" "$T_DIR/heraldd.log" && t_ok "workers said they were reconnecting" ||
	t_fail "workers said they were reconnecting" "$(tail -5 "$T_DIR/heraldd.log")"
account 1 "MariaDB stopped 10 s mid-send"

# 2. The primary relay down, the backup up.
new_mailing primary-down
wait_sent 2 600
sink_off "$primary"
wait_sent 2 2400
sink_back "$primary"
wait_done 2 && t_ok "mailing 2 finishes through the backup" || t_fail "mailing 2 finishes" "$(sent 2) sent"
grep -q "relay 127.0.0.1:$primary is down" "$T_DIR/heraldd.log" && t_ok "the primary was marked down" ||
	t_fail "the primary was marked down" "$(tail -5 "$T_DIR/heraldd.log")"
account 2 "primary relay down (stops answering), backup up"

# 3. Both relays down for 30 s.
new_mailing both-down
wait_sent 3 600
sink_off "$primary"; sink_off "$backup"
# Sessions in flight end at relay_timeout (5 s): recorded then (sent as
# "possibly delivered", or deferred). From then on nothing may change.
sleep 6
before=$(sent 3)
sleep 24
after=$(sent 3)
[ "$before" = "$after" ] && t_ok "nothing is recorded sent while every relay is down" ||
	t_fail "nothing recorded while down" "$before then $after"
sink_back "$primary"; sink_back "$backup"
wait_done 3 && t_ok "mailing 3 finishes when the relays are back" || t_fail "mailing 3 finishes" "$(sent 3) sent; $(tail -5 "$T_DIR/heraldd.log")"
account 3 "both relays down (not answering) 30 s"

kill -TERM $daemon; wait $daemon

# 4. and 5. A relay answering 5xx, then 4xx, to every RCPT (smtp-sink's
# -f and -r): 5xx fails at once with the reply kept; 4xx is deferred,
# retried on retry_schedule, failed after the last retry.
hard=$(t_free_port)
soft=$(t_free_port)
/usr/sbin/smtp-sink -u nobody -f rcpt "127.0.0.1:$hard" 100 >>"$T_DIR/sink.log" 2>&1 &
t_at_exit "kill $! 2>/dev/null"
/usr/sbin/smtp-sink -u nobody -r rcpt "127.0.0.1:$soft" 100 >>"$T_DIR/sink.log" 2>&1 &
t_at_exit "kill $! 2>/dev/null"
sed -i "/^relay_backup_host/d; /^relay_backup_port/d; s/^relay_port = .*/relay_port = $hard/" "$HERALD_CONFIG"
sed -i "s/^retry_schedule = .*/retry_schedule = 1s 1s/" "$HERALD_CONFIG"
"$HERALD_BIN" mailing create --name hard --template "$T_DIR/t" --segment "email starts with f1" --from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
"$HERALDD_BIN" -f >>"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
wait_done 4
states=$(sql "SELECT GROUP_CONCAT(DISTINCT CONCAT(delivery_state, ' ', attempts, ' ', LEFT(relay_reply, 1))) FROM stage_4")
[ "$states" = "failed 1 5" ] && t_ok "5xx to RCPT: failed at once, the reply kept" || t_fail "5xx to RCPT" "$states"
table="$table
| relay answers 5xx to RCPT | $(sql "SELECT COUNT(*) FROM stage_4") | - | 0 | $(sql "SELECT CONCAT('failed ', COUNT(*), ' after 1 attempt') FROM stage_4 WHERE delivery_state = 'failed' AND attempts = 1") |"
kill -TERM $daemon; wait $daemon
sed -i "s/^relay_port = .*/relay_port = $soft/" "$HERALD_CONFIG"
"$HERALD_BIN" mailing create --name soft --template "$T_DIR/t" --segment "email starts with f2" --from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
"$HERALDD_BIN" -f >>"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
wait_done 5
states=$(sql "SELECT GROUP_CONCAT(DISTINCT CONCAT(delivery_state, ' ', attempts, ' ', LEFT(relay_reply, 1))) FROM stage_5")
[ "$states" = "failed 3 4" ] && t_ok "4xx to RCPT: deferred, retried twice on retry_schedule, then failed" ||
	t_fail "4xx to RCPT" "$states; $(tail -3 "$T_DIR/heraldd.log")"
table="$table
| relay answers 4xx to RCPT (retry_schedule = 1s 1s) | $(sql "SELECT COUNT(*) FROM stage_5") | - | 0 | $(sql "SELECT CONCAT('failed ', COUNT(*), ' after 3 attempts') FROM stage_5 WHERE delivery_state = 'failed' AND attempts = 3") |"
kill -TERM $daemon; wait $daemon
echo "# | fault | messages | lost | duplicates | final states |"
echo "# |---|---|---|---|---|"
echo "$table" | sed '/^$/d; s/^/# /'
t_done
