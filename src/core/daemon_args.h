/*
 * daemon_args.h - the command line heraldd and herald-web share.
 *
 * Both daemons take the same options (-f, --config, --verbose, --help,
 * --version) and no operands; one parser keeps them alike.
 */
#ifndef HERALD_DAEMON_ARGS_H
#define HERALD_DAEMON_ARGS_H

#include <stdio.h>

struct daemon_args {
	const char *config_path;	/* --config, or NULL */
	int foreground;			/* -f: stay attached, log to stderr */
};

/*
 * Parses argv for program (its name in --version). --verbose turns on
 * debugging messages at once. Returns -1 when the daemon should go on
 * with args filled in, otherwise the exit status to return: 0 after
 * --help or --version, 2 after a usage error (usage(stderr) printed).
 */
int daemon_args_parse(int argc, char **argv, const char *program,
    void (*usage)(FILE *out), struct daemon_args *args);

#endif
