/*
 * node.h - the heraldd nodes sharing one database (the nodes and
 * node_relays tables, sql/010_nodes.sql).
 *
 * Batch leases (batch.h), the monitor's metrics (monitor.h) and the
 * nodes table all name a node the same way: node_name, or the host name
 * when it is empty.
 *
 * Each heraldd's monitor registers its node when it starts
 * (node_register), beats every NODE_HEARTBEAT_INTERVAL seconds with what
 * its scoreboard shows (node_heartbeat) and marks it stopped when heraldd
 * stops (node_stopped). herald status reads them all (node_list): a node
 * whose last beat is older than node_timeout is dead; its batches go
 * back to the other nodes when their leases expire (batch_lease), which
 * needs nothing from here. After each beat the monitor counts the live
 * nodes (node_share): each takes its share of the cluster-wide rate
 * limits (throttle.h). Every time is the database server's clock.
 */
#ifndef HERALD_NODE_H
#define HERALD_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <mysql.h>

#include "buf.h"
#include "config.h"

#define NODE_HEARTBEAT_INTERVAL 5

/* Writes this node's name into out (size bytes, NUL-terminated). */
void node_name(const struct herald_config *cfg, char *out, size_t size);

/* Who a node is, for node_register. */
struct node_identity {
	const char *name;	/* node_name() */
	const char *host;	/* gethostname() */
	long pid;		/* the master's */
	const char *version;
	int64_t uptime_ms;	/* since the master started */
};

/* What a node's relays did, for node_heartbeat and node_list. */
struct node_relay_report {
	char name[100];		/* HOST:PORT */
	int up;
	double sent_per_second;	/* over the last ten seconds */
	uint64_t sent, deferred, failed;
};

/* What a node tells the others at each beat. */
struct node_report {
	unsigned workers, workers_sending;
	uint64_t sent, deferred, failed;	/* since heraldd started */
	double sent_per_second;
	const struct node_relay_report *relays;
	unsigned relay_count;
};

/*
 * Registers the node (its row made fresh, its old relay rows removed).
 * When another heraldd beat under the same name less than timeout
 * seconds ago from another host or pid, warns that the two share a name
 * (their leases and rows would be mixed up). 0, or -1 with err.
 */
int node_register(MYSQL *db, const struct node_identity *who, long timeout,
    struct buf *err);

/* One beat: the node's row and its relays' rows. 0, or -1 with err. */
int node_heartbeat(MYSQL *db, const char *name,
    const struct node_report *report, struct buf *err);

/* Who shares the cluster-wide rate limits, for node_share. */
struct node_share {
	unsigned alive;		/* live nodes, this one included */
	int seen;		/* every other live node has beaten since this
				 * one registered, so it counts this one */
};

/*
 * After a beat of node name: the live nodes (not stopped, silent no
 * longer than timeout seconds, this one always counted) and whether each
 * other one has beaten within the registered_us microseconds since this
 * node registered (node_register returned). A node takes 1/alive of each
 * cluster-wide limit only once seen: until then the others still take
 * their parts as if it were not there. 0, or -1 with err.
 */
int node_share(MYSQL *db, const char *name, long timeout,
    int64_t registered_us, struct node_share *share, struct buf *err);

/* heraldd stops cleanly: the node shows as stopped, not dead. */
int node_stopped(MYSQL *db, const char *name, long pid, struct buf *err);

enum node_state { NODE_ALIVE, NODE_DEAD, NODE_STOPPED };

/* One node as herald status shows it. */
struct node_status {
	char name[256], host[256], version[64], started_at[32];
	long pid;
	double silent_seconds;		/* since its last beat */
	enum node_state state;
	unsigned workers, workers_sending;
	uint64_t sent, deferred, failed;
	double sent_per_second;
	struct node_relay_report *relays;
	unsigned relay_count;
};

/*
 * Every registered node, by name, with its relays; dead when silent
 * longer than timeout seconds. The caller frees *nodes with
 * node_list_free. 0, or -1 with err.
 */
int node_list(MYSQL *db, long timeout, struct node_status **nodes,
    unsigned *count, struct buf *err);
void node_list_free(struct node_status *nodes, unsigned count);

const char *node_state_name(enum node_state state);

#endif
