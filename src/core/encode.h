/*
 * encode.h - the transfer encodings a message is written in.
 *
 * Every function appends to out and produces only what SMTP can carry
 * safely: lines end in CRLF, no line exceeds 998 octets, no bare CR or
 * LF and no NUL ever appear, whatever the input holds. Input text is
 * taken as UTF-8; an invalid sequence becomes U+FFFD, so what reaches a
 * recipient is always valid UTF-8 (RFC 6532 aside, headers stay ASCII).
 *
 *	encode_utf8_clean	valid UTF-8 copy; NUL and invalid bytes
 *				replaced by U+FFFD
 *	encode_quoted_printable	RFC 2045 body: every input line break
 *				(LF, CRLF or a lone CR) becomes CRLF, lines
 *				soft-broken at 76 columns
 *	encode_header_text	an unstructured header value (Subject):
 *				ASCII folded at spaces, otherwise RFC 2047
 *				encoded words; CR, LF, NUL become spaces
 *	encode_phrase		a display name: atoms as is, a quoted
 *				string when it holds specials, encoded
 *				words when it is not ASCII
 */
#ifndef HERALD_ENCODE_H
#define HERALD_ENCODE_H

#include <stddef.h>

#include "buf.h"

void encode_utf8_clean(const char *in, size_t length, struct buf *out);

/* 1 when in is valid UTF-8 with no NUL (what encode_utf8_clean keeps). */
int encode_utf8_valid(const char *in, size_t length);

/* Length (1 to 4) of the valid UTF-8 sequence at s, of at most left
 * bytes; 0 when the bytes there are not one. */
size_t encode_utf8_length(const char *s, size_t left);

void encode_quoted_printable(const char *in, size_t length, struct buf *out);

/*
 * column is where the value starts on its header line ("Subject: " is
 * 9), so the first line's length is counted right.
 */
void encode_header_text(const char *in, size_t length, size_t column,
    struct buf *out);

void encode_phrase(const char *in, size_t length, size_t column,
    struct buf *out);

/* Base64 (RFC 4648 section 4 when url is 0, section 5 without padding
 * when url is 1), on one line. */
void encode_base64(const unsigned char *in, size_t length, int url,
    struct buf *out);

/* A JSON string literal for length bytes of s (quotes included). */
void encode_json_string(struct buf *out, const char *s, size_t length);

/* Decodes RFC 4648 base64url without padding; -1 on a bad character. */
int decode_base64url(const char *in, size_t length, struct buf *out);

#endif
