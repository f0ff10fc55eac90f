/*
 * policy_test.c - key policies of the KMS engine: the default policy (creator
 * and account root kms:*, the service principal DescribeKey + CreateGrant),
 * PutKeyPolicy with Allow for specific actions and wildcards, explicit Deny
 * winning over Allow and over grants, malformed documents and the unsupported
 * Condition refused as MalformedPolicyDocument, and the lockout safety check.
 */
#include "kms/kms_test_helper.h"

#define ROOT "arn:aws:iam::000000000000:root"
#define ALICE "arn:aws:iam::000000000000:user/alice"
#define BOB "arn:aws:iam::000000000000:user/bob"
#define ROOT_ALL                                                                               \
	"{\"Sid\":\"root\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" ROOT "\"},"          \
	"\"Action\":\"kms:*\",\"Resource\":\"*\"}"
#define POLICY(stmts) "{\"Version\":\"2012-10-17\",\"Statement\":[" stmts "]}"
#define STMT(effect, principal, action)                                                        \
	"{\"Effect\":\"" effect "\",\"Principal\":{\"AWS\":" principal "},\"Action\":" action       \
	",\"Resource\":\"*\"}"

struct fixture {
	struct kt_env *e;
	struct kt_principal alice;
	struct kt_principal bob;
	struct kt_key k;
	struct coffer_buf blob; /* admin-made blob under k, "secret" */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->e = kt_env_new(NULL);
	kt_env_open(f->e);
	kt_principal_new(f->e, "alice", &f->alice);
	kt_principal_new(f->e, "bob", &f->bob);
	kt_key_new(f->e, &f->e->admin, &f->k);
	KT_OK(kt_encrypt(f->e, &f->e->admin, f->k.id, "secret", NULL, &f->blob));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	coffer_buf_free(&f->blob);
	kt_env_free(f->e);
	free(f);
	return 0;
}

static coffer_rc put(struct fixture *f, const struct coffer_kms_caller *c, const char *policy,
		     bool bypass)
{
	return coffer_kms_put_key_policy(f->e->kms, c, f->k.id, "default", policy, bypass);
}

static coffer_rc gdk(struct fixture *f, const struct coffer_kms_caller *c)
{
	struct coffer_secret dk = {NULL, 0};
	struct coffer_buf b = {0};
	char arn[COFFER_KMS_ARN_MAX];
	coffer_rc rc = coffer_kms_generate_data_key(f->e->kms, c, f->k.id, 32, NULL, &dk, &b, arn);
	coffer_secret_free(&dk);
	coffer_buf_free(&b);
	return rc;
}

static void test_default_policy(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	char *pol = NULL;
	KT_OK(coffer_kms_get_key_policy(e->kms, &e->admin, f->k.id, "default", &pol));
	assert_non_null(pol);
	assert_non_null(strstr(pol, "\"Statement\""));
	assert_non_null(strstr(pol, "\"Version\""));
	assert_non_null(strstr(pol, "kms:*"));
	assert_non_null(strstr(pol, ROOT));
	assert_non_null(strstr(pol, e->service_arn));
	assert_non_null(strstr(pol, "kms:DescribeKey"));
	assert_non_null(strstr(pol, "kms:CreateGrant"));
	/* Putting it back unchanged is accepted. */
	KT_OK(put(f, &e->admin, pol, false));
	free(pol);
	pol = NULL;

	/* A key alice creates names her as well. */
	struct kt_key mine;
	kt_key_new(e, &f->alice.caller, &mine);
	KT_OK(coffer_kms_get_key_policy(e->kms, &f->alice.caller, mine.arn, "default", &pol));
	assert_non_null(strstr(pol, ALICE));
	assert_non_null(strstr(pol, ROOT));
	free(pol);
	pol = NULL;

	/* Only the name "default"; only with permission; only existing keys. */
	KT_RC(coffer_kms_get_key_policy(e->kms, &e->admin, f->k.id, "other", &pol),
	      COFFER_E_KMS_NOT_FOUND);
	KT_RC(coffer_kms_get_key_policy(e->kms, &f->alice.caller, f->k.id, "default", &pol),
	      COFFER_E_KMS_ACCESS_DENIED);
	KT_MSG_HAS(f->k.id);
	KT_RC(coffer_kms_put_key_policy(e->kms, &e->admin, f->k.id, "other",
					POLICY(ROOT_ALL), false),
	      COFFER_E_KMS_NOT_FOUND);
	assert_null(pol);
}

static void test_allow_encrypt_only(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	struct coffer_buf b = {0};
	KT_OK(put(f, &e->admin,
		  POLICY(ROOT_ALL "," STMT("Allow", "\"" ALICE "\"", "\"kms:Encrypt\"")), false));
	KT_OK(kt_encrypt(e, &f->alice.caller, f->k.id, "alice", NULL, &b));
	KT_RC(kt_decrypt(e, &f->alice.caller, &b, NULL, NULL, NULL), COFFER_E_KMS_ACCESS_DENIED);
	KT_MSG_HAS(f->k.id);
	KT_RC(gdk(f, &f->alice.caller), COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(coffer_kms_disable_key(e->kms, &f->alice.caller, f->k.id), COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(kt_encrypt(e, &f->bob.caller, f->k.id, "bob", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);
	/* The admin still decrypts what alice encrypted. */
	KT_OK(kt_encrypt(e, &f->alice.caller, f->k.id, "alice", NULL, &b));
	KT_OK(kt_decrypt(e, &e->admin, &b, NULL, NULL, "alice"));
	/* The new policy replaced the default: the service lost CreateGrant. */
	struct coffer_kms_create_grant_req req = {
		f->k.id, e->service_arn, NULL, COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT), NULL, NULL, NULL};
	char id[COFFER_KMS_GRANT_ID_MAX];
	char *tok = NULL;
	KT_RC(coffer_kms_create_grant(e->kms, &e->service, &req, id, &tok), COFFER_E_KMS_ACCESS_DENIED);
	/* And it survives a reopen. */
	kt_env_reopen(e);
	KT_OK(kt_encrypt(e, &f->alice.caller, f->k.id, "alice", NULL, &b));
	KT_RC(kt_decrypt(e, &f->alice.caller, &b, NULL, NULL, NULL), COFFER_E_KMS_ACCESS_DENIED);
	coffer_buf_free(&b);
}

static void test_wildcards_and_lists(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	struct coffer_buf b = {0};
	/* kms:Generate* for alice; a principal list with bob for Decrypt; "*"
	 * principal for DescribeKey. */
	KT_OK(put(f, &e->admin,
		  POLICY(ROOT_ALL "," STMT("Allow", "\"" ALICE "\"", "\"kms:Generate*\"")
			 "," STMT("Allow", "[\"" BOB "\",\"" ALICE "\"]",
				  "[\"kms:Decrypt\",\"kms:ReEncrypt*\"]")
			 ",{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:DescribeKey\","
			 "\"Resource\":\"*\"}"),
		  false));
	KT_OK(gdk(f, &f->alice.caller));
	struct coffer_buf wb = {0};
	char arn[COFFER_KMS_ARN_MAX];
	KT_OK(coffer_kms_generate_data_key_without_plaintext(e->kms, &f->alice.caller, f->k.id, 32,
							     NULL, &wb, arn));
	coffer_buf_free(&wb);
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "x", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);
	KT_OK(kt_decrypt(e, &f->bob.caller, &f->blob, NULL, NULL, "secret"));
	KT_OK(kt_decrypt(e, &f->alice.caller, &f->blob, NULL, NULL, "secret"));
	KT_RC(gdk(f, &f->bob.caller), COFFER_E_KMS_ACCESS_DENIED);
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &f->bob.caller, f->k.id, &info));
	coffer_kms_key_info_free(&info);
	/* Action matching is exact apart from the wildcard: no prefix matches. */
	KT_OK(put(f, &e->admin, POLICY(ROOT_ALL "," STMT("Allow", "\"" ALICE "\"", "\"kms:Encrypt\"")),
		  false));
	KT_RC(gdk(f, &f->alice.caller), COFFER_E_KMS_ACCESS_DENIED);
	/* Principal "*" with {"AWS":"*"} form. */
	KT_OK(put(f, &e->admin, POLICY(ROOT_ALL "," STMT("Allow", "\"*\"", "\"kms:Decrypt\"")), false));
	KT_OK(kt_decrypt(e, &f->bob.caller, &f->blob, NULL, NULL, "secret"));
	coffer_buf_free(&b);
}

static void test_deny_wins(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	struct coffer_buf b = {0};
	/* Allow alice everything, deny her Decrypt. */
	KT_OK(put(f, &e->admin,
		  POLICY(ROOT_ALL "," STMT("Allow", "\"" ALICE "\"", "\"kms:*\"")
			 "," STMT("Deny", "\"" ALICE "\"", "\"kms:Decrypt\"")),
		  false));
	KT_OK(kt_encrypt(e, &f->alice.caller, f->k.id, "x", NULL, &b));
	KT_RC(kt_decrypt(e, &f->alice.caller, &b, NULL, NULL, NULL), COFFER_E_KMS_ACCESS_DENIED);
	KT_MSG_HAS(f->k.id);

	/* A grant does not override an explicit Deny either. */
	struct coffer_kms_create_grant_req req = {
		f->k.id, f->bob.arn, NULL,
		COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT) | COFFER_KMS_OP_BIT(COFFER_KMS_OP_ENCRYPT), NULL,
		NULL, NULL};
	char id[COFFER_KMS_GRANT_ID_MAX];
	char *tok = NULL;
	KT_OK(coffer_kms_create_grant(e->kms, &e->admin, &req, id, &tok));
	free(tok);
	KT_OK(kt_decrypt(e, &f->bob.caller, &f->blob, NULL, NULL, "secret"));
	KT_OK(put(f, &e->admin,
		  POLICY(ROOT_ALL "," STMT("Deny", "\"" BOB "\"", "\"kms:Decrypt\"")), false));
	KT_RC(kt_decrypt(e, &f->bob.caller, &f->blob, NULL, NULL, NULL), COFFER_E_KMS_ACCESS_DENIED);
	KT_OK(kt_encrypt(e, &f->bob.caller, f->k.id, "still granted", NULL, &b));

	/* Deny for everyone on Encrypt beats the root's kms:*. */
	KT_OK(put(f, &e->admin, POLICY(ROOT_ALL "," STMT("Deny", "\"*\"", "\"kms:Encrypt\"")), false));
	KT_RC(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);
	KT_OK(kt_decrypt(e, &e->admin, &f->blob, NULL, NULL, "secret"));
	coffer_buf_free(&b);
}

static void test_malformed(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	const char *bad[] = {
		"",
		"not json",
		"{",
		"[]",
		"{}",
		"{\"Version\":\"2012-10-17\"}",
		"{\"Version\":\"2012-10-17\",\"Statement\":\"nope\"}",
		POLICY("{\"Effect\":\"Maybe\",\"Principal\":{\"AWS\":\"" ROOT "\"},"
		       "\"Action\":\"kms:*\",\"Resource\":\"*\"}"),
		POLICY("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" ROOT "\"},"
		       "\"Resource\":\"*\"}"),
		POLICY("{\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}"),
		POLICY("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" ROOT "\"},"
		       "\"Action\":\"kms:*\",\"Resource\":\"*\","
		       "\"Condition\":{\"StringEquals\":{\"kms:CallerAccount\":\"000000000000\"}}}"),
		POLICY("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" ROOT "\"},"
		       "\"Action\":42,\"Resource\":\"*\"}"),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		coffer_rc rc = put(f, &e->admin, bad[i], false);
		if (rc != COFFER_E_KMS_MALFORMED_POLICY)
			print_error("policy case %zu: %s\n", i, bad[i]);
		KT_RC(rc, COFFER_E_KMS_MALFORMED_POLICY);
	}
	/* Condition is refused even with the lockout check bypassed. */
	KT_RC(put(f, &e->admin, bad[10], true), COFFER_E_KMS_MALFORMED_POLICY);
	/* Too long. */
	char *big = malloc(COFFER_KMS_MAX_POLICY + 64);
	assert_non_null(big);
	int n = snprintf(big, 64, "%s", "{\"Version\":\"2012-10-17\",\"Statement\":[");
	memset(big + n, ' ', COFFER_KMS_MAX_POLICY);
	snprintf(big + n + COFFER_KMS_MAX_POLICY, 8, "]}");
	KT_RC2(put(f, &e->admin, big, false), COFFER_E_KMS_MALFORMED_POLICY, COFFER_E_KMS_VALIDATION);
	free(big);
	/* Nothing changed: the default policy still works for everyone. */
	KT_OK(kt_decrypt(e, &e->admin, &f->blob, NULL, NULL, "secret"));
	char *pol = NULL;
	KT_OK(coffer_kms_get_key_policy(e->kms, &e->admin, f->k.id, "default", &pol));
	assert_non_null(strstr(pol, e->service_arn));
	free(pol);

	/* CreateKey with a malformed policy creates nothing. */
	struct coffer_kms_create_key_req req = {"bad", bad[10], false};
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	struct coffer_kms_key_list before, after;
	memset(&before, 0, sizeof(before));
	memset(&after, 0, sizeof(after));
	KT_OK(coffer_kms_list_keys(e->kms, &e->admin, 0, NULL, &before));
	KT_RC(coffer_kms_create_key(e->kms, &e->admin, &req, &info), COFFER_E_KMS_MALFORMED_POLICY);
	req.policy = "not json";
	KT_RC(coffer_kms_create_key(e->kms, &e->admin, &req, &info), COFFER_E_KMS_MALFORMED_POLICY);
	KT_OK(coffer_kms_list_keys(e->kms, &e->admin, 0, NULL, &after));
	assert_int_equal(before.n, after.n);
	coffer_kms_key_list_free(&before);
	coffer_kms_key_list_free(&after);
}

static void test_create_key_with_policy(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	struct coffer_kms_create_key_req req = {
		"custom", POLICY(ROOT_ALL "," STMT("Allow", "\"" BOB "\"", "\"kms:Encrypt\"")), false};
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_create_key(e->kms, &e->admin, &req, &info));
	struct coffer_buf b = {0};
	KT_OK(kt_encrypt(e, &f->bob.caller, info.key_id, "bob", NULL, &b));
	KT_RC(kt_decrypt(e, &f->bob.caller, &b, NULL, NULL, NULL), COFFER_E_KMS_ACCESS_DENIED);
	coffer_kms_key_info_free(&info);

	/* Alice creating a key whose policy shuts her out needs the bypass. */
	struct coffer_kms_create_key_req lock = {
		"lockout", POLICY(STMT("Allow", "\"" BOB "\"", "\"kms:*\"")), false};
	memset(&info, 0, sizeof(info));
	KT_RC(coffer_kms_create_key(e->kms, &f->alice.caller, &lock, &info),
	      COFFER_E_KMS_MALFORMED_POLICY);
	lock.bypass_policy_lockout_safety_check = true;
	KT_OK(coffer_kms_create_key(e->kms, &f->alice.caller, &lock, &info));
	KT_RC(coffer_kms_disable_key(e->kms, &f->alice.caller, info.key_id), COFFER_E_KMS_ACCESS_DENIED);
	KT_OK(coffer_kms_disable_key(e->kms, &f->bob.caller, info.key_id));
	coffer_kms_key_info_free(&info);
	coffer_buf_free(&b);
}

static void test_lockout_check(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	const char *lock = POLICY(STMT("Allow", "\"" ALICE "\"", "\"kms:*\""));
	/* Refused: the admin would lose PutKeyPolicy. */
	KT_RC(put(f, &e->admin, lock, false), COFFER_E_KMS_MALFORMED_POLICY);
	KT_OK(kt_decrypt(e, &e->admin, &f->blob, NULL, NULL, "secret"));
	/* Also refused when the caller keeps everything but PutKeyPolicy. */
	KT_RC(put(f, &e->admin,
		  POLICY(ROOT_ALL "," STMT("Deny", "\"" ROOT "\"", "\"kms:PutKeyPolicy\"")), false),
	      COFFER_E_KMS_MALFORMED_POLICY);
	/* Bypassed: accepted, and the admin is locked out. */
	KT_OK(put(f, &e->admin, lock, true));
	KT_RC(put(f, &e->admin, POLICY(ROOT_ALL), false), COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(kt_decrypt(e, &e->admin, &f->blob, NULL, NULL, NULL), COFFER_E_KMS_ACCESS_DENIED);
	/* Alice now owns the key and can hand it back. */
	KT_OK(put(f, &f->alice.caller, POLICY(ROOT_ALL "," STMT("Allow", "\"" ALICE "\"", "\"kms:*\"")),
		  false));
	KT_OK(kt_decrypt(e, &e->admin, &f->blob, NULL, NULL, "secret"));
	/* Bob, without PutKeyPolicy permission, cannot put a policy. */
	KT_RC(put(f, &f->bob.caller, POLICY(ROOT_ALL), false), COFFER_E_KMS_ACCESS_DENIED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow_encrypt_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wildcards_and_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_key_with_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockout_check, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
