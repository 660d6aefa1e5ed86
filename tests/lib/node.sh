# tests/lib/node.sh - several heraldd nodes on the test's database, each
# with its own state directory, node_name and relay (tests/integration/
# nodes.sh, cluster.sh).
#
#   t_node_config NAME PORT      write $T_DIR/NAME.conf: $T_CONFIG (less its
#                                state_directory) plus node NAME's own
#                                state directory, pid file, node_name
#                                node-NAME and relay port PORT; append more
#                                keys on stdin (or </dev/null)
#   t_start_node NAME            start heraldd -f on $T_DIR/NAME.conf,
#                                logging to $T_DIR/NAME.log; sets
#                                T_NODE_PID; stopped at exit
#   t_kill_node PID              SIGKILL a node's master, workers and
#                                monitor at once (stopped first, so none
#                                sees the others go)
#   t_status_json FILE [CONF]    herald status --json into FILE
#   t_node_field FILE NODE FIELD a field of node NODE (node-a) in that JSON
#   t_nodes_mailing N NAME       herald db init; N recipients rI@example.org
#                                (first name RI) imported; mailing NAME to
#                                them all created and staged (mailing 1,
#                                stage_1), for the nodes to send
#   t_node_batches NODE          the ids of the batches NODE (node-a) holds
#                                claimed, "3,4" (NULL when none)
#   t_check_taken_over X IDS BY  a pass when every batch in IDS (node X's,
#                                from t_node_batches) is done, claimed again
#                                once its lease expired, by BY (the others)
#
# Source tests/lib/common.sh first (and call t_use_database).

t_node_config() {
	grep -v '^state_directory' "$T_CONFIG" >"$T_DIR/$1.conf"
	cat >>"$T_DIR/$1.conf" <<CONF
state_directory = $T_DIR/state-$1
pid_file = $T_DIR/$1.pid
node_name = node-$1
relay_port = $2
CONF
	cat >>"$T_DIR/$1.conf"
}

t_start_node() {
	"$HERALDD_BIN" -f -c "$T_DIR/$1.conf" >"$T_DIR/$1.log" 2>&1 &
	T_NODE_PID=$!
	t_at_exit "kill $T_NODE_PID 2>/dev/null"
}

t_kill_node() {
	local p
	kill -STOP "$1"
	for p in $(pgrep -P "$1"); do kill -KILL "$p"; done
	kill -KILL "$1"
	wait "$1" 2>/dev/null
}

t_status_json() {
	"$HERALD_BIN" -c "${2:-$T_CONFIG}" status --json >"$1" 2>"$T_DIR/status.err"
}

t_node_field() {
	"$PYTHON3" -c "import json,sys
d = json.load(open(sys.argv[1]))
print([n for n in d['nodes'] if n['name'] == sys.argv[2]][0][sys.argv[3]])" "$@" 2>/dev/null
}

t_nodes_mailing() {
	"$HERALD_BIN" db init >/dev/null || { t_fail "db init" "failed"; t_done; }
	mkdir -p "$T_DIR/t" && echo "Hi {{first_name}}" >"$T_DIR/t/text.mustache"
	awk -v n="$1" 'BEGIN { print "email,first_name"; for (i = 1; i <= n; i++) printf "r%d@example.org,R%d\n", i, i }' >"$T_DIR/r.csv"
	"$HERALD_BIN" import "$T_DIR/r.csv" >/dev/null
	"$HERALD_BIN" mailing create --name "$2" --template "$T_DIR/t" --segment all --from a@example.org --subject s >/dev/null
	"$HERALD_BIN" stage >/dev/null 2>&1
}

t_node_batches() {
	t_sql "SELECT GROUP_CONCAT(id ORDER BY id) FROM batches WHERE state = 'claimed' AND owner_node = '$1'"
}

t_check_taken_over() {
	[ "$(t_sql "SELECT COUNT(*) FROM batches WHERE id IN ($2) AND state = 'done' AND claim_count >= 2")" = \
	  "$(echo "$2" | tr ',' '\n' | wc -l)" ] &&
		t_ok "node $1's batches were finished by $3 once their leases expired" ||
		t_fail "$1's batches" "$(t_sql "SELECT id, state, claim_count FROM batches WHERE id IN ($2)")"
}
