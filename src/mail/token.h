/*
 * token.h - signed tokens, one purpose each.
 *
 * A token names a recipient and a mailing, proves herald made it and
 * says what it is for. Each purpose signs under its own label, so a
 * token made for one purpose never verifies for another: the
 * view-online link, which recipients share, cannot unsubscribe anyone,
 * and neither link's token can sign a return path.
 *
 *	unsubscribe, view-online:  KID.MAILING.RECIPIENT.MAC
 *	click:                     KID.MAILING.RECIPIENT.LINK.MAC
 *	return-path:               MAILING-RECIPIENT-KID-MAC
 *
 * KID names the key, MAILING and RECIPIENT are decimal ids. In the link
 * tokens MAC is the first 16 bytes of HMAC-SHA256(key, LABEL KID "."
 * MAILING "." RECIPIENT), base64url: only URL-safe characters, so the
 * token goes into a URL or a mailto subject as is. The label is
 * "herald-unsubscribe:" (the label of the tokens herald made before
 * purposes were separated, so links in mail already delivered keep
 * working), "herald-view-online:" or "herald-click:"; a click token
 * also signs LINK, the id of the link in the links table (links.h), so
 * it redirects to that one link only. The return-path token is the local
 * part after "bounces+" of the VERP envelope sender (returnpath.h):
 * its MAC is the first 8 bytes under "herald-return-path:", in
 * lowercase base32, since mail systems may change the case of an
 * address's local part and the local part has at most 64 octets. 64 bits
 * are enough there: each guess costs the forger a mail, and a wrong one
 * changes nothing.
 *
 * Changing any id breaks the MAC, so a token cannot be forged or moved
 * to another recipient without the key.
 *
 * This module only computes: a set of keys (struct token_keys, in
 * order, the last the newest) is handed to it. New tokens use the
 * newest key, verification accepts any key of the set, so keys rotate.
 * Where the keys come from (the database's token_keys table, or
 * "token_key ID = SECRET" lines of the configuration, which override
 * it) is keyring.h's business. What a valid key is, is
 * config_check_token_key()'s rule (config.h), so "herald config check"
 * refuses what token_keys_add() would. token_keys_read_file() reads
 * the STATE/token-keys file older versions generated ("ID SECRET"
 * lines, mode 600), for its import into the database.
 */
#ifndef HERALD_TOKEN_H
#define HERALD_TOKEN_H

#include <stdint.h>

#include "buf.h"
#include "config.h"

struct token_keys;

/* An empty set of keys; token_keys_add() fills it. */
struct token_keys *token_keys_new(void);

/* Appends a key (the newest so far) after checking it; where names its
 * origin in err (a file and line, a table). 0, or -1 with the reason. */
int token_keys_add(struct token_keys *keys, const char *id,
    const char *secret, const char *where, struct buf *err);

/* The configuration's token_key lines, in order: a set that may be
 * empty (none configured). NULL with the reason in err. */
struct token_keys *token_keys_from_config(const struct herald_config *cfg,
    struct buf *err);

/* The keys of an "ID SECRET" file (refused when others can read it or
 * it holds none). NULL with the reason in err. */
struct token_keys *token_keys_read_file(const char *path, struct buf *err);

/* How many keys; the id and secret of the i-th (0 the oldest). The
 * secret is for storing the key (keyring.h), never for printing. */
unsigned token_keys_count(const struct token_keys *keys);
const char *token_keys_id(const struct token_keys *keys, unsigned i);
const char *token_keys_secret(const struct token_keys *keys, unsigned i);

/* Appends a new random secret (32 bytes, base64url). 0, or -1 with the
 * reason in err. */
int token_key_generate(struct buf *secret, struct buf *err);

/* Frees keys, wiping the secrets. */
void token_keys_free(struct token_keys *keys);

enum token_purpose {
	TOKEN_UNSUBSCRIBE,	/* one-click and mailto unsubscribe */
	TOKEN_VIEW_ONLINE,	/* the view-online link */
	TOKEN_RETURN_PATH,	/* the VERP envelope sender (returnpath.h) */
	TOKEN_CLICK,		/* a tracked link (token_make_click()) */
	TOKEN_PURPOSE_COUNT
};

/* "unsubscribe", "view-online", "return-path", "click". */
const char *token_purpose_name(enum token_purpose purpose);

/* The purpose named name: 0, or -1 when there is none by that name. */
int token_purpose_parse(const char *name, enum token_purpose *purpose);

/* token_verify()'s result when the token names a key not in the set
 * (a newer key, or one retired): the caller may read its keys again. */
#define TOKEN_UNKNOWN_KEY (-2)

/* Appends the token for (mailing, recipient) and purpose (not
 * TOKEN_CLICK: see token_make_click()), signed with the newest key.
 * keys must hold at least one key. */
void token_make(const struct token_keys *keys, enum token_purpose purpose,
    uint64_t mailing, uint64_t recipient, struct buf *out);

/* Bytes of a key made by token_derive_key(). */
#define TOKEN_DERIVED_KEY_BYTES 32

/*
 * Fills out with HMAC-SHA256(newest key, label): a key of its own for a
 * use that is not a token (label "herald-variant-assignment:" ranks a
 * mailing's recipients, variant.h), so the token keys themselves never
 * leave herald and that use can never sign a token.
 */
void token_derive_key(const struct token_keys *keys, const char *label,
    unsigned char out[TOKEN_DERIVED_KEY_BYTES]);

/* Appends the click token for (mailing, recipient, link), signed with
 * the newest key. */
void token_make_click(const struct token_keys *keys, uint64_t mailing,
    uint64_t recipient, uint64_t link, struct buf *out);

/*
 * Checks token for purpose (not TOKEN_CLICK: see token_verify_click()). Returns 0 and the ids when its MAC is right
 * under the key it names, or -1 with the reason in why (malformed,
 * made for another purpose, bad signature), or TOKEN_UNKNOWN_KEY.
 */
int token_verify(const struct token_keys *keys, enum token_purpose purpose,
    const char *token, uint64_t *mailing, uint64_t *recipient,
    struct buf *why);

/* Checks a click token: 0 and its three ids, or -1 with the reason in
 * why, as token_verify(). */
int token_verify_click(const struct token_keys *keys, const char *token,
    uint64_t *mailing, uint64_t *recipient, uint64_t *link,
    struct buf *why);

#endif
