#!/bin/bash
# cluster-limits.sh - one rate limit held across three nodes, two ways
# side by side with the old per-node limit as the reference, against a
# real MariaDB (see cluster_limits.c for the ways and the timeline).
#
# usage: tests/bench/cluster-limits.sh CLUSTER_LIMITS_BINARY [-r per_minute]
#            [-d seconds] [-j join_s] [-k kill_s] [-b block] [-t node_timeout]
# or:    make bench-cluster-limits [BENCH_ARGS='-r 6000 -d 90 -b 100']
# Needs HERALD_TEST_SOCKET (a MariaDB socket: eval "$(contrib/check
# --print-db)" or a devdb). Prints the machine, the command and one line
# per way.
set -u
bin=${1:?usage: cluster-limits.sh CLUSTER_LIMITS_BINARY [options]}
shift
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
: "${HERALD_BIN:=$PWD/src/herald}"
export HERALD_BIN HERALD_SRCDIR="$srcdir"
. "$srcdir/tests/lib/common.sh"
t_use_database
"$HERALD_BIN" db init >/dev/null 2>&1 || { echo "cluster-limits.sh: herald db init failed" >&2; exit 1; }
echo "# $(uname -srm), $(nproc) cores, $(mariadbd --version 2>/dev/null | cut -d' ' -f4-)"
echo "# make bench-cluster-limits BENCH_ARGS='$*'"
"$bin" "$@"
