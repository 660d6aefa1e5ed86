#!/bin/sh
# intake.sh - the feedback intake benchmark: DSNs mailed in a burst to a
# private Postfix whose pipe(8) transport runs "herald bounce", one
# process per DSN, each recorded in MariaDB. It runs
# tests/integration/intake_burst.sh (the same burst, the same checks)
# at the size of issue #17 by default: 10,000 DSNs with MariaDB stopped
# for 10 s during the burst (-o 0: no outage, the plain rate), and
# prints its pass line and its rate line.
#
# usage: tests/bench/intake.sh [-n dsns] [-o outage_seconds]
# or:    make bench-intake BENCH_ARGS='-n 10000 -o 10'
#
# Needs HERALD_BIN and HERALDD_BIN (make sets them) and root (Postfix,
# MariaDB). Timing decides nothing: this is not a test. Build without
# sanitizers for figures worth quoting: with them each herald bounce
# process spends most of its time starting up.
set -eu

count=10000
outage=10
while [ $# -gt 0 ]; do
	case $1 in
	-n) count=$2; shift 2 ;;
	-o) outage=$2; shift 2 ;;
	*) echo "intake.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
here=$(cd "$(dirname "$0")/../.." && pwd)
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
HERALD_SRCDIR=$here HERALD_INTAKE_COUNT=$count HERALD_INTAKE_OUTAGE=$outage \
    bash "$here/tests/integration/intake_burst.sh" | grep -E "^intake:|passed|FAIL"
echo "reproduce: make bench-intake BENCH_ARGS='-n $count -o $outage'"
