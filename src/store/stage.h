/*
 * stage.h - staging due mailings into fresh MyISAM tables and batches.
 *
 * stage_run() stages every mailing that is queued and due, one at a
 * time, under a server-side lock (GET_LOCK), so runs started together or
 * from several hosts never stage a mailing twice; a run that cannot take
 * the lock does nothing.
 *
 * Staging mailing M never inserts into a table that already holds rows:
 *	1. M goes from queued to staging;
 *	2. CREATE TABLE stage_M_new LIKE stage_template, filled with one
 *	   INSERT ... SELECT of the recipients the segment selects (active,
 *	   not suppressed), a snapshot of their fields and their variant;
 *	   with a send window, each row's due time too, rows numbered in
 *	   due order (stagewindow.h); with a test phase (testphase.h), the
 *	   test cell first, then the holdout;
 *	3. RENAME TABLE stage_M_new TO stage_M (atomic);
 *	4. ALTER TABLE history UNION=(..., stage_M) (history.h);
 *	5. one transaction inserts M's batches (each due when its first
 *	   row is; the holdout's held) and marks M ready.
 * A mailing with a test phase but no variant is refused before step 1
 * and stays queued.
 * A run killed anywhere before 5 leaves M in staging with no batch; the
 * next run undoes steps 2-4 (drops the tables, takes stage_M out of the
 * union) and stages M again, so each mailing is staged exactly once. A
 * mailing whose segment selects nobody ends done with zero rows.
 */
#ifndef HERALD_STAGE_H
#define HERALD_STAGE_H

#include <mysql.h>

#include "buf.h"
#include "config.h"

struct stage_report {
	unsigned mailings;		/* staged (including empty ones) */
	unsigned long long rows;	/* rows staged in all */
	int busy;			/* another run holds the lock */
};

/* Stages every due mailing. -1 with the reason in err; mailings staged
 * before the error stay staged. A mailing refused before its staging
 * starts (a test phase with no variant) stays queued while the others
 * are staged; the run then ends with -1 naming it. Messages about each
 * mailing go to the log (msg_info). */
int stage_run(const struct herald_config *cfg, MYSQL *db,
    struct stage_report *report, struct buf *err);

#endif
