/*
 * zone.h - IANA time zones: names checked against the system's zoneinfo
 * (tzdata), and a zone's local time turned into UTC and back.
 *
 * The C library knows a zone only as the process's TZ, so a conversion
 * selects the zone for the whole process (zone_select) and gives it back
 * afterwards (zone_restore). Selecting reads the zone's file (tzset), so
 * callers select each zone once and do all of its arithmetic before the
 * next: the stager computes every zone's window once per run. Nothing
 * here is for threads or for a signal handler.
 *
 * Local times that a clock change skips or repeats have one meaning
 * here, so every caller agrees:
 *	skipped (02:30 when 02:00 jumps to 03:00): the same distance past
 *		the jump (03:30), which is where a clock that was not moved
 *		would be;
 *	repeated (01:30 when 02:00 falls back to 01:00): the first time.
 */
#ifndef HERALD_ZONE_H
#define HERALD_ZONE_H

#include <time.h>

#include "buf.h"

/* The longest zone name herald stores (recipients.time_zone). */
#define ZONE_NAME_MAX 64

/* Where zone files are: $TZDIR, else /usr/share/zoneinfo. */
const char *zone_directory(void);

/*
 * 0 when name is a zone of the tz database installed here (a TZif file
 * under zone_directory(), reached without "." or a leading "/"), else -1
 * with the reason in why, as in "unknown time zone \"Mars/Olympus\" (no
 * such zone in /usr/share/zoneinfo)".
 */
int zone_check(const char *name, struct buf *why);

/* What zone_select replaced, for zone_restore. */
struct zone_saved {
	char *tz;		/* the old TZ, or NULL when it was unset */
};

/*
 * Makes name (checked with zone_check first) the process's zone for the
 * calls below; saved keeps what was there. 0, or -1 with why.
 */
int zone_select(const char *name, struct zone_saved *saved, struct buf *why);

/* Puts back the zone zone_select replaced. */
void zone_restore(struct zone_saved *saved);

/* Seconds east of UTC at moment t in the selected zone. */
long zone_offset_at(time_t t);

/*
 * The moment when the selected zone's clocks show year-month-day (month
 * 1 to 12; a day past the month's end carries into the next) at minute
 * (0 to 1440) after midnight, with the rules above for skipped and
 * repeated times.
 */
time_t zone_local_to_utc(int year, int month, int day, int minute);

/* The selected zone's calendar day at t: year, month 1-12, day. */
void zone_local_day(time_t t, int *year, int *month, int *day);

#endif
