/*
 * cmd_report.c - "herald report MAILING [--json|--csv] [--top N]".
 *
 * What became of a mailing, running or finished: totals per delivery
 * state, per variant, what came back per variant (hard and soft bounces,
 * complaints, unsubscribes, as counts and as percentages of the messages
 * delivered) and bounces per class, per destination domain (the N
 * largest), the time from the first to the last delivery and the rate
 * minute by minute, and the clicks and the conversions per variant and
 * in all (clicks.h, conversion.h), and the revenue projected against
 * the expected value per variant and in all (pull.h).
 * Everything is read from the mailing's stage table, or from the monthly
 * archive "herald maintain" moved it to, with the bounces recorded for it
 * (history.h: a bounce makes a sent message bounced). --csv is long
 * format (section, key, measure, value) so that every section fits one
 * table. Column names are snake_case keys, the same in JSON and CSV;
 * counts are JSON numbers; a value that does not exist (no delivery yet)
 * is null. The destinations' routes and figures come last, from the
 * running heraldd's scoreboard (cmd_route.c prints them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "encode.h"
#include "history.h"
#include "log.h"
#include "pull.h"

enum report_format { FORMAT_TEXT, FORMAT_JSON, FORMAT_CSV };

static void
cmd_report_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald report MAILING [--json|--csv] [--top N]\n"
	    "\n"
	    "Totals per delivery state, per variant and per destination\n"
	    "domain (the N largest, 10 by default), the time from the first\n"
	    "to the last delivery and the messages sent minute by minute.\n"
	    "feedback: per variant (and \"all\"), messages delivered, hard and\n"
	    "soft bounces, complaints and unsubscribes, each also as a\n"
	    "percentage of delivered (*_rate); bounce_classes: bounces per\n"
	    "class (userunknown, mailboxfull, ...) and variant, with rate.\n"
	    "clicks: per variant and in all: delivered, unique clicks\n"
	    "(recipients who clicked), total clicks and click rate (unique\n"
	    "clicks per 100 delivered), then conversions attributed to the\n"
	    "mailing, revenue and revenue per 1,000 delivered (amounts\n"
	    "summed as recorded: one currency is assumed).\n"
	    "test_phase (a mailing created with --test-share): its share,\n"
	    "wait and metric, its state (testing, waiting, decided), the test\n"
	    "cell and the holdout, and per variant delivered, events\n"
	    "(clickers or converters), revenue, rate and z of the leader\n"
	    "over it; once decided, the winner and the figures it was chosen\n"
	    "on (\"test_phase\" in JSON, null without one).\n"
	    "value: per variant and in all: delivered, conversions,\n"
	    "revenue and revenue per 1,000 delivered so far; arrived_share,\n"
	    "the percentage of their eventual conversions that should be in\n"
	    "by now (delay_curve: history, from this sender's past mailings,\n"
	    "or default); projected_per_1000, revenue per 1,000 delivered\n"
	    "once they are all in; expected_per_1000 (--expected-value) and\n"
	    "projected_vs_expected in percent, the figure heraldd's value\n"
	    "check compares with pull_threshold.\n"
	    "The variant column is the variant's number (0 for A) and is\n"
	    "null (empty in CSV, \"-\" in text) on the row for the whole\n"
	    "mailing, named all.\n"
	    "--json prints one document (counts as numbers, keys such as\n"
	    "first_delivery), --csv one table with a section column; one of\n"
	    "the two at most. When heraldd runs on this node, the report\n"
	    "ends with where each destination's mail goes now (as herald\n"
	    "route show): \"destinations\" in JSON, section destinations\n"
	    "in CSV.\n");
}

/* A section's column: its key (JSON, CSV, text header) and its kind. */
struct column {
	const char *key;
	int number;		/* a count: JSON number, right-aligned */
};

#define SECTION_COUNT 10
#define COLUMN_MAX 11

static const struct column report_columns[SECTION_COUNT][COLUMN_MAX] = {
	{ { "state", 0 }, { "messages", 1 } },
	{ { "variant", 1 }, { "name", 0 }, { "messages", 1 }, { "sent", 1 },
	    { "deferred", 1 }, { "failed", 1 } },
	{ { "variant", 1 }, { "name", 0 }, { "delivered", 1 },
	    { "hard_bounces", 1 }, { "soft_bounces", 1 }, { "complaints", 1 },
	    { "unsubscribes", 1 }, { "hard_bounce_rate", 1 },
	    { "soft_bounce_rate", 1 }, { "complaint_rate", 1 },
	    { "unsubscribe_rate", 1 } },
	{ { "variant", 0 }, { "reason", 0 }, { "kind", 0 }, { "bounces", 1 },
	    { "rate", 1 } },
	{ { "domain", 0 }, { "messages", 1 }, { "sent", 1 },
	    { "deferred", 1 }, { "failed", 1 } },
	{ { "first_delivery", 0 }, { "last_delivery", 0 }, { "seconds", 1 } },
	{ { "minute", 0 }, { "sent", 1 } },
	{ { "variant", 1 }, { "name", 0 }, { "delivered", 1 },
	    { "unique_clicks", 1 }, { "total_clicks", 1 },
	    { "click_rate", 1 } },
	{ { "variant", 1 }, { "name", 0 }, { "delivered", 1 },
	    { "conversions", 1 }, { "revenue", 1 },
	    { "revenue_per_1000", 1 } },
	{ { "variant", 1 }, { "name", 0 }, { "delivered", 1 },
	    { "conversions", 1 }, { "revenue", 1 }, { "revenue_per_1000", 1 },
	    { "arrived_share", 1 }, { "projected_per_1000", 1 },
	    { "expected_per_1000", 1 }, { "projected_vs_expected", 1 },
	    { "delay_curve", 0 } },
};

/* Rows of one section, kept as strings (NULL for SQL NULL). */
struct section {
	const char *name;
	unsigned columns;
	char ***rows;
	unsigned count;
};

static int
section_row(void *arg, unsigned ncolumns, char **col)
{
	struct section *s = arg;
	char **row = xcalloc(ncolumns, sizeof(char *));

	for (unsigned i = 0; i < ncolumns; i++)
		row[i] = col[i] ? xstrdup(col[i]) : NULL;
	s->rows = xrealloc(s->rows, (s->count + 1) * sizeof(*s->rows));
	s->rows[s->count++] = row;
	s->columns = ncolumns;
	return 0;
}

static void
section_free(struct section *s)
{
	for (unsigned i = 0; i < s->count; i++) {
		for (unsigned j = 0; j < s->columns; j++)
			free(s->rows[i][j]);
		free(s->rows[i]);
	}
	free(s->rows);
}

/* Prints s as a JSON string literal. */
static void
json_string(const char *s)
{
	struct buf b = BUF_INIT;

	encode_json_string(&b, s, strlen(s));
	fputs(buf_str(&b), stdout);
	buf_free(&b);
}

/* A count as a JSON number; anything else (or NULL) as a string or null. */
static void
json_value(const char *s, int number)
{
	if (s == NULL)
		fputs("null", stdout);
	else if (number && s[0] && strspn(s + (s[0] == '-'), "0123456789.") ==
	    strlen(s + (s[0] == '-')))
		fputs(s, stdout);
	else
		json_string(s);
}

void
report_csv_field(const char *s)
{
	if (s == NULL)
		return;
	if (strpbrk(s, ",\"\n\r") == NULL) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static int
table_row(void *arg, unsigned ncolumns, char **col)
{
	char *out = arg;

	(void)ncolumns;
	snprintf(out, HISTORY_TABLE_NAME_MAX, "%s", col[0] ? col[0] : "");
	return 1;
}

/* The mailing's stage table or archive; "" when none. */
static int
report_table(MYSQL *db, const char *id, char table[HISTORY_TABLE_NAME_MAX],
    struct buf *err)
{
	table[0] = '\0';
	if (db_query_strings(db, "SELECT stage_table FROM mailings WHERE id "
	    "= ?", 1, (const char *[]){ id }, table_row, table, err) != 0)
		return -1;
	if (!history_is_table(table))
		table[0] = '\0';
	return 0;
}

/* The document, with the destinations (reputation.h) from the running
 * heraldd's scoreboard; null when heraldd does not run on this node. */
static int
print_json(const struct herald_config *cfg, MYSQL *db, const char *id,
    const struct section *sections, struct buf *err)
{
	struct buf not_running = BUF_INIT;

	printf("{\"mailing\": %s", id);
	for (unsigned s = 0; s < SECTION_COUNT; s++) {
		printf(", \"%s\": [", sections[s].name);
		for (unsigned r = 0; r < sections[s].count; r++) {
			printf("%s{", r ? ", " : "");
			for (unsigned c = 0; c < sections[s].columns; c++) {
				printf("%s\"%s\": ", c ? ", " : "",
				    report_columns[s][c].key);
				json_value(sections[s].rows[r][c],
				    report_columns[s][c].number);
			}
			printf("}");
		}
		printf("]");
	}
	/* The test phase (testphase.h), or null. */
	if (test_phase_print(db, id, TEST_PHASE_JSON, ", \"test_phase\": ",
	    err) != 0) {
		buf_free(&not_running);
		return -1;
	}
	if (route_print_running(cfg, ROUTE_JSON, ", \"destinations\": ",
	    &not_running) != 0)
		printf(", \"destinations\": null");
	printf("}\n");
	buf_free(&not_running);
	return 0;
}

/* Long format: one value per line, every section alike; then the
 * destinations' rows, when heraldd runs on this node. */
static void
print_csv(const struct herald_config *cfg, const struct section *sections)
{
	struct buf not_running = BUF_INIT;

	printf("section,key,measure,value\n");
	for (unsigned s = 0; s < SECTION_COUNT; s++)
		for (unsigned r = 0; r < sections[s].count; r++)
			for (unsigned c = 1; c < sections[s].columns; c++) {
				printf("%s,", sections[s].name);
				report_csv_field(sections[s].rows[r][0]);
				printf(",%s,", report_columns[s][c].key);
				report_csv_field(sections[s].rows[r][c]);
				putchar('\n');
			}
	route_print_running(cfg, ROUTE_CSV, "", &not_running);
	buf_free(&not_running);
}

/* Each section a table whose columns are as wide as their widest cell. */
static void
print_text(const struct section *sections)
{
	for (unsigned s = 0; s < SECTION_COUNT; s++) {
		const struct column *cols = report_columns[s];
		int width[COLUMN_MAX] = { 0 };
		unsigned n = 0;

		while (n < COLUMN_MAX && cols[n].key)
			n++;
		for (unsigned c = 0; c < n; c++) {
			width[c] = (int)strlen(cols[c].key);
			for (unsigned r = 0; r < sections[s].count; r++) {
				const char *v = sections[s].rows[r][c];
				int w = (int)strlen(v ? v : "-");

				if (w > width[c])
					width[c] = w;
			}
		}
		printf("%s\n", sections[s].name);
		for (unsigned c = 0; c < n; c++)
			printf("  %*s", cols[c].number ? width[c] :
			    -width[c], cols[c].key);
		putchar('\n');
		for (unsigned r = 0; r < sections[s].count; r++) {
			for (unsigned c = 0; c < n; c++) {
				const char *v = sections[s].rows[r][c];

				printf("  %*s", cols[c].number ? width[c] :
				    -width[c], v ? v : "-");
			}
			putchar('\n');
		}
	}
}

/*
 * The feedback section (per variant, then "all") and the bounce_classes
 * section. Delivered: the messages the relay accepted, bounced ones too.
 * Rates are percentages of delivered, three decimals; null when nothing
 * was delivered. Only the table name (checked) is spliced.
 */
static int
report_feedback(MYSQL *db, const char *id, const char *table,
    struct section *feedback, struct section *classes, struct buf *err)
{
	const char *ids[4] = { id, id, id, id };
	struct buf sql = BUF_INIT;
	int rc;

#define REPORT_DELIVERED "SUM(" HISTORY_DELIVERY_STATE " IN ('sent', " \
	"'bounced'))"
#define REPORT_RATE(n) "ROUND(100 * " n " / NULLIF(" REPORT_DELIVERED \
	", 0), 3)"
	buf_printf(&sql, "SELECT h.variant_id, "
	    "IF(h.variant_id IS NULL, 'all', COALESCE(MAX(v.name), "
	    "'A')), " REPORT_DELIVERED ", SUM(b.hard = 1), SUM(b.hard = "
	    "0), COUNT(c.mailing_id), COUNT(s.email), "
	    REPORT_RATE("SUM(b.hard = 1)") ", " REPORT_RATE("SUM(b.hard = 0)")
	    ", " REPORT_RATE("COUNT(c.mailing_id)") ", "
	    REPORT_RATE("COUNT(s.email)") " FROM `%s` h" HISTORY_BOUNCES_JOIN
	    " LEFT JOIN complaints c ON c.mailing_id = h.mailing_id AND "
	    "c.recipient_id = h.recipient_id LEFT JOIN suppressions s ON "
	    "s.email = h.email AND s.mailing_id = h.mailing_id AND s.source = "
	    "'unsubscribe' LEFT JOIN variants v ON v.id = h.variant_id WHERE "
	    "h.mailing_id = ? GROUP BY h.variant_id WITH ROLLUP", table);
	rc = db_query_strings(db, buf_str(&sql), 1, ids, section_row,
	    feedback, err);
	/* Per class: for the whole mailing ("all"), then per variant. */
	buf_reset(&sql);
	buf_printf(&sql, "SELECT x.variant, x.reason, x.kind, x.n, ROUND(100 * "
	    "x.n / NULLIF(d.delivered, 0), 3) FROM (SELECT 'all' AS variant, "
	    "reason, IF(hard, 'hard', 'soft') AS kind, COUNT(*) AS n, 0 AS "
	    "o FROM bounces WHERE mailing_id = ? GROUP BY reason, hard UNION "
	    "ALL SELECT CAST(variant_id AS CHAR), reason, IF(hard, 'hard', "
	    "'soft'), COUNT(*), 1 + variant_id FROM bounces WHERE mailing_id "
	    "= ? GROUP BY variant_id, reason, hard) x LEFT JOIN (SELECT 'all' "
	    "AS variant, " REPORT_DELIVERED " AS delivered FROM `%s` h"
	    HISTORY_BOUNCES_JOIN " WHERE h.mailing_id = ? UNION ALL SELECT "
	    "CAST(h.variant_id AS CHAR), " REPORT_DELIVERED " FROM `%s` h"
	    HISTORY_BOUNCES_JOIN " WHERE h.mailing_id = ? GROUP BY "
	    "h.variant_id) d ON d.variant = x.variant ORDER BY x.o, x.n DESC, "
	    "x.reason", table, table);
#undef REPORT_RATE
#undef REPORT_DELIVERED
	if (rc == 0)
		rc = db_query_strings(db, buf_str(&sql), 4, ids, section_row,
		    classes, err);
	buf_free(&sql);
	return rc;
}

/* A figure of the value section: "%.Nf", or NULL when it is none. */
static char *
value_figure(double value, int decimals)
{
	struct buf b = BUF_INIT;
	char *s;

	if (value < 0)
		return NULL;
	buf_printf(&b, "%.*f", decimals, value);
	s = xstrdup(buf_str(&b));
	buf_free(&b);
	return s;
}

/*
 * The value section: per variant, then the whole mailing (variant
 * null), the revenue so far and the projection of the value check
 * (pull.h) against the expected value, under the delay curve heraldd
 * would use now. Percentages have one decimal, amounts two; what does
 * not exist (nothing expected, nothing due yet) is null.
 */
static int
report_value(MYSQL *db, const struct herald_config *cfg, const char *id,
    const char *table, struct section *value, struct buf *err)
{
	struct delay_curve curve;
	struct pull_projection p;
	unsigned mailings = 0;
	int rc;

	rc = pull_curve_read(db, cfg, &curve, &mailings, err);
	if (rc == 0)
		rc = pull_project(db, &curve, strtoull(id, NULL, 10), table, &p,
		    err);
	for (unsigned i = 0; rc == 0 && i < p.count; i++) {
		const struct pull_cell *c = &p.cells[i];
		double projected = pull_projected(c);
		char **row = xcalloc(11, sizeof(char *));
		struct buf b = BUF_INIT;

		if (c->variant >= 0) {
			buf_printf(&b, "%lld", c->variant);
			row[0] = xstrdup(buf_str(&b));
		}
		row[1] = xstrdup(c->name);
		buf_reset(&b);
		buf_printf(&b, "%llu", c->delivered);
		row[2] = xstrdup(buf_str(&b));
		buf_reset(&b);
		buf_printf(&b, "%llu", c->conversions);
		row[3] = xstrdup(buf_str(&b));
		row[4] = value_figure(c->revenue, 2);
		row[5] = c->delivered ? value_figure(1000 * c->revenue /
		    (double)c->delivered, 2) : NULL;
		row[6] = c->delivered ? value_figure(100 * c->arrived /
		    (double)c->delivered, 1) : NULL;
		row[7] = value_figure(projected, 2);
		row[8] = value_figure(p.expected, 2);
		row[9] = p.expected > 0 && projected >= 0 ? value_figure(100 *
		    projected / p.expected, 1) : NULL;
		row[10] = xstrdup(delay_curve_is_history(&curve) ? "history" :
		    "default");
		buf_free(&b);
		value->rows = xrealloc(value->rows, (value->count + 1) *
		    sizeof(*value->rows));
		value->rows[value->count++] = row;
		value->columns = 11;
	}
	if (rc == 0)
		pull_projection_free(&p);
	delay_curve_free(&curve);
	return rc;
}

int
cmd_report(struct cli *cli, int argc, char **argv)
{
	struct section sections[SECTION_COUNT] = { { "states", 0, NULL, 0 },
	    { "variants", 0, NULL, 0 }, { "feedback", 0, NULL, 0 },
	    { "bounce_classes", 0, NULL, 0 }, { "domains", 0, NULL, 0 },
	    { "time", 0, NULL, 0 }, { "per_minute", 0, NULL, 0 },
	    { "clicks", 0, NULL, 0 }, { "conversions", 0, NULL, 0 },
	    { "value", 0, NULL, 0 } };
	enum report_format format = FORMAT_TEXT;
	const char *id = NULL;
	long top = 10;
	struct herald_config *cfg;
	struct buf err = BUF_INIT, sql = BUF_INIT;
	char table[HISTORY_TABLE_NAME_MAX];
	MYSQL *db = NULL;
	int status = CLI_FAILED;

	if (cli_wants_help(argc, argv)) {
		cmd_report_usage(stdout);
		return CLI_OK;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "--csv")) {
			enum report_format want = argv[i][2] == 'j' ?
			    FORMAT_JSON : FORMAT_CSV;

			if (format != FORMAT_TEXT && format != want)
				return cli_usage_error(cmd_report_usage,
				    "report: --json and --csv together: "
				    "choose one");
			format = want;
		} else if (!strcmp(argv[i], "--top")) {
			if (i + 1 == argc)
				return cli_missing_value(cmd_report_usage,
				    "report", "--top", "a number of domains");
			top = atol(argv[++i]);
			if (!cli_is_id(argv[i]) || top <= 0)
				return cli_usage_error(cmd_report_usage,
				    "report: --top must be a positive number, "
				    "not \"%s\"", argv[i]);
		} else if (!id && argv[i][0] != '-') {
			id = argv[i];
			if (!cli_is_id(id))
				return cli_bad_id(cmd_report_usage, "report",
				    "mailing", id);
		} else {
			return cli_unexpected(cmd_report_usage, "report",
			    argv[i]);
		}
	}
	if (id == NULL)
		return cli_usage_error(cmd_report_usage, "report: name the "
		    "MAILING to report on (herald mailing list)");
	cfg = cli_config(cli);
	if (cfg == NULL)
		return CLI_FAILED;
	db = db_connect(cfg, DB_SELECT_DATABASE, &err);
	if (db == NULL || report_table(db, id, table, &err) != 0)
		goto done;
	if (table[0] == '\0') {
		buf_printf(&err, "mailing %s does not exist or is not staged "
		    "yet (herald mailing show %s)", id, id);
		goto done;
	}
	/* Only the table name (checked above) is spliced; values bound. */
	buf_printf(&sql, "SELECT " HISTORY_DELIVERY_STATE " AS outcome, "
	    "COUNT(*) FROM `%s` h" HISTORY_BOUNCES_JOIN " WHERE h.mailing_id "
	    "= ? GROUP BY outcome ORDER BY FIELD(outcome, 'pending', 'sent', "
	    "'deferred', 'failed', 'bounced', 'suppressed', 'cancelled')",
	    table);
	if (db_query_strings(db, buf_str(&sql), 1, (const char *[]){ id },
	    section_row, &sections[0], &err) != 0)
		goto done;
	buf_reset(&sql);
	buf_printf(&sql, "SELECT h.variant_id, COALESCE(v.name, 'A'), "
	    "COUNT(*), SUM(" HISTORY_DELIVERY_STATE " = 'sent'), "
	    "SUM(h.delivery_state = 'deferred'), SUM(h.delivery_state = "
	    "'failed') FROM `%s` h" HISTORY_BOUNCES_JOIN " LEFT JOIN variants "
	    "v ON v.id = h.variant_id WHERE h.mailing_id = ? GROUP BY "
	    "h.variant_id ORDER BY h.variant_id", table);
	if (db_query_strings(db, buf_str(&sql), 1, (const char *[]){ id },
	    section_row, &sections[1], &err) != 0 ||
	    report_feedback(db, id, table, &sections[2], &sections[3],
	    &err) != 0)
		goto done;
	buf_reset(&sql);
	buf_printf(&sql, "SELECT SUBSTRING_INDEX(h.email, '@', -1) AS domain, "
	    "COUNT(*) AS n, SUM(" HISTORY_DELIVERY_STATE " = 'sent'), "
	    "SUM(h.delivery_state = 'deferred'), SUM(h.delivery_state = "
	    "'failed') FROM `%s` h" HISTORY_BOUNCES_JOIN " WHERE h.mailing_id "
	    "= ? GROUP BY domain ORDER BY n DESC, domain LIMIT %ld", table,
	    top);	/* a number we parsed: LIMIT takes no string */
	if (db_query_strings(db, buf_str(&sql), 1, (const char *[]){ id },
	    section_row, &sections[4], &err) != 0)
		goto done;
	buf_reset(&sql);
	buf_printf(&sql, "SELECT MIN(delivered_at), MAX(delivered_at), "
	    "TIMESTAMPDIFF(SECOND, MIN(delivered_at), MAX(delivered_at)) FROM "
	    "`%s` WHERE mailing_id = ? AND delivery_state = 'sent'", table);
	if (db_query_strings(db, buf_str(&sql), 1, (const char *[]){ id },
	    section_row, &sections[5], &err) != 0)
		goto done;
	buf_reset(&sql);
	buf_printf(&sql, "SELECT DATE_FORMAT(delivered_at, '%%Y-%%m-%%d "
	    "%%H:%%i') AS minute, COUNT(*) FROM `%s` WHERE mailing_id = ? AND "
	    "delivery_state = 'sent' GROUP BY minute ORDER BY minute", table);
	if (db_query_strings(db, buf_str(&sql), 1, (const char *[]){ id },
	    section_row, &sections[6], &err) != 0)
		goto done;
	/* Per variant, then in all (the ROLLUP row: variant NULL). */
	buf_reset(&sql);
	buf_printf(&sql, "SELECT h.variant_id, IF(h.variant_id IS NULL, "
	    "'all', COALESCE(MAX(v.name), 'A')), SUM("
	    HISTORY_DELIVERY_STATE " = 'sent') AS delivered, COUNT(c.clicks), "
	    "COALESCE(SUM(c.clicks), 0), ROUND(100 * COUNT(c.clicks) / "
	    "NULLIF(SUM(" HISTORY_DELIVERY_STATE " = 'sent'), 0), 2) FROM "
	    "`%s` h" HISTORY_BOUNCES_JOIN " LEFT JOIN variants v ON v.id = "
	    "h.variant_id LEFT JOIN (SELECT recipient_id, SUM(clicks) AS "
	    "clicks FROM clicks WHERE mailing_id = ? GROUP BY recipient_id) c "
	    "ON c.recipient_id = h.recipient_id WHERE h.mailing_id = ? GROUP "
	    "BY h.variant_id WITH ROLLUP", table);
	if (db_query_strings(db, buf_str(&sql), 2, (const char *[]){ id, id },
	    section_row, &sections[7], &err) != 0)
		goto done;
	/* The conversions attributed to the mailing (conversion.h), by
	 * the variant their recipient got. */
	buf_reset(&sql);
	buf_printf(&sql, "SELECT h.variant_id, IF(h.variant_id IS NULL, "
	    "'all', COALESCE(MAX(v.name), 'A')), SUM("
	    HISTORY_DELIVERY_STATE " = 'sent'), COALESCE(SUM(cv.n), 0), "
	    "COALESCE(SUM(cv.amount), 0), ROUND(1000 * COALESCE(SUM("
	    "cv.amount), 0) / NULLIF(SUM(" HISTORY_DELIVERY_STATE " = "
	    "'sent'), 0), 2) FROM `%s` h" HISTORY_BOUNCES_JOIN " LEFT JOIN "
	    "variants v ON v.id = h.variant_id LEFT JOIN (SELECT "
	    "recipient_id, COUNT(*) AS n, SUM(amount) AS amount FROM "
	    "conversions WHERE mailing_id = ? GROUP BY recipient_id) cv ON "
	    "cv.recipient_id = h.recipient_id WHERE h.mailing_id = ? GROUP "
	    "BY h.variant_id WITH ROLLUP", table);
	if (db_query_strings(db, buf_str(&sql), 2, (const char *[]){ id, id },
	    section_row, &sections[8], &err) != 0 ||
	    report_value(db, cfg, id, table, &sections[9], &err) != 0)
		goto done;

	if (format == FORMAT_JSON) {
		if (print_json(cfg, db, id, sections, &err) != 0)
			goto done;
	} else if (format == FORMAT_CSV) {
		print_csv(cfg, sections);
		if (test_phase_print(db, id, TEST_PHASE_CSV, "", &err) != 0)
			goto done;
	} else {
		/* And where the destinations' mail goes now, on this node
		 * (reputation.h), when heraldd runs here. */
		struct buf not_running = BUF_INIT;

		print_text(sections);
		if (test_phase_print(db, id, TEST_PHASE_TEXT, "", &err) != 0)
			goto done;
		route_print_running(cfg, ROUTE_TEXT, "\n", &not_running);
		buf_free(&not_running);
	}
	status = CLI_OK;
done:
	if (status != CLI_OK)
		msg_error("report: %s", buf_str(&err));
	for (unsigned s = 0; s < SECTION_COUNT; s++)
		section_free(&sections[s]);
	if (db)
		mysql_close(db);
	buf_free(&err);
	buf_free(&sql);
	return status;
}
