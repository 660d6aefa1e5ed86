#!/bin/bash
# feedback.sh - "herald feedback" on each kind of mail the world sends
# back, against a real MariaDB (tests/data/feedback/ holds the samples;
# bounce.sh runs DSNs through a real Postfix, brake.sh the brake):
# - an ARF complaint placed by its return path, and one (headers only)
#   placed by the List-Unsubscribe token: counted once on the mailing,
#   the recipient complained and suppressed; a second copy changes
#   nothing; not-spam changes nothing; a forged token is refused, exit 0;
# - a mailto unsubscribe: recorded as the web records one, channel
#   mailto; again: nothing more; forged: refused;
# - mail that is none of these: logged and dropped, exit 0;
# - bounces by class: a hard one suppresses at once; soft ones only at
#   soft_bounce_limit within the window, counted across mailings;
# - the database out of reach: exit 75;
# - "herald feedback classify": one JSON line per recipient, no database.
. "$HERALD_SRCDIR/tests/lib/common.sh"
t_use_database
DATA="$HERALD_SRCDIR/tests/data/feedback"
cat >>"$T_CONFIG" <<CONF
bounce_domain = bounce.example.org
soft_bounce_limit = 2
CONF
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
{
	echo "email,first_name"
	for i in $(seq 1 8); do echo "r$i@example.net,R$i"; done
} >"$T_DIR/r.csv"
"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
"$HERALD_BIN" mailing create --name one --template "$T_DIR/t" --segment all --from news@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
# As the workers leave it: every message sent.
t_sql "UPDATE stage_1 SET delivery_state = 'sent', delivered_at = UTC_TIMESTAMP()"
t_sql "UPDATE mailings SET state = 'sending', sent_count = 8 WHERE id = 1"
id() { t_sql "SELECT id FROM recipients WHERE email = 'r$1@example.net'"; }
rp() { echo "bounces+$("$HERALD_BIN" token make --purpose return-path "$1" "$2")@bounce.example.org"; }
tok() { "$HERALD_BIN" token make "$1" "$2"; }
sample() {	# FILE RETURN_PATH TOKEN: the sample with herald's values in
	sed "s/RETURN_PATH/$2/g; s/UNSUBSCRIBE_TOKEN/$3/g" "$DATA/$1"
}
feedback() { "$HERALD_BIN" feedback "$@"; }
status_of() { t_sql "SELECT status FROM recipients WHERE email = 'r$1@example.net'"; }
suppressed() { t_sql "SELECT CONCAT_WS(' ', source, reason, IFNULL(channel, '-'), IFNULL(mailing_id, '-')) FROM suppressions WHERE email = 'r$1@example.net'"; }

# ARF, placed by Original-Mail-From / the returned Return-Path.
sample arf-yahoo-abuse.eml "$(rp 1 "$(id 1)")" "" >"$T_DIR/arf1"
out=$(feedback "$T_DIR/arf1" 2>&1)
[ $? = 0 ] && [[ $out == *"complaint (abuse); address suppressed as complained"* ]] &&
	t_ok "an ARF complaint is recorded ($out)" || t_fail "ARF complaint recorded" "$out"
[ "$(status_of 1)" = complained ] && [ "$(suppressed 1)" = "complaint complained - 1" ] &&
	t_ok "its recipient is complained and suppressed (source complaint, mailing 1)" ||
	t_fail "complaint suppresses" "$(status_of 1) / $(suppressed 1)"
[ "$(t_sql "SELECT CONCAT(complained_count, ' ', (SELECT COUNT(*) FROM complaints WHERE mailing_id = 1 AND feedback_type = 'abuse')) FROM mailings WHERE id = 1")" = "1 1" ] &&
	t_ok "the mailing counts it" || t_fail "complaint counted" "$(t_sql "SELECT complained_count FROM mailings WHERE id = 1")"
out=$(feedback "$T_DIR/arf1" 2>&1)
[ $? = 0 ] && [[ $out == *"recorded already, nothing changed"* ]] &&
	[ "$(t_sql "SELECT complained_count FROM mailings WHERE id = 1")" = 1 ] &&
	t_ok "the same report again changes nothing" || t_fail "report again" "$out"

# ARF with headers only, placed by the List-Unsubscribe token.
sample arf-comcast-headers.eml "" "$(tok 1 "$(id 2)")" >"$T_DIR/arf2"
out=$(feedback --recipient fbl@example.org "$T_DIR/arf2" 2>&1)
[ $? = 0 ] && [[ $out == *"r2@example.net>: complaint (abuse)"* ]] && [ "$(status_of 2)" = complained ] &&
	t_ok "a headers-only ARF report is placed by its unsubscribe token" || t_fail "ARF by token" "$out"
sed 's/Feedback-Type: ABUSE/Feedback-Type: not-spam/' "$T_DIR/arf2" | sed "s/$(tok 1 "$(id 2)")/$(tok 1 "$(id 3)")/" >"$T_DIR/notspam"
out=$(feedback "$T_DIR/notspam" 2>&1)
[ $? = 0 ] && [[ $out == *"not-spam, nothing recorded"* ]] && [ "$(status_of 3)" = active ] &&
	t_ok "a not-spam report changes nothing" || t_fail "not-spam" "$out"
good=$(tok 1 "$(id 3)")
sample arf-comcast-headers.eml "" "${good%.*}.AAAAAAAAAAAAAAAAAAAAAA" >"$T_DIR/forged"
t_expect_fail "an ARF report with a forged token is refused, exit 0" 0 "refused forged unsubscribe token" \
	"$HERALD_BIN" feedback "$T_DIR/forged"
[ "$(status_of 3)" = active ] && t_ok "and changes nothing" || t_fail "forged ARF changes nothing" "$(status_of 3)"

sample arf-yahoo-abuse.eml "$(rp 99 "$(id 3)")" "" >"$T_DIR/arf99"
t_expect_fail "an ARF report about an unknown mailing is logged, exit 0 (nothing returned to the provider)" 0 \
	"mailing 99 does not exist" "$HERALD_BIN" feedback "$T_DIR/arf99"

# mailto unsubscribe.
sample mailto-unsubscribe.eml "" "$(tok 1 "$(id 4)")" >"$T_DIR/mailto"
out=$(feedback --recipient unsubscribe@example.org "$T_DIR/mailto" 2>&1)
[ $? = 0 ] && [[ $out == *"r4@example.net>: unsubscribed (mailto)"* ]] && [ "$(status_of 4)" = unsubscribed ] &&
	[ "$(suppressed 4)" = "unsubscribe unsubscribed mailto 1" ] &&
	t_ok "a mailto unsubscribe is recorded like the web's, channel mailto" || t_fail "mailto unsubscribe" "$out / $(suppressed 4)"
out=$(feedback "$T_DIR/mailto" 2>&1)
[ $? = 0 ] && [[ $out == *"unsubscribed already, nothing changed"* ]] &&
	t_ok "the same unsubscribe again changes nothing" || t_fail "mailto again" "$out"
good=$(tok 1 "$(id 5)")
sed "s/^Subject: .*/Subject: unsubscribe ${good%.*}.AAAAAAAAAAAAAAAAAAAAAA/" "$T_DIR/mailto" >"$T_DIR/mailto-forged"
t_expect_fail "a mailto unsubscribe with a forged token is refused, exit 0" 0 "refused forged unsubscribe token" \
	"$HERALD_BIN" feedback "$T_DIR/mailto-forged"
[ "$(status_of 5)" = active ] && t_ok "and unsubscribes no one" || t_fail "forged mailto" "$(status_of 5)"
[ "$(t_sql "SELECT SUM(count) FROM feedback_refused WHERE reason = 'forged'")" = 2 ] &&
	t_ok "both forgeries are counted in feedback_refused" || t_fail "forgeries counted" "$(t_sql "SELECT * FROM feedback_refused")"

# None of these: logged and dropped.
printf 'From: someone@example.net\nTo: unsubscribe@example.org\nSubject: hello\n\nhi\n' >"$T_DIR/other"
t_expect_fail "mail that is none of these is logged and dropped, exit 0" 0 "ignored, not a report or unsubscribe" \
	"$HERALD_BIN" feedback --recipient unsubscribe@example.org "$T_DIR/other"

# Bounces by class: hard at once.
sample postfix-userunknown.eml "" "" | sed "s/bounces+7-1042-k1-abcdefghijklm@bounce.example.org/$(rp 1 "$(id 5)")/g" >"$T_DIR/hard"
out=$(feedback "$T_DIR/hard" 2>&1)
[ $? = 0 ] && [[ $out == *"hard userunknown; address suppressed"* ]] && [ "$(status_of 5)" = bounced ] &&
	[ "$(t_sql "SELECT CONCAT(reason, ' ', hard) FROM bounces WHERE recipient_id = $(id 5)")" = "userunknown 1" ] &&
	t_ok "a hard bounce (userunknown) suppresses at once" || t_fail "hard bounce" "$out"
# Soft: mailbox full in mailing 1, then in mailing 2 (limit 2).
soft() {	# MAILING RECIPIENT
	sed "s/bounces+7-1043-k1-bcdefghijklmn@bounce.example.org/$(rp "$1" "$2")/" "$DATA/postfix-two-recipients.eml"
}
soft 1 "$(id 6)" >"$T_DIR/soft1"
out=$(feedback "$T_DIR/soft1" 2>&1)
[ $? = 0 ] && [[ $out == *"soft mailboxfull; 1 soft bounce within soft_bounce_window, suppressed at 2"* ]] &&
	[ "$(status_of 6)" = active ] && [ -z "$(suppressed 6)" ] &&
	t_ok "a first soft bounce (mailboxfull) does not suppress" || t_fail "first soft bounce" "$out"
"$HERALD_BIN" mailing create --name two --template "$T_DIR/t" --segment all --from news@example.org --subject s >/dev/null
"$HERALD_BIN" stage >/dev/null 2>&1
t_sql "UPDATE stage_2 SET delivery_state = 'sent', delivered_at = UTC_TIMESTAMP()"
soft 2 "$(id 6)" >"$T_DIR/soft2"
out=$(feedback "$T_DIR/soft2" 2>&1)
[ $? = 0 ] && [[ $out == *"soft mailboxfull; address suppressed"* ]] && [ "$(status_of 6)" = bounced ] &&
	[[ $(suppressed 6) == "bounce soft bounces - 2" ]] &&
	t_ok "the second, in another mailing, reaches soft_bounce_limit and suppresses" || t_fail "second soft bounce" "$out / $(suppressed 6)"

# Rates: mailing 1 delivered 8; 1 hard (r5), 1 soft (r6), 2 complaints
# (r1, r2), 1 unsubscribe (r4): per variant and for all, in herald
# report (--json, --csv, text) and herald status (--json, text).
"$HERALD_BIN" report 1 --json >"$T_DIR/report.json" 2>&1
/usr/bin/python3 - "$T_DIR/report.json" <<'PY' && t_ok "herald report --json counts feedback per variant and class, with rates" || t_fail "report --json feedback" "$(cat "$T_DIR/report.json")"
import json, sys
r = json.load(open(sys.argv[1]))
rows = {f["variant"]: f for f in r["feedback"]}
for v in (None, 0):
    f = rows[v]
    assert (f["delivered"], f["hard_bounces"], f["soft_bounces"], f["complaints"], f["unsubscribes"]) == (8, 1, 1, 2, 1), f
    assert (f["hard_bounce_rate"], f["soft_bounce_rate"], f["complaint_rate"], f["unsubscribe_rate"]) == (12.5, 12.5, 25, 12.5), f
classes = {(c["variant"], c["reason"], c["kind"]): (c["bounces"], c["rate"]) for c in r["bounce_classes"]}
assert classes == {("all", "userunknown", "hard"): (1, 12.5), ("all", "mailboxfull", "soft"): (1, 12.5),
                   ("0", "userunknown", "hard"): (1, 12.5), ("0", "mailboxfull", "soft"): (1, 12.5)}, classes
PY
"$HERALD_BIN" report 1 --csv >"$T_DIR/report.csv" 2>&1
grep -q '^feedback,,complaint_rate,25.000$' "$T_DIR/report.csv" && grep -q '^bounce_classes,all,bounces,1$' "$T_DIR/report.csv" &&
	t_ok "herald report --csv has them" || t_fail "report --csv feedback" "$(grep -E 'feedback|bounce_classes' "$T_DIR/report.csv")"
"$HERALD_BIN" report 1 >"$T_DIR/report.txt" 2>&1
grep -Eq '^ +- +all +8 ' "$T_DIR/report.txt" && grep -Eq 'userunknown +hard +1 +12.500' "$T_DIR/report.txt" &&
	t_ok "and its text" || t_fail "report text feedback" "$(cat "$T_DIR/report.txt")"
"$HERALD_BIN" status --json >"$T_DIR/status.json" 2>&1
/usr/bin/python3 - "$T_DIR/status.json" <<'PY' && t_ok "herald status --json shows the counts and rates" || t_fail "status --json feedback" "$(cat "$T_DIR/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
f = [m for m in s["mailings"] if m["id"] == 1][0]["feedback"]
assert (f["delivered"], f["hard_bounces"], f["soft_bounces"], f["complaints"], f["unsubscribes"]) == (8, 1, 1, 2, 1), f
assert (f["hard_bounce_rate"], f["complaint_rate"]) == (12.5, 25.0), f
PY
"$HERALD_BIN" status >"$T_DIR/status.txt" 2>&1
grep -q "bounces 1 hard (12.50%) 1 soft (12.50%)  complaints 2 (25.000%)  unsubscribes 1 (12.50%)" "$T_DIR/status.txt" &&
	t_ok "and herald status" || t_fail "status text feedback" "$(cat "$T_DIR/status.txt")"
"$HERALD_BIN" mailing show 1 >"$T_DIR/show" 2>&1
grep -Eq "^complained +2$" "$T_DIR/show" && t_ok "herald mailing show counts complaints" || t_fail "mailing show complained" "$(cat "$T_DIR/show")"

# The database out of reach: exit 75, for every kind.
sed "s|^database_socket = .*|database_socket = $T_DIR/no.sock|" "$T_CONFIG" >"$T_DIR/down.conf"
sample arf-yahoo-abuse.eml "$(rp 1 "$(id 7)")" "" >"$T_DIR/arf7"
t_expect_fail "an ARF report with the database down exits 75" 75 "try again later" \
	"$HERALD_BIN" --config "$T_DIR/down.conf" feedback "$T_DIR/arf7"
sample mailto-unsubscribe.eml "" "$(tok 1 "$(id 7)")" >"$T_DIR/mailto7"
t_expect_fail "a mailto unsubscribe with the database down exits 75" 75 "try again later" \
	"$HERALD_BIN" --config "$T_DIR/down.conf" feedback "$T_DIR/mailto7"
[ "$(status_of 7)" = active ] && t_ok "and nothing changed" || t_fail "database down" "$(status_of 7)"

# The brake's minimum volumes: mailing 1 (8 delivered, 25% complaints,
# 12.5% hard bounces) stays sending under the defaults (1,000 delivered,
# 5 events); with brake_min_delivered = 5 and brake_min_events = 3, a
# third complaint pulls it, and says why.
[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = sending ] &&
	t_ok "the brake leaves a mailing below its minimum volumes alone" || t_fail "brake minimums" "$(t_sql "SELECT state, pulled_reason FROM mailings WHERE id = 1")"
{ cat "$T_CONFIG"; echo "brake_min_delivered = 5"; echo "brake_min_events = 3"; } >"$T_DIR/small.conf"
sample arf-yahoo-abuse.eml "$(rp 1 "$(id 8)")" "" >"$T_DIR/arf8"
out=$("$HERALD_BIN" --config "$T_DIR/small.conf" feedback "$T_DIR/arf8" 2>&1)
[ $? = 0 ] && [[ $out == *"mailing 1 pulled by the brake: complaints 3 of 8 delivered since "*"(37.50%, limit 0.3%)"* ]] &&
	[ "$(t_sql "SELECT CONCAT(state, ' ', pulled_reason LIKE 'brake: complaints 3 of 8 %') FROM mailings WHERE id = 1")" = "pulled 1" ] &&
	t_ok "above them, the third complaint pulls it, logged and kept ($out)" || t_fail "brake pulls on complaints" "$out"

# classify: no database at all (the down configuration), one line per
# recipient; a file that is no report fails alone.
"$HERALD_BIN" --config "$T_DIR/down.conf" feedback classify "$DATA"/*.eml "$T_DIR/other" >"$T_DIR/classify" 2>"$T_DIR/classify.err"
[ $? = 1 ] && grep -q "other: .*not multipart/report" "$T_DIR/classify.err" &&
	t_ok "classify: a file that is no report exits 1, naming it" || t_fail "classify bad file" "$(cat "$T_DIR/classify.err")"
/usr/bin/python3 - "$T_DIR/classify" "$DATA" <<'PY' && t_ok "classify prints one JSON object per recipient, as classified" || t_fail "classify output" "$(cat "$T_DIR/classify")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
got = {(l["file"].rsplit("/", 1)[1], l["recipient"]): l for l in lines}
want = {
    ("gmail-userunknown.eml", "tara@gmail.example"): ("5.1.1", "550", "userunknown", True, None),
    ("postfix-two-recipients.eml", "omar@full.example.com"): ("5.2.2", "552", "mailboxfull", False, None),
    ("postfix-two-recipients.eml", "pia@slow.example.com"): ("4.4.1", None, "networkerror", False, None),
    ("sendmail-blocked.eml", "rosa@campus.example.edu"): ("5.7.1", "554", "blocked", False, None),
    ("arf-yahoo-abuse.eml", "<redacted@yahoo.example>"): (None, None, "feedback", False, "abuse"),
    ("arf-comcast-headers.eml", None): (None, None, "feedback", False, "abuse"),
}
assert len(lines) == 10, len(lines)
for key, (status, reply, reason, hard, ftype) in want.items():
    l = got[key]
    assert (l["status"], l["reply_code"], l["reason"], l["hard"], l["feedback_type"]) == \
        (status, reply, reason, hard, ftype), (key, l)
PY
t_done
