/*
 * tmplset.h - a mailing's template directory, compiled.
 *
 * A template directory holds:
 *	text.mustache		the text/plain part   } at least one
 *	html.mustache		the text/html part    } of the two
 *	subject.mustache	the subject (optional: the mailing's own
 *				subject text is used otherwise)
 *	headers.mustache	extra header lines (optional)
 *	NAME.mustache		partials, {{> NAME}}
 *
 * tmplset_open() compiles every part once, checking syntax (errors are
 * FILE:LINE:COLUMN: what was expected) and the extra headers' names, and
 * records every file it read (size, mtime, inode) so tmplset_changed()
 * can tell when any of them was edited, replaced or removed. It also
 * marks the tracked links of the text and HTML parts as link slots
 * (tracking.h): links lists their distinct URLs, once per set, however
 * many messages are rendered from it.
 */
#ifndef HERALD_TMPLSET_H
#define HERALD_TMPLSET_H

#include "buf.h"
#include "template.h"
#include "tracking.h"

struct tmplset {
	struct template *subject;
	struct template *text;		/* NULL when absent */
	struct template *html;		/* NULL when absent */
	struct template *headers;	/* NULL when absent */
	char *subject_source;		/* subject.mustache's text (its line
					 * break removed); NULL when the
					 * caller's subject is used */
	char *directory;
	struct tmplset_file *files;	/* every file looked for, for changes */
	unsigned file_count;		/* entries in files, absent ones too */
	struct tracking_links links;	/* the text and HTML parts' tracked
					 * links; a URL's index is its slot */
};

/*
 * Compiles directory's templates; subject is the mailing's subject text,
 * used when the directory has no subject.mustache (NULL: the file is
 * then required). NULL with the reason in err.
 */
struct tmplset *tmplset_open(const char *directory, const char *subject,
    struct buf *err);

void tmplset_free(struct tmplset *set);

/* How many distinct files tmplset_open() read (a partial used twice is
 * one file; files looked for but absent are not counted). */
unsigned tmplset_files_read(const struct tmplset *set);

/* 1 when any file read by tmplset_open() has changed or gone. */
int tmplset_changed(const struct tmplset *set);

#endif
