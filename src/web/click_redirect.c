/*
 * click_redirect.c - answering GET /c/TOKEN (see click_redirect.h).
 *
 * The cache of targets is indexed by link id modulo its size: link ids
 * are consecutive, so the links of the mailings being clicked on at
 * once fall in different slots, and a collision only costs a lookup.
 */
#include "click_redirect.h"
#include "clicks.h"
#include "links.h"
#include "log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CLICK_CACHE_SLOTS 65536

struct cached_link {
	uint64_t link_id;	/* 0: empty (ids start at 1) */
	uint64_t mailing_id;
	char *url;
};

struct click_redirect {
	struct keyring *keys;
	struct clicks *clicks;
	struct cached_link *cache;
};

struct click_redirect *
click_redirect_start(const struct herald_config *cfg,
    struct keyring *keys, struct buf *err)
{
	struct click_redirect *r = xcalloc(1, sizeof(*r));

	r->keys = keys;
	r->clicks = clicks_start(cfg, err);
	if (r->clicks == NULL) {
		free(r);
		return NULL;
	}
	r->cache = xcalloc(CLICK_CACHE_SLOTS, sizeof(*r->cache));
	return r;
}

void
click_redirect_stop(struct click_redirect *r)
{
	if (r == NULL)
		return;
	clicks_stop(r->clicks);
	for (unsigned i = 0; i < CLICK_CACHE_SLOTS; i++)
		free(r->cache[i].url);
	free(r->cache);
	free(r);
}

/* 1 when url may go into a Location header: an absolute http(s) URL of
 * printable ASCII (the links table holds what tracking.c found, but the
 * header is checked where it is made). */
static int
target_ok(const char *url)
{
	if (strncasecmp(url, "https://", 8) && strncasecmp(url, "http://", 7))
		return 0;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

static int64_t
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

enum click_outcome
click_redirect_find(struct click_redirect *r, const char *token,
    int record, click_db_fn *db_of, void *db_arg, struct buf *url,
    struct buf *err)
{
	uint64_t mailing, recipient, link;
	struct cached_link *slot;
	struct buf why = BUF_INIT;
	MYSQL *db;
	int found;

	buf_reset(url);
	if (keyring_verify_click(r->keys, db_of, db_arg, token, &mailing,
	    &recipient, &link, &why) != 0) {
		msg_debug("refused click token: %s", buf_str(&why));
		buf_free(&why);
		return CLICK_NOT_FOUND;
	}
	slot = &r->cache[link % CLICK_CACHE_SLOTS];
	if (slot->link_id != link) {
		db = db_of(db_arg);
		if (db == NULL || links_lookup(db, mailing, link, url, &found,
		    err) != 0)
			return CLICK_UNAVAILABLE;
		if (!found || !target_ok(buf_str(url))) {
			msg_debug("click token for link %" PRIu64 " of mailing "
			    "%" PRIu64 ": %s", link, mailing, found ?
			    "its target is not an http(s) URL" :
			    "no such link");
			return CLICK_NOT_FOUND;
		}
		free(slot->url);
		slot->url = xstrdup(buf_str(url));
		slot->link_id = link;
		slot->mailing_id = mailing;
	}
	/* A link of another mailing under a genuine token cannot happen
	 * (the token signs both), but the table is the authority. */
	if (slot->mailing_id != mailing)
		return CLICK_NOT_FOUND;
	buf_reset(url);
	buf_append_str(url, slot->url);
	if (record)
		clicks_record(r->clicks, mailing, recipient, link, now_ms());
	return CLICK_REDIRECT;
}
