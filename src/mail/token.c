/*
 * token.c - HMAC-SHA256 tokens, one purpose each (see token.h).
 */
#include "token.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "encode.h"

#define TOKEN_MAC_BYTES 16	/* 128 bits: forging is out of reach */
#define TOKEN_RETURN_PATH_MAC_BYTES 8	/* see token.h */
#define TOKEN_MAX 128

struct token_key {
	char id[CONFIG_TOKEN_KEY_ID_MAX + 1];
	char *secret;
};

struct token_keys {
	struct token_key *keys;		/* file order: the last is newest */
	unsigned count;
};

struct token_keys *
token_keys_new(void)
{
	return xcalloc(1, sizeof(struct token_keys));
}

unsigned
token_keys_count(const struct token_keys *keys)
{
	return keys->count;
}

const char *
token_keys_id(const struct token_keys *keys, unsigned i)
{
	return keys->keys[i].id;
}

const char *
token_keys_secret(const struct token_keys *keys, unsigned i)
{
	return keys->keys[i].secret;
}

int
token_keys_add(struct token_keys *k, const char *id, const char *secret,
    const char *where, struct buf *err)
{
	struct buf why = BUF_INIT;

	if (config_check_token_key(id, secret, &why) != 0) {
		buf_printf(err, "%s: %s", where, buf_str(&why));
		buf_free(&why);
		return -1;
	}
	k->keys = xrealloc(k->keys, (k->count + 1) * sizeof(*k->keys));
	strcpy(k->keys[k->count].id, id);
	k->keys[k->count].secret = xstrdup(secret);
	k->count++;
	return 0;
}

int
token_key_generate(struct buf *secret, struct buf *err)
{
	unsigned char raw[32];

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		buf_printf(err, "cannot generate a token key: no randomness");
		return -1;
	}
	encode_base64(raw, sizeof(raw), 1, secret);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

struct token_keys *
token_keys_read_file(const char *path, struct buf *err)
{
	struct token_keys *k = token_keys_new();
	char text[512], id[64], secret[256];
	struct stat st;
	unsigned line = 0;
	FILE *fp = fopen(path, "r");

	if (fp == NULL) {
		buf_printf(err, "%s: cannot read: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & 077)) {
		buf_printf(err, "%s: holds secret keys but others can read it "
		    "(mode %03o): chmod 600 %s", path,
		    (unsigned)(st.st_mode & 0777), path);
		goto fail;
	}
	while (fgets(text, sizeof(text), fp)) {
		char where[1100];

		line++;
		if (text[0] == '#' || text[0] == '\n')
			continue;
		snprintf(where, sizeof(where), "%s:%u", path, line);
		if (sscanf(text, "%63s %255s", id, secret) != 2) {
			buf_printf(err, "%s: expected \"ID SECRET\"", where);
			goto fail;
		}
		if (token_keys_add(k, id, secret, where, err) != 0)
			goto fail;
	}
	fclose(fp);
	fp = NULL;
	if (k->count == 0) {
		buf_printf(err, "%s: holds no key", path);
		goto fail;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(text, sizeof(text));
	return k;
fail:
	if (fp)
		fclose(fp);
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(text, sizeof(text));
	token_keys_free(k);
	return NULL;
}

struct token_keys *
token_keys_from_config(const struct herald_config *cfg, struct buf *err)
{
	struct token_keys *k = token_keys_new();

	for (const struct config_entry *e = cfg->token_key; e; e = e->next) {
		char where[1100];

		snprintf(where, sizeof(where), "%s:%u", cfg->path ? cfg->path :
		    "(configuration)", e->line);
		if (token_keys_add(k, e->argument, e->value, where, err) != 0) {
			token_keys_free(k);
			return NULL;
		}
	}
	return k;
}

void
token_keys_free(struct token_keys *k)
{
	if (k == NULL)
		return;
	for (unsigned i = 0; i < k->count; i++) {
		OPENSSL_cleanse(k->keys[i].secret, strlen(k->keys[i].secret));
		free(k->keys[i].secret);
	}
	free(k->keys);
	free(k);
}

static const struct {
	const char *name;
	const char *label;		/* signed before the token's text */
} token_purposes[TOKEN_PURPOSE_COUNT] = {
	[TOKEN_UNSUBSCRIBE] = { "unsubscribe", "herald-unsubscribe:" },
	[TOKEN_VIEW_ONLINE] = { "view-online", "herald-view-online:" },
	[TOKEN_RETURN_PATH] = { "return-path", "herald-return-path:" },
	[TOKEN_CLICK] = { "click", "herald-click:" },
};

const char *
token_purpose_name(enum token_purpose purpose)
{
	return token_purposes[purpose].name;
}

int
token_purpose_parse(const char *name, enum token_purpose *purpose)
{
	for (int i = 0; i < TOKEN_PURPOSE_COUNT; i++)
		if (strcmp(name, token_purposes[i].name) == 0) {
			*purpose = (enum token_purpose)i;
			return 0;
		}
	return -1;
}

/* Lowercase base32 (RFC 4648 alphabet, no padding) of length bytes. */
static void
token_base32(const unsigned char *in, size_t length, struct buf *out)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned bits = 0, value = 0;

	for (size_t i = 0; i < length; i++) {
		value = (value << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			buf_append_char(out, alphabet[(value >> (bits - 5)) & 31]);
			bits -= 5;
		}
	}
	if (bits > 0)
		buf_append_char(out, alphabet[(value << (5 - bits)) & 31]);
}

/* The MAC of "KID.MAILING.RECIPIENT" (a click's: "KID.MAILING.
 * RECIPIENT.LINK") under purpose's label, in the purpose's encoding. */
static void
token_mac(const struct token_key *key, enum token_purpose purpose,
    uint64_t mailing, uint64_t recipient, uint64_t link, struct buf *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned mac_length = 0;
	char message[TOKEN_MAX + 32];
	int length;

	if (purpose == TOKEN_CLICK)
		length = snprintf(message, sizeof(message), "%s%s.%" PRIu64
		    ".%" PRIu64 ".%" PRIu64, token_purposes[purpose].label,
		    key->id, mailing, recipient, link);
	else
		length = snprintf(message, sizeof(message), "%s%s.%" PRIu64
		    ".%" PRIu64, token_purposes[purpose].label, key->id,
		    mailing, recipient);
	HMAC(EVP_sha256(), key->secret, (int)strlen(key->secret),
	    (const unsigned char *)message, (size_t)length, mac, &mac_length);
	if (purpose == TOKEN_RETURN_PATH)
		token_base32(mac, TOKEN_RETURN_PATH_MAC_BYTES, out);
	else
		encode_base64(mac, TOKEN_MAC_BYTES, 1, out);
}

void
token_make(const struct token_keys *keys, enum token_purpose purpose,
    uint64_t mailing, uint64_t recipient, struct buf *out)
{
	const struct token_key *key = &keys->keys[keys->count - 1];

	if (purpose == TOKEN_RETURN_PATH)
		buf_printf(out, "%" PRIu64 "-%" PRIu64 "-%s-", mailing,
		    recipient, key->id);
	else
		buf_printf(out, "%s.%" PRIu64 ".%" PRIu64 ".", key->id,
		    mailing, recipient);
	token_mac(key, purpose, mailing, recipient, 0, out);
}

void
token_make_click(const struct token_keys *keys, uint64_t mailing,
    uint64_t recipient, uint64_t link, struct buf *out)
{
	const struct token_key *key = &keys->keys[keys->count - 1];

	buf_printf(out, "%s.%" PRIu64 ".%" PRIu64 ".%" PRIu64 ".", key->id,
	    mailing, recipient, link);
	token_mac(key, TOKEN_CLICK, mailing, recipient, link, out);
}

void
token_derive_key(const struct token_keys *keys, const char *label,
    unsigned char out[TOKEN_DERIVED_KEY_BYTES])
{
	const struct token_key *key = &keys->keys[keys->count - 1];
	unsigned mac_length = 0;

	HMAC(EVP_sha256(), key->secret, (int)strlen(key->secret),
	    (const unsigned char *)label, strlen(label), out, &mac_length);
}

/* Parses a decimal id with no sign, no leading zero, no overflow. */
static int
parse_id(const char *s, size_t length, uint64_t *value)
{
	uint64_t v = 0;

	if (length == 0 || length > 20 || (s[0] == '0' && length > 1))
		return -1;
	for (size_t i = 0; i < length; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*value = v;
	return 0;
}

/* The parts of a token: its key id and MAC, and the ids it names. */
struct token_parts {
	char id[CONFIG_TOKEN_KEY_ID_MAX + 1];
	char mac[32];
	uint64_t mailing, recipient, link;
};

/* Copies [s, s+n) into out (size size) when it fits: 0, else -1. */
static int
token_copy(char *out, size_t size, const char *s, size_t n)
{
	if (n == 0 || n >= size)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* KID.MAILING.RECIPIENT.MAC, or with ids 3, KID.MAILING.RECIPIENT.
 * LINK.MAC (a click's). */
static int
token_split_link(const char *token, unsigned ids, struct token_parts *t)
{
	const char *dot[4], *p = token;

	for (unsigned i = 0; i <= ids; i++) {
		dot[i] = p ? strchr(p, '.') : NULL;
		p = dot[i] ? dot[i] + 1 : NULL;
	}
	t->link = 0;
	if (dot[ids] == NULL || strchr(p, '.') ||
	    token_copy(t->id, sizeof(t->id), token,
	    (size_t)(dot[0] - token)) ||
	    parse_id(dot[0] + 1, (size_t)(dot[1] - dot[0] - 1), &t->mailing) ||
	    parse_id(dot[1] + 1, (size_t)(dot[2] - dot[1] - 1),
	    &t->recipient) ||
	    (ids == 3 && parse_id(dot[2] + 1, (size_t)(dot[3] - dot[2] - 1),
	    &t->link)) ||
	    token_copy(t->mac, sizeof(t->mac), p, strlen(p)))
		return -1;
	return 0;
}

/* MAILING-RECIPIENT-KID-MAC (a KID may itself hold '-'); the MAC is
 * lowercased, as a mail system may have changed its case. */
static int
token_split_return_path(const char *token, struct token_parts *t)
{
	const char *first = strchr(token, '-');
	const char *second = first ? strchr(first + 1, '-') : NULL;
	const char *last = strrchr(token, '-');

	if (second == NULL || last == second ||
	    parse_id(token, (size_t)(first - token), &t->mailing) ||
	    parse_id(first + 1, (size_t)(second - first - 1), &t->recipient) ||
	    token_copy(t->id, sizeof(t->id), second + 1,
	    (size_t)(last - second - 1)) ||
	    token_copy(t->mac, sizeof(t->mac), last + 1, strlen(last + 1)))
		return -1;
	for (char *c = t->mac; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return 0;
}

/* The key named id; a return path's id may have had its case changed. */
static const struct token_key *
token_key_named(const struct token_keys *keys, const char *id,
    enum token_purpose purpose)
{
	for (unsigned i = 0; i < keys->count; i++)
		if (strcmp(keys->keys[i].id, id) == 0)
			return &keys->keys[i];
	for (unsigned i = 0; purpose == TOKEN_RETURN_PATH && i < keys->count;
	    i++)
		if (strcasecmp(keys->keys[i].id, id) == 0)
			return &keys->keys[i];
	return NULL;
}

/* 1 when mac is the MAC of t's ids under key for purpose. */
static int
token_mac_matches(const struct token_key *key, enum token_purpose purpose,
    const struct token_parts *t)
{
	struct buf mac = BUF_INIT;
	int good;

	token_mac(key, purpose, t->mailing, t->recipient, t->link, &mac);
	good = mac.len == strlen(t->mac) &&
	    CRYPTO_memcmp(mac.data, t->mac, mac.len) == 0;
	buf_free(&mac);
	return good;
}

/* token_verify() and token_verify_click(): 0 and the parts, or -1
 * (TOKEN_UNKNOWN_KEY when the key it names is not in keys). */
static int
token_check(const struct token_keys *keys, enum token_purpose purpose,
    const char *token, struct token_parts *parts, struct buf *why)
{
	struct token_parts t;
	const struct token_key *key;
	int split;

	if (strlen(token) >= TOKEN_MAX)
		split = -1;
	else if (purpose == TOKEN_RETURN_PATH)
		split = token_split_return_path(token, &t);
	else
		split = token_split_link(token, purpose == TOKEN_CLICK ? 3 : 2,
		    &t);
	if (split != 0) {
		buf_printf(why, "malformed %s token: expected %s",
		    token_purposes[purpose].name, purpose == TOKEN_RETURN_PATH ?
		    "MAILING-RECIPIENT-KEY-SIGNATURE" : purpose == TOKEN_CLICK ?
		    "KEY.MAILING.RECIPIENT.LINK.SIGNATURE" :
		    "KEY.MAILING.RECIPIENT.SIGNATURE");
		return -1;
	}
	key = token_key_named(keys, t.id, purpose);
	if (key == NULL) {
		buf_printf(why, "token signed with key \"%s\", which is not "
		    "among the keys in use (herald key list)", t.id);
		return TOKEN_UNKNOWN_KEY;
	}
	if (token_mac_matches(key, purpose, &t)) {
		*parts = t;
		return 0;
	}
	/* Say so when the token is genuine but made for another purpose
	 * of the same shape. */
	for (int other = 0; other < TOKEN_PURPOSE_COUNT; other++)
		if (other != (int)purpose && (other == TOKEN_RETURN_PATH) ==
		    (purpose == TOKEN_RETURN_PATH) && (other == TOKEN_CLICK) ==
		    (purpose == TOKEN_CLICK) &&
		    token_mac_matches(key, (enum token_purpose)other, &t)) {
			buf_printf(why, "this is a %s token; it cannot be used "
			    "as a %s token", token_purposes[other].name,
			    token_purposes[purpose].name);
			return -1;
		}
	buf_printf(why, "bad signature: the token was altered or not "
	    "made by herald");
	return -1;
}

int
token_verify(const struct token_keys *keys, enum token_purpose purpose,
    const char *token, uint64_t *mailing, uint64_t *recipient,
    struct buf *why)
{
	struct token_parts t;

	if (purpose == TOKEN_CLICK) {
		buf_printf(why, "a click token names a link too: use "
		    "token_verify_click()");
		return -1;
	}
	int rc = token_check(keys, purpose, token, &t, why);

	if (rc != 0)
		return rc;
	*mailing = t.mailing;
	*recipient = t.recipient;
	return 0;
}

int
token_verify_click(const struct token_keys *keys, const char *token,
    uint64_t *mailing, uint64_t *recipient, uint64_t *link,
    struct buf *why)
{
	struct token_parts t;
	int rc = token_check(keys, TOKEN_CLICK, token, &t, why);

	if (rc != 0)
		return rc;
	*mailing = t.mailing;
	*recipient = t.recipient;
	*link = t.link;
	return 0;
}
