/*
 * cmd_import.c - "herald import SOURCE [--list NAME] [--mode merge|replace]
 * [--format csv|tsv] [--reject FILE]".
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "db.h"
#include "import.h"
#include "log.h"

static void
cmd_import_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald import SOURCE [--list NAME] [--mode merge|replace]\n"
	    "                     [--format csv|tsv] [--reject FILE]\n"
	    "\n"
	    "Loads recipients from SOURCE, a path or any URL libcurl reads\n"
	    "(http, https, ftp, sftp, file), streamed: memory stays bounded\n"
	    "whatever the size. The header row names the columns: email\n"
	    "(required), first_name, last_name, address, city, state, zip,\n"
	    "country, donated_total, donation_count, last_donation_amount,\n"
	    "last_donation_at; other columns become attributes.\n"
	    "\n"
	    "  --mode merge    add new addresses, update known ones (default)\n"
	    "  --mode replace  the file becomes the whole recipients table,\n"
	    "                  swapped in atomically\n"
	    "  --list NAME     also add every row to list NAME\n"
	    "  --format        csv (RFC 4180, the default) or tsv; a .tsv\n"
	    "                  SOURCE is read as tsv\n"
	    "  --reject FILE   where bad rows go, as LINE,REASON,TEXT\n"
	    "                  (default: SOURCE's name + .rejects in the\n"
	    "                  current directory, written only if needed)\n"
	    "\n"
	    "Unsubscribed, bounced and complained recipients stay so. A killed\n"
	    "import leaves recipients as they were. One import runs at a time:\n"
	    "another waits up to import_lock_timeout, then fails, changing\n"
	    "nothing.\n");
}

int
cmd_import(struct cli *cli, int argc, char **argv)
{
	struct import_options o = { 0 };
	struct import_report r;
	struct herald_config *cfg;
	struct buf err = BUF_INIT, reject_path = BUF_INIT;
	const char *format = NULL, *mode = "merge", *reject = NULL;
	MYSQL *db = NULL;
	int status = CLI_FAILED;

	if (cli_wants_help(argc, argv)) {
		cmd_import_usage(stdout);
		return CLI_OK;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--list") && i + 1 < argc)
			o.list = argv[++i];
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			mode = argv[++i];
		else if (!strcmp(argv[i], "--format") && i + 1 < argc)
			format = argv[++i];
		else if (!strcmp(argv[i], "--reject") && i + 1 < argc)
			reject = argv[++i];
		else if (argv[i][0] != '-' && o.source == NULL)
			o.source = argv[i];
		else {
			msg_error("import: unexpected argument \"%s\"",
			    argv[i]);
			cmd_import_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (o.source == NULL || (strcmp(mode, "merge") &&
	    strcmp(mode, "replace")) || (format && strcmp(format, "csv") &&
	    strcmp(format, "tsv"))) {
		cmd_import_usage(stderr);
		return CLI_USAGE;
	}
	o.replace = !strcmp(mode, "replace");
	o.tsv = format ? !strcmp(format, "tsv") : strlen(o.source) > 4 &&
	    !strcmp(o.source + strlen(o.source) - 4, ".tsv");
	o.progress = isatty(STDERR_FILENO);
	if (reject) {
		buf_append_str(&reject_path, reject);
	} else {
		const char *base = strrchr(o.source, '/');

		buf_printf(&reject_path, "%s.rejects", base && base[1] ?
		    base + 1 : o.source);
	}
	/* The reject file is opened up front (so a bad path fails early)
	 * and removed again when nothing was rejected. */
	o.rejects = fopen(buf_str(&reject_path), "w");
	if (o.rejects == NULL) {
		msg_error("import: %s: cannot write the reject file: %m",
		    buf_str(&reject_path));
		goto done;
	}
	cfg = cli_config(cli);
	if (cfg == NULL)
		goto done;
	o.lock_timeout = cfg->import_lock_timeout;
	db = db_connect(cfg, DB_SELECT_DATABASE | DB_LOCAL_INFILE, &err);
	if (db == NULL || import_run(db, &o, &r, &err) != 0) {
		msg_error("import: %s", buf_str(&err));
		goto done;
	}
	printf("%s: %llu rows read, %llu loaded (%llu new, %llu updated), "
	    "%llu duplicates (the last row won), %llu rejected, in %.2f s "
	    "(load %.2f s, merge %.2f s), %.0f rows/s\n", o.source, r.rows,
	    r.loaded, r.added, r.updated, r.duplicates, r.rejected, r.seconds,
	    r.load_seconds, r.merge_seconds, r.seconds > 0 ?
	    (double)r.rows / r.seconds : 0);
	if (r.rejected)
		printf("rejected rows are in %s\n", buf_str(&reject_path));
	status = CLI_OK;
done:
	if (o.rejects) {
		long size = ftell(o.rejects);

		fclose(o.rejects);
		if (size == 0)
			unlink(buf_str(&reject_path));
	}
	if (db)
		mysql_close(db);
	buf_free(&err);
	buf_free(&reject_path);
	return status;
}
