/*
 * suppression.c - the suppressions table (see suppression.h).
 *
 * Every statement on the table is here. Values are bound; the only name
 * spliced into SQL is a batch's stage table, checked first with
 * history_is_stage_table().
 */
#include "suppression.h"
#include "address.h"
#include "db.h"
#include "history.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Addresses per INSERT or DELETE: a statement stays well under
 * max_allowed_packet and a million-line import needs 2,000 of them. */
#define SUPPRESSION_CHUNK 500

static const char *const source_names[] = {
	[SUPPRESSION_OPERATOR] = "operator",
	[SUPPRESSION_IMPORT] = "import",
	[SUPPRESSION_BOUNCE] = "bounce",
	[SUPPRESSION_UNSUBSCRIBE] = "unsubscribe",
	[SUPPRESSION_COMPLAINT] = "complaint",
};

const char *
suppression_source_name(enum suppression_source source)
{
	return source_names[source];
}

void
suppression_list_free(struct suppression_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->emails[i]);
	free(list->emails);
	memset(list, 0, sizeof(*list));
}

int
suppression_normalize(const char *text, struct suppression_list *list,
    struct buf *err)
{
	struct buf normalized = BUF_INIT, why = BUF_INIT;
	int rc = -1;

	if (address_check(text, strlen(text), &normalized, &why) != 0) {
		buf_printf(err, "\"%s\" is not an email address (%s)", text,
		    buf_str(&why));
		goto out;
	}
	if (list->count == list->capacity) {
		list->capacity = list->capacity ? list->capacity * 2 : 16;
		list->emails = xrealloc(list->emails,
		    list->capacity * sizeof(*list->emails));
	}
	list->emails[list->count++] = buf_steal(&normalized);
	rc = 0;
out:
	buf_free(&normalized);
	buf_free(&why);
	return rc;
}

int
suppression_read_file(const char *path, struct suppression_list *list,
    struct buf *err)
{
	FILE *in = fopen(path, "r");
	char *line = NULL;
	size_t size = 0;
	ssize_t length;
	unsigned long number = 0;
	int rc = -1;

	if (in == NULL) {
		buf_printf(err, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	while ((length = getline(&line, &size, in)) >= 0) {
		char *start = line, *end = line + length;
		struct buf why = BUF_INIT;

		number++;
		if (memchr(line, '\0', (size_t)length)) {
			buf_printf(err, "%s:%lu: a NUL byte: not a text file "
			    "of addresses", path, number);
			goto out;
		}
		while (start < end && strchr(" \t", *start))
			start++;
		while (end > start && strchr(" \t\r\n", end[-1]))
			end--;
		*end = '\0';
		if (*start == '\0' || *start == '#')
			continue;
		if (suppression_normalize(start, list, &why) != 0) {
			buf_printf(err, "%s:%lu: %s", path, number,
			    buf_str(&why));
			buf_free(&why);
			goto out;
		}
	}
	if (ferror(in)) {
		buf_printf(err, "%s: read error after line %lu", path, number);
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(in);
	return rc;
}

int
suppression_insert(MYSQL *db, const struct suppression_list *list,
    enum suppression_source source, const char *reason, const char *detail,
    uint64_t mailing_id, unsigned long long *added, struct buf *err)
{
	const char **params = xcalloc(SUPPRESSION_CHUNK * 5, sizeof(*params));
	struct buf sql = BUF_INIT;
	char mailing[24];
	unsigned long long total = 0;
	int rc = -1;

	snprintf(mailing, sizeof(mailing), "%" PRIu64, mailing_id);
	for (size_t done = 0; done < list->count; done += SUPPRESSION_CHUNK) {
		size_t n = list->count - done < SUPPRESSION_CHUNK ?
		    list->count - done : SUPPRESSION_CHUNK;
		unsigned long long affected = 0;

		buf_reset(&sql);
		buf_append_str(&sql, "INSERT IGNORE INTO suppressions (email, "
		    "source, reason, detail, mailing_id) VALUES ");
		for (size_t i = 0; i < n; i++) {
			buf_printf(&sql, "%s(?, ?, LEFT(?, 255), LEFT(?, 512), "
			    "NULLIF(?, '0'))", i ? ", " : "");
			params[5 * i] = list->emails[done + i];
			params[5 * i + 1] = source_names[source];
			params[5 * i + 2] = reason ? reason : "";
			params[5 * i + 3] = detail;
			params[5 * i + 4] = mailing;
		}
		if (db_execute(db, buf_str(&sql), (unsigned)(5 * n), params,
		    &affected, err) != 0)
			goto out;
		total += affected;
	}
	if (added)
		*added = total;
	rc = 0;
out:
	buf_free(&sql);
	free(params);
	return rc;
}

static const char *const channel_names[] = {
	[SUPPRESSION_ONE_CLICK] = "one-click",
	[SUPPRESSION_PAGE] = "page",
	[SUPPRESSION_MAILTO] = "mailto",
};

const char *
suppression_channel_name(enum suppression_channel channel)
{
	return channel_names[channel];
}

int
suppression_insert_unsubscribe(MYSQL *db, const char *email,
    uint64_t mailing_id, enum suppression_channel channel,
    const char *remote_address, int *added, struct buf *err)
{
	struct db_value values[5] = {
		db_bind_text(email),
		db_bind_text(source_names[SUPPRESSION_UNSUBSCRIBE]),
		db_bind_u64(mailing_id),
		db_bind_text(channel_names[channel]),
		db_bind_text(remote_address),
	};
	unsigned long long affected = 0;

	if (db_execute_values(db, "INSERT IGNORE INTO suppressions (email, "
	    "source, reason, mailing_id, channel, remote_address) VALUES "
	    "(?, ?, 'unsubscribed', NULLIF(?, 0), ?, LEFT(?, 45))", 5,
	    values, &affected, err) != 0)
		return -1;
	if (added)
		*added = affected > 0;
	return 0;
}

/* Ends the transaction: COMMIT when rc is 0, else ROLLBACK. */
static int
suppression_end(MYSQL *db, int rc, struct buf *err)
{
	struct buf ignored = BUF_INIT;

	if (rc == 0)
		rc = db_exec(db, "COMMIT", err);
	if (rc != 0)
		db_exec(db, "ROLLBACK", &ignored);
	buf_free(&ignored);
	return rc;
}

int
suppression_add(MYSQL *db, const struct suppression_list *list,
    enum suppression_source source, const char *reason,
    unsigned long long *added, struct buf *err)
{
	if (db_exec(db, "START TRANSACTION", err) != 0)
		return -1;
	return suppression_end(db, suppression_insert(db, list, source,
	    reason, NULL, 0, added, err), err);
}

int
suppression_remove(MYSQL *db, const struct suppression_list *list,
    unsigned long long *removed, struct buf *err)
{
	const char **params = xcalloc(SUPPRESSION_CHUNK, sizeof(*params));
	struct buf sql = BUF_INIT;
	int started = db_exec(db, "START TRANSACTION", err) == 0;
	int rc = started ? 0 : -1;

	*removed = 0;
	for (size_t done = 0; rc == 0 && done < list->count;
	    done += SUPPRESSION_CHUNK) {
		size_t n = list->count - done < SUPPRESSION_CHUNK ?
		    list->count - done : SUPPRESSION_CHUNK;
		unsigned long long affected = 0;

		buf_reset(&sql);
		buf_append_str(&sql, "DELETE FROM suppressions WHERE email IN "
		    "(");
		for (size_t i = 0; i < n; i++) {
			buf_append_str(&sql, i ? ", ?" : "?");
			params[i] = list->emails[done + i];
		}
		buf_append_str(&sql, ")");
		rc = db_execute(db, buf_str(&sql), (unsigned)n, params,
		    &affected, err);
		*removed += affected;
	}
	if (started)
		rc = suppression_end(db, rc, err);
	buf_free(&sql);
	free(params);
	return rc;
}

struct suppression_walk {
	suppression_entry_fn *fn;
	void *arg;
};

static int
suppression_entry_row(void *arg, unsigned ncolumns, char **columns)
{
	struct suppression_walk *walk = arg;
	struct suppression_entry e;

	if (ncolumns != 6)
		return 1;
	e.email = columns[0];
	e.source = columns[1];
	e.reason = columns[2] ? columns[2] : "";
	e.detail = columns[3] ? columns[3] : "";
	e.mailing_id = columns[4] ? columns[4] : "";
	e.created_at = columns[5] ? columns[5] : "";
	return walk->fn(walk->arg, &e);
}

int
suppression_list_entries(MYSQL *db, suppression_entry_fn *fn, void *arg,
    struct buf *err)
{
	struct suppression_walk walk = { fn, arg };

	return db_query_strings(db, "SELECT email, source, reason, detail, "
	    "mailing_id, created_at FROM suppressions ORDER BY created_at, "
	    "email", 0, NULL, suppression_entry_row, &walk, err);
}

static int
suppression_number(void *arg, unsigned ncolumns, char **columns)
{
	unsigned long long *value = arg;

	if (ncolumns >= 1 && columns[0])
		*value = strtoull(columns[0], NULL, 10);
	return 1;
}

/*
 * The stage table is MyISAM and cannot join a transaction, so the batch
 * row (InnoDB) remembers how many of its rows were counted: one
 * transaction reads that and adds the difference. A failure anywhere
 * leaves the difference for the next call, so every suppressed row is
 * counted exactly once. A batch with none (nearly all) costs nothing.
 */
int
suppression_count_batch(MYSQL *db, const struct batch *batch,
    unsigned in_batch, struct buf *err)
{
	const struct db_value id = db_bind_u64(batch->id);
	unsigned long long counted = 0;
	int rc;

	if (in_batch == 0)
		return 0;
	rc = db_exec(db, "START TRANSACTION", err);
	if (rc == 0)
		rc = db_query_values(db, "SELECT suppressed_count FROM batches "
		    "WHERE id = ? FOR UPDATE", 1, &id, suppression_number,
		    &counted, err);
	if (rc == 0 && in_batch > counted) {
		const struct db_value add[2] = { db_bind_u64(in_batch -
		    counted), db_bind_u64(batch->mailing_id) };
		const struct db_value now[2] = { db_bind_u64(in_batch),
		    db_bind_u64(batch->id) };

		rc = db_execute_values(db, "UPDATE mailings SET "
		    "suppressed_count = suppressed_count + ? WHERE id = ?", 2,
		    add, NULL, err);
		if (rc == 0)
			rc = db_execute_values(db, "UPDATE batches SET "
			    "suppressed_count = ? WHERE id = ?", 2, now, NULL,
			    err);
	}
	return suppression_end(db, rc, err);
}

int
suppression_apply_to_batch(MYSQL *db, const struct batch *batch,
    uint32_t after_row, unsigned *suppressed, struct buf *err)
{
	const struct db_value params[3] = { db_bind_u64(batch->mailing_id),
	    db_bind_u64(after_row), db_bind_u64(batch->last_row) };
	unsigned long long affected = 0;
	struct buf sql = BUF_INIT;
	int rc = -1;

	*suppressed = 0;
	if (!history_is_stage_table(batch->stage_table)) {
		buf_printf(err, "bad stage table name \"%s\"",
		    batch->stage_table);
		return -1;
	}
	/* One join for the whole batch: the stage rows by their primary
	 * key range, each looked up in suppressions by its key. */
	buf_printf(&sql, "UPDATE `%s` s JOIN suppressions p ON p.email = "
	    "s.email SET s.delivery_state = 'suppressed', s.relay_reply = "
	    "LEFT(CONCAT('suppressed (', p.source, IF(p.reason = '', '', "
	    "CONCAT(': ', p.reason)), ')'), 512) WHERE s.mailing_id = ? AND "
	    "s.row_id > ? AND s.row_id <= ? AND s.delivery_state IN "
	    "('pending', 'deferred')", batch->stage_table);
	if (db_execute_values(db, buf_str(&sql), 3, params, &affected,
	    err) != 0)
		goto out;
	*suppressed = (unsigned)affected;
	rc = 0;
out:
	buf_free(&sql);
	return rc;
}
