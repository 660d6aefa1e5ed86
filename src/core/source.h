/*
 * source.h - bytes from a file or from any URL libcurl reads (http,
 * https, ftp, sftp, file), pulled chunk by chunk.
 *
 * A file is read with read(2); a URL is a libcurl transfer driven
 * through the multi interface, so that reading is a pull: no thread, no
 * buffering beyond one chunk, files over 4 GB included. An HTTP error
 * status is a transfer error, not data. Used by the recipient import
 * (import.h) and the conversion import (conversion.h).
 */
#ifndef HERALD_SOURCE_H
#define HERALD_SOURCE_H

#include <curl/curl.h>

#include "buf.h"

#define SOURCE_CHUNK 65536

struct source {
	int fd;
	CURLM *multi;
	CURL *easy;
	struct buf chunk;
	int running;
	long long size;		/* -1 when unknown */
	char curl_error[CURL_ERROR_SIZE];
};

/* Opens source: a path, or a URL when it holds "://". -1 with the
 * reason in err. Close with source_close() either way. */
int source_open(struct source *s, const char *source, struct buf *err);

/*
 * Appends the next bytes to out: >0 when some came, 0 at the end, -1
 * with err set on a read or transfer error (name names the source).
 */
int source_pull(struct source *s, const char *name, struct buf *out,
    struct buf *err);

void source_close(struct source *s);

#endif
