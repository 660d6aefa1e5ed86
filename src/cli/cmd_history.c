/*
 * cmd_history.c - "herald history EMAIL|ID": the mailings a person was
 * staged for and what became of each message, read through the history
 * MERGE table (one index lookup per stage table) and the bounces
 * recorded since (history.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "history.h"
#include "log.h"

static void
cmd_history_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald history EMAIL|RECIPIENT-ID\n"
	    "\n"
	    "Lists every mailing the recipient was staged for, newest first:\n"
	    "mailing id and name, delivery state, attempts, when it was\n"
	    "delivered and the relay's reply. Exit status 1 when there is\n"
	    "none, saying whether the recipient is unknown or has received\n"
	    "no mailing.\n");
}

static int
history_row(void *arg, unsigned ncolumns, char **col)
{
	unsigned *rows = arg;

	(void)ncolumns;
	if ((*rows)++ == 0)
		printf("%8s  %-10s %8s  %-19s  %-30s  %s\n", "MAILING", "STATE",
		    "ATTEMPTS", "DELIVERED (UTC)", "NAME", "RELAY REPLY");
	printf("%8s  %-10s %8s  %-19s  %-30.30s  %s\n", col[0], col[1],
	    col[2], col[3] ? col[3] : "-", col[4] ? col[4] : "-",
	    col[5] ? col[5] : "");
	return 0;
}

static int
copy_recipient(void *arg, unsigned ncolumns, char **col)
{
	struct buf *out = arg;

	(void)ncolumns;
	buf_printf(out, "recipient %s (%s)", col[0], col[1]);
	return 1;
}

/*
 * Nothing in the history: says whether who names no recipient at all or
 * one that has received no mailing, which an operator handles apart.
 */
static void
history_none(MYSQL *db, const char *who)
{
	struct buf recipient = BUF_INIT, err = BUF_INIT;

	if (db_query_strings(db, "SELECT id, email FROM recipients WHERE id = "
	    "IF(? REGEXP '^[0-9]+$', ?, NULL) OR email = ? LIMIT 1", 3,
	    (const char *[]){ who, who, who }, copy_recipient, &recipient,
	    &err) != 0)
		msg_error("history: %s", buf_str(&err));
	else if (recipient.len)
		msg_error("history: %s has received no mailing",
		    buf_str(&recipient));
	else if (cli_is_id(who))
		msg_error("history: no recipient with id %s", who);
	else
		msg_error("history: no recipient with address \"%s\"", who);
	buf_free(&recipient);
	buf_free(&err);
}

int
cmd_history(struct cli *cli, int argc, char **argv)
{
	struct buf err = BUF_INIT;
	unsigned rows = 0;
	MYSQL *db;
	int status = CLI_OK;

	if (cli_wants_help(argc, argv)) {
		cmd_history_usage(stdout);
		return CLI_OK;
	}
	if (argc < 2)
		return cli_usage_error(cmd_history_usage, "history: name the "
		    "recipient: an email address or a recipient id");
	if (argc > 2 || argv[1][0] == '-')
		return cli_unexpected(cmd_history_usage, "history",
		    argv[argc - 1]);
	db = cli_database(cli, "history", 0);
	if (db == NULL)
		return CLI_FAILED;
	/* An id matches recipient_id, an address the email column: both
	 * are indexed in every stage table. */
	if (db_query_strings(db, "SELECT h.mailing_id, " HISTORY_DELIVERY_STATE
	    ", h.attempts, h.delivered_at, m.name, COALESCE(b.reply, "
	    "h.relay_reply) FROM history h" HISTORY_BOUNCES_JOIN " LEFT JOIN "
	    "mailings m ON m.id = h.mailing_id WHERE "
	    "h.recipient_id = IF(? REGEXP '^[0-9]+$', ?, NULL) OR h.email = ? "
	    "ORDER BY h.mailing_id DESC", 3, (const char *[]){ argv[1],
	    argv[1], argv[1] }, history_row, &rows, &err) != 0) {
		msg_error("history: %s", buf_str(&err));
		status = CLI_FAILED;
	} else if (rows == 0) {
		history_none(db, argv[1]);
		status = CLI_FAILED;
	}
	mysql_close(db);
	buf_free(&err);
	return status;
}
