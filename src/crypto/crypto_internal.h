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

/* OpenSSL's reason text for the oldest queued error ("unknown error" when
 * the queue is empty); clears the queue. The string is static. */
const char *coffer_crypto_ossl_reason(void);

/* Prints "coffer: <what>" to stderr and aborts. For the failures that, like
 * out-of-memory, cannot be returned: a void function whose OpenSSL call failed,
 * or secret memory that cannot be mapped. */
__attribute__((noreturn)) void coffer_crypto_die(const char *what);

#endif
