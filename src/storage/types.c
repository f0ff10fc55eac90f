/*
 * types.c - clustering comparators by CQL type (the orders Cassandra's
 * AbstractType subclasses define), on the CQL wire serialisation of values.
 *
 * Invariants:
 *  1. Each comparator is a total order on byte strings: malformed values
 *     (wrong width) never crash; they sort by length, then bytes.
 *  2. The empty value sorts before every other value, as in Cassandra.
 *  3. DECIMAL compares bytewise for now (not numeric order); docs/storage.md
 *     says so.
 */
#include <errno.h>
#include <string.h>

#include "storage/storage.h"

static int bytes_cmp(struct coffer_slice a, struct coffer_slice b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
	if (c)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

/* Signed big-endian integers of equal width: flip the sign bit and compare. */
static int signed_cmp(struct coffer_slice a, struct coffer_slice b)
{
	if (a.len != b.len || a.len == 0)
		return bytes_cmp(a, b);
	uint8_t x = a.ptr[0] ^ 0x80, y = b.ptr[0] ^ 0x80;
	if (x != y)
		return x < y ? -1 : 1;
	return memcmp(a.ptr + 1, b.ptr + 1, a.len - 1);
}

static uint64_t float_key(struct coffer_slice v)
{
	uint64_t bits = 0;
	for (size_t i = 0; i < v.len; i++)
		bits = (bits << 8) | v.ptr[i];
	uint64_t sign = UINT64_C(1) << (v.len * 8 - 1);
	return (bits & sign) ? ~bits & (sign | (sign - 1)) : bits | sign;
}

static int float_cmp(struct coffer_slice a, struct coffer_slice b, size_t width)
{
	if (a.len != width || b.len != width)
		return bytes_cmp(a, b);
	uint64_t x = float_key(a), y = float_key(b);
	return x < y ? -1 : x > y;
}

static int varint_cmp(struct coffer_slice a, struct coffer_slice b)
{
	if (a.len == 0 || b.len == 0)
		return bytes_cmp(a, b);
	bool na = a.ptr[0] & 0x80, nb = b.ptr[0] & 0x80;
	if (na != nb)
		return na ? -1 : 1;
	/* Strip redundant sign-extension bytes, then longer magnitude wins. */
	uint8_t pad = na ? 0xff : 0x00;
	while (a.len > 1 && a.ptr[0] == pad && ((a.ptr[1] & 0x80) == (pad & 0x80))) {
		a.ptr++;
		a.len--;
	}
	while (b.len > 1 && b.ptr[0] == pad && ((b.ptr[1] & 0x80) == (pad & 0x80))) {
		b.ptr++;
		b.len--;
	}
	if (a.len != b.len)
		return (a.len < b.len) == !na ? -1 : 1;
	return memcmp(a.ptr, b.ptr, a.len);
}

/* 60-bit timestamp of a version-1 UUID. */
static uint64_t uuid_time(const uint8_t *u)
{
	uint64_t hi = ((uint64_t)(u[6] & 0x0f) << 8) | u[7];
	uint64_t mid = ((uint64_t)u[4] << 8) | u[5];
	uint64_t lo = ((uint64_t)u[0] << 24) | ((uint64_t)u[1] << 16) | ((uint64_t)u[2] << 8) | u[3];
	return (hi << 48) | (mid << 32) | lo;
}

static int signed_bytes_cmp(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return (int8_t)a[i] < (int8_t)b[i] ? -1 : 1;
	return 0;
}

static int timeuuid_cmp(struct coffer_slice a, struct coffer_slice b)
{
	if (a.len != 16 || b.len != 16)
		return bytes_cmp(a, b);
	uint64_t x = uuid_time(a.ptr), y = uuid_time(b.ptr);
	if (x != y)
		return x < y ? -1 : 1;
	return signed_bytes_cmp(a.ptr, b.ptr, 16);
}

static int uuid_cmp(struct coffer_slice a, struct coffer_slice b)
{
	if (a.len != 16 || b.len != 16)
		return bytes_cmp(a, b);
	int va = a.ptr[6] >> 4, vb = b.ptr[6] >> 4;
	if (va != vb)
		return va < vb ? -1 : 1;
	if (va == 1) {
		uint64_t x = uuid_time(a.ptr), y = uuid_time(b.ptr);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return memcmp(a.ptr, b.ptr, 16);
}

int coffer_type_compare(enum coffer_type t, struct coffer_slice a, struct coffer_slice b)
{
	if (a.len == 0 || b.len == 0)
		return (a.len != 0) - (b.len != 0);
	switch (t) {
	case COFFER_TYPE_INT:
	case COFFER_TYPE_BIGINT:
	case COFFER_TYPE_SMALLINT:
	case COFFER_TYPE_TINYINT:
	case COFFER_TYPE_TIMESTAMP:
	case COFFER_TYPE_TIME:
		return signed_cmp(a, b);
	case COFFER_TYPE_DOUBLE:
		return float_cmp(a, b, 8);
	case COFFER_TYPE_FLOAT:
		return float_cmp(a, b, 4);
	case COFFER_TYPE_VARINT:
		return varint_cmp(a, b);
	case COFFER_TYPE_UUID:
		return uuid_cmp(a, b);
	case COFFER_TYPE_TIMEUUID:
		return timeuuid_cmp(a, b);
	case COFFER_TYPE_INET:
		if (a.len != b.len)
			return a.len < b.len ? -1 : 1;
		return memcmp(a.ptr, b.ptr, a.len);
	case COFFER_TYPE_BLOB:
	case COFFER_TYPE_ASCII:
	case COFFER_TYPE_TEXT:
	case COFFER_TYPE_BOOLEAN:
	case COFFER_TYPE_DATE:
	case COFFER_TYPE_DECIMAL:
	default:
		return bytes_cmp(a, b);
	}
}
