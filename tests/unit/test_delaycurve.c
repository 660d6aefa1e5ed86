/*
 * test_delaycurve.c - unit tests of src/store/delaycurve.c: a history
 * curve from a known set of past delays (shares worked out by hand,
 * delays outside the horizon left out, order not mattering), too short
 * a history falling back to the default curve, the default curve's
 * half-life, and the arrived messages of a histogram of ages.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "delaycurve.h"

#define DAY 86400L
#define WEEK (7 * DAY)

/*
 * A known history of 100 conversions (plus two the horizon leaves out),
 * in no particular order: 50 came a minute after delivery, 30 an hour
 * after, 20 a day after.
 */
static size_t
known_history(long *delays)
{
	size_t n = 0;

	for (int i = 0; i < 100; i++)
		delays[n++] = i % 10 < 5 ? 60 : i % 10 < 8 ? 3600 : DAY;
	delays[n++] = -5;		/* before the delivery: not ours */
	delays[n++] = WEEK + 1;		/* past the window: not attributed */
	/* Reversed halves: the order they come in must not matter. */
	for (size_t i = 0; i < n / 2; i++) {
		long t = delays[i];

		delays[i] = delays[n - 1 - i];
		delays[n - 1 - i] = t;
	}
	return n;
}

START_TEST(history_curve_is_the_share_of_delays_at_most_the_age)
{
	long delays[102];
	size_t n = known_history(delays);
	struct delay_curve c;

	ck_assert_int_eq(delay_curve_from_delays(&c, delays, n, WEEK), 1);
	ck_assert(delay_curve_is_history(&c));
	ck_assert_uint_eq(c.count, 100);
	ck_assert_double_eq(delay_curve_share(&c, -1), 0);
	ck_assert_double_eq(delay_curve_share(&c, 0), 0);
	ck_assert_double_eq(delay_curve_share(&c, 59), 0);
	ck_assert_double_eq_tol(delay_curve_share(&c, 60), 0.5, 1e-12);
	ck_assert_double_eq_tol(delay_curve_share(&c, 3599), 0.5, 1e-12);
	ck_assert_double_eq_tol(delay_curve_share(&c, 3600), 0.8, 1e-12);
	ck_assert_double_eq_tol(delay_curve_share(&c, DAY - 1), 0.8, 1e-12);
	ck_assert_double_eq_tol(delay_curve_share(&c, DAY), 1, 1e-12);
	ck_assert_double_eq(delay_curve_share(&c, WEEK), 1);
	delay_curve_free(&c);
	ck_assert(!delay_curve_is_history(&c));
}
END_TEST

START_TEST(too_short_a_history_gives_the_default_curve)
{
	long delays[DELAY_CURVE_MIN_CONVERSIONS + 1];
	struct delay_curve c;

	for (int i = 0; i < DELAY_CURVE_MIN_CONVERSIONS; i++)
		delays[i] = 60;
	delays[DELAY_CURVE_MIN_CONVERSIONS] = WEEK + 60;	/* dropped */
	ck_assert_int_eq(delay_curve_from_delays(&c, delays,
	    DELAY_CURVE_MIN_CONVERSIONS - 1, WEEK), 0);
	ck_assert(!delay_curve_is_history(&c));
	ck_assert_int_eq(delay_curve_from_delays(&c, delays,
	    DELAY_CURVE_MIN_CONVERSIONS + 1, WEEK), 1);
	ck_assert_uint_eq(c.count, DELAY_CURVE_MIN_CONVERSIONS);
	delay_curve_free(&c);
	ck_assert_int_eq(delay_curve_from_delays(&c, delays, 0, WEEK), 0);
}
END_TEST

START_TEST(default_curve_halves_every_six_hours)
{
	struct delay_curve c;

	delay_curve_default(&c, WEEK);
	ck_assert_double_eq(delay_curve_share(&c, 0), 0);
	ck_assert_double_eq_tol(delay_curve_share(&c, 6 * 3600), 0.5, 1e-12);
	ck_assert_double_eq_tol(delay_curve_share(&c, 12 * 3600), 0.75,
	    1e-12);
	ck_assert_double_eq_tol(delay_curve_share(&c, 18 * 3600), 0.875,
	    1e-12);
	ck_assert_double_eq_tol(delay_curve_share(&c, 1800),
	    1 - pow(2, -1.0 / 12), 1e-12);
	ck_assert_double_eq(delay_curve_share(&c, WEEK), 1);
	/* A short window: everything is in by its end. */
	delay_curve_default(&c, 3600);
	ck_assert_double_eq(delay_curve_share(&c, 3600), 1);
}
END_TEST

START_TEST(arrived_weighs_each_age_group)
{
	long delays[102];
	size_t n = known_history(delays);
	struct delay_curve c;
	const double ages[3] = { 30, 4000, 2 * DAY };
	const unsigned long long counts[3] = { 100, 10, 5 };

	ck_assert_int_eq(delay_curve_from_delays(&c, delays, n, WEEK), 1);
	/* 100 * 0 + 10 * 0.8 + 5 * 1 */
	ck_assert_double_eq_tol(delay_curve_arrived(&c, ages, counts, 3), 13,
	    1e-9);
	/* Revenue 26 among those 115 delivered projects 2,000 per 1,000:
	 * 26 * 1000 / 13. */
	ck_assert_double_eq_tol(26 * 1000 / delay_curve_arrived(&c, ages,
	    counts, 3), 2000, 1e-9);
	ck_assert_double_eq(delay_curve_arrived(&c, ages, counts, 0), 0);
	delay_curve_free(&c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("delaycurve");
	TCase *tc = tcase_create("delaycurve");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, history_curve_is_the_share_of_delays_at_most_the_age);
	tcase_add_test(tc, too_short_a_history_gives_the_default_curve);
	tcase_add_test(tc, default_curve_halves_every_six_hours);
	tcase_add_test(tc, arrived_weighs_each_age_group);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
