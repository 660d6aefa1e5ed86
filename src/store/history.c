/*
 * history.c - the stage tables, the archives and history's UNION (see
 * history.h).
 *
 * history's UNION can only be changed by rewriting it whole (ALTER
 * TABLE history UNION=(...)), so every edit is a read, a change and a
 * write. Two of them interleaved would lose one (a new stage table left
 * out, or a dropped one put back), which is why each runs under the
 * same server-side lock, whoever asks: the stager, the maintenance run.
 */
#include "history.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

/*
 * Seconds to wait for the history lock. Its holder may itself wait for
 * queries running on history (ALTER does, FIELD-NOTES), such as a
 * stager's INSERT ... SELECT evaluating received(N) over a large history.
 */
#define HISTORY_LOCK_WAIT 600

static int
all_digits(const char *s, size_t length)
{
	if (length == 0)
		return 0;
	for (size_t i = 0; i < length; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int
history_is_stage_table(const char *name)
{
	size_t length = strlen(name);

	return length > 6 && length < HISTORY_TABLE_NAME_MAX &&
	    strncmp(name, "stage_", 6) == 0 && all_digits(name + 6,
	    length - 6);
}

int
history_is_archive(const char *name)
{
	return strlen(name) == 14 && strncmp(name, "history_", 8) == 0 &&
	    all_digits(name + 8, 6);
}

int
history_is_table(const char *name)
{
	return history_is_stage_table(name) || history_is_archive(name);
}

void
history_stage_table_name(const char *mailing_id,
    char name[HISTORY_TABLE_NAME_MAX])
{
	snprintf(name, HISTORY_TABLE_NAME_MAX, "stage_%s", mailing_id);
}

void
history_archive_name(const char *month, char name[HISTORY_TABLE_NAME_MAX])
{
	snprintf(name, HISTORY_TABLE_NAME_MAX, "history_%s", month);
}

/* --- the lock ----------------------------------------------------------- */

static int
first_value(void *arg, unsigned ncolumns, char **col)
{
	struct buf *out = arg;

	buf_reset(out);
	if (ncolumns > 0 && col[0])
		buf_append_str(out, col[0]);
	return 1;
}

static int
history_lock(MYSQL *db, struct buf *err)
{
	struct buf value = BUF_INIT;
	char wait[24];
	const char *params[1] = { wait };
	int status = 0;

	snprintf(wait, sizeof(wait), "%d", HISTORY_LOCK_WAIT);
	if (db_query_strings(db, "SELECT GET_LOCK(CONCAT('herald.history.', "
	    "DATABASE()), ?)", 1, params, first_value, &value, err) != 0) {
		status = -1;
	} else if (strcmp(buf_str(&value), "1") != 0) {
		buf_printf(err, "another herald has held the history lock "
		    "(herald.history) for over %d seconds; try again later",
		    HISTORY_LOCK_WAIT);
		status = -1;
	}
	buf_free(&value);
	return status;
}

static void
history_unlock(MYSQL *db)
{
	struct buf ignored = BUF_INIT;

	db_query_strings(db, "SELECT RELEASE_LOCK(CONCAT('herald.history.', "
	    "DATABASE()))", 0, NULL, first_value, &ignored, &ignored);
	buf_free(&ignored);
}

/* --- the UNION ---------------------------------------------------------- */

static int
second_value(void *arg, unsigned ncolumns, char **col)
{
	struct buf *out = arg;

	buf_reset(out);
	if (ncolumns > 1 && col[1])
		buf_append_str(out, col[1]);
	return 1;
}

int
history_union(MYSQL *db, struct buf *names, struct buf *err)
{
	struct buf create = BUF_INIT;
	const char *u, *end;

	buf_reset(names);
	if (db_query_strings(db, "SHOW CREATE TABLE history", 0, NULL,
	    second_value, &create, err) != 0) {
		buf_free(&create);
		return -1;
	}
	u = strstr(buf_str(&create), "UNION=(");
	if (u) {
		u += 7;
		end = strchr(u, ')');
		if (end)
			buf_append(names, u, (size_t)(end - u));
	}
	buf_free(&create);
	return 0;
}

/* True when the comma-separated names hold `table`. */
static int
names_contain(const char *names, const char *table)
{
	size_t length = strlen(table);

	for (const char *p = names; *p; ) {
		const char *comma = strchr(p, ',');
		size_t item = comma ? (size_t)(comma - p) : strlen(p);

		if (item == length + 2 && p[0] == '`' &&
		    memcmp(p + 1, table, length) == 0 && p[item - 1] == '`')
			return 1;
		p += item + (comma ? 1 : 0);
	}
	return 0;
}

int
history_union_contains(MYSQL *db, const char *table, int *present,
    struct buf *err)
{
	struct buf names = BUF_INIT;
	int status = history_union(db, &names, err);

	*present = status == 0 && names_contain(buf_str(&names), table);
	buf_free(&names);
	return status;
}

int
history_union_change(MYSQL *db, const char *remove, const char *add,
    struct buf *err)
{
	struct buf names = BUF_INIT, sql = BUF_INIT;
	int first = 1, changed = 0, status = -1;

	if (history_lock(db, err) != 0)
		return -1;
	if (history_union(db, &names, err) != 0)
		goto out;
	buf_append_str(&sql, "ALTER TABLE history UNION=(");
	for (const char *p = buf_str(&names); *p; ) {
		const char *comma = strchr(p, ',');
		size_t item = comma ? (size_t)(comma - p) : strlen(p);
		char one[HISTORY_TABLE_NAME_MAX + 2];

		snprintf(one, sizeof(one), "%.*s", (int)item, p);
		if (remove && names_contain(one, remove)) {
			changed = 1;
		} else {
			buf_printf(&sql, "%s%s", first ? "" : ",", one);
			first = 0;
		}
		p += item + (comma ? 1 : 0);
	}
	if (add && !names_contain(buf_str(&names), add)) {
		buf_printf(&sql, "%s`%s`", first ? "" : ",", add);
		changed = 1;
	}
	buf_append_char(&sql, ')');
	status = changed ? db_exec(db, buf_str(&sql), err) : 0;
out:
	history_unlock(db);
	buf_free(&names);
	buf_free(&sql);
	return status;
}

int
history_archive_replace(MYSQL *db, const char *archive, const char *copy,
    struct buf *err)
{
	struct buf sql = BUF_INIT;
	int status;

	if (!history_is_archive(archive)) {
		buf_printf(err, "\"%s\" is not an archive's name", archive);
		return -1;
	}
	if (history_lock(db, err) != 0)
		return -1;
	/* A run that died before its DROP below left archive_old, which
	 * nothing maps. */
	buf_printf(&sql, "DROP TABLE IF EXISTS `%s_old`", archive);
	status = db_exec(db, buf_str(&sql), err);
	/* history maps the name: it reads the new table from the next
	 * statement on, and the old one, renamed, is mapped by nothing. */
	buf_reset(&sql);
	buf_printf(&sql, "RENAME TABLE `%s` TO `%s_old`, `%s` TO `%s`",
	    archive, archive, copy, archive);
	if (status == 0)
		status = db_exec(db, buf_str(&sql), err);
	history_unlock(db);
	if (status == 0) {
		buf_reset(&sql);
		buf_printf(&sql, "DROP TABLE `%s_old`", archive);
		status = db_exec(db, buf_str(&sql), err);
	}
	buf_free(&sql);
	return status;
}

/* --- one recipient's row ---------------------------------------------- */

/* Row: email, variant_id. */
static int
history_row_of(void *arg, unsigned ncolumns, char **columns)
{
	struct history_row *row = arg;

	if (ncolumns != 2 || columns[0] == NULL)
		return 1;
	row->found = 1;
	snprintf(row->email, sizeof(row->email), "%s", columns[0]);
	row->variant_id = columns[1] ? strtoul(columns[1], NULL, 10) : 0;
	return 1;
}

int
history_find_row(MYSQL *db, const char *mailing_id,
    const char *recipient_id, struct history_row *row, struct buf *err)
{
	struct buf table = BUF_INIT, sql = BUF_INIT;
	const char *params[2] = { mailing_id, recipient_id };
	int status = -1;

	memset(row, 0, sizeof(*row));
	if (db_query_strings(db, "SELECT stage_table FROM mailings WHERE id = "
	    "?", 1, params, first_value, &table, err) != 0)
		goto out;
	if (!history_is_table(buf_str(&table))) {
		status = 0;	/* no such mailing, or never staged */
		goto out;
	}
	snprintf(row->table, sizeof(row->table), "%s", buf_str(&table));
	/* Only the table name (checked above) is spliced; values bound. */
	buf_printf(&sql, "SELECT email, variant_id FROM `%s` WHERE "
	    "mailing_id = ? AND recipient_id = ? LIMIT 1", row->table);
	if (db_query_strings(db, buf_str(&sql), 2, params, history_row_of,
	    row, err) != 0)
		goto out;
	status = 0;
out:
	buf_free(&table);
	buf_free(&sql);
	return status;
}

int
history_record_bounce(MYSQL *db, const struct history_row *row,
    const char *mailing_id, const char *recipient_id, const char *reply,
    const struct bounce_class *class, int *changed, struct buf *err)
{
	const struct db_value params[7] = { db_bind_text(mailing_id),
	    db_bind_text(recipient_id), db_bind_u64(row->variant_id),
	    db_bind_text(row->email), db_bind_text(reply),
	    db_bind_text(bounce_reason_name(class->reason)),
	    db_bind_u64(class->hard != 0) };
	unsigned long long inserted = 0;
	struct buf sql = BUF_INIT;
	int status;

	*changed = 0;
	/* The primary key (mailing, recipient) keeps it once. */
	status = db_execute_values(db, "INSERT IGNORE INTO bounces "
	    "(mailing_id, recipient_id, variant_id, email, reply, reason, "
	    "hard) VALUES (?, ?, ?, ?, LEFT(?, 512), ?, ?)", 7, params,
	    &inserted, err);
	if (status == 0 && history_is_stage_table(row->table)) {
		const char *p[3] = { reply, mailing_id, recipient_id };

		buf_printf(&sql, "UPDATE `%s` SET delivery_state = 'bounced', "
		    "relay_reply = LEFT(?, 512) WHERE mailing_id = ? AND "
		    "recipient_id = ? AND delivery_state <> 'bounced'",
		    row->table);
		status = db_execute(db, buf_str(&sql), 3, p, NULL, err);
	}
	*changed = status == 0 && inserted > 0;
	buf_free(&sql);
	return status;
}
