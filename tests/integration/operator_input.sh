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

t_done
