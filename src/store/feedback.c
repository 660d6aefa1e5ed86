/*
 * feedback.c - what a bounce or a complaint changes (see feedback.h).
 *
 * The stage table is MyISAM and cannot roll back: a bounce writes it
 * last (history_record_bounce), after the InnoDB rows whose primary
 * keys make a second recording of the same report a no-op, so a retry
 * after any failure records the report whole, once.
 */
#include "feedback.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "suppression.h"

static const char *const feedback_types[] = {
	"abuse", "fraud", "virus", "other", "not-spam", "opt-out",
};

int
feedback_type_known(const char *type)
{
	for (size_t i = 0; i < sizeof(feedback_types) /
	    sizeof(feedback_types[0]); i++)
		if (strcmp(type, feedback_types[i]) == 0)
			return 1;
	return 0;
}

/*
 * Inside the caller's transaction: recipient's status becomes status
 * (from active, or from unsubscribed for a complaint, the stronger
 * word), and its address is suppressed (*added 1 when the entry is new).
 */
static int
feedback_suppress(MYSQL *db, const struct history_row *row,
    uint64_t mailing, uint64_t recipient, const char *status,
    enum suppression_source source, const char *reason, const char *detail,
    int *added, struct buf *err)
{
	const struct db_value values[3] = { db_bind_text(status),
	    db_bind_u64(recipient), db_bind_text(status) };
	struct suppression_list one = { 0 };
	unsigned long long inserted = 0;
	int failed;

	failed = db_execute_values(db, "UPDATE recipients SET status = ? "
	    "WHERE id = ? AND (status = 'active' OR (? = 'complained' AND "
	    "status = 'unsubscribed'))", 3, values, NULL, err) ||
	    suppression_normalize(row->email, &one, err) ||
	    suppression_insert(db, &one, source, reason, detail, mailing,
	    &inserted, err);
	suppression_list_free(&one);
	*added = inserted > 0;
	return failed ? -1 : 0;
}

/* Soft bounces of email within the window, the one just recorded
 * included. */
static int
feedback_soft_bounces(MYSQL *db, const struct herald_config *cfg,
    const char *email, unsigned long long *count, struct buf *err)
{
	const struct db_value values[2] = { db_bind_text(email),
	    db_bind_i64(cfg->soft_bounce_window) };
	struct buf n = BUF_INIT;
	int rc;

	rc = db_query_values(db, "SELECT COUNT(*) FROM bounces WHERE email = "
	    "? AND hard = 0 AND bounced_at >= UTC_TIMESTAMP() - INTERVAL ? "
	    "SECOND", 2, values, db_first_value, &n, err);
	*count = strtoull(buf_str(&n), NULL, 10);
	buf_free(&n);
	return rc;
}

int
feedback_record_bounce(MYSQL *db, const struct herald_config *cfg,
    const struct history_row *row, uint64_t mailing, uint64_t recipient,
    const char *reply, const struct bounce_class *class,
    struct feedback_outcome *outcome, struct buf *err)
{
	const struct db_value m[1] = { db_bind_u64(mailing) };
	char mailing_id[24], recipient_id[24];
	struct buf ignored = BUF_INIT, detail = BUF_INIT;
	int rc = -1;

	memset(outcome, 0, sizeof(*outcome));
	snprintf(mailing_id, sizeof(mailing_id), "%" PRIu64, mailing);
	snprintf(recipient_id, sizeof(recipient_id), "%" PRIu64, recipient);
	if (db_exec(db, "START TRANSACTION", err) ||
	    db_execute_values(db, "UPDATE mailings SET bounced_count = "
	    "bounced_count + 1 WHERE id = ?", 1, m, NULL, err) ||
	    history_record_bounce(db, row, mailing_id, recipient_id, reply,
	    class, &outcome->changed, err))
		goto out;
	if (!outcome->changed) {
		/* Recorded before: the counter's increment goes too. */
		rc = db_exec(db, "ROLLBACK", err);
		goto out;
	}
	if (class->hard) {
		buf_printf(&detail, "%s (%s)", reply,
		    bounce_reason_name(class->reason));
		if (feedback_suppress(db, row, mailing, recipient, "bounced",
		    SUPPRESSION_BOUNCE, "bounced", buf_str(&detail),
		    &outcome->suppressed, err))
			goto out;
	} else {
		if (feedback_soft_bounces(db, cfg, row->email,
		    &outcome->soft_bounces, err))
			goto out;
		buf_printf(&detail, "%llu soft bounces within %ld s, the last "
		    "%s (%s)", outcome->soft_bounces, cfg->soft_bounce_window,
		    reply, bounce_reason_name(class->reason));
		if (outcome->soft_bounces >= (unsigned long long)
		    cfg->soft_bounce_limit && feedback_suppress(db, row,
		    mailing, recipient, "bounced", SUPPRESSION_BOUNCE,
		    "soft bounces", buf_str(&detail), &outcome->suppressed,
		    err))
			goto out;
	}
	rc = db_exec(db, "COMMIT", err);
out:
	if (rc != 0) {
		db_exec(db, "ROLLBACK", &ignored);
		memset(outcome, 0, sizeof(*outcome));
	}
	buf_free(&ignored);
	buf_free(&detail);
	return rc;
}

int
feedback_record_complaint(MYSQL *db, const struct history_row *row,
    uint64_t mailing, uint64_t recipient, const char *feedback_type,
    struct feedback_outcome *outcome, struct buf *err)
{
	const struct db_value values[5] = { db_bind_u64(mailing),
	    db_bind_u64(recipient), db_bind_u64(row->variant_id),
	    db_bind_text(row->email), db_bind_text(feedback_type) };
	const struct db_value m[1] = { db_bind_u64(mailing) };
	struct buf ignored = BUF_INIT, detail = BUF_INIT;
	unsigned long long inserted = 0;
	int rc = -1;

	memset(outcome, 0, sizeof(*outcome));
	if (db_exec(db, "START TRANSACTION", err) ||
	    db_execute_values(db, "INSERT IGNORE INTO complaints (mailing_id, "
	    "recipient_id, variant_id, email, feedback_type) VALUES (?, ?, ?, "
	    "?, ?)", 5, values, &inserted, err))
		goto out;
	outcome->changed = inserted > 0;
	if (!outcome->changed) {
		rc = db_exec(db, "ROLLBACK", err);
		goto out;
	}
	buf_printf(&detail, "ARF feedback type %s", feedback_type);
	if (db_execute_values(db, "UPDATE mailings SET complained_count = "
	    "complained_count + 1 WHERE id = ?", 1, m, NULL, err) ||
	    feedback_suppress(db, row, mailing, recipient, "complained",
	    SUPPRESSION_COMPLAINT, "complained", buf_str(&detail),
	    &outcome->suppressed, err))
		goto out;
	rc = db_exec(db, "COMMIT", err);
out:
	if (rc != 0) {
		db_exec(db, "ROLLBACK", &ignored);
		memset(outcome, 0, sizeof(*outcome));
	}
	buf_free(&ignored);
	buf_free(&detail);
	return rc;
}

/* Row: delivered, hard, soft, complaints, unsubscribes. */
static int
feedback_counts_row(void *arg, unsigned ncolumns, char **columns)
{
	struct feedback_counts *c = arg;
	unsigned long long *slots[5] = { &c->delivered, &c->hard_bounces,
	    &c->soft_bounces, &c->complaints, &c->unsubscribes };

	for (unsigned i = 0; i < ncolumns && i < 5; i++)
		*slots[i] = columns[i] ? strtoull(columns[i], NULL, 10) : 0;
	return 1;
}

int
feedback_counts_read(MYSQL *db, uint64_t mailing,
    struct feedback_counts *counts, struct buf *err)
{
	const struct db_value id[5] = { db_bind_u64(mailing),
	    db_bind_u64(mailing), db_bind_u64(mailing), db_bind_u64(mailing),
	    db_bind_u64(mailing) };

	memset(counts, 0, sizeof(*counts));
	return db_query_values(db, "SELECT (SELECT sent_count FROM mailings "
	    "WHERE id = ?), (SELECT COUNT(*) FROM bounces WHERE mailing_id = ? "
	    "AND hard = 1), (SELECT COUNT(*) FROM bounces WHERE mailing_id = "
	    "? AND hard = 0), (SELECT COUNT(*) FROM complaints WHERE "
	    "mailing_id = ?), (SELECT COUNT(*) FROM suppressions WHERE "
	    "mailing_id = ? AND source = 'unsubscribe')", 5, id,
	    feedback_counts_row, counts, err);
}

double
feedback_rate(unsigned long long events, unsigned long long delivered)
{
	return delivered ? 100.0 * (double)events / (double)delivered : 0.0;
}
