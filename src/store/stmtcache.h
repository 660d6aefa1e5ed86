/*
 * stmtcache.h - prepared statements kept open on a connection, by their
 * SQL text, for the connections that run the same statements over and
 * over (a worker's: the results of every relay session, the batch
 * bookkeeping).
 *
 * Preparing is parsing: for the results UPDATE of a relay session it was
 * half of what the server spent on a message (#14, measured in
 * README.md). A connection opted in with stmtcache_enable() gets each
 * statement prepared once; db.c takes a kept statement before running
 * SQL and gives it back after. Statements on other connections are
 * prepared and closed as before.
 *
 * A connection is known by its pointer and its server thread id, so a
 * MYSQL closed without stmtcache_forget() and another allocated at the
 * same address never share statements.
 */
#ifndef HERALD_STMTCACHE_H
#define HERALD_STMTCACHE_H

#include <mysql.h>

/* Keeps statements prepared on db from now until stmtcache_forget(). */
void stmtcache_enable(MYSQL *db);

/*
 * The kept statement for sql on db, taken out of the cache (the caller
 * gives it back with stmtcache_give_back() or closes it), or NULL.
 */
MYSQL_STMT *stmtcache_take(MYSQL *db, const char *sql);

/*
 * After a statement ran without error: keeps stmt for sql when db is
 * enabled (closing the least recently used one when full), closes it
 * otherwise.
 */
void stmtcache_give_back(MYSQL *db, const char *sql, MYSQL_STMT *stmt);

/* Closes every statement kept on db and stops keeping them. Call before
 * mysql_close(db). */
void stmtcache_forget(MYSQL *db);

#endif
