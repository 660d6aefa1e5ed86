/*
 * config.c - reading herald.conf (see config.h).
 *
 * One table (config_keys) names every key, its type, its default, its
 * bounds and its description; parsing, defaults, "herald config check
 * --show" and the key reference of herald.conf(5) ("herald config keys
 * --man") all walk it, so a key cannot exist in one place and be missing
 * in another.
 *
 * To add a key:
 *  1. add its field to struct herald_config (config.h);
 *  2. add a line to config_keys below, in the group it belongs to (STR,
 *     NUM or LIST; the description is the key's entry in the man page:
 *     plain text, what the key does and what its values mean);
 *  3. in the build directory run "make update-conf-man", which rewrites
 *     the KEYS section of doc/herald.conf.5 from this table;
 *  4. add the key, commented out with its default, to etc/herald.conf.
 * tests/integration/config_check.sh fails while the man page's section
 * differs from the table or a key is missing from etc/herald.conf.
 *
 * We parse the file ourselves rather than with inih: Debian's inih strips
 * " ;..." as an inline comment and joins indented lines to the previous
 * value, either of which would silently change a password, and its
 * handler is not told the line number it is on. herald has no inline
 * comments: '#' starts a comment only as a line's first non-blank
 * character. A value with a '#' at its start or after a blank is refused
 * (an operator who wrote "relay_host = 127.0.0.1 # local" meant a
 * comment, and the host must not silently become the whole text), except
 * in secrets, which are taken verbatim so that any password can be
 * written as it is.
 */
#include "config.h"
#include "log.h"
#include "suggest.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef HERALD_SYSCONFDIR
#define HERALD_SYSCONFDIR "/etc"
#endif
#ifndef HERALD_STATEDIR
#define HERALD_STATEDIR "/var/lib/herald"
#endif
#ifndef HERALD_SQLDIR
#define HERALD_SQLDIR "/usr/share/herald/sql"
#endif

enum config_type {
	CONFIG_STRING,		/* any text, may be empty */
	CONFIG_PATH,		/* a file system path, may be empty */
	CONFIG_SECRET,		/* text that must not be world-readable */
	CONFIG_INTEGER,		/* decimal integer within [min, max] */
	CONFIG_DURATION,	/* seconds, with optional s/m/h/d suffix */
	CONFIG_LIST,		/* "key ARGUMENT = value", repeatable */
	CONFIG_SECRET_LIST,	/* a list whose values are secrets */
	CONFIG_RATE,		/* N/h, N/m, N/s: stored per hour */
	CONFIG_RATE_LIST,	/* a list whose values are rates */
	CONFIG_SCHEDULE,	/* durations separated by spaces */
	CONFIG_PERCENT,		/* "0.3%": stored in parts per million */
};

/*
 * A list key's own check of one "key ARGUMENT = value" line, beyond its
 * type's: 0, or -1 with what is wrong in why.
 */
typedef int config_check_fn(const char *argument, const char *value,
    struct buf *why);

struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;		/* into struct herald_config */
	const char *default_value;
	long min, max;		/* for integers and durations */
	const char *argument;	/* list keys: what comes before '=' */
	config_check_fn *check;	/* NULL, or the line's own check */
	const char *description;	/* its entry in herald.conf(5) */
};

#define STR(field, type, def, doc) \
	{ #field, type, offsetof(struct herald_config, field), def, 0, 0, \
	    NULL, NULL, doc }
#define NUM(field, type, def, lo, hi, doc) \
	{ #field, type, offsetof(struct herald_config, field), def, lo, hi, \
	    NULL, NULL, doc }
#define STRCHECK(field, type, def, check, doc) \
	{ #field, type, offsetof(struct herald_config, field), def, 0, 0, \
	    NULL, check, doc }
#define LIST(field, type, argument, check, doc) \
	{ #field, type, offsetof(struct herald_config, field), NULL, 0, 0, \
	    argument, check, doc }

static config_check_fn config_check_route;
static config_check_fn config_check_tls;
static config_check_fn config_check_secret_path;

static const struct config_key config_keys[] = {
	STR(state_directory, CONFIG_PATH, HERALD_STATEDIR,
	    "Where herald keeps its state: the embedded database "
	    "(STATE/mariadb/), the daemon's pid file and other run-time "
	    "files (the token keys are in the database). The default "
	    "is LOCALSTATEDIR/lib/herald as the build was configured "
	    "(/var/lib/herald for the system's packages); herald config "
	    "check --show prints the one in use."),
	STR(sql_directory, CONFIG_PATH, HERALD_SQLDIR,
	    "The numbered schema migrations (NNN_name.sql) applied by herald "
	    "db init and herald db migrate. The default is the installed "
	    "DATADIR/herald/sql (/usr/share/herald/sql for the system's "
	    "packages)."),
	STR(pid_file, CONFIG_PATH, "",
	    "heraldd's pid file, locked while it runs; empty = "
	    "STATE/heraldd.pid."),
	STR(user, CONFIG_STRING, "herald",
	    "The user heraldd runs as after start-up when started as root "
	    "(make install and contrib/quickstart create it when missing); "
	    "the state directory is given to it. Run the "
	    "Postfix pipe to herald bounce as this user too. Empty = keep "
	    "the starting user."),

	STR(database_host, CONFIG_STRING, "",
	    "A MariaDB or MySQL server reached over TCP. With neither "
	    "database_host nor database_socket set, herald runs its own "
	    "(embedded) MariaDB under state_directory, started by herald db "
	    "start or on demand."),
	NUM(database_port, CONFIG_INTEGER, "3306", 1, 65535,
	    "The TCP port of database_host."),
	STR(database_socket, CONFIG_PATH, "",
	    "The unix socket of a MariaDB or MySQL server, used instead of "
	    "TCP."),
	STR(database_name, CONFIG_STRING, "herald",
	    "The database holding herald's tables."),
	STR(database_user, CONFIG_STRING, "root",
	    "The account the operator's commands (herald) connect as: it "
	    "may do everything, and creates the two below."),
	STR(database_password, CONFIG_SECRET, "",
	    "That account's password: everything after '=' up to the end of "
	    "the line, '#' and ';' included (see SECRETS)."),
	STR(daemon_database_user, CONFIG_STRING, "",
	    "heraldd's own account, created by herald db init with only what "
	    "sending needs: read mailings and variants, claim batches, read "
	    "and record stage rows (each stage table is granted when it is "
	    "staged), read the token keys, for the test phase and the value "
	    "check read who clicked and converted and record the test "
	    "phase's decision (test_results); it cannot read recipients nor "
	    "drop anything. Empty = heraldd uses database_user."),
	STR(daemon_database_password, CONFIG_SECRET, "",
	    "Its password (required when daemon_database_user is set)."),
	STR(intake_database_user, CONFIG_STRING, "",
	    "The account of herald bounce (what Postfix's pipe runs), "
	    "created by herald db init: it records bounces and suppressions "
	    "and nothing else. Empty = herald bounce uses database_user."),
	STR(intake_database_password, CONFIG_SECRET, "",
	    "Its password (required when intake_database_user is set)."),
	STR(web_database_user, CONFIG_STRING, "",
	    "The account of herald-web, created by herald db init: it looks "
	    "up a token's recipient (address and status only), marks the "
	    "recipient unsubscribed and adds the suppression, and nothing "
	    "else. Empty = herald-web uses database_user."),
	STR(web_database_password, CONFIG_SECRET, "",
	    "Its password (required when web_database_user is set)."),
	NUM(database_connect_timeout, CONFIG_DURATION, "10", 1, 3600,
	    "How long to wait for a connection to the database server."),

	STR(embedded_mariadbd, CONFIG_PATH, "/usr/sbin/mariadbd",
	    "The MariaDB server program run for the embedded database "
	    "(Debian package mariadb-server)."),
	STR(embedded_install_db, CONFIG_PATH, "/usr/bin/mariadb-install-db",
	    "The program that creates the embedded database's data "
	    "directory on its first start."),
	NUM(embedded_port, CONFIG_INTEGER, "0", 0, 65535,
	    "0: the embedded server listens on its unix socket only, no TCP; "
	    "otherwise also on 127.0.0.1 at this port, for other heraldd "
	    "nodes on this machine (database_host = 127.0.0.1, database_port "
	    "= this port; a demo cluster: contrib/demo-cluster). Refused "
	    "unless daemon_database_user and daemon_database_password are "
	    "set, the account those nodes log in with: only accounts with a "
	    "password log in over TCP (its root uses unix_socket "
	    "authentication, the system's root through the socket). In "
	    "production every node points at one MariaDB server instead "
	    "(database_host)."),
	NUM(embedded_table_open_cache, CONFIG_INTEGER, "10000", 64, 1000000,
	    "The embedded server's table cache. It must stay above the "
	    "number of stage tables in the history MERGE table (each is one "
	    "open table; see herald maintain)."),
	NUM(embedded_start_timeout, CONFIG_DURATION, "60", 1, 3600,
	    "How long start-up or shut-down of the embedded server may take "
	    "before herald gives up."),

	NUM(worker_count, CONFIG_INTEGER, "4", 1, 256,
	    "Worker processes per node; each has its own database connection "
	    "and SMTP sessions."),
	NUM(worker_stall_timeout, CONFIG_DURATION, "60", 2, 86400,
	    "A worker whose heartbeat is older than this is stalled: the "
	    "watchdog sends it SIGTERM, then SIGKILL worker_kill_grace later, "
	    "and respawns it."),
	NUM(worker_kill_grace, CONFIG_DURATION, "5", 1, 600,
	    "How long a stalled or stopping worker has between SIGTERM and "
	    "SIGKILL."),
	NUM(worker_respawn_delay_limit, CONFIG_DURATION, "60", 1, 3600,
	    "A worker dying within 10 seconds of its start is respawned after "
	    "a doubling delay of at most this long, so workers that cannot "
	    "start do not fork in a loop."),
	NUM(batch_time_limit, CONFIG_DURATION, "10m", 10, 86400,
	    "A batch running longer than this gets its worker restarted; the "
	    "batch resumes elsewhere from its checkpoint."),
	NUM(batch_lease, CONFIG_DURATION, "5m", 10, 86400,
	    "How long a claimed batch stays its worker's without a "
	    "checkpoint: a dead worker's batch is taken over by another "
	    "worker, on this node or another, after this."),
	NUM(batch_size, CONFIG_INTEGER, "1000", 1, 1000000,
	    "Recipients per batch when herald stage cuts a mailing. A worker "
	    "claims one batch at a time, so smaller batches spread a mailing "
	    "over more workers sooner; larger ones mean fewer claims."),
	STR(retry_schedule, CONFIG_SCHEDULE, "5m 10m 30m 1h 2h 4h",
	    "The waits before each retry of a message the relay deferred "
	    "(4xx), up to 32 durations separated by spaces; after the last "
	    "retry the message has failed. Each wait varies by up to 10% "
	    "either way, so the retries of one mailing spread out instead of "
	    "coming back together."),
	STR(node_name, CONFIG_STRING, "",
	    "This node's name in batch leases; empty = the host name."),
	NUM(node_timeout, CONFIG_DURATION, "1m", 10, 86400,
	    "Each heraldd registers its node in the database's nodes table "
	    "and beats there every 5 seconds (from its monitor); herald "
	    "status shows a node silent for longer than this as dead. A dead "
	    "node's batches go back to the other nodes when their leases "
	    "expire (batch_lease). Every node and herald status should use "
	    "the same value."),

	NUM(compact_after, CONFIG_DURATION, "1d", 0, 31536000,
	    "herald maintain (daily cron) moves the stage table of each "
	    "mailing finished for longer than this into its month's archive "
	    "(history_YYYYMM), so the history MERGE table opens few tables."),
	NUM(history_union_limit, CONFIG_INTEGER, "1000", 1, 100000,
	    "herald maintain warns when the history MERGE table lists more "
	    "tables than this: each costs table cache entries and two file "
	    "descriptors per open."),
	NUM(maintain_pack, CONFIG_INTEGER, "1", 0, 1,
	    "1: herald maintain packs the archives of closed months with "
	    "myisampack (read-only, about half the size); 0: it does not. "
	    "Only with the embedded database, whose files are local."),
	NUM(import_lock_timeout, CONFIG_DURATION, "1m", 0, 86400,
	    "One herald import runs at a time per database: two at once "
	    "would lose each other's rows. Another waits this long for it, "
	    "then fails and changes nothing; 0 = do not wait."),

	STR(relay_host, CONFIG_STRING, "127.0.0.1",
	    "Where workers hand messages over, normally the local Postfix: a "
	    "host name or IP address."),
	NUM(relay_port, CONFIG_INTEGER, "25", 1, 65535,
	    "The SMTP port of relay_host."),
	STR(relay_backup_host, CONFIG_STRING, "",
	    "The relay used while relay_host refuses connections, times out "
	    "or refuses whole sessions; empty = no backup (workers wait, "
	    "losing nothing)."),
	NUM(relay_backup_port, CONFIG_INTEGER, "25", 1, 65535,
	    "The SMTP port of relay_backup_host."),
	NUM(relay_timeout, CONFIG_DURATION, "30", 1, 3600,
	    "How long to wait for each SMTP reply. Keep it below "
	    "worker_stall_timeout: a worker waiting on a reply does not "
	    "beat."),
	NUM(relay_session_size, CONFIG_INTEGER, "100", 1, 10000,
	    "Messages per SMTP session, pipelined."),
	NUM(relay_connections, CONFIG_INTEGER, "2", 1, 32,
	    "SMTP connections each worker keeps to each relay, all driven by "
	    "the worker's event loop: a session's messages are shared among "
	    "them, so the worker never waits on a single reply. Connections "
	    "stay open between sessions and close with QUIT when the worker "
	    "exits."),
	NUM(relay_connect_timeout, CONFIG_DURATION, "10", 1, 3600,
	    "How long to wait for each address of a relay to accept a "
	    "connection (all addresses of a name are tried in order, IPv4 "
	    "and IPv6). A relay that does not answer in time is marked down "
	    "as one that refuses."),
	NUM(relay_retry_limit, CONFIG_DURATION, "10m", 1, 86400,
	    "A relay marked down is tried again after a doubling delay of at "
	    "most this long."),
	STR(helo_name, CONFIG_STRING, "",
	    "The name herald gives in EHLO; empty = node_name, or the host "
	    "name."),
	STRCHECK(relay_tls, CONFIG_STRING, "none", config_check_tls,
	    "STARTTLS to relay_host and relay_backup_host: none (plain SMTP, "
	    "for a Postfix on this host or the LAN); opportunistic (TLS when "
	    "the relay offers it, any certificate: it stops a passive "
	    "eavesdropper only); required (no mail goes out unless STARTTLS "
	    "succeeds with a certificate that chains to relay_tls_ca_file or "
	    "the system's CA store and names the relay's host name, or its "
	    "IP address when relay_host is one). A relay whose TLS fails is "
	    "marked down. Relays with TLS or AUTH are driven through "
	    "libESMTP, one connection per session; the others through "
	    "herald's own pipelined client."),
	STR(relay_tls_ca_file, CONFIG_PATH, "",
	    "A PEM file of the CA certificates that relay certificates are "
	    "verified against under relay_tls or route_tls = required, for "
	    "every relay; empty = the system's CA store "
	    "(/etc/ssl/certs)."),
	STR(relay_auth_user, CONFIG_STRING, "",
	    "The user name herald gives in SMTP AUTH (PLAIN or LOGIN) to "
	    "relay_host and relay_backup_host; empty = no AUTH. Needs "
	    "relay_tls = required, so the password never crosses the network "
	    "in clear, and relay_auth_password_file. When the relay refuses "
	    "the password (or offers no AUTH), no MAIL command is sent: the "
	    "relay is marked down with its reply and every message stays "
	    "queued for a later session."),
	STRCHECK(relay_auth_password_file, CONFIG_PATH, "",
	    config_check_secret_path,
	    "The file holding the password of relay_auth_user: its first "
	    "line. It is a secret: a file that group or others can read is "
	    "refused (chmod 600, owned by user); workers read it at their "
	    "start, so a changed password takes effect on reload."),
	LIST(route, CONFIG_LIST, "DOMAIN", config_check_route,
	    "Recipients of DOMAIN go to this relay, HOST or HOST:PORT, "
	    "instead of relay_host: for example a Postfix with its own IP "
	    "address and reputation. One line per domain. While the route's "
	    "relay is down, the domain falls back to relay_host and "
	    "relay_backup_host."),
	LIST(route_tls, CONFIG_LIST, "DOMAIN", config_check_tls,
	    "STARTTLS to the relay of route DOMAIN, as relay_tls (which it "
	    "does not inherit): none, opportunistic or required. Routes to "
	    "the same HOST:PORT must agree."),
	LIST(route_auth_user, CONFIG_LIST, "DOMAIN", NULL,
	    "The AUTH user for the relay of route DOMAIN, as relay_auth_user "
	    "(needs route_tls DOMAIN = required and "
	    "route_auth_password_file DOMAIN)."),
	LIST(route_auth_password_file, CONFIG_LIST, "DOMAIN",
	    config_check_secret_path,
	    "The password file of route_auth_user DOMAIN, as "
	    "relay_auth_password_file."),
	LIST(route_alternate, CONFIG_LIST, "DOMAIN", config_check_route,
	    "Where DOMAIN's mail goes, HOST or HOST:PORT, when its own route "
	    "(route, else relay_host) is blocked by the destination "
	    "(reputation_block_rate); several lines for one domain are tried "
	    "in the order given, up to 3. Typically another Postfix "
	    "listener whose transport binds another source address "
	    "(contrib/postfix). The domain returns to its own route when a "
	    "probe there is delivered."),

	NUM(rate_limit, CONFIG_RATE, "0", 0, 1000000000,
	    "The most messages sent, shared by all the workers of every live "
	    "node on the database (each node takes 1/N): N/h, N/m or N/s; "
	    "0 = no limit. A mailing's own limit is herald mailing create "
	    "--rate, held across the nodes the same way. Give every node "
	    "the same limits."),
	LIST(domain_rate_limit, CONFIG_RATE_LIST, "DOMAIN", NULL,
	    "The most messages sent to one destination domain by every live "
	    "node together (each takes 1/N), one line per domain, for "
	    "example domain_rate_limit gmail.com = 20000/h."),

	NUM(metrics_interval, CONFIG_DURATION, "15", 0, 3600,
	    "heraldd's monitor publishes send, defer and fail rates, active "
	    "workers, the staged backlog, Postfix's queues and claim and "
	    "staging latency to Ganglia this often (0 = never; metric names "
	    "in heraldd(8)). Metrics go out as UDP datagrams nobody waits "
	    "for, so a gmond that is down or slow never slows sending."),
	STR(gmond_host, CONFIG_STRING, "127.0.0.1",
	    "Where metrics go, as UDP datagrams, when gmond_config is empty; "
	    "empty = publish nothing."),
	NUM(gmond_port, CONFIG_INTEGER, "8649", 1, 65535,
	    "The UDP port of gmond_host."),
	STR(gmond_config, CONFIG_PATH, "",
	    "A gmond configuration file: metrics go to the host (or "
	    "mcast_join) and port of its first udp_send_channel section, as "
	    "gmetric does; a file without one is reported with its name and "
	    "line. Empty = use gmond_host and gmond_port."),
	STR(postfix_config_directory, CONFIG_PATH, "/etc/postfix",
	    "The configuration directory of the Postfix whose queue is "
	    "watched, with postqueue -c DIR -j, every 5 seconds (or every "
	    "metrics_interval when shorter); empty = do not watch it."),
	NUM(postfix_queue_limit, CONFIG_INTEGER, "50000", 0, 100000000,
	    "While more messages than this wait in that Postfix's maildrop, "
	    "incoming and active queues, workers start no new SMTP session "
	    "and claim no batch; they resume when the queue is below it "
	    "again, so a relay that cannot keep up slows herald down instead "
	    "of piling mail up. Deferred mail does not count. 0 = no limit. "
	    "Per node, unlike the rate limits: each node relays through its "
	    "own Postfix."),
	STR(metrics_listen, CONFIG_STRING, "",
	    "Where heraldd's monitor also serves its metrics over HTTP, at "
	    "/metrics in the Prometheus text format, for Prometheus or any "
	    "OpenMetrics scraper: IPV4:PORT or [IPV6]:PORT, for example "
	    "127.0.0.1:9257. Empty = not served. The same series as Ganglia "
	    "gets, as counters and gauges labelled by node, relay, mailing "
	    "and domain (heraldd(8)); the database's are read every "
	    "metrics_interval. heraldd listens before it starts its workers "
	    "and refuses to start when it cannot; a change takes effect when "
	    "heraldd restarts. There is no authentication: keep it on "
	    "loopback or a monitoring network."),

	STR(message_domain, CONFIG_STRING, "",
	    "The right side of Message-IDs, "
	    "<herald.MAILING.RECIPIENT@message_domain>: stable, so a message "
	    "sent twice can be recognised. Empty = the domain of the "
	    "mailing's From address, called DOMAIN in the keys below. "
	    "Cluster-wide, like the five keys below: every node sending "
	    "the same mailings must use the same value (herald db migrate "
	    "records it; a node that differs sends nothing)."),
	STR(bounce_domain, CONFIG_STRING, "",
	    "The domain of the VERP envelope sender "
	    "bounces+MAILING-RECIPIENT-KEY-SIGNATURE@bounce_domain, signed "
	    "with the token keys, so every bounce names its recipient and "
	    "no one else can make one; point its MX at Postfix. Empty = "
	    "DOMAIN. Cluster-wide."),
	STR(unsubscribe_url, CONFIG_STRING, "",
	    "The https base of the one-click unsubscribe link "
	    "(List-Unsubscribe, RFC 8058); ?t=TOKEN is appended. Empty = "
	    "https://DOMAIN/unsubscribe. Cluster-wide."),
	STR(unsubscribe_mailto, CONFIG_STRING, "",
	    "The address of the mailto: unsubscribe link, whose subject "
	    "carries the token. Empty = unsubscribe@DOMAIN. Cluster-wide."),
	STR(view_online_url, CONFIG_STRING, "",
	    "The base of the {{view_online_url}} template value (?t=TOKEN is "
	    "appended, a view-online token that cannot unsubscribe); empty "
	    "= the value is empty. Cluster-wide."),
	STR(track_domain, CONFIG_STRING, "",
	    "The host of tracked links: each http(s) link written in a "
	    "mailing's text and HTML parts is sent as https://track_domain/"
	    "c/TOKEN, a click token naming mailing, recipient and link, "
	    "which herald-web redirects to the original URL and counts. "
	    "Point it at the nginx in front of herald-web. A mailing can "
	    "opt out (herald mailing create --no-track-clicks) and a link "
	    "too ({{! notrack }} before it). Empty = no link is tracked. "
	    "Cluster-wide."),
	NUM(attribution_window, CONFIG_DURATION, "7d", 60, 31622400,
	    "A conversion (herald conversion import, herald-web's POST /v) "
	    "is attributed to the mailing of the recipient's last click "
	    "this long before it, failing that to the last mailing "
	    "delivered to the recipient this long before it."),
	STR(feedback_id_sender, CONFIG_STRING, "herald",
	    "The last field of the Feedback-ID header, "
	    "MAILING:VARIANT:herald:feedback_id_sender (Gmail's feedback loop "
	    "groups complaints by these fields)."),
	LIST(token_key, CONFIG_SECRET_LIST, "ID", config_check_token_key,
	    "An override of the token keys, one line each, newest last. "
	    "Without it (the default, and what several nodes need) the keys "
	    "that sign tokens and return paths (HMAC-SHA256) live in the "
	    "database, shared by every node and herald-web and rotated with "
	    "herald key rotate and retire (herald(1)); herald db init "
	    "creates the first. With token_key lines, a process uses them "
	    "instead of the database: the last key signs, every listed key "
	    "verifies; every node and herald-web must then carry the same "
	    "lines, and herald key commands do not reach them. herald db "
	    "init and db migrate import the lines (and the STATE/token-keys "
	    "file older versions generated) into the database once, so they "
	    "can be removed afterwards without breaking mail already sent. "
	    "An ID is 1 to 16 letters, digits, '-' or '_'; a SECRET at least "
	    "32 characters, everything after '=' up to the end of the line "
	    "(see SECRETS). The newest key also keys the draw of recipients "
	    "into a mailing's variants at staging (a key derived from it, "
	    "never the key itself)."),

	STR(web_listen, CONFIG_STRING, "127.0.0.1:8025",
	    "Where herald-web, the one-click unsubscribe endpoint, listens: "
	    "IPV4:PORT or [IPV6]:PORT. Keep it on loopback behind the site's "
	    "nginx, which terminates TLS (contrib/nginx/herald.conf)."),
	NUM(web_timeout, CONFIG_DURATION, "10", 1, 3600,
	    "herald-web closes a connection that sends or reads nothing for "
	    "this long, so slow or stalled clients cannot hold it."),
	NUM(web_connection_limit, CONFIG_INTEGER, "64", 1, 10000,
	    "The most connections herald-web serves at once; more wait in "
	    "the listen queue until one closes."),

	NUM(soft_bounce_limit, CONFIG_INTEGER, "3", 1, 1000,
	    "herald feedback suppresses an address after this many soft "
	    "bounces (a full mailbox, a block, an expiry: any class but "
	    "userunknown, hostunknown and hasmoved) within "
	    "soft_bounce_window, counted across mailings. A hard bounce "
	    "suppresses it at once."),
	NUM(soft_bounce_window, CONFIG_DURATION, "30d", 60, 31536000,
	    "The span over which soft bounces of an address are counted."),
	NUM(brake_complaint_rate, CONFIG_PERCENT, "0.3%", 1, 1000000,
	    "The brake: a sending mailing is pulled (state pulled, reason "
	    "kept) when its complaints in the last brake_window exceed this "
	    "share of the messages it delivered in that window (Gmail and "
	    "Yahoo require below 0.3% and advise 0.1%)."),
	NUM(brake_bounce_rate, CONFIG_PERCENT, "5%", 1, 1000000,
	    "The brake: a sending mailing is pulled when its hard bounces in "
	    "the last brake_window exceed this share of the messages it "
	    "delivered in that window."),
	NUM(brake_window, CONFIG_DURATION, "1h", 60, 604800,
	    "The sliding window of the brake: events (bounces, complaints) "
	    "and deliveries of the last brake_window, or since the mailing "
	    "was last resumed when that is later."),
	NUM(brake_min_delivered, CONFIG_INTEGER, "1000", 1, 100000000,
	    "The brake acts only when the window holds at least this many "
	    "delivered messages: on fewer, a handful of events is noise."),
	NUM(brake_min_events, CONFIG_INTEGER, "5", 1, 1000000,
	    "The brake acts only on at least this many events of the kind "
	    "(complaints, or hard bounces) in the window."),
	STR(conversion_secret, CONFIG_SECRET, "",
	    "The secret shared with the site that posts conversions to "
	    "herald-web's POST /v: each body is signed with it, header "
	    "X-Herald-Signature: sha256=HEX (HMAC-SHA256 of the body, "
	    "lowercase hex). At least 32 characters. Empty = POST /v "
	    "answers 404."),
	NUM(pull_min_delivered, CONFIG_INTEGER, "10000", 1, 1000000000,
	    "The value check: heraldd's monitor judges a sending mailing "
	    "that has an expected value (herald mailing create "
	    "--expected-value, revenue per 1,000 delivered) only once it "
	    "has delivered at least this many messages: on fewer, a few "
	    "donations more or less swing the projection."),
	NUM(pull_min_age, CONFIG_DURATION, "30m", 0, 31622400,
	    "The value check judges a mailing only this long after its "
	    "first delivery: before, almost all of its conversions are "
	    "still to come."),
	NUM(pull_threshold, CONFIG_PERCENT, "50%", 0, 1000000,
	    "The value check pulls a mailing (state pulled, the figures "
	    "kept as its reason) whose projected revenue per 1,000 "
	    "delivered is below this share of its expected value. The "
	    "projection is the revenue attributed so far divided by the "
	    "share of conversions that should have arrived by now, from the "
	    "delays of this sender's past conversions or, with too few of "
	    "them, a default curve (herald(1), EXPECTED VALUE). 0 = never "
	    "pull (the figures are still computed and shown)."),
	NUM(pull_check_interval, CONFIG_DURATION, "60", 1, 3600,
	    "How often heraldd's monitor runs the value check. Several "
	    "nodes may run it: one conditional UPDATE decides each pull."),
	NUM(reputation_block_rate, CONFIG_PERCENT, "20%", 0, 1000000,
	    "Reputation routing: when this share of the messages a "
	    "destination domain took on its route in the last "
	    "reputation_window came back deferred or refused as blocked or "
	    "spamdetected (Postfix's delay_reason, classified as bounces "
	    "are), the domain moves to its next route_alternate or, with "
	    "none left, is held at reputation_throttle. 0 = never act (the "
	    "figures are still kept and shown)."),
	NUM(reputation_window, CONFIG_DURATION, "10m", 10, 86400,
	    "The sliding window of reputation routing."),
	NUM(reputation_min_messages, CONFIG_INTEGER, "20", 1, 100000000,
	    "Reputation routing acts only once the window holds at least "
	    "this many messages relayed to the domain on its route: on "
	    "fewer, one blocked message is noise. It also bounds what a "
	    "refusing destination receives before herald acts: this many, "
	    "plus what the domain's rate sends while Postfix tries them and "
	    "the monitor reads its queue."),
	NUM(reputation_throttle, CONFIG_PERCENT, "10%", 1, 1000000,
	    "A domain with no route left is held at this share of the rate "
	    "it was sending at over the window (never below one message "
	    "per reputation_probe_interval)."),
	NUM(reputation_probe_interval, CONFIG_DURATION, "5m", 1, 86400,
	    "A domain moved or held is probed on its own route after this "
	    "long: one message goes there; delivered, the domain returns; "
	    "deferred, the next probe waits twice as long, up to 16 times "
	    "this."),
	/* (further keys) */
};

/*
 * The man page's subsections: each starts at its first key and runs to
 * the next one's.
 */
static const struct {
	const char *first_key;
	const char *heading;
} config_groups[] = {
	{ "state_directory", "Files and processes" },
	{ "database_host", "Database" },
	{ "embedded_mariadbd", "The embedded database" },
	{ "worker_count", "The daemon (heraldd)" },
	{ "compact_after", "Maintenance (herald maintain)" },
	{ "relay_host", "Relays" },
	{ "rate_limit", "Rate limits" },
	{ "metrics_interval", "Monitoring" },
	{ "message_domain", "Messages" },
	{ "web_listen", "The web endpoint (herald-web)" },
	{ "soft_bounce_limit", "Feedback and the brake (herald feedback)" },
	{ "pull_min_delivered", "The value check (heraldd's monitor)" },
	{ "reputation_block_rate", "Reputation routing" },
};

/*
 * Defaults that depend on how the build was configured, as the man page
 * shows them: the page must not change with the builder's --prefix.
 */
static const struct {
	const char *key;
	const char *shown;
} config_built_defaults[] = {
	{ "state_directory", "/var/lib/herald" },
	{ "sql_directory", "/usr/share/herald/sql" },
};

#define CONFIG_KEY_COUNT (sizeof(config_keys) / sizeof(config_keys[0]))

static char **
config_string_slot(struct herald_config *cfg, const struct config_key *key)
{
	return (char **)((char *)cfg + key->offset);
}

static long *
config_number_slot(struct herald_config *cfg, const struct config_key *key)
{
	return (long *)((char *)cfg + key->offset);
}

static struct config_entry **
config_list_slot(struct herald_config *cfg, const struct config_key *key)
{
	return (struct config_entry **)((char *)cfg + key->offset);
}

static int
config_key_is_number(const struct config_key *key)
{
	return key->type == CONFIG_INTEGER || key->type == CONFIG_DURATION ||
	    key->type == CONFIG_RATE || key->type == CONFIG_PERCENT;
}

/*
 * "0.3%", "5%", "0.05" (a fraction, no '%' sign: "0.05" = 5%) into
 * parts per million; -1 when it is none of these or more than 100%.
 * At most four decimals of a percentage: 0.0001% is 1 ppm.
 */
static long
config_parse_percent(const char *text)
{
	long whole = 0, fraction = 0, scale = 1000000;
	const char *p = text;
	int digits = 0, decimals = 0, percent;

	for (; *p >= '0' && *p <= '9' && digits < 7; p++, digits++)
		whole = whole * 10 + (*p - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9' && decimals < 6; p++,
		    decimals++)
			fraction = fraction * 10 + (*p - '0');
	percent = *p == '%';
	if (digits + decimals == 0 || p[percent] != '\0')
		return -1;
	if (percent)
		scale = 10000;
	if (percent && decimals > 4)
		return -1;
	for (int i = 0; i < decimals; i++)
		scale /= 10;
	whole = whole * (percent ? 10000 : 1000000) + fraction * scale;
	return whole > 1000000 ? -1 : whole;
}

/* ppm as a percentage without trailing zeros ("0.3%"), into out. */
static void
config_format_percent(long ppm, char *out, size_t size)
{
	int n = snprintf(out, size, "%ld.%04ld", ppm / 10000, ppm % 10000);

	while (n > 0 && out[n - 1] == '0')
		out[--n] = '\0';
	if (n > 0 && out[n - 1] == '.')
		out[--n] = '\0';
	snprintf(out + n, size - (size_t)n, "%%");
}

static int
config_key_is_list(const struct config_key *key)
{
	return key->type == CONFIG_LIST || key->type == CONFIG_SECRET_LIST ||
	    key->type == CONFIG_RATE_LIST;
}

static int
config_key_is_secret(const struct config_key *key)
{
	return key->type == CONFIG_SECRET || key->type == CONFIG_SECRET_LIST;
}

static void
config_list_free(struct config_entry *entry)
{
	while (entry) {
		struct config_entry *next = entry->next;

		free(entry->argument);
		free(entry->value);
		free(entry);
		entry = next;
	}
}

static struct config_entry *
config_list_copy(const struct config_entry *entry)
{
	struct config_entry *head = NULL, **tail = &head;

	for (; entry; entry = entry->next) {
		struct config_entry *copy = xcalloc(1, sizeof(*copy));

		copy->argument = xstrdup(entry->argument);
		copy->value = xstrdup(entry->value);
		copy->line = entry->line;
		*tail = copy;
		tail = &copy->next;
	}
	return head;
}

const char *
config_list_lookup(const struct config_entry *list, const char *argument)
{
	const char *found = NULL;

	for (; list; list = list->next)
		if (strcmp(list->argument, argument) == 0)
			found = list->value;
	return found;
}

long
config_parse_duration(const char *text)
{
	char *end;
	long value, unit = 1;

	errno = 0;
	if (!isdigit((unsigned char)*text))
		return -1;
	value = strtol(text, &end, 10);
	if (errno || value < 0)
		return -1;
	switch (*end) {
	case '\0':
		return value;
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return -1;
	}
	if (end[1] != '\0' || value > LONG_MAX / unit)
		return -1;
	return value * unit;
}

long
config_parse_rate(const char *text)
{
	char *end;
	long count;

	if (!isdigit((unsigned char)*text))
		return -1;
	errno = 0;
	count = strtol(text, &end, 10);
	if (errno || count > 1000000000L)
		return -1;
	if (*end == '\0')
		return count == 0 ? 0 : -1;
	if (end[0] != '/' || end[1] == '\0' || end[2] != '\0')
		return -1;
	switch (end[1]) {
	case 'h':
		return count;
	case 'm':
		return count * 60;
	case 's':
		return count * 3600;
	}
	return -1;
}

long
config_parse_port(const char *text)
{
	char *end;
	long port;

	if (!isdigit((unsigned char)*text))
		return -1;
	errno = 0;
	port = strtol(text, &end, 10);
	return errno || *end || port < 1 || port > 65535 ? -1 : port;
}

int
config_parse_tls(const char *text)
{
	static const char *const names[] = {
		[CONFIG_TLS_NONE] = "none",
		[CONFIG_TLS_OPPORTUNISTIC] = "opportunistic",
		[CONFIG_TLS_REQUIRED] = "required",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(text, names[i]) == 0)
			return (int)i;
	return -1;
}

/* relay_tls and route_tls */
static int
config_check_tls(const char *argument, const char *value, struct buf *why)
{
	(void)argument;
	if (config_parse_tls(value) >= 0)
		return 0;
	buf_printf(why, "expected none, opportunistic or required, found "
	    "\"%s\"", value);
	return -1;
}

/*
 * A password file, when it is set: one that others may read is refused
 * now, with the line that names it. One that this user may not even
 * look at (the operator's commands, when the file is the daemon's)
 * is checked by the worker that reads it (config_read_secret_file()).
 */
static int
config_check_secret_path(const char *argument, const char *value,
    struct buf *why)
{
	struct stat st;

	(void)argument;
	if (*value == '\0')
		return 0;
	if (stat(value, &st) != 0) {
		if (errno == EACCES)
			return 0;
		buf_printf(why, "password file %s: %s", value,
		    strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		buf_printf(why, "password file %s is not a regular file",
		    value);
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		buf_printf(why, "password file %s: its mode %03o lets other "
		    "users read it: run \"chmod 600 %s\"", value,
		    (unsigned)(st.st_mode & 0777), value);
		return -1;
	}
	return 0;
}

/* "route DOMAIN = HOST[:PORT]", and route_alternate's likewise */
static int
config_check_route(const char *argument, const char *value, struct buf *why)
{
	const char *colon = strrchr(value, ':');

	(void)argument;
	if (*value == '\0' || colon == value ||
	    (colon && config_parse_port(colon + 1) < 0)) {
		buf_printf(why, "expected HOST or HOST:PORT, found \"%s\"",
		    value);
		return -1;
	}
	return 0;
}

int
config_check_token_key(const char *id, const char *secret, struct buf *why)
{
	size_t n = strlen(id);

	if (n == 0 || n > CONFIG_TOKEN_KEY_ID_MAX ||
	    strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_") != n) {
		buf_printf(why, "token key id \"%s\" must be 1-%d letters, "
		    "digits, '-' or '_'", id, CONFIG_TOKEN_KEY_ID_MAX);
		return -1;
	}
	if (strlen(secret) < CONFIG_TOKEN_SECRET_MIN) {
		buf_printf(why, "token key \"%s\" is shorter than %d "
		    "characters: use a long random secret", id,
		    CONFIG_TOKEN_SECRET_MIN);
		return -1;
	}
	return 0;
}

int
config_parse_schedule(const char *text, long *delays, unsigned max)
{
	char word[32];
	unsigned count = 0;
	int used;

	while (sscanf(text, " %31s%n", word, &used) == 1) {
		long d = config_parse_duration(word);

		if (d <= 0 || count == max)
			return -1;
		delays[count++] = d;
		text += used;
	}
	while (*text == ' ' || *text == '\t')
		text++;
	return *text ? -1 : (int)count;
}

/* Converts text for key into *number; returns an error text or NULL. */
static const char *
config_parse_number(const struct config_key *key, const char *text,
    long *number)
{
	long value;

	if (key->type == CONFIG_DURATION) {
		value = config_parse_duration(text);
		if (value < 0)
			return "expected a duration such as 30, 30s, 5m, 2h or 1d";
	} else if (key->type == CONFIG_RATE) {
		value = config_parse_rate(text);
		if (value < 0)
			return "expected a rate such as 20000/h, 300/m or 5/s "
			    "(0 = no limit)";
	} else if (key->type == CONFIG_PERCENT) {
		value = config_parse_percent(text);
		if (value < 0)
			return "expected a percentage such as 0.3% or 5% (at "
			    "most 100%, four decimals)";
	} else {
		char *end;

		errno = 0;
		value = strtol(text, &end, 10);
		if (*text == '\0' || *end != '\0' || errno)
			return "expected a whole number";
	}
	if (value < key->min || value > key->max)
		return "out of range";
	*number = value;
	return NULL;
}

void
config_defaults(struct herald_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
		const struct config_key *key = &config_keys[i];

		if (config_key_is_list(key))
			continue;
		if (config_key_is_number(key)) {
			if (config_parse_number(key, key->default_value,
			    config_number_slot(cfg, key)) != NULL)
				msg_fatal("internal: bad default for %s",
				    key->name);
		} else {
			*config_string_slot(cfg, key) =
			    xstrdup(key->default_value);
		}
	}
}

void
config_free(struct herald_config *cfg)
{
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
		const struct config_key *key = &config_keys[i];

		if (config_key_is_list(key))
			config_list_free(*config_list_slot(cfg, key));
		else if (!config_key_is_number(key))
			free(*config_string_slot(cfg, key));
	}
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

/* Deep copy, so a failed load can be thrown away without a trace. */
static void
config_copy(struct herald_config *to, const struct herald_config *from)
{
	memcpy(to, from, sizeof(*to));
	to->path = from->path ? xstrdup(from->path) : NULL;
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
		const struct config_key *key = &config_keys[i];

		if (config_key_is_list(key))
			*config_list_slot(to, key) = config_list_copy(
			    *config_list_slot((struct herald_config *)from,
			    key));
		else if (!config_key_is_number(key))
			*config_string_slot(to, key) = xstrdup(
			    *config_string_slot((struct herald_config *)from,
			    key));
	}
}

static const struct config_key *
config_find_key(const char *name)
{
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

static char *
config_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/*
 * Says what an unknown key name was probably meant to be: the closest
 * keys when at most a third of its characters are wrong, else every
 * key, so the operator sees the choice either way.
 */
static void
config_explain_unknown_key(const char *name, struct buf *err)
{
	size_t distance[CONFIG_KEY_COUNT], best = SIZE_MAX, count = 0;

	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
		distance[i] = suggest_edit_distance(name,
		    config_keys[i].name, strlen(name) +
		    strlen(config_keys[i].name));
		if (distance[i] < best)
			best = distance[i];
	}
	if (best * 3 > strlen(name)) {
		buf_append_str(err, " (known keys:");
		for (size_t i = 0; i < CONFIG_KEY_COUNT; i++)
			buf_printf(err, " %s", config_keys[i].name);
		buf_append_str(err, ")");
		return;
	}
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++)
		count += distance[i] == best;
	buf_append_str(err, " (did you mean ");
	for (size_t i = 0, shown = 0; i < CONFIG_KEY_COUNT; i++) {
		if (distance[i] != best)
			continue;
		if (shown > 0)
			buf_append_str(err, shown + 1 == count ? " or " : ", ");
		buf_append_str(err, config_keys[i].name);
		shown++;
	}
	buf_append_str(err, "?)");
}

/*
 * True when value holds a comment: a '#' at its start or after a blank.
 * Only secrets may contain one (see the top of this file).
 */
static int
config_value_has_comment(const char *value)
{
	for (const char *p = value; *p; p++)
		if (*p == '#' && (p == value || p[-1] == ' ' || p[-1] == '\t'))
			return 1;
	return 0;
}

/*
 * Applies one "key = value" line. Returns 0, or -1 with the reason in err
 * (without the FILE:LINE prefix, which the caller adds).
 */
static int
config_apply_line(struct herald_config *cfg, char *line, unsigned number,
    unsigned char *seen, int *has_secret, struct buf *err)
{
	char *equals = strchr(line, '=');
	const struct config_key *key;
	char *name, *value, *argument;

	if (equals == NULL) {
		buf_printf(err, "expected \"key = value\", found \"%s\"",
		    line);
		return -1;
	}
	*equals = '\0';
	name = config_trim(line);
	value = config_trim(equals + 1);
	if (*name == '\0') {
		buf_append_str(err, "missing key name before '='");
		return -1;
	}
	argument = name + strcspn(name, " \t");
	if (*argument) {
		*argument++ = '\0';
		argument = config_trim(argument);
	}
	for (const char *p = name; *p; p++) {
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p)
		    && *p != '_') {
			buf_printf(err, "bad key name \"%s\": keys are "
			    "lower-case letters, digits and '_'", name);
			return -1;
		}
	}
	key = config_find_key(name);
	if (key == NULL) {
		buf_printf(err, "unknown key \"%s\"", name);
		config_explain_unknown_key(name, err);
		return -1;
	}
	for (const char *p = value; *p; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\t') {
			buf_printf(err, "key \"%s\": value contains a control "
			    "character", name);
			return -1;
		}
	}
	if (!config_key_is_secret(key) && config_value_has_comment(value)) {
		buf_printf(err, "key \"%s%s%s\": value \"%s\" has a comment "
		    "after it: herald.conf has no comments after values; move "
		    "the comment to a line of its own, starting with '#'",
		    name, *argument ? " " : "", argument, value);
		return -1;
	}
	if (config_key_is_list(key)) {
		struct config_entry *entry, **tail;

		if (*argument == '\0' || strpbrk(argument, " \t")) {
			buf_printf(err, "key \"%s\" needs one argument before "
			    "'=', as in \"%s NAME = VALUE\"", name, name);
			return -1;
		}
		if (key->type == CONFIG_RATE_LIST &&
		    config_parse_rate(value) < 0) {
			buf_printf(err, "key \"%s %s\": bad rate \"%s\": "
			    "expected a rate such as 20000/h, 300/m or 5/s",
			    name, argument, value);
			return -1;
		}
		if (config_list_lookup(*config_list_slot(cfg, key), argument)) {
			buf_printf(err, "key \"%s %s\" is set twice", name,
			    argument);
			return -1;
		}
		if (key->check) {
			struct buf why = BUF_INIT;
			int bad = key->check(argument, value, &why);

			if (bad)
				buf_printf(err, "key \"%s %s\": %s", name,
				    argument, buf_str(&why));
			buf_free(&why);
			if (bad)
				return -1;
		}
		entry = xcalloc(1, sizeof(*entry));
		entry->argument = xstrdup(argument);
		entry->value = xstrdup(value);
		entry->line = number;
		tail = config_list_slot(cfg, key);
		while (*tail)
			tail = &(*tail)->next;
		*tail = entry;
		if (key->type == CONFIG_SECRET_LIST && *value)
			*has_secret = 1;
		return 0;
	}
	if (*argument) {
		buf_printf(err, "key \"%s\" takes no argument before '=' "
		    "(found \"%s\")", name, argument);
		return -1;
	}
	size_t index = (size_t)(key - config_keys);
	if (seen[index]) {
		buf_printf(err, "key \"%s\" is set twice", name);
		return -1;
	}
	seen[index] = 1;
	if (config_key_is_number(key)) {
		const char *why = config_parse_number(key, value,
		    config_number_slot(cfg, key));

		if (why) {
			buf_printf(err, "key \"%s\": bad value \"%s\": %s",
			    name, value, why);
			if (strcmp(why, "out of range") == 0)
				buf_printf(err, " (%ld to %ld)", key->min,
				    key->max);
			return -1;
		}
		return 0;
	}
	if (key->type == CONFIG_SCHEDULE) {
		long delays[CONFIG_SCHEDULE_MAX];

		if (config_parse_schedule(value, delays, CONFIG_SCHEDULE_MAX) <
		    1) {
			buf_printf(err, "key \"%s\": bad value \"%s\": expected "
			    "1 to %d durations separated by spaces, such as "
			    "\"5m 30m 2h 6h\"", name, value, CONFIG_SCHEDULE_MAX);
			return -1;
		}
	}
	if (key->check) {
		struct buf why = BUF_INIT;
		int bad = key->check("", value, &why);

		if (bad)
			buf_printf(err, "key \"%s\": %s", name, buf_str(&why));
		buf_free(&why);
		if (bad)
			return -1;
	}
	if (key->type == CONFIG_SECRET && *value)
		*has_secret = 1;
	free(*config_string_slot(cfg, key));
	*config_string_slot(cfg, key) = xstrdup(value);
	return 0;
}

/* Secrets may not sit in a file that group or others can read. */
static int
config_check_secret_file(const char *path, int fd, struct buf *err)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		buf_printf(err, "%s: cannot stat: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		buf_printf(err, "%s: holds a secret (a password or key) but "
		    "its mode %03o lets other users read it: run "
		    "\"chmod 600 %s\"", path, (unsigned)(st.st_mode & 0777),
		    path);
		return -1;
	}
	return 0;
}

int
config_read_secret_file(const char *path, struct buf *secret,
    struct buf *err)
{
	char text[1024];
	size_t length;
	FILE *fp = fopen(path, "r");
	int rc = -1;

	if (fp == NULL) {
		buf_printf(err, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (config_check_secret_file(path, fileno(fp), err) != 0)
		goto out;
	if (fgets(text, sizeof(text), fp) == NULL) {
		if (ferror(fp))
			buf_printf(err, "%s: read error: %s", path,
			    strerror(errno));
		else
			buf_printf(err, "%s: is empty; it must hold the "
			    "password on its first line", path);
		goto out;
	}
	length = strcspn(text, "\r\n");
	if (length == 0 || length == sizeof(text) - 1) {
		buf_printf(err, "%s: the first line must hold the password "
		    "(1 to %zu characters)", path, sizeof(text) - 2);
		goto out;
	}
	buf_append(secret, text, length);
	rc = 0;
out:
	explicit_bzero(text, sizeof(text));
	fclose(fp);
	return rc;
}

/*
 * What one line cannot check: AUTH needs its password file and required
 * TLS (a password in clear, or to whoever strips STARTTLS, is a password
 * given away), and route_* keys need their route.
 */
static int
config_check_relay_security(const struct herald_config *cfg,
    const char *path, struct buf *err)
{
	static const char why_tls[] = "AUTH sends the password, which only "
	    "TLS with a verified certificate keeps from others";

	if (cfg->relay_auth_user[0] && !cfg->relay_auth_password_file[0]) {
		buf_printf(err, "%s: relay_auth_user is set but "
		    "relay_auth_password_file is not", path);
		return -1;
	}
	if (!cfg->relay_auth_user[0] && cfg->relay_auth_password_file[0]) {
		buf_printf(err, "%s: relay_auth_password_file is set but "
		    "relay_auth_user is not", path);
		return -1;
	}
	if (cfg->relay_auth_user[0] &&
	    config_parse_tls(cfg->relay_tls) != CONFIG_TLS_REQUIRED) {
		buf_printf(err, "%s: relay_auth_user needs relay_tls = "
		    "required: %s", path, why_tls);
		return -1;
	}
	for (const struct config_entry *e = cfg->route_auth_user; e;
	    e = e->next) {
		const char *tls = config_list_lookup(cfg->route_tls,
		    e->argument);

		if (config_list_lookup(cfg->route_auth_password_file,
		    e->argument) == NULL) {
			buf_printf(err, "%s:%u: route_auth_user %s needs "
			    "route_auth_password_file %s", path, e->line,
			    e->argument, e->argument);
			return -1;
		}
		if (tls == NULL || config_parse_tls(tls) !=
		    CONFIG_TLS_REQUIRED) {
			buf_printf(err, "%s:%u: route_auth_user %s needs "
			    "route_tls %s = required: %s", path, e->line,
			    e->argument, e->argument, why_tls);
			return -1;
		}
	}
	const struct config_entry *lists[] = { cfg->route_tls,
	    cfg->route_auth_user, cfg->route_auth_password_file };
	const char *names[] = { "route_tls", "route_auth_user",
	    "route_auth_password_file" };
	for (size_t i = 0; i < 3; i++) {
		for (const struct config_entry *e = lists[i]; e; e = e->next) {
			if (config_list_lookup(cfg->route, e->argument))
				continue;
			buf_printf(err, "%s:%u: %s %s: there is no \"route "
			    "%s = HOST\" line", path, e->line, names[i],
			    e->argument, e->argument);
			return -1;
		}
	}
	for (const struct config_entry *e = cfg->route_auth_password_file; e;
	    e = e->next) {
		if (config_list_lookup(cfg->route_auth_user, e->argument))
			continue;
		buf_printf(err, "%s:%u: route_auth_password_file %s is set but "
		    "route_auth_user %s is not", path, e->line, e->argument,
		    e->argument);
		return -1;
	}
	return 0;
}

static int
config_read_file(struct herald_config *cfg, const char *path, FILE *fp,
    struct buf *err)
{
	unsigned char seen[CONFIG_KEY_COUNT] = { 0 };
	char *line = NULL;
	size_t size = 0;
	ssize_t got;
	unsigned number = 0;
	int has_secret = 0, rc = 0;

	while ((got = getline(&line, &size, fp)) != -1) {
		char *text;

		number++;
		if ((size_t)got != strlen(line)) {
			buf_printf(err, "%s:%u: line contains a NUL byte",
			    path, number);
			rc = -1;
			break;
		}
		if (got > 0 && line[got - 1] == '\n')
			line[got - 1] = '\0';
		text = config_trim(line);
		if (*text == '\0' || *text == '#')
			continue;
		struct buf why = BUF_INIT;
		if (config_apply_line(cfg, text, number, seen, &has_secret,
		    &why)) {
			buf_printf(err, "%s:%u: %s", path, number,
			    buf_str(&why));
			buf_free(&why);
			rc = -1;
			break;
		}
		buf_free(&why);
	}
	if (rc == 0 && ferror(fp)) {
		buf_printf(err, "%s: read error: %s", path, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && has_secret)
		rc = config_check_secret_file(path, fileno(fp), err);
	if (rc == 0)
		rc = config_check_relay_security(cfg, path, err);
	if (rc == 0) {
		struct buf why = BUF_INIT;

		rc = config_check_embedded_port(cfg, &why);
		if (rc != 0)
			buf_printf(err, "%s: %s", path, buf_str(&why));
		buf_free(&why);
	}
	free(line);
	return rc;
}

int
config_load(struct herald_config *cfg, const char *path, struct buf *err)
{
	struct herald_config work;
	FILE *fp;
	int rc;

	fp = fopen(path, "r");
	if (fp == NULL) {
		buf_printf(err, "%s: cannot open configuration: %s", path,
		    strerror(errno));
		return -1;
	}
	config_copy(&work, cfg);
	rc = config_read_file(&work, path, fp, err);
	fclose(fp);
	if (rc != 0) {
		config_free(&work);
		return -1;
	}
	free(work.path);
	work.path = xstrdup(path);
	config_free(cfg);
	*cfg = work;
	return 0;
}

int
config_locate_and_load(struct herald_config *cfg, const char *explicit,
    struct buf *err)
{
	const char *path = explicit;

	if (path == NULL || *path == '\0')
		path = getenv("HERALD_CONFIG");
	if (path == NULL || *path == '\0') {
		path = HERALD_SYSCONFDIR "/herald.conf";
		if (access(path, F_OK) != 0)
			return 0;
	}
	return config_load(cfg, path, err);
}

void
config_print(const struct herald_config *cfg, FILE *out)
{
	fprintf(out, "# configuration: %s\n",
	    cfg->path ? cfg->path : "(built-in defaults)");
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
		const struct config_key *key = &config_keys[i];
		struct herald_config *c = (struct herald_config *)cfg;

		if (config_key_is_list(key)) {
			const struct config_entry *e = *config_list_slot(c,
			    key);

			if (e == NULL)
				fprintf(out, "# %s: none\n", key->name);
			for (; e; e = e->next)
				fprintf(out, "%s %s = %s\n", key->name,
				    e->argument, key->type ==
				    CONFIG_SECRET_LIST ? "(set, hidden)" :
				    e->value);
		} else if (key->type == CONFIG_RATE) {
			long rate = *config_number_slot(c, key);

			fprintf(out, rate ? "%s = %ld/h\n" : "%s = %ld\n",
			    key->name, rate);
		} else if (key->type == CONFIG_PERCENT) {
			char shown[32];

			config_format_percent(*config_number_slot(c, key),
			    shown, sizeof(shown));
			fprintf(out, "%s = %s\n", key->name, shown);
		} else if (config_key_is_number(key))
			fprintf(out, "%s = %ld\n", key->name,
			    *config_number_slot(c, key));
		else if (key->type == CONFIG_SECRET)
			fprintf(out, "%s = %s\n", key->name,
			    **config_string_slot(c, key) ? "(set, hidden)" :
			    "");
		else
			fprintf(out, "%s = %s\n", key->name,
			    *config_string_slot(c, key));
	}
}

/* What the man page calls each type. */
static const char *const config_type_names[] = {
	[CONFIG_STRING] = "text",
	[CONFIG_PATH] = "path",
	[CONFIG_SECRET] = "secret",
	[CONFIG_INTEGER] = "integer",
	[CONFIG_DURATION] = "duration",
	[CONFIG_LIST] = "text",
	[CONFIG_SECRET_LIST] = "secret",
	[CONFIG_RATE] = "rate",
	[CONFIG_RATE_LIST] = "rate",
	[CONFIG_SCHEDULE] = "durations",
	[CONFIG_PERCENT] = "percentage",
};

int
config_key_doc(size_t index, struct config_key_doc *doc)
{
	const struct config_key *key;

	if (index >= CONFIG_KEY_COUNT)
		return -1;
	key = &config_keys[index];
	memset(doc, 0, sizeof(*doc));
	doc->name = key->name;
	doc->argument = key->argument;
	doc->type = config_type_names[key->type];
	doc->duration = key->type == CONFIG_DURATION;
	doc->ranged = key->type == CONFIG_INTEGER || doc->duration;
	doc->min = key->min;
	doc->max = key->max;
	doc->default_value = key->default_value;
	doc->documented_default = key->default_value;
	for (size_t i = 0; i < sizeof(config_built_defaults) /
	    sizeof(config_built_defaults[0]); i++)
		if (strcmp(config_built_defaults[i].key, key->name) == 0)
			doc->documented_default = config_built_defaults[i].shown;
	doc->description = key->description;
	/* The group is the last one starting at or before this key. */
	for (size_t i = 0; i <= index; i++)
		for (size_t g = 0; g < sizeof(config_groups) /
		    sizeof(config_groups[0]); g++)
			if (strcmp(config_groups[g].first_key,
			    config_keys[i].name) == 0)
				doc->group = config_groups[g].heading;
	return 0;
}

int
config_uses_embedded_database(const struct herald_config *cfg)
{
	return cfg->database_host[0] == '\0' &&
	    cfg->database_socket[0] == '\0';
}

int
config_check_embedded_port(const struct herald_config *cfg, struct buf *why)
{
	if (cfg->embedded_port == 0 || !config_uses_embedded_database(cfg) ||
	    (cfg->daemon_database_user[0] && cfg->daemon_database_password[0]))
		return 0;
	buf_printf(why, "embedded_port = %ld opens the embedded database on "
	    "127.0.0.1:%ld, where other nodes log in as the daemon's "
	    "account: set daemon_database_user and daemon_database_password "
	    "(herald db init creates the account), or embedded_port = 0",
	    cfg->embedded_port, cfg->embedded_port);
	return -1;
}

char *
config_database_socket(const struct herald_config *cfg)
{
	struct buf path = BUF_INIT;

	if (cfg->database_socket[0])
		return xstrdup(cfg->database_socket);
	if (cfg->database_host[0])
		return NULL;
	buf_printf(&path, "%s/mariadb/mysqld.sock", cfg->state_directory);
	return buf_steal(&path);
}
