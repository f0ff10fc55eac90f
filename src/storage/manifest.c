/*
 * manifest.c - the table's manifest: the single commit point of flushes and
 * compactions (DESIGN.md section 4). It names the live SSTables, the next file
 * id, and the first commit-log segment whose writes are not yet in an SSTable.
 *
 * File MANIFEST (integers big-endian):
 *
 *   OFFSET  SIZE  MEANING
 *   0       8     magic "CFMANIF1"
 *   8       36    table id
 *   44      12    nonce (random per write: the manifest key seals many versions)
 *   56      4     n = plaintext length
 *   60      n+16  AES-256-GCM ciphertext || tag under the manifest's data key
 *                 (registry file id 1), AAD = "coffer:manifest" | bytes 0..44
 *   plaintext:    u64 generation | u64 next file id | u64 replay-from segment |
 *                 varint count | count x u64 SSTable file id
 *
 * Invariants:
 *  1. Replaced only atomically (write MANIFEST.tmp, fsync, rename, fsync dir):
 *     after a crash the table is exactly the old or the new manifest's.
 *  2. Files it does not name are not part of the table: recovery deletes
 *     them and their data keys.
 *  3. Random 96-bit nonces: the manifest is rewritten once per flush or
 *     compaction, far below the 2^32 writes where random nonces under one key
 *     would need care.
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "util/alloc.h"
#include "util/fs.h"

#define MAN_MAGIC "CFMANIF1"
#define MAN_HEADER 60

void manifest_free(struct manifest *m)
{
	free(m->sst_ids);
	m->sst_ids = NULL;
	m->n_sst = 0;
}

static char *man_path(struct coffer_table *t)
{
	return coffer_path_join(t->dir, "MANIFEST");
}

static void aad_of(const uint8_t *hdr, struct coffer_buf *aad)
{
	coffer_buf_put(aad, "coffer:manifest", 15);
	coffer_buf_put(aad, hdr, 44);
}

coffer_rc manifest_write(struct coffer_table *t, const struct manifest *m)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret key = {0};
	struct coffer_buf pt = {0}, out = {0}, aad = {0};
	char *path = man_path(t);
	TRY_FAIL(coffer_keyring_data_key(t->kr, MANIFEST_FILE_ID, COFFER_KEY_PURPOSE_MANIFEST, &key));
	coffer_buf_put_u64(&pt, m->generation);
	coffer_buf_put_u64(&pt, m->next_file_id);
	coffer_buf_put_u64(&pt, m->replay_from);
	coffer_buf_put_varint(&pt, m->n_sst);
	for (size_t i = 0; i < m->n_sst; i++)
		coffer_buf_put_u64(&pt, m->sst_ids[i]);
	coffer_buf_put(&out, MAN_MAGIC, 8);
	coffer_buf_put(&out, t->table_id, COFFER_TABLE_ID_LEN);
	uint8_t *nonce = coffer_buf_extend(&out, COFFER_AEAD_NONCE_BYTES);
	TRY_FAIL(coffer_random_bytes(nonce, COFFER_AEAD_NONCE_BYTES));
	coffer_buf_put_u32(&out, (uint32_t)pt.len);
	aad_of(out.ptr, &aad);
	uint8_t *ct = coffer_buf_extend(&out, pt.len + BLOCK_TAG);
	TRY_FAIL(coffer_aead_seal(key.ptr, out.ptr + 44, coffer_buf_slice(&aad), coffer_buf_slice(&pt), ct,
				  ct + pt.len));
	TRY_FAIL(coffer_vfs_write_atomic(t->vfs, path, coffer_buf_slice(&out)));
fail:
	coffer_secret_free(&key);
	coffer_buf_free(&pt);
	coffer_buf_free(&out);
	coffer_buf_free(&aad);
	free(path);
	return rc;
}

coffer_rc manifest_read(struct coffer_table *t, struct manifest *m)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret key = {0};
	struct coffer_buf file = {0}, pt = {0}, aad = {0};
	char *path = man_path(t);
	struct coffer_reader r;
	memset(m, 0, sizeof(*m));
	if (!coffer_fs_exists(path)) {
		rc = coffer_error_set(COFFER_E_NOT_FOUND, COFFER_WHERE, "%s: no manifest", path);
		goto fail;
	}
	TRY_FAIL(coffer_vfs_read_all(t->vfs, path, 64u << 20, &file));
	ENSURE_FAIL(file.len >= MAN_HEADER + BLOCK_TAG && memcmp(file.ptr, MAN_MAGIC, 8) == 0,
		    COFFER_E_CORRUPT, "%s: not a manifest", path);
	ENSURE_FAIL(memcmp(file.ptr + 8, t->table_id, COFFER_TABLE_ID_LEN) == 0, COFFER_E_CORRUPT,
		    "%s: manifest of another table", path);
	uint32_t n = coffer_load_u32(file.ptr + 56);
	ENSURE_FAIL((uint64_t)n + MAN_HEADER + BLOCK_TAG == file.len, COFFER_E_CORRUPT,
		    "%s: length does not match", path);
	rc = coffer_keyring_data_key(t->kr, MANIFEST_FILE_ID, COFFER_KEY_PURPOSE_MANIFEST, &key);
	if (rc != COFFER_OK) {
		coffer_error_wrap("%s: ", path);
		goto fail;
	}
	aad_of(file.ptr, &aad);
	uint8_t *p = coffer_buf_extend(&pt, n);
	rc = coffer_aead_open(key.ptr, file.ptr + 44, coffer_buf_slice(&aad),
			      coffer_slice_of(file.ptr + MAN_HEADER, n), file.ptr + MAN_HEADER + n, p);
	ENSURE_FAIL(rc == COFFER_OK, COFFER_E_CORRUPT, "%s: does not authenticate", path);
	coffer_reader_init(&r, coffer_buf_slice(&pt), path);
	uint64_t cnt;
	TRY_FAIL(coffer_reader_u64(&r, &m->generation));
	TRY_FAIL(coffer_reader_u64(&r, &m->next_file_id));
	TRY_FAIL(coffer_reader_u64(&r, &m->replay_from));
	TRY_FAIL(coffer_reader_varint(&r, &cnt));
	ENSURE_FAIL(cnt <= coffer_reader_left(&r) / 8, COFFER_E_CORRUPT, "%s: bad count", path);
	m->n_sst = (size_t)cnt;
	m->sst_ids = coffer_xcalloc(cnt ? cnt : 1, sizeof(uint64_t));
	for (size_t i = 0; i < cnt; i++)
		TRY_FAIL(coffer_reader_u64(&r, &m->sst_ids[i]));
	TRY_FAIL(coffer_reader_end(&r));
fail:
	if (rc != COFFER_OK)
		manifest_free(m);
	coffer_secret_free(&key);
	coffer_buf_free(&file);
	coffer_buf_free(&pt);
	coffer_buf_free(&aad);
	free(path);
	return rc;
}
