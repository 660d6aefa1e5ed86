/*
 * feedback.h - what a bounce or a complaint changes in the database.
 *
 * "herald feedback" (cmd_feedback.c) reads what Postfix hands back,
 * checks that it names a message herald sent (a signed return path or
 * token) and calls one of these; a mailto unsubscribe goes through
 * unsubscribe.h like the web's.
 *
 *	feedback_record_bounce()     a DSN recipient group that failed:
 *	    once per message in the bounces table with its class (reason,
 *	    hard) and variant, the message's row bounced, the mailing's
 *	    bounced_count. A hard bounce marks the recipient bounced and
 *	    suppresses the address (source bounce, reason "bounced") at
 *	    once; a soft one does when the address has soft_bounce_limit
 *	    soft bounces within soft_bounce_window, across mailings
 *	    (reason "soft bounces").
 *	feedback_record_complaint()  an ARF report of a complaint:
 *	    once per message in the complaints table with its
 *	    feedback type and variant, the mailing's complained_count, the
 *	    recipient's status complained and the address suppressed
 *	    (source complaint, reason "complained").
 *
 * Each runs in one transaction of its own: a failure anywhere changes
 * nothing (the caller exits 75 and Postfix retries), and recording the
 * same report again changes nothing (*changed 0). Functions return 0,
 * or -1 with a sentence in err.
 */
#ifndef HERALD_FEEDBACK_H
#define HERALD_FEEDBACK_H

#include <mysql.h>
#include <stdint.h>

#include "bounce_class.h"
#include "buf.h"
#include "config.h"
#include "history.h"

/* What a call changed. */
struct feedback_outcome {
	int changed;		/* 0: recorded already, nothing changed */
	int suppressed;		/* the address was suppressed now */
	unsigned long long soft_bounces;	/* soft bounces of the address
						   in the window, this one
						   included (soft only) */
};

/* reply: the DSN's status and diagnostic as one text; class: its
 * bounce_classify(). row: history_find_row()'s, found. */
int feedback_record_bounce(MYSQL *db, const struct herald_config *cfg,
    const struct history_row *row, uint64_t mailing, uint64_t recipient,
    const char *reply, const struct bounce_class *class,
    struct feedback_outcome *outcome, struct buf *err);

/* feedback_type: the report's Feedback-Type (not "not-spam", which
 * records nothing: the caller only reports it). */
int feedback_record_complaint(MYSQL *db, const struct history_row *row,
    uint64_t mailing, uint64_t recipient, const char *feedback_type,
    struct feedback_outcome *outcome, struct buf *err);

/* What came back for one mailing, and what it delivered. */
struct feedback_counts {
	unsigned long long delivered;	/* messages the relay accepted
					   (sent_count, bounced ones too) */
	unsigned long long hard_bounces, soft_bounces;
	unsigned long long complaints, unsubscribes;
};

/* Reads mailing's counts (all 0 for an unknown mailing). */
int feedback_counts_read(MYSQL *db, uint64_t mailing,
    struct feedback_counts *counts, struct buf *err);

/* events per delivered message in percent; 0 when nothing delivered. */
double feedback_rate(unsigned long long events,
    unsigned long long delivered);

/* 1 for the ARF feedback types herald knows (RFC 5965, RFC 6650):
 * abuse, fraud, virus, other, not-spam, opt-out. */
int feedback_type_known(const char *type);

#endif
