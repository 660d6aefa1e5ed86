/*
 * scoreboard.h - what heraldd's workers tell the master, in shared memory.
 *
 * The master maps STATE/heraldd.scoreboard (a small file) before it forks,
 * so every worker inherits the mapping; "herald status" maps the same file
 * read-only to show the workers of a running daemon. Each worker owns one
 * slot and is the only writer of its fields but the pid, which the master
 * sets. Fields are C11 atomics: readers in other processes see whole values,
 * never torn ones.
 *
 * Times are milliseconds of CLOCK_MONOTONIC, which every process on the
 * host shares, so the master can compare a worker's heartbeat with its own
 * clock.
 */
#ifndef HERALD_SCOREBOARD_H
#define HERALD_SCOREBOARD_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "reputation.h"

enum worker_state {
	WORKER_EMPTY = 0,	/* no process in this slot */
	WORKER_STARTING,	/* forked, connecting */
	WORKER_IDLE,		/* nothing to claim; polling */
	WORKER_SENDING,		/* working on a batch */
	WORKER_STOPPING,	/* finishing the message in hand, then exit */
	WORKER_WAITING,		/* holding: Postfix's queue is too long */
	WORKER_MONITOR,		/* the monitor process (monitor.h) */
};

struct worker_slot {
	_Atomic int32_t pid;
	_Atomic int32_t state;			/* enum worker_state */
	_Atomic int64_t started_ms;
	_Atomic int64_t heartbeat_ms;
	_Atomic int64_t batch_started_ms;	/* 0 when no batch */
	_Atomic uint64_t batch_id;
	_Atomic uint64_t mailing_id;
	_Atomic uint64_t sent;			/* since the worker started */
	_Atomic uint64_t deferred;
	_Atomic uint64_t failed;
};

/*
 * What a relay did, summed over every worker: one entry per relay name
 * ("host:port"), taken by the first worker that reports on it. state
 * goes 0 (free) -> 1 (name being written) -> 2 (ready); readers skip
 * entries that are not ready.
 */
struct relay_counters {
	_Atomic uint32_t state;
	char name[92];
	_Atomic uint64_t sent;			/* 2xx to DATA */
	_Atomic uint64_t deferred;		/* 4xx */
	_Atomic uint64_t failed;		/* 5xx */
	_Atomic int64_t down_until_ms;		/* 0 = up */
	_Atomic uint64_t sent_per_100s;		/* last 10 s (monitor.h) */
};

#define SCOREBOARD_RELAYS 32

#define SCOREBOARD_MAGIC 0x68726c33u	/* "hrl3" */

struct scoreboard {
	uint32_t magic;
	uint32_t slot_count;
	_Atomic int32_t master_pid;
	_Atomic int64_t master_started_ms;
	/* The node's totals since the master started (workers come and
	 * go; these never go back). */
	_Atomic uint64_t sent;
	_Atomic uint64_t deferred;
	_Atomic uint64_t failed;
	_Atomic uint64_t claims;		/* batches claimed */
	_Atomic uint64_t claim_us;		/* time spent claiming */
	/* Postfix's queue, as the monitor last read it (monitor.h). */
	_Atomic int64_t postfix_checked_ms;	/* 0 = never read */
	_Atomic int64_t postfix_waiting;	/* maildrop+incoming+active */
	_Atomic int64_t postfix_active;
	_Atomic int64_t postfix_deferred;
	struct relay_counters relays[SCOREBOARD_RELAYS];
	/* Destinations' reputation and routes (reputation.h). */
	struct reputation_table reputation;
	struct worker_slot slots[];
};

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t scoreboard_now_ms(void);

/*
 * Creates (or re-creates) the scoreboard file at path with slot_count
 * empty slots and maps it shared. NULL with the reason in err.
 */
struct scoreboard *scoreboard_create(const char *path, unsigned slot_count,
    struct buf *err);

/* Maps an existing scoreboard read-only (herald status). */
const struct scoreboard *scoreboard_open_readonly(const char *path,
    struct buf *err);

void scoreboard_unmap(const struct scoreboard *board);

/* STATE/heraldd.scoreboard, owned by the caller. */
char *scoreboard_path(const char *state_directory);

/* A worker's own updates. */
void scoreboard_heartbeat(struct worker_slot *slot, enum worker_state state);
void scoreboard_begin_batch(struct worker_slot *slot, uint64_t batch_id,
    uint64_t mailing_id);
void scoreboard_end_batch(struct worker_slot *slot);

const char *worker_state_name(enum worker_state state);

/* The counters of the relay named name ("host:port"), taking a free
 * entry the first time; NULL when all are taken. */
struct relay_counters *scoreboard_relay(struct scoreboard *board,
    const char *name);

#endif
