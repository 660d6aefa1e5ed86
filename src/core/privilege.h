/*
 * privilege.h - running as herald's own user.
 *
 * heraldd started as root does what needs root (the pid file, the
 * scoreboard) and then runs as the user named by the key "user" (default
 * "herald"; make install and contrib/quickstart create it). The state
 * directory, and the token keys generated in it, belong to that user, so
 * its workers can create and read them whichever process (heraldd, or
 * herald run by root) made them first, and heraldd can remove its pid
 * file and scoreboard at exit.
 *
 * Errors: -1 with the reason in err (the user does not exist, chown or
 * setuid failed).
 */
#ifndef HERALD_PRIVILEGE_H
#define HERALD_PRIVILEGE_H

#include "buf.h"
#include "config.h"

/*
 * When running as root with a user configured that exists, makes path
 * belong to that user (and its group). Nothing to do otherwise: 0. A
 * user that does not exist is heraldd's error to report
 * (privilege_drop()), not every command's.
 */
int privilege_give(const struct herald_config *cfg, const char *path,
    struct buf *err);

/*
 * When running as root with a user configured that exists: path (a
 * directory root keeps) gets that user's group and mode 750, so the user
 * reaches what is inside (the embedded database's socket) and other
 * users do not. 0 when done or nothing to do.
 */
int privilege_share_directory(const struct herald_config *cfg,
    const char *path, struct buf *err);

/*
 * Switches to the configured user when running as root, for good (root
 * cannot be regained). 0 when done or when there is nothing to do (not
 * root, or user empty).
 */
int privilege_drop(const struct herald_config *cfg, struct buf *err);

#endif
