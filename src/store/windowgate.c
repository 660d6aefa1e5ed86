/*
 * windowgate.c - holding late rows to their recipient's next send
 * window (see windowgate.h).
 *
 * A batch's rows are a run of due times, so they span few zones: each
 * zone is selected once per batch (one read of its file), and its rows
 * are moved, when they must be, by one UPDATE.
 */
#include "windowgate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "db.h"
#include "log.h"
#include "sendwindow.h"
#include "stagewindow.h"
#include "zone.h"

struct gate_zones {
	char **names;
	unsigned count;
};

static int
gate_zone_row(void *arg, unsigned ncolumns, char **col)
{
	struct gate_zones *z = arg;

	if (ncolumns != 1 || col[0] == NULL)
		return 0;
	z->names = xrealloc(z->names, (z->count + 1) * sizeof(*z->names));
	z->names[z->count++] = xstrdup(col[0]);
	return 0;
}

/* The rows of the batch that are due at now and still to send. */
#define GATE_DUE_ROWS "s.mailing_id = ? AND s.row_id >= ? AND s.row_id <= ? " \
	"AND s.delivery_state IN ('pending', 'deferred') AND " \
	"(s.next_attempt_at IS NULL OR s.next_attempt_at <= ?)"

/*
 * zone's next window at now, in the zone itself or, when tzdata lacks
 * it, in the mailing's (as stage_window_zone does). 0, or -1 when the
 * window opens on no day.
 */
static int
gate_zone_window(const struct stage_window *w, const char *zone, time_t now,
    time_t *opens, time_t *closes)
{
	struct zone_saved saved;
	struct buf why = BUF_INIT;
	int rc;

	if (zone_select(zone, &saved, &why) != 0 &&
	    zone_select(w->zone, &saved, &why) != 0) {
		buf_free(&why);
		return -1;
	}
	rc = send_window_next(&w->window, now, opens, closes);
	zone_restore(&saved);
	buf_free(&why);
	return rc;
}

/*
 * Moves zone's due rows to the window that opens at opens and lasts
 * seconds: a row keeps its due time's distance from the opening, taken
 * modulo a day (its time of day), and modulo the window's length when
 * that falls outside it.
 */
static int
gate_move_zone(MYSQL *db, const struct batch *batch, const char *mailing_zone,
    const char *zone, const char *now_text, time_t opens, long seconds,
    unsigned long long *moved, struct buf *err)
{
	char opens_text[32];
	struct buf sql = BUF_INIT;
	struct db_value params[10];
	int rc;

	date_format_utc(opens, opens_text);
	params[0] = db_bind_text(opens_text);
	params[1] = db_bind_text(opens_text);
	params[2] = db_bind_text(opens_text);
	params[3] = db_bind_i64(seconds);
	params[4] = db_bind_u64(batch->mailing_id);
	params[5] = db_bind_u64(batch->first_row);
	params[6] = db_bind_u64(batch->last_row);
	params[7] = db_bind_text(now_text);
	params[8] = db_bind_text(mailing_zone);
	params[9] = db_bind_text(zone);
	buf_printf(&sql, "UPDATE `%s` s LEFT JOIN recipients r ON r.id = "
	    "s.recipient_id SET s.next_attempt_at = ? + INTERVAL "
	    "MOD(MOD(MOD(TIMESTAMPDIFF(SECOND, ?, COALESCE(s.next_attempt_at, "
	    "?)), 86400) + 86400, 86400), ?) SECOND WHERE " GATE_DUE_ROWS
	    " AND COALESCE(r.time_zone, ?) = ?", batch->stage_table);
	rc = db_execute_values(db, buf_str(&sql), 10, params, moved, err);
	buf_free(&sql);
	return rc;
}

int
window_gate_batch(MYSQL *db, const struct batch *batch, time_t now,
    time_t *send_until, struct buf *err)
{
	struct stage_window w;
	struct gate_zones zones = { NULL, 0 };
	struct buf sql = BUF_INIT;
	char mailing[24], now_text[32];
	struct db_value params[5];
	time_t opens, closes;
	int rc = -1;

	*send_until = 0;
	snprintf(mailing, sizeof(mailing), "%llu",
	    (unsigned long long)batch->mailing_id);
	if (stage_window_read(db, mailing, &w, err) != 0)
		return -1;
	if (!w.found)
		return 0;
	date_format_utc(now, now_text);
	params[0] = db_bind_text(w.zone);
	params[1] = db_bind_u64(batch->mailing_id);
	params[2] = db_bind_u64(batch->first_row);
	params[3] = db_bind_u64(batch->last_row);
	params[4] = db_bind_text(now_text);
	buf_printf(&sql, "SELECT DISTINCT COALESCE(r.time_zone, ?) FROM `%s` s "
	    "LEFT JOIN recipients r ON r.id = s.recipient_id WHERE "
	    GATE_DUE_ROWS, batch->stage_table);
	if (db_query_values(db, buf_str(&sql), 5, params, gate_zone_row,
	    &zones, err) != 0)
		goto out;
	for (unsigned i = 0; i < zones.count; i++) {
		unsigned long long n = 0;
		char opens_text[32];

		if (gate_zone_window(&w, zones.names[i], now, &opens,
		    &closes) != 0) {
			buf_printf(err, "mailing %s: its send window opens on "
			    "no day", mailing);
			goto out;
		}
		if (opens <= now) {
			/* Open: these rows go now, until it closes. */
			if (*send_until == 0 || closes < *send_until)
				*send_until = closes;
			continue;
		}
		if (gate_move_zone(db, batch, w.zone, zones.names[i], now_text,
		    opens, (long)(closes - opens), &n, err) != 0)
			goto out;
		date_format_utc(opens, opens_text);
		if (n)
			msg_info("mailing %s, batch %llu: %llu rows of zone %s "
			    "came up after their send window closed; they "
			    "wait for the next one (opens %s UTC)", mailing,
			    (unsigned long long)batch->id, n, zones.names[i],
			    opens_text);
	}
	rc = 0;
out:
	for (unsigned i = 0; i < zones.count; i++)
		free(zones.names[i]);
	free(zones.names);
	buf_free(&sql);
	return rc;
}
