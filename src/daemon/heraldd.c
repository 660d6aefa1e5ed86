/*
 * heraldd.c - the herald daemon: a master that forks and supervises the
 * workers that send mail.
 *
 * SYNOPSIS
 *	heraldd [-f] [--config FILE] [--verbose]
 *
 * DESCRIPTION
 *	Reads the configuration (same lookup as herald), takes the pid file
 *	(a lock held for the daemon's life, so a second heraldd refuses to
 *	start), creates the scoreboard in shared memory, detaches (unless -f),
 *	drops root to "user" (privilege.h), and runs
 *	the master (master.c) with worker_main (worker.c) as the body of
 *	every worker.
 *
 * DIAGNOSTICS
 *	syslog facility mail; standard error with -f. Exit status 0 after a
 *	requested stop, 1 when it cannot start, 2 on a usage error. Without
 *	-f the starting process waits until the daemon is running (or has
 *	failed) and exits with the matching status.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "daemon_args.h"
#include "listen_address.h"
#include "log.h"
#include "master.h"
#include "pidfile.h"
#include "privilege.h"
#include "scoreboard.h"
#include "monitor.h"
#include "worker.h"

/* Slots in the scoreboard: worker_count's maximum, so a reload can grow
 * the pool without re-creating shared memory. */
#define HERALDD_SLOTS 257	/* 256 workers and the monitor */
#define HERALDD_THROTTLE_BUCKETS 4096

static void
heraldd_usage(FILE *out)
{
	fprintf(out,
	    "usage: heraldd [-f] [--config FILE] [--verbose]\n"
	    "\n"
	    "The herald daemon: forks worker_count workers that claim staged\n"
	    "batches, personalize and relay the messages; restarts stalled\n"
	    "workers and workers whose files changed. A monitor process reads\n"
	    "Postfix's queue (workers hold while it is over\n"
	    "postfix_queue_limit) and publishes metrics to Ganglia's gmond.\n"
	    "\n"
	    "  -f, --foreground  stay in the foreground, log to standard error\n"
	    "  -c, --config FILE configuration (default: $HERALD_CONFIG, then\n"
	    "                    %s/herald.conf, then built-in defaults)\n"
	    "  -v, --verbose     log debugging messages\n"
	    "  -h, --help        this help\n"
	    "\n"
	    "Signals: TERM graceful stop, INT fast stop, HUP reload the\n"
	    "configuration, USR1 reopen the log. See heraldd(8).\n",
	    HERALD_SYSCONFDIR);
}

/*
 * Detaches from the terminal. The parent waits on a pipe for the child to
 * say it is running, so "heraldd && echo started" tells the truth.
 * Returns the write end of the pipe in the child; never returns in the
 * parent.
 */
static int
heraldd_detach(void)
{
	int ready[2];
	char status = 1;
	pid_t pid;

	if (pipe(ready) != 0)
		msg_fatal("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		msg_fatal("cannot fork: %s", strerror(errno));
	if (pid > 0) {
		close(ready[1]);
		if (read(ready[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(ready[0]);
	setsid();
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	return ready[1];
}

int
main(int argc, char **argv)
{
	struct herald_config cfg;
	struct buf err = BUF_INIT;
	char *pid_path;
	struct daemon_args args;
	struct scoreboard *board;
	struct worker_shared shared;
	char *board_path;
	int pid_fd, ready = -1, status, was_root;

	log_open("heraldd", LOG_TO_STDERR);
	status = daemon_args_parse(argc, argv, "heraldd", heraldd_usage, &args);
	if (status != -1)
		return status;
	config_defaults(&cfg);
	if (config_locate_and_load(&cfg, args.config_path, &err)) {
		msg_error("%s", buf_str(&err));
		return 1;
	}
	if (mkdir(cfg.state_directory, 0700) != 0 && errno != EEXIST) {
		msg_error("cannot create state_directory %s: %s",
		    cfg.state_directory, strerror(errno));
		return 1;
	}
	/* The master, as "user", removes its pid file and scoreboard
	 * there at exit. */
	if (privilege_give(&cfg, cfg.state_directory, &err) != 0) {
		msg_error("%s", buf_str(&err));
		return 1;
	}
	pid_path = pidfile_path(&cfg);
	pid_fd = pidfile_lock(pid_path);
	if (pid_fd < 0)
		return 1;
	if (!args.foreground) {
		ready = heraldd_detach();
		log_open("heraldd", LOG_TO_SYSLOG);
		/* The lock belongs to the open file, which the child shares;
		 * it now writes its own pid. */
	}
	if (pidfile_write(pid_fd, pid_path))
		return 1;
	board_path = scoreboard_path(cfg.state_directory);
	board = scoreboard_create(board_path, HERALDD_SLOTS, &err);
	if (board == NULL) {
		msg_error("%s", buf_str(&err));
		return 1;
	}
	/* Rate-limit buckets: one per node, mailing and limited domain. */
	shared.board = board;
	shared.throttle = throttle_table_create(HERALDD_THROTTLE_BUCKETS);
	if (shared.throttle == NULL) {
		msg_error("cannot map the rate-limit table: %s",
		    strerror(errno));
		return 1;
	}
	/* Listening before the fork: a taken port stops heraldd at start,
	 * and every monitor the master (re)starts serves the same socket. */
	shared.metrics_fd = -1;
	if (cfg.metrics_listen[0]) {
		shared.metrics_fd = listen_address_open("metrics_listen",
		    cfg.metrics_listen, &err);
		if (shared.metrics_fd < 0) {
			msg_error("%s", buf_str(&err));
			return 1;
		}
	}
	if (cfg.worker_stall_timeout <= cfg.relay_timeout)
		msg_warn("worker_stall_timeout (%ld s) is not above "
		    "relay_timeout (%ld s): a slow relay will get workers "
		    "killed as stalled", cfg.worker_stall_timeout,
		    cfg.relay_timeout);
	/* The token keys are the database's (keyring.h): the workers read
	 * them there, as the daemon's account. */
	was_root = geteuid() == 0;
	if (privilege_drop(&cfg, &err) != 0) {
		msg_error("%s", buf_str(&err));
		return 1;
	}
	if (was_root && cfg.user[0])
		msg_info("running as user %s", cfg.user);
	if (ready >= 0) {
		char ok = 0;

		if (write(ready, &ok, 1) != 1)
			msg_warn("could not tell the starting process we run");
		close(ready);
	}
	status = master_run(&cfg, cfg.path, board, worker_main, monitor_main,
	    &shared);
	throttle_table_free(shared.throttle);
	if (shared.metrics_fd >= 0)
		close(shared.metrics_fd);
	unlink(board_path);
	unlink(pid_path);
	free(board_path);
	free(pid_path);
	buf_free(&err);
	config_free(&cfg);
	return status;
}
