/*
 * csv.c - streaming CSV/TSV reader (see csv.h).
 *
 * A byte-at-a-time state machine; the current record's field bytes and
 * its raw text accumulate in two buffers that are reused for the next
 * record. A UTF-8 byte-order mark at the very start of the input is
 * dropped, even when it arrives split over several chunks.
 */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

#define STRINGIFY(x) #x
#define TEXT_OF(x) STRINGIFY(x)

enum csv_state {
	FIELD_START,	/* at the start of a field */
	UNQUOTED,	/* inside an unquoted field */
	QUOTED,		/* inside quotes */
	QUOTE_IN_QUOTED,/* saw '"' inside quotes: end, or a doubled quote */
	AFTER_CR,	/* saw CR outside quotes: expect LF */
};

struct csv_reader {
	int tsv;
	csv_record_fn *fn;
	void *arg;
	enum csv_state state;
	unsigned long long line;	/* current physical line */
	unsigned long long record_line;
	struct buf data;		/* field bytes, NUL after each */
	struct buf raw;			/* the record as written */
	size_t *starts;			/* field offsets into data */
	size_t *lengths;
	const char **fields;
	unsigned count, capacity;
	const char *error;
	int overflow;			/* record over CSV_RECORD_MAX */
	int too_many;			/* record over CSV_FIELDS_MAX */
	int pending;			/* bytes seen since the last record */
	int bom_matched;		/* BOM bytes held back, -1 once past */
};

/* Spreadsheets (Excel's "CSV UTF-8") start the file with it. */
static const char utf8_bom[3] = { '\xef', '\xbb', '\xbf' };

struct csv_reader *
csv_reader_new(int tsv, csv_record_fn *fn, void *arg)
{
	struct csv_reader *r = xcalloc(1, sizeof(*r));

	r->tsv = tsv;
	r->fn = fn;
	r->arg = arg;
	r->line = 1;
	r->record_line = 1;
	r->bom_matched = 0;
	return r;
}

void
csv_reader_free(struct csv_reader *r)
{
	if (r == NULL)
		return;
	buf_free(&r->data);
	buf_free(&r->raw);
	free(r->starts);
	free(r->lengths);
	free(r->fields);
	free(r);
}

/* Past CSV_FIELDS_MAX the record is refused: further fields are not
 * kept (their bytes join the last one), so memory stays bounded. */
static void
field_begin(struct csv_reader *r)
{
	if (r->count == CSV_FIELDS_MAX) {
		r->too_many = 1;
		return;
	}
	if (r->count == r->capacity) {
		r->capacity = r->capacity ? r->capacity * 2 : 16;
		r->starts = xrealloc(r->starts, r->capacity * sizeof(size_t));
		r->lengths = xrealloc(r->lengths, r->capacity *
		    sizeof(size_t));
		r->fields = xrealloc(r->fields, r->capacity * sizeof(char *));
	}
	r->starts[r->count++] = r->data.len;
}

static void
field_end(struct csv_reader *r)
{
	r->lengths[r->count - 1] = r->data.len - r->starts[r->count - 1];
	if (!r->too_many)	/* else the last field goes on */
		buf_append_char(&r->data, '\0');
}

static void
add_byte(struct csv_reader *r, char c)
{
	if (r->data.len >= CSV_RECORD_MAX) {
		r->overflow = 1;
		return;
	}
	buf_append_char(&r->data, c);
}

static void
record_error(struct csv_reader *r, const char *message)
{
	if (r->error == NULL)
		r->error = message;
}

/* Delivers the record and resets for the next one. */
static int
record_end(struct csv_reader *r)
{
	struct csv_record rec;
	int status;

	field_end(r);
	if (r->too_many)
		record_error(r, "record with more than " TEXT_OF(CSV_FIELDS_MAX)
		    " fields (the most a record may have)");
	if (r->overflow)
		record_error(r, "record longer than 1 MB");
	for (unsigned i = 0; i < r->count; i++)
		r->fields[i] = r->data.data + r->starts[i];
	memset(&rec, 0, sizeof(rec));
	rec.line = r->record_line;
	rec.error = r->error;
	rec.count = r->error ? 0 : r->count;
	rec.fields = r->fields;
	rec.lengths = r->lengths;
	rec.raw = buf_str(&r->raw);
	rec.raw_length = r->raw.len;
	status = r->fn(r->arg, &rec);
	buf_reset(&r->data);
	buf_reset(&r->raw);
	r->count = 0;
	r->error = NULL;
	r->overflow = 0;
	r->too_many = 0;
	r->pending = 0;
	r->state = FIELD_START;
	r->record_line = r->line;
	return status;
}

static void
raw_byte(struct csv_reader *r, char c)
{
	if (r->raw.len < CSV_RECORD_MAX)
		buf_append_char(&r->raw, c);
}

/*
 * At the start of the input: holds back the bytes that may begin a BOM.
 * Returns how many bytes of p it consumed; *replay is set when bytes held
 * back turned out not to be a BOM and must be parsed after all (the
 * first *replay bytes of utf8_bom).
 */
static size_t
bom_skip(struct csv_reader *r, const char *p, size_t length, int *replay)
{
	size_t i = 0;

	*replay = 0;
	while (i < length && r->bom_matched < 3 &&
	    p[i] == utf8_bom[r->bom_matched]) {
		i++;
		r->bom_matched++;
	}
	if (r->bom_matched == 3) {
		r->bom_matched = -1;
	} else if (i < length) {
		*replay = r->bom_matched;
		r->bom_matched = -1;
	}
	return i;
}

static int csv_parse(struct csv_reader *r, const char *p, size_t length);

int
csv_feed(struct csv_reader *r, const char *p, size_t length)
{
	int replay, status;
	size_t skipped;

	if (r->bom_matched >= 0) {
		skipped = bom_skip(r, p, length, &replay);
		if (replay && (status = csv_parse(r, utf8_bom, replay)))
			return status;
		p += skipped;
		length -= skipped;
	}
	return csv_parse(r, p, length);
}

/* The state machine proper, past any BOM. */
static int
csv_parse(struct csv_reader *r, const char *p, size_t length)
{
	char sep = r->tsv ? '\t' : ',';
	int status;

	for (size_t i = 0; i < length; i++) {
		char c = p[i];

		r->pending = 1;
		if (r->count == 0)
			field_begin(r);
		if (c == '\n')
			r->line++;
		switch (r->state) {
		case AFTER_CR:
			if (c == '\n') {
				if ((status = record_end(r)))
					return status;
				continue;
			}
			/* A lone CR is data of an unquoted field. */
			add_byte(r, '\r');
			raw_byte(r, '\r');
			r->state = UNQUOTED;
			/* fall through */
		case FIELD_START:
		case UNQUOTED:
			if (c == sep) {
				field_end(r);
				field_begin(r);
				r->state = FIELD_START;
			} else if (c == '\n') {
				if ((status = record_end(r)))
					return status;
				continue;
			} else if (c == '\r') {
				r->state = AFTER_CR;
				continue;	/* raw gets it if not CRLF */
			} else if (c == '"' && !r->tsv &&
			    r->state == FIELD_START) {
				r->state = QUOTED;
			} else {
				/* A quote inside an unquoted field is data,
				 * as most writers and readers take it. */
				add_byte(r, c);
				r->state = UNQUOTED;
			}
			break;
		case QUOTED:
			if (c == '"')
				r->state = QUOTE_IN_QUOTED;
			else
				add_byte(r, c);
			break;
		case QUOTE_IN_QUOTED:
			if (c == '"') {
				add_byte(r, '"');
				r->state = QUOTED;
			} else if (c == sep) {
				field_end(r);
				field_begin(r);
				r->state = FIELD_START;
			} else if (c == '\n') {
				if ((status = record_end(r)))
					return status;
				continue;
			} else if (c == '\r') {
				r->state = AFTER_CR;
				continue;
			} else {
				record_error(r, "text after a closing quote: "
				    "expected a comma or the end of the line");
				add_byte(r, c);
				r->state = UNQUOTED;
			}
			break;
		}
		raw_byte(r, c);
	}
	return 0;
}

int
csv_finish(struct csv_reader *r)
{
	int status;

	/* Input that is only the start of a BOM: those bytes are data. */
	if (r->bom_matched > 0 && (status = csv_parse(r, utf8_bom,
	    (size_t)r->bom_matched)))
		return status;
	r->bom_matched = -1;
	if (!r->pending)
		return 0;
	if (r->state == QUOTED)
		record_error(r, "a quote is never closed: the field runs to "
		    "the end of the file");
	if (r->state == AFTER_CR)
		r->state = FIELD_START;
	if (r->count == 0)
		field_begin(r);
	return record_end(r);
}
