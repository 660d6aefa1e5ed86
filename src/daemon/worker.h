/*
 * worker.h - the body of a heraldd worker process.
 *
 * A worker loops: claim a batch (batch.h), read its rows still to send
 * (delivery.h), build each message (compose.h), pace it by the shared
 * rate limits (throttle.h), relay a session of messages over one
 * pipelined SMTP connection (relay.h), record every outcome in bulk,
 * checkpoint and renew the lease, and repeat until the batch is done.
 *
 * It stops, after recording the session in hand, on SIGTERM, when the
 * master is gone, when a template file of its mailing changed (exit
 * status WORKER_EXIT_RELOAD: the master respawns it at once) or when its
 * lease was lost. A paused or cancelled mailing's batch is given back.
 * When the relay refuses connections or does not answer, the worker
 * moves to relay_backup_host and probes the primary again later with a
 * doubling delay; with every relay down it waits, losing nothing.
 */
#ifndef HERALD_WORKER_H
#define HERALD_WORKER_H

#include "config.h"
#include "scoreboard.h"
#include "throttle.h"

/* Memory the master maps before forking, shared by all workers. */
struct worker_shared {
	struct scoreboard *board;
	struct throttle_table *throttle;
	int metrics_fd;		/* listening on metrics_listen; -1 = off */
};

/* worker_main_fn (master.h); shared is a struct worker_shared. */
int worker_main(const struct herald_config *cfg, struct worker_slot *slot,
    unsigned slot_index, void *shared);

#endif
