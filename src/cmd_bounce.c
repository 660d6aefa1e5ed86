/*
 * cmd_bounce.c - "herald bounce [--recipient ADDRESS] [FILE]": record a
 * delivery status notification that came back to a VERP return path.
 *
 * Postfix hands each bounce to it through a pipe(8) transport (see
 * contrib/postfix/main.cf). The return path names the mailing and the
 * recipient (dsn.h); a failed delivery marks that recipient's message
 * bounced (history.h: wherever its row lives, in its stage table or,
 * days later, in a monthly archive, packed or not) and counts it once,
 * and a permanent one (status 5.x.x) also marks the recipient bounced and suppresses the address, so
 * no later mailing is staged for it. Delays and successes are reported
 * and change nothing. Running it twice on the same bounce changes
 * nothing the second time.
 *
 * Exit status, as pipe(8) reads it: 0 recorded (or nothing to record);
 * 1 not a bounce herald can place (Postfix returns it to its sender,
 * which for a bounce is nobody); 2 usage; 75 (EX_TEMPFAIL) the database
 * could not be reached or failed: Postfix keeps the bounce and tries
 * again later, so none is lost.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "db.h"
#include "dsn.h"
#include "history.h"
#include "log.h"

/* A bounce is a few KB; a larger input is not one of ours. */
#define BOUNCE_INPUT_MAX (10 * 1024 * 1024)

static void
cmd_bounce_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald bounce [--recipient ADDRESS] [FILE]\n"
	    "\n"
	    "Reads a delivery status notification (RFC 3464) from FILE or\n"
	    "standard input, as a Postfix pipe transport hands it over, and\n"
	    "records it against the mailing and recipient its return path\n"
	    "names (bounces+MAILING-RECIPIENT@bounce_domain; taken from\n"
	    "--recipient, else from X-Original-To, Delivered-To or To).\n"
	    "A failed delivery marks the recipient's row bounced; a permanent\n"
	    "one (5.x.x) also marks the recipient bounced and suppresses the\n"
	    "address. Delays change nothing.\n"
	    "\n"
	    "Exit status: 0 recorded or nothing to record, 1 not a bounce\n"
	    "herald can place, 2 usage, 75 database unavailable (Postfix\n"
	    "tries again).\n");
}

static int
bounce_read(const char *path, struct buf *text)
{
	FILE *in = path ? fopen(path, "rb") : stdin;
	char chunk[65536];
	size_t n;

	if (in == NULL) {
		msg_error("bounce: %s: cannot open: %m", path);
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
		if (text->len + n > BOUNCE_INPUT_MAX) {
			msg_error("bounce: %s: larger than %d bytes: not a "
			    "bounce", path ? path : "standard input",
			    BOUNCE_INPUT_MAX);
			if (path)
				fclose(in);
			return -1;
		}
		buf_append(text, chunk, n);
	}
	if (ferror(in)) {
		msg_error("bounce: %s: read error",
		    path ? path : "standard input");
		if (path)
			fclose(in);
		return -1;
	}
	if (path)
		fclose(in);
	return 0;
}

/*
 * Records a failed delivery. Every step is idempotent or guarded, so a
 * bounce processed again (Postfix retrying after a crash) counts once.
 */
static int
bounce_record(MYSQL *db, const struct history_row *row, const char *mailing,
    const char *recipient, const struct dsn *dsn, int permanent,
    int *changed, struct buf *err)
{
	char reply[DSN_VALUE_MAX + 64];
	int rc = -1;

	snprintf(reply, sizeof(reply), "%s %s", dsn->status, dsn->diagnostic);
	if (permanent) {
		const char *r[1] = { recipient };
		const char *s[3] = { row->email, mailing, reply };

		if (db_execute(db, "UPDATE recipients SET status = 'bounced' "
		    "WHERE id = ? AND status = 'active'", 1, r, NULL, err) ||
		    db_execute(db, "INSERT IGNORE INTO suppressions (email, "
		    "reason, mailing_id, detail) VALUES (?, 'bounced', ?, "
		    "LEFT(?, 512))", 3, s, NULL, err))
			goto out;
	}
	/* Wherever the row lives: stage table, archive, packed archive. */
	if (history_record_bounce(db, row, mailing, recipient, reply, changed,
	    err))
		goto out;
	if (*changed) {
		const char *m[1] = { mailing };

		if (db_execute(db, "UPDATE mailings SET bounced_count = "
		    "bounced_count + 1 WHERE id = ?", 1, m, NULL, err))
			goto out;
	}
	rc = 0;
out:
	return rc;
}

int
cmd_bounce(struct cli *cli, int argc, char **argv)
{
	const char *path = NULL, *address = NULL;
	struct buf text = BUF_INIT, err = BUF_INIT;
	char mailing[24], recipient[24];
	uint64_t mailing_id, recipient_id;
	struct history_row row;
	struct herald_config *cfg;
	struct dsn dsn;
	MYSQL *db = NULL;
	int status = CLI_FAILED, permanent, changed = 0;

	if (cli_wants_help(argc, argv)) {
		cmd_bounce_usage(stdout);
		return CLI_OK;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--recipient") == 0 && i + 1 < argc &&
		    address == NULL)
			address = argv[++i];
		else if (argv[i][0] != '-' && path == NULL)
			path = argv[i];
		else {
			cmd_bounce_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (bounce_read(path, &text) != 0)
		goto done;
	if (dsn_parse(text.data ? text.data : "", text.len, &dsn, &err) != 0) {
		msg_error("bounce: %s: %s", path ? path : "standard input",
		    buf_str(&err));
		goto done;
	}
	if (address == NULL)
		address = dsn.verp;
	if (address[0] == '\0') {
		msg_error("bounce: no header names a herald return path "
		    "(bounces+MAILING-RECIPIENT@domain); pass --recipient");
		goto done;
	}
	if (dsn_parse_verp(address, &mailing_id, &recipient_id) != 0) {
		msg_error("bounce: --recipient \"%s\" is not a herald return "
		    "path (bounces+MAILING-RECIPIENT@domain)", address);
		goto done;
	}
	snprintf(mailing, sizeof(mailing), "%" PRIu64, mailing_id);
	snprintf(recipient, sizeof(recipient), "%" PRIu64, recipient_id);
	if (dsn.action != DSN_ACTION_FAILED) {
		printf("mailing %s, recipient %s: %s%s%s, nothing recorded\n",
		    mailing, recipient, dsn_action_name(dsn.action),
		    dsn.status[0] ? " " : "", dsn.status);
		status = CLI_OK;
		goto done;
	}

	/* From here on a failure is the database's: Postfix tries again. */
	status = EX_TEMPFAIL;
	cfg = cli_config(cli);
	if (cfg == NULL)
		goto done;
	db = db_connect(cfg, DB_SELECT_DATABASE, &err);
	if (db == NULL || history_find_row(db, mailing, recipient, &row,
	    &err) != 0) {
		msg_error("bounce: %s (try again later)", buf_str(&err));
		goto done;
	}
	if (row.table[0] == '\0') {
		msg_error("bounce: mailing %s does not exist or was never "
		    "staged", mailing);
		status = CLI_FAILED;
		goto done;
	}
	if (!row.found) {
		msg_error("bounce: recipient %s was not in mailing %s",
		    recipient, mailing);
		status = CLI_FAILED;
		goto done;
	}
	permanent = dsn.status[0] == '5';
	if (bounce_record(db, &row, mailing, recipient, &dsn, permanent,
	    &changed, &err) != 0) {
		msg_error("bounce: %s (try again later)", buf_str(&err));
		goto done;
	}
	printf("mailing %s, recipient %s <%s>: %s (%s%s%s)%s\n", mailing,
	    recipient, row.email, changed ? "bounced" :
	    "bounced already", dsn.status, dsn.diagnostic[0] ? ": " : "",
	    dsn.diagnostic, !changed ? ", nothing changed" : permanent ?
	    "; address suppressed" : "");
	status = CLI_OK;
done:
	if (db)
		mysql_close(db);
	buf_free(&text);
	buf_free(&err);
	return status;
}
