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

t_done
