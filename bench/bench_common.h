/*
 * bench_common.h - what the storage benchmarks share: a monotonic clock in
 * seconds, the xorshift generator, and db_bench's half-compressible value
 * source (RandomGenerator: 25 random printable bytes repeated once per 50),
 * and an embedded KMS with its provider and key cache.
 */
#ifndef COFFER_BENCH_COMMON_H
#define COFFER_BENCH_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kms/kms.h"
#include "storage/storage.h"
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

/* An embedded KMS in <dir>/kms with its service key, a provider and a key
 * cache, for a bench's tables; *data_dir = "<dir>/data" (caller frees). */
struct bench_keys {
	struct coffer_kms *kms;
	struct coffer_key_provider *provider;
	struct coffer_key_cache *cache;
	char svc[COFFER_KMS_ARN_MAX];
};

static inline coffer_rc bench_keys_open(const char *dir, struct bench_keys *k, char **data_dir)
{
	char *kdir = coffer_xasprintf("%s/kms", dir);
	struct coffer_kms_config kc;
	coffer_kms_config_default(&kc);
	kc.data_dir = kdir;
	kc.audit_fd = -2;
	coffer_rc rc = coffer_kms_open(&kc, &k->kms);
	if (rc == COFFER_OK && (rc = coffer_kms_service_key(k->kms, k->svc)) != COFFER_OK)
		coffer_kms_close(k->kms);
	free(kdir);
	if (rc != COFFER_OK)
		return rc;
	k->provider = coffer_key_provider_embedded(k->kms);
	k->cache = coffer_key_cache_new(NULL);
	*data_dir = coffer_xasprintf("%s/data", dir);
	return COFFER_OK;
}

static inline void bench_keys_close(struct bench_keys *k)
{
	coffer_key_cache_free(k->cache);
	coffer_key_provider_free(k->provider);
	coffer_kms_close(k->kms);
}

#endif
