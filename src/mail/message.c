/*
 * message.c - headers and MIME structure of a message (see message.h).
 */
#include "message.h"

#include <string.h>
#include <strings.h>

#include "encode.h"

#define BOUNDARY "=_herald_alternative"

/* Headers herald writes itself: a template may not add a second one. */
static const char *const reserved_headers[] = {
	"from", "to", "cc", "bcc", "subject", "date", "message-id",
	"mime-version", "reply-to", "sender", "return-path",
	"list-unsubscribe", "list-unsubscribe-post", "feedback-id",
	"content-type", "content-transfer-encoding", "content-disposition",
	NULL
};

static int
header_name_char(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* Length of the header name opening line, 0 when it has none. */
static size_t
header_name_length(const char *line, size_t length)
{
	size_t n = 0;

	while (n < length && header_name_char((unsigned char)line[n]))
		n++;
	return n < length && line[n] == ':' ? n : 0;
}

int
message_check_extra_headers(const char *text, size_t length,
    struct buf *why)
{
	size_t start = 0;
	unsigned line = 0;

	while (start < length) {
		const char *nl = memchr(text + start, '\n', length - start);
		size_t end = nl ? (size_t)(nl - text) : length, name;

		line++;
		if (end > start && text[end - 1] == '\r')
			end--;
		if (end > start) {
			name = header_name_length(text + start, end - start);
			if (name == 0) {
				buf_printf(why, "line %u: expected \"Name: "
				    "value\"", line);
				return -1;
			}
			if (strncasecmp(text + start, "content-", 8) == 0)
				name = 0;
			for (unsigned i = 0; name && reserved_headers[i]; i++)
				if (strlen(reserved_headers[i]) == name &&
				    strncasecmp(text + start,
				    reserved_headers[i], name) == 0)
					name = 0;
			if (name == 0) {
				buf_printf(why, "line %u: herald writes this "
				    "header itself; remove it", line);
				return -1;
			}
		}
		start = (nl ? (size_t)(nl - text) : length) + 1;
	}
	return 0;
}

/* "Name: " + value as unstructured text. */
static void
header_text(struct buf *out, const char *name, const char *value,
    size_t length)
{
	size_t column = strlen(name) + 2;

	buf_append_str(out, name);
	buf_append(out, ": ", 2);
	encode_header_text(value, length, column, out);
	buf_append(out, "\r\n", 2);
}

/* "Name: phrase <address>" or "Name: address". The address was checked
 * by the caller; control characters are dropped all the same. */
static void
header_mailbox(struct buf *out, const char *name, const char *display,
    const char *address)
{
	size_t column = strlen(name) + 2;

	buf_append_str(out, name);
	buf_append(out, ": ", 2);
	if (display[0]) {
		size_t line_start = out->len, i;

		encode_phrase(display, strlen(display), column, out);
		/* Fold before the address only when the line would be long. */
		for (i = out->len; i > line_start; i--)
			if (out->data[i - 1] == '\n')
				break;
		column = (i == line_start ? column : 0) + out->len - i;
		if (column + strlen(address) + 3 > 78)
			buf_append(out, "\r\n <", 4);
		else
			buf_append(out, " <", 2);
	}
	for (const char *p = address; *p; p++)
		if ((unsigned char)*p > 32 && *p != 127 && *p != '<' &&
		    *p != '>')
			buf_append_char(out, *p);
	if (display[0])
		buf_append_char(out, '>');
	buf_append(out, "\r\n", 2);
}

static void
extra_headers(struct buf *out, const char *text, size_t length)
{
	size_t start = 0;

	while (start < length) {
		const char *nl = memchr(text + start, '\n', length - start);
		size_t end = nl ? (size_t)(nl - text) : length, name;

		if (end > start && text[end - 1] == '\r')
			end--;
		name = header_name_length(text + start, end - start);
		if (name) {
			size_t value = start + name + 1;

			while (value < end && (text[value] == ' ' ||
			    text[value] == '\t'))
				value++;
			buf_append(out, text + start, name);
			buf_append(out, ": ", 2);
			encode_header_text(text + value, end - value,
			    name + 2, out);
			buf_append(out, "\r\n", 2);
		}
		start = (nl ? (size_t)(nl - text) : length) + 1;
	}
}

static void
body_part(struct buf *out, const char *subtype, const char *text,
    size_t length, struct buf *scratch)
{
	buf_printf(out, "Content-Type: text/%s; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", subtype);
	buf_reset(scratch);
	encode_utf8_clean(text, length, scratch);
	encode_quoted_printable(buf_str(scratch), scratch->len, out);
	/* The part ends with a line break, so the boundary or the end of
	 * DATA always starts a line of its own. */
	if (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2))
		buf_append(out, "\r\n", 2);
}

void
message_build(const struct message_fields *f, struct buf *out,
    struct buf *scratch)
{
	struct tm tm;
	char date[64];

	gmtime_r(&f->date, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_printf(out, "Date: %s\r\n", date);
	header_mailbox(out, "From", f->from_name, f->from_address);
	header_mailbox(out, "To", f->to_name, f->to_address);
	if (f->reply_to[0])
		header_mailbox(out, "Reply-To", "", f->reply_to);
	header_text(out, "Subject", f->subject, f->subject_length);
	buf_printf(out, "Message-ID: <%s>\r\nMIME-Version: 1.0\r\n",
	    f->message_id);
	if (f->unsubscribe_url[0] || f->unsubscribe_mailto[0]) {
		buf_append_str(out, "List-Unsubscribe: ");
		if (f->unsubscribe_url[0])
			buf_printf(out, "<%s>", f->unsubscribe_url);
		if (f->unsubscribe_url[0] && f->unsubscribe_mailto[0])
			buf_append_str(out, ",\r\n ");
		if (f->unsubscribe_mailto[0])
			buf_printf(out, "<%s>", f->unsubscribe_mailto);
		buf_append(out, "\r\n", 2);
		/* RFC 8058: one-click needs the https URL. */
		if (f->unsubscribe_url[0])
			buf_append_str(out, "List-Unsubscribe-Post: "
			    "List-Unsubscribe=One-Click\r\n");
	}
	if (f->feedback_id[0])
		header_text(out, "Feedback-ID", f->feedback_id,
		    strlen(f->feedback_id));
	extra_headers(out, f->extra_headers, f->extra_headers_length);
	if (f->text && f->html) {
		buf_append_str(out, "Content-Type: multipart/alternative; "
		    "boundary=\"" BOUNDARY "\"\r\n\r\n"
		    "This is a multi-part message in MIME format.\r\n"
		    "--" BOUNDARY "\r\n");
		body_part(out, "plain", f->text, f->text_length, scratch);
		buf_append_str(out, "--" BOUNDARY "\r\n");
		body_part(out, "html", f->html, f->html_length, scratch);
		buf_append_str(out, "--" BOUNDARY "--\r\n");
	} else if (f->html) {
		body_part(out, "html", f->html, f->html_length, scratch);
	} else {
		body_part(out, "plain", f->text ? f->text : "",
		    f->text ? f->text_length : 0, scratch);
	}
}
