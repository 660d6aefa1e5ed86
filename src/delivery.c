/*
 * delivery.c - a batch's rows in, their outcomes out (see delivery.h).
 *
 * The stage table's name comes from the batches row and is checked by
 * history_is_stage_table() before it is put in a statement; every value
 * is bound.
 */
#include "delivery.h"
#include "config.h"
#include "db.h"
#include "history.h"
#include "log.h"

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

/* While reading, fields hold offsets into set->text (which may move as
 * it grows); they become pointers once every row is in. */
static int
delivery_add_row(void *arg, unsigned ncolumns, char **columns)
{
	struct delivery_rows *set = arg;
	struct delivery_row *row;

	if (ncolumns != 4 + DELIVERY_FIELD_COUNT)
		return 1;
	if (set->count == set->capacity) {
		set->capacity = set->capacity ? set->capacity * 2 : 1024;
		set->rows = xrealloc(set->rows,
		    set->capacity * sizeof(*set->rows));
	}
	row = &set->rows[set->count++];
	row->row_id = (uint32_t)strtoul(columns[0], NULL, 10);
	row->recipient_id = strtoull(columns[1], NULL, 10);
	row->variant_id = (uint32_t)strtoul(columns[2], NULL, 10);
	row->attempts = (unsigned)strtoul(columns[3], NULL, 10);
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++) {
		const char *value = columns[4 + i] ? columns[4 + i] : "";

		row->fields[i] = (const char *)(uintptr_t)set->text.len;
		buf_append(&set->text, value, strlen(value) + 1);
	}
	return 0;
}

static int
delivery_count_row(void *arg, unsigned ncolumns, char **columns)
{
	unsigned *count = arg;

	if (ncolumns == 1 && columns[0])
		*count = (unsigned)strtoul(columns[0], NULL, 10);
	return 1;
}

static void
delivery_format_ids(const struct batch *batch, char *mailing, char *from,
    char *to)
{
	snprintf(mailing, 24, "%llu", (unsigned long long)batch->mailing_id);
	snprintf(from, 24, "%lu", (unsigned long)batch->checkpoint_row);
	snprintf(to, 24, "%lu", (unsigned long)batch->last_row);
}

int
delivery_read_pending(MYSQL *db, const struct batch *batch,
    struct delivery_rows *set, struct buf *err)
{
	char mailing[24], from[24], to[24];
	const char *params[3] = { mailing, from, to };
	struct buf sql = BUF_INIT;
	uint32_t after = batch->checkpoint_row;
	int rc = -1;

	if (!history_is_stage_table(batch->stage_table)) {
		buf_printf(err, "bad stage table name \"%s\"",
		    batch->stage_table);
		return -1;
	}
	set->count = 0;
	set->rows_not_due = 0;
	buf_reset(&set->text);
	/* A checkpoint before the batch's first row means "none yet". */
	if (after < batch->first_row)
		after = batch->first_row - 1;
	delivery_format_ids(batch, mailing, from, to);
	snprintf(from, sizeof(from), "%lu", (unsigned long)after);
	buf_printf(&sql, "SELECT row_id, recipient_id, variant_id, attempts");
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		buf_printf(&sql, ", %s", delivery_field_names[i]);
	buf_printf(&sql, " FROM `%s` WHERE mailing_id = ? AND row_id > ? AND "
	    "row_id <= ? AND (delivery_state = 'pending' OR (delivery_state "
	    "= 'deferred' AND next_attempt_at <= UTC_TIMESTAMP())) "
	    "ORDER BY row_id", batch->stage_table);
	if (db_query_strings(db, buf_str(&sql), 3, params, delivery_add_row,
	    set, err))
		goto out;
	for (unsigned r = 0; r < set->count; r++)
		for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
			set->rows[r].fields[i] = set->text.data +
			    (uintptr_t)set->rows[r].fields[i];
	buf_reset(&sql);
	buf_printf(&sql, "SELECT COUNT(*) FROM `%s` WHERE mailing_id = ? AND "
	    "row_id > ? AND row_id <= ? AND delivery_state = 'deferred' AND "
	    "next_attempt_at > UTC_TIMESTAMP()", batch->stage_table);
	if (db_query_strings(db, buf_str(&sql), 3, params, delivery_count_row,
	    &set->rows_not_due, err))
		goto out;
	rc = 0;
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

/* The columns one bulk UPDATE sets, each with a CASE over row_id. */
enum delivery_column {
	COLUMN_STATE,
	COLUMN_QUEUE_ID,
	COLUMN_REPLY,
	COLUMN_NEXT_ATTEMPT,
	COLUMN_COUNT
};

static const char *const delivery_column_sql[COLUMN_COUNT][2] = {
	{ "delivery_state", "?" },
	{ "queue_id", "?" },
	{ "relay_reply", "LEFT(?, 512)" },
	{ "next_attempt_at", "UTC_TIMESTAMP() + INTERVAL ? SECOND" },
};

/* The value result i binds for column. */
static const char *
delivery_column_value(enum delivery_column column,
    const struct delivery_result *r, const char *delay)
{
	switch (column) {
	case COLUMN_STATE:
		return delivery_state_of(r);
	case COLUMN_QUEUE_ID:
		return r->queue_id;
	case COLUMN_REPLY:
		return r->reply;
	case COLUMN_NEXT_ATTEMPT:
	case COLUMN_COUNT:
		break;
	}
	return delay;
}

/* One UPDATE for up to DELIVERY_RECORD_CHUNK results. */
static int
delivery_record_chunk(MYSQL *db, const struct batch *batch,
    const struct delivery_result *results, unsigned count, struct buf *err)
{
	const char **params = xcalloc((size_t)count * (2 * COLUMN_COUNT + 1) +
	    1, sizeof(*params));
	char (*ids)[24] = xcalloc(count, sizeof(*ids));
	char (*delays)[24] = xcalloc(count, sizeof(*delays));
	char mailing[24];
	struct buf sql = BUF_INIT;
	unsigned n = 0, used = 0;
	int rc = 0;

	for (unsigned i = 0; i < count; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%lu",
		    (unsigned long)results[i].row_id);
		snprintf(delays[i], sizeof(delays[i]), "%ld",
		    delivery_retry_delay(results[i].attempts));
		used += delivery_state_of(&results[i]) != NULL;
	}
	if (used == 0)
		goto out;
	/*
	 * Row ids and the mailing id are our own integers, written into the
	 * statement as numbers: bound as strings, every WHEN would compare
	 * an integer column with text through DECIMAL conversions (measured:
	 * the largest cost of the server while sending). Values that come
	 * from the relay (replies, queue ids) stay bound.
	 */
	buf_printf(&sql, "UPDATE `%s` SET", batch->stage_table);
	for (unsigned c = 0; c < COLUMN_COUNT; c++) {
		buf_printf(&sql, "%s %s = CASE row_id", c ? " END," : "",
		    delivery_column_sql[c][0]);
		for (unsigned i = 0; i < count; i++) {
			if (delivery_state_of(&results[i]) == NULL)
				continue;
			buf_printf(&sql, " WHEN %s THEN %s", ids[i],
			    delivery_column_sql[c][1]);
			params[n++] = delivery_column_value(c, &results[i],
			    delays[i]);
		}
	}
	/* Assignments run left to right: delivery_state is already new. */
	buf_append_str(&sql, " END, attempts = attempts + 1, delivered_at = "
	    "IF(delivery_state = 'sent', UTC_TIMESTAMP(), delivered_at) "
	    "WHERE mailing_id = ");
	snprintf(mailing, sizeof(mailing), "%llu",
	    (unsigned long long)batch->mailing_id);
	buf_printf(&sql, "%s AND row_id IN (", mailing);
	for (unsigned i = 0, first = 1; i < count; i++) {
		if (delivery_state_of(&results[i]) == NULL)
			continue;
		buf_printf(&sql, "%s%s", first ? "" : ", ", ids[i]);
		first = 0;
	}
	buf_append_str(&sql, ")");
	rc = db_execute(db, buf_str(&sql), n, params, NULL, err);
out:
	buf_free(&sql);
	free(params);
	free(ids);
	free(delays);
	return rc;
}

int
delivery_record(MYSQL *db, const struct batch *batch,
    const struct delivery_result *results, unsigned count,
    unsigned *sent, unsigned *deferred, unsigned *failed, struct buf *err)
{
	unsigned counts[3] = { 0, 0, 0 };

	if (!history_is_stage_table(batch->stage_table)) {
		buf_printf(err, "bad stage table name \"%s\"",
		    batch->stage_table);
		return -1;
	}
	for (unsigned done = 0; done < count; done += DELIVERY_RECORD_CHUNK) {
		unsigned chunk = count - done < DELIVERY_RECORD_CHUNK ?
		    count - done : DELIVERY_RECORD_CHUNK;

		if (delivery_record_chunk(db, batch, results + done, chunk,
		    err))
			return -1;
	}
	for (unsigned i = 0; i < count; i++) {
		const char *state = delivery_state_of(&results[i]);

		if (state == NULL)
			continue;
		counts[state[0] == 's' ? 0 : state[0] == 'd' ? 1 : 2]++;
	}
	if (sent)
		*sent = counts[0];
	if (deferred)
		*deferred = counts[1];
	if (failed)
		*failed = counts[2];
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
	char mailing[24], from[24], to[24];
	const char *params[3] = { mailing, from, to };
	struct delivery_left l = { left, retry_at, size };
	struct buf sql = BUF_INIT;
	int rc;

	*left = 0;
	retry_at[0] = '\0';
	delivery_format_ids(batch, mailing, from, to);
	snprintf(from, sizeof(from), "%lu", (unsigned long)batch->first_row);
	buf_printf(&sql, "SELECT COUNT(*), MIN(next_attempt_at) FROM `%s` "
	    "WHERE mailing_id = ? AND row_id >= ? AND row_id <= ? AND "
	    "delivery_state IN ('pending', 'deferred')", batch->stage_table);
	rc = db_query_strings(db, buf_str(&sql), 3, params, delivery_read_left,
	    &l, err);
	buf_free(&sql);
	return rc;
}

int
delivery_count_mailing(MYSQL *db, uint64_t mailing_id, unsigned sent,
    unsigned deferred, unsigned failed, struct buf *err)
{
	char id[24], s[24], d[24], f[24];
	const char *params[4] = { s, d, f, id };

	if (sent + deferred + failed == 0)
		return 0;
	snprintf(id, sizeof(id), "%llu", (unsigned long long)mailing_id);
	snprintf(s, sizeof(s), "%u", sent);
	snprintf(d, sizeof(d), "%u", deferred);
	snprintf(f, sizeof(f), "%u", failed);
	return db_execute(db, "UPDATE mailings SET sent_count = sent_count + ?, "
	    "deferred_count = deferred_count + ?, failed_count = failed_count "
	    "+ ? WHERE id = ?", 4, params, NULL, err);
}
