#!/bin/sh
# send-sink.sh - the relay benchmark (DESIGN.md section 11): herald's
# relay module against Postfix's smtp-source, same message count, size
# and number of connections, into the same smtp-sink, in one run; then
# herald with and without TCP_NODELAY on a single connection.
#
# usage: tests/bench/send-sink.sh SEND_SINK_BINARY [-m messages]
#            [-s connections] [-l size] [-n nagle_messages]
# or:    make bench-send-sink BENCH_ARGS='-m 20000 -s 8'
#
# Prints the machine, each rate, the ratio herald/smtp-source and the
# command that reproduces the run. Timing decides nothing: this is not
# a test. Build without sanitizers for figures worth quoting.
set -eu

bin=${1:?usage: send-sink.sh SEND_SINK_BINARY [-m M] [-s W] [-l SIZE] [-n N]}
shift
messages=20000
sessions=8
size=5500
nagle_messages=200
while [ $# -gt 0 ]; do
	case $1 in
	-m) messages=$2; shift 2 ;;
	-s) sessions=$2; shift 2 ;;
	-l) size=$2; shift 2 ;;
	-n) nagle_messages=$2; shift 2 ;;
	*) echo "send-sink.sh: unknown option $1" >&2; exit 2 ;;
	esac
done

sink=${SMTP_SINK:-/usr/sbin/smtp-sink}
source=${SMTP_SOURCE:-/usr/sbin/smtp-source}
for prog in "$sink" "$source"; do
	if [ ! -x "$prog" ]; then
		echo "send-sink.sh: $prog is missing (package postfix)" >&2
		exit 1
	fi
done

work=$(mktemp -d /tmp/herald-bench-send.XXXXXX)
sink_pid=
cleanup() {
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

port=$("$bin" -P)
user_opt=
[ "$(id -u)" = 0 ] && user_opt="-u nobody"
# shellcheck disable=SC2086 # user_opt is two words or none
"$sink" $user_opt 127.0.0.1:"$port" 256 &
sink_pid=$!
i=0
until "$source" -m 1 127.0.0.1:"$port" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "send-sink.sh: smtp-sink did not start" >&2; exit 1; }
	sleep 0.05
done

"$bin" -F "$work/message" -l "$size"
now() { date +%s.%N; }
rate() { echo "$1 $2 $3" | awk '{ printf "%.0f", $1 / ($3 - $2) }'; }

echo "== machine"
uname -a
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'
echo "cores: $(nproc)"
echo "message: $(wc -l <"$work/message") lines, $(($(wc -c <"$work/message") + $(wc -l <"$work/message"))) bytes with CRLF, the same for both"
echo

echo "== $messages messages over $sessions reused connections"
t0=$(now)
"$source" -s "$sessions" -m "$messages" -d -F "$work/message" \
    -f bounce@bench.example -t rcpt@sink.example 127.0.0.1:"$port"
t1=$(now)
source_rate=$(rate "$messages" "$t0" "$t1")
echo "smtp-source -s $sessions -m $messages -d: $source_rate msg/s"

herald_line=$("$bin" -p "$port" -m "$messages" -s "$sessions" -l "$size")
echo "$herald_line"
herald_rate=$(echo "$herald_line" | sed 's/.* \([0-9]*\) msg\/s.*/\1/')
echo "ratio herald/smtp-source: $(echo "$herald_rate $source_rate" | awk '{ printf "%.2f", $1 / $2 }')"
# herald's default relay_session_size: a relay session every 100
# messages (the connections are kept from session to session).
herald_line=$("$bin" -p "$port" -m "$messages" -s "$sessions" -l "$size" -b 100)
echo "$herald_line"
herald_rate=$(echo "$herald_line" | sed 's/.* \([0-9]*\) msg\/s.*/\1/')
echo "ratio herald/smtp-source: $(echo "$herald_rate $source_rate" | awk '{ printf "%.2f", $1 / $2 }')"
echo

echo "== one connection: TCP_NODELAY on and off ($nagle_messages messages)"
t0=$(now)
"$source" -s 1 -m "$nagle_messages" -d -F "$work/message" \
    -f bounce@bench.example -t rcpt@sink.example 127.0.0.1:"$port"
t1=$(now)
echo "smtp-source -s 1 -m $nagle_messages -d: $(rate "$nagle_messages" "$t0" "$t1") msg/s"
"$bin" -p "$port" -m "$nagle_messages" -s 1 -l "$size"
"$bin" -p "$port" -m "$nagle_messages" -s 1 -l "$size" -n
echo
echo "reproduce: $0 $bin -m $messages -s $sessions -l $size -n $nagle_messages"
