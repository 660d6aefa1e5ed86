/*
 * mailing_content.c - reading what the composer needs of a mailing (see
 * mailing_content.h).
 */
#include "mailing_content.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

struct content_read {
	struct mailing_content *m;
	int found;
};

static int
mailing_row(void *arg, unsigned ncolumns, char **col)
{
	struct content_read *r = arg;
	struct mailing_content *m = r->m;

	(void)ncolumns;
	r->found = 1;
	m->name = xstrdup(col[0]);
	m->template_dir = xstrdup(col[1]);
	m->subject = xstrdup(col[2]);
	m->from = xstrdup(col[3]);
	m->reply_to = xstrdup(col[4] ? col[4] : "");
	m->rate_limit = col[5] ? atof(col[5]) : 0;
	m->track_clicks = col[6] && strcmp(col[6], "0") != 0;
	m->utm_parameters = col[7] ? xstrdup(col[7]) : NULL;
	return 0;
}

static int
variant_row(void *arg, unsigned ncolumns, char **col)
{
	struct mailing_content *m = arg;
	struct mailing_variant *v;

	(void)ncolumns;
	m->variants = xrealloc(m->variants, (m->variant_count + 1) *
	    sizeof(*m->variants));
	v = &m->variants[m->variant_count++];
	v->id = (uint32_t)strtoul(col[0], NULL, 10);
	v->template_dir = col[1] ? xstrdup(col[1]) : NULL;
	v->subject = col[2] ? xstrdup(col[2]) : NULL;
	v->from = col[3] ? xstrdup(col[3]) : NULL;
	return 0;
}

int
mailing_content_read(MYSQL *db, uint64_t mailing_id,
    struct mailing_content *m, struct buf *err)
{
	struct content_read r = { .m = m };
	char id[24];
	const char *params[1] = { id };

	memset(m, 0, sizeof(*m));
	m->id = mailing_id;
	snprintf(id, sizeof(id), "%" PRIu64, mailing_id);
	if (db_query_strings(db, "SELECT name, template_dir, subject, "
	    "from_address, reply_to, rate_limit_per_hour, track_clicks, "
	    "utm_parameters FROM mailings "
	    "WHERE id = ?", 1, params, mailing_row, &r, err) != 0)
		goto fail;
	if (!r.found) {
		buf_printf(err, "mailing %s does not exist", id);
		goto fail;
	}
	if (db_query_strings(db, "SELECT id, template_dir, subject, "
	    "from_address FROM variants WHERE mailing_id = ? ORDER BY id", 1, params,
	    variant_row, m, err) != 0)
		goto fail;
	return 0;
fail:
	mailing_content_free(m);
	return -1;
}

void
mailing_content_free(struct mailing_content *m)
{
	for (unsigned i = 0; i < m->variant_count; i++) {
		free(m->variants[i].template_dir);
		free(m->variants[i].subject);
		free(m->variants[i].from);
	}
	free(m->variants);
	free(m->name);
	free(m->template_dir);
	free(m->subject);
	free(m->from);
	free(m->reply_to);
	free(m->utm_parameters);
	memset(m, 0, sizeof(*m));
}
