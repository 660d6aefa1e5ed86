/*
 * cmd_bounce.c - "herald bounce [--recipient ADDRESS] [FILE]": record a
 * delivery status notification that came back to a VERP return path.
 *
 * Postfix hands each bounce to it through a pipe(8) transport (see
 * contrib/postfix/main.cf). The return path names the mailing and the
 * recipient and is signed (returnpath.h): a return path that is not
 * signed (outside the grace period of mail sent before signing) or whose
 * signature is wrong is refused, logged (stderr and syslog) and counted
 * in feedback_refused, and changes nothing. A failed delivery marks that
 * recipient's message bounced (history.h: wherever its row lives, in its
 * stage table or, days later, in a monthly archive, packed or not) and
 * counts it once, and a permanent one (status 5.x.x) also marks the
 * recipient bounced and suppresses the address, so no later mailing is
 * staged for it. Delays and successes are reported and change nothing.
 * Running it twice on the same bounce changes nothing the second time.
 *
 * Exit status, as pipe(8) reads it: 0 recorded (or nothing to record),
 * and 0 for a refused return path too: pipe(8) defers on 75 and returns
 * the mail to its sender on any other failure, and a forgery deserves
 * neither (retries would keep it in the queue; a bounce would send
 * backscatter to whatever sender the forger wrote). 1 not a bounce herald
 * can place (Postfix returns it to its sender, which for a bounce is
 * nobody); 2 usage; 75 (EX_TEMPFAIL) the input could not be read, or the
 * database could not be reached or failed: Postfix keeps the bounce and
 * tries again later, so none is lost.
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
#include "returnpath.h"
#include "suppression.h"
#include "token.h"

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
	    "names (bounces+MAILING-RECIPIENT-KEY-SIGNATURE@bounce_domain;\n"
	    "taken from --recipient, else from X-Original-To, Delivered-To\n"
	    "or To). A return path that is unsigned or badly signed is\n"
	    "refused: logged, counted in the feedback_refused table, nothing\n"
	    "changed (unsigned ones of mailings staged before herald signed\n"
	    "them are accepted for 14 days after the upgrade).\n"
	    "A failed delivery marks the recipient's row bounced; a permanent\n"
	    "one (5.x.x) also marks the recipient bounced and suppresses the\n"
	    "address. Delays change nothing.\n"
	    "\n"
	    "Exit status: 0 recorded, nothing to record or refused (so\n"
	    "Postfix neither retries nor returns a forgery), 1 not a bounce\n"
	    "herald can place, 2 usage, 75 read error or database\n"
	    "unavailable (Postfix tries again).\n");
}

/*
 * Reads the whole input into text: 0; -1 when it cannot be opened or is
 * too large to be a bounce; -2 on a read error (Postfix should try
 * again: the bounce itself may be fine).
 */
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
		msg_error("bounce: %s: read error: %m (try again later)",
		    path ? path : "standard input");
		if (path)
			fclose(in);
		return -2;
	}
	if (path)
		fclose(in);
	return 0;
}

/*
 * Records a failed delivery in one transaction, so a failure anywhere
 * leaves nothing half done and Postfix's retry records it whole. The
 * stage table is MyISAM and cannot roll back: its row is written last,
 * after the counter (InnoDB, which waits for COMMIT), and when the row
 * was already bounced the counter is taken back. A bounce processed
 * again (Postfix retrying after a crash) thus counts once; only a
 * failure of the COMMIT itself can leave a row bounced and uncounted.
 */
static int
bounce_record(MYSQL *db, const struct history_row *row, const char *mailing,
    const char *recipient, const struct dsn *dsn, int permanent,
    int *changed, struct buf *err)
{
	char reply[DSN_VALUE_MAX + 64];
	struct buf ignored = BUF_INIT;
	const char *m[1] = { mailing };
	int rc = -1;

	*changed = 0;
	snprintf(reply, sizeof(reply), "%s %s", dsn->status, dsn->diagnostic);
	if (db_exec(db, "START TRANSACTION", err))
		goto out;
	if (permanent) {
		const char *r[1] = { recipient };
		struct suppression_list one = { 0 };
		int failed = db_execute(db, "UPDATE recipients SET status = "
		    "'bounced' WHERE id = ? AND status = 'active'", 1, r, NULL,
		    err) || suppression_normalize(row->email, &one, err) ||
		    suppression_insert(db, &one, SUPPRESSION_BOUNCE, "bounced",
		    reply, strtoull(mailing, NULL, 10), NULL, err);

		suppression_list_free(&one);
		if (failed)
			goto out;
	}
	/* Counted first, taken back when the bounce is not new: the stage
	 * row (MyISAM, no rollback) is the last thing written. */
	if (db_exec(db, "SAVEPOINT uncounted", err) ||
	    db_execute(db, "UPDATE mailings SET bounced_count = "
	    "bounced_count + 1 WHERE id = ?", 1, m, NULL, err))
		goto out;
	/* Wherever the row lives: stage table, archive, packed archive. */
	if (history_record_bounce(db, row, mailing, recipient, reply, changed,
	    err))
		goto out;
	if (!*changed && db_exec(db, "ROLLBACK TO SAVEPOINT uncounted", err))
		goto out;
	rc = db_exec(db, "COMMIT", err);
out:
	if (rc != 0) {
		db_exec(db, "ROLLBACK", &ignored);
		*changed = 0;
	}
	buf_free(&ignored);
	return rc;
}

/*
 * Refuses the return path address: logs why and counts it. Counting
 * needs the database; when it is out of reach the refusal still stands
 * (the log has it).
 */
static void
bounce_refuse(const struct herald_config *cfg, MYSQL **db,
    const char *address, const char *reason, const char *why)
{
	struct buf err = BUF_INIT;
	unsigned long long today = 0;

	if (*db == NULL)
		*db = db_connect(cfg, DB_SELECT_DATABASE | DB_AS_INTAKE,
		    &err);
	if (*db == NULL || return_path_count_refused(*db, reason, &today,
	    &err) != 0)
		msg_warn("bounce: refused %s return path \"%s\": %s; "
		    "nothing recorded (not counted: %s)", reason, address, why,
		    buf_str(&err));
	else
		msg_warn("bounce: refused %s return path \"%s\": %s; "
		    "nothing recorded (%llu %s refused today)", reason, address,
		    why, today, reason);
	buf_free(&err);
}

/*
 * Whether the return path may be believed: signed with one of the keys,
 * or unsigned for a mailing still in the grace period. 1 yes; 0 refused
 * (logged and counted); -1 cannot tell now (keys or database out of
 * reach: Postfix should try again).
 */
static int
bounce_return_path_trusted(const struct herald_config *cfg, MYSQL **db,
    const struct return_path *rp, const char *address)
{
	struct buf err = BUF_INIT, why = BUF_INIT;
	struct token_keys *keys = NULL;
	int trusted = -1, accepted;

	if (rp->is_signed) {
		keys = token_keys_load(cfg, &err);
		if (keys == NULL) {
			msg_error("bounce: %s (try again later)",
			    buf_str(&err));
			goto out;
		}
		trusted = return_path_verify(keys, rp, &why) == 0;
		if (!trusted)
			bounce_refuse(cfg, db, address, "forged",
			    buf_str(&why));
		goto out;
	}
	*db = db_connect(cfg, DB_SELECT_DATABASE | DB_AS_INTAKE, &err);
	if (*db == NULL || return_path_unsigned_accepted(*db, rp->mailing,
	    &accepted, &why, &err) != 0) {
		msg_error("bounce: %s (try again later)", buf_str(&err));
		goto out;
	}
	if (!accepted)
		bounce_refuse(cfg, db, address, "unsigned", buf_str(&why));
	trusted = accepted;
out:
	token_keys_free(keys);
	buf_free(&err);
	buf_free(&why);
	return trusted;
}

int
cmd_bounce(struct cli *cli, int argc, char **argv)
{
	const char *path = NULL, *address = NULL;
	struct buf text = BUF_INIT, err = BUF_INIT;
	char mailing[24], recipient[24];
	struct history_row row;
	struct herald_config *cfg;
	struct return_path rp;
	struct dsn dsn;
	MYSQL *db = NULL;
	int status = CLI_FAILED, permanent, parsed, changed = 0;

	if (cli_wants_help(argc, argv)) {
		cmd_bounce_usage(stdout);
		return CLI_OK;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--recipient") == 0 && i + 1 == argc)
			return cli_missing_value(cmd_bounce_usage, "bounce",
			    argv[i], "the VERP address the bounce is for");
		if (strcmp(argv[i], "--recipient") == 0 && address == NULL)
			address = argv[++i];
		else if (argv[i][0] != '-' && path == NULL)
			path = argv[i];
		else
			return cli_unexpected(cmd_bounce_usage, "bounce",
			    argv[i]);
	}
	log_open("herald", LOG_TO_BOTH);
	switch (bounce_read(path, &text)) {
	case -2:
		status = EX_TEMPFAIL;
		/* fall through */
	case -1:
		goto done;
	}
	parsed = dsn_parse(text.data ? text.data : "", text.len, &dsn, &err);
	if (parsed != 0 && address == NULL) {
		msg_error("bounce: %s: %s", path ? path : "standard input",
		    buf_str(&err));
		goto done;
	}
	if (address == NULL)
		address = dsn.verp;
	if (address[0] == '\0') {
		msg_error("bounce: no header names a herald return path "
		    "(bounces+MAILING-RECIPIENT-KEY-SIGNATURE@domain); pass "
		    "--recipient");
		goto done;
	}
	if (return_path_parse(address, &rp) != 0) {
		msg_error("bounce: --recipient \"%s\" is not a herald return "
		    "path (bounces+MAILING-RECIPIENT-KEY-SIGNATURE@domain)",
		    address);
		goto done;
	}
	/* The signature first: a forgery learns nothing, not even whether
	 * its text is a DSN, and gets nothing back. */
	cfg = cli_config(cli);
	if (cfg == NULL) {
		status = EX_TEMPFAIL;
		goto done;
	}
	switch (bounce_return_path_trusted(cfg, &db, &rp, address)) {
	case -1:
		status = EX_TEMPFAIL;
		goto done;
	case 0:
		status = CLI_OK;
		goto done;
	}
	if (parsed != 0) {
		msg_error("bounce: %s: %s", path ? path : "standard input",
		    buf_str(&err));
		goto done;
	}
	snprintf(mailing, sizeof(mailing), "%" PRIu64, rp.mailing);
	snprintf(recipient, sizeof(recipient), "%" PRIu64, rp.recipient);
	if (dsn.action != DSN_ACTION_FAILED) {
		printf("mailing %s, recipient %s: %s%s%s, nothing recorded\n",
		    mailing, recipient, dsn_action_name(dsn.action),
		    dsn.status[0] ? " " : "", dsn.status);
		status = CLI_OK;
		goto done;
	}

	/* From here on a failure is the database's: Postfix tries again. */
	status = EX_TEMPFAIL;
	if (db == NULL)
		db = db_connect(cfg, DB_SELECT_DATABASE | DB_AS_INTAKE,
		    &err);
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
