#!/bin/bash
# cluster.sh - three heraldd nodes on one database, each with its own
# state directory and smtp-sink, send one mailing of 30,000 recipients
# under a cluster-wide domain_rate_limit of 6,000 a minute. Nodes A and B
# start; C joins mid-send and takes a share of the work; A is SIGKILLed
# mid-send and B and C finish its batches once their leases expire.
# Every recipient gets exactly one message (counted across the three
# sinks), but for the messages the SIGKILL caught relayed and not yet
# recorded (at most a session per worker of A, sent again with the same
# Message-ID), and over every minute of the run, from the sinks'
# timestamps, the three nodes together stay within 5% of the limit.
#
# At that rate the run takes five minutes: the limit, not the machine,
# sets its length (the busiest minute must come near the limit, or the
# check that it holds would prove nothing).
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/node.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
N=30000
PER_MINUTE=6000
TIMEOUT=10
SESSION=100
for n in a b c; do
	t_start_sink "$T_DIR/sink-$n"
	eval "PORT_$n=$T_SINK_PORT"
done
cat >>"$T_CONFIG" <<CONF
worker_count = 2
batch_size = 500
relay_session_size = $SESSION
batch_lease = 20
node_timeout = $TIMEOUT
metrics_interval = 0
domain_rate_limit example.org = $PER_MINUTE/m
CONF
for n in a b c; do eval "t_node_config $n \$PORT_$n" </dev/null; done
t_nodes_mailing $N "Three nodes"
sent() { t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'sent'"; }
wait_sent() {	# COUNT: until that many are recorded sent (at most 15 min)
	for _ in $(seq 1 9000); do [ "$(sent)" -ge "$1" ] && return 0; sleep 0.1; done
	return 1
}
log_has() { grep -q "$2" "$T_DIR/$1.log"; }

t_start_node a
node_a=$T_NODE_PID
t_start_node b
node_b=$T_NODE_PID
echo "# $(date +%T) nodes A and B started"
wait_sent 3000 || { t_fail "sending" "$(sent) sent"; t_done; }
t_start_node c
node_c=$T_NODE_PID
echo "# $(date +%T) $(sent) sent; node C started"
for _ in $(seq 1 300); do log_has c "3 live nodes share" && break; sleep 0.1; done
log_has a "3 live nodes share" && log_has b "3 live nodes share" && log_has c "3 live nodes share" &&
	t_ok "each node takes a third of the limits once C has joined" ||
	t_fail "three shares" "$(grep -h "live node" "$T_DIR"/?.log)"

wait_sent 9000
echo "# $(date +%T) $(sent) sent; killing node A"
t_kill_node $node_a
# What A held when it died (read after the kill: before, A could still
# finish one).
a_batches=$(t_node_batches node-a)
[ -n "$a_batches" ] && [ "$a_batches" != NULL ] && t_ok "node A held batches when it died ($a_batches)" ||
	t_fail "node A holds batches" "none"
for _ in $(seq 1 300); do log_has b "2 live nodes share" && log_has c "2 live nodes share" && break; sleep 0.1; done
log_has b "2 live nodes share" && log_has c "2 live nodes share" &&
	t_ok "B and C take half each once A is dead" || t_fail "two shares" "$(grep -h "live node" "$T_DIR"/?.log)"

for _ in $(seq 1 9000); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	sleep 0.1
done
echo "# $(date +%T) mailing $(t_sql "SELECT state FROM mailings WHERE id = 1")"
[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] &&
	t_ok "B and C finish the mailing" || t_fail "mailing done" "$(t_sql "SELECT state, sent_count FROM mailings WHERE id = 1")"
# A finished batch keeps no owner: claimed again (A is gone) and done.
t_check_taken_over A "$a_batches" "B and C"
c_sent=$(t_sink_count "$T_DIR/sink-c")
[ "$c_sent" -ge $((N / 10)) ] &&
	t_ok "node C, started mid-send, took a share of the work ($c_sent messages)" ||
	t_fail "C's share" "$c_sent messages"

for _ in $(seq 1 100); do
	[ $(($(t_sink_count "$T_DIR/sink-a") + $(t_sink_count "$T_DIR/sink-b") + c_sent)) -ge $N ] && break
	sleep 0.1
	c_sent=$(t_sink_count "$T_DIR/sink-c")
done
find "$T_DIR"/sink-? -type f -printf '%T@\n' >"$T_DIR/times"
# Exactly one each, but for what the SIGKILL allows (README, Guarantees):
# messages of A's last sessions that its sink took but A had not yet
# recorded are sent again by B or C, with the same Message-ID. At most a
# session per worker of A, and only recipients A's sink had.
grep -r "^Message-ID: <herald\.1\." "$T_DIR"/sink-? >"$T_DIR/ids"
if "$PYTHON3" - "$T_DIR/ids" $N $((2 * SESSION)) "$(sent)" >"$T_DIR/once" 2>&1 <<'PY'
import collections, re, sys
n, bound, recorded = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sinks = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.match(r".*/sink-(.)/.*herald\.1\.(\d+)@", line)
    sinks[int(m.group(2))].append(m.group(1))
total = sum(len(v) for v in sinks.values())
again = {r: v for r, v in sinks.items() if len(v) > 1}
print("%d messages for %d recipients of %d (%d recorded sent); sent twice: %d "
      "(bound %d), each with one copy in the killed node's sink: %s" % (
      total, len(sinks), n, recorded, total - len(sinks), bound,
      all("a" in v and len(v) == 2 for v in again.values())))
ok = (len(sinks) == n and set(sinks) == set(range(1, n + 1)) and recorded == n
      and total - len(sinks) <= bound and all("a" in v and len(v) == 2 for v in again.values()))
sys.exit(0 if ok else 1)
PY
then t_ok "every recipient got one message, but for the SIGKILL's bound: $(cat "$T_DIR/once")"
else t_fail "one message each" "$(cat "$T_DIR/once")"
fi
# Every sliding minute, starting at each message: at most the limit plus
# 5%; the busiest at least 90% of it (the limit is what bounds the run).
if "$PYTHON3" - "$T_DIR/times" $PER_MINUTE >"$T_DIR/minutes" 2>&1 <<'PY'
import bisect, sys
t = sorted(float(x) for x in open(sys.argv[1]))
limit = int(sys.argv[2])
most = max(bisect.bisect_left(t, x + 60) - i for i, x in enumerate(t))
print("busiest minute %d messages (limit %d: %+.1f%%); whole minutes from the first: %s" % (
    most, limit, 100.0 * (most - limit) / limit,
    " ".join(str(bisect.bisect_left(t, t[0] + 60 * (k + 1)) - bisect.bisect_left(t, t[0] + 60 * k))
             for k in range(int((t[-1] - t[0]) // 60) + 1))))
sys.exit(0 if limit * 0.9 <= most <= limit * 1.05 else 1)
PY
then t_ok "the domain limit held across the three nodes: $(cat "$T_DIR/minutes")"
else t_fail "limit within 5% over every minute" "$(cat "$T_DIR/minutes")"
fi
echo "# $(date +%T) $(cat "$T_DIR/minutes")"
t_done
