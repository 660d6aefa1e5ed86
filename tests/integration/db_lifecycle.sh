#!/bin/bash
# db_lifecycle.sh - herald db init/migrate/status/start/stop against real
# MariaDB servers: the test server started by contrib/check, and an
# embedded instance this test starts and stops itself (and refuses to
# stop under a running heraldd without --force).
. "$HERALD_SRCDIR/tests/lib/common.sh"
t_use_database

# --- migrate from empty, then init twice is a no-op -----------------------
t_expect_fail "migrate before init says to run init" 1 'herald db init' \
	"$HERALD_BIN" db migrate
t_check "init creates the database" "$HERALD_BIN" db init
# Every file of sql/, up to the highest version.
count=$(ls "$HERALD_SRCDIR"/sql/[0-9]*_*.sql | wc -l)
latest=$(ls "$HERALD_SRCDIR"/sql/ | sed -n 's/^0*\([0-9][0-9]*\)_.*\.sql$/\1/p' | sort -n | tail -1)
grep -Eq "schema version $latest \($count migrations? applied\)" "$T_DIR/out" &&
	t_ok "init applies the $count migrations up to $latest" ||
	t_fail "init applies the $count migrations up to $latest" "$(cat "$T_DIR/out")"
tables=$(t_sql "SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA='$T_DATABASE'")
want="batches,bounces,clicks,cluster_settings,complaints,conversions,feedback_refused,history,links,lists,list_members,mailings,nodes,node_relays,recipients,schema_migrations,segments,stage_template,suppressions,test_results,token_keys,variants"
[ "$tables" = "$want" ] && t_ok "schema v1 has every table" ||
	t_fail "schema v1 has every table" "got $tables"
t_sql "INSERT INTO recipients (email) VALUES ('keep@example.org')"
t_check "second init" "$HERALD_BIN" db init
grep -q "already current" "$T_DIR/out" && t_ok "second init is a no-op" ||
	t_fail "second init is a no-op" "$(cat "$T_DIR/out")"
t_check "migrate when current" "$HERALD_BIN" db migrate
[ "$(t_sql 'SELECT COUNT(*) FROM schema_migrations')" = "$count" ] &&
	[ "$(t_sql 'SELECT COUNT(*) FROM recipients')" = 1 ] &&
	t_ok "re-running keeps data and version rows" ||
	t_fail "re-running keeps data and version rows" "rows changed"

# --- the history table is a MERGE table over stage tables ---------------
engine=$(t_sql "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA='$T_DATABASE' AND TABLE_NAME='history'")
[ "$engine" = MRG_MyISAM ] && t_ok "history is MRG_MyISAM" ||
	t_fail "history is MRG_MyISAM" "engine $engine"
t_sql "CREATE TABLE stage_t1 LIKE stage_template; INSERT INTO stage_t1 (mailing_id,row_id,recipient_id,email) VALUES (1,1,1,'a@b.c'); ALTER TABLE history UNION=(stage_t1)"
[ "$(t_sql 'SELECT COUNT(*) FROM history WHERE recipient_id = 1')" = 1 ] &&
	t_ok "a stage table joins the history through UNION" ||
	t_fail "a stage table joins the history through UNION" "row not visible"

# --- a new migration is applied by migrate, once ------------------------
mkdir -p "$T_DIR/sql"
cp "$HERALD_SRCDIR"/sql/*.sql "$T_DIR/sql/"
echo "CREATE TABLE IF NOT EXISTS t_extra (id INT);" >"$T_DIR/sql/900_extra.sql"
sed -i "s|^sql_directory = .*|sql_directory = $T_DIR/sql|" "$T_CONFIG"
t_check "migrate applies a new file" "$HERALD_BIN" db migrate
grep -q "schema version 900 (1 migration applied)" "$T_DIR/out" &&
	t_ok "migrate reports version 900" || t_fail "migrate reports version 900" "$(cat "$T_DIR/out")"
t_check "status" "$HERALD_BIN" db status
grep -q "schema version: 900 (current)" "$T_DIR/out" &&
	grep -q "recipients .*InnoDB" "$T_DIR/out" &&
	grep -q "server version: 10" "$T_DIR/out" &&
	t_ok "status shows versions and table sizes" ||
	t_fail "status shows versions and table sizes" "$(cat "$T_DIR/out")"

# --- one below the highest applied, arriving later, is applied too -------
# (features are developed side by side: their migrations land in any order)
echo "CREATE TABLE IF NOT EXISTS t_late (id INT);" >"$T_DIR/sql/850_late.sql"
t_check "status after a lower-numbered file arrives" "$HERALD_BIN" db status
grep -q 'pending: 850_late.sql; run "herald db migrate"' "$T_DIR/out" &&
	t_ok "status names the pending migration below the highest" ||
	t_fail "status names 850_late.sql" "$(head -4 "$T_DIR/out")"
t_check "migrate applies it" "$HERALD_BIN" db migrate
grep -q "schema version 900 (1 migration applied)" "$T_DIR/out" &&
[ "$(t_sql "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't_late'")" = 1 ] &&
[ "$(t_sql "SELECT COUNT(*) FROM schema_migrations WHERE version = 850")" = 1 ] &&
	t_ok "the late migration ran and is recorded" ||
	t_fail "850_late.sql applied" "$(cat "$T_DIR/out")"

# --- a broken migration is reported with its file and changes nothing ---
echo "CREATE TABLE t_broken (id INT; -- syntax error" >"$T_DIR/sql/901_broken.sql"
t_expect_fail "a broken migration fails with its file name" 1 '901_broken.sql.*syntax' \
	"$HERALD_BIN" db migrate
[ "$(t_sql 'SELECT MAX(version) FROM schema_migrations')" = 900 ] &&
	t_ok "the broken migration is not recorded" ||
	t_fail "the broken migration is not recorded" "version moved"
rm "$T_DIR/sql/901_broken.sql"
echo "bad name" >"$T_DIR/sql/abc.sql"
t_expect_fail "a badly named migration is refused" 1 'abc.sql.*NNN_description' \
	"$HERALD_BIN" db migrate
rm "$T_DIR/sql/abc.sql"

# --- wrong password and unreachable server: clear error, nothing created --
t_sql "CREATE USER IF NOT EXISTS 'herald_t'@'localhost' IDENTIFIED BY 'right-one'; GRANT ALL ON *.* TO 'herald_t'@'localhost'"
t_at_exit "T_DATABASE= t_sql \"DROP USER IF EXISTS 'herald_t'@'localhost'\""
cat >"$T_DIR/wrongpw.conf" <<CONF
sql_directory = $HERALD_SRCDIR/sql
database_socket = $HERALD_TEST_SOCKET
database_name = ${T_DATABASE}_pw
database_user = herald_t
database_password = wrong-one
CONF
chmod 600 "$T_DIR/wrongpw.conf"
t_expect_fail "a wrong password is a clear error" 1 'cannot connect.*herald_t.*Access denied.*database_password' \
	"$HERALD_BIN" --config "$T_DIR/wrongpw.conf" db init
[ -z "$(t_sql "SHOW DATABASES LIKE '${T_DATABASE}_pw'")" ] &&
	t_ok "a wrong password creates nothing" ||
	t_fail "a wrong password creates nothing" "database exists"
chmod 644 "$T_DIR/wrongpw.conf"
t_expect_fail "a readable password file is refused" 1 'wrongpw.conf.*chmod 600' \
	"$HERALD_BIN" --config "$T_DIR/wrongpw.conf" db init
cat >"$T_DIR/unreachable.conf" <<CONF
sql_directory = $HERALD_SRCDIR/sql
database_host = 127.0.0.1
database_port = 1
database_connect_timeout = 2
CONF
t_expect_fail "an unreachable server is a clear error" 1 'cannot connect to MariaDB at 127.0.0.1:1' \
	"$HERALD_BIN" --config "$T_DIR/unreachable.conf" db status
t_expect_fail "start refuses a configured external server" 1 'starts and stops only its embedded' \
	"$HERALD_BIN" --config "$T_DIR/unreachable.conf" db start

# --- the embedded server: start, start again, stop, stop again, stale pid --
E="$T_DIR/embedded.conf"
cat >"$E" <<CONF
state_directory = $T_DIR/emb
sql_directory = $HERALD_SRCDIR/sql
user =
CONF
t_at_exit "'$HERALD_BIN' --config '$E' db stop >/dev/null 2>&1"
t_expect_fail "status of a stopped embedded server" 1 '' "$HERALD_BIN" --config "$E" db status
grep -q "embedded server: stopped" "$T_DIR/out" && t_ok "status says stopped" ||
	t_fail "status says stopped" "$(cat "$T_DIR/out")"
t_check "embedded init starts the server on demand" "$HERALD_BIN" --config "$E" db init
pid=$(cat "$T_DIR/emb/mariadb/mysqld.pid" 2>/dev/null)
[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && t_ok "mariadbd runs with a pid file" ||
	t_fail "mariadbd runs with a pid file" "no pid"
[ -S "$T_DIR/emb/mariadb/mysqld.sock" ] && t_ok "socket under the state directory" ||
	t_fail "socket under the state directory" "missing"
grep -q -- "--skip-networking" "/proc/$pid/cmdline" 2>/dev/null && t_ok "no TCP by default" ||
	t_fail "no TCP by default" "$(tr '\0' ' ' </proc/$pid/cmdline)"
t_check "start when running" "$HERALD_BIN" --config "$E" db start
grep -q "already running (pid $pid" "$T_DIR/out" && t_ok "start twice says already running" ||
	t_fail "start twice says already running" "$(cat "$T_DIR/out")"
t_check "stop" "$HERALD_BIN" --config "$E" db stop
kill -0 "$pid" 2>/dev/null && t_fail "stop ends mariadbd" "pid $pid alive" || t_ok "stop ends mariadbd"
t_check "stop when stopped" "$HERALD_BIN" --config "$E" db stop
grep -q "was not running" "$T_DIR/out" && t_ok "stop twice says not running" ||
	t_fail "stop twice says not running" "$(cat "$T_DIR/out")"
# A crashed server leaves a pid file naming a dead (or foreign) process
# and a socket file.
echo 999999 >"$T_DIR/emb/mariadb/mysqld.pid"
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$T_DIR/emb/mariadb/mysqld.sock"
t_check "start over a stale pid and socket" "$HERALD_BIN" --config "$E" db start
grep -q "started" "$T_DIR/out" && t_ok "stale files are replaced" ||
	t_fail "stale files are replaced" "$(cat "$T_DIR/out") $(cat "$T_DIR/err")"
t_check "data survives a restart" "$HERALD_BIN" --config "$E" db status
grep -q "schema version: $latest (current)" "$T_DIR/out" && t_ok "schema still there after restart" ||
	t_fail "schema still there after restart" "$(cat "$T_DIR/out")"
# Under a running heraldd, stop is refused unless forced.
pid=$(cat "$T_DIR/emb/mariadb/mysqld.pid")
"$HERALDD_BIN" --config "$E" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 100); do grep -q "started:" "$T_DIR/heraldd.log" && break; sleep 0.1; done
t_expect_fail "stop under a running heraldd is refused, naming it" 1 \
	"heraldd is running \(pid $daemon, pid file $T_DIR/emb/heraldd.pid\).*--force" \
	"$HERALD_BIN" --config "$E" db stop
kill -0 "$pid" 2>/dev/null && t_ok "the refused stop leaves mariadbd running" ||
	t_fail "the refused stop leaves mariadbd running" "pid $pid gone"
t_expect_fail "db stop takes only --force" 2 '(unexpected argument|unknown option) "--now"' \
	"$HERALD_BIN" --config "$E" db stop --now
t_check "stop --force under a running heraldd" "$HERALD_BIN" --config "$E" db stop --force
grep -q "warning: heraldd is running (pid $daemon" "$T_DIR/err" && ! kill -0 "$pid" 2>/dev/null &&
	t_ok "--force stops it with a warning" || t_fail "--force stops it with a warning" "$(cat "$T_DIR/err")"
kill -TERM $daemon
wait $daemon
t_check "start again once heraldd stopped" "$HERALD_BIN" --config "$E" db start
t_check "stop after restart" "$HERALD_BIN" --config "$E" db stop

# --- two embedded servers side by side: a private tmpdir each -----------
# mariadbd deletes every "#sql*" file in its tmpdir when it starts: on a
# shared /tmp, a second server starting removed the on-disk temporary
# table of a statement the first was running (seen in CI as "Error on
# delete of '/tmp/#sql-temptable-...MAI' (Errcode: 2)" from herald stage).
E2="$T_DIR/embedded2.conf"
printf 'state_directory = %s\nsql_directory = %s\n' "$T_DIR/emb2" "$HERALD_SRCDIR/sql" >"$E2"
t_at_exit "'$HERALD_BIN' --config '$E2' db stop >/dev/null 2>&1"
# The second one's data directory is made first: its next start is quick.
t_check "a second embedded server is created" "$HERALD_BIN" --config "$E2" db start
t_check "and stopped" "$HERALD_BIN" --config "$E2" db stop
t_check "embedded server starts again" "$HERALD_BIN" --config "$E" db start
emb_sql() { mariadb --no-defaults --socket="$T_DIR/emb/mariadb/mysqld.sock" -uroot -N -B "$@"; }
[ "$(emb_sql -e 'SELECT @@tmpdir')" = "$T_DIR/emb/mariadb/tmp" ] &&
	[ "$(stat -c %a "$T_DIR/emb/mariadb/tmp")" = 700 ] &&
	t_ok "the embedded server has a private tmpdir (mode 700)" ||
	t_fail "the embedded server has a private tmpdir (mode 700)" "tmpdir $(emb_sql -e 'SELECT @@tmpdir')"
[ "$(emb_sql -e 'SELECT @@myisam_use_mmap')" = 1 ] &&
	t_ok "the embedded server maps MyISAM files (myisam_use_mmap)" ||
	t_fail "the embedded server maps MyISAM files (myisam_use_mmap)" "off"
# A statement like herald stage's, with an on-disk internal temporary table
# (a window function over a TEXT column), that runs about 6 s; the second
# server starts while that table exists.
emb_sql -e "CREATE DATABASE IF NOT EXISTS t_tmp; CREATE TABLE t_tmp.t (id INT PRIMARY KEY, b TEXT) ENGINE=MyISAM; INSERT INTO t_tmp.t SELECT seq, REPEAT('x', 20) FROM t_tmp.seq_1_to_3000" ||
	t_fail "a table to read on the embedded server" "cannot create it"
tmpdir=$(emb_sql -e 'SELECT @@tmpdir')
prefix="#sql-temptable-$(printf %x "$(cat "$T_DIR/emb/mariadb/mysqld.pid")")-"
emb_sql -e "CREATE TABLE t_tmp.o (n INT, b TEXT) ENGINE=MyISAM"
emb_sql -e "INSERT INTO t_tmp.o SELECT ROW_NUMBER() OVER (ORDER BY id), b FROM t_tmp.t WHERE SLEEP(0.002) = 0" >"$T_DIR/long.out" 2>&1 &
long=$!
for _ in $(seq 1 400); do
	ls "$tmpdir" 2>/dev/null | grep -qF "$prefix" && break
	sleep 0.05
done
ls "$tmpdir" | grep -qF "$prefix" && t_ok "the statement has its temporary table on disk" ||
	t_fail "the statement has its temporary table on disk" "none in $tmpdir"
t_check "a second embedded server starts meanwhile" "$HERALD_BIN" --config "$E2" db start
wait "$long"
[ $? = 0 ] && [ "$(emb_sql -e 'SELECT COUNT(*) FROM t_tmp.o')" = 3000 ] &&
	t_ok "the first server's statement ends well" ||
	t_fail "the first server's statement ends well" "$(cat "$T_DIR/long.out")"
t_check "stop the second server" "$HERALD_BIN" --config "$E2" db stop
t_check "stop the first server" "$HERALD_BIN" --config "$E" db stop

t_done
