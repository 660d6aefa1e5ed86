#!/bin/bash
# template_broken.sh - a template broken in the middle of a send: heraldd
# stops building the mailing's messages and its batches wait; the mailing
# says so (state blocked, with the file, line and column of the error) in
# "mailing show" and "status" (text and --json, no ETA) instead of
# "sending"; once the file is fixed, the workers send it again on their
# own, and every recipient gets exactly one message.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
t_start_sink "$T_DIR/sink"
N=600
cat >>"$T_CONFIG" <<CONF
relay_host = 127.0.0.1
relay_port = $T_SINK_PORT
worker_count = 2
relay_session_size = 20
batch_size = 50
pid_file = $T_DIR/heraldd.pid
message_domain = news.example.org
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
tpl="$T_DIR/template"
mkdir -p "$tpl"
good="Hello {{first_name}}{{^first_name}}friend{{/first_name}}"
echo "$good" >"$tpl/text.mustache"
t_sql "INSERT INTO recipients (email, first_name) SELECT CONCAT('b', seq, '@example.net'), CONCAT('B', seq) FROM seq_1_to_$N"
# Slow enough (40/s) to break the template while it sends.
"$HERALD_BIN" mailing create --name fragile --template "$tpl" --segment all \
    --from news@example.org --subject "Hi" --rate 40/s >/dev/null &&
	"$HERALD_BIN" stage >/dev/null || t_fail "create and stage" "failed"
state() { t_sql "SELECT state FROM mailings WHERE id = 1"; }
sent() { t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'sent'"; }
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 300); do [ "$(sent)" -ge 100 ] && break; sleep 0.1; done
[ "$(state)" = sending ] && t_ok "sending ($(sent) sent)" || t_fail "sending" "$(state), $(sent) sent"

# --- break it: an unclosed section -------------------------------------
echo "Hello {{#first_name}}" >"$tpl/text.mustache"
for _ in $(seq 1 300); do [ "$(state)" = blocked ] && break; sleep 0.1; done
[ "$(state)" = blocked ] && t_ok "the mailing is blocked at $(sent) sent" ||
	t_fail "the mailing is blocked" "$(state); $(tail -c 1500 "$T_DIR/heraldd.log")"
reason='text.mustache:1:[0-9]+: section "first_name" is never closed'
t_check "mailing show" "$HERALD_BIN" mailing show 1
grep -Eq "^state +blocked$" "$T_DIR/out" && grep -Eq "^blocked by +.*$reason" "$T_DIR/out" &&
	t_ok "mailing show: blocked, with the file, line and column" || t_fail "mailing show" "$(cat "$T_DIR/out")"
"$HERALD_BIN" status --json >"$T_DIR/status.json"
"$PYTHON3" -c '
import json, re, sys
m = json.load(open(sys.argv[1]))["mailings"][0]
assert m["state"] == "blocked", m
assert re.search(sys.argv[2], m["blocked_reason"] or ""), m
assert m["eta_seconds"] is None, m' "$T_DIR/status.json" "$reason" 2>"$T_DIR/py.err" &&
	t_ok "status --json: blocked, its reason, no ETA" || t_fail "status --json" "$(cat "$T_DIR/py.err")"
"$HERALD_BIN" status >"$T_DIR/status.txt"
grep -Eq "^  1 +fragile +blocked .*ETA -" "$T_DIR/status.txt" && grep -Eq "^ +blocked: .*$reason" "$T_DIR/status.txt" &&
	t_ok "status: blocked, its reason, no ETA" || t_fail "status" "$(cat "$T_DIR/status.txt")"
# It stays blocked while workers keep trying: two more attempts, no
# message sent meanwhile, no row failed for it.
at=$(sent)
tries=$(grep -c "mailing 1 cannot be sent" "$T_DIR/heraldd.log")
for _ in $(seq 1 300); do
	[ "$(grep -c "mailing 1 cannot be sent" "$T_DIR/heraldd.log")" -ge $((tries + 2)) ] && break
	sleep 0.1
done
[ "$(state)" = blocked ] && [ "$(sent)" = "$at" ] && [ "$(grep -c "mailing 1 cannot be sent" "$T_DIR/heraldd.log")" -ge $((tries + 2)) ] &&
	t_ok "it stays blocked while the workers try again, nothing sent" ||
	t_fail "it stays blocked" "$(state), $at then $(sent) sent"

# --- fix it: the workers pick it up on their own --------------------------
echo "$good" >"$tpl/text.mustache"
for _ in $(seq 1 600); do [ "$(state)" = done ] && break; sleep 0.1; done
[ "$(state)" = done ] && t_ok "fixed: the mailing is sent to the end" ||
	t_fail "fixed: the mailing is sent to the end" "$(state), $(sent) sent; $(tail -c 1500 "$T_DIR/heraldd.log")"
grep -q "mailing 1: its messages build again" "$T_DIR/heraldd.log" &&
	t_ok "heraldd says the mailing sends again" || t_fail "heraldd says the mailing sends again" "no log line"
[ "$(t_sql "SELECT COUNT(*) FROM mailings WHERE id = 1 AND blocked_reason IS NULL AND blocked_at IS NULL")" = 1 ] &&
	t_ok "the reason is gone with the block" || t_fail "the reason is gone" "$(t_sql "SELECT blocked_reason FROM mailings")"
[ "$(sent)" = $N ] && [ "$(t_sql "SELECT COUNT(*) FROM stage_1")" = $N ] &&
	t_ok "all $N rows end sent" || t_fail "all rows end sent" "$(sent) of $N"
for _ in $(seq 1 100); do [ "$(t_sink_count "$T_DIR/sink")" -ge $N ] && break; sleep 0.1; done
total=$(cat "$T_DIR"/sink/* | grep -ci '^Message-ID:')
distinct=$(cat "$T_DIR"/sink/* | grep -i '^Message-ID:' | sort -u | wc -l)
[ "$total" = $N ] && [ "$distinct" = $N ] && t_ok "each of $N recipients got exactly one message" ||
	t_fail "each recipient exactly once" "$total received, $distinct distinct"
kill -TERM $daemon; wait $daemon
t_done
