/*
 * segment.h - the segment language: which recipients a mailing targets.
 *
 *	state in (OH, PA) and donated_total >= 100 and not received(1234)
 *
 * Fields are the recipients' columns and attributes.NAME (JSON); values
 * are numbers, words, quoted strings, dates (2026-01-01, today, "30 days
 * ago"). Operators: = != <> < <= > >=, [not] in (...), between A and B,
 * starts with, contains, is [not] empty, list = NAME, received(MAILING),
 * and, or, not, parentheses; "all" alone selects everyone.
 *
 * segment_compile() turns an expression into a SQL condition over the
 * alias r (recipients) that names only known columns and carries every
 * value as a bound parameter: no text from the expression reaches the
 * server as SQL. Errors say "column N: ..." with what was expected.
 */
#ifndef HERALD_SEGMENT_H
#define HERALD_SEGMENT_H

#include "buf.h"

struct segment_sql {
	struct buf where;	/* condition over r, with ? placeholders */
	char **params;		/* bound values, in placeholder order */
	unsigned count;
};

void segment_sql_init(struct segment_sql *s);
void segment_sql_free(struct segment_sql *s);

/*
 * Compiles expr; today ("YYYY-MM-DD", UTC) anchors relative dates.
 * 0, or -1 with "column N: what was wrong, what was expected" in err.
 */
int segment_compile(const char *expr, const char *today,
    struct segment_sql *out, struct buf *err);

/* The known field names, NULL-terminated. */
extern const char *const segment_fields[];

#endif
