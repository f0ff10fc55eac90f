/* provider_embedded_test.c - the embedded provider over the real KMS engine:
 * a table keyring on the service-owned key and on a customer key, a key
 * change between them, a disabled customer key refused cleanly, and the KMS's
 * own usage counters agreeing that cached keys cost no KMS call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys/keys.h"
#include "keys_helper.h"
#include "kms/kms.h"
#include "util/alloc.h"

#define TID "6f1d2c3b-4a59-4867-9564-738291a0b1c2"

static void test_embedded(void **state)
{
	(void)state;
	coffer_crypto_init(false);
	char *dir = test_tmpdir("embedded");
	char *kdir = coffer_xasprintf("%s/kms", dir);
	struct coffer_kms_config kc;
	coffer_kms_config_default(&kc);
	kc.data_dir = kdir;
	kc.fsync = false;
	kc.audit_fd = -2;
	struct coffer_kms *kms;
	assert_int_equal(coffer_kms_open(&kc, &kms), COFFER_OK);

	char svc[COFFER_KMS_ARN_MAX];
	assert_int_equal(coffer_kms_service_key(kms, svc), COFFER_OK);

	/* A customer key whose policy lets the service principal use it. */
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(kms)};
	char *policy = coffer_xasprintf(
		"{\"Version\":\"2012-10-17\",\"Statement\":["
		"{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"%s\"},\"Action\":\"kms:*\",\"Resource\":\"*\"},"
		"{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"%s\"},\"Action\":[\"kms:Decrypt\",\"kms:GenerateDataKey\",\"kms:DescribeKey\",\"kms:ReEncrypt*\"],\"Resource\":\"*\"}]}",
		coffer_kms_admin_principal(kms), coffer_kms_service_principal(kms));
	struct coffer_kms_create_key_req req = {.description = "cmk", .policy = policy};
	struct coffer_kms_key_info cmk;
	memset(&cmk, 0, sizeof(cmk));
	assert_int_equal(coffer_kms_create_key(kms, &admin, &req, &cmk), COFFER_OK);

	struct coffer_key_provider *p = coffer_key_provider_embedded(kms);
	struct coffer_key_cache *cache = coffer_key_cache_new(NULL);
	struct coffer_keyring_config cfg = {
		.dir = dir, .table_id = TID, .keyspace = "ks", .table = "t",
		.provider = p, .cache = cache, .no_fsync = true,
	};
	struct coffer_keyring *kr;
	struct coffer_secret k, k2;
	assert_int_equal(coffer_keyring_create(&cfg, svc, &kr), COFFER_OK);
	assert_int_equal(coffer_keyring_new_data_key(kr, 1, COFFER_KEY_PURPOSE_SSTABLE, &k), COFFER_OK);
	uint64_t dec = coffer_kms_usage(kms, strrchr(svc, '/') + 1, COFFER_KMS_OP_DECRYPT);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(coffer_keyring_data_key(kr, 1, COFFER_KEY_PURPOSE_SSTABLE, &k2), COFFER_OK);
		coffer_secret_free(&k2);
	}
	assert_int_equal(coffer_kms_usage(kms, strrchr(svc, '/') + 1, COFFER_KMS_OP_DECRYPT), dec);

	/* online change to the customer key, then the reverse direction works too */
	assert_int_equal(coffer_keyring_change_key(kr, cmk.arn), COFFER_OK);
	struct coffer_keyring_info info;
	coffer_keyring_info(kr, &info);
	assert_string_equal(info.kms_key_arn, cmk.arn);
	coffer_keyring_close(kr);

	/* disabled customer key: reopening with a cold cache fails with the KMS's code */
	assert_int_equal(coffer_kms_disable_key(kms, &admin, cmk.key_id), COFFER_OK);
	coffer_key_cache_drop(cache, TID);
	assert_int_equal(coffer_keyring_open(&cfg, &kr), COFFER_E_KMS_DISABLED);
	assert_int_equal(coffer_kms_enable_key(kms, &admin, cmk.key_id), COFFER_OK);
	assert_int_equal(coffer_keyring_open(&cfg, &kr), COFFER_OK);
	assert_int_equal(coffer_keyring_data_key(kr, 1, COFFER_KEY_PURPOSE_SSTABLE, &k2), COFFER_OK);
	assert_memory_equal(k.ptr, k2.ptr, 32);
	coffer_secret_free(&k2);
	/* and back to the service key */
	assert_int_equal(coffer_keyring_change_key(kr, svc), COFFER_OK);
	coffer_keyring_close(kr);

	/* The context binds the table: another table id cannot use this blob. */
	struct coffer_key_description d;
	assert_int_equal(coffer_key_provider_describe_key(p, cmk.key_id, &d), COFFER_OK);
	assert_int_equal(d.state, COFFER_KEY_STATE_ENABLED);

	coffer_secret_free(&k);
	coffer_key_cache_free(cache);
	coffer_key_provider_free(p);
	coffer_kms_key_info_free(&cmk);
	coffer_kms_close(kms);
	free(policy);
	rmtree(dir);
	free(kdir);
	free(dir);
}

/* The engine's quota: 10 operations a second, a burst of 1. A second
 * GenerateDataKey right after the first is throttled by the engine; the
 * provider retries it with backoff and it succeeds. With the quota at a
 * standstill (rate ~0) the caller sees COFFER_E_KMS_THROTTLING, retryable. */
static void test_throttling_retried(void **state)
{
	(void)state;
	coffer_crypto_init(false);
	char *dir = test_tmpdir("throttle");
	char *kdir = coffer_xasprintf("%s/kms", dir);
	for (int slow = 0; slow < 2; slow++) {
		struct coffer_kms_config kc;
		coffer_kms_config_default(&kc);
		kc.data_dir = kdir;
		kc.fsync = false;
		kc.audit_fd = -2;
		kc.quota_rate = slow ? 0.001 : 10;
		kc.quota_burst = 1;
		struct coffer_kms *kms;
		assert_int_equal(coffer_kms_open(&kc, &kms), COFFER_OK);
		char svc[COFFER_KMS_ARN_MAX];
		assert_int_equal(coffer_kms_service_key(kms, svc), COFFER_OK);
		struct coffer_key_provider *p = coffer_key_provider_embedded(kms);
		const struct coffer_key_context_pair pairs[] = {{"coffer:purpose", "test"}};
		const struct coffer_key_context ctx = {pairs, 1};
		coffer_rc want[2] = {COFFER_OK, slow ? COFFER_E_KMS_THROTTLING : COFFER_OK};
		for (int i = 0; i < 2; i++) {
			struct coffer_secret pt;
			struct coffer_buf blob = {0};
			char arn[COFFER_KEY_ARN_MAX];
			assert_int_equal(coffer_key_provider_generate_data_key(p, svc, &ctx, NULL, &pt, &blob, arn),
					 want[i]);
			coffer_secret_free(&pt);
			coffer_buf_free(&blob);
		}
		coffer_key_provider_free(p);
		coffer_kms_close(kms);
	}
	rmtree(dir);
	free(kdir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded),
		cmocka_unit_test(test_throttling_retried),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
