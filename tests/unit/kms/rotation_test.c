/*
 * rotation_test.c - backing-key rotation of the KMS engine: RotateKeyOnDemand
 * several times with every version's blobs still decrypting, automatic
 * rotation when the period passes (manual clock), period bounds 90..2560,
 * GetKeyRotationStatus, and a reopen from disk after several rotations that
 * decrypts every old blob (a "Done when" test).
 */
#include "kms/kms_test_helper.h"

enum { NBLOBS = 6 };

struct blobs {
	struct coffer_buf b[NBLOBS];
	char pt[NBLOBS][32];
	size_t n;
};

static void blobs_add(struct kt_env *e, struct blobs *bs, const char *key_ref)
{
	assert_true(bs->n < NBLOBS);
	snprintf(bs->pt[bs->n], sizeof(bs->pt[0]), "version-%zu", bs->n);
	const struct coffer_kms_context_pair p[] = {{"n", bs->pt[bs->n]}};
	const struct coffer_kms_context ctx = {p, 1};
	KT_OK(kt_encrypt(e, &e->admin, key_ref, bs->pt[bs->n], &ctx, &bs->b[bs->n]));
	bs->n++;
}

static void blobs_check(struct kt_env *e, struct blobs *bs)
{
	for (size_t i = 0; i < bs->n; i++) {
		const struct coffer_kms_context_pair p[] = {{"n", bs->pt[i]}};
		const struct coffer_kms_context ctx = {p, 1};
		coffer_rc rc = kt_decrypt(e, &e->admin, &bs->b[i], &ctx, NULL, bs->pt[i]);
		if (rc != COFFER_OK)
			print_error("blob %zu\n", i);
		KT_OK(rc);
	}
}

static void blobs_free(struct blobs *bs)
{
	for (size_t i = 0; i < NBLOBS; i++)
		coffer_buf_free(&bs->b[i]);
}

static uint32_t versions(struct kt_env *e, const char *key)
{
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, key, &info));
	uint32_t v = info.backing_versions;
	coffer_kms_key_info_free(&info);
	return v;
}

static void test_on_demand(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct blobs bs;
	memset(&bs, 0, sizeof(bs));
	kt_key_new(e, &e->admin, &k);
	blobs_add(e, &bs, k.id);
	for (int i = 1; i <= 3; i++) {
		kt_advance_us(e, 10 * COFFER_US_PER_SEC);
		KT_OK(coffer_kms_rotate_key_on_demand(e->kms, &e->admin, k.id));
		assert_int_equal(versions(e, k.id), 1 + i);
		blobs_add(e, &bs, k.id);
		blobs_check(e, &bs);
	}
	struct coffer_kms_rotation_status rs;
	memset(&rs, 0, sizeof(rs));
	KT_OK(coffer_kms_get_key_rotation_status(e->kms, &e->admin, k.id, &rs));
	assert_false(rs.enabled);
	assert_int_equal(rs.next_rotation_us, 0);
	assert_int_equal(rs.on_demand_rotation_us, KT_START_US + 30 * COFFER_US_PER_SEC);
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k.arn, &info));
	assert_int_equal(info.last_rotation_us, KT_START_US + 30 * COFFER_US_PER_SEC);
	coffer_kms_key_info_free(&info);

	/* Each version's blob stays bound to its own context. */
	const struct coffer_kms_context_pair p[] = {{"n", bs.pt[0]}};
	const struct coffer_kms_context ctx0 = {p, 1};
	KT_RC(kt_decrypt(e, &e->admin, &bs.b[1], &ctx0, NULL, NULL), COFFER_E_KMS_INVALID_CIPHERTEXT);

	/* Rotation needs permission, an existing key, and an enabled key. */
	struct kt_principal alice;
	kt_principal_new(e, "alice", &alice);
	KT_RC(coffer_kms_rotate_key_on_demand(e->kms, &alice.caller, k.id), COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(coffer_kms_rotate_key_on_demand(e->kms, &e->admin, KT_UNKNOWN_KEY_ID),
	      COFFER_E_KMS_NOT_FOUND);
	KT_OK(coffer_kms_disable_key(e->kms, &e->admin, k.id));
	KT_RC2(coffer_kms_rotate_key_on_demand(e->kms, &e->admin, k.id), COFFER_E_KMS_DISABLED,
	       COFFER_E_KMS_INVALID_STATE);
	assert_int_equal(versions(e, k.id), 4);
	blobs_free(&bs);
}

static void test_automatic(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k, lazy, off;
	struct blobs bs;
	struct coffer_kms_rotation_status rs;
	memset(&bs, 0, sizeof(bs));
	kt_key_new(e, &e->admin, &k);
	kt_key_new(e, &e->admin, &lazy);
	kt_key_new(e, &e->admin, &off);
	blobs_add(e, &bs, k.id);

	KT_OK(coffer_kms_enable_key_rotation(e->kms, &e->admin, k.id, 90));
	KT_OK(coffer_kms_enable_key_rotation(e->kms, &e->admin, lazy.id, 90));
	memset(&rs, 0, sizeof(rs));
	KT_OK(coffer_kms_get_key_rotation_status(e->kms, &e->admin, k.id, &rs));
	assert_true(rs.enabled);
	assert_int_equal(rs.period_days, 90);
	assert_int_equal(rs.next_rotation_us, KT_START_US + 90 * COFFER_US_PER_DAY);
	assert_int_equal(rs.on_demand_rotation_us, 0);

	/* Not yet due. */
	kt_advance_days(e, 89);
	KT_OK(coffer_kms_tick(e->kms));
	assert_int_equal(versions(e, k.id), 1);

	/* Due: tick rotates. */
	kt_advance_days(e, 1);
	kt_advance_us(e, COFFER_US_PER_SEC);
	KT_OK(coffer_kms_tick(e->kms));
	assert_int_equal(versions(e, k.id), 2);
	/* Without a tick, touching the key applies the due rotation. */
	assert_int_equal(versions(e, lazy.id), 2);
	assert_int_equal(versions(e, off.id), 1);
	memset(&rs, 0, sizeof(rs));
	KT_OK(coffer_kms_get_key_rotation_status(e->kms, &e->admin, k.id, &rs));
	assert_true(rs.enabled);
	assert_true(rs.next_rotation_us > kt_now_us(e));
	assert_true(rs.next_rotation_us <= kt_now_us(e) + 90 * COFFER_US_PER_DAY);
	blobs_add(e, &bs, k.id);

	/* Another period, another version; rotations do not pile up. */
	kt_advance_days(e, 91);
	KT_OK(coffer_kms_tick(e->kms));
	KT_OK(coffer_kms_tick(e->kms));
	assert_int_equal(versions(e, k.id), 3);
	blobs_add(e, &bs, k.id);
	blobs_check(e, &bs);

	/* Disabled rotation: no more versions. */
	KT_OK(coffer_kms_disable_key_rotation(e->kms, &e->admin, k.id));
	memset(&rs, 0, sizeof(rs));
	KT_OK(coffer_kms_get_key_rotation_status(e->kms, &e->admin, k.id, &rs));
	assert_false(rs.enabled);
	assert_int_equal(rs.next_rotation_us, 0);
	kt_advance_days(e, 400);
	KT_OK(coffer_kms_tick(e->kms));
	assert_int_equal(versions(e, k.id), 3);
	blobs_check(e, &bs);
	blobs_free(&bs);
}

static void test_periods(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_kms_rotation_status rs;
	kt_key_new(e, &e->admin, &k);
	KT_RC(coffer_kms_enable_key_rotation(e->kms, &e->admin, k.id, 89), COFFER_E_KMS_VALIDATION);
	KT_RC(coffer_kms_enable_key_rotation(e->kms, &e->admin, k.id, 2561), COFFER_E_KMS_VALIDATION);
	memset(&rs, 0, sizeof(rs));
	KT_OK(coffer_kms_get_key_rotation_status(e->kms, &e->admin, k.id, &rs));
	assert_false(rs.enabled);

	KT_OK(coffer_kms_enable_key_rotation(e->kms, &e->admin, k.id, 2560));
	KT_OK(coffer_kms_get_key_rotation_status(e->kms, &e->admin, k.id, &rs));
	assert_int_equal(rs.period_days, 2560);
	KT_OK(coffer_kms_enable_key_rotation(e->kms, &e->admin, k.id, 90));
	KT_OK(coffer_kms_get_key_rotation_status(e->kms, &e->admin, k.id, &rs));
	assert_int_equal(rs.period_days, 90);
	/* 0 means the configured default (365). */
	KT_OK(coffer_kms_enable_key_rotation(e->kms, &e->admin, k.id, 0));
	KT_OK(coffer_kms_get_key_rotation_status(e->kms, &e->admin, k.id, &rs));
	assert_true(rs.enabled);
	assert_int_equal(rs.period_days, 365);
	assert_int_equal(rs.next_rotation_us, KT_START_US + 365 * COFFER_US_PER_DAY);

	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k.id, &info));
	assert_true(info.rotation_enabled);
	assert_int_equal(info.rotation_period_days, 365);
	assert_int_equal(info.next_rotation_us, KT_START_US + 365 * COFFER_US_PER_DAY);
	coffer_kms_key_info_free(&info);

	/* Status needs permission. */
	struct kt_principal alice;
	kt_principal_new(e, "alice", &alice);
	KT_RC(coffer_kms_get_key_rotation_status(e->kms, &alice.caller, k.id, &rs),
	      COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(coffer_kms_enable_key_rotation(e->kms, &alice.caller, k.id, 0), COFFER_E_KMS_ACCESS_DENIED);
	KT_RC(coffer_kms_disable_key_rotation(e->kms, &alice.caller, k.id), COFFER_E_KMS_ACCESS_DENIED);
}

static void test_configured_default_period(void **state)
{
	(void)state;
	struct kt_env *e = kt_env_new(NULL);
	e->cfg.default_rotation_days = 100;
	kt_env_open(e);
	struct kt_key k;
	struct coffer_kms_rotation_status rs;
	kt_key_new(e, &e->admin, &k);
	KT_OK(coffer_kms_enable_key_rotation(e->kms, &e->admin, k.id, 0));
	memset(&rs, 0, sizeof(rs));
	KT_OK(coffer_kms_get_key_rotation_status(e->kms, &e->admin, k.id, &rs));
	assert_int_equal(rs.period_days, 100);
	kt_env_free(e);
}

static void test_reopen_after_rotations(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k, k2;
	struct blobs bs, bs2;
	memset(&bs, 0, sizeof(bs));
	memset(&bs2, 0, sizeof(bs2));
	kt_key_new(e, &e->admin, &k);
	kt_key_new(e, &e->admin, &k2);
	blobs_add(e, &bs, k.id);
	blobs_add(e, &bs2, k2.id);
	KT_OK(coffer_kms_rotate_key_on_demand(e->kms, &e->admin, k.id));
	blobs_add(e, &bs, k.id);
	KT_OK(coffer_kms_rotate_key_on_demand(e->kms, &e->admin, k.id));
	blobs_add(e, &bs, k.id);
	KT_OK(coffer_kms_enable_key_rotation(e->kms, &e->admin, k.id, 90));
	kt_advance_days(e, 91);
	KT_OK(coffer_kms_tick(e->kms));
	blobs_add(e, &bs, k.id);
	KT_OK(coffer_kms_rotate_key_on_demand(e->kms, &e->admin, k.id));
	blobs_add(e, &bs, k.id);
	assert_int_equal(versions(e, k.id), 5);
	struct coffer_kms_rotation_status before;
	memset(&before, 0, sizeof(before));
	KT_OK(coffer_kms_get_key_rotation_status(e->kms, &e->admin, k.id, &before));

	kt_env_reopen(e);
	assert_int_equal(versions(e, k.id), 5);
	assert_int_equal(versions(e, k2.id), 1);
	blobs_check(e, &bs);
	blobs_check(e, &bs2);
	struct coffer_kms_rotation_status after;
	memset(&after, 0, sizeof(after));
	KT_OK(coffer_kms_get_key_rotation_status(e->kms, &e->admin, k.id, &after));
	assert_true(after.enabled);
	assert_int_equal(after.period_days, before.period_days);
	assert_int_equal(after.next_rotation_us, before.next_rotation_us);
	assert_int_equal(after.on_demand_rotation_us, before.on_demand_rotation_us);

	/* New blobs after reopen use a version that survives another reopen. */
	blobs_add(e, &bs, k.id);
	kt_env_reopen(e);
	blobs_check(e, &bs);
	blobs_free(&bs);
	blobs_free(&bs2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_on_demand, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_automatic, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_periods, kt_setup, kt_teardown),
		cmocka_unit_test(test_configured_default_period),
		cmocka_unit_test_setup_teardown(test_reopen_after_rotations, kt_setup, kt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
