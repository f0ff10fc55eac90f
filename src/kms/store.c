/*
 * store.c - the sealed key store: an append-only log of records, each sealed
 * with AES-256-GCM under a key derived from the seal key, in
 * <data_dir>/store.log.
 *
 * File layout:
 *   OFFSET  SIZE  MEANING
 *   0       8     magic "COFKMS01"
 *   8       32    salt (random per file generation)
 *   40      16    check value: HMAC-SHA256(record key, "coffer-kms seal check")[0..16]
 *   56      8     reserved, zero
 *   64      ...   records
 * Record:
 *   0       4     plaintext length L, big-endian (1..16 MiB)
 *   4       4     ~L (bitwise complement): a damaged length is corruption, never
 *                 mistaken for a torn tail that would drop every later record
 *   8       L     ciphertext
 *   8+L     16    GCM tag
 * record key = HKDF-SHA256(seal key, salt, "coffer-kms store record key");
 * nonce = 4 zero bytes || record sequence number (u64, from 0 in each file);
 * AAD = "COFKMSr1" || sequence number || L.
 *
 * Invariants:
 *  1. A record is acknowledged only after write + fsync of the log.
 *  2. The check value tells a wrong seal key from a damaged file; a damaged
 *     record anywhere but the torn tail is COFFER_E_CORRUPT naming the file,
 *     the record number and its offset. The engine never resets silently.
 *  3. Torn tail: a last record whose intact length field runs past the end of
 *     the file, a partial length field, a length followed only by zeros, or an
 *     all-zero tail (a crash in mid-append leaves these) was never acknowledged; it is cut off and the
 *     cut logged. A length field that fails its complement check is corruption.
 *  4. Sequence numbers bind position: a dropped, repeated or reordered record
 *     fails authentication. A fresh salt per generation keeps nonces unique.
 *  5. Compaction writes a new generation (snapshot of memory) to a temporary
 *     file, fsyncs it, renames it over store.log and fsyncs the directory:
 *     a crash leaves either the old or the new file, both complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kms/kms_internal.h"

#define STORE_MAGIC "COFKMS01"
#define HEADER_BYTES 64
#define MAX_RECORD (16u << 20)
#define RECORD_OVERHEAD 24 /* length, its complement, tag */

struct kms_store {
	char *path;
	int fd;
	uint8_t salt[32];
	struct coffer_aead_ctx *aead;
	uint64_t next_seq;
	uint64_t size;
	uint64_t since_snapshot; /* records appended since this generation began */
};

static COFFER_RESULT derive(struct coffer_kms *kms, const uint8_t salt[32], struct coffer_aead_ctx **aead,
			    uint8_t check[16])
{
	struct coffer_secret rk;
	coffer_secret_alloc(&rk, 32);
	coffer_rc rc = coffer_hkdf_sha256(kms->seal_key.ptr, kms->seal_key.len, salt, 32,
					  "coffer-kms store record key", 27, rk.ptr, 32);
	if (rc == COFFER_OK) {
		uint8_t mac[32];
		coffer_hmac_sha256(rk.ptr, 32, "coffer-kms seal check", 21, mac);
		memcpy(check, mac, 16);
		rc = coffer_aead_ctx_new(rk.ptr, aead);
	}
	coffer_secret_free(&rk);
	return rc;
}

static void nonce_aad(uint64_t seq, uint32_t len, uint8_t nonce[12], uint8_t aad[20])
{
	memset(nonce, 0, 4);
	coffer_store_u64(nonce + 4, seq);
	memcpy(aad, "COFKMSr1", 8);
	coffer_store_u64(aad + 8, seq);
	coffer_store_u32(aad + 16, len);
}

/* Seals one record into `out` (appended). */
static COFFER_RESULT seal_record(struct coffer_aead_ctx *aead, uint64_t seq, const struct coffer_buf *rec,
				 struct coffer_buf *out)
{
	uint8_t nonce[12], aad[20];
	ENSURE(rec->len >= 1 && rec->len <= MAX_RECORD, COFFER_E_LIMIT,
	       "kms store: record of %zu bytes is out of range", rec->len);
	nonce_aad(seq, (uint32_t)rec->len, nonce, aad);
	coffer_buf_put_u32(out, (uint32_t)rec->len);
	coffer_buf_put_u32(out, ~(uint32_t)rec->len);
	uint8_t *ct = coffer_buf_extend(out, rec->len + 16);
	return coffer_aead_ctx_seal(aead, nonce, coffer_slice_of(aad, sizeof(aad)), coffer_buf_slice(rec), ct,
				    ct + rec->len);
}

static void header(const uint8_t salt[32], const uint8_t check[16], struct coffer_buf *out)
{
	coffer_buf_put(out, STORE_MAGIC, 8);
	coffer_buf_put(out, salt, 32);
	coffer_buf_put(out, check, 16);
	uint8_t zero[8] = {0};
	coffer_buf_put(out, zero, 8);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Replays a whole file image; sets *good_len to the end of the last good record. */
static COFFER_RESULT replay(struct coffer_kms *kms, struct kms_store *s, struct coffer_slice file,
			    uint64_t *good_len)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_buf pt;
	coffer_buf_init_secure(&pt);
	uint8_t check[16];
	ENSURE_FAIL(file.len >= HEADER_BYTES && memcmp(file.ptr, STORE_MAGIC, 8) == 0, COFFER_E_CORRUPT,
		    "kms store %s: not a coffer KMS store (bad header)", s->path);
	memcpy(s->salt, file.ptr + 8, 32);
	TRY_FAIL(derive(kms, s->salt, &s->aead, check));
	ENSURE_FAIL(coffer_ct_equal(check, file.ptr + 40, 16), COFFER_E_CORRUPT,
		    "kms store %s: the seal key does not match this store (wrong seal key, or the "
		    "header was altered)",
		    s->path);
	uint64_t off = HEADER_BYTES, seq = 0;
	while (off < file.len) {
		uint64_t left = file.len - off;
		if (all_zero(file.ptr + off, (size_t)left)) {
			coffer_log_warn(kms->log, "kms", "kms store %s: dropping %llu zero bytes at the tail (offset %llu)",
					s->path, (unsigned long long)left, (unsigned long long)off);
			break;
		}
		if (left < 8) {
			coffer_log_warn(kms->log, "kms", "kms store %s: dropping a torn tail of %llu bytes at offset %llu",
					s->path, (unsigned long long)left, (unsigned long long)off);
			break;
		}
		uint32_t len = coffer_load_u32(file.ptr + off);
		if (all_zero(file.ptr + off + 4, (size_t)left - 4)) {
			coffer_log_warn(kms->log, "kms",
					"kms store %s: dropping a torn record %llu at offset %llu (only its length was written)",
					s->path, (unsigned long long)seq, (unsigned long long)off);
			break;
		}
		ENSURE_FAIL(coffer_load_u32(file.ptr + off + 4) == ~len, COFFER_E_CORRUPT,
			    "kms store %s: record %llu at offset %llu has a damaged length field", s->path,
			    (unsigned long long)seq, (unsigned long long)off);
		ENSURE_FAIL(len >= 1 && len <= MAX_RECORD, COFFER_E_CORRUPT,
			    "kms store %s: record %llu at offset %llu has an invalid length %u", s->path,
			    (unsigned long long)seq, (unsigned long long)off, len);
		if ((uint64_t)len + RECORD_OVERHEAD > left) {
			coffer_log_warn(kms->log, "kms",
					"kms store %s: dropping a torn record %llu at offset %llu (%llu of %u bytes present)",
					s->path, (unsigned long long)seq, (unsigned long long)off,
					(unsigned long long)left, len + RECORD_OVERHEAD);
			break;
		}
		uint8_t nonce[12], aad[20];
		nonce_aad(seq, len, nonce, aad);
		coffer_buf_reset(&pt);
		uint8_t *dst = coffer_buf_extend(&pt, len);
		rc = coffer_aead_ctx_open(s->aead, nonce, coffer_slice_of(aad, sizeof(aad)),
					  coffer_slice_of(file.ptr + off + 8, len), file.ptr + off + 8 + len, dst);
		if (rc != COFFER_OK) {
			bool last = off + RECORD_OVERHEAD + len == file.len;
			if (last && all_zero(file.ptr + off + 8, (size_t)len + 16)) {
				coffer_log_warn(kms->log, "kms", "kms store %s: dropping a zero-filled torn record at offset %llu",
						s->path, (unsigned long long)off);
				rc = COFFER_OK;
				break;
			}
			BAIL_FAIL(COFFER_E_CORRUPT,
				  "kms store %s: record %llu at offset %llu fails authentication: the file "
				  "was altered or damaged",
				  s->path, (unsigned long long)seq, (unsigned long long)off);
		}
		rc = kms_apply_record(kms, coffer_buf_slice(&pt));
		if (rc != COFFER_OK) {
			coffer_error_wrap("kms store %s: record %llu at offset %llu", s->path,
					  (unsigned long long)seq, (unsigned long long)off);
			goto fail;
		}
		off += RECORD_OVERHEAD + (uint64_t)len;
		seq++;
	}
	s->next_seq = seq;
	s->since_snapshot = seq;
	*good_len = off > file.len ? file.len : off;
	/* A torn tail ends the loop early: good_len is where it began. */
	if (off < file.len)
		*good_len = off;
fail:
	coffer_buf_free(&pt);
	return rc;
}

static COFFER_RESULT open_append(struct kms_store *s)
{
	s->fd = open(s->path, O_WRONLY | O_CLOEXEC);
	if (s->fd < 0)
		return COFFER_FS_ERR(errno, "open", s->path);
	return COFFER_OK;
}

/* Writes a fresh generation holding every live object, and makes it store.log. */
static COFFER_RESULT write_snapshot(struct coffer_kms *kms, struct kms_store *s)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_buf file = {0}, rec;
	coffer_buf_init_secure(&rec);
	struct coffer_aead_ctx *aead = NULL;
	uint8_t salt[32], check[16];
	uint64_t seq = 0;
	TRY_FAIL(coffer_random_bytes(salt, sizeof(salt)));
	TRY_FAIL(derive(kms, salt, &aead, check));
	header(salt, check, &file);
#define EMIT()                                                              \
	do {                                                                \
		TRY_FAIL(seal_record(aead, seq++, &rec, &file));            \
		coffer_buf_reset(&rec);                                     \
	} while (0)
	for (size_t i = 0; i < kms->n_principals; i++) {
		kms_encode_principal(kms->principals[i], &rec);
		EMIT();
	}
	for (size_t i = 0; i < kms->n_keys; i++) {
		kms_encode_key(kms->keys[i], &rec);
		EMIT();
		for (size_t j = 0; j < kms->keys[i]->n_grants; j++) {
			kms_encode_grant(kms->keys[i]->id, kms->keys[i]->grants[j], &rec);
			EMIT();
		}
	}
	for (size_t i = 0; i < kms->n_aliases; i++) {
		kms_encode_alias(kms->aliases[i], &rec);
		EMIT();
	}
#undef EMIT
	TRY_FAIL(coffer_fs_write_atomic(s->path, coffer_buf_slice(&file), 0600));
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	TRY_FAIL(open_append(s));
	coffer_aead_ctx_free(s->aead);
	s->aead = aead;
	aead = NULL;
	memcpy(s->salt, salt, 32);
	s->next_seq = seq;
	s->since_snapshot = 0;
	s->size = file.len;
fail:
	coffer_aead_ctx_free(aead);
	coffer_buf_free(&rec);
	coffer_buf_free(&file);
	return rc;
}

COFFER_RESULT kms_store_open(struct coffer_kms *kms)
{
	coffer_rc rc = COFFER_OK;
	struct kms_store *s = COFFER_NEW(struct kms_store);
	struct coffer_buf file = {0};
	s->fd = -1;
	s->path = coffer_path_join(kms->data_dir, "store.log");
	kms->store = s;
	if (!coffer_fs_exists(s->path)) {
		TRY_FAIL(write_snapshot(kms, s));
		return COFFER_OK;
	}
	TRY_FAIL(coffer_fs_read_all(s->path, (size_t)1 << 34, &file));
	uint64_t good = 0;
	TRY_FAIL(replay(kms, s, coffer_buf_slice(&file), &good));
	if (good < file.len) {
		if (truncate(s->path, (off_t)good) != 0)
			BAIL_FAIL(COFFER_E_IO, "kms store %s: truncating the torn tail: %s", s->path,
				  strerror(errno));
	}
	s->size = good;
	TRY_FAIL(open_append(s));
	coffer_buf_free(&file);
	/* Start each run from a compact generation when the log has grown. */
	return kms_store_maybe_compact(kms);
fail:
	coffer_buf_free(&file);
	return rc;
}

void kms_store_close(struct coffer_kms *kms)
{
	struct kms_store *s = kms->store;
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	coffer_aead_ctx_free(s->aead);
	free(s->path);
	free(s);
	kms->store = NULL;
}

COFFER_RESULT kms_store_append(struct coffer_kms *kms, const struct coffer_buf *rec)
{
	struct kms_store *s = kms->store;
	struct coffer_buf out = {0};
	coffer_rc rc = COFFER_OK;
	ENSURE(s && s->fd >= 0, COFFER_E_STATE, "kms store is not open");
	TRY_FAIL(seal_record(s->aead, s->next_seq, rec, &out));
	if (pwrite(s->fd, out.ptr, out.len, (off_t)s->size) != (ssize_t)out.len) {
		int err = errno;
		/* Cut off whatever part was written, so the next append starts clean. */
		if (ftruncate(s->fd, (off_t)s->size) != 0)
			coffer_log_error(kms->log, "kms", "kms store %s: cannot cut a failed append: %s",
					 s->path, strerror(errno));
		rc = COFFER_FS_ERR(err ? err : EIO, "write", s->path);
		goto fail;
	}
	if (kms->fsync)
		TRY_FAIL(coffer_fs_fsync(s->fd, s->path));
	s->size += out.len;
	s->next_seq++;
	s->since_snapshot++;
fail:
	coffer_buf_free(&out);
	return rc;
}

COFFER_RESULT kms_store_maybe_compact(struct coffer_kms *kms)
{
	struct kms_store *s = kms->store;
	size_t objects = kms->n_principals + kms->n_keys + kms->n_aliases;
	for (size_t i = 0; i < kms->n_keys; i++)
		objects += kms->keys[i]->n_grants;
	if (s->since_snapshot < 1024 || s->since_snapshot < 2 * objects)
		return COFFER_OK;
	coffer_log_info(kms->log, "kms", "compacting %s: %llu records since the last snapshot, %zu objects",
			s->path, (unsigned long long)s->since_snapshot, objects);
	return write_snapshot(kms, s);
}
