/*
 * test_winner.c - unit tests of src/store/winner.c: the leader by rate, the z
 * values against figures worked out by hand (two-proportion and Welch),
 * an early win only when significant over every other variant with
 * enough messages, any lead winning once the wait is over, A winning
 * ties, revenue ending early only with its squares.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "winner.h"

/* Runs winner_choose, checks its result and that why says want. */
static unsigned
choose(enum winner_metric metric, const struct winner_figures *f,
    unsigned count, int wait_over, int want_status, const char *want)
{
	struct buf why = BUF_INIT;
	unsigned winner = 99;
	int status = winner_choose(metric, f, count, wait_over, &winner, &why);

	ck_assert_msg(status == want_status, "status %d, want %d: %s", status,
	    want_status, buf_str(&why));
	ck_assert_msg(strstr(buf_str(&why), want) != NULL, "\"%s\" not in "
	    "\"%s\"", want, buf_str(&why));
	if (status != 1)
		ck_assert_uint_eq(winner, 99);
	buf_free(&why);
	return winner;
}

START_TEST(metrics_have_names)
{
	enum winner_metric m;

	for (int i = WINNER_CLICKS; i <= WINNER_REVENUE; i++) {
		ck_assert_int_eq(winner_metric_parse(winner_metric_name(
		    (enum winner_metric)i), &m), 0);
		ck_assert_int_eq(m, i);
	}
	ck_assert_int_eq(winner_metric_parse("opens", &m), -1);
	ck_assert_int_eq(winner_metric_parse("Clicks", &m), -1);
}
END_TEST

START_TEST(a_clear_lead_wins_early)
{
	/* z = 3.5173 by hand: pooled 0.03, se sqrt(.03 * .97 * 2/5000). */
	const struct winner_figures f[] = {
		{ .name = "A", .delivered = 5000, .clickers = 120 },
		{ .name = "B", .delivered = 5000, .clickers = 180 },
	};

	ck_assert_uint_eq(choose(WINNER_CLICKS, f, 2, 0, 1,
	    "clicks per message delivered: A 120/5000 = 2.40%, B 180/5000 = "
	    "3.60%; B leads, z = 3.52 over A; B wins before the wait ends"),
	    1);
}
END_TEST

START_TEST(a_modest_lead_waits_then_wins)
{
	/* z = 1.85 by hand: not before the wait ends, yes after. */
	const struct winner_figures f[] = {
		{ .name = "A", .delivered = 5000, .converters = 120 },
		{ .name = "B", .delivered = 5000, .converters = 150 },
	};

	choose(WINNER_CONVERSIONS, f, 2, 0, 0, "B leads, z = 1.85 over A; "
	    "too early");
	ck_assert_uint_eq(choose(WINNER_CONVERSIONS, f, 2, 1, 1,
	    "the wait is over: B wins"), 1);
}
END_TEST

START_TEST(small_samples_never_end_early)
{
	const struct winner_figures f[] = {
		{ .name = "A", .delivered = 999, .clickers = 0 },
		{ .name = "B", .delivered = 999, .clickers = 500 },
	};

	choose(WINNER_CLICKS, f, 2, 0, 0, "too early");
	ck_assert_uint_eq(choose(WINNER_CLICKS, f, 2, 1, 1, "B wins"), 1);
}
END_TEST

START_TEST(the_leader_must_beat_every_other_variant)
{
	/* B is far above A but not above C (z = 0.30 by hand). */
	const struct winner_figures f[] = {
		{ .name = "A", .delivered = 5000, .clickers = 100 },
		{ .name = "B", .delivered = 5000, .clickers = 200 },
		{ .name = "C", .delivered = 1000, .clickers = 38 },
	};

	choose(WINNER_CLICKS, f, 3, 0, 0, "B leads, z = 0.30 over C; too "
	    "early");
	ck_assert_uint_eq(choose(WINNER_CLICKS, f, 3, 1, 1, "B wins"), 1);
}
END_TEST

START_TEST(ties_go_to_a)
{
	const struct winner_figures same[] = {
		{ .name = "A", .delivered = 4000, .clickers = 80 },
		{ .name = "B", .delivered = 2000, .clickers = 40 },
	};
	const struct winner_figures nothing[] = {
		{ .name = "A", .delivered = 4000 },
		{ .name = "B", .delivered = 4000 },
		{ .name = "C", .delivered = 0 },
	};

	ck_assert_uint_eq(choose(WINNER_CLICKS, same, 2, 1, 1,
	    "A leads, z = 0.00 over B; the wait is over: A wins"), 0);
	ck_assert_uint_eq(choose(WINNER_REVENUE, nothing, 3, 1, 1,
	    "the wait is over: A wins"), 0);
	choose(WINNER_REVENUE, nothing, 3, 0, 0, "too early");
}
END_TEST

START_TEST(revenue_ends_early_only_with_its_squares)
{
	/* 40 and 80 donations of 50: Welch's z = 3.71 by hand. */
	struct winner_figures f[] = {
		{ .name = "A", .delivered = 2000, .revenue = 2000,
		  .revenue_squares = 100000 },
		{ .name = "B", .delivered = 2000, .revenue = 4000,
		  .revenue_squares = 200000 },
	};

	ck_assert_uint_eq(choose(WINNER_REVENUE, f, 2, 0, 1, "revenue per "
	    "message delivered: A 2000.00/2000 = 1.0000, B 4000.00/2000 = "
	    "2.0000; B leads, z = 3.71 over A; B wins before"), 1);
	f[0].revenue_squares = f[1].revenue_squares = 0;
	choose(WINNER_REVENUE, f, 2, 0, 0, "z = 0.00 over A; too early");
	ck_assert_uint_eq(choose(WINNER_REVENUE, f, 2, 1, 1,
	    "the wait is over: B wins"), 1);
}
END_TEST

START_TEST(one_variant_or_none)
{
	const struct winner_figures f[] = { { .name = "A", .delivered = 3 } };
	struct buf why = BUF_INIT;
	unsigned winner = 99;

	ck_assert_uint_eq(choose(WINNER_CLICKS, f, 1, 0, 1,
	    "A is the only variant"), 0);
	ck_assert_int_eq(winner_choose(WINNER_CLICKS, f, 0, 1, &winner, &why),
	    -1);
	ck_assert_uint_eq(winner, 99);
	buf_free(&why);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("winner");
	TCase *tc = tcase_create("winner");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, metrics_have_names);
	tcase_add_test(tc, a_clear_lead_wins_early);
	tcase_add_test(tc, a_modest_lead_waits_then_wins);
	tcase_add_test(tc, small_samples_never_end_early);
	tcase_add_test(tc, the_leader_must_beat_every_other_variant);
	tcase_add_test(tc, ties_go_to_a);
	tcase_add_test(tc, revenue_ends_early_only_with_its_squares);
	tcase_add_test(tc, one_variant_or_none);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
