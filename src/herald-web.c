/*
 * herald-web.c - the web endpoint: one-click (RFC 8058) and page
 * unsubscribes and click redirects over HTTP, behind the site's nginx.
 *
 * SYNOPSIS
 *	herald-web [-f] [--config FILE] [--verbose]
 *
 * DESCRIPTION
 *	Reads the configuration (same lookup as herald), connects to the
 *	database, loads the unsubscribe token keys and serves web.h's
 *	routes on web_listen until TERM or INT. It stays in the
 *	foreground (run it under systemd or another supervisor).
 *
 *	A program of its own, not a child of heraldd: it faces the
 *	internet, so it holds nothing a sender needs (no relay, no
 *	scoreboard, no worker's memory), runs under its own user and
 *	database account, and its restarts and crashes never touch
 *	sending. heraldd needs no web code, and a node can send without
 *	serving or serve without sending.
 *
 * DIAGNOSTICS
 *	syslog facility mail; standard error with -f. Exit status 0 after
 *	TERM or INT, 1 when it cannot start, 2 on a usage error.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <ev.h>

#include "config.h"
#include "log.h"
#include "web.h"

static void
herald_web_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald-web [-f] [--config FILE] [--verbose]\n"
	    "\n"
	    "herald's web endpoint: one-click unsubscribes (RFC 8058,\n"
	    "POST /u/TOKEN with List-Unsubscribe=One-Click) and a\n"
	    "confirmation page (GET /u/TOKEN) whose button unsubscribes;\n"
	    "tracked links (GET /c/TOKEN: 302 to the link, the click\n"
	    "counted; TERM writes every queued click before exiting).\n"
	    "Listens on web_listen (default 127.0.0.1:8025) behind nginx,\n"
	    "which terminates TLS.\n"
	    "Stays in the foreground; TERM or INT stop it.\n"
	    "\n"
	    "  -f, --foreground  log to standard error instead of syslog\n"
	    "  -c, --config FILE configuration (default: $HERALD_CONFIG, then\n"
	    "                    %s/herald.conf, then built-in defaults)\n"
	    "  -v, --verbose     log debugging messages (refused tokens)\n"
	    "  -h, --help        this help\n"
	    "\n"
	    "See herald-web(8).\n", HERALD_SYSCONFDIR);
}

static void
herald_web_stop(struct ev_loop *loop, ev_signal *signal, int events)
{
	(void)events;
	msg_info("stopping on signal %d", signal->signum);
	ev_break(loop, EVBREAK_ALL);
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct herald_config cfg;
	struct buf err = BUF_INIT;
	const char *config_path = NULL;
	struct ev_loop *loop;
	ev_signal term, interrupt;
	struct web *web;
	int foreground = 0, opt, status = 1;

	log_open("herald-web", LOG_TO_STDERR);
	while ((opt = getopt_long(argc, argv, "fc:vh", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			foreground = 1;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'v':
			log_set_verbose(1);
			break;
		case 'h':
			herald_web_usage(stdout);
			return 0;
		case 'V':
			printf("herald-web %s\n", PACKAGE_VERSION);
			return 0;
		default:
			herald_web_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		msg_error("unexpected argument \"%s\"", argv[optind]);
		herald_web_usage(stderr);
		return 2;
	}
	config_defaults(&cfg);
	if (config_locate_and_load(&cfg, config_path, &err)) {
		msg_error("%s", buf_str(&err));
		goto out;
	}
	if (!foreground)
		log_open("herald-web", LOG_TO_SYSLOG);
	/* A client that goes away mid-answer must not kill the service. */
	signal(SIGPIPE, SIG_IGN);
	loop = ev_default_loop(0);
	web = web_start(&cfg, loop, &err);
	if (web == NULL) {
		msg_error("%s", buf_str(&err));
		goto out;
	}
	ev_signal_init(&term, herald_web_stop, SIGTERM);
	ev_signal_start(loop, &term);
	ev_signal_init(&interrupt, herald_web_stop, SIGINT);
	ev_signal_start(loop, &interrupt);
	msg_info("listening on %s", cfg.web_listen);
	ev_run(loop, 0);
	web_stop(web);
	status = 0;
out:
	buf_free(&err);
	config_free(&cfg);
	return status;
}
