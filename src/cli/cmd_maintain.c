/*
 * cmd_maintain.c - "herald maintain": the daily cron job (maintain.h).
 */
#include <stdio.h>

#include "cli.h"
#include "db.h"
#include "log.h"
#include "maintain.h"

static void
cmd_maintain_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald maintain\n"
	    "\n"
	    "Moves the stage tables of mailings finished for longer than\n"
	    "compact_after into monthly archives (history_YYYYMM), so the\n"
	    "history MERGE table keeps few tables; packs archives of closed\n"
	    "months with myisampack (embedded database only); releases\n"
	    "expired batch leases. Safe to interrupt and to run concurrently\n"
	    "(a second run does nothing). Prints one line when it did\n"
	    "something.\n");
}

int
cmd_maintain(struct cli *cli, int argc, char **argv)
{
	struct herald_config *cfg;
	struct maintain_report r;
	struct buf err = BUF_INIT;
	MYSQL *db;
	int status;

	if (cli_wants_help(argc, argv)) {
		cmd_maintain_usage(stdout);
		return CLI_OK;
	}
	if (argc != 1)
		return cli_unexpected(cmd_maintain_usage, "maintain", argv[1]);
	cfg = cli_config(cli);
	db = cfg ? cli_database(cli, "maintain", 0) : NULL;
	if (db == NULL)
		return CLI_FAILED;
	status = maintain_run(cfg, db, &r, &err);
	if (status != 0)
		msg_error("maintain: %s", buf_str(&err));
	else if (r.compacted || r.packed || r.leases_released)
		printf("compacted %u %s, packed %u %s, released %u %s; "
		    "history has %u %s\n", r.compacted, msg_plural(r.compacted,
		    "mailing", "mailings"), r.packed, msg_plural(r.packed,
		    "archive", "archives"), r.leases_released,
		    msg_plural(r.leases_released, "lease", "leases"),
		    r.union_tables, msg_plural(r.union_tables, "table",
		    "tables"));
	mysql_close(db);
	buf_free(&err);
	return status ? CLI_FAILED : CLI_OK;
}
