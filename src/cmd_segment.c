/*
 * cmd_segment.c - "herald segment count|save|list|show|delete".
 *
 * count compiles the expression (or a saved segment's) exactly as the
 * stager will, runs it with bound values and prints how many active,
 * unsuppressed recipients it selects and how long the query took.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "db.h"
#include "log.h"
#include "segment.h"

static void
cmd_segment_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald segment count EXPR|NAME\n"
	    "       herald segment save NAME EXPR\n"
	    "       herald segment list | show NAME | delete NAME\n"
	    "\n"
	    "EXPR selects recipients, for example\n"
	    "  state in (OH, PA) and donated_total >= 100 and not received(12)\n"
	    "Fields: email, first_name, last_name, address, city, state, zip,\n"
	    "country, donated_total, donation_count, last_donation_amount,\n"
	    "last_donation_at, status, created_at, attributes.NAME.\n"
	    "Operators: = != < <= > >=, [not] in (...), between A and B,\n"
	    "starts with, contains, is [not] empty, list = NAME, received(ID),\n"
	    "and, or, not, ( ). Dates: 2026-01-01, today, \"30 days ago\".\n"
	    "count counts active recipients that are not suppressed, as a\n"
	    "mailing would target them.\n");
}

static int
print_segment(void *arg, unsigned ncolumns, char **col)
{
	(void)arg;
	if (ncolumns == 2)
		printf("%-24s %s\n", col[0], col[1]);
	else
		printf("%s\n", col[0]);
	return 0;
}

/* A saved segment's expression, or text itself when no segment has
 * that name. */
static int
resolve(MYSQL *db, const char *text, struct buf *expression,
    struct buf *err)
{
	const char *params[1] = { text };

	buf_reset(expression);
	if (db_query_strings(db, "SELECT expression FROM segments WHERE name "
	    "= ?", 1, params, db_first_value, expression, err) != 0)
		return -1;
	if (expression->len == 0)
		buf_append_str(expression, text);
	return 0;
}

static int
segment_count(MYSQL *db, const char *text, struct buf *err)
{
	struct buf expression = BUF_INIT, sql = BUF_INIT, count = BUF_INIT,
	    why = BUF_INIT;
	struct segment_sql seg;
	struct timespec t0, t1;
	char today[16];
	time_t now = time(NULL);
	struct tm tm;
	int status = -1;

	segment_sql_init(&seg);
	gmtime_r(&now, &tm);
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	if (resolve(db, text, &expression, err) != 0)
		goto out;
	if (segment_compile(buf_str(&expression), today, &seg, &why) != 0) {
		buf_printf(err, "\"%s\": %s", buf_str(&expression),
		    buf_str(&why));
		goto out;
	}
	buf_printf(&sql, "SELECT COUNT(*) FROM recipients r WHERE r.status = "
	    "'active' AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE "
	    "s.email = r.email) AND (%s)", buf_str(&seg.where));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (db_query_strings(db, buf_str(&sql), seg.count,
	    (const char *const *)seg.params, db_first_value, &count, err) != 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%s recipients (query %.3f s)\n", buf_str(&count),
	    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec -
	    t0.tv_nsec) / 1e9);
	status = 0;
out:
	segment_sql_free(&seg);
	buf_free(&expression);
	buf_free(&sql);
	buf_free(&count);
	buf_free(&why);
	return status;
}

int
cmd_segment(struct cli *cli, int argc, char **argv)
{
	struct buf err = BUF_INIT, why = BUF_INIT;
	const char *verb = argc > 1 ? argv[1] : "";
	unsigned long long affected = 0;
	MYSQL *db;
	int status = 0;

	if (cli_wants_help(argc, argv)) {
		cmd_segment_usage(stdout);
		return CLI_OK;
	}
	if (!((!strcmp(verb, "count") && argc == 3) ||
	    (!strcmp(verb, "save") && argc == 4) ||
	    (!strcmp(verb, "list") && argc == 2) ||
	    ((!strcmp(verb, "show") || !strcmp(verb, "delete")) &&
	    argc == 3))) {
		cmd_segment_usage(stderr);
		return CLI_USAGE;
	}
	db = cli_database(cli, "segment", 0);
	if (db == NULL)
		return CLI_FAILED;
	if (!strcmp(verb, "count")) {
		status = segment_count(db, argv[2], &err);
	} else if (!strcmp(verb, "save")) {
		struct segment_sql seg;
		const char *params[2] = { argv[2], argv[3] };

		/* Saved only if it compiles: a stored segment always runs. */
		segment_sql_init(&seg);
		status = segment_compile(argv[3], "2000-01-01", &seg, &why);
		segment_sql_free(&seg);
		if (status)
			buf_printf(&err, "\"%s\": %s", argv[3], buf_str(&why));
		else
			status = db_execute(db, "INSERT INTO segments (name, "
			    "expression) VALUES (?, ?) ON DUPLICATE KEY UPDATE "
			    "expression = VALUES(expression)", 2, params, NULL,
			    &err);
		if (!status)
			printf("segment %s saved\n", argv[2]);
	} else if (!strcmp(verb, "list")) {
		status = db_query_strings(db, "SELECT name, expression FROM "
		    "segments ORDER BY name", 0, NULL, print_segment, NULL,
		    &err);
	} else if (!strcmp(verb, "show")) {
		struct buf expression = BUF_INIT;
		const char *params[1] = { argv[2] };

		status = db_query_strings(db, "SELECT expression FROM segments "
		    "WHERE name = ?", 1, params, db_first_value, &expression,
		    &err);
		if (!status && expression.len == 0)
			status = -1;
		if (!status)
			printf("%s\n", buf_str(&expression));
		buf_free(&expression);
	} else {
		const char *params[1] = { argv[2] };

		status = db_execute(db, "DELETE FROM segments WHERE name = ?",
		    1, params, &affected, &err);
		if (!status && affected == 0)
			status = -1;
		if (!status)
			printf("segment %s deleted\n", argv[2]);
	}
	if (status && err.len == 0)
		buf_printf(&err, "no segment named \"%s\" (herald segment "
		    "list)", argv[2]);
	if (status)
		msg_error("segment %s: %s", verb, buf_str(&err));
	mysql_close(db);
	buf_free(&err);
	buf_free(&why);
	return status ? CLI_FAILED : CLI_OK;
}
