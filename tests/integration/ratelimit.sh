#!/bin/bash
# ratelimit.sh - shared rate limits per destination domain: three domains
# with different limits, two workers sharing the node's buckets, sending
# into smtp-sink. Over every whole minute window of the send (counted
# from delivered_at, second by second) no domain may exceed its limit by
# more than 5%; each must also have been sending (at least half its
# limit) for the test to mean anything. Prints the measured counts.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
t_start_sink "$T_DIR/sink"
cat >>"$T_CONFIG" <<CONF
relay_port = $T_SINK_PORT
worker_count = 2
relay_session_size = 10
pid_file = $T_DIR/heraldd.pid
domain_rate_limit fast.example = 1200/m
domain_rate_limit medium.example = 600/m
domain_rate_limit slow.example = 120/m
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi" >"$T_DIR/t/text.mustache"
# Enough for about 80 s at each limit, interleaved as a real list is.
awk 'BEGIN { print "email"; n = 0
	for (i = 1; i <= 1600; i++) { printf "f%d@fast.example\n", i
		if (i % 2 == 0) printf "m%d@medium.example\n", i / 2
		if (i % 10 == 0) printf "s%d@slow.example\n", i / 10 } }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name rates --template "$T_DIR/t" --segment all --from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
sleep 75
kill -TERM $daemon; wait $daemon
t_sql "SELECT SUBSTRING_INDEX(email, '@', -1), UNIX_TIMESTAMP(delivered_at) FROM stage_1 WHERE delivery_state = 'sent'" >"$T_DIR/sent.tsv"
"$PYTHON3" - "$T_DIR/sent.tsv" <<'PY' >"$T_DIR/rates.out"
import collections, sys
limits = {"fast.example": 1200, "medium.example": 600, "slow.example": 120}
times = collections.defaultdict(list)
for line in open(sys.argv[1]):
    domain, t = line.split()
    times[domain].append(int(t))
bad = 0
for domain, limit in sorted(limits.items()):
    ts = sorted(times[domain])
    # Whole minutes only: from the first delivery of any domain, every
    # 60-second window that ends before the last delivery.
    start = min(min(v) for v in times.values())
    end = max(max(v) for v in times.values())
    worst = low = None
    for s in range(start, end - 59):
        n = sum(1 for t in ts if s <= t < s + 60)
        worst = n if worst is None else max(worst, n)
        low = n if low is None else min(low, n)
    ok = worst is not None and worst <= limit * 1.05 and worst >= limit * 0.5
    bad += not ok
    print("%s: limit %d/min, busiest minute %s, quietest %s%s" % (domain, limit, worst, low, "" if ok else "  <- out of bounds"))
sys.exit(1 if bad else 0)
PY
status=$?
sed 's/^/# /' "$T_DIR/rates.out"
[ $status = 0 ] && t_ok "every domain within 5% of its limit over every minute, and sending" ||
	t_fail "rate limits" "$(cat "$T_DIR/rates.out")"
t_done
