/*
 * cmd_stage.c - "herald stage": the cron job staging due mailings.
 *
 * Quiet when there is nothing to do (cron mails any output); one line
 * per mailing staged; exit status 1 when staging failed (the mailing is
 * left for the next run, which completes or undoes it).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "log.h"
#include "stage.h"

static void
cmd_stage_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald stage [--verbose]\n"
	    "\n"
	    "Stages every queued mailing whose send time has come: a fresh\n"
	    "stage table with one row per recipient the segment selects\n"
	    "(suppressed and inactive recipients excluded), cut into batches\n"
	    "of batch_size rows, added to the history MERGE table, and the\n"
	    "mailing marked ready for heraldd. Meant to run from cron every\n"
	    "minute: runs started together stage each mailing once, and a\n"
	    "run with nothing to do prints nothing.\n");
}

int
cmd_stage(struct cli *cli, int argc, char **argv)
{
	struct herald_config *cfg;
	struct stage_report report;
	struct buf err = BUF_INIT;
	MYSQL *db;
	int status;

	if (cli_wants_help(argc, argv)) {
		cmd_stage_usage(stdout);
		return CLI_OK;
	}
	if (argc > 1)
		return cli_unexpected(cmd_stage_usage, "stage", argv[1]);
	cfg = cli_config(cli);
	db = cfg ? cli_database(cli, "stage", 0) : NULL;
	if (db == NULL)
		return CLI_FAILED;
	status = stage_run(cfg, db, &report, &err);
	if (status != 0)
		msg_error("stage: %s", buf_str(&err));
	else if (report.busy)
		msg_debug("stage: another run holds the lock; nothing done");
	else if (report.mailings)
		printf("staged %u %s, %llu %s\n", report.mailings,
		    msg_plural(report.mailings, "mailing", "mailings"),
		    report.rows, msg_plural(report.rows, "recipient",
		    "recipients"));
	mysql_close(db);
	buf_free(&err);
	return status ? CLI_FAILED : CLI_OK;
}
