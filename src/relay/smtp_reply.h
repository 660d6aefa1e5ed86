/*
 * smtp_reply.h - reading SMTP replies (RFC 5321 section 4.2) from a
 * byte stream, in pieces of any size.
 *
 *	struct smtp_reply_parser p;
 *	smtp_reply_parser_init(&p);
 *	while bytes arrive:
 *		while ((rc = smtp_reply_parse(&p, data, len, &used)) == 1) {
 *			use p.reply (code, enhanced code, text, lines);
 *			data += used; len -= used;
 *		}
 *		rc == 0: all of data was consumed, wait for more
 *		rc == -1: not SMTP; p.error says why; drop the connection
 *
 * A reply is one or more lines "CODE-text" ending with "CODE text" (or
 * a bare "CODE"), every line with the same three-digit code. Lines end
 * with CRLF; a bare LF is accepted too (being lenient there loses
 * nothing). The text kept is bounded (SMTP_REPLY_TEXT_MAX): the lines
 * joined by spaces, control bytes shown as spaces and bytes above ASCII
 * as '?', so it can be logged and stored as is. The enhanced status code
 * (RFC 3463) of the last line, when it has one, is kept apart.
 *
 * Errors (-1): a line that does not start with three digits and a space
 * or '-', lines of one reply with different codes, a first digit other
 * than 2 to 5, a line longer than SMTP_REPLY_LINE_MAX bytes or a reply
 * of more than SMTP_REPLY_LINES_MAX lines (a server that sends those is
 * broken or hostile: nothing is buffered without bound).
 *
 * The parser allocates nothing.
 */
#ifndef HERALD_SMTP_REPLY_H
#define HERALD_SMTP_REPLY_H

#include <stddef.h>

/* Text kept per reply; the stage table's reply column is 512 bytes. */
#define SMTP_REPLY_TEXT_MAX 480
/* RFC 5321 4.5.3.1.5 says 512 with the CRLF; allow servers some slack. */
#define SMTP_REPLY_LINE_MAX 2048
/* An EHLO reply has one line per extension; 100 is plenty. */
#define SMTP_REPLY_LINES_MAX 100
/* Longest line text seen by the line callback (EHLO keywords). */
#define SMTP_REPLY_KEYWORD_MAX 64

struct smtp_reply {
	int code;		/* 200..599 */
	char enhanced[16];	/* "2.0.0", or "" when the server gave none */
	char text[SMTP_REPLY_TEXT_MAX + 1];	/* without code nor enhanced */
	size_t text_length;
	unsigned lines;
};

/*
 * Called at the end of each line with its text (after "CODE-" or
 * "CODE "), cut to SMTP_REPLY_KEYWORD_MAX bytes: how an EHLO reply's
 * extensions are read. May be NULL.
 */
typedef void smtp_reply_line_fn(void *arg, const char *text, size_t length);

struct smtp_reply_parser {
	struct smtp_reply reply;	/* complete when parse returns 1 */
	char error[128];		/* why parse returned -1 */
	smtp_reply_line_fn *on_line;
	void *on_line_arg;
	/* Where in the current line we are. */
	int state;
	int code;			/* of the current reply, 0 at its start */
	int line_code;
	int last_line;			/* the current line ends the reply */
	size_t line_length;
	char line[SMTP_REPLY_KEYWORD_MAX + 1];	/* current line's text head */
	size_t line_kept;
	char enhanced[16];		/* of the current line */
	size_t enhanced_length;
	int enhanced_done;
};

/* Prepares p for a new stream (no line callback). */
void smtp_reply_parser_init(struct smtp_reply_parser *p);

/*
 * Reads from data[0..length): returns 1 when a reply was completed
 * (p->reply holds it; *used bytes were consumed, the rest is the next
 * reply's), 0 when every byte was consumed and the reply is still
 * incomplete, -1 on a protocol error (p->error says what; the stream
 * cannot be resynchronised).
 */
int smtp_reply_parse(struct smtp_reply_parser *p, const char *data,
    size_t length, size_t *used);

/* 1 while a reply has been started but not completed. */
int smtp_reply_pending(const struct smtp_reply_parser *p);

/*
 * Formats a reply for a log or a result row: "CODE X.Y.Z text" (or
 * "CODE text"), cut to size - 1 bytes.
 */
void smtp_reply_format(const struct smtp_reply *reply, char *dst, size_t size);

/*
 * The relay's queue id in a reply to the final dot: the id after
 * "queued as " (Postfix and others), otherwise the reply's text; cut
 * to size - 1 bytes.
 */
void smtp_reply_queue_id(const char *text, char *dst, size_t size);

#endif
