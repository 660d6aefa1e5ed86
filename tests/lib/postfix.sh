# tests/lib/postfix.sh - a private, real Postfix instance on loopback.
#
#   t_start_postfix NEXT_HOP_PORT [MAIN.CF LINES...]
#       starts Postfix with its own configuration, queue and log under
#       $T_DIR/postfix, listening on a free port of 127.0.0.1 (set in
#       T_POSTFIX_PORT), relaying everything to 127.0.0.1:NEXT_HOP_PORT;
#       extra main.cf lines override the defaults below. Stopped at exit.
#   t_postfix COMMAND   postfix COMMAND (start, stop, ...) on the instance,
#                       serialised with other tests' instances
#   t_postfix_log       the instance's log file
# With T_POSTFIX_TMPFS=1 the queue is on a tmpfs when the machine allows
# mounting one (T_POSTFIX_QUEUE says tmpfs or disk).
#
# The settings herald is meant to run with (contrib/postfix/main.cf) are
# applied first, so the tests exercise them: smtpd_forbid_bare_newline
# with no exclusions among them. Source tests/lib/common.sh first.

t_start_postfix() {
	local next_hop=$1 dir="$T_DIR/postfix"
	shift
	[ -x /usr/sbin/postfix ] ||
		t_skip "Postfix is not installed (Debian package postfix)"
	T_POSTFIX_PORT=$(t_free_port)
	mkdir -p "$dir/conf" "$dir/queue" "$dir/data"
	chmod 755 "$T_DIR" "$dir"
	chown postfix "$dir/data"
	# postsuper logs there as the postfix user when it meets a file a
	# killed cleanup left in the queue (Postfix stopped mid-send): a
	# log it cannot open fails the start.
	: >"$dir/maillog"
	chown postfix "$dir/maillog"
	{
		sed -n '/^[a-z_]* *=/p' "$HERALD_SRCDIR/contrib/postfix/main.cf"
		cat <<CONF
queue_directory = $dir/queue
data_directory = $dir/data
maillog_file_prefixes = /var, /dev/stdout, $dir
maillog_file = $dir/maillog
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = herald-test.localdomain
mydestination =
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$next_hop
default_transport = smtp
relay_transport = smtp
smtp_tls_security_level = none
smtpd_tls_security_level = none
compatibility_level = 3.6
CONF
		printf '%s\n' "$@"
	} >"$dir/conf/main.cf"
	# Debian's services, without chroot (the queue is a private
	# directory), and smtpd on our port instead of 25.
	awk -v port="$T_POSTFIX_PORT" '
		/^smtp +inet/ { print "127.0.0.1:" port " inet n - n - - smtpd"; next }
		/^[a-z]/ && NF >= 8 && $2 != "inet" { $5 = "n" }
		/^#/ || /^ / || /^\t/ { print; next }
		/^[a-z]/ && $2 == "inet" { next }
		{ print }' /etc/postfix/master.cf >"$dir/conf/master.cf"
	# T_POSTFIX_TMPFS=1: the whole queue on a RAM disk (every queue
	# directory must be on one file system: Postfix renames between them).
	if [ "${T_POSTFIX_TMPFS:-0}" = 1 ] &&
	    mount -t tmpfs -o size=2g,mode=755 tmpfs "$dir/queue" 2>/dev/null; then
		# After "postfix stop" its processes take a moment to leave.
		t_at_exit "for _ in \$(seq 1 100); do umount '$dir/queue' 2>/dev/null && break; sleep 0.1; done"
		T_POSTFIX_QUEUE=tmpfs
	else
		T_POSTFIX_QUEUE=disk
	fi
	t_postfix check >"$T_DIR/postfix-check.out" 2>&1
	t_postfix start >"$T_DIR/postfix-start.out" 2>&1 ||
		t_skip "Postfix did not start: $(cat "$T_DIR/postfix-start.out" "$dir/maillog" 2>/dev/null | tail -5)"
	t_at_exit "t_postfix stop >/dev/null 2>&1"
	for _ in $(seq 1 50); do
		python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" \
		    "$T_POSTFIX_PORT" 2>/dev/null && return 0
		sleep 0.1
	done
	t_skip "Postfix does not listen on $T_POSTFIX_PORT: $(tail -5 "$dir/maillog" 2>/dev/null)"
}

# t_postfix COMMAND: "postfix COMMAND" on this test's instance. Tests run
# in parallel (make -j2 check): Postfix's start and check run
# post-install over the shared /etc/postfix metadata, and two at once can
# fail its integrity check, so these are serialised across tests.
t_postfix() {
	flock -w 120 /tmp/herald-test-postfix.lock postfix -c "$T_DIR/postfix/conf" "$@"
}

t_postfix_log() {
	echo "$T_DIR/postfix/maillog"
}
