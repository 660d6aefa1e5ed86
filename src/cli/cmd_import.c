/*
 * cmd_import.c - "herald import SOURCE [--list NAME [--default-time-zone
 * ZONE]] [--mode merge|replace] [--format csv|tsv] [--reject FILE] [--yes]".
 *
 * --mode replace removes every recipient the file does not name: the
 * summary says how many, and on a terminal the operator confirms first
 * (unless --yes). Without a terminal (cron, scripts) it goes ahead.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "db.h"
#include "import.h"
#include "log.h"
#include "zone.h"

static void
cmd_import_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald import SOURCE [--list NAME [--default-time-zone ZONE]]\n"
	    "                     [--mode merge|replace] [--format csv|tsv]\n"
	    "                     [--reject FILE] [--yes]\n"
	    "\n"
	    "Loads recipients from SOURCE, a path or any URL libcurl reads\n"
	    "(http, https, ftp, sftp, file), streamed: memory stays bounded\n"
	    "whatever the size. The header row names the columns: email\n"
	    "(required), first_name, last_name, address, city, state, zip,\n"
	    "country, donated_total, donation_count, last_donation_amount,\n"
	    "last_donation_at, time_zone; other columns become attributes.\n"
	    "time_zone is a tz database name (Europe/Paris), checked against\n"
	    "the system's zoneinfo: a bad one rejects its row.\n"
	    "\n"
	    "  --mode merge    add new addresses, update known ones (default)\n"
	    "  --mode replace  the file becomes the whole recipients table,\n"
	    "                  swapped in atomically: every recipient not\n"
	    "                  in the file is removed. On a terminal herald\n"
	    "                  first says how many and asks to go on\n"
	    "  --yes           replace without asking\n"
	    "  --list NAME     also add every row to list NAME\n"
	    "  --default-time-zone ZONE\n"
	    "                  with --list: the list's default zone, given\n"
	    "                  to its recipients who have none (an empty\n"
	    "                  time_zone), now and in later imports.\n"
	    "                  A recipient's zone for send windows: the\n"
	    "                  row's time_zone, else the list's default,\n"
	    "                  else the mailing's --time-zone, else UTC\n"
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

/*
 * Asks on the terminal before replace removes recipients; 0 to go on.
 * The counts come from the loaded file: nothing has changed yet.
 */
static int
confirm_replace(void *arg, const struct import_report *r)
{
	const char *source = arg;
	char answer[16];

	fprintf(stderr, "%s: --mode replace makes recipients the file's %llu "
	    "%s (%llu new, %llu kept) and removes %llu %s not in the file. "
	    "Go on? [y/N] ", source, r->loaded, msg_plural(r->loaded,
	    "address", "addresses"), r->added, r->updated, r->removed,
	    msg_plural(r->removed, "recipient", "recipients"));
	fflush(stderr);
	if (fgets(answer, sizeof(answer), stdin) == NULL)
		return -1;
	answer[strcspn(answer, "\r\n")] = '\0';
	return strcasecmp(answer, "y") && strcasecmp(answer, "yes");
}

static void
print_summary(const struct import_options *o, const struct import_report *r)
{
	printf("%s: %llu %s read, %llu loaded (%llu new, %llu %s), ",
	    o->source, r->rows, msg_plural(r->rows, "row", "rows"), r->loaded,
	    r->added, r->updated, o->replace ? "kept" : "updated");
	if (o->replace)
		printf("%llu %s removed (not in the file), ", r->removed,
		    msg_plural(r->removed, "recipient", "recipients"));
	printf("%llu %s (the last row won), %llu rejected, in %.2f s "
	    "(load %.2f s, merge %.2f s), %.0f rows/s\n", r->duplicates,
	    msg_plural(r->duplicates, "duplicate", "duplicates"), r->rejected,
	    r->seconds, r->load_seconds, r->merge_seconds, r->seconds > 0 ?
	    (double)r->rows / r->seconds : 0);
}

/*
 * Opens (creates or empties) the reject file, mode 600 even when it
 * existed with another: its rows hold people's personal data. NULL
 * after saying why.
 */
static FILE *
reject_file_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *fp;

	if (fd < 0 || fchmod(fd, 0600) != 0 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		msg_error("import: %s: cannot write the reject file: %m", path);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	return fp;
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
	int status = CLI_FAILED, yes = 0;

	if (cli_wants_help(argc, argv)) {
		cmd_import_usage(stdout);
		return CLI_OK;
	}
	for (int i = 1; i < argc; i++) {
		const char **slot = NULL, *what = NULL;

		if (!strcmp(argv[i], "--yes")) {
			yes = 1;
			continue;
		}
		if (!strcmp(argv[i], "--list"))
			slot = &o.list, what = "a list name";
		else if (!strcmp(argv[i], "--default-time-zone"))
			slot = &o.default_time_zone, what = "a zone name";
		else if (!strcmp(argv[i], "--mode"))
			slot = &mode, what = "merge or replace";
		else if (!strcmp(argv[i], "--format"))
			slot = &format, what = "csv or tsv";
		else if (!strcmp(argv[i], "--reject"))
			slot = &reject, what = "a file name";
		if (slot && i + 1 == argc)
			return cli_missing_value(cmd_import_usage, "import",
			    argv[i], what);
		if (slot)
			*slot = argv[++i];
		else if (argv[i][0] != '-' && o.source == NULL)
			o.source = argv[i];
		else
			return cli_unexpected(cmd_import_usage, "import",
			    argv[i]);
	}
	if (o.source == NULL)
		return cli_usage_error(cmd_import_usage, "import: no SOURCE: "
		    "name a file or a URL");
	if (strcmp(mode, "merge") && strcmp(mode, "replace"))
		return cli_usage_error(cmd_import_usage, "import: --mode must "
		    "be merge or replace, not \"%s\"", mode);
	if (o.default_time_zone && o.list == NULL)
		return cli_usage_error(cmd_import_usage, "import: "
		    "--default-time-zone is a list's default: give --list "
		    "NAME too");
	if (o.default_time_zone && zone_check(o.default_time_zone,
	    &err) != 0) {
		msg_error("import: --default-time-zone: %s", buf_str(&err));
		buf_free(&err);
		return CLI_USAGE;
	}
	if (format && strcmp(format, "csv") && strcmp(format, "tsv"))
		return cli_usage_error(cmd_import_usage, "import: --format "
		    "must be csv or tsv, not \"%s\"", format);
	o.replace = !strcmp(mode, "replace");
	o.tsv = format ? !strcmp(format, "tsv") : strlen(o.source) > 4 &&
	    !strcmp(o.source + strlen(o.source) - 4, ".tsv");
	o.progress = isatty(STDERR_FILENO);
	if (o.replace && !yes && isatty(STDIN_FILENO)) {
		o.confirm = confirm_replace;
		o.confirm_arg = (void *)o.source;
	}
	if (reject) {
		buf_append_str(&reject_path, reject);
	} else {
		const char *base = strrchr(o.source, '/');

		buf_printf(&reject_path, "%s.rejects", base && base[1] ?
		    base + 1 : o.source);
	}
	/* The reject file is opened up front (so a bad path fails early)
	 * and removed again when nothing was rejected. */
	o.rejects = reject_file_open(buf_str(&reject_path));
	if (o.rejects == NULL)
		goto done;
	cfg = cli_config(cli);
	if (cfg == NULL)
		goto done;
	o.lock_timeout = cfg->import_lock_timeout;
	db = db_connect(cfg, DB_SELECT_DATABASE | DB_LOCAL_INFILE, &err);
	if (db == NULL || import_run(db, &o, &r, &err) != 0) {
		msg_error("import: %s", buf_str(&err));
		goto done;
	}
	print_summary(&o, &r);
	if (r.rejected)
		printf("rejected rows are in %s\n", buf_str(&reject_path));
	status = CLI_OK;
done:
	if (o.rejects) {
		long size = ftell(o.rejects);
		int failed = ferror(o.rejects);

		/* Rows rejected but not written would be lost unseen. */
		if (fclose(o.rejects) != 0 || failed) {
			msg_error("import: %s: cannot write the reject file: "
			    "%m", buf_str(&reject_path));
			status = CLI_FAILED;
		} else if (size == 0) {
			unlink(buf_str(&reject_path));
		}
	}
	if (db)
		mysql_close(db);
	buf_free(&err);
	buf_free(&reject_path);
	return status;
}
