/*
 * gmetric.h - publishing metrics to a Ganglia gmond, as gmetric does.
 *
 * Ganglia 3.1+ speaks XDR over UDP: a metric is announced by a metadata
 * packet (type, units, slope, tmax, dmax, group, title, description) and
 * then updated by value packets. gmond drops values of a metric whose
 * metadata it has not seen (after its own restart, say), so the monitor
 * sends the metadata with every value; at one pair of small datagrams per
 * metric per interval that costs nothing.
 *
 * Sending never blocks and never fails loudly: a gmond that is down, slow
 * or unreachable loses the datagrams and nothing else (gmetric_send()
 * reports the error for a rate-limited log line). We write the protocol
 * rather than link libganglia: the packets are a few dozen bytes of XDR,
 * and libganglia would bring APR and libconfuse and calls exit(1) on a
 * bad gmond.conf.
 */
#ifndef HERALD_GMETRIC_H
#define HERALD_GMETRIC_H

#include "buf.h"

/* Ganglia's slopes: how the value moves (for RRD data source types). */
enum gmetric_slope {
	GMETRIC_SLOPE_ZERO = 0,		/* a constant */
	GMETRIC_SLOPE_POSITIVE = 1,	/* a counter */
	GMETRIC_SLOPE_NEGATIVE = 2,
	GMETRIC_SLOPE_BOTH = 3,		/* a gauge */
};

struct gmetric_definition {
	const char *name;		/* letters, digits, '_', '.', '-' */
	const char *units;		/* "messages/s" */
	enum gmetric_slope slope;
	unsigned tmax;			/* expected seconds between values */
	unsigned dmax;			/* forget it after this; 0 = never */
	const char *group;		/* "herald" */
	const char *title;		/* for ganglia-web */
	const char *description;
};

/* The XDR packets (host is this node's name; spoof is off, so gmond
 * files the metric under the sender's address). */
void gmetric_encode_metadata(struct buf *out, const char *host,
    const struct gmetric_definition *def);
void gmetric_encode_double(struct buf *out, const char *host,
    const char *name, double value);

struct gmetric_sender {
	int fd;				/* connected UDP socket; -1 = none */
	char where[300];		/* "host:port", for messages */
	char host[256];			/* our own name in the packets */
};

/*
 * Opens a non-blocking UDP socket towards host:port. -1 with the reason
 * in err (unknown host, say).
 */
int gmetric_open(struct gmetric_sender *sender, const char *host, long port,
    struct buf *err);
void gmetric_close(struct gmetric_sender *sender);

/* Sends the metadata and the value of one metric. 0, or -1 with the
 * reason in err (the datagrams are dropped, nothing is retried). */
int gmetric_send(struct gmetric_sender *sender,
    const struct gmetric_definition *def, double value, struct buf *err);

/*
 * Reads the host and port of the first udp_send_channel of a gmond
 * configuration file (its "host" or "mcast_join", and "port"), as
 * gmetric --conf does. host gets at most host_size bytes. 0, or -1 with
 * "FILE:LINE: ..." or "FILE: no udp_send_channel" in err.
 */
int gmetric_read_gmond_conf(const char *path, char *host, size_t host_size,
    long *port, struct buf *err);

#endif
