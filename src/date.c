/*
 * date.c - calendar dates (see date.h), through timegm() so that month
 * lengths and leap years come from the C library, not from us.
 */
#include "date.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int
date_valid(const char *s)
{
	struct tm tm;
	int y, m, d;
	char tail;
	time_t t;

	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d,
	    &tail) != 3 || s[4] != '-' || s[7] != '-')
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	t = timegm(&tm);
	gmtime_r(&t, &tm);
	return tm.tm_year == y - 1900 && tm.tm_mon == m - 1 &&
	    tm.tm_mday == d;
}

void
date_days_before(const char *day, long days, char out[16])
{
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	sscanf(day, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm) - days * 86400;
	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
}
