/*
 * reputation_watch.c - the monitor's reputation rule (see
 * reputation_watch.h).
 */
#include "reputation_watch.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* The window is sampled this many times: figures are exact to a
 * 1/REPUTATION_WINDOW_SAMPLES of it. */
#define REPUTATION_WINDOW_SAMPLES 32
/* The probe back-off doubles up to this many times the interval. */
#define REPUTATION_BACKOFF_FACTOR 16
/* A probe a worker took but never reported (it died) is given again. */
#define REPUTATION_PROBE_TAKEN_MS 60000

struct reputation_sample {
	int64_t ms;
	uint64_t relayed[REPUTATION_ROUTES], blocked[REPUTATION_ROUTES];
};

struct reputation_history {
	struct reputation_sample samples[REPUTATION_WINDOW_SAMPLES + 1];
	unsigned count, next;
	int64_t due_ms;
	/* Figures before the last decision do not judge the route again. */
	uint64_t base_relayed[REPUTATION_ROUTES], base_blocked[REPUTATION_ROUTES];
	/* This read of the queue: the probe's message, if any. */
	int probe_seen, probe_blocked;
	char probe_reason[32];
};

struct reputation_watch {
	const struct herald_config *cfg;
	struct reputation_table *table;
	struct reputation_history history[REPUTATION_DOMAINS];
	/* Deferred recipients already counted (sorted), and this read's. */
	uint64_t *seen, *fresh;
	size_t seen_count, seen_capacity, fresh_count, fresh_capacity;
	int64_t read_started_ms;
	/* The operator's requests file, as last read. */
	struct timespec requests_mtime;
	ino_t requests_inode;
};

struct reputation_watch *
reputation_watch_new(const struct herald_config *cfg,
    struct reputation_table *table)
{
	struct reputation_watch *w = xmalloc(sizeof(*w));

	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	w->table = table;
	return w;
}

void
reputation_watch_free(struct reputation_watch *w)
{
	if (w == NULL)
		return;
	free(w->seen);
	free(w->fresh);
	free(w);
}

unsigned
reputation_route_count(const struct herald_config *cfg, const char *domain)
{
	unsigned n = 1;

	for (const struct config_entry *e = cfg->route_alternate; e;
	    e = e->next)
		if (strcasecmp(e->argument, domain) == 0 &&
		    n < REPUTATION_ROUTES)
			n++;
	return n;
}

void
reputation_route_name(const struct herald_config *cfg, const char *domain,
    unsigned index, char *out, size_t size)
{
	const char *own = config_list_lookup(cfg->route, domain);
	unsigned n = 0;

	if (index == 0) {
		if (own)
			snprintf(out, size, "%s%s", own, strchr(own, ':') ?
			    "" : ":25");
		else
			snprintf(out, size, "%s:%ld", cfg->relay_host,
			    cfg->relay_port);
		return;
	}
	for (const struct config_entry *e = cfg->route_alternate; e;
	    e = e->next)
		if (strcasecmp(e->argument, domain) == 0 && ++n == index) {
			snprintf(out, size, "%s%s", e->value,
			    strchr(e->value, ':') ? "" : ":25");
			return;
		}
	snprintf(out, size, "?");
}

void
reputation_watch_begin(struct reputation_watch *w, int64_t now_ms)
{
	w->read_started_ms = now_ms;
	w->fresh_count = 0;
	for (unsigned i = 0; i < REPUTATION_DOMAINS; i++) {
		w->history[i].probe_seen = 0;
		w->history[i].probe_blocked = 0;
	}
}

static int
reputation_key_compare(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static unsigned
reputation_index(const struct reputation_watch *w,
    const struct reputation_domain *d)
{
	return (unsigned)(d - w->table->domains);
}

void
reputation_watch_recipient(void *arg, const char *queue_id,
    const char *address, const char *delay_reason)
{
	struct reputation_watch *w = arg;
	const char *at = strrchr(address, '@');
	struct reputation_domain *d;
	struct reputation_history *h;
	struct bounce_class class;
	uint64_t key;
	int route, seen;

	if (at == NULL)
		return;
	d = reputation_domain(w->table, at + 1, 0, 0);
	if (d == NULL)
		return;		/* herald sent it nothing this run */
	h = &w->history[reputation_index(w, d)];
	if (atomic_load(&d->probe) == REPUTATION_PROBE_SENT &&
	    reputation_queue_hash(queue_id) ==
	    atomic_load(&d->probe_queue_hash)) {
		h->probe_seen = 1;
		if (*delay_reason) {
			bounce_classify(NULL, delay_reason, &class);
			h->probe_blocked = 1;
			snprintf(h->probe_reason, sizeof(h->probe_reason), "%s",
			    bounce_reason_name(class.reason));
		}
	}
	key = reputation_queue_hash(queue_id) * 31 ^ reputation_queue_hash(
	    address);
	seen = w->seen_count && bsearch(&key, w->seen, w->seen_count,
	    sizeof(*w->seen), reputation_key_compare);
	/* No reason: not tried yet, or back in the active queue for a
	 * retry (postqueue shows no reason there). A deferral counted
	 * before stays remembered, or each retry would count it again. */
	if (*delay_reason == '\0' && !seen)
		return;
	if (w->fresh_count == w->fresh_capacity) {
		w->fresh_capacity = w->fresh_capacity ? 2 * w->fresh_capacity :
		    1024;
		w->fresh = xrealloc(w->fresh, w->fresh_capacity *
		    sizeof(*w->fresh));
	}
	w->fresh[w->fresh_count++] = key;
	/* Counted when first seen; classifying is the costly part (tens of
	 * microseconds), so a queue's old deferrals cost only a lookup. */
	if (seen)
		return;
	bounce_classify(NULL, delay_reason, &class);
	route = reputation_route_of(w->table, queue_id);
	if (route < 0)
		route = (int)atomic_load(&d->route);
	if (route >= REPUTATION_ROUTES)
		return;
	atomic_fetch_add(&d->routes[route].deferred[class.reason], 1);
	if (reputation_reason_blocks(class.reason))
		atomic_fetch_add(&d->routes[route].blocked, 1);
}

/* Takes a sample of d's totals when one is due. */
static void
reputation_sample(struct reputation_watch *w, struct reputation_domain *d,
    struct reputation_history *h, int64_t now_ms)
{
	int64_t window_ms = w->cfg->reputation_window * 1000;
	struct reputation_sample *s;

	if (now_ms < h->due_ms)
		return;
	h->due_ms = now_ms + window_ms / REPUTATION_WINDOW_SAMPLES;
	s = &h->samples[h->next];
	s->ms = now_ms;
	for (unsigned r = 0; r < REPUTATION_ROUTES; r++) {
		s->relayed[r] = atomic_load(&d->routes[r].relayed);
		s->blocked[r] = atomic_load(&d->routes[r].blocked);
	}
	h->next = (h->next + 1) % (REPUTATION_WINDOW_SAMPLES + 1);
	if (h->count < REPUTATION_WINDOW_SAMPLES + 1)
		h->count++;
}

/* Route r's figures over the window, since its last decision. */
static void
reputation_window(const struct reputation_history *h,
    const struct reputation_domain *d, unsigned r, uint64_t *relayed,
    uint64_t *blocked)
{
	const struct reputation_sample *oldest = &h->samples[h->count <=
	    REPUTATION_WINDOW_SAMPLES ? 0 : h->next];
	uint64_t from_relayed = h->base_relayed[r], from_blocked =
	    h->base_blocked[r];

	/* A lone sample is now's: the window then covers everything. */
	if (h->count > 1 && oldest->relayed[r] > from_relayed)
		from_relayed = oldest->relayed[r];
	if (h->count > 1 && oldest->blocked[r] > from_blocked)
		from_blocked = oldest->blocked[r];
	*relayed = atomic_load(&d->routes[r].relayed) - from_relayed;
	*blocked = atomic_load(&d->routes[r].blocked) - from_blocked;
}

/* Forgets route r's past: the next judgement is on new messages. */
static void
reputation_rebase(struct reputation_history *h,
    const struct reputation_domain *d, unsigned r)
{
	h->base_relayed[r] = atomic_load(&d->routes[r].relayed);
	h->base_blocked[r] = atomic_load(&d->routes[r].blocked);
}

static int64_t
reputation_backoff_ms(const struct reputation_watch *w,
    struct reputation_domain *d, int doubling)
{
	uint32_t interval = (uint32_t)w->cfg->reputation_probe_interval;
	uint32_t s = atomic_load(&d->backoff_s);

	if (s == 0 || !doubling)
		s = interval;
	else if (s < interval * REPUTATION_BACKOFF_FACTOR)
		s *= 2;
	if (s > interval * REPUTATION_BACKOFF_FACTOR)
		s = interval * REPUTATION_BACKOFF_FACTOR;
	atomic_store(&d->backoff_s, s);
	return (int64_t)s * 1000;
}

/* The probe's outcome, once this read of the queue tells it. */
static void
reputation_probe_outcome(struct reputation_watch *w,
    struct reputation_domain *d, struct reputation_history *h,
    int64_t now_ms)
{
	char name[300];

	reputation_route_name(w->cfg, d->domain, 0, name, sizeof(name));
	if (h->probe_blocked) {
		int64_t wait = reputation_backoff_ms(w, d, 1);

		msg_info("reputation: %s: probe on route 0 (%s) deferred "
		    "(%s); next probe in %lld s", d->domain, name,
		    h->probe_reason, (long long)(wait / 1000));
		atomic_store(&d->probe_due_ms, now_ms + wait);
		atomic_store(&d->probe, REPUTATION_PROBE_NONE);
		return;
	}
	/* Postfix still has it, not yet tried, or the read began before
	 * the probe was queued: wait for the next read. */
	if (h->probe_seen || w->read_started_ms <= atomic_load(
	    &d->probe_sent_ms))
		return;
	msg_info("reputation: %s: probe on route 0 (%s) delivered; the "
	    "domain is back on its own route", d->domain, name);
	reputation_rebase(h, d, 0);
	atomic_store(&d->backoff_s, 0);
	atomic_store(&d->held_per_hour, 0);
	atomic_store(&d->route, 0);
	atomic_store(&d->decision, REPUTATION_NORMAL);
	atomic_store(&d->decided_ms, now_ms);
	atomic_store(&d->probe, REPUTATION_PROBE_NONE);
}

/* Moves d off route r, or holds it: its figures passed the limit. */
static void
reputation_act(struct reputation_watch *w, struct reputation_domain *d,
    struct reputation_history *h, unsigned r, uint64_t relayed,
    uint64_t blocked, int64_t now_ms)
{
	const struct herald_config *cfg = w->cfg;
	unsigned routes = atomic_load(&d->route_count);
	char from[300], to[300], figures[400];

	reputation_route_name(cfg, d->domain, r, from, sizeof(from));
	snprintf(figures, sizeof(figures), "%llu of %llu messages on route "
	    "%u (%s) blocked over the last %ld s (%.0f%% >= "
	    "reputation_block_rate %g%%)", (unsigned long long)blocked,
	    (unsigned long long)relayed, r, from, cfg->reputation_window,
	    100.0 * (double)blocked / (double)relayed,
	    (double)cfg->reputation_block_rate / 10000.0);
	if (r + 1 < routes) {
		reputation_route_name(cfg, d->domain, r + 1, to, sizeof(to));
		msg_warn("reputation: %s: %s; moving it to route %u (%s)",
		    d->domain, figures, r + 1, to);
		reputation_rebase(h, d, r + 1);
		atomic_store(&d->route, r + 1);
		atomic_store(&d->decision, REPUTATION_MOVED);
	} else {
		/* One tenth (reputation_throttle) of what it was sending,
		 * and never below one message per probe interval. */
		double rate = (double)relayed * 3600.0 /
		    (double)cfg->reputation_window *
		    (double)cfg->reputation_throttle / 1000000.0;
		double floor = 3600.0 / (double)cfg->reputation_probe_interval;

		if (rate < floor)
			rate = floor;
		msg_warn("reputation: %s: %s; no route left "
		    "(route_alternate): holding it at %.0f/h "
		    "(reputation_throttle %g%%)", d->domain, figures, rate,
		    (double)cfg->reputation_throttle / 10000.0);
		reputation_rebase(h, d, r);
		atomic_store(&d->held_per_hour, (uint64_t)(rate + 0.5));
		atomic_store(&d->decision, REPUTATION_HELD);
	}
	atomic_store(&d->decided_ms, now_ms);
	if (atomic_load(&d->probe) == REPUTATION_PROBE_NONE)
		atomic_store(&d->probe_due_ms, now_ms +
		    reputation_backoff_ms(w, d, 0));
}

static void
reputation_judge(struct reputation_watch *w, struct reputation_domain *d,
    int64_t now_ms)
{
	struct reputation_history *h = &w->history[reputation_index(w, d)];
	const struct herald_config *cfg = w->cfg;
	unsigned r = atomic_load(&d->route);
	int32_t probe = atomic_load(&d->probe);
	uint64_t relayed, blocked;

	reputation_sample(w, d, h, now_ms);
	for (unsigned i = 0; i < REPUTATION_ROUTES; i++) {
		reputation_window(h, d, i, &relayed, &blocked);
		atomic_store(&d->routes[i].window_relayed, relayed);
		atomic_store(&d->routes[i].window_blocked, blocked);
	}
	if (probe == REPUTATION_PROBE_SENT)
		reputation_probe_outcome(w, d, h, now_ms);
	else if (probe == REPUTATION_PROBE_TAKEN && now_ms - atomic_load(
	    &d->decided_ms) > REPUTATION_PROBE_TAKEN_MS &&
	    now_ms > atomic_load(&d->probe_due_ms) + REPUTATION_PROBE_TAKEN_MS)
		atomic_store(&d->probe, REPUTATION_PROBE_DUE);
	else if (probe == REPUTATION_PROBE_NONE && atomic_load(&d->decision) !=
	    REPUTATION_NORMAL && now_ms >= atomic_load(&d->probe_due_ms))
		atomic_store(&d->probe, REPUTATION_PROBE_DUE);
	if (cfg->reputation_block_rate <= 0 || atomic_load(&d->decision) ==
	    REPUTATION_HELD || r >= REPUTATION_ROUTES)
		return;
	reputation_window(h, d, r, &relayed, &blocked);
	if (relayed >= (uint64_t)cfg->reputation_min_messages &&
	    relayed > 0 && blocked * 1000000 >=
	    (uint64_t)cfg->reputation_block_rate * relayed)
		reputation_act(w, d, h, r, relayed, blocked, now_ms);
}

/* Ends a move or hold: the operator released d. */
static void
reputation_release(struct reputation_watch *w, struct reputation_domain *d,
    int64_t now_ms)
{
	struct reputation_history *h = &w->history[reputation_index(w, d)];

	if (atomic_load(&d->decision) == REPUTATION_NORMAL)
		return;
	msg_info("reputation: %s: released by the operator (herald route "
	    "release); back on its own route", d->domain);
	reputation_rebase(h, d, 0);
	atomic_store(&d->backoff_s, 0);
	atomic_store(&d->held_per_hour, 0);
	atomic_store(&d->route, 0);
	atomic_store(&d->decision, REPUTATION_NORMAL);
	atomic_store(&d->decided_ms, now_ms);
	atomic_store(&d->probe, REPUTATION_PROBE_NONE);
}

/*
 * Applies STATE/heraldd.route-holds (written by herald route hold and
 * release) when it changed: "hold DOMAIN" lines are the held domains,
 * a "release DOMAIN" line ends that domain's move or hold once.
 */
static void
reputation_read_requests(struct reputation_watch *w, int64_t now_ms)
{
	char path[4200], line[300];
	int32_t held[REPUTATION_DOMAINS];
	struct stat st;
	FILE *in;

	snprintf(path, sizeof(path), "%s/heraldd.route-holds",
	    w->cfg->state_directory);
	if (stat(path, &st) != 0)
		memset(&st, 0, sizeof(st));
	if (st.st_ino == w->requests_inode && st.st_mtim.tv_sec ==
	    w->requests_mtime.tv_sec && st.st_mtim.tv_nsec ==
	    w->requests_mtime.tv_nsec)
		return;
	w->requests_inode = st.st_ino;
	w->requests_mtime = st.st_mtim;
	memset(held, 0, sizeof(held));
	in = fopen(path, "r");
	while (in && fgets(line, sizeof(line), in)) {
		int hold = strncmp(line, "hold ", 5) == 0;
		const char *domain = line + (hold ? 5 : 8);
		struct reputation_domain *d;

		line[strcspn(line, "\r\n")] = '\0';
		if (!hold && strncmp(line, "release ", 8) != 0)
			continue;
		d = reputation_domain(w->table, domain, 1,
		    reputation_route_count(w->cfg, domain));
		if (d == NULL) {
			msg_warn("reputation: %s: cannot %s it: the table of "
			    "%d destinations is full", domain, hold ? "hold" :
			    "release", REPUTATION_DOMAINS);
			continue;
		}
		if (hold)
			held[reputation_index(w, d)] = 1;
		else
			reputation_release(w, d, now_ms);
	}
	if (in)
		fclose(in);
	for (unsigned i = 0; i < REPUTATION_DOMAINS; i++) {
		struct reputation_domain *d = &w->table->domains[i];

		if (atomic_load(&d->state) != 2 ||
		    atomic_load(&d->operator_hold) == held[i])
			continue;
		atomic_store(&d->operator_hold, held[i]);
		if (held[i])
			msg_info("reputation: %s: held by the operator (herald "
			    "route hold); nothing goes to it until released",
			    d->domain);
		else
			msg_info("reputation: %s: operator hold ended",
			    d->domain);
	}
}

void
reputation_watch_end(struct reputation_watch *w, int64_t now_ms)
{
	uint64_t *swap = w->seen;
	size_t capacity = w->seen_capacity;

	/* This read's deferred recipients are the ones counted next time;
	 * those gone from the queue are forgotten. */
	if (w->fresh_count)
		qsort(w->fresh, w->fresh_count, sizeof(*w->fresh),
		    reputation_key_compare);
	w->seen = w->fresh;
	w->seen_count = w->fresh_count;
	w->seen_capacity = w->fresh_capacity;
	w->fresh = swap;
	w->fresh_capacity = capacity;
	w->fresh_count = 0;
	reputation_read_requests(w, now_ms);
	for (unsigned i = 0; i < REPUTATION_DOMAINS; i++) {
		struct reputation_domain *d = &w->table->domains[i];

		if (atomic_load(&d->state) == 2)
			reputation_judge(w, d, now_ms);
	}
}
