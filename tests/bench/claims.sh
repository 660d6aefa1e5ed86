#!/bin/bash
# claims.sh - the claim-latency benchmark (README "Scale"): how long one
# batch claim takes as nodes are added on one MariaDB.
#
# usage: tests/bench/claims.sh CLAIMS_PROGRAM [-n RECIPIENTS] [-b BATCH_SIZE] [-p "1 2 4 8"]
# or:    make bench-claims [BENCH_ARGS='-n 10000 -b 10 -p "1 2 4 8"']
#
# Stages one mailing of N recipients in batches of B (N/B batches) in an
# embedded MariaDB in a temporary state directory. Then, for each count P,
# P processes (tests/bench/claims.c), each standing in for a node with
# its own connection, take every batch through herald's claim path
# (batch_claim, then batch_finish), all against the same mailing: the
# contended case, every node reading the same index for the next due
# batch (SELECT ... FOR UPDATE SKIP LOCKED). The batches are put back
# to ready between counts. Prints p50 and p99 claim latency per count,
# each against the 1-process run of the same invocation, and the
# claims per second all processes made together, and the claims or
# finishes that failed (the server's error, e.g. a deadlock, is shown)
# and were tried again on a new connection, as a worker does.
set -u
claims=${1:?usage: claims.sh CLAIMS_PROGRAM [-n RECIPIENTS] [-b BATCH_SIZE] [-p COUNTS]}
shift
n=10000
b=10
counts="1 2 4 8"
while getopts n:b:p: opt; do
	case $opt in
	n) n=$OPTARG ;;
	b) b=$OPTARG ;;
	p) counts=$OPTARG ;;
	*) echo "usage: claims.sh CLAIMS_PROGRAM [-n RECIPIENTS] [-b BATCH_SIZE] [-p COUNTS]" >&2; exit 2 ;;
	esac
done
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
: "${HERALD_BIN:=$PWD/src/herald}" "${PYTHON3:=python3}"
export HERALD_BIN PYTHON3 HERALD_SRCDIR="$srcdir"
. "$srcdir/tests/lib/common.sh"
t_skip() { echo "claims.sh: $1" >&2; exit 1; }
export HERALD_CONFIG="$T_DIR/herald.conf"
cat >"$HERALD_CONFIG" <<CONF
state_directory = $T_DIR/state
sql_directory = $srcdir/sql
batch_size = $b
CONF
"$HERALD_BIN" db init >/dev/null 2>&1 || t_skip "herald db init failed"
t_at_exit "'$HERALD_BIN' db stop >/dev/null 2>&1"
sql() { mariadb --no-defaults --socket="$T_DIR/state/mariadb/mysqld.sock" -uroot herald -N -e "$1"; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"

echo "== machine"
uname -srm; grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'; echo "cores: $(nproc)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server: $(sql 'SELECT VERSION()') (embedded, one instance, Unix socket)"
awk -v n="$n" 'BEGIN { print "email,first_name"
	for (i = 1; i <= n; i++) printf "c%d@example.org,N%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null || t_skip "import failed"
"$HERALD_BIN" mailing create --name claims --template "$T_DIR/t" --segment all \
    --from a@example.org --subject s >/dev/null || t_skip "mailing create failed"
"$HERALD_BIN" stage >/dev/null 2>&1 || t_skip "herald stage failed"
batches=$(sql "SELECT COUNT(*) FROM batches")
echo "one mailing, $n recipients in $batches batches of $b"
echo
printf '%-6s %8s %9s %9s %8s %8s %9s %7s\n' nodes claims "p50 us" "p99 us" "p50 x1" "p99 x1" claims/s failed
base50= base99=
for p in $counts; do
	sql "UPDATE batches SET state = 'ready', owner_node = NULL, owner_pid = NULL,
	       lease_expires_at = NULL, checkpoint_row = 0, next_attempt_at = NULL;
	     UPDATE mailings SET state = 'ready'" || t_skip "resetting the batches failed"
	# stderr: batch_finish's "mailing done" notice, or what failed.
	read -r procs got p50 p99 rate failed < <("$claims" "$p" 2>"$T_DIR/claims.err") ||
		t_skip "$claims $p failed: $(cat "$T_DIR/claims.err")"
	[ "$got" = "$batches" ] || t_skip "$p processes claimed $got of $batches batches"
	[ -n "$base50" ] || { base50=$p50; base99=$p99; }
	printf '%-6s %8s %9s %9s %8s %8s %9s %7s\n' "$procs" "$got" "$p50" "$p99" \
	    "$(awk -v a="$p50" -v b="$base50" 'BEGIN { printf "%.2f", a / b }')" \
	    "$(awk -v a="$p99" -v b="$base99" 'BEGIN { printf "%.2f", a / b }')" "$rate" "$failed"
	[ "$failed" = 0 ] || grep 'claims: tried again' "$T_DIR/claims.err" | sort | uniq -c | sed 's/^ */   /'
done
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "each batch claimed exactly once at every count (claims = batches)"
echo "command: make bench-claims BENCH_ARGS='-n $n -b $b -p \"$counts\"'"
