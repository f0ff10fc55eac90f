/*
 * aead_bench.c - AES-256-GCM seal throughput through the keyed context
 * (coffer_aead_ctx_seal, the storage engine's hot path), for 4, 16 and
 * 64 KiB buffers, each measured for about one second of CLOCK_MONOTONIC time.
 *
 * Each call is a complete seal, as storage does per block: a fresh 96-bit
 * nonce (a counter), 16 bytes of AAD, the data, and the tag. That is the
 * same work as `openssl speed -aead -evp aes-256-gcm` (which uses 13 bytes of
 * AAD); plain `openssl speed -evp aes-256-gcm` streams EVP_EncryptUpdate
 * without a nonce or tag per buffer and so is an upper bound.
 *
 * Output, one line per size (MB = 10^6 bytes, as openssl speed's "1000s of
 * bytes" times 1000), which bench/run-all parses:
 *   AES-256-GCM seal   4096 bytes   1234.5 MB/s  (301234 calls in 1.000 s)
 *
 * Usage: coffer-aead-bench [seconds-per-size]   (default 1)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "util/alloc.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_size(struct coffer_aead_ctx *ctx, size_t size, double seconds)
{
	uint8_t *in = coffer_xmalloc(size), *out = coffer_xmalloc(size);
	uint8_t nonce[COFFER_AEAD_NONCE_BYTES] = {0}, tag[COFFER_AEAD_TAG_BYTES], aad[16] = {0};
	unsigned long long calls = 0;
	int rc = 0;

	memset(in, 0x5c, size);
	/* warm up caches and the CPU's clock before timing */
	for (int i = 0; i < 64; i++) {
		coffer_store_u64(nonce + 4, ~(uint64_t)i);
		if (coffer_aead_ctx_seal(ctx, nonce, coffer_slice_of(aad, sizeof aad),
					 coffer_slice_of(in, size), out, tag) != COFFER_OK)
			goto fail;
	}
	double start = now(), end = start + seconds, t;
	do {
		coffer_store_u64(nonce + 4, calls);
		coffer_store_u64(aad + 8, calls);
		if (coffer_aead_ctx_seal(ctx, nonce, coffer_slice_of(aad, sizeof aad),
					 coffer_slice_of(in, size), out, tag) != COFFER_OK)
			goto fail;
		calls++;
	} while ((t = now()) < end);
	double elapsed = t - start;
	printf("AES-256-GCM seal %6zu bytes %9.1f MB/s  (%llu calls in %.3f s)\n", size,
	       (double)calls * (double)size / elapsed / 1e6, calls, elapsed);
	fflush(stdout);
	free(in);
	free(out);
	return 0;
fail:
	fprintf(stderr, "coffer-aead-bench: seal failed: %s\n", coffer_error_msg());
	rc = 1;
	free(in);
	free(out);
	return rc;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {4096, 16384, 65536};
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	uint8_t key[COFFER_AEAD_KEY_BYTES];
	struct coffer_aead_ctx *ctx;

	if (seconds <= 0) {
		fprintf(stderr, "usage: coffer-aead-bench [seconds-per-size]\n");
		return 2;
	}
	coffer_crypto_init(false);
#ifdef COFFER_BENCH_NULL_CIPHER
	printf("# WARNING: COFFER_BENCH_NULL_CIPHER build: the keyed context does not encrypt\n");
#endif
	if (coffer_random_bytes(key, sizeof key) != COFFER_OK ||
	    coffer_aead_ctx_new(key, &ctx) != COFFER_OK) {
		fprintf(stderr, "coffer-aead-bench: %s\n", coffer_error_msg());
		return 1;
	}
	coffer_wipe(key, sizeof key);
	int rc = 0;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0] && rc == 0; i++)
		rc = bench_size(ctx, sizes[i], seconds);
	coffer_aead_ctx_free(ctx);
	return rc;
}
