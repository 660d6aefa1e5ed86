/*
 * delaycurve.h - how conversions arrive after delivery: the share of a
 * mailing's eventual conversions that has come in by a given age of its
 * messages.
 *
 * A mailing's revenue so far understates what it will bring in: most
 * of its conversions are still to come. The curve F(age) says what
 * share of them should have arrived by the time a message is age
 * seconds old; dividing the revenue so far by the share expected to
 * have arrived projects the mailing's revenue (pull.h).
 *
 * Two curves:
 *
 *	history  the empirical distribution of the delays (conversion
 *	         time minus the delivery of the converting recipient's
 *	         message) of this sender's past conversions:
 *	         F(age) = delays <= age / all delays. pull.c gathers them;
 *	         this module takes them as numbers. At least
 *	         DELAY_CURVE_MIN_CONVERSIONS are needed: fewer describe
 *	         noise, not a sender.
 *	default  when there is no such history: an exponential arrival
 *	         with a half-life of DELAY_CURVE_HALF_LIFE (6 hours),
 *	         F(age) = 1 - 2^(-age / 6 h): a quarter of the conversions
 *	         in the first 2.5 hours, half in 6, seven eighths in 18,
 *	         nearly all (98.4%) in a day and a half. It is herald's
 *	         assumption, not a measurement: email responses are known
 *	         to bunch in the hours after delivery and thin out within a
 *	         day or two, and a slow half-life errs on the side of
 *	         projecting more, so a young mailing is not pulled on a
 *	         curve faster than the truth. The first sender history
 *	         replaces it.
 *
 * Either way, conversions count only within attribution_window of the
 * delivery (conversion.h), so F reaches 1 at that horizon.
 *
 * Pure: nothing here reads or writes the database, so the curve is
 * tested on its own (tests/unit/test_delaycurve.c).
 */
#ifndef HERALD_DELAYCURVE_H
#define HERALD_DELAYCURVE_H

#include <stddef.h>

/* Fewer past conversions than this and the default curve is used. */
#define DELAY_CURVE_MIN_CONVERSIONS 50

/* The default curve's half-life, in seconds. */
#define DELAY_CURVE_HALF_LIFE (6 * 3600)

struct delay_curve {
	long *delays;		/* sorted, seconds; NULL: the default curve */
	size_t count;
	long horizon;		/* attribution_window: F = 1 from here on */
};

/* The default curve, arrived in full at horizon seconds. */
void delay_curve_default(struct delay_curve *curve, long horizon);

/*
 * The history curve from the delays of n past conversions (seconds,
 * any order); delays below 0 or above horizon are left out (a
 * conversion is attributed only within the horizon). With fewer than
 * DELAY_CURVE_MIN_CONVERSIONS left, the default curve. Returns 1 for a
 * history curve, 0 for the default. delay_curve_free() frees it.
 */
int delay_curve_from_delays(struct delay_curve *curve, const long *delays,
    size_t n, long horizon);

/* 1 when the curve comes from history, 0 for the default. */
int delay_curve_is_history(const struct delay_curve *curve);

/* F(age): the share (0 to 1) of conversions arrived by age seconds. */
double delay_curve_share(const struct delay_curve *curve, double age);

/*
 * Delivered messages in n groups, group i holding counts[i] messages
 * about ages[i] seconds old: the number of those messages whose
 * conversions should have arrived, sum of counts[i] * F(ages[i]). The
 * projected revenue is the revenue so far times delivered / this.
 */
double delay_curve_arrived(const struct delay_curve *curve,
    const double *ages, const unsigned long long *counts, size_t n);

/* Frees what delay_curve_from_delays() took; the curve is the
 * default one afterwards. */
void delay_curve_free(struct delay_curve *curve);

#endif
