/*
 * test_aiosmtpd.c - herald's pipelined SMTP client against an SMTP
 * server no one on herald wrote: Python's aiosmtpd (tests/lib/
 * aiosmtpd_dump.py writes each message as received). Every message must
 * arrive byte for byte as given: lines starting with dots (dot-stuffing
 * done and undone), lines of exactly 998 bytes, CRLF only, a message
 * ending in a lone dot line, an empty body; over one connection and
 * over several, in two sessions (the connections are kept between).
 *
 * Prints "N passed, N failed". Exits 77 (skipped) when aiosmtpd is not
 * installed (Debian package python3-aiosmtpd), 1 when
 * HERALD_TEST_REQUIRE_SERVERS=1 says it must be.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "relay.h"

#define MESSAGES 40

static unsigned passed, failed;

static void
check(int ok, const char *what, const char *detail)
{
	printf("%s - %s%s%s\n", ok ? "ok" : "not ok", what,
	    detail && !ok ? ": " : "", detail && !ok ? detail : "");
	if (ok)
		passed++;
	else
		failed++;
}

/* Message i: its shape depends on i, to cover the cases above. */
static void
make_message(struct buf *m, unsigned i)
{
	buf_reset(m);
	buf_printf(m, "From: <news@example.net>\r\nTo: <r%u@example.org>\r\n"
	    "Subject: message %u\r\nMessage-ID: <%u@test>\r\n\r\n", i, i, i);
	switch (i % 5) {
	case 0:
		buf_append_str(m, ".\r\n..\r\n.leading dot\r\nmiddle . dot\r\n");
		break;
	case 1:
		for (int l = 0; l < 3; l++) {
			for (int k = 0; k < 998; k++)
				buf_append_char(m, (char)('a' + (k + l) % 26));
			buf_append_str(m, "\r\n");
		}
		break;
	case 2:
		for (int k = 0; k < 997; k++)
			buf_append_char(m, '.');
		buf_append_str(m, "\r\n");
		break;
	case 3:
		break;		/* headers and the empty line only */
	default:
		buf_append_str(m, "last line is a dot\r\n.\r\n");
		break;
	}
}

static FILE *
start_server(const char *dir, pid_t *pid, unsigned *port)
{
	const char *src = getenv("HERALD_SRCDIR");
	char script[1024], line[128];
	int to_child[2], from_child[2];
	FILE *out;

	snprintf(script, sizeof(script), "%s/tests/lib/aiosmtpd_dump.py",
	    src ? src : ".");
	if (pipe(to_child) != 0 || pipe(from_child) != 0)
		return NULL;
	*pid = fork();
	if (*pid == 0) {
		dup2(to_child[0], 0);
		dup2(from_child[1], 1);
		close(to_child[1]);
		close(from_child[0]);
		/* Debian's python3 has the package; a python3 earlier in
		 * PATH (pyenv) may not. */
		execl("/usr/bin/python3", "python3", script, dir, (char *)NULL);
		execlp("python3", "python3", script, dir, (char *)NULL);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	out = fdopen(from_child[0], "r");
	if (out == NULL || fgets(line, sizeof(line), out) == NULL ||
	    sscanf(line, "ready %u", port) != 1) {
		close(to_child[1]);
		waitpid(*pid, NULL, 0);
		return NULL;
	}
	fclose(out);
	return fdopen(to_child[1], "w");
}

/* Compares the file the server wrote for message i with what was sent. */
static int
arrived_intact(const char *dir, unsigned i, const struct buf *sent,
    char *why, size_t size)
{
	char path[512];
	struct buf got = BUF_INIT;
	char chunk[8192];
	size_t n;
	FILE *fp;
	int ok;

	snprintf(path, sizeof(path), "%s/r%u@example.org.eml", dir, i);
	fp = fopen(path, "rb");
	if (fp == NULL) {
		snprintf(why, size, "message %u did not arrive", i);
		return 0;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(&got, chunk, n);
	fclose(fp);
	ok = got.len == sent->len && memcmp(got.data, sent->data, got.len) == 0;
	if (!ok)
		snprintf(why, size, "message %u: %zu bytes arrived, %zu sent",
		    i, got.len, sent->len);
	buf_free(&got);
	return ok;
}

static void
send_round(const char *dir, unsigned port, unsigned connections,
    unsigned first)
{
	struct relay_target target = {
		.host = "127.0.0.1", .port = port, .timeout_ms = 10000,
		.helo_name = "herald.test", .connections = connections,
	};
	struct buf msgs[MESSAGES], err = BUF_INIT;
	struct relay_session *s = relay_session_new(&target, &err);
	struct relay_session_result sum;
	const struct relay_result *results;
	char what[128], why[RELAY_REPLY_MAX + 1] = "";
	unsigned count, sent = 0, intact = 0;

	memset(msgs, 0, sizeof(msgs));
	for (int round = 0; round < 2; round++) {
		relay_session_reset(s);
		for (unsigned i = 0; i < MESSAGES / 2; i++) {
			unsigned k = first + round * (MESSAGES / 2) + i;
			char rcpt[64];

			make_message(&msgs[k - first], k);
			snprintf(rcpt, sizeof(rcpt), "r%u@example.org", k);
			if (relay_session_add(s, "bounce@example.net", rcpt,
			    msgs[k - first].data, msgs[k - first].len, k,
			    &err) != 0)
				snprintf(why, sizeof(why), "%s", buf_str(&err));
		}
		relay_session_run(s, &sum);
		results = relay_session_results(s, &count);
		for (unsigned i = 0; i < count; i++) {
			sent += results[i].outcome == RELAY_SENT &&
			    strncmp(results[i].queue_id, "AIO", 3) == 0;
			if (results[i].outcome != RELAY_SENT)
				snprintf(why, sizeof(why), "%s", results[i].reply);
		}
	}
	snprintf(what, sizeof(what), "%u connection(s): every message sent, "
	    "with aiosmtpd's queue id", connections);
	check(sent == MESSAGES, what, why);
	for (unsigned i = 0; i < MESSAGES; i++)
		intact += arrived_intact(dir, first + i, &msgs[i], why,
		    sizeof(why));
	snprintf(what, sizeof(what), "%u connection(s): every message arrived "
	    "byte for byte", connections);
	check(intact == MESSAGES, what, why);
	relay_session_free(s);
	for (unsigned i = 0; i < MESSAGES; i++)
		buf_free(&msgs[i]);
	buf_free(&err);
}

int
main(void)
{
	char dir[] = "/tmp/herald-test-aiosmtpd-XXXXXX", cmd[128];
	const char *require = getenv("HERALD_TEST_REQUIRE_SERVERS");
	unsigned port;
	pid_t pid;
	FILE *server;

	if (system("/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null") != 0 &&
	    system("python3 -c 'import aiosmtpd' 2>/dev/null") != 0) {
		int must = require && strcmp(require, "1") == 0;

		printf("%s test_aiosmtpd: python3-aiosmtpd is not installed\n",
		    must ? "FAIL -" : "SKIP -");
		return must ? 1 : 77;
	}
	if (mkdtemp(dir) == NULL)
		return 1;
	server = start_server(dir, &pid, &port);
	if (server == NULL) {
		printf("not ok - aiosmtpd did not start\n");
		return 1;
	}
	send_round(dir, port, 1, 0);
	send_round(dir, port, 4, 1000);
	fclose(server);		/* the server stops at the end of its input */
	waitpid(pid, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
