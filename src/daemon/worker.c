/*
 * worker.c - the body of a heraldd worker (see worker.h).
 *
 * Durability order, which bounds duplicates after any crash: a session's
 * messages are relayed, then their outcomes are written to the stage
 * table, then the batch checkpoint moves. A crash after the relay run
 * and before the write can re-send at most one session's messages
 * (relay_session_size), each with the same Message-ID; rows already
 * recorded are never read again.
 */
#include "worker.h"
#include "batch.h"
#include "cluster_settings.h"
#include "compose.h"
#include "date.h"
#include "db.h"
#include "delivery.h"
#include "keyring.h"
#include "log.h"
#include "links.h"
#include "mailing.h"
#include "master.h"
#include "node.h"
#include "relaypool.h"
#include "reputation.h"
#include "windowgate.h"

#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Seconds between two claims when there is nothing to do. */
#define WORKER_IDLE_POLL_MS 1000
/* Longest wait between two attempts to reach the database. */
#define WORKER_DB_RETRY_LIMIT_MS 30000
/* Attempts at writing results when the server answers but refuses. */
#define WORKER_RECORD_ATTEMPTS 20
/* Rows of a domain the operator holds wait this long between looks. */
#define WORKER_HELD_RETRY_S 60

static volatile sig_atomic_t worker_stop_requested;

struct worker {
	const struct herald_config *cfg;
	struct worker_slot *slot;
	struct scoreboard *board;
	struct throttle_table *throttle;
	pid_t master_pid;
	MYSQL *db;
	char node[256];
	struct batch_owner owner;
	struct relaypool relays;
	struct ev_loop *loop;		/* the relay connections run on it */
	struct composer *composer;	/* for the current mailing */
	struct keyring *keyring;	/* the token keys it signs with */
	struct delivery_rows rows;
	unsigned session_size;
	struct buf *messages;		/* session_size reused buffers */
	struct buf *reasons;		/* why a message could not be made */
	struct buf sender;
	struct delivery_result *results;	/* session_size of them */
	long *result_rows;		/* the row index of each result */
	unsigned *result_routes;	/* the route each took (reputation.h) */
	long probe_result;		/* the result that is a probe, or -1 */
	unsigned held_rows;		/* left for an operator hold */
	struct buf handled;		/* a byte per row of the batch: its
					 * result was recorded */
	long paced_row;			/* row whose slot is reserved, or -1 */
	int64_t paced_until_us;		/* ... and when it may go */
	int reload;			/* a template file changed */
	int holding;			/* Postfix's queue is too long */
	int64_t relays_down_ms;		/* every relay down: wait this */
	time_t window_closes;		/* stop the batch here (date_now),
					 * 0: no send window limits it */
};

static void
worker_on_term(int sig)
{
	(void)sig;
	worker_stop_requested = 1;
}

static int
worker_should_stop(const struct worker *w)
{
	return worker_stop_requested || w->reload ||
	    getppid() != w->master_pid;
}

/* Every relay reply is progress: a long session keeps the heartbeat. */
static void
worker_relay_progress(void *arg)
{
	struct worker *w = arg;

	scoreboard_heartbeat(w->slot, WORKER_SENDING);
}

/* Sleeps up to ms, heartbeating, waking early when asked to stop. */
static void
worker_sleep(struct worker *w, int64_t ms, enum worker_state state)
{
	while (ms > 0 && !worker_should_stop(w)) {
		int64_t step = ms < 200 ? ms : 200;
		struct timespec ts = { 0, (long)step * 1000000L };

		scoreboard_heartbeat(w->slot, state);
		nanosleep(&ts, NULL);
		ms -= step;
	}
	scoreboard_heartbeat(w->slot, state);
}

/*
 * (Re)connects to the database with a doubling delay; 0 once connected.
 * Gives up when asked to stop, unless persist is set: then only the
 * master's death ends the wait (results held in memory must be written).
 */
static int
worker_connect(struct worker *w, int persist)
{
	int64_t delay = 1000;
	struct buf err = BUF_INIT;

	while (w->db == NULL && (persist ? getppid() == w->master_pid :
	    !worker_should_stop(w))) {
		buf_reset(&err);
		w->db = db_connect(w->cfg, DB_SELECT_DATABASE |
		    DB_FOUND_ROWS | DB_AS_DAEMON | DB_KEEP_STATEMENTS, &err);
		if (w->db)
			break;
		msg_warn("worker %ld: %s; retrying in %.0f s", (long)getpid(),
		    buf_str(&err), delay / 1000.0);
		if (persist) {
			struct timespec ts = { delay / 1000, 0 };

			scoreboard_heartbeat(w->slot, WORKER_SENDING);
			nanosleep(&ts, NULL);
		} else {
			worker_sleep(w, delay, WORKER_IDLE);
		}
		delay = delay * 2 < WORKER_DB_RETRY_LIMIT_MS ? delay * 2 :
		    WORKER_DB_RETRY_LIMIT_MS;
	}
	buf_free(&err);
	return w->db ? 0 : -1;
}

/* Drops a connection that failed; the next step reconnects. */
static void
worker_database_failed(struct worker *w, const char *doing,
    const struct buf *err)
{
	msg_warn("worker %ld: %s failed: %s; reconnecting", (long)getpid(),
	    doing, buf_str(err));
	db_close(w->db);
	w->db = NULL;
}

static const char *
worker_domain_of(const char *email)
{
	const char *at = strrchr(email, '@');

	return at ? at + 1 : "";
}

/*
 * This node's part of a cluster-wide limit (throttle.h), waiting while
 * the monitor does not know how many nodes share it; 0 = no limit.
 */
static double
worker_share(struct worker *w, double per_hour)
{
	double share;

	while ((share = throttle_share(w->throttle, per_hour,
	    throttle_now_us())) < 0) {
		/* A worker told to stop finishes the message in hand at the
		 * whole rate rather than hold the session open. */
		if (worker_should_stop(w))
			return per_hour;
		worker_sleep(w, 200, WORKER_SENDING);
	}
	return share;
}

/*
 * Waits until the shared rate limits let this message go: the node's,
 * the mailing's and its destination domain's, each cluster-wide (this
 * node takes its share), and a held destination's pace, this node's
 * own. Returns the wait in ms that was needed (0 when none).
 */
static int64_t
worker_pace(struct worker *w, const char *email)
{
	char key[300];
	const char *domain = worker_domain_of(email);
	const char *domain_rate;
	double held_rate, node_rate, mailing_rate, to_domain_rate = 0;
	int64_t now, at, t;

	domain_rate = config_list_lookup(w->cfg->domain_rate_limit, domain);
	if (domain_rate)
		to_domain_rate = worker_share(w,
		    (double)config_parse_rate(domain_rate));
	node_rate = worker_share(w, (double)w->cfg->rate_limit);
	mailing_rate = worker_share(w, composer_rate_limit(w->composer));
	now = throttle_now_us();
	at = now;
	if (node_rate > 0)
		at = throttle_reserve(w->throttle, "node", node_rate, now);
	if (mailing_rate > 0) {
		snprintf(key, sizeof(key), "mailing:%llu", (unsigned long long)
		    composer_mailing_id(w->composer));
		t = throttle_reserve(w->throttle, key, mailing_rate, now);
		at = t > at ? t : at;
	}
	if (to_domain_rate > 0) {
		snprintf(key, sizeof(key), "domain:%s", domain);
		t = throttle_reserve(w->throttle, key, to_domain_rate, now);
		at = t > at ? t : at;
	}
	/* A destination held for its reputation goes at its held pace. */
	held_rate = reputation_held_rate(&w->board->reputation, domain);
	if (held_rate > 0) {
		snprintf(key, sizeof(key), "held:%s", domain);
		t = throttle_reserve(w->throttle, key, held_rate, now);
		at = t > at ? t : at;
	}
	return (at - now) / 1000;
}

static enum delivery_outcome
worker_outcome_of(enum relay_outcome outcome)
{
	switch (outcome) {
	case RELAY_SENT:
		return DELIVERY_SENT;
	case RELAY_DEFERRED:
		return DELIVERY_DEFERRED;
	case RELAY_FAILED:
		return DELIVERY_FAILED;
	case RELAY_UNKNOWN:
		return DELIVERY_POSSIBLY_SENT;
	case RELAY_NOT_ATTEMPTED:
		break;
	}
	return DELIVERY_NOT_ATTEMPTED;
}

/* Tells the reputation table (reputation.h) how the relay answered a
 * message: what its route carried, and the probe's fate. */
static void
worker_note_reputation(struct worker *w, const struct relay_result *result)
{
	struct reputation_table *table = &w->board->reputation;
	const char *domain = worker_domain_of(w->rows.rows[
	    w->result_rows[result->cookie]].fields[FIELD_EMAIL]);
	unsigned route = w->result_routes[result->cookie];
	int probe = (long)result->cookie == w->probe_result;

	switch (result->outcome) {
	case RELAY_SENT:
		reputation_note_relayed(table, domain, route,
		    result->queue_id);
		if (probe)
			reputation_probe_sent(table, domain, result->queue_id);
		return;
	case RELAY_DEFERRED:
	case RELAY_FAILED:
		reputation_note_refused(table, domain, route, result->reply,
		    result->outcome == RELAY_FAILED);
		break;
	case RELAY_UNKNOWN:
	case RELAY_NOT_ATTEMPTED:
		break;
	}
	if (probe)
		reputation_probe_lost(table, domain);
}

/* Relays the session and copies each message's outcome to its result. */
static void
worker_run_session(struct worker *w, struct relaypool_entry *relay)
{
	struct relay_session_result summary;
	const struct relay_result *results;
	struct relay_counters *counters;
	uint64_t sent = 0, deferred = 0, failed = 0;
	unsigned n;

	relay_session_run(relay->session, &summary);
	relaypool_report(&w->relays, relay, &summary, scoreboard_now_ms());
	results = relay_session_results(relay->session, &n);
	for (unsigned i = 0; i < n; i++) {
		struct delivery_result *r = &w->results[results[i].cookie];

		r->outcome = worker_outcome_of(results[i].outcome);
		r->queue_id = results[i].queue_id[0] ? results[i].queue_id :
		    NULL;
		r->reply = results[i].reply[0] ? results[i].reply : NULL;
		worker_note_reputation(w, &results[i]);
		sent += results[i].outcome == RELAY_SENT ||
		    results[i].outcome == RELAY_UNKNOWN;
		deferred += results[i].outcome == RELAY_DEFERRED;
		failed += results[i].outcome == RELAY_FAILED;
	}
	/* For the monitor: what each relay did, and whether it is up. */
	counters = scoreboard_relay(w->board, relay->name);
	if (counters) {
		atomic_fetch_add(&counters->sent, sent);
		atomic_fetch_add(&counters->deferred, deferred);
		atomic_fetch_add(&counters->failed, failed);
		atomic_store(&counters->down_until_ms, relay->down_until_ms);
	}
}

/*
 * Writes the results; the relay's answers are only in memory until
 * then, so a database outage is waited out (reconnecting with back-off)
 * rather than dropped: dropping them would re-send those messages.
 * Returns 0, or -1 when told to stop before the database came back.
 */
static int
worker_record(struct worker *w, const struct batch *batch, unsigned count)
{
	unsigned sent, deferred, failed;
	struct buf err = BUF_INIT;
	int rc = -1;

	for (unsigned attempt = 1; ; attempt++) {
		if (worker_connect(w, 1) != 0)
			break;
		buf_reset(&err);
		if (delivery_record(w->db, batch, w->results, count, &sent,
		    &deferred, &failed, &err) == 0) {
			atomic_fetch_add(&w->slot->sent, sent);
			atomic_fetch_add(&w->slot->deferred, deferred);
			atomic_fetch_add(&w->slot->failed, failed);
			atomic_fetch_add(&w->board->sent, sent);
			atomic_fetch_add(&w->board->deferred, deferred);
			atomic_fetch_add(&w->board->failed, failed);
			rc = 0;
			break;
		}
		worker_database_failed(w, "recording results", &err);
		if (attempt == WORKER_RECORD_ATTEMPTS) {
			msg_error("worker %ld: giving up recording %u results "
			    "of batch %llu after %u attempts; those messages "
			    "may be sent again", (long)getpid(), count,
			    (unsigned long long)batch->id, attempt);
			break;
		}
		scoreboard_heartbeat(w->slot, WORKER_SENDING);
		sleep(attempt < 5 ? attempt : 5);
	}
	buf_free(&err);
	return rc;
}

/*
 * Paces row: returns 1 when it may be built now (after sleeping for its
 * slot if nothing is waiting to be sent), 0 when the caller should first
 * send what it has built (the slot stays reserved for this row).
 */
static int
worker_pace_row(struct worker *w, long index, unsigned built)
{
	const char *email = w->rows.rows[index].fields[FIELD_EMAIL];
	int64_t wait_ms;

	if (w->paced_row != index) {
		wait_ms = worker_pace(w, email);
		w->paced_row = index;
		w->paced_until_us = throttle_now_us() + wait_ms * 1000;
	}
	wait_ms = (w->paced_until_us - throttle_now_us()) / 1000;
	if (wait_ms > 0 && built > 0)
		return 0;
	if (wait_ms > 0)
		worker_sleep(w, wait_ms, WORKER_SENDING);
	w->paced_row = -1;
	return 1;
}

/*
 * Keeps the results of rows the session attempted (moving them to the
 * front of w->results, in order) and marks those rows handled. Returns
 * their number; *first_left gets the index of the first row not
 * attempted (a connection lost midway may leave one between rows other
 * connections carried), or -1 when there is none.
 */
static unsigned
worker_keep_attempted(struct worker *w, unsigned n, long *first_left)
{
	unsigned kept = 0;

	*first_left = -1;
	for (unsigned i = 0; i < n; i++) {
		if (w->results[i].outcome == DELIVERY_NOT_ATTEMPTED) {
			if (*first_left < 0)
				*first_left = w->result_rows[i];
			continue;
		}
		w->handled.data[w->result_rows[i]] = 1;
		w->results[kept++] = w->results[i];
	}
	return kept;
}

/*
 * Is row's domain held by the operator (herald route hold)? Its row is
 * then left pending, marked handled for this pass: the batch comes back
 * for it later (worker_finish).
 */
static int
worker_row_held(struct worker *w, long index)
{
	if (!reputation_operator_held(&w->board->reputation, worker_domain_of(
	    w->rows.rows[index].fields[FIELD_EMAIL])))
		return 0;
	w->handled.data[index] = 1;
	w->held_rows++;
	return 1;
}

/* Has the send window of the batch's rows closed (windowgate.h)? */
static int
worker_window_closed(const struct worker *w)
{
	return w->window_closes != 0 && date_now() >= w->window_closes;
}

/*
 * Sends rows from index `from` in one session (at most
 * relay_session_size, fewer when pacing asks to send early), records
 * them, and returns the index of the first row not handled. Rows the
 * session could not attempt (relay down midway) are not handled: the
 * next call tries them again, skipping the rows recorded after them.
 * -1 when the results could not be recorded.
 */
static long
worker_send_session(struct worker *w, const struct batch *batch, long from)
{
	struct relaypool_entry *relay;
	struct buf err = BUF_INIT;
	int64_t retry_ms = 0;
	unsigned n = 0, built = 0, kept, route;
	long next, first_left;
	const char *domain;
	int probe;

	while (from < (long)w->rows.count && (w->handled.data[from] ||
	    worker_row_held(w, from)))
		from++;		/* recorded by an earlier session, or held */
	if (from == (long)w->rows.count)
		return from;
	next = from;
	/* The session goes to the first row's relay (its domain's route,
	 * or the general one); it carries the rows that share it. */
	domain = worker_domain_of(w->rows.rows[from].fields[FIELD_EMAIL]);
	route = reputation_pick_route(&w->board->reputation, domain,
	    relaypool_route_count(&w->relays, domain), 1, &probe);
	relay = relaypool_pick_for(&w->relays, domain, route,
	    scoreboard_now_ms(), &retry_ms);
	if (relay == NULL) {
		if (probe)
			reputation_probe_lost(&w->board->reputation, domain);
		/* The caller gives the batch back before waiting: a wait
		 * longer than the lease would let another worker take it
		 * while this one still meant to send it. */
		w->relays_down_ms = retry_ms > 0 ? retry_ms : 1000;
		return from;
	}
	relay_session_reset(relay->session);
	w->probe_result = -1;
	for (; next < (long)w->rows.count && n < w->session_size &&
	    !worker_should_stop(w); next++) {
		const struct delivery_row *row = &w->rows.rows[next];
		struct delivery_result *r = &w->results[n];

		if (w->handled.data[next] || worker_row_held(w, next))
			continue;	/* recorded by an earlier session */
		if (n > 0) {
			domain = worker_domain_of(row->fields[FIELD_EMAIL]);
			route = reputation_pick_route(&w->board->reputation,
			    domain, relaypool_route_count(&w->relays, domain),
			    0, &probe);
			if (relaypool_pick_for(&w->relays, domain, route,
			    scoreboard_now_ms(), &retry_ms) != relay)
				break;	/* another route: the next session */
		}
		if (!worker_pace_row(w, next, built))
			break;
		if (worker_window_closed(w))
			break;	/* the batch is given back (windowgate.h) */
		memset(r, 0, sizeof(*r));
		r->row_id = row->row_id;
		r->attempts = row->attempts;
		r->outcome = DELIVERY_NOT_ATTEMPTED;
		w->result_rows[n] = next;
		w->result_routes[n] = route;
		if (probe && n == 0)
			w->probe_result = 0;
		buf_reset(&err);
		if (composer_build(w->composer, row, &w->messages[n],
		    &w->sender, &err) != 0 ||
		    relay_session_add(relay->session, buf_str(&w->sender),
		    row->fields[FIELD_EMAIL], w->messages[n].data,
		    w->messages[n].len, n, &err) != 0) {
			/* This recipient's message cannot be made: fail the
			 * row with the reason, go on with the others. */
			buf_reset(&w->reasons[n]);
			buf_printf(&w->reasons[n], "not sent: %s",
			    buf_str(&err));
			r->outcome = DELIVERY_FAILED;
			r->reply = buf_str(&w->reasons[n]);
			msg_warn("mailing %llu, recipient %llu: %s",
			    (unsigned long long)batch->mailing_id,
			    (unsigned long long)row->recipient_id,
			    buf_str(&err));
		} else {
			built++;
		}
		n++;
	}
	buf_free(&err);
	if (built)
		worker_run_session(w, relay);
	else if (w->probe_result == 0)
		reputation_probe_lost(&w->board->reputation,
		    worker_domain_of(w->rows.rows[w->result_rows[0]].fields[
		    FIELD_EMAIL]));
	kept = worker_keep_attempted(w, n, &first_left);
	if (first_left >= 0)
		next = first_left;
	if (kept && worker_record(w, batch, kept) != 0)
		return -1;
	if (kept == 0 && built)
		worker_sleep(w, 1000, WORKER_SENDING);
	return next;
}

/*
 * The mailing's messages cannot be built (why says so): its batches wait,
 * and the mailing says why (blocked) until a worker builds them again.
 */
static void
worker_block_mailing(struct worker *w, uint64_t mailing_id,
    const struct buf *why)
{
	struct buf err = BUF_INIT;

	msg_error("mailing %llu cannot be sent: %s; its batches wait "
	    "until it is fixed (herald mailing show %llu)",
	    (unsigned long long)mailing_id, buf_str(why),
	    (unsigned long long)mailing_id);
	if (mailing_block(w->db, mailing_id, buf_str(why), &err) != 0)
		worker_database_failed(w, "marking a mailing blocked", &err);
	buf_free(&err);
}

/*
 * Hands the composer the token keys, read again every few seconds
 * (keyring.h), and at once for a mailing it just opened: a rotation
 * reaches this worker at its next batch, and a mailing staged after it
 * is signed with the new key throughout. With no key to sign with, the
 * mailing says why.
 */
static int
worker_give_keys(struct worker *w, uint64_t mailing_id, int opened)
{
	struct buf err = BUF_INIT;
	const struct token_keys *keys = opened ?
	    keyring_refresh(w->keyring, w->db, &err) :
	    keyring_keys(w->keyring, w->db, &err);

	if (keys == NULL)
		worker_block_mailing(w, mailing_id, &err);
	else
		composer_set_keys(w->composer, keys);
	buf_free(&err);
	return keys ? 0 : -1;
}

/*
 * 1 when this node's message settings agree with the cluster's
 * (cluster_settings.h); else 0, logged: this node sends nothing and the
 * others go on.
 */
static int
worker_settings_agree(struct worker *w)
{
	struct buf why = BUF_INIT, err = BUF_INIT;
	int differs = 0, agree = 0;

	if (cluster_settings_check(w->cfg, w->db, &differs, &why, &err) != 0)
		worker_database_failed(w, "reading the cluster's settings",
		    &err);
	else if (differs)
		msg_error("worker %ld: %s; this node sends nothing until then",
		    (long)getpid(), buf_str(&why));
	else
		agree = 1;
	buf_free(&why);
	buf_free(&err);
	return agree;
}

/* Loads (or keeps) the composer for mailing_id, with the keys. */
static int
worker_use_mailing(struct worker *w, uint64_t mailing_id)
{
	struct buf err = BUF_INIT;
	struct mailing_content content;

	if (w->composer && composer_mailing_id(w->composer) == mailing_id) {
		if (!composer_files_changed(w->composer))
			return worker_give_keys(w, mailing_id, 0);
		/* Never a message from a mix of old and new files. */
		msg_info("worker %ld: template files of mailing %llu changed; "
		    "reading them again", (long)getpid(),
		    (unsigned long long)mailing_id);
	}
	composer_free(w->composer);
	w->composer = NULL;
	if (!worker_settings_agree(w)) {
		buf_free(&err);
		return -1;
	}
	if (mailing_content_read(w->db, mailing_id, &content, &err) == 0) {
		w->composer = composer_open(w->cfg, &content, &err);
		mailing_content_free(&content);
	}
	if (w->composer == NULL) {
		worker_block_mailing(w, mailing_id, &err);
	} else if (links_attach(w->db, w->composer, &err) != 0) {
		/* The database, not the mailing: try again later. */
		worker_database_failed(w, "registering the tracked links",
		    &err);
		composer_free(w->composer);
		w->composer = NULL;
	}
	buf_free(&err);
	return w->composer ? worker_give_keys(w, mailing_id, 1) : -1;
}

/* Gives the batch back so another worker can take it at once. */
static void
worker_release(struct worker *w, const struct batch *batch)
{
	struct buf err = BUF_INIT;

	if (w->db && batch_release(w->db, &w->owner, batch, &err) != 0)
		msg_warn("worker %ld: releasing batch %llu: %s (its lease "
		    "will expire)", (long)getpid(),
		    (unsigned long long)batch->id, buf_str(&err));
	buf_free(&err);
}

/*
 * Is the mailing still to be sent? Paused and cancelled ones are not. A
 * blocked one is again: this worker builds its messages (a fixed
 * template, read by a worker started after the fix).
 */
static int
worker_mailing_active(struct worker *w, const struct batch *batch)
{
	enum mailing_state state = MAILING_DONE;
	struct buf err = BUF_INIT;
	int found = 0, moved = 0;

	if (mailing_read_state(w->db, batch->mailing_id, &state, NULL, &found,
	    &err) != 0) {
		worker_database_failed(w, "reading the mailing state", &err);
		goto out;
	}
	if (found && state == MAILING_BLOCKED) {
		moved = mailing_move(w->db, batch->mailing_id, MAILING_BLOCKED,
		    MAILING_SENDING, NULL, &err);
		if (moved < 0) {
			worker_database_failed(w, "unblocking a mailing", &err);
			goto out;
		}
		if (moved) {
			msg_info("mailing %llu: its messages build again; "
			    "sending", (unsigned long long)batch->mailing_id);
			state = MAILING_SENDING;
		}
	}
out:
	buf_free(&err);
	return w->db && found && mailing_state_sends(state);
}

/* Ends the batch: done, or back to ready for its deferred rows. */
static void
worker_finish(struct worker *w, const struct batch *batch)
{
	struct buf err = BUF_INIT;
	char retry_at[32];
	unsigned left;

	if (delivery_rows_left(w->db, batch, &left, retry_at,
	    sizeof(retry_at), &err) == 0 && w->held_rows) {
		/* Rows the operator holds are looked at again in a minute,
		 * not at once: the batch would only come back to wait. */
		time_t later = time(NULL) + WORKER_HELD_RETRY_S;
		char held_at[32];

		strftime(held_at, sizeof(held_at), "%Y-%m-%d %H:%M:%S",
		    gmtime(&later));
		if (retry_at[0] == '\0' || strcmp(retry_at, held_at) < 0)
			snprintf(retry_at, sizeof(retry_at), "%s", held_at);
	}
	if (err.len ||
	    batch_finish(w->db, &w->owner, batch, left > 0,
	    retry_at[0] ? retry_at : NULL, &err) != 0)
		worker_database_failed(w, "finishing a batch", &err);
	buf_free(&err);
}

/*
 * Is Postfix too far behind? True while the monitor's last reading (if
 * recent) shows more than postfix_queue_limit messages waiting to go
 * out: sending more would only pile them up there. Logs when holding
 * starts and ends.
 */
static int
worker_postfix_backlogged(struct worker *w)
{
	int64_t checked = atomic_load(&w->board->postfix_checked_ms);
	int64_t waiting = atomic_load(&w->board->postfix_waiting);
	/* A reading older than a few intervals (monitor gone) is ignored:
	 * better to send than to wait on a number nobody updates. */
	int64_t fresh_ms = (3 * w->cfg->metrics_interval + 10) * 1000;
	int backlogged = w->cfg->postfix_queue_limit > 0 && checked > 0 &&
	    scoreboard_now_ms() - checked < fresh_ms &&
	    waiting > w->cfg->postfix_queue_limit;

	if (backlogged && !w->holding)
		msg_warn("worker %ld: Postfix has %lld messages waiting "
		    "(postfix_queue_limit = %ld); holding new sessions until "
		    "it catches up", (long)getpid(), (long long)waiting,
		    w->cfg->postfix_queue_limit);
	else if (!backlogged && w->holding)
		msg_info("worker %ld: Postfix's queue is down to %lld; "
		    "sending again", (long)getpid(), (long long)waiting);
	w->holding = backlogged;
	return backlogged;
}

static void
worker_process_batch(struct worker *w, struct batch *batch)
{
	struct buf err = BUF_INIT;
	long index = 0, next;
	int ours = 1;

	scoreboard_begin_batch(w->slot, batch->id, batch->mailing_id);
	if (worker_use_mailing(w, batch->mailing_id) != 0) {
		worker_release(w, batch);
		worker_sleep(w, 5000, WORKER_IDLE);
		goto out;
	}
	/* Rows that come up after their send window closed wait for the
	 * next one; the others go until theirs closes. */
	if (window_gate_batch(w->db, batch, date_now(), &w->window_closes,
	    &err) != 0 ||
	    delivery_read_pending(w->db, batch, &w->rows, &err) != 0) {
		worker_database_failed(w, "reading a batch", &err);
		goto out;
	}
	w->paced_row = -1;
	w->held_rows = 0;
	buf_reset(&w->handled);
	buf_reserve(&w->handled, w->rows.count);
	memset(w->handled.data, 0, w->rows.count + 1);
	while (index < (long)w->rows.count) {
		if (worker_should_stop(w) || !worker_mailing_active(w, batch) ||
		    worker_postfix_backlogged(w) || worker_window_closed(w))
			break;
		next = worker_send_session(w, batch, index);
		if (next < 0)
			goto out;
		if (w->relays_down_ms)
			break;
		scoreboard_heartbeat(w->slot, WORKER_SENDING);
		if (next > index && batch_checkpoint(w->db, &w->owner, batch,
		    w->rows.rows[next - 1].row_id, &ours, &err) != 0) {
			worker_database_failed(w, "checkpointing", &err);
			goto out;
		}
		if (!ours) {
			msg_warn("worker %ld: lost the lease on batch %llu "
			    "(it ran past batch_lease); leaving it",
			    (long)getpid(), (unsigned long long)batch->id);
			goto out;
		}
		index = next;
		if (composer_files_changed(w->composer)) {
			msg_info("worker %ld: template files of mailing %llu "
			    "changed; restarting with the new files",
			    (long)getpid(),
			    (unsigned long long)batch->mailing_id);
			w->reload = 1;
		}
	}
	if (w->db == NULL)
		goto out;
	if (index == (long)w->rows.count)
		worker_finish(w, batch);
	else
		worker_release(w, batch);
out:
	scoreboard_end_batch(w->slot);
	if (w->relays_down_ms) {
		msg_warn("worker %ld: every relay is down; batch %llu given "
		    "back, waiting %.0f s", (long)getpid(),
		    (unsigned long long)batch->id, w->relays_down_ms / 1000.0);
		worker_sleep(w, w->relays_down_ms, WORKER_WAITING);
		w->relays_down_ms = 0;
	}
	buf_free(&err);
}

static void
worker_loop(struct worker *w)
{
	struct buf err = BUF_INIT;
	struct batch batch;
	int64_t started_us;
	int claimed, rc;

	while (!worker_should_stop(w)) {
		if (worker_postfix_backlogged(w)) {
			/* No batch held while waiting: others may take
			 * them when it clears, and no lease runs out. */
			worker_sleep(w, 1000, WORKER_WAITING);
			continue;
		}
		scoreboard_heartbeat(w->slot, WORKER_IDLE);
		if (worker_connect(w, 0) != 0)
			break;
		buf_reset(&err);
		started_us = throttle_now_us();
		rc = batch_claim(w->db, &w->owner, &batch, &claimed, &err);
		atomic_fetch_add(&w->board->claims, 1);
		atomic_fetch_add(&w->board->claim_us,
		    (uint64_t)(throttle_now_us() - started_us));
		if (rc) {
			worker_database_failed(w, "claiming a batch", &err);
			continue;
		}
		if (!claimed) {
			worker_sleep(w, WORKER_IDLE_POLL_MS, WORKER_IDLE);
			continue;
		}
		worker_process_batch(w, &batch);
	}
	buf_free(&err);
}

static void
worker_setup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_on_term;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking call returns so the loop sees it. */
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGINT, SIG_IGN);
}

int
worker_main(const struct herald_config *cfg, struct worker_slot *slot,
    unsigned slot_index, void *shared)
{
	struct worker_shared *sh = shared;
	struct buf err = BUF_INIT;
	struct worker w;
	int status = 0;

	(void)slot_index;
	worker_setup_signals();
	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	w.slot = slot;
	w.board = sh->board;
	w.throttle = sh->throttle;
	w.master_pid = getppid();
	w.paced_row = -1;
	w.keyring = keyring_new(cfg);
	node_name(cfg, w.node, sizeof(w.node));
	w.owner.node = w.node;
	w.owner.pid = (long)getpid();
	w.owner.lease_seconds = cfg->batch_lease;
	w.session_size = (unsigned)cfg->relay_session_size;
	w.messages = xcalloc(w.session_size, sizeof(*w.messages));
	w.reasons = xcalloc(w.session_size, sizeof(*w.reasons));
	w.results = xcalloc(w.session_size, sizeof(*w.results));
	w.result_rows = xcalloc(w.session_size, sizeof(*w.result_rows));
	w.result_routes = xcalloc(w.session_size, sizeof(*w.result_routes));
	delivery_rows_init(&w.rows);
	w.loop = ev_loop_new(EVFLAG_AUTO);
	if (w.loop == NULL) {
		msg_error("worker %ld: cannot create an event loop",
		    (long)getpid());
		status = 1;
		goto out;
	}
	if (relaypool_init(&w.relays, cfg, cfg->helo_name[0] ? cfg->helo_name :
	    w.node, w.loop, &err) != 0) {
		msg_error("worker %ld: %s (check relay_host)", (long)getpid(),
		    buf_str(&err));
		status = 1;
		goto out;
	}
	for (unsigned i = 0; i < w.relays.count; i++)
		relay_session_on_progress(w.relays.entries[i].session,
		    worker_relay_progress, &w);
	{
		long delays[CONFIG_SCHEDULE_MAX];
		int n = config_parse_schedule(cfg->retry_schedule, delays,
		    CONFIG_SCHEDULE_MAX);

		/* The configuration was checked when loaded. */
		if (n > 0)
			delivery_set_retry_schedule(delays, (unsigned)n);
		srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	}
	worker_loop(&w);
	if (w.reload)
		status = WORKER_EXIT_RELOAD;
out:
	relaypool_free(&w.relays);
	if (w.loop)
		ev_loop_destroy(w.loop);
	composer_free(w.composer);
	keyring_free(w.keyring);
	if (w.db)
		db_close(w.db);
	for (unsigned i = 0; i < w.session_size; i++) {
		buf_free(&w.messages[i]);
		buf_free(&w.reasons[i]);
	}
	free(w.messages);
	free(w.reasons);
	free(w.results);
	free(w.result_rows);
	free(w.result_routes);
	buf_free(&w.handled);
	buf_free(&w.sender);
	delivery_rows_free(&w.rows);
	buf_free(&err);
	return status;
}
