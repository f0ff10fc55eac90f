/*
 * quota_test.c - per-principal request quotas of the KMS engine: with
 * quota_rate 5/s and burst 5, the sixth immediate cryptographic call is
 * ThrottlingException; the bucket refills with (manual) time; each principal
 * has its own bucket; management calls are not throttled.
 */
#include "kms/kms_test_helper.h"

struct fixture {
	struct kt_env *e;
	struct kt_principal alice;
	struct kt_key k;
	struct kt_key ak; /* alice's own key */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->e = kt_env_new(NULL);
	f->e->cfg.quota_rate = 5;
	f->e->cfg.quota_burst = 5;
	kt_env_open(f->e);
	kt_principal_new(f->e, "alice", &f->alice);
	kt_key_new(f->e, &f->e->admin, &f->k);
	kt_key_new(f->e, &f->alice.caller, &f->ak);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kt_env_free(f->e);
	free(f);
	return 0;
}

static void test_sixth_is_throttled(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	struct coffer_buf b = {0};
	for (int i = 0; i < 5; i++)
		KT_OK(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b));
	KT_RC(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b), COFFER_E_KMS_THROTTLING);
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_THROTTLING), "ThrottlingException");
	KT_RC(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b), COFFER_E_KMS_THROTTLING);
	/* Other cryptographic operations share the bucket. */
	struct coffer_secret dk = {NULL, 0};
	char arn[COFFER_KMS_ARN_MAX];
	struct coffer_buf b2 = {0};
	KT_RC(coffer_kms_generate_data_key(e->kms, &e->admin, f->k.id, 32, NULL, &dk, &b2, arn),
	      COFFER_E_KMS_THROTTLING);
	/* Management calls are not cryptographic and are not throttled. */
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, f->k.id, &info));
	coffer_kms_key_info_free(&info);

	/* One second refills the bucket. */
	kt_advance_us(e, COFFER_US_PER_SEC);
	for (int i = 0; i < 5; i++)
		KT_OK(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b));
	KT_RC(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b), COFFER_E_KMS_THROTTLING);
	/* A fifth of a second gives one call. */
	kt_advance_us(e, COFFER_US_PER_SEC / 5);
	KT_OK(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b));
	KT_RC(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b), COFFER_E_KMS_THROTTLING);
	/* A long idle period does not bank more than the burst. */
	kt_advance_us(e, 60 * COFFER_US_PER_SEC);
	for (int i = 0; i < 5; i++)
		KT_OK(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b));
	KT_RC(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b), COFFER_E_KMS_THROTTLING);
	coffer_buf_free(&b);
	coffer_buf_free(&b2);
}

static void test_mixed_ops(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	struct coffer_buf b = {0};
	KT_OK(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b));            /* 1 */
	KT_OK(kt_decrypt(e, &e->admin, &b, NULL, NULL, "x"));               /* 2 */
	struct coffer_secret r = {NULL, 0};
	KT_OK(coffer_kms_generate_random(e->kms, &e->admin, 16, &r));       /* 3 */
	coffer_secret_free(&r);
	struct coffer_buf w = {0};
	char arn[COFFER_KMS_ARN_MAX];
	KT_OK(coffer_kms_generate_data_key_without_plaintext(e->kms, &e->admin, f->k.id, 32, NULL,
							     &w, arn)); /* 4 */
	KT_OK(kt_decrypt(e, &e->admin, &b, NULL, NULL, "x"));               /* 5 */
	KT_RC(kt_decrypt(e, &e->admin, &b, NULL, NULL, NULL), COFFER_E_KMS_THROTTLING);
	coffer_buf_free(&b);
	coffer_buf_free(&w);
}

static void test_per_principal(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	struct coffer_buf b = {0};
	for (int i = 0; i < 5; i++)
		KT_OK(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b));
	KT_RC(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b), COFFER_E_KMS_THROTTLING);
	/* Alice has her own bucket. */
	for (int i = 0; i < 5; i++)
		KT_OK(kt_encrypt(e, &f->alice.caller, f->ak.id, "x", NULL, &b));
	KT_RC(kt_encrypt(e, &f->alice.caller, f->ak.id, "x", NULL, &b), COFFER_E_KMS_THROTTLING);
	/* So has the service principal. */
	char svc[COFFER_KMS_ARN_MAX];
	KT_OK(coffer_kms_service_key(e->kms, svc));
	for (int i = 0; i < 5; i++)
		KT_OK(kt_encrypt(e, &e->service, svc, "x", NULL, &b));
	KT_RC(kt_encrypt(e, &e->service, svc, "x", NULL, &b), COFFER_E_KMS_THROTTLING);
	/* The admin's bucket was not refilled by the others' calls. */
	KT_RC(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b), COFFER_E_KMS_THROTTLING);
	kt_advance_us(e, COFFER_US_PER_SEC);
	KT_OK(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b));
	KT_OK(kt_encrypt(e, &f->alice.caller, f->ak.id, "x", NULL, &b));
	coffer_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sixth_is_throttled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mixed_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_principal, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
