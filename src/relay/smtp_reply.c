/*
 * smtp_reply.c - the SMTP reply reader (see smtp_reply.h).
 *
 * Public functions: smtp_reply_parser_init(), smtp_reply_parse(),
 * smtp_reply_pending(), smtp_reply_format(), smtp_reply_queue_id().
 *
 * The reader is a byte-at-a-time state machine, so a reply split
 * anywhere between two reads is read the same as a whole one, and it
 * keeps only bounded state: the head of the current line (for the
 * enhanced status code and the EHLO keyword) and the reply's text, cut
 * at SMTP_REPLY_TEXT_MAX.
 */
#include "smtp_reply.h"

#include <stdio.h>
#include <string.h>

/* Where the reader is within a line. */
enum {
	SMTP_REPLY_CODE0,	/* expecting the first digit of a line */
	SMTP_REPLY_CODE1,
	SMTP_REPLY_CODE2,
	SMTP_REPLY_SEPARATOR,	/* ' ', '-' or the end of a bare code */
	SMTP_REPLY_TEXT,
	SMTP_REPLY_CR,		/* a CR was read: LF must follow */
};

/* Bytes of a line's text that may hold an enhanced code and a space:
 * "5.123.123 " (RFC 3463: class, 1-3 digit subject and detail). */
#define SMTP_REPLY_ENHANCED_SPAN 10

void
smtp_reply_parser_init(struct smtp_reply_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = SMTP_REPLY_CODE0;
}

int
smtp_reply_pending(const struct smtp_reply_parser *p)
{
	return p->code != 0 || p->state != SMTP_REPLY_CODE0;
}

static int
smtp_reply_fail(struct smtp_reply_parser *p, const char *why)
{
	snprintf(p->error, sizeof(p->error), "%s", why);
	return -1;
}

/* Appends one byte of text to the reply, shown safely, within bounds. */
static void
smtp_reply_keep(struct smtp_reply_parser *p, unsigned char c)
{
	struct smtp_reply *r = &p->reply;

	if (r->text_length >= SMTP_REPLY_TEXT_MAX)
		return;
	if (c < 0x20 || c == 0x7f)
		c = ' ';
	else if (c > 0x7f)
		c = '?';
	r->text[r->text_length++] = (char)c;
	r->text[r->text_length] = '\0';
}

/* Length of "D.D[DD].D[DD]" at the start of s[0..n), 0 if none. */
static size_t
smtp_reply_enhanced_length(const char *s, size_t n)
{
	size_t i = 0, digits;

	if (n < 5 || s[0] < '2' || s[0] > '5' || s[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		for (digits = 0; i < n && digits < 3 && s[i] >= '0' &&
		    s[i] <= '9'; i++)
			digits++;
		if (digits == 0)
			return 0;
		if (part == 0) {
			if (i == n || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < n && s[i] != ' ')
		return 0;
	return i;
}

/*
 * Called once the line's head is long enough (or the line ended):
 * takes an enhanced code off its start and keeps the rest as text.
 */
static void
smtp_reply_decide_enhanced(struct smtp_reply_parser *p)
{
	size_t start = smtp_reply_enhanced_length(p->line, p->line_kept);

	p->enhanced_done = 1;
	if (start) {
		memcpy(p->enhanced, p->line, start);
		p->enhanced[start] = '\0';
		while (start < p->line_kept && p->line[start] == ' ')
			start++;
	}
	if (start < p->line_kept && p->reply.text_length > 0)
		smtp_reply_keep(p, ' ');	/* joins the lines */
	for (size_t i = start; i < p->line_kept; i++)
		smtp_reply_keep(p, (unsigned char)p->line[i]);
}

/* A byte of a line's text: its head is kept for the enhanced code and
 * the line callback; bytes after the enhanced code go to the text. */
static void
smtp_reply_text(struct smtp_reply_parser *p, unsigned char c)
{
	int decided = p->enhanced_done;

	if (p->line_kept < SMTP_REPLY_KEYWORD_MAX)
		p->line[p->line_kept++] = (char)c;
	if (decided)
		smtp_reply_keep(p, c);
	else if (p->line_kept == SMTP_REPLY_ENHANCED_SPAN)
		smtp_reply_decide_enhanced(p);
}

/* The end of a line: returns 1 when it ended the reply. */
static int
smtp_reply_end_line(struct smtp_reply_parser *p)
{
	struct smtp_reply *r = &p->reply;

	if (!p->enhanced_done)
		smtp_reply_decide_enhanced(p);
	if (p->on_line)
		p->on_line(p->on_line_arg, p->line, p->line_kept);
	r->lines++;
	if (r->lines == 1 || (r->enhanced[0] == '\0' && p->enhanced[0]))
		memcpy(r->enhanced, p->enhanced, sizeof(r->enhanced));
	p->state = SMTP_REPLY_CODE0;
	if (!p->last_line)
		return 0;
	while (r->text_length > 0 && r->text[r->text_length - 1] == ' ')
		r->text[--r->text_length] = '\0';
	r->code = p->code;
	p->code = 0;
	return 1;
}

/* Starts a line: the reply's first line also starts a new reply. */
static void
smtp_reply_start_line(struct smtp_reply_parser *p)
{
	if (p->code == 0)
		memset(&p->reply, 0, sizeof(p->reply));
	p->line_code = 0;
	p->line_length = 0;
	p->line_kept = 0;
	p->enhanced[0] = '\0';
	p->enhanced_done = 0;
	p->last_line = 0;
}

int
smtp_reply_parse(struct smtp_reply_parser *p, const char *data,
    size_t length, size_t *used)
{
	*used = 0;	/* what it stays on an error */
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)data[i];

		switch (p->state) {
		case SMTP_REPLY_CODE0:
			smtp_reply_start_line(p);
			if (c < '2' || c > '5')
				return smtp_reply_fail(p, "reply does not start "
				    "with a code from 2xx to 5xx");
			p->line_code = c - '0';
			p->state = SMTP_REPLY_CODE1;
			break;
		case SMTP_REPLY_CODE1:
		case SMTP_REPLY_CODE2:
			if (c < '0' || c > '9')
				return smtp_reply_fail(p, "reply code is not "
				    "three digits");
			p->line_code = p->line_code * 10 + (c - '0');
			p->state++;
			break;
		case SMTP_REPLY_SEPARATOR:
			if (p->code != 0 && p->line_code != p->code)
				return smtp_reply_fail(p, "lines of one reply "
				    "have different codes");
			p->code = p->line_code;
			if (c == ' ' || c == '-') {
				p->last_line = c == ' ';
				p->state = SMTP_REPLY_TEXT;
			} else if (c == '\r') {
				p->last_line = 1;
				p->state = SMTP_REPLY_CR;
			} else if (c == '\n') {
				p->last_line = 1;
				if (smtp_reply_end_line(p))
					goto complete;
			} else {
				return smtp_reply_fail(p, "reply code is not "
				    "followed by a space or '-'");
			}
			break;
		case SMTP_REPLY_TEXT:
			if (c == '\r') {
				p->state = SMTP_REPLY_CR;
				break;
			}
			if (c == '\n') {
				if (smtp_reply_end_line(p))
					goto complete;
				break;
			}
			if (++p->line_length > SMTP_REPLY_LINE_MAX)
				return smtp_reply_fail(p, "reply line is too "
				    "long");
			smtp_reply_text(p, c);
			break;
		case SMTP_REPLY_CR:
			if (c != '\n')
				return smtp_reply_fail(p, "bare CR in a reply");
			if (smtp_reply_end_line(p))
				goto complete;
			break;
		}
		if (p->state == SMTP_REPLY_CODE0 &&
		    p->reply.lines >= SMTP_REPLY_LINES_MAX)
			return smtp_reply_fail(p, "reply has too many lines");
		continue;
complete:
		*used = i + 1;
		return 1;
	}
	*used = length;
	return 0;
}

void
smtp_reply_format(const struct smtp_reply *reply, char *dst, size_t size)
{
	if (reply->enhanced[0])
		snprintf(dst, size, "%d %s%s%s", reply->code, reply->enhanced,
		    reply->text_length ? " " : "", reply->text);
	else
		snprintf(dst, size, "%d%s%s", reply->code,
		    reply->text_length ? " " : "", reply->text);
}

void
smtp_reply_queue_id(const char *text, char *dst, size_t size)
{
	const char *p = strstr(text, "queued as ");
	size_t n = 0;

	if (size == 0)
		return;
	if (p == NULL) {
		snprintf(dst, size, "%s", text);
		return;
	}
	p += strlen("queued as ");
	while (n + 1 < size && ((p[n] >= '0' && p[n] <= '9') ||
	    (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= 'a' && p[n] <= 'z')))
		n++;
	memcpy(dst, p, n);
	dst[n] = '\0';
}
