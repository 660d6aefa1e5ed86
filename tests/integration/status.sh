#!/bin/bash
# status.sh - herald status while a mailing sends (heraldd running, a
# slow smtp-sink), with heraldd stopped, and with the database down;
# --json is one parseable document with the same figures.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
t_start_sink "$T_DIR/sink" -w 1	# one second per DATA: the send lasts
cat >>"$T_CONFIG" <<CONF
relay_port = $T_SINK_PORT
worker_count = 2
relay_session_size = 5
batch_size = 50
pid_file = $T_DIR/heraldd.pid
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
awk 'BEGIN { print "email,first_name"; for (i = 1; i <= 400; i++) printf "s%d@example.org,S%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name "Watched send" --template "$T_DIR/t" --segment all --from a@example.org --subject s >/dev/null
"$HERALD_BIN" mailing create --name "Later" --template "$T_DIR/t" --segment all --from a@example.org --subject s --send-at "2099-01-01 00:00 UTC" >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1

t_check "status with heraldd stopped" "$HERALD_BIN" status
grep -q "heraldd is not running" "$T_DIR/out" && grep -q "Watched send.*ready.*0/400" "$T_DIR/out" &&
	grep -q "Later.*queued.*send at 2099-01-01 00:00:00 UTC" "$T_DIR/out" &&
	t_ok "it shows the mailings from the database and says heraldd is stopped" ||
	t_fail "status with heraldd stopped" "$(cat "$T_DIR/out")"

"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 100); do
	[ "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'sent'")" -ge 10 ] && break
	sleep 0.2
done
t_check "status while sending" "$HERALD_BIN" status
sent=$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'sent'")
grep -Eq "Watched send +sending +\[#*-+\] +[0-9.]+%  [0-9]+/400  [0-9]+/s now" "$T_DIR/out" &&
	t_ok "a progress bar with sent of staged and the rate" || t_fail "progress bar" "$(cat "$T_DIR/out")"
[ "$(grep -cE "^  [01] +[0-9]+ +(sending|idle)" "$T_DIR/out")" = 2 ] && grep -q "heraldd pid $daemon" "$T_DIR/out" &&
	t_ok "both workers with pid, state and heartbeat" || t_fail "workers" "$(cat "$T_DIR/out")"
grep -q "127.0.0.1:$T_SINK_PORT  up" "$T_DIR/out" && t_ok "the relay is up" || t_fail "relay up" "$(cat "$T_DIR/out")"
grep -Eq "^  127.0.0.1:$T_SINK_PORT +workers: up, [0-9]+/s, sent [1-9][0-9]*, deferred 0, failed 0" "$T_DIR/out" &&
	grep -Eq "^  monitor pid [0-9]+; Postfix queue" "$T_DIR/out" &&
	t_ok "what the workers sent through the relay, and the monitor" || t_fail "relay totals and monitor" "$(cat "$T_DIR/out")"
"$HERALD_BIN" status --json >"$T_DIR/json"
"$PYTHON3" - "$T_DIR/json" "$daemon" <<'PY' >"$T_DIR/json.out" 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
m = {x["name"]: x for x in d["mailings"]}
w = m["Watched send"]
assert d["database"]["reachable"] is True
assert w["staged"] == 400 and 0 < w["sent"] < 400 and w["sent"] + w["pending"] + w["deferred"] + w["failed"] == 400, w
assert w["rate_per_second"] > 0, w
assert m["Later"]["state"] == "queued"
assert d["daemon"]["running"] and d["daemon"]["pid"] == int(sys.argv[2])
assert len(d["daemon"]["workers"]) == 2
assert d["relays"][0]["up"] is True
t = d["relay_totals"][0]
assert t["name"].startswith("127.0.0.1:") and t["up"] is True and t["sent"] > 0, t
assert d["daemon"]["monitor"]["pid"] > 0, d["daemon"]
print("ok")
PY
[ $? = 0 ] && t_ok "--json: one document with the same figures" || t_fail "--json" "$(cat "$T_DIR/json.out" "$T_DIR/json")"
timeout 3 script -qec "'$HERALD_BIN' status --watch 1" /dev/null >"$T_DIR/watch" 2>&1
[ "$(grep -c "MAILINGS" "$T_DIR/watch")" -ge 2 ] && grep -q $'\033\[H' "$T_DIR/watch" &&
	t_ok "--watch redraws in place" || t_fail "--watch" "$(head -c 300 "$T_DIR/watch" | cat -v)"

echo "database_socket = $T_DIR/no-such.sock" >>"$T_CONFIG"
sed -i "0,/^database_socket = /{/^database_socket = /d}" "$T_CONFIG"
t_check "status with the database down" "$HERALD_BIN" status
grep -q "database unreachable" "$T_DIR/out" && grep -q "heraldd pid $daemon" "$T_DIR/out" &&
	t_ok "says the database is unreachable and still shows the workers" || t_fail "database down" "$(cat "$T_DIR/out")"
kill -TERM $daemon; wait $daemon
t_done
