/*
 * fuzz_dsn.c - fuzz target for the DSN parser and the return path
 * parser, which read what anyone can mail to the bounce address.
 *
 * The input is a whole message for dsn_parse(); its first line is also
 * given to return_path_parse() as an address. What must hold: a parse
 * that succeeds names a recipient group with a known action, a status
 * that is empty or "class.subject.detail", and keeps only printable
 * ASCII; a VERP address it reports is one return_path_parse() accepts;
 * a failure says why.
 *
 * Built with libFuzzer by "make fuzz-dsn" (clang), and replayed over
 * tests/fuzz/corpus/dsn by the test command (replay.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	if (dsn_parse(text, size, &dsn, &err) == 0) {
		if (dsn.action == DSN_ACTION_NONE)
			abort();
		if (dsn.status[0] && strchr("245", dsn.status[0]) == NULL)
			abort();
		printable_or_abort(dsn.status);
		printable_or_abort(dsn.diagnostic);
		printable_or_abort(dsn.final_recipient);
		printable_or_abort(dsn.verp);
		if (dsn.verp[0] && return_path_parse(dsn.verp, &rp) != 0)
			abort();
	} else if (err.len == 0) {
		abort();	/* a refusal must say why */
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
