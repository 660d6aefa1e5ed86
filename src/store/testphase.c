/*
 * testphase.c - a mailing's test phase (see testphase.h).
 */
#include "testphase.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "history.h"
#include "log.h"
#include "mailing.h"
#include "variant.h"

/* --- the wait ------------------------------------------------------------ */

int
test_phase_wait_parse(const char *text, unsigned long *seconds,
    struct buf *why)
{
	const char *p = text;
	unsigned long value = 0, unit;
	unsigned digits = 0;

	/* Nine digits at most: no overflow, and far past the limit. */
	while (isdigit((unsigned char)*p) && digits < 9) {
		value = value * 10 + (unsigned long)(*p++ - '0');
		digits++;
	}
	unit = *p == 's' ? 1 : *p == 'm' ? 60 : *p == 'h' ? 3600 : 0;
	if (digits == 0 || unit == 0 || p[1] != '\0') {
		buf_printf(why, "\"%s\": expected a whole number of seconds, "
		    "minutes or hours such as 90s, 30m or 2h", text);
		return -1;
	}
	value *= unit;
	if (value == 0 || value > TEST_PHASE_WAIT_MAX) {
		buf_printf(why, "\"%s\": a wait is more than 0 and at most "
		    "%luh (30 days)", text, TEST_PHASE_WAIT_MAX / 3600);
		return -1;
	}
	*seconds = value;
	return 0;
}

void
test_phase_wait_format(unsigned long seconds, struct buf *out)
{
	if (seconds % 3600 == 0)
		buf_printf(out, "%luh", seconds / 3600);
	else if (seconds % 60 == 0)
		buf_printf(out, "%lum", seconds / 60);
	else
		buf_printf(out, "%lus", seconds);
}

static const char *const test_phase_state_names[] = {
	[TEST_PHASE_NONE] = "none",
	[TEST_PHASE_UNSTAGED] = "to be staged",
	[TEST_PHASE_TESTING] = "testing",
	[TEST_PHASE_WAITING] = "waiting",
	[TEST_PHASE_DECIDED] = "decided",
};

const char *
test_phase_state_name(enum test_phase_state state)
{
	return test_phase_state_names[state];
}

/* --- reading ---------------------------------------------------------------- */

static void
copy_column(char *to, size_t size, const char *from)
{
	snprintf(to, size, "%s", from ? from : "");
}

static int
test_phase_row(void *arg, unsigned ncolumns, char **col)
{
	struct test_phase *tp = arg;

	(void)ncolumns;
	tp->found = 1;
	if (col[0] == NULL || col[2] == NULL ||
	    winner_metric_parse(col[2], &tp->metric) != 0) {
		tp->state = TEST_PHASE_NONE;
		return 1;
	}
	tp->share = (unsigned)strtoul(col[0], NULL, 10);
	tp->wait = col[1] ? strtoul(col[1], NULL, 10) : 0;
	copy_column(tp->table, sizeof(tp->table), col[3]);
	tp->staged = strtoull(col[4], NULL, 10);
	tp->cell_rows = col[5] ? strtoull(col[5], NULL, 10) : 0;
	copy_column(tp->sent_at, sizeof(tp->sent_at), col[6]);
	copy_column(tp->wait_ends, sizeof(tp->wait_ends), col[7]);
	tp->winner = col[8] ? (uint32_t)strtoul(col[8], NULL, 10) : 0;
	copy_column(tp->winner_name, sizeof(tp->winner_name), col[9]);
	copy_column(tp->winner_at, sizeof(tp->winner_at), col[10]);
	copy_column(tp->reason, sizeof(tp->reason), col[11]);
	tp->state = col[5] == NULL ? TEST_PHASE_UNSTAGED : col[8] ?
	    TEST_PHASE_DECIDED : col[6] ? TEST_PHASE_WAITING :
	    TEST_PHASE_TESTING;
	return 1;
}

int
test_phase_read(MYSQL *db, uint64_t mailing, struct test_phase *tp,
    struct buf *err)
{
	const struct db_value params[1] = { db_bind_u64(mailing) };

	memset(tp, 0, sizeof(*tp));
	return db_query_values(db, "SELECT m.test_share_basis_points, "
	    "m.test_wait_seconds, m.test_metric, m.stage_table, "
	    "m.staged_count, m.test_cell_rows, m.test_sent_at, "
	    "m.test_sent_at + INTERVAL m.test_wait_seconds SECOND, "
	    "m.winner_variant_id, IF(m.winner_variant_id = 0, '"
	    VARIANT_OWN_NAME "', v.name), m.winner_at, m.winner_reason FROM "
	    "mailings m LEFT JOIN variants v ON v.id = m.winner_variant_id "
	    "WHERE m.id = ?", 1, params, test_phase_row, tp, err);
}

/* --- figures ------------------------------------------------------------------ */

static struct test_phase_row *
figures_add(struct test_phase_figures *f, uint32_t variant, const char *name)
{
	struct test_phase_row *r;

	f->rows = xrealloc(f->rows, (f->count + 1) * sizeof(*f->rows));
	r = &f->rows[f->count++];
	memset(r, 0, sizeof(*r));
	r->variant = variant;
	copy_column(r->name, sizeof(r->name), name);
	return r;
}

/* Names point into rows, which move while they grow: set at the end. */
static void
figures_finish(enum winner_metric metric, struct test_phase_figures *f)
{
	unsigned leader = 0;

	for (unsigned i = 0; i < f->count; i++) {
		f->rows[i].figures.name = f->rows[i].name;
		f->rows[i].rate = winner_rate(metric, &f->rows[i].figures);
		if (f->rows[i].rate > f->rows[leader].rate)
			leader = i;
	}
	if (f->recorded)
		return;
	for (unsigned i = 0; i < f->count; i++) {
		f->rows[i].has_z = i != leader;
		if (i != leader)
			f->rows[i].z = winner_z(metric,
			    &f->rows[leader].figures, &f->rows[i].figures);
	}
}

static struct test_phase_row *
figures_find(struct test_phase_figures *f, uint32_t variant)
{
	for (unsigned i = 0; i < f->count; i++)
		if (f->rows[i].variant == variant)
			return &f->rows[i];
	return NULL;
}

static int
live_row(void *arg, unsigned ncolumns, char **col)
{
	struct test_phase_row *r = figures_find(arg,
	    (uint32_t)strtoul(col[0], NULL, 10));

	(void)ncolumns;
	if (r == NULL)		/* a variant of no test: not a candidate */
		return 0;
	r->figures.delivered = strtoull(col[1], NULL, 10);
	r->figures.clickers = strtoull(col[2], NULL, 10);
	r->figures.converters = strtoull(col[3], NULL, 10);
	r->figures.revenue = strtod(col[4], NULL);
	r->figures.revenue_squares = strtod(col[5], NULL);
	return 0;
}

/*
 * The candidates, A (when the variants leave it a share of the test
 * cell) and each variant with a share, and their figures in the test
 * cell so far. Delivered: accepted by the relay (sent, or bounced
 * afterwards); a clicker or a converter counts once however often.
 */
static int
figures_live(MYSQL *db, uint64_t mailing, const struct test_phase *tp,
    struct test_phase_figures *f, struct buf *err)
{
	const struct db_value params[4] = { db_bind_u64(mailing),
	    db_bind_u64(mailing), db_bind_u64(mailing),
	    db_bind_u64(tp->cell_rows) };
	struct variant_list list;
	struct buf sql = BUF_INIT;
	int status;

	if (variant_list_read(db, mailing, &list, err) != 0)
		return -1;
	if (list.share_total < VARIANT_SHARE_WHOLE)
		figures_add(f, 0, VARIANT_OWN_NAME);
	for (unsigned i = 0; i < list.count; i++)
		if (list.rows[i].share > 0)
			figures_add(f, list.rows[i].id, list.rows[i].name);
	variant_list_free(&list);
	if (!history_is_stage_table(tp->table)) {
		buf_printf(err, "mailing %" PRIu64 ": its rows are not in a "
		    "stage table (\"%s\")", mailing, tp->table);
		return -1;
	}
	/* Only the checked table name is spliced; values are bound. */
	buf_printf(&sql, "SELECT h.variant_id, COUNT(*), COUNT(c.recipient_id), "
	    "COUNT(cv.recipient_id), COALESCE(SUM(cv.amount), 0), "
	    "COALESCE(SUM(cv.amount * cv.amount), 0) FROM `%s` h LEFT JOIN "
	    "(SELECT DISTINCT recipient_id FROM clicks WHERE mailing_id = ?) c "
	    "ON c.recipient_id = h.recipient_id LEFT JOIN (SELECT "
	    "recipient_id, SUM(amount) AS amount FROM conversions WHERE "
	    "mailing_id = ? GROUP BY recipient_id) cv ON cv.recipient_id = "
	    "h.recipient_id WHERE h.mailing_id = ? AND h.row_id <= ? AND "
	    "h.delivery_state IN ('sent', 'bounced') GROUP BY h.variant_id",
	    tp->table);
	status = db_query_values(db, buf_str(&sql), 4, params, live_row, f,
	    err);
	buf_free(&sql);
	if (status == 0)
		figures_finish(tp->metric, f);
	return status;
}

static int
recorded_row(void *arg, unsigned ncolumns, char **col)
{
	struct test_phase_figures *f = arg;
	struct test_phase_row *r = figures_add(f,
	    (uint32_t)strtoul(col[0], NULL, 10), col[1]);
	uint64_t events = strtoull(col[3], NULL, 10);

	(void)ncolumns;
	r->figures.delivered = strtoull(col[2], NULL, 10);
	r->figures.clickers = r->figures.converters = events;
	r->figures.revenue = strtod(col[4], NULL);
	r->has_z = col[5] != NULL;
	r->z = col[5] ? strtod(col[5], NULL) : 0;
	return 0;
}

int
test_phase_figures_read(MYSQL *db, uint64_t mailing,
    const struct test_phase *tp, struct test_phase_figures *f,
    struct buf *err)
{
	const struct db_value params[1] = { db_bind_u64(mailing) };
	int status;

	memset(f, 0, sizeof(*f));
	if (tp->state != TEST_PHASE_DECIDED)
		return tp->state == TEST_PHASE_TESTING ||
		    tp->state == TEST_PHASE_WAITING ? figures_live(db, mailing,
		    tp, f, err) : 0;
	f->recorded = 1;
	status = db_query_values(db, "SELECT variant_id, name, delivered, "
	    "events, revenue, z FROM test_results WHERE mailing_id = ? ORDER "
	    "BY variant_id", 1, params, recorded_row, f, err);
	if (status == 0)
		figures_finish(tp->metric, f);
	return status;
}

void
test_phase_figures_free(struct test_phase_figures *f)
{
	free(f->rows);
	memset(f, 0, sizeof(*f));
}

/* --- staging ---------------------------------------------------------------------- */

struct stage_check {
	int has_phase;
	unsigned share;
	unsigned long variants;
	char metric[16];
};

static int
stage_check_row(void *arg, unsigned ncolumns, char **col)
{
	struct stage_check *c = arg;

	(void)ncolumns;
	c->has_phase = col[0] != NULL;
	c->share = col[0] ? (unsigned)strtoul(col[0], NULL, 10) : 0;
	c->variants = strtoul(col[1], NULL, 10);
	copy_column(c->metric, sizeof(c->metric), col[2]);
	return 1;
}

int
test_phase_stage_check(MYSQL *db, uint64_t mailing, unsigned *share,
    struct buf *err)
{
	const struct db_value params[1] = { db_bind_u64(mailing) };
	struct stage_check c = { 0, 0, 0, "" };

	*share = 0;
	if (db_query_values(db, "SELECT m.test_share_basis_points, (SELECT "
	    "COUNT(*) FROM variants v WHERE v.mailing_id = m.id AND "
	    "v.share_basis_points > 0), m.test_metric FROM mailings m WHERE "
	    "m.id = ?", 1, params, stage_check_row, &c, err) != 0)
		return -1;
	if (c.has_phase && c.variants == 0) {
		buf_printf(err, "mailing %" PRIu64 " has a test phase (--winner "
		    "%s) but no variant to test; add one (herald mailing "
		    "variant add %" PRIu64 " --name B --share 50%%) or cancel it "
		    "(herald mailing cancel %" PRIu64 "); it stays queued",
		    mailing, c.metric, mailing, mailing);
		return -1;
	}
	*share = c.share;
	return 0;
}

int
test_phase_staged(MYSQL *db, const char *mailing_id, uint64_t cell_rows,
    struct buf *err)
{
	const struct db_value params[2] = { db_bind_u64(cell_rows),
	    db_bind_text(mailing_id) };

	return db_execute_values(db, "UPDATE mailings SET test_cell_rows = ?, "
	    "test_sent_at = NULL, winner_variant_id = NULL, winner_at = NULL, "
	    "winner_reason = NULL WHERE id = ?", 2, params, NULL, err);
}

/* --- the monitor's check ------------------------------------------------------------ */

struct pending_list {
	uint64_t *ids;
	unsigned count;
};

static int
pending_row(void *arg, unsigned ncolumns, char **col)
{
	struct pending_list *l = arg;

	(void)ncolumns;
	l->ids = xrealloc(l->ids, (l->count + 1) * sizeof(*l->ids));
	l->ids[l->count++] = strtoull(col[0], NULL, 10);
	return 0;
}

/* Starts the clock when no test-cell batch waits for its first pass. */
static int
test_phase_clock(MYSQL *db, uint64_t mailing, const struct test_phase *tp,
    struct buf *err)
{
	const struct db_value params[1] = { db_bind_u64(mailing) };
	struct buf left = BUF_INIT, wait = BUF_INIT;
	unsigned long long affected = 0;
	int status;

	/* A batch handed back for retries has next_attempt_at set. */
	status = db_query_values(db, "SELECT COUNT(*) FROM batches WHERE "
	    "mailing_id = ? AND state IN ('ready', 'claimed') AND "
	    "next_attempt_at IS NULL", 1, params, db_first_value, &left, err);
	if (status == 0 && strcmp(buf_str(&left), "0") == 0)
		status = db_execute_values(db, "UPDATE mailings SET "
		    "test_sent_at = UTC_TIMESTAMP() WHERE id = ? AND "
		    "test_sent_at IS NULL", 1, params, &affected, err);
	if (status == 0 && affected == 1) {
		test_phase_wait_format(tp->wait, &wait);
		msg_info("mailing %" PRIu64 ": the test cell (%" PRIu64 " of "
		    "%" PRIu64 " recipients) is sent; the winner by %s is "
		    "chosen %s from now at the latest", mailing, tp->cell_rows,
		    tp->staged, winner_metric_name(tp->metric),
		    buf_str(&wait));
	}
	buf_free(&left);
	buf_free(&wait);
	return status;
}

static int
record_result(MYSQL *db, uint64_t mailing, const struct test_phase_row *r,
    enum winner_metric metric, struct buf *err)
{
	char revenue[32], rate[32], z[32];
	const struct db_value params[8] = { db_bind_u64(mailing),
	    db_bind_u64(r->variant), db_bind_text(r->name),
	    db_bind_u64(r->figures.delivered), db_bind_u64(metric ==
	    WINNER_CLICKS ? r->figures.clickers : r->figures.converters),
	    db_bind_text(revenue), db_bind_text(rate),
	    db_bind_text(r->has_z ? z : NULL) };

	snprintf(revenue, sizeof(revenue), "%.2f", r->figures.revenue);
	snprintf(rate, sizeof(rate), "%.17g", r->rate);
	snprintf(z, sizeof(z), "%.17g", r->z);
	return db_execute_values(db, "INSERT INTO test_results (mailing_id, "
	    "variant_id, name, delivered, events, revenue, rate, z) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE name = "
	    "VALUES(name), delivered = VALUES(delivered), events = "
	    "VALUES(events), revenue = VALUES(revenue), rate = VALUES(rate), "
	    "z = VALUES(z)", 8, params, NULL, err);
}

/*
 * The decision, all or nothing, by whoever updates the mailing's row
 * first; *won is 0 when another monitor had decided already. The
 * holdout's rows get the winner before its batches become claimable.
 */
static int
test_phase_decide(MYSQL *db, uint64_t mailing, const struct test_phase *tp,
    const struct test_phase_figures *f, unsigned winner, const char *why,
    int *won, struct buf *err)
{
	const struct test_phase_row *w = &f->rows[winner];
	char reason[2001];
	const struct db_value decide[3] = { db_bind_u64(w->variant),
	    db_bind_text(reason), db_bind_u64(mailing) };
	const struct db_value holdout[3] = { db_bind_u64(w->variant),
	    db_bind_u64(mailing), db_bind_u64(tp->cell_rows) };
	const struct db_value release[1] = { db_bind_u64(mailing) };
	unsigned long long affected = 0, released = 0;
	struct buf sql = BUF_INIT, ignored = BUF_INIT;
	int status;

	*won = 0;
	snprintf(reason, sizeof(reason), "%s", why);
	status = db_exec(db, "START TRANSACTION", err);
	if (status == 0)
		status = db_execute_values(db, "UPDATE mailings SET "
		    "winner_variant_id = ?, winner_at = UTC_TIMESTAMP(), "
		    "winner_reason = ? WHERE id = ? AND winner_variant_id IS "
		    "NULL", 3, decide, &affected, err);
	if (status != 0 || affected != 1)
		goto out;
	for (unsigned i = 0; status == 0 && i < f->count; i++)
		status = record_result(db, mailing, &f->rows[i], tp->metric,
		    err);
	/* The table name was checked (figures_live). */
	buf_printf(&sql, "UPDATE `%s` SET variant_id = ? WHERE mailing_id = ? "
	    "AND row_id > ?", tp->table);
	if (status == 0)
		status = db_execute_values(db, buf_str(&sql), 3, holdout, NULL,
		    err);
	if (status == 0)
		status = db_execute_values(db, "UPDATE batches SET state = "
		    "'ready' WHERE mailing_id = ? AND state = 'held'", 1,
		    release, &released, err);
	if (status == 0)
		status = db_exec(db, "COMMIT", err);
	if (status == 0) {
		*won = 1;
		msg_info("mailing %" PRIu64 ": variant %s wins the test by %s "
		    "(%s); the holdout of %" PRIu64 " recipients (%llu "
		    "batches) gets %s now", mailing, w->name,
		    winner_metric_name(tp->metric), why, tp->staged -
		    tp->cell_rows, released, w->name);
	}
out:
	if (!*won)
		db_exec(db, "ROLLBACK", &ignored);
	buf_free(&sql);
	buf_free(&ignored);
	return status;
}

/* One mailing: the clock, then the rule, then perhaps the decision. */
static int
test_phase_check_one(MYSQL *db, uint64_t mailing, unsigned *decided,
    struct buf *err)
{
	struct test_phase tp;
	struct test_phase_figures f;
	struct winner_figures *figures = NULL;
	struct buf why = BUF_INIT, now = BUF_INIT;
	const struct db_value params[1] = { db_bind_u64(mailing) };
	unsigned winner = 0;
	int status, chosen = 0, won = 0;

	memset(&f, 0, sizeof(f));
	status = test_phase_read(db, mailing, &tp, err);
	if (status == 0 && tp.state == TEST_PHASE_TESTING)
		status = test_phase_clock(db, mailing, &tp, err);
	if (status == 0)
		status = test_phase_read(db, mailing, &tp, err);
	if (status != 0 || (tp.state != TEST_PHASE_TESTING &&
	    tp.state != TEST_PHASE_WAITING))
		goto out;
	status = figures_live(db, mailing, &tp, &f, err);
	if (status == 0 && tp.state == TEST_PHASE_WAITING)
		status = db_query_values(db, "SELECT test_sent_at + INTERVAL "
		    "test_wait_seconds SECOND <= UTC_TIMESTAMP() FROM mailings "
		    "WHERE id = ?", 1, params, db_first_value, &now, err);
	if (status != 0)
		goto out;
	figures = xcalloc(f.count ? f.count : 1, sizeof(*figures));
	for (unsigned i = 0; i < f.count; i++)
		figures[i] = f.rows[i].figures;
	chosen = winner_choose(tp.metric, figures, f.count,
	    strcmp(buf_str(&now), "1") == 0, &winner, &why);
	if (chosen == 1) {
		/* The recorded z's are the winner's over each other. */
		for (unsigned i = 0; i < f.count; i++) {
			f.rows[i].has_z = i != winner;
			f.rows[i].z = i == winner ? 0 : winner_z(tp.metric,
			    &f.rows[winner].figures, &f.rows[i].figures);
		}
		status = test_phase_decide(db, mailing, &tp, &f, winner,
		    buf_str(&why), &won, err);
		*decided += won;
	}
out:
	free(figures);
	test_phase_figures_free(&f);
	buf_free(&why);
	buf_free(&now);
	return status;
}

int
test_phase_check(MYSQL *db, unsigned *decided, struct buf *err)
{
	struct pending_list list = { NULL, 0 };
	const char *states[4] = { mailing_state_name(MAILING_READY),
	    mailing_state_name(MAILING_SENDING),
	    mailing_state_name(MAILING_BLOCKED),
	    mailing_state_name(MAILING_PAUSED) };
	int status;

	*decided = 0;
	status = db_query_strings(db, "SELECT id FROM mailings WHERE state IN "
	    "(?, ?, ?, ?) AND test_metric IS NOT NULL AND test_cell_rows IS "
	    "NOT NULL AND winner_variant_id IS NULL ORDER BY id", 4, states,
	    pending_row, &list, err);
	for (unsigned i = 0; status == 0 && i < list.count; i++) {
		status = test_phase_check_one(db, list.ids[i], decided, err);
		if (status != 0) {
			char *why = buf_steal(err);

			buf_printf(err, "mailing %" PRIu64 ": %s", list.ids[i],
			    why);
			free(why);
		}
	}
	free(list.ids);
	return status;
}
