/* keyring_test.c - table keyrings: registry round trips, the key cache and
 * KMS call counts, online key change, crash safety of registry updates,
 * tampering, compaction, destruction; and the provider contract checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys/keys.h"
#include "keys/vfs_fault.h"
#include "keys_helper.h"
#include "util/alloc.h"
#include "util/fs.h"

#define TID "0b6c5f0e-8a9d-4a61-9b1f-1e2d3c4b5a69"

struct env {
	struct fake_kms fk;
	struct coffer_key_provider *p;
	struct coffer_key_cache *cache;
	struct coffer_manual_clock clock;
	struct coffer_vfs_fault *fault;
	char *dir;
	struct coffer_keyring_config cfg;
};

static int setup(void **state)
{
	coffer_crypto_init(false);
	struct env *e = COFFER_NEW(struct env);
	e->p = fake_provider_new(&e->fk);
	coffer_manual_clock_init(&e->clock, 1700000000LL * COFFER_US_PER_SEC);
	struct coffer_key_cache_config cc = {.clock = &e->clock.clock};
	e->cache = coffer_key_cache_new(&cc);
	e->fault = coffer_vfs_fault_new();
	e->dir = test_tmpdir("keyring");
	e->cfg = (struct coffer_keyring_config){
		.vfs = coffer_vfs_fault_vfs(e->fault),
		.dir = e->dir,
		.table_id = TID,
		.keyspace = "ks",
		.table = "t",
		.provider = e->p,
		.cache = e->cache,
		.clock = &e->clock.clock,
	};
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	rmtree(e->dir);
	free(e->dir);
	coffer_key_cache_free(e->cache);
	coffer_key_provider_free(e->p);
	coffer_vfs_fault_free(e->fault);
	free(e);
	return 0;
}

static char *reg_path(struct env *e)
{
	return coffer_path_join(e->dir, COFFER_KEYRING_FILE);
}

static void test_create_open_roundtrip(void **state)
{
	struct env *e = *state;
	struct coffer_keyring *kr;
	struct coffer_secret k1, k2, k1b;
	assert_int_equal(coffer_keyring_create(&e->cfg, "key-a", &kr), COFFER_OK);
	assert_int_equal(coffer_keyring_new_data_key(kr, 7, COFFER_KEY_PURPOSE_SSTABLE, &k1), COFFER_OK);
	assert_int_equal(coffer_keyring_new_data_key(kr, 8, COFFER_KEY_PURPOSE_COMMITLOG, &k2), COFFER_OK);
	assert_true(coffer_secret_contains(k1.ptr));
	assert_int_equal(coffer_keyring_new_data_key(kr, 7, COFFER_KEY_PURPOSE_SSTABLE, &k1b),
			 COFFER_E_EXISTS);
	coffer_keyring_close(kr);

	/* Fresh cache: opening needs one Decrypt. */
	coffer_key_cache_drop(e->cache, TID);
	uint64_t before = coffer_key_provider_calls(e->p, COFFER_KEY_OP_DECRYPT);
	assert_int_equal(coffer_keyring_open(&e->cfg, &kr), COFFER_OK);
	assert_int_equal(coffer_key_provider_calls(e->p, COFFER_KEY_OP_DECRYPT), before + 1);
	assert_int_equal(coffer_keyring_data_key(kr, 7, COFFER_KEY_PURPOSE_SSTABLE, &k1b), COFFER_OK);
	assert_memory_equal(k1.ptr, k1b.ptr, 32);
	coffer_secret_free(&k1b);
	/* Wrong purpose or unknown file: corruption naming the file. */
	assert_int_equal(coffer_keyring_data_key(kr, 7, COFFER_KEY_PURPOSE_COMMITLOG, &k1b),
			 COFFER_E_CORRUPT);
	assert_int_equal(coffer_keyring_data_key(kr, 99, COFFER_KEY_PURPOSE_SSTABLE, &k1b),
			 COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_msg(), "file 99"));
	assert_int_equal(coffer_keyring_delete_data_key(kr, 8), COFFER_OK);
	coffer_keyring_close(kr);
	assert_int_equal(coffer_keyring_open(&e->cfg, &kr), COFFER_OK);
	assert_false(coffer_keyring_has_data_key(kr, 8));
	assert_true(coffer_keyring_has_data_key(kr, 7));
	coffer_keyring_close(kr);

	/* The same registry under another table id is refused. */
	struct coffer_keyring_config other = e->cfg;
	other.table_id = "11111111-2222-4333-8444-555555555555";
	assert_int_equal(coffer_keyring_open(&other, &kr), COFFER_E_CORRUPT);
	/* create on an existing registry is refused */
	assert_int_equal(coffer_keyring_create(&e->cfg, "key-a", &kr), COFFER_E_EXISTS);
	coffer_secret_free(&k1);
	coffer_secret_free(&k2);
}

static int events[8];
static int n_events;
static void on_state(void *arg, const char *table_id, coffer_rc rc)
{
	(void)arg;
	assert_string_equal(table_id, TID);
	if (n_events < 8)
		events[n_events++] = rc;
}

static void test_cache_and_kms_calls(void **state)
{
	struct env *e = *state;
	struct coffer_keyring *kr;
	struct coffer_secret k;
	n_events = 0;
	e->cfg.on_key_state = on_state;
	assert_int_equal(coffer_keyring_create(&e->cfg, "key-a", &kr), COFFER_OK);
	uint64_t calls = coffer_key_provider_total_calls(e->p);
	/* While cached: no provider call on the hot path, however many uses. */
	for (int i = 0; i < 100; i++) {
		assert_int_equal(coffer_keyring_check(kr), COFFER_OK);
		assert_int_equal(coffer_keyring_new_data_key(kr, (uint64_t)i + 1,
							      COFFER_KEY_PURPOSE_SSTABLE, &k), COFFER_OK);
		coffer_secret_free(&k);
		assert_int_equal(coffer_keyring_data_key(kr, (uint64_t)i + 1,
							  COFFER_KEY_PURPOSE_SSTABLE, &k), COFFER_OK);
		coffer_secret_free(&k);
		coffer_manual_clock_advance(&e->clock, 2 * COFFER_US_PER_SEC);
	}
	assert_int_equal(coffer_key_provider_total_calls(e->p), calls);
	/* Idle for 5 minutes: evicted and wiped; the next use asks the KMS. */
	coffer_manual_clock_advance(&e->clock, 301 * COFFER_US_PER_SEC);
	assert_int_equal(coffer_key_cache_sweep(e->cache), 1);
	assert_int_equal(coffer_keyring_check(kr), COFFER_OK);
	assert_int_equal(coffer_key_provider_calls(e->p, COFFER_KEY_OP_DECRYPT), 1);
	/* Key disabled: nothing changes while cached... */
	fake_kms_disable(&e->fk, "key-a", true);
	assert_int_equal(coffer_keyring_check(kr), COFFER_OK);
	/* ...and after the idle period the table fails cleanly. */
	coffer_manual_clock_advance(&e->clock, 301 * COFFER_US_PER_SEC);
	assert_int_equal(coffer_keyring_check(kr), COFFER_E_KMS_DISABLED);
	assert_non_null(strstr(coffer_error_msg(), "ks.t"));
	assert_int_equal(coffer_keyring_data_key(kr, 1, COFFER_KEY_PURPOSE_SSTABLE, &k),
			 COFFER_E_KMS_DISABLED);
	assert_null(k.ptr);
	/* Access restored: recovers by itself. */
	fake_kms_disable(&e->fk, "key-a", false);
	assert_int_equal(coffer_keyring_check(kr), COFFER_OK);
	/* the notification hook saw the key go and come back, once each */
	assert_int_equal(n_events, 2);
	assert_int_equal(events[0], COFFER_E_KMS_DISABLED);
	assert_int_equal(events[1], COFFER_OK);
	coffer_keyring_close(kr);
}

static void test_max_age(void **state)
{
	struct env *e = *state;
	struct coffer_key_cache_config cc = {.clock = &e->clock.clock, .max_age_us = 60 * COFFER_US_PER_SEC};
	struct coffer_key_cache *c = coffer_key_cache_new(&cc);
	struct coffer_secret k, out;
	coffer_secret_alloc(&k, 32);
	memset(k.ptr, 0x42, 32);
	coffer_key_cache_put(c, "t", 1, &k);
	for (int i = 0; i < 5; i++) {
		coffer_manual_clock_advance(&e->clock, 10 * COFFER_US_PER_SEC);
		assert_true(coffer_key_cache_get(c, "t", 1, &out));
		assert_memory_equal(out.ptr, k.ptr, 32);
		coffer_secret_free(&out);
	}
	coffer_manual_clock_advance(&e->clock, 11 * COFFER_US_PER_SEC);
	assert_false(coffer_key_cache_get(c, "t", 1, &out)); /* used, but too old */
	assert_null(out.ptr);
	assert_int_equal(coffer_key_cache_count(c), 0);
	assert_int_equal(coffer_key_cache_evictions(c), 1);
	coffer_secret_free(&k);
	coffer_key_cache_free(c);
}

static void test_change_key(void **state)
{
	struct env *e = *state;
	struct coffer_keyring *kr;
	struct coffer_secret k[10], k2, tk1, tk1b;
	assert_int_equal(coffer_keyring_create(&e->cfg, "key-a", &kr), COFFER_OK);
	for (int i = 0; i < 10; i++)
		assert_int_equal(coffer_keyring_new_data_key(kr, (uint64_t)i + 1,
							      COFFER_KEY_PURPOSE_SSTABLE, &k[i]), COFFER_OK);
	assert_int_equal(coffer_keyring_table_key(kr, 1, &tk1), COFFER_OK);
	coffer_vfs_fault_reset_counts(e->fault);
	assert_int_equal(coffer_keyring_change_key(kr, "key-b"), COFFER_OK);
	/* Only the registry was written, and it is small: O(files). */
	assert_int_equal(coffer_vfs_fault_bytes(e->fault, NULL),
			 coffer_vfs_fault_bytes(e->fault, "keys.reg"));
	assert_true(coffer_vfs_fault_bytes(e->fault, NULL) < 10 * 200 + 1024);
	struct coffer_keyring_info info;
	coffer_keyring_info(kr, &info);
	assert_int_equal(info.version, 2);
	assert_string_equal(info.kms_key_arn, "arn:fake:key-b");
	assert_int_equal(info.previous_keys, 1);
	assert_int_equal(coffer_keyring_data_key_version(kr, 3), 2);
	assert_int_equal(coffer_keyring_change_key(kr, "key-c"), COFFER_OK);
	coffer_keyring_close(kr);

	/* The old root keys can be disabled: the table only needs key-c now. */
	fake_kms_disable(&e->fk, "key-a", true);
	fake_kms_disable(&e->fk, "key-b", true);
	coffer_key_cache_drop(e->cache, TID);
	assert_int_equal(coffer_keyring_open(&e->cfg, &kr), COFFER_OK);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(coffer_keyring_data_key(kr, (uint64_t)i + 1,
							  COFFER_KEY_PURPOSE_SSTABLE, &k2), COFFER_OK);
		assert_memory_equal(k2.ptr, k[i].ptr, 32);
		coffer_secret_free(&k2);
		coffer_secret_free(&k[i]);
	}
	/* Previous table keys still unwrap (for backups). */
	assert_int_equal(coffer_keyring_table_key(kr, 1, &tk1b), COFFER_OK);
	assert_memory_equal(tk1.ptr, tk1b.ptr, 32);
	coffer_secret_free(&tk1b);
	assert_int_equal(coffer_keyring_table_key(kr, 2, &tk1b), COFFER_OK);
	coffer_secret_free(&tk1b);
	assert_int_equal(coffer_keyring_table_key(kr, 9, &tk1b), COFFER_E_NOT_FOUND);
	coffer_secret_free(&tk1);
	/* A refused new key leaves everything as it was. */
	assert_int_equal(coffer_keyring_change_key(kr, "key-a"), COFFER_E_KMS_DISABLED);
	coffer_keyring_info(kr, &info);
	assert_int_equal(info.version, 3);
	coffer_keyring_close(kr);
}

static void test_change_key_crash_points(void **state)
{
	struct env *e = *state;
	struct coffer_keyring *kr;
	struct coffer_secret k, k2;
	assert_int_equal(coffer_keyring_create(&e->cfg, "key-a", &kr), COFFER_OK);
	assert_int_equal(coffer_keyring_new_data_key(kr, 5, COFFER_KEY_PURPOSE_SSTABLE, &k), COFFER_OK);
	enum coffer_fault_kind kinds[] = {COFFER_FAULT_WRITE_ERROR, COFFER_FAULT_SHORT_WRITE,
					  COFFER_FAULT_FSYNC, COFFER_FAULT_RENAME};
	for (size_t i = 0; i < COFFER_ARRAY_LEN(kinds); i++) {
		coffer_vfs_fault_arm(e->fault, kinds[i], "keys.reg", 0, i == 0 ? ENOSPC : EIO);
		coffer_rc rc = coffer_keyring_change_key(kr, "key-b");
		assert_true(coffer_vfs_fault_fired(e->fault));
		assert_int_equal(rc, i == 0 ? COFFER_E_NOSPACE : COFFER_E_IO);
		struct coffer_keyring_info info;
		coffer_keyring_info(kr, &info);
		assert_int_equal(info.version, 1);
		/* still usable in memory and on disk under the old key */
		assert_int_equal(coffer_keyring_data_key(kr, 5, COFFER_KEY_PURPOSE_SSTABLE, &k2), COFFER_OK);
		coffer_secret_free(&k2);
		struct coffer_keyring *kr2;
		coffer_key_cache_drop(e->cache, TID);
		assert_int_equal(coffer_keyring_open(&e->cfg, &kr2), COFFER_OK);
		assert_int_equal(coffer_keyring_data_key(kr2, 5, COFFER_KEY_PURPOSE_SSTABLE, &k2), COFFER_OK);
		assert_memory_equal(k.ptr, k2.ptr, 32);
		coffer_secret_free(&k2);
		coffer_keyring_close(kr2);
	}
	coffer_vfs_fault_disarm(e->fault);
	/* A leftover keys.reg.tmp (crash before rename) is ignored and removed. */
	char *p = reg_path(e);
	char *tmp = coffer_xasprintf("%s.tmp", p);
	assert_int_equal(coffer_fs_write_atomic(tmp, coffer_slice_str("garbage"), 0600), COFFER_OK);
	struct coffer_keyring *kr3;
	assert_int_equal(coffer_keyring_open(&e->cfg, &kr3), COFFER_OK);
	assert_false(coffer_fs_exists(tmp));
	coffer_keyring_close(kr3);
	/* Now it works, and a crash after the rename gives the new generation. */
	assert_int_equal(coffer_keyring_change_key(kr, "key-b"), COFFER_OK);
	coffer_keyring_close(kr);
	fake_kms_disable(&e->fk, "key-a", true);
	coffer_key_cache_drop(e->cache, TID);
	assert_int_equal(coffer_keyring_open(&e->cfg, &kr), COFFER_OK);
	assert_int_equal(coffer_keyring_data_key(kr, 5, COFFER_KEY_PURPOSE_SSTABLE, &k2), COFFER_OK);
	assert_memory_equal(k.ptr, k2.ptr, 32);
	coffer_secret_free(&k2);
	coffer_secret_free(&k);
	coffer_keyring_close(kr);
	free(p);
	free(tmp);
}

static void test_torn_append_and_tamper(void **state)
{
	struct env *e = *state;
	struct coffer_keyring *kr;
	struct coffer_secret k;
	assert_int_equal(coffer_keyring_create(&e->cfg, "key-a", &kr), COFFER_OK);
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(coffer_keyring_new_data_key(kr, (uint64_t)i, COFFER_KEY_PURPOSE_SSTABLE, &k),
				 COFFER_OK);
		coffer_secret_free(&k);
	}
	/* An append that tears (half lands, success reported, then "power loss"). */
	coffer_vfs_fault_arm(e->fault, COFFER_FAULT_TORN_WRITE, "keys.reg", 0, 0);
	assert_int_equal(coffer_keyring_new_data_key(kr, 4, COFFER_KEY_PURPOSE_SSTABLE, &k), COFFER_OK);
	coffer_secret_free(&k);
	coffer_keyring_close(kr);
	coffer_vfs_fault_disarm(e->fault);
	assert_int_equal(coffer_keyring_open(&e->cfg, &kr), COFFER_OK);
	assert_true(coffer_keyring_has_data_key(kr, 3));
	assert_false(coffer_keyring_has_data_key(kr, 4)); /* torn tail dropped */
	/* appends continue cleanly after the truncated tail */
	assert_int_equal(coffer_keyring_new_data_key(kr, 4, COFFER_KEY_PURPOSE_SSTABLE, &k), COFFER_OK);
	coffer_secret_free(&k);
	coffer_keyring_close(kr);
	assert_int_equal(coffer_keyring_open(&e->cfg, &kr), COFFER_OK);
	assert_true(coffer_keyring_has_data_key(kr, 4));
	coffer_keyring_close(kr);

	/* Flip each byte in turn (header and all but the last record): never a
	 * silent success with wrong keys. */
	char *p = reg_path(e);
	struct coffer_buf orig = {0};
	assert_int_equal(coffer_fs_read_all(p, 1 << 20, &orig), COFFER_OK);
	size_t last_rec = orig.len - (8 + 1 + 8 + 1 + 4 + 60 + 32);
	for (size_t off = 0; off < last_rec; off += 3) {
		struct coffer_buf b = {0};
		coffer_buf_put(&b, orig.ptr, orig.len);
		b.ptr[off] ^= 0x20;
		assert_int_equal(coffer_fs_write_atomic(p, coffer_buf_slice(&b), 0600), COFFER_OK);
		coffer_rc rc = coffer_keyring_open(&e->cfg, &kr);
		if (rc == COFFER_OK) {
			/* only possible if the flip hit a length making the tail look torn
			 * -- then keys must still be right or missing, never wrong */
			for (uint64_t id = 1; id <= 4; id++) {
				if (coffer_keyring_data_key(kr, id, COFFER_KEY_PURPOSE_SSTABLE, &k) == COFFER_OK)
					coffer_secret_free(&k);
			}
			coffer_keyring_close(kr);
			fail_msg("flip at %zu opened", off);
		}
		assert_int_equal(rc, COFFER_E_CORRUPT); /* never handed to the KMS garbled */
		assert_non_null(strstr(coffer_error_msg(), "keys.reg"));
		coffer_buf_free(&b);
	}
	assert_int_equal(coffer_fs_write_atomic(p, coffer_buf_slice(&orig), 0600), COFFER_OK);
	coffer_buf_free(&orig);
	free(p);
}

static void test_append_cost_and_compaction(void **state)
{
	struct env *e = *state;
	struct coffer_keyring *kr;
	struct coffer_secret k;
	assert_int_equal(coffer_keyring_create(&e->cfg, "key-a", &kr), COFFER_OK);
	for (uint64_t i = 1; i <= 300; i++) {
		coffer_vfs_fault_reset_counts(e->fault);
		assert_int_equal(coffer_keyring_new_data_key(kr, i, COFFER_KEY_PURPOSE_SSTABLE, &k), COFFER_OK);
		coffer_secret_free(&k);
		/* O(change): one record per new file, whatever the registry size */
		assert_true(coffer_vfs_fault_bytes(e->fault, NULL) < 128);
		if (i > 10)
			assert_int_equal(coffer_keyring_delete_data_key(kr, i - 10), COFFER_OK);
	}
	struct coffer_keyring_info info;
	coffer_keyring_info(kr, &info);
	assert_int_equal(info.data_keys, 10);
	assert_true(info.generation > 1);   /* compacted along the way */
	assert_true(info.records < 200);
	coffer_keyring_close(kr);
	assert_int_equal(coffer_keyring_open(&e->cfg, &kr), COFFER_OK);
	coffer_keyring_info(kr, &info);
	assert_int_equal(info.data_keys, 10);
	uint64_t live[] = {291, 295};
	assert_int_equal(coffer_keyring_retain(kr, live, 2), COFFER_OK);
	coffer_keyring_info(kr, &info);
	assert_int_equal(info.data_keys, 2);
	/* export copies the registry without decrypting anything */
	char *bk = coffer_path_join(e->dir, "backup.reg");
	assert_int_equal(coffer_keyring_export(kr, bk), COFFER_OK);
	assert_true(coffer_fs_exists(bk));
	free(bk);
	/* drop table: registry shredded */
	assert_int_equal(coffer_keyring_destroy(kr), COFFER_OK);
	char *p = reg_path(e);
	assert_false(coffer_fs_exists(p));
	free(p);
	assert_false(coffer_key_cache_peek(e->cache, TID, 1));
}

/* Re-validation of a busy table (rule 6) and the per-keyring KMS call
 * counts: a million uses over ~17 simulated minutes with the health check's
 * revalidate every simulated second cost at most one Decrypt per idle
 * period; the cache's idle timer is not kept alive by it; a refusal is seen
 * while the key is cached; the last successful call survives a reopen
 * (read from the registry, no KMS call) and a compaction. */
static void test_revalidate_and_last_call(void **state)
{
	struct env *e = *state;
	struct coffer_keyring *kr;
	struct coffer_keyring_kms_stats st;
	struct coffer_keyring_kms_call last;
	const int64_t idle = 300 * COFFER_US_PER_SEC;
	assert_int_equal(coffer_keyring_create(&e->cfg, "key-a", &kr), COFFER_OK);
	coffer_keyring_kms_stats(kr, &st);
	assert_int_equal(st.calls[COFFER_KEY_OP_GENERATE_DATA_KEY], 1);
	assert_int_equal(st.last.op, COFFER_KEY_OP_GENERATE_DATA_KEY);
	assert_string_equal(st.last.result, "Success");
	/* Just fetched: nothing to ask. */
	assert_int_equal(coffer_keyring_revalidate(kr, idle), COFFER_OK);
	assert_int_equal(coffer_key_provider_calls(e->p, COFFER_KEY_OP_DECRYPT), 0);

	for (int i = 1; i <= 1000000; i++) {
		assert_int_equal(coffer_keyring_check(kr), COFFER_OK);
		coffer_manual_clock_advance(&e->clock, 1000);
		if (i % 1000 == 0)
			assert_int_equal(coffer_keyring_revalidate(kr, idle), COFFER_OK);
	}
	uint64_t dec = coffer_key_provider_calls(e->p, COFFER_KEY_OP_DECRYPT);
	assert_true(dec >= 3 && dec <= 1000 / 300 + 1);
	coffer_keyring_kms_stats(kr, &st);
	assert_int_equal(st.calls[COFFER_KEY_OP_DECRYPT], dec);
	int64_t when = st.last.time_us;
	assert_int_equal(st.last.op, COFFER_KEY_OP_DECRYPT);

	/* Disabled while cached and in use: the next revalidation sees it. */
	fake_kms_disable(&e->fk, "key-a", true);
	assert_int_equal(coffer_keyring_check(kr), COFFER_OK);
	coffer_manual_clock_advance(&e->clock, idle);
	assert_int_equal(coffer_keyring_revalidate(kr, idle), COFFER_E_KMS_DISABLED);
	assert_non_null(strstr(coffer_error_msg(), "ks.t"));
	coffer_keyring_kms_stats(kr, &st);
	assert_string_equal(st.last.result, coffer_rc_name(COFFER_E_KMS_DISABLED));
	fake_kms_disable(&e->fk, "key-a", false);
	/* Revalidation does not count as a use: unused for the idle period,
	 * the key leaves the cache. */
	coffer_manual_clock_advance(&e->clock, 1);
	assert_int_equal(coffer_keyring_revalidate(kr, idle), COFFER_OK);
	when = coffer_clock_now_us(&e->clock.clock);
	coffer_keyring_close(kr);

	/* Opening asks the KMS (cache dropped) but records nothing: the
	 * registry shows the serving process's last call. */
	coffer_key_cache_drop(e->cache, TID);
	coffer_manual_clock_advance(&e->clock, COFFER_US_PER_SEC);
	assert_int_equal(coffer_keyring_open(&e->cfg, &kr), COFFER_OK);
	struct coffer_keyring_info info;
	coffer_keyring_info(kr, &info);
	assert_int_equal(info.recorded_kms_call.time_us, when);
	assert_true(coffer_keyring_last_kms_call(kr, &last));
	assert_int_equal(last.time_us, when + COFFER_US_PER_SEC); /* the open's Decrypt */
	coffer_keyring_close(kr);
	/* Reopened with the key cached: no KMS call at all. */
	uint64_t before = coffer_key_provider_total_calls(e->p);
	coffer_manual_clock_advance(&e->clock, 10 * COFFER_US_PER_SEC);
	assert_int_equal(coffer_keyring_open(&e->cfg, &kr), COFFER_OK); /* cached now */
	assert_int_equal(coffer_key_provider_total_calls(e->p), before);
	assert_true(coffer_keyring_last_kms_call(kr, &last));
	assert_int_equal(last.op, COFFER_KEY_OP_DECRYPT);
	assert_int_equal(last.time_us, when);
	assert_string_equal(last.result, "Success");
	assert_int_equal(coffer_keyring_compact(kr), COFFER_OK);
	coffer_keyring_close(kr);
	assert_int_equal(coffer_keyring_open(&e->cfg, &kr), COFFER_OK);
	assert_true(coffer_keyring_last_kms_call(kr, &last));
	assert_int_equal(last.time_us, when);
	/* the idle timer ran out during all this without a use: wiped */
	coffer_manual_clock_advance(&e->clock, idle + 1);
	assert_int_equal(coffer_keyring_revalidate(kr, idle), COFFER_OK);
	assert_false(coffer_key_cache_peek(e->cache, TID, 1));
	coffer_keyring_close(kr);
}

static void test_provider_contract(void **state)
{
	struct env *e = *state;
	struct coffer_secret pt;
	struct coffer_buf blob = {0};
	char arn[COFFER_KEY_ARN_MAX];
	e->fk.misbehave = 1; /* a 16-byte key where 32 were promised */
	assert_int_equal(coffer_key_provider_generate_data_key(e->p, "key-a", NULL, NULL, &pt, &blob, arn),
			 COFFER_E_INTERNAL);
	assert_null(pt.ptr);
	assert_int_equal(blob.len, 0);
	e->fk.misbehave = 2; /* a code outside the KMS set */
	assert_int_equal(coffer_key_provider_generate_data_key(e->p, "key-a", NULL, NULL, &pt, &blob, arn),
			 COFFER_E_KMS_INTERNAL);
	e->fk.misbehave = 0;
	assert_int_equal(coffer_key_provider_generate_data_key(e->p, "", NULL, NULL, &pt, &blob, arn),
			 COFFER_E_INVALID);
	assert_int_equal(coffer_key_provider_decrypt(e->p, coffer_slice_of("", 0), NULL, NULL, NULL, &pt, arn),
			 COFFER_E_INVALID);
	assert_int_equal(coffer_key_provider_generate_data_key(e->p, "nope", NULL, NULL, &pt, &blob, arn),
			 COFFER_E_KMS_NOT_FOUND);
	struct coffer_key_description d;
	assert_int_equal(coffer_key_provider_describe_key(e->p, "key-b", &d), COFFER_OK);
	assert_string_equal(d.arn, "arn:fake:key-b");
	char gid[COFFER_KEY_GRANT_ID_MAX];
	char *tok;
	struct coffer_key_grant_request gr = {.key_ref = "key-a"};
	assert_int_equal(coffer_key_provider_create_grant(e->p, &gr, gid, &tok),
			 COFFER_E_KMS_UNSUPPORTED_OPERATION);
	assert_int_equal(coffer_key_provider_calls(e->p, COFFER_KEY_OP_GENERATE_DATA_KEY), 3);
	coffer_buf_free(&blob);
}

/* Shredding a registry that is not open (purge of a retired table): no KMS
 * call, the bytes overwritten with zeros before the unlink, cached keys
 * dropped; a missing registry is fine. */
static void test_shred_without_opening(void **state)
{
	struct env *e = *state;
	struct coffer_keyring *kr;
	struct coffer_secret k;
	assert_int_equal(coffer_keyring_create(&e->cfg, "key-a", &kr), COFFER_OK);
	assert_int_equal(coffer_keyring_new_data_key(kr, 7, COFFER_KEY_PURPOSE_BACKUP, &k), COFFER_OK);
	coffer_secret_free(&k);
	coffer_keyring_close(kr);
	assert_true(coffer_key_cache_count(e->cache) > 0);
	char *reg = reg_path(e);
	char *alias = coffer_path_join(e->dir, "second-name");
	assert_int_equal(link(reg, alias), 0); /* to look at the inode afterwards */
	uint64_t calls = coffer_key_provider_total_calls(e->p);
	assert_int_equal(coffer_keyring_shred(e->cfg.vfs, e->dir, e->cache, TID), COFFER_OK);
	assert_int_equal(coffer_key_provider_total_calls(e->p), calls);
	assert_false(coffer_fs_exists(reg));
	assert_int_equal(coffer_key_cache_count(e->cache), 0);
	struct coffer_buf b = {0};
	assert_int_equal(coffer_fs_read_all(alias, 1 << 20, &b), COFFER_OK);
	assert_true(b.len > 100);
	for (size_t i = 0; i < b.len; i++)
		assert_int_equal(b.ptr[i], 0);
	coffer_buf_free(&b);
	assert_int_not_equal(coffer_keyring_open(&e->cfg, &kr), COFFER_OK); /* gone */
	assert_int_equal(coffer_keyring_shred(e->cfg.vfs, e->dir, e->cache, TID), COFFER_OK);
	free(alias);
	free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_open_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_and_kms_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_key_crash_points, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_append_and_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_cost_and_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revalidate_and_last_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provider_contract, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shred_without_opening, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
