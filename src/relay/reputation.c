/*
 * reputation.c - destination reputation shared by heraldd's workers and
 * its monitor (see reputation.h; the monitor's rule is in
 * reputation_watch.c).
 */
#include "reputation.h"
#include "namehash.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

uint64_t
reputation_queue_hash(const char *queue_id)
{
	uint64_t h = namehash(queue_id, 0) >> 8;

	return h ? h : 1;
}

struct reputation_domain *
reputation_domain(struct reputation_table *table, const char *domain,
    int create, unsigned route_count)
{
	unsigned start, i;
	uint64_t hash;

	if (table == NULL || *domain == '\0' || strlen(domain) >=
	    sizeof(table->domains[0].domain))
		return NULL;
	hash = namehash(domain, 1);
	start = (unsigned)(hash % REPUTATION_DOMAINS);
	/* Open addressing, never deleted: a probe ends at the first free
	 * entry, which is where the name would have been put. */
	for (unsigned n = 0; n < REPUTATION_DOMAINS; n++) {
		struct reputation_domain *d;
		uint32_t state;

		i = (start + n) % REPUTATION_DOMAINS;
		d = &table->domains[i];
		state = atomic_load(&d->state);
		if (state == 0) {
			uint32_t expected = 0;

			if (!create)
				return NULL;
			if (!atomic_compare_exchange_strong(&d->state,
			    &expected, 1)) {
				state = expected;
			} else {
				d->hash = hash;
				strcpy(d->domain, domain);
				for (char *p = d->domain; *p; p++)
					if (*p >= 'A' && *p <= 'Z')
						*p = (char)(*p - 'A' + 'a');
				atomic_store(&d->route_count, route_count >
				    REPUTATION_ROUTES ? REPUTATION_ROUTES :
				    route_count ? route_count : 1);
				atomic_store(&d->state, 2);
				return d;
			}
		}
		/* Another process is naming it: its name is not ours to
		 * compare yet, and a moment later it is ready. */
		while (state == 1)
			state = atomic_load(&d->state);
		/* A full table is scanned for a domain it lacks: the hash
		 * spares most of the comparisons. */
		if (d->hash == hash && strcasecmp(d->domain, domain) == 0)
			return d;
	}
	return NULL;
}

int
reputation_reason_blocks(enum bounce_reason reason)
{
	return reason == BOUNCE_BLOCKED || reason == BOUNCE_SPAMDETECTED;
}

unsigned
reputation_pick_route(struct reputation_table *table, const char *domain,
    unsigned route_count, int may_probe, int *probe)
{
	struct reputation_domain *d = reputation_domain(table, domain, 1,
	    route_count);
	int32_t expected = REPUTATION_PROBE_DUE;
	unsigned route;

	*probe = 0;
	if (d == NULL)
		return 0;
	route = atomic_load(&d->route);
	if (route >= route_count)
		route = 0;
	if (may_probe && atomic_load(&d->probe) == REPUTATION_PROBE_DUE &&
	    atomic_compare_exchange_strong(&d->probe, &expected,
	    REPUTATION_PROBE_TAKEN)) {
		*probe = 1;
		return 0;
	}
	return route;
}

/* Remembers which route the message queued as queue_id took. */
static void
reputation_remember(struct reputation_table *table, const char *queue_id,
    unsigned route)
{
	uint64_t h = reputation_queue_hash(queue_id);

	atomic_store(&table->sent[h % REPUTATION_SENT_RING],
	    h << 8 | (route + 1));
}

int
reputation_route_of(const struct reputation_table *table,
    const char *queue_id)
{
	uint64_t h = reputation_queue_hash(queue_id);
	uint64_t v = atomic_load(&table->sent[h % REPUTATION_SENT_RING]);

	/* A later message with the same slot overwrote it: unknown. */
	return v >> 8 == (h & 0xffffffffffffffULL) && (v & 0xff) ?
	    (int)(v & 0xff) - 1 : -1;
}

void
reputation_note_relayed(struct reputation_table *table, const char *domain,
    unsigned route, const char *queue_id)
{
	struct reputation_domain *d = reputation_domain(table, domain, 1, 1);

	if (d == NULL || route >= REPUTATION_ROUTES)
		return;
	atomic_fetch_add(&d->routes[route].relayed, 1);
	if (queue_id && *queue_id)
		reputation_remember(table, queue_id, route);
}

void
reputation_note_refused(struct reputation_table *table, const char *domain,
    unsigned route, const char *reply, int failed)
{
	struct reputation_domain *d = reputation_domain(table, domain, 1, 1);
	struct bounce_class class;

	if (d == NULL || route >= REPUTATION_ROUTES)
		return;
	bounce_classify(NULL, reply, &class);
	if (failed)
		atomic_fetch_add(&d->routes[route].failed[class.reason], 1);
	else
		atomic_fetch_add(&d->routes[route].deferred[class.reason], 1);
	if (reputation_reason_blocks(class.reason)) {
		/* Refused by the relay itself: an attempt, and blocked. */
		atomic_fetch_add(&d->routes[route].relayed, 1);
		atomic_fetch_add(&d->routes[route].blocked, 1);
	}
}

void
reputation_probe_sent(struct reputation_table *table, const char *domain,
    const char *queue_id)
{
	struct reputation_domain *d = reputation_domain(table, domain, 0, 0);
	struct timespec now;

	if (d == NULL)
		return;
	atomic_store(&d->probe_queue_hash, reputation_queue_hash(queue_id));
	clock_gettime(CLOCK_MONOTONIC, &now);
	atomic_store(&d->probe_sent_ms, (int64_t)now.tv_sec * 1000 +
	    now.tv_nsec / 1000000);
	atomic_store(&d->probe, REPUTATION_PROBE_SENT);
}

void
reputation_probe_lost(struct reputation_table *table, const char *domain)
{
	struct reputation_domain *d = reputation_domain(table, domain, 0, 0);

	if (d)
		atomic_store(&d->probe, REPUTATION_PROBE_DUE);
}

int
reputation_operator_held(struct reputation_table *table, const char *domain)
{
	struct reputation_domain *d = reputation_domain(table, domain, 0, 0);

	return d && atomic_load(&d->operator_hold);
}

double
reputation_held_rate(struct reputation_table *table, const char *domain)
{
	struct reputation_domain *d = reputation_domain(table, domain, 0, 0);

	if (d == NULL || atomic_load(&d->decision) != REPUTATION_HELD)
		return 0.0;
	return (double)atomic_load(&d->held_per_hour);
}

/* Copies the JSON string starting at p (after its opening quote) into
 * out, undoing the escapes Postfix writes; returns the end, past the
 * closing quote, or NULL when the string is not closed. */
static const char *
reputation_json_string(const char *p, char *out, size_t size)
{
	size_t n = 0;

	for (; *p && *p != '"'; p++) {
		char c = *p;

		if (c == '\\' && p[1]) {
			p++;
			switch (*p) {
			case 'n': c = ' '; break;
			case 't': c = ' '; break;
			case 'u':
				/* Non-ASCII words do not decide a class. */
				c = '?';
				for (int k = 0; k < 4 && p[1]; k++)
					p++;
				break;
			default: c = *p; break;
			}
		}
		if (n + 1 < size)
			out[n++] = c;
	}
	out[n] = '\0';
	return *p == '"' ? p + 1 : NULL;
}

/* The string value of "key" at or after p, before limit (NULL = none);
 * returns the end of the value, NULL when there is none. */
static const char *
reputation_json_field(const char *p, const char *limit, const char *key,
    char *out, size_t size)
{
	char quoted[32];
	const char *at;

	snprintf(quoted, sizeof(quoted), "\"%s\"", key);
	at = strstr(p, quoted);
	if (at == NULL || (limit && at >= limit))
		return NULL;
	at += strlen(quoted);
	while (*at == ' ' || *at == ':')
		at++;
	if (*at != '"')
		return NULL;
	return reputation_json_string(at + 1, out, size);
}

unsigned
reputation_parse_postqueue_line(const char *line, reputation_recipient_fn *fn,
    void *arg)
{
	char queue_id[64], address[320], reason[1024];
	const char *p, *next;
	unsigned found = 0;

	if (reputation_json_field(line, NULL, "queue_id", queue_id,
	    sizeof(queue_id)) == NULL)
		return 0;
	p = strstr(line, "\"recipients\"");
	if (p == NULL)
		return 0;
	while ((p = reputation_json_field(p, NULL, "address", address,
	    sizeof(address))) != NULL) {
		/* This recipient's delay_reason comes before the next one's
		 * address, if at all. */
		next = strstr(p, "\"address\"");
		reason[0] = '\0';
		reputation_json_field(p, next, "delay_reason", reason,
		    sizeof(reason));
		fn(arg, queue_id, address, reason);
		found++;
	}
	return found;
}

const char *
reputation_decision_name(enum reputation_decision decision)
{
	switch (decision) {
	case REPUTATION_NORMAL:
		return "normal";
	case REPUTATION_MOVED:
		return "moved";
	case REPUTATION_HELD:
		return "held";
	}
	return "?";
}
