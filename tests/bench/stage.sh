#!/bin/bash
# stage.sh - the staging benchmark (DESIGN.md section 11): staging a
# mailing must cost the same whatever the delivery history holds.
#
# usage: tests/bench/stage.sh [-n RECIPIENTS] [-h HISTORY_TABLES]
# or:    make bench-stage BENCH_ARGS='-n 1000000 -h 20'
#
# Stages an N-recipient mailing with an empty history, then builds a
# history of H x N delivered rows (H stage tables in the MERGE union)
# and stages another N-recipient mailing; prints both times and their
# ratio (the goal: at most 1.1). In the same run, the naive design: one
# indexed InnoDB delivery-history table holding the same H x N rows,
# into which the same N rows are inserted. Embedded MariaDB in a
# temporary state directory (several GB of disk for the defaults).
set -u
n=1000000
h=20
while getopts n:h: opt; do
	case $opt in
	n) n=$OPTARG ;;
	h) h=$OPTARG ;;
	*) echo "usage: stage.sh [-n RECIPIENTS] [-h HISTORY_TABLES]" >&2; exit 2 ;;
	esac
done
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
: "${HERALD_BIN:=$PWD/src/herald}" "${PYTHON3:=python3}"
export HERALD_BIN PYTHON3 HERALD_SRCDIR="$srcdir"
. "$srcdir/tests/lib/common.sh"
t_skip() { echo "stage.sh: $1" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
export HERALD_CONFIG="$T_DIR/herald.conf"
cat >"$HERALD_CONFIG" <<CONF
state_directory = $T_DIR/state
sql_directory = $srcdir/sql
CONF
"$HERALD_BIN" db init >/dev/null 2>&1 || t_skip "herald db init failed"
t_at_exit "'$HERALD_BIN' db stop >/dev/null 2>&1"
sql() { mariadb --no-defaults --socket="$T_DIR/state/mariadb/mysqld.sock" -uroot herald -N -e "$1"; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"

echo "== machine"
uname -srm; grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'; echo "cores: $(nproc)"
awk -v n="$n" 'BEGIN { print "email,first_name,state,donated_total"
	for (i = 1; i <= n; i++) printf "s%d@example.org,N%d,%s,%d\n", i, i, (i % 2 ? "OH" : "PA"), i % 500 }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" | sed 's/^/import: /'

stage_one() {	# prints the seconds "herald stage" took for a new mailing
	"$HERALD_BIN" mailing create --name "$1" --template "$T_DIR/t" --segment all \
	    --from a@example.org --subject s >/dev/null || t_skip "mailing create failed"
	local t0 t1
	t0=$(now)
	"$HERALD_BIN" stage >/dev/null 2>&1 || t_skip "herald stage failed"
	t1=$(now)
	secs "$t0" "$t1"
}
empty=$(stage_one first)
echo "stage $n recipients, empty history: $empty s"

# A history of h x n delivered rows: copies of the first stage table.
t0=$(now)
union='`stage_1`'
for i in $(seq 1 "$h"); do
	id=$((1000 + i))
	sql "CREATE TABLE stage_$id LIKE stage_template;
	     INSERT INTO stage_$id SELECT $id, row_id, recipient_id, variant_id, email, first_name, last_name, city, state, zip, country, donated_total, last_donation_amount, last_donation_at, attributes, 'sent', 1, NULL, 'Q1', '250 ok', NOW() FROM stage_1" ||
		t_skip "building the history failed"
	union="$union,\`stage_$id\`"
done
sql "ALTER TABLE history UNION=($union)"
t1=$(now)
rows=$(sql "SELECT COUNT(*) FROM history")
echo "history built: $rows rows in $((h + 1)) stage tables ($(secs "$t0" "$t1") s)"
with=$(stage_one second)
echo "stage $n recipients, history of $rows rows: $with s"
echo "ratio with history / empty: $(awk -v a="$empty" -v b="$with" 'BEGIN { printf "%.2f", b / a }') (goal: at most 1.1)"

# The naive design: one indexed InnoDB history table.
t0=$(now)
sql "CREATE TABLE naive_history (mailing_id BIGINT UNSIGNED NOT NULL, recipient_id BIGINT UNSIGNED NOT NULL,
       email VARCHAR(254) CHARACTER SET ascii NOT NULL, first_name VARCHAR(100), state VARCHAR(64),
       donated_total DECIMAL(14,2), delivery_state VARCHAR(16) NOT NULL,
       PRIMARY KEY (mailing_id, recipient_id), KEY (recipient_id), KEY (email)) ENGINE=InnoDB;
     INSERT INTO naive_history SELECT mailing_id, recipient_id, email, first_name, state, donated_total, delivery_state FROM history WHERE mailing_id > 1000"
t1=$(now)
echo "naive table filled with $(sql "SELECT COUNT(*) FROM naive_history") rows ($(secs "$t0" "$t1") s, not timed below)"
t0=$(now)
sql "INSERT INTO naive_history SELECT 9999, id, email, first_name, state, donated_total, 'pending' FROM recipients"
t1=$(now)
naive=$(secs "$t0" "$t1")
echo "naive: insert $n rows into it: $naive s"
echo "ratio naive / herald (with history): $(awk -v a="$naive" -v b="$with" 'BEGIN { printf "%.2f", a / b }')"
echo "herald: $(awk -v n="$n" -v t="$with" 'BEGIN { printf "%.0f", n / t }') rows/s staged"
echo "command: make bench-stage BENCH_ARGS='-n $n -h $h' (in an -O2 build)"
