/*
 * fuzz_csv.c - fuzz target for the streaming CSV/TSV reader, which reads
 * whatever file or URL an import is given.
 *
 * The first byte picks CSV or TSV and a chunk size; the rest is fed in
 * chunks of that size, then finished. What must hold: every record has
 * an error or at most CSV_FIELDS_MAX fields whose lengths sum to at most
 * CSV_RECORD_MAX; an error record has no fields; line numbers never go
 * back; its raw text is no longer than CSV_RECORD_MAX.
 *
 * Built with libFuzzer by "make fuzz-csv" (clang), and replayed over
 * tests/fuzz/corpus/csv by the test command (replay.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
check_record(void *arg, const struct csv_record *rec)
{
	unsigned long long *last_line = arg;
	size_t total = 0;

	if (rec->line < *last_line || rec->raw_length > CSV_RECORD_MAX)
		abort();
	*last_line = rec->line;
	if (rec->error) {
		if (rec->count != 0)
			abort();
		return 0;
	}
	if (rec->count == 0 || rec->count > CSV_FIELDS_MAX)
		abort();
	for (unsigned i = 0; i < rec->count; i++) {
		if (strlen(rec->fields[i]) > rec->lengths[i])
			abort();
		total += rec->lengths[i];
	}
	if (total > CSV_RECORD_MAX)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long long last_line = 0;
	struct csv_reader *r;
	size_t step;

	if (size == 0)
		return 0;
	r = csv_reader_new(data[0] & 1, check_record, &last_line);
	step = (size_t)(data[0] >> 1) + 1;
	data++;
	size--;
	for (size_t i = 0; i < size; i += step)
		csv_feed(r, (const char *)data + i, size - i < step ?
		    size - i : step);
	csv_finish(r);
	csv_reader_free(r);
	return 0;
}
