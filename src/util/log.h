/*
 * log.h - leveled logging to a stream, one line per event:
 *   2026-11-28T01:02:03.456Z INFO  kms: key 1234... disabled
 * A struct coffer_log travels in each module's context (no global logger).
 * Callers never pass key material or user values (STYLE.md); ids and names only.
 * Thread-safe: each line is written with one write(2).
 */
#ifndef COFFER_UTIL_LOG_H
#define COFFER_UTIL_LOG_H

#include <stdarg.h>

#include "util/clock.h"

enum coffer_log_level {
	COFFER_LOG_DEBUG = 0,
	COFFER_LOG_INFO = 1,
	COFFER_LOG_WARN = 2,
	COFFER_LOG_ERROR = 3,
	COFFER_LOG_OFF = 4,
};

struct coffer_log {
	int fd;                        /* where lines go; -1 discards */
	enum coffer_log_level level;   /* lines below this are dropped */
	const struct coffer_clock *clock;
};

/* A log to `fd` at `level`, timestamped by `clock` (system clock if NULL). */
void coffer_log_init(struct coffer_log *log, int fd, enum coffer_log_level level,
		     const struct coffer_clock *clock);
/* A log that drops everything (for tests and library defaults). */
struct coffer_log *coffer_log_null(void);

void coffer_log_write(const struct coffer_log *log, enum coffer_log_level level,
		      const char *component, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void coffer_log_vwrite(const struct coffer_log *log, enum coffer_log_level level,
		       const char *component, const char *fmt, va_list ap);
/* Parses "debug", "info", "warn", "error", "off". */
int coffer_log_level_parse(const char *s, enum coffer_log_level *out);

#define coffer_log_debug(log, comp, ...) coffer_log_write((log), COFFER_LOG_DEBUG, (comp), __VA_ARGS__)
#define coffer_log_info(log, comp, ...) coffer_log_write((log), COFFER_LOG_INFO, (comp), __VA_ARGS__)
#define coffer_log_warn(log, comp, ...) coffer_log_write((log), COFFER_LOG_WARN, (comp), __VA_ARGS__)
#define coffer_log_error(log, comp, ...) coffer_log_write((log), COFFER_LOG_ERROR, (comp), __VA_ARGS__)

#endif
