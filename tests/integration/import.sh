#!/bin/bash
# import.sh - herald import and herald segment against a real MariaDB:
# the csv-spectrum cases load to their expected values, every kind of
# bad input gets its documented outcome, HTTP and file:// sources stream,
# unreadable URLs fail without changing anything, replace swaps the whole
# table while keeping ids and suppressions, and a SIGKILLed import leaves
# recipients exactly as they were.
. "$HERALD_SRCDIR/tests/lib/common.sh"
t_use_database
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
cd "$T_DIR" || exit 1
snapshot() { t_sql "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, email, first_name, last_name, donated_total, status, attributes))), 0) FROM recipients"; }

# --- csv-spectrum: each file with an email column added, loaded --------------
spectrum="$HERALD_SRCDIR/../shared/testdata/csv-spectrum"
if [ -d "$spectrum/csvs" ]; then
	for csv in "$spectrum"/csvs/*.csv; do
		name=$(basename "$csv" .csv)
		# An independent reader (Python's csv) adds the column; the
		# values herald stores are compared with the suite's JSON.
		"$PYTHON3" - "$csv" "$name" >"$name.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))
w = csv.writer(sys.stdout, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
w.writerow(["email"] + rows[0])
for i, row in enumerate(rows[1:]):
    w.writerow(["%s-%d@spectrum.example" % (sys.argv[2].replace("_", "-"), i)] + row)
PY
		"$HERALD_BIN" import "$name.csv" >"$T_DIR/out" 2>"$T_DIR/err" ||
			t_fail "csv-spectrum $name imports" "$(cat "$T_DIR/err")"
	done
	t_sql "SELECT email, JSON_MERGE_PATCH(COALESCE(attributes, '{}'), JSON_OBJECT('address', address, 'city', city, 'state', state, 'zip', zip)) FROM recipients WHERE email LIKE '%@spectrum.example' ORDER BY email" >"$T_DIR/loaded.tsv"
	"$PYTHON3" - "$spectrum" "$T_DIR/loaded.tsv" <<'PY' >"$T_DIR/spectrum.out" 2>&1
import json, os, sys
spectrum, loaded = sys.argv[1], sys.argv[2]
got = {}
for line in open(loaded, encoding="utf-8"):
    email, attrs = line.rstrip("\n").split("\t", 1)
    attrs = attrs.encode().decode("unicode_escape").encode("latin-1").decode("utf-8")
    got[email] = {} if attrs == "NULL" else json.loads(attrs)
bad = files = 0
norm = lambda s: s.replace("\r\n", "\n")
for name in sorted(os.listdir(os.path.join(spectrum, "json"))):
    want = json.load(open(os.path.join(spectrum, "json", name)))
    want = want if isinstance(want, list) else [want]
    stem = name[:-5].replace("_", "-")
    files += 1
    for i, row in enumerate(want):
        have = got.get("%s-%d@spectrum.example" % (stem, i))
        for key, value in row.items():
            if name == "location_coordinates.json" and key == "Contact Phone Number":
                continue  # the suite's JSON disagrees with its own CSV
            if have is None or norm(have.get(key) or "") != norm(value):
                bad += 1
                print(name, i, key, repr(value), repr(None if have is None else have.get(key)))
print("%d files, %d mismatches" % (files, bad))
sys.exit(1 if bad else 0)
PY
	[ $? = 0 ] && t_ok "csv-spectrum: every file loads to its expected values ($(tail -1 "$T_DIR/spectrum.out"))" ||
		t_fail "csv-spectrum loads to its expected values" "$(tail -c 1500 "$T_DIR/spectrum.out")"
else
	echo "SKIPPED: csv-spectrum is not at $spectrum"
fi
t_sql "DELETE FROM recipients"

# --- good rows load, bad rows are rejected with line and reason -------------
printf 'email,first_name,donated_total,last_donation_at,Member Level\n' >good.csv
printf 'a@example.org,Ann,10,2026-01-02,gold\n' >>good.csv
printf 'bad-email,Bob,1,,\n' >>good.csv
printf 'c@example.org,C\xff,1,,\n' >>good.csv
printf 'd@example.org,D,1,2026-02-30,\n' >>good.csv
printf 'e@example.org,E,lots,,\n' >>good.csv
printf 'f@example.org,F,1\n' >>good.csv
printf 'g@example.org,G\0g,1,,\n' >>good.csv
printf 'A@EXAMPLE.ORG,Ann B,20,,platinum\n' >>good.csv
printf 'h@example.org,"H ""the"" Ho\nmulti-line",3,,\n' >>good.csv
printf 'i@example.org,%s,1,,\n' "$(head -c 101 /dev/zero | tr '\0' x)" >>good.csv
t_check "import with bad rows succeeds for the good ones" "$HERALD_BIN" import good.csv --reject rejects.csv
grep -q "10 rows read, 2 loaded (2 new, 0 updated), 1 duplicate (the last row won), 7 rejected" "$T_DIR/out" &&
	t_ok "the summary counts read, loaded, duplicates, rejected" || t_fail "the summary counts" "$(cat "$T_DIR/out")"
for want in '^3,"email ""bad-email"": missing' '^4,"invalid UTF-8 in first_name"' \
    '^5,"last_donation_at ""2026-02-30"" is not a date' '^6,"donated_total ""lots"" is not a number"' \
    '^7,"3 fields, but the header has 5"' '^8,"a NUL byte in first_name"' '^12,"first_name is longer than 100'; do
	grep -aq "$want" rejects.csv && t_ok "reject file: $want" || t_fail "reject file: $want" "$(cat -v rejects.csv)"
done
[ "$(t_sql "SELECT CONCAT(first_name, '/', donated_total, '/', JSON_VALUE(attributes, '$.\"Member Level\"')) FROM recipients WHERE email = 'a@example.org'")" = "Ann B/20.00/platinum" ] &&
	t_ok "duplicate address: the last row wins, domain lower-cased" ||
	t_fail "duplicate address: the last row wins" "$(t_sql "SELECT * FROM recipients")"
[ "$(t_sql "SELECT first_name FROM recipients WHERE email = 'h@example.org'" | head -c 12)" = 'H "the" Ho\n' ] &&
	t_ok "quoted field with quotes and a newline" || t_fail "quoted field with quotes and a newline" "$(t_sql "SELECT first_name FROM recipients WHERE email = 'h@example.org'")"

before=$(snapshot)
printf 'name,city\nx,y\n' >noemail.csv
t_expect_fail "a file without an email column fails at once" 1 'no email column' "$HERALD_BIN" import noemail.csv
: >empty.csv
t_expect_fail "an empty file fails" 1 'empty: expected a header row' "$HERALD_BIN" import empty.csv
printf 'email,first_name\n' >header.csv
t_check "a header-only file loads nothing" "$HERALD_BIN" import header.csv
grep -q "0 rows read, 0 loaded" "$T_DIR/out" && t_ok "and says so" || t_fail "and says so" "$(cat "$T_DIR/out")"
printf 'email,first_name\n"x@example.org,never closed\n' >unterminated.csv
t_check "an unterminated quote rejects its record" "$HERALD_BIN" import unterminated.csv --reject unterminated.rej
grep -q 'never closed' unterminated.rej && t_ok "with the reason" || t_fail "with the reason" "$(cat unterminated.rej)"
"$PYTHON3" -c "
import sys
cols = ['email'] + ['c%d' % i for i in range(9999)]
print(','.join(cols)); print(','.join(['wide@example.org'] + ['v'] * 9999))" >wide.csv
t_check "a 10,000-column row loads (extra columns are attributes)" "$HERALD_BIN" import wide.csv
[ "$(t_sql "SELECT JSON_LENGTH(attributes) FROM recipients WHERE email = 'wide@example.org'")" = 9999 ] &&
	t_ok "with 9,999 attributes" || t_fail "with 9,999 attributes" "$(t_sql "SELECT JSON_LENGTH(attributes) FROM recipients WHERE email = 'wide@example.org'")"
"$PYTHON3" -c "print('email,note'); print('long@example.org,' + 'n' * 70000)" >long.csv
t_check "an over-long field is rejected, not loaded" "$HERALD_BIN" import long.csv --reject long.rej
grep -q '"note is longer than 65535 bytes"' long.rej && t_ok "with the reason" || t_fail "with the reason" "$(head -c 300 long.rej)"
t_sql "DELETE FROM recipients WHERE email = 'wide@example.org'"
[ "$(snapshot)" = "$before" ] && t_ok "failed imports changed nothing" || t_fail "failed imports changed nothing" "$(snapshot) vs $before"

# --- URLs: http through a real server, file://, errors ----------------------
mkdir -p www && cp good.csv www/list.csv
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PYTHON3" -m http.server "$port" --bind 127.0.0.1 --directory www >http.log 2>&1 &
t_at_exit "kill $! 2>/dev/null"
for _ in $(seq 1 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break; sleep 0.1; done
t_check "import over http" "$HERALD_BIN" import "http://127.0.0.1:$port/list.csv" --list web --reject web.rej
grep -q "10 rows read, 2 loaded (0 new, 2 updated)" "$T_DIR/out" && t_ok "http source streamed and merged" || t_fail "http source streamed and merged" "$(cat "$T_DIR/out")"
[ "$(t_sql "SELECT COUNT(*) FROM list_members lm JOIN lists l ON l.id = lm.list_id WHERE l.name = 'web'")" = 2 ] &&
	t_ok "--list adds the rows to the list" || t_fail "--list adds the rows to the list" "wrong count"
t_check "segment count over the list" "$HERALD_BIN" segment count "list = web and donated_total > 3"
grep -q "^1 recipient (query" "$T_DIR/out" && t_ok "segment count prints the count and the time" || t_fail "segment count" "$(cat "$T_DIR/out")"
before=$(snapshot)
t_expect_fail "a 404 fails at once" 1 '404' "$HERALD_BIN" import "http://127.0.0.1:$port/missing.csv"
t_expect_fail "a refused connection fails at once" 1 '[Cc]onnect|refused' "$HERALD_BIN" import "http://127.0.0.1:1/x.csv"
t_check "file:// URL" "$HERALD_BIN" import "file://$T_DIR/header.csv"
[ "$(snapshot)" = "$before" ] && t_ok "unreadable URLs changed nothing" || t_fail "unreadable URLs changed nothing" "changed"

# A UTF-8 byte-order mark (Excel's "CSV UTF-8") is not part of the header.
printf '\xef\xbb\xbfemail,first_name\nbom-csv@example.org,Bom\n' >www/bom.csv
printf '\xef\xbb\xbfemail\tfirst_name\nbom-tsv@example.org\tBom\n' >bom.tsv
t_check "a CSV starting with a byte-order mark, over http" "$HERALD_BIN" import "http://127.0.0.1:$port/bom.csv"
t_check "a TSV starting with a byte-order mark, from a file" "$HERALD_BIN" import bom.tsv
[ "$(t_sql "SELECT GROUP_CONCAT(first_name ORDER BY email) FROM recipients WHERE email LIKE 'bom-%'")" = "Bom,Bom" ] &&
	t_ok "the byte-order mark is dropped, the email column found" ||
	t_fail "the byte-order mark is dropped" "$(cat "$T_DIR/err"; t_sql "SELECT email, first_name FROM recipients WHERE email LIKE 'bom-%'")"
t_sql "DELETE FROM recipients WHERE email LIKE 'bom-%'"

# --- replace: the whole table, atomically, suppression sticks --------------
t_sql "UPDATE recipients SET status = 'unsubscribed' WHERE email = 'h@example.org'"
id_a=$(t_sql "SELECT id FROM recipients WHERE email = 'a@example.org'")
printf 'email,first_name\nh@example.org,H2\na@example.org,A2\nnew@example.org,N\n' >replace.csv
total=$(t_sql "SELECT COUNT(*) FROM recipients")
removed=$((total - 2))	# a@ and h@ are known, new@ is not
# On a terminal, replace asks first, with the counts; "n" changes nothing.
before=$(snapshot)
printf 'n\n' | script -qec "'$HERALD_BIN' import replace.csv --mode replace" /dev/null >ask.out 2>&1
grep -aq "makes recipients the file's 3 addresses (1 new, 2 kept) and removes $removed recipients not in the file. Go on? \[y/N\]" ask.out &&
	t_ok "replace on a terminal says what it removes and asks" || t_fail "replace on a terminal asks" "$(cat -v ask.out)"
grep -aq "cancelled: recipients are unchanged" ask.out && [ "$(snapshot)" = "$before" ] &&
	t_ok "answered no: nothing changes" || t_fail "answered no: nothing changes" "$(cat -v ask.out)"
script -qec "'$HERALD_BIN' import replace.csv --mode replace --yes" /dev/null </dev/null >yes.out 2>&1
! grep -aq "Go on" yes.out && grep -aq "$removed recipients removed" yes.out &&
	t_ok "--yes replaces on a terminal without asking" || t_fail "--yes replaces without asking" "$(cat -v yes.out)"
t_check "import --mode replace again (nothing more to remove)" "$HERALD_BIN" import replace.csv --mode replace
grep -q "3 rows read, 3 loaded (0 new, 3 kept), 0 recipients removed (not in the file), 0 duplicates" "$T_DIR/out" &&
	t_ok "the summary counts kept and removed" || t_fail "the summary counts kept and removed" "$(cat "$T_DIR/out")"
[ "$(t_sql "SELECT GROUP_CONCAT(CONCAT(email, ':', status) ORDER BY email) FROM recipients")" = "a@example.org:active,h@example.org:unsubscribed,new@example.org:active" ] &&
	t_ok "replace keeps exactly the file's addresses; unsubscribed stays unsubscribed" ||
	t_fail "replace keeps exactly the file's addresses" "$(t_sql "SELECT email, status FROM recipients")"
[ "$(t_sql "SELECT id FROM recipients WHERE email = 'a@example.org'")" = "$id_a" ] &&
	[ "$(t_sql "SELECT id > $id_a FROM recipients WHERE email = 'new@example.org'")" = 1 ] &&
	t_ok "known addresses keep their id, new ones get fresh ids" || t_fail "ids" "$(t_sql "SELECT id, email FROM recipients")"

# --- SIGKILL mid-import: recipients exactly as before ------------------------
"$PYTHON3" - "$T_DIR/slow.port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(5)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept(); c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/csv\r\n\r\nemail,first_name\n")
    try:
        for i in range(1000000):
            c.sendall(b"slow%d@example.org,Slow\n" % i)
            if i % 1000 == 0: time.sleep(0.05)
    except OSError:
        pass
    c.close()
PY
t_at_exit "kill $! 2>/dev/null"
for _ in $(seq 1 50); do [ -s "$T_DIR/slow.port" ] && break; sleep 0.1; done
for mode in merge replace; do
	before=$(snapshot)
	"$HERALD_BIN" import "http://127.0.0.1:$(cat "$T_DIR/slow.port")/big.csv" --mode $mode >/dev/null 2>&1 &
	pid=$!
	sleep 1.5
	kill -KILL $pid; wait $pid 2>/dev/null
	sleep 0.5	# the server notices the dropped connection
	[ "$(snapshot)" = "$before" ] && t_ok "import --mode $mode killed mid-stream: recipients unchanged" ||
		t_fail "import --mode $mode killed mid-stream: recipients unchanged" "$(snapshot) vs $before"
done
# A server that drops the connection half-way (it promised more bytes).
"$PYTHON3" - "$T_DIR/drop.port" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(5)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept(); c.recv(4096)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\nemail,first_name\n")
    c.sendall(b"".join(b"drop%d@example.org,Drop\n" % i for i in range(5000)))
    c.close()
PY
t_at_exit "kill $! 2>/dev/null"
for _ in $(seq 1 50); do [ -s "$T_DIR/drop.port" ] && break; sleep 0.1; done
for mode in merge replace; do
	before=$(snapshot)
	t_expect_fail "a connection dropped half-way fails the import (--mode $mode)" 1 \
	    'transfer closed|partial|[Ee]nd of file|closed' \
	    "$HERALD_BIN" import "http://127.0.0.1:$(cat "$T_DIR/drop.port")/x.csv" --mode $mode
	[ "$(snapshot)" = "$before" ] && t_ok "and leaves recipients unchanged (--mode $mode)" ||
		t_fail "and leaves recipients unchanged (--mode $mode)" "$(snapshot) vs $before"
done
t_check "an import after a killed one works" "$HERALD_BIN" import replace.csv

# On a terminal: a progress bar with bytes, rows, rate and percent.
awk 'BEGIN { print "email"; for (i = 0; i < 20000; i++) printf "tty%d@example.org\n", i }' >tty.csv
script -qec "'$HERALD_BIN' import tty.csv" /dev/null >tty.out 2>&1
grep -aq "MB, 20000 rows, [0-9]* rows/s, 100%" tty.out && t_ok "a progress bar on a terminal" ||
	t_fail "a progress bar on a terminal" "$(tail -c 300 tty.out | cat -v)"
"$HERALD_BIN" import tty.csv >notty.out 2>&1
! grep -q "%" notty.out && t_ok "no progress bar when not a terminal" ||
	t_fail "no progress bar when not a terminal" "$(cat notty.out)"
t_done
