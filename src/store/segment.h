/*
 * segment.h - the segment language: which recipients a mailing targets.
 *
 *	state in (OH, PA) and donated_total >= 100 and not received(1234)
 *
 * Fields are the recipients' columns and attributes.NAME (JSON); values
 * are numbers, words, quoted strings, dates (2026-01-01, today, "30 days
 * ago"). Operators: = != <> < <= > >=, [not] in (...), between A and B,
 * starts with, contains, is [not] empty, list = NAME, received(MAILING),
 * and, or, not, parentheses; "all" alone selects everyone. Words may
 * be any UTF-8 text (first_name = Zoë). An attribute ordered against a
 * number (attributes.level >= 5, between 1 and 9) is compared as a
 * number, and a recipient whose attribute is no number does not match;
 * against anything else, attributes compare as text.
 *
 * segment_compile() turns an expression into a SQL condition over the
 * alias r (recipients) that names only known columns and carries every
 * value as a bound parameter: no text from the expression reaches the
 * server as SQL. Errors say "column N: ..." with what was expected.
 */
#ifndef HERALD_SEGMENT_H
#define HERALD_SEGMENT_H

#include "buf.h"

/* What an expression names outside recipients: received(MAILING) and
 * list = NAME, for checks against the database (namecheck.h). */
struct segment_reference {
	enum { SEGMENT_MAILING, SEGMENT_LIST } type;
	char *value;		/* the mailing id or list name */
	unsigned column;	/* where the value is, in characters */
};

struct segment_sql {
	struct buf where;	/* condition over r, with ? placeholders */
	char **params;		/* bound values, in placeholder order */
	unsigned count;
	struct segment_reference *references;
	unsigned reference_count;
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

/*
 * Whether name can name a saved segment: 1 to SEGMENT_NAME_MAX ASCII
 * letters, digits, '_' and '-', starting with a letter, and not a word
 * of the language (all, and, list, a field name...): "--segment all"
 * must keep meaning everyone. 0, or -1 with the reason in why. Text
 * that is no valid name is an expression, never looked up as a name.
 */
#define SEGMENT_NAME_MAX 64
int segment_name_check(const char *name, struct buf *why);

#endif
