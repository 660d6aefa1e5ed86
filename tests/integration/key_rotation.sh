#!/bin/bash
# key_rotation.sh - token keys in the database, rotated while two nodes
# and herald-web run, none restarted.
#
# The STATE/token-keys file an older version generated is imported by
# db init (so mail it signed keeps verifying) and signs; herald key list
# shows it without its secret. Two heraldd nodes (each its own state
# directory, both as the daemon's account) and herald-web (as the web's
# account) run; no configuration has a token_key line. Mailing 1 goes
# out signed with the old key. herald key rotate: mailing 2, sent by the
# same two nodes, is signed with the new key throughout; herald-web,
# started before the rotation, accepts the new tokens (it reads the keys
# again when a token names one it does not hold) and still the old
# ones; herald bounce and herald token verify accept both. herald key
# retire of the old key: its tokens are refused by herald token verify
# and herald bounce at once, and by the running herald-web within
# KEYRING_REFRESH_SECONDS. The key that signs cannot be retired, and
# retire of an unknown id fails naming it.
# The settings every node must share (cluster_settings.h) are recorded
# by db init; a third node whose message_domain differs sends nothing
# of mailing 3 and says why, while the two others send all of it.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
: "${HERALD_WEB_BIN:?HERALD_WEB_BIN is not set: run the tests with make check}"
t_use_database
N=40
t_start_sink "$T_DIR/sink-a"
PORT_A=$T_SINK_PORT
t_start_sink "$T_DIR/sink-b"
PORT_B=$T_SINK_PORT
WEB_PORT=$(t_free_port)
u=kr$$
cat >>"$T_CONFIG" <<CONF
worker_count = 1
batch_size = 5
relay_session_size = 5
metrics_interval = 0
message_domain = news.example.org
bounce_domain = bounce.example.org
web_listen = 127.0.0.1:$WEB_PORT
daemon_database_user = ${u}_d
daemon_database_password = daemon-password-$u
intake_database_user = ${u}_i
intake_database_password = intake-password-$u
web_database_user = ${u}_w
web_database_password = web-password-$u
CONF
chmod 600 "$T_CONFIG"
for r in d i w; do
	t_at_exit "t_sql \"DROP USER IF EXISTS '${u}_$r'@'localhost', '${u}_$r'@'%'\" >/dev/null 2>&1"
done
node_config() {	# NAME PORT
	grep -v '^state_directory' "$T_CONFIG" >"$T_DIR/$1.conf"
	cat >>"$T_DIR/$1.conf" <<CONF
state_directory = $T_DIR/state-$1
pid_file = $T_DIR/$1.pid
node_name = node-$1
relay_port = $2
rate_limit = 20/s
CONF
	chmod 600 "$T_DIR/$1.conf"
}
node_config a "$PORT_A"
node_config b "$PORT_B"

# An older version's generated key, in the operator's state directory.
OLD_SECRET=an-old-generated-secret-0123456789abcdef
mkdir -p "$T_DIR/state"
echo "old1 $OLD_SECRET" >"$T_DIR/state/token-keys"
chmod 600 "$T_DIR/state/token-keys"
t_check "db init imports the key file" "$HERALD_BIN" db init
grep -q "token key old1 imported from $T_DIR/state/token-keys" "$T_DIR/out" &&
	t_ok "db init says it imported old1" || t_fail "import reported" "$(cat "$T_DIR/out")"
grep -q '^cluster setting message_domain = "news.example.org" recorded$' "$T_DIR/out" &&
	t_ok "db init records the cluster's message settings" || t_fail "settings recorded" "$(cat "$T_DIR/out")"
t_check "db migrate again imports nothing twice" "$HERALD_BIN" db migrate
[ "$(t_sql "SELECT COUNT(*) FROM token_keys")" = 1 ] && ! grep -q "token key" "$T_DIR/out" &&
	t_ok "one key in the table after a second migrate" || t_fail "imported once" "$(t_sql "SELECT id FROM token_keys"); $(cat "$T_DIR/out")"
t_check "herald key list" "$HERALD_BIN" key list
grep -Eq "^old1 +signs +[0-9-]+ [0-9:]+  - +imported from $T_DIR/state/token-keys$" "$T_DIR/out" &&
	t_ok "list: old1 signs, imported from the file" || t_fail "key list" "$(cat "$T_DIR/out")"
! grep -q "$OLD_SECRET" "$T_DIR/out" "$T_DIR/err" && t_ok "list prints no secret" || t_fail "no secret" "$(cat "$T_DIR/out")"

mkdir -p "$T_DIR/t"
echo "Hello {{first_name}}" >"$T_DIR/t/text.mustache"
awk -v n=$N 'BEGIN { print "email,first_name"; for (i = 1; i <= n; i++) printf "k%d@example.net,K%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null || { t_fail "import" "failed"; t_done; }

"$HERALDD_BIN" -f -c "$T_DIR/a.conf" >"$T_DIR/a.log" 2>&1 &
node_a=$!
t_at_exit "kill $node_a 2>/dev/null"
"$HERALDD_BIN" -f -c "$T_DIR/b.conf" >"$T_DIR/b.log" 2>&1 &
node_b=$!
t_at_exit "kill $node_b 2>/dev/null"
"$HERALD_WEB_BIN" -f >"$T_DIR/web.log" 2>&1 &
web=$!
t_at_exit "kill $web 2>/dev/null"
for _ in $(seq 1 100); do grep -q "listening on" "$T_DIR/web.log" && break; sleep 0.1; done
grep -q "listening on" "$T_DIR/web.log" || { t_fail "herald-web starts" "$(cat "$T_DIR/web.log")"; t_done; }
# Both nodes registered, with their worker (each beats within 5 s).
for _ in $(seq 1 100); do
	[ "$(t_sql "SELECT COUNT(*) FROM nodes WHERE name IN ('node-a', 'node-b') AND workers = 1")" = 2 ] && break
	sleep 0.1
done

send() {	# MAILING: create, stage, wait until sent to every recipient
	"$HERALD_BIN" mailing create --name "m$1" --template "$T_DIR/t" --segment all \
		--from "News <news@example.org>" --subject "s$1" >/dev/null || return 1
	"$HERALD_BIN" stage >/dev/null 2>&1
	for _ in $(seq 1 300); do
		[ "$(t_sql "SELECT state FROM mailings WHERE id = $1")" = done ] && return 0
		sleep 0.1
	done
	return 1
}
# The unsubscribe tokens (List-Unsubscribe) and the return paths (the
# sink's X-Mail-Args) of MAILING's messages as received, one a line.
received() {	# tokens|return-paths MAILING [SINK-DIR...]
	local what=$1 mailing=$2
	shift 2
	[ $# -gt 0 ] || set -- "$T_DIR/sink-a" "$T_DIR/sink-b"
	"$PYTHON3" - "$what" "$mailing" "$@" <<'PY'
import email, os, re, sys
what, mailing = sys.argv[1], sys.argv[2]
for d in sys.argv[3:]:
    for name in sorted(os.listdir(d)):
        m = email.message_from_binary_file(open(os.path.join(d, name), "rb"))
        if what == "tokens":
            t = re.search(r"[?&]t=([A-Za-z0-9_.-]+)", str(m["List-Unsubscribe"]))
            if t and t.group(1).split(".")[1] == mailing:
                print(t.group(1))
        else:
            r = re.search(r"<(bounces\+(\d+)-[^>]*)>", str(m["X-Mail-Args"]))
            if r and r.group(2) == mailing:
                print(r.group(1))
PY
}
tokens_of() { received tokens "$1"; }
return_paths_of() { received return-paths "$1"; }
web_code() {	# TOKEN: herald-web's answer to a GET of its page
	curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WEB_PORT/u/$1"
}

send 1 && t_ok "mailing 1 sent by the two nodes" || t_fail "mailing 1" "$(t_sql "SELECT state, sent_count FROM mailings WHERE id = 1")"
tokens_of 1 >"$T_DIR/t1"
[ "$(wc -l <"$T_DIR/t1")" = $N ] && [ "$(cut -d. -f1 "$T_DIR/t1" | sort -u)" = old1 ] &&
	t_ok "its $N messages are signed with old1" || t_fail "mailing 1 keys" "$(cut -d. -f1 "$T_DIR/t1" | sort | uniq -c)"
[ "$(ls "$T_DIR/sink-a" | wc -l)" -gt 0 ] && [ "$(ls "$T_DIR/sink-b" | wc -l)" -gt 0 ] &&
	t_ok "both nodes sent part of it (rate_limit 20/s each)" || t_fail "both nodes" "a $(ls "$T_DIR/sink-a" | wc -l), b $(ls "$T_DIR/sink-b" | wc -l)"
OLD_TOKEN=$(head -1 "$T_DIR/t1")
OLD_RP=$(return_paths_of 1 | head -1)
[ "$(web_code "$OLD_TOKEN")" = 200 ] && t_ok "herald-web accepts an old1 token" || t_fail "web old1" "$(web_code "$OLD_TOKEN")"

t_check "herald key rotate" "$HERALD_BIN" key rotate
NEW=$(sed -n 's/^token key \([^ ]*\) signs from now on.*/\1/p' "$T_DIR/out")
[ "$NEW" = k2 ] && t_ok "rotate adds k2, which signs" || t_fail "rotate" "$(cat "$T_DIR/out")"
"$HERALD_BIN" key list >"$T_DIR/list"
grep -Eq "^old1 +verifies " "$T_DIR/list" && grep -Eq "^k2 +signs .* generated$" "$T_DIR/list" &&
	t_ok "list: old1 verifies, k2 signs" || t_fail "list after rotate" "$(cat "$T_DIR/list")"

send 2 && t_ok "mailing 2 sent by the same two nodes, not restarted" || t_fail "mailing 2" "$(t_sql "SELECT state, sent_count FROM mailings WHERE id = 2")"
tokens_of 2 >"$T_DIR/t2"
[ "$(wc -l <"$T_DIR/t2")" = $N ] && [ "$(cut -d. -f1 "$T_DIR/t2" | sort -u)" = k2 ] &&
	t_ok "every message of mailing 2 is signed with k2" || t_fail "mailing 2 keys" "$(cut -d. -f1 "$T_DIR/t2" | sort | uniq -c)"
[ "$(return_paths_of 2 | grep -c -- "-k2-")" = $N ] && t_ok "so are its $N return paths" ||
	t_fail "mailing 2 return paths" "$(return_paths_of 2 | head -3)"
a2=$(received tokens 2 "$T_DIR/sink-a" | wc -l); b2=$(received tokens 2 "$T_DIR/sink-b" | wc -l)
[ "$a2" -gt 0 ] && [ "$b2" -gt 0 ] && t_ok "both nodes signed part of it with k2 (a $a2, b $b2)" ||
	t_fail "both nodes sent mailing 2" "a $a2, b $b2"
kill -0 $node_a && kill -0 $node_b &&
	t_ok "both nodes still the same processes" || t_fail "nodes alive" "$(tail -3 "$T_DIR/a.log")"
NEW_TOKEN=$(head -1 "$T_DIR/t2")
NEW_RP=$(return_paths_of 2 | head -1)
[ "$(web_code "$NEW_TOKEN")" = 200 ] && t_ok "herald-web, started before the rotation, accepts a k2 token" ||
	t_fail "web k2" "$(web_code "$NEW_TOKEN"); $(tail -3 "$T_DIR/web.log")"
[ "$(web_code "$OLD_TOKEN")" = 200 ] && t_ok "and still an old1 token" || t_fail "web old1 after rotate" "$(web_code "$OLD_TOKEN")"
t_check "herald token verify: a token signed by the old key still verifies" "$HERALD_BIN" token verify "$OLD_TOKEN"

dsn() {	# RETURN-PATH: a DSN for it
	printf 'From: MAILER-DAEMON@example.net\nTo: %s\nSubject: failure\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\n\n--B\nContent-Type: text/plain\n\nfailed\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; x@example.net\nAction: failed\nStatus: 5.1.1\n\n--B--\n' "$1"
}
dsn "$OLD_RP" >"$T_DIR/dsn-old"
dsn "$NEW_RP" >"$T_DIR/dsn-new"
"$HERALD_BIN" bounce --recipient "$NEW_RP" "$T_DIR/dsn-new" >"$T_DIR/out" 2>"$T_DIR/err"
[ $? = 0 ] && ! grep -q refused "$T_DIR/err" && t_ok "herald bounce (intake account) accepts a k2 return path" ||
	t_fail "bounce k2" "$(cat "$T_DIR/err")"

t_expect_fail "the key that signs cannot be retired" 1 'key "k2" signs new tokens: run "herald key rotate" first' \
	"$HERALD_BIN" key retire k2
t_expect_fail "an unknown key cannot be retired" 1 'no token key "nokey"' "$HERALD_BIN" key retire nokey
t_check "herald key retire old1" "$HERALD_BIN" key retire old1
t_expect_fail "retired twice: refused, saying when" 1 'key "old1" was already retired at ' "$HERALD_BIN" key retire old1
t_expect_fail "a token signed by the retired key no longer verifies" 1 'key "old1", which is not among the keys in use' \
	"$HERALD_BIN" token verify "$OLD_TOKEN"
t_expect_fail "herald bounce refuses a return path of the retired key (exit 0, logged)" 0 'refused forged return path.*old1' \
	"$HERALD_BIN" bounce --recipient "$OLD_RP" "$T_DIR/dsn-old"
code=
for _ in $(seq 1 150); do
	code=$(web_code "$OLD_TOKEN")
	[ "$code" = 404 ] && break
	sleep 0.1
done
[ "$code" = 404 ] && t_ok "the running herald-web refuses it within its refresh interval" || t_fail "web retired" "$code"
[ "$(web_code "$NEW_TOKEN")" = 200 ] && t_ok "and still accepts k2's" || t_fail "web k2 after retire" "$(web_code "$NEW_TOKEN")"
"$HERALD_BIN" key list >"$T_DIR/list"
grep -Eq "^old1 +retired +[0-9-]+ [0-9:]+  [0-9-]+ [0-9:]+ " "$T_DIR/list" && t_ok "list: old1 retired, with when" ||
	t_fail "list after retire" "$(cat "$T_DIR/list")"
! grep -rq -e "$OLD_SECRET" -e "$(t_sql "SELECT secret FROM token_keys WHERE id = 'k2'")" "$T_DIR"/*.log &&
	t_ok "no secret in the nodes' or herald-web's logs" || t_fail "secrets in logs" "found"

# A node whose message_domain is not the cluster's.
t_start_sink "$T_DIR/sink-c"
node_config c "$T_SINK_PORT"
sed -i 's/^message_domain = .*/message_domain = other.example.org/' "$T_DIR/c.conf"
# Nodes a and b stopped (SIGSTOP, master and workers) so that node c
# claims the batches of mailing 3.
pause() {	# STOP|CONT
	for n in $node_a $node_b; do kill -$1 $n $(pgrep -P $n); done
}
pause STOP
"$HERALDD_BIN" -f -c "$T_DIR/c.conf" >"$T_DIR/c.log" 2>&1 &
node_c=$!
t_at_exit "kill $node_c 2>/dev/null"
t_at_exit "kill -CONT $node_a $node_b $(pgrep -P $node_a) $(pgrep -P $node_b) 2>/dev/null"
"$HERALD_BIN" mailing create --name m3 --template "$T_DIR/t" --segment all \
	--from "News <news@example.org>" --subject s3 >/dev/null && "$HERALD_BIN" stage >/dev/null 2>&1
for _ in $(seq 1 100); do grep -q "differs from the cluster's" "$T_DIR/c.log" && break; sleep 0.1; done
grep -q "this node's message_domain \"other.example.org\" differs from the cluster's \"news.example.org\"" "$T_DIR/c.log" &&
	t_ok "node c, whose message_domain differs, says so" || t_fail "node c's reason" "$(tail -3 "$T_DIR/c.log")"
pause CONT
for _ in $(seq 1 300); do [ "$(t_sql "SELECT state FROM mailings WHERE id = 3")" = done ] && break; sleep 0.1; done
sent=$(t_sql "SELECT sent_count FROM mailings WHERE id = 3")
[ "$(t_sql "SELECT state FROM mailings WHERE id = 3")" = done ] && [ "$(tokens_of 3 | wc -l)" = "$sent" ] && [ "$sent" -gt 0 ] &&
	[ "$(ls "$T_DIR/sink-c" | wc -l)" = 0 ] &&
	t_ok "node c sent nothing; nodes a and b sent all of mailing 3 ($sent)" ||
	t_fail "node c sent nothing" "state $(t_sql "SELECT state FROM mailings WHERE id = 3"), sent $sent, c $(ls "$T_DIR/sink-c" | wc -l), a+b $(tokens_of 3 | wc -l)"

# A token_key line whose id the database holds with another secret: not
# imported, and said so; such lines override the database, and herald key
# warns about it.
grep -v '^state_directory' "$T_CONFIG" >"$T_DIR/override.conf"
cat >>"$T_DIR/override.conf" <<CONF
state_directory = $T_DIR/state-override
token_key old1 = another-secret-that-is-not-old1s-0123456789
CONF
chmod 600 "$T_DIR/override.conf"
t_check "db migrate with a conflicting token_key line" "$HERALD_BIN" -c "$T_DIR/override.conf" db migrate
grep -q "token key old1 of $T_DIR/override.conf not imported: the database holds another key of that id" "$T_DIR/out" &&
	[ "$(t_sql "SELECT COUNT(*) FROM token_keys WHERE id = 'old1' AND secret = '$OLD_SECRET'")" = 1 ] &&
	t_ok "the conflict is reported and the stored key kept" || t_fail "import conflict" "$(cat "$T_DIR/out")"
t_check "key list with token_key lines" "$HERALD_BIN" -c "$T_DIR/override.conf" key list
grep -q "override.conf sets token_key, which overrides the database's keys on this node" "$T_DIR/err" &&
	t_ok "herald key warns that this node's lines override the database" || t_fail "override warning" "$(cat "$T_DIR/err")"
t_expect_fail "key without a verb" 2 'name a command: list, rotate or retire' "$HERALD_BIN" key
t_expect_fail "key retire without an id" 2 'name the key ID' "$HERALD_BIN" key retire
t_expect_fail "key list takes no argument" 2 'unexpected argument "x"' "$HERALD_BIN" key list x
t_done
