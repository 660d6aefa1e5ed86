/*
 * pidfile.c - heraldd's pid file (see pidfile.h).
 */
#include "pidfile.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

char *
pidfile_path(const struct herald_config *cfg)
{
	struct buf path = BUF_INIT;

	if (cfg->pid_file[0])
		buf_append_str(&path, cfg->pid_file);
	else
		buf_printf(&path, "%s/heraldd.pid", cfg->state_directory);
	return buf_steal(&path);
}

/* The pid written in the file at fd, 0 when there is none. */
static pid_t
pidfile_read(int fd, char *text, size_t size)
{
	ssize_t got = pread(fd, text, size - 1, 0);

	text[got > 0 ? got : 0] = '\0';
	text[strcspn(text, "\n")] = '\0';
	return (pid_t)strtol(text, NULL, 10);
}

int
pidfile_lock(const char *path)
{
	char text[32];
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		msg_error("cannot open pid file %s: %s (check "
		    "state_directory and pid_file)", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		pidfile_read(fd, text, sizeof(text));
		msg_error("heraldd is already running (pid %s, pid file %s); "
		    "stop it first with \"kill -TERM %s\"", text, path, text);
		close(fd);
		return -1;
	}
	return fd;
}

int
pidfile_write(int fd, const char *path)
{
	char text[32];
	int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len) {
		msg_error("cannot write pid file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

pid_t
pidfile_running_pid(const struct herald_config *cfg)
{
	char *path = pidfile_path(cfg), text[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	pid_t pid = 0;

	free(path);
	if (fd < 0)
		return 0;
	/* A shared lock is refused only while heraldd holds its own. */
	if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
		pid = pidfile_read(fd, text, sizeof(text));
		/* Locked, its pid not written yet: running all the same. */
		if (pid <= 0)
			pid = -1;
	}
	close(fd);
	return pid;
}
