/*
 * bounce_class.h - why a delivery failed, in Sisimai's vocabulary, and
 * whether it is hard (the address will not work again) or soft.
 *
 * Input is what a mail system says about one recipient: the enhanced
 * status code of a DSN (RFC 3463, "5.1.1", may be empty) and the
 * remote server's words (a DSN's Diagnostic-Code, or a Postfix log's
 * delay_reason such as "host mx.example[192.0.2.1] said: 452 4.2.2
 * mailbox full (in reply to RCPT TO command)"). Output is one reason
 * of the vocabulary below (Sisimai's names, so reports read like the
 * tools operators know), whether it is hard, and the status and SMTP
 * reply code found (from the input's status, else from the text).
 *
 * The words decide first (servers are specific there: "mailbox full"
 * under 5.0.0 is a full mailbox), then the status code's subject and
 * detail, then the reply code. Hard means the address itself is wrong:
 * userunknown, hostunknown, hasmoved, and a permanent (5.x.x) failure
 * nothing explains (undefined), which herald treated as permanent
 * before it had classes. Everything else is about this message, this
 * sender or this moment and is soft, whatever its status class: a
 * 5.7.1 "blocked" says nothing about the recipient.
 *
 * No allocation, no database, no state: usable from the feedback
 * intake and from the daemon's deferral handling alike.
 */
#ifndef HERALD_BOUNCE_CLASS_H
#define HERALD_BOUNCE_CLASS_H

enum bounce_reason {
	BOUNCE_USERUNKNOWN,	/* no such mailbox */
	BOUNCE_MAILBOXFULL,	/* over quota */
	BOUNCE_HOSTUNKNOWN,	/* no such domain or host */
	BOUNCE_BLOCKED,		/* the sending IP refused (blocklist, PTR) */
	BOUNCE_SPAMDETECTED,	/* the content was judged spam */
	BOUNCE_POLICYVIOLATION,	/* a site policy refused it */
	BOUNCE_EXPIRED,		/* retried until the queue lifetime ran out */
	BOUNCE_REJECTED,	/* the envelope sender was refused */
	BOUNCE_FILTERED,	/* the recipient's own filter refused it */
	BOUNCE_TOOMANYCONN,	/* rate or connection limits */
	BOUNCE_SYSTEMERROR,	/* the remote system failed */
	BOUNCE_NETWORKERROR,	/* connection or DNS trouble on the way */
	BOUNCE_MESGTOOBIG,	/* the message is too large */
	BOUNCE_NORELAYING,	/* relaying refused */
	BOUNCE_SUSPEND,		/* the mailbox is disabled or suspended */
	BOUNCE_HASMOVED,	/* the recipient has moved */
	BOUNCE_NOTCOMPLIANTRFC,	/* the message broke the RFCs */
	BOUNCE_SECURITYERROR,	/* SPF, DKIM, DMARC, TLS, authentication */
	BOUNCE_UNDEFINED,	/* nothing says why */
	BOUNCE_REASON_COUNT
};

/* What bounce_classify() found. */
struct bounce_class {
	enum bounce_reason reason;
	int hard;		/* 1: the address will not work again */
	char status[16];	/* "5.1.1", "" when none was found */
	char reply_code[4];	/* "550", "" when none was found */
};

/*
 * Classifies one failure. status: the DSN's Status ("" or NULL when
 * there is none); text: the server's words (NULL or "" when none).
 * Always fills out.
 */
void bounce_classify(const char *status, const char *text,
    struct bounce_class *out);

/* The reason's name ("userunknown", ...). */
const char *bounce_reason_name(enum bounce_reason reason);

/* The reason named name: 0, or -1 when the vocabulary has no such name. */
int bounce_reason_parse(const char *name, enum bounce_reason *reason);

#endif
