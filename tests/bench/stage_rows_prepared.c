/*
 * stage_rows_prepared.c - what appending results costs MariaDB through a
 * statement prepared once (#14), for stage_rows.sh: the multi-row INSERT
 * of 100 results that a worker would prepare once and execute for every
 * relay session, its values sent in the binary protocol, so the server
 * parses nothing per row.
 *
 * usage: stage_rows_prepared SOCKET DATABASE SERVER_PID ROWS
 *
 * Creates (again) table r in DATABASE, the narrow fixed-format results
 * table stage_rows.sh measures, appends ROWS results to it 100 at a time
 * and prints the server's CPU per row (user + system ticks of SERVER_PID
 * from /proc). Exit status 0 when every row went in.
 */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PER_STATEMENT 100
#define COLUMNS 5

/* User + system clock ticks process pid has used, -1 if unreadable. */
static long
server_ticks(long pid)
{
	char path[64], line[2048], *p;
	unsigned long user, sys;
	FILE *f;
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	/* Fields 14 and 15, counted after the command's closing ')'. */
	if (p == NULL || (p = strrchr(line, ')')) == NULL)
		return -1;
	for (field = 2; field < 14 && p; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p, " %lu %lu", &user, &sys) != 2)
		return -1;
	return (long)(user + sys);
}

int
main(int argc, char **argv)
{
	static char state[] = "sent";
	unsigned long state_len = sizeof(state) - 1;
	unsigned row_ids[PER_STATEMENT];
	unsigned char attempts[PER_STATEMENT];
	char queue_ids[PER_STATEMENT][24], replies[PER_STATEMENT][64];
	unsigned long queue_len[PER_STATEMENT], reply_len[PER_STATEMENT];
	MYSQL_BIND bind[PER_STATEMENT * COLUMNS];
	char sql[PER_STATEMENT * 64 + 256];
	MYSQL *db = NULL;
	MYSQL_STMT *stmt = NULL;
	long pid, rows, t0, t1;
	int n, rc = 1;

	if (argc != 5) {
		fprintf(stderr, "usage: stage_rows_prepared SOCKET DATABASE "
		    "SERVER_PID ROWS\n");
		return 2;
	}
	pid = strtol(argv[3], NULL, 10);
	rows = strtol(argv[4], NULL, 10);
	if ((db = mysql_init(NULL)) == NULL ||
	    !mysql_real_connect(db, NULL, "root", NULL, argv[2], 0, argv[1],
	    0))
		goto fail;
	if (mysql_query(db, "DROP TABLE IF EXISTS r") || mysql_query(db,
	    "CREATE TABLE r (row_id INT UNSIGNED NOT NULL, delivery_state "
	    "ENUM('pending','sent','deferred','failed','bounced','suppressed',"
	    "'cancelled') NOT NULL, attempts TINYINT UNSIGNED NOT NULL, "
	    "next_attempt_at DATETIME NULL, queue_id CHAR(64) CHARACTER SET "
	    "ascii NULL, relay_reply VARCHAR(512) CHARACTER SET ascii NULL, "
	    "delivered_at DATETIME NULL, PRIMARY KEY (row_id)) ENGINE=MyISAM "
	    "ROW_FORMAT=FIXED"))
		goto fail;
	n = snprintf(sql, sizeof(sql), "INSERT INTO r (row_id, "
	    "delivery_state, attempts, queue_id, relay_reply, delivered_at) "
	    "VALUES ");
	for (int i = 0; i < PER_STATEMENT; i++)
		n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s(?, ?, ?, ?, "
		    "LEFT(?, 512), UTC_TIMESTAMP())", i ? ", " : "");
	/* Prepared once: what the server parses, it parses here. */
	if ((stmt = mysql_stmt_init(db)) == NULL ||
	    mysql_stmt_prepare(stmt, sql, strlen(sql)))
		goto fail;
	if ((t0 = server_ticks(pid)) < 0) {
		fprintf(stderr, "stage_rows_prepared: no process %ld\n", pid);
		goto out;
	}
	for (long first = 1; first + PER_STATEMENT - 1 <= rows;
	    first += PER_STATEMENT) {
		memset(bind, 0, sizeof(bind));
		for (int i = 0; i < PER_STATEMENT; i++) {
			MYSQL_BIND *b = &bind[i * COLUMNS];

			row_ids[i] = (unsigned)(first + i);
			attempts[i] = 1;
			queue_len[i] = (unsigned long)snprintf(queue_ids[i],
			    sizeof(queue_ids[i]), "4Q%07uX", row_ids[i]);
			reply_len[i] = (unsigned long)snprintf(replies[i],
			    sizeof(replies[i]), "250 2.0.0 Ok: queued as "
			    "4Q%07uX", row_ids[i]);
			b[0].buffer_type = MYSQL_TYPE_LONG;
			b[0].buffer = &row_ids[i];
			b[0].is_unsigned = 1;
			b[1].buffer_type = MYSQL_TYPE_STRING;
			b[1].buffer = state;
			b[1].length = &state_len;
			b[2].buffer_type = MYSQL_TYPE_TINY;
			b[2].buffer = &attempts[i];
			b[2].is_unsigned = 1;
			b[3].buffer_type = MYSQL_TYPE_STRING;
			b[3].buffer = queue_ids[i];
			b[3].length = &queue_len[i];
			b[4].buffer_type = MYSQL_TYPE_STRING;
			b[4].buffer = replies[i];
			b[4].length = &reply_len[i];
		}
		if (mysql_stmt_bind_param(stmt, bind) ||
		    mysql_stmt_execute(stmt)) {
			fprintf(stderr, "stage_rows_prepared: %s\n",
			    mysql_stmt_error(stmt));
			goto out;
		}
	}
	t1 = server_ticks(pid);
	printf("%.1f\n", (double)(t1 - t0) * 1e6 / (double)sysconf(_SC_CLK_TCK) /
	    (double)rows);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "stage_rows_prepared: %s\n", db ? mysql_error(db) :
	    "out of memory");
out:
	if (stmt)
		mysql_stmt_close(stmt);
	if (db)
		mysql_close(db);
	return rc;
}
