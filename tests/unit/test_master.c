/*
 * test_master.c - the daemon's supervision (src/daemon/master.c) with real
 * processes: respawn, the respawn throttle, the watchdog against hung and
 * stopped workers, graceful stop, reload, and workers exiting when the
 * master dies. The worker bodies here are small test bodies; the real
 * one (worker.c) is exercised by the end-to-end tests.
 *
 * Each test forks a master (master_run blocks until it stops) and
 * watches it through the scoreboard, as "herald status" does.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "scoreboard.h"

enum body { BODY_HEARTBEAT, BODY_DIE, BODY_HANG, BODY_RELOAD_ONCE };

static char dir[] = "/tmp/herald-test-master-XXXXXX";
static char starts_path[600], config_path[600], board_path[600];
static enum body body;
static pid_t master;
static struct scoreboard *board;

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Every worker start appends a line, so tests count starts. */
static void
note_start(void)
{
	int fd = open(starts_path, O_WRONLY | O_APPEND | O_CREAT, 0644);

	if (fd >= 0) {
		if (write(fd, "x\n", 2) != 2)
			_exit(3);
		close(fd);
	}
}

static unsigned
count_starts(void)
{
	FILE *fp = fopen(starts_path, "r");
	unsigned n = 0;
	int c;

	if (fp == NULL)
		return 0;
	while ((c = fgetc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return n;
}

static volatile sig_atomic_t body_stop;

static void
on_term(int sig)
{
	(void)sig;
	body_stop = 1;
}

static int
test_body(const struct herald_config *cfg, struct worker_slot *slot,
    unsigned index, void *shared)
{
	(void)cfg;
	(void)index;
	(void)shared;
	note_start();
	signal(SIGTERM, on_term);
	switch (body) {
	case BODY_DIE:
		return 1;
	case BODY_HANG:
		/* Heartbeats once, then hangs and ignores SIGTERM. */
		signal(SIGTERM, SIG_IGN);
		scoreboard_heartbeat(slot, WORKER_SENDING);
		for (;;)
			pause();
	case BODY_RELOAD_ONCE:
		if (count_starts() == 1)
			return WORKER_EXIT_RELOAD;
		break;
	case BODY_HEARTBEAT:
		break;
	}
	while (!body_stop) {
		scoreboard_heartbeat(slot, WORKER_IDLE);
		sleep_ms(50);
	}
	return 0;
}

static void
write_config(const char *text)
{
	FILE *fp = fopen(config_path, "w");

	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
}

/* Starts a master with two workers running body. */
static void
start_master(enum body which, const char *config_text)
{
	struct buf err = BUF_INIT;

	body = which;
	write_config(config_text);
	board = scoreboard_create(board_path, 8, &err);
	ck_assert_msg(board != NULL, "%s", buf_str(&err));
	master = fork();
	ck_assert_int_ge(master, 0);
	if (master == 0) {
		struct herald_config cfg;

		config_defaults(&cfg);
		if (config_load(&cfg, config_path, &err) != 0) {
			fprintf(stderr, "%s\n", buf_str(&err));
			_exit(2);
		}
		atomic_store(&board->master_pid, (int32_t)getpid());
		/* As heraldd does: the path inside the configuration, which
		 * a reload frees and replaces. */
		_exit(master_run(&cfg, cfg.path, board, test_body, NULL,
		    NULL));
	}
	buf_free(&err);
}

static pid_t
worker_pid(unsigned index)
{
	return (pid_t)atomic_load(&board->slots[index].pid);
}

/* Waits up to ms for cond(); returns its last value. */
#define WAIT_FOR(cond, ms) ({					\
	int ok_ = 0;						\
	for (long t_ = 0; t_ < (ms) && !(ok_ = (cond)); t_ += 50)	\
		sleep_ms(50);					\
	ok_ || (cond);						\
})

static int
master_exited(int *status)
{
	return waitpid(master, status, WNOHANG) == master;
}

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(starts_path, sizeof(starts_path), "%s/starts", dir);
	snprintf(config_path, sizeof(config_path), "%s/herald.conf", dir);
	snprintf(board_path, sizeof(board_path), "%s/board", dir);
	master = 0;
}

static void
teardown(void)
{
	if (master > 0) {
		kill(master, SIGKILL);
		waitpid(master, NULL, 0);
	}
	/* Workers die with the master (PR_SET_PDEATHSIG), except a hung
	 * one that ignores SIGTERM. */
	for (unsigned i = 0; board && i < board->slot_count; i++)
		if (worker_pid(i) > 0)
			kill(worker_pid(i), SIGKILL);
	scoreboard_unmap(board);
	board = NULL;
	sleep_ms(200);
	unlink(starts_path);
	unlink(config_path);
	unlink(board_path);
	rmdir(dir);
	strcpy(dir, "/tmp/herald-test-master-XXXXXX");
}

START_TEST(forks_workers_and_stops_gracefully)
{
	int status;
	pid_t w0, w1;

	start_master(BODY_HEARTBEAT, "worker_count = 2\n");
	ck_assert(WAIT_FOR(worker_pid(0) > 0 && worker_pid(1) > 0 &&
	    count_starts() == 2, 3000));
	w0 = worker_pid(0);
	w1 = worker_pid(1);
	ck_assert_int_ne(w0, w1);
	kill(master, SIGTERM);
	ck_assert(WAIT_FOR(master_exited(&status), 5000));
	master = 0;
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_ne(kill(w0, 0), 0);
	ck_assert_int_ne(kill(w1, 0), 0);
	ck_assert_int_eq(count_starts(), 2);
}
END_TEST

START_TEST(dead_worker_is_respawned)
{
	pid_t old;

	start_master(BODY_HEARTBEAT, "worker_count = 1\n");
	ck_assert(WAIT_FOR(worker_pid(0) > 0, 3000));
	old = worker_pid(0);
	sleep_ms(300);
	kill(old, SIGKILL);
	ck_assert(WAIT_FOR(worker_pid(0) > 0 && worker_pid(0) != old &&
	    count_starts() == 2, 3000));
}
END_TEST

START_TEST(worker_dying_at_start_is_throttled)
{
	unsigned starts;

	/* Delays 1, 2, 4 s: in 4.5 s at most 4 starts per slot. Without
	 * the throttle a dying worker restarts thousands of times. */
	start_master(BODY_DIE, "worker_count = 1\n"
	    "worker_respawn_delay_limit = 60\n");
	sleep_ms(4500);
	starts = count_starts();
	ck_assert_msg(starts >= 2 && starts <= 4, "%u starts", starts);
}
END_TEST

START_TEST(reload_exit_respawns_at_once)
{
	start_master(BODY_RELOAD_ONCE, "worker_count = 1\n");
	/* The first worker exits with WORKER_EXIT_RELOAD: no throttle. */
	ck_assert(WAIT_FOR(count_starts() == 2, 800));
}
END_TEST

START_TEST(watchdog_kills_a_hung_worker)
{
	pid_t old;

	start_master(BODY_HANG, "worker_count = 1\n"
	    "worker_stall_timeout = 2\nworker_kill_grace = 1\n");
	ck_assert(WAIT_FOR(worker_pid(0) > 0, 3000));
	old = worker_pid(0);
	/* No heartbeat after 2 s: TERM (ignored), KILL 1 s later. */
	ck_assert(WAIT_FOR(worker_pid(0) > 0 && worker_pid(0) != old, 7000));
	ck_assert_int_ne(kill(old, 0), 0);
}
END_TEST

START_TEST(watchdog_kills_a_stopped_worker)
{
	pid_t old;

	start_master(BODY_HEARTBEAT, "worker_count = 1\n"
	    "worker_stall_timeout = 2\nworker_kill_grace = 1\n");
	ck_assert(WAIT_FOR(worker_pid(0) > 0, 3000));
	old = worker_pid(0);
	kill(old, SIGSTOP);
	ck_assert(WAIT_FOR(worker_pid(0) > 0 && worker_pid(0) != old, 7000));
	ck_assert_int_ne(kill(old, 0), 0);
}
END_TEST

START_TEST(workers_exit_when_the_master_dies)
{
	pid_t w0, w1;

	start_master(BODY_HEARTBEAT, "worker_count = 2\n");
	ck_assert(WAIT_FOR(worker_pid(0) > 0 && worker_pid(1) > 0, 3000));
	w0 = worker_pid(0);
	w1 = worker_pid(1);
	kill(master, SIGKILL);
	waitpid(master, NULL, 0);
	master = 0;
	ck_assert(WAIT_FOR(kill(w0, 0) != 0 && kill(w1, 0) != 0, 3000));
}
END_TEST

START_TEST(bad_reload_keeps_the_running_configuration)
{
	pid_t old;

	start_master(BODY_HEARTBEAT, "worker_count = 1\n");
	ck_assert(WAIT_FOR(worker_pid(0) > 0, 3000));
	old = worker_pid(0);
	write_config("worker_count = many\n");
	kill(master, SIGHUP);
	sleep_ms(1500);
	ck_assert_int_eq(worker_pid(0), old);
	ck_assert_int_eq(kill(master, 0), 0);
}
END_TEST

START_TEST(good_reload_replaces_workers_and_resizes)
{
	pid_t old;

	start_master(BODY_HEARTBEAT, "worker_count = 1\n");
	ck_assert(WAIT_FOR(worker_pid(0) > 0, 3000));
	old = worker_pid(0);
	/* The file watcher sees the change; no signal needed. */
	sleep_ms(1100);
	write_config("worker_count = 3\n");
	ck_assert(WAIT_FOR(worker_pid(0) > 0 && worker_pid(0) != old &&
	    worker_pid(1) > 0 && worker_pid(2) > 0, 6000));
	ck_assert_int_ne(kill(old, 0), 0);
}
END_TEST

/*
 * HUP after HUP, then an edit: each reload reads the file again (the
 * master must not keep the path of a configuration a reload freed), and
 * the file watcher still sees the edit after them.
 */
START_TEST(reloads_in_a_row_then_a_file_change)
{
	pid_t old;
	int status;

	start_master(BODY_HEARTBEAT, "worker_count = 1\n");
	ck_assert(WAIT_FOR(worker_pid(0) > 0, 3000));
	for (int reload = 1; reload <= 3; reload++) {
		old = worker_pid(0);
		kill(master, SIGHUP);
		ck_assert_msg(WAIT_FOR(worker_pid(0) > 0 &&
		    worker_pid(0) != old, 5000), "reload %d: the worker was "
		    "not replaced", reload);
		ck_assert_msg(!master_exited(&status), "reload %d: the "
		    "master died", reload);
		ck_assert_int_eq(worker_pid(1), 0);
	}
	/* A different size, so the watcher sees it even within the second
	 * of the last write. */
	write_config("worker_count = 2\nbatch_size = 50\n");
	ck_assert_msg(WAIT_FOR(worker_pid(1) > 0, 6000), "the edit after "
	    "three reloads was not picked up");
	ck_assert(!master_exited(&status));
}
END_TEST

/*
 * stat() times have whole seconds: an edit of the same size in the same
 * second as the one just reloaded must not be missed.
 */
START_TEST(an_edit_in_the_second_of_the_last_one_is_seen)
{
	struct timespec now, times[2];
	struct stat before;

	start_master(BODY_HEARTBEAT, "worker_count = 1\n");
	ck_assert(WAIT_FOR(worker_pid(0) > 0, 3000));
	/* Early in a second, so that what follows shares it if it can. */
	do {
		sleep_ms(10);
		clock_gettime(CLOCK_REALTIME, &now);
	} while (now.tv_nsec > 100000000L);
	ck_assert_int_eq(stat(config_path, &before), 0);
	write_config("worker_count = 2\nbatch_size = 50\n");
	ck_assert(WAIT_FOR(worker_pid(1) > 0, 5000));
	/* As on a noatime mount: the reload's read leaves no trace that
	 * would make the next edit look different. */
	times[0] = before.st_atim;
	times[1].tv_sec = 0;
	times[1].tv_nsec = UTIME_OMIT;
	ck_assert_int_eq(utimensat(AT_FDCWD, config_path, times, 0), 0);
	write_config("worker_count = 3\nbatch_size = 50\n");
	ck_assert_msg(WAIT_FOR(worker_pid(2) > 0, 5000), "the second edit "
	    "was missed");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("master");
	TCase *tc = tcase_create("master");
	SRunner *runner;
	int failed;

	log_open("test_master", LOG_TO_STDERR);
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, forks_workers_and_stops_gracefully);
	tcase_add_test(tc, dead_worker_is_respawned);
	tcase_add_test(tc, worker_dying_at_start_is_throttled);
	tcase_add_test(tc, reload_exit_respawns_at_once);
	tcase_add_test(tc, watchdog_kills_a_hung_worker);
	tcase_add_test(tc, watchdog_kills_a_stopped_worker);
	tcase_add_test(tc, workers_exit_when_the_master_dies);
	tcase_add_test(tc, bad_reload_keeps_the_running_configuration);
	tcase_add_test(tc, good_reload_replaces_workers_and_resizes);
	tcase_add_test(tc, reloads_in_a_row_then_a_file_change);
	tcase_add_test(tc, an_edit_in_the_second_of_the_last_one_is_seen);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
