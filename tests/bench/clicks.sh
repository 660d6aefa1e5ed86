#!/bin/bash
# clicks.sh - the click redirect under load: wrk against the real
# herald-web and MariaDB, GET /c/TOKEN over TOKENS recipients' click
# tokens, beside a reference run against the same server's 404 (the
# cheapest answer it has: no token check, no click) with the same
# connections and duration. Prints requests/s, p50 and p99 latency of
# both and their ratio, then stops herald-web (TERM) and counts the
# clicks table: every redirect wrk saw answered must be there (nothing
# lost), at most the requests still in flight when wrk stopped more.
#
# usage: tests/bench/clicks.sh [-d SECONDS] [-c CONNECTIONS] [-t THREADS] [-n TOKENS]
# or:    make bench-clicks [BENCH_ARGS='-d 10 -c 32']
# Needs wrk (Debian package wrk) and HERALD_TEST_SOCKET (a MariaDB
# socket: eval "$(contrib/check --print-db)" or a devdb).
set -u
seconds=10 connections=32 threads=1 tokens=1000
while getopts d:c:t:n: opt; do
	case $opt in
	d) seconds=$OPTARG ;;
	c) connections=$OPTARG ;;
	t) threads=$OPTARG ;;
	n) tokens=$OPTARG ;;
	*) echo "usage: $0 [-d SECONDS] [-c CONNECTIONS] [-t THREADS] [-n TOKENS]" >&2; exit 2 ;;
	esac
done
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
: "${HERALD_BIN:=$PWD/src/herald}" "${HERALD_WEB_BIN:=$PWD/src/herald-web}"
export HERALD_BIN HERALD_WEB_BIN HERALD_SRCDIR="$srcdir"
. "$srcdir/tests/lib/common.sh"
. "$srcdir/tests/lib/sink.sh"
command -v wrk >/dev/null || { echo "clicks.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
t_use_database
PORT=$(t_free_port)
cat >>"$T_CONFIG" <<CONF
message_domain = news.example.org
track_domain = click.example.org
web_listen = 127.0.0.1:$PORT
web_connection_limit = $((connections + 16))
token_key k1 = a-bench-secret-of-at-least-32-characters-long
CONF
chmod 600 "$T_CONFIG"
"$HERALD_BIN" db init >/dev/null 2>&1 || { echo "clicks.sh: herald db init failed" >&2; exit 1; }
mkdir -p "$T_DIR/t"
echo '<a href="https://example.org/give">Give</a> <a href="https://example.org/story">Read</a>' >"$T_DIR/t/html.mustache"
{ echo email; seq 1 "$tokens" | sed 's/.*/r&@example.net/'; } >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null 2>&1 &&
	"$HERALD_BIN" mailing create --name bench --template "$T_DIR/t" --segment all \
	--from "News <news@example.org>" --subject s >/dev/null 2>&1 &&
	"$HERALD_BIN" preview 1 --html >/dev/null 2>&1 || { echo "clicks.sh: setting up the mailing failed" >&2; exit 1; }
# One click token per recipient, over both links, as a wrk script.
links=($(t_sql "SELECT id FROM links WHERE mailing_id = 1 ORDER BY id"))
{
	echo "paths = {"
	t_sql "SELECT id FROM recipients ORDER BY id" | while read -r r; do
		echo "\"/c/$("$HERALD_BIN" token make --purpose click 1 "$r" "${links[$((r % 2))]}")\","
	done
	echo "}"
	echo 'n = 0'
	echo 'request = function() n = n % #paths + 1; return wrk.format("GET", paths[n]) end'
} >"$T_DIR/paths.lua"
"$HERALD_WEB_BIN" -f >"$T_DIR/web.log" 2>&1 &
web=$!
t_at_exit "kill $web 2>/dev/null"
for _ in $(seq 1 200); do grep -q "listening on" "$T_DIR/web.log" && break; sleep 0.1; done
grep -q "listening on" "$T_DIR/web.log" || { cat "$T_DIR/web.log" >&2; exit 1; }
run() {
	wrk -t "$threads" -c "$connections" -d "${seconds}s" --latency "$@"
}
# figure FILE: requests/s, p50, p99 from wrk's output.
figure() {
	awk '/^Requests\/sec:/ { rps = $2 }
	     /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
	     END { printf "%s %s %s\n", rps, p50, p99 }' "$1"
}
ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v / 1000; else if (v ~ /ms$/) printf "%.3f", v + 0; else printf "%.3f", v * 1000 }'; }
command_404="wrk -t $threads -c $connections -d ${seconds}s --latency http://127.0.0.1:$PORT/nothing-here"
command_click="wrk -t $threads -c $connections -d ${seconds}s --latency -s paths.lua http://127.0.0.1:$PORT"
run "http://127.0.0.1:$PORT/nothing-here" >"$T_DIR/ref.out" 2>&1
run -s "$T_DIR/paths.lua" "http://127.0.0.1:$PORT" >"$T_DIR/click.out" 2>&1
kill -TERM $web
wait $web
read -r ref_rps ref_p50 ref_p99 <<<"$(figure "$T_DIR/ref.out")"
read -r rps p50 p99 <<<"$(figure "$T_DIR/click.out")"
answered=$(awk '/requests in/ { print $1 }' "$T_DIR/click.out")
bad=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' "$T_DIR/click.out")
errors=$(grep 'Socket errors' "$T_DIR/click.out" || true)
clicked=$(t_sql "SELECT IFNULL(SUM(clicks), 0) FROM clicks")
recorded=$(sed -n 's/.*clicks: \([0-9]*\) recorded.*/\1/p' "$T_DIR/web.log")
echo "machine: $(uname -srm), $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
echo "herald-web: $HERALD_WEB_BIN; $tokens recipients' click tokens over 2 links"
printf '%-26s %10s %10s %10s\n' "" "req/s" "p50 ms" "p99 ms"
printf '%-26s %10.0f %10s %10s\n' "reference: 404 (same server)" "$ref_rps" "$(ms "$ref_p50")" "$(ms "$ref_p99")"
printf '%-26s %10.0f %10s %10s\n' "GET /c/TOKEN -> 302" "$rps" "$(ms "$p50")" "$(ms "$p99")"
echo "ratio redirect/reference: $(awk -v a="$rps" -v b="$ref_rps" 'BEGIN { printf "%.2f", a / b }') (requests/s)"
echo "redirects answered (wrk): $answered; non-3xx answers: ${bad:-0}${errors:+; $errors}"
echo "clicks in the table after TERM: $clicked (herald-web says $recorded recorded)"
status=0
if [ "${bad:-0}" != 0 ] || [ "$clicked" -lt "$answered" ] || [ "$clicked" -gt $((answered + connections)) ] ||
	[ "$clicked" != "$recorded" ]; then
	echo "LOST OR WRONG: $answered answered, $clicked in the table" >&2
	status=1
else
	echo "nothing lost: every answered redirect is in the table (plus $((clicked - answered)) still in flight when wrk stopped)"
fi
awk -v r="$rps" 'BEGIN { exit !(r >= 5000) }' && echo "target 5,000 requests/s: met" ||
	{ echo "target 5,000 requests/s: NOT met" >&2; status=1; }
echo "commands: $command_404"
echo "          $command_click"
echo "run as: make bench-clicks BENCH_ARGS='-d $seconds -c $connections -t $threads -n $tokens'"
exit $status
