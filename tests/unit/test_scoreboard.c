/*
 * test_scoreboard.c - unit tests of src/daemon/scoreboard.c: creation, the
 * read-only view "herald status" uses, a worker's updates seen across
 * processes, and refusal of files that are not scoreboards.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scoreboard.h"

static char dir[] = "/tmp/herald-test-board-XXXXXX";
static char path[600];

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/heraldd.scoreboard", dir);
}

static void
teardown(void)
{
	unlink(path);
	rmdir(dir);
	strcpy(dir, "/tmp/herald-test-board-XXXXXX");
}

START_TEST(child_updates_are_seen_read_only)
{
	struct buf err = BUF_INIT;
	struct scoreboard *board = scoreboard_create(path, 4, &err);
	const struct scoreboard *view;
	int status;

	ck_assert_msg(board != NULL, "%s", buf_str(&err));
	ck_assert_uint_eq(board->slot_count, 4);
	ck_assert_int_eq(atomic_load(&board->master_pid), getpid());
	if (fork() == 0) {
		struct worker_slot *slot = &board->slots[2];

		scoreboard_begin_batch(slot, 77, 5);
		atomic_fetch_add(&slot->sent, 3);
		_exit(0);
	}
	wait(&status);
	view = scoreboard_open_readonly(path, &err);
	ck_assert_msg(view != NULL, "%s", buf_str(&err));
	ck_assert_int_eq(atomic_load(&view->slots[2].state), WORKER_SENDING);
	ck_assert_uint_eq(atomic_load(&view->slots[2].batch_id), 77);
	ck_assert_uint_eq(atomic_load(&view->slots[2].mailing_id), 5);
	ck_assert_uint_eq(atomic_load(&view->slots[2].sent), 3);
	ck_assert_int_gt(atomic_load(&view->slots[2].batch_started_ms), 0);
	ck_assert_int_eq(atomic_load(&view->slots[0].state), WORKER_EMPTY);
	scoreboard_end_batch(&board->slots[2]);
	ck_assert_uint_eq(atomic_load(&view->slots[2].batch_id), 0);
	ck_assert_str_eq(worker_state_name(WORKER_SENDING), "sending");
	scoreboard_unmap(view);
	scoreboard_unmap(board);
	buf_free(&err);
}
END_TEST

START_TEST(other_files_are_refused)
{
	struct buf err = BUF_INIT;
	FILE *fp = fopen(path, "w");

	fputs("not a scoreboard, but long enough to be mapped as one......", fp);
	fclose(fp);
	ck_assert_ptr_null(scoreboard_open_readonly(path, &err));
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "not a heraldd scoreboard"));
	buf_reset(&err);
	unlink(path);
	ck_assert_ptr_null(scoreboard_open_readonly(path, &err));
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "cannot open"));
	buf_free(&err);
}
END_TEST

START_TEST(create_replaces_an_old_board)
{
	struct buf err = BUF_INIT;
	struct scoreboard *old = scoreboard_create(path, 2, &err);
	struct scoreboard *fresh;

	atomic_store(&old->slots[1].pid, 1234);
	fresh = scoreboard_create(path, 3, &err);
	ck_assert_ptr_nonnull(fresh);
	ck_assert_uint_eq(fresh->slot_count, 3);
	ck_assert_int_eq(atomic_load(&fresh->slots[1].pid), 0);
	scoreboard_unmap(old);
	scoreboard_unmap(fresh);
	buf_free(&err);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("scoreboard");
	TCase *tc = tcase_create("scoreboard");
	SRunner *runner;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, child_updates_are_seen_read_only);
	tcase_add_test(tc, other_files_are_refused);
	tcase_add_test(tc, create_replaces_an_old_board);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
