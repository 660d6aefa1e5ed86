/*
 * master.c - heraldd's master process (see master.h).
 *
 * One struct worker_process per scoreboard slot in use. The master is the
 * only process that forks, kills or reaps workers; workers never signal
 * each other.
 */
#include "master.h"
#include "log.h"

#include <ev.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* A worker that exits sooner than this after start counts as a failed
 * start for the respawn throttle. */
#define MASTER_FAST_EXIT_MS 10000

struct worker_process {
	unsigned index;			/* its scoreboard slot */
	pid_t pid;			/* 0 when not running */
	int64_t started_ms;
	int64_t term_sent_ms;		/* 0 until we asked it to stop */
	unsigned fast_failures;		/* consecutive quick deaths */
	int retire;			/* stop it for good (reload, shrink) */
	ev_child child_watcher;
	ev_timer respawn_timer;
	struct master *master;
};

struct master {
	struct ev_loop *loop;
	struct herald_config *cfg;
	/* Our own copy: a reload frees the configuration (and its path),
	 * and the stat watcher keeps this pointer for the master's life. */
	char *config_path;
	struct scoreboard *board;
	worker_main_fn *worker_main;
	worker_main_fn *monitor_main;	/* NULL = no monitor */
	unsigned monitor_index;		/* its slot: the last one */
	void *shared;
	struct worker_process *workers;	/* board->slot_count of them */
	unsigned wanted;		/* worker_count */
	enum { RUNNING, STOPPING_GRACEFUL, STOPPING_FAST } mode;
	int64_t stop_started_ms;
	ev_signal sigterm, sigint, sighup, sigusr1;
	ev_timer watchdog;
	ev_stat config_watcher;
	ev_timer config_settle;		/* reload once the file is quiet */
};

static void master_spawn(struct master *m, struct worker_process *w);

/* Should this slot have a process? */
static int
master_slot_wanted(const struct master *m, const struct worker_process *w)
{
	if (m->monitor_main && w->index == m->monitor_index)
		return 1;
	return w->index < m->wanted && w->index != m->monitor_index;
}

static void
master_signal_worker(struct worker_process *w, int sig)
{
	if (w->pid > 0)
		kill(w->pid, sig);
}

/* Asks a worker to finish the session in hand and exit. */
static void
master_ask_to_stop(struct worker_process *w)
{
	if (w->pid <= 0 || w->term_sent_ms)
		return;
	w->term_sent_ms = scoreboard_now_ms();
	master_signal_worker(w, SIGTERM);
}

static unsigned
master_running_count(const struct master *m)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->board->slot_count; i++)
		if (m->workers[i].pid > 0)
			n++;
	return n;
}

/* Runs in the child between fork and the worker body. */
static void
master_become_worker(struct master *m, struct worker_process *w)
{
	struct worker_slot *slot = &m->board->slots[w->index];
	pid_t master_pid = (pid_t)atomic_load(&m->board->master_pid);
	sigset_t none;
	int status;

	/* The child must not run the master's watchers. */
	ev_loop_fork(m->loop);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* If the master dies, so do we: nothing is lost (the batch lease
	 * expires) and a new master starts fresh workers. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master_pid)
		_exit(0);
	atomic_store(&slot->started_ms, scoreboard_now_ms());
	atomic_store(&slot->sent, 0);
	atomic_store(&slot->deferred, 0);
	atomic_store(&slot->failed, 0);
	scoreboard_end_batch(slot);
	scoreboard_heartbeat(slot, WORKER_STARTING);
	if (m->monitor_main && w->index == m->monitor_index)
		status = m->monitor_main(m->cfg, slot, w->index, m->shared);
	else
		status = m->worker_main(m->cfg, slot, w->index, m->shared);
	_exit(status);
}

static void
master_respawn_due(struct ev_loop *loop, ev_timer *timer, int revents)
{
	struct worker_process *w = timer->data;

	(void)loop;
	(void)revents;
	if (w->master->mode == RUNNING && !w->retire)
		master_spawn(w->master, w);
}

static void
master_child_exited(struct ev_loop *loop, ev_child *watcher, int revents)
{
	struct worker_process *w = watcher->data;
	struct master *m = w->master;
	struct worker_slot *slot = &m->board->slots[w->index];
	int status = watcher->rstatus;
	int64_t lived = scoreboard_now_ms() - w->started_ms;
	/* A worker we stopped (watchdog, reload) did not fail to start. */
	int requested = w->term_sent_ms != 0;
	int clean;

	(void)revents;
	ev_child_stop(loop, watcher);
	atomic_store(&slot->pid, 0);
	atomic_store(&slot->state, WORKER_EMPTY);
	scoreboard_end_batch(slot);
	w->pid = 0;
	w->term_sent_ms = 0;
	clean = WIFEXITED(status) && (WEXITSTATUS(status) == 0 ||
	    WEXITSTATUS(status) == WORKER_EXIT_RELOAD);
	if (WIFSIGNALED(status))
		msg_warn("worker %u (pid %ld) killed by signal %d after %.1f s",
		    w->index, (long)watcher->rpid, WTERMSIG(status),
		    lived / 1000.0);
	else if (WEXITSTATUS(status) == WORKER_EXIT_RELOAD)
		msg_info("worker %u (pid %ld) exited to reload changed files",
		    w->index, (long)watcher->rpid);
	else if (!clean)
		msg_warn("worker %u (pid %ld) exited with status %d after "
		    "%.1f s", w->index, (long)watcher->rpid,
		    WEXITSTATUS(status), lived / 1000.0);
	if (m->mode != RUNNING) {
		if (master_running_count(m) == 0)
			ev_break(loop, EVBREAK_ALL);
		return;
	}
	if (w->retire || !master_slot_wanted(m, w)) {
		w->retire = 0;
		if (master_slot_wanted(m, w))
			master_spawn(m, w);
		return;
	}
	if (!clean && !requested && lived < MASTER_FAST_EXIT_MS) {
		/* Dying right after start: throttle like Postfix's master,
		 * doubling the delay each time. */
		double delay = 1.0;

		w->fast_failures++;
		for (unsigned i = 1; i < w->fast_failures &&
		    delay < m->cfg->worker_respawn_delay_limit; i++)
			delay *= 2;
		if (delay > m->cfg->worker_respawn_delay_limit)
			delay = (double)m->cfg->worker_respawn_delay_limit;
		msg_warn("worker %u died %.1f s after start (%u time%s in a "
		    "row); respawn throttled: next start in %.0f s",
		    w->index, lived / 1000.0, w->fast_failures,
		    w->fast_failures == 1 ? "" : "s", delay);
		ev_timer_set(&w->respawn_timer, delay, 0.);
		ev_timer_start(loop, &w->respawn_timer);
		return;
	}
	w->fast_failures = 0;
	master_spawn(m, w);
}

static void
master_spawn(struct master *m, struct worker_process *w)
{
	struct worker_slot *slot = &m->board->slots[w->index];
	pid_t pid;

	ev_timer_stop(m->loop, &w->respawn_timer);
	pid = fork();
	if (pid < 0) {
		msg_error("cannot fork worker %u: %s; retrying in 5 s",
		    w->index, strerror(errno));
		ev_timer_set(&w->respawn_timer, 5., 0.);
		ev_timer_start(m->loop, &w->respawn_timer);
		return;
	}
	if (pid == 0)
		master_become_worker(m, w);
	w->pid = pid;
	w->started_ms = scoreboard_now_ms();
	w->term_sent_ms = 0;
	atomic_store(&slot->pid, (int32_t)pid);
	/* Until the worker's first heartbeat, count from its start. */
	atomic_store(&slot->heartbeat_ms, w->started_ms);
	ev_child_set(&w->child_watcher, pid, 0);
	ev_child_start(m->loop, &w->child_watcher);
	msg_debug("worker %u started, pid %ld", w->index, (long)pid);
}

static void
master_watchdog(struct ev_loop *loop, ev_timer *timer, int revents)
{
	struct master *m = timer->data;
	int64_t now = scoreboard_now_ms();
	int64_t stall = m->cfg->worker_stall_timeout * 1000;
	int64_t batch_limit = m->cfg->batch_time_limit * 1000;
	int64_t grace = m->cfg->worker_kill_grace * 1000;

	(void)loop;
	(void)revents;
	for (unsigned i = 0; i < m->board->slot_count; i++) {
		struct worker_process *w = &m->workers[i];
		struct worker_slot *slot = &m->board->slots[i];
		int64_t heartbeat, batch_started;

		if (w->pid <= 0)
			continue;
		if (w->term_sent_ms) {
			int64_t allowed = grace;

			/* A graceful stop lets the session in hand end. */
			if (m->mode == STOPPING_GRACEFUL || w->retire)
				allowed = stall;
			if (now - w->term_sent_ms > allowed) {
				msg_warn("worker %u (pid %ld) still running "
				    "%.0f s after SIGTERM; sending SIGKILL",
				    i, (long)w->pid,
				    (now - w->term_sent_ms) / 1000.0);
				master_signal_worker(w, SIGKILL);
				w->term_sent_ms = now;
			}
			continue;
		}
		heartbeat = atomic_load(&slot->heartbeat_ms);
		batch_started = atomic_load(&slot->batch_started_ms);
		if (now - heartbeat > stall) {
			msg_warn("worker %u (pid %ld) stalled: no heartbeat "
			    "for %.0f s (worker_stall_timeout = %ld); "
			    "terminating it", i, (long)w->pid,
			    (now - heartbeat) / 1000.0,
			    m->cfg->worker_stall_timeout);
			master_ask_to_stop(w);
		} else if (batch_started && now - batch_started > batch_limit) {
			msg_warn("worker %u (pid %ld): batch %llu has run "
			    "%.0f s (batch_time_limit = %ld); terminating it",
			    i, (long)w->pid, (unsigned long long)
			    atomic_load(&slot->batch_id),
			    (now - batch_started) / 1000.0,
			    m->cfg->batch_time_limit);
			master_ask_to_stop(w);
		}
	}
}

static void
master_begin_stop(struct master *m, int fast)
{
	/* The monitor has a slot of its own but is not a worker. */
	int monitor = m->monitor_main && m->workers[m->monitor_index].pid > 0;
	unsigned workers = master_running_count(m) - (monitor ? 1 : 0);

	m->mode = fast ? STOPPING_FAST : STOPPING_GRACEFUL;
	m->stop_started_ms = scoreboard_now_ms();
	msg_info("%s stop: waiting for %u worker%s%s", fast ? "fast" :
	    "graceful", workers, workers == 1 ? "" : "s", monitor ?
	    " and the monitor" : "");
	ev_stat_stop(m->loop, &m->config_watcher);
	ev_timer_stop(m->loop, &m->config_settle);
	for (unsigned i = 0; i < m->board->slot_count; i++) {
		ev_timer_stop(m->loop, &m->workers[i].respawn_timer);
		master_ask_to_stop(&m->workers[i]);
	}
	if (master_running_count(m) == 0)
		ev_break(m->loop, EVBREAK_ALL);
}

static void
master_on_stop_signal(struct ev_loop *loop, ev_signal *watcher, int revents)
{
	struct master *m = watcher->data;

	(void)loop;
	(void)revents;
	if (m->mode == STOPPING_FAST)
		return;
	master_begin_stop(m, watcher->signum == SIGINT);
}

/* Re-reads the configuration; on success restarts the workers with it. */
static void
master_reload(struct master *m, const char *why)
{
	struct herald_config fresh;
	struct buf err = BUF_INIT;

	if (m->mode != RUNNING)
		return;
	config_defaults(&fresh);
	if (m->config_path && config_load(&fresh, m->config_path, &err)) {
		msg_error("reload (%s) refused, keeping the running "
		    "configuration: %s", why, buf_str(&err));
		config_free(&fresh);
		buf_free(&err);
		return;
	}
	buf_free(&err);
	msg_info("reloading the configuration (%s): restarting workers",
	    why);
	config_free(m->cfg);
	*m->cfg = fresh;
	m->wanted = (unsigned)m->cfg->worker_count;
	for (unsigned i = 0; i < m->board->slot_count; i++) {
		struct worker_process *w = &m->workers[i];

		if (w->pid > 0) {
			w->retire = 1;
			master_ask_to_stop(w);
		} else if (master_slot_wanted(m, w)) {
			w->fast_failures = 0;
			master_spawn(m, w);
		}
	}
}

static void
master_on_hup(struct ev_loop *loop, ev_signal *watcher, int revents)
{
	(void)loop;
	(void)revents;
	master_reload(watcher->data, "SIGHUP");
}

static void
master_on_usr1(struct ev_loop *loop, ev_signal *watcher, int revents)
{
	(void)loop;
	(void)watcher;
	(void)revents;
	log_reopen();
	msg_info("log reopened");
}

/*
 * The file changed: reload once it has been quiet for a little over a
 * second. stat() times have whole seconds here, so a second edit of the
 * same size within the second of the first looks like no change at all;
 * reading the file more than a second after the last change seen takes
 * such an edit in, and any later edit has a later time, which the
 * watcher sees.
 */
static void
master_on_config_change(struct ev_loop *loop, ev_stat *watcher, int revents)
{
	struct master *m = watcher->data;

	(void)revents;
	/* Editors save in several steps; a file that vanished for a moment
	 * will come back, and a later event reloads it. */
	if (watcher->attr.st_nlink == 0)
		return;
	ev_timer_again(loop, &m->config_settle);
}

static void
master_on_config_settled(struct ev_loop *loop, ev_timer *timer, int revents)
{
	(void)revents;
	ev_timer_stop(loop, timer);
	master_reload(timer->data, "configuration file changed");
}

int
master_run(struct herald_config *cfg, const char *config_path,
    struct scoreboard *board, worker_main_fn *worker_main,
    worker_main_fn *monitor_main, void *shared)
{
	struct master m;

	memset(&m, 0, sizeof(m));
	m.loop = EV_DEFAULT;
	m.cfg = cfg;
	m.config_path = config_path ? xstrdup(config_path) : NULL;
	m.board = board;
	m.worker_main = worker_main;
	m.monitor_main = monitor_main;
	m.monitor_index = monitor_main ? board->slot_count - 1 : UINT_MAX;
	m.shared = shared;
	m.wanted = (unsigned)cfg->worker_count;
	m.mode = RUNNING;
	m.workers = xcalloc(board->slot_count, sizeof(*m.workers));
	for (unsigned i = 0; i < board->slot_count; i++) {
		struct worker_process *w = &m.workers[i];

		w->index = i;
		w->master = &m;
		ev_child_init(&w->child_watcher, master_child_exited, 0, 0);
		w->child_watcher.data = w;
		ev_timer_init(&w->respawn_timer, master_respawn_due, 0., 0.);
		w->respawn_timer.data = w;
	}
	ev_signal_init(&m.sigterm, master_on_stop_signal, SIGTERM);
	ev_signal_init(&m.sigint, master_on_stop_signal, SIGINT);
	ev_signal_init(&m.sighup, master_on_hup, SIGHUP);
	ev_signal_init(&m.sigusr1, master_on_usr1, SIGUSR1);
	m.sigterm.data = m.sigint.data = m.sighup.data = m.sigusr1.data = &m;
	ev_signal_start(m.loop, &m.sigterm);
	ev_signal_start(m.loop, &m.sigint);
	ev_signal_start(m.loop, &m.sighup);
	ev_signal_start(m.loop, &m.sigusr1);
	ev_timer_init(&m.watchdog, master_watchdog, 1., 1.);
	m.watchdog.data = &m;
	ev_timer_start(m.loop, &m.watchdog);
	if (m.config_path) {
		/* inotify when available; otherwise polled every second. */
		ev_stat_init(&m.config_watcher, master_on_config_change,
		    m.config_path, 1.);
		m.config_watcher.data = &m;
		ev_stat_start(m.loop, &m.config_watcher);
		ev_init(&m.config_settle, master_on_config_settled);
		m.config_settle.repeat = 1.02;
		m.config_settle.data = &m;
	}
	msg_info("started: %u worker%s", m.wanted, m.wanted == 1 ? "" : "s");
	for (unsigned i = 0; i < board->slot_count; i++)
		if (master_slot_wanted(&m, &m.workers[i]))
			master_spawn(&m, &m.workers[i]);
	ev_run(m.loop, 0);
	msg_info("stopped");
	if (m.config_path) {
		ev_stat_stop(m.loop, &m.config_watcher);
		ev_timer_stop(m.loop, &m.config_settle);
	}
	free(m.config_path);
	free(m.workers);
	return 0;
}
