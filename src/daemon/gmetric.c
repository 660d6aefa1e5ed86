/*
 * gmetric.c - Ganglia's gmetric protocol (see gmetric.h).
 *
 * The packets follow Ganglia's lib/gm_protocol.x: every field is XDR,
 * big-endian 32-bit units, strings as a length and bytes padded to four.
 */
#include "gmetric.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Ganglia_msg_formats */
#define GMETADATA_FULL 128
#define GMETRIC_DOUBLE 135

static void
xdr_u32(struct buf *out, uint32_t v)
{
	unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };

	buf_append(out, b, 4);
}

static void
xdr_string(struct buf *out, const char *s)
{
	static const char pad[4];
	size_t len = strlen(s);

	xdr_u32(out, (uint32_t)len);
	buf_append(out, s, len);
	buf_append(out, pad, (4 - len % 4) % 4);
}

static void
xdr_double(struct buf *out, double d)
{
	uint64_t bits;

	memcpy(&bits, &d, sizeof(bits));
	xdr_u32(out, (uint32_t)(bits >> 32));
	xdr_u32(out, (uint32_t)bits);
}

/* Ganglia_metric_id: host, name, spoof. */
static void
gmetric_encode_id(struct buf *out, const char *host, const char *name)
{
	xdr_string(out, host);
	xdr_string(out, name);
	xdr_u32(out, 0);
}

void
gmetric_encode_metadata(struct buf *out, const char *host,
    const struct gmetric_definition *def)
{
	const char *extra[3][2] = {
		{ "GROUP", def->group },
		{ "TITLE", def->title },
		{ "DESC", def->description },
	};
	uint32_t count = 0;

	xdr_u32(out, GMETADATA_FULL);
	gmetric_encode_id(out, host, def->name);
	xdr_string(out, "double");
	xdr_string(out, def->name);
	xdr_string(out, def->units);
	xdr_u32(out, (uint32_t)def->slope);
	xdr_u32(out, def->tmax);
	xdr_u32(out, def->dmax);
	for (unsigned i = 0; i < 3; i++)
		count += extra[i][1] != NULL;
	xdr_u32(out, count);
	for (unsigned i = 0; i < 3; i++) {
		if (extra[i][1] == NULL)
			continue;
		xdr_string(out, extra[i][0]);
		xdr_string(out, extra[i][1]);
	}
}

void
gmetric_encode_double(struct buf *out, const char *host, const char *name,
    double value)
{
	xdr_u32(out, GMETRIC_DOUBLE);
	gmetric_encode_id(out, host, name);
	xdr_string(out, "%.2f");
	xdr_double(out, value);
}

int
gmetric_open(struct gmetric_sender *sender, const char *host, long port,
    struct buf *err)
{
	struct addrinfo hints, *found = NULL;
	char service[16];
	int rc, fd = -1;

	sender->fd = -1;
	snprintf(sender->where, sizeof(sender->where), "%s:%ld", host, port);
	if (gethostname(sender->host, sizeof(sender->host)) != 0)
		snprintf(sender->host, sizeof(sender->host), "localhost");
	sender->host[sizeof(sender->host) - 1] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	snprintf(service, sizeof(service), "%ld", port);
	rc = getaddrinfo(host, service, &hints, &found);
	if (rc != 0) {
		buf_printf(err, "gmond %s: %s", sender->where,
		    gai_strerror(rc));
		return -1;
	}
	fd = socket(found->ai_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
		buf_printf(err, "gmond %s: %s", sender->where,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(found);
		return -1;
	}
	freeaddrinfo(found);
	sender->fd = fd;
	return 0;
}

void
gmetric_close(struct gmetric_sender *sender)
{
	if (sender->fd >= 0)
		close(sender->fd);
	sender->fd = -1;
}

static int
gmetric_send_packet(struct gmetric_sender *sender, const struct buf *packet,
    struct buf *err)
{
	/* A connected UDP socket reports an earlier datagram's ICMP
	 * "port unreachable" on a later send: gmond is not running. */
	if (send(sender->fd, packet->data, packet->len, MSG_DONTWAIT |
	    MSG_NOSIGNAL) < 0) {
		buf_printf(err, "gmond %s: %s", sender->where,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
gmetric_send(struct gmetric_sender *sender,
    const struct gmetric_definition *def, double value, struct buf *err)
{
	struct buf packet = BUF_INIT;
	int rc;

	if (sender->fd < 0) {
		buf_printf(err, "gmond: not open");
		return -1;
	}
	gmetric_encode_metadata(&packet, sender->host, def);
	rc = gmetric_send_packet(sender, &packet, err);
	buf_reset(&packet);
	gmetric_encode_double(&packet, sender->host, def->name, value);
	if (rc == 0)
		rc = gmetric_send_packet(sender, &packet, err);
	buf_free(&packet);
	return rc;
}

/*
 * A tokenizer for libconfuse files such as gmond.conf: words, quoted
 * strings, '{', '}', '='; comments with '#', '//' and C's block comments.
 */
struct conf_scanner {
	const char *p;
	unsigned line;
	char token[512];
};

static int
conf_next(struct conf_scanner *s)
{
	size_t n = 0;

	for (;;) {
		while (isspace((unsigned char)*s->p)) {
			if (*s->p == '\n')
				s->line++;
			s->p++;
		}
		if (*s->p == '#' || (s->p[0] == '/' && s->p[1] == '/')) {
			while (*s->p && *s->p != '\n')
				s->p++;
		} else if (s->p[0] == '/' && s->p[1] == '*') {
			for (s->p += 2; *s->p && !(s->p[0] == '*' &&
			    s->p[1] == '/'); s->p++)
				if (*s->p == '\n')
					s->line++;
			if (*s->p)
				s->p += 2;
		} else {
			break;
		}
	}
	if (*s->p == '\0')
		return 0;
	if (strchr("{}=,", *s->p)) {
		s->token[0] = *s->p++;
		s->token[1] = '\0';
		return 1;
	}
	if (*s->p == '"') {
		for (s->p++; *s->p && *s->p != '"' && *s->p != '\n'; s->p++)
			if (n + 1 < sizeof(s->token))
				s->token[n++] = *s->p;
		if (*s->p == '"')
			s->p++;
	} else {
		for (; *s->p && !isspace((unsigned char)*s->p) &&
		    !strchr("{}=,#\"", *s->p); s->p++)
			if (n + 1 < sizeof(s->token))
				s->token[n++] = *s->p;
	}
	s->token[n] = '\0';
	return 1;
}

static char *
gmetric_slurp(const char *path, struct buf *err)
{
	struct buf text = BUF_INIT;
	char chunk[4096];
	size_t got;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		buf_printf(err, "%s: %s (gmond_config)", path,
		    strerror(errno));
		return NULL;
	}
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&text, chunk, got);
	fclose(f);
	buf_append(&text, "", 0);
	if (text.data == NULL)
		return xstrdup("");
	return buf_steal(&text);
}

int
gmetric_read_gmond_conf(const char *path, char *host, size_t host_size,
    long *port, struct buf *err)
{
	struct conf_scanner s;
	char *text = gmetric_slurp(path, err);
	char key[64] = "";
	unsigned depth = 0, opened_line = 0;
	int in_channel = 0, done = 0, rc = -1;

	if (text == NULL)
		return -1;
	host[0] = '\0';
	*port = 8649;
	s.p = text;
	s.line = 1;
	while (!done && conf_next(&s)) {
		if (strcmp(s.token, "{") == 0) {
			if (depth == 0 && strcmp(key, "udp_send_channel") == 0)
			{
				in_channel = 1;
				opened_line = s.line;
			}
			depth++;
		} else if (strcmp(s.token, "}") == 0) {
			if (depth == 0) {
				buf_printf(err, "%s:%u: '}' without '{'", path,
				    s.line);
				goto out;
			}
			if (--depth == 0 && in_channel)
				done = 1;
		} else if (strcmp(s.token, "=") == 0) {
			if (!conf_next(&s)) {
				buf_printf(err, "%s:%u: a value was expected "
				    "after \"%s =\"", path, s.line, key);
				goto out;
			}
			if (in_channel && depth == 1 && (strcmp(key,
			    "host") == 0 || strcmp(key, "mcast_join") == 0)) {
				if (strlen(s.token) >= host_size) {
					buf_printf(err, "%s:%u: %s is too long",
					    path, s.line, key);
					goto out;
				}
				strcpy(host, s.token);
			} else if (in_channel && depth == 1 &&
			    strcmp(key, "port") == 0) {
				char *end;

				errno = 0;
				*port = strtol(s.token, &end, 10);
				if (*end || errno || *port < 1 ||
				    *port > 65535) {
					buf_printf(err, "%s:%u: port \"%s\" is "
					    "not a port number", path, s.line,
					    s.token);
					goto out;
				}
			}
		} else {
			/* Keys are short; a longer word is no key we use. */
			size_t len = strnlen(s.token, sizeof(key) - 1);

			memcpy(key, s.token, len);
			key[len] = '\0';
		}
	}
	if (!in_channel) {
		buf_printf(err, "%s: no udp_send_channel section (gmond_config)",
		    path);
	} else if (!done) {
		buf_printf(err, "%s:%u: udp_send_channel is not closed with "
		    "'}'", path, opened_line);
	} else if (host[0] == '\0') {
		buf_printf(err, "%s:%u: udp_send_channel has neither host nor "
		    "mcast_join", path, opened_line);
	} else {
		rc = 0;
	}
out:
	free(text);
	return rc;
}
