/*
 * token.c - HMAC-SHA256 unsubscribe tokens (see token.h).
 */
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "encode.h"

#define TOKEN_MAC_BYTES 16	/* 128 bits: forging is out of reach */
#define TOKEN_MAX 128

struct token_key {
	char id[CONFIG_TOKEN_KEY_ID_MAX + 1];
	char *secret;
};

struct token_keys {
	struct token_key *keys;		/* file order: the last is newest */
	unsigned count;
};

static int
keys_add(struct token_keys *k, const char *id, const char *secret,
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

/* Writes a new random key to path, mode 600, without replacing one. */
static int
state_key_create(const char *path, struct buf *err)
{
	unsigned char raw[32];
	struct buf line = BUF_INIT;
	int fd, ok;

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		buf_printf(err, "cannot generate a token key: no randomness");
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return 0;	/* another process made it first */
		buf_printf(err, "%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	buf_append_str(&line, "k1 ");
	encode_base64(raw, sizeof(raw), 1, &line);
	buf_append_char(&line, '\n');
	ok = write(fd, line.data, line.len) == (ssize_t)line.len &&
	    fsync(fd) == 0;
	close(fd);
	buf_free(&line);
	if (!ok) {
		unlink(path);
		buf_printf(err, "%s: cannot write: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
state_keys_read(struct token_keys *k, const char *path, struct buf *err)
{
	char text[512], id[64], secret[256];
	struct stat st;
	unsigned line = 0;
	FILE *fp = fopen(path, "r");

	if (fp == NULL) {
		buf_printf(err, "%s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & 077)) {
		buf_printf(err, "%s: holds secret keys but others can read it "
		    "(mode %03o): chmod 600 %s", path,
		    (unsigned)(st.st_mode & 0777), path);
		fclose(fp);
		return -1;
	}
	while (fgets(text, sizeof(text), fp)) {
		char where[1100];

		line++;
		if (text[0] == '#' || text[0] == '\n')
			continue;
		snprintf(where, sizeof(where), "%s:%u", path, line);
		if (sscanf(text, "%63s %255s", id, secret) != 2) {
			buf_printf(err, "%s: expected \"ID SECRET\"", where);
			fclose(fp);
			return -1;
		}
		if (keys_add(k, id, secret, where, err) != 0) {
			fclose(fp);
			return -1;
		}
	}
	fclose(fp);
	if (k->count == 0) {
		buf_printf(err, "%s: holds no key", path);
		return -1;
	}
	return 0;
}

struct token_keys *
token_keys_load(const struct herald_config *cfg, struct buf *err)
{
	struct token_keys *k = xcalloc(1, sizeof(*k));
	int status = 0;

	for (const struct config_entry *e = cfg->token_key; e && !status;
	    e = e->next) {
		char where[1100];

		snprintf(where, sizeof(where), "%s:%u", cfg->path ? cfg->path :
		    "(configuration)", e->line);
		status = keys_add(k, e->argument, e->value, where, err);
	}
	if (!status && k->count == 0) {
		struct buf path = BUF_INIT;

		buf_printf(&path, "%s/token-keys", cfg->state_directory);
		/* The state directory may not exist before the first use. */
		if (mkdir(cfg->state_directory, 0750) != 0 && errno != EEXIST) {
			buf_printf(err, "%s: cannot create: %s",
			    cfg->state_directory, strerror(errno));
			status = -1;
		}
		if (!status)
			status = state_key_create(buf_str(&path), err);
		if (!status)
			status = state_keys_read(k, buf_str(&path), err);
		buf_free(&path);
	}
	if (status) {
		token_keys_free(k);
		return NULL;
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

/* The MAC of "KID.MAILING.RECIPIENT" (signed), base64url. */
static void
token_mac(const struct token_key *key, const char *signed_part,
    size_t length, struct buf *out)
{
	static const char domain[] = "herald-unsubscribe:";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned mac_length = 0;
	char message[TOKEN_MAX + sizeof(domain)];

	memcpy(message, domain, sizeof(domain) - 1);
	memcpy(message + sizeof(domain) - 1, signed_part, length);
	HMAC(EVP_sha256(), key->secret, (int)strlen(key->secret),
	    (const unsigned char *)message, sizeof(domain) - 1 + length, mac,
	    &mac_length);
	encode_base64(mac, TOKEN_MAC_BYTES, 1, out);
}

void
token_make(const struct token_keys *keys, uint64_t mailing,
    uint64_t recipient, struct buf *out)
{
	const struct token_key *key = &keys->keys[keys->count - 1];
	size_t start = out->len;

	buf_printf(out, "%s.%" PRIu64 ".%" PRIu64, key->id, mailing,
	    recipient);
	{
		char signed_part[TOKEN_MAX];
		size_t length = out->len - start;

		memcpy(signed_part, out->data + start, length);
		buf_append_char(out, '.');
		token_mac(key, signed_part, length, out);
	}
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

int
token_verify(const struct token_keys *keys, const char *token,
    uint64_t *mailing, uint64_t *recipient, struct buf *why)
{
	const char *dot[3], *p = token;
	size_t length = strlen(token);
	struct buf mac = BUF_INIT;
	const struct token_key *key = NULL;
	char id[CONFIG_TOKEN_KEY_ID_MAX + 1];
	int good;

	for (int i = 0; i < 3; i++) {
		dot[i] = p ? strchr(p, '.') : NULL;
		p = dot[i] ? dot[i] + 1 : NULL;
	}
	if (length >= TOKEN_MAX || dot[2] == NULL || strchr(p, '.') ||
	    (size_t)(dot[0] - token) > CONFIG_TOKEN_KEY_ID_MAX ||
	    parse_id(dot[0] + 1, (size_t)(dot[1] - dot[0] - 1), mailing) ||
	    parse_id(dot[1] + 1, (size_t)(dot[2] - dot[1] - 1), recipient)) {
		buf_printf(why, "malformed token: expected "
		    "KEY.MAILING.RECIPIENT.SIGNATURE");
		return -1;
	}
	memcpy(id, token, (size_t)(dot[0] - token));
	id[dot[0] - token] = '\0';
	for (unsigned i = 0; i < keys->count; i++)
		if (strcmp(keys->keys[i].id, id) == 0)
			key = &keys->keys[i];
	if (key == NULL) {
		buf_printf(why, "token signed with key \"%s\", which is not "
		    "configured (token_key)", id);
		return -1;
	}
	token_mac(key, token, (size_t)(dot[2] - token), &mac);
	good = mac.len == strlen(dot[2] + 1) &&
	    CRYPTO_memcmp(mac.data, dot[2] + 1, mac.len) == 0;
	buf_free(&mac);
	if (!good) {
		buf_printf(why, "bad signature: the token was altered or not "
		    "made by herald");
		return -1;
	}
	return 0;
}
