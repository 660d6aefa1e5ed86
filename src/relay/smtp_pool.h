/*
 * smtp_pool.h - several SMTP client connections to one relay,
 * multiplexed on one libev loop, carrying a relay session's messages.
 *
 *	p = smtp_pool_new(loop, &config, connections);
 *	for each session:
 *		smtp_pool_run(p, jobs, count, &summary);
 *	smtp_pool_free(p);
 *
 * A run hands the jobs out in order to up to `connections` connections
 * (never more than there are jobs) and runs the loop until every job has
 * a final result or no connection is left to carry the rest; a job a
 * lost connection gives back is taken by another one. Sessions are kept
 * open from run to run (a worker between two sessions is only writing
 * results to the database) and closed with QUIT when the pool is freed.
 *
 * The summary's status follows relay.h: OK when every job got an
 * answer, otherwise how the first connection that failed ended (so a
 * relay that refuses or does not answer is marked down, and one that
 * drops a session is tried again).
 *
 * Memory: the pool owns its connections and a scratch array reused
 * from run to run; jobs belong to the caller and must stay put during
 * smtp_pool_run().
 */
#ifndef HERALD_SMTP_POOL_H
#define HERALD_SMTP_POOL_H

#include "smtp_client.h"

/* Most connections per relay and worker (relay_connections' bound). */
#define SMTP_POOL_CONNECTIONS_MAX 32

struct smtp_pool;

/* A pool of connections to config's relay on loop (config is copied). */
struct smtp_pool *smtp_pool_new(struct ev_loop *loop,
    const struct smtp_client_config *config, unsigned connections);

/* QUIT and close every connection, free everything (NULL allowed). */
void smtp_pool_free(struct smtp_pool *p);

/* fn(arg) on every reply read (a worker heartbeats on it). */
void smtp_pool_on_progress(struct smtp_pool *p, void (*fn)(void *),
    void *arg);

/*
 * Sends jobs[0..count), each job's result filled in (those never
 * attempted are left RELAY_NOT_ATTEMPTED, their reply untouched).
 * Fills summary's status, code, text and nodelay; the counts and the
 * time are the caller's.
 */
enum relay_status smtp_pool_run(struct smtp_pool *p, struct smtp_job *jobs,
    unsigned count, struct relay_session_result *summary);

#endif
