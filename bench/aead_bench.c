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
 * Usage: coffer-aead-bench [--backend=libsodium|openssl] [seconds-per-size]
 * (default 1 s). The keyed context runs on the backend coffer_aead_ctx_new
 * picks (libsodium where the CPU has AES-NI and PCLMULQDQ; aead.c) unless
 * --backend forces one; the first line names it ("# keyed context: ...").
 *
 * Per-message mode, for counting instructions (bench/README.md, "Per-message
 * AES-GCM overhead"):
 *   coffer-aead-bench [--backend=...] --messages=N
 * seals N messages of storage's commit-log shape (150 bytes of data, 59 bytes
 * of AAD, a fresh nonce each) through one keyed context, opening each right
 * after sealing it and checking the plaintext comes back, and prints the mean
 * wall time per seal+open. Under `valgrind --tool=callgrind`, the inclusive
 * counts of coffer_aead_ctx_seal and coffer_aead_ctx_open divided by N are the
 * instructions per seal and per open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "crypto/crypto_internal.h"
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

/* The per-message mode: see the file comment. */
static int bench_messages(struct coffer_aead_ctx *ctx, unsigned long n)
{
	uint8_t pt[150], ct[150], back[150], aad[59], tag[COFFER_AEAD_TAG_BYTES];
	uint8_t nonce[COFFER_AEAD_NONCE_BYTES] = {0};

	memset(pt, 0x5c, sizeof(pt));
	memset(aad, 0x3a, sizeof(aad));
	double start = now();
	for (unsigned long i = 0; i < n; i++) {
		coffer_store_u64(nonce + 4, i);
		coffer_store_u64(aad + 51, i);
		if (coffer_aead_ctx_seal(ctx, nonce, coffer_slice_of(aad, sizeof(aad)),
					 coffer_slice_of(pt, sizeof(pt)), ct, tag) != COFFER_OK ||
		    coffer_aead_ctx_open(ctx, nonce, coffer_slice_of(aad, sizeof(aad)),
					 coffer_slice_of(ct, sizeof(ct)), tag, back) != COFFER_OK) {
			fprintf(stderr, "coffer-aead-bench: %s\n", coffer_error_msg());
			return 1;
		}
		if (memcmp(back, pt, sizeof(pt)) != 0) {
			fprintf(stderr, "coffer-aead-bench: message %lu did not open to its plaintext\n", i);
			return 1;
		}
	}
	double elapsed = now() - start;
	printf("AES-256-GCM %lu messages of %zu bytes (%zu bytes of AAD): %.0f ns per seal+open\n", n,
	       sizeof(pt), sizeof(aad), n ? elapsed / (double)n * 1e9 : 0.0);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: coffer-aead-bench [--backend=libsodium|openssl] [seconds-per-size]\n"
			"       coffer-aead-bench [--backend=libsodium|openssl] --messages=N\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {4096, 16384, 65536};
	const char *messages = NULL, *backend = NULL;
	double seconds = 1.0;
	char *end = NULL;
	unsigned long n = 0;
	uint8_t key[COFFER_AEAD_KEY_BYTES];
	struct coffer_aead_ctx *ctx;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--messages=", 11) == 0)
			messages = argv[i] + 11;
		else if (strncmp(argv[i], "--backend=", 10) == 0)
			backend = argv[i] + 10;
		else if ((seconds = atof(argv[i])) <= 0)
			return usage();
	}
	if (messages && ((n = strtoul(messages, &end, 10)) == 0 || *end != '\0'))
		return usage();
	if (backend && strcmp(backend, "libsodium") != 0 && strcmp(backend, "openssl") != 0)
		return usage();
	coffer_crypto_init(false);
#ifdef COFFER_BENCH_NULL_CIPHER
	printf("# WARNING: COFFER_BENCH_NULL_CIPHER build: the keyed context does not encrypt\n");
#endif
	coffer_rc rc = coffer_random_bytes(key, sizeof key);
	if (rc == COFFER_OK && backend)
		rc = coffer_aead_ctx_new_backend(key,
						 strcmp(backend, "openssl") == 0 ? COFFER_AEAD_BACKEND_OPENSSL
										 : COFFER_AEAD_BACKEND_LIBSODIUM,
						 &ctx);
	else if (rc == COFFER_OK)
		rc = coffer_aead_ctx_new(key, &ctx);
	coffer_wipe(key, sizeof key);
	if (rc != COFFER_OK) {
		fprintf(stderr, "coffer-aead-bench: %s\n", coffer_error_msg());
		return 1;
	}
	printf("# keyed context: %s\n", coffer_aead_backend_name(coffer_aead_ctx_backend(ctx)));
	int status = 0;
	if (messages) {
		status = bench_messages(ctx, n);
		coffer_aead_ctx_free(ctx);
		return status;
	}
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0] && status == 0; i++)
		status = bench_size(ctx, sizes[i], seconds);
	coffer_aead_ctx_free(ctx);
	return status;
}
