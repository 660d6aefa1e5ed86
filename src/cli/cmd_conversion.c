/*
 * cmd_conversion.c - "herald conversion import FILE|URL [--tsv]":
 * conversions from a CSV (or TSV) file or any URL libcurl reads
 * (source.h), recorded and attributed by conversion.h.
 *
 * The header names the columns (id, amount, currency, time, and token,
 * or email and mailing; other columns are refused so a misspelt one is
 * seen). Each bad row gets its own error, FILE:LINE: what, and changes
 * nothing; the good rows are recorded whatever the bad ones. Exit
 * status 1 when a row was refused or the source failed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conversion.h"
#include "csv.h"
#include "db.h"
#include "keyring.h"
#include "log.h"
#include "source.h"

static void
cmd_conversion_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald conversion import FILE|URL [--tsv]\n"
	    "\n"
	    "Records conversions from a CSV file (TSV with --tsv) or any URL\n"
	    "libcurl reads. The header names the columns: id, amount,\n"
	    "currency, time (YYYY-MM-DD HH:MM[:SS] [ZONE]) and token (the\n"
	    "click token of https://track_domain/c/TOKEN), or email and\n"
	    "mailing instead of token. A conversion id already recorded\n"
	    "changes nothing. Each is attributed to the mailing of the\n"
	    "recipient's last click within attribution_window, else to the\n"
	    "last mailing delivered to the recipient within it. A bad row\n"
	    "is reported (FILE:LINE: what) and skipped; exit status 1 then.\n");
}

struct conversion_import {
	MYSQL *db;
	const struct herald_config *cfg;
	struct token_keys *keys;
	const char *name;
	int columns[8];		/* record column -> conversion field, -1 */
	unsigned column_count;
	int header_seen;
	unsigned long long recorded, already, refused;
	struct buf *err;	/* set: a database failure, stop */
};

static int
import_header(struct conversion_import *im, const struct csv_record *rec)
{
	struct conversion probe = { 0 };

	if (rec->count > 8) {
		msg_error("%s:%llu: %u columns: expected at most id, amount, "
		    "currency, time, token, email, mailing", im->name,
		    rec->line, rec->count);
		return 1;
	}
	for (unsigned i = 0; i < rec->count; i++) {
		im->columns[i] = -1;
		for (int f = 0; conversion_field_names[f]; f++)
			if (strcmp(rec->fields[i], conversion_field_names[f]) ==
			    0)
				im->columns[i] = f;
		if (im->columns[i] < 0 || conversion_set_field(&probe,
		    rec->fields[i], "x") != 0) {
			msg_error("%s:%llu: column \"%s\": unknown (the columns "
			    "are id, amount, currency, time, and token or "
			    "email and mailing)", im->name, rec->line,
			    rec->fields[i]);
			return 1;
		}
	}
	im->column_count = rec->count;
	im->header_seen = 1;
	return 0;
}

static int
import_record(void *arg, const struct csv_record *rec)
{
	struct conversion_import *im = arg;
	struct conversion c = { 0 };
	struct conversion_result r = { .why = BUF_INIT };
	int stop = 0;

	if (rec->error) {
		msg_error("%s:%llu: %s", im->name, rec->line, rec->error);
		im->refused++;
		return 0;
	}
	if (!im->header_seen)
		return import_header(im, rec);
	if (rec->count != im->column_count) {
		msg_error("%s:%llu: %u fields where the header has %u", im->name,
		    rec->line, rec->count, im->column_count);
		im->refused++;
		return 0;
	}
	for (unsigned i = 0; i < rec->count; i++)
		conversion_set_field(&c, conversion_field_names[im->columns[i]],
		    rec->fields[i]);
	if (conversion_record(im->db, im->keys, im->cfg->attribution_window,
	    &c, CONVERSION_IMPORT, &r, im->err) != 0) {
		stop = 1;
	} else if (r.outcome == CONVERSION_REFUSED) {
		msg_error("%s:%llu: %s", im->name, rec->line, buf_str(&r.why));
		im->refused++;
	} else if (r.outcome == CONVERSION_ALREADY) {
		im->already++;
	} else {
		im->recorded++;
	}
	buf_free(&r.why);
	return stop;
}

static int
conversion_import(struct cli *cli, const char *name, int tsv)
{
	struct conversion_import im = { .name = name };
	struct buf err = BUF_INIT, chunk = BUF_INIT;
	struct source src;
	struct csv_reader *reader = NULL;
	int got, stopped = 0, status = CLI_FAILED, opened;

	im.err = &err;
	im.cfg = cli_config(cli);
	if (im.cfg == NULL)
		return CLI_FAILED;
	im.db = db_connect(im.cfg, DB_SELECT_DATABASE, &err);
	if (im.db == NULL)
		goto out;
	im.keys = keyring_read(im.cfg, im.db, &err);
	if (im.keys == NULL)
		goto out;
	opened = source_open(&src, name, &err) == 0;
	if (opened) {
		reader = csv_reader_new(tsv, import_record, &im);
		while (!stopped && (got = source_pull(&src, name, &chunk,
		    &err)) > 0) {
			stopped = csv_feed(reader, chunk.data, chunk.len);
			buf_reset(&chunk);
		}
		if (!stopped && err.len == 0)
			stopped = csv_finish(reader);
		csv_reader_free(reader);
	}
	source_close(&src);
	if (err.len)
		goto out;
	if (!im.header_seen) {
		buf_printf(&err, "%s: no header line (id, amount, currency, "
		    "time, token or email and mailing)", name);
		goto out;
	}
	printf("%llu conversions recorded, %llu already recorded, %llu rows "
	    "refused\n", im.recorded, im.already, im.refused);
	status = im.refused ? CLI_FAILED : CLI_OK;
out:
	if (err.len)
		msg_error("conversion import: %s", buf_str(&err));
	if (im.db)
		mysql_close(im.db);
	token_keys_free(im.keys);
	buf_free(&err);
	buf_free(&chunk);
	return status;
}

int
cmd_conversion(struct cli *cli, int argc, char **argv)
{
	const char *name = NULL;
	int tsv = 0;

	if (cli_wants_help(argc, argv)) {
		cmd_conversion_usage(stdout);
		return CLI_OK;
	}
	if (argc < 2 || strcmp(argv[1], "import"))
		return cli_unknown_verb(cmd_conversion_usage, "conversion",
		    argc < 2 ? NULL : argv[1], "import");
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--tsv") == 0)
			tsv = 1;
		else if (name == NULL && argv[i][0] != '-')
			name = argv[i];
		else
			return cli_unexpected(cmd_conversion_usage,
			    "conversion import", argv[i]);
	}
	if (name == NULL)
		return cli_usage_error(cmd_conversion_usage, "conversion "
		    "import: name the FILE or URL to read");
	return conversion_import(cli, name, tsv);
}
