#!/bin/bash
# routes.sh - per-domain routes: "route example.org = 127.0.0.1:PORT"
# sends that domain's recipients to its own relay and everyone else to
# relay_host; while the route's relay is down, its domain falls back to
# relay_host; a bad route is refused with FILE:LINE.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
t_start_sink "$T_DIR/general"
general=$T_SINK_PORT
t_start_sink "$T_DIR/routed"
routed=$T_SINK_PORT
routed_pid=$T_SINK_PID
cat >>"$T_CONFIG" <<CONF
relay_port = $general
route example.org = 127.0.0.1:$routed
worker_count = 2
relay_session_size = 20
relay_retry_limit = 60s
pid_file = $T_DIR/heraldd.pid
CONF
t_check "a route is accepted by config check" "$HERALD_BIN" config check
printf 'route example.org = host:99999\n' >"$T_DIR/bad.conf"
t_expect_fail "a route with a bad port is refused with FILE:LINE" 1 'bad.conf:1: key "route example.org": expected' \
	"$HERALD_BIN" config check --config "$T_DIR/bad.conf"
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
awk 'BEGIN { print "email,first_name"; for (i = 1; i <= 300; i++)
	printf "r%d@%s,R%d\n", i, (i % 3 == 0 ? "example.org" : "example.net"), i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
run_mailing() {	# NAME ID: send it and wait until done
	"$HERALD_BIN" mailing create --name "$1" --template "$T_DIR/t" --segment all --from a@example.org --subject s >/dev/null
	"$HERALD_BIN" stage >/dev/null 2>&1
	for _ in $(seq 1 300); do
		[ "$(t_sql "SELECT state FROM mailings WHERE id = $2")" = done ] && return 0
		sleep 0.1
	done
	return 1
}
count() {	# DIR MAILING DOMAIN
	grep -l "^Message-ID: <herald\.$2\." -r "$1" 2>/dev/null | xargs -r grep -l "^X-Rcpt-Args: <r[0-9]*@$3>" | wc -l
}
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
run_mailing routed 1 || t_fail "mailing 1 done" "$(tail -5 "$T_DIR/heraldd.log")"
sleep 0.5
a=$(count "$T_DIR/routed" 1 example.org); b=$(count "$T_DIR/routed" 1 example.net)
c=$(count "$T_DIR/general" 1 example.net); d=$(count "$T_DIR/general" 1 example.org)
[ "$a" = 100 ] && [ "$b" = 0 ] && [ "$c" = 200 ] && [ "$d" = 0 ] &&
	t_ok "example.org went to its route (100), example.net to relay_host (200)" ||
	t_fail "routing" "routed: $a example.org, $b example.net; general: $c example.net, $d example.org"

kill "$routed_pid"; wait "$routed_pid" 2>/dev/null
run_mailing fallback 2 || t_fail "mailing 2 done" "$(tail -5 "$T_DIR/heraldd.log")"
sleep 0.5
e=$(count "$T_DIR/general" 2 example.org)
[ "$e" = 100 ] && [ "$(t_sql "SELECT COUNT(*) FROM stage_2 WHERE delivery_state = 'sent'")" = 300 ] &&
	t_ok "with the route's relay down, example.org fell back to relay_host" ||
	t_fail "fallback" "$e example.org via relay_host; $(tail -5 "$T_DIR/heraldd.log")"
grep -q "relay 127.0.0.1:$routed is down" "$T_DIR/heraldd.log" && t_ok "the route's relay was marked down" ||
	t_fail "route marked down" "$(tail -5 "$T_DIR/heraldd.log")"
kill -TERM $daemon; wait $daemon
t_done
