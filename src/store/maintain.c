/*
 * maintain.c - "herald maintain" (cron): keeps the history MERGE table
 * small enough for the table cache, and the batches table clean.
 *
 * The history MERGE table opens every table in its UNION; with one
 * stage table per mailing it would grow without bound and thrash
 * table_open_cache. maintain moves each finished mailing (done or
 * cancelled for longer than compact_after) from its stage table into
 * the archive of its month, history_YYYYMM (same definition), in steps
 * that a crash at any point leaves recoverable:
 *	1. INSERT the mailing's rows into history_YYYYMM (created LIKE
 *	   stage_template when missing);
 *	2. one ALTER of history's UNION: stage_N out, history_YYYYMM in;
 *	3. DROP stage_N, point the mailing at the archive, delete its
 *	   batches.
 * A run that finds a mailing between 1 and 2 (its stage table still in
 * the union and rows already in the archive) deletes those rows and
 * starts again; between 2 and 3, it finishes 3.
 *
 * Archives of months that can no longer receive mailings (older than
 * last month) are packed with myisampack when the server is the
 * embedded one (the files must be local): read-only, compressed, still
 * in the union (a packed copy replaces the archive in one RENAME, so the
 * union never lacks it). Every edit of the union goes through history.h,
 * under the lock the stager takes for its own. Expired batch leases are
 * released too.
 */
#include "maintain.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "dbaccount.h"
#include "log.h"
#include "history.h"
#include "mailing.h"
#include "stage.h"

/* As in stage.c: HERALD_TEST_KILL_AT=STEP makes the crash tests' kill. */
static void
maintain_crash_point(const char *step)
{
	const char *at = getenv("HERALD_TEST_KILL_AT");

	if (at && strcmp(at, step) == 0)
		raise(SIGKILL);
}

struct finished {
	char (*ids)[24];
	char (*tables)[65];
	char (*months)[8];
	unsigned count;
};

static int
finished_row(void *arg, unsigned ncolumns, char **col)
{
	struct finished *f = arg;

	(void)ncolumns;
	f->ids = xrealloc(f->ids, (f->count + 1) * sizeof(*f->ids));
	f->tables = xrealloc(f->tables, (f->count + 1) * sizeof(*f->tables));
	f->months = xrealloc(f->months, (f->count + 1) * sizeof(*f->months));
	snprintf(f->ids[f->count], sizeof(f->ids[0]), "%s", col[0]);
	snprintf(f->tables[f->count], sizeof(f->tables[0]), "%s", col[1]);
	snprintf(f->months[f->count], sizeof(f->months[0]), "%s", col[2]);
	f->count++;
	return 0;
}

static int
compact_mailing(const struct herald_config *cfg, MYSQL *db, const char *id,
    const char *table, const char *month, struct buf *err)
{
	struct buf sql = BUF_INIT, archive = BUF_INIT;
	char archive_name[HISTORY_TABLE_NAME_MAX];
	const char *params[2];
	int present, status = -1;

	history_archive_name(month, archive_name);
	buf_append_str(&archive, archive_name);
	params[0] = id;
	if (history_union_contains(db, table, &present, err) != 0)
		goto out;
	if (present) {
		/* Step 1, from scratch (a dead run may have done part). */
		buf_printf(&sql, "CREATE TABLE IF NOT EXISTS `%s` LIKE "
		    "stage_template", buf_str(&archive));
		if (db_exec(db, buf_str(&sql), err) != 0 ||
		    dbaccount_grant_history_table(cfg, db, buf_str(&archive),
		    err) != 0)
			goto out;
		buf_reset(&sql);
		buf_printf(&sql, "DELETE FROM `%s` WHERE mailing_id = ?",
		    buf_str(&archive));
		if (db_execute(db, buf_str(&sql), 1, params, NULL, err) != 0)
			goto out;
		buf_reset(&sql);
		buf_printf(&sql, "INSERT INTO `%s` SELECT * FROM `%s` WHERE "
		    "mailing_id = ?", buf_str(&archive), table);
		if (db_execute(db, buf_str(&sql), 1, params, NULL, err) != 0)
			goto out;
		maintain_crash_point("archived");
		/* Step 2: readers see the stage table or the archive. */
		if (history_union_change(db, table, buf_str(&archive), err) != 0)
			goto out;
		maintain_crash_point("swapped");
	}
	/* Step 3. */
	buf_reset(&sql);
	buf_printf(&sql, "DROP TABLE IF EXISTS `%s`", table);
	if (db_exec(db, buf_str(&sql), err) != 0)
		goto out;
	params[0] = buf_str(&archive);
	params[1] = id;
	if (db_execute(db, "UPDATE mailings SET stage_table = ? WHERE id = ?",
	    2, params, NULL, err) != 0)
		goto out;
	params[0] = id;
	if (db_execute(db, "DELETE FROM batches WHERE mailing_id = ?", 1,
	    params, NULL, err) != 0)
		goto out;
	msg_info("mailing %s: %s compacted into %s", id, table,
	    buf_str(&archive));
	status = 0;
out:
	buf_free(&sql);
	buf_free(&archive);
	return status;
}

/*
 * Packs an archive with myisampack (embedded server only). The archive
 * stays in history's UNION throughout, so received(N) always sees its
 * rows: a copy is packed, then swapped in for it by an atomic RENAME
 * (history_archive_replace). Nothing writes to a closed month's
 * archive meanwhile (bounces go to their own table), and the maintain
 * lock keeps other runs away.
 */
static int
pack_archive(const struct herald_config *cfg, MYSQL *db, const char *table,
    struct buf *err)
{
	struct buf path = BUF_INIT, sql = BUF_INIT, copy = BUF_INIT;
	pid_t pid;
	int status = -1, exit_status;

	buf_printf(&copy, "%s_pack", table);
	buf_printf(&path, "%s/mariadb/data/%s/%s", cfg->state_directory,
	    cfg->database_name, buf_str(&copy));
	buf_printf(&sql, "DROP TABLE IF EXISTS `%s`", buf_str(&copy));
	if (db_exec(db, buf_str(&sql), err) != 0)
		goto out;
	buf_reset(&sql);
	buf_printf(&sql, "CREATE TABLE `%s` LIKE stage_template",
	    buf_str(&copy));
	if (db_exec(db, buf_str(&sql), err) != 0)
		goto out;
	buf_reset(&sql);
	buf_printf(&sql, "INSERT INTO `%s` SELECT * FROM `%s`", buf_str(&copy),
	    table);
	if (db_exec(db, buf_str(&sql), err) != 0)
		goto drop;
	/* Closed, so that myisampack has its files to itself. */
	buf_reset(&sql);
	buf_printf(&sql, "FLUSH TABLES `%s`", buf_str(&copy));
	if (db_exec(db, buf_str(&sql), err) != 0)
		goto drop;
	pid = fork();
	if (pid == 0) {
		execlp("sh", "sh", "-c", "myisampack -s \"$1\" && myisamchk -rqs "
		    "\"$1\"", "sh", buf_str(&path), (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &exit_status, 0) < 0 ||
	    !WIFEXITED(exit_status) || WEXITSTATUS(exit_status) != 0) {
		buf_printf(err, "myisampack of %s failed; the table is kept "
		    "unpacked", table);
		goto drop;
	}
	/* The server reads the packed files from here on. */
	if (db_exec(db, buf_str(&sql), err) != 0)
		goto drop;
	if (history_archive_replace(db, table, buf_str(&copy), err) != 0)
		goto drop;
	msg_info("%s packed with myisampack", table);
	status = 0;
	goto out;
drop:
	buf_reset(&sql);
	buf_printf(&sql, "DROP TABLE IF EXISTS `%s`", buf_str(&copy));
	buf_reset(&path);	/* reused for the error we don't report */
	db_exec(db, buf_str(&sql), &path);
out:
	buf_free(&path);
	buf_free(&sql);
	buf_free(&copy);
	return status;
}

struct names {
	char (*items)[65];
	unsigned count;
};

static int
name_row(void *arg, unsigned ncolumns, char **col)
{
	struct names *n = arg;

	(void)ncolumns;
	n->items = xrealloc(n->items, (n->count + 1) * sizeof(*n->items));
	snprintf(n->items[n->count++], sizeof(n->items[0]), "%s", col[0]);
	return 0;
}

int
maintain_run(const struct herald_config *cfg, MYSQL *db,
    struct maintain_report *report, struct buf *err)
{
	struct finished f = { 0 };
	struct names packable = { 0 };
	struct buf value = BUF_INIT, ignored = BUF_INIT, after = BUF_INIT;
	unsigned long long released = 0;
	const char *params[3];
	int status = -1;

	memset(report, 0, sizeof(*report));
	if (db_query_strings(db, "SELECT GET_LOCK(CONCAT('herald.maintain.', "
	    "DATABASE()), 0)", 0, NULL, db_first_value, &value, err) != 0)
		goto out;
	if (strcmp(buf_str(&value), "1") != 0) {
		report->busy = 1;
		status = 0;
		goto out;
	}
	if (db_execute(db, "UPDATE batches SET state = 'ready', owner_node = "
	    "NULL, owner_pid = NULL, lease_expires_at = NULL WHERE state = "
	    "'claimed' AND lease_expires_at < NOW(3)", 0, NULL, &released,
	    err) != 0)
		goto unlock;
	report->leases_released = (unsigned)released;
	buf_printf(&after, "%ld", cfg->compact_after);
	params[0] = mailing_state_name(MAILING_DONE);
	params[1] = mailing_state_name(MAILING_CANCELLED);
	params[2] = buf_str(&after);
	if (db_query_strings(db, "SELECT id, stage_table, DATE_FORMAT("
	    "COALESCE(finished_at, updated_at), '%Y%m') FROM mailings WHERE "
	    "state IN (?, ?) AND stage_table REGEXP "
	    "'^stage_[0-9]+$' AND COALESCE(finished_at, updated_at) <= "
	    "UTC_TIMESTAMP() - INTERVAL ? SECOND ORDER BY id", 3, params,
	    finished_row, &f, err) != 0)
		goto unlock;
	for (unsigned i = 0; i < f.count; i++) {
		if (compact_mailing(cfg, db, f.ids[i], f.tables[i],
		    f.months[i], err) != 0)
			goto unlock;
		report->compacted++;
	}
	if (config_uses_embedded_database(cfg) && cfg->maintain_pack) {
		/*
		 * Months before last month receive no more mailings. The
		 * LIKE lets the server open only the archives to read their
		 * ROW_FORMAT. Without it, it opened every table, the stage
		 * table a stager was filling included, and that stager's
		 * INSERT ... SELECT failed in a few runs out of 50: "Error on
		 * delete of '/tmp/#sql-temptable-...MAI'" (MariaDB 10.11;
		 * tests/integration/history_race.sh).
		 */
		if (db_query_strings(db, "SELECT TABLE_NAME FROM "
		    "information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
		    "AND TABLE_NAME LIKE 'history\\_%' AND TABLE_NAME REGEXP "
		    "'^history_[0-9]{6}$' AND ROW_FORMAT "
		    "<> 'Compressed' AND TABLE_NAME < CONCAT('history_', "
		    "DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL 1 MONTH, '%Y%m')) "
		    "ORDER BY TABLE_NAME", 0, NULL, name_row, &packable,
		    err) != 0)
			goto unlock;
		for (unsigned i = 0; i < packable.count; i++) {
			if (pack_archive(cfg, db, packable.items[i], err) != 0)
				goto unlock;
			report->packed++;
		}
	}
	if (history_union(db, &value, err) != 0)
		goto unlock;
	for (const char *p = buf_str(&value); *p; p++)
		report->union_tables += *p == ',';
	report->union_tables += value.len > 0;
	if (report->union_tables > (unsigned)cfg->history_union_limit)
		msg_warn("the history MERGE table has %u tables, over "
		    "history_union_limit (%ld): lower compact_after, or raise "
		    "table_open_cache", report->union_tables,
		    cfg->history_union_limit);
	status = 0;
unlock:
	db_query_strings(db, "SELECT RELEASE_LOCK(CONCAT('herald.maintain.', "
	    "DATABASE()))", 0, NULL, db_first_value, &ignored, &ignored);
out:
	free(f.ids);
	free(f.tables);
	free(f.months);
	free(packable.items);
	buf_free(&value);
	buf_free(&ignored);
	buf_free(&after);
	return status;
}
