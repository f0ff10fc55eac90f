/*
 * service_key_test.c - the coffer service's own key (Keyspaces' "AWS owned
 * key"): one key, the same on every call and across reopen; usable by the
 * service principal only; never disabled, scheduled for deletion or
 * re-policied; hidden from every other principal's ListKeys.
 */
#include "kms/kms_test_helper.h"

static bool listed(struct kt_env *e, const struct coffer_kms_caller *c, const char *arn)
{
	struct coffer_kms_key_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_keys(e->kms, c, 1000, NULL, &l));
	bool found = false;
	for (size_t i = 0; i < l.n; i++)
		if (!strcmp(l.keys[i].arn, arn))
			found = true;
	coffer_kms_key_list_free(&l);
	return found;
}

static void test_same_key(void **state)
{
	struct kt_env *e = *state;
	char a1[COFFER_KMS_ARN_MAX], a2[COFFER_KMS_ARN_MAX], a3[COFFER_KMS_ARN_MAX];
	KT_OK(coffer_kms_service_key(e->kms, a1));
	KT_OK(coffer_kms_service_key(e->kms, a2));
	assert_string_equal(a1, a2);
	assert_non_null(strstr(a1, "arn:aws:kms:local:000000000000:key/"));
	kt_env_reopen(e);
	KT_OK(coffer_kms_service_key(e->kms, a3));
	assert_string_equal(a1, a3);

	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->service, a1, &info));
	assert_true(info.service_owned);
	assert_int_equal(info.state, COFFER_KMS_KEY_ENABLED);
	assert_string_equal(info.arn, a1);
	coffer_kms_key_info_free(&info);
}

static void test_service_uses_it(void **state)
{
	struct kt_env *e = *state;
	char arn[COFFER_KMS_ARN_MAX], out_arn[COFFER_KMS_ARN_MAX];
	KT_OK(coffer_kms_service_key(e->kms, arn));
	const struct coffer_kms_context_pair p[] = {{"coffer:purpose", "batch"}};
	const struct coffer_kms_context ctx = {p, 1};
	struct coffer_secret dk = {NULL, 0}, back = {NULL, 0};
	struct coffer_buf b = {0};
	KT_OK(coffer_kms_generate_data_key(e->kms, &e->service, arn, 32, &ctx, &dk, &b, out_arn));
	assert_string_equal(out_arn, arn);
	KT_OK(coffer_kms_decrypt(e->kms, &e->service, coffer_buf_slice(&b), &ctx, NULL, &back, out_arn));
	assert_int_equal(back.len, 32);
	assert_memory_equal(back.ptr, dk.ptr, 32);
	coffer_secret_free(&back);

	/* Nobody else may use it, with or without naming it. */
	struct kt_principal alice;
	kt_principal_new(e, "alice", &alice);
	const struct coffer_kms_caller *others[] = {&e->admin, &alice.caller};
	for (size_t i = 0; i < 2; i++) {
		KT_RC(coffer_kms_decrypt(e->kms, others[i], coffer_buf_slice(&b), &ctx, NULL, &back,
					 out_arn),
		      COFFER_E_KMS_ACCESS_DENIED);
		assert_null(back.ptr);
		struct coffer_buf b2 = {0};
		KT_RC(kt_encrypt(e, others[i], arn, "x", NULL, &b2), COFFER_E_KMS_ACCESS_DENIED);
		struct coffer_secret dk2 = {NULL, 0};
		KT_RC(coffer_kms_generate_data_key(e->kms, others[i], arn, 32, NULL, &dk2, &b2, out_arn),
		      COFFER_E_KMS_ACCESS_DENIED);
		assert_null(dk2.ptr);
		coffer_buf_free(&b2);
	}
	coffer_secret_free(&dk);
	coffer_buf_free(&b);
}

static void test_cannot_be_managed(void **state)
{
	struct kt_env *e = *state;
	char arn[COFFER_KMS_ARN_MAX];
	KT_OK(coffer_kms_service_key(e->kms, arn));
	struct kt_principal alice;
	kt_principal_new(e, "alice", &alice);
	const char *pol = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
			  "\"Principal\":{\"AWS\":\"*\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}";
	const struct coffer_kms_caller *others[] = {&e->admin, &alice.caller};
	struct coffer_kms_key_info info;
	for (size_t i = 0; i < 2; i++) {
		/* Refused; AccessDenied, or NotFound for a key the caller may not see. */
		KT_RC2(coffer_kms_disable_key(e->kms, others[i], arn), COFFER_E_KMS_ACCESS_DENIED,
		       COFFER_E_KMS_NOT_FOUND);
		memset(&info, 0, sizeof(info));
		KT_RC2(coffer_kms_schedule_key_deletion(e->kms, others[i], arn, 7, &info),
		       COFFER_E_KMS_ACCESS_DENIED, COFFER_E_KMS_NOT_FOUND);
		KT_RC2(coffer_kms_put_key_policy(e->kms, others[i], arn, "default", pol, true),
		       COFFER_E_KMS_ACCESS_DENIED, COFFER_E_KMS_NOT_FOUND);
		KT_RC2(coffer_kms_describe_key(e->kms, others[i], arn, &info), COFFER_E_KMS_ACCESS_DENIED,
		       COFFER_E_KMS_NOT_FOUND);
		struct coffer_kms_create_grant_req req = {
			arn, others[i]->principal_arn, NULL, COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT),
			NULL, NULL, NULL};
		char id[COFFER_KMS_GRANT_ID_MAX];
		char *tok = NULL;
		KT_RC2(coffer_kms_create_grant(e->kms, others[i], &req, id, &tok),
		       COFFER_E_KMS_ACCESS_DENIED, COFFER_E_KMS_NOT_FOUND);
		assert_null(tok);
		KT_RC2(coffer_kms_create_alias(e->kms, others[i], "alias/svc", arn),
		       COFFER_E_KMS_ACCESS_DENIED, COFFER_E_KMS_NOT_FOUND);
	}
	/* Not even the service principal can disable, delete or re-policy it. */
	assert_int_not_equal(coffer_kms_disable_key(e->kms, &e->service, arn), COFFER_OK);
	memset(&info, 0, sizeof(info));
	assert_int_not_equal(coffer_kms_schedule_key_deletion(e->kms, &e->service, arn, 7, &info),
			     COFFER_OK);
	assert_int_not_equal(coffer_kms_put_key_policy(e->kms, &e->service, arn, "default", pol, true),
			     COFFER_OK);

	/* Still enabled and still usable by the service. */
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->service, arn, &info));
	assert_int_equal(info.state, COFFER_KMS_KEY_ENABLED);
	coffer_kms_key_info_free(&info);
	struct coffer_buf b = {0};
	KT_OK(kt_encrypt(e, &e->service, arn, "still works", NULL, &b));
	/* Days later too. */
	kt_advance_days(e, 40);
	KT_OK(coffer_kms_tick(e->kms));
	KT_OK(kt_decrypt(e, &e->service, &b, NULL, NULL, "still works"));
	coffer_buf_free(&b);
}

static void test_hidden_from_list(void **state)
{
	struct kt_env *e = *state;
	char arn[COFFER_KMS_ARN_MAX];
	struct kt_key k;
	kt_key_new(e, &e->admin, &k);
	KT_OK(coffer_kms_service_key(e->kms, arn));
	struct kt_principal alice;
	kt_principal_new(e, "alice", &alice);
	assert_false(listed(e, &e->admin, arn));
	assert_false(listed(e, &alice.caller, arn));
	assert_true(listed(e, &e->admin, k.arn));
	assert_true(listed(e, &e->service, arn));
	kt_env_reopen(e);
	assert_false(listed(e, &e->admin, arn));
	assert_true(listed(e, &e->service, arn));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_key, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_service_uses_it, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_cannot_be_managed, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_hidden_from_list, kt_setup, kt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
