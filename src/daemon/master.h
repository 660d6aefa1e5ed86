/*
 * master.h - heraldd's master process: forks, watches and respawns workers.
 *
 * The master runs one libev loop with
 *	- an ev_child watcher per worker: a worker that exits is respawned;
 *	  one that dies soon after start is respawned with a doubling delay
 *	  (up to worker_respawn_delay_limit), so a worker that cannot start
 *	  never fork-bombs the host; the throttle is logged;
 *	- a watchdog timer: a worker whose heartbeat is older than
 *	  worker_stall_timeout, or whose batch has run longer than
 *	  batch_time_limit, gets SIGTERM, then SIGKILL worker_kill_grace later;
 *	- signals: TERM stops gracefully (workers finish the session in hand),
 *	  INT stops fast (workers get worker_kill_grace, then SIGKILL), HUP
 *	  reloads the configuration, USR1 reopens the log;
 *	- a stat watcher on the configuration file: a change is a reload,
 *	  once the file has been quiet for a second (so that a second edit
 *	  within the same second of file time is not missed).
 * A reload reads the file again; a bad file is reported (FILE:LINE, key)
 * and the running configuration kept. A good one replaces the workers
 * one by one (each finishes its session, exits, and comes back with the
 * new configuration).
 */
#ifndef HERALD_MASTER_H
#define HERALD_MASTER_H

#include "config.h"
#include "scoreboard.h"

/* Exit status of a worker that saw one of its files change. */
#define WORKER_EXIT_RELOAD 75

/*
 * The body of a worker process. Returns its exit status. It runs in the
 * child, with default signal dispositions and the configuration the
 * master had when it forked it.
 */
typedef int worker_main_fn(const struct herald_config *cfg,
    struct worker_slot *slot, unsigned slot_index, void *shared);

/*
 * Runs the master until it is told to stop. cfg is owned by the caller
 * but may be replaced on reload (the master frees the old one and keeps
 * the new one in *cfg). config_path is the file to watch and reload (NULL
 * when running on built-in defaults); the master keeps its own copy, so
 * it may be cfg->path. shared (memory mapped before the
 * fork, such as the rate-limit table) is handed to every worker. Returns
 * the process exit status. monitor_main, when not NULL, is the body of
 * one more child, the monitor, which has the scoreboard's last slot
 * (never a worker's): it is watched and respawned like a worker, and
 * restarted on reload.
 */
int master_run(struct herald_config *cfg, const char *config_path,
    struct scoreboard *board, worker_main_fn *worker_main,
    worker_main_fn *monitor_main, void *shared);

#endif
