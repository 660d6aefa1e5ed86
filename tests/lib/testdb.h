/*
 * testdb.h - what the C integration tests that run against the real
 * MariaDB of contrib/check ($HERALD_TEST_SOCKET) share: whether there is
 * a server, a configuration pointing at it, a fresh database with the
 * schema of sql/ applied, and statements whose failure fails the test.
 *
 * testdb_server_missing() says, before the suite runs, whether to skip;
 * the rest are for a test's fixture and body: they fail the running
 * Check test (ck_assert) on any error, with the statement and the
 * server's message.
 */
#ifndef HERALD_TESTDB_H
#define HERALD_TESTDB_H

#include <mysql.h>

#include "config.h"

/*
 * 0 when HERALD_TEST_SOCKET names a server. Otherwise prints
 * "SKIP - PROGRAM: ..." and returns 77 (automake's skip), or, when
 * HERALD_TEST_REQUIRE_SERVERS is set, "FAIL - PROGRAM: ..." and 1: the
 * caller's main returns what it gets.
 */
int testdb_server_missing(const char *program);

/* cfg set to the defaults, its database socket the test server's.
 * The caller frees it with config_free(). */
void testdb_config(struct herald_config *cfg);

/*
 * A connection as cfg says with db_connect()'s FLAGS (failing the test
 * when there is none), its current database DATABASE unless that is
 * NULL or empty. NULL when DATABASE cannot be selected (a racer in a
 * child process says so by its exit status). The caller closes it.
 */
MYSQL *testdb_connect(const struct herald_config *cfg, int flags,
    const char *database);

/* DATABASE afresh (one left by an earlier run dropped), the migrations
 * of sql/ applied, selected as db's current database. */
void testdb_create(MYSQL *db, const char *database);

/* Drops DATABASE (the end of a test's fixture). */
void testdb_drop(MYSQL *db, const char *database);

/* Runs TEXT (several statements when db allows them). */
void sql(MYSQL *db, const char *text);

/* A db_query_strings() or db_query_values() row callback: appends
 * the row to the struct buf ARG as query() gives it, then stops. */
int read_one(void *arg, unsigned ncolumns, char **columns);

/* The first row TEXT returns, columns joined with '|', NULL as "NULL"
 * ("" when there is no row). The caller frees it. */
char *query(MYSQL *db, const char *text);

/* Fails the test unless query(db, TEXT) is WANT. */
void expect(MYSQL *db, const char *text, const char *want);

#endif
