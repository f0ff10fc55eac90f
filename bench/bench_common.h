/*
 * bench_common.h - what the storage benchmarks share: a monotonic clock in
 * seconds, the xorshift generator, and db_bench's half-compressible value
 * source (RandomGenerator: 25 random printable bytes repeated once per 50).
 */
#ifndef COFFER_BENCH_COMMON_H
#define COFFER_BENCH_COMMON_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"

static inline double bench_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline uint64_t bench_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A buffer of `len` half-compressible bytes (caller frees). */
static inline uint8_t *bench_values(size_t len, uint64_t seed)
{
	uint8_t *values = coffer_xmalloc(len);
	uint64_t r = seed;
	for (size_t i = 0; i < len; i += 50) {
		uint8_t piece[50];
		for (int j = 0; j < 25; j++)
			piece[j] = (uint8_t)(' ' + bench_rand(&r) % 95);
		memcpy(piece + 25, piece, 25);
		memcpy(values + i, piece, len - i < 50 ? len - i : 50);
	}
	return values;
}

#endif
