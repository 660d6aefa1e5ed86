/*
 * metrics_http.h - the HTTP server heraldd's monitor answers scrapers
 * with (GET /metrics, metrics_listen), on the monitor's libev loop.
 *
 * It is our own, a few hundred lines, rather than libmicrohttpd (which
 * herald-web uses): it answers one path with one page and closes the
 * connection, so it needs no HTTP/1.1 keep-alive, chunking, bodies or
 * threads, and heraldd, which holds the sending database account,
 * links no HTTP library and no code it does not use. Everything a
 * client can make it hold is bounded:
 *
 *	METRICS_HTTP_CONNECTIONS connections at once; more wait in the
 *		kernel's listen queue until one closes;
 *	METRICS_HTTP_REQUEST_MAX bytes of request head (431 beyond);
 *	METRICS_HTTP_TIMEOUT seconds for a connection from accept to the
 *		last byte of the answer, whatever the client does.
 *
 * Answers: 200 with the page for GET or HEAD /metrics (a query string
 * is ignored), 404 for another path, 405 for another method, 400 for a
 * request line that is not HTTP. Every answer closes the connection.
 */
#ifndef HERALD_METRICS_HTTP_H
#define HERALD_METRICS_HTTP_H

#include <ev.h>

#include "buf.h"

#define METRICS_HTTP_CONNECTIONS 8
#define METRICS_HTTP_REQUEST_MAX 8192
#define METRICS_HTTP_TIMEOUT 10.0

/* Appends the current page to page (empty when called), for a GET. */
typedef void metrics_http_page_fn(struct buf *page, void *arg);

struct metrics_http;

/*
 * Serves listen_fd (a listening, non-blocking socket: listen_address.h)
 * in loop, calling page for every GET /metrics. The socket stays the
 * caller's. Never fails: what goes wrong with one connection closes it.
 */
struct metrics_http *metrics_http_start(struct ev_loop *loop, int listen_fd,
    const char *content_type, metrics_http_page_fn *page, void *arg);

/* Closes every connection, stops listening and frees http. */
void metrics_http_stop(struct metrics_http *http);

#endif
