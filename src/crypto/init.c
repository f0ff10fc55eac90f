/*
 * init.c - process start-up for the crypto module: wires util's secure
 * buffers to secret memory, starts libsodium, and in a daemon keeps key
 * material out of core files.
 *
 * Invariants:
 *  1. After coffer_crypto_init(), every secure coffer_buf lives in the secret
 *     pool (locked, MADV_DONTDUMP, wiped on release).
 *  2. After coffer_crypto_init(true), the process writes no core file and is
 *     not dumpable (ptrace by other same-uid processes and /proc/<pid>/mem
 *     reads are refused), so no key can be read out of a crash or a peer.
 *  3. Calling it again is harmless: every step is idempotent.
 *  4. sodium_init() runs once per process (pthread_once), whether
 *     coffer_crypto_init or the first keyed AEAD context gets there first, so
 *     a program or test that never calls coffer_crypto_init still gets a
 *     started libsodium (its CPU feature detection happens in sodium_init:
 *     before it, crypto_aead_aes256gcm_is_available() says no). If
 *     sodium_init fails, libsodium is never called again in this process and
 *     keyed contexts use OpenSSL; a warning on stderr says so, once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <sodium.h>

#include "crypto/crypto.h"
#include "crypto/crypto_internal.h"

static const struct coffer_secure_alloc secret_hooks = {
	.alloc = coffer_secret_raw_alloc,
	.free = coffer_secret_raw_free,
};

const char *coffer_crypto_ossl_reason(void)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unknown error";
}

void coffer_crypto_die(const char *what)
{
	fprintf(stderr, "coffer: fatal: %s\n", what);
	fflush(stderr);
	abort();
}

/* Set once by sodium_start (invariant 4), read-only afterwards. */
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static bool sodium_gcm_ok;
static const char *sodium_gcm_why = "libsodium not started";

static void sodium_start(void)
{
	/* 0: started now; 1: already started (by another library); -1: failed. */
	if (sodium_init() < 0) {
		sodium_gcm_why = "sodium_init() failed";
		fprintf(stderr, "coffer: warning: sodium_init() failed; AES-256-GCM keyed "
				"contexts use OpenSSL (slower per message)\n");
		return;
	}
	if (crypto_aead_aes256gcm_is_available() != 1) {
		sodium_gcm_why = "the CPU lacks AES-NI or PCLMULQDQ, which libsodium's AES-256-GCM needs";
		return;
	}
	sodium_gcm_ok = true;
	sodium_gcm_why = NULL;
}

bool coffer_crypto_sodium_gcm(const char **why)
{
	if (pthread_once(&sodium_once, sodium_start) != 0)
		coffer_crypto_die("pthread_once failed starting libsodium");
	if (!sodium_gcm_ok && why)
		*why = sodium_gcm_why;
	return sodium_gcm_ok;
}

void coffer_crypto_init(bool daemon)
{
	/* Load OpenSSL's error strings and algorithms now rather than lazily on
	 * the hot path; failure here leaves OpenSSL to initialise on first use. */
	(void)OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
	coffer_buf_set_secure_alloc(&secret_hooks);
	(void)coffer_crypto_sodium_gcm(NULL); /* starts libsodium (invariant 4) */

#ifdef COFFER_BENCH_NULL_CIPHER
	fprintf(stderr, "coffer: WARNING: built with COFFER_BENCH_NULL_CIPHER: "
			"storage blocks are NOT encrypted (benchmark build only)\n");
#endif

	if (!daemon)
		return;
	/* A core file would hold every key in the heap that MADV_DONTDUMP does
	 * not cover (OpenSSL's own key schedules among them). */
	struct rlimit none = {0, 0};
	if (setrlimit(RLIMIT_CORE, &none) != 0)
		fprintf(stderr, "coffer: warning: setrlimit(RLIMIT_CORE, 0): %s\n",
			strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		fprintf(stderr, "coffer: warning: prctl(PR_SET_DUMPABLE, 0): %s\n",
			strerror(errno));
}
