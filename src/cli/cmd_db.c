/*
 * cmd_db.c - "herald db init|migrate|status|start|stop".
 *
 * init creates the database and applies every migration; migrate applies
 * the pending ones; both are no-ops when the schema is current, and both
 * import the token keys of older versions once (keyring.h). start and
 * stop manage the embedded MariaDB (dbserver.c); stop refuses while
 * heraldd runs (pidfile.h) unless forced. status tells where the database
 * is, its version, the schema version and the table sizes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cluster_settings.h"
#include "db.h"
#include "dbaccount.h"
#include "dbserver.h"
#include "keyring.h"
#include "log.h"
#include "migrate.h"
#include "pidfile.h"

static void
cmd_db_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald db COMMAND [--config FILE]\n"
	    "       herald db stop [--force] [--config FILE]\n"
	    "\n"
	    "Commands:\n"
	    "  init     create the database and apply every migration\n"
	    "           (starts the embedded server when it is used)\n"
	    "  migrate  apply the migrations not applied yet\n"
	    "  status   server, versions, schema version and table sizes\n"
	    "  start    start the embedded MariaDB instance\n"
	    "  stop     stop the embedded MariaDB instance; refused while\n"
	    "           heraldd runs (its workers would lose the database)\n"
	    "           unless --force is given\n"
	    "\n"
	    "The embedded server is used when neither database_host nor\n"
	    "database_socket is set; it lives in STATE/mariadb/.\n");
}

/* database_name is put in CREATE DATABASE: allow identifiers only. */
static int
cmd_db_check_name(const struct herald_config *cfg)
{
	const char *p = cfg->database_name;

	if (*p == '\0' || strlen(p) > 64)
		goto bad;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			goto bad;
	return 0;
bad:
	msg_error("database_name \"%s\": use 1 to 64 letters, digits or '_'",
	    cfg->database_name);
	return -1;
}

static int
cmd_db_migrate(struct herald_config *cfg, int create)
{
	struct migration_list list;
	struct buf err = BUF_INIT, sql = BUF_INIT, report = BUF_INIT;
	MYSQL *db = NULL;
	unsigned applied;
	int status = CLI_FAILED, version;

	if (cmd_db_check_name(cfg))
		return CLI_FAILED;
	/* Read the files first: a bad sql/ directory changes nothing. */
	if (migration_list_read(cfg->sql_directory, &list, &err))
		goto out;
	db = db_connect(cfg, DB_START_EMBEDDED | DB_MULTI_STATEMENTS |
	    (create ? 0 : DB_SELECT_DATABASE), &err);
	if (db == NULL)
		goto out;
	if (create) {
		buf_printf(&sql, "CREATE DATABASE IF NOT EXISTS `%s` "
		    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
		    cfg->database_name);
		if (db_exec(db, buf_str(&sql), &err))
			goto out;
		if (mysql_select_db(db, cfg->database_name)) {
			db_append_error(db, &err);
			goto out;
		}
	}
	if (migrate_apply(db, &list, &applied, &err))
		goto out;
	/* The role accounts and their grants, new tables included. */
	if (dbaccount_apply(cfg, db, &err))
		goto out;
	/* The token keys of older versions, once; a first key for a new
	 * database (keyring.h). */
	if (keyring_import(cfg, db, &report, &err))
		goto out;
	/* This configuration's message settings become the cluster's
	 * (cluster_settings.h). */
	if (cluster_settings_record(cfg, db, &report, &err))
		goto out;
	version = migrate_current_version(db, &err);
	if (version < 0)
		goto out;
	if (applied)
		printf("database %s: schema version %d (%u migration%s "
		    "applied)\n", cfg->database_name, version, applied,
		    applied == 1 ? "" : "s");
	else
		printf("database %s: schema version %d, already current\n",
		    cfg->database_name, version);
	fputs(buf_str(&report), stdout);
	status = CLI_OK;
out:
	if (status != CLI_OK)
		msg_error("%s", buf_str(&err));
	if (db)
		mysql_close(db);
	if (list.items)
		migration_list_free(&list);
	buf_free(&err);
	buf_free(&sql);
	buf_free(&report);
	return status;
}

static int
cmd_db_print_row(void *arg, unsigned ncolumns, char **columns)
{
	(void)arg;
	if (ncolumns == 4)
		printf("  %-24s %-10s %12s rows %12s bytes\n", columns[0],
		    columns[1] ? columns[1] : "-",
		    columns[2] ? columns[2] : "-",
		    columns[3] ? columns[3] : "-");
	return 0;
}

static int
cmd_db_print_value(void *arg, unsigned ncolumns, char **columns)
{
	if (ncolumns >= 1)
		printf("%s%s\n", (const char *)arg,
		    columns[0] ? columns[0] : "(none)");
	return 0;
}

static int
cmd_db_status(struct herald_config *cfg)
{
	struct migration_list list = { NULL, 0 };
	struct buf err = BUF_INIT, where = BUF_INIT, pending = BUF_INIT;
	const char *params[1] = { cfg->database_name };
	MYSQL *db = NULL;
	int status = CLI_FAILED, version;

	db_describe_server(cfg, &where);
	printf("server: %s\n", buf_str(&where));
	if (config_uses_embedded_database(cfg)) {
		pid_t pid = dbserver_running_pid(cfg);

		if (pid == 0) {
			printf("embedded server: stopped (start it with "
			    "\"herald db start\")\n");
			status = CLI_FAILED;
			goto out;
		}
		printf("embedded server: running, pid %ld\n", (long)pid);
	}
	db = db_connect(cfg, 0, &err);
	if (db == NULL)
		goto fail;
	if (db_query_strings(db, "SELECT VERSION()", 0, NULL,
	    cmd_db_print_value, "server version: ", &err))
		goto fail;
	if (mysql_select_db(db, cfg->database_name) != 0) {
		printf("database %s: does not exist (create it with "
		    "\"herald db init\")\n", cfg->database_name);
		status = CLI_FAILED;
		goto out;
	}
	version = migrate_current_version(db, &err);
	if (version < 0)
		goto fail;
	printf("database: %s\nschema version: %d", cfg->database_name,
	    version);
	if (migration_list_read(cfg->sql_directory, &list, &err) == 0 &&
	    migrate_pending(db, &list, &pending, &err) == 0) {
		if (pending.len)
			printf(" (pending: %s; run \"herald db migrate\")",
			    buf_str(&pending));
		else
			printf(" (current)");
	} else {
		buf_reset(&err);
	}
	printf("\ntables:\n");
	if (db_query_strings(db, "SELECT TABLE_NAME, ENGINE, TABLE_ROWS, "
	    "DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES "
	    "WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", 1, params,
	    cmd_db_print_row, NULL, &err))
		goto fail;
	status = CLI_OK;
	goto out;
fail:
	msg_error("%s", buf_str(&err));
out:
	if (db)
		mysql_close(db);
	migration_list_free(&list);
	buf_free(&err);
	buf_free(&where);
	buf_free(&pending);
	return status;
}

/*
 * Stopping the database under a running heraldd leaves its workers
 * retrying and the mailings in hand waiting: refused unless forced.
 */
static int
cmd_db_check_daemon(const struct herald_config *cfg, int force)
{
	pid_t pid = pidfile_running_pid(cfg);
	char *path;

	if (pid == 0 || !dbserver_running_pid(cfg))
		return 0;
	path = pidfile_path(cfg);
	if (force)
		msg_warn("heraldd is running (pid %ld, pid file %s): its "
		    "workers will wait for the database to come back",
		    (long)pid, path);
	else
		msg_error("heraldd is running (pid %ld, pid file %s) and "
		    "uses this database: stop heraldd first (kill -TERM %ld), "
		    "or give --force to stop the database under it", (long)pid,
		    path, (long)pid);
	free(path);
	return force ? 0 : -1;
}

static int
cmd_db_start_stop(struct herald_config *cfg, int start, int force)
{
	struct buf err = BUF_INIT;
	enum dbserver_outcome outcome;
	char *socket;

	if (!config_uses_embedded_database(cfg)) {
		msg_error("database_host or database_socket is set in %s: "
		    "herald starts and stops only its embedded server; "
		    "manage that server with its own tools",
		    cfg->path ? cfg->path : "the configuration");
		return CLI_FAILED;
	}
	if (!start && cmd_db_check_daemon(cfg, force))
		return CLI_FAILED;
	outcome = start ? dbserver_start(cfg, &err) : dbserver_stop(cfg, &err);
	if (outcome == DBSERVER_FAILED) {
		msg_error("%s", buf_str(&err));
		buf_free(&err);
		return CLI_FAILED;
	}
	socket = config_database_socket(cfg);
	if (start)
		printf("embedded MariaDB %s (pid %ld, socket %s)\n",
		    outcome == DBSERVER_DONE ? "started" : "already running",
		    (long)dbserver_running_pid(cfg), socket);
	else
		printf("embedded MariaDB %s\n", outcome == DBSERVER_DONE ?
		    "stopped" : "was not running");
	free(socket);
	buf_free(&err);
	return CLI_OK;
}

int
cmd_db(struct cli *cli, int argc, char **argv)
{
	struct herald_config *cfg;
	const char *what;
	int force;

	if (cli_wants_help(argc, argv)) {
		cmd_db_usage(stdout);
		return CLI_OK;
	}
	what = argc > 1 ? argv[1] : "";
	force = argc == 3 && strcmp(what, "stop") == 0 &&
	    strcmp(argv[2], "--force") == 0;
	if (strcmp(what, "init") && strcmp(what, "migrate") &&
	    strcmp(what, "status") && strcmp(what, "start") &&
	    strcmp(what, "stop"))
		return cli_unknown_verb(cmd_db_usage, "db", what, "init, "
		    "migrate, status, start or stop");
	if (argc > 2 && !force)
		return cli_unexpected(cmd_db_usage, "db", argv[2]);
	cfg = cli_config(cli);
	if (cfg == NULL)
		return CLI_FAILED;
	if (strcmp(what, "init") == 0)
		return cmd_db_migrate(cfg, 1);
	if (strcmp(what, "migrate") == 0)
		return cmd_db_migrate(cfg, 0);
	if (strcmp(what, "status") == 0)
		return cmd_db_status(cfg);
	return cmd_db_start_stop(cfg, strcmp(what, "start") == 0, force);
}
