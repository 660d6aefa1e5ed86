/*
 * claims.c - the claim-latency benchmark's driver (tests/bench/claims.sh):
 * PROCS processes, each standing in for one heraldd node, take every
 * ready batch of the database in $HERALD_CONFIG through herald's own
 * claim path (batch_claim, then batch_finish as a worker that sent the
 * batch does) and time each batch_claim() call, as the worker's
 * claim_us counter does. A claim that fails (a deadlock the server
 * chose it to lose) is handled as a worker does: the connection is
 * closed, a new one made and the claim (or the finish) tried again;
 * the failures are counted, and the latency kept is the successful
 * try's.
 *
 * usage: claims PROCS
 * Prints one line: PROCS, claims, p50 and p99 latency in microseconds,
 * claims per second over the run, failed claims. Exit 1 when a node
 * cannot connect, or fails 100 times in a row.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "config.h"
#include "db.h"

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One node: claims until nothing is left, writing each claim's
 * microseconds to out (one binary int64 each) and its failed claims as
 * negative records (-1 each). */
static int
claim_all(const struct herald_config *cfg, unsigned node, FILE *out)
{
	struct buf err = BUF_INIT;
	char name[32];
	struct batch_owner owner = { name, (long)getpid(), 60 };
	struct batch batch;
	MYSQL *db = NULL;
	int claimed = 1, unfinished = 0, failures = 0, rc = 1;
	const int64_t failed = -1;

	snprintf(name, sizeof(name), "bench-node-%u", node);
	while (claimed) {
		int64_t t0, took;

		if (db == NULL && (db = db_connect(cfg, DB_SELECT_DATABASE |
		    DB_FOUND_ROWS, &err)) == NULL)
			goto out;
		/* A batch claimed whose finish failed is finished first, on
		 * the new connection: the owner is the same. */
		if (unfinished && batch_finish(db, &owner, &batch, 0, NULL,
		    &err) != 0)
			goto failed;
		unfinished = 0;
		t0 = now_us();
		if (batch_claim(db, &owner, &batch, &claimed, &err) != 0)
			goto failed;
		took = now_us() - t0;
		if (!claimed)
			break;
		fwrite(&took, sizeof(took), 1, out);
		failures = 0;
		if (batch_finish(db, &owner, &batch, 0, NULL, &err) == 0)
			continue;
		unfinished = 1;
failed:
		/* As a worker does: a new connection, and on. */
		if (++failures == 100)
			goto out;
		fwrite(&failed, sizeof(failed), 1, out);
		fprintf(stderr, "claims: tried again after: %s\n",
		    buf_str(&err));
		buf_reset(&err);
		mysql_close(db);
		db = NULL;
		claimed = 1;
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "claims: node %u: %s\n", node, buf_str(&err));
	if (db)
		mysql_close(db);
	buf_free(&err);
	return rc;
}

static int
compare_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	struct herald_config cfg;
	struct buf err = BUF_INIT;
	unsigned procs;
	FILE *all = NULL;
	int64_t *lat = NULL, t0, elapsed, one;
	size_t n = 0, cap = 0, failures = 0;
	int status, failed = 0, rc = 1;

	if (argc != 2 || (procs = (unsigned)atoi(argv[1])) < 1 || procs > 64) {
		fprintf(stderr, "usage: claims PROCS (1 to 64)\n");
		return 2;
	}
	config_defaults(&cfg);
	if (config_locate_and_load(&cfg, NULL, &err) != 0) {
		fprintf(stderr, "claims: %s\n", buf_str(&err));
		goto out;
	}
	all = tmpfile();
	if (all == NULL) {
		perror("claims: tmpfile");
		goto out;
	}
	t0 = now_us();
	for (unsigned i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			/* Each node's records in one block: the file is
			 * shared, appends of whole records do not mix. */
			static char block[1 << 20];
			FILE *out = fdopen(dup(fileno(all)), "a");

			setvbuf(out, block, _IOFBF, sizeof(block));
			status = claim_all(&cfg, i, out);
			fclose(out);
			_exit(status);
		}
		if (pid < 0) {
			perror("claims: fork");
			failed = 1;
			break;
		}
	}
	while (wait(&status) > 0)
		failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	elapsed = now_us() - t0;
	rewind(all);
	while (fread(&one, sizeof(one), 1, all) == 1) {
		if (one < 0) {
			failures++;
			continue;
		}
		if (n == cap)
			lat = xrealloc(lat, (cap = cap ? 2 * cap : 4096) *
			    sizeof(*lat));
		lat[n++] = one;
	}
	if (failed || n == 0) {
		fprintf(stderr, "claims: %s\n", failed ? "a node failed" :
		    "no batch to claim");
		goto out;
	}
	qsort(lat, n, sizeof(*lat), compare_i64);
	printf("%u %zu %lld %lld %.0f %zu\n", procs, n, (long long)lat[n / 2],
	    (long long)lat[(n * 99) / 100], n / (elapsed / 1e6), failures);
	rc = 0;
out:
	free(lat);
	if (all)
		fclose(all);
	config_free(&cfg);
	buf_free(&err);
	return rc;
}
