#!/bin/bash
# history_race.sh - "herald stage" and "herald maintain" (packing a closed
# month's archive) run at the same time, 50 times over, on the embedded
# server (packing needs the server's files). Each round a fresh archive
# holds the rows of an old mailing X that reached the first half of the
# recipients, and a new mailing Y is queued for "not received(X)". After
# every round:
#   - history's UNION lists every stage table and every archive (no run
#     lost another's edit of it);
#   - Y was staged for the other half only: received(X) saw X's archive
#     while it was being packed.
. "$HERALD_SRCDIR/tests/lib/common.sh"
command -v myisampack >/dev/null || t_skip "myisampack is not installed"
ROUNDS=${HISTORY_RACE_ROUNDS:-50}
PEOPLE=1000
cat >"$T_DIR/herald.conf" <<CONF
state_directory = $T_DIR/embedded
sql_directory = $HERALD_SRCDIR/sql
CONF
export HERALD_CONFIG="$T_DIR/herald.conf"
t_at_exit "'$HERALD_BIN' db stop >/dev/null 2>&1"
"$HERALD_BIN" db init >/dev/null 2>&1 || { t_fail "embedded db init" "failed"; t_done; }
esql() { mariadb --no-defaults --socket="$T_DIR/embedded/mariadb/mysqld.sock" -uroot herald -N -e "$1"; }
tpl="$T_DIR/t"; mkdir -p "$tpl"; echo "Hi {{first_name}}" >"$tpl/text.mustache"
awk -v n=$PEOPLE 'BEGIN { print "email,first_name"; for (i = 1; i <= n; i++) printf "p%d@example.org,P%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null || t_fail "import" "failed"

# X, done long ago: its archive history_2000MM, in the union, unpacked.
old_mailing() {	# ROUND
	local month id union
	month=$(printf '%04d%02d' $((2000 + ($1 - 1) / 12)) $((($1 - 1) % 12 + 1)))
	id=$("$HERALD_BIN" mailing create --name "x$1" --template "$tpl" --segment all \
	    --from a@example.org --subject s | awk '{ print $2 }')
	esql "UPDATE mailings SET state = 'done', stage_table = 'history_$month',
	          finished_at = '$((2000 + ($1 - 1) / 12))-01-15' WHERE id = $id;
	      CREATE TABLE history_$month LIKE stage_template;
	      INSERT INTO history_$month (mailing_id, row_id, recipient_id, email,
	          first_name, delivery_state, attempts, delivered_at)
	      SELECT $id, id, id, email, first_name, 'sent', 1, '2000-01-15'
	      FROM recipients WHERE id <= $PEOPLE / 2"
	union=$(esql "SHOW CREATE TABLE history" | tr -d '\n' | grep -o 'UNION=([^)]*)' | sed 's/UNION=(\(.*\))/\1/')
	esql "ALTER TABLE history UNION=(${union:+$union,}history_$month)"
	echo "$id $month"
}

lost=0 twice=0 short=0
for round in $(seq 1 "$ROUNDS"); do
	read -r x month < <(old_mailing "$round")
	y=$("$HERALD_BIN" mailing create --name "y$round" --template "$tpl" \
	    --segment "not received($x)" --from a@example.org --subject s | awk '{ print $2 }')
	"$HERALD_BIN" maintain >"$T_DIR/maintain.out" 2>&1 &
	maintain=$!
	# A varying head start, so the stager meets each of maintain's steps.
	sleep "0.0$((RANDOM % 10))"
	"$HERALD_BIN" stage >"$T_DIR/stage.out" 2>&1 || t_fail "round $round: herald stage" "$(cat "$T_DIR/stage.out")"
	wait $maintain || t_fail "round $round: herald maintain" "$(cat "$T_DIR/maintain.out")"
	union=$(esql "SHOW CREATE TABLE history" | tr -d '\n' | grep -o 'UNION=([^)]*)')
	for table in $(esql "SELECT stage_table FROM mailings WHERE stage_table IS NOT NULL"); do
		case "$union" in
		*"\`$table\`"*) ;;
		*) lost=$((lost + 1)); echo "round $round: $table is not in history's $union" ;;
		esac
	done
	again=$(esql "SELECT COUNT(*) FROM stage_$y s JOIN history_$month a ON a.recipient_id = s.recipient_id")
	staged=$(esql "SELECT COUNT(*) FROM stage_$y")
	[ "$again" = 0 ] || { twice=$((twice + 1)); echo "round $round: mailing $y staged $again recipients who received $x"; }
	[ "$staged" = $((PEOPLE / 2)) ] || { short=$((short + 1)); echo "round $round: mailing $y staged $staged, not $((PEOPLE / 2))"; }
	[ "$(esql "SELECT ROW_FORMAT FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'herald' AND TABLE_NAME = 'history_$month'")" = Compressed ] ||
		{ short=$((short + 1)); echo "round $round: history_$month was not packed: $(cat "$T_DIR/maintain.out")"; }
done
[ $lost = 0 ] && t_ok "$ROUNDS rounds: history's UNION always lists every stage table and archive" ||
	t_fail "history's UNION" "$lost tables missing after the rounds"
[ $twice = 0 ] && t_ok "$ROUNDS rounds: nobody staged against 'not received(X)' while X's archive was packed" ||
	t_fail "received() while packing" "$twice rounds staged people who had received X"
[ $short = 0 ] && t_ok "every round staged the other half and packed its archive" ||
	t_fail "rounds" "$short went wrong"
total=$(esql "SELECT COUNT(*) FROM history")
[ "$total" = $((ROUNDS * PEOPLE)) ] && t_ok "history reads every row of every table once ($total)" ||
	t_fail "history rows" "$total, not $((ROUNDS * PEOPLE))"
[ -z "$(esql "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'herald' AND TABLE_NAME REGEXP '^history_[0-9]{6}_'")" ] &&
	t_ok "no packing copy is left behind" || t_fail "leftovers" "$(esql "SHOW TABLES LIKE 'history\\_%\\_%'")"
t_done
