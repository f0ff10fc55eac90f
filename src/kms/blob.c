/*
 * blob.c - the cryptographic operations (Encrypt, Decrypt, ReEncrypt,
 * GenerateDataKey[WithoutPlaintext], GenerateRandom) and the ciphertext blob
 * they produce.
 *
 * Ciphertext blob, format version 1:
 *   OFFSET  SIZE  MEANING
 *   0       1     format version (1)
 *   1       16    key id (the uuid's 16 bytes)
 *   17      4     backing-key version, big-endian (1 = the key's first material)
 *   21      12    nonce (random)
 *   33      n     AES-256-GCM ciphertext of the plaintext (1..4096 bytes)
 *   33+n    16    GCM tag
 * AAD = bytes [0, 33) followed by the canonical encryption context
 * (context.c), so the header and the context are authenticated: a changed
 * version, key id, context or byte anywhere fails as InvalidCiphertextException.
 * A blob is at most 33 + 4096 + 16 = 4145 bytes (AWS's limit is 6144).
 *
 * Invariants:
 *  1. Nonces are random 96-bit values under a backing key; rotation (yearly by
 *     default) bounds how many messages one backing key ever sees.
 *  2. Plaintext leaves only in struct coffer_secret; a failed open is zeroed.
 *  3. Order of checks: resolve key -> authorize -> quota -> key state -> crypto,
 *     so an unauthorized caller learns nothing about a key's state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms_call.h"
#include "kms/kms_internal.h"

#define BLOB_VERSION 1
#define BLOB_HEADER 33
#define BLOB_MIN (BLOB_HEADER + 1 + COFFER_AEAD_TAG_BYTES)

struct blob_header {
	uint8_t format;
	uint8_t key_id[16];
	uint32_t version;
	uint8_t nonce[COFFER_AEAD_NONCE_BYTES];
	struct coffer_slice header; /* the 33 bytes */
	struct coffer_slice ct;
	const uint8_t *tag;
};

static COFFER_RESULT blob_parse(struct coffer_slice blob, struct blob_header *h)
{
	ENSURE(blob.len >= BLOB_MIN && blob.len <= COFFER_KMS_MAX_BLOB, COFFER_E_KMS_INVALID_CIPHERTEXT,
	       "The ciphertext blob is %zu bytes; a valid one is %d to %d", blob.len, BLOB_MIN,
	       COFFER_KMS_MAX_BLOB);
	struct coffer_reader r;
	coffer_reader_init(&r, blob, "ciphertext blob");
	coffer_rc rc = coffer_reader_u8(&r, &h->format);
	if (rc == COFFER_OK)
		rc = coffer_reader_copy(&r, h->key_id, 16);
	if (rc == COFFER_OK)
		rc = coffer_reader_u32(&r, &h->version);
	if (rc == COFFER_OK)
		rc = coffer_reader_copy(&r, h->nonce, sizeof(h->nonce));
	if (rc == COFFER_OK)
		rc = coffer_reader_bytes(&r, coffer_reader_left(&r) - COFFER_AEAD_TAG_BYTES, &h->ct);
	ENSURE(rc == COFFER_OK, COFFER_E_KMS_INVALID_CIPHERTEXT, "The ciphertext blob is malformed");
	ENSURE(h->format == BLOB_VERSION, COFFER_E_KMS_INVALID_CIPHERTEXT,
	       "The ciphertext blob has format version %u; this KMS writes version %d", h->format,
	       BLOB_VERSION);
	h->header = coffer_slice_of(blob.ptr, BLOB_HEADER);
	h->tag = blob.ptr + blob.len - COFFER_AEAD_TAG_BYTES;
	return COFFER_OK;
}

static struct kms_key *key_by_bin(struct coffer_kms *kms, const uint8_t id[16])
{
	for (size_t i = 0; i < kms->n_keys; i++)
		if (memcmp(kms->keys[i]->id_bin, id, 16) == 0)
			return kms->keys[i];
	return NULL;
}

/* Seals `pt` under the key's newest backing key into `out` (appended). */
static COFFER_RESULT seal(struct kms_key *k, struct coffer_slice pt,
			  const struct coffer_kms_context *ctx, struct coffer_buf *out)
{
	ENSURE(k->n_versions > 0, COFFER_E_INTERNAL, "%s has no key material", k->arn);
	const struct kms_backing_key *bk = &k->versions[k->n_versions - 1];
	size_t start = out->len;
	coffer_buf_put_u8(out, BLOB_VERSION);
	coffer_buf_put(out, k->id_bin, 16);
	coffer_buf_put_u32(out, bk->version);
	uint8_t *nonce = coffer_buf_extend(out, COFFER_AEAD_NONCE_BYTES);
	TRY(coffer_random_bytes(nonce, COFFER_AEAD_NONCE_BYTES));
	struct coffer_buf aad = {0};
	coffer_buf_put(&aad, out->ptr + start, BLOB_HEADER);
	kms_context_canonical(ctx, &aad);
	uint8_t *ct = coffer_buf_extend(out, pt.len + COFFER_AEAD_TAG_BYTES);
	coffer_rc rc = coffer_aead_seal(bk->material.ptr, out->ptr + start + 21, coffer_buf_slice(&aad), pt,
					ct, ct + pt.len);
	coffer_buf_free(&aad);
	if (rc != COFFER_OK)
		out->len = start;
	return rc;
}

/* Opens a parsed blob whose key is `k` into a fresh secret. */
static COFFER_RESULT open_blob(struct kms_key *k, const struct blob_header *h,
			       const struct coffer_kms_context *ctx, struct coffer_secret *out)
{
	ENSURE(h->version >= 1 && h->version <= k->n_versions, COFFER_E_KMS_INVALID_CIPHERTEXT,
	       "The ciphertext names backing key version %u of %s, which does not exist", h->version,
	       k->arn);
	const struct kms_backing_key *bk = &k->versions[h->version - 1];
	struct coffer_buf aad = {0};
	coffer_buf_put(&aad, h->header.ptr, h->header.len);
	kms_context_canonical(ctx, &aad);
	coffer_secret_alloc(out, h->ct.len);
	coffer_rc rc = coffer_aead_open(bk->material.ptr, h->nonce, coffer_buf_slice(&aad), h->ct, h->tag,
					out->ptr);
	coffer_buf_free(&aad);
	if (rc != COFFER_OK) {
		coffer_secret_free(out);
		BAIL(COFFER_E_KMS_INVALID_CIPHERTEXT,
		     "The ciphertext for %s does not authenticate: the encryption context differs from "
		     "the one used to encrypt, or the blob was altered",
		     k->arn);
	}
	return COFFER_OK;
}

/* Resolve, record, authorize, throttle, require Enabled. */
static COFFER_RESULT usable_key(struct kms_call *c, const char *ref, enum coffer_kms_op op,
				const struct coffer_kms_context *ctx, struct kms_key **out)
{
	struct kms_key *k;
	TRY(kms_context_check(ctx));
	TRY(kms_resolve_live(c->kms, ref, true, &k));
	if (!c->key_id[0])
		kms_call_key(c, k);
	k->usage[op]++;
	TRY(kms_authorize(c->kms, c->caller, k, op, ctx, &c->grant_used));
	TRY(kms_quota_take(c->kms, c->caller));
	TRY(kms_require_enabled(c->kms, k));
	*out = k;
	return COFFER_OK;
}

/* The blob's key, checked like usable_key; `expect_ref` (may be NULL) must
 * name the same key. */
static COFFER_RESULT blob_key(struct kms_call *c, const struct blob_header *h, const char *expect_ref,
			      enum coffer_kms_op op, const struct coffer_kms_context *ctx,
			      struct kms_key **out)
{
	const struct kms_key *named = key_by_bin(c->kms, h->key_id);
	ENSURE(named, COFFER_E_KMS_INVALID_CIPHERTEXT,
	       "The ciphertext refers to a key that does not exist in this KMS, or it was altered");
	/* Resolving applies due transitions, which replace key objects: keep the
	 * id, not the pointer. */
	char kid[COFFER_KMS_KEY_ID_MAX];
	snprintf(kid, sizeof(kid), "%s", named->id);
	kms_call_key(c, named);
	if (expect_ref && expect_ref[0]) {
		struct kms_key *want;
		TRY(kms_resolve(c->kms, expect_ref, true, &want));
		ENSURE(strcmp(want->id, kid) == 0, COFFER_E_KMS_INCORRECT_KEY,
		       "The key ID in the request (%s) does not identify the key that encrypted the "
		       "ciphertext (arn:aws:kms:%s:%s:key/%s)",
		       want->arn, c->kms->region, c->kms->account, kid);
	}
	return usable_key(c, kid, op, ctx, out);
}

/* ---- Encrypt ---------------------------------------------------------------- */

static COFFER_RESULT encrypt_locked(struct kms_call *c, const char *ref, struct coffer_slice pt,
				    const struct coffer_kms_context *ctx, struct coffer_buf *out,
				    char arn[COFFER_KMS_ARN_MAX])
{
	struct kms_key *k;
	TRY(usable_key(c, ref, COFFER_KMS_OP_ENCRYPT, ctx, &k));
	ENSURE(pt.len >= 1 && pt.len <= COFFER_KMS_MAX_PLAINTEXT, COFFER_E_KMS_VALIDATION,
	       "Plaintext must be 1 to %d bytes, got %zu (key %s)", COFFER_KMS_MAX_PLAINTEXT, pt.len, k->arn);
	TRY(seal(k, pt, ctx, out));
	if (arn)
		snprintf(arn, COFFER_KMS_ARN_MAX, "%s", k->arn);
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_encrypt(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				 const char *key_ref, struct coffer_slice plaintext,
				 const struct coffer_kms_context *ctx, struct coffer_buf *blob_out,
				 char key_arn[COFFER_KMS_ARN_MAX])
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_ENCRYPT, caller);
	c.ctx = ctx;
	return kms_call_end(&c, encrypt_locked(&c, key_ref, plaintext, ctx, blob_out, key_arn));
}

/* ---- Decrypt ---------------------------------------------------------------- */

static COFFER_RESULT decrypt_locked(struct kms_call *c, struct coffer_slice blob,
				    const struct coffer_kms_context *ctx, const char *ref,
				    struct coffer_secret *pt, char arn[COFFER_KMS_ARN_MAX])
{
	struct blob_header h;
	struct kms_key *k;
	TRY(blob_parse(blob, &h));
	TRY(blob_key(c, &h, ref, COFFER_KMS_OP_DECRYPT, ctx, &k));
	TRY(open_blob(k, &h, ctx, pt));
	if (arn)
		snprintf(arn, COFFER_KMS_ARN_MAX, "%s", k->arn);
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_decrypt(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				 struct coffer_slice blob, const struct coffer_kms_context *ctx,
				 const char *key_ref, struct coffer_secret *plaintext,
				 char key_arn[COFFER_KMS_ARN_MAX])
{
	struct kms_call c;
	memset(plaintext, 0, sizeof(*plaintext));
	kms_call_begin(kms, &c, COFFER_KMS_OP_DECRYPT, caller);
	c.ctx = ctx;
	return kms_call_end(&c, decrypt_locked(&c, blob, ctx, key_ref, plaintext, key_arn));
}

/* ---- ReEncrypt -------------------------------------------------------------- */

static COFFER_RESULT reencrypt_locked(struct kms_call *c, struct coffer_slice blob,
				      const struct coffer_kms_context *src_ctx, const char *src_ref,
				      const char *dst_ref, const struct coffer_kms_context *dst_ctx,
				      struct coffer_buf *out, char src_arn[COFFER_KMS_ARN_MAX],
				      char dst_arn[COFFER_KMS_ARN_MAX])
{
	struct blob_header h;
	struct kms_key *src, *dst;
	struct coffer_secret pt = {0};
	TRY(blob_parse(blob, &h));
	TRY(blob_key(c, &h, src_ref, COFFER_KMS_OP_REENCRYPT_FROM, src_ctx, &src));
	const char *src_grant = c->grant_used;
	char src_id[COFFER_KMS_KEY_ID_MAX];
	snprintf(src_id, sizeof(src_id), "%s", src->id);
	TRY(usable_key(c, dst_ref, COFFER_KMS_OP_REENCRYPT_TO, dst_ctx, &dst));
	src = kms_key_by_id(c->kms, src_id); /* resolving dst may have replaced it */
	if (!c->grant_used[0])
		c->grant_used = src_grant;
	TRY(open_blob(src, &h, src_ctx, &pt));
	coffer_rc rc = seal(dst, coffer_slice_of(pt.ptr, pt.len), dst_ctx, out);
	coffer_secret_free(&pt);
	TRY(rc);
	if (src_arn)
		snprintf(src_arn, COFFER_KMS_ARN_MAX, "%s", src->arn);
	if (dst_arn)
		snprintf(dst_arn, COFFER_KMS_ARN_MAX, "%s", dst->arn);
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_reencrypt(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				   struct coffer_slice blob, const struct coffer_kms_context *src_ctx,
				   const char *src_key_ref, const char *dst_key_ref,
				   const struct coffer_kms_context *dst_ctx, struct coffer_buf *blob_out,
				   char src_key_arn[COFFER_KMS_ARN_MAX],
				   char dst_key_arn[COFFER_KMS_ARN_MAX])
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_REENCRYPT_FROM, caller);
	c.ctx = src_ctx;
	return kms_call_end(&c, reencrypt_locked(&c, blob, src_ctx, src_key_ref, dst_key_ref, dst_ctx,
						 blob_out, src_key_arn, dst_key_arn));
}

/* ---- GenerateDataKey ---------------------------------------------------------- */

static COFFER_RESULT gdk_locked(struct kms_call *c, const char *ref, uint32_t nbytes,
				const struct coffer_kms_context *ctx, struct coffer_secret *pt_out,
				struct coffer_buf *out, char arn[COFFER_KMS_ARN_MAX])
{
	struct kms_key *k;
	struct coffer_secret dk = {0};
	TRY(usable_key(c, ref, c->op, ctx, &k));
	ENSURE(nbytes >= 1 && nbytes <= COFFER_KMS_MAX_DATA_KEY, COFFER_E_KMS_VALIDATION,
	       "NumberOfBytes must be 1 to %d, got %u (key %s)", COFFER_KMS_MAX_DATA_KEY, nbytes, k->arn);
	coffer_secret_alloc(&dk, nbytes);
	coffer_rc rc = coffer_random_bytes(dk.ptr, dk.len);
	if (rc == COFFER_OK)
		rc = seal(k, coffer_slice_of(dk.ptr, dk.len), ctx, out);
	if (rc != COFFER_OK || !pt_out)
		coffer_secret_free(&dk);
	else
		*pt_out = dk;
	TRY(rc);
	if (arn)
		snprintf(arn, COFFER_KMS_ARN_MAX, "%s", k->arn);
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_generate_data_key(struct coffer_kms *kms,
					   const struct coffer_kms_caller *caller,
					   const char *key_ref, uint32_t nbytes,
					   const struct coffer_kms_context *ctx,
					   struct coffer_secret *plaintext, struct coffer_buf *blob_out,
					   char key_arn[COFFER_KMS_ARN_MAX])
{
	struct kms_call c;
	memset(plaintext, 0, sizeof(*plaintext));
	kms_call_begin(kms, &c, COFFER_KMS_OP_GENERATE_DATA_KEY, caller);
	c.ctx = ctx;
	return kms_call_end(&c, gdk_locked(&c, key_ref, nbytes, ctx, plaintext, blob_out, key_arn));
}

COFFER_RESULT coffer_kms_generate_data_key_without_plaintext(
	struct coffer_kms *kms, const struct coffer_kms_caller *caller, const char *key_ref,
	uint32_t nbytes, const struct coffer_kms_context *ctx, struct coffer_buf *blob_out,
	char key_arn[COFFER_KMS_ARN_MAX])
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_GENERATE_DATA_KEY_WITHOUT_PLAINTEXT, caller);
	c.ctx = ctx;
	return kms_call_end(&c, gdk_locked(&c, key_ref, nbytes, ctx, NULL, blob_out, key_arn));
}

/* ---- GenerateRandom ------------------------------------------------------------ */

static COFFER_RESULT random_locked(struct kms_call *c, uint32_t n, struct coffer_secret *out)
{
	const char *who = c->caller ? c->caller->principal_arn : NULL;
	TRY(kms_require_principal(c->kms, who));
	ENSURE(n >= 1 && n <= COFFER_KMS_MAX_DATA_KEY, COFFER_E_KMS_VALIDATION,
	       "NumberOfBytes must be 1 to %d, got %u", COFFER_KMS_MAX_DATA_KEY, n);
	TRY(kms_quota_take(c->kms, c->caller));
	coffer_secret_alloc(out, n);
	coffer_rc rc = coffer_random_bytes(out->ptr, n);
	if (rc != COFFER_OK)
		coffer_secret_free(out);
	return rc;
}

COFFER_RESULT coffer_kms_generate_random(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
					 uint32_t nbytes, struct coffer_secret *out)
{
	struct kms_call c;
	memset(out, 0, sizeof(*out));
	kms_call_begin(kms, &c, COFFER_KMS_OP_GENERATE_RANDOM, caller);
	return kms_call_end(&c, random_locked(&c, nbytes, out));
}
