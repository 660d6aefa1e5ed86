/*
 * import.c - streaming recipient import (see import.h).
 *
 * The pieces, in the order data flows:
 *	source		a file or a libcurl transfer (source.h);
 *	csv reader	records out of the chunks (csv.h);
 *	row check	columns mapped by the header, values checked, the
 *			row written as one line of LOAD DATA text, or
 *			rejected with its line number and reason;
 *	LOCAL INFILE	MariaDB's client pulls those lines through the
 *			handler set with mysql_set_local_infile_handler();
 *	merge/replace	SQL from the scratch table into recipients.
 */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "address.h"
#include "csv.h"
#include "date.h"
#include "db.h"
#include "encode.h"
#include "log.h"
#include "source.h"
#include "zone.h"

#define IMPORT_CHUNK 65536
#define ATTRIBUTE_MAX 65535	/* one attribute value, bytes */
#define ZONES_REMEMBERED 1024	/* more than the tz database has */

enum column_kind { COL_TEXT, COL_DECIMAL, COL_INTEGER, COL_DATE, COL_COUNTRY,
    COL_ZONE };

/* The recipients columns a file may set, in the scratch table's order. */
static const struct known_column {
	const char *name;
	enum column_kind kind;
	size_t max;		/* characters for text */
	int not_null;		/* recipients column is NOT NULL DEFAULT 0 */
} known[] = {
	{ "email", COL_TEXT, 254, 0 },
	{ "first_name", COL_TEXT, 100, 0 },
	{ "last_name", COL_TEXT, 100, 0 },
	{ "address", COL_TEXT, 255, 0 },
	{ "city", COL_TEXT, 100, 0 },
	{ "state", COL_TEXT, 64, 0 },
	{ "zip", COL_TEXT, 16, 0 },
	{ "country", COL_COUNTRY, 2, 0 },
	{ "donated_total", COL_DECIMAL, 0, 1 },
	{ "donation_count", COL_INTEGER, 0, 1 },
	{ "last_donation_amount", COL_DECIMAL, 0, 0 },
	{ "last_donation_at", COL_DATE, 0, 0 },
	{ "time_zone", COL_ZONE, ZONE_NAME_MAX, 0 },
};
#define KNOWN_COUNT (sizeof(known) / sizeof(known[0]))

struct importer {
	const struct import_options *o;
	struct import_report *report;
	struct buf *err;
	struct source src;
	struct csv_reader *csv;
	int header_done;
	int eof;
	int failed;
	/* Per file column: a known column index, or -1 for an attribute. */
	int *map;
	char **attribute_names;
	unsigned columns;
	int present[KNOWN_COUNT];
	struct buf out;		/* LOAD DATA lines not yet handed over */
	size_t out_pos;
	struct buf field;	/* scratch for one value */
	struct buf attrs;
	/* Reused from row to row: no allocation per row once grown. */
	struct buf line, reason, normalized, why;
	struct buf kept[KNOWN_COUNT];
	struct timespec started, drawn;
	unsigned long long lines_loaded;
	/* Zone names found in zoneinfo already: one file check per name,
	 * not one per row. */
	char *zones[ZONES_REMEMBERED];
	unsigned zone_count;
};

/* --- checking and writing rows ------------------------------------------- */

static double
seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void
progress_draw(struct importer *im, int last)
{
	double elapsed = seconds_since(&im->started);
	double rate = elapsed > 0 ? (double)im->report->rows / elapsed : 0;
	long long size = im->src.size;

	if (!im->o->progress || (!last && seconds_since(&im->drawn) < 0.25))
		return;
	clock_gettime(CLOCK_MONOTONIC, &im->drawn);
	fprintf(stderr, "\r  %.1f MB, %llu %s, %.0f rows/s",
	    (double)im->report->bytes / 1e6, im->report->rows,
	    msg_plural(im->report->rows, "row", "rows"), rate);
	if (size > 0) {
		double done = (double)im->report->bytes / (double)size;
		double eta = done > 0 ? elapsed / done - elapsed : 0;

		fprintf(stderr, ", %3.0f%%, ETA %d:%02d  ", done * 100,
		    (int)eta / 60, (int)eta % 60);
	}
	if (last)
		fputc('\n', stderr);
	fflush(stderr);
}

/* Writes one CSV field of the reject file. */
static void
reject_field(FILE *fp, const char *s, size_t length)
{
	fputc('"', fp);
	for (size_t i = 0; i < length; i++) {
		if (s[i] == '"')
			fputc('"', fp);
		fputc(s[i], fp);
	}
	fputc('"', fp);
}

static void
reject(struct importer *im, const struct csv_record *rec,
    const char *reason)
{
	im->report->rejected++;
	if (im->o->rejects == NULL)
		return;
	fprintf(im->o->rejects, "%llu,", rec->line);
	reject_field(im->o->rejects, reason, strlen(reason));
	fputc(',', im->o->rejects);
	reject_field(im->o->rejects, rec->raw, rec->raw_length);
	fputc('\n', im->o->rejects);
}

/* LOAD DATA text: backslash escapes for the separators and itself. */
static void
load_escape(struct buf *out, const char *s, size_t length)
{
	size_t run = 0;

	for (size_t i = 0; i < length; i++) {
		const char *e = NULL;

		switch (s[i]) {
		case '\\': e = "\\\\"; break;
		case '\t': e = "\\t"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		default: continue;
		}
		buf_append(out, s + run, i - run);
		buf_append(out, e, 2);
		run = i + 1;
	}
	buf_append(out, s + run, length - run);
}

static size_t
utf8_characters(const char *s, size_t length)
{
	size_t n = 0;

	for (size_t i = 0; i < length; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

static int
valid_number(const char *s, int decimal)
{
	size_t i = 0, digits = 0, dots = 0;

	if (s[0] == '-' && decimal)
		i++;
	for (; s[i]; i++) {
		if (s[i] == '.' && decimal && !dots)
			dots++;
		else if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else
			return 0;
	}
	return digits > 0 && digits <= 12;
}

/* Checks one known column's value; "" when fine, else the reason. */
static const char *
check_value(const struct known_column *k, char *value, size_t length,
    struct buf *reason)
{
	buf_reset(reason);
	switch (k->kind) {
	case COL_TEXT:
		if (utf8_characters(value, length) > k->max)
			buf_printf(reason, "%s is longer than %zu characters",
			    k->name, k->max);
		break;
	case COL_COUNTRY:
		if (length != 2 || !((value[0] | 32) >= 'a' && (value[0] |
		    32) <= 'z' && (value[1] | 32) >= 'a' && (value[1] | 32) <=
		    'z'))
			buf_printf(reason, "country \"%s\" is not a two-letter "
			    "code", value);
		value[0] &= ~32;	/* upper case */
		value[1] &= ~32;
		break;
	case COL_DECIMAL:
	case COL_INTEGER:
		if (!valid_number(value, k->kind == COL_DECIMAL))
			buf_printf(reason, "%s \"%s\" is not a%s number",
			    k->name, value, k->kind == COL_DECIMAL ? "" :
			    " whole");
		break;
	case COL_DATE:
		if (!date_valid(value))
			buf_printf(reason, "%s \"%s\" is not a date "
			    "(YYYY-MM-DD)", k->name, value);
		break;
	case COL_ZONE:
		break;		/* zone_known(): it names the column */
	}
	return buf_str(reason);
}

/*
 * Is name a zone of the system's tz database? Remembers the names found,
 * so a file of millions of rows reads each zone's file once. A bad name
 * gives the reason with its column number (1 = the first).
 */
static int
zone_known(struct importer *im, const char *name, unsigned column,
    struct buf *reason)
{
	for (unsigned i = 0; i < im->zone_count; i++)
		if (strcmp(im->zones[i], name) == 0)
			return 1;
	buf_reset(&im->why);
	if (zone_check(name, &im->why) != 0) {
		buf_printf(reason, "column %u (time_zone): %s", column,
		    buf_str(&im->why));
		return 0;
	}
	if (im->zone_count < ZONES_REMEMBERED)
		im->zones[im->zone_count++] = xstrdup(name);
	return 1;
}

/* Trims spaces and tabs around a field, in place. */
static char *
trimmed(const char *field, size_t length, size_t *out_length, struct buf *b)
{
	size_t start = 0, end = length;

	while (start < end && (field[start] == ' ' || field[start] == '\t'))
		start++;
	while (end > start && (field[end - 1] == ' ' || field[end - 1] ==
	    '\t'))
		end--;
	buf_reset(b);
	buf_append(b, field + start, end - start);
	*out_length = end - start;
	return b->data ? b->data : (char *)"";
}

static int
row_check(struct importer *im, const struct csv_record *rec)
{
	struct buf *line = &im->line, *reason = &im->reason,
	    *normalized = &im->normalized, *kept = im->kept;
	const char *values[KNOWN_COUNT] = { 0 };
	unsigned attributes = 0;
	int ok = 0;

	buf_reset(line);
	buf_reset(reason);
	buf_reset(&im->attrs);
	buf_append_char(&im->attrs, '{');
	if (rec->count != im->columns) {
		buf_printf(reason, "%u fields, but the header has %u",
		    rec->count, im->columns);
		goto out;
	}
	for (unsigned c = 0; c < rec->count; c++) {
		const char *name = im->map[c] >= 0 ? known[im->map[c]].name :
		    im->attribute_names[c];
		size_t length;
		char *v;

		if (memchr(rec->fields[c], '\0', rec->lengths[c])) {
			buf_printf(reason, "a NUL byte in %s", name);
			goto out;
		}
		if (!encode_utf8_valid(rec->fields[c], rec->lengths[c])) {
			buf_printf(reason, "invalid UTF-8 in %s", name);
			goto out;
		}
		if (im->map[c] < 0) {
			if (rec->lengths[c] > ATTRIBUTE_MAX) {
				buf_printf(reason, "%s is longer than %d "
				    "bytes", name, ATTRIBUTE_MAX);
				goto out;
			}
			if (rec->lengths[c] == 0)
				continue;
			if (attributes++)
				buf_append_char(&im->attrs, ',');
			encode_json_string(&im->attrs, name, strlen(name));
			buf_append_char(&im->attrs, ':');
			encode_json_string(&im->attrs, rec->fields[c],
			    rec->lengths[c]);
			continue;
		}
		v = trimmed(rec->fields[c], rec->lengths[c], &length,
		    &kept[im->map[c]]);
		if (length == 0)
			continue;	/* NULL */
		if (im->map[c] == 0) {
			buf_reset(&im->why);
			if (address_check(v, length, normalized, &im->why) !=
			    0) {
				buf_printf(reason, "email \"%s\": %s", v,
				    buf_str(&im->why));
				goto out;
			}
			buf_reset(&kept[0]);
			buf_append(&kept[0], normalized->data, normalized->len);
			v = kept[0].data;
		} else if (known[im->map[c]].kind == COL_ZONE) {
			if (!zone_known(im, v, c + 1, reason))
				goto out;
		} else if (*check_value(&known[im->map[c]], v, length,
		    reason)) {
			goto out;
		}
		values[im->map[c]] = v;
	}
	if (values[0] == NULL) {
		buf_printf(reason, "no email");
		goto out;
	}
	buf_append_char(&im->attrs, '}');
	buf_printf(line, "%llu", rec->line);
	for (unsigned k = 0; k < KNOWN_COUNT; k++) {
		buf_append_char(line, '\t');
		if (values[k])
			load_escape(line, values[k], strlen(values[k]));
		else
			buf_append(line, "\\N", 2);
	}
	buf_append_char(line, '\t');
	if (attributes)
		load_escape(line, im->attrs.data, im->attrs.len);
	else
		buf_append(line, "\\N", 2);
	buf_append_char(line, '\n');
	buf_append(&im->out, line->data, line->len);
	im->lines_loaded++;
	ok = 1;
out:
	if (!ok)
		reject(im, rec, buf_str(reason));
	return 0;
}

/* Normalizes a header name: lower case, spaces and '-' as '_'. */
static void
header_key(const char *name, size_t length, struct buf *out)
{
	size_t start = 0, end = length;

	while (start < end && name[start] == ' ')
		start++;
	while (end > start && name[end - 1] == ' ')
		end--;
	buf_reset(out);
	for (size_t i = start; i < end; i++) {
		char c = name[i];

		buf_append_char(out, c == ' ' || c == '-' ? '_' :
		    (char)(c >= 'A' && c <= 'Z' ? c + 32 : c));
	}
}

static int
header_read(struct importer *im, const struct csv_record *rec)
{
	struct buf key = BUF_INIT;
	int status = -1;

	if (rec->error) {
		buf_printf(im->err, "%s: line %llu: the header row cannot be "
		    "read: %s", im->o->source, rec->line, rec->error);
		return -1;
	}
	im->columns = rec->count;
	im->map = xcalloc(rec->count, sizeof(int));
	im->attribute_names = xcalloc(rec->count, sizeof(char *));
	for (unsigned c = 0; c < rec->count; c++) {
		if (!encode_utf8_valid(rec->fields[c], rec->lengths[c]) ||
		    memchr(rec->fields[c], '\0', rec->lengths[c])) {
			buf_printf(im->err, "%s: line 1, column %u: the header "
			    "is not valid UTF-8 text", im->o->source, c + 1);
			goto out;
		}
		header_key(rec->fields[c], rec->lengths[c], &key);
		if (!strcmp(buf_str(&key), "e_mail") ||
		    !strcmp(buf_str(&key), "email_address"))
			buf_reset(&key), buf_append_str(&key, "email");
		if (!strcmp(buf_str(&key), "timezone"))
			buf_reset(&key), buf_append_str(&key, "time_zone");
		im->map[c] = -1;
		for (unsigned k = 0; k < KNOWN_COUNT; k++)
			if (strcmp(buf_str(&key), known[k].name) == 0)
				im->map[c] = (int)k;
		if (im->map[c] >= 0 && im->present[im->map[c]]++) {
			buf_printf(im->err, "%s: line 1: column \"%s\" appears "
			    "twice in the header", im->o->source,
			    known[im->map[c]].name);
			goto out;
		}
		if (im->map[c] < 0) {
			size_t s = 0, e = rec->lengths[c];

			while (s < e && rec->fields[c][s] == ' ')
				s++;
			while (e > s && rec->fields[c][e - 1] == ' ')
				e--;
			im->attribute_names[c] = xstrndup(rec->fields[c] + s,
			    e - s);
		}
	}
	if (!im->present[0]) {
		buf_printf(im->err, "%s: the header (line 1) has no email "
		    "column; columns are: ", im->o->source);
		for (unsigned c = 0; c < rec->count && c < 20; c++)
			buf_printf(im->err, "%s\"%s\"", c ? ", " : "",
			    rec->fields[c]);
		goto out;
	}
	status = 0;
out:
	buf_free(&key);
	return status;
}

static int
on_record(void *arg, const struct csv_record *rec)
{
	struct importer *im = arg;

	if (!im->header_done) {
		im->header_done = 1;
		return header_read(im, rec) ? -1 : 0;
	}
	if (!rec->error && rec->count == 1 && rec->lengths[0] == 0)
		return 0;	/* a blank line */
	im->report->rows++;
	if (rec->error) {
		reject(im, rec, rec->error);
		return 0;
	}
	return row_check(im, rec);
}

/* Reads one more chunk of source through the parser; 0 at the end. */
static int
importer_step(struct importer *im)
{
	struct buf chunk = BUF_INIT;
	int got = source_pull(&im->src, im->o->source, &chunk, im->err);

	if (got < 0) {
		im->failed = 1;
	} else if (got == 0) {
		if (csv_finish(im->csv) != 0)
			im->failed = 1;
		im->eof = 1;
	} else {
		im->report->bytes += chunk.len;
		if (csv_feed(im->csv, chunk.data, chunk.len) != 0)
			im->failed = 1;
		progress_draw(im, 0);
	}
	buf_free(&chunk);
	return im->failed ? -1 : !im->eof;
}

/* --- the LOCAL INFILE stream ------------------------------------------ */

static int
infile_init(void **ptr, const char *filename, void *userdata)
{
	(void)filename;
	*ptr = userdata;
	return 0;
}

static int
infile_read(void *ptr, char *out, unsigned int size)
{
	struct importer *im = ptr;
	size_t n;

	while (im->out_pos == im->out.len && !im->eof && !im->failed) {
		buf_reset(&im->out);
		im->out_pos = 0;
		importer_step(im);
	}
	if (im->failed)
		return -1;
	n = im->out.len - im->out_pos;
	if (n > size)
		n = size;
	if (n)
		memcpy(out, im->out.data + im->out_pos, n);
	im->out_pos += n;
	return (int)n;
}

static void
infile_end(void *ptr)
{
	(void)ptr;
}

static int
infile_error(void *ptr, char *message, unsigned int size)
{
	struct importer *im = ptr;

	snprintf(message, size, "%s", im->err->len ? buf_str(im->err) :
	    "the import stream failed");
	return 2000;	/* CR_UNKNOWN_ERROR */
}

/* --- into recipients -------------------------------------------------- */

static int
first_number(void *arg, unsigned ncolumns, char **col)
{
	unsigned long long *v = arg;

	for (unsigned i = 0; i < ncolumns; i++)
		v[i] = col[i] ? strtoull(col[i], NULL, 10) : 0;
	return 1;
}

/* "col = VALUES(col), ..." for the columns the file has. */
static void
update_list(const struct importer *im, struct buf *sql)
{
	for (unsigned k = 1; k < KNOWN_COUNT; k++)
		if (im->present[k])
			buf_printf(sql, "%s = VALUES(%s), ", known[k].name,
			    known[k].name);
}

/* ", col" (or ", i.col"/", COALESCE(i.col, 0)") per present column. */
static void
column_list(const struct importer *im, struct buf *sql, int select)
{
	for (unsigned k = 1; k < KNOWN_COUNT; k++) {
		if (!im->present[k])
			continue;
		if (!select)
			buf_printf(sql, ", %s", known[k].name);
		else if (known[k].not_null)
			buf_printf(sql, ", COALESCE(i.%s, 0)", known[k].name);
		else
			buf_printf(sql, ", i.%s", known[k].name);
	}
}

static int
import_merge(MYSQL *db, const struct importer *im, const char *scratch,
    struct buf *err)
{
	struct buf sql = BUF_INIT;
	int status;

	buf_append_str(&sql, "INSERT INTO recipients (email");
	column_list(im, &sql, 0);
	buf_append_str(&sql, ", attributes) SELECT i.email");
	column_list(im, &sql, 1);
	buf_printf(&sql, ", i.attributes FROM `%s` i ORDER BY i.line ON "
	    "DUPLICATE KEY UPDATE ", scratch);
	update_list(im, &sql);
	buf_append_str(&sql, "attributes = IF(VALUES(attributes) IS NULL, "
	    "recipients.attributes, JSON_MERGE_PATCH(COALESCE("
	    "recipients.attributes, '{}'), VALUES(attributes)))");
	status = db_exec(db, buf_str(&sql), err);
	buf_free(&sql);
	return status;
}

static int
import_replace(MYSQL *db, const struct importer *im, const char *scratch,
    struct buf *err)
{
	struct buf sql = BUF_INIT;
	unsigned long long next_id[2] = { 0, 0 };
	int status;

	status = db_exec(db, "DROP TABLE IF EXISTS recipients_new, "
	    "recipients_old", err);
	if (!status)
		status = db_exec(db, "CREATE TABLE recipients_new LIKE "
		    "recipients", err);
	/* Known addresses keep their id (history refers to it), their
	 * status (suppression sticks) and the columns the file lacks. */
	if (!status) {
		buf_append_str(&sql, "INSERT INTO recipients_new (id, email");
		for (unsigned k = 1; k < KNOWN_COUNT; k++)
			buf_printf(&sql, ", %s", known[k].name);
		buf_append_str(&sql, ", status, attributes, created_at) "
		    "SELECT r.id, i.email");
		for (unsigned k = 1; k < KNOWN_COUNT; k++) {
			if (!im->present[k])
				buf_printf(&sql, ", r.%s", known[k].name);
			else if (known[k].not_null)
				buf_printf(&sql, ", COALESCE(i.%s, 0)",
				    known[k].name);
			else
				buf_printf(&sql, ", i.%s", known[k].name);
		}
		buf_printf(&sql, ", r.status, i.attributes, r.created_at FROM "
		    "`%s` i JOIN recipients r ON r.email = i.email ORDER BY "
		    "i.line ON DUPLICATE KEY UPDATE ", scratch);
		for (unsigned k = 1; k < KNOWN_COUNT; k++)
			buf_printf(&sql, "%s = VALUES(%s), ", known[k].name,
			    known[k].name);
		buf_append_str(&sql, "attributes = VALUES(attributes)");
		status = db_exec(db, buf_str(&sql), err);
	}
	/* New ids start above every id ever given, so no id is reused. */
	if (!status)
		status = db_query_strings(db, "SELECT (SELECT COALESCE(MAX(id), "
		    "0) FROM recipients), (SELECT AUTO_INCREMENT FROM "
		    "information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
		    "AND TABLE_NAME = 'recipients')", 0, NULL, first_number,
		    next_id, err);
	if (!status) {
		unsigned long long start = next_id[0] + 1 > next_id[1] ?
		    next_id[0] + 1 : next_id[1];

		buf_reset(&sql);
		buf_printf(&sql, "ALTER TABLE recipients_new AUTO_INCREMENT = "
		    "%llu", start);
		status = db_exec(db, buf_str(&sql), err);
	}
	if (!status) {
		buf_reset(&sql);
		buf_append_str(&sql, "INSERT INTO recipients_new (email");
		column_list(im, &sql, 0);
		buf_append_str(&sql, ", attributes) SELECT i.email");
		column_list(im, &sql, 1);
		buf_printf(&sql, ", i.attributes FROM `%s` i WHERE NOT EXISTS "
		    "(SELECT 1 FROM recipients r WHERE r.email = i.email) "
		    "ORDER BY i.line ON DUPLICATE KEY UPDATE ", scratch);
		update_list(im, &sql);
		buf_append_str(&sql, "attributes = VALUES(attributes)");
		status = db_exec(db, buf_str(&sql), err);
	}
	/* The swap: readers see the old table or the new, never a mix. */
	if (!status)
		status = db_exec(db, "RENAME TABLE recipients TO recipients_old, "
		    "recipients_new TO recipients", err);
	if (!status)
		status = db_exec(db, "DROP TABLE recipients_old", err);
	if (!status)
		status = db_exec(db, "DELETE lm FROM list_members lm LEFT JOIN "
		    "recipients r ON r.id = lm.recipient_id WHERE r.id IS NULL",
		    err);
	buf_free(&sql);
	return status;
}

/* What replace would drop: every recipient whose address is not loaded. */
static int
replace_count_removed(MYSQL *db, struct import_report *report,
    struct buf *err)
{
	unsigned long long total = 0;

	if (db_query_strings(db, "SELECT COUNT(*) FROM recipients", 0, NULL,
	    first_number, &total, err) != 0)
		return -1;
	report->removed = total > report->updated ? total - report->updated :
	    0;
	return 0;
}

/*
 * The list and its members. With default_zone the list's default zone
 * is set first; then the loaded recipients still without a zone (an
 * empty time_zone, or no such column for a new address) take the
 * list's default, if it has one.
 */
static int
import_list(MYSQL *db, const char *list, const char *default_zone,
    const char *scratch, struct buf *err)
{
	struct buf sql = BUF_INIT;
	const char *params[2] = { list, default_zone };
	int status;

	status = default_zone ? db_execute(db, "INSERT INTO lists (name, "
	    "default_time_zone) VALUES (?, ?) ON DUPLICATE KEY UPDATE "
	    "default_time_zone = VALUES(default_time_zone)", 2, params, NULL,
	    err) : db_execute(db, "INSERT IGNORE INTO lists (name) VALUES (?)",
	    1, params, NULL, err);
	buf_printf(&sql, "INSERT IGNORE INTO list_members (list_id, "
	    "recipient_id) SELECT l.id, r.id FROM `%s` i JOIN recipients r ON "
	    "r.email = i.email JOIN lists l ON l.name = ?", scratch);
	if (!status)
		status = db_execute(db, buf_str(&sql), 1, params, NULL, err);
	buf_reset(&sql);
	buf_printf(&sql, "UPDATE recipients r JOIN `%s` i ON r.email = "
	    "i.email JOIN lists l ON l.name = ? SET r.time_zone = "
	    "l.default_time_zone WHERE r.time_zone IS NULL AND "
	    "l.default_time_zone IS NOT NULL", scratch);
	if (!status)
		status = db_execute(db, buf_str(&sql), 1, params, NULL, err);
	buf_free(&sql);
	return status;
}

static int
create_scratch(MYSQL *db, const char *scratch, struct buf *err)
{
	struct buf sql = BUF_INIT;
	int status;

	/* MyISAM: a bulk load into a scratch table needs no undo log. */
	buf_printf(&sql, "CREATE TABLE `%s` (line BIGINT UNSIGNED NOT NULL, "
	    "email VARCHAR(254) CHARACTER SET ascii COLLATE ascii_general_ci "
	    "NOT NULL, first_name VARCHAR(100), last_name VARCHAR(100), "
	    "address VARCHAR(255), city VARCHAR(100), state VARCHAR(64), "
	    "zip VARCHAR(16), country CHAR(2) CHARACTER SET ascii, "
	    "donated_total DECIMAL(14,2), donation_count INT UNSIGNED, "
	    "last_donation_amount DECIMAL(14,2), last_donation_at DATE, "
	    "time_zone VARCHAR(64) CHARACTER SET ascii, attributes LONGTEXT, "
	    "KEY (email)) ENGINE=MyISAM DEFAULT CHARSET=utf8mb4 COLLATE="
	    "utf8mb4_unicode_ci", scratch);
	status = db_exec(db, buf_str(&sql), err);
	buf_free(&sql);
	return status;
}

/*
 * Takes the database's import lock, waiting up to o->lock_timeout
 * seconds. Two imports at once would lose rows: a replace builds
 * recipients_new and drops whatever another run left there, and a merge
 * into the recipients table a replace is about to swap out is lost with
 * it. *locked is 1 once held; the lock ends with the connection too.
 */
static int
import_lock(MYSQL *db, const struct import_options *o, int *locked,
    struct buf *err)
{
	char timeout[24];
	const char *params[1] = { timeout };
	unsigned long long got = 0;

	snprintf(timeout, sizeof(timeout), "%ld", o->lock_timeout);
	if (db_query_strings(db, "SELECT GET_LOCK(CONCAT('herald.import.', "
	    "DATABASE()), ?)", 1, params, first_number, &got, err) != 0)
		return -1;
	if (got != 1) {
		buf_printf(err, "another herald import into this database has "
		    "been running for over %ld s (import_lock_timeout); "
		    "nothing changed: run this one again when it has "
		    "finished", o->lock_timeout);
		return -1;
	}
	*locked = 1;
	return 0;
}

int
import_run(MYSQL *db, const struct import_options *o,
    struct import_report *report, struct buf *err)
{
	struct importer im;
	char scratch[64];
	struct buf sql = BUF_INIT, drop = BUF_INIT, ignored = BUF_INIT;
	unsigned long long counts[2] = { 0, 0 };
	int status = -1, created = 0, in_transaction = 0, locked = 0;

	memset(&im, 0, sizeof(im));
	memset(report, 0, sizeof(*report));
	im.o = o;
	im.report = report;
	im.err = err;
	clock_gettime(CLOCK_MONOTONIC, &im.started);
	if (source_open(&im.src, o->source, err) != 0)
		goto out;
	im.csv = csv_reader_new(o->tsv, on_record, &im);
	/* The header first: a file without an email column, or a source
	 * that cannot be read, fails before anything is created. */
	while (!im.header_done && importer_step(&im) > 0)
		;
	if (im.failed)
		goto out;
	if (!im.header_done) {
		buf_printf(err, "%s: empty: expected a header row naming the "
		    "columns (email, first_name, ...)", o->source);
		goto out;
	}
	if (import_lock(db, o, &locked, err) != 0)
		goto out;
	snprintf(scratch, sizeof(scratch), "import_%ld_%ld", (long)getpid(),
	    (long)time(NULL));
	if (create_scratch(db, scratch, err) != 0)
		goto out;
	created = 1;
	mysql_set_local_infile_handler(db, infile_init, infile_read,
	    infile_end, infile_error, &im);
	buf_printf(&sql, "LOAD DATA LOCAL INFILE 'herald-import-stream' INTO "
	    "TABLE `%s` CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' "
	    "ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (line", scratch);
	for (unsigned k = 0; k < KNOWN_COUNT; k++)
		buf_printf(&sql, ", %s", known[k].name);
	buf_append_str(&sql, ", attributes)");
	if (db_exec(db, buf_str(&sql), err) != 0 || im.failed) {
		if (im.failed && err->len == 0)
			buf_printf(err, "%s: the import stream failed",
			    o->source);
		goto out;
	}
	progress_draw(&im, 1);
	report->load_seconds = seconds_since(&im.started);
	buf_reset(&sql);
	buf_printf(&sql, "SELECT COUNT(DISTINCT i.email), COUNT(DISTINCT "
	    "CASE WHEN r.id IS NULL THEN i.email END) FROM `%s` i LEFT JOIN "
	    "recipients r ON r.email = i.email", scratch);
	if (db_query_strings(db, buf_str(&sql), 0, NULL, first_number, counts,
	    err) != 0)
		goto out;
	report->loaded = counts[0];
	report->added = counts[1];
	report->updated = counts[0] - counts[1];
	report->duplicates = im.lines_loaded - counts[0];
	if (o->replace) {
		if (replace_count_removed(db, report, err) != 0)
			goto out;
		if (o->confirm && o->confirm(o->confirm_arg, report) != 0) {
			buf_printf(err, "%s: cancelled: recipients are "
			    "unchanged", o->source);
			goto out;
		}
		if (import_replace(db, &im, scratch, err) != 0 || (o->list &&
		    import_list(db, o->list, o->default_time_zone, scratch,
		    err) != 0))
			goto out;
	} else {
		/* One transaction: killed midway, recipients are as before. */
		if (db_exec(db, "START TRANSACTION", err) != 0)
			goto out;
		in_transaction = 1;
		if (import_merge(db, &im, scratch, err) != 0 || (o->list &&
		    import_list(db, o->list, o->default_time_zone, scratch,
		    err) != 0) ||
		    db_exec(db, "COMMIT", err) != 0)
			goto out;
		in_transaction = 0;
	}
	status = 0;
	report->merge_seconds = seconds_since(&im.started) -
	    report->load_seconds;
out:
	if (in_transaction)
		db_exec(db, "ROLLBACK", &ignored);
	if (created) {
		buf_printf(&drop, "DROP TABLE IF EXISTS `%s`", scratch);
		db_exec(db, buf_str(&drop), &ignored);
	}
	if (locked)
		db_exec(db, "DO RELEASE_LOCK(CONCAT('herald.import.', "
		    "DATABASE()))", &ignored);
	report->seconds = seconds_since(&im.started);
	source_close(&im.src);
	csv_reader_free(im.csv);
	for (unsigned c = 0; c < im.columns; c++)
		free(im.attribute_names[c]);
	free(im.attribute_names);
	free(im.map);
	for (unsigned z = 0; z < im.zone_count; z++)
		free(im.zones[z]);
	buf_free(&im.out);
	buf_free(&im.field);
	buf_free(&im.line);
	buf_free(&im.reason);
	buf_free(&im.normalized);
	buf_free(&im.why);
	for (unsigned k = 0; k < KNOWN_COUNT; k++)
		buf_free(&im.kept[k]);
	buf_free(&im.attrs);
	buf_free(&sql);
	buf_free(&drop);
	buf_free(&ignored);
	return status;
}
