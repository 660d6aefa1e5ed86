/*
 * segment.c - tokenizer, recursive-descent parser and SQL emitter of the
 * segment language (see segment.h).
 *
 * The parser emits SQL as it goes; column names come only from the
 * fields table below, every literal becomes a "?" with its text pushed
 * on the parameter list.
 */
#include "segment.h"
#include "date.h"
#include "encode.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SEGMENT_MAX_LENGTH (64 * 1024)
#define SEGMENT_MAX_DEPTH 64

/* KIND_ATTRIBUTE is text, compared as a number with <, <=, >, >= and
 * between when the value is a number (see comparison()). */
enum field_kind {
	KIND_TEXT, KIND_NUMBER, KIND_DATE, KIND_STATUS, KIND_ATTRIBUTE
};

static const struct field {
	const char *name;
	enum field_kind kind;
} fields[] = {
	{ "email", KIND_TEXT },
	{ "first_name", KIND_TEXT },
	{ "last_name", KIND_TEXT },
	{ "address", KIND_TEXT },
	{ "city", KIND_TEXT },
	{ "state", KIND_TEXT },
	{ "zip", KIND_TEXT },
	{ "country", KIND_TEXT },
	{ "donated_total", KIND_NUMBER },
	{ "donation_count", KIND_NUMBER },
	{ "last_donation_amount", KIND_NUMBER },
	{ "last_donation_at", KIND_DATE },
	{ "status", KIND_STATUS },
	{ "created_at", KIND_DATE },
};

const char *const segment_fields[] = {
	"email", "first_name", "last_name", "address", "city", "state", "zip",
	"country", "donated_total", "donation_count", "last_donation_amount",
	"last_donation_at", "status", "created_at", "attributes.NAME", NULL
};

enum token_type {
	T_END, T_WORD, T_NUMBER, T_DATE, T_STRING, T_LPAREN, T_RPAREN,
	T_COMMA, T_OP,
};

struct token {
	enum token_type type;
	size_t start, length;	/* in the expression */
	struct buf text;	/* strings: unescaped; others: as written */
};

struct parser {
	const char *src;
	size_t length, pos;
	struct token tok;
	const char *today;
	struct segment_sql *out;
	struct buf *err;
	unsigned depth;
};

/* The column of byte at, in characters: UTF-8 continuation bytes do
 * not count. */
static unsigned
column_of(const struct parser *p, size_t at)
{
	unsigned column = 1;

	for (size_t i = 0; i < at && i < p->length; i++)
		column += ((unsigned char)p->src[i] & 0xc0) != 0x80;
	return column;
}

static void
fail(struct parser *p, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
fail(struct parser *p, size_t at, const char *fmt, ...)
{
	va_list ap;

	if (p->err->len)
		return;		/* the first error is the one reported */
	buf_printf(p->err, "column %u: ", column_of(p, at));
	va_start(ap, fmt);
	buf_vprintf(p->err, fmt, ap);
	va_end(ap);
}

static int
is_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '@' ||
	    c == '+' || c == '-';
}

/* Bytes of the word character at s (ASCII, or any non-ASCII character
 * in valid UTF-8, so Zoë and München are words); 0 when none is there. */
static size_t
word_char_length(const char *s, size_t left)
{
	if ((unsigned char)s[0] < 0x80)
		return is_word_char(s[0]) ? 1 : 0;
	return encode_utf8_length(s, left);
}

static int
looks_like_date(const char *s, size_t n)
{
	return n == 10 && isdigit((unsigned char)s[0]) &&
	    isdigit((unsigned char)s[3]) && s[4] == '-' && s[7] == '-' &&
	    strspn(s, "0123456789-") == 10;
}

static int
looks_like_number(const char *s, size_t n)
{
	size_t i = s[0] == '-' ? 1 : 0, dots = 0;

	if (i == n)
		return 0;
	for (; i < n; i++) {
		if (s[i] == '.')
			dots++;
		else if (!isdigit((unsigned char)s[i]))
			return 0;
	}
	return dots <= 1 && s[n - 1] != '.';
}

/* Reads the next token into p->tok; -1 on a lexical error. */
static int
next(struct parser *p)
{
	const char *s = p->src;
	struct token *t = &p->tok;
	size_t i;

	while (p->pos < p->length && isspace((unsigned char)s[p->pos]))
		p->pos++;
	buf_reset(&t->text);
	t->start = p->pos;
	if (p->pos == p->length) {
		t->type = T_END;
		t->length = 0;
		return 0;
	}
	i = p->pos;
	switch (s[i]) {
	case '(':
		t->type = T_LPAREN;
		p->pos++;
		break;
	case ')':
		t->type = T_RPAREN;
		p->pos++;
		break;
	case ',':
		t->type = T_COMMA;
		p->pos++;
		break;
	case '=':
		t->type = T_OP;
		p->pos++;
		break;
	case '!':
	case '<':
	case '>':
		t->type = T_OP;
		p->pos++;
		if (p->pos < p->length && (s[p->pos] == '=' || (s[i] == '<' &&
		    s[p->pos] == '>')))
			p->pos++;
		if (s[i] == '!' && p->pos == i + 1) {
			fail(p, i, "expected \"!=\", found \"!\"");
			return -1;
		}
		break;
	case '"':
	case '\'':
		t->type = T_STRING;
		for (p->pos = i + 1; p->pos < p->length && s[p->pos] != s[i];
		    p->pos++) {
			if (s[p->pos] == '\\' && p->pos + 1 < p->length)
				p->pos++;
			buf_append_char(&t->text, s[p->pos]);
		}
		if (p->pos == p->length) {
			fail(p, i, "unterminated string: expected a closing "
			    "%c", s[i]);
			return -1;
		}
		p->pos++;
		t->length = p->pos - i;
		return 0;
	default:
		if ((unsigned char)s[i] >= 0x80 &&
		    encode_utf8_length(s + i, p->length - i) == 0) {
			fail(p, i, "byte 0x%02x is not UTF-8 text",
			    (unsigned char)s[i]);
			return -1;
		}
		if (word_char_length(s + i, p->length - i) == 0) {
			fail(p, i, "unexpected character '%c'", s[i]);
			return -1;
		}
		for (size_t n; p->pos < p->length && (n = word_char_length(s +
		    p->pos, p->length - p->pos)) > 0; )
			p->pos += n;
		t->type = T_WORD;
		if (looks_like_date(s + i, p->pos - i))
			t->type = T_DATE;
		else if (looks_like_number(s + i, p->pos - i))
			t->type = T_NUMBER;
		break;
	}
	t->length = p->pos - i;
	buf_append(&t->text, s + i, t->length);
	return 0;
}

static int
is_keyword(const struct parser *p, const char *word)
{
	return p->tok.type == T_WORD && strcasecmp(buf_str(&p->tok.text),
	    word) == 0;
}

static const char *
found(const struct parser *p)
{
	return p->tok.type == T_END ? "the end" : buf_str(&p->tok.text);
}

static void
emit(struct parser *p, const char *sql)
{
	buf_append_str(&p->out->where, sql);
}

static void
param(struct parser *p, const char *value, size_t length)
{
	struct segment_sql *o = p->out;

	o->params = xrealloc(o->params, (o->count + 1) * sizeof(char *));
	o->params[o->count++] = xstrndup(value, length);
	buf_append_char(&o->where, '?');
}

/* Records that the expression names a mailing or list at token t. */
static void
reference(struct parser *p, int type, const struct token *t)
{
	struct segment_sql *o = p->out;
	struct segment_reference *r;

	o->references = xrealloc(o->references, (o->reference_count + 1) *
	    sizeof(*o->references));
	r = &o->references[o->reference_count++];
	r->type = type;
	r->value = xstrndup(t->text.data, t->text.len);
	r->column = column_of(p, t->start);
}

/* --- values ----------------------------------------------------------- */

/* Parses one value for a field of kind and emits it as a parameter. */
static int
value(struct parser *p, enum field_kind kind, const char *field)
{
	struct token *t = &p->tok;
	size_t at = t->start;

	if (t->type == T_NUMBER && kind == KIND_DATE) {
		const char *text = buf_str(&t->text);
		long days = -1;
		char date[16];

		/* A whole number in range: strtol would saturate (and the
		 * date arithmetic overflow) on a huge one. */
		if (strspn(text, "0123456789") == strlen(text) &&
		    strlen(text) <= 6)
			days = strtol(text, NULL, 10);
		if (days < 0 || days > DATE_DAYS_BEFORE_MAX) {
			fail(p, at, "\"%s days ago\": the number of days must "
			    "be a whole number from 0 to %ld", text,
			    DATE_DAYS_BEFORE_MAX);
			return -1;
		}
		if (next(p))
			return -1;
		if (!is_keyword(p, "days") && !is_keyword(p, "day")) {
			fail(p, p->tok.start, "expected \"days ago\" after "
			    "the number, found \"%s\"", found(p));
			return -1;
		}
		if (next(p))
			return -1;
		if (!is_keyword(p, "ago")) {
			fail(p, p->tok.start, "expected \"ago\", found "
			    "\"%s\"", found(p));
			return -1;
		}
		date_days_before(p->today, days, date);	/* in range */
		param(p, date, strlen(date));
		return next(p);
	}
	if (kind == KIND_DATE && is_keyword(p, "today")) {
		param(p, p->today, strlen(p->today));
		return next(p);
	}
	if (t->type != T_NUMBER && t->type != T_DATE && t->type != T_STRING &&
	    t->type != T_WORD) {
		fail(p, at, "expected a value, found \"%s\"", found(p));
		return -1;
	}
	if (kind == KIND_NUMBER && t->type != T_NUMBER) {
		fail(p, at, "%s is a number: expected a number such as 100 "
		    "or 12.50, found \"%s\"", field, found(p));
		return -1;
	}
	if (kind == KIND_DATE) {
		struct buf why = BUF_INIT;

		if (t->type != T_DATE) {
			fail(p, at, "%s is a date: expected YYYY-MM-DD, today "
			    "or \"N days ago\", found \"%s\"", field,
			    found(p));
			return -1;
		}
		if (date_check(buf_str(&t->text), &why) != 0) {
			fail(p, at, "%s is not a date: %s", buf_str(&t->text),
			    buf_str(&why));
			buf_free(&why);
			return -1;
		}
	}
	if (kind == KIND_STATUS) {
		const char *v = buf_str(&t->text);

		if (strcmp(v, "active") && strcmp(v, "unsubscribed") &&
		    strcmp(v, "bounced") && strcmp(v, "complained")) {
			fail(p, at, "status is one of active, unsubscribed, "
			    "bounced, complained; found \"%s\"", v);
			return -1;
		}
	}
	param(p, t->text.data, t->text.len);
	return next(p);
}

/* --- fields --------------------------------------------------------------- */

/* Emits the SQL for the field token; sets kind. */
static int
field(struct parser *p, enum field_kind *kind, struct buf *name)
{
	const char *word = buf_str(&p->tok.text);

	buf_reset(name);
	buf_append_str(name, word);
	if (p->tok.type == T_WORD && strncmp(word, "attributes.", 11) == 0) {
		struct buf path = BUF_INIT;
		const char *part = word + 11;

		buf_append_char(&path, '$');
		while (*part) {
			size_t n = strcspn(part, ".");

			if (n == 0 || strspn(part, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") < n) {
				fail(p, p->tok.start, "attribute names are "
				    "letters, digits, '_' and '-' joined by "
				    "dots, as in attributes.member.level");
				buf_free(&path);
				return -1;
			}
			buf_printf(&path, ".\"%.*s\"", (int)n, part);
			part += n + (part[n] == '.');
		}
		emit(p, "JSON_UNQUOTE(JSON_EXTRACT(r.attributes, ");
		param(p, path.data, path.len);
		emit(p, "))");
		buf_free(&path);
		*kind = KIND_ATTRIBUTE;
		return next(p);
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (p->tok.type == T_WORD && strcmp(word, fields[i].name) == 0) {
			buf_printf(&p->out->where, "r.%s", fields[i].name);
			*kind = fields[i].kind;
			return next(p);
		}
	}
	if (p->tok.type == T_WORD) {
		fail(p, p->tok.start, "unknown field \"%s\"; known fields: ",
		    word);
		for (unsigned i = 0; segment_fields[i]; i++)
			buf_printf(p->err, "%s%s", i ? ", " : "",
			    segment_fields[i]);
	} else {
		fail(p, p->tok.start, "expected a field name, found \"%s\"",
		    found(p));
	}
	return -1;
}

/* LIKE patterns: the user's %, _ and \ match themselves. */
static void
like_param(struct parser *p, const char *prefix, const char *text,
    const char *suffix)
{
	struct buf pattern = BUF_INIT;

	buf_append_str(&pattern, prefix);
	for (const char *c = text; *c; c++) {
		if (*c == '%' || *c == '_' || *c == '\\')
			buf_append_char(&pattern, '\\');
		buf_append_char(&pattern, *c);
	}
	buf_append_str(&pattern, suffix);
	param(p, pattern.data, pattern.len);
	buf_free(&pattern);
}

static int comparison(struct parser *p);
static int or_expr(struct parser *p);

/*
 * Attributes are text (the importer stores every value as a JSON
 * string): "gold" >= "5" holds as text. Ordered against a number, the
 * attribute emitted at field_at is rewritten to its value as a number,
 * NULL (matching nothing) when it is not one, so only numbers compare.
 */
#define ATTRIBUTE_NUMBER "'^-?[0-9]+([.][0-9]+)?$'"
#define SQL_NUMBER_TYPE "DECIMAL(65,30)"

static void
attribute_as_number(struct parser *p, size_t field_at)
{
	char *column = xstrdup(p->out->where.data + field_at);

	p->out->where.len = field_at;
	buf_printf(&p->out->where, "CAST(NULLIF(REGEXP_SUBSTR(%s, "
	    ATTRIBUTE_NUMBER "), '') AS " SQL_NUMBER_TYPE ")", column);
	free(column);
}

/* A number value compared with an attribute as a number. */
static int
number_value(struct parser *p, const char *field)
{
	if (p->tok.type != T_NUMBER) {
		fail(p, p->tok.start, "%s is compared as a number here: "
		    "expected a number, found \"%s\"", field, found(p));
		return -1;
	}
	emit(p, "CAST(");
	if (value(p, KIND_ATTRIBUTE, field))
		return -1;
	emit(p, " AS " SQL_NUMBER_TYPE ")");
	return 0;
}

static int
in_list(struct parser *p, enum field_kind kind, const char *name, int negate)
{
	if (next(p))
		return -1;
	if (p->tok.type != T_LPAREN) {
		fail(p, p->tok.start, "expected '(' after in, found \"%s\"",
		    found(p));
		return -1;
	}
	emit(p, negate ? " NOT IN (" : " IN (");
	if (next(p))
		return -1;
	for (int first = 1;; first = 0) {
		if (!first)
			emit(p, ", ");
		if (value(p, kind, name))
			return -1;
		if (p->tok.type == T_RPAREN)
			break;
		if (p->tok.type != T_COMMA) {
			fail(p, p->tok.start, "expected ',' or ')' in the "
			    "list, found \"%s\"", found(p));
			return -1;
		}
		if (next(p))
			return -1;
	}
	emit(p, ")");
	return next(p);
}

static int
comparison(struct parser *p)
{
	struct buf name = BUF_INIT;
	enum field_kind kind;
	size_t field_at;
	int status = -1;

	emit(p, "(");
	field_at = p->out->where.len;
	if (field(p, &kind, &name))
		goto out;
	if (p->tok.type == T_OP) {
		char op[3];
		int ordered;

		snprintf(op, sizeof(op), "%s", strcmp(buf_str(&p->tok.text),
		    "!=") == 0 ? "<>" : buf_str(&p->tok.text));
		ordered = (op[0] == '<' || op[0] == '>') && strcmp(op, "<>");
		if (next(p))
			goto out;
		if (kind == KIND_ATTRIBUTE && ordered &&
		    p->tok.type == T_NUMBER) {
			attribute_as_number(p, field_at);
			buf_printf(&p->out->where, " %s ", op);
			if (number_value(p, buf_str(&name)))
				goto out;
		} else {
			buf_printf(&p->out->where, " %s ", op);
			if (value(p, kind, buf_str(&name)))
				goto out;
		}
	} else if (is_keyword(p, "in")) {
		if (in_list(p, kind, buf_str(&name), 0))
			goto out;
	} else if (is_keyword(p, "not")) {
		if (next(p))
			goto out;
		if (!is_keyword(p, "in")) {
			fail(p, p->tok.start, "expected \"in\" after \"not\", "
			    "found \"%s\"", found(p));
			goto out;
		}
		if (in_list(p, kind, buf_str(&name), 1))
			goto out;
	} else if (is_keyword(p, "between")) {
		int numeric;

		if (next(p))
			goto out;
		numeric = kind == KIND_ATTRIBUTE && p->tok.type == T_NUMBER;
		if (numeric)
			attribute_as_number(p, field_at);
		emit(p, " BETWEEN ");
		if (numeric ? number_value(p, buf_str(&name)) : value(p, kind,
		    buf_str(&name)))
			goto out;
		if (!is_keyword(p, "and")) {
			fail(p, p->tok.start, "expected \"and\" in between A "
			    "and B, found \"%s\"", found(p));
			goto out;
		}
		emit(p, " AND ");
		if (next(p) || (numeric ? number_value(p, buf_str(&name)) :
		    value(p, kind, buf_str(&name))))
			goto out;
	} else if (is_keyword(p, "starts") || is_keyword(p, "contains")) {
		int starts = is_keyword(p, "starts");

		if (next(p))
			goto out;
		if (starts && !is_keyword(p, "with")) {
			fail(p, p->tok.start, "expected \"with\" after "
			    "\"starts\", found \"%s\"", found(p));
			goto out;
		}
		if (starts && next(p))
			goto out;
		if (p->tok.type == T_END || p->tok.type == T_LPAREN ||
		    p->tok.type == T_RPAREN || p->tok.type == T_COMMA ||
		    p->tok.type == T_OP) {
			fail(p, p->tok.start, "expected a text to match, "
			    "found \"%s\"", found(p));
			goto out;
		}
		emit(p, " LIKE ");
		like_param(p, starts ? "" : "%", buf_str(&p->tok.text), "%");
		emit(p, " ESCAPE '\\\\'");
		if (next(p))
			goto out;
	} else if (is_keyword(p, "is")) {
		int negate;
		char *column;

		if (next(p))
			goto out;
		negate = is_keyword(p, "not");
		if (negate && next(p))
			goto out;
		if (!is_keyword(p, "empty")) {
			fail(p, p->tok.start, "expected \"empty\" or \"not "
			    "empty\" after \"is\", found \"%s\"", found(p));
			goto out;
		}
		/*
		 * ((f = '') IS NOT FALSE) holds for NULL and '', and names
		 * the field once (an attribute's path is one bound value).
		 */
		column = xstrdup(p->out->where.data + field_at);
		p->out->where.len = field_at;
		buf_printf(&p->out->where, "(%s = '') IS %sFALSE", column,
		    negate ? "" : "NOT ");
		free(column);
		if (next(p))
			goto out;
	} else {
		fail(p, p->tok.start, "expected a comparison operator (=, !=, "
		    "<, <=, >, >=, in, between, starts with, contains, is), "
		    "found \"%s\"", found(p));
		goto out;
	}
	emit(p, ")");
	status = 0;
out:
	buf_free(&name);
	return status;
}

static int
primary(struct parser *p)
{
	if (p->tok.type == T_LPAREN) {
		size_t open = p->tok.start;

		if (next(p))
			return -1;
		emit(p, "(");
		if (or_expr(p))
			return -1;
		if (p->tok.type != T_RPAREN) {
			fail(p, p->tok.start, "expected ')' closing the '(' at "
			    "column %zu, found \"%s\"", open + 1, found(p));
			return -1;
		}
		emit(p, ")");
		return next(p);
	}
	if (is_keyword(p, "received")) {
		if (next(p))
			return -1;
		if (p->tok.type != T_LPAREN) {
			fail(p, p->tok.start, "expected '(' after received, as "
			    "in received(42)");
			return -1;
		}
		if (next(p))
			return -1;
		if (p->tok.type != T_NUMBER || strspn(buf_str(&p->tok.text),
		    "0123456789") != p->tok.text.len) {
			fail(p, p->tok.start, "expected a mailing id, found "
			    "\"%s\"", found(p));
			return -1;
		}
		emit(p, "EXISTS (SELECT 1 FROM history h WHERE h.recipient_id "
		    "= r.id AND h.mailing_id = ");
		reference(p, SEGMENT_MAILING, &p->tok);
		param(p, p->tok.text.data, p->tok.text.len);
		emit(p, " AND h.delivery_state = 'sent' AND NOT EXISTS (SELECT "
		    "1 FROM bounces b WHERE b.mailing_id = h.mailing_id AND "
		    "b.recipient_id = h.recipient_id))");
		if (next(p))
			return -1;
		if (p->tok.type != T_RPAREN) {
			fail(p, p->tok.start, "expected ')' after the mailing "
			    "id, found \"%s\"", found(p));
			return -1;
		}
		return next(p);
	}
	if (is_keyword(p, "list")) {
		const char *op;

		if (next(p))
			return -1;
		op = buf_str(&p->tok.text);
		if (p->tok.type != T_OP || (strcmp(op, "=") && strcmp(op, "!=") &&
		    strcmp(op, "<>"))) {
			fail(p, p->tok.start, "expected = or != after list, "
			    "found \"%s\"", found(p));
			return -1;
		}
		emit(p, strcmp(op, "=") ? "NOT EXISTS" : "EXISTS");
		emit(p, " (SELECT 1 FROM list_members lm JOIN lists l ON l.id "
		    "= lm.list_id WHERE lm.recipient_id = r.id AND l.name = ");
		if (next(p))
			return -1;
		if (p->tok.type != T_END)
			reference(p, SEGMENT_LIST, &p->tok);
		if (value(p, KIND_TEXT, "list"))
			return -1;
		emit(p, ")");
		return 0;
	}
	return comparison(p);
}

static int
unary(struct parser *p)
{
	int status;

	if (++p->depth > SEGMENT_MAX_DEPTH) {
		fail(p, p->tok.start, "nested more than %d deep",
		    SEGMENT_MAX_DEPTH);
		return -1;
	}
	if (is_keyword(p, "not")) {
		emit(p, "NOT ");
		status = next(p) ? -1 : unary(p);
	} else {
		status = primary(p);
	}
	p->depth--;
	return status;
}

static int
and_expr(struct parser *p)
{
	if (unary(p))
		return -1;
	while (is_keyword(p, "and")) {
		emit(p, " AND ");
		if (next(p) || unary(p))
			return -1;
	}
	return 0;
}

static int
or_expr(struct parser *p)
{
	if (++p->depth > SEGMENT_MAX_DEPTH) {
		fail(p, p->tok.start, "nested more than %d deep",
		    SEGMENT_MAX_DEPTH);
		return -1;
	}
	if (and_expr(p))
		return -1;
	while (is_keyword(p, "or")) {
		emit(p, " OR ");
		if (next(p) || and_expr(p))
			return -1;
	}
	p->depth--;
	return 0;
}

/* Words with a meaning of their own in an expression. */
static const char *const reserved_words[] = {
	"all", "and", "or", "not", "in", "between", "starts", "with",
	"contains", "is", "empty", "list", "received", "today", "day", "days",
	"ago", "attributes", NULL
};

int
segment_name_check(const char *name, struct buf *why)
{
	size_t length = strlen(name);

	if (length == 0 || length > SEGMENT_NAME_MAX ||
	    !isalpha((unsigned char)name[0]) ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_-") != length) {
		buf_printf(why, "\"%s\" cannot name a segment: a name is 1 to "
		    "%d ASCII letters, digits, '_' and '-', starting with a "
		    "letter", name, SEGMENT_NAME_MAX);
		return -1;
	}
	for (unsigned i = 0; reserved_words[i]; i++)
		if (strcasecmp(name, reserved_words[i]) == 0)
			goto reserved;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcasecmp(name, fields[i].name) == 0)
			goto reserved;
	return 0;
reserved:
	buf_printf(why, "\"%s\" cannot name a segment: it is a word of the "
	    "segment language", name);
	return -1;
}

void
segment_sql_init(struct segment_sql *s)
{
	buf_init(&s->where);
	s->params = NULL;
	s->count = 0;
	s->references = NULL;
	s->reference_count = 0;
}

void
segment_sql_free(struct segment_sql *s)
{
	for (unsigned i = 0; i < s->count; i++)
		free(s->params[i]);
	free(s->params);
	for (unsigned i = 0; i < s->reference_count; i++)
		free(s->references[i].value);
	free(s->references);
	buf_free(&s->where);
	segment_sql_init(s);
}

int
segment_compile(const char *expr, const char *today,
    struct segment_sql *out, struct buf *err)
{
	struct parser p;
	int status = -1;

	memset(&p, 0, sizeof(p));
	p.src = expr;
	p.length = strlen(expr);
	p.today = today;
	p.out = out;
	p.err = err;
	buf_reset(err);
	segment_sql_free(out);
	if (p.length > SEGMENT_MAX_LENGTH) {
		buf_printf(err, "expression longer than %d bytes",
		    SEGMENT_MAX_LENGTH);
		return -1;
	}
	if (next(&p))
		goto out;
	if (p.tok.type == T_END) {
		fail(&p, 0, "empty expression: expected a condition, or "
		    "\"all\"");
		goto out;
	}
	if (is_keyword(&p, "all")) {
		if (next(&p))
			goto out;
		if (p.tok.type != T_END) {
			fail(&p, p.tok.start, "\"all\" stands alone: expected "
			    "the end, found \"%s\"", found(&p));
			goto out;
		}
		emit(&p, "1 = 1");
		status = 0;
		goto out;
	}
	if (or_expr(&p))
		goto out;
	if (p.tok.type != T_END) {
		fail(&p, p.tok.start, "expected and, or or the end, found "
		    "\"%s\"", found(&p));
		goto out;
	}
	status = 0;
out:
	buf_free(&p.tok.text);
	if (status)
		segment_sql_free(out);
	return status;
}
