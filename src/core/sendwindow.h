/*
 * sendwindow.h - send windows: "--window 09:00-11:00 --days mon-fri",
 * the hours of each recipient's own local day in which a mailing may
 * reach them.
 *
 * A window is a start and an end minute of the local day; an end at or
 * before the start runs past midnight (22:00-02:00), and belongs to the
 * day it starts on. The days are a set of weekdays (all by default).
 *
 * send_window_next() finds, in one zone, the first opening at or after
 * a moment: today's window when it has not closed yet (from that moment
 * on when it is already open), else the next allowed day's. It works in
 * calendar days of the zone, so a window on a day the clocks change
 * opens at its local time all the same (zone.h says how a skipped or
 * repeated local time is read); its length in real time may then be an
 * hour more or less than on other days.
 */
#ifndef HERALD_SENDWINDOW_H
#define HERALD_SENDWINDOW_H

#include <time.h>

#include "buf.h"

#define SEND_WINDOW_ALL_DAYS 0x7fu	/* bit 0 Monday ... bit 6 Sunday */

struct send_window {
	int start;		/* minutes after local midnight, 0-1439 */
	int end;		/* 0-1440; at or before start: next day */
	unsigned days;		/* weekdays it opens on (bit 0 Monday) */
};

/* Parses "HH:MM-HH:MM" (24:00 may end one): 0, or -1 with why. */
int send_window_parse(const char *text, struct send_window *w,
    struct buf *why);

/*
 * Parses days: "mon-fri", "sat,sun", "mon-wed,fri", "fri-mon" (a range
 * wraps past Sunday), "all"; names of three letters or in full, any
 * case. Sets *days (bit 0 Monday): 0, or -1 with why.
 */
int send_window_parse_days(const char *text, unsigned *days,
    struct buf *why);

/* Writes days back as text ("mon-fri", "mon,wed,sat", "all"). */
void send_window_format_days(unsigned days, struct buf *out);

/*
 * The first opening of w in the zone selected with zone_select() at or
 * after now: it sends from *opens to *closes (UTC; *opens is now when
 * the window is open already). Looks up to eight days ahead; 0, or -1
 * when no day is allowed.
 */
int send_window_next(const struct send_window *w, time_t now, time_t *opens,
    time_t *closes);

#endif
