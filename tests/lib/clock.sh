# tests/lib/clock.sh - heraldd and herald with their clock moved by the
# test (HERALD_TEST_CLOCK_OFFSET, for tests only), one heraldd at a time
# on the test's database, relaying to a sink (tests/integration/
# windows.sh, windows_late.sh).
#
#   t_clock_setup PORT       append to $T_CONFIG the relay 127.0.0.1:PORT,
#                            pid file $T_DIR/heraldd.pid, message_domain
#                            news.example.org and the keys on stdin;
#                            herald db init; cd "$T_DIR"
#   t_epoch TIME             TIME ("2026-11-10 08:00:00", UTC) in seconds
#                            since the epoch
#   t_offset_for TIME        the clock offset that makes it TIME now
#   t_start_daemon TIME      heraldd -f with its clock at TIME now,
#                            appending to $T_DIR/heraldd.log; stopped at
#                            exit
#   t_stop_daemon            SIGTERM to it (once it runs), and wait
#   t_arrival FILE OFFSET    "recipient<TAB>arrival" of a sink's FILE, the
#                            arrival on herald's clock (the file's time
#                            moved by OFFSET, the daemon's then)
#
# Source tests/lib/common.sh first (and call t_use_database).

T_DAEMON_PID=

t_clock_setup() {
	cat >>"$T_CONFIG" <<CONF
relay_host = 127.0.0.1
relay_port = $1
pid_file = $T_DIR/heraldd.pid
message_domain = news.example.org
CONF
	cat >>"$T_CONFIG"
	t_at_exit 't_stop_daemon'
	"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
	cd "$T_DIR" || exit 1
}

t_epoch() { date -u -d "$1Z" +%s; }

t_offset_for() { echo $(( $(t_epoch "$1") - $(date +%s) )); }

t_start_daemon() {
	HERALD_TEST_CLOCK_OFFSET=$(t_offset_for "$1") "$HERALDD_BIN" -f >>"$T_DIR/heraldd.log" 2>&1 &
	T_DAEMON_PID=$!
}

t_stop_daemon() {
	[ -n "$T_DAEMON_PID" ] || return 0
	# Not before heraldd runs: a TERM between the fork and the exec
	# would hit a copy of this shell, which would run its exit trap.
	for _ in $(seq 1 100); do [ -s "$T_DIR/heraldd.pid" ] && break; sleep 0.1; done
	kill -TERM "$T_DAEMON_PID" 2>/dev/null
	wait "$T_DAEMON_PID" 2>/dev/null
	T_DAEMON_PID=
}

t_arrival() {
	local to
	to=$(grep -m1 "^To: " "$1" | sed 's/^To: *//; s/.*<//; s/>.*//' | tr -d '\r')
	printf '%s\t%s\n' "$to" "$(( $(stat -c %Y "$1") + $2 ))"
}
