#!/bin/bash
# embedded_cluster.sh - a cluster on one machine around herald's embedded
# MariaDB over TCP, started for real by contrib/demo-cluster.
#
# First the refusal: embedded_port without the daemon's account and
# password is refused by herald config check and herald db start, naming
# the keys to set, and no mariadbd starts. Then contrib/demo-cluster
# starts node a (the embedded server, open on 127.0.0.1:PORT; heraldd on
# its socket), node b (heraldd over TCP as the daemon's account) and
# herald-web over TCP as the web's account, each node relaying to its
# own smtp-sink. One mailing goes out: every recipient gets exactly one
# message, both nodes send part of it, and tokens made on either node
# verify on the other: herald-web (node b's configuration) accepts node
# a's tokens, herald token verify on node a accepts node b's, and both
# nodes signed with the same key.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
: "${HERALD_WEB_BIN:?HERALD_WEB_BIN is not set: run the tests with make check}"
[ -x /usr/sbin/mariadbd ] || t_skip "mariadbd is not installed (Debian package mariadb-server)"
N=200

# --- refused: TCP without a password -------------------------------------------
port=$(t_free_port)
cat >"$T_DIR/open.conf" <<CONF
state_directory = $T_DIR/open
sql_directory = $HERALD_SRCDIR/sql
user =
embedded_port = $port
CONF
t_expect_fail "config check refuses embedded_port without the daemon's password" 1 \
	"open.conf: embedded_port = $port opens the embedded database on 127.0.0.1:$port.*set daemon_database_user and daemon_database_password" \
	"$HERALD_BIN" -c "$T_DIR/open.conf" config check
t_expect_fail "so does herald db start" 1 "embedded_port = $port .*daemon_database_password" \
	"$HERALD_BIN" -c "$T_DIR/open.conf" db start
echo "daemon_database_user = d" >>"$T_DIR/open.conf"
t_expect_fail "a user without a password is refused too" 1 "daemon_database_password" \
	"$HERALD_BIN" -c "$T_DIR/open.conf" db init
[ ! -e "$T_DIR/open/mariadb/mysqld.pid" ] && ! python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$port" 2>/dev/null &&
	t_ok "no server started, nothing listens on the port" || t_fail "nothing started" "$(ls -R "$T_DIR/open" 2>&1 | head)"

# --- the demo cluster ------------------------------------------------------------
t_start_sink "$T_DIR/sink-a"
SINK_A=$T_SINK_PORT
t_start_sink "$T_DIR/sink-b"
SINK_B=$T_SINK_PORT
C="$T_DIR/cluster"
export HERALD="$HERALD_BIN" HERALDD="$HERALDD_BIN" HERALD_WEB="$HERALD_WEB_BIN" HERALD_SQL="$HERALD_SRCDIR/sql"
DB_PORT=$(t_free_port)
WEB_PORT=$(t_free_port)
t_at_exit "'$HERALD_SRCDIR/contrib/demo-cluster' stop '$C' >/dev/null 2>&1"
t_check "contrib/demo-cluster starts two nodes and herald-web" "$HERALD_SRCDIR/contrib/demo-cluster" start "$C" \
	--port "$DB_PORT" --relay-a "127.0.0.1:$SINK_A" --relay-b "127.0.0.1:$SINK_B" --web-port "$WEB_PORT" \
	--conf "rate_limit = 100/s" --conf "worker_count = 2"
grep -q "token key k1 generated" "$T_DIR/out" && t_ok "db init made the first token key" || t_fail "first key" "$(cat "$T_DIR/out")"
[ "$(stat -c %a "$C/a.conf") $(stat -c %a "$C/b.conf")" = "600 600" ] && t_ok "its configurations are mode 600" ||
	t_fail "config modes" "$(stat -c '%n %a' "$C"/*.conf)"
pid=$(cat "$C/a/mariadb/mysqld.pid")
grep -q -- "--port=$DB_PORT" "/proc/$pid/cmdline" && grep -q -- "--bind-address=127.0.0.1" "/proc/$pid/cmdline" &&
	t_ok "the embedded server listens on 127.0.0.1:$DB_PORT" || t_fail "embedded TCP" "$(tr '\0' ' ' <"/proc/$pid/cmdline")"
grep -q "^database_host = 127.0.0.1" "$C/b.conf" && ! grep -q "token_key" "$C/a.conf" "$C/b.conf" &&
	t_ok "node b reaches it over TCP; no configuration holds a token key" || t_fail "node b config" "$(cat "$C/b.conf")"
out=$(mariadb --no-defaults --connect-timeout=5 -h127.0.0.1 -P"$DB_PORT" -uroot -e 'SELECT 1' 2>&1)
[ $? != 0 ] && [[ $out == *"Access denied"* ]] && t_ok "root cannot log in over TCP" || t_fail "root over TCP" "$out"

A=(-c "$C/a.conf")
# The embedded server, as its root over the socket.
esql() { mariadb --no-defaults --socket="$C/a/mariadb/mysqld.sock" -uroot --batch --skip-column-names herald -e "$1"; }
# Both nodes registered, with their workers (each beats within 5 s).
for _ in $(seq 1 100); do
	[ "$(esql "SELECT COUNT(*) FROM nodes WHERE workers = 2")" = 2 ] && break
	sleep 0.1
done
mkdir -p "$T_DIR/t" && echo "Hello {{first_name}}" >"$T_DIR/t/text.mustache"
awk -v n=$N 'BEGIN { print "email,first_name"; for (i = 1; i <= n; i++) printf "c%d@example.net,C%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" "${A[@]}" import "$T_DIR/r.csv" >/dev/null &&
	"$HERALD_BIN" "${A[@]}" mailing create --name cluster --template "$T_DIR/t" --segment all \
		--from "News <news@example.org>" --subject s >/dev/null &&
	"$HERALD_BIN" "${A[@]}" stage >/dev/null 2>&1 || { t_fail "mailing set up" "failed"; t_done; }
state=
for _ in $(seq 1 600); do
	state=$(esql "SELECT state FROM mailings WHERE id = 1")
	[ "$state" = done ] && break
	sleep 0.2
done
[ "$state" = done ] && [ "$(esql "SELECT sent_count FROM mailings WHERE id = 1")" = $N ] &&
	t_ok "the mailing is done, $N sent" || t_fail "mailing done" "state $state; $(tail -3 "$C/a.log" "$C/b.log")"

# Every recipient once, each message from one of the two nodes.
"$PYTHON3" - "$T_DIR/sink-a" "$T_DIR/sink-b" >"$T_DIR/received" <<'PY'
import email, email.utils, os, re, sys
for node, d in zip("ab", sys.argv[1:]):
    for name in sorted(os.listdir(d)):
        m = email.message_from_binary_file(open(os.path.join(d, name), "rb"))
        t = re.search(r"[?&]t=([A-Za-z0-9_.-]+)", str(m["List-Unsubscribe"]))
        print(node, email.utils.parseaddr(m["To"])[1], t.group(1) if t else "-")
PY
a=$(grep -c "^a " "$T_DIR/received"); b=$(grep -c "^b " "$T_DIR/received")
[ "$(wc -l <"$T_DIR/received")" = $N ] && [ "$(awk '{ print $2 }' "$T_DIR/received" | sort -u | wc -l)" = $N ] &&
	t_ok "each of the $N recipients got exactly one message" ||
	t_fail "every recipient once" "$(wc -l <"$T_DIR/received") messages, $(awk '{ print $2 }' "$T_DIR/received" | sort -u | wc -l) recipients"
[ "$a" -gt 0 ] && [ "$b" -gt 0 ] && t_ok "both nodes sent part of it (a $a, b $b)" || t_fail "both nodes sent" "a $a, b $b"
[ "$(awk '{ split($3, p, "."); print p[1] }' "$T_DIR/received" | sort -u)" = k1 ] &&
	t_ok "both nodes signed with the database's key k1" || t_fail "one key" "$(awk '{ print $3 }' "$T_DIR/received" | cut -d. -f1 | sort | uniq -c)"
TOKEN_A=$(awk '$1 == "a" { print $3; exit }' "$T_DIR/received")
TOKEN_B=$(awk '$1 == "b" { print $3; exit }' "$T_DIR/received")
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WEB_PORT/u/$TOKEN_A")
[ "$code" = 200 ] && t_ok "herald-web over TCP (node b's configuration) accepts node a's token" || t_fail "web token a" "$code; $(tail -3 "$C/web.log")"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WEB_PORT/u/$TOKEN_B")
[ "$code" = 200 ] && t_ok "and node b's" || t_fail "web token b" "$code"
t_check "herald token verify on node a accepts node b's token" "$HERALD_BIN" "${A[@]}" token verify "$TOKEN_B"
t_check "herald status on node a" "$HERALD_BIN" "${A[@]}" status
grep -Eq "^  node-a +alive" "$T_DIR/out" && grep -Eq "^  node-b +alive" "$T_DIR/out" &&
	t_ok "status shows both nodes alive" || t_fail "status nodes" "$(sed -n '/^NODES/,$p' "$T_DIR/out")"
t_check "contrib/demo-cluster stop" "$HERALD_SRCDIR/contrib/demo-cluster" stop "$C"
! kill -0 "$pid" 2>/dev/null && t_ok "the embedded server is stopped" || t_fail "server stopped" "pid $pid alive"
t_done
