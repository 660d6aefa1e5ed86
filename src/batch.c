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
#include "db.h"
#include "history.h"
#include "log.h"

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
	char pid[24], lease[24], id[24];

	*claimed = 0;
	if (db_exec(db, "SET SESSION TRANSACTION ISOLATION LEVEL "
	    "READ COMMITTED", err))
		return -1;
	if (db_query_strings(db, "SELECT id FROM mailings WHERE state IN "
	    "('ready', 'sending') ORDER BY priority DESC, send_at, id "
	    "LIMIT 32", 0, NULL, batch_collect_mailing, &candidates, err))
		return -1;
	snprintf(pid, sizeof(pid), "%ld", owner->pid);
	snprintf(lease, sizeof(lease), "%ld", owner->lease_seconds);
	for (unsigned i = 0; i < candidates.count && !row.found; i++) {
		const char *params[1] = { candidates.ids[i] };

		if (db_exec(db, "START TRANSACTION", err))
			return -1;
		if (db_query_strings(db, "SELECT id, mailing_id, stage_table, "
		    "first_row, last_row, checkpoint_row FROM batches "
		    "WHERE mailing_id = ? AND (state = 'ready' OR "
		    "(state = 'claimed' AND lease_expires_at < NOW(3))) "
		    "AND (next_attempt_at IS NULL OR next_attempt_at <= NOW()) "
		    "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", 1, params,
		    batch_read_row, &row, err))
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
	snprintf(id, sizeof(id), "%llu", (unsigned long long)batch->id);
	{
		const char *params[4] = { owner->node, pid, lease, id };

		if (db_execute(db, "UPDATE batches SET state = 'claimed', "
		    "owner_node = ?, owner_pid = ?, lease_expires_at = "
		    "NOW(3) + INTERVAL ? SECOND, claim_count = claim_count + 1 "
		    "WHERE id = ?", 4, params, NULL, err))
			goto fail;
	}
	snprintf(id, sizeof(id), "%llu", (unsigned long long)batch->mailing_id);
	{
		const char *params[1] = { id };

		if (db_execute(db, "UPDATE mailings SET state = 'sending' "
		    "WHERE id = ? AND state = 'ready'", 1, params, NULL, err))
			goto fail;
	}
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
	char checkpoint[24], lease[24], id[24], pid[24];
	const char *params[5] = { checkpoint, lease, id, owner->node, pid };
	unsigned long long affected = 0;

	snprintf(checkpoint, sizeof(checkpoint), "%lu",
	    (unsigned long)checkpoint_row);
	snprintf(lease, sizeof(lease), "%ld", owner->lease_seconds);
	snprintf(id, sizeof(id), "%llu", (unsigned long long)batch->id);
	snprintf(pid, sizeof(pid), "%ld", owner->pid);
	/* The connection reports rows matched, not rows changed
	 * (CLIENT_FOUND_ROWS), so an unchanged lease still counts. */
	if (db_execute(db, "UPDATE batches SET checkpoint_row = ?, "
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
	char id[24], pid[24], mailing[24];
	const char *params[6] = { rows_left ? "ready" : "done", retry_at,
	    rows_left ? "again" : NULL, id, owner->node, pid };
	const char *mailing_params[2] = { mailing, mailing };
	unsigned long long done = 0;

	snprintf(id, sizeof(id), "%llu", (unsigned long long)batch->id);
	snprintf(pid, sizeof(pid), "%ld", owner->pid);
	snprintf(mailing, sizeof(mailing), "%llu",
	    (unsigned long long)batch->mailing_id);
	/*
	 * A batch handed back for its deferred rows starts again from its
	 * first row: the checkpoint passed them, and only rows still
	 * pending or deferred are read again.
	 */
	if (db_execute(db, "UPDATE batches SET state = ?, owner_node = NULL, "
	    "owner_pid = NULL, lease_expires_at = NULL, next_attempt_at = ?, "
	    "checkpoint_row = IF(? IS NOT NULL, 0, "
	    "checkpoint_row) WHERE id = ? AND state = 'claimed' AND "
	    "owner_node = ? AND owner_pid = ?", 6, params, NULL, err))
		return -1;
	if (rows_left)
		return 0;
	if (db_execute(db, "UPDATE mailings SET state = 'done', "
	    "finished_at = UTC_TIMESTAMP() WHERE id = ? AND state = 'sending' "
	    "AND NOT EXISTS (SELECT 1 FROM batches WHERE mailing_id = ? AND "
	    "state <> 'done')", 2, mailing_params, &done, err))
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
	char id[24], pid[24];
	const char *params[3] = { id, owner->node, pid };

	snprintf(id, sizeof(id), "%llu", (unsigned long long)batch->id);
	snprintf(pid, sizeof(pid), "%ld", owner->pid);
	return db_execute(db, "UPDATE batches SET state = 'ready', "
	    "owner_node = NULL, owner_pid = NULL, lease_expires_at = NULL "
	    "WHERE id = ? AND state = 'claimed' AND owner_node = ? AND "
	    "owner_pid = ?", 3, params, NULL, err);
}

static int
batch_copy_state(void *arg, unsigned ncolumns, char **columns)
{
	struct buf *state = arg;

	if (ncolumns == 1 && columns[0])
		buf_append_str(state, columns[0]);
	return 1;
}

int
batch_mailing_state(MYSQL *db, uint64_t mailing_id, char *state,
    size_t size, struct buf *err)
{
	struct buf found = BUF_INIT;
	char id[24];
	const char *params[1] = { id };
	int rc;

	snprintf(id, sizeof(id), "%llu", (unsigned long long)mailing_id);
	rc = db_query_strings(db, "SELECT state FROM mailings WHERE id = ?", 1,
	    params, batch_copy_state, &found, err);
	snprintf(state, size, "%s", found.len ? buf_str(&found) : "missing");
	buf_free(&found);
	return rc;
}
