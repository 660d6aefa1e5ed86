/*
 * pull.h - the value check: projecting a sending mailing's revenue and
 * pulling the mailing when the projection falls short of its expected
 * value.
 *
 * A mailing's expected value (herald mailing create --expected-value)
 * is the revenue it should bring in per 1,000 messages delivered. Once
 * it has its sample (pull_min_delivered delivered, the first of them
 * pull_min_age ago), heraldd's monitor runs pull_run() every
 * pull_check_interval:
 *
 *	revenue      the amounts of the conversions attributed to the
 *	             mailing so far (conversion.h)
 *	arrived      for each message delivered, the share of its eventual
 *	             conversions that should have come in by its age
 *	             (delaycurve.h: the sender's history, or the default
 *	             curve), summed: the messages "fully counted" so far
 *	projected    revenue * 1,000 / arrived: revenue per 1,000
 *	             delivered once every conversion is in
 *
 * A projection below pull_threshold of the expected value pulls the
 * mailing (mailing.h: its batches are claimed no more), with the
 * figures as its reason; every check's figures are logged and kept on
 * the mailing (herald mailing show, herald status), and herald report
 * computes the same projection per variant.
 *
 * Several nodes may check at once: one conditional UPDATE (pull_check
 * from watched to pulled, in the transaction that moves the state)
 * decides, so a mailing is pulled and logged once. "herald mailing
 * resume" refuses a mailing the check pulled; "resume --force" sends it
 * on and exempts it from the check for good (the operator has overruled
 * the projection; checking again would pull it at once).
 *
 * Functions return 0, or -1 with a sentence in err.
 */
#ifndef HERALD_PULL_H
#define HERALD_PULL_H

#include <mysql.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "delaycurve.h"

/* The projection of one variant, or of the whole mailing. */
struct pull_cell {
	long long variant;		/* its variant_id; -1: the mailing */
	char name[101];			/* the variant's name, or "all" */
	unsigned long long delivered, conversions;
	double revenue;
	double arrived;			/* messages whose conversions
					 * should be in (see above) */
	long long age;			/* seconds since its first delivery */
};

/* A mailing's projection: each variant that delivered, then the whole
 * mailing (always last, also when nothing was delivered). */
struct pull_projection {
	struct pull_cell *cells;
	unsigned count;
	double expected;		/* per 1,000 delivered; < 0: none */
};

/*
 * The delay curve from the sender's history: the delays of the latest
 * conversions (at most 20,000) attributed to mailings done for longer
 * than attribution_window (their conversions are all in), else the
 * default curve. *mailings gets how many mailings they came from.
 * delay_curve_free() frees it.
 */
int pull_curve_read(MYSQL *db, const struct herald_config *cfg,
    struct delay_curve *curve, unsigned *mailings, struct buf *err);

/*
 * Projects mailing, whose rows are in table (its stage table or
 * archive, checked here), under curve. pull_projection_free() frees p.
 */
int pull_project(MYSQL *db, const struct delay_curve *curve,
    uint64_t mailing, const char *table, struct pull_projection *p,
    struct buf *err);

/* The projected revenue per 1,000 delivered; < 0 when nothing should
 * have arrived yet (no projection). */
double pull_projected(const struct pull_cell *cell);

/* The whole mailing's cell. */
const struct pull_cell *pull_whole(const struct pull_projection *p);

void pull_projection_free(struct pull_projection *p);

/*
 * The monitor's check: every sending mailing with an expected value and
 * its sample is projected, its figures logged and kept, and the ones
 * below pull_threshold pulled.
 */
int pull_run(MYSQL *db, const struct herald_config *cfg, struct buf *err);

/*
 * "herald mailing resume [--force] ID": refuses, changing nothing, a
 * mailing the value check pulled unless force; else resumes it
 * (mailing_request()) and, with force, exempts it from the check.
 */
int pull_resume(MYSQL *db, uint64_t id, int force, char stage_table[65],
    struct buf *err);

#endif
