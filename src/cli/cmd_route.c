/*
 * cmd_route.c - "herald route show [--json] | hold DOMAIN | release
 * DOMAIN": where each destination's mail goes, and the operator's word
 * over reputation routing (reputation.h).
 *
 * show reads the running heraldd's scoreboard, as herald status does
 * (which prints the same DESTINATIONS section). hold and release are
 * requests to heraldd's monitor, written to STATE/heraldd.route-holds
 * (replaced atomically); the monitor applies them at its next reading
 * of Postfix's queue. A held domain gets nothing until released; a
 * release also ends a move or hold herald made itself.
 */
#include "cli.h"
#include "encode.h"
#include "log.h"
#include "monitor.h"
#include "reputation_watch.h"
#include "scoreboard.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void
route_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald route show [--json]\n"
	    "       herald route hold DOMAIN\n"
	    "       herald route release DOMAIN\n"
	    "\n"
	    "show: each destination domain heraldd has sent to, the route its\n"
	    "mail takes (0: its own, N: its Nth route_alternate), the decision\n"
	    "(normal, moved, held, operator hold) and its figures over\n"
	    "reputation_window. hold: send DOMAIN nothing until released.\n"
	    "release: end a hold, or a move or hold herald made for DOMAIN's\n"
	    "reputation; it goes back to its own route.\n");
}

static const char *
route_decision_text(const struct reputation_domain *d)
{
	if (atomic_load(&d->operator_hold))
		return "operator hold";
	return reputation_decision_name((enum reputation_decision)
	    atomic_load(&d->decision));
}

static void
route_print_json_text(const char *s)
{
	struct buf b = BUF_INIT;

	encode_json_string(&b, s, strlen(s));
	fputs(buf_str(&b), stdout);
	buf_free(&b);
}

/* One CSV row of the destinations section: the domain, a measure (its
 * route's number first when route >= 0) and its value. */
static void
route_print_csv(const char *domain, int route, const char *measure,
    const char *value)
{
	printf("destinations,");
	report_csv_field(domain);
	if (route >= 0)
		printf(",route_%d_%s,", route, measure);
	else
		printf(",%s,", measure);
	report_csv_field(value);
	putchar('\n');
}

static void
route_print_csv_count(const char *domain, int route, const char *measure,
    long long value)
{
	char text[32];

	snprintf(text, sizeof(text), "%lld", value);
	route_print_csv(domain, route, measure, text);
}

/* A route's deferrals or failures by class: JSON members, CSV rows
 * (kind_class) or text; returns how many classes had any. */
static unsigned
route_print_classes(const char *domain, unsigned route, const char *kind,
    const _Atomic uint64_t *counts, enum route_format format)
{
	unsigned k = 0;

	for (unsigned c = 0; c < BOUNCE_REASON_COUNT; c++) {
		uint64_t n = atomic_load(&counts[c]);
		char measure[64];

		if (n == 0)
			continue;
		if (format == ROUTE_CSV) {
			snprintf(measure, sizeof(measure), "%s_%s", kind,
			    bounce_reason_name(c));
			route_print_csv_count(domain, (int)route, measure,
			    (long long)n);
		} else {
			printf(format == ROUTE_JSON ? "%s\"%s\": %llu" :
			    "%s %s %llu", k ? (format == ROUTE_JSON ? ", " :
			    ",") : "", bounce_reason_name(c),
			    (unsigned long long)n);
		}
		k++;
	}
	return k;
}

void
route_print_destinations(const struct herald_config *cfg,
    const struct scoreboard *board, enum route_format format)
{
	int json = format == ROUTE_JSON;
	const struct reputation_table *t = &board->reputation;
	int64_t now = scoreboard_now_ms();
	unsigned shown = 0;

	if (json)
		printf("[");
	else if (format == ROUTE_TEXT)
		printf("DESTINATIONS (over the last %ld s)\n",
		    cfg->reputation_window);
	for (unsigned i = 0; i < REPUTATION_DOMAINS; i++) {
		const struct reputation_domain *d = &t->domains[i];
		unsigned route = atomic_load(&d->route);
		unsigned count = atomic_load(&d->route_count);
		int64_t decided = atomic_load(&d->decided_ms);
		int64_t due = atomic_load(&d->probe_due_ms);
		char name[300];

		if (atomic_load(&d->state) != 2)
			continue;
		reputation_route_name(cfg, d->domain, route, name,
		    sizeof(name));
		if (json) {
			printf("%s{\"domain\": ", shown ? ", " : "");
			route_print_json_text(d->domain);
			printf(", \"decision\": ");
			route_print_json_text(route_decision_text(d));
			printf(", \"route\": %u, \"relay\": ", route);
			route_print_json_text(name);
			printf(", \"decided_seconds_ago\": %lld, "
			    "\"held_per_hour\": %llu, \"routes\": [",
			    decided ? (long long)((now - decided) / 1000) : -1,
			    (unsigned long long)atomic_load(&d->held_per_hour));
		} else if (format == ROUTE_CSV) {
			route_print_csv(d->domain, -1, "decision",
			    route_decision_text(d));
			route_print_csv_count(d->domain, -1, "route", route);
			route_print_csv(d->domain, -1, "relay", name);
			route_print_csv_count(d->domain, -1,
			    "decided_seconds_ago", decided ? (now - decided) /
			    1000 : -1);
			route_print_csv_count(d->domain, -1, "held_per_hour",
			    (long long)atomic_load(&d->held_per_hour));
		} else {
			printf("  %s  route %u (%s)  %s", d->domain, route,
			    name, route_decision_text(d));
			if (decided)
				printf(" since %lld s", (long long)((now -
				    decided) / 1000));
			if (atomic_load(&d->decision) == REPUTATION_HELD)
				printf(", at %llu/h", (unsigned long long)
				    atomic_load(&d->held_per_hour));
			if (atomic_load(&d->decision) != REPUTATION_NORMAL)
				printf(due > now ? ", probe in %lld s" :
				    ", probing", (long long)((due - now) /
				    1000));
			printf("\n");
		}
		for (unsigned r = 0; r < count && r < REPUTATION_ROUTES; r++) {
			const struct reputation_route *f = &d->routes[r];
			uint64_t wr = atomic_load(&f->window_relayed);
			uint64_t wb = atomic_load(&f->window_blocked);
			unsigned k;

			reputation_route_name(cfg, d->domain, r, name,
			    sizeof(name));
			if (json) {
				printf("%s{\"route\": %u, \"relay\": ",
				    r ? ", " : "", r);
				route_print_json_text(name);
				printf(", \"relayed\": %llu, \"blocked\": %llu,"
				    " \"window_relayed\": %llu, "
				    "\"window_blocked\": %llu, \"deferred\": {",
				    (unsigned long long)atomic_load(
				    &f->relayed), (unsigned long long)
				    atomic_load(&f->blocked),
				    (unsigned long long)wr,
				    (unsigned long long)wb);
			} else if (format == ROUTE_CSV) {
				route_print_csv(d->domain, (int)r, "relay",
				    name);
				route_print_csv_count(d->domain, (int)r,
				    "relayed", (long long)atomic_load(
				    &f->relayed));
				route_print_csv_count(d->domain, (int)r,
				    "blocked", (long long)atomic_load(
				    &f->blocked));
				route_print_csv_count(d->domain, (int)r,
				    "window_relayed", (long long)wr);
				route_print_csv_count(d->domain, (int)r,
				    "window_blocked", (long long)wb);
			} else {
				printf("    route %u %s: %llu relayed, %llu "
				    "blocked (%.0f%%) in the window; deferred:",
				    r, name, (unsigned long long)wr,
				    (unsigned long long)wb, wr ? 100.0 *
				    (double)wb / (double)wr : 0.0);
			}
			k = route_print_classes(d->domain, r, "deferred",
			    f->deferred, format);
			if (json)
				printf("}, \"failed\": {");
			else if (format == ROUTE_TEXT)
				printf("%s; failed:", k ? "" : " none");
			k = route_print_classes(d->domain, r, "failed",
			    f->failed, format);
			if (format != ROUTE_CSV)
				printf(json ? "}}" : "%s\n", k ? "" : " none");
		}
		if (json)
			printf("]}");
		shown++;
	}
	if (json)
		printf("]");
	else if (format == ROUTE_TEXT && shown == 0)
		printf("  none yet\n");
}

int
route_print_running(const struct herald_config *cfg,
    enum route_format format, const char *before, struct buf *err)
{
	char *path = scoreboard_path(cfg->state_directory);
	const struct scoreboard *board = scoreboard_open_readonly(path, err);

	free(path);
	if (board == NULL)
		return -1;
	if (atomic_load(&board->master_pid) <= 0 ||
	    kill(atomic_load(&board->master_pid), 0) != 0) {
		buf_printf(err, "heraldd is not running");
		scoreboard_unmap(board);
		return -1;
	}
	fputs(before, stdout);
	route_print_destinations(cfg, board, format);
	scoreboard_unmap(board);
	return 0;
}

/* Reads STATE/heraldd.route-holds' hold lines into holds (one domain a
 * line, NUL-separated), dropping domain when drop is set. */
static int
route_read_holds(const char *path, const char *drop, struct buf *holds,
    struct buf *err)
{
	char line[300];
	FILE *in = fopen(path, "r");

	if (in == NULL) {
		if (errno == ENOENT)
			return 0;
		buf_printf(err, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "hold ", 5) != 0 || (drop &&
		    strcasecmp(line + 5, drop) == 0))
			continue;
		buf_printf(holds, "%s\n", line);
	}
	fclose(in);
	return 0;
}

/* A domain name as an operator types it: letters, digits, dots and
 * hyphens, no more than 127 characters. */
static int
route_domain_valid(const char *domain)
{
	size_t n = strlen(domain);

	return n > 0 && n < 128 && strspn(domain, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == n;
}

static int
route_request(const struct herald_config *cfg, const char *verb,
    const char *domain)
{
	struct buf path = BUF_INIT, fresh = BUF_INIT, holds = BUF_INIT,
	    err = BUF_INIT;
	int rc = CLI_FAILED, hold = strcmp(verb, "hold") == 0;
	FILE *out;

	buf_printf(&path, "%s/heraldd.route-holds", cfg->state_directory);
	buf_printf(&fresh, "%s.new", buf_str(&path));
	if (route_read_holds(buf_str(&path), domain, &holds, &err) != 0) {
		msg_error("route %s: %s", verb, buf_str(&err));
		goto out;
	}
	/* The release line is the latest request only: the monitor acts
	 * on it once, when the file changes. */
	buf_printf(&holds, "%s %s\n", hold ? "hold" : "release", domain);
	out = fopen(buf_str(&fresh), "w");
	if (out == NULL || fputs(buf_str(&holds), out) == EOF ||
	    fclose(out) != 0 || rename(buf_str(&fresh),
	    buf_str(&path)) != 0) {
		msg_error("route %s: cannot write %s: %s", verb,
		    buf_str(&path), strerror(errno));
		unlink(buf_str(&fresh));
		goto out;
	}
	printf("%s: %s; heraldd applies it within %d s\n", domain, hold ?
	    "held (nothing is sent to it until herald route release)" :
	    "released (back on its own route)", 2 * MONITOR_POSTFIX_POLL);
	rc = CLI_OK;
out:
	buf_free(&path);
	buf_free(&fresh);
	buf_free(&holds);
	buf_free(&err);
	return rc;
}

int
cmd_route(struct cli *cli, int argc, char **argv)
{
	const struct herald_config *cfg;
	struct buf err = BUF_INIT;
	int json = 0;

	if (cli_wants_help(argc, argv)) {
		route_usage(stdout);
		return CLI_OK;
	}
	if (argc < 2 || (strcmp(argv[1], "show") && strcmp(argv[1], "hold") &&
	    strcmp(argv[1], "release")))
		return cli_unknown_verb(route_usage, "route", argc < 2 ? NULL :
		    argv[1], "show, hold or release");
	if (strcmp(argv[1], "show") != 0) {
		if (argc < 3)
			return cli_usage_error(route_usage, "route %s: name a "
			    "DOMAIN", argv[1]);
		if (argc > 3)
			return cli_unexpected(route_usage, "route", argv[3]);
		if (!route_domain_valid(argv[2]))
			return cli_usage_error(route_usage, "route %s: \"%s\" "
			    "is not a domain name (letters, digits, dots, "
			    "hyphens)", argv[1], argv[2]);
		cfg = cli_config(cli);
		return cfg ? route_request(cfg, argv[1], argv[2]) : CLI_FAILED;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else
			return cli_unexpected(route_usage, "route", argv[i]);
	}
	cfg = cli_config(cli);
	if (cfg == NULL)
		return CLI_FAILED;
	if (route_print_running(cfg, json ? ROUTE_JSON : ROUTE_TEXT, "",
	    &err) != 0) {
		msg_error("route show: %s", buf_str(&err));
		buf_free(&err);
		return CLI_FAILED;
	}
	if (json)
		printf("\n");
	buf_free(&err);
	return CLI_OK;
}
