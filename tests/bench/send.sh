#!/bin/bash
# send.sh - the dispatch benchmark (DESIGN.md section 11): heraldd sending
# a staged mailing, against Postfix's smtp-source sending the same number
# of same-sized messages over as many reused connections, into the same
# smtp-sink in the same run; then both into the same real Postfix.
# smtp-source sends the very message herald rendered for its first
# recipient, to distinct recipients (-N) as herald's are; into Postfix it
# also runs with one recipient repeated, for comparison.
#
# usage: tests/bench/send.sh [-n RECIPIENTS] [-w WORKERS] [-p POSTFIX_N]
#                            [-c CONNECTIONS]
# or:    make bench-send BENCH_ARGS='-n 200000 -w 4'
#
# CONNECTIONS is relay_connections (per worker, default 2): smtp-source
# gets as many connections as herald has in all (WORKERS x CONNECTIONS).
# The Postfix is stock as far as SMTP goes: it offers CHUNKING.
#
# Uses the herald and heraldd of the build (HERALD_BIN, HERALDD_BIN, set
# by make), an embedded MariaDB in a temporary state directory, the
# template in tests/bench/template (about 5 KB with a dozen fields, a
# list section and a non-ASCII subject). Prints each rate, the ratio
# herald/smtp-source, messages per hour, peak RSS of the master and the
# workers, and the command. Timing decides nothing here: not a test.
# Build without sanitizers (./configure CFLAGS=-O2) for figures to quote.
set -u
n=200000
workers=4
postfix_n=20000
connections=2
while getopts n:w:p:c: opt; do
	case $opt in
	n) n=$OPTARG ;;
	w) workers=$OPTARG ;;
	p) postfix_n=$OPTARG ;;
	c) connections=$OPTARG ;;
	*) echo "usage: send.sh [-n RECIPIENTS] [-w WORKERS] [-p POSTFIX_N] [-c CONNECTIONS]" >&2; exit 2 ;;
	esac
done
total=$((workers * connections))
[ "$postfix_n" -le "$n" ] || { echo "send.sh: -p $postfix_n is more than -n $n" >&2; exit 2; }
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
: "${HERALD_BIN:=$PWD/src/herald}" "${HERALDD_BIN:=$PWD/src/heraldd}" "${PYTHON3:=python3}"
export HERALD_BIN PYTHON3 HERALD_SRCDIR="$srcdir"
. "$srcdir/tests/lib/common.sh"
. "$srcdir/tests/lib/sink.sh"
. "$srcdir/tests/lib/postfix.sh"
t_skip() { echo "send.sh: $1" >&2; exit 1; }
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
# ticks PID...: CPU time (user + system, in clock ticks) the processes used.
ticks() { for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null; done |
	awk '{ t += $1 } END { print t + 0 }'; }
# per_message TICKS N: microseconds of CPU per message.
per_message() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", t * 1e6 / hz / n }'; }
mariadb_pid() { find "$T_DIR/state" -name mysqld.pid -exec cat {} + 2>/dev/null | head -1; }

export HERALD_CONFIG="$T_DIR/herald.conf"
write_config() {	# RELAY_PORT [POSTFIX_CONFIG_DIRECTORY]
	cat >"$HERALD_CONFIG" <<CONF
state_directory = $T_DIR/state
user =
sql_directory = $srcdir/sql
worker_count = $workers
relay_connections = $connections
relay_port = $1
relay_session_size = 100
batch_size = 1000
pid_file = $T_DIR/heraldd.pid
message_domain = bench.example
metrics_interval = 0
postfix_config_directory = ${2:-}
CONF
}
write_config 25
"$HERALD_BIN" db init >/dev/null 2>&1 || t_skip "herald db init failed"
t_at_exit "'$HERALD_BIN' db stop >/dev/null 2>&1"

echo "== machine"
uname -srm
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'
echo "cores: $(nproc)"
awk -v n="$n" 'BEGIN { print "email,first_name,last_name,city,state,zip,country,donated_total,last_donation_amount,last_donation_at,projects"
	for (i = 1; i <= n; i++)
		printf "b%d@sink.example,Zoë%d,García,Springfield,OH,%05d,US,%d.%02d,%d.00,2026-03-%02d,\"River, Schools\"\n",
		    i, i, i % 100000, i % 900, i % 100, i % 300, 1 + i % 28 }' >"$T_DIR/r.csv"
t0=$(now)
"$HERALD_BIN" import "$T_DIR/r.csv" >"$T_DIR/import.out" || t_skip "import failed"
t1=$(now)
echo "import: $n rows in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s ($(rate "$n" "$t0" "$t1") rows/s)"

# send_mailing NAME: create, stage, run heraldd until done; sets
# herald_rate, rss_master, rss_workers, size.
send_mailing() {
	local id t0 t1 pid
	"$HERALD_BIN" mailing create --name "$1" --template "$srcdir/tests/bench/template" \
	    --segment all --from "Bench <bench@bench.example>" >"$T_DIR/create.out" ||
		t_skip "mailing create failed"
	id=$(sed -n 's/^mailing \([0-9]*\) queued.*/\1/p' "$T_DIR/create.out")
	t0=$(now)
	"$HERALD_BIN" stage >/dev/null || t_skip "stage failed"
	t1=$(now)
	echo "stage: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s for $n recipients"
	# smtp-source sends this very message (its first recipient's), with
	# LF line ends: smtp-source appends CRLF to every line itself.
	"$HERALD_BIN" preview "$id" | tr -d '\r' >"$T_DIR/message"
	size=$("$HERALD_BIN" preview "$id" | wc -c)
	t0=$(now)
	sink_ticks=$(ticks $sink_pid) db_ticks=$(ticks "$(mariadb_pid)")
	: >"$T_DIR/heraldd.log"	# before the loop below reads it
	"$HERALDD_BIN" -f >>"$T_DIR/heraldd.log" 2>&1 &
	pid=$!
	# heraldd logs the mailing's end; watched with shell builtins only, so
	# that the watching takes no CPU from the run it times.
	exec {tick}<> <(:)
	until [[ $(<"$T_DIR/heraldd.log") == *"mailing $id done"* ]]; do
		kill -0 $pid 2>/dev/null || t_skip "heraldd died: $(tail -5 "$T_DIR/heraldd.log")"
		read -r -t 0.05 -u $tick _
	done
	exec {tick}>&-
	t1=$(now)
	herald_rate=$(rate "$n" "$t0" "$t1")
	"$HERALD_BIN" mailing show "$id" | awk '$1 ~ /^(sent|deferred|failed)$/ { printf "%s %s  ", $1, $2 } END { print "" }'
	grep -v "info:" "$T_DIR/heraldd.log" | head -5
	herald_ticks=$(ticks $pid $(pgrep -P $pid))
	sink_ticks=$(($(ticks $sink_pid) - sink_ticks)) db_ticks=$(($(ticks "$(mariadb_pid)") - db_ticks))
	rss_master=$(awk '/VmHWM/ { print $2 }' /proc/$pid/status)
	rss_workers=$(for c in $(pgrep -x heraldd -P $pid); do awk '/VmHWM/ { print $2 }' /proc/$c/status; done | sort -n | tail -1)
	kill -TERM $pid
	wait $pid
}
t_sql_state() { "$HERALD_BIN" mailing show "$1" | awk '$1 == "state" { print $2 }'; }

echo
echo "== into smtp-sink: $n recipients, $workers workers x $connections connections"
t_start_sink "$T_DIR/unused-sink-dir"
kill "$T_SINK_PID"; sleep 0.2
/usr/sbin/smtp-sink -u nobody 127.0.0.1:"$T_SINK_PORT" 1000 >/dev/null 2>&1 &
sink_pid=$!
t_at_exit "kill $sink_pid 2>/dev/null"
sleep 0.3
write_config "$T_SINK_PORT"
send_mailing sink-run
echo "message size: $size bytes"
echo "CPU per message: heraldd $(per_message "$herald_ticks" "$n") us, MariaDB $(per_message "$db_ticks" "$n") us, smtp-sink $(per_message "$sink_ticks" "$n") us"
sink_ticks=$(ticks $sink_pid)
t0=$(now)
# The subshell's "times" prints its children's user and system time last.
(/usr/sbin/smtp-source -s "$total" -m "$n" -d -N -F "$T_DIR/message" -f bounce@bench.example \
    -t rcpt@sink.example 127.0.0.1:"$T_SINK_PORT"; times) | tail -1 >"$T_DIR/source.time"
t1=$(now)
source_rate=$(rate "$n" "$t0" "$t1")
sink_ticks=$(($(ticks $sink_pid) - sink_ticks))
echo "CPU per message: smtp-source $(awk -v n="$n" '{ gsub(/[ms]/, " "); printf "%.0f", ($1 * 60 + $2 + $3 * 60 + $4) * 1e6 / n }' "$T_DIR/source.time") us, smtp-sink $(per_message "$sink_ticks" "$n") us"
echo "heraldd:                      $herald_rate msg/s ($((herald_rate * 3600)) msg/h)"
echo "smtp-source -s $total -d -N:       $source_rate msg/s"
echo "ratio herald/smtp-source:     $(awk -v a="$herald_rate" -v b="$source_rate" 'BEGIN { printf "%.2f", a / b }')"
echo "peak RSS: master ${rss_master} kB, largest worker ${rss_workers} kB"

echo
echo "== into a real Postfix (relaying to smtp-sink): $postfix_n recipients"
T_POSTFIX_TMPFS=1 t_start_postfix "$T_SINK_PORT" "default_process_limit = 200"
echo "Postfix queue on $T_POSTFIX_QUEUE"
echo "Postfix offers CHUNKING: $("$PYTHON3" -c "import smtplib; s = smtplib.SMTP('127.0.0.1', $T_POSTFIX_PORT); s.ehlo('bench.example'); print('yes' if s.has_extn('chunking') else 'no'); s.quit()")"
n_saved=$n; n=$postfix_n
# A fresh list of postfix_n recipients: the first postfix_n of the import.
awk -v n="$postfix_n" 'NR <= n + 1' "$T_DIR/r.csv" >"$T_DIR/p.csv"
"$HERALD_BIN" import "$T_DIR/p.csv" --mode replace --yes >/dev/null
write_config "$T_POSTFIX_PORT" "$T_DIR/postfix/conf"
send_mailing postfix-run
# postfix_source [-N]: smtp-source into the Postfix, its queue empty
# first (Postfix delivers what came before to the sink); sets source_rate.
postfix_source() {
	local t0 t1
	for _ in $(seq 1 600); do
		[ -z "$(find "$T_DIR/postfix/queue/"{maildrop,incoming,active,deferred} -type f 2>/dev/null | head -1)" ] && break
		sleep 0.5
	done
	t0=$(now)
	/usr/sbin/smtp-source -s "$total" -m "$postfix_n" -d "$@" -F "$T_DIR/message" -f bounce@bench.example \
	    -t rcpt@sink.example 127.0.0.1:"$T_POSTFIX_PORT"
	t1=$(now)
	source_rate=$(rate "$postfix_n" "$t0" "$t1")
}
# The reference: distinct recipients (-N), as herald's are. For
# comparison, also one recipient repeated: Postfix's address caches then
# always hit, which smtp-source's manual says flatters Postfix.
postfix_source -N
echo "heraldd into Postfix:         $herald_rate msg/s"
echo "smtp-source -N into Postfix:  $source_rate msg/s"
echo "ratio herald/smtp-source:     $(awk -v a="$herald_rate" -v b="$source_rate" 'BEGIN { printf "%.2f", a / b }')"
postfix_source
echo "smtp-source, one recipient:   $source_rate msg/s (herald/that $(awk -v a="$herald_rate" -v b="$source_rate" 'BEGIN { printf "%.2f", a / b }'))"
n=$n_saved
echo
echo "command: make bench-send BENCH_ARGS='-n $n -w $workers -p $postfix_n -c $connections' (in an -O2 build)"
