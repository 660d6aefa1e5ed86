#!/bin/bash
# operator_input.sh - what a new operator types by mistake gets a clear
# answer instead of a silent surprise (issue #21): impossible send times
# and past ones, numbers compared with text attributes, segment names
# (non-ASCII words, reserved names, overwrites, bad characters), typos
# in template variables and segment references, --subject beside
# subject.mustache, the count of template files.
. "$HERALD_SRCDIR/tests/lib/common.sh"
t_use_database
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }

tpl="$T_DIR/template"
mkdir -p "$tpl"
echo "Hello {{first_name}}" >"$tpl/text.mustache"

# Passes when COMMAND exits 0 and its stderr matches PATTERN.
t_expect_warning() {
	local what=$1 pattern=$2
	shift 2
	if ! "$@" >"$T_DIR/out" 2>"$T_DIR/err"; then
		t_fail "$what" "exit $? from $*; stderr: $(head -c 2000 "$T_DIR/err")"
	elif ! grep -Eq -- "$pattern" "$T_DIR/err"; then
		t_fail "$what" "stderr does not match /$pattern/: $(head -c 2000 "$T_DIR/err")"
	else
		t_ok "$what"
	fi
}

create() {
	"$HERALD_BIN" mailing create --name "$1" --template "$tpl" \
	    --segment all --from "Herald <news@example.org>" "${@:2}"
}

# --- send times -----------------------------------------------------------
t_expect_fail "February 30 is refused, naming the day" 1 \
	'--send-at "2030-02-30 10:00 UTC": day 30 does not exist in February 2030' \
	create bad --subject x --send-at '2030-02-30 10:00 UTC'
t_expect_fail "second 61 is refused" 1 'second 61 does not exist' \
	create bad --subject x --send-at '2030-01-01 10:00:61 UTC'
t_expect_fail "hour 25 is refused as an hour, not as a time zone" 1 \
	'hour 25 does not exist' create bad --subject x --send-at '2030-01-01 25:00'
t_expect_fail "a time a clock change skips is refused" 1 \
	'02:30 does not exist on that day in Europe/Paris' \
	create bad --subject x --send-at '2030-03-31 02:30 Europe/Paris'
[ "$(t_sql 'SELECT COUNT(*) FROM mailings')" = 0 ] && t_ok "refused send times leave no mailing" ||
	t_fail "refused send times leave no mailing" "$(t_sql 'SELECT COUNT(*) FROM mailings') rows"
t_expect_warning "a past send time is accepted with a warning" \
	'"2020-01-01 10:00 UTC": 2020-01-01 10:00:00 UTC is in the past: the mailing will be staged at once' \
	create past --subject x --send-at '2020-01-01 10:00 UTC'
t_check "a future send time passes" create future --subject x --send-at '2030-02-28 10:00 UTC'
if grep -q "in the past" "$T_DIR/err"; then
	t_fail "a future send time has no warning" "$(cat "$T_DIR/err")"
else
	t_ok "a future send time has no warning"
fi
[ "$(t_sql "SELECT send_at FROM mailings WHERE name = 'future'")" = "2030-02-28 10:00:00" ] &&
	t_ok "the send time is stored as given" ||
	t_fail "the send time is stored as given" "$(t_sql "SELECT send_at FROM mailings WHERE name = 'future'")"

# --- subject: --subject or subject.mustache, never both -------------------
tpl_subject="$T_DIR/with_subject"
mkdir -p "$tpl_subject"
echo "Hello {{first_name}}" >"$tpl_subject/text.mustache"
echo "<p>Hello {{> footer}}</p>" >"$tpl_subject/html.mustache"
echo "News for {{first_name}}" >"$tpl_subject/subject.mustache"
echo "Bye" >"$tpl_subject/footer.mustache"
t_expect_fail "--subject beside subject.mustache is refused" 1 \
	'--subject "Ignored": .*subject.mustache gives this mailing.s subject' \
	"$HERALD_BIN" mailing create --name both --template "$tpl_subject" --segment all \
	    --from news@example.org --subject Ignored
t_check "subject.mustache alone needs no --subject" \
	"$HERALD_BIN" mailing create --name file_subject --template "$tpl_subject" --segment all \
	    --from news@example.org
[ "$(t_sql "SELECT subject FROM mailings WHERE name = 'file_subject'")" = "News for {{first_name}}" ] &&
	t_ok "the mailing records subject.mustache's subject" ||
	t_fail "the mailing records subject.mustache's subject" "$(t_sql "SELECT subject FROM mailings WHERE name = 'file_subject'")"
t_expect_fail "without subject.mustache, --subject is needed" 1 'no subject' \
	"$HERALD_BIN" mailing create --name nosubject --template "$tpl" --segment all \
	    --from news@example.org
t_expect_fail "template check refuses the pair too" 1 'subject.mustache gives the subject' \
	"$HERALD_BIN" template check "$tpl_subject" --subject Ignored

# --- template check counts the files it read ---------------------------------
t_check "template check passes" "$HERALD_BIN" template check "$tpl_subject"
grep -q "(text and html, 4 files)" "$T_DIR/out" && t_ok "template check counts 4 files for 4" ||
	t_fail "template check counts 4 files for 4" "$(cat "$T_DIR/out")"
t_check "template check passes (one file)" "$HERALD_BIN" template check "$tpl" --subject x
grep -q "(text, 1 file)" "$T_DIR/out" && t_ok "template check counts 1 file" ||
	t_fail "template check counts 1 file" "$(cat "$T_DIR/out")"

# --- segments: text attributes against numbers ------------------------------
t_sql "INSERT INTO recipients (email, first_name, attributes) VALUES
	('g@example.net', 'Gold', '{\"member_level\": \"gold\"}'),
	('s@example.net', 'Silver', '{\"member_level\": \"silver\"}'),
	('a@example.net', 'Three', '{\"member_level\": \"3\"}'),
	('b@example.net', 'Seven', '{\"member_level\": \"7\"}'),
	('c@example.net', 'Twelve', '{\"member_level\": \"12\"}'),
	('d@example.net', 'Number', '{\"member_level\": 40.5}'),
	('z@example.net', 'Zoë', NULL)"
count() {
	"$HERALD_BIN" segment count "$1" 2>&1 | sed -n 's/^\([0-9]*\) recipient.*/\1/p'
}
got=$(count "attributes.member_level >= 5")
[ "$got" = 3 ] && t_ok "attributes >= 5 compares numbers: 7, 12 and 40.5, not gold or silver" ||
	t_fail "attributes >= 5 compares numbers: 7, 12 and 40.5, not gold or silver" "$got"
got=$(count "attributes.member_level >= 10")
[ "$got" = 2 ] && t_ok "attributes >= 10: 12 and 40.5 (as text: 6, with gold and silver)" ||
	t_fail "attributes >= 10: 12 and 40.5" "$got"
got=$(count "attributes.member_level < 10")
[ "$got" = 2 ] && t_ok "attributes < 10: 3 and 7 (text would add 12, 40.5, and not gold)" ||
	t_fail "attributes < 10: 3 and 7" "$got"
got=$(count "attributes.member_level between 3 and 12")
[ "$got" = 3 ] && t_ok "attributes between 3 and 12 compares numbers" ||
	t_fail "attributes between 3 and 12 compares numbers" "$got"
got=$(count "attributes.member_level = gold")
[ "$got" = 1 ] && t_ok "attributes = gold is still text" || t_fail "attributes = gold is still text" "$got"

# --- segments: words and names ----------------------------------------------
got=$(count "first_name = Zoë")
[ "$got" = 1 ] && t_ok "a bare non-ASCII word is a value" || t_fail "a bare non-ASCII word is a value" "$got"
t_expect_fail "a bad byte is named whole" 1 'column 16: byte 0xeb is not UTF-8' \
	"$HERALD_BIN" segment count "$(printf 'first_name = Zo\xeb')"
t_expect_fail "a segment cannot be named all" 1 '"all" cannot name a segment: it is a word of the segment language' \
	"$HERALD_BIN" segment save all "first_name = Gold"
t_sql "INSERT INTO segments (name, expression) VALUES ('ALL', 'first_name = Gold')"
got=$(count "all")
[ "$got" = 7 ] && t_ok "all stays everyone, even beside an old segment named ALL" ||
	t_fail "all stays everyone, even beside an old segment named ALL" "$got"
t_expect_fail "a name with a space and ! is refused, saying what is allowed" 1 \
	'"bad name!" cannot name a segment: a name is 1 to 64 ASCII letters, digits' \
	"$HERALD_BIN" segment save "bad name!" "first_name = Gold"
t_check "save a segment" "$HERALD_BIN" segment save golden "first_name = Gold"
t_expect_fail "save refuses to overwrite without --replace" 1 \
	'segment golden exists \(first_name = Gold\); give --replace' \
	"$HERALD_BIN" segment save golden "first_name = Seven"
[ "$(t_sql "SELECT expression FROM segments WHERE name = 'golden'")" = "first_name = Gold" ] &&
	t_ok "the refused save changed nothing" || t_fail "the refused save changed nothing" "$(t_sql "SELECT expression FROM segments WHERE name = 'golden'")"
t_check "save --replace replaces" "$HERALD_BIN" segment save golden "first_name = Seven" --replace
grep -q "segment golden replaced (it was: first_name = Gold)" "$T_DIR/out" &&
	[ "$(t_sql "SELECT expression FROM segments WHERE name = 'golden'")" = "first_name = Seven" ] &&
	t_ok "--replace says what it replaced" || t_fail "--replace says what it replaced" "$(cat "$T_DIR/out")"

# --- typos in template variables and segment references ----------------------
typo="$T_DIR/typo"
mkdir -p "$typo"
printf 'Hi {{frist_name}}, your {{attributes.no_such}} and {{mailing.nam}}\n{{attributes.membr_level}} {{attributes.member_level}} {{first_name}}\n' >"$typo/text.mustache"
t_expect_warning "template check warns about a misspelt field, with the name meant" \
	"$typo/text.mustache:1:4: \\{\\{frist_name\\}\\} names no recipient field.*did you mean \\{\\{first_name\\}\\}\\?" \
	"$HERALD_BIN" template check "$typo" --subject x
grep -q "attributes.no_such}} names an attribute no recipient has (among the newest 10000)" "$T_DIR/err" &&
	t_ok "template check warns about an attribute no recipient has" ||
	t_fail "template check warns about an attribute no recipient has" "$(cat "$T_DIR/err")"
grep -q "attributes.membr_level}} .*did you mean {{attributes.member_level}}?" "$T_DIR/err" &&
	t_ok "the attribute meant is read from the recipients" ||
	t_fail "the attribute meant is read from the recipients" "$(cat "$T_DIR/err")"
grep -q "$typo/text.mustache:1:52: {{mailing.nam}} .*did you mean {{mailing.name}}?" "$T_DIR/err" &&
	t_ok "template check warns about a generated value misspelt" ||
	t_fail "template check warns about a generated value misspelt" "$(cat "$T_DIR/err")"
[ "$(grep -c warning "$T_DIR/err")" = 4 ] && grep -q "4 warnings)" "$T_DIR/out" &&
	t_ok "no warning for names that exist, and the count says 4" ||
	t_fail "no warning for names that exist, and the count says 4" "$(cat "$T_DIR/out" "$T_DIR/err")"
t_expect_warning "mailing create warns too, and creates the mailing" \
	"mailing create: $typo/text.mustache:1:4: \\{\\{frist_name\\}\\}" \
	"$HERALD_BIN" mailing create --name typo --template "$typo" --segment all \
	    --from news@example.org --subject x

t_sql "INSERT INTO lists (name) VALUES ('donors')"
t_expect_warning "segment count warns about received(ID) of no mailing" \
	'segment count: "not received\(999\)": column 14: received\(999\): there is no mailing 999' \
	"$HERALD_BIN" segment count "not received(999)"
t_expect_warning "segment count warns about an unknown list, with the list meant" \
	'column 8: list = donrs: there is no list "donrs"; did you mean donors\?' \
	"$HERALD_BIN" segment count "list = donrs"
t_expect_warning "segment save warns too" 'there is no list "donrs"' \
	"$HERALD_BIN" segment save typo "list = donrs"
t_expect_warning "mailing create warns about the segment's references" \
	'mailing create: --segment "list = donrs or received\(999\)": column 8: list = donrs' \
	"$HERALD_BIN" mailing create --name typo2 --template "$tpl" --segment "list = donrs or received(999)" \
	    --from news@example.org --subject x
t_check "known references pass" "$HERALD_BIN" segment count "list = donors or received(1)"
grep -q warning "$T_DIR/err" && t_fail "known references give no warning" "$(cat "$T_DIR/err")" ||
	t_ok "known references give no warning"

t_done
