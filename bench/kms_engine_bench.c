/*
 * kms_engine_bench.c - in-process KMS engine throughput: GenerateDataKey and
 * Decrypt operations per second, as cofferd's embedded KMS performs them
 * (service principal, a table-shaped encryption context, the service key),
 * single-threaded and with N threads. The peer figure printed beside it is
 * the raw AES-256-GCM seal of a 32-byte key with the same API, so the ratio
 * shows what the engine adds (authorization, context canonicalisation,
 * locking, audit) on top of the cipher.
 *
 * usage: coffer-kms-engine-bench [seconds-per-figure] [threads]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "kms/kms.h"
#include "util/util.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bench {
	struct coffer_kms *kms;
	char key[COFFER_KMS_ARN_MAX];
	struct coffer_kms_caller caller;
	struct coffer_kms_context ctx;
	struct coffer_buf blob;
	double seconds;
	int op; /* 0 gdk, 1 decrypt */
	unsigned long long count;
};

static const struct coffer_kms_context_pair pairs[] = {
	{"coffer:keyspace", "bench"},
	{"coffer:table", "events"},
	{"coffer:table-id", "5b6f9c2e-8a31-4e52-9d7b-0c1f2e3d4a5b"},
};

static void *run(void *arg)
{
	struct bench *b = arg;
	double end = now_s() + b->seconds;
	unsigned long long n = 0;
	while (n % 64 || now_s() < end) {
		struct coffer_secret pt;
		struct coffer_buf out = {0};
		coffer_rc rc;
		if (b->op == 0)
			rc = coffer_kms_generate_data_key(b->kms, &b->caller, b->key, 32, &b->ctx, &pt, &out, NULL);
		else
			rc = coffer_kms_decrypt(b->kms, &b->caller, coffer_buf_slice(&b->blob), &b->ctx, NULL, &pt, NULL);
		if (rc != COFFER_OK) {
			fprintf(stderr, "kms bench: %s: %s\n", coffer_rc_name(rc), coffer_error_msg());
			exit(1);
		}
		coffer_secret_free(&pt);
		coffer_buf_free(&out);
		n++;
	}
	b->count = n;
	return NULL;
}

static double measure(struct bench *proto, int op, int threads)
{
	struct bench *bs = calloc((size_t)threads, sizeof(*bs));
	pthread_t *ts = calloc((size_t)threads, sizeof(*ts));
	double t0 = now_s();
	for (int i = 0; i < threads; i++) {
		bs[i] = *proto;
		bs[i].op = op;
		pthread_create(&ts[i], NULL, run, &bs[i]);
	}
	unsigned long long total = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(ts[i], NULL);
		total += bs[i].count;
	}
	double rate = (double)total / (now_s() - t0);
	free(bs);
	free(ts);
	return rate;
}

static double raw_seal_rate(double seconds)
{
	uint8_t key[32] = {1}, nonce[12] = {0}, dk[32] = {2}, out[32], tag[16], aad[96] = {3};
	double end = now_s() + seconds, t0 = now_s();
	unsigned long long n = 0;
	while (n % 256 || now_s() < end) {
		nonce[0] = (uint8_t)n;
		if (coffer_aead_seal(key, nonce, coffer_slice_of(aad, sizeof(aad)), coffer_slice_of(dk, 32), out,
				     tag) != COFFER_OK)
			exit(1);
		n++;
	}
	return (double)n / (now_s() - t0);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	if (seconds <= 0 || threads < 1 || threads > 64) {
		fprintf(stderr, "usage: coffer-kms-engine-bench [seconds>0] [threads 1..64]\n");
		return 2;
	}
	coffer_crypto_init(false);
	char dir[] = "/tmp/coffer-kms-bench-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	struct coffer_kms_config cfg;
	coffer_kms_config_default(&cfg);
	cfg.data_dir = dir;
	cfg.quota_rate = 0; /* measure the engine, not the quota */
	cfg.audit_fd = -1;  /* the audit line is part of every call, as in production */
	struct bench b = {0};
	b.seconds = seconds;
	if (coffer_kms_open(&cfg, &b.kms) != COFFER_OK || coffer_kms_service_key(b.kms, b.key) != COFFER_OK) {
		fprintf(stderr, "kms bench: %s\n", coffer_error_msg());
		return 1;
	}
	b.caller.principal_arn = coffer_kms_service_principal(b.kms);
	b.ctx.pairs = pairs;
	b.ctx.n = 3;
	if (coffer_kms_generate_data_key_without_plaintext(b.kms, &b.caller, b.key, 32, &b.ctx, &b.blob, NULL) !=
	    COFFER_OK) {
		fprintf(stderr, "kms bench: %s\n", coffer_error_msg());
		return 1;
	}
	printf("KMS engine, in-process (service key, 3-pair encryption context, audit on)\n");
	printf("%-34s %12.0f ops/s\n", "GenerateDataKey (32 B), 1 thread", measure(&b, 0, 1));
	printf("%-34s %12.0f ops/s\n", "Decrypt (32 B key), 1 thread", measure(&b, 1, 1));
	char label[64];
	snprintf(label, sizeof(label), "GenerateDataKey, %d threads", threads);
	printf("%-34s %12.0f ops/s\n", label, measure(&b, 0, threads));
	snprintf(label, sizeof(label), "Decrypt, %d threads", threads);
	printf("%-34s %12.0f ops/s\n", label, measure(&b, 1, threads));
	printf("%-34s %12.0f ops/s\n", "peer: raw AES-256-GCM seal of 32 B", raw_seal_rate(seconds));
	coffer_buf_free(&b.blob);
	coffer_kms_close(b.kms);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "kms bench: could not remove %s\n", dir);
	return 0;
}
