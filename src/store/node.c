/*
 * node.c - the nodes sharing one database (see node.h). Every statement
 * on the nodes and node_relays tables is here.
 */
#include "node.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
node_name(const struct herald_config *cfg, char *out, size_t size)
{
	if (cfg->node_name[0])
		snprintf(out, size, "%s", cfg->node_name);
	else if (gethostname(out, size) != 0)
		snprintf(out, size, "localhost");
	out[size - 1] = '\0';
}

/* The row under this name before ours: who beat, how long ago. */
struct node_previous {
	int found, stopped;
	char host[256];
	long pid;
	double silent_seconds;
};

static int
node_previous_row(void *arg, unsigned ncolumns, char **columns)
{
	struct node_previous *p = arg;

	(void)ncolumns;
	p->found = 1;
	snprintf(p->host, sizeof(p->host), "%s", columns[0]);
	p->pid = strtol(columns[1], NULL, 10);
	p->silent_seconds = atof(columns[2]);
	p->stopped = columns[3] != NULL;
	return 1;
}

int
node_register(MYSQL *db, const struct node_identity *who, long timeout,
    struct buf *err)
{
	struct node_previous before = { 0 };
	struct db_value values[5] = { db_bind_text(who->name),
	    db_bind_text(who->host), db_bind_i64(who->pid),
	    db_bind_text(who->version), db_bind_i64(who->uptime_ms * 1000) };

	if (db_query_values(db, "SELECT host, pid, TIMESTAMPDIFF(MICROSECOND, "
	    "heartbeat_at, UTC_TIMESTAMP(3)) / 1e6, stopped_at FROM nodes "
	    "WHERE name = ?", 1, values, node_previous_row, &before, err) != 0)
		return -1;
	if (before.found && !before.stopped && before.silent_seconds <
	    timeout && (strcmp(before.host, who->host) != 0 || before.pid !=
	    who->pid))
		msg_warn("another heraldd (host %s, pid %ld) beat as node \"%s\" "
		    "%.0f s ago: give each node its own node_name, or their "
		    "batch leases and status are mixed up", before.host,
		    before.pid, who->name, before.silent_seconds);
	/* The start time on the database's clock, like every beat. */
	if (db_execute_values(db, "INSERT INTO nodes (name, host, pid, "
	    "version, started_at, heartbeat_at) VALUES (?, ?, ?, ?, "
	    "UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND, UTC_TIMESTAMP(3)) "
	    "ON DUPLICATE KEY UPDATE host = VALUES(host), pid = VALUES(pid), "
	    "version = VALUES(version), started_at = VALUES(started_at), "
	    "heartbeat_at = VALUES(heartbeat_at), stopped_at = NULL, "
	    "workers = 0, workers_sending = 0, sent_count = 0, "
	    "deferred_count = 0, failed_count = 0, sent_per_second = 0", 5,
	    values, NULL, err) != 0)
		return -1;
	return db_execute_values(db, "DELETE FROM node_relays WHERE node = ?",
	    1, values, NULL, err);
}

int
node_heartbeat(MYSQL *db, const char *name, const struct node_report *report,
    struct buf *err)
{
	char rate[32];
	struct db_value values[8];

	snprintf(rate, sizeof(rate), "%.3f", report->sent_per_second);
	values[0] = db_bind_u64(report->workers);
	values[1] = db_bind_u64(report->workers_sending);
	values[2] = db_bind_u64(report->sent);
	values[3] = db_bind_u64(report->deferred);
	values[4] = db_bind_u64(report->failed);
	values[5] = db_bind_text(rate);
	values[6] = db_bind_text(name);
	if (db_execute_values(db, "UPDATE nodes SET heartbeat_at = "
	    "UTC_TIMESTAMP(3), workers = ?, workers_sending = ?, sent_count = "
	    "?, deferred_count = ?, failed_count = ?, sent_per_second = ? "
	    "WHERE name = ?", 7, values, NULL, err) != 0)
		return -1;
	for (unsigned i = 0; i < report->relay_count; i++) {
		const struct node_relay_report *r = &report->relays[i];

		snprintf(rate, sizeof(rate), "%.3f", r->sent_per_second);
		values[0] = db_bind_text(name);
		values[1] = db_bind_text(r->name);
		values[2] = db_bind_u64(r->up ? 1 : 0);
		values[3] = db_bind_text(rate);
		values[4] = db_bind_u64(r->sent);
		values[5] = db_bind_u64(r->deferred);
		values[6] = db_bind_u64(r->failed);
		if (db_execute_values(db, "INSERT INTO node_relays (node, relay, "
		    "up, sent_per_second, sent_count, deferred_count, "
		    "failed_count) VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY "
		    "UPDATE up = VALUES(up), sent_per_second = "
		    "VALUES(sent_per_second), sent_count = VALUES(sent_count), "
		    "deferred_count = VALUES(deferred_count), failed_count = "
		    "VALUES(failed_count)", 7, values, NULL, err) != 0)
			return -1;
	}
	return 0;
}

static int
node_share_row(void *arg, unsigned ncolumns, char **col)
{
	struct node_share *share = arg;

	(void)ncolumns;
	/* The others, and this node. */
	share->alive = (unsigned)strtoul(col[0], NULL, 10) + 1;
	share->seen = strtoul(col[1], NULL, 10) == 0;
	return 0;
}

int
node_share(MYSQL *db, const char *name, long timeout, int64_t registered_us,
    struct node_share *share, struct buf *err)
{
	struct db_value values[3] = { db_bind_i64(registered_us),
	    db_bind_text(name), db_bind_i64((int64_t)timeout * 1000000) };

	share->alive = 1;
	share->seen = 0;
	/* The other live nodes, alive as node_list says (silent no longer
	 * than timeout), and those whose last beat is older than this
	 * node's registration: they do not count it yet. */
	return db_query_values(db, "SELECT COUNT(*), COALESCE(SUM("
	    "TIMESTAMPDIFF(MICROSECOND, heartbeat_at, UTC_TIMESTAMP(3)) >= ?), "
	    "0) FROM nodes WHERE name <> ? AND stopped_at IS NULL AND "
	    "TIMESTAMPDIFF(MICROSECOND, heartbeat_at, UTC_TIMESTAMP(3)) <= ?",
	    3, values, node_share_row, share, err);
}

int
node_stopped(MYSQL *db, const char *name, long pid, struct buf *err)
{
	struct db_value values[2] = { db_bind_text(name), db_bind_i64(pid) };

	return db_execute_values(db, "UPDATE nodes SET stopped_at = "
	    "UTC_TIMESTAMP(3), workers = 0, workers_sending = 0, "
	    "sent_per_second = 0 WHERE name = ? AND pid = ?", 2, values, NULL,
	    err);
}

struct node_listing {
	struct node_status *nodes;
	unsigned count;
	long timeout;
};

static int
node_row(void *arg, unsigned ncolumns, char **col)
{
	struct node_listing *l = arg;
	struct node_status *n;

	(void)ncolumns;
	l->nodes = xrealloc(l->nodes, (l->count + 1) * sizeof(*l->nodes));
	n = &l->nodes[l->count++];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", col[0]);
	snprintf(n->host, sizeof(n->host), "%s", col[1]);
	n->pid = strtol(col[2], NULL, 10);
	snprintf(n->version, sizeof(n->version), "%s", col[3]);
	snprintf(n->started_at, sizeof(n->started_at), "%s", col[4]);
	n->silent_seconds = atof(col[5]);
	n->state = col[6] ? NODE_STOPPED : n->silent_seconds > l->timeout ?
	    NODE_DEAD : NODE_ALIVE;
	n->workers = (unsigned)strtoul(col[7], NULL, 10);
	n->workers_sending = (unsigned)strtoul(col[8], NULL, 10);
	n->sent = strtoull(col[9], NULL, 10);
	n->deferred = strtoull(col[10], NULL, 10);
	n->failed = strtoull(col[11], NULL, 10);
	n->sent_per_second = atof(col[12]);
	return 0;
}

static int
node_relay_row(void *arg, unsigned ncolumns, char **col)
{
	struct node_listing *l = arg;
	struct node_relay_report *r;
	struct node_status *n = NULL;

	(void)ncolumns;
	for (unsigned i = 0; i < l->count && n == NULL; i++)
		if (strcmp(l->nodes[i].name, col[0]) == 0)
			n = &l->nodes[i];
	if (n == NULL)
		return 0;	/* a node registered since the first query */
	n->relays = xrealloc(n->relays, (n->relay_count + 1) *
	    sizeof(*n->relays));
	r = &n->relays[n->relay_count++];
	snprintf(r->name, sizeof(r->name), "%s", col[1]);
	/* A dead or stopped node's relays are not known to be up. */
	r->up = atoi(col[2]) && n->state == NODE_ALIVE;
	r->sent_per_second = n->state == NODE_ALIVE ? atof(col[3]) : 0;
	r->sent = strtoull(col[4], NULL, 10);
	r->deferred = strtoull(col[5], NULL, 10);
	r->failed = strtoull(col[6], NULL, 10);
	return 0;
}

int
node_list(MYSQL *db, long timeout, struct node_status **nodes,
    unsigned *count, struct buf *err)
{
	struct node_listing l = { NULL, 0, timeout };
	int rc;

	rc = db_query_values(db, "SELECT name, host, pid, version, "
	    "DATE_FORMAT(started_at, '%Y-%m-%d %H:%i:%s'), "
	    "TIMESTAMPDIFF(MICROSECOND, heartbeat_at, UTC_TIMESTAMP(3)) / 1e6, "
	    "stopped_at, workers, workers_sending, sent_count, deferred_count, "
	    "failed_count, sent_per_second FROM nodes ORDER BY name", 0, NULL,
	    node_row, &l, err);
	if (rc == 0)
		rc = db_query_values(db, "SELECT node, relay, up, "
		    "sent_per_second, sent_count, deferred_count, failed_count "
		    "FROM node_relays ORDER BY node, relay", 0, NULL,
		    node_relay_row, &l, err);
	if (rc != 0) {
		node_list_free(l.nodes, l.count);
		return -1;
	}
	/* A dead or stopped node sends nothing, whatever it last said. */
	for (unsigned i = 0; i < l.count; i++)
		if (l.nodes[i].state != NODE_ALIVE) {
			l.nodes[i].sent_per_second = 0;
			l.nodes[i].workers_sending = 0;
		}
	*nodes = l.nodes;
	*count = l.count;
	return 0;
}

void
node_list_free(struct node_status *nodes, unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		free(nodes[i].relays);
	free(nodes);
}

const char *
node_state_name(enum node_state state)
{
	switch (state) {
	case NODE_ALIVE:
		return "alive";
	case NODE_DEAD:
		return "dead";
	case NODE_STOPPED:
		return "stopped";
	}
	return "?";
}
