/*
 * cluster_limits.c - how two ways of holding one rate limit across
 * several heraldd nodes keep it, and what each costs the database
 * (issue #19). Three ways run side by side in one run, each with its own
 * three node processes sending as fast as the limit lets them (no SMTP:
 * a send is a recorded time):
 *
 *   reference  every node applies the whole limit on its own: what one
 *              scoreboard per node gave before (the limit times N);
 *   share      each node takes 1/N of the limit, N the live nodes in the
 *              nodes table, read after each heartbeat; a node that joins
 *              waits until every other one has beaten since (node.h,
 *              throttle_share: what heraldd does);
 *   lease      tokens leased in blocks from the database: one row per
 *              limited key holds a theoretical arrival time on the
 *              database's clock, a lease pushes it a block of tokens
 *              forward and the node sends them at the limit's pace.
 *
 * Nodes A and B start at 0, C joins at -j seconds, A is SIGKILLed at -k
 * seconds, the run ends at -d seconds. Prints, per way, the busiest
 * sliding minute (from each message), its overshoot over the limit, the
 * minutes from the start (the last one may be partial), the share of
 * the limit used, and the database statements the way adds (the
 * heartbeat is there anyway) and their time per minute.
 *
 * usage: cluster_limits [-r per_minute] [-d seconds] [-j join_s]
 *                       [-k kill_s] [-b block] [-t node_timeout]
 * Connects as HERALD_CONFIG says, in a database of its own that holds
 * herald's schema (cluster-limits.sh makes one).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "node.h"
#include "throttle.h"

enum way { WAY_REFERENCE, WAY_SHARE, WAY_LEASE, WAY_COUNT };
static const char *way_name[WAY_COUNT] = { "reference", "share", "lease" };

struct options {
	double per_minute;
	int duration, join, kill, block, timeout;
};

/* What one way's nodes record, shared by its processes. */
struct record {
	_Atomic uint64_t count;
	_Atomic uint64_t statements;
	_Atomic uint64_t statement_us;
	uint64_t capacity;
	int64_t times[];	/* us since the run's start */
};

static struct herald_config config;
static int64_t run_start_us;

static void
sleep_until(int64_t at_us)
{
	int64_t wait = at_us - throttle_now_us();

	if (wait > 0) {
		struct timespec ts = { wait / 1000000, wait % 1000000 * 1000 };

		nanosleep(&ts, NULL);
	}
}

static void
record_send(struct record *r, int64_t at_us)
{
	uint64_t i = atomic_fetch_add(&r->count, 1);

	if (i < r->capacity)
		r->times[i] = at_us - run_start_us;
}

/* Counts a statement and its time. */
static void
record_statement(struct record *r, int64_t since_us)
{
	atomic_fetch_add(&r->statements, 1);
	atomic_fetch_add(&r->statement_us, (uint64_t)(throttle_now_us() -
	    since_us));
}

static MYSQL *
connect_or_die(void)
{
	struct buf err = BUF_INIT;
	MYSQL *db = db_connect(&config, DB_SELECT_DATABASE, &err);

	if (db == NULL)
		msg_fatal("cluster_limits: %s", buf_str(&err));
	return db;
}

/* reference: the whole limit, this node's own bucket. */
static void
node_reference(const struct options *o, struct record *r, int64_t end_us)
{
	struct throttle_table *t = throttle_table_create(4);
	int64_t at;

	while ((at = throttle_reserve(t, "domain:x", o->per_minute * 60,
	    throttle_now_us())) < end_us) {
		sleep_until(at);
		record_send(r, at);
	}
}

/* share: heraldd's own way (monitor.c: monitor_beat, monitor_share). */
static void
node_share_way(const struct options *o, struct record *r, int64_t end_us,
    const char *name)
{
	struct throttle_table *t = throttle_table_create(4);
	struct node_identity who = { .name = name, .host = "bench",
	    .pid = getpid(), .version = "bench" };
	struct node_report report = { 0 };
	struct node_share share;
	struct buf err = BUF_INIT;
	MYSQL *db = connect_or_die();
	int64_t registered, beat_due = 0, now, at, since;
	double per_hour;

	if (node_register(db, &who, o->timeout, &err) != 0)
		msg_fatal("node_register: %s", buf_str(&err));
	registered = throttle_now_us();
	while ((now = throttle_now_us()) < end_us) {
		if (now >= beat_due) {
			/* The beat is there without any shared limit: only
			 * the count that follows is the share's cost. */
			if (node_heartbeat(db, name, &report, &err) != 0)
				msg_fatal("beat: %s", buf_str(&err));
			since = throttle_now_us();
			if (node_share(db, name, o->timeout, now - registered,
			    &share, &err) != 0)
				msg_fatal("share: %s", buf_str(&err));
			record_statement(r, since);
			throttle_set_share(t, share.seen ? share.alive : 0,
			    now + o->timeout * 1000000LL);
			beat_due = now + (share.seen ? NODE_HEARTBEAT_INTERVAL *
			    1000000LL : 1000000);
		}
		per_hour = throttle_share(t, o->per_minute * 60, now);
		if (per_hour < 0) {
			sleep_until(now + 100000);
			continue;
		}
		at = throttle_reserve(t, "domain:x", per_hour, now);
		if (at >= end_us)
			break;
		sleep_until(at);
		record_send(r, at);
	}
}

/* lease: blocks of o->block tokens from the database's clock. */
static void
node_lease_way(const struct options *o, struct record *r, int64_t end_us)
{
	char block_us[32], burst_us[32];
	const char *params[2] = { burst_us, block_us };
	int64_t interval = (int64_t)(60e6 / o->per_minute), at, since;
	struct buf err = BUF_INIT, offset = BUF_INIT;
	MYSQL *db = connect_or_die();

	snprintf(block_us, sizeof(block_us), "%lld", (long long)interval *
	    o->block);
	snprintf(burst_us, sizeof(burst_us), "%d", THROTTLE_BURST_US);
	while (throttle_now_us() < end_us) {
		int64_t local;

		since = throttle_now_us();
		/* The block starts at the row's arrival time, or a burst
		 * behind now after an idle spell; the reply is its offset
		 * from the server's now, so clocks need not agree. */
		if (db_execute(db, "UPDATE bench_rate_lease SET tat_us = "
		    "(@start := GREATEST(tat_us, CAST(UNIX_TIMESTAMP(NOW(6)) * "
		    "1000000 AS SIGNED) - ?)) + ? WHERE rate_key = 'domain:x'",
		    2, params, NULL,
		    &err) != 0 || db_query_strings(db, "SELECT @start - "
		    "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)", 0, NULL,
		    db_first_value, &offset, &err) != 0)
			msg_fatal("lease: %s", buf_str(&err));
		local = throttle_now_us();
		/* Two statements, one lease: the time counted once. */
		record_statement(r, since);
		atomic_fetch_add(&r->statements, 1);
		at = local + strtoll(buf_str(&offset), NULL, 10);
		for (int i = 0; i < o->block; i++, at += interval) {
			if (at >= end_us)
				return;
			sleep_until(at);
			record_send(r, at);
		}
	}
}

static void
run_node(enum way way, const struct options *o, struct record *r,
    int64_t end_us, const char *name)
{
	switch (way) {
	case WAY_REFERENCE:
		node_reference(o, r, end_us);
		break;
	case WAY_SHARE:
		node_share_way(o, r, end_us, name);
		break;
	case WAY_LEASE:
		node_lease_way(o, r, end_us);
		break;
	case WAY_COUNT:
		break;
	}
	_exit(0);
}

static pid_t
start_node(enum way way, const struct options *o, struct record *r,
    int64_t end_us, char letter)
{
	char name[32];
	pid_t pid;

	snprintf(name, sizeof(name), "bench-%s-%c", way_name[way], letter);
	pid = fork();
	if (pid < 0)
		msg_fatal("fork: %s", strerror(errno));
	if (pid == 0)
		run_node(way, o, r, end_us, name);
	return pid;
}

static int
compare_times(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The busiest sliding minute, starting at each message. */
static uint64_t
busiest_minute(const int64_t *t, uint64_t n)
{
	uint64_t most = 0;

	for (uint64_t i = 0, j = 0; i < n; i++) {
		while (j < n && t[j] < t[i] + 60000000)
			j++;
		if (j - i > most)
			most = j - i;
	}
	return most;
}

static void
report(enum way way, const struct options *o, struct record *r,
    double reference_ratio)
{
	uint64_t n = atomic_load(&r->count), most;
	double minutes = o->duration / 60.0, ratio;

	if (n > r->capacity)
		n = r->capacity;
	qsort(r->times, n, sizeof(r->times[0]), compare_times);
	most = busiest_minute(r->times, n);
	ratio = most / o->per_minute;
	printf("%-9s busiest minute %6llu (limit %.0f: %+6.1f%%, %.2fx the "
	    "limit, %.2fx the reference); used %3.0f%% of the limit over "
	    "the run; minutes from 0 s:", way_name[way], (unsigned long long)most,
	    o->per_minute, 100 * (ratio - 1), ratio, reference_ratio > 0 ?
	    ratio / reference_ratio : 1.0, 100.0 * n / (o->per_minute *
	    minutes));
	for (int m = 0; m * 60 < o->duration; m++) {
		uint64_t c = 0;

		for (uint64_t i = 0; i < n; i++)
			c += r->times[i] >= m * 60000000LL && r->times[i] <
			    (m + 1) * 60000000LL;
		printf(" %llu", (unsigned long long)c);
	}
	printf("; database: %.0f statements/min added, %.1f ms/min\n",
	    atomic_load(&r->statements) / minutes,
	    atomic_load(&r->statement_us) / 1000.0 / minutes);
}

int
main(int argc, char **argv)
{
	struct options o = { 6000, 90, 20, 45, 100, 10 };
	struct record *records[WAY_COUNT];
	pid_t nodes[WAY_COUNT][3];
	struct buf err = BUF_INIT;
	size_t size;
	int64_t end_us;
	MYSQL *db;
	int c;

	while ((c = getopt(argc, argv, "r:d:j:k:b:t:")) != -1) {
		switch (c) {
		case 'r': o.per_minute = atof(optarg); break;
		case 'd': o.duration = atoi(optarg); break;
		case 'j': o.join = atoi(optarg); break;
		case 'k': o.kill = atoi(optarg); break;
		case 'b': o.block = atoi(optarg); break;
		case 't': o.timeout = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: cluster_limits [-r per_minute] "
			    "[-d s] [-j join_s] [-k kill_s] [-b block] "
			    "[-t node_timeout]\n");
			return 2;
		}
	}
	if (o.per_minute <= 0 || o.duration < 60 || o.block < 1 ||
	    o.timeout < 10) {
		fprintf(stderr, "cluster_limits: need -r > 0, -d >= 60, "
		    "-b >= 1, -t >= 10\n");
		return 2;
	}
	config_defaults(&config);
	if (config_locate_and_load(&config, NULL, &err) != 0)
		msg_fatal("%s", buf_str(&err));
	db = connect_or_die();
	if (db_exec(db, "CREATE TABLE IF NOT EXISTS bench_rate_lease ("
	    "rate_key VARCHAR(64) PRIMARY KEY, tat_us BIGINT NOT NULL) "
	    "ENGINE=InnoDB", &err) != 0 || db_exec(db, "REPLACE INTO "
	    "bench_rate_lease VALUES ('domain:x', 0)", &err) != 0 ||
	    db_exec(db, "DELETE FROM nodes WHERE name LIKE 'bench-%'", &err) !=
	    0)
		msg_fatal("%s", buf_str(&err));
	mysql_close(db);
	/* Room for the reference's N times the limit, and its bursts. */
	size = sizeof(struct record) + sizeof(int64_t) * (size_t)(4 *
	    o.per_minute * (o.duration / 60.0 + 1));
	for (int w = 0; w < WAY_COUNT; w++) {
		records[w] = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (records[w] == MAP_FAILED)
			msg_fatal("mmap: %s", strerror(errno));
		records[w]->capacity = (size - sizeof(struct record)) /
		    sizeof(int64_t);
	}
	run_start_us = throttle_now_us();
	end_us = run_start_us + o.duration * 1000000LL;
	for (int w = 0; w < WAY_COUNT; w++) {
		nodes[w][0] = start_node(w, &o, records[w], end_us, 'a');
		nodes[w][1] = start_node(w, &o, records[w], end_us, 'b');
	}
	sleep_until(run_start_us + o.join * 1000000LL);
	for (int w = 0; w < WAY_COUNT; w++)
		nodes[w][2] = start_node(w, &o, records[w], end_us, 'c');
	sleep_until(run_start_us + o.kill * 1000000LL);
	for (int w = 0; w < WAY_COUNT; w++)
		kill(nodes[w][0], SIGKILL);
	for (int w = 0; w < WAY_COUNT; w++)
		for (int i = 0; i < 3; i++)
			waitpid(nodes[w][i], NULL, 0);
	printf("%.0f/min over %d s: nodes A and B from 0 s, C from %d s, A "
	    "killed at %d s; node_timeout %d s, heartbeat %d s, lease block "
	    "%d\n", o.per_minute, o.duration, o.join, o.kill, o.timeout,
	    NODE_HEARTBEAT_INTERVAL, o.block);
	{
		uint64_t n = atomic_load(&records[WAY_REFERENCE]->count);
		double reference_ratio;

		report(WAY_REFERENCE, &o, records[WAY_REFERENCE], 0);
		reference_ratio = busiest_minute(records[WAY_REFERENCE]->times,
		    n < records[WAY_REFERENCE]->capacity ? n :
		    records[WAY_REFERENCE]->capacity) / o.per_minute;
		report(WAY_SHARE, &o, records[WAY_SHARE], reference_ratio);
		report(WAY_LEASE, &o, records[WAY_LEASE], reference_ratio);
	}
	config_free(&config);
	return 0;
}
