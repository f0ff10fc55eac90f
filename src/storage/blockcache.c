/*
 * blockcache.c - a cache of decrypted, decompressed SSTable data blocks (each
 * with its entry offsets: struct cached_block), shared by a table's readers,
 * bounded in bytes, split into shards (each with its own lock) so concurrent
 * readers rarely meet.
 *
 * Lookup goes through the SSTable's slot array (one pointer per data block)
 * under the lock of the block's shard (hash of file id and block number): a
 * hit reads the slot, takes a reference and returns; no hash chain to walk,
 * so the only cache lines touched are the lock's, the slot's and the block's
 * own header (whose token array follows it).
 *
 * Replacement is CLOCK (second chance), not strict LRU: a hit only sets the
 * block's `referenced` bit (and only when it is clear), where LRU would
 * unlink and relink the block, writing to two neighbours' cache lines while
 * holding the shard lock on every read. Each shard keeps its blocks on a ring
 * with a hand; a new block goes in just behind the hand, unreferenced, so it
 * is the last one the hand examines; eviction advances the hand, clearing
 * set bits and evicting the first block found clear. A block read once (a
 * scan) is therefore evicted before one read twice.
 *
 * Invariants:
 *  1. A block in the cache holds one reference for the cache; each get/put
 *     returns one more to the caller, released with block_cache_release().
 *     Memory is freed when the last reference goes.
 *  2. Eviction removes blocks of a shard until the shard is within its
 *     share of the capacity (counting whole allocations), never the block
 *     being inserted; a block still referenced by a reader stays alive (only
 *     the cache's reference is dropped).
 *  3. Blocks of a deleted SSTable are dropped (block_cache_drop_file) so a
 *     reused file id can never see stale plaintext.
 *  4. The hand points at a block of the ring or at the ring's sentinel;
 *     removing the block under the hand first moves the hand past it.
 *  5. *b->slot == b exactly while b is cached; slots are written only under
 *     the lock of their block's shard, and read there too, except as a
 *     prefetch hint (block_cache_prefetch: a stale pointer is only prefetched,
 *     never dereferenced). An SSTable's slot array
 *     outlives its cached blocks: sst_free drops them (block_cache_drop_slots)
 *     before freeing it, and no reader can add one after its last reference.
 */
#include <stdlib.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "util/alloc.h"

#define SHARDS 16

struct shard {
	pthread_mutex_t mu;
	size_t capacity, used, count;
	struct cached_block ring; /* sentinel */
	struct cached_block *hand;
	uint64_t hits, misses;
	char pad[64]; /* keeps each shard's lock off its neighbours' cache lines */
};

struct block_cache {
	struct shard s[SHARDS];
};

static struct shard *shard_of(struct block_cache *c, uint64_t f, uint64_t b)
{
	uint64_t h = f * UINT64_C(0x9e3779b97f4a7c15) ^ (b + UINT64_C(0x632be59bd9b4e019));
	h ^= h >> 29;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	return &c->s[(h ^ (h >> 32)) & (SHARDS - 1)];
}

struct block_cache *block_cache_new(size_t capacity)
{
	struct block_cache *c = COFFER_NEW(struct block_cache);
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->s[i];
		pthread_mutex_init(&s->mu, NULL);
		s->capacity = capacity / SHARDS;
		s->ring.ring_next = s->ring.ring_prev = &s->ring;
		s->hand = &s->ring;
	}
	return c;
}

coffer_rc cached_block_new(struct coffer_slice data, uint64_t file_id, uint64_t block_no, const char *path,
			   struct cached_block **out)
{
	struct coffer_reader r;
	struct coffer_slice k, v;
	size_t n = 0;
	/* pass 1: count and check */
	coffer_reader_init(&r, data, path);
	while (!coffer_reader_done(&r)) {
		if (entries_next(&r, &k, &v) != COFFER_OK)
			return coffer_error_wrap("%s: data block %llu", path, (unsigned long long)block_no);
		n++;
	}
	ENSURE(n < UINT32_MAX && data.len < UINT32_MAX, COFFER_E_CORRUPT, "%s: data block %llu too large",
	       path, (unsigned long long)block_no);
	size_t size = sizeof(struct cached_block) + n * 2 * sizeof(uint32_t) + data.len;
	struct cached_block *b = coffer_xmalloc(size);
	memset(b, 0, sizeof(*b));
	uint32_t *off = b->tok + n;
	uint8_t *bytes = (uint8_t *)(off + n);
	memcpy(bytes, data.ptr, data.len);
	b->n = (uint32_t)n;
	b->off = off;
	b->data = coffer_slice_of(bytes, data.len);
	b->file_id = file_id;
	b->block_no = block_no;
	b->by_tok = true;
	/* pass 2: offsets and token halves (the bytes parsed in pass 1) */
	coffer_reader_init(&r, b->data, path);
	for (size_t i = 0; i < n; i++) {
		off[i] = (uint32_t)r.off;
		TRY(entries_next(&r, &k, &v));
		if (k.len >= 8)
			b->tok[i] = (uint32_t)(coffer_load_u64(k.ptr) >> 32);
		else
			b->by_tok = false;
	}
	*out = b;
	return COFFER_OK;
}

static size_t charge(const struct cached_block *b)
{
	return sizeof(*b) + (size_t)b->n * 2 * sizeof(uint32_t) + b->data.len;
}

static void unref(struct cached_block *b)
{
	if (atomic_fetch_sub(&b->refs, 1) == 1)
		free(b);
}

static void remove_locked(struct shard *s, struct cached_block *b)
{
	if (atomic_load_explicit(b->slot, memory_order_relaxed) == b) /* invariant 5 */
		atomic_store_explicit(b->slot, NULL, memory_order_relaxed);
	if (s->hand == b) /* invariant 4 */
		s->hand = b->ring_next;
	b->ring_prev->ring_next = b->ring_next;
	b->ring_next->ring_prev = b->ring_prev;
	s->used -= charge(b);
	s->count--;
	unref(b);
}

void block_cache_free(struct block_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->s[i];
		while (s->ring.ring_next != &s->ring)
			remove_locked(s, s->ring.ring_next);
		pthread_mutex_destroy(&s->mu);
	}
	free(c);
}

struct cached_block *block_cache_get(struct block_cache *c, struct cached_block *_Atomic *slot, uint64_t f,
				     uint64_t no)
{
	struct shard *s = shard_of(c, f, no);
	pthread_mutex_lock(&s->mu);
	struct cached_block *b = atomic_load_explicit(slot, memory_order_relaxed);
	if (b) {
		atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
		if (!b->referenced)
			b->referenced = true;
		s->hits++;
	} else {
		s->misses++;
	}
	pthread_mutex_unlock(&s->mu);
	return b;
}

/* Evicts by CLOCK until the shard fits, sparing `keep` (invariant 2). */
static void evict_locked(struct shard *s, struct cached_block *keep)
{
	while (s->used > s->capacity && s->count > 1) {
		struct cached_block *v = s->hand;
		if (v == &s->ring || v == keep) {
			s->hand = v->ring_next;
			continue;
		}
		if (v->referenced) {
			v->referenced = false;
			s->hand = v->ring_next;
			continue;
		}
		remove_locked(s, v); /* moves the hand on */
	}
}

struct cached_block *block_cache_put(struct block_cache *c, struct cached_block *_Atomic *slot,
				     struct cached_block *nb)
{
	atomic_store(&nb->refs, 2);
	nb->slot = slot;
	struct shard *s = shard_of(c, nb->file_id, nb->block_no);
	pthread_mutex_lock(&s->mu);
	struct cached_block *b = atomic_load_explicit(slot, memory_order_relaxed);
	if (b) { /* another reader won the race */
		atomic_fetch_add(&b->refs, 1);
		pthread_mutex_unlock(&s->mu);
		free(nb);
		return b;
	}
	atomic_store_explicit(slot, nb, memory_order_relaxed);
	/* just behind the hand: the last block it will come to */
	struct cached_block *h = s->hand;
	nb->ring_next = h;
	nb->ring_prev = h->ring_prev;
	h->ring_prev->ring_next = nb;
	h->ring_prev = nb;
	s->used += charge(nb);
	s->count++;
	evict_locked(s, nb);
	pthread_mutex_unlock(&s->mu);
	return nb;
}

void block_cache_prefetch(struct cached_block *_Atomic *slot)
{
	struct cached_block *b = atomic_load_explicit(slot, memory_order_relaxed);
	if (b) {
		__builtin_prefetch(b);                     /* refs, header */
		__builtin_prefetch((const char *)b + 64); /* token halves */
	}
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
		struct cached_block *b = s->ring.ring_next;
		while (b != &s->ring) {
			struct cached_block *next = b->ring_next;
			if (b->file_id == f)
				remove_locked(s, b);
			b = next;
		}
		pthread_mutex_unlock(&s->mu);
	}
}

void block_cache_drop_slots(struct block_cache *c, struct cached_block *_Atomic *slots, uint64_t f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct shard *s = shard_of(c, f, i);
		pthread_mutex_lock(&s->mu);
		struct cached_block *b = atomic_load_explicit(&slots[i], memory_order_relaxed);
		if (b)
			remove_locked(s, b);
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
