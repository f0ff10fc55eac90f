/*
 * merge.c - merging the sorted sources of a table (memtables, SSTables) into
 * one ordered stream, reconciling equal keys by last write wins; loading one
 * partition at a time; and the shadowing/purging rules compaction applies to
 * a partition.
 *
 * Invariants:
 *  1. The merged stream is in table order and yields each key once, with the
 *     winning value of all sources (cell_reconcile).
 *  2. A tombstone shadows data of the same scope with a timestamp <= its own
 *     (Cassandra's rule): partition deletion all of the partition, range
 *     deletion the rows in its bounds, row deletion its row.
 *  3. Purging is the only place data disappears: a tombstone (or expired
 *     cell, first turned into one) is dropped only after gc grace AND when the
 *     caller vouches that no source outside the merge may hold older data it
 *     shadows (max_purgeable_ts).
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "util/fs.h"
#include "util/alloc.h"

struct merge {
	struct iter it;
	const struct coffer_table_schema *s;
	struct iter **c;
	size_t n;
	struct coffer_buf key; /* copy of the current key */
};

static coffer_rc settle(struct merge *m)
{
	struct iter *best = NULL;
	struct cell bc, cc;
	for (size_t i = 0; i < m->n; i++) {
		struct iter *c = m->c[i];
		if (!c->valid)
			continue;
		if (!best) {
			best = c;
			continue;
		}
		int cmp = entry_compare(m->s, c->key, best->key);
		if (cmp < 0) {
			best = c;
		} else if (cmp == 0) {
			if (entry_parse_value(c->value, &cc) == COFFER_OK &&
			    entry_parse_value(best->value, &bc) == COFFER_OK && cell_reconcile(&cc, &bc) > 0)
				best = c;
		}
	}
	m->it.valid = best != NULL;
	if (best) {
		/* best may be one of several equal keys, not necessarily the
		 * smallest-indexed; the key bytes are equal anyway */
		coffer_buf_reset(&m->key);
		coffer_buf_put(&m->key, best->key.ptr, best->key.len);
		m->it.key = coffer_buf_slice(&m->key);
		m->it.value = best->value;
	}
	return COFFER_OK;
}

static coffer_rc m_seek(struct iter *it, struct coffer_slice key)
{
	struct merge *m = (struct merge *)it;
	for (size_t i = 0; i < m->n; i++)
		TRY(m->c[i]->ops->seek(m->c[i], key));
	return settle(m);
}

static coffer_rc m_next(struct iter *it)
{
	struct merge *m = (struct merge *)it;
	if (!it->valid)
		return COFFER_OK;
	struct coffer_slice cur = coffer_buf_slice(&m->key);
	for (size_t i = 0; i < m->n; i++) {
		struct iter *c = m->c[i];
		if (c->valid && entry_compare(m->s, c->key, cur) == 0)
			TRY(c->ops->next(c));
	}
	return settle(m);
}

static void m_close(struct iter *it)
{
	struct merge *m = (struct merge *)it;
	for (size_t i = 0; i < m->n; i++)
		m->c[i]->ops->close(m->c[i]);
	free(m->c);
	coffer_buf_free(&m->key);
	free(m);
}

static const struct iter_ops merge_ops = {m_seek, m_next, m_close};

struct iter *merge_iter(const struct coffer_table_schema *s, struct iter **children, size_t n)
{
	struct merge *m = COFFER_NEW(struct merge);
	m->it.ops = &merge_ops;
	m->s = s;
	m->c = coffer_xcalloc(n ? n : 1, sizeof(*m->c));
	if (n)
		memcpy(m->c, children, n * sizeof(*children));
	m->n = n;
	return &m->it;
}

/* ---- partitions ------------------------------------------------------------- */

void partition_init(struct partition *p)
{
	memset(p, 0, sizeof(*p));
	coffer_arena_init(&p->arena, 4096);
}

void partition_init_buffer(struct partition *p, struct part_entry *buf, size_t n)
{
	partition_init(p);
	p->e = buf;
	p->cap = n;
	p->e_borrowed = true;
}

void partition_reset(struct partition *p)
{
	p->n = 0;
	coffer_buf_reset(&p->keybuf);
	coffer_arena_reset(&p->arena);
}

void partition_free(struct partition *p)
{
	if (!p->e_borrowed)
		free(p->e);
	coffer_buf_free(&p->keybuf);
	coffer_arena_free(&p->arena);
}

static coffer_rc push(struct partition *p, struct coffer_slice key, struct coffer_slice value, bool copy)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		if (p->e_borrowed) {
			struct part_entry *e = coffer_xmalloc(p->cap * sizeof(*e));
			memcpy(e, p->e, p->n * sizeof(*e));
			p->e = e;
			p->e_borrowed = false;
		} else {
			p->e = coffer_xrealloc(p->e, p->cap * sizeof(*p->e));
		}
	}
	struct part_entry *e = &p->e[p->n];
	if (copy) {
		key = coffer_slice_of(coffer_arena_memdup(&p->arena, key.ptr, key.len), key.len);
		if (value.len)
			value = coffer_slice_of(coffer_arena_memdup(&p->arena, value.ptr, value.len), value.len);
	}
	e->key = key;
	e->value = value;
	TRY(entry_parse_key(e->key, &e->k));
	TRY(entry_parse_value(e->value, &e->c));
	p->n++;
	return COFFER_OK;
}

coffer_rc partition_push(struct partition *p, struct coffer_slice key, struct coffer_slice value)
{
	return push(p, key, value, true);
}

coffer_rc partition_push_borrowed(struct partition *p, struct coffer_slice key, struct coffer_slice value)
{
	return push(p, key, value, false);
}

coffer_rc partition_load(struct iter *it, struct partition *p)
{
	partition_reset(p);
	if (!it->valid)
		return COFFER_OK;
	coffer_buf_put(&p->keybuf, it->key.ptr, it->key.len);
	TRY(partition_push(p, it->key, it->value));
	p->pk = p->e[0].k.pk;
	p->token = p->e[0].k.token;
	for (;;) {
		TRY(it->ops->next(it));
		if (!it->valid || !entry_same_partition(coffer_buf_slice(&p->keybuf), it->key))
			return COFFER_OK;
		TRY(partition_push(p, it->key, it->value));
	}
}

/* entry_compare(x->key, y->key) from the parsed keys: within one partition
 * it orders by kind, then static slot, range bytes, or clustering values,
 * prefix length and slot, exactly as entry_compare does after parsing both
 * keys again; anything else goes to entry_compare itself. */
static int part_entry_compare(const struct coffer_table_schema *s, const struct part_entry *x,
			      const struct part_entry *y)
{
	int kx = x->k.kind, ky = y->k.kind;
	if (x->k.token != y->k.token || kx < KIND_PARTITION_DEL || kx > KIND_ROW || ky < KIND_PARTITION_DEL ||
	    ky > KIND_ROW || !coffer_slice_eq(x->k.pk, y->k.pk))
		return entry_compare(s, x->key, y->key);
	if (kx != ky)
		return kx < ky ? -1 : 1;
	switch (kx) {
	case KIND_PARTITION_DEL:
		return 0;
	case KIND_STATIC:
		return x->k.slot < y->k.slot ? -1 : x->k.slot > y->k.slot;
	case KIND_RANGE_DEL:
		return coffer_type_compare(COFFER_TYPE_BLOB, x->k.range, y->k.range); /* bytewise */
	default: {
		int c = clustering_compare(s, x->k.ck, x->k.n_ck, y->k.ck, y->k.n_ck);
		if (c)
			return c;
		if (x->k.n_ck != y->k.n_ck)
			return x->k.n_ck < y->k.n_ck ? -1 : 1;
		return x->k.slot < y->k.slot ? -1 : x->k.slot > y->k.slot;
	}
	}
}

static int cmp_part_entry(const void *a, const void *b, void *arg)
{
	return part_entry_compare(arg, a, b);
}

void partition_reconcile(const struct coffer_table_schema *s, struct partition *p)
{
	if (p->n < 2)
		return;
	if (p->n <= 16) {
		/* a point read gathers a few entries per source: insertion sort
		 * (stable, no allocation) beats qsort_r's merge sort here */
		for (size_t i = 1; i < p->n; i++) {
			struct part_entry e = p->e[i];
			size_t j = i;
			for (; j > 0 && part_entry_compare(s, &p->e[j - 1], &e) > 0; j--)
				p->e[j] = p->e[j - 1];
			if (j != i)
				p->e[j] = e;
		}
	} else {
		qsort_r(p->e, p->n, sizeof(*p->e), cmp_part_entry, (void *)s);
	}
	size_t out = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (out > 0 && part_entry_compare(s, &p->e[out - 1], &p->e[i]) == 0) {
			if (cell_reconcile(&p->e[i].c, &p->e[out - 1].c) > 0)
				p->e[out - 1] = p->e[i];
			continue;
		}
		if (out != i)
			p->e[out] = p->e[i];
		out++;
	}
	p->n = out;
}

/* ---- shadowing --------------------------------------------------------------- */

bool range_covers(const struct coffer_table_schema *s, struct coffer_slice range,
		  const struct coffer_slice *ck, size_t n_ck);
bool range_covers(const struct coffer_table_schema *s, struct coffer_slice range,
		  const struct coffer_slice *ck, size_t n_ck)
{
	struct coffer_slice sv[COFFER_MAX_CLUSTERING], ev[COFFER_MAX_CLUSTERING];
	size_t sn, en;
	bool si, ei;
	if (entry_parse_range(range, sv, &sn, &si, ev, &en, &ei) != COFFER_OK)
		return false;
	if (sn) {
		int c = clustering_compare(s, ck, n_ck, sv, sn);
		if (c < 0 || (c == 0 && !si))
			return false;
	}
	if (en) {
		int c = clustering_compare(s, ck, n_ck, ev, en);
		if (c > 0 || (c == 0 && !ei))
			return false;
	}
	return true;
}

void partition_compact(const struct coffer_table_schema *s, struct partition *p, int64_t now,
		       int64_t purge_before, int64_t max_purgeable_ts)
{
	int64_t pdel = INT64_MIN;
	for (size_t i = 0; i < p->n; i++)
		if (p->e[i].k.kind == KIND_PARTITION_DEL && (p->e[i].c.flags & CELL_TOMBSTONE))
			pdel = p->e[i].c.ts > pdel ? p->e[i].c.ts : pdel;
	size_t out = 0;
	int64_t rowdel = INT64_MIN;
	size_t row_start = SIZE_MAX;
	for (size_t i = 0; i < p->n; i++) {
		struct part_entry *e = &p->e[i];
		bool keep = true;
		if (e->k.kind != KIND_PARTITION_DEL && e->c.ts <= pdel)
			keep = false;
		if (keep && e->k.kind == KIND_ROW) {
			if (row_start == SIZE_MAX ||
			    clustering_compare(s, e->k.ck, e->k.n_ck, p->e[row_start].k.ck,
					       p->e[row_start].k.n_ck) != 0) {
				row_start = i;
				rowdel = INT64_MIN;
			}
			if (e->k.slot == SLOT_ROW_DEL && (e->c.flags & CELL_TOMBSTONE))
				rowdel = e->c.ts;
			else if (e->c.ts <= rowdel)
				keep = false;
			for (size_t j = 0; keep && j < i; j++)
				if (p->e[j].k.kind == KIND_RANGE_DEL && e->c.ts <= p->e[j].c.ts &&
				    range_covers(s, p->e[j].k.range, e->k.ck, e->k.n_ck))
					keep = false;
		}
		/* An expired cell becomes a tombstone dated at its expiry. */
		if (keep && (e->c.flags & CELL_EXPIRING) && e->c.ldt <= now) {
			struct cell t = {.flags = CELL_TOMBSTONE, .ts = e->c.ts, .ldt = e->c.ldt};
			struct coffer_buf b = {0};
			entry_value(&b, &t);
			e->value = coffer_slice_of(coffer_arena_memdup(&p->arena, b.ptr, b.len), b.len);
			coffer_buf_free(&b);
			e->c = t;
		}
		if (keep && (e->c.flags & CELL_TOMBSTONE) && purge_before > 0 && e->c.ldt < purge_before &&
		    e->c.ts < max_purgeable_ts)
			keep = false;
		if (keep)
			p->e[out++] = *e;
	}
	p->n = out;
}
