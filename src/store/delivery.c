/*
 * delivery.c - a batch's rows in, their outcomes out (see delivery.h).
 *
 * The stage table's name comes from the batches row and is checked by
 * history_is_stage_table() before it is put in a statement; every value
 * is bound.
 */
#include "delivery.h"
#include "config.h"
#include "date.h"
#include "db.h"
#include "history.h"
#include "log.h"
#include "suppression.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const delivery_field_names[DELIVERY_FIELD_COUNT] = {
	"email", "first_name", "last_name", "city", "state", "zip",
	"country", "donated_total", "last_donation_amount",
	"last_donation_at", "attributes",
};

/* Results written per UPDATE: 9 bound values each. */
#define DELIVERY_RECORD_CHUNK 200

/* Waits before each retry of a deferred row (retry_schedule). */
static long retry_delays[CONFIG_SCHEDULE_MAX] = { 300, 600, 1800, 3600, 7200,
    14400 };
static unsigned retry_count = 6;

void
delivery_set_retry_schedule(const long *delays, unsigned count)
{
	if (count == 0 || count > CONFIG_SCHEDULE_MAX)
		return;
	memcpy(retry_delays, delays, count * sizeof(*delays));
	retry_count = count;
}

unsigned
delivery_retry_count(void)
{
	return retry_count;
}

void
delivery_rows_init(struct delivery_rows *set)
{
	memset(set, 0, sizeof(*set));
}

void
delivery_rows_free(struct delivery_rows *set)
{
	free(set->rows);
	buf_free(&set->text);
	memset(set, 0, sizeof(*set));
}

/* The columns the read puts before the fields. */
enum delivery_read_column {
	READ_ROW_ID,
	READ_RECIPIENT_ID,
	READ_VARIANT_ID,
	READ_ATTEMPTS,
	READ_SUPPRESSED,	/* 1: suppressed, counted, not sent */
	READ_LATER,		/* 1: due later, counted, not sent now */
	READ_FIELDS
};

/*
 * While reading, fields hold offsets into set->text (which may move as
 * it grows); they become pointers once every row is in. Suppressed rows
 * and rows not due yet are only counted.
 */
static int
delivery_add_row(void *arg, unsigned ncolumns, char **columns)
{
	struct delivery_rows *set = arg;
	struct delivery_row *row;

	if (ncolumns != READ_FIELDS + DELIVERY_FIELD_COUNT)
		return 1;
	if (columns[READ_SUPPRESSED][0] == '1') {
		set->rows_suppressed++;
		return 0;
	}
	if (columns[READ_LATER][0] == '1') {
		set->rows_not_due++;
		return 0;
	}
	if (set->count == set->capacity) {
		set->capacity = set->capacity ? set->capacity * 2 : 1024;
		set->rows = xrealloc(set->rows,
		    set->capacity * sizeof(*set->rows));
	}
	row = &set->rows[set->count++];
	row->row_id = (uint32_t)strtoul(columns[READ_ROW_ID], NULL, 10);
	row->recipient_id = strtoull(columns[READ_RECIPIENT_ID], NULL, 10);
	row->variant_id = (uint32_t)strtoul(columns[READ_VARIANT_ID], NULL,
	    10);
	row->attempts = (unsigned)strtoul(columns[READ_ATTEMPTS], NULL, 10);
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++) {
		const char *value = columns[READ_FIELDS + i] ?
		    columns[READ_FIELDS + i] : "";

		row->fields[i] = (const char *)(uintptr_t)set->text.len;
		buf_append(&set->text, value, strlen(value) + 1);
	}
	return 0;
}

int
delivery_read_pending(MYSQL *db, const struct batch *batch,
    struct delivery_rows *set, struct buf *err)
{
	struct db_value params[5];
	struct buf sql = BUF_INIT;
	char now[32];
	uint32_t after = batch->checkpoint_row;
	unsigned suppressed;
	int rc = -1;

	if (!history_is_stage_table(batch->stage_table)) {
		buf_printf(err, "bad stage table name \"%s\"",
		    batch->stage_table);
		return -1;
	}
	set->count = 0;
	set->rows_not_due = 0;
	set->rows_suppressed = 0;
	buf_reset(&set->text);
	/* A checkpoint before the batch's first row means "none yet". */
	if (after < batch->first_row)
		after = batch->first_row - 1;
	/* Addresses suppressed since staging are never sent: their rows
	 * become final before the others are read. */
	if (suppression_apply_to_batch(db, batch, after, &suppressed,
	    err) != 0)
		goto out;
	if (suppressed)
		msg_info("mailing %llu, batch %llu: %u rows suppressed since "
		    "staging, not sent", (unsigned long long)batch->mailing_id,
		    (unsigned long long)batch->id, suppressed);
	date_format_utc(date_now(), now);
	params[0] = db_bind_text(now);
	params[1] = db_bind_u64(batch->mailing_id);
	params[2] = db_bind_u64(batch->first_row);
	params[3] = db_bind_u64(batch->last_row);
	params[4] = db_bind_u64(after);
	/*
	 * One pass over the batch's rows (each read costs the server a
	 * dynamic row's system calls): those to send now with their fields,
	 * and, only counted, those due later (a pending row's
	 * next_attempt_at is its due time in its send window, stage.c; NULL
	 * when the mailing has none) and the batch's suppressed rows, all
	 * of them, for the mailing's count.
	 */
	buf_printf(&sql, "SELECT row_id, recipient_id, variant_id, attempts, "
	    "delivery_state = 'suppressed', next_attempt_at IS NOT NULL AND "
	    "next_attempt_at > ?");
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		buf_printf(&sql, ", %s", delivery_field_names[i]);
	buf_printf(&sql, " FROM `%s` WHERE mailing_id = ? AND row_id >= ? AND "
	    "row_id <= ? AND (delivery_state = 'suppressed' OR (row_id > ? AND "
	    "delivery_state IN ('pending', 'deferred'))) ORDER BY row_id",
	    batch->stage_table);
	if (db_query_values(db, buf_str(&sql), 5, params, delivery_add_row,
	    set, err))
		goto out;
	for (unsigned r = 0; r < set->count; r++)
		for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
			set->rows[r].fields[i] = set->text.data +
			    (uintptr_t)set->rows[r].fields[i];
	rc = suppression_count_batch(db, batch, set->rows_suppressed, err);
out:
	buf_free(&sql);
	return rc;
}

/* The state a result leaves its row in. */
static const char *
delivery_state_of(const struct delivery_result *r)
{
	switch (r->outcome) {
	case DELIVERY_SENT:
	case DELIVERY_POSSIBLY_SENT:
		return "sent";
	case DELIVERY_DEFERRED:
		/* attempts counts the tries before this one. */
		return r->attempts >= retry_count ? "failed" : "deferred";
	case DELIVERY_FAILED:
		return "failed";
	case DELIVERY_NOT_ATTEMPTED:
		break;
	}
	return NULL;
}

/*
 * The wait before the next try, after attempts earlier tries: the
 * schedule's entry, moved by up to 10% either way so that the rows of a
 * mailing deferred together do not all come back in the same second.
 */
static long
delivery_retry_delay(unsigned attempts)
{
	long delay = retry_delays[attempts < retry_count ? attempts :
	    retry_count - 1];
	long spread = delay / 10;

	if (spread > 0)
		delay += (long)(random() % (2 * spread + 1)) - spread;
	return delay > 1 ? delay : 1;
}

/* The columns one bulk UPDATE sets: each to one value, or by position
 * when the results give it different values. */
enum delivery_column {
	COLUMN_STATE,
	COLUMN_QUEUE_ID,
	COLUMN_REPLY,
	COLUMN_NEXT_ATTEMPT,
	COLUMN_COUNT
};

/* Each column's name and the SQL around its value. */
static const char *const delivery_column_sql[COLUMN_COUNT][3] = {
	{ "delivery_state", "", "" },
	{ "queue_id", "", "" },
	{ "relay_reply", "LEFT(", ", 512)" },
	/* Kept only on a deferred row: on a row put back to pending, a
	 * time left here would read as a due time (delivery_read_pending).
	 * The time is by date_now(), the clock claims and send windows
	 * read it by. */
	{ "next_attempt_at", "IF(delivery_state = 'deferred', ", ", NULL)" },
};

/* The value result i binds for column. */
static const char *
delivery_column_value(enum delivery_column column,
    const struct delivery_result *r, const char *retry_at)
{
	const char *state = delivery_state_of(r);

	switch (column) {
	case COLUMN_STATE:
		return state;
	case COLUMN_QUEUE_ID:
		return r->queue_id;
	case COLUMN_REPLY:
		return r->reply;
	case COLUMN_NEXT_ATTEMPT:
	case COLUMN_COUNT:
		break;
	}
	/* Only a deferred row keeps it: the others all bind one NULL, not
	 * a time each that the statement would have to pick by row. */
	return state && strcmp(state, "deferred") == 0 ? retry_at : NULL;
}

/* Does result r leave its row in state? */
static int
delivery_ends_in(const struct delivery_result *r, const char *state)
{
	const char *ends = delivery_state_of(r);

	return ends != NULL && strcmp(ends, state) == 0;
}

/* Is a the same value as b (either may be SQL NULL)? */
static int
delivery_same_text(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/*
 * Appends ", column = ..." for the results that end in state: one bound
 * value when they all give the column the same one (the state always,
 * the reply and tries mostly), else ELT(row_id - base, v1, v2, ...), a
 * value for each row id from base + 1 on (NULL for the gaps): the
 * server indexes it by row where a CASE over row ids compared every
 * WHEN in turn (5.5 to 8.5 us more per row, README's Measured). The
 * chunk's row ids span at most DELIVERY_RECORD_CHUNK (delivery_record).
 */
static void
delivery_assign(struct buf *sql, struct db_value *values, unsigned *n,
    const char *const column_sql[3],
    const struct delivery_result *results, unsigned count, const char *state,
    const struct db_value *value_of)
{
	int same = 1, seen = 0;
	struct db_value first = { 0 };
	uint32_t low = 0, high = 0;

	for (unsigned i = 0; i < count; i++) {
		if (!delivery_ends_in(&results[i], state))
			continue;
		if (!seen) {
			first = value_of[i];
			low = high = results[i].row_id;
		} else if (value_of[i].type != first.type ||
		    (first.type == DB_VALUE_TEXT ?
		    !delivery_same_text(value_of[i].as.text, first.as.text) :
		    value_of[i].as.u64 != first.as.u64))
			same = 0;
		if (results[i].row_id < low)
			low = results[i].row_id;
		if (results[i].row_id > high)
			high = results[i].row_id;
		seen = 1;
	}
	buf_printf(sql, "%s %s = %s", *n ? "," : "", column_sql[0],
	    column_sql[1]);
	if (same) {
		buf_printf(sql, "?%s", column_sql[2]);
		values[(*n)++] = first;
		return;
	}
	buf_append_str(sql, "ELT(row_id - ?");
	values[(*n)++] = db_bind_u64(low - 1);
	for (uint32_t row = low; row <= high; row++) {
		buf_append_str(sql, ", ?");
		values[*n + (row - low)] = db_bind_text(NULL);
	}
	for (unsigned i = 0; i < count; i++)
		if (delivery_ends_in(&results[i], state))
			values[*n + (results[i].row_id - low)] = value_of[i];
	*n += high - low + 1;
	buf_printf(sql, ")%s", column_sql[2]);
}

/*
 * One UPDATE for the results (up to DELIVERY_RECORD_CHUNK) that leave
 * their row in state, touching only rows now in one of from_states (SQL
 * list of literals). *changed gets the number of rows it moved.
 */
static int
delivery_record_chunk(MYSQL *db, const struct batch *batch,
    const struct delivery_result *results, unsigned count, const char *state,
    const char *from_states, unsigned long long *changed, struct buf *err)
{
	/* For each column and the tries, a base and a value per row of the
	 * chunk's span; the mailing; a row id per result. */
	struct db_value *values = xcalloc((COLUMN_COUNT + 1) *
	    (DELIVERY_RECORD_CHUNK + 1) + count + 1, sizeof(*values));
	struct db_value *value_of = xcalloc(count + 1, sizeof(*value_of));
	char (*retry_at)[32] = xcalloc(count, sizeof(*retry_at));
	struct buf sql = BUF_INIT;
	static const char *const attempts_sql[3] = { "attempts", "", "" };
	unsigned n = 0, used = 0;
	int rc = 0;

	*changed = 0;
	for (unsigned i = 0; i < count; i++) {
		date_format_utc(date_now() +
		    delivery_retry_delay(results[i].attempts), retry_at[i]);
		used += delivery_ends_in(&results[i], state);
	}
	if (used == 0)
		goto out;
	/*
	 * Every value is bound, the row ids as integers (as text they would
	 * compare with the integer column through DECIMAL conversions), so
	 * the statement's text depends only on the table, the number of
	 * rows, the states and which columns need an ELT over which span
	 * of row ids (a session's worth of consecutive rows, mostly): a
	 * worker's connection keeps it prepared (stmtcache.h) and the
	 * server parses it once, not every session.
	 */
	buf_printf(&sql, "UPDATE `%s` SET", batch->stage_table);
	for (unsigned c = 0; c < COLUMN_COUNT; c++) {
		for (unsigned i = 0; i < count; i++)
			value_of[i] = db_bind_text(delivery_column_value(c,
			    &results[i], retry_at[i]));
		delivery_assign(&sql, values, &n, delivery_column_sql[c],
		    results, count, state, value_of);
	}
	/* The number of tries is written, not added to: written twice (a
	 * retry after a later step failed), the row reads the same. */
	for (unsigned i = 0; i < count; i++)
		value_of[i] = db_bind_u64(results[i].attempts + 1);
	delivery_assign(&sql, values, &n, attempts_sql, results, count,
	    state, value_of);
	/* Assignments run left to right: delivery_state is already new. */
	buf_printf(&sql, ", delivered_at = IF(delivery_state = 'sent', "
	    "UTC_TIMESTAMP(), delivered_at) WHERE mailing_id = ? AND "
	    "delivery_state IN (%s) AND row_id IN (", from_states);
	values[n++] = db_bind_u64(batch->mailing_id);
	for (unsigned i = 0, first = 1; i < count; i++) {
		if (!delivery_ends_in(&results[i], state))
			continue;
		buf_append_str(&sql, first ? "?" : ", ?");
		values[n++] = db_bind_u64(results[i].row_id);
		first = 0;
	}
	buf_append_str(&sql, ")");
	rc = db_execute_values(db, buf_str(&sql), n, values, changed, err);
out:
	buf_free(&sql);
	free(values);
	free(value_of);
	free(retry_at);
	return rc;
}

/*
 * Adds the counts to the mailing's counters once: in one transaction
 * with moving the batch's checkpoint past through_row. Recording the
 * same results again (a retry after a failure anywhere, even after a
 * COMMIT whose answer was lost) finds the checkpoint moved and adds
 * nothing. The stage rows, written before, are MyISAM and outside any
 * transaction; writing them is idempotent instead.
 */
static int
delivery_count_mailing(MYSQL *db, const struct batch *batch,
    uint32_t through_row, unsigned sent, unsigned deferred, unsigned failed,
    struct buf *err)
{
	const struct db_value guard[3] = { db_bind_u64(through_row),
	    db_bind_u64(batch->id), db_bind_u64(through_row) };
	const struct db_value params[4] = { db_bind_u64(sent),
	    db_bind_u64(deferred), db_bind_u64(failed),
	    db_bind_u64(batch->mailing_id) };
	unsigned long long moved = 0;
	struct buf ignored = BUF_INIT;
	int rc;

	rc = db_exec(db, "START TRANSACTION", err);
	if (rc == 0)
		rc = db_execute_values(db, "UPDATE batches SET "
		    "checkpoint_row = ? WHERE id = ? AND checkpoint_row < ?", 3,
		    guard, &moved, err);
	if (rc == 0 && moved && sent + deferred + failed > 0)
		rc = db_execute_values(db, "UPDATE mailings SET sent_count = "
		    "sent_count + ?, deferred_count = deferred_count + ?, "
		    "failed_count = failed_count + ? WHERE id = ?", 4, params,
		    NULL, err);
	if (rc == 0)
		rc = db_exec(db, "COMMIT", err);
	if (rc != 0)
		db_exec(db, "ROLLBACK", &ignored);
	buf_free(&ignored);
	return rc;
}

/*
 * *count gets how many of the chunk's sent results have a row already
 * bounced: Postfix returned the DSN before the result was recorded. The
 * message went out all the same, so it counts as sent, as it does when
 * the bounce comes after.
 */
static int
delivery_count_bounced(MYSQL *db, const struct batch *batch,
    const struct delivery_result *results, unsigned count,
    unsigned long long *bounced, struct buf *err)
{
	struct db_value mailing = db_bind_u64(batch->mailing_id);
	struct buf sql = BUF_INIT, value = BUF_INIT;
	int rc;

	buf_printf(&sql, "SELECT COUNT(*) FROM `%s` WHERE mailing_id = ? AND "
	    "delivery_state = 'bounced' AND row_id IN (", batch->stage_table);
	for (unsigned i = 0, first = 1; i < count; i++) {
		if (!delivery_ends_in(&results[i], "sent"))
			continue;
		buf_printf(&sql, "%s%lu", first ? "" : ", ",
		    (unsigned long)results[i].row_id);
		first = 0;
	}
	buf_append_str(&sql, ")");
	rc = db_query_values(db, buf_str(&sql), 1, &mailing, db_first_value,
	    &value, err);
	*bounced = rc == 0 ? strtoull(buf_str(&value), NULL, 10) : 0;
	buf_free(&sql);
	buf_free(&value);
	return rc;
}

int
delivery_count_cancelled(MYSQL *db, const char *stage_table,
    uint64_t mailing_id, struct buf *err)
{
	const struct db_value ids[2] = { db_bind_u64(mailing_id),
	    db_bind_u64(mailing_id) };
	struct buf sql = BUF_INIT;
	int rc;

	if (!history_is_stage_table(stage_table)) {
		buf_printf(err, "bad stage table name \"%s\"", stage_table);
		return -1;
	}
	buf_printf(&sql, "UPDATE mailings SET cancelled_count = (SELECT "
	    "COUNT(*) FROM `%s` WHERE mailing_id = ? AND delivery_state = "
	    "'cancelled') WHERE id = ?", stage_table);
	rc = db_execute_values(db, buf_str(&sql), 2, ids, NULL, err);
	buf_free(&sql);
	return rc;
}

int
delivery_record(MYSQL *db, const struct batch *batch,
    const struct delivery_result *results, unsigned count,
    unsigned *sent, unsigned *deferred, unsigned *failed, struct buf *err)
{
	static const char *const states[3] = { "sent", "deferred", "failed" };
	/*
	 * The rows each outcome may move: those still to send, and those
	 * already in that state, so a retry after a later step failed
	 * matches what the first try moved (the worker's connection counts
	 * matched rows, CLIENT_FOUND_ROWS) and counts the same. A bounced
	 * row is never moved: Postfix can return the DSN ("herald bounce")
	 * before this session's results are written.
	 */
	static const char *const from_states[3] = {
		"'pending', 'deferred', 'sent'",
		"'pending', 'deferred'",
		"'pending', 'deferred', 'failed'",
	};
	unsigned long long counts[3] = { 0, 0, 0 }, moved, changed;
	unsigned long long uncancelled = 0;
	uint32_t through_row = 0;

	if (!history_is_stage_table(batch->stage_table)) {
		buf_printf(err, "bad stage table name \"%s\"",
		    batch->stage_table);
		return -1;
	}
	/*
	 * A chunk's row ids span at most DELIVERY_RECORD_CHUNK from its
	 * first (delivery_assign's ELT has a value for every row id of the
	 * span). A worker's results come in row order, a session's rows
	 * mostly consecutive: one chunk per session.
	 */
	for (unsigned done = 0, size; done < count; done += size) {
		const struct delivery_result *chunk = results + done;

		for (size = 1; done + size < count &&
		    size < DELIVERY_RECORD_CHUNK &&
		    chunk[size].row_id >= chunk[0].row_id &&
		    chunk[size].row_id - chunk[0].row_id <
		    DELIVERY_RECORD_CHUNK; size++)
			;

		/*
		 * One statement per outcome (most chunks have one), each
		 * moving only rows still to send (from_states): its row
		 * count is what that outcome counts, and a row cancelled
		 * meanwhile is not counted twice.
		 */
		for (unsigned k = 0; k < 3; k++) {
			unsigned wanted = 0;

			for (unsigned i = 0; i < size; i++)
				wanted += delivery_ends_in(&chunk[i],
				    states[k]);
			if (wanted == 0)
				continue;
			if (delivery_record_chunk(db, batch, chunk, size,
			    states[k], from_states[k], &moved, err))
				return -1;
			if (k != 0 || moved == wanted) {
				counts[k] += moved;
				continue;
			}
			/*
			 * Cancelled while the relay had them: they went out
			 * all the same, so they are sent, not cancelled.
			 */
			if (delivery_record_chunk(db, batch, chunk, size,
			    states[k], "'cancelled'", &changed, err))
				return -1;
			moved += changed;
			uncancelled += changed;
			if (moved < wanted) {
				if (delivery_count_bounced(db, batch, chunk,
				    size, &changed, err))
					return -1;
				moved += changed;
			}
			counts[k] += moved;
		}
	}
	if (uncancelled && delivery_count_cancelled(db, batch->stage_table,
	    batch->mailing_id, err))
		return -1;
	for (unsigned i = 0; i < count; i++)
		if (delivery_state_of(&results[i]) != NULL &&
		    results[i].row_id > through_row)
			through_row = results[i].row_id;
	if (through_row > 0 && delivery_count_mailing(db, batch, through_row,
	    (unsigned)counts[0], (unsigned)counts[1], (unsigned)counts[2], err))
		return -1;
	if (sent)
		*sent = (unsigned)counts[0];
	if (deferred)
		*deferred = (unsigned)counts[1];
	if (failed)
		*failed = (unsigned)counts[2];
	return 0;
}

struct delivery_left {
	unsigned *left;
	char *retry_at;
	size_t size;
};

static int
delivery_read_left(void *arg, unsigned ncolumns, char **columns)
{
	struct delivery_left *l = arg;

	if (ncolumns != 2)
		return 1;
	*l->left = columns[0] ? (unsigned)strtoul(columns[0], NULL, 10) : 0;
	snprintf(l->retry_at, l->size, "%s", columns[1] ? columns[1] : "");
	return 1;
}

int
delivery_rows_left(MYSQL *db, const struct batch *batch, unsigned *left,
    char *retry_at, size_t size, struct buf *err)
{
	const struct db_value params[3] = { db_bind_u64(batch->mailing_id),
	    db_bind_u64(batch->first_row), db_bind_u64(batch->last_row) };
	struct delivery_left l = { left, retry_at, size };
	struct buf sql = BUF_INIT;
	int rc;

	*left = 0;
	retry_at[0] = '\0';
	buf_printf(&sql, "SELECT COUNT(*), MIN(next_attempt_at) FROM `%s` "
	    "WHERE mailing_id = ? AND row_id >= ? AND row_id <= ? AND "
	    "delivery_state IN ('pending', 'deferred')", batch->stage_table);
	rc = db_query_values(db, buf_str(&sql), 3, params, delivery_read_left,
	    &l, err);
	buf_free(&sql);
	return rc;
}
