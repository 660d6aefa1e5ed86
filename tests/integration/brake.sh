#!/bin/bash
# brake.sh - the brake pulls a mailing whose hard bounces run too high,
# end to end: heraldd sends through a real private Postfix to a relay
# that answers "550 5.1.1 User unknown" for 10% of the recipients
# (tests/lib/reject_relay.py); Postfix returns a DSN for each to its
# signed return path and delivers it through its pipe(8) transport to
# "herald feedback", which classifies it (userunknown, hard), records it
# and asks the brake. With the defaults (5% of at least 1,000 delivered
# in the last hour, at least 5 events), the mailing must be pulled
# within its first few thousand messages, with its reason logged and
# shown; "herald mailing resume" re-arms it, judging only what comes
# after, so the mailing sends on and is pulled again.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/postfix.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
N=6000

/usr/bin/python3 "$HERALD_SRCDIR/tests/lib/reject_relay.py" '^r[0-9]*0@' >"$T_DIR/relay.log" 2>&1 &
t_at_exit "kill $! 2>/dev/null"
for _ in $(seq 1 100); do grep -q '^ready' "$T_DIR/relay.log" && break; sleep 0.1; done
relay_port=$(awk '/^ready/ { print $2 }' "$T_DIR/relay.log")
[ -n "$relay_port" ] || t_skip "the reject relay did not start: $(cat "$T_DIR/relay.log")"
t_start_postfix "$relay_port" \
	"transport_maps = inline:{bounce.test=herald-feedback:}" \
	"herald-feedback_destination_recipient_limit = 1"
chmod 711 "$T_DIR"
chmod 644 "$T_CONFIG"
cat >>"$T_DIR/postfix/conf/master.cf" <<CF
herald-feedback unix - n n - 20 pipe
  flags=Rq user=nobody argv=$HERALD_BIN --config $T_CONFIG feedback --recipient \${recipient}
CF
t_postfix reload >/dev/null 2>&1 || t_fail "Postfix reloads with the pipe transport" "$(tail -3 "$(t_postfix_log)")"
# Slow enough (60/s) that the DSNs of the first thousand come back while
# the mailing is still sending, as they do from real providers, on a
# loaded machine too: each DSN is a herald process (at 150/s under a
# load of 15 they fell behind and the mailing finished first).
cat >>"$T_CONFIG" <<CONF
worker_count = 2
relay_port = $T_POSTFIX_PORT
bounce_domain = bounce.test
message_domain = herald.test
pid_file = $T_DIR/heraldd.pid
metrics_interval = 0
rate_limit = 60/s
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
"$HERALD_BIN" token make 1 1 >/dev/null
chown -R nobody "$T_DIR/state"
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
{ echo "email,first_name"; for i in $(seq 1 $N); do echo "r$i@example.test,R$i"; done; } >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name braked --template "$T_DIR/t" --segment all --from a@herald.test --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
"$HERALDD_BIN" -f >>"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"

state() { t_sql "SELECT state FROM mailings WHERE id = 1"; }
sent() { t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state IN ('sent', 'bounced')"; }
for _ in $(seq 1 900); do
	case "$(state)" in pulled|done) break ;; esac
	sleep 0.2
done
at_pull=$(sent)
[ "$(state)" = pulled ] && t_ok "the mailing is pulled by the brake ($at_pull of $N delivered)" ||
	t_fail "the mailing is pulled" "state $(state), $(sent) delivered; $(grep -c 'status=bounced' "$(t_postfix_log)") bounced by Postfix; $(tail -3 "$T_DIR/heraldd.log")"
[ "$at_pull" -lt 4000 ] && t_ok "within its first few thousand (< 4000)" || t_fail "pulled early" "$at_pull delivered"
reason=$(t_sql "SELECT pulled_reason FROM mailings WHERE id = 1")
[[ $reason == "brake: hard bounces "*" of "*" delivered since "*"limit 5%)" ]] &&
	t_ok "the reason is kept: $reason" || t_fail "pulled reason" "'$reason'"
[ "$(t_sql "SELECT MIN(reason) = 'userunknown' AND MAX(reason) = 'userunknown' AND MIN(hard) = 1 FROM bounces WHERE mailing_id = 1")" = 1 ] &&
	t_ok "every bounce is classified userunknown, hard" || t_fail "bounces classified" "$(t_sql "SELECT reason, hard, COUNT(*) FROM bounces GROUP BY reason, hard")"
grep -q "relay=herald-feedback.*status=sent" "$(t_postfix_log)" &&
	t_ok "the DSNs came through Postfix's pipe to herald feedback" || t_fail "DSNs through the pipe" "$(grep herald-feedback "$(t_postfix_log)" | tail -3)"
"$HERALD_BIN" mailing show 1 >"$T_DIR/show"
grep -Eq "^state +pulled$" "$T_DIR/show" && grep -Eq "^pulled by +brake: hard bounces" "$T_DIR/show" &&
	t_ok "herald mailing show shows it and why" || t_fail "mailing show" "$(cat "$T_DIR/show")"
"$HERALD_BIN" status >"$T_DIR/status"
grep -q "pulled: brake: hard bounces" "$T_DIR/status" && t_ok "herald status shows why" || t_fail "status" "$(cat "$T_DIR/status")"
# Workers claim nothing more: once the batches out at the pull are
# done, sending has stopped short of the whole mailing.
for _ in $(seq 1 300); do
	[ "$(t_sql "SELECT COUNT(*) FROM batches WHERE mailing_id = 1 AND state = 'claimed'")" = 0 ] && break
	sleep 0.2
done
later=$(sent)
[ "$later" -lt $N ] && t_ok "sending stopped: $later of $N delivered" || t_fail "sending stopped" "$later"

# Resume: re-armed from now, the mailing sends on; the same 10% pull it
# again once the window since the resume holds 1,000 delivered.
first_pulled=$(t_sql "SELECT pulled_at FROM mailings WHERE id = 1")
t_check "herald mailing resume takes a pulled mailing" "$HERALD_BIN" mailing resume 1
[ "$(t_sql "SELECT CONCAT(state IN ('ready', 'sending'), ' ', pulled_reason IS NULL, ' ', brake_armed_at IS NOT NULL) FROM mailings WHERE id = 1")" = "1 1 1" ] &&
	t_ok "resumed: ready, reason cleared, brake re-armed" || t_fail "resume" "$(t_sql "SELECT state, pulled_reason, brake_armed_at FROM mailings WHERE id = 1")"
for _ in $(seq 1 900); do
	[ "$(state)" = done ] && break
	[ "$(state)" = pulled ] && [ "$(t_sql "SELECT pulled_at > '$first_pulled' FROM mailings WHERE id = 1")" = 1 ] && break
	sleep 0.2
done
again=$(sent)
[ "$(state)" = pulled ] && [ "$again" -gt "$((later + 900))" ] &&
	t_ok "it sent on and was pulled again only after 1,000 more ($again delivered)" ||
	t_fail "re-armed brake" "state $(state), $again delivered (was $later)"
kill -TERM $daemon; wait $daemon
t_done
