/*
 * cmd_variant.c - "herald mailing variant add|list|remove".
 *
 * add checks the variant's content with the checks of "mailing create"
 * (mailing_check.h): the template directory it will be sent with
 * compiles with the subject it will carry, the From is valid; then
 * variant.h adds it, or refuses when the mailing is staged or the
 * shares would pass 100%. list shows A, the mailing's own content, with
 * the share the variants leave it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "log.h"
#include "mailing_check.h"
#include "mailing_content.h"
#include "namecheck.h"
#include "tmplset.h"
#include "variant.h"

static void
cmd_variant_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald mailing variant add ID --name NAME --share PERCENT\n"
	    "           [--subject TEXT] [--template DIR] [--from ADDRESS]\n"
	    "       herald mailing variant list ID\n"
	    "       herald mailing variant remove ID --name NAME\n"
	    "\n"
	    "A variant sends its own subject, template directory or From\n"
	    "(each one left out is the mailing's) to PERCENT of the mailing's\n"
	    "recipients (\"10%%\", \"12.5%%\"). The variants' shares add up to\n"
	    "100%% at most; the rest get the mailing's own content, shown as\n"
	    "variant A. Each recipient's variant is chosen at staging from a\n"
	    "keyed hash of mailing and recipient, and each variant gets its\n"
	    "share to within one recipient. Variants change only before\n"
	    "staging: while the mailing is draft, queued, or paused before it\n"
	    "was staged. add checks the content as mailing create does.\n");
}

struct variant_args {
	const char *name, *share, *subject, *template_dir, *from;
};

/* Parses argv[3...] into a; only the options allowed takes. */
static int
variant_options(const char *command, int argc, char **argv,
    struct variant_args *a, int name_only)
{
	for (int i = 3; i < argc; i++) {
		const char **slot = NULL;

		if (!strcmp(argv[i], "--name"))
			slot = &a->name;
		else if (name_only)
			slot = NULL;
		else if (!strcmp(argv[i], "--share"))
			slot = &a->share;
		else if (!strcmp(argv[i], "--subject"))
			slot = &a->subject;
		else if (!strcmp(argv[i], "--template"))
			slot = &a->template_dir;
		else if (!strcmp(argv[i], "--from"))
			slot = &a->from;
		if (slot == NULL)
			return cli_unexpected(cmd_variant_usage, command,
			    argv[i]);
		if (i + 1 == argc)
			return cli_missing_value(cmd_variant_usage, command,
			    argv[i], NULL);
		*slot = argv[++i];
	}
	if (a->name == NULL || (!name_only && a->share == NULL))
		return cli_usage_error(cmd_variant_usage, "%s:%s%s missing",
		    command, a->name ? "" : " --name", name_only || a->share ?
		    "" : " --share");
	return 0;
}

/*
 * The checks of mailing create, on the content the variant will be sent
 * with: its own directory or the mailing's, its own subject or the
 * mailing's, its own From.
 */
static int
variant_check_content(MYSQL *db, uint64_t mailing,
    const struct variant_args *a, struct buf *err)
{
	struct mailing_content m;
	struct tmplset *set;

	if (mailing_content_read(db, mailing, &m, err) != 0)
		return -1;
	set = mailing_check_templates(a->template_dir ? a->template_dir :
	    m.template_dir, a->subject ? a->subject : m.subject,
	    a->subject != NULL, "variant", err);
	mailing_content_free(&m);
	if (set == NULL)
		return -1;
	namecheck_templates_report(db, NULL, set, "mailing variant add: ");
	tmplset_free(set);
	if (a->from && mailing_check_from(a->from, err) != 0)
		return -1;
	return 0;
}

static int
variant_add_command(MYSQL *db, uint64_t mailing,
    const struct variant_args *a, struct buf *err)
{
	struct variant_spec v = { 0 };
	struct variant_list list;
	struct buf why = BUF_INIT;
	int status = CLI_FAILED;

	if (variant_name_check(a->name, err) != 0)
		goto out;
	if (variant_share_parse(a->share, &v.share, &why) != 0) {
		buf_printf(err, "--share %s", buf_str(&why));
		goto out;
	}
	if (variant_check_content(db, mailing, a, err) != 0)
		goto out;
	v.name = a->name;
	v.subject = a->subject;
	v.template_dir = a->template_dir;
	v.from = a->from;
	if (variant_add(db, mailing, &v, err) != 0 ||
	    variant_list_read(db, mailing, &list, err) != 0)
		goto out;
	buf_reset(&why);
	variant_share_format(v.share, &why);
	buf_append_str(&why, "; the mailing's own content (A) keeps ");
	variant_share_format(VARIANT_SHARE_WHOLE - list.share_total, &why);
	if (!a->subject && !a->template_dir && !a->from)
		msg_warn("mailing variant add: variant %s has no --subject, "
		    "--template or --from of its own: it sends the mailing's "
		    "own content (an A/A test)", a->name);
	printf("mailing %" PRIu64 ": variant %s added: %s\n", mailing,
	    a->name, buf_str(&why));
	variant_list_free(&list);
	status = CLI_OK;
out:
	buf_free(&why);
	return status;
}

static void
print_variant(const char *name, unsigned share, const char *subject,
    const char *template_dir, const char *from)
{
	struct buf text = BUF_INIT;

	variant_share_format(share, &text);
	printf("%-12s %7s  %s\t%s\t%s\n", name, buf_str(&text),
	    subject ? subject : "-", template_dir ? template_dir : "-",
	    from ? from : "-");
	buf_free(&text);
}

static int
variant_list_command(MYSQL *db, uint64_t mailing, struct buf *err)
{
	struct variant_list list;

	if (variant_list_read(db, mailing, &list, err) != 0)
		return CLI_FAILED;
	if (!list.mailing_found) {
		buf_printf(err, "mailing %" PRIu64 " does not exist (herald "
		    "mailing list)", mailing);
		variant_list_free(&list);
		return CLI_FAILED;
	}
	printf("%-12s %7s  %s\n", "VARIANT", "SHARE",
	    "SUBJECT\tTEMPLATE\tFROM (-: the mailing's)");
	print_variant(VARIANT_OWN_NAME, VARIANT_SHARE_WHOLE - list.share_total,
	    NULL, NULL, NULL);
	for (unsigned i = 0; i < list.count; i++)
		print_variant(list.rows[i].name, list.rows[i].share,
		    list.rows[i].subject, list.rows[i].template_dir,
		    list.rows[i].from);
	variant_list_free(&list);
	return CLI_OK;
}

int
cmd_mailing_variant(struct cli *cli, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";
	struct variant_args a = { 0 };
	struct buf err = BUF_INIT;
	char command[32];
	uint64_t mailing;
	MYSQL *db;
	int status;

	if (cli_wants_help(argc, argv)) {
		cmd_variant_usage(stdout);
		return CLI_OK;
	}
	if (strcmp(verb, "add") && strcmp(verb, "list") && strcmp(verb,
	    "remove"))
		return cli_unknown_verb(cmd_variant_usage, "mailing variant",
		    verb, "add, list or remove");
	snprintf(command, sizeof(command), "mailing variant %s", verb);
	if (argc < 3)
		return cli_usage_error(cmd_variant_usage, "%s: name the "
		    "mailing by its id (herald mailing list)", command);
	if (!cli_is_id(argv[2]))
		return cli_bad_id(cmd_variant_usage, command, "mailing",
		    argv[2]);
	mailing = strtoull(argv[2], NULL, 10);
	if (!strcmp(verb, "list") && argc > 3)
		return cli_unexpected(cmd_variant_usage, command, argv[3]);
	if (strcmp(verb, "list") && (status = variant_options(command, argc,
	    argv, &a, !strcmp(verb, "remove"))) != 0)
		return status;
	db = cli_database(cli, command, DB_SELECT_DATABASE | DB_FOUND_ROWS);
	if (db == NULL)
		return CLI_FAILED;
	if (!strcmp(verb, "add")) {
		status = variant_add_command(db, mailing, &a, &err);
	} else if (!strcmp(verb, "list")) {
		status = variant_list_command(db, mailing, &err);
	} else {
		status = variant_remove(db, mailing, a.name, &err) ? CLI_FAILED :
		    CLI_OK;
		if (status == CLI_OK)
			printf("mailing %" PRIu64 ": variant %s removed\n",
			    mailing, a.name);
	}
	if (status == CLI_FAILED)
		msg_error("%s: %s", command, buf_str(&err));
	mysql_close(db);
	buf_free(&err);
	return status;
}
