/*
 * token.c - partition tokens, exactly as Cassandra's Murmur3Partitioner
 * computes them, so that token() in CQL and drivers' token-aware routing agree
 * with coffer.
 *
 * Cassandra's MurmurHash.hash3_x64_128 differs from the reference MurmurHash3
 * in one place: in the tail it widens bytes as signed Java bytes
 * ("k2 ^= ((long) key.get(offset+14)) << 48"), so a tail byte >= 0x80 is
 * sign-extended. We reproduce that; blocks are read little-endian unsigned as
 * in the reference. The token is h[0], with Long.MIN_VALUE mapped to
 * Long.MAX_VALUE (Murmur3Partitioner.normalize).
 *
 * Invariants:
 *  1. coffer_token(k) equals Cassandra's token(k) for every k (checked against
 *     the vectors of the DataStax drivers' test suites).
 */
#include "storage/storage.h"

#include <errno.h>
#include <string.h>

static uint64_t rotl64(uint64_t v, int n)
{
	return (v << n) | (v >> (64 - n));
}

static uint64_t fmix(uint64_t k)
{
	k ^= k >> 33;
	k *= UINT64_C(0xff51afd7ed558ccd);
	k ^= k >> 33;
	k *= UINT64_C(0xc4ceb9fe1a85ec53);
	k ^= k >> 33;
	return k;
}

static uint64_t block_le(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Java's (long) of a byte: sign-extended. */
static uint64_t sx(uint8_t b)
{
	return (uint64_t)(int64_t)(int8_t)b;
}

void coffer_murmur3_x64_128(const void *data, size_t len, uint64_t out[2])
{
	const uint8_t *key = data;
	const size_t nblocks = len >> 4;
	uint64_t h1 = 0, h2 = 0;
	const uint64_t c1 = UINT64_C(0x87c37b91114253d5);
	const uint64_t c2 = UINT64_C(0x4cf5ad432745937f);

	for (size_t i = 0; i < nblocks; i++) {
		uint64_t k1 = block_le(key + i * 16);
		uint64_t k2 = block_le(key + i * 16 + 8);
		k1 *= c1; k1 = rotl64(k1, 31); k1 *= c2; h1 ^= k1;
		h1 = rotl64(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729;
		k2 *= c2; k2 = rotl64(k2, 33); k2 *= c1; h2 ^= k2;
		h2 = rotl64(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5;
	}

	const uint8_t *tail = key + nblocks * 16;
	uint64_t k1 = 0, k2 = 0;
	switch (len & 15) {
	case 15: k2 ^= sx(tail[14]) << 48; /* fall through */
	case 14: k2 ^= sx(tail[13]) << 40; /* fall through */
	case 13: k2 ^= sx(tail[12]) << 32; /* fall through */
	case 12: k2 ^= sx(tail[11]) << 24; /* fall through */
	case 11: k2 ^= sx(tail[10]) << 16; /* fall through */
	case 10: k2 ^= sx(tail[9]) << 8;   /* fall through */
	case 9:
		k2 ^= sx(tail[8]);
		k2 *= c2; k2 = rotl64(k2, 33); k2 *= c1; h2 ^= k2;
		/* fall through */
	case 8: k1 ^= sx(tail[7]) << 56; /* fall through */
	case 7: k1 ^= sx(tail[6]) << 48; /* fall through */
	case 6: k1 ^= sx(tail[5]) << 40; /* fall through */
	case 5: k1 ^= sx(tail[4]) << 32; /* fall through */
	case 4: k1 ^= sx(tail[3]) << 24; /* fall through */
	case 3: k1 ^= sx(tail[2]) << 16; /* fall through */
	case 2: k1 ^= sx(tail[1]) << 8;  /* fall through */
	case 1:
		k1 ^= sx(tail[0]);
		k1 *= c1; k1 = rotl64(k1, 31); k1 *= c2; h1 ^= k1;
		break;
	default:
		break;
	}

	h1 ^= (uint64_t)len;
	h2 ^= (uint64_t)len;
	h1 += h2;
	h2 += h1;
	h1 = fmix(h1);
	h2 = fmix(h2);
	h1 += h2;
	h2 += h1;
	out[0] = h1;
	out[1] = h2;
}

int64_t coffer_token(struct coffer_slice pk)
{
	uint64_t h[2];
	coffer_murmur3_x64_128(pk.ptr, pk.len, h);
	int64_t t = (int64_t)h[0];
	return t == INT64_MIN ? INT64_MAX : t;
}

void coffer_partition_key_encode(const struct coffer_slice *c, size_t n, struct coffer_buf *out)
{
	if (n == 1) {
		coffer_buf_put(out, c[0].ptr, c[0].len);
		return;
	}
	/* CompositeType: for each component, u16 length, bytes, end-of-component 0. */
	for (size_t i = 0; i < n; i++) {
		coffer_buf_put_u16(out, (uint16_t)c[i].len);
		coffer_buf_put(out, c[i].ptr, c[i].len);
		coffer_buf_put_u8(out, 0);
	}
}
