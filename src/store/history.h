/*
 * history.h - the stage tables, the monthly archives and the history
 * MERGE table over them: "who got what".
 *
 * Every mailing's rows live in exactly one readable place: its stage
 * table stage_N while it is staged and sent, then (after "herald
 * maintain" compacts it) the archive of its month, history_YYYYMM,
 * which a later run may pack with myisampack (read-only). The MERGE
 * table history lists all of them in its UNION. This module owns:
 *
 *	- their names, and the check of a name read back from the
 *	  database before it is put in a statement;
 *	- every edit of history's UNION: each one reads the UNION and
 *	  alters it under one server-side lock (herald.history.DATABASE),
 *	  so a stager and a maintenance run never lose each other's edit;
 *	  the swap of a packed copy for its archive takes the same lock;
 *	- finding a recipient's row of a mailing wherever it lives, and
 *	  recording a bounce against it (in the bounces table, since an
 *	  archive may be read-only).
 *
 * Functions return 0, or -1 with a sentence in err.
 */
#ifndef HERALD_HISTORY_H
#define HERALD_HISTORY_H

#include <mysql.h>
#include <stddef.h>

#include "bounce_class.h"
#include "buf.h"

/* Room for any table name this module makes (MySQL's limit is 64). */
#define HISTORY_TABLE_NAME_MAX 65

/* True for a stage table's name: stage_ followed by digits. */
int history_is_stage_table(const char *name);

/* True for an archive's name: history_YYYYMM. */
int history_is_archive(const char *name);

/* True for either: a table that holds a mailing's rows. */
int history_is_table(const char *name);

/* The stage table of mailing id (digits) into name. */
void history_stage_table_name(const char *mailing_id,
    char name[HISTORY_TABLE_NAME_MAX]);

/* The archive of month (YYYYMM) into name. */
void history_archive_name(const char *month,
    char name[HISTORY_TABLE_NAME_MAX]);

/*
 * The tables in history's UNION, in order, as one comma-separated
 * string of backquoted names ("" when empty) into names.
 */
int history_union(MYSQL *db, struct buf *names, struct buf *err);

/* *present = 1 when table is in history's UNION. */
int history_union_contains(MYSQL *db, const char *table, int *present,
    struct buf *err);

/*
 * One edit of history's UNION, under the history lock: takes remove
 * out (when present) and puts add in at the end (when absent); either
 * may be NULL. Readers of history see the UNION before or after, never
 * a mix. Waits for the lock (and for queries running on history).
 */
int history_union_change(MYSQL *db, const char *remove, const char *add,
    struct buf *err);

/*
 * Replaces archive by copy (a table of the same definition holding the
 * same rows, packed), under the history lock, with one atomic RENAME:
 * history's UNION keeps listing archive and readers see the old or the
 * new table, never neither. The old table is dropped.
 */
int history_archive_replace(MYSQL *db, const char *archive,
    const char *copy, struct buf *err);

/* Where one recipient's row of a mailing lives. */
struct history_row {
	char table[HISTORY_TABLE_NAME_MAX];	/* stage_N or history_YYYYMM */
	char email[255];
	unsigned long variant_id;	/* the row's variant (0: none) */
	int found;		/* 0: the mailing or the recipient's row is
				   not there (table says whether the mailing
				   was staged: "" when not) */
};

/*
 * Finds the row of recipient_id (digits) in mailing_id's (digits)
 * stage table or archive, whichever the mailing's row names.
 */
int history_find_row(MYSQL *db, const char *mailing_id,
    const char *recipient_id, struct history_row *row, struct buf *err);

/*
 * Records that the message to row's recipient bounced, with reply (the
 * DSN's status and diagnostic) and its class (reason, hard) and the
 * row's variant: once in the bounces table, whatever
 * table the row lives in, and on the row itself while it is in a stage
 * table (writable; the daemon's counts read it). *changed is 1 the
 * first time, 0 when the bounce was recorded already.
 */
int history_record_bounce(MYSQL *db, const struct history_row *row,
    const char *mailing_id, const char *recipient_id, const char *reply,
    const struct bounce_class *class, int *changed, struct buf *err);

/*
 * SQL for the delivery state of a row of history or of a stage table
 * (alias h) joined to the bounces table (alias b, with
 * HISTORY_BOUNCES_JOIN): "bounced" when a bounce was recorded, else the
 * row's own state.
 */
#define HISTORY_DELIVERY_STATE \
	"IF(b.mailing_id IS NULL, h.delivery_state, 'bounced')"
#define HISTORY_BOUNCES_JOIN \
	" LEFT JOIN bounces b ON b.mailing_id = h.mailing_id AND " \
	"b.recipient_id = h.recipient_id"

#endif
