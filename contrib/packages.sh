# contrib/packages.sh - the Debian 12 packages herald builds and tests with,
# and a function installing the missing ones. Sourced by contrib/check and
# contrib/quickstart.
HERALD_PACKAGES="autoconf automake libtool pkg-config make gcc
	default-libmysqlclient-dev libesmtp-dev libev-dev libcurl4-openssl-dev
	libssl-dev check libsubunit-dev libjansson-dev libcsv-dev
	libmicrohttpd-dev chromium wrk
	mariadb-server mariadb-client postfix python3 python3-aiosmtpd valgrind
	python3-prometheus-client prometheus
	ganglia-monitor dpkg-dev debhelper lintian systemd
	sasl2-bin libsasl2-modules opendkim opendkim-tools python3-dkim"

# herald_install_packages: apt-get install what is missing (needs root).
herald_install_packages() {
	local missing="" p own_policy=0 status
	for p in $HERALD_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "== installing:$missing"
	if [ "$(id -u)" != 0 ]; then
		echo "packages missing ($missing): run as root, or install them" >&2
		return 1
	fi
	# Postfix asks questions on install; herald's tests run their own
	# private instances, so the system one stays "Local only".
	echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
	echo "postfix postfix/mailname string localhost" | debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || { echo "apt-get update failed" >&2; return 1; }
	# Installing servers must not start the system's copies of them.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		own_policy=1
	fi
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	status=$?
	[ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
	[ "$status" = 0 ] || echo "apt-get install failed" >&2
	return "$status"
}
