#!/bin/bash
# intake_burst.sh - intake under load: a burst of DSNs (default 2,000),
# each to a recipient's signed return path, mailed to a private Postfix
# whose pipe(8) transport runs "herald bounce" for the bounce domain, as
# contrib/postfix/main.cf shows. The test's own MariaDB is stopped for
# 10 s while the burst is being delivered: herald bounce exits 75, Postfix
# keeps those messages and retries them (retry timers shortened below).
# Then: every DSN is recorded exactly once (one bounces row per
# recipient, the mailing counts each once, every stage row bounced, every
# address suppressed), none lost (Postfix's queue is empty, nothing was
# returned), Postfix did defer some with herald's "try again later", and
# the rate is printed.
#
#   HERALD_INTAKE_COUNT   DSNs in the burst (default 2000: one herald
#                         bounce process per DSN makes the burst last
#                         minutes on a loaded box; tests/bench/intake.sh
#                         runs the 10,000 of issue #17)
#   HERALD_INTAKE_OUTAGE  seconds MariaDB is down (default 10; 0 = no
#                         outage: tests/bench/intake.sh measures that way)
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/postfix.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
N=${HERALD_INTAKE_COUNT:-2000}
OUTAGE=${HERALD_INTAKE_OUTAGE:-10}
[ -x /usr/sbin/mariadbd ] || t_skip "mariadbd is not installed (Debian package mariadb-server)"

# MariaDB of our own: stopping the shared test server would break the
# tests running beside this one.
db=$T_DIR/db
mkdir -p "$db/tmp"
chmod 711 "$T_DIR" "$db"
mariadb-install-db --no-defaults --datadir="$db/data" --user=root \
	--auth-root-authentication-method=normal --skip-test-db \
	>"$T_DIR/install-db.log" 2>&1 || t_skip "mariadb-install-db failed: $(tail -3 "$T_DIR/install-db.log")"
db_pid=""
start_db() {
	/usr/sbin/mariadbd --no-defaults --datadir="$db/data" --socket="$db/mysqld.sock" \
	    --pid-file="$db/mariadb.pid" --skip-networking --user=root \
	    --log-error="$db/error.log" --tmpdir="$db/tmp" &
	db_pid=$!
	for _ in $(seq 1 300); do
		mariadb-admin --no-defaults --socket="$db/mysqld.sock" -uroot ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
stop_db() {
	kill "$db_pid" && wait "$db_pid"
}
start_db || t_skip "MariaDB did not start: $(tail -3 "$db/error.log")"
t_at_exit 'kill $db_pid 2>/dev/null; wait $db_pid 2>/dev/null'
sql() {
	mariadb --no-defaults --socket="$db/mysqld.sock" -uroot --batch \
	    --skip-column-names herald -e "$1"
}

t_start_sink "$T_DIR/sink"
T_CONFIG=$T_DIR/herald.conf
export HERALD_CONFIG=$T_CONFIG
cat >"$T_CONFIG" <<CONF
state_directory = $T_DIR/state
sql_directory = $HERALD_SRCDIR/sql
database_socket = $db/mysqld.sock
user =
relay_port = $T_SINK_PORT
worker_count = 2
relay_session_size = 500
bounce_domain = bounce.test
message_domain = herald.test
pid_file = $T_DIR/heraldd.pid
metrics_interval = 0
postfix_config_directory =
CONF
# The pipe runs as nobody (pipe(8) refuses root): it reads this file.
chmod 644 "$T_CONFIG"

# A mailing of N recipients, sent to the sink: their messages carry the
# signed return paths the DSNs go back to.
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
awk -v n="$N" 'BEGIN { print "email,first_name"; for (i = 1; i <= n; i++)
	printf "g%d@gone.test,G%d\n", i, i }' >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name burst --template "$T_DIR/t" --segment all \
	--from a@herald.test --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 1200); do
	[ "$(sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	sleep 0.25
done
kill -TERM $daemon; wait $daemon
[ "$(sql "SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'sent'")" = "$N" ] ||
	{ t_fail "the mailing was sent" "$(tail -3 "$T_DIR/heraldd.log")"; t_done; }
find "$T_DIR/sink" -type f -print0 | xargs -0 awk '
	/^X-Mail-Args:/ { path = $2 }
	/^X-Rcpt-Args:/ { print path, $2; nextfile }' | tr -d '<>' >"$T_DIR/paths"
[ "$(sort -u "$T_DIR/paths" | wc -l)" = "$N" ] ||
	{ t_fail "the sink has every return path" "$(wc -l <"$T_DIR/paths") of $N"; t_done; }
rm -rf "$T_DIR/sink"
# herald bounce, as nobody, reads the token keys that check signatures.
chown -R nobody "$T_DIR/state"

# Postfix: bounce.test to the pipe, one recipient per delivery, and
# retries within seconds (a DSN deferred while the database is down comes
# back soon).
t_start_postfix "$T_SINK_PORT" \
	"transport_maps = inline:{bounce.test=herald-bounce:}" \
	"herald-bounce_destination_recipient_limit = 1" \
	"queue_run_delay = 1s" "minimal_backoff_time = 1s" "maximal_backoff_time = 2s"
cat >>"$T_DIR/postfix/conf/master.cf" <<CF
herald-bounce unix - n n - - pipe
  flags=Rq user=nobody argv=$HERALD_BIN --config $T_CONFIG bounce --recipient \${recipient}
CF
t_postfix reload >/dev/null 2>&1 || t_fail "Postfix reloads with the pipe transport" "$(tail -3 "$(t_postfix_log)")"
log=$(t_postfix_log)

# The burst: four SMTP connections mail the N DSNs as fast as Postfix
# takes them.
recorded() { sql "SELECT COUNT(*) FROM bounces WHERE mailing_id = 1" 2>/dev/null; }
start=$(date +%s.%N)
python3 - "$T_POSTFIX_PORT" "$T_DIR/paths" >"$T_DIR/burst.log" 2>&1 <<'PY' &
import smtplib, sys, threading
port, paths = int(sys.argv[1]), [l.split() for l in open(sys.argv[2])]
DSN = ("From: MAILER-DAEMON@remote.test\r\nTo: {rp}\r\n"
       "Subject: Undelivered Mail Returned to Sender\r\n"
       "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n"
       "\r\n--b\r\nContent-Type: text/plain\r\n\r\nNo such user.\r\n"
       "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
       "Reporting-MTA: dns; remote.test\r\n\r\n"
       "Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
       "Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: no such user\r\n\r\n--b--\r\n")
def send(share):
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as s:
        for rp, rcpt in share:
            s.sendmail("", [rp], DSN.format(rp=rp, rcpt=rcpt))
threads = [threading.Thread(target=send, args=(paths[i::4],)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print("sent", len(paths))
PY
burst=$!

# The outage, while the burst is being delivered: once a tenth is in.
if [ "$OUTAGE" -gt 0 ]; then
	for _ in $(seq 1 1200); do
		[ "$(recorded)" -ge $((N / 10)) ] && break
		sleep 0.1
	done
	stop_db
	sleep "$OUTAGE"
	before_restart=$(grep -c "relay=herald-bounce.*status=deferred" "$log")
	start_db || { t_fail "MariaDB restarts" "$(tail -3 "$db/error.log")"; t_done; }
fi
wait $burst || t_fail "the burst was mailed" "$(tail -3 "$T_DIR/burst.log")"
burst_end=$(date +%s.%N)
# Done when all are recorded and Postfix holds nothing more (at most
# 5 minutes).
for _ in $(seq 1 3000); do
	[ "$(recorded)" = "$N" ] &&
	    [ -z "$(find "$T_DIR/postfix/queue/active" "$T_DIR/postfix/queue/deferred" \
		"$T_DIR/postfix/queue/incoming" -type f 2>/dev/null | head -1)" ] && break
	sleep 0.1
done
end=$(date +%s.%N)
echo "burst mailed after $(echo "$burst_end - $start" | bc) s; recorded $(recorded); last delivery to the pipe: $(grep "relay=herald-bounce.*status=sent" "$log" | tail -1 | cut -c1-15); now $(date '+%b %d %T')"

if [ "$OUTAGE" -gt 0 ]; then
	[ "$before_restart" -gt 0 ] &&
	    grep "relay=herald-bounce.*status=deferred" "$log" | grep -q "try again later" &&
		t_ok "while MariaDB was down herald bounce exited 75 and Postfix deferred ($before_restart deferrals)" ||
		t_fail "deferred while the database was down" "$before_restart deferrals; $(grep "relay=herald-bounce" "$log" | grep -v status=sent | tail -2)"
fi
counts=$(sql "SELECT CONCAT_WS(' ', (SELECT COUNT(*) FROM bounces WHERE mailing_id = 1),
	(SELECT COUNT(DISTINCT recipient_id) FROM bounces WHERE mailing_id = 1),
	(SELECT bounced_count FROM mailings WHERE id = 1),
	(SELECT COUNT(*) FROM stage_1 WHERE delivery_state = 'bounced'),
	(SELECT COUNT(*) FROM recipients WHERE status = 'bounced'),
	(SELECT COUNT(*) FROM suppressions WHERE reason = 'bounced'))")
[ "$counts" = "$N $N $N $N $N $N" ] &&
	t_ok "all $N DSNs recorded exactly once (bounces, mailing count, stage rows, recipients, suppressions)" ||
	t_fail "recorded exactly once" "bounces, distinct, bounced_count, stage, recipients, suppressions: $counts"
sent=$(grep -c "relay=herald-bounce.*status=sent" "$log")
returned=$(grep -c "status=bounced" "$log")
queued=$(find "$T_DIR/postfix/queue/active" "$T_DIR/postfix/queue/deferred" "$T_DIR/postfix/queue/incoming" -type f | wc -l)
[ "$sent" = "$N" ] && [ "$returned" = 0 ] && [ "$queued" = 0 ] &&
	t_ok "none lost: Postfix delivered each to the pipe once, returned none, holds none" ||
	t_fail "none lost" "$sent delivered to the pipe, $returned returned, $queued still queued"
seconds=$(echo "$end - $start" | bc)
rate=$(echo "scale=0; $N / $seconds" | bc)
echo "intake: $N DSNs through Postfix's pipe into herald bounce in ${seconds%.*} s: $rate DSN/s (MariaDB down ${OUTAGE} s of it; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
t_done
