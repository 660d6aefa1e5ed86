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
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <ev.h>

#include "config.h"
#include "daemon_args.h"
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
	struct herald_config cfg;
	struct buf err = BUF_INIT;
	struct daemon_args args;
	struct ev_loop *loop;
	ev_signal term, interrupt;
	struct web *web;
	int status;

	log_open("herald-web", LOG_TO_STDERR);
	status = daemon_args_parse(argc, argv, "herald-web", herald_web_usage,
	    &args);
	if (status != -1)
		return status;
	status = 1;
	config_defaults(&cfg);
	if (config_locate_and_load(&cfg, args.config_path, &err)) {
		msg_error("%s", buf_str(&err));
		goto out;
	}
	if (!args.foreground)
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
