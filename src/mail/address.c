/*
 * address.c - RFC 5321 mailbox syntax (see address.h).
 */
#include "address.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <strings.h>
#include <string.h>

#define LOCAL_MAX 64
#define LABEL_MAX 63
#define DOMAIN_MAX 253
#define ADDRESS_MAX 254

static int
is_atext(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static void
describe(struct buf *why, size_t at, const char *expected,
    unsigned char found)
{
	buf_printf(why, "column %zu: expected %s, found ", at + 1, expected);
	if (found >= 0x80)
		buf_printf(why, "the non-ASCII byte 0x%02x (addresses must "
		    "be ASCII)", found);
	else if (found > 32 && found < 127)
		buf_printf(why, "'%c'", found);
	else
		buf_printf(why, "the control or space byte 0x%02x", found);
}

/* The local part [0, end); returns its length or 0 after setting why. */
static int
check_local(const char *s, size_t end, struct buf *why)
{
	size_t i = 0;

	if (end == 0) {
		buf_printf(why, "column 1: expected a local part before '@'");
		return -1;
	}
	if (end > LOCAL_MAX) {
		buf_printf(why, "local part longer than %d octets", LOCAL_MAX);
		return -1;
	}
	if (s[0] == '"') {
		for (i = 1; i < end - 1; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c == '\\') {
				i++;
				c = i < end - 1 ? (unsigned char)s[i] : 0;
				if (c < 32 || c > 126) {
					describe(why, i, "a printable "
					    "character after '\\'", c);
					return -1;
				}
			} else if (c < 32 || c > 126 || c == '"') {
				describe(why, i, "printable ASCII in the "
				    "quoted local part", c);
				return -1;
			}
		}
		if (end < 2 || s[end - 1] != '"' || i != end - 1) {
			buf_printf(why, "column %zu: expected '\"' closing the "
			    "quoted local part", end);
			return -1;
		}
		return 0;
	}
	for (i = 0; i < end; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (i == 0 || i == end - 1 || s[i - 1] == '.') {
				buf_printf(why, "column %zu: a dot cannot %s "
				    "the local part", i + 1, i == 0 ? "start" :
				    i == end - 1 ? "end" : "follow a dot in");
				return -1;
			}
		} else if (!is_atext(c)) {
			describe(why, i, "a letter, digit or one of "
			    "!#$%&'*+-/=?^_`{|}~ in the local part", c);
			return -1;
		}
	}
	return 0;
}

static int
check_domain(const char *s, size_t start, size_t end, struct buf *why)
{
	size_t label = start;

	if (start == end) {
		buf_printf(why, "column %zu: expected a domain after '@'",
		    start + 1);
		return -1;
	}
	if (s[start] == '[') {
		char literal[64];
		unsigned char addr[16];
		size_t n = end - start - 2;

		if (s[end - 1] != ']' || n == 0 || n >= sizeof(literal)) {
			buf_printf(why, "column %zu: expected an address "
			    "literal such as [192.0.2.1]", start + 1);
			return -1;
		}
		memcpy(literal, s + start + 1, n);
		literal[n] = '\0';
		if (strncasecmp(literal, "IPv6:", 5) == 0 ?
		    inet_pton(AF_INET6, literal + 5, addr) == 1 :
		    inet_pton(AF_INET, literal, addr) == 1)
			return 0;
		buf_printf(why, "column %zu: \"%s\" is not an IPv4 address or "
		    "IPv6:address", start + 2, literal);
		return -1;
	}
	if (end - start > DOMAIN_MAX) {
		buf_printf(why, "domain longer than %d octets", DOMAIN_MAX);
		return -1;
	}
	for (size_t i = start; i <= end; i++) {
		unsigned char c = i < end ? (unsigned char)s[i] : '.';

		if (c == '.') {
			if (i == label) {
				buf_printf(why, "column %zu: expected a domain "
				    "label, found %s", i + 1, i == end ?
				    "the end" : "'.'");
				return -1;
			}
			if (i - label > LABEL_MAX) {
				buf_printf(why, "column %zu: domain label "
				    "longer than %d characters", label + 1,
				    LABEL_MAX);
				return -1;
			}
			if (s[label] == '-' || s[i - 1] == '-') {
				buf_printf(why, "column %zu: a domain label "
				    "cannot start or end with '-'", s[label] ==
				    '-' ? label + 1 : i);
				return -1;
			}
			label = i + 1;
		} else if (!isalnum(c) && c != '-') {
			describe(why, i, "a letter, digit, '-' or '.' in the "
			    "domain", c);
			return -1;
		}
	}
	return 0;
}

int
address_check(const char *text, size_t length, struct buf *normalized,
    struct buf *why)
{
	size_t at;

	if (length == 0) {
		buf_printf(why, "empty address");
		return -1;
	}
	if (length > ADDRESS_MAX) {
		buf_printf(why, "address longer than %d octets", ADDRESS_MAX);
		return -1;
	}
	/* The last '@' splits: a quoted local part may hold one. */
	for (at = length; at > 0 && text[at - 1] != '@'; at--)
		;
	if (at == 0) {
		buf_printf(why, "missing '@'");
		return -1;
	}
	at--;
	if (check_local(text, at, why) || check_domain(text, at + 1, length,
	    why))
		return -1;
	buf_reset(normalized);
	buf_append(normalized, text, at + 1);
	for (size_t i = at + 1; i < length; i++)
		buf_append_char(normalized, (char)tolower((unsigned char)
		    text[i]));
	return 0;
}

int
address_is_safe_for_smtp(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= 32 || (unsigned char)*s >= 127 ||
		    *s == '<' || *s == '>')
			return 0;
	return 1;
}

int
address_parse_mailbox(const char *text, struct buf *name,
    struct buf *address, struct buf *why)
{
	const char *lt = strrchr(text, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	size_t name_start = 0, name_end = lt ? (size_t)(lt - text) : 0;

	buf_reset(name);
	if (strpbrk(text, "\r\n")) {
		buf_append_str(why, "line breaks are not allowed");
		return -1;
	}
	if (lt && (gt == NULL || gt[1] != '\0')) {
		buf_append_str(why, "expected \"Name <address>\" or an "
		    "address");
		return -1;
	}
	while (name_start < name_end && text[name_start] == ' ')
		name_start++;
	while (name_end > name_start && text[name_end - 1] == ' ')
		name_end--;
	if (name_end - name_start >= 2 && text[name_start] == '"' &&
	    text[name_end - 1] == '"') {
		name_start++;
		name_end--;
	}
	if (address_check(lt ? lt + 1 : text, lt ? (size_t)(gt - lt - 1) :
	    strlen(text), address, why) != 0)
		return -1;
	buf_append(name, text + name_start, name_end - name_start);
	return 0;
}
