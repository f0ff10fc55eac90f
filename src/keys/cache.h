/*
 * cache.h - the table-key cache (DESIGN.md section 2, rule 6).
 *
 * Plaintext table keys live here, in secret buffers, for as long as they are
 * in use: an entry is evicted and wiped once it has not been used for
 * `idle_us` (5 minutes by default, as Keyspaces) or once it is older than
 * `max_age_us` (0: no limit), by the injectable clock. The next use after an
 * eviction has to ask the key provider again, so a disabled key or a revoked
 * grant takes effect within one idle period.
 *
 * Invariants:
 *  1. Keys leave the cache only as copies into a caller's struct coffer_secret.
 *  2. An expired entry is never returned: get() checks the clock itself, so a
 *     missed sweep cannot extend a key's life.
 *  3. Every eviction wipes the key (coffer_secret_free).
 * Thread-safe: one mutex; the critical sections are a short list walk.
 */
#ifndef COFFER_KEYS_CACHE_H
#define COFFER_KEYS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/clock.h"

#define COFFER_KEY_CACHE_DEFAULT_IDLE_US (300 * COFFER_US_PER_SEC)

struct coffer_key_cache_config {
	const struct coffer_clock *clock; /* NULL: system clock */
	int64_t idle_us;                  /* 0: the default, 5 minutes */
	int64_t max_age_us;               /* 0: no maximum age */
};

struct coffer_key_cache;

struct coffer_key_cache *coffer_key_cache_new(const struct coffer_key_cache_config *cfg);
/* Wipes every key. NULL is a no-op. */
void coffer_key_cache_free(struct coffer_key_cache *c);

/* Copies the key cached for (owner, version) into `out` (the caller frees it
 * with coffer_secret_free) and marks it used. False, with `out` empty, if
 * there is none or it has expired (then it is wiped now). */
bool coffer_key_cache_get(struct coffer_key_cache *c, const char *owner, uint32_t version,
			  struct coffer_secret *out);
/* Marks the entry used without copying the key (the hot path's liveness
 * check). False if there is none or it has expired. */
bool coffer_key_cache_touch(struct coffer_key_cache *c, const char *owner, uint32_t version);
/* Whether a live entry exists, without touching its idle timer. */
bool coffer_key_cache_peek(struct coffer_key_cache *c, const char *owner, uint32_t version);
/* Caches a copy of `key` (replacing any entry for the same owner and version). */
void coffer_key_cache_put(struct coffer_key_cache *c, const char *owner, uint32_t version,
			  const struct coffer_secret *key);
/* Wipes every version cached for `owner` (table dropped, key changed). */
void coffer_key_cache_drop(struct coffer_key_cache *c, const char *owner);
/* Evicts expired entries now; returns how many. */
size_t coffer_key_cache_sweep(struct coffer_key_cache *c);
size_t coffer_key_cache_count(struct coffer_key_cache *c);
/* The idle period in force (the health check's re-validation period). */
int64_t coffer_key_cache_idle_us(const struct coffer_key_cache *c);
/* Evictions since creation (expiry and drop). */
uint64_t coffer_key_cache_evictions(struct coffer_key_cache *c);

#endif
