/*
 * cmd_suppress.c - "herald suppress add|remove|list|import": the
 * operator's hand on the suppressions table (src/store/suppression.c).
 *
 * Every address is checked before anything is written: one bad address
 * on the command line or in the file (named with its line) and nothing
 * changes. A suppression acts on mailings already staged too: workers
 * check it when they read each batch.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "encode.h"
#include "log.h"
#include "suppression.h"

static void
cmd_suppress_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald suppress add ADDRESS... [--reason TEXT]\n"
	    "       herald suppress remove ADDRESS...\n"
	    "       herald suppress list [--json]\n"
	    "       herald suppress import FILE [--reason TEXT]\n"
	    "\n"
	    "Suppressed addresses are never mailed again: the stager leaves\n"
	    "them out, and workers skip the rows of mailings already staged\n"
	    "(they become \"suppressed\" in herald report). Each entry keeps\n"
	    "its source (operator, import, bounce, unsubscribe, complaint),\n"
	    "its reason and the time it was made.\n"
	    "\n"
	    "add       suppress the addresses (source operator)\n"
	    "remove    delete the addresses' entries; a recipient whose\n"
	    "          status is unsubscribed, bounced or complained stays\n"
	    "          excluded\n"
	    "list      every entry, oldest first; --json: a JSON array\n"
	    "import    FILE holds one address per line (blank lines and\n"
	    "          lines starting with # are skipped; source import)\n"
	    "\n"
	    "An invalid address, on the command line or at FILE:LINE, is\n"
	    "reported and nothing changes. An address already suppressed\n"
	    "keeps its first entry.\n");
}

struct suppress_args {
	struct suppression_list list;
	const char *reason;
	const char *file;
	int json;
};

/* Parses what follows the verb; 0, or CLI_USAGE / CLI_FAILED. */
static int
suppress_parse(const char *verb, int argc, char **argv,
    struct suppress_args *a)
{
	int takes_reason = !strcmp(verb, "add") || !strcmp(verb, "import");
	struct buf err = BUF_INIT;
	int status = 0;

	for (int i = 2; i < argc && status == 0; i++) {
		if (strcmp(argv[i], "--reason") == 0 && takes_reason &&
		    i + 1 < argc && a->reason == NULL)
			a->reason = argv[++i];
		else if (strcmp(argv[i], "--json") == 0 &&
		    !strcmp(verb, "list"))
			a->json = 1;
		else if (argv[i][0] == '-')
			status = CLI_USAGE;
		else if (!strcmp(verb, "import") && a->file == NULL)
			a->file = argv[i];
		else if (!strcmp(verb, "add") || !strcmp(verb, "remove")) {
			buf_reset(&err);
			if (suppression_normalize(argv[i], &a->list, &err)) {
				msg_error("suppress %s: %s; nothing changed",
				    verb, buf_str(&err));
				status = CLI_FAILED;
			}
		} else
			status = CLI_USAGE;
	}
	if (status == 0 && (((!strcmp(verb, "add") ||
	    !strcmp(verb, "remove")) && a->list.count == 0) ||
	    (!strcmp(verb, "import") && a->file == NULL)))
		status = CLI_USAGE;
	buf_free(&err);
	return status;
}

static void
print_json_string(const char *s)
{
	struct buf b = BUF_INIT;

	encode_json_string(&b, s, strlen(s));
	fputs(buf_str(&b), stdout);
	buf_free(&b);
}

static int
print_entry(void *arg, const struct suppression_entry *e)
{
	unsigned long *count = arg;

	if (count == NULL) {
		printf("%-40s %-11s %-19s %s%s%s\n", e->email, e->source,
		    e->created_at, e->reason, e->detail[0] ? " - " : "",
		    e->detail);
		return 0;
	}
	printf("%s\n  {\"email\": ", (*count)++ ? "," : "");
	print_json_string(e->email);
	printf(", \"source\": ");
	print_json_string(e->source);
	printf(", \"reason\": ");
	print_json_string(e->reason);
	printf(", \"detail\": ");
	print_json_string(e->detail);
	printf(", \"mailing\": %s, \"created_at\": ", e->mailing_id[0] ?
	    e->mailing_id : "null");
	print_json_string(e->created_at);
	printf("}");
	return 0;
}

static int
suppress_list(MYSQL *db, int json, struct buf *err)
{
	unsigned long count = 0;

	if (!json) {
		printf("%-40s %-11s %-19s %s\n", "ADDRESS", "SOURCE",
		    "SINCE (UTC)", "REASON");
		return suppression_list_entries(db, print_entry, NULL, err);
	}
	printf("[");
	if (suppression_list_entries(db, print_entry, &count, err) != 0)
		return -1;
	printf("%s]\n", count ? "\n" : "");
	return 0;
}

int
cmd_suppress(struct cli *cli, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";
	struct suppress_args a;
	struct buf err = BUF_INIT;
	unsigned long long changed = 0;
	MYSQL *db = NULL;
	int status;

	if (cli_wants_help(argc, argv)) {
		cmd_suppress_usage(stdout);
		return CLI_OK;
	}
	memset(&a, 0, sizeof(a));
	if (strcmp(verb, "add") && strcmp(verb, "remove") &&
	    strcmp(verb, "list") && strcmp(verb, "import"))
		status = CLI_USAGE;
	else
		status = suppress_parse(verb, argc, argv, &a);
	if (status == CLI_USAGE)
		cmd_suppress_usage(stderr);
	if (status != 0)
		goto out;
	status = CLI_FAILED;
	if (a.file && suppression_read_file(a.file, &a.list, &err) != 0) {
		msg_error("suppress import: %s; nothing changed",
		    buf_str(&err));
		goto out;
	}
	db = cli_database(cli, "suppress", 0);
	if (db == NULL)
		goto out;
	if (!strcmp(verb, "list")) {
		if (suppress_list(db, a.json, &err) != 0)
			goto failed;
	} else if (!strcmp(verb, "remove")) {
		if (suppression_remove(db, &a.list, &changed, &err) != 0)
			goto failed;
		printf("%llu of %zu addresses removed from the suppressions"
		    "%s\n", changed, a.list.count, changed < a.list.count ?
		    " (the others were not suppressed)" : "");
	} else {
		if (suppression_add(db, &a.list, a.file ? SUPPRESSION_IMPORT :
		    SUPPRESSION_OPERATOR, a.reason, &changed, &err) != 0)
			goto failed;
		printf("%llu of %zu addresses suppressed%s\n", changed,
		    a.list.count, changed < a.list.count ?
		    " (the others already were)" : "");
	}
	status = CLI_OK;
	goto out;
failed:
	msg_error("suppress %s: %s%s", verb, buf_str(&err),
	    strcmp(verb, "list") ? "; nothing changed" : "");
out:
	if (db)
		mysql_close(db);
	suppression_list_free(&a.list);
	buf_free(&err);
	return status;
}
