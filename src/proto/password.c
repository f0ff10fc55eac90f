/*
 * password.c - role password hashes: PBKDF2-HMAC-SHA256 (RFC 8018 section
 * 5.2) built only on crypto's public coffer_hmac_sha256, with a random salt
 * and a slow, configurable iteration count, stored as text:
 *
 *   pbkdf2-sha256$<iterations>$<salt, base64>$<derived key, base64>
 *
 *   FIELD       SIZE        MEANING
 *   scheme      13 chars    "pbkdf2-sha256"
 *   iterations  decimal     c, MIN_ITERATIONS..MAX_ITERATIONS, no leading 0
 *   salt        16 bytes    fresh from coffer_random_bytes (8..64 accepted)
 *   hash        32 bytes    DK = PBKDF2(P, salt, c, 32) (16..64 accepted)
 *
 * Invariants:
 *  1. Passwords, derived keys and intermediate blocks are wiped before
 *     return and never appear in an error message.
 *  2. Verification compares the whole derived key with coffer_ct_equal.
 *  3. A stored hash is parsed strictly (canonical base64, bounded counts) so
 *     a damaged entry is reported, and cannot ask for days of iterations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "proto/proto_internal.h"
#include "util/alloc.h"

#define SCHEME "pbkdf2-sha256"

COFFER_RESULT coffer_proto_pbkdf2_sha256(const void *password, size_t password_len,
					 const void *salt, size_t salt_len, uint32_t iterations,
					 uint8_t *out, size_t out_len)
{
	ENSURE(iterations >= 1, COFFER_E_INVALID, "PBKDF2: the iteration count must be >= 1");
	ENSURE(out_len >= 1 && out_len <= 255u * COFFER_HMAC_SHA256_BYTES, COFFER_E_INVALID,
	       "PBKDF2: derived key length %zu is out of range", out_len);
	ENSURE(salt_len <= 4096, COFFER_E_INVALID, "PBKDF2: salt of %zu bytes is too long",
	       salt_len);
	uint8_t msg[4096 + 4];
	uint8_t u[COFFER_HMAC_SHA256_BYTES], t[COFFER_HMAC_SHA256_BYTES];
	if (salt_len)
		memcpy(msg, salt, salt_len);
	/* RFC 8018 5.2: T_i = U_1 ^ ... ^ U_c, U_1 = PRF(P, S || INT(i)),
	 * U_j = PRF(P, U_{j-1}); DK = T_1 || T_2 || ... truncated to dkLen. */
	for (uint32_t block = 1, done = 0; done < out_len; block++) {
		coffer_store_u32(msg + salt_len, block);
		coffer_hmac_sha256(password, password_len, msg, salt_len + 4, u);
		memcpy(t, u, sizeof t);
		for (uint32_t j = 1; j < iterations; j++) {
			coffer_hmac_sha256(password, password_len, u, sizeof u, u);
			for (size_t k = 0; k < sizeof t; k++)
				t[k] ^= u[k];
		}
		size_t take = out_len - done < sizeof t ? out_len - done : sizeof t;
		memcpy(out + done, t, take);
		done += (uint32_t)take;
	}
	coffer_wipe(u, sizeof u);
	coffer_wipe(t, sizeof t);
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_password_hash(const void *password, size_t password_len,
					 uint32_t iterations, char **out)
{
	uint8_t salt[COFFER_PROTO_PASSWORD_SALT_BYTES];
	uint8_t dk[COFFER_PROTO_PASSWORD_HASH_BYTES];
	if (iterations == 0)
		iterations = COFFER_PROTO_PBKDF2_DEFAULT_ITERATIONS;
	ENSURE(iterations >= COFFER_PROTO_PBKDF2_MIN_ITERATIONS &&
		       iterations <= COFFER_PROTO_PBKDF2_MAX_ITERATIONS,
	       COFFER_E_INVALID, "password hash: %u iterations is outside %u..%u", iterations,
	       COFFER_PROTO_PBKDF2_MIN_ITERATIONS, COFFER_PROTO_PBKDF2_MAX_ITERATIONS);
	TRY(coffer_random_bytes(salt, sizeof salt));
	TRY(coffer_proto_pbkdf2_sha256(password, password_len, salt, sizeof salt, iterations, dk,
				       sizeof dk));
	char *s64 = coffer_base64_encode(salt, sizeof salt);
	char *h64 = coffer_base64_encode(dk, sizeof dk);
	*out = coffer_xasprintf(SCHEME "$%u$%s$%s", iterations, s64, h64);
	coffer_wipe(dk, sizeof dk);
	coffer_wipe(h64, strlen(h64));
	free(s64);
	free(h64);
	return COFFER_OK;
}

/* Parses the decimal iteration count between `s` and `end`. */
static bool parse_iterations(const char *s, const char *end, uint32_t *out)
{
	uint64_t v = 0;
	if (s == end || end - s > 10 || (*s == '0'))
		return false;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

COFFER_RESULT coffer_proto_password_verify(const void *password, size_t password_len,
					   const char *encoded, bool *ok)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_buf salt = {0}, want = {0};
	uint8_t got[64];
	uint32_t iterations;

	*ok = false;
	ENSURE(encoded, COFFER_E_INVALID, "password hash: none stored");
	size_t plen = strlen(SCHEME);
	ENSURE(!strncmp(encoded, SCHEME "$", plen + 1), COFFER_E_INVALID,
	       "password hash: unknown scheme (expected " SCHEME ")");
	const char *it = encoded + plen + 1;
	const char *d1 = strchr(it, '$');
	const char *d2 = d1 ? strchr(d1 + 1, '$') : NULL;
	ENSURE(d1 && d2 && !strchr(d2 + 1, '$'), COFFER_E_INVALID,
	       "password hash: expected " SCHEME "$iterations$salt$hash");
	ENSURE(parse_iterations(it, d1, &iterations) &&
		       iterations >= COFFER_PROTO_PBKDF2_MIN_ITERATIONS &&
		       iterations <= COFFER_PROTO_PBKDF2_MAX_ITERATIONS,
	       COFFER_E_INVALID, "password hash: the iteration count is not a number in %u..%u",
	       COFFER_PROTO_PBKDF2_MIN_ITERATIONS, COFFER_PROTO_PBKDF2_MAX_ITERATIONS);
	if (coffer_base64_decode(d1 + 1, (size_t)(d2 - d1 - 1), &salt) != COFFER_OK)
		BAIL_FAIL(COFFER_E_INVALID, "password hash: the salt is not canonical base64");
	ENSURE_FAIL(salt.len >= 8 && salt.len <= 64, COFFER_E_INVALID,
		    "password hash: a salt of %zu bytes is outside 8..64", salt.len);
	if (coffer_base64_decode(d2 + 1, strlen(d2 + 1), &want) != COFFER_OK)
		BAIL_FAIL(COFFER_E_INVALID, "password hash: the hash is not canonical base64");
	ENSURE_FAIL(want.len >= 16 && want.len <= sizeof got, COFFER_E_INVALID,
		    "password hash: a hash of %zu bytes is outside 16..64", want.len);
	TRY_FAIL(coffer_proto_pbkdf2_sha256(password, password_len, salt.ptr, salt.len, iterations,
					    got, want.len));
	*ok = coffer_ct_equal(got, want.ptr, want.len);
fail:
	coffer_wipe(got, sizeof got);
	if (want.ptr)
		coffer_wipe(want.ptr, want.len);
	coffer_buf_free(&salt);
	coffer_buf_free(&want);
	return rc;
}
