/*
 * unsubscribe.c - what an unsubscribe records (see unsubscribe.h).
 *
 * The recipient's row is read FOR UPDATE first, so two unsubscribes of
 * the same recipient at once (a provider's POST and the page's button)
 * run one after the other and the second finds it done.
 */
#include "unsubscribe.h"
#include "db.h"

#include <string.h>

/* Row: email, status, whether the address is suppressed. */
static int
unsubscribe_row(void *arg, unsigned ncolumns, char **columns)
{
	struct unsubscribe_target *target = arg;

	if (ncolumns != 3 || columns[0] == NULL)
		return 1;
	target->found = 1;
	buf_reset(&target->email);
	buf_append_str(&target->email, columns[0]);
	target->unsubscribed = (columns[1] && strcmp(columns[1], "active")) ||
	    (columns[2] && strcmp(columns[2], "0"));
	return 1;
}

static int
unsubscribe_find(MYSQL *db, uint64_t mailing_id, uint64_t recipient_id,
    int for_update, struct unsubscribe_target *target, struct buf *err)
{
	struct db_value values[2] = {
		db_bind_u64(recipient_id), db_bind_u64(mailing_id),
	};

	target->found = 0;
	target->unsubscribed = 0;
	buf_reset(&target->email);
	return db_query_values(db, for_update ?
	    "SELECT r.email, r.status, EXISTS (SELECT 1 FROM suppressions s "
	    "WHERE s.email = r.email) FROM recipients r WHERE r.id = ? AND "
	    "EXISTS (SELECT 1 FROM mailings m WHERE m.id = ?) FOR UPDATE" :
	    "SELECT r.email, r.status, EXISTS (SELECT 1 FROM suppressions s "
	    "WHERE s.email = r.email) FROM recipients r WHERE r.id = ? AND "
	    "EXISTS (SELECT 1 FROM mailings m WHERE m.id = ?)", 2, values,
	    unsubscribe_row, target, err);
}

int
unsubscribe_lookup(MYSQL *db, uint64_t mailing_id, uint64_t recipient_id,
    struct unsubscribe_target *target, struct buf *err)
{
	return unsubscribe_find(db, mailing_id, recipient_id, 0, target, err);
}

int
unsubscribe_record(MYSQL *db, uint64_t mailing_id, uint64_t recipient_id,
    enum suppression_channel channel, const char *remote_address,
    enum unsubscribe_outcome *outcome, struct unsubscribe_target *target,
    struct buf *err)
{
	struct unsubscribe_target own = { 0 };
	struct unsubscribe_target *t = target ? target : &own;
	struct db_value id = db_bind_u64(recipient_id);
	struct buf ignored = BUF_INIT;
	unsigned long long changed = 0;
	int added = 0, rc = -1;

	*outcome = UNSUBSCRIBE_UNKNOWN;
	if (db_exec(db, "START TRANSACTION", err) != 0)
		goto out;
	if (unsubscribe_find(db, mailing_id, recipient_id, 1, t, err) != 0)
		goto out;
	if (!t->found) {
		rc = 0;
		goto out;
	}
	if (db_execute_values(db, "UPDATE recipients SET status = "
	    "'unsubscribed' WHERE id = ? AND status = 'active'", 1, &id,
	    &changed, err) != 0 ||
	    suppression_insert_unsubscribe(db, buf_str(&t->email), mailing_id,
	    channel, remote_address, &added, err) != 0)
		goto out;
	if (db_exec(db, "COMMIT", err) != 0)
		goto out;
	*outcome = changed || added ? UNSUBSCRIBE_DONE : UNSUBSCRIBE_ALREADY;
	t->unsubscribed = 1;
	rc = 0;
out:
	/* Also ends the read-only transaction of an unknown token. */
	if (rc != 0 || *outcome == UNSUBSCRIBE_UNKNOWN)
		db_exec(db, "ROLLBACK", &ignored);
	buf_free(&ignored);
	buf_free(&own.email);
	return rc;
}
