/*
 * zone.c - IANA time zones (see zone.h).
 *
 * Conversions lean on the C library's own reading of the zone file
 * (localtime_r and its tm_gmtoff), never on a table of our own: the
 * tzdata package's updates reach herald with no rebuild.
 */
#include "zone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *
zone_directory(void)
{
	const char *dir = getenv("TZDIR");

	return dir && *dir ? dir : "/usr/share/zoneinfo";
}

/* Letters, digits, '_', '-', '+' and '/' between parts: no path tricks. */
static int
zone_name_well_formed(const char *name)
{
	size_t length = strlen(name);

	if (length == 0 || length > ZONE_NAME_MAX || name[0] == '/' ||
	    name[length - 1] == '/' || strstr(name, "//"))
		return 0;
	for (size_t i = 0; i < length; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		    c == '+' || c == '/'))
			return 0;
	}
	return 1;
}

int
zone_check(const char *name, struct buf *why)
{
	struct buf path = BUF_INIT;
	char magic[4];
	struct stat st;
	FILE *fp = NULL;
	int status = -1;

	if (!zone_name_well_formed(name)) {
		buf_printf(why, "\"%s\" is not a time zone name (expected a "
		    "tz database name such as Europe/Paris, at most %d "
		    "characters)", name, ZONE_NAME_MAX);
		return -1;
	}
	buf_printf(&path, "%s/%s", zone_directory(), name);
	/* Directories (America) and the database's own tables
	 * (zone.tab) are there too: only a TZif file is a zone. */
	if (stat(buf_str(&path), &st) == 0 && S_ISREG(st.st_mode))
		fp = fopen(buf_str(&path), "rb");
	if (fp && fread(magic, 1, 4, fp) == 4 && memcmp(magic, "TZif", 4) ==
	    0)
		status = 0;
	else
		buf_printf(why, "unknown time zone \"%s\" (no such zone in "
		    "%s; names are like Europe/Paris or America/New_York)",
		    name, zone_directory());
	if (fp)
		fclose(fp);
	buf_free(&path);
	return status;
}

int
zone_select(const char *name, struct zone_saved *saved, struct buf *why)
{
	struct buf tz = BUF_INIT;
	const char *old = getenv("TZ");

	saved->tz = NULL;
	if (zone_check(name, why) != 0)
		return -1;
	saved->tz = old ? xstrdup(old) : NULL;
	/* The leading ':' makes the C library read the file, never parse
	 * the name as a POSIX rule ("EST5EDT" and the like). */
	buf_printf(&tz, ":%s", name);
	setenv("TZ", buf_str(&tz), 1);
	tzset();
	buf_free(&tz);
	return 0;
}

void
zone_restore(struct zone_saved *saved)
{
	if (saved->tz)
		setenv("TZ", saved->tz, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved->tz);
	saved->tz = NULL;
}

long
zone_offset_at(time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	return tm.tm_gmtoff;
}

time_t
zone_local_to_utc(int year, int month, int day, int minute)
{
	struct tm tm;
	time_t local, first, second;
	long before, after;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	/* The clock's reading counted as if it were UTC. */
	local = timegm(&tm) + minute * 60L;
	/*
	 * The offsets a day either side: the moment is local minus one of
	 * them, and it is that one if the zone has that offset then. Zones
	 * never change their clocks twice within two days.
	 */
	before = zone_offset_at(local - 86400);
	after = zone_offset_at(local + 86400);
	first = local - before;
	second = local - after;
	if (zone_offset_at(first) == before) {
		/* Repeated times: the earlier of the two moments. */
		if (zone_offset_at(second) == after && second < first)
			return second;
		return first;
	}
	if (zone_offset_at(second) == after)
		return second;
	/* Skipped: read with the offset before the jump. */
	return first;
}

void
zone_local_day(time_t t, int *year, int *month, int *day)
{
	struct tm tm;

	localtime_r(&t, &tm);
	*year = tm.tm_year + 1900;
	*month = tm.tm_mon + 1;
	*day = tm.tm_mday;
}
