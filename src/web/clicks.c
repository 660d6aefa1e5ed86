/*
 * clicks.c - the click queue and its writer thread (see clicks.h).
 *
 * The queue is two arrays: the web's thread appends to one under the
 * mutex, and the writer swaps it for its own empty one, so neither
 * holds the lock while the database works.
 */
#include "clicks.h"
#include "db.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct click {
	uint64_t mailing_id, recipient_id, link_id;
	int64_t at_ms;
};

struct click_list {
	struct click *items;
	size_t count, capacity;
};

struct clicks {
	const struct herald_config *cfg;
	MYSQL *db;			/* the writer's; NULL: reconnect */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct click_list queue;	/* under lock */
	int stopping;			/* under lock */
	uint64_t dropped;		/* under lock: queue was full */
	uint64_t written;		/* the writer's */
};

static void
list_append(struct click_list *l, const struct click *c)
{
	if (l->count == l->capacity) {
		l->capacity = l->capacity ? l->capacity * 2 : 1024;
		l->items = xrealloc(l->items, l->capacity * sizeof(*l->items));
	}
	l->items[l->count++] = *c;
}

void
clicks_record(struct clicks *c, uint64_t mailing_id, uint64_t recipient_id,
    uint64_t link_id, int64_t at_ms)
{
	struct click click = { mailing_id, recipient_id, link_id, at_ms };
	uint64_t dropped = 0;

	pthread_mutex_lock(&c->lock);
	if (c->queue.count < CLICKS_QUEUE_MAX) {
		list_append(&c->queue, &click);
		if (c->queue.count == CLICKS_BATCH)
			pthread_cond_signal(&c->wake);
	} else {
		dropped = ++c->dropped;
	}
	pthread_mutex_unlock(&c->lock);
	/* Once per 10,000, not per click: the log must not drown. */
	if (dropped % 10000 == 1)
		msg_error("clicks: the queue is full (%d clicks: is the "
		    "database down?); %" PRIu64 " clicks not recorded so far",
		    CLICKS_QUEUE_MAX, dropped);
}

/* Writes items[0, count) in one statement. */
static int
clicks_insert(struct clicks *c, const struct click *items, size_t count,
    struct buf *err)
{
	struct db_value *values = xcalloc(count * 5, sizeof(*values));
	struct buf sql = BUF_INIT;
	int rc;

	buf_append_str(&sql, "INSERT INTO clicks (mailing_id, recipient_id, "
	    "link_id, first_at, last_at, clicks) VALUES ");
	for (size_t i = 0; i < count; i++) {
		buf_append_str(&sql, i ? ", (?, ?, ?, FROM_UNIXTIME(? / 1000), "
		    "FROM_UNIXTIME(? / 1000), 1)" : "(?, ?, ?, "
		    "FROM_UNIXTIME(? / 1000), FROM_UNIXTIME(? / 1000), 1)");
		values[i * 5] = db_bind_u64(items[i].mailing_id);
		values[i * 5 + 1] = db_bind_u64(items[i].recipient_id);
		values[i * 5 + 2] = db_bind_u64(items[i].link_id);
		values[i * 5 + 3] = db_bind_i64(items[i].at_ms);
		values[i * 5 + 4] = db_bind_i64(items[i].at_ms);
	}
	buf_append_str(&sql, " ON DUPLICATE KEY UPDATE clicks = clicks + "
	    "VALUES(clicks), first_at = LEAST(first_at, VALUES(first_at)), "
	    "last_at = GREATEST(last_at, VALUES(last_at))");
	rc = db_execute_values(c->db, buf_str(&sql), (unsigned)(count * 5),
	    values, NULL, err);
	buf_free(&sql);
	free(values);
	return rc;
}

/* Writes the whole list, batch by batch; 0, or -1 with the list left
 * holding what was not written. */
static int
clicks_write(struct clicks *c, struct click_list *l)
{
	struct buf err = BUF_INIT;
	size_t done = 0;
	int rc = 0;

	if (c->db == NULL)
		c->db = db_connect(c->cfg, DB_SELECT_DATABASE | DB_AS_WEB, &err);
	if (c->db == NULL)
		rc = -1;
	while (rc == 0 && done < l->count) {
		size_t n = l->count - done < CLICKS_BATCH ? l->count - done :
		    CLICKS_BATCH;

		rc = clicks_insert(c, l->items + done, n, &err);
		if (rc == 0)
			done += n;
	}
	c->written += done;
	memmove(l->items, l->items + done, (l->count - done) *
	    sizeof(*l->items));
	l->count -= done;
	if (rc != 0) {
		msg_error("clicks: cannot record %zu clicks yet: %s; trying "
		    "again", l->count, buf_str(&err));
		if (c->db)
			mysql_close(c->db);
		c->db = NULL;
	}
	buf_free(&err);
	return rc;
}

/* The deadline ms milliseconds from now, for pthread_cond_timedwait. */
static struct timespec
deadline_in(long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static void *
clicks_writer(void *arg)
{
	struct clicks *c = arg;
	struct click_list mine = { 0 };
	int stopping = 0, failed = 0;

	mysql_thread_init();
	while (!stopping || mine.count) {
		struct timespec until = deadline_in(failed ? 1000 :
		    CLICKS_FLUSH_MS);

		pthread_mutex_lock(&c->lock);
		while (!c->stopping && c->queue.count < CLICKS_BATCH &&
		    pthread_cond_timedwait(&c->wake, &c->lock, &until) !=
		    ETIMEDOUT)
			;
		stopping = c->stopping;
		/* Take the queue; keep what failed before it, in order. */
		for (size_t i = 0; i < c->queue.count; i++)
			list_append(&mine, &c->queue.items[i]);
		c->queue.count = 0;
		pthread_mutex_unlock(&c->lock);
		failed = mine.count && clicks_write(c, &mine) != 0;
		/* On the way out, one last try only. */
		if (stopping && failed)
			break;
	}
	if (mine.count)
		msg_error("clicks: %zu clicks could not be recorded before "
		    "stopping (the database cannot be reached)", mine.count);
	free(mine.items);
	if (c->db)
		mysql_close(c->db);
	c->db = NULL;
	mysql_thread_end();
	return NULL;
}

struct clicks *
clicks_start(const struct herald_config *cfg, struct buf *err)
{
	struct clicks *c = xcalloc(1, sizeof(*c));
	int rc;

	c->cfg = cfg;
	/* Refuse to start without the database, like the rest of the
	 * web: an operator sees it at once. */
	c->db = db_connect(cfg, DB_SELECT_DATABASE | DB_AS_WEB, err);
	if (c->db == NULL) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	rc = pthread_create(&c->thread, NULL, clicks_writer, c);
	if (rc != 0) {
		buf_printf(err, "cannot start the click writer: %s",
		    strerror(rc));
		mysql_close(c->db);
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->wake);
		free(c);
		return NULL;
	}
	return c;
}

void
clicks_stop(struct clicks *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	msg_info("clicks: %" PRIu64 " recorded%s", c->written,
	    c->dropped ? " (some were not: see above)" : "");
	free(c->queue.items);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->wake);
	free(c);
}
