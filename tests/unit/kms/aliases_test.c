/*
 * aliases_test.c - CreateAlias, UpdateAlias, DeleteAlias and ListAliases of
 * the KMS engine: name rules ("alias/" + [A-Za-z0-9/_-]{1,250}, "alias/aws/"
 * reserved), duplicates, listing all or by key with pagination, and
 * cryptographic operations addressed by alias name and alias ARN.
 */
#include "kms/kms_test_helper.h"

#include <stdlib.h>
#include <string.h>

#define ALIAS_ARN(name) "arn:aws:kms:local:000000000000:" name

static const struct coffer_kms_alias_entry *find_alias(const struct coffer_kms_alias_list *l,
							const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->aliases[i].alias_name, name))
			return &l->aliases[i];
	return NULL;
}

static void test_create_and_list(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	kt_key_new(e, &e->admin, &k);
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/app-key_1", k.id));
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/team/app", k.arn));

	struct coffer_kms_alias_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_aliases(e->kms, &e->admin, NULL, 0, NULL, &l));
	const struct coffer_kms_alias_entry *a = find_alias(&l, "alias/app-key_1");
	assert_non_null(a);
	assert_string_equal(a->alias_arn, ALIAS_ARN("alias/app-key_1"));
	assert_string_equal(a->target_key_id, k.id);
	assert_int_equal(a->creation_us, KT_START_US);
	a = find_alias(&l, "alias/team/app");
	assert_non_null(a);
	assert_string_equal(a->target_key_id, k.id);
	assert_false(l.truncated);
	coffer_kms_alias_list_free(&l);
}

static void test_duplicate(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k, k2;
	kt_key_new(e, &e->admin, &k);
	kt_key_new(e, &e->admin, &k2);
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/dup", k.id));
	KT_RC(coffer_kms_create_alias(e->kms, &e->admin, "alias/dup", k.id), COFFER_E_KMS_ALREADY_EXISTS);
	KT_MSG_HAS("alias/dup");
	KT_RC(coffer_kms_create_alias(e->kms, &e->admin, "alias/dup", k2.id),
	      COFFER_E_KMS_ALREADY_EXISTS);
	/* Still pointing at the first key. */
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, "alias/dup", &info));
	assert_string_equal(info.key_id, k.id);
	coffer_kms_key_info_free(&info);
}

static void test_bad_names(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	kt_key_new(e, &e->admin, &k);
	char long_name[300];
	memcpy(long_name, "alias/", 6);
	memset(long_name + 6, 'a', 251);
	long_name[6 + 251] = '\0';
	const char *bad[] = {
		"alias/aws/mine", "alias/aws/", "noprefix", "alias/", "alias/has space",
		"alias/star*", "alias/dot.name", "alias/colon:x", "ALIAS/upper", "", long_name,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		coffer_rc rc = coffer_kms_create_alias(e->kms, &e->admin, bad[i], k.id);
		if (rc != COFFER_E_KMS_INVALID_ALIAS_NAME)
			print_error("alias name \"%.40s\"\n", bad[i]);
		KT_RC(rc, COFFER_E_KMS_INVALID_ALIAS_NAME);
	}
	/* The reserved prefix is refused for update and delete too. */
	KT_RC(coffer_kms_update_alias(e->kms, &e->admin, "alias/aws/mine", k.id),
	      COFFER_E_KMS_INVALID_ALIAS_NAME);
	/* 250 characters is the longest legal name. */
	long_name[6 + 250] = '\0';
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, long_name, k.id));
	/* "aws" not followed by "/" is an ordinary name. */
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/awsome", k.id));

	struct coffer_kms_alias_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_aliases(e->kms, &e->admin, k.id, 0, NULL, &l));
	assert_int_equal(l.n, 2);
	coffer_kms_alias_list_free(&l);
}

static void test_update(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k1, k2;
	struct coffer_buf b = {0};
	char arn[COFFER_KMS_ARN_MAX];
	kt_key_new(e, &e->admin, &k1);
	kt_key_new(e, &e->admin, &k2);
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/moving", k1.id));
	KT_OK(coffer_kms_encrypt(e->kms, &e->admin, "alias/moving", coffer_slice_str("a"), NULL, &b,
				 arn));
	assert_string_equal(arn, k1.arn);

	kt_advance_us(e, 5 * COFFER_US_PER_SEC);
	KT_OK(coffer_kms_update_alias(e->kms, &e->admin, "alias/moving", k2.arn));
	coffer_buf_reset(&b);
	KT_OK(coffer_kms_encrypt(e->kms, &e->admin, "alias/moving", coffer_slice_str("a"), NULL, &b,
				 arn));
	assert_string_equal(arn, k2.arn);

	struct coffer_kms_alias_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_aliases(e->kms, &e->admin, NULL, 0, NULL, &l));
	const struct coffer_kms_alias_entry *a = find_alias(&l, "alias/moving");
	assert_non_null(a);
	assert_string_equal(a->target_key_id, k2.id);
	assert_int_equal(a->creation_us, KT_START_US);
	assert_int_equal(a->last_updated_us, KT_START_US + 5 * COFFER_US_PER_SEC);
	coffer_kms_alias_list_free(&l);

	/* Unknown alias, unknown target, alias as target. */
	KT_RC(coffer_kms_update_alias(e->kms, &e->admin, "alias/nothing-here", k1.id),
	      COFFER_E_KMS_NOT_FOUND);
	KT_MSG_HAS("alias/nothing-here");
	KT_RC(coffer_kms_update_alias(e->kms, &e->admin, "alias/moving", KT_UNKNOWN_KEY_ID),
	      COFFER_E_KMS_NOT_FOUND);
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/other", k1.id));
	KT_RC(coffer_kms_update_alias(e->kms, &e->admin, "alias/moving", "alias/other"),
	      COFFER_E_KMS_NOT_FOUND);
	coffer_buf_free(&b);
}

static void test_delete(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_buf b = {0};
	kt_key_new(e, &e->admin, &k);
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/gone", k.id));
	KT_OK(coffer_kms_delete_alias(e->kms, &e->admin, "alias/gone"));
	KT_RC(coffer_kms_delete_alias(e->kms, &e->admin, "alias/gone"), COFFER_E_KMS_NOT_FOUND);
	KT_MSG_HAS("alias/gone");
	KT_RC(kt_encrypt(e, &e->admin, "alias/gone", "x", NULL, &b), COFFER_E_KMS_NOT_FOUND);
	struct coffer_kms_alias_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_aliases(e->kms, &e->admin, NULL, 0, NULL, &l));
	assert_null(find_alias(&l, "alias/gone"));
	coffer_kms_alias_list_free(&l);
	/* The key is untouched and the name can be reused. */
	KT_OK(kt_encrypt(e, &e->admin, k.id, "x", NULL, &b));
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/gone", k.id));
	KT_RC(coffer_kms_delete_alias(e->kms, &e->admin, "alias/aws/anything"),
	      COFFER_E_KMS_INVALID_ALIAS_NAME);
	coffer_buf_free(&b);
}

static void test_list_by_key_and_pages(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k1, k2;
	kt_key_new(e, &e->admin, &k1);
	kt_key_new(e, &e->admin, &k2);
	const char *on1[] = {"alias/one-a", "alias/one-b", "alias/one-c"};
	for (size_t i = 0; i < 3; i++)
		KT_OK(coffer_kms_create_alias(e->kms, &e->admin, on1[i], k1.id));
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/two-a", k2.id));

	struct coffer_kms_alias_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_aliases(e->kms, &e->admin, k1.id, 0, NULL, &l));
	assert_int_equal(l.n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_non_null(find_alias(&l, on1[i]));
	assert_null(find_alias(&l, "alias/two-a"));
	coffer_kms_alias_list_free(&l);

	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_aliases(e->kms, &e->admin, k2.arn, 0, NULL, &l));
	assert_int_equal(l.n, 1);
	assert_string_equal(l.aliases[0].alias_name, "alias/two-a");
	coffer_kms_alias_list_free(&l);

	KT_RC(coffer_kms_list_aliases(e->kms, &e->admin, KT_UNKNOWN_KEY_ID, 0, NULL, &l),
	      COFFER_E_KMS_NOT_FOUND);

	/* Pages of one over all aliases: each seen once. */
	char *marker = NULL;
	size_t seen = 0;
	char names[4][64];
	for (int page = 0; page < 10; page++) {
		memset(&l, 0, sizeof(l));
		KT_OK(coffer_kms_list_aliases(e->kms, &e->admin, NULL, 1, marker, &l));
		free(marker);
		marker = NULL;
		assert_true(l.n <= 1);
		for (size_t i = 0; i < l.n; i++) {
			for (size_t j = 0; j < seen; j++)
				assert_string_not_equal(names[j], l.aliases[i].alias_name);
			assert_true(seen < 4);
			snprintf(names[seen++], 64, "%s", l.aliases[i].alias_name);
		}
		bool more = l.truncated;
		if (more) {
			assert_non_null(l.next_marker);
			marker = strdup(l.next_marker);
		}
		coffer_kms_alias_list_free(&l);
		if (!more)
			break;
	}
	assert_null(marker);
	assert_int_equal(seen, 4);
	memset(&l, 0, sizeof(l));
	KT_RC(coffer_kms_list_aliases(e->kms, &e->admin, NULL, 1, "bogus-marker", &l),
	      COFFER_E_KMS_INVALID_MARKER);
}

static void test_crypto_through_alias(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k, other;
	struct coffer_buf b = {0}, b2 = {0};
	struct coffer_secret dk = {NULL, 0};
	char arn[COFFER_KMS_ARN_MAX];
	kt_key_new(e, &e->admin, &k);
	kt_key_new(e, &e->admin, &other);
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/crypto", k.id));

	KT_OK(coffer_kms_encrypt(e->kms, &e->admin, "alias/crypto", coffer_slice_str("via name"),
				 NULL, &b, arn));
	assert_string_equal(arn, k.arn);
	KT_OK(kt_decrypt(e, &e->admin, &b, NULL, "alias/crypto", "via name"));
	KT_OK(kt_decrypt(e, &e->admin, &b, NULL, ALIAS_ARN("alias/crypto"), "via name"));
	KT_OK(kt_decrypt(e, &e->admin, &b, NULL, k.id, "via name"));

	coffer_buf_reset(&b);
	KT_OK(coffer_kms_encrypt(e->kms, &e->admin, ALIAS_ARN("alias/crypto"),
				 coffer_slice_str("via arn"), NULL, &b, arn));
	assert_string_equal(arn, k.arn);
	KT_OK(kt_decrypt(e, &e->admin, &b, NULL, NULL, "via arn"));

	KT_OK(coffer_kms_generate_data_key(e->kms, &e->admin, ALIAS_ARN("alias/crypto"), 32, NULL,
					   &dk, &b2, arn));
	assert_string_equal(arn, k.arn);
	assert_int_equal(dk.len, 32);
	coffer_secret_free(&dk);

	/* An alias of another key given to Decrypt is the wrong key. */
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/other", other.id));
	KT_RC(kt_decrypt(e, &e->admin, &b, NULL, "alias/other", NULL), COFFER_E_KMS_INCORRECT_KEY);

	/* The alias follows the key's state. */
	KT_OK(coffer_kms_disable_key(e->kms, &e->admin, k.id));
	KT_RC(kt_encrypt(e, &e->admin, "alias/crypto", "x", NULL, &b2), COFFER_E_KMS_DISABLED);
	KT_MSG_HAS(k.id);
	coffer_buf_free(&b);
	coffer_buf_free(&b2);
}

static void test_alias_needs_permission(void **state)
{
	struct kt_env *e = *state;
	struct kt_principal alice;
	struct kt_key k;
	kt_principal_new(e, "alice", &alice);
	kt_key_new(e, &e->admin, &k);
	KT_RC(coffer_kms_create_alias(e->kms, &alice.caller, "alias/alices", k.id),
	      COFFER_E_KMS_ACCESS_DENIED);
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/admins", k.id));
	KT_RC(coffer_kms_delete_alias(e->kms, &alice.caller, "alias/admins"), COFFER_E_KMS_ACCESS_DENIED);
	struct kt_key mine;
	kt_key_new(e, &alice.caller, &mine);
	KT_RC(coffer_kms_update_alias(e->kms, &alice.caller, "alias/admins", mine.id),
	      COFFER_E_KMS_ACCESS_DENIED);
	/* Alice's own key through an alias. */
	KT_OK(coffer_kms_create_alias(e->kms, &alice.caller, "alias/alices", mine.id));
	struct coffer_buf b = {0};
	KT_OK(kt_encrypt(e, &alice.caller, "alias/alices", "mine", NULL, &b));
	KT_RC(kt_encrypt(e, &alice.caller, "alias/admins", "not mine", NULL, &b),
	      COFFER_E_KMS_ACCESS_DENIED);
	coffer_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_list, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_update, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_delete, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_list_by_key_and_pages, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_crypto_through_alias, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_alias_needs_permission, kt_setup, kt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
