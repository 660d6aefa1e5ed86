/*
 * date.c - calendar dates and times (see date.h). Month lengths and leap
 * years come from the C library (timegm()), not from us; every field is
 * checked against its range before any conversion, because mktime() and
 * timegm() would silently carry February 30 into March.
 */
#include "date.h"
#include "zone.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const month_names[12] = {
	"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December",
};

/* Reads min to max digits into *value; NULL when there are fewer. */
static const char *
read_digits(const char *s, int min, int max, int *value)
{
	int n = 0;

	*value = 0;
	while (n < max && isdigit((unsigned char)s[n]))
		*value = *value * 10 + (s[n++] - '0');
	return n < min ? NULL : s + n;
}

/* The last day of month (1 to 12) in year: day 0 of the next month. */
static int
days_in_month(int year, int month)
{
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = month;
	tm.tm_mday = 0;
	t = timegm(&tm);
	gmtime_r(&t, &tm);
	return tm.tm_mday;
}

/* 0 when every field is in its range; else -1, naming the first that is
 * not in why. */
static int
check_fields(int year, int month, int day, int hour, int minute, int second,
    struct buf *why)
{
	struct buf ignored = BUF_INIT;
	int last = month >= 1 && month <= 12 ? days_in_month(year, month) : 0;

	if (why == NULL)
		why = &ignored;
	if (year < 1000 || year > 9999) {
		buf_printf(why, "year %d is out of range (1000 to 9999)", year);
	} else if (month < 1 || month > 12) {
		buf_printf(why, "month %d does not exist (01 to 12)", month);
	} else if (day < 1 || day > last) {
		buf_printf(why, "day %d does not exist in %s %d (it has %d "
		    "days)", day, month_names[month - 1], year, last);
	} else if (hour > 23) {
		buf_printf(why, "hour %d does not exist (00 to 23)", hour);
	} else if (minute > 59) {
		buf_printf(why, "minute %d does not exist (00 to 59)", minute);
	} else if (second > 59) {
		buf_printf(why, "second %d does not exist (00 to 59)", second);
	} else {
		return 0;
	}
	buf_free(&ignored);
	return -1;
}

int
date_check(const char *s, struct buf *why)
{
	int y, m, d;
	const char *p = s;

	if ((p = read_digits(p, 4, 4, &y)) == NULL || *p++ != '-' ||
	    (p = read_digits(p, 2, 2, &m)) == NULL || *p++ != '-' ||
	    (p = read_digits(p, 2, 2, &d)) == NULL || *p != '\0') {
		if (why)
			buf_printf(why, "expected YYYY-MM-DD");
		return -1;
	}
	return check_fields(y, m, d, 0, 0, 0, why);
}

int
date_valid(const char *s)
{
	return date_check(s, NULL) == 0;
}

int
date_days_before(const char *day, long days, char out[16])
{
	struct tm tm;
	time_t t;

	if (days < 0 || days > DATE_DAYS_BEFORE_MAX)
		return -1;
	memset(&tm, 0, sizeof(tm));
	sscanf(day, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm) - days * 86400;
	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
	return 0;
}

time_t
date_now(void)
{
	const char *offset = getenv("HERALD_TEST_CLOCK_OFFSET");

	return time(NULL) + (offset ? strtol(offset, NULL, 10) : 0);
}

void
date_format_utc(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
}

/* "+HH:MM", "-HHMM": the offset east of UTC in seconds; -1 when zone is
 * no offset, -2 when it is one out of range. */
static long
zone_offset(const char *zone)
{
	const char *p = zone + 1;
	int hours, minutes;

	if ((zone[0] != '+' && zone[0] != '-') ||
	    (p = read_digits(p, 2, 2, &hours)) == NULL)
		return -1;
	if (*p == ':')
		p++;
	if ((p = read_digits(p, 2, 2, &minutes)) == NULL || *p != '\0')
		return -1;
	if (hours > 14 || minutes > 59)
		return -2;
	return (zone[0] == '+' ? 1 : -1) * (hours * 3600L + minutes * 60L);
}

/*
 * mktime() for a local time in zone (NULL: the process's own). A time a
 * clock change skips (02:30 when the clocks go from 02:00 to 03:00) comes
 * back moved, which is refused.
 */
static int
local_time(const char *text, struct tm *tm, const char *zone, time_t *when,
    struct buf *err)
{
	char *saved = getenv("TZ") ? xstrdup(getenv("TZ")) : NULL;
	int hour = tm->tm_hour, minute = tm->tm_min, day = tm->tm_mday;

	if (zone) {
		setenv("TZ", zone, 1);
		tzset();
	}
	tm->tm_isdst = -1;
	*when = mktime(tm);
	if (zone) {
		if (saved)
			setenv("TZ", saved, 1);
		else
			unsetenv("TZ");
		tzset();
	}
	free(saved);
	if (*when == (time_t)-1 || tm->tm_hour != hour ||
	    tm->tm_min != minute || tm->tm_mday != day) {
		buf_printf(err, "\"%s\": %02d:%02d does not exist on that day "
		    "in %s (a clock change skips it)", text, hour, minute,
		    zone ? zone : "the local time zone");
		return -1;
	}
	return 0;
}

/* Converts tm (the fields as written) in zone to *when. */
static int
resolve_zone(const char *text, const char *zone, struct tm *tm,
    time_t *when, struct buf *err)
{
	struct buf why = BUF_INIT;
	long offset;
	int known;

	if (*zone == '\0')
		return local_time(text, tm, NULL, when, err);
	if (!strcasecmp(zone, "UTC") || !strcasecmp(zone, "GMT") ||
	    !strcmp(zone, "Z")) {
		*when = timegm(tm);
		return 0;
	}
	offset = zone_offset(zone);
	if (offset == -2) {
		buf_printf(err, "\"%s\": offset %s is out of range (-14:00 to "
		    "+14:00)", text, zone);
		return -1;
	}
	if (offset != -1) {
		*when = timegm(tm) - offset;
		return 0;
	}
	/* A zone name: one of the tz database's files, never a path. */
	known = zone_check(zone, &why) == 0;
	buf_free(&why);
	if (!known) {
		buf_printf(err, "\"%s\": unknown time zone \"%s\" (expected "
		    "UTC, +HH:MM or a name like Europe/Paris)", text, zone);
		return -1;
	}
	return local_time(text, tm, zone, when, err);
}

int
date_parse_time(const char *text, time_t *when, struct buf *err)
{
	int year, month, day, hour = 0, minute = 0, second = 0;
	const char *p = text;
	struct buf why = BUF_INIT;
	struct tm tm;

	if (strcmp(text, "now") == 0) {
		*when = time(NULL);
		return 0;
	}
	if ((p = read_digits(p, 4, 4, &year)) == NULL || *p++ != '-' ||
	    (p = read_digits(p, 1, 2, &month)) == NULL || *p++ != '-' ||
	    (p = read_digits(p, 1, 2, &day)) == NULL ||
	    (*p != '\0' && *p != ' ' && *p != 'T')) {
		buf_printf(err, "\"%s\": expected \"now\" or YYYY-MM-DD "
		    "HH:MM[:SS] [ZONE]", text);
		return -1;
	}
	/* A digit after the date starts the time of day. */
	if (*p && isdigit((unsigned char)p[1])) {
		const char *time_start = ++p;

		if ((p = read_digits(p, 1, 2, &hour)) == NULL || *p++ != ':' ||
		    (p = read_digits(p, 2, 2, &minute)) == NULL ||
		    (*p == ':' && (p = read_digits(p + 1, 2, 2, &second)) ==
		    NULL) || isdigit((unsigned char)*p)) {
			buf_printf(err, "\"%s\": expected the time of day as "
			    "HH:MM or HH:MM:SS after the date, found \"%s\"",
			    text, time_start);
			return -1;
		}
	}
	if (check_fields(year, month, day, hour, minute, second, &why) != 0) {
		buf_printf(err, "\"%s\": %s", text, buf_str(&why));
		buf_free(&why);
		return -1;
	}
	while (*p == ' ')
		p++;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = second;
	return resolve_zone(text, p, &tm, when, err);
}
