/*
 * grants_test.c - grants of the KMS engine: a grant gives a principal without
 * policy permission exactly the granted operations; EncryptionContextSubset
 * and EncryptionContextEquals constraints; idempotent names; RetireGrant (by
 * token, by key + id, and who may), RevokeGrant (needs policy permission);
 * ListGrants pagination and filters; ListRetirableGrants; the 50,000-grant
 * limit; and the service principal granting itself use of a customer key.
 */
#include "kms/kms_test_helper.h"

#include <unistd.h>

#define OPS_ED (COFFER_KMS_OP_BIT(COFFER_KMS_OP_ENCRYPT) | COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT))

struct fixture {
	struct kt_env *e;
	struct kt_principal alice;
	struct kt_principal bob;
	struct kt_key k;
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

static coffer_rc make_grant(struct kt_env *e, const struct coffer_kms_caller *c, const char *key,
			    const char *grantee, const char *retiring, uint64_t ops,
			    const struct coffer_kms_context *subset,
			    const struct coffer_kms_context *equals, const char *name,
			    char id[COFFER_KMS_GRANT_ID_MAX], char **token)
{
	struct coffer_kms_create_grant_req req = {key, grantee, retiring, ops, subset, equals, name};
	char *tok = NULL;
	coffer_rc rc = coffer_kms_create_grant(e->kms, c, &req, id, &tok);
	if (rc == COFFER_OK) {
		assert_non_null(tok);
		assert_int_equal(strlen(id), 64);
	}
	if (token)
		*token = tok;
	else
		free(tok);
	return rc;
}

static size_t count_grants(struct kt_env *e, const char *key, const char *grant_id,
			   const char *grantee)
{
	struct coffer_kms_grant_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_grants(e->kms, &e->admin, key, grant_id, grantee, 1000, NULL, &l));
	size_t n = l.n;
	coffer_kms_grant_list_free(&l);
	return n;
}

static void test_principals(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	assert_string_equal(f->alice.arn, "arn:aws:iam::000000000000:user/alice");
	assert_int_equal(strlen(f->alice.access_key_id), 20);
	assert_memory_equal(f->alice.access_key_id, "CKIA", 4);
	assert_string_not_equal(f->alice.access_key_id, f->bob.access_key_id);
	assert_string_not_equal(f->alice.secret, f->bob.secret);
	assert_true(coffer_kms_principal_exists(e->kms, "alice"));
	struct coffer_kms_access_key ak;
	memset(&ak, 0, sizeof(ak));
	KT_RC(coffer_kms_principal_create(e->kms, "alice", &ak), COFFER_E_KMS_ALREADY_EXISTS);
	KT_MSG_HAS("alice");
	/* The built-in principals exist without an access key: "creating" them
	 * issues their first key; a second create is refused. */
	const char *builtin[] = {"admin", "coffer-service"};
	const char *builtin_arn[] = {e->admin_arn, e->service_arn};
	for (size_t i = 0; i < 2; i++) {
		KT_OK(coffer_kms_principal_create(e->kms, builtin[i], &ak));
		assert_string_equal(ak.principal_arn, builtin_arn[i]);
		assert_int_equal(ak.secret.len, COFFER_KMS_SECRET_KEY_LEN);
		coffer_kms_access_key_free(&ak);
		memset(&ak, 0, sizeof(ak));
		KT_RC(coffer_kms_principal_create(e->kms, builtin[i], &ak), COFFER_E_KMS_ALREADY_EXISTS);
		KT_MSG_HAS(builtin[i]);
	}
	KT_RC(coffer_kms_principal_create(e->kms, "bad name", &ak), COFFER_E_KMS_VALIDATION);
	KT_RC(coffer_kms_principal_create(e->kms, "", &ak), COFFER_E_KMS_VALIDATION);
	KT_RC(coffer_kms_principal_create(e->kms, "slash/name", &ak), COFFER_E_KMS_VALIDATION);
	char long_name[70];
	memset(long_name, 'n', 65);
	long_name[65] = '\0';
	KT_RC(coffer_kms_principal_create(e->kms, long_name, &ak), COFFER_E_KMS_VALIDATION);
	long_name[64] = '\0';
	KT_OK(coffer_kms_principal_create(e->kms, long_name, &ak));
	coffer_kms_access_key_free(&ak);
	memset(&ak, 0, sizeof(ak));
	KT_OK(coffer_kms_principal_create(e->kms, "a+b=c,d.e@f_g-h", &ak));
	coffer_kms_access_key_free(&ak);
	memset(&ak, 0, sizeof(ak));
	KT_RC(coffer_kms_principal_add_access_key(e->kms, "nobody", &ak), COFFER_E_KMS_NOT_FOUND);
	KT_OK(coffer_kms_principal_add_access_key(e->kms, "alice", &ak));
	assert_string_equal(ak.principal_arn, f->alice.arn);
	assert_string_not_equal(ak.access_key_id, f->alice.access_key_id);
	coffer_kms_access_key_free(&ak);
}

static void test_grant_gives_access(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	struct coffer_buf b = {0}, ab = {0};
	char id[COFFER_KMS_GRANT_ID_MAX];
	char *token = NULL;
	KT_OK(kt_encrypt(e, &e->admin, f->k.id, "admin data", NULL, &ab));

	/* No access by default. */
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "x", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);
	KT_MSG_HAS(f->k.id);
	KT_RC(kt_decrypt(e, &f->alice.caller, &ab, NULL, NULL, NULL), COFFER_E_KMS_ACCESS_DENIED);
	/* Alice cannot grant herself access. */
	KT_RC(make_grant(e, &f->alice.caller, f->k.id, f->alice.arn, NULL, OPS_ED, NULL, NULL, NULL, id,
			 NULL),
	      COFFER_E_KMS_ACCESS_DENIED);

	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL, OPS_ED, NULL, NULL, NULL, id,
			 &token));
	KT_OK(kt_encrypt(e, &f->alice.caller, f->k.id, "alice data", NULL, &b));
	KT_OK(kt_decrypt(e, &f->alice.caller, &b, NULL, NULL, "alice data"));
	KT_OK(kt_decrypt(e, &f->alice.caller, &ab, NULL, NULL, "admin data"));
	/* The grant token works too. */
	const char *toks[] = {token};
	struct coffer_kms_caller with_tok = {f->alice.arn, toks, 1};
	KT_OK(kt_encrypt(e, &with_tok, f->k.id, "alice data", NULL, &b));
	/* A bogus token is refused. */
	const char *bad_toks[] = {"not-a-grant-token"};
	struct coffer_kms_caller bad_tok = {f->alice.arn, bad_toks, 1};
	KT_RC(kt_encrypt(e, &bad_tok, f->k.id, "x", NULL, &b), COFFER_E_KMS_INVALID_GRANT_TOKEN);
	/* Only the granted operations, only this key, only alice. */
	struct coffer_secret dk = {NULL, 0};
	char arn[COFFER_KMS_ARN_MAX];
	coffer_buf_reset(&b);
	KT_RC(coffer_kms_generate_data_key(e->kms, &f->alice.caller, f->k.id, 32, NULL, &dk, &b, arn),
	      COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(coffer_kms_disable_key(e->kms, &f->alice.caller, f->k.id), COFFER_E_KMS_ACCESS_DENIED);
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_RC(coffer_kms_describe_key(e->kms, &f->alice.caller, f->k.id, &info),
	      COFFER_E_KMS_ACCESS_DENIED);
	struct kt_key k2;
	kt_key_new(e, &e->admin, &k2);
	KT_RC(kt_encrypt(e, &f->alice.caller, k2.id, "x", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(kt_encrypt(e, &f->bob.caller, f->k.id, "x", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);
	/* Bob presenting alice's token is still not alice. */
	struct coffer_kms_caller bob_tok = {f->bob.arn, toks, 1};
	KT_RC2(kt_encrypt(e, &bob_tok, f->k.id, "x", NULL, &b), COFFER_E_KMS_ACCESS_DENIED,
	       COFFER_E_KMS_INVALID_GRANT_TOKEN);

	/* Grant info. */
	struct coffer_kms_grant_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_grants(e->kms, &e->admin, f->k.id, id, NULL, 0, NULL, &l));
	assert_int_equal(l.n, 1);
	assert_string_equal(l.grants[0].grant_id, id);
	assert_string_equal(l.grants[0].key_arn, f->k.arn);
	assert_string_equal(l.grants[0].grantee_principal, f->alice.arn);
	assert_string_equal(l.grants[0].issuing_principal, e->admin_arn);
	assert_string_equal(l.grants[0].retiring_principal, "");
	assert_int_equal(l.grants[0].operations, OPS_ED);
	assert_null(l.grants[0].name);
	assert_false(l.grants[0].has_context_subset);
	assert_false(l.grants[0].has_context_equals);
	assert_int_equal(l.grants[0].creation_us, KT_START_US);
	coffer_kms_grant_list_free(&l);
	free(token);
	coffer_buf_free(&b);
	coffer_buf_free(&ab);
}

static void test_grant_validation(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	char id[COFFER_KMS_GRANT_ID_MAX];
	KT_RC(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL, 0, NULL, NULL, NULL, id, NULL),
	      COFFER_E_KMS_VALIDATION);
	KT_RC(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL,
			 COFFER_KMS_OP_BIT(COFFER_KMS_OP_DISABLE_KEY), NULL, NULL, NULL, id, NULL),
	      COFFER_E_KMS_VALIDATION);
	KT_RC(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL,
			 OPS_ED | COFFER_KMS_OP_BIT(COFFER_KMS_OP_PUT_KEY_POLICY), NULL, NULL, NULL, id,
			 NULL),
	      COFFER_E_KMS_VALIDATION);
	KT_RC(make_grant(e, &e->admin, f->k.id, NULL, NULL, OPS_ED, NULL, NULL, NULL, id, NULL),
	      COFFER_E_KMS_VALIDATION);
	KT_RC(make_grant(e, &e->admin, KT_UNKNOWN_KEY_ID, f->alice.arn, NULL, OPS_ED, NULL, NULL, NULL,
			 id, NULL),
	      COFFER_E_KMS_NOT_FOUND);
	KT_MSG_HAS(KT_UNKNOWN_KEY_ID);
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/granted", f->k.id));
	KT_RC(make_grant(e, &e->admin, "alias/granted", f->alice.arn, NULL, OPS_ED, NULL, NULL, NULL,
			 id, NULL),
	      COFFER_E_KMS_NOT_FOUND);
	assert_int_equal(count_grants(e, f->k.id, NULL, NULL), 0);
	/* Every grantable operation at once is fine. */
	KT_OK(make_grant(e, &e->admin, f->k.arn, f->alice.arn, NULL, COFFER_KMS_GRANTABLE_OPS, NULL,
			 NULL, NULL, id, NULL));
}

static void test_constraints_subset(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	char id[COFFER_KMS_GRANT_ID_MAX];
	struct coffer_buf b = {0};
	const struct coffer_kms_context_pair need[] = {{"keyspace", "ks1"}, {"table", "t1"}};
	const struct coffer_kms_context subset = {need, 2};
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL, OPS_ED, &subset, NULL, NULL, id,
			 NULL));

	const struct coffer_kms_context_pair sup[] = {
		{"table", "t1"}, {"account", "a"}, {"keyspace", "ks1"}};
	const struct coffer_kms_context csup = {sup, 3};
	KT_OK(kt_encrypt(e, &f->alice.caller, f->k.id, "ok", &subset, &b));
	KT_OK(kt_decrypt(e, &f->alice.caller, &b, &subset, NULL, "ok"));
	KT_OK(kt_encrypt(e, &f->alice.caller, f->k.id, "ok", &csup, &b));
	KT_OK(kt_decrypt(e, &f->alice.caller, &b, &csup, NULL, "ok"));

	const struct coffer_kms_context_pair missing[] = {{"keyspace", "ks1"}};
	const struct coffer_kms_context_pair wrong[] = {{"keyspace", "ks1"}, {"table", "t2"}};
	const struct coffer_kms_context_pair wrong_case[] = {{"keyspace", "ks1"}, {"Table", "t1"}};
	const struct coffer_kms_context cm = {missing, 1}, cw = {wrong, 2}, cc = {wrong_case, 2};
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "no", &cm, &b), COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "no", &cw, &b), COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "no", &cc, &b), COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "no", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);
	/* A blob the admin made under another context is not decryptable by alice. */
	KT_OK(kt_encrypt(e, &e->admin, f->k.id, "admin", &cw, &b));
	KT_RC(kt_decrypt(e, &f->alice.caller, &b, &cw, NULL, NULL), COFFER_E_KMS_ACCESS_DENIED);

	struct coffer_kms_grant_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_grants(e->kms, &e->admin, f->k.id, id, NULL, 0, NULL, &l));
	assert_int_equal(l.n, 1);
	assert_true(l.grants[0].has_context_subset);
	assert_int_equal(l.grants[0].n_context_subset, 2);
	assert_false(l.grants[0].has_context_equals);
	coffer_kms_grant_list_free(&l);
	coffer_buf_free(&b);
}

static void test_constraints_equals(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	char id[COFFER_KMS_GRANT_ID_MAX];
	struct coffer_buf b = {0};
	const struct coffer_kms_context_pair need[] = {{"keyspace", "ks1"}, {"table", "t1"}};
	const struct coffer_kms_context eq = {need, 2};
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL, OPS_ED, NULL, &eq, "eq-grant", id,
			 NULL));
	const struct coffer_kms_context_pair reordered[] = {{"table", "t1"}, {"keyspace", "ks1"}};
	const struct coffer_kms_context cro = {reordered, 2};
	KT_OK(kt_encrypt(e, &f->alice.caller, f->k.id, "ok", &cro, &b));
	KT_OK(kt_decrypt(e, &f->alice.caller, &b, &eq, NULL, "ok"));

	const struct coffer_kms_context_pair sup[] = {
		{"table", "t1"}, {"account", "a"}, {"keyspace", "ks1"}};
	const struct coffer_kms_context_pair missing[] = {{"keyspace", "ks1"}};
	const struct coffer_kms_context_pair wrong[] = {{"keyspace", "ks1"}, {"table", "T1"}};
	const struct coffer_kms_context cs = {sup, 3}, cm = {missing, 1}, cw = {wrong, 2};
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "no", &cs, &b), COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "no", &cm, &b), COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "no", &cw, &b), COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "no", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);

	struct coffer_kms_grant_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_grants(e->kms, &e->admin, f->k.id, id, NULL, 0, NULL, &l));
	assert_int_equal(l.n, 1);
	assert_true(l.grants[0].has_context_equals);
	assert_int_equal(l.grants[0].n_context_equals, 2);
	assert_string_equal(l.grants[0].name, "eq-grant");
	coffer_kms_grant_list_free(&l);
	coffer_buf_free(&b);
}

static void test_same_name_same_grant(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	char id1[COFFER_KMS_GRANT_ID_MAX], id2[COFFER_KMS_GRANT_ID_MAX], id3[COFFER_KMS_GRANT_ID_MAX];
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL, OPS_ED, NULL, NULL, "table-grant",
			 id1, NULL));
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL, OPS_ED, NULL, NULL, "table-grant",
			 id2, NULL));
	assert_string_equal(id1, id2);
	assert_int_equal(count_grants(e, f->k.id, NULL, NULL), 1);
	/* Unnamed grants are distinct each time. */
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL, OPS_ED, NULL, NULL, NULL, id3,
			 NULL));
	assert_string_not_equal(id3, id1);
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL, OPS_ED, NULL, NULL, NULL, id2,
			 NULL));
	assert_string_not_equal(id3, id2);
	assert_int_equal(count_grants(e, f->k.id, NULL, NULL), 3);
	/* The idempotent retry survives a reopen. */
	kt_env_reopen(e);
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL, OPS_ED, NULL, NULL, "table-grant",
			 id2, NULL));
	assert_string_equal(id1, id2);
	assert_int_equal(count_grants(e, f->k.id, NULL, NULL), 3);
}

static void test_retire(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	char id1[COFFER_KMS_GRANT_ID_MAX], id2[COFFER_KMS_GRANT_ID_MAX], id3[COFFER_KMS_GRANT_ID_MAX];
	char *tok1 = NULL;
	struct coffer_buf b = {0};

	/* Retire by token, by the retiring principal. */
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, f->bob.arn, OPS_ED, NULL, NULL, NULL,
			 id1, &tok1));
	KT_OK(kt_encrypt(e, &f->alice.caller, f->k.id, "x", NULL, &b));
	/* Alice's grant lacks RetireGrant: she cannot retire it. */
	KT_RC(coffer_kms_retire_grant(e->kms, &f->alice.caller, NULL, f->k.id, id1),
	      COFFER_E_KMS_ACCESS_DENIED);
	KT_OK(coffer_kms_retire_grant(e->kms, &f->bob.caller, tok1, NULL, NULL));
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "x", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);
	assert_int_equal(count_grants(e, f->k.id, NULL, NULL), 0);
	/* The token of a retired grant authorises nothing. */
	const char *toks[] = {tok1};
	struct coffer_kms_caller with_tok = {f->alice.arn, toks, 1};
	assert_int_not_equal(kt_encrypt(e, &with_tok, f->k.id, "x", NULL, &b), COFFER_OK);
	KT_RC2(coffer_kms_retire_grant(e->kms, &f->bob.caller, NULL, f->k.id, id1),
	       COFFER_E_KMS_NOT_FOUND, COFFER_E_KMS_INVALID_GRANT_ID);

	/* Retire by key + id, by the grantee whose grant allows RetireGrant. */
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL,
			 OPS_ED | COFFER_KMS_OP_BIT(COFFER_KMS_OP_RETIRE_GRANT), NULL, NULL, NULL, id2,
			 NULL));
	KT_RC(coffer_kms_retire_grant(e->kms, &f->bob.caller, NULL, f->k.id, id2),
	      COFFER_E_KMS_ACCESS_DENIED);
	KT_OK(coffer_kms_retire_grant(e->kms, &f->alice.caller, NULL, f->k.id, id2));
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "x", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);

	/* Retire by the principal that created the grant. */
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL, OPS_ED, NULL, NULL, NULL, id3,
			 NULL));
	KT_OK(coffer_kms_retire_grant(e->kms, &e->admin, NULL, f->k.arn, id3));
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "x", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);

	/* Bad inputs. */
	KT_RC(coffer_kms_retire_grant(e->kms, &e->admin, "garbage-token", NULL, NULL),
	      COFFER_E_KMS_INVALID_GRANT_TOKEN);
	KT_RC2(coffer_kms_retire_grant(e->kms, &e->admin, NULL, f->k.id,
				       "0000000000000000000000000000000000000000000000000000000000000000"),
	       COFFER_E_KMS_NOT_FOUND, COFFER_E_KMS_INVALID_GRANT_ID);
	KT_RC(coffer_kms_retire_grant(e->kms, &e->admin, NULL, KT_UNKNOWN_KEY_ID, id3),
	      COFFER_E_KMS_NOT_FOUND);
	assert_int_not_equal(coffer_kms_retire_grant(e->kms, &e->admin, NULL, NULL, NULL), COFFER_OK);
	free(tok1);
	coffer_buf_free(&b);
}

static void test_revoke(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	char id[COFFER_KMS_GRANT_ID_MAX];
	struct coffer_buf b = {0};
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, f->alice.arn,
			 OPS_ED | COFFER_KMS_OP_BIT(COFFER_KMS_OP_RETIRE_GRANT), NULL, NULL, NULL, id,
			 NULL));
	/* RevokeGrant needs kms:RevokeGrant by policy: grantee and retiring
	 * principal alike are refused. */
	KT_RC(coffer_kms_revoke_grant(e->kms, &f->alice.caller, f->k.id, id), COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(coffer_kms_revoke_grant(e->kms, &f->bob.caller, f->k.id, id), COFFER_E_KMS_ACCESS_DENIED);
	KT_OK(kt_encrypt(e, &f->alice.caller, f->k.id, "x", NULL, &b));
	KT_OK(coffer_kms_revoke_grant(e->kms, &e->admin, f->k.id, id));
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "x", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);
	assert_int_equal(count_grants(e, f->k.id, NULL, NULL), 0);
	KT_RC2(coffer_kms_revoke_grant(e->kms, &e->admin, f->k.id, id), COFFER_E_KMS_NOT_FOUND,
	       COFFER_E_KMS_INVALID_GRANT_ID);
	KT_RC(coffer_kms_revoke_grant(e->kms, &e->admin, KT_UNKNOWN_KEY_ID, id), COFFER_E_KMS_NOT_FOUND);
	/* Revocation is durable. */
	kt_env_reopen(e);
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "x", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);
	coffer_buf_free(&b);
}

static void test_grants_work_in_every_state(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	char id[COFFER_KMS_GRANT_ID_MAX];
	struct coffer_buf b = {0};
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL, OPS_ED, NULL, NULL, NULL, id, NULL));
	KT_OK(coffer_kms_disable_key(e->kms, &e->admin, f->k.id));
	/* Granted, but the key is disabled. */
	KT_RC(kt_encrypt(e, &f->alice.caller, f->k.id, "x", NULL, &b), COFFER_E_KMS_DISABLED);
	/* ListGrants and RevokeGrant work in every state. */
	assert_int_equal(count_grants(e, f->k.id, NULL, NULL), 1);
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_schedule_key_deletion(e->kms, &e->admin, f->k.id, 7, &info));
	coffer_kms_key_info_free(&info);
	assert_int_equal(count_grants(e, f->k.id, NULL, NULL), 1);
	KT_OK(coffer_kms_revoke_grant(e->kms, &e->admin, f->k.id, id));
	coffer_buf_free(&b);
}

static void test_list_grants(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	enum { N = 7 };
	char ids[N][COFFER_KMS_GRANT_ID_MAX];
	for (int i = 0; i < N; i++)
		KT_OK(make_grant(e, &e->admin, f->k.id, i < 5 ? f->alice.arn : f->bob.arn, NULL, OPS_ED,
				 NULL, NULL, NULL, ids[i], NULL));
	assert_int_equal(count_grants(e, f->k.id, NULL, NULL), N);
	assert_int_equal(count_grants(e, f->k.id, NULL, f->alice.arn), 5);
	assert_int_equal(count_grants(e, f->k.id, NULL, f->bob.arn), 2);
	assert_int_equal(count_grants(e, f->k.id, ids[3], NULL), 1);

	bool seen[N] = {false};
	char *marker = NULL;
	int pages = 0;
	for (;;) {
		struct coffer_kms_grant_list l;
		memset(&l, 0, sizeof(l));
		KT_OK(coffer_kms_list_grants(e->kms, &e->admin, f->k.id, NULL, NULL, 2, marker, &l));
		free(marker);
		marker = NULL;
		pages++;
		assert_true(l.n <= 2);
		for (size_t i = 0; i < l.n; i++) {
			int found = -1;
			for (int j = 0; j < N; j++)
				if (!strcmp(ids[j], l.grants[i].grant_id))
					found = j;
			assert_true(found >= 0);
			assert_false(seen[found]);
			seen[found] = true;
		}
		bool more = l.truncated;
		if (more) {
			assert_non_null(l.next_marker);
			marker = strdup(l.next_marker);
		} else {
			assert_null(l.next_marker);
		}
		coffer_kms_grant_list_free(&l);
		if (!more)
			break;
		assert_true(pages < 10);
	}
	assert_int_equal(pages, 4);
	for (int j = 0; j < N; j++)
		assert_true(seen[j]);

	struct coffer_kms_grant_list l;
	memset(&l, 0, sizeof(l));
	KT_RC(coffer_kms_list_grants(e->kms, &e->admin, f->k.id, NULL, NULL, 1001, NULL, &l),
	      COFFER_E_KMS_VALIDATION);
	KT_RC(coffer_kms_list_grants(e->kms, &e->admin, f->k.id, NULL, NULL, 2, "bogus", &l),
	      COFFER_E_KMS_INVALID_MARKER);
	KT_RC(coffer_kms_list_grants(e->kms, &e->admin, KT_UNKNOWN_KEY_ID, NULL, NULL, 0, NULL, &l),
	      COFFER_E_KMS_NOT_FOUND);
	KT_RC(coffer_kms_list_grants(e->kms, &f->alice.caller, f->k.id, NULL, NULL, 0, NULL, &l),
	      COFFER_E_KMS_ACCESS_DENIED);
}

static void test_list_retirable(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	struct kt_key k2;
	kt_key_new(e, &e->admin, &k2);
	char a[COFFER_KMS_GRANT_ID_MAX], b[COFFER_KMS_GRANT_ID_MAX], c[COFFER_KMS_GRANT_ID_MAX];
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, f->bob.arn, OPS_ED, NULL, NULL, NULL, a,
			 NULL));
	KT_OK(make_grant(e, &e->admin, k2.id, f->alice.arn, f->bob.arn, OPS_ED, NULL, NULL, NULL, b,
			 NULL));
	KT_OK(make_grant(e, &e->admin, f->k.id, f->alice.arn, NULL, OPS_ED, NULL, NULL, NULL, c, NULL));

	struct coffer_kms_grant_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_retirable_grants(e->kms, &f->bob.caller, f->bob.arn, 0, NULL, &l));
	assert_int_equal(l.n, 2);
	for (size_t i = 0; i < l.n; i++) {
		assert_string_equal(l.grants[i].retiring_principal, f->bob.arn);
		assert_true(!strcmp(l.grants[i].grant_id, a) || !strcmp(l.grants[i].grant_id, b));
	}
	coffer_kms_grant_list_free(&l);
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_retirable_grants(e->kms, &e->admin, f->bob.arn, 1, NULL, &l));
	assert_int_equal(l.n, 1);
	assert_true(l.truncated);
	assert_non_null(l.next_marker);
	char *marker = strdup(l.next_marker);
	coffer_kms_grant_list_free(&l);
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_retirable_grants(e->kms, &e->admin, f->bob.arn, 1, marker, &l));
	assert_int_equal(l.n, 1);
	assert_false(l.truncated);
	free(marker);
	coffer_kms_grant_list_free(&l);
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_retirable_grants(e->kms, &e->admin, f->alice.arn, 0, NULL, &l));
	assert_int_equal(l.n, 0);
	coffer_kms_grant_list_free(&l);
}

static void test_grant_limit(void **state)
{
	(void)state;
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;
	struct kt_env *e = kt_env_new(base);
	e->cfg.fsync = false;
	kt_env_open(e);
	assert_int_equal(e->cfg.max_grants_per_key, COFFER_KMS_DEFAULT_GRANT_LIMIT);
	struct kt_principal alice;
	struct kt_key k, k2;
	kt_principal_new(e, "alice", &alice);
	kt_key_new(e, &e->admin, &k);
	kt_key_new(e, &e->admin, &k2);
	char id[COFFER_KMS_GRANT_ID_MAX], first[COFFER_KMS_GRANT_ID_MAX];
	for (uint32_t i = 0; i < COFFER_KMS_DEFAULT_GRANT_LIMIT; i++) {
		coffer_rc rc = make_grant(e, &e->admin, k.id, alice.arn, NULL,
					  COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT), NULL, NULL, NULL,
					  id, NULL);
		if (rc != COFFER_OK)
			print_error("grant %u\n", i);
		KT_OK(rc);
		if (i == 0)
			memcpy(first, id, sizeof(first));
	}
	KT_RC(make_grant(e, &e->admin, k.id, alice.arn, NULL, COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT),
			 NULL, NULL, NULL, id, NULL),
	      COFFER_E_KMS_LIMIT_EXCEEDED);
	KT_MSG_HAS(k.id);
	/* The limit is per key. */
	KT_OK(make_grant(e, &e->admin, k2.id, alice.arn, NULL, COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT),
			 NULL, NULL, NULL, id, NULL));
	/* Retiring one makes room for one. */
	KT_OK(coffer_kms_retire_grant(e->kms, &e->admin, NULL, k.id, first));
	KT_OK(make_grant(e, &e->admin, k.id, alice.arn, NULL, COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT),
			 NULL, NULL, NULL, id, NULL));
	KT_RC(make_grant(e, &e->admin, k.id, alice.arn, NULL, COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT),
			 NULL, NULL, NULL, id, NULL),
	      COFFER_E_KMS_LIMIT_EXCEEDED);
	kt_env_free(e);
}

static void test_service_grants_itself(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	char id[COFFER_KMS_GRANT_ID_MAX];
	char *token = NULL;
	struct coffer_buf b = {0};
	struct coffer_secret dk = {NULL, 0}, back = {NULL, 0};
	char arn[COFFER_KMS_ARN_MAX];
	const struct coffer_kms_context_pair p[] = {{"coffer:keyspace", "ks"}, {"coffer:table", "t"}};
	const struct coffer_kms_context ctx = {p, 2};

	/* The default policy gives the service DescribeKey and CreateGrant only. */
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->service, f->k.id, &info));
	coffer_kms_key_info_free(&info);
	KT_RC(coffer_kms_generate_data_key(e->kms, &e->service, f->k.id, 32, &ctx, &dk, &b, arn),
	      COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(coffer_kms_disable_key(e->kms, &e->service, f->k.id), COFFER_E_KMS_ACCESS_DENIED);

	uint64_t ops = COFFER_KMS_OP_BIT(COFFER_KMS_OP_GENERATE_DATA_KEY) |
		       COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT) |
		       COFFER_KMS_OP_BIT(COFFER_KMS_OP_ENCRYPT) |
		       COFFER_KMS_OP_BIT(COFFER_KMS_OP_DESCRIBE_KEY) |
		       COFFER_KMS_OP_BIT(COFFER_KMS_OP_RETIRE_GRANT);
	const struct coffer_kms_context_pair sp[] = {{"coffer:keyspace", "ks"}};
	const struct coffer_kms_context subset = {sp, 1};
	KT_OK(make_grant(e, &e->service, f->k.id, e->service_arn, e->service_arn, ops, &subset, NULL,
			 "table-ks.t", id, &token));
	const char *toks[] = {token};
	struct coffer_kms_caller svc = {e->service_arn, toks, 1};
	coffer_buf_reset(&b);
	KT_OK(coffer_kms_generate_data_key(e->kms, &svc, f->k.id, 32, &ctx, &dk, &b, arn));
	KT_OK(coffer_kms_decrypt(e->kms, &e->service, coffer_buf_slice(&b), &ctx, f->k.id, &back, arn));
	assert_int_equal(back.len, 32);
	assert_memory_equal(back.ptr, dk.ptr, 32);
	coffer_secret_free(&dk);
	coffer_secret_free(&back);
	/* Outside the constraint, still denied. */
	const struct coffer_kms_context_pair op[] = {{"coffer:keyspace", "other"}};
	const struct coffer_kms_context octx = {op, 1};
	coffer_buf_reset(&b);
	KT_RC(coffer_kms_generate_data_key(e->kms, &e->service, f->k.id, 32, &octx, &dk, &b, arn),
	      COFFER_E_KMS_ACCESS_DENIED);
	/* The service retires its own grant (as cofferd does on DROP TABLE). */
	KT_OK(coffer_kms_retire_grant(e->kms, &e->service, token, NULL, NULL));
	coffer_buf_reset(&b);
	KT_RC(coffer_kms_generate_data_key(e->kms, &e->service, f->k.id, 32, &ctx, &dk, &b, arn),
	      COFFER_E_KMS_ACCESS_DENIED);
	free(token);
	coffer_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_principals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grant_gives_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grant_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_constraints_subset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_constraints_equals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_name_same_grant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grants_work_in_every_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_grants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_retirable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_grants_itself, setup, teardown),
		cmocka_unit_test(test_grant_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
