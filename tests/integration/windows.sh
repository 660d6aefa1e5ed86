#!/bin/bash
# windows.sh - time-zone send windows against a real MariaDB, heraldd
# and smtp-sink:
#   import: time_zone values are checked against the system's zoneinfo
#     (a bad one rejects its row, naming line and column); a list's
#     default zone fills the rows without one; an explicit zone wins.
#   send: one mailing, --window 09:00-09:01, to recipients in six zones
#     (New York's window falls just after its clocks go back) and some
#     without a zone (the mailing's). herald's clock is moved by the
#     test (HERALD_TEST_CLOCK_OFFSET, for tests only) to just before
#     each zone's window in turn; every message must arrive inside its
#     recipient's window, as Python's own zoneinfo computes it, and none
#     of a later window may arrive early.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
. "$HERALD_SRCDIR/tests/lib/clock.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
t_start_sink "$T_DIR/sink"
t_clock_setup "$T_SINK_PORT" <<CONF
worker_count = 2
batch_size = 4
CONF
zone_of() { t_sql "SELECT COALESCE(time_zone, 'NULL') FROM recipients WHERE email = '$1'"; }

# --- import: zones checked, a list's default for rows without one ------------
cat >zones.csv <<'CSV'
email,first_name,time_zone
a@zones.example,A,Europe/Paris
b@zones.example,B,Mars/Olympus
c@zones.example,C,
d@zones.example,D,../../etc/passwd
e@zones.example,E,America/New_York
CSV
t_expect_fail "--default-time-zone without --list is a usage error" 2 \
    "give --list NAME too" "$HERALD_BIN" import zones.csv --default-time-zone UTC
t_expect_fail "a bad --default-time-zone is refused, naming it" 2 \
    'unknown time zone "Nowhere/Else"' "$HERALD_BIN" import zones.csv --list l1 \
    --default-time-zone Nowhere/Else
[ "$(t_sql 'SELECT COUNT(*) FROM recipients')" = 0 ] &&
	t_ok "refused imports change nothing" || t_fail "refused imports change nothing" "rows were loaded"
t_check "import with zones and a list default" "$HERALD_BIN" import zones.csv \
    --list tokyo-list --default-time-zone Asia/Tokyo --reject zones.rejects
grep -q '^3,"column 3 (time_zone): unknown time zone ""Mars/Olympus"" (no such zone in /usr/share/zoneinfo' zones.rejects &&
	t_ok "an unknown zone is rejected with its line and column" ||
	t_fail "an unknown zone is rejected with its line and column" "$(cat zones.rejects)"
grep -q '^5,"column 3 (time_zone): ""../../etc/passwd"" is not a time zone name' zones.rejects &&
	t_ok "a path is no zone name" || t_fail "a path is no zone name" "$(cat zones.rejects)"
got="$(zone_of a@zones.example) $(zone_of c@zones.example) $(zone_of e@zones.example) $(t_sql "SELECT COUNT(*) FROM recipients WHERE email IN ('b@zones.example', 'd@zones.example')")"
[ "$got" = "Europe/Paris Asia/Tokyo America/New_York 0" ] &&
	t_ok "explicit zones kept, the empty one takes the list's default, bad rows not loaded" ||
	t_fail "zones after import" "$got"
[ "$(t_sql "SELECT default_time_zone FROM lists WHERE name = 'tokyo-list'")" = Asia/Tokyo ] &&
	t_ok "the list keeps its default zone" || t_fail "the list keeps its default zone" "not stored"
# A later import into the list, without a zone column: new recipients
# take the list's default, known ones keep theirs.
printf 'email\nf@zones.example\na@zones.example\n' >more.csv
t_check "import into the list without a zone column" "$HERALD_BIN" import more.csv --list tokyo-list
got="$(zone_of f@zones.example) $(zone_of a@zones.example)"
[ "$got" = "Asia/Tokyo Europe/Paris" ] && t_ok "later imports use the list's default for new rows only" ||
	t_fail "later imports use the list's default for new rows only" "$got"
# Without a list default, a row without a zone has none (the mailing's
# zone applies at staging).
printf 'email,Time Zone\ng@zones.example,\nh@zones.example,Africa/Abidjan\n' >nolist.csv
t_check "import without a list" "$HERALD_BIN" import nolist.csv
got="$(zone_of g@zones.example) $(zone_of h@zones.example)"
[ "$got" = "NULL Africa/Abidjan" ] && t_ok "no list default: no zone stored; the header 'Time Zone' is time_zone" ||
	t_fail "no list default" "$got"

# --- send: six zones, one across a clock change, a controlled clock ----------
t_sql "DELETE FROM list_members; DELETE FROM recipients"
ZONES="Asia/Tokyo Asia/Kathmandu Asia/Kolkata Europe/London America/New_York Australia/Sydney"
{
	echo "email,first_name,time_zone"
	for z in $ZONES ""; do
		for i in 1 2; do
			echo "$i.${z//\//-}@w.example,N$i,$z" | sed 's/^\([0-9]\)\.@/\1.none@/'
		done
	done
} >send.csv
t_check "import the six zones" "$HERALD_BIN" import send.csv
tpl="$T_DIR/template"
mkdir -p "$tpl"
echo "Hello {{first_name}}" >"$tpl/text.mustache"
t_expect_fail "--days needs --window" 2 "give --window" "$HERALD_BIN" mailing create \
    --name w --template "$tpl" --segment all --from news@example.org --subject Hi --days mon-fri
t_expect_fail "a bad --window is refused" 1 'expected HH:MM-HH:MM' "$HERALD_BIN" mailing create \
    --name w --template "$tpl" --segment all --from news@example.org --subject Hi --window 9-11
t_expect_fail "a bad --time-zone is refused" 1 'unknown time zone "Moon/Base"' "$HERALD_BIN" mailing create \
    --name w --template "$tpl" --segment all --from news@example.org --subject Hi \
    --window 09:00-11:00 --time-zone Moon/Base
t_check "mailing create --window" "$HERALD_BIN" mailing create --name w --template "$tpl" \
    --segment all --from news@example.org --subject Hi --window 09:00-09:01 --days all \
    --time-zone America/Bogota
"$HERALD_BIN" mailing show 1 | grep -q "^send window     09:00-09:01, days all, recipients' local time (default zone America/Bogota)" &&
	t_ok "mailing show gives the window" || t_fail "mailing show gives the window" "$("$HERALD_BIN" mailing show 1 | tail -2)"

# Staged on Saturday 2026-10-31 23:00 UTC: New York is on EDT then, and
# its Sunday window is on EST (the clocks go back at 06:00 UTC); Sydney's
# Sunday window has passed (10:00 there), so Monday's.
STAGED_AT="2026-10-31 23:00:00"
HERALD_TEST_CLOCK_OFFSET=$(t_offset_for "$STAGED_AT") "$HERALD_BIN" stage >/dev/null 2>&1 ||
	t_fail "herald stage" "failed"
# The windows as Python's zoneinfo (not herald's code) computes them.
"$PYTHON3" - "$STAGED_AT" >windows.tsv <<'PY'
import sys, datetime, zoneinfo
staged = datetime.datetime.fromisoformat(sys.argv[1]).replace(tzinfo=datetime.timezone.utc)
zones = "Asia/Tokyo Asia/Kathmandu Asia/Kolkata Europe/London America/New_York Australia/Sydney".split()
for name in zones + [""]:
    z = zoneinfo.ZoneInfo(name or "America/Bogota")
    day = staged.astimezone(z).date()
    while True:
        start = datetime.datetime(day.year, day.month, day.day, 9, 0, tzinfo=z)
        if start + datetime.timedelta(minutes=1) > staged:
            break
        day += datetime.timedelta(days=1)
    opens = int(start.timestamp())
    for i in (1, 2):
        print("%d.%s@w.example\t%d\t%d" % (i, name.replace("/", "-") or "none", opens, opens + 60))
PY
t_sql "SELECT email, UNIX_TIMESTAMP(next_attempt_at) FROM stage_1 ORDER BY row_id" >due.tsv
"$PYTHON3" - windows.tsv due.tsv <<'PY' >due.out 2>&1
import sys
win = {l.split("\t")[0]: tuple(map(int, l.split("\t")[1:])) for l in open(sys.argv[1])}
due = [(l.split("\t")[0], int(l.split("\t")[1])) for l in open(sys.argv[2])]
bad = [e for e, t in due if not (win[e][0] <= t < win[e][1])]
order = [t for e, t in due] == sorted(t for e, t in due)
# Spread evenly: the 2 rows of a zone at 0 and 30 s into its minute.
spread = all(sorted(t - win[e][0] for e, t in due if win[e] == w) == [0, 30] for w in set(win.values()) if w not in [win["1.America-New_York@w.example"]])
print(len(due), "rows;", "outside:", bad, "in due order:", order, "spread:", spread)
sys.exit(0 if len(due) == len(win) and not bad and order and spread else 1)
PY
[ $? = 0 ] && t_ok "staging gives each row a due time in its own window, spread, rows in due order ($(cat due.out))" ||
	t_fail "due times" "$(cat due.out)"
ny=$(t_sql "SELECT next_attempt_at FROM stage_1 WHERE email = '1.America-New_York@w.example'")
[ "$ny" = "2026-11-01 14:00:00" ] && t_ok "New York's window opens at 09:00 EST (14:00 UTC), after its clocks went back" ||
	t_fail "New York's window across the clock change" "$ny"
[ "$(t_sql "SELECT next_attempt_at FROM batches ORDER BY first_row LIMIT 1")" = "2026-11-01 00:00:00" ] &&
	t_ok "a batch is due when its first row is" || t_fail "batch due times" "$(t_sql 'SELECT * FROM batches')"
HERALD_TEST_CLOCK_OFFSET=$(t_offset_for "$STAGED_AT") "$HERALD_BIN" status >status.out 2>&1
grep -Eq "waiting for its send window: next message due 2026-11-01 00:00:00 UTC \(in (1:00:00|0:59:5[0-9])\)" status.out &&
	t_ok "status says the mailing waits for its window and when the next message is due" ||
	t_fail "status while waiting" "$(cat status.out)"

# Each window in turn: the clock moved to 5 s before it opens, then the
# window's messages awaited; each arrival time (the sink's file time,
# moved by the same offset) is checked against its recipient's window.
: >arrivals.tsv
expected=0
for opens in $(cut -f2 windows.tsv | sort -un); do
	n=$(awk -F'\t' -v o="$opens" '$2 == o' windows.tsv | wc -l)
	expected=$((expected + n))
	at=$(date -u -d "@$((opens - 5))" '+%Y-%m-%d %H:%M:%S')
	offset=$(t_offset_for "$at")
	t_start_daemon "$at"
	for _ in $(seq 1 900); do
		[ "$(t_sink_count "$T_DIR/sink")" -ge "$expected" ] && break
		sleep 0.1
	done
	t_stop_daemon
	# Files not seen yet arrived under this offset.
	for f in "$T_DIR"/sink/*; do
		cut -f1 arrivals.tsv | grep -qxF "$f" && continue
		printf '%s\t%s\n' "$f" "$(t_arrival "$f" "$offset")" >>arrivals.tsv
	done
done
"$PYTHON3" - windows.tsv arrivals.tsv <<'PY' >arrivals.out 2>&1
import sys
win = {l.split("\t")[0]: tuple(map(int, l.split("\t")[1:])) for l in open(sys.argv[1])}
got = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
seen = [to for f, to, t in got]
bad = ["%s at %s, window %s" % (to, t, win.get(to)) for f, to, t in got if to not in win or not (win[to][0] <= int(t) <= win[to][1])]
print(len(got), "messages,", len(set(seen)), "recipients; outside their window:", bad or "none")
sys.exit(0 if not bad and sorted(seen) == sorted(win) else 1)
PY
[ $? = 0 ] && t_ok "every recipient got one message, inside their own window ($(cat arrivals.out))" ||
	t_fail "messages inside their windows" "$(cat arrivals.out); $(tail -c 1500 "$T_DIR/heraldd.log")"
# heraldd idles before each window: a relay taken for down after an
# idle spell (limits counted from a stale clock) made messages late.
! grep -q "relay [^ ]* is down" "$T_DIR/heraldd.log" && t_ok "the sink, always up, was never taken for down" ||
	t_fail "the sink taken for down" "$(grep "relay [^ ]* is down" "$T_DIR/heraldd.log" | head -3)"
[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && t_ok "the mailing ends done" ||
	t_fail "the mailing ends done" "$(t_sql "SELECT state FROM mailings WHERE id = 1")"

# --- zones the installed tzdata lacks at staging -----------------------------
t_check "a second windowed mailing" "$HERALD_BIN" mailing create --name w2 --template "$tpl" \
    --segment all --from news@example.org --subject Hi --window 09:00-09:01 --time-zone America/Bogota
mkdir -p "$T_DIR/tz/America"
t_expect_fail "staging without the mailing's own zone fails, naming it" 1 \
    'mailing 2: its time zone: unknown time zone "America/Bogota"' \
    env TZDIR="$T_DIR/tz" HERALD_TEST_CLOCK_OFFSET=$(t_offset_for "$STAGED_AT") "$HERALD_BIN" stage
[ "$(t_sql "SELECT COUNT(*) FROM batches WHERE mailing_id = 2")" = 0 ] &&
	t_ok "and stages nothing" || t_fail "a failed staging stages nothing" "batches exist"
cp /usr/share/zoneinfo/America/Bogota "$T_DIR/tz/America/"
TZDIR="$T_DIR/tz" HERALD_TEST_CLOCK_OFFSET=$(t_offset_for "$STAGED_AT") "$HERALD_BIN" stage >stage2.out 2>&1
grep -q 'unknown time zone "Asia/Tokyo".*its recipients get the mailing.s zone America/Bogota' stage2.out &&
	[ "$(t_sql "SELECT COUNT(*), MIN(next_attempt_at), MAX(next_attempt_at) < '2026-11-01 14:01:00' FROM stage_2")" = "14	2026-11-01 14:00:00	1" ] &&
	t_ok "a recipient's zone gone from tzdata falls back to the mailing's, with a warning" ||
	t_fail "a zone gone from tzdata" "$(cat stage2.out); $(t_sql "SELECT COUNT(*), MIN(next_attempt_at), MAX(next_attempt_at) FROM stage_2")"
t_done
