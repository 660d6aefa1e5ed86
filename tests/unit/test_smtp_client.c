/*
 * test_smtp_client.c - herald's pipelined SMTP client (src/relay/smtp_reply.c,
 * src/relay/smtp_client.c, src/relay/smtp_pool.c, through relay.h) against a
 * scripted server.
 *
 * The server is a child process on a loopback listener that follows a
 * script, one step a string:
 *	"<TEXT"	read one command line; it must start with TEXT
 *	"<."	read a message body up to the final dot; it must be the
 *		test message, dot-stuffed
 *	"<B"	read "BDAT n LAST" and its n bytes: the test message as is
 *	">TEXT"	write TEXT (replies carry their CRLF)
 *	"}TEXT"	write TEXT one byte per write, with TCP_NODELAY
 *	"|"	from here, a command must not be followed by another one
 *		already sent (the client must wait: no PIPELINING)
 *	"!close"	close the connection
 *	"!stall"	wait, reading nothing, until killed
 *	"!drain"	read until the client closes
 *	"!accept"	take the next connection
 * The child exits 0 when the script was followed, 1 (saying where on
 * stderr) when the client sent something else.
 *
 * Covers: replies of each class at each step, multi-line replies,
 * replies split at every byte, the connection dropped at each step, each
 * time limit, a server without PIPELINING, garbage and over-long
 * replies, a reply before its command, dot-stuffing, several
 * connections sharing a session's messages, and the reply parser
 * itself fed a byte at a time.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "relay.h"
#include "smtp_pool.h"
#include "smtp_reply.h"

#define MESSAGE "Subject: test\r\n\r\n.a line with a dot\r\nbody\r\n..\r\n"
#define STUFFED "Subject: test\r\n\r\n..a line with a dot\r\nbody\r\n...\r\n"

#define GREETING ">220 scripted ESMTP\r\n"
#define EHLO_PIPELINING ">250-scripted\r\n250-SIZE 1000000\r\n" \
	"250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"
#define OK_MAIL ">250 2.1.0 Ok\r\n"
#define OK_RCPT ">250 2.1.5 Ok\r\n"
#define GO_AHEAD ">354 go ahead\r\n"
#define QUEUED ">250 2.0.0 Ok: queued as ABC123\r\n"

struct server {
	pid_t pid;
	unsigned port;
};

/* --- the scripted server (child) --------------------------------------- */

static char in[65536];
static size_t in_length;

static int
fill_input(int fd)
{
	ssize_t n = read(fd, in + in_length, sizeof(in) - in_length);

	if (n <= 0)
		return -1;
	in_length += (size_t)n;
	return 0;
}

/* One line (without CRLF) into line; -1 when the client went away. */
static int
read_line(int fd, char *line, size_t size)
{
	char *end;

	while ((end = memmem(in, in_length, "\r\n", 2)) == NULL)
		if (fill_input(fd) != 0)
			return -1;
	snprintf(line, size, "%.*s", (int)(end - in), in);
	in_length -= (size_t)(end + 2 - in);
	memmove(in, end + 2, in_length);
	return 0;
}

static int
read_body(int fd, struct buf *body)
{
	char *end;

	while ((end = memmem(in, in_length, "\r\n.\r\n", 5)) == NULL)
		if (fill_input(fd) != 0)
			return -1;
	buf_append(body, in, (size_t)(end + 2 - in));
	in_length -= (size_t)(end + 5 - in);
	memmove(in, end + 5, in_length);
	return 0;
}

static void __attribute__((noreturn))
server_fail(unsigned step, const char *what, const char *got)
{
	fprintf(stderr, "script step %u: expected %s, got \"%s\"\n", step,
	    what, got);
	_exit(1);
}

static void __attribute__((noreturn))
server_run(int listener, const char *const *script)
{
	int fd = accept(listener, NULL, NULL), one = 1, strict = 0;
	char line[4096];
	struct buf body = BUF_INIT;

	if (fd < 0)
		_exit(2);
	for (unsigned i = 0; script[i]; i++) {
		const char *s = script[i];

		if (strcmp(s, "<B") == 0) {
			size_t n = 0;

			if (read_line(fd, line, sizeof(line)) != 0 ||
			    sscanf(line, "BDAT %zu LAST", &n) != 1)
				server_fail(i, "BDAT n LAST", line);
			while (in_length < n)
				if (fill_input(fd) != 0)
					server_fail(i, "a chunk", "(closed)");
			if (n != strlen(MESSAGE) || memcmp(in, MESSAGE, n) != 0)
				server_fail(i, "the message as is", in);
			in_length -= n;
			memmove(in, in + n, in_length);
		} else if (s[0] == '<' && strcmp(s, "<.") == 0) {
			buf_reset(&body);
			if (read_body(fd, &body) != 0)
				server_fail(i, "a body", "(closed)");
			if (strcmp(buf_str(&body), STUFFED) != 0)
				server_fail(i, "the stuffed body", buf_str(&body));
		} else if (s[0] == '<') {
			if (read_line(fd, line, sizeof(line)) != 0)
				server_fail(i, s + 1, "(closed)");
			if (strncmp(line, s + 1, strlen(s + 1)) != 0)
				server_fail(i, s + 1, line);
			if (strict && in_length > 0)
				server_fail(i, "nothing more before the reply",
				    in);
		} else if (s[0] == '>') {
			if (write(fd, s + 1, strlen(s + 1)) < 0)
				_exit(3);
		} else if (s[0] == '}') {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
			for (const char *p = s + 1; *p; p++) {
				if (write(fd, p, 1) < 0)
					_exit(3);
				usleep(200);
			}
		} else if (strcmp(s, "|") == 0) {
			strict = 1;
		} else if (strcmp(s, "!close") == 0) {
			close(fd);
			fd = -1;
		} else if (strcmp(s, "!stall") == 0) {
			pause();
		} else if (strcmp(s, "!accept") == 0) {
			fd = accept(listener, NULL, NULL);
			in_length = 0;
			if (fd < 0)
				_exit(2);
		} else if (strcmp(s, "!drain") == 0) {
			while (fill_input(fd) == 0)
				in_length = 0;
		}
	}
	_exit(0);
}

/* Starts the server on a free loopback port. */
static void
server_start(struct server *srv, const char *const *script)
{
	struct sockaddr_in sin;
	socklen_t length = sizeof(sin);
	int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	ck_assert_int_ge(listener, 0);
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(listener, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	ck_assert_int_eq(listen(listener, 8), 0);
	ck_assert_int_eq(getsockname(listener, (struct sockaddr *)&sin,
	    &length), 0);
	srv->port = ntohs(sin.sin_port);
	srv->pid = fork();
	ck_assert_int_ge(srv->pid, 0);
	if (srv->pid == 0) {
		/* Check's handlers would kill the test's process group. */
		signal(SIGTERM, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		server_run(listener, script);
	}
	close(listener);
}

/* Stops the server; returns its exit status (0: script followed). */
static int
server_stop(struct server *srv)
{
	int status;

	kill(srv->pid, SIGTERM);
	ck_assert_int_eq(waitpid(srv->pid, &status, 0), srv->pid);
	if (WIFSIGNALED(status))
		return WTERMSIG(status) == SIGTERM ? 0 : 128;
	return WEXITSTATUS(status);
}

/* Waits for the server to end by itself (it followed the whole script). */
static int
server_wait(struct server *srv)
{
	int status;

	ck_assert_int_eq(waitpid(srv->pid, &status, 0), srv->pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* --- the client side ------------------------------------------------------ */

struct run {
	struct relay_session_result sum;
	const struct relay_result *results;
	unsigned count;
	struct relay_session *session;
};

/* Set by the BDAT tests: relay_target.use_bdat (off by default). */
static int use_bdat;

/* Sends n test messages to port with the given per-reply limit. */
static void
run_messages(struct run *run, unsigned port, unsigned n, unsigned timeout_ms,
    unsigned connections)
{
	struct relay_target target = {
		.host = "127.0.0.1",
		.port = port,
		.timeout_ms = timeout_ms,
		.helo_name = "client.test",
		.connections = connections,
		.connect_timeout_ms = 1000,
		.use_bdat = use_bdat,
	};
	struct buf err = BUF_INIT;

	run->session = relay_session_new(&target, &err);
	ck_assert_msg(run->session != NULL, "%s", buf_str(&err));
	for (unsigned i = 0; i < n; i++) {
		char rcpt[32];

		snprintf(rcpt, sizeof(rcpt), "r%u@example.org", i);
		ck_assert_int_eq(relay_session_add(run->session, "s@example.net",
		    rcpt, MESSAGE, strlen(MESSAGE), i, &err), 0);
	}
	relay_session_run(run->session, &run->sum);
	run->results = relay_session_results(run->session, &run->count);
	buf_free(&err);
}

static void
run_free(struct run *run)
{
	relay_session_free(run->session);
}

/* The script of one message accepted, from the greeting on. */
#define ONE_MESSAGE GREETING, "<EHLO client.test", EHLO_PIPELINING, \
	"<MAIL FROM:<s@example.net> SIZE=", "<RCPT TO:<r0@example.org>", \
	"<DATA", OK_MAIL, OK_RCPT, GO_AHEAD, "<.", QUEUED

START_TEST(two_messages_pipelined_and_stuffed)
{
	static const char *const script[] = {
		GREETING, "<EHLO client.test", EHLO_PIPELINING,
		"<MAIL FROM:<s@example.net> SIZE=47",
		"<RCPT TO:<r0@example.org>", "<DATA",
		OK_MAIL, OK_RCPT, GO_AHEAD,
		/* The body, its dot and the next envelope in one write. */
		"<.", "<MAIL FROM:<s@example.net>", "<RCPT TO:<r1@example.org>",
		"<DATA", QUEUED, OK_MAIL, OK_RCPT, GO_AHEAD,
		"<.", ">250-2.0.0 Ok\r\n250 2.0.0 queued as DEF456\r\n",
		"<QUIT", NULL,
	};
	struct server srv;
	struct run run;

	server_start(&srv, script);
	run_messages(&run, srv.port, 2, 5000, 1);
	ck_assert_msg(run.sum.status == RELAY_STATUS_OK, "%s",
	    run.sum.text);
	ck_assert_int_eq(run.sum.nodelay, 1);
	ck_assert_int_eq(run.results[0].outcome, RELAY_SENT);
	ck_assert_str_eq(run.results[0].queue_id, "ABC123");
	ck_assert_str_eq(run.results[0].reply,
	    "250 2.0.0 Ok: queued as ABC123");
	ck_assert_int_eq(run.results[1].outcome, RELAY_SENT);
	ck_assert_str_eq(run.results[1].queue_id, "DEF456");
	ck_assert_str_eq(run.results[1].reply,
	    "250 2.0.0 Ok queued as DEF456");
	run_free(&run);		/* sends QUIT */
	ck_assert_int_eq(server_wait(&srv), 0);
}
END_TEST

/* Each reply class at each step of a transaction: the outcome, the
 * stage and the RSET that follows a refusal. */
struct step_case {
	const char *mail, *rcpt, *data, *end;
	enum relay_outcome outcome;
	enum relay_stage stage;
	int code;
};

static const struct step_case step_cases[] = {
	{ ">451 4.3.0 later\r\n", ">503 5.5.1 no MAIL\r\n",
	    ">503 5.5.1 no RCPT\r\n", NULL, RELAY_DEFERRED, RELAY_STAGE_MAIL,
	    451 },
	{ ">550 5.1.0 no\r\n", ">503 5.5.1 no MAIL\r\n",
	    ">503 5.5.1 no RCPT\r\n", NULL, RELAY_FAILED, RELAY_STAGE_MAIL,
	    550 },
	{ OK_MAIL, ">450 4.2.0 greylisted\r\n", ">554 5.5.1 no rcpt\r\n",
	    NULL, RELAY_DEFERRED, RELAY_STAGE_RCPT, 450 },
	{ OK_MAIL, ">550 5.1.1 unknown\r\n", ">554 5.5.1 no rcpt\r\n", NULL,
	    RELAY_FAILED, RELAY_STAGE_RCPT, 550 },
	{ OK_MAIL, OK_RCPT, ">451 4.3.0 not now\r\n", NULL, RELAY_DEFERRED,
	    RELAY_STAGE_DATA, 451 },
	{ OK_MAIL, OK_RCPT, ">554 5.3.0 never\r\n", NULL, RELAY_FAILED,
	    RELAY_STAGE_DATA, 554 },
	{ OK_MAIL, OK_RCPT, GO_AHEAD, ">452 4.3.1 full\r\n", RELAY_DEFERRED,
	    RELAY_STAGE_END, 452 },
	{ OK_MAIL, OK_RCPT, GO_AHEAD, ">552 5.3.4 too big\r\n",
	    RELAY_FAILED, RELAY_STAGE_END, 552 },
};

START_TEST(reply_class_at_each_step)
{
	const struct step_case *c = &step_cases[_i];
	const char *script[32];
	unsigned n = 0;
	struct server srv;
	struct run run;

	script[n++] = GREETING;
	script[n++] = "<EHLO";
	script[n++] = EHLO_PIPELINING;
	script[n++] = "<MAIL";
	script[n++] = "<RCPT";
	script[n++] = "<DATA";
	script[n++] = c->mail;
	script[n++] = c->rcpt;
	script[n++] = c->data;
	if (c->end) {
		/* Refused at the dot: the next message is already sent. */
		script[n++] = "<.";
		script[n++] = "<MAIL";
		script[n++] = "<RCPT";
		script[n++] = "<DATA";
		script[n++] = c->end;
	} else {
		script[n++] = "<RSET";
		script[n++] = "<MAIL";
		script[n++] = "<RCPT";
		script[n++] = "<DATA";
		script[n++] = ">250 2.0.0 reset\r\n";
	}
	script[n++] = OK_MAIL;
	script[n++] = OK_RCPT;
	script[n++] = GO_AHEAD;
	script[n++] = "<.";
	script[n++] = QUEUED;
	script[n++] = "<QUIT";
	script[n] = NULL;
	server_start(&srv, script);
	run_messages(&run, srv.port, 2, 5000, 1);
	ck_assert_msg(run.sum.status == RELAY_STATUS_OK, "%s", run.sum.text);
	ck_assert_msg(run.results[0].outcome == c->outcome, "%s: %s",
	    relay_outcome_name(run.results[0].outcome), run.results[0].reply);
	ck_assert_int_eq(run.results[0].stage, c->stage);
	ck_assert_int_eq(run.results[0].code, c->code);
	ck_assert_str_eq(run.results[0].queue_id, "");
	ck_assert_int_eq(run.results[1].outcome, RELAY_SENT);
	run_free(&run);
	ck_assert_int_eq(server_wait(&srv), 0);
}
END_TEST

/* A refused greeting or EHLO/HELO refuses the session: the relay is
 * marked down, nothing attempted. */
static const char *const refusals[][8] = {
	{ ">421 4.3.2 busy\r\n", "!drain", NULL },
	{ ">554 5.7.1 go away\r\n", "!drain", NULL },
	{ GREETING, "<EHLO", ">421 4.3.2 closing\r\n", "!drain", NULL },
	{ GREETING, "<EHLO", ">502 5.5.2 what\r\n", "<HELO client.test",
	    ">550 5.7.1 not you\r\n", "!drain", NULL },
};

START_TEST(refused_session)
{
	struct server srv;
	struct run run;

	server_start(&srv, refusals[_i]);
	run_messages(&run, srv.port, 2, 5000, 1);
	ck_assert_msg(run.sum.status == RELAY_STATUS_REFUSED, "%s: %s",
	    relay_status_name(run.sum.status), run.sum.text);
	ck_assert(relay_status_marks_down(run.sum.status));
	ck_assert_int_eq(run.results[0].outcome, RELAY_NOT_ATTEMPTED);
	ck_assert_int_eq(run.results[1].outcome, RELAY_NOT_ATTEMPTED);
	run_free(&run);
	ck_assert_int_eq(server_stop(&srv), 0);
}
END_TEST

/* A server without PIPELINING gets one command at a time; HELO when
 * EHLO is not known. */
START_TEST(lock_step_without_pipelining)
{
	static const char *const script[] = {
		GREETING, "|", "<EHLO", ">500 5.5.1 what\r\n",
		"<HELO client.test", ">250 scripted\r\n",
		"<MAIL FROM:<s@example.net>", OK_MAIL,
		"<RCPT TO:<r0@example.org>", ">550 5.1.1 unknown\r\n",
		"<RSET", ">250 Ok\r\n",
		"<MAIL", OK_MAIL, "<RCPT TO:<r1@example.org>", OK_RCPT,
		"<DATA", GO_AHEAD, "<.", QUEUED, "<QUIT", NULL,
	};
	struct server srv;
	struct run run;

	server_start(&srv, script);
	run_messages(&run, srv.port, 2, 5000, 1);
	ck_assert_msg(run.sum.status == RELAY_STATUS_OK, "%s", run.sum.text);
	ck_assert_int_eq(run.results[0].outcome, RELAY_FAILED);
	ck_assert_int_eq(run.results[0].stage, RELAY_STAGE_RCPT);
	ck_assert_int_eq(run.results[1].outcome, RELAY_SENT);
	run_free(&run);
	ck_assert_int_eq(server_wait(&srv), 0);
}
END_TEST

/* With CHUNKING and use_bdat: one BDAT n LAST per message, the body as
 * is, several messages written before any reply is read; a refused RCPT
 * gets its BDAT's reply too, then RSET. */
#define EHLO_CHUNKING ">250-scripted\r\n250-PIPELINING\r\n" \
	"250-CHUNKING\r\n250 8BITMIME\r\n"

START_TEST(bdat_when_chunking_is_offered)
{
	static const char *const script[] = {
		GREETING, "<EHLO", EHLO_CHUNKING,
		"<MAIL", "<RCPT TO:<r0@", "<B", "<MAIL", "<RCPT TO:<r1@", "<B",
		"<MAIL", "<RCPT TO:<r2@", "<B",
		OK_MAIL, OK_RCPT, QUEUED,
		OK_MAIL, ">550 5.1.1 unknown\r\n", ">554 5.5.1 no rcpt\r\n",
		OK_MAIL, OK_RCPT, ">250 2.0.0 Ok: queued as C3\r\n",
		/* Sent once the refusal was read: after the last chunk. */
		"<RSET", ">250 Ok\r\n", "<QUIT", NULL,
	};
	struct server srv;
	struct run run;

	use_bdat = 1;
	server_start(&srv, script);
	run_messages(&run, srv.port, 3, 5000, 1);
	ck_assert_msg(run.sum.status == RELAY_STATUS_OK, "%s", run.sum.text);
	ck_assert_int_eq(run.results[0].outcome, RELAY_SENT);
	ck_assert_str_eq(run.results[0].queue_id, "ABC123");
	ck_assert_int_eq(run.results[1].outcome, RELAY_FAILED);
	ck_assert_int_eq(run.results[1].stage, RELAY_STAGE_RCPT);
	ck_assert_int_eq(run.results[2].outcome, RELAY_SENT);
	ck_assert_str_eq(run.results[2].queue_id, "C3");
	run_free(&run);
	ck_assert_int_eq(server_wait(&srv), 0);
}
END_TEST

/* By default DATA, even when CHUNKING is offered (see smtp_client.h). */
START_TEST(data_even_when_chunking_is_offered)
{
	static const char *const script[] = {
		GREETING, "<EHLO", EHLO_CHUNKING, "<MAIL", "<RCPT", "<DATA",
		OK_MAIL, OK_RCPT, GO_AHEAD, "<.", QUEUED, "<QUIT", NULL,
	};
	struct server srv;
	struct run run;

	server_start(&srv, script);
	run_messages(&run, srv.port, 1, 5000, 1);
	ck_assert_msg(run.sum.status == RELAY_STATUS_OK, "%s", run.sum.text);
	ck_assert_int_eq(run.results[0].outcome, RELAY_SENT);
	run_free(&run);
	ck_assert_int_eq(server_wait(&srv), 0);
}
END_TEST

/* BDAT chunks written in full, then the connection lost: each of them
 * possibly delivered (never sent again, never lost silently). */
START_TEST(bdat_lost_after_the_chunks_is_unknown)
{
	static const char *const script[] = {
		GREETING, "<EHLO", EHLO_CHUNKING,
		"<MAIL", "<RCPT", "<B", "<MAIL", "<RCPT", "<B", "!close", NULL,
	};
	struct server srv;
	struct run run;

	use_bdat = 1;
	server_start(&srv, script);
	run_messages(&run, srv.port, 2, 5000, 1);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_DROPPED);
	ck_assert_msg(run.results[0].outcome == RELAY_UNKNOWN, "%s: %s",
	    relay_outcome_name(run.results[0].outcome), run.results[0].reply);
	ck_assert_int_eq(run.results[1].outcome, RELAY_UNKNOWN);
	run_free(&run);
	ck_assert_int_eq(server_wait(&srv), 0);
}
END_TEST

/* Multi-line replies, each byte in its own segment. */
START_TEST(replies_split_at_every_byte)
{
	static const char *const script[] = {
		"}220-scripted\r\n220 ESMTP\r\n", "<EHLO",
		"}250-scripted\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
		"<MAIL", "<RCPT", "<DATA",
		"}250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n", "<.",
		"}250-2.0.0 first\r\n250-2.0.0 second\r\n250 2.0.0 queued as Z9\r\n",
		"<QUIT", NULL,
	};
	struct server srv;
	struct run run;

	server_start(&srv, script);
	run_messages(&run, srv.port, 1, 5000, 1);
	ck_assert_msg(run.sum.status == RELAY_STATUS_OK, "%s", run.sum.text);
	ck_assert_int_eq(run.results[0].outcome, RELAY_SENT);
	ck_assert_str_eq(run.results[0].queue_id, "Z9");
	ck_assert_str_eq(run.results[0].reply,
	    "250 2.0.0 first second queued as Z9");
	run_free(&run);
	ck_assert_int_eq(server_wait(&srv), 0);
}
END_TEST

/* The connection dropped at each step: how far the message got decides. */
struct drop_case {
	unsigned steps;			/* of the script below, then close */
	enum relay_outcome outcome;
	enum relay_status status;
	int marks_down;
};

static const char *const drop_script[] = {
	GREETING, "<EHLO", EHLO_PIPELINING, "<MAIL", "<RCPT", "<DATA",
	OK_MAIL, OK_RCPT, GO_AHEAD, "<.", NULL,
};

static const struct drop_case drop_cases[] = {
	{ 0, RELAY_NOT_ATTEMPTED, RELAY_STATUS_DROPPED, 0 },	/* no greeting */
	{ 2, RELAY_NOT_ATTEMPTED, RELAY_STATUS_DROPPED, 0 },	/* at EHLO */
	{ 6, RELAY_NOT_ATTEMPTED, RELAY_STATUS_DROPPED, 0 },	/* at MAIL */
	{ 7, RELAY_NOT_ATTEMPTED, RELAY_STATUS_DROPPED, 0 },	/* at RCPT */
	{ 8, RELAY_DEFERRED, RELAY_STATUS_DROPPED, 0 },	/* at DATA */
	{ 10, RELAY_UNKNOWN, RELAY_STATUS_DROPPED, 0 },	/* after the dot */
};

START_TEST(connection_dropped_at_each_step)
{
	const struct drop_case *c = &drop_cases[_i];
	const char *script[16];
	struct server srv;
	struct run run;
	unsigned n;

	for (n = 0; n < c->steps; n++)
		script[n] = drop_script[n];
	script[n++] = "!close";
	script[n] = NULL;
	server_start(&srv, script);
	run_messages(&run, srv.port, 1, 5000, 1);
	ck_assert_msg(run.sum.status == c->status, "%s: %s",
	    relay_status_name(run.sum.status), run.sum.text);
	ck_assert_msg(run.results[0].outcome == c->outcome, "%s: %s",
	    relay_outcome_name(run.results[0].outcome), run.results[0].reply);
	ck_assert_int_eq(relay_status_marks_down(run.sum.status),
	    c->marks_down);
	run_free(&run);
	ck_assert_int_eq(server_wait(&srv), 0);
}
END_TEST

/* A 421 answers its command, then ends the session. */
START_TEST(reply_421_closes_the_session)
{
	static const char *const script[] = {
		GREETING, "<EHLO", EHLO_PIPELINING, "<MAIL", "<RCPT", "<DATA",
		OK_MAIL, OK_RCPT, GO_AHEAD, "<.", "<MAIL", "<RCPT", "<DATA",
		">421 4.3.2 shutting down\r\n", "!close", NULL,
	};
	struct server srv;
	struct run run;

	server_start(&srv, script);
	run_messages(&run, srv.port, 3, 5000, 1);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_DROPPED);
	ck_assert_msg(strstr(run.sum.text, "421") != NULL, "%s",
	    run.sum.text);
	ck_assert_int_eq(run.results[0].outcome, RELAY_DEFERRED);
	ck_assert_int_eq(run.results[0].stage, RELAY_STAGE_END);
	ck_assert_int_eq(run.results[0].code, 421);
	ck_assert_int_eq(run.results[1].outcome, RELAY_NOT_ATTEMPTED);
	ck_assert_int_eq(run.results[2].outcome, RELAY_NOT_ATTEMPTED);
	run_free(&run);
	ck_assert_int_eq(server_wait(&srv), 0);
}
END_TEST

/* Bytes that are not SMTP, an endless line, a reply with no command. */
static const char *const broken[][12] = {
	{ GREETING, "<EHLO", ">hello there\r\n", "!drain", NULL },
	{ GREETING, "<EHLO", EHLO_PIPELINING, "<MAIL", "<RCPT", "<DATA",
	    ">250 2.1.0 Ok\r\n251-x\r\n250 mixed codes\r\n", "!drain", NULL },
	{ GREETING, "<EHLO", EHLO_PIPELINING, "<MAIL", "<RCPT", "<DATA",
	    ">250 2.1.0 Ok\r\n354 not yet\r\n", "!drain", NULL },
	/* The EHLO reply and one more: no MAIL can have been sent. */
	{ GREETING, "<EHLO", ">250-scripted\r\n250 PIPELINING\r\n250 Ok\r\n",
	    "!drain", NULL },
};

START_TEST(broken_replies_drop_the_session)
{
	struct server srv;
	struct run run;

	server_start(&srv, broken[_i]);
	run_messages(&run, srv.port, 1, 5000, 1);
	ck_assert_msg(run.sum.status == RELAY_STATUS_DROPPED, "%s: %s",
	    relay_status_name(run.sum.status), run.sum.text);
	ck_assert_int_eq(run.results[0].outcome, RELAY_NOT_ATTEMPTED);
	run_free(&run);
	ck_assert_int_eq(server_stop(&srv), 0);
}
END_TEST

START_TEST(over_long_reply_drops_the_session)
{
	static char line[SMTP_REPLY_LINE_MAX + 64];
	const char *script[] = { line, "!drain", NULL };
	struct server srv;
	struct run run;

	memset(line, 'x', sizeof(line) - 1);
	memcpy(line, ">220 ", 5);
	memcpy(line + sizeof(line) - 3, "\r\n", 2);
	line[sizeof(line) - 1] = '\0';
	server_start(&srv, script);
	run_messages(&run, srv.port, 1, 5000, 1);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_DROPPED);
	ck_assert_msg(strstr(run.sum.text, "too long") != NULL, "%s",
	    run.sum.text);
	run_free(&run);
	ck_assert_int_eq(server_stop(&srv), 0);
}
END_TEST

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Each time limit, on its own: the limits differ, so the time the run
 * took says which one ended it. A stall after the dot leaves the message
 * possibly delivered; before it, not delivered.
 */
struct limit_case {
	unsigned steps;		/* of limit_script, then a stall */
	unsigned limit_ms;	/* the one that must end the run */
	enum relay_outcome outcome;
};

static const char *const limit_script[] = {
	GREETING, "<EHLO", EHLO_PIPELINING, "<MAIL", "<RCPT", "<DATA",
	OK_MAIL, OK_RCPT, GO_AHEAD, "<.", NULL,
};

static const struct limit_case limit_cases[] = {
	{ 0, 300, RELAY_NOT_ATTEMPTED },	/* greeting */
	{ 2, 400, RELAY_NOT_ATTEMPTED },	/* EHLO: MAIL's limit */
	{ 6, 400, RELAY_NOT_ATTEMPTED },	/* MAIL */
	{ 7, 500, RELAY_NOT_ATTEMPTED },	/* RCPT */
	{ 8, 600, RELAY_DEFERRED },		/* DATA */
	{ 10, 900, RELAY_UNKNOWN },		/* the final dot */
};

START_TEST(each_time_limit)
{
	const struct limit_case *c = &limit_cases[_i];
	const char *script[16];
	struct smtp_client_config config = {
		.host = "127.0.0.1",
		.helo_name = "client.test",
		.in_flight = 8,
		.limits = { 1000, 300, 400, 500, 600, 700, 900 },
	};
	struct server srv;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct smtp_pool *pool;
	struct smtp_job job;
	struct relay_result result;
	struct relay_session_result sum;
	double started, took;
	unsigned n;

	for (n = 0; n < c->steps; n++)
		script[n] = limit_script[n];
	script[n++] = "!stall";
	script[n] = NULL;
	server_start(&srv, script);
	config.port = srv.port;
	pool = smtp_pool_new(loop, &config, 1);
	memset(&job, 0, sizeof(job));
	memset(&result, 0, sizeof(result));
	job.sender = "s@example.net";
	job.recipient = "r0@example.org";
	job.data = MESSAGE;
	job.length = strlen(MESSAGE);
	job.result = &result;
	started = now_seconds();
	smtp_pool_run(pool, &job, 1, &sum);
	took = (now_seconds() - started) * 1000;
	ck_assert_msg(sum.status == RELAY_STATUS_TIMEOUT, "%s: %s",
	    relay_status_name(sum.status), sum.text);
	ck_assert_msg(took >= c->limit_ms - 20 && took < c->limit_ms + 250,
	    "took %.0f ms, limit %u ms: %s", took, c->limit_ms, sum.text);
	ck_assert_msg(result.outcome == c->outcome, "%s: %s",
	    relay_outcome_name(result.outcome), result.reply);
	smtp_pool_free(pool);
	ev_loop_destroy(loop);
	ck_assert_int_eq(server_stop(&srv), 0);
}
END_TEST

/* A server that stops reading the body: the data block limit. */
START_TEST(data_block_limit)
{
	static const char *const script[] = {
		GREETING, "<EHLO", EHLO_PIPELINING, "<MAIL", "<RCPT", "<DATA",
		OK_MAIL, OK_RCPT, GO_AHEAD, "!stall", NULL,
	};
	struct relay_target target = {
		.host = "127.0.0.1", .timeout_ms = 700,
		.helo_name = "client.test",
	};
	struct server srv;
	struct buf big = BUF_INIT, err = BUF_INIT;
	struct relay_session *s;
	struct relay_session_result sum;
	const struct relay_result *r;
	unsigned count;

	while (big.len < (16u << 20))
		buf_append_str(&big, "a line of the body, long enough\r\n");
	server_start(&srv, script);
	target.port = srv.port;
	s = relay_session_new(&target, &err);
	ck_assert_int_eq(relay_session_add(s, "s@example.net",
	    "r@example.org", big.data, big.len, 0, &err), 0);
	relay_session_run(s, &sum);
	r = relay_session_results(s, &count);
	ck_assert_int_eq(sum.status, RELAY_STATUS_TIMEOUT);
	ck_assert_msg(r[0].outcome == RELAY_DEFERRED, "%s: %s",
	    relay_outcome_name(r[0].outcome), r[0].reply);
	ck_assert_int_eq(r[0].stage, RELAY_STAGE_END);
	ck_assert(sum.seconds >= 0.6 && sum.seconds < 1.3);
	relay_session_free(s);
	buf_free(&big);
	buf_free(&err);
	ck_assert_int_eq(server_stop(&srv), 0);
}
END_TEST

/* Nothing listens that answers: the connect limit, then the next
 * address (none here). A full backlog makes the SYN go unanswered. */
START_TEST(connect_limit)
{
	struct relay_target target = {
		.host = "127.0.0.1", .timeout_ms = 5000,
		.helo_name = "client.test", .connect_timeout_ms = 300,
	};
	struct sockaddr_in sin;
	socklen_t length = sizeof(sin);
	int listener = socket(AF_INET, SOCK_STREAM, 0), filler[8];
	struct buf err = BUF_INIT;
	struct relay_session *s;
	struct relay_session_result sum;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(listener, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	ck_assert_int_eq(listen(listener, 0), 0);
	getsockname(listener, (struct sockaddr *)&sin, &length);
	/* Fill the accept queue (never accepted). */
	for (int i = 0; i < 8; i++) {
		filler[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(filler[i], (struct sockaddr *)&sin, sizeof(sin));
	}
	usleep(100000);
	target.port = ntohs(sin.sin_port);
	s = relay_session_new(&target, &err);
	ck_assert_int_eq(relay_session_add(s, "s@example.net", "r@example.org",
	    MESSAGE, strlen(MESSAGE), 0, &err), 0);
	relay_session_run(s, &sum);
	ck_assert_msg(sum.status == RELAY_STATUS_TIMEOUT, "%s: %s",
	    relay_status_name(sum.status), sum.text);
	ck_assert(relay_status_marks_down(sum.status));
	ck_assert_msg(sum.seconds >= 0.28 && sum.seconds < 1.0, "%.2f s",
	    sum.seconds);
	relay_session_free(s);
	for (int i = 0; i < 8; i++)
		close(filler[i]);
	close(listener);
	buf_free(&err);
}
END_TEST

/* An IPv6 literal, when the host has IPv6 loopback. */
START_TEST(ipv6_literal)
{
	struct relay_target target = {
		.host = "[::1]", .port = 1, .helo_name = "client.test",
	};
	struct buf err = BUF_INIT;
	struct relay_session *s = relay_session_new(&target, &err);
	struct relay_session_result sum;

	ck_assert_msg(s != NULL, "%s", buf_str(&err));
	ck_assert_int_eq(relay_session_add(s, "s@example.net", "r@example.org",
	    MESSAGE, strlen(MESSAGE), 0, &err), 0);
	relay_session_run(s, &sum);
	/* Port 1 is closed: refused (or unreachable without IPv6), never
	 * a name that did not resolve. */
	ck_assert_msg(sum.status == RELAY_STATUS_CONNECT_FAILED, "%s: %s",
	    relay_status_name(sum.status), sum.text);
	ck_assert_msg(strstr(sum.text, "[::1]:1") != NULL, "%s", sum.text);
	relay_session_free(s);
	buf_free(&err);
}
END_TEST

/* Two connections share the messages; the first dies holding one,
 * which the second carries. */
START_TEST(lost_connection_gives_its_message_back)
{
	static const char *const script[] = {
		GREETING, "<EHLO", EHLO_PIPELINING, "<MAIL", "<RCPT", "<DATA",
		"!close", "!accept",
		GREETING, "<EHLO", EHLO_PIPELINING,
		"<MAIL", "<RCPT TO:<r0@", "<DATA", OK_MAIL, OK_RCPT, GO_AHEAD,
		"<.", "<MAIL", "<RCPT TO:<r1@", "<DATA", QUEUED, OK_MAIL,
		OK_RCPT, GO_AHEAD, "<.", QUEUED, "<QUIT", NULL,
	};
	struct server srv;
	struct run run;

	server_start(&srv, script);
	run_messages(&run, srv.port, 2, 5000, 2);
	ck_assert_msg(run.sum.status == RELAY_STATUS_OK, "%s: %s",
	    relay_status_name(run.sum.status), run.sum.text);
	ck_assert_int_eq(run.results[0].outcome, RELAY_SENT);
	ck_assert_int_eq(run.results[1].outcome, RELAY_SENT);
	run_free(&run);
	ck_assert_int_eq(server_wait(&srv), 0);
}
END_TEST

/*
 * One message, then, idle_ms later, another on the same session: the
 * kept connection carries it (one greeting, one EHLO).
 */
static void
two_runs_on_one_session(unsigned timeout_ms, unsigned idle_ms)
{
	static const char *const script[] = {
		ONE_MESSAGE, "<MAIL FROM:<s@example.net>",
		"<RCPT TO:<r0@example.org>", "<DATA", OK_MAIL, OK_RCPT,
		GO_AHEAD, "<.", QUEUED, "<QUIT", NULL,
	};
	struct buf err = BUF_INIT;
	struct server srv;
	struct run run;

	server_start(&srv, script);
	run_messages(&run, srv.port, 1, timeout_ms, 1);
	ck_assert_int_eq(run.results[0].outcome, RELAY_SENT);
	relay_session_reset(run.session);
	ck_assert_int_eq(relay_session_add(run.session, "s@example.net",
	    "r0@example.org", MESSAGE, strlen(MESSAGE), 0, &err), 0);
	usleep(idle_ms * 1000);
	relay_session_run(run.session, &run.sum);
	run.results = relay_session_results(run.session, &run.count);
	ck_assert_msg(run.sum.status == RELAY_STATUS_OK, "%s", run.sum.text);
	ck_assert_int_eq(run.results[0].outcome, RELAY_SENT);
	run_free(&run);
	ck_assert_int_eq(server_wait(&srv), 0);
	buf_free(&err);
}

/* A kept session is reused by the next run (one greeting, one EHLO). */
START_TEST(session_kept_between_runs)
{
	two_runs_on_one_session(5000, 0);
}
END_TEST

/*
 * A run's time limits count from the run: a worker's event loop stands
 * still between sessions (it claims, reads and sleeps outside it), and
 * a limit counted from the loop's last turn had run out before the next
 * session began (heraldd took a relay for down after every idle spell).
 * The idle spell, longer than the limit, is what is tested.
 */
START_TEST(limits_count_from_the_run_after_an_idle_spell)
{
	two_runs_on_one_session(2000, 2500);
}
END_TEST

/* --- the reply parser on its own ----------------------------------------- */

static int
parse_all(struct smtp_reply_parser *p, const char *text, size_t step,
    struct smtp_reply *last, unsigned *replies)
{
	size_t length = strlen(text), offset = 0, used;
	int rc = 0;

	*replies = 0;
	while (offset < length) {
		size_t piece = length - offset < step ? length - offset : step;

		while (piece > 0) {
			rc = smtp_reply_parse(p, text + offset, piece, &used);
			if (rc < 0)
				return -1;
			if (rc == 1) {
				*last = p->reply;
				(*replies)++;
			}
			offset += used;
			piece -= used;
		}
	}
	return 0;
}

START_TEST(parser_reads_the_same_in_any_pieces)
{
	static const char text[] = "250-mx.example\r\n250-SIZE 100\r\n"
	    "250 2.0.0 queued as 12AB\r\n354 go\n"
	    "550 5.1.1 <x@y>: \x01unknown\xff\r\n";
	struct smtp_reply_parser p;
	struct smtp_reply last;
	unsigned replies;

	for (size_t step = 1; step <= sizeof(text); step++) {
		smtp_reply_parser_init(&p);
		ck_assert_int_eq(parse_all(&p, text, step, &last, &replies), 0);
		ck_assert_uint_eq(replies, 3);
		ck_assert_int_eq(last.code, 550);
		ck_assert_str_eq(last.enhanced, "5.1.1");
		ck_assert_str_eq(last.text, "<x@y>:  unknown?");
		ck_assert(!smtp_reply_pending(&p));
	}
}
END_TEST

START_TEST(parser_refuses_what_is_not_smtp)
{
	static const char *const bad[] = {
		"hello\r\n", "25\r\n", "2500 x\r\n", "250-a\r\n251 b\r\n",
		"150 x\r\n", "650 x\r\n", "250 a\rb\r\n",
	};
	struct smtp_reply_parser p;
	struct smtp_reply last;
	unsigned replies;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		smtp_reply_parser_init(&p);
		ck_assert_msg(parse_all(&p, bad[i], 1, &last, &replies) == -1,
		    "accepted \"%s\"", bad[i]);
		ck_assert(p.error[0] != '\0');
	}
}
END_TEST

START_TEST(parser_bounds_text_and_lines)
{
	struct smtp_reply_parser p;
	struct smtp_reply last;
	struct buf text = BUF_INIT;
	unsigned replies;

	/* Many lines: the text is cut, the reply still read. */
	for (int i = 0; i < 60; i++)
		buf_append_str(&text, "250-0123456789 0123456789\r\n");
	buf_append_str(&text, "250 end\r\n");
	smtp_reply_parser_init(&p);
	ck_assert_int_eq(parse_all(&p, buf_str(&text), 7, &last, &replies), 0);
	ck_assert_uint_eq(replies, 1);
	ck_assert_uint_eq(last.text_length, SMTP_REPLY_TEXT_MAX);
	ck_assert_uint_eq(strlen(last.text), SMTP_REPLY_TEXT_MAX);
	/* Too many lines: refused. */
	buf_reset(&text);
	for (int i = 0; i <= SMTP_REPLY_LINES_MAX; i++)
		buf_append_str(&text, "250-x\r\n");
	smtp_reply_parser_init(&p);
	ck_assert_int_eq(parse_all(&p, buf_str(&text), 64, &last, &replies),
	    -1);
	buf_free(&text);
}
END_TEST

static Suite *
smtp_client_suite(void)
{
	Suite *s = suite_create("smtp_client");
	TCase *tc = tcase_create("scripted");
	TCase *parser = tcase_create("parser");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, two_messages_pipelined_and_stuffed);
	tcase_add_loop_test(tc, reply_class_at_each_step, 0,
	    sizeof(step_cases) / sizeof(step_cases[0]));
	tcase_add_loop_test(tc, refused_session, 0,
	    sizeof(refusals) / sizeof(refusals[0]));
	tcase_add_test(tc, lock_step_without_pipelining);
	tcase_add_test(tc, replies_split_at_every_byte);
	tcase_add_test(tc, bdat_when_chunking_is_offered);
	tcase_add_test(tc, data_even_when_chunking_is_offered);
	tcase_add_test(tc, bdat_lost_after_the_chunks_is_unknown);
	tcase_add_loop_test(tc, connection_dropped_at_each_step, 0,
	    sizeof(drop_cases) / sizeof(drop_cases[0]));
	tcase_add_test(tc, reply_421_closes_the_session);
	tcase_add_loop_test(tc, broken_replies_drop_the_session, 0,
	    sizeof(broken) / sizeof(broken[0]));
	tcase_add_test(tc, over_long_reply_drops_the_session);
	tcase_add_loop_test(tc, each_time_limit, 0,
	    sizeof(limit_cases) / sizeof(limit_cases[0]));
	tcase_add_test(tc, data_block_limit);
	tcase_add_test(tc, connect_limit);
	tcase_add_test(tc, ipv6_literal);
	tcase_add_test(tc, lost_connection_gives_its_message_back);
	tcase_add_test(tc, session_kept_between_runs);
	tcase_add_test(tc, limits_count_from_the_run_after_an_idle_spell);
	suite_add_tcase(s, tc);
	tcase_add_test(parser, parser_reads_the_same_in_any_pieces);
	tcase_add_test(parser, parser_refuses_what_is_not_smtp);
	tcase_add_test(parser, parser_bounds_text_and_lines);
	suite_add_tcase(s, parser);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(smtp_client_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
