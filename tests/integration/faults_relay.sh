#!/bin/bash
# faults_relay.sh - what every recipient ends as when the relay misbehaves.
#
# smtp-sink's fault injection, one mailing of $N recipients per fault:
# 4xx and 5xx to DATA, a disconnect after the DATA command (nothing was
# delivered), a disconnect after the end of DATA (the relay may have
# taken the message: "possibly delivered"), slow replies within and
# beyond relay_timeout. Then a real Postfix: stopped for 10 s and started
# again mid-send, and a Postfix whose disk is full (queue_minfree above
# the free space: it answers 452 "Insufficient system storage") until
# space comes back. Prints its part of the README's Guarantees table.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/postfix.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
N=200
WORKERS=2
SESSION=20
cat >>"$T_CONFIG" <<CONF
worker_count = $WORKERS
relay_session_size = $SESSION
batch_size = 50
retry_schedule = 1s 1s
relay_retry_limit = 2s
relay_timeout = 5
worker_stall_timeout = 20
pid_file = $T_DIR/heraldd.pid
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
awk -v n=$N 'BEGIN { print "email,first_name"; for (i = 1; i <= n; i++) printf "r%d@example.org,R%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null

mailings=0
table=""
state() { t_sql "SELECT state FROM mailings WHERE id = $1"; }
states() {	# MAILING: "state attempts reply-class, ..." of its rows
	t_sql "SELECT GROUP_CONCAT(s ORDER BY s SEPARATOR ', ') FROM (SELECT CONCAT(delivery_state, ' ', COUNT(*)) s FROM stage_$1 GROUP BY delivery_state) x"
}
wait_done() { for _ in $(seq 1 ${2:-600}); do [ "$(state "$1")" = done ] && return 0; sleep 0.2; done; return 1; }
# send NAME PORT [SEGMENT]: a new mailing (to everyone by default) through
# PORT, heraldd started for it; sets $m.
send() {
	mailings=$((mailings + 1)); m=$mailings
	sed -i "/^relay_port = /d" "$T_CONFIG"
	echo "relay_port = $2" >>"$T_CONFIG"
	"$HERALD_BIN" mailing create --name "$1" --template "$T_DIR/t" --segment "${3:-all}" --from a@example.org --subject s >/dev/null
	"$HERALD_BIN" stage >/dev/null 2>&1
	"$HERALDD_BIN" -f >>"$T_DIR/heraldd.log" 2>&1 &
	daemon=$!
}
stop_daemon() { kill -TERM $daemon; wait $daemon; }
# received DIR MAILING: the distinct recipients of MAILING in DIR into
# $T_DIR/received (sorted), their number in $got, all copies in $copies.
received() {
	grep -h "^Message-ID: <herald\.$2\." -r "$1" 2>/dev/null | sed 's/.*herald\.[0-9]*\.\([0-9]*\)@.*/\1/' | sort >"$T_DIR/copies"
	copies=$(wc -l <"$T_DIR/copies")
	sort -u "$T_DIR/copies" >"$T_DIR/received"
	got=$(wc -l <"$T_DIR/received")
}
# row FAULT MESSAGES LOST DUPLICATES: one line of the table.
row() {
	table="$table
| $1 | $2 | $3 | $4 | $(states $m)$(possibly) |"
}
possibly() {
	local n
	n=$(t_sql "SELECT COUNT(*) FROM stage_$m WHERE relay_reply LIKE '%possibly delivered%'")
	[ "$n" -gt 0 ] && echo " ($n possibly delivered)"
}
# expect FAULT STATE ATTEMPTS REPLY-PATTERN: every row ended so.
expect() {
	local bad
	bad=$(t_sql "SELECT COUNT(*) FROM stage_$m WHERE NOT (delivery_state = '$2' AND attempts = $3 AND relay_reply REGEXP '$4')")
	[ "$bad" = 0 ] && t_ok "$1: all $N $2 after $3 attempt(s), reply /$4/" ||
		t_fail "$1: all $2 after $3" "$bad others: $(t_sql "SELECT delivery_state, attempts, relay_reply FROM stage_$m WHERE NOT (delivery_state = '$2' AND attempts = $3 AND relay_reply REGEXP '$4') LIMIT 3")"
}

# --- smtp-sink fault injection ----------------------------------------------
# sink_case FAULT SINK-OPTIONS: one mailing through a sink started with
# those options; the caller checks the states.
sink_case() {
	local fault=$1
	shift
	rm -rf "$T_DIR/sink"
	t_start_sink "$T_DIR/sink" "$@"
	send "$fault" "$T_SINK_PORT"
	wait_done $m || t_fail "$fault: mailing done" "$(state $m); $(tail -3 "$T_DIR/heraldd.log")"
	stop_daemon
	kill $T_SINK_PID; wait $T_SINK_PID 2>/dev/null
}

sink_case "4xx to DATA" -r DATA
expect "4xx to DATA" failed 3 '^4'
row "relay answers 4xx to DATA (retry_schedule = 1s 1s)" $N - 0

sink_case "5xx to DATA" -f DATA
expect "5xx to DATA" failed 1 '^5'
row "relay answers 5xx to DATA" $N - 0

sink_case "disconnect after DATA" -q DATA
expect "disconnect after the DATA command" failed 3 'connection lost after the DATA command'
row "relay disconnects after the DATA command" $N - 0

sink_case "disconnect after the end of DATA" -q .
received "$T_DIR/sink" $m
expect "disconnect after the end of DATA" sent 1 'possibly delivered'
[ "$copies" -le $N ] && t_ok "... none re-sent: $copies copies in the sink for $N recipients ($got distinct)" ||
	t_fail "not re-sent" "$copies copies"
row "relay disconnects after the end of DATA, before its reply" $N "-" $((copies - got))

# Slow replies: smtp-sink -w waits before answering each DATA command, so
# these use the 11 recipients r19, r190..r199.
SLOW="email starts with r19"
S=11
rm -rf "$T_DIR/sink"
t_start_sink "$T_DIR/sink" -w 2
send "slow replies" "$T_SINK_PORT" "$SLOW"
wait_done $m || t_fail "slow replies: mailing done" "$(state $m)"
stop_daemon
received "$T_DIR/sink" $m
[ "$(states $m)" = "sent $S" ] && [ "$got" = $S ] && [ "$copies" = $S ] &&
	t_ok "slow replies (2 s to each DATA, relay_timeout 5 s): all $S sent once" ||
	t_fail "slow replies" "$(states $m); $got distinct, $copies copies"
row "relay waits 2 s before each DATA reply (relay_timeout 5 s)" $S $((S - got)) $((copies - got))
kill $T_SINK_PID; wait $T_SINK_PID 2>/dev/null

# Slower than relay_timeout: the relay counts as down (it does not
# answer), nothing is recorded, workers wait; when it answers in time
# again, everything goes.
sed -i "s/^relay_timeout = .*/relay_timeout = 1/" "$T_CONFIG"
t_start_sink "$T_DIR/sink" -w 3
slow_port=$T_SINK_PORT
send "replies slower than relay_timeout" "$slow_port" "$SLOW"
sleep 8
during=$(states $m)
[ "$during" = "pending $S" ] && grep -q "127.0.0.1:$slow_port did not answer within 1000 ms" "$T_DIR/heraldd.log" &&
	t_ok "replies slower than relay_timeout: the relay is marked down, the rows stay pending ($during)" ||
	t_fail "slower than relay_timeout" "$during; $(tail -2 "$T_DIR/heraldd.log")"
kill $T_SINK_PID; wait $T_SINK_PID 2>/dev/null
/usr/sbin/smtp-sink -u nobody -d "$T_DIR/sink/%H%M%S." "127.0.0.1:$slow_port" 1000 >>"$T_DIR/sink.log" 2>&1 &
t_at_exit "kill $! 2>/dev/null"
wait_done $m && t_ok "... and all go once it answers in time again" || t_fail "slow relay back" "$(states $m)"
stop_daemon
received "$T_DIR/sink" $m
row "relay waits 3 s before each DATA reply (relay_timeout 1 s), then answers in time" $S $((S - got)) $((copies - got))
sed -i "s/^relay_timeout = .*/relay_timeout = 5/" "$T_CONFIG"

# --- a real Postfix -----------------------------------------------------------
rm -rf "$T_DIR/sink"
t_start_sink "$T_DIR/sink"
t_start_postfix "$T_SINK_PORT"
pf=t_postfix
# The instance's child processes (they carry its configuration directory
# in MAIL_CONFIG): after "postfix stop" some still finish their work.
pf_processes() {
	grep -lsz "^MAIL_CONFIG=$T_DIR/postfix/conf\$" /proc/[0-9]*/environ 2>/dev/null | wc -l
}
pf_stop() {	# returns once every process of the instance has gone
	$pf stop >/dev/null 2>&1
	for _ in $(seq 1 200); do
		! $pf status >/dev/null 2>&1 && [ "$(pf_processes)" = 0 ] && return 0
		sleep 0.1
	done
}
pf_start() {	# prints why when Postfix refuses to start
	for _ in 1 2 3 4 5; do
		$pf start >"$T_DIR/pf-start.try" 2>&1 && return 0
		sleep 1
	done
	grep -v overriding "$T_DIR/pf-start.try" | tail -5
	return 1
}
awk -v n=3000 'BEGIN { print "email,first_name"; for (i = 1; i <= n; i++) printf "p%d@example.org,P%d\n", i, i }' >"$T_DIR/p.csv"
"$HERALD_BIN" import "$T_DIR/p.csv" --list postfix >/dev/null
P=$(t_sql "SELECT COUNT(*) FROM recipients")
sed -i "s/^retry_schedule = .*/retry_schedule = 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s/" "$T_CONFIG"
drained() {	# Postfix delivered all it holds
	for _ in $(seq 1 300); do
		[ "$(postqueue -c "$T_DIR/postfix/conf" -j 2>/dev/null | wc -l)" = 0 ] && return 0
		sleep 0.2
	done
	return 1
}
# account FAULT: lost and duplicates of mailing $m in the sink after
# Postfix drained; one table row.
account() {
	local got lost
	drained
	received "$T_DIR/sink" $m
	lost=$(t_sql "SELECT recipient_id FROM stage_$m WHERE delivery_state = 'sent' AND relay_reply NOT LIKE '%possibly delivered%'" | sort | comm -13 "$T_DIR/received" - | wc -l)
	[ "$lost" = 0 ] && t_ok "$1: nothing lost ($got of $P received)" || t_fail "$1: nothing lost" "$lost recorded sent, never received"
	[ $((copies - got)) -le $((WORKERS * SESSION)) ] &&
		t_ok "$1: duplicates ($((copies - got))) at most the $((WORKERS * SESSION)) in flight" ||
		t_fail "$1: duplicates" "$((copies - got))"
	[ "$(states $m)" = "sent $P" ] && t_ok "$1: every row sent" || t_fail "$1: every row sent" "$(states $m)"
	row "$1" $P $lost $((copies - got))
}

send "postfix-restart" "$T_POSTFIX_PORT"
for _ in $(seq 1 300); do [ "$(t_sql "SELECT COUNT(*) FROM stage_$m WHERE delivery_state = 'sent'")" -ge 500 ] && break; sleep 0.1; done
pf_stop
sleep 10
pf_start >"$T_DIR/pf-start.out" || t_fail "Postfix starts again" "$(cat "$T_DIR/pf-start.out"; tail -3 "$T_DIR/postfix/maillog")"
wait_done $m 1500 && t_ok "Postfix stopped 10 s mid-send: the mailing finishes after it starts again" ||
	t_fail "mailing done after Postfix restart" "$(states $m); $(tail -3 "$T_DIR/heraldd.log")"
stop_daemon
account "Postfix stopped 10 s and started mid-send"

# Disk full: Postfix refuses mail while the queue file system has less
# than queue_minfree bytes free.
pf_stop
postconf -c "$T_DIR/postfix/conf" -e "queue_minfree = 9000000000000000" 2>/dev/null
pf_start >/dev/null
send "disk-full" "$T_POSTFIX_PORT"
for _ in $(seq 1 100); do [ "$(t_sql "SELECT COUNT(*) FROM stage_$m WHERE delivery_state = 'deferred'")" -ge 100 ] && break; sleep 0.1; done
sleep 3
full=$(states $m)
reply=$(t_sql "SELECT relay_reply FROM stage_$m WHERE delivery_state = 'deferred' LIMIT 1")
failed=$(t_sql "SELECT COUNT(*) FROM stage_$m WHERE delivery_state = 'failed'")
echo "$reply" | grep -q "^452 .*Insufficient system storage" && [ "$failed" = 0 ] &&
	t_ok "disk full: Postfix answers 452 and herald defers (${full}), fails none" ||
	t_fail "disk full: deferred" "$full; reply '$reply'"
pf_stop
postconf -c "$T_DIR/postfix/conf" -X queue_minfree 2>/dev/null
pf_start >/dev/null
wait_done $m 1500 && t_ok "disk space back: the deferred messages go out" ||
	t_fail "mailing done after disk space came back" "$(states $m)"
stop_daemon
account "Postfix's disk full (452) for a few seconds"

echo "# | fault | messages | lost | duplicates | final states |"
echo "# |---|---|---|---|---|"
echo "$table" | sed '/^$/d; s/^/# /'
t_done
