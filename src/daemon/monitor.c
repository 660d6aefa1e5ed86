/*
 * monitor.c - heraldd's monitor process (see monitor.h).
 */
#include "monitor.h"
#include "db.h"
#include "exposition.h"
#include "feedback.h"
#include "gmetric.h"
#include "log.h"
#include "mailing.h"
#include "metrics_http.h"
#include "node.h"
#include "pull.h"
#include "reputation_watch.h"
#include "testphase.h"
#include "worker.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* postqueue gets this long to list the queue before it is killed. */
#define MONITOR_POSTQUEUE_TIMEOUT_MS 30000

/* The relays' rates in the scoreboard (herald status) are taken over the
 * last MONITOR_RATE_SAMPLES - 1 seconds, sampled every second. */
#define MONITOR_RATE_SAMPLES 11

/* What every relay had sent at one moment. */
struct rate_sample {
	int64_t ms;
	uint64_t sent[SCOREBOARD_RELAYS];
};

static volatile sig_atomic_t monitor_stop_requested;

struct mailing_sample {
	unsigned long long id, sent, deferred, failed;
	unsigned long long staged, bounced;
	char state[16];
	struct feedback_counts feedback;	/* what came back */
};

struct monitor {
	const struct herald_config *cfg;
	struct worker_slot *slot;
	struct scoreboard *board;
	struct throttle_table *throttle;
	char node[256];
	/* Serves /metrics between rounds (metrics_http.h); NULL = off. */
	struct ev_loop *loop;
	struct metrics_http *http;
	pid_t master_pid;
	MYSQL *db;
	struct gmetric_sender gmond;
	struct reputation_watch *reputation;
	/* Each source's trouble is logged when it starts and when it ends. */
	int db_failing, gmond_failing, postfix_failing, node_failing;
	/* This node in the nodes table (node.h). */
	int node_registered;
	int64_t node_registered_ms;	/* when node_register returned */
	int64_t node_beat_due_ms;
	/* The test phases' next check (testphase.h). */
	int64_t test_phase_due_ms;
	int test_phase_failing;
	/* The value check (pull.h): when it runs next; its trouble. */
	int64_t pull_due_ms;
	int pull_failing;
	unsigned share_nodes;		/* as last logged; 0 = none yet */
	/* The previous publication, for rates. */
	int64_t published_ms;
	uint64_t sent, deferred, failed, claims, claim_us;
	uint64_t relay[SCOREBOARD_RELAYS][3];
	struct mailing_sample *mailings, *fresh;
	unsigned mailing_count, mailing_capacity;
	unsigned fresh_count, fresh_capacity;
	/* The last seconds' samples for herald status, a ring. */
	struct rate_sample rate_samples[MONITOR_RATE_SAMPLES];
	unsigned rate_sample_count, rate_sample_next;
	int64_t rate_due_ms;
	/* This round's database readings. */
	long long backlog;
	long long stage_latency;	/* -1 = none */
	long long complaints;		/* complaints ever recorded */
	int db_ok;
};

static void
monitor_on_term(int sig)
{
	(void)sig;
	monitor_stop_requested = 1;
}

static int
monitor_should_stop(const struct monitor *m)
{
	return monitor_stop_requested || getppid() != m->master_pid;
}

/* Logs a source's failure once, and its recovery. */
static void
monitor_trouble(int *failing, int now_failing, const char *what,
    const struct buf *err)
{
	if (now_failing && !*failing)
		msg_warn("monitor: %s: %s (retrying every interval; sending "
		    "is not affected)", what, buf_str(err));
	else if (!now_failing && *failing)
		msg_info("monitor: %s works again", what);
	*failing = now_failing;
}

void
monitor_metric_name(char *out, size_t size, const char *prefix,
    const char *name, const char *suffix)
{
	size_t n;

	snprintf(out, size, "%s%s%s", prefix, name, suffix);
	for (n = strlen(prefix); out[n] && n < strlen(prefix) + strlen(name);
	    n++)
		if (!isalnum((unsigned char)out[n]) && out[n] != '_')
			out[n] = '_';
}

void
monitor_count_postqueue_line(const char *line,
    struct postfix_queue_counts *counts)
{
	const char *p = strstr(line, "\"queue_name\"");
	char queue[16];
	size_t n = 0;

	if (p == NULL)
		return;
	p += strlen("\"queue_name\"");
	while (*p == ' ' || *p == ':')
		p++;
	if (*p++ != '"')
		return;
	while (*p && *p != '"' && n + 1 < sizeof(queue))
		queue[n++] = *p++;
	queue[n] = '\0';
	if (strcmp(queue, "maildrop") == 0)
		counts->maildrop++;
	else if (strcmp(queue, "incoming") == 0)
		counts->incoming++;
	else if (strcmp(queue, "active") == 0)
		counts->active++;
	else if (strcmp(queue, "deferred") == 0)
		counts->deferred++;
	else if (strcmp(queue, "hold") == 0)
		counts->hold++;
}

/* Counts the complete lines in text, keeping an unfinished last one. */
static void
monitor_take_lines(struct buf *text, struct postfix_queue_counts *counts,
    struct buf *complaint, struct reputation_watch *reputation)
{
	char *start = text->data, *nl;
	size_t rest;

	while ((nl = memchr(start, '\n', text->len - (size_t)(start -
	    text->data))) != NULL) {
		*nl = '\0';
		if (start[0] == '{') {
			monitor_count_postqueue_line(start, counts);
			/* Each recipient's delay_reason: reputation.h. */
			reputation_parse_postqueue_line(start,
			    reputation_watch_recipient, reputation);
		} else if (start[0] && complaint->len == 0)
			buf_append_str(complaint, start);
		start = nl + 1;
	}
	rest = text->len - (size_t)(start - text->data);
	memmove(text->data, start, rest);
	text->len = rest;
	text->data[rest] = '\0';
}

static void monitor_sample_rates(struct monitor *m);

/* Runs postqueue -j and counts its messages by queue. */
static int
monitor_read_postfix(struct monitor *m, struct postfix_queue_counts *counts,
    struct buf *err)
{
	const char *dir = m->cfg->postfix_config_directory;
	struct buf text = BUF_INIT, complaint = BUF_INIT;
	int64_t deadline = scoreboard_now_ms() + MONITOR_POSTQUEUE_TIMEOUT_MS;
	int fds[2], status, rc = -1, timed_out = 0;
	char chunk[65536];
	pid_t pid;

	memset(counts, 0, sizeof(*counts));
	if (pipe2(fds, O_CLOEXEC) != 0) {
		buf_printf(err, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		buf_printf(err, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		/* postqueue gets none of ours (the database connection, the
		 * gmond socket): libmysqlclient does not mark its socket
		 * close-on-exec. */
		if (close_range(3, ~0U, 0) != 0)
			for (int fd = 3; fd < 1024; fd++)
				close(fd);
		execl("/usr/sbin/postqueue", "postqueue", "-c", dir, "-j",
		    (char *)NULL);
		execlp("postqueue", "postqueue", "-c", dir, "-j", (char *)NULL);
		printf("cannot run postqueue: %s\n", strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		ssize_t got;

		scoreboard_heartbeat(m->slot, WORKER_MONITOR);
		/* A slow postqueue must not stop the rates or a scrape. */
		monitor_sample_rates(m);
		if (m->loop)
			ev_run(m->loop, EVRUN_NOWAIT);
		if (scoreboard_now_ms() > deadline || monitor_stop_requested) {
			timed_out = 1;
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		got = read(fds[0], chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		buf_append(&text, chunk, (size_t)got);
		monitor_take_lines(&text, counts, &complaint, m->reputation);
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (text.len && !timed_out) {
		buf_append_char(&text, '\n');
		monitor_take_lines(&text, counts, &complaint, m->reputation);
	}
	if (timed_out)
		buf_printf(err, "postqueue -c %s -j gave no answer within "
		    "%d s", dir, MONITOR_POSTQUEUE_TIMEOUT_MS / 1000);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		buf_printf(err, "postqueue -c %s -j failed: %s", dir,
		    complaint.len ? buf_str(&complaint) : "no message");
	else
		rc = 0;
	buf_free(&text);
	buf_free(&complaint);
	return rc;
}

static void
monitor_poll_postfix(struct monitor *m)
{
	struct postfix_queue_counts counts;
	struct buf err = BUF_INIT;
	int failed;

	reputation_watch_begin(m->reputation, scoreboard_now_ms());
	failed = monitor_read_postfix(m, &counts, &err) != 0;

	monitor_trouble(&m->postfix_failing, failed, "reading Postfix's "
	    "queue", &err);
	if (!failed) {
		msg_debug("monitor: Postfix queue: maildrop %lld, incoming "
		    "%lld, active %lld, deferred %lld, hold %lld",
		    counts.maildrop, counts.incoming, counts.active,
		    counts.deferred, counts.hold);
		atomic_store(&m->board->postfix_waiting, counts.maildrop +
		    counts.incoming + counts.active);
		atomic_store(&m->board->postfix_active, counts.active);
		atomic_store(&m->board->postfix_deferred, counts.deferred);
		atomic_store(&m->board->postfix_checked_ms,
		    scoreboard_now_ms());
		/* Judged on a whole reading only: half a queue would look
		 * like delivered probes. */
		reputation_watch_end(m->reputation, scoreboard_now_ms());
	}
	buf_free(&err);
}

static int
monitor_mailing_row(void *arg, unsigned ncolumns, char **columns)
{
	struct monitor *m = arg;
	struct mailing_sample *s;

	(void)ncolumns;
	if (m->fresh_count == m->fresh_capacity) {
		m->fresh_capacity = m->fresh_capacity ? 2 * m->fresh_capacity :
		    16;
		m->fresh = xrealloc(m->fresh, m->fresh_capacity *
		    sizeof(*m->fresh));
	}
	s = &m->fresh[m->fresh_count++];
	s->id = strtoull(columns[0], NULL, 10);
	s->sent = strtoull(columns[1], NULL, 10);
	s->deferred = strtoull(columns[2], NULL, 10);
	s->failed = strtoull(columns[3], NULL, 10);
	memset(&s->feedback, 0, sizeof(s->feedback));
	m->backlog += columns[4] ? strtoll(columns[4], NULL, 10) : 0;
	snprintf(s->state, sizeof(s->state), "%s", columns[5]);
	s->staged = strtoull(columns[6], NULL, 10);
	s->bounced = strtoull(columns[7], NULL, 10);
	return 0;
}

static int
monitor_latency_row(void *arg, unsigned ncolumns, char **columns)
{
	struct monitor *m = arg;

	(void)ncolumns;
	if (columns[0])
		m->stage_latency = strtoll(columns[0], NULL, 10);
	if (m->stage_latency < 0)
		m->stage_latency = 0;
	return 1;
}

static int
monitor_complaints_row(void *arg, unsigned ncolumns, char **columns)
{
	struct monitor *m = arg;

	(void)ncolumns;
	m->complaints = strtoll(columns[0], NULL, 10);
	return 1;
}

/* What came back for each mailing in progress (feedback.h). */
static int
monitor_read_feedback(struct monitor *m, struct buf *err)
{
	for (unsigned i = 0; i < m->fresh_count; i++)
		if (feedback_counts_read(m->db, m->fresh[i].id,
		    &m->fresh[i].feedback, err) != 0)
			return -1;
	return 0;
}

/* Reads the mailings in progress, the backlog and the staging delay. */
static void
monitor_read_database(struct monitor *m)
{
	struct buf err = BUF_INIT;
	const char *in_progress[4] = { mailing_state_name(MAILING_READY),
	    mailing_state_name(MAILING_SENDING),
	    mailing_state_name(MAILING_BLOCKED),
	    mailing_state_name(MAILING_PAUSED) };

	m->fresh_count = 0;
	m->backlog = 0;
	m->complaints = 0;
	m->stage_latency = -1;
	m->db_ok = 0;
	if (m->db == NULL)
		m->db = db_connect(m->cfg, DB_SELECT_DATABASE | DB_AS_DAEMON,
		    &err);
	if (m->db && (db_query_strings(m->db, "SELECT id, sent_count, "
	    "deferred_count, failed_count, GREATEST(CAST(staged_count AS "
	    "SIGNED) - CAST(sent_count AS SIGNED) - CAST(failed_count AS "
	    "SIGNED) - CAST(cancelled_count AS SIGNED), 0), state, "
	    "staged_count, bounced_count FROM mailings "
	    "WHERE state IN (?, ?, ?, ?) ORDER BY id", 4, in_progress,
	    monitor_mailing_row, m, &err) != 0 ||
	    monitor_read_feedback(m, &err) != 0 ||
	    db_query_strings(m->db, "SELECT TIMESTAMPDIFF(SECOND, send_at, "
	    "staged_at) FROM mailings WHERE staged_at IS NOT NULL ORDER BY "
	    "staged_at DESC, id DESC LIMIT 1", 0, NULL, monitor_latency_row,
	    m, &err) != 0 ||
	    db_query_strings(m->db, "SELECT COUNT(*) FROM suppressions "
	    "WHERE source = 'complaint'", 0, NULL, monitor_complaints_row, m,
	    &err) != 0)) {
		/* Reconnect next time: the server may have restarted. */
		mysql_close(m->db);
		m->db = NULL;
	}
	m->db_ok = m->db != NULL;
	monitor_trouble(&m->db_failing, !m->db_ok, "reading the database",
	    &err);
	buf_free(&err);
}

/* What this node's scoreboard shows, for the nodes table. */
static void
monitor_node_report(const struct monitor *m, struct node_report *report,
    struct node_relay_report *relays)
{
	const struct scoreboard *b = m->board;
	int64_t now = scoreboard_now_ms();

	memset(report, 0, sizeof(*report));
	for (unsigned i = 0; i < b->slot_count; i++) {
		int32_t state = atomic_load(&b->slots[i].state);

		if (atomic_load(&b->slots[i].pid) <= 0 ||
		    state == WORKER_MONITOR)
			continue;
		report->workers++;
		report->workers_sending += state == WORKER_SENDING;
	}
	report->sent = atomic_load(&b->sent);
	report->deferred = atomic_load(&b->deferred);
	report->failed = atomic_load(&b->failed);
	report->relays = relays;
	for (unsigned i = 0; i < SCOREBOARD_RELAYS; i++) {
		const struct relay_counters *r = &b->relays[i];
		struct node_relay_report *out = &relays[report->relay_count];

		if (atomic_load(&r->state) != 2)
			continue;
		snprintf(out->name, sizeof(out->name), "%s", r->name);
		out->up = atomic_load(&r->down_until_ms) <= now;
		out->sent_per_second = atomic_load(&r->sent_per_100s) / 100.0;
		out->sent = atomic_load(&r->sent);
		out->deferred = atomic_load(&r->deferred);
		out->failed = atomic_load(&r->failed);
		report->sent_per_second += out->sent_per_second;
		report->relay_count++;
	}
}

/*
 * After a beat started at beat_ms: this node's share of the cluster-wide
 * rate limits (throttle.h), valid for node_timeout, after which the others count
 * this node dead and take its part. A node that joins takes none until
 * every other live node has beaten since it registered, and so counts
 * it: then the sum of the parts never passes a limit. Until then it
 * looks again every second. A failed read makes the share unknown:
 * limited messages wait rather than risk passing a limit.
 */
static int
monitor_share(struct monitor *m, int64_t beat_ms, struct buf *err)
{
	struct node_share share;
	int64_t now_ms = scoreboard_now_ms();

	if (node_share(m->db, m->node, m->cfg->node_timeout, (now_ms -
	    m->node_registered_ms) * 1000, &share, err) != 0) {
		throttle_set_share(m->throttle, 0, 0);
		return -1;
	}
	if (!share.seen) {
		throttle_set_share(m->throttle, 0, 0);
		m->node_beat_due_ms = now_ms + 1000;
		return 0;
	}
	/* From the beat: the others count this node dead node_timeout
	 * after its last beat was written, not after this read. */
	throttle_set_share(m->throttle, share.alive, (beat_ms +
	    m->cfg->node_timeout * 1000) * 1000);
	if (share.alive != m->share_nodes)
		msg_info("node %s: %u live node%s share the cluster-wide rate "
		    "limits", m->node, share.alive, share.alive == 1 ? "" :
		    "s");
	m->share_nodes = share.alive;
	return 0;
}

static void monitor_database_check(struct monitor *m, int64_t *due_ms,
    long interval_s, int *failing, const char *what,
    int (*check)(struct monitor *, struct buf *));

/*
 * The nodes table's check (monitor_beat): registers this node the first
 * time (and again after a failure), beats (node.h), then takes its share
 * of the cluster-wide limits.
 */
static int
monitor_node_beat(struct monitor *m, struct buf *err)
{
	struct node_relay_report relays[SCOREBOARD_RELAYS];
	struct node_report report;
	char host[256];
	int64_t beat_ms;

	if (!m->node_registered) {
		struct node_identity who = { .name = m->node, .host = host,
		    .pid = m->master_pid, .version = PACKAGE_VERSION,
		    .uptime_ms = scoreboard_now_ms() -
		    atomic_load(&m->board->master_started_ms) };

		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		m->node_registered = node_register(m->db, &who,
		    m->cfg->node_timeout, err) == 0;
		m->node_registered_ms = scoreboard_now_ms();
		if (!m->node_registered)
			return -1;
	}
	monitor_node_report(m, &report, relays);
	beat_ms = scoreboard_now_ms();
	/* Not beating, the share lapses after node_timeout by itself. */
	if (node_heartbeat(m->db, m->node, &report, err) != 0 ||
	    monitor_share(m, beat_ms, err) != 0) {
		/* Register again next time: the server may have lost us. */
		m->node_registered = 0;
		return -1;
	}
	return 0;
}

/*
 * Every NODE_HEARTBEAT_INTERVAL seconds (sooner when monitor_share
 * says so): this node's beat in the nodes table and its share.
 */
static void
monitor_beat(struct monitor *m)
{
	monitor_database_check(m, &m->node_beat_due_ms,
	    NODE_HEARTBEAT_INTERVAL, &m->node_failing, "beating in the nodes "
	    "table", monitor_node_beat);
}

/*
 * A periodic check of the database run by every node's monitor: when
 * *due_ms has come, runs check on the monitor's connection (made if
 * needed; dropped after a failure, since the server may have restarted)
 * and sets the next due time interval_s seconds on. A failure is
 * reported once while it lasts (monitor_trouble), naming what.
 */
static void
monitor_database_check(struct monitor *m, int64_t *due_ms, long interval_s,
    int *failing, const char *what,
    int (*check)(struct monitor *, struct buf *))
{
	struct buf err = BUF_INIT;
	int failed;

	if (scoreboard_now_ms() < *due_ms)
		return;
	*due_ms = scoreboard_now_ms() + interval_s * 1000;
	if (m->db == NULL)
		m->db = db_connect(m->cfg, DB_SELECT_DATABASE | DB_AS_DAEMON,
		    &err);
	failed = m->db == NULL || check(m, &err) != 0;
	if (failed && m->db) {
		mysql_close(m->db);
		m->db = NULL;
	}
	monitor_trouble(failing, failed, what, &err);
	buf_free(&err);
}

/* Starts the test phases' clocks and chooses their winners
 * (testphase.h); one row update decides, so only one node releases. */
static int
monitor_test_phases(struct monitor *m, struct buf *err)
{
	unsigned decided = 0;

	return test_phase_check(m->db, &decided, err);
}

/* The value check of the sending mailings (pull.h); the database
 * decides each pull once, whichever node gets there first. */
static int
monitor_pull(struct monitor *m, struct buf *err)
{
	return pull_run(m->db, m->cfg, err);
}

/*
 * heraldd stops: its workers finish the session in hand. Waits for them
 * to exit, a second less than the master gives them before SIGKILL.
 */
static void
monitor_wait_for_workers(struct monitor *m)
{
	int64_t deadline = scoreboard_now_ms() + 1000 *
	    (m->cfg->worker_kill_grace - 1);
	struct timespec tick = { 0, 100 * 1000000L };

	while (scoreboard_now_ms() < deadline) {
		unsigned alive = 0;

		for (unsigned i = 0; i < m->board->slot_count; i++) {
			pid_t pid = atomic_load(&m->board->slots[i].pid);

			if (pid > 0 && pid != getpid() && kill(pid, 0) == 0)
				alive++;
		}
		if (alive == 0)
			return;
		scoreboard_heartbeat(m->slot, WORKER_MONITOR);
		nanosleep(&tick, NULL);
	}
}

static void
monitor_publish(struct monitor *m, const char *name, const char *units,
    const char *title, const char *description, unsigned dmax, double value)
{
	struct gmetric_definition def = {
		.name = name, .units = units, .slope = GMETRIC_SLOPE_BOTH,
		.tmax = (unsigned)m->cfg->metrics_interval, .dmax = dmax,
		.group = "herald", .title = title, .description = description,
	};
	struct buf err = BUF_INIT;
	int failed;

	if (m->gmond.fd < 0)
		return;
	failed = gmetric_send(&m->gmond, &def, value, &err) != 0;
	/* One datagram lost is no news; note the first of a run. */
	monitor_trouble(&m->gmond_failing, failed, "publishing to gmond",
	    &err);
	buf_free(&err);
}

static double
monitor_rate(uint64_t now, uint64_t before, double seconds)
{
	return now >= before && seconds > 0 ? (double)(now - before) /
	    seconds : 0.0;
}

static void
monitor_publish_relays(struct monitor *m, double seconds, int first)
{
	static const char *const kinds[3] = { "sent", "deferred", "failed" };
	int64_t now = scoreboard_now_ms();
	unsigned dmax = (unsigned)(10 * m->cfg->metrics_interval);

	for (unsigned i = 0; i < SCOREBOARD_RELAYS; i++) {
		struct relay_counters *r = &m->board->relays[i];
		uint64_t values[3];
		char name[160], title[160], suffix[32];
		int64_t down_until;

		if (atomic_load(&r->state) != 2)
			continue;
		values[0] = atomic_load(&r->sent);
		values[1] = atomic_load(&r->deferred);
		values[2] = atomic_load(&r->failed);
		for (unsigned k = 0; k < 3; k++) {
			snprintf(suffix, sizeof(suffix), "_%s_rate", kinds[k]);
			monitor_metric_name(name, sizeof(name),
			    "herald_relay_", r->name, suffix);
			snprintf(title, sizeof(title), "Messages %s by %s",
			    kinds[k], r->name);
			if (!first) {
				double rate = monitor_rate(values[k],
				    m->relay[i][k], seconds);

				monitor_publish(m, name, "messages/s", title,
				    "messages per second, this relay", dmax,
				    rate);
			}
			m->relay[i][k] = values[k];
		}
		down_until = atomic_load(&r->down_until_ms);
		monitor_metric_name(name, sizeof(name), "herald_relay_",
		    r->name, "_up");
		snprintf(title, sizeof(title), "Relay %s up", r->name);
		monitor_publish(m, name, "up", title, "1 while the workers "
		    "use this relay, 0 while they wait for it", dmax,
		    down_until > now ? 0.0 : 1.0);
	}
}

/* A mailing's bounce, complaint and unsubscribe rates, in percent of
 * the messages it delivered: what the brake watches (brake.h). */
static void
monitor_publish_feedback(struct monitor *m, const struct mailing_sample *s,
    unsigned dmax)
{
	const struct feedback_counts *f = &s->feedback;
	const struct {
		const char *key, *what;
		unsigned long long events;
	} rates[4] = {
		{ "hard_bounce_rate", "hard bounces", f->hard_bounces },
		{ "soft_bounce_rate", "soft bounces", f->soft_bounces },
		{ "complaint_rate", "complaints", f->complaints },
		{ "unsubscribe_rate", "unsubscribes", f->unsubscribes },
	};

	for (unsigned k = 0; k < 4; k++) {
		char name[96], title[96];

		snprintf(name, sizeof(name), "herald_mailing_%llu_%s", s->id,
		    rates[k].key);
		snprintf(title, sizeof(title), "Mailing %llu: %s", s->id,
		    rates[k].what);
		monitor_publish(m, name, "%", title, "percent of the messages "
		    "this mailing delivered", dmax,
		    feedback_rate(rates[k].events, f->delivered));
	}
}

static void
monitor_publish_mailings(struct monitor *m, double seconds)
{
	static const char *const kinds[3] = { "sent", "deferred", "failed" };
	/* Gone from gmond 10 intervals after the mailing is finished. */
	unsigned dmax = (unsigned)(10 * m->cfg->metrics_interval);
	struct mailing_sample *swap;
	unsigned swap_capacity;

	for (unsigned i = 0; i < m->fresh_count; i++) {
		const struct mailing_sample *now = &m->fresh[i], *before = NULL;
		unsigned long long values[3] = { now->sent, now->deferred,
		    now->failed };
		unsigned long long old[3];

		monitor_publish_feedback(m, now, dmax);
		for (unsigned j = 0; j < m->mailing_count; j++)
			if (m->mailings[j].id == now->id)
				before = &m->mailings[j];
		if (before == NULL)
			continue;	/* a rate needs two readings */
		old[0] = before->sent;
		old[1] = before->deferred;
		old[2] = before->failed;
		for (unsigned k = 0; k < 3; k++) {
			char name[96], title[96];

			snprintf(name, sizeof(name), "herald_mailing_%llu_%s_"
			    "rate", now->id, kinds[k]);
			snprintf(title, sizeof(title), "Mailing %llu: "
			    "messages %s", now->id, kinds[k]);
			monitor_publish(m, name, "messages/s", title,
			    "messages per second, this mailing", dmax,
			    monitor_rate(values[k], old[k], seconds));
		}
	}
	/* This round's readings become the previous ones. */
	swap = m->mailings;
	swap_capacity = m->mailing_capacity;
	m->mailings = m->fresh;
	m->mailing_capacity = m->fresh_capacity;
	m->mailing_count = m->fresh_count;
	m->fresh = swap;
	m->fresh_capacity = swap_capacity;
	m->fresh_count = 0;
}

/* Per destination the monitor has figures for: its blocked share over
 * reputation_window on the route in use, and that route's number. */
static void
monitor_publish_reputation(struct monitor *m)
{
	unsigned dmax = (unsigned)(10 * m->cfg->metrics_interval);

	for (unsigned i = 0; i < REPUTATION_DOMAINS; i++) {
		struct reputation_domain *d = &m->board->reputation.domains[i];
		uint64_t relayed, blocked;
		char name[200], title[200];
		unsigned r;

		if (atomic_load(&d->state) != 2)
			continue;
		r = atomic_load(&d->route) % REPUTATION_ROUTES;
		relayed = atomic_load(&d->routes[r].window_relayed);
		blocked = atomic_load(&d->routes[r].window_blocked);
		monitor_metric_name(name, sizeof(name), "herald_domain_",
		    d->domain, "_blocked_share");
		snprintf(title, sizeof(title), "%s: blocked share", d->domain);
		monitor_publish(m, name, "%", title, "percent of the messages "
		    "relayed to this domain on its route in reputation_window "
		    "that it deferred as blocked or spamdetected", dmax,
		    relayed ? 100.0 * (double)blocked / (double)relayed : 0.0);
		monitor_metric_name(name, sizeof(name), "herald_domain_",
		    d->domain, "_route");
		snprintf(title, sizeof(title), "%s: route", d->domain);
		monitor_publish(m, name, "route", title, "0 on its own route, "
		    "N on its Nth route_alternate", dmax, (double)r);
	}
}

static void
monitor_publish_all(struct monitor *m)
{
	int64_t now = scoreboard_now_ms();
	double seconds = (now - m->published_ms) / 1000.0;
	int first = m->published_ms == 0;
	uint64_t sent = atomic_load(&m->board->sent);
	uint64_t deferred = atomic_load(&m->board->deferred);
	uint64_t failed = atomic_load(&m->board->failed);
	uint64_t claims = atomic_load(&m->board->claims);
	uint64_t claim_us = atomic_load(&m->board->claim_us);
	unsigned active = 0;

	monitor_read_database(m);
	if (!first) {
		monitor_publish(m, "herald_sent_rate", "messages/s",
		    "Messages sent", "messages per second accepted by the "
		    "relays", 0, monitor_rate(sent, m->sent, seconds));
		monitor_publish(m, "herald_deferred_rate", "messages/s",
		    "Messages deferred", "messages per second deferred (4xx) "
		    "by the relays", 0, monitor_rate(deferred, m->deferred,
		    seconds));
		monitor_publish(m, "herald_failed_rate", "messages/s",
		    "Messages failed", "messages per second refused (5xx) or "
		    "that could not be built", 0, monitor_rate(failed,
		    m->failed, seconds));
		monitor_publish(m, "herald_claim_latency", "ms",
		    "Batch claim latency", "milliseconds per batch claim over "
		    "the interval", 0, claims > m->claims ?
		    (double)(claim_us - m->claim_us) / (double)(claims -
		    m->claims) / 1000.0 : 0.0);
	}
	m->sent = sent;
	m->deferred = deferred;
	m->failed = failed;
	m->claims = claims;
	m->claim_us = claim_us;
	for (unsigned i = 0; i < m->board->slot_count; i++) {
		struct worker_slot *w = &m->board->slots[i];

		if (atomic_load(&w->pid) > 0 && atomic_load(&w->state) ==
		    WORKER_SENDING)
			active++;
	}
	monitor_publish(m, "herald_workers_active", "workers",
	    "Workers sending", "workers working on a batch", 0,
	    (double)active);
	if (m->db_ok) {
		monitor_publish(m, "herald_backlog", "messages",
		    "Staged backlog", "staged messages not yet sent, failed or "
		    "cancelled", 0, (double)m->backlog);
		if (m->stage_latency >= 0)
			monitor_publish(m, "herald_stage_latency", "s",
			    "Staging latency", "seconds from the latest "
			    "staged mailing's send time to ready", 0,
			    (double)m->stage_latency);
		monitor_publish_mailings(m, seconds);
	}
	if (atomic_load(&m->board->postfix_checked_ms) > now -
	    2 * MONITOR_POSTFIX_POLL * 1000 - MONITOR_POSTQUEUE_TIMEOUT_MS) {
		monitor_publish(m, "herald_postfix_active", "messages",
		    "Postfix active queue", "messages in Postfix's active "
		    "queue", 0, (double)atomic_load(
		    &m->board->postfix_active));
		monitor_publish(m, "herald_postfix_deferred", "messages",
		    "Postfix deferred queue", "messages in Postfix's deferred "
		    "queue", 0, (double)atomic_load(
		    &m->board->postfix_deferred));
	}
	monitor_publish_relays(m, seconds, first);
	monitor_publish_reputation(m);
	m->published_ms = now;
}

/*
 * Once a second (called more often, it returns at once), samples what
 * each relay has sent and leaves its rate over the time the samples
 * cover (up to MONITOR_RATE_SAMPLES - 1 seconds, less just after start)
 * in the scoreboard for herald status, whether or not metrics go to
 * gmond.
 */
static void
monitor_sample_rates(struct monitor *m)
{
	struct rate_sample *now = &m->rate_samples[m->rate_sample_next];
	const struct rate_sample *oldest;

	if (scoreboard_now_ms() < m->rate_due_ms)
		return;
	now->ms = scoreboard_now_ms();
	m->rate_due_ms = now->ms + 1000;
	for (unsigned i = 0; i < SCOREBOARD_RELAYS; i++)
		now->sent[i] = atomic_load(&m->board->relays[i].sent);
	m->rate_sample_next = (m->rate_sample_next + 1) % MONITOR_RATE_SAMPLES;
	if (m->rate_sample_count < MONITOR_RATE_SAMPLES)
		m->rate_sample_count++;
	/* The ring's oldest: where the next sample goes once it is full. */
	oldest = &m->rate_samples[m->rate_sample_count < MONITOR_RATE_SAMPLES ?
	    0 : m->rate_sample_next];
	if (oldest == now)
		return;		/* a rate needs two samples */
	for (unsigned i = 0; i < SCOREBOARD_RELAYS; i++) {
		struct relay_counters *r = &m->board->relays[i];

		if (atomic_load(&r->state) != 2)
			continue;
		atomic_store(&r->sent_per_100s, (uint64_t)(100 *
		    monitor_rate(now->sent[i], oldest->sent[i],
		    (now->ms - oldest->ms) / 1000.0)));
	}
}

/* One labelled sample: the node's label, then up to two more. */
static void
monitor_sample(struct buf *page, const struct monitor *m, const char *name,
    const char *label, const char *value_of_label, double value)
{
	const char *labels[4] = { "node", m->node, label, value_of_label };

	exposition_sample(page, name, labels, label ? 2 : 1, value);
}

/* The node's own series, from the scoreboard. */
static void
monitor_page_node(struct buf *page, const struct monitor *m)
{
	static const struct {
		const char *name, *help;
		size_t offset;
	} counters[] = {
		{ "herald_sent_total", "Messages the relays accepted (2xx) "
		    "since heraldd started.", offsetof(struct scoreboard,
		    sent) },
		{ "herald_deferred_total", "Messages the relays deferred (4xx) "
		    "since heraldd started.", offsetof(struct scoreboard,
		    deferred) },
		{ "herald_failed_total", "Messages refused (5xx) or that could "
		    "not be built since heraldd started.",
		    offsetof(struct scoreboard, failed) },
		{ "herald_claims_total", "Batches claimed since heraldd "
		    "started.", offsetof(struct scoreboard, claims) },
	};
	const struct scoreboard *b = m->board;
	int64_t now = scoreboard_now_ms();
	unsigned active = 0;

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		exposition_family(page, counters[i].name, EXPOSITION_COUNTER,
		    counters[i].help);
		monitor_sample(page, m, counters[i].name, NULL, NULL, (double)
		    atomic_load((_Atomic uint64_t *)((char *)b +
		    counters[i].offset)));
	}
	exposition_family(page, "herald_claim_seconds_total",
	    EXPOSITION_COUNTER, "Time spent claiming batches; divided by "
	    "herald_claims_total, the claim latency.");
	monitor_sample(page, m, "herald_claim_seconds_total", NULL, NULL,
	    (double)atomic_load(&b->claim_us) / 1e6);
	for (unsigned i = 0; i < b->slot_count; i++)
		if (atomic_load(&b->slots[i].pid) > 0 &&
		    atomic_load(&b->slots[i].state) == WORKER_SENDING)
			active++;
	exposition_family(page, "herald_workers_active", EXPOSITION_GAUGE,
	    "Workers working on a batch.");
	monitor_sample(page, m, "herald_workers_active", NULL, NULL, active);
	/* Postfix's queues only while the readings are fresh. */
	if (atomic_load(&b->postfix_checked_ms) > now -
	    2 * MONITOR_POSTFIX_POLL * 1000 - MONITOR_POSTQUEUE_TIMEOUT_MS) {
		exposition_family(page, "herald_postfix_active",
		    EXPOSITION_GAUGE, "Messages in Postfix's active queue.");
		monitor_sample(page, m, "herald_postfix_active", NULL, NULL,
		    (double)atomic_load(&b->postfix_active));
		exposition_family(page, "herald_postfix_deferred",
		    EXPOSITION_GAUGE, "Messages in Postfix's deferred queue.");
		monitor_sample(page, m, "herald_postfix_deferred", NULL, NULL,
		    (double)atomic_load(&b->postfix_deferred));
	}
}

/* Per relay, from the scoreboard. */
static void
monitor_page_relays(struct buf *page, const struct monitor *m)
{
	static const char *const names[3] = { "herald_relay_sent_total",
	    "herald_relay_deferred_total", "herald_relay_failed_total" };
	static const char *const helps[3] = { "Messages this relay accepted "
	    "(2xx) since heraldd started.", "Messages this relay deferred "
	    "(4xx) since heraldd started.", "Messages this relay refused "
	    "(5xx) since heraldd started." };
	const struct scoreboard *b = m->board;
	int64_t now = scoreboard_now_ms();

	for (unsigned k = 0; k < 4; k++) {
		if (k < 3)
			exposition_family(page, names[k], EXPOSITION_COUNTER,
			    helps[k]);
		else
			exposition_family(page, "herald_relay_up",
			    EXPOSITION_GAUGE, "1 while the workers use this "
			    "relay, 0 while they wait for it.");
		for (unsigned i = 0; i < SCOREBOARD_RELAYS; i++) {
			const struct relay_counters *r = &b->relays[i];
			_Atomic const uint64_t *counts[3] = { &r->sent,
			    &r->deferred, &r->failed };

			if (atomic_load(&r->state) != 2)
				continue;
			if (k < 3)
				monitor_sample(page, m, names[k], "relay",
				    r->name, (double)atomic_load(counts[k]));
			else
				monitor_sample(page, m, "herald_relay_up",
				    "relay", r->name, atomic_load(
				    &r->down_until_ms) > now ? 0.0 : 1.0);
		}
	}
}

/* Per limited destination domain, from the rate-limit table. */
static void
monitor_page_domains(struct buf *page, const struct monitor *m)
{
	static const char prefix[] = "domain:";

	exposition_family(page, "herald_domain_sent_total", EXPOSITION_COUNTER,
	    "Messages to this domain let through by its domain_rate_limit "
	    "(only limited domains; restarts at 0 when an idle domain's "
	    "bucket is taken over).");
	for (unsigned i = 0; m->throttle && i < m->throttle->bucket_count;
	    i++) {
		const struct throttle_bucket *t = &m->throttle->buckets[i];
		char key[sizeof(t->key)];

		if (atomic_load(&t->key_hash) == 0)
			continue;
		memcpy(key, t->key, sizeof(key));
		key[sizeof(key) - 1] = '\0';
		if (strncmp(key, prefix, sizeof(prefix) - 1) != 0)
			continue;
		monitor_sample(page, m, "herald_domain_sent_total", "domain",
		    key + sizeof(prefix) - 1, (double)atomic_load(
		    &t->reserved));
	}
}

/* From the database, as the monitor last read it (metrics_interval). */
static void
monitor_page_database(struct buf *page, const struct monitor *m)
{
	static const char *const names[4] = { "herald_mailing_sent_total",
	    "herald_mailing_deferred_total", "herald_mailing_failed_total",
	    "herald_mailing_bounced_total" };
	static const char *const helps[4] = { "Messages of this mailing the "
	    "relays accepted, by every node (from the database).",
	    "Deferrals of this mailing's messages, by every node (from the "
	    "database).", "Messages of this mailing that failed, by every "
	    "node (from the database).", "Messages of this mailing that "
	    "bounced (from the database)." };
	static const enum mailing_state states[4] = { MAILING_READY,
	    MAILING_SENDING, MAILING_BLOCKED, MAILING_PAUSED };
	char id[24];

	exposition_family(page, "herald_backlog", EXPOSITION_GAUGE,
	    "Staged messages not yet sent, failed or cancelled, all "
	    "mailings in progress.");
	monitor_sample(page, m, "herald_backlog", NULL, NULL,
	    (double)m->backlog);
	if (m->stage_latency >= 0) {
		exposition_family(page, "herald_stage_latency_seconds",
		    EXPOSITION_GAUGE, "From the latest staged mailing's send "
		    "time to staged.");
		monitor_sample(page, m, "herald_stage_latency_seconds", NULL,
		    NULL, (double)m->stage_latency);
	}
	exposition_family(page, "herald_complaints_total", EXPOSITION_COUNTER,
	    "Complaints (ARF feedback reports) recorded, every mailing.");
	monitor_sample(page, m, "herald_complaints_total", NULL, NULL,
	    (double)m->complaints);
	exposition_family(page, "herald_mailings", EXPOSITION_GAUGE,
	    "Mailings in progress by state; ready and sending ones are due.");
	for (unsigned s = 0; s < 4; s++) {
		const char *state = mailing_state_name(states[s]);
		unsigned count = 0;

		for (unsigned i = 0; i < m->mailing_count; i++)
			count += strcmp(m->mailings[i].state, state) == 0;
		monitor_sample(page, m, "herald_mailings", "state", state,
		    count);
	}
	exposition_family(page, "herald_mailing_staged", EXPOSITION_GAUGE,
	    "Messages staged for this mailing in progress.");
	for (unsigned i = 0; i < m->mailing_count; i++) {
		snprintf(id, sizeof(id), "%llu", m->mailings[i].id);
		monitor_sample(page, m, "herald_mailing_staged", "mailing", id,
		    (double)m->mailings[i].staged);
	}
	for (unsigned k = 0; k < 4; k++) {
		exposition_family(page, names[k], EXPOSITION_COUNTER,
		    helps[k]);
		for (unsigned i = 0; i < m->mailing_count; i++) {
			const struct mailing_sample *s = &m->mailings[i];
			unsigned long long values[4] = { s->sent, s->deferred,
			    s->failed, s->bounced };

			snprintf(id, sizeof(id), "%llu", s->id);
			monitor_sample(page, m, names[k], "mailing", id,
			    (double)values[k]);
		}
	}
}

/*
 * The /metrics page (metrics_http_page_fn): the series Ganglia gets,
 * as the counters behind its rates and as gauges (heraldd(8)).
 */
static void
monitor_write_page(struct buf *page, void *arg)
{
	struct monitor *m = arg;

	monitor_page_node(page, m);
	monitor_page_relays(page, m);
	monitor_page_domains(page, m);
	if (m->db_ok)
		monitor_page_database(page, m);
}

static void
monitor_wake(struct ev_loop *loop, ev_timer *timer, int events)
{
	(void)loop, (void)events;
	*(int *)timer->data = 1;
}

/* Sleeps for seconds, answering scrapes meanwhile. */
static void
monitor_wait(struct monitor *m, double seconds)
{
	struct timespec tick = { 0, (long)(seconds * 1e9) };
	ev_timer timer;
	int woke = 0;

	if (m->loop == NULL) {
		nanosleep(&tick, NULL);
		return;
	}
	/* The loop's clock stood still through the round's work. */
	ev_now_update(m->loop);
	ev_timer_init(&timer, monitor_wake, seconds, 0.);
	timer.data = &woke;
	ev_timer_start(m->loop, &timer);
	while (!woke && !monitor_stop_requested)
		ev_run(m->loop, EVRUN_ONCE);
	ev_timer_stop(m->loop, &timer);
}

/* Where to publish: gmond_config's channel, or gmond_host:gmond_port. */
static void
monitor_open_gmond(struct monitor *m)
{
	const struct herald_config *cfg = m->cfg;
	struct buf err = BUF_INIT;
	char host[256];
	long port = cfg->gmond_port;

	m->gmond.fd = -1;
	if (cfg->metrics_interval <= 0)
		return;
	if (cfg->gmond_config[0]) {
		if (gmetric_read_gmond_conf(cfg->gmond_config, host,
		    sizeof(host), &port, &err) != 0) {
			msg_error("monitor: %s; publishing no metrics",
			    buf_str(&err));
			buf_free(&err);
			return;
		}
	} else if (cfg->gmond_host[0]) {
		snprintf(host, sizeof(host), "%s", cfg->gmond_host);
	} else {
		return;
	}
	if (gmetric_open(&m->gmond, host, port, &err) != 0)
		msg_error("monitor: %s; publishing no metrics", buf_str(&err));
	else
		msg_info("monitor: publishing metrics to gmond %s every %ld s",
		    m->gmond.where, cfg->metrics_interval);
	buf_free(&err);
}

int
monitor_main(const struct herald_config *cfg, struct worker_slot *slot,
    unsigned slot_index, void *shared)
{
	struct worker_shared *sh = shared;
	struct monitor m;
	struct sigaction sa;
	int64_t postfix_due = 0, publish_due;

	(void)slot_index;
	/* "ps" and "pgrep -x heraldd" tell it from the workers. */
	prctl(PR_SET_NAME, "heraldd-monitor");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = monitor_on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	memset(&m, 0, sizeof(m));
	m.cfg = cfg;
	m.slot = slot;
	m.board = sh->board;
	m.master_pid = getppid();
	m.throttle = sh->throttle;
	node_name(cfg, m.node, sizeof(m.node));
	m.reputation = reputation_watch_new(cfg, &m.board->reputation);
	monitor_open_gmond(&m);
	if (sh->metrics_fd >= 0) {
		m.loop = ev_loop_new(EVFLAG_AUTO);
		if (m.loop == NULL)
			msg_error("monitor: cannot create an event loop; "
			    "serving no metrics on %s", cfg->metrics_listen);
		else
			m.http = metrics_http_start(m.loop, sh->metrics_fd,
			    EXPOSITION_CONTENT_TYPE, monitor_write_page, &m);
	}
	publish_due = scoreboard_now_ms();
	while (!monitor_should_stop(&m)) {
		int64_t now = scoreboard_now_ms();

		scoreboard_heartbeat(slot, WORKER_MONITOR);
		if (cfg->postfix_config_directory[0] && now >= postfix_due) {
			monitor_poll_postfix(&m);
			/* Never less often than the metrics. */
			postfix_due = now + 1000 * (cfg->metrics_interval > 0 &&
			    cfg->metrics_interval < MONITOR_POSTFIX_POLL ?
			    cfg->metrics_interval : MONITOR_POSTFIX_POLL);
		}
		monitor_sample_rates(&m);
		monitor_beat(&m);
		monitor_database_check(&m, &m.test_phase_due_ms,
		    TEST_PHASE_CHECK_INTERVAL, &m.test_phase_failing,
		    "checking the test phases", monitor_test_phases);
		monitor_database_check(&m, &m.pull_due_ms,
		    m.cfg->pull_check_interval, &m.pull_failing,
		    "checking mailings' expected value", monitor_pull);
		if (cfg->metrics_interval > 0 && now >= publish_due) {
			monitor_publish_all(&m);
			publish_due = now + cfg->metrics_interval * 1000;
		}
		monitor_wait(&m, 0.2);
	}
	metrics_http_stop(m.http);
	if (m.loop)
		ev_loop_destroy(m.loop);
	gmetric_close(&m.gmond);
	/* Told to stop (heraldd stops): stopped, not dead, with the totals
	 * of the workers' last sessions. A monitor whose master is gone
	 * leaves the node to fall silent. */
	if (m.db && m.node_registered && monitor_stop_requested) {
		struct buf err = BUF_INIT;

		monitor_wait_for_workers(&m);
		m.node_beat_due_ms = 0;
		monitor_beat(&m);
		if (m.db && node_stopped(m.db, m.node, m.master_pid, &err) != 0)
			msg_warn("monitor: cannot mark node %s stopped: %s",
			    m.node, buf_str(&err));
		buf_free(&err);
	}
	reputation_watch_free(m.reputation);
	if (m.db)
		mysql_close(m.db);
	free(m.mailings);
	free(m.fresh);
	return 0;
}
