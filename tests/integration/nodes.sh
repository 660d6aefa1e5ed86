#!/bin/bash
# nodes.sh - two heraldd nodes on one database, each with its own state
# directory, node_name and smtp-sink, sending one mailing. Both register
# in the nodes table and beat; herald status shows each with its workers,
# rate and relays. Node A's relay takes the messages but never answers
# DATA (a Postfix that hung), so A holds claimed batches without a
# message completing; A is then SIGKILLed, master, workers and monitor.
# herald status shows it dead once node_timeout has passed, node B
# finishes A's batches when their leases expire, and every recipient
# gets exactly one message. Stopped cleanly, B shows as stopped.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/node.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
N=600
TIMEOUT=10
t_start_sink "$T_DIR/sink-a" -w 3600
PORT_A=$T_SINK_PORT
t_start_sink "$T_DIR/sink-b"
PORT_B=$T_SINK_PORT
cat >>"$T_CONFIG" <<CONF
worker_count = 2
relay_session_size = 10
batch_size = 50
batch_lease = 30
node_timeout = $TIMEOUT
metrics_interval = 0
relay_timeout = 120
worker_stall_timeout = 300
CONF
# Each node: its own state directory (scoreboard, pid file), name and relay.
echo "rate_limit = 40/s" | t_node_config a "$PORT_A"
echo "rate_limit = 40/s" | t_node_config b "$PORT_B"
t_nodes_mailing $N "Two nodes"
status_json() { t_status_json "$1" "$T_DIR/b.conf"; }	# as node B's operator sees it

t_start_node a
node_a=$T_NODE_PID
held() { t_sql "SELECT COUNT(*) FROM batches WHERE state = 'claimed' AND owner_node = 'node-a'"; }
for _ in $(seq 1 100); do [ "$(held)" -ge 2 ] && break; sleep 0.1; done
t_start_node b
node_b=$T_NODE_PID
sent() { t_sql "SELECT sent_count FROM mailings WHERE id = 1"; }
echo "# $(date +%T) node A holds $(held) batches; node B started"
# Both nodes beat within NODE_HEARTBEAT_INTERVAL (5 s) of their start.
ok=0
for _ in $(seq 1 70); do
	status_json "$T_DIR/both.json"
	if "$PYTHON3" - "$T_DIR/both.json" "127.0.0.1:$PORT_A" "127.0.0.1:$PORT_B" <<'PY' >"$T_DIR/both.out" 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
n = {x["name"]: x for x in d["nodes"]}
a, b = n["node-a"], n["node-b"]
for x in (a, b):
    assert x["state"] == "alive" and x["workers"] == 2 and x["pid"] > 0 and x["version"], x
    assert x["heartbeat_age_seconds"] < 6, x
assert b["sent"] > 0 and b["rate_per_second"] > 0, b
assert [r["name"] for r in b["relays"]] == [sys.argv[3]] and b["relays"][0]["up"] and b["relays"][0]["sent"] > 0, b
# A relay appears once a worker has an outcome from it; A has none.
assert [r["name"] for r in a["relays"]] in ([], [sys.argv[2]]) and a["sent"] == 0, a
assert a["workers_sending"] >= 1, a
assert d["limit_sharing_nodes"] == 2, d["limit_sharing_nodes"]
PY
	then ok=1; break; fi
	sleep 0.2
done
[ $ok = 1 ] && t_ok "herald status --json: both nodes alive, each with its workers, rate and relay, two sharing the limits" ||
	t_fail "both nodes in status" "$(cat "$T_DIR/both.out")"
t_check "herald status (text) lists the nodes" "$HERALD_BIN" -c "$T_DIR/b.conf" status
grep -Eq "^  node-a +alive +host .*pid $node_a" "$T_DIR/out" && grep -Eq "^  node-b +alive " "$T_DIR/out" &&
	grep -Eq "^ +workers 2 \([0-9] sending\), [0-9]+/s, sent [1-9]" "$T_DIR/out" &&
	grep -Eq "^ +relay 127.0.0.1:$PORT_B up, [0-9]+/s, sent [1-9]" "$T_DIR/out" &&
	grep -q "^  2 alive: each takes 1/2 of the rate limits" "$T_DIR/out" &&
	t_ok "NODES: each node, its workers, rate and relay; the limits shared by two" || t_fail "NODES section" "$(sed -n '/^NODES/,$p' "$T_DIR/out")"

# SIGKILL every process of node A.
a_batches=$(t_node_batches node-a)
[ -n "$a_batches" ] && [ "$a_batches" != NULL ] && t_ok "node A holds batches when it dies ($a_batches)" ||
	t_fail "node A holds batches" "none"
echo "# $(date +%T) killing node A"
t_kill_node $node_a
killed_at=$(date +%s.%N)
status_json "$T_DIR/after.json"
[ "$(t_node_field "$T_DIR/after.json" node-a state)" = alive ] &&
	t_ok "just killed, node A is not yet dead (silent less than node_timeout)" ||
	t_fail "not dead at once" "$(cat "$T_DIR/after.json")"
state=
for _ in $(seq 1 100); do
	status_json "$T_DIR/dead.json"
	state=$(t_node_field "$T_DIR/dead.json" node-a state)
	[ "$state" = dead ] && break
	sleep 0.2
done
took=$(echo "$(date +%s.%N) - $killed_at" | bc)
[ "$state" = dead ] && [ "$(t_node_field "$T_DIR/dead.json" node-b state)" = alive ] &&
	[ "$(t_node_field "$T_DIR/dead.json" node-a workers_sending)" = 0 ] &&
	t_ok "node A shows dead ${took%.*} s after the kill (node_timeout $TIMEOUT s), node B alive" ||
	t_fail "node A dead" "$state; $(cat "$T_DIR/dead.json")"
"$HERALD_BIN" -c "$T_DIR/b.conf" status >"$T_DIR/dead.txt" 2>&1
grep -Eq "^  node-a +DEAD .*silent since [0-9]+ s ago" "$T_DIR/dead.txt" &&
	t_ok "herald status says DEAD and for how long" || t_fail "DEAD in text" "$(sed -n '/^NODES/,$p' "$T_DIR/dead.txt")"

echo "# $(date +%T) node A dead"
for _ in $(seq 1 300); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	sleep 0.2
done
[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] &&
	t_ok "node B finishes the mailing" || t_fail "mailing done" "$(t_sql "SELECT state, sent_count FROM mailings WHERE id = 1")"
# Claimed again (by B: A is gone) and done.
t_check_taken_over A "$a_batches" "node B"
for _ in $(seq 1 50); do [ "$(t_sink_count "$T_DIR/sink-b")" -ge $N ] && break; sleep 0.1; done
grep -h "^Message-ID: <herald\.1\." -r "$T_DIR/sink-a" "$T_DIR/sink-b" | sed 's/.*herald\.1\.\([0-9]*\)@.*/\1/' | sort >"$T_DIR/ids"
total=$(wc -l <"$T_DIR/ids")
unique=$(sort -u "$T_DIR/ids" | wc -l)
[ "$total" = $N ] && [ "$unique" = $N ] && [ "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'sent'")" = $N ] &&
	t_ok "every recipient got exactly one message ($total messages, $unique recipients)" ||
	t_fail "exactly one each" "$total messages for $unique recipients of $N"

echo "# $(date +%T) mailing done"
kill -TERM $node_b
wait $node_b
echo "# $(date +%T) node B stopped"
status_json "$T_DIR/stopped.json"
[ "$(t_node_field "$T_DIR/stopped.json" node-b state)" = stopped ] && [ "$(t_node_field "$T_DIR/stopped.json" node-b sent)" = $N ] &&
	t_ok "stopped cleanly, node B shows stopped, with its $N messages" ||
	t_fail "node B stopped" "$(cat "$T_DIR/stopped.json")"
t_done
