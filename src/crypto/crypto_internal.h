/*
 * crypto_internal.h - helpers shared by the crypto module's files, not part of
 * its public interface.
 *
 * Invariants:
 *  1. coffer_crypto_ossl_reason() empties OpenSSL's per-thread error queue, so
 *     a failure reported by one call never leaks into the next call's message.
 *  2. What it returns is OpenSSL's reason text for the failure (a fixed string
 *     such as "tag mismatch"), never anything derived from key material.
 */
#ifndef COFFER_CRYPTO_CRYPTO_INTERNAL_H
#define COFFER_CRYPTO_CRYPTO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

/* OpenSSL's reason text for the oldest queued error ("unknown error" when
 * the queue is empty); clears the queue. The string is static. */
const char *coffer_crypto_ossl_reason(void);

/* Prints "coffer: <what>" to stderr and aborts. For the failures that, like
 * out-of-memory, cannot be returned: a void function whose OpenSSL call failed,
 * or secret memory that cannot be mapped. */
__attribute__((noreturn)) void coffer_crypto_die(const char *what);

/* Whether libsodium's AES-256-GCM may be used: sodium_init() succeeded
 * (called once per process, by the first of coffer_crypto_init and
 * coffer_aead_ctx_new) and crypto_aead_aes256gcm_is_available() says the CPU
 * has AES-NI and PCLMULQDQ. When false, *why (if not NULL) gets a static
 * reason. Thread-safe; after the first call, a load. */
bool coffer_crypto_sodium_gcm(const char **why);

/* ---- test and bench hooks for the keyed AEAD context ---------------------- */

/* coffer_aead_ctx_new on a chosen backend, so tests and coffer-aead-bench can
 * run the OpenSSL fallback on a CPU where coffer_aead_ctx_new would pick
 * libsodium. COFFER_AEAD_BACKEND_LIBSODIUM fails with COFFER_E_CRYPTO when
 * coffer_crypto_sodium_gcm() is false; any other value with COFFER_E_INVALID. */
COFFER_RESULT coffer_aead_ctx_new_backend(const uint8_t key[COFFER_AEAD_KEY_BYTES],
					  enum coffer_aead_backend backend,
					  struct coffer_aead_ctx **out);
/* Where a libsodium-backed context keeps its precomputed state (key schedule
 * and GHASH key), and its size in *len; NULL (and 0) for the OpenSSL backend,
 * whose schedule OpenSSL allocates. For tests that check it lies in secret
 * memory and is wiped on free. */
const void *coffer_aead_ctx_key_state(const struct coffer_aead_ctx *c, size_t *len);

#endif
