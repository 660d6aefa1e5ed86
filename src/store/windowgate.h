/*
 * windowgate.h - no message outside its recipient's send window, even
 * when it is late.
 *
 * Staging gives each row of a windowed mailing a due time inside its
 * recipient's window (stagewindow.h), but a row can still come up after
 * that window has closed: heraldd was stopped through it, rate limits
 * or Postfix's backlog held it back, or a relay deferred it (4xx) and
 * its retry time fell after the window's end. Before a worker reads a
 * claimed batch, window_gate_batch() looks at the batch's due rows zone
 * by zone:
 *	the zone's window is open now	the rows may go; *send_until gets
 *					the earliest closing among them,
 *					so the worker stops there;
 *	it is closed			the rows move to the zone's next
 *					window, at the same time of day
 *					as their due time when it falls
 *					inside the window (a held row
 *					keeps its place in the spread),
 *					else folded into the window's
 *					length (a retry due after the end).
 * A zone the installed tzdata lacks takes the mailing's, as at staging.
 * The clock is date_now() (date.h), the one the stager and claims use.
 */
#ifndef HERALD_WINDOWGATE_H
#define HERALD_WINDOWGATE_H

#include <mysql.h>
#include <time.h>

#include "batch.h"
#include "buf.h"

/*
 * Gates batch's due rows at now (see above). *send_until gets when the
 * worker must stop sending this batch, 0 when never (the mailing has no
 * window, or no due row). Logs the rows it moves. 0, or -1 with a
 * sentence in err.
 */
int window_gate_batch(MYSQL *db, const struct batch *batch, time_t now,
    time_t *send_until, struct buf *err);

#endif
