/*
 * dbserver.c - herald's embedded MariaDB instance (see dbserver.h).
 *
 * Files under STATE/mariadb/:
 *	data/		the data directory (created by mariadb-install-db
 *			into data.new/, then renamed, so a crash during
 *			creation never leaves a half-made directory)
 *	mysqld.sock	the unix socket
 *	mysqld.pid	written by mariadbd
 *	error.log	mariadbd's log; its tail is quoted when start fails
 *	lock		flock()ed during start and stop
 *	tmp/		the server's own tmpdir (see dbserver_spawn)
 */
#include "dbserver.h"
#include "log.h"
#include "privilege.h"

#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *
dbserver_path(const struct herald_config *cfg, const char *name)
{
	struct buf path = BUF_INIT;

	buf_printf(&path, "%s/mariadb%s%s", cfg->state_directory,
	    *name ? "/" : "", name);
	return buf_steal(&path);
}

/* mkdir -p with mode 0700 for what we create. */
static int
dbserver_make_directory(const char *path, struct buf *err)
{
	char *copy = xstrdup(path);

	for (char *p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
			buf_printf(err, "cannot create directory %s: %s", copy,
			    strerror(errno));
			free(copy);
			return -1;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(copy);
	return 0;
}

static void
dbserver_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double
dbserver_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads the pid file; 0 when absent or unreadable. */
static pid_t
dbserver_read_pid(const struct herald_config *cfg)
{
	char *path = dbserver_path(cfg, "mysqld.pid");
	FILE *fp = fopen(path, "r");
	long pid = 0;

	free(path);
	if (fp == NULL)
		return 0;
	if (fscanf(fp, "%ld", &pid) != 1 || pid <= 1)
		pid = 0;
	fclose(fp);
	return (pid_t)pid;
}

/* True when pid is a live mariadbd serving our data directory. */
static int
dbserver_is_ours(const struct herald_config *cfg, pid_t pid)
{
	char proc[64], cmdline[8192];
	char *datadir = dbserver_path(cfg, "data");
	size_t got, want = strlen(datadir);
	int fd, ours = 0;

	snprintf(proc, sizeof(proc), "/proc/%ld/cmdline", (long)pid);
	fd = open(proc, O_RDONLY);
	if (fd < 0)
		goto out;
	got = (size_t)read(fd, cmdline, sizeof(cmdline) - 1);
	close(fd);
	if (got == (size_t)-1)
		goto out;
	/* Arguments are NUL-separated; look for --datadir=OURS. */
	for (size_t i = 0; i < got; i += strlen(cmdline + i) + 1) {
		cmdline[got] = '\0';
		if (strncmp(cmdline + i, "--datadir=", 10) == 0 &&
		    strncmp(cmdline + i + 10, datadir, want) == 0 &&
		    cmdline[i + 10 + want] == '\0')
			ours = 1;
	}
out:
	free(datadir);
	return ours;
}

pid_t
dbserver_running_pid(const struct herald_config *cfg)
{
	pid_t pid = dbserver_read_pid(cfg);

	if (pid > 0 && kill(pid, 0) == 0 && dbserver_is_ours(cfg, pid))
		return pid;
	return 0;
}

/* Takes STATE/mariadb/lock; returns the descriptor or -1. */
static int
dbserver_lock(const struct herald_config *cfg, struct buf *err)
{
	char *dir = dbserver_path(cfg, "");
	char *path = dbserver_path(cfg, "lock");
	int fd = -1;

	/* heraldd's user (privilege.h) reaches the socket in there, other
	 * users cannot even reach the state directory. */
	if (dbserver_make_directory(dir, err) ||
	    privilege_give(cfg, cfg->state_directory, err) ||
	    privilege_share_directory(cfg, dir, err))
		goto out;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		buf_printf(err, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX) != 0) {
		buf_printf(err, "cannot lock %s: %s", path, strerror(errno));
		close(fd);
		fd = -1;
	}
out:
	free(dir);
	free(path);
	return fd;
}

/* Runs argv to completion with output to log_path; 0 when it exits 0. */
static int
dbserver_run(char *const argv[], const char *log_path, struct buf *err)
{
	pid_t pid = fork();
	int status;

	if (pid < 0) {
		buf_printf(err, "cannot fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int null = open("/dev/null", O_RDONLY);

		if (log >= 0) {
			dup2(log, 1);
			dup2(log, 2);
		}
		if (null >= 0)
			dup2(null, 0);
		execv(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			buf_printf(err, "waitpid: %s", strerror(errno));
			return -1;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		buf_printf(err, "%s failed (see %s)", argv[0], log_path);
		return -1;
	}
	return 0;
}

/* The name mariadbd should run as: root needs --user=root explicitly. */
static const char *
dbserver_user_name(void)
{
	struct passwd *pw = getpwuid(geteuid());

	return pw ? pw->pw_name : "root";
}

const char *
dbserver_login_user(const struct herald_config *cfg)
{
	/*
	 * The embedded server's root logs in by unix_socket as the system's
	 * root only; mariadb-install-db gives the system user who created
	 * it (the package's herald) an account of its own name, with every
	 * privilege, through the same socket.
	 */
	if (strcmp(cfg->database_user, "root") == 0 &&
	    cfg->database_password[0] == '\0' && geteuid() != 0)
		return dbserver_user_name();
	return cfg->database_user;
}

/* Creates data/ through data.new/ when it does not exist yet. */
static int
dbserver_install(const struct herald_config *cfg, struct buf *err)
{
	char *datadir = dbserver_path(cfg, "data");
	char *fresh = dbserver_path(cfg, "data.new");
	char *log = dbserver_path(cfg, "install.log");
	struct buf datadir_arg = BUF_INIT, user_arg = BUF_INIT;
	struct stat st;
	int rc = -1;

	if (stat(datadir, &st) == 0) {
		rc = 0;
		goto out;
	}
	if (access(cfg->embedded_install_db, X_OK) != 0) {
		buf_printf(err, "embedded_install_db %s is not executable: "
		    "install the Debian package mariadb-server, or set "
		    "database_host to use another server",
		    cfg->embedded_install_db);
		goto out;
	}
	/* A leftover from a crash during an earlier install. */
	if (stat(fresh, &st) == 0) {
		char *rm[] = { "/bin/rm", "-rf", fresh, NULL };

		if (dbserver_run(rm, log, err))
			goto out;
	}
	msg_info("creating the embedded database in %s (first start)",
	    datadir);
	buf_printf(&datadir_arg, "--datadir=%s", fresh);
	buf_printf(&user_arg, "--user=%s", dbserver_user_name());
	/* root logs in through the socket as the system's root only, never
	 * with an empty password, so neither another local user nor a TCP
	 * client (embedded_port) gets in as root; heraldd and herald bounce
	 * use their own accounts with passwords (dbaccount.h). */
	char *argv[] = { cfg->embedded_install_db, "--no-defaults",
	    datadir_arg.data, user_arg.data,
	    "--auth-root-authentication-method=socket",
	    "--skip-test-db", NULL };
	if (dbserver_run(argv, log, err))
		goto out;
	if (rename(fresh, datadir) != 0) {
		buf_printf(err, "cannot rename %s to %s: %s", fresh, datadir,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	buf_free(&datadir_arg);
	buf_free(&user_arg);
	free(datadir);
	free(fresh);
	free(log);
	return rc;
}

/* Quotes the last lines of mariadbd's error log into err. */
static void
dbserver_append_log_tail(const struct herald_config *cfg, struct buf *err)
{
	char *path = dbserver_path(cfg, "error.log");
	char tail[1024];
	FILE *fp = fopen(path, "r");
	size_t got;

	if (fp) {
		if (fseek(fp, -(long)sizeof(tail) + 1, SEEK_END) != 0)
			rewind(fp);
		got = fread(tail, 1, sizeof(tail) - 1, fp);
		tail[got] = '\0';
		fclose(fp);
		buf_printf(err, "; last lines of %s:\n%s", path, tail);
	}
	free(path);
}

/* Forks mariadbd, detached from us; returns its pid or -1. */
static pid_t
dbserver_spawn(const struct herald_config *cfg, struct buf *err)
{
	char *datadir = dbserver_path(cfg, "data");
	char *socket = dbserver_path(cfg, "mysqld.sock");
	char *pidfile = dbserver_path(cfg, "mysqld.pid");
	char *log = dbserver_path(cfg, "error.log");
	char *tmpdir = dbserver_path(cfg, "tmp");
	struct buf a_datadir = BUF_INIT, a_socket = BUF_INIT, a_pid = BUF_INIT,
	    a_log = BUF_INIT, a_user = BUF_INIT, a_cache = BUF_INIT,
	    a_tmpdir = BUF_INIT;
	pid_t pid;

	buf_printf(&a_datadir, "--datadir=%s", datadir);
	buf_printf(&a_socket, "--socket=%s", socket);
	buf_printf(&a_pid, "--pid-file=%s", pidfile);
	buf_printf(&a_log, "--log-error=%s", log);
	buf_printf(&a_user, "--user=%s", dbserver_user_name());
	buf_printf(&a_cache, "--table-open-cache=%ld",
	    cfg->embedded_table_open_cache);
	buf_printf(&a_tmpdir, "--tmpdir=%s", tmpdir);
	pid = fork();
	if (pid < 0) {
		buf_printf(err, "cannot fork: %s", strerror(errno));
	} else if (pid == 0) {
		char port[32], bind[] = "--bind-address=127.0.0.1";
		char *argv[16];
		int n = 0, null = open("/dev/null", O_RDWR);

		/* Its own session: the server outlives this command. */
		setsid();
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		argv[n++] = cfg->embedded_mariadbd;
		argv[n++] = "--no-defaults";
		argv[n++] = a_datadir.data;
		argv[n++] = a_socket.data;
		argv[n++] = a_pid.data;
		argv[n++] = a_log.data;
		argv[n++] = a_user.data;
		argv[n++] = a_cache.data;
		/*
		 * A tmpdir of its own: at start-up mariadbd deletes every
		 * "#sql*" file in its tmpdir, so a server starting on a
		 * shared /tmp deleted the on-disk internal temporary tables
		 * of every other server running there ("Error on delete of
		 * '/tmp/#sql-temptable-...MAI' (Errcode: 2)" in the middle
		 * of a statement).
		 */
		argv[n++] = a_tmpdir.data;
		/* Stage tables through mmap: no pread/pwrite per row. */
		argv[n++] = "--myisam-use-mmap=1";
		if (cfg->embedded_port) {
			snprintf(port, sizeof(port), "--port=%ld",
			    cfg->embedded_port);
			argv[n++] = port;
			argv[n++] = bind;
		} else {
			argv[n++] = "--skip-networking";
		}
		argv[n] = NULL;
		execv(argv[0], argv);
		_exit(127);
	}
	buf_free(&a_datadir);
	buf_free(&a_socket);
	buf_free(&a_pid);
	buf_free(&a_log);
	buf_free(&a_user);
	buf_free(&a_cache);
	buf_free(&a_tmpdir);
	free(tmpdir);
	free(datadir);
	free(socket);
	free(pidfile);
	free(log);
	return pid;
}

/* Waits until the server answers on its socket, or fails. */
static int
dbserver_wait_ready(const struct herald_config *cfg, pid_t pid,
    struct buf *err)
{
	char *socket = dbserver_path(cfg, "mysqld.sock");
	double deadline = dbserver_now() + cfg->embedded_start_timeout;
	int rc = -1, status;

	for (;;) {
		MYSQL *db = mysql_init(NULL);
		unsigned timeout = 2;

		mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
		if (mysql_real_connect(db, NULL, dbserver_login_user(cfg),
		    cfg->database_password[0] ? cfg->database_password : NULL,
		    NULL, 0, socket, 0) != NULL) {
			mysql_close(db);
			rc = 0;
			break;
		}
		/* Access denied (with a password, or by unix_socket) means
		 * it is up; the caller reports it. */
		if (mysql_errno(db) == 1045 || mysql_errno(db) == 1698) {
			mysql_close(db);
			rc = 0;
			break;
		}
		mysql_close(db);
		if (waitpid(pid, &status, WNOHANG) == pid) {
			buf_printf(err, "mariadbd exited during start-up");
			dbserver_append_log_tail(cfg, err);
			break;
		}
		if (dbserver_now() > deadline) {
			buf_printf(err, "mariadbd did not answer on %s within "
			    "%ld s (embedded_start_timeout)", socket,
			    cfg->embedded_start_timeout);
			dbserver_append_log_tail(cfg, err);
			kill(pid, SIGTERM);
			break;
		}
		dbserver_sleep_ms(100);
	}
	free(socket);
	return rc;
}

/* Removes a pid file and socket left by a server that is gone. */
static void
dbserver_remove_stale_files(const struct herald_config *cfg)
{
	char *pidfile = dbserver_path(cfg, "mysqld.pid");
	char *socket = dbserver_path(cfg, "mysqld.sock");

	if (access(pidfile, F_OK) == 0 || access(socket, F_OK) == 0)
		msg_info("removing stale %s and %s (server no longer running)",
		    pidfile, socket);
	unlink(pidfile);
	unlink(socket);
	free(pidfile);
	free(socket);
}

enum dbserver_outcome
dbserver_start(const struct herald_config *cfg, struct buf *err)
{
	enum dbserver_outcome outcome = DBSERVER_FAILED;
	char *socket = dbserver_path(cfg, "mysqld.sock");
	char *tmpdir = NULL;
	int lock;
	pid_t pid;

	if (strlen(socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		buf_printf(err, "socket path %s is too long for a unix socket "
		    "(at most %zu bytes): choose a shorter state_directory",
		    socket, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		free(socket);
		return DBSERVER_FAILED;
	}
	free(socket);
	/* Checked when the configuration was read; here too, since this is
	 * what would open the port. */
	if (config_check_embedded_port(cfg, err) != 0)
		return DBSERVER_FAILED;
	if (access(cfg->embedded_mariadbd, X_OK) != 0) {
		buf_printf(err, "embedded_mariadbd %s is not executable: "
		    "install the Debian package mariadb-server, or set "
		    "database_host to use another server",
		    cfg->embedded_mariadbd);
		return DBSERVER_FAILED;
	}
	lock = dbserver_lock(cfg, err);
	if (lock < 0)
		return DBSERVER_FAILED;
	tmpdir = dbserver_path(cfg, "tmp");
	if (dbserver_running_pid(cfg)) {
		outcome = DBSERVER_ALREADY;
		goto out;
	}
	dbserver_remove_stale_files(cfg);
	if (dbserver_install(cfg, err))
		goto out;
	if (dbserver_make_directory(tmpdir, err))
		goto out;
	pid = dbserver_spawn(cfg, err);
	if (pid < 0)
		goto out;
	if (dbserver_wait_ready(cfg, pid, err))
		goto out;
	outcome = DBSERVER_DONE;
out:
	free(tmpdir);
	close(lock);
	return outcome;
}

enum dbserver_outcome
dbserver_stop(const struct herald_config *cfg, struct buf *err)
{
	enum dbserver_outcome outcome = DBSERVER_FAILED;
	double deadline;
	int lock;
	pid_t pid;

	lock = dbserver_lock(cfg, err);
	if (lock < 0)
		return DBSERVER_FAILED;
	pid = dbserver_running_pid(cfg);
	if (pid == 0) {
		dbserver_remove_stale_files(cfg);
		outcome = DBSERVER_ALREADY;
		goto out;
	}
	if (kill(pid, SIGTERM) != 0) {
		buf_printf(err, "cannot signal mariadbd (pid %ld): %s",
		    (long)pid, strerror(errno));
		goto out;
	}
	/* A clean InnoDB shutdown can take a while on a busy server. */
	deadline = dbserver_now() + cfg->embedded_start_timeout;
	while (kill(pid, 0) == 0) {
		/* Reap it if it happens to be our child. */
		waitpid(pid, NULL, WNOHANG);
		if (dbserver_now() > deadline) {
			buf_printf(err, "mariadbd (pid %ld) did not stop within "
			    "%ld s; it is still shutting down, see its log",
			    (long)pid, cfg->embedded_start_timeout);
			goto out;
		}
		dbserver_sleep_ms(100);
	}
	outcome = DBSERVER_DONE;
out:
	close(lock);
	return outcome;
}
