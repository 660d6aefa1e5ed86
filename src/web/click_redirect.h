/*
 * click_redirect.h - what herald-web answers to GET /c/TOKEN.
 *
 * The token must be a click token herald signed (token.h); it names a
 * mailing, a recipient and a link of that mailing. The answer is a
 * redirect to the link's target as the links table holds it (links.h):
 * never to a URL the request carries, so herald-web is no open
 * redirect. Targets are kept in memory once read (a link's target never
 * changes), so a redirect needs the database only for the first click
 * on a link after a start; the click itself is queued for the writer
 * (clicks.h), never waited for.
 */
#ifndef HERALD_CLICK_REDIRECT_H
#define HERALD_CLICK_REDIRECT_H

#include <mysql.h>

#include "buf.h"
#include "config.h"
#include "keyring.h"

struct click_redirect;

/* Starts the click writer. keys (keyring.h: read again as keys rotate)
 * stay the caller's and must outlive it. NULL with the reason in err. */
struct click_redirect *click_redirect_start(const struct herald_config *cfg,
    struct keyring *keys, struct buf *err);

/* Writes the queued clicks and frees r (NULL is fine). */
void click_redirect_stop(struct click_redirect *r);

enum click_outcome {
	CLICK_REDIRECT,		/* url holds the target */
	CLICK_NOT_FOUND,	/* bad token, or no such link */
	CLICK_UNAVAILABLE,	/* the database failed: err says why */
};

/* The database connection for a lookup, or NULL when it cannot be
 * reached. */
typedef MYSQL *click_db_fn(void *arg);

/*
 * Decides the answer to token; when record is 1 and the answer is a
 * redirect, queues the click. url (reset first) gets the target.
 */
enum click_outcome click_redirect_find(struct click_redirect *r,
    const char *token, int record, click_db_fn *db, void *db_arg,
    struct buf *url, struct buf *err);

#endif
