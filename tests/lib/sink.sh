# tests/lib/sink.sh - a real smtp-sink (Postfix's test SMTP server) on
# loopback that keeps every message it receives.
#
#   t_free_port                  print a TCP port free on 127.0.0.1
#   t_start_sink DIR [OPTIONS]   start smtp-sink on a free port, dumping
#                                each message to a file under DIR; sets
#                                T_SINK_PORT and T_SINK_PID; stopped at exit
#   t_sink_count DIR             number of messages received so far
#
# Source tests/lib/common.sh first.

t_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

t_start_sink() {
	local dir=$1
	shift
	command -v smtp-sink >/dev/null || [ -x /usr/sbin/smtp-sink ] ||
		t_skip "smtp-sink not installed (Debian package postfix)"
	mkdir -p "$dir"
	# smtp-sink refuses to run as root unless told which user to be;
	# that user must reach the directory through the test's own (mode
	# 700) one, or the sink exits at the first message.
	chown nobody "$dir" 2>/dev/null
	chmod 711 "$T_DIR"
	T_SINK_PORT=$(t_free_port)
	/usr/sbin/smtp-sink -u nobody -d "$dir/%H%M%S." "$@" \
	    "127.0.0.1:$T_SINK_PORT" 1000 >"$T_DIR/sink.log" 2>&1 &
	T_SINK_PID=$!
	t_at_exit "kill $T_SINK_PID 2>/dev/null"
	for _ in $(seq 1 50); do
		python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" \
		    "$T_SINK_PORT" 2>/dev/null && return 0
		sleep 0.1
	done
	t_skip "smtp-sink did not start: $(cat "$T_DIR/sink.log")"
}

t_sink_count() {
	find "$1" -type f | wc -l
}
