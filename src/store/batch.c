/*
 * batch.c - claiming batches with leases (see batch.h).
 *
 * Claiming runs in two steps. First a plain read of the mailings that
 * are ready or sending, by priority; then, per mailing, a locking read
 * of one claimable batch with SKIP LOCKED. Locking only batches rows
 * (never the mailing's row) is what lets many workers claim batches of
 * the same mailing at once. A mailing paused between the two steps is
 * caught at the worker's next checkpoint.
 */
#include "batch.h"
#include "date.h"
#include "db.h"
#include "history.h"
#include "log.h"
#include "mailing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many candidate mailings one claim looks at. */
#define BATCH_CANDIDATE_MAILINGS 32

struct batch_candidates {
	char ids[BATCH_CANDIDATE_MAILINGS][24];
	unsigned count;
};

static int
batch_collect_mailing(void *arg, unsigned ncolumns, char **columns)
{
	struct batch_candidates *c = arg;

	if (ncolumns != 1 || columns[0] == NULL ||
	    c->count == BATCH_CANDIDATE_MAILINGS)
		return 1;
	snprintf(c->ids[c->count++], sizeof(c->ids[0]), "%s", columns[0]);
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

int
batch_claim(MYSQL *db, const struct batch_owner *owner,
    struct batch *batch, int *claimed, struct buf *err)
{
	struct batch_candidates candidates = { .count = 0 };
	struct batch_row row = { .batch = batch };
	char now[32];
	/* A blocked mailing is claimed too: the worker that can build its
	 * messages again is the one that unblocks it. */
	const char *states[3] = { mailing_state_name(MAILING_READY),
	    mailing_state_name(MAILING_SENDING),
	    mailing_state_name(MAILING_BLOCKED) };

	*claimed = 0;
	if (db_exec(db, "SET SESSION TRANSACTION ISOLATION LEVEL "
	    "READ COMMITTED", err))
		return -1;
	if (db_query_strings(db, "SELECT id FROM mailings WHERE state IN "
	    "(?, ?, ?) ORDER BY priority DESC, send_at, id "
	    "LIMIT 32", 3, states, batch_collect_mailing, &candidates, err))
		return -1;
	/* The clock the stager gave rows their due times by (date.h). */
	date_format_utc(date_now(), now);
	for (unsigned i = 0; i < candidates.count && !row.found; i++) {
		const char *params[2] = { candidates.ids[i], now };

		if (db_exec(db, "START TRANSACTION", err))
			return -1;
		/*
		 * Two reads, each a short range of an index that stops at
		 * its first row (EXPLAIN: no filesort), however many
		 * batches wait for their send window: an expired lease
		 * first (batches_mailing: the few claimed ones), then the
		 * earliest due ready batch (batches_due, in due order).
		 */
		if (db_query_strings(db, "SELECT id, mailing_id, stage_table, "
		    "first_row, last_row, checkpoint_row FROM batches "
		    "WHERE mailing_id = ? AND state = 'claimed' AND "
		    "lease_expires_at < NOW(3) AND (next_attempt_at IS NULL "
		    "OR next_attempt_at <= ?) ORDER BY id LIMIT 1 FOR UPDATE "
		    "SKIP LOCKED", 2, params, batch_read_row, &row, err))
			goto fail;
		if (!row.found && db_query_strings(db, "SELECT id, mailing_id, "
		    "stage_table, first_row, last_row, checkpoint_row FROM "
		    "batches WHERE mailing_id = ? AND state = 'ready' AND "
		    "(next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY "
		    "next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED", 2,
		    params, batch_read_row, &row, err))
			goto fail;
		if (!row.found)
			batch_rollback(db);
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
	/* The first claim makes the mailing sending; later ones find it
	 * sending (or blocked) already. */
	if (mailing_move(db, batch->mailing_id, MAILING_READY, MAILING_SENDING,
	    NULL, err) < 0)
		goto fail;
	if (db_exec(db, "COMMIT", err))
		goto fail;
	*claimed = 1;
	return 0;
fail:
	batch_rollback(db);
	return -1;
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
