/*
 * test_date.c - dates and send times: impossible fields are refused,
 * naming the field, never carried into the next day or month; zones,
 * offsets and clock changes.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"

static void
expect_time(const char *text, const char *utc)
{
	struct buf err = BUF_INIT;
	char got[32];
	time_t when;

	ck_assert_msg(date_parse_time(text, &when, &err) == 0, "%s: %s", text,
	    buf_str(&err));
	date_format_utc(when, got);
	ck_assert_msg(strcmp(got, utc) == 0, "%s: got %s, want %s", text, got,
	    utc);
	buf_free(&err);
}

static void
expect_refused(const char *text, const char *reason)
{
	struct buf err = BUF_INIT;
	time_t when;

	ck_assert_msg(date_parse_time(text, &when, &err) != 0,
	    "%s: accepted", text);
	ck_assert_msg(strstr(buf_str(&err), reason) != NULL, "%s: \"%s\" "
	    "does not say \"%s\"", text, buf_str(&err), reason);
	buf_free(&err);
}

START_TEST(send_times)
{
	expect_time("2030-01-01 10:00 UTC", "2030-01-01 10:00:00");
	expect_time("2030-01-01 10:00:59 Z", "2030-01-01 10:00:59");
	expect_time("2030-01-01T10:00Z", "2030-01-01 10:00:00");
	expect_time("2030-01-01 10:00 +02:00", "2030-01-01 08:00:00");
	expect_time("2030-01-01 10:00 -0130", "2030-01-01 11:30:00");
	expect_time("2099-01-01 09:00 Europe/Paris", "2099-01-01 08:00:00");
	expect_time("2099-07-01 09:00 Europe/Paris", "2099-07-01 07:00:00");
	expect_time("2028-02-29 UTC", "2028-02-29 00:00:00");
	expect_time("2030-1-2 3:04 UTC", "2030-01-02 03:04:00");
}
END_TEST

START_TEST(impossible_fields_are_named)
{
	expect_refused("2030-02-30 10:00 UTC", "day 30 does not exist in "
	    "February 2030 (it has 28 days)");
	expect_refused("2029-02-29", "day 29 does not exist in February 2029");
	expect_refused("2030-04-31 UTC", "day 31 does not exist in April");
	expect_refused("2030-01-01 10:00:61", "second 61 does not exist");
	expect_refused("2030-01-01 25:00", "hour 25 does not exist");
	expect_refused("2030-01-01 10:60 UTC", "minute 60 does not exist");
	expect_refused("2030-13-01", "month 13 does not exist");
	expect_refused("2030-00-10", "month 0 does not exist");
	expect_refused("2030-01-00", "day 0 does not exist");
	expect_refused("2030-01-01 10", "expected the time of day as HH:MM");
	expect_refused("2030-01-01 10:0", "expected the time of day");
	expect_refused("tomorrow", "expected \"now\" or YYYY-MM-DD");
	expect_refused("2030-01-01 10:00 Mars/Base", "unknown time zone "
	    "\"Mars/Base\"");
	expect_refused("2030-01-01 10:00 ../../etc/passwd", "unknown time "
	    "zone");
	expect_refused("2030-01-01 10:00 +15:00", "out of range");
	/* Paris skips 02:00-03:00 on the last Sunday of March. */
	expect_refused("2030-03-31 02:30 Europe/Paris", "02:30 does not exist "
	    "on that day in Europe/Paris");
}
END_TEST

START_TEST(calendar_dates)
{
	struct buf why = BUF_INIT;

	ck_assert(date_valid("2028-02-29"));
	ck_assert(!date_valid("2030-02-29"));
	ck_assert(!date_valid("2030-2-28"));
	ck_assert(!date_valid("2030-02-28x"));
	ck_assert(date_check("2030-02-30", &why) != 0);
	ck_assert_str_eq(buf_str(&why), "day 30 does not exist in February "
	    "2030 (it has 28 days)");
	buf_free(&why);
}
END_TEST

START_TEST(days_before_stays_in_range)
{
	char out[16];

	ck_assert_int_eq(date_days_before("2026-03-01", 1, out), 0);
	ck_assert_str_eq(out, "2026-02-28");
	ck_assert_int_eq(date_days_before("2026-03-01", 0, out), 0);
	ck_assert_str_eq(out, "2026-03-01");
	ck_assert_int_eq(date_days_before("2026-03-01", DATE_DAYS_BEFORE_MAX,
	    out), 0);
	/* Beyond the range (days * 86400 would overflow): refused. */
	ck_assert_int_eq(date_days_before("2026-03-01", LONG_MAX, out), -1);
	ck_assert_int_eq(date_days_before("2026-03-01",
	    DATE_DAYS_BEFORE_MAX + 1, out), -1);
	ck_assert_int_eq(date_days_before("2026-03-01", -1, out), -1);
}
END_TEST

START_TEST(now_is_now)
{
	struct buf err = BUF_INIT;
	time_t before = time(NULL), when;

	ck_assert(date_parse_time("now", &when, &err) == 0);
	ck_assert(when >= before && when <= time(NULL));
	buf_free(&err);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("date");
	TCase *tc = tcase_create("date");
	SRunner *runner;
	int failed;

	tcase_add_test(tc, send_times);
	tcase_add_test(tc, impossible_fields_are_named);
	tcase_add_test(tc, calendar_dates);
	tcase_add_test(tc, days_before_stays_in_range);
	tcase_add_test(tc, now_is_now);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_set_fork_status(runner, CK_NOFORK);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
