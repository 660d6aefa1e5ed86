/*
 * relaypool.h - which relay a worker sends to: the primary while it
 * works, the backup while the primary is down.
 *
 * A relay whose session ended in a status that marks it down
 * (relay_status_marks_down(): refused, unreachable, timed out, greeting
 * refused) is skipped for a delay that doubles with each consecutive
 * failure (5 s, 10 s, ... up to relay_retry_limit); when the delay is
 * over, the next session probes it again and, if that works, it is used
 * again. Each worker keeps its own view: a relay that is down for one is
 * soon down for all, without any coordination.
 *
 * STARTTLS and AUTH: relay_host and relay_backup_host use relay_tls and
 * relay_auth_user, a route's relay its route_tls and route_auth_user;
 * each password is read from its file when the pool is set up (the
 * worker's start), refused if others may read it.
 */
#ifndef HERALD_RELAYPOOL_H
#define HERALD_RELAYPOOL_H

#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "relay.h"

#define RELAYPOOL_MAX 16	/* primary, backup and route targets */
#define RELAYPOOL_ROUTES_MAX 256
#define RELAYPOOL_ALTERNATES 3	/* route_alternate lines per domain */
#define RELAYPOOL_GENERAL (~0U)	/* a route on relay_host / backup */

struct relaypool_entry {
	char name[300];			/* "host:port", for logs */
	struct relay_session *session;
	int64_t down_until_ms;		/* 0 when up */
	unsigned failures;		/* consecutive */
	int tls;			/* CONFIG_TLS_* */
	char auth_user[256];		/* "" without AUTH */
};

struct relaypool {
	struct relaypool_entry entries[RELAYPOOL_MAX];
	unsigned count;
	unsigned general;		/* entries[0..general): primary, backup */
	long retry_limit_ms;
	/* "route DOMAIN = HOST[:PORT]": the domain's relay entry
	 * (RELAYPOOL_GENERAL when it has only alternates); its
	 * "route_alternate" entries in order (reputation.h). */
	struct relaypool_route {
		char domain[256];
		unsigned entry;
		unsigned alternates[RELAYPOOL_ALTERNATES];
		unsigned alternate_count;
	} routes[RELAYPOOL_ROUTES_MAX];
	unsigned route_count;
	/* Open-addressed index of routes by domain (index + 1, 0 free),
	 * so a message's route costs one hash, not a scan of them all. */
	uint16_t route_slots[2 * RELAYPOOL_ROUTES_MAX];
};

/* Sets up sessions for relay_host, relay_backup_host and every route
 * target and route_alternate target, their connections on loop (the
 * worker's); -1 with "FILE:LINE: route DOMAIN: ..." for a bad route,
 * and with the reason for a password file that cannot be read or that
 * others may read. */
int relaypool_init(struct relaypool *pool, const struct herald_config *cfg,
    const char *helo_name, struct ev_loop *loop, struct buf *err);
void relaypool_free(struct relaypool *pool);

/*
 * The relay to use now: the first one not down. NULL when every relay is
 * down; *retry_ms then gets how long until one may be tried again.
 */
struct relaypool_entry *relaypool_pick(struct relaypool *pool, int64_t now_ms,
    int64_t *retry_ms);

/*
 * The relay for a recipient domain on its route route_index (0: its own
 * route, N: its Nth route_alternate; reputation.h) when that relay is
 * up, otherwise the primary or backup (the route's fallback). NULL when
 * none is up, with *retry_ms as in relaypool_pick.
 */
struct relaypool_entry *relaypool_pick_for(struct relaypool *pool,
    const char *domain, unsigned route_index, int64_t now_ms,
    int64_t *retry_ms);

/* 1 + the number of domain's route_alternate relays. */
unsigned relaypool_route_count(const struct relaypool *pool,
    const char *domain);

/* Records how a session on entry went. */
void relaypool_report(struct relaypool *pool, struct relaypool_entry *entry,
    const struct relay_session_result *result, int64_t now_ms);

#endif
