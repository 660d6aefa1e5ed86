#!/bin/bash
# operator_output.sh - what an operator reads: a history lookup tells an
# unknown recipient from one who has received nothing; report --json has
# numbers and snake_case keys, refuses --json with --csv, and aligns its
# text columns; counts take the right plural; and every command's bad
# argument is named, with what was expected, before the usage text.
. "$HERALD_SRCDIR/tests/lib/common.sh"
t_use_database
echo "batch_size = 2" >>"$T_CONFIG"
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
cd "$T_DIR" || exit 1

tpl="$T_DIR/template"
mkdir -p "$tpl"
echo "Hello {{first_name}}" >"$tpl/text.mustache"
t_sql "INSERT INTO recipients (id, email, first_name, state) VALUES
       (1, 'one@example.org', 'One', 'OH'), (2, 'two@example.net', 'Two', 'OH'),
       (3, 'three@example.net', 'Three', 'OH'), (42, 'idle@example.org', 'Idle', 'PA')"

# --- history: unknown recipient, or known with no mailing ----------------
t_expect_fail "history of an unknown address names it" 1 \
	'history: no recipient with address "nobody@example.org"' "$HERALD_BIN" history nobody@example.org
t_expect_fail "history of an unknown id names it" 1 \
	'history: no recipient with id 4242$' "$HERALD_BIN" history 4242
t_expect_fail "history of a known recipient with no mailing says so (by address)" 1 \
	'history: recipient 42 \(idle@example.org\) has received no mailing' "$HERALD_BIN" history idle@example.org
t_expect_fail "history of a known recipient with no mailing says so (by id)" 1 \
	'history: recipient 42 \(idle@example.org\) has received no mailing' "$HERALD_BIN" history 42

# --- report: JSON numbers and keys, --json with --csv, aligned text -------
create() {
	"$HERALD_BIN" mailing create --name "$1" --template "$tpl" --segment "$2" \
	    --from "Herald <news@example.org>" --subject "Hi {{first_name}}"
}
t_check "create mailing 1 (three recipients)" create ohio "state = OH"
t_check "create mailing 2 (one recipient)" create penn "state = PA"
t_check "stage them" "$HERALD_BIN" stage
stage1=$(t_sql "SELECT stage_table FROM mailings WHERE id = 1")
t_sql "UPDATE \`$stage1\` SET delivery_state = 'sent', delivered_at = '2026-11-30 10:00:05' WHERE recipient_id = 1;
       UPDATE \`$stage1\` SET delivery_state = 'sent', delivered_at = '2026-11-30 10:01:10' WHERE recipient_id = 2;
       UPDATE \`$stage1\` SET delivery_state = 'deferred' WHERE recipient_id = 3"
"$HERALD_BIN" report 1 --json >report1.json 2>report.err
"$HERALD_BIN" report 2 --json >report2.json 2>>report.err
"$PYTHON3" - report1.json report2.json <<'PY' >report.check 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
assert sorted(d["states"], key=lambda s: s["state"]) == [{"state": "deferred", "messages": 1}, {"state": "sent", "messages": 2}], d["states"]
v = d["variants"][0]
assert (v["messages"], v["sent"], v["deferred"], v["failed"]) == (3, 2, 1, 0), v
assert d["domains"][0] == {"domain": "example.net", "messages": 2, "sent": 1, "deferred": 1, "failed": 0}, d["domains"]
assert d["time"] == [{"first_delivery": "2026-11-30 10:00:05", "last_delivery": "2026-11-30 10:01:10", "seconds": 65}], d["time"]
assert d["per_minute"] == [{"minute": "2026-11-30 10:00", "sent": 1}, {"minute": "2026-11-30 10:01", "sent": 1}], d["per_minute"]
for section in d.values():
    for row in section if isinstance(section, list) else []:
        assert all(" " not in k and k == k.lower() for k in row), row
e = json.load(open(sys.argv[2]))
assert e["time"] == [{"first_delivery": None, "last_delivery": None, "seconds": None}], e["time"]
print("ok")
PY
[ $? = 0 ] && t_ok "report --json: counts are numbers, keys snake_case, no delivery is null" ||
	t_fail "report --json: numbers and keys" "$(cat report.check report.err; head -c 600 report1.json)"
t_expect_fail "report --json --csv is refused, naming both" 2 '--json and --csv' "$HERALD_BIN" report 1 --json --csv
t_expect_fail "report --csv --json too" 2 '--json and --csv' "$HERALD_BIN" report 1 --csv --json
"$HERALD_BIN" report 1 --csv >report.csv
grep -q "^time,2026-11-30 10:00:05,last_delivery,2026-11-30 10:01:10$" report.csv && grep -q "^time,2026-11-30 10:00:05,seconds,65$" report.csv &&
	t_ok "report --csv: snake_case measures" || t_fail "report --csv: snake_case measures" "$(cat report.csv)"
t_check "report (text)" "$HERALD_BIN" report 1
# Aligned: within a section the header and every row are equally wide.
awk '/^[a-z_]+$/ { section = $0; width = -1; next }
     { if (width < 0) width = length($0); else if (length($0) != width) { print section ": " $0; bad = 1 } }
     END { exit bad }' "$T_DIR/out" >align.out &&
	grep -Eq "^  first_delivery +last_delivery +seconds$" "$T_DIR/out" &&
	grep -Eq "^  2026-11-30 10:00:05  2026-11-30 10:01:10 +65$" "$T_DIR/out" &&
	t_ok "report text: columns aligned, times included" || t_fail "report text: columns aligned" "$(cat align.out "$T_DIR/out")"

# --- counts take the right word: one recipient, two recipients -----------
t_check "segment count of one" "$HERALD_BIN" segment count "state = PA"
grep -q "^1 recipient (query" "$T_DIR/out" && t_ok "segment count: 1 recipient" || t_fail "segment count: 1 recipient" "$(cat "$T_DIR/out")"
t_check "segment count of three" "$HERALD_BIN" segment count "state = OH"
grep -q "^3 recipients (query" "$T_DIR/out" && t_ok "segment count: 3 recipients" || t_fail "segment count: 3 recipients" "$(cat "$T_DIR/out")"
t_check "create mailing 3 (one recipient)" create one "state = PA"
t_check "stage it" "$HERALD_BIN" stage
grep -q "^staged 1 mailing, 1 recipient$" "$T_DIR/out" && t_ok "stage: 1 mailing, 1 recipient" || t_fail "stage: 1 mailing, 1 recipient" "$(cat "$T_DIR/out")"
printf 'email\nsolo@example.org\nsolo@example.org\n' >solo.csv
t_check "import of one address twice" "$HERALD_BIN" import solo.csv
grep -q "solo.csv: 2 rows read, 1 loaded (1 new, 0 updated), 1 duplicate (the last row won), 0 rejected" "$T_DIR/out" &&
	t_ok "import: 1 duplicate" || t_fail "import: 1 duplicate" "$(cat "$T_DIR/out")"
t_sql "DELETE FROM recipients WHERE email = 'solo@example.org'"

# --- a bad argument is named, with what was expected, then the usage -------
bad_argument() {	# WHAT PATTERN ARGS...
	local what=$1 pattern=$2
	shift 2
	"$HERALD_BIN" "$@" >"$T_DIR/out" 2>"$T_DIR/err" </dev/null
	local got=$?
	if [ $got = 2 ] && grep -Eq -- "^herald: error: $pattern" "$T_DIR/err" &&
	    grep -q "^usage: herald" "$T_DIR/err"; then
		t_ok "$what"
	else
		t_fail "$what" "exit $got; $(head -c 600 "$T_DIR/err")"
	fi
}
bad_argument "mailing pause abc" 'mailing pause: "abc" is not a mailing id \(a positive number\)' mailing pause abc
bad_argument "mailing pause without an id" 'mailing pause: name the mailing by its id' mailing pause
bad_argument "mailing show with two ids" 'mailing show: unexpected argument "2"' mailing show 1 2
bad_argument "mailing sideways" 'mailing: unknown command "sideways": expected create, list, show, variant, pause, resume or cancel' mailing sideways
bad_argument "mailing create --frob" 'mailing create: unknown option "--frob"' mailing create --name x --frob y
bad_argument "mailing create --name (no value)" 'mailing create: --name needs a value' mailing create --name
bad_argument "mailing create without the required options" 'mailing create: --template --segment --from missing' mailing create --name x
bad_argument "import --mode sideways" 'import: --mode must be merge or replace, not "sideways"' import x.csv --mode sideways
bad_argument "import --format xml" 'import: --format must be csv or tsv, not "xml"' import x.csv --format xml
bad_argument "import --mode (no value)" 'import: --mode needs a value \(merge or replace\)' import x.csv --mode
bad_argument "import without a source" 'import: no SOURCE' import
bad_argument "report abc" 'report: "abc" is not a mailing id' report abc
bad_argument "report --top x" 'report: --top must be a positive number, not "x"' report 1 --top x
bad_argument "preview abc" 'preview: "abc" is not a mailing id' preview abc
bad_argument "preview --recipient (no value)" 'preview: --recipient needs a value' preview 1 --recipient
bad_argument "history with two arguments" 'history: unexpected argument "b"' history a b
bad_argument "segment frob" 'segment: unknown command "frob": expected count, save, list, show or delete' segment frob
bad_argument "segment save NAME (no EXPR)" 'segment save: needs a NAME and an EXPR' segment save x
bad_argument "segment list x" 'segment list: unexpected argument "x"' segment list x
bad_argument "db frob" 'db: unknown command "frob": expected init, migrate, status, start or stop' db frob
bad_argument "db init x" 'db: unexpected argument "x"' db init x
bad_argument "config frob" 'config: unknown command "frob": expected check' config frob
bad_argument "config check --x" 'config check: unknown option "--x"' config check --x
bad_argument "template check without a directory" 'template check: name the template directory' template check
bad_argument "token make 1 x" 'token make: "x" is not a recipient id' token make 1 x
bad_argument "token" 'token: name a command: verify or make' token
bad_argument "stage x" 'stage: unexpected argument "x"' stage x
bad_argument "maintain x" 'maintain: unexpected argument "x"' maintain x
bad_argument "status --x" 'status: unknown option "--x"' status --x
bad_argument "bounce --recipient (no value)" 'bounce: --recipient needs a value' bounce --recipient
bad_argument "herald with no command" 'name a command'

t_done
