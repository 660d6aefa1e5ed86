/*
 * test_stmtcache.c - statements kept prepared per connection
 * (src/store/stmtcache.c through src/store/db.c) against the real MariaDB
 * at $HERALD_TEST_SOCKET: a keeping connection prepares a statement once
 * and gets the right answers every time after; other connections prepare
 * every time; a query stopped early, a closed connection, more statements
 * than the cache holds and a table recreated under a kept statement all
 * leave the next statement working.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "testdb.h"

static struct herald_config cfg;
static char database[64];

static MYSQL *
connect_test(int flags)
{
	return testdb_connect(&cfg, flags | DB_FOUND_ROWS, database);
}

/* The server's count of statements prepared on db's session, read with
 * a plain query so the reading prepares nothing. */
static long
prepared_count(MYSQL *db)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	long n;

	ck_assert_int_eq(mysql_query(db, "SHOW SESSION STATUS LIKE "
	    "'Com_stmt_prepare'"), 0);
	res = mysql_store_result(db);
	ck_assert_ptr_nonnull(res);
	row = mysql_fetch_row(res);
	ck_assert_ptr_nonnull(row);
	n = strtol(row[1], NULL, 10);
	mysql_free_result(res);
	return n;
}

/* Adds 1 to row id's n through a bound statement; the rows it matched. */
static unsigned long long
bump(MYSQL *db, unsigned id)
{
	struct db_value v = db_bind_u64(id);
	unsigned long long affected = 0;
	struct buf err = BUF_INIT;

	ck_assert_msg(db_execute_values(db, "UPDATE t SET n = n + 1 WHERE "
	    "id = ?", 1, &v, &affected, &err) == 0, "%s", buf_str(&err));
	buf_free(&err);
	return affected;
}

/* Row id's n, read through a bound query. */
static long
value_of(MYSQL *db, unsigned id)
{
	struct db_value v = db_bind_u64(id);
	struct buf err = BUF_INIT, out = BUF_INIT;
	long n;

	ck_assert_msg(db_query_values(db, "SELECT n FROM t WHERE id = ?", 1,
	    &v, db_first_value, &out, &err) == 0, "%s", buf_str(&err));
	n = strtol(buf_str(&out), NULL, 10);
	buf_free(&out);
	buf_free(&err);
	return n;
}

static void
setup(void)
{
	MYSQL *db;

	testdb_config(&cfg);
	snprintf(database, sizeof(database), "t_stmtcache_%ld",
	    (long)getpid());
	db = testdb_connect(&cfg, DB_MULTI_STATEMENTS, NULL);
	testdb_create(db, database);
	sql(db, "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL); "
	    "INSERT INTO t SELECT seq, 0 FROM seq_1_to_100");
	db_close(db);
}

static void
teardown(void)
{
	MYSQL *db = testdb_connect(&cfg, 0, NULL);

	testdb_drop(db, database);
	db_close(db);
	config_free(&cfg);
}

START_TEST(keeping_connection_prepares_once)
{
	MYSQL *db = connect_test(DB_KEEP_STATEMENTS);
	long before = prepared_count(db);

	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(bump(db, 7), 1);
	ck_assert_int_eq(value_of(db, 7), 5);
	ck_assert_int_eq(value_of(db, 7), 5);
	/* One UPDATE and one SELECT prepared, each once. */
	ck_assert_int_eq(prepared_count(db) - before, 2);
	db_close(db);
}
END_TEST

START_TEST(plain_connection_prepares_every_time)
{
	MYSQL *db = connect_test(0);
	long before = prepared_count(db);

	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(bump(db, 8), 1);
	ck_assert_int_eq(value_of(db, 8), 5);
	ck_assert_int_eq(prepared_count(db) - before, 6);
	db_close(db);
}
END_TEST

/* db_first_value stops after one row: the statement is closed, not kept
 * half read, and the connection goes on. */
START_TEST(query_stopped_early_leaves_the_connection_usable)
{
	MYSQL *db = connect_test(DB_KEEP_STATEMENTS);
	struct buf err = BUF_INIT, out = BUF_INIT;

	for (int i = 0; i < 3; i++) {
		buf_reset(&out);
		ck_assert_msg(db_query_values(db, "SELECT id FROM t ORDER BY "
		    "id", 0, NULL, db_first_value, &out, &err) == 0, "%s",
		    buf_str(&err));
		ck_assert_str_eq(buf_str(&out), "1");
		ck_assert_int_eq(bump(db, 9), 1);
	}
	ck_assert_int_eq(value_of(db, 9), 3);
	buf_free(&out);
	buf_free(&err);
	db_close(db);
}
END_TEST

/* A connection closed and another opened (often at the same address)
 * prepare their own statements. */
START_TEST(new_connection_does_not_use_a_closed_ones_statements)
{
	for (int i = 0; i < 4; i++) {
		MYSQL *db = connect_test(DB_KEEP_STATEMENTS);
		long before = prepared_count(db);

		ck_assert_int_eq(bump(db, 10), 1);
		ck_assert_int_eq(bump(db, 10), 1);
		ck_assert_int_eq(prepared_count(db) - before, 1);
		db_close(db);
	}
	{
		MYSQL *db = connect_test(0);

		ck_assert_int_eq(value_of(db, 10), 8);
		db_close(db);
	}
}
END_TEST

/* More distinct statements than the cache holds: the oldest make room
 * and every answer is still right. */
START_TEST(more_statements_than_slots)
{
	MYSQL *db = connect_test(DB_KEEP_STATEMENTS);
	struct buf sql = BUF_INIT, err = BUF_INIT;

	for (int round = 0; round < 2; round++)
		for (int k = 1; k <= 80; k++) {
			unsigned long long affected = 0;

			buf_reset(&sql);
			buf_printf(&sql, "UPDATE t SET n = n + %d WHERE id = %d",
			    k, k);
			ck_assert_msg(db_execute_values(db, buf_str(&sql), 0,
			    NULL, &affected, &err) == 0, "%s", buf_str(&err));
			ck_assert_int_eq(affected, 1);
		}
	for (int k = 1; k <= 80; k++)
		ck_assert_int_eq(value_of(db, (unsigned)k), 2 * k);
	buf_free(&sql);
	buf_free(&err);
	db_close(db);
}
END_TEST

/* The table under a kept statement dropped and created again (as a
 * maintenance run may do): the server prepares it again by itself. */
START_TEST(table_recreated_under_a_kept_statement)
{
	MYSQL *db = connect_test(DB_KEEP_STATEMENTS);
	struct buf err = BUF_INIT;

	ck_assert_int_eq(bump(db, 11), 1);
	ck_assert_msg(db_exec(db, "DROP TABLE t", &err) == 0, "%s",
	    buf_str(&err));
	ck_assert_msg(db_exec(db, "CREATE TABLE t (id INT PRIMARY KEY, "
	    "extra INT NOT NULL DEFAULT 0, n INT NOT NULL)", &err) == 0, "%s",
	    buf_str(&err));
	ck_assert_msg(db_exec(db, "INSERT INTO t (id, n) VALUES (11, 40)",
	    &err) == 0, "%s", buf_str(&err));
	ck_assert_int_eq(bump(db, 11), 1);
	ck_assert_int_eq(value_of(db, 11), 41);
	buf_free(&err);
	db_close(db);
}
END_TEST

int
main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *runner;
	int failed = testdb_server_missing("test_stmtcache");

	/* Before the suite is made: a skip leaks nothing. */
	if (failed)
		return failed;
	s = suite_create("stmtcache");
	tc = tcase_create("stmtcache");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, keeping_connection_prepares_once);
	tcase_add_test(tc, plain_connection_prepares_every_time);
	tcase_add_test(tc, query_stopped_early_leaves_the_connection_usable);
	tcase_add_test(tc, new_connection_does_not_use_a_closed_ones_statements);
	tcase_add_test(tc, more_statements_than_slots);
	tcase_add_test(tc, table_recreated_under_a_kept_statement);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
