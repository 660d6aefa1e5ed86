/*
 * keyring.h - the token keys in use: read from the database, cached,
 * rotated and retired.
 *
 * The keys live in the token_keys table (sql/014_keys.sql), one set for
 * every node and herald-web on the database: the unretired key created
 * last signs, every unretired key verifies (token.h). A long-running
 * process (a worker, herald-web) keeps them in a struct keyring, which
 * reads them again when they are older than KEYRING_REFRESH_SECONDS and,
 * when a token names a key it does not hold, at once (at most once a
 * second, so a flood of tokens naming unknown keys costs one query a
 * second): "herald key rotate" on any node reaches every other within
 * seconds, without a restart.
 *
 * The configuration's token_key lines, when a process has any, are used
 * instead of the database (an override for sites that distribute keys
 * with their configuration; every node must then carry the same lines).
 * herald db init and db migrate import them, and the STATE/token-keys
 * file of older versions, into the table once (keyring_import()), so
 * tokens in mail already sent keep verifying when the lines go.
 *
 * Secrets never reach a log or an error message: errors name key ids.
 * Functions returning int give 0, or -1 with a sentence in err.
 */
#ifndef HERALD_KEYRING_H
#define HERALD_KEYRING_H

#include <mysql.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "token.h"

/* A cached set is read again after KEYRING_REFRESH_SECONDS; a miss
 * reads it again at most once per KEYRING_MISS_SECONDS. */
#define KEYRING_REFRESH_SECONDS 10
#define KEYRING_MISS_SECONDS 1

/*
 * The keys to use now: the configuration's token_key lines when there
 * are any, else the database's unretired keys, oldest first. At least
 * one key; NULL with the reason in err (none: "herald key rotate"
 * makes one). The caller frees the set (token_keys_free()).
 */
struct token_keys *keyring_read(const struct herald_config *cfg, MYSQL *db,
    struct buf *err);

/* 1 when cfg's token_key lines override the database's keys. */
int keyring_configured(const struct herald_config *cfg);

struct keyring;

/* A cache for a long-running process; cfg must outlive it. */
struct keyring *keyring_new(const struct herald_config *cfg);
void keyring_free(struct keyring *ring);

/*
 * The cached keys, read again (through db) when older than
 * KEYRING_REFRESH_SECONDS. The set belongs to ring and stays valid
 * until the next keyring_*() call on it. When a re-read fails the keys
 * already held are kept (logged), so a database hiccup stops nothing;
 * NULL with the reason in err only when none was ever read.
 */
const struct token_keys *keyring_keys(struct keyring *ring, MYSQL *db,
    struct buf *err);

/*
 * keyring_keys(), read again now: a worker turning to another mailing
 * signs it with the newest key from its first message.
 */
const struct token_keys *keyring_refresh(struct keyring *ring, MYSQL *db,
    struct buf *err);

/* The database connection, asked for only when the keys are to be read
 * (NULL when it cannot be reached: the keys held are kept). */
typedef MYSQL *keyring_db_fn(void *arg);

/*
 * token_verify() and token_verify_click() under the ring's keys (read
 * again when older than KEYRING_REFRESH_SECONDS); a token naming a key
 * the ring does not hold makes it read them again at once (at most
 * every KEYRING_MISS_SECONDS). So a redirect from keys held needs no
 * database. 0, or -1 with the reason in why.
 */
int keyring_verify(struct keyring *ring, keyring_db_fn *db_of, void *db_arg,
    enum token_purpose purpose, const char *token, uint64_t *mailing,
    uint64_t *recipient, struct buf *why);
int keyring_verify_click(struct keyring *ring, keyring_db_fn *db_of,
    void *db_arg, const char *token, uint64_t *mailing,
    uint64_t *recipient, uint64_t *link, struct buf *why);

/* One key as herald key list shows it (no secret). */
struct keyring_entry {
	const char *id;
	const char *origin;	/* "generated", "token_key in FILE", ... */
	const char *created_at, *retired_at;	/* UTC; retired_at NULL */
	int signs;		/* the newest unretired key */
};

typedef int keyring_list_fn(void *arg, const struct keyring_entry *key);

/* Calls fn for each key, oldest first; fn returns 0 to go on. */
int keyring_list(MYSQL *db, keyring_list_fn *fn, void *arg,
    struct buf *err);

/*
 * Adds a new random key, which signs from now on (the others still
 * verify). Its id ("kN", N one above every key's sequence number) is
 * appended to id.
 */
int keyring_rotate(MYSQL *db, struct buf *id, struct buf *err);

/*
 * Retires key id: tokens it signed no longer verify. Refused for an
 * unknown or already retired id, and for the key that signs (rotate
 * first), so there is always a key to sign with.
 */
int keyring_retire(MYSQL *db, const char *id, struct buf *err);

/*
 * Imports the keys of older versions: cfg's token_key lines, then
 * STATE/token-keys when it exists, each key once (a key whose id is
 * already in the table is left alone; one whose secret differs is
 * reported, since tokens it signed cannot verify). Then, when the table
 * holds no unretired key, generates one. Appends what was done to
 * report, one line each.
 */
int keyring_import(const struct herald_config *cfg, MYSQL *db,
    struct buf *report, struct buf *err);

#endif
