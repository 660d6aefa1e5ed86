/*
 * listen_address.h - the IPV4:PORT or [IPV6]:PORT a service listens on.
 *
 * herald-web (web_listen) and heraldd's monitor (metrics_listen) take
 * the same kind of value; this is the one place that reads it, and that
 * opens a listening socket on it for those that do not leave it to a
 * library.
 */
#ifndef HERALD_LISTEN_ADDRESS_H
#define HERALD_LISTEN_ADDRESS_H

#include <sys/socket.h>

#include "buf.h"

/*
 * Parses text, IPV4:PORT or [IPV6]:PORT with a numeric address, into
 * addr. key names the configuration key in the error. -1 with what is
 * wrong in err.
 */
int listen_address_parse(const char *key, const char *text,
    struct sockaddr_storage *addr, struct buf *err);

/*
 * Parses text as above and returns a non-blocking, close-on-exec TCP
 * socket listening on it (SO_REUSEADDR, so a restarted daemon can bind
 * at once); the caller closes it. -1 with the reason in err.
 */
int listen_address_open(const char *key, const char *text, struct buf *err);

#endif
