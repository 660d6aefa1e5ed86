/*
 * brake.h - pulling a mailing whose complaints or hard bounces run too
 * high.
 *
 * After herald feedback records a complaint or a hard bounce, it asks
 * brake_check() about the mailing. Over the sliding window of the last
 * brake_window seconds (or since the mailing was last resumed, when that
 * is later), it counts:
 *
 *	delivered    the mailing's messages the relay accepted in the window
 *	             (stage rows sent or since bounced, by delivered_at)
 *	complaints   complaints recorded in the window
 *	hard bounces hard bounces recorded in the window
 *
 * When delivered >= brake_min_delivered and either kind has at least
 * brake_min_events events and a rate (events / delivered) above its
 * limit (brake_complaint_rate, brake_bounce_rate), a mailing that is
 * ready, sending or blocked moves to pulled (mailing.h) with the reason
 * kept (pulled_reason, shown by herald status and herald mailing show):
 * workers claim no more of its batches. "herald mailing resume" makes
 * it ready again and re-arms the brake from that moment, so the events
 * that pulled it do not pull it again.
 *
 * The minimum volumes keep the brake from acting on noise: 5 complaints
 * in the first 200 messages say little, and a single bounce of the
 * first message is 100%.
 */
#ifndef HERALD_BRAKE_H
#define HERALD_BRAKE_H

#include <mysql.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

/* What the window holds, and what the brake did. */
struct brake_window {
	unsigned long long delivered, complaints, hard_bounces;
	int pulled;		/* 1: the mailing was pulled now */
};

/*
 * Checks mailing against the limits and pulls it when they are passed;
 * reason gets the sentence kept on the mailing (empty when not pulled).
 * A mailing that is not sending is left alone. 0, or -1 with err.
 */
int brake_check(MYSQL *db, const struct herald_config *cfg,
    uint64_t mailing, struct brake_window *window, struct buf *reason,
    struct buf *err);

#endif
