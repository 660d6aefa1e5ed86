/*
 * bounce_class.c - classifying a delivery failure (see bounce_class.h).
 *
 * Three tables, tried in order: phrases of the server's words, then
 * enhanced status codes (most specific first), then the SMTP reply
 * code. Phrases are matched without case as substrings; their order
 * matters where two could match (a blocklist's name before "spam",
 * "spam" before "policy": a spam verdict often mentions a policy).
 */
#include "bounce_class.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const bounce_reason_names[BOUNCE_REASON_COUNT] = {
	[BOUNCE_USERUNKNOWN] = "userunknown",
	[BOUNCE_MAILBOXFULL] = "mailboxfull",
	[BOUNCE_HOSTUNKNOWN] = "hostunknown",
	[BOUNCE_BLOCKED] = "blocked",
	[BOUNCE_SPAMDETECTED] = "spamdetected",
	[BOUNCE_POLICYVIOLATION] = "policyviolation",
	[BOUNCE_EXPIRED] = "expired",
	[BOUNCE_REJECTED] = "rejected",
	[BOUNCE_FILTERED] = "filtered",
	[BOUNCE_TOOMANYCONN] = "toomanyconn",
	[BOUNCE_SYSTEMERROR] = "systemerror",
	[BOUNCE_NETWORKERROR] = "networkerror",
	[BOUNCE_MESGTOOBIG] = "mesgtoobig",
	[BOUNCE_NORELAYING] = "norelaying",
	[BOUNCE_SUSPEND] = "suspend",
	[BOUNCE_HASMOVED] = "hasmoved",
	[BOUNCE_NOTCOMPLIANTRFC] = "notcompliantrfc",
	[BOUNCE_SECURITYERROR] = "securityerror",
	[BOUNCE_UNDEFINED] = "undefined",
};

struct bounce_phrase {
	const char *words;
	enum bounce_reason reason;
};

/* Phrases servers use, checked in this order. */
static const struct bounce_phrase bounce_phrases[] = {
	/* Relaying and moved first: they also say "user" or "address". */
	{ "relay access denied", BOUNCE_NORELAYING },
	{ "relaying denied", BOUNCE_NORELAYING },
	{ "not permitted to relay", BOUNCE_NORELAYING },
	{ "unable to relay", BOUNCE_NORELAYING },
	{ "relay not permitted", BOUNCE_NORELAYING },
	{ "has moved", BOUNCE_HASMOVED },
	{ "no longer at this address", BOUNCE_HASMOVED },
	{ "mailbox full", BOUNCE_MAILBOXFULL },
	{ "mailbox is full", BOUNCE_MAILBOXFULL },
	{ "over quota", BOUNCE_MAILBOXFULL },
	{ "overquota", BOUNCE_MAILBOXFULL },
	{ "quota exceeded", BOUNCE_MAILBOXFULL },
	{ "exceeded storage", BOUNCE_MAILBOXFULL },
	{ "out of storage", BOUNCE_MAILBOXFULL },
	{ "insufficient storage", BOUNCE_MAILBOXFULL },
	{ "mailbox size limit", BOUNCE_MAILBOXFULL },
	/* Not "suspended" alone: Postfix says "delivery temporarily
	 * suspended" of a host it cannot reach. */
	{ "account is disabled", BOUNCE_SUSPEND },
	{ "account has been disabled", BOUNCE_SUSPEND },
	{ "account disabled", BOUNCE_SUSPEND },
	{ "mailbox disabled", BOUNCE_SUSPEND },
	{ "mailbox is disabled", BOUNCE_SUSPEND },
	{ "account suspended", BOUNCE_SUSPEND },
	{ "account has been suspended", BOUNCE_SUSPEND },
	{ "account is suspended", BOUNCE_SUSPEND },
	{ "deactivated", BOUNCE_SUSPEND },
	{ "inactive account", BOUNCE_SUSPEND },
	{ "account is inactive", BOUNCE_SUSPEND },
	{ "account is locked", BOUNCE_SUSPEND },
	{ "user unknown", BOUNCE_USERUNKNOWN },
	{ "unknown user", BOUNCE_USERUNKNOWN },
	{ "no such user", BOUNCE_USERUNKNOWN },
	{ "no such mailbox", BOUNCE_USERUNKNOWN },
	{ "no such recipient", BOUNCE_USERUNKNOWN },
	{ "unknown recipient", BOUNCE_USERUNKNOWN },
	{ "recipient not found", BOUNCE_USERUNKNOWN },
	{ "recipientnotfound", BOUNCE_USERUNKNOWN },
	{ "recipnotfound", BOUNCE_USERUNKNOWN },
	{ "user not found", BOUNCE_USERUNKNOWN },
	{ "mailbox not found", BOUNCE_USERUNKNOWN },
	{ "invalid recipient", BOUNCE_USERUNKNOWN },
	{ "invalid mailbox", BOUNCE_USERUNKNOWN },
	{ "addressee unknown", BOUNCE_USERUNKNOWN },
	{ "account that you tried to reach does not exist",
	    BOUNCE_USERUNKNOWN },
	{ "account does not exist", BOUNCE_USERUNKNOWN },
	{ "mailbox does not exist", BOUNCE_USERUNKNOWN },
	{ "address does not exist", BOUNCE_USERUNKNOWN },
	{ "unknown local part", BOUNCE_USERUNKNOWN },
	{ "host not found", BOUNCE_HOSTUNKNOWN },
	{ "host or domain name not found", BOUNCE_HOSTUNKNOWN },
	{ "domain not found", BOUNCE_HOSTUNKNOWN },
	{ "domain does not exist", BOUNCE_HOSTUNKNOWN },
	{ "unknown domain", BOUNCE_HOSTUNKNOWN },
	{ "unrouteable address", BOUNCE_HOSTUNKNOWN },
	{ "no mx", BOUNCE_HOSTUNKNOWN },
	{ "null mx", BOUNCE_HOSTUNKNOWN },
	{ "nxdomain", BOUNCE_HOSTUNKNOWN },
	{ "message too big", BOUNCE_MESGTOOBIG },
	{ "message is too large", BOUNCE_MESGTOOBIG },
	{ "message size exceeds", BOUNCE_MESGTOOBIG },
	{ "exceeds size limit", BOUNCE_MESGTOOBIG },
	{ "message too large", BOUNCE_MESGTOOBIG },
	{ "dmarc", BOUNCE_SECURITYERROR },
	{ "spf", BOUNCE_SECURITYERROR },
	{ "dkim", BOUNCE_SECURITYERROR },
	{ "not authenticated", BOUNCE_SECURITYERROR },
	{ "authentication required", BOUNCE_SECURITYERROR },
	{ "must use tls", BOUNCE_SECURITYERROR },
	{ "tls required", BOUNCE_SECURITYERROR },
	/* Blocklists before "spam": "spamhaus", "spamcop". */
	{ "blocklist", BOUNCE_BLOCKED },
	{ "blocked using", BOUNCE_BLOCKED },
	{ "blacklist", BOUNCE_BLOCKED },
	{ "block list", BOUNCE_BLOCKED },
	{ "listed at", BOUNCE_BLOCKED },
	{ "listed in", BOUNCE_BLOCKED },
	{ "spamhaus", BOUNCE_BLOCKED },
	{ "spamcop", BOUNCE_BLOCKED },
	{ "dnsbl", BOUNCE_BLOCKED },
	{ "client host rejected", BOUNCE_BLOCKED },
	{ "reverse dns", BOUNCE_BLOCKED },
	{ "ptr record", BOUNCE_BLOCKED },
	{ "poor reputation", BOUNCE_BLOCKED },
	{ "ip reputation", BOUNCE_BLOCKED },
	{ "banned", BOUNCE_BLOCKED },
	{ "spam", BOUNCE_SPAMDETECTED },
	{ "unsolicited", BOUNCE_SPAMDETECTED },
	{ "junk mail", BOUNCE_SPAMDETECTED },
	{ "virus", BOUNCE_FILTERED },
	{ "too many connections", BOUNCE_TOOMANYCONN },
	{ "too many messages", BOUNCE_TOOMANYCONN },
	{ "too many concurrent", BOUNCE_TOOMANYCONN },
	{ "rate limit", BOUNCE_TOOMANYCONN },
	{ "rate that", BOUNCE_TOOMANYCONN },
	{ "throttl", BOUNCE_TOOMANYCONN },
	{ "sender address rejected", BOUNCE_REJECTED },
	{ "sender rejected", BOUNCE_REJECTED },
	{ "sender denied", BOUNCE_REJECTED },
	{ "domain of sender address", BOUNCE_REJECTED },
	{ "rejected by the recipient", BOUNCE_FILTERED },
	{ "refused by filter", BOUNCE_FILTERED },
	{ "content filter", BOUNCE_FILTERED },
	{ "filtered", BOUNCE_FILTERED },
	{ "policy", BOUNCE_POLICYVIOLATION },
	{ "prohibited", BOUNCE_POLICYVIOLATION },
	{ "not allowed", BOUNCE_POLICYVIOLATION },
	{ "rfc 5322", BOUNCE_NOTCOMPLIANTRFC },
	{ "rfc5322", BOUNCE_NOTCOMPLIANTRFC },
	{ "rfc 2822", BOUNCE_NOTCOMPLIANTRFC },
	{ "rfc2822", BOUNCE_NOTCOMPLIANTRFC },
	{ "bare newline", BOUNCE_NOTCOMPLIANTRFC },
	{ "bare lf", BOUNCE_NOTCOMPLIANTRFC },
	{ "malformed", BOUNCE_NOTCOMPLIANTRFC },
	{ "delivery time expired", BOUNCE_EXPIRED },
	{ "message expired", BOUNCE_EXPIRED },
	{ "retry timeout exceeded", BOUNCE_EXPIRED },
	{ "too long in queue", BOUNCE_EXPIRED },
	{ "connection timed out", BOUNCE_NETWORKERROR },
	{ "connection refused", BOUNCE_NETWORKERROR },
	{ "network is unreachable", BOUNCE_NETWORKERROR },
	{ "no route to host", BOUNCE_NETWORKERROR },
	{ "lost connection", BOUNCE_NETWORKERROR },
	{ "timed out", BOUNCE_NETWORKERROR },
	{ "name service error", BOUNCE_NETWORKERROR },
	{ "mail loop", BOUNCE_SYSTEMERROR },
	{ "too many hops", BOUNCE_SYSTEMERROR },
	{ "system error", BOUNCE_SYSTEMERROR },
	{ "internal error", BOUNCE_SYSTEMERROR },
	{ "local error", BOUNCE_SYSTEMERROR },
	{ "server error", BOUNCE_SYSTEMERROR },
};

struct bounce_code {
	const char *status;	/* "X.Y.Z" with X any class, or "X.Y" */
	enum bounce_reason reason;
};

/* Enhanced status codes without their class ("1.1" is x.1.1). Exact
 * subject.detail first, then the subject alone (a trailing "."). */
static const struct bounce_code bounce_codes[] = {
	{ "1.1", BOUNCE_USERUNKNOWN },
	{ "1.2", BOUNCE_HOSTUNKNOWN },
	{ "1.3", BOUNCE_USERUNKNOWN },
	{ "1.6", BOUNCE_HASMOVED },
	{ "1.7", BOUNCE_REJECTED },
	{ "1.8", BOUNCE_REJECTED },
	{ "1.10", BOUNCE_HOSTUNKNOWN },
	{ "2.1", BOUNCE_SUSPEND },
	{ "2.2", BOUNCE_MAILBOXFULL },
	{ "2.3", BOUNCE_MESGTOOBIG },
	{ "3.1", BOUNCE_SYSTEMERROR },
	{ "3.4", BOUNCE_MESGTOOBIG },
	{ "4.1", BOUNCE_NETWORKERROR },
	{ "4.2", BOUNCE_NETWORKERROR },
	{ "4.3", BOUNCE_SYSTEMERROR },
	{ "4.4", BOUNCE_HOSTUNKNOWN },
	{ "4.5", BOUNCE_TOOMANYCONN },
	{ "4.6", BOUNCE_SYSTEMERROR },
	{ "4.7", BOUNCE_EXPIRED },
	{ "5.3", BOUNCE_TOOMANYCONN },
	{ "7.1", BOUNCE_REJECTED },
	{ "7.7", BOUNCE_NOTCOMPLIANTRFC },
	{ "7.13", BOUNCE_SUSPEND },
	{ "7.23", BOUNCE_SECURITYERROR },
	{ "7.25", BOUNCE_BLOCKED },
	{ "7.26", BOUNCE_SECURITYERROR },
	{ "7.27", BOUNCE_HOSTUNKNOWN },
	{ "1.", BOUNCE_USERUNKNOWN },
	{ "2.", BOUNCE_MAILBOXFULL },
	{ "3.", BOUNCE_SYSTEMERROR },
	{ "4.", BOUNCE_NETWORKERROR },
	{ "5.", BOUNCE_SYSTEMERROR },
	{ "6.", BOUNCE_NOTCOMPLIANTRFC },
	{ "7.", BOUNCE_SECURITYERROR },
};

const char *
bounce_reason_name(enum bounce_reason reason)
{
	return (unsigned)reason < BOUNCE_REASON_COUNT ?
	    bounce_reason_names[reason] : "undefined";
}

int
bounce_reason_parse(const char *name, enum bounce_reason *reason)
{
	for (unsigned i = 0; name && i < BOUNCE_REASON_COUNT; i++) {
		if (strcmp(name, bounce_reason_names[i]) == 0) {
			*reason = (enum bounce_reason)i;
			return 0;
		}
	}
	return -1;
}

/* Case-insensitive substring search. */
static int
bounce_contains(const char *text, const char *words)
{
	size_t n = strlen(words);

	/* The phrases are lower case: most places fail on the first
	 * character, without a call (the monitor classifies every new
	 * deferral in Postfix's queue). */
	for (; *text; text++)
		if (tolower((unsigned char)*text) == words[0] &&
		    strncasecmp(text, words, n) == 0)
			return 1;
	return 0;
}

/*
 * Length of an enhanced status code at s ("5.1.1": class 2, 4 or 5,
 * then 1-3 digits, a dot, 1-3 digits), 0 when there is none.
 */
static size_t
bounce_status_at(const char *s)
{
	size_t i = 1, digits;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	for (int part = 0; part < 2; part++) {
		if (s[i++] != '.')
			return 0;
		for (digits = 0; isdigit((unsigned char)s[i]) && digits < 3;
		    digits++)
			i++;
		if (digits == 0)
			return 0;
	}
	return isdigit((unsigned char)s[i]) || s[i] == '.' ? 0 : i;
}

/* The first word of text that is a status code or a reply code. */
static void
bounce_codes_in(const char *text, char *status, size_t status_size,
    char reply[4])
{
	for (const char *p = text; *p; p++) {
		size_t n;

		if (p != text && !isspace((unsigned char)p[-1]) &&
		    p[-1] != '#' && p[-1] != '(' && p[-1] != '<')
			continue;
		if (status[0] == '\0' && (n = bounce_status_at(p)) > 0 &&
		    n < status_size) {
			memcpy(status, p, n);
			status[n] = '\0';
		}
		if (reply[0] == '\0' && (p[0] == '2' || p[0] == '4' ||
		    p[0] == '5') && isdigit((unsigned char)p[1]) &&
		    isdigit((unsigned char)p[2]) && (p[3] == ' ' ||
		    p[3] == '-' || p[3] == '\0')) {
			memcpy(reply, p, 3);
			reply[3] = '\0';
		}
	}
}

/* The reason the status code's subject and detail give, or undefined. */
static enum bounce_reason
bounce_reason_of_status(const char *status)
{
	const char *rest = strchr(status, '.');

	if (rest == NULL || strcmp(status, "5.0.0") == 0 ||
	    strcmp(status, "4.0.0") == 0)
		return BOUNCE_UNDEFINED;
	rest++;
	for (size_t i = 0; i < sizeof(bounce_codes) / sizeof(bounce_codes[0]);
	    i++) {
		const char *code = bounce_codes[i].status;
		size_t n = strlen(code);

		if (code[n - 1] == '.' ? strncmp(rest, code, n) == 0 :
		    strcmp(rest, code) == 0)
			return bounce_codes[i].reason;
	}
	return BOUNCE_UNDEFINED;
}

static enum bounce_reason
bounce_reason_of_reply(const char *reply)
{
	if (strcmp(reply, "421") == 0)
		return BOUNCE_TOOMANYCONN;
	if (strcmp(reply, "452") == 0 || strcmp(reply, "552") == 0)
		return BOUNCE_MAILBOXFULL;
	if (strcmp(reply, "550") == 0 || strcmp(reply, "551") == 0 ||
	    strcmp(reply, "553") == 0)
		return BOUNCE_REJECTED;
	if (strcmp(reply, "554") == 0)
		return BOUNCE_POLICYVIOLATION;
	return BOUNCE_UNDEFINED;
}

void
bounce_classify(const char *status, const char *text,
    struct bounce_class *out)
{
	enum bounce_reason reason = BOUNCE_UNDEFINED;

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		text = "";
	if (status && bounce_status_at(status) == strlen(status) &&
	    strlen(status) < sizeof(out->status))
		snprintf(out->status, sizeof(out->status), "%s", status);
	bounce_codes_in(text, out->status, sizeof(out->status),
	    out->reply_code);

	for (size_t i = 0; i < sizeof(bounce_phrases) /
	    sizeof(bounce_phrases[0]); i++) {
		if (bounce_contains(text, bounce_phrases[i].words)) {
			reason = bounce_phrases[i].reason;
			break;
		}
	}
	if (reason == BOUNCE_UNDEFINED && out->status[0])
		reason = bounce_reason_of_status(out->status);
	if (reason == BOUNCE_UNDEFINED && out->reply_code[0])
		reason = bounce_reason_of_reply(out->reply_code);
	out->reason = reason;
	out->hard = reason == BOUNCE_USERUNKNOWN ||
	    reason == BOUNCE_HOSTUNKNOWN || reason == BOUNCE_HASMOVED ||
	    (reason == BOUNCE_UNDEFINED && (out->status[0] == '5' ||
	    (out->status[0] == '\0' && out->reply_code[0] == '5')));
}
