/*
 * send_sink.c - relay benchmark: M personalized messages of about SIZE
 * bytes sent by W worker processes (one worker = one process = one
 * relay session at a time), each over relay sessions of B messages, to
 * an SMTP server such as smtp-sink. Prints one line of figures.
 *
 * usage: send_sink [-h host] [-p port] [-m messages] [-s workers]
 *                  [-l size] [-b per_session] [-c connections] [-n] [-B]
 *                  [-E]
 *        send_sink -F file [-l size]   write the message template (LF
 *                                      line ends) for smtp-source -F
 *        send_sink -P                  print a free TCP port on 127.0.0.1
 *
 * -n keeps Nagle's algorithm on (no TCP_NODELAY), to show its cost.
 * -c gives each worker that many connections (relay_connections); -B
 * sends BDAT n LAST instead of DATA when the server offers CHUNKING; -E
 * uses libESMTP instead of herald's pipelined client.
 * B defaults to M/W: every worker keeps one connection for all its
 * messages, as smtp-source -d does.
 *
 * Exit status 0 when every message was sent (2xx), 1 otherwise.
 * See send-sink.sh for the comparison with smtp-source.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "relay.h"

struct options {
	const char *host;
	unsigned port;
	unsigned messages;
	unsigned workers;
	unsigned size;
	unsigned per_session;
	unsigned connections;
	int keep_nagle;
	int use_bdat;
	int use_libesmtp;
};

/*
 * The body every message shares: CRLF text lines up to about size bytes
 * in all with the header.
 */
static void
build_body(struct buf *b, unsigned size)
{
	const char *eol = "\r\n";
	unsigned line = 0;

	buf_reset(b);
	while (b->len + 300 < size)
		buf_printf(b, "%04u Lorem ipsum dolor sit amet, consectetur "
		    "adipiscing elit, sed do eiusmod.%s", line++, eol);
	buf_printf(b, "-- %sBye%s", eol, eol);
}

/*
 * Message number i: a mailing's headers, personalized, then the shared
 * body. Rendering is the render benchmark's business; here the message
 * only has to differ per recipient, as herald's do.
 */
static void
build_message(struct buf *b, unsigned i, const struct buf *body)
{
	const char *eol = "\r\n";

	buf_reset(b);
	buf_printf(b, "From: Herald Bench <news@bench.example>%s"
	    "To: <r%u@sink.example>%s"
	    "Date: Tue, 24 Nov 2026 10:00:00 +0000%s"
	    "Message-ID: <%u.bench@bench.example>%s"
	    "Subject: Bench message %u%s"
	    "MIME-Version: 1.0%s"
	    "Content-Type: text/plain; charset=utf-8%s%s"
	    "Dear reader %u,%s", eol, i, eol, eol, i, eol, i, eol, eol, eol,
	    eol, i, eol);
	buf_append(b, body->data, body->len);
}

static double
now_seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One worker: messages [first, first + count) in sessions of per_session. */
static int
run_worker(const struct options *o, unsigned first, unsigned count)
{
	struct relay_target target = {
		.host = o->host, .port = o->port, .timeout_ms = 30000,
		.helo_name = "bench.example", .keep_nagle = o->keep_nagle,
		.connections = o->connections, .use_bdat = o->use_bdat,
		.use_libesmtp = o->use_libesmtp,
	};
	struct buf err = BUF_INIT, body = BUF_INIT;
	struct relay_session *s = relay_session_new(&target, &err);
	struct buf *msgs = xcalloc(o->per_session, sizeof(*msgs));
	char recipient[64];
	unsigned done = 0, sent = 0, nodelay = 1;
	int rc;

	if (s == NULL)
		msg_fatal("%s", buf_str(&err));
	build_body(&body, o->size);
	while (done < count) {
		unsigned n = count - done < o->per_session ?
		    count - done : o->per_session;
		struct relay_session_result sum;

		relay_session_reset(s);
		for (unsigned k = 0; k < n; k++) {
			unsigned i = first + done + k;

			build_message(&msgs[k], i, &body);
			snprintf(recipient, sizeof(recipient),
			    "r%u@sink.example", i);
			if (relay_session_add(s, "bounce-bench@bench.example",
			    recipient, msgs[k].data, msgs[k].len, i, &err) != 0)
				msg_fatal("message %u: %s", i, buf_str(&err));
		}
		relay_session_run(s, &sum);
		if (sum.status != RELAY_STATUS_OK)
			msg_error("session: %s: %s",
			    relay_status_name(sum.status), sum.text);
		sent += sum.sent;
		nodelay &= (unsigned)sum.nodelay;
		done += n;
	}
	rc = sent == count ? 0 : 1;
	if (rc)
		msg_error("worker sent %u of %u messages", sent, count);
	if (!nodelay && !o->keep_nagle)
		msg_error("TCP_NODELAY was not set on every session");
	for (unsigned k = 0; k < o->per_session; k++)
		buf_free(&msgs[k]);
	free(msgs);
	relay_session_free(s);
	buf_free(&body);
	buf_free(&err);
	return rc;
}

static int
write_template(const char *path, unsigned size)
{
	struct buf b = BUF_INIT, body = BUF_INIT;
	FILE *fp = fopen(path, "w");

	if (fp == NULL) {
		perror(path);
		return 1;
	}
	/* The same lines as herald sends; smtp-source adds the CRs. */
	build_body(&body, size);
	build_message(&b, 0, &body);
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] != '\r')
			putc(b.data[i], fp);
	buf_free(&b);
	buf_free(&body);
	return fclose(fp) == 0 ? 0 : 1;
}

static int
print_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t length = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &length) != 0) {
		perror("free port");
		return 1;
	}
	printf("%u\n", ntohs(sin.sin_port));
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	struct options o = {
		.host = "127.0.0.1", .port = 25, .messages = 20000,
		.workers = 8, .size = 5500, .per_session = 0,
	};
	const char *template_file = NULL;
	unsigned failed = 0, first = 0, actual_size;
	double start, seconds;
	int c, status;

	log_open("send_sink", LOG_TO_STDERR);
	while ((c = getopt(argc, argv, "h:p:m:s:l:b:c:nBEF:P")) != -1) {
		switch (c) {
		case 'h': o.host = optarg; break;
		case 'p': o.port = (unsigned)atoi(optarg); break;
		case 'm': o.messages = (unsigned)atoi(optarg); break;
		case 's': o.workers = (unsigned)atoi(optarg); break;
		case 'l': o.size = (unsigned)atoi(optarg); break;
		case 'b': o.per_session = (unsigned)atoi(optarg); break;
		case 'c': o.connections = (unsigned)atoi(optarg); break;
		case 'n': o.keep_nagle = 1; break;
		case 'B': o.use_bdat = 1; break;
		case 'E': o.use_libesmtp = 1; break;
		case 'F': template_file = optarg; break;
		case 'P': return print_free_port();
		default:
			fprintf(stderr, "usage: send_sink [-h host] [-p port] "
			    "[-m messages] [-s workers] [-l size] "
			    "[-b per_session] [-c connections] [-n] [-B] [-E] "
			    "| -F file | -P\n");
			return 2;
		}
	}
	if (template_file)
		return write_template(template_file, o.size);
	if (o.workers == 0 || o.messages < o.workers) {
		fprintf(stderr, "send_sink: need at least one message per "
		    "worker\n");
		return 2;
	}
	if (o.per_session == 0)
		o.per_session = (o.messages + o.workers - 1) / o.workers;
	{
		struct buf body = BUF_INIT, one = BUF_INIT;

		/* Report the real size, not the one asked for. */
		build_body(&body, o.size);
		build_message(&one, 0, &body);
		actual_size = (unsigned)one.len;
		buf_free(&body);
		buf_free(&one);
	}

	start = now_seconds();
	for (unsigned w = 0; w < o.workers; w++) {
		unsigned count = o.messages / o.workers +
		    (w < o.messages % o.workers ? 1 : 0);
		pid_t pid = fork();

		if (pid < 0)
			msg_fatal("fork: cannot start worker %u", w);
		if (pid == 0)
			_exit(run_worker(&o, first, count));
		first += count;
	}
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	seconds = now_seconds() - start;
	printf("herald (%s): %u messages of %u bytes, %u workers x %u "
	    "connections, %u per session, TCP_NODELAY %s: %.3f s, %.0f msg/s%s\n",
	    o.use_libesmtp ? "libESMTP" : o.use_bdat ? "pipelined, BDAT if offered" :
	    "pipelined, DATA", o.messages, actual_size, o.workers,
	    o.connections ? o.connections : 1, o.per_session,
	    o.keep_nagle ? "off" : "on", seconds,
	    o.messages / seconds, failed ? " (SOME WORKERS FAILED)" : "");
	return failed ? 1 : 0;
}
