/*
 * cache.c - the table-key cache (cache.h). A short list under a mutex: a
 * server holds one entry per open table, and a lookup happens only when a
 * table needs its key (opening files, new commit-log segment, flush), not per
 * row.
 *
 * Entry life:
 *
 *   put ──► LIVE ──(get: last_used = now)──► LIVE
 *             │ now - last_used >= idle  or  now - loaded >= max_age
 *             ▼
 *           WIPED (coffer_secret_free; entry unlinked)
 */
#include "keys/cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

struct entry {
	struct entry *next;
	char *owner;
	uint32_t version;
	struct coffer_secret key;
	int64_t loaded_us;
	int64_t last_used_us;
};

struct coffer_key_cache {
	pthread_mutex_t mu;
	const struct coffer_clock *clock;
	int64_t idle_us;
	int64_t max_age_us;
	struct entry *head;
	size_t count;
	uint64_t evictions;
};

struct coffer_key_cache *coffer_key_cache_new(const struct coffer_key_cache_config *cfg)
{
	struct coffer_key_cache *c = COFFER_NEW(struct coffer_key_cache);
	pthread_mutex_init(&c->mu, NULL);
	c->clock = cfg && cfg->clock ? cfg->clock : coffer_clock_system();
	c->idle_us = cfg && cfg->idle_us > 0 ? cfg->idle_us : COFFER_KEY_CACHE_DEFAULT_IDLE_US;
	c->max_age_us = cfg ? cfg->max_age_us : 0;
	return c;
}

static void entry_free(struct entry *e)
{
	coffer_secret_free(&e->key);
	free(e->owner);
	free(e);
}

static bool expired(const struct coffer_key_cache *c, const struct entry *e, int64_t now)
{
	if (now - e->last_used_us >= c->idle_us)
		return true;
	return c->max_age_us > 0 && now - e->loaded_us >= c->max_age_us;
}

/* Unlinks and wipes matching entries; caller holds mu. */
static size_t evict_locked(struct coffer_key_cache *c, const char *owner, bool only_expired)
{
	int64_t now = coffer_clock_mono_us(c->clock);
	size_t n = 0;
	struct entry **pp = &c->head;
	while (*pp) {
		struct entry *e = *pp;
		bool match = owner ? strcmp(e->owner, owner) == 0 : true;
		if (match && (!only_expired || expired(c, e, now))) {
			*pp = e->next;
			entry_free(e);
			c->count--;
			c->evictions++;
			n++;
		} else {
			pp = &e->next;
		}
	}
	return n;
}

void coffer_key_cache_free(struct coffer_key_cache *c)
{
	if (!c)
		return;
	while (c->head) {
		struct entry *e = c->head;
		c->head = e->next;
		entry_free(e);
	}
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static struct entry *find_locked(struct coffer_key_cache *c, const char *owner, uint32_t version)
{
	for (struct entry *e = c->head; e; e = e->next)
		if (e->version == version && strcmp(e->owner, owner) == 0)
			return e;
	return NULL;
}

bool coffer_key_cache_get(struct coffer_key_cache *c, const char *owner, uint32_t version,
			  struct coffer_secret *out)
{
	out->ptr = NULL;
	out->len = 0;
	pthread_mutex_lock(&c->mu);
	evict_locked(c, owner, true); /* invariant 2 */
	struct entry *e = find_locked(c, owner, version);
	if (e) {
		e->last_used_us = coffer_clock_mono_us(c->clock);
		coffer_secret_from(out, e->key.ptr, e->key.len);
	}
	pthread_mutex_unlock(&c->mu);
	return e != NULL;
}

bool coffer_key_cache_touch(struct coffer_key_cache *c, const char *owner, uint32_t version)
{
	pthread_mutex_lock(&c->mu);
	evict_locked(c, owner, true);
	struct entry *e = find_locked(c, owner, version);
	if (e)
		e->last_used_us = coffer_clock_mono_us(c->clock);
	pthread_mutex_unlock(&c->mu);
	return e != NULL;
}

bool coffer_key_cache_peek(struct coffer_key_cache *c, const char *owner, uint32_t version)
{
	pthread_mutex_lock(&c->mu);
	evict_locked(c, owner, true);
	bool found = find_locked(c, owner, version) != NULL;
	pthread_mutex_unlock(&c->mu);
	return found;
}

void coffer_key_cache_put(struct coffer_key_cache *c, const char *owner, uint32_t version,
			  const struct coffer_secret *key)
{
	int64_t now = coffer_clock_mono_us(c->clock);
	pthread_mutex_lock(&c->mu);
	struct entry *e = find_locked(c, owner, version);
	if (!e) {
		e = COFFER_NEW(struct entry);
		e->owner = coffer_xstrdup(owner);
		e->version = version;
		e->next = c->head;
		c->head = e;
		c->count++;
	} else {
		coffer_secret_free(&e->key);
	}
	coffer_secret_from(&e->key, key->ptr, key->len);
	e->loaded_us = now;
	e->last_used_us = now;
	pthread_mutex_unlock(&c->mu);
}

void coffer_key_cache_drop(struct coffer_key_cache *c, const char *owner)
{
	pthread_mutex_lock(&c->mu);
	evict_locked(c, owner, false);
	pthread_mutex_unlock(&c->mu);
}

size_t coffer_key_cache_sweep(struct coffer_key_cache *c)
{
	pthread_mutex_lock(&c->mu);
	size_t n = evict_locked(c, NULL, true);
	pthread_mutex_unlock(&c->mu);
	return n;
}

size_t coffer_key_cache_count(struct coffer_key_cache *c)
{
	pthread_mutex_lock(&c->mu);
	size_t n = c->count;
	pthread_mutex_unlock(&c->mu);
	return n;
}

uint64_t coffer_key_cache_evictions(struct coffer_key_cache *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t n = c->evictions;
	pthread_mutex_unlock(&c->mu);
	return n;
}

int64_t coffer_key_cache_idle_us(const struct coffer_key_cache *c)
{
	return c->idle_us; /* set once at creation */
}
