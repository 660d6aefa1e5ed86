/*
 * delivery.h - reading a batch's rows to send and recording what became
 * of them, in bulk.
 *
 * delivery_read_pending() loads the rows of a claimed batch that still
 * need a message and are due (pending or deferred, with next_attempt_at
 * unset or passed: a deferred row's retry time, or a pending row's due
 * time in its send window) with the personalization snapshot the stager
 * took. "Passed" is by date_now() (date.h). delivery_record() writes the outcome of many
 * messages with one UPDATE per chunk, never one statement per message.
 * Before reading, rows whose address was suppressed after staging become
 * "suppressed" (suppression.h) and are not read.
 *
 * Outcomes map to stage-table states:
 *	SENT            2xx          -> sent (queue id and reply kept)
 *	DEFERRED        4xx          -> deferred, retried later with a
 *	                                doubling delay; failed after the
 *	                                last attempt
 *	FAILED          5xx          -> failed (reply kept)
 *	POSSIBLY_SENT   DATA was sent but the reply never came
 *	                             -> sent, reply says so: re-sending it
 *	                                could duplicate, and its Message-ID
 *	                                lets a duplicate be recognised
 *	NOT_ATTEMPTED   the session failed before DATA
 *	                             -> untouched (still pending)
 * A row cancelled while its message was with the relay ends sent when the
 * relay took it (it did go out), and stays cancelled otherwise.
 */
#ifndef HERALD_DELIVERY_H
#define HERALD_DELIVERY_H

#include <mysql.h>
#include <stdint.h>

#include "batch.h"
#include "buf.h"

/* The personalization fields of a stage row, in this order. */
enum delivery_field {
	FIELD_EMAIL,
	FIELD_FIRST_NAME,
	FIELD_LAST_NAME,
	FIELD_CITY,
	FIELD_STATE,
	FIELD_ZIP,
	FIELD_COUNTRY,
	FIELD_DONATED_TOTAL,
	FIELD_LAST_DONATION_AMOUNT,
	FIELD_LAST_DONATION_AT,
	FIELD_ATTRIBUTES,
	DELIVERY_FIELD_COUNT
};

/* Column names of the fields above (also the template variable names). */
extern const char *const delivery_field_names[DELIVERY_FIELD_COUNT];

struct delivery_row {
	uint32_t row_id;
	uint64_t recipient_id;
	uint32_t variant_id;
	unsigned attempts;
	/* NUL-terminated; "" for SQL NULL. Point into the row set. */
	const char *fields[DELIVERY_FIELD_COUNT];
};

/* A batch's rows. Reused from batch to batch: it stops allocating once
 * it has held the largest batch. */
struct delivery_rows {
	struct delivery_row *rows;
	unsigned count;
	unsigned capacity;
	struct buf text;	/* every field's bytes */
	unsigned rows_not_due;	/* rows whose due or retry time is later */
	unsigned rows_suppressed;/* the batch's suppressed rows, all of them */
};

void delivery_rows_init(struct delivery_rows *set);
void delivery_rows_free(struct delivery_rows *set);

/* Loads the rows of batch after its checkpoint still to be sent. */
int delivery_read_pending(MYSQL *db, const struct batch *batch,
    struct delivery_rows *set, struct buf *err);

enum delivery_outcome {
	DELIVERY_SENT,
	DELIVERY_DEFERRED,
	DELIVERY_FAILED,
	DELIVERY_POSSIBLY_SENT,
	DELIVERY_NOT_ATTEMPTED,
};

struct delivery_result {
	uint32_t row_id;
	unsigned attempts;		/* before this one */
	enum delivery_outcome outcome;
	const char *queue_id;		/* may be NULL */
	const char *reply;		/* the relay's reply, may be NULL */
};

/*
 * The waits before each retry of a deferred row (retry_schedule); after
 * the last retry a deferred row is failed. Default: 5m 10m 30m 1h 2h 4h.
 */
void delivery_set_retry_schedule(const long *delays, unsigned count);
unsigned delivery_retry_count(void);

/*
 * Records results (any number; written in chunks) in the batch's stage
 * table, then adds them to the mailing's counters and moves the batch's
 * checkpoint past them, in one transaction. Only rows still to send
 * (pending, deferred) are moved, so a row finished meanwhile is not
 * counted again; a row cancelled while the relay had its message becomes
 * sent when the relay took it (the mailing's cancelled_count is counted
 * again). A failure anywhere returns -1 and the caller records the same
 * results again: the stage rows are written, not incremented (attempts
 * is set to the result's attempts + 1), a retry matches the rows the
 * first try moved, and the counters grow only with the checkpoint, so
 * each result counts once whatever failed. deferred_count counts
 * deferrals: a row deferred twice counts twice; the stage table has the
 * current state of every row. *sent, *deferred and *failed, when not
 * NULL, get the counts of rows that ended in each state.
 */
int delivery_record(MYSQL *db, const struct batch *batch,
    const struct delivery_result *results, unsigned count,
    unsigned *sent, unsigned *deferred, unsigned *failed, struct buf *err);

/*
 * Sets the mailing's cancelled_count to its cancelled rows in
 * stage_table. Whoever moves rows into or out of cancelled calls it
 * afterwards: counted from the rows, never added to, the last call is
 * right whatever order a cancel and a worker's recording ran in.
 */
int delivery_count_cancelled(MYSQL *db, const char *stage_table,
    uint64_t mailing_id, struct buf *err);

/*
 * Counts the batch's rows not yet in a final state and puts the earliest
 * retry time (UTC DATETIME text, "" when none) in retry_at.
 */
int delivery_rows_left(MYSQL *db, const struct batch *batch,
    unsigned *left, char *retry_at, size_t size, struct buf *err);

#endif
