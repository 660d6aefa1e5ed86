/*
 * clicks.h - recording clicks without holding the redirect back.
 *
 * herald-web answers a click at once and hands it to click_record(),
 * which only appends it to a queue in memory. A writer thread, with a
 * database connection of its own, takes the whole queue every
 * CLICKS_FLUSH_MS milliseconds (sooner when CLICKS_BATCH clicks wait)
 * and adds it to the clicks table (sql/008_clicks.sql) in multi-row
 * INSERT ... ON DUPLICATE KEY UPDATE statements: one row per (mailing,
 * recipient, link) with the first and last click times and the total.
 *
 * Nothing is lost on a clean stop: clicks_stop() wakes the writer,
 * which writes everything queued before it returns. While the database
 * cannot be reached the writer keeps the clicks and tries again every
 * second; the queue holds at most CLICKS_QUEUE_MAX clicks, and clicks
 * beyond it are counted and logged, not queued (the redirect still
 * works). What a crash or KILL can lose is the queue of the moment: at
 * most CLICKS_FLUSH_MS worth of clicks while the database is up.
 */
#ifndef HERALD_CLICKS_H
#define HERALD_CLICKS_H

#include <stdint.h>

#include "buf.h"
#include "config.h"

#define CLICKS_FLUSH_MS 100
#define CLICKS_BATCH 500		/* rows per statement */
#define CLICKS_QUEUE_MAX 1000000

struct clicks;

/* Connects the writer to the database and starts it. NULL with the
 * reason in err. cfg must outlive it. */
struct clicks *clicks_start(const struct herald_config *cfg,
    struct buf *err);

/* Queues a click made at at_ms (milliseconds since the epoch); never
 * waits for the database. */
void clicks_record(struct clicks *c, uint64_t mailing_id,
    uint64_t recipient_id, uint64_t link_id, int64_t at_ms);

/* Writes every queued click, stops the writer and frees c (NULL is
 * fine). Logs how many were written, and any it could not write. */
void clicks_stop(struct clicks *c);

#endif
