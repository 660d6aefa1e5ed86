/*
 * reputation_watch.h - the monitor's side of destination reputation
 * (reputation.h): counting Postfix's deferrals by destination, route
 * and class, and deciding where each destination's mail goes.
 *
 * Each read of "postqueue -j" is framed by reputation_watch_begin() and
 * reputation_watch_end(); every recipient line goes through
 * reputation_watch_recipient() in between. A deferred recipient is
 * counted once (by queue id and address), the first time the monitor
 * sees it with a delay_reason, against the route the workers recorded
 * for its queue id (else the domain's current route). End applies the
 * rule of reputation.h and logs every decision with its figures:
 *
 *	reputation: DOMAIN: N of M messages on route R (HOST:PORT) blocked
 *	    over the last S s (P% >= reputation_block_rate Q%); moving it to
 *	    route R' (HOST:PORT) | holding it at X/h
 *	reputation: DOMAIN: probe on route 0 (HOST:PORT) delivered; back
 *	reputation: DOMAIN: probe on route 0 (HOST:PORT) refused (REASON);
 *	    next probe in S s
 */
#ifndef HERALD_REPUTATION_WATCH_H
#define HERALD_REPUTATION_WATCH_H

#include "config.h"
#include "reputation.h"

struct reputation_watch;

/* The monitor's state for table, under cfg's reputation_* keys. */
struct reputation_watch *reputation_watch_new(const struct herald_config *cfg,
    struct reputation_table *table);
void reputation_watch_free(struct reputation_watch *watch);

/* Frames one read of Postfix's queue; now_ms: CLOCK_MONOTONIC. */
void reputation_watch_begin(struct reputation_watch *watch, int64_t now_ms);
void reputation_watch_recipient(void *watch, const char *queue_id,
    const char *address, const char *delay_reason);
void reputation_watch_end(struct reputation_watch *watch, int64_t now_ms);

/* How many routes cfg gives domain: 1 + its route_alternate lines. */
unsigned reputation_route_count(const struct herald_config *cfg,
    const char *domain);

/* Route index's relay for domain, "HOST:PORT", into out. */
void reputation_route_name(const struct herald_config *cfg,
    const char *domain, unsigned index, char *out, size_t size);

#endif
