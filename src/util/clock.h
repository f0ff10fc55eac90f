/*
 * clock.h - the injectable clock. Everything in coffer that depends on time
 * (deletion windows, rotation periods, quotas, key-cache expiry, grace periods)
 * reads it through a struct coffer_clock, so tests run days in seconds with a
 * manual clock. The system clock is the default.
 */
#ifndef COFFER_UTIL_CLOCK_H
#define COFFER_UTIL_CLOCK_H

#include <stdint.h>

#include "util/result.h"

struct coffer_clock {
	/* Wall-clock time, microseconds since the Unix epoch. */
	int64_t (*now_us)(const struct coffer_clock *c);
	/* Monotonic time, microseconds, for intervals and deadlines. */
	int64_t (*mono_us)(const struct coffer_clock *c);
};

/* The real clocks (CLOCK_REALTIME, CLOCK_MONOTONIC). Static; never freed. */
const struct coffer_clock *coffer_clock_system(void);

/* A clock that moves only when told to; both readings advance together.
 * Thread-safe reads and advances (atomic). */
struct coffer_manual_clock {
	struct coffer_clock clock;
	int64_t now_us;
	int64_t mono_us;
};
void coffer_manual_clock_init(struct coffer_manual_clock *m, int64_t start_us);
void coffer_manual_clock_advance(struct coffer_manual_clock *m, int64_t delta_us);

static inline int64_t coffer_clock_now_us(const struct coffer_clock *c)
{
	return c->now_us(c);
}
static inline int64_t coffer_clock_mono_us(const struct coffer_clock *c)
{
	return c->mono_us(c);
}

#define COFFER_US_PER_SEC INT64_C(1000000)
#define COFFER_US_PER_DAY (INT64_C(86400) * COFFER_US_PER_SEC)

/* Parses a duration with an s/m/h/d suffix (or "ms"/"us"); bare numbers are
 * seconds. "5m" -> 300000000. */
COFFER_RESULT coffer_duration_parse(const char *s, int64_t *out_us);

/* Formats wall-clock microseconds as ISO-8601 UTC with milliseconds
 * ("2026-11-28T01:02:03.456Z") into out (at least 32 bytes). */
void coffer_time_iso8601(int64_t us, char out[32]);
#endif
