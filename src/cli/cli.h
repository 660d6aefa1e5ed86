/*
 * cli.h - what the herald command's subcommands share.
 *
 * herald.c parses the global options (--config, --verbose, --help),
 * then hands the rest of the command line to one subcommand, which
 * returns an exit status: CLI_OK, CLI_FAILED or CLI_USAGE.
 *
 * A command line that cannot be run is reported one way everywhere
 * (cli_usage_error): what is wrong, naming the argument and what was
 * expected, then the command's usage text.
 */
#ifndef HERALD_CLI_H
#define HERALD_CLI_H

#include <mysql.h>
#include <stdio.h>

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

/* A subcommand's usage text, printed to out. */
typedef void cli_usage_fn(FILE *out);

/*
 * Reports a command line that cannot be run: the message as an error
 * ("herald: error: import: --mode must be merge or replace, not
 * \"sideways\"": start it with the command's name), then usage on
 * stderr. Returns CLI_USAGE, for the caller to return.
 */
int cli_usage_error(cli_usage_fn *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * cli_usage_error for an argument the command does not take: "COMMAND:
 * unknown option \"--x\"" when it starts with '-', else "COMMAND:
 * unexpected argument \"x\"". Returns CLI_USAGE.
 */
int cli_unexpected(cli_usage_fn *usage, const char *command,
    const char *arg);

/*
 * cli_usage_error for an option given last, without its value:
 * "COMMAND: OPTION needs a value (WHAT)", or without the parenthesis
 * when what is NULL (the usage that follows names it). Returns CLI_USAGE.
 */
int cli_missing_value(cli_usage_fn *usage, const char *command,
    const char *option, const char *what);

/*
 * cli_usage_error for a subcommand missing (verb NULL or "") or not one
 * of expected (a list in words: "create, list or show"): "COMMAND: name a
 * command: EXPECTED" or "COMMAND: unknown command \"VERB\": expected
 * EXPECTED". Returns CLI_USAGE.
 */
int cli_unknown_verb(cli_usage_fn *usage, const char *command,
    const char *verb, const char *expected);

/* True when s is an id: a positive decimal number of at most 19 digits. */
int cli_is_id(const char *s);

/*
 * cli_usage_error for an argument that should be an id (cli_is_id):
 * "COMMAND: \"ARG\" is not a WHAT id (a positive number)". Returns
 * CLI_USAGE.
 */
int cli_bad_id(cli_usage_fn *usage, const char *command, const char *what,
    const char *arg);

int cmd_config(struct cli *cli, int argc, char **argv);
int cmd_db(struct cli *cli, int argc, char **argv);
int cmd_template(struct cli *cli, int argc, char **argv);
int cmd_token(struct cli *cli, int argc, char **argv);
int cmd_key(struct cli *cli, int argc, char **argv);
int cmd_preview(struct cli *cli, int argc, char **argv);
int cmd_mailing(struct cli *cli, int argc, char **argv);
/* "herald mailing variant ...": argv[0] is "variant". */
int cmd_mailing_variant(struct cli *cli, int argc, char **argv);
int cmd_stage(struct cli *cli, int argc, char **argv);
int cmd_history(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_segment(struct cli *cli, int argc, char **argv);
int cmd_maintain(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_report(struct cli *cli, int argc, char **argv);
int cmd_feedback(struct cli *cli, int argc, char **argv);
int cmd_conversion(struct cli *cli, int argc, char **argv);
int cmd_suppress(struct cli *cli, int argc, char **argv);
int cmd_route(struct cli *cli, int argc, char **argv);

struct scoreboard;
/* How the DESTINATIONS section is printed: text, a JSON array, or CSV
 * rows of herald report's long format ("destinations", domain,
 * measure, value). */
enum route_format { ROUTE_TEXT, ROUTE_JSON, ROUTE_CSV };
/* The DESTINATIONS section (cmd_route.c): each destination's route,
 * decision and figures from a running heraldd's scoreboard; herald
 * status, herald route show and herald report print it. */
void route_print_destinations(const struct herald_config *cfg,
    const struct scoreboard *board, enum route_format format);
/* The same from the running heraldd's scoreboard, after printing
 * before: -1 (nothing printed) with the reason in err when heraldd is
 * not running. */
int route_print_running(const struct herald_config *cfg,
    enum route_format format, const char *before, struct buf *err);
/* A CSV field (cmd_report.c): quoted when it holds a comma, quote or
 * line break; nothing for NULL. */
void report_csv_field(const char *s);
/* The test phase's lines (test_phase_print.c): "herald mailing show"'s
 * labelled lines, herald report's section in text, its "test_phase"
 * member in JSON (null without one, printed after before) or rows of
 * its long CSV format (section test_phase). Nothing in text or CSV for
 * a mailing without a test phase. */
enum test_phase_output { TEST_PHASE_SHOW, TEST_PHASE_TEXT, TEST_PHASE_JSON,
	TEST_PHASE_CSV };
int test_phase_print(MYSQL *db, const char *mailing_id,
    enum test_phase_output output, const char *before, struct buf *err);
/* (further subcommands) */

#endif
