/*
 * log.c - leveled logging, one line per event:
 *   2026-11-28T01:02:03.456Z INFO  kms: key 1234... disabled
 *
 * Invariants:
 *  1. Each line is formatted in a stack buffer and written with one write(2),
 *     so lines from different threads never interleave (for pipes, lines up to
 *     PIPE_BUF are atomic; a longer line is truncated to COFFER_LOG_LINE_MAX).
 *  2. A line is always exactly one line: newlines and carriage returns in the
 *     message become spaces, so a message cannot forge another log entry.
 *  3. Logging never fails the caller: write errors are dropped.
 */
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define COFFER_LOG_LINE_MAX 4096

/* Lets the compiler check the forwarded format (clang's -Wformat-nonliteral). */
void coffer_log_vwrite(const struct coffer_log *log, enum coffer_log_level level,
		       const char *component, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void coffer_log_init(struct coffer_log *log, int fd, enum coffer_log_level level,
		     const struct coffer_clock *clock)
{
	log->fd = fd;
	log->level = level;
	log->clock = clock ? clock : coffer_clock_system();
}

static struct coffer_log null_log = {-1, COFFER_LOG_OFF, NULL};

/* Shared and static: callers must not modify it. */
struct coffer_log *coffer_log_null(void)
{
	return &null_log;
}

void coffer_log_write(const struct coffer_log *log, enum coffer_log_level level,
		      const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	coffer_log_vwrite(log, level, component, fmt, ap);
	va_end(ap);
}

void coffer_log_vwrite(const struct coffer_log *log, enum coffer_log_level level,
		       const char *component, const char *fmt, va_list ap)
{
	char line[COFFER_LOG_LINE_MAX];
	char ts[32];
	const struct coffer_clock *clock;
	size_t head, len, i;
	int n;

	if (!log || log->fd < 0 || level < log->level || level < COFFER_LOG_DEBUG ||
	    level >= COFFER_LOG_OFF)
		return;
	clock = log->clock ? log->clock : coffer_clock_system();
	coffer_time_iso8601(coffer_clock_now_us(clock), ts);
	n = snprintf(line, sizeof(line), "%s %s %s: ", ts, level_names[level],
		     component ? component : "-");
	if (n < 0)
		return;
	head = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	n = vsnprintf(line + head, sizeof(line) - head, fmt, ap);
	if (n < 0)
		return;
	len = head + (size_t)n;
	/* Keep room for the newline; mark a cut line with "...". */
	if (len > sizeof(line) - 2) {
		len = sizeof(line) - 2;
		memcpy(line + len - 3, "...", 3);
	}
	for (i = head; i < len; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	line[len++] = '\n';
	for (;;) {
		ssize_t w = write(log->fd, line, len);

		if (w >= 0 || errno != EINTR)
			break;
	}
}

int coffer_log_level_parse(const char *s, enum coffer_log_level *out)
{
	static const struct {
		const char *name;
		enum coffer_log_level level;
	} names[] = {
		{"debug", COFFER_LOG_DEBUG}, {"info", COFFER_LOG_INFO},
		{"warn", COFFER_LOG_WARN},   {"warning", COFFER_LOG_WARN},
		{"error", COFFER_LOG_ERROR}, {"off", COFFER_LOG_OFF},
	};
	size_t i;

	if (!s)
		return -1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return -1;
}
