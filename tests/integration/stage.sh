#!/bin/bash
# stage.sh - herald mailing create/pause/resume/cancel and herald stage
# against a real MariaDB: the staged rows are exactly what the segment
# selects (suppressed and inactive recipients out), the history MERGE
# table's UNION lists the stage tables, concurrent runs stage a mailing
# once, and a stager killed at each step leaves a state the next run
# completes, with no orphan table.
. "$HERALD_SRCDIR/tests/lib/common.sh"
t_use_database
echo "batch_size = 100" >>"$T_CONFIG"
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }

tpl="$T_DIR/template"
mkdir -p "$tpl"
echo "Hello {{first_name}}" >"$tpl/text.mustache"

t_sql "INSERT INTO recipients (email, first_name, state, donated_total, status, last_donation_at)
       SELECT CONCAT('p', seq, '@example.net'), CONCAT('P', seq),
              ELT(1 + seq % 3, 'OH', 'PA', 'NY'), seq % 250,
              IF(seq % 50 = 0, 'unsubscribed', 'active'),
              DATE_SUB('2026-11-01', INTERVAL seq DAY)
       FROM seq_1_to_1000;
       INSERT INTO suppressions (email, reason) VALUES ('p3@example.net', 'bounced'), ('p6@example.net', 'manual')"

create() {
	"$HERALD_BIN" mailing create --name "$1" --template "$tpl" \
	    --segment "$2" --from "Herald <news@example.org>" \
	    --subject "Hi {{first_name}}" "${@:3}"
}

# --- create: validation --------------------------------------------------
t_expect_fail "an unknown segment field is refused with its column" 1 \
	'column 1: unknown field "donated"' create bad "donated > 3"
mkdir -p "$T_DIR/badtpl" && echo "Hello {{#x}}" >"$T_DIR/badtpl/text.mustache"
t_expect_fail "a template error is refused with FILE:LINE:COLUMN" 1 \
	'text.mustache:1:7: section "x" is never closed' \
	"$HERALD_BIN" mailing create --name bad --template "$T_DIR/badtpl" --segment all \
	    --from news@example.org --subject x
t_expect_fail "a bad From address is refused" 1 'From|--from' \
	"$HERALD_BIN" mailing create --name bad --template "$tpl" --segment all \
	    --from "news@@example.org" --subject x
t_expect_fail "a bad send time is refused" 1 'send-at' \
	create bad all --send-at "tomorrow-ish"
[ "$(t_sql 'SELECT COUNT(*) FROM mailings')" = 0 ] && t_ok "refused mailings leave no row" ||
	t_fail "refused mailings leave no row" "$(t_sql 'SELECT COUNT(*) FROM mailings') rows"

t_check "create mailing 1 (OH and PA donors of 100+)" create ohpa "state in (OH, PA) and donated_total >= 100"
t_check "create mailing 2 (due in the future)" create later all --send-at "2099-01-01 09:00 Europe/Paris"
t_check "create mailing 3 (empty segment)" create empty "donated_total > 100000"
t_check "create mailing 4 (paused before staging)" create paused all
t_check "pause mailing 4" "$HERALD_BIN" mailing pause 4
t_expect_fail "resuming a queued mailing is refused" 1 'only a paused or pulled mailing' \
	"$HERALD_BIN" mailing resume 1
[ "$(t_sql "SELECT send_at FROM mailings WHERE id = 2")" = "2099-01-01 08:00:00" ] &&
	t_ok "send times with a zone are stored in UTC" ||
	t_fail "send times with a zone are stored in UTC" "$(t_sql "SELECT send_at FROM mailings WHERE id = 2")"

# --- two runs at once stage each mailing once ---------------------------------
"$HERALD_BIN" stage >"$T_DIR/s1" 2>&1 &
"$HERALD_BIN" stage >"$T_DIR/s2" 2>&1 &
wait
want=$(t_sql "SELECT COUNT(*) FROM recipients r WHERE r.status = 'active' AND r.state IN ('OH','PA') AND r.donated_total >= 100 AND r.email NOT IN (SELECT email FROM suppressions)")
got=$(t_sql "SELECT COUNT(*) FROM stage_1")
[ "$got" = "$want" ] && t_ok "the stage table holds the $want selected recipients" ||
	t_fail "the stage table holds the $want selected recipients" "$got rows; $(cat "$T_DIR/s1" "$T_DIR/s2")"
diff <(t_sql "SELECT r.id FROM recipients r WHERE r.status = 'active' AND r.state IN ('OH','PA') AND r.donated_total >= 100 AND r.email NOT IN (SELECT email FROM suppressions) ORDER BY r.id") \
     <(t_sql "SELECT recipient_id FROM stage_1 ORDER BY recipient_id") >/dev/null &&
	t_ok "row for row the segment's recipients" || t_fail "row for row the segment's recipients" "sets differ"
[ "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE email IN ('p3@example.net','p6@example.net')")" = 0 ] &&
	t_ok "suppressed recipients are not staged" || t_fail "suppressed recipients are not staged" "found"
[ "$(t_sql "SELECT COUNT(*) FROM batches WHERE mailing_id = 1")" = $(( (want + 99) / 100 )) ] &&
	[ "$(t_sql "SELECT SUM(last_row - first_row + 1) FROM batches WHERE mailing_id = 1")" = "$want" ] &&
	t_ok "batches of 100 cover every row once" ||
	t_fail "batches of 100 cover every row once" "$(t_sql "SELECT first_row, last_row FROM batches WHERE mailing_id = 1" | head -3)"
states=$(t_sql "SELECT GROUP_CONCAT(CONCAT(id, ':', state) ORDER BY id) FROM mailings")
[ "$states" = "1:ready,2:queued,3:done,4:paused" ] && t_ok "states after staging: ready, queued (future), done (empty), paused" ||
	t_fail "states after staging" "$states"
grep -q "selects nobody" "$T_DIR/s1" "$T_DIR/s2" && t_ok "the empty mailing says so" ||
	t_fail "the empty mailing says so" "$(cat "$T_DIR/s1" "$T_DIR/s2")"
create_sql=$(t_sql "SHOW CREATE TABLE history" | tr -d '\n')
echo "$create_sql" | grep -q 'ENGINE=MRG_MyISAM' && echo "$create_sql" | grep -q 'UNION=(`stage_1`)' &&
	t_ok "history is MRG_MyISAM with UNION=(stage_1)" || t_fail "history is MRG_MyISAM with UNION=(stage_1)" "$create_sql"
someone=$(t_sql "SELECT email FROM stage_1 ORDER BY row_id LIMIT 1")
t_check "herald history EMAIL" "$HERALD_BIN" history "$someone"
grep -q "ohpa" "$T_DIR/out" && t_ok "history finds a staged recipient through the MERGE table" ||
	t_fail "history finds a staged recipient through the MERGE table" "$(cat "$T_DIR/out")"
t_expect_fail "history of an unknown address says so" 1 'no recipient with address "nobody@example.org"' "$HERALD_BIN" history nobody@example.org

# --- pause, resume, cancel ----------------------------------------------------
t_check "pause the ready mailing" "$HERALD_BIN" mailing pause 1
t_check "resume it" "$HERALD_BIN" mailing resume 1
[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = ready ] && t_ok "a resumed staged mailing is ready again" ||
	t_fail "a resumed staged mailing is ready again" "$(t_sql "SELECT state FROM mailings WHERE id = 1")"
t_expect_fail "a done mailing cannot be cancelled" 1 'mailing 3 is done' "$HERALD_BIN" mailing cancel 3
t_check "cancel mailing 1" "$HERALD_BIN" mailing cancel 1
[ "$(t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state <> 'cancelled'")" = 0 ] &&
	[ "$(t_sql "SELECT cancelled_count FROM mailings WHERE id = 1")" = "$want" ] &&
	t_ok "cancel marks every unsent row cancelled" || t_fail "cancel marks every unsent row cancelled" "rows left"
t_expect_fail "a cancelled mailing cannot be resumed" 1 'only a paused' "$HERALD_BIN" mailing resume 1
t_check "mailing list" "$HERALD_BIN" mailing list
grep -q "cancelled" "$T_DIR/out" && t_ok "list shows the states" || t_fail "list shows the states" "$(cat "$T_DIR/out")"

# --- SIGKILL at each step: the next run stages exactly once -----------------
n=5
for step in staging filled renamed in-union batches-inserted; do
	t_check "create mailing $n" create "kill-$step" "state = OH"
	{ HERALD_TEST_KILL_AT=$step "$HERALD_BIN" stage; } >/dev/null 2>&1
	killed=$?
	"$HERALD_BIN" stage >"$T_DIR/after" 2>&1
	rows=$(t_sql "SELECT COUNT(*) FROM stage_$n")
	want=$(t_sql "SELECT COUNT(*) FROM recipients WHERE status = 'active' AND state = 'OH' AND email NOT IN (SELECT email FROM suppressions)")
	orphans=$(t_sql "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'stage\\_%\\_new'")
	in_union=$(t_sql "SHOW CREATE TABLE history" | tr -d '\n' | grep -o "\`stage_$n\`" | wc -l)
	batches=$(t_sql "SELECT COUNT(*) FROM batches WHERE mailing_id = $n")
	[ $killed = 137 ] && [ "$rows" = "$want" ] && [ "$orphans" = 0 ] && [ "$in_union" = 1 ] &&
	    [ "$batches" = $(( (want + 99) / 100 )) ] &&
	    [ "$(t_sql "SELECT state FROM mailings WHERE id = $n")" = ready ] &&
		t_ok "killed at '$step', the next run stages mailing $n exactly once" ||
		t_fail "killed at '$step', the next run stages mailing $n exactly once" \
		    "exit $killed, rows $rows/$want, orphans $orphans, in union $in_union, batches $batches; $(cat "$T_DIR/after")"
	n=$((n + 1))
done
t_check "a run with nothing to do" "$HERALD_BIN" stage
[ ! -s "$T_DIR/out" ] && [ ! -s "$T_DIR/err" ] && t_ok "is silent" || t_fail "is silent" "$(cat "$T_DIR/out" "$T_DIR/err")"
t_done
