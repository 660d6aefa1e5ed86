/*
 * privilege.c - running as herald's own user (see privilege.h).
 */
#include "privilege.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The configured user when there is something to hand over: running as
 * root, with a user configured that exists. NULL otherwise (a user that
 * does not exist is privilege_drop()'s error to report, not every
 * command's).
 */
static const struct passwd *
user_to_serve(const struct herald_config *cfg)
{
	if (cfg->user[0] == '\0' || geteuid() != 0)
		return NULL;
	return getpwnam(cfg->user);
}

int
privilege_give(const struct herald_config *cfg, const char *path,
    struct buf *err)
{
	const struct passwd *pw = user_to_serve(cfg);

	if (pw == NULL)
		return 0;
	if (chown(path, pw->pw_uid, pw->pw_gid) != 0) {
		buf_printf(err, "%s: cannot give it to user %s: %s", path,
		    cfg->user, strerror(errno));
		return -1;
	}
	return 0;
}

int
privilege_share_directory(const struct herald_config *cfg, const char *path,
    struct buf *err)
{
	const struct passwd *pw = user_to_serve(cfg);

	if (pw == NULL)
		return 0;
	if (chown(path, (uid_t)-1, pw->pw_gid) != 0 ||
	    chmod(path, 0750) != 0) {
		buf_printf(err, "%s: cannot share it with user %s: %s", path,
		    cfg->user, strerror(errno));
		return -1;
	}
	return 0;
}

int
privilege_drop(const struct herald_config *cfg, struct buf *err)
{
	struct passwd *pw;

	if (cfg->user[0] == '\0' || geteuid() != 0)
		return 0;
	pw = getpwnam(cfg->user);
	if (pw == NULL) {
		buf_printf(err, "user \"%s\" (configuration key user) does not "
		    "exist: create it (useradd --system %s, as make install "
		    "does) or set user", cfg->user, cfg->user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		buf_printf(err, "cannot switch to user \"%s\": %s", cfg->user,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		buf_printf(err, "dropped to user \"%s\" but could get root "
		    "back; refusing to run", cfg->user);
		return -1;
	}
	return 0;
}
