/*
 * db.h - connections to MariaDB/MySQL and statements with bound values.
 *
 * db_connect() opens a connection as the configuration says: over the
 * configured socket, over TCP to database_host, or to herald's embedded
 * instance (dbserver.h), which it starts when it is not running.
 * Statements that carry values from users go through db_execute() or
 * db_query_strings(), which bind every value: no user text is ever
 * spliced into SQL.
 *
 * Errors come back as -1 (or NULL) with a sentence in err that names the
 * server and what to do.
 */
#ifndef HERALD_DB_H
#define HERALD_DB_H

#include <mysql.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

enum db_connect_flags {
	DB_SELECT_DATABASE = 1,	/* USE database_name after connecting */
	DB_START_EMBEDDED = 2,	/* start the embedded server if needed */
	DB_MULTI_STATEMENTS = 4,/* allow several statements per query */
	DB_LOCAL_INFILE = 8,	/* allow LOAD DATA LOCAL INFILE */
	DB_FOUND_ROWS = 16,	/* UPDATE reports rows matched, not changed */
	DB_AS_DAEMON = 32,	/* as daemon_database_user when it is set */
	DB_AS_INTAKE = 64,	/* as intake_database_user when it is set */
	DB_AS_WEB = 128,	/* as web_database_user when it is set */
	DB_KEEP_STATEMENTS = 256,/* keep statements prepared (stmtcache.h);
				 * close with db_close() */
};

/*
 * Opens a connection; NULL with the reason in err. Close: mysql_close.
 * The session runs in UTC (time_zone '+00:00'): herald stores UTC times.
 */
MYSQL *db_connect(const struct herald_config *cfg, int flags,
    struct buf *err);

/* Closes db (NULL is fine), with the statements it kept. */
void db_close(MYSQL *db);

/* Describes where cfg connects ("embedded server (socket ...)", ...). */
void db_describe_server(const struct herald_config *cfg, struct buf *out);

/* Runs SQL that has no parameters and discards any results. */
int db_exec(MYSQL *db, const char *sql, struct buf *err);

/*
 * Runs a statement with nparams '?' markers bound to params (strings;
 * NULL binds SQL NULL). *affected, when not NULL, gets the affected row
 * count. Returns 0 or -1.
 */
int db_execute(MYSQL *db, const char *sql, unsigned nparams,
    const char *const *params, unsigned long long *affected,
    struct buf *err);

/*
 * Runs a query with bound string parameters and calls row() once per
 * result row with its columns as NUL-terminated strings (NULL for SQL
 * NULL). row() returns 0 to go on, non-zero to stop. Returns 0 or -1.
 */
typedef int db_row_fn(void *arg, unsigned ncolumns, char **columns);
int db_query_strings(MYSQL *db, const char *sql, unsigned nparams,
    const char *const *params, db_row_fn *row, void *arg, struct buf *err);

/*
 * A typed value for a '?' marker: text (NULL binds SQL NULL), or an
 * integer bound as an integer (MYSQL_TYPE_LONGLONG), so ids, counts and
 * limits reach the server as numbers with no text to format. Make them
 * with db_bind_text(), db_bind_u64() and db_bind_i64().
 */
struct db_value {
	enum { DB_VALUE_TEXT, DB_VALUE_U64, DB_VALUE_I64 } type;
	union {
		const char *text;
		uint64_t u64;
		int64_t i64;
	} as;
};

static inline struct db_value
db_bind_text(const char *text)
{
	return (struct db_value){ .type = DB_VALUE_TEXT, .as.text = text };
}

static inline struct db_value
db_bind_u64(uint64_t value)
{
	return (struct db_value){ .type = DB_VALUE_U64, .as.u64 = value };
}

static inline struct db_value
db_bind_i64(int64_t value)
{
	return (struct db_value){ .type = DB_VALUE_I64, .as.i64 = value };
}

/* db_execute() and db_query_strings() with typed values. The values
 * must stay valid until the call returns. */
int db_execute_values(MYSQL *db, const char *sql, unsigned nvalues,
    const struct db_value *values, unsigned long long *affected,
    struct buf *err);
int db_query_values(MYSQL *db, const char *sql, unsigned nvalues,
    const struct db_value *values, db_row_fn *row, void *arg,
    struct buf *err);

/*
 * A db_row_fn for a query that answers one value: keeps the first column
 * of the first row in arg, a struct buf (reset first; SQL NULL leaves it
 * empty), and stops.
 */
int db_first_value(void *arg, unsigned ncolumns, char **columns);

/* Appends "mysql error text (code N)" for the last error on db. */
void db_append_error(MYSQL *db, struct buf *err);

/*
 * The server's error number for the last statement this process ran
 * through db_exec(), db_execute*() or db_query_*(): 0 when it succeeded
 * or failed in herald itself. Read it before the next statement (a
 * ROLLBACK too). Tells errors worth running a transaction again for
 * (DB_ER_LOCK_DEADLOCK, DB_ER_LOCK_WAIT_TIMEOUT) from the others.
 */
unsigned db_last_error(void);
#define DB_ER_LOCK_WAIT_TIMEOUT 1205
#define DB_ER_LOCK_DEADLOCK 1213

#endif
