/*
 * numeric.c - arbitrary-precision integers for varint and decimal: conversion
 * between two's complement big-endian bytes (the wire form of varint and of a
 * decimal's unscaled value) and decimal digit strings.
 *
 * Invariants:
 *  1. Work is done on little-endian arrays of 32-bit limbs in heap memory sized
 *     from the input, so any length is handled; cost is quadratic in length,
 *     bounded by the callers' value size limits.
 *  2. coffer_varint_from_decimal emits the minimal encoding (as Java's
 *     BigInteger.toByteArray(), so 0 is the single byte 0x00), and appends to
 *     `out` only on success.
 */
#include "schema/schema.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

/* Magnitude of a two's complement big-endian integer into limbs. */
static uint32_t *magnitude_limbs(struct coffer_slice v, bool *neg, size_t *nlimbs)
{
	size_t n = v.len, i;
	uint8_t *mag = coffer_xmalloc(n ? n : 1);
	uint32_t *limbs;
	size_t nl = (n + 3) / 4;

	*neg = n > 0 && (v.ptr[0] & 0x80);
	if (n)
		memcpy(mag, v.ptr, n);
	if (*neg) {
		/* negate: invert and add one */
		unsigned carry = 1;

		for (i = n; i-- > 0;) {
			unsigned x = (uint8_t)~mag[i] + carry;

			mag[i] = (uint8_t)x;
			carry = x >> 8;
		}
	}
	limbs = coffer_xcalloc(nl ? nl : 1, sizeof(*limbs));
	for (i = 0; i < n; i++) {
		size_t bytepos = n - 1 - i; /* 0 = least significant */

		limbs[bytepos / 4] |= (uint32_t)mag[i] << (8 * (bytepos % 4));
	}
	free(mag);
	*nlimbs = nl;
	return limbs;
}

void coffer_varint_to_decimal(struct coffer_slice v, struct coffer_buf *out)
{
	bool neg;
	size_t nl, i, nchunks = 0;
	uint32_t *limbs = magnitude_limbs(v, &neg, &nl);
	/* each 32-bit limb holds < 10 decimal digits, so nl+1 chunks of 9 suffice */
	uint32_t *chunks = coffer_xcalloc(nl * 2 + 2, sizeof(*chunks));
	size_t top = nl;

	while (top > 0 && limbs[top - 1] == 0)
		top--;
	while (top > 0) {
		uint64_t rem = 0;

		for (i = top; i-- > 0;) {
			uint64_t cur = (rem << 32) | limbs[i];

			limbs[i] = (uint32_t)(cur / 1000000000u);
			rem = cur % 1000000000u;
		}
		chunks[nchunks++] = (uint32_t)rem;
		while (top > 0 && limbs[top - 1] == 0)
			top--;
	}
	if (nchunks == 0) {
		coffer_buf_put_u8(out, '0');
	} else {
		if (neg)
			coffer_buf_put_u8(out, '-');
		coffer_buf_printf(out, "%u", chunks[nchunks - 1]);
		for (i = nchunks - 1; i-- > 0;)
			coffer_buf_printf(out, "%09u", chunks[i]);
	}
	free(chunks);
	free(limbs);
}

COFFER_RESULT coffer_varint_from_decimal(const char *s, size_t n, struct coffer_buf *out)
{
	bool neg = false;
	size_t i = 0, nl = 1, cap, k, nbytes;
	uint32_t *limbs;
	uint8_t *mag;

	if (n > 0 && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i = 1;
	}
	ENSURE(i < n, COFFER_E_INVALID, "Invalid integer: no digits");
	for (k = i; k < n; k++)
		ENSURE(s[k] >= '0' && s[k] <= '9', COFFER_E_INVALID, "Invalid integer: bad digit");
	cap = (n - i) / 9 + 2;
	limbs = coffer_xcalloc(cap, sizeof(*limbs));
	while (i < n) {
		size_t take = (n - i) % 9 ? (n - i) % 9 : 9;
		uint32_t chunk = 0, mul = 1;
		uint64_t carry;

		for (k = 0; k < take; k++) {
			chunk = chunk * 10 + (uint32_t)(s[i + k] - '0');
			mul *= 10;
		}
		i += take;
		carry = chunk;
		for (k = 0; k < nl; k++) {
			uint64_t cur = (uint64_t)limbs[k] * mul + carry;

			limbs[k] = (uint32_t)cur;
			carry = cur >> 32;
		}
		if (carry)
			limbs[nl++] = (uint32_t)carry;
	}
	/* magnitude as big-endian bytes with one spare leading byte for the sign */
	nbytes = nl * 4 + 1;
	mag = coffer_xcalloc(nbytes, 1);
	for (k = 0; k < nl * 4; k++)
		mag[nbytes - 1 - k] = (uint8_t)(limbs[k / 4] >> (8 * (k % 4)));
	if (neg) {
		unsigned carry = 1;

		for (k = nbytes; k-- > 0;) {
			unsigned x = (uint8_t)~mag[k] + carry;

			mag[k] = (uint8_t)x;
			carry = x >> 8;
		}
	}
	/* strip redundant sign-extension bytes */
	k = 0;
	while (k + 1 < nbytes &&
	       ((mag[k] == 0x00 && !(mag[k + 1] & 0x80)) || (mag[k] == 0xff && (mag[k + 1] & 0x80))))
		k++;
	coffer_buf_put(out, mag + k, nbytes - k);
	free(mag);
	free(limbs);
	return COFFER_OK;
}
