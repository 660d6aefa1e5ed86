#!/bin/bash
# input_limits.sh - hostile input is refused clearly and bounded.
#
# An import of 16 MB of commas (one record of 16.7 million fields, which
# used to take 407 MB and pass without an error) is refused with its
# line and reason, in bounded memory, and the good rows still load; the
# reject file, which holds personal data, is mode 600 even when it
# existed before with another, and one that cannot be written fails the
# import. "N days ago" with a huge N is refused
# with the column (it overflowed). A recipient whose headers.mustache
# renders into a header herald writes itself (a value at the start of a
# line: Bcc, From, Content-Type) fails with the reason, in preview and
# when heraldd sends (no injected header reaches the relay). A bounce that
# cannot be read exits 75, so Postfix keeps it.
. "$HERALD_SRCDIR/tests/lib/common.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }

# --- CSV: one record of 16 MB of commas between two good rows ----------
{
	echo "email,first_name"
	echo "a@example.org,Ann"
	head -c $((16 * 1024 * 1024)) /dev/zero | tr '\0' ','
	echo
	echo "b@example.org,Bob"
} >"$T_DIR/commas.csv"
echo "stale" >"$T_DIR/rejects" && chmod 644 "$T_DIR/rejects"
/usr/bin/time -f "%M" -o "$T_DIR/rss" "$HERALD_BIN" import "$T_DIR/commas.csv" --reject "$T_DIR/rejects" \
	>"$T_DIR/out" 2>"$T_DIR/err"
status=$?
[ $status = 0 ] && grep -q "1 rejected" "$T_DIR/out" && [ "$(t_sql "SELECT COUNT(*) FROM recipients")" = 2 ] &&
	t_ok "16 MB of commas: that record rejected, the two good rows loaded" ||
	t_fail "16 MB of commas" "exit $status: $(cat "$T_DIR/out" "$T_DIR/err" | head -c 600)"
reason=$(head -c 200 "$T_DIR/rejects" | head -1 | cut -c1-80)
[[ $reason == '3,"record with more than 16384 fields'* ]] &&
	t_ok "the reject file names line 3 and the reason ($reason)" || t_fail "reject reason" "$reason"
rss=$(cat "$T_DIR/rss")
[ "$rss" -lt 200000 ] && t_ok "peak RSS ${rss} kB (it was 407 MB)" || t_fail "bounded memory" "peak RSS $rss kB"
[ "$(stat -c %a "$T_DIR/rejects")" = 600 ] &&
	t_ok "the reject file is mode 600, though it existed as 644" || t_fail "reject file mode" "$(stat -c %a "$T_DIR/rejects")"
printf 'email\nc@example.org\nnot-an-address\n' >"$T_DIR/one.csv"
(cd "$T_DIR" && umask 022 && "$HERALD_BIN" import one.csv >/dev/null 2>&1)
[ "$(stat -c %a "$T_DIR/one.csv.rejects")" = 600 ] &&
	t_ok "a new reject file is mode 600 under umask 022" ||
	t_fail "new reject file mode" "$(ls -l "$T_DIR"/*.rejects 2>&1)"

# A reject file that cannot be written (its file system full) fails the
# import with the reason: rejected rows must not vanish unseen.
mkdir -p "$T_DIR/full"
if mount -t tmpfs -o size=64k tmpfs "$T_DIR/full" 2>"$T_DIR/mount.err"; then
	t_at_exit "umount '$T_DIR/full' 2>/dev/null"
	dd if=/dev/zero of="$T_DIR/full/filler" bs=4k count=64 2>/dev/null
	t_expect_fail "a reject file that cannot be written fails the import" 1 \
		"rejects: cannot write the reject file: No space left on device" \
		"$HERALD_BIN" import "$T_DIR/one.csv" --reject "$T_DIR/full/rejects"
else
	t_fail "a full file system for the reject file" "cannot mount a tmpfs: $(cat "$T_DIR/mount.err")"
fi

# --- segments: "N days ago" with a huge N --------------------------------
for n in 99999999999999999999999 9223372036854775807 100001; do
	t_expect_fail "\"$n days ago\" is refused with the column" 1 \
		"column 20: \"$n days ago\": the number of days must be a whole number from 0 to 100000" \
		"$HERALD_BIN" segment count "last_donation_at > $n days ago"
done
t_check "\"100000 days ago\" is fine" "$HERALD_BIN" segment count "last_donation_at > 100000 days ago"

# --- headers.mustache rendered per recipient ------------------------------
t_sql "UPDATE recipients SET first_name = 'Bcc: victim@example.net' WHERE email = 'a@example.org'"
t_sql "UPDATE recipients SET first_name = 'Content-Type: text/html' WHERE email = 'b@example.org'"
mkdir -p "$T_DIR/t"
echo "Hello" >"$T_DIR/t/text.mustache"
printf 'X-Campaign: spring\n{{first_name}}\n' >"$T_DIR/t/headers.mustache"
t_check "a headers.mustache with a value at the start of a line passes the check with empty data" \
	"$HERALD_BIN" mailing create --name h --template "$T_DIR/t" --segment all --from a@herald.test --subject s
t_expect_fail "a recipient whose headers render a Bcc fails with the reason" 1 \
	"headers.mustache as rendered for this recipient: line 2: herald writes this header itself" \
	"$HERALD_BIN" preview 1 --recipient a@example.org
grep -q "victim" "$T_DIR/out" && t_fail "no message is printed" "$(head -5 "$T_DIR/out")" || t_ok "and no message is made"
t_expect_fail "so does one whose headers render a Content-Type" 1 "herald writes this header itself" \
	"$HERALD_BIN" preview 1 --recipient b@example.org
t_sql "UPDATE recipients SET first_name = 'X-Ok: fine' WHERE email = 'c@example.org'"
t_check "a recipient whose headers render an allowed header is built" "$HERALD_BIN" preview 1 --recipient c@example.org
grep -q "^X-Ok: fine" "$T_DIR/out" && t_ok "with that header" || t_fail "allowed header" "$(head -12 "$T_DIR/out")"

# And when heraldd sends: those two rows fail with the reason, the other
# is sent with its header, and no message carries the injected ones.
. "$HERALD_SRCDIR/tests/lib/sink.sh"
t_start_sink "$T_DIR/sink"
cat >>"$T_CONFIG" <<CONF
relay_port = $T_SINK_PORT
worker_count = 1
metrics_interval = 0
pid_file = $T_DIR/heraldd.pid
CONF
"$HERALD_BIN" stage >/dev/null 2>&1
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
for _ in $(seq 1 300); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	sleep 0.2
done
kill -TERM $daemon; wait $daemon
row() { t_sql "SELECT CONCAT(delivery_state, ' ', IFNULL(relay_reply, '')) FROM stage_1 WHERE email = '$1'"; }
[[ "$(row a@example.org)" == "failed not sent: "*"headers.mustache as rendered for this recipient: line 2: herald writes this header itself"* ]] &&
[[ "$(row b@example.org)" == "failed not sent: "*"headers.mustache as rendered"* ]] &&
	t_ok "heraldd fails those recipients with the reason" || t_fail "rows failed with the reason" "$(row a@example.org) | $(row b@example.org); $(tail -3 "$T_DIR/heraldd.log")"
[[ "$(row c@example.org)" == sent* ]] && grep -rlq "^X-Ok: fine" "$T_DIR/sink" &&
	t_ok "and sends the other with its header" || t_fail "the other is sent" "$(row c@example.org)"
grep -rliq "victim@example.net\|^Content-Type: text/html" "$T_DIR/sink" &&
	t_fail "no injected header reaches the relay" "$(grep -rli "victim" "$T_DIR/sink")" || t_ok "no injected header reaches the relay"

# --- herald bounce: a read error exits 75 ---------------------------------
t_expect_fail "a bounce that cannot be read exits 75 (Postfix keeps it)" 75 "read error.*try again later" \
	"$HERALD_BIN" bounce "$T_DIR"
t_done
