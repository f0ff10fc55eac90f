/*
 * sigv4_key_test.c - coffer_kms_sigv4_signing_key: the engine derives the
 * SigV4 signing key of an access key without handing out the secret. Checked
 * against the derivation computed here with coffer_hmac_sha256, which is
 * itself checked against the AWS-documented example ("Examples of how to
 * derive a signing key for Signature Version 4": secret
 * wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam).
 * Unknown access keys are UnrecognizedClientException.
 */
#include "kms/kms_test_helper.h"

static void derive(const char *secret, size_t secret_len, const char *date8, const char *region,
		   const char *service, uint8_t out[32])
{
	char k[128];
	assert_true(secret_len + 4 < sizeof(k));
	memcpy(k, "AWS4", 4);
	memcpy(k + 4, secret, secret_len);
	uint8_t a[32], b[32];
	coffer_hmac_sha256(k, secret_len + 4, date8, strlen(date8), a);
	coffer_hmac_sha256(a, 32, region, strlen(region), b);
	coffer_hmac_sha256(b, 32, service, strlen(service), a);
	coffer_hmac_sha256(a, 32, "aws4_request", 12, out);
}

static void test_aws_example(void **state)
{
	(void)state;
	static const char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	uint8_t out[32];
	derive(secret, strlen(secret), "20120215", "us-east-1", "iam", out);
	char *hex = coffer_hex_encode(out, 32);
	assert_string_equal(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
	free(hex);
}

static void test_matches_derivation(void **state)
{
	struct kt_env *e = *state;
	struct kt_principal alice;
	kt_principal_new(e, "alice", &alice);
	uint8_t got[32], want[32];
	char arn[COFFER_KMS_ARN_MAX] = "";
	KT_OK(coffer_kms_sigv4_signing_key(e->kms, alice.access_key_id, "20240115", "local", "kms", got,
					   arn));
	derive(alice.secret, COFFER_KMS_SECRET_KEY_LEN, "20240115", "local", "kms", want);
	assert_memory_equal(got, want, 32);
	assert_string_equal(arn, alice.arn);

	/* Date, region and service each change the key. */
	uint8_t other[32];
	KT_OK(coffer_kms_sigv4_signing_key(e->kms, alice.access_key_id, "20240116", "local", "kms",
					   other, arn));
	derive(alice.secret, COFFER_KMS_SECRET_KEY_LEN, "20240116", "local", "kms", want);
	assert_memory_equal(other, want, 32);
	assert_memory_not_equal(other, got, 32);
	KT_OK(coffer_kms_sigv4_signing_key(e->kms, alice.access_key_id, "20240115", "us-east-1", "kms",
					   other, arn));
	derive(alice.secret, COFFER_KMS_SECRET_KEY_LEN, "20240115", "us-east-1", "kms", want);
	assert_memory_equal(other, want, 32);
	KT_OK(coffer_kms_sigv4_signing_key(e->kms, alice.access_key_id, "20240115", "local", "s3",
					   other, arn));
	derive(alice.secret, COFFER_KMS_SECRET_KEY_LEN, "20240115", "local", "s3", want);
	assert_memory_equal(other, want, 32);

	/* The secret is 40 printable characters. */
	for (size_t i = 0; i < COFFER_KMS_SECRET_KEY_LEN; i++)
		assert_true(alice.secret[i] > 32 && alice.secret[i] < 127);

	/* Same after a reopen. */
	kt_env_reopen(e);
	KT_OK(coffer_kms_sigv4_signing_key(e->kms, alice.access_key_id, "20240115", "local", "kms",
					   other, arn));
	assert_memory_equal(other, got, 32);
}

static void test_added_access_keys(void **state)
{
	struct kt_env *e = *state;
	struct kt_principal alice;
	kt_principal_new(e, "alice", &alice);
	struct coffer_kms_access_key ak;
	memset(&ak, 0, sizeof(ak));
	KT_OK(coffer_kms_principal_add_access_key(e->kms, "alice", &ak));
	uint8_t got[32], want[32], first[32];
	char arn[COFFER_KMS_ARN_MAX];
	KT_OK(coffer_kms_sigv4_signing_key(e->kms, ak.access_key_id, "20240115", "local", "kms", got,
					   arn));
	derive((const char *)ak.secret.ptr, ak.secret.len, "20240115", "local", "kms", want);
	assert_memory_equal(got, want, 32);
	assert_string_equal(arn, alice.arn);
	/* The first key still works and differs. */
	KT_OK(coffer_kms_sigv4_signing_key(e->kms, alice.access_key_id, "20240115", "local", "kms",
					   first, arn));
	assert_memory_not_equal(first, got, 32);
	coffer_kms_access_key_free(&ak);

	/* Admin and the service principal have no access key until issued one. */
	const char *names[] = {"admin", "coffer-service"};
	const char *arns[] = {e->admin_arn, e->service_arn};
	for (size_t i = 0; i < 2; i++) {
		memset(&ak, 0, sizeof(ak));
		KT_OK(coffer_kms_principal_add_access_key(e->kms, names[i], &ak));
		assert_string_equal(ak.principal_arn, arns[i]);
		assert_int_equal(ak.secret.len, COFFER_KMS_SECRET_KEY_LEN);
		KT_OK(coffer_kms_sigv4_signing_key(e->kms, ak.access_key_id, "20240115", "local", "kms",
						   got, arn));
		derive((const char *)ak.secret.ptr, ak.secret.len, "20240115", "local", "kms", want);
		assert_memory_equal(got, want, 32);
		assert_string_equal(arn, arns[i]);
		coffer_kms_access_key_free(&ak);
	}
}

static void test_unknown_access_key(void **state)
{
	struct kt_env *e = *state;
	struct kt_principal alice;
	kt_principal_new(e, "alice", &alice);
	uint8_t out[32];
	char arn[COFFER_KMS_ARN_MAX];
	KT_RC(coffer_kms_sigv4_signing_key(e->kms, "CKIAAAAAAAAAAAAAAAAA", "20240115", "local", "kms",
					   out, arn),
	      COFFER_E_KMS_UNRECOGNIZED_CLIENT);
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_UNRECOGNIZED_CLIENT),
			    "UnrecognizedClientException");
	KT_RC(coffer_kms_sigv4_signing_key(e->kms, "", "20240115", "local", "kms", out, arn),
	      COFFER_E_KMS_UNRECOGNIZED_CLIENT);
	/* A prefix or a changed case of a real id is not that id. */
	char id[COFFER_KMS_ACCESS_KEY_ID_MAX];
	snprintf(id, sizeof(id), "%s", alice.access_key_id);
	id[strlen(id) - 1] = '\0';
	KT_RC(coffer_kms_sigv4_signing_key(e->kms, id, "20240115", "local", "kms", out, arn),
	      COFFER_E_KMS_UNRECOGNIZED_CLIENT);
	snprintf(id, sizeof(id), "%s", alice.access_key_id);
	id[0] = 'c';
	KT_RC(coffer_kms_sigv4_signing_key(e->kms, id, "20240115", "local", "kms", out, arn),
	      COFFER_E_KMS_UNRECOGNIZED_CLIENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aws_example),
		cmocka_unit_test_setup_teardown(test_matches_derivation, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_added_access_keys, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_access_key, kt_setup, kt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
