/*
 * memtable.c - the in-memory sorted table of recent writes: a skiplist in the
 * manner of LevelDB's, one writer (the commit-log leader) and any number of
 * lock-free readers.
 *
 * Invariants:
 *  1. Only the commit-log leader inserts (commitlog.c guarantees one leader at
 *     a time); readers never lock.
 *  2. A node is fully built before it is published with a release store into
 *     its predecessors; readers follow pointers with acquire loads, so they see
 *     a node's key and value complete or not at all.
 *  3. An update of an existing key swaps the node's value pointer atomically
 *     to a newly allocated value (reconciled by last-write-wins); old values
 *     stay in the arena until the memtable is freed, so readers holding them
 *     stay valid.
 *  4. Memory lives in one arena freed with the memtable, after the table has
 *     dropped it from its lists under the state lock (no reader left).
 *  5. A hash index maps each partition (by token, checked against the key)
 *     to its first node, so point reads skip the skiplist search; the writer
 *     publishes index entries and moves `first` with release stores, after
 *     the node they point to is linked in at level 0.
 *
 *   ACTIVE (leader inserts) ──freeze──► IMMUTABLE (flush reads) ──flushed──► freed
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "util/fs.h"
#include "util/alloc.h"

#define MAX_HEIGHT 16

struct mval {
	size_t len;
	uint8_t bytes[];
};

struct node {
	uint64_t tok; /* the key's first 8 bytes (biased token), compared without touching key */
	const uint8_t *key;
	size_t klen;
	struct mval *_Atomic val;
	int height;
	struct node *_Atomic next[];
};

struct pidx {
	struct pidx *_Atomic next;
	uint64_t tok;
	struct node *_Atomic first;
};

struct memtable {
	const struct coffer_table_schema *schema;
	struct pidx *_Atomic *buckets;
	size_t nbuckets; /* power of two */
	struct coffer_arena arena;
	struct node *head;
	_Atomic int height;
	atomic_size_t bytes;
	atomic_size_t count;
	_Atomic int64_t min_ts;
	uint64_t rnd;
};

static struct node *new_node(struct memtable *m, struct coffer_slice key, struct mval *v, int h)
{
	struct node *n = coffer_arena_zalloc(&m->arena, sizeof(*n) + (size_t)h * sizeof(n->next[0]));
	n->key = key.len ? coffer_arena_memdup(&m->arena, key.ptr, key.len) : NULL;
	n->tok = key.len >= 8 ? coffer_load_u64(key.ptr) : 0;
	n->klen = key.len;
	atomic_store_explicit(&n->val, v, memory_order_relaxed);
	n->height = h;
	return n;
}

static struct mval *new_val(struct memtable *m, struct coffer_slice v)
{
	struct mval *mv = coffer_arena_alloc(&m->arena, sizeof(*mv) + v.len);
	mv->len = v.len;
	if (v.len)
		memcpy(mv->bytes, v.ptr, v.len);
	return mv;
}

struct memtable *memtable_new(const struct coffer_table_schema *s, size_t expected_bytes)
{
	struct memtable *m = COFFER_NEW(struct memtable);
	m->schema = s;
	m->nbuckets = 1024;
	while (m->nbuckets < expected_bytes / 128 && m->nbuckets < (1u << 22))
		m->nbuckets <<= 1;
	m->buckets = coffer_xcalloc(m->nbuckets, sizeof(*m->buckets));
	coffer_arena_init(&m->arena, 1 << 20);
	m->head = new_node(m, coffer_slice_of(NULL, 0), NULL, MAX_HEIGHT);
	atomic_store(&m->height, 1);
	atomic_store(&m->min_ts, INT64_MAX);
	m->rnd = 0x9e3779b97f4a7c15ULL;
	return m;
}

void memtable_free(struct memtable *m)
{
	if (!m)
		return;
	coffer_arena_free(&m->arena);
	free(m->buckets);
	free(m);
}

static int random_height(struct memtable *m)
{
	int h = 1;
	for (;;) {
		m->rnd ^= m->rnd << 13;
		m->rnd ^= m->rnd >> 7;
		m->rnd ^= m->rnd << 17;
		if (h >= MAX_HEIGHT || (m->rnd & 3) != 0)
			break;
		h++;
	}
	return h;
}

static int cmp_node(const struct memtable *m, const struct node *n, struct coffer_slice key)
{
	if (n->klen >= 8 && key.len >= 8) {
		uint64_t k = coffer_load_u64(key.ptr);
		if (n->tok != k)
			return n->tok < k ? -1 : 1;
	}
	return entry_compare(m->schema, coffer_slice_of(n->key, n->klen), key);
}

/* First node >= key; fills prev[] when given. */
static struct node *find_ge(struct memtable *m, struct coffer_slice key, struct node **prev)
{
	struct node *x = m->head;
	int level = atomic_load_explicit(&m->height, memory_order_relaxed) - 1;
	for (;;) {
		struct node *next = atomic_load_explicit(&x->next[level], memory_order_acquire);
		if (next && cmp_node(m, next, key) < 0) {
			x = next;
			continue;
		}
		if (prev)
			prev[level] = x;
		if (level == 0)
			return next;
		level--;
	}
}

static struct pidx *index_find(struct memtable *m, uint64_t tok, struct coffer_slice key)
{
	struct pidx *p = atomic_load_explicit(&m->buckets[tok & (m->nbuckets - 1)], memory_order_acquire);
	for (; p; p = atomic_load_explicit(&p->next, memory_order_acquire)) {
		if (p->tok != tok)
			continue;
		struct node *f = atomic_load_explicit(&p->first, memory_order_acquire);
		if (entry_same_partition(coffer_slice_of(f->key, f->klen), key))
			return p;
	}
	return NULL;
}

/* Points the partition's index entry at n, its new first node (creating the
 * entry when p is NULL: the partition was not in the index). */
static void index_first(struct memtable *m, struct pidx *p, struct node *n)
{
	if (p) {
		atomic_store_explicit(&p->first, n, memory_order_release);
		return;
	}
	p = coffer_arena_zalloc(&m->arena, sizeof(*p));
	p->tok = n->tok;
	atomic_store_explicit(&p->first, n, memory_order_relaxed);
	struct pidx *_Atomic *b = &m->buckets[n->tok & (m->nbuckets - 1)];
	atomic_store_explicit(&p->next, atomic_load_explicit(b, memory_order_relaxed), memory_order_relaxed);
	atomic_store_explicit(b, p, memory_order_release);
}

/* The node holding exactly `key` among the first few nodes of its partition
 * (through the hash index), or NULL: an overwrite of a recent row then skips
 * the skiplist search, whose ~2 log4(n) node visits are mostly cache misses.
 * *pidx: the partition's index entry (NULL: the partition is new). */
static struct node *find_in_partition(struct memtable *m, struct coffer_slice key, struct pidx **pidx)
{
	*pidx = key.len >= 8 ? index_find(m, coffer_load_u64(key.ptr), key) : NULL;
	if (!*pidx)
		return NULL;
	struct node *x = atomic_load_explicit(&(*pidx)->first, memory_order_acquire);
	for (int steps = 0; x && steps < 8; steps++) {
		int c = cmp_node(m, x, key);
		if (c == 0)
			return x;
		if (c > 0)
			return NULL;
		x = atomic_load_explicit(&x->next[0], memory_order_acquire);
	}
	return NULL;
}

/* Replaces x's value unless the one it holds wins (invariant 3). */
static void overwrite(struct memtable *m, struct node *x, struct coffer_slice value, const struct cell *c,
		      bool parsed)
{
	struct mval *old = atomic_load_explicit(&x->val, memory_order_relaxed);
	struct cell oc;
	if (parsed && entry_parse_value(coffer_slice_of(old->bytes, old->len), &oc) == COFFER_OK &&
	    cell_reconcile(c, &oc) <= 0)
		return; /* the existing value wins */
	atomic_store_explicit(&x->val, new_val(m, value), memory_order_release);
	atomic_fetch_add(&m->bytes, value.len + 16);
}

void memtable_put(struct memtable *m, struct coffer_slice key, struct coffer_slice value)
{
	struct node *prev[MAX_HEIGHT];
	struct cell c;
	bool parsed = entry_parse_value(value, &c) == COFFER_OK;
	if (parsed) {
		int64_t cur = atomic_load(&m->min_ts);
		if (c.ts < cur)
			atomic_store(&m->min_ts, c.ts);
	}
	struct pidx *pidx;
	struct node *x = find_in_partition(m, key, &pidx);
	if (x) {
		overwrite(m, x, value, &c, parsed);
		return;
	}
	x = find_ge(m, key, prev);
	if (x && cmp_node(m, x, key) == 0) {
		overwrite(m, x, value, &c, parsed);
		return;
	}
	int h = random_height(m);
	int cur = atomic_load_explicit(&m->height, memory_order_relaxed);
	if (h > cur) {
		for (int i = cur; i < h; i++)
			prev[i] = m->head;
		atomic_store_explicit(&m->height, h, memory_order_relaxed);
	}
	struct node *n = new_node(m, key, new_val(m, value), h);
	for (int i = 0; i < h; i++) {
		atomic_store_explicit(&n->next[i],
				      atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed),
				      memory_order_relaxed);
		atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
	}
	/* invariant 5: n is the partition's first node if its predecessor is of
	 * another partition */
	struct node *p0 = prev[0];
	if (p0 == m->head || !entry_same_partition(coffer_slice_of(p0->key, p0->klen), key))
		index_first(m, key.len >= 8 ? pidx : index_find(m, n->tok, key), n);
	atomic_fetch_add(&m->bytes, key.len + value.len + sizeof(*n) + (size_t)h * 8 + 16);
	atomic_fetch_add(&m->count, 1);
}

size_t memtable_bytes(const struct memtable *m)
{
	return atomic_load(&((struct memtable *)m)->bytes);
}

size_t memtable_count(const struct memtable *m)
{
	return atomic_load(&((struct memtable *)m)->count);
}

int64_t memtable_min_ts(const struct memtable *m)
{
	return atomic_load(&((struct memtable *)m)->min_ts);
}

/* ---- iterator ------------------------------------------------------------- */

struct mem_iter {
	struct iter it;
	struct memtable *m;
	struct node *cur;
};

static void set_cur(struct mem_iter *mi, struct node *n)
{
	mi->cur = n;
	mi->it.valid = n != NULL;
	if (n) {
		struct mval *v = atomic_load_explicit(&n->val, memory_order_acquire);
		mi->it.key = coffer_slice_of(n->key, n->klen);
		mi->it.value = coffer_slice_of(v->bytes, v->len);
	}
}

static coffer_rc mi_seek(struct iter *it, struct coffer_slice key)
{
	struct mem_iter *mi = (struct mem_iter *)it;
	if (key.len == 0)
		set_cur(mi, atomic_load_explicit(&mi->m->head->next[0], memory_order_acquire));
	else
		set_cur(mi, find_ge(mi->m, key, NULL));
	return COFFER_OK;
}

static coffer_rc mi_next(struct iter *it)
{
	struct mem_iter *mi = (struct mem_iter *)it;
	if (mi->cur)
		set_cur(mi, atomic_load_explicit(&mi->cur->next[0], memory_order_acquire));
	return COFFER_OK;
}

static void mi_close(struct iter *it)
{
	free(it);
}

static const struct iter_ops mem_iter_ops = {mi_seek, mi_next, mi_close};

struct iter *memtable_iter_partition(struct memtable *m, struct coffer_slice partition_key)
{
	struct mem_iter *mi = COFFER_NEW(struct mem_iter);
	mi->it.ops = &mem_iter_ops;
	mi->m = m;
	struct pidx *p = partition_key.len >= 8
				 ? index_find(m, coffer_load_u64(partition_key.ptr), partition_key)
				 : NULL;
	set_cur(mi, p ? atomic_load_explicit(&p->first, memory_order_acquire) : NULL);
	return &mi->it;
}

struct iter *memtable_iter(struct memtable *m)
{
	struct mem_iter *mi = COFFER_NEW(struct mem_iter);
	mi->it.ops = &mem_iter_ops;
	mi->m = m;
	return &mi->it;
}
