#!/bin/bash
# test_phase.sh - a mailing's test phase end to end, with real MariaDB,
# heraldd sending into a real smtp-sink and a scripted audience clicking
# through the real herald-web. Bad --test-share, --test-wait, --winner,
# a test phase without all three options or with --window are refused
# and create nothing; a test phase with no variant is refused at staging
# and stays queued with nothing staged. Mailing 1 (300 recipients,
# --test-share 40%, B 50% of the test cell, --test-wait 30s): the 120 of
# the test cell get A or B, 60 each, exactly as Python's hmac ranks them,
# and the 180 of the holdout are staged in held batches; heraldd sends
# the test cell only; the audience clicks for 30 B recipients and 5 A
# recipients; nothing of the holdout goes out while the wait runs; once
# the wait has passed since the test cell was sent, heraldd's monitor
# chooses B, records and logs the figures, and the holdout gets B's
# content, each recipient exactly once, none before the decision;
# mailing show and herald report (text, JSON, CSV) show it all. Mailing
# 2 (2,600 recipients, --test-share 80%, --test-wait 1h), sent by two
# heraldd nodes: enough clicks for B end the test early under the
# significance rule (z >= 3.29, 1,000 delivered to each), one node
# decides, and the holdout gets B. Mailing 3 (--winner revenue): heraldd
# stops once the test cell is sent, conversions are imported (more
# revenue from B), and the heraldd started again chooses B after the
# wait. A mailing refused at staging stays queued while the next one is
# staged. heraldd runs as its own database account (daemon_database_user),
# so the grants the test phase needs are the ones db init gives.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
: "${HERALD_WEB_BIN:?HERALD_WEB_BIN is not set: run the tests with make check}"
command -v curl >/dev/null || t_skip "curl not installed"
t_use_database
t_start_sink "$T_DIR/sink"
WEB_PORT=$(t_free_port)
SECRET=test-phase-secret-0123456789abcdef0123456
daemon_user="tp_daemon_$$"
daemon_pw="daemon-pw-$RANDOM-$RANDOM"
t_at_exit "t_sql \"DROP USER IF EXISTS '$daemon_user'@'localhost', '$daemon_user'@'%'\" >/dev/null 2>&1"
cat >>"$T_CONFIG" <<CONF
relay_host = 127.0.0.1
relay_port = $T_SINK_PORT
worker_count = 2
batch_size = 50
metrics_interval = 0
message_domain = news.example.org
track_domain = click.example.org
web_listen = 127.0.0.1:$WEB_PORT
token_key k1 = $SECRET
daemon_database_user = $daemon_user
daemon_database_password = $daemon_pw
CONF
chmod 600 "$T_CONFIG"
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t"
cat >"$T_DIR/t/text.mustache" <<'TEXT'
Hello {{email}}
Give: https://example.org/give
TEXT
t_sql "INSERT INTO recipients (email) SELECT CONCAT('t', seq, '@example.net') FROM seq_1_to_300;
       INSERT INTO recipients (email) SELECT CONCAT('e', seq, '@example.net') FROM seq_1_to_2600;
       INSERT INTO recipients (email) SELECT CONCAT('v', seq, '@example.net') FROM seq_1_to_100"
create() {	# SEGMENT-PREFIX OPTIONS...
	local prefix=$1
	shift
	"$HERALD_BIN" mailing create --name "Test $prefix" --template "$T_DIR/t" \
		--segment "email starts with $prefix" --from "News <news@example.org>" \
		--subject "Subject A" "$@"
}

# --- refusals: each names what is wrong and creates nothing ----------------------
t_expect_fail "a test share is a percentage" 1 '--test-share "20": expected a percentage' \
	create t --test-share 20 --test-wait 30s --winner clicks
t_expect_fail "a test share of 0% is refused" 1 '--test-share "0%": a share is more than 0% and at most 100%' \
	create t --test-share 0% --test-wait 30s --winner clicks
t_expect_fail "a test share above 100% is refused" 1 '--test-share "120%": a share is more than 0%' \
	create t --test-share 120% --test-wait 30s --winner clicks
t_expect_fail "a wait needs a unit" 1 '--test-wait "30": expected a whole number of seconds, minutes or hours such as 90s, 30m or 2h' \
	create t --test-share 40% --test-wait 30 --winner clicks
t_expect_fail "a wait of days is refused" 1 '--test-wait "2d": expected' \
	create t --test-share 40% --test-wait 2d --winner clicks
t_expect_fail "a wait of 0 is refused" 1 '--test-wait "0s": a wait is more than 0 and at most 720h' \
	create t --test-share 40% --test-wait 0s --winner clicks
t_expect_fail "an unknown metric is refused" 1 '--winner "opens": expected clicks, conversions or revenue' \
	create t --test-share 40% --test-wait 30s --winner opens
t_expect_fail "--winner alone is refused" 2 'a test phase needs --test-share, --test-wait and --winner together \(--test-share missing\)' \
	create t --winner clicks
t_expect_fail "--test-share without --winner is refused" 2 '\(--winner missing\)' \
	create t --test-share 40% --test-wait 30s
t_expect_fail "a test phase with a send window is refused" 2 '--test-share and --window together are not supported' \
	create t --test-share 40% --test-wait 30s --winner clicks --window 09:00-17:00
[ "$(t_sql "SELECT COUNT(*) FROM mailings")" = 0 ] && t_ok "no refusal created a mailing" ||
	t_fail "no refusal created a mailing" "$(t_sql "SELECT id, name FROM mailings")"

t_check "mailing create with a test phase" create t --test-share 40% --test-wait 30s --winner clicks
grep -q "mailing 1 tests its variants on 40% of its recipients first; the winner by clicks goes to the rest 30s after" "$T_DIR/out" &&
	t_ok "create says what the test phase will do" || t_fail "create's message" "$(cat "$T_DIR/out")"
t_expect_fail "a test phase with no variant is refused at staging" 1 \
	'mailing 1 has a test phase \(--winner clicks\) but no variant to test; add one \(herald mailing variant add 1' \
	"$HERALD_BIN" stage
[ "$(t_sql "SELECT CONCAT(state, ':', COALESCE(stage_table, '-'), ':', (SELECT COUNT(*) FROM batches))
	FROM mailings WHERE id = 1")" = "queued:-:0" ] && [ -z "$(t_sql "SHOW TABLES LIKE 'stage_1%'")" ] &&
	t_ok "and the mailing stays queued with nothing staged" ||
	t_fail "the refused staging changed nothing" "$(t_sql "SELECT state, stage_table FROM mailings WHERE id = 1")"

# --- mailing 1: staging the test cell and the held holdout ----------------------------
t_check "variant B: half of the test cell, its own subject" \
	"$HERALD_BIN" mailing variant add 1 --name B --share 50% --subject "Subject B"
B=$(t_sql "SELECT id FROM variants WHERE mailing_id = 1 AND name = 'B'")
t_check "mailing show before staging" "$HERALD_BIN" mailing show 1
grep -q "^test phase      40% of the recipients first, then the winner by clicks, 30s after the test cell is sent at the latest$" "$T_DIR/out" &&
	grep -q "^test state      to be staged$" "$T_DIR/out" &&
	t_ok "show: the share, metric and wait, to be staged" || t_fail "show before staging" "$(cat "$T_DIR/out")"
t_check "herald stage" "$HERALD_BIN" stage
[ "$(t_sql "SELECT test_cell_rows FROM mailings WHERE id = 1")" = 120 ] &&
	t_ok "the test cell is 40% of 300: 120 rows" || t_fail "test cell size" "$(t_sql "SELECT test_cell_rows FROM mailings WHERE id = 1")"
t_sql "SELECT recipient_id, variant_id, row_id FROM stage_1 ORDER BY recipient_id" >"$T_DIR/staged1.txt"
"$PYTHON3" - "$T_DIR/staged1.txt" "$SECRET" "$B" <<'PY' >"$T_DIR/rank.out" 2>&1
import hashlib, hmac, sys
rows = [tuple(map(int, line.split())) for line in open(sys.argv[1])]
b = int(sys.argv[3])
key = hmac.new(sys.argv[2].encode(), b"herald-variant-assignment:", hashlib.sha256).digest()
n = len(rows)
t = n * 4000 // 10000
ranked = sorted((r for r, _, _ in rows), key=lambda r: (hmac.new(key, b"1.%d" % r, hashlib.sha256).digest(), r))
rank = {r: i for i, r in enumerate(ranked, 1)}
wrong = 0
for r, v, row_id in rows:
    k = rank[r]
    if k <= t:
        want = b if k * 10000 <= t * 5000 else 0
        wrong += v != want or row_id > t
    else:
        wrong += v != 0 or row_id <= t
cell = [v for r, v, row_id in rows if row_id <= t]
print("cell", len(cell), "B", cell.count(b), "A", cell.count(0), "wrong", wrong)
sys.exit(1 if wrong or cell.count(b) != 60 or cell.count(0) != 60 else 0)
PY
[ $? = 0 ] && t_ok "the test cell is the first 120 HMAC ranks, 60 A and 60 B as Python's hmac ranks them; the holdout follows" ||
	t_fail "test cell assignment" "$(cat "$T_DIR/rank.out")"
[ "$(t_sql "SELECT GROUP_CONCAT(CONCAT(state, ':', first_row, '-', last_row) ORDER BY first_row) FROM batches WHERE mailing_id = 1")" = \
	"ready:1-50,ready:51-100,ready:101-120,held:121-170,held:171-220,held:221-270,held:271-300" ] &&
	t_ok "the test cell's batches are ready, the holdout's held, none straddles the two" ||
	t_fail "batches" "$(t_sql "SELECT state, first_row, last_row FROM batches WHERE mailing_id = 1")"

# --- sending the test cell; the audience clicks -------------------------------------------
"$HERALD_WEB_BIN" -f >"$T_DIR/web.log" 2>&1 &
WEB_PID=$!
t_at_exit "kill $WEB_PID 2>/dev/null"
for _ in $(seq 1 200); do
	grep -q "listening on 127.0.0.1:$WEB_PORT" "$T_DIR/web.log" && break
	sleep 0.1
done
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
wait_for() {	# SECONDS SQL WANT
	for _ in $(seq 1 $(($1 * 10))); do
		[ "$(t_sql "$2")" = "$3" ] && return 0
		kill -0 $daemon 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
wait_for 60 "SELECT test_sent_at IS NOT NULL FROM mailings WHERE id = 1" 1 &&
	t_ok "the monitor saw the test cell sent and started the clock" ||
	t_fail "the clock starts" "$(t_sql "SELECT state, sent_count, test_sent_at FROM mailings WHERE id = 1"); $(tail -c 1500 "$T_DIR/heraldd.log")"
grep -q "mailing 1: the test cell (120 of 300 recipients) is sent; the winner by clicks is chosen 30s from now at the latest" "$T_DIR/heraldd.log" &&
	t_ok "heraldd logs the start of the wait" || t_fail "the wait's log line" "$(grep 'mailing 1' "$T_DIR/heraldd.log")"

# Each message's recipient, subject and tracked link, from the sink.
links() {	# OUTPUT
	"$PYTHON3" - "$T_DIR/sink" >"$1" <<'PY'
import email, email.policy, os, re, sys
for name in sorted(os.listdir(sys.argv[1])):
    data = open(os.path.join(sys.argv[1], name), "rb").read()
    msg = email.message_from_bytes(data, policy=email.policy.default)
    to = re.search(rb"X-Rcpt-Args: <([^>]+)>", data).group(1).decode()
    body = msg.get_body(("plain",)).get_content()
    link = re.search(r"https://click\.example\.org(/c/\S+)", body)
    print(to, msg["subject"].replace(" ", "_"), link.group(1) if link else "-")
PY
}
links "$T_DIR/cell1.txt"
[ "$(wc -l <"$T_DIR/cell1.txt")" = 120 ] && ! grep -q ' -$' "$T_DIR/cell1.txt" &&
	t_ok "the sink has the 120 messages of the test cell, each with its tracked link" ||
	t_fail "the test cell's messages" "$(wc -l <"$T_DIR/cell1.txt") messages"
# Who clicks: 30 B recipients, 5 A recipients of the test cell.
click() {	# MAILING VARIANT COUNT LINKS-FILE
	local email path n=0
	for email in $(t_sql "SELECT email FROM stage_$1 WHERE variant_id = $2 AND row_id <=
		(SELECT test_cell_rows FROM mailings WHERE id = $1) ORDER BY row_id LIMIT $3"); do
		path=$(awk -v e="$email" '$1 == e { print $3 }' "$4")
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WEB_PORT$path")" = 302 ] && n=$((n + 1))
	done
	echo $n
}
clicked_b=$(click 1 "$B" 30 "$T_DIR/cell1.txt")
clicked_a=$(click 1 0 5 "$T_DIR/cell1.txt")
[ "$clicked_b" = 30 ] && [ "$clicked_a" = 5 ] && t_ok "the audience clicked through herald-web: 30 B, 5 A (302 each)" ||
	t_fail "clicks" "B $clicked_b, A $clicked_a"
for _ in $(seq 1 100); do
	[ "$(t_sql "SELECT COUNT(DISTINCT recipient_id) FROM clicks WHERE mailing_id = 1")" = 35 ] && break
	sleep 0.1
done
# Still within the wait: nothing of the holdout has gone out.
if [ "$(t_sql "SELECT winner_variant_id IS NULL FROM mailings WHERE id = 1")" = 1 ]; then
	[ "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE row_id > 120 AND delivery_state = 'pending'")" = 180 ] &&
		[ "$(t_sink_count "$T_DIR/sink")" = 120 ] &&
		[ "$(t_sql "SELECT COUNT(*) FROM batches WHERE mailing_id = 1 AND state = 'held'")" = 4 ] &&
		[ "$(t_sql "SELECT COUNT(DISTINCT recipient_id) FROM clicks WHERE mailing_id = 1")" = 35 ] &&
		t_ok "while the wait runs the 35 clicks are recorded and the holdout is held: 180 pending, 120 messages sent" ||
		t_fail "the holdout is held" "$(t_sql "SELECT delivery_state, COUNT(*) FROM stage_1 WHERE row_id > 120 GROUP BY 1"), sink $(t_sink_count "$T_DIR/sink")"
	"$HERALD_BIN" mailing show 1 >"$T_DIR/show-waiting" 2>&1
	grep -Eq "^test state      waiting: test cell 120, holdout 180; test cell sent [0-9-]+ [0-9:]+, the wait ends " "$T_DIR/show-waiting" &&
		grep -q "^test variant    B: delivered 60, clickers 30 (50.00%), leads$" "$T_DIR/show-waiting" &&
		grep -Eq "^test variant    A: delivered 60, clickers 5 \(8.33%\), z -?[0-9.]+$" "$T_DIR/show-waiting" &&
		t_ok "show while waiting: the state, the sizes, the figures so far" || t_fail "show while waiting" "$(cat "$T_DIR/show-waiting")"
else
	t_fail "the wait is 30 s" "decided before the audience's clicks were in: $(t_sql "SELECT winner_reason FROM mailings WHERE id = 1")"
fi

# --- the decision and the release --------------------------------------------------------------
wait_for 90 "SELECT state FROM mailings WHERE id = 1" done &&
	t_ok "the winner was chosen and the mailing finished without an operator" ||
	t_fail "the release" "$(t_sql "SELECT state, winner_variant_id, sent_count FROM mailings WHERE id = 1"); $(tail -c 1500 "$T_DIR/heraldd.log")"
echo "# $(t_sql "SELECT CONCAT('mailing 1 decided ', TIMESTAMPDIFF(SECOND, test_sent_at, winner_at), ' s after its test cell was sent: ', winner_reason) FROM mailings WHERE id = 1")"
[ "$(t_sql "SELECT winner_variant_id FROM mailings WHERE id = 1")" = "$B" ] && t_ok "B won" ||
	t_fail "B won" "$(t_sql "SELECT winner_variant_id, winner_reason FROM mailings WHERE id = 1")"
[ "$(t_sql "SELECT winner_at >= test_sent_at + INTERVAL 30 SECOND FROM mailings WHERE id = 1")" = 1 ] &&
	t_ok "not before the wait had passed since the test cell was sent" ||
	t_fail "the wait was kept" "$(t_sql "SELECT test_sent_at, winner_at FROM mailings WHERE id = 1")"
[ "$(t_sql "SELECT GROUP_CONCAT(CONCAT(name, ':', delivered, ':', events, ':', IF(z IS NULL, 'winner', ROUND(z, 2))) ORDER BY variant_id) FROM test_results WHERE mailing_id = 1")" = \
	"A:60:5:5.02,B:60:30:winner" ] && t_ok "the figures are recorded: delivered, clickers and z per variant" ||
	t_fail "test_results" "$(t_sql "SELECT * FROM test_results")"
reason="clicks per message delivered: A 5/60 = 8.33%, B 30/60 = 50.00%; B leads, z = 5.02 over A; the wait is over: B wins"
[ "$(t_sql "SELECT winner_reason FROM mailings WHERE id = 1")" = "$reason" ] && t_ok "the reason is recorded" ||
	t_fail "winner_reason" "$(t_sql "SELECT winner_reason FROM mailings WHERE id = 1")"
grep -qF "mailing 1: variant B wins the test by clicks ($reason); the holdout of 180 recipients (4 batches) gets B now" "$T_DIR/heraldd.log" &&
	t_ok "heraldd logs the decision with its figures" || t_fail "decision log" "$(grep 'mailing 1' "$T_DIR/heraldd.log")"
[ "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE row_id > 120 AND variant_id = $B AND delivery_state = 'sent'")" = 180 ] &&
	[ "$(t_sql "SELECT COUNT(*) FROM stage_1 s JOIN mailings m ON m.id = 1 WHERE s.row_id > 120 AND s.delivered_at < m.winner_at")" = 0 ] &&
	t_ok "the holdout's 180 rows got B and were all delivered after the decision" ||
	t_fail "holdout rows" "$(t_sql "SELECT variant_id, delivery_state, COUNT(*) FROM stage_1 WHERE row_id > 120 GROUP BY 1, 2")"
links "$T_DIR/all1.txt"
t_sql "SELECT email, IF(variant_id = 0, 'Subject_A', 'Subject_B'), IF(row_id > 120, 'holdout', 'cell') FROM stage_1" >"$T_DIR/want1.txt"
"$PYTHON3" - "$T_DIR/all1.txt" "$T_DIR/want1.txt" <<'PY' >"$T_DIR/all1.out" 2>&1
import collections, sys
got = collections.defaultdict(list)
for line in open(sys.argv[1]):
    to, subject, _ = line.split()
    if to.startswith("t"):
        got[to].append(subject)
bad = 0
holdout_b = 0
for line in open(sys.argv[2]):
    email, subject, part = line.split()
    if got.get(email) != [subject]:
        bad += 1
        print("wrong", email, got.get(email), subject, part)
    holdout_b += part == "holdout" and subject == "Subject_B"
print("recipients", len(got), "holdout with B", holdout_b, "bad", bad)
sys.exit(1 if bad or len(got) != 300 or holdout_b != 180 else 0)
PY
[ $? = 0 ] && t_ok "in the sink: each of the 300 recipients exactly once, the holdout's 180 with B's content" ||
	t_fail "the messages" "$(tail -c 1500 "$T_DIR/all1.out")"

t_check "mailing show after the decision" "$HERALD_BIN" mailing show 1
grep -Eq "^test state      decided: test cell 120, holdout 180; test cell sent .*; B won at [0-9-]+ [0-9:]+$" "$T_DIR/out" &&
	grep -q "^test variant    A: delivered 60, clickers 5 (8.33%), z 5.02$" "$T_DIR/out" &&
	grep -q "^test variant    B: delivered 60, clickers 30 (50.00%), the winner$" "$T_DIR/out" &&
	grep -qF "test decision   $reason" "$T_DIR/out" &&
	t_ok "show: decided, the winner, the figures and the reason" || t_fail "show after the decision" "$(cat "$T_DIR/out")"
"$HERALD_BIN" report 1 >"$T_DIR/report.txt" 2>&1
grep -q "^test_phase$" "$T_DIR/report.txt" && grep -q "^  test variant  B: delivered 60, clickers 30 (50.00%), the winner$" "$T_DIR/report.txt" &&
	t_ok "report: the test_phase section" || t_fail "report text" "$(tail -20 "$T_DIR/report.txt")"
"$HERALD_BIN" report 1 --json | "$PYTHON3" -c "
import json, sys
t = json.load(sys.stdin)['test_phase']
assert (t['share'], t['wait_seconds'], t['metric'], t['state'], t['test_cell'], t['holdout'], t['winner']) == \
    ('40%', 30, 'clicks', 'decided', 120, 180, 'B'), t
v = {r['name']: r for r in t['variants']}
assert (v['A']['delivered'], v['A']['events'], round(v['A']['z'], 2)) == (60, 5, 5.02), v
assert (v['B']['events'], v['B']['z'], t['figures_recorded']) == (30, None, True), v
assert t['reason'].endswith('the wait is over: B wins'), t" 2>"$T_DIR/json.err" &&
	t_ok "report --json: test_phase with the winner and the figures" || t_fail "report --json" "$(cat "$T_DIR/json.err")"
"$HERALD_BIN" report 1 --csv >"$T_DIR/report.csv" 2>&1
grep -qx "test_phase,phase,winner,B" "$T_DIR/report.csv" && grep -qx "test_phase,phase,state,decided" "$T_DIR/report.csv" &&
	grep -qx "test_phase,B,events,30" "$T_DIR/report.csv" && grep -qx "test_phase,A,z,5.0210" "$T_DIR/report.csv" &&
	t_ok "report --csv: test_phase rows" || t_fail "report --csv" "$(grep test_phase "$T_DIR/report.csv")"
"$HERALD_BIN" report 1 --json | "$PYTHON3" -c "
import json, sys
d = json.load(sys.stdin)
assert d['test_phase'] is not None" 2>/dev/null
kill -TERM $daemon
wait $daemon

# --- mailing 2: two nodes, an early end under the significance rule ----------------------------
t_check "mailing 2: 80% test share, a wait of an hour" create e --test-share 80% --test-wait 1h --winner clicks
t_check "its variant B" "$HERALD_BIN" mailing variant add 2 --name B --share 50% --subject "Subject B"
B2=$(t_sql "SELECT id FROM variants WHERE mailing_id = 2 AND name = 'B'")
t_check "herald stage" "$HERALD_BIN" stage
node_config() {	# NAME
	grep -v '^state_directory' "$T_CONFIG" >"$T_DIR/$1.conf"
	cat >>"$T_DIR/$1.conf" <<CONF
state_directory = $T_DIR/state-$1
pid_file = $T_DIR/$1.pid
node_name = node-$1
CONF
	chmod 600 "$T_DIR/$1.conf"
}
node_config a
node_config b
"$HERALDD_BIN" -f -c "$T_DIR/a.conf" >"$T_DIR/a.log" 2>&1 &
node_a=$!
t_at_exit "kill $node_a 2>/dev/null"
"$HERALDD_BIN" -f -c "$T_DIR/b.conf" >"$T_DIR/b.log" 2>&1 &
node_b=$!
t_at_exit "kill $node_b 2>/dev/null"
daemon=$node_a
wait_for 120 "SELECT test_sent_at IS NOT NULL FROM mailings WHERE id = 2" 1 &&
	t_ok "two nodes sent the test cell of 2,080" ||
	t_fail "mailing 2's test cell" "$(t_sql "SELECT state, sent_count FROM mailings WHERE id = 2"); $(tail -c 1000 "$T_DIR/a.log")"
[ "$(t_sql "SELECT COUNT(*) FROM stage_2 WHERE row_id > 2080 AND delivery_state <> 'pending'")" = 0 ] &&
	[ "$(t_sql "SELECT CONCAT(test_cell_rows, ':', sent_count, ':', winner_variant_id IS NULL) FROM mailings WHERE id = 2")" = 2080:2080:1 ] &&
	t_ok "no winner without clicks, and the 520 of the holdout are held" ||
	t_fail "mailing 2 before the clicks" "$(t_sql "SELECT winner_reason FROM mailings WHERE id = 2")"
links "$T_DIR/cell2.txt"
clicked_b=$(click 2 "$B2" 100 "$T_DIR/cell2.txt")
clicked_a=$(click 2 0 10 "$T_DIR/cell2.txt")
[ "$clicked_b" = 100 ] && [ "$clicked_a" = 10 ] && t_ok "the audience clicked: 100 B, 10 A" ||
	t_fail "mailing 2's clicks" "B $clicked_b, A $clicked_a"
wait_for 60 "SELECT state FROM mailings WHERE id = 2" done &&
	t_ok "the test ended early and the mailing finished, an hour's wait notwithstanding" ||
	t_fail "early end" "$(t_sql "SELECT state, winner_reason FROM mailings WHERE id = 2")"
[ "$(t_sql "SELECT winner_variant_id FROM mailings WHERE id = 2")" = "$B2" ] &&
	t_sql "SELECT winner_reason FROM mailings WHERE id = 2" | grep -q "; B wins before the wait ends (z >= 3.29, at least 1000 delivered to each)$" &&
	t_ok "B won early under the significance rule" || t_fail "B won early" "$(t_sql "SELECT winner_reason FROM mailings WHERE id = 2")"
[ "$(t_sql "SELECT MIN(delivered) >= 1000 AND MAX(z) >= 3.29 FROM test_results WHERE mailing_id = 2")" = 1 ] &&
	t_ok "its recorded figures meet the rule: 1,000 delivered to each, z >= 3.29" ||
	t_fail "mailing 2's figures" "$(t_sql "SELECT * FROM test_results WHERE mailing_id = 2")"
echo "# $(t_sql "SELECT CONCAT('mailing 2 decided ', TIMESTAMPDIFF(SECOND, test_sent_at, winner_at), ' s after its test cell was sent: ', winner_reason) FROM mailings WHERE id = 2")"
decisions=$(cat "$T_DIR/a.log" "$T_DIR/b.log" | grep -c "mailing 2: variant B wins the test by clicks")
[ "$decisions" = 1 ] && t_ok "of the two nodes' monitors, one decided" || t_fail "one decision" "$decisions logged"
[ "$(t_sql "SELECT COUNT(*) FROM stage_2 s JOIN mailings m ON m.id = 2 WHERE s.row_id > 2080 AND (s.variant_id <> $B2 OR s.delivery_state <> 'sent' OR s.delivered_at < m.winner_at)")" = 0 ] &&
	t_ok "the holdout's 520 got B, after the decision" ||
	t_fail "mailing 2's holdout" "$(t_sql "SELECT variant_id, delivery_state, COUNT(*) FROM stage_2 WHERE row_id > 2080 GROUP BY 1, 2")"
links "$T_DIR/all2.txt"
[ "$(grep -c '^e' "$T_DIR/all2.txt")" = 2600 ] && [ "$(grep '^e' "$T_DIR/all2.txt" | awk '{ print $1 }' | sort -u | wc -l)" = 2600 ] &&
	t_ok "each of mailing 2's 2,600 recipients got one message" ||
	t_fail "mailing 2's messages" "$(grep -c '^e' "$T_DIR/all2.txt") messages"
kill -TERM $node_a $node_b
wait $node_a $node_b

# --- mailing 3: revenue, with conversions imported while heraldd is stopped ----------------
t_check "mailing 3: --winner revenue" create v --test-share 50% --test-wait 5s --winner revenue
t_check "its variant B" "$HERALD_BIN" mailing variant add 3 --name B --share 50% --subject "Subject B"
B3=$(t_sql "SELECT id FROM variants WHERE mailing_id = 3 AND name = 'B'")
t_check "herald stage" "$HERALD_BIN" stage
"$HERALDD_BIN" -f >"$T_DIR/heraldd3.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
wait_for 60 "SELECT COUNT(*) FROM batches WHERE mailing_id = 3 AND state = 'done'" 1 &&
	t_ok "the test cell of 50 is sent" || t_fail "mailing 3's test cell" "$(t_sql "SELECT state, sent_count FROM mailings WHERE id = 3")"
kill -TERM $daemon
wait $daemon
[ "$(t_sql "SELECT CONCAT(sent_count, ':', winner_variant_id IS NULL) FROM mailings WHERE id = 3")" = 50:1 ] &&
	t_ok "heraldd stopped with the test cell sent and no winner" ||
	t_fail "mailing 3 stopped" "$(t_sql "SELECT sent_count, winner_reason FROM mailings WHERE id = 3")"
now=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
{
	echo "id,amount,currency,time,token,email,mailing"
	n=0
	for email in $(t_sql "SELECT email FROM stage_3 WHERE variant_id = $B3 AND row_id <= 50 ORDER BY row_id LIMIT 5"); do
		n=$((n + 1)); echo "b$n,50.00,EUR,$now,,$email,3"
	done
	for email in $(t_sql "SELECT email FROM stage_3 WHERE variant_id = 0 AND row_id <= 50 ORDER BY row_id LIMIT 1"); do
		echo "a1,20.00,EUR,$now,,$email,3"
	done
} >"$T_DIR/conv.csv"
t_check "the audience's conversions are imported" "$HERALD_BIN" conversion import "$T_DIR/conv.csv"
[ "$(t_sql "SELECT COUNT(*) FROM conversions WHERE mailing_id = 3")" = 6 ] && t_ok "6 conversions attributed to mailing 3" ||
	t_fail "attribution" "$(t_sql "SELECT conversion_id, mailing_id, attribution FROM conversions")"
"$HERALDD_BIN" -f >"$T_DIR/heraldd3b.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
wait_for 60 "SELECT state FROM mailings WHERE id = 3" done &&
	t_ok "heraldd started again chose the winner after the wait and sent the holdout" ||
	t_fail "mailing 3's release" "$(t_sql "SELECT state, winner_reason FROM mailings WHERE id = 3"); $(tail -c 1000 "$T_DIR/heraldd3b.log")"
[ "$(t_sql "SELECT GROUP_CONCAT(CONCAT(name, ':', delivered, ':', events, ':', revenue) ORDER BY variant_id) FROM test_results WHERE mailing_id = 3")" = \
	"A:25:1:20.00,B:25:5:250.00" ] && [ "$(t_sql "SELECT winner_variant_id FROM mailings WHERE id = 3")" = "$B3" ] &&
	t_sql "SELECT winner_reason FROM mailings WHERE id = 3" | grep -q "^revenue per message delivered: A 20.00/25 = 0.8000, B 250.00/25 = 10.0000; B leads, z = .*; the wait is over: B wins$" &&
	t_ok "B won by revenue: 250.00 against 20.00 over 25 delivered each" ||
	t_fail "mailing 3's winner" "$(t_sql "SELECT * FROM test_results WHERE mailing_id = 3"); $(t_sql "SELECT winner_reason FROM mailings WHERE id = 3")"
[ "$(t_sql "SELECT COUNT(*) FROM stage_3 WHERE row_id > 50 AND variant_id = $B3 AND delivery_state = 'sent'")" = 50 ] &&
	t_ok "the holdout's 50 got B" || t_fail "mailing 3's holdout" "$(t_sql "SELECT variant_id, delivery_state, COUNT(*) FROM stage_3 WHERE row_id > 50 GROUP BY 1, 2")"
kill -TERM $daemon
wait $daemon

# --- a refused mailing holds up no other ----------------------------------------------------
t_check "mailing 4: a test phase, first in line, never given a variant" \
	create v1 --test-share 50% --test-wait 5s --winner clicks --priority 5
t_check "mailing 5: an ordinary one" create v2
t_expect_fail "herald stage refuses mailing 4" 1 'mailing 4 has a test phase \(--winner clicks\) but no variant to test' \
	"$HERALD_BIN" stage
[ "$(t_sql "SELECT GROUP_CONCAT(CONCAT(id, ':', state) ORDER BY id) FROM mailings WHERE id >= 4")" = "4:queued,5:ready" ] &&
	t_ok "and stages mailing 5 all the same" || t_fail "mailing 5 staged" "$(t_sql "SELECT id, state FROM mailings WHERE id >= 4")"
t_done
