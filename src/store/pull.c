/*
 * pull.c - the value check: projecting a mailing's revenue and pulling
 * it when the projection falls short (see pull.h).
 *
 * Cost per check of a mailing: one pass over its rows in its stage
 * table (delivered_at is not indexed: an index there would cost every
 * send), grouped into age buckets (10 s in the first hour, 5 min in the
 * first day, then hours), so the rows read back stay few; and one
 * indexed join of its conversions. The delay curve is read once per
 * round, and only when some mailing has its sample.
 */
#include "pull.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "history.h"
#include "log.h"
#include "mailing.h"

/* The latest past conversions the history curve is made of. */
#define PULL_CURVE_CONVERSIONS 20000

/* --- the delay curve ----------------------------------------------------- */

struct pull_delays {
	long *delays;
	size_t count, capacity;
	unsigned mailings;
	unsigned long long last_mailing;
};

/* One row: mailing id, delay in seconds (ordered by mailing). */
static int
pull_delay_row(void *arg, unsigned ncolumns, char **col)
{
	struct pull_delays *d = arg;
	unsigned long long mailing;

	if (ncolumns != 2 || col[0] == NULL || col[1] == NULL)
		return 0;
	mailing = strtoull(col[0], NULL, 10);
	if (d->mailings == 0 || mailing != d->last_mailing)
		d->mailings++;
	d->last_mailing = mailing;
	if (d->count == d->capacity) {
		d->capacity = d->capacity ? 2 * d->capacity : 256;
		d->delays = xrealloc(d->delays, d->capacity *
		    sizeof(*d->delays));
	}
	d->delays[d->count++] = strtol(col[1], NULL, 10);
	return 0;
}

int
pull_curve_read(MYSQL *db, const struct herald_config *cfg,
    struct delay_curve *curve, unsigned *mailings, struct buf *err)
{
	const struct db_value values[2] = {
	    db_bind_i64(cfg->attribution_window),
	    db_bind_i64(PULL_CURVE_CONVERSIONS) };
	struct pull_delays d = { NULL, 0, 0, 0, 0 };
	int rc;

	/* Done for longer than the window: no conversion of theirs is
	 * still to come, so the delays are not cut short. */
	rc = db_query_values(db, "SELECT c.mailing_id, TIMESTAMPDIFF(SECOND, "
	    "h.delivered_at, c.converted_at) FROM (SELECT c.mailing_id, "
	    "c.recipient_id, c.converted_at FROM conversions c JOIN mailings "
	    "m ON m.id = c.mailing_id WHERE m.state = 'done' AND "
	    "m.finished_at <= UTC_TIMESTAMP() - INTERVAL ? SECOND ORDER BY "
	    "c.converted_at DESC LIMIT ?) c JOIN history h ON h.mailing_id = "
	    "c.mailing_id AND h.recipient_id = c.recipient_id WHERE "
	    "h.delivered_at IS NOT NULL ORDER BY c.mailing_id", 2, values,
	    pull_delay_row, &d, err);
	delay_curve_default(curve, cfg->attribution_window);
	if (rc == 0 && delay_curve_from_delays(curve, d.delays, d.count,
	    cfg->attribution_window))
		*mailings = d.mailings;
	else
		*mailings = 0;
	free(d.delays);
	return rc;
}

/* --- the projection ------------------------------------------------------ */

struct pull_gather {
	struct pull_projection *p;
	const struct delay_curve *curve;
};

/* The cell of variant (made when new, before the whole mailing's). */
static struct pull_cell *
pull_cell_of(struct pull_projection *p, long long variant, const char *name)
{
	struct pull_cell *c;

	for (unsigned i = 0; i < p->count; i++)
		if (p->cells[i].variant == variant)
			return &p->cells[i];
	p->cells = xrealloc(p->cells, (p->count + 1) * sizeof(*p->cells));
	c = &p->cells[p->count++];
	memset(c, 0, sizeof(*c));
	c->variant = variant;
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "A");
	return c;
}

/* One age bucket: variant, name, mean age, messages, oldest age. */
static int
pull_bucket_row(void *arg, unsigned ncolumns, char **col)
{
	struct pull_gather *g = arg;
	struct pull_cell *c;
	double age;
	unsigned long long n;
	long long oldest;

	if (ncolumns != 5 || !col[0] || !col[2] || !col[3] || !col[4])
		return 0;
	c = pull_cell_of(g->p, strtoll(col[0], NULL, 10), col[1]);
	age = strtod(col[2], NULL);
	n = strtoull(col[3], NULL, 10);
	oldest = strtoll(col[4], NULL, 10);
	c->delivered += n;
	c->arrived += delay_curve_arrived(g->curve, &age, &n, 1);
	if (oldest > c->age)
		c->age = oldest;
	return 0;
}

/* One variant's conversions: variant, count, amount. */
static int
pull_revenue_row(void *arg, unsigned ncolumns, char **col)
{
	struct pull_gather *g = arg;
	struct pull_cell *c;

	if (ncolumns != 3 || !col[0])
		return 0;
	c = pull_cell_of(g->p, strtoll(col[0], NULL, 10), NULL);
	c->conversions = strtoull(col[1], NULL, 10);
	c->revenue = col[2] ? strtod(col[2], NULL) : 0;
	return 0;
}

/* The whole mailing's cell, last, from its variants'. */
static void
pull_add_whole(struct pull_projection *p)
{
	struct pull_cell whole;

	memset(&whole, 0, sizeof(whole));
	whole.variant = -1;
	snprintf(whole.name, sizeof(whole.name), "all");
	for (unsigned i = 0; i < p->count; i++) {
		whole.delivered += p->cells[i].delivered;
		whole.conversions += p->cells[i].conversions;
		whole.revenue += p->cells[i].revenue;
		whole.arrived += p->cells[i].arrived;
		if (p->cells[i].age > whole.age)
			whole.age = p->cells[i].age;
	}
	p->cells = xrealloc(p->cells, (p->count + 1) * sizeof(*p->cells));
	p->cells[p->count++] = whole;
}

int
pull_project(MYSQL *db, const struct delay_curve *curve, uint64_t mailing,
    const char *table, struct pull_projection *p, struct buf *err)
{
	const struct db_value id[1] = { db_bind_u64(mailing) };
	struct pull_gather g = { p, curve };
	struct buf sql = BUF_INIT, expected = BUF_INIT;
	int rc = -1;

	memset(p, 0, sizeof(*p));
	p->expected = -1;
	if (!history_is_table(table)) {
		buf_printf(err, "mailing %" PRIu64 " has no stage table or "
		    "archive to project from", mailing);
		goto out;
	}
	if (db_query_values(db, "SELECT expected_value FROM mailings WHERE "
	    "id = ?", 1, id, db_first_value, &expected, err) != 0)
		goto out;
	if (expected.len)
		p->expected = strtod(buf_str(&expected), NULL);
	/* Only the table name (checked above) is spliced. */
	buf_printf(&sql, "SELECT g.variant_id, v.name, g.age, g.n, g.oldest "
	    "FROM (SELECT variant_id, AVG(a) AS age, COUNT(*) AS n, MAX(a) AS "
	    "oldest FROM (SELECT variant_id, GREATEST(TIMESTAMPDIFF(SECOND, "
	    "delivered_at, UTC_TIMESTAMP()), 0) AS a FROM `%s` WHERE "
	    "mailing_id = ? AND delivery_state IN ('sent', 'bounced') AND "
	    "delivered_at IS NOT NULL) d GROUP BY variant_id, IF(a < 3600, "
	    "a DIV 10, IF(a < 86400, 1000 + a DIV 300, 100000 + a DIV "
	    "3600))) g LEFT JOIN variants v ON v.id = g.variant_id ORDER BY "
	    "g.variant_id", table);
	if (db_query_values(db, buf_str(&sql), 1, id, pull_bucket_row, &g,
	    err) != 0)
		goto out;
	buf_reset(&sql);
	buf_printf(&sql, "SELECT h.variant_id, COUNT(*), SUM(c.amount) FROM "
	    "conversions c JOIN `%s` h ON h.mailing_id = c.mailing_id AND "
	    "h.recipient_id = c.recipient_id WHERE c.mailing_id = ? GROUP BY "
	    "h.variant_id", table);
	if (db_query_values(db, buf_str(&sql), 1, id, pull_revenue_row, &g,
	    err) != 0)
		goto out;
	pull_add_whole(p);
	rc = 0;
out:
	if (rc != 0)
		pull_projection_free(p);
	buf_free(&sql);
	buf_free(&expected);
	return rc;
}

double
pull_projected(const struct pull_cell *cell)
{
	return cell->arrived > 0 ? cell->revenue * 1000 / cell->arrived : -1;
}

const struct pull_cell *
pull_whole(const struct pull_projection *p)
{
	return &p->cells[p->count - 1];
}

void
pull_projection_free(struct pull_projection *p)
{
	free(p->cells);
	p->cells = NULL;
	p->count = 0;
}

/* --- the check ----------------------------------------------------------- */

/* A mailing to check, from the candidates' query. */
struct pull_candidate {
	uint64_t id;
	enum mailing_state state;
	char table[HISTORY_TABLE_NAME_MAX];
};

struct pull_candidates {
	struct pull_candidate *rows;
	unsigned count;
};

static int
pull_candidate_row(void *arg, unsigned ncolumns, char **col)
{
	struct pull_candidates *list = arg;
	struct pull_candidate *c;

	if (ncolumns != 3 || !col[0] || !col[1] || !col[2])
		return 0;
	list->rows = xrealloc(list->rows, (list->count + 1) *
	    sizeof(*list->rows));
	c = &list->rows[list->count];
	c->id = strtoull(col[0], NULL, 10);
	snprintf(c->table, sizeof(c->table), "%s", col[2]);
	if (mailing_state_parse(col[1], &c->state) == 0)
		list->count++;
	return 0;
}

/* The sentence of the figures behind a verdict. */
static void
pull_describe(const struct pull_projection *p,
    const struct delay_curve *curve, unsigned curve_mailings, double limit,
    struct buf *out)
{
	const struct pull_cell *all = pull_whole(p);
	double projected = pull_projected(all);

	if (projected >= 0)
		buf_printf(out, "value: projected %.2f per 1,000 delivered "
		    "against %.2f expected (%.0f%%, threshold %.0f%%)",
		    projected, p->expected, 100 * projected / p->expected,
		    100 * limit);
	else
		buf_printf(out, "value: no projection yet against %.2f "
		    "expected per 1,000 delivered (no conversion is due yet)",
		    p->expected);
	buf_printf(out, ": revenue %.2f from %llu conversions among %llu "
	    "delivered (the first %lld s ago), %.1f%% of whose conversions "
	    "should be in by now (", all->revenue, all->conversions,
	    all->delivered, all->age, all->delivered ? 100 * all->arrived /
	    (double)all->delivered : 0);
	if (delay_curve_is_history(curve))
		buf_printf(out, "delay curve of %zu past conversions of %u "
		    "mailing%s)", curve->count, curve_mailings,
		    curve_mailings == 1 ? "" : "s");
	else
		buf_printf(out, "default delay curve, half-life %d h)",
		    DELAY_CURVE_HALF_LIFE / 3600);
}

/*
 * Pulls mailing c in one transaction: the UPDATE of pull_check from
 * watched decides between nodes, the move (mailing.h) stops its
 * batches. *pulled = 1 when this call pulled it.
 */
static int
pull_mailing(MYSQL *db, const struct pull_candidate *c, const char *reason,
    int *pulled, struct buf *err)
{
	const struct db_value id[1] = { db_bind_u64(c->id) };
	unsigned long long won = 0;
	int moved = 0;

	*pulled = 0;
	if (db_exec(db, "START TRANSACTION", err) != 0)
		return -1;
	if (db_execute_values(db, "UPDATE mailings SET pull_check = 'pulled' "
	    "WHERE id = ? AND pull_check = 'watched'", 1, id, &won, err) != 0)
		goto fail;
	if (won)
		moved = mailing_move(db, c->id, c->state, MAILING_PULLED, reason,
		    err);
	if (moved < 0)
		goto fail;
	/* Not ours (another node pulled it, or the state moved on): the
	 * claim on pull_check is undone with the rest. */
	if (db_exec(db, moved ? "COMMIT" : "ROLLBACK", err) != 0)
		goto fail;
	*pulled = moved;
	return 0;
fail:
	{
		struct buf ignored = BUF_INIT;

		db_exec(db, "ROLLBACK", &ignored);
		buf_free(&ignored);
	}
	return -1;
}

/* Checks one candidate: projects, keeps and logs the figures, pulls. */
static int
pull_check(MYSQL *db, const struct herald_config *cfg,
    const struct delay_curve *curve, unsigned curve_mailings,
    const struct pull_candidate *c, struct buf *err)
{
	struct pull_projection p;
	struct buf figures = BUF_INIT;
	double limit = (double)cfg->pull_threshold / 1e6, projected;
	const struct pull_cell *all;
	int pulled = 0, rc = -1;

	if (pull_project(db, curve, c->id, c->table, &p, err) != 0)
		return -1;
	all = pull_whole(&p);
	rc = 0;
	if (all->delivered < (unsigned long long)cfg->pull_min_delivered ||
	    all->age < cfg->pull_min_age || p.expected <= 0)
		goto out;
	projected = pull_projected(all);
	pull_describe(&p, curve, curve_mailings, limit, &figures);
	rc = db_execute_values(db, "UPDATE mailings SET pull_figures = "
	    "LEFT(?, 1000), pull_checked_at = UTC_TIMESTAMP() WHERE id = ?", 2,
	    (struct db_value[]){ db_bind_text(buf_str(&figures)),
	    db_bind_u64(c->id) }, NULL, err);
	if (rc != 0)
		goto out;
	if (projected >= 0 && projected < limit * p.expected)
		rc = pull_mailing(db, c, buf_str(&figures), &pulled, err);
	if (pulled)
		msg_warn("mailing %" PRIu64 " pulled: %s", c->id,
		    buf_str(&figures));
	else if (rc == 0)
		msg_info("mailing %" PRIu64 " checked: %s", c->id,
		    buf_str(&figures));
out:
	buf_free(&figures);
	pull_projection_free(&p);
	return rc;
}

int
pull_run(MYSQL *db, const struct herald_config *cfg, struct buf *err)
{
	const struct db_value values[3] = {
	    db_bind_text(mailing_state_name(MAILING_READY)),
	    db_bind_text(mailing_state_name(MAILING_SENDING)),
	    db_bind_i64(cfg->pull_min_delivered) };
	struct pull_candidates list = { NULL, 0 };
	struct delay_curve curve;
	unsigned curve_mailings = 0;
	int rc;

	delay_curve_default(&curve, cfg->attribution_window);
	/* sent_count only narrows: the sample is judged on the rows. */
	rc = db_query_values(db, "SELECT id, state, stage_table FROM mailings "
	    "WHERE state IN (?, ?) AND pull_check = 'watched' AND "
	    "expected_value > 0 AND sent_count >= ? ORDER BY id", 3, values,
	    pull_candidate_row, &list, err);
	if (rc == 0 && list.count > 0)
		rc = pull_curve_read(db, cfg, &curve, &curve_mailings, err);
	for (unsigned i = 0; rc == 0 && i < list.count; i++)
		rc = pull_check(db, cfg, &curve, curve_mailings, &list.rows[i],
		    err);
	delay_curve_free(&curve);
	free(list.rows);
	return rc;
}

/* --- resuming ------------------------------------------------------------ */

int
pull_resume(MYSQL *db, uint64_t id, int force, char stage_table[65],
    struct buf *err)
{
	const struct db_value value[1] = { db_bind_u64(id) };
	struct buf check = BUF_INIT;
	int rc = -1;

	stage_table[0] = '\0';
	if (db_query_values(db, "SELECT IF(state = 'pulled', pull_check, '') "
	    "FROM mailings WHERE id = ?", 1, value, db_first_value, &check,
	    err) != 0)
		goto out;
	if (!force && strcmp(buf_str(&check), "pulled") == 0) {
		buf_printf(err, "mailing %" PRIu64 " was pulled for falling "
		    "short of its expected value (herald mailing show %" PRIu64
		    " gives the figures); \"herald mailing resume --force %"
		    PRIu64 "\" sends the rest anyway and stops checking its "
		    "value", id, id, id);
		goto out;
	}
	if (mailing_request(db, id, MAILING_RESUME, stage_table, err) != 0)
		goto out;
	/* Overruled: checked again, it would be pulled at once. */
	if (force && db_execute_values(db, "UPDATE mailings SET pull_check = "
	    "'exempt' WHERE id = ?", 1, value, NULL, err) != 0)
		goto out;
	rc = 0;
out:
	buf_free(&check);
	return rc;
}
