/*
 * hash.c - SHA-256 (one-shot and incremental), HMAC-SHA256, and HKDF-SHA256
 * (RFC 5869), all through OpenSSL's EVP interfaces.
 *
 * SHA-256 and HMAC cannot fail on valid input except when OpenSSL cannot
 * allocate, so their functions return void and abort then, as coffer_xmalloc
 * does for out-of-memory (STYLE.md). HKDF has a caller-controlled limit
 * (out_len) and so returns a result.
 *
 * Invariants:
 *  1. The HMAC key and HKDF input key are never copied by this file; OpenSSL's
 *     own copies are cleansed when its contexts are freed.
 *  2. On an HKDF failure the output is zeroed.
 */
#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "crypto/crypto.h"
#include "crypto/crypto_internal.h"
#include "util/alloc.h"

/* OpenSSL wants a non-NULL pointer even for zero bytes in places. */
static const uint8_t empty[1];

struct coffer_sha256_ctx {
	EVP_MD_CTX *md;
};

void coffer_sha256(const void *p, size_t n, uint8_t out[COFFER_SHA256_BYTES])
{
	if (EVP_Digest(n ? p : empty, n, out, NULL, EVP_sha256(), NULL) != 1)
		coffer_crypto_die("SHA-256: EVP_Digest failed");
}

void coffer_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
			uint8_t out[COFFER_HMAC_SHA256_BYTES])
{
	unsigned int len = 0;

	if (key_len > INT_MAX)
		coffer_crypto_die("HMAC-SHA256: key longer than INT_MAX");
	if (!HMAC(EVP_sha256(), key_len ? key : empty, (int)key_len,
		  msg_len ? msg : empty, msg_len, out, &len) ||
	    len != COFFER_HMAC_SHA256_BYTES)
		coffer_crypto_die("HMAC-SHA256: HMAC failed");
}

struct coffer_sha256_ctx *coffer_sha256_new(void)
{
	struct coffer_sha256_ctx *c = COFFER_NEW(struct coffer_sha256_ctx);

	c->md = EVP_MD_CTX_new();
	if (!c->md || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
		coffer_crypto_die("SHA-256: cannot create a digest context");
	return c;
}

void coffer_sha256_update(struct coffer_sha256_ctx *c, const void *p, size_t n)
{
	if (n && EVP_DigestUpdate(c->md, p, n) != 1)
		coffer_crypto_die("SHA-256: EVP_DigestUpdate failed");
}

void coffer_sha256_final(struct coffer_sha256_ctx *c, uint8_t out[COFFER_SHA256_BYTES])
{
	if (EVP_DigestFinal_ex(c->md, out, NULL) != 1)
		coffer_crypto_die("SHA-256: EVP_DigestFinal_ex failed");
	EVP_MD_CTX_free(c->md);
	free(c);
}

COFFER_RESULT coffer_hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt, size_t salt_len,
				 const void *info, size_t info_len, void *out, size_t out_len)
{
	coffer_rc rc = COFFER_OK;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5], *p = params;

	/* RFC 5869 2.3: "L  length of output keying material in octets
	 * (<= 255*HashLen)". */
	ENSURE(out_len >= 1 && out_len <= 255 * COFFER_SHA256_BYTES, COFFER_E_INVALID,
	       "HKDF-SHA256: output length %zu outside 1..%d", out_len,
	       255 * COFFER_SHA256_BYTES);

	kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	ENSURE_FAIL(kdf != NULL, COFFER_E_CRYPTO, "HKDF-SHA256: fetching HKDF failed: %s",
		    coffer_crypto_ossl_reason());
	kctx = EVP_KDF_CTX_new(kdf);
	ENSURE_FAIL(kctx != NULL, COFFER_E_CRYPTO, "HKDF-SHA256: EVP_KDF_CTX_new failed: %s",
		    coffer_crypto_ossl_reason());

	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)(ikm_len ? ikm : empty), ikm_len);
	/* RFC 5869 2.2: an absent salt is HashLen zeros, which HMAC treats exactly
	 * as an empty key, so an empty salt is simply not passed. */
	if (salt_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
							 salt_len);
	if (info_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
							 info_len);
	*p = OSSL_PARAM_construct_end();

	ENSURE_FAIL(EVP_KDF_derive(kctx, out, out_len, params) == 1, COFFER_E_CRYPTO,
		    "HKDF-SHA256: derive failed: %s", coffer_crypto_ossl_reason());

fail:
	if (rc != COFFER_OK)
		OPENSSL_cleanse(out, out_len);
	EVP_KDF_CTX_free(kctx); /* cleanses its copy of the key */
	EVP_KDF_free(kdf);
	return rc;
}
