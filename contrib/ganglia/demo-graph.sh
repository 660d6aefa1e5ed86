#!/bin/bash
# contrib/ganglia/demo-graph.sh - a real send watched through Ganglia, drawn.
#
#   contrib/ganglia/demo-graph.sh BUILD_DIR OUT_PREFIX [RECIPIENTS]
#
# Runs herald on its embedded MariaDB with a private Postfix (relaying to
# smtp-sink) and a private gmond, all on loopback, sends RECIPIENTS
# (default 60,000) messages, one in twenty to a domain routed to a relay
# that answers 4xx to every RCPT (so they are deferred, retried twice,
# then failed), and draws what gmond received with graph.py into
# OUT_PREFIX-rates.png and OUT_PREFIX-queues.png. doc/ganglia-*.png come
# from this script. Needs root (Postfix, smtp-sink), rrdtool and gmond.
set -u
[ $# -ge 2 ] || { sed -n '3,12p' "$0"; exit 2; }
build=$(cd "$1" && pwd)
prefix=$(realpath -m "$2")
N=${3:-60000}
export HERALD_SRCDIR
HERALD_SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
export HERALD_BIN="$build/src/herald" HERALDD_BIN="$build/src/heraldd"
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/postfix.sh"
command -v rrdtool >/dev/null || { echo "install rrdtool" >&2; exit 1; }

t_start_sink "$T_DIR/sink"
good_sink=$T_SINK_PORT
t_start_sink "$T_DIR/sink-4xx" -r RCPT
deferring_sink=$T_SINK_PORT
t_start_postfix "$good_sink"
gmond_port=$(t_free_port)
sed "s/port = 8649/port = $gmond_port/" "$HERALD_SRCDIR/contrib/ganglia/gmond-herald.conf" >"$T_DIR/gmond.conf"
printf 'globals {\n daemonize = no\n setuid = no\n user = nobody\n}\ncluster { name = "herald-demo" }\n' >>"$T_DIR/gmond.conf"
/usr/sbin/gmond -c "$T_DIR/gmond.conf" -f >"$T_DIR/gmond.log" 2>&1 &
t_at_exit "kill $! 2>/dev/null"

export HERALD_CONFIG="$T_DIR/herald.conf"
cat >"$HERALD_CONFIG" <<CONF
state_directory = $T_DIR/state
user =
sql_directory = $HERALD_SRCDIR/sql
pid_file = $T_DIR/heraldd.pid
relay_port = $T_POSTFIX_PORT
route deferring.example = 127.0.0.1:$deferring_sink
worker_count = 4
retry_schedule = 20s 20s
metrics_interval = 2
gmond_config = $T_DIR/gmond.conf
postfix_config_directory = $T_DIR/postfix/conf
postfix_queue_limit = 3000
CONF
"$HERALD_BIN" db init >/dev/null || exit 1
t_at_exit "'$HERALD_BIN' db stop >/dev/null 2>&1"
mkdir -p "$T_DIR/t"
printf 'Dear {{first_name}},\n\nthank you for your support.\n' >"$T_DIR/t/text.mustache"
awk -v n="$N" 'BEGIN { print "email,first_name"
	for (i = 1; i <= n; i++) printf "d%d@%s,D%d\n", i, i % 20 ? "example.org" : "deferring.example", i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name "Ganglia demo" --template "$T_DIR/t" --segment all \
	--from news@example.org --subject "Thank you" >/dev/null
"$HERALD_BIN" stage >/dev/null
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
python3 "$HERALD_SRCDIR/contrib/ganglia/graph.py" --gmond "127.0.0.1:$gmond_port" \
	--seconds "${GRAPH_SECONDS:-150}" --step 2 --title "herald, $N recipients" "$prefix"
"$HERALD_BIN" mailing show 1 | grep -iE 'state|sent|deferred|failed' | head -6
kill -TERM $daemon; wait $daemon
