/*
 * test_csv.c - the streaming CSV/TSV reader: the csv-spectrum suite
 * (../shared/testdata/csv-spectrum, read in place) parsed whole and one
 * byte at a time, and the errors and limits of csv.h.
 */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "csv.h"

/* Records collected as JSON: [[field, ...], ...], errors as strings. */
static int
collect(void *arg, const struct csv_record *rec)
{
	json_t *rows = arg, *row;

	if (rec->error) {
		json_array_append_new(rows, json_string(rec->error));
		return 0;
	}
	row = json_array();
	for (unsigned i = 0; i < rec->count; i++)
		json_array_append_new(row, json_stringn(rec->fields[i],
		    rec->lengths[i]));
	json_array_append_new(rows, row);
	return 0;
}

static json_t *
parse(const char *text, size_t length, int tsv, size_t step)
{
	json_t *rows = json_array();
	struct csv_reader *r = csv_reader_new(tsv, collect, rows);

	for (size_t i = 0; i < length; i += step)
		csv_feed(r, text + i, length - i < step ? length - i : step);
	csv_finish(r);
	csv_reader_free(r);
	return rows;
}

static char *
slurp(const char *path, size_t *length)
{
	FILE *fp = fopen(path, "rb");
	char *data;
	long n;

	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	data = malloc((size_t)n + 1);
	*length = fread(data, 1, (size_t)n, fp);
	data[*length] = '\0';
	fclose(fp);
	return data;
}

/* Line ends normalised: some checkouts of the suite lost their CRs. */
static char *
normalised(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	for (; *s; s++)
		if (!(s[0] == '\r' && s[1] == '\n'))
			*o++ = *s;
	*o = '\0';
	return out;
}

START_TEST(csv_spectrum)
{
	char dir[1024], path[1200];
	DIR *d;
	struct dirent *e;
	int files = 0, failures = 0;

	snprintf(dir, sizeof(dir), "%s/csv-spectrum/csvs", HERALD_TESTDATA);
	d = opendir(dir);
	if (d == NULL) {
		printf("SKIPPED: csv-spectrum is not at %s\n", dir);
		return;
	}
	while ((e = readdir(d))) {
		size_t length, json_length, name_length = strlen(e->d_name);
		char *text, *expected_text;
		json_t *expected, *got;
		size_t steps[] = { 1, 7, 1 << 20 };

		if (name_length < 5 || strcmp(e->d_name + name_length - 4,
		    ".csv"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		text = slurp(path, &length);
		snprintf(path, sizeof(path), "%s/../json/%.*s.json", dir,
		    (int)name_length - 4, e->d_name);
		expected_text = slurp(path, &json_length);
		ck_assert_ptr_nonnull(expected_text);
		expected = json_loads(expected_text, 0, NULL);
		ck_assert_ptr_nonnull(expected);
		if (json_is_object(expected)) {
			json_t *one = json_array();

			json_array_append_new(one, expected);
			expected = one;
		}
		for (unsigned s = 0; s < 3; s++) {
			size_t i;
			json_t *header, *row;
			int ok = 1;

			got = parse(text, length, 0, steps[s]);
			header = json_array_get(got, 0);
			ok = json_array_size(got) == json_array_size(expected) + 1;
			json_array_foreach(expected, i, row) {
				json_t *fields = json_array_get(got, i + 1);
				size_t k;
				json_t *name;

				if (!ok || !json_is_array(fields))
					break;
				json_array_foreach(header, k, name) {
					const char *want = json_string_value(
					    json_object_get(row,
					    json_string_value(name)));
					const char *have = json_string_value(
					    json_array_get(fields, k));
					char *a, *b;

					if (!want || !have) {
						ok = 0;
						break;
					}
					/* The suite's JSON for this file gives
					 * another phone number than its CSV. */
					if (!strcmp(e->d_name,
					    "location_coordinates.csv") &&
					    !strcmp(json_string_value(name),
					    "Contact Phone Number"))
						continue;
					a = normalised(want);
					b = normalised(have);
					ok = ok && strcmp(a, b) == 0;
					free(a);
					free(b);
				}
			}
			if (!ok) {
				char *dump = json_dumps(got, 0);

				printf("  FAIL %s (chunks of %zu): %s\n",
				    e->d_name, steps[s], dump);
				free(dump);
				failures++;
			}
			json_decref(got);
		}
		files++;
		json_decref(expected);
		free(text);
		free(expected_text);
	}
	closedir(d);
	printf("csv-spectrum: %d files, %d passed (whole, 7-byte and "
	    "1-byte chunks)\n", files, files - failures / 3);
	ck_assert_int_gt(files, 0);
	ck_assert_int_eq(failures, 0);
}
END_TEST

static void
expect_records(const char *text, int tsv, const char *want)
{
	json_t *got = parse(text, strlen(text), tsv, 3);
	char *dump = json_dumps(got, JSON_COMPACT);

	ck_assert_msg(strcmp(dump, want) == 0, "%s:\n got  %s\n want %s",
	    text, dump, want);
	free(dump);
	json_decref(got);
}

START_TEST(errors_and_edges)
{
	expect_records("a,b\r\n1,2", 0, "[[\"a\",\"b\"],[\"1\",\"2\"]]");
	expect_records("a\n\"x\ny\",z\n", 0, "[[\"a\"],[\"x\\ny\",\"z\"]]");
	expect_records("a\nx\"y\n", 0, "[[\"a\"],[\"x\\\"y\"]]");
	expect_records("a\n\"x\"y\n", 0, "[[\"a\"],\"text after a closing "
	    "quote: expected a comma or the end of the line\"]");
	expect_records("a\n\"never closed,1\n2\n", 0, "[[\"a\"],\"a quote is "
	    "never closed: the field runs to the end of the file\"]");
	/* The error costs one record; the next one reads fine. */
	expect_records("a\n\"x\"y\nz\n", 0, "[[\"a\"],\"text after a "
	    "closing quote: expected a comma or the end of the line\","
	    "[\"z\"]]");
	expect_records("a\tb\n\"1\"\t2\n", 1, "[[\"a\",\"b\"],[\"\\\"1\\\"\","
	    "\"2\"]]");
	expect_records("", 0, "[]");
}
END_TEST

/* The first record's fields joined by '|', bytes as read. */
static int
join_first(void *arg, const struct csv_record *rec)
{
	struct buf *out = arg;

	if (out->len || rec->error)
		return 0;
	for (unsigned i = 0; i < rec->count; i++) {
		if (i)
			buf_append_char(out, '|');
		buf_append(out, rec->fields[i], rec->lengths[i]);
	}
	if (rec->count == 0)
		buf_append_str(out, "(none)");
	return 0;
}

/* A UTF-8 byte-order mark starts the input, fed whole or byte by byte. */
static void
expect_bom(const char *text, int tsv, const char *want)
{
	for (size_t step = 1; step <= 4; step++) {
		struct buf got = BUF_INIT;
		struct csv_reader *r = csv_reader_new(tsv, join_first, &got);
		size_t length = strlen(text);

		for (size_t i = 0; i < length; i += step)
			csv_feed(r, text + i, length - i < step ? length - i :
			    step);
		csv_finish(r);
		csv_reader_free(r);
		ck_assert_msg(strcmp(buf_str(&got), want) == 0, "chunks of "
		    "%zu: got \"%s\", want \"%s\"", step, buf_str(&got),
		    want);
		buf_free(&got);
	}
}

START_TEST(byte_order_mark)
{
	expect_bom("\xef\xbb\xbf" "email,name\nx@y,z\n", 0, "email|name");
	expect_bom("\xef\xbb\xbf" "email\tname\nx@y\tz\n", 1, "email|name");
	expect_bom("\xef\xbb\xbf\"email\",name\n", 0, "email|name");
	/* Only at the start, only whole: other bytes stay data. */
	expect_bom("a,\xef\xbb\xbf\n", 0, "a|\xef\xbb\xbf");
	expect_bom("\xef\xbb" "a\n", 0, "\xef\xbb" "a");
	expect_bom("\xef\xbb", 0, "\xef\xbb");
	expect_bom("\xef\xbb\xbf", 0, "");
	expect_bom("\xef\xbb\xbf\xef\xbb\xbf" "a\n", 0, "\xef\xbb\xbf" "a");
}
END_TEST

static int
count_lines(void *arg, const struct csv_record *rec)
{
	unsigned long long *lines = arg;

	lines[rec->error ? 1 : 0] = rec->line;
	return 0;
}

START_TEST(line_numbers_and_limits)
{
	unsigned long long lines[2] = { 0, 0 };
	struct csv_reader *r = csv_reader_new(0, count_lines, lines);
	char *big = malloc(CSV_RECORD_MAX + 10);

	csv_feed(r, "h\n\"a\nb\nc\"\nnext\n", 15);
	ck_assert_uint_eq(lines[0], 5);	/* "next" starts on line 5 */
	memset(big, 'x', CSV_RECORD_MAX + 9);
	big[CSV_RECORD_MAX + 9] = '\n';
	csv_feed(r, big, CSV_RECORD_MAX + 10);
	ck_assert_uint_eq(lines[1], 6);	/* over 1 MB: an error, line 6 */
	csv_reader_free(r);
	free(big);
}
END_TEST

/* Records seen: good ones and the last error. */
struct tally {
	unsigned good, bad;
	unsigned long long error_line;
	char error[128];
};

static int
tally_record(void *arg, const struct csv_record *rec)
{
	struct tally *t = arg;

	if (rec->error) {
		t->bad++;
		t->error_line = rec->line;
		snprintf(t->error, sizeof(t->error), "%s", rec->error);
	} else {
		t->good++;
	}
	return 0;
}

/* 16 MB of commas made one record of 16.7 million fields and 407 MB of
 * memory, with no error: now one record refused, memory bounded. */
START_TEST(commas_are_refused_with_bounded_memory)
{
	struct tally t = { 0 };
	struct csv_reader *r = csv_reader_new(0, tally_record, &t);
	struct rusage before, after;
	char chunk[65536];

	memset(chunk, ',', sizeof(chunk));
	getrusage(RUSAGE_SELF, &before);
	csv_feed(r, "email\n", 6);
	for (int i = 0; i < 256; i++)		/* 16 MB */
		csv_feed(r, chunk, sizeof(chunk));
	csv_feed(r, "\nzoe@example.org\n", 17);
	csv_finish(r);
	getrusage(RUSAGE_SELF, &after);
	ck_assert_uint_eq(t.good, 2);		/* the header and zoe */
	ck_assert_uint_eq(t.bad, 1);
	ck_assert_uint_eq(t.error_line, 2);
	ck_assert_str_eq(t.error, "record with more than 16384 fields (the "
	    "most a record may have)");
	/* Peak RSS grew by far less than the input (kB). */
	ck_assert_int_lt(after.ru_maxrss - before.ru_maxrss, 16 * 1024);
	csv_reader_free(r);
}
END_TEST

START_TEST(the_field_limit_is_exact)
{
	struct tally t = { 0 };
	struct csv_reader *r = csv_reader_new(1, tally_record, &t);
	char line[CSV_FIELDS_MAX * 2 + 2];

	/* CSV_FIELDS_MAX fields (TSV): kept; one more: refused. */
	memset(line, '\t', sizeof(line));
	for (int i = 0; i < CSV_FIELDS_MAX; i++)
		line[2 * i] = 'x';
	line[2 * CSV_FIELDS_MAX - 1] = '\n';
	csv_feed(r, line, 2 * CSV_FIELDS_MAX);
	ck_assert_uint_eq(t.good, 1);
	line[2 * CSV_FIELDS_MAX - 1] = '\t';
	line[2 * CSV_FIELDS_MAX] = 'x';
	line[2 * CSV_FIELDS_MAX + 1] = '\n';
	csv_feed(r, line, sizeof(line));
	ck_assert_uint_eq(t.bad, 1);
	ck_assert_uint_eq(t.error_line, 2);
	csv_reader_free(r);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("csv");
	TCase *tc = tcase_create("csv");
	SRunner *runner;
	int failed;

	tcase_add_test(tc, csv_spectrum);
	tcase_add_test(tc, errors_and_edges);
	tcase_add_test(tc, byte_order_mark);
	tcase_add_test(tc, line_numbers_and_limits);
	tcase_add_test(tc, commas_are_refused_with_bounded_memory);
	tcase_add_test(tc, the_field_limit_is_exact);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_set_fork_status(runner, CK_NOFORK);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
