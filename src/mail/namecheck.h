/*
 * namecheck.h - names in an operator's input that refer to nothing.
 *
 * A template variable that no message fills renders empty ("Hi , your
 * and"), and a segment's received(ID) or list = NAME naming nothing
 * selects nobody: both are legal, so they are warned about, never
 * refused. Each warning says where (FILE:LINE:COLUMN, or the segment's
 * column) and, when one known name is clearly meant, "did you mean
 * ...?" (suggest.h).
 *
 * Template names are checked against the recipient's fields
 * (delivery.h), the generated values and mailing.* (compose.h), and the
 * imported attributes. Attributes have no schema: namecheck_read_
 * attributes() takes the top-level keys of the attributes of the newest
 * NAMECHECK_ATTRIBUTE_SAMPLE recipients (one bounded query with
 * JSON_KEYS), so an attribute only older recipients have is warned
 * about too, and the warning says what was looked at. Inside a section
 * over something whose keys are unknown (attributes.children), names
 * may resolve there and are not checked.
 *
 * Warnings are appended to a buffer, one per line, for
 * namecheck_warn_each() to print.
 */
#ifndef HERALD_NAMECHECK_H
#define HERALD_NAMECHECK_H

#include <mysql.h>

#include "buf.h"
#include "segment.h"
#include "tmplset.h"

#define NAMECHECK_ATTRIBUTE_SAMPLE 10000

struct namecheck_list {
	char **names;
	size_t count;
};

void namecheck_list_free(struct namecheck_list *list);

/* Reads the attribute keys (see above) into keys. 0, or -1 with err. */
int namecheck_read_attributes(MYSQL *db, struct namecheck_list *keys,
    struct buf *err);

/*
 * Appends a warning per name in set's templates that nothing fills;
 * attributes NULL: attributes.NAME is not checked, and
 * *attributes_unchecked (when not NULL) says whether any was used.
 * Returns the number of warnings.
 */
unsigned namecheck_templates(const struct tmplset *set,
    const struct namecheck_list *attributes, struct buf *warnings,
    int *attributes_unchecked);

/*
 * Appends a warning per received(ID) of seg naming no mailing and per
 * list = NAME naming no list. Returns the number of warnings, or -1
 * with err when the database cannot say.
 */
int namecheck_segment(MYSQL *db, const struct segment_sql *seg,
    struct buf *warnings, struct buf *err);

/* msg_warn()s each line of warnings, after prefix. */
void namecheck_warn_each(const char *prefix, const struct buf *warnings);

/*
 * The check as the CLI runs it: reads the attribute keys from db (NULL
 * when there is no database; no_database then says why), checks set's
 * templates and warns about each name, after prefix, with a note when
 * attributes were used but could not be checked. Returns the number of
 * warnings.
 */
unsigned namecheck_templates_report(MYSQL *db, const char *no_database,
    const struct tmplset *set, const char *prefix);

#endif
