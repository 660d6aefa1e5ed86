/*
 * delaycurve.c - the share of conversions arrived by a given age of a
 * mailing's messages (see delaycurve.h).
 */
#include "delaycurve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
delay_curve_default(struct delay_curve *curve, long horizon)
{
	curve->delays = NULL;
	curve->count = 0;
	curve->horizon = horizon;
}

static int
delay_compare(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

int
delay_curve_from_delays(struct delay_curve *curve, const long *delays,
    size_t n, long horizon)
{
	size_t kept = 0;

	delay_curve_default(curve, horizon);
	if (n == 0)
		return 0;
	curve->delays = xcalloc(n, sizeof(*curve->delays));
	for (size_t i = 0; i < n; i++)
		if (delays[i] >= 0 && delays[i] <= horizon)
			curve->delays[kept++] = delays[i];
	if (kept < DELAY_CURVE_MIN_CONVERSIONS) {
		delay_curve_free(curve);
		return 0;
	}
	qsort(curve->delays, kept, sizeof(*curve->delays), delay_compare);
	curve->count = kept;
	return 1;
}

int
delay_curve_is_history(const struct delay_curve *curve)
{
	return curve->delays != NULL;
}

/* How many sorted delays are <= age: the first index above it. */
static size_t
delay_curve_at_most(const struct delay_curve *curve, double age)
{
	size_t low = 0, high = curve->count;

	while (low < high) {
		size_t mid = low + (high - low) / 2;

		if ((double)curve->delays[mid] <= age)
			low = mid + 1;
		else
			high = mid;
	}
	return low;
}

double
delay_curve_share(const struct delay_curve *curve, double age)
{
	if (age < 0)
		return 0;
	if (age >= (double)curve->horizon)
		return 1;
	if (curve->delays == NULL)
		return 1 - pow(2, -age / DELAY_CURVE_HALF_LIFE);
	return (double)delay_curve_at_most(curve, age) /
	    (double)curve->count;
}

double
delay_curve_arrived(const struct delay_curve *curve, const double *ages,
    const unsigned long long *counts, size_t n)
{
	double arrived = 0;

	for (size_t i = 0; i < n; i++)
		arrived += (double)counts[i] * delay_curve_share(curve,
		    ages[i]);
	return arrived;
}

void
delay_curve_free(struct delay_curve *curve)
{
	free(curve->delays);
	curve->delays = NULL;
	curve->count = 0;
}
