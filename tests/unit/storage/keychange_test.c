/* keychange_test.c - changing a table's KMS key online, on a 10 MB and a 1 GB
 * table: no data block is written (bytes written through the file layer are
 * counted per file kind), the work grows with the number of files and not
 * with bytes (registry bytes and KMS calls are counted), reads and writes go on
 * during the change, the old KMS keys can then be disabled, and previous table
 * keys still unwrap. Under AddressSanitizer the large table is 128 MB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage_helper.h"
#include "util/alloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define LARGE_MB 128
#else
#define LARGE_MB 1024
#endif
#define VALUE_BYTES (64 << 10)

struct result {
	uint64_t table_bytes;
	size_t files;
	uint64_t registry_bytes;
	uint64_t data_bytes;
	uint64_t gdk_calls, decrypt_calls;
};

struct bg {
	struct coffer_table *t;
	volatile int stop;
	int ops, failures;
};

static void *reader_writer(void *p)
{
	struct bg *b = p;
	while (!b->stop) {
		char pk[32];
		snprintf(pk, sizeof(pk), "live-%d", b->ops);
		uint8_t bb[4];
		struct coffer_slice p1 = coffer_slice_str(pk);
		struct coffer_slice ck[2] = {be32(1, bb), coffer_slice_str("c")};
		struct coffer_mutation *m = coffer_mutation_new(b->t, &p1, 1);
		coffer_mutation_set(m, ck, 2, 1, coffer_slice_str("v"), 1, 0);
		if (coffer_table_apply(b->t, &m, 1) != COFFER_OK)
			b->failures++;
		coffer_mutation_free(m);
		uint64_t n;
		struct coffer_read q = {.partitions = &p1, .n_partitions = 1};
		if (coffer_table_count(b->t, &q, &n) != COFFER_OK || n != 1)
			b->failures++;
		b->ops++;
	}
	return NULL;
}

static void run(size_t mb, struct result *out)
{
	struct senv *e = senv_new("keychange");
	e->cfg.no_sync = true;
	e->cfg.no_compaction = true;
	e->cfg.memtable_bytes = 64 << 20;
	e->cfg.segment_bytes = 32 << 20;
	e->cfg.block_bytes = 64 << 10;
	struct coffer_table *t = senv_create(e);
	uint8_t *v = coffer_xmalloc(VALUE_BYTES);
	size_t n = mb * (1 << 20) / VALUE_BYTES;
	for (size_t i = 0; i < n; i++) {
		char pk[32];
		snprintf(pk, sizeof(pk), "row-%zu", i);
		assert_int_equal(coffer_random_bytes(v, VALUE_BYTES), COFFER_OK);
		uint8_t b[4];
		struct coffer_slice p = coffer_slice_str(pk);
		struct coffer_slice ck[2] = {be32((int32_t)i, b), coffer_slice_str("c")};
		struct coffer_mutation *m = coffer_mutation_new(t, &p, 1);
		coffer_mutation_set(m, ck, 2, 1, coffer_slice_of(v, VALUE_BYTES), 1, 0);
		assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
		coffer_mutation_free(m);
	}
	free(v);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	struct coffer_table_stats st;
	coffer_table_stats(t, &st);
	out->table_bytes = st.sstable_bytes;
	struct coffer_keyring_info info;
	coffer_keyring_info(coffer_table_keyring(t), &info);
	out->files = info.data_keys;
	struct coffer_secret tk1;
	assert_int_equal(coffer_keyring_table_key(coffer_table_keyring(t), 1, &tk1), COFFER_OK);

	/* change the key while another thread reads and writes */
	struct bg b = {.t = t};
	pthread_t th;
	pthread_create(&th, NULL, reader_writer, &b);
	coffer_vfs_fault_reset_counts(e->fault);
	uint64_t gdk = coffer_key_provider_calls(e->provider, COFFER_KEY_OP_GENERATE_DATA_KEY);
	uint64_t dec = coffer_key_provider_calls(e->provider, COFFER_KEY_OP_DECRYPT);
	assert_int_equal(coffer_table_change_key(t, e->cmk), COFFER_OK);
	out->registry_bytes = coffer_vfs_fault_bytes(e->fault, "keys.reg");
	out->data_bytes = coffer_vfs_fault_bytes(e->fault, "SST-");
	out->gdk_calls = coffer_key_provider_calls(e->provider, COFFER_KEY_OP_GENERATE_DATA_KEY) - gdk;
	out->decrypt_calls = coffer_key_provider_calls(e->provider, COFFER_KEY_OP_DECRYPT) - dec;
	b.stop = 1;
	pthread_join(th, NULL);
	assert_int_equal(b.failures, 0);
	print_message("%zu MB table: %llu bytes of SSTables in %zu files; key change wrote %llu "
		      "registry bytes, %llu SSTable bytes; %llu GenerateDataKey, %llu Decrypt; "
		      "%d concurrent write+read pairs\n",
		      mb, (unsigned long long)out->table_bytes, out->files,
		      (unsigned long long)out->registry_bytes, (unsigned long long)out->data_bytes,
		      (unsigned long long)out->gdk_calls, (unsigned long long)out->decrypt_calls, b.ops);
	/* no data block written */
	assert_int_equal(out->data_bytes, 0);
	assert_int_equal(out->gdk_calls, 1);
	assert_int_equal(out->decrypt_calls, 0);
	coffer_table_close(t);

	/* the service key is no longer needed: reopen with a cold cache under the
	 * customer key alone and read everything; TK_1 still unwraps */
	coffer_key_cache_drop(e->cache, e->desc.table_id);
	t = senv_open(e);
	struct coffer_keyring_info after;
	coffer_keyring_info(coffer_table_keyring(t), &after);
	assert_string_equal(after.kms_key_arn, e->cmk);
	assert_int_equal(after.version, 2);
	struct coffer_secret tk1b;
	assert_int_equal(coffer_keyring_table_key(coffer_table_keyring(t), 1, &tk1b), COFFER_OK);
	assert_memory_equal(tk1.ptr, tk1b.ptr, 32);
	coffer_secret_free(&tk1);
	coffer_secret_free(&tk1b);
	uint64_t cnt;
	struct coffer_read all = {.skip_static = true};
	assert_int_equal(coffer_table_count(t, &all, &cnt), COFFER_OK);
	assert_int_equal(cnt, n + (uint64_t)b.ops);
	coffer_table_close(t);
	senv_free(e);
}

static void test_key_change_small_and_large(void **state)
{
	(void)state;
	struct result small, large;
	run(10, &small);
	run(LARGE_MB, &large);
	/* cost follows files, not bytes: ~LARGE_MB/10 x the bytes, registry bytes per file alike */
	assert_true(large.table_bytes > (LARGE_MB / 20) * small.table_bytes);
	double per_file_small = (double)small.registry_bytes / (double)small.files;
	double per_file_large = (double)large.registry_bytes / (double)large.files;
	print_message("registry bytes per file: %.0f (10 MB) vs %.0f (%d MB)\n", per_file_small,
		      per_file_large, LARGE_MB);
	assert_true(per_file_large < 2 * per_file_small);
	assert_true(large.registry_bytes < 400 * (uint64_t)large.files + 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_change_small_and_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
