/*
 * dsn.h - reading a report that came back to herald: a delivery status
 * notification (RFC 3464) or an abuse feedback report (ARF, RFC 5965).
 *
 * herald sends every message with a signed envelope sender
 * bounces+MAILING-RECIPIENT-KID-MAC@bounce_domain (returnpath.h). When
 * a relay further on gives up, it mails a DSN to that address: a
 * multipart/report whose message/delivery-status part says, per
 * recipient, what happened (Action, Status, Diagnostic-Code). This
 * module finds which mailing and recipient a DSN is about and what it
 * says; feedback.h records it.
 *
 * An ARF report (multipart/report; report-type=feedback-report) is a
 * mailbox provider's complaint: its message/feedback-report part says
 * the Feedback-Type and, in Original-Mail-From, the envelope sender the
 * complained-of message had, herald's return path; its third part
 * carries the original message or its headers, whose Return-Path and
 * List-Unsubscribe headers name the recipient too (providers redact the
 * recipient's address, not herald's tokens).
 */
#ifndef HERALD_DSN_H
#define HERALD_DSN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Longest field value kept (Diagnostic-Code is cut there). */
#define DSN_VALUE_MAX 512

/* Recipient groups kept for classification (herald's own bounces have
 * one: each return path is one recipient's). */
#define DSN_RECIPIENTS_MAX 16

enum dsn_kind {
	DSN_KIND_DELIVERY,	/* report-type delivery-status */
	DSN_KIND_FEEDBACK,	/* report-type feedback-report (ARF) */
};

enum dsn_action {
	DSN_ACTION_NONE,	/* no recipient group said anything */
	DSN_ACTION_FAILED,
	DSN_ACTION_DELAYED,
	DSN_ACTION_DELIVERED,	/* also relayed, expanded */
};

/* One recipient group of a delivery-status part. */
struct dsn_recipient {
	enum dsn_action action;
	char status[32];
	char final_recipient[DSN_VALUE_MAX + 1];
	char diagnostic[DSN_VALUE_MAX + 1];
};

struct dsn {
	enum dsn_kind kind;
	/* The top-level Subject (a mailto unsubscribe's token is there),
	 * read even when the message is no report. */
	char subject[DSN_VALUE_MAX + 1];
	/* The top-level Content-Type is multipart/report: a message that
	 * fails to parse with this set is a malformed report, not some
	 * other mail. */
	int multipart_report;
	/* The VERP address the DSN came to, when a header names one
	 * (its signature is not checked here: returnpath.h). */
	char verp[DSN_VALUE_MAX + 1];
	/* The most serious recipient group (failed before delayed ...). */
	enum dsn_action action;
	char status[32];		/* "5.1.1" */
	char final_recipient[DSN_VALUE_MAX + 1];
	char diagnostic[DSN_VALUE_MAX + 1];	/* printable ASCII only */
	/* Every recipient group, in order (the first DSN_RECIPIENTS_MAX;
	 * recipients_seen counts them all). */
	struct dsn_recipient recipients[DSN_RECIPIENTS_MAX];
	unsigned recipient_count, recipients_seen;
	/* ARF only: Feedback-Type (lower case), Original-Mail-From and
	 * Original-Rcpt-To of the report, and the Return-Path and
	 * List-Unsubscribe headers of the original message. */
	char feedback_type[32];
	char original_mail_from[DSN_VALUE_MAX + 1];
	char original_rcpt_to[DSN_VALUE_MAX + 1];
	char original_return_path[DSN_VALUE_MAX + 1];
	char original_unsubscribe[DSN_VALUE_MAX + 1];
};

/*
 * Parses a whole message (LF or CRLF lines). 0 when it is a DSN with at
 * least one per-recipient group, or an ARF report with a Feedback-Type
 * (dsn->kind says which); -1 with the reason in err (and the line it
 * concerns) otherwise, with subject and verp set as far as the top-level
 * headers could be read.
 */
int dsn_parse(const char *text, size_t length, struct dsn *dsn,
    struct buf *err);

const char *dsn_action_name(enum dsn_action action);

#endif
