#!/bin/bash
# cancel_mid_send.sh - a mailing cancelled while heraldd's workers have
# messages with the relay (a slow smtp-sink: one second per message):
# every staged row is counted exactly once. The messages the relay took
# are sent, the rest cancelled; the mailing's counters ("mailing show")
# agree with its rows ("report") and with what the sink received.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
t_start_sink "$T_DIR/sink" -w 1
cat >>"$T_CONFIG" <<CONF
relay_port = $T_SINK_PORT
worker_count = 2
relay_session_size = 5
batch_size = 50
pid_file = $T_DIR/heraldd.pid
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
awk 'BEGIN { print "email,first_name"; for (i = 1; i <= 300; i++) printf "c%d@example.org,C%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name "Cancelled" --template "$T_DIR/t" --segment all --from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
rows() { t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = '$1'"; }

"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 150); do [ "$(rows sent)" -ge 10 ] && break; sleep 0.2; done
# Both workers are in a session (five seconds each): its messages are
# with the relay when the cancel marks their rows.
t_check "cancel mid-send" "$HERALD_BIN" mailing cancel 1
cancelled_at_once=$(rows cancelled)
# The workers record what the relay answered, then give their batches back.
for _ in $(seq 1 150); do
	[ "$(t_sql "SELECT COUNT(*) FROM batches WHERE mailing_id = 1 AND state = 'claimed'")" = 0 ] && break
	sleep 0.2
done
kill -TERM $daemon
wait $daemon

staged=$(t_sql "SELECT staged_count FROM mailings WHERE id = 1")
read -r sent failed cancelled <<<"$(t_sql "SELECT sent_count, failed_count, cancelled_count FROM mailings WHERE id = 1")"
in_flight=$((cancelled_at_once - $(rows cancelled)))
echo "staged $staged: sent $sent, failed $failed, cancelled $cancelled; $in_flight were with the relay at the cancel"
[ "$in_flight" -gt 0 ] && t_ok "messages were in flight at the cancel" ||
	t_fail "messages in flight at the cancel" "none: the test did not test the race"
[ $((sent + failed + cancelled)) = "$staged" ] && t_ok "sent + failed + cancelled = staged" ||
	t_fail "every staged row counted once" "$sent + $failed + $cancelled of $staged"
[ "$sent" = "$(rows sent)" ] && [ "$cancelled" = "$(rows cancelled)" ] && [ "$(rows pending)" = 0 ] &&
	t_ok "the counters match the rows" ||
	t_fail "counters match the rows" "rows: sent $(rows sent), cancelled $(rows cancelled), pending $(rows pending)"
[ "$(t_sink_count "$T_DIR/sink")" = "$sent" ] && t_ok "the sink received exactly the messages counted sent" ||
	t_fail "sent = received" "sink $(t_sink_count "$T_DIR/sink"), sent $sent"
t_check "mailing show" "$HERALD_BIN" mailing show 1
show="sent $(awk '$1 == "sent" { print $2 }' "$T_DIR/out"), cancelled $(awk '$1 == "cancelled" { print $2 }' "$T_DIR/out")"
t_check "report" "$HERALD_BIN" report 1 --csv
report="sent $(awk -F, '$1 == "states" && $2 == "sent" { print $4 }' "$T_DIR/out"), cancelled $(awk -F, '$1 == "states" && $2 == "cancelled" { print $4 }' "$T_DIR/out")"
[ "$show" = "sent $sent, cancelled $cancelled" ] && [ "$report" = "$show" ] &&
	t_ok "mailing show and report agree" || t_fail "show and report agree" "show '$show', report '$report'"
t_done
