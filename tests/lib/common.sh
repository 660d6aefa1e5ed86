# tests/lib/common.sh - shared by the integration test scripts.
#
# Source it from a test script, then:
#   t_ok "what was checked"          count a pass
#   t_fail "what" "why"              count a failure (and print why)
#   t_check "what" COMMAND...        pass when COMMAND exits 0
#   t_expect_fail "what" STATUS PATTERN COMMAND...
#                                    pass when COMMAND exits with STATUS
#                                    and its stderr matches PATTERN
#   t_done                           print "N passed, N failed", exit
#
#   t_use_database                   a fresh database on the test server
#                                    ($HERALD_TEST_SOCKET), a config file
#                                    in $T_CONFIG exported as HERALD_CONFIG;
#                                    dropped again at exit
#
# HERALD_TEST_KEEP_FAILED=1 keeps the directory of a test that failed.
#
# Integration tests need the real servers that contrib/check starts. When
# they are missing a test exits 77 (automake's "skipped") with the reason;
# contrib/check sets HERALD_TEST_REQUIRE_SERVERS=1, turning that into a
# failure, so CI cannot pass by skipping.

set -u
T_NAME=$(basename "$0" .sh)
T_PASSED=0
T_FAILED=0
T_DIR=$(mktemp -d "/tmp/herald-${T_NAME}.XXXXXX")
T_CLEANUP=""
: "${HERALD_BIN:?HERALD_BIN is not set: run the tests with make check}"
: "${HERALD_SRCDIR:?HERALD_SRCDIR is not set: run the tests with make check}"

t_cleanup() {
	eval "$T_CLEANUP"
	# HERALD_TEST_KEEP_FAILED=1 keeps a failed test's directory (logs,
	# sink files) for a look afterwards.
	if [ "$T_FAILED" -gt 0 ] && [ "${HERALD_TEST_KEEP_FAILED:-0}" = 1 ]; then
		echo "kept $T_DIR"
	else
		rm -rf "$T_DIR"
	fi
}
trap t_cleanup EXIT

# Runs CMD at exit (last registered runs first).
t_at_exit() {
	T_CLEANUP="$1; $T_CLEANUP"
}

t_ok() {
	T_PASSED=$((T_PASSED + 1))
	echo "ok - $1"
}

t_fail() {
	T_FAILED=$((T_FAILED + 1))
	echo "FAIL - $1: $2"
}

t_check() {
	local what=$1
	shift
	if "$@" >"$T_DIR/out" 2>"$T_DIR/err"; then
		t_ok "$what"
	else
		t_fail "$what" "exit $? from $*; stderr: $(head -c 2000 "$T_DIR/err")"
	fi
}

t_expect_fail() {
	local what=$1 want=$2 pattern=$3 got
	shift 3
	"$@" >"$T_DIR/out" 2>"$T_DIR/err"
	got=$?
	if [ "$got" -ne "$want" ]; then
		t_fail "$what" "exit $got, wanted $want; stderr: $(head -c 2000 "$T_DIR/err")"
	elif [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$T_DIR/err"; then
		t_fail "$what" "stderr does not match /$pattern/: $(head -c 2000 "$T_DIR/err")"
	else
		t_ok "$what"
	fi
}

t_skip() {
	if [ "${HERALD_TEST_REQUIRE_SERVERS:-0}" = 1 ]; then
		echo "FAIL - $T_NAME cannot run: $1"
		exit 1
	fi
	echo "SKIP - $T_NAME: $1"
	exit 77
}

t_done() {
	echo "$T_NAME: $T_PASSED passed, $T_FAILED failed"
	[ "$T_FAILED" -eq 0 ]
	exit $?
}

# Runs SQL on the test server (in the test's database once it exists).
t_sql() {
	mariadb --no-defaults --socket="$HERALD_TEST_SOCKET" -uroot \
	    --batch --skip-column-names ${T_DATABASE:+"$T_DATABASE"} -e "$1"
}

t_use_database() {
	[ -n "${HERALD_TEST_SOCKET:-}" ] ||
		t_skip "HERALD_TEST_SOCKET is not set (run contrib/check, which starts MariaDB)"
	[ -S "$HERALD_TEST_SOCKET" ] ||
		t_skip "no MariaDB socket at $HERALD_TEST_SOCKET"
	T_DATABASE="t_${T_NAME//[^a-zA-Z0-9]/_}_$$"
	T_CONFIG="$T_DIR/herald.conf"
	cat >"$T_CONFIG" <<CONF
state_directory = $T_DIR/state
sql_directory = $HERALD_SRCDIR/sql
database_socket = $HERALD_TEST_SOCKET
database_name = $T_DATABASE
user =
CONF
	export HERALD_CONFIG="$T_CONFIG"
	t_at_exit "T_DATABASE= t_sql 'DROP DATABASE IF EXISTS $T_DATABASE' >/dev/null 2>&1"
}
