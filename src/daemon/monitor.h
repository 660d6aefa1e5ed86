/*
 * monitor.h - heraldd's monitor process: Postfix's queue, Ganglia and
 * /metrics.
 *
 * The master forks one monitor beside the workers (it has the last
 * scoreboard slot, so the watchdog restarts it if it stalls). Every
 * MONITOR_POSTFIX_POLL seconds (metrics_interval when shorter) it reads
 * Postfix's queue sizes with
 * "postqueue -c postfix_config_directory -j" and leaves them in the
 * scoreboard, where workers see whether Postfix is backlogged
 * (postfix_queue_limit). Every metrics_interval seconds it publishes to
 * gmond (gmetric.h), all in group "herald":
 *
 *	herald_sent_rate, herald_deferred_rate, herald_failed_rate
 *		messages/s relayed, deferred (4xx) and failed (5xx) by the
 *		node, from the scoreboard's totals
 *	herald_relay_<host>_<port>_{sent,deferred,failed}_rate
 *		the same per relay; herald_relay_<host>_<port>_up 1 or 0
 *	herald_mailing_<id>_{sent,deferred,failed}_rate
 *		per mailing in progress (ready, sending, paused), from the
 *		database; they expire 10 intervals after the mailing ends
 *	herald_workers_active	workers sending (not idle, not waiting)
 *	herald_backlog		staged messages not yet in a final state
 *	herald_postfix_active, herald_postfix_deferred
 *		messages in Postfix's active and deferred queues
 *	herald_claim_latency	ms per batch claim over the interval
 *	herald_stage_latency	s from a mailing's send time to staged,
 *		for the latest mailing staged
 *
 * Every second, whether or not metrics go to gmond, it also leaves each
 * relay's send rate over the last ten seconds in the scoreboard
 * (relay_counters.sent_per_100s), for herald status.
 *
 * With metrics_listen set, it serves the same series at /metrics in the
 * Prometheus text format (exposition.h) on a libev loop it runs between
 * its rounds and while postqueue runs (metrics_http.h): the scoreboard's
 * counters as they are at the scrape, the database's as of the last
 * round; names in heraldd(8). The master opens the listening socket
 * (worker_shared.metrics_fd) before it forks.
 *
 * Every NODE_HEARTBEAT_INTERVAL seconds it registers (once) and beats
 * this node in the nodes table (node.h), whatever metrics_interval is;
 * told to stop, it waits for the workers, beats a last time and marks
 * the node stopped.
 *
 * Whatever is unavailable (gmond, the database, Postfix) is logged once
 * when it goes and once when it comes back, and skipped; nothing here
 * can slow a worker down.
 */
#ifndef HERALD_MONITOR_H
#define HERALD_MONITOR_H

#include "config.h"
#include "scoreboard.h"

#define MONITOR_POSTFIX_POLL 5

/* worker_main_fn (master.h) for the monitor; shared is a struct
 * worker_shared (worker.h). */
int monitor_main(const struct herald_config *cfg, struct worker_slot *slot,
    unsigned slot_index, void *shared);

/* Counts postqueue -j output lines by queue. Exposed for unit tests. */
struct postfix_queue_counts {
	long long maildrop, incoming, active, deferred, hold;
};
void monitor_count_postqueue_line(const char *line,
    struct postfix_queue_counts *counts);

/* "herald_relay_" + name with every character outside [A-Za-z0-9_]
 * made '_' + suffix, into out. */
void monitor_metric_name(char *out, size_t size, const char *prefix,
    const char *name, const char *suffix);

#endif
