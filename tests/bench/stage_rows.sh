#!/bin/bash
# stage_rows.sh - what one stage row costs MariaDB, by table layout (#14).
#
#   make bench-stage-rows        (needs HERALD_TEST_SOCKET, strace, and
#                                 the right to trace the server: root)
#
# Builds 20,000 rows shaped like the send bench's in a scratch database
# and, for each layout, prints the server's system calls per row (strace
# -c -f on mariadbd around one statement: a batch read of 1,000 rows, a
# results statement of 100) and its CPU per row (user + system ticks from
# /proc over all 20,000 rows, no strace). Layouts:
#   dynamic    stage_template as sql/ defines it; results by the UPDATE
#              with one CASE per column that delivery.c sends
#   narrow     identity and delivery columns only, ROW_FORMAT=FIXED (the
#              personalization would live in a dynamic companion table,
#              read by a join); results by the same UPDATE
#   results    a narrow fixed table of results per mailing, appended to
#              with one multi-row INSERT (nothing updated in place)
# The results UPDATE with per-row values written two ways (CASE, ELT),
# as delivery.c wrote it before and writes it now (update_by_row).
# Then what a whole batch of 1,000 costs, every statement a worker sends
# for its rows (not the per-session counters in InnoDB):
#   today      (as of #14's start) the suppression join and its count, the
#              read, the count of rows not due, 10 results UPDATEs of 100
#              with a CASE per column, the rows left
#   now        the suppression join, one read that also flags the rows due
#              later and the suppressed ones, 10 results UPDATEs of 100
#              picking each row's queue id and reply by ELT, as delivery.c
#              does, the rows left (sent here as text: a worker's statements are
#              also prepared once, which this does not show)
#   filled     the delivery columns in a narrow fixed-format table filled
#              when staged, updated in place by ELT (filled_batch)
#   appended   one read joining the results and suppressions (a
#              suppressed row comes back flagged, its result appended),
#              10 INSERTs of 100 results, the rows left from the results;
#              and its INSERTs alone, prepared once and executed with
#              their values in the binary protocol as a worker would
#              (stage_rows_prepared.c, built by make bench-stage-rows)
# The machine's load moves the CPU figures: compare runs made together.
set -u
: "${HERALD_TEST_SOCKET:?set HERALD_TEST_SOCKET to a MariaDB socket}"
top=$(cd "$(dirname "$0")/../.." && pwd)
db=herald_bench_rows
work=$(mktemp -d /tmp/herald-bench-rows.XXXXXX)
trap 'rm -rf "$work"; sql -e "DROP DATABASE IF EXISTS $db" 2>/dev/null' EXIT
sql() { mariadb --no-defaults --socket="$HERALD_TEST_SOCKET" -uroot "$@"; }
pid=$(sql -N -e "SELECT @@pid_file" | xargs cat 2>/dev/null)
[ -n "$pid" ] && [ -d "/proc/$pid" ] || { echo "stage_rows: cannot find the server's pid" >&2; exit 1; }
command -v strace >/dev/null || { echo "stage_rows: strace is needed" >&2; exit 1; }
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

sql -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
sed -n '/^CREATE TABLE IF NOT EXISTS stage_template/,/^) ENGINE/p' "$top/sql/001_schema.sql" | sql $db
sql $db <<'SQL'
CREATE TABLE src LIKE stage_template;
INSERT INTO src (mailing_id, row_id, recipient_id, email, first_name, last_name, city, state, zip, country, donated_total, last_donation_amount, last_donation_at, attributes)
  SELECT 7, seq, seq, CONCAT('b', seq, '@sink.example'), CONCAT('Zoë', seq), 'García', 'Springfield', 'OH', LPAD(seq, 5, '0'), 'US', seq % 900, seq % 300, '2026-03-01', '{"projects": "River, Schools"}' FROM seq_1_to_20000;
SQL

# The layouts' tables, fresh, then closed: a table opened again maps its
# data file when the server runs with myisam_use_mmap, as stage tables
# are once staged.
make_dynamic() { sql $db -e "DROP TABLE IF EXISTS t; CREATE TABLE t LIKE stage_template; INSERT INTO t SELECT * FROM src; FLUSH TABLES t"; }
make_narrow() {
	sql $db -e "DROP TABLE IF EXISTS t; CREATE TABLE t (mailing_id BIGINT UNSIGNED NOT NULL, row_id INT UNSIGNED NOT NULL, recipient_id BIGINT UNSIGNED NOT NULL, variant_id INT UNSIGNED NOT NULL DEFAULT 0, email VARCHAR(254) CHARACTER SET ascii NOT NULL, delivery_state ENUM('pending','sent','deferred','failed','bounced','suppressed','cancelled') NOT NULL DEFAULT 'pending', attempts TINYINT UNSIGNED NOT NULL DEFAULT 0, next_attempt_at DATETIME NULL, queue_id VARCHAR(64) CHARACTER SET ascii NULL, relay_reply VARCHAR(512) CHARACTER SET ascii NULL, delivered_at DATETIME NULL, PRIMARY KEY (mailing_id, row_id), KEY (recipient_id), KEY (email)) ENGINE=MyISAM ROW_FORMAT=FIXED; INSERT INTO t (mailing_id, row_id, recipient_id, variant_id, email) SELECT mailing_id, row_id, recipient_id, variant_id, email FROM src; FLUSH TABLES t"
}
make_results() { sql $db -e "DROP TABLE IF EXISTS t; CREATE TABLE t (row_id INT UNSIGNED NOT NULL, delivery_state ENUM('pending','sent','deferred','failed','bounced','suppressed','cancelled') NOT NULL, attempts TINYINT UNSIGNED NOT NULL, next_attempt_at DATETIME NULL, queue_id CHAR(64) CHARACTER SET ascii NULL, relay_reply VARCHAR(512) CHARACTER SET ascii NULL, delivered_at DATETIME NULL, PRIMARY KEY (row_id)) ENGINE=MyISAM ROW_FORMAT=FIXED; FLUSH TABLES t"; }

# A suppression list the batch statements join, none of it staged.
sql $db <<'SQL'
CREATE TABLE sup (email VARCHAR(254) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, source VARCHAR(32) NOT NULL DEFAULT 'manual', reason VARCHAR(255) NOT NULL DEFAULT '', PRIMARY KEY (email)) ENGINE=InnoDB;
INSERT INTO sup (email) SELECT CONCAT('gone', seq, '@elsewhere.example') FROM seq_1_to_10000;
SQL
make_pair() { make_dynamic; make_results; sql $db -e "DROP TABLE IF EXISTS r; RENAME TABLE t TO r"; make_dynamic; }

# Statements: the batch read, and the results of rows FIRST..FIRST+99.
read_batch() { echo "SELECT row_id, recipient_id, variant_id, attempts, email, first_name, last_name, city, state, zip, country, donated_total, last_donation_amount, last_donation_at, attributes FROM t WHERE mailing_id = 7 AND row_id > $(($1 - 1)) AND row_id <= $(($1 + 999)) AND (delivery_state = 'pending' OR (delivery_state = 'deferred' AND next_attempt_at <= UTC_TIMESTAMP())) ORDER BY row_id;"; }
update_case() {
	awk -v s="$1" 'BEGIN { q = sprintf("%c", 39)
	printf "UPDATE t SET delivery_state = CASE row_id"; for (i = s; i < s + 100; i++) printf " WHEN %d THEN %ssent%s", i, q, q
	printf " END, queue_id = CASE row_id"; for (i = s; i < s + 100; i++) printf " WHEN %d THEN %s4Q%07dX%s", i, q, i, q
	printf " END, relay_reply = CASE row_id"; for (i = s; i < s + 100; i++) printf " WHEN %d THEN LEFT(%s250 2.0.0 Ok: queued as 4Q%07dX%s, 512)", i, q, i, q
	printf " END, next_attempt_at = CASE row_id"; for (i = s; i < s + 100; i++) printf " WHEN %d THEN UTC_TIMESTAMP() + INTERVAL 300 SECOND", i
	printf " END, attempts = attempts + 1, delivered_at = IF(delivery_state = %ssent%s, UTC_TIMESTAMP(), delivered_at) WHERE mailing_id = 7 AND row_id IN (", q, q
	for (i = s; i < s + 100; i++) printf "%s%d", (i > s ? ", " : ""), i; print ");" }'
}
insert_results() {
	awk -v s="$1" 'BEGIN { q = sprintf("%c", 39)
	printf "INSERT INTO t (row_id, delivery_state, attempts, queue_id, relay_reply, next_attempt_at, delivered_at) VALUES "
	for (i = s; i < s + 100; i++) printf "%s(%d, %ssent%s, 1, %s4Q%07dX%s, LEFT(%s250 2.0.0 Ok: queued as 4Q%07dX%s, 512), UTC_TIMESTAMP() + INTERVAL 300 SECOND, UTC_TIMESTAMP())", (i > s ? ", " : ""), i, q, q, q, i, q, q, i, q
	print ";" }'
}

# today_batch FIRST: every statement delivery.c and suppression.c send
# for the batch of rows FIRST..FIRST+999 (as of #14's start).
today_batch() {
	local f=$1 l=$(($1 + 999)) now="UTC_TIMESTAMP()"
	echo "UPDATE t s JOIN sup p ON p.email = s.email SET s.delivery_state = 'suppressed', s.relay_reply = LEFT(CONCAT('suppressed (', p.source, IF(p.reason = '', '', CONCAT(': ', p.reason)), ')'), 512) WHERE s.mailing_id = 7 AND s.row_id > $((f - 1)) AND s.row_id <= $l AND s.delivery_state IN ('pending', 'deferred');"
	echo "SELECT COUNT(*) FROM t WHERE mailing_id = 7 AND row_id >= $f AND row_id <= $l AND delivery_state = 'suppressed';"
	echo "SELECT row_id, recipient_id, variant_id, attempts, email, first_name, last_name, city, state, zip, country, donated_total, last_donation_amount, last_donation_at, attributes FROM t WHERE mailing_id = 7 AND row_id > $((f - 1)) AND row_id <= $l AND delivery_state IN ('pending', 'deferred') AND (next_attempt_at IS NULL OR next_attempt_at <= $now) ORDER BY row_id;"
	echo "SELECT COUNT(*) FROM t WHERE mailing_id = 7 AND row_id > $((f - 1)) AND row_id <= $l AND delivery_state IN ('pending', 'deferred') AND next_attempt_at > $now;"
	for ((s = f; s <= l; s += 100)); do update_case "$s"; done
	echo "SELECT COUNT(*), MIN(next_attempt_at) FROM t WHERE mailing_id = 7 AND row_id >= $f AND row_id <= $l AND delivery_state IN ('pending', 'deferred');"
}
# now_batch FIRST: every statement delivery.c and suppression.c send for
# the batch of rows FIRST..FIRST+999 today.
now_batch() {
	local f=$1 l=$(($1 + 999)) now="UTC_TIMESTAMP()"
	echo "UPDATE t s JOIN sup p ON p.email = s.email SET s.delivery_state = 'suppressed', s.relay_reply = LEFT(CONCAT('suppressed (', p.source, IF(p.reason = '', '', CONCAT(': ', p.reason)), ')'), 512) WHERE s.mailing_id = 7 AND s.row_id > $((f - 1)) AND s.row_id <= $l AND s.delivery_state IN ('pending', 'deferred');"
	echo "SELECT row_id, recipient_id, variant_id, attempts, delivery_state = 'suppressed', next_attempt_at IS NOT NULL AND next_attempt_at > $now, email, first_name, last_name, city, state, zip, country, donated_total, last_donation_amount, last_donation_at, attributes FROM t WHERE mailing_id = 7 AND row_id >= $f AND row_id <= $l AND (delivery_state = 'suppressed' OR (row_id > $((f - 1)) AND delivery_state IN ('pending', 'deferred'))) ORDER BY row_id;"
	for ((s = f; s <= l; s += 100)); do update_by_row "$s" elt own; done
	echo "SELECT COUNT(*), MIN(next_attempt_at) FROM t WHERE mailing_id = 7 AND row_id >= $f AND row_id <= $l AND delivery_state IN ('pending', 'deferred');"
}
# update_by_row FIRST HOW REPLIES: the results UPDATE of rows
# FIRST..FIRST+99 with each row's own values picked by a CASE over the
# row ids (HOW = case: delivery.c before 1 December 2026, whose retry
# time, spread per row, took a CASE even for sent rows) or indexed by
# ELT(row_id - base, ...) (HOW = elt: delivery.c now, the sent rows'
# retry time one NULL). REPLIES = same: one reply and queue id for all
# (smtp-sink's "250 2.0.0 Ok"), own: a queue id and reply each (Postfix).
update_by_row() {
	awk -v s="$1" -v how="$2" -v replies="$3" 'BEGIN { q = sprintf("%c", 39)
	printf "UPDATE t SET delivery_state = %ssent%s", q, q
	if (replies == "same")
		printf ", queue_id = %sOk%s, relay_reply = LEFT(%s250 2.0.0 Ok%s, 512)", q, q, q, q
	else if (how == "case") {
		printf ", queue_id = CASE row_id"; for (i = s; i < s + 100; i++) printf " WHEN %d THEN %s4Q%07dX%s", i, q, i, q
		printf " END, relay_reply = LEFT(CASE row_id"; for (i = s; i < s + 100; i++) printf " WHEN %d THEN %s250 2.0.0 Ok: queued as 4Q%07dX%s", i, q, i, q
		printf " END, 512)"
	} else {
		printf ", queue_id = ELT(row_id - %d", s - 1; for (i = s; i < s + 100; i++) printf ", %s4Q%07dX%s", q, i, q
		printf "), relay_reply = LEFT(ELT(row_id - %d", s - 1; for (i = s; i < s + 100; i++) printf ", %s250 2.0.0 Ok: queued as 4Q%07dX%s", q, i, q
		printf "), 512)"
	}
	if (how == "case") {
		printf ", next_attempt_at = CASE row_id"; for (i = s; i < s + 100; i++) printf " WHEN %d THEN IF(delivery_state = %sdeferred%s, %s2026-12-01 12:%02d:%02d%s, NULL)", i, q, q, q, i % 60, i % 59, q
		printf " END"
	} else
		printf ", next_attempt_at = IF(delivery_state = %sdeferred%s, NULL, NULL)", q, q
	printf ", attempts = 1, delivered_at = IF(delivery_state = %ssent%s, UTC_TIMESTAMP(), delivered_at) WHERE mailing_id = 7 AND delivery_state IN (%spending%s, %sdeferred%s, %ssent%s) AND row_id IN (", q, q, q, q, q, q, q, q
	for (i = s; i < s + 100; i++) printf "%s%d", (i > s ? ", " : ""), i; print ");" }'
}
# appended_batch FIRST: the same batch with its results appended to r.
appended_batch() {
	local f=$1 l=$(($1 + 999))
	echo "SELECT s.row_id, s.recipient_id, s.variant_id, COALESCE(r.attempts, 0), p.email IS NOT NULL, s.email, s.first_name, s.last_name, s.city, s.state, s.zip, s.country, s.donated_total, s.last_donation_amount, s.last_donation_at, s.attributes FROM t s LEFT JOIN r ON r.row_id = s.row_id LEFT JOIN sup p ON p.email = s.email WHERE s.mailing_id = 7 AND s.row_id > $((f - 1)) AND s.row_id <= $l AND (r.row_id IS NULL OR (r.delivery_state = 'deferred' AND r.next_attempt_at <= UTC_TIMESTAMP())) ORDER BY s.row_id;"
	for ((s = f; s <= l; s += 100)); do insert_results "$s" | sed 's/INSERT INTO t /INSERT INTO r /'; done
	echo "SELECT COUNT(*), SUM(delivery_state = 'deferred'), MIN(next_attempt_at) FROM r WHERE row_id >= $f AND row_id <= $l;"
}

# filled_batch FIRST: the same batch with the delivery columns in a
# narrow fixed-format table f, one row per stage row filled when staged
# (make_filled), updated in place: the suppression join and the read
# join it, results by ELT UPDATEs of 100 (update_by_row ... elt own),
# the rows left counted from it alone.
make_filled() {
	make_dynamic
	sql $db -e "DROP TABLE IF EXISTS f; CREATE TABLE f (mailing_id BIGINT UNSIGNED NOT NULL, row_id INT UNSIGNED NOT NULL, delivery_state ENUM('pending','sent','deferred','failed','bounced','suppressed','cancelled') NOT NULL DEFAULT 'pending', attempts TINYINT UNSIGNED NOT NULL DEFAULT 0, next_attempt_at DATETIME NULL, queue_id VARCHAR(64) CHARACTER SET ascii NULL, relay_reply VARCHAR(512) CHARACTER SET ascii NULL, delivered_at DATETIME NULL, PRIMARY KEY (mailing_id, row_id)) ENGINE=MyISAM ROW_FORMAT=FIXED; INSERT INTO f (mailing_id, row_id) SELECT mailing_id, row_id FROM src; FLUSH TABLES f"
}
filled_batch() {
	local f=$1 l=$(($1 + 999)) now="UTC_TIMESTAMP()"
	echo "UPDATE f JOIN t s ON s.mailing_id = f.mailing_id AND s.row_id = f.row_id JOIN sup p ON p.email = s.email SET f.delivery_state = 'suppressed', f.relay_reply = LEFT(CONCAT('suppressed (', p.source, IF(p.reason = '', '', CONCAT(': ', p.reason)), ')'), 512) WHERE f.mailing_id = 7 AND f.row_id > $((f - 1)) AND f.row_id <= $l AND f.delivery_state IN ('pending', 'deferred');"
	echo "SELECT s.row_id, s.recipient_id, s.variant_id, f.attempts, f.delivery_state = 'suppressed', f.next_attempt_at IS NOT NULL AND f.next_attempt_at > $now, s.email, s.first_name, s.last_name, s.city, s.state, s.zip, s.country, s.donated_total, s.last_donation_amount, s.last_donation_at, s.attributes FROM f JOIN t s ON s.mailing_id = f.mailing_id AND s.row_id = f.row_id WHERE f.mailing_id = 7 AND f.row_id >= $f AND f.row_id <= $l AND (f.delivery_state = 'suppressed' OR (f.row_id > $((f - 1)) AND f.delivery_state IN ('pending', 'deferred'))) ORDER BY f.row_id;"
	for ((s = f; s <= l; s += 100)); do update_by_row "$s" elt own | sed 's/^UPDATE t /UPDATE f /'; done
	echo "SELECT COUNT(*), MIN(next_attempt_at) FROM f WHERE mailing_id = 7 AND row_id >= $f AND row_id <= $l AND delivery_state IN ('pending', 'deferred');"
}

# traced FILE: file-system calls of mariadbd while FILE runs, per KIND.
traced() {
	strace -c -f -p "$pid" -o "$work/strace" 2>/dev/null & local tracer=$!
	sleep 1
	sql $db <"$1" >/dev/null
	sleep 0.3
	kill -INT $tracer; wait $tracer 2>/dev/null
	awk '$NF ~ /^(read|pread64|pwrite64|write|lseek)$/ { printf "%s %s  ", $NF, $4 } END { print "" }' "$work/strace"
}
# cpu FILE ROWS: microseconds of server CPU per row while FILE runs.
cpu() {
	local t0 t1
	t0=$(ticks); sql $db <"$1" >/dev/null || printf '(failed) '; t1=$(ticks)
	awk -v t=$((t1 - t0)) -v n="$2" -v hz="$hz" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }'
}

for f in $(seq 1 100 19901); do update_case "$f"; done >"$work/update.sql"
for f in $(seq 1 100 19901); do insert_results "$f"; done >"$work/insert.sql"
for f in $(seq 1 1000 19001); do read_batch "$f"; done >"$work/read.sql"
read_batch 1 >"$work/read1.sql"; update_case 1 >"$work/update1.sql"; insert_results 1 >"$work/insert1.sql"

echo "server: myisam_use_mmap = $(sql -N -e 'SELECT @@myisam_use_mmap')"
echo "== dynamic (stage_template today)"
make_dynamic
echo "read 1,000 rows:    $(traced "$work/read1.sql")"
echo "update 100 rows:    $(traced "$work/update1.sql")"
make_dynamic
echo "CPU per row: read $(cpu "$work/read.sql" 20000) us, update $(cpu "$work/update.sql" 20000) us"
echo "== narrow (fixed-format identity and delivery columns)"
make_narrow
echo "update 100 rows:    $(traced "$work/update1.sql")"
make_narrow
echo "CPU per row: update $(cpu "$work/update.sql" 20000) us"
echo "== results (a narrow fixed table, appended to)"
make_results
echo "insert 100 rows:    $(traced "$work/insert1.sql")"
make_results
echo "CPU per row: insert $(cpu "$work/insert.sql" 20000) us"
for f in $(seq 1 1000 19001); do today_batch "$f"; done >"$work/today.sql"
for f in $(seq 1 1000 19001); do appended_batch "$f"; done >"$work/appended.sql"
for f in $(seq 1 1000 19001); do now_batch "$f"; done >"$work/now.sql"
today_batch 1 >"$work/today1.sql"; appended_batch 1 >"$work/appended1.sql"; now_batch 1 >"$work/now1.sql"
echo "== a whole batch, every statement (per 1,000 rows)"
make_dynamic
echo "today:    $(traced "$work/today1.sql")"
make_dynamic
echo "today: CPU per row $(cpu "$work/today.sql" 20000) us"
make_dynamic
echo "now:      $(traced "$work/now1.sql")"
make_dynamic
echo "now: CPU per row $(cpu "$work/now.sql" 20000) us"
make_pair
echo "appended: $(traced "$work/appended1.sql")"
make_pair
echo "appended: CPU per row $(cpu "$work/appended.sql" 20000) us, $(sql $db -N -e 'SELECT COUNT(*) FROM r') results appended"
for f in $(seq 1 1000 19001); do filled_batch "$f"; done >"$work/filled.sql"
filled_batch 1 >"$work/filled1.sql"
make_filled
echo "filled:   $(traced "$work/filled1.sql")"
make_filled
filled_cpu=$(cpu "$work/filled.sql" 20000)
make_dynamic
now_cpu=$(cpu "$work/now.sql" 20000)
echo "filled: CPU per row $filled_cpu us; now, run again beside it, $now_cpu us; ratio filled/now $(awk -v a="$filled_cpu" -v b="$now_cpu" 'BEGIN { printf "%.2f", a / b }')"
grep '^SELECT s.row_id' "$work/appended.sql" >"$work/appended-read.sql"
make_pair
echo "appended: of which the joined read $(cpu "$work/appended-read.sql" 20000) us"
if [ -n "${STAGE_ROWS_PREPARED:-}" ]; then
	echo "appended: the INSERTs prepared once $("$STAGE_ROWS_PREPARED" "$HERALD_TEST_SOCKET" $db "$pid" 20000) us per row (text: $(make_results; cpu "$work/insert.sql" 20000) us)"
fi
echo "== the results UPDATE, each row's own values: CASE over row ids against ELT by position (dynamic rows)"
for replies in same own; do
	for how in case elt; do
		for f in $(seq 1 100 19901); do update_by_row "$f" $how $replies; done >"$work/by-row-$how.sql"
		make_dynamic
		eval "by_row_$how=$(cpu "$work/by-row-$how.sql" 20000)"
	done
	echo "replies $replies ($([ $replies = same ] && echo smtp-sink || echo Postfix)): CPU per row CASE $by_row_case us, ELT $by_row_elt us, ratio ELT/CASE $(awk -v a="$by_row_elt" -v b="$by_row_case" 'BEGIN { printf "%.2f", a / b }')"
done
# The same ELT UPDATE on the narrow fixed-format table: rows updated in
# place through the map, no block header read per row.
make_narrow
narrow_elt=$(cpu "$work/by-row-elt.sql" 20000)
echo "narrow fixed rows, replies own, ELT: CPU per row $narrow_elt us, ratio to dynamic rows $(awk -v a="$narrow_elt" -v b="$by_row_elt" 'BEGIN { printf "%.2f", a / b }')"
sql $db -N -e "SELECT CONCAT('row bytes: dynamic ', (SELECT AVG_ROW_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$db' AND TABLE_NAME = 'src'))"
echo "command: make bench-stage-rows"
