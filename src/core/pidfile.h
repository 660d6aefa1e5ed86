/*
 * pidfile.h - heraldd's pid file: where it is, the daemon holding it, and
 * whether a daemon runs.
 *
 * The pid file (pid_file, or STATE/heraldd.pid) is locked with flock()
 * for the daemon's whole life, so the lock, not the number written in
 * the file, says whether heraldd runs: a stale file left by a killed
 * daemon holds no lock. heraldd takes it with pidfile_lock(); herald asks
 * pidfile_running_pid() before doing what would pull the ground from
 * under a running daemon (herald db stop).
 */
#ifndef HERALD_PIDFILE_H
#define HERALD_PIDFILE_H

#include <sys/types.h>

#include "config.h"

/* pid_file, or STATE/heraldd.pid; owned by the caller. */
char *pidfile_path(const struct herald_config *cfg);

/*
 * Opens and locks the pid file at path. Returns its descriptor (to keep
 * open for the daemon's life), or -1 after an error message that names
 * the daemon already holding it.
 */
int pidfile_lock(const char *path);

/* Writes our pid into the locked file. 0, or -1 after an error message. */
int pidfile_write(int fd, const char *path);

/*
 * The pid of the heraldd that holds cfg's pid file locked (-1 when it
 * has not written it yet); 0 when none does (no file, or a stale one).
 */
pid_t pidfile_running_pid(const struct herald_config *cfg);

#endif
