/*
 * smtp_pool.c - a relay's connections on one loop (see smtp_pool.h).
 *
 * Public functions: smtp_pool_new(), smtp_pool_free(),
 * smtp_pool_on_progress(), smtp_pool_run().
 *
 * The loop runs until an ev_check watcher, called after every round of
 * events, sees no connection with work left; the same watcher offers
 * the jobs a lost connection gave back to the connections still up.
 */
#include "smtp_pool.h"
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct smtp_pool {
	struct ev_loop *loop;
	struct smtp_client *clients[SMTP_POOL_CONNECTIONS_MAX];
	unsigned connections;
	unsigned active;		/* clients started in this run */
	struct smtp_queue queue;
	struct buf given_back;		/* the queue's array, reused */
	ev_check check;
};

static void
smtp_pool_on_check(struct ev_loop *loop, ev_check *w, int revents)
{
	struct smtp_pool *p = w->data;
	int busy = 0;
	int waiting = p->queue.given_back_count > 0 ||
	    p->queue.next < p->queue.count;

	(void)revents;
	for (unsigned i = 0; i < p->active; i++) {
		if (waiting)
			smtp_client_poke(p->clients[i]);
		busy |= smtp_client_busy(p->clients[i]);
	}
	if (!busy)
		ev_break(loop, EVBREAK_ONE);
}

struct smtp_pool *
smtp_pool_new(struct ev_loop *loop, const struct smtp_client_config *config,
    unsigned connections)
{
	struct smtp_pool *p = xcalloc(1, sizeof(*p));

	if (connections < 1)
		connections = 1;
	if (connections > SMTP_POOL_CONNECTIONS_MAX)
		connections = SMTP_POOL_CONNECTIONS_MAX;
	p->loop = loop;
	p->connections = connections;
	for (unsigned i = 0; i < connections; i++)
		p->clients[i] = smtp_client_new(loop, config, &p->queue);
	ev_check_init(&p->check, smtp_pool_on_check);
	/* Pending watchers of one priority run last-queued first: at the
	 * lowest priority the check sees the effect of this round's I/O. */
	ev_set_priority(&p->check, EV_MINPRI);
	p->check.data = p;
	return p;
}

void
smtp_pool_free(struct smtp_pool *p)
{
	if (p == NULL)
		return;
	for (unsigned i = 0; i < p->connections; i++)
		smtp_client_free(p->clients[i]);
	buf_free(&p->given_back);
	free(p);
}

void
smtp_pool_on_progress(struct smtp_pool *p, void (*fn)(void *), void *arg)
{
	p->queue.progress = fn;
	p->queue.progress_arg = arg;
}

/* The summary of a run that left some job without an answer. */
static void
smtp_pool_failure(struct smtp_pool *p, struct relay_session_result *sum)
{
	for (unsigned i = 0; i < p->active; i++) {
		const char *text;
		int code;
		enum relay_status status = smtp_client_status(p->clients[i],
		    &text, &code);

		if (status == RELAY_STATUS_OK)
			continue;
		sum->status = status;
		sum->code = code;
		snprintf(sum->text, sizeof(sum->text), "%s", text);
		return;
	}
	sum->status = RELAY_STATUS_DROPPED;
	snprintf(sum->text, sizeof(sum->text), "session ended early");
}

enum relay_status
smtp_pool_run(struct smtp_pool *p, struct smtp_job *jobs, unsigned count,
    struct relay_session_result *sum)
{
	int busy = 0, cut_short = 0;

	p->queue.jobs = jobs;
	p->queue.count = count;
	p->queue.next = 0;
	p->queue.done = 0;
	p->queue.given_back_count = 0;
	buf_reset(&p->given_back);
	buf_reserve(&p->given_back, (size_t)count * sizeof(unsigned));
	p->queue.given_back = (unsigned *)(void *)p->given_back.data;
	p->active = count < p->connections ? count : p->connections;
	sum->status = RELAY_STATUS_OK;
	sum->code = 0;
	sum->text[0] = '\0';
	for (unsigned i = 0; i < p->active; i++) {
		smtp_client_start(p->clients[i]);
		busy |= smtp_client_busy(p->clients[i]);
	}
	if (busy) {
		ev_check_start(p->loop, &p->check);
		ev_run(p->loop, 0);
		ev_check_stop(p->loop, &p->check);
	}
	sum->nodelay = 0;
	for (unsigned i = 0; i < p->active; i++)
		sum->nodelay |= smtp_client_nodelay(p->clients[i]);
	for (unsigned i = 0; i < count; i++)
		cut_short |= !jobs[i].done || jobs[i].result->code == 0;
	if (cut_short)
		smtp_pool_failure(p, sum);
	p->queue.jobs = NULL;
	p->queue.count = 0;
	return sum->status;
}
