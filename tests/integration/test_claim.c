/*
 * test_claim.c - batch claims, leases and bulk recording (src/store/batch.c,
 * src/store/delivery.c), the mailing's state moves (src/store/mailing.c) and typed
 * binds (src/store/db.c) against the real MariaDB that contrib/check starts
 * ($HERALD_TEST_SOCKET). Each test gets a fresh database with the schema
 * applied by src/store/migrate.c, one mailing staged by hand in stage_1 with
 * 10 rows in two batches. Claims racing each other and other
 * transactions run in child processes, each with its own connection.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch.h"
#include "db.h"
#include "history.h"
#include "delivery.h"
#include "mailing.h"
#include "suppression.h"
#include "testdb.h"

static struct herald_config cfg;
static char database[64];
static MYSQL *db_a, *db_b;
static struct batch_owner owner_a = { "node-a", 101, 60 };
static struct batch_owner owner_b = { "node-b", 202, 60 };

static void
setup(void)
{
	struct buf text = BUF_INIT;

	testdb_config(&cfg);
	snprintf(database, sizeof(database), "t_claim_%ld", (long)getpid());
	db_a = testdb_connect(&cfg, DB_FOUND_ROWS | DB_MULTI_STATEMENTS, NULL);
	testdb_create(db_a, database);
	sql(db_a, "INSERT INTO mailings (id, name, template_dir, subject, "
	    "from_address, segment_expression, send_at, state, stage_table, "
	    "staged_count) VALUES (1, 'm1', '/t', 's', 'a@b.c', 'true', "
	    "UTC_TIMESTAMP(), 'ready', 'stage_1', 10)");
	sql(db_a, "CREATE TABLE stage_1 LIKE stage_template");
	for (int i = 1; i <= 10; i++) {
		buf_reset(&text);
		buf_printf(&text, "INSERT INTO stage_1 (mailing_id, row_id, "
		    "recipient_id, email, first_name) VALUES (1, %d, %d, "
		    "'r%d@example.org', 'Name%d')", i, 100 + i, i, i);
		sql(db_a, buf_str(&text));
	}
	sql(db_a, "INSERT INTO batches (id, mailing_id, stage_table, "
	    "first_row, last_row) VALUES (1, 1, 'stage_1', 1, 5), "
	    "(2, 1, 'stage_1', 6, 10)");
	db_b = testdb_connect(&cfg, DB_FOUND_ROWS | DB_MULTI_STATEMENTS,
	    database);
	ck_assert(db_b != NULL);
	buf_free(&text);
}

static void
teardown(void)
{
	testdb_drop(db_a, database);
	mysql_close(db_a);
	mysql_close(db_b);
	config_free(&cfg);
}

static struct batch
claim(MYSQL *db, const struct batch_owner *owner, int want_claimed)
{
	struct batch batch;
	struct buf err = BUF_INIT;
	int claimed;

	memset(&batch, 0, sizeof(batch));
	ck_assert_msg(batch_claim(db, owner, &batch, &claimed, &err) == 0,
	    "%s", buf_str(&err));
	ck_assert_int_eq(claimed, want_claimed);
	buf_free(&err);
	return batch;
}

START_TEST(claim_takes_a_batch_and_marks_the_mailing_sending)
{
	struct batch b = claim(db_a, &owner_a, 1);

	ck_assert_uint_eq(b.id, 1);
	ck_assert_uint_eq(b.mailing_id, 1);
	ck_assert_str_eq(b.stage_table, "stage_1");
	ck_assert_uint_eq(b.first_row, 1);
	ck_assert_uint_eq(b.last_row, 5);
	expect(db_a, "SELECT state, owner_node, owner_pid, "
	    "lease_expires_at > NOW(3) FROM batches WHERE id = 1",
	    "claimed|node-a|101|1");
	expect(db_a, "SELECT state FROM mailings WHERE id = 1", "sending");
}
END_TEST

START_TEST(concurrent_claims_skip_locked_rows)
{
	struct batch b;

	/* Connection A holds batch 1's row lock in an open transaction,
	 * as a worker in the middle of its claim would. */
	sql(db_a, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
	sql(db_a, "START TRANSACTION");
	free(query(db_a, "SELECT id FROM batches WHERE id = 1 FOR UPDATE"));
	b = claim(db_b, &owner_b, 1);
	ck_assert_uint_eq(b.id, 2);
	sql(db_a, "ROLLBACK");
	b = claim(db_a, &owner_a, 1);
	ck_assert_uint_eq(b.id, 1);
	claim(db_b, &owner_b, 0);
}
END_TEST

/* Past a whole read of candidates held by others (16 at a time): the
 * claim reads on and takes the first batch no one holds. */
START_TEST(claim_reads_on_past_candidates_others_hold)
{
	struct batch b;

	sql(db_a, "INSERT INTO batches (id, mailing_id, stage_table, "
	    "first_row, last_row) SELECT seq, 1, 'stage_1', 1, 5 FROM "
	    "seq_3_to_40");
	sql(db_a, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
	sql(db_a, "START TRANSACTION");
	free(query(db_a, "SELECT COUNT(*) FROM (SELECT id FROM batches WHERE "
	    "id <= 33 FOR UPDATE) AS held"));
	b = claim(db_b, &owner_b, 1);
	ck_assert_uint_eq(b.id, 34);
	sql(db_a, "ROLLBACK");
}
END_TEST

START_TEST(expired_lease_is_claimed_again_and_old_owner_loses_it)
{
	struct buf err = BUF_INIT;
	struct batch old, taken;
	int ours = -1;

	old = claim(db_a, &owner_a, 1);
	claim(db_b, &owner_b, 1);		/* batch 2 */
	claim(db_b, &owner_b, 0);		/* nothing left */
	sql(db_a, "UPDATE batches SET lease_expires_at = NOW(3) - INTERVAL "
	    "1 SECOND WHERE id = 1");
	taken = claim(db_b, &owner_b, 1);
	ck_assert_uint_eq(taken.id, 1);
	ck_assert_int_eq(batch_checkpoint(db_a, &owner_a, &old, 3, &ours,
	    &err), 0);
	ck_assert_int_eq(ours, 0);
	ck_assert_int_eq(batch_checkpoint(db_b, &owner_b, &taken, 3, &ours,
	    &err), 0);
	ck_assert_int_eq(ours, 1);
	ck_assert_uint_eq(taken.checkpoint_row, 3);
	expect(db_a, "SELECT checkpoint_row, claim_count FROM batches "
	    "WHERE id = 1", "3|2");
	buf_free(&err);
}
END_TEST

START_TEST(paused_mailing_is_not_claimed)
{
	sql(db_a, "UPDATE mailings SET state = 'paused' WHERE id = 1");
	claim(db_a, &owner_a, 0);
	sql(db_a, "UPDATE mailings SET state = 'sending' WHERE id = 1");
	claim(db_a, &owner_a, 1);
}
END_TEST

START_TEST(read_pending_resumes_after_checkpoint)
{
	struct delivery_rows rows;
	struct buf err = BUF_INIT;
	struct batch b = claim(db_a, &owner_a, 1);

	delivery_rows_init(&rows);
	ck_assert_int_eq(delivery_read_pending(db_a, &b, &rows, &err), 0);
	ck_assert_uint_eq(rows.count, 5);
	ck_assert_uint_eq(rows.rows[0].row_id, 1);
	ck_assert_uint_eq(rows.rows[0].recipient_id, 101);
	ck_assert_str_eq(rows.rows[4].fields[FIELD_EMAIL], "r5@example.org");
	ck_assert_str_eq(rows.rows[4].fields[FIELD_FIRST_NAME], "Name5");
	ck_assert_str_eq(rows.rows[4].fields[FIELD_CITY], "");
	b.checkpoint_row = 3;
	sql(db_a, "UPDATE stage_1 SET delivery_state = 'sent' WHERE row_id = 5");
	sql(db_a, "UPDATE stage_1 SET delivery_state = 'deferred', "
	    "next_attempt_at = UTC_TIMESTAMP() + INTERVAL 1 HOUR "
	    "WHERE row_id = 4");
	ck_assert_int_eq(delivery_read_pending(db_a, &b, &rows, &err), 0);
	ck_assert_uint_eq(rows.count, 0);
	ck_assert_uint_eq(rows.rows_not_due, 1);
	delivery_rows_free(&rows);
	buf_free(&err);
}
END_TEST

/*
 * Addresses suppressed after staging: reading the batch turns their
 * rows into "suppressed" and counts them. The stage table is MyISAM, so
 * a failure after its UPDATE (injected: a trigger refuses the counter)
 * cannot be rolled back there; the next read must still count each row
 * exactly once.
 */
START_TEST(read_pending_suppresses_and_counts_each_row_once)
{
	struct delivery_rows rows;
	struct buf err = BUF_INIT;
	struct batch b = claim(db_a, &owner_a, 1);

	sql(db_a, "INSERT INTO suppressions (email, source, reason) VALUES "
	    "('R2@example.org', 'operator', 'asked'), ('r4@example.org', "
	    "'unsubscribe', ''), ('r7@example.org', 'bounce', 'x')");
	sql(db_a, "UPDATE stage_1 SET delivery_state = 'deferred', "
	    "next_attempt_at = UTC_TIMESTAMP() WHERE row_id = 4");
	sql(db_a, "CREATE TRIGGER refuse_count BEFORE UPDATE ON mailings FOR "
	    "EACH ROW BEGIN IF NEW.suppressed_count <> OLD.suppressed_count "
	    "THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected'; "
	    "END IF; END");
	delivery_rows_init(&rows);
	ck_assert_int_eq(delivery_read_pending(db_a, &b, &rows, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "injected"));
	expect(db_a, "SELECT GROUP_CONCAT(row_id ORDER BY row_id), "
	    "(SELECT suppressed_count FROM mailings WHERE id = 1) FROM stage_1 "
	    "WHERE delivery_state = 'suppressed'", "2,4|0");
	sql(db_a, "DROP TRIGGER refuse_count");
	buf_reset(&err);
	ck_assert_msg(delivery_read_pending(db_a, &b, &rows, &err) == 0, "%s",
	    buf_str(&err));
	ck_assert_uint_eq(rows.count, 3);
	ck_assert_uint_eq(rows.rows[0].row_id, 1);
	ck_assert_uint_eq(rows.rows[1].row_id, 3);
	ck_assert_uint_eq(rows.rows[2].row_id, 5);
	expect(db_a, "SELECT suppressed_count FROM mailings WHERE id = 1", "2");
	expect(db_a, "SELECT relay_reply FROM stage_1 WHERE row_id = 2",
	    "suppressed (operator: asked)");
	expect(db_a, "SELECT relay_reply FROM stage_1 WHERE row_id = 4",
	    "suppressed (unsubscribe)");
	/* Read again: nothing more to count; row 7 is another batch's. */
	ck_assert_int_eq(delivery_read_pending(db_a, &b, &rows, &err), 0);
	expect(db_a, "SELECT suppressed_count, (SELECT delivery_state FROM "
	    "stage_1 WHERE row_id = 7) FROM mailings WHERE id = 1",
	    "2|pending");
	delivery_rows_free(&rows);
	buf_free(&err);
}
END_TEST

START_TEST(record_maps_outcomes_to_states_in_bulk)
{
	struct buf err = BUF_INIT;
	struct batch b = claim(db_a, &owner_a, 1);
	const char *hostile = "250 it's \"queued\"; DROP TABLE x; -- \\";
	struct delivery_result results[5] = {
		{ 1, 0, DELIVERY_SENT, "4AbC", hostile },
		{ 2, 0, DELIVERY_DEFERRED, NULL, "451 4.3.0 try later" },
		{ 3, 0, DELIVERY_FAILED, NULL, "550 5.1.1 no such user" },
		{ 4, 0, DELIVERY_POSSIBLY_SENT, NULL,
		    "connection lost after DATA" },
		{ 5, 0, DELIVERY_NOT_ATTEMPTED, NULL, NULL },
	};
	unsigned sent, deferred, failed, left;
	char retry_at[32];

	ck_assert_msg(delivery_record(db_a, &b, results, 5, &sent, &deferred,
	    &failed, &err) == 0, "%s", buf_str(&err));
	ck_assert_uint_eq(sent, 2);
	ck_assert_uint_eq(deferred, 1);
	ck_assert_uint_eq(failed, 1);
	expect(db_a, "SELECT GROUP_CONCAT(CONCAT(row_id, ':', delivery_state, "
	    "':', attempts) ORDER BY row_id) FROM stage_1 WHERE row_id <= 5",
	    "1:sent:1,2:deferred:1,3:failed:1,4:sent:1,5:pending:0");
	expect(db_a, "SELECT queue_id, relay_reply, delivered_at IS NOT NULL "
	    "FROM stage_1 WHERE row_id = 1",
	    "4AbC|250 it's \"queued\"; DROP TABLE x; -- \\|1");
	expect(db_a, "SELECT next_attempt_at > UTC_TIMESTAMP(), delivered_at "
	    "FROM stage_1 WHERE row_id = 2", "1|NULL");
	ck_assert_int_eq(delivery_rows_left(db_a, &b, &left, retry_at,
	    sizeof(retry_at), &err), 0);
	ck_assert_uint_eq(left, 2);
	ck_assert(retry_at[0] != '\0');
	buf_free(&err);
}
END_TEST

/*
 * Values all results share are set once, the others row by row (a CASE):
 * every row gets its own either way, whichever columns differ.
 */
START_TEST(record_sets_each_rows_own_values)
{
	struct buf err = BUF_INIT;
	struct batch b = claim(db_a, &owner_a, 1);
	struct delivery_result results[5] = {
		{ 1, 0, DELIVERY_SENT, "Q1", "250 ok" },
		{ 2, 1, DELIVERY_SENT, "Q2", "250 ok" },
		{ 3, 0, DELIVERY_SENT, NULL, "250 ok" },
		{ 4, 2, DELIVERY_SENT, "Q4", "250 ok" },
		{ 5, 0, DELIVERY_SENT, "Q5", "250 fine" },
	};
	struct delivery_result same[5] = {
		{ 6, 0, DELIVERY_FAILED, NULL, "550 no" },
		{ 7, 0, DELIVERY_FAILED, NULL, "550 no" },
		{ 8, 0, DELIVERY_FAILED, NULL, "550 no" },
		{ 9, 0, DELIVERY_FAILED, NULL, "550 no" },
		{ 10, 0, DELIVERY_FAILED, NULL, "550 no" },
	};
	struct batch b2;
	unsigned sent, deferred, failed;

	ck_assert_msg(delivery_record(db_a, &b, results, 5, &sent, &deferred,
	    &failed, &err) == 0, "%s", buf_str(&err));
	ck_assert_uint_eq(sent, 5);
	expect(db_a, "SELECT GROUP_CONCAT(CONCAT_WS(':', row_id, "
	    "delivery_state, attempts, IFNULL(queue_id, '-'), relay_reply) "
	    "ORDER BY row_id) FROM stage_1 WHERE row_id <= 5",
	    "1:sent:1:Q1:250 ok,2:sent:2:Q2:250 ok,3:sent:1:-:250 ok,"
	    "4:sent:3:Q4:250 ok,5:sent:1:Q5:250 fine");
	b2 = claim(db_b, &owner_b, 1);
	ck_assert_uint_eq(b2.first_row, 6);
	ck_assert_msg(delivery_record(db_b, &b2, same, 5, &sent, &deferred,
	    &failed, &err) == 0, "%s", buf_str(&err));
	ck_assert_uint_eq(failed, 5);
	expect(db_a, "SELECT GROUP_CONCAT(CONCAT_WS(':', row_id, "
	    "delivery_state, attempts, IFNULL(queue_id, '-'), relay_reply, "
	    "IFNULL(next_attempt_at, '-')) ORDER BY row_id) FROM stage_1 "
	    "WHERE row_id > 5", "6:failed:1:-:550 no:-,7:failed:1:-:550 no:-,"
	    "8:failed:1:-:550 no:-,9:failed:1:-:550 no:-,"
	    "10:failed:1:-:550 no:-");
	buf_free(&err);
}
END_TEST

/*
 * Results given out of row order, far apart (row ids spanning more than
 * one statement's 200) and with values of their own: each row gets its
 * own queue id, reply and tries, a deferred row its own retry time and
 * a sent row none; the rows between them are left alone.
 */
START_TEST(record_sets_values_by_row_whatever_the_order_and_gaps)
{
	struct buf err = BUF_INIT;
	struct batch b;
	struct delivery_result r[6] = {
		{ 600, 0, DELIVERY_SENT, "Q600", "250 queued as Q600" },
		{ 11, 2, DELIVERY_DEFERRED, NULL, "451 later 11" },
		{ 300, 0, DELIVERY_SENT, "Q300", "250 queued as Q300" },
		{ 12, 0, DELIVERY_DEFERRED, NULL, "451 later 12" },
		{ 450, 3, DELIVERY_FAILED, NULL, "550 no 450" },
		{ 13, 1, DELIVERY_SENT, "Q13", "250 queued as Q13" },
	};
	unsigned sent, deferred, failed;

	sql(db_a, "INSERT INTO stage_1 (mailing_id, row_id, recipient_id, "
	    "email) SELECT 1, seq, 100 + seq, CONCAT('r', seq, "
	    "'@example.org') FROM seq_11_to_600");
	sql(db_a, "INSERT INTO batches (id, mailing_id, stage_table, "
	    "first_row, last_row) VALUES (3, 1, 'stage_1', 11, 600)");
	memset(&b, 0, sizeof(b));
	b.id = 3;
	b.mailing_id = 1;
	b.first_row = 11;
	b.last_row = 600;
	snprintf(b.stage_table, sizeof(b.stage_table), "stage_1");
	ck_assert_msg(delivery_record(db_a, &b, r, 6, &sent, &deferred,
	    &failed, &err) == 0, "%s", buf_str(&err));
	ck_assert_uint_eq(sent, 3);
	ck_assert_uint_eq(deferred, 2);
	ck_assert_uint_eq(failed, 1);
	expect(db_a, "SELECT GROUP_CONCAT(CONCAT_WS(':', row_id, "
	    "delivery_state, attempts, IFNULL(queue_id, '-'), relay_reply, "
	    "next_attempt_at IS NOT NULL) ORDER BY row_id) FROM stage_1 "
	    "WHERE row_id IN (11, 12, 13, 300, 450, 600)",
	    "11:deferred:3:-:451 later 11:1,12:deferred:1:-:451 later 12:1,"
	    "13:sent:2:Q13:250 queued as Q13:0,"
	    "300:sent:1:Q300:250 queued as Q300:0,450:failed:4:-:550 no 450:0,"
	    "600:sent:1:Q600:250 queued as Q600:0");
	/* Each deferred row waits its own schedule entry (after two tries
	 * 30 minutes, after none 5, each moved by up to a tenth). */
	expect(db_a, "SELECT GROUP_CONCAT(TIMESTAMPDIFF(SECOND, "
	    "UTC_TIMESTAMP(), next_attempt_at) BETWEEN IF(row_id = 11, 1600, "
	    "260) AND IF(row_id = 11, 1990, 340) ORDER BY row_id) FROM "
	    "stage_1 WHERE row_id IN (11, 12)", "1,1");
	expect(db_a, "SELECT COUNT(*) FROM stage_1 WHERE row_id BETWEEN 11 "
	    "AND 600 AND delivery_state = 'pending'", "584");
	buf_free(&err);
}
END_TEST

/*
 * Recording is one transaction: a failure injected between its
 * statements (a trigger refusing the mailing's counters) leaves nothing
 * counted, and recording again, as the worker does, counts each result
 * once and leaves attempts at one try. So does a third recording (a
 * retry after a COMMIT whose answer was lost).
 */
START_TEST(record_counts_once_whatever_fails)
{
	struct buf err = BUF_INIT;
	struct batch b = claim(db_a, &owner_a, 1);
	struct delivery_result results[3] = {
		{ 1, 0, DELIVERY_SENT, "Q1", "250 ok" },
		{ 2, 0, DELIVERY_DEFERRED, NULL, "451 later" },
		{ 3, 0, DELIVERY_SENT, "Q3", "250 ok" },
	};
	unsigned sent, deferred, failed;

	sql(db_a, "CREATE TRIGGER refuse_count BEFORE UPDATE ON mailings FOR "
	    "EACH ROW BEGIN IF NEW.sent_count <> OLD.sent_count THEN SIGNAL "
	    "SQLSTATE '45000' SET MESSAGE_TEXT = 'injected'; END IF; END");
	ck_assert_int_eq(delivery_record(db_a, &b, results, 3, &sent,
	    &deferred, &failed, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "injected"));
	expect(db_a, "SELECT sent_count, deferred_count, (SELECT checkpoint_row "
	    "FROM batches WHERE id = 1) FROM mailings WHERE id = 1", "0|0|0");
	sql(db_a, "DROP TRIGGER refuse_count");
	for (int retry = 0; retry < 2; retry++) {
		buf_reset(&err);
		ck_assert_msg(delivery_record(db_a, &b, results, 3, &sent,
		    &deferred, &failed, &err) == 0, "%s", buf_str(&err));
		ck_assert_uint_eq(sent, 2);
		expect(db_a, "SELECT GROUP_CONCAT(CONCAT(row_id, ':', "
		    "delivery_state, ':', attempts) ORDER BY row_id) FROM "
		    "stage_1 WHERE row_id <= 3", "1:sent:1,2:deferred:1,"
		    "3:sent:1");
		expect(db_a, "SELECT sent_count, deferred_count, failed_count, "
		    "(SELECT checkpoint_row FROM batches WHERE id = 1) FROM "
		    "mailings WHERE id = 1", "2|1|0|3");
	}
	buf_free(&err);
}
END_TEST

START_TEST(retry_schedule_with_jitter)
{
	struct buf err = BUF_INIT;
	struct batch b = claim(db_a, &owner_a, 1);
	static const long delays[] = { 1000, 2000 };
	struct delivery_result r[2] = {
		{ 1, 0, DELIVERY_DEFERRED, NULL, "451 4.7.1 later" },
		{ 2, 2, DELIVERY_DEFERRED, NULL, "451 4.7.1 later" },
	};
	unsigned sent, deferred, failed;

	delivery_set_retry_schedule(delays, 2);
	ck_assert_int_eq(delivery_record(db_a, &b, r, 2, &sent, &deferred,
	    &failed, &err), 0);
	/* First deferral: 1000 s +/- 10%; a third try deferred: failed. */
	expect(db_a, "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), "
	    "next_attempt_at) BETWEEN 895 AND 1100 FROM stage_1 WHERE "
	    "row_id = 1", "1");
	expect(db_a, "SELECT delivery_state FROM stage_1 WHERE row_id = 2",
	    "failed");
	ck_assert_uint_eq(deferred, 1);
	ck_assert_uint_eq(failed, 1);
	delivery_set_retry_schedule((const long[]){ 300, 600, 1800, 3600,
	    7200, 14400 }, 6);
	buf_free(&err);
}
END_TEST

START_TEST(deferred_row_fails_after_the_last_attempt)
{
	struct buf err = BUF_INIT;
	/* The default schedule has 6 retries: a 7th try deferred fails. */
	struct batch b = claim(db_a, &owner_a, 1);
	struct delivery_result r = { 1, 6,
	    DELIVERY_DEFERRED, NULL, "452 4.3.1 full" };
	unsigned sent, deferred, failed;

	ck_assert_int_eq(delivery_record(db_a, &b, &r, 1, &sent, &deferred,
	    &failed, &err), 0);
	ck_assert_uint_eq(failed, 1);
	expect(db_a, "SELECT delivery_state FROM stage_1 WHERE row_id = 1",
	    "failed");
	buf_free(&err);
}
END_TEST

/*
 * Postfix can return a DSN for a message before the worker has recorded
 * that message's result (results go in per session): "herald bounce" has
 * then marked the row bounced, and the result must not make it sent again
 * (bounce.sh lost bounces that way under load).
 */
START_TEST(record_keeps_a_bounce_that_came_first)
{
	struct buf err = BUF_INIT;
	struct batch b = claim(db_a, &owner_a, 1);
	struct delivery_result r[2] = {
		{ 1, 0, DELIVERY_SENT, "4AbC", "250 2.0.0 Ok: queued as 4AbC" },
		{ 2, 0, DELIVERY_SENT, "4AbD", "250 2.0.0 Ok: queued as 4AbD" },
	};
	unsigned sent, deferred, failed;

	sql(db_a, "UPDATE stage_1 SET delivery_state = 'bounced', relay_reply "
	    "= '5.1.1 550 no such user' WHERE row_id = 1");
	ck_assert_msg(delivery_record(db_a, &b, r, 2, &sent, &deferred,
	    &failed, &err) == 0, "%s", buf_str(&err));
	expect(db_a, "SELECT GROUP_CONCAT(CONCAT(row_id, ':', delivery_state, "
	    "':', relay_reply) ORDER BY row_id) FROM stage_1 WHERE row_id <= 2",
	    "1:bounced:5.1.1 550 no such user,"
	    "2:sent:250 2.0.0 Ok: queued as 4AbD");
	/* It was sent before it bounced: counted as sent, as it would be. */
	ck_assert_uint_eq(sent, 2);
	buf_free(&err);
}
END_TEST

START_TEST(finishing_every_batch_makes_the_mailing_done)
{
	struct buf err = BUF_INIT;
	struct batch b1 = claim(db_a, &owner_a, 1);
	struct batch b2 = claim(db_b, &owner_b, 1);

	ck_assert_int_eq(batch_finish(db_a, &owner_a, &b1, 0, NULL, &err), 0);
	expect(db_a, "SELECT state FROM mailings WHERE id = 1", "sending");
	/* Finishing with rows left puts the batch back for a retry. */
	ck_assert_int_eq(batch_finish(db_b, &owner_b, &b2, 1,
	    "2000-01-01 00:00:00", &err), 0);
	expect(db_a, "SELECT state, owner_node FROM batches WHERE id = 2",
	    "ready|NULL");
	b2 = claim(db_b, &owner_b, 1);
	ck_assert_uint_eq(b2.id, 2);
	ck_assert_int_eq(batch_finish(db_b, &owner_b, &b2, 0, NULL, &err), 0);
	expect(db_a, "SELECT state, finished_at IS NOT NULL FROM mailings "
	    "WHERE id = 1", "done|1");
	/* A finish by a worker that lost its lease changes nothing. */
	sql(db_a, "UPDATE batches SET state = 'claimed', owner_node = 'x', "
	    "owner_pid = 1 WHERE id = 1");
	ck_assert_int_eq(batch_finish(db_a, &owner_a, &b1, 1, NULL, &err), 0);
	expect(db_a, "SELECT state, owner_node FROM batches WHERE id = 1",
	    "claimed|x");
	buf_free(&err);
}
END_TEST

/*
 * A pause that comes while the last batch's last session is out: that
 * batch still finishes, and with every row final the mailing is done;
 * left paused (or ready after a resume), nothing would ever end it.
 */
START_TEST(last_batch_finished_while_paused_makes_the_mailing_done)
{
	struct buf err = BUF_INIT;
	struct batch b1 = claim(db_a, &owner_a, 1);
	struct batch b2 = claim(db_b, &owner_b, 1);

	ck_assert_int_eq(batch_finish(db_a, &owner_a, &b1, 0, NULL, &err), 0);
	sql(db_a, "UPDATE mailings SET state = 'paused' WHERE id = 1");
	ck_assert_int_eq(batch_finish(db_b, &owner_b, &b2, 0, NULL, &err), 0);
	expect(db_a, "SELECT state, finished_at IS NOT NULL FROM mailings "
	    "WHERE id = 1", "done|1");
	buf_free(&err);
}
END_TEST

/* Likewise when the pause was already resumed (ready) at the finish. */
START_TEST(last_batch_finished_after_a_resume_makes_the_mailing_done)
{
	struct buf err = BUF_INIT;
	struct batch b1 = claim(db_a, &owner_a, 1);
	struct batch b2 = claim(db_b, &owner_b, 1);

	ck_assert_int_eq(batch_finish(db_a, &owner_a, &b1, 0, NULL, &err), 0);
	sql(db_a, "UPDATE mailings SET state = 'ready' WHERE id = 1");
	ck_assert_int_eq(batch_finish(db_b, &owner_b, &b2, 0, NULL, &err), 0);
	expect(db_a, "SELECT state FROM mailings WHERE id = 1", "done");
	buf_free(&err);
}
END_TEST

START_TEST(release_gives_the_batch_back)
{
	struct buf err = BUF_INIT;
	struct batch b = claim(db_a, &owner_a, 1);

	ck_assert_int_eq(batch_release(db_a, &owner_a, &b, &err), 0);
	b = claim(db_b, &owner_b, 1);
	ck_assert_uint_eq(b.id, 1);
	buf_free(&err);
}
END_TEST

START_TEST(stage_table_names_are_checked)
{
	ck_assert(history_is_stage_table("stage_1"));
	ck_assert(history_is_stage_table("stage_123456"));
	ck_assert(!history_is_stage_table("stage_"));
	ck_assert(!history_is_stage_table("stage_1`; DROP"));
	ck_assert(!history_is_stage_table("recipients"));
	sql(db_a, "UPDATE batches SET stage_table = 'recipients' WHERE id = 1");
	{
		struct batch b;
		struct buf err = BUF_INIT;
		int claimed;

		ck_assert_int_eq(batch_claim(db_a, &owner_a, &b, &claimed,
		    &err), -1);
		ck_assert_ptr_nonnull(strstr(buf_str(&err), "recipients"));
		buf_free(&err);
	}
}
END_TEST

/* Integers go as integers: the extremes of both types, and NULL. */
START_TEST(typed_values_bind_integers_as_integers)
{
	struct buf err = BUF_INIT, out = BUF_INIT;
	const struct db_value row[3] = { db_bind_u64(UINT64_MAX),
	    db_bind_i64(INT64_MIN), db_bind_text(NULL) };
	const struct db_value key[1] = { db_bind_u64(UINT64_MAX) };

	sql(db_a, "CREATE TABLE typed (u BIGINT UNSIGNED NOT NULL, i BIGINT "
	    "NOT NULL, t VARCHAR(10) NULL)");
	ck_assert_msg(db_execute_values(db_a, "INSERT INTO typed VALUES (?, "
	    "?, ?)", 3, row, NULL, &err) == 0, "%s", buf_str(&err));
	expect(db_a, "SELECT u, i, t FROM typed",
	    "18446744073709551615|-9223372036854775808|NULL");
	ck_assert_msg(db_query_values(db_a, "SELECT i FROM typed WHERE u = ?",
	    1, key, read_one, &out, &err) == 0, "%s", buf_str(&err));
	ck_assert_str_eq(buf_str(&out), "-9223372036854775808");
	buf_free(&out);
	buf_free(&err);
}
END_TEST

#define MAILING_ROW "SELECT state, blocked_reason, blocked_at IS NOT NULL, " \
	"finished_at IS NOT NULL FROM mailings WHERE id = 1"

/* mailing_move() moves only from the state it is told, and keeps the
 * blocked reason exactly while the mailing is blocked. */
START_TEST(mailing_moves_only_from_the_state_it_names)
{
	struct buf err = BUF_INIT;

	/* Mailing 1 is ready: a move from sending changes nothing. */
	ck_assert_int_eq(mailing_move(db_a, 1, MAILING_SENDING, MAILING_DONE,
	    NULL, &err), 0);
	expect(db_a, MAILING_ROW, "ready|NULL|0|0");
	ck_assert_int_eq(mailing_move(db_a, 1, MAILING_READY, MAILING_SENDING,
	    NULL, &err), 1);
	/* Illegal: refused, with the database untouched. */
	ck_assert_int_eq(mailing_move(db_a, 1, MAILING_SENDING,
	    MAILING_QUEUED, NULL, &err), -1);
	ck_assert_str_eq(buf_str(&err), "mailing 1 cannot go from sending "
	    "to queued");
	expect(db_a, MAILING_ROW, "sending|NULL|0|0");
	ck_assert_int_eq(mailing_block(db_a, 1, "text.mustache:1:7: oops",
	    &err), 0);
	expect(db_a, MAILING_ROW, "blocked|text.mustache:1:7: oops|1|0");
	/* A second worker's reason replaces the first. */
	ck_assert_int_eq(mailing_block(db_a, 1, "html.mustache:2:1: oops",
	    &err), 0);
	expect(db_a, MAILING_ROW, "blocked|html.mustache:2:1: oops|1|0");
	ck_assert_int_eq(mailing_move(db_a, 1, MAILING_BLOCKED,
	    MAILING_SENDING, NULL, &err), 1);
	expect(db_a, MAILING_ROW, "sending|NULL|0|0");
	/* A pause wins over a block that comes after it. */
	ck_assert_int_eq(mailing_move(db_a, 1, MAILING_SENDING,
	    MAILING_PAUSED, NULL, &err), 1);
	ck_assert_int_eq(mailing_block(db_a, 1, "late", &err), 0);
	expect(db_a, MAILING_ROW, "paused|NULL|0|0");
	ck_assert_int_eq(mailing_move(db_a, 1, MAILING_PAUSED,
	    MAILING_CANCELLED, NULL, &err), 1);
	expect(db_a, MAILING_ROW, "cancelled|NULL|0|1");
	buf_free(&err);
}
END_TEST

/* A blocked mailing's batches are still claimed (the worker that can
 * build its messages unblocks it), and the claim leaves it blocked. */
START_TEST(blocked_mailing_is_claimed_and_stays_blocked)
{
	struct buf err = BUF_INIT;
	struct batch b;
	int claimed;

	sql(db_a, "UPDATE mailings SET state = 'blocked', blocked_reason = "
	    "'x' WHERE id = 1");
	ck_assert_int_eq(batch_claim(db_a, &owner_a, &b, &claimed, &err), 0);
	ck_assert_int_eq(claimed, 1);
	expect(db_a, "SELECT state FROM mailings WHERE id = 1", "blocked");
	buf_free(&err);
}
END_TEST

/*
 * A claim takes locks on the batch it claims and on nothing else. The
 * worst sequence: transaction T holds batch 1 (claimed by node-b), then
 * the mailing's row, as a worker recording batch 1's results does
 * (batch, then mailing: the order every claim takes them in too); a
 * claim starts meanwhile and waits for the mailing's row, which it must
 * move from ready to sending; then T gives batch 1 back. A claim that
 * had left a lock on any of batch 1's index entries (a locking read
 * passing over it on its way to batch 2) would make T wait for the
 * claim while the claim waits for T: a deadlock, and one of the two
 * rolled back. Both must go through.
 */
static void
claim_in_child(int result)
{
	struct buf err = BUF_INIT, use = BUF_INIT;
	struct batch_owner owner = { "node-s", 303, 60 };
	struct batch b;
	char line[600];
	int claimed = 0, rc = -1;
	MYSQL *db;

	memset(&b, 0, sizeof(b));
	buf_printf(&use, "USE %s", database);
	db = db_connect(&cfg, DB_FOUND_ROWS, &err);
	if (db != NULL && db_exec(db, buf_str(&use), &err) == 0)
		rc = batch_claim(db, &owner, &b, &claimed, &err);
	snprintf(line, sizeof(line), "%d %d %llu %s", rc, claimed,
	    (unsigned long long)b.id, buf_str(&err));
	if (write(result, line, strlen(line)) < 0)
		_exit(1);
	_exit(0);
}

/* Starts body(write end) in a child; *result reads its answer. */
static pid_t
start_child(void (*body)(int), int *result)
{
	int fds[2];
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		body(fds[1]);
	}
	close(fds[1]);
	*result = fds[0];
	return pid;
}

/* Returns once the claim waits for a lock (or has ended). */
static void
wait_for_lock_wait(pid_t pid)
{
	struct buf text = BUF_INIT;
	int status;

	/* Only this test's database: other tests may share the server. */
	buf_printf(&text, "SELECT COUNT(*) FROM information_schema.innodb_trx "
	    "t JOIN information_schema.processlist p ON p.id = "
	    "t.trx_mysql_thread_id WHERE t.trx_state = 'LOCK WAIT' AND "
	    "p.db = '%s'", database);
	/* The server refreshes innodb_trx only when it was last read
	 * more than 0.1 s before: look less often than that. */
	for (;;) {
		char *waiting = query(db_b, buf_str(&text));
		int done = strcmp(waiting, "0") != 0 ||
		    waitpid(pid, &status, WNOHANG) != 0;

		free(waiting);
		if (done)
			break;
		usleep(200000);
	}
	buf_free(&text);
}

/* The child's answer: "rc claimed batch-id error" from a claim, "rc
 * error" from a closing. */
static void
expect_claim(pid_t pid, int result, const char *want)
{
	char line[600];
	ssize_t n = read(result, line, sizeof(line) - 1);
	int status;

	ck_assert_int_gt(n, 0);
	line[n] = '\0';
	close(result);
	waitpid(pid, &status, 0);
	ck_assert_msg(strncmp(line, want, strlen(want)) == 0,
	    "the child's answer: %s", line);
}

START_TEST(a_claim_locks_only_the_batch_it_claims)
{
	struct buf err = BUF_INIT;
	struct batch b1;
	int result;
	pid_t pid;

	b1 = claim(db_b, &owner_b, 1);
	ck_assert_uint_eq(b1.id, 1);
	sql(db_a, "UPDATE mailings SET state = 'ready' WHERE id = 1");
	sql(db_a, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
	sql(db_a, "START TRANSACTION");
	free(query(db_a, "SELECT id FROM batches WHERE id = 1 FOR UPDATE"));
	free(query(db_a, "SELECT id FROM mailings WHERE id = 1 FOR UPDATE"));
	pid = start_child(claim_in_child, &result);
	wait_for_lock_wait(pid);
	ck_assert_msg(batch_release(db_a, &owner_b, &b1, &err) == 0,
	    "giving batch 1 back: %s", buf_str(&err));
	sql(db_a, "COMMIT");
	expect_claim(pid, result, "0 1 2 ");
	expect(db_a, "SELECT GROUP_CONCAT(CONCAT(id, ':', state, ':', "
	    "IFNULL(owner_node, '-')) ORDER BY id) FROM batches",
	    "1:ready:-,2:claimed:node-s");
	expect(db_a, "SELECT state FROM mailings WHERE id = 1", "sending");
	buf_free(&err);
}
END_TEST

/*
 * A deadlock a claim cannot avoid: T holds the mailing's row, the claim
 * takes batch 1 and waits for that row to move the mailing to sending,
 * then T wants batch 1 (as an operator's cancel closing the mailing's
 * ready batches would). T has written more, so InnoDB rolls the claim
 * back; batch_claim() runs it again and takes batch 2 once T is done,
 * and the caller sees no error.
 */
START_TEST(a_claim_ended_by_a_deadlock_is_run_again)
{
	int result;
	pid_t pid;

	sql(db_a, "CREATE TABLE weight (n INT) ENGINE=InnoDB");
	sql(db_a, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
	sql(db_a, "START TRANSACTION");
	sql(db_a, "INSERT INTO weight SELECT seq FROM seq_1_to_100");
	free(query(db_a, "SELECT id FROM mailings WHERE id = 1 FOR UPDATE"));
	pid = start_child(claim_in_child, &result);
	wait_for_lock_wait(pid);
	sql(db_a, "UPDATE batches SET state = 'done' WHERE id = 1");
	sql(db_a, "COMMIT");
	expect_claim(pid, result, "0 1 2 ");
	expect(db_a, "SELECT GROUP_CONCAT(CONCAT(id, ':', state, ':', "
	    "claim_count) ORDER BY id) FROM batches",
	    "1:done:0,2:claimed:1");
	expect(db_a, "SELECT state FROM mailings WHERE id = 1", "sending");
}
END_TEST

/* batch_close_unclaimed(mailing 1), answering "rc error". */
static void
close_in_child(int result)
{
	struct buf err = BUF_INIT;
	char line[600];
	MYSQL *db;
	int rc = -1;

	db = testdb_connect(&cfg, DB_FOUND_ROWS, database);
	if (db != NULL)
		rc = batch_close_unclaimed(db, 1, &err);
	snprintf(line, sizeof(line), "%d %s", rc, buf_str(&err));
	_exit(write(result, line, strlen(line)) < 0);
}

/*
 * A cancel closing its mailing's batches meets a deadlock: T holds
 * batch 2, the cancel's UPDATE closes batch 1 and waits for batch 2,
 * then T wants batch 1. T has written more, so InnoDB rolls the cancel's
 * statement back; it is run again, waits for T, and closes both once T
 * is done: the operator sees no error, and no batch is left ready.
 */
START_TEST(a_cancel_ended_by_a_deadlock_is_run_again)
{
	char *deadlocks_before, *deadlocks_after;
	int result;
	pid_t pid;

	deadlocks_before = query(db_a, "SELECT variable_value FROM "
	    "information_schema.global_status WHERE variable_name = "
	    "'INNODB_DEADLOCKS'");
	sql(db_a, "CREATE TABLE weight (n INT) ENGINE=InnoDB");
	sql(db_a, "START TRANSACTION");
	sql(db_a, "INSERT INTO weight SELECT seq FROM seq_1_to_100");
	free(query(db_a, "SELECT id FROM batches WHERE id = 2 FOR UPDATE"));
	pid = start_child(close_in_child, &result);
	wait_for_lock_wait(pid);
	sql(db_a, "UPDATE batches SET claim_count = 7 WHERE id = 1");
	sql(db_a, "COMMIT");
	expect_claim(pid, result, "0 ");
	deadlocks_after = query(db_a, "SELECT variable_value FROM "
	    "information_schema.global_status WHERE variable_name = "
	    "'INNODB_DEADLOCKS'");
	ck_assert_msg(strtoull(deadlocks_after, NULL, 10) >
	    strtoull(deadlocks_before, NULL, 10), "no deadlock happened "
	    "(%s before, %s after): the test proves nothing", deadlocks_before,
	    deadlocks_after);
	expect(db_a, "SELECT GROUP_CONCAT(CONCAT(id, ':', state, ':', "
	    "claim_count) ORDER BY id) FROM batches", "1:done:7,2:done:0");
	free(deadlocks_before);
	free(deadlocks_after);
}
END_TEST

/*
 * Many claimers at once, as the workers of several nodes on one
 * MariaDB: CLAIMERS processes, each with its own connection, claim the
 * batches of two mailings until none is left. A batch is given back
 * the first time it is claimed (released, as a pause does, or finished
 * with rows left, as a deferral does) and finished the second time,
 * with a checkpoint after each claim. Every claim, checkpoint, finish
 * and release must succeed: a deadlock or a lock wait timeout that
 * reaches the caller fails the test (and is counted). No batch may be
 * held by two claimers at once, and every batch ends done, finished
 * once.
 */
#define CLAIMERS 8
#define RACE_MAILINGS 2
#define RACE_BATCHES 200	/* per mailing */
#define RACE_IDS (RACE_MAILINGS * RACE_BATCHES + 1)

struct claim_race {
	long holder[RACE_IDS];		/* the pid holding each batch, or 0 */
	unsigned claims[RACE_IDS];
	unsigned finished[RACE_IDS];
	unsigned deadlocks;		/* MariaDB error 1213 or 1205 */
	unsigned other_errors;
	unsigned double_claims;
	int error_kept;
	char first_error[512];
};

static void
race_error(struct claim_race *race, const char *what, struct buf *err)
{
	const char *text = buf_str(err);

	if (strstr(text, "error 1213)") || strstr(text, "error 1205)"))
		__atomic_add_fetch(&race->deadlocks, 1, __ATOMIC_SEQ_CST);
	else
		__atomic_add_fetch(&race->other_errors, 1, __ATOMIC_SEQ_CST);
	if (__atomic_exchange_n(&race->error_kept, 1, __ATOMIC_SEQ_CST) == 0)
		snprintf(race->first_error, sizeof(race->first_error),
		    "%s: %s", what, text);
	buf_reset(err);
}

/* Gives the batch back (first claim) or finishes it; -1 on an error. */
static int
race_end(MYSQL *db, struct claim_race *race,
    const struct batch_owner *owner, const struct batch *b, unsigned claim,
    struct buf *err)
{
	int rc;

	/* Another claimer may take it the moment the statement commits. */
	__atomic_store_n(&race->holder[b->id], 0, __ATOMIC_SEQ_CST);
	if (claim > 0)
		rc = batch_finish(db, owner, b, 0, NULL, err);
	else if (b->id % 2)
		rc = batch_release(db, owner, b, err);
	else
		rc = batch_finish(db, owner, b, 1, NULL, err);
	if (rc != 0) {
		/* Still ours in the database: ours here too, until the
		 * next try. */
		__atomic_store_n(&race->holder[b->id], owner->pid,
		    __ATOMIC_SEQ_CST);
		race_error(race, "ending a batch", err);
		return -1;
	}
	if (claim > 0)
		__atomic_add_fetch(&race->finished[b->id], 1,
		    __ATOMIC_SEQ_CST);
	return 0;
}

/* One claimer: claims until nothing is left; the figures go to race. */
static void
race_claimer(struct claim_race *race, int start)
{
	struct buf err = BUF_INIT, use = BUF_INIT;
	struct batch_owner owner = { "race", (long)getpid(), 600 };
	struct batch b;
	MYSQL *db;
	int claimed = 1, failures = 0, ours;
	char go;

	buf_printf(&use, "USE %s", database);
	db = db_connect(&cfg, DB_FOUND_ROWS, &err);
	if (db == NULL || db_exec(db, buf_str(&use), &err) != 0 ||
	    read(start, &go, 1) < 0) {
		race_error(race, "connecting", &err);
		_exit(1);
	}
	/* A failure is counted and the step tried again, on the same
	 * connection (the transaction was rolled back). */
	while (claimed && failures < 1000) {
		long none = 0;
		unsigned claim;

		if (batch_claim(db, &owner, &b, &claimed, &err) != 0) {
			race_error(race, "claiming", &err);
			failures++;
			claimed = 1;
			continue;
		}
		if (!claimed)
			break;
		if (b.id >= RACE_IDS || !__atomic_compare_exchange_n(
		    &race->holder[b.id], &none, owner.pid, 0,
		    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			__atomic_add_fetch(&race->double_claims, 1,
			    __ATOMIC_SEQ_CST);
			break;
		}
		claim = __atomic_fetch_add(&race->claims[b.id], 1,
		    __ATOMIC_SEQ_CST);
		/* As a worker does between sessions: the lease moves. */
		if (batch_checkpoint(db, &owner, &b, b.first_row, &ours,
		    &err) != 0 || !ours) {
			race_error(race, "checkpointing", &err);
			failures++;
		}
		while (failures < 1000 &&
		    race_end(db, race, &owner, &b, claim, &err) != 0)
			failures++;
	}
	mysql_close(db);
	buf_free(&use);
	buf_free(&err);
	_exit(failures < 1000 ? 0 : 1);
}

START_TEST(many_claimers_at_once_take_each_batch_once_without_deadlock)
{
	struct claim_race *race = mmap(NULL, sizeof(*race), PROT_READ |
	    PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct buf text = BUF_INIT;
	pid_t pids[CLAIMERS];
	int start[2];
	char *left;

	ck_assert(race != MAP_FAILED);
	memset(race, 0, sizeof(*race));
	sql(db_a, "INSERT INTO mailings (id, name, template_dir, subject, "
	    "from_address, segment_expression, send_at, state, stage_table, "
	    "staged_count) VALUES (2, 'm2', '/t', 's', 'a@b.c', 'true', "
	    "UTC_TIMESTAMP(), 'ready', 'stage_1', 10)");
	sql(db_a, "DELETE FROM batches");
	buf_printf(&text, "INSERT INTO batches (id, mailing_id, stage_table, "
	    "first_row, last_row) SELECT seq, 1 + seq %% %d, 'stage_1', 1, 5 "
	    "FROM seq_1_to_%d", RACE_MAILINGS, RACE_IDS - 1);
	sql(db_a, buf_str(&text));
	ck_assert_int_eq(pipe(start), 0);
	for (int i = 0; i < CLAIMERS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			close(start[1]);
			race_claimer(race, start[0]);
		}
	}
	/* Closing the pipe starts them all at once. */
	close(start[0]);
	close(start[1]);
	for (int i = 0; i < CLAIMERS; i++) {
		int status;

		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status));
	}
	printf("test_claim: %d claimers, %d batches: %u deadlocks or lock "
	    "wait timeouts reached the caller, %u other errors\n", CLAIMERS,
	    RACE_IDS - 1, race->deadlocks, race->other_errors);
	ck_assert_msg(race->deadlocks == 0 && race->other_errors == 0,
	    "%u deadlocks or lock wait timeouts and %u other errors reached "
	    "the caller; the first: %s", race->deadlocks, race->other_errors,
	    race->first_error);
	ck_assert_uint_eq(race->double_claims, 0);
	for (unsigned id = 1; id < RACE_IDS; id++) {
		ck_assert_msg(race->claims[id] == 2, "batch %u claimed %u "
		    "times", id, race->claims[id]);
		ck_assert_msg(race->finished[id] == 1, "batch %u finished %u "
		    "times", id, race->finished[id]);
	}
	left = query(db_a, "SELECT COUNT(*) FROM batches WHERE state <> "
	    "'done' OR claim_count <> 2");
	ck_assert_str_eq(left, "0");
	free(left);
	expect(db_a, "SELECT GROUP_CONCAT(state ORDER BY id) FROM mailings",
	    "done,done");
	munmap(race, sizeof(*race));
	buf_free(&text);
}
END_TEST

int
main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *runner;
	int failed, missing;

	/* Before the suite is made: under LeakSanitizer a skip must not
	 * leave it allocated (the report would hide the message and turn
	 * the skip into a failure). */
	if ((missing = testdb_server_missing("test_claim")) != 0)
		return missing;
	s = suite_create("claim");
	tc = tcase_create("claim");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, claim_takes_a_batch_and_marks_the_mailing_sending);
	tcase_add_test(tc, concurrent_claims_skip_locked_rows);
	tcase_add_test(tc, claim_reads_on_past_candidates_others_hold);
	tcase_add_test(tc, expired_lease_is_claimed_again_and_old_owner_loses_it);
	tcase_add_test(tc, paused_mailing_is_not_claimed);
	tcase_add_test(tc, read_pending_resumes_after_checkpoint);
	tcase_add_test(tc, read_pending_suppresses_and_counts_each_row_once);
	tcase_add_test(tc, record_maps_outcomes_to_states_in_bulk);
	tcase_add_test(tc, record_sets_each_rows_own_values);
	tcase_add_test(tc, record_sets_values_by_row_whatever_the_order_and_gaps);
	tcase_add_test(tc, record_counts_once_whatever_fails);
	tcase_add_test(tc, deferred_row_fails_after_the_last_attempt);
	tcase_add_test(tc, retry_schedule_with_jitter);
	tcase_add_test(tc, record_keeps_a_bounce_that_came_first);
	tcase_add_test(tc, finishing_every_batch_makes_the_mailing_done);
	tcase_add_test(tc, last_batch_finished_while_paused_makes_the_mailing_done);
	tcase_add_test(tc,
	    last_batch_finished_after_a_resume_makes_the_mailing_done);
	tcase_add_test(tc, release_gives_the_batch_back);
	tcase_add_test(tc, stage_table_names_are_checked);
	tcase_add_test(tc, typed_values_bind_integers_as_integers);
	tcase_add_test(tc, mailing_moves_only_from_the_state_it_names);
	tcase_add_test(tc, blocked_mailing_is_claimed_and_stays_blocked);
	tcase_add_test(tc, a_claim_locks_only_the_batch_it_claims);
	tcase_add_test(tc, a_claim_ended_by_a_deadlock_is_run_again);
	tcase_add_test(tc, a_cancel_ended_by_a_deadlock_is_run_again);
	tcase_add_test(tc,
	    many_claimers_at_once_take_each_batch_once_without_deadlock);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
