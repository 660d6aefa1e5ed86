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
 * Keys come from "token_key ID = SECRET" lines (newest last): new tokens
 * use the newest, verification accepts any listed key, so keys rotate.
 * What a valid key is, is config_check_token_key()'s rule (config.h), so
 * "herald config check" refuses what token_keys_load() would.
 * With none configured, STATE/token-keys holds a generated key (created
 * mode 600 on first use, same "ID SECRET" line format).
 */
#ifndef HERALD_TOKEN_H
#define HERALD_TOKEN_H

#include <stdint.h>

#include "buf.h"
#include "config.h"

struct token_keys;

/* Loads the keys (generating the state file's when none is configured).
 * NULL with the reason in err. */
struct token_keys *token_keys_load(const struct herald_config *cfg,
    struct buf *err);

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

/* Appends the token for (mailing, recipient) and purpose (not
 * TOKEN_CLICK: see token_make_click()), signed with the newest key. */
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
 * unknown key, made for another purpose, bad signature).
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
