/*
 * message.h - assembling one complete RFC 5322 / MIME message.
 *
 * message_build() writes the headers and the body of a message from its
 * already rendered parts. Whatever the parts contain, the result has
 * every line ending in CRLF and at most 998 octets, no bare CR or LF, no
 * NUL, headers in ASCII (RFC 2047 words for anything else) and bodies
 * in quoted-printable UTF-8, so no recipient's data can add a header,
 * end the DATA phase early or be mis-decoded.
 *
 * The body is text/plain, text/html, or multipart/alternative with the
 * text part first when both are given. The boundary starts with "=_",
 * which quoted-printable output can never contain.
 */
#ifndef HERALD_MESSAGE_H
#define HERALD_MESSAGE_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

struct message_fields {
	const char *from_name;		/* display names: "" for none */
	const char *from_address;
	const char *to_name;
	const char *to_address;
	const char *reply_to;		/* "" for none */
	const char *subject;		/* rendered, any bytes */
	size_t subject_length;
	time_t date;
	const char *message_id;		/* without the angle brackets */
	const char *unsubscribe_url;	/* full https URL, "" for none */
	const char *unsubscribe_mailto;	/* full mailto: URI, "" for none */
	const char *feedback_id;	/* "" for none */
	/* Rendered "Name: value" lines (LF or CRLF separated); names were
	 * checked by message_check_extra_headers(). */
	const char *extra_headers;
	size_t extra_headers_length;
	const char *text;		/* NULL when there is no text part */
	size_t text_length;
	const char *html;		/* NULL when there is no HTML part */
	size_t html_length;
};

/* Appends the message to out (which it does not reset). scratch is a
 * caller's buffer reused for intermediate text. */
void message_build(const struct message_fields *f, struct buf *out,
    struct buf *scratch);

/*
 * Checks extra header lines: each non-blank line "Name: value" with a
 * name of RFC 5322 field characters that herald does not write itself
 * (From, To, Subject, Date, Message-ID, MIME-Version, Content-*,
 * List-Unsubscribe*, Return-Path, ...). -1 with "line N: reason" in why.
 */
int message_check_extra_headers(const char *text, size_t length,
    struct buf *why);

#endif
