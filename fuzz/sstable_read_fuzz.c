/*
 * sstable_read_fuzz.c - libFuzzer target for the SSTable reader: sst_open()
 * (footer, statistics, bloom filter and index) and a full iteration plus a
 * seek (data blocks: decompression and entry parsing) over a file built from
 * the input (src/storage/sstable_read.c; layout in sstable_write.c).
 *
 * Input layout:
 *   OFFSET  SIZE  MEANING
 *   0       1     flags: bit 0 = sealed: blocks are built from the input and
 *                 sealed under the file's real data key with their real
 *                 nonces (so the parsers behind authentication are reached);
 *                 else the rest is the raw file.
 *                 bit 1 = the index plaintext comes from the input (else it
 *                 is built from the data blocks' real extents, with last keys
 *                 from the input). bit 2 = the footer plaintext comes from
 *                 the input (else it holds the real offsets). bit 3 = the
 *                 statistics' block count is patched to the real one.
 *                 bit 4 = drop the last (last input byte) bytes of the file.
 *   1       1     sealed: D = this % 9 data blocks
 *   2       ...   sealed: records (u16 length + bytes): D data block
 *                 plaintexts ([u8 compression 0 raw / 1 zstd | entries]);
 *                 the index plaintext (bit 1) or D last keys; bloom
 *                 plaintext (u32 k | bits); statistics plaintext (7 x u64);
 *                 footer plaintext (bit 2: 44 bytes)
 *
 * Checked on every input (abort otherwise): opening and reading succeed or
 * fail with COFFER_E_CORRUPT naming the file. Never a crash or a sanitizer
 * report. The unit test tests/unit/storage/fuzz_sstable_smoke_test.c runs the
 * seeds of fuzz/corpus/sstable_read/ and mutations of them in every build;
 * COFFER_FUZZ_ENTRY lets it call the entry directly.
 */
#include "storage_fuzz_env.h"

#ifndef COFFER_FUZZ_ENTRY
#define COFFER_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

int COFFER_FUZZ_ENTRY(const uint8_t *data, size_t size);

/* Appends one framed sealed block (u32 n | ct || tag); returns its extent. */
static void frame(struct block_ctx *bc, enum block_kind kind, uint64_t no, struct coffer_slice pt,
		  struct coffer_buf *file, uint64_t *off, uint32_t *len)
{
	*off = file->len;
	size_t at = file->len;
	coffer_buf_put_u32(file, 0);
	if (block_seal(bc, kind, no, pt, file) != COFFER_OK)
		abort();
	coffer_store_u32(file->ptr + at, (uint32_t)(file->len - at - 4));
	*len = (uint32_t)(file->len - at);
}

static void build_sealed(struct block_ctx *bc, uint8_t flags, const uint8_t *p, size_t n,
			 struct coffer_buf *file)
{
	size_t nd = n ? p[0] % 9 : 0;
	p += n ? 1 : 0;
	n -= n ? 1 : 0;
	uint64_t offs[8];
	uint32_t lens[8];
	for (size_t i = 0; i < nd; i++)
		frame(bc, BLOCK_DATA, i, sfz_take(&p, &n), file, &offs[i], &lens[i]);
	struct coffer_buf pt = {0};
	if (flags & 2) {
		struct coffer_slice x = sfz_take(&p, &n);
		coffer_buf_put(&pt, x.ptr, x.len);
	} else {
		struct coffer_buf idx = {0};
		coffer_buf_put_varint(&idx, nd);
		for (size_t i = 0; i < nd; i++) {
			struct coffer_slice k = sfz_take(&p, &n);
			coffer_buf_put_lenbytes(&idx, k.ptr, k.len);
			coffer_buf_put_varint(&idx, offs[i]);
			coffer_buf_put_varint(&idx, lens[i]);
		}
		block_compress(coffer_buf_slice(&idx), &pt);
		coffer_buf_free(&idx);
	}
	uint64_t io, bo, so;
	uint32_t il, bl, sl;
	frame(bc, BLOCK_INDEX, 0, coffer_buf_slice(&pt), file, &io, &il);
	frame(bc, BLOCK_BLOOM, 0, sfz_take(&p, &n), file, &bo, &bl);
	coffer_buf_reset(&pt);
	struct coffer_slice st = sfz_take(&p, &n);
	coffer_buf_put(&pt, st.ptr, st.len);
	if ((flags & 8) && pt.len >= 56)
		coffer_store_u64(pt.ptr + 48, nd);
	frame(bc, BLOCK_STATS, 0, coffer_buf_slice(&pt), file, &so, &sl);
	coffer_buf_reset(&pt);
	if (flags & 4) {
		struct coffer_slice f = sfz_take(&p, &n);
		coffer_buf_put(&pt, f.ptr, f.len);
	} else {
		coffer_buf_put_u64(&pt, io);
		coffer_buf_put_u32(&pt, il);
		coffer_buf_put_u64(&pt, bo);
		coffer_buf_put_u32(&pt, bl);
		coffer_buf_put_u64(&pt, so);
		coffer_buf_put_u32(&pt, sl);
		coffer_buf_put_u64(&pt, nd);
	}
	/* the footer is not framed: ct || tag then the end magic */
	if (block_seal(bc, BLOCK_FOOTER, 0, coffer_buf_slice(&pt), file) != COFFER_OK)
		abort();
	coffer_buf_put(file, "CFSSTEND", 8);
	coffer_buf_free(&pt);
}

int COFFER_FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	static uint64_t id;
	static struct block_ctx bc;
	struct coffer_table *t = sfz_table();
	if (!id)
		id = sfz_new_file(COFFER_KEY_PURPOSE_SSTABLE, &bc);
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	struct coffer_buf file = {0};
	if (!(flags & 1)) {
		coffer_buf_put(&file, data + 1, size - 1);
	} else {
		uint8_t hdr[52];
		memcpy(hdr, "CFSST001", 8);
		memcpy(hdr + 8, t->table_id, COFFER_TABLE_ID_LEN);
		coffer_store_u64(hdr + 44, id);
		coffer_buf_put(&file, hdr, sizeof(hdr));
		build_sealed(&bc, flags, data + 1, size - 1, &file);
		if (flags & 16) {
			size_t cut = data[size - 1];
			file.len -= cut < file.len ? cut : file.len;
		}
	}
	char *path = sst_path(t, id);
	sfz_write(path, &file);
	struct sstable *s = NULL;
	coffer_rc rc = sst_open(t, id, &s);
	sfz_check(rc, "SST-");
	if (rc == COFFER_OK) {
		struct coffer_slice first_last = s->n_blocks ? s->last_keys[0] : coffer_slice_of(NULL, 0);
		(void)sst_may_contain(s, coffer_slice_str("pk"));
		struct iter *it = sst_iter(s);
		rc = it->ops->seek(it, coffer_slice_of(NULL, 0));
		for (int steps = 0; rc == COFFER_OK && it->valid && steps < 100000; steps++)
			rc = it->ops->next(it);
		sfz_check(rc, "SST-");
		if (first_last.len) {
			rc = it->ops->seek(it, first_last);
			sfz_check(rc, "SST-");
		}
		it->ops->close(it);
		sst_unref(s);
	}
	block_cache_drop_file(t->cache, id);
	coffer_buf_free(&file);
	free(path);
	return 0;
}
