#!/bin/bash
# contrib/prometheus/screenshot.sh - a real send watched by a real
# Prometheus, photographed.
#
#   contrib/prometheus/screenshot.sh BUILD_DIR OUT.png [RECIPIENTS]
#
# Runs herald on its embedded MariaDB, relaying to smtp-sink, with
# metrics_listen set; a private Prometheus on loopback scrapes heraldd's
# /metrics every 2 s. Two mailings of RECIPIENTS each (default 3,000):
# the first at --rate 25/s, the second, staged 40 s later, at 15/s.
# When both are done, headless Chromium takes a picture of Prometheus's
# graph page showing each mailing's send rate, into OUT.png (made small
# with png8.py: a palette of the page's 256 most used colours).
# doc/metrics.png comes from this script. Needs root (smtp-sink) and the
# Debian packages prometheus and chromium (contrib/packages.sh).
set -u
[ $# -ge 2 ] || { sed -n '3,14p' "$0"; exit 2; }
build=$(cd "$1" && pwd)
out=$(realpath -m "$2")
N=${3:-3000}
export HERALD_SRCDIR
HERALD_SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
export HERALD_BIN="$build/src/herald" HERALDD_BIN="$build/src/heraldd"
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
for tool in prometheus chromium curl; do
	command -v $tool >/dev/null || { echo "install $tool" >&2; exit 1; }
done
wait_for() {	# SECONDS WHAT CONDITION...: polls every half second
	local tries=$(($1 * 2)) what=$2
	shift 2
	for _ in $(seq 1 "$tries"); do "$@" && return 0; sleep 0.5; done
	echo "screenshot.sh: gave up waiting for $what" >&2
	exit 1
}

t_start_sink "$T_DIR/sink"
metrics_port=$(t_free_port)
export HERALD_CONFIG="$T_DIR/herald.conf"
cat >"$HERALD_CONFIG" <<CONF
state_directory = $T_DIR/state
user =
sql_directory = $HERALD_SRCDIR/sql
pid_file = $T_DIR/heraldd.pid
relay_port = $T_SINK_PORT
worker_count = 2
batch_size = 100
node_name = demo-node
metrics_interval = 2
gmond_host =
postfix_config_directory =
metrics_listen = 127.0.0.1:$metrics_port
CONF
"$HERALD_BIN" db init >/dev/null || exit 1
t_at_exit "'$HERALD_BIN' db stop >/dev/null 2>&1"
mkdir -p "$T_DIR/t"
printf 'Dear {{first_name}},\n\nthank you for your support.\n' >"$T_DIR/t/text.mustache"
awk -v n="$N" 'BEGIN { print "email,first_name"
	for (i = 1; i <= n; i++) printf "p%d@example.org,P%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null || exit 1

# Prometheus, private: its own configuration, data and loopback port.
prom_port=$(t_free_port)
cat >"$T_DIR/prometheus.yml" <<CONF
global:
  scrape_interval: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: herald
    static_configs:
      - targets: ['127.0.0.1:$metrics_port']
CONF
prometheus --config.file="$T_DIR/prometheus.yml" --storage.tsdb.path="$T_DIR/prometheus" \
	--web.listen-address="127.0.0.1:$prom_port" >"$T_DIR/prometheus.log" 2>&1 &
t_at_exit "kill $! 2>/dev/null"
prom="http://127.0.0.1:$prom_port"
wait_for 60 "Prometheus to start" curl -sf "$prom/-/ready" -o /dev/null

started=$(date +%s)
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
scraped() { curl -sf "$prom/api/v1/query?query=up" | grep -q '"value":\[[0-9.]*,"1"\]'; }
wait_for 60 "Prometheus to scrape heraldd" scraped
sleep 10	# a flat start on the graph, before anything is sent
mailing() {	# NAME RATE
	"$HERALD_BIN" mailing create --name "$1" --template "$T_DIR/t" --segment all \
		--from news@example.org --subject "Thank you" --rate "$2" >/dev/null &&
	"$HERALD_BIN" stage >/dev/null 2>&1
}
mailing "Spring appeal" 25/s || exit 1
sleep 40
mailing "Members' letter" 15/s || exit 1
sink_count() { [ "$(t_sink_count "$T_DIR/sink")" -ge $((2 * N)) ]; }
wait_for 1200 "both mailings to be sent" sink_count
sleep 20	# the rates fall back to zero on the graph

expr='sum by (mailing) (rate(herald_mailing_sent_total[10s]))'
enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$expr")
# The whole run on the graph, legend and time axis in the picture.
minutes=$(( ($(date +%s) - started) / 60 + 1 ))
url="$prom/graph?g0.expr=$enc&g0.tab=0&g0.stacked=0&g0.show_exemplars=0&g0.range_input=${minutes}m"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,900 \
	--virtual-time-budget=20000 --screenshot="$T_DIR/page.png" "$url" >"$T_DIR/chromium.log" 2>&1
[ -s "$T_DIR/page.png" ] || { echo "screenshot.sh: chromium wrote no picture: $(tail -3 "$T_DIR/chromium.log")" >&2; exit 1; }
# Small: a palette of the page's 256 most used colours.
python3 "$HERALD_SRCDIR/contrib/prometheus/png8.py" "$T_DIR/page.png" "$out" || exit 1
echo "$out: $(stat -c %s "$out") bytes; $(t_sink_count "$T_DIR/sink") messages sent; graph of $expr"
kill -TERM $daemon; wait $daemon
