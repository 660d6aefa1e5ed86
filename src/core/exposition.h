/*
 * exposition.h - writing metrics in the Prometheus text exposition
 * format (version 0.0.4, which OpenMetrics scrapers also accept).
 *
 * A page is a sequence of families: exposition_family() writes a
 * family's "# HELP" and "# TYPE" lines once, then exposition_sample()
 * writes each of its samples, with labels. Label values and help text
 * are escaped as the format requires (backslash, double quote in
 * values, newline), so any relay, mailing or domain name is safe to
 * pass. Metric and label names are the caller's constants.
 */
#ifndef HERALD_EXPOSITION_H
#define HERALD_EXPOSITION_H

#include "buf.h"

enum exposition_type {
	EXPOSITION_COUNTER,	/* only goes up; name ends in _total */
	EXPOSITION_GAUGE,	/* goes up and down */
};

/* The media type of a page, for Content-Type. */
#define EXPOSITION_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Writes the # HELP and # TYPE lines of family name to page. */
void exposition_family(struct buf *page, const char *name,
    enum exposition_type type, const char *help);

/*
 * Writes one sample of name with value. labels holds label_count pairs,
 * name then value: { "node", "n1", "relay", "127.0.0.1:25" }.
 */
void exposition_sample(struct buf *page, const char *name,
    const char *const *labels, unsigned label_count, double value);

#endif
