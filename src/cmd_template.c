/*
 * cmd_template.c - "herald template check DIR [--subject TEXT]".
 *
 * Compiles a template directory exactly as workers do (tmplset.h) and
 * reports the first error with FILE:LINE:COLUMN and what was expected.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
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
	    "subject.mustache. Exit status 0 when the templates are valid.\n");
}

int
cmd_template(struct cli *cli, int argc, char **argv)
{
	const char *dir = NULL, *subject = NULL;
	struct buf err = BUF_INIT;
	struct tmplset *set;

	(void)cli;
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
	printf("%s: ok (%s%s%s, %u %s)\n", dir,
	    set->text ? "text" : "", set->text && set->html ? " and " : "",
	    set->html ? "html" : "", set->file_count,
	    msg_plural(set->file_count, "file", "files"));
	tmplset_free(set);
	return CLI_OK;
}
