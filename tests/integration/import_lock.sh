#!/bin/bash
# import_lock.sh - two "herald import --mode replace" runs at once. Each
# builds recipients_new and drops what it finds there, so without a
# lock one dropped the other's rows. Now the second waits for the first
# (up to import_lock_timeout) or, when that runs out, refuses clearly and
# changes nothing.
#
# The first import reads its file from a FIFO that the test holds open:
# it has the lock and cannot finish until the test lets it, so no timing
# decides the outcome (the test must let it go within the server's
# net_read_timeout, 30 s, which ends a LOAD DATA whose client is silent).
. "$HERALD_SRCDIR/tests/lib/common.sh"
t_use_database
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
cp "$T_CONFIG" "$T_DIR/short.conf"
echo "import_lock_timeout = 1" >>"$T_DIR/short.conf"
rows() {	# PREFIX COUNT: a CSV of COUNT recipients
	awk -v p="$1" -v n="$2" 'BEGIN { for (i = 1; i <= n; i++) printf "%s%d@example.net,%s\n", p, i, p }'
}
lock_holder() { t_sql "SELECT IS_USED_LOCK('herald.import.$T_DATABASE') IS NOT NULL"; }
{ echo "email,first_name"; rows b 30; } >"$T_DIR/b.csv"
{ echo "email,first_name"; rows c 20; } >"$T_DIR/c.csv"
mkfifo "$T_DIR/a.fifo"
cd "$T_DIR" || exit 1

# Import a: header and half of its rows, then it waits on the FIFO.
"$HERALD_BIN" import --mode replace "$T_DIR/a.fifo" >"$T_DIR/a.out" 2>&1 &
a=$!
exec 3>"$T_DIR/a.fifo"
{ echo "email,first_name"; rows a 50; } >&3
for _ in $(seq 1 100); do [ "$(lock_holder)" = 1 ] && break; sleep 0.1; done
[ "$(lock_holder)" = 1 ] && t_ok "the first import holds the import lock" ||
	t_fail "the first import holds the import lock" "$(cat "$T_DIR/a.out")"

# Import b, told to wait 1 s: refuses, naming the reason, changing nothing.
t_expect_fail "a second replace refuses after import_lock_timeout" 1 \
	"another herald import into this database has been running for over 1 s \(import_lock_timeout\); nothing changed" \
	"$HERALD_BIN" --config "$T_DIR/short.conf" import --mode replace "$T_DIR/b.csv"
[ "$(t_sql "SELECT COUNT(*) FROM recipients")" = 0 ] &&
[ "$(t_sql "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'recipients_new'")" = 0 ] &&
	t_ok "the refused import changed nothing" || t_fail "the refused import changed nothing" "$(t_sql "SELECT COUNT(*) FROM recipients")"

# Import c, with the default wait: it waits for a, then replaces.
"$HERALD_BIN" import --mode replace "$T_DIR/c.csv" >"$T_DIR/c.out" 2>&1 3>&- &
c=$!
for _ in $(seq 1 100); do
	[ "$(t_sql "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'User lock' AND DB = '$T_DATABASE'")" = 1 ] && break
	sleep 0.1
done
[ "$(t_sql "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'User lock' AND DB = '$T_DATABASE'")" = 1 ] &&
	t_ok "a third import waits for the lock" || t_fail "a third import waits" "$(cat "$T_DIR/c.out")"
rows a2_ 50 >&3
exec 3>&-
wait $a && t_ok "the first import finishes: $(head -1 "$T_DIR/a.out")" || t_fail "the first import finishes" "$(cat "$T_DIR/a.out")"
wait $c && t_ok "the waiting import then runs: $(head -1 "$T_DIR/c.out")" || t_fail "the waiting import then runs" "$(cat "$T_DIR/c.out")"
[ "$(t_sql "SELECT CONCAT(COUNT(*), ' ', MIN(first_name), ' ', MAX(first_name)) FROM recipients")" = "20 c c" ] &&
	t_ok "recipients is exactly the last replace's file" ||
	t_fail "recipients is exactly the last replace's file" "$(t_sql "SELECT first_name, COUNT(*) FROM recipients GROUP BY 1")"
grep -q "100 loaded" "$T_DIR/a.out" && t_ok "the first import loaded all of its 100 rows" || t_fail "the first import loaded its rows" "$(cat "$T_DIR/a.out")"
[ "$(lock_holder)" = 0 ] && t_ok "the lock is released" || t_fail "the lock is released" "still held"
t_done
