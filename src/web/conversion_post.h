/*
 * conversion_post.h - the signed body of herald-web's POST /v.
 *
 * A site (a donation page's server) posts a conversion as a JSON object
 * whose values are strings, with the fields of conversion.h:
 *
 *	{"id": "d-1001", "amount": "25.00", "currency": "EUR",
 *	 "time": "2026-11-30 10:00:00 UTC", "token": "k1.1.2.3.MAC"}
 *
 * (or "email" and "mailing" instead of "token"), and signs the exact
 * bytes of the body with the shared conversion_secret:
 *
 *	X-Herald-Signature: sha256=HEX
 *
 * HEX being HMAC-SHA256(conversion_secret, body) in lowercase hex. The
 * signature is checked before the body is looked at.
 */
#ifndef HERALD_CONVERSION_POST_H
#define HERALD_CONVERSION_POST_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "conversion.h"

struct conversion_post {
	json_t *root;		/* owns the strings c points to */
	struct conversion c;
};

enum conversion_post_check {
	CONVERSION_POST_OK,
	CONVERSION_POST_UNSIGNED,	/* no or a wrong signature */
	CONVERSION_POST_MALFORMED,	/* signed, but not such an object */
};

/* Checks signature (the header's value, or NULL) over body and reads
 * it into p (free with conversion_post_free()); why says what is
 * wrong. */
enum conversion_post_check conversion_post_read(const char *secret,
    const char *signature, const char *body, size_t length,
    struct conversion_post *p, struct buf *why);

void conversion_post_free(struct conversion_post *p);

#endif
