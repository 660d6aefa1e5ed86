/*
 * unsubscribe.h - what an unsubscribe records.
 *
 * An unsubscribe token (token.h) names a mailing and a recipient. When
 * its owner unsubscribes (herald-web's one-click POST or page button, or
 * mail to the List-Unsubscribe address), unsubscribe_record() does, in
 * one transaction: the recipient's status becomes "unsubscribed" (when
 * it was active), and its address gets a suppression entry (source
 * "unsubscribe", the mailing, the channel, the client's address and the
 * time) through suppression.h. Workers re-check suppressions when they
 * read a batch, so it acts on the next batch of every mailing.
 *
 * A token whose mailing or recipient no longer exists (deleted, or the
 * database was rebuilt) is "unknown": nothing changes, and the web
 * answers it like a forged one. Every function returns 0, or -1 with a
 * sentence in err (a database error: nothing changed).
 */
#ifndef HERALD_UNSUBSCRIBE_H
#define HERALD_UNSUBSCRIBE_H

#include <mysql.h>
#include <stdint.h>

#include "buf.h"
#include "suppression.h"

/* The recipient a token names, as unsubscribe_lookup() finds it. */
struct unsubscribe_target {
	int found;		/* 0: mailing or recipient unknown */
	int unsubscribed;	/* its address is already suppressed or
				 * its status is no longer active */
	struct buf email;	/* the caller frees it (buf_free) */
};

/* Finds the recipient; changes nothing. */
int unsubscribe_lookup(MYSQL *db, uint64_t mailing_id, uint64_t recipient_id,
    struct unsubscribe_target *target, struct buf *err);

enum unsubscribe_outcome {
	UNSUBSCRIBE_DONE,	/* recorded now */
	UNSUBSCRIBE_ALREADY,	/* it was already: nothing changed */
	UNSUBSCRIBE_UNKNOWN,	/* no such mailing or recipient */
};

/*
 * Records the recipient's unsubscribe as described above; recording it
 * again changes nothing (UNSUBSCRIBE_ALREADY). remote_address: the
 * client's IP address as text, or NULL. target (may be NULL) gets the
 * recipient as found inside the transaction.
 */
int unsubscribe_record(MYSQL *db, uint64_t mailing_id, uint64_t recipient_id,
    enum suppression_channel channel, const char *remote_address,
    enum unsubscribe_outcome *outcome, struct unsubscribe_target *target,
    struct buf *err);

#endif
