#!/bin/bash
# tests/leaks/heraldd.sh - heraldd under valgrind: the master, the workers
# and the monitor send a mailing, reload on three SIGHUPs in a row and on
# an edit of the configuration file after them, stop on SIGTERM, and the
# monitor answers /metrics scrapes and bad requests meanwhile; every
# process must end with no memory error and no definitely or indirectly
# lost block. Needs a build without sanitizers (valgrind and ASan do not
# mix): contrib/check builds one in _build-valgrind and runs this with
# HERALD_BIN and HERALDD_BIN pointing there.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set}"
command -v valgrind >/dev/null || t_skip "valgrind is not installed (Debian package valgrind)"
nm -D "$HERALDD_BIN" 2>/dev/null | grep -q __asan_init &&
	t_skip "$HERALDD_BIN is built with AddressSanitizer; valgrind needs a plain build"
t_use_database
t_start_sink "$T_DIR/sink"
metrics_port=$(t_free_port)
cat >>"$T_CONFIG" <<CONF
metrics_listen = 127.0.0.1:$metrics_port
relay_port = $T_SINK_PORT
worker_count = 2
relay_session_size = 20
batch_size = 50
metrics_interval = 1
pid_file = $T_DIR/heraldd.pid
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t"
echo "Hi {{first_name}}, {{#city}}from {{city}}{{/city}}" >"$T_DIR/t/text.mustache"
echo "<p>Hi {{first_name}}</p>" >"$T_DIR/t/html.mustache"
awk 'BEGIN { print "email,first_name,city"; for (i = 1; i <= 300; i++) printf "v%d@example.org,V%d,Town %d\n", i, i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name leaks --template "$T_DIR/t" --segment all --from a@example.org --subject "Ünïcode s" >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
mkdir -p "$T_DIR/vg"
valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --trace-children=yes \
	--trace-children-skip='*/postqueue' --log-file="$T_DIR/vg/%p" \
	"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 600); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	sleep 0.2
done
[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && t_ok "under valgrind, the mailing is sent" ||
	t_fail "mailing sent under valgrind" "$(tail -5 "$T_DIR/heraldd.log")"
# Waits up to 120 s (valgrind is slow) for a command to succeed.
wait_for() {
	for _ in $(seq 1 600); do "$@" && return 0; sleep 0.2; done
	return 1
}
# The monitor's HTTP server: pages, errors, and a client that goes away.
scraped() { curl -sf -m 20 "http://127.0.0.1:$metrics_port/metrics" | grep -q '^herald_sent_total{node=".*"} 300$'; }
wait_for scraped && [ "$(curl -s -o /dev/null -w '%{http_code}' -m 20 "http://127.0.0.1:$metrics_port/x")" = 404 ] &&
	[ "$(curl -s -o /dev/null -w '%{http_code}' -m 20 -X DELETE "http://127.0.0.1:$metrics_port/metrics")" = 405 ] &&
	"$PYTHON3" -c "import socket,sys; s=socket.create_connection(('127.0.0.1', int(sys.argv[1]))); s.send(b'GET /met'); s.close()" "$metrics_port" &&
	t_ok "under valgrind, /metrics answers with the 300 sent; 404, 405; a client that leaves mid-request" ||
	t_fail "/metrics under valgrind" "$(curl -s -m 20 "http://127.0.0.1:$metrics_port/metrics" | head -5)"
reloads() { [ "$(grep -c "reloading the configuration ($1)" "$T_DIR/heraldd.log")" -ge "$2" ]; }
children() { pgrep -P $daemon | tr '\n' ' '; }
# Two workers and the monitor run, none of them one of $1: a reload
# has replaced them all.
replaced() {
	local now
	now=$(children)
	[ "$(echo $now | wc -w)" = 3 ] || return 1
	for c in $now; do
		case " $1 " in *" $c "*) return 1 ;; esac
	done
}
# Reloads in a row: each one reads the file again and restarts every
# worker and the monitor.
wait_for replaced ""
for n in 1 2 3; do
	before=$(children)
	kill -HUP $daemon
	wait_for reloads SIGHUP $n && wait_for replaced "$before" || break
done
reloads SIGHUP 3 && ! grep -q "reload (.*) refused" "$T_DIR/heraldd.log" &&
	t_ok "three reloads in a row, each one done" ||
	t_fail "three reloads in a row" "$(grep -E "reload|error" "$T_DIR/heraldd.log" | tail -5)"
# After them, an edit of the file is still seen.
before=$(children)
echo "worker_kill_grace = 5" >>"$T_CONFIG"
wait_for reloads "configuration file changed" 1 && wait_for replaced "$before" &&
	t_ok "an edit after the reloads reloads the configuration" ||
	t_fail "an edit after the reloads is seen" "$(grep -E "reload|error" "$T_DIR/heraldd.log" | tail -5)"
wait_for scraped && t_ok "the monitor started by the reloads serves /metrics on the same socket" ||
	t_fail "/metrics after the reloads" "$(curl -s -m 20 "http://127.0.0.1:$metrics_port/metrics" | head -5)"
kill -TERM $daemon
wait $daemon
logs=$(ls "$T_DIR/vg" | wc -l)
[ "$logs" -ge 16 ] && t_ok "$logs processes ran under valgrind" || t_fail "processes under valgrind" "$logs logs"
bad=""
for f in "$T_DIR"/vg/*; do
	[ -s "$f" ] && bad="$bad
--- $(basename "$f"): $(head -c 3000 "$f")"
done
[ -z "$bad" ] && t_ok "no memory error and no lost block in any heraldd process" ||
	t_fail "valgrind reports" "$bad"
t_done
