/*
 * test_sendwindow.c - send windows and zones: parsing, zone names
 * checked against zoneinfo, local times turned into UTC on ordinary
 * days, on days the clocks skip an hour (DST gap) or repeat one (DST
 * overlap), and the next opening: today, tomorrow, past a weekend,
 * across a clock change, past midnight.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "sendwindow.h"
#include "zone.h"

/* "YYYY-MM-DD HH:MM:SS" UTC as a time_t. */
static time_t
utc(const char *text)
{
	struct buf err = BUF_INIT;
	struct buf with_zone = BUF_INIT;
	time_t t;

	buf_printf(&with_zone, "%s UTC", text);
	ck_assert_msg(date_parse_time(buf_str(&with_zone), &t, &err) == 0,
	    "%s: %s", text, buf_str(&err));
	buf_free(&err);
	buf_free(&with_zone);
	return t;
}

static void
assert_utc(time_t got, const char *want, const char *what)
{
	char text[32];

	date_format_utc(got, text);
	ck_assert_msg(strcmp(text, want) == 0, "%s: got %s, want %s", what,
	    text, want);
}

/* The next opening of window (and days) in zone at now. */
static void
expect_next(const char *zone, const char *window, const char *days,
    const char *now, const char *opens, const char *closes)
{
	struct send_window w;
	struct zone_saved saved;
	struct buf why = BUF_INIT;
	time_t open, close;

	ck_assert_msg(send_window_parse(window, &w, &why) == 0, "%s",
	    buf_str(&why));
	if (days)
		ck_assert_msg(send_window_parse_days(days, &w.days, &why) ==
		    0, "%s", buf_str(&why));
	ck_assert_msg(zone_select(zone, &saved, &why) == 0, "%s",
	    buf_str(&why));
	ck_assert_int_eq(send_window_next(&w, utc(now), &open, &close), 0);
	zone_restore(&saved);
	assert_utc(open, opens, zone);
	assert_utc(close, closes, zone);
	buf_free(&why);
}

START_TEST(windows_parse)
{
	struct send_window w;
	struct buf why = BUF_INIT;

	ck_assert_int_eq(send_window_parse("09:00-11:00", &w, &why), 0);
	ck_assert_int_eq(w.start, 540);
	ck_assert_int_eq(w.end, 660);
	ck_assert_uint_eq(w.days, SEND_WINDOW_ALL_DAYS);
	ck_assert_int_eq(send_window_parse("22:30-24:00", &w, &why), 0);
	ck_assert_int_eq(w.end, 1440);
	ck_assert_int_eq(send_window_parse("9:00-11:00", &w, &why), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&why), "expected HH:MM-HH:MM"));
	buf_reset(&why);
	ck_assert_int_eq(send_window_parse("09:00-25:00", &w, &why), -1);
	ck_assert_int_eq(send_window_parse("09:60-10:00", &w, &why), -1);
	ck_assert_int_eq(send_window_parse("09:00", &w, &why), -1);
	buf_reset(&why);
	ck_assert_int_eq(send_window_parse("10:00-10:00", &w, &why), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&why), "empty"));
	buf_free(&why);
}
END_TEST

START_TEST(days_parse_and_format)
{
	struct buf why = BUF_INIT, text = BUF_INIT;
	unsigned days;

	ck_assert_int_eq(send_window_parse_days("mon-fri", &days, &why), 0);
	ck_assert_uint_eq(days, 0x1f);
	ck_assert_int_eq(send_window_parse_days("Sat,SUNDAY", &days, &why),
	    0);
	ck_assert_uint_eq(days, 0x60);
	ck_assert_int_eq(send_window_parse_days("fri-mon", &days, &why), 0);
	ck_assert_uint_eq(days, 0x71);
	send_window_format_days(days, &text);
	ck_assert_str_eq(buf_str(&text), "mon,fri-sun");
	buf_reset(&text);
	ck_assert_int_eq(send_window_parse_days("mon-wed,fri", &days, &why),
	    0);
	send_window_format_days(days, &text);
	ck_assert_str_eq(buf_str(&text), "mon-wed,fri");
	buf_reset(&text);
	send_window_format_days(SEND_WINDOW_ALL_DAYS, &text);
	ck_assert_str_eq(buf_str(&text), "all");
	ck_assert_int_eq(send_window_parse_days("mon-fry", &days, &why), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&why), "\"mon-fry\" is not a "
	    "day"));
	ck_assert_int_eq(send_window_parse_days("", &days, &why), -1);
	buf_free(&why);
	buf_free(&text);
}
END_TEST

START_TEST(zone_names)
{
	struct buf why = BUF_INIT;

	ck_assert_int_eq(zone_check("Europe/Paris", &why), 0);
	ck_assert_int_eq(zone_check("America/Argentina/Buenos_Aires", &why),
	    0);
	ck_assert_int_eq(zone_check("UTC", &why), 0);
	ck_assert_int_eq(zone_check("Mars/Olympus", &why), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&why), "unknown time zone "
	    "\"Mars/Olympus\""));
	/* Directories, the database's tables and paths are no zones. */
	ck_assert_int_eq(zone_check("America", &why), -1);
	ck_assert_int_eq(zone_check("zone.tab", &why), -1);
	ck_assert_int_eq(zone_check("../../etc/passwd", &why), -1);
	ck_assert_int_eq(zone_check("/etc/localtime", &why), -1);
	ck_assert_int_eq(zone_check("", &why), -1);
	buf_free(&why);
}
END_TEST

START_TEST(local_to_utc_gap_and_overlap)
{
	struct zone_saved saved;
	struct buf why = BUF_INIT;

	ck_assert_int_eq(zone_select("America/New_York", &saved, &why), 0);
	/* An ordinary day: EST. */
	assert_utc(zone_local_to_utc(2026, 3, 7, 9 * 60), "2026-03-07 "
	    "14:00:00", "ordinary");
	/* 2026-03-08 02:00 EST jumps to 03:00 EDT: 02:30 is 03:30 EDT. */
	assert_utc(zone_local_to_utc(2026, 3, 8, 150), "2026-03-08 07:30:00",
	    "gap");
	assert_utc(zone_local_to_utc(2026, 3, 8, 180), "2026-03-08 07:00:00",
	    "after the gap");
	assert_utc(zone_local_to_utc(2026, 3, 8, 119), "2026-03-08 06:59:00",
	    "before the gap");
	/* 2026-11-01 02:00 EDT falls back to 01:00 EST: 01:30 happens
	 * twice; the first (EDT) is meant. */
	assert_utc(zone_local_to_utc(2026, 11, 1, 90), "2026-11-01 05:30:00",
	    "overlap");
	assert_utc(zone_local_to_utc(2026, 11, 1, 120), "2026-11-01 07:00:00",
	    "after the overlap");
	/* A day past the month's end carries into the next month. */
	assert_utc(zone_local_to_utc(2026, 2, 29, 0), "2026-03-01 05:00:00",
	    "carry");
	zone_restore(&saved);
	/* Half-hour DST: 2026-10-04 02:00 jumps to 02:30 on Lord Howe. */
	ck_assert_int_eq(zone_select("Australia/Lord_Howe", &saved, &why), 0);
	assert_utc(zone_local_to_utc(2026, 10, 4, 130), "2026-10-03 15:40:00",
	    "Lord Howe gap");
	zone_restore(&saved);
	buf_free(&why);
}
END_TEST

START_TEST(selecting_a_zone_restores_tz)
{
	struct zone_saved saved;
	struct buf why = BUF_INIT;

	setenv("TZ", "Asia/Tokyo", 1);
	ck_assert_int_eq(zone_select("Europe/Paris", &saved, &why), 0);
	ck_assert_int_eq(zone_offset_at(utc("2026-12-01 00:00:00")), 3600);
	zone_restore(&saved);
	ck_assert_str_eq(getenv("TZ"), "Asia/Tokyo");
	unsetenv("TZ");
	ck_assert_int_eq(zone_select("Nowhere/Else", &saved, &why), -1);
	buf_free(&why);
}
END_TEST

START_TEST(next_window_today_tomorrow_weekdays)
{
	/* Before today's window: today's. */
	expect_next("Europe/Paris", "09:00-11:00", NULL, "2026-12-01 06:00:00",
	    "2026-12-01 08:00:00", "2026-12-01 10:00:00");
	/* Inside it: from now to its end. */
	expect_next("Europe/Paris", "09:00-11:00", NULL, "2026-12-01 08:30:00",
	    "2026-12-01 08:30:00", "2026-12-01 10:00:00");
	/* Passed: tomorrow's. */
	expect_next("Europe/Paris", "09:00-11:00", NULL, "2026-12-01 10:00:00",
	    "2026-12-02 08:00:00", "2026-12-02 10:00:00");
	/* Friday evening, mon-fri: Monday's. */
	expect_next("Europe/Paris", "09:00-11:00", "mon-fri",
	    "2026-12-04 17:00:00", "2026-12-07 08:00:00",
	    "2026-12-07 10:00:00");
	/* The local day, not UTC's: 23:30 UTC Monday is Tuesday in Tokyo. */
	expect_next("Asia/Tokyo", "09:00-11:00", "tue", "2026-12-07 23:30:00",
	    "2026-12-08 00:00:00", "2026-12-08 02:00:00");
	/* Past midnight: Monday's 22:00-02:00 is still open at 01:00. */
	expect_next("Asia/Tokyo", "22:00-02:00", "mon", "2026-12-07 16:00:00",
	    "2026-12-07 16:00:00", "2026-12-07 17:00:00");
}
END_TEST

START_TEST(next_window_across_dst)
{
	/* Staged on Saturday under EST; Sunday's window is under EDT. */
	expect_next("America/New_York", "09:00-11:00", NULL,
	    "2026-03-07 20:00:00", "2026-03-08 13:00:00",
	    "2026-03-08 15:00:00");
	/* Staged under EDT; Sunday's window is under EST. */
	expect_next("America/New_York", "09:00-11:00", NULL,
	    "2026-10-31 23:00:00", "2026-11-01 14:00:00",
	    "2026-11-01 16:00:00");
	/* A window in the gap opens past the jump, and is an hour short. */
	expect_next("America/New_York", "02:30-04:00", NULL,
	    "2026-03-08 05:00:00", "2026-03-08 07:30:00",
	    "2026-03-08 08:00:00");
	/* A window over the repeated hour lasts an hour longer. */
	expect_next("America/New_York", "01:30-03:00", NULL,
	    "2026-11-01 04:00:00", "2026-11-01 05:30:00",
	    "2026-11-01 08:00:00");
	/* London falls back on 2026-10-25: 09:00 is GMT that Sunday. */
	expect_next("Europe/London", "09:00-10:00", "sun",
	    "2026-10-20 12:00:00", "2026-10-25 09:00:00",
	    "2026-10-25 10:00:00");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sendwindow");
	TCase *tc = tcase_create("sendwindow");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, windows_parse);
	tcase_add_test(tc, days_parse_and_format);
	tcase_add_test(tc, zone_names);
	tcase_add_test(tc, local_to_utc_gap_and_overlap);
	tcase_add_test(tc, selecting_a_zone_restores_tz);
	tcase_add_test(tc, next_window_today_tomorrow_weekdays);
	tcase_add_test(tc, next_window_across_dst);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
