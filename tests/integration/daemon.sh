#!/bin/bash
# daemon.sh - heraldd as a daemon: it detaches and its starter exits 0
# once it runs, logs to syslog with facility mail, holds its pid file (a
# second heraldd is refused, naming the first), refuses a bad
# configuration with FILE:LINE, stops on TERM removing the pid file (and
# says how many workers it waits for), and its workers do not outlive a
# killed master.
. "$HERALD_SRCDIR/tests/lib/common.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
# A process that still runs (an exited one waiting to be reaped by its
# new parent is a zombie: it sends nothing).
alive() { ps -o stat= -p "$1" 2>/dev/null | grep -qv '^Z'; }
t_use_database
cat >>"$T_CONFIG" <<CONF
pid_file = $T_DIR/heraldd.pid
worker_count = 2
relay_port = 1
relay_timeout = 90
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }

# A syslog socket to read what the daemon logs, when the machine has none
# (a machine with its own syslog keeps it; the check is then skipped).
syslog_check=0
if [ ! -e /dev/log ]; then
	"$PYTHON3" - "$T_DIR/syslog" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
out = open(sys.argv[1], "ab", buffering=0)
while True:
    out.write(s.recv(65536) + b"\n")
PY
	t_at_exit "kill $! 2>/dev/null; rm -f /dev/log"
	for _ in $(seq 1 50); do [ -S /dev/log ] && break; sleep 0.1; done
	syslog_check=1
else
	echo "SKIPPED (syslog content): /dev/log belongs to this machine's syslog"
fi

t_check "heraldd detaches; its starter exits 0 once it runs" "$HERALDD_BIN"
pid=$(cat "$T_DIR/heraldd.pid" 2>/dev/null)
[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && t_ok "the pid file names the running daemon" ||
	t_fail "the pid file names the running daemon" "pid '$pid'"
[ "$(ps -o ppid= -p "$pid" | tr -d ' ')" = 1 ] && t_ok "the daemon is detached (parent is init)" ||
	t_fail "the daemon is detached" "parent $(ps -o ppid= -p "$pid")"
t_expect_fail "a second heraldd is refused, naming the first" 1 "$pid" "$HERALDD_BIN"
sleep 1
if [ $syslog_check = 1 ]; then
	# <22> = facility mail (2 x 8) + priority info (6).
	grep -aq "<22>.*heraldd\[$pid\]: info: started: 2 workers" "$T_DIR/syslog" &&
		t_ok "the daemon logs to syslog, facility mail" ||
		t_fail "the daemon logs to syslog, facility mail" "$(tail -c 600 "$T_DIR/syslog")"
	grep -aq "<20>.*heraldd\[$pid\]: warning: worker_stall_timeout (60 s) is not above relay_timeout (90 s)" "$T_DIR/syslog" &&
		t_ok "warnings name the settings at priority warning" ||
		t_fail "warnings name the object at priority warning" "$(tail -c 600 "$T_DIR/syslog")"
fi
workers=$(pgrep -P "$pid" | wc -l)
# worker_count = 2, and the monitor (Postfix's queue, Ganglia).
[ "$workers" = 3 ] && t_ok "two workers and the monitor run under the master" ||
	t_fail "two workers and the monitor run" "$workers children"
kill -TERM "$pid"
for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$pid" 2>/dev/null && [ ! -e "$T_DIR/heraldd.pid" ] &&
	t_ok "TERM stops it and removes the pid file" || t_fail "TERM stops it" "still there"

# The master killed: its workers leave promptly, no orphan keeps sending.
t_check "heraldd starts again" "$HERALDD_BIN"
pid=$(cat "$T_DIR/heraldd.pid")
sleep 0.5
children=$(pgrep -P "$pid" | tr '\n' ' ')
kill -KILL "$pid"
sleep 2
left=0
for c in $children; do alive "$c" && left=$((left + 1)); done
[ -n "$children" ] && [ $left = 0 ] && t_ok "workers exit when the master is killed" ||
	t_fail "workers exit when the master is killed" "children '$children', $left left"
t_check "a new master starts over the stale pid file" "$HERALDD_BIN"
pid=$(cat "$T_DIR/heraldd.pid")
kill -TERM "$pid"
for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done

# In the foreground: a graceful stop names what it waits for, the
# workers apart from the monitor.
"$HERALDD_BIN" -f >"$T_DIR/fg.log" 2>&1 &
fg=$!
t_at_exit "kill $fg 2>/dev/null"
for _ in $(seq 1 100); do [ "$(pgrep -P $fg | wc -l)" = 3 ] && break; sleep 0.1; done
kill -TERM $fg
wait $fg
grep -q "graceful stop: waiting for 2 workers and the monitor$" "$T_DIR/fg.log" &&
	t_ok "a graceful stop counts the workers and the monitor apart" ||
	t_fail "graceful stop message" "$(grep stop "$T_DIR/fg.log")"

echo "worker_count = lots" >>"$T_CONFIG"
t_expect_fail "a bad configuration is refused with FILE:LINE" 1 "herald.conf:[0-9]+: .*worker_count" "$HERALDD_BIN"
t_expect_fail "a usage error exits 2" 2 "" "$HERALDD_BIN" --no-such-option
t_done
