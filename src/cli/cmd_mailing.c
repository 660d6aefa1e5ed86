/*
 * cmd_mailing.c - "herald mailing create|list|show|pause|resume|cancel".
 *
 * create checks everything a worker will need before the mailing exists:
 * the template directory compiles, the segment compiles (unknown fields
 * and syntax errors point at their column), the From address is valid,
 * the send time parses. pause, resume and cancel ask mailing.h, which
 * holds the states and their legal moves: any other change is refused,
 * naming the state the mailing is in, and changes nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "address.h"
#include "batch.h"
#include "cli.h"
#include "config.h"
#include "date.h"
#include "db.h"
#include "delivery.h"
#include "history.h"
#include "log.h"
#include "mailing.h"
#include "mailing_check.h"
#include "namecheck.h"
#include "pull.h"
#include "segment.h"
#include "sendwindow.h"
#include "testphase.h"
#include "tmplset.h"
#include "tracking.h"
#include "variant.h"
#include "zone.h"

static void
cmd_mailing_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald mailing create --name NAME --template DIR\n"
	    "           --segment EXPR|NAME --from ADDRESS [--subject TEXT]\n"
	    "           [--reply-to ADDRESS] [--send-at TIME] [--rate N/h]\n"
	    "           [--priority N] [--expected-value AMOUNT]\n"
	    "           [--no-track-clicks] [--utm utm_NAME=VALUE&...]\n"
	    "           [--window HH:MM-HH:MM [--days DAYS] [--time-zone ZONE]]\n"
	    "           [--test-share PCT --test-wait N{s|m|h}\n"
	    "            --winner clicks|conversions|revenue]\n"
	    "       herald mailing list\n"
	    "       herald mailing show ID\n"
	    "       herald mailing variant add|list|remove ID ...\n"
	    "       herald mailing pause|resume|cancel ID\n"
	    "       herald mailing resume --force ID\n"
	    "\n"
	    "create validates the template directory, the segment and the\n"
	    "addresses, then queues the mailing; \"herald stage\" stages it at\n"
	    "its send time. The subject is DIR/subject.mustache or --subject,\n"
	    "never both. TIME is \"now\" (the default) or \"YYYY-MM-DD\n"
	    "HH:MM[:SS]\" followed by an optional zone: UTC, Z, +HH:MM or a\n"
	    "zone name such as Europe/Paris (default: the local zone); a\n"
	    "time that does not exist is refused, naming the field, and a\n"
	    "past one is staged at once, with a warning. Template names that\n"
	    "nothing fills, received(ID) of no mailing and list = NAME of no\n"
	    "list are warned about (see herald template check).\n"
	    "--window sends to each recipient only within those hours of\n"
	    "their own local time (their time_zone, else their list's\n"
	    "default, else --time-zone, else UTC; zoneinfo makes it right\n"
	    "across clock changes), spread evenly over the window, on DAYS\n"
	    "(mon-fri, sat,sun, ...; default all). A window that has closed\n"
	    "for today when the mailing is staged moves to the next allowed\n"
	    "day; one open already sends over what is left of it. An end\n"
	    "before the start runs past midnight (22:00-02:00).\n"
	    "pause stops new batches (messages in flight finish); resume\n"
	    "undoes it; cancel marks every message not yet sent cancelled.\n"
	    "--expected-value is the revenue the mailing should bring in\n"
	    "per 1,000 messages delivered (conversions attributed to it,\n"
	    "summed as recorded). Once it has its sample (pull_min_delivered\n"
	    "delivered, pull_min_age since the first), heraldd projects its\n"
	    "revenue every pull_check_interval and pulls it when the\n"
	    "projection is below pull_threshold of that value; show gives\n"
	    "the figures. resume refuses a mailing so pulled: resume --force\n"
	    "sends the rest anyway and stops checking its value.\n"
	    "A mailing whose messages cannot be built (a template broken\n"
	    "mid-send) is blocked: show gives the reason; once fixed, the\n"
	    "workers send it again on their own.\n"
	    "With track_domain set, the links of the text and HTML parts\n"
	    "are tracked (https://track_domain/c/TOKEN redirects and counts\n"
	    "each click) unless --no-track-clicks, or {{! notrack }} before\n"
	    "a link; --utm adds its parameters to every tracked link's URL.\n"
	    "--test-share (such as 20%%) with --test-wait and --winner gives\n"
	    "the mailing a test phase: its variants (herald mailing variant\n"
	    "add; their shares are then shares of the test cell, A the rest)\n"
	    "go to that share of the recipients first; the others are held.\n"
	    "heraldd chooses the variant with the best rate (clickers,\n"
	    "converters or revenue per message delivered) once the wait has\n"
	    "passed since the test cell was sent, or earlier when its lead is\n"
	    "significant (z >= 3.29 over every other variant, 1,000 delivered\n"
	    "to each), and sends it to the held recipients. show and herald\n"
	    "report give the state, the winner and its figures. Not with\n"
	    "--window.\n");
}

/* --- create ------------------------------------------------------------ */

struct create_args {
	const char *name, *template_dir, *segment, *from, *subject;
	const char *reply_to, *send_at, *rate, *priority, *expected_value;
	const char *utm;
	int no_track_clicks;
	const char *window, *days, *time_zone;
	const char *test_share, *test_wait, *winner;
};

/*
 * Checks --test-share, --test-wait and --winner into the values stored:
 * basis points, seconds, the metric's name.
 */
static int
test_phase_options(const struct create_args *a, char values[3][24],
    struct buf *err)
{
	struct buf why = BUF_INIT;
	enum winner_metric metric;
	unsigned share;
	unsigned long wait;
	int status = -1;

	if (variant_share_parse(a->test_share, &share, &why) != 0)
		buf_printf(err, "--test-share %s", buf_str(&why));
	else if (test_phase_wait_parse(a->test_wait, &wait, &why) != 0)
		buf_printf(err, "--test-wait %s", buf_str(&why));
	else if (winner_metric_parse(a->winner, &metric) != 0)
		buf_printf(err, "--winner \"%s\": expected clicks, conversions "
		    "or revenue", a->winner);
	else {
		snprintf(values[0], 24, "%u", share);
		snprintf(values[1], 24, "%lu", wait);
		snprintf(values[2], 24, "%s", winner_metric_name(metric));
		status = 0;
	}
	buf_free(&why);
	return status;
}

static int
mailing_create(struct cli *cli, int argc, char **argv)
{
	struct create_args a = { .send_at = "now", .priority = "0" };
	struct herald_config *cfg;
	struct buf err = BUF_INIT, expression = BUF_INIT, why = BUF_INIT,
	    subject = BUF_INIT, expression_prefix = BUF_INIT;
	struct segment_sql seg;
	struct tmplset *set = NULL;
	char send_at[32], rate[24] = "", today[16], id[24];
	char window_start[8], window_end[8], window_days[8];
	struct send_window window;
	const char *params[20];
	char test_values[3][24];
	MYSQL *db = NULL;
	time_t now = time(NULL), send_time;
	struct tm tm;
	int status = CLI_FAILED;

	for (int i = 2; i < argc; i++) {
		const char **slot = NULL;

		if (!strcmp(argv[i], "--no-track-clicks")) {
			a.no_track_clicks = 1;
			continue;
		}
		if (!strcmp(argv[i], "--name"))
			slot = &a.name;
		else if (!strcmp(argv[i], "--template"))
			slot = &a.template_dir;
		else if (!strcmp(argv[i], "--segment"))
			slot = &a.segment;
		else if (!strcmp(argv[i], "--from"))
			slot = &a.from;
		else if (!strcmp(argv[i], "--subject"))
			slot = &a.subject;
		else if (!strcmp(argv[i], "--reply-to"))
			slot = &a.reply_to;
		else if (!strcmp(argv[i], "--send-at"))
			slot = &a.send_at;
		else if (!strcmp(argv[i], "--rate"))
			slot = &a.rate;
		else if (!strcmp(argv[i], "--priority"))
			slot = &a.priority;
		else if (!strcmp(argv[i], "--expected-value"))
			slot = &a.expected_value;
		else if (!strcmp(argv[i], "--utm"))
			slot = &a.utm;
		else if (!strcmp(argv[i], "--window"))
			slot = &a.window;
		else if (!strcmp(argv[i], "--days"))
			slot = &a.days;
		else if (!strcmp(argv[i], "--time-zone"))
			slot = &a.time_zone;
		else if (!strcmp(argv[i], "--test-share"))
			slot = &a.test_share;
		else if (!strcmp(argv[i], "--test-wait"))
			slot = &a.test_wait;
		else if (!strcmp(argv[i], "--winner"))
			slot = &a.winner;
		if (slot == NULL)
			return cli_unexpected(cmd_mailing_usage,
			    "mailing create", argv[i]);
		if (i + 1 == argc)
			return cli_missing_value(cmd_mailing_usage,
			    "mailing create", argv[i], NULL);
		*slot = argv[++i];
	}
	if (!a.name || !a.template_dir || !a.segment || !a.from)
		return cli_usage_error(cmd_mailing_usage, "mailing create:"
		    "%s%s%s%s missing (--name, --template, --segment and --from "
		    "are required, and --subject unless the template directory "
		    "has subject.mustache)", a.name ? "" : " --name",
		    a.template_dir ? "" : " --template", a.segment ? "" :
		    " --segment", a.from ? "" : " --from");
	if ((a.days || a.time_zone) && !a.window)
		return cli_usage_error(cmd_mailing_usage, "mailing create: "
		    "%s belongs to a send window: give --window HH:MM-HH:MM "
		    "too", a.days ? "--days" : "--time-zone");
	if ((a.test_share || a.test_wait || a.winner) && !(a.test_share &&
	    a.test_wait && a.winner))
		return cli_usage_error(cmd_mailing_usage, "mailing create: "
		    "a test phase needs --test-share, --test-wait and --winner "
		    "together (%s missing)", !a.test_share ? "--test-share" :
		    !a.test_wait ? "--test-wait" : "--winner");
	if (a.test_share && a.window)
		return cli_usage_error(cmd_mailing_usage, "mailing create: "
		    "--test-share and --window together are not supported: "
		    "choose one");
	segment_sql_init(&seg);
	if (a.test_share && test_phase_options(&a, test_values, &err) != 0)
		goto done;
	if (a.window && send_window_parse(a.window, &window, &why) != 0) {
		buf_printf(&err, "--window %s", buf_str(&why));
		goto done;
	}
	if (a.days && send_window_parse_days(a.days, &window.days, &why) !=
	    0) {
		buf_printf(&err, "--days %s", buf_str(&why));
		goto done;
	}
	if (a.time_zone && zone_check(a.time_zone, &why) != 0) {
		buf_printf(&err, "--time-zone: %s", buf_str(&why));
		goto done;
	}
	if (a.window) {
		snprintf(window_start, sizeof(window_start), "%d",
		    window.start);
		snprintf(window_end, sizeof(window_end), "%d", window.end);
		snprintf(window_days, sizeof(window_days), "%u", window.days);
	}
	if (date_parse_time(a.send_at, &send_time, &why) != 0) {
		buf_printf(&err, "--send-at %s", buf_str(&why));
		goto done;
	}
	date_format_utc(send_time, send_at);
	if (mailing_check_from(a.from, &err) != 0)
		goto done;
	if (a.reply_to && address_check(a.reply_to, strlen(a.reply_to), &why,
	    &why) != 0) {
		buf_printf(&err, "--reply-to \"%s\": %s", a.reply_to,
		    buf_str(&why));
		goto done;
	}
	if (a.rate) {
		long per_hour = config_parse_rate(a.rate);

		if (per_hour < 0) {
			buf_printf(&err, "--rate \"%s\": expected N/h, N/m or "
			    "N/s", a.rate);
			goto done;
		}
		snprintf(rate, sizeof(rate), "%ld", per_hour);
	}
	if (strspn(a.priority + (a.priority[0] == '-'), "0123456789") !=
	    strlen(a.priority + (a.priority[0] == '-')) || !a.priority[0]) {
		buf_printf(&err, "--priority \"%s\": expected an integer",
		    a.priority);
		goto done;
	}
	if (a.expected_value && (strspn(a.expected_value, "0123456789.") !=
	    strlen(a.expected_value) || !a.expected_value[0])) {
		buf_printf(&err, "--expected-value \"%s\": expected an amount "
		    "such as 1250.00", a.expected_value);
		goto done;
	}
	if (a.utm && tracking_check_utm(a.utm, &why) != 0) {
		buf_printf(&err, "--utm \"%s\": %s", a.utm, buf_str(&why));
		goto done;
	}
	set = mailing_check_templates(a.template_dir, a.subject,
	    a.subject != NULL, "mailing", &err);
	if (set == NULL)
		goto done;
	/* The mailing records the subject its messages carry. */
	buf_append_str(&subject, a.subject ? a.subject : set->subject_source);
	cfg = cli_config(cli);
	if (cfg == NULL)
		goto done;
	db = db_connect(cfg, DB_SELECT_DATABASE, &err);
	if (db == NULL)
		goto done;
	/* A segment name is resolved now: the mailing keeps the expression
	 * it was created with, whatever later happens to the name. Text
	 * that cannot be a name ("all") is always an expression. */
	params[0] = a.segment;
	if (segment_name_check(a.segment, &why) == 0 &&
	    db_query_strings(db, "SELECT expression FROM segments WHERE name "
	    "= ?", 1, params, db_first_value, &expression, &err) != 0)
		goto done;
	buf_reset(&why);
	if (expression.len == 0)
		buf_append_str(&expression, a.segment);
	gmtime_r(&now, &tm);
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	if (segment_compile(buf_str(&expression), today, &seg, &why) != 0) {
		buf_printf(&err, "--segment \"%s\": %s", buf_str(&expression),
		    buf_str(&why));
		goto done;
	}
	/* Names that refer to nothing are legal, but rarely meant. */
	namecheck_templates_report(db, NULL, set, "mailing create: ");
	buf_reset(&why);
	if (namecheck_segment(db, &seg, &why, &err) < 0)
		goto done;
	buf_reset(&expression_prefix);
	buf_printf(&expression_prefix, "mailing create: --segment \"%s\": ",
	    buf_str(&expression));
	namecheck_warn_each(buf_str(&expression_prefix), &why);
	params[0] = a.name;
	params[1] = a.template_dir;
	params[2] = buf_str(&subject);
	params[3] = a.from;
	params[4] = a.reply_to;
	params[5] = buf_str(&expression);
	params[6] = send_at;
	params[7] = a.priority;
	params[8] = a.rate ? rate : NULL;
	params[9] = a.expected_value;
	params[10] = mailing_state_name(MAILING_QUEUED);
	params[11] = a.no_track_clicks ? "0" : "1";
	params[12] = a.utm;
	params[13] = a.window ? window_start : NULL;
	params[14] = a.window ? window_end : NULL;
	params[15] = a.window ? window_days : "127";
	params[16] = a.window ? (a.time_zone ? a.time_zone : "UTC") : NULL;
	for (unsigned i = 0; i < 3; i++)
		params[17 + i] = a.test_share ? test_values[i] : NULL;
	if (db_execute(db, "INSERT INTO mailings (name, template_dir, subject, "
	    "from_address, reply_to, segment_expression, send_at, priority, "
	    "rate_limit_per_hour, expected_value, state, track_clicks, "
	    "utm_parameters, window_start, window_end, window_days, "
	    "time_zone, test_share_basis_points, test_wait_seconds, "
	    "test_metric) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "?, ?, ?, ?, ?)", 20, params, NULL, &err) != 0)
		goto done;
	snprintf(id, sizeof(id), "%llu", (unsigned long long)
	    mysql_insert_id(db));
	if (send_time < now)
		msg_warn("mailing create: --send-at \"%s\": %s UTC is in the "
		    "past: the mailing will be staged at once", a.send_at,
		    send_at);
	printf("mailing %s queued, to be staged at %s UTC\n", id, send_at);
	if (a.window)
		printf("mailing %s sends from %s in each recipient's local "
		    "time (default zone %s)\n", id, a.window, params[16]);
	if (a.test_share)
		printf("mailing %s tests its variants on %s of its recipients "
		    "first; the winner by %s goes to the rest %s after the test "
		    "cell is sent at the latest (add the variants: herald "
		    "mailing variant add %s)\n", id, a.test_share, a.winner,
		    a.test_wait, id);
	status = CLI_OK;
done:
	if (status != CLI_OK)
		msg_error("mailing create: %s", buf_str(&err));
	segment_sql_free(&seg);
	if (db)
		mysql_close(db);
	buf_free(&err);
	buf_free(&why);
	buf_free(&expression);
	buf_free(&subject);
	buf_free(&expression_prefix);
	tmplset_free(set);
	return status;
}

/* --- list and show ------------------------------------------------------ */

static int
print_list_row(void *arg, unsigned ncolumns, char **col)
{
	(void)arg;
	(void)ncolumns;
	printf("%6s  %-9s  %-19s  %9s %9s %7s %7s  %s\n", col[0], col[1],
	    col[2], col[3], col[4], col[5], col[6], col[7]);
	return 0;
}

static int
print_show_row(void *arg, unsigned ncolumns, char **col)
{
	static const char *const labels[] = { "id", "name", "state",
	    "template", "subject", "from", "reply-to", "segment", "send at",
	    "priority", "rate limit/h", "expected value", "stage table",
	    "staged", "sent", "deferred", "failed", "bounced", "complained",
	    "suppressed", "cancelled", "created", "staged at", "finished at",
	    "blocked since", "blocked by", "pulled since", "pulled by" };
	/* The blocked (pulled) lines only while the mailing is blocked
	 * (pulled by the brake). */
	const unsigned blocked_since = 24, window = 28;
	int *found = arg;

	*found = 1;
	for (unsigned i = 0; i < ncolumns && i < sizeof(labels) /
	    sizeof(labels[0]); i++) {
		if (i >= blocked_since && col[i] == NULL)
			continue;
		printf("%-15s %s\n", labels[i], col[i] ? col[i] : "-");
	}
	/* The window line only for a mailing that has one. */
	if (ncolumns == window + 3 && col[window]) {
		struct buf days = BUF_INIT;

		send_window_format_days((unsigned)strtoul(col[window + 1],
		    NULL, 10), &days);
		printf("%-15s %s, days %s, recipients' local time (default "
		    "zone %s)\n", "send window", col[window], buf_str(&days),
		    col[window + 2] ? col[window + 2] : "UTC");
		buf_free(&days);
	}
	return 0;
}

/* "variants  A 60%, B 10% (own subject), ...", when there are any. */
static int
print_show_variants(MYSQL *db, const char *id, struct buf *err)
{
	struct variant_list list;
	struct buf line = BUF_INIT;

	if (variant_list_read(db, strtoull(id, NULL, 10), &list, err) != 0)
		return -1;
	if (list.count > 0) {
		buf_append_str(&line, VARIANT_OWN_NAME " ");
		variant_share_format(VARIANT_SHARE_WHOLE - list.share_total,
		    &line);
		for (unsigned i = 0; i < list.count; i++) {
			const struct variant_row *v = &list.rows[i];
			const char *own[3];
			unsigned n = 0;

			if (v->subject)
				own[n++] = "subject";
			if (v->template_dir)
				own[n++] = "template";
			if (v->from)
				own[n++] = "from";
			buf_printf(&line, ", %s ", v->name);
			variant_share_format(v->share, &line);
			buf_append_str(&line, n ? " (own " : " (the mailing's "
			    "content");
			for (unsigned j = 0; j < n; j++)
				buf_printf(&line, "%s%s", j ? ", " : "", own[j]);
			buf_append_char(&line, ')');
		}
		printf("%-15s %s\n", "variants", buf_str(&line));
	}
	buf_free(&line);
	variant_list_free(&list);
	return 0;
}

static int
print_show_value_row(void *arg, unsigned ncolumns, char **col)
{
	(void)arg;
	if (ncolumns != 3 || col[0] == NULL)
		return 1;
	printf("%-15s %s\n", "value check", !strcmp(col[0], "watched") ?
	    "watched by heraldd (pull_threshold of the expected value)" :
	    !strcmp(col[0], "pulled") ? "pulled the mailing (herald mailing "
	    "resume --force sends the rest)" : "exempt (resumed with "
	    "--force)");
	if (col[1])
		printf("%-15s %s UTC: %s\n", "value checked", col[2], col[1]);
	return 1;
}

/* The value check (pull.h), for a mailing with an expected value. */
static int
print_show_value(MYSQL *db, const char *id, struct buf *err)
{
	return db_query_strings(db, "SELECT pull_check, pull_figures, "
	    "pull_checked_at FROM mailings WHERE id = ? AND expected_value "
	    "IS NOT NULL", 1, (const char *[]){ id }, print_show_value_row,
	    NULL, err);
}

static MYSQL *
mailing_db(struct cli *cli, struct buf *err)
{
	struct herald_config *cfg = cli_config(cli);

	if (cfg == NULL) {
		buf_printf(err, "no usable configuration");
		return NULL;
	}
	return db_connect(cfg, DB_SELECT_DATABASE | DB_FOUND_ROWS, err);
}

/* --- state changes -------------------------------------------------------- */

/*
 * Pauses, resumes or cancels mailing id (mailing.h refuses what its
 * state does not allow; pull.h a resume of a mailing its value check
 * pulled, unless force). A cancel also marks every row not yet sent
 * cancelled and closes the batches no worker holds.
 */
static int
mailing_change(MYSQL *db, const char *verb, const char *id, int force,
    struct buf *err)
{
	struct buf sql = BUF_INIT;
	const char *params[1] = { id };
	char table[65];
	enum mailing_request request = !strcmp(verb, "pause") ? MAILING_PAUSE :
	    !strcmp(verb, "resume") ? MAILING_RESUME : MAILING_CANCEL;
	unsigned long long affected = 0;
	int status;

	status = request == MAILING_RESUME ? pull_resume(db, strtoull(id,
	    NULL, 10), force, table, err) : mailing_request(db, strtoull(id,
	    NULL, 10), request, table, err);
	if (!status && request == MAILING_CANCEL && table[0] &&
	    history_is_stage_table(table)) {
		buf_printf(&sql, "UPDATE `%s` SET delivery_state = "
		    "'cancelled' WHERE mailing_id = ? AND "
		    "delivery_state IN ('pending', 'deferred')", table);
		status = db_execute(db, buf_str(&sql), 1, params,
		    &affected, err);
		/* Counted from the rows: a worker may turn some it had in
		 * flight into sent meanwhile (delivery.h). */
		if (!status)
			status = delivery_count_cancelled(db, table,
			    strtoull(id, NULL, 10), err);
		if (!status)
			status = batch_close_unclaimed(db, strtoull(id, NULL,
			    10), err);
	}
	buf_free(&sql);
	return status;
}

/* "resume --force": takes --force out of argv; returns the new argc. */
static int
mailing_take_force(int argc, char **argv, int *force)
{
	int kept = 0;

	*force = 0;
	for (int i = 0; i < argc; i++) {
		if (i >= 2 && strcmp(argv[i], "--force") == 0)
			*force = 1;
		else
			argv[kept++] = argv[i];
	}
	return kept;
}

/*
 * For list, show, pause, resume and cancel: CLI_USAGE after naming what
 * is wrong with the command line, else 0.
 */
static int
mailing_arguments(int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";
	char command[32];

	if (strcmp(verb, "list") && strcmp(verb, "show") &&
	    strcmp(verb, "pause") && strcmp(verb, "resume") &&
	    strcmp(verb, "cancel"))
		return cli_unknown_verb(cmd_mailing_usage, "mailing", verb,
		    "create, list, show, variant, pause, resume or cancel");
	snprintf(command, sizeof(command), "mailing %s", verb);
	if (!strcmp(verb, "list"))
		return argc > 2 ? cli_unexpected(cmd_mailing_usage, command,
		    argv[2]) : 0;
	if (argc < 3)
		return cli_usage_error(cmd_mailing_usage, "%s: name the "
		    "mailing by its id (herald mailing list)", command);
	if (!cli_is_id(argv[2]))
		return cli_bad_id(cmd_mailing_usage, command, "mailing",
		    argv[2]);
	if (argc > 3)
		return cli_unexpected(cmd_mailing_usage, command, argv[3]);
	return 0;
}

int
cmd_mailing(struct cli *cli, int argc, char **argv)
{
	struct buf err = BUF_INIT;
	MYSQL *db;
	const char *verb = argc > 1 ? argv[1] : "";
	int status = CLI_OK, force = 0;

	if (strcmp(verb, "variant") == 0)
		return cmd_mailing_variant(cli, argc - 1, argv + 1);
	if (cli_wants_help(argc, argv)) {
		cmd_mailing_usage(stdout);
		return CLI_OK;
	}
	if (strcmp(verb, "create") == 0)
		return mailing_create(cli, argc, argv);
	if (strcmp(verb, "resume") == 0)
		argc = mailing_take_force(argc, argv, &force);
	if ((status = mailing_arguments(argc, argv)) != 0)
		return status;
	db = mailing_db(cli, &err);
	if (db == NULL) {
		msg_error("mailing %s: %s", verb, buf_str(&err));
		buf_free(&err);
		return CLI_FAILED;
	}
	if (strcmp(verb, "list") == 0) {
		printf("%6s  %-9s  %-19s  %9s %9s %7s %7s  %s\n", "ID", "STATE",
		    "SEND AT (UTC)", "STAGED", "SENT", "DEFER", "FAILED",
		    "NAME");
		if (db_query_strings(db, "SELECT id, state, send_at, "
		    "staged_count, sent_count, deferred_count, failed_count, "
		    "name FROM mailings ORDER BY id", 0, NULL, print_list_row,
		    NULL, &err) != 0)
			status = CLI_FAILED;
	} else if (strcmp(verb, "show") == 0) {
		const char *params[1] = { argv[2] };
		int found = 0;

		if (db_query_strings(db, "SELECT id, name, state, template_dir, "
		    "subject, from_address, reply_to, segment_expression, "
		    "send_at, priority, rate_limit_per_hour, expected_value, "
		    "stage_table, staged_count, sent_count, deferred_count, "
		    "failed_count, bounced_count, complained_count, "
		    "suppressed_count, cancelled_count, created_at, staged_at, "
		    "finished_at, blocked_at, blocked_reason, pulled_at, "
		    "pulled_reason, IF(window_start IS NULL, NULL, "
		    "CONCAT(LPAD(window_start DIV 60, 2, '0'), ':', "
		    "LPAD(window_start MOD 60, 2, '0'), '-', LPAD(window_end DIV "
		    "60, 2, '0'), ':', LPAD(window_end MOD 60, 2, '0'))), "
		    "window_days, time_zone FROM mailings WHERE id = ?", 1,
		    params, print_show_row, &found, &err) != 0)
			status = CLI_FAILED;
		else if (!found) {
			buf_printf(&err, "mailing %s does not exist", argv[2]);
			status = CLI_FAILED;
		} else if (print_show_variants(db, argv[2], &err) != 0 ||
		    test_phase_print(db, argv[2], TEST_PHASE_SHOW, "",
		    &err) != 0 ||
		    print_show_value(db, argv[2], &err) != 0)
			status = CLI_FAILED;
	} else if (mailing_change(db, verb, argv[2], force, &err) != 0) {
		status = CLI_FAILED;
	} else {
		printf("mailing %s %s%s\n", argv[2], !strcmp(verb, "pause") ?
		    "paused" : !strcmp(verb, "resume") ? "resumed" :
		    "cancelled", force ? "; its value is no longer checked" :
		    "");
	}
	if (status != CLI_OK)
		msg_error("mailing %s: %s", verb, buf_str(&err));
	mysql_close(db);
	buf_free(&err);
	return status;
}
