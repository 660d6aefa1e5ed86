/*
 * stmtcache.c - prepared statements kept per connection (see stmtcache.h).
 *
 * A worker runs about a dozen distinct statements, so a small table
 * searched linearly is enough; the least recently used statement makes
 * room. Statements whose text changes every time (a batch's stage table
 * name is in its SQL) pass through and are closed in turn.
 */
#include "stmtcache.h"
#include "buf.h"
#include "namehash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STMTCACHE_SLOTS 16
#define STMTCACHE_CONNECTIONS 4

struct stmtcache_connection {
	MYSQL *db;
	unsigned long thread;
};

struct stmtcache_entry {
	MYSQL *db;
	unsigned long thread;
	uint64_t hash;
	char *sql;
	MYSQL_STMT *stmt;
	uint64_t used;		/* tick of its last give-back */
};

static struct stmtcache_connection enabled[STMTCACHE_CONNECTIONS];
static struct stmtcache_entry entries[STMTCACHE_SLOTS];
static uint64_t ticks;

static void
stmtcache_drop(struct stmtcache_entry *e)
{
	/* After mysql_close() the library has detached the statement:
	 * closing it then only frees its memory. */
	mysql_stmt_close(e->stmt);
	free(e->sql);
	memset(e, 0, sizeof(*e));
}

static struct stmtcache_connection *
stmtcache_connection(MYSQL *db)
{
	unsigned long thread = mysql_thread_id(db);

	for (unsigned i = 0; i < STMTCACHE_CONNECTIONS; i++)
		if (enabled[i].db == db && enabled[i].thread == thread)
			return &enabled[i];
	return NULL;
}

void
stmtcache_enable(MYSQL *db)
{
	struct stmtcache_connection *slot = NULL;

	if (stmtcache_connection(db))
		return;
	/* A free slot, or one whose connection is gone (its pointer was
	 * reused or its thread changed): that one's statements go too. */
	for (unsigned i = 0; i < STMTCACHE_CONNECTIONS && slot == NULL; i++)
		if (enabled[i].db == NULL)
			slot = &enabled[i];
	if (slot == NULL) {
		slot = &enabled[0];
		stmtcache_forget(slot->db);
	}
	slot->db = db;
	slot->thread = mysql_thread_id(db);
}

MYSQL_STMT *
stmtcache_take(MYSQL *db, const char *sql)
{
	unsigned long thread;
	uint64_t hash;

	if (stmtcache_connection(db) == NULL)
		return NULL;
	thread = mysql_thread_id(db);
	hash = namehash(sql, 0);
	for (unsigned i = 0; i < STMTCACHE_SLOTS; i++) {
		struct stmtcache_entry *e = &entries[i];
		MYSQL_STMT *stmt;

		if (e->db != db || e->thread != thread || e->hash != hash ||
		    strcmp(e->sql, sql) != 0)
			continue;
		stmt = e->stmt;
		free(e->sql);
		memset(e, 0, sizeof(*e));
		return stmt;
	}
	return NULL;
}

void
stmtcache_give_back(MYSQL *db, const char *sql, MYSQL_STMT *stmt)
{
	struct stmtcache_entry *slot = NULL;

	if (stmtcache_connection(db) == NULL) {
		mysql_stmt_close(stmt);
		return;
	}
	/* The result of a query is done with; the statement stays. */
	mysql_stmt_free_result(stmt);
	for (unsigned i = 0; i < STMTCACHE_SLOTS; i++) {
		struct stmtcache_entry *e = &entries[i];

		if (e->stmt == NULL) {
			slot = e;
			break;
		}
		if (slot == NULL || e->used < slot->used)
			slot = e;
	}
	if (slot->stmt)
		stmtcache_drop(slot);
	slot->db = db;
	slot->thread = mysql_thread_id(db);
	slot->hash = namehash(sql, 0);
	slot->sql = xstrdup(sql);
	slot->stmt = stmt;
	slot->used = ++ticks;
}

void
stmtcache_forget(MYSQL *db)
{
	if (db == NULL)
		return;
	for (unsigned i = 0; i < STMTCACHE_SLOTS; i++)
		if (entries[i].db == db)
			stmtcache_drop(&entries[i]);
	for (unsigned i = 0; i < STMTCACHE_CONNECTIONS; i++)
		if (enabled[i].db == db)
			memset(&enabled[i], 0, sizeof(enabled[i]));
}
