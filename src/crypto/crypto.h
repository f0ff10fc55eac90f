/*
 * crypto.h - the crypto module's public header. OpenSSL 3 libcrypto and
 * libsodium are used here and nowhere else in coffer.
 *
 *  - AES-256-GCM AEAD: 256-bit key, 96-bit nonce, 128-bit tag, any AAD.
 *    A failed open zeroes the output before returning COFFER_E_AUTH.
 *  - Random bytes from the OS-seeded DRBG.
 *  - SHA-256, HMAC-SHA256, HKDF-SHA256 (RFC 5869).
 *  - Secret buffers: memory that is mlock()ed, excluded from core dumps
 *    (MADV_DONTDUMP), and wiped before it is released.
 *  - Constant-time comparison.
 *
 * Invariants:
 *  1. No function here logs or formats key material into an error message.
 *  2. Every temporary that held key material is wiped before return.
 */
#ifndef COFFER_CRYPTO_CRYPTO_H
#define COFFER_CRYPTO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/bytes.h"
#include "util/result.h"

#define COFFER_AEAD_KEY_BYTES 32
#define COFFER_AEAD_NONCE_BYTES 12
#define COFFER_AEAD_TAG_BYTES 16
#define COFFER_SHA256_BYTES 32
#define COFFER_HMAC_SHA256_BYTES 32

/* ---- process hardening -------------------------------------------------- */

/* Called once by each program at start: installs the secure-buffer hooks for
 * util (coffer_buf secure mode), and, when `daemon` is true, disables core
 * dumps (RLIMIT_CORE 0, PR_SET_DUMPABLE 0) so no key can reach a core file.
 * Safe to call more than once. */
void coffer_crypto_init(bool daemon);

/* ---- secret buffers ------------------------------------------------------ */

/* Key material lives in a struct coffer_secret. The bytes are locked in RAM
 * (mlock; when the lock limit refuses, the buffer is still excluded from core
 * dumps and wiped, and coffer_secret_unlocked_count() says how often that
 * happened), excluded from core dumps, and wiped with OPENSSL_cleanse before
 * release. Small secrets share locked pages from one pool; the pool is
 * process-wide, like malloc, and thread-safe. Every allocation starts on a
 * COFFER_SECRET_ALIGN-byte boundary, so any key-schedule type (SIMD state
 * that needs 16-byte alignment) can be placed in it directly. */
#define COFFER_SECRET_ALIGN 64
struct coffer_secret {
	uint8_t *ptr;
	size_t len;
};

/* Allocates `len` (1..1 MiB) zeroed secret bytes; aborts when memory is
 * exhausted, as coffer_xmalloc does. The caller owns it until coffer_secret_free. */
void coffer_secret_alloc(struct coffer_secret *s, size_t len);
/* Allocates and copies `len` bytes from p (the caller wipes p if it must). */
void coffer_secret_from(struct coffer_secret *s, const void *p, size_t len);
/* Wipes and releases; leaves {NULL, 0}. Freeing {NULL, 0} is a no-op. */
void coffer_secret_free(struct coffer_secret *s);
/* Raw hooks with the util secure-alloc signature (zeroed, locked). */
void *coffer_secret_raw_alloc(size_t n);
void coffer_secret_raw_free(void *p, size_t n);
/* How many secret allocations could not be mlock()ed (for diagnostics). */
size_t coffer_secret_unlocked_count(void);
/* Whether `p` lies in secret memory (tests use it to check where keys live). */
bool coffer_secret_contains(const void *p);

/* Constant-time equality of two n-byte regions. */
bool coffer_ct_equal(const void *a, const void *b, size_t n);

/* ---- random ------------------------------------------------------------- */

COFFER_RESULT coffer_random_bytes(void *out, size_t n);
/* A random RFC 4122 version-4 UUID in text form (36 chars + NUL). */
COFFER_RESULT coffer_random_uuid(char out[37]);

/* ---- hashes ------------------------------------------------------------- */

void coffer_sha256(const void *p, size_t n, uint8_t out[COFFER_SHA256_BYTES]);
void coffer_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
			uint8_t out[COFFER_HMAC_SHA256_BYTES]);
/* Incremental SHA-256 (for hashing request bodies and files in parts). */
struct coffer_sha256_ctx;
struct coffer_sha256_ctx *coffer_sha256_new(void);
void coffer_sha256_update(struct coffer_sha256_ctx *c, const void *p, size_t n);
void coffer_sha256_final(struct coffer_sha256_ctx *c, uint8_t out[COFFER_SHA256_BYTES]); /* frees c */
/* HKDF-SHA256 (RFC 5869): extract with salt (may be empty), expand with info
 * into out_len bytes (at most 255*32). */
COFFER_RESULT coffer_hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt, size_t salt_len,
				 const void *info, size_t info_len, void *out, size_t out_len);

/* ---- AES-256-GCM --------------------------------------------------------- */

/* One-shot seal: out receives len(pt) bytes of ciphertext, tag the 16-byte tag.
 * out may equal pt (in place). */
COFFER_RESULT coffer_aead_seal(const uint8_t key[COFFER_AEAD_KEY_BYTES],
			       const uint8_t nonce[COFFER_AEAD_NONCE_BYTES],
			       struct coffer_slice aad, struct coffer_slice pt, uint8_t *out,
			       uint8_t tag[COFFER_AEAD_TAG_BYTES]);
/* One-shot open: COFFER_E_AUTH (output zeroed) when the tag does not verify. */
COFFER_RESULT coffer_aead_open(const uint8_t key[COFFER_AEAD_KEY_BYTES],
			       const uint8_t nonce[COFFER_AEAD_NONCE_BYTES],
			       struct coffer_slice aad, struct coffer_slice ct,
			       const uint8_t tag[COFFER_AEAD_TAG_BYTES], uint8_t *out);

/* A keyed context that expands the key once and reuses the schedule across
 * many messages (storage's per-block hot path; the same bytes as the one-shot
 * functions). Two implementations behind it (aead.c): libsodium's AES-256-GCM
 * for messages up to 1 KiB where the CPU has AES-NI and PCLMULQDQ, whose
 * precomputed state (key schedule and GHASH key) lives in secret memory;
 * OpenSSL's provider functions for longer messages and on other CPUs, whose
 * schedule OpenSSL holds. Either way the context
 * keeps no pointer to `key`, and coffer_aead_ctx_free wipes the schedule.
 *
 * Thread-safe: several threads may seal and open through one context at once
 * (the libsodium state is read-only after ctx_new; the OpenSSL backend
 * serializes messages on a mutex of its own). Only ctx_free must not race
 * with another call on the same context.
 *
 * ctx_new: *out is the caller's until coffer_aead_ctx_free (NULL: no-op).
 * seal/open: as the one-shot functions (out may equal the input; a failed
 * open zeroes out). A message or ciphertext longer than GCM's limit
 * (2^36 - 32 bytes, NIST SP 800-38D 5.2.1.1) is refused with COFFER_E_CRYPTO
 * before a byte is read or written. */
struct coffer_aead_ctx;
COFFER_RESULT coffer_aead_ctx_new(const uint8_t key[COFFER_AEAD_KEY_BYTES],
				  struct coffer_aead_ctx **out);
void coffer_aead_ctx_free(struct coffer_aead_ctx *c);
/* The implementation a keyed context runs on. */
enum coffer_aead_backend {
	COFFER_AEAD_BACKEND_LIBSODIUM = 1, /* libsodium up to 1 KiB (AES-NI + PCLMULQDQ), OpenSSL past it */
	COFFER_AEAD_BACKEND_OPENSSL = 2,   /* OpenSSL provider functions only, any CPU */
};
enum coffer_aead_backend coffer_aead_ctx_backend(const struct coffer_aead_ctx *c);
/* "libsodium" or "openssl" (static). */
const char *coffer_aead_backend_name(enum coffer_aead_backend b);
COFFER_RESULT coffer_aead_ctx_seal(struct coffer_aead_ctx *c,
				   const uint8_t nonce[COFFER_AEAD_NONCE_BYTES],
				   struct coffer_slice aad, struct coffer_slice pt, uint8_t *out,
				   uint8_t tag[COFFER_AEAD_TAG_BYTES]);
COFFER_RESULT coffer_aead_ctx_open(struct coffer_aead_ctx *c,
				   const uint8_t nonce[COFFER_AEAD_NONCE_BYTES],
				   struct coffer_slice aad, struct coffer_slice ct,
				   const uint8_t tag[COFFER_AEAD_TAG_BYTES], uint8_t *out);

#endif
