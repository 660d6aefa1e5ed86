/*
 * cmd_template.c - "herald template check DIR [--subject TEXT]".
 *
 * Compiles a template directory exactly as workers do (tmplset.h) and
 * reports the first error with FILE:LINE:COLUMN and what was expected.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "log.h"
#include "namecheck.h"
#include "tmplset.h"

static void
cmd_template_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald template check DIR [--subject TEXT]\n"
	    "\n"
	    "Compiles the templates in DIR (text.mustache, html.mustache,\n"
	    "subject.mustache, headers.mustache and the partials they use)\n"
	    "and reports the first error as FILE:LINE:COLUMN: what was\n"
	    "expected. --subject gives the mailing's subject when DIR has no\n"
	    "subject.mustache (giving both is refused, as mailing create\n"
	    "does). Names that nothing fills are warned about, with the name\n"
	    "meant when it is clear (FILE:LINE:COLUMN: {{frist_name}} ...; did\n"
	    "you mean {{first_name}}?): the recipient fields, the imported\n"
	    "attributes (the keys of the newest 10000 recipients' attributes,\n"
	    "when the database can be reached), mailing.id, mailing.name,\n"
	    "mailing.subject, recipient_id, unsubscribe_url, view_online_url\n"
	    "and token. Exit status 0 when the templates are valid, warnings\n"
	    "or not.\n");
}

/*
 * Warns about names no message fills. The attribute names come from the
 * database when it can be reached; it is not started for this.
 */
static unsigned
check_names(struct cli *cli, const struct tmplset *set)
{
	struct herald_config *cfg = cli_config(cli);
	struct buf err = BUF_INIT;
	MYSQL *db = NULL;
	unsigned count;

	if (cfg)
		db = db_connect(cfg, DB_SELECT_DATABASE, &err);
	else
		buf_append_str(&err, "no usable configuration");
	count = namecheck_templates_report(db, buf_str(&err), set,
	    "");
	if (db)
		mysql_close(db);
	buf_free(&err);
	return count;
}

int
cmd_template(struct cli *cli, int argc, char **argv)
{
	const char *dir = NULL, *subject = NULL;
	struct buf err = BUF_INIT;
	struct tmplset *set;
	unsigned files, warnings;

	if (cli_wants_help(argc, argv)) {
		cmd_template_usage(stdout);
		return CLI_OK;
	}
	if (argc < 2 || strcmp(argv[1], "check") != 0)
		return cli_unknown_verb(cmd_template_usage, "template",
		    argc < 2 ? NULL : argv[1], "check");
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--subject") == 0 && i + 1 == argc)
			return cli_missing_value(cmd_template_usage,
			    "template check", argv[i], "the subject template");
		if (strcmp(argv[i], "--subject") == 0)
			subject = argv[++i];
		else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else
			return cli_unexpected(cmd_template_usage,
			    "template check", argv[i]);
	}
	if (dir == NULL)
		return cli_usage_error(cmd_template_usage, "template check: "
		    "name the template directory");
	set = tmplset_open(dir, subject, &err);
	if (set == NULL) {
		msg_error("%s", buf_str(&err));
		buf_free(&err);
		return CLI_FAILED;
	}
	if (subject && set->subject_source) {
		msg_error("template check: --subject \"%s\": %s/subject.mustache "
		    "gives the subject; leave --subject out, or remove the "
		    "file to use --subject", subject, dir);
		tmplset_free(set);
		return CLI_FAILED;
	}
	files = tmplset_files_read(set);
	warnings = check_names(cli, set);
	printf("%s: ok (%s%s%s, %u %s", dir,
	    set->text ? "text" : "", set->text && set->html ? " and " : "",
	    set->html ? "html" : "", files, msg_plural(files, "file", "files"));
	if (warnings)
		printf(", %u %s", warnings,
		    msg_plural(warnings, "warning", "warnings"));
	printf(")\n");
	tmplset_free(set);
	return CLI_OK;
}
