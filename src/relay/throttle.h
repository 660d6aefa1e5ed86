/*
 * throttle.h - send-rate limits shared by every worker of a node.
 *
 * A table of buckets in shared memory (created by the master before it
 * forks), one per limited thing: the whole node ("node"), a mailing
 * ("mailing:ID"), a destination domain ("domain:gmail.com"). Each bucket
 * is a generic cell rate algorithm: one atomic "theoretical arrival time"
 * that every reservation pushes forward by the interval between two
 * messages (3600 s / rate). A reservation is one compare-and-swap, with no
 * lock, so a worker killed at any moment cannot leave a bucket locked.
 *
 * A bucket allows a burst of THROTTLE_BURST_US worth of messages after an
 * idle period; over any minute the count stays within 1/60 (1.7%) plus one
 * message of the limit. A bucket idle for longer than that burst holds
 * nothing a fresh one would not, so a new key may take it over: the
 * table bounds the keys limited at the same time, not the keys seen in
 * the daemon's lifetime.
 *
 * Several nodes on one database share every limit (throttle_set_share):
 * the monitor counts the live nodes at each heartbeat (node_share in
 * node.h) and each node then takes 1/N of a cluster-wide limit
 * (throttle_share). Until the count is known, or once it is older than
 * node_timeout (the others may have counted this node dead and taken
 * its part), a limited message waits.
 *
 * Times are microseconds of CLOCK_MONOTONIC (shared by every process).
 */
#ifndef HERALD_THROTTLE_H
#define HERALD_THROTTLE_H

#include <stdatomic.h>
#include <stdint.h>

#define THROTTLE_BURST_US 1000000

struct throttle_bucket {
	_Atomic uint64_t key_hash;	/* 0 = free */
	_Atomic int64_t arrival_us;	/* theoretical arrival time */
	_Atomic uint64_t reserved;	/* messages reserved so far */
	char key[48];			/* for display; written once */
};

struct throttle_table {
	uint32_t bucket_count;
	/* This node takes 1/share_nodes of each cluster-wide limit until
	 * share_until_us; 0 nodes = not known (throttle_set_share). */
	_Atomic uint32_t share_nodes;
	_Atomic int64_t share_until_us;
	struct throttle_bucket buckets[];
};

/* Maps an anonymous shared table of bucket_count buckets (inherited by
 * forked workers). NULL when mmap fails. */
struct throttle_table *throttle_table_create(unsigned bucket_count);
void throttle_table_free(struct throttle_table *table);

/*
 * Reserves the next message's slot under key at per_hour messages an
 * hour, given the current time now_us. Returns the time at which that
 * message may be sent (now_us when it may go at once). per_hour <= 0
 * means no limit. When every bucket is busy (bucket_count other keys,
 * each with a reservation less than THROTTLE_BURST_US behind now) the
 * key is not limited and a warning is logged once.
 */
int64_t throttle_reserve(struct throttle_table *table, const char *key,
    double per_hour, int64_t now_us);

/*
 * Sets the number of live nodes sharing the cluster-wide limits (this
 * one included), valid until until_us; nodes 0 = not known, so limited
 * messages wait.
 */
void throttle_set_share(struct throttle_table *table, unsigned nodes,
    int64_t until_us);

/*
 * This node's part of a cluster-wide limit of per_hour at now_us:
 * per_hour divided by the live nodes. per_hour when it is 0 (no limit)
 * or table is NULL; -1 when the share is not known at now_us (the
 * caller waits and asks again).
 */
double throttle_share(const struct throttle_table *table, double per_hour,
    int64_t now_us);

/* Microseconds of CLOCK_MONOTONIC. */
int64_t throttle_now_us(void);

#endif
