#!/bin/bash
# mailing_states.sh - an operator's pause, resume and cancel against a
# mailing in each of its states (src/store/mailing.h), through the CLI and a
# real MariaDB: what the state table allows moves the mailing; anything
# else is refused, naming the state and the states that would do, and
# leaves the mailing's row exactly as it was (updated_at included). A
# blocked mailing shows its reason in "mailing show" and "status".
. "$HERALD_SRCDIR/tests/lib/common.sh"
t_use_database
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
tpl="$T_DIR/template"
mkdir -p "$tpl"
echo "Hello {{first_name}}" >"$tpl/text.mustache"
t_sql "INSERT INTO recipients (email, first_name) SELECT CONCAT('s', seq, '@example.net'), 'S' FROM seq_1_to_20"
create() {
	"$HERALD_BIN" mailing create --name "$1" --template "$tpl" --segment all \
	    --from news@example.org --subject s "${@:2}" >/dev/null
}
create staged && "$HERALD_BIN" stage >/dev/null
create unstaged --send-at "2099-01-01 00:00 UTC"
[ "$(t_sql "SELECT CONCAT(state, ' ', stage_table) FROM mailings WHERE id = 1")" = "ready stage_1" ] &&
	t_ok "mailing 1 is staged" || t_fail "mailing 1 is staged" "$(t_sql "SELECT state FROM mailings WHERE id = 1")"
row() { t_sql "SELECT * FROM mailings WHERE id = $1"; }
put() {	# MAILING STATE: as the stager or a worker would leave it
	t_sql "UPDATE mailings SET state = '$2', finished_at = NULL,
	       blocked_reason = IF('$2' = 'blocked', 'text.mustache:1:7: section \"x\" is never closed', NULL),
	       blocked_at = IF('$2' = 'blocked', UTC_TIMESTAMP(), NULL),
	       updated_at = '2026-01-01 00:00:00' WHERE id = $1"
}
# What an operator may do from each state: the state reached, or "-".
expect() {	# VERB STATE
	case "$1 $2" in
	"pause queued" | "pause ready" | "pause sending" | "pause blocked") echo paused ;;
	"resume paused" | "resume pulled") echo ready ;;
	"cancel draft" | "cancel queued" | "cancel ready" | "cancel sending" | \
	"cancel blocked" | "cancel paused" | "cancel pulled") echo cancelled ;;
	*) echo - ;;
	esac
}
sources() {	# VERB: the states the refusal names
	case "$1" in
	pause) echo "only a queued, ready, sending or blocked mailing can be paused" ;;
	resume) echo "only a paused or pulled mailing can be resumed" ;;
	cancel) echo "only a draft, queued, ready, sending, blocked, paused or pulled mailing can be cancelled" ;;
	esac
}
for verb in pause resume cancel; do
	for state in draft queued staging ready sending blocked paused done cancelled pulled; do
		put 1 "$state"
		before=$(row 1)
		want=$(expect "$verb" "$state")
		"$HERALD_BIN" mailing "$verb" 1 >"$T_DIR/out" 2>"$T_DIR/err"
		status=$?
		now=$(t_sql "SELECT CONCAT(state, ' ', blocked_reason IS NULL, ' ', finished_at IS NOT NULL) FROM mailings WHERE id = 1")
		if [ "$want" = - ]; then
			if [ $status = 1 ] && grep -q "mailing 1 is $state: $(sources "$verb")" "$T_DIR/err" &&
			    [ "$(row 1)" = "$before" ]; then
				t_ok "$verb a $state mailing: refused, nothing changed"
			else
				t_fail "$verb a $state mailing: refused, nothing changed" \
				    "exit $status, $(cat "$T_DIR/err"), row $(row 1)"
			fi
		else
			final=0; [ "$want" = cancelled ] && final=1
			if [ $status = 0 ] && [ "$now" = "$want 1 $final" ]; then
				t_ok "$verb a $state mailing: $want"
			else
				t_fail "$verb a $state mailing: $want" "exit $status, $now, $(cat "$T_DIR/err")"
			fi
		fi
	done
done
# The stager owns a mailing in staging: the refusal says to wait.
put 1 staging
t_expect_fail "cancel while staging says to try again" 1 "being staged: try again in a moment" \
	"$HERALD_BIN" mailing cancel 1
# A mailing never staged goes back to the stager when resumed.
t_check "pause the unstaged mailing" "$HERALD_BIN" mailing pause 2
t_check "resume the unstaged mailing" "$HERALD_BIN" mailing resume 2
[ "$(t_sql "SELECT state FROM mailings WHERE id = 2")" = queued ] &&
	t_ok "a resumed mailing that was never staged is queued" ||
	t_fail "a resumed mailing that was never staged is queued" "$(t_sql "SELECT state FROM mailings WHERE id = 2")"
t_expect_fail "a mailing that does not exist" 1 "mailing 99 does not exist" "$HERALD_BIN" mailing pause 99

# --- blocked: the reason, in show and status, only while blocked ---------
t_sql "UPDATE stage_1 SET delivery_state = 'pending'"	# the cancels above
put 1 blocked
t_check "show a blocked mailing" "$HERALD_BIN" mailing show 1
grep -Eq "^state +blocked$" "$T_DIR/out" &&
	grep -Eq '^blocked by +text.mustache:1:7: section "x" is never closed$' "$T_DIR/out" &&
	grep -Eq "^blocked since +20" "$T_DIR/out" &&
	t_ok "mailing show gives the blocked state, since when and why" ||
	t_fail "mailing show gives the blocked state and why" "$(cat "$T_DIR/out")"
"$HERALD_BIN" status --json >"$T_DIR/status.json"
"$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
m = {x["id"]: x for x in d["mailings"]}
assert m[1]["state"] == "blocked", m[1]
assert m[1]["blocked_reason"] == "text.mustache:1:7: section \"x\" is never closed", m[1]
assert m[1]["eta_seconds"] is None, m[1]
assert m[2]["blocked_reason"] is None, m[2]' "$T_DIR/status.json" 2>"$T_DIR/py.err" &&
	t_ok "status --json: state blocked, its reason, no ETA" || t_fail "status --json blocked" "$(cat "$T_DIR/py.err")"
"$HERALD_BIN" status >"$T_DIR/status.txt"
grep -Eq "^  1 +staged +blocked " "$T_DIR/status.txt" &&
	grep -q '^        blocked: text.mustache:1:7: section "x" is never closed$' "$T_DIR/status.txt" &&
	grep -q "ETA -" "$T_DIR/status.txt" &&
	t_ok "status: blocked with its reason, no ETA" || t_fail "status text blocked" "$(cat "$T_DIR/status.txt")"
t_check "pause the blocked mailing" "$HERALD_BIN" mailing pause 1
t_check "show it paused" "$HERALD_BIN" mailing show 1
! grep -q "^blocked" "$T_DIR/out" && [ "$(t_sql "SELECT blocked_reason IS NULL AND blocked_at IS NULL FROM mailings WHERE id = 1")" = 1 ] &&
	t_ok "leaving blocked clears the reason" || t_fail "leaving blocked clears the reason" "$(cat "$T_DIR/out")"
t_done
