/*
 * test_testphase.c - unit tests of the pure parts of the test phase
 * (src/store/testphase.c, winner.c's exported rate and z): --test-wait
 * with its units and limits, its formatting back, the test cell's size
 * (variant_cut of the test share, the figure the stager and the SQL
 * agree on), the state names shown, and the z recorded per variant.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testphase.h"
#include "variant.h"

static void
wait_ok(const char *text, unsigned long want)
{
	struct buf why = BUF_INIT;
	unsigned long seconds = 0;

	ck_assert_msg(test_phase_wait_parse(text, &seconds, &why) == 0,
	    "%s: %s", text, buf_str(&why));
	ck_assert_uint_eq(seconds, want);
	buf_free(&why);
}

static void
wait_refused(const char *text, const char *want)
{
	struct buf why = BUF_INIT;
	unsigned long seconds = 12345;

	ck_assert_int_eq(test_phase_wait_parse(text, &seconds, &why), -1);
	ck_assert_msg(strstr(buf_str(&why), want) != NULL, "\"%s\" not in "
	    "\"%s\"", want, buf_str(&why));
	ck_assert_uint_eq(seconds, 12345);
	buf_free(&why);
}

START_TEST(waits_take_seconds_minutes_hours)
{
	wait_ok("90s", 90);
	wait_ok("30m", 1800);
	wait_ok("2h", 7200);
	wait_ok("720h", 30UL * 86400);
	wait_refused("721h", "at most 720h (30 days)");
	wait_refused("0s", "more than 0");
	wait_refused("2", "expected a whole number of seconds, minutes or hours");
	wait_refused("2d", "such as 90s, 30m or 2h");
	wait_refused("h", "\"h\": expected");
	wait_refused("1.5h", "expected");
	wait_refused("-5s", "expected");
	wait_refused("5ss", "expected");
	wait_refused("", "expected");
	wait_refused("9999999999s", "expected");
}
END_TEST

START_TEST(waits_format_in_their_largest_unit)
{
	static const struct {
		unsigned long seconds;
		const char *text;
	} cases[] = { { 7200, "2h" }, { 1800, "30m" }, { 90, "90s" },
	    { 3660, "61m" }, { 3601, "3601s" } };

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out = BUF_INIT;

		test_phase_wait_format(cases[i].seconds, &out);
		ck_assert_str_eq(buf_str(&out), cases[i].text);
		buf_free(&out);
	}
}
END_TEST

START_TEST(the_test_cell_is_the_share_rounded_down)
{
	/* The stager's count and SQL's FLOOR(N * share / 10000). */
	ck_assert_uint_eq(variant_cut(300, 4000), 120);
	ck_assert_uint_eq(variant_cut(301, 4000), 120);
	ck_assert_uint_eq(variant_cut(303, 2000), 60);
	ck_assert_uint_eq(variant_cut(4, 2000), 0);
	ck_assert_uint_eq(variant_cut(2600, 10000), 2600);
}
END_TEST

START_TEST(states_have_names)
{
	ck_assert_str_eq(test_phase_state_name(TEST_PHASE_TESTING), "testing");
	ck_assert_str_eq(test_phase_state_name(TEST_PHASE_WAITING), "waiting");
	ck_assert_str_eq(test_phase_state_name(TEST_PHASE_DECIDED), "decided");
	ck_assert_str_eq(test_phase_state_name(TEST_PHASE_UNSTAGED),
	    "to be staged");
}
END_TEST

START_TEST(rates_and_z_as_the_rule_computes_them)
{
	const struct winner_figures a = { .name = "A", .delivered = 5000,
	    .clickers = 120 }, b = { .name = "B", .delivered = 5000,
	    .clickers = 180 }, none = { .name = "C" };

	ck_assert(fabs(winner_rate(WINNER_CLICKS, &b) - 0.036) < 1e-12);
	/* By hand: pooled 0.03, se sqrt(.03 * .97 * 2 / 5000). */
	ck_assert(fabs(winner_z(WINNER_CLICKS, &b, &a) - 3.5173) < 1e-4);
	ck_assert(fabs(winner_z(WINNER_CLICKS, &a, &b) + 3.5173) < 1e-4);
	ck_assert(winner_z(WINNER_CLICKS, &b, &none) == 0);
	ck_assert(winner_rate(WINNER_CLICKS, &none) == 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("testphase");
	TCase *tc = tcase_create("testphase");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, waits_take_seconds_minutes_hours);
	tcase_add_test(tc, waits_format_in_their_largest_unit);
	tcase_add_test(tc, the_test_cell_is_the_share_rounded_down);
	tcase_add_test(tc, states_have_names);
	tcase_add_test(tc, rates_and_z_as_the_rule_computes_them);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
