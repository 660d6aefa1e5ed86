/*
 * relay.h - carrying finished messages to the MTA: one relay session.
 *
 * A relay session is a list of messages (envelope sender, one recipient,
 * the complete RFC 5322 message) sent to one relay. After the run every
 * message has an outcome, and the session as a whole has a status that
 * tells the caller whether the relay should be marked down.
 *
 * Two clients sit behind this interface:
 *  - plain relays (the hot path: a Postfix on this host or the LAN) use
 *    herald's own pipelined client (smtp_pool.h, smtp_client.h) on the
 *    caller's libev loop, over target.connections connections kept open
 *    from run to run;
 *  - relays that need STARTTLS or AUTH (target.tls, target.auth_user),
 *    or target.use_libesmtp, go through libESMTP 1.1 instead, one
 *    blocking connection per run. With RELAY_TLS_REQUIRED the server's
 *    certificate and host name (or IP address) are verified against
 *    target.tls_ca_file or the system's CA store (relay_tls.h); with
 *    AUTH, no MAIL command is sent unless the server accepted AUTH
 *    (relay.c cuts the connection first), so a wrong password or a
 *    server that offers no AUTH delivers nothing and fails no message:
 *    the session is REFUSED (the relay is marked down) and its
 *    messages are NOT_ATTEMPTED.
 *
 *	s = relay_session_new(&target, &err);		once per relay
 *	for each batch:
 *		relay_session_reset(s);
 *		relay_session_add(s, sender, rcpt, msg, len, cookie, &err);
 *		...
 *		relay_session_run(s);
 *		results = relay_session_results(s, &count);
 *	relay_session_free(s);
 *
 * Outcomes of a message (the same with either client):
 *	RELAY_SENT           2xx to the end of DATA; queue_id is set
 *	RELAY_DEFERRED       4xx to MAIL, RCPT, DATA or the end of DATA,
 *	                     or the connection was lost while the message
 *	                     was being transferred (the final "." was never
 *	                     sent, so the server cannot have taken it)
 *	RELAY_FAILED         5xx to MAIL, RCPT, DATA or the end of DATA
 *	RELAY_UNKNOWN        the whole message and its final "." were handed
 *	                     to a live connection but the reply never came:
 *	                     possibly delivered, re-sending may duplicate
 *	RELAY_NOT_ATTEMPTED  the session ended before this message's DATA
 *	                     (connection refused, greeting refused, lost or
 *	                     timed out earlier): safe to send again. With
 *	                     several connections, another connection takes
 *	                     such a message first; one left over may sit
 *	                     between messages that have outcomes.
 *
 * Errors: relay_session_new() and relay_session_add() return NULL or -1
 * with the reason in err (a bad target, an address that could inject
 * SMTP commands, a message that is not CRLF-only or has a line over 998
 * bytes). relay_session_run() does not fail as a call: what went wrong
 * is in the session status and in each message's outcome.
 *
 * Memory: the session owns its arrays and reuses them from run to run, so
 * herald allocates nothing per message in the steady state. libESMTP
 * itself allocates per run and per message (its records, header table,
 * reply texts), outside our control and freed at the end of every run.
 *
 * What the clients do to the message (and callers must know):
 *  - both dot-stuff and end DATA themselves: give the message as is;
 *  - the pipelined client changes nothing else;
 *  - libESMTP processes headers: Return-Path: and Original-Recipient:
 *    are removed; a second Date:, From:, Sender:, To:, Cc:, Bcc:,
 *    Reply-To:, Message-ID: or Disposition-Notification-To: is dropped;
 *    a missing Date:, From: or Message-ID: is added. herald's messages
 *    carry each of those headers once;
 *  - libESMTP's connect() is blocking and has no time limit of its own
 *    (the kernel's SYN retries, about two minutes, bound a silent host);
 *    the pipelined client's has target.connect_timeout_ms per address.
 *
 * libESMTP runs need a single-threaded process (a worker is): see
 * relay.c for why its socket can then be found safely.
 */
#ifndef HERALD_RELAY_H
#define HERALD_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct ev_loop;

/* STARTTLS: none; when offered, unverified (RFC 7435 opportunistic
 * encryption); always, with the certificate verified. */
enum relay_tls {
	RELAY_TLS_NONE,
	RELAY_TLS_OPPORTUNISTIC,
	RELAY_TLS_REQUIRED,
};

/* Where to relay. Strings are copied by relay_session_new(). */
struct relay_target {
	const char *host;	/* host name, IPv4 or IPv6 address (libESMTP:
				 * no IPv6 literal, it cannot parse one) */
	unsigned port;		/* 0 means 25 */
	unsigned timeout_ms;	/* per reply; 0 means RELAY_DEFAULT_TIMEOUT_MS;
				 * at least 1000 (libESMTP's floor) */
	const char *helo_name;	/* EHLO argument; NULL means the node name */
	int keep_nagle;		/* benchmarks only: do not set TCP_NODELAY */
	/* The pipelined client only: */
	struct ev_loop *loop;	/* to run on; NULL: the session makes one */
	unsigned connections;	/* at once; 0 means 1 */
	unsigned connect_timeout_ms;	/* each address; 0: the default */
	int use_bdat;		/* BDAT n LAST when the server offers
				 * CHUNKING, instead of DATA (off: see
				 * smtp_client.h) */
	/* libESMTP instead (STARTTLS and AUTH relays): set by tls or
	 * auth_user, or on its own. */
	int use_libesmtp;
	enum relay_tls tls;
	const char *tls_ca_file;	/* NULL or "": the system's store */
	const char *auth_user;		/* NULL or "": no AUTH */
	const char *auth_password;	/* with auth_user; copied */
};

#define RELAY_DEFAULT_TIMEOUT_MS 60000
#define RELAY_DEFAULT_CONNECT_TIMEOUT_MS 10000
/* Messages in flight per connection with BDAT (DATA allows two). */
#define RELAY_IN_FLIGHT 8

/* Longest line of a message, without its CRLF (RFC 5321 4.5.3.1.6). */
#define RELAY_LINE_MAX 998

/* Bounds of the texts kept per message (the stage table's columns). */
#define RELAY_REPLY_MAX 511
#define RELAY_QUEUE_ID_MAX 63

/* Longest envelope address accepted (RFC 5321 path limit). */
#define RELAY_ADDRESS_MAX 256

enum relay_outcome {
	RELAY_NOT_ATTEMPTED,
	RELAY_SENT,
	RELAY_DEFERRED,
	RELAY_FAILED,
	RELAY_UNKNOWN,
};

/* The command a message's final reply answered. */
enum relay_stage {
	RELAY_STAGE_NONE,	/* no reply for this message */
	RELAY_STAGE_MAIL,
	RELAY_STAGE_RCPT,
	RELAY_STAGE_DATA,	/* the DATA command itself */
	RELAY_STAGE_END,	/* the final "." */
};

struct relay_result {
	uint64_t cookie;		/* as given to relay_session_add() */
	enum relay_outcome outcome;
	enum relay_stage stage;
	int code;			/* SMTP reply code, 0 when none */
	/* "250 2.0.0 Ok: queued as 4Xyz", control characters replaced,
	 * at most RELAY_REPLY_MAX bytes; "" when there was no reply (then
	 * it says what happened instead, e.g. "connection lost ..."). */
	char reply[RELAY_REPLY_MAX + 1];
	/* For RELAY_SENT: the id after "queued as " (Postfix), otherwise
	 * the reply text; "" for other outcomes. */
	char queue_id[RELAY_QUEUE_ID_MAX + 1];
};

/* How the session went as a whole. */
enum relay_status {
	RELAY_STATUS_OK,		/* every message got an answer */
	RELAY_STATUS_RESOLVE_FAILED,	/* host name not found */
	RELAY_STATUS_CONNECT_FAILED,	/* refused, unreachable */
	RELAY_STATUS_TIMEOUT,		/* connect or a reply timed out */
	RELAY_STATUS_REFUSED,		/* greeting or EHLO/HELO got 4xx/5xx,
					 * STARTTLS or the certificate failed,
					 * or AUTH was refused */
	RELAY_STATUS_DROPPED,		/* connection lost mid-session, or
					 * a reply libESMTP could not parse */
};

struct relay_session_result {
	enum relay_status status;
	int code;		/* greeting/EHLO reply code for REFUSED */
	char text[RELAY_REPLY_MAX + 1];	/* what happened, for the log */
	unsigned sent, deferred, failed, unknown, not_attempted;
	int nodelay;		/* 1 when TCP_NODELAY was set on the socket */
	double seconds;		/* wall time of the run */
};

struct relay_session;

/*
 * Creates a session for target: checks it and resolves the host once
 * (the addresses identify libESMTP's socket later). Returns NULL with
 * the reason in err. The caller frees the session with
 * relay_session_free().
 */
struct relay_session *relay_session_new(const struct relay_target *target,
    struct buf *err);

/* Frees the session and everything it holds (NULL is allowed). */
void relay_session_free(struct relay_session *s);

/* Forgets the messages and results of the last run; keeps the memory. */
void relay_session_reset(struct relay_session *s);

/*
 * Adds a message: envelope sender (the VERP address, without <>), one
 * recipient, the message bytes and an opaque cookie returned with its
 * result. sender and recipient are copied; message is NOT: it must stay
 * valid and unchanged until relay_session_run() has returned. message
 * must be CRLF-only (no bare CR or LF) and end with CRLF; the addresses
 * must be printable ASCII without spaces or angle brackets (anything
 * else could inject SMTP commands). Returns 0, or -1 with err set and
 * the session unchanged.
 */
int relay_session_add(struct relay_session *s, const char *sender,
    const char *recipient, const char *message, size_t length,
    uint64_t cookie, struct buf *err);

/*
 * fn(arg) is called on every reply the server sends during a run: a
 * long session that makes progress is not a stalled one.
 */
typedef void relay_progress_fn(void *arg);
void relay_session_on_progress(struct relay_session *s,
    relay_progress_fn *fn, void *arg);

/* Number of messages added since the last reset. */
unsigned relay_session_count(const struct relay_session *s);

/*
 * Sends every added message over one connection and fills in the
 * results. Blocks for at most about (number of replies x timeout) once
 * connected. SIGPIPE is blocked during the run (a write to a closed
 * connection must not kill the worker); one raised by the run is
 * discarded. Returns the session's status (also in *summary when not
 * NULL; summary is owned by the caller).
 */
enum relay_status relay_session_run(struct relay_session *s,
    struct relay_session_result *summary);

/*
 * The results of the last run, one per message in the order added;
 * *count gets their number. Owned by the session: valid until the next
 * relay_session_reset(), relay_session_add() or relay_session_free().
 */
const struct relay_result *relay_session_results(const struct relay_session *s,
    unsigned *count);

/*
 * A message's outcome from an SMTP reply code, by its class: 2xx sent,
 * 5xx failed, anything else deferred. Both clients decide this way.
 */
enum relay_outcome relay_outcome_of_reply(int code);

/* Short lower-case names for logs ("sent", "deferred", ...). */
const char *relay_outcome_name(enum relay_outcome outcome);
const char *relay_status_name(enum relay_status status);

/*
 * 1 when status means the relay should be marked down and a backup used
 * (it refused or did not answer); 0 for OK and for a session dropped
 * midway (retry the same relay).
 */
int relay_status_marks_down(enum relay_status status);

#endif
