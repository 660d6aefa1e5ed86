#!/bin/bash
# reputation.sh - a destination that blocks one route moves to another,
# through real Postfix instances, and comes back when it accepts again.
#
# Route A and route B are two private Postfix instances (each a relay of
# herald's): A's smtp client binds 127.0.0.1, B's binds 127.0.0.2. Both
# deliver to one scripted mail server (tests/lib/blocking_mx.py) which
# answers "421 4.7.0 ... blocked using ..." to blocked.example's
# recipients coming from 127.0.0.1 while its flag file exists, and
# accepts everything else. heraldd reads route A's queue (postqueue -j).
#
# Must hold: blocked.example moves to route B within BOUND messages sent
# to A (printed); example.net stays on A; nothing is lost (every message
# reaches the server once A accepts again); when A accepts, a probe
# brings blocked.example back; with no route B, it is held (throttled)
# and A gets no more than BOUND plus the probes while it refuses.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/postfix.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
	t_skip "aiosmtpd is not installed (Debian package python3-aiosmtpd)"
t_use_database

# --- the destination's server ----------------------------------------------
mx_log="$T_DIR/mx.log"
flag="$T_DIR/blocking"
: >"$mx_log"
touch "$flag"
exec 7> >(exec /usr/bin/python3 "$HERALD_SRCDIR/tests/lib/blocking_mx.py" \
    "$mx_log" "$flag" >"$T_DIR/mx.out" 2>&1)
for _ in $(seq 1 100); do
	grep -q '^ready' "$T_DIR/mx.out" && break
	sleep 0.1
done
read -r _ mx_blocked mx_other <"$T_DIR/mx.out" ||
	t_skip "the scripted server did not start: $(cat "$T_DIR/mx.out")"
chmod 666 "$mx_log"

# --- two Postfix instances, the two routes ----------------------------------
# t_start_postfix keeps its instance under $T_DIR/postfix: each route's
# is started with its own T_DIR and stopped explicitly.
start_route() {	# NAME BIND_ADDRESS: sets <NAME>_port and <NAME>_conf
	local top=$T_DIR
	mkdir -p "$T_DIR/$1"
	chmod 755 "$T_DIR"
	T_DIR="$T_DIR/$1"
	t_start_postfix "$mx_other" \
	    "smtp_bind_address = $2" \
	    "transport_maps = inline:{blocked.example=smtp:[127.0.0.1]:$mx_blocked}" \
	    "queue_run_delay = 1s" "minimal_backoff_time = 1s" \
	    "maximal_backoff_time = 2s" "smtp_connection_cache_on_demand = no"
	eval "${1}_port=$T_POSTFIX_PORT ${1}_conf=$T_DIR/postfix/conf"
	T_DIR=$top
	chmod 755 "$T_DIR/$1"
	t_at_exit "flock -w 120 /tmp/herald-test-postfix.lock postfix -c '$T_DIR/$1/postfix/conf' stop >/dev/null 2>&1"
}
start_route a 127.0.0.1
start_route b 127.0.0.2

# --- a gmond, where the monitor's herald_domain_* metrics go ----------------
gmond_udp=$(t_free_port)
gmond_xml=$(t_free_port)
cat >"$T_DIR/gmond.conf" <<CONF
globals { daemonize = no  setuid = no  user = nobody  mute = no  deaf = no
  allow_extra_data = yes  host_dmax = 0  send_metadata_interval = 0 }
cluster { name = "herald-test" }
udp_recv_channel { port = $gmond_udp  bind = 127.0.0.1 }
tcp_accept_channel { port = $gmond_xml  bind = 127.0.0.1 }
CONF
if [ -x /usr/sbin/gmond ]; then
	/usr/sbin/gmond -c "$T_DIR/gmond.conf" -f >"$T_DIR/gmond.log" 2>&1 &
	t_at_exit "kill $! 2>/dev/null"
else
	echo "# gmond is not installed (ganglia-monitor): Ganglia metrics not checked"
fi
# gmond_value NAME: the value gmond holds for metric NAME, or "absent".
gmond_value() {
	/usr/bin/python3 - "$gmond_xml" "$1" <<'PY' 2>&1
import socket, sys, xml.etree.ElementTree as ET
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)
d = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    d += c
m = [x.get("VAL") for x in ET.fromstring(d).iter("METRIC") if x.get("NAME") == sys.argv[2]]
print(m[0] if m else "absent")
PY
}
# gmond_is NAME OP NUMBER: gmond holds NAME and its value OP NUMBER (awk).
gmond_is() {
	gmond_value "$1" | awk -v n="$3" "\$1 != \"absent\" && \$1 + 0 $2 n { ok = 1 } END { exit !ok }"
}

# --- herald ----------------------------------------------------------------
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
awk 'BEGIN { print "email,first_name"; for (i = 1; i <= 150; i++)
	printf "r%d@%s,R%d\n", i, (i % 3 == 0 ? "example.net" : "blocked.example"), i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
# 100 at blocked.example, 50 at example.net per mailing.
min_messages=5
rate=10		# blocked.example's messages a second
# The bound: reputation_min_messages, plus what the domain's rate sends
# while Postfix tries them and the monitor reads the queue (every
# metrics_interval, 1 s), plus a session in flight (5). Idle, those take
# under 2 s; a machine at load 20 on 2 cores was seen to need 3.5 s, so
# the test allows 5 s. Without the move all 100 would go to route A.
bound=$((min_messages + rate * 5 + 5))
echo "# bound: blocked.example moves after at most $bound messages to route A"
write_config() {	# extra lines
	cat >"$T_CONFIG.run" <<CONF
$(cat "$T_CONFIG")
relay_host = 127.0.0.1
relay_port = $a_port
postfix_config_directory = $a_conf
metrics_interval = 1
gmond_host = 127.0.0.1
gmond_port = $gmond_udp
worker_count = 2
relay_session_size = 5
pid_file = $T_DIR/heraldd.pid
domain_rate_limit blocked.example = $((rate * 3600))/h
reputation_block_rate = 50%
reputation_window = 60s
reputation_min_messages = $min_messages
reputation_probe_interval = 3s
CONF
	printf '%s\n' "$@" >>"$T_CONFIG.run"
}
start_daemon() {
	HERALD_CONFIG="$T_CONFIG.run" "$HERALDD_BIN" -f >>"$T_DIR/heraldd.log" 2>&1 &
	daemon=$!
	t_at_exit "kill $daemon 2>/dev/null"
}
stop_daemon() {
	kill -TERM "$daemon"
	wait "$daemon" 2>/dev/null
}
mailing() {	# NAME: create and stage it
	HERALD_CONFIG="$T_CONFIG.run" "$HERALD_BIN" mailing create --name "$1" \
	    --template "$T_DIR/t" --segment all --from a@example.org --subject s >/dev/null
	HERALD_CONFIG="$T_CONFIG.run" "$HERALD_BIN" stage >/dev/null 2>&1
}
wait_for() {	# SECONDS COMMAND...: until COMMAND succeeds
	local limit=$(($1 * 10))
	shift
	for _ in $(seq 1 "$limit"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
log_has() { grep -q -- "$1" "$T_DIR/heraldd.log"; }
# Messages for blocked.example route A's Postfix took from herald (by
# queue id: every mailing has the same recipients).
to_route_a() {
	grep -o '[0-9A-F]*: to=<r[0-9]*@blocked.example>' "$a_conf/../maillog" 2>/dev/null |
	    cut -d: -f1 | sort -u | wc -l
}
# Recipients of DOMAIN the server accepted from ADDRESS (lines).
arrived() { grep -c "^$1 r[0-9]*@$2\$" "$mx_log"; }
arrived_at_least() { [ "$(($(arrived 127.0.0.1 "$1") + $(arrived 127.0.0.2 "$1")))" -ge "$2" ]; }

write_config "route_alternate blocked.example = 127.0.0.1:$b_port"
t_check "route_alternate is accepted by config check" "$HERALD_BIN" config check --config "$T_CONFIG.run"
printf 'route_alternate blocked.example = host:0\n' >"$T_DIR/bad.conf"
t_expect_fail "a bad route_alternate is refused with FILE:LINE" 1 'bad.conf:1: key "route_alternate blocked.example": expected' \
	"$HERALD_BIN" config check --config "$T_DIR/bad.conf"
start_daemon
mailing first
if wait_for 60 log_has "reputation: blocked.example: .* moving it to route 1"; then
	t_ok "blocked.example was moved to route B: $(grep -o 'reputation: blocked.example: .* moving.*' "$T_DIR/heraldd.log" | head -1)"
else
	t_fail "blocked.example moved" "$(tail -5 "$T_DIR/heraldd.log")"
fi
wait_for 60 arrived_at_least example.net 50
# Probes go to A too, one per back-off: counted apart.
probes=$(grep -c "reputation: blocked.example: probe on route 0" "$T_DIR/heraldd.log")
sent_a=$(to_route_a)
[ "$((sent_a - probes))" -le "$bound" ] && [ "$sent_a" -ge "$min_messages" ] &&
	t_ok "route A got $((sent_a - probes)) messages for blocked.example before the move (bound $bound), and $probes probes" ||
	t_fail "bounded exposure" "route A got $sent_a for blocked.example ($probes probes), bound $bound"
[ "$(arrived 127.0.0.1 example.net)" = 50 ] && [ "$(arrived 127.0.0.2 example.net)" = 0 ] &&
	t_ok "example.net stayed on route A (50 of 50)" ||
	t_fail "example.net on A" "$(arrived 127.0.0.1 example.net) via A, $(arrived 127.0.0.2 example.net) via B"
wait_for 60 arrived_at_least blocked.example $((100 - sent_a)) &&
	[ "$(arrived 127.0.0.2 blocked.example)" = $((100 - sent_a)) ] &&
	t_ok "the rest of blocked.example ($((100 - sent_a))) went by route B" ||
	t_fail "blocked.example by B" "$(arrived 127.0.0.2 blocked.example) via B, wanted $((100 - sent_a))"
HERALD_CONFIG="$T_CONFIG.run" "$HERALD_BIN" status >"$T_DIR/status.out" 2>&1
grep -q "blocked.example  route 1 (127.0.0.1:$b_port)  moved" "$T_DIR/status.out" &&
	t_ok "herald status shows the move" ||
	t_fail "status shows the move" "$(grep -A3 DESTINATIONS "$T_DIR/status.out")"
HERALD_CONFIG="$T_CONFIG.run" "$HERALD_BIN" route show --json >"$T_DIR/route.json" 2>&1
/usr/bin/python3 - "$T_DIR/route.json" <<'PY' && t_ok "herald route show --json: route 0 counted blocked deferrals" || t_fail "route show --json" "$(cat "$T_DIR/route.json")"
import json, sys
d = {x["domain"]: x for x in json.load(open(sys.argv[1]))}
b = d["blocked.example"]
assert b["decision"] == "moved" and b["route"] == 1, b
assert b["routes"][0]["deferred"].get("blocked", 0) >= 5, b
PY
# herald report carries the same figures in JSON and, row for row, CSV
# (taken after the JSON: counters only grow, the window may move).
HERALD_CONFIG="$T_CONFIG.run" "$HERALD_BIN" report 1 --json >"$T_DIR/report.json" 2>&1
HERALD_CONFIG="$T_CONFIG.run" "$HERALD_BIN" report 1 --csv >"$T_DIR/report.csv" 2>&1
/usr/bin/python3 - "$T_DIR/report.json" "$T_DIR/report.csv" "127.0.0.1:$b_port" <<'PY' >"$T_DIR/report.out" 2>&1 &&
import csv, json, sys
d = {x["domain"]: x for x in json.load(open(sys.argv[1]))["destinations"]}
b = d["blocked.example"]
assert b["decision"] == "moved" and b["route"] == 1 and b["relay"] == sys.argv[3], b
assert b["routes"][0]["deferred"].get("blocked", 0) >= 5, b
assert d["example.net"]["decision"] == "normal" and d["example.net"]["route"] == 0, d
want = {}
for x in d.values():
    for k in ("decision", "route", "relay", "decided_seconds_ago", "held_per_hour"):
        want[(x["domain"], k)] = x[k]
    for r in x["routes"]:
        for k in ("relay", "relayed", "blocked", "window_relayed", "window_blocked"):
            want[(x["domain"], "route_%d_%s" % (r["route"], k))] = r[k]
        for kind in ("deferred", "failed"):
            for c, n in r[kind].items():
                want[(x["domain"], "route_%d_%s_%s" % (r["route"], kind, c))] = n
got = {(r["key"], r["measure"]): r["value"] for r in csv.DictReader(open(sys.argv[2])) if r["section"] == "destinations"}
assert set(got) == set(want), sorted(set(got) ^ set(want))
for k, v in want.items():
    if isinstance(v, str) or k[1] in ("route", "held_per_hour"):
        assert got[k] == str(v), (k, got[k], v)
    elif "window" not in k[1] and k[1] != "decided_seconds_ago":
        assert int(got[k]) >= v, (k, got[k], v)
print("%d destinations, %d CSV rows" % (len(d), len(got)))
PY
	t_ok "herald report --json and --csv show the destinations: $(cat "$T_DIR/report.out")" ||
	t_fail "report destinations" "$(cat "$T_DIR/report.out"; tail -3 "$T_DIR/report.json")"
if [ -x /usr/sbin/gmond ]; then
	wait_for 30 gmond_is herald_domain_blocked_example_route == 1 &&
		gmond_is herald_domain_blocked_example_blocked_share == 0 &&
		gmond_is herald_domain_example_net_route == 0 &&
		gmond_is herald_domain_example_net_blocked_share == 0 &&
		t_ok "Ganglia: blocked.example on route 1 (blocked share 0 there), example.net on route 0 (share 0)" ||
		t_fail "Ganglia after the move" "$(for m in blocked_example_route blocked_example_blocked_share example_net_route example_net_blocked_share; do echo "$m $(gmond_value herald_domain_$m)"; done)"
fi

# --- A accepts again: nothing lost, and blocked.example comes back --------
# A probe needs a message to send: the next mailing's first one.
rm -f "$flag"
mailing second
wait_for 90 log_has "reputation: blocked.example: probe on route 0 .* delivered" &&
	t_ok "a probe found route A accepting; blocked.example went back" ||
	t_fail "return to A" "$(grep reputation "$T_DIR/heraldd.log" | tail -3)"
wait_for 60 arrived_at_least blocked.example 200
[ "$(($(arrived 127.0.0.1 blocked.example) + $(arrived 127.0.0.2 blocked.example)))" = 200 ] &&
	t_ok "nothing lost: 200 of 200 for blocked.example arrived, once each" ||
	t_fail "nothing lost" "$(($(arrived 127.0.0.1 blocked.example) + $(arrived 127.0.0.2 blocked.example))) arrived of 200"
before_b=$(arrived 127.0.0.2 blocked.example)
mailing third
wait_for 60 arrived_at_least blocked.example 300
[ "$(arrived 127.0.0.2 blocked.example)" = "$before_b" ] &&
	[ "$(($(arrived 127.0.0.1 blocked.example) + before_b))" = 300 ] &&
	t_ok "after the return, blocked.example goes by route A again (100 of 100)" ||
	t_fail "back on A" "$(($(arrived 127.0.0.2 blocked.example) - before_b)) more via B"
stop_daemon

# --- no route B: held (throttled), bounded, then released ---------------
touch "$flag"
: >"$T_DIR/heraldd.log"
write_config
start_daemon
a_before=$(to_route_a)
mailing fourth
if wait_for 60 log_has "reputation: blocked.example: .* no route left .* holding it at"; then
	t_ok "with no alternate, blocked.example was held: $(grep -o 'holding it at [^ ]*' "$T_DIR/heraldd.log" | head -1)"
else
	t_fail "held" "$(grep reputation "$T_DIR/heraldd.log" | tail -3)"
fi
at_hold=$(($(to_route_a) - a_before))
held_since=$(date +%s)
[ "$at_hold" -le "$bound" ] &&
	t_ok "route A got $at_hold messages for blocked.example before the hold (bound $bound)" ||
	t_fail "bounded before the hold" "$at_hold to A, bound $bound"
wait_for 60 log_has "reputation: blocked.example: probe on route 0 .* deferred" &&
	t_ok "the probe while refusing was deferred and backed off" ||
	t_fail "probe deferred" "$(grep reputation "$T_DIR/heraldd.log" | tail -3)"
# While held: the held pace (1200/h, one per probe interval of 3 s) for
# the time it took, the probe, and one in flight.
held_sent=$(($(to_route_a) - a_before - at_hold))
held_bound=$((($(date +%s) - held_since) / 3 + 3))
[ "$held_sent" -le "$held_bound" ] &&
	t_ok "route A got $held_sent messages for blocked.example while held and refusing (bound $held_bound)" ||
	t_fail "bounded while held" "$held_sent to A, bound $held_bound"
# Ganglia: the share gmond holds is the one this heraldd computed over
# the window (route show --json), at or above reputation_block_rate and
# no more than 100% (a deferral is counted once, not at each retry).
held_share() {
	HERALD_CONFIG="$T_CONFIG.run" "$HERALD_BIN" route show --json >"$T_DIR/held.json" 2>&1 &&
	share=$(/usr/bin/python3 -c 'import json, sys
b = {x["domain"]: x for x in json.load(open(sys.argv[1]))}["blocked.example"]
r = b["routes"][b["route"]]
print(100.0 * r["window_blocked"] / r["window_relayed"])' "$T_DIR/held.json") &&
	gmond_is herald_domain_blocked_example_route == 0 &&
	gmond_is herald_domain_blocked_example_blocked_share ">=" 50 &&
	gmond_is herald_domain_blocked_example_blocked_share "<=" 100 &&
	gmond_value herald_domain_blocked_example_blocked_share |
	    awk -v s="$share" '{ exit !($1 - s < 0.01 && s - $1 < 0.01) }'
}
if [ -x /usr/sbin/gmond ]; then
	wait_for 30 held_share &&
		t_ok "Ganglia: held blocked.example on route 0, blocked share $(gmond_value herald_domain_blocked_example_blocked_share) as route show computed" ||
		t_fail "Ganglia while held" "gmond: route $(gmond_value herald_domain_blocked_example_route), share $(gmond_value herald_domain_blocked_example_blocked_share); route show: ${share:-?}"
fi
rm -f "$flag"
wait_for 90 log_has "reputation: blocked.example: probe on route 0 .* delivered" &&
	t_ok "released by a probe once A accepts" ||
	t_fail "released" "$(grep reputation "$T_DIR/heraldd.log" | tail -3)"
wait_for 120 arrived_at_least blocked.example 400 &&
	[ "$(($(arrived 127.0.0.1 blocked.example) + $(arrived 127.0.0.2 blocked.example)))" = 400 ] &&
	t_ok "nothing lost in the held mailing either (400 of 400)" ||
	t_fail "nothing lost (held)" "$(($(arrived 127.0.0.1 blocked.example) + $(arrived 127.0.0.2 blocked.example))) arrived of 400"

# --- the operator's word -----------------------------------------------------
HERALD_CONFIG="$T_CONFIG.run" "$HERALD_BIN" route hold blocked.example >/dev/null &&
	wait_for 30 log_has "reputation: blocked.example: held by the operator" &&
	t_ok "herald route hold reaches heraldd" ||
	t_fail "route hold" "$(grep reputation "$T_DIR/heraldd.log" | tail -3)"
n_before=$(($(arrived 127.0.0.1 blocked.example) + $(arrived 127.0.0.2 blocked.example)))
mailing fifth
wait_for 60 arrived_at_least example.net 250
[ "$(($(arrived 127.0.0.1 blocked.example) + $(arrived 127.0.0.2 blocked.example)))" = "$n_before" ] &&
	[ "$(t_sql "SELECT COUNT(*) FROM stage_5 WHERE delivery_state = 'pending'")" = 100 ] &&
	t_ok "held by the operator: blocked.example gets nothing, its 100 rows wait" ||
	t_fail "operator hold" "$(t_sql "SELECT delivery_state, COUNT(*) FROM stage_5 GROUP BY 1")"
HERALD_CONFIG="$T_CONFIG.run" "$HERALD_BIN" route release blocked.example >/dev/null &&
	wait_for 30 log_has "reputation: blocked.example: operator hold ended" &&
	wait_for 150 arrived_at_least blocked.example 500 &&
	[ "$(t_sql "SELECT COUNT(*) FROM stage_5 WHERE delivery_state = 'sent'")" = 150 ] &&
	t_ok "herald route release: the held rows went out (500 of 500)" ||
	t_fail "route release" "$(t_sql "SELECT delivery_state, COUNT(*) FROM stage_5 GROUP BY 1"); $(grep reputation "$T_DIR/heraldd.log" | tail -2)"
t_expect_fail "a bad domain is refused" 2 'is not a domain name' \
	env HERALD_CONFIG="$T_CONFIG.run" "$HERALD_BIN" route hold 'bad domain'
stop_daemon
t_done
