/*
 * returnpath.h - herald's VERP envelope sender, signed.
 *
 * Every message goes out with the envelope sender
 *
 *	bounces+MAILING-RECIPIENT-KID-MAC@bounce_domain
 *
 * whose local part after "bounces+" is a return-path token (token.h):
 * a bounce that comes back to it names its mailing and recipient, and
 * only herald can make one. Anyone can mail the address of a message
 * they received, but without the key they cannot make the address of
 * another recipient, so a forged bounce cannot suppress anyone else.
 *
 * herald before signed return paths sent bounces+MAILING-RECIPIENT@;
 * such an unsigned address is accepted only for a mailing staged before
 * the upgrade, and only within RETURN_PATH_GRACE_DAYS of it
 * (return_path_unsigned_accepted()); the upgrade's time is when
 * migration NNN_signed_return_paths.sql was applied.
 *
 * A return path that is refused is counted per day and reason in the
 * feedback_refused table (return_path_count_refused()).
 */
#ifndef HERALD_RETURNPATH_H
#define HERALD_RETURNPATH_H

#include <mysql.h>
#include <stdint.h>

#include "buf.h"
#include "token.h"

/* Bounces of mail sent before the upgrade come within Postfix's
 * maximal_queue_lifetime (5 days) of the send, other MTAs' up to 7:
 * two weeks leave room for a mailing staged just before it. */
#define RETURN_PATH_GRACE_DAYS 14

/* Longest token kept: ids, key id and MAC fit well within 64 octets. */
#define RETURN_PATH_TOKEN_MAX 96

struct return_path {
	uint64_t mailing, recipient;
	int is_signed;			/* 0: the unsigned form of before */
	char token[RETURN_PATH_TOKEN_MAX];	/* after "bounces+" */
};

/* Appends bounces+TOKEN@domain for (mailing, recipient). */
void return_path_make(const struct token_keys *keys, uint64_t mailing,
    uint64_t recipient, const char *domain, struct buf *out);

/*
 * Whether address (angle brackets of an address header may surround
 * it) has the shape of one of herald's return paths, signed or not.
 * Checks no signature: 0 with the ids and the token, -1 when it is not
 * one of herald's.
 */
int return_path_parse(const char *address, struct return_path *rp);

/* 0 when rp is signed and its signature verifies (ids set from it); -1
 * with the reason in why otherwise. */
int return_path_verify(const struct token_keys *keys,
    const struct return_path *rp, struct buf *why);

/*
 * Whether an unsigned return path for mailing is still accepted (the
 * grace period above): sets *accepted to 1 or 0 and why to the reason
 * when 0. -1 with the reason in err when the database cannot say.
 */
int return_path_unsigned_accepted(MYSQL *db, uint64_t mailing,
    int *accepted, struct buf *why, struct buf *err);

/* Counts one refused return path under reason (a short word) for today;
 * sets *today to the day's count so far. -1 with err on failure. */
int return_path_count_refused(MYSQL *db, const char *reason,
    unsigned long long *today, struct buf *err);

#endif
