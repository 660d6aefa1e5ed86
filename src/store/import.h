/*
 * import.h - recipients in, streamed from a file or any URL libcurl
 * reads, into MariaDB with LOAD DATA LOCAL.
 *
 * The source is read in chunks, parsed (csv.h), each row checked and
 * written as a line of LOAD DATA's escaped text straight into the
 * server's LOCAL INFILE stream: no download first, no temporary file,
 * memory bounded by the longest row. Rows go into a fresh scratch table,
 * from which
 *	merge	upserts into recipients in one transaction (columns the
 *		file has are updated, attributes merged), and
 *	replace	builds a complete new recipients table (keeping the ids
 *		and the status of known addresses) and swaps it in with one
 *		RENAME TABLE; every recipient not in the file is removed,
 *		so the caller may ask before that happens (confirm),
 * so an import killed at any moment leaves recipients as they were.
 * Duplicate addresses in one file: the last row wins. A recipient's
 * status is never set by an import: an unsubscribed, bounced or
 * complained address stays so.
 *
 * One import runs at a time per database (a server lock, GET_LOCK): a
 * second waits up to lock_timeout seconds, then fails and changes
 * nothing.
 *
 * Bad rows go to the reject file as "LINE,REASON,ORIGINAL TEXT" (CSV);
 * good rows still load. A time_zone value must be a zone of the
 * system's tz database (zone.h); a bad one rejects its row, the reason
 * naming the column.
 *
 * A recipient's zone, for send windows (sendwindow.h), is in order:
 * the row's time_zone; else, for a row imported into a list, that
 * list's default zone (default_time_zone, which an import may set),
 * given at import to loaded recipients who have no zone yet; else, at
 * staging, the mailing's zone (herald mailing create --time-zone); else
 * UTC. A file without an email column, an empty file
 * or an unreadable source fails before anything changes.
 */
#ifndef HERALD_IMPORT_H
#define HERALD_IMPORT_H

#include <mysql.h>
#include <stdio.h>

#include "buf.h"
#include "config.h"

struct import_report;

struct import_options {
	const char *source;		/* path or URL */
	const char *list;		/* add every row to this list, or NULL */
	/* with list: the list's default zone from now on (checked by the
	 * caller with zone_check), or NULL to keep the list's */
	const char *default_time_zone;
	int replace;			/* --mode replace */
	int tsv;			/* --format tsv */
	FILE *rejects;			/* where bad rows go */
	int progress;			/* draw a progress bar on stderr */
	/*
	 * replace only, or NULL: called once the file is loaded and
	 * counted (report's loaded, added, updated, removed), before
	 * recipients change. Non-zero cancels: nothing changes and
	 * import_run fails with "cancelled".
	 */
	int (*confirm)(void *arg, const struct import_report *report);
	void *confirm_arg;
	long lock_timeout;		/* seconds to wait for another import */
};

struct import_report {
	unsigned long long rows;	/* data rows read */
	unsigned long long loaded;	/* distinct addresses loaded */
	unsigned long long added;	/* of which new recipients */
	unsigned long long updated;	/* of which known ones (replace:
					 * kept, with their id) */
	unsigned long long removed;	/* replace: recipients not in the
					 * file, removed */
	unsigned long long duplicates;	/* rows superseded by a later one */
	unsigned long long rejected;
	unsigned long long bytes;
	double seconds;
	double load_seconds;		/* reading and LOAD DATA */
	double merge_seconds;		/* into recipients */
};

/* Imports; -1 with the reason in err (nothing changed then). */
int import_run(MYSQL *db, const struct import_options *o,
    struct import_report *report, struct buf *err);

#endif
