/*
 * db.c - connections and bound-value statements (see db.h).
 *
 * Every statement that carries a value from outside herald goes through
 * a prepared statement with its values bound: text as strings, which
 * the server converts to the column types, and herald's own integers
 * (ids, counts) as integers. A statement is prepared per call, except
 * on connections opened with DB_KEEP_STATEMENTS (a worker's), which keep
 * each prepared for the next call with the same text (stmtcache.h).
 */
#include "db.h"
#include "dbserver.h"
#include "log.h"
#include "stmtcache.h"

#include <stdlib.h>
#include <string.h>

/* The server's error number for the last statement (db_last_error). */
static unsigned db_last_errno;

void
db_append_error(MYSQL *db, struct buf *err)
{
	db_last_errno = mysql_errno(db);
	buf_printf(err, "%s (MariaDB error %u)", mysql_error(db),
	    db_last_errno);
}

static void
db_append_stmt_error(MYSQL_STMT *stmt, struct buf *err)
{
	db_last_errno = mysql_stmt_errno(stmt);
	buf_printf(err, "%s (MariaDB error %u)", mysql_stmt_error(stmt),
	    db_last_errno);
}

unsigned
db_last_error(void)
{
	return db_last_errno;
}

void
db_describe_server(const struct herald_config *cfg, struct buf *out)
{
	char *socket = config_database_socket(cfg);

	if (config_uses_embedded_database(cfg))
		buf_printf(out, "embedded MariaDB (socket %s)", socket);
	else if (socket)
		buf_printf(out, "MariaDB at socket %s", socket);
	else
		buf_printf(out, "MariaDB at %s:%ld", cfg->database_host,
		    cfg->database_port);
	free(socket);
}

MYSQL *
db_connect(const struct herald_config *cfg, int flags, struct buf *err)
{
	MYSQL *db;
	char *socket = NULL;
	unsigned timeout = (unsigned)cfg->database_connect_timeout;
	unsigned long client_flags = 0;
	struct buf where = BUF_INIT;
	const char *user = cfg->database_user;
	const char *password = cfg->database_password;

	if (config_uses_embedded_database(cfg) && (flags & DB_START_EMBEDDED)
	    && dbserver_running_pid(cfg) == 0) {
		if (dbserver_start(cfg, err) == DBSERVER_FAILED)
			return NULL;
	}
	db = mysql_init(NULL);
	if (db == NULL) {
		buf_append_str(err, "cannot initialise the MariaDB client "
		    "(out of memory)");
		return NULL;
	}
	mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (flags & DB_LOCAL_INFILE) {
		unsigned on = 1;

		mysql_options(db, MYSQL_OPT_LOCAL_INFILE, &on);
	}
	if (flags & DB_MULTI_STATEMENTS)
		client_flags |= CLIENT_MULTI_STATEMENTS;
	if (flags & DB_FOUND_ROWS)
		client_flags |= CLIENT_FOUND_ROWS;
	/* The role's own account when one is configured (dbaccount.h). */
	if ((flags & DB_AS_DAEMON) && cfg->daemon_database_user[0]) {
		user = cfg->daemon_database_user;
		password = cfg->daemon_database_password;
	} else if ((flags & DB_AS_INTAKE) && cfg->intake_database_user[0]) {
		user = cfg->intake_database_user;
		password = cfg->intake_database_password;
	} else if ((flags & DB_AS_WEB) && cfg->web_database_user[0]) {
		user = cfg->web_database_user;
		password = cfg->web_database_password;
	} else if (config_uses_embedded_database(cfg)) {
		user = dbserver_login_user(cfg);
	}
	socket = config_database_socket(cfg);
	if (mysql_real_connect(db, socket ? NULL : cfg->database_host,
	    user, password[0] ? password : NULL,
	    NULL, socket ? 0 : (unsigned)cfg->database_port, socket,
	    client_flags) == NULL) {
		db_describe_server(cfg, &where);
		buf_printf(err, "cannot connect to %s as user \"%s\": ",
		    buf_str(&where), user);
		db_append_error(db, err);
		if (config_uses_embedded_database(cfg) &&
		    dbserver_running_pid(cfg) == 0)
			buf_append_str(err, ": the embedded server is not "
			    "running; start it with \"herald db start\"");
		else
			buf_append_str(err, ": check database_host, "
			    "database_socket, database_user and "
			    "database_password in the configuration");
		goto fail;
	}
	if (db_exec(db, "SET time_zone = '+00:00'", err))
		goto fail;
	if (flags & DB_SELECT_DATABASE &&
	    mysql_select_db(db, cfg->database_name) != 0) {
		buf_printf(err, "cannot use database \"%s\": ",
		    cfg->database_name);
		db_append_error(db, err);
		if (mysql_errno(db) == 1049)	/* ER_BAD_DB_ERROR */
			buf_append_str(err, ": create it with "
			    "\"herald db init\"");
		goto fail;
	}
	if (flags & DB_KEEP_STATEMENTS)
		stmtcache_enable(db);
	free(socket);
	buf_free(&where);
	return db;
fail:
	free(socket);
	buf_free(&where);
	mysql_close(db);
	return NULL;
}

void
db_close(MYSQL *db)
{
	if (db == NULL)
		return;
	stmtcache_forget(db);
	mysql_close(db);
}

int
db_exec(MYSQL *db, const char *sql, struct buf *err)
{
	int status;

	db_last_errno = 0;
	if (mysql_real_query(db, sql, strlen(sql)) != 0) {
		db_append_error(db, err);
		return -1;
	}
	/* Drain every result of a multi-statement query. */
	do {
		MYSQL_RES *res = mysql_store_result(db);

		if (res)
			mysql_free_result(res);
		else if (mysql_field_count(db) != 0) {
			db_append_error(db, err);
			return -1;
		}
		status = mysql_next_result(db);
		if (status > 0) {
			db_append_error(db, err);
			return -1;
		}
	} while (status == 0);
	return 0;
}

/*
 * Prepares sql (or takes it prepared from the connection's kept ones),
 * binds values and runs it. NULL with err on failure. A statement that
 * ran goes to stmtcache_give_back() after its results are read: kept on
 * a keeping connection, closed on the others.
 */
static MYSQL_STMT *
db_prepare_bound(MYSQL *db, const char *sql, unsigned nvalues,
    const struct db_value *values, MYSQL_BIND *binds, unsigned long *lengths,
    struct buf *err)
{
	MYSQL_STMT *stmt = stmtcache_take(db, sql);

	db_last_errno = 0;
	if (stmt == NULL) {
		stmt = mysql_stmt_init(db);
		if (stmt == NULL) {
			db_append_error(db, err);
			return NULL;
		}
		if (mysql_stmt_prepare(stmt, sql, strlen(sql)) != 0)
			goto fail;
	}
	if (mysql_stmt_param_count(stmt) != nvalues) {
		buf_printf(err, "internal: statement expects %lu values, "
		    "%u given", mysql_stmt_param_count(stmt), nvalues);
		mysql_stmt_close(stmt);
		return NULL;
	}
	memset(binds, 0, sizeof(*binds) * nvalues);
	for (unsigned i = 0; i < nvalues; i++) {
		const struct db_value *v = &values[i];

		/* The library reads the buffers, never writes them. */
		if (v->type == DB_VALUE_U64 || v->type == DB_VALUE_I64) {
			binds[i].buffer_type = MYSQL_TYPE_LONGLONG;
			binds[i].buffer = (void *)&v->as;
			binds[i].is_unsigned = v->type == DB_VALUE_U64;
		} else if (v->as.text == NULL) {
			binds[i].buffer_type = MYSQL_TYPE_NULL;
		} else {
			lengths[i] = strlen(v->as.text);
			binds[i].buffer_type = MYSQL_TYPE_STRING;
			binds[i].buffer = (void *)v->as.text;
			binds[i].buffer_length = lengths[i];
			binds[i].length = &lengths[i];
		}
	}
	if (nvalues && mysql_stmt_bind_param(stmt, binds) != 0)
		goto fail;
	if (mysql_stmt_execute(stmt) != 0)
		goto fail;
	return stmt;
fail:
	db_append_stmt_error(stmt, err);
	mysql_stmt_close(stmt);
	return NULL;
}

#define DB_MAX_PARAMS 64

/* Rows a query stopped early reads to its end to keep its statement. */
#define DB_DRAIN_ROWS 16

/* Copies n strings into values as text values. */
static void
db_text_values(unsigned n, const char *const *params, struct db_value *values)
{
	for (unsigned i = 0; i < n; i++)
		values[i] = db_bind_text(params[i]);
}

int
db_execute(MYSQL *db, const char *sql, unsigned nparams,
    const char *const *params, unsigned long long *affected,
    struct buf *err)
{
	struct db_value stack[DB_MAX_PARAMS] = { 0 }, *values = stack;
	int rc;

	if (nparams > DB_MAX_PARAMS)
		values = xcalloc(nparams, sizeof(*values));
	db_text_values(nparams, params, values);
	rc = db_execute_values(db, sql, nparams, values, affected, err);
	if (values != stack)
		free(values);
	return rc;
}

int
db_execute_values(MYSQL *db, const char *sql, unsigned nvalues,
    const struct db_value *values, unsigned long long *affected,
    struct buf *err)
{
	MYSQL_BIND stack_binds[DB_MAX_PARAMS], *binds = stack_binds;
	unsigned long stack_lengths[DB_MAX_PARAMS], *lengths = stack_lengths;
	MYSQL_STMT *stmt;

	/* Bulk statements bind hundreds of values: give them the heap. */
	if (nvalues > DB_MAX_PARAMS) {
		binds = xcalloc(nvalues, sizeof(*binds));
		lengths = xcalloc(nvalues, sizeof(*lengths));
	}
	stmt = db_prepare_bound(db, sql, nvalues, values, binds, lengths, err);
	if (stmt && affected)
		*affected = mysql_stmt_affected_rows(stmt);
	if (stmt)
		stmtcache_give_back(db, sql, stmt);
	if (binds != stack_binds) {
		free(binds);
		free(lengths);
	}
	return stmt ? 0 : -1;
}

/*
 * Fetches one row's columns as NUL-terminated strings, growing a column's
 * buffer when its value (plus the NUL) did not fit. Returns 0 for a row,
 * MYSQL_NO_DATA at the end, 1 on error.
 */
static int
db_fetch_strings(MYSQL_STMT *stmt, unsigned ncolumns, MYSQL_BIND *out,
    char **values, unsigned long *lengths)
{
	int rc = mysql_stmt_fetch(stmt), grown = 0;

	if (rc != 0 && rc != MYSQL_DATA_TRUNCATED)
		return rc;
	for (unsigned i = 0; i < ncolumns; i++) {
		if (lengths[i] < out[i].buffer_length)
			continue;
		free(values[i]);
		values[i] = xmalloc(lengths[i] + 1);
		out[i].buffer = values[i];
		out[i].buffer_length = lengths[i] + 1;
		if (mysql_stmt_fetch_column(stmt, &out[i], i, 0))
			return 1;
		grown = 1;
	}
	/* The library keeps its own copy of the bindings: hand it the
	 * bigger buffers for the rows still to come. */
	if (grown && mysql_stmt_bind_result(stmt, out))
		return 1;
	for (unsigned i = 0; i < ncolumns; i++)
		values[i][lengths[i]] = '\0';
	return 0;
}

int
db_query_strings(MYSQL *db, const char *sql, unsigned nparams,
    const char *const *params, db_row_fn *row, void *arg, struct buf *err)
{
	struct db_value stack[DB_MAX_PARAMS] = { 0 }, *values = stack;
	int rc;

	/* db_query_values() refuses more than DB_MAX_PARAMS values. */
	if (nparams > DB_MAX_PARAMS)
		values = xcalloc(nparams, sizeof(*values));
	db_text_values(nparams, params, values);
	rc = db_query_values(db, sql, nparams, values, row, arg, err);
	if (values != stack)
		free(values);
	return rc;
}

int
db_query_values(MYSQL *db, const char *sql, unsigned nparams,
    const struct db_value *params, db_row_fn *row, void *arg,
    struct buf *err)
{
	MYSQL_BIND binds[DB_MAX_PARAMS], *out = NULL;
	unsigned long lengths[DB_MAX_PARAMS], *out_lengths = NULL;
	my_bool *nulls = NULL;
	char **values = NULL, **row_values = NULL;
	unsigned ncolumns = 0;
	MYSQL_STMT *stmt;
	int rc = -1, fetched = 1;

	if (nparams > DB_MAX_PARAMS) {
		db_last_errno = 0;
		buf_printf(err, "internal: %u values in one statement", nparams);
		return -1;
	}
	stmt = db_prepare_bound(db, sql, nparams, params, binds, lengths, err);
	if (stmt == NULL)
		return -1;
	ncolumns = mysql_stmt_field_count(stmt);
	out = xcalloc(ncolumns, sizeof(*out));
	out_lengths = xcalloc(ncolumns, sizeof(*out_lengths));
	nulls = xcalloc(ncolumns, sizeof(*nulls));
	values = xcalloc(ncolumns, sizeof(*values));
	row_values = xcalloc(ncolumns, sizeof(*row_values));
	for (unsigned i = 0; i < ncolumns; i++) {
		values[i] = xmalloc(256);
		out[i].buffer_type = MYSQL_TYPE_STRING;
		out[i].buffer = values[i];
		out[i].buffer_length = 256;
		out[i].length = &out_lengths[i];
		out[i].is_null = &nulls[i];
	}
	if (ncolumns && mysql_stmt_bind_result(stmt, out) != 0) {
		db_append_stmt_error(stmt, err);
		goto out;
	}
	while ((fetched = db_fetch_strings(stmt, ncolumns, out, values,
	    out_lengths)) == 0) {
		for (unsigned i = 0; i < ncolumns; i++)
			row_values[i] = nulls[i] ? NULL : values[i];
		if (row(arg, ncolumns, row_values) != 0)
			break;
	}
	if (fetched == 1) {
		db_append_stmt_error(stmt, err);
		goto out;
	}
	/* Stopped at a row (db_first_value): the few rows left are read
	 * and dropped so a kept statement is ready for its next run. */
	for (unsigned i = 0; fetched != MYSQL_NO_DATA && i < DB_DRAIN_ROWS;
	    i++) {
		fetched = mysql_stmt_fetch(stmt);
		if (fetched == 1)
			break;
	}
	rc = 0;
out:
	for (unsigned i = 0; i < ncolumns; i++)
		free(values[i]);
	free(values);
	free(row_values);
	free(nulls);
	free(out_lengths);
	free(out);
	/* A result read to its end leaves nothing pending; one stopped
	 * early with many rows left, or an error, closes the statement. */
	if (rc == 0 && fetched == MYSQL_NO_DATA)
		stmtcache_give_back(db, sql, stmt);
	else
		mysql_stmt_close(stmt);
	return rc;
}

int
db_first_value(void *arg, unsigned ncolumns, char **columns)
{
	struct buf *value = arg;

	buf_reset(value);
	if (ncolumns >= 1 && columns[0])
		buf_append_str(value, columns[0]);
	return 1;
}
