/*
 * log.c - the msg_* diagnostics family (see log.h).
 *
 * Every message has the same shape: "program: level: text". In the
 * daemon the same text goes to syslog with the matching priority, so an
 * operator reading either finds the same words.
 */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

static const char *log_program = "herald";
static enum log_destination log_where = LOG_TO_STDERR;
static int log_verbose;
static unsigned log_errors;

void
log_open(const char *program, enum log_destination destination)
{
	log_program = program;
	log_where = destination;
	if (destination != LOG_TO_STDERR)
		openlog(program, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_reopen(void)
{
	if (log_where == LOG_TO_STDERR)
		return;
	closelog();
	openlog(log_program, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_verbose(int verbose)
{
	log_verbose = verbose;
}

const char *
msg_plural(unsigned long long n, const char *singular, const char *plural)
{
	return n == 1 ? singular : plural;
}

unsigned
log_error_count(void)
{
	return log_errors;
}

static void
log_emit(int priority, const char *level, const char *fmt, va_list ap)
{
	if (log_where != LOG_TO_STDERR) {
		char text[4096];
		va_list copy;

		va_copy(copy, ap);
		vsnprintf(text, sizeof(text), fmt, copy);
		va_end(copy);
		syslog(priority, "%s: %s", level, text);
		if (log_where == LOG_TO_SYSLOG)
			return;
	}
	fprintf(stderr, "%s: %s: ", log_program, level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
msg_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_emit(LOG_DEBUG, "debug", fmt, ap);
	va_end(ap);
}

void
msg_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_INFO, "info", fmt, ap);
	va_end(ap);
}

void
msg_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, "warning", fmt, ap);
	va_end(ap);
}

void
msg_error(const char *fmt, ...)
{
	va_list ap;

	log_errors++;
	va_start(ap, fmt);
	log_emit(LOG_ERR, "error", fmt, ap);
	va_end(ap);
}

void
msg_fatal(const char *fmt, ...)
{
	va_list ap;

	log_errors++;
	va_start(ap, fmt);
	log_emit(LOG_CRIT, "fatal", fmt, ap);
	va_end(ap);
	exit(1);
}
