/*
 * sendwindow.c - send windows (see sendwindow.h).
 */
#include "sendwindow.h"
#include "zone.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const day_names[7][2] = {
	{ "mon", "monday" }, { "tue", "tuesday" }, { "wed", "wednesday" },
	{ "thu", "thursday" }, { "fri", "friday" }, { "sat", "saturday" },
	{ "sun", "sunday" },
};

/* "HH:MM" into minutes after midnight; -1 when it is not one. */
static int
parse_clock(const char *s, size_t length)
{
	int hours, minutes;

	if (length != 5 || !isdigit((unsigned char)s[0]) ||
	    !isdigit((unsigned char)s[1]) || s[2] != ':' ||
	    !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return -1;
	hours = (s[0] - '0') * 10 + s[1] - '0';
	minutes = (s[3] - '0') * 10 + s[4] - '0';
	if (minutes > 59 || hours > 24 || (hours == 24 && minutes > 0))
		return -1;
	return hours * 60 + minutes;
}

int
send_window_parse(const char *text, struct send_window *w, struct buf *why)
{
	const char *dash = strchr(text, '-');

	w->days = SEND_WINDOW_ALL_DAYS;
	w->start = dash ? parse_clock(text, (size_t)(dash - text)) : -1;
	w->end = dash ? parse_clock(dash + 1, strlen(dash + 1)) : -1;
	if (w->start < 0 || w->end < 0 || w->start == 1440) {
		buf_printf(why, "\"%s\": expected HH:MM-HH:MM, such as "
		    "09:00-11:00 (24-hour local times)", text);
		return -1;
	}
	if (w->start == w->end) {
		buf_printf(why, "\"%s\": the window is empty (its start and "
		    "end are the same time)", text);
		return -1;
	}
	return 0;
}

/* The weekday (0 Monday) named by s[0..length), or -1. */
static int
day_index(const char *s, size_t length)
{
	for (int d = 0; d < 7; d++)
		for (int form = 0; form < 2; form++)
			if (strlen(day_names[d][form]) == length &&
			    strncasecmp(s, day_names[d][form], length) == 0)
				return d;
	return -1;
}

int
send_window_parse_days(const char *text, unsigned *days, struct buf *why)
{
	const char *p = text;

	*days = 0;
	if (strcasecmp(text, "all") == 0) {
		*days = SEND_WINDOW_ALL_DAYS;
		return 0;
	}
	while (*p) {
		size_t length = strcspn(p, ",");
		const char *dash = memchr(p, '-', length);
		int from, to;

		from = day_index(p, dash ? (size_t)(dash - p) : length);
		to = dash ? day_index(dash + 1, length - (size_t)(dash - p) -
		    1) : from;
		if (from < 0 || to < 0) {
			buf_printf(why, "\"%s\": \"%.*s\" is not a day or a "
			    "range of days (expected names such as mon-fri or "
			    "sat,sun)", text, (int)length, p);
			return -1;
		}
		for (int d = from;; d = (d + 1) % 7) {
			*days |= 1u << d;
			if (d == to)
				break;
		}
		p += length;
		if (*p == ',' && *++p == '\0')
			break;
	}
	if (*days == 0) {
		buf_printf(why, "\"%s\": no day given (expected names such as "
		    "mon-fri or sat,sun)", text);
		return -1;
	}
	return 0;
}

void
send_window_format_days(unsigned days, struct buf *out)
{
	int first = 1;

	if ((days & SEND_WINDOW_ALL_DAYS) == SEND_WINDOW_ALL_DAYS) {
		buf_append_str(out, "all");
		return;
	}
	for (int d = 0; d < 7; d++) {
		int end = d;

		if (!(days & (1u << d)))
			continue;
		while (end + 1 < 7 && (days & (1u << (end + 1))))
			end++;
		buf_printf(out, "%s%s", first ? "" : ",", day_names[d][0]);
		if (end > d)
			buf_printf(out, "%s%s", end > d + 1 ? "-" : ",",
			    day_names[end][0]);
		first = 0;
		d = end;
	}
}

/* Weekday (0 Monday) of a calendar day; the day may be past month end. */
static int
weekday_of(int year, int month, int day)
{
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	t = timegm(&tm);
	gmtime_r(&t, &tm);
	return (tm.tm_wday + 6) % 7;
}

int
send_window_next(const struct send_window *w, time_t now, time_t *opens,
    time_t *closes)
{
	int year, month, day;

	zone_local_day(now, &year, &month, &day);
	/* From yesterday: a window past midnight may still be open. */
	for (int k = -1; k <= 8; k++) {
		time_t open, close;

		if (!(w->days & (1u << weekday_of(year, month, day + k))))
			continue;
		open = zone_local_to_utc(year, month, day + k, w->start);
		close = zone_local_to_utc(year, month, day + k +
		    (w->end <= w->start), w->end);
		if (close <= open || close <= now)
			continue;
		*opens = open > now ? open : now;
		*closes = close;
		return 0;
	}
	return -1;
}
