/*
 * brake.c - pulling a mailing whose complaints or hard bounces run too
 * high (see brake.h).
 *
 * Reading the window costs two indexed counts (complaints, hard
 * bounces) per complaint or hard bounce, and stops there while both are
 * below brake_min_events. The delivered count is the mailing's
 * sent_count when the mailing was staged within the window (every
 * delivery is then in it: the first brake_window of any mailing);
 * otherwise it scans the stage table for rows delivered in the window
 * (delivered_at is not indexed: a stage table is written by the hot
 * path, and an index there costs every send). That scan, once per bad
 * event of a mailing running longer than brake_window, is the brake's
 * cost on large mailings.
 */
#include "brake.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "history.h"
#include "mailing.h"

/* One number from a query with bound values. */
static int
brake_count(MYSQL *db, const char *sql, unsigned nvalues,
    const struct db_value *values, unsigned long long *count,
    struct buf *err)
{
	struct buf n = BUF_INIT;
	int rc;

	rc = db_query_values(db, sql, nvalues, values, db_first_value, &n,
	    err);
	*count = strtoull(buf_str(&n), NULL, 10);
	buf_free(&n);
	return rc;
}

/* Whether events among delivered pass limit (parts per million). */
static int
brake_over(unsigned long long events, unsigned long long delivered,
    long limit, long min_events)
{
	return events >= (unsigned long long)min_events &&
	    events * 1000000ULL > (unsigned long long)limit * delivered;
}

int
brake_check(MYSQL *db, const struct herald_config *cfg, uint64_t mailing,
    struct brake_window *w, struct buf *reason, struct buf *err)
{
	const struct db_value window[2] = { db_bind_i64(cfg->brake_window),
	    db_bind_u64(mailing) };
	struct db_value values[2];
	enum mailing_state state;
	char stage_table[65];
	struct buf since = BUF_INIT, sql = BUF_INIT;
	int found = 0, complaints_over, bounces_over, rc = -1;

	memset(w, 0, sizeof(*w));
	buf_reset(reason);
	if (mailing_read_state(db, mailing, &state, stage_table, &found,
	    err) != 0)
		goto out;
	if (!found || !(mailing_state_sends(state) ||
	    state == MAILING_BLOCKED) || !history_is_stage_table(stage_table)) {
		rc = 0;
		goto out;
	}
	if (db_query_values(db, "SELECT DATE_FORMAT(GREATEST(UTC_TIMESTAMP() - "
	    "INTERVAL ? SECOND, IFNULL(brake_armed_at, '1970-01-01')), "
	    "'%Y-%m-%d %H:%i:%s') FROM mailings WHERE id = ?", 2, window,
	    db_first_value, &since, err) != 0)
		goto out;
	values[0] = db_bind_u64(mailing);
	values[1] = db_bind_text(buf_str(&since));
	/* The events first (indexed): too few, and nothing more to read. */
	if (brake_count(db, "SELECT COUNT(*) FROM complaints WHERE "
	    "mailing_id = ? AND received_at >= ?", 2, values, &w->complaints,
	    err) ||
	    brake_count(db, "SELECT COUNT(*) FROM bounces WHERE mailing_id = "
	    "? AND hard = 1 AND bounced_at >= ?", 2, values, &w->hard_bounces,
	    err))
		goto out;
	rc = 0;
	if (w->complaints < (unsigned long long)cfg->brake_min_events &&
	    w->hard_bounces < (unsigned long long)cfg->brake_min_events)
		goto out;
	/* Staged within the window (most mailings, the first hour): every
	 * delivery is in it, and the counter says how many. */
	if (brake_count(db, "SELECT IF(staged_at >= ?, sent_count, NULL) "
	    "FROM mailings WHERE id = ?", 2, (struct db_value[]){ values[1],
	    values[0] }, &w->delivered, err) != 0) {
		rc = -1;
		goto out;
	}
	/* Else the rows delivered in it. Only the stage table's name
	 * (checked above) is spliced. */
	buf_printf(&sql, "SELECT COUNT(*) FROM `%s` WHERE mailing_id = ? AND "
	    "delivery_state IN ('sent', 'bounced') AND delivered_at >= ?",
	    stage_table);
	if (w->delivered == 0 && brake_count(db, buf_str(&sql), 2, values,
	    &w->delivered, err) != 0) {
		rc = -1;
		goto out;
	}
	if (w->delivered < (unsigned long long)cfg->brake_min_delivered)
		goto out;
	complaints_over = brake_over(w->complaints, w->delivered,
	    cfg->brake_complaint_rate, cfg->brake_min_events);
	bounces_over = brake_over(w->hard_bounces, w->delivered,
	    cfg->brake_bounce_rate, cfg->brake_min_events);
	if (!complaints_over && !bounces_over)
		goto out;
	buf_printf(reason, "brake: %s %llu of %llu delivered since %s UTC "
	    "(%.2f%%, limit %.4g%%)", complaints_over ? "complaints" :
	    "hard bounces", complaints_over ? w->complaints : w->hard_bounces,
	    w->delivered, buf_str(&since), 100.0 * (double)(complaints_over ?
	    w->complaints : w->hard_bounces) / (double)w->delivered,
	    (double)(complaints_over ? cfg->brake_complaint_rate :
	    cfg->brake_bounce_rate) / 10000.0);
	switch (mailing_move(db, mailing, state, MAILING_PULLED,
	    buf_str(reason), err)) {
	case -1:
		rc = -1;
		break;
	case 1:
		w->pulled = 1;
		break;
	default:
		buf_reset(reason);	/* moved meanwhile: someone else won */
	}
out:
	buf_free(&since);
	buf_free(&sql);
	return rc;
}
