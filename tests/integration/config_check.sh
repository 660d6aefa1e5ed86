#!/bin/bash
# config_check.sh - "herald config check" as an operator uses it: good
# files, bad files (FILE:LINE and the key), secrets, and the lookup order
# (--config, HERALD_CONFIG, built-in defaults).
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
t_expect_fail "usage error exits 2" 2 'config check: unknown option "--bogus"' "$HERALD_BIN" config check --bogus
t_expect_fail "unknown command exits 2" 2 'unknown command "frobnicate"' "$HERALD_BIN" frobnicate
t_check "--help" "$HERALD_BIN" config --help
grep -q "usage: herald config check" "$T_DIR/out" && t_ok "help text" || t_fail "help text" "$(cat "$T_DIR/out")"
t_done
