/*
 * storage_bench.c - coffer-storage-bench: the storage engine under db_bench's
 * flags and output format, so `make bench` can print it next to RocksDB's
 * db_bench on the same workloads (bench/README.md, "Storage engine").
 *
 *   --benchmarks=fillrandom,readrandom  (also fillseq, readseq is not offered)
 *   --num=N          operations per thread (db_bench's meaning); keys are
 *                    drawn from [0, N)
 *   --key_size=16 --value_size=100     value bytes half-compressible, as db_bench
 *   --db=DIR         data directory (created; wiped unless --use_existing_db)
 *   --threads=T      concurrent threads, each doing N operations
 *   --sync=true|false  true: each write durable (fsync'd, group commit) before
 *                    it returns, as cofferd runs; false: the commit log is
 *                    written for every write but fsynced only per segment
 *
 * Output, one line per benchmark, as db_bench prints it:
 *   fillrandom   :       X micros/op Y ops/sec Z seconds N operations;    W MB/s
 * The table is a real coffer table: embedded KMS, service-owned key, table
 * key, per-file data keys; built with COFFER_BENCH_NULL_CIPHER (the
 * -nullcipher binary) its blocks are copied instead of encrypted.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "kms/kms.h"
#include "storage/storage.h"
#include "util/alloc.h"

struct opts {
	char benchmarks[256];
	long long num;
	int key_size, value_size, threads;
	bool sync, use_existing;
	char db[1024];
};

struct shared {
	struct opts *o;
	struct coffer_table *t;
	const char *name;
	uint8_t *values; /* compressible value source */
	size_t values_len;
};

struct worker {
	struct shared *s;
	int id;
	pthread_t th;
	long long found, done, errors;
	uint64_t rnd;
};

/* db_bench's key: the integer big-endian in the first 8 bytes, zero padded. */
static void make_key(uint8_t *k, int size, uint64_t v)
{
	memset(k, '0', (size_t)size);
	for (int i = 0; i < 8 && i < size; i++)
		k[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Counts the row and goes on: a partition here holds one row, so the read
 * ends with it. (Returning false would stop the read and ask it for a paging
 * cursor, work db_bench's Get has no counterpart for.) */
static bool found_fn(void *arg, const struct coffer_row_view *r)
{
	(void)r;
	(*(long long *)arg)++;
	return true;
}

static void *run(void *p)
{
	struct worker *w = p;
	struct shared *s = w->s;
	struct opts *o = s->o;
	uint8_t key[256];
	bool fill = strncmp(s->name, "fill", 4) == 0;
	bool seq = strcmp(s->name, "fillseq") == 0;
	size_t voff = (size_t)w->id * 997;
	for (long long i = 0; i < o->num; i++) {
		uint64_t k = seq ? (uint64_t)i : bench_rand(&w->rnd) % (uint64_t)o->num;
		make_key(key, o->key_size, k);
		struct coffer_slice pk = coffer_slice_of(key, (size_t)o->key_size);
		if (fill) {
			voff = (voff + (size_t)o->value_size) % (s->values_len - (size_t)o->value_size);
			struct coffer_mutation *m = coffer_mutation_new(s->t, &pk, 1);
			coffer_mutation_set(m, NULL, 0, 0,
					    coffer_slice_of(s->values + voff, (size_t)o->value_size),
					    (int64_t)(i + 1), 0);
			if (coffer_table_apply(s->t, &m, 1) != COFFER_OK) {
				if (w->errors++ == 0)
					fprintf(stderr, "write failed: %s\n", coffer_error_msg());
			}
			coffer_mutation_free(m);
		} else {
			struct coffer_read q = {.partitions = &pk, .n_partitions = 1};
			struct coffer_read_result res = {0};
			long long f = 0;
			if (coffer_table_read(s->t, &q, found_fn, &f, &res) != COFFER_OK) {
				if (w->errors++ == 0)
					fprintf(stderr, "read failed: %s\n", coffer_error_msg());
			}
			w->found += f > 0;
			coffer_buf_free(&res.cursor);
		}
		w->done++;
	}
	return NULL;
}

static bool parse_bool(const char *v)
{
	return strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: coffer-storage-bench [--benchmarks=fillrandom,readrandom] [--num=N]\n"
			"  [--key_size=16] [--value_size=100] [--db=DIR] [--threads=1] [--sync=false]\n"
			"  [--use_existing_db=false]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = {.num = 1000000, .key_size = 16, .value_size = 100, .threads = 1};
	snprintf(o.benchmarks, sizeof(o.benchmarks), "fillrandom,readrandom");
	snprintf(o.db, sizeof(o.db), "/tmp/coffer-storage-bench");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *eq = strchr(a, '=');
		if (strncmp(a, "--", 2) != 0 || !eq)
			usage();
		const char *v = eq + 1;
		size_t n = (size_t)(eq - a);
#define IS(s) (n == strlen(s) && strncmp(a, s, n) == 0)
		if (IS("--benchmarks"))
			snprintf(o.benchmarks, sizeof(o.benchmarks), "%s", v);
		else if (IS("--num"))
			o.num = atoll(v);
		else if (IS("--key_size"))
			o.key_size = atoi(v);
		else if (IS("--value_size"))
			o.value_size = atoi(v);
		else if (IS("--db"))
			snprintf(o.db, sizeof(o.db), "%s", v);
		else if (IS("--threads"))
			o.threads = atoi(v);
		else if (IS("--sync"))
			o.sync = parse_bool(v);
		else if (IS("--use_existing_db"))
			o.use_existing = parse_bool(v);
		else
			usage();
#undef IS
	}
	if (o.num <= 0 || o.key_size < 8 || o.key_size > 255 || o.value_size <= 0 || o.threads <= 0)
		usage();
	coffer_crypto_init(false);
	if (!o.use_existing) {
		char *cmd = coffer_xasprintf("rm -rf '%s'", o.db);
		if (system(cmd) != 0)
			return 1;
		free(cmd);
	}
	struct bench_keys keys;
	char *ddir;
	if (bench_keys_open(o.db, &keys, &ddir) != COFFER_OK) {
		fprintf(stderr, "kms: %s\n", coffer_error_msg());
		return 1;
	}
	const char *svc = keys.svc;
	struct coffer_storage_config cfg = {
		.data_dir = ddir,
		.provider = keys.provider,
		.cache = keys.cache,
		.no_sync = !o.sync,
		.block_bytes = 4096,
		.block_cache_bytes = 256u << 20,
	};
	struct coffer_table_desc desc = {
		.keyspace = "bench",
		.name = "kv",
		.table_id = "00000000-0000-4000-8000-0000000000be",
		.schema = {.n_partition = 1, .n_clustering = 0},
	};
	struct coffer_table *t;
	coffer_rc rc = coffer_table_open(&cfg, &desc, &t);
	if (rc != COFFER_OK)
		rc = coffer_table_create(&cfg, &desc, svc, &t);
	if (rc != COFFER_OK) {
		fprintf(stderr, "table: %s\n", coffer_error_msg());
		return 1;
	}
	/* db_bench's RandomGenerator: half-compressible data */
	size_t vlen = 1 << 20;
	uint8_t *values = bench_values(vlen, 0x12345678);
	printf("coffer-storage-bench: keys %d bytes, values %d bytes, %lld ops x %d threads, sync=%s%s\n",
	       o.key_size, o.value_size, o.num, o.threads, o.sync ? "true" : "false",
#ifdef COFFER_BENCH_NULL_CIPHER
	       " (NULL CIPHER: blocks not encrypted)"
#else
	       ""
#endif
	);
	char *list = coffer_xstrdup(o.benchmarks), *save = NULL;
	int status = 0, bench_no = 0;
	for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		if (strcmp(name, "fillrandom") && strcmp(name, "readrandom") && strcmp(name, "fillseq")) {
			fprintf(stderr, "unknown benchmark %s\n", name);
			status = 2;
			continue;
		}
		struct shared s = {&o, t, name, values, vlen};
		bench_no++; /* each benchmark draws its own keys, as db_bench's do */
		struct worker *w = coffer_xcalloc((size_t)o.threads, sizeof(*w));
		double t0 = bench_now_s();
		for (int i = 0; i < o.threads; i++) {
			w[i] = (struct worker){.s = &s, .id = i, .rnd = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) +
							     1000 * (uint64_t)(bench_no + 1)};
			pthread_create(&w[i].th, NULL, run, &w[i]);
		}
		long long done = 0, found = 0, errors = 0;
		for (int i = 0; i < o.threads; i++) {
			pthread_join(w[i].th, NULL);
			done += w[i].done;
			found += w[i].found;
			errors += w[i].errors;
		}
		double secs = bench_now_s() - t0;
		bool fill = strncmp(name, "fill", 4) == 0;
		double bytes = (double)(fill ? done : found) * (o.key_size + o.value_size);
		printf("%-12s : %11.3f micros/op %ld ops/sec %.3f seconds %lld operations; %6.1f MB/s",
		       name, secs * 1e6 / (double)done * o.threads, (long)((double)done / secs), secs, done,
		       bytes / 1048576.0 / secs);
		if (!fill)
			printf(" (%lld of %lld found)", found, done);
		printf("\n");
		fflush(stdout);
		if (errors)
			status = 1;
		free(w);
	}
	struct coffer_table_stats st;
	coffer_table_stats(t, &st);
	printf("coffer: %zu SSTables, %.1f MB; %llu flushes, %llu compactions; %llu commit groups for "
	       "%llu writes; block cache %llu hits %llu misses\n",
	       st.sstables, (double)st.sstable_bytes / 1048576.0, (unsigned long long)st.flushes,
	       (unsigned long long)st.compactions, (unsigned long long)st.commit_groups,
	       (unsigned long long)st.commit_writes, (unsigned long long)st.block_cache_hits,
	       (unsigned long long)st.block_cache_misses);
	coffer_table_close(t);
	bench_keys_close(&keys);
	free(values);
	free(list);
	free(ddir);
	return status;
}
