/*
 * cli.h - what the herald command's subcommands share.
 *
 * herald.c parses the global options (--config, --verbose, --help),
 * then hands the rest of the command line to one subcommand, which
 * returns an exit status: CLI_OK, CLI_FAILED or CLI_USAGE.
 */
#ifndef HERALD_CLI_H
#define HERALD_CLI_H

#include <mysql.h>

#include "config.h"

enum {
	CLI_OK = 0,
	CLI_FAILED = 1,
	CLI_USAGE = 2,
};

struct cli {
	const char *config_path;	/* --config, or NULL */
	struct herald_config config;
	int config_loaded;
};

struct cli_command {
	const char *name;
	const char *summary;
	/* argv[0] is the subcommand's name. */
	int (*run)(struct cli *cli, int argc, char **argv);
};

/*
 * Loads the configuration on first use (--config, $HERALD_CONFIG, the
 * system file, or the defaults). Returns NULL after printing the reason.
 */
struct herald_config *cli_config(struct cli *cli);

/*
 * Connects to herald's database as the configuration says (flags: more
 * db.h DB_* options). NULL after printing "COMMAND: reason".
 */
MYSQL *cli_database(struct cli *cli, const char *command, int flags);

/* True when argv holds -h or --help before any "--". */
int cli_wants_help(int argc, char **argv);

int cmd_config(struct cli *cli, int argc, char **argv);
int cmd_db(struct cli *cli, int argc, char **argv);
int cmd_template(struct cli *cli, int argc, char **argv);
int cmd_token(struct cli *cli, int argc, char **argv);
int cmd_preview(struct cli *cli, int argc, char **argv);
int cmd_mailing(struct cli *cli, int argc, char **argv);
int cmd_stage(struct cli *cli, int argc, char **argv);
int cmd_history(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_segment(struct cli *cli, int argc, char **argv);
int cmd_maintain(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_report(struct cli *cli, int argc, char **argv);
int cmd_bounce(struct cli *cli, int argc, char **argv);
int cmd_suppress(struct cli *cli, int argc, char **argv);
/* (further subcommands) */

#endif
