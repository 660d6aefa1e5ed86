/*
 * dsn.h - reading a delivery status notification (RFC 3464) that came
 * back to one of herald's VERP return paths.
 *
 * herald sends every message with a signed envelope sender
 * bounces+MAILING-RECIPIENT-KID-MAC@bounce_domain (returnpath.h). When
 * a relay further on gives up, it mails a DSN to that address: a
 * multipart/report whose message/delivery-status part says, per
 * recipient, what happened (Action, Status, Diagnostic-Code). This
 * module finds which mailing and recipient a DSN is about and what it
 * says; cmd_bounce.c records it.
 */
#ifndef HERALD_DSN_H
#define HERALD_DSN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Longest field value kept (Diagnostic-Code is cut there). */
#define DSN_VALUE_MAX 512

enum dsn_action {
	DSN_ACTION_NONE,	/* no recipient group said anything */
	DSN_ACTION_FAILED,
	DSN_ACTION_DELAYED,
	DSN_ACTION_DELIVERED,	/* also relayed, expanded */
};

struct dsn {
	/* The VERP address the DSN came to, when a header names one
	 * (its signature is not checked here: returnpath.h). */
	char verp[DSN_VALUE_MAX + 1];
	/* The most serious recipient group (failed before delayed ...). */
	enum dsn_action action;
	char status[32];		/* "5.1.1" */
	char final_recipient[DSN_VALUE_MAX + 1];
	char diagnostic[DSN_VALUE_MAX + 1];	/* printable ASCII only */
};

/*
 * Parses a whole message (LF or CRLF lines). 0 when it is a DSN with at
 * least one per-recipient group; -1 with the reason in err (and the
 * line it concerns) otherwise.
 */
int dsn_parse(const char *text, size_t length, struct dsn *dsn,
    struct buf *err);

const char *dsn_action_name(enum dsn_action action);

#endif
