/*
 * source.c - bytes from a file or a URL (see source.h).
 */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t
source_write(char *data, size_t size, size_t n, void *arg)
{
	struct source *s = arg;

	buf_append(&s->chunk, data, size * n);
	return size * n;
}

int
source_open(struct source *s, const char *source, struct buf *err)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->size = -1;
	if (strstr(source, "://") == NULL) {
		s->fd = open(source, O_RDONLY | O_CLOEXEC);
		if (s->fd < 0) {
			buf_printf(err, "%s: cannot read: %s", source,
			    strerror(errno));
			return -1;
		}
		if (fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode))
			s->size = st.st_size;
		return 0;
	}
	s->easy = curl_easy_init();
	s->multi = curl_multi_init();
	if (s->easy == NULL || s->multi == NULL) {
		buf_printf(err, "%s: libcurl could not start", source);
		return -1;
	}
	curl_easy_setopt(s->easy, CURLOPT_URL, source);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, source_write);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->curl_error);
	/* An HTTP error page is not data. */
	curl_easy_setopt(s->easy, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(s->easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(s->easy, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A transfer slower than 1 byte/s for a minute is dead. */
	curl_easy_setopt(s->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(s->easy, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_multi_add_handle(s->multi, s->easy);
	s->running = 1;
	return 0;
}

int
source_pull(struct source *s, const char *name, struct buf *out,
    struct buf *err)
{
	if (s->fd >= 0) {
		ssize_t n;

		buf_reserve(out, SOURCE_CHUNK);
		n = read(s->fd, out->data + out->len, SOURCE_CHUNK);
		if (n < 0) {
			buf_printf(err, "%s: read error: %s", name,
			    strerror(errno));
			return -1;
		}
		out->len += (size_t)n;
		out->data[out->len] = '\0';
		return n > 0;
	}
	while (s->chunk.len == 0 && s->running) {
		CURLMcode mc = curl_multi_perform(s->multi, &s->running);

		if (mc == CURLM_OK && s->chunk.len == 0 && s->running)
			mc = curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK) {
			buf_printf(err, "%s: transfer failed: %s", name,
			    curl_multi_strerror(mc));
			return -1;
		}
	}
	if (s->size < 0) {
		curl_off_t length = -1;

		curl_easy_getinfo(s->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
		    &length);
		if (length >= 0)
			s->size = length;
	}
	if (s->chunk.len) {
		buf_append(out, s->chunk.data, s->chunk.len);
		buf_reset(&s->chunk);
		return 1;
	}
	{
		int pending;
		CURLMsg *m = curl_multi_info_read(s->multi, &pending);

		if (m && m->msg == CURLMSG_DONE && m->data.result != CURLE_OK) {
			buf_printf(err, "%s: %s", name, s->curl_error[0] ?
			    s->curl_error : curl_easy_strerror(m->data.result));
			return -1;
		}
	}
	return 0;
}

void
source_close(struct source *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->multi && s->easy)
		curl_multi_remove_handle(s->multi, s->easy);
	if (s->easy)
		curl_easy_cleanup(s->easy);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	buf_free(&s->chunk);
}
