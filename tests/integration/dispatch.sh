#!/bin/bash
# dispatch.sh - heraldd end to end through a real Postfix into smtp-sink,
# with the faults an operator meets:
#   mailing 1 (10,000): paused and resumed, heraldd stopped and started
#     again mid-mailing: every recipient exactly one message;
#   mailing 2 (20,000): a worker SIGKILLed mid-batch, a worker hung
#     (SIGSTOP) until the watchdog kills it, the master SIGKILLed and a
#     new one started: nothing lost, duplicates at most the messages in
#     flight at the kills, each duplicate with the same Message-ID.
# Prints the figures: messages, lost, duplicates.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/postfix.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
# A process that still runs (an exited one waiting to be reaped by its
# new parent is a zombie: it sends nothing).
alive() { ps -o stat= -p "$1" 2>/dev/null | grep -qv '^Z'; }
t_use_database
t_start_sink "$T_DIR/sink"
t_start_postfix "$T_SINK_PORT"
SESSION=50
WORKERS=4
cat >>"$T_CONFIG" <<CONF
relay_host = 127.0.0.1
relay_port = $T_POSTFIX_PORT
worker_count = $WORKERS
relay_session_size = $SESSION
relay_timeout = 2
worker_stall_timeout = 4
worker_kill_grace = 1
batch_size = 500
batch_lease = 10
pid_file = $T_DIR/heraldd.pid
message_domain = news.example.org
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
tpl="$T_DIR/template"
mkdir -p "$tpl"
echo "Hello {{first_name}}, recipient {{recipient_id}} of {{mailing.name}}" >"$tpl/text.mustache"
echo "<p>Hello {{first_name}}</p>" >"$tpl/html.mustache"
awk 'BEGIN { print "email,first_name,state"; for (i = 1; i <= 30000; i++)
	printf "d%d@example.net,Name%d,%s\n", i, i, (i <= 10000 ? "OH" : "PA") }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null || t_fail "import" "failed"
mailing() {
	"$HERALD_BIN" mailing create --name "$1" --template "$tpl" --segment "$2" \
	    --from "News <news@example.org>" --subject "Test {{first_name}}" >/dev/null
}
sent() { t_sql "SELECT COUNT(*) FROM stage_$1 WHERE delivery_state = 'sent'"; }
state() { t_sql "SELECT state FROM mailings WHERE id = $1"; }
wait_sent() {	# MAILING AT_LEAST
	for _ in $(seq 1 1200); do [ "$(sent "$1")" -ge "$2" ] && return 0; sleep 0.1; done
	return 1
}
wait_done() {
	for _ in $(seq 1 1800); do [ "$(state "$1")" = done ] && return 0; sleep 0.1; done
	return 1
}
start_daemon() {
	"$HERALDD_BIN" -f >>"$T_DIR/heraldd.log" 2>&1 &
	daemon=$!
	for _ in $(seq 1 50); do [ "$(pgrep -x heraldd -P $daemon | wc -l)" = $WORKERS ] && return; sleep 0.1; done
}
t_at_exit 'kill $daemon 2>/dev/null'
# sink_report MAILING N: received distinct recipients and duplicates,
# once Postfix has delivered everything it accepted.
sink_report() {
	local last=-1 now
	for _ in $(seq 1 600); do
		now=$(t_sink_count "$T_DIR/sink")
		[ "$now" = "$last" ] && [ "$(find "$T_DIR/postfix/queue/active" "$T_DIR/postfix/queue/incoming" -type f | wc -l)" = 0 ] && break
		last=$now
		sleep 0.5
	done
	grep -h "^Message-ID: <herald\.$1\." -r "$T_DIR/sink" | sort >"$T_DIR/ids.$1"
	total=$(wc -l <"$T_DIR/ids.$1")
	distinct=$(sort -u "$T_DIR/ids.$1" | wc -l)
	echo "$total $distinct"
}

# --- mailing 1: pause/resume and a graceful restart: no second copy ---------
mailing calm "state = OH"
"$HERALD_BIN" stage >/dev/null
start_daemon
wait_sent 1 2000 || t_fail "mailing 1 starts sending" "$(tail -c 800 "$T_DIR/heraldd.log")"
t_check "pause mailing 1 while it sends" "$HERALD_BIN" mailing pause 1
sleep 3
a=$(sent 1); sleep 2; b=$(sent 1)
[ "$a" = "$b" ] && [ "$a" -lt 10000 ] && t_ok "paused: sending stops after the messages in flight ($a sent)" ||
	t_fail "paused: sending stops" "$a then $b"
t_check "resume mailing 1" "$HERALD_BIN" mailing resume 1
wait_sent 1 $((b + 2000))
kill -TERM $daemon; wait $daemon
t_ok "heraldd stopped mid-mailing at $(sent 1) sent"
start_daemon
wait_done 1 && t_ok "mailing 1 done after the restart" || t_fail "mailing 1 done" "$(state 1), $(sent 1) sent"
# The worker that finished the last batch says so, once.
for _ in $(seq 1 50); do grep -q "mailing 1 done" "$T_DIR/heraldd.log" && break; sleep 0.1; done
[ "$(grep -c "mailing 1 done: every row is final" "$T_DIR/heraldd.log")" = 1 ] &&
	t_ok "heraldd logs once that mailing 1 is done" ||
	t_fail "heraldd logs once that mailing 1 is done" "$(grep -c "mailing 1 done" "$T_DIR/heraldd.log") lines"
read total distinct < <(sink_report 1)
echo "# mailing 1: 10000 recipients, $distinct received, $((10000 - distinct)) lost, $((total - distinct)) duplicates"
[ "$distinct" = 10000 ] && [ "$total" = 10000 ] && t_ok "pause, resume, restart: each of 10,000 exactly once" ||
	t_fail "pause, resume, restart: each of 10,000 exactly once" "$total received, $distinct distinct"
[ "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE queue_id REGEXP '^[0-9A-F]+$'")" = 10000 ] &&
	t_ok "every row records Postfix's queue id" || t_fail "every row records Postfix's queue id" "missing"

# --- mailing 2: kills and a hang ---------------------------------------------
mailing rough "state = PA"
"$HERALD_BIN" stage >/dev/null
wait_sent 2 3000
victim=$(pgrep -x heraldd -P $daemon | head -1)
kill -KILL "$victim"
t_ok "SIGKILLed worker $victim at $(sent 2) sent"
wait_sent 2 7000
hung=$(pgrep -x heraldd -P $daemon | tail -1)
kill -STOP "$hung"
for _ in $(seq 1 150); do grep -q "pid $hung) stalled" "$T_DIR/heraldd.log" && break; sleep 0.1; done
# SIGTERM cannot wake a stopped process: SIGKILL follows after
# worker_kill_grace, and the master reaps it.
for _ in $(seq 1 100); do kill -0 "$hung" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$hung" 2>/dev/null && t_ok "the watchdog killed the hung worker $hung" ||
	{ t_fail "the watchdog killed the hung worker" "$(tail -c 600 "$T_DIR/heraldd.log")"; kill -KILL "$hung"; }
wait_sent 2 12000
children=$(pgrep -P $daemon)	# the workers and the monitor
kill -KILL $daemon; wait $daemon 2>/dev/null
sleep 2
left=0; for c in $children; do alive "$c" && left=$((left + 1)); done
[ $left = 0 ] && t_ok "workers left when the master was SIGKILLed at $(sent 2) sent" ||
	t_fail "workers left when the master was SIGKILLed" "$left still running"
start_daemon
wait_done 2 && t_ok "mailing 2 done after a new master took over" || t_fail "mailing 2 done" "$(state 2), $(sent 2) sent"
kill -TERM $daemon; wait $daemon
read total distinct < <(sink_report 2)
inflight=$(( SESSION * (1 + 1 + WORKERS) ))
echo "# mailing 2: 20000 recipients, $distinct received, $((20000 - distinct)) lost, $((total - distinct)) duplicates (bound: $inflight in flight at the kills)"
[ "$distinct" = 20000 ] && t_ok "kills and a hang: nothing lost" || t_fail "kills and a hang: nothing lost" "$distinct of 20000"
[ $((total - distinct)) -le $inflight ] && t_ok "duplicates ($((total - distinct))) at most the $inflight in flight, with the same Message-ID" ||
	t_fail "duplicates at most in flight" "$((total - distinct)) > $inflight"
[ "$(t_sql "SELECT COUNT(*) FROM stage_2 WHERE delivery_state = 'sent'")" = 20000 ] &&
	t_ok "the database says sent for all 20,000" || t_fail "the database says sent for all" "$(sent 2)"
"$PYTHON3" - "$T_DIR/sink" <<'PY' >"$T_DIR/pers.out"
import email, email.policy, os, re, sys
bad = n = 0
for name in os.listdir(sys.argv[1]):
    data = open(os.path.join(sys.argv[1], name), "rb").read()
    msg = email.message_from_bytes(data, policy=email.policy.strict)
    m = re.match(r"<herald\.(\d+)\.(\d+)@news\.example\.org>", msg["Message-ID"])
    rcpt = re.search(rb"X-Rcpt-Args: <d(\d+)@example\.net>", data).group(1).decode()
    text = msg.get_body(("plain",)).get_content()
    n += 1
    if not m or "Hello Name%s," % rcpt not in text or msg["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" \
       or not re.search(rb"X-Mail-Args: <bounces\+%s-\d+-[a-z0-9]+-[a-z2-7]{13}@news\.example\.org>" % m.group(1).encode(), data):
        bad += 1
print("%d messages, %d bad" % (n, bad)); sys.exit(1 if bad else 0)
PY
[ $? = 0 ] && t_ok "each message carries its recipient's personalization and headers ($(cat "$T_DIR/pers.out"))" ||
	t_fail "personalization and headers" "$(cat "$T_DIR/pers.out")"
t_done
