#!/bin/bash
# union.sh - what the history MERGE table's UNION size costs: for unions
# of 100, 1,000 and 3,000 stage tables, the time of a lookup by recipient
# (cold after FLUSH TABLES, then warm), the server's open file
# descriptors and open tables, beside table_open_cache and
# open_files_limit. These are the limits "herald maintain" keeps the
# union under (history_union_limit).
#
# usage: tests/bench/union.sh [SIZES...]     (default: 100 1000 3000)
# or:    make bench-union
set -u
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
: "${HERALD_BIN:=$PWD/src/herald}" "${PYTHON3:=python3}"
export HERALD_BIN PYTHON3 HERALD_SRCDIR="$srcdir"
. "$srcdir/tests/lib/common.sh"
sizes=${*:-100 1000 3000}
export HERALD_CONFIG="$T_DIR/herald.conf"
printf 'state_directory = %s/state\nsql_directory = %s/sql\n' "$T_DIR" "$srcdir" >"$HERALD_CONFIG"
"$HERALD_BIN" db init >/dev/null 2>&1 || { echo "union.sh: herald db init failed" >&2; exit 1; }
t_at_exit "'$HERALD_BIN' db stop >/dev/null 2>&1"
q() { mariadb --no-defaults --socket="$T_DIR/state/mariadb/mysqld.sock" -uroot -N herald "$@"; }
pid=$(cat "$T_DIR/state/mariadb/mysqld.pid")
have=0
for n in $sizes; do
	for i in $(seq $((have + 1)) "$n"); do
		echo "CREATE TABLE s_$i LIKE stage_template; INSERT INTO s_$i (mailing_id, row_id, recipient_id, email) VALUES ($i, 1, $i, 'x$i@example.org');"
	done | q
	have=$n
	q -e "DROP TABLE IF EXISTS h; CREATE TABLE h LIKE stage_template; ALTER TABLE h ENGINE=MRG_MyISAM UNION=($(seq 1 "$n" | sed 's/^/s_/' | paste -sd,)); FLUSH TABLES"
	fd0=$(ls /proc/"$pid"/fd | wc -l)
	t0=$(date +%s.%N); q -e "SELECT COUNT(*) FROM h WHERE recipient_id = 7" >/dev/null
	t1=$(date +%s.%N); q -e "SELECT COUNT(*) FROM h WHERE recipient_id = 7" >/dev/null
	t2=$(date +%s.%N)
	echo "union of $n tables: lookup cold $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s, warm $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.3f", b - a }') s; server file descriptors $fd0 -> $(ls /proc/"$pid"/fd | wc -l); open tables $(q -e "SHOW GLOBAL STATUS LIKE 'Open_tables'" | awk '{ print $2 }')"
done
echo "table_open_cache $(q -e 'SELECT @@table_open_cache'), open_files_limit $(q -e 'SELECT @@open_files_limit')"
echo "command: make bench-union"
