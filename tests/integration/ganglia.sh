#!/bin/bash
# ganglia.sh - heraldd's metrics in a real gmond, and Postfix's backlog
# slowing herald down.
#
# heraldd relays through a private Postfix whose next hop (smtp-sink -w 1)
# takes a second per message on each of 50 connections, so Postfix can
# pass on about 50 messages/s while herald could hand it hundreds. With
# postfix_queue_limit = 100 the workers must hold instead of piling the
# mailing up in Postfix's queue. Meanwhile a gmond on loopback (unicast
# UDP in, XML out on its tcp_accept_channel) receives the metrics; the
# test reads them back: names, types, units, plausible values. Then gmond
# is stopped and a second mailing must still be sent in full.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/postfix.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
command -v gmond >/dev/null || [ -x /usr/sbin/gmond ] ||
	t_skip "gmond is not installed (Debian package ganglia-monitor)"
t_use_database
N=1500
LIMIT=100
t_start_sink "$T_DIR/sink" -w 1
t_start_postfix "$T_SINK_PORT" "default_destination_concurrency_limit = 50" \
    "smtp_destination_concurrency_limit = 50"

gmond_udp=$(t_free_port)
gmond_xml=$(t_free_port)
cat >"$T_DIR/gmond.conf" <<CONF
globals {
  daemonize = no
  setuid = no
  user = nobody
  mute = no
  deaf = no
  allow_extra_data = yes
  host_dmax = 0
  send_metadata_interval = 0
}
cluster { name = "herald-test" }
udp_recv_channel { port = $gmond_udp  bind = 127.0.0.1 }
tcp_accept_channel { port = $gmond_xml  bind = 127.0.0.1 }
CONF
# herald reads where to publish from a gmond.conf, as gmetric does.
cat >"$T_DIR/gmond-send.conf" <<CONF
/* the node's gmond */
udp_send_channel {
  host = 127.0.0.1   # loopback only
  port = $gmond_udp
}
CONF
/usr/sbin/gmond -c "$T_DIR/gmond.conf" -f >"$T_DIR/gmond.log" 2>&1 &
gmond_pid=$!
t_at_exit "kill $gmond_pid 2>/dev/null"
for _ in $(seq 1 50); do
	python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" \
	    "$gmond_xml" 2>/dev/null && break
	sleep 0.1
done

cat >>"$T_CONFIG" <<CONF
relay_port = $T_POSTFIX_PORT
worker_count = 2
relay_session_size = 20
batch_size = 100
rate_limit = 100/s
pid_file = $T_DIR/heraldd.pid
metrics_interval = 1
gmond_config = $T_DIR/gmond-send.conf
postfix_config_directory = $T_DIR/postfix/conf
postfix_queue_limit = $LIMIT
CONF
t_check "herald config check accepts the monitoring keys" "$HERALD_BIN" config check
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
awk -v n=$N 'BEGIN { print "email,first_name"; for (i = 1; i <= n; i++) printf "g%d@example.org,G%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name "Watched" --template "$T_DIR/t" --segment all --from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1

"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"

# While it sends: Postfix's queue as Postfix itself reports it, and
# gmond's XML, every half second.
max_waiting=0
: >"$T_DIR/samples"
for _ in $(seq 1 240); do
	waiting=$(postqueue -c "$T_DIR/postfix/conf" -j 2>/dev/null | grep -Ec '"queue_name": *"(maildrop|incoming|active)"')
	[ "$waiting" -gt "$max_waiting" ] && max_waiting=$waiting
	python3 -c "import socket,sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), 2); d = b''
while True:
    c = s.recv(65536)
    if not c: break
    d += c
sys.stdout.write(d.decode().replace('\n', ' ') + '\n')" "$gmond_xml" >>"$T_DIR/samples" 2>/dev/null
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	sleep 0.5
done
[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] &&
	t_ok "the mailing is sent through the backlogged Postfix" ||
	t_fail "mailing 1 done" "$(t_sql "SELECT state, sent_count FROM mailings WHERE id = 1"); $(tail -5 "$T_DIR/heraldd.log")"
for _ in $(seq 1 120); do
	[ "$(t_sink_count "$T_DIR/sink")" -ge $N ] && break
	sleep 0.5
done
[ "$(t_sink_count "$T_DIR/sink")" = $N ] && t_ok "all $N reached the sink through Postfix" ||
	t_fail "all reached the sink" "$(t_sink_count "$T_DIR/sink") of $N"
grep -q "holding new sessions until it catches up" "$T_DIR/heraldd.log" &&
	grep -q "Postfix's queue is down to" "$T_DIR/heraldd.log" &&
	t_ok "workers held while Postfix was backlogged, then sent again" ||
	t_fail "workers held" "$(grep -i postfix "$T_DIR/heraldd.log" | tail -5)"
# Unheld, herald would hand Postfix the whole mailing in a few seconds;
# held, the queue stays near the limit: the limit, plus what 300/s
# brings between two readings of the queue (with its one-second
# burst) and the sessions in flight.
bound=$((LIMIT + 2 * 100 + 2 * 20))
echo "# Postfix queue (maildrop+incoming+active) at most $max_waiting with postfix_queue_limit = $LIMIT ($N messages)"
[ "$max_waiting" -le "$bound" ] && t_ok "Postfix's queue stayed at most $bound (largest seen: $max_waiting)" ||
	t_fail "Postfix's queue bounded" "$max_waiting > $bound"

# What gmond received, checked with a real XML parser.
"$PYTHON3" - "$T_DIR/samples" "$T_SINK_PORT" "$T_POSTFIX_PORT" <<'PY' >"$T_DIR/metrics.out" 2>&1
import sys, xml.etree.ElementTree as ET
samples, relay = sys.argv[1], "herald_relay_127_0_0_1_" + sys.argv[3]
seen = {}
for line in open(samples):
    if "<GANGLIA_XML" not in line:
        continue
    root = ET.fromstring(line[line.index("<GANGLIA_XML"):])
    for m in root.iter("METRIC"):
        seen.setdefault(m.get("NAME"), []).append(m)
want = {
    "herald_sent_rate": "messages/s", "herald_deferred_rate": "messages/s",
    "herald_failed_rate": "messages/s", "herald_workers_active": "workers",
    "herald_backlog": "messages", "herald_postfix_active": "messages",
    "herald_postfix_deferred": "messages", "herald_claim_latency": "ms",
    "herald_stage_latency": "s", "herald_mailing_1_sent_rate": "messages/s",
    "herald_mailing_1_hard_bounce_rate": "%", "herald_mailing_1_soft_bounce_rate": "%",
    "herald_mailing_1_complaint_rate": "%", "herald_mailing_1_unsubscribe_rate": "%",
    relay + "_sent_rate": "messages/s", relay + "_up": "up",
}
bad = []
for name, units in want.items():
    if name not in seen:
        bad.append("missing " + name)
        continue
    m = seen[name][-1]
    if m.get("TYPE") != "double" or m.get("UNITS") != units:
        bad.append("%s: type %s units %s" % (name, m.get("TYPE"), m.get("UNITS")))
    group = [e.get("VAL") for e in m.iter("EXTRA_ELEMENT") if e.get("NAME") == "GROUP"]
    if group != ["herald"]:
        bad.append("%s: group %s" % (name, group))
def values(name):
    return [float(m.get("VAL")) for m in seen.get(name, [])]
peak = max(values("herald_sent_rate") or [0])
if not 5 <= peak <= 300:
    bad.append("herald_sent_rate peak %.1f, expected a rate near the 100/s limit (1 s bursts, recorded per session)" % peak)
if max(values("herald_backlog") or [0]) < 100:
    bad.append("herald_backlog never showed the staged mailing")
if max(values("herald_postfix_active") or [0]) < 1:
    bad.append("herald_postfix_active never above 0")
if max(values("herald_workers_active") or [0]) not in (1.0, 2.0):
    bad.append("herald_workers_active %s" % values("herald_workers_active"))
if max(values(relay + "_sent_rate") or [0]) <= 0 or values(relay + "_up")[-1] != 1:
    bad.append("relay metrics %s %s" % (values(relay + "_sent_rate"), values(relay + "_up")))
if max(values("herald_mailing_1_sent_rate") or [0]) <= 0:
    bad.append("herald_mailing_1_sent_rate never above 0")
# Nothing bounced or complained here: the rates are published, and 0.
for k in ("hard_bounce", "soft_bounce", "complaint", "unsubscribe"):
    if values("herald_mailing_1_%s_rate" % k) and max(values("herald_mailing_1_%s_rate" % k)) != 0:
        bad.append("herald_mailing_1_%s_rate %s" % (k, values("herald_mailing_1_%s_rate" % k)))
if not 0 <= values("herald_stage_latency")[-1] < 600:
    bad.append("herald_stage_latency %s" % values("herald_stage_latency"))
print("peak send rate %.1f/s; backlog peak %.0f; metrics %d" % (peak, max(values("herald_backlog")), len(seen)))
if bad:
    print("\n".join(bad))
    sys.exit(1)
PY
[ $? = 0 ] && t_ok "gmond has every metric, type double, right units, group herald, plausible values: $(head -1 "$T_DIR/metrics.out")" ||
	t_fail "metrics in gmond" "$(cat "$T_DIR/metrics.out"; tail -3 "$T_DIR/heraldd.log")"

# gmond down: sending goes on, the monitor says so once.
kill $gmond_pid; wait $gmond_pid 2>/dev/null
sed -i "s/^postfix_queue_limit = .*/postfix_queue_limit = 0/" "$T_CONFIG"
sleep 2
"$HERALD_BIN" mailing create --name "Unwatched" --template "$T_DIR/t" --segment all --from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
for _ in $(seq 1 240); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 2")" = done ] && break
	sleep 0.5
done
[ "$(t_sql "SELECT state FROM mailings WHERE id = 2")" = done ] &&
	[ "$(t_sql "SELECT COUNT(*) FROM stage_2 WHERE delivery_state = 'sent'")" = $N ] &&
	t_ok "with gmond down a mailing is still sent in full" ||
	t_fail "gmond down" "$(t_sql "SELECT state, sent_count FROM mailings WHERE id = 2"); $(tail -5 "$T_DIR/heraldd.log")"
grep -q "publishing to gmond: gmond 127.0.0.1:$gmond_udp: Connection refused" "$T_DIR/heraldd.log" &&
	t_ok "the monitor logs that gmond is unreachable" ||
	t_fail "gmond down logged" "$(grep monitor "$T_DIR/heraldd.log" | tail -3)"
[ "$(grep -c "publishing to gmond" "$T_DIR/heraldd.log")" -le 2 ] &&
	t_ok "... once, not once per datagram" || t_fail "logged once" "$(grep -c "publishing to gmond" "$T_DIR/heraldd.log") lines"
kill -TERM $daemon; wait $daemon
t_done
