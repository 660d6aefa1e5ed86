/*
 * cmd_feedback.c - "herald feedback [--recipient ADDRESS] [FILE]" (alias
 * "herald bounce"): record what the world mails back to herald, and
 * "herald feedback classify FILE...": classify without recording.
 *
 * Postfix hands each message to it through a pipe(8) transport (see
 * contrib/postfix/main.cf), for the bounce domain and the
 * List-Unsubscribe mailto address. Three kinds are recorded:
 *
 *	DSN (RFC 3464) to a return path: the failed recipient group is
 *	    classified (bounce_class.h) and recorded (feedback.h): a hard
 *	    bounce suppresses the address, soft ones after
 *	    soft_bounce_limit within soft_bounce_window. Delays and
 *	    successes are reported and change nothing.
 *	ARF (RFC 5965): a complaint, placed by the return path the
 *	    complained-of message had (the report's Original-Mail-From or
 *	    the returned message's Return-Path, or the envelope recipient)
 *	    or else by the unsubscribe token of its List-Unsubscribe
 *	    header; the address is suppressed (complained). not-spam is
 *	    reported and changes nothing.
 *	mailto unsubscribe: a Subject "unsubscribe TOKEN" (the
 *	    List-Unsubscribe mailto link's): recorded as the web records
 *	    one (unsubscribe.h), channel mailto.
 *
 * Correlation is only ever by herald's signed return path or signed
 * token, never by Received: headers or addresses in the text, so no one
 * can suppress an address they did not receive mail for. A return path
 * or token that does not verify is refused, logged (stderr and syslog)
 * and counted in feedback_refused, and changes nothing. After a
 * complaint or a hard bounce the brake (brake.h) looks at the mailing.
 *
 * Exit status, as pipe(8) reads it (0 delivered, 75 try again, any
 * other a bounce to the message's sender):
 *	0  recorded, nothing to record, refused (a forgery deserves neither
 *	   retries nor a reply), or mail that is none of the three kinds:
 *	   logged and dropped. Returning such mail (an auto-reply to a
 *	   return path, spam to the unsubscribe address) would send
 *	   backscatter to whatever sender it names, and retrying it cannot
 *	   make it one of ours.
 *	1  a DSN herald can place but not record: its mailing or
 *	   recipient is unknown, or its text is malformed. DSNs come from
 *	   the null sender, so Postfix returns nothing for them; the log
 *	   keeps the reason for the operator. An ARF report or a mailto
 *	   unsubscribe in that case exits 0 (logged): they have a sender,
 *	   to whom a failure would be returned.
 *	2  usage.
 *	75 (EX_TEMPFAIL) the input could not be read, or the database or
 *	   the token keys could not be reached: Postfix keeps the message
 *	   and tries again later, so none is lost.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "bounce_class.h"
#include "brake.h"
#include "cli.h"
#include "db.h"
#include "keyring.h"
#include "dsn.h"
#include "encode.h"
#include "feedback.h"
#include "history.h"
#include "log.h"
#include "returnpath.h"
#include "suppression.h"
#include "token.h"
#include "unsubscribe.h"

/* A report is a few KB; a larger input is not one of ours. */
#define FEEDBACK_INPUT_MAX (10 * 1024 * 1024)

static void
cmd_feedback_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald feedback [--recipient ADDRESS] [FILE]\n"
	    "       herald feedback classify FILE...\n"
	    "       herald bounce ...          (the same command)\n"
	    "\n"
	    "Reads one message from FILE or standard input, as a Postfix pipe\n"
	    "transport hands it over, and records it when it is one of:\n"
	    "  a DSN (RFC 3464) to a return path\n"
	    "      bounces+MAILING-RECIPIENT-KEY-SIGNATURE@bounce_domain\n"
	    "      (from --recipient, else X-Original-To, Delivered-To or To):\n"
	    "      the failed recipient is classified (userunknown,\n"
	    "      mailboxfull, blocked, ...) and its row marked bounced; a\n"
	    "      hard bounce suppresses the address, soft ones after\n"
	    "      soft_bounce_limit within soft_bounce_window;\n"
	    "  an ARF complaint (RFC 5965), placed by the return path or the\n"
	    "      unsubscribe token of the complained-of message: the address\n"
	    "      is suppressed as complained (not-spam changes nothing);\n"
	    "  a mailto unsubscribe (Subject \"unsubscribe TOKEN\"): recorded\n"
	    "      like the web's one-click unsubscribe, channel mailto.\n"
	    "A return path or token that does not verify is refused, logged\n"
	    "and counted in the feedback_refused table; nothing changes.\n"
	    "After a complaint or a hard bounce, the brake pulls a mailing\n"
	    "whose rates pass brake_complaint_rate or brake_bounce_rate.\n"
	    "\n"
	    "classify: touches no database; prints one JSON object per line\n"
	    "for each recipient of each FILE: file, recipient, action,\n"
	    "status, reply_code, reason, hard, feedback_type (an ARF report:\n"
	    "reason \"feedback\").\n"
	    "\n"
	    "Exit status: 0 recorded, nothing to record, refused, or mail that\n"
	    "is none of these (logged and dropped, so Postfix neither retries\n"
	    "it nor returns it), 1 a DSN whose mailing or recipient is unknown\n"
	    "or whose text is malformed (classify: a file that is no report),\n"
	    "2 usage, 75 read error or database unavailable (Postfix tries\n"
	    "again).\n");
}

/*
 * Reads the whole input into text: 0; -1 when it cannot be opened or is
 * too large to be a report; -2 on a read error (Postfix should try
 * again: the message itself may be fine).
 */
static int
feedback_read(const char *path, struct buf *text)
{
	FILE *in = path ? fopen(path, "rb") : stdin;
	const char *name = path ? path : "standard input";
	char chunk[65536];
	size_t n;
	int rc = 0;

	if (in == NULL) {
		msg_error("feedback: %s: cannot open: %m", path);
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
		if (text->len + n > FEEDBACK_INPUT_MAX) {
			msg_error("feedback: %s: larger than %d bytes: not a "
			    "report herald reads", name, FEEDBACK_INPUT_MAX);
			rc = -1;
			break;
		}
		buf_append(text, chunk, n);
	}
	if (rc == 0 && ferror(in)) {
		msg_error("feedback: %s: read error: %m (try again later)",
		    name);
		rc = -2;
	}
	if (path)
		fclose(in);
	return rc;
}

/* --- classify -------------------------------------------------------- */

static void
classify_field(struct buf *out, const char *name, const char *value,
    int last)
{
	buf_printf(out, "\"%s\": ", name);
	if (value == NULL || value[0] == '\0')
		buf_append_str(out, "null");
	else
		encode_json_string(out, value, strlen(value));
	buf_append_str(out, last ? "}\n" : ", ");
}

/* One file: a JSON line per recipient. 0, or -1 when it is no report. */
static int
classify_file(const char *path)
{
	struct buf text = BUF_INIT, err = BUF_INIT, line = BUF_INIT;
	struct bounce_class class;
	struct dsn dsn;
	int rc = -1;

	if (feedback_read(path, &text) != 0)
		goto out;
	if (dsn_parse(text.data ? text.data : "", text.len, &dsn, &err)) {
		msg_error("feedback classify: %s: %s", path, buf_str(&err));
		goto out;
	}
	if (dsn.kind == DSN_KIND_FEEDBACK) {
		buf_append_str(&line, "{");
		classify_field(&line, "file", path, 0);
		classify_field(&line, "recipient", dsn.original_rcpt_to, 0);
		buf_append_str(&line, "\"action\": null, \"status\": null, "
		    "\"reply_code\": null, \"reason\": \"feedback\", "
		    "\"hard\": false, ");
		classify_field(&line, "feedback_type", dsn.feedback_type, 1);
	}
	for (unsigned i = 0; dsn.kind == DSN_KIND_DELIVERY &&
	    i < dsn.recipient_count; i++) {
		const struct dsn_recipient *r = &dsn.recipients[i];

		bounce_classify(r->status, r->diagnostic, &class);
		buf_append_str(&line, "{");
		classify_field(&line, "file", path, 0);
		classify_field(&line, "recipient", r->final_recipient, 0);
		classify_field(&line, "action", dsn_action_name(r->action), 0);
		classify_field(&line, "status", class.status, 0);
		classify_field(&line, "reply_code", class.reply_code, 0);
		classify_field(&line, "reason",
		    bounce_reason_name(class.reason), 0);
		buf_printf(&line, "\"hard\": %s, \"feedback_type\": null}\n",
		    class.hard ? "true" : "false");
	}
	if (dsn.recipients_seen > dsn.recipient_count)
		msg_warn("feedback classify: %s: %u recipients, only the "
		    "first %u classified", path, dsn.recipients_seen,
		    dsn.recipient_count);
	fwrite(line.data ? line.data : "", 1, line.len, stdout);
	rc = 0;
out:
	buf_free(&text);
	buf_free(&err);
	buf_free(&line);
	return rc;
}

static int
feedback_classify(int argc, char **argv)
{
	int status = CLI_OK;

	if (argc < 2)
		return cli_usage_error(cmd_feedback_usage, "feedback "
		    "classify: name at least one FILE");
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return cli_unexpected(cmd_feedback_usage,
			    "feedback classify", argv[i]);
	}
	for (int i = 1; i < argc; i++)
		if (classify_file(argv[i]) != 0)
			status = CLI_FAILED;
	return status;
}

/* --- trust --------------------------------------------------------------- */

/*
 * Refuses a return path or token: logs why and counts it. Counting
 * needs the database; when it is out of reach the refusal still stands
 * (the log has it).
 */
static void
feedback_refuse(const struct herald_config *cfg, MYSQL **db,
    const char *what, const char *reason, const char *why)
{
	struct buf err = BUF_INIT;
	unsigned long long today = 0;

	if (*db == NULL)
		*db = db_connect(cfg, DB_SELECT_DATABASE | DB_AS_INTAKE,
		    &err);
	if (*db == NULL || return_path_count_refused(*db, reason, &today,
	    &err) != 0)
		msg_warn("feedback: refused %s %s: %s; nothing recorded (not "
		    "counted: %s)", reason, what, why, buf_str(&err));
	else
		msg_warn("feedback: refused %s %s: %s; nothing recorded "
		    "(%llu %s refused today)", reason, what, why, today,
		    reason);
	buf_free(&err);
}

/*
 * Whether the return path may be believed: signed with one of the keys,
 * or unsigned for a mailing still in the grace period. 1 yes; 0 refused
 * (logged and counted); -1 cannot tell now (keys or database out of
 * reach: Postfix should try again).
 */
static int
feedback_return_path_trusted(const struct herald_config *cfg, MYSQL **db,
    const struct token_keys *keys, const struct return_path *rp,
    const char *address)
{
	struct buf err = BUF_INIT, why = BUF_INIT, what = BUF_INIT;
	int trusted = -1, accepted;

	buf_printf(&what, "return path \"%s\"", address);
	if (rp->is_signed) {
		trusted = return_path_verify(keys, rp, &why) == 0;
		if (!trusted)
			feedback_refuse(cfg, db, buf_str(&what), "forged",
			    buf_str(&why));
		goto out;
	}
	if (*db == NULL)
		*db = db_connect(cfg, DB_SELECT_DATABASE | DB_AS_INTAKE,
		    &err);
	if (*db == NULL || return_path_unsigned_accepted(*db, rp->mailing,
	    &accepted, &why, &err) != 0) {
		msg_error("feedback: %s (try again later)", buf_str(&err));
		goto out;
	}
	if (!accepted)
		feedback_refuse(cfg, db, buf_str(&what), "unsigned",
		    buf_str(&why));
	trusted = accepted;
out:
	buf_free(&err);
	buf_free(&why);
	buf_free(&what);
	return trusted;
}

/*
 * The unsubscribe token in text: after "t=" (the https link) or after
 * "unsubscribe" and a space or "%20" (the mailto link's subject, or a
 * Subject line); token characters only. 0 with it in out, -1 when none.
 */
static int
feedback_find_token(const char *text, char *out, size_t size)
{
	static const char token_chars[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";
	const char *p;
	size_t n;

	for (p = text; *p; p++) {
		const char *start = NULL;

		if (strncmp(p, "t=", 2) == 0 && p > text && (p[-1] == '?' ||
		    p[-1] == '&'))
			start = p + 2;
		else if (strncasecmp(p, "unsubscribe%20", 14) == 0)
			start = p + 14;
		else if (strncasecmp(p, "unsubscribe ", 12) == 0)
			start = p + 12;
		if (start == NULL)
			continue;
		n = strspn(start, token_chars);
		if (n > 0 && n < size) {
			memcpy(out, start, n);
			out[n] = '\0';
			return 0;
		}
	}
	return -1;
}

/* --- recording ----------------------------------------------------------- */

/* What one run found and where it goes. */
struct feedback_run {
	const struct herald_config *cfg;
	MYSQL *db;
	struct token_keys *keys;
	uint64_t mailing, recipient;
	struct history_row row;
};

/*
 * Connects when not yet and finds the message's row: 0 found; 1 the
 * mailing or recipient is unknown (logged); -1 database trouble
 * (logged: try again).
 */
static int
feedback_find(struct feedback_run *run)
{
	struct buf err = BUF_INIT;
	char mailing[24], recipient[24];
	int rc = -1;

	snprintf(mailing, sizeof(mailing), "%" PRIu64, run->mailing);
	snprintf(recipient, sizeof(recipient), "%" PRIu64, run->recipient);
	if (run->db == NULL)
		run->db = db_connect(run->cfg, DB_SELECT_DATABASE |
		    DB_AS_INTAKE, &err);
	if (run->db == NULL || history_find_row(run->db, mailing, recipient,
	    &run->row, &err) != 0) {
		msg_error("feedback: %s (try again later)", buf_str(&err));
		goto out;
	}
	rc = 1;
	if (run->row.table[0] == '\0')
		msg_error("feedback: mailing %s does not exist or was never "
		    "staged", mailing);
	else if (!run->row.found)
		msg_error("feedback: recipient %s was not in mailing %s",
		    recipient, mailing);
	else
		rc = 0;
out:
	buf_free(&err);
	return rc;
}

/* After a complaint or a hard bounce: the brake. 0, or -1 (logged). */
static int
feedback_brake(struct feedback_run *run)
{
	struct buf reason = BUF_INIT, err = BUF_INIT;
	struct brake_window w;
	int rc;

	rc = brake_check(run->db, run->cfg, run->mailing, &w, &reason, &err);
	if (rc != 0)
		msg_error("feedback: the brake of mailing %" PRIu64 ": %s "
		    "(try again later)", run->mailing, buf_str(&err));
	else if (w.pulled)
		msg_warn("mailing %" PRIu64 " pulled by the %s", run->mailing,
		    buf_str(&reason));
	buf_free(&reason);
	buf_free(&err);
	return rc;
}

/* A DSN's failed recipient group. Exit status. */
static int
feedback_bounce(struct feedback_run *run, const struct dsn *dsn)
{
	char reply[DSN_VALUE_MAX + 64];
	struct feedback_outcome outcome;
	struct bounce_class class;
	struct buf err = BUF_INIT;
	int status = EX_TEMPFAIL, found;

	if (dsn->action != DSN_ACTION_FAILED) {
		printf("mailing %" PRIu64 ", recipient %" PRIu64 ": %s%s%s, "
		    "nothing recorded\n", run->mailing, run->recipient,
		    dsn_action_name(dsn->action), dsn->status[0] ? " " : "",
		    dsn->status);
		return CLI_OK;
	}
	if ((found = feedback_find(run)) != 0)
		return found < 0 ? EX_TEMPFAIL : CLI_FAILED;
	bounce_classify(dsn->status, dsn->diagnostic, &class);
	snprintf(reply, sizeof(reply), "%s %s", dsn->status, dsn->diagnostic);
	if (feedback_record_bounce(run->db, run->cfg, &run->row, run->mailing,
	    run->recipient, reply, &class, &outcome, &err) != 0) {
		msg_error("feedback: %s (try again later)", buf_str(&err));
		goto out;
	}
	printf("mailing %" PRIu64 ", recipient %" PRIu64 " <%s>: %s (%s%s%s), "
	    "%s %s", run->mailing, run->recipient, run->row.email,
	    outcome.changed ? "bounced" : "bounced already", dsn->status,
	    dsn->diagnostic[0] ? ": " : "", dsn->diagnostic,
	    class.hard ? "hard" : "soft", bounce_reason_name(class.reason));
	if (!outcome.changed)
		printf(", nothing changed\n");
	else if (outcome.suppressed)
		printf("; address suppressed\n");
	else if (!class.hard)
		printf("; %llu soft bounce%s within soft_bounce_window, "
		    "suppressed at %ld\n", outcome.soft_bounces,
		    outcome.soft_bounces == 1 ? "" : "s",
		    run->cfg->soft_bounce_limit);
	else
		printf("\n");
	status = class.hard && feedback_brake(run) != 0 ? EX_TEMPFAIL :
	    CLI_OK;
out:
	buf_free(&err);
	return status;
}

/* An ARF report placed on (mailing, recipient). Exit status. */
static int
feedback_complaint(struct feedback_run *run, const struct dsn *dsn)
{
	struct feedback_outcome outcome;
	struct buf err = BUF_INIT;
	int status = EX_TEMPFAIL, found;

	if (!feedback_type_known(dsn->feedback_type))
		msg_warn("feedback: ARF Feedback-Type \"%s\" is none of "
		    "abuse, fraud, virus, other, not-spam, opt-out: taken as "
		    "a complaint", dsn->feedback_type);
	if (strcmp(dsn->feedback_type, "not-spam") == 0) {
		printf("mailing %" PRIu64 ", recipient %" PRIu64 ": feedback "
		    "not-spam, nothing recorded\n", run->mailing,
		    run->recipient);
		return CLI_OK;
	}
	/* Unknown: logged; 0, since a report has a sender a failure
	 * would return it to (the provider's loop). */
	if ((found = feedback_find(run)) != 0)
		return found < 0 ? EX_TEMPFAIL : CLI_OK;
	if (feedback_record_complaint(run->db, &run->row, run->mailing,
	    run->recipient, dsn->feedback_type, &outcome, &err) != 0) {
		msg_error("feedback: %s (try again later)", buf_str(&err));
		goto out;
	}
	printf("mailing %" PRIu64 ", recipient %" PRIu64 " <%s>: complaint "
	    "(%s)%s\n", run->mailing, run->recipient, run->row.email,
	    dsn->feedback_type, !outcome.changed ? " recorded already, "
	    "nothing changed" : "; address suppressed as complained");
	status = feedback_brake(run) != 0 ? EX_TEMPFAIL : CLI_OK;
out:
	buf_free(&err);
	return status;
}

/* A mailto unsubscribe with a verified token. Exit status. */
static int
feedback_unsubscribe(struct feedback_run *run)
{
	enum unsubscribe_outcome outcome;
	struct unsubscribe_target target = { 0 };
	struct buf err = BUF_INIT;
	int status = EX_TEMPFAIL;

	if (run->db == NULL)
		run->db = db_connect(run->cfg, DB_SELECT_DATABASE |
		    DB_AS_INTAKE, &err);
	if (run->db == NULL || unsubscribe_record(run->db, run->mailing,
	    run->recipient, SUPPRESSION_MAILTO, NULL, &outcome, &target,
	    &err) != 0) {
		msg_error("feedback: %s (try again later)", buf_str(&err));
		goto out;
	}
	if (outcome == UNSUBSCRIBE_UNKNOWN) {
		/* Logged; 0, so nothing goes back to the person who
		 * wrote (the token verified: the data is gone). */
		msg_error("feedback: mailto unsubscribe: mailing %" PRIu64
		    " or recipient %" PRIu64 " does not exist", run->mailing,
		    run->recipient);
		status = CLI_OK;
		goto out;
	}
	printf("mailing %" PRIu64 ", recipient %" PRIu64 " <%s>: %s\n",
	    run->mailing, run->recipient, buf_str(&target.email),
	    outcome == UNSUBSCRIBE_DONE ? "unsubscribed (mailto)" :
	    "unsubscribed already, nothing changed");
	status = CLI_OK;
out:
	buf_free(&target.email);
	buf_free(&err);
	return status;
}

/*
 * Places (mailing, recipient) from a return path: 1 trusted, 0 refused
 * or none given, -1 try again.
 */
static int
feedback_place_return_path(struct feedback_run *run, const char *address)
{
	struct return_path rp;
	int trusted;

	if (address == NULL || address[0] == '\0' ||
	    return_path_parse(address, &rp) != 0)
		return 0;
	trusted = feedback_return_path_trusted(run->cfg, &run->db, run->keys,
	    &rp, address);
	if (trusted == 1) {
		run->mailing = rp.mailing;
		run->recipient = rp.recipient;
	}
	return trusted;
}

/* Places it from an unsubscribe token: 1 verified, 0 refused. */
static int
feedback_place_token(struct feedback_run *run, const char *token)
{
	struct buf why = BUF_INIT, what = BUF_INIT;
	int rc = 1;

	if (token_verify(run->keys, TOKEN_UNSUBSCRIBE, token, &run->mailing,
	    &run->recipient, &why) != 0) {
		buf_printf(&what, "unsubscribe token \"%s\"", token);
		feedback_refuse(run->cfg, &run->db, buf_str(&what), "forged",
		    buf_str(&why));
		rc = 0;
	}
	buf_free(&why);
	buf_free(&what);
	return rc;
}

/* Mail that is none of the three kinds: logged, dropped (exit 0). */
static int
feedback_ignore(const char *path, const char *why)
{
	msg_warn("feedback: %s: ignored, not a report or unsubscribe herald "
	    "can place: %s", path ? path : "standard input", why);
	return CLI_OK;
}

/*
 * An ARF report: the first return path among --recipient, the report's
 * Original-Mail-From, the returned message's Return-Path and the
 * report's own address headers decides; without one, the returned
 * message's unsubscribe token. Exit status.
 */
static int
feedback_dispatch_arf(struct feedback_run *run, const char *path,
    const char *address, const struct dsn *dsn)
{
	const char *candidates[4] = { address, dsn->original_mail_from,
	    dsn->original_return_path, dsn->verp };
	char token[RETURN_PATH_TOKEN_MAX + 64];
	struct return_path rp;
	int placed;

	for (int i = 0; i < 4; i++) {
		if (candidates[i] == NULL ||
		    return_path_parse(candidates[i], &rp) != 0)
			continue;
		placed = feedback_place_return_path(run, candidates[i]);
		if (placed < 0)
			return EX_TEMPFAIL;
		return placed ? feedback_complaint(run, dsn) : CLI_OK;
	}
	if (feedback_find_token(dsn->original_unsubscribe, token,
	    sizeof(token)) != 0)
		return feedback_ignore(path, "an ARF report whose message "
		    "names no herald return path or token");
	return feedback_place_token(run, token) ? feedback_complaint(run,
	    dsn) : CLI_OK;
}

/*
 * Everything after reading and parsing: parse_error is NULL when the
 * message is a DSN or an ARF report. Exit status.
 */
static int
feedback_dispatch(struct feedback_run *run, const char *path,
    const char *address, const struct dsn *dsn, const char *parse_error)
{
	char token[RETURN_PATH_TOKEN_MAX + 64];
	struct return_path rp;
	int placed;

	if (parse_error == NULL && dsn->kind == DSN_KIND_FEEDBACK)
		return feedback_dispatch_arf(run, path, address, dsn);
	if (address == NULL || address[0] == '\0')
		address = dsn->verp;
	if (address[0] != '\0' && return_path_parse(address, &rp) == 0) {
		/* The signature first: a forgery learns nothing, not even
		 * whether its text is a DSN, and gets nothing back. */
		placed = feedback_place_return_path(run, address);
		if (placed <= 0)
			return placed < 0 ? EX_TEMPFAIL : CLI_OK;
		if (parse_error == NULL)
			return feedback_bounce(run, dsn);
		if (dsn->multipart_report) {
			msg_error("feedback: %s: %s", path ? path :
			    "standard input", parse_error);
			return CLI_FAILED;
		}
		/* An auto-reply to a return path, say. */
		return feedback_ignore(path, parse_error);
	}
	if (parse_error == NULL && address[0] != '\0') {
		msg_error("feedback: --recipient \"%s\" is not a herald return "
		    "path (bounces+MAILING-RECIPIENT-KEY-SIGNATURE@domain)",
		    address);
		return CLI_FAILED;
	}
	if (parse_error == NULL)
		return feedback_ignore(path, "a DSN that names no herald "
		    "return path (bounces+MAILING-RECIPIENT-KEY-SIGNATURE@"
		    "domain)");
	if (feedback_find_token(dsn->subject, token, sizeof(token)) == 0)
		return feedback_place_token(run, token) ?
		    feedback_unsubscribe(run) : CLI_OK;
	return feedback_ignore(path, parse_error);
}

int
cmd_feedback(struct cli *cli, int argc, char **argv)
{
	const char *path = NULL, *address = NULL;
	struct buf text = BUF_INIT, err = BUF_INIT, key_err = BUF_INIT;
	struct feedback_run run = { 0 };
	struct dsn *dsn = NULL;
	int status = CLI_FAILED, is_report;

	if (cli_wants_help(argc, argv)) {
		cmd_feedback_usage(stdout);
		return CLI_OK;
	}
	if (argc > 1 && strcmp(argv[1], "classify") == 0)
		return feedback_classify(argc - 1, argv + 1);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--recipient") == 0 && i + 1 == argc)
			return cli_missing_value(cmd_feedback_usage, argv[0],
			    argv[i], "the address the message came to");
		if (strcmp(argv[i], "--recipient") == 0 && address == NULL)
			address = argv[++i];
		else if (argv[i][0] != '-' && path == NULL)
			path = argv[i];
		else
			return cli_unexpected(cmd_feedback_usage, argv[0],
			    argv[i]);
	}
	log_open("herald", LOG_TO_BOTH);
	switch (feedback_read(path, &text)) {
	case -2:
		status = EX_TEMPFAIL;
		/* fall through */
	case -1:
		goto done;
	}
	dsn = calloc(1, sizeof(*dsn));
	if (dsn == NULL) {
		msg_error("feedback: out of memory (try again later)");
		status = EX_TEMPFAIL;
		goto done;
	}
	is_report = dsn_parse(text.data ? text.data : "", text.len, dsn,
	    &err) == 0;
	run.cfg = cli_config(cli);
	if (run.cfg == NULL) {
		status = EX_TEMPFAIL;
		goto done;
	}
	/* The keys are in the database unless configured (keyring.h). */
	if (!keyring_configured(run.cfg))
		run.db = db_connect(run.cfg, DB_SELECT_DATABASE |
		    DB_AS_INTAKE, &key_err);
	if (run.db != NULL || keyring_configured(run.cfg))
		run.keys = keyring_read(run.cfg, run.db, &key_err);
	if (run.keys == NULL) {
		msg_error("feedback: %s (try again later)", buf_str(&key_err));
		status = EX_TEMPFAIL;
		goto done;
	}
	status = feedback_dispatch(&run, path, address, dsn, is_report ?
	    NULL : buf_str(&err));
done:
	if (run.db)
		mysql_close(run.db);
	token_keys_free(run.keys);
	free(dsn);
	buf_free(&text);
	buf_free(&err);
	buf_free(&key_err);
	return status;
}
