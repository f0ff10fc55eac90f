/*
 * read.c - reads: single partitions, several partitions (IN), token-ordered
 * scans with resumable cursors, clustering slices (either direction), limits
 * and per-partition limits, counts.
 *
 * A read takes the table's state lock shared, merges the memtables and the
 * SSTables that may hold the partition (bloom filters), materialises one
 * partition at a time, applies tombstones and TTLs as of now, and hands rows
 * to the caller's callback.
 *
 * Cursor (opaque to callers, returned in coffer_read_result.cursor):
 *
 *   OFFSET  SIZE  MEANING
 *   0       1     version (1)
 *   1       var   lenbytes serialised partition key of the last row returned
 *   ..      1     1 if a clustering position follows, 0 if the partition is done
 *   ..      1     n clustering values, then n x lenbytes
 *   ..      8     rows already returned from this partition (per-partition limit)
 *
 * Invariants:
 *  1. A row is returned only if it is live now: some live cell or row marker
 *     whose timestamp is above every partition, range and row deletion that
 *     covers it, and which has not expired.
 *  2. Static rows (is_static) are reported at the start of each partition
 *     visited, do not count toward limits, and can be skipped.
 *  3. Resuming from a cursor returns exactly the rows after it, in the same
 *     order, as if the read had not stopped (given no writes in between).
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "util/fs.h"
#include "util/alloc.h"

bool range_covers(const struct coffer_table_schema *s, struct coffer_slice range,
		  const struct coffer_slice *ck, size_t n_ck);

struct cursor {
	bool present;
	struct coffer_slice pk;
	bool has_ck;
	size_t n_ck;
	struct coffer_slice ck[COFFER_MAX_CLUSTERING];
	uint64_t part_rows;
};

struct reader {
	struct coffer_table *t;
	const struct coffer_read *q;
	coffer_row_fn fn;
	void *arg;
	struct coffer_read_result *res;
	int64_t now;
	struct cursor cur;
	bool stop;
	struct coffer_cell_view *cells; /* cells_inline until it outgrows it */
	size_t cap_cells;
	struct coffer_cell_view cells_inline[16];
	size_t *rows; /* rows_inline until it outgrows it */
	size_t cap_rows;
	size_t rows_inline[16];
	/* last row returned, for the cursor: slices into the partition being
	 * read until remember_own() copies them (last_owned) into the buffers */
	struct coffer_slice last_pk;
	struct coffer_slice last_ck[COFFER_MAX_CLUSTERING];
	size_t last_n_ck;
	bool last_has_ck, last_owned;
	uint64_t last_part_rows;
	struct coffer_buf last_pk_buf, last_ck_buf;
};

/* The scalars; arrays are used only up to their counts, and the cursor is
 * parse_cursor's to set. */
static void reader_init(struct reader *rd, struct coffer_table *t, const struct coffer_read *q,
			coffer_row_fn fn, void *arg, struct coffer_read_result *res)
{
	rd->t = t;
	rd->q = q;
	rd->fn = fn;
	rd->arg = arg;
	rd->res = res;
	rd->now = 0;
	rd->stop = false;
	rd->cells = rd->cells_inline;
	rd->cap_cells = sizeof(rd->cells_inline) / sizeof(rd->cells_inline[0]);
	rd->rows = rd->rows_inline;
	rd->cap_rows = sizeof(rd->rows_inline) / sizeof(rd->rows_inline[0]);
	rd->last_pk = coffer_slice_of(NULL, 0);
	rd->last_n_ck = 0;
	rd->last_has_ck = false;
	rd->last_owned = true;
	rd->last_part_rows = 0;
	rd->last_pk_buf = rd->last_ck_buf = (struct coffer_buf){0};
}

static coffer_rc parse_cursor(struct coffer_slice s, struct cursor *c)
{
	struct coffer_reader r;
	uint8_t v, has, n;
	c->present = c->has_ck = false; /* every use of the rest asks these first */
	c->n_ck = 0;
	if (s.len == 0)
		return COFFER_OK;
	memset(c, 0, sizeof(*c));
	coffer_reader_init(&r, s, "paging cursor");
	TRY(coffer_reader_u8(&r, &v));
	ENSURE(v == 1, COFFER_E_INVALID, "paging cursor: unknown version");
	TRY(coffer_reader_lenbytes(&r, 1 << 16, &c->pk));
	TRY(coffer_reader_u8(&r, &has));
	TRY(coffer_reader_u8(&r, &n));
	ENSURE(n <= COFFER_MAX_CLUSTERING, COFFER_E_INVALID, "paging cursor: bad clustering");
	for (size_t i = 0; i < n; i++)
		TRY(coffer_reader_lenbytes(&r, 1 << 24, &c->ck[i]));
	TRY(coffer_reader_u64(&r, &c->part_rows));
	TRY(coffer_reader_end(&r));
	c->present = true;
	c->has_ck = has;
	c->n_ck = n;
	return COFFER_OK;
}

static void make_cursor(struct reader *rd, struct coffer_buf *out)
{
	coffer_buf_reset(out);
	coffer_buf_put_u8(out, 1);
	coffer_buf_put_lenbytes(out, rd->last_pk.ptr, rd->last_pk.len);
	coffer_buf_put_u8(out, rd->last_has_ck);
	coffer_buf_put_u8(out, (uint8_t)rd->last_n_ck);
	for (size_t i = 0; i < rd->last_n_ck; i++)
		coffer_buf_put_lenbytes(out, rd->last_ck[i].ptr, rd->last_ck[i].len);
	coffer_buf_put_u64(out, rd->last_part_rows);
}

static bool cell_live(const struct cell *c, int64_t now, int64_t shadow)
{
	if (c->flags & CELL_TOMBSTONE)
		return false;
	if ((c->flags & CELL_EXPIRING) && c->ldt <= now)
		return false;
	return c->ts > shadow;
}

/* Doubles an array that starts in the reader's inline storage `inl` (full
 * at *cap elements of `size` bytes), moving it to the heap the first time. */
static void *grow(void *a, void *inl, size_t *cap, size_t size)
{
	*cap *= 2;
	if (a != inl)
		return coffer_xrealloc(a, *cap * size);
	void *h = coffer_xmalloc(*cap * size);
	memcpy(h, inl, *cap / 2 * size);
	return h;
}

static void push_cell(struct reader *rd, size_t *n, const struct part_entry *e)
{
	if (*n == rd->cap_cells)
		rd->cells = grow(rd->cells, rd->cells_inline, &rd->cap_cells, sizeof(*rd->cells));
	struct coffer_cell_view *v = &rd->cells[(*n)++];
	v->column = e->k.slot - SLOT_COLUMN0;
	v->value = e->c.value;
	v->ts = e->c.ts;
	v->ttl = (e->c.flags & CELL_EXPIRING) ? e->c.ttl : 0;
	v->expires_us = (e->c.flags & CELL_EXPIRING) ? e->c.ldt : 0;
}

/* Whether ck is inside the query's clustering slice. */
static bool in_slice(const struct coffer_table_schema *s, const struct coffer_read *q,
		     const struct coffer_slice *ck, size_t n)
{
	if (q->lower.n) {
		int c = clustering_compare(s, ck, n, q->lower.values, q->lower.n);
		if (c < 0 || (c == 0 && !q->lower.inclusive))
			return false;
	}
	if (q->upper.n) {
		int c = clustering_compare(s, ck, n, q->upper.values, q->upper.n);
		if (c > 0 || (c == 0 && !q->upper.inclusive))
			return false;
	}
	return true;
}

/* Notes the last row returned (k NULL: the partition p is finished), by
 * reference: see remember_own. */
static void remember(struct reader *rd, const struct partition *p, const struct pkey *k,
		     uint64_t part_rows)
{
	rd->last_pk = p->pk;
	rd->last_has_ck = k != NULL;
	rd->last_n_ck = k ? k->n_ck : 0;
	for (size_t i = 0; i < rd->last_n_ck; i++)
		rd->last_ck[i] = k->ck[i];
	rd->last_part_rows = part_rows;
	rd->last_owned = false;
}

/* Copies what remember() noted into the reader's buffers: called before the
 * partition it points into goes away, when a cursor may still be made from
 * it (a later partition of the read, or this read stopping). A point read
 * that runs to its end never needs it. */
static void remember_own(struct reader *rd)
{
	if (rd->last_owned)
		return;
	coffer_buf_reset(&rd->last_pk_buf);
	coffer_buf_put(&rd->last_pk_buf, rd->last_pk.ptr, rd->last_pk.len);
	coffer_buf_reset(&rd->last_ck_buf);
	size_t offs[COFFER_MAX_CLUSTERING];
	for (size_t i = 0; i < rd->last_n_ck; i++) {
		offs[i] = rd->last_ck_buf.len;
		coffer_buf_put(&rd->last_ck_buf, rd->last_ck[i].ptr, rd->last_ck[i].len);
	}
	rd->last_pk = coffer_buf_slice(&rd->last_pk_buf);
	for (size_t i = 0; i < rd->last_n_ck; i++)
		rd->last_ck[i] = coffer_slice_of(rd->last_ck_buf.ptr + offs[i], rd->last_ck[i].len);
	rd->last_owned = true;
}

static void emit_partition(struct reader *rd, struct partition *p)
{
	const struct coffer_table_schema *s = &rd->t->schema;
	const struct coffer_read *q = rd->q;
	struct coffer_row_view v;
	memset(&v, 0, sizeof(v));
	v.partition_key = p->pk;
	v.token = p->token;

	int64_t pdel = INT64_MIN;
	size_t i = 0;
	for (; i < p->n && p->e[i].k.kind == KIND_PARTITION_DEL; i++)
		if (p->e[i].c.flags & CELL_TOMBSTONE)
			pdel = p->e[i].c.ts > pdel ? p->e[i].c.ts : pdel;

	bool resuming = rd->cur.present && coffer_slice_eq(rd->cur.pk, p->pk);
	uint64_t part_rows = resuming ? rd->cur.part_rows : 0;

	/* static row */
	size_t n = 0;
	for (; i < p->n && p->e[i].k.kind == KIND_STATIC; i++)
		if (p->e[i].k.slot >= SLOT_COLUMN0 && cell_live(&p->e[i].c, rd->now, pdel))
			push_cell(rd, &n, &p->e[i]);
	if (n && !q->skip_static) {
		v.is_static = true;
		v.cells = rd->cells;
		v.n_cells = n;
		if (!rd->fn(rd->arg, &v)) {
			rd->stop = true;
			return;
		}
	}
	v.is_static = false;

	size_t rt_start = i;
	for (; i < p->n && p->e[i].k.kind == KIND_RANGE_DEL; i++)
		;
	size_t rt_end = i;

	/* row boundaries */
	size_t nrows = 0;
	for (size_t j = i; j < p->n; j++) {
		if (p->e[j].k.kind != KIND_ROW)
			continue;
		if (j == i || clustering_compare(s, p->e[j].k.ck, p->e[j].k.n_ck, p->e[j - 1].k.ck,
						 p->e[j - 1].k.n_ck) != 0 ||
		    p->e[j].k.n_ck != p->e[j - 1].k.n_ck) {
			if (nrows == rd->cap_rows)
				rd->rows = grow(rd->rows, rd->rows_inline, &rd->cap_rows, sizeof(*rd->rows));
			rd->rows[nrows++] = j;
		}
	}
	bool any = false;
	for (size_t r = 0; r < nrows; r++) {
		size_t ri = q->reversed ? nrows - 1 - r : r;
		size_t a = rd->rows[ri], b = ri + 1 < nrows ? rd->rows[ri + 1] : p->n;
		const struct pkey *k = &p->e[a].k;
		if (!in_slice(s, q, k->ck, k->n_ck))
			continue;
		if (resuming && rd->cur.has_ck) {
			int c = clustering_compare(s, k->ck, k->n_ck, rd->cur.ck, rd->cur.n_ck);
			if (q->reversed ? c >= 0 : c <= 0)
				continue;
		}
		int64_t shadow = pdel;
		for (size_t j = rt_start; j < rt_end; j++)
			if (p->e[j].c.ts > shadow && (p->e[j].c.flags & CELL_TOMBSTONE) &&
			    range_covers(s, p->e[j].k.range, k->ck, k->n_ck))
				shadow = p->e[j].c.ts;
		n = 0;
		v.has_marker = false;
		for (size_t j = a; j < b; j++) {
			const struct part_entry *e = &p->e[j];
			if (e->k.slot == SLOT_ROW_DEL) {
				if ((e->c.flags & CELL_TOMBSTONE) && e->c.ts > shadow)
					shadow = e->c.ts;
			} else if (e->k.slot == SLOT_MARKER) {
				if (cell_live(&e->c, rd->now, shadow)) {
					v.has_marker = true;
					v.marker_ts = e->c.ts;
				}
			} else if (cell_live(&e->c, rd->now, shadow)) {
				push_cell(rd, &n, e);
			}
		}
		if (!v.has_marker && n == 0)
			continue;
		if (q->per_partition_limit && part_rows >= q->per_partition_limit)
			break;
		if (q->limit && rd->res->rows >= q->limit) {
			rd->res->more = true;
			rd->stop = true;
			return;
		}
		v.n_ck = k->n_ck;
		if (k->n_ck)
			memcpy(v.ck, k->ck, k->n_ck * sizeof(k->ck[0]));
		v.cells = rd->cells;
		v.n_cells = n;
		part_rows++;
		rd->res->rows++;
		any = true;
		remember(rd, p, k, part_rows);
		if (!rd->fn(rd->arg, &v)) {
			rd->stop = true;
			rd->res->more = true;
			return;
		}
	}
	if (any)
		rd->res->partitions++;
	/* partition finished: a cursor here resumes at the next partition */
	if (any || (resuming && !rd->cur.has_ck))
		remember(rd, p, NULL, part_rows);
}

/* Builds the merged iterator over every source (bloom-filtered by pk if given). */
static struct iter *sources(struct coffer_table *t, const struct coffer_slice *pk)
{
	size_t cap = 1 + t->n_imm + t->n_ssts, n = 0;
	struct iter **c = coffer_xcalloc(cap, sizeof(*c));
	c[n++] = memtable_iter(t->active);
	for (size_t i = t->n_imm; i-- > 0;)
		c[n++] = memtable_iter(t->imm[i]);
	for (size_t i = 0; i < t->n_ssts; i++)
		if (!pk || sst_may_contain(t->ssts[i], *pk))
			c[n++] = sst_iter(t->ssts[i]);
	struct iter *m = merge_iter(&t->schema, c, n);
	free(c);
	return m;
}

/* Gathers the entries of one partition from `it` (positioned in it): all of
 * them, or only those before the rows (meta_only); rows past the query's
 * upper bound end the gathering (rows are in clustering order). */
static coffer_rc gather(struct reader *rd, struct iter *it, struct coffer_slice pkey,
			struct partition *p, bool *any, bool meta_only)
{
	const struct coffer_read *q = rd->q;
	while (it->valid && entry_same_partition(it->key, pkey)) {
		if (meta_only || q->upper.n) {
			struct pkey k;
			TRY(entry_parse_key(it->key, &k));
			if (k.kind == KIND_ROW) {
				if (meta_only)
					break;
				if (clustering_compare(&rd->t->schema, k.ck, k.n_ck, q->upper.values,
						       q->upper.n) > 0)
					break;
			}
		}
		TRY(it->stable ? partition_push_borrowed(p, it->key, it->value)
			       : partition_push(p, it->key, it->value));
		*any = true;
		TRY(it->ops->next(it));
	}
	return COFFER_OK;
}

/* Where a forward read of this partition's rows may start: the lower bound,
 * or the cursor's row when resuming (NULL values: from the first row). */
static void row_start(struct reader *rd, struct coffer_slice pk, const struct coffer_slice **v,
		      size_t *n)
{
	const struct coffer_read *q = rd->q;
	*v = NULL;
	*n = 0;
	if (q->reversed)
		return;
	if (q->lower.n) {
		*v = q->lower.values;
		*n = q->lower.n;
	}
	if (rd->cur.present && rd->cur.has_ck && coffer_slice_eq(rd->cur.pk, pk) &&
	    (!*n || clustering_compare(&rd->t->schema, rd->cur.ck, rd->cur.n_ck, *v, *n) > 0)) {
		*v = rd->cur.ck;
		*n = rd->cur.n_ck;
	}
}

/* One source: the partition's entries before its rows, then its rows from
 * the seek key on (or all of it when `seek` is empty). */
static coffer_rc read_source(struct reader *rd, struct iter *it, bool positioned,
			     struct coffer_slice pkey, struct coffer_slice seek, struct partition *p,
			     bool *any)
{
	if (!positioned)
		TRY(it->ops->seek(it, pkey));
	if (!seek.len)
		return gather(rd, it, pkey, p, any, false);
	TRY(gather(rd, it, pkey, p, any, true));
	TRY(it->ops->seek(it, seek));
	return gather(rd, it, pkey, p, any, false);
}

/* Point read: each source is searched directly (memtables by their hash
 * index, SSTables past their bloom filters), without a merging iterator; the
 * few entries found are then sorted and reconciled. With a lower bound (or a
 * cursor) rows before it are skipped by seeking, so paging through a large
 * partition does not re-read its head. Nothing here allocates per source:
 * the iterators live on the stack and borrow the sources, which the state
 * lock keeps alive; entries are not copied either (it.stable): memtable
 * entries live as long as the memtable, SSTable entries as long as their
 * blocks stay pinned, up to BLOCK_PINS blocks per partition (beyond, they
 * are copied). */
static coffer_rc read_one(struct reader *rd, struct coffer_slice pk, struct partition *p,
			  struct coffer_buf *key, bool last)
{
	struct coffer_table *t = rd->t;
	coffer_rc rc = COFFER_OK;
	int sources = 0;
	struct coffer_buf seekbuf = {0};
	struct block_pins pins = {.n = 0};
	partition_reset(p);
	coffer_buf_reset(key);
	/* one Murmur3 hash for the token and every bloom filter */
	uint64_t h[2];
	bloom_hash(pk, h);
	int64_t token = token_of_hash(h);
	coffer_buf_reserve(key, 8 + 10 + pk.len); /* one allocation at most */
	entry_key_partition(key, token, pk);
	struct coffer_slice pkey = coffer_buf_slice(key);
	const struct coffer_slice *sv;
	size_t sn;
	row_start(rd, pk, &sv, &sn);
	if (sn) {
		/* a row-prefix key without a slot: sorts before that prefix's rows */
		entry_key_partition(&seekbuf, token, pk);
		coffer_buf_put_u8(&seekbuf, KIND_ROW);
		coffer_buf_put_u8(&seekbuf, (uint8_t)sn);
		for (size_t i = 0; i < sn; i++)
			coffer_buf_put_lenbytes(&seekbuf, sv[i].ptr, sv[i].len);
	}
	struct coffer_slice seek = coffer_buf_slice(&seekbuf);
	/* The sources are independent: start the cache misses of all of them
	 * before waiting on any (memtables: index bucket, first node, value;
	 * SSTables: slot, cached block, entry), then read them. For the first
	 * STAGED SSTables: may, the bloom answers, asked once; blk, the block
	 * each lands in; its, the iterators placed there. */
	enum { STAGED = 8 };
	uint64_t may = 0;
	size_t blk[STAGED], n_its = 0;
	struct sst_iter its[STAGED];
	size_t staged = sn ? 0 : (t->n_ssts < STAGED ? t->n_ssts : STAGED);
	for (int stage = 0; stage < 3 && !sn; stage++) {
		for (size_t i = 0; i <= t->n_imm; i++)
			memtable_prefetch(i == 0 ? t->active : t->imm[i - 1], pkey, stage);
		for (size_t i = 0; i < staged && rc == COFFER_OK; i++) {
			if (stage == 0 && sst_may_contain_hash(t->ssts[i], h)) {
				may |= UINT64_C(1) << i;
				blk[i] = sst_find_block(t->ssts[i], pkey);
			} else if (stage == 1 && (may & (UINT64_C(1) << i))) {
				sst_prefetch_block(t->ssts[i], blk[i]);
			} else if (stage == 2 && (may & (UINT64_C(1) << i))) {
				sst_iter_init(&its[n_its], t->ssts[i], &pins);
				rc = sst_iter_position(&its[n_its++], pkey, blk[i]);
			}
		}
	}
	for (size_t i = 0; i <= t->n_imm && rc == COFFER_OK; i++) {
		struct memtable *m = i == 0 ? t->active : t->imm[t->n_imm - i];
		bool any = false;
		struct mem_iter mi;
		if (sn)
			memtable_iter_init(&mi, m);
		else
			memtable_iter_init_partition(&mi, m, pkey);
		rc = read_source(rd, &mi.it, !sn, pkey, seek, p, &any);
		sources += any;
	}
	for (size_t j = 0; j < n_its; j++) {
		bool any = false;
		if (rc == COFFER_OK)
			rc = sst_iter_finish(&its[j]);
		if (rc == COFFER_OK)
			rc = read_source(rd, &its[j].it, true, pkey, seek, p, &any);
		sources += any;
		sst_iter_fini(&its[j]);
	}
	for (size_t i = staged; i < t->n_ssts && rc == COFFER_OK; i++) {
		if (!sst_may_contain_hash(t->ssts[i], h))
			continue;
		struct sst_iter si;
		sst_iter_init(&si, t->ssts[i], &pins);
		bool any = false;
		rc = read_source(rd, &si.it, false, pkey, seek, p, &any);
		sources += any;
		sst_iter_fini(&si);
	}
	coffer_buf_free(&seekbuf);
	if (rc == COFFER_OK && p->n) {
		if (sources > 1)
			partition_reconcile(&t->schema, p);
		p->pk = p->e[0].k.pk;
		p->token = p->e[0].k.token;
		emit_partition(rd, p);
		/* p's entries (pinned blocks, memtables under the state lock)
		 * are gone once this returns or the lock is released */
		if (rd->stop || !last)
			remember_own(rd);
	}
	block_pins_release(t->cache, &pins);
	return rc;
}

static coffer_rc scan(struct reader *rd, struct partition *p, struct coffer_buf *key)
{
	struct coffer_table *t = rd->t;
	const struct coffer_read *q = rd->q;
	int64_t tmin = q->token_range ? q->token_min : INT64_MIN;
	int64_t tmax = q->token_range ? q->token_max : INT64_MAX;
	struct iter *it = sources(t, NULL);
	coffer_buf_reset(key);
	if (rd->cur.present)
		entry_key_partition(key, coffer_token(rd->cur.pk), rd->cur.pk);
	else
		entry_key_partition(key, tmin, coffer_slice_of(NULL, 0));
	coffer_rc rc = it->ops->seek(it, coffer_buf_slice(key));
	while (rc == COFFER_OK && it->valid && !rd->stop) {
		rc = partition_load(it, p);
		if (rc != COFFER_OK || p->n == 0)
			break;
		if (p->token > tmax)
			break;
		if (p->token < tmin)
			continue;
		if (rd->cur.present && coffer_slice_eq(rd->cur.pk, p->pk) && !rd->cur.has_ck)
			continue; /* finished on the previous page */
		emit_partition(rd, p);
		remember_own(rd); /* the next partition_load reuses p */
	}
	it->ops->close(it);
	return rc;
}

coffer_rc coffer_table_read(struct coffer_table *t, const struct coffer_read *q, coffer_row_fn fn,
			    void *arg, struct coffer_read_result *res)
{
	coffer_rc rc = COFFER_OK;
	struct reader rd;
	struct partition p;
	struct coffer_buf key = {0};
	reader_init(&rd, t, q, fn, arg, res);
	res->rows = 0;
	res->partitions = 0;
	res->more = false;
	coffer_buf_reset(&res->cursor);
	TRY(coffer_keyring_check(t->kr));
	TRY(parse_cursor(q->cursor, &rd.cur));
	rd.now = coffer_clock_now_us(t->clock);
	struct part_entry pe[4]; /* a point read's few entries, without malloc */
	partition_init_buffer(&p, pe, sizeof(pe) / sizeof(pe[0]));
	pthread_rwlock_rdlock(&t->state);
	if (q->n_partitions) {
		size_t start = 0;
		if (rd.cur.present) {
			while (start < q->n_partitions && !coffer_slice_eq(q->partitions[start], rd.cur.pk))
				start++;
			if (start == q->n_partitions)
				start = 0;
		}
		for (size_t i = start; i < q->n_partitions && !rd.stop && rc == COFFER_OK; i++) {
			if (rd.cur.present && i == start && !rd.cur.has_ck &&
			    coffer_slice_eq(q->partitions[i], rd.cur.pk))
				continue;
			rc = read_one(&rd, q->partitions[i], &p, &key, i + 1 == q->n_partitions);
		}
	} else {
		rc = scan(&rd, &p, &key);
	}
	pthread_rwlock_unlock(&t->state);
	if (rc == COFFER_OK && res->more)
		make_cursor(&rd, &res->cursor);
	partition_free(&p);
	coffer_buf_free(&key);
	coffer_buf_free(&rd.last_pk_buf);
	coffer_buf_free(&rd.last_ck_buf);
	if (rd.cells != rd.cells_inline)
		free(rd.cells);
	if (rd.rows != rd.rows_inline)
		free(rd.rows);
	return rc;
}

static bool count_fn(void *arg, const struct coffer_row_view *row)
{
	if (!row->is_static)
		(*(uint64_t *)arg)++;
	return true;
}

coffer_rc coffer_table_count(struct coffer_table *t, const struct coffer_read *q, uint64_t *count)
{
	struct coffer_read_result res = {0};
	struct coffer_read qq = *q;
	qq.skip_static = true;
	*count = 0;
	coffer_rc rc = coffer_table_read(t, &qq, count_fn, count, &res);
	coffer_buf_free(&res.cursor);
	return rc;
}
