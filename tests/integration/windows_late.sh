#!/bin/bash
# windows_late.sh - messages that come up after their send window has
# closed wait for the recipient's next window, against a real MariaDB,
# heraldd and smtp-sink, with herald's clock moved by the test
# (HERALD_TEST_CLOCK_OFFSET):
#   held: heraldd is stopped through the whole window and started after
#     it closed; nothing goes out then, the rows keep their place in the
#     spread (the same time of day) in the next day's window, and every
#     recipient gets one message inside it.
#   retried: a relay defers (4xx) every message inside the window and
#     the retries fall after its end; they too wait for the next window
#     and go out inside it, once each.
#   paced: the mailing's rate limit is too slow for the window; the
#     worker stops when the window closes, mid-batch, and what is left
#     waits for the next day's window.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/clock.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
t_start_sink "$T_DIR/sink"
GOOD_PORT=$T_SINK_PORT
# A second sink that answers every RCPT with a 4xx: every message is
# deferred. smtp-sink's -r: soft-reject these commands.
DEFER_PORT=$(t_free_port)
mkdir -p "$T_DIR/defer" && chown nobody "$T_DIR/defer" 2>/dev/null
/usr/sbin/smtp-sink -u nobody -r RCPT -d "$T_DIR/defer/%H%M%S." \
    "127.0.0.1:$DEFER_PORT" 100 >"$T_DIR/defer.log" 2>&1 &
t_at_exit "kill $! 2>/dev/null"
t_clock_setup "$GOOD_PORT" <<CONF
worker_count = 1
batch_size = 2
retry_schedule = 90s 90s
CONF
use_relay() { sed -i "s/^relay_port = .*/relay_port = $1/" "$T_CONFIG"; }
printf 'email,first_name\n' >late.csv
for i in 1 2 3 4; do echo "r$i@late.example,R$i" >>late.csv; done
t_check "import four recipients without a zone" "$HERALD_BIN" import late.csv
mkdir -p template && echo "Hello {{first_name}}" >template/text.mustache

wait_for() {	# SECONDS CONDITION...: polls the condition every 0.1 s
	local tries=$(($1 * 10))
	shift
	for _ in $(seq 1 "$tries"); do "$@" && return 0; sleep 0.1; done
	return 1
}
log_has() { grep -q "$1" "$T_DIR/heraldd.log"; }
sql_is() { [ "$(t_sql "$1")" = "$2" ]; }
# arrivals DIR OFFSET: "recipient<TAB>arrival" (herald's clock) of the
# sink's files not listed in arrivals.seen yet.
arrivals() {
	local f
	for f in "$1"/*; do
		[ -f "$f" ] || continue
		grep -qxF "$f" arrivals.seen 2>/dev/null && continue
		echo "$f" >>arrivals.seen
		t_arrival "$f" "$2"
	done
}
# inside FILE OPENS CLOSES [SOME]: every arrival in FILE within the
# window, each of the four recipients exactly once (with SOME: at least
# one, none twice).
inside() {
	"$PYTHON3" - "$@" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
opens, closes = int(sys.argv[2]), int(sys.argv[3])
bad = [r for r in rows if not opens <= int(r[1]) <= closes]
who = sorted(r[0] for r in rows)
print(len(rows), "messages to", len(set(who)), "recipients; outside", bad or "none")
if len(sys.argv) > 4:
    sys.exit(0 if not bad and who and len(who) == len(set(who)) else 1)
sys.exit(0 if not bad and who == ["r%d@late.example" % i for i in (1, 2, 3, 4)] else 1)
PY
}

# --- held: heraldd stopped through the window -------------------------------
# Tuesday 2026-11-10; Paris is on CET (UTC+1): 09:00-09:01 there is
# 08:00-08:01 UTC. The four rows are due 0, 15, 30 and 45 s into it.
t_check "a windowed mailing" "$HERALD_BIN" mailing create --name late --template template \
    --segment all --from news@example.org --subject Hi --window 09:00-09:01 \
    --time-zone Europe/Paris
HERALD_TEST_CLOCK_OFFSET=$(t_offset_for "2026-11-10 07:58:00") "$HERALD_BIN" stage >/dev/null 2>&1 ||
	t_fail "herald stage" "failed"
due() { t_sql "SELECT GROUP_CONCAT(DATE_FORMAT(next_attempt_at, '%H:%i:%s') ORDER BY row_id) FROM $1"; }
got=$(due stage_1)
[ "$got" = "08:00:00,08:00:15,08:00:30,08:00:45" ] && t_ok "staged: due 0, 15, 30 and 45 s into the window" ||
	t_fail "staged due times" "$got"
# Started five minutes after the window closed.
t_start_daemon "2026-11-10 08:05:00"
wait_for 60 sql_is "SELECT state, next_attempt_at FROM batches WHERE mailing_id = 1 AND first_row = 3" \
    "ready	2026-11-11 08:00:30" &&
	wait_for 30 sql_is "SELECT COUNT(*) FROM batches WHERE mailing_id = 1 AND state = 'ready' AND next_attempt_at >= '2026-11-11'" 2
held=$?
t_stop_daemon
[ $held = 0 ] && log_has "rows of zone Europe/Paris came up after their send window closed; they wait for the next one (opens 2026-11-11 08:00:00 UTC)" &&
	t_ok "started after the window closed, heraldd holds the rows for the next window and says so" ||
	t_fail "rows held past the window" "$(t_sql 'SELECT * FROM batches'); $(tail -c 1500 heraldd.log)"
[ "$(t_sink_count "$T_DIR/sink")" = 0 ] && t_ok "nothing went out outside the window" ||
	t_fail "nothing outside the window" "$(t_sink_count "$T_DIR/sink") messages"
got=$(due stage_1)
[ "$got" = "08:00:00,08:00:15,08:00:30,08:00:45" ] &&
	sql_is "SELECT COUNT(*) FROM stage_1 WHERE DATE(next_attempt_at) = '2026-11-11' AND delivery_state = 'pending'" 4 &&
	t_ok "each row keeps its place in the spread, in the next day's window" ||
	t_fail "due times after holding" "$got; $(t_sql 'SELECT row_id, delivery_state, next_attempt_at FROM stage_1')"
HERALD_TEST_CLOCK_OFFSET=$(t_offset_for "2026-11-10 08:05:00") "$HERALD_BIN" status >status.out 2>&1
grep -q "waiting for its send window: next message due 2026-11-11 08:00:00 UTC" status.out &&
	t_ok "herald status gives the next window as the next message's time" ||
	t_fail "status after holding" "$(cat status.out)"
# The next day, from 5 s before the window.
offset=$(t_offset_for "2026-11-11 07:59:55")
t_start_daemon "2026-11-11 07:59:55"
wait_for 90 sql_is "SELECT state FROM mailings WHERE id = 1" done
t_stop_daemon
arrivals "$T_DIR/sink" "$offset" >held.tsv
inside held.tsv "$(t_epoch "2026-11-11 08:00:00")" "$(t_epoch "2026-11-11 08:01:00")" >held.out &&
	t_ok "the next day every recipient got one message inside the window ($(cat held.out))" ||
	t_fail "held rows sent in the next window" "$(cat held.out); $(tail -c 1500 heraldd.log)"

# --- retried: deferred inside the window, retries due after its end ---------
t_check "a second windowed mailing" "$HERALD_BIN" mailing create --name retried --template template \
    --segment all --from news@example.org --subject Hi --window 09:00-09:01 \
    --time-zone Europe/Paris
HERALD_TEST_CLOCK_OFFSET=$(t_offset_for "2026-11-12 07:58:00") "$HERALD_BIN" stage >/dev/null 2>&1 ||
	t_fail "herald stage" "failed"
use_relay "$DEFER_PORT"
t_start_daemon "2026-11-12 07:59:55"
wait_for 90 sql_is "SELECT COUNT(*) FROM stage_2 WHERE delivery_state = 'deferred'" 4
deferred=$?
t_stop_daemon
# Each retry is 90 s (+-10%) after its try: after 08:01, the window's end.
[ $deferred = 0 ] && sql_is "SELECT COUNT(*) FROM stage_2 WHERE next_attempt_at > '2026-11-12 08:01:00' AND next_attempt_at < '2026-11-12 08:03:00'" 4 &&
	t_ok "the relay deferred all four inside the window; their retries fall after its end" ||
	t_fail "deferred in the window" "$(t_sql 'SELECT row_id, delivery_state, next_attempt_at, relay_reply FROM stage_2')"
# The retries come due at 08:03, past the window, the relay fixed.
use_relay "$GOOD_PORT"
t_start_daemon "2026-11-12 08:03:00"
wait_for 60 sql_is "SELECT COUNT(*) FROM batches WHERE mailing_id = 2 AND state = 'ready' AND next_attempt_at >= '2026-11-13 08:00:00' AND next_attempt_at < '2026-11-13 08:01:00'" 2
moved=$?
t_stop_daemon
[ $moved = 0 ] && [ "$(t_sink_count "$T_DIR/sink")" = 4 ] &&
	sql_is "SELECT COUNT(*) FROM stage_2 WHERE delivery_state = 'deferred' AND next_attempt_at >= '2026-11-13 08:00:00' AND next_attempt_at < '2026-11-13 08:01:00'" 4 &&
	t_ok "retries due after the window are not sent then: they wait inside the next day's window" ||
	t_fail "retries held for the next window" "$(t_sink_count "$T_DIR/sink") messages; $(t_sql 'SELECT row_id, delivery_state, next_attempt_at FROM stage_2'); $(tail -c 1500 heraldd.log)"
offset=$(t_offset_for "2026-11-13 07:59:55")
t_start_daemon "2026-11-13 07:59:55"
wait_for 90 sql_is "SELECT state FROM mailings WHERE id = 2" done
t_stop_daemon
arrivals "$T_DIR/sink" "$offset" >retried.tsv
inside retried.tsv "$(t_epoch "2026-11-13 08:00:00")" "$(t_epoch "2026-11-13 08:01:00")" >retried.out &&
	sql_is "SELECT COUNT(*) FROM stage_2 WHERE delivery_state = 'sent' AND attempts = 2" 4 &&
	t_ok "the retries went out inside the next window, one message each ($(cat retried.out))" ||
	t_fail "retries sent in the next window" "$(cat retried.out); $(t_sql 'SELECT row_id, delivery_state, attempts FROM stage_2')"

# --- paced: the rate limit does not fit the window ----------------------------
# Twenty more recipients in one batch of 24, due 3 s apart over the
# window, and a rate of one message every 4 s: each claim reads the rows
# due by then and paces them, so the last ones it holds would go after
# the window's end at 60 s. The worker must stop there, mid-batch.
printf 'email,first_name\n' >paced.csv
for i in $(seq 1 20); do echo "p$i@paced.example,P$i" >>paced.csv; done
"$HERALD_BIN" import paced.csv --list paced >/dev/null
sed -i 's/^batch_size = .*/batch_size = 24/' "$T_CONFIG"
t_check "a windowed mailing limited to 15/m" "$HERALD_BIN" mailing create --name paced \
    --template template --segment 'list = paced' --from news@example.org --subject Hi \
    --window 09:00-09:01 --time-zone Europe/Paris --rate 15/m
HERALD_TEST_CLOCK_OFFSET=$(t_offset_for "2026-11-14 07:58:00") "$HERALD_BIN" stage >/dev/null 2>&1 ||
	t_fail "herald stage" "failed"
offset=$(t_offset_for "2026-11-14 07:59:55")
t_start_daemon "2026-11-14 07:59:55"
# Done when every row is sent or waits in the next day's window.
wait_for 150 sql_is "SELECT COUNT(*) FROM stage_3 WHERE delivery_state = 'sent' OR (delivery_state = 'pending' AND next_attempt_at >= '2026-11-15 08:00:00' AND next_attempt_at < '2026-11-15 08:01:00')" 20
paced=$?
t_stop_daemon
arrivals "$T_DIR/sink" "$offset" >paced.tsv
sent=$(wc -l <paced.tsv)
inside paced.tsv "$(t_epoch "2026-11-14 08:00:00")" "$(t_epoch "2026-11-14 08:01:00")" some >paced.out &&
	[ $paced = 0 ] && [ "$sent" -lt 20 ] &&
	sql_is "SELECT COUNT(*) FROM stage_3 WHERE delivery_state = 'pending'" "$((20 - sent))" &&
	t_ok "held back by its rate, the mailing stops when the window closes; the rest waits for the next day's ($(cat paced.out), $((20 - sent)) waiting)" ||
	t_fail "a rate too slow for the window" "$(cat paced.out); $(t_sql 'SELECT row_id, delivery_state, next_attempt_at FROM stage_3'); $(tail -c 1500 heraldd.log)"
t_done
