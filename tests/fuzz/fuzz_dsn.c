/*
 * fuzz_dsn.c - fuzz target for the DSN and ARF parser, the bounce
 * classifier and the return path parser, which read what anyone can
 * mail to the bounce address.
 *
 * The input is a whole message for dsn_parse(); its first line is also
 * given to return_path_parse() as an address. What must hold: a DSN
 * that parses names a recipient group with a known action, a status
 * that is empty or "class.subject.detail", and keeps only printable
 * ASCII; each of its groups classifies into the vocabulary with a
 * printable status and reply code; an ARF report that parses has a
 * Feedback-Type; a VERP address it reports is one return_path_parse()
 * accepts; a failure says why.
 *
 * Built with libFuzzer by "make fuzz-dsn" (clang), and replayed over
 * tests/fuzz/corpus/dsn by the test command (replay.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_class.h"
#include "dsn.h"
#include "returnpath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
printable_or_abort(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || (unsigned char)*s >= 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dsn dsn;
	struct return_path rp;
	struct buf err = BUF_INIT;
	char *text = malloc(size + 1), *nl;

	memcpy(text, data, size);
	text[size] = '\0';
	if (dsn_parse(text, size, &dsn, &err) != 0) {
		if (err.len == 0)
			abort();	/* a refusal must say why */
	} else if (dsn.kind == DSN_KIND_FEEDBACK) {
		if (dsn.feedback_type[0] == '\0')
			abort();
		printable_or_abort(dsn.feedback_type);
		printable_or_abort(dsn.original_mail_from);
		printable_or_abort(dsn.original_return_path);
		printable_or_abort(dsn.original_unsubscribe);
	} else {
		if (dsn.action == DSN_ACTION_NONE ||
		    dsn.recipient_count > DSN_RECIPIENTS_MAX ||
		    dsn.recipients_seen < dsn.recipient_count)
			abort();
		for (unsigned i = 0; i < dsn.recipient_count; i++) {
			struct bounce_class c;

			bounce_classify(dsn.recipients[i].status,
			    dsn.recipients[i].diagnostic, &c);
			if ((unsigned)c.reason >= BOUNCE_REASON_COUNT)
				abort();
			printable_or_abort(c.status);
			printable_or_abort(c.reply_code);
		}
		if (dsn.status[0] && strchr("245", dsn.status[0]) == NULL)
			abort();
		printable_or_abort(dsn.status);
		printable_or_abort(dsn.diagnostic);
		printable_or_abort(dsn.final_recipient);
		printable_or_abort(dsn.verp);
		if (dsn.verp[0] && return_path_parse(dsn.verp, &rp) != 0)
			abort();
	}
	nl = strchr(text, '\n');
	if (nl)
		*nl = '\0';
	if (return_path_parse(text, &rp) == 0 &&
	    (rp.mailing == 0 || rp.recipient == 0 ||
	    strlen(rp.token) >= sizeof(rp.token)))
		abort();
	buf_free(&err);
	free(text);
	return 0;
}
