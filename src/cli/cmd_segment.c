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
#include "namecheck.h"
#include "segment.h"

static void
cmd_segment_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald segment count EXPR|NAME\n"
	    "       herald segment save NAME EXPR [--replace]\n"
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
	    "Words may be any UTF-8 text (first_name = Zoë). An attribute\n"
	    "compared with < <= > >= or between and a number is compared as\n"
	    "a number: recipients whose attribute is not a number never match.\n"
	    "count counts active recipients that are not suppressed, as a\n"
	    "mailing would target them. save refuses an existing NAME unless\n"
	    "--replace is given; NAME is 1 to 64 ASCII letters, digits, '_'\n"
	    "and '-', starting with a letter, and not a word of the language\n"
	    "(all, and, list, a field name...). count, save and mailing\n"
	    "create warn about received(ID) naming no mailing and list = NAME\n"
	    "naming no list (with the list meant when it is clear).\n");
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
 * that name (or text cannot be a name: "all" is always everyone). */
static int
resolve(MYSQL *db, const char *text, struct buf *expression,
    struct buf *err)
{
	const char *params[1] = { text };
	struct buf why = BUF_INIT;
	int is_name = segment_name_check(text, &why) == 0;

	buf_free(&why);
	buf_reset(expression);
	if (is_name && db_query_strings(db, "SELECT expression FROM segments "
	    "WHERE name = ?", 1, params, db_first_value, expression, err) != 0)
		return -1;
	if (expression->len == 0)
		buf_append_str(expression, text);
	return 0;
}

/* Warns about received(ID) and list = NAME naming nothing. */
static int
warn_references(MYSQL *db, const char *verb, const char *expression,
    const struct segment_sql *seg, struct buf *err)
{
	struct buf warnings = BUF_INIT, prefix = BUF_INIT;
	int status = namecheck_segment(db, seg, &warnings, err);

	buf_printf(&prefix, "segment %s: \"%s\": ", verb, expression);
	namecheck_warn_each(buf_str(&prefix), &warnings);
	buf_free(&warnings);
	buf_free(&prefix);
	return status < 0 ? -1 : 0;
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
	if (warn_references(db, "count", buf_str(&expression), &seg, err))
		goto out;
	buf_printf(&sql, "SELECT COUNT(*) FROM recipients r WHERE r.status = "
	    "'active' AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE "
	    "s.email = r.email) AND (%s)", buf_str(&seg.where));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (db_query_strings(db, buf_str(&sql), seg.count,
	    (const char *const *)seg.params, db_first_value, &count, err) != 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%s %s (query %.3f s)\n", buf_str(&count), msg_plural(
	    strtoull(buf_str(&count), NULL, 10), "recipient", "recipients"),
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

/* CLI_USAGE after naming what is wrong with the command line, else 0. */
static int
segment_arguments(int argc, char **argv)
{
	static const struct {
		const char *verb;
		int operands;
		const char *what;
	} verbs[] = {
		{ "count", 1, "an EXPR or a segment NAME" },
		{ "save", 2, "a NAME and an EXPR" },
		{ "list", 0, NULL },
		{ "show", 1, "a segment NAME" },
		{ "delete", 1, "a segment NAME" },
	};
	char command[32];

	for (size_t v = 0; argc > 1 && v < sizeof(verbs) / sizeof(verbs[0]);
	    v++) {
		if (strcmp(argv[1], verbs[v].verb) != 0)
			continue;
		snprintf(command, sizeof(command), "segment %s", argv[1]);
		if (argc - 2 < verbs[v].operands)
			return cli_usage_error(cmd_segment_usage, "%s: needs "
			    "%s", command, verbs[v].what);
		if (argc - 2 > verbs[v].operands)
			return cli_unexpected(cmd_segment_usage, command,
			    argv[2 + verbs[v].operands]);
		return 0;
	}
	return cli_unknown_verb(cmd_segment_usage, "segment", argc > 1 ?
	    argv[1] : NULL, "count, save, list, show or delete");
}

/*
 * Saves expression as name once it compiles (a stored segment always
 * runs); an existing name is replaced only when replace is set.
 */
static int
segment_save(MYSQL *db, const char *name, const char *expression,
    int replace, struct buf *err)
{
	struct buf why = BUF_INIT, old = BUF_INIT;
	struct segment_sql seg;
	const char *params[1] = { name }, *values[2] = { expression, name };
	int status = -1;

	segment_sql_init(&seg);
	if (segment_name_check(name, err) != 0)
		goto out;
	if (segment_compile(expression, "2000-01-01", &seg, &why) != 0) {
		buf_printf(err, "\"%s\": %s", expression, buf_str(&why));
		goto out;
	}
	if (warn_references(db, "save", expression, &seg, err) ||
	    db_query_strings(db, "SELECT expression FROM segments WHERE name "
	    "= ?", 1, params, db_first_value, &old, err) != 0)
		goto out;
	if (old.len && !replace) {
		buf_printf(err, "segment %s exists (%s); give --replace to "
		    "replace it", name, buf_str(&old));
		goto out;
	}
	if (db_execute(db, old.len ? "UPDATE segments SET expression = ? "
	    "WHERE name = ?" : "INSERT INTO segments (expression, name) "
	    "VALUES (?, ?)", 2, values, NULL, err) != 0)
		goto out;
	if (old.len)
		printf("segment %s replaced (it was: %s)\n", name,
		    buf_str(&old));
	else
		printf("segment %s saved\n", name);
	status = 0;
out:
	segment_sql_free(&seg);
	buf_free(&why);
	buf_free(&old);
	return status;
}

int
cmd_segment(struct cli *cli, int argc, char **argv)
{
	struct buf err = BUF_INIT;
	const char *verb = argc > 1 ? argv[1] : "";
	unsigned long long affected = 0;
	int replace = 0;
	MYSQL *db;
	int status = 0;

	if (cli_wants_help(argc, argv)) {
		cmd_segment_usage(stdout);
		return CLI_OK;
	}
	/* save's --replace may come anywhere after the verb. */
	for (int i = 2; !strcmp(verb, "save") && i < argc; i++) {
		if (strcmp(argv[i], "--replace") == 0) {
			replace = 1;
			memmove(argv + i, argv + i + 1, (size_t)(argc - i) *
			    sizeof(*argv));
			argc--;
			break;
		}
	}
	if ((status = segment_arguments(argc, argv)) != 0)
		return status;
	db = cli_database(cli, "segment", 0);
	if (db == NULL)
		return CLI_FAILED;
	if (!strcmp(verb, "count")) {
		status = segment_count(db, argv[2], &err);
	} else if (!strcmp(verb, "save")) {
		status = segment_save(db, argv[2], argv[3], replace, &err);
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
	return status ? CLI_FAILED : CLI_OK;
}
