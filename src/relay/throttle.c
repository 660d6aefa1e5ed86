/*
 * throttle.c - lock-free shared rate limits (see throttle.h).
 */
#include "throttle.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

int64_t
throttle_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t
throttle_table_size(unsigned bucket_count)
{
	return sizeof(struct throttle_table) +
	    (size_t)bucket_count * sizeof(struct throttle_bucket);
}

struct throttle_table *
throttle_table_create(unsigned bucket_count)
{
	struct throttle_table *table;

	table = mmap(NULL, throttle_table_size(bucket_count),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (table == MAP_FAILED)
		return NULL;
	/* Anonymous mappings start zeroed: every bucket is free. */
	table->bucket_count = bucket_count;
	return table;
}

void
throttle_table_free(struct throttle_table *table)
{
	if (table)
		munmap(table, throttle_table_size(table->bucket_count));
}

/* FNV-1a, never 0 (0 marks a free bucket). */
static uint64_t
throttle_hash(const char *key)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *key; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

/*
 * An idle bucket: its theoretical arrival time is a whole burst behind
 * now, so a reservation on it starts exactly where one on a fresh
 * bucket does. It carries nothing worth keeping and may take another
 * key.
 */
static int
throttle_bucket_idle(struct throttle_bucket *b, int64_t now_us)
{
	return atomic_load(&b->arrival_us) <= now_us - THROTTLE_BURST_US;
}

/*
 * Finds or claims the bucket of key; NULL when every bucket is busy.
 *
 * Linear probing from the key's hash. A bucket never becomes free (0)
 * again, so a key's probe sequence stays unbroken and the first pass,
 * which stops at the first free bucket, finds the key if it has one.
 * Otherwise the second pass takes the first bucket in the sequence that
 * is free or idle (one compare-and-swap of its key_hash, so two
 * processes cannot take it for two keys). Reusing idle buckets is what
 * keeps a long-running daemon limited after thousands of mailings and
 * domains have come and gone.
 */
static struct throttle_bucket *
throttle_bucket_of(struct throttle_table *table, const char *key,
    int64_t now_us)
{
	uint64_t hash = throttle_hash(key);
	unsigned n = table->bucket_count;

	for (unsigned probe = 0; probe < n; probe++) {
		struct throttle_bucket *b =
		    &table->buckets[(hash + probe) % n];
		uint64_t found = atomic_load(&b->key_hash);

		if (found == hash)
			return b;
		if (found == 0)
			break;
	}
	for (unsigned probe = 0; probe < n; probe++) {
		struct throttle_bucket *b =
		    &table->buckets[(hash + probe) % n];
		uint64_t found = atomic_load(&b->key_hash);

		if (found == hash)	/* another process claimed it for us */
			return b;
		if (found != 0 && !throttle_bucket_idle(b, now_us))
			continue;
		if (atomic_compare_exchange_strong(&b->key_hash, &found,
		    hash)) {
			/* An idle bucket's arrival time already reads as
			 * fresh; only what is shown is reset. */
			atomic_store(&b->reserved, 0);
			snprintf(b->key, sizeof(b->key), "%s", key);
			return b;
		}
		if (found == hash)
			return b;
	}
	return NULL;
}

int64_t
throttle_reserve(struct throttle_table *table, const char *key,
    double per_hour, int64_t now_us)
{
	static int warned_full;
	struct throttle_bucket *b;
	int64_t interval, arrival, start, next;

	if (per_hour <= 0 || table == NULL)
		return now_us;
	b = throttle_bucket_of(table, key, now_us);
	if (b == NULL) {
		if (!warned_full++)
			msg_warn("rate-limit table full (%u keys busy at once): "
			    "\"%s\" is not limited", table->bucket_count, key);
		return now_us;
	}
	interval = (int64_t)(3600e6 / per_hour);
	if (interval < 1)
		interval = 1;
	arrival = atomic_load(&b->arrival_us);
	do {
		/* After an idle spell, allow a burst of THROTTLE_BURST_US;
		 * otherwise queue behind the last reservation. */
		start = arrival > now_us - THROTTLE_BURST_US ? arrival :
		    now_us - THROTTLE_BURST_US;
		next = start + interval;
	} while (!atomic_compare_exchange_weak(&b->arrival_us, &arrival,
	    next));
	atomic_fetch_add(&b->reserved, 1);
	return start > now_us ? start : now_us;
}

void
throttle_set_share(struct throttle_table *table, unsigned nodes,
    int64_t until_us)
{
	/* The time first: a reader that sees the new count sees a time at
	 * least as recent (both are sequentially consistent). */
	atomic_store(&table->share_until_us, until_us);
	atomic_store(&table->share_nodes, nodes);
}

double
throttle_share(const struct throttle_table *table, double per_hour,
    int64_t now_us)
{
	unsigned nodes;

	if (per_hour <= 0 || table == NULL)
		return per_hour;
	nodes = atomic_load(&table->share_nodes);
	if (nodes == 0 || atomic_load(&table->share_until_us) < now_us)
		return -1;
	return per_hour / nodes;
}
