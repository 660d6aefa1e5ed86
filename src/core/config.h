/*
 * config.h - herald.conf: every setting herald reads, with its default.
 *
 * The file is lines of "key = value"; '#' starts a comment line; blank
 * lines are ignored. There are no comments after values: a value with a
 * '#' at its start or after a blank is an error, except in secrets, which
 * are taken verbatim to the end of the line. A few keys take an argument before the '=' sign
 * ("route gmail.com = relay2"); those are collected in order as lists.
 * Every key has a documented default (config_defaults()), so herald runs
 * with no file at all.
 *
 * config_load() rejects, with FILE:LINE and the key, any syntax error,
 * unknown key (naming the closest keys), bad value, duplicate key, or a
 * secret (database password, token key) in a file that users other than
 * the owner can read.
 *
 * Where the file comes from: --config PATH, else $HERALD_CONFIG, else
 * SYSCONFDIR/herald.conf when it exists, else the defaults alone
 * (config_locate()).
 */
#ifndef HERALD_CONFIG_H
#define HERALD_CONFIG_H

#include <stdio.h>

#include "buf.h"

/* A "key ARGUMENT = value" line, kept in file order. */
struct config_entry {
	char *argument;
	char *value;
	unsigned line;
	struct config_entry *next;
};

struct herald_config {
	char *path;			/* the file read, NULL for defaults */

	/* Files and processes. */
	char *state_directory;
	char *sql_directory;
	char *pid_file;
	char *user;

	/* Database: empty database_host and database_socket = embedded. */
	char *database_host;
	long database_port;
	char *database_socket;
	char *database_name;
	char *database_user;
	char *database_password;
	/* Per-role accounts (dbaccount.h); empty user = database_user. */
	char *daemon_database_user;
	char *daemon_database_password;
	char *intake_database_user;
	char *intake_database_password;
	char *web_database_user;
	char *web_database_password;
	long database_connect_timeout;

	/* The embedded MariaDB instance (herald db start). */
	char *embedded_mariadbd;
	char *embedded_install_db;
	long embedded_port;
	long embedded_table_open_cache;
	long embedded_start_timeout;

	/* The daemon (heraldd). */
	long worker_count;
	long worker_stall_timeout;
	long worker_kill_grace;
	long worker_respawn_delay_limit;
	long batch_time_limit;
	long batch_lease;
	long batch_size;		/* staged rows per batch */
	char *retry_schedule;		/* waits after each deferral */
	long compact_after;		/* herald maintain: finished for */
	long history_union_limit;	/* warn above this many tables */
	long maintain_pack;		/* myisampack closed months: 0/1 */
	long import_lock_timeout;	/* herald import: wait for another */
	char *node_name;
	long node_timeout;		/* a node silent longer is dead */

	/* Relays (relay.h): the primary, and a backup used while the
	 * primary is down. */
	char *relay_host;
	long relay_port;
	char *relay_backup_host;
	long relay_backup_port;
	long relay_timeout;
	long relay_session_size;
	long relay_connections;		/* per relay and worker */
	long relay_connect_timeout;
	long relay_retry_limit;
	char *helo_name;
	/* STARTTLS and AUTH of relay_host and relay_backup_host
	 * (relay.h): none|opportunistic|required, the CA certificates to
	 * verify with (empty = the system's), the AUTH user (empty = no
	 * AUTH) and the file holding its password (a secret). */
	char *relay_tls;
	char *relay_tls_ca_file;
	char *relay_auth_user;
	char *relay_auth_password_file;

	/* Rates, in messages per hour; 0 = no limit. */
	long rate_limit;
	struct config_entry *domain_rate_limit;	/* values: "N/h" text */
	/* "route DOMAIN = HOST[:PORT]": that domain's relay (relaypool.h);
	 * while it is down the primary or backup carries the domain. */
	struct config_entry *route;
	/* The same per route, "route_tls DOMAIN = required" ...: a route's
	 * relay has none of relay_host's. */
	struct config_entry *route_tls;
	struct config_entry *route_auth_user;
	struct config_entry *route_auth_password_file;
	/* "route_alternate DOMAIN = HOST[:PORT]": where the domain goes
	 * when its route is blocked (reputation.h), in order. */
	struct config_entry *route_alternate;

	/* Monitoring (monitor.h): every metrics_interval seconds (0 = never)
	 * heraldd's monitor publishes to gmond (gmond_config's first
	 * udp_send_channel when set, else gmond_host:gmond_port; an empty
	 * gmond_host publishes nothing) and reads Postfix's queue (postqueue
	 * -c postfix_config_directory; empty = do not). Workers hold new
	 * sessions while Postfix has more than postfix_queue_limit messages
	 * waiting to go out (0 = no limit). */
	long metrics_interval;
	char *gmond_host;
	long gmond_port;
	char *gmond_config;
	char *postfix_config_directory;
	long postfix_queue_limit;
	char *metrics_listen;		/* /metrics ADDRESS:PORT; "" = off */

	/* Messages (message.h, compose.h): empty domains default to the
	 * domain of the mailing's From address. */
	char *message_domain;		/* right side of Message-IDs */
	char *bounce_domain;		/* VERP return path domain */
	char *unsubscribe_url;		/* https one-click base URL */
	char *unsubscribe_mailto;	/* address for mailto: unsubscribe */
	char *view_online_url;		/* base URL; empty = none */
	char *track_domain;		/* click URLs' host; empty = no
					 * click tracking */
	long attribution_window;	/* seconds a conversion looks back
					 * for a click or a delivery */
	char *feedback_id_sender;	/* last field of Feedback-ID */
	/* Unsubscribe token keys, "token_key ID = SECRET", newest last;
	 * none = a key generated in the state directory (token.h). */
	struct config_entry *token_key;

	/* The web endpoint (herald-web, web.h). */
	char *web_listen;		/* ADDRESS:PORT */
	long web_timeout;		/* seconds a connection may idle */
	long web_connection_limit;	/* connections at once */

	/* Feedback (feedback.h) and the brake (brake.h). Rates are in
	 * parts per million (0.3% = 3000). */
	long soft_bounce_limit;		/* soft bounces before suppressing */
	long soft_bounce_window;	/* seconds they are counted over */
	long brake_complaint_rate;	/* ppm of delivered */
	long brake_bounce_rate;		/* ppm of delivered, hard bounces */
	long brake_window;		/* seconds */
	long brake_min_delivered;
	long brake_min_events;
	char *conversion_secret;	/* signs POST /v bodies; empty =
					 * no POST /v */
	/* The value check (pull.h). */
	long pull_min_delivered;	/* messages delivered before judging */
	long pull_min_age;		/* seconds after the first delivery */
	long pull_threshold;		/* ppm of the expected value */
	long pull_check_interval;	/* seconds between checks */
	/* Reputation routing (reputation.h); rates in ppm. */
	long reputation_block_rate;
	long reputation_window;		/* seconds */
	long reputation_min_messages;
	long reputation_throttle;	/* ppm of the rate it was sending at */
	long reputation_probe_interval;	/* seconds */
	/* (further keys) */
};

/* Fills cfg with the documented defaults. Free with config_free(). */
void config_defaults(struct herald_config *cfg);

/*
 * Reads path over the defaults already in cfg. On error returns -1,
 * leaves cfg unchanged and puts "FILE:LINE: what is wrong" in err.
 */
int config_load(struct herald_config *cfg, const char *path,
    struct buf *err);

/*
 * Picks the file to read (explicit, then $HERALD_CONFIG, then the system
 * file when present) and loads it over the defaults. Returns 0, or -1
 * with the reason in err.
 */
int config_locate_and_load(struct herald_config *cfg, const char *explicit,
    struct buf *err);

void config_free(struct herald_config *cfg);

/* Prints every key and its effective value; secrets are masked. */
void config_print(const struct herald_config *cfg, FILE *out);

/* True when herald manages its own MariaDB instance. */
int config_uses_embedded_database(const struct herald_config *cfg);

/*
 * The rule for embedded_port: the embedded server listens on TCP only
 * when the account other nodes log in with over it, the daemon's
 * (daemon_database_user), has a password: nothing reachable over TCP
 * logs in without one. 0, or -1 with what to set in why.
 */
int config_check_embedded_port(const struct herald_config *cfg,
    struct buf *why);

/*
 * The socket herald connects to: database_socket when set, else the
 * embedded instance's socket. Returns NULL when connecting over TCP.
 * The string is owned by the caller.
 */
char *config_database_socket(const struct herald_config *cfg);

/*
 * The value of the last "key ARGUMENT = value" line for argument, or NULL.
 * The string is owned by the configuration.
 */
const char *config_list_lookup(const struct config_entry *list,
    const char *argument);

/*
 * Parses a rate "N/h", "N/m" or "N/s" (or "0" for no limit) into
 * messages per hour. -1 when invalid.
 */
long config_parse_rate(const char *text);

/*
 * Parses a retry schedule, durations separated by spaces ("5m 30m 2h"),
 * into delays (seconds, at most max). The count, or -1 when invalid.
 */
#define CONFIG_SCHEDULE_MAX 32
int config_parse_schedule(const char *text, long *delays, unsigned max);

/*
 * Parses relay_tls and route_tls values: CONFIG_TLS_NONE ("none"),
 * CONFIG_TLS_OPPORTUNISTIC or CONFIG_TLS_REQUIRED; -1 when invalid.
 */
#define CONFIG_TLS_NONE 0
#define CONFIG_TLS_OPPORTUNISTIC 1
#define CONFIG_TLS_REQUIRED 2
int config_parse_tls(const char *text);

/*
 * Reads the secret in the file at path (a password file such as
 * relay_auth_password_file: its first line, without the line end) into
 * secret. Refuses, with the reason in err, a file that group or others
 * may read, an empty one, or one that cannot be read. Returns 0 or -1.
 */
int config_read_secret_file(const char *path, struct buf *secret,
    struct buf *err);

/* Parses a TCP port (1-65535); -1 when invalid. */
long config_parse_port(const char *text);

/* Parses "30", "30s", "5m", "2h", "1d" into seconds. -1 when invalid. */
long config_parse_duration(const char *text);

/*
 * The rule for a token key ("token_key ID = SECRET", token.h), wherever
 * the key comes from: an ID of 1 to CONFIG_TOKEN_KEY_ID_MAX letters,
 * digits, '-' or '_', a SECRET of at least CONFIG_TOKEN_SECRET_MIN
 * characters. Returns 0, or -1 with what is wrong in why.
 */
#define CONFIG_TOKEN_KEY_ID_MAX 16
#define CONFIG_TOKEN_SECRET_MIN 32
int config_check_token_key(const char *id, const char *secret,
    struct buf *why);

/* One key as herald.conf(5) documents it ("herald config keys"). */
struct config_key_doc {
	const char *name;
	const char *group;		/* the man page's subsection */
	const char *argument;		/* list keys: what comes before '='
					 * ("DOMAIN"); NULL for the others */
	const char *type;		/* "integer", "duration", "path", ... */
	int ranged;			/* min and max apply */
	int duration;			/* min and max are seconds */
	long min, max;
	const char *default_value;	/* as built; NULL for list keys */
	const char *documented_default;	/* as the man page shows it */
	const char *description;	/* plain text, one paragraph */
};

/*
 * Fills doc for the key at index (0, 1, ... in the table's order).
 * Returns 0, or -1 past the last key. The strings are static.
 */
int config_key_doc(size_t index, struct config_key_doc *doc);

#endif
