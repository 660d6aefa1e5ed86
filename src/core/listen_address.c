/*
 * listen_address.c - parsing a listen address and listening on it (see
 * listen_address.h).
 */
#include "listen_address.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
listen_address_parse(const char *key, const char *text,
    struct sockaddr_storage *addr, struct buf *err)
{
	struct addrinfo hints = { 0 }, *found = NULL;
	const char *given = text;
	char host[64];
	const char *port, *end;
	size_t length;
	int rc;

	if (text[0] == '[') {
		end = strchr(text, ']');
		port = end && end[1] == ':' ? end + 2 : NULL;
		text++;
	} else {
		end = strrchr(text, ':');
		port = end ? end + 1 : NULL;
	}
	length = end ? (size_t)(end - text) : 0;
	if (port == NULL || length == 0 || length >= sizeof(host) ||
	    port[0] == '\0' || strspn(port, "0123456789") != strlen(port) ||
	    atoi(port) < 1 || atoi(port) > 65535) {
		buf_printf(err, "%s \"%s\": expected IPV4:PORT or "
		    "[IPV6]:PORT, for example 127.0.0.1:8025", key, given);
		return -1;
	}
	memcpy(host, text, length);
	host[length] = '\0';
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &found);
	if (rc != 0) {
		buf_printf(err, "%s: \"%s\" is not an IP address (%s)", key,
		    host, gai_strerror(rc));
		return -1;
	}
	memcpy(addr, found->ai_addr, found->ai_addrlen);
	freeaddrinfo(found);
	return 0;
}

int
listen_address_open(const char *key, const char *text, struct buf *err)
{
	struct sockaddr_storage addr = { 0 };
	socklen_t length;
	int fd, on = 1;

	if (listen_address_parse(key, text, &addr, err) != 0)
		return -1;
	length = addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		buf_printf(err, "cannot listen on %s (%s): socket: %s", text,
		    key, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&addr, length) != 0 ||
	    listen(fd, 16) != 0) {
		buf_printf(err, "cannot listen on %s (%s): %s", text, key,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
