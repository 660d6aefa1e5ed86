/*
 * test_relay.c - src/relay/relay.c against a real SMTP server: Postfix's
 * smtp-sink on 127.0.0.1, on a port free at test time, with its fault
 * options (-r/-f reject a command with 4xx/5xx, -q/-Q disconnect after
 * one, -w/-W delay a reply).
 *
 * Covers: many messages over one session, their bytes intact at the
 * sink (its -d dumps compared with what was sent, dot-stuffed lines
 * included); 4xx and 5xx on MAIL, RCPT, DATA and the end of DATA; a
 * refused connection, greeting and EHLO; a server that disconnects or
 * says 421 midway; a slow server within and beyond the timeout; bad
 * input refused before anything is sent; session reuse.
 *
 * Every test runs twice: over herald's own pipelined client (the
 * default, tcase "pipelined") and over libESMTP (tcase "libesmtp", for
 * STARTTLS/AUTH relays); where the two differ the test says so.
 *
 * Without smtp-sink the test exits 77 (skipped), or fails when
 * HERALD_TEST_REQUIRE_SERVERS=1 (as contrib/check sets it).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "relay.h"

static const char *sink_program;
/* Which client the sessions use: set by each tcase's fixture. */
static int use_libesmtp;

static void
with_libesmtp(void)
{
	use_libesmtp = 1;
}

static void
with_pipelined(void)
{
	use_libesmtp = 0;
}

struct sink {
	pid_t pid;
	unsigned port;
	char dump_dir[64];
};

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
static unsigned
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t length = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port;

	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &length), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
can_connect(unsigned port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int ok;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

/*
 * Starts smtp-sink with extra options (NULL-terminated), dumping every
 * message into a fresh directory, and waits until it accepts
 * connections.
 */
static void
sink_start(struct sink *sink, const char *const *options)
{
	char address[32], dump[128];
	const char *argv[32];
	int argc = 0;

	snprintf(sink->dump_dir, sizeof(sink->dump_dir),
	    "/tmp/herald-test-relay-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(sink->dump_dir));
	/* smtp-sink runs as nobody when we are root. */
	ck_assert_int_eq(chmod(sink->dump_dir, 0777), 0);
	sink->port = free_port();
	snprintf(address, sizeof(address), "127.0.0.1:%u", sink->port);
	snprintf(dump, sizeof(dump), "%s/%%M.", sink->dump_dir);

	argv[argc++] = sink_program;
	if (geteuid() == 0) {
		argv[argc++] = "-u";
		argv[argc++] = "nobody";
	}
	argv[argc++] = "-d";
	argv[argc++] = dump;
	for (; options && *options && argc < 28; options++)
		argv[argc++] = *options;
	argv[argc++] = address;
	argv[argc++] = "64";
	argv[argc] = NULL;

	sink->pid = fork();
	ck_assert_int_ge(sink->pid, 0);
	if (sink->pid == 0) {
		execv(sink_program, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (can_connect(sink->port))
			return;
		usleep(10000);
	}
	ck_abort_msg("smtp-sink did not start on %s", address);
}

static void
sink_stop(struct sink *sink)
{
	char command[128];
	int status;

	if (sink->pid > 0) {
		kill(sink->pid, SIGTERM);
		waitpid(sink->pid, &status, 0);
		sink->pid = 0;
	}
	snprintf(command, sizeof(command), "rm -rf '%s'", sink->dump_dir);
	if (system(command) != 0)
		fprintf(stderr, "cannot remove %s\n", sink->dump_dir);
}

/*
 * Message i: a realistic header, and a body with the lines that
 * dot-stuffing must survive: ".", "..", ".x" and a 998-byte line.
 */
static void
make_message(struct buf *b, unsigned i, size_t body_size)
{
	buf_reset(b);
	buf_printf(b,
	    "From: Herald Test <news@example.net>\r\n"
	    "To: <rcpt%u@example.org>\r\n"
	    "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
	    "Message-ID: <%u.test@example.net>\r\n"
	    "Subject: Message %u\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "\r\n"
	    "Hello %u,\r\n"
	    ".\r\n"
	    "..\r\n"
	    ".leading dot\r\n", i, i, i, i);
	for (int k = 0; k < 998; k++)
		buf_append_char(b, (char)('a' + k % 26));
	buf_append_str(b, "\r\n");
	while (b->len < body_size)
		buf_printf(b, "Line %zu of the body of message %u.\r\n",
		    b->len, i);
	buf_append_str(b, "-- \r\nend\r\n");
}

static struct relay_session *
new_session(unsigned port, unsigned timeout_ms)
{
	struct relay_target target = {
		.host = "127.0.0.1",
		.port = port,
		.timeout_ms = timeout_ms,
		.helo_name = "herald.test",
		.use_libesmtp = use_libesmtp,
	};
	struct buf err = BUF_INIT;
	struct relay_session *s = relay_session_new(&target, &err);

	ck_assert_msg(s != NULL, "relay_session_new: %s", buf_str(&err));
	buf_free(&err);
	return s;
}

/* Adds n messages (kept in msgs[], which must outlive the run). */
static void
add_messages(struct relay_session *s, struct buf *msgs, unsigned n)
{
	struct buf err = BUF_INIT;
	char sender[64], recipient[64];

	for (unsigned i = 0; i < n; i++) {
		make_message(&msgs[i], i, 5400);
		snprintf(sender, sizeof(sender), "bounce-%u@example.net", i);
		snprintf(recipient, sizeof(recipient), "rcpt%u@example.org",
		    i);
		ck_assert_msg(relay_session_add(s, sender, recipient,
		    msgs[i].data, msgs[i].len, 1000 + i, &err) == 0,
		    "relay_session_add: %s", buf_str(&err));
	}
	buf_free(&err);
}

static void
free_messages(struct buf *msgs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		buf_free(&msgs[i]);
}

/* Reads a whole file into b. */
static void
read_file(const char *path, struct buf *b)
{
	FILE *fp = fopen(path, "rb");
	char chunk[8192];
	size_t n;

	ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
	buf_reset(b);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(b, chunk, n);
	fclose(fp);
}

/*
 * Compares the sink's dumps with the messages sent: each dump names its
 * recipient (X-Rcpt-Args), then after smtp-sink's three-line Received:
 * header comes the message as received, LF for CRLF, plus one empty
 * line. Returns the number of dumps that matched.
 */
static unsigned
check_dumps(const struct sink *sink, const struct buf *msgs, unsigned n)
{
	struct buf dump = BUF_INIT, want = BUF_INIT;
	char path[512];
	unsigned matched = 0, files = 0;
	DIR *dir = opendir(sink->dump_dir);
	struct dirent *e;

	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir)) != NULL) {
		const char *rcpt, *body;
		unsigned i;

		if (e->d_name[0] == '.')
			continue;
		files++;
		snprintf(path, sizeof(path), "%s/%s", sink->dump_dir,
		    e->d_name);
		read_file(path, &dump);
		rcpt = strstr(buf_str(&dump), "X-Rcpt-Args: <rcpt");
		ck_assert_msg(rcpt != NULL, "%s: no recipient", path);
		i = (unsigned)strtoul(rcpt + strlen("X-Rcpt-Args: <rcpt"),
		    NULL, 10);
		ck_assert_uint_lt(i, n);
		body = strstr(buf_str(&dump), "\nReceived: ");
		ck_assert_ptr_nonnull(body);
		for (int k = 0; k < 3; k++) {
			body = strchr(body + 1, '\n');
			ck_assert_ptr_nonnull(body);
		}
		body++;
		buf_reset(&want);
		for (size_t k = 0; k < msgs[i].len; k++)
			if (msgs[i].data[k] != '\r')
				buf_append_char(&want, msgs[i].data[k]);
		buf_append_char(&want, '\n');
		ck_assert_uint_eq(strlen(body), want.len);
		ck_assert_msg(memcmp(body, want.data, want.len) == 0,
		    "message %u changed on its way to the sink", i);
		matched++;
	}
	closedir(dir);
	ck_assert_uint_eq(files, matched);
	buf_free(&dump);
	buf_free(&want);
	return matched;
}

/* Waits until the sink has dumped n files (it writes as it receives). */
static void
wait_dumps(const struct sink *sink, unsigned n)
{
	for (int tries = 0; tries < 300; tries++) {
		DIR *dir = opendir(sink->dump_dir);
		struct dirent *e;
		unsigned files = 0;

		ck_assert_ptr_nonnull(dir);
		while ((e = readdir(dir)) != NULL)
			if (e->d_name[0] != '.')
				files++;
		closedir(dir);
		if (files >= n)
			return;
		usleep(10000);
	}
}

/* Runs n messages against a sink started with options. */
struct run {
	struct sink sink;
	struct relay_session *session;
	struct buf msgs[64];
	unsigned n;
	struct relay_session_result sum;
	const struct relay_result *results;
	unsigned count;
};

static void
run_against(struct run *run, const char *const *options, unsigned n,
    unsigned timeout_ms)
{
	memset(run, 0, sizeof(*run));
	ck_assert_uint_le(n, 64);
	sink_start(&run->sink, options);
	run->n = n;
	run->session = new_session(run->sink.port, timeout_ms);
	add_messages(run->session, run->msgs, n);
	relay_session_run(run->session, &run->sum);
	run->results = relay_session_results(run->session, &run->count);
	ck_assert_uint_eq(run->count, n);
}

static void
run_done(struct run *run)
{
	relay_session_free(run->session);
	free_messages(run->msgs, run->n);
	sink_stop(&run->sink);
}

/* Every message has outcome and stage, and a reply starting with code. */
static void
expect_all(const struct run *run, enum relay_outcome outcome,
    enum relay_stage stage, int code)
{
	char prefix[8];

	snprintf(prefix, sizeof(prefix), "%d ", code);
	for (unsigned i = 0; i < run->count; i++) {
		const struct relay_result *r = &run->results[i];

		ck_assert_msg(r->outcome == outcome, "message %u: %s, wanted "
		    "%s (%s)", i, relay_outcome_name(r->outcome),
		    relay_outcome_name(outcome), r->reply);
		ck_assert_int_eq(r->stage, stage);
		ck_assert_int_eq(r->code, code);
		ck_assert_uint_eq(r->cookie, 1000 + i);
		if (code)
			ck_assert_msg(strncmp(r->reply, prefix,
			    strlen(prefix)) == 0, "reply \"%s\"", r->reply);
		else
			ck_assert_msg(r->reply[0] != '\0', "no explanation");
	}
}

START_TEST(many_messages_one_session_bytes_intact)
{
	struct run run;

	run_against(&run, NULL, 40, 5000);
	ck_assert_msg(run.sum.status == RELAY_STATUS_OK, "status %s: %s",
	    relay_status_name(run.sum.status), run.sum.text);
	ck_assert_uint_eq(run.sum.sent, 40);
	ck_assert_int_eq(run.sum.nodelay, 1);
	expect_all(&run, RELAY_SENT, RELAY_STAGE_END, 250);
	/* smtp-sink says "250 2.0.0 Ok": no queue id, keep the text. */
	ck_assert_str_eq(run.results[0].queue_id, "Ok");
	ck_assert_str_eq(run.results[0].reply, "250 2.0.0 Ok");
	wait_dumps(&run.sink, 40);
	ck_assert_uint_eq(check_dumps(&run.sink, run.msgs, 40), 40);
	run_done(&run);
}
END_TEST

START_TEST(rcpt_4xx_is_deferred)
{
	static const char *const opts[] = { "-r", "RCPT", NULL };
	struct run run;

	run_against(&run, opts, 3, 5000);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_OK);
	ck_assert_uint_eq(run.sum.deferred, 3);
	expect_all(&run, RELAY_DEFERRED, RELAY_STAGE_RCPT, 450);
	ck_assert_str_eq(run.results[0].queue_id, "");
	run_done(&run);
}
END_TEST

START_TEST(rcpt_5xx_is_failed)
{
	static const char *const opts[] = { "-f", "RCPT", NULL };
	struct run run;

	run_against(&run, opts, 3, 5000);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_OK);
	ck_assert_uint_eq(run.sum.failed, 3);
	expect_all(&run, RELAY_FAILED, RELAY_STAGE_RCPT, 500);
	run_done(&run);
}
END_TEST

START_TEST(mail_4xx_is_deferred)
{
	static const char *const opts[] = { "-r", "MAIL", NULL };
	struct run run;

	run_against(&run, opts, 3, 5000);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_OK);
	expect_all(&run, RELAY_DEFERRED, RELAY_STAGE_MAIL, 450);
	run_done(&run);
}
END_TEST

START_TEST(data_4xx_is_deferred)
{
	static const char *const opts[] = { "-r", "DATA", NULL };
	struct run run;

	run_against(&run, opts, 3, 5000);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_OK);
	expect_all(&run, RELAY_DEFERRED, RELAY_STAGE_DATA, 450);
	run_done(&run);
}
END_TEST

START_TEST(data_5xx_is_failed)
{
	static const char *const opts[] = { "-f", "DATA", NULL };
	struct run run;

	run_against(&run, opts, 3, 5000);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_OK);
	expect_all(&run, RELAY_FAILED, RELAY_STAGE_DATA, 500);
	run_done(&run);
}
END_TEST

START_TEST(end_of_data_4xx_is_deferred)
{
	static const char *const opts[] = { "-r", ".", NULL };
	struct run run;

	run_against(&run, opts, 3, 5000);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_OK);
	expect_all(&run, RELAY_DEFERRED, RELAY_STAGE_END, 450);
	run_done(&run);
}
END_TEST

START_TEST(end_of_data_5xx_is_failed)
{
	static const char *const opts[] = { "-f", ".", NULL };
	struct run run;

	run_against(&run, opts, 3, 5000);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_OK);
	expect_all(&run, RELAY_FAILED, RELAY_STAGE_END, 500);
	run_done(&run);
}
END_TEST

START_TEST(connection_refused_attempts_nothing)
{
	struct buf msgs[3] = { BUF_INIT, BUF_INIT, BUF_INIT };
	struct relay_session *s = new_session(free_port(), 2000);
	struct relay_session_result sum;
	const struct relay_result *results;
	unsigned count;

	add_messages(s, msgs, 3);
	ck_assert_int_eq(relay_session_run(s, &sum),
	    RELAY_STATUS_CONNECT_FAILED);
	ck_assert_msg(strstr(sum.text, "refused") != NULL, "%s", sum.text);
	ck_assert(relay_status_marks_down(sum.status));
	ck_assert_uint_eq(sum.not_attempted, 3);
	results = relay_session_results(s, &count);
	ck_assert_uint_eq(count, 3);
	for (unsigned i = 0; i < count; i++) {
		ck_assert_int_eq(results[i].outcome, RELAY_NOT_ATTEMPTED);
		ck_assert_int_eq(results[i].code, 0);
	}
	relay_session_free(s);
	free_messages(msgs, 3);
}
END_TEST

START_TEST(greeting_4xx_refuses_session)
{
	static const char *const opts[] = { "-r", "CONNECT", NULL };
	struct run run;

	run_against(&run, opts, 2, 5000);
	ck_assert_msg(run.sum.status == RELAY_STATUS_REFUSED, "%s: %s",
	    relay_status_name(run.sum.status), run.sum.text);
	ck_assert_int_eq(run.sum.code / 100, 4);
	ck_assert(relay_status_marks_down(run.sum.status));
	expect_all(&run, RELAY_NOT_ATTEMPTED, RELAY_STAGE_NONE, 0);
	run_done(&run);
}
END_TEST

START_TEST(greeting_5xx_refuses_session)
{
	static const char *const opts[] = { "-f", "CONNECT", NULL };
	struct run run;

	run_against(&run, opts, 2, 5000);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_REFUSED);
	ck_assert_int_eq(run.sum.code / 100, 5);
	expect_all(&run, RELAY_NOT_ATTEMPTED, RELAY_STAGE_NONE, 0);
	run_done(&run);
}
END_TEST

START_TEST(ehlo_4xx_refuses_session)
{
	static const char *const opts[] = { "-r", "EHLO", NULL };
	struct run run;

	run_against(&run, opts, 2, 5000);
	ck_assert_msg(run.sum.status == RELAY_STATUS_REFUSED, "%s: %s",
	    relay_status_name(run.sum.status), run.sum.text);
	ck_assert_int_eq(run.sum.code, 450);
	expect_all(&run, RELAY_NOT_ATTEMPTED, RELAY_STAGE_NONE, 0);
	run_done(&run);
}
END_TEST

START_TEST(disconnect_before_data_attempts_nothing)
{
	static const char *const opts[] = { "-q", "RCPT", NULL };
	struct run run;

	run_against(&run, opts, 3, 5000);
	ck_assert_msg(run.sum.status == RELAY_STATUS_DROPPED, "%s: %s",
	    relay_status_name(run.sum.status), run.sum.text);
	ck_assert(!relay_status_marks_down(run.sum.status));
	expect_all(&run, RELAY_NOT_ATTEMPTED, RELAY_STAGE_NONE, 0);
	run_done(&run);
}
END_TEST

START_TEST(disconnect_after_end_of_data_is_unknown)
{
	static const char *const opts[] = { "-q", ".", NULL };
	struct run run;

	run_against(&run, opts, 3, 5000);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_DROPPED);
	ck_assert_int_eq(run.results[0].outcome, RELAY_UNKNOWN);
	ck_assert_int_eq(run.results[0].stage, RELAY_STAGE_END);
	ck_assert_int_eq(run.results[1].outcome, RELAY_NOT_ATTEMPTED);
	ck_assert_int_eq(run.results[2].outcome, RELAY_NOT_ATTEMPTED);
	ck_assert_uint_eq(run.sum.unknown, 1);
	ck_assert_uint_eq(run.sum.not_attempted, 2);
	run_done(&run);
}
END_TEST

START_TEST(reply_421_midway_defers_and_drops)
{
	static const char *const opts[] = { "-Q", "MAIL", NULL };
	struct run run;

	run_against(&run, opts, 3, 5000);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_DROPPED);
	ck_assert_msg(strstr(run.sum.text, "421") != NULL, "%s",
	    run.sum.text);
	ck_assert_int_eq(run.results[0].outcome, RELAY_DEFERRED);
	ck_assert_int_eq(run.results[0].stage, RELAY_STAGE_MAIL);
	ck_assert_int_eq(run.results[0].code, 421);
	ck_assert_int_eq(run.results[1].outcome, RELAY_NOT_ATTEMPTED);
	run_done(&run);
}
END_TEST

START_TEST(slow_server_within_timeout_is_sent)
{
	static const char *const opts[] = { "-w", "1", NULL };
	struct run run;

	run_against(&run, opts, 2, 4000);
	ck_assert_int_eq(run.sum.status, RELAY_STATUS_OK);
	expect_all(&run, RELAY_SENT, RELAY_STAGE_END, 250);
	ck_assert(run.sum.seconds >= 1.8);
	run_done(&run);
}
END_TEST

START_TEST(slow_server_beyond_timeout_times_out)
{
	static const char *const opts[] = { "-w", "3", NULL };
	struct run run;

	run_against(&run, opts, 2, 1000);
	ck_assert_msg(run.sum.status == RELAY_STATUS_TIMEOUT, "%s: %s",
	    relay_status_name(run.sum.status), run.sum.text);
	ck_assert(relay_status_marks_down(run.sum.status));
	ck_assert(run.sum.seconds >= 0.9 && run.sum.seconds < 2.9);
	expect_all(&run, RELAY_NOT_ATTEMPTED, RELAY_STAGE_NONE, 0);
	run_done(&run);
}
END_TEST

START_TEST(no_reply_to_end_of_data_is_unknown)
{
	static const char *const opts[] = { "-W", ".:3", NULL };
	struct run run;

	/* smtp-sink's -W answers the commands pipelined after the dot
	 * before the delayed reply to the dot, which no real server does
	 * (replies come in order): against the pipelined client the case
	 * is one message (the scripted server in test_smtp_client covers
	 * the dot's time limit with messages after it). */
	run_against(&run, opts, use_libesmtp ? 2 : 1, 1000);
	ck_assert_msg(run.sum.status == RELAY_STATUS_TIMEOUT, "%s: %s",
	    relay_status_name(run.sum.status), run.sum.text);
	ck_assert_msg(run.results[0].outcome == RELAY_UNKNOWN, "%s: %s",
	    relay_outcome_name(run.results[0].outcome), run.results[0].reply);
	if (use_libesmtp)
		ck_assert_int_eq(run.results[1].outcome, RELAY_NOT_ATTEMPTED);
	run_done(&run);
}
END_TEST

/* A connection from this process to port, with TCP_NODELAY off. */
static int
connect_to(unsigned port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	return fd;
}

static int
nodelay_of(int fd)
{
	int on = -1;
	socklen_t length = sizeof(on);

	ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on,
	    &length), 0);
	return on;
}

/*
 * TCP_NODELAY goes on libESMTP's socket only: another connection of
 * this process (to another server, like a worker's MySQL, or even to the
 * same relay) is never touched; when the relay's socket cannot be told
 * apart, none is set and the session still works.
 */
START_TEST(nodelay_touches_only_the_session_socket)
{
	struct sink sink, other;
	struct relay_session *s;
	struct buf msgs[2];
	struct relay_session_result sum;
	int other_fd, same_fd;

	memset(msgs, 0, sizeof(msgs));
	sink_start(&sink, NULL);
	sink_start(&other, NULL);
	s = new_session(sink.port, 5000);

	other_fd = connect_to(other.port);
	add_messages(s, msgs, 2);
	ck_assert_int_eq(relay_session_run(s, &sum), RELAY_STATUS_OK);
	ck_assert_int_eq(sum.nodelay, 1);
	ck_assert_int_eq(nodelay_of(other_fd), 0);

	same_fd = connect_to(sink.port);
	relay_session_reset(s);
	add_messages(s, msgs, 2);
	ck_assert_int_eq(relay_session_run(s, &sum), RELAY_STATUS_OK);
	ck_assert_uint_eq(sum.sent, 2);
	ck_assert_int_eq(sum.nodelay, 0);	/* ambiguous: left alone */
	ck_assert_int_eq(nodelay_of(same_fd), 0);
	ck_assert_int_eq(nodelay_of(other_fd), 0);

	close(same_fd);
	close(other_fd);
	relay_session_free(s);
	free_messages(msgs, 2);
	sink_stop(&other);
	sink_stop(&sink);
}
END_TEST

/* Sends one 4 MB message to a sink started with options; returns its
 * result in *result and the session's in *sum. kill_after_ms > 0 kills
 * the sink that long after the start (a crash mid-transfer). */
static void
send_big(const char *const *options, int kill_after_ms,
    struct relay_result *result, struct relay_session_result *sum)
{
	struct sink sink;
	struct relay_session *s;
	struct buf big = BUF_INIT, err = BUF_INIT;
	const struct relay_result *results;
	unsigned count;
	pid_t killer = 0;

	sink_start(&sink, options);
	s = new_session(sink.port, 5000);
	make_message(&big, 0, 4 << 20);
	ck_assert_int_eq(relay_session_add(s, "a@example.net",
	    "rcpt0@example.org", big.data, big.len, 1, &err), 0);
	if (kill_after_ms > 0) {
		killer = fork();
		ck_assert_int_ge(killer, 0);
		if (killer == 0) {
			usleep((useconds_t)kill_after_ms * 1000);
			kill(sink.pid, SIGKILL);
			_exit(0);
		}
	}
	relay_session_run(s, sum);
	results = relay_session_results(s, &count);
	ck_assert_uint_eq(count, 1);
	*result = results[0];
	if (killer > 0)
		waitpid(killer, NULL, 0);
	relay_session_free(s);
	buf_free(&big);
	buf_free(&err);
	sink_stop(&sink);
}

/* The server answers 550 while the message is on its way and stops
 * reading. libESMTP takes the reply as the final one; the pipelined
 * client sees a reply to a final dot it has not sent yet (a protocol
 * error) or a closed connection: the session is dropped and the message
 * deferred (its end never reached the server). Either way it is not "possibly delivered". */
START_TEST(reject_during_data_is_failed)
{
	static const char *const opts[] = { "-A", "0", NULL };
	struct relay_result r;
	struct relay_session_result sum;

	send_big(opts, 0, &r, &sum);
	if (!use_libesmtp) {
		ck_assert_msg(r.outcome == RELAY_DEFERRED, "%s: %s",
		    relay_outcome_name(r.outcome), r.reply);
		ck_assert_int_eq(sum.status, RELAY_STATUS_DROPPED);
		ck_assert_int_eq(r.code, 0);
		return;
	}
	ck_assert_msg(r.outcome == RELAY_FAILED, "%s: %s",
	    relay_outcome_name(r.outcome), r.reply);
	ck_assert_int_eq(r.code, 550);
	ck_assert_int_eq(r.stage, RELAY_STAGE_END);
}
END_TEST

/* The server dies while the message is on its way (it delays reading
 * the data, -H): the final "." never reached it, so the message was not
 * delivered: deferred, never "possibly delivered". */
START_TEST(server_dies_during_data_is_deferred)
{
	static const char *const opts[] = { "-H", "3", NULL };
	struct relay_result r;
	struct relay_session_result sum;

	send_big(opts, 500, &r, &sum);
	ck_assert_msg(r.outcome == RELAY_DEFERRED, "%s: %s (session %s: %s)",
	    relay_outcome_name(r.outcome), r.reply,
	    relay_status_name(sum.status), sum.text);
	ck_assert_int_eq(r.code, 0);
	ck_assert_int_eq(r.stage, RELAY_STAGE_END);
	ck_assert_int_eq(sum.status, RELAY_STATUS_DROPPED);
}
END_TEST

START_TEST(bad_input_is_refused_before_sending)
{
	struct relay_session *s = new_session(25, 0);
	struct buf err = BUF_INIT;
	static const char good[] = "Subject: x\r\n\r\nbody\r\n";
	static const struct {
		const char *sender, *recipient, *message, *needle;
	} cases[] = {
		{ "a@b", "c@d\r\nRSET", good, "0x0d" },
		{ "a@b>", "c@d", good, "0x3e" },
		{ "a@b", "", good, "empty" },
		{ "a b@c", "c@d", good, "0x20" },
		{ "a@b", "c@d", "Subject: x\n\r\nbody\r\n", "bare LF" },
		{ "a@b", "c@d", "Subject: x\r\r\nbody\r\n", "bare CR" },
		{ "a@b", "c@d", "Subject: x\r\n\r\nbody", "end with CRLF" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&err);
		ck_assert_int_eq(relay_session_add(s, cases[i].sender,
		    cases[i].recipient, cases[i].message,
		    strlen(cases[i].message), i, &err), -1);
		ck_assert_msg(strstr(buf_str(&err), cases[i].needle) != NULL,
		    "case %zu: \"%s\" not in \"%s\"", i, cases[i].needle,
		    buf_str(&err));
	}
	ck_assert_uint_eq(relay_session_count(s), 0);
	/* The empty sender (a bounce) is allowed. */
	ck_assert_int_eq(relay_session_add(s, "", "c@d", good,
	    strlen(good), 1, &err), 0);
	ck_assert_uint_eq(relay_session_count(s), 1);
	relay_session_free(s);
	buf_free(&err);
}
END_TEST

START_TEST(bad_targets_are_refused)
{
	struct relay_target t = { .host = "::1", .port = 25,
	    .use_libesmtp = use_libesmtp };
	struct buf err = BUF_INIT;
	struct relay_session *s = relay_session_new(&t, &err);

	if (use_libesmtp) {
		ck_assert_ptr_null(s);
		ck_assert_msg(strstr(buf_str(&err), "IPv6") != NULL, "%s",
		    buf_str(&err));
	} else {
		ck_assert_msg(s != NULL, "%s", buf_str(&err));
		relay_session_free(s);
	}
	buf_reset(&err);
	t.host = "";
	ck_assert_ptr_null(relay_session_new(&t, &err));
	buf_reset(&err);
	t.host = "localhost";
	t.port = 70000;
	ck_assert_ptr_null(relay_session_new(&t, &err));
	ck_assert_msg(strstr(buf_str(&err), "70000") != NULL, "%s",
	    buf_str(&err));
	buf_free(&err);
}
END_TEST

START_TEST(session_is_reused)
{
	struct sink sink;
	struct relay_session *s;
	struct buf msgs[8];
	struct relay_session_result sum;
	const struct relay_result *results;
	unsigned count;

	memset(msgs, 0, sizeof(msgs));
	sink_start(&sink, NULL);
	s = new_session(sink.port, 5000);
	for (int round = 0; round < 3; round++) {
		relay_session_reset(s);
		ck_assert_uint_eq(relay_session_count(s), 0);
		add_messages(s, msgs, 8);
		ck_assert_int_eq(relay_session_run(s, &sum), RELAY_STATUS_OK);
		ck_assert_uint_eq(sum.sent, 8);
		/* A second run without reset sends nothing more. */
		ck_assert_int_eq(relay_session_run(s, &sum), RELAY_STATUS_OK);
		results = relay_session_results(s, &count);
		ck_assert_uint_eq(count, 8);
		ck_assert_int_eq(results[7].outcome, RELAY_SENT);
	}
	wait_dumps(&sink, 24);
	relay_session_free(s);
	free_messages(msgs, 8);
	sink_stop(&sink);
}
END_TEST

static void
add_tests(TCase *tc, int libesmtp)
{
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, libesmtp ? with_libesmtp : with_pipelined,
	    NULL);
	tcase_add_test(tc, many_messages_one_session_bytes_intact);
	tcase_add_test(tc, rcpt_4xx_is_deferred);
	tcase_add_test(tc, rcpt_5xx_is_failed);
	tcase_add_test(tc, mail_4xx_is_deferred);
	tcase_add_test(tc, data_4xx_is_deferred);
	tcase_add_test(tc, data_5xx_is_failed);
	tcase_add_test(tc, end_of_data_4xx_is_deferred);
	tcase_add_test(tc, end_of_data_5xx_is_failed);
	tcase_add_test(tc, connection_refused_attempts_nothing);
	tcase_add_test(tc, greeting_4xx_refuses_session);
	tcase_add_test(tc, greeting_5xx_refuses_session);
	tcase_add_test(tc, ehlo_4xx_refuses_session);
	tcase_add_test(tc, disconnect_before_data_attempts_nothing);
	tcase_add_test(tc, disconnect_after_end_of_data_is_unknown);
	tcase_add_test(tc, reply_421_midway_defers_and_drops);
	tcase_add_test(tc, slow_server_within_timeout_is_sent);
	tcase_add_test(tc, slow_server_beyond_timeout_times_out);
	tcase_add_test(tc, no_reply_to_end_of_data_is_unknown);
	/* libESMTP's socket is found by scanning; ours is our own. */
	if (libesmtp)
		tcase_add_test(tc, nodelay_touches_only_the_session_socket);
	tcase_add_test(tc, reject_during_data_is_failed);
	tcase_add_test(tc, server_dies_during_data_is_deferred);
	tcase_add_test(tc, bad_input_is_refused_before_sending);
	tcase_add_test(tc, bad_targets_are_refused);
	tcase_add_test(tc, session_is_reused);
}

static Suite *
relay_suite(void)
{
	Suite *s = suite_create("relay");
	TCase *pipelined = tcase_create("pipelined");
	TCase *libesmtp = tcase_create("libesmtp");

	add_tests(pipelined, 0);
	add_tests(libesmtp, 1);
	suite_add_tcase(s, pipelined);
	suite_add_tcase(s, libesmtp);
	return s;
}

int
main(void)
{
	SRunner *runner;
	int failed;
	const char *env = getenv("SMTP_SINK");

	sink_program = env && *env ? env : "/usr/sbin/smtp-sink";
	if (access(sink_program, X_OK) != 0) {
		const char *require = getenv("HERALD_TEST_REQUIRE_SERVERS");

		printf("%s test_relay: %s is not installed (package postfix); "
		    "it is the SMTP server these tests run against\n",
		    require && strcmp(require, "1") == 0 ? "FAIL -" : "SKIP -",
		    sink_program);
		return require && strcmp(require, "1") == 0 ? 1 : 77;
	}
	runner = srunner_create(relay_suite());
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
