/*
 * relay.c - one SMTP session over libESMTP 1.1 (see relay.h).
 *
 * Public functions: relay_session_new(), relay_session_free(),
 * relay_session_reset(), relay_session_add(), relay_session_count(),
 * relay_session_run(), relay_session_results(), relay_outcome_name(),
 * relay_status_name(), relay_status_marks_down().
 *
 * How the pieces of libESMTP are used, and why:
 *
 *  - Messages are added to a libESMTP session as they come; the session
 *    is created at the first add and destroyed at the end of the run, so
 *    libESMTP's per-message records live for one run only.
 *  - The message callback hands libESMTP the caller's whole buffer in
 *    one piece (libESMTP then splits it into lines itself, for header
 *    processing and dot-stuffing). Its *ctx stays NULL: libESMTP free()s
 *    it. The callback also tells us how far DATA got: started (rewind),
 *    read to the end (end of input) - which decides between DEFERRED
 *    and UNKNOWN when no final reply comes.
 *  - libESMTP sets no socket options and gives no descriptor. On
 *    SMTP_EV_CONNECT (connected, greeting not yet read) we find its
 *    socket (relay_find_socket() says why that is safe) and set
 *    TCP_NODELAY: without it Nagle's algorithm holds back each pipelined
 *    command batch until the server's delayed ACK, about 40 ms a turn.
 *  - The protocol monitor sees every reply line outside DATA: it keeps
 *    the greeting and the last reply (libESMTP keeps the greeting and
 *    EHLO replies to itself) and the time of the last activity, which
 *    tells a timeout from a dropped connection (libESMTP reports both
 *    as "dropped connection").
 *  - After the run each message's outcome is derived from libESMTP's
 *    MAIL, RCPT and DATA statuses (relay_classify()).
 *  - STARTTLS: our own SSL_CTX (relay_tls.h), which verifies during the
 *    handshake; libESMTP's certificate events are answered from it.
 *  - AUTH: when AUTH fails (or the server offers none), libESMTP goes
 *    on to MAIL unauthenticated, and a submission server then refuses
 *    every recipient with 5xx: mail would fail for good over a wrong
 *    password. So the monitor watches the commands going out, and when
 *    a MAIL command is about to be written before a 235 reply to AUTH
 *    (the monitor sees each write before it happens), it shuts the
 *    socket down: nothing is sent, every message stays NOT_ATTEMPTED
 *    and the session is REFUSED with the server's reply to AUTH. A
 *    second AUTH (libESMTP's next mechanism) is cut the same way.
 *
 * Errors: see relay.h. msg_fatal() only when libESMTP cannot allocate.
 */
#include "relay.h"
#include "log.h"
#include "relay_tls.h"
#include "smtp_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/ssl.h>	/* before libesmtp.h: smtp_starttls_set_ctx */
#include <auth-client.h>	/* before libesmtp.h: smtp_auth_set_context */
#include <libesmtp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Addresses kept for a relay host (more are ignored for matching). */
#define RELAY_MAX_ADDRESSES 16

/* Largest piece handed to libESMTP at once (its length is an int). */
#define RELAY_CHUNK_MAX (1 << 30)

/* What the message callback saw of one message's DATA. */
struct relay_message {
	smtp_message_t message;		/* libESMTP's, for this run */
	smtp_recipient_t recipient;	/* libESMTP's, for this run */
	const char *data;		/* caller's bytes, not copied */
	size_t length;
	size_t offset;			/* bytes handed to libESMTP */
	struct relay_session *session;	/* set when the run starts */
	unsigned transfer_started : 1;	/* libESMTP began reading it */
	unsigned transfer_read : 1;	/* ... and read it to the end */
	unsigned peer_closed : 1;	/* at that end the server had gone */
};

struct relay_session {
	/* The target, copied. */
	char *host;
	char *helo_name;
	char *hostport;			/* "host:port" for libESMTP */
	unsigned port;
	unsigned timeout_ms;
	int keep_nagle;

	/* STARTTLS and AUTH (libESMTP only). */
	enum relay_tls tls;
	SSL_CTX *tls_ctx;		/* NULL without TLS */
	char *auth_user;		/* NULL without AUTH */
	char *auth_password;
	auth_context_t auth;

	/* The host's addresses, to recognise libESMTP's socket. */
	struct sockaddr_storage addresses[RELAY_MAX_ADDRESSES];
	unsigned address_count;
	int resolve_again;		/* the last match failed */
	int warned_no_socket;

	/* Messages and their results; reused from run to run. */
	smtp_session_t smtp;		/* NULL between runs */
	struct relay_message *messages;
	struct relay_result *results;
	unsigned count;
	unsigned capacity;
	int ran;			/* results are final until reset */

	/* The pipelined client (plain relays): NULL for libESMTP. */
	struct smtp_pool *pool;
	struct ev_loop *own_loop;	/* when the caller gave none */
	struct smtp_job *jobs;		/* capacity of them */
	struct relay_envelope {
		char sender[RELAY_ADDRESS_MAX + 1];
		char recipient[RELAY_ADDRESS_MAX + 1];
	} *envelopes;

	/* Called on every reply from the server (a worker heartbeats). */
	relay_progress_fn *progress;
	void *progress_arg;

	/* State of the run in progress. */
	int fd;				/* libESMTP's socket, or -1 */
	int connected;
	int nodelay;
	struct timespec last_activity;
	char line[RELAY_REPLY_MAX + 1];	/* reply line being read */
	size_t line_length;
	int greeting_code;		/* 0 until the greeting was read */
	char greeting[RELAY_REPLY_MAX + 1];
	int last_code;
	char last_reply[RELAY_REPLY_MAX + 1];
	int error_code;			/* first 4xx/5xx reply, 0 if none */
	char error_reply[RELAY_REPLY_MAX + 1];
	int closing;			/* a 421 was seen */
	char closing_reply[RELAY_REPLY_MAX + 1];
	char tls_error[RELAY_REPLY_MAX + 1];	/* why TLS failed */
	int auth_in_progress;		/* AUTH sent, no final reply yet */
	int authenticated;		/* 235 to AUTH */
	int auth_code;			/* the refusal's code, 0 if none */
	char auth_reply[RELAY_REPLY_MAX + 1];
	int held_back;			/* MAIL would have gone out without
					 * AUTH: the connection was cut */

	struct relay_session_result summary;
};

static const char *const relay_outcome_names[] = {
	[RELAY_NOT_ATTEMPTED] = "not-attempted",
	[RELAY_SENT] = "sent",
	[RELAY_DEFERRED] = "deferred",
	[RELAY_FAILED] = "failed",
	[RELAY_UNKNOWN] = "unknown",
};

static const char *const relay_status_names[] = {
	[RELAY_STATUS_OK] = "ok",
	[RELAY_STATUS_RESOLVE_FAILED] = "resolve-failed",
	[RELAY_STATUS_CONNECT_FAILED] = "connect-failed",
	[RELAY_STATUS_TIMEOUT] = "timeout",
	[RELAY_STATUS_REFUSED] = "refused",
	[RELAY_STATUS_DROPPED] = "dropped",
};

const char *
relay_outcome_name(enum relay_outcome outcome)
{
	if ((unsigned)outcome >= sizeof(relay_outcome_names) /
	    sizeof(relay_outcome_names[0]))
		return "invalid";
	return relay_outcome_names[outcome];
}

const char *
relay_status_name(enum relay_status status)
{
	if ((unsigned)status >= sizeof(relay_status_names) /
	    sizeof(relay_status_names[0]))
		return "invalid";
	return relay_status_names[status];
}

int
relay_status_marks_down(enum relay_status status)
{
	switch (status) {
	case RELAY_STATUS_RESOLVE_FAILED:
	case RELAY_STATUS_CONNECT_FAILED:
	case RELAY_STATUS_TIMEOUT:
	case RELAY_STATUS_REFUSED:
		return 1;
	case RELAY_STATUS_OK:
	case RELAY_STATUS_DROPPED:
		break;
	}
	return 0;
}

/* --- small helpers -------------------------------------------------------- */

/*
 * Copies text into dst (size bytes) so that it can be logged and stored:
 * control characters become spaces, bytes above ASCII become '?',
 * trailing spaces go. Longer text is cut at size - 1 bytes.
 */
static void
relay_sanitise(char *dst, size_t size, const char *text, size_t length)
{
	size_t n = 0;

	for (size_t i = 0; i < length && n + 1 < size; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c == 0x7f)
			c = ' ';
		else if (c > 0x7f)
			c = '?';
		dst[n++] = (char)c;
	}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

/*
 * snprintf() into a fixed field: the texts kept are bounded on purpose
 * (logs, and the stage table's VARCHAR(512)), so a longer reply is cut.
 */
static void __attribute__((format(printf, 3, 4)))
relay_text(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, size, fmt, ap);
	va_end(ap);
}

static double
relay_elapsed(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) +
	    (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

static void
relay_touch(struct relay_session *s)
{
	clock_gettime(CLOCK_MONOTONIC, &s->last_activity);
}

/*
 * An envelope address goes into "MAIL FROM:<%s>" unquoted by libESMTP:
 * refuse anything that could end the command or start another one.
 * The empty sender (bounces) is allowed; an empty recipient is not.
 */
static int
relay_check_address(const char *what, const char *address, int may_be_empty,
    struct buf *err)
{
	size_t length = strlen(address);

	if (length == 0 && !may_be_empty) {
		buf_printf(err, "empty %s address", what);
		return -1;
	}
	if (length > RELAY_ADDRESS_MAX) {
		buf_printf(err, "%s address is %zu bytes long; the limit is %d",
		    what, length, RELAY_ADDRESS_MAX);
		return -1;
	}
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)address[i];

		if (c <= ' ' || c >= 0x7f || c == '<' || c == '>') {
			char shown[81];

			/* The address itself may hold CR LF: show it tamed. */
			relay_sanitise(shown, sizeof(shown), address, length);
			buf_printf(err, "%s address \"%s\" has a byte 0x%02x "
			    "at offset %zu that is not allowed in an SMTP "
			    "envelope", what, shown, c, i);
			return -1;
		}
	}
	return 0;
}

/*
 * libESMTP passes bare CR or LF through untouched, and Postfix rejects
 * bare LF (smtpd_forbid_bare_newline); a missing final CRLF would be
 * added by libESMTP, changing the bytes; a line over 998 bytes breaks
 * RFC 5321 4.5.3.1.6 and a server may cut or refuse it. Checked here,
 * cheaply (memchr), for both clients.
 */
static int
relay_check_crlf(const char *message, size_t length, struct buf *err)
{
	const char *p, *line = message, *end = message + length;

	if (length < 2 || message[length - 2] != '\r' ||
	    message[length - 1] != '\n') {
		buf_append_str(err, "message does not end with CRLF");
		return -1;
	}
	for (p = message; (p = memchr(p, '\n', (size_t)(end - p))) != NULL;
	    p++) {
		if (p == message || p[-1] != '\r') {
			buf_printf(err, "message has a bare LF at offset %zu; "
			    "it must use CRLF line endings only",
			    (size_t)(p - message));
			return -1;
		}
		if (p - 1 - line > RELAY_LINE_MAX) {
			buf_printf(err, "message has a line of %zu bytes at "
			    "offset %zu; the limit is %d without the CRLF",
			    (size_t)(p - 1 - line), (size_t)(line - message),
			    RELAY_LINE_MAX);
			return -1;
		}
		line = p + 1;
	}
	for (p = message; (p = memchr(p, '\r', (size_t)(end - p))) != NULL;
	    p++) {
		if (p + 1 == end || p[1] != '\n') {
			buf_printf(err, "message has a bare CR at offset %zu; "
			    "it must use CRLF line endings only",
			    (size_t)(p - message));
			return -1;
		}
	}
	return 0;
}

/* --- finding libESMTP's socket ------------------------------------------- */

/* Resolves the host as libESMTP will (same hints), for relay_is_peer(). */
static void
relay_resolve(struct relay_session *s)
{
	struct addrinfo hints, *list, *ai;
	char service[16];

	s->address_count = 0;
	s->resolve_again = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = PF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof(service), "%u", s->port);
	if (getaddrinfo(s->host, service, &hints, &list) != 0)
		return;		/* libESMTP will fail the same way and say so */
	for (ai = list; ai && s->address_count < RELAY_MAX_ADDRESSES;
	    ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(s->addresses[0]))
			continue;
		memcpy(&s->addresses[s->address_count++], ai->ai_addr,
		    ai->ai_addrlen);
	}
	freeaddrinfo(list);
}

/* 1 when fd is a TCP socket connected to one of the relay's addresses. */
static int
relay_is_peer(const struct relay_session *s, int fd)
{
	struct sockaddr_storage peer;
	socklen_t length = sizeof(peer);
	int type;
	socklen_t type_length = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0 ||
	    type != SOCK_STREAM)
		return 0;
	if (getpeername(fd, (struct sockaddr *)&peer, &length) != 0)
		return 0;
	for (unsigned i = 0; i < s->address_count; i++) {
		const struct sockaddr_storage *a = &s->addresses[i];

		if (a->ss_family != peer.ss_family)
			continue;
		if (peer.ss_family == AF_INET) {
			const struct sockaddr_in *x = (const void *)a;
			const struct sockaddr_in *y = (const void *)&peer;

			if (x->sin_port == y->sin_port &&
			    x->sin_addr.s_addr == y->sin_addr.s_addr)
				return 1;
		} else if (peer.ss_family == AF_INET6) {
			const struct sockaddr_in6 *x = (const void *)a;
			const struct sockaddr_in6 *y = (const void *)&peer;

			if (x->sin6_port == y->sin6_port &&
			    memcmp(&x->sin6_addr, &y->sin6_addr,
			    sizeof(x->sin6_addr)) == 0)
				return 1;
		}
	}
	return 0;
}

/*
 * Returns libESMTP's freshly connected socket, or -1 when it cannot be
 * told apart with certainty. Called from SMTP_EV_CONNECT.
 *
 * Why this is safe in a worker that also holds a MySQL connection, the
 * syslog socket, log files and the master's pipes: libESMTP got its
 * descriptor from socket(), which returns the LOWEST free descriptor;
 * between that socket() and SMTP_EV_CONNECT it only calls connect() and
 * mallocs its buffer, and the worker is single-threaded, so every
 * descriptor below it is still open. libESMTP's socket is therefore in
 * the unbroken run of open descriptors from 0, and the scan stops at
 * the first free one (it costs a few system calls per open descriptor,
 * once per session). Within that run we take only a TCP socket whose
 * peer is this relay's address and port; MySQL's socket (a UNIX socket
 * or TCP to another port), syslog's datagram socket and files never
 * match. If two sockets match (another connection to the same relay
 * that this module did not make), we touch neither: a slower session
 * is better than a setting on somebody else's socket.
 */
static int
relay_find_socket(struct relay_session *s)
{
	int found = -1;

	if (s->address_count == 0 || s->resolve_again)
		relay_resolve(s);
	for (int fd = 0; fcntl(fd, F_GETFD) != -1; fd++) {
		if (!relay_is_peer(s, fd))
			continue;
		if (found != -1)
			return -1;	/* ambiguous */
		found = fd;
	}
	if (found == -1)
		s->resolve_again = 1;	/* the address may have changed */
	return found;
}

/*
 * 0 when the server had already closed or reset the connection, 1 when
 * it was established, -1 when we cannot tell (no socket found).
 */
static int
relay_connection_alive(const struct relay_session *s)
{
	struct tcp_info info;
	socklen_t length = sizeof(info);

	if (s->fd < 0)
		return -1;
	if (getsockopt(s->fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0)
		return -1;
	return info.tcpi_state == TCP_ESTABLISHED;
}

/* --- libESMTP callbacks --------------------------------------------------- */

static void
relay_on_connect(struct relay_session *s)
{
	int on = 1;

	s->connected = 1;
	relay_touch(s);
	s->fd = relay_find_socket(s);
	if (s->fd < 0) {
		if (!s->warned_no_socket)
			msg_warn("relay %s: cannot identify the SMTP socket "
			    "among this process's descriptors; TCP_NODELAY "
			    "is not set and sessions may be slow",
			    s->hostport);
		s->warned_no_socket = 1;
		return;
	}
	if (s->keep_nagle)
		return;
	if (setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0)
		msg_warn("relay %s: cannot set TCP_NODELAY: %s", s->hostport,
		    strerror(errno));
	else
		s->nodelay = 1;
}

/*
 * libESMTP asks, after the handshake, whether to go on with a
 * certificate it doubts. Under RELAY_TLS_REQUIRED OpenSSL has already
 * verified the chain and the host name or address (relay_tls.h): go on
 * exactly when that verification passed. Opportunistic TLS takes any.
 */
static void
relay_certificate_event(struct relay_session *s, int event, va_list ap)
{
	int opportunistic = s->tls == RELAY_TLS_OPPORTUNISTIC;
	int *ok = NULL;
	SSL *ssl;

	switch (event) {
	case SMTP_EV_INVALID_PEER_CERTIFICATE:
		(void)va_arg(ap, long);
		ok = va_arg(ap, int *);
		*ok = opportunistic;
		break;
	case SMTP_EV_NO_PEER_CERTIFICATE:
		ok = va_arg(ap, int *);
		*ok = opportunistic;
		if (!*ok)
			relay_text(s->tls_error, sizeof(s->tls_error),
			    "the server sent no certificate");
		break;
	case SMTP_EV_WRONG_PEER_CERTIFICATE:
		ok = va_arg(ap, int *);
		(void)va_arg(ap, char *);
		ssl = va_arg(ap, SSL *);
		*ok = opportunistic ||
		    SSL_get_verify_result(ssl) == X509_V_OK;
		break;
	case SMTP_EV_WEAK_CIPHER:
		(void)va_arg(ap, int);
		ok = va_arg(ap, int *);
		*ok = 0;
		relay_text(s->tls_error, sizeof(s->tls_error),
		    "the server chose a cipher of 40 bits or fewer");
		break;
	}
	if (ok && !*ok && s->tls_error[0] == '\0')
		relay_text(s->tls_error, sizeof(s->tls_error),
		    "certificate refused (libESMTP event %d)", event);
}

static void
relay_event(smtp_session_t smtp, int event, void *arg, ...)
{
	struct relay_session *s = arg;
	va_list ap;

	(void)smtp;
	switch (event) {
	case SMTP_EV_CONNECT:
		relay_on_connect(s);
		break;
	case SMTP_EV_DISCONNECT:
		s->fd = -1;	/* libESMTP has closed it */
		break;
	case SMTP_EV_EXTNA_STARTTLS:
		relay_text(s->tls_error, sizeof(s->tls_error), "the server "
		    "does not offer STARTTLS, and TLS is required");
		break;
	case SMTP_EV_INVALID_PEER_CERTIFICATE:
	case SMTP_EV_NO_PEER_CERTIFICATE:
	case SMTP_EV_WRONG_PEER_CERTIFICATE:
	case SMTP_EV_WEAK_CIPHER:
		va_start(ap, arg);
		relay_certificate_event(s, event, ap);
		va_end(ap);
		break;
	}
}

/* libESMTP's SASL plugin asks for the user name and password. */
static int
relay_auth_interact(auth_client_request_t request, char **result,
    int fields, void *arg)
{
	struct relay_session *s = arg;

	for (int i = 0; i < fields; i++) {
		if (request[i].flags & AUTH_USER)
			result[i] = s->auth_user;
		else if (request[i].flags & AUTH_PASS)
			result[i] = s->auth_password;
		else
			result[i] = (char *)"";	/* realm: the server's */
	}
	return 1;
}

/* 1 when the commands in data (one write) include a MAIL command. */
static int
relay_writes_mail(const char *data, int length)
{
	static const char mail[] = "MAIL FROM:";
	size_t n = sizeof(mail) - 1;

	for (int i = 0; i + (int)n <= length; i++)
		if ((i == 0 || data[i - 1] == '\n') &&
		    strncasecmp(data + i, mail, n) == 0)
			return 1;
	return 0;
}

/*
 * Before a write (libESMTP calls the monitor first): note an AUTH
 * command, and keep MAIL from leaving without a successful AUTH.
 */
static void
relay_watch_commands(struct relay_session *s, const char *data, int length)
{
	int auth = length >= 5 && strncasecmp(data, "AUTH ", 5) == 0;

	if (auth)
		s->auth_in_progress = 1;
	/* After one refusal libESMTP would try the next mechanism with the
	 * same password: one failed login per session is enough (servers
	 * lock accounts out, or block the address, after a few). */
	if (s->authenticated || s->held_back || !((auth && s->auth_code) ||
	    relay_writes_mail(data, length)))
		return;
	s->held_back = 1;
	/* The write that follows fails, and libESMTP ends the session
	 * before the server sees MAIL. */
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_RDWR);
}

/* A complete reply line from the server (without CRLF). */
static void
relay_reply_line(struct relay_session *s)
{
	const char *p = s->line;
	int code;

	if (s->progress)
		s->progress(s->progress_arg);

	if (s->line_length < 3 || p[0] < '1' || p[0] > '5' ||
	    p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
		return;
	code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	/* Multi-line replies: keep their last line only. */
	if (s->line_length > 3 && p[3] == '-')
		return;
	relay_sanitise(s->last_reply, sizeof(s->last_reply), p,
	    s->line_length);
	s->last_code = code;
	if (code >= 400 && s->error_code == 0) {
		s->error_code = code;
		memcpy(s->error_reply, s->last_reply, sizeof(s->error_reply));
	}
	if (s->auth_in_progress && code != 334) {
		s->auth_in_progress = 0;
		if (code == 235) {
			s->authenticated = 1;
		} else if (s->auth_code == 0) {
			s->auth_code = code;
			memcpy(s->auth_reply, s->last_reply,
			    sizeof(s->auth_reply));
		}
	}
	if (code == 421 && !s->closing) {
		s->closing = 1;
		memcpy(s->closing_reply, s->last_reply,
		    sizeof(s->closing_reply));
	}
	if (s->greeting_code == 0) {
		s->greeting_code = code;
		memcpy(s->greeting, s->last_reply, sizeof(s->greeting));
	}
}

/*
 * The protocol monitor: every chunk written (commands) and read
 * (replies), never the message data. Replies are split into lines.
 */
static void
relay_monitor(const char *data, int length, int writing, void *arg)
{
	struct relay_session *s = arg;

	relay_touch(s);
	if (writing) {
		if (s->auth)
			relay_watch_commands(s, data, length);
		return;
	}
	for (int i = 0; i < length; i++) {
		if (data[i] == '\n') {
			if (s->line_length > 0 &&
			    s->line[s->line_length - 1] == '\r')
				s->line_length--;
			relay_reply_line(s);
			s->line_length = 0;
		} else if (s->line_length < sizeof(s->line) - 1) {
			s->line[s->line_length++] = data[i];
		}
	}
}

/*
 * The message callback: len == NULL rewinds (libESMTP starts DATA);
 * otherwise hand out the rest of the buffer, then end of input, as
 * often as libESMTP asks.
 */
static const char *
relay_read_message(void **ctx, int *len, void *arg)
{
	struct relay_message *m = arg;
	size_t left;

	(void)ctx;	/* stays NULL: libESMTP would free() it */
	if (len == NULL) {
		m->offset = 0;
		m->transfer_started = 1;
		return NULL;
	}
	left = m->length - m->offset;
	if (left == 0) {
		/*
		 * libESMTP has taken every line and will now send the final
		 * "." and wait. If the server already closed the connection
		 * it cannot get that "." and cannot have taken the message.
		 */
		if (!m->transfer_read) {
			m->transfer_read = 1;
			m->peer_closed =
			    relay_connection_alive(m->session) == 0;
			relay_touch(m->session);
		}
		*len = 0;
		return NULL;
	}
	if (left > RELAY_CHUNK_MAX)
		left = RELAY_CHUNK_MAX;
	*len = (int)left;
	m->offset += left;
	return m->data + m->offset - left;
}

/* --- session life --------------------------------------------------------- */

/*
 * STARTTLS and AUTH for a libESMTP relay: the TLS context (verifying
 * under RELAY_TLS_REQUIRED) and the SASL context, which may use
 * plain-text mechanisms (PLAIN, LOGIN) only because the caller
 * (relaypool, the configuration) allows AUTH only over required TLS.
 */
static int
relay_secure_begin(struct relay_session *s, const struct relay_target *target,
    struct buf *err)
{
	static int auth_ready;

	s->tls = target->tls;
	if (s->tls != RELAY_TLS_NONE) {
		s->tls_ctx = relay_tls_context_new(s->host,
		    s->tls == RELAY_TLS_REQUIRED, target->tls_ca_file,
		    s->tls_error, sizeof(s->tls_error), err);
		if (s->tls_ctx == NULL)
			return -1;
	}
	if (target->auth_user == NULL || target->auth_user[0] == '\0')
		return 0;
	if (target->auth_password == NULL) {
		buf_printf(err, "relay %s: AUTH as %s needs a password",
		    s->hostport, target->auth_user);
		return -1;
	}
	if (!auth_ready) {
		auth_client_init();	/* once per process: loads plugins */
		auth_ready = 1;
	}
	s->auth = auth_create_context();
	if (s->auth == NULL)
		msg_fatal("relay %s: libESMTP cannot create an AUTH context: "
		    "out of memory", s->hostport);
	auth_set_mechanism_flags(s->auth, AUTH_PLUGIN_PLAIN, 0);
	auth_set_interact_cb(s->auth, relay_auth_interact, s);
	s->auth_user = xstrdup(target->auth_user);
	s->auth_password = xstrdup(target->auth_password);
	return 0;
}

/*
 * Sets up the pipelined client for a plain relay: relay_timeout bounds
 * every reply and every stall while a body is written, as with libESMTP
 * (a worker's heartbeat and the tests' "down within relay_timeout" rely
 * on one bound).
 */
static void
relay_pool_begin(struct relay_session *s, const struct relay_target *target)
{
	struct smtp_client_config config = {
		.host = s->host,
		.port = s->port,
		.helo_name = s->helo_name ? s->helo_name : "localhost",
		.in_flight = RELAY_IN_FLIGHT,
		.use_bdat = target->use_bdat,
		.keep_nagle = target->keep_nagle,
	};
	unsigned reply_ms = target->timeout_ms ? target->timeout_ms :
	    RELAY_DEFAULT_TIMEOUT_MS;
	struct ev_loop *loop = target->loop;

	config.limits.connect_ms = target->connect_timeout_ms ?
	    target->connect_timeout_ms : RELAY_DEFAULT_CONNECT_TIMEOUT_MS;
	config.limits.greeting_ms = reply_ms;
	config.limits.mail_ms = reply_ms;
	config.limits.rcpt_ms = reply_ms;
	config.limits.data_ms = reply_ms;
	config.limits.block_ms = reply_ms;
	config.limits.dot_ms = reply_ms;
	if (loop == NULL) {
		s->own_loop = ev_loop_new(EVFLAG_AUTO);
		if (s->own_loop == NULL)
			msg_fatal("relay %s: cannot create an event loop",
			    s->hostport);
		loop = s->own_loop;
	}
	s->pool = smtp_pool_new(loop, &config, target->connections);
}

struct relay_session *
relay_session_new(const struct relay_target *target, struct buf *err)
{
	struct relay_session *s;
	struct buf hostport = BUF_INIT;
	int secure = target->tls != RELAY_TLS_NONE ||
	    (target->auth_user && target->auth_user[0]);

	if (target->host == NULL || target->host[0] == '\0') {
		buf_append_str(err, "relay host is empty");
		return NULL;
	}
	if ((target->use_libesmtp || secure) &&
	    strchr(target->host, ':') != NULL) {
		buf_printf(err, "relay host \"%s\": libESMTP 1.1 cannot "
		    "address an IPv6 literal; use a host name that resolves "
		    "to it", target->host);
		return NULL;
	}
	for (const char *p = target->host; *p; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			buf_printf(err, "relay host \"%s\" has a space or a "
			    "control character", target->host);
			return NULL;
		}
	}
	if (target->port > 65535) {
		buf_printf(err, "relay port %u is out of range (1-65535)",
		    target->port);
		return NULL;
	}
	if (target->helo_name) {
		for (const char *p = target->helo_name; *p; p++) {
			if ((unsigned char)*p <= ' ' ||
			    (unsigned char)*p >= 0x7f) {
				buf_printf(err, "EHLO name \"%s\" has a space "
				    "or a control character",
				    target->helo_name);
				return NULL;
			}
		}
	}

	s = xcalloc(1, sizeof(*s));
	s->host = xstrdup(target->host);
	s->helo_name = target->helo_name && target->helo_name[0] ?
	    xstrdup(target->helo_name) : NULL;
	s->port = target->port ? target->port : 25;
	s->timeout_ms = target->timeout_ms ? target->timeout_ms :
	    RELAY_DEFAULT_TIMEOUT_MS;
	if (s->timeout_ms < 1000)
		s->timeout_ms = 1000;	/* libESMTP's floor; say so */
	s->keep_nagle = target->keep_nagle;
	buf_printf(&hostport, "%s:%u", s->host, s->port);
	s->hostport = buf_steal(&hostport);
	s->fd = -1;
	if (secure && relay_secure_begin(s, target, err) != 0) {
		relay_session_free(s);
		return NULL;
	}
	if (!target->use_libesmtp && !secure)
		relay_pool_begin(s, target);
	return s;
}

void
relay_session_free(struct relay_session *s)
{
	if (s == NULL)
		return;
	if (s->smtp)
		smtp_destroy_session(s->smtp);
	relay_tls_context_free(s->tls_ctx);
	if (s->auth)
		auth_destroy_context(s->auth);
	if (s->auth_password) {
		explicit_bzero(s->auth_password, strlen(s->auth_password));
		free(s->auth_password);
	}
	free(s->auth_user);
	smtp_pool_free(s->pool);
	if (s->own_loop)
		ev_loop_destroy(s->own_loop);
	free(s->jobs);
	free(s->envelopes);
	free(s->messages);
	free(s->results);
	free(s->host);
	free(s->helo_name);
	free(s->hostport);
	free(s);
}

void
relay_session_reset(struct relay_session *s)
{
	if (s->smtp) {
		smtp_destroy_session(s->smtp);
		s->smtp = NULL;
	}
	s->count = 0;
	s->ran = 0;
}

unsigned
relay_session_count(const struct relay_session *s)
{
	return s->count;
}

const struct relay_result *
relay_session_results(const struct relay_session *s, unsigned *count)
{
	*count = s->ran ? s->count : 0;
	return s->results;
}

/* Creates libESMTP's session for the next run. */
static void
relay_smtp_begin(struct relay_session *s)
{
	static const int timeouts[] = {
		Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA,
		Timeout_TRANSFER, Timeout_DATA2,
	};

	s->smtp = smtp_create_session();
	if (s->smtp == NULL || !smtp_set_server(s->smtp, s->hostport))
		msg_fatal("relay %s: libESMTP cannot create a session: out of "
		    "memory", s->hostport);
	if (s->helo_name && !smtp_set_hostname(s->smtp, s->helo_name))
		msg_fatal("relay %s: libESMTP refused the EHLO name",
		    s->hostport);
	/* RFC 5321's minutes-long waits suit a far server, not our local
	 * MTA: one limit for every reply, below the watchdog's. */
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++)
		smtp_set_timeout(s->smtp,
		    timeouts[i] | Timeout_OVERRIDE_RFC2822_MINIMUM,
		    (long)s->timeout_ms);
	smtp_set_eventcb(s->smtp, relay_event, s);
	smtp_set_monitorcb(s->smtp, relay_monitor, s, 0);
	if (s->tls_ctx && (!smtp_starttls_enable(s->smtp,
	    s->tls == RELAY_TLS_REQUIRED ? Starttls_REQUIRED :
	    Starttls_ENABLED) || !smtp_starttls_set_ctx(s->smtp, s->tls_ctx)))
		msg_fatal("relay %s: libESMTP was built without STARTTLS",
		    s->hostport);
	if (s->auth)
		smtp_auth_set_context(s->smtp, s->auth);
}

int
relay_session_add(struct relay_session *s, const char *sender,
    const char *recipient, const char *message, size_t length,
    uint64_t cookie, struct buf *err)
{
	struct relay_message *m;
	struct relay_result *r;

	if (s->ran) {
		buf_append_str(err, "relay session already ran: call "
		    "relay_session_reset() before adding messages");
		return -1;
	}
	if (relay_check_address("sender", sender, 1, err) != 0 ||
	    relay_check_address("recipient", recipient, 0, err) != 0 ||
	    relay_check_crlf(message, length, err) != 0)
		return -1;

	if (s->count == s->capacity) {
		s->capacity = s->capacity ? s->capacity * 2 : 256;
		s->messages = xrealloc(s->messages,
		    s->capacity * sizeof(*s->messages));
		s->results = xrealloc(s->results,
		    s->capacity * sizeof(*s->results));
		if (s->pool) {
			s->jobs = xrealloc(s->jobs,
			    s->capacity * sizeof(*s->jobs));
			s->envelopes = xrealloc(s->envelopes,
			    s->capacity * sizeof(*s->envelopes));
		}
	}
	m = &s->messages[s->count];
	memset(m, 0, sizeof(*m));
	m->data = message;
	m->length = length;
	if (s->pool) {
		/* The addresses were checked: they fit. */
		strcpy(s->envelopes[s->count].sender, sender);
		strcpy(s->envelopes[s->count].recipient, recipient);
		goto result;
	}
	if (s->smtp == NULL)
		relay_smtp_begin(s);
	m->message = smtp_add_message(s->smtp);
	if (m->message == NULL ||
	    !smtp_set_reverse_path(m->message, sender) ||
	    (m->recipient = smtp_add_recipient(m->message, recipient)) == NULL)
		msg_fatal("relay %s: libESMTP cannot add a message: out of "
		    "memory", s->hostport);
	/* SIZE= lets the server refuse an oversized message up front. */
	smtp_size_set_estimate(m->message, (unsigned long)length);
result:
	r = &s->results[s->count];
	r->cookie = cookie;
	r->outcome = RELAY_NOT_ATTEMPTED;
	r->stage = RELAY_STAGE_NONE;
	r->code = 0;
	r->reply[0] = '\0';
	r->queue_id[0] = '\0';
	s->count++;
	return 0;
}

/* --- results -------------------------------------------------------------- */

/* Sets r's code, stage and reply ("CODE X.Y.Z text") from a status. */
static void
relay_set_reply(struct relay_result *r, enum relay_stage stage,
    const smtp_status_t *status)
{
	char text[RELAY_REPLY_MAX + 1];

	r->stage = stage;
	r->code = status->code;
	relay_sanitise(text, sizeof(text), status->text ? status->text : "",
	    status->text ? strlen(status->text) : 0);
	if (status->enh_class > 0)
		relay_text(r->reply, sizeof(r->reply), "%d %d.%d.%d %s",
		    status->code, status->enh_class, status->enh_subject,
		    status->enh_detail, text);
	else
		relay_text(r->reply, sizeof(r->reply), "%d %s", status->code,
		    text);
	relay_sanitise(r->reply, sizeof(r->reply), r->reply,
	    strlen(r->reply));
}

/* The relay's queue id: Postfix's "queued as ID", else the reply text. */
static void
relay_set_queue_id(struct relay_result *r, const smtp_status_t *status)
{
	char text[RELAY_REPLY_MAX + 1];
	const char *p;
	size_t n = 0;

	relay_sanitise(text, sizeof(text), status->text ? status->text : "",
	    status->text ? strlen(status->text) : 0);
	p = strstr(text, "queued as ");
	if (p == NULL) {
		relay_sanitise(r->queue_id, sizeof(r->queue_id), text,
		    strlen(text));
		return;
	}
	p += strlen("queued as ");
	while (n < RELAY_QUEUE_ID_MAX &&
	    ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'A' && p[n] <= 'Z') ||
	    (p[n] >= 'a' && p[n] <= 'z')))
		n++;
	memcpy(r->queue_id, p, n);
	r->queue_id[n] = '\0';
}

enum relay_outcome
relay_outcome_of_reply(int code)
{
	if (code >= 200 && code < 300)
		return RELAY_SENT;
	if (code >= 500 && code < 600)
		return RELAY_FAILED;
	return RELAY_DEFERRED;
}

static void
relay_say(struct relay_result *r, enum relay_outcome outcome,
    const char *text)
{
	r->outcome = outcome;
	relay_text(r->reply, sizeof(r->reply), "%s", text);
}

/*
 * Derives a message's outcome from libESMTP's statuses: the first of
 * MAIL, RCPT, DATA and end of DATA that did not succeed decides; no
 * reply at some step means the session ended there. Returns 1 when the
 * session was cut short at this message.
 */
static int
relay_classify(const struct relay_message *m, struct relay_result *r)
{
	const smtp_status_t *mail = smtp_reverse_path_status(m->message);
	const smtp_status_t *rcpt = smtp_recipient_status(m->recipient);
	const smtp_status_t *data = smtp_message_transfer_status(m->message);

	if (mail == NULL || mail->code == 0)
		return 1;	/* not attempted */
	if (mail->code / 100 != 2) {
		relay_set_reply(r, RELAY_STAGE_MAIL, mail);
		r->outcome = relay_outcome_of_reply(mail->code);
		return 0;
	}
	if (rcpt == NULL || rcpt->code == 0)
		return 1;
	if (rcpt->code / 100 != 2) {
		relay_set_reply(r, RELAY_STAGE_RCPT, rcpt);
		r->outcome = relay_outcome_of_reply(rcpt->code);
		return 0;
	}
	if (!m->transfer_started) {
		/* No 354: the DATA command's own reply, if any. */
		if (data == NULL || data->code == 0) {
			/* The session ended in this message's transaction,
			 * after MAIL and RCPT were accepted: nothing was
			 * delivered, but this attempt counts, so a relay (or
			 * a message) that always breaks the session here
			 * ends in failed after retry_schedule instead of
			 * being tried for ever. */
			r->stage = RELAY_STAGE_DATA;
			relay_say(r, RELAY_DEFERRED, "connection lost after "
			    "the DATA command; the message was not "
			    "delivered");
			return 1;
		}
		if (data->code / 100 == 3)
			return 1;
		relay_set_reply(r, RELAY_STAGE_DATA, data);
		r->outcome = relay_outcome_of_reply(data->code);
		if (r->outcome == RELAY_SENT)	/* 2xx to DATA: broken */
			r->outcome = RELAY_DEFERRED;
		return 0;
	}
	/* Still DATA's 354 when libESMTP gave up waiting (it reads no
	 * reply on a timeout, so the status is not reset). */
	if (data != NULL && data->code != 0 && data->code / 100 != 3) {
		relay_set_reply(r, RELAY_STAGE_END, data);
		r->outcome = relay_outcome_of_reply(data->code);
		if (r->outcome == RELAY_SENT)
			relay_set_queue_id(r, data);
		return 0;
	}
	r->stage = RELAY_STAGE_END;
	if (!m->transfer_read || m->peer_closed)
		relay_say(r, RELAY_DEFERRED, "connection lost before the end "
		    "of DATA; the message was not delivered");
	else
		relay_say(r, RELAY_UNKNOWN, "no reply after the end of DATA; "
		    "the message was possibly delivered");
	return 1;
}

/* Session status when libESMTP never connected. */
static void
relay_connect_status(struct relay_session *s)
{
	struct relay_session_result *sum = &s->summary;
	int error = smtp_errno();
	char text[256];

	if (smtp_strerror(error, text, sizeof(text)) == NULL)
		snprintf(text, sizeof(text), "libESMTP error %d", error);
	if (error >= SMTP_ERR_EAI_ADDRFAMILY && error <= SMTP_ERR_EAI_SOCKTYPE)
		sum->status = RELAY_STATUS_RESOLVE_FAILED;
	else if (error == -ETIMEDOUT)
		sum->status = RELAY_STATUS_TIMEOUT;
	else
		sum->status = RELAY_STATUS_CONNECT_FAILED;
	relay_text(sum->text, sizeof(sum->text), "cannot connect to %s: %s",
	    s->hostport, text);
}

/*
 * Session status when STARTTLS or AUTH failed: REFUSED, so the relay
 * is marked down (a wrong password or a bad certificate does not mend
 * itself within a second). Returns 1 when one did.
 */
static int
relay_secure_status(struct relay_session *s)
{
	struct relay_session_result *sum = &s->summary;

	if (s->tls_error[0]) {
		sum->status = RELAY_STATUS_REFUSED;
		relay_text(sum->text, sizeof(sum->text), "TLS with %s failed "
		    "(relay_tls = required): %s", s->hostport, s->tls_error);
		return 1;
	}
	if (s->auth == NULL || s->authenticated ||
	    (s->auth_code == 0 && !s->held_back))
		return 0;
	sum->status = RELAY_STATUS_REFUSED;
	sum->code = s->auth_code;
	if (s->auth_code)
		relay_text(sum->text, sizeof(sum->text), "%s refused AUTH as "
		    "%s: %s; nothing was sent", s->hostport, s->auth_user,
		    s->auth_reply);
	else
		relay_text(sum->text, sizeof(sum->text), "%s did not "
		    "authenticate herald as %s (it offered no AUTH "
		    "mechanism herald can use after STARTTLS); nothing was "
		    "sent", s->hostport, s->auth_user);
	return 1;
}

/* Session status once connected; cut_short: some message got no reply. */
static void
relay_connected_status(struct relay_session *s, int cut_short, int any_mail)
{
	struct relay_session_result *sum = &s->summary;
	struct timespec now;
	int error;
	char text[256];

	if (s->greeting_code != 0 && s->greeting_code / 100 != 2) {
		sum->status = RELAY_STATUS_REFUSED;
		sum->code = s->greeting_code;
		relay_text(sum->text, sizeof(sum->text), "%s refused the "
		    "session at greeting: %s", s->hostport, s->greeting);
		return;
	}
	if (relay_secure_status(s))
		return;
	/* Replies before any MAIL are the greeting's and EHLO/HELO's. */
	if (!any_mail && s->error_code != 0) {
		sum->status = RELAY_STATUS_REFUSED;
		sum->code = s->error_code;
		relay_text(sum->text, sizeof(sum->text), "%s refused the "
		    "session at EHLO/HELO: %s", s->hostport, s->error_reply);
		return;
	}
	if (!cut_short) {
		sum->status = RELAY_STATUS_OK;
		return;
	}
	/*
	 * libESMTP reports a timeout and a closed connection alike; a
	 * closed connection is seen at once, a timeout only after the
	 * limit has passed without a byte.
	 */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (relay_elapsed(&s->last_activity, &now) * 1000.0 >=
	    0.9 * s->timeout_ms) {
		sum->status = RELAY_STATUS_TIMEOUT;
		relay_text(sum->text, sizeof(sum->text), "%s did not answer "
		    "within %u ms", s->hostport, s->timeout_ms);
		return;
	}
	sum->status = RELAY_STATUS_DROPPED;
	error = smtp_errno();
	if (smtp_strerror(error, text, sizeof(text)) == NULL)
		snprintf(text, sizeof(text), "libESMTP error %d", error);
	if (s->closing)
		relay_text(sum->text, sizeof(sum->text), "%s closed the session: "
		    "%s", s->hostport, s->closing_reply);
	else
		relay_text(sum->text, sizeof(sum->text), "session with %s ended "
		    "early: %s", s->hostport, text);
}

/* Blocks SIGPIPE; *pending says whether one was already waiting. */
static void
relay_block_sigpipe(sigset_t *saved, int *pending)
{
	sigset_t pipe_only, waiting;

	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_only, saved);
	*pending = sigpending(&waiting) == 0 &&
	    sigismember(&waiting, SIGPIPE) == 1;
}

/* Discards a SIGPIPE raised by the run, then restores the mask. */
static void
relay_restore_sigpipe(const sigset_t *saved, int pending)
{
	sigset_t pipe_only;
	struct timespec zero = { 0, 0 };

	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	if (!pending)
		while (sigtimedwait(&pipe_only, NULL, &zero) == SIGPIPE)
			;
	sigprocmask(SIG_SETMASK, saved, NULL);
}

/* Counts the outcomes; messages never started say why. */
static void
relay_tally(struct relay_session *s)
{
	struct relay_session_result *sum = &s->summary;

	for (unsigned i = 0; i < s->count; i++) {
		struct relay_result *r = &s->results[i];

		switch (r->outcome) {
		case RELAY_SENT: sum->sent++; break;
		case RELAY_DEFERRED: sum->deferred++; break;
		case RELAY_FAILED: sum->failed++; break;
		case RELAY_UNKNOWN: sum->unknown++; break;
		case RELAY_NOT_ATTEMPTED:
			sum->not_attempted++;
			relay_say(r, RELAY_NOT_ATTEMPTED, sum->text[0] ?
			    sum->text : "not attempted");
			break;
		}
	}
}

/* A run of the pipelined client: the arrays no longer move, so the
 * jobs may point into them. */
static void
relay_pool_run(struct relay_session *s)
{
	for (unsigned i = 0; i < s->count; i++) {
		struct smtp_job *job = &s->jobs[i];

		memset(job, 0, sizeof(*job));
		job->sender = s->envelopes[i].sender;
		job->recipient = s->envelopes[i].recipient;
		job->data = s->messages[i].data;
		job->length = s->messages[i].length;
		job->result = &s->results[i];
	}
	smtp_pool_run(s->pool, s->jobs, s->count, &s->summary);
}

enum relay_status
relay_session_run(struct relay_session *s,
    struct relay_session_result *summary)
{
	struct relay_session_result *sum = &s->summary;
	struct timespec start, end;
	sigset_t saved;
	int pending, cut_short = 0, any_mail = 0;

	if (s->ran)
		goto out;
	memset(sum, 0, sizeof(*sum));
	s->ran = 1;
	if (s->count == 0)
		goto out;
	if (s->pool) {
		clock_gettime(CLOCK_MONOTONIC, &start);
		relay_pool_run(s);
		clock_gettime(CLOCK_MONOTONIC, &end);
		relay_tally(s);
		sum->seconds = relay_elapsed(&start, &end);
		goto out;
	}

	s->fd = -1;
	s->connected = 0;
	s->nodelay = 0;
	s->line_length = 0;
	s->greeting_code = 0;
	s->greeting[0] = '\0';
	s->last_code = 0;
	s->last_reply[0] = '\0';
	s->error_code = 0;
	s->error_reply[0] = '\0';
	s->closing = 0;
	s->closing_reply[0] = '\0';
	s->tls_error[0] = '\0';
	s->auth_in_progress = 0;
	s->authenticated = 0;
	s->auth_code = 0;
	s->auth_reply[0] = '\0';
	s->held_back = 0;
	/* The array no longer moves: the callbacks may point into it. */
	for (unsigned i = 0; i < s->count; i++) {
		s->messages[i].session = s;
		smtp_set_messagecb(s->messages[i].message, relay_read_message,
		    &s->messages[i]);
	}

	clock_gettime(CLOCK_MONOTONIC, &start);
	relay_touch(s);
	relay_block_sigpipe(&saved, &pending);
	smtp_start_session(s->smtp);
	relay_restore_sigpipe(&saved, pending);
	clock_gettime(CLOCK_MONOTONIC, &end);

	for (unsigned i = 0; i < s->count; i++) {
		struct relay_result *r = &s->results[i];
		const smtp_status_t *mail =
		    smtp_reverse_path_status(s->messages[i].message);

		if (mail != NULL && mail->code != 0)
			any_mail = 1;
		cut_short |= relay_classify(&s->messages[i], r);
		/* Without AUTH nothing should have gone out (see the top);
		 * should the socket not have been found to stop it, a refusal
		 * of the unauthenticated message is not its own failure. */
		if (s->auth && !s->authenticated && r->outcome != RELAY_SENT) {
			r->outcome = RELAY_NOT_ATTEMPTED;
			r->stage = RELAY_STAGE_NONE;
			r->code = 0;
			cut_short = 1;
		}
	}
	if (!s->connected)
		relay_connect_status(s);
	else
		relay_connected_status(s, cut_short, any_mail);
	relay_tally(s);
	sum->nodelay = s->nodelay;
	sum->seconds = relay_elapsed(&start, &end);

	smtp_destroy_session(s->smtp);
	s->smtp = NULL;
out:
	if (summary)
		*summary = *sum;
	return sum->status;
}

void
relay_session_on_progress(struct relay_session *s, relay_progress_fn *fn,
    void *arg)
{
	s->progress = fn;
	s->progress_arg = arg;
	if (s->pool)
		smtp_pool_on_progress(s->pool, fn, arg);
}
