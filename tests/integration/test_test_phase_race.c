/*
 * test_test_phase_race.c - the test phase's release (src/store/testphase.c)
 * against the real MariaDB that contrib/check starts ($HERALD_TEST_SOCKET):
 * a held batch is never claimed (src/store/batch.c claims ready ones);
 * many monitors checking the same mailing at the same moment, as
 * several heraldd nodes would, make exactly one decision, twenty rounds
 * running, even when every one of them has read the mailing undecided
 * before any updates it; and the one decision gives the holdout the winner, records
 * the figures and releases the batch. Each test gets a fresh database
 * with the schema applied by src/store/migrate.c and one mailing in its
 * test phase staged by hand: a test cell of two rows (A and B, both
 * delivered, B's recipient clicked) whose wait is over, and a holdout
 * of two rows in one held batch.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch.h"
#include "db.h"
#include "testdb.h"
#include "testphase.h"

#define RACERS 6
#define ROUNDS 20

static struct herald_config cfg;
static char database[64];
static MYSQL *db;

/* The mailing back to "waiting, wait over, no winner". */
static void
undecide(void)
{
	sql(db, "UPDATE mailings SET winner_variant_id = NULL, winner_at = "
	    "NULL, winner_reason = NULL WHERE id = 1");
	sql(db, "DELETE FROM test_results");
	sql(db, "UPDATE stage_1 SET variant_id = 0 WHERE row_id > 2");
	sql(db, "UPDATE batches SET state = 'held' WHERE id = 2");
}

static void
setup(void)
{
	testdb_config(&cfg);
	snprintf(database, sizeof(database), "t_test_phase_%ld",
	    (long)getpid());
	db = testdb_connect(&cfg, DB_MULTI_STATEMENTS, NULL);
	testdb_create(db, database);
	sql(db, "INSERT INTO mailings (id, name, template_dir, subject, "
	    "from_address, segment_expression, send_at, state, stage_table, "
	    "staged_count, test_share_basis_points, test_wait_seconds, "
	    "test_metric, test_cell_rows, test_sent_at) VALUES (1, 'm1', "
	    "'/t', 's', 'a@b.c', 'true', UTC_TIMESTAMP(), 'sending', "
	    "'stage_1', 4, 5000, 60, 'clicks', 2, UTC_TIMESTAMP() - INTERVAL "
	    "1 HOUR)");
	sql(db, "INSERT INTO variants (id, mailing_id, name, "
	    "share_basis_points) VALUES (7, 1, 'B', 5000)");
	sql(db, "CREATE TABLE stage_1 LIKE stage_template");
	sql(db, "INSERT INTO stage_1 (mailing_id, row_id, recipient_id, email, "
	    "variant_id, delivery_state) VALUES (1, 1, 101, 'r1@example.org', "
	    "0, 'sent'), (1, 2, 102, 'r2@example.org', 7, 'sent'), (1, 3, "
	    "103, 'r3@example.org', 0, 'pending'), (1, 4, 104, "
	    "'r4@example.org', 0, 'pending')");
	sql(db, "INSERT INTO clicks (mailing_id, recipient_id, link_id, "
	    "first_at, last_at, clicks) VALUES (1, 102, 1, NOW(3), NOW(3), "
	    "2)");
	sql(db, "INSERT INTO batches (id, mailing_id, stage_table, first_row, "
	    "last_row, state) VALUES (1, 1, 'stage_1', 1, 2, 'done'), (2, 1, "
	    "'stage_1', 3, 4, 'held')");
}

static void
teardown(void)
{
	testdb_drop(db, database);
	mysql_close(db);
	config_free(&cfg);
}

START_TEST(a_held_batch_is_not_claimed)
{
	struct batch_owner owner = { "node-a", 101, 60 };
	struct batch batch;
	struct buf err = BUF_INIT;
	unsigned decided = 0;
	int claimed = -1;

	ck_assert_msg(batch_claim(db, &owner, &batch, &claimed, &err) == 0,
	    "%s", buf_str(&err));
	ck_assert_int_eq(claimed, 0);
	ck_assert_msg(test_phase_check(db, &decided, &err) == 0, "%s",
	    buf_str(&err));
	ck_assert_uint_eq(decided, 1);
	ck_assert_msg(batch_claim(db, &owner, &batch, &claimed, &err) == 0,
	    "%s", buf_str(&err));
	ck_assert_int_eq(claimed, 1);
	ck_assert_uint_eq(batch.id, 2);
	buf_free(&err);
}
END_TEST

/* A racer: waits for the start, checks once, exits with its decisions. */
static void
racer(int start)
{
	struct buf err = BUF_INIT;
	unsigned decided = 0;
	MYSQL *conn = testdb_connect(&cfg, DB_MULTI_STATEMENTS,
	    database);
	char go;

	if (conn == NULL || read(start, &go, 1) < 0)
		_exit(100);
	if (test_phase_check(conn, &decided, &err) != 0) {
		fprintf(stderr, "racer: %s\n", buf_str(&err));
		_exit(100);
	}
	mysql_close(conn);
	_exit((int)decided);
}

START_TEST(many_monitors_at_once_decide_once)
{
	for (int round = 0; round < ROUNDS; round++) {
		pid_t pids[RACERS];
		int start[2], decisions = 0;

		ck_assert_int_eq(pipe(start), 0);
		for (int i = 0; i < RACERS; i++) {
			pids[i] = fork();
			ck_assert_int_ge(pids[i], 0);
			if (pids[i] == 0) {
				close(start[1]);
				racer(start[0]);
			}
		}
		close(start[0]);
		/*
		 * The worst sequence: every racer reads the mailing as
		 * undecided before any of them updates it. The test holds
		 * the mailing's row while they start (closing the pipe
		 * wakes them all), so each one's update waits until the
		 * others have read; then they update one after the other.
		 */
		sql(db, "START TRANSACTION");
		sql(db, "SELECT id FROM mailings WHERE id = 1 FOR UPDATE");
		close(start[1]);
		usleep(round == 0 ? 1500000 : 500000);
		sql(db, "COMMIT");
		for (int i = 0; i < RACERS; i++) {
			int status;

			ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
			ck_assert(WIFEXITED(status));
			ck_assert_int_ne(WEXITSTATUS(status), 100);
			decisions += WEXITSTATUS(status);
		}
		ck_assert_msg(decisions == 1, "round %d: %d decisions", round,
		    decisions);
		expect(db, "SELECT winner_variant_id, COUNT(*) FROM mailings "
		    "m JOIN test_results r ON r.mailing_id = m.id", "7|2");
		expect(db, "SELECT GROUP_CONCAT(CONCAT(row_id, ':', "
		    "variant_id) ORDER BY row_id) FROM stage_1",
		    "1:0,2:7,3:7,4:7");
		expect(db, "SELECT state FROM batches WHERE id = 2", "ready");
		undecide();
	}
}
END_TEST

START_TEST(the_decision_records_its_figures)
{
	struct buf err = BUF_INIT;
	unsigned decided = 0;

	ck_assert_msg(test_phase_check(db, &decided, &err) == 0, "%s",
	    buf_str(&err));
	ck_assert_uint_eq(decided, 1);
	expect(db, "SELECT GROUP_CONCAT(CONCAT(name, ':', delivered, ':', "
	    "events, ':', rate, ':', IFNULL(ROUND(z, 4), 'winner')) ORDER BY "
	    "variant_id) FROM test_results", "A:1:0:0:1.4142,B:1:1:1:winner");
	expect(db, "SELECT winner_reason FROM mailings", "clicks per message "
	    "delivered: A 0/1 = 0.00%, B 1/1 = 100.00%; B leads, z = 1.41 "
	    "over A; the wait is over: B wins");
	/* Decided: nothing more to do, whoever looks. */
	ck_assert_msg(test_phase_check(db, &decided, &err) == 0, "%s",
	    buf_str(&err));
	ck_assert_uint_eq(decided, 0);
	buf_free(&err);
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
	if ((missing = testdb_server_missing("test_test_phase_race")) != 0)
		return missing;
	s = suite_create("test_phase_race");
	tc = tcase_create("test_phase_race");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_held_batch_is_not_claimed);
	tcase_add_test(tc, many_monitors_at_once_decide_once);
	tcase_add_test(tc, the_decision_records_its_figures);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
