/*
 * random.c - random bytes and random (version 4) UUIDs, from OpenSSL's
 * DRBG, which the OS entropy source seeds and reseeds (and which reseeds in a
 * forked child).
 *
 * Invariants:
 *  1. A failure is returned (COFFER_E_CRYPTO), never papered over with weaker
 *     randomness; the output buffer is then zeroed so no caller can use a
 *     partly filled key by mistake.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "crypto/crypto.h"
#include "crypto/crypto_internal.h"

COFFER_RESULT coffer_random_bytes(void *out, size_t n)
{
	uint8_t *p = out;
	size_t done = 0;

	/* RAND_bytes takes an int length. */
	while (done < n) {
		size_t part = n - done < INT_MAX ? n - done : INT_MAX;
		if (RAND_bytes(p + done, (int)part) != 1) {
			OPENSSL_cleanse(out, n);
			BAIL(COFFER_E_CRYPTO, "random: RAND_bytes failed: %s",
			     coffer_crypto_ossl_reason());
		}
		done += part;
	}
	return COFFER_OK;
}

COFFER_RESULT coffer_random_uuid(char out[37])
{
	uint8_t b[16];

	out[0] = '\0';
	TRY(coffer_random_bytes(b, sizeof b));
	/* RFC 4122 4.4: version 4 in the high nibble of octet 6 (time_hi_and_version),
	 * variant 10x in the two high bits of octet 8 (clock_seq_hi_and_reserved). */
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		 b[12], b[13], b[14], b[15]);
	return COFFER_OK;
}
