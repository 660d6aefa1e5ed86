#!/bin/bash
# windows.sh - time-zone send windows against a real MariaDB:
#   import: time_zone values are checked against the system's zoneinfo
#     (a bad one rejects its row, naming line and column); a list's
#     default zone fills the rows without one; an explicit zone wins.
. "$HERALD_SRCDIR/tests/lib/common.sh"
t_use_database
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
cd "$T_DIR" || exit 1
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
t_done
