/*
 * stage.c - the stager (see stage.h for the steps and the guarantees).
 */
#include "stage.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "db.h"
#include "dbaccount.h"
#include "delivery.h"
#include "history.h"
#include "log.h"
#include "mailing.h"
#include "segment.h"
#include "stagewindow.h"
#include "testphase.h"
#include "variant.h"

#define STAGE_BATCH_ROWS_PER_INSERT 1000

/* stage_mailing(): the mailing is refused and stays queued. */
#define STAGE_REFUSED (-2)

/*
 * The crash tests kill the stager between its steps: with
 * HERALD_TEST_KILL_AT=STEP in the environment the process SIGKILLs
 * itself there, as a crash would, at a point the test chooses.
 */
static void
stage_crash_point(const char *step)
{
	const char *at = getenv("HERALD_TEST_KILL_AT");

	if (at && strcmp(at, step) == 0)
		raise(SIGKILL);
}

/* --- small query helpers ------------------------------------------------ */

/* Runs sql (no parameters) and keeps its first row's first column. */
static int
query_value(MYSQL *db, const char *sql, unsigned nparams,
    const char *const *params, struct buf *value, struct buf *err)
{
	buf_reset(value);
	return db_query_strings(db, sql, nparams, params, db_first_value,
	    value, err);
}

/* --- one mailing ---------------------------------------------------------- */

struct stage_mailing {
	char id[24];
	char table[HISTORY_TABLE_NAME_MAX];
	char new_table[HISTORY_TABLE_NAME_MAX + 4];
	char *segment;
	unsigned long long rows;
	int windowed;		/* rows carry due times (send window) */
	unsigned test_share;	/* basis points; 0: no test phase */
	unsigned long long test_cell_rows;	/* rows 1 .. this: the test
					 * cell (all rows without one) */
};

/* Undoes steps 2-4 of a run that died: leaves no trace of M's staging. */
static int
stage_undo(MYSQL *db, struct stage_mailing *m, struct buf *err)
{
	struct buf sql = BUF_INIT;
	const char *params[1] = { m->id };
	int status;

	status = history_union_change(db, m->table, NULL, err);
	if (!status) {
		buf_printf(&sql, "DROP TABLE IF EXISTS `%s`, `%s`", m->table,
		    m->new_table);
		status = db_exec(db, buf_str(&sql), err);
	}
	if (!status)
		status = db_execute(db, "DELETE FROM batches WHERE mailing_id "
		    "= ?", 1, params, NULL, err);
	buf_free(&sql);
	return status;
}

/* The filling statement: row numbers in recipient order. */
static void
stage_fill_sql(const struct stage_mailing *m, const struct buf *variant,
    const struct segment_sql *seg, struct buf *sql)
{
	buf_printf(sql, "INSERT INTO `%s` (mailing_id, row_id, recipient_id, "
	    "variant_id", m->new_table);
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		buf_printf(sql, ", %s", delivery_field_names[i]);
	buf_printf(sql, ") SELECT ?, ROW_NUMBER() OVER (ORDER BY r.id), "
	    "r.id, %s", buf_str(variant));
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		buf_printf(sql, ", r.%s", delivery_field_names[i]);
	buf_printf(sql, " FROM recipients r WHERE r.status = 'active' AND "
	    "NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email = "
	    "r.email) AND (%s)", buf_str(&seg->where));
}

/*
 * The filling statement of a mailing with a test phase: the HMAC rank
 * and the test cell's size T in a derived table, the variant from them
 * (variant.h), and row numbers that put the test cell (ranks up to T)
 * first, each part in recipient order: the holdout is then the rows
 * after T, and its batches are ranges of their own.
 */
static void
stage_test_fill_sql(const struct stage_mailing *m,
    const struct variant_assignment *variant, const struct segment_sql *seg,
    struct buf *sql)
{
	buf_printf(sql, "INSERT INTO `%s` (mailing_id, row_id, recipient_id, "
	    "variant_id", m->new_table);
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		buf_printf(sql, ", %s", delivery_field_names[i]);
	buf_printf(sql, ") SELECT ?, ROW_NUMBER() OVER (ORDER BY q.rk > q.nt, "
	    "q.id), q.id, %s", buf_str(&variant->expression));
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		buf_printf(sql, ", q.%s", delivery_field_names[i]);
	/* m->test_share is a number of our own: digits only. */
	buf_printf(sql, " FROM (SELECT r.id, %s AS rk, FLOOR(COUNT(*) OVER () "
	    "* %u / %d) AS nt", buf_str(&variant->rank), m->test_share,
	    VARIANT_SHARE_WHOLE);
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		buf_printf(sql, ", r.%s", delivery_field_names[i]);
	buf_printf(sql, " FROM recipients r WHERE r.status = 'active' AND "
	    "NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email = "
	    "r.email) AND (%s)) q", buf_str(&seg->where));
}

/* Step 2: the fresh table, filled in one statement. */
static int
stage_fill(const struct herald_config *cfg, MYSQL *db,
    struct stage_mailing *m, const char *today, struct buf *err)
{
	struct segment_sql seg;
	struct variant_assignment variant;
	struct stage_window window;
	struct buf sql = BUF_INIT;
	const char **params = NULL;
	unsigned n = 0;
	int status = -1;

	memset(&variant, 0, sizeof(variant));
	segment_sql_init(&seg);
	if (segment_compile(m->segment, today, &seg, err) != 0) {
		char *why = buf_steal(err);

		buf_printf(err, "mailing %s: segment: %s", m->id, why);
		free(why);
		goto out;
	}
	if (variant_assignment_prepare(cfg, db, m->id, m->test_share, &variant,
	    err) != 0)
		goto out;
	if (stage_window_read(db, m->id, &window, err) != 0)
		goto out;
	m->windowed = window.found;
	if (m->windowed && m->test_share) {
		buf_printf(err, "mailing %s: a test phase and a send window "
		    "together are not supported; cancel it and create it "
		    "with one of the two", m->id);
		goto out;
	}
	if (m->windowed && stage_window_prepare(db, m->id, &window, &seg,
	    err) != 0)
		goto out;
	buf_printf(&sql, "CREATE TABLE `%s` LIKE stage_template",
	    m->new_table);
	if (db_exec(db, buf_str(&sql), err) != 0)
		goto out;
	buf_reset(&sql);
	if (m->windowed)
		stage_window_fill_sql(m->new_table, &variant.expression, &seg,
		    &sql);
	else if (m->test_share)
		stage_test_fill_sql(m, &variant, &seg, &sql);
	else
		stage_fill_sql(m, &variant.expression, &seg, &sql);
	params = xcalloc(2 + variant.nparams + seg.count, sizeof(*params));
	params[n++] = m->id;
	for (unsigned i = 0; i < variant.nparams; i++)
		params[n++] = variant.params[i];
	if (m->windowed)
		params[n++] = window.zone;
	for (unsigned i = 0; i < seg.count; i++)
		params[n++] = seg.params[i];
	status = db_execute(db, buf_str(&sql), n, params, &m->rows, err);
	/* The same cut as the statement's FLOOR(N * share / 10000). */
	m->test_cell_rows = m->test_share ? variant_cut(m->rows,
	    m->test_share) : m->rows;
out:
	free(params);
	segment_sql_free(&seg);
	buf_free(&sql);
	variant_assignment_free(&variant);
	return status;
}

/*
 * Step 5: the batches and the ready state, all or nothing. With a test
 * phase no batch straddles the end of the test cell, and the holdout's
 * batches are held (testphase.h releases them).
 */
static int
stage_publish(MYSQL *db, struct stage_mailing *m, unsigned long batch_size,
    int *published, struct buf *err)
{
	struct buf sql = BUF_INIT;
	const struct db_value params[3] = { db_bind_u64(m->rows),
	    db_bind_text(m->table), db_bind_text(m->id) };
	unsigned long long first, last = 0;
	unsigned in_statement = 0;
	int status, moved = 0;

	*published = 0;
	status = db_exec(db, "START TRANSACTION", err);
	for (first = 1; !status && first <= m->rows; first = last + 1) {
		last = first + batch_size - 1;
		if (last > m->rows)
			last = m->rows;
		if (first <= m->test_cell_rows && last > m->test_cell_rows)
			last = m->test_cell_rows;
		if (in_statement == 0)
			buf_printf(&sql, "INSERT INTO batches (mailing_id, "
			    "stage_table, first_row, last_row, state) VALUES ");
		buf_printf(&sql, "%s(%s, '%s', %llu, %llu, '%s')", in_statement ?
		    "," : "", m->id, m->table, first, last, first >
		    m->test_cell_rows ? "held" : "ready");
		if (++in_statement == STAGE_BATCH_ROWS_PER_INSERT ||
		    last == m->rows) {
			status = db_exec(db, buf_str(&sql), err);
			buf_reset(&sql);
			in_statement = 0;
		}
	}
	if (!status && m->windowed)
		status = stage_window_batches(db, m->table, m->id, err);
	stage_crash_point("batches-inserted");
	if (!status)
		status = db_execute_values(db, "UPDATE mailings SET "
		    "staged_count = ?, stage_table = ?, staged_at = "
		    "UTC_TIMESTAMP() WHERE id = ?", 3, params, NULL, err);
	if (!status && m->test_share)
		status = test_phase_staged(db, m->id, m->test_cell_rows, err);
	if (!status) {
		moved = mailing_move(db, strtoull(m->id, NULL, 10),
		    MAILING_STAGING, MAILING_READY, NULL, err);
		status = moved < 0 ? -1 : 0;
	}
	if (!status && moved == 1) {
		status = db_exec(db, "COMMIT", err);
		*published = status == 0;
	} else {
		struct buf ignored = BUF_INIT;

		db_exec(db, "ROLLBACK", &ignored);
		buf_free(&ignored);
	}
	buf_free(&sql);
	return status;
}

static int
stage_mailing(const struct herald_config *cfg, MYSQL *db,
    struct stage_mailing *m, const char *today, struct buf *err)
{
	const char *params[1] = { m->id };
	uint64_t id = strtoull(m->id, NULL, 10);
	struct buf sql = BUF_INIT;
	int published = 0, status;

	/* Refused before anything changes: it stays queued. */
	if (test_phase_stage_check(db, id, &m->test_share, err) != 0)
		return STAGE_REFUSED;
	status = mailing_move(db, id, MAILING_QUEUED, MAILING_STAGING, NULL,
	    err);
	if (status <= 0)
		return status;	/* 0: paused or cancelled meanwhile */
	stage_crash_point("staging");
	status = stage_undo(db, m, err);
	if (!status)
		status = stage_fill(cfg, db, m, today, err);
	stage_crash_point("filled");
	if (!status && m->rows == 0) {
		buf_printf(&sql, "DROP TABLE `%s`", m->new_table);
		status = db_exec(db, buf_str(&sql), err);
		if (!status)
			status = db_execute(db, "UPDATE mailings SET "
			    "staged_count = 0, staged_at = UTC_TIMESTAMP() "
			    "WHERE id = ?", 1, params, NULL, err);
		if (!status)
			status = mailing_move(db, id, MAILING_STAGING,
			    MAILING_DONE, NULL, err) < 0 ? -1 : 0;
		if (!status)
			msg_info("mailing %s: the segment selects nobody; "
			    "done with 0 recipients", m->id);
		buf_free(&sql);
		return status;
	}
	if (!status) {
		buf_printf(&sql, "RENAME TABLE `%s` TO `%s`", m->new_table,
		    m->table);
		status = db_exec(db, buf_str(&sql), err);
	}
	/* Before any batch is published: heraldd's account reads it. */
	if (!status)
		status = dbaccount_grant_history_table(cfg, db, m->table, err);
	stage_crash_point("renamed");
	if (!status)
		status = history_union_change(db, NULL, m->table, err);
	stage_crash_point("in-union");
	if (!status)
		status = stage_publish(db, m, (unsigned long)cfg->batch_size,
		    &published, err);
	if (!status && !published) {
		/* Paused or cancelled while it was being staged. */
		status = stage_undo(db, m, err);
		msg_info("mailing %s changed state while being staged; "
		    "staging undone", m->id);
	} else if (!status) {
		msg_info("mailing %s: staged %llu %s in %s", m->id, m->rows,
		    msg_plural(m->rows, "recipient", "recipients"), m->table);
	}
	buf_free(&sql);
	return status;
}

/* --- the run ----------------------------------------------------------- */

struct id_list {
	char (*ids)[24];
	char **segments;
	unsigned count;
};

static int
collect_mailing(void *arg, unsigned ncolumns, char **col)
{
	struct id_list *l = arg;

	(void)ncolumns;
	l->ids = xrealloc(l->ids, (l->count + 1) * sizeof(*l->ids));
	l->segments = xrealloc(l->segments, (l->count + 1) *
	    sizeof(*l->segments));
	snprintf(l->ids[l->count], sizeof(l->ids[0]), "%s", col[0]);
	l->segments[l->count++] = xstrdup(col[1] ? col[1] : "");
	return 0;
}

static void
id_list_free(struct id_list *l)
{
	for (unsigned i = 0; i < l->count; i++)
		free(l->segments[i]);
	free(l->segments);
	free(l->ids);
	memset(l, 0, sizeof(*l));
}

static void
stage_names(struct stage_mailing *m, const char *id, char *segment)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	history_stage_table_name(id, m->table);
	snprintf(m->new_table, sizeof(m->new_table), "%s_new", m->table);
	m->segment = segment;
}

int
stage_run(const struct herald_config *cfg, MYSQL *db,
    struct stage_report *report, struct buf *err)
{
	struct buf value = BUF_INIT, ignored = BUF_INIT, refused = BUF_INIT;
	struct id_list list = { 0 };
	const char *state[1];
	char today[16];
	time_t now = time(NULL);
	struct tm tm;
	int status = -1;

	memset(report, 0, sizeof(*report));
	gmtime_r(&now, &tm);
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	if (query_value(db, "SELECT GET_LOCK(CONCAT('herald.stage.', "
	    "DATABASE()), 0)", 0, NULL, &value, err) != 0)
		goto out;
	if (strcmp(buf_str(&value), "1") != 0) {
		report->busy = 1;
		status = 0;
		goto out;
	}
	/* With the lock held, a mailing in staging is a dead run's. */
	state[0] = mailing_state_name(MAILING_STAGING);
	if (db_query_strings(db, "SELECT id, segment_expression FROM mailings "
	    "WHERE state = ?", 1, state, collect_mailing, &list, err) != 0)
		goto unlock;
	for (unsigned i = 0; i < list.count; i++) {
		struct stage_mailing m;

		stage_names(&m, list.ids[i], list.segments[i]);
		msg_info("mailing %s: finishing a staging that was "
		    "interrupted", m.id);
		if (stage_undo(db, &m, err) != 0 || mailing_move(db,
		    strtoull(m.id, NULL, 10), MAILING_STAGING, MAILING_QUEUED,
		    NULL, err) < 0)
			goto unlock;
	}
	id_list_free(&list);
	state[0] = mailing_state_name(MAILING_QUEUED);
	if (db_query_strings(db, "SELECT id, segment_expression FROM mailings "
	    "WHERE state = ? AND send_at <= UTC_TIMESTAMP() ORDER BY "
	    "priority DESC, send_at, id", 1, state, collect_mailing, &list,
	    err) != 0)
		goto unlock;
	for (unsigned i = 0; i < list.count; i++) {
		struct stage_mailing m;
		int rc;

		stage_names(&m, list.ids[i], list.segments[i]);
		rc = stage_mailing(cfg, db, &m, today, err);
		if (rc == STAGE_REFUSED) {
			/* One mailing's mistake holds up no other. */
			buf_printf(&refused, "%s%s", refused.len ? "; " : "",
			    buf_str(err));
			buf_reset(err);
			continue;
		}
		if (rc != 0)
			goto unlock;
		report->mailings++;
		report->rows += m.rows;
	}
	if (refused.len) {
		buf_append_str(err, buf_str(&refused));
		goto unlock;
	}
	status = 0;
unlock:
	query_value(db, "SELECT RELEASE_LOCK(CONCAT('herald.stage.', "
	    "DATABASE()))", 0, NULL, &value, &ignored);
out:
	id_list_free(&list);
	buf_free(&value);
	buf_free(&ignored);
	buf_free(&refused);
	return status;
}
