/*
 * config.c - reading herald.conf (see config.h).
 *
 * One table (config_keys) names every key, its type, its default and its
 * bounds; parsing, defaults and "herald config check --show" all walk it,
 * so a key cannot exist in one place and be missing in another.
 *
 * We parse the file ourselves rather than with inih: Debian's inih strips
 * " ;..." as an inline comment and joins indented lines to the previous
 * value, either of which would silently change a password, and its
 * handler is not told the line number it is on.
 */
#include "config.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
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
};

struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;		/* into struct herald_config */
	const char *default_value;
	long min, max;		/* for integers and durations */
};

#define STR(field, type, def) \
	{ #field, type, offsetof(struct herald_config, field), def, 0, 0 }
#define NUM(field, type, def, lo, hi) \
	{ #field, type, offsetof(struct herald_config, field), def, lo, hi }

static const struct config_key config_keys[] = {
	STR(state_directory, CONFIG_PATH, HERALD_STATEDIR),
	STR(sql_directory, CONFIG_PATH, HERALD_SQLDIR),
	STR(pid_file, CONFIG_PATH, ""),
	STR(user, CONFIG_STRING, ""),

	STR(database_host, CONFIG_STRING, ""),
	NUM(database_port, CONFIG_INTEGER, "3306", 1, 65535),
	STR(database_socket, CONFIG_PATH, ""),
	STR(database_name, CONFIG_STRING, "herald"),
	STR(database_user, CONFIG_STRING, "root"),
	STR(database_password, CONFIG_SECRET, ""),
	NUM(database_connect_timeout, CONFIG_DURATION, "10", 1, 3600),

	STR(embedded_mariadbd, CONFIG_PATH, "/usr/sbin/mariadbd"),
	STR(embedded_install_db, CONFIG_PATH, "/usr/bin/mariadb-install-db"),
	NUM(embedded_port, CONFIG_INTEGER, "0", 0, 65535),
	NUM(embedded_table_open_cache, CONFIG_INTEGER, "10000", 64, 1000000),
	NUM(embedded_start_timeout, CONFIG_DURATION, "60", 1, 3600),

	NUM(worker_count, CONFIG_INTEGER, "4", 1, 256),
	NUM(worker_stall_timeout, CONFIG_DURATION, "60", 2, 86400),
	NUM(worker_kill_grace, CONFIG_DURATION, "5", 1, 600),
	NUM(worker_respawn_delay_limit, CONFIG_DURATION, "60", 1, 3600),
	NUM(batch_time_limit, CONFIG_DURATION, "10m", 10, 86400),
	NUM(batch_lease, CONFIG_DURATION, "5m", 10, 86400),
	NUM(batch_size, CONFIG_INTEGER, "1000", 1, 1000000),
	STR(retry_schedule, CONFIG_SCHEDULE, "5m 10m 30m 1h 2h 4h"),
	NUM(compact_after, CONFIG_DURATION, "1d", 0, 31536000),
	NUM(history_union_limit, CONFIG_INTEGER, "1000", 1, 100000),
	NUM(maintain_pack, CONFIG_INTEGER, "1", 0, 1),
	STR(node_name, CONFIG_STRING, ""),

	STR(relay_host, CONFIG_STRING, "127.0.0.1"),
	NUM(relay_port, CONFIG_INTEGER, "25", 1, 65535),
	STR(relay_backup_host, CONFIG_STRING, ""),
	NUM(relay_backup_port, CONFIG_INTEGER, "25", 1, 65535),
	NUM(relay_timeout, CONFIG_DURATION, "30", 1, 3600),
	NUM(relay_session_size, CONFIG_INTEGER, "100", 1, 10000),
	NUM(relay_connections, CONFIG_INTEGER, "2", 1, 32),
	NUM(relay_connect_timeout, CONFIG_DURATION, "10", 1, 3600),
	NUM(relay_retry_limit, CONFIG_DURATION, "10m", 1, 86400),
	STR(helo_name, CONFIG_STRING, ""),

	NUM(rate_limit, CONFIG_RATE, "0", 0, 1000000000),
	STR(domain_rate_limit, CONFIG_RATE_LIST, NULL),
	STR(route, CONFIG_LIST, NULL),

	NUM(metrics_interval, CONFIG_DURATION, "15", 0, 3600),
	STR(gmond_host, CONFIG_STRING, "127.0.0.1"),
	NUM(gmond_port, CONFIG_INTEGER, "8649", 1, 65535),
	STR(gmond_config, CONFIG_PATH, ""),
	STR(postfix_config_directory, CONFIG_PATH, "/etc/postfix"),
	NUM(postfix_queue_limit, CONFIG_INTEGER, "50000", 0, 100000000),

	STR(message_domain, CONFIG_STRING, ""),
	STR(bounce_domain, CONFIG_STRING, ""),
	STR(unsubscribe_url, CONFIG_STRING, ""),
	STR(unsubscribe_mailto, CONFIG_STRING, ""),
	STR(view_online_url, CONFIG_STRING, ""),
	STR(feedback_id_sender, CONFIG_STRING, "herald"),
	STR(token_key, CONFIG_SECRET_LIST, NULL),
	/* (further keys) */
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
	    key->type == CONFIG_RATE;
}

static int
config_key_is_list(const struct config_key *key)
{
	return key->type == CONFIG_LIST || key->type == CONFIG_SECRET_LIST ||
	    key->type == CONFIG_RATE_LIST;
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

static void
config_append_known_keys(struct buf *err)
{
	buf_append_str(err, " (known keys:");
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++)
		buf_printf(err, " %s", config_keys[i].name);
	buf_append_str(err, ")");
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
		config_append_known_keys(err);
		return -1;
	}
	for (const char *p = value; *p; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\t') {
			buf_printf(err, "key \"%s\": value contains a control "
			    "character", name);
			return -1;
		}
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
		entry = xcalloc(1, sizeof(*entry));
		if (strcmp(name, "route") == 0) {
			const char *colon = strrchr(value, ':');

			if (!*argument || !*value || colon == value ||
			    (colon && config_parse_port(colon + 1) < 0)) {
				buf_printf(err, "key \"route\": expected \"route "
				    "DOMAIN = HOST\" or HOST:PORT, found "
				    "\"%s = %s\"", argument, value);
				return -1;
			}
		}
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

int
config_uses_embedded_database(const struct herald_config *cfg)
{
	return cfg->database_host[0] == '\0' &&
	    cfg->database_socket[0] == '\0';
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
