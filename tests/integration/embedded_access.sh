#!/bin/bash
# embedded_access.sh - who can reach the embedded MariaDB.
#
# The embedded server herald creates gives root unix_socket
# authentication (the system's root only, no password to leak or to be
# empty), and no account has an empty password. A local user other than
# heraldd's cannot even reach its socket (runuser -u nobody); heraldd's
# user reaches it but cannot log in as root; over TCP (embedded_port)
# root cannot log in without a password either.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
[ "$(id -u)" = 0 ] || t_skip "the embedded server's access is tested as root"
[ -x /usr/sbin/mariadbd ] || t_skip "mariadbd is not installed (Debian package mariadb-server)"
getent passwd daemon >/dev/null || t_skip "no system user daemon to stand for heraldd's user"
# Other users may pass through the test's directory: only the state
# directory's own modes keep them out.
chmod 711 "$T_DIR"
port=$(t_free_port)
E="$T_DIR/embedded.conf"
cat >"$E" <<CONF
state_directory = $T_DIR/emb
sql_directory = $HERALD_SRCDIR/sql
user = daemon
embedded_port = $port
daemon_database_user = emb_daemon
daemon_database_password = emb-daemon-password-0123
CONF
chmod 600 "$E"
t_at_exit "'$HERALD_BIN' --config '$E' db stop >/dev/null 2>&1"
t_check "the embedded server is created and started" "$HERALD_BIN" --config "$E" db init
sock="$T_DIR/emb/mariadb/mysqld.sock"
client() { mariadb --no-defaults --connect-timeout=5 --batch --skip-column-names "$@"; }

[ "$(client --socket="$sock" -uroot -e 'SELECT 1' 2>&1)" = 1 ] &&
	t_ok "the system's root logs in as root through the socket" || t_fail "root over the socket" "$(client --socket="$sock" -uroot -e 'SELECT 1' 2>&1)"
# root: unix_socket, or a password that matches nothing ("invalid").
root=$(client --socket="$sock" -uroot -e "SELECT CONCAT(JSON_SEARCH(priv, 'one', 'unix_socket') IS NOT NULL, JSON_VALUE(priv, '$.authentication_string')) FROM mysql.global_priv WHERE User = 'root' AND Host = 'localhost'")
[ "$root" = 1invalid ] && t_ok "root authenticates with unix_socket, no password" || t_fail "root's authentication" "$root"
empty=$(client --socket="$sock" -uroot -e "SELECT GROUP_CONCAT(CONCAT(User, '@', Host)) FROM mysql.global_priv WHERE IFNULL(JSON_VALUE(priv, '$.authentication_string'), '') = '' AND JSON_SEARCH(priv, 'one', 'unix_socket') IS NULL AND IFNULL(JSON_EXTRACT(priv, '$.account_locked'), 'false') <> 'true'")
[ "$empty" = NULL ] && t_ok "no account that can log in has an empty password" || t_fail "no empty password" "$empty"

out=$(runuser -u nobody -- mariadb --no-defaults --connect-timeout=5 --socket="$sock" -uroot -e 'SELECT 1' 2>&1)
[ $? != 0 ] && [[ $out == *"Can't connect"* ]] &&
	t_ok "a local user (nobody) cannot reach the socket" || t_fail "nobody cannot reach the server" "$out"
out=$(runuser -u nobody -- mariadb --no-defaults --connect-timeout=5 -h127.0.0.1 -P"$port" -uroot -e 'SELECT 1' 2>&1)
[ $? != 0 ] && [[ $out == *"Access denied"* ]] &&
	t_ok "nor log in as root over TCP without a password" || t_fail "nobody over TCP" "$out"
out=$(runuser -u daemon -- mariadb --no-defaults --connect-timeout=5 --socket="$sock" -uroot -e 'SELECT 1' 2>&1)
[ $? != 0 ] && [[ $out == *"Access denied"* ]] &&
	t_ok "heraldd's user reaches the socket but cannot log in as root" || t_fail "daemon user as root" "$out"
[ "$(stat -c '%U %a' "$T_DIR/emb")" = "daemon 700" ] && [ "$(stat -c '%U %G %a' "$T_DIR/emb/mariadb")" = "root daemon 750" ] &&
	t_ok "the state directory is the user's (700), the server's shared with its group (750)" ||
	t_fail "directory modes" "$(stat -c '%n %U %G %a' "$T_DIR/emb" "$T_DIR/emb/mariadb")"
t_done
