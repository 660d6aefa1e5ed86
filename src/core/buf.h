/*
 * buf.h - growable byte buffers, the one place where herald grows memory.
 *
 * A buf owns its bytes; data is always NUL-terminated (the NUL is not
 * counted in len) so it can be handed to C string functions, but it may
 * also hold NULs. buf_reset() keeps the allocation, so a buffer reused on
 * the hot path stops allocating once it has reached its working size.
 * Allocation failure is fatal (msg_fatal): a mailer that cannot allocate
 * a few kilobytes cannot do anything useful either.
 */
#ifndef HERALD_BUF_H
#define HERALD_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;		/* NUL-terminated; NULL until first growth */
	size_t len;		/* bytes in use, not counting the NUL */
	size_t cap;		/* bytes allocated */
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_free(struct buf *b);

/* Empties the buffer but keeps its memory for reuse. */
static inline void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Makes room for at least extra more bytes (plus the NUL). */
void buf_reserve(struct buf *b, size_t extra);

void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);

/* Returns the contents as a C string ("" when empty); owned by b. */
static inline const char *
buf_str(const struct buf *b)
{
	return b->data ? b->data : "";
}

/* Hands the allocation to the caller (who frees it) and empties b. */
char *buf_steal(struct buf *b);

/* Checked allocation helpers: never return NULL. */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t len);

#endif
