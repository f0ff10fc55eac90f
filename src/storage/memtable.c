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
 *  4. Memory lives in the memtable's own chunks (struct mem), freed with the
 *     memtable, after the table has dropped it from its lists under the
 *     state lock (no reader left).
 *  5. A hash index maps each partition (by token, checked against the key)
 *     to its first node, so point reads skip the skiplist search; the writer
 *     publishes index entries and moves `first` with release stores, after
 *     the node they point to is linked in at level 0.
 *  6. Each tower link caches the token (first 8 key bytes) of the node it
 *     points to. Only the writer reads or writes these caches (leadership
 *     hand-over orders successive writers), and it updates them with the
 *     pointers, so for the writer link.tok == link.next->tok always; readers
 *     use the pointers alone. The shortcut is exact because entry_compare
 *     orders keys of 8 bytes or more by those bytes first; once a shorter
 *     key (never made by mutation.c) is put, the writer stops using it.
 *
 *   ACTIVE (leader inserts) ──freeze──► IMMUTABLE (flush reads) ──flushed──► freed
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "storage/storage_internal.h"
#include "util/fs.h"
#include "util/alloc.h"

/* Towers grow with probability 1/2 per level: with the successor's token
 * cached in each link (below), a search pays a cache miss only for the nodes
 * it moves onto, about one per level, so more and cheaper levels beat the
 * 1/4 of LevelDB, whose failed comparisons each touch another node. */
#define MAX_HEIGHT 24

struct mval {
	size_t len;
	uint8_t bytes[];
};

/* A tower link: the next node at this level and, for the writer alone, that
 * node's token (invariant 6). */
struct link {
	struct node *_Atomic next;
	uint64_t tok;
};

/* One allocation: the header, `height` links, then the key bytes, then the
 * first value, so a visit touches one or two adjacent cache lines. */
struct node {
	struct mval *_Atomic val;
	uint64_t tok; /* the key's first 8 bytes (biased token), compared without touching key */
	uint32_t klen;
	uint32_t height;
	struct link link[];
};

static inline const uint8_t *node_key(const struct node *n)
{
	return (const uint8_t *)&n->link[n->height];
}

static inline struct coffer_slice node_slice(const struct node *n)
{
	return coffer_slice_of(node_key(n), n->klen);
}

/* A partition index entry: the bucket array holds one per bucket inline
 * (first == NULL: empty), collisions chain behind it. `tok` is written once,
 * before `first` is published (release). */
struct pidx {
	struct node *_Atomic first;
	_Atomic uint64_t tok;
	struct pidx *_Atomic next;
};

/* The memtable's memory: big chunks (from the one allocator) with their
 * 2 MiB-aligned interiors advised as transparent huge pages, bump-allocated.
 * A skiplist search lands on a new page at nearly every level; with 4 KiB
 * pages each is also a TLB miss, with 2 MiB pages a 64 MiB memtable fits the
 * TLB. Where huge pages are off (THP "never"), madvise fails harmlessly. */
struct chunk {
	struct chunk *next;
	size_t used, cap;
	uint8_t *base; /* 16-aligned start of the usable bytes */
};

struct mem {
	struct chunk *head;
	size_t chunk_bytes;
};

struct memtable {
	const struct coffer_table_schema *schema;
	struct pidx *buckets;
	size_t nbuckets; /* power of two */
	struct mem arena;
	struct node *head;
	_Atomic int height;
	atomic_size_t bytes;
	atomic_size_t count;
	_Atomic int64_t min_ts;
	uint64_t rnd;
	bool short_keys; /* a key under 8 bytes was put: no token shortcuts (writer only) */
};

#define HUGE_PAGE ((size_t)2 << 20)

/* Advises the whole huge pages inside [p, p + n) (a hint; errors ignored). */
static void advise_huge(void *p, size_t n)
{
	uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	uintptr_t z = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_PAGE - 1);
	if (z > a)
		(void)madvise((void *)a, z - a, MADV_HUGEPAGE);
}

static void *mem_alloc(struct mem *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct chunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > a->chunk_bytes / 4 ? n : a->chunk_bytes;
		c = coffer_xmalloc(sizeof(*c) + 16 + cap);
		c->base = (uint8_t *)(((uintptr_t)(c + 1) + 15) & ~(uintptr_t)15);
		c->used = 0;
		c->cap = cap;
		if (cap >= HUGE_PAGE)
			advise_huge(c->base, cap);
		if (a->head && cap != a->chunk_bytes) { /* a big one alone: keep filling the head */
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	void *p = c->base + c->used;
	c->used += n;
	return p;
}

static void mem_free(struct mem *a)
{
	while (a->head) {
		struct chunk *c = a->head;
		a->head = c->next;
		free(c);
	}
}

static uint64_t key_tok(struct coffer_slice key)
{
	return key.len >= 8 ? coffer_load_u64(key.ptr) : 0;
}

/* A node with its key and (when v.ptr) its first value in one allocation. */
static struct node *new_node(struct memtable *m, struct coffer_slice key, struct coffer_slice v,
			     bool with_value, int h)
{
	size_t links = (size_t)h * sizeof(struct link);
	size_t koff = sizeof(struct node) + links;
	size_t voff = (koff + key.len + 7) & ~(size_t)7;
	size_t total = with_value ? voff + sizeof(struct mval) + v.len : koff + key.len;
	struct node *n = mem_alloc(&m->arena, total);
	memset(n, 0, koff);
	n->tok = key_tok(key);
	n->klen = (uint32_t)key.len;
	n->height = (uint32_t)h;
	if (key.len)
		memcpy((uint8_t *)n + koff, key.ptr, key.len);
	if (with_value) {
		struct mval *mv = (struct mval *)((uint8_t *)n + voff);
		mv->len = v.len;
		if (v.len)
			memcpy(mv->bytes, v.ptr, v.len);
		atomic_store_explicit(&n->val, mv, memory_order_relaxed);
	}
	return n;
}

static struct mval *new_val(struct memtable *m, struct coffer_slice v)
{
	struct mval *mv = mem_alloc(&m->arena, sizeof(*mv) + v.len);
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
	if (m->nbuckets * sizeof(*m->buckets) >= HUGE_PAGE)
		advise_huge(m->buckets, m->nbuckets * sizeof(*m->buckets));
	/* chunks of 1/4 of the expected size, 1 to 16 MiB */
	m->arena.chunk_bytes = 1 << 20;
	while (m->arena.chunk_bytes < expected_bytes / 4 && m->arena.chunk_bytes < (16u << 20))
		m->arena.chunk_bytes <<= 1;
	m->head = new_node(m, coffer_slice_of(NULL, 0), coffer_slice_of(NULL, 0), false, MAX_HEIGHT);
	atomic_store(&m->height, 1);
	atomic_store(&m->min_ts, INT64_MAX);
	m->rnd = 0x9e3779b97f4a7c15ULL;
	return m;
}

void memtable_free(struct memtable *m)
{
	if (!m)
		return;
	mem_free(&m->arena);
	free(m->buckets);
	free(m);
}

static int random_height(struct memtable *m)
{
	m->rnd ^= m->rnd << 13;
	m->rnd ^= m->rnd >> 7;
	m->rnd ^= m->rnd << 17;
	/* one more level per trailing 1 bit: P(h > k) = 2^-k */
	int h = 1 + __builtin_ctzll(~m->rnd | (UINT64_C(1) << (MAX_HEIGHT - 1)));
	return h;
}

static int cmp_node(const struct memtable *m, const struct node *n, struct coffer_slice key)
{
	if (n->klen >= 8 && key.len >= 8) {
		uint64_t k = coffer_load_u64(key.ptr);
		if (n->tok != k)
			return n->tok < k ? -1 : 1;
	}
	return entry_compare(m->schema, node_slice(n), key);
}

/* First node >= key; fills prev[] when given. Readers' search: pointers only. */
static struct node *find_ge(struct memtable *m, struct coffer_slice key, struct node **prev)
{
	struct node *x = m->head;
	int level = atomic_load_explicit(&m->height, memory_order_relaxed) - 1;
	for (;;) {
		struct node *next = atomic_load_explicit(&x->link[level].next, memory_order_acquire);
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

/* The writer's search (invariant 6): a link whose cached token differs from
 * the key's decides the step without loading the next node; only equal
 * tokens (the same partition) compare whole keys. Fills prev[0..height-1];
 * returns the first node >= key. */
static struct node *writer_find_ge(struct memtable *m, struct coffer_slice key, struct node **prev)
{
	if (m->short_keys || key.len < 8)
		return find_ge(m, key, prev);
	uint64_t k = coffer_load_u64(key.ptr);
	struct node *x = m->head;
	int level = atomic_load_explicit(&m->height, memory_order_relaxed) - 1;
	for (;;) {
		const struct link *l = &x->link[level];
		struct node *next = atomic_load_explicit(&l->next, memory_order_relaxed);
		if (next && (l->tok < k || (l->tok == k && entry_compare(m->schema, node_slice(next), key) < 0))) {
			x = next;
			continue;
		}
		prev[level] = x;
		if (level == 0)
			return next;
		level--;
	}
}

static struct pidx *index_find(struct memtable *m, uint64_t tok, struct coffer_slice key)
{
	for (struct pidx *p = &m->buckets[tok & (m->nbuckets - 1)]; p;
	     p = atomic_load_explicit(&p->next, memory_order_acquire)) {
		struct node *f = atomic_load_explicit(&p->first, memory_order_acquire);
		if (f && atomic_load_explicit(&p->tok, memory_order_relaxed) == tok &&
		    entry_same_partition(node_slice(f), key))
			return p;
	}
	return NULL;
}

void memtable_prefetch(struct memtable *m, struct coffer_slice partition_key, int stage)
{
	if (partition_key.len < 8)
		return;
	struct pidx *b = &m->buckets[coffer_load_u64(partition_key.ptr) & (m->nbuckets - 1)];
	if (stage == 0) {
		__builtin_prefetch(b);
		return;
	}
	/* hints only: index_find checks what it finds */
	struct node *f = atomic_load_explicit(&b->first, memory_order_acquire);
	if (!f)
		return;
	if (stage == 1) {
		__builtin_prefetch(f);
		return;
	}
	__builtin_prefetch(atomic_load_explicit(&f->val, memory_order_relaxed));
}

/* Points the partition's index entry at n, its new first node (creating the
 * entry when p is NULL: the partition was not in the index). */
static void index_first(struct memtable *m, struct pidx *p, struct node *n)
{
	if (p) {
		atomic_store_explicit(&p->first, n, memory_order_release);
		return;
	}
	struct pidx *b = &m->buckets[n->tok & (m->nbuckets - 1)];
	if (!atomic_load_explicit(&b->first, memory_order_relaxed)) {
		p = b; /* the bucket's own entry is free */
	} else {
		p = mem_alloc(&m->arena, sizeof(*p));
		memset(p, 0, sizeof(*p));
		atomic_store_explicit(&p->next, atomic_load_explicit(&b->next, memory_order_relaxed),
				      memory_order_relaxed);
	}
	atomic_store_explicit(&p->tok, n->tok, memory_order_relaxed);
	atomic_store_explicit(&p->first, n, memory_order_release);
	if (p != b)
		atomic_store_explicit(&b->next, p, memory_order_release);
}

/* The node holding exactly `key` among the first few nodes of its partition
 * (through the hash index), or NULL: an overwrite of a recent row then skips
 * the skiplist search, whose ~log2(n) node visits are mostly cache misses.
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
		x = atomic_load_explicit(&x->link[0].next, memory_order_acquire);
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
	atomic_store_explicit(&m->bytes, atomic_load_explicit(&m->bytes, memory_order_relaxed) + value.len + 16,
			      memory_order_relaxed);
}

void memtable_put(struct memtable *m, struct coffer_slice key, struct coffer_slice value)
{
	struct node *prev[MAX_HEIGHT];
	struct cell c;
	bool parsed = entry_parse_value(value, &c) == COFFER_OK;
	/* single writer (invariant 1): plain read-modify-write of the counters,
	 * published with atomic stores for the readers of the statistics */
	if (parsed && c.ts < atomic_load_explicit(&m->min_ts, memory_order_relaxed))
		atomic_store_explicit(&m->min_ts, c.ts, memory_order_relaxed);
	struct pidx *pidx;
	struct node *x = find_in_partition(m, key, &pidx);
	if (x) {
		overwrite(m, x, value, &c, parsed);
		return;
	}
	if (key.len < 8)
		m->short_keys = true;
	x = writer_find_ge(m, key, prev);
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
	struct node *n = new_node(m, key, value, true, h);
	for (int i = 0; i < h; i++) {
		struct link *pl = &prev[i]->link[i];
		atomic_store_explicit(&n->link[i].next, atomic_load_explicit(&pl->next, memory_order_relaxed),
				      memory_order_relaxed);
		n->link[i].tok = pl->tok;
		pl->tok = n->tok;
		atomic_store_explicit(&pl->next, n, memory_order_release);
	}
	/* invariant 5: n is the partition's first node if its predecessor is of
	 * another partition */
	struct node *p0 = prev[0];
	if (p0 == m->head || !entry_same_partition(node_slice(p0), key))
		index_first(m, key.len >= 8 ? pidx : index_find(m, n->tok, key), n);
	atomic_store_explicit(&m->bytes,
			      atomic_load_explicit(&m->bytes, memory_order_relaxed) + key.len + value.len +
				      sizeof(*n) + (size_t)h * sizeof(struct link) + 16,
			      memory_order_relaxed);
	atomic_store_explicit(&m->count, atomic_load_explicit(&m->count, memory_order_relaxed) + 1,
			      memory_order_relaxed);
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

static void set_cur(struct mem_iter *mi, struct node *n)
{
	mi->cur = n;
	mi->it.valid = n != NULL;
	if (n) {
		struct mval *v = atomic_load_explicit(&n->val, memory_order_acquire);
		mi->it.key = node_slice(n);
		mi->it.value = coffer_slice_of(v->bytes, v->len);
	}
}

static coffer_rc mi_seek(struct iter *it, struct coffer_slice key)
{
	struct mem_iter *mi = (struct mem_iter *)it;
	if (key.len == 0)
		set_cur(mi, atomic_load_explicit(&mi->m->head->link[0].next, memory_order_acquire));
	else
		set_cur(mi, find_ge(mi->m, key, NULL));
	return COFFER_OK;
}

static coffer_rc mi_next(struct iter *it)
{
	struct mem_iter *mi = (struct mem_iter *)it;
	if (mi->cur)
		set_cur(mi, atomic_load_explicit(&mi->cur->link[0].next, memory_order_acquire));
	return COFFER_OK;
}

static void mi_close(struct iter *it)
{
	free(it);
}

static const struct iter_ops mem_iter_ops = {mi_seek, mi_next, mi_close};
static const struct iter_ops mem_iter_borrowed_ops = {mi_seek, mi_next, NULL};

void memtable_iter_init(struct mem_iter *mi, struct memtable *m)
{
	memset(mi, 0, sizeof(*mi));
	mi->it.ops = &mem_iter_borrowed_ops;
	mi->it.stable = true; /* invariant 3: values are never freed before the memtable */
	mi->m = m;
}

void memtable_iter_init_partition(struct mem_iter *mi, struct memtable *m, struct coffer_slice partition_key)
{
	memtable_iter_init(mi, m);
	struct pidx *p = partition_key.len >= 8
				 ? index_find(m, coffer_load_u64(partition_key.ptr), partition_key)
				 : NULL;
	set_cur(mi, p ? atomic_load_explicit(&p->first, memory_order_acquire) : NULL);
}

struct iter *memtable_iter_partition(struct memtable *m, struct coffer_slice partition_key)
{
	struct mem_iter *mi = COFFER_NEW(struct mem_iter);
	memtable_iter_init_partition(mi, m, partition_key);
	mi->it.ops = &mem_iter_ops;
	return &mi->it;
}

struct iter *memtable_iter(struct memtable *m)
{
	struct mem_iter *mi = COFFER_NEW(struct mem_iter);
	memtable_iter_init(mi, m);
	mi->it.ops = &mem_iter_ops;
	return &mi->it;
}
