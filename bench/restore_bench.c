/*
 * restore_bench.c - coffer-restore-bench: point-in-time restore throughput
 * (issue 7; bench/README.md, "Restore").
 *
 *   coffer-restore-bench DIR [MB]
 *
 * Fills a table with PITR on (16-byte keys, 100-byte half-compressible
 * values, as db_bench; the commit log written without fsync per write to keep
 * the fill short) with about MB megabytes of source data (default 256), three
 * quarters flushed to SSTables and a quarter left in the commit log, then
 * restores it at the current time into a new table (re-encrypted under that
 * table's keys, flushed durably) and prints
 *
 *   restore: S MB of source (X MB SSTables, Y MB commit log) in T s: R MB/s
 *   restore CPU: C s user+system (all threads): P MB per CPU-second
 *
 * where S is coffer_restore_total_bytes (the bytes of the source files the
 * restore reads) and MB = 10^6 bytes. DIR is wiped first and removed after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "kms/kms.h"
#include "storage/storage.h"
#include "util/alloc.h"

/* User + system CPU seconds of the whole process (every thread). */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static int die(const char *what)
{
	fprintf(stderr, "coffer-restore-bench: %s: %s\n", what, coffer_error_msg());
	return 1;
}

static void fill(struct coffer_table *t, long long from, long long to, const uint8_t *values, size_t vlen,
		 uint64_t *r)
{
	for (long long i = from; i < to; i += 100) {
		struct coffer_mutation *m[100];
		int n = 0;
		for (long long j = i; j < to && j < i + 100; j++, n++) {
			char key[17];
			snprintf(key, sizeof(key), "%016llx", (unsigned long long)bench_rand(r));
			struct coffer_slice pk = coffer_slice_of(key, 16);
			m[n] = coffer_mutation_new(t, &pk, 1);
			size_t off = (size_t)(bench_rand(r) % (vlen - 100));
			coffer_mutation_set(m[n], NULL, 0, 1, coffer_slice_of(values + off, 100), j + 1, 0);
		}
		if (coffer_table_apply(t, m, (size_t)n) != COFFER_OK) {
			fprintf(stderr, "apply: %s\n", coffer_error_msg());
			exit(1);
		}
		for (int k = 0; k < n; k++)
			coffer_mutation_free(m[k]);
	}
}

static void progress(void *arg, uint64_t done, uint64_t total)
{
	int *last = arg;
	int pct = total ? (int)(done * 100 / total) : 100;
	if (pct / 25 != *last / 25)
		fprintf(stderr, "  restore progress %d%%\n", pct);
	*last = pct;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: coffer-restore-bench DIR [MB]\n");
		return 2;
	}
	const char *dir = argv[1];
	long long mb = argc == 3 ? atoll(argv[2]) : 256;
	if (mb <= 0)
		return 2;
	coffer_crypto_init(false);
	char *cmd = coffer_xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	struct bench_keys keys;
	char *ddir;
	if (bench_keys_open(dir, &keys, &ddir) != COFFER_OK)
		return die("kms");
	const char *svc = keys.svc;
	struct coffer_storage_config cfg = {
		.data_dir = ddir,
		.provider = keys.provider,
		.cache = keys.cache,
		.no_sync = true,
		.block_bytes = 4096,
		.no_compaction = true,
	};
	struct coffer_table_desc src = {
		.keyspace = "bench",
		.name = "src",
		.table_id = "00000000-0000-4000-8000-0000000005c1",
		.schema = {.n_partition = 1},
	};
	struct coffer_table_desc dstd = src;
	dstd.name = "restored";
	dstd.table_id = "00000000-0000-4000-8000-0000000005c2";
	struct coffer_table *t, *dst;
	if (coffer_table_create(&cfg, &src, svc, &t) != COFFER_OK)
		return die("create");
	if (coffer_table_set_pitr(t, true, 35 * COFFER_US_PER_DAY) != COFFER_OK)
		return die("enable PITR");
	size_t vlen = 1 << 20;
	uint8_t *values = bench_values(vlen, 0x12345678);
	uint64_t r = 0x9e3779b97f4a7c15ull;
	long long rows = mb * 1000000 / 116;
	fill(t, 0, rows * 3 / 4, values, vlen, &r);
	if (coffer_table_flush(t) != COFFER_OK)
		return die("flush");
	fill(t, rows * 3 / 4, rows, values, vlen, &r);

	struct coffer_restore *rs;
	if (coffer_restore_open(&cfg, &src, t, 0, &rs) != COFFER_OK)
		return die("restore open");
	/* the target is written durably (fsync), as a real restore */
	struct coffer_storage_config dcfg = cfg;
	dcfg.no_sync = false;
	if (coffer_table_create(&dcfg, &dstd, svc, &dst) != COFFER_OK)
		return die("create target");
	uint64_t total = coffer_restore_total_bytes(rs);
	struct coffer_table_stats st;
	coffer_table_stats(t, &st);
	int last = -1;
	fprintf(stderr, "  restore starting (pid %ld)\n", (long)getpid());
	double t0 = bench_now_s(), c0 = cpu_s();
	if (coffer_restore_run(rs, dst, progress, &last) != COFFER_OK)
		return die("restore");
	double el = bench_now_s() - t0, cpu = cpu_s() - c0;
	coffer_restore_close(rs);
	uint64_t log_bytes = total > st.sstable_bytes ? total - st.sstable_bytes : 0;
	printf("restore: %.1f MB of source (%.1f MB SSTables, %.1f MB commit log) in %.2f s: %.1f MB/s\n",
	       (double)total / 1e6, (double)st.sstable_bytes / 1e6, (double)log_bytes / 1e6, el,
	       (double)total / 1e6 / el);
	struct coffer_table_stats ds;
	coffer_table_stats(dst, &ds);
	printf("restore CPU: %.2f s user+system (all threads): %.1f MB per CPU-second\n", cpu,
	       (double)total / 1e6 / cpu);
	printf("restored table: %zu SSTables, %.1f MB (rows %lld)\n", ds.sstables, (double)ds.sstable_bytes / 1e6,
	       rows);
	coffer_table_close(dst);
	coffer_table_close(t);
	bench_keys_close(&keys);
	free(values);
	if (system(cmd) != 0)
		return 1;
	free(cmd);
	free(ddir);
	return 0;
}
