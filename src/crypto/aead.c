/*
 * aead.c - AES-256-GCM sealing and opening (NIST SP 800-38D) with a 96-bit
 * nonce and a 128-bit tag, one-shot or through a keyed context that expands
 * the key once and reuses the schedule for every block of a file.
 *
 * Invariants:
 *  1. open writes plaintext to `out` as it decrypts, so when the tag then
 *     fails to verify (or anything else fails) the whole output is zeroed
 *     before COFFER_E_AUTH / COFFER_E_CRYPTO is returned: a caller that
 *     ignores the result still never sees unauthenticated plaintext.
 *  2. Error messages name the operation and OpenSSL's reason only; never a
 *     key, nonce, tag or byte of data.
 *  3. Tags are checked by OpenSSL's EVP_DecryptFinal_ex, which compares in
 *     constant time (CRYPTO_memcmp).
 *  4. The one-shot functions are always real AES-256-GCM. Only the keyed
 *     context's seal/open honour COFFER_BENCH_NULL_CIPHER (copy and a zero
 *     tag), so the storage benchmark can measure the engine without the
 *     cipher; key wrapping and KMS blobs use the one-shot path and stay real.
 */
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto/crypto.h"
#include "crypto/crypto_internal.h"
#include "util/alloc.h"

struct coffer_aead_ctx {
	EVP_CIPHER_CTX *evp; /* keyed once; each call sets only the nonce */
};

/* EVP_CipherUpdate takes an int length; feed big inputs in parts. */
#define UPDATE_MAX ((size_t)1 << 30)

/* Runs `in` through the cipher (out NULL: as AAD). */
static COFFER_RESULT cipher_update(EVP_CIPHER_CTX *e, uint8_t *out, const uint8_t *in,
				   size_t len, const char *op)
{
	for (size_t done = 0; done < len;) {
		size_t part = len - done < UPDATE_MAX ? len - done : UPDATE_MAX;
		int outl = 0;
		ENSURE(EVP_CipherUpdate(e, out ? out + done : NULL, &outl, in + done, (int)part) == 1 &&
			       (size_t)outl == part,
		       COFFER_E_CRYPTO, "AES-256-GCM %s: EVP_CipherUpdate failed: %s", op,
		       coffer_crypto_ossl_reason());
		done += part;
	}
	return COFFER_OK;
}

/* Seals with the key already in `e`. */
static COFFER_RESULT gcm_seal(EVP_CIPHER_CTX *e, const uint8_t nonce[COFFER_AEAD_NONCE_BYTES],
			      struct coffer_slice aad, struct coffer_slice pt, uint8_t *out,
			      uint8_t tag[COFFER_AEAD_TAG_BYTES])
{
	coffer_rc rc = COFFER_OK;
	uint8_t none[16];
	int outl = 0;

	ENSURE_FAIL(EVP_EncryptInit_ex(e, NULL, NULL, NULL, nonce) == 1, COFFER_E_CRYPTO,
		    "AES-256-GCM seal: setting the nonce failed: %s", coffer_crypto_ossl_reason());
	TRY_FAIL(cipher_update(e, NULL, aad.ptr, aad.len, "seal"));
	TRY_FAIL(cipher_update(e, out, pt.ptr, pt.len, "seal"));
	/* GCM emits nothing at final; `none` only satisfies the signature. */
	ENSURE_FAIL(EVP_EncryptFinal_ex(e, none, &outl) == 1 && outl == 0, COFFER_E_CRYPTO,
		    "AES-256-GCM seal: EVP_EncryptFinal_ex failed: %s", coffer_crypto_ossl_reason());
	ENSURE_FAIL(EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_GCM_GET_TAG, COFFER_AEAD_TAG_BYTES, tag) == 1,
		    COFFER_E_CRYPTO, "AES-256-GCM seal: reading the tag failed: %s",
		    coffer_crypto_ossl_reason());
fail:
	if (rc != COFFER_OK)
		memset(tag, 0, COFFER_AEAD_TAG_BYTES);
	return rc;
}

/* Opens with the key already in `e`; zeroes `out` on any failure. */
static COFFER_RESULT gcm_open(EVP_CIPHER_CTX *e, const uint8_t nonce[COFFER_AEAD_NONCE_BYTES],
			      struct coffer_slice aad, struct coffer_slice ct,
			      const uint8_t tag[COFFER_AEAD_TAG_BYTES], uint8_t *out)
{
	coffer_rc rc = COFFER_OK;
	uint8_t want[COFFER_AEAD_TAG_BYTES], none[16];
	int outl = 0;

	memcpy(want, tag, sizeof want); /* the ctrl takes a non-const pointer */
	ENSURE_FAIL(EVP_DecryptInit_ex(e, NULL, NULL, NULL, nonce) == 1, COFFER_E_CRYPTO,
		    "AES-256-GCM open: setting the nonce failed: %s", coffer_crypto_ossl_reason());
	TRY_FAIL(cipher_update(e, NULL, aad.ptr, aad.len, "open"));
	TRY_FAIL(cipher_update(e, out, ct.ptr, ct.len, "open"));
	ENSURE_FAIL(EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_GCM_SET_TAG, sizeof want, want) == 1,
		    COFFER_E_CRYPTO, "AES-256-GCM open: setting the tag failed: %s",
		    coffer_crypto_ossl_reason());
	if (EVP_DecryptFinal_ex(e, none, &outl) != 1) {
		(void)coffer_crypto_ossl_reason(); /* drop OpenSSL's queued error, if any */
		BAIL_FAIL(COFFER_E_AUTH, "AES-256-GCM open: authentication tag mismatch");
	}
fail:
	if (rc != COFFER_OK)
		OPENSSL_cleanse(out, ct.len);
	return rc;
}

/* A new cipher context holding `key`'s schedule, set up for direction `enc`. */
static COFFER_RESULT keyed_new(const uint8_t key[COFFER_AEAD_KEY_BYTES], int enc,
			       const char *op, EVP_CIPHER_CTX **out)
{
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();

	*out = NULL;
	ENSURE(e != NULL, COFFER_E_CRYPTO, "AES-256-GCM %s: EVP_CIPHER_CTX_new failed: %s", op,
	       coffer_crypto_ossl_reason());
	if (EVP_CipherInit_ex(e, EVP_aes_256_gcm(), NULL, key, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(e);
		BAIL(COFFER_E_CRYPTO, "AES-256-GCM %s: setting the key failed: %s", op,
		     coffer_crypto_ossl_reason());
	}
	*out = e;
	return COFFER_OK;
}

COFFER_RESULT coffer_aead_seal(const uint8_t key[COFFER_AEAD_KEY_BYTES],
			       const uint8_t nonce[COFFER_AEAD_NONCE_BYTES],
			       struct coffer_slice aad, struct coffer_slice pt, uint8_t *out,
			       uint8_t tag[COFFER_AEAD_TAG_BYTES])
{
	EVP_CIPHER_CTX *e;

	TRY(keyed_new(key, 1, "seal", &e));
	coffer_rc rc = gcm_seal(e, nonce, aad, pt, out, tag);
	EVP_CIPHER_CTX_free(e); /* cleanses the key schedule */
	return rc;
}

COFFER_RESULT coffer_aead_open(const uint8_t key[COFFER_AEAD_KEY_BYTES],
			       const uint8_t nonce[COFFER_AEAD_NONCE_BYTES],
			       struct coffer_slice aad, struct coffer_slice ct,
			       const uint8_t tag[COFFER_AEAD_TAG_BYTES], uint8_t *out)
{
	EVP_CIPHER_CTX *e;
	coffer_rc rc = keyed_new(key, 0, "open", &e);

	if (rc != COFFER_OK) {
		OPENSSL_cleanse(out, ct.len); /* invariant 1 holds on every failure */
		return rc;
	}
	rc = gcm_open(e, nonce, aad, ct, tag, out);
	EVP_CIPHER_CTX_free(e);
	return rc;
}

COFFER_RESULT coffer_aead_ctx_new(const uint8_t key[COFFER_AEAD_KEY_BYTES],
				  struct coffer_aead_ctx **out)
{
	EVP_CIPHER_CTX *e;

	*out = NULL;
	TRY(keyed_new(key, 1, "context", &e));
	struct coffer_aead_ctx *c = COFFER_NEW(struct coffer_aead_ctx);
	c->evp = e;
	*out = c;
	return COFFER_OK;
}

void coffer_aead_ctx_free(struct coffer_aead_ctx *c)
{
	if (!c)
		return;
	EVP_CIPHER_CTX_free(c->evp); /* OpenSSL cleanses the key schedule */
	free(c);
}

COFFER_RESULT coffer_aead_ctx_seal(struct coffer_aead_ctx *c,
				   const uint8_t nonce[COFFER_AEAD_NONCE_BYTES],
				   struct coffer_slice aad, struct coffer_slice pt, uint8_t *out,
				   uint8_t tag[COFFER_AEAD_TAG_BYTES])
{
#ifdef COFFER_BENCH_NULL_CIPHER
	if (pt.len)
		memmove(out, pt.ptr, pt.len);
	memset(tag, 0, COFFER_AEAD_TAG_BYTES);
	return COFFER_OK;
#else
	return gcm_seal(c->evp, nonce, aad, pt, out, tag);
#endif
}

COFFER_RESULT coffer_aead_ctx_open(struct coffer_aead_ctx *c,
				   const uint8_t nonce[COFFER_AEAD_NONCE_BYTES],
				   struct coffer_slice aad, struct coffer_slice ct,
				   const uint8_t tag[COFFER_AEAD_TAG_BYTES], uint8_t *out)
{
#ifdef COFFER_BENCH_NULL_CIPHER
	static const uint8_t zero_tag[COFFER_AEAD_TAG_BYTES];
	if (!coffer_ct_equal(tag, zero_tag, COFFER_AEAD_TAG_BYTES)) {
		OPENSSL_cleanse(out, ct.len);
		BAIL(COFFER_E_AUTH, "AES-256-GCM open (null-cipher bench build): tag mismatch");
	}
	if (ct.len)
		memmove(out, ct.ptr, ct.len);
	return COFFER_OK;
#else
	return gcm_open(c->evp, nonce, aad, ct, tag, out);
#endif
}
