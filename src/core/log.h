/*
 * log.h - one diagnostics family for every herald program.
 *
 * msg_info(), msg_warn() and msg_error() report; msg_fatal() reports and
 * exits with status 1. The CLI writes to stderr ("herald: error: ..."),
 * the daemon to syslog facility mail (or stderr when in the foreground).
 * The text is the same either way: it names the object that is wrong
 * (file:line:col, configuration key, mailing id, recipient id) and what
 * to do about it.
 */
#ifndef HERALD_LOG_H
#define HERALD_LOG_H

#include <stdarg.h>

enum log_destination {
	LOG_TO_STDERR,		/* CLI, and heraldd -f */
	LOG_TO_SYSLOG,		/* the daemon: facility mail */
	LOG_TO_BOTH,		/* herald bounce under Postfix's pipe(8):
				 * Postfix keeps stderr only when the
				 * command fails, syslog keeps the rest */
};

/* Sets the program name shown in every message and where messages go. */
void log_open(const char *program, enum log_destination destination);

/* Closes and reopens syslog (SIGUSR1 in the daemon). */
void log_reopen(void);

/* Verbose messages (msg_debug) are shown only when this is on. */
void log_set_verbose(int verbose);

void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/*
 * The word for a count: singular when n is 1, plural otherwise, as in
 * printf("%llu %s", n, msg_plural(n, "recipient", "recipients")).
 * Returns one of its arguments.
 */
const char *msg_plural(unsigned long long n, const char *singular,
    const char *plural);

/* Counts msg_error() and msg_fatal() calls since start (for tests). */
unsigned log_error_count(void);

#endif
