/*
 * dbserver.h - herald's embedded MariaDB instance.
 *
 * When no database server is configured, herald runs the system's
 * mariadbd itself: data directory, unix socket, pid file and error log
 * under STATE/mariadb/, no TCP unless embedded_port is set (and the
 * daemon's account has a password: config_check_embedded_port()). A new user
 * thus needs no database set-up at all.
 *
 * Every operation holds STATE/mariadb/lock, so two herald processes
 * starting or stopping the server at once do not trip over each other.
 * A pid file whose process is gone, or is not our mariadbd, is stale and
 * is cleaned up; starting a running server and stopping a stopped one
 * are not errors.
 */
#ifndef HERALD_DBSERVER_H
#define HERALD_DBSERVER_H

#include <sys/types.h>

#include "buf.h"
#include "config.h"

enum dbserver_outcome {
	DBSERVER_DONE,		/* started, or stopped */
	DBSERVER_ALREADY,	/* was already running, or already stopped */
	DBSERVER_FAILED,	/* err says why */
};

/* Creates the data directory on first use and starts mariadbd. */
enum dbserver_outcome dbserver_start(const struct herald_config *cfg,
    struct buf *err);

/* Stops the server (SIGTERM, then waits for it to finish). */
enum dbserver_outcome dbserver_stop(const struct herald_config *cfg,
    struct buf *err);

/* The pid of the running embedded server, or 0 when it is not running. */
pid_t dbserver_running_pid(const struct herald_config *cfg);

/* STATE/mariadb/NAME, owned by the caller. */
char *dbserver_path(const struct herald_config *cfg, const char *name);

/*
 * The account herald logs in as on the embedded server: database_user,
 * except that root without a password, asked by a system user other
 * than root, is that user's own account (root logs in by unix_socket as
 * the system's root only).
 */
const char *dbserver_login_user(const struct herald_config *cfg);

#endif
