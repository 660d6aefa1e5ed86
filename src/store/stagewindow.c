/*
 * stagewindow.c - staging with send windows (see stagewindow.h).
 *
 * Zones are selected one at a time (zone.h: each selection reads the
 * zone's file), so a run costs one file read per zone, never one per
 * row; the rows themselves get their due times in SQL, in the one
 * INSERT ... SELECT that stages them.
 */
#include "stagewindow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "date.h"
#include "db.h"
#include "delivery.h"
#include "log.h"

static int
stage_window_row(void *arg, unsigned ncolumns, char **col)
{
	struct stage_window *w = arg;

	if (ncolumns != 4 || col[0] == NULL || col[1] == NULL)
		return 1;
	w->window.start = atoi(col[0]);
	w->window.end = atoi(col[1]);
	w->window.days = col[2] ? (unsigned)strtoul(col[2], NULL, 10) :
	    SEND_WINDOW_ALL_DAYS;
	snprintf(w->zone, sizeof(w->zone), "%s", col[3] ? col[3] : "UTC");
	w->found = 1;
	return 1;
}

struct zone_list {
	char **names;
	unsigned count;
};

static int
zone_list_row(void *arg, unsigned ncolumns, char **col)
{
	struct zone_list *l = arg;

	if (ncolumns != 1 || col[0] == NULL)
		return 0;
	l->names = xrealloc(l->names, (l->count + 1) * sizeof(*l->names));
	l->names[l->count++] = xstrdup(col[0]);
	return 0;
}

/*
 * One zone's next window into stage_windows. The zone is selected once
 * (one read of its file) for all of its arithmetic. A zone that the
 * installed tzdata no longer has is left out: its recipients then get
 * the mailing's zone (stage_window_fill_sql's join), with a warning.
 */
static int
stage_window_zone(MYSQL *db, const char *mailing_id,
    const struct stage_window *w, const char *zone, time_t now,
    struct buf *err)
{
	struct zone_saved saved;
	struct buf why = BUF_INIT;
	time_t opens, closes;
	char opens_text[32], seconds[24];
	const char *params[3] = { zone, opens_text, seconds };
	int found, status;

	if (zone_select(zone, &saved, &why) != 0) {
		msg_warn("mailing %s: %s; its recipients get the mailing's "
		    "zone %s", mailing_id, buf_str(&why), w->zone);
		buf_free(&why);
		return 0;
	}
	found = send_window_next(&w->window, now, &opens, &closes) == 0;
	zone_restore(&saved);
	buf_free(&why);
	if (!found) {
		buf_printf(err, "mailing %s: its send window opens on no day",
		    mailing_id);
		return -1;
	}
	date_format_utc(opens, opens_text);
	snprintf(seconds, sizeof(seconds), "%lld", (long long)(closes -
	    opens));
	status = db_execute(db, "INSERT INTO stage_windows (time_zone, opens, "
	    "seconds) VALUES (?, ?, ?)", 3, params, NULL, err);
	return status;
}

/*
 * stage_windows: one row per zone among the recipients the segment
 * selects, when the zone's next window opens (UTC) and how many seconds
 * it lasts. The mailing's own zone is always there (for recipients
 * without one).
 */
int
stage_window_prepare(MYSQL *db, const char *mailing_id,
    const struct stage_window *w, const struct segment_sql *seg,
    struct buf *err)
{
	struct zone_list zones = { NULL, 0 };
	struct buf sql = BUF_INIT;
	const char **params = xcalloc(1 + seg->count, sizeof(*params));
	struct buf why = BUF_INIT;
	time_t now = date_now();
	int status;

	status = db_exec(db, "DROP TEMPORARY TABLE IF EXISTS stage_windows",
	    err);
	if (!status)
		status = db_exec(db, "CREATE TEMPORARY TABLE stage_windows "
		    "(time_zone VARCHAR(64) CHARACTER SET ascii NOT NULL "
		    "PRIMARY KEY, opens DATETIME NOT NULL, seconds INT UNSIGNED "
		    "NOT NULL) ENGINE=MEMORY", err);
	params[0] = w->zone;
	for (unsigned i = 0; i < seg->count; i++)
		params[1 + i] = seg->params[i];
	buf_printf(&sql, "SELECT DISTINCT COALESCE(r.time_zone, ?) FROM "
	    "recipients r WHERE r.status = 'active' AND (%s)",
	    buf_str(&seg->where));
	if (!status)
		status = db_query_strings(db, buf_str(&sql), 1 + seg->count,
		    params, zone_list_row, &zones, err);
	/* The mailing's zone first: every other zone falls back on it, so
	 * without it rows would be lost, and nothing is staged. */
	if (!status && zone_check(w->zone, &why) != 0) {
		buf_printf(err, "mailing %s: its time zone: %s", mailing_id,
		    buf_str(&why));
		status = -1;
	}
	if (!status)
		status = stage_window_zone(db, mailing_id, w, w->zone, now,
		    err);
	for (unsigned i = 0; !status && i < zones.count; i++)
		if (strcmp(zones.names[i], w->zone) != 0)
			status = stage_window_zone(db, mailing_id, w,
			    zones.names[i], now, err);
	for (unsigned i = 0; i < zones.count; i++)
		free(zones.names[i]);
	free(zones.names);
	free(params);
	buf_free(&sql);
	buf_free(&why);
	return status;
}

int
stage_window_read(MYSQL *db, const char *mailing_id, struct stage_window *w,
    struct buf *err)
{
	const char *params[1] = { mailing_id };

	memset(w, 0, sizeof(*w));
	return db_query_strings(db, "SELECT window_start, window_end, "
	    "window_days, time_zone FROM mailings WHERE id = ?", 1, params,
	    stage_window_row, w, err);
}

/*
 * Each row's due time (next_attempt_at) is its zone's window opening
 * plus its share of the window, the zone's rows spread evenly over it
 * (the k-th of n at k/n of the length); row numbers follow due times,
 * so each batch is a run of rows due one after the other.
 */
void
stage_window_fill_sql(const char *table, const struct buf *variant,
    const struct segment_sql *seg, struct buf *sql)
{
	buf_printf(sql, "INSERT INTO `%s` (mailing_id, row_id, recipient_id, "
	    "variant_id", table);
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		buf_printf(sql, ", %s", delivery_field_names[i]);
	buf_printf(sql, ", next_attempt_at) SELECT ?, ROW_NUMBER() OVER "
	    "(ORDER BY t.due, t.id), t.id, t.variant_id");
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		buf_printf(sql, ", t.%s", delivery_field_names[i]);
	buf_printf(sql, ", t.due FROM (SELECT r.id, %s AS variant_id",
	    buf_str(variant));
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		buf_printf(sql, ", r.%s", delivery_field_names[i]);
	/* A zone missing from stage_windows (gone from tzdata, or new
	 * since the zones were read) takes the mailing's. */
	buf_printf(sql, ", w.opens + INTERVAL FLOOR((ROW_NUMBER() OVER "
	    "(PARTITION BY w.time_zone ORDER BY r.id) - 1) * w.seconds / "
	    "COUNT(*) OVER (PARTITION BY w.time_zone)) SECOND AS due FROM "
	    "recipients r LEFT JOIN stage_windows z ON z.time_zone = "
	    "r.time_zone JOIN stage_windows w ON w.time_zone = "
	    "COALESCE(z.time_zone, ?) WHERE r.status = 'active' AND NOT "
	    "EXISTS (SELECT 1 FROM suppressions s WHERE s.email = r.email) "
	    "AND (%s)) t", buf_str(&seg->where));
}

int
stage_window_batches(MYSQL *db, const char *table, const char *mailing_id,
    struct buf *err)
{
	struct buf sql = BUF_INIT;
	const char *params[1] = { mailing_id };
	int status;

	/* Rows are numbered in due order: a batch's first row is its
	 * earliest. */
	buf_printf(&sql, "UPDATE batches b JOIN `%s` s ON s.mailing_id = "
	    "b.mailing_id AND s.row_id = b.first_row SET b.next_attempt_at = "
	    "s.next_attempt_at WHERE b.mailing_id = ?", table);
	status = db_execute(db, buf_str(&sql), 1, params, NULL, err);
	buf_free(&sql);
	return status;
}
