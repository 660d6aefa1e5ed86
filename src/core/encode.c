/*
 * encode.c - body and header encodings (see encode.h).
 */
#include "encode.h"

#include <string.h>

#define HEADER_LINE_SOFT 78	/* RFC 5322's SHOULD; 998 is the MUST */
#define QP_LINE_MAX 76
#define ENCODED_WORD_MAX 75	/* RFC 2047 section 2 */
#define ENCODED_WORD_OVERHEAD 12	/* "=?UTF-8?B?" and "?=" */
#define ASCII_WORD_MAX 70	/* a longer unbroken word cannot fold */

static const char hex_digits[] = "0123456789ABCDEF";
static const char replacement[] = "\xef\xbf\xbd";	/* U+FFFD */

/*
 * Length of the valid UTF-8 sequence at s (1 to 4), or 0 when the bytes
 * there are not one: overlong forms, surrogates and code points past
 * U+10FFFF are invalid too (RFC 3629).
 */
static size_t
utf8_sequence(const unsigned char *s, size_t left)
{
	unsigned c = s[0];
	size_t n;
	unsigned min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		min = 0x80;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		min = 0x800;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		min = 0x10000;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t
encode_utf8_length(const char *s, size_t left)
{
	return left ? utf8_sequence((const unsigned char *)s, left) : 0;
}

/*
 * Length of the "maximal subpart" at s when it is not a valid sequence:
 * the lead byte and the continuation bytes that could still have made
 * one. Each such subpart becomes one U+FFFD, as Unicode recommends (and
 * as Python and browsers decode), so every reader sees the same text.
 */
static size_t
utf8_invalid_span(const unsigned char *s, size_t left)
{
	unsigned c = s[0], low = 0x80, high = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 1;
	if (c == 0xe0)
		low = 0xa0;
	else if (c == 0xed)
		high = 0x9f;
	else if (c == 0xf0)
		low = 0x90;
	else if (c == 0xf4)
		high = 0x8f;
	for (i = 1; i < n && i < left; i++) {
		if (s[i] < low || s[i] > high)
			break;
		low = 0x80;
		high = 0xbf;
	}
	return i;
}

int
encode_utf8_valid(const char *in, size_t length)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;

	while (i < length) {
		size_t n;

		while (i < length && s[i] > 0 && s[i] < 0x80)
			i++;
		if (i == length)
			break;
		n = s[i] ? utf8_sequence(s + i, length - i) : 0;
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

void
encode_utf8_clean(const char *in, size_t length, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t run = 0, i = 0;

	buf_reserve(out, length);
	while (i < length) {
		size_t n;

		/* Most text is ASCII: skip it without decoding. */
		while (i < length && s[i] > 0 && s[i] < 0x80)
			i++;
		if (i == length)
			break;
		n = s[i] ? utf8_sequence(s + i, length - i) : 0;

		if (n) {
			i += n;
			continue;
		}
		buf_append(out, in + run, i - run);
		buf_append(out, replacement, 3);
		i += s[i] ? utf8_invalid_span(s + i, length - i) : 1;
		run = i;
	}
	buf_append(out, in + run, length - run);
}

static int
is_line_break(const char *in, size_t length, size_t i)
{
	return i < length && (in[i] == '\r' || in[i] == '\n');
}

/*
 * The bytes a quoted-printable line takes as they are anywhere past its
 * first column: printable ASCII but '=', and space and tab (which
 * encode_quoted_printable() still encodes at the end of a line).
 */
static const unsigned char qp_plain[256] = {
	['\t'] = 1, [' '] = 1,
	['!'] = 1, ['"'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1,
	['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1,
	['-'] = 1, ['.'] = 1, ['/'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
	['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
	['9'] = 1, [':'] = 1, [';'] = 1, ['<'] = 1, ['>'] = 1, ['?'] = 1,
	['@'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,
	['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1,
	['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1,
	['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1,
	['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['['] = 1, ['\\'] = 1, [']'] = 1,
	['^'] = 1, ['_'] = 1, ['`'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,
	['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
	['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,
	['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['{'] = 1,
	['|'] = 1, ['}'] = 1, ['~'] = 1,
};

/*
 * How many bytes from in[i] on go out as they are, in one copy: plain
 * bytes (qp_plain) that fit on the line (each leaves the column below
 * QP_LINE_MAX, as the byte-by-byte rule asks), not opening a line with
 * a '.' or an 'F' (maybe "From "), and not a space or tab that ends one.
 * The bytes this leaves go through the byte-by-byte rule.
 */
static size_t
qp_plain_run(const unsigned char *in, size_t length, size_t i,
    size_t column)
{
	size_t room = QP_LINE_MAX - 1 - column, n = 0;

	if (column == 0 && (in[i] == '.' || in[i] == 'F'))
		return 0;
	while (n < room && i + n < length && qp_plain[in[i + n]])
		n++;
	if (n > 0 && (in[i + n - 1] == ' ' || in[i + n - 1] == '\t') &&
	    (i + n == length || in[i + n] == '\r' || in[i + n] == '\n'))
		n--;
	return n;
}

void
encode_quoted_printable(const char *in, size_t length, struct buf *out)
{
	size_t column = 0;
	char *o;

	/*
	 * Worst case: every byte as "=XX", plus a soft break ("=" CRLF)
	 * every 25 input bytes; reserved once, then written in place (this
	 * runs for every part of every message).
	 */
	buf_reserve(out, length * 3 + length / 8 + 8);
	o = out->data + out->len;
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)in[i];
		size_t plain;
		int literal;

		/* Most of a text goes out as it is: in runs, not byte by
		 * byte (this was half of a message's assembly, README's
		 * Measured). */
		plain = qp_plain_run((const unsigned char *)in, length, i,
		    column);
		if (plain > 0) {
			memcpy(o, in + i, plain);
			o += plain;
			column += plain;
			i += plain - 1;
			continue;
		}
		if (c == '\r' || c == '\n') {
			if (c == '\r' && i + 1 < length && in[i + 1] == '\n')
				i++;
			*o++ = '\r';
			*o++ = '\n';
			column = 0;
			continue;
		}
		for (;;) {
			/*
			 * Spaces are literal unless they end a line (they
			 * would be stripped in transit). A '.' or "From "
			 * opening a line is encoded too: the message then
			 * never relies on dot-stuffing or mbox quoting.
			 */
			literal = (c >= 33 && c <= 126 && c != '=') ||
			    ((c == ' ' || c == '\t') && i + 1 < length &&
			    !is_line_break(in, length, i + 1));
			if (column == 0 && (c == '.' || (c == 'F' &&
			    length - i >= 5 && memcmp(in + i, "From ", 5) == 0)))
				literal = 0;
			if (column + (literal ? 1 : 3) < QP_LINE_MAX)
				break;
			*o++ = '=';
			*o++ = '\r';
			*o++ = '\n';
			column = 0;
		}
		if (literal) {
			*o++ = (char)c;
			column++;
		} else {
			*o++ = '=';
			*o++ = hex_digits[c >> 4];
			*o++ = hex_digits[c & 15];
			column += 3;
		}
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
}

/* Whether [in, in+length) can go out as folded ASCII words. */
static int
header_plain_ascii(const char *in, size_t length)
{
	size_t word = 0;

	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x80 || c < 0x20 || c == 0x7f)
			return 0;
		/* Text that looks like an encoded word would be decoded
		 * by readers: encode it so it reads as written. */
		if (c == '=' && i + 1 < length && in[i + 1] == '?')
			return 0;
		word = c == ' ' ? 0 : word + 1;
		if (word > ASCII_WORD_MAX)
			return 0;
	}
	return 1;
}

/* Copies in with CR, LF, NUL and other controls as spaces, then cleans
 * the UTF-8: a header value is one line of text. */
static void
header_flatten(const char *in, size_t length, struct buf *out)
{
	struct buf flat = BUF_INIT;

	buf_reserve(&flat, length);
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)in[i];

		buf_append_char(&flat, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
	encode_utf8_clean(buf_str(&flat), flat.len, out);
	buf_free(&flat);
}

static void
fold_ascii_words(const char *in, size_t length, size_t column,
    struct buf *out)
{
	size_t start = 0;

	for (size_t i = 0; i <= length; i++) {
		size_t word;

		if (i < length && in[i] != ' ')
			continue;
		word = i - start;
		if (start > 0) {
			if (word > 0 && column + 1 + word > HEADER_LINE_SOFT) {
				buf_append(out, "\r\n ", 3);
				column = 1;
			} else {
				buf_append_char(out, ' ');
				column++;
			}
		}
		buf_append(out, in + start, word);
		column += word;
		start = i + 1;
	}
}

/* RFC 2047 "B" words, each whole UTF-8 characters, one per line. */
static void
encoded_words(const char *in, size_t length, size_t column,
    struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;

	while (i < length) {
		size_t room = column + ENCODED_WORD_MAX <= HEADER_LINE_SOFT ?
		    ENCODED_WORD_MAX : HEADER_LINE_SOFT - column;
		size_t max_bytes, chunk = 0;

		if (room < ENCODED_WORD_OVERHEAD + 8)
			room = ENCODED_WORD_OVERHEAD + 8;
		max_bytes = (room - ENCODED_WORD_OVERHEAD) / 4 * 3;
		while (i + chunk < length) {
			size_t n = utf8_sequence(s + i + chunk,
			    length - i - chunk);

			if (n == 0)
				n = 1;	/* cannot happen after cleaning */
			if (chunk + n > max_bytes)
				break;
			chunk += n;
		}
		if (i > 0) {
			buf_append(out, "\r\n ", 3);
			column = 1;
		}
		buf_append_str(out, "=?UTF-8?B?");
		encode_base64(s + i, chunk, 0, out);
		buf_append_str(out, "?=");
		column += ENCODED_WORD_OVERHEAD + (chunk + 2) / 3 * 4;
		i += chunk;
	}
}

void
encode_header_text(const char *in, size_t length, size_t column,
    struct buf *out)
{
	struct buf flat = BUF_INIT;

	header_flatten(in, length, &flat);
	if (header_plain_ascii(buf_str(&flat), flat.len))
		fold_ascii_words(buf_str(&flat), flat.len, column, out);
	else
		encoded_words(buf_str(&flat), flat.len, column, out);
	buf_free(&flat);
}

static int
is_atext_or_space(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-/=?^_`{|}~ ",
	    c) != NULL);
}

void
encode_phrase(const char *in, size_t length, size_t column, struct buf *out)
{
	struct buf flat = BUF_INIT;
	const char *s;
	size_t start = 0, end;
	int atoms = 1;

	header_flatten(in, length, &flat);
	s = buf_str(&flat);
	end = flat.len;
	while (start < end && s[start] == ' ')
		start++;
	while (end > start && s[end - 1] == ' ')
		end--;
	for (size_t i = start; i < end; i++)
		if (!is_atext_or_space((unsigned char)s[i]))
			atoms = 0;
	if (!header_plain_ascii(s + start, end - start)) {
		encoded_words(s + start, end - start, column, out);
	} else if (atoms) {
		fold_ascii_words(s + start, end - start, column, out);
	} else {
		/* A quoted string: only '"' and '\' need escaping. */
		buf_append_char(out, '"');
		for (size_t i = start; i < end; i++) {
			if (s[i] == '"' || s[i] == '\\')
				buf_append_char(out, '\\');
			buf_append_char(out, s[i]);
		}
		buf_append_char(out, '"');
	}
	buf_free(&flat);
}

void
encode_base64(const unsigned char *in, size_t length, int url,
    struct buf *out)
{
	const char *alphabet = url ?
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" :
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	buf_reserve(out, (length + 2) / 3 * 4);
	for (size_t i = 0; i < length; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		size_t n = length - i < 3 ? length - i : 3;

		if (n > 1)
			v |= (unsigned)in[i + 1] << 8;
		if (n > 2)
			v |= in[i + 2];
		buf_append_char(out, alphabet[v >> 18 & 63]);
		buf_append_char(out, alphabet[v >> 12 & 63]);
		if (n > 1)
			buf_append_char(out, alphabet[v >> 6 & 63]);
		else if (!url)
			buf_append_char(out, '=');
		if (n > 2)
			buf_append_char(out, alphabet[v & 63]);
		else if (!url)
			buf_append_char(out, '=');
	}
}

static int
base64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int
decode_base64url(const char *in, size_t length, struct buf *out)
{
	unsigned v = 0, bits = 0;

	if (length % 4 == 1)
		return -1;
	for (size_t i = 0; i < length; i++) {
		int d = base64url_value(in[i]);

		if (d < 0)
			return -1;
		v = v << 6 | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_append_char(out, (char)(v >> bits & 0xff));
		}
	}
	return 0;
}

void
encode_json_string(struct buf *out, const char *s, size_t length)
{
	buf_append_char(out, '"');
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			buf_printf(out, "\\%c", c);
		else if (c < 0x20)
			buf_printf(out, "\\u%04x", c);
		else
			buf_append_char(out, (char)c);
	}
	buf_append_char(out, '"');
}
