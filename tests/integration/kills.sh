#!/bin/bash
# kills.sh - 20 SIGKILLs of random workers during a 50,000-recipient
# mailing into smtp-sink, then the sink's receptions against the
# database: nothing lost, and duplicates at most what was in flight at
# the kills (one session, relay_session_size messages, per kill). Prints
# its row of the README's Guarantees table.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
N=50000
KILLS=20
SESSION=50
t_start_sink "$T_DIR/sink"
cat >>"$T_CONFIG" <<CONF
relay_port = $T_SINK_PORT
worker_count = 4
relay_session_size = $SESSION
batch_size = 500
batch_lease = 10
rate_limit = 2000/s
worker_respawn_delay_limit = 1
metrics_interval = 0
pid_file = $T_DIR/heraldd.pid
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
awk -v n=$N 'BEGIN { print "email,first_name"; for (i = 1; i <= n; i++) printf "k%d@example.org,K%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name kills --template "$T_DIR/t" --segment all --from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
sent() { t_sql "SELECT sent_count FROM mailings WHERE id = 1"; }
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 100); do [ "$(sent)" -gt 1000 ] && break; sleep 0.1; done

killed=0
for i in $(seq 1 $KILLS); do
	victim=$(pgrep -x heraldd -P $daemon | shuf -n 1)
	[ -n "$victim" ] || { sleep 0.5; continue; }
	at=$(sent)
	kill -KILL "$victim" && killed=$((killed + 1))
	echo "# kill $i: worker $victim at $at sent; in flight at most one session ($SESSION)"
	sleep "0.$((RANDOM % 5 + 5))"
done
[ $killed = $KILLS ] && t_ok "$KILLS workers SIGKILLed while sending (last at $(sent) of $N)" ||
	t_fail "$KILLS kills" "only $killed"
for _ in $(seq 1 900); do [ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break; sleep 0.2; done
[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && t_ok "the mailing finishes" ||
	t_fail "mailing done" "$(sent) sent; $(tail -3 "$T_DIR/heraldd.log")"
kill -TERM $daemon; wait $daemon
sleep 1

grep -h "^Message-ID: <herald\.1\." -r "$T_DIR/sink" | sed 's/.*herald\.1\.\([0-9]*\)@.*/\1/' | sort >"$T_DIR/copies"
sort -u "$T_DIR/copies" >"$T_DIR/received"
copies=$(wc -l <"$T_DIR/copies")
got=$(wc -l <"$T_DIR/received")
# Rows recorded sent on a real 2xx that the sink never saw (a row whose
# end of DATA went out without a reply says "possibly delivered").
lost=$(t_sql "SELECT recipient_id FROM stage_1 WHERE delivery_state = 'sent' AND relay_reply NOT LIKE '%possibly delivered%'" | sort | comm -13 "$T_DIR/received" - | wc -l)
states=$(t_sql "SELECT GROUP_CONCAT(s SEPARATOR ', ') FROM (SELECT CONCAT(delivery_state, ' ', COUNT(*)) s FROM stage_1 GROUP BY delivery_state) x")
bound=$((KILLS * SESSION))
[ "$lost" = 0 ] && [ "$got" = $N ] && t_ok "nothing lost: $got of $N received" || t_fail "nothing lost" "$lost lost, $got of $N received"
[ $((copies - got)) -le $bound ] && t_ok "duplicates ($((copies - got))) at most the $bound in flight at the kills" ||
	t_fail "duplicates bounded" "$((copies - got)) > $bound"
[ "$states" = "sent $N" ] && t_ok "every row sent in the database" || t_fail "every row sent" "$states"
echo "# | $KILLS random workers SIGKILLed mid-send | $N | $lost | $((copies - got)) (bound $bound) | $states |"
t_done
