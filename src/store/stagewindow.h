/*
 * stagewindow.h - staging a mailing that has a send window: each row's
 * due time (sendwindow.h) in its recipient's zone (zone.h).
 *
 * The stager (stage.c) asks, in its own session:
 *	stage_window_read	the mailing's window, if it has one;
 *	stage_window_prepare	the next window of every zone among the
 *				recipients the segment selects, computed
 *				once per zone at date_now() into the
 *				session's temporary table stage_windows;
 *	stage_window_fill_sql	the INSERT ... SELECT that fills the stage
 *				table with due times in next_attempt_at,
 *				each zone's rows spread evenly over its
 *				window, rows numbered in due order;
 *	stage_window_batches	each batch due when its first row is.
 * Every function returns 0, or -1 with a sentence in err.
 */
#ifndef HERALD_STAGEWINDOW_H
#define HERALD_STAGEWINDOW_H

#include <mysql.h>

#include "buf.h"
#include "segment.h"
#include "sendwindow.h"
#include "zone.h"

struct stage_window {
	struct send_window window;
	char zone[ZONE_NAME_MAX + 1];	/* the mailing's, for zoneless rows */
	int found;			/* the mailing has a window */
};

/* Reads mailing_id's window into *w (w->found 0 when it has none). */
int stage_window_read(MYSQL *db, const char *mailing_id,
    struct stage_window *w, struct buf *err);

/* Fills stage_windows for the recipients seg selects. */
int stage_window_prepare(MYSQL *db, const char *mailing_id,
    const struct stage_window *w, const struct segment_sql *seg,
    struct buf *err);

/*
 * Appends to sql the statement filling table; it binds the mailing id,
 * then the variant expression's values, then the mailing's zone, then
 * the segment's values.
 */
void stage_window_fill_sql(const char *table, const struct buf *variant,
    const struct segment_sql *seg, struct buf *sql);

/* Sets the due time of mailing_id's batches from stage table table. */
int stage_window_batches(MYSQL *db, const char *table,
    const char *mailing_id, struct buf *err);

#endif
