#!/bin/bash
# postfix_hostile.sh - hostile recipient data, sent by heraldd through a
# real Postfix that forbids bare newlines (smtpd_forbid_bare_newline =
# yes, no exclusions), on to smtp-sink. Every message must be accepted
# (none ends DATA early, none carries a bare CR or LF), reach the sink
# exactly once, and parse strictly with no injected header.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/postfix.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
t_start_sink "$T_DIR/sink"
t_start_postfix "$T_SINK_PORT"

# --- the control: this Postfix really refuses a bare LF --------------------
reply=$("$PYTHON3" - "$T_POSTFIX_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
s.sendall(b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
time.sleep(0.5)
s.sendall(b"Subject: x\r\n\r\nsmuggled\n.\nMAIL FROM:<evil@example.org>\r\n.\r\n")
time.sleep(0.5)
print(s.recv(65536).decode(errors="replace").replace("\r\n", " | "))
PY
)
echo "$reply" | grep -Eq '(^| )5[0-9][0-9] [^|]*bare' &&
	t_ok "the test Postfix refuses a bare LF (control)" ||
	t_fail "the test Postfix refuses a bare LF (control)" "replies: $reply"

cat >>"$T_CONFIG" <<CONF
relay_host = 127.0.0.1
relay_port = $T_POSTFIX_PORT
worker_count = 2
pid_file = $T_DIR/heraldd.pid
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }

tpl="$T_DIR/template"
mkdir -p "$tpl"
cat >"$tpl/subject.mustache" <<'TPL'
{{first_name}} {{last_name}} / {{city}}
TPL
cat >"$tpl/text.mustache" <<'TPL'
{{first_name}}|{{last_name}}|{{city}}|{{attributes.note}}
TPL
cat >"$tpl/html.mustache" <<'TPL'
<p>{{first_name}}|{{{last_name}}}|{{city}}|{{attributes.note}}</p>
TPL
cat >"$tpl/headers.mustache" <<'TPL'
X-City: {{city}}
TPL

# Every end-of-data and smuggling sequence, header injections, a NUL, a
# lone CR, long values: in names, city and a JSON attribute.
"$PYTHON3" - >"$T_DIR/recipients.sql" <<'PY'
values = ["\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r\n", "\r\n.\r\n", "\r\n.\r",
          "\n.\r", ".\r\n", "\r\n.", "x\r\nBcc: victim@example.org",
          "x\nX-Injected: yes\n\nbody", "a\rb", "a\0b", "\r\n\r\nbody",
          "Zo\u00eb \u65e5\u672c", "=?UTF-8?B?SGk=?=", "<script>&'\"",
          "w" * 99, ("long " * 20)[:100]]
def sql(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0").replace("\r", "\\r").replace("\n", "\\n") + "'"
import json
rows = []
for i, v in enumerate(values):
    note = json.dumps({"note": "before" + v + "after"})
    rows.append("(%s, %s, %s, %s, %s)" % (sql("h%d@example.net" % i), sql(v[:100]), sql(v[:100]), sql(v[:100]), sql(note)))
print("INSERT INTO recipients (email, first_name, last_name, city, attributes) VALUES " + ",".join(rows) + ";")
PY
t_sql "$(cat "$T_DIR/recipients.sql")" || t_fail "hostile rows load" "see above"
N=$(t_sql "SELECT COUNT(*) FROM recipients")
t_sql "INSERT INTO mailings (id, name, template_dir, subject, from_address, segment_expression, send_at, state, stage_table)
       VALUES (1, 'hostile', '$tpl', 'unused', 'news@example.org', 'all', UTC_TIMESTAMP(), 'ready', 'stage_1');
       CREATE TABLE stage_1 LIKE stage_template;
       INSERT INTO stage_1 (mailing_id, row_id, recipient_id, email, first_name, last_name, city, attributes)
       SELECT 1, id, id, email, first_name, last_name, city, attributes FROM recipients;
       INSERT INTO batches (mailing_id, stage_table, first_row, last_row)
       SELECT 1, 'stage_1', MIN(row_id), MAX(row_id) FROM stage_1"

"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 300); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	sleep 0.1
done
kill -TERM $daemon; wait $daemon

sent=$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'sent' AND queue_id REGEXP '^[0-9A-F]+$'")
[ "$sent" = "$N" ] && t_ok "Postfix accepted all $N hostile messages (queue ids recorded)" ||
	t_fail "Postfix accepted all $N hostile messages (queue ids recorded)" \
	    "$sent sent; $(t_sql "SELECT row_id, delivery_state, relay_reply FROM stage_1 WHERE delivery_state <> 'sent'" | head -5); $(tail -c 1000 "$T_DIR/heraldd.log")"
for _ in $(seq 1 100); do
	[ "$(t_sink_count "$T_DIR/sink")" -ge "$N" ] && break
	sleep 0.1
done
[ "$(t_sink_count "$T_DIR/sink")" = "$N" ] && t_ok "the sink got each message once, none split by smuggling" ||
	t_fail "the sink got each message once, none split by smuggling" "$(t_sink_count "$T_DIR/sink") of $N"
# The control's rejection is the only one.
bare=$(grep -ci "bare <LF>" "$(t_postfix_log)")
[ "$bare" = 1 ] && t_ok "Postfix saw no bare newline from herald" ||
	t_fail "Postfix saw no bare newline from herald" "$(grep -i bare "$(t_postfix_log)" | head -3)"

"$PYTHON3" - "$T_DIR/sink" <<'PY' >"$T_DIR/parse.out" 2>&1
import email, email.policy, os, sys
bad = 0
for name in os.listdir(sys.argv[1]):
    data = open(os.path.join(sys.argv[1], name), "rb").read()
    msg = email.message_from_bytes(data, policy=email.policy.strict)
    problems = [h for h in ("Bcc", "X-Injected") if msg.get_all(h)]
    if any(p.defects for p in msg.walk()):
        problems.append("defects")
    if len(msg.get_all("X-City") or []) != 1:
        problems.append("X-City count")
    text = msg.get_body(("plain",)).get_content()
    if "before" not in text or "after" not in text:
        problems.append("attribute text lost")
    if problems:
        bad += 1
        print(name, problems)
print("%d bad" % bad)
sys.exit(1 if bad else 0)
PY
[ $? = 0 ] && t_ok "every message parses strictly, no injected header" ||
	t_fail "every message parses strictly, no injected header" "$(tail -c 1000 "$T_DIR/parse.out")"
t_done
