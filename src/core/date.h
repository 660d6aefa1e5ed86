/*
 * date.h - calendar dates and times as herald's operators write them.
 *
 * Dates are "YYYY-MM-DD" (imported columns, segment values); send times
 * are "YYYY-MM-DD HH:MM[:SS] [ZONE]". Nothing impossible is moved to a
 * neighbouring day: February 30, hour 25 or second 61 are refused with
 * the field that is wrong, never normalized as mktime() would.
 */
#ifndef HERALD_DATE_H
#define HERALD_DATE_H

#include <time.h>

#include "buf.h"

/* 1 when s is exactly YYYY-MM-DD and a real calendar day. */
int date_valid(const char *s);

/*
 * The same check, saying what is wrong: 0, or -1 with the reason in why
 * (when not NULL), as in "day 30 does not exist in February 2030 (it has
 * 28 days)".
 */
int date_check(const char *s, struct buf *why);

/* The most days date_days_before() goes back: 100,000 days (about 274
 * years) is beyond any date herald keeps, and far from overflow. */
#define DATE_DAYS_BEFORE_MAX 100000L

/* Writes the day `days` (0 to DATE_DAYS_BEFORE_MAX) before day
 * (YYYY-MM-DD) into out: 0, or -1 when days is out of that range. */
int date_days_before(const char *day, long days, char out[16]);

/*
 * Parses a moment: "now", or "YYYY-MM-DD[ HH:MM[:SS]]" (a 'T' may stand
 * for the space) followed by an optional zone: UTC or Z, an offset
 * +HH:MM or -HHMM, or a tz database name such as Europe/Paris; without
 * a zone, the local one. Sets *when; 0, or -1 with what is wrong in err
 * (the field out of range, the unknown zone, a local time skipped by a
 * clock change). Whether *when is past is the caller's business.
 */
int date_parse_time(const char *text, time_t *when, struct buf *err);

/*
 * The time now, for deciding what is due (send windows). Tests of send
 * windows move herald's clock with HERALD_TEST_CLOCK_OFFSET=SECONDS in
 * the environment (herald stage, herald status, heraldd), added to the
 * real time; it exists for those tests only and nothing else reads it.
 */
time_t date_now(void);

/* Writes t as "YYYY-MM-DD HH:MM:SS" in UTC into out. */
void date_format_utc(time_t t, char out[32]);

#endif
