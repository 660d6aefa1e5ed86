/*
 * dsn.c - reading a delivery status notification or an abuse feedback
 * report (see dsn.h).
 *
 * Only what herald needs of MIME: the top-level headers, the boundary of
 * the multipart/report, the header-like field groups of its
 * message/delivery-status part (RFC 3464 section 2) or of its
 * message/feedback-report part (RFC 5965 section 3.1), and the headers
 * of the original message an ARF report returns. Headers are unfolded;
 * names compare without case; lines end in LF or CRLF.
 */
#include "dsn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "returnpath.h"

/* A line of the input, without its line end. */
struct dsn_line {
	const char *start;
	size_t length;
};

struct dsn_reader {
	const char *text;
	size_t length;
	size_t offset;
	unsigned number;		/* of the line last read */
};

static int
dsn_next_line(struct dsn_reader *r, struct dsn_line *line)
{
	const char *p, *end;

	if (r->offset >= r->length)
		return 0;
	p = r->text + r->offset;
	end = memchr(p, '\n', r->length - r->offset);
	if (end == NULL)
		end = r->text + r->length;
	line->start = p;
	line->length = (size_t)(end - p);
	if (line->length > 0 && p[line->length - 1] == '\r')
		line->length--;
	r->offset = (size_t)(end - r->text) + (end < r->text + r->length);
	r->number++;
	return 1;
}

/* The next line, left unread. */
static int
dsn_peek_line(const struct dsn_reader *r, struct dsn_line *line)
{
	struct dsn_reader copy = *r;

	return dsn_next_line(&copy, line);
}

/* Copies [s, s+n) into out (size DSN_VALUE_MAX + 1) as printable ASCII,
 * runs of other bytes and spaces made one space, ends trimmed. */
static void
dsn_keep(char *out, const char *s, size_t n)
{
	size_t o = 0;
	int space = 0;

	for (size_t i = 0; i < n && o < DSN_VALUE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f) {
			space = o > 0;
			continue;
		}
		if (space && o < DSN_VALUE_MAX)
			out[o++] = ' ';
		space = 0;
		if (o < DSN_VALUE_MAX)
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/*
 * One header or field, unfolded: name and value (value appended to
 * *value, replacing it). Returns 1 when one was read, 0 at the blank line
 * (or end) that closes the block, -1 on a line that is no field.
 */
static int
dsn_next_field(struct dsn_reader *r, struct buf *name, struct buf *value)
{
	struct dsn_line line, next;
	const char *colon;

	if (!dsn_next_line(r, &line) || line.length == 0)
		return 0;
	colon = memchr(line.start, ':', line.length);
	if (colon == NULL || colon == line.start)
		return -1;
	for (const char *p = line.start; p < colon; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return -1;
	buf_reset(name);
	buf_append(name, line.start, (size_t)(colon - line.start));
	buf_reset(value);
	buf_append(value, colon + 1, line.length - (size_t)(colon + 1 -
	    line.start));
	while (dsn_peek_line(r, &next) && next.length > 0 &&
	    (next.start[0] == ' ' || next.start[0] == '\t')) {
		dsn_next_line(r, &next);
		buf_append(value, next.start, next.length);
	}
	return 1;
}

/* The value after "TYPE;" (Final-Recipient, Diagnostic-Code), else all. */
static const char *
dsn_after_type(const char *value)
{
	const char *semicolon = strchr(value, ';');

	return semicolon ? semicolon + 1 : value;
}

/* Whether value is the media type "type" (parameters after ';'). */
static int
dsn_is_type(const char *value, const char *type)
{
	size_t n = strlen(type);

	while (*value == ' ' || *value == '\t')
		value++;
	return strncasecmp(value, type, n) == 0 &&
	    (value[n] == '\0' || value[n] == ';' || value[n] == ' ' ||
	    value[n] == '\t');
}

/* The boundary parameter of a Content-Type value, into out. */
static int
dsn_boundary(const char *value, struct buf *out)
{
	const char *p = value;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "boundary=", 9) != 0)
			continue;
		p += 9;
		buf_reset(out);
		if (*p == '"') {
			const char *end = strchr(p + 1, '"');

			if (end == NULL)
				return -1;
			buf_append(out, p + 1, (size_t)(end - p - 1));
		} else {
			size_t n = strcspn(p, " \t;");

			buf_append(out, p, n);
		}
		return out->len > 0 && out->len <= 70 ? 0 : -1;
	}
	return -1;
}

/* 1 when line is the boundary's delimiter, 2 its closing one. */
static int
dsn_delimiter(const struct dsn_line *line, const struct buf *boundary)
{
	size_t n = boundary->len, rest;

	if (line->length < n + 2 || line->start[0] != '-' ||
	    line->start[1] != '-' ||
	    memcmp(line->start + 2, boundary->data, n) != 0)
		return 0;
	rest = line->length - n - 2;
	if (rest >= 2 && line->start[n + 2] == '-' &&
	    line->start[n + 3] == '-')
		return 2;
	for (size_t i = n + 2; i < line->length; i++)
		if (line->start[i] != ' ' && line->start[i] != '\t')
			return 0;
	return 1;
}

static enum dsn_action
dsn_action_of(const char *value)
{
	while (*value == ' ' || *value == '\t')
		value++;
	if (strncasecmp(value, "failed", 6) == 0)
		return DSN_ACTION_FAILED;
	if (strncasecmp(value, "delayed", 7) == 0)
		return DSN_ACTION_DELAYED;
	if (strncasecmp(value, "delivered", 9) == 0 ||
	    strncasecmp(value, "relayed", 7) == 0 ||
	    strncasecmp(value, "expanded", 8) == 0)
		return DSN_ACTION_DELIVERED;
	return DSN_ACTION_NONE;
}

/* How serious an action is: failed, then delayed, then delivered. */
static int
dsn_rank(enum dsn_action action)
{
	switch (action) {
	case DSN_ACTION_FAILED: return 3;
	case DSN_ACTION_DELAYED: return 2;
	case DSN_ACTION_DELIVERED: return 1;
	case DSN_ACTION_NONE: break;
	}
	return 0;
}

/* A status code "class.subject.detail" (RFC 3463), class 2, 4 or 5. */
static int
dsn_valid_status(const char *s)
{
	int dots = 0, digits = 0;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	for (; *s; s++) {
		if (*s == '.') {
			if (digits == 0)
				return 0;
			dots++;
			digits = 0;
		} else if (isdigit((unsigned char)*s) && digits < 3) {
			digits++;
		} else {
			return 0;
		}
	}
	return dots == 2 && digits > 0;
}

/*
 * The field groups of the delivery-status part, up to the next
 * delimiter: the first is about the message, each further one about a
 * recipient. Keeps the most serious recipient group.
 */
static int
dsn_read_status(struct dsn_reader *r, const struct buf *boundary,
    struct dsn *dsn, struct buf *err)
{
	struct buf name = BUF_INIT, value = BUF_INIT;
	struct dsn_line line;
	unsigned group = 0, groups_read = 0;
	int rc = -1;

	for (;;) {
		enum dsn_action action = DSN_ACTION_NONE;
		char status[32] = "", final[DSN_VALUE_MAX + 1] = "",
		    diagnostic[DSN_VALUE_MAX + 1] = "";
		int fields = 0, got;

		/* Blank lines between groups. */
		while (dsn_peek_line(r, &line) && line.length == 0)
			dsn_next_line(r, &line);
		if (!dsn_peek_line(r, &line) || dsn_delimiter(&line, boundary))
			break;
		for (;;) {
			const char *n, *v;

			/* The part may end without a blank line. */
			if (dsn_peek_line(r, &line) &&
			    dsn_delimiter(&line, boundary)) {
				got = 0;
				break;
			}
			if ((got = dsn_next_field(r, &name, &value)) != 1)
				break;
			n = buf_str(&name);
			v = buf_str(&value);
			fields++;
			if (strcasecmp(n, "Action") == 0) {
				action = dsn_action_of(v);
			} else if (strcasecmp(n, "Status") == 0) {
				char code[sizeof(status)];

				dsn_keep(code, v, strlen(v) < sizeof(code) - 1 ?
				    strlen(v) : sizeof(code) - 1);
				code[strcspn(code, " ")] = '\0';
				if (!dsn_valid_status(code)) {
					buf_printf(err, "line %u: Status "
					    "\"%s\" is no status code "
					    "(like 5.1.1)", r->number, code);
					goto out;
				}
				snprintf(status, sizeof(status), "%s", code);
			} else if (strcasecmp(n, "Final-Recipient") == 0) {
				v = dsn_after_type(v);
				dsn_keep(final, v, strlen(v));
			} else if (strcasecmp(n, "Diagnostic-Code") == 0) {
				v = dsn_after_type(v);
				dsn_keep(diagnostic, v, strlen(v));
			}
		}
		if (got < 0) {
			buf_printf(err, "line %u: not a \"Name: value\" field "
			    "in the delivery-status part", r->number);
			goto out;
		}
		if (fields > 0 && group++ > 0) {
			groups_read++;
			if (action == DSN_ACTION_NONE) {
				buf_printf(err, "line %u: a recipient group "
				    "without a known Action", r->number);
				goto out;
			}
			if (dsn->recipient_count < DSN_RECIPIENTS_MAX) {
				struct dsn_recipient *one = &dsn->recipients[
				    dsn->recipient_count++];

				one->action = action;
				memcpy(one->status, status, sizeof(status));
				memcpy(one->final_recipient, final,
				    sizeof(final));
				memcpy(one->diagnostic, diagnostic,
				    sizeof(diagnostic));
			}
			dsn->recipients_seen++;
			if (dsn_rank(action) > dsn_rank(dsn->action)) {
				dsn->action = action;
				memcpy(dsn->status, status, sizeof(status));
				memcpy(dsn->final_recipient, final,
				    sizeof(final));
				memcpy(dsn->diagnostic, diagnostic,
				    sizeof(diagnostic));
			}
		}
	}
	if (groups_read == 0) {
		buf_printf(err, "line %u: the delivery-status part names no "
		    "recipient", r->number);
		goto out;
	}
	rc = 0;
out:
	buf_free(&name);
	buf_free(&value);
	return rc;
}

/*
 * The fields of a message/feedback-report part, up to the blank line or
 * the next delimiter.
 */
static int
dsn_read_feedback(struct dsn_reader *r, const struct buf *boundary,
    struct dsn *dsn, struct buf *err)
{
	struct buf name = BUF_INIT, value = BUF_INIT;
	struct dsn_line line;
	int got, rc = -1;

	while (dsn_peek_line(r, &line) && line.length == 0)
		dsn_next_line(r, &line);
	for (;;) {
		const char *n, *v;

		if (dsn_peek_line(r, &line) && dsn_delimiter(&line, boundary))
			break;
		if ((got = dsn_next_field(r, &name, &value)) == 0)
			break;
		if (got < 0) {
			buf_printf(err, "line %u: not a \"Name: value\" field "
			    "in the feedback-report part", r->number);
			goto out;
		}
		n = buf_str(&name);
		v = buf_str(&value);
		if (strcasecmp(n, "Feedback-Type") == 0) {
			char type[sizeof(dsn->feedback_type)];

			dsn_keep(type, v, strlen(v) < sizeof(type) - 1 ?
			    strlen(v) : sizeof(type) - 1);
			for (char *p = type; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			memcpy(dsn->feedback_type, type, sizeof(type));
		} else if (strcasecmp(n, "Original-Mail-From") == 0) {
			dsn_keep(dsn->original_mail_from, v, strlen(v));
		} else if (strcasecmp(n, "Original-Rcpt-To") == 0) {
			dsn_keep(dsn->original_rcpt_to, v, strlen(v));
		}
	}
	if (dsn->feedback_type[0] == '\0') {
		buf_printf(err, "line %u: the feedback-report part has no "
		    "Feedback-Type", r->number);
		goto out;
	}
	rc = 0;
out:
	buf_free(&name);
	buf_free(&value);
	return rc;
}

/*
 * The headers of the original message an ARF report returns (a
 * message/rfc822 or text/rfc822-headers part): keeps its Return-Path
 * and List-Unsubscribe. A line that is no header ends them.
 */
static void
dsn_read_original(struct dsn_reader *r, const struct buf *boundary,
    struct dsn *dsn)
{
	struct buf name = BUF_INIT, value = BUF_INIT;
	struct dsn_line line;

	while (dsn_peek_line(r, &line) && line.length == 0)
		dsn_next_line(r, &line);
	while (!(dsn_peek_line(r, &line) && dsn_delimiter(&line, boundary)) &&
	    dsn_next_field(r, &name, &value) == 1) {
		const char *n = buf_str(&name);

		if (strcasecmp(n, "Return-Path") == 0 &&
		    dsn->original_return_path[0] == '\0')
			dsn_keep(dsn->original_return_path, value.data,
			    value.len);
		else if (strcasecmp(n, "List-Unsubscribe") == 0 &&
		    dsn->original_unsubscribe[0] == '\0')
			dsn_keep(dsn->original_unsubscribe, value.data,
			    value.len);
	}
	buf_free(&name);
	buf_free(&value);
}

int
dsn_parse(const char *text, size_t length, struct dsn *dsn, struct buf *err)
{
	struct dsn_reader r = { text, length, 0, 0 };
	struct buf name = BUF_INIT, value = BUF_INIT, boundary = BUF_INIT;
	struct buf content_type = BUF_INIT;
	struct dsn_line line;
	unsigned type_line = 0;
	int got, rc = -1, found = 0;

	memset(dsn, 0, sizeof(*dsn));
	if (memchr(text, '\0', length) != NULL) {
		buf_append_str(err, "the message contains a NUL byte");
		return -1;
	}
	/* Top-level headers: the content type and the VERP address. */
	for (;;) {
		unsigned first_line = r.number + 1;
		const char *n;
		struct return_path rp;

		if ((got = dsn_next_field(&r, &name, &value)) != 1)
			break;
		n = buf_str(&name);
		if (strcasecmp(n, "Subject") == 0 && dsn->subject[0] == '\0') {
			dsn_keep(dsn->subject, value.data, value.len);
		} else if (strcasecmp(n, "Content-Type") == 0 &&
		    type_line == 0) {
			buf_reset(&content_type);
			buf_append(&content_type, value.data, value.len);
			type_line = first_line;
		} else if ((strcasecmp(n, "X-Original-To") == 0 ||
		    strcasecmp(n, "Delivered-To") == 0 ||
		    strcasecmp(n, "To") == 0) && dsn->verp[0] == '\0') {
			char address[DSN_VALUE_MAX + 1];

			dsn_keep(address, value.data, value.len);
			if (return_path_parse(address, &rp) == 0)
				snprintf(dsn->verp, sizeof(dsn->verp), "%s",
				    address);
		}
	}
	if (got < 0) {
		buf_printf(err, "line %u: not a header line", r.number);
		goto out;
	}
	if (type_line == 0 || !dsn_is_type(buf_str(&content_type),
	    "multipart/report")) {
		char shown[DSN_VALUE_MAX + 1];

		dsn_keep(shown, content_type.data ? content_type.data : "",
		    content_type.len);
		buf_printf(err, "%s%u: Content-Type is %s, not "
		    "multipart/report: not a delivery status notification",
		    type_line ? "line " : "headers end at line ",
		    type_line ? type_line : r.number,
		    type_line ? shown : "missing");
		goto out;
	}
	dsn->multipart_report = 1;
	if (dsn_boundary(buf_str(&content_type), &boundary) != 0) {
		buf_printf(err, "line %u: the multipart/report has no usable "
		    "boundary parameter", type_line);
		goto out;
	}
	/* The parts: message/delivery-status, or message/feedback-report
	 * and the original message. */
	while (dsn_next_line(&r, &line)) {
		int kind = dsn_delimiter(&line, &boundary);
		enum { OTHER, STATUS, FEEDBACK, ORIGINAL } part = OTHER;

		if (kind == 2)
			break;
		if (kind != 1)
			continue;
		while ((got = dsn_next_field(&r, &name, &value)) == 1) {
			const char *v = buf_str(&value);

			if (strcasecmp(buf_str(&name), "Content-Type") != 0)
				continue;
			if (dsn_is_type(v, "message/delivery-status") ||
			    dsn_is_type(v, "message/global-delivery-status"))
				part = STATUS;
			else if (dsn_is_type(v, "message/feedback-report"))
				part = FEEDBACK;
			else if (dsn_is_type(v, "message/rfc822") ||
			    dsn_is_type(v, "text/rfc822-headers") ||
			    dsn_is_type(v, "message/rfc822-headers"))
				part = ORIGINAL;
		}
		if (got < 0) {
			buf_printf(err, "line %u: not a header line of a part",
			    r.number);
			goto out;
		}
		if (part == STATUS && !found) {
			if (dsn_read_status(&r, &boundary, dsn, err) != 0)
				goto out;
			dsn->kind = DSN_KIND_DELIVERY;
			found = 1;
			break;
		}
		if (part == FEEDBACK && !found) {
			if (dsn_read_feedback(&r, &boundary, dsn, err) != 0)
				goto out;
			dsn->kind = DSN_KIND_FEEDBACK;
			found = 1;
		} else if (part == ORIGINAL) {
			dsn_read_original(&r, &boundary, dsn);
		}
	}
	if (!found) {
		buf_append_str(err, "the multipart/report has no "
		    "message/delivery-status or message/feedback-report part");
		goto out;
	}
	rc = 0;
out:
	buf_free(&name);
	buf_free(&value);
	buf_free(&boundary);
	buf_free(&content_type);
	return rc;
}

const char *
dsn_action_name(enum dsn_action action)
{
	switch (action) {
	case DSN_ACTION_FAILED: return "failed";
	case DSN_ACTION_DELAYED: return "delayed";
	case DSN_ACTION_DELIVERED: return "delivered";
	case DSN_ACTION_NONE: break;
	}
	return "none";
}
