/*
 * test_message.c - encodings, message assembly and unsubscribe tokens.
 *
 * Hostile values (header injection, bare CR/LF, NUL, invalid UTF-8,
 * 100 KB values, SMTP smuggling end-of-data sequences) go into every
 * field; each message must keep the SMTP invariants checked here and
 * parse without a defect, decoding back to the intended text, in an
 * independent parser (tests/lib/mime_check.py, Python's strict policy).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "encode.h"
#include "message.h"
#include "token.h"

/* Every line CRLF, at most 998 octets; no NUL; no bare CR or LF; no
 * line that is a lone "." (which would end DATA). */
static void
assert_smtp_safe(const char *m, size_t length, const char *label)
{
	size_t line = 0;

	for (size_t i = 0; i < length; i++) {
		ck_assert_msg(m[i] != '\0', "%s: NUL at %zu", label, i);
		if (m[i] == '\r') {
			ck_assert_msg(i + 1 < length && m[i + 1] == '\n',
			    "%s: bare CR at %zu", label, i);
			ck_assert_msg(line <= 998, "%s: line of %zu octets",
			    label, line);
			ck_assert_msg(!(line == 1 && m[i - 1] == '.'),
			    "%s: lone dot line at %zu", label, i);
			i++;
			line = 0;
			continue;
		}
		ck_assert_msg(m[i] != '\n', "%s: bare LF at %zu", label, i);
		line++;
	}
	ck_assert_msg(line == 0, "%s: last line not ended", label);
}

START_TEST(quoted_printable)
{
	struct buf out = BUF_INIT;
	char long_line[300];

	{
		static const char in[] = "a=b \nc\rd\r\n.e\nFrom x\t";

		encode_quoted_printable(in, sizeof(in) - 1, &out);
	}
	ck_assert_str_eq(buf_str(&out),
	    "a=3Db=20\r\nc\r\nd\r\n=2Ee\r\n=46rom x=09");
	buf_reset(&out);
	memset(long_line, 'x', sizeof(long_line));
	encode_quoted_printable(long_line, sizeof(long_line), &out);
	for (const char *p = buf_str(&out), *nl; (nl = strstr(p, "\r\n"));
	    p = nl + 2)
		ck_assert_int_le(nl - p, 76);
	buf_free(&out);
}
END_TEST

/* Decodes quoted-printable text (soft breaks, =XX) into out; 0, or -1
 * on an escape that is not one. */
static int
qp_decode(const char *in, size_t length, struct buf *out)
{
	for (size_t i = 0; i < length; i++) {
		unsigned hi, lo;

		if (in[i] != '=') {
			buf_append_char(out, in[i]);
			continue;
		}
		if (i + 2 < length && in[i + 1] == '\r' && in[i + 2] == '\n') {
			i += 2;
			continue;
		}
		if (i + 2 >= length || sscanf(in + i + 1, "%1X%1X", &hi,
		    &lo) != 2)
			return -1;
		buf_append_char(out, (char)(hi << 4 | lo));
		i += 2;
	}
	return 0;
}

/*
 * Random texts heavy in what the encoder treats apart (spaces and tabs
 * before line ends, '.' and "From " opening lines, '=', CR, LF, CRLF,
 * bytes past ASCII, lines longer than 76): each decodes back to its
 * text with every line end made CRLF; no encoded line is longer than
 * 76, ends in a space or tab, or opens with '.' or "From "; only
 * printable ASCII, space and tab go out.
 */
START_TEST(quoted_printable_round_trips)
{
	static const char *const pieces[] = { " ", "\t", "\r", "\n",
	    "\r\n", ".", "From ", "F", "=", "\xc3\xa9", "\x01", "\x7f",
	    "word", "a", "0123456789012345678901234567890123456789" };
	struct buf in = BUF_INIT, want = BUF_INIT, out = BUF_INIT,
	    back = BUF_INIT;
	unsigned seed = 14;

	for (int round = 0; round < 20000; round++) {
		size_t count = (size_t)(rand_r(&seed) % 60);

		buf_reset(&in);
		buf_reset(&want);
		buf_reset(&out);
		buf_reset(&back);
		for (size_t k = 0; k < count; k++)
			buf_append_str(&in, pieces[rand_r(&seed) %
			    (sizeof(pieces) / sizeof(pieces[0]))]);
		for (size_t i = 0; i < in.len; i++) {
			if (in.data[i] == '\r' || in.data[i] == '\n') {
				if (in.data[i] == '\r' && i + 1 < in.len &&
				    in.data[i + 1] == '\n')
					i++;
				buf_append_str(&want, "\r\n");
			} else
				buf_append_char(&want, in.data[i]);
		}
		encode_quoted_printable(in.data ? in.data : "", in.len, &out);
		ck_assert_int_eq(qp_decode(out.data ? out.data : "", out.len,
		    &back), 0);
		ck_assert_msg(back.len == want.len && (want.len == 0 ||
		    memcmp(back.data, want.data, want.len) == 0),
		    "round %d: \"%s\" came back as \"%s\"", round,
		    buf_str(&out), buf_str(&back));
		for (size_t start = 0, i = 0; i <= out.len; i++) {
			if (i < out.len && out.data[i] != '\r') {
				unsigned char c = (unsigned char)out.data[i];

				ck_assert_msg(c == ' ' || c == '\t' ||
				    (c >= 33 && c <= 126), "round %d: byte "
				    "%02x", round, c);
				continue;
			}
			ck_assert_msg(i - start <= 76, "round %d: line of "
			    "%zu", round, i - start);
			if (i > start) {
				ck_assert_msg(out.data[i - 1] != ' ' &&
				    out.data[i - 1] != '\t', "round %d: "
				    "space ends a line: %s", round,
				    buf_str(&out));
				ck_assert_msg(out.data[start] != '.' &&
				    (i - start < 5 || memcmp(out.data + start,
				    "From ", 5) != 0), "round %d: line opens "
				    "with . or From: %s", round, buf_str(&out));
			}
			i++;	/* the LF after the CR */
			start = i + 1;
		}
	}
	buf_free(&in);
	buf_free(&want);
	buf_free(&out);
	buf_free(&back);
}
END_TEST

START_TEST(header_words)
{
	struct buf out = BUF_INIT;

	encode_header_text("Hello  world", 12, 9, &out);
	ck_assert_str_eq(buf_str(&out), "Hello  world");
	buf_reset(&out);
	encode_header_text("a\r\nBcc: x", 9, 9, &out);
	ck_assert_str_eq(buf_str(&out), "a  Bcc: x");
	buf_reset(&out);
	encode_header_text("Zo\xc3\xab", 4, 9, &out);
	ck_assert_str_eq(buf_str(&out), "=?UTF-8?B?Wm/Dqw==?=");
	buf_reset(&out);
	/* Text that looks like an encoded word is encoded, not passed. */
	encode_header_text("=?UTF-8?B?SGk=?=", 16, 9, &out);
	ck_assert_str_eq(buf_str(&out), "=?UTF-8?B?PT9VVEYtOD9CP1NHaz0/PQ==?=");
	buf_reset(&out);
	encode_phrase("Doe, John \"JD\"", 14, 4, &out);
	ck_assert_str_eq(buf_str(&out), "\"Doe, John \\\"JD\\\"\"");
	buf_reset(&out);
	encode_phrase("  Jane Doe ", 11, 4, &out);
	ck_assert_str_eq(buf_str(&out), "Jane Doe");
	buf_free(&out);
}
END_TEST

START_TEST(utf8_cleaning)
{
	struct buf out = BUF_INIT;

	/* One U+FFFD per maximal subpart: E2 82 is one, FF another. */
	encode_utf8_clean("a\xe2\x82z\xff\xc3\xa9\0b", 9, &out);
	ck_assert_str_eq(buf_str(&out),
	    "a\xef\xbf\xbdz\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd" "b");
	buf_reset(&out);
	/* Overlong and surrogate forms are invalid. */
	encode_utf8_clean("\xc0\xaf\xed\xa0\x80", 5, &out);
	ck_assert_uint_eq(out.len, 5 * 3);
	buf_free(&out);
}
END_TEST

static void
put_b64(FILE *fp, const char *key, const char *value, size_t length)
{
	struct buf b = BUF_INIT;

	encode_base64((const unsigned char *)value, length, 0, &b);
	fprintf(fp, "\"%s\": \"%s\", ", key, buf_str(&b));
	buf_free(&b);
}

struct hostile {
	const char *label;
	const char *value;
	size_t length;
};

START_TEST(hostile_values_everywhere)
{
	static const char smuggling[][8] = { "\n.\n", "\n.\r\n", "\r\n.\n",
	    "\r.\r\n", "\r\n.\r\n", "\r\n.\r", ".\r\n", "\r\n.", "\n.\r" };
	struct hostile cases[64];
	unsigned count = 0;
	char dir[] = "/tmp/herald-mime-XXXXXX", path[256], command[512];
	char *big = malloc(100 * 1024 + 1), *word = malloc(5001);
	struct buf out = BUF_INIT, scratch = BUF_INIT, wrapped[16];
	int status;

	memset(big, 'v', 100 * 1024);
	for (size_t i = 0; i < 100 * 1024; i += 7)
		big[i] = ' ';
	big[100 * 1024] = '\0';
	memset(word, 'w', 5000);
	word[5000] = '\0';
#define ADD(l, v, n) cases[count++] = (struct hostile){ l, v, n }
#define ADD_LITERAL(l, v) ADD(l, v, sizeof(v) - 1)
	ADD_LITERAL("bcc injection", "Eve\r\nBcc: victim@example.org");
	ADD_LITERAL("header injection LF", "x\nX-Injected: yes\n\nbody");
	ADD_LITERAL("lone CR", "a\rb");
	ADD_LITERAL("NUL", "a\0b");
	ADD_LITERAL("invalid UTF-8", "\xff\xfe\xc3 ok \xe2\x82");
	ADD_LITERAL("non-ASCII", "Zo\xc3\xab \xc3\x9cn\xc3\xaf" "c\xc3\xb8"
	    "d\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac");
	ADD("100 KB", big, 100 * 1024);
	ADD("5000-char word", word, 5000);
	ADD_LITERAL("encoded-word lookalike", "=?UTF-8?B?SGFjaw==?=");
	ADD_LITERAL("quotes", "\"Doe, J\\\" <x@y>");
	ADD_LITERAL("empty", "");
	for (unsigned i = 0; i < sizeof(smuggling) / sizeof(smuggling[0]);
	    i++) {
		buf_init(&wrapped[i]);
		buf_printf(&wrapped[i], "before%safter", smuggling[i]);
		ADD("smuggling", buf_str(&wrapped[i]), wrapped[i].len);
	}
#undef ADD_LITERAL
#undef ADD
	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (unsigned i = 0; i < count; i++) {
		struct hostile *h = &cases[i];
		char *to_name = xstrndup(h->value, h->length);
		struct buf headers = BUF_INIT;
		struct message_fields f = {
			.from_name = "Herald Test", .from_address =
			    "news@example.org", .to_name = to_name,
			.to_address = "someone@example.net", .reply_to = "",
			.subject = h->value, .subject_length = h->length,
			.date = 1790000000, .message_id =
			    "herald.1.2@example.org", .unsubscribe_url =
			    "https://example.org/u?t=k1.1.2.abc",
			.unsubscribe_mailto = "mailto:u@example.org",
			.feedback_id = "1:0:herald:test",
			.text = h->value, .text_length = h->length,
			.html = h->value, .html_length = h->length,
		};
		FILE *fp;

		/* An extra header whose value is the hostile text, with
		 * CR/LF/NUL already flattened as the renderer does. */
		buf_append_str(&headers, "X-Campaign: ");
		for (size_t k = 0; k < h->length; k++)
			buf_append_char(&headers, strchr("\r\n", h->value[k]) ||
			    h->value[k] == '\0' ? ' ' : h->value[k]);
		f.extra_headers = buf_str(&headers);
		f.extra_headers_length = headers.len;
		buf_reset(&out);
		message_build(&f, &out, &scratch);
		assert_smtp_safe(out.data, out.len, h->label);
		snprintf(path, sizeof(path), "%s/%02u.eml", dir, i);
		fp = fopen(path, "wb");
		fwrite(out.data, 1, out.len, fp);
		fclose(fp);
		snprintf(path, sizeof(path), "%s/%02u.json", dir, i);
		fp = fopen(path, "w");
		fprintf(fp, "{");
		put_b64(fp, "subject", h->value, h->length);
		/* A display name is a C string, trimmed: compare values
		 * that survive both unchanged. */
		if (h->length && strspn(h->value, " ") == 0 &&
		    memchr(h->value, '\0', h->length) == NULL)
			put_b64(fp, "to_name", h->value, h->length);
		put_b64(fp, "text", h->value, h->length);
		put_b64(fp, "html", h->value, h->length);
		fprintf(fp, "\"label\": \"%s\"}\n", h->label);
		fclose(fp);
		free(to_name);
		buf_free(&headers);
	}
	snprintf(command, sizeof(command), "%s %s/tests/lib/mime_check.py %s",
	    getenv("PYTHON3") ? getenv("PYTHON3") : "python3", HERALD_SRCDIR,
	    dir);
	status = system(command);
	snprintf(command, sizeof(command), "rm -rf %s", dir);
	ck_assert_int_eq(system(command), 0);
	ck_assert_msg(status == 0, "the independent MIME parser found "
	    "problems (above)");
	for (unsigned i = 0; i < sizeof(smuggling) / sizeof(smuggling[0]);
	    i++)
		buf_free(&wrapped[i]);
	buf_free(&out);
	buf_free(&scratch);
	free(big);
	free(word);
}
END_TEST

START_TEST(extra_header_names)
{
	struct buf why = BUF_INIT;

	ck_assert_int_eq(message_check_extra_headers("X-A: 1\n\nX-B: 2\n",
	    15, &why), 0);
	ck_assert_int_eq(message_check_extra_headers("X-A: 1\nBcc: x\n", 14,
	    &why), -1);
	ck_assert_str_eq(buf_str(&why), "line 2: herald writes this header "
	    "itself; remove it");
	buf_reset(&why);
	ck_assert_int_eq(message_check_extra_headers("no colon here", 13,
	    &why), -1);
	buf_reset(&why);
	ck_assert_int_eq(message_check_extra_headers("Content-Base: x", 15,
	    &why), -1);
	buf_free(&why);
}
END_TEST

static struct config_entry *
key_entry(const char *id, const char *secret, struct config_entry *next)
{
	struct config_entry *e = xcalloc(1, sizeof(*e));

	e->argument = xstrdup(id);
	e->value = xstrdup(secret);
	e->line = 1;
	e->next = next;
	return e;
}

START_TEST(tokens)
{
	struct herald_config cfg;
	struct token_keys *old_keys, *keys;
	struct buf err = BUF_INIT, t = BUF_INIT, why = BUF_INIT;
	uint64_t mailing, recipient;
	char forged[256];

	config_defaults(&cfg);
	cfg.token_key = key_entry("k1", "0123456789abcdef0123456789abcdef",
	    NULL);
	old_keys = token_keys_from_config(&cfg, &err);
	ck_assert_msg(old_keys != NULL, "%s", buf_str(&err));
	token_make(old_keys, TOKEN_UNSUBSCRIBE, 42, 1234567, &t);
	ck_assert_int_eq(strncmp(buf_str(&t), "k1.42.1234567.", 14), 0);
	ck_assert_uint_eq(strspn(buf_str(&t), "abcdefghijklmnopqrstuvwxyzABC"
	    "DEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."), t.len);

	/* Rotation: a second, newer key signs; the old still verifies. */
	cfg.token_key->next = key_entry("k2",
	    "fedcba9876543210fedcba9876543210", NULL);
	keys = token_keys_from_config(&cfg, &err);
	ck_assert_int_eq(token_verify(keys, TOKEN_UNSUBSCRIBE,
	    buf_str(&t), &mailing, &recipient, &why), 0);
	ck_assert_uint_eq(mailing, 42);
	ck_assert_uint_eq(recipient, 1234567);
	buf_reset(&t);
	token_make(keys, TOKEN_UNSUBSCRIBE, 42, 7, &t);
	ck_assert_int_eq(strncmp(buf_str(&t), "k2.42.7.", 8), 0);
	ck_assert_int_eq(token_verify(old_keys, TOKEN_UNSUBSCRIBE,
	    buf_str(&t), &mailing, &recipient, &why), TOKEN_UNKNOWN_KEY);
	ck_assert_msg(strstr(buf_str(&why), "\"k2\"") != NULL, "%s",
	    buf_str(&why));

	/* Moved to another recipient, or altered: refused. */
	snprintf(forged, sizeof(forged), "k2.42.8%s", buf_str(&t) + 7);
	buf_reset(&why);
	ck_assert_int_eq(token_verify(keys, TOKEN_UNSUBSCRIBE,
	    forged, &mailing, &recipient, &why), -1);
	ck_assert_msg(strstr(buf_str(&why), "bad signature") != NULL, "%s",
	    buf_str(&why));
	ck_assert_int_eq(token_verify(keys, TOKEN_UNSUBSCRIBE,
	    "k2.42", &mailing, &recipient, &why), -1);
	ck_assert_int_eq(token_verify(keys, TOKEN_UNSUBSCRIBE,
	    "k2.042.7.x", &mailing, &recipient, &why), -1);
	ck_assert_int_eq(token_verify(keys, TOKEN_UNSUBSCRIBE,
	    "k2.42.7.x.y", &mailing, &recipient, &why), -1);

	/* Short secrets are refused. */
	config_free(&cfg);
	config_defaults(&cfg);
	cfg.token_key = key_entry("k1", "short", NULL);
	buf_reset(&err);
	ck_assert_ptr_null(token_keys_from_config(&cfg, &err));
	ck_assert_msg(strstr(buf_str(&err), "shorter than 32") != NULL, "%s",
	    buf_str(&err));
	token_keys_free(keys);
	token_keys_free(old_keys);
	config_free(&cfg);
	buf_free(&err);
	buf_free(&t);
	buf_free(&why);
}
END_TEST

START_TEST(key_file)
{
	char path[] = "/tmp/herald-keys-XXXXXX";
	struct token_keys *a, *b;
	struct buf err = BUF_INIT, t = BUF_INIT, secret = BUF_INIT;
	FILE *fp;
	int fd;
	uint64_t m, r;

	/* The STATE/token-keys file of older versions, as imported into
	 * the database (keyring.h): a generated key, read back. */
	ck_assert_int_eq(token_key_generate(&secret, &err), 0);
	ck_assert_uint_ge(secret.len, 43);
	ck_assert_uint_eq(strspn(buf_str(&secret), "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"), secret.len);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	fp = fdopen(fd, "w");
	fprintf(fp, "# comment\nk1 %s\n", buf_str(&secret));
	fclose(fp);
	a = token_keys_read_file(path, &err);
	ck_assert_msg(a != NULL, "%s", buf_str(&err));
	ck_assert_uint_eq(token_keys_count(a), 1);
	ck_assert_str_eq(token_keys_id(a, 0), "k1");
	ck_assert_str_eq(token_keys_secret(a, 0), buf_str(&secret));
	/* A second secret differs: keys are random. */
	buf_reset(&t);
	ck_assert_int_eq(token_key_generate(&t, &err), 0);
	ck_assert_str_ne(buf_str(&t), buf_str(&secret));
	buf_reset(&t);
	b = token_keys_read_file(path, &err);
	token_make(a, TOKEN_UNSUBSCRIBE, 1, 2, &t);
	ck_assert_int_eq(token_verify(b, TOKEN_UNSUBSCRIBE,
	    buf_str(&t), &m, &r, &err), 0);
	token_keys_free(b);
	/* Readable by others: refused. */
	chmod(path, 0644);
	buf_reset(&err);
	ck_assert_ptr_null(token_keys_read_file(path, &err));
	ck_assert_msg(strstr(buf_str(&err), "chmod 600") != NULL, "%s",
	    buf_str(&err));
	/* No key in it: refused. */
	chmod(path, 0600);
	fp = fopen(path, "w");
	fclose(fp);
	buf_reset(&err);
	ck_assert_ptr_null(token_keys_read_file(path, &err));
	ck_assert_msg(strstr(buf_str(&err), "holds no key") != NULL, "%s",
	    buf_str(&err));
	token_keys_free(a);
	unlink(path);
	buf_free(&err);
	buf_free(&t);
	buf_free(&secret);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("message");
	TCase *tc = tcase_create("message");
	SRunner *runner;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, quoted_printable);
	tcase_add_test(tc, quoted_printable_round_trips);
	tcase_add_test(tc, header_words);
	tcase_add_test(tc, utf8_cleaning);
	tcase_add_test(tc, hostile_values_everywhere);
	tcase_add_test(tc, extra_header_names);
	tcase_add_test(tc, tokens);
	tcase_add_test(tc, key_file);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_set_fork_status(runner, CK_NOFORK);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
