#!/bin/bash
# variants.sh - an operator splits a mailing of 10,003 recipients into
# variants B (10%, its own subject), C (30%, its own template and From)
# and A (the mailing's own content, the 60% left): real MariaDB, heraldd
# sending into a real smtp-sink. Checks that bad variants are refused
# like a bad mailing and change nothing; that staging gives each variant
# its share to within one recipient, exactly as Python's hmac ranks the
# recipients under the configured token key; that a staging run that
# dies and runs again gives every recipient the same variant; that
# variants cannot change once staged; and that every message sent
# carries its own variant's subject, template and From.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"
t_use_database
t_start_sink "$T_DIR/sink"

N=10003
SECRET=variants-test-secret-0123456789abcdef0123
cat >>"$T_CONFIG" <<CONF
relay_host = 127.0.0.1
relay_port = $T_SINK_PORT
worker_count = 2
relay_session_size = 200
batch_size = 1000
pid_file = $T_DIR/heraldd.pid
message_domain = news.example.org
token_key k1 = $SECRET
CONF
chmod 600 "$T_CONFIG"
"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }

mkdir -p "$T_DIR/a" "$T_DIR/c" "$T_DIR/with-subject" "$T_DIR/broken"
echo 'Variant A for {{email}}' >"$T_DIR/a/text.mustache"
echo 'Variant C for {{email}}' >"$T_DIR/c/text.mustache"
echo 'Text' >"$T_DIR/with-subject/text.mustache"
echo 'Its own subject' >"$T_DIR/with-subject/subject.mustache"
printf 'Hello\n{{#open}} never closed\n' >"$T_DIR/broken/text.mustache"

t_sql "INSERT INTO recipients (email, first_name)
       SELECT CONCAT('r', seq, '@example.net'), CONCAT('Name', seq) FROM seq_1_to_$N"
t_check "mailing create" "$HERALD_BIN" mailing create --name "Split" \
	--template "$T_DIR/a" --segment all --from "Team A <a@example.org>" \
	--subject "Subject A"

# --- making variants ---------------------------------------------------
t_check "variant B: 10%, its own subject" "$HERALD_BIN" mailing variant add 1 \
	--name B --share 10% --subject "Subject B {{first_name}}"
grep -q "variant B added: 10%; the mailing's own content (A) keeps 90%" "$T_DIR/out" &&
	t_ok "add says what A keeps" || t_fail "add says what A keeps" "$(cat "$T_DIR/out")"
t_check "variant C: 30%, its own template and From" "$HERALD_BIN" mailing variant add 1 \
	--name C --share 30% --template "$T_DIR/c" --from "Team C <c@example.org>"

add() { "$HERALD_BIN" mailing variant add "$@"; }
t_expect_fail "shares past 100% are refused" 1 \
	'--share 61%: its variants already take 40%; at most 60% is left' add 1 --name D --share 61%
t_expect_fail "A is the mailing's own content" 1 'variant name "A": A is the mailing.s own content' \
	add 1 --name A --share 5%
t_expect_fail "a name is used once per mailing" 1 'already has a variant named B' \
	add 1 --name b --share 5% --subject x
t_expect_fail "a name is letters, digits, . _ -" 1 'variant name "x y": expected 1 to 100' \
	add 1 --name "x y" --share 5%
t_expect_fail "a share is a percentage" 1 '--share "10": expected a percentage such as 10%' \
	add 1 --name D --share 10
t_expect_fail "a share of 0% is refused" 1 'more than 0% and at most 100%' add 1 --name D --share 0%
t_expect_fail "a bad From is refused as mailing create refuses it" 1 '--from "no-at-sign": ' \
	add 1 --name D --share 5% --from no-at-sign
t_expect_fail "a template that does not compile: file, line, column" 1 \
	'broken/text\.mustache:2:[0-9]+: ' add 1 --name D --share 5% --template "$T_DIR/broken"
t_expect_fail "a --subject that subject.mustache would hide" 1 \
	'--subject "S": .*with-subject/subject.mustache gives this variant.s subject' \
	add 1 --name D --share 5% --template "$T_DIR/with-subject" --subject S
t_expect_fail "a variant of no mailing" 1 'mailing 99 does not exist' add 99 --name D --share 5%
t_expect_fail "--share is required" 2 'mailing variant add: --share missing' add 1 --name D
[ "$(t_sql "SELECT GROUP_CONCAT(CONCAT(name, ':', share_basis_points) ORDER BY id) FROM variants")" = "B:1000,C:3000" ] &&
	t_ok "every refusal changed nothing" || t_fail "every refusal changed nothing" "$(t_sql "SELECT * FROM variants")"

t_check "a variant is removed before staging" sh -c \
	"'$HERALD_BIN' mailing variant add 1 --name D --share 5% --subject D && '$HERALD_BIN' mailing variant remove 1 --name D"
t_expect_fail "removing a variant that is not there" 1 'mailing 1 has no variant named "D"' \
	"$HERALD_BIN" mailing variant remove 1 --name D
t_check "variant list" "$HERALD_BIN" mailing variant list 1
grep -Eq '^A +60% +-	-	-$' "$T_DIR/out" && grep -Eq '^B +10% +Subject B \{\{first_name\}\}	-	-$' "$T_DIR/out" &&
	grep -Eq "^C +30% +-	$T_DIR/c	Team C <c@example.org>$" "$T_DIR/out" && [ "$(wc -l <"$T_DIR/out")" = 4 ] &&
	t_ok "list: A with the rest, then each variant's own content" || t_fail "variant list" "$(cat "$T_DIR/out")"

t_check "mailing show" "$HERALD_BIN" mailing show 1
grep -q "^variants        A 60%, B 10% (own subject), C 30% (own template, from)$" "$T_DIR/out" &&
	t_ok "show: the variants and what each has of its own" || t_fail "show's variants" "$(cat "$T_DIR/out")"

# --- staging: exact shares, the HMAC ranking, the same on a re-run --------
HERALD_TEST_KILL_AT=staging "$HERALD_BIN" stage >/dev/null 2>&1
t_expect_fail "no variant is added while the mailing is being staged" 1 'mailing 1 is staging: variants change only before staging' \
	add 1 --name D --share 5% --subject D
HERALD_TEST_KILL_AT=renamed "$HERALD_BIN" stage >/dev/null 2>&1
t_sql "SELECT recipient_id, variant_id FROM stage_1 ORDER BY recipient_id" >"$T_DIR/first.txt"
[ "$(wc -l <"$T_DIR/first.txt")" = $N ] && t_ok "a staging run killed after filling its table" ||
	t_fail "a staging run killed after filling its table" "$(wc -l <"$T_DIR/first.txt") rows"
t_check "herald stage runs again" "$HERALD_BIN" stage
t_sql "SELECT recipient_id, variant_id FROM stage_1 ORDER BY recipient_id" >"$T_DIR/second.txt"
cmp -s "$T_DIR/first.txt" "$T_DIR/second.txt" && t_ok "staged again, every recipient keeps its variant" ||
	t_fail "staged again, every recipient keeps its variant" "$(diff "$T_DIR/first.txt" "$T_DIR/second.txt" | head -5)"
t_sql "SELECT id, name FROM variants" >"$T_DIR/ids.txt"
"$PYTHON3" - "$T_DIR/second.txt" "$T_DIR/ids.txt" "$SECRET" <<'PY' >"$T_DIR/rank.out" 2>&1
import hashlib, hmac, sys
got = dict(tuple(map(int, line.split())) for line in open(sys.argv[1]))
ids = {name: int(i) for i, name in (line.split() for line in open(sys.argv[2]))}
key = hmac.new(sys.argv[3].encode(), b"herald-variant-assignment:", hashlib.sha256).digest()
n = len(got)
counts = {}
for v in got.values():
    counts[v] = counts.get(v, 0) + 1
shares = {ids["B"]: 0.10, ids["C"]: 0.30, 0: 0.60}
for v, share in shares.items():
    if abs(counts.get(v, 0) - n * share) >= 1:
        sys.exit("variant %d: %d recipients, share %.1f" % (v, counts.get(v, 0), n * share))
# An independent ranking: HMAC-SHA256 of "MAILING.RECIPIENT", cut at the
# cumulative shares in variant id order, then A.
ranked = sorted(got, key=lambda r: (hmac.new(key, b"1.%d" % r, hashlib.sha256).digest(), r))
cuts = [(ids["B"], 1000), (ids["C"], 4000), (0, 10000)]
wrong = 0
for rank, r in enumerate(ranked, 1):
    want = next(v for v, c in cuts if rank * 10000 <= n * c)
    wrong += want != got[r]
print("counts", sorted(counts.items()), "wrong", wrong)
sys.exit(1 if wrong else 0)
PY
[ $? = 0 ] && t_ok "shares exact to one recipient, ranked as Python's hmac ranks them" ||
	t_fail "shares exact to one recipient, ranked as Python's hmac ranks them" "$(cat "$T_DIR/rank.out")"
t_expect_fail "no variant is added once staged" 1 'mailing 1 is ready, staged into stage_1: variants change only before staging' \
	add 1 --name D --share 5% --subject D
t_expect_fail "none is removed once staged" 1 'mailing 1 is ready, staged into stage_1' \
	"$HERALD_BIN" mailing variant remove 1 --name B

# --- sending: each message carries its variant's content -----------------
"$HERALDD_BIN" -f >"$T_DIR/heraldd.log" 2>&1 &
daemon=$!
t_at_exit "kill $daemon 2>/dev/null"
for _ in $(seq 1 1800); do
	[ "$(t_sql "SELECT state FROM mailings WHERE id = 1")" = done ] && break
	kill -0 $daemon 2>/dev/null || break
	sleep 0.1
done
state=$(t_sql "SELECT state FROM mailings WHERE id = 1")
[ "$state" = done ] && t_ok "the mailing is sent" ||
	t_fail "the mailing is sent" "state $state; log: $(tail -c 2000 "$T_DIR/heraldd.log")"
for _ in $(seq 1 100); do
	[ "$(t_sink_count "$T_DIR/sink")" -ge $N ] && break
	sleep 0.1
done
"$PYTHON3" - "$T_DIR/sink" "$T_DIR/second.txt" "$T_DIR/ids.txt" <<'PY' >"$T_DIR/parse.out" 2>&1
import email, email.policy, os, re, sys
variant = dict(tuple(map(int, line.split())) for line in open(sys.argv[2]))
ids = {int(i): name for i, name in (line.split() for line in open(sys.argv[3]))}
ids[0] = "A"
seen, bad = {}, 0
for name in os.listdir(sys.argv[1]):
    data = open(os.path.join(sys.argv[1], name), "rb").read()
    msg = email.message_from_bytes(data, policy=email.policy.default)
    n = int(re.search(rb"X-Rcpt-Args: <r(\d+)@", data).group(1))
    v = ids[variant[n]]
    seen[v] = seen.get(v, 0) + 1
    want = {
        "A": ("Subject A", "Team A <a@example.org>", "Variant A"),
        "B": ("Subject B Name%d" % n, "Team A <a@example.org>", "Variant A"),
        "C": ("Subject A", "Team C <c@example.org>", "Variant C"),
    }[v]
    body = msg.get_body(("plain",)).get_content()
    got = (str(msg["subject"]), str(msg["from"]), body.split(" for ")[0])
    if got != want or "for r%d@example.net" % n not in body:
        bad += 1
        if bad < 5:
            print(n, v, got, want)
print("per variant", sorted(seen.items()), "bad", bad)
sys.exit(1 if bad or sum(seen.values()) != len(variant) else 0)
PY
[ $? = 0 ] && t_ok "each of the $N messages carries its variant's subject, template and From" ||
	t_fail "each message carries its variant's subject, template and From" "$(tail -c 1500 "$T_DIR/parse.out")"

"$HERALD_BIN" report 1 --json | "$PYTHON3" -c "
import json, sys
d = json.load(sys.stdin)
v = {r['name']: r['sent'] for r in d['variants']}
assert v == {'A': 6002, 'B': 1000, 'C': 3001}, v" 2>"$T_DIR/report.err" &&
	t_ok "report: sent per variant, A named as in variant list" || t_fail "report per variant" "$(cat "$T_DIR/report.err")"
kill -TERM $daemon
wait $daemon
t_done
