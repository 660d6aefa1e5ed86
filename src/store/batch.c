/*
 * batch.c - claiming batches with leases (see batch.h).
 *
 * Claiming runs in two steps. First a plain read of the mailings that
 * are ready or sending, by priority; then, per mailing, a transaction
 * that takes one claimable batch. Locking only batches rows (the
 * mailing's row only when it was read ready, to move it to sending) is
 * what lets many workers claim batches of the same mailing at once. A
 * mailing paused between the two steps is caught at the worker's next
 * checkpoint.
 *
 * Why a claim locks nothing but the row it takes. A locking read over
 * an index (SELECT ... FOR UPDATE SKIP LOCKED on batches_due or, when
 * the optimizer's statistics say so, batches_claimable with a sort)
 * locks every index entry it passes, and keeps, even under READ
 * COMMITTED, the entry of a row it then skips because another
 * transaction holds the row, and every row a sort read but did not
 * return. The owners of those batches (a finish, a release, a
 * checkpoint moving the lease, another claim) then wait for this
 * claim to commit while it waits for them or for the mailing's row: a
 * deadlock, MariaDB error 1213 (seen with 8 claimers on one MariaDB;
 * test_claim's a_claim_locks_only_the_batch_it_claims makes one). So the
 * candidates come from a read that locks nothing, in claim order, and
 * each is then locked by its primary key with SKIP LOCKED, its
 * conditions checked again: a batch taken meanwhile does not match, one
 * being taken is skipped. That lock is a one-row range on the key, not
 * "id = ?": a row read as a constant stays locked even when the rest of
 * the WHERE rejects it, a row of a range that does not match is
 * unlocked. A claim then holds its own batch and, last, the mailing's
 * row, the order every transaction on batches and mailings takes them
 * in (results and suppressions: their batch, then its mailing), so
 * claims, finishes, releases and checkpoints cannot deadlock among
 * themselves. Other statements that lock batches of a mailing through
 * an index (a cancel, an operator's own SQL, the maintenance's release
 * of expired leases) still can, as InnoDB may: a claim that the server
 * ends for a deadlock or a lock wait timeout is run again, a few times,
 * from the start; the batch it had is back with its first owner or
 * free again, so each batch is still claimed once. A cancel's closing
 * of its mailing's batches is run again the same way.
 */
#include "batch.h"
#include "date.h"
#include "db.h"
#include "history.h"
#include "log.h"
#include "mailing.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many candidate mailings one claim looks at. */
#define BATCH_CANDIDATE_MAILINGS 32
/* How many candidate batches of a mailing one read lists. */
#define BATCH_CANDIDATE_BATCHES 16
/* How many times a claim (or a cancel's closing of batches) runs when
 * the server ends it for a deadlock or a lock wait timeout. */
#define BATCH_CLAIM_TRIES 4

/* A deadlock or a lock wait timeout: the server rolled the statement
 * back whole, and running it again is what its message advises. */
static int
batch_conflict(unsigned server_error)
{
	return server_error == DB_ER_LOCK_DEADLOCK ||
	    server_error == DB_ER_LOCK_WAIT_TIMEOUT;
}

struct batch_candidates {
	char ids[BATCH_CANDIDATE_MAILINGS][24];
	int ready[BATCH_CANDIDATE_MAILINGS];	/* to move to sending */
	unsigned count;
};

static int
batch_collect_mailing(void *arg, unsigned ncolumns, char **columns)
{
	struct batch_candidates *c = arg;

	if (ncolumns != 2 || columns[0] == NULL || columns[1] == NULL ||
	    c->count == BATCH_CANDIDATE_MAILINGS)
		return 1;
	c->ready[c->count] = strcmp(columns[1],
	    mailing_state_name(MAILING_READY)) == 0;
	snprintf(c->ids[c->count++], sizeof(c->ids[0]), "%s", columns[0]);
	return 0;
}

struct batch_ids {
	char ids[BATCH_CANDIDATE_BATCHES][24];
	unsigned count;
};

static int
batch_collect_id(void *arg, unsigned ncolumns, char **columns)
{
	struct batch_ids *b = arg;

	if (ncolumns != 1 || columns[0] == NULL ||
	    b->count == BATCH_CANDIDATE_BATCHES)
		return 1;
	snprintf(b->ids[b->count++], sizeof(b->ids[0]), "%s", columns[0]);
	return 0;
}

struct batch_row {
	struct batch *batch;
	int found;
	int bad_table;
};

static int
batch_read_row(void *arg, unsigned ncolumns, char **columns)
{
	struct batch_row *r = arg;
	struct batch *b = r->batch;

	if (ncolumns != 6)
		return 1;
	b->id = strtoull(columns[0], NULL, 10);
	b->mailing_id = strtoull(columns[1], NULL, 10);
	snprintf(b->stage_table, sizeof(b->stage_table), "%s", columns[2]);
	b->first_row = (uint32_t)strtoul(columns[3], NULL, 10);
	b->last_row = (uint32_t)strtoul(columns[4], NULL, 10);
	b->checkpoint_row = (uint32_t)strtoul(columns[5], NULL, 10);
	r->bad_table = !history_is_stage_table(b->stage_table);
	r->found = 1;
	return 1;
}

static void
batch_rollback(MYSQL *db)
{
	struct buf ignored = BUF_INIT;

	db_exec(db, "ROLLBACK", &ignored);
	buf_free(&ignored);
}

/*
 * The two kinds of claimable batch, in the order a claim looks for
 * them: an expired lease first (its worker died or hung), then the
 * earliest due ready batch. Each lists candidates without locking
 * (each read a short range of an index that stops at its first rows:
 * batches_mailing, the few claimed ones; batches_due, in due order),
 * then locks one by its key with the same conditions.
 */
struct batch_kind {
	const char *list;	/* mailing, now, offset, count */
	const char *lock;	/* id, id, now */
};

static const struct batch_kind batch_kinds[2] = {
	{ "SELECT id FROM batches WHERE mailing_id = ? AND state = 'claimed' "
	    "AND lease_expires_at < NOW(3) AND (next_attempt_at IS NULL OR "
	    "next_attempt_at <= ?) ORDER BY id LIMIT ?, ?",
	  "SELECT id, mailing_id, stage_table, first_row, last_row, "
	    "checkpoint_row FROM batches WHERE id >= ? AND id <= ? AND state "
	    "= 'claimed' AND lease_expires_at < NOW(3) AND (next_attempt_at "
	    "IS NULL OR next_attempt_at <= ?) FOR UPDATE SKIP LOCKED" },
	{ "SELECT id FROM batches WHERE mailing_id = ? AND state = 'ready' AND "
	    "(next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY "
	    "next_attempt_at, id LIMIT ?, ?",
	  "SELECT id, mailing_id, stage_table, first_row, last_row, "
	    "checkpoint_row FROM batches WHERE id >= ? AND id <= ? AND state "
	    "= 'ready' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
	    "FOR UPDATE SKIP LOCKED" },
};

/*
 * Locks the first batch of the kind in mailing that is still claimable
 * and that no one else holds, reading on past candidates all taken or
 * held; row->found says whether there was one.
 */
static int
batch_lock_next(MYSQL *db, const struct batch_kind *kind,
    const char *mailing, const char *now, struct batch_row *row,
    struct buf *err)
{
	struct batch_ids ids;

	for (uint64_t offset = 0; !row->found;
	    offset += BATCH_CANDIDATE_BATCHES) {
		const struct db_value list[4] = { db_bind_text(mailing),
		    db_bind_text(now), db_bind_u64(offset),
		    db_bind_u64(BATCH_CANDIDATE_BATCHES) };

		ids.count = 0;
		if (db_query_values(db, kind->list, 4, list, batch_collect_id,
		    &ids, err))
			return -1;
		for (unsigned i = 0; i < ids.count && !row->found; i++) {
			const char *lock[3] = { ids.ids[i], ids.ids[i], now };

			if (db_query_strings(db, kind->lock, 3, lock,
			    batch_read_row, row, err))
				return -1;
		}
		if (ids.count < BATCH_CANDIDATE_BATCHES)
			break;
	}
	return 0;
}

/* One try of batch_claim(); *server_error gets the server's error
 * number when it fails (db_last_error). */
static int
batch_claim_once(MYSQL *db, const struct batch_owner *owner,
    struct batch *batch, int *claimed, unsigned *server_error,
    struct buf *err)
{
	struct batch_candidates candidates = { .count = 0 };
	struct batch_row row = { .batch = batch };
	char now[32];
	int move = 0;
	/* A blocked mailing is claimed too: the worker that can build its
	 * messages again is the one that unblocks it. */
	const char *states[3] = { mailing_state_name(MAILING_READY),
	    mailing_state_name(MAILING_SENDING),
	    mailing_state_name(MAILING_BLOCKED) };

	*claimed = 0;
	if (db_exec(db, "SET SESSION TRANSACTION ISOLATION LEVEL "
	    "READ COMMITTED", err))
		goto fail;
	if (db_query_strings(db, "SELECT id, state FROM mailings WHERE state "
	    "IN (?, ?, ?) ORDER BY priority DESC, send_at, id LIMIT 32", 3,
	    states, batch_collect_mailing, &candidates, err))
		goto fail;
	/* The clock the stager gave rows their due times by (date.h). */
	date_format_utc(date_now(), now);
	for (unsigned i = 0; i < candidates.count && !row.found; i++) {
		if (db_exec(db, "START TRANSACTION", err))
			goto fail;
		for (unsigned k = 0; k < 2 && !row.found; k++)
			if (batch_lock_next(db, &batch_kinds[k],
			    candidates.ids[i], now, &row, err))
				goto fail;
		if (!row.found)
			batch_rollback(db);
		move = candidates.ready[i];
	}
	if (!row.found)
		return 0;
	if (row.bad_table) {
		buf_printf(err, "batch %llu names stage table \"%s\", which "
		    "is not a herald stage table name; fix the batches row",
		    (unsigned long long)batch->id, batch->stage_table);
		goto fail;
	}
	{
		const struct db_value params[4] = { db_bind_text(owner->node),
		    db_bind_i64(owner->pid), db_bind_i64(owner->lease_seconds),
		    db_bind_u64(batch->id) };

		if (db_execute_values(db, "UPDATE batches SET state = "
		    "'claimed', owner_node = ?, owner_pid = ?, "
		    "lease_expires_at = NOW(3) + INTERVAL ? SECOND, "
		    "claim_count = claim_count + 1 WHERE id = ?", 4, params,
		    NULL, err))
			goto fail;
	}
	/* The first claim makes the mailing sending; later ones read it
	 * sending (or blocked) already and leave its row alone. */
	if (move && mailing_move(db, batch->mailing_id, MAILING_READY,
	    MAILING_SENDING, NULL, err) < 0)
		goto fail;
	if (db_exec(db, "COMMIT", err))
		goto fail;
	*claimed = 1;
	return 0;
fail:
	*server_error = db_last_error();
	batch_rollback(db);
	return -1;
}

int
batch_claim(MYSQL *db, const struct batch_owner *owner,
    struct batch *batch, int *claimed, struct buf *err)
{
	struct buf tried = BUF_INIT;
	unsigned server_error, tries = 0;
	int rc, conflict;

	/* A conflict rolled the claim back whole: run it again, quietly. */
	for (;;) {
		server_error = 0;
		buf_reset(&tried);
		rc = batch_claim_once(db, owner, batch, claimed, &server_error,
		    &tried);
		conflict = rc != 0 && batch_conflict(server_error);
		if (!conflict || ++tries == BATCH_CLAIM_TRIES)
			break;
		msg_debug("claiming a batch: %s; claiming again",
		    buf_str(&tried));
	}
	if (rc != 0 && conflict)
		buf_printf(err, "%s (the claim ran %d times, and was ended so "
		    "each time)", buf_str(&tried), BATCH_CLAIM_TRIES);
	else if (rc != 0)
		buf_append_str(err, buf_str(&tried));
	buf_free(&tried);
	return rc;
}

int
batch_checkpoint(MYSQL *db, const struct batch_owner *owner,
    struct batch *batch, uint32_t checkpoint_row, int *still_ours,
    struct buf *err)
{
	const struct db_value params[5] = { db_bind_u64(checkpoint_row),
	    db_bind_i64(owner->lease_seconds), db_bind_u64(batch->id),
	    db_bind_text(owner->node), db_bind_i64(owner->pid) };
	unsigned long long affected = 0;

	/* The connection reports rows matched, not rows changed
	 * (CLIENT_FOUND_ROWS), so an unchanged lease still counts. */
	if (db_execute_values(db, "UPDATE batches SET checkpoint_row = ?, "
	    "lease_expires_at = NOW(3) + INTERVAL ? SECOND WHERE id = ? AND "
	    "state = 'claimed' AND owner_node = ? AND owner_pid = ?", 5,
	    params, &affected, err))
		return -1;
	*still_ours = affected == 1;
	if (*still_ours)
		batch->checkpoint_row = checkpoint_row;
	return 0;
}

int
batch_finish(MYSQL *db, const struct batch_owner *owner,
    const struct batch *batch, int rows_left, const char *retry_at,
    struct buf *err)
{
	const struct db_value params[6] = {
	    db_bind_text(rows_left ? "ready" : "done"), db_bind_text(retry_at),
	    db_bind_text(rows_left ? "again" : NULL), db_bind_u64(batch->id),
	    db_bind_text(owner->node), db_bind_i64(owner->pid) };
	const struct db_value mailing_params[1] = {
	    db_bind_u64(batch->mailing_id) };
	struct buf left = BUF_INIT;
	int done;

	/*
	 * A batch handed back for its deferred rows starts again from its
	 * first row: the checkpoint passed them, and only rows still
	 * pending or deferred are read again.
	 */
	if (db_execute_values(db, "UPDATE batches SET state = ?, owner_node = "
	    "NULL, owner_pid = NULL, lease_expires_at = NULL, next_attempt_at "
	    "= ?, checkpoint_row = IF(? IS NOT NULL, 0, checkpoint_row) WHERE "
	    "id = ? AND state = 'claimed' AND owner_node = ? AND owner_pid = ?",
	    6, params, NULL, err))
		return -1;
	if (rows_left)
		return 0;
	/*
	 * Done once no batch is left. Batches never leave done, and each
	 * worker commits its own batch before it looks, so the worker that
	 * finishes the last one sees them all done.
	 */
	if (db_query_values(db, "SELECT COUNT(*) FROM batches WHERE "
	    "mailing_id = ? AND state <> 'done'", 1, mailing_params,
	    db_first_value, &left, err)) {
		buf_free(&left);
		return -1;
	}
	done = strcmp(buf_str(&left), "0") == 0 ? mailing_finish(db,
	    batch->mailing_id, err) : 0;
	buf_free(&left);
	if (done < 0)
		return -1;
	if (done)
		msg_info("mailing %llu done: every row is final",
		    (unsigned long long)batch->mailing_id);
	return 0;
}

int
batch_release(MYSQL *db, const struct batch_owner *owner,
    const struct batch *batch, struct buf *err)
{
	const struct db_value params[3] = { db_bind_u64(batch->id),
	    db_bind_text(owner->node), db_bind_i64(owner->pid) };

	return db_execute_values(db, "UPDATE batches SET state = 'ready', "
	    "owner_node = NULL, owner_pid = NULL, lease_expires_at = NULL "
	    "WHERE id = ? AND state = 'claimed' AND owner_node = ? AND "
	    "owner_pid = ?", 3, params, NULL, err);
}

int
batch_close_unclaimed(MYSQL *db, uint64_t mailing_id, struct buf *err)
{
	const struct db_value id = db_bind_u64(mailing_id);
	struct buf tried = BUF_INIT;
	unsigned tries = 0;
	int rc, conflict;

	for (;;) {
		buf_reset(&tried);
		rc = db_execute_values(db, "UPDATE batches SET state = 'done' "
		    "WHERE mailing_id = ? AND state IN ('ready', 'held')", 1,
		    &id, NULL, &tried);
		conflict = rc != 0 && batch_conflict(db_last_error());
		if (!conflict || ++tries == BATCH_CLAIM_TRIES)
			break;
		msg_debug("closing mailing %" PRIu64 "'s batches: %s; closing "
		    "them again", mailing_id, buf_str(&tried));
	}
	if (rc != 0)
		buf_printf(err, "closing the mailing's batches: %s",
		    buf_str(&tried));
	if (rc != 0 && conflict)
		buf_printf(err, " (ran %d times, and was ended so each time)",
		    BATCH_CLAIM_TRIES);
	buf_free(&tried);
	return rc;
}
