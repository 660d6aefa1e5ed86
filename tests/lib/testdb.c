/*
 * testdb.c - the C integration tests' access to the test server
 * (testdb.h): one place for the skip rule, the fresh schema and the
 * statements that fail a test, so that each test program holds only
 * its own scenario.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "migrate.h"
#include "testdb.h"

int
testdb_server_missing(const char *program)
{
	if (getenv("HERALD_TEST_SOCKET") != NULL)
		return 0;
	if (getenv("HERALD_TEST_REQUIRE_SERVERS")) {
		printf("FAIL - %s: HERALD_TEST_SOCKET unset\n", program);
		return 1;
	}
	printf("SKIP - %s: HERALD_TEST_SOCKET is not set (run contrib/check, "
	    "which starts MariaDB)\n", program);
	return 77;
}

void
testdb_config(struct herald_config *cfg)
{
	config_defaults(cfg);
	free(cfg->database_socket);
	cfg->database_socket = xstrdup(getenv("HERALD_TEST_SOCKET"));
}

MYSQL *
testdb_connect(const struct herald_config *cfg, int flags,
    const char *database)
{
	struct buf err = BUF_INIT, use = BUF_INIT;
	MYSQL *db = db_connect(cfg, flags, &err);

	ck_assert_msg(db != NULL, "%s", buf_str(&err));
	if (database != NULL && database[0] != '\0') {
		buf_printf(&use, "USE %s", database);
		if (db_exec(db, buf_str(&use), &err) != 0) {
			fprintf(stderr, "%s: %s\n", buf_str(&use),
			    buf_str(&err));
			mysql_close(db);
			db = NULL;
		}
	}
	buf_free(&use);
	buf_free(&err);
	return db;
}

void
testdb_create(MYSQL *db, const char *database)
{
	struct migration_list list;
	struct buf err = BUF_INIT, text = BUF_INIT;
	unsigned applied;

	buf_printf(&text, "DROP DATABASE IF EXISTS %s; CREATE DATABASE %s; "
	    "USE %s", database, database, database);
	sql(db, buf_str(&text));
	ck_assert_int_eq(migration_list_read(HERALD_SRCDIR "/sql", &list,
	    &err), 0);
	ck_assert_msg(migrate_apply(db, &list, &applied, &err) == 0, "%s",
	    buf_str(&err));
	migration_list_free(&list);
	buf_free(&text);
	buf_free(&err);
}

void
testdb_drop(MYSQL *db, const char *database)
{
	struct buf text = BUF_INIT;

	buf_printf(&text, "DROP DATABASE IF EXISTS %s", database);
	sql(db, buf_str(&text));
	buf_free(&text);
}

void
sql(MYSQL *db, const char *text)
{
	struct buf err = BUF_INIT;

	ck_assert_msg(db_exec(db, text, &err) == 0, "%s: %s", text,
	    buf_str(&err));
	buf_free(&err);
}

int
read_one(void *arg, unsigned ncolumns, char **columns)
{
	struct buf *out = arg;

	for (unsigned i = 0; i < ncolumns; i++)
		buf_printf(out, "%s%s", i ? "|" : "",
		    columns[i] ? columns[i] : "NULL");
	return 1;
}

char *
query(MYSQL *db, const char *text)
{
	struct buf out = BUF_INIT, err = BUF_INIT;

	ck_assert_msg(db_query_strings(db, text, 0, NULL, read_one, &out,
	    &err) == 0, "%s: %s", text, buf_str(&err));
	buf_free(&err);
	return buf_steal(&out);
}

void
expect(MYSQL *db, const char *text, const char *want)
{
	char *got = query(db, text);

	ck_assert_msg(strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"",
	    text, got, want);
	free(got);
}
