#!/bin/bash
# pull.sh - the value check end to end: real MariaDB, heraldd sending
# into a real smtp-sink, a scripted audience converting for chosen
# recipients through the real herald-web's signed POST /v and through
# "herald conversion import", as each recipient's message is delivered.
#
# A past mailing (H) gives the sender a history: its audience converts
# within seconds of delivery, and it is moved eight days back (delays
# unchanged), done for longer than attribution_window, so heraldd's
# delay curve comes from it. Then two mailings expect 1,000 per 1,000
# delivered: P's audience brings in 20% of that (every 10th recipient,
# 2.00), Q's 120% (every 10th, 12.00). With pull_min_delivered = 300,
# pull_min_age = 10 s and a check every second, P must be pulled within
# its sample (well before its 2,500 are sent), its unsent rows left
# unsent, the figures logged and shown (mailing show, status, report);
# Q must be sent to the end; heraldd and herald-web run as their own
# database accounts. A plain resume of P is refused; resume
# --force sends the rest and P is not pulled again.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
: "${HERALD_WEB_BIN:?HERALD_WEB_BIN is not set: run the tests with make check}"
command -v curl >/dev/null || t_skip "curl not installed"
t_use_database
t_start_sink "$T_DIR/sink"
N=2500
BATCH=50
PORT=$(t_free_port)
SECRET=a-shared-conversion-secret-of-32-characters
# heraldd and herald-web as their own accounts: the check needs no more
# than the daemon's grants.
daemon_user="pd$$" web_user="pw$$"
for u in $daemon_user $web_user; do
	t_at_exit "t_sql \"DROP USER IF EXISTS '$u'@'localhost', '$u'@'%'\" >/dev/null 2>&1"
done
cat >>"$T_CONFIG" <<CONF
daemon_database_user = $daemon_user
daemon_database_password = daemon-pw-$RANDOM-$RANDOM
web_database_user = $web_user
web_database_password = web-pw-$RANDOM-$RANDOM
relay_host = 127.0.0.1
relay_port = $T_SINK_PORT
worker_count = 2
batch_size = $BATCH
rate_limit = 100/s
pid_file = $T_DIR/heraldd.pid
metrics_interval = 0
message_domain = news.example.org
web_listen = 127.0.0.1:$PORT
conversion_secret = $SECRET
token_key k1 = a-test-secret-of-at-least-32-characters-long
pull_min_delivered = 300
pull_min_age = 10
pull_check_interval = 1
CONF
chmod 600 "$T_CONFIG"
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{email}}" >"$T_DIR/t/text.mustache"
for list in h p q; do
	n=$N
	[ $list = h ] && n=200
	{ echo email; for i in $(seq 1 $n); do echo "$list$i@example.net"; done; } >"$T_DIR/$list.csv"
	"$HERALD_BIN" import "$T_DIR/$list.csv" --list $list >/dev/null || { t_fail "import $list" "failed"; t_done; }
done
create() { # NAME LIST [--expected-value AMOUNT]
	local name=$1 list=$2
	shift 2
	"$HERALD_BIN" mailing create --name "$name" --template "$T_DIR/t" --segment "list = $list" \
	    --from "News <news@example.org>" --subject s "$@" >/dev/null
}
state() { t_sql "SELECT state FROM mailings WHERE id = $1"; }
delivered() { t_sql "SELECT COUNT(*) FROM stage_$1 WHERE delivery_state IN ('sent', 'bounced')"; }

"$HERALD_WEB_BIN" -f >"$T_DIR/web.log" 2>&1 &
t_at_exit "kill $! 2>/dev/null"
for _ in $(seq 1 200); do grep -q "listening on" "$T_DIR/web.log" && break; sleep 0.1; done

# The audience: audience MAILING STEP AMOUNT post|import converts every
# STEP-th recipient (by row) of MAILING 0, 2, 4 or 6 seconds (by row)
# after its message is delivered, until the mailing stops sending:
# through POST /v (signed) or through herald conversion import. The
# readers' time is spread wider than either channel's lag (under a
# second), so the delay curve H measures fits P and Q as well.
audience() {
	local m=$1 step=$2 amount=$3 how=$4 rows now last
	while :; do
		# Stopped, no batch in flight, and everyone who was to
		# convert has: done.
		case "$(state "$m")" in done|pulled|cancelled) last=1 ;; *) last=0 ;; esac
		[ $last = 1 ] && [ "$(t_sql "SELECT COUNT(*) FROM batches WHERE mailing_id = $m AND state = 'claimed'")" != 0 ] && last=0
		[ $last = 1 ] && [ "$(t_sql "SELECT COUNT(*) FROM stage_$m s LEFT JOIN conversions c ON
		    c.conversion_id = CONCAT('m$m-', s.row_id) WHERE s.mailing_id = $m AND
		    s.delivery_state = 'sent' AND s.row_id % $step = 0 AND c.conversion_id IS NULL")" = 0 ] && break
		rows=$(t_sql "SELECT s.row_id, s.email FROM stage_$m s LEFT JOIN conversions c ON
		    c.conversion_id = CONCAT('m$m-', s.row_id) WHERE s.mailing_id = $m AND
		    s.delivery_state = 'sent' AND s.row_id % $step = 0 AND c.conversion_id IS NULL AND
		    s.delivered_at <= UTC_TIMESTAMP() - INTERVAL 2 * (s.row_id DIV $step % 4) SECOND")
		now=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
		if [ -n "$rows" ] && [ "$how" = import ]; then
			{ echo "id,amount,currency,time,email,mailing"
			  echo "$rows" | while read -r row email; do echo "m$m-$row,$amount,EUR,$now,$email,$m"; done
			} >"$T_DIR/conv-$m.csv"
			"$HERALD_BIN" conversion import "$T_DIR/conv-$m.csv" >>"$T_DIR/audience-$m.log" 2>&1
		elif [ -n "$rows" ]; then
			# One curl for the lot (a config of signed requests), as
			# quick as the import: the history was measured so.
			echo "$rows" | /usr/bin/python3 -c '
import hashlib, hmac, json, sys
m, amount, now, secret, port = sys.argv[1:6]
for line in sys.stdin:
    row, email = line.split()
    body = json.dumps({"id": "m%s-%s" % (m, row), "amount": amount, "currency": "EUR",
                       "time": now, "email": email, "mailing": m})
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    print("next\nurl = \"http://127.0.0.1:%s/v\"\nrequest = POST\nsilent\noutput = /dev/null" % port)
    print("write-out = \"%%{http_code}\\n\"\nheader = \"X-Herald-Signature: sha256=%s\"" % sig)
    print("data-binary = %s" % json.dumps(body))
' "$m" "$amount" "$now" "$SECRET" "$PORT" | sed 1d >"$T_DIR/post-$m.conf"
			curl -K "$T_DIR/post-$m.conf" >>"$T_DIR/audience-$m.log" 2>&1
		fi
		sleep 0.2	# the audience's pace, not a wait for a result
	done
}

# --- H: a past mailing gives the sender its delay curve --------------------------
create history h || { t_fail "create H" "failed"; t_done; }
"$HERALD_BIN" stage >/dev/null 2>&1
"$HERALDD_BIN" -f >>"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
audience 1 2 10 import
[ "$(state 1)" = done ] && [ "$(t_sql "SELECT COUNT(*) FROM conversions WHERE mailing_id = 1")" = 100 ] &&
	t_ok "H: sent, and 100 of its 200 recipients converted (import) as they received it" ||
	{ t_fail "H" "state $(state 1), $(t_sql "SELECT COUNT(*) FROM conversions WHERE mailing_id = 1") conversions; $(tail -3 "$T_DIR/audience-1.log")"; t_done; }
delays=$(t_sql "SELECT MIN(TIMESTAMPDIFF(SECOND, s.delivered_at, c.converted_at)), MAX(TIMESTAMPDIFF(SECOND, s.delivered_at, c.converted_at)) FROM conversions c JOIN stage_1 s ON s.recipient_id = c.recipient_id WHERE c.mailing_id = 1" | tr '\t' ' ')
# Eight days back, delays unchanged: done for longer than attribution_window.
t_sql "UPDATE stage_1 SET delivered_at = delivered_at - INTERVAL 8 DAY;
       UPDATE conversions SET converted_at = converted_at - INTERVAL 8 DAY WHERE mailing_id = 1;
       UPDATE mailings SET finished_at = finished_at - INTERVAL 8 DAY, staged_at = staged_at - INTERVAL 8 DAY WHERE id = 1"

# --- P (20% of its expectation) and Q (120%) ----------------------------------------
create p20 p --expected-value 1000 && create q120 q --expected-value 1000 || { t_fail "create P, Q" "failed"; t_done; }
"$HERALD_BIN" stage >/dev/null 2>&1
audience 2 10 2.00 post &
audience_p=$!
t_at_exit "kill $audience_p 2>/dev/null"
audience 3 10 12.00 import &
audience_q=$!
t_at_exit "kill $audience_q 2>/dev/null"
for _ in $(seq 1 1200); do
	case "$(state 2)" in pulled|done) break ;; esac
	sleep 0.1
done
at_pull=$(delivered 2)
reason=$(t_sql "SELECT pulled_reason FROM mailings WHERE id = 2")
[ "$(state 2)" = pulled ] && t_ok "P is pulled ($at_pull of $N delivered): $reason" ||
	t_fail "P is pulled" "state $(state 2), $at_pull delivered; $(grep 'mailing 2' "$T_DIR/heraldd.log" | tail -3)"
# Within its sample: at the first check that had it (none logged before).
first=$(grep -m1 -E "mailing 2 (checked|pulled)" "$T_DIR/heraldd.log")
[[ $first == *"mailing 2 pulled: "* ]] && [ "$at_pull" -ge 300 ] && [ "$at_pull" -lt $N ] &&
	t_ok "within its sample: at the first check that had it, $at_pull of $N delivered" ||
	t_fail "pulled within its sample" "$at_pull delivered; first check: $first"
[[ $reason == "value: projected "*" per 1,000 delivered against 1000.00 expected ("*"%, threshold 50%): revenue "*"delay curve of 100 past conversions of 1 mailing)" ]] &&
	t_ok "the reason gives the figures, under the history curve" || t_fail "the reason" "'$reason'"
# The projection at the pull reads low when the audience lags behind
# (posting is slower than importing on a loaded machine): a figure, not
# a check. The report below checks what P brought in.
pct=$(sed -n 's/.*expected (\([0-9]*\)%.*/\1/p' <<<"$reason")
grep -q "mailing 2 pulled: value: projected" "$T_DIR/heraldd.log" && t_ok "heraldd logs the pull with its figures" ||
	t_fail "the pull logged" "$(grep 'mailing 2' "$T_DIR/heraldd.log" | tail -3)"

for _ in $(seq 1 1500); do
	[ "$(state 3)" = done ] && break
	sleep 0.1
done
[ "$(state 3)" = done ] && [ "$(delivered 3)" = $N ] && [ "$(t_sql "SELECT pull_check FROM mailings WHERE id = 3")" = watched ] &&
	t_ok "Q (120%) is not pulled: all $N sent" || t_fail "Q not pulled" "state $(state 3), $(delivered 3) delivered; $(t_sql "SELECT pulled_reason FROM mailings WHERE id = 3")"
checks=$(grep -c "mailing 3 checked: value: projected" "$T_DIR/heraldd.log")
[ "$checks" -ge 2 ] && t_ok "Q was checked $checks times, each logged with its figures" || t_fail "Q checked" "$checks checks logged"
q_checks=$(grep "mailing 3 checked" "$T_DIR/heraldd.log" | sed -n 's/.*expected (\([0-9]*\)%.*/\1/p')
q_range="$(sort -n <<<"$q_checks" | head -1)% to $(sort -n <<<"$q_checks" | tail -1)%, last $(tail -1 <<<"$q_checks")%"
# Every worker is idle now (Q is done): what P sent after its pull was
# the batches then in flight at most, and the rest stays unsent.
after=$(delivered 2)
pending=$(t_sql "SELECT COUNT(*) FROM stage_2 WHERE delivery_state = 'pending'")
[ "$after" -le $((at_pull + 2 * BATCH)) ] && [ $((after + pending)) = $N ] && [ "$pending" -gt 0 ] &&
	t_ok "P's unsent rows are not sent ($after delivered, $pending pending)" ||
	t_fail "P's rows" "$after delivered after the pull at $at_pull, $pending pending"

# Their audiences have converted everyone they were to.
wait $audience_p $audience_q
"$HERALD_BIN" mailing show 2 >"$T_DIR/show"
grep -Eq "^state +pulled$" "$T_DIR/show" && grep -Eq "^pulled by +value: projected" "$T_DIR/show" &&
	grep -Eq "^value check +pulled the mailing" "$T_DIR/show" && grep -Eq "^value checked +.* UTC: value: projected" "$T_DIR/show" &&
	t_ok "herald mailing show gives the figures" || t_fail "mailing show" "$(cat "$T_DIR/show")"
"$HERALD_BIN" status >"$T_DIR/status"
grep -q "pulled: value: projected" "$T_DIR/status" && t_ok "herald status gives them" || t_fail "status" "$(cat "$T_DIR/status")"
"$HERALD_BIN" report 2 --json >"$T_DIR/report2.json" && "$HERALD_BIN" report 3 --json >"$T_DIR/report3.json" &&
/usr/bin/python3 - "$T_DIR/report2.json" "$T_DIR/report3.json" "$N" 2>"$T_DIR/py.err" <<'PY' && t_ok "herald report --json: delivered, clicks, conversions, revenue, per 1,000, projected against expected; variant 0 and null for all" || t_fail "report --json" "$(tail -c 1500 "$T_DIR/py.err")"
import json, sys
p, q = (json.load(open(f)) for f in sys.argv[1:3])
for r, low, high, per in ((p, 10, 35, (150, 210)), (q, 80, 200, (1180, 1220))):
    v = {x["variant"]: x for x in r["value"]}
    assert set(v) == {0, None}, v
    a = v[None]
    assert a["name"] == "all" and a["expected_per_1000"] == 1000 and a["delay_curve"] == "history", a
    assert low <= a["projected_vs_expected"] <= high, a
    assert abs(a["revenue_per_1000"] - 1000 * a["revenue"] / a["delivered"]) < 0.006, a
    assert per[0] <= a["revenue_per_1000"] <= per[1], a
    assert v[0]["delivered"] == a["delivered"] and v[0]["revenue"] == a["revenue"], v
    c = {x["variant"]: x for x in r["clicks"]}
    assert set(c) == {0, None} and {"unique_clicks", "total_clicks", "click_rate"} <= set(c[None]), c
    f = {x["variant"]: x for x in r["feedback"]}
    assert set(f) == {0, None}, f
assert {x["variant"]: x for x in q["value"]}[None]["delivered"] == int(sys.argv[3])
PY
"$HERALD_BIN" report 2 --csv >"$T_DIR/report2.csv"
grep -q '^value,,projected_vs_expected,' "$T_DIR/report2.csv" && grep -q '^value,0,expected_per_1000,1000.00$' "$T_DIR/report2.csv" &&
	grep -q '^feedback,,delivered,' "$T_DIR/report2.csv" && t_ok "and --csv" || t_fail "report --csv" "$(grep -E '^(value|feedback)' "$T_DIR/report2.csv")"
"$HERALD_BIN" report 3 >"$T_DIR/report3.txt"
sed -n '/^value$/,$p' "$T_DIR/report3.txt" | grep -Eq "^ +- +all +$N +[0-9]+ +[0-9.]+ +[0-9.]+ +100.0 +[0-9.]+ +1000.00 +[0-9.]+ +history *$" &&
	t_ok "and as text" || t_fail "report text" "$(sed -n '/^value$/,$p' "$T_DIR/report3.txt")"

# --- resume ------------------------------------------------------------------------------------
t_expect_fail "a plain resume of a mailing the value check pulled is refused, saying why" 1 \
	'pulled for falling short of its expected value.*resume --force 2' "$HERALD_BIN" mailing resume 2
[ "$(state 2)" = pulled ] && t_ok "and changes nothing" || t_fail "refused resume" "state $(state 2)"
"$HERALD_BIN" mailing resume --force 2 >"$T_DIR/out" 2>&1 && grep -q "no longer checked" "$T_DIR/out" &&
	t_ok "resume --force resumes it" || t_fail "resume --force" "$(cat "$T_DIR/out")"
for _ in $(seq 1 1500); do
	case "$(state 2)" in done|pulled) break ;; esac
	sleep 0.1
done
[ "$(state 2)" = done ] && [ "$(delivered 2)" = $N ] && [ "$(t_sql "SELECT pull_check FROM mailings WHERE id = 2")" = exempt ] &&
	[ "$(grep -c "mailing 2 pulled" "$T_DIR/heraldd.log")" = 1 ] &&
	t_ok "then sends to the end, exempt from the check (not pulled again)" ||
	t_fail "after resume --force" "state $(state 2), $(delivered 2) delivered; $(grep 'mailing 2' "$T_DIR/heraldd.log" | tail -2)"
echo "# figures: H delays ${delays} s; P pulled at $at_pull of $N delivered, projected $pct% of expected; Q's $checks checks $q_range"
t_done
