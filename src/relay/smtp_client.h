/*
 * smtp_client.h - one SMTP client connection to a plain relay, driven by
 * a libev loop, pipelining (RFC 2920) across messages.
 *
 * A connection takes messages (struct smtp_job) from a queue shared with
 * the other connections to the same relay (struct smtp_queue), sends
 * them and fills in each job's relay_result with the meanings of
 * relay.h. It never blocks: everything happens in its watchers while
 * the caller runs the loop (smtp_pool.c does, for a relay session).
 *
 *	c = smtp_client_new(loop, &config, queue);
 *	smtp_client_start(c);		connects, or resumes a kept session
 *	... ev_run() until smtp_client_busy(c) is 0 for every connection
 *	smtp_client_status(c)		how the connection ended, if it did
 *	smtp_client_free(c);		QUIT, close
 *
 * What goes out, and when:
 *  - EHLO (HELO when EHLO is not recognised); PIPELINING, SIZE,
 *    8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES and CHUNKING are read. SIZE
 *    makes MAIL carry SIZE=n so an oversized message is refused before
 *    its bytes are sent; the others are recorded (herald sends 7-bit
 *    ASCII envelopes, and replies are parsed the same with or without
 *    enhanced codes).
 *  - With PIPELINING: MAIL, RCPT and DATA in one write; after the 354,
 *    the body, the final dot and the next message's MAIL, RCPT and DATA
 *    in one write: one wait per message. Without it: lock-step.
 *  - With CHUNKING (and PIPELINING) and config.use_bdat: MAIL, RCPT
 *    and "BDAT n LAST" with the body, for up to config.in_flight
 *    messages before any reply is read (no 354 round trip at all).
 *    Against a stock Postfix 3.7 this was measured about 20% faster
 *    than DATA (4 x 2 connections, 5 KB: 426 and 467 msg/s against
 *    328 and 388), but relay.c does not use it: Postfix holds its
 *    replies until its input is drained, so the first reply waits for
 *    every chunk in flight, and under load the per-reply limit fired
 *    (dispatch.sh, relay_timeout 2 s: 64 messages "possibly
 *    delivered", the relay marked down); with DATA a reply waits for
 *    one message at most.
 *  - The body is dot-stuffed here (DATA) or sent as is (BDAT); nothing
 *    else is changed. Callers give CRLF-only messages with no line over
 *    998 bytes (relay_session_add() checks).
 *  - RSET after a refused MAIL, RCPT or DATA; QUIT when freed.
 *
 * Outcomes (relay.h): a job's result is final when its transaction
 * ended. When the connection is lost or a time limit passes, each job
 * still in flight is classified by how far it got: the end of its data
 * written -> RELAY_UNKNOWN; its data started, or DATA sent after MAIL
 * and RCPT were accepted -> RELAY_DEFERRED; otherwise it goes back to
 * the queue (another connection may take it) and ends RELAY_NOT_ATTEMPTED
 * if none does. A 421 reply answers its command, then ends the session.
 * A reply that arrives before its command was written, or bytes that
 * are not SMTP, end the session as dropped.
 *
 * Time limits (struct smtp_limits): each reply has the limit of the
 * command it answers, counted from the last progress (a reply read or
 * bytes written); while a body is being written, the data block limit.
 *
 * Memory: the connection owns its buffers and reuses them; jobs belong
 * to the queue's owner and must stay put while the loop runs.
 */
#ifndef HERALD_SMTP_CLIENT_H
#define HERALD_SMTP_CLIENT_H

#include <ev.h>
#include <stddef.h>

#include "relay.h"

/*
 * Time limits in ms, each its own. relay.c sets connect_ms from
 * relay_connect_timeout (default 10 s) and every other one from
 * relay_timeout (default 30 s): enough for a relay on this host or the
 * LAN, where a healthy server answers in milliseconds, and below the
 * worker's stall limit. RFC 5321 4.5.3.2 gives the most a client should
 * ever wait (greeting 5 min, MAIL 5 min, RCPT 5 min, DATA 2 min, data
 * block 3 min, final dot 10 min).
 */
struct smtp_limits {
	unsigned connect_ms;	/* each address tried */
	unsigned greeting_ms;
	unsigned mail_ms;	/* also EHLO, HELO, RSET */
	unsigned rcpt_ms;
	unsigned data_ms;	/* DATA's 354 */
	unsigned block_ms;	/* progress while writing a body */
	unsigned dot_ms;	/* the reply to the final dot or BDAT */
};

/* Most messages one connection may have in flight. */
#define SMTP_IN_FLIGHT_MAX 64

struct smtp_client_config {
	const char *host;	/* name, IPv4 or IPv6 literal ("[::1]" too) */
	unsigned port;
	const char *helo_name;
	struct smtp_limits limits;
	unsigned in_flight;	/* 1..SMTP_IN_FLIGHT_MAX */
	int use_bdat;		/* BDAT when offered (else plain DATA) */
	int keep_nagle;		/* benchmarks only: no TCP_NODELAY */
};

/* One message to send, and its result. */
struct smtp_job {
	const char *sender;	/* without <> */
	const char *recipient;
	const char *data;	/* CRLF-only, ends with CRLF */
	size_t length;
	struct relay_result *result;	/* filled in; cookie left alone */
	/* Progress, kept by the connection that holds the job. */
	unsigned char sent;	/* enum smtp_job_sent */
	unsigned char answered;	/* replies read so far (MAIL, RCPT...) */
	unsigned char refused;	/* MAIL or RCPT refused: result is final */
	unsigned char peer_closed;	/* the server had gone at the dot */
	unsigned char done;	/* the result is final */
	unsigned char tries;	/* connections that held it */
};

/* Jobs shared by the connections of a relay, handed out in order. */
struct smtp_queue {
	struct smtp_job *jobs;
	unsigned count;
	unsigned next;		/* first job never handed out */
	unsigned *given_back;	/* jobs a lost connection returned */
	unsigned given_back_count;
	unsigned done;		/* jobs whose result is final */
	/* Called on every reply (a worker heartbeats). */
	void (*progress)(void *arg);
	void *progress_arg;
};

struct smtp_client;

/*
 * A connection for config (strings are copied) taking jobs from queue,
 * which must outlive it. Nothing happens until smtp_client_start().
 */
struct smtp_client *smtp_client_new(struct ev_loop *loop,
    const struct smtp_client_config *config, struct smtp_queue *queue);

/* QUIT (not waited for), close, free. NULL is allowed. */
void smtp_client_free(struct smtp_client *c);

/*
 * Starts work on the queue: connects when there is no session, checks a
 * kept one is still alive first (a server that timed it out has closed
 * it), otherwise takes jobs at once. Returns 0, or -1 when the
 * connection cannot start (its status says why).
 */
int smtp_client_start(struct smtp_client *c);

/* Takes jobs given back by another connection, if this one is ready. */
void smtp_client_poke(struct smtp_client *c);

/* 1 while the connection has work in progress (connecting, jobs). */
int smtp_client_busy(const struct smtp_client *c);

/* 1 when the session is established and usable for the next run. */
int smtp_client_ready(const struct smtp_client *c);

/*
 * How the connection's last activity ended: RELAY_STATUS_OK while it
 * works, otherwise why it closed, with a text for the log (owned by c)
 * and, for REFUSED, the code. smtp_client_start() resets it.
 */
enum relay_status smtp_client_status(const struct smtp_client *c,
    const char **text, int *code);

/* 1 when TCP_NODELAY is set on the connection's socket. */
int smtp_client_nodelay(const struct smtp_client *c);

/* Hands out the next job (a given-back one first), or NULL. */
struct smtp_job *smtp_queue_take(struct smtp_queue *q);

#endif
