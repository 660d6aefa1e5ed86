/*
 * migrate.c - numbered schema migrations (see migrate.h).
 */
#include "migrate.h"
#include "db.h"
#include "log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char migrate_table_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INT UNSIGNED NOT NULL PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP"
    ") ENGINE=InnoDB";

/* Seconds to wait for another herald that is migrating. */
#define MIGRATE_LOCK_TIMEOUT 60

static int
migration_compare(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

/* Parses "NNN_name.sql"; returns the version or 0 when it does not fit. */
static unsigned
migration_version_of(const char *name)
{
	size_t len = strlen(name);
	unsigned long version;
	char *end;

	if (!isdigit((unsigned char)name[0]) || len < 5 ||
	    strcmp(name + len - 4, ".sql") != 0)
		return 0;
	version = strtoul(name, &end, 10);
	if (*end != '_' || version == 0 || version > 1000000)
		return 0;
	return (unsigned)version;
}

void
migration_list_free(struct migration_list *list)
{
	for (unsigned i = 0; i < list->count; i++) {
		free(list->items[i].name);
		free(list->items[i].path);
	}
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

int
migration_list_read(const char *directory, struct migration_list *list,
    struct buf *err)
{
	DIR *dir = opendir(directory);
	struct dirent *entry;
	unsigned capacity = 0;

	list->items = NULL;
	list->count = 0;
	if (dir == NULL) {
		buf_printf(err, "cannot read the migrations directory %s: %s "
		    "(set sql_directory)", directory, strerror(errno));
		return -1;
	}
	while ((entry = readdir(dir)) != NULL) {
		const char *name = entry->d_name;
		struct buf path = BUF_INIT;
		unsigned version;

		if (name[0] == '.' || strlen(name) < 4 ||
		    strcmp(name + strlen(name) - 4, ".sql") != 0)
			continue;
		version = migration_version_of(name);
		if (version == 0) {
			buf_printf(err, "%s/%s: a migration's name must be "
			    "NNN_description.sql", directory, name);
			goto fail;
		}
		if (list->count == capacity) {
			capacity = capacity ? capacity * 2 : 8;
			list->items = xrealloc(list->items,
			    capacity * sizeof(*list->items));
		}
		buf_printf(&path, "%s/%s", directory, name);
		list->items[list->count].version = version;
		list->items[list->count].name = xstrdup(name);
		list->items[list->count].path = buf_steal(&path);
		list->count++;
	}
	closedir(dir);
	dir = NULL;
	if (list->count == 0) {
		buf_printf(err, "no migrations (NNN_name.sql) in %s: set "
		    "sql_directory to herald's sql/ directory", directory);
		goto fail;
	}
	qsort(list->items, list->count, sizeof(*list->items),
	    migration_compare);
	for (unsigned i = 1; i < list->count; i++) {
		if (list->items[i].version == list->items[i - 1].version) {
			buf_printf(err, "%s and %s have the same version %u",
			    list->items[i - 1].path, list->items[i].path,
			    list->items[i].version);
			goto fail;
		}
	}
	return 0;
fail:
	if (dir)
		closedir(dir);
	migration_list_free(list);
	return -1;
}

static int
migrate_version_row(void *arg, unsigned ncolumns, char **columns)
{
	int *version = arg;

	if (ncolumns == 1 && columns[0])
		*version = atoi(columns[0]);
	return 0;
}

int
migrate_current_version(MYSQL *db, struct buf *err)
{
	int exists = 0, version = 0;

	if (db_query_strings(db, "SELECT COUNT(*) FROM information_schema."
	    "TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = "
	    "'schema_migrations'", 0, NULL, migrate_version_row, &exists,
	    err))
		return -1;
	if (!exists)
		return 0;
	if (db_query_strings(db, "SELECT COALESCE(MAX(version), 0) FROM "
	    "schema_migrations", 0, NULL, migrate_version_row, &version, err))
		return -1;
	return version;
}

/* The versions schema_migrations records, in any order. */
struct applied_versions {
	unsigned *versions;
	unsigned count;
};

static int
applied_version_row(void *arg, unsigned ncolumns, char **columns)
{
	struct applied_versions *a = arg;

	if (ncolumns != 1 || columns[0] == NULL)
		return 0;
	a->versions = xrealloc(a->versions, (a->count + 1) *
	    sizeof(*a->versions));
	a->versions[a->count++] = (unsigned)strtoul(columns[0], NULL, 10);
	return 0;
}

static int
applied_versions_read(MYSQL *db, struct applied_versions *a,
    struct buf *err)
{
	int current = migrate_current_version(db, err);

	a->versions = NULL;
	a->count = 0;
	if (current <= 0)	/* error, or no table yet: nothing applied */
		return current;
	return db_query_strings(db, "SELECT version FROM schema_migrations",
	    0, NULL, applied_version_row, a, err);
}

static int
applied_versions_has(const struct applied_versions *a, unsigned version)
{
	for (unsigned i = 0; i < a->count; i++)
		if (a->versions[i] == version)
			return 1;
	return 0;
}

int
migrate_pending(MYSQL *db, const struct migration_list *list,
    struct buf *names, struct buf *err)
{
	struct applied_versions a;

	if (applied_versions_read(db, &a, err) != 0)
		return -1;
	for (unsigned i = 0; i < list->count; i++)
		if (!applied_versions_has(&a, list->items[i].version))
			buf_printf(names, "%s%s", names->len ? ", " : "",
			    list->items[i].name);
	free(a.versions);
	return 0;
}

/* Reads a whole migration file into out. */
static int
migrate_read_file(const char *path, struct buf *out, struct buf *err)
{
	FILE *fp = fopen(path, "r");
	char chunk[8192];
	size_t got;

	if (fp == NULL) {
		buf_printf(err, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(out, chunk, got);
	if (ferror(fp)) {
		buf_printf(err, "cannot read %s: %s", path, strerror(errno));
		fclose(fp);
		return -1;
	}
	fclose(fp);
	return 0;
}

static int
migrate_lock_row(void *arg, unsigned ncolumns, char **columns)
{
	int *locked = arg;

	*locked = ncolumns == 1 && columns[0] && strcmp(columns[0], "1") == 0;
	return 0;
}

static int
migrate_run_one(MYSQL *db, const struct migration *m, struct buf *err)
{
	struct buf sql = BUF_INIT, version = BUF_INIT;
	const char *params[2];
	int rc = -1;

	if (migrate_read_file(m->path, &sql, err))
		goto out;
	msg_info("applying migration %s", m->name);
	if (db_exec(db, buf_str(&sql), err)) {
		struct buf why = BUF_INIT;

		buf_append(&why, err->data, err->len);
		buf_reset(err);
		buf_printf(err, "migration %s failed: %s; fix the cause and "
		    "run \"herald db migrate\" again (migrations are safe to "
		    "re-run)", m->path, buf_str(&why));
		buf_free(&why);
		goto out;
	}
	buf_printf(&version, "%u", m->version);
	params[0] = buf_str(&version);
	params[1] = m->name;
	if (db_execute(db, "INSERT INTO schema_migrations (version, name) "
	    "VALUES (?, ?)", 2, params, NULL, err))
		goto out;
	rc = 0;
out:
	buf_free(&sql);
	buf_free(&version);
	return rc;
}

int
migrate_apply(MYSQL *db, const struct migration_list *list,
    unsigned *applied, struct buf *err)
{
	int locked = 0, rc = -1;
	struct buf lock_sql = BUF_INIT, release_err = BUF_INIT;
	struct applied_versions done = { NULL, 0 };

	*applied = 0;
	/* GET_LOCK is per server: a second herald waits, then finds
	 * nothing left to do. */
	buf_printf(&lock_sql, "SELECT GET_LOCK(CONCAT('herald.migrate.', "
	    "DATABASE()), %d)", MIGRATE_LOCK_TIMEOUT);
	if (db_query_strings(db, buf_str(&lock_sql), 0, NULL,
	    migrate_lock_row, &locked, err))
		goto out;
	if (!locked) {
		buf_printf(err, "another herald has been migrating this "
		    "database for over %d s; wait for it to finish",
		    MIGRATE_LOCK_TIMEOUT);
		goto out;
	}
	if (db_exec(db, migrate_table_sql, err))
		goto unlock;
	if (applied_versions_read(db, &done, err) != 0)
		goto unlock;
	for (unsigned i = 0; i < list->count; i++) {
		if (applied_versions_has(&done, list->items[i].version))
			continue;
		if (migrate_run_one(db, &list->items[i], err))
			goto unlock;
		(*applied)++;
	}
	rc = 0;
unlock:
	/* The lock also ends with the connection, so a failed release
	 * is harmless. */
	db_exec(db, "DO RELEASE_LOCK(CONCAT('herald.migrate.', DATABASE()))",
	    &release_err);
out:
	free(done.versions);
	buf_free(&release_err);
	buf_free(&lock_sql);
	return rc;
}
