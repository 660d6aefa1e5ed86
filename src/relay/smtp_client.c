/*
 * smtp_client.c - one pipelining SMTP client connection on libev (see
 * smtp_client.h).
 *
 * Public functions: smtp_client_new(), smtp_client_free(),
 * smtp_client_start(), smtp_client_busy(), smtp_client_ready(),
 * smtp_client_poke(), smtp_client_status(), smtp_client_nodelay(),
 * smtp_queue_take().
 *
 * How it works:
 *  - Everything to send is appended to one output buffer and written
 *    with as few send() calls as the socket allows (MSG_NOSIGNAL: a
 *    closed connection is an error return, never a SIGPIPE).
 *  - Every command written expects one reply; the expectations form a
 *    FIFO, each remembering where its command ends in the output
 *    stream. A reply answers the FIFO's head, and only if that command
 *    was completely written: an earlier reply is a protocol error.
 *  - Jobs in flight are listed with the stream offsets where their data
 *    starts and ends, which decide their outcome when the connection
 *    is lost (see smtp_client_terminate()).
 *  - One timer per connection, re-armed on every progress with the
 *    limit of what is awaited.
 *
 * Errors never leave the module as calls failing: they end the
 * connection with a status (relay.h) and a text.
 */
#include "smtp_client.h"
#include "buf.h"
#include "smtp_reply.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bytes read at once: many pipelined replies fit. */
#define SMTP_READ_SIZE 16384
/* Commands a connection may be waiting on: 3 per message in flight,
 * an RSET per message and the session's own (EHLO, QUIT). */
#define SMTP_EXPECT_MAX (4 * SMTP_IN_FLIGHT_MAX + 8)
/* Connections that may hold a job before it stays not attempted. */
#define SMTP_JOB_TRIES_MAX 3

enum smtp_state {
	SMTP_CLOSED,
	SMTP_CONNECTING,
	SMTP_GREETING,
	SMTP_EHLO,
	SMTP_HELO,
	SMTP_READY,
};

/* The commands whose replies are awaited. */
enum smtp_command {
	SMTP_CMD_GREETING,
	SMTP_CMD_EHLO,
	SMTP_CMD_HELO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_DOT,		/* the final dot */
	SMTP_CMD_BDAT,		/* BDAT n LAST and its chunk */
	SMTP_CMD_RSET,
};

/* Extensions read from the EHLO reply. */
enum {
	SMTP_EXT_PIPELINING = 1 << 0,
	SMTP_EXT_SIZE = 1 << 1,
	SMTP_EXT_8BITMIME = 1 << 2,
	SMTP_EXT_SMTPUTF8 = 1 << 3,
	SMTP_EXT_ENHANCEDSTATUSCODES = 1 << 4,
	SMTP_EXT_CHUNKING = 1 << 5,
};

struct smtp_expect {
	enum smtp_command command;
	struct smtp_job *job;
	uint64_t end;		/* stream offset just after the command */
};

struct smtp_flight {
	struct smtp_job *job;
	uint64_t data_start;	/* offset where its data begins, 0: not yet */
	uint64_t data_end;	/* offset after its final dot / chunk */
	int data_command;	/* DATA was appended */
};

struct smtp_client {
	struct ev_loop *loop;
	struct smtp_queue *queue;
	char *host;
	char *helo_name;
	char hostport[300];	/* for the log */
	unsigned port;
	struct smtp_limits limits;
	unsigned in_flight;
	int use_bdat;
	int keep_nagle;

	enum smtp_state state;
	int fd;
	int nodelay;
	struct addrinfo *addresses;	/* while connecting */
	struct addrinfo *trying;
	ev_io read_watcher;
	ev_io write_watcher;
	ev_timer timer;

	unsigned extensions;
	unsigned long size_limit;	/* SIZE's value, 0 when none */
	unsigned ehlo_lines;

	struct smtp_reply_parser parser;
	struct buf out;			/* bytes not yet written */
	size_t out_sent;		/* ... of which this many were */
	uint64_t base;			/* stream offset of out.data[0] */
	uint64_t written;		/* stream bytes written */

	struct smtp_expect expect[SMTP_EXPECT_MAX];
	unsigned expect_head, expect_count;
	struct smtp_flight flight[SMTP_IN_FLIGHT_MAX];
	unsigned flight_count;
	struct smtp_job *envelope;	/* DATA sent, its reply awaited */

	enum relay_status status;
	int status_code;
	char status_text[RELAY_REPLY_MAX + 1];
};

static void smtp_client_fill(struct smtp_client *c);
static void smtp_client_flush(struct smtp_client *c);

/* --- the queue ---------------------------------------------------------- */

struct smtp_job *
smtp_queue_take(struct smtp_queue *q)
{
	if (q->given_back_count > 0) {
		unsigned index = q->given_back[0];

		q->given_back_count--;
		memmove(q->given_back, q->given_back + 1,
		    q->given_back_count * sizeof(q->given_back[0]));
		return &q->jobs[index];
	}
	if (q->next < q->count)
		return &q->jobs[q->next++];
	return NULL;
}

/* --- results ------------------------------------------------------------ */

/* Records reply as the job's final answer at stage. */
static void
smtp_job_answer(struct smtp_job *job, enum relay_stage stage,
    const struct smtp_reply *reply)
{
	struct relay_result *r = job->result;

	r->stage = stage;
	r->code = reply->code;
	r->outcome = relay_outcome_of_reply(reply->code);
	smtp_reply_format(reply, r->reply, sizeof(r->reply));
	r->queue_id[0] = '\0';
	if (stage == RELAY_STAGE_END && r->outcome == RELAY_SENT)
		smtp_reply_queue_id(reply->text, r->queue_id,
		    sizeof(r->queue_id));
	else if (stage != RELAY_STAGE_END && r->outcome == RELAY_SENT)
		r->outcome = RELAY_DEFERRED;	/* 2xx where 3xx/4xx/5xx fit */
}

/* Ends a job without a reply, saying what happened. */
static void
smtp_job_lost(struct smtp_job *job, enum relay_outcome outcome,
    enum relay_stage stage, const char *text)
{
	struct relay_result *r = job->result;

	r->outcome = outcome;
	r->stage = stage;
	r->code = 0;
	r->queue_id[0] = '\0';
	snprintf(r->reply, sizeof(r->reply), "%s", text);
}

static struct smtp_flight *
smtp_flight_of(struct smtp_client *c, const struct smtp_job *job)
{
	for (unsigned i = 0; i < c->flight_count; i++)
		if (c->flight[i].job == job)
			return &c->flight[i];
	return NULL;
}

/* The job's transaction is over: its result is final. */
static void
smtp_job_finish(struct smtp_client *c, struct smtp_job *job)
{
	for (unsigned i = 0; i < c->flight_count; i++) {
		if (c->flight[i].job != job)
			continue;
		memmove(&c->flight[i], &c->flight[i + 1],
		    (c->flight_count - i - 1) * sizeof(c->flight[0]));
		c->flight_count--;
		break;
	}
	if (!job->done) {
		job->done = 1;
		c->queue->done++;
	}
}

/* --- output ------------------------------------------------------------- */

static void
smtp_client_expect(struct smtp_client *c, enum smtp_command command,
    struct smtp_job *job)
{
	struct smtp_expect *e;

	/* Bounded by construction: in_flight jobs, 4 commands each. */
	e = &c->expect[(c->expect_head + c->expect_count) % SMTP_EXPECT_MAX];
	c->expect_count++;
	e->command = command;
	e->job = job;
	e->end = c->base + c->out.len;
}

/* Appends a command line (CRLF added) and expects its reply. */
static void __attribute__((format(printf, 4, 5)))
smtp_client_command(struct smtp_client *c, enum smtp_command command,
    struct smtp_job *job, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	buf_append(&c->out, "\r\n", 2);
	smtp_client_expect(c, command, job);
}

/* Offset in the stream of the next byte appended. */
static uint64_t
smtp_client_offset(const struct smtp_client *c)
{
	return c->base + c->out.len;
}

/*
 * Appends a message body dot-stuffed, with the final dot: a line that
 * starts with "." gets another one (RFC 5321 4.5.2); nothing else is
 * changed.
 */
static void
smtp_client_append_body(struct smtp_client *c, const char *data,
    size_t length)
{
	const char *p = data, *end = data + length, *dot;

	buf_reserve(&c->out, length + length / 64 + 8);
	if (p < end && *p == '.')
		buf_append_char(&c->out, '.');
	while ((dot = memmem(p, (size_t)(end - p), "\r\n.", 3)) != NULL) {
		buf_append(&c->out, p, (size_t)(dot + 3 - p));
		buf_append_char(&c->out, '.');
		p = dot + 3;
	}
	buf_append(&c->out, p, (size_t)(end - p));
	buf_append(&c->out, ".\r\n", 3);
}

/* --- time limits -------------------------------------------------------- */

static unsigned
smtp_client_limit(const struct smtp_client *c)
{
	const struct smtp_expect *e;

	if (c->state == SMTP_CONNECTING)
		return c->limits.connect_ms;
	if (c->out.len > c->out_sent)
		return c->limits.block_ms;
	if (c->expect_count == 0)
		return 0;
	e = &c->expect[c->expect_head];
	switch (e->command) {
	case SMTP_CMD_GREETING:
		return c->limits.greeting_ms;
	case SMTP_CMD_RCPT:
		return c->limits.rcpt_ms;
	case SMTP_CMD_DATA:
		return c->limits.data_ms;
	case SMTP_CMD_DOT:
	case SMTP_CMD_BDAT:
		return c->limits.dot_ms;
	case SMTP_CMD_EHLO:
	case SMTP_CMD_HELO:
	case SMTP_CMD_MAIL:
	case SMTP_CMD_RSET:
		break;
	}
	return c->limits.mail_ms;
}

/* Restarts the clock after progress, with the limit of what is awaited. */
static void
smtp_client_arm(struct smtp_client *c)
{
	unsigned ms = smtp_client_limit(c);

	if (ms == 0) {
		ev_timer_stop(c->loop, &c->timer);
		return;
	}
	c->timer.repeat = ms / 1000.0;
	ev_timer_again(c->loop, &c->timer);
}

/* --- the end of a connection -------------------------------------------- */

static void
smtp_client_close_socket(struct smtp_client *c)
{
	ev_io_stop(c->loop, &c->read_watcher);
	ev_io_stop(c->loop, &c->write_watcher);
	ev_timer_stop(c->loop, &c->timer);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = SMTP_CLOSED;
	c->nodelay = 0;
	if (c->addresses)
		freeaddrinfo(c->addresses);
	c->addresses = NULL;
	c->trying = NULL;
	buf_reset(&c->out);
	c->out_sent = 0;
	c->base = c->written = 0;
	c->expect_head = c->expect_count = 0;
	c->envelope = NULL;
}

/*
 * Classifies a job the connection held when it ended (relay.h): the
 * end of its data written means possibly delivered, unless the server
 * had already gone when it was; its data begun, or DATA sent after MAIL
 * and RCPT were accepted, means deferred; anything less goes back to
 * the queue for another connection.
 */
static void
smtp_client_release(struct smtp_client *c, struct smtp_flight *f)
{
	struct smtp_job *job = f->job;
	struct smtp_queue *q = c->queue;

	if (f->data_end && c->written >= f->data_end && !job->peer_closed) {
		smtp_job_lost(job, RELAY_UNKNOWN, RELAY_STAGE_END, "no reply "
		    "after the end of DATA; the message was possibly "
		    "delivered");
	} else if (f->data_start && c->written > f->data_start) {
		smtp_job_lost(job, RELAY_DEFERRED, RELAY_STAGE_END,
		    "connection lost before the end of DATA; the message was "
		    "not delivered");
	} else if (f->data_command && job->answered >= 2 &&
	    c->written >= f->data_start) {
		/* The attempt counts, so a message that always breaks the
		 * session here ends failed after retry_schedule instead of
		 * being tried for ever. */
		smtp_job_lost(job, RELAY_DEFERRED, RELAY_STAGE_DATA,
		    "connection lost after the DATA command; the message was "
		    "not delivered");
	} else {
		job->sent = 0;
		job->answered = 0;
		if (job->tries < SMTP_JOB_TRIES_MAX)
			q->given_back[q->given_back_count++] =
			    (unsigned)(job - q->jobs);
		return;	/* not done: NOT_ATTEMPTED unless taken again */
	}
	job->done = 1;
	q->done++;
}

/*
 * Ends the connection with status and text: every job still in flight
 * is classified, the socket closed. Other connections may then take
 * the jobs given back (the caller's loop pokes them).
 */
static void __attribute__((format(printf, 3, 4)))
smtp_client_terminate(struct smtp_client *c, enum relay_status status,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->status_text, sizeof(c->status_text), fmt, ap);
	va_end(ap);
	c->status = status;
	for (unsigned i = 0; i < c->flight_count; i++) {
		struct smtp_job *job = c->flight[i].job;

		if (job->refused && !job->done) {
			/* Its refusal is its answer. */
			job->done = 1;
			c->queue->done++;
		} else if (!job->done) {
			smtp_client_release(c, &c->flight[i]);
		}
	}
	c->flight_count = 0;
	smtp_client_close_socket(c);
}

/* --- replies ------------------------------------------------------------ */

/* An EHLO reply line: the extensions herald reads. */
static void
smtp_client_on_line(void *arg, const char *text, size_t length)
{
	struct smtp_client *c = arg;
	static const struct {
		const char *name;
		unsigned flag;
	} known[] = {
		{ "PIPELINING", SMTP_EXT_PIPELINING },
		{ "SIZE", SMTP_EXT_SIZE },
		{ "8BITMIME", SMTP_EXT_8BITMIME },
		{ "SMTPUTF8", SMTP_EXT_SMTPUTF8 },
		{ "ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES },
		{ "CHUNKING", SMTP_EXT_CHUNKING },
	};
	size_t word = 0;

	if (c->state != SMTP_EHLO || c->ehlo_lines++ == 0)
		return;		/* the first line is the server's name */
	while (word < length && text[word] != ' ')
		word++;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strlen(known[i].name) != word ||
		    strncasecmp(text, known[i].name, word) != 0)
			continue;
		c->extensions |= known[i].flag;
		if (known[i].flag == SMTP_EXT_SIZE && word < length) {
			char number[24];
			size_t n = length - word - 1;

			if (n >= sizeof(number))
				n = sizeof(number) - 1;
			memcpy(number, text + word + 1, n);
			number[n] = '\0';
			c->size_limit = strtoul(number, NULL, 10);
		}
	}
}

static int
smtp_client_pipelining(const struct smtp_client *c)
{
	return (c->extensions & SMTP_EXT_PIPELINING) != 0;
}

static int
smtp_client_chunking(const struct smtp_client *c)
{
	return c->use_bdat && (c->extensions & SMTP_EXT_CHUNKING) &&
	    smtp_client_pipelining(c);
}

/* Appends a job's MAIL (and, pipelining, RCPT and DATA or BDAT). */
static void
smtp_client_envelope(struct smtp_client *c, struct smtp_job *job)
{
	struct smtp_flight *f = &c->flight[c->flight_count++];

	memset(f, 0, sizeof(*f));
	f->job = job;
	job->tries++;
	job->sent = 1;
	if (c->extensions & SMTP_EXT_SIZE)
		smtp_client_command(c, SMTP_CMD_MAIL, job,
		    "MAIL FROM:<%s> SIZE=%zu", job->sender, job->length);
	else
		smtp_client_command(c, SMTP_CMD_MAIL, job, "MAIL FROM:<%s>",
		    job->sender);
	if (!smtp_client_pipelining(c))
		return;
	smtp_client_command(c, SMTP_CMD_RCPT, job, "RCPT TO:<%s>",
	    job->recipient);
	if (smtp_client_chunking(c)) {
		buf_printf(&c->out, "BDAT %zu LAST\r\n", job->length);
		f->data_start = smtp_client_offset(c);
		buf_append(&c->out, job->data, job->length);
		f->data_end = smtp_client_offset(c);
		smtp_client_expect(c, SMTP_CMD_BDAT, job);
		return;
	}
	smtp_client_command(c, SMTP_CMD_DATA, job, "DATA");
	f->data_command = 1;
	f->data_start = smtp_client_offset(c);
	c->envelope = job;
}

/* Appends a job's body and final dot, after its 354. */
static void
smtp_client_body(struct smtp_client *c, struct smtp_job *job)
{
	struct smtp_flight *f = smtp_flight_of(c, job);

	f->data_start = smtp_client_offset(c);
	smtp_client_append_body(c, job->data, job->length);
	f->data_end = smtp_client_offset(c);
	smtp_client_expect(c, SMTP_CMD_DOT, job);
}

/* A transaction failed before its data: the server gets RSET. */
static void
smtp_client_reset_after(struct smtp_client *c, struct smtp_job *job)
{
	smtp_job_finish(c, job);
	smtp_client_command(c, SMTP_CMD_RSET, NULL, "RSET");
}

static void
smtp_client_on_greeting(struct smtp_client *c, const struct smtp_reply *r)
{
	char text[RELAY_REPLY_MAX + 1];

	if (r->code / 100 != 2) {
		smtp_reply_format(r, text, sizeof(text));
		c->status_code = r->code;
		smtp_client_terminate(c, RELAY_STATUS_REFUSED, "%s refused the "
		    "session at greeting: %s", c->hostport, text);
		return;
	}
	c->state = SMTP_EHLO;
	c->extensions = 0;
	c->size_limit = 0;
	c->ehlo_lines = 0;
	smtp_client_command(c, SMTP_CMD_EHLO, NULL, "EHLO %s", c->helo_name);
}

static void
smtp_client_on_hello(struct smtp_client *c, const struct smtp_expect *e,
    const struct smtp_reply *r)
{
	char text[RELAY_REPLY_MAX + 1];

	if (r->code / 100 == 2) {
		c->state = SMTP_READY;
		smtp_client_fill(c);
		return;
	}
	/* 500-504: EHLO not known (an old server): HELO then. */
	if (e->command == SMTP_CMD_EHLO && r->code >= 500 && r->code <= 504) {
		c->state = SMTP_HELO;
		c->extensions = 0;
		smtp_client_command(c, SMTP_CMD_HELO, NULL, "HELO %s",
		    c->helo_name);
		return;
	}
	smtp_reply_format(r, text, sizeof(text));
	c->status_code = r->code;
	smtp_client_terminate(c, RELAY_STATUS_REFUSED, "%s refused the session "
	    "at EHLO/HELO: %s", c->hostport, text);
}

/* MAIL's or RCPT's reply. */
static void
smtp_client_on_envelope(struct smtp_client *c, const struct smtp_expect *e,
    const struct smtp_reply *r)
{
	struct smtp_job *job = e->job;

	if (job->refused)
		return;		/* an earlier reply decided */
	job->answered++;
	if (r->code / 100 != 2) {
		smtp_job_answer(job, e->command == SMTP_CMD_MAIL ?
		    RELAY_STAGE_MAIL : RELAY_STAGE_RCPT, r);
		job->refused = 1;
		if (!smtp_client_pipelining(c))
			smtp_client_reset_after(c, job);
		return;
	}
	if (smtp_client_pipelining(c))
		return;
	/* Lock-step: the next command now. */
	if (e->command == SMTP_CMD_MAIL) {
		smtp_client_command(c, SMTP_CMD_RCPT, job, "RCPT TO:<%s>",
		    job->recipient);
	} else {
		struct smtp_flight *f = smtp_flight_of(c, job);

		smtp_client_command(c, SMTP_CMD_DATA, job, "DATA");
		f->data_command = 1;
		f->data_start = smtp_client_offset(c);
		c->envelope = job;
	}
}

static void
smtp_client_on_data(struct smtp_client *c, const struct smtp_expect *e,
    const struct smtp_reply *r)
{
	struct smtp_job *job = e->job;

	c->envelope = NULL;
	if (job->refused) {
		/* A server that says 354 with no recipient accepted gets an
		 * empty message, which it cannot deliver to anyone. */
		if (r->code / 100 == 3)
			smtp_client_command(c, SMTP_CMD_DOT, job, ".");
		smtp_client_reset_after(c, job);
	} else if (r->code / 100 == 3) {
		smtp_client_body(c, job);
	} else {
		smtp_job_answer(job, RELAY_STAGE_DATA, r);
		smtp_client_reset_after(c, job);
	}
	smtp_client_fill(c);
}

/* The reply to the final dot or to BDAT ... LAST. */
static void
smtp_client_on_end(struct smtp_client *c, const struct smtp_expect *e,
    const struct smtp_reply *r)
{
	struct smtp_job *job = e->job;

	if (job->done)
		return;		/* the empty message after a refusal */
	if (job->refused) {
		smtp_client_reset_after(c, job);
	} else {
		smtp_job_answer(job, RELAY_STAGE_END, r);
		smtp_job_finish(c, job);
	}
	smtp_client_fill(c);
}

/* A reply, matched to the command it answers. */
static void
smtp_client_on_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	struct smtp_expect e;
	char text[RELAY_REPLY_MAX + 1];

	if (c->expect_count == 0 ||
	    c->expect[c->expect_head].end > c->written) {
		smtp_reply_format(r, text, sizeof(text));
		smtp_client_terminate(c, RELAY_STATUS_DROPPED, "session with %s "
		    "ended early: a reply came before its command was sent "
		    "(%s)", c->hostport, text);
		return;
	}
	e = c->expect[c->expect_head];
	if ((r->code / 100 == 3 && e.command != SMTP_CMD_DATA) ||
	    (r->code / 100 == 2 && e.command == SMTP_CMD_DATA)) {
		/* 354 answers DATA and nothing else: replies out of step
		 * with the commands cannot be matched to messages. */
		smtp_reply_format(r, text, sizeof(text));
		smtp_client_terminate(c, RELAY_STATUS_DROPPED, "session with %s "
		    "ended early: a reply that does not fit its command (%s)",
		    c->hostport, text);
		return;
	}
	c->expect_head = (c->expect_head + 1) % SMTP_EXPECT_MAX;
	c->expect_count--;
	if (c->queue->progress)
		c->queue->progress(c->queue->progress_arg);
	switch (e.command) {
	case SMTP_CMD_GREETING:
		smtp_client_on_greeting(c, r);
		return;		/* 421 there: refused, as any 4xx */
	case SMTP_CMD_EHLO:
	case SMTP_CMD_HELO:
		smtp_client_on_hello(c, &e, r);
		return;
	case SMTP_CMD_MAIL:
	case SMTP_CMD_RCPT:
		smtp_client_on_envelope(c, &e, r);
		break;
	case SMTP_CMD_DATA:
		smtp_client_on_data(c, &e, r);
		break;
	case SMTP_CMD_DOT:
	case SMTP_CMD_BDAT:
		smtp_client_on_end(c, &e, r);
		break;
	case SMTP_CMD_RSET:
		if (r->code / 100 != 2 && r->code != 421) {
			smtp_reply_format(r, text, sizeof(text));
			smtp_client_terminate(c, RELAY_STATUS_DROPPED, "session "
			    "with %s ended early: RSET refused: %s",
			    c->hostport, text);
			return;
		}
		smtp_client_fill(c);
		break;
	}
	if (r->code == 421 && c->state != SMTP_CLOSED) {
		/* The server is closing the session: what it answered
		 * stands, everything after it goes back. */
		smtp_reply_format(r, text, sizeof(text));
		smtp_client_terminate(c, RELAY_STATUS_DROPPED, "%s closed the "
		    "session: %s", c->hostport, text);
	}
}

/* --- I/O ------------------------------------------------------------------ */

/*
 * Before the end of a job's data is written: has the server already
 * gone? Then it cannot read the dot, and the job will be deferred, not
 * possibly delivered (the kernel takes the bytes all the same). Only
 * asked when this write holds the end of some job's data.
 */
static int
smtp_client_peer_gone(const struct smtp_client *c)
{
	char byte;
	ssize_t n;
	int ending = 0;

	for (unsigned i = 0; i < c->flight_count; i++)
		ending |= c->flight[i].data_end > c->written;
	if (!ending)
		return 0;
	n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR);
}

/* Writes what it can; a partial write waits for the socket. */
static void
smtp_client_flush(struct smtp_client *c)
{
	uint64_t from = c->written;
	int gone = c->out_sent < c->out.len && smtp_client_peer_gone(c);

	while (c->out_sent < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_sent,
		    c->out.len - c->out_sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			smtp_client_terminate(c, RELAY_STATUS_DROPPED, "session "
			    "with %s ended early: %s", c->hostport,
			    strerror(errno));
			return;
		}
		c->out_sent += (size_t)n;
		c->written += (uint64_t)n;
	}
	for (unsigned i = 0; gone && i < c->flight_count; i++)
		if (c->flight[i].data_end > from &&
		    c->flight[i].data_end <= c->written)
			c->flight[i].job->peer_closed = 1;
	if (c->out_sent < c->out.len) {
		ev_io_start(c->loop, &c->write_watcher);
	} else {
		c->base += c->out.len;
		buf_reset(&c->out);
		c->out_sent = 0;
		ev_io_stop(c->loop, &c->write_watcher);
	}
	smtp_client_arm(c);
}

static void
smtp_client_on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct smtp_client *c = w->data;

	(void)loop;
	(void)revents;
	smtp_client_flush(c);
}

static void
smtp_client_on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct smtp_client *c = w->data;
	char data[SMTP_READ_SIZE];
	ssize_t n;
	size_t offset = 0, used;
	int rc;

	(void)loop;
	(void)revents;
	n = recv(c->fd, data, sizeof(data), 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		smtp_client_terminate(c, RELAY_STATUS_DROPPED, "session with %s "
		    "ended early: %s", c->hostport, n == 0 ?
		    "the server closed the connection" : strerror(errno));
		return;
	}
	while (offset < (size_t)n && c->state != SMTP_CLOSED) {
		rc = smtp_reply_parse(&c->parser, data + offset,
		    (size_t)n - offset, &used);
		offset += used;
		if (rc < 0) {
			smtp_client_terminate(c, RELAY_STATUS_DROPPED, "session "
			    "with %s ended early: %s", c->hostport,
			    c->parser.error);
			return;
		}
		if (rc == 1)
			smtp_client_on_reply(c, &c->parser.reply);
	}
	if (c->state == SMTP_CLOSED)
		return;
	smtp_client_flush(c);
}

/* --- connecting ----------------------------------------------------------- */

static void smtp_client_try_address(struct smtp_client *c);

static void
smtp_client_connected(struct smtp_client *c)
{
	int one = 1;

	ev_io_stop(c->loop, &c->write_watcher);
	if (!c->keep_nagle && setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY,
	    &one, sizeof(one)) == 0)
		c->nodelay = 1;
	freeaddrinfo(c->addresses);
	c->addresses = NULL;
	c->trying = NULL;
	c->state = SMTP_GREETING;
	smtp_reply_parser_init(&c->parser);
	c->parser.on_line = smtp_client_on_line;
	c->parser.on_line_arg = c;
	c->written = c->base = 0;
	smtp_client_expect(c, SMTP_CMD_GREETING, NULL);
	ev_io_set(&c->read_watcher, c->fd, EV_READ);
	ev_io_set(&c->write_watcher, c->fd, EV_WRITE);
	ev_io_start(c->loop, &c->read_watcher);
	smtp_client_arm(c);
}

/* The connect in progress failed with error: the next address, if any. */
static void
smtp_client_connect_failed(struct smtp_client *c, int error)
{
	ev_io_stop(c->loop, &c->write_watcher);
	ev_timer_stop(c->loop, &c->timer);
	close(c->fd);
	c->fd = -1;
	c->trying = c->trying->ai_next;
	if (c->trying) {
		smtp_client_try_address(c);
		return;
	}
	if (error == ETIMEDOUT)
		smtp_client_terminate(c, RELAY_STATUS_TIMEOUT, "cannot connect "
		    "to %s: no answer within %u ms", c->hostport,
		    c->limits.connect_ms);
	else
		smtp_client_terminate(c, RELAY_STATUS_CONNECT_FAILED, "cannot "
		    "connect to %s: %s", c->hostport, strerror(error));
}

static void
smtp_client_on_connect(struct ev_loop *loop, ev_io *w, int revents)
{
	struct smtp_client *c = w->data;
	int error = 0;
	socklen_t length = sizeof(error);

	(void)loop;
	(void)revents;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
		error = errno;
	if (error == 0)
		smtp_client_connected(c);
	else
		smtp_client_connect_failed(c, error);
}

/* A non-blocking connect to c->trying. */
static void
smtp_client_try_address(struct smtp_client *c)
{
	struct addrinfo *ai = c->trying;

	c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (c->fd < 0) {
		int error = errno;

		c->fd = -1;
		c->trying = ai->ai_next;
		if (c->trying) {
			smtp_client_try_address(c);
			return;
		}
		smtp_client_terminate(c, RELAY_STATUS_CONNECT_FAILED, "cannot "
		    "connect to %s: %s", c->hostport, strerror(error));
		return;
	}
	c->state = SMTP_CONNECTING;
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		smtp_client_connected(c);
		return;
	}
	if (errno != EINPROGRESS) {
		/* Not the timeout path: close and try the next at once. */
		smtp_client_connect_failed(c, errno);
		return;
	}
	ev_io_init(&c->write_watcher, smtp_client_on_connect, c->fd, EV_WRITE);
	c->write_watcher.data = c;
	ev_io_start(c->loop, &c->write_watcher);
	smtp_client_arm(c);
}

static void
smtp_client_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct smtp_client *c = w->data;

	(void)loop;
	(void)revents;
	if (c->state == SMTP_CONNECTING) {
		smtp_client_connect_failed(c, ETIMEDOUT);
		return;
	}
	smtp_client_terminate(c, RELAY_STATUS_TIMEOUT, "%s did not answer "
	    "within %u ms", c->hostport, smtp_client_limit(c));
}

/* Resolves the host (all addresses, in order) and starts connecting. */
static void
smtp_client_connect(struct smtp_client *c)
{
	struct addrinfo hints;
	char port[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%u", c->port);
	rc = getaddrinfo(c->host, port, &hints, &c->addresses);
	if (rc == EAI_ADDRFAMILY || (rc == EAI_NONAME && strchr(c->host, ':'))) {
		/* AI_ADDRCONFIG hides ::1 on a host with only loopback v6. */
		hints.ai_flags = 0;
		rc = getaddrinfo(c->host, port, &hints, &c->addresses);
	}
	if (rc != 0) {
		c->addresses = NULL;
		smtp_client_terminate(c, rc == EAI_SYSTEM ?
		    RELAY_STATUS_CONNECT_FAILED : RELAY_STATUS_RESOLVE_FAILED,
		    "cannot connect to %s: %s", c->hostport, rc == EAI_SYSTEM ?
		    strerror(errno) : gai_strerror(rc));
		return;
	}
	c->trying = c->addresses;
	smtp_client_try_address(c);
}

/* --- life ------------------------------------------------------------------ */

struct smtp_client *
smtp_client_new(struct ev_loop *loop, const struct smtp_client_config *config,
    struct smtp_queue *queue)
{
	struct smtp_client *c = xcalloc(1, sizeof(*c));
	const char *host = config->host;
	size_t length = strlen(host);

	c->loop = loop;
	c->queue = queue;
	/* "[::1]" is how a port is told from an IPv6 literal elsewhere. */
	if (length >= 2 && host[0] == '[' && host[length - 1] == ']')
		c->host = xstrndup(host + 1, length - 2);
	else
		c->host = xstrdup(host);
	c->helo_name = xstrdup(config->helo_name);
	c->port = config->port;
	snprintf(c->hostport, sizeof(c->hostport), strchr(c->host, ':') ?
	    "[%s]:%u" : "%s:%u", c->host, c->port);
	c->limits = config->limits;
	c->in_flight = config->in_flight;
	if (c->in_flight < 1)
		c->in_flight = 1;
	if (c->in_flight > SMTP_IN_FLIGHT_MAX)
		c->in_flight = SMTP_IN_FLIGHT_MAX;
	c->use_bdat = config->use_bdat;
	c->keep_nagle = config->keep_nagle;
	c->fd = -1;
	ev_io_init(&c->read_watcher, smtp_client_on_readable, 0, EV_READ);
	c->read_watcher.data = c;
	ev_io_init(&c->write_watcher, smtp_client_on_writable, 0, EV_WRITE);
	c->write_watcher.data = c;
	ev_init(&c->timer, smtp_client_on_timeout);
	c->timer.data = c;
	return c;
}

void
smtp_client_free(struct smtp_client *c)
{
	if (c == NULL)
		return;
	if (c->state == SMTP_READY && c->expect_count == 0 &&
	    c->out.len == 0) {
		/* Polite, not waited for: the socket is closed at once. */
		(void)send(c->fd, "QUIT\r\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	smtp_client_close_socket(c);
	free(c->host);
	free(c->helo_name);
	buf_free(&c->out);
	free(c);
}

/* Starts transactions while the rules allow another message. */
static void
smtp_client_fill(struct smtp_client *c)
{
	struct smtp_job *job;

	while (c->state == SMTP_READY && c->envelope == NULL &&
	    c->flight_count < c->in_flight) {
		/* Lock-step: one command at a time. */
		if (!smtp_client_pipelining(c) && (c->flight_count > 0 ||
		    c->expect_count > 0))
			break;
		/* Plain DATA: the next envelope may only follow a body. */
		if (!smtp_client_chunking(c) && c->flight_count > 1)
			break;
		job = smtp_queue_take(c->queue);
		if (job == NULL)
			break;
		smtp_client_envelope(c, job);
	}
}

/* Is a kept session still there? A server that closed it, or said
 * something unasked (a 421 on its idle timeout), is done with it. */
static int
smtp_client_alive(const struct smtp_client *c)
{
	char byte;
	ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

int
smtp_client_start(struct smtp_client *c)
{
	/* The loop stood still since its last run (the worker claims,
	 * reads and sleeps outside it): the limits armed below must count
	 * from now, not from the loop's last turn, or an idle spell longer
	 * than a limit ends the session at its first step. */
	ev_now_update(c->loop);
	c->status = RELAY_STATUS_OK;
	c->status_code = 0;
	c->status_text[0] = '\0';
	if (c->state == SMTP_READY && !smtp_client_alive(c))
		smtp_client_close_socket(c);
	if (c->state == SMTP_CLOSED)
		smtp_client_connect(c);
	else
		smtp_client_poke(c);
	return c->status == RELAY_STATUS_OK ? 0 : -1;
}

void
smtp_client_poke(struct smtp_client *c)
{
	if (c->state != SMTP_READY)
		return;
	smtp_client_fill(c);
	smtp_client_flush(c);
}

int
smtp_client_busy(const struct smtp_client *c)
{
	switch (c->state) {
	case SMTP_CONNECTING:
	case SMTP_GREETING:
	case SMTP_EHLO:
	case SMTP_HELO:
		return 1;
	case SMTP_READY:
		return c->flight_count > 0 || c->expect_count > 0 ||
		    c->out.len > c->out_sent;
	case SMTP_CLOSED:
		break;
	}
	return 0;
}

int
smtp_client_ready(const struct smtp_client *c)
{
	return c->state == SMTP_READY;
}

enum relay_status
smtp_client_status(const struct smtp_client *c, const char **text, int *code)
{
	if (text)
		*text = c->status_text;
	if (code)
		*code = c->status_code;
	return c->status;
}

int
smtp_client_nodelay(const struct smtp_client *c)
{
	return c->nodelay;
}
