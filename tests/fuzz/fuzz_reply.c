/*
 * fuzz_reply.c - fuzz target for the SMTP reply reader (smtp_reply.c).
 *
 * The input's first byte sets the size of the pieces the rest is fed in
 * (1 to 32 bytes), so a reply split anywhere is exercised; the rest is
 * what a server sends. Every completed reply must hold a code from 200
 * to 599, a NUL-terminated text within SMTP_REPLY_TEXT_MAX with no
 * control byte, and format and yield a queue id within their bounds;
 * an error must say why, and stops the stream, as in the client.
 *
 * Built with libFuzzer by "make fuzz-reply" (clang), and replayed over
 * tests/fuzz/corpus/reply by the test command (replay.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_reply(const struct smtp_reply *r)
{
	char formatted[RELAY_REPLY_MAX + 1], queue_id[RELAY_QUEUE_ID_MAX + 1];

	if (r->code < 200 || r->code > 599 || r->lines == 0 ||
	    r->text_length > SMTP_REPLY_TEXT_MAX ||
	    strlen(r->text) != r->text_length ||
	    strlen(r->enhanced) >= sizeof(r->enhanced))
		abort();
	for (size_t i = 0; i < r->text_length; i++)
		if ((unsigned char)r->text[i] < 0x20 ||
		    (unsigned char)r->text[i] > 0x7e)
			abort();
	smtp_reply_format(r, formatted, sizeof(formatted));
	smtp_reply_queue_id(r->text, queue_id, sizeof(queue_id));
	if (strlen(formatted) > RELAY_REPLY_MAX ||
	    strlen(queue_id) > RELAY_QUEUE_ID_MAX)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply_parser p;
	size_t piece, offset = 1, used;

	if (size == 0)
		return 0;
	piece = (size_t)(data[0] % 32) + 1;
	smtp_reply_parser_init(&p);
	while (offset < size) {
		size_t n = size - offset < piece ? size - offset : piece;
		int rc = smtp_reply_parse(&p, (const char *)data + offset, n,
		    &used);

		if (rc >= 0 && used > n)
			abort();
		if (rc < 0) {
			if (p.error[0] == '\0')
				abort();
			return 0;
		}
		if (rc == 1)
			check_reply(&p.reply);
		else if (used != n)
			abort();
		offset += used;
	}
	return 0;
}
