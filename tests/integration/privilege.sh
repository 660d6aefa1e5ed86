#!/bin/bash
# privilege.sh - heraldd started as root runs as "user".
#
# With user = nobody and no state directory yet: heraldd creates it as
# root, gives it to nobody, and its master and workers run as nobody;
# the mailing is sent (workers read the token keys, from the database:
# no key file is written in the state directory, neither by heraldd nor
# by herald token make); at exit the pid file and the scoreboard are
# removed.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
[ "$(id -u)" = 0 ] || t_skip "heraldd must be started as root to drop to a user"
t_use_database
t_start_sink "$T_DIR/sink"
# nobody reaches the state directory through the test's own one.
chmod 711 "$T_DIR"
sed -i 's/^user =$/user = nobody/' "$T_CONFIG"
cat >>"$T_CONFIG" <<CONF
relay_port = $T_SINK_PORT
worker_count = 2
metrics_interval = 0
CONF
state="$T_DIR/state"
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}} {{unsubscribe_url}}" >"$T_DIR/t/text.mustache"
{ echo "email,first_name"; for i in $(seq 1 20); do echo "r$i@example.org,R$i"; done; } >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name one --template "$T_DIR/t" --segment all --from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
rm -rf "$state"

"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
for _ in $(seq 1 300); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	kill -0 $daemon 2>/dev/null || break
	sleep 0.2
done
[ "$(t_sql "SELECT sent_count FROM mailings WHERE id = 1")" = 20 ] &&
	t_ok "the mailing is sent by workers running as nobody" ||
	t_fail "mailing sent as nobody" "$(t_sql "SELECT state, sent_count, failed_count FROM mailings WHERE id = 1"); $(tail -5 "$T_DIR/heraldd.log")"
users=$(ps -o user= --ppid $daemon | sort -u | paste -sd,)
[ "$(ps -o user= -p $daemon)" = nobody ] && [ "$users" = nobody ] &&
	t_ok "master and workers run as nobody" || t_fail "processes run as nobody" "master $(ps -o user= -p $daemon), children $users"
grep -q "running as user nobody" "$T_DIR/heraldd.log" && t_ok "heraldd says so" || t_fail "heraldd logs the user" "$(head -5 "$T_DIR/heraldd.log")"
[ "$(stat -c %U "$state")" = nobody ] && t_ok "the state directory belongs to nobody" ||
	t_fail "state directory owner" "$(stat -c '%U %a' "$state")"
[ ! -e "$state/token-keys" ] && t_ok "no key file in the state directory: the keys are the database's" ||
	t_fail "no token key file" "$(ls -l "$state")"
[ -e "$state/heraldd.pid" ] && [ -e "$state/heraldd.scoreboard" ] &&
	t_ok "the pid file and scoreboard are in the state directory" || t_fail "pid file and scoreboard" "$(ls "$state")"
kill -TERM $daemon
wait $daemon
[ ! -e "$state/heraldd.pid" ] && [ ! -e "$state/heraldd.scoreboard" ] &&
	t_ok "both are removed at exit" || t_fail "pid file and scoreboard removed at exit" "$(ls -l "$state")"

# herald token make, as root, signs with the database's keys and
# writes no file either.
rm -rf "$state"
"$HERALD_BIN" token make 1 1 >/dev/null && [ ! -e "$state/token-keys" ] &&
	t_ok "herald token make writes no key file" || t_fail "token make writes no key file" "$(ls -l "$state" 2>&1)"

sed -i 's/^user = nobody$/user = no-such-user-here/' "$T_CONFIG"
t_expect_fail "a user that does not exist is refused at start" 1 \
	'user "no-such-user-here" \(configuration key user\) does not exist' "$HERALDD_BIN" -f
t_done
