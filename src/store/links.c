/*
 * links.c - the links table (see links.h).
 *
 * A URL is identified within its mailing by its SHA-256 (url_hash): a
 * TEXT column cannot carry a unique key, and a prefix of one would
 * confuse two long URLs that differ at the end.
 */
#include "links.h"
#include "db.h"

#include <inttypes.h>
#include <stdlib.h>

int
links_register(MYSQL *db, uint64_t mailing_id, const char *const *urls,
    unsigned count, uint64_t *ids, struct buf *err)
{
	struct buf id = BUF_INIT;
	int rc = 0;

	for (unsigned i = 0; i < count && rc == 0; i++) {
		struct db_value values[3] = {
			db_bind_u64(mailing_id), db_bind_text(urls[i]),
			db_bind_text(urls[i]),
		};

		/* INSERT IGNORE would also hide other errors; a duplicate
		 * key is the one expected, and the update changes nothing. */
		rc = db_execute_values(db, "INSERT INTO links (mailing_id, "
		    "url_hash, url) VALUES (?, UNHEX(SHA2(?, 256)), ?) ON "
		    "DUPLICATE KEY UPDATE id = id", 3, values, NULL, err);
		if (rc == 0)
			rc = db_query_values(db, "SELECT id FROM links WHERE "
			    "mailing_id = ? AND url_hash = UNHEX(SHA2(?, 256))",
			    2, values, db_first_value, &id, err);
		if (rc == 0 && id.len == 0) {
			buf_printf(err, "mailing %" PRIu64 ": the link \"%s\" "
			    "was not recorded", mailing_id, urls[i]);
			rc = -1;
		}
		if (rc == 0)
			ids[i] = strtoull(buf_str(&id), NULL, 10);
	}
	buf_free(&id);
	return rc;
}

int
links_lookup(MYSQL *db, uint64_t mailing_id, uint64_t link_id,
    struct buf *url, int *found, struct buf *err)
{
	struct db_value values[2] = {
		db_bind_u64(link_id), db_bind_u64(mailing_id),
	};
	struct buf value = BUF_INIT;
	int rc;

	buf_reset(url);
	*found = 0;
	/* db_first_value leaves an empty buffer for no row: ask for a
	 * marker before the URL so an empty URL could not pass for one. */
	rc = db_query_values(db, "SELECT CONCAT('=', url) FROM links WHERE "
	    "id = ? AND mailing_id = ?", 2, values, db_first_value, &value,
	    err);
	if (rc == 0 && value.len > 0) {
		*found = 1;
		buf_append_str(url, buf_str(&value) + 1);
	}
	buf_free(&value);
	return rc;
}

int
links_attach(MYSQL *db, struct composer *c, struct buf *err)
{
	const char *const *targets;
	unsigned count = composer_links(c, &targets);
	uint64_t *ids;
	int rc;

	if (!composer_tracks_clicks(c))
		return 0;
	ids = xcalloc(count + 1, sizeof(*ids));
	rc = links_register(db, composer_mailing_id(c), targets, count, ids,
	    err);
	if (rc == 0)
		composer_set_link_ids(c, ids);
	free(ids);
	return rc;
}
