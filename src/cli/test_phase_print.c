/*
 * test_phase_print.c - a mailing's test phase as "herald mailing show"
 * and "herald report" print it (cli.h: test_phase_print()).
 *
 * What it shows, from testphase.h: the share, the wait and the metric;
 * the state (to be staged, testing, waiting, decided) with the test
 * cell's and the holdout's sizes, when the test cell was sent and when
 * the wait ends; then per variant the figures: delivered, the metric's
 * count (clickers or converters) or revenue, the rate compared, and z
 * of the leader over it: once decided, the figures the winner was
 * chosen on, with the winner and the rule's own explanation.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "encode.h"
#include "testphase.h"
#include "variant.h"

/* "clickers 20 (33.33%)", "revenue 120.00 (2.0000 per message)". */
static void
figure_text(enum winner_metric metric, const struct test_phase_row *r,
    struct buf *out)
{
	if (metric == WINNER_REVENUE)
		buf_printf(out, "revenue %.2f (%.4f per message)",
		    r->figures.revenue, r->rate);
	else
		buf_printf(out, "%s %" PRIu64 " (%.2f%%)", metric ==
		    WINNER_CLICKS ? "clickers" : "converters", metric ==
		    WINNER_CLICKS ? r->figures.clickers : r->figures.converters,
		    100 * r->rate);
}

static void
print_line(enum test_phase_output output, const char *label,
    const char *value)
{
	if (output == TEST_PHASE_TEXT)
		printf("  %-13s %s\n", label, value);
	else
		printf("%-15s %s\n", label, value);
}

static void
print_text(enum test_phase_output output, const struct test_phase *tp,
    const struct test_phase_figures *f)
{
	struct buf line = BUF_INIT;

	if (output == TEST_PHASE_TEXT)
		printf("test_phase\n");
	variant_share_format(tp->share, &line);
	buf_printf(&line, " of the recipients first, then the winner by %s, ",
	    winner_metric_name(tp->metric));
	test_phase_wait_format(tp->wait, &line);
	buf_append_str(&line, " after the test cell is sent at the latest");
	print_line(output, "test phase", buf_str(&line));
	buf_reset(&line);
	buf_append_str(&line, test_phase_state_name(tp->state));
	if (tp->state != TEST_PHASE_UNSTAGED)
		buf_printf(&line, ": test cell %" PRIu64 ", holdout %" PRIu64,
		    tp->cell_rows, tp->staged - tp->cell_rows);
	if (tp->sent_at[0])
		buf_printf(&line, "; test cell sent %s, the wait ends %s",
		    tp->sent_at, tp->wait_ends);
	if (tp->state == TEST_PHASE_DECIDED)
		buf_printf(&line, "; %s won at %s", tp->winner_name,
		    tp->winner_at);
	print_line(output, "test state", buf_str(&line));
	for (unsigned i = 0; i < f->count; i++) {
		const struct test_phase_row *r = &f->rows[i];

		buf_reset(&line);
		buf_printf(&line, "%s: delivered %" PRIu64 ", ", r->name,
		    r->figures.delivered);
		figure_text(tp->metric, r, &line);
		if (r->has_z)
			buf_printf(&line, ", z %.2f", r->z);
		else
			buf_append_str(&line, f->recorded ? ", the winner" :
			    ", leads");
		print_line(output, "test variant", buf_str(&line));
	}
	if (tp->state == TEST_PHASE_DECIDED)
		print_line(output, "test decision", tp->reason);
	buf_free(&line);
}

static void
json_text(const char *key, const char *value)
{
	struct buf b = BUF_INIT;

	if (value == NULL || value[0] == '\0') {
		printf(", \"%s\": null", key);
		return;
	}
	encode_json_string(&b, value, strlen(value));
	printf(", \"%s\": %s", key, buf_str(&b));
	buf_free(&b);
}

static void
print_json(const struct test_phase *tp, const struct test_phase_figures *f)
{
	struct buf share = BUF_INIT;
	int staged = tp->state != TEST_PHASE_UNSTAGED;

	variant_share_format(tp->share, &share);
	printf("{\"share\": \"%s\", \"share_basis_points\": %u, "
	    "\"wait_seconds\": %lu, \"metric\": \"%s\", \"state\": \"%s\"",
	    buf_str(&share), tp->share, tp->wait,
	    winner_metric_name(tp->metric), test_phase_state_name(tp->state));
	if (staged)
		printf(", \"test_cell\": %" PRIu64 ", \"holdout\": %" PRIu64,
		    tp->cell_rows, tp->staged - tp->cell_rows);
	else
		printf(", \"test_cell\": null, \"holdout\": null");
	json_text("sent_at", tp->sent_at);
	json_text("wait_ends", tp->wait_ends);
	json_text("winner", tp->state == TEST_PHASE_DECIDED ? tp->winner_name :
	    NULL);
	json_text("decided_at", tp->winner_at);
	json_text("reason", tp->reason);
	printf(", \"figures_recorded\": %s, \"variants\": [", f->recorded ?
	    "true" : "false");
	for (unsigned i = 0; i < f->count; i++) {
		const struct test_phase_row *r = &f->rows[i];
		struct buf name = BUF_INIT;

		encode_json_string(&name, r->name, strlen(r->name));
		printf("%s{\"variant\": %" PRIu32 ", \"name\": %s, "
		    "\"delivered\": %" PRIu64 ", \"events\": %" PRIu64 ", "
		    "\"revenue\": %.2f, \"rate\": %.6f, \"z\": ", i ? ", " : "",
		    r->variant, buf_str(&name), r->figures.delivered,
		    tp->metric == WINNER_CLICKS ? r->figures.clickers :
		    r->figures.converters, r->figures.revenue, r->rate);
		if (r->has_z)
			printf("%.4f}", r->z);
		else
			printf("null}");
		buf_free(&name);
	}
	printf("]}");
	buf_free(&share);
}

static void
csv_row(const char *key, const char *measure, const char *value)
{
	printf("test_phase,");
	report_csv_field(key);
	printf(",%s,", measure);
	report_csv_field(value);
	putchar('\n');
}

static void
print_csv(const struct test_phase *tp, const struct test_phase_figures *f)
{
	struct buf v = BUF_INIT;

	variant_share_format(tp->share, &v);
	csv_row("phase", "share", buf_str(&v));
	buf_reset(&v);
	buf_printf(&v, "%lu", tp->wait);
	csv_row("phase", "wait_seconds", buf_str(&v));
	csv_row("phase", "metric", winner_metric_name(tp->metric));
	csv_row("phase", "state", test_phase_state_name(tp->state));
	if (tp->state != TEST_PHASE_UNSTAGED) {
		buf_reset(&v);
		buf_printf(&v, "%" PRIu64, tp->cell_rows);
		csv_row("phase", "test_cell", buf_str(&v));
		buf_reset(&v);
		buf_printf(&v, "%" PRIu64, tp->staged - tp->cell_rows);
		csv_row("phase", "holdout", buf_str(&v));
	}
	csv_row("phase", "sent_at", tp->sent_at);
	csv_row("phase", "wait_ends", tp->wait_ends);
	if (tp->state == TEST_PHASE_DECIDED) {
		csv_row("phase", "winner", tp->winner_name);
		csv_row("phase", "decided_at", tp->winner_at);
		csv_row("phase", "reason", tp->reason);
	}
	for (unsigned i = 0; i < f->count; i++) {
		const struct test_phase_row *r = &f->rows[i];

		buf_reset(&v);
		buf_printf(&v, "%" PRIu64, r->figures.delivered);
		csv_row(r->name, "delivered", buf_str(&v));
		buf_reset(&v);
		buf_printf(&v, "%" PRIu64, tp->metric == WINNER_CLICKS ?
		    r->figures.clickers : r->figures.converters);
		csv_row(r->name, "events", buf_str(&v));
		buf_reset(&v);
		buf_printf(&v, "%.2f", r->figures.revenue);
		csv_row(r->name, "revenue", buf_str(&v));
		buf_reset(&v);
		buf_printf(&v, "%.6f", r->rate);
		csv_row(r->name, "rate", buf_str(&v));
		buf_reset(&v);
		if (r->has_z)
			buf_printf(&v, "%.4f", r->z);
		csv_row(r->name, "z", r->has_z ? buf_str(&v) : NULL);
	}
	buf_free(&v);
}

int
test_phase_print(MYSQL *db, const char *mailing_id,
    enum test_phase_output output, const char *before, struct buf *err)
{
	struct test_phase tp;
	struct test_phase_figures f;
	uint64_t id = strtoull(mailing_id, NULL, 10);

	memset(&f, 0, sizeof(f));
	if (test_phase_read(db, id, &tp, err) != 0 ||
	    (tp.state != TEST_PHASE_NONE && test_phase_figures_read(db, id,
	    &tp, &f, err) != 0))
		return -1;
	if (output == TEST_PHASE_JSON) {
		fputs(before, stdout);
		if (tp.state == TEST_PHASE_NONE)
			fputs("null", stdout);
		else
			print_json(&tp, &f);
	} else if (tp.state != TEST_PHASE_NONE) {
		fputs(before, stdout);
		if (output == TEST_PHASE_CSV)
			print_csv(&tp, &f);
		else
			print_text(output, &tp, &f);
	}
	test_phase_figures_free(&f);
	return 0;
}
