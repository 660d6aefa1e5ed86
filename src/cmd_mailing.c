/*
 * cmd_mailing.c - "herald mailing create|list|show|pause|resume|cancel".
 *
 * create checks everything a worker will need before the mailing exists:
 * the template directory compiles, the segment compiles (unknown fields
 * and syntax errors point at their column), the From address is valid,
 * the send time parses. The state changes follow DESIGN.md section 5:
 *
 *	queued -> staging -> ready -> sending -> done      (stager, workers)
 *	queued | ready | sending  -> paused -> (resume) queued | ready
 *	draft | queued | ready | sending | paused -> cancelled
 *
 * Any other change is refused, naming the state the mailing is in.
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
#include "db.h"
#include "history.h"
#include "log.h"
#include "segment.h"
#include "tmplset.h"

static void
cmd_mailing_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald mailing create --name NAME --template DIR\n"
	    "           --segment EXPR|NAME --from ADDRESS --subject TEXT\n"
	    "           [--reply-to ADDRESS] [--send-at TIME] [--rate N/h]\n"
	    "           [--priority N] [--expected-value AMOUNT]\n"
	    "       herald mailing list\n"
	    "       herald mailing show ID\n"
	    "       herald mailing pause|resume|cancel ID\n"
	    "\n"
	    "create validates the template directory, the segment and the\n"
	    "addresses, then queues the mailing; \"herald stage\" stages it at\n"
	    "its send time. TIME is \"now\" (the default) or \"YYYY-MM-DD\n"
	    "HH:MM[:SS]\" followed by an optional zone: UTC, Z, +HH:MM or a\n"
	    "zone name such as Europe/Paris (default: the local zone).\n"
	    "pause stops new batches (messages in flight finish); resume\n"
	    "undoes it; cancel marks every message not yet sent cancelled.\n");
}

/* --- send time ---------------------------------------------------------- */

/*
 * Parses TIME into "YYYY-MM-DD HH:MM:SS" UTC. Zones: none (local),
 * UTC/Z, +HH:MM/-HHMM offsets, or a tz database name.
 */
static int
parse_send_at(const char *text, char *utc, size_t size, struct buf *err)
{
	struct tm tm;
	const char *rest;
	time_t t;

	if (strcmp(text, "now") == 0) {
		t = time(NULL);
	} else {
		memset(&tm, 0, sizeof(tm));
		rest = strptime(text, "%Y-%m-%d %H:%M:%S", &tm);
		if (rest == NULL) {
			memset(&tm, 0, sizeof(tm));
			rest = strptime(text, "%Y-%m-%d %H:%M", &tm);
		}
		if (rest == NULL) {
			memset(&tm, 0, sizeof(tm));
			rest = strptime(text, "%Y-%m-%d", &tm);
		}
		if (rest == NULL) {
			buf_printf(err, "--send-at \"%s\": expected \"now\" or "
			    "YYYY-MM-DD HH:MM[:SS] [ZONE]", text);
			return -1;
		}
		while (*rest == ' ')
			rest++;
		if (*rest == '\0') {
			tm.tm_isdst = -1;
			t = mktime(&tm);
		} else if (strcmp(rest, "UTC") == 0 || strcmp(rest, "Z") == 0) {
			t = timegm(&tm);
		} else if ((rest[0] == '+' || rest[0] == '-') &&
		    strlen(rest) >= 5 && strspn(rest + 1, "0123456789:") ==
		    strlen(rest + 1)) {
			int hours = (rest[1] - '0') * 10 + (rest[2] - '0');
			int minutes = atoi(rest + (rest[3] == ':' ? 4 : 3));
			long offset = (hours * 60L + minutes) * 60;

			if (hours > 14 || minutes > 59) {
				buf_printf(err, "--send-at: bad offset "
				    "\"%s\"", rest);
				return -1;
			}
			t = timegm(&tm) - (rest[0] == '+' ? offset : -offset);
		} else {
			/* A zone name: resolve with TZ set for the call. */
			char *saved = getenv("TZ") ? xstrdup(getenv("TZ")) :
			    NULL;
			struct buf path = BUF_INIT;
			FILE *fp;

			buf_printf(&path, "/usr/share/zoneinfo/%s", rest);
			fp = strstr(rest, "..") ? NULL : fopen(buf_str(&path),
			    "r");
			buf_free(&path);
			if (fp == NULL) {
				free(saved);
				buf_printf(err, "--send-at: unknown time zone "
				    "\"%s\" (expected UTC, +HH:MM or a name "
				    "like Europe/Paris)", rest);
				return -1;
			}
			fclose(fp);
			setenv("TZ", rest, 1);
			tzset();
			tm.tm_isdst = -1;
			t = mktime(&tm);
			if (saved) {
				setenv("TZ", saved, 1);
				free(saved);
			} else {
				unsetenv("TZ");
			}
			tzset();
		}
	}
	gmtime_r(&t, &tm);
	strftime(utc, size, "%Y-%m-%d %H:%M:%S", &tm);
	return 0;
}

/* --- create ------------------------------------------------------------ */

struct create_args {
	const char *name, *template_dir, *segment, *from, *subject;
	const char *reply_to, *send_at, *rate, *priority, *expected_value;
};

static int
segment_named(void *arg, unsigned ncolumns, char **col)
{
	struct buf *expression = arg;

	(void)ncolumns;
	buf_append_str(expression, col[0]);
	return 1;
}

/* Accepts "Name <address>" or "address"; checks the address. */
static int
check_from(const char *text, struct buf *err)
{
	const char *lt = strrchr(text, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	struct buf normalized = BUF_INIT, why = BUF_INIT;
	int status;

	if (lt && (gt == NULL || gt[1] != '\0')) {
		buf_printf(err, "--from \"%s\": expected \"Name <address>\" "
		    "or an address", text);
		return -1;
	}
	if (strpbrk(text, "\r\n")) {
		buf_printf(err, "--from: line breaks are not allowed");
		return -1;
	}
	status = address_check(lt ? lt + 1 : text, lt ? (size_t)(gt - lt - 1) :
	    strlen(text), &normalized, &why);
	if (status)
		buf_printf(err, "--from \"%s\": %s", text, buf_str(&why));
	buf_free(&normalized);
	buf_free(&why);
	return status;
}

static int
mailing_create(struct cli *cli, int argc, char **argv)
{
	struct create_args a = { .send_at = "now", .priority = "0" };
	struct herald_config *cfg;
	struct buf err = BUF_INIT, expression = BUF_INIT, why = BUF_INIT;
	struct segment_sql seg;
	struct tmplset *set;
	char send_at[32], rate[24] = "", today[16], id[24];
	const char *params[11];
	MYSQL *db = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int status = CLI_FAILED;

	for (int i = 2; i < argc; i++) {
		const char **slot = NULL;

		if (i + 1 >= argc)
			slot = NULL;
		else if (!strcmp(argv[i], "--name"))
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
		if (slot == NULL) {
			msg_error("mailing create: unexpected argument \"%s\"",
			    argv[i]);
			cmd_mailing_usage(stderr);
			return CLI_USAGE;
		}
		*slot = argv[++i];
	}
	if (!a.name || !a.template_dir || !a.segment || !a.from ||
	    !a.subject) {
		msg_error("mailing create: --name, --template, --segment, "
		    "--from and --subject are required");
		return CLI_USAGE;
	}
	segment_sql_init(&seg);
	if (parse_send_at(a.send_at, send_at, sizeof(send_at), &err) != 0 ||
	    check_from(a.from, &err) != 0)
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
	set = tmplset_open(a.template_dir, a.subject, &err);
	if (set == NULL)
		goto done;
	tmplset_free(set);
	cfg = cli_config(cli);
	if (cfg == NULL)
		goto done;
	db = db_connect(cfg, DB_SELECT_DATABASE, &err);
	if (db == NULL)
		goto done;
	/* A segment name is resolved now: the mailing keeps the expression
	 * it was created with, whatever later happens to the name. */
	params[0] = a.segment;
	if (db_query_strings(db, "SELECT expression FROM segments WHERE name "
	    "= ?", 1, params, segment_named, &expression, &err) != 0)
		goto done;
	if (expression.len == 0)
		buf_append_str(&expression, a.segment);
	gmtime_r(&now, &tm);
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	if (segment_compile(buf_str(&expression), today, &seg, &why) != 0) {
		buf_printf(&err, "--segment \"%s\": %s", buf_str(&expression),
		    buf_str(&why));
		goto done;
	}
	params[0] = a.name;
	params[1] = a.template_dir;
	params[2] = a.subject;
	params[3] = a.from;
	params[4] = a.reply_to;
	params[5] = buf_str(&expression);
	params[6] = send_at;
	params[7] = a.priority;
	params[8] = a.rate ? rate : NULL;
	params[9] = a.expected_value;
	if (db_execute(db, "INSERT INTO mailings (name, template_dir, subject, "
	    "from_address, reply_to, segment_expression, send_at, priority, "
	    "rate_limit_per_hour, expected_value, state) VALUES (?, ?, ?, ?, "
	    "?, ?, ?, ?, ?, ?, 'queued')", 10, params, NULL, &err) != 0)
		goto done;
	snprintf(id, sizeof(id), "%llu", (unsigned long long)
	    mysql_insert_id(db));
	printf("mailing %s queued, to be staged at %s UTC\n", id, send_at);
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
	    "staged", "sent", "deferred", "failed", "bounced", "cancelled",
	    "created", "staged at", "finished at" };
	int *found = arg;

	*found = 1;
	for (unsigned i = 0; i < ncolumns && i < sizeof(labels) /
	    sizeof(labels[0]); i++)
		printf("%-15s %s\n", labels[i], col[i] ? col[i] : "-");
	return 0;
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

static int
read_state(void *arg, unsigned ncolumns, char **col)
{
	struct buf *state = arg;

	(void)ncolumns;
	buf_append_str(state, col[0]);
	buf_append_char(state, '\0');
	buf_append_str(state, col[1] ? col[1] : "");
	return 1;
}

/* Applies verb to mailing id after checking its state allows it. */
static int
mailing_change(MYSQL *db, const char *verb, const char *id, struct buf *err)
{
	struct buf row = BUF_INIT, sql = BUF_INIT;
	const char *params[1] = { id };
	const char *state, *table;
	unsigned long long affected = 0;
	int status = -1;

	if (db_query_strings(db, "SELECT state, stage_table FROM mailings "
	    "WHERE id = ?", 1, params, read_state, &row, err) != 0)
		goto out;
	if (row.len == 0) {
		buf_printf(err, "mailing %s does not exist", id);
		goto out;
	}
	state = row.data;
	table = row.data + strlen(state) + 1;
	if (strcmp(verb, "pause") == 0) {
		if (strcmp(state, "queued") && strcmp(state, "ready") &&
		    strcmp(state, "sending")) {
			buf_printf(err, "mailing %s is %s: only a queued, ready "
			    "or sending mailing can be paused", id, state);
			goto out;
		}
		status = db_execute(db, "UPDATE mailings SET state = 'paused' "
		    "WHERE id = ? AND state IN ('queued', 'ready', "
		    "'sending')", 1, params, &affected, err);
	} else if (strcmp(verb, "resume") == 0) {
		if (strcmp(state, "paused")) {
			buf_printf(err, "mailing %s is %s: only a paused "
			    "mailing can be resumed", id, state);
			goto out;
		}
		/* Staged mailings go back to ready (workers make it sending
		 * again); others wait for the stager. */
		status = db_execute(db, "UPDATE mailings SET state = IF("
		    "stage_table IS NULL, 'queued', 'ready') WHERE id = ? AND "
		    "state = 'paused'", 1, params, &affected, err);
	} else {
		if (!strcmp(state, "done") || !strcmp(state, "cancelled") ||
		    !strcmp(state, "pulled") || !strcmp(state, "staging")) {
			buf_printf(err, "mailing %s is %s: it cannot be "
			    "cancelled%s", id, state, !strcmp(state, "staging") ?
			    " while it is being staged; pause it, or try again "
			    "in a moment" : "");
			goto out;
		}
		status = db_execute(db, "UPDATE mailings SET state = "
		    "'cancelled', finished_at = UTC_TIMESTAMP() WHERE id = ? "
		    "AND state IN ('draft', 'queued', 'ready', 'sending', "
		    "'paused')", 1, params, &affected, err);
		if (!status && affected && table[0] &&
		    history_is_stage_table(table)) {
			buf_printf(&sql, "UPDATE `%s` SET delivery_state = "
			    "'cancelled' WHERE mailing_id = ? AND "
			    "delivery_state IN ('pending', 'deferred')", table);
			status = db_execute(db, buf_str(&sql), 1, params,
			    &affected, err);
			if (!status) {
				char count[24];
				const char *counts[2] = { count, id };

				snprintf(count, sizeof(count), "%llu",
				    affected);
				status = db_execute(db, "UPDATE mailings SET "
				    "cancelled_count = cancelled_count + ? "
				    "WHERE id = ?", 2, counts, NULL, err);
			}
			if (!status)
				status = db_execute(db, "UPDATE batches SET "
				    "state = 'done' WHERE mailing_id = ? AND "
				    "state = 'ready'", 1, params, NULL, err);
			affected = 1;
		}
	}
	if (status == 0 && affected == 0) {
		buf_printf(err, "mailing %s changed state meanwhile; look at "
		    "it again (herald mailing show %s)", id, id);
		status = -1;
	}
out:
	buf_free(&row);
	buf_free(&sql);
	return status;
}

int
cmd_mailing(struct cli *cli, int argc, char **argv)
{
	struct buf err = BUF_INIT;
	MYSQL *db;
	const char *verb = argc > 1 ? argv[1] : "";
	int status = CLI_OK;

	if (cli_wants_help(argc, argv)) {
		cmd_mailing_usage(stdout);
		return CLI_OK;
	}
	if (strcmp(verb, "create") == 0)
		return mailing_create(cli, argc, argv);
	if (!((strcmp(verb, "list") == 0 && argc == 2) ||
	    ((!strcmp(verb, "show") || !strcmp(verb, "pause") ||
	    !strcmp(verb, "resume") || !strcmp(verb, "cancel")) &&
	    argc == 3 && strspn(argv[2], "0123456789") == strlen(argv[2]) &&
	    argv[2][0]))) {
		cmd_mailing_usage(stderr);
		return CLI_USAGE;
	}
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
		    "failed_count, bounced_count, cancelled_count, created_at, "
		    "staged_at, finished_at FROM mailings WHERE id = ?", 1,
		    params, print_show_row, &found, &err) != 0)
			status = CLI_FAILED;
		else if (!found) {
			buf_printf(&err, "mailing %s does not exist", argv[2]);
			status = CLI_FAILED;
		}
	} else if (mailing_change(db, verb, argv[2], &err) != 0) {
		status = CLI_FAILED;
	} else {
		printf("mailing %s %s\n", argv[2], !strcmp(verb, "pause") ?
		    "paused" : !strcmp(verb, "resume") ? "resumed" :
		    "cancelled");
	}
	if (status != CLI_OK)
		msg_error("mailing %s: %s", verb, buf_str(&err));
	mysql_close(db);
	buf_free(&err);
	return status;
}
