/*
 * csv.h - a streaming reader of CSV (RFC 4180) and TSV records.
 *
 * Bytes are fed in chunks of any size (csv_feed), as they arrive from a
 * file or a network transfer; each complete record is handed to the
 * caller's callback with its fields and the line it started on, then
 * forgotten, so memory stays bounded by the longest record (itself
 * capped: a longer record is reported as an error, not kept).
 *
 * CSV: fields separated by commas, optionally in double quotes; inside
 * quotes a doubled quote is a quote and commas and line breaks are data;
 * a quote inside an unquoted field is data too (37°36'37.8"N).
 * Records end with LF or CRLF. TSV (IANA text/tab-separated-values):
 * fields separated by tabs, no quoting. Either way a UTF-8 byte-order
 * mark (EF BB BF) at the start of the input is not part of the first
 * field: spreadsheets write one. A record that cannot be read
 * (text after a closing quote, a quote never closed, a record over
 * CSV_RECORD_MAX bytes or CSV_FIELDS_MAX fields) comes with an error
 * message instead of fields, and reading goes on with the next record.
 * Memory stays bounded whatever the input: 16 MB of commas is one
 * record refused, not 16 million fields kept.
 */
#ifndef HERALD_CSV_H
#define HERALD_CSV_H

#include <stddef.h>

#include "buf.h"

#define CSV_RECORD_MAX (1 << 20)	/* bytes of one record */
#define CSV_FIELDS_MAX 16384		/* fields of one record: a
					 * spreadsheet's most columns */

/*
 * One record: count fields (pointers into the reader's buffer, each
 * NUL-terminated, with its length), or error set (fields then empty).
 * raw is the record's original text (without its line break). Return 0
 * to go on, non-zero to stop reading (csv_feed returns it).
 */
struct csv_record {
	unsigned long long line;	/* where the record starts, from 1 */
	unsigned count;
	const char *const *fields;
	const size_t *lengths;
	const char *error;		/* NULL for a good record */
	const char *raw;
	size_t raw_length;
};

typedef int csv_record_fn(void *arg, const struct csv_record *record);

struct csv_reader;

struct csv_reader *csv_reader_new(int tsv, csv_record_fn *fn, void *arg);
void csv_reader_free(struct csv_reader *r);

/* Feeds bytes; returns the callback's first non-zero value, else 0. */
int csv_feed(struct csv_reader *r, const char *data, size_t length);

/* Ends the input: a last record without a line break is delivered, and
 * a quote still open is reported. Returns as csv_feed(). */
int csv_finish(struct csv_reader *r);

#endif
