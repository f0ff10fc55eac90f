/*
 * clock.c - the system clock, the manual clock for tests, duration parsing and
 * ISO-8601 formatting.
 *
 * Invariants:
 *  1. The manual clock's readings are read and advanced with __atomic builtins,
 *     so one thread may advance it while others read it.
 *  2. coffer_duration_parse() accepts only a run of decimal digits followed by
 *     an optional unit ("", "us", "ms", "s", "m", "h", "d"); signs, spaces,
 *     fractions and values that overflow int64 microseconds are rejected.
 *  3. coffer_time_iso8601() floors toward the past for negative times, so the
 *     millisecond field is always 000..999.
 */
#include "util/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t clock_read(clockid_t id)
{
	struct timespec ts;

	/* Cannot fail for these clock ids on Linux. */
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * COFFER_US_PER_SEC + ts.tv_nsec / 1000;
}

static int64_t system_now_us(const struct coffer_clock *c)
{
	return clock_read(CLOCK_REALTIME);
}

static int64_t system_mono_us(const struct coffer_clock *c)
{
	return clock_read(CLOCK_MONOTONIC);
}

static const struct coffer_clock system_clock = {system_now_us, system_mono_us};

const struct coffer_clock *coffer_clock_system(void)
{
	return &system_clock;
}

/* The clock is the first member, so the manual clock is at the same address. */
static int64_t manual_now_us(const struct coffer_clock *c)
{
	const struct coffer_manual_clock *m = (const struct coffer_manual_clock *)c;

	return __atomic_load_n(&m->now_us, __ATOMIC_SEQ_CST);
}

static int64_t manual_mono_us(const struct coffer_clock *c)
{
	const struct coffer_manual_clock *m = (const struct coffer_manual_clock *)c;

	return __atomic_load_n(&m->mono_us, __ATOMIC_SEQ_CST);
}

void coffer_manual_clock_init(struct coffer_manual_clock *m, int64_t start_us)
{
	m->clock.now_us = manual_now_us;
	m->clock.mono_us = manual_mono_us;
	__atomic_store_n(&m->now_us, start_us, __ATOMIC_SEQ_CST);
	/* Monotonic time starts at an arbitrary origin, as CLOCK_MONOTONIC does. */
	__atomic_store_n(&m->mono_us, INT64_C(1000000), __ATOMIC_SEQ_CST);
}

void coffer_manual_clock_advance(struct coffer_manual_clock *m, int64_t delta_us)
{
	__atomic_add_fetch(&m->now_us, delta_us, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&m->mono_us, delta_us, __ATOMIC_SEQ_CST);
}

struct duration_unit {
	const char *suffix;
	int64_t us;
};

static const struct duration_unit duration_units[] = {
	{"", COFFER_US_PER_SEC},
	{"us", 1},
	{"ms", 1000},
	{"s", COFFER_US_PER_SEC},
	{"m", 60 * COFFER_US_PER_SEC},
	{"h", 3600 * COFFER_US_PER_SEC},
	{"d", COFFER_US_PER_DAY},
};

COFFER_RESULT coffer_duration_parse(const char *s, int64_t *out_us)
{
	const char *p = s;
	int64_t n = 0;
	size_t i;

	ENSURE(s && *s, COFFER_E_SYNTAX, "duration: empty");
	ENSURE(*p >= '0' && *p <= '9', COFFER_E_SYNTAX,
	       "duration \"%.64s\": expected digits then a unit (us, ms, s, m, h, d)", s);
	for (; *p >= '0' && *p <= '9'; p++) {
		ENSURE(n <= (INT64_MAX - (*p - '0')) / 10, COFFER_E_LIMIT,
		       "duration \"%.64s\": too large", s);
		n = n * 10 + (*p - '0');
	}
	for (i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		const struct duration_unit *u = &duration_units[i];

		if (strcmp(p, u->suffix) != 0)
			continue;
		ENSURE(n <= INT64_MAX / u->us, COFFER_E_LIMIT, "duration \"%.64s\": too large", s);
		*out_us = n * u->us;
		return COFFER_OK;
	}
	BAIL(COFFER_E_SYNTAX, "duration \"%.64s\": unknown unit (expected us, ms, s, m, h or d)", s);
}

void coffer_time_iso8601(int64_t us, char out[32])
{
	int64_t secs = us / COFFER_US_PER_SEC;
	int64_t rem = us % COFFER_US_PER_SEC;
	char tmp[96]; /* room for any int fields, so the compiler sees no truncation */
	time_t t;
	struct tm tm;
	size_t n;

	if (rem < 0) {
		rem += COFFER_US_PER_SEC;
		secs -= 1;
	}
	t = (time_t)secs;
	/* Years past 9999 or before 0 do not fit the format; say so instead. */
	if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
		memcpy(out, "(time out of range)", sizeof("(time out of range)"));
		return;
	}
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(rem / 1000));
	n = strnlen(tmp, 31);
	memcpy(out, tmp, n);
	out[n] = '\0';
}
