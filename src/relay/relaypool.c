/*
 * relaypool.c - primary and backup relays with down-marking (see
 * relaypool.h).
 */
#include "relaypool.h"
#include "log.h"
#include "namehash.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define RELAYPOOL_FIRST_RETRY_MS 5000

/* STARTTLS and AUTH of one relay, as configured (config.h). */
struct relaypool_security {
	int tls;			/* CONFIG_TLS_* */
	const char *auth_user;		/* "" without AUTH */
	const char *password_file;
};

static const enum relay_tls relaypool_tls[] = {
	[CONFIG_TLS_NONE] = RELAY_TLS_NONE,
	[CONFIG_TLS_OPPORTUNISTIC] = RELAY_TLS_OPPORTUNISTIC,
	[CONFIG_TLS_REQUIRED] = RELAY_TLS_REQUIRED,
};

static int
relaypool_add(struct relaypool *pool, const struct herald_config *cfg,
    const char *host, long port, const struct relaypool_security *security,
    const char *helo_name, struct ev_loop *loop, struct buf *err)
{
	struct relaypool_entry *e = &pool->entries[pool->count];
	struct buf password = BUF_INIT;
	struct relay_target target = {
		.host = host,
		.port = (unsigned)port,
		.timeout_ms = (unsigned)(cfg->relay_timeout * 1000),
		.helo_name = helo_name,
		.loop = loop,
		.connections = (unsigned)cfg->relay_connections,
		.connect_timeout_ms = (unsigned)(cfg->relay_connect_timeout *
		    1000),
		.tls = relaypool_tls[security->tls],
		.tls_ca_file = cfg->relay_tls_ca_file,
		.auth_user = security->auth_user,
	};

	if (pool->count == RELAYPOOL_MAX) {
		buf_printf(err, "more than %d relays (relay_host, "
		    "relay_backup_host and route targets)", RELAYPOOL_MAX);
		return -1;
	}
	if (security->auth_user[0]) {
		if (config_read_secret_file(security->password_file,
		    &password, err) != 0)
			return -1;
		target.auth_password = buf_str(&password);
	}
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s:%ld", host, port);
	e->tls = security->tls;
	snprintf(e->auth_user, sizeof(e->auth_user), "%s",
	    security->auth_user);
	e->session = relay_session_new(&target, err);
	if (password.data)
		explicit_bzero(password.data, password.len);
	buf_free(&password);
	if (e->session == NULL)
		return -1;
	pool->count++;
	return 0;
}

/* A route's STARTTLS and AUTH (none unless its route_* keys say). */
static void
relaypool_route_security(const struct herald_config *cfg,
    const char *domain, struct relaypool_security *security)
{
	const char *tls = config_list_lookup(cfg->route_tls, domain);
	const char *user = config_list_lookup(cfg->route_auth_user, domain);
	const char *file = config_list_lookup(cfg->route_auth_password_file,
	    domain);

	/* The configuration was checked when loaded. */
	security->tls = tls ? config_parse_tls(tls) : CONFIG_TLS_NONE;
	if (security->tls < 0)
		security->tls = CONFIG_TLS_NONE;
	security->auth_user = user ? user : "";
	security->password_file = file ? file : "";
}

#define RELAYPOOL_SLOTS (2 * RELAYPOOL_ROUTES_MAX)

/* The slot of domain in the route index: the one holding its route, or
 * the free one where it belongs. The index is at most half full. */
static unsigned
relaypool_slot(const struct relaypool *pool, const char *domain)
{
	unsigned i = (unsigned)(namehash(domain, 1) % RELAYPOOL_SLOTS);

	while (pool->route_slots[i] != 0 && strcasecmp(
	    pool->routes[pool->route_slots[i] - 1].domain, domain) != 0)
		i = (i + 1) % RELAYPOOL_SLOTS;
	return i;
}

/* domain's route, or NULL when it has none. */
static const struct relaypool_route *
relaypool_find_route(const struct relaypool *pool, const char *domain)
{
	unsigned slot = relaypool_slot(pool, domain);

	return pool->route_slots[slot] ?
	    &pool->routes[pool->route_slots[slot] - 1] : NULL;
}

/* The route record of r's domain, made on first use; NULL with the
 * reason in err when there are too many. */
static struct relaypool_route *
relaypool_route(struct relaypool *pool, const struct herald_config *cfg,
    const struct config_entry *r, struct buf *err)
{
	struct relaypool_route *route;
	unsigned slot;

	slot = relaypool_slot(pool, r->argument);
	if (pool->route_slots[slot])
		return &pool->routes[pool->route_slots[slot] - 1];
	if (strlen(r->argument) >= sizeof(pool->routes[0].domain) ||
	    pool->route_count == RELAYPOOL_ROUTES_MAX) {
		buf_printf(err, "%s:%u: %s: too many routed domains, or a "
		    "domain name too long", cfg->path ? cfg->path :
		    "(configuration)", r->line, r->argument);
		return NULL;
	}
	route = &pool->routes[pool->route_count++];
	pool->route_slots[slot] = (uint16_t)pool->route_count;
	memset(route, 0, sizeof(*route));
	snprintf(route->domain, sizeof(route->domain), "%s", r->argument);
	route->entry = RELAYPOOL_GENERAL;
	return route;
}

/* The entry of r's relay ("HOST[:PORT]"), added on first use, into
 * *index; -1 with "FILE:LINE: ..." for a bad value. */
static int
relaypool_entry_for(struct relaypool *pool, const struct herald_config *cfg,
    const struct config_entry *r, const char *helo_name,
    struct ev_loop *loop, const char *key, unsigned *index, struct buf *err)
{
	char host[256], name[300];
	long port = 25;
	const char *colon = strrchr(r->value, ':');
	size_t length = colon ? (size_t)(colon - r->value) : strlen(r->value);
	struct relaypool_security security;
	unsigned i;

	if (length == 0 || length >= sizeof(host) || (colon &&
	    ((port = config_parse_port(colon + 1)) < 0))) {
		buf_printf(err, "%s:%u: %s %s: expected HOST or HOST:PORT, "
		    "found \"%s\"", cfg->path ? cfg->path : "(configuration)",
		    r->line, key, r->argument, r->value);
		return -1;
	}
	memcpy(host, r->value, length);
	host[length] = '\0';
	snprintf(name, sizeof(name), "%s:%ld", host, port);
	relaypool_route_security(cfg, r->argument, &security);
	for (i = 0; i < pool->count; i++)
		if (strcmp(pool->entries[i].name, name) == 0)
			break;
	/* One session per relay: routes to it must agree on it. */
	if (i < pool->count && (pool->entries[i].tls != security.tls ||
	    strcmp(pool->entries[i].auth_user, security.auth_user) != 0)) {
		buf_printf(err, "%s:%u: %s %s: relay %s is also used with "
		    "other relay_tls/route_tls or AUTH settings; give routes "
		    "to one relay the same ones", cfg->path ? cfg->path :
		    "(configuration)", r->line, key, r->argument,
		    pool->entries[i].name);
		return -1;
	}
	if (i == pool->count && relaypool_add(pool, cfg, host, port,
	    &security, helo_name, loop, err))
		return -1;
	*index = i;
	return 0;
}

int
relaypool_init(struct relaypool *pool, const struct herald_config *cfg,
    const char *helo_name, struct ev_loop *loop, struct buf *err)
{
	struct relaypool_security general = {
		.tls = config_parse_tls(cfg->relay_tls),
		.auth_user = cfg->relay_auth_user,
		.password_file = cfg->relay_auth_password_file,
	};

	memset(pool, 0, sizeof(*pool));
	pool->retry_limit_ms = cfg->relay_retry_limit * 1000;
	if (general.tls < 0)
		general.tls = CONFIG_TLS_NONE;	/* checked when loaded */
	if (relaypool_add(pool, cfg, cfg->relay_host, cfg->relay_port,
	    &general, helo_name, loop, err))
		goto fail;
	if (cfg->relay_backup_host[0] && relaypool_add(pool, cfg,
	    cfg->relay_backup_host, cfg->relay_backup_port, &general,
	    helo_name, loop, err))
		goto fail;
	pool->general = pool->count;
	for (const struct config_entry *r = cfg->route; r; r = r->next) {
		struct relaypool_route *route = relaypool_route(pool, cfg, r,
		    err);

		if (route == NULL)
			goto fail;
		if (route->entry != RELAYPOOL_GENERAL)
			continue;	/* the first line for a domain wins */
		if (relaypool_entry_for(pool, cfg, r, helo_name, loop,
		    "route", &route->entry, err))
			goto fail;
	}
	for (const struct config_entry *r = cfg->route_alternate; r;
	    r = r->next) {
		struct relaypool_route *route = relaypool_route(pool, cfg, r,
		    err);

		if (route == NULL)
			goto fail;
		if (route->alternate_count == RELAYPOOL_ALTERNATES) {
			buf_printf(err, "%s:%u: route_alternate %s: more than "
			    "%d alternates for one domain", cfg->path ?
			    cfg->path : "(configuration)", r->line,
			    r->argument, RELAYPOOL_ALTERNATES);
			goto fail;
		}
		if (relaypool_entry_for(pool, cfg, r, helo_name, loop,
		    "route_alternate",
		    &route->alternates[route->alternate_count], err))
			goto fail;
		route->alternate_count++;
	}
	return 0;
fail:
	relaypool_free(pool);
	return -1;
}

void
relaypool_free(struct relaypool *pool)
{
	for (unsigned i = 0; i < pool->count; i++)
		relay_session_free(pool->entries[i].session);
	pool->count = 0;
}

struct relaypool_entry *
relaypool_pick(struct relaypool *pool, int64_t now_ms, int64_t *retry_ms)
{
	int64_t soonest = -1;

	for (unsigned i = 0; i < pool->general; i++) {
		struct relaypool_entry *e = &pool->entries[i];

		if (e->down_until_ms <= now_ms)
			return e;
		if (soonest < 0 || e->down_until_ms < soonest)
			soonest = e->down_until_ms;
	}
	*retry_ms = soonest - now_ms;
	return NULL;
}

unsigned
relaypool_route_count(const struct relaypool *pool, const char *domain)
{
	const struct relaypool_route *route = relaypool_find_route(pool,
	    domain);

	return route ? 1 + route->alternate_count : 1;
}

struct relaypool_entry *
relaypool_pick_for(struct relaypool *pool, const char *domain,
    unsigned route_index, int64_t now_ms, int64_t *retry_ms)
{
	const struct relaypool_route *route = relaypool_find_route(pool,
	    domain);
	unsigned entry;

	if (route != NULL) {
		entry = route_index == 0 ? route->entry :
		    route_index <= route->alternate_count ?
		    route->alternates[route_index - 1] : route->entry;
		/* A route on the general relays, or its relay down: the
		 * primary or backup. */
		if (entry != RELAYPOOL_GENERAL &&
		    pool->entries[entry].down_until_ms <= now_ms)
			return &pool->entries[entry];
	}
	return relaypool_pick(pool, now_ms, retry_ms);
}

void
relaypool_report(struct relaypool *pool, struct relaypool_entry *entry,
    const struct relay_session_result *result, int64_t now_ms)
{
	int64_t delay = RELAYPOOL_FIRST_RETRY_MS;

	if (!relay_status_marks_down(result->status)) {
		if (entry->failures)
			msg_info("relay %s is up again", entry->name);
		entry->failures = 0;
		entry->down_until_ms = 0;
		return;
	}
	for (unsigned i = 0; i < entry->failures && delay <
	    pool->retry_limit_ms; i++)
		delay *= 2;
	if (delay > pool->retry_limit_ms)
		delay = pool->retry_limit_ms;
	entry->failures++;
	entry->down_until_ms = now_ms + delay;
	msg_warn("relay %s is down (%s: %s); %s; trying it again in %.0f s",
	    entry->name, relay_status_name(result->status), result->text,
	    pool->general > 1 ? "using the other relay meanwhile" :
	    "no backup relay (relay_backup_host)", delay / 1000.0);
}
