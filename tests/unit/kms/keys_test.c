/*
 * keys_test.c - key lifecycle of the KMS engine: CreateKey, DescribeKey,
 * ListKeys with pagination, Enable/DisableKey, ScheduleKeyDeletion (7..30
 * days), CancelKeyDeletion (leaves Disabled), destruction when the window ends
 * (manual clock), NotFound for unknown keys and for aliases given to
 * management operations. Error messages must name the key.
 */
#include "kms/kms_test_helper.h"

#include <stdlib.h>
#include <string.h>

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_NOT_FOUND), "NotFoundException");
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_DISABLED), "DisabledException");
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_INVALID_STATE), "KMSInvalidStateException");
	assert_string_equal(coffer_kms_key_state_name(COFFER_KMS_KEY_ENABLED), "Enabled");
	assert_string_equal(coffer_kms_key_state_name(COFFER_KMS_KEY_DISABLED), "Disabled");
	assert_string_equal(coffer_kms_key_state_name(COFFER_KMS_KEY_PENDING_DELETION),
			    "PendingDeletion");
	assert_string_equal(coffer_kms_op_name(COFFER_KMS_OP_ENCRYPT), "Encrypt");
	assert_string_equal(coffer_kms_op_name(COFFER_KMS_OP_GENERATE_DATA_KEY), "GenerateDataKey");
	assert_string_equal(coffer_kms_op_name(COFFER_KMS_OP_SCHEDULE_KEY_DELETION),
			    "ScheduleKeyDeletion");
	assert_null(coffer_kms_op_name(COFFER_KMS_OP_COUNT));
	for (int op = 0; op < COFFER_KMS_OP_COUNT; op++)
		assert_int_equal(coffer_kms_op_parse(coffer_kms_op_name((enum coffer_kms_op)op)), op);
	assert_int_equal(coffer_kms_op_parse("NoSuchOperation"), -1);
}

static void test_create_describe(void **state)
{
	struct kt_env *e = *state;
	struct coffer_kms_create_key_req req = {"my first key", NULL, false};
	struct coffer_kms_key_info info, d;
	memset(&info, 0, sizeof(info));
	memset(&d, 0, sizeof(d));

	assert_string_equal(coffer_kms_region(e->kms), KT_REGION);
	assert_string_equal(coffer_kms_account(e->kms), KT_ACCOUNT);
	assert_string_equal(e->admin_arn, "arn:aws:iam::000000000000:user/admin");
	assert_string_equal(e->service_arn, "arn:aws:iam::000000000000:user/coffer-service");
	assert_true(coffer_kms_principal_exists(e->kms, "admin"));
	assert_true(coffer_kms_principal_exists(e->kms, "coffer-service"));
	assert_false(coffer_kms_principal_exists(e->kms, "nobody"));

	KT_OK(coffer_kms_create_key(e->kms, &e->admin, &req, &info));
	assert_int_equal(strlen(info.key_id), 36);
	assert_int_equal(info.key_id[8], '-');
	assert_int_equal(info.key_id[14], '4'); /* uuid v4 */
	char want_arn[COFFER_KMS_ARN_MAX];
	snprintf(want_arn, sizeof(want_arn), "arn:aws:kms:local:000000000000:key/%s", info.key_id);
	assert_string_equal(info.arn, want_arn);
	assert_string_equal(info.creator_arn, e->admin_arn);
	assert_non_null(info.description);
	assert_string_equal(info.description, "my first key");
	assert_int_equal(info.creation_us, KT_START_US);
	assert_int_equal(info.state, COFFER_KMS_KEY_ENABLED);
	assert_false(info.service_owned);
	assert_false(info.rotation_enabled);
	assert_int_equal(info.backing_versions, 1);
	assert_int_equal(info.last_rotation_us, 0);

	/* By id and by ARN. */
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, info.key_id, &d));
	assert_string_equal(d.key_id, info.key_id);
	assert_string_equal(d.arn, info.arn);
	assert_string_equal(d.description, "my first key");
	assert_int_equal(d.state, COFFER_KMS_KEY_ENABLED);
	coffer_kms_key_info_free(&d);
	memset(&d, 0, sizeof(d));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, info.arn, &d));
	assert_string_equal(d.key_id, info.key_id);
	coffer_kms_key_info_free(&d);

	/* Two keys never share an id. */
	struct coffer_kms_key_info other;
	memset(&other, 0, sizeof(other));
	req.description = NULL;
	KT_OK(coffer_kms_create_key(e->kms, &e->admin, &req, &other));
	assert_string_not_equal(other.key_id, info.key_id);
	coffer_kms_key_info_free(&other);
	coffer_kms_key_info_free(&info);
}

static void test_create_validation(void **state)
{
	struct kt_env *e = *state;
	char *big = malloc(COFFER_KMS_MAX_DESCRIPTION + 2);
	assert_non_null(big);
	memset(big, 'd', COFFER_KMS_MAX_DESCRIPTION + 1);
	big[COFFER_KMS_MAX_DESCRIPTION + 1] = '\0';
	struct coffer_kms_create_key_req req = {big, NULL, false};
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_RC(coffer_kms_create_key(e->kms, &e->admin, &req, &info), COFFER_E_KMS_VALIDATION);
	big[COFFER_KMS_MAX_DESCRIPTION] = '\0';
	KT_OK(coffer_kms_create_key(e->kms, &e->admin, &req, &info));
	assert_int_equal(strlen(info.description), COFFER_KMS_MAX_DESCRIPTION);
	coffer_kms_key_info_free(&info);
	free(big);
}

static bool list_has(const struct coffer_kms_key_list *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->keys[i].key_id, id))
			return true;
	return false;
}

static void test_list_pagination(void **state)
{
	struct kt_env *e = *state;
	enum { N = 7 };
	struct kt_key keys[N];
	for (int i = 0; i < N; i++)
		kt_key_new(e, &e->admin, &keys[i]);

	/* The whole list at once. */
	struct coffer_kms_key_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_keys(e->kms, &e->admin, 0, NULL, &l));
	assert_false(l.truncated);
	assert_null(l.next_marker);
	for (int i = 0; i < N; i++)
		assert_true(list_has(&l, keys[i].id));
	size_t total = l.n;
	coffer_kms_key_list_free(&l);

	/* Pages of 3: every key exactly once, marker only while truncated. */
	char *marker = NULL;
	size_t seen = 0, pages = 0;
	char ids[64][COFFER_KMS_KEY_ID_MAX];
	for (;;) {
		memset(&l, 0, sizeof(l));
		KT_OK(coffer_kms_list_keys(e->kms, &e->admin, 3, marker, &l));
		free(marker);
		marker = NULL;
		assert_true(l.n <= 3);
		pages++;
		for (size_t i = 0; i < l.n; i++) {
			for (size_t j = 0; j < seen; j++)
				assert_string_not_equal(ids[j], l.keys[i].key_id);
			assert_true(seen < 64);
			snprintf(ids[seen++], COFFER_KMS_KEY_ID_MAX, "%s", l.keys[i].key_id);
			char want_arn[COFFER_KMS_ARN_MAX];
			snprintf(want_arn, sizeof(want_arn), "arn:aws:kms:local:000000000000:key/%s",
				 l.keys[i].key_id);
			assert_string_equal(l.keys[i].arn, want_arn);
		}
		if (!l.truncated) {
			assert_null(l.next_marker);
			coffer_kms_key_list_free(&l);
			break;
		}
		assert_non_null(l.next_marker);
		assert_int_equal(l.n, 3);
		marker = strdup(l.next_marker);
		coffer_kms_key_list_free(&l);
		assert_true(pages < 20);
	}
	assert_int_equal(seen, total);
	assert_int_equal(pages, (total + 2) / 3);

	/* Bad limits and markers. */
	memset(&l, 0, sizeof(l));
	KT_RC(coffer_kms_list_keys(e->kms, &e->admin, 1001, NULL, &l), COFFER_E_KMS_VALIDATION);
	KT_RC(coffer_kms_list_keys(e->kms, &e->admin, 10, "not-a-marker", &l),
	      COFFER_E_KMS_INVALID_MARKER);
	KT_OK(coffer_kms_list_keys(e->kms, &e->admin, 1000, NULL, &l));
	assert_int_equal(l.n, total);
	coffer_kms_key_list_free(&l);
}

static void test_enable_disable(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_buf blob = {0};
	struct coffer_kms_key_info d;
	kt_key_new(e, &e->admin, &k);
	KT_OK(kt_encrypt(e, &e->admin, k.id, "hello", NULL, &blob));

	KT_OK(coffer_kms_disable_key(e->kms, &e->admin, k.id));
	memset(&d, 0, sizeof(d));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k.id, &d));
	assert_int_equal(d.state, COFFER_KMS_KEY_DISABLED);
	coffer_kms_key_info_free(&d);

	struct coffer_buf blob2 = {0};
	KT_RC(kt_encrypt(e, &e->admin, k.id, "hello", NULL, &blob2), COFFER_E_KMS_DISABLED);
	KT_MSG_HAS(k.id);
	KT_RC(kt_decrypt(e, &e->admin, &blob, NULL, NULL, NULL), COFFER_E_KMS_DISABLED);
	KT_MSG_HAS(k.id);
	struct coffer_secret dk = {NULL, 0};
	char arn[COFFER_KMS_ARN_MAX];
	coffer_buf_reset(&blob2);
	KT_RC(coffer_kms_generate_data_key(e->kms, &e->admin, k.id, 32, NULL, &dk, &blob2, arn),
	      COFFER_E_KMS_DISABLED);
	assert_null(dk.ptr);
	/* Disabling twice is harmless (AWS: idempotent). */
	KT_OK(coffer_kms_disable_key(e->kms, &e->admin, k.arn));

	KT_OK(coffer_kms_enable_key(e->kms, &e->admin, k.arn));
	memset(&d, 0, sizeof(d));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k.id, &d));
	assert_int_equal(d.state, COFFER_KMS_KEY_ENABLED);
	coffer_kms_key_info_free(&d);
	KT_OK(kt_decrypt(e, &e->admin, &blob, NULL, NULL, "hello"));
	KT_OK(kt_encrypt(e, &e->admin, k.id, "hello", NULL, &blob2));
	coffer_buf_free(&blob);
	coffer_buf_free(&blob2);
}

static void test_schedule_windows(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_kms_key_info info;
	kt_key_new(e, &e->admin, &k);

	memset(&info, 0, sizeof(info));
	KT_RC(coffer_kms_schedule_key_deletion(e->kms, &e->admin, k.id, 6, &info),
	      COFFER_E_KMS_VALIDATION);
	KT_RC(coffer_kms_schedule_key_deletion(e->kms, &e->admin, k.id, 31, &info),
	      COFFER_E_KMS_VALIDATION);
	KT_RC(coffer_kms_schedule_key_deletion(e->kms, &e->admin, k.id, 1000, &info),
	      COFFER_E_KMS_VALIDATION);
	/* The refused calls changed nothing. */
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k.id, &info));
	assert_int_equal(info.state, COFFER_KMS_KEY_ENABLED);
	coffer_kms_key_info_free(&info);

	/* 0 means 30 days. */
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_schedule_key_deletion(e->kms, &e->admin, k.id, 0, &info));
	assert_int_equal(info.state, COFFER_KMS_KEY_PENDING_DELETION);
	assert_int_equal(info.pending_window_days, 30);
	assert_true(info.deletion_us >= KT_START_US + 30 * COFFER_US_PER_DAY);
	assert_true(info.deletion_us < KT_START_US + 31 * COFFER_US_PER_DAY);
	coffer_kms_key_info_free(&info);

	/* Scheduling again while pending is an invalid state. */
	memset(&info, 0, sizeof(info));
	KT_RC(coffer_kms_schedule_key_deletion(e->kms, &e->admin, k.id, 7, &info),
	      COFFER_E_KMS_INVALID_STATE);
	KT_MSG_HAS(k.id);

	/* Bounds 7 and 30 are accepted. */
	struct kt_key k7, k30;
	kt_key_new(e, &e->admin, &k7);
	kt_key_new(e, &e->admin, &k30);
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_schedule_key_deletion(e->kms, &e->admin, k7.id, 7, &info));
	assert_int_equal(info.pending_window_days, 7);
	assert_true(info.deletion_us >= KT_START_US + 7 * COFFER_US_PER_DAY);
	assert_true(info.deletion_us < KT_START_US + 8 * COFFER_US_PER_DAY);
	coffer_kms_key_info_free(&info);
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_schedule_key_deletion(e->kms, &e->admin, k30.arn, 30, &info));
	assert_int_equal(info.pending_window_days, 30);
	coffer_kms_key_info_free(&info);
}

static void test_pending_and_cancel(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_kms_key_info info;
	struct coffer_buf blob = {0}, blob2 = {0};
	kt_key_new(e, &e->admin, &k);
	KT_OK(kt_encrypt(e, &e->admin, k.id, "secret", NULL, &blob));

	/* Cancel when not pending. */
	KT_RC(coffer_kms_cancel_key_deletion(e->kms, &e->admin, k.id), COFFER_E_KMS_INVALID_STATE);
	KT_MSG_HAS(k.id);

	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_schedule_key_deletion(e->kms, &e->admin, k.id, 7, &info));
	coffer_kms_key_info_free(&info);

	/* Crypto in PendingDeletion: KMSInvalidStateException naming the key. */
	KT_RC(kt_encrypt(e, &e->admin, k.id, "x", NULL, &blob2), COFFER_E_KMS_INVALID_STATE);
	KT_MSG_HAS(k.id);
	KT_RC(kt_decrypt(e, &e->admin, &blob, NULL, NULL, NULL), COFFER_E_KMS_INVALID_STATE);
	KT_MSG_HAS(k.id);
	/* Enable/Disable are refused while pending. */
	KT_RC(coffer_kms_enable_key(e->kms, &e->admin, k.id), COFFER_E_KMS_INVALID_STATE);
	KT_RC(coffer_kms_disable_key(e->kms, &e->admin, k.id), COFFER_E_KMS_INVALID_STATE);
	/* DescribeKey works in every state. */
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k.id, &info));
	assert_int_equal(info.state, COFFER_KMS_KEY_PENDING_DELETION);
	assert_int_equal(info.pending_window_days, 7);
	coffer_kms_key_info_free(&info);

	/* Six days later, still pending; cancel leaves it Disabled. */
	kt_advance_days(e, 6);
	KT_OK(coffer_kms_tick(e->kms));
	KT_OK(coffer_kms_cancel_key_deletion(e->kms, &e->admin, k.arn));
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k.id, &info));
	assert_int_equal(info.state, COFFER_KMS_KEY_DISABLED);
	coffer_kms_key_info_free(&info);
	KT_RC(kt_decrypt(e, &e->admin, &blob, NULL, NULL, NULL), COFFER_E_KMS_DISABLED);
	KT_RC(coffer_kms_cancel_key_deletion(e->kms, &e->admin, k.id), COFFER_E_KMS_INVALID_STATE);

	/* The cancelled window never fires. */
	kt_advance_days(e, 30);
	KT_OK(coffer_kms_tick(e->kms));
	KT_OK(coffer_kms_enable_key(e->kms, &e->admin, k.id));
	KT_OK(kt_decrypt(e, &e->admin, &blob, NULL, NULL, "secret"));
	coffer_buf_free(&blob);
	coffer_buf_free(&blob2);
}

static void test_destroyed_after_window(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k, k_lazy, keep;
	struct coffer_kms_key_info info;
	struct coffer_buf blob = {0}, blob_lazy = {0}, b = {0};
	kt_key_new(e, &e->admin, &k);
	kt_key_new(e, &e->admin, &k_lazy);
	kt_key_new(e, &e->admin, &keep);
	KT_OK(kt_encrypt(e, &e->admin, k.id, "shred me", NULL, &blob));
	KT_OK(kt_encrypt(e, &e->admin, k_lazy.id, "shred me too", NULL, &blob_lazy));
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/doomed", k.id));

	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_schedule_key_deletion(e->kms, &e->admin, k.id, 7, &info));
	coffer_kms_key_info_free(&info);
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_schedule_key_deletion(e->kms, &e->admin, k_lazy.id, 7, &info));
	coffer_kms_key_info_free(&info);

	kt_advance_days(e, 7);
	kt_advance_us(e, COFFER_US_PER_SEC);

	/* Without a tick: the operation that touches the key applies the deadline. */
	memset(&info, 0, sizeof(info));
	KT_RC(coffer_kms_describe_key(e->kms, &e->admin, k_lazy.id, &info), COFFER_E_KMS_NOT_FOUND);
	KT_MSG_HAS(k_lazy.id);
	KT_RC(kt_decrypt(e, &e->admin, &blob_lazy, NULL, NULL, NULL), COFFER_E_KMS_NOT_FOUND);
	KT_MSG_HAS(k_lazy.id);

	KT_OK(coffer_kms_tick(e->kms));
	memset(&info, 0, sizeof(info));
	KT_RC(coffer_kms_describe_key(e->kms, &e->admin, k.id, &info), COFFER_E_KMS_NOT_FOUND);
	KT_MSG_HAS(k.id);
	KT_RC(coffer_kms_describe_key(e->kms, &e->admin, k.arn, &info), COFFER_E_KMS_NOT_FOUND);
	KT_RC(kt_encrypt(e, &e->admin, k.id, "x", NULL, &b), COFFER_E_KMS_NOT_FOUND);
	KT_MSG_HAS(k.id);
	KT_RC(kt_decrypt(e, &e->admin, &blob, NULL, NULL, NULL), COFFER_E_KMS_NOT_FOUND);
	KT_MSG_HAS(k.id);
	KT_RC(coffer_kms_enable_key(e->kms, &e->admin, k.id), COFFER_E_KMS_NOT_FOUND);
	KT_RC(coffer_kms_cancel_key_deletion(e->kms, &e->admin, k.id), COFFER_E_KMS_NOT_FOUND);
	KT_RC(kt_encrypt(e, &e->admin, "alias/doomed", "x", NULL, &b), COFFER_E_KMS_NOT_FOUND);

	/* Gone from ListKeys; the other key is untouched. */
	struct coffer_kms_key_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_keys(e->kms, &e->admin, 0, NULL, &l));
	for (size_t i = 0; i < l.n; i++) {
		assert_string_not_equal(l.keys[i].key_id, k.id);
		assert_string_not_equal(l.keys[i].key_id, k_lazy.id);
	}
	coffer_kms_key_list_free(&l);
	KT_OK(kt_encrypt(e, &e->admin, keep.id, "x", NULL, &b));

	/* Destruction is durable. */
	kt_env_reopen(e);
	memset(&info, 0, sizeof(info));
	KT_RC(coffer_kms_describe_key(e->kms, &e->admin, k.id, &info), COFFER_E_KMS_NOT_FOUND);
	KT_RC(kt_decrypt(e, &e->admin, &blob, NULL, NULL, NULL), COFFER_E_KMS_NOT_FOUND);
	KT_RC(kt_decrypt(e, &e->admin, &blob_lazy, NULL, NULL, NULL), COFFER_E_KMS_NOT_FOUND);
	coffer_buf_free(&blob);
	coffer_buf_free(&blob_lazy);
	coffer_buf_free(&b);
}

static void test_unknown_keys(void **state)
{
	struct kt_env *e = *state;
	const char *refs[] = {KT_UNKNOWN_KEY_ID, KT_UNKNOWN_KEY_ARN, "alias/no-such-alias",
			      "arn:aws:kms:local:000000000000:alias/no-such-alias"};
	struct coffer_kms_key_info info;
	struct coffer_buf b = {0};
	struct coffer_secret s = {NULL, 0};
	char arn[COFFER_KMS_ARN_MAX];
	char *pol = NULL;
	struct coffer_kms_rotation_status rs;

	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		memset(&info, 0, sizeof(info));
		KT_RC(coffer_kms_describe_key(e->kms, &e->admin, refs[i], &info), COFFER_E_KMS_NOT_FOUND);
		KT_MSG_HAS(strstr(refs[i], "alias") ? "no-such-alias" : KT_UNKNOWN_KEY_ID);
		KT_RC(kt_encrypt(e, &e->admin, refs[i], "x", NULL, &b), COFFER_E_KMS_NOT_FOUND);
		KT_RC(coffer_kms_generate_data_key(e->kms, &e->admin, refs[i], 32, NULL, &s, &b, arn),
		      COFFER_E_KMS_NOT_FOUND);
	}
	for (size_t i = 0; i < 2; i++) {
		KT_RC(coffer_kms_enable_key(e->kms, &e->admin, refs[i]), COFFER_E_KMS_NOT_FOUND);
		KT_MSG_HAS(KT_UNKNOWN_KEY_ID);
		KT_RC(coffer_kms_disable_key(e->kms, &e->admin, refs[i]), COFFER_E_KMS_NOT_FOUND);
		KT_RC(coffer_kms_schedule_key_deletion(e->kms, &e->admin, refs[i], 7, &info),
		      COFFER_E_KMS_NOT_FOUND);
		KT_RC(coffer_kms_cancel_key_deletion(e->kms, &e->admin, refs[i]), COFFER_E_KMS_NOT_FOUND);
		KT_RC(coffer_kms_enable_key_rotation(e->kms, &e->admin, refs[i], 0), COFFER_E_KMS_NOT_FOUND);
		KT_RC(coffer_kms_get_key_rotation_status(e->kms, &e->admin, refs[i], &rs),
		      COFFER_E_KMS_NOT_FOUND);
		KT_RC(coffer_kms_rotate_key_on_demand(e->kms, &e->admin, refs[i]), COFFER_E_KMS_NOT_FOUND);
		KT_RC(coffer_kms_get_key_policy(e->kms, &e->admin, refs[i], "default", &pol),
		      COFFER_E_KMS_NOT_FOUND);
		KT_RC(coffer_kms_create_alias(e->kms, &e->admin, "alias/to-nothing", refs[i]),
		      COFFER_E_KMS_NOT_FOUND);
	}
	/* A key of this account in another region, and a garbage id. */
	memset(&info, 0, sizeof(info));
	KT_RC(coffer_kms_describe_key(e->kms, &e->admin,
				      "arn:aws:kms:us-east-1:000000000000:key/" KT_UNKNOWN_KEY_ID, &info),
	      COFFER_E_KMS_NOT_FOUND);
	KT_RC(coffer_kms_describe_key(e->kms, &e->admin, "not-a-key", &info), COFFER_E_KMS_NOT_FOUND);
	/* A real key's id in another region's ARN is not that key. */
	struct kt_key k;
	kt_key_new(e, &e->admin, &k);
	char other[COFFER_KMS_ARN_MAX];
	snprintf(other, sizeof(other), "arn:aws:kms:eu-west-1:000000000000:key/%s", k.id);
	KT_RC(coffer_kms_describe_key(e->kms, &e->admin, other, &info), COFFER_E_KMS_NOT_FOUND);
	snprintf(other, sizeof(other), "arn:aws:kms:local:999999999999:key/%s", k.id);
	KT_RC(coffer_kms_describe_key(e->kms, &e->admin, other, &info), COFFER_E_KMS_NOT_FOUND);
	coffer_buf_free(&b);
}

static void test_alias_for_management_op(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_kms_key_info info;
	kt_key_new(e, &e->admin, &k);
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/mgmt", k.id));
	const char *aliases[] = {"alias/mgmt", "arn:aws:kms:local:000000000000:alias/mgmt"};
	for (size_t i = 0; i < 2; i++) {
		KT_RC(coffer_kms_disable_key(e->kms, &e->admin, aliases[i]), COFFER_E_KMS_NOT_FOUND);
		KT_RC(coffer_kms_enable_key(e->kms, &e->admin, aliases[i]), COFFER_E_KMS_NOT_FOUND);
		memset(&info, 0, sizeof(info));
		KT_RC(coffer_kms_schedule_key_deletion(e->kms, &e->admin, aliases[i], 7, &info),
		      COFFER_E_KMS_NOT_FOUND);
		KT_RC(coffer_kms_enable_key_rotation(e->kms, &e->admin, aliases[i], 0),
		      COFFER_E_KMS_NOT_FOUND);
	}
	/* Nothing changed; DescribeKey does accept an alias (as AWS does). */
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, "alias/mgmt", &info));
	assert_string_equal(info.key_id, k.id);
	assert_int_equal(info.state, COFFER_KMS_KEY_ENABLED);
	assert_false(info.rotation_enabled);
	coffer_kms_key_info_free(&info);
}

static void test_management_needs_permission(void **state)
{
	struct kt_env *e = *state;
	struct kt_principal alice;
	struct kt_key k;
	struct coffer_kms_key_info info;
	kt_principal_new(e, "alice", &alice);
	kt_key_new(e, &e->admin, &k);
	KT_RC(coffer_kms_disable_key(e->kms, &alice.caller, k.id), COFFER_E_KMS_ACCESS_DENIED);
	KT_MSG_HAS(k.id);
	memset(&info, 0, sizeof(info));
	KT_RC(coffer_kms_schedule_key_deletion(e->kms, &alice.caller, k.id, 7, &info),
	      COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(coffer_kms_describe_key(e->kms, &alice.caller, k.id, &info), COFFER_E_KMS_ACCESS_DENIED);
	/* Alice creates her own key and manages it. */
	struct kt_key mine;
	kt_key_new(e, &alice.caller, &mine);
	KT_OK(coffer_kms_disable_key(e->kms, &alice.caller, mine.id));
	KT_OK(coffer_kms_enable_key(e->kms, &alice.caller, mine.id));
	/* The account root (admin) has kms:* on alice's key by the default policy. */
	KT_OK(coffer_kms_disable_key(e->kms, &e->admin, mine.id));
	/* An unknown caller can do nothing. */
	struct coffer_kms_caller ghost = kt_caller("arn:aws:iam::000000000000:user/ghost");
	KT_RC(coffer_kms_enable_key(e->kms, &ghost, k.id), COFFER_E_KMS_ACCESS_DENIED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_create_describe, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_create_validation, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_list_pagination, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_enable_disable, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_schedule_windows, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_pending_and_cancel, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_destroyed_after_window, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_keys, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_alias_for_management_op, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_management_needs_permission, kt_setup, kt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
