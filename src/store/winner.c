/*
 * winner.c - the winner of a test cell (see winner.h for the rule).
 */
#include "winner.h"

#include <math.h>
#include <string.h>

static const char *const winner_metric_names[] = {
	[WINNER_CLICKS] = "clicks",
	[WINNER_CONVERSIONS] = "conversions",
	[WINNER_REVENUE] = "revenue",
};

const char *
winner_metric_name(enum winner_metric metric)
{
	return winner_metric_names[metric];
}

int
winner_metric_parse(const char *name, enum winner_metric *metric)
{
	for (unsigned i = 0; i < sizeof(winner_metric_names) /
	    sizeof(winner_metric_names[0]); i++)
		if (strcmp(name, winner_metric_names[i]) == 0) {
			*metric = (enum winner_metric)i;
			return 0;
		}
	return -1;
}

/* The metric's count for proportions; revenue is not one. */
static uint64_t
winner_events(enum winner_metric metric, const struct winner_figures *f)
{
	return metric == WINNER_CLICKS ? f->clickers : f->converters;
}

double
winner_rate(enum winner_metric metric, const struct winner_figures *f)
{
	if (f->delivered == 0)
		return 0;
	if (metric == WINNER_REVENUE)
		return f->revenue / (double)f->delivered;
	return (double)winner_events(metric, f) / (double)f->delivered;
}

/* Revenue's variance per message (sample), or -1 when unknown. */
static double
winner_revenue_variance(const struct winner_figures *f)
{
	double n = (double)f->delivered, mean;

	if (f->delivered < 2 || (f->revenue > 0 && f->revenue_squares <= 0))
		return -1;
	mean = f->revenue / n;
	return fmax(0, (f->revenue_squares - n * mean * mean) / (n - 1));
}

double
winner_z(enum winner_metric metric, const struct winner_figures *a,
    const struct winner_figures *b)
{
	double na = (double)a->delivered, nb = (double)b->delivered, se;

	if (a->delivered == 0 || b->delivered == 0)
		return 0;
	if (metric == WINNER_REVENUE) {
		double va = winner_revenue_variance(a),
		    vb = winner_revenue_variance(b);

		if (va < 0 || vb < 0)
			return 0;
		se = sqrt(va / na + vb / nb);
	} else {
		double pooled = (double)(winner_events(metric, a) +
		    winner_events(metric, b)) / (na + nb);

		se = sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb));
	}
	if (!(se > 0))
		return 0;
	return (winner_rate(metric, a) - winner_rate(metric, b)) / se;
}

static void
winner_describe(enum winner_metric metric, const struct winner_figures *f,
    unsigned count, struct buf *why)
{
	buf_printf(why, "%s per message delivered:", winner_metric_name(metric));
	for (unsigned i = 0; i < count; i++) {
		if (metric == WINNER_REVENUE)
			buf_printf(why, "%s %s %.2f/%llu = %.4f", i ? "," : "",
			    f[i].name, f[i].revenue,
			    (unsigned long long)f[i].delivered,
			    winner_rate(metric, &f[i]));
		else
			buf_printf(why, "%s %s %llu/%llu = %.2f%%", i ? "," : "",
			    f[i].name, (unsigned long long)winner_events(metric,
			    &f[i]), (unsigned long long)f[i].delivered,
			    100 * winner_rate(metric, &f[i]));
	}
}

int
winner_choose(enum winner_metric metric,
    const struct winner_figures *figures, unsigned count, int wait_over,
    unsigned *winner, struct buf *why)
{
	unsigned leader = 0, rival = 0, enough = 1;
	double z = INFINITY;

	if (count == 0) {
		buf_append_str(why, "no variant to choose from");
		return -1;
	}
	for (unsigned i = 1; i < count; i++)
		if (winner_rate(metric, &figures[i]) >
		    winner_rate(metric, &figures[leader]))
			leader = i;
	for (unsigned i = 0; i < count; i++) {
		double zi;

		if (figures[i].delivered < WINNER_EARLY_MIN_DELIVERED)
			enough = 0;
		if (i == leader)
			continue;
		zi = winner_z(metric, &figures[leader], &figures[i]);
		if (zi < z) {
			z = zi;
			rival = i;
		}
	}
	winner_describe(metric, figures, count, why);
	if (count == 1) {
		buf_printf(why, "; %s is the only variant", figures[0].name);
		*winner = 0;
		return 1;
	}
	buf_printf(why, "; %s leads, z = %.2f over %s", figures[leader].name,
	    z, figures[rival].name);
	if (!wait_over && !(enough && z >= WINNER_EARLY_Z)) {
		buf_printf(why, "; too early: before the wait ends a winner "
		    "needs z >= %.2f over every other variant and %d messages "
		    "delivered to each", WINNER_EARLY_Z,
		    WINNER_EARLY_MIN_DELIVERED);
		return 0;
	}
	if (wait_over)
		buf_printf(why, "; the wait is over: %s wins",
		    figures[leader].name);
	else
		buf_printf(why, "; %s wins before the wait ends (z >= %.2f, "
		    "at least %d delivered to each)", figures[leader].name,
		    WINNER_EARLY_Z, WINNER_EARLY_MIN_DELIVERED);
	*winner = leader;
	return 1;
}
