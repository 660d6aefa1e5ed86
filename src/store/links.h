/*
 * links.h - the links table: one row per tracked target URL of a
 * mailing (sql/008_clicks.sql).
 *
 * A worker (or "herald preview") registers its mailing's links once,
 * when it compiles the templates (tmplset.h, tracking.h), and gets
 * their ids, which click tokens sign (token.h). Registering is safe to
 * repeat and to run from many workers at once: a URL already there
 * keeps its id. herald-web looks a link up by id when a click comes in.
 * Every function returns 0, or -1 with a sentence in err.
 */
#ifndef HERALD_LINKS_H
#define HERALD_LINKS_H

#include <mysql.h>
#include <stdint.h>

#include "buf.h"
#include "compose.h"

/* Fills ids[i] with the id of (mailing_id, urls[i]), adding the rows
 * that are missing. */
int links_register(MYSQL *db, uint64_t mailing_id, const char *const *urls,
    unsigned count, uint64_t *ids, struct buf *err);

/* The target of link link_id of mailing_id into url (reset first);
 * *found is 0 when there is no such link of that mailing. */
int links_lookup(MYSQL *db, uint64_t mailing_id, uint64_t link_id,
    struct buf *url, int *found, struct buf *err);

/* Registers the tracked links of composer c's mailing and hands it
 * their ids; nothing to do when it does not track clicks. */
int links_attach(MYSQL *db, struct composer *c, struct buf *err);

#endif
