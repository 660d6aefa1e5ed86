/*
 * cmd_preview.c - "herald preview MAILING [--recipient ID|EMAIL] [--html]".
 *
 * Builds one recipient's message exactly as a worker would (compose.h)
 * and prints its bytes: from the mailing's stage table once it is
 * staged (the snapshot that will be sent), from recipients before.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compose.h"
#include "db.h"
#include "history.h"
#include "keyring.h"
#include "log.h"
#include "links.h"
#include "mailing_content.h"

static void
cmd_preview_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald preview MAILING [--recipient ID|EMAIL] [--html]\n"
	    "\n"
	    "Prints the exact message MAILING sends to one recipient (the\n"
	    "first one when --recipient is not given), CRLF line ends\n"
	    "included. --html prints only the HTML part, decoded, and opens\n"
	    "nothing. Uses the staged snapshot once the mailing is staged.\n");
}

/* The row being previewed, with its own copies of the fields. */
struct preview_row {
	struct delivery_row row;
	char *fields[DELIVERY_FIELD_COUNT];
	int found;
};

static int
preview_row_read(void *arg, unsigned ncolumns, char **col)
{
	struct preview_row *p = arg;

	(void)ncolumns;
	p->found = 1;
	p->row.recipient_id = strtoull(col[0], NULL, 10);
	p->row.variant_id = (uint32_t)strtoul(col[1], NULL, 10);
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++) {
		p->fields[i] = xstrdup(col[2 + i] ? col[2 + i] : "");
		p->row.fields[i] = p->fields[i];
	}
	return 1;	/* one row is enough */
}

static char stage_table[HISTORY_TABLE_NAME_MAX];

static int
stage_table_read(void *arg, unsigned ncolumns, char **col)
{
	(void)arg;
	(void)ncolumns;
	/* A stage table, or the monthly archive "herald maintain" moved
	 * it to: both hold the mailing's rows. */
	if (col[0] && history_is_table(col[0]))
		snprintf(stage_table, sizeof(stage_table), "%s", col[0]);
	return 0;
}

static int
preview_find(MYSQL *db, const char *mailing, const char *who,
    struct preview_row *p, struct buf *err)
{
	struct buf sql = BUF_INIT;
	const char *params[3] = { mailing, who, who };
	unsigned nparams;
	int staged, status;

	if (db_query_strings(db, "SELECT stage_table FROM mailings WHERE "
	    "id = ?", 1, params, stage_table_read, NULL, err) != 0)
		return -1;
	staged = stage_table[0] != '\0';
	buf_append_str(&sql, staged ? "SELECT recipient_id, variant_id" :
	    "SELECT id, 0");
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		buf_printf(&sql, ", %s", delivery_field_names[i]);
	if (staged)
		buf_printf(&sql, " FROM `%s` WHERE mailing_id = ?%s ORDER BY "
		    "row_id LIMIT 1", stage_table, who ? " AND (recipient_id "
		    "= ? OR email = ?)" : "");
	else
		buf_printf(&sql, " FROM recipients WHERE status = 'active'%s "
		    "ORDER BY id LIMIT 1", who ? " AND (id = ? OR email = ?)" :
		    "");
	/* Before staging only the recipient binds are used. */
	nparams = (staged ? 1 : 0) + (who ? 2 : 0);
	status = db_query_strings(db, buf_str(&sql), nparams, staged ?
	    params : params + 1, preview_row_read, p, err);
	buf_free(&sql);
	return status;
}

int
cmd_preview(struct cli *cli, int argc, char **argv)
{
	const char *mailing = NULL, *who = NULL;
	struct herald_config *cfg;
	struct preview_row p;
	struct buf err = BUF_INIT, message = BUF_INIT, sender = BUF_INIT;
	struct composer *c = NULL;
	struct token_keys *keys = NULL;
	struct mailing_content content;
	MYSQL *db = NULL;
	int html = 0, status = CLI_FAILED;

	if (cli_wants_help(argc, argv)) {
		cmd_preview_usage(stdout);
		return CLI_OK;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--recipient") == 0 && i + 1 == argc) {
			return cli_missing_value(cmd_preview_usage, "preview",
			    argv[i], "a recipient's id or address");
		} else if (strcmp(argv[i], "--recipient") == 0) {
			who = argv[++i];
		} else if (strcmp(argv[i], "--html") == 0) {
			html = 1;
		} else if (mailing == NULL && argv[i][0] != '-') {
			mailing = argv[i];
			if (!cli_is_id(mailing))
				return cli_bad_id(cmd_preview_usage, "preview",
				    "mailing", mailing);
		} else {
			return cli_unexpected(cmd_preview_usage, "preview",
			    argv[i]);
		}
	}
	if (mailing == NULL)
		return cli_usage_error(cmd_preview_usage, "preview: name the "
		    "MAILING to preview (herald mailing list)");
	memset(&p, 0, sizeof(p));
	cfg = cli_config(cli);
	if (cfg == NULL)
		return CLI_FAILED;
	db = db_connect(cfg, DB_SELECT_DATABASE, &err);
	if (db == NULL)
		goto done;
	if (mailing_content_read(db, strtoull(mailing, NULL, 10), &content,
	    &err) != 0)
		goto done;
	c = composer_open(cfg, &content, &err);
	mailing_content_free(&content);
	if (c == NULL || links_attach(db, c, &err) != 0 || preview_find(db, mailing, who, &p, &err) != 0)
		goto done;
	keys = keyring_read(cfg, db, &err);
	if (keys == NULL)
		goto done;
	composer_set_keys(c, keys);
	if (!p.found) {
		buf_printf(&err, "mailing %s has no recipient%s%s%s", mailing,
		    who ? " \"" : "", who ? who : "", who ? "\"" : "");
		goto done;
	}
	if (composer_build(c, &p.row, &message, &sender, &err) != 0)
		goto done;
	if (html) {
		size_t length;
		const char *text = composer_last_html(c, &length);

		if (text == NULL) {
			buf_printf(&err, "mailing %s has no HTML part",
			    mailing);
			goto done;
		}
		fwrite(text, 1, length, stdout);
	} else {
		fwrite(message.data, 1, message.len, stdout);
	}
	status = CLI_OK;
done:
	if (status != CLI_OK)
		msg_error("preview: %s", buf_str(&err));
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		free(p.fields[i]);
	composer_free(c);
	token_keys_free(keys);
	if (db)
		mysql_close(db);
	buf_free(&err);
	buf_free(&message);
	buf_free(&sender);
	return status;
}
