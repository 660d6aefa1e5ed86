#!/bin/bash
# import.sh - the import benchmark (DESIGN.md section 11): herald import of
# a generated CSV, beside the mariadb client's own LOAD DATA LOCAL INFILE
# of the same rows already cleaned, in the same run, into the same
# embedded MariaDB.
#
# usage: tests/bench/import.sh [-n ROWS]
# or:    make bench-import BENCH_ARGS='-n 2000000'
#
# Prints rows/s for herald (whole import: parse, check, stream, merge
# into recipients; and its load phase alone), for the client's LOAD DATA
# into an identical scratch table, the ratio, herald's peak memory, and
# the command. Timing decides nothing here: not a test.
set -u
n=2000000
while getopts n: opt; do
	case $opt in
	n) n=$OPTARG ;;
	*) echo "usage: import.sh [-n ROWS]" >&2; exit 2 ;;
	esac
done
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
: "${HERALD_BIN:=$PWD/src/herald}" "${PYTHON3:=python3}"
export HERALD_BIN PYTHON3 HERALD_SRCDIR="$srcdir"
. "$srcdir/tests/lib/common.sh"
t_skip() { echo "import.sh: $1" >&2; exit 1; }
now() { date +%s.%N; }
export HERALD_CONFIG="$T_DIR/herald.conf"
cat >"$HERALD_CONFIG" <<CONF
state_directory = $T_DIR/state
sql_directory = $srcdir/sql
CONF
"$HERALD_BIN" db init >/dev/null 2>&1 || t_skip "herald db init failed"
t_at_exit "'$HERALD_BIN' db stop >/dev/null 2>&1"
sock="$T_DIR/state/mariadb/mysqld.sock"
sql() { mariadb --no-defaults --socket="$sock" -uroot --local-infile=1 herald -e "$1"; }

echo "== machine"
uname -srm; grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'; echo "cores: $(nproc)"
awk -v n="$n" 'BEGIN { print "email,first_name,last_name,city,state,zip,donated_total,last_donation_at,member_level"
	for (i = 1; i <= n; i++)
		printf "Person%d@Example.ORG,Zoë%d,\"García, Jr\",Springfield,OH,%05d,%d.%02d,2026-03-%02d,gold\n",
		    i, i, i % 100000, i % 900, i % 100, 1 + i % 28 }' >"$T_DIR/r.csv"
echo "input: $n rows, $(( $(stat -c %s "$T_DIR/r.csv") / 1000000 )) MB"

# herald: the whole import, and its peak memory.
t0=$(now)
"$PYTHON3" - "$HERALD_BIN" import "$T_DIR/r.csv" <<'PY' >"$T_DIR/herald.out" 2>&1
import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
print("peak RSS: %d kB" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)
PY
[ $? = 0 ] || t_skip "herald import failed: $(cat "$T_DIR/herald.out")"
t1=$(now)
cat "$T_DIR/herald.out"
herald_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')

# The reference: the same rows already clean, loaded by the client.
# (generated with the same values as the CSV, in LOAD DATA's format:
# line, email lower-cased domain, known columns, \N for the absent ones)
awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++)
	printf "%d\tPerson%d@example.org\tZoë%d\tGarcía, Jr\t\\N\tSpringfield\tOH\t%05d\t\\N\t%d.%02d\t\\N\t\\N\t2026-03-%02d\t{\"member_level\":\"gold\"}\n",
	    i + 1, i, i, i % 100000, i % 900, i % 100, 1 + i % 28 }' >"$T_DIR/clean.tsv"
sql "CREATE TABLE ref_scratch (line BIGINT UNSIGNED NOT NULL, email VARCHAR(254) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, first_name VARCHAR(100), last_name VARCHAR(100), address VARCHAR(255), city VARCHAR(100), state VARCHAR(64), zip VARCHAR(16), country CHAR(2) CHARACTER SET ascii, donated_total DECIMAL(14,2), donation_count INT UNSIGNED, last_donation_amount DECIMAL(14,2), last_donation_at DATE, attributes LONGTEXT, KEY (email)) ENGINE=MyISAM DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
t0=$(now)
sql "LOAD DATA LOCAL INFILE '$T_DIR/clean.tsv' INTO TABLE ref_scratch CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\n'" || t_skip "reference load failed"
t1=$(now)
ref_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
loaded=$(sql "SELECT COUNT(*) FROM ref_scratch" | tail -1)
# The same merge herald does, from the client's table, for the whole picture.
sql "TRUNCATE TABLE recipients"
t0=$(now)
sql "INSERT INTO recipients (email, first_name, last_name, city, state, zip, donated_total, last_donation_at, attributes) SELECT email, first_name, last_name, city, state, zip, COALESCE(donated_total, 0), last_donation_at, attributes FROM ref_scratch ORDER BY line ON DUPLICATE KEY UPDATE first_name = VALUES(first_name)"
t1=$(now)
merge_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
echo
echo "herald import (parse, check, stream, merge): $herald_s s, $(awk -v n="$n" -v t="$herald_s" 'BEGIN { printf "%.0f", n / t }') rows/s"
echo "mariadb client LOAD DATA LOCAL of the clean rows ($loaded): $ref_s s; + the same merge: $merge_s s; together $(awk -v a="$ref_s" -v b="$merge_s" 'BEGIN { printf "%.2f", a + b }') s, $(awk -v n="$n" -v a="$ref_s" -v b="$merge_s" 'BEGIN { printf "%.0f", n / (a + b) }') rows/s"
load_s=$(sed -n 's/.*(load \([0-9.]*\) s, merge.*/\1/p' "$T_DIR/herald.out")
echo "herald's load phase (read, parse, check, LOAD DATA stream): $load_s s"
echo "ratio herald load / client LOAD DATA of clean rows: $(awk -v h="$load_s" -v a="$ref_s" 'BEGIN { printf "%.2f", a / h }')"
echo "ratio herald whole import / (client load + the same merge): $(awk -v h="$herald_s" -v a="$ref_s" -v b="$merge_s" 'BEGIN { printf "%.2f", (a + b) / h }')"
echo "command: make bench-import BENCH_ARGS='-n $n' (in an -O2 build)"
