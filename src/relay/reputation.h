/*
 * reputation.h - what each destination domain makes of this node's mail,
 * and where its mail goes because of it.
 *
 * A destination that blocks a sending address (a blocklist, "blocked
 * using ...", "spam detected") does so after Postfix accepted herald's
 * message: the refusal is in Postfix's deferred queue, as each
 * recipient's delay_reason. heraldd's monitor reads it there
 * (postqueue -j), classifies it with bounce_classify() and counts it
 * against the destination domain and the route the message took. The
 * workers count what each route relayed. Over a sliding window of
 * reputation_window seconds, when at least reputation_min_messages went
 * out on a domain's route and reputation_block_rate percent or more of
 * them came back blocked or spamdetected, the monitor moves the domain
 * to its next route (route_alternate DOMAIN = HOST[:PORT], in the order
 * given) or, with none left, holds it: its messages are paced at
 * reputation_throttle percent of the rate it was sending at. After
 * reputation_probe_interval (doubling while the destination still
 * refuses) one message, the probe, goes by the original route again;
 * when Postfix delivers it, the domain returns there.
 *
 * Routes of a domain: 0 is its own (route DOMAIN = ..., else relay_host
 * and relay_backup_host), 1.. its alternates. Each route is a relay
 * herald talks to, typically a Postfix listener whose transport binds
 * another source address (contrib/postfix).
 *
 * Why shared memory, not the database: reputation belongs to a sending
 * address, and every node sends from its own Postfix and addresses, so
 * the state is per node, like the throttle; workers consult it for
 * every message, which must cost an atomic load, not a query; and it is
 * rebuilt within one window after a restart. The table lives in the
 * scoreboard file (scoreboard.h), so herald status and herald route
 * show read it like the workers' slots.
 *
 * The table holds REPUTATION_DOMAINS destinations, taken as workers
 * first send to them (the big receivers come first in any list); a
 * destination met once it is full is neither counted nor moved until
 * the daemon restarts.
 *
 * Writers: workers claim entries and add to the relayed and refused
 * counters; the monitor alone moves decisions, except the probe token,
 * which a worker takes with a compare-and-swap. Everything is atomic;
 * the domain name is written once, before the entry is marked ready.
 */
#ifndef HERALD_REPUTATION_H
#define HERALD_REPUTATION_H

#include <stdatomic.h>
#include <stdint.h>

#include "bounce_class.h"
#include "buf.h"

#define REPUTATION_DOMAINS 256
#define REPUTATION_ROUTES 4		/* a domain's own and 3 alternates */
#define REPUTATION_SENT_RING 65536	/* queue ids -> route, recent */

enum reputation_decision {
	REPUTATION_NORMAL = 0,		/* on its own route */
	REPUTATION_MOVED,		/* on an alternate route */
	REPUTATION_HELD,		/* no route left: throttled */
};

enum reputation_probe {
	REPUTATION_PROBE_NONE = 0,
	REPUTATION_PROBE_DUE,		/* the next message may probe */
	REPUTATION_PROBE_TAKEN,		/* a worker is sending it */
	REPUTATION_PROBE_SENT,		/* Postfix has it: watching */
};

/* What one route of a domain did, totals since the daemon started. */
struct reputation_route {
	_Atomic uint64_t relayed;	/* accepted by the relay */
	_Atomic uint64_t blocked;	/* blocked or spamdetected */
	_Atomic uint64_t deferred[BOUNCE_REASON_COUNT];	/* by class */
	_Atomic uint64_t failed[BOUNCE_REASON_COUNT];
	/* Over the window, as the monitor last computed it. */
	_Atomic uint64_t window_relayed;
	_Atomic uint64_t window_blocked;
};

struct reputation_domain {
	_Atomic uint32_t state;		/* 0 free, 1 being named, 2 ready */
	uint64_t hash;			/* of the name, written with it */
	char domain[128];
	_Atomic int32_t decision;	/* enum reputation_decision */
	_Atomic uint32_t route;		/* the route in use */
	_Atomic uint32_t route_count;
	_Atomic int64_t decided_ms;	/* CLOCK_MONOTONIC; 0 = never */
	_Atomic uint64_t held_per_hour;	/* the pace while held */
	_Atomic int32_t probe;		/* enum reputation_probe */
	_Atomic int64_t probe_due_ms;
	_Atomic int64_t probe_sent_ms;
	_Atomic uint64_t probe_queue_hash;
	_Atomic uint32_t backoff_s;
	_Atomic int32_t operator_hold;	/* herald route hold: send nothing */
	struct reputation_route routes[REPUTATION_ROUTES];
};

struct reputation_table {
	/* Each accepted message: queue id hash (high 56 bits) | route + 1,
	 * so the monitor knows which route a deferred message took. */
	_Atomic uint64_t sent[REPUTATION_SENT_RING];
	struct reputation_domain domains[REPUTATION_DOMAINS];
};

/* The entry of domain, NULL when absent; with create, taken from the
 * free ones (NULL when all are taken). route_count is set on creation. */
struct reputation_domain *reputation_domain(struct reputation_table *table,
    const char *domain, int create, unsigned route_count);

/* 1 for the classes that say the sender is refused, not the recipient:
 * blocked and spamdetected. */
int reputation_reason_blocks(enum bounce_reason reason);

/*
 * Which route a worker should use for domain's next message, and, when
 * may_probe, whether that message is the probe (*probe = 1: the caller
 * must call reputation_probe_sent() or reputation_probe_lost() once the
 * relay answered). route_count: 1 + the domain's alternates.
 */
unsigned reputation_pick_route(struct reputation_table *table,
    const char *domain, unsigned route_count, int may_probe, int *probe);

/* A worker's record of one relay answer for a message to domain sent on
 * route: accepted (queue_id may be "" when unknown), or refused with the
 * relay's reply (failed: 5xx, else 4xx). */
void reputation_note_relayed(struct reputation_table *table,
    const char *domain, unsigned route, const char *queue_id);
void reputation_note_refused(struct reputation_table *table,
    const char *domain, unsigned route, const char *reply, int failed);

/* The probe's relay answer: Postfix queued it as queue_id, or the relay
 * did not take it (the token goes back for another message). */
void reputation_probe_sent(struct reputation_table *table, const char *domain,
    const char *queue_id);
void reputation_probe_lost(struct reputation_table *table,
    const char *domain);

/* 1 while the operator holds domain (herald route hold). */
int reputation_operator_held(struct reputation_table *table,
    const char *domain);

/* The pace of a held domain in messages an hour, 0 when not held. */
double reputation_held_rate(struct reputation_table *table,
    const char *domain);

/* The route a queued message took (0..), -1 when no longer known. */
int reputation_route_of(const struct reputation_table *table,
    const char *queue_id);

/* 56-bit hash of a Postfix queue id, never 0. */
uint64_t reputation_queue_hash(const char *queue_id);

/*
 * One recipient of one "postqueue -j" line: its queue id, address and
 * delay_reason ("" when Postfix has not tried yet). Calls fn for each
 * recipient of line; returns how many it found.
 */
typedef void reputation_recipient_fn(void *arg, const char *queue_id,
    const char *address, const char *delay_reason);
unsigned reputation_parse_postqueue_line(const char *line,
    reputation_recipient_fn *fn, void *arg);

const char *reputation_decision_name(enum reputation_decision decision);

#endif
