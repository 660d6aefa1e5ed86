/*
 * cmd_config.c - "herald config check [--show]".
 *
 * Validates the configuration herald would use (the same lookup as every
 * other command) and optionally prints the effective value of every key.
 */


#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"

static void
cmd_config_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald config check [--show] [--config FILE]\n"
	    "\n"
	    "Checks the configuration file and reports the first error with\n"
	    "FILE:LINE and the key. --show prints every key's effective value\n"
	    "(secrets masked).\n");
}

int
cmd_config(struct cli *cli, int argc, char **argv)
{
	struct herald_config *cfg;
	int show = 0;

	if (cli_wants_help(argc, argv)) {
		cmd_config_usage(stdout);
		return CLI_OK;
	}
	if (argc < 2 || strcmp(argv[1], "check") != 0)
		return cli_unknown_verb(cmd_config_usage, "config",
		    argc < 2 ? NULL : argv[1], "check");
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--show") == 0)
			show = 1;
		else
			return cli_unexpected(cmd_config_usage, "config check",
			    argv[i]);
	}
	cfg = cli_config(cli);
	if (cfg == NULL)
		return CLI_FAILED;
	if (show)
		config_print(cfg, stdout);
	else
		printf("%s: ok\n", cfg->path ? cfg->path :
		    "built-in defaults");
	return CLI_OK;
}
