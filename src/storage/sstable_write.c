/*
 * sstable_write.c - writes an immutable SSTable: entries in table order, cut
 * into blocks, each compressed (zstd) then sealed with the file's own data key
 * (block.c); then the index, bloom filter, statistics and footer, each sealed
 * too. Nothing in the file is plaintext but the header's magic, table id and
 * file id, which are authenticated through every block's AAD.
 *
 * File layout (integers big-endian):
 *
 *   OFFSET   SIZE  MEANING
 *   0        8     magic "CFSST001"
 *   8        36    table id (uuid text)
 *   44       8     file id (selects the data key in the table's key registry)
 *   52       var   data blocks 0..D-1, each framed as: u32 n | n bytes sealed
 *                  (ciphertext || 16-byte tag) of [u8 compression | payload];
 *                  payload = (varint klen | key | varint vlen | value)*
 *   ..       var   index block (kind 2, number 0): varint D, then per data block
 *                  lenbytes last key | varint frame offset | varint frame length
 *   ..       var   bloom block (kind 3, number 0): u32 k | bit array over
 *                  the partition keys (Murmur3 double hashing)
 *   ..       var   statistics block (kind 4, number 0): u64 entries | u64 partitions |
 *                  u64 min ts | u64 max ts | u64 max local deletion time |
 *                  u64 tombstones | u64 data blocks
 *   F-68     60    footer (kind 5, number 0), sealed 44 bytes: u64 index offset |
 *                  u32 index frame length | u64 bloom offset | u32 bloom length |
 *                  u64 stats offset | u32 stats length | u64 data blocks D
 *   F-8      8     magic "CFSSTEND"
 *
 * Invariants:
 *  1. The file is written under a temporary name, fsynced, and renamed to
 *     SST-<id>.db only when complete; it becomes live only when the manifest
 *     names it (manifest.c), so a crash mid-write leaves an orphan that
 *     recovery deletes with its data key.
 *  2. The data key is in the registry (durably) before the first byte is
 *     written (keyring invariant 2).
 *  3. Entries are added in strictly increasing order (checked).
 *
 * sst_reseal (point-in-time restore) writes the same layout from another
 * SSTable: each block opened with that file's data key and sealed again,
 * unchanged, under the new file's key; block lengths, and so every offset,
 * are the same.
 *
 *   OPEN ──add*──► OPEN ──finish──► DONE (renamed, fsynced)
 *     └────────────abort──────────► REMOVED (file and key deleted)
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
#define FOOTER_PT 44
#define WRITE_BUF (1u << 20)
#define BLOOM_BITS_PER_KEY 10
#define BLOOM_K 7

struct sst_writer {
	struct coffer_table *t;
	uint64_t file_id;
	char *path, *tmp;
	int fd;
	struct block_ctx bc;
	bool bc_ok;
	uint64_t off;         /* file offset of out[0] */
	struct coffer_buf out; /* pending file bytes */
	struct coffer_buf block, comp, sealed;
	struct coffer_buf last_key;
	struct coffer_buf index;
	uint64_t n_blocks;
	struct coffer_buf bloom;
	uint64_t bloom_bits;
	struct coffer_buf last_pk;
	struct sst_stats st;
};

static void ignore(coffer_rc rc)
{
	(void)rc;
}

static void writer_free(struct sst_writer *w);

char *sst_path(const struct coffer_table *t, uint64_t id)
{
	char name[64];
	snprintf(name, sizeof(name), "SST-%016llx.db", (unsigned long long)id);
	return coffer_path_join(t->dir, name);
}

void bloom_hash(struct coffer_slice pk, uint64_t h[2])
{
	coffer_murmur3_x64_128(pk.ptr, pk.len, h);
}

static void bloom_add(struct sst_writer *w, struct coffer_slice pk)
{
	uint64_t h[2];
	bloom_hash(pk, h);
	for (int i = 0; i < BLOOM_K; i++) {
		uint64_t bit = (h[0] + (uint64_t)i * h[1]) % w->bloom_bits;
		w->bloom.ptr[4 + bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
}

static coffer_rc flush_out(struct sst_writer *w, bool force)
{
	if (w->out.len == 0 || (!force && w->out.len < WRITE_BUF))
		return COFFER_OK;
	TRY(coffer_vfs_pwrite_full(w->t->vfs, w->fd, w->out.ptr, w->out.len, (off_t)w->off, w->tmp));
	w->off += w->out.len;
	coffer_buf_reset(&w->out);
	return COFFER_OK;
}

/* Compresses (optionally), seals and frames one block; returns its offset and length. */
static coffer_rc emit(struct sst_writer *w, enum block_kind kind, uint64_t no,
		      struct coffer_slice pt, bool compress, uint64_t *at, uint32_t *len)
{
	coffer_buf_reset(&w->comp);
	if (compress)
		block_compress(pt, &w->comp);
	else
		coffer_buf_put(&w->comp, pt.ptr, pt.len);
	coffer_buf_reset(&w->sealed);
	TRY(block_seal(&w->bc, kind, no, coffer_buf_slice(&w->comp), &w->sealed));
	*at = w->off + w->out.len;
	coffer_buf_put_u32(&w->out, (uint32_t)w->sealed.len);
	coffer_buf_put(&w->out, w->sealed.ptr, w->sealed.len);
	*len = (uint32_t)(4 + w->sealed.len);
	return flush_out(w, false);
}

static coffer_rc finish_block(struct sst_writer *w)
{
	if (w->block.len == 0)
		return COFFER_OK;
	uint64_t at;
	uint32_t len;
	TRY(emit(w, BLOCK_DATA, w->n_blocks, coffer_buf_slice(&w->block), true, &at, &len));
	coffer_buf_put_lenbytes(&w->index, w->last_key.ptr, w->last_key.len);
	coffer_buf_put_varint(&w->index, at);
	coffer_buf_put_varint(&w->index, len);
	w->n_blocks++;
	coffer_buf_reset(&w->block);
	return COFFER_OK;
}

coffer_rc sst_writer_open(struct coffer_table *t, uint64_t file_id, uint64_t expected_partitions,
			  struct sst_writer **out)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret key = {0};
	struct sst_writer *w = COFFER_NEW(struct sst_writer);
	w->t = t;
	w->file_id = file_id;
	w->fd = -1;
	w->path = sst_path(t, file_id);
	w->tmp = coffer_xasprintf("%s.tmp", w->path);
	TRY_FAIL(coffer_keyring_new_data_key(t->kr, file_id, COFFER_KEY_PURPOSE_SSTABLE, &key));
	TRY_FAIL(block_ctx_init(&w->bc, &key, t->table_id, file_id));
	w->bc_ok = true;
	coffer_secret_free(&key);
	TRY_FAIL(coffer_vfs_open(t->vfs, w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600, &w->fd));
	coffer_buf_put(&w->out, SST_MAGIC, 8);
	coffer_buf_put(&w->out, t->table_id, COFFER_TABLE_ID_LEN);
	coffer_buf_put_u64(&w->out, file_id);
	/* a whole number of bytes: the reader takes the bit count from the length */
	w->bloom_bits = ((expected_partitions ? expected_partitions : 1) * BLOOM_BITS_PER_KEY + 64) & ~(uint64_t)63;
	coffer_buf_put_u32(&w->bloom, BLOOM_K);
	memset(coffer_buf_extend(&w->bloom, (size_t)(w->bloom_bits + 7) / 8), 0,
	       (size_t)(w->bloom_bits + 7) / 8);
	w->st.min_ts = INT64_MAX;
	w->st.max_ts = INT64_MIN;
	*out = w;
	return COFFER_OK;
fail:
	coffer_secret_free(&key);
	sst_writer_abort(w);
	return rc;
}

coffer_rc sst_writer_add(struct sst_writer *w, struct coffer_slice key, struct coffer_slice value)
{
	if (w->last_key.len)
		ENSURE(entry_compare(&w->t->schema, coffer_buf_slice(&w->last_key), key) < 0,
		       COFFER_E_INTERNAL, "%s: entries out of order", w->path);
	struct pkey k;
	struct cell c;
	TRY(entry_parse_key(key, &k));
	TRY(entry_parse_value(value, &c));
	if (w->st.partitions == 0 || !coffer_slice_eq(coffer_buf_slice(&w->last_pk), k.pk)) {
		bloom_add(w, k.pk);
		w->st.partitions++;
		coffer_buf_reset(&w->last_pk);
		coffer_buf_put(&w->last_pk, k.pk.ptr, k.pk.len);
	}
	w->st.entries++;
	if (c.ts < w->st.min_ts)
		w->st.min_ts = c.ts;
	if (c.ts > w->st.max_ts)
		w->st.max_ts = c.ts;
	if (c.ldt > w->st.max_ldt)
		w->st.max_ldt = c.ldt;
	if (c.flags & CELL_TOMBSTONE)
		w->st.tombstones++;
	entries_put(&w->block, key, value);
	coffer_buf_reset(&w->last_key);
	coffer_buf_put(&w->last_key, key.ptr, key.len);
	if (w->block.len >= w->t->block_bytes)
		TRY(finish_block(w));
	return COFFER_OK;
}

/* Releases the writer's memory and key context (its file is closed or gone). */
static void writer_free(struct sst_writer *w)
{
	if (w->bc_ok)
		block_ctx_free(&w->bc);
	coffer_buf_free(&w->out);
	coffer_buf_free(&w->block);
	coffer_buf_free(&w->comp);
	coffer_buf_free(&w->sealed);
	coffer_buf_free(&w->last_key);
	coffer_buf_free(&w->index);
	coffer_buf_free(&w->bloom);
	coffer_buf_free(&w->last_pk);
	free(w->path);
	free(w->tmp);
	free(w);
}

/* Seals the footer (layout above) into w's output. */
static coffer_rc seal_footer(struct sst_writer *w, uint64_t io, uint32_t il, uint64_t bo, uint32_t bl,
			     uint64_t so, uint32_t sl, uint64_t n_blocks)
{
	uint8_t pt[FOOTER_PT];
	coffer_store_u64(pt, io);
	coffer_store_u32(pt + 8, il);
	coffer_store_u64(pt + 12, bo);
	coffer_store_u32(pt + 20, bl);
	coffer_store_u64(pt + 24, so);
	coffer_store_u32(pt + 32, sl);
	coffer_store_u64(pt + 36, n_blocks);
	return block_seal(&w->bc, BLOCK_FOOTER, 0, coffer_slice_of(pt, sizeof(pt)), &w->out);
}

/* Ends the file after its sealed footer (in w->out): end magic, fsync,
 * rename into place (invariant 1). Consumes w either way. */
static coffer_rc commit_file(struct sst_writer *w, uint64_t *size)
{
	coffer_rc rc = COFFER_OK;
	coffer_buf_put(&w->out, SST_END, 8);
	TRY_FAIL(flush_out(w, true));
	if (!w->t->no_sync)
		TRY_FAIL(coffer_vfs_fsync(w->t->vfs, w->fd, w->tmp));
	TRY_FAIL(coffer_vfs_rename(w->t->vfs, w->tmp, w->path));
	if (!w->t->no_sync)
		TRY_FAIL(coffer_vfs_sync_dir(w->t->vfs, w->t->dir));
	*size = w->off;
	coffer_vfs_close(w->t->vfs, w->fd);
	w->fd = -1;
	writer_free(w);
	return COFFER_OK;
fail:
	sst_writer_abort(w);
	return rc;
}

coffer_rc sst_writer_finish(struct sst_writer *w, uint64_t *size)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_buf pt = {0};
	TRY_FAIL(finish_block(w));
	coffer_buf_put_varint(&pt, w->n_blocks);
	coffer_buf_put(&pt, w->index.ptr, w->index.len);
	uint64_t io, bo, so;
	uint32_t il, bl, sl;
	TRY_FAIL(emit(w, BLOCK_INDEX, 0, coffer_buf_slice(&pt), true, &io, &il));
	TRY_FAIL(emit(w, BLOCK_BLOOM, 0, coffer_buf_slice(&w->bloom), false, &bo, &bl));
	coffer_buf_reset(&pt);
	w->st.data_blocks = w->n_blocks;
	coffer_buf_put_u64(&pt, w->st.entries);
	coffer_buf_put_u64(&pt, w->st.partitions);
	coffer_buf_put_u64(&pt, (uint64_t)w->st.min_ts);
	coffer_buf_put_u64(&pt, (uint64_t)w->st.max_ts);
	coffer_buf_put_u64(&pt, (uint64_t)w->st.max_ldt);
	coffer_buf_put_u64(&pt, w->st.tombstones);
	coffer_buf_put_u64(&pt, w->st.data_blocks);
	TRY_FAIL(emit(w, BLOCK_STATS, 0, coffer_buf_slice(&pt), false, &so, &sl));
	TRY_FAIL(seal_footer(w, io, il, bo, bl, so, sl, w->n_blocks));
	coffer_buf_free(&pt);
	return commit_file(w, size);
fail:
	coffer_buf_free(&pt);
	sst_writer_abort(w);
	return rc;
}

void sst_writer_abort(struct sst_writer *w)
{
	if (!w)
		return;
	coffer_vfs_close(w->t->vfs, w->fd);
	ignore(coffer_vfs_unlink(w->t->vfs, w->tmp));
	ignore(coffer_vfs_unlink(w->t->vfs, w->path));
	ignore(coffer_keyring_delete_data_key(w->t->kr, w->file_id));
	writer_free(w);
}

/* ---- re-sealing (point-in-time restore) ------------------------------------------------- */

/* Opens frame `len` bytes at `off` of s (kind, number) and seals its
 * plaintext again, unchanged, into w's output under w's key. */
static coffer_rc reseal_frame(struct sstable *s, struct sst_writer *w, uint64_t off, uint32_t len,
			      enum block_kind kind, uint64_t no, struct coffer_buf *raw, struct coffer_buf *pt)
{
	ENSURE(len >= 4 + BLOCK_TAG && off >= HEADER_BYTES && off + len <= s->size, COFFER_E_CORRUPT,
	       "%s: block %llu extent out of range", s->path, (unsigned long long)no);
	ENSURE(off == w->off + w->out.len, COFFER_E_CORRUPT, "%s: block %llu is not where the previous ends",
	       s->path, (unsigned long long)no);
	coffer_buf_reset(raw);
	uint8_t *p = coffer_buf_extend(raw, len);
	TRY(coffer_vfs_pread_full(s->t->vfs, s->fd, p, len, (off_t)off, s->path));
	ENSURE(coffer_load_u32(p) == len - 4, COFFER_E_CORRUPT, "%s: block %llu has a bad frame length",
	       s->path, (unsigned long long)no);
	TRY(block_open(&s->bc, kind, no, coffer_slice_of(p + 4, len - 4), pt, s->path));
	coffer_buf_put_u32(&w->out, len - 4);
	coffer_rc rc = block_seal(&w->bc, kind, no, coffer_buf_slice(pt), &w->out);
	coffer_wipe(pt->ptr, pt->len);
	TRY(rc);
	return flush_out(w, false);
}

coffer_rc sst_open_written(struct coffer_table *t, uint64_t id, struct sstable **out)
{
	coffer_rc rc = sst_open(t, id, out);
	if (rc != COFFER_OK) {
		char *p = sst_path(t, id);
		ignore(coffer_vfs_unlink(t->vfs, p));
		free(p);
		ignore(coffer_keyring_delete_data_key(t->kr, id));
	}
	return rc;
}

coffer_rc sst_reseal(struct sstable *s, struct coffer_table *t, void (*tick)(void *arg, uint64_t bytes),
		     void *arg, struct sstable **out)
{
	coffer_rc rc = COFFER_OK;
	struct sst_writer *w = NULL;
	struct coffer_buf raw = {0}, pt = {0};
	uint64_t id = table_alloc_file_id(t), size;
	TRY(sst_writer_open(t, id, 0, &w)); /* the header, a new data key of t */
	/* every block in file order, sealed again: same kinds, numbers, lengths,
	 * so every offset the index and footer hold stays right */
	for (size_t i = 0; i < s->n_blocks && rc == COFFER_OK; i++) {
		rc = reseal_frame(s, w, s->offsets[i], s->lengths[i], BLOCK_DATA, i, &raw, &pt);
		if (tick && rc == COFFER_OK)
			tick(arg, s->offsets[i] + s->lengths[i]);
	}
	if (rc == COFFER_OK)
		rc = reseal_frame(s, w, s->index_off, s->index_len, BLOCK_INDEX, 0, &raw, &pt);
	if (rc == COFFER_OK)
		rc = reseal_frame(s, w, s->bloom_off, s->bloom_len, BLOCK_BLOOM, 0, &raw, &pt);
	if (rc == COFFER_OK)
		rc = reseal_frame(s, w, s->stats_off, s->stats_len, BLOCK_STATS, 0, &raw, &pt);
	if (rc == COFFER_OK)
		rc = seal_footer(w, s->index_off, s->index_len, s->bloom_off, s->bloom_len, s->stats_off,
				 s->stats_len, s->n_blocks);
	if (rc != COFFER_OK)
		goto fail;
	ENSURE_FAIL(w->off + w->out.len + 8 == s->size, COFFER_E_CORRUPT, "%s: unexpected bytes after the blocks",
		    s->path);
	rc = commit_file(w, &size);
	w = NULL;
	if (rc == COFFER_OK)
		rc = sst_open_written(t, id, out);
fail:
	if (w)
		sst_writer_abort(w);
	if (pt.ptr)
		coffer_wipe(pt.ptr, pt.cap);
	coffer_buf_free(&pt);
	coffer_buf_free(&raw);
	return rc;
}
