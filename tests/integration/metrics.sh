#!/bin/bash
# metrics.sh - heraldd's /metrics endpoint (metrics_listen) during a real
# send: heraldd, MariaDB and an smtp-sink. The page is scraped with curl
# and with python3-prometheus-client's own parser; counters are counters
# and go up while the mailing sends, gauges are gauges, every series
# carries the node and its relay, mailing or domain; with the mailing
# paused the values equal what herald status --json says. Then what a
# client can do to the endpoint: wrong path or method, an oversized
# head, more connections than it serves, one that never speaks; and a
# bad or taken metrics_listen stops heraldd at start. Last, promtool
# checks contrib/prometheus and runs its alert rules' tests.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
"$PYTHON3" -c "import prometheus_client" 2>/dev/null ||
	t_skip "python3-prometheus-client is not installed"
command -v curl >/dev/null || t_skip "curl is not installed"
t_use_database
N=600
t_start_sink "$T_DIR/sink"
port=$(t_free_port)
URL="http://127.0.0.1:$port/metrics"
cat >>"$T_CONFIG" <<CONF
relay_port = $T_SINK_PORT
worker_count = 2
relay_session_size = 10
batch_size = 50
rate_limit = 40/s
domain_rate_limit example.org = 100/s
pid_file = $T_DIR/heraldd.pid
node_name = metrics-node
metrics_interval = 1
gmond_host =
postfix_config_directory =
metrics_listen = 127.0.0.1:$port
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
awk -v n=$N 'BEGIN { print "email,first_name"; for (i = 1; i <= n; i++) printf "m%d@example.org,M%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name "Scraped" --template "$T_DIR/t" --segment all --from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1

# A bad address, and a port already taken: heraldd refuses to start and
# says which key is wrong.
sed "s/^metrics_listen = .*/metrics_listen = localhost:$port/" "$T_CONFIG" >"$T_DIR/bad.conf"
t_expect_fail "metrics_listen that is not an IP address stops heraldd" 1 \
    'metrics_listen: "localhost" is not an IP address' "$HERALDD_BIN" -f -c "$T_DIR/bad.conf"
taken=$(t_free_port)
"$PYTHON3" -c "import socket,sys,time; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(1); time.sleep(60)" "$taken" &
holder=$!
t_at_exit "kill $holder 2>/dev/null"
for _ in $(seq 1 50); do
	"$PYTHON3" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$taken" 2>/dev/null && break
	sleep 0.1
done
sed "s/^metrics_listen = .*/metrics_listen = 127.0.0.1:$taken/" "$T_CONFIG" >"$T_DIR/taken.conf"
t_expect_fail "a taken metrics_listen port stops heraldd" 1 \
    "cannot listen on 127.0.0.1:$taken \\(metrics_listen\\): Address already in use" \
    "$HERALDD_BIN" -f -c "$T_DIR/taken.conf"
kill $holder 2>/dev/null
[ "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'sent'")" = 0 ] &&
	t_ok "neither sent anything" || t_fail "nothing sent" "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'sent'")"

"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
scrape() {	# FILE: the parsed page as JSON
	"$PYTHON3" "$HERALD_SRCDIR/tests/lib/scrape.py" "$URL" >"$1" 2>"$T_DIR/scrape.err"
}
sent_rows() {
	t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'sent'"
}
for _ in $(seq 1 100); do
	[ "$(sent_rows)" -ge 60 ] && break
	sleep 0.2
done
# The database's figures are as of the monitor's last reading (every
# metrics_interval): wait for one that has seen messages sent.
for _ in $(seq 1 50); do
	scrape "$T_DIR/first.json" && "$PYTHON3" -c "import json,sys
p = json.load(open(sys.argv[1]))
assert [s for s in p['samples'] if s[0] == 'herald_mailing_sent_total' and s[2] > 0]" "$T_DIR/first.json" 2>/dev/null && break
	sleep 0.2
done
t_check "curl scrapes /metrics while the mailing sends" curl -sSf -D "$T_DIR/head" -o "$T_DIR/page" "$URL"
echo "# a scrape during the send: $(curl -s -o /dev/null -w '%{size_download} bytes in %{time_total} s' "$URL")"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$T_DIR/head" && grep -q '^# TYPE herald_sent_total counter' "$T_DIR/page" &&
	t_ok "text exposition format 0.0.4 with # TYPE lines" || t_fail "format" "$(head -c 600 "$T_DIR/head" "$T_DIR/page")"
for _ in $(seq 1 100); do
	[ "$(sent_rows)" -ge 200 ] && break
	sleep 0.2
done
scrape "$T_DIR/second.json" || t_fail "second scrape" "$(cat "$T_DIR/scrape.err")"
"$PYTHON3" - "$T_DIR/first.json" "$T_DIR/second.json" "127.0.0.1:$T_SINK_PORT" <<'PY' >"$T_DIR/check.out" 2>&1
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
relay = sys.argv[3]
def get(page, name, **labels):
    found = [s[2] for s in page["samples"] if s[0] == name and all(s[1].get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]
counters = ["herald_sent", "herald_deferred", "herald_failed", "herald_claims", "herald_claim_seconds",
            "herald_relay_sent", "herald_relay_deferred", "herald_relay_failed", "herald_domain_sent",
            "herald_mailing_sent", "herald_mailing_deferred", "herald_mailing_failed", "herald_mailing_bounced",
            "herald_complaints"]
gauges = ["herald_workers_active", "herald_relay_up", "herald_backlog", "herald_mailings", "herald_mailing_staged",
          "herald_stage_latency_seconds"]
for f in counters:
    assert b["types"].get(f) == "counter", (f, b["types"].get(f))
for f in gauges:
    assert b["types"].get(f) == "gauge", (f, b["types"].get(f))
for s in b["samples"]:
    assert s[1].get("node") == "metrics-node", s
for name, labels in [("herald_sent_total", {}), ("herald_relay_sent_total", {"relay": relay}),
                     ("herald_mailing_sent_total", {"mailing": "1"}), ("herald_domain_sent_total", {"domain": "example.org"}),
                     ("herald_claims_total", {})]:
    before, after = get(a, name, **labels), get(b, name, **labels)
    assert 0 < before < after, (name, labels, before, after)
assert get(b, "herald_relay_up", relay=relay) == 1
assert get(b, "herald_mailings", state="sending") == 1 and get(b, "herald_mailings", state="paused") == 0
assert get(b, "herald_mailing_staged", mailing="1") == 600
assert 0 < get(b, "herald_backlog") < 600
print("first", get(a, "herald_sent_total"), "second", get(b, "herald_sent_total"))
PY
[ $? = 0 ] && t_ok "python3-prometheus-client parses it; counters rise between scrapes; labels node, relay, mailing, domain" ||
	t_fail "parsed page" "$(cat "$T_DIR/check.out")"

# Paused, the figures stop moving: each must equal herald status's.
"$HERALD_BIN" mailing pause 1 >/dev/null
ok=0
for _ in $(seq 1 100); do
	"$HERALD_BIN" status --json >"$T_DIR/status.json" 2>/dev/null
	scrape "$T_DIR/paused.json"
	if "$PYTHON3" - "$T_DIR/paused.json" "$T_DIR/status.json" "127.0.0.1:$T_SINK_PORT" <<'PY' >"$T_DIR/match.out" 2>&1
import json, sys
page, status = (json.load(open(f)) for f in sys.argv[1:3])
relay = sys.argv[3]
def get(name, **labels):
    found = [s[2] for s in page["samples"] if s[0] == name and all(s[1].get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]
m = [x for x in status["mailings"] if x["id"] == 1][0]
assert m["state"] == "paused", m
assert get("herald_mailings", state="paused") == 1
for k in ("sent", "deferred", "failed", "staged"):
    name = "herald_mailing_staged" if k == "staged" else "herald_mailing_%s_total" % k
    assert get(name, mailing="1") == m[k], (k, get(name, mailing="1"), m[k])
t = [x for x in status["relay_totals"] if x["name"] == relay][0]
for k in ("sent", "deferred", "failed"):
    assert get("herald_relay_%s_total" % k, relay=relay) == t[k], (k, t)
assert get("herald_sent_total") == t["sent"] == m["sent"], (get("herald_sent_total"), t, m)
assert get("herald_backlog") == m["pending"] + m["deferred"], (get("herald_backlog"), m)
assert get("herald_workers_active") == 0
print("paused at", m["sent"], "sent")
PY
	then ok=1; break; fi
	sleep 0.2
done
[ $ok = 1 ] && t_ok "paused: mailing, relay and node figures equal herald status --json ($(cat "$T_DIR/match.out"))" ||
	t_fail "figures match herald status" "$(cat "$T_DIR/match.out")"

# What a client can do to it.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "http://127.0.0.1:$port/other")" = 404 ] && [ "$(code -X POST -d x "$URL")" = 405 ] &&
	[ "$(code -I "$URL")" = 200 ] && [ "$(code -H "X-Long: $(head -c 9000 /dev/zero | tr '\0' a)" "$URL")" = 431 ] &&
	t_ok "404 for another path, 405 for POST, HEAD works, 431 for a head over 8 KB" ||
	t_fail "HTTP answers" "$(code "http://127.0.0.1:$port/other") $(code -X POST -d x "$URL") $(code -I "$URL")"
"$PYTHON3" - "$port" "$URL" <<'PY' >"$T_DIR/limits.out" 2>&1
import socket, subprocess, sys, time
port, url = int(sys.argv[1]), sys.argv[2]
def curl(seconds):
    return subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", str(seconds), url],
                          capture_output=True, text=True).stdout
opened = time.time()
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
time.sleep(0.5)
assert curl(2) != "200", "a ninth connection was served"
held.pop().close()
assert curl(5) == "200", "not served once one closed"
# One that never speaks is closed when its 10 s are up.
held[0].settimeout(30)
assert held[0].recv(100) == b""
took = time.time() - opened
assert 9.5 < took < 14, took
print("idle connection closed after %.1f s" % took)
PY
[ $? = 0 ] && t_ok "8 connections at most, the 9th served when one closes; a silent one closed ($(tail -1 "$T_DIR/limits.out"))" ||
	t_fail "connection limits" "$(cat "$T_DIR/limits.out")"

# Resumed, the mailing finishes; the node's counter ends at N.
"$HERALD_BIN" mailing resume 1 >/dev/null
for _ in $(seq 1 300); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	sleep 0.2
done
scrape "$T_DIR/last.json"
"$PYTHON3" -c "import json,sys; p=json.load(open(sys.argv[1])); v=[s[2] for s in p['samples'] if s[0]=='herald_sent_total']; assert v==[$N], v" \
    "$T_DIR/last.json" 2>"$T_DIR/err" && [ "$(t_sink_count "$T_DIR/sink")" = $N ] &&
	t_ok "the mailing is done: herald_sent_total is $N, as the sink counted" ||
	t_fail "final count" "$(cat "$T_DIR/err") sink $(t_sink_count "$T_DIR/sink")"
kill $daemon
wait $daemon

# contrib/prometheus: the scrape configuration and the alert rules, and
# the rules' own tests (each alert fires on what should raise it).
if command -v promtool >/dev/null; then
	P="$HERALD_SRCDIR/contrib/prometheus"
	t_check "promtool accepts contrib/prometheus's configuration and rules" \
	    sh -c "promtool check config '$P/prometheus.yml' && promtool check rules '$P/herald-rules.yml'"
	t_check "promtool test rules: each alert fires when it should, only then" \
	    sh -c "cd '$P' && promtool test rules herald-rules.test.yml"
else
	echo "# promtool is not installed (Debian package prometheus): contrib/prometheus not checked"
fi
t_done
