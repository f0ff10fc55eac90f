/*
 * blockcache.c - an LRU cache of decrypted, decompressed SSTable data blocks,
 * shared by a table's readers, bounded in bytes, split into shards (each with
 * its own lock and LRU list) so concurrent readers rarely meet.
 *
 * Invariants:
 *  1. A block in the cache holds one reference for the cache; each get/put
 *     returns one more to the caller, released with block_cache_release().
 *     Memory is freed when the last reference goes.
 *  2. Eviction removes least-recently-used blocks of a shard until the shard
 *     is within its share of the capacity; a block still referenced by a
 *     reader stays alive (only the cache's reference is dropped).
 *  3. Blocks of a deleted SSTable are dropped (block_cache_drop_file) so a
 *     reused file id can never see stale plaintext.
 */
#include <stdlib.h>

#include "storage/storage_internal.h"
#include "util/alloc.h"

#define SHARDS 16
#define BUCKETS 1024 /* per shard */

struct shard {
	pthread_mutex_t mu;
	size_t capacity, used;
	struct cached_block *buckets[BUCKETS];
	struct cached_block head; /* LRU sentinel: head.lru_next is the most recent */
	uint64_t hits, misses;
};

struct block_cache {
	struct shard s[SHARDS];
};

static uint64_t hash(uint64_t f, uint64_t b)
{
	uint64_t h = f * UINT64_C(0x9e3779b97f4a7c15) ^ (b + UINT64_C(0x632be59bd9b4e019));
	h ^= h >> 29;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	return h ^ (h >> 32);
}

static struct shard *shard_of(struct block_cache *c, uint64_t f, uint64_t b, size_t *bucket)
{
	uint64_t h = hash(f, b);
	*bucket = (size_t)((h >> 4) & (BUCKETS - 1));
	return &c->s[h & (SHARDS - 1)];
}

struct block_cache *block_cache_new(size_t capacity)
{
	struct block_cache *c = COFFER_NEW(struct block_cache);
	for (int i = 0; i < SHARDS; i++) {
		pthread_mutex_init(&c->s[i].mu, NULL);
		c->s[i].capacity = capacity / SHARDS;
		c->s[i].head.lru_next = c->s[i].head.lru_prev = &c->s[i].head;
	}
	return c;
}

static void unref(struct cached_block *b)
{
	if (atomic_fetch_sub(&b->refs, 1) == 1) {
		coffer_buf_free(&b->data);
		free(b);
	}
}

static void lru_unlink(struct cached_block *b)
{
	b->lru_prev->lru_next = b->lru_next;
	b->lru_next->lru_prev = b->lru_prev;
}

static void lru_front(struct shard *s, struct cached_block *b)
{
	b->lru_next = s->head.lru_next;
	b->lru_prev = &s->head;
	s->head.lru_next->lru_prev = b;
	s->head.lru_next = b;
}

static void remove_locked(struct block_cache *c, struct shard *s, struct cached_block *b)
{
	size_t bk;
	(void)shard_of(c, b->file_id, b->block_no, &bk);
	struct cached_block **pp = &s->buckets[bk];
	while (*pp && *pp != b)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = b->hnext;
	lru_unlink(b);
	s->used -= b->data.len;
	unref(b);
}

void block_cache_free(struct block_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->s[i];
		while (s->head.lru_next != &s->head)
			remove_locked(c, s, s->head.lru_next);
		pthread_mutex_destroy(&s->mu);
	}
	free(c);
}

struct cached_block *block_cache_get(struct block_cache *c, uint64_t f, uint64_t no)
{
	size_t bk;
	struct shard *s = shard_of(c, f, no, &bk);
	pthread_mutex_lock(&s->mu);
	struct cached_block *b = s->buckets[bk];
	while (b && !(b->file_id == f && b->block_no == no))
		b = b->hnext;
	if (b) {
		atomic_fetch_add(&b->refs, 1);
		lru_unlink(b);
		lru_front(s, b);
		s->hits++;
	} else {
		s->misses++;
	}
	pthread_mutex_unlock(&s->mu);
	return b;
}

struct cached_block *block_cache_put(struct block_cache *c, uint64_t f, uint64_t no,
				     struct coffer_buf *data)
{
	struct cached_block *nb = COFFER_NEW(struct cached_block);
	nb->file_id = f;
	nb->block_no = no;
	nb->data = *data;
	*data = (struct coffer_buf){0};
	atomic_store(&nb->refs, 2);
	size_t bk;
	struct shard *s = shard_of(c, f, no, &bk);
	pthread_mutex_lock(&s->mu);
	struct cached_block *b = s->buckets[bk];
	while (b && !(b->file_id == f && b->block_no == no))
		b = b->hnext;
	if (b) { /* another reader won the race */
		atomic_fetch_add(&b->refs, 1);
		pthread_mutex_unlock(&s->mu);
		coffer_buf_free(&nb->data);
		free(nb);
		return b;
	}
	nb->hnext = s->buckets[bk];
	s->buckets[bk] = nb;
	lru_front(s, nb);
	s->used += nb->data.len;
	while (s->used > s->capacity && s->head.lru_prev != nb)
		remove_locked(c, s, s->head.lru_prev);
	pthread_mutex_unlock(&s->mu);
	return nb;
}

void block_cache_release(struct block_cache *c, struct cached_block *b)
{
	(void)c;
	if (b)
		unref(b);
}

void block_cache_drop_file(struct block_cache *c, uint64_t f)
{
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->s[i];
		pthread_mutex_lock(&s->mu);
		struct cached_block *b = s->head.lru_next;
		while (b != &s->head) {
			struct cached_block *next = b->lru_next;
			if (b->file_id == f)
				remove_locked(c, s, b);
			b = next;
		}
		pthread_mutex_unlock(&s->mu);
	}
}

void block_cache_stats(struct block_cache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = *misses = 0;
	for (int i = 0; i < SHARDS; i++) {
		pthread_mutex_lock(&c->s[i].mu);
		*hits += c->s[i].hits;
		*misses += c->s[i].misses;
		pthread_mutex_unlock(&c->s[i].mu);
	}
}
