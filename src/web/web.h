/*
 * web.h - herald-web's HTTP service: one-click and page unsubscribes,
 * click redirects, posted conversions.
 *
 * GNU libmicrohttpd parses HTTP; it runs in external mode with its own
 * epoll set, whose one descriptor sits in the caller's libev loop: an
 * ev_io calls MHD_run() when it is readable, and an ev_timer when
 * MHD_get_timeout() says a connection's time is up. Everything runs in
 * the loop's thread; the database is reached synchronously (unsubscribes
 * are rare and short; a slow database delays other requests but never
 * loses one).
 *
 * Routes (TOKEN: the unsubscribe token of List-Unsubscribe, token.h):
 *	POST /u/TOKEN	body List-Unsubscribe=One-Click (RFC 8058, form
 *			or multipart): records the unsubscribe
 *			(unsubscribe.h) and answers 200 in plain text;
 *			again, it answers the same and changes nothing.
 *			With the page's extra field from=page it answers
 *			an HTML page and records the channel "page".
 *	GET  /u/TOKEN	a confirmation page whose button POSTs back to
 *			the page's own URL (from=page); a GET
 *			changes nothing, so a mail scanner following links
 *			unsubscribes nobody.
 *	GET  /c/TOKEN	(TOKEN: a click token, token.h) 302 to the
 *			link's target, the click queued for the writer
 *			(click_redirect.h, clicks.h); HEAD answers the
 *			same and records nothing; other methods 405.
 *	POST /v		a conversion, a JSON body signed with
 *			conversion_secret (conversion_post.h): recorded
 *			and attributed (conversion.h), 200 "recorded" or
 *			"already recorded"; a missing or wrong signature
 *			401, a bad body or field 400 saying why; 404
 *			when conversion_secret is not set.
 * The token may also come as ?t=TOKEN on /u or /unsubscribe, the form
 * of the links herald puts in mail (unsubscribe_url?t=TOKEN).
 * A malformed, forged or unknown token, or any other path, gets the
 * same 404; another method on /u/TOKEN a 405; a body declared over
 * WEB_BODY_MAX a 413 (a chunked one that grows past it has its
 * connection closed); a database failure a 503 with Retry-After.
 *
 * Bounds: web_connection_limit connections at once, web_timeout seconds
 * of idleness per connection, WEB_MEMORY_LIMIT bytes of request head
 * per connection, WEB_BODY_MAX bytes of body.
 */
#ifndef HERALD_WEB_H
#define HERALD_WEB_H

#include <ev.h>

#include "buf.h"
#include "config.h"

#define WEB_BODY_MAX 1024
#define WEB_MEMORY_LIMIT 16384

struct web;

/*
 * Starts listening on cfg->web_listen and serving in loop: loads the
 * token keys and connects to the database. NULL with the reason in err.
 * cfg must outlive the service.
 */
struct web *web_start(const struct herald_config *cfg, struct ev_loop *loop,
    struct buf *err);

/* Stops listening, closes every connection and frees the service. */
void web_stop(struct web *web);

#endif
