/*
 * block.c - how every stored block is sealed: AES-256-GCM under the file's data
 * key, the nonce derived from the block's kind and number, the AAD binding the
 * table, the file and the block; and zstd compression before sealing.
 *
 *   nonce (12) = u8 kind | 3 zero bytes | u64 block number
 *   AAD        = "coffer" | u8 kind | table id (36) | u64 file id | u64 block number
 *
 * Invariants:
 *  1. A (key, nonce) pair is never used twice: each file has its own random data
 *     key, files are write-once, and within a file each (kind, number) is
 *     sealed once (DESIGN.md rule 2).
 *  2. A block moved within a file, to another file, or to another table fails
 *     authentication (AAD), and so does any flipped bit; the error names the
 *     file and block (rule 3).
 *  3. Compression happens before encryption (ciphertext does not compress).
 *  4. COFFER_BENCH_NULL_CIPHER (set only for the coffer-storage-bench-nullcipher
 *     target) replaces the AEAD by a copy, to measure what encryption costs;
 *     release targets never define it.
 *  5. A block_ctx is read-only after block_ctx_init, and its AEAD context is
 *     safe to use from several threads at once (crypto.h), so readers of one
 *     SSTable and the commit log's leader seal and open without a lock here.
 */
#include <errno.h>
#include <string.h>
#include <zstd.h>

#include "storage/storage_internal.h"
#include "util/fs.h"

coffer_rc block_ctx_init(struct block_ctx *b, const struct coffer_secret *key, const char *table_id,
			 uint64_t file_id)
{
	memset(b, 0, sizeof(*b));
	memcpy(b->table_id, table_id, COFFER_TABLE_ID_LEN);
	b->file_id = file_id;
	return coffer_aead_ctx_new(key->ptr, &b->aead);
}

void block_ctx_free(struct block_ctx *b)
{
	if (b->aead)
		coffer_aead_ctx_free(b->aead);
	b->aead = NULL;
}

static void nonce_aad(const struct block_ctx *b, enum block_kind kind, uint64_t no,
		      uint8_t nonce[COFFER_AEAD_NONCE_BYTES], uint8_t aad[59])
{
	memset(nonce, 0, COFFER_AEAD_NONCE_BYTES);
	nonce[0] = (uint8_t)kind;
	coffer_store_u64(nonce + 4, no);
	memcpy(aad, "coffer", 6);
	aad[6] = (uint8_t)kind;
	memcpy(aad + 7, b->table_id, COFFER_TABLE_ID_LEN);
	coffer_store_u64(aad + 43, b->file_id);
	coffer_store_u64(aad + 51, no);
}

coffer_rc block_seal(struct block_ctx *b, enum block_kind kind, uint64_t no, struct coffer_slice pt,
		     struct coffer_buf *out)
{
	uint8_t nonce[COFFER_AEAD_NONCE_BYTES], aad[59];
	nonce_aad(b, kind, no, nonce, aad);
	uint8_t *ct = coffer_buf_extend(out, pt.len + BLOCK_TAG);
#ifdef COFFER_BENCH_NULL_CIPHER
	(void)nonce;
	memcpy(ct, pt.ptr, pt.len);
	memset(ct + pt.len, 0, BLOCK_TAG);
	return COFFER_OK;
#else
	return coffer_aead_ctx_seal(b->aead, nonce, coffer_slice_of(aad, sizeof(aad)), pt, ct,
				    ct + pt.len);
#endif
}

static const char *kind_name(enum block_kind k)
{
	switch (k) {
	case BLOCK_DATA: return "data block";
	case BLOCK_INDEX: return "index block";
	case BLOCK_BLOOM: return "bloom filter block";
	case BLOCK_STATS: return "statistics block";
	case BLOCK_FOOTER: return "footer";
	case BLOCK_COMMIT: return "commit-log group";
	case BLOCK_MANIFEST: return "manifest";
	case BLOCK_JOURNAL: return "backup journal record";
	}
	return "block";
}

coffer_rc block_open(struct block_ctx *b, enum block_kind kind, uint64_t no,
		     struct coffer_slice ct_tag, struct coffer_buf *out, const char *path)
{
	ENSURE(ct_tag.len >= BLOCK_TAG, COFFER_E_CORRUPT, "%s: %s %llu is truncated", path,
	       kind_name(kind), (unsigned long long)no);
	uint8_t nonce[COFFER_AEAD_NONCE_BYTES], aad[59];
	nonce_aad(b, kind, no, nonce, aad);
	size_t n = ct_tag.len - BLOCK_TAG;
	coffer_buf_reset(out);
	uint8_t *pt = coffer_buf_extend(out, n);
#ifdef COFFER_BENCH_NULL_CIPHER
	(void)nonce;
	static const uint8_t zero[BLOCK_TAG];
	memcpy(pt, ct_tag.ptr, n);
	coffer_rc rc = memcmp(ct_tag.ptr + n, zero, BLOCK_TAG) == 0 ? COFFER_OK : COFFER_E_AUTH;
#else
	coffer_rc rc = coffer_aead_ctx_open(b->aead, nonce, coffer_slice_of(aad, sizeof(aad)),
					    coffer_slice_of(ct_tag.ptr, n), ct_tag.ptr + n, pt);
#endif
	if (rc != COFFER_OK) {
		coffer_buf_reset(out);
		BAIL(COFFER_E_CORRUPT, "%s: %s %llu does not authenticate (tampered, moved or from another file)",
		     path, kind_name(kind), (unsigned long long)no);
	}
	return COFFER_OK;
}

void block_compress(struct coffer_slice in, struct coffer_buf *out)
{
	size_t bound = ZSTD_compressBound(in.len);
	size_t start = out->len;
	uint8_t *p = coffer_buf_extend(out, 1 + bound);
	size_t n = ZSTD_compress(p + 1, bound, in.ptr, in.len, 1);
	if (ZSTD_isError(n) || n >= in.len) {
		out->len = start;
		coffer_buf_put_u8(out, 0);
		coffer_buf_put(out, in.ptr, in.len);
		return;
	}
	p[0] = 1;
	out->len = start + 1 + n;
}

coffer_rc block_decompress(struct coffer_slice in, struct coffer_buf *out, const char *path,
			   uint64_t no)
{
	ENSURE(in.len >= 1, COFFER_E_CORRUPT, "%s: block %llu is empty", path, (unsigned long long)no);
	coffer_buf_reset(out);
	if (in.ptr[0] == 0) {
		coffer_buf_put(out, in.ptr + 1, in.len - 1);
		return COFFER_OK;
	}
	ENSURE(in.ptr[0] == 1, COFFER_E_CORRUPT, "%s: block %llu has unknown compression %u", path,
	       (unsigned long long)no, in.ptr[0]);
	unsigned long long size = ZSTD_getFrameContentSize(in.ptr + 1, in.len - 1);
	ENSURE(size != ZSTD_CONTENTSIZE_ERROR && size != ZSTD_CONTENTSIZE_UNKNOWN && size <= (64u << 20),
	       COFFER_E_CORRUPT, "%s: block %llu has a bad zstd frame", path, (unsigned long long)no);
	uint8_t *p = coffer_buf_extend(out, (size_t)size);
	size_t n = ZSTD_decompress(p, (size_t)size, in.ptr + 1, in.len - 1);
	ENSURE(!ZSTD_isError(n) && n == size, COFFER_E_CORRUPT, "%s: block %llu does not decompress",
	       path, (unsigned long long)no);
	return COFFER_OK;
}
