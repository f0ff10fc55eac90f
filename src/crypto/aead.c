/*
 * aead.c - AES-256-GCM sealing and opening (NIST SP 800-38D) with a 96-bit
 * nonce and a 128-bit tag, one-shot or through a keyed context that expands
 * the key once and reuses it for every block of a file.
 *
 * Three ways into AES-256-GCM:
 *  - The one-shot functions use OpenSSL's EVP API (EVP_EncryptInit_ex and
 *    friends). They serve key wrapping and KMS blobs, a few calls per file.
 *  - The keyed context, storage's per-block hot path, seals and opens
 *    messages of at most SODIUM_MAX bytes with libsodium's AES-256-GCM
 *    (crypto_aead_aes256gcm_beforenm once, then
 *    crypto_aead_aes256gcm_{en,de}crypt_detached_afternm per message) when
 *    the CPU has AES-NI and PCLMULQDQ (crypto_aead_aes256gcm_is_available()).
 *    Its precomputed state - the AES key schedule and the GHASH key - lives
 *    in secret memory (secret.c: locked, kept out of core dumps, wiped on
 *    free), and a message is one call with no per-message setup.
 *  - Longer messages, and every message on other CPUs, go through OpenSSL's
 *    provider AES-256-GCM functions, called directly (provider-cipher(7)):
 *    the ones behind EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL), looked up
 *    in that cipher's provider with OSSL_PROVIDER_query_operation(3).
 *
 * Why two keyed backends: for a commit-log group (150 bytes, 59 bytes of
 * AAD) the cipher and GHASH work is a few hundred instructions, but OpenSSL
 * 3.0 wraps every message in plumbing. Through EVP a seal cost about 3,600
 * instructions (EVP_EncryptInit_ex with a new nonce asks the provider for the
 * IV length through a full get_ctx_params round, about 630 instructions, and
 * the ctrl, update and final wrappers add about 400 more); calling the
 * provider directly cut it to about 2,480 (einit, two updates, final, and a
 * get_ctx_params for the tag that alone is about 500 instructions of
 * parameter lookups). That was ~450 ns of a ~6.8 us write in the
 * `--sync=false --threads=1` fillrandom benchmark, 9.7% over the null
 * cipher, against issue 4's 5% budget. libsodium's afternm call has none of
 * that plumbing: about 1,660 instructions per seal of the same group
 * (callgrind), 880 fewer per write in that benchmark, and about 3.2% over
 * the null cipher in a prototype's timing (for OpenSSL's figures see
 * "Per-message AES-GCM overhead" in bench/README.md). But libsodium 1.0.18
 * processes long messages at about half OpenSSL's speed (OpenSSL interleaves
 * AES and GHASH with AVX; a 4 KiB SSTable block took 2.9 us against 1.6 us,
 * 16 KiB 12.4 against 7.3), so past SODIUM_MAX bytes, where the two cross,
 * OpenSSL seals and opens. And OpenSSL is the whole fallback on CPUs without
 * AES-NI and PCLMULQDQ, where libsodium 1.0.18 has no AES-256-GCM.
 *
 * All three compute the same function, so they produce the same bytes; the
 * unit tests (tests/unit/crypto/aead_test.c) run every published vector
 * through each of them and compare them on random messages byte for byte.
 *
 * Invariants:
 *  1. open writes plaintext to `out` as it decrypts, so when the tag then
 *     fails to verify (or anything else fails) the whole output is zeroed
 *     before COFFER_E_AUTH / COFFER_E_CRYPTO is returned: a caller that
 *     ignores the result still never sees unauthenticated plaintext. The one
 *     exception is a keyed-context call whose length exceeds GCM's limit:
 *     it is refused before a byte is read or written, so `out` holds nothing
 *     from this call and is left as it was.
 *  2. Error messages name the operation and the reason only (OpenSSL's
 *     reason text, or a fixed string on the libsodium path); never a key,
 *     nonce, tag or byte of data.
 *  3. Tags are compared in constant time: by OpenSSL's GCM final step
 *     (reached through EVP_DecryptFinal_ex or the provider's final function;
 *     CRYPTO_memcmp), and by libsodium 1.0.18's
 *     crypto_aead_aes256gcm_decrypt_detached_afternm, which ORs the XOR of
 *     all 16 tag bytes into one accumulator and branches only on the result
 *     (its aesni source; Debian's 1.0.18 build compiles it to one 16-byte
 *     pxor and an OR-reduction before a single branch). It also zeroes `m`
 *     itself before returning -1; coffer_aead_ctx_open zeroes it again.
 *  4. The one-shot functions are always real AES-256-GCM. Only the keyed
 *     context's seal/open honour COFFER_BENCH_NULL_CIPHER (copy and a zero
 *     tag), on either backend, so the storage benchmark can measure the
 *     engine without the cipher; key wrapping and KMS blobs use the one-shot
 *     path and stay real.
 *  5. A keyed context is safe to use from several threads at once. The
 *     libsodium state is written only by ctx_new and read-only afterwards
 *     (the afternm functions take it const). The OpenSSL provider context,
 *     which every context has (it takes the long messages of the libsodium
 *     backend), is not reentrant - every message sets its direction and
 *     nonce - so a message through it holds the context's mutex from
 *     setting the nonce to reading the tag (or the verdict); a failed call
 *     leaves it ready for the next.
 *  6. The caller's key is not retained: ctx_new expands it into the
 *     provider context (OpenSSL) and, on the libsodium backend, the state
 *     too, and keeps no pointer.
 *     The libsodium state is COFFER_SECRET_ALIGN- (so 16-byte-) aligned
 *     secret memory, wiped by coffer_secret_raw_free; OpenSSL cleanses its
 *     own schedule when the provider context is freed.
 *  7. Every keyed-context call goes through coffer_aead_ctx_seal/open, which
 *     check the lengths before and enforce invariant 1 after the backend's
 *     function (sodium_* or ossl_*): a backend cannot break the contract alone.
 */
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <sodium.h>

#include "crypto/crypto.h"
#include "crypto/crypto_internal.h"
#include "util/alloc.h"

/* ---- One-shot: the EVP API ---------------------------------------------- */

/* EVP_CipherUpdate takes an int length; feed big inputs in parts. */
#define UPDATE_MAX ((size_t)1 << 30)

/* An open's verdict, the same on every path: `final_rc` is 1 when the tag
 * verified (OpenSSL's GCM final step, or libsodium's afternm call returning
 * 0; both compare in constant time, invariant 3). */
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

/* ---- Keyed context, OpenSSL backend: the provider's functions, directly -- */

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
	/* libsodium backend (invariant 6): the precomputed state, in secret
	 * memory, for messages up to SODIUM_MAX bytes; NULL on the OpenSSL
	 * backend, which is how the two are told apart. Read-only after
	 * ctx_new. */
	crypto_aead_aes256gcm_state *st;
	/* OpenSSL: every message of the OpenSSL backend, the longer ones of the
	 * libsodium backend */
	EVP_CIPHER *cipher; /* fetched; keeps its provider loaded while algctx lives */
	struct gcm_fns f;
	void *algctx;       /* the provider's context: the key schedule, keyed once */
	pthread_mutex_t mu; /* held around each message on algctx (invariant 5) */
	bool mu_ready;
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
 * provider takes size_t lengths, so no input needs splitting (GCM's limit is
 * checked before, by coffer_aead_ctx_seal/open). c->mu is held. Inlined, so
 * `enc` folds away on the per-message path. */
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

static void ossl_lock(struct coffer_aead_ctx *c)
{
	if (pthread_mutex_lock(&c->mu) != 0)
		coffer_crypto_die("AES-256-GCM context: pthread_mutex_lock failed");
}

/* Seals through the provider with the key already in c->algctx. */
static COFFER_RESULT ossl_seal(struct coffer_aead_ctx *c,
			       const uint8_t nonce[COFFER_AEAD_NONCE_BYTES], struct coffer_slice aad,
			       struct coffer_slice pt, uint8_t *out, uint8_t tag[COFFER_AEAD_TAG_BYTES])
{
	coffer_rc rc = COFFER_OK;
	uint8_t none[16];
	size_t outl = 0;
	OSSL_PARAM get_tag[] = {
		OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, COFFER_AEAD_TAG_BYTES),
		OSSL_PARAM_END,
	};

	ossl_lock(c);
	TRY_FAIL(ctx_start(c, true, nonce, aad, pt, out));
	/* GCM emits nothing at final; `none` only satisfies the signature. */
	ENSURE_FAIL(c->f.final(c->algctx, none, &outl, 0) == 1 && outl == 0, COFFER_E_CRYPTO,
		    "AES-256-GCM seal: the final step failed: %s", coffer_crypto_ossl_reason());
	ENSURE_FAIL(c->f.get_ctx_params(c->algctx, get_tag) == 1 &&
			    get_tag[0].return_size == COFFER_AEAD_TAG_BYTES,
		    COFFER_E_CRYPTO, "AES-256-GCM seal: reading the tag failed: %s",
		    coffer_crypto_ossl_reason());
fail:
	(void)pthread_mutex_unlock(&c->mu);
	return rc;
}

/* Opens through the provider with the key already in c->algctx. */
static COFFER_RESULT ossl_open(struct coffer_aead_ctx *c,
			       const uint8_t nonce[COFFER_AEAD_NONCE_BYTES], struct coffer_slice aad,
			       struct coffer_slice ct, const uint8_t tag[COFFER_AEAD_TAG_BYTES],
			       uint8_t *out)
{
	coffer_rc rc = COFFER_OK;
	uint8_t want[COFFER_AEAD_TAG_BYTES], none[16];
	size_t outl = 0;
	OSSL_PARAM set_tag[] = {
		OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, want, sizeof(want)),
		OSSL_PARAM_END,
	};

	memcpy(want, tag, sizeof(want)); /* OSSL_PARAM's data pointer is not const */
	ossl_lock(c);
	TRY_FAIL(ctx_start(c, false, nonce, aad, ct, out));
	ENSURE_FAIL(c->f.set_ctx_params(c->algctx, set_tag) == 1, COFFER_E_CRYPTO,
		    "AES-256-GCM open: setting the tag failed: %s", coffer_crypto_ossl_reason());
	TRY_FAIL(open_verdict(c->f.final(c->algctx, none, &outl, 0)));
fail:
	(void)pthread_mutex_unlock(&c->mu);
	return rc;
}

/* Fetches the cipher, finds its provider functions and keys a provider
 * context with `key`. On failure the caller frees c. */
static COFFER_RESULT ossl_new(struct coffer_aead_ctx *c, const uint8_t key[COFFER_AEAD_KEY_BYTES])
{
	ENSURE(pthread_mutex_init(&c->mu, NULL) == 0, COFFER_E_CRYPTO,
	       "AES-256-GCM context: pthread_mutex_init failed");
	c->mu_ready = true;
	c->cipher = EVP_CIPHER_fetch(NULL, GCM_NAME, NULL);
	ENSURE(c->cipher != NULL, COFFER_E_CRYPTO, "AES-256-GCM context: fetching the cipher failed: %s",
	       coffer_crypto_ossl_reason());
	const OSSL_PROVIDER *prov = EVP_CIPHER_get0_provider(c->cipher);
	TRY(gcm_fns_find(prov, &c->f));
	c->algctx = c->f.newctx(OSSL_PROVIDER_get0_provider_ctx(prov));
	ENSURE(c->algctx != NULL, COFFER_E_CRYPTO,
	       "AES-256-GCM context: creating the provider context failed: %s",
	       coffer_crypto_ossl_reason());
	/* The direction is set again, with the nonce, by every seal and open. */
	ENSURE(c->f.einit(c->algctx, key, COFFER_AEAD_KEY_BYTES, NULL, 0, NULL) == 1, COFFER_E_CRYPTO,
	       "AES-256-GCM context: setting the key failed: %s", coffer_crypto_ossl_reason());
	return COFFER_OK;
}

/* ---- Keyed context, libsodium backend --------------------------------------- */

/* libsodium's lengths are unsigned long long; coffer_aead_ctx_seal/open
 * have already held them to GCM_MAX, far below its range. */
_Static_assert(sizeof(size_t) <= sizeof(unsigned long long), "size_t wider than libsodium's lengths");
/* Where secret memory's alignment comes from (invariant 6). */
_Static_assert(_Alignof(crypto_aead_aes256gcm_state) <= COFFER_SECRET_ALIGN,
	       "secret memory is not aligned enough for libsodium's AES-256-GCM state");

/* A byte for libsodium's nonnull pointer arguments when a buffer is empty
 * and the caller passed NULL: never read or written (its length is 0). */
static uint8_t sodium_empty[1];

static COFFER_RESULT sodium_seal(struct coffer_aead_ctx *c,
				 const uint8_t nonce[COFFER_AEAD_NONCE_BYTES], struct coffer_slice aad,
				 struct coffer_slice pt, uint8_t *out,
				 uint8_t tag[COFFER_AEAD_TAG_BYTES])
{
	unsigned long long tag_len = 0;

	/* 0 always on the AES-NI implementation (-1 only where it is compiled
	 * out, which crypto_aead_aes256gcm_is_available() rules out). */
	ENSURE(crypto_aead_aes256gcm_encrypt_detached_afternm(
		       out ? out : sodium_empty, tag, &tag_len, pt.ptr, pt.len, aad.ptr, aad.len, NULL,
		       nonce, c->st) == 0 &&
		       tag_len == COFFER_AEAD_TAG_BYTES,
	       COFFER_E_CRYPTO, "AES-256-GCM seal: libsodium's encryption failed");
	return COFFER_OK;
}

static COFFER_RESULT sodium_open(struct coffer_aead_ctx *c,
				 const uint8_t nonce[COFFER_AEAD_NONCE_BYTES], struct coffer_slice aad,
				 struct coffer_slice ct, const uint8_t tag[COFFER_AEAD_TAG_BYTES],
				 uint8_t *out)
{
	/* -1 means the tag did not verify (compared in constant time,
	 * invariant 3): the length, its only other check, was checked before. */
	int r = crypto_aead_aes256gcm_decrypt_detached_afternm(
		out ? out : sodium_empty, NULL, ct.ptr ? ct.ptr : sodium_empty, ct.len, tag, aad.ptr,
		aad.len, nonce, c->st);
	return open_verdict(r == 0 ? 1 : 0);
}

/* Expands `key` into a fresh state in secret memory. On failure the caller
 * frees c. */
static COFFER_RESULT sodium_new(struct coffer_aead_ctx *c, const uint8_t key[COFFER_AEAD_KEY_BYTES])
{
	const char *why = NULL;

	ENSURE(coffer_crypto_sodium_gcm(&why), COFFER_E_CRYPTO,
	       "AES-256-GCM context: libsodium's AES-256-GCM cannot be used: %s", why);
	c->st = coffer_secret_raw_alloc(sizeof(*c->st));
	ENSURE((uintptr_t)c->st % _Alignof(crypto_aead_aes256gcm_state) == 0, COFFER_E_INTERNAL,
	       "AES-256-GCM context: secret memory is not %zu-byte aligned",
	       (size_t)_Alignof(crypto_aead_aes256gcm_state));
	ENSURE(crypto_aead_aes256gcm_beforenm(c->st, key) == 0, COFFER_E_CRYPTO,
	       "AES-256-GCM context: libsodium's key expansion failed");
	return COFFER_OK;
}

/* ---- Keyed context: the contract around both backends -------------------- */

/* The message length (data + AAD) up to which libsodium is the faster of
 * the two; past it OpenSSL's stitched AES/GHASH wins. Measured on the
 * development VM, 59 bytes of AAD: libsodium 381 ns at 150 bytes against
 * OpenSSL's 722 (EVP), 1,058 against 1,221 at 1 KiB, 1,526 against 1,251 at
 * 1.5 KiB. The backends' functions may leave `out` or `tag` partly written
 * on failure; coffer_aead_ctx_seal/open clean up (invariant 7). */
#define SODIUM_MAX 1024

static inline bool use_sodium(const struct coffer_aead_ctx *c, size_t aad_len, size_t len)
{
	return c->st && aad_len + len <= SODIUM_MAX;
}

/* NIST SP 800-38D 5.2.1.1: len(P) <= 2^39 - 256 bits, i.e. 2^36 - 32 bytes,
 * the same as crypto_aead_aes256gcm_MESSAGEBYTES_MAX on 64-bit platforms
 * (where libsodium would abort past it) and OpenSSL's own check; len(A) <=
 * 2^64 - 1 bits. */
#define GCM_MAX (((uint64_t)1 << 36) - 32)
#define GCM_AAD_MAX (((uint64_t)1 << 61) - 1)
_Static_assert(GCM_MAX <= crypto_aead_aes256gcm_MESSAGEBYTES_MAX,
	       "libsodium accepts less than GCM allows");

/* Refuses, before anything is read or written, lengths GCM cannot take. */
static inline COFFER_RESULT check_lengths(const char *op, size_t aad_len, size_t len)
{
	ENSURE(len <= GCM_MAX, COFFER_E_CRYPTO,
	       "AES-256-GCM %s: %zu bytes exceed GCM's limit of %llu bytes per message", op, len,
	       (unsigned long long)GCM_MAX);
	ENSURE(aad_len <= GCM_AAD_MAX, COFFER_E_CRYPTO,
	       "AES-256-GCM %s: %zu bytes of AAD exceed GCM's limit of %llu bytes", op, aad_len,
	       (unsigned long long)GCM_AAD_MAX);
	return COFFER_OK;
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
#endif
	coffer_rc rc = check_lengths("seal", aad.len, pt.len);

	if (rc == COFFER_OK)
		rc = use_sodium(c, aad.len, pt.len) ? sodium_seal(c, nonce, aad, pt, out, tag)
						    : ossl_seal(c, nonce, aad, pt, out, tag);
	if (rc != COFFER_OK)
		memset(tag, 0, COFFER_AEAD_TAG_BYTES);
	return rc;
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
#endif
	TRY(check_lengths("open", aad.len, ct.len)); /* out untouched (invariant 1) */
	coffer_rc rc = use_sodium(c, aad.len, ct.len) ? sodium_open(c, nonce, aad, ct, tag, out)
						      : ossl_open(c, nonce, aad, ct, tag, out);
	if (rc != COFFER_OK && ct.len)
		OPENSSL_cleanse(out, ct.len); /* invariant 1 */
	return rc;
}

COFFER_RESULT coffer_aead_ctx_new_backend(const uint8_t key[COFFER_AEAD_KEY_BYTES],
					  enum coffer_aead_backend backend,
					  struct coffer_aead_ctx **out)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_aead_ctx *c;

	*out = NULL;
	ENSURE(backend == COFFER_AEAD_BACKEND_LIBSODIUM || backend == COFFER_AEAD_BACKEND_OPENSSL,
	       COFFER_E_INVALID, "AES-256-GCM context: unknown backend %d", (int)backend);
	c = COFFER_NEW(struct coffer_aead_ctx);
	if (backend == COFFER_AEAD_BACKEND_LIBSODIUM)
		TRY_FAIL(sodium_new(c, key));
	TRY_FAIL(ossl_new(c, key));
	*out = c;
	return COFFER_OK;
fail:
	coffer_aead_ctx_free(c);
	return rc;
}

COFFER_RESULT coffer_aead_ctx_new(const uint8_t key[COFFER_AEAD_KEY_BYTES],
				  struct coffer_aead_ctx **out)
{
	return coffer_aead_ctx_new_backend(key,
					   coffer_crypto_sodium_gcm(NULL) ? COFFER_AEAD_BACKEND_LIBSODIUM
									  : COFFER_AEAD_BACKEND_OPENSSL,
					   out);
}

enum coffer_aead_backend coffer_aead_ctx_backend(const struct coffer_aead_ctx *c)
{
	return c->st ? COFFER_AEAD_BACKEND_LIBSODIUM : COFFER_AEAD_BACKEND_OPENSSL;
}

const char *coffer_aead_backend_name(enum coffer_aead_backend b)
{
	switch (b) {
	case COFFER_AEAD_BACKEND_LIBSODIUM: return "libsodium";
	case COFFER_AEAD_BACKEND_OPENSSL: return "openssl";
	}
	return "unknown";
}

const void *coffer_aead_ctx_key_state(const struct coffer_aead_ctx *c, size_t *len)
{
	*len = c->st ? sizeof(*c->st) : 0;
	return c->st;
}

void coffer_aead_ctx_free(struct coffer_aead_ctx *c)
{
	if (!c)
		return;
	if (c->st)
		coffer_secret_raw_free(c->st, sizeof(*c->st)); /* wipes the whole slot */
	if (c->algctx)
		c->f.freectx(c->algctx); /* the provider cleanses the key schedule */
	EVP_CIPHER_free(c->cipher);
	if (c->mu_ready)
		(void)pthread_mutex_destroy(&c->mu);
	free(c);
}
