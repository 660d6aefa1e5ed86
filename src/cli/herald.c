/*
 * herald.c - the operator's and cron's command: git-style subcommands.
 *
 * SYNOPSIS
 *	herald [--config FILE] [--verbose] COMMAND [ARGS...]
 *
 * DESCRIPTION
 *	Finds the subcommand in cli_commands and runs it. --config may
 *	appear anywhere on the line (before "--"); without it the file
 *	named by $HERALD_CONFIG, then SYSCONFDIR/herald.conf, then the
 *	built-in defaults are used.
 *
 * DIAGNOSTICS
 *	Exit status 0 on success, 1 when the command failed, 2 on a usage
 *	error. Messages go to stderr.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "db.h"
#include "log.h"

static const struct cli_command cli_commands[] = {
	{ "config", "check and show the configuration", cmd_config },
	{ "db", "create, migrate, start, stop and inspect the database",
	    cmd_db },
	{ "template", "check a template directory", cmd_template },
	{ "token", "verify or make an unsubscribe token", cmd_token },
	{ "key", "list, rotate and retire the token keys", cmd_key },
	{ "preview", "print the exact message one recipient gets",
	    cmd_preview },
	{ "mailing", "create, list, show, pause, resume, cancel mailings; "
	    "their variants",
	    cmd_mailing },
	{ "stage", "stage due mailings (cron, every minute)", cmd_stage },
	{ "history", "the mailings one recipient received", cmd_history },
	{ "import", "load recipients from a file or URL", cmd_import },
	{ "segment", "count, save, list, show, delete segments",
	    cmd_segment },
	{ "maintain", "compact finished mailings, release leases (cron)",
	    cmd_maintain },
	{ "status", "mailings in progress, workers and relays", cmd_status },
	{ "route", "destinations' routes and reputation; hold or release "
	    "one", cmd_route },
	{ "report", "what became of a mailing", cmd_report },
	{ "feedback", "record a bounce, complaint or mailto unsubscribe "
	    "(Postfix pipe transport)", cmd_feedback },
	{ "bounce", "the same as feedback", cmd_feedback },
	{ "conversion", "import conversions (donations, sign-ups)",
	    cmd_conversion },
	{ "suppress", "add, remove, list, import suppressed addresses",
	    cmd_suppress },
	/* (further subcommands) */
};

#define CLI_COMMAND_COUNT (sizeof(cli_commands) / sizeof(cli_commands[0]))

static void
herald_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald [--config FILE] [--verbose] COMMAND [ARGS...]\n"
	    "\n"
	    "herald stages and sends personalized bulk mailings.\n"
	    "\n"
	    "Commands:\n");
	for (size_t i = 0; i < CLI_COMMAND_COUNT; i++)
		fprintf(out, "  %-10s %s\n", cli_commands[i].name,
		    cli_commands[i].summary);
	fprintf(out,
	    "\n"
	    "Options:\n"
	    "  -c, --config FILE  configuration file (default: $HERALD_CONFIG,\n"
	    "                     then %s/herald.conf, then built-in defaults)\n"
	    "  -v, --verbose      print debugging messages\n"
	    "  -h, --help         this help; \"herald COMMAND --help\" for a command\n"
	    "  --version          print the version\n"
	    "\n"
	    "Exit status: 0 success, 1 failure, 2 usage error.\n"
	    "See herald(1) and herald.conf(5).\n", HERALD_SYSCONFDIR);
}

struct herald_config *
cli_config(struct cli *cli)
{
	struct buf err = BUF_INIT;

	if (cli->config_loaded)
		return &cli->config;
	config_defaults(&cli->config);
	if (config_locate_and_load(&cli->config, cli->config_path, &err)) {
		msg_error("%s", buf_str(&err));
		buf_free(&err);
		config_free(&cli->config);
		return NULL;
	}
	cli->config_loaded = 1;
	return &cli->config;
}

MYSQL *
cli_database(struct cli *cli, const char *command, int flags)
{
	struct herald_config *cfg = cli_config(cli);
	struct buf err = BUF_INIT;
	MYSQL *db;

	if (cfg == NULL)
		return NULL;
	db = db_connect(cfg, DB_SELECT_DATABASE | flags, &err);
	if (db == NULL)
		msg_error("%s: %s", command, buf_str(&err));
	buf_free(&err);
	return db;
}

int
cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0)
			return 1;
	}
	return 0;
}

int
cli_usage_error(cli_usage_fn *usage, const char *fmt, ...)
{
	struct buf text = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&text, fmt, ap);
	va_end(ap);
	msg_error("%s", buf_str(&text));
	buf_free(&text);
	if (usage)
		usage(stderr);
	return CLI_USAGE;
}

int
cli_unexpected(cli_usage_fn *usage, const char *command, const char *arg)
{
	if (arg[0] == '-' && arg[1] != '\0')
		return cli_usage_error(usage, "%s: unknown option \"%s\"",
		    command, arg);
	return cli_usage_error(usage, "%s: unexpected argument \"%s\"",
	    command, arg);
}

int
cli_missing_value(cli_usage_fn *usage, const char *command,
    const char *option, const char *what)
{
	if (what == NULL)
		return cli_usage_error(usage, "%s: %s needs a value", command,
		    option);
	return cli_usage_error(usage, "%s: %s needs a value (%s)", command,
	    option, what);
}

int
cli_unknown_verb(cli_usage_fn *usage, const char *command, const char *verb,
    const char *expected)
{
	if (verb == NULL || verb[0] == '\0')
		return cli_usage_error(usage, "%s: name a command: %s",
		    command, expected);
	return cli_usage_error(usage, "%s: unknown command \"%s\": expected "
	    "%s", command, verb, expected);
}

int
cli_is_id(const char *s)
{
	size_t digits = strspn(s, "0123456789");

	return digits > 0 && digits <= 19 && s[digits] == '\0' &&
	    strspn(s, "0") < digits;
}

int
cli_bad_id(cli_usage_fn *usage, const char *command, const char *what,
    const char *arg)
{
	return cli_usage_error(usage, "%s: \"%s\" is not a %s id (a positive "
	    "number)", command, arg, what);
}

/*
 * Takes --config/-c and --verbose/-v out of argv wherever they are, so
 * "herald db status --config x" works like "herald --config x db status".
 * Returns the new argc, or -1 after a usage message.
 */
static int
herald_take_global_options(struct cli *cli, int argc, char **argv)
{
	int out = 1;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--") == 0) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(arg, "--config") == 0 || strcmp(arg, "-c") == 0) {
			if (i + 1 >= argc) {
				msg_error("%s needs a value (a configuration "
				    "file)", arg);
				return -1;
			}
			cli->config_path = argv[++i];
		} else if (strncmp(arg, "--config=", 9) == 0) {
			cli->config_path = arg + 9;
		} else if (strcmp(arg, "--verbose") == 0 ||
		    strcmp(arg, "-v") == 0) {
			log_set_verbose(1);
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	return out;
}

int
main(int argc, char **argv)
{
	struct cli cli = { 0 };
	int status;

	log_open("herald", LOG_TO_STDERR);
	argc = herald_take_global_options(&cli, argc, argv);
	if (argc < 0)
		return CLI_USAGE;
	if (argc < 2)
		return cli_usage_error(herald_usage, "name a command (the "
		    "list is below)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		herald_usage(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("herald %s\n", PACKAGE_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < CLI_COMMAND_COUNT; i++) {
		if (strcmp(argv[1], cli_commands[i].name) == 0) {
			status = cli_commands[i].run(&cli, argc - 1, argv + 1);
			if (cli.config_loaded)
				config_free(&cli.config);
			return status;
		}
	}
	msg_error("unknown %s \"%s\": run \"herald --help\" for the list "
	    "of commands", argv[1][0] == '-' ? "option" : "command", argv[1]);
	return CLI_USAGE;
}
