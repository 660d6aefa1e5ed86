/*
 * batch.h - claiming batches of staged recipients, with leases.
 *
 * A batch is a row of the InnoDB table batches: a range of rows of one
 * mailing's stage table. A worker claims one atomically (SELECT ... FOR
 * UPDATE SKIP LOCKED under READ COMMITTED, so concurrent workers on any
 * number of nodes skip each other's rows instead of waiting), holding a
 * lease that it renews at every checkpoint. A lease that expires (the
 * worker died or hung) makes the batch claimable again; the next owner
 * resumes after the checkpoint, and the stage table's per-row delivery
 * state keeps it from re-sending rows already recorded.
 *
 * Every function returns 0 on success, -1 with a sentence in err.
 */
#ifndef HERALD_BATCH_H
#define HERALD_BATCH_H

#include <mysql.h>
#include <stdint.h>

#include "buf.h"

struct batch {
	uint64_t id;
	uint64_t mailing_id;
	char stage_table[65];	/* validated: stage_ followed by digits */
	uint32_t first_row;
	uint32_t last_row;
	uint32_t checkpoint_row;	/* rows up to here are recorded */
};

struct batch_owner {
	const char *node;	/* node_name, or the host name */
	long pid;
	long lease_seconds;
};

/*
 * Claims the next batch of a mailing that is ready, sending or blocked,
 * highest priority first. *claimed is 1 with *batch filled, or 0 when
 * there is nothing to claim. Marks a ready mailing sending (mailing.h).
 * Locks no batch but the one it claims; a claim the server ends for a
 * deadlock or a lock wait timeout is run again (4 times at most, with
 * nothing logged) before it fails with the server's error.
 */
int batch_claim(MYSQL *db, const struct batch_owner *owner,
    struct batch *batch, int *claimed, struct buf *err);

/*
 * Records progress: rows up to checkpoint_row are done, and the lease is
 * extended. *still_ours is 0 when the lease was lost (expired and taken
 * by another worker): the caller must stop working on the batch.
 */
int batch_checkpoint(MYSQL *db, const struct batch_owner *owner,
    struct batch *batch, uint32_t checkpoint_row, int *still_ours,
    struct buf *err);

/*
 * Ends our work on the batch: done when none of its rows is left to
 * send, else back to ready for the next attempt (deferred rows) at
 * retry_at (a DATETIME string; NULL = now). Then marks the mailing done
 * when every batch of it is done.
 */
int batch_finish(MYSQL *db, const struct batch_owner *owner,
    const struct batch *batch, int rows_left, const char *retry_at,
    struct buf *err);

/*
 * Gives the batch back (pause seen, worker stopping) without waiting for
 * the lease to expire.
 */
int batch_release(MYSQL *db, const struct batch_owner *owner,
    const struct batch *batch, struct buf *err);

/*
 * Closes (done) the batches of a cancelled mailing that no worker holds;
 * a worker holding one finds the mailing cancelled when it checks. The
 * statement locks several batches and may meet a claim or a worker's
 * finish in a deadlock: run again as a claim is (4 times at most).
 */
int batch_close_unclaimed(MYSQL *db, uint64_t mailing_id, struct buf *err);


#endif
