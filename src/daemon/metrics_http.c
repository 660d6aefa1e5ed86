/*
 * metrics_http.c - the monitor's /metrics HTTP server (see
 * metrics_http.h).
 *
 * A connection reads its request head into a fixed buffer, gets its
 * whole answer built at once, writes it as the socket takes it and is
 * closed; one timer per connection bounds all of that.
 */
#include "metrics_http.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct metrics_http_connection {
	struct metrics_http *http;
	struct metrics_http_connection *prev, *next;
	int fd;
	ev_io io;
	ev_timer timer;
	char request[METRICS_HTTP_REQUEST_MAX + 1];
	size_t request_length;
	struct buf answer;
	size_t written;
};

struct metrics_http {
	struct ev_loop *loop;
	int listen_fd;
	ev_io accept_io;
	const char *content_type;
	metrics_http_page_fn *page_fn;
	void *page_arg;
	struct buf page;		/* reused from one GET to the next */
	struct metrics_http_connection *connections;
	unsigned connection_count;
};

static void metrics_http_accept(struct ev_loop *loop, ev_io *io, int events);

static void
metrics_http_close(struct metrics_http_connection *c)
{
	struct metrics_http *http = c->http;

	ev_io_stop(http->loop, &c->io);
	ev_timer_stop(http->loop, &c->timer);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		http->connections = c->next;
	if (c->next)
		c->next->prev = c->prev;
	buf_free(&c->answer);
	free(c);
	/* Below the limit again: take the next waiting connection. */
	if (http->connection_count-- == METRICS_HTTP_CONNECTIONS)
		ev_io_start(http->loop, &http->accept_io);
}

static void
metrics_http_timed_out(struct ev_loop *loop, ev_timer *timer, int events)
{
	(void)loop, (void)events;
	metrics_http_close(timer->data);
}

/* The whole answer: status line, headers, and body unless HEAD. */
static void
metrics_http_answer(struct metrics_http_connection *c, const char *status,
    const char *extra_header, const char *content_type, const char *body,
    size_t body_length, int head_only)
{
	buf_printf(&c->answer, "HTTP/1.1 %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n"
	    "Connection: close\r\n"
	    "%s"
	    "\r\n", status, content_type, body_length, extra_header);
	if (!head_only)
		buf_append(&c->answer, body, body_length);
}

static void
metrics_http_error(struct metrics_http_connection *c, const char *status,
    const char *extra_header)
{
	struct buf body = BUF_INIT;

	buf_printf(&body, "%s\n", status);
	metrics_http_answer(c, status, extra_header, "text/plain; "
	    "charset=utf-8", body.data, body.len, 0);
	buf_free(&body);
}

/* Decides the answer to a complete request head. */
static void
metrics_http_respond(struct metrics_http_connection *c)
{
	struct metrics_http *http = c->http;
	char *method = c->request, *target, *version, *end;
	int head_only;

	end = strpbrk(c->request, "\r\n");
	*end = '\0';
	target = strchr(method, ' ');
	version = target ? strchr(target + 1, ' ') : NULL;
	if (target == NULL || version == NULL ||
	    strncmp(version + 1, "HTTP/1.", 7) != 0) {
		metrics_http_error(c, "400 Bad Request", "");
		return;
	}
	*target++ = '\0';
	*version = '\0';
	target[strcspn(target, "?")] = '\0';
	head_only = strcmp(method, "HEAD") == 0;
	if (!head_only && strcmp(method, "GET") != 0)
		metrics_http_error(c, "405 Method Not Allowed",
		    "Allow: GET, HEAD\r\n");
	else if (strcmp(target, "/metrics") != 0)
		metrics_http_error(c, "404 Not Found", "");
	else {
		buf_reset(&http->page);
		http->page_fn(&http->page, http->page_arg);
		metrics_http_answer(c, "200 OK", "", http->content_type,
		    buf_str(&http->page), http->page.len, head_only);
	}
}

static void
metrics_http_write(struct metrics_http_connection *c)
{
	while (c->written < c->answer.len) {
		ssize_t n = send(c->fd, c->answer.data + c->written,
		    c->answer.len - c->written, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;		/* the rest when it is writable */
		if (n <= 0) {
			metrics_http_close(c);
			return;
		}
		c->written += (size_t)n;
	}
	/* Our side is done; the client sees the end of the answer. */
	shutdown(c->fd, SHUT_WR);
	metrics_http_close(c);
}

static void
metrics_http_read(struct metrics_http_connection *c)
{
	ssize_t n;

	n = recv(c->fd, c->request + c->request_length,
	    METRICS_HTTP_REQUEST_MAX - c->request_length, 0);
	if (n < 0 && (errno == EINTR || errno == EAGAIN ||
	    errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		metrics_http_close(c);
		return;
	}
	c->request_length += (size_t)n;
	c->request[c->request_length] = '\0';
	/* A head may hold a NUL; then it is not text and not HTTP. */
	if (strlen(c->request) != c->request_length)
		metrics_http_error(c, "400 Bad Request", "");
	else if (strstr(c->request, "\r\n\r\n") || strstr(c->request,
	    "\n\n"))
		metrics_http_respond(c);
	else if (c->request_length == METRICS_HTTP_REQUEST_MAX)
		metrics_http_error(c, "431 Request Header Fields Too Large",
		    "");
	else
		return;		/* the rest of the head is still coming */
	ev_io_stop(c->http->loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_WRITE);
	ev_io_start(c->http->loop, &c->io);
	metrics_http_write(c);
}

static void
metrics_http_ready(struct ev_loop *loop, ev_io *io, int events)
{
	struct metrics_http_connection *c = io->data;

	(void)loop;
	if (events & EV_WRITE)
		metrics_http_write(c);
	else
		metrics_http_read(c);
}

static void
metrics_http_accept(struct ev_loop *loop, ev_io *io, int events)
{
	struct metrics_http *http = io->data;

	(void)events;
	while (http->connection_count < METRICS_HTTP_CONNECTIONS) {
		struct metrics_http_connection *c;
		int fd = accept4(http->listen_fd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				msg_warn("monitor: metrics_listen: accept: %s",
				    strerror(errno));
			return;
		}
		c = xcalloc(1, sizeof(*c));
		c->http = http;
		c->fd = fd;
		c->next = http->connections;
		if (c->next)
			c->next->prev = c;
		http->connections = c;
		http->connection_count++;
		ev_io_init(&c->io, metrics_http_ready, fd, EV_READ);
		c->io.data = c;
		ev_io_start(loop, &c->io);
		ev_timer_init(&c->timer, metrics_http_timed_out,
		    METRICS_HTTP_TIMEOUT, 0.);
		c->timer.data = c;
		ev_timer_start(loop, &c->timer);
	}
	/* At the limit: the others wait in the listen queue. */
	ev_io_stop(loop, io);
}

struct metrics_http *
metrics_http_start(struct ev_loop *loop, int listen_fd,
    const char *content_type, metrics_http_page_fn *page, void *arg)
{
	struct metrics_http *http = xcalloc(1, sizeof(*http));

	http->loop = loop;
	http->listen_fd = listen_fd;
	http->content_type = content_type;
	http->page_fn = page;
	http->page_arg = arg;
	ev_io_init(&http->accept_io, metrics_http_accept, listen_fd, EV_READ);
	http->accept_io.data = http;
	ev_io_start(loop, &http->accept_io);
	return http;
}

void
metrics_http_stop(struct metrics_http *http)
{
	if (http == NULL)
		return;
	/* Closing a connection may start accepting again: stop after. */
	while (http->connections)
		metrics_http_close(http->connections);
	ev_io_stop(http->loop, &http->accept_io);
	buf_free(&http->page);
	free(http);
}
