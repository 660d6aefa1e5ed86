/*
 * address.h - email addresses as SMTP takes them (RFC 5321 Mailbox).
 *
 * address_check() accepts Local-part "@" Domain where the local part is
 * a dot-string or a quoted string of printable ASCII, and the domain a
 * host name or an address literal ([192.0.2.1], [IPv6:2001:db8::1]).
 * Limits: local part 64 octets, domain labels 63, address 254. Non-ASCII
 * is refused (herald does not offer SMTPUTF8). The normalized form has
 * the domain in lower case; the local part is kept as written, since
 * only the receiving host may interpret it.
 */
#ifndef HERALD_ADDRESS_H
#define HERALD_ADDRESS_H

#include <stddef.h>

#include "buf.h"

/* 0, with the normalized address in normalized (reset first); or -1
 * with "column N: what was expected" in why, normalized untouched. */
int address_check(const char *text, size_t length, struct buf *normalized,
    struct buf *why);

/*
 * Splits a From-style mailbox, "Name <address>", "\"Name\" <address>"
 * or a bare address, and checks its address: 0 with the display name
 * (quotes and outer spaces removed, "" when none) and the normalized
 * address in name and address (reset first); -1 with the reason in why
 * (a line break, a malformed bracket, or address_check()'s reason).
 */
int address_parse_mailbox(const char *text, struct buf *name,
    struct buf *address, struct buf *why);

/* 1 when s can stand in MAIL FROM/RCPT TO: non-empty, printable ASCII
 * without spaces or angle brackets. */
int address_is_safe_for_smtp(const char *s);

#endif
