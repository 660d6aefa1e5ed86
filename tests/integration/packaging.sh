#!/bin/bash
# packaging.sh - an operator installs herald's Debian package, sends a
# mailing, upgrades to a version with a new schema migration, removes and
# purges it; and the systemd units pass "systemd-analyze verify".
#
# 1. The units in contrib/systemd verify cleanly (with ExecStart pointing
#    at this build's programs), and a mistyped key is caught.
# 2. One version: configure.ac's AC_INIT, debian/changelog and
#    "herald --version" agree.
# 3. On this machine, as root: the packages from contrib/build-debs (v1,
#    and v2 with the test-only migration 999), taken from
#    $HERALD_TEST_DEBS when contrib/check has built them, else built here
#    (minutes). lintian finds no error. dpkg -i v1: the herald user, the
#    state directory, /etc/herald.conf as a conffile, the units installed
#    and verified, nothing enabled or running. As the herald user, on a
#    private state directory (the package's embedded database default, its
#    own sql/): db init, import, a mailing sent to smtp-sink. dpkg -i v2:
#    the operator's change to /etc/herald.conf kept, "db status" names the
#    pending migration, "db migrate" applies it, recipients and history
#    unchanged (row counts and a checksum of every row), a second mailing
#    sent by the new heraldd. dpkg -r keeps configuration and data; dpkg -P
#    removes /etc/herald.conf and says the data directory is left alone.
#
# This test installs into the real system (/usr/bin/herald, the herald
# user): it refuses to run when a herald package is already installed,
# and purges the package, and removes the user and /var/lib/herald when
# it created them, at exit. No other test uses a system-wide herald.
. "$HERALD_SRCDIR/tests/lib/common.sh"
. "$HERALD_SRCDIR/tests/lib/sink.sh"
: "${HERALDD_BIN:?HERALDD_BIN is not set: run the tests with make check}"

UNITS="heraldd.service herald-web.service herald-db.service herald-stage.service herald-stage.timer
	herald-maintain.service herald-maintain.timer"

# verify_units WHAT [OPTIONS] FILE...: systemd-analyze verify must exit 0
# and say nothing (it only warns, exit 0, about unknown keys and values).
verify_units() {
	local what=$1 out status
	shift
	out=$(systemd-analyze verify "$@" 2>&1)
	status=$?
	if [ "$status" = 0 ] && [ -z "$out" ]; then
		t_ok "$what"
	else
		t_fail "$what" "exit $status: $out"
	fi
}

# --- 1. the units, before any package ------------------------------------
command -v systemd-analyze >/dev/null ||
	t_skip "systemd-analyze not installed (Debian package systemd)"
mkdir -p "$T_DIR/units" "$T_DIR/bad-units"
for unit in $UNITS; do
	[ -f "$HERALD_SRCDIR/contrib/systemd/$unit" ] ||
		t_fail "contrib/systemd/$unit exists" "missing"
	sed -e "s#/usr/bin/herald#$HERALD_BIN#; s#/usr/sbin/heraldd#$HERALDD_BIN#" \
	    -e "s#/usr/sbin/herald-web#$HERALD_WEB_BIN#" \
	    "$HERALD_SRCDIR/contrib/systemd/$unit" >"$T_DIR/units/$unit"
done
verify_units "systemd-analyze verify passes on every unit in contrib/systemd" \
	--man=no "$T_DIR"/units/*
# The same check on a copy with one mistake must fail, or it proves nothing.
cp "$T_DIR"/units/* "$T_DIR/bad-units/"
sed -i 's/^Type=forking/Type=forkin/' "$T_DIR/bad-units/heraldd.service"
out=$(systemd-analyze verify --man=no "$T_DIR"/bad-units/* 2>&1)
[ -n "$out" ] && t_ok "systemd-analyze verify reports a mistyped value" ||
	t_fail "systemd-analyze verify reports a mistyped value" "it said nothing"

# --- 2. one version ---------------------------------------------------------
version=$(sed -n 's/^AC_INIT(\[herald\], \[\([^]]*\)\].*/\1/p' "$HERALD_SRCDIR/configure.ac")
changelog_version=$(dpkg-parsechangelog -l "$HERALD_SRCDIR/debian/changelog" -S Version 2>&1)
[ -n "$version" ] && [ "$changelog_version" = "$version" ] &&
	t_ok "debian/changelog's version is configure.ac's ($version)" ||
	t_fail "debian/changelog's version is configure.ac's" \
	    "configure.ac: '$version', debian/changelog: '$changelog_version' (add a changelog entry: dch -v $version)"
[ "$("$HERALD_BIN" --version)" = "herald $version" ] &&
	t_ok "herald --version prints $version" ||
	t_fail "herald --version prints $version" "$("$HERALD_BIN" --version 2>&1)"

# --- 3. the package on this machine -----------------------------------------
[ "$(id -u)" = 0 ] || t_skip "installing a package needs root"
command -v dpkg-buildpackage >/dev/null && command -v lintian >/dev/null ||
	t_skip "dpkg-dev, debhelper or lintian not installed (contrib/packages.sh)"
if dpkg-query -W -f='${Status}' herald 2>/dev/null | grep -q 'ok installed'; then
	t_skip "a herald package is already installed here; this test installs and purges its own (dpkg --purge herald first)"
fi

debs=${HERALD_TEST_DEBS:-}
if [ -z "$debs" ]; then
	echo "# building the packages (contrib/build-debs), this takes minutes"
	debs="$T_DIR/debs"
	"$HERALD_SRCDIR/contrib/build-debs" "$debs" --upgrade-test >"$T_DIR/build-debs.log" 2>&1 ||
		{ t_fail "contrib/build-debs" "$(tail -30 "$T_DIR/build-debs.log")"; t_done; }
fi
deb1=$(ls "$debs"/v1/herald_*.deb 2>/dev/null)
deb2=$(ls "$debs"/v2/herald_*.deb 2>/dev/null)
[ -f "$deb1" ] && [ -f "$deb2" ] ||
	{ t_fail "the packages are in $debs/v1 and $debs/v2" "found '$deb1' and '$deb2'"; t_done; }
[ "$(dpkg-deb -f "$deb1" Version)" = "$version" ] &&
	t_ok "the package's version is $version" ||
	t_fail "the package's version is $version" "$(dpkg-deb -f "$deb1" Version)"
version2=$(dpkg-deb -f "$deb2" Version)

lintian --fail-on error "$debs"/v1/*.changes >"$T_DIR/lintian.out" 2>&1 &&
	t_ok "lintian: no errors" ||
	t_fail "lintian: no errors" "$(grep '^E:' "$T_DIR/lintian.out")"
sed 's/^/# lintian: /' "$T_DIR/lintian.out"

# What systemd would be told (there is no systemd as PID 1 here, so the
# scripts' systemctl calls cannot run): never start, try-restart after an
# upgrade (running units only), stop on removal.
dpkg-deb -e "$deb1" "$T_DIR/control"
scripts=$(cat "$T_DIR"/control/*inst "$T_DIR"/control/*rm 2>/dev/null)
if grep -q "deb-systemd-invoke try-restart 'heraldd.service'" <<<"$scripts" &&
    grep -q "stop heraldd.service" "$T_DIR/control/prerm" &&
    ! grep -Eq "deb-systemd-invoke (start|restart|\\\$_dh_action)|stop 'heraldd.service'" <<<"$scripts"; then
	t_ok "maintainer scripts: start nothing, try-restart after upgrade, stop on removal"
else
	t_fail "maintainer scripts: start nothing, try-restart after upgrade, stop on removal" \
	    "$(grep -n 'deb-systemd-invoke' "$T_DIR"/control/*)"
fi

# What was here before, so that the cleanup removes only what we made.
had_user=0; getent passwd herald >/dev/null && had_user=1
had_state=0; [ -e /var/lib/herald ] && had_state=1
# dpkg, its output kept for the failure message and the purge notice.
# While apt or dpkg runs elsewhere (an operator's install, say), waits
# for its lock, as apt's DPkg::Lock::Timeout would, up to 10 minutes.
dpkg_quiet() {
	local _
	for _ in $(seq 1 600); do
		DEBIAN_FRONTEND=noninteractive dpkg "$@" >"$T_DIR/dpkg.out" 2>&1 && return 0
		grep -q "locked by another process" "$T_DIR/dpkg.out" || return 1
		sleep 1
	done
	return 1
}
t_at_exit "dpkg_quiet --purge herald;
	[ $had_user = 1 ] || { deluser --quiet --system herald >/dev/null 2>&1; delgroup --quiet --system herald >/dev/null 2>&1; };
	[ $had_state = 1 ] || rm -rf /var/lib/herald"

# Processes running the installed programs (other tests run _build's),
# also those whose program an upgrade replaced.
running_installed() {
	local exe n=0
	for exe in /proc/[0-9]*/exe; do
		case $(readlink "$exe" 2>/dev/null) in
		"/usr/sbin/heraldd"|"/usr/sbin/heraldd (deleted)"|"/usr/bin/herald"|"/usr/bin/herald (deleted)")
			n=$((n + 1)) ;;
		esac
	done
	echo $n
}

# --- 3a. install ------------------------------------------------------------
dpkg_quiet -i "$deb1" && t_ok "dpkg -i $(basename "$deb1")" ||
	{ t_fail "dpkg -i $(basename "$deb1")" "$(cat "$T_DIR/dpkg.out")"; t_done; }
[ "$(/usr/bin/herald --version)" = "herald $version" ] && [ "$(/usr/sbin/heraldd --version)" = "heraldd $version" ] &&
	t_ok "the installed herald and heraldd say $version" ||
	t_fail "the installed herald and heraldd say $version" "$(/usr/bin/herald --version; /usr/sbin/heraldd --version)"
uid=$(id -u herald 2>/dev/null)
[ -n "$uid" ] && [ "$uid" -lt 1000 ] && [ "$(id -gn herald)" = herald ] &&
	t_ok "the herald system user and group exist" ||
	t_fail "the herald system user and group exist" "$(getent passwd herald)"
if getent group postdrop >/dev/null; then
	id -nG herald | tr ' ' '\n' | grep -qx postdrop &&
		t_ok "herald is in postdrop (postqueue -j under NoNewPrivileges)" ||
		t_fail "herald is in postdrop" "$(id herald)"
fi
[ "$had_state" = 1 ] ||
	{ [ "$(stat -c '%U:%G %a' /var/lib/herald)" = "herald:herald 750" ] &&
		t_ok "/var/lib/herald is herald's, mode 750" ||
		t_fail "/var/lib/herald is herald's, mode 750" "$(stat -c '%U:%G %a' /var/lib/herald 2>&1)"; }
dpkg-query -W -f='${Conffiles}\n' herald | grep -q '^ /etc/herald.conf ' &&
	t_ok "/etc/herald.conf is a conffile" ||
	t_fail "/etc/herald.conf is a conffile" "$(dpkg-query -W -f='${Conffiles}' herald)"
installed_units=""
for unit in $UNITS; do installed_units="$installed_units /lib/systemd/system/$unit"; done
verify_units "systemd-analyze verify passes on the installed units (programs and man pages in place)" \
	$installed_units
enabled=$(find /etc/systemd/system -name 'herald*' 2>/dev/null)
[ -z "$enabled" ] && t_ok "no unit is enabled" || t_fail "no unit is enabled" "$enabled"
[ "$(running_installed)" = 0 ] && t_ok "nothing was started" ||
	t_fail "nothing was started" "$(running_installed) installed programs running"

# --- 3b. the operator's first mailing, as the herald user -------------------
# A private state directory (embedded database) instead of /var/lib/herald,
# so nothing of the test outlives it; everything else is the package's.
as_herald() { setpriv --reuid=herald --regid=herald --init-groups "$@"; }
t_start_sink "$T_DIR/sink"
install -d -o herald -g herald -m 0750 "$T_DIR/state"
conf="$T_DIR/herald.conf"
cat >"$conf" <<CONF
state_directory = $T_DIR/state
relay_host = 127.0.0.1
relay_port = $T_SINK_PORT
worker_count = 1
batch_size = 10
message_domain = news.example.org
CONF
chmod 644 "$conf"
h() { as_herald /usr/bin/herald --config "$conf" "$@"; }
q() {
	mariadb --no-defaults --socket="$T_DIR/state/mariadb/mysqld.sock" -uroot \
	    --batch --skip-column-names herald -e "$1"
}
t_at_exit "as_herald /usr/bin/herald --config '$conf' db stop >/dev/null 2>&1 ||
	kill \$(cat '$T_DIR/state/mariadb/mysqld.pid' 2>/dev/null) 2>/dev/null"

t_check "herald db init (embedded, the package's sql/)" h db init
# The operator's files, in a directory of herald's (import writes its
# reject file beside the input).
N=20
data="$T_DIR/operator"
install -d -o herald -g herald -m 0750 "$data" "$data/template"
{
	echo "email,first_name"
	for i in $(seq 1 $N); do echo "r$i@example.net,Name$i"; done
} >"$data/recipients.csv"
tpl="$data/template"
printf 'Dear {{first_name}},\n\nthe packaged herald.\n' >"$tpl/text.mustache"
printf '<p>Dear {{first_name}},</p>\n' >"$tpl/html.mustache"
chown -R herald:herald "$data"
t_check "herald import" h import "$data/recipients.csv" --reject "$data/rejects"

# send_mailing NAME: create, stage and send with the installed heraldd
# until the mailing is done and the sink holds every message.
send_mailing() {
	local name=$1 id daemon state want
	want=$(( $(t_sink_count "$T_DIR/sink") + N ))
	t_check "mailing create $name" h mailing create --name "$name" \
		--template "$tpl" --segment all --from "Herald <news@example.org>" \
		--subject "Hello {{first_name}}"
	id=$(q "SELECT MAX(id) FROM mailings")
	t_check "herald stage ($name)" h stage
	# setpriv, not as_herald: $! must be heraldd itself, not a subshell.
	setpriv --reuid=herald --regid=herald --init-groups \
	    /usr/sbin/heraldd -f --config "$conf" >"$T_DIR/heraldd-$name.log" 2>&1 &
	daemon=$!
	t_at_exit "kill $daemon 2>/dev/null"
	for _ in $(seq 1 600); do
		state=$(q "SELECT state FROM mailings WHERE id = $id")
		[ "$state" = done ] && [ "$(t_sink_count "$T_DIR/sink")" -ge "$want" ] && break
		kill -0 $daemon 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM $daemon 2>/dev/null
	wait $daemon
	# Its workers and monitor share the pid file's lock: the next heraldd
	# may start once they are gone too.
	for _ in $(seq 1 300); do
		[ "$(running_installed)" = 0 ] && break
		sleep 0.1
	done
	[ "$state" = done ] && [ "$(t_sink_count "$T_DIR/sink")" = "$want" ] &&
		t_ok "the installed heraldd sent $name: $N messages, mailing done" ||
		t_fail "the installed heraldd sent $name" "state $state, sink $(t_sink_count "$T_DIR/sink") of $want; $(tail -c 1500 "$T_DIR/heraldd-$name.log")"
}
send_mailing first

# snapshot: row counts of recipients and the delivery history, and a
# checksum of every row of every table but the migrations' own.
snapshot() {
	q "SELECT (SELECT COUNT(*) FROM recipients), (SELECT COUNT(*) FROM history),
	          (SELECT COUNT(*) FROM mailings), (SELECT COUNT(*) FROM batches)"
	mariadb-dump --no-defaults --socket="$T_DIR/state/mariadb/mysqld.sock" -uroot \
	    --skip-dump-date --no-create-info --skip-extended-insert --order-by-primary \
	    --ignore-table=herald.schema_migrations --ignore-table=herald.package_upgrade_test \
	    herald | grep '^INSERT' | md5sum
}
before=$(snapshot)
case $(echo $before) in
"$N $N 1 2 "*) t_ok "before the upgrade: $N recipients, $N history rows" ;;
*) t_fail "before the upgrade: $N recipients, $N history rows" "$before" ;;
esac
h history r7@example.net >"$T_DIR/history-before" 2>&1

# --- 3c. upgrade to v2, with migration 999 ----------------------------------
echo "# a local change the upgrade must keep" >>/etc/herald.conf
dpkg_quiet -i "$deb2" && t_ok "dpkg -i $(basename "$deb2") upgrades" ||
	{ t_fail "dpkg -i $(basename "$deb2") upgrades" "$(cat "$T_DIR/dpkg.out")"; t_done; }
[ "$(/usr/bin/herald --version)" = "herald $version2" ] &&
	t_ok "herald --version says $version2" ||
	t_fail "herald --version says $version2" "$(/usr/bin/herald --version)"
grep -q "a local change the upgrade must keep" /etc/herald.conf && [ ! -e /etc/herald.conf.dpkg-new ] &&
	t_ok "the operator's /etc/herald.conf is kept" ||
	t_fail "the operator's /etc/herald.conf is kept" "$(ls /etc/herald.conf*)"
[ "$(running_installed)" = 0 ] && t_ok "the upgrade started nothing" ||
	t_fail "the upgrade started nothing" "$(running_installed) running"
h db status >"$T_DIR/status" 2>&1
grep -q 'pending: 999_[a-z_]*\.sql; run "herald db migrate"' "$T_DIR/status" &&
	t_ok "db status names the new migration" ||
	t_fail "db status names the new migration" "$(head -5 "$T_DIR/status")"
t_check "herald db migrate" h db migrate
grep -q "schema version 999 (1 migration applied)" "$T_DIR/out" &&
	[ "$(q "SELECT note FROM package_upgrade_test")" = "applied by the upgraded package" ] &&
	t_ok "migration 999 applied" ||
	t_fail "migration 999 applied" "$(cat "$T_DIR/out")"
after=$(snapshot)
[ "$after" = "$before" ] &&
	t_ok "recipients and history intact (counts and checksum: $(echo $before | cut -c1-40))" ||
	t_fail "recipients and history intact" "before: $before; after: $after"
h history r7@example.net >"$T_DIR/history-after" 2>&1
cmp -s "$T_DIR/history-before" "$T_DIR/history-after" && grep -q first "$T_DIR/history-after" &&
	t_ok "herald history shows the same" ||
	t_fail "herald history shows the same" "$(diff "$T_DIR/history-before" "$T_DIR/history-after")"
send_mailing second
t_check "herald db stop" h db stop

# --- 3d. remove, then purge -------------------------------------------------
dpkg_quiet -r herald && t_ok "dpkg -r herald" ||
	t_fail "dpkg -r herald" "$(cat "$T_DIR/dpkg.out")"
[ ! -e /usr/bin/herald ] && [ ! -e /usr/sbin/heraldd ] &&
	grep -q "a local change" /etc/herald.conf && [ -d /var/lib/herald ] &&
	[ -d "$T_DIR/state/mariadb/data/herald" ] && getent passwd herald >/dev/null &&
	t_ok "removed: programs gone; configuration, data and user kept" ||
	t_fail "removed: programs gone; configuration, data and user kept" "$(ls -d /usr/bin/herald /etc/herald.conf /var/lib/herald 2>&1)"
dpkg_quiet -P herald && t_ok "dpkg -P herald" ||
	t_fail "dpkg -P herald" "$(cat "$T_DIR/dpkg.out")"
[ ! -e /etc/herald.conf ] && t_ok "purged: /etc/herald.conf removed" ||
	t_fail "purged: /etc/herald.conf removed" "still there"
grep -q "/var/lib/herald .* is left in place" "$T_DIR/dpkg.out" && [ -d /var/lib/herald ] &&
	t_ok "purge says the data directory is left alone, and leaves it" ||
	t_fail "purge says the data directory is left alone" "$(cat "$T_DIR/dpkg.out")"

t_done
