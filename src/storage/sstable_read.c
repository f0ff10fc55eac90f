/*
 * sstable_read.c - opens an SSTable (layout in sstable_write.c) and iterates
 * over it. Opening authenticates the footer, index, bloom filter and
 * statistics; data blocks are authenticated as they are read, and cached
 * decrypted in the table's block cache.
 *
 * Invariants:
 *  1. Every byte used comes out of block_open (authenticated) or is checked
 *     against what an authenticated block says (offsets, lengths, counts); a
 *     mismatch is COFFER_E_CORRUPT naming the file (and block), never data.
 *  2. The file's table id and file id must match the table and the name the
 *     manifest gave; its data key must be in this table's registry (a file
 *     moved from another table has no key here, or a different one).
 *  3. An open SSTable is reference-counted: readers and the table's list each
 *     hold one; the last unref closes it (compaction deletes the file only
 *     after it has left the table's list). A read holding the table's state
 *     lock may borrow it instead (sst_iter_init: no reference).
 *  4. A seek finds the same entry entry_compare would: it compares the high
 *     32 bits of the 8-byte biased tokens (index last keys, block entries)
 *     and only on equal halves whole keys, which is exact because
 *     entry_compare orders keys of 8 bytes or more by those bytes first; an
 *     index or block holding a shorter key is searched by whole keys.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "util/fs.h"
#include "util/alloc.h"

#define SST_MAGIC "CFSST001"
#define SST_END "CFSSTEND"
#define HEADER_BYTES 52
#define FOOTER_BYTES (44 + BLOCK_TAG + 8)

static coffer_rc read_frame(struct sstable *s, uint64_t off, uint32_t len, enum block_kind kind,
			    uint64_t no, struct coffer_buf *raw, struct coffer_buf *pt)
{
	ENSURE(len >= 4 + BLOCK_TAG && off >= HEADER_BYTES && off + len <= s->size - FOOTER_BYTES,
	       COFFER_E_CORRUPT, "%s: block %llu extent out of range", s->path, (unsigned long long)no);
	coffer_buf_reset(raw);
	uint8_t *p = coffer_buf_extend(raw, len);
	TRY(coffer_vfs_pread_full(s->t->vfs, s->fd, p, len, (off_t)off, s->path));
	ENSURE(coffer_load_u32(p) == len - 4, COFFER_E_CORRUPT, "%s: block %llu has a bad frame length",
	       s->path, (unsigned long long)no);
	return block_open(&s->bc, kind, no, coffer_slice_of(p + 4, len - 4), pt, s->path);
}

static coffer_rc load_meta(struct sstable *s)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_buf raw = {0}, pt = {0}, dec = {0};
	uint8_t hdr[HEADER_BYTES], foot[FOOTER_BYTES];
	struct coffer_reader r;

	ENSURE_FAIL(s->size >= HEADER_BYTES + FOOTER_BYTES, COFFER_E_CORRUPT,
		    "%s: truncated (%llu bytes)", s->path, (unsigned long long)s->size);
	TRY_FAIL(coffer_vfs_pread_full(s->t->vfs, s->fd, hdr, sizeof(hdr), 0, s->path));
	ENSURE_FAIL(memcmp(hdr, SST_MAGIC, 8) == 0, COFFER_E_CORRUPT, "%s: not an SSTable", s->path);
	ENSURE_FAIL(memcmp(hdr + 8, s->t->table_id, COFFER_TABLE_ID_LEN) == 0, COFFER_E_CORRUPT,
		    "%s: SSTable of another table", s->path);
	ENSURE_FAIL(coffer_load_u64(hdr + 44) == s->file_id, COFFER_E_CORRUPT,
		    "%s: file id does not match its name", s->path);
	TRY_FAIL(coffer_vfs_pread_full(s->t->vfs, s->fd, foot, sizeof(foot),
				       (off_t)(s->size - FOOTER_BYTES), s->path));
	ENSURE_FAIL(memcmp(foot + FOOTER_BYTES - 8, SST_END, 8) == 0, COFFER_E_CORRUPT,
		    "%s: truncated or damaged (no end marker)", s->path);
	TRY_FAIL(block_open(&s->bc, BLOCK_FOOTER, 0, coffer_slice_of(foot, 44 + BLOCK_TAG), &pt, s->path));
	uint64_t io, bo, so, nblocks;
	uint32_t il, bl, sl;
	coffer_reader_init(&r, coffer_buf_slice(&pt), s->path);
	TRY_FAIL(coffer_reader_u64(&r, &io));
	TRY_FAIL(coffer_reader_u32(&r, &il));
	TRY_FAIL(coffer_reader_u64(&r, &bo));
	TRY_FAIL(coffer_reader_u32(&r, &bl));
	TRY_FAIL(coffer_reader_u64(&r, &so));
	TRY_FAIL(coffer_reader_u32(&r, &sl));
	TRY_FAIL(coffer_reader_u64(&r, &nblocks));
	s->index_off = io, s->index_len = il;
	s->bloom_off = bo, s->bloom_len = bl;
	s->stats_off = so, s->stats_len = sl;

	/* statistics */
	TRY_FAIL(read_frame(s, so, sl, BLOCK_STATS, 0, &raw, &pt));
	coffer_reader_init(&r, coffer_buf_slice(&pt), s->path);
	uint64_t u;
	TRY_FAIL(coffer_reader_u64(&r, &s->stats.entries));
	TRY_FAIL(coffer_reader_u64(&r, &s->stats.partitions));
	TRY_FAIL(coffer_reader_u64(&r, &u));
	s->stats.min_ts = (int64_t)u;
	TRY_FAIL(coffer_reader_u64(&r, &u));
	s->stats.max_ts = (int64_t)u;
	TRY_FAIL(coffer_reader_u64(&r, &u));
	s->stats.max_ldt = (int64_t)u;
	TRY_FAIL(coffer_reader_u64(&r, &s->stats.tombstones));
	TRY_FAIL(coffer_reader_u64(&r, &s->stats.data_blocks));
	ENSURE_FAIL(s->stats.data_blocks == nblocks, COFFER_E_CORRUPT, "%s: block counts disagree", s->path);

	/* bloom filter */
	TRY_FAIL(read_frame(s, bo, bl, BLOCK_BLOOM, 0, &raw, &s->bloom));
	ENSURE_FAIL(s->bloom.len > 4, COFFER_E_CORRUPT, "%s: empty bloom filter", s->path);
	s->bloom_k = coffer_load_u32(s->bloom.ptr);
	s->bloom_bits = (uint64_t)(s->bloom.len - 4) * 8;
	s->bloom_m = fastmod_m(s->bloom_bits);
	ENSURE_FAIL(s->bloom_k >= 1 && s->bloom_k <= 30, COFFER_E_CORRUPT, "%s: bad bloom filter", s->path);

	/* index */
	TRY_FAIL(read_frame(s, io, il, BLOCK_INDEX, 0, &raw, &pt));
	TRY_FAIL(block_decompress(coffer_buf_slice(&pt), &s->index_buf, s->path, 0));
	coffer_reader_init(&r, coffer_buf_slice(&s->index_buf), s->path);
	uint64_t n;
	TRY_FAIL(coffer_reader_varint(&r, &n));
	ENSURE_FAIL(n == nblocks, COFFER_E_CORRUPT, "%s: index has %llu blocks, footer %llu", s->path,
		    (unsigned long long)n, (unsigned long long)nblocks);
	s->n_blocks = (size_t)n;
	s->last_keys = coffer_xcalloc(n ? n : 1, sizeof(*s->last_keys));
	s->last_toks = coffer_xcalloc(n ? n : 1, sizeof(*s->last_toks));
	s->slots = coffer_xcalloc(n ? n : 1, sizeof(*s->slots));
	s->by_tok = true;
	s->offsets = coffer_xcalloc(n ? n : 1, sizeof(*s->offsets));
	s->lengths = coffer_xcalloc(n ? n : 1, sizeof(*s->lengths));
	for (size_t i = 0; i < n; i++) {
		uint64_t len;
		TRY_FAIL(coffer_reader_lenbytes(&r, 1 << 26, &s->last_keys[i]));
		if (s->last_keys[i].len >= 8)
			s->last_toks[i] = (uint32_t)(coffer_load_u64(s->last_keys[i].ptr) >> 32);
		else
			s->by_tok = false;
		TRY_FAIL(coffer_reader_varint(&r, &s->offsets[i]));
		TRY_FAIL(coffer_reader_varint(&r, &len));
		ENSURE_FAIL(len < (1u << 30), COFFER_E_CORRUPT, "%s: index entry %zu", s->path, i);
		s->lengths[i] = (uint32_t)len;
	}
	TRY_FAIL(coffer_reader_end(&r));
fail:
	coffer_buf_free(&raw);
	coffer_buf_free(&pt);
	coffer_buf_free(&dec);
	return rc;
}

static void sst_free(struct sstable *s)
{
	if (s->slots) /* blockcache.c invariant 5 */
		block_cache_drop_slots(s->t->cache, s->slots, s->file_id, s->n_blocks);
	free(s->slots);
	coffer_vfs_close(s->t->vfs, s->fd);
	block_ctx_free(&s->bc);
	coffer_buf_free(&s->index_buf);
	coffer_buf_free(&s->bloom);
	free(s->last_keys);
	free(s->last_toks);
	free(s->offsets);
	free(s->lengths);
	free(s->path);
	free(s);
}

coffer_rc sst_open(struct coffer_table *t, uint64_t file_id, struct sstable **out)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret key = {0};
	struct sstable *s = COFFER_NEW(struct sstable);
	s->t = t;
	s->file_id = file_id;
	s->fd = -1;
	s->path = sst_path(t, file_id);
	atomic_store(&s->refs, 1);
	TRY_FAIL(coffer_vfs_open(t->vfs, s->path, O_RDONLY, 0, &s->fd));
	TRY_FAIL(coffer_vfs_size(s->fd, s->path, &s->size));
	rc = coffer_keyring_data_key(t->kr, file_id, COFFER_KEY_PURPOSE_SSTABLE, &key);
	if (rc != COFFER_OK) {
		coffer_error_wrap("%s: ", s->path);
		goto fail;
	}
	TRY_FAIL(block_ctx_init(&s->bc, &key, t->table_id, file_id));
	coffer_secret_free(&key);
	TRY_FAIL(load_meta(s));
	*out = s;
	return COFFER_OK;
fail:
	coffer_secret_free(&key);
	sst_free(s);
	return rc;
}

void sst_ref(struct sstable *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void sst_unref(struct sstable *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		sst_free(s);
}

bool sst_may_contain_hash(const struct sstable *s, const uint64_t h[2])
{
	for (uint32_t i = 0; i < s->bloom_k; i++) {
		uint64_t bit = fastmod(h[0] + (uint64_t)i * h[1], s->bloom_m, s->bloom_bits);
		if (!(s->bloom.ptr[4 + bit / 8] & (1u << (bit % 8))))
			return false;
	}
	return true;
}

bool sst_may_contain(const struct sstable *s, struct coffer_slice pk)
{
	uint64_t h[2];
	bloom_hash(pk, h);
	return sst_may_contain_hash(s, h);
}

/* A data block, from the cache or from disk (then cached). */
static coffer_rc get_block(struct sstable *s, size_t no, struct cached_block **out)
{
	struct block_cache *c = s->t->cache;
	struct cached_block *b = block_cache_get(c, &s->slots[no], s->file_id, no);
	if (b) {
		*out = b;
		return COFFER_OK;
	}
	struct coffer_buf raw = {0}, pt = {0}, data = {0};
	coffer_rc rc = read_frame(s, s->offsets[no], s->lengths[no], BLOCK_DATA, no, &raw, &pt);
	if (rc == COFFER_OK)
		rc = block_decompress(coffer_buf_slice(&pt), &data, s->path, no);
	if (rc == COFFER_OK)
		rc = cached_block_new(coffer_buf_slice(&data), s->file_id, no, s->path, &b);
	coffer_buf_free(&raw);
	coffer_buf_free(&pt);
	coffer_buf_free(&data);
	TRY(rc);
	*out = block_cache_put(c, &s->slots[no], b);
	return COFFER_OK;
}

/* ---- iterator ------------------------------------------------------------- */


void block_pins_release(struct block_cache *c, struct block_pins *p)
{
	for (size_t i = 0; i < p->n; i++)
		block_cache_release(c, p->b[i]);
	p->n = 0;
}

static void release_block(struct sst_iter *si)
{
	if (!si->cb_pinned) /* a pinned block's reference is the pin set's */
		block_cache_release(si->s->t->cache, si->cb);
	si->cb = NULL;
	si->cb_pinned = false;
}

static coffer_rc load(struct sst_iter *si, size_t block)
{
	release_block(si);
	si->block = block;
	if (block >= si->s->n_blocks) {
		si->it.valid = false;
		return COFFER_OK;
	}
	TRY(get_block(si->s, block, &si->cb));
	si->cb_pinned = si->pins && si->pins->n < BLOCK_PINS;
	if (si->cb_pinned)
		si->pins->b[si->pins->n++] = si->cb;
	si->it.stable = si->cb_pinned;
	coffer_reader_init(&si->r, si->cb->data, si->s->path);
	return COFFER_OK;
}

/* Reads the next entry of the current block, moving to later blocks as needed. */
static coffer_rc step(struct sst_iter *si)
{
	for (;;) {
		if (!si->cb) {
			si->it.valid = false;
			return COFFER_OK;
		}
		if (!coffer_reader_done(&si->r)) {
			coffer_rc rc = entries_next(&si->r, &si->it.key, &si->it.value);
			if (rc != COFFER_OK)
				return coffer_error_wrap("%s: data block %zu", si->s->path, si->block);
			si->it.valid = true;
			return COFFER_OK;
		}
		TRY(load(si, si->block + 1));
	}
}

/* First i in [0, n) with tok[i] >= k (tok ascending); branch-free, so the
 * search costs no mispredicted branches. */
static size_t lower_bound_u32(const uint32_t *tok, size_t n, uint32_t k)
{
	if (n == 0)
		return 0;
	const uint32_t *base = tok;
	while (n > 1) {
		size_t half = n / 2;
		base = base[half] < k ? base + half : base;
		n -= half;
	}
	return (size_t)(base - tok) + (*base < k);
}

/* What a seek searches: n keys in table order, key(i) the i-th, and, when
 * tok is not NULL, their token halves (invariant 4). */
struct sorted_keys {
	const uint32_t *tok;
	size_t n;
	struct coffer_slice (*key)(const void *ctx, size_t i);
	const void *ctx;
};

/* First i with key(i) >= key: token halves narrow it to the run of halves
 * equal to the key's, whole keys decide within that run (usually of one or
 * no entry; a wide partition's rows share a token). */
static size_t seek_sorted(const struct coffer_table_schema *sc, const struct sorted_keys *sk,
			  struct coffer_slice key)
{
	size_t lo = 0, hi = sk->n;
	if (sk->tok && key.len >= 8) {
		uint32_t k = (uint32_t)(coffer_load_u64(key.ptr) >> 32);
		lo = lower_bound_u32(sk->tok, sk->n, k);
		if (lo == sk->n || sk->tok[lo] != k)
			return lo;
		hi = k == UINT32_MAX ? sk->n : lo + lower_bound_u32(sk->tok + lo, sk->n - lo, k + 1);
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (entry_compare(sc, sk->key(sk->ctx, mid), key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct coffer_slice index_key(const void *ctx, size_t i)
{
	return ((const struct sstable *)ctx)->last_keys[i];
}

/* The key of entry i of a cached block (checked when the block was built). */
static struct coffer_slice block_key(const void *ctx, size_t i)
{
	const struct cached_block *b = ctx;
	struct coffer_reader r;
	struct coffer_slice k, v;
	coffer_reader_init(&r, b->data, NULL);
	r.off = b->off[i];
	if (entries_next(&r, &k, &v) != COFFER_OK)
		return coffer_slice_of(NULL, 0);
	return k;
}

/* The first block whose last key >= key (n_blocks: none). */
static size_t find_block(struct sstable *s, struct coffer_slice key)
{
	struct sorted_keys idx = {s->by_tok ? s->last_toks : NULL, s->n_blocks, index_key, s};
	return seek_sorted(&s->t->schema, &idx, key);
}

size_t sst_find_block(struct sstable *s, struct coffer_slice key)
{
	size_t no = find_block(s, key);
	if (no < s->n_blocks)
		__builtin_prefetch(&s->slots[no]);
	return no;
}

void sst_prefetch_block(struct sstable *s, size_t no)
{
	if (no < s->n_blocks)
		block_cache_prefetch(&s->slots[no]);
}

coffer_rc sst_iter_position(struct sst_iter *si, struct coffer_slice key, size_t block)
{
	TRY(load(si, block));
	si->pending = key;
	const struct cached_block *b = si->cb;
	if (!b)
		return COFFER_OK;
	/* every entry before a is < key (a smaller token half); whole keys are
	 * compared by sst_iter_finish, once the entry has arrived */
	size_t a = key.len >= 8 && b->by_tok
			   ? lower_bound_u32(b->tok, b->n, (uint32_t)(coffer_load_u64(key.ptr) >> 32))
			   : 0;
	si->r.off = a < b->n ? b->off[a] : si->r.len;
	if (a < b->n)
		__builtin_prefetch(b->data.ptr + b->off[a]);
	return COFFER_OK;
}

coffer_rc sst_iter_finish(struct sst_iter *si)
{
	const struct coffer_table_schema *sc = &si->s->t->schema;
	for (;;) {
		TRY(step(si));
		if (!si->it.valid || entry_compare(sc, si->it.key, si->pending) >= 0)
			return COFFER_OK;
	}
}

static coffer_rc si_seek(struct iter *it, struct coffer_slice key)
{
	struct sst_iter *si = (struct sst_iter *)it;
	struct sstable *s = si->s;
	const struct coffer_table_schema *sc = &s->t->schema;
	if (!key.len) {
		TRY(load(si, 0));
		return step(si);
	}
	/* the first block whose last key >= key, then its first entry >= key */
	TRY(load(si, find_block(s, key)));
	bool found = false;
	if (si->cb) {
		const struct cached_block *b = si->cb;
		struct sorted_keys ent = {b->by_tok ? b->tok : NULL, b->n, block_key, b};
		size_t a = seek_sorted(sc, &ent, key);
		found = a < b->n;
		si->r.off = found ? b->off[a] : si->r.len;
	}
	for (;;) {
		TRY(step(si));
		if (!it->valid || found || entry_compare(sc, it->key, key) >= 0)
			return COFFER_OK;
	}
}

static coffer_rc si_next(struct iter *it)
{
	return step((struct sst_iter *)it);
}

static void si_close(struct iter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;
	release_block(si);
	sst_unref(si->s);
	free(si);
}

static const struct iter_ops sst_iter_ops = {si_seek, si_next, si_close};

static const struct iter_ops sst_borrowed_ops = {si_seek, si_next, NULL};

void sst_iter_init(struct sst_iter *si, struct sstable *s, struct block_pins *pins)
{
	memset(si, 0, sizeof(*si));
	si->it.ops = &sst_borrowed_ops;
	si->s = s;
	si->pins = pins;
}

void sst_iter_fini(struct sst_iter *si)
{
	release_block(si);
}

struct iter *sst_iter(struct sstable *s)
{
	struct sst_iter *si = COFFER_NEW(struct sst_iter);
	si->it.ops = &sst_iter_ops;
	si->s = s;
	sst_ref(s);
	return &si->it;
}
