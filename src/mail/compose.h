/*
 * compose.h - one mailing's messages, recipient by recipient.
 *
 * A composer holds what a worker needs to build a mailing's messages:
 * the mailing's fields, handed over by its caller (who reads them from
 * the database: mailing_content.h; the composer reads none), its
 * template files compiled once (template.h), and buffers reused for every message. For
 * each staged row it renders the subject, text and HTML parts with the
 * recipient's snapshot, the mailing's fields and the generated values
 * (unsubscribe and view-online URLs, each with a token of its own
 * purpose: token.h), and assembles the complete message (message.h) and
 * its signed VERP envelope sender (returnpath.h).
 *
 * Click tracking (tracking.h): the tracked links of every template set
 * are found once, when it compiles. Their targets (the mailing's UTM
 * parameters added) are listed by composer_links(); when the mailing
 * tracks clicks (track_domain set and the mailing's track_clicks), the
 * caller registers them (links.h) and hands the ids back with
 * composer_set_link_ids() before the first build, and each link of a
 * message becomes https://track_domain/c/TOKEN with a click token for
 * (mailing, recipient, link). Otherwise the links are the targets.
 *
 * composer_files_changed() tells whether any file the composer was built
 * from (template files, partials) has changed since it was opened; a
 * worker that sees it finishes the session in hand and exits, so no
 * message is ever built from a mix of old and new files.
 */
#ifndef HERALD_COMPOSE_H
#define HERALD_COMPOSE_H

#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "delivery.h"
#include "mailing_content.h"
#include "token.h"

struct composer;

/*
 * What templates can name besides the recipient's fields (delivery.h's
 * delivery_field_names, attributes.NAME among them): the generated
 * values, and the keys of the "mailing" map ({{mailing.name}}); both
 * NULL-terminated.
 */
extern const char *const composer_generated_names[];
extern const char *const composer_mailing_names[];

/*
 * Compiles the templates of mailing m (its own and its variants'); m
 * stays the caller's (the composer keeps copies). NULL with the reason
 * in err (From is no address, a template file is unreadable or has a
 * syntax error: FILE:LINE:COLUMN). Free with composer_free().
 */
struct composer *composer_open(const struct herald_config *cfg,
    const struct mailing_content *m, struct buf *err);

void composer_free(struct composer *c);

/*
 * The token keys to sign with (the newest signs: unsubscribe,
 * view-online and click tokens, the return path). The caller keeps
 * them (keyring.h) and sets them again when it reads them again; a
 * composer builds nothing before.
 */
void composer_set_keys(struct composer *c, const struct token_keys *keys);

/*
 * Builds row's message into message and its envelope sender into sender
 * (both reset first; the caller owns and reuses them). Returns 0, or -1
 * with the reason in err when this recipient's message cannot be built.
 */
int composer_build(struct composer *c, const struct delivery_row *row,
    struct buf *message, struct buf *sender, struct buf *err);

/* The HTML part of the last message built (rendered, not encoded);
 * NULL when the mailing has none. Valid until the next build. */
const char *composer_last_html(const struct composer *c, size_t *length);

/* 1 when a source file changed (checked at most once a second). */
int composer_files_changed(struct composer *c);

uint64_t composer_mailing_id(const struct composer *c);

/* 1 when the mailing's links become click URLs. */
int composer_tracks_clicks(const struct composer *c);

/* The distinct targets of the mailing's tracked links (all variants),
 * in *targets (the composer's); returns how many. */
unsigned composer_links(const struct composer *c,
    const char *const **targets);

/* The links table's id of each target, in composer_links() order
 * (copied); a composer that tracks clicks builds nothing before. */
void composer_set_link_ids(struct composer *c, const uint64_t *ids);

/* The mailing's own rate limit in messages per hour; 0 = none. */
double composer_rate_limit(const struct composer *c);

#endif
