/*
 * daemon_args.c - the command line heraldd and herald-web share (see
 * daemon_args.h).
 */
#include "daemon_args.h"

#include <getopt.h>

#include "log.h"

int
daemon_args_parse(int argc, char **argv, const char *program,
    void (*usage)(FILE *out), struct daemon_args *args)
{
	static const struct option options[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	args->config_path = NULL;
	args->foreground = 0;
	while ((opt = getopt_long(argc, argv, "fc:vh", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			args->foreground = 1;
			break;
		case 'c':
			args->config_path = optarg;
			break;
		case 'v':
			log_set_verbose(1);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", program, PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		msg_error("unexpected argument \"%s\"", argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}
