#!/bin/bash
# status.sh - herald status while a mailing sends (heraldd running, a
# slow smtp-sink), with heraldd stopped, and with the database down;
# --json is one parseable document with the same figures. The rates
# hold early in a send (not divided by a whole minute) and without
# Ganglia (metrics_interval = 0); no ETA while paused or with heraldd
# stopped.
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
metrics_interval = 0
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

started=$(date +%s)
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
# Several sessions recorded (each records its messages together).
for _ in $(seq 1 100); do
	[ "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'sent'")" -ge 20 ] && break
	sleep 0.2
done
"$HERALD_BIN" status --json >"$T_DIR/json"
elapsed=$(( $(date +%s) - started ))
"$PYTHON3" - "$T_DIR/json" "$daemon" "$elapsed" <<'PY' >"$T_DIR/json.out" 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
elapsed = int(sys.argv[3])
m = {x["name"]: x for x in d["mailings"]}
w = m["Watched send"]
assert d["database"]["reachable"] is True
assert w["staged"] == 400 and 0 < w["sent"] < 400 and w["sent"] + w["pending"] + w["deferred"] + w["failed"] == 400, w
assert w["rate_per_second"] > 0, w
# Sending began seconds ago: the rate is over the seconds it has run,
# not a whole minute (which gave sent / 60, an ETA many times too long).
# It leaves out the first session's messages, half of them at most.
assert elapsed < 30, ("too slow to tell", elapsed)
assert w["rate_per_second"] + 0.05 >= w["sent"] / (2 * elapsed), (w, elapsed)
assert w["eta_seconds"] is not None and w["eta_seconds"] > 0, w
assert m["Later"]["state"] == "queued"
assert d["daemon"]["running"] and d["daemon"]["pid"] == int(sys.argv[2])
assert len(d["daemon"]["workers"]) == 2
assert d["relays"][0]["up"] is True
t = d["relay_totals"][0]
assert t["name"].startswith("127.0.0.1:") and t["up"] is True and t["sent"] > 0, t
# metrics_interval = 0: no Ganglia, the relay's rate all the same.
assert t["rate_per_second"] > 0, t
assert d["daemon"]["monitor"]["pid"] > 0, d["daemon"]
print("ok")
PY
[ $? = 0 ] && t_ok "--json: one document with the same figures" || t_fail "--json" "$(cat "$T_DIR/json.out" "$T_DIR/json")"
timeout 3 script -qec "'$HERALD_BIN' status --watch 1" /dev/null >"$T_DIR/watch" 2>&1
[ "$(grep -c "MAILINGS" "$T_DIR/watch")" -ge 2 ] && grep -q $'\033\[H' "$T_DIR/watch" &&
	t_ok "--watch redraws in place" || t_fail "--watch" "$(head -c 300 "$T_DIR/watch" | cat -v)"

# Paused: nothing sends it, so no ETA (the last minute's rate stays).
"$HERALD_BIN" mailing pause 1 >/dev/null
t_check "status of a paused mailing" "$HERALD_BIN" status
grep -Eq "Watched send +paused .* ETA -  deferred" "$T_DIR/out" && t_ok "a paused mailing has no ETA" ||
	t_fail "a paused mailing has no ETA" "$(cat "$T_DIR/out")"
"$HERALD_BIN" status --json | "$PYTHON3" -c '
import json, sys
w = [m for m in json.load(sys.stdin)["mailings"] if m["name"] == "Watched send"][0]
assert w["state"] == "paused" and w["eta_seconds"] is None, w' 2>"$T_DIR/json.err" &&
	t_ok "--json: eta_seconds is null while paused" || t_fail "--json eta while paused" "$(cat "$T_DIR/json.err")"
"$HERALD_BIN" mailing resume 1 >/dev/null

cp "$T_CONFIG" "$T_DIR/good.conf"
echo "database_socket = $T_DIR/no-such.sock" >>"$T_CONFIG"
sed -i "0,/^database_socket = /{/^database_socket = /d}" "$T_CONFIG"
t_check "status with the database down" "$HERALD_BIN" status
grep -q "database unreachable" "$T_DIR/out" && grep -q "heraldd pid $daemon" "$T_DIR/out" &&
	t_ok "says the database is unreachable and still shows the workers" || t_fail "database down" "$(cat "$T_DIR/out")"
kill -TERM $daemon; wait $daemon
# heraldd stopped mid-send: nothing sends, so no ETA.
cp "$T_DIR/good.conf" "$T_CONFIG"
t_check "status after heraldd stopped mid-send" "$HERALD_BIN" status
grep -q "heraldd is not running" "$T_DIR/out" && grep -Eq "Watched send +(ready|sending) .* ETA -  deferred" "$T_DIR/out" &&
	t_ok "no ETA while heraldd is not running" || t_fail "no ETA with heraldd stopped" "$(cat "$T_DIR/out")"
t_done
