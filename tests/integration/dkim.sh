#!/bin/bash
# dkim.sh - DKIM, checked: a private Postfix with OpenDKIM as its milter
# (contrib/postfix/opendkim.conf and main-dkim.cf, with a key this test
# makes) relays a herald mailing to smtp-sink; every delivered message
# carries a DKIM signature of the From domain that python3-dkim verifies
# and that covers List-Unsubscribe and List-Unsubscribe-Post (RFC 8058).
# A message whose List-Unsubscribe was changed on the way fails.
# (python3 -I: tests/lib/click.py must not stand in for the click module
# that python3-dkim's DNS layer imports.)
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/postfix.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
[ -x /usr/sbin/opendkim ] && command -v opendkim-genkey >/dev/null ||
	t_skip "OpenDKIM is not installed (Debian packages opendkim, opendkim-tools)"
/usr/bin/python3 -c "import dkim" 2>/dev/null ||
	t_skip "python3-dkim is not installed (Debian package python3-dkim)"
t_use_database
t_start_sink "$T_DIR/sink"

# The key, and OpenDKIM run from the contrib file with this test's key,
# port and paths. RequireSafeKeys checks every directory up to / and
# refuses /tmp (writable by all): the test's files live there, so it is
# off here; contrib's file keeps it on.
keys=$T_DIR/dkim
mkdir -p "$keys" && chmod 700 "$keys"
opendkim-genkey -b 2048 -d example.org -s herald -D "$keys" ||
	{ t_fail "opendkim-genkey" "cannot make a key"; t_done; }
milter_port=$(t_free_port)
sed -e "s|^KeyFile.*|KeyFile $keys/herald.private|" \
    -e "s|^Socket.*|Socket inet:$milter_port@127.0.0.1|" \
    -e "s|^PidFile.*|PidFile $T_DIR/opendkim.pid|" \
    -e "/^UserID/d" -e "s|^Syslog.*|Syslog no|" \
    -e "s|^RequireSafeKeys.*|RequireSafeKeys no|" \
    "$HERALD_SRCDIR/contrib/postfix/opendkim.conf" >"$T_DIR/opendkim.conf"
/usr/sbin/opendkim -f -x "$T_DIR/opendkim.conf" >"$T_DIR/opendkim.log" 2>&1 &
milter=$!
t_at_exit "kill $milter 2>/dev/null"
for _ in $(seq 1 50); do
	python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" \
	    "$milter_port" 2>/dev/null && break
	sleep 0.1
done
kill -0 $milter 2>/dev/null || { t_fail "opendkim starts" "$(cat "$T_DIR/opendkim.log")"; t_done; }

# Postfix with contrib/postfix/main-dkim.cf's lines, on our milter port.
mapfile -t dkim_lines < <(sed -n '/^[a-z_]* *=/p' "$HERALD_SRCDIR/contrib/postfix/main-dkim.cf" |
	sed "s|inet:127.0.0.1:8891|inet:127.0.0.1:$milter_port|")
t_start_postfix "$T_SINK_PORT" "${dkim_lines[@]}"

cat >>"$T_CONFIG" <<CONF
relay_port = $T_POSTFIX_PORT
worker_count = 1
metrics_interval = 0
postfix_config_directory =
pid_file = $T_DIR/heraldd.pid
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
awk 'BEGIN { print "email,first_name"; for (i = 1; i <= 10; i++)
	printf "r%d@example.net,R%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name dkim --template "$T_DIR/t" --segment all \
	--from news@example.org --subject "Signed" >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 300); do
	[ "$(t_sink_count "$T_DIR/sink")" -ge 10 ] && break
	sleep 0.1
done
kill -TERM $daemon; wait $daemon
[ "$(t_sink_count "$T_DIR/sink")" = 10 ] && t_ok "10 messages went through Postfix and OpenDKIM" ||
	t_fail "delivered" "$(t_sink_count "$T_DIR/sink") of 10; $(tail -3 "$T_DIR/heraldd.log"; tail -3 "$(t_postfix_log)")"

if /usr/bin/python3 -I "$HERALD_SRCDIR/tests/lib/dkim_verify.py" "$keys/herald.txt" example.org \
    $(find "$T_DIR/sink" -type f) >"$T_DIR/verify.out" 2>&1 &&
    [ "$(grep -c ' ok ' "$T_DIR/verify.out")" = 10 ]; then
	t_ok "each message's DKIM signature of example.org verifies and covers List-Unsubscribe and List-Unsubscribe-Post"
else
	t_fail "signatures" "$(tail -5 "$T_DIR/verify.out")"
fi
# The check can fail: a List-Unsubscribe changed after signing.
one=$(find "$T_DIR/sink" -type f | head -1)
sed 's|^List-Unsubscribe: <|List-Unsubscribe: <https://evil.example/x>, <|' "$one" >"$T_DIR/forged"
grep -q "evil.example" "$T_DIR/forged" &&
	! /usr/bin/python3 -I "$HERALD_SRCDIR/tests/lib/dkim_verify.py" "$keys/herald.txt" example.org "$T_DIR/forged" >/dev/null 2>&1 &&
	t_ok "a message whose List-Unsubscribe was changed fails verification" ||
	t_fail "forged List-Unsubscribe" "it verified, or the header was not found"
# Oversigned: a second List-Unsubscribe added on the way (above the
# signed one, where receivers look first) breaks the signature too.
sed '0,/^List-Unsubscribe: /s||List-Unsubscribe: <https://evil.example/x>\n&|' "$one" >"$T_DIR/added"
[ "$(grep -c "^List-Unsubscribe: " "$T_DIR/added")" = 2 ] &&
	! /usr/bin/python3 -I "$HERALD_SRCDIR/tests/lib/dkim_verify.py" "$keys/herald.txt" example.org "$T_DIR/added" >/dev/null 2>&1 &&
	t_ok "a message with a second List-Unsubscribe added fails verification (oversigned)" ||
	t_fail "added List-Unsubscribe" "it verified, or the header was not added"
t_done
