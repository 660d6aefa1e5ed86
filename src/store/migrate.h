/*
 * migrate.h - numbered schema migrations from the sql/ directory.
 *
 * A migration is a file NNN_name.sql (NNN a positive number, the schema
 * version it brings the database to). migrate_apply() runs, in order,
 * every file whose version the table schema_migrations does not record,
 * recording each after it succeeded, under a server lock so two herald
 * processes never migrate at once. Not only those above the highest
 * recorded: features are developed side by side, and a database that
 * has 009 still gets a 007 that arrived after it (each migration is
 * written to be independent of its neighbours and safe to re-run).
 */
#ifndef HERALD_MIGRATE_H
#define HERALD_MIGRATE_H

#include <mysql.h>

#include "buf.h"

struct migration {
	unsigned version;
	char *name;		/* file name, e.g. "001_schema.sql" */
	char *path;
};

struct migration_list {
	struct migration *items;
	unsigned count;
};

/*
 * Lists the migrations in directory, sorted by version. Two files with
 * the same version, or a name that does not match NNN_name.sql, are
 * errors. Free with migration_list_free().
 */
int migration_list_read(const char *directory, struct migration_list *list,
    struct buf *err);
void migration_list_free(struct migration_list *list);

/*
 * The schema version recorded in the current database: 0 when herald's
 * tables do not exist yet, -1 on error.
 */
int migrate_current_version(MYSQL *db, struct buf *err);

/*
 * Appends to names the file names of list's migrations the database has
 * not had, separated by ", " (nothing when it is current).
 */
int migrate_pending(MYSQL *db, const struct migration_list *list,
    struct buf *names, struct buf *err);

/*
 * Applies what is pending. *applied gets how many files were run.
 * The connection must allow multiple statements. Returns 0 or -1.
 */
int migrate_apply(MYSQL *db, const struct migration_list *list,
    unsigned *applied, struct buf *err);

#endif
