/*
 * aead.c - AES-256-GCM sealing and opening (NIST SP 800-38D) with a 96-bit
 * nonce and a 128-bit tag, one-shot or through a keyed context that expands
 * the key once and reuses the schedule for every block of a file.
 *
 * Two ways into the same OpenSSL implementation:
 *  - The one-shot functions use the EVP API (EVP_EncryptInit_ex and friends).
 *  - The keyed context, storage's per-block hot path, calls the provider's
 *    AES-256-GCM functions directly (provider-cipher(7)): the ones behind
 *    EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL), looked up in that cipher's
 *    provider with OSSL_PROVIDER_query_operation(3). EVP adds no work of its
 *    own to a GCM message, but in OpenSSL 3.0 its per-message plumbing costs
 *    more than the cipher for small blocks: EVP_EncryptInit_ex with a new
 *    nonce asks the provider for the IV length through a full get_ctx_params
 *    round (about 630 instructions), and the ctrl, update and final wrappers
 *    add about 400 more. A commit-log group (150 bytes, 59 bytes of AAD) took
 *    about 3,600 instructions through EVP and 2,400 directly; see "Per-message
 *    AES-GCM overhead" in bench/README.md.
 *
 * Invariants:
 *  1. open writes plaintext to `out` as it decrypts, so when the tag then
 *     fails to verify (or anything else fails) the whole output is zeroed
 *     before COFFER_E_AUTH / COFFER_E_CRYPTO is returned: a caller that
 *     ignores the result still never sees unauthenticated plaintext.
 *  2. Error messages name the operation and OpenSSL's reason only; never a
 *     key, nonce, tag or byte of data.
 *  3. Tags are checked by OpenSSL's GCM final step (reached through
 *     EVP_DecryptFinal_ex or the provider's final function), which compares
 *     in constant time (CRYPTO_memcmp).
 *  4. The one-shot functions are always real AES-256-GCM. Only the keyed
 *     context's seal/open honour COFFER_BENCH_NULL_CIPHER (copy and a zero
 *     tag), so the storage benchmark can measure the engine without the
 *     cipher; key wrapping and KMS blobs use the one-shot path and stay real.
 *  5. Both paths run the implementation EVP's fetch selects, so they produce
 *     the same bytes; the unit tests check every vector through both and
 *     compare the two paths message by message. A keyed context sets the
 *     direction and the nonce on every call, so a failed open (or any failed
 *     call) leaves it ready for the next one.
 */
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "crypto/crypto.h"
#include "crypto/crypto_internal.h"
#include "util/alloc.h"

/* ---- One-shot: the EVP API ---------------------------------------------- */

/* EVP_CipherUpdate takes an int length; feed big inputs in parts. */
#define UPDATE_MAX ((size_t)1 << 30)

/* An open's verdict: `final_rc`, what GCM's final step returned after
 * comparing the tags in constant time (invariant 3). */
static COFFER_RESULT open_verdict(int final_rc)
{
	if (final_rc != 1) {
		(void)coffer_crypto_ossl_reason(); /* drop OpenSSL's queued error, if any */
		BAIL(COFFER_E_AUTH, "AES-256-GCM open: authentication tag mismatch");
	}
	return COFFER_OK;
}

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
	TRY_FAIL(open_verdict(EVP_DecryptFinal_ex(e, none, &outl)));
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

/* ---- The keyed context: the provider's functions, called directly ------ */

/* The provider-cipher(7) functions a keyed context calls. Every provider
 * cipher that EVP_EncryptUpdate/EVP_DecryptFinal_ex and the AEAD tag ctrls
 * can drive has all of them, so a provider lacking one could not have served
 * the EVP path either. */
struct gcm_fns {
	OSSL_FUNC_cipher_newctx_fn *newctx;
	OSSL_FUNC_cipher_freectx_fn *freectx;
	OSSL_FUNC_cipher_encrypt_init_fn *einit;
	OSSL_FUNC_cipher_decrypt_init_fn *dinit;
	OSSL_FUNC_cipher_update_fn *update;
	OSSL_FUNC_cipher_final_fn *final;
	OSSL_FUNC_cipher_get_ctx_params_fn *get_ctx_params;
	OSSL_FUNC_cipher_set_ctx_params_fn *set_ctx_params;
};

struct coffer_aead_ctx {
	EVP_CIPHER *cipher; /* fetched; keeps its provider loaded while algctx lives */
	struct gcm_fns f;
	void *algctx; /* the provider's context: the key schedule, keyed once */
};

#define GCM_NAME "AES-256-GCM"

/* Whether the colon-separated name list `names` (an OSSL_ALGORITHM's
 * algorithm_names) holds `want`; OpenSSL's names are case-insensitive. */
static bool names_include(const char *names, const char *want)
{
	size_t n = strlen(want);

	for (const char *s = names; s != NULL;) {
		if (strncasecmp(s, want, n) == 0 && (s[n] == ':' || s[n] == '\0'))
			return true;
		s = strchr(s, ':');
		if (s)
			s++;
	}
	return false;
}

/* Fills `f` from the first AES-256-GCM implementation `prov` offers: the
 * provider EVP_CIPHER_fetch chose, under the name it was fetched by. (A
 * provider offering two AES-256-GCM implementations told apart only by
 * properties would get its first; OpenSSL's default and FIPS providers offer
 * one.) */
static COFFER_RESULT gcm_fns_find(const OSSL_PROVIDER *prov, struct gcm_fns *f)
{
	int no_cache = 0;
	const OSSL_ALGORITHM *algs = OSSL_PROVIDER_query_operation(prov, OSSL_OP_CIPHER, &no_cache);

	memset(f, 0, sizeof(*f));
	for (const OSSL_ALGORITHM *a = algs; a != NULL && a->algorithm_names != NULL; a++) {
		if (!names_include(a->algorithm_names, GCM_NAME))
			continue;
		for (const OSSL_DISPATCH *d = a->implementation; d->function_id != 0; d++) {
			switch (d->function_id) {
			case OSSL_FUNC_CIPHER_NEWCTX: f->newctx = OSSL_FUNC_cipher_newctx(d); break;
			case OSSL_FUNC_CIPHER_FREECTX: f->freectx = OSSL_FUNC_cipher_freectx(d); break;
			case OSSL_FUNC_CIPHER_ENCRYPT_INIT: f->einit = OSSL_FUNC_cipher_encrypt_init(d); break;
			case OSSL_FUNC_CIPHER_DECRYPT_INIT: f->dinit = OSSL_FUNC_cipher_decrypt_init(d); break;
			case OSSL_FUNC_CIPHER_UPDATE: f->update = OSSL_FUNC_cipher_update(d); break;
			case OSSL_FUNC_CIPHER_FINAL: f->final = OSSL_FUNC_cipher_final(d); break;
			case OSSL_FUNC_CIPHER_GET_CTX_PARAMS:
				f->get_ctx_params = OSSL_FUNC_cipher_get_ctx_params(d);
				break;
			case OSSL_FUNC_CIPHER_SET_CTX_PARAMS:
				f->set_ctx_params = OSSL_FUNC_cipher_set_ctx_params(d);
				break;
			}
		}
		break;
	}
	if (algs != NULL)
		OSSL_PROVIDER_unquery_operation(prov, OSSL_OP_CIPHER, algs);
	ENSURE(f->newctx && f->freectx && f->einit && f->dinit && f->update && f->final &&
		       f->get_ctx_params && f->set_ctx_params,
	       COFFER_E_CRYPTO,
	       "AES-256-GCM context: provider \"%s\" does not offer " GCM_NAME
	       "'s context, update, final and parameter functions",
	       OSSL_PROVIDER_get0_name(prov));
	return COFFER_OK;
}

/* The part of a message seal and open share: sets the direction and the
 * nonce, adds the AAD, and runs `in` through the cipher into `out`. The
 * provider takes size_t lengths, so no input needs splitting (GCM's own limit
 * of 2^36 - 32 bytes is enforced by OpenSSL and reported as a failure).
 * Inlined, so `enc` folds away on the per-message path. */
static inline __attribute__((always_inline)) COFFER_RESULT ctx_start(struct coffer_aead_ctx *c, bool enc,
			       const uint8_t nonce[COFFER_AEAD_NONCE_BYTES], struct coffer_slice aad,
			       struct coffer_slice in, uint8_t *out)
{
	const char *op = enc ? "seal" : "open";
	size_t outl = 0;

	ENSURE((enc ? c->f.einit : c->f.dinit)(c->algctx, NULL, 0, nonce, COFFER_AEAD_NONCE_BYTES,
					       NULL) == 1,
	       COFFER_E_CRYPTO, "AES-256-GCM %s: setting the nonce failed: %s", op,
	       coffer_crypto_ossl_reason());
	/* out NULL: the input is AAD (EVP_EncryptUpdate(3), passed through as is);
	 * empty inputs are not passed at all, as on the EVP path. */
	ENSURE(aad.len == 0 || c->f.update(c->algctx, NULL, &outl, aad.len, aad.ptr, aad.len) == 1,
	       COFFER_E_CRYPTO, "AES-256-GCM %s: adding the AAD failed: %s", op,
	       coffer_crypto_ossl_reason());
	ENSURE(in.len == 0 ||
		       (c->f.update(c->algctx, out, &outl, in.len, in.ptr, in.len) == 1 && outl == in.len),
	       COFFER_E_CRYPTO, "AES-256-GCM %s: %s failed: %s", op, enc ? "encrypting" : "decrypting",
	       coffer_crypto_ossl_reason());
	return COFFER_OK;
}

/* Seals through the provider with the key already in c->algctx. */
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
#endif
	coffer_rc rc = COFFER_OK;
	uint8_t none[16];
	size_t outl = 0;
	OSSL_PARAM get_tag[] = {
		OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, COFFER_AEAD_TAG_BYTES),
		OSSL_PARAM_END,
	};

	TRY_FAIL(ctx_start(c, true, nonce, aad, pt, out));
	/* GCM emits nothing at final; `none` only satisfies the signature. */
	ENSURE_FAIL(c->f.final(c->algctx, none, &outl, 0) == 1 && outl == 0, COFFER_E_CRYPTO,
		    "AES-256-GCM seal: the final step failed: %s", coffer_crypto_ossl_reason());
	ENSURE_FAIL(c->f.get_ctx_params(c->algctx, get_tag) == 1 &&
			    get_tag[0].return_size == COFFER_AEAD_TAG_BYTES,
		    COFFER_E_CRYPTO, "AES-256-GCM seal: reading the tag failed: %s",
		    coffer_crypto_ossl_reason());
fail:
	if (rc != COFFER_OK)
		memset(tag, 0, COFFER_AEAD_TAG_BYTES);
	return rc;
}

/* Opens through the provider with the key already in c->algctx; zeroes `out`
 * on any failure. */
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
#endif
	coffer_rc rc = COFFER_OK;
	uint8_t want[COFFER_AEAD_TAG_BYTES], none[16];
	size_t outl = 0;
	OSSL_PARAM set_tag[] = {
		OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, want, sizeof(want)),
		OSSL_PARAM_END,
	};

	memcpy(want, tag, sizeof(want)); /* OSSL_PARAM's data pointer is not const */
	TRY_FAIL(ctx_start(c, false, nonce, aad, ct, out));
	ENSURE_FAIL(c->f.set_ctx_params(c->algctx, set_tag) == 1, COFFER_E_CRYPTO,
		    "AES-256-GCM open: setting the tag failed: %s", coffer_crypto_ossl_reason());
	TRY_FAIL(open_verdict(c->f.final(c->algctx, none, &outl, 0)));
fail:
	if (rc != COFFER_OK)
		OPENSSL_cleanse(out, ct.len);
	return rc;
}

COFFER_RESULT coffer_aead_ctx_new(const uint8_t key[COFFER_AEAD_KEY_BYTES],
				  struct coffer_aead_ctx **out)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_aead_ctx *c = COFFER_NEW(struct coffer_aead_ctx);

	*out = NULL;
	c->cipher = EVP_CIPHER_fetch(NULL, GCM_NAME, NULL);
	ENSURE_FAIL(c->cipher != NULL, COFFER_E_CRYPTO,
		    "AES-256-GCM context: fetching the cipher failed: %s",
		    coffer_crypto_ossl_reason());
	const OSSL_PROVIDER *prov = EVP_CIPHER_get0_provider(c->cipher);
	TRY_FAIL(gcm_fns_find(prov, &c->f));
	c->algctx = c->f.newctx(OSSL_PROVIDER_get0_provider_ctx(prov));
	ENSURE_FAIL(c->algctx != NULL, COFFER_E_CRYPTO,
		    "AES-256-GCM context: creating the provider context failed: %s",
		    coffer_crypto_ossl_reason());
	/* The direction is set again, with the nonce, by every seal and open. */
	ENSURE_FAIL(c->f.einit(c->algctx, key, COFFER_AEAD_KEY_BYTES, NULL, 0, NULL) == 1,
		    COFFER_E_CRYPTO, "AES-256-GCM context: setting the key failed: %s",
		    coffer_crypto_ossl_reason());
	*out = c;
	return COFFER_OK;
fail:
	coffer_aead_ctx_free(c);
	return rc;
}

void coffer_aead_ctx_free(struct coffer_aead_ctx *c)
{
	if (!c)
		return;
	if (c->algctx)
		c->f.freectx(c->algctx); /* the provider cleanses the key schedule */
	EVP_CIPHER_free(c->cipher);
	free(c);
}
