#!/bin/bash
# relay_tls_auth.sh - a relay that needs STARTTLS and AUTH: a private
# Postfix submission service with a certificate from a CA this test
# makes and Cyrus SASL (sasldb), relaying to smtp-sink.
#  - a certificate that does not name the relay (relay_host = localhost)
#    and one from another CA are refused under relay_tls = required:
#    nothing is sent, the password never reaches the server;
#  - a wrong password is refused with the server's reply, the relay is
#    marked down (no retry storm) and no message fails;
#  - with the right password every message arrives, over TLS and
#    authenticated (the Received: header Postfix added says both);
#  - per route (route_tls, route_auth_user): the route's domain goes
#    over TLS and AUTH, the others plain and direct, from one worker;
#  - a password file others may read, and AUTH without required TLS,
#    are refused by config check.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/postfix.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
command -v saslpasswd2 >/dev/null ||
	t_skip "saslpasswd2 is not installed (Debian package sasl2-bin)"
ls /usr/lib/*/sasl2/libsasldb.so >/dev/null 2>&1 ||
	t_skip "the sasldb plugin is not installed (Debian package libsasl2-modules-db)"
t_use_database
t_start_sink "$T_DIR/sink"

# The CA, the relay's certificate (relay.herald.test and 127.0.0.1, not
# localhost), and a second CA nobody trusts.
pki=$T_DIR/pki
mkdir -p "$pki"
make_ca() {	# NAME
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/$1.key" \
	    -out "$pki/$1.pem" -days 2 -subj "/CN=herald test $1" 2>/dev/null
}
make_ca ca && make_ca other-ca &&
openssl req -newkey rsa:2048 -nodes -keyout "$pki/server.key" \
    -out "$pki/server.csr" -subj "/CN=relay.herald.test" 2>/dev/null &&
printf 'subjectAltName=DNS:relay.herald.test,IP:127.0.0.1\n' >"$pki/san" &&
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" \
    -CAkey "$pki/ca.key" -CAcreateserial -days 2 -extfile "$pki/san" \
    -out "$pki/server.pem" 2>/dev/null || { t_fail "openssl" "cannot make the certificates"; t_done; }

# The SASL user, in a sasldb only this Postfix reads. Debian's Postfix
# reads CONFIG_DIRECTORY/sasl/smtpd.conf (and ignores
# cyrus_sasl_config_path, which upstream's reads): set both.
sasl=$T_DIR/postfix/conf/sasl
mkdir -p "$sasl"
realm=herald-test.localdomain
password='right horse battery staple'
cat >"$sasl/smtpd.conf" <<CONF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $sasl/sasldb2
CONF
printf '%s' "$password" | saslpasswd2 -p -c -f "$sasl/sasldb2" -u "$realm" herald ||
	{ t_fail "saslpasswd2" "cannot create the user"; t_done; }
chmod 755 "$T_DIR/postfix" "$T_DIR/postfix/conf" "$sasl"
chown postfix "$sasl/sasldb2"
chmod 600 "$sasl/sasldb2"

# Submission: TLS offered, AUTH only over TLS, and only authenticated
# clients may relay (loopback is no longer trusted).
t_start_postfix "$T_SINK_PORT" \
	"smtpd_tls_security_level = may" \
	"smtpd_tls_cert_file = $pki/server.pem" \
	"smtpd_tls_key_file = $pki/server.key" \
	"smtpd_tls_auth_only = yes" \
	"smtpd_tls_received_header = yes" \
	"smtpd_sasl_auth_enable = yes" \
	"smtpd_sasl_type = cyrus" \
	"smtpd_sasl_path = smtpd" \
	"cyrus_sasl_config_path = $sasl" \
	"smtpd_sasl_local_domain = $realm" \
	"smtpd_sasl_authenticated_header = yes" \
	"mynetworks =" \
	"smtpd_relay_restrictions = permit_sasl_authenticated, reject" \
	"smtpd_recipient_restrictions = permit_sasl_authenticated, reject" \
	"debug_peer_list = 127.0.0.1" "debug_peer_level = 1"
log=$(t_postfix_log)

printf 'wrong password\n' >"$T_DIR/password"
chmod 600 "$T_DIR/password"
base_config=$(cat "$T_CONFIG")
configure() {	# HOST CA_FILE: the relay settings of this phase
	cat >"$T_CONFIG" <<CONF
$base_config
relay_host = $1
relay_port = $T_POSTFIX_PORT
relay_tls = required
relay_tls_ca_file = $2
relay_auth_user = herald
relay_auth_password_file = $T_DIR/password
relay_timeout = 10
metrics_interval = 0
postfix_config_directory =
worker_count = 1
relay_session_size = 20
pid_file = $T_DIR/heraldd.pid
CONF
}
wait_for() {	# PATTERN FILE: up to 30 s
	for _ in $(seq 1 300); do
		grep -q -- "$1" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
stage_count() {	# STATE
	t_sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = '$1'"
}

configure localhost "$pki/ca.pem"
t_check "the TLS and AUTH keys pass config check" "$HERALD_BIN" config check
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
awk 'BEGIN { print "email,first_name"; for (i = 1; i <= 20; i++)
	printf "r%d@example.net,R%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name tls --template "$T_DIR/t" --segment all \
	--from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1

"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"

# 1. A certificate that does not name the host herald connects to.
if wait_for "TLS with localhost:$T_POSTFIX_PORT failed.*hostname mismatch" "$T_DIR/heraldd.log"; then
	t_ok "a certificate for another host name is refused under relay_tls = required"
else
	t_fail "hostname mismatch refused" "$(tail -5 "$T_DIR/heraldd.log")"
fi
grep -q "relay localhost:$T_POSTFIX_PORT is down" "$T_DIR/heraldd.log" &&
	t_ok "that relay is marked down" || t_fail "marked down" "$(tail -5 "$T_DIR/heraldd.log")"
if grep -q "sasl_method" "$log"; then
	t_fail "no AUTH over a refused TLS session" "$(grep sasl_method "$log" | tail -2)"
else
	t_ok "the password was not sent to a server whose certificate failed"
fi

# 2. A certificate from a CA that relay_tls_ca_file does not hold.
# (heraldd reloads by itself when its configuration file changes.)
configure 127.0.0.1 "$pki/other-ca.pem"
if wait_for "TLS with 127.0.0.1:$T_POSTFIX_PORT failed.*certificate verify failed" "$T_DIR/heraldd.log"; then
	t_ok "a certificate from an untrusted CA is refused"
else
	t_fail "untrusted CA refused" "$(tail -5 "$T_DIR/heraldd.log")"
fi

# 3. The right certificate, a wrong password.
configure 127.0.0.1 "$pki/ca.pem"
if wait_for "refused AUTH as herald: 535" "$T_DIR/heraldd.log"; then
	t_ok "a wrong password is refused with the server's reply"
else
	t_fail "wrong password" "$(tail -5 "$T_DIR/heraldd.log")"
fi
wait_for "relay 127.0.0.1:$T_POSTFIX_PORT is down (refused" "$T_DIR/heraldd.log" &&
	t_ok "the relay is marked down after the refused AUTH" ||
	t_fail "marked down after AUTH" "$(tail -5 "$T_DIR/heraldd.log")"
sleep 4	# what a retry storm would fill; the first retry is 5 s away
tries=$(grep -c "warning: .*SASL [A-Z0-9-]* authentication failed" "$log")
sessions=$(grep -c "auth=0/" "$log")
[ "$tries" = 1 ] && [ "$sessions" = 1 ] &&
	t_ok "no retry storm: one session, one refused AUTH (no other mechanism tried) in the first seconds" ||
	t_fail "retry storm" "$tries refused AUTH in $sessions sessions"
failed=$(stage_count failed)
[ "$(t_sink_count "$T_DIR/sink")" = 0 ] && [ "$failed" = 0 ] &&
	! grep "auth=0/" "$log" | grep -q "mail=" &&
	t_ok "no MAIL command after the refused AUTH, nothing sent, no message failed (all 20 wait)" ||
	t_fail "nothing lost" "sink $(t_sink_count "$T_DIR/sink"), failed $failed; $(grep "auth=0/" "$log" | tail -2)"

# 4. The right password: everything arrives over TLS, authenticated.
printf '%s\n' "$password" >"$T_DIR/password"
kill -HUP $daemon
for _ in $(seq 1 600); do
	[ "$(stage_count sent)" = 20 ] && break
	sleep 0.1
done
[ "$(stage_count sent)" = 20 ] && t_ok "with the right password all 20 messages were sent" ||
	t_fail "all sent" "$(stage_count sent) sent; $(tail -15 "$T_DIR/heraldd.log")"
for _ in $(seq 1 100); do
	[ "$(t_sink_count "$T_DIR/sink")" -ge 20 ] && break
	sleep 0.1
done
tls=$(grep -l -A3 "^Received: from" -r "$T_DIR/sink" | xargs -r grep -l "using TLSv1\.[23]" | wc -l)
authenticated=$(grep -l "(Authenticated sender: herald@$realm)" -r "$T_DIR/sink" | wc -l)
esmtpsa=$(grep -l "with ESMTPSA" -r "$T_DIR/sink" | wc -l)
[ "$(t_sink_count "$T_DIR/sink")" = 20 ] && [ "$tls" = 20 ] && [ "$authenticated" = 20 ] && [ "$esmtpsa" = 20 ] &&
	t_ok "20 messages arrived, each over TLS and authenticated as herald" ||
	t_fail "arrived over TLS, authenticated" "$(t_sink_count "$T_DIR/sink") arrived, TLS $tls, authenticated $authenticated, ESMTPSA $esmtpsa"
[ "$(stage_count failed)" = 0 ] && t_ok "no message failed" || t_fail "no failure" "$(stage_count failed) failed"
kill -TERM $daemon; wait $daemon

# 5. Per route: example.org's relay is the submission service (TLS and
# AUTH through libESMTP), everyone else goes straight to the sink over
# plain SMTP (herald's pipelined client), in the same workers.
cat >"$T_CONFIG" <<CONF
$base_config
relay_host = 127.0.0.1
relay_port = $T_SINK_PORT
relay_tls_ca_file = $pki/ca.pem
route example.org = 127.0.0.1:$T_POSTFIX_PORT
route_tls example.org = required
route_auth_user example.org = herald
route_auth_password_file example.org = $T_DIR/password
relay_timeout = 10
metrics_interval = 0
postfix_config_directory =
worker_count = 1
relay_session_size = 20
pid_file = $T_DIR/heraldd.pid
CONF
printf 'email,first_name\n' >"$T_DIR/o.csv"
for i in $(seq 1 10); do printf 'o%d@example.org,O%d\n' "$i" "$i"; done >>"$T_DIR/o.csv"
"$HERALD_BIN" import "$T_DIR/o.csv" >/dev/null
"$HERALD_BIN" mailing create --name routed --template "$T_DIR/t" --segment all \
	--from a@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
"$HERALDD_BIN" -f >"$T_DIR/heraldd2.log" 2>&1 &
daemon=$!
for _ in $(seq 1 600); do
	[ "$(t_sql "SELECT COUNT(*) FROM stage_2 WHERE delivery_state = 'sent'")" = 30 ] && break
	sleep 0.1
done
for _ in $(seq 1 100); do
	[ "$(grep -l "^Message-ID: <herald\.2\." -r "$T_DIR/sink" | wc -l)" -ge 30 ] && break
	sleep 0.1
done
kill -TERM $daemon; wait $daemon
mailing2() {	# DOMAIN: the messages of mailing 2 to DOMAIN in the sink
	grep -l "^Message-ID: <herald\.2\." -r "$T_DIR/sink" | xargs -r grep -l "^X-Rcpt-Args: <[a-z][0-9]*@$1>"
}
org=$(mailing2 example.org | wc -l)
org_secure=$(mailing2 example.org | xargs -r grep -l "(Authenticated sender: herald@$realm)" | xargs -r grep -l "using TLSv1\.[23]" | wc -l)
net=$(mailing2 example.net | wc -l)
net_direct=$(mailing2 example.net | xargs -r grep -L "by herald-test.localdomain" | wc -l)
[ "$org" = 10 ] && [ "$org_secure" = 10 ] && [ "$net" = 20 ] && [ "$net_direct" = 20 ] &&
	t_ok "route_tls and route_auth_user: example.org over TLS and AUTH via its route, the others plain and direct" ||
	t_fail "per-route TLS and AUTH" "example.org $org ($org_secure over TLS and AUTH), example.net $net ($net_direct direct); $(tail -3 "$T_DIR/heraldd2.log")"

[ "$T_FAILED" = 0 ] || { echo "Postfix's log:"; grep -i "sasl\|tls\|warning\|error" "$log" | grep -v "overriding earlier" | tail -20;
	echo "the last SMTP dialogue Postfix saw:"; grep -E "smtpd\[[0-9]+\]: (< |> |disconnect|connect from)" "$log" | tail -40; echo "heraldd's log:"; cat "$T_DIR/heraldd.log"; t_sql "SELECT * FROM batches\G"; t_sql "SELECT id, state FROM mailings"; ps -ef | grep "[h]eraldd"; "$HERALD_BIN" status; }

# 6. What config check refuses.
configure 127.0.0.1 "$pki/ca.pem"
chmod 644 "$T_DIR/password"
t_expect_fail "a password file others can read is refused" 1 "lets other users read it" \
	"$HERALD_BIN" config check
chmod 600 "$T_DIR/password"
sed -i 's/^relay_tls = required/relay_tls = opportunistic/' "$T_CONFIG"
t_expect_fail "AUTH without relay_tls = required is refused" 1 "relay_auth_user needs relay_tls = required" \
	"$HERALD_BIN" config check
printf 'relay_tls = sometimes\n' >"$T_DIR/bad.conf"
t_expect_fail "a bad relay_tls is refused with FILE:LINE" 1 'bad.conf:1: key "relay_tls": expected none, opportunistic or required' \
	"$HERALD_BIN" config check --config "$T_DIR/bad.conf"
printf 'route_tls example.org = required\n' >"$T_DIR/bad.conf"
t_expect_fail "route_tls for a domain without a route is refused" 1 'bad.conf:1: route_tls example.org: there is no "route example.org = HOST" line' \
	"$HERALD_BIN" config check --config "$T_DIR/bad.conf"
printf 'route example.org = 127.0.0.1:2525\nroute_tls example.org = opportunistic\nroute_auth_user example.org = u\nroute_auth_password_file example.org = %s\n' \
	"$T_DIR/password" >"$T_DIR/bad.conf"
t_expect_fail "a route's AUTH without its route_tls = required is refused" 1 'bad.conf:3: route_auth_user example.org needs route_tls example.org = required' \
	"$HERALD_BIN" config check --config "$T_DIR/bad.conf"
sed -i 's/= opportunistic/= required/' "$T_DIR/bad.conf"
t_check "a route with required TLS and AUTH passes config check" "$HERALD_BIN" config check --config "$T_DIR/bad.conf"
t_done
