/*
 * winner.h - choosing the winning variant of a mailing's test cell from
 * per-variant figures.
 *
 * A test phase sends the variants to a test share of the recipients
 * first; after the wait, the winner goes to the rest. This module only
 * decides, from figures its caller gathers (delivered messages, unique
 * clickers, unique converters, revenue per variant): it reads nothing
 * and writes nothing, so the rule is tested on its own
 * (tests/unit/test_winner.c). testphase.c gathers the figures from
 * the test cell and calls it from heraldd's monitor.
 *
 * The rule. Each variant's rate is its metric per delivered message:
 * clickers / delivered, converters / delivered, or revenue / delivered.
 *
 *   - When the wait is over, the variant with the highest rate wins,
 *     significant or not (the wait is the operator's budget for the
 *     test). Equal rates go to the variant listed first, which the
 *     caller makes A, the mailing's own content: with no difference,
 *     nothing changes.
 *   - Before that, a variant wins early only when it beats every other
 *     one with z >= WINNER_EARLY_Z (3.29, a two-sided p below 0.001) and
 *     every variant has at least WINNER_EARLY_MIN_DELIVERED messages
 *     delivered. For clicks and conversions z is the two-proportion test
 *     with a pooled proportion; for revenue it is Welch's test on the
 *     mean revenue per message, which needs each variant's sum of squared
 *     revenue per recipient (revenue_squares): without it revenue never
 *     ends early. The threshold is strict because the check runs every
 *     minute: looking again and again at a 5% level would pick a winner
 *     by chance far more often than 5% of the time. Checks at a fixed
 *     p < 0.001 before the end, and no test at the end, is the
 *     Haybittle-Peto rule of interim analyses.
 */
#ifndef HERALD_WINNER_H
#define HERALD_WINNER_H

#include <stdint.h>

#include "buf.h"

#define WINNER_EARLY_Z 3.29
#define WINNER_EARLY_MIN_DELIVERED 1000

enum winner_metric {
	WINNER_CLICKS,
	WINNER_CONVERSIONS,
	WINNER_REVENUE,
};

/* "clicks", "conversions", "revenue". */
const char *winner_metric_name(enum winner_metric metric);

/* The metric named name: 0, or -1 when there is none by that name. */
int winner_metric_parse(const char *name, enum winner_metric *metric);

/* One variant's figures in the test cell. */
struct winner_figures {
	const char *name;		/* "A", "B", ... for the explanation */
	uint64_t delivered;		/* messages sent */
	uint64_t clickers;		/* recipients who clicked at least once */
	uint64_t converters;		/* recipients who converted */
	double revenue;			/* total */
	double revenue_squares;		/* sum over recipients of the square
					 * of each one's revenue; 0: unknown */
};

/* f's rate: its metric per message delivered; 0 with none delivered. */
double winner_rate(enum winner_metric metric, const struct winner_figures *f);

/*
 * z of a's rate over b's, as the rule computes it; 0 when the figures
 * cannot tell them apart (nothing delivered, no variance, revenue's
 * squares unknown).
 */
double winner_z(enum winner_metric metric, const struct winner_figures *a,
    const struct winner_figures *b);

/*
 * Decides among count variants (A first). wait_over: the test's wait has
 * ended. Returns 1 with *winner (an index into figures) when decided, 0
 * when it is too early to tell, -1 when the figures cannot decide
 * (count 0). why gets one line, for the log, "mailing show" and "herald
 * report": the rate of each variant, the z of the leader against its
 * closest rival, and the decision.
 */
int winner_choose(enum winner_metric metric,
    const struct winner_figures *figures, unsigned count, int wait_over,
    unsigned *winner, struct buf *why);

#endif
