#!/bin/bash
# config_check.sh - "herald config check" as an operator uses it: good
# files, bad files (FILE:LINE and the key), comments after values, typos,
# secrets and token keys, the lookup order (--config, HERALD_CONFIG,
# built-in defaults), and "herald config keys" against herald.conf(5) and
# the sample etc/herald.conf.
. "$HERALD_SRCDIR/tests/lib/common.sh"

good="$T_DIR/good.conf"
printf 'database_name = mail\nworker_count = 8\nrate_limit = 300/m\n' >"$good"
t_check "a good file passes" "$HERALD_BIN" config check --config "$good"
grep -q "good.conf: ok" "$T_DIR/out" && t_ok "check names the file" ||
	t_fail "check names the file" "$(cat "$T_DIR/out")"
t_check "--show prints effective values" "$HERALD_BIN" config check --show --config "$good"
grep -q "^database_name = mail$" "$T_DIR/out" && grep -q "^worker_count = 8$" "$T_DIR/out" &&
	grep -q "^rate_limit = 18000/h$" "$T_DIR/out" && grep -q "^database_port = 3306$" "$T_DIR/out" &&
	t_ok "--show has set values and defaults" ||
	t_fail "--show has set values and defaults" "$(cat "$T_DIR/out")"
HERALD_CONFIG="$good" t_check "HERALD_CONFIG is read" "$HERALD_BIN" config check --show
grep -q "^database_name = mail$" "$T_DIR/out" && t_ok "HERALD_CONFIG value used" ||
	t_fail "HERALD_CONFIG value used" "$(cat "$T_DIR/out")"
printf 'database_nam = x\n' >"$T_DIR/bad.conf"
HERALD_CONFIG="$good" t_expect_fail "--config wins over HERALD_CONFIG" 1 'bad.conf:1: unknown key "database_nam"' \
	"$HERALD_BIN" config check --config "$T_DIR/bad.conf"
printf 'retry_schedule = 5m 30m soon\n' >"$T_DIR/schedule.conf"
t_expect_fail "a bad retry schedule names the line and the key" 1 \
	'schedule.conf:1: key "retry_schedule": bad value "5m 30m soon": expected 1 to 32 durations' \
	"$HERALD_BIN" config check --config "$T_DIR/schedule.conf"
printf '# ok\n\nworker_count = 0\n' >"$T_DIR/range.conf"
t_expect_fail "out of range with line and key" 1 'range.conf:3: key "worker_count": bad value "0": out of range \(1 to 256\)' \
	"$HERALD_BIN" config check --config "$T_DIR/range.conf"
printf 'database_password = hunter2\n' >"$T_DIR/secret.conf"
chmod 644 "$T_DIR/secret.conf"
t_expect_fail "a readable secret is refused" 1 'secret.conf: holds a secret.*mode 644.*chmod 600' \
	"$HERALD_BIN" config check --config "$T_DIR/secret.conf"
chmod 600 "$T_DIR/secret.conf"
t_check "a private secret is accepted" "$HERALD_BIN" config check --show --config "$T_DIR/secret.conf"
grep -q "hunter2" "$T_DIR/out" && t_fail "--show hides the secret" "printed" ||
	t_ok "--show hides the secret"
t_expect_fail "a missing file" 1 'nope.conf: cannot open configuration' \
	"$HERALD_BIN" config check --config "$T_DIR/nope.conf"

# Comments after values are refused, naming the key (#21); secrets are
# taken verbatim, so a password may hold " #".
printf 'worker_count = 2\nrelay_host = 127.0.0.1 # local postfix\n' >"$T_DIR/inline.conf"
t_expect_fail "a comment after a value is refused" 1 \
	'inline.conf:2: key "relay_host": value "127.0.0.1 # local postfix" has a comment after it' \
	"$HERALD_BIN" config check --config "$T_DIR/inline.conf"
printf 'route gmail.com = relay2\t# gmail\n' >"$T_DIR/inline-list.conf"
t_expect_fail "a comment after a list value is refused" 1 \
	'inline-list.conf:1: key "route gmail.com": value "relay2.# gmail" has a comment after it' \
	"$HERALD_BIN" config check --config "$T_DIR/inline-list.conf"
printf '# the password:\ndatabase_password = pa;ss #word\nview_online_url = https://example.org/v#top\n' \
	>"$T_DIR/hash.conf"
chmod 600 "$T_DIR/hash.conf"
t_check "a secret and a URL may hold '#'" "$HERALD_BIN" config check --show --config "$T_DIR/hash.conf"
grep -q '^view_online_url = https://example.org/v#top$' "$T_DIR/out" && t_ok "a '#' inside a word is kept" ||
	t_fail "a '#' inside a word is kept" "$(cat "$T_DIR/out")"

# token_key follows the token module's rule in config check, not only in
# token make (#21).
printf 'token_key k1 = short\n' >"$T_DIR/token.conf"
chmod 600 "$T_DIR/token.conf"
t_expect_fail "a short token key is refused by config check" 1 \
	'token.conf:1: key "token_key k1": token key "k1" is shorter than 32 characters' \
	"$HERALD_BIN" config check --config "$T_DIR/token.conf"
printf 'token_key k1 = 0123456789abcdef0123456789abcdef\n' >"$T_DIR/token.conf"
t_check "a 32-character token key passes" "$HERALD_BIN" config check --config "$T_DIR/token.conf"

# An unknown key names the closest keys, not all of them (#21).
printf 'relay_hots = 127.0.0.1\n' >"$T_DIR/typo.conf"
t_expect_fail "a typo names the key meant" 1 \
	'typo.conf:1: unknown key "relay_hots" \(did you mean relay_host\?\)$' \
	"$HERALD_BIN" config check --config "$T_DIR/typo.conf"
grep -q "known keys" "$T_DIR/err" && t_fail "a typo lists only the close key" "$(cat "$T_DIR/err")" ||
	t_ok "a typo lists only the close key"

# Every key is documented: herald.conf(5)'s KEYS section is what
# "herald config keys --man" prints from the key table, and the sample
# etc/herald.conf shows every key (#21).
t_check "config keys" "$HERALD_BIN" config keys
grep -o '^[a-z][a-z0-9_]*' "$T_DIR/out" >"$T_DIR/keys"
[ "$(wc -l <"$T_DIR/keys")" -gt 50 ] && grep -qx relay_port "$T_DIR/keys" &&
	grep -qx batch_lease "$T_DIR/keys" && t_ok "config keys lists the keys" ||
	t_fail "config keys lists the keys" "$(cat "$T_DIR/out")"
man_page="$HERALD_SRCDIR/doc/herald.conf.5"
sample="$HERALD_SRCDIR/etc/herald.conf"
missing_man="" missing_sample=""
while read -r key; do
	grep -qF "\\fB$key\\fR " "$man_page" || missing_man="$missing_man $key"
	grep -Eq "^#?$key( [^=]*)? =" "$sample" || missing_sample="$missing_sample $key"
done <"$T_DIR/keys"
[ -z "$missing_man" ] && t_ok "every key is in herald.conf(5)" ||
	t_fail "every key is in herald.conf(5)" "missing:$missing_man (run make update-conf-man)"
[ -z "$missing_sample" ] && t_ok "every key is in etc/herald.conf" ||
	t_fail "every key is in etc/herald.conf" "missing:$missing_sample"
t_check "config keys --man" "$HERALD_BIN" config keys --man
sed -n '/^\.\\" BEGIN KEYS/,/^\.\\" END KEYS/p' "$man_page" | sed '1d;$d' >"$T_DIR/man-keys"
if cmp -s "$T_DIR/out" "$T_DIR/man-keys"; then
	t_ok "herald.conf(5)'s KEYS section is the key table's"
else
	t_fail "herald.conf(5)'s KEYS section is the key table's" \
		"run make update-conf-man: $(diff "$T_DIR/man-keys" "$T_DIR/out" | head -20)"
fi
t_check "the sample configuration is valid" "$HERALD_BIN" config check --config "$sample"
t_expect_fail "config keys: usage error exits 2" 2 'unknown argument "--bogus"' \
	"$HERALD_BIN" config keys --bogus

t_expect_fail "usage error exits 2" 2 'config check: unknown option "--bogus"' "$HERALD_BIN" config check --bogus
t_expect_fail "unknown command exits 2" 2 'unknown command "frobnicate"' "$HERALD_BIN" frobnicate
t_check "--help" "$HERALD_BIN" config --help
grep -q "usage: herald config check" "$T_DIR/out" && t_ok "help text" || t_fail "help text" "$(cat "$T_DIR/out")"
t_done
