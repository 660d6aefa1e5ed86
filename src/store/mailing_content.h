/*
 * mailing_content.h - what the composer needs of a mailing, read from
 * the database: its name, addresses, subject, template directory, rate
 * limit, click tracking options, and the variants that have their own
 * files, subject or From.
 *
 * The worker and "herald preview" read it and hand it to
 * composer_open() (compose.h), so that rendering stays rows in, bytes
 * out, and never touches the database.
 */
#ifndef HERALD_MAILING_CONTENT_H
#define HERALD_MAILING_CONTENT_H

#include <mysql.h>
#include <stdint.h>

#include "buf.h"

struct mailing_variant {
	uint32_t id;
	char *template_dir;	/* NULL: the mailing's */
	char *subject;		/* NULL: the mailing's */
	char *from;		/* NULL: the mailing's */
};

struct mailing_content {
	uint64_t id;
	char *name;
	char *template_dir;
	char *subject;
	char *from;		/* as entered: "Name <address>" or address */
	char *reply_to;		/* "" when none */
	double rate_limit;	/* messages per hour; 0 = none */
	int track_clicks;	/* 0: its links are not tracked */
	char *utm_parameters;	/* added to tracked links; NULL = none */
	struct mailing_variant *variants;
	unsigned variant_count;
};

/*
 * Reads mailing_id into m (zeroed first; free with
 * mailing_content_free()). -1 with the reason in err, also when the
 * mailing does not exist.
 */
int mailing_content_read(MYSQL *db, uint64_t mailing_id,
    struct mailing_content *m, struct buf *err);

void mailing_content_free(struct mailing_content *m);

#endif
