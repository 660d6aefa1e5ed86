/*
 * exposition.c - the Prometheus text exposition format (see
 * exposition.h).
 */
#include "exposition.h"

#include <math.h>
#include <stdio.h>

/* 2^53: every integer below it is a double. */
#define EXPOSITION_EXACT 9007199254740992.0

/* Appends text escaped: backslash and newline always, '"' in values. */
static void
exposition_escape(struct buf *page, const char *text, int in_value)
{
	for (; *text; text++) {
		if (*text == '\\')
			buf_append_str(page, "\\\\");
		else if (*text == '\n')
			buf_append_str(page, "\\n");
		else if (*text == '"' && in_value)
			buf_append_str(page, "\\\"");
		else
			buf_append_char(page, *text);
	}
}

void
exposition_family(struct buf *page, const char *name,
    enum exposition_type type, const char *help)
{
	buf_printf(page, "# HELP %s ", name);
	exposition_escape(page, help, 0);
	buf_printf(page, "\n# TYPE %s %s\n", name, type == EXPOSITION_COUNTER ?
	    "counter" : "gauge");
}

void
exposition_sample(struct buf *page, const char *name,
    const char *const *labels, unsigned label_count, double value)
{
	buf_append_str(page, name);
	for (unsigned i = 0; i < label_count; i++) {
		buf_printf(page, "%s%s=\"", i == 0 ? "{" : ",",
		    labels[2 * i]);
		exposition_escape(page, labels[2 * i + 1], 1);
		buf_append_char(page, '"');
	}
	if (label_count)
		buf_append_char(page, '}');
	/* Whole numbers (every count) print as integers, other values with
	 * every digit a double holds; the format's own spellings for the
	 * values that are not numbers. */
	if (isnan(value))
		buf_append_str(page, " NaN\n");
	else if (isinf(value))
		buf_append_str(page, value > 0 ? " +Inf\n" : " -Inf\n");
	else if (value > -EXPOSITION_EXACT && value < EXPOSITION_EXACT &&
	    value == (double)(long long)value)
		buf_printf(page, " %lld\n", (long long)value);
	else
		buf_printf(page, " %.17g\n", value);
}
