/*
 * token.h - signed unsubscribe tokens.
 *
 * A token names a recipient and a mailing and proves herald made it:
 *
 *	KID.MAILING.RECIPIENT.MAC
 *
 * KID names the key, MAILING and RECIPIENT are decimal ids, MAC is the
 * first 16 bytes of HMAC-SHA256(key, "herald-unsubscribe:" KID "."
 * MAILING "." RECIPIENT), base64url. Only URL-safe characters appear, so
 * a token goes into a URL or a mailto subject as is. Changing any id
 * breaks the MAC, so a token cannot be forged or moved to another
 * recipient without the key.
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

/* Appends the token for (mailing, recipient), signed with the newest key. */
void token_make(const struct token_keys *keys, uint64_t mailing,
    uint64_t recipient, struct buf *out);

/*
 * Checks token. Returns 0 and the ids when its MAC is right under the
 * key it names, or -1 with the reason in why (malformed, unknown key,
 * bad signature).
 */
int token_verify(const struct token_keys *keys, const char *token,
    uint64_t *mailing, uint64_t *recipient, struct buf *why);

#endif
