/*
 * conversion_post.c - checking and reading POST /v bodies (see
 * conversion_post.h).
 */
#include "conversion_post.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

enum conversion_post_check
conversion_post_read(const char *secret, const char *signature,
    const char *body, size_t length, struct conversion_post *p,
    struct buf *why)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned mac_length = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	const char *key;
	json_t *value;
	json_error_t error;

	memset(p, 0, sizeof(*p));
	HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (const unsigned char *)body, length, mac, &mac_length);
	for (unsigned i = 0; i < mac_length; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	if (signature == NULL || strncmp(signature, "sha256=", 7) != 0 ||
	    strlen(signature + 7) != 2 * mac_length ||
	    CRYPTO_memcmp(signature + 7, hex, 2 * mac_length) != 0) {
		buf_printf(why, "%s", signature ? "bad signature: "
		    "X-Herald-Signature must be sha256= and the HMAC-SHA256 "
		    "of the body under conversion_secret, in lowercase hex" :
		    "no X-Herald-Signature header");
		return CONVERSION_POST_UNSIGNED;
	}
	p->root = json_loadb(body, length, JSON_REJECT_DUPLICATES, &error);
	if (p->root == NULL || !json_is_object(p->root)) {
		buf_printf(why, "the body is not a JSON object%s%s",
		    p->root ? "" : ": ", p->root ? "" : error.text);
		conversion_post_free(p);
		return CONVERSION_POST_MALFORMED;
	}
	json_object_foreach(p->root, key, value) {
		if (!json_is_string(value) ||
		    conversion_set_field(&p->c, key, json_string_value(value))
		    != 0) {
			buf_printf(why, "field \"%s\": %s", key,
			    json_is_string(value) ? "unknown (the fields are "
			    "id, amount, currency, time, and token or email "
			    "and mailing)" : "expected a string");
			conversion_post_free(p);
			return CONVERSION_POST_MALFORMED;
		}
	}
	return CONVERSION_POST_OK;
}

void
conversion_post_free(struct conversion_post *p)
{
	json_decref(p->root);
	memset(p, 0, sizeof(*p));
}
