/*
 * cmd_status.c - "herald status [--json] [--watch [SECONDS]]".
 *
 * What an operator watching a send wants on one screen: every mailing not
 * finished with a progress bar (sent of staged), the rate over the last
 * minute (or the seconds since the first delivery in it) and on average,
 * the ETA when something is sending it, deferred and failed counts; for
 * a mailing with a send window, when its next message is due and an ETA
 * no earlier than its last row's due time;
 * heraldd's workers from the shared-memory scoreboard (pid, state, batch,
 * last heartbeat); and whether each relay accepts connections. The database
 * part works with heraldd stopped, the scoreboard part with the database
 * down: each says so when its source is unavailable.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "cli.h"
#include "date.h"
#include "db.h"
#include "encode.h"
#include "feedback.h"
#include "history.h"
#include "log.h"
#include "mailing.h"
#include "node.h"
#include "scoreboard.h"

#define BAR_WIDTH 24

static void
cmd_status_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald status [--json] [--watch [SECONDS]]\n"
	    "\n"
	    "Mailings not finished (progress, rate over the last minute and\n"
	    "on average, ETA, deferred, failed), heraldd's workers (pid,\n"
	    "state, batch, heartbeat), its monitor and Postfix's queue, and\n"
	    "the relays (up or down; rate and totals while heraldd runs),\n"
	    "and each destination's route and reputation (herald route show),\n"
	    "and every heraldd node on the database (alive, dead when silent\n"
	    "longer than node_timeout, or stopped) with its workers, rate and\n"
	    "relays, and how many share the cluster-wide rate limits.\n"
	    "No ETA while a mailing is paused or blocked, or heraldd is not\n"
	    "running. A blocked mailing (its messages cannot be built) shows\n"
	    "why. A mailing with a send window (mailing create --window)\n"
	    "that has nothing due says it is waiting and when its next\n"
	    "message is due; its ETA is no earlier than its last row's due\n"
	    "time, and its average rate counts only the minutes it sent in.\n"
	    "--watch redraws every SECONDS (2) until interrupted; --json\n"
	    "prints one JSON document instead.\n");
}

struct mailing_status {
	char id[24], name[201], table[65], send_at[32];
	enum mailing_state state;
	char *blocked_reason;		/* NULL unless blocked */
	char *pulled_reason;		/* NULL unless pulled (brake.h, pull.h) */
	char *value_figures;		/* the value check's last figures
					 * (pull.h); NULL: none, or pulled */
	struct feedback_counts feedback;	/* bounces, complaints, ... */
	unsigned long long staged, sent, deferred, failed, pending;
	/* Sent in the last minute, and in its first second that had any
	 * (epoch seconds of the database's clock, as now). */
	unsigned long long last_minute, minute_first_count;
	double minute_first_at, now;
	double first_at, last_at;	/* epoch seconds of deliveries */
	/* Send windows: rows left that are due later, the first and the
	 * last due time among them (epoch seconds; date_now's clock), and
	 * the minutes that had deliveries (the average's span). */
	int windowed;
	unsigned long long not_due, sending_minutes;
	double next_due, last_due, clock;
};

struct status {
	struct mailing_status *m;
	unsigned count;
	int db_ok;
	struct buf db_error;
	/* Every heraldd on this database (node.h). */
	struct node_status *nodes;
	unsigned node_count;
	struct buf node_error;		/* empty when nodes were read */
};

static int
mailing_row(void *arg, unsigned ncolumns, char **col)
{
	struct status *s = arg;
	struct mailing_status *m;

	(void)ncolumns;
	s->m = xrealloc(s->m, (s->count + 1) * sizeof(*s->m));
	m = &s->m[s->count++];
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", col[0]);
	snprintf(m->name, sizeof(m->name), "%s", col[1]);
	if (mailing_state_parse(col[2], &m->state) != 0)
		m->state = MAILING_DRAFT;	/* the query names them all */
	snprintf(m->table, sizeof(m->table), "%s", col[3] ? col[3] : "");
	snprintf(m->send_at, sizeof(m->send_at), "%s", col[4]);
	m->staged = strtoull(col[5], NULL, 10);
	m->blocked_reason = col[6] ? xstrdup(col[6]) : NULL;
	m->pulled_reason = col[7] ? xstrdup(col[7]) : NULL;
	m->windowed = col[8] != NULL;
	m->value_figures = col[9] ? xstrdup(col[9]) : NULL;
	return 0;
}

static int
window_row(void *arg, unsigned ncolumns, char **col)
{
	struct mailing_status *m = arg;

	(void)ncolumns;
	m->not_due = col[0] ? strtoull(col[0], NULL, 10) : 0;
	m->next_due = col[1] ? atof(col[1]) : 0;
	m->last_due = col[2] ? atof(col[2]) : 0;
	m->sending_minutes = col[3] ? strtoull(col[3], NULL, 10) : 0;
	return 0;
}

static int
counts_row(void *arg, unsigned ncolumns, char **col)
{
	struct mailing_status *m = arg;

	(void)ncolumns;
	m->sent = col[0] ? strtoull(col[0], NULL, 10) : 0;
	m->deferred = col[1] ? strtoull(col[1], NULL, 10) : 0;
	m->failed = col[2] ? strtoull(col[2], NULL, 10) : 0;
	m->pending = col[3] ? strtoull(col[3], NULL, 10) : 0;
	m->first_at = col[4] ? atof(col[4]) : 0;
	m->last_at = col[5] ? atof(col[5]) : 0;
	m->now = col[6] ? atof(col[6]) : 0;
	return 0;
}

/* One second of the last minute's deliveries, oldest first. */
static int
minute_row(void *arg, unsigned ncolumns, char **col)
{
	struct mailing_status *m = arg;
	unsigned long long count = strtoull(col[1], NULL, 10);

	(void)ncolumns;
	if (m->last_minute == 0) {
		m->minute_first_at = atof(col[0]);
		m->minute_first_count = count;
	}
	m->last_minute += count;
	return 0;
}

/*
 * A windowed mailing's schedule: pending and deferred rows carry their
 * due time (next_attempt_at, stage.c), compared with date_now(), the
 * clock the stager and the workers use.
 */
static void
status_read_window(MYSQL *db, struct mailing_status *m, struct buf *err)
{
	struct buf sql = BUF_INIT;
	char now[32];
	time_t clock = date_now();

	m->clock = (double)clock;
	date_format_utc(clock, now);
	buf_printf(&sql, "SELECT SUM(next_attempt_at > ?), "
	    "UNIX_TIMESTAMP(MIN(IF(next_attempt_at > ?, next_attempt_at, "
	    "NULL))), UNIX_TIMESTAMP(MAX(next_attempt_at)), (SELECT "
	    "COUNT(DISTINCT FLOOR(UNIX_TIMESTAMP(delivered_at) / 60)) FROM "
	    "`%s` WHERE mailing_id = ? AND delivery_state = 'sent') FROM `%s` "
	    "WHERE mailing_id = ? AND delivery_state IN ('pending', "
	    "'deferred')", m->table, m->table);
	db_query_strings(db, buf_str(&sql), 4, (const char *[]){ now, now,
	    m->id, m->id }, window_row, m, err);
	buf_free(&sql);
}

/* Nothing due now, and the next row not due within a minute. */
static int
waiting_for_window(const struct mailing_status *m)
{
	return m->windowed && m->not_due > 0 && m->not_due == m->pending +
	    m->deferred && m->next_due - m->clock > 60;
}

static void
status_read_db(const struct herald_config *cfg, struct status *s)
{
	MYSQL *db = db_connect(cfg, DB_SELECT_DATABASE, &s->db_error);
	const char *unfinished[8] = { mailing_state_name(MAILING_DRAFT),
	    mailing_state_name(MAILING_QUEUED),
	    mailing_state_name(MAILING_STAGING),
	    mailing_state_name(MAILING_READY),
	    mailing_state_name(MAILING_SENDING),
	    mailing_state_name(MAILING_BLOCKED),
	    mailing_state_name(MAILING_PAUSED),
	    mailing_state_name(MAILING_PULLED) };

	if (db == NULL)
		return;
	if (db_query_strings(db, "SELECT id, name, state, stage_table, "
	    "send_at, staged_count, blocked_reason, pulled_reason, "
	    "window_start, IF(state = 'pulled', NULL, pull_figures) FROM "
	    "mailings WHERE state IN (?, ?, ?, ?, ?, ?, ?, ?) ORDER BY id", 8,
	    unfinished,
	    mailing_row, s, &s->db_error) != 0) {
		mysql_close(db);
		return;
	}
	for (unsigned i = 0; i < s->count; i++) {
		struct mailing_status *m = &s->m[i];
		struct buf sql = BUF_INIT;

		if (!history_is_stage_table(m->table))
			continue;
		feedback_counts_read(db, strtoull(m->id, NULL, 10),
		    &m->feedback, &s->db_error);
		/* The stage table is the truth per recipient. */
		buf_printf(&sql, "SELECT SUM(delivery_state = 'sent'), "
		    "SUM(delivery_state = 'deferred'), SUM(delivery_state = "
		    "'failed'), SUM(delivery_state = 'pending'), "
		    "UNIX_TIMESTAMP(MIN(delivered_at)), "
		    "UNIX_TIMESTAMP(MAX(delivered_at)), "
		    "UNIX_TIMESTAMP(UTC_TIMESTAMP()) FROM `%s` WHERE "
		    "mailing_id = ?", m->table);
		db_query_strings(db, buf_str(&sql), 1, (const char *[]){ m->id },
		    counts_row, m, &s->db_error);
		buf_reset(&sql);
		buf_printf(&sql, "SELECT UNIX_TIMESTAMP(delivered_at), COUNT(*) "
		    "FROM `%s` WHERE mailing_id = ? AND delivery_state = "
		    "'sent' AND delivered_at >= UTC_TIMESTAMP() - INTERVAL 60 "
		    "SECOND GROUP BY delivered_at ORDER BY delivered_at",
		    m->table);
		db_query_strings(db, buf_str(&sql), 1, (const char *[]){ m->id },
		    minute_row, m, &s->db_error);
		if (m->windowed)
			status_read_window(db, m, &s->db_error);
		buf_free(&sql);
	}
	s->db_ok = s->db_error.len == 0;
	if (node_list(db, cfg->node_timeout, &s->nodes, &s->node_count,
	    &s->node_error) != 0) {
		s->nodes = NULL;
		s->node_count = 0;
	}
	mysql_close(db);
}

static double
average_rate(const struct mailing_status *m)
{
	double span = m->last_at - m->first_at;

	/* Closed windows are no part of a windowed mailing's pace. */
	if (m->windowed && m->sending_minutes > 0 &&
	    (double)m->sending_minutes * 60 < span)
		span = (double)m->sending_minutes * 60;
	return span >= 1 ? (double)m->sent / span : 0;
}

/*
 * The rate over the last minute, or over the seconds since the first
 * delivery in it when sending started (or resumed) less than a minute
 * ago: dividing by a whole minute would show a fraction of the real rate
 * and an ETA many times too long. Workers record a session's results
 * together, so the messages of the first second with any were sent
 * before it: they are left out, the rate counting what went out since.
 */
static double
current_rate(const struct mailing_status *m)
{
	double span = m->now - m->minute_first_at;

	if (m->last_minute == 0 || span < 1)
		return 0;
	if (span > 60)
		span = 60;
	return (double)(m->last_minute - m->minute_first_count) / span;
}

/*
 * Seconds to send what is left at the current rate; -1 when there is no
 * telling: nothing is sending it (paused, blocked, heraldd not running)
 * or nothing went out in the last minute.
 */
static long
eta_seconds(const struct mailing_status *m, int daemon_running)
{
	double rate = current_rate(m);
	unsigned long long left = m->pending + m->deferred;
	long due_now, until_last;

	if (left == 0)
		return 0;
	if (!daemon_running || m->state == MAILING_PAUSED ||
	    m->state == MAILING_BLOCKED || m->state == MAILING_PULLED)
		return -1;
	if (!m->windowed)
		return rate > 0 ? (long)((double)left / rate) : -1;
	/* A windowed mailing ends no earlier than its last row is due;
	 * what is due already goes at the current rate. */
	until_last = m->last_due > m->clock ? (long)(m->last_due -
	    m->clock) : 0;
	if (left == m->not_due)
		return until_last;
	if (rate <= 0)
		return -1;
	due_now = (long)((double)(left - m->not_due) / rate);
	return due_now > until_last ? due_now : until_last;
}

/* The feedback counts and their rates per delivered message. */
static void
status_feedback_json(const struct feedback_counts *f)
{
	printf(", \"feedback\": {\"delivered\": %llu, \"hard_bounces\": "
	    "%llu, \"soft_bounces\": %llu, \"complaints\": %llu, "
	    "\"unsubscribes\": %llu, \"hard_bounce_rate\": %.4f, "
	    "\"soft_bounce_rate\": %.4f, \"complaint_rate\": %.4f, "
	    "\"unsubscribe_rate\": %.4f}", f->delivered, f->hard_bounces,
	    f->soft_bounces, f->complaints, f->unsubscribes,
	    feedback_rate(f->hard_bounces, f->delivered),
	    feedback_rate(f->soft_bounces, f->delivered),
	    feedback_rate(f->complaints, f->delivered),
	    feedback_rate(f->unsubscribes, f->delivered));
}

static void
status_feedback_text(const struct feedback_counts *f)
{
	if (f->delivered == 0 && f->hard_bounces + f->soft_bounces +
	    f->complaints + f->unsubscribes == 0)
		return;
	printf("        bounces %llu hard (%.2f%%) %llu soft (%.2f%%)  "
	    "complaints %llu (%.3f%%)  unsubscribes %llu (%.2f%%)\n",
	    f->hard_bounces, feedback_rate(f->hard_bounces, f->delivered),
	    f->soft_bounces, feedback_rate(f->soft_bounces, f->delivered),
	    f->complaints, feedback_rate(f->complaints, f->delivered),
	    f->unsubscribes, feedback_rate(f->unsubscribes, f->delivered));
}

static void
print_bar(double fraction)
{
	int full = (int)(fraction * BAR_WIDTH + 0.5);

	putchar('[');
	for (int i = 0; i < BAR_WIDTH; i++)
		putchar(i < full ? '#' : '-');
	putchar(']');
}

/* Whether host:port accepts a TCP connection within timeout_ms. */
static int
relay_up(const char *host, long port, int timeout_ms, double *ms)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	char service[16];
	struct timespec t0, t1;
	int up = 0;

	snprintf(service, sizeof(service), "%ld", port);
	if (getaddrinfo(host, service, &hints, &res) != 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (struct addrinfo *a = res; a && !up; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK,
		    a->ai_protocol);
		struct pollfd p;

		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			up = 1;
		} else if (errno == EINPROGRESS) {
			int error = 0;
			socklen_t length = sizeof(error);

			p.fd = fd;
			p.events = POLLOUT;
			if (poll(&p, 1, timeout_ms) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error,
			    &length) == 0 && error == 0)
				up = 1;
		}
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	freeaddrinfo(res);
	return up;
}

/* Prints s as a JSON string literal. */
static void
json_text(const char *s)
{
	struct buf b = BUF_INIT;

	encode_json_string(&b, s, strlen(s));
	fputs(buf_str(&b), stdout);
	buf_free(&b);
}


/* The monitor process and the Postfix queue it last read. */
static const struct worker_slot *
status_monitor_slot(const struct scoreboard *board)
{
	for (unsigned i = 0; i < board->slot_count; i++)
		if (board->slots[i].state == WORKER_MONITOR)
			return &board->slots[i];
	return NULL;
}

static void
status_monitor_text(const struct scoreboard *board, int64_t now_ms)
{
	const struct worker_slot *mon = status_monitor_slot(board);
	int64_t checked = board->postfix_checked_ms;

	if (mon == NULL)
		return;
	printf("  monitor pid %d", (int)mon->pid);
	if (checked > 0)
		printf("; Postfix queue: %lld waiting, %lld active, %lld "
		    "deferred (%.0f s ago)", (long long)board->postfix_waiting,
		    (long long)board->postfix_active,
		    (long long)board->postfix_deferred,
		    (double)(now_ms - checked) / 1000);
	else
		printf("; Postfix queue not read");
	printf("\n");
}

static void
status_monitor_json(const struct scoreboard *board, int64_t now_ms)
{
	const struct worker_slot *mon = status_monitor_slot(board);
	int64_t checked = board->postfix_checked_ms;

	if (mon == NULL) {
		printf("null");
		return;
	}
	printf("{\"pid\": %d, \"postfix\": ", (int)mon->pid);
	if (checked > 0)
		printf("{\"waiting\": %lld, \"active\": %lld, \"deferred\": "
		    "%lld, \"age_ms\": %lld}", (long long)board->postfix_waiting,
		    (long long)board->postfix_active,
		    (long long)board->postfix_deferred,
		    (long long)(now_ms - checked));
	else
		printf("null");
	printf("}");
}

/* What each relay did for heraldd's workers since it started. */
static void
status_relay_totals_text(const struct scoreboard *board, int64_t now_ms)
{
	for (unsigned i = 0; i < SCOREBOARD_RELAYS; i++) {
		const struct relay_counters *r = &board->relays[i];

		if (r->state != 2)
			continue;
		printf("  %-21s workers: %s, %.0f/s, sent %llu, deferred %llu, "
		    "failed %llu\n", r->name, r->down_until_ms > now_ms ?
		    "DOWN" : "up", r->sent_per_100s / 100.0,
		    (unsigned long long)r->sent,
		    (unsigned long long)r->deferred,
		    (unsigned long long)r->failed);
	}
}

static void
status_relay_totals_json(const struct scoreboard *board, int64_t now_ms)
{
	printf(", \"relay_totals\": [");
	for (unsigned i = 0, n = 0; i < SCOREBOARD_RELAYS; i++) {
		const struct relay_counters *r = &board->relays[i];

		if (r->state != 2)
			continue;
		printf("%s{\"name\": ", n++ ? ", " : "");
		json_text(r->name);
		printf(", \"up\": %s, \"rate_per_second\": %.2f, \"sent\": "
		    "%llu, \"deferred\": %llu, \"failed\": %llu}",
		    r->down_until_ms > now_ms ? "false" : "true",
		    r->sent_per_100s / 100.0, (unsigned long long)r->sent,
		    (unsigned long long)r->deferred,
		    (unsigned long long)r->failed);
	}
	printf("]");
}

/* The live nodes, which share every rate limit (throttle.h). */
static unsigned
status_nodes_alive(const struct status *s)
{
	unsigned alive = 0;

	for (unsigned i = 0; i < s->node_count; i++)
		alive += s->nodes[i].state == NODE_ALIVE;
	return alive;
}

/* Every node on the database, alive, dead or stopped, with its relays. */
static void
status_nodes_text(const struct herald_config *cfg, const struct status *s)
{
	printf("NODES (dead after %ld s without a heartbeat)\n",
	    cfg->node_timeout);
	if (s->node_error.len == 0 && status_nodes_alive(s) > 0)
		printf("  %u alive: each takes 1/%u of the rate limits "
		    "(rate_limit, domain_rate_limit, a mailing's --rate)\n",
		    status_nodes_alive(s), status_nodes_alive(s));
	if (s->node_error.len)
		printf("  not known: %s\n", buf_str(&s->node_error));
	else if (s->node_count == 0)
		printf("  none registered (heraldd registers its node when it "
		    "starts)\n");
	for (unsigned i = 0; i < s->node_count; i++) {
		const struct node_status *n = &s->nodes[i];

		printf("  %-16s %-7s host %s, pid %ld, herald %s, started %s "
		    "UTC, ", n->name, n->state == NODE_ALIVE ? "alive" :
		    n->state == NODE_DEAD ? "DEAD" : "stopped", n->host, n->pid,
		    n->version, n->started_at);
		printf("%s %.0f s ago\n", n->state == NODE_STOPPED ? "stopped" :
		    n->state == NODE_DEAD ? "silent since" : "heartbeat",
		    n->silent_seconds);
		printf("  %-16s workers %u (%u sending), %.0f/s, sent %llu, "
		    "deferred %llu, failed %llu\n", "", n->workers,
		    n->workers_sending, n->sent_per_second,
		    (unsigned long long)n->sent,
		    (unsigned long long)n->deferred,
		    (unsigned long long)n->failed);
		for (unsigned r = 0; r < n->relay_count; r++)
			printf("  %-16s relay %s %s, %.0f/s, sent %llu, deferred "
			    "%llu, failed %llu\n", "", n->relays[r].name,
			    n->relays[r].up ? "up" : "DOWN",
			    n->relays[r].sent_per_second,
			    (unsigned long long)n->relays[r].sent,
			    (unsigned long long)n->relays[r].deferred,
			    (unsigned long long)n->relays[r].failed);
	}
}

static void
status_nodes_json(const struct status *s)
{
	printf(", \"nodes\": ");
	if (s->node_error.len) {
		printf("null, \"nodes_error\": ");
		json_text(buf_str(&s->node_error));
		return;
	}
	printf("[");
	for (unsigned i = 0; i < s->node_count; i++) {
		const struct node_status *n = &s->nodes[i];

		printf("%s{\"name\": ", i ? ", " : "");
		json_text(n->name);
		printf(", \"host\": ");
		json_text(n->host);
		printf(", \"pid\": %ld, \"version\": ", n->pid);
		json_text(n->version);
		printf(", \"started_at\": \"%s\", \"state\": \"%s\", "
		    "\"heartbeat_age_seconds\": %.1f, \"workers\": %u, "
		    "\"workers_sending\": %u, \"rate_per_second\": %.2f, "
		    "\"sent\": %llu, \"deferred\": %llu, \"failed\": %llu, "
		    "\"relays\": [", n->started_at, node_state_name(n->state),
		    n->silent_seconds, n->workers, n->workers_sending,
		    n->sent_per_second, (unsigned long long)n->sent,
		    (unsigned long long)n->deferred,
		    (unsigned long long)n->failed);
		for (unsigned r = 0; r < n->relay_count; r++) {
			printf("%s{\"name\": ", r ? ", " : "");
			json_text(n->relays[r].name);
			printf(", \"up\": %s, \"rate_per_second\": %.2f, "
			    "\"sent\": %llu, \"deferred\": %llu, \"failed\": "
			    "%llu}", n->relays[r].up ? "true" : "false",
			    n->relays[r].sent_per_second,
			    (unsigned long long)n->relays[r].sent,
			    (unsigned long long)n->relays[r].deferred,
			    (unsigned long long)n->relays[r].failed);
		}
		printf("]}");
	}
	printf("], \"limit_sharing_nodes\": %u", status_nodes_alive(s));
}

static void
status_print(const struct herald_config *cfg, const struct status *s,
    const struct scoreboard *board, const char *board_error, int json)
{
	int64_t now_ms = scoreboard_now_ms();
	const char *hosts[2] = { cfg->relay_host, cfg->relay_backup_host };
	long ports[2] = { cfg->relay_port, cfg->relay_backup_port };
	int running = board && board->master_pid > 0 &&
	    kill(board->master_pid, 0) == 0;

	if (json) {
		printf("{\"database\": {\"reachable\": %s", s->db_ok ? "true" :
		    "false");
		if (!s->db_ok) {
			printf(", \"error\": ");
			json_text(buf_str(&s->db_error));
		}
		printf("}, \"mailings\": [");
		for (unsigned i = 0; i < s->count; i++) {
			const struct mailing_status *m = &s->m[i];

			printf("%s{\"id\": %s, \"name\": ", i ? ", " : "", m->id);
			json_text(m->name);
			printf(", \"state\": \"%s\", \"send_at\": \"%s\", "
			    "\"staged\": %llu, \"sent\": %llu, \"pending\": %llu, "
			    "\"deferred\": %llu, \"failed\": %llu, "
			    "\"rate_per_second\": %.1f, \"average_per_second\": "
			    "%.1f, \"eta_seconds\": ",
			    mailing_state_name(m->state), m->send_at,
			    m->staged, m->sent, m->pending, m->deferred,
			    m->failed, current_rate(m), average_rate(m));
			if (eta_seconds(m, running) >= 0)
				printf("%ld", eta_seconds(m, running));
			else
				printf("null");
			printf(", \"waiting_for_window\": %s, \"next_due_at\": ",
			    waiting_for_window(m) ? "true" : "false");
			if (m->windowed && m->next_due > 0) {
				char next[32];

				date_format_utc((time_t)m->next_due, next);
				printf("\"%s\"", next);
			} else {
				printf("null");
			}
			printf(", \"blocked_reason\": ");
			if (m->blocked_reason)
				json_text(m->blocked_reason);
			else
				printf("null");
			printf(", \"pulled_reason\": ");
			if (m->pulled_reason)
				json_text(m->pulled_reason);
			else
				printf("null");
			printf(", \"value_check\": ");
			if (m->value_figures)
				json_text(m->value_figures);
			else
				printf("null");
			status_feedback_json(&m->feedback);
			printf("}");
		}
		printf("], \"daemon\": {\"running\": %s", running ? "true" :
		    "false");
		if (running) {
			printf(", \"pid\": %d, \"workers\": [",
			    (int)board->master_pid);
			for (unsigned i = 0, n = 0; i < board->slot_count; i++) {
				const struct worker_slot *w = &board->slots[i];

				if (w->state == WORKER_EMPTY ||
				    w->state == WORKER_MONITOR)
					continue;
				printf("%s{\"slot\": %u, \"pid\": %d, \"state\": "
				    "\"%s\", \"mailing\": %llu, \"batch\": %llu, "
				    "\"heartbeat_age_ms\": %lld, \"sent\": %llu, "
				    "\"deferred\": %llu, \"failed\": %llu}",
				    n++ ? ", " : "", i, (int)w->pid,
				    worker_state_name((enum worker_state)
				    w->state), (unsigned long long)w->mailing_id,
				    (unsigned long long)w->batch_id,
				    (long long)(now_ms - w->heartbeat_ms),
				    (unsigned long long)w->sent,
				    (unsigned long long)w->deferred,
				    (unsigned long long)w->failed);
			}
			printf("], \"monitor\": ");
			status_monitor_json(board, now_ms);
		}
		printf("}, \"relays\": [");
		for (int r = 0; r < 2; r++) {
			double ms = 0;
			int up;

			if (!hosts[r][0])
				continue;
			up = relay_up(hosts[r], ports[r], 1000, &ms);
			printf("%s{\"host\": ", r ? ", " : "");
			json_text(hosts[r]);
			printf(", \"port\": %ld, \"up\": %s}", ports[r],
			    up ? "true" : "false");
		}
		printf("]");
		if (running) {
			status_relay_totals_json(board, now_ms);
			printf(", \"destinations\": ");
			route_print_destinations(cfg, board, 1);
		}
		if (s->db_ok)
			status_nodes_json(s);
		printf("}\n");
		return;
	}
	printf("MAILINGS\n");
	if (!s->db_ok)
		printf("  database unreachable: %s\n", buf_str(&s->db_error));
	else if (s->count == 0)
		printf("  none in progress\n");
	for (unsigned i = 0; i < s->count; i++) {
		const struct mailing_status *m = &s->m[i];
		double done = m->staged ? (double)m->sent / (double)m->staged :
		    0;
		long eta = eta_seconds(m, running);

		printf("  %-5s %-24.24s %-9s ", m->id, m->name,
		    mailing_state_name(m->state));
		if (m->table[0] == '\0') {
			printf("send at %s UTC\n", m->send_at);
			continue;
		}
		print_bar(done);
		printf(" %5.1f%%  %llu/%llu  %.0f/s now, %.0f/s avg", done * 100,
		    m->sent, m->staged, current_rate(m), average_rate(m));
		if (eta >= 0)
			printf("  ETA %ld:%02ld:%02ld", eta / 3600, eta / 60 % 60,
			    eta % 60);
		else
			printf("  ETA -");
		printf("  deferred %llu  failed %llu\n", m->deferred, m->failed);
		if (m->blocked_reason)
			printf("        blocked: %s\n", m->blocked_reason);
		if (m->pulled_reason)
			printf("        pulled: %s\n", m->pulled_reason);
		if (m->value_figures)
			printf("        %s\n", m->value_figures);
		status_feedback_text(&m->feedback);
		if (waiting_for_window(m)) {
			char next[32];
			long in = (long)(m->next_due - m->clock);

			date_format_utc((time_t)m->next_due, next);
			printf("        waiting for its send window: next message "
			    "due %s UTC (in %ld:%02ld:%02ld)\n", next, in / 3600,
			    in / 60 % 60, in % 60);
		}
	}
	if (running) {
		printf("WORKERS (heraldd pid %d, up %llds)\n",
		    (int)board->master_pid, (long long)(now_ms -
		    board->master_started_ms) / 1000);
		printf("  %-4s %-8s %-9s %-8s %-8s %-10s %8s %8s %8s\n", "SLOT",
		    "PID", "STATE", "MAILING", "BATCH", "HEARTBEAT", "SENT",
		    "DEFERRED", "FAILED");
		for (unsigned i = 0; i < board->slot_count; i++) {
			const struct worker_slot *w = &board->slots[i];

			if (w->state == WORKER_EMPTY ||
			    w->state == WORKER_MONITOR)
				continue;
			printf("  %-4u %-8d %-9s %-8llu %-8llu %7.1fs ago %8llu "
			    "%8llu %8llu\n", i, (int)w->pid, worker_state_name(
			    (enum worker_state)w->state),
			    (unsigned long long)w->mailing_id,
			    (unsigned long long)w->batch_id,
			    (double)(now_ms - w->heartbeat_ms) / 1000,
			    (unsigned long long)w->sent,
			    (unsigned long long)w->deferred,
			    (unsigned long long)w->failed);
		}
		status_monitor_text(board, now_ms);
	} else {
		printf("WORKERS\n  heraldd is not running%s%s\n", board_error ?
		    ": " : "", board_error ? board_error : "");
	}
	printf("RELAYS\n");
	for (int r = 0; r < 2; r++) {
		double ms = 0;

		if (!hosts[r][0])
			continue;
		if (relay_up(hosts[r], ports[r], 1000, &ms))
			printf("  %s:%ld  up (connect %.1f ms)%s\n", hosts[r],
			    ports[r], ms, r ? "  backup" : "");
		else
			printf("  %s:%ld  DOWN (no connection within 1 s)%s\n",
			    hosts[r], ports[r], r ? "  backup" : "");
	}
	if (running) {
		status_relay_totals_text(board, now_ms);
		route_print_destinations(cfg, board, 0);
	}
	if (s->db_ok)
		status_nodes_text(cfg, s);
}

static volatile sig_atomic_t status_interrupted;

static void
status_on_signal(int sig)
{
	(void)sig;
	status_interrupted = 1;
}

int
cmd_status(struct cli *cli, int argc, char **argv)
{
	struct herald_config *cfg;
	int json = 0, watch = 0;
	long interval = 2;

	if (cli_wants_help(argc, argv)) {
		cmd_status_usage(stdout);
		return CLI_OK;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--watch")) {
			watch = 1;
			if (i + 1 < argc && atol(argv[i + 1]) > 0)
				interval = atol(argv[++i]);
		} else {
			return cli_unexpected(cmd_status_usage, "status",
			    argv[i]);
		}
	}
	cfg = cli_config(cli);
	if (cfg == NULL)
		return CLI_FAILED;
	signal(SIGINT, status_on_signal);
	signal(SIGTERM, status_on_signal);
	do {
		struct status s = { .db_error = BUF_INIT,
		    .node_error = BUF_INIT };
		struct buf board_error = BUF_INIT;
		char *path = scoreboard_path(cfg->state_directory);
		const struct scoreboard *board = scoreboard_open_readonly(path,
		    &board_error);

		status_read_db(cfg, &s);
		if (watch && !json)
			printf("\033[H\033[2J");	/* like top: redraw */
		status_print(cfg, &s, board, board ? NULL :
		    buf_str(&board_error), json);
		fflush(stdout);
		if (board)
			scoreboard_unmap(board);
		free(path);
		for (unsigned i = 0; i < s.count; i++) {
			free(s.m[i].blocked_reason);
			free(s.m[i].pulled_reason);
			free(s.m[i].value_figures);
		}
		free(s.m);
		node_list_free(s.nodes, s.node_count);
		buf_free(&s.db_error);
		buf_free(&s.node_error);
		buf_free(&board_error);
		for (long t = 0; watch && t < interval * 10 &&
		    !status_interrupted; t++)
			usleep(100000);
	} while (watch && !status_interrupted);
	return CLI_OK;
}
