#!/bin/bash
# send_e2e.sh - heraldd sends a staged mailing end to end: real MariaDB,
# a real smtp-sink as the relay, forked workers. Checks that every
# recipient got exactly one message, that the database says so (queue
# ids, sent state, mailing done), that every message received parses
# without a defect and carries its personalization, and that a template
# change makes workers restart with the new files.
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
relay_session_size = 50
batch_size = 100
pid_file = $T_DIR/heraldd.pid
message_domain = news.example.org
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }

# --- a template directory -------------------------------------------------
tpl="$T_DIR/template"
mkdir -p "$tpl"
cat >"$tpl/text.mustache" <<'TPL'
Dear {{first_name}}{{^first_name}}friend{{/first_name}},

Thank you for giving {{donated_total}} so far.
{{#attributes.tags}}- {{.}}
{{/attributes.tags}}
{{> footer}}
TPL
cat >"$tpl/html.mustache" <<'TPL'
<p>Dear {{first_name}},</p><p>{{attributes.note}}</p>
<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>
TPL
cat >"$tpl/footer.mustache" <<'TPL'
Unsubscribe: {{unsubscribe_url}}
TPL
cat >"$tpl/headers.mustache" <<'TPL'
X-Campaign: {{mailing.name}}
TPL
t_check "template check accepts the directory" "$HERALD_BIN" template check "$tpl" --subject "Hello {{first_name}}"

# --- recipients, a mailing, staged in batches of 100 ---------------------
t_sql "INSERT INTO recipients (email, first_name, last_name, donated_total, attributes)
       SELECT CONCAT('r', seq, '@example.net'), IF(seq % 10 = 0, NULL, CONCAT('Name', seq)),
              'Doe', seq, JSON_OBJECT('tags', JSON_ARRAY('a', 'b'), 'note', '<b>&')
       FROM seq_1_to_$N"
t_check "mailing create" "$HERALD_BIN" mailing create --name "Spring appeal" \
	--template "$tpl" --segment all --from "Herald News <news@example.org>" \
	--subject "Hello {{first_name}} – spring"
t_check "herald stage" "$HERALD_BIN" stage
[ "$(t_sql "SELECT CONCAT(state, ' ', staged_count, ' ', (SELECT COUNT(*) FROM batches)) FROM mailings WHERE id = 1")" = "ready $N 6" ] &&
	t_ok "the mailing is staged in 6 batches" ||
	t_fail "the mailing is staged in 6 batches" "$(t_sql "SELECT state, staged_count FROM mailings")"

t_check "preview builds the first recipient's message" "$HERALD_BIN" preview 1
grep -q "^Subject: =?UTF-8?B?" "$T_DIR/out" && grep -q "^List-Unsubscribe-Post: List-Unsubscribe=One-Click" "$T_DIR/out" &&
	t_ok "preview shows the encoded subject and one-click header" ||
	t_fail "preview shows the encoded subject and one-click header" "$(head -c 1500 "$T_DIR/out")"

# --- send ---------------------------------------------------------------
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 600); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	kill -0 $daemon 2>/dev/null || break
	sleep 0.1
done
state=$(t_sql "SELECT state FROM mailings WHERE id = 1")
[ "$state" = done ] && t_ok "the mailing ends done" ||
	t_fail "the mailing ends done" "state $state; log: $(tail -c 2000 "$T_DIR/heraldd.log")"

sent=$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'sent' AND queue_id IS NOT NULL AND queue_id <> ''")
[ "$sent" = $N ] && t_ok "every row is sent with a queue id" ||
	t_fail "every row is sent with a queue id" "$sent of $N"
for _ in $(seq 1 50); do
	[ "$(t_sink_count "$T_DIR/sink")" -ge $N ] && break
	sleep 0.1
done
received=$(t_sink_count "$T_DIR/sink")
[ "$received" = $N ] && t_ok "the sink received $N messages" ||
	t_fail "the sink received $N messages" "received $received"
dups=$(cat "$T_DIR"/sink/* | grep -i '^Message-ID:' | sort | uniq -d | wc -l)
distinct=$(cat "$T_DIR"/sink/* | grep -i '^Message-ID:' | sort -u | wc -l)
[ "$dups" = 0 ] && [ "$distinct" = $N ] && t_ok "one message per recipient, no duplicate" ||
	t_fail "one message per recipient, no duplicate" "$dups duplicated, $distinct distinct"

# Every received message parses strictly and says what it should.
"$PYTHON3" - "$T_DIR/sink" <<'PY' >"$T_DIR/parse.out" 2>&1
import email, email.policy, os, re, sys
bad = 0
names = os.listdir(sys.argv[1])
for name in names:
    data = open(os.path.join(sys.argv[1], name), "rb").read()
    # smtp-sink puts its own X- headers first; the message follows.
    msg = email.message_from_bytes(data, policy=email.policy.strict)
    rcpt = re.search(rb"X-Rcpt-Args: <r(\d+)@", data)
    n = int(rcpt.group(1))
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    want_name = "friend" if n % 10 == 0 else "Name%d" % n
    problems = []
    if any(p.defects for p in msg.walk()):
        problems.append("defects")
    if "Dear %s," % want_name not in text:
        problems.append("text greeting")
    if "- a\n- b\n" not in text.replace("\r\n", "\n"):
        problems.append("list section")
    if "&lt;b&gt;&amp;" not in html:
        problems.append("html escaping")
    if str(msg["subject"]) != "Hello %s \u2013 spring" % ("" if n % 10 == 0 else "Name%d" % n) and n % 10:
        problems.append("subject %r" % str(msg["subject"]))
    if msg["X-Campaign"] != "Spring appeal":
        problems.append("extra header")
    if msg["Message-ID"] != "<herald.1.%d@news.example.org>" % n:
        problems.append("message-id %s" % msg["Message-ID"])
    # The signed VERP sender (returnpath.h): key k1, a 13-character MAC.
    if not re.search(rb"X-Mail-Args: <bounces\+1-%d-k1-[a-z2-7]{13}@news\.example\.org>" % n, data):
        problems.append("VERP sender")
    if problems:
        bad += 1
        print(name, problems)
print("%d messages, %d bad" % (len(names), bad))
sys.exit(1 if bad or not names else 0)
PY
[ $? = 0 ] && t_ok "every message parses strictly with its personalization" ||
	t_fail "every message parses strictly with its personalization" "$(tail -c 1500 "$T_DIR/parse.out")"

# --- herald report on the finished mailing -------------------------------
t_check "herald report" "$HERALD_BIN" report 1
grep -Eq "^  sent +$N$" "$T_DIR/out" && grep -Eq "^  example.net +$N +$N +0 +0" "$T_DIR/out" &&
	t_ok "report: totals per state and per domain" || t_fail "report totals" "$(cat "$T_DIR/out")"
"$HERALD_BIN" report 1 --json | "$PYTHON3" -c "
import json, sys
d = json.load(sys.stdin)
assert d['states'] == [{'state': 'sent', 'messages': $N}], d['states']
assert d['variants'][0]['sent'] == $N
assert sum(int(m['sent']) for m in d['per_minute']) == $N
assert int(d['time'][0]['seconds']) >= 0" 2>"$T_DIR/report.err" &&
	t_ok "report --json: states, variants, minutes add up" || t_fail "report --json" "$(cat "$T_DIR/report.err")"
"$HERALD_BIN" report 1 --csv >"$T_DIR/report.csv"
head -1 "$T_DIR/report.csv" | grep -q "^section,key,measure,value$" && grep -q "^states,sent,messages,$N$" "$T_DIR/report.csv" &&
	t_ok "report --csv: long format" || t_fail "report --csv" "$(head -5 "$T_DIR/report.csv")"
t_expect_fail "report of a mailing that does not exist" 1 "mailing 99 does not exist" "$HERALD_BIN" report 99

# --- a template change: messages built after it use the new files ------
sleep 1.1	# the change check runs at most once a second
echo "Changed footer" >"$tpl/footer.mustache"
sleep 1.1
t_sql "UPDATE stage_1 SET delivery_state = 'pending', queue_id = NULL WHERE row_id > $((N - 100));
       UPDATE batches SET state = 'ready', checkpoint_row = 0 WHERE first_row > $((N - 100));
       UPDATE mailings SET state = 'sending' WHERE id = 1"
for _ in $(seq 1 300); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	sleep 0.1
done
sleep 0.5
changed=$(grep -l "Changed footer" "$T_DIR"/sink/* | wc -l)
old=$(grep -l "^Unsubscribe: https" "$T_DIR"/sink/* | wc -l)
[ "$changed" = 100 ] && [ "$old" = $N ] &&
	t_ok "messages built after a template change use the new files, none mixed" ||
	t_fail "messages built after a template change use the new files, none mixed" \
	    "$changed with the new footer, $old with the old one; $(tail -c 1500 "$T_DIR/heraldd.log")"

kill -TERM $daemon
for _ in $(seq 1 100); do kill -0 $daemon 2>/dev/null || break; sleep 0.1; done
wait $daemon
status=$?
[ $status = 0 ] && t_ok "heraldd stops cleanly on TERM" ||
	t_fail "heraldd stops cleanly on TERM" "exit $status; $(tail -c 1500 "$T_DIR/heraldd.log")"
[ ! -e "$T_DIR/heraldd.pid" ] && t_ok "the pid file is removed" ||
	t_fail "the pid file is removed" "still there"
t_done
