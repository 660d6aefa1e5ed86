/*
 * cmd_config.c - "herald config check [--show]", "herald config keys
 * [--man]".
 *
 * check validates the configuration herald would use (the same lookup as
 * every other command) and optionally prints the effective value of every
 * key. keys prints the reference of every key from config.c's table
 * (config_key_doc()): as text, or with --man as the troff of the KEYS
 * section of herald.conf(5), which "make update-conf-man" pastes into
 * doc/herald.conf.5.
 */


#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"

#define CONFIG_TEXT_WIDTH 76	/* herald config keys */
#define CONFIG_TROFF_WIDTH 72	/* source lines of the man page */

static void
cmd_config_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald config check [--show] [--config FILE]\n"
	    "       herald config keys [--man]\n"
	    "\n"
	    "check reads the configuration file and reports the first error\n"
	    "with FILE:LINE and the key. --show prints every key's effective\n"
	    "value (secrets masked).\n"
	    "\n"
	    "keys describes every key: its type, default and meaning. --man\n"
	    "prints the same as troff, the KEYS section of herald.conf(5).\n");
}

/* "600" -> "10m": a duration as herald.conf spells it. */
static void
cmd_config_duration(long seconds, struct buf *out)
{
	if (seconds != 0 && seconds % 86400 == 0)
		buf_printf(out, "%ldd", seconds / 86400);
	else if (seconds != 0 && seconds % 3600 == 0)
		buf_printf(out, "%ldh", seconds / 3600);
	else if (seconds != 0 && seconds % 60 == 0)
		buf_printf(out, "%ldm", seconds / 60);
	else
		buf_printf(out, "%lds", seconds);
}

/* "(integer, 1 to 256; default 4)": a key's type, bounds and default. */
static void
cmd_config_summary(const struct config_key_doc *doc, const char *def,
    struct buf *out)
{
	buf_printf(out, "(%s", doc->type);
	if (doc->ranged && doc->duration) {
		buf_append_str(out, ", ");
		cmd_config_duration(doc->min, out);
		buf_append_str(out, " to ");
		cmd_config_duration(doc->max, out);
	} else if (doc->ranged) {
		buf_printf(out, ", %ld to %ld", doc->min, doc->max);
	}
	if (doc->argument)
		buf_printf(out, ", one line per %s", doc->argument);
	if (def == NULL)
		buf_append_str(out, "; none by default)");
	else if (*def == '\0')
		buf_append_str(out, "; empty by default)");
	else
		buf_printf(out, "; default %s)", def);
}

/* Prints text in lines of at most width columns, each after indent. */
static void
cmd_config_wrap(FILE *out, const char *text, const char *indent, size_t width)
{
	size_t column = 0;

	while (*text) {
		size_t word = strcspn(text, " ");

		if (column > 0 && column + 1 + word > width) {
			fputc('\n', out);
			column = 0;
		}
		if (column == 0) {
			fputs(indent, out);
			column = strlen(indent);
		} else {
			fputc(' ', out);
			column++;
		}
		fwrite(text, 1, word, out);
		column += word;
		text += word;
		text += strspn(text, " ");
	}
	if (column > 0)
		fputc('\n', out);
}

static void
cmd_config_keys_text(FILE *out)
{
	struct config_key_doc doc;
	const char *group = NULL;

	for (size_t i = 0; config_key_doc(i, &doc) == 0; i++) {
		struct buf head = BUF_INIT;

		if (group == NULL || strcmp(group, doc.group) != 0) {
			fprintf(out, "%s:\n\n", doc.group);
			group = doc.group;
		}
		buf_append_str(&head, doc.name);
		if (doc.argument)
			buf_printf(&head, " %s", doc.argument);
		buf_append_char(&head, ' ');
		cmd_config_summary(&doc, doc.default_value, &head);
		fprintf(out, "%s\n", buf_str(&head));
		cmd_config_wrap(out, doc.description, "    ", CONFIG_TEXT_WIDTH);
		fputc('\n', out);
		buf_free(&head);
	}
}

/*
 * Appends text as troff: backslashes escaped, and a '-' that starts a
 * word (an option such as -c) or is literal (all_minus, for values) as
 * \-, so it is copied as the minus it is.
 */
static void
cmd_config_troff(struct buf *out, const char *text, int all_minus)
{
	for (const char *p = text; *p; p++) {
		if (*p == '\\')
			buf_append_str(out, "\\e");
		else if (*p == '-' && (all_minus || p == text ||
		    p[-1] == ' ' || p[-1] == '-'))
			buf_append_str(out, "\\-");
		else
			buf_append_char(out, *p);
	}
}

/*
 * Prints troff text filled into lines, each sentence starting a line (so
 * troff spaces sentences as such); no line starts with a control
 * character.
 */
static void
cmd_config_troff_lines(FILE *out, const char *troff)
{
	struct buf line = BUF_INIT;

	while (*troff) {
		size_t word = strcspn(troff, " ");
		int sentence_end;

		if (line.len > 0 && line.len + 1 + word > CONFIG_TROFF_WIDTH) {
			fprintf(out, "%s\n", buf_str(&line));
			buf_reset(&line);
		}
		if (line.len == 0 && (*troff == '.' || *troff == '\''))
			buf_append_str(&line, "\\&");
		else if (line.len > 0)
			buf_append_char(&line, ' ');
		buf_append(&line, troff, word);
		sentence_end = word > 0 && troff[word - 1] == '.';
		troff += word;
		troff += strspn(troff, " ");
		if (sentence_end && *troff) {
			fprintf(out, "%s\n", buf_str(&line));
			buf_reset(&line);
		}
	}
	if (line.len > 0)
		fprintf(out, "%s\n", buf_str(&line));
	buf_free(&line);
}

static void
cmd_config_keys_man(FILE *out)
{
	struct config_key_doc doc;
	const char *group = NULL;

	for (size_t i = 0; config_key_doc(i, &doc) == 0; i++) {
		struct buf head = BUF_INIT, summary = BUF_INIT, text = BUF_INIT;

		if (group == NULL || strcmp(group, doc.group) != 0) {
			fprintf(out, ".SS %s\n", doc.group);
			group = doc.group;
		}
		buf_printf(&head, "\\fB%s\\fR", doc.name);
		if (doc.argument)
			buf_printf(&head, " \\fI%s\\fR", doc.argument);
		cmd_config_summary(&doc, doc.documented_default, &summary);
		buf_append_char(&head, ' ');
		cmd_config_troff(&head, buf_str(&summary), 1);
		fprintf(out, ".TP\n%s\n", buf_str(&head));
		cmd_config_troff(&text, doc.description, 0);
		cmd_config_troff_lines(out, buf_str(&text));
		buf_free(&head);
		buf_free(&summary);
		buf_free(&text);
	}
}

static int
cmd_config_keys(int argc, char **argv)
{
	int man = 0;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--man") == 0) {
			man = 1;
		} else {
			msg_error("config keys: unknown argument \"%s\"",
			    argv[i]);
			cmd_config_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (man)
		cmd_config_keys_man(stdout);
	else
		cmd_config_keys_text(stdout);
	return CLI_OK;
}

int
cmd_config(struct cli *cli, int argc, char **argv)
{
	struct herald_config *cfg;
	int show = 0;

	if (cli_wants_help(argc, argv)) {
		cmd_config_usage(stdout);
		return CLI_OK;
	}
	if (argc >= 2 && strcmp(argv[1], "keys") == 0)
		return cmd_config_keys(argc, argv);
	if (argc < 2 || strcmp(argv[1], "check") != 0)
		return cli_unknown_verb(cmd_config_usage, "config",
		    argc < 2 ? NULL : argv[1], "check or keys");
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--show") == 0)
			show = 1;
		else
			return cli_unexpected(cmd_config_usage, "config check",
			    argv[i]);
	}
	cfg = cli_config(cli);
	if (cfg == NULL)
		return CLI_FAILED;
	if (show)
		config_print(cfg, stdout);
	else
		printf("%s: ok\n", cfg->path ? cfg->path :
		    "built-in defaults");
	return CLI_OK;
}
