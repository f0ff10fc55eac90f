/*
 * store_test.c - the sealed store of the KMS engine: a reopen keeps keys,
 * states, rotations, aliases, grants, policies and principals; a tampered
 * store or a wrong seal key is COFFER_E_CORRUPT naming the file (never a
 * silent reset); a torn tail is tolerated; file modes; and the at-rest scan
 * (a "Done when" test): no plaintext data key and no secret access key appears
 * in any file under the data directory, raw, hex or base64.
 */
#include "kms/kms_test_helper.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static void store_path(const struct kt_env *e, char *out, size_t n)
{
	snprintf(out, n, "%s/store.log", e->dir);
	struct stat st;
	if (stat(out, &st) != 0) {
		print_error("no store.log in %s\n", e->dir);
		fail();
	}
}

static void sigv4(struct kt_env *e, const char *akid, uint8_t out[32])
{
	char arn[COFFER_KMS_ARN_MAX];
	KT_OK(coffer_kms_sigv4_signing_key(e->kms, akid, "20240115", "local", "kms", out, arn));
}

static void test_reopen_keeps_everything(void **state)
{
	struct kt_env *e = *state;
	struct kt_principal alice;
	struct kt_key k_en, k_dis, k_pend;
	struct coffer_kms_key_info info;
	struct coffer_buf b_en = {0}, b_dis = {0}, b_alice = {0};
	kt_principal_new(e, "alice", &alice);
	kt_key_new(e, &e->admin, &k_en);
	kt_key_new(e, &e->admin, &k_dis);
	kt_key_new(e, &e->admin, &k_pend);
	const struct coffer_kms_context_pair p[] = {{"ks", "one"}};
	const struct coffer_kms_context ctx = {p, 1};

	KT_OK(kt_encrypt(e, &e->admin, k_en.id, "v1", &ctx, &b_en));
	KT_OK(coffer_kms_rotate_key_on_demand(e->kms, &e->admin, k_en.id));
	KT_OK(coffer_kms_enable_key_rotation(e->kms, &e->admin, k_en.id, 100));
	KT_OK(kt_encrypt(e, &e->admin, k_dis.id, "dis", NULL, &b_dis));
	KT_OK(coffer_kms_disable_key(e->kms, &e->admin, k_dis.id));
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_schedule_key_deletion(e->kms, &e->admin, k_pend.id, 10, &info));
	int64_t deletion_us = info.deletion_us;
	coffer_kms_key_info_free(&info);
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/keep", k_en.id));
	struct coffer_kms_create_grant_req req = {
		k_en.id, alice.arn, NULL,
		COFFER_KMS_OP_BIT(COFFER_KMS_OP_ENCRYPT) | COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT), &ctx,
		NULL, "g1"};
	char gid[COFFER_KMS_GRANT_ID_MAX];
	char *tok = NULL;
	KT_OK(coffer_kms_create_grant(e->kms, &e->admin, &req, gid, &tok));
	free(tok);
	KT_OK(kt_encrypt(e, &alice.caller, "alias/keep", "alice", &ctx, &b_alice));
	const char *pol = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
			  "\"Principal\":{\"AWS\":\"arn:aws:iam::000000000000:root\"},"
			  "\"Action\":\"kms:*\",\"Resource\":\"*\"},{\"Effect\":\"Allow\","
			  "\"Principal\":{\"AWS\":\"arn:aws:iam::000000000000:user/alice\"},"
			  "\"Action\":\"kms:DescribeKey\",\"Resource\":\"*\"}]}";
	KT_OK(coffer_kms_put_key_policy(e->kms, &e->admin, k_dis.id, "default", pol, false));
	uint8_t sk_before[32], sk_after[32];
	sigv4(e, alice.access_key_id, sk_before);

	kt_env_reopen(e);

	assert_true(coffer_kms_principal_exists(e->kms, "alice"));
	sigv4(e, alice.access_key_id, sk_after);
	assert_memory_equal(sk_before, sk_after, 32);

	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k_en.id, &info));
	assert_int_equal(info.state, COFFER_KMS_KEY_ENABLED);
	assert_int_equal(info.backing_versions, 2);
	assert_true(info.rotation_enabled);
	assert_int_equal(info.rotation_period_days, 100);
	assert_string_equal(info.description, "test key");
	assert_string_equal(info.creator_arn, e->admin_arn);
	coffer_kms_key_info_free(&info);
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k_dis.id, &info));
	assert_int_equal(info.state, COFFER_KMS_KEY_DISABLED);
	coffer_kms_key_info_free(&info);
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k_pend.id, &info));
	assert_int_equal(info.state, COFFER_KMS_KEY_PENDING_DELETION);
	assert_int_equal(info.deletion_us, deletion_us);
	assert_int_equal(info.pending_window_days, 10);
	coffer_kms_key_info_free(&info);

	/* Alias, grant (with its constraint and name), policy. */
	KT_OK(kt_decrypt(e, &alice.caller, &b_alice, &ctx, "alias/keep", "alice"));
	KT_OK(kt_decrypt(e, &alice.caller, &b_en, &ctx, NULL, "v1"));
	struct coffer_buf tmp = {0};
	KT_RC(kt_encrypt(e, &alice.caller, k_en.id, "x", NULL, &tmp), COFFER_E_KMS_ACCESS_DENIED);
	struct coffer_kms_grant_list gl;
	memset(&gl, 0, sizeof(gl));
	KT_OK(coffer_kms_list_grants(e->kms, &e->admin, k_en.id, NULL, NULL, 0, NULL, &gl));
	assert_int_equal(gl.n, 1);
	assert_string_equal(gl.grants[0].grant_id, gid);
	assert_string_equal(gl.grants[0].name, "g1");
	assert_true(gl.grants[0].has_context_subset);
	coffer_kms_grant_list_free(&gl);
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &alice.caller, k_dis.id, &info));
	coffer_kms_key_info_free(&info);
	KT_RC(kt_decrypt(e, &e->admin, &b_dis, NULL, NULL, NULL), COFFER_E_KMS_DISABLED);
	KT_OK(coffer_kms_enable_key(e->kms, &e->admin, k_dis.id));
	KT_OK(kt_decrypt(e, &e->admin, &b_dis, NULL, NULL, "dis"));

	/* The deletion window keeps running across the reopen. */
	kt_advance_days(e, 11);
	KT_OK(coffer_kms_tick(e->kms));
	memset(&info, 0, sizeof(info));
	KT_RC(coffer_kms_describe_key(e->kms, &e->admin, k_pend.id, &info), COFFER_E_KMS_NOT_FOUND);
	coffer_buf_free(&b_en);
	coffer_buf_free(&b_dis);
	coffer_buf_free(&b_alice);
	coffer_buf_free(&tmp);
}

static void make_some_keys(struct kt_env *e, struct kt_key *keys, int n)
{
	for (int i = 0; i < n; i++)
		kt_key_new(e, &e->admin, &keys[i]);
}

static void test_tampered_store(void **state)
{
	struct kt_env *e = *state;
	struct kt_key keys[6];
	make_some_keys(e, keys, 6);
	kt_env_close(e);
	char path[PATH_MAX + 32];
	store_path(e, path, sizeof(path));
	size_t n;
	uint8_t *orig = kt_read_file(path, &n);
	assert_true(n > 128);
	uint8_t *bad = malloc(n);
	assert_non_null(bad);

	/* A byte in the middle, and bytes at a few other places past the header. */
	size_t spots[] = {n / 2, 70, n / 3, (n * 3) / 4, n - 20};
	for (size_t s = 0; s < sizeof(spots) / sizeof(spots[0]); s++) {
		memcpy(bad, orig, n);
		bad[spots[s]] ^= 0x20;
		kt_write_file(path, bad, n);
		coffer_rc rc = kt_env_try_open(e);
		if (rc != COFFER_E_CORRUPT)
			print_error("flipped byte %zu of %zu\n", spots[s], n);
		KT_RC(rc, COFFER_E_CORRUPT);
		KT_MSG_HAS("store.log");
		assert_null(e->kms);
	}
	/* The damaged file was not reset or rewritten behind our back. */
	size_t n2;
	uint8_t *after = kt_read_file(path, &n2);
	assert_int_equal(n2, n);
	assert_memory_equal(after, bad, n);
	free(after);
	/* The header's magic. */
	memcpy(bad, orig, n);
	bad[0] ^= 1;
	kt_write_file(path, bad, n);
	KT_RC(kt_env_try_open(e), COFFER_E_CORRUPT);
	KT_MSG_HAS("store.log");

	/* Restored, everything is there. */
	kt_write_file(path, orig, n);
	kt_env_open(e);
	for (int i = 0; i < 6; i++) {
		struct coffer_kms_key_info info;
		memset(&info, 0, sizeof(info));
		KT_OK(coffer_kms_describe_key(e->kms, &e->admin, keys[i].id, &info));
		coffer_kms_key_info_free(&info);
	}
	free(orig);
	free(bad);
}

static void test_wrong_seal_key(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	kt_key_new(e, &e->admin, &k);
	kt_env_close(e);
	char seal[PATH_MAX + 32], other[PATH_MAX + 32], missing[PATH_MAX + 32];
	snprintf(seal, sizeof(seal), "%s/seal.key", e->dir);
	snprintf(other, sizeof(other), "%s/other-seal.key", e->dir);
	snprintf(missing, sizeof(missing), "%s/no-such-dir/seal.key", e->dir);
	size_t n;
	uint8_t *orig = kt_read_file(seal, &n);
	assert_int_equal(n, 32);
	uint8_t rnd[32];
	KT_OK(coffer_random_bytes(rnd, sizeof(rnd)));
	kt_write_file(other, rnd, sizeof(rnd));
	assert_int_equal(chmod(other, 0600), 0);

	/* Another key file named by the config. */
	e->cfg.seal_key_path = other;
	KT_RC(kt_env_try_open(e), COFFER_E_CORRUPT);
	KT_MSG_HAS("seal");
	assert_null(e->kms);
	/* A seal key that does not exist next to an existing store is not a
	 * fresh start. */
	e->cfg.seal_key_path = missing;
	assert_int_not_equal(kt_env_try_open(e), COFFER_OK);
	assert_null(e->kms);

	/* seal.key itself overwritten. */
	e->cfg.seal_key_path = NULL;
	kt_write_file(seal, rnd, sizeof(rnd));
	KT_RC(kt_env_try_open(e), COFFER_E_CORRUPT);
	KT_MSG_HAS("seal");
	/* A seal key of the wrong length. */
	kt_write_file(seal, rnd, 16);
	assert_int_not_equal(kt_env_try_open(e), COFFER_OK);
	assert_null(e->kms);

	/* The right key again: nothing was lost. */
	kt_write_file(seal, orig, n);
	assert_int_equal(chmod(seal, 0600), 0);
	kt_env_open(e);
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k.id, &info));
	coffer_kms_key_info_free(&info);
	free(orig);
}

static void test_torn_tail(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k1, k2, k3;
	struct coffer_buf b1 = {0};
	kt_key_new(e, &e->admin, &k1);
	KT_OK(coffer_kms_create_alias(e->kms, &e->admin, "alias/first", k1.id));
	KT_OK(kt_encrypt(e, &e->admin, k1.id, "before the tear", NULL, &b1));
	kt_key_new(e, &e->admin, &k2);
	kt_env_close(e);
	char path[PATH_MAX + 32];
	store_path(e, path, sizeof(path));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 5), 0);

	kt_env_open(e);
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, "alias/first", &info));
	assert_string_equal(info.key_id, k1.id);
	coffer_kms_key_info_free(&info);
	KT_OK(kt_decrypt(e, &e->admin, &b1, NULL, NULL, "before the tear"));
	/* The store keeps working after the cut, across another reopen. */
	kt_key_new(e, &e->admin, &k3);
	kt_env_reopen(e);
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k3.id, &info));
	coffer_kms_key_info_free(&info);
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k1.id, &info));
	coffer_kms_key_info_free(&info);
	KT_OK(kt_decrypt(e, &e->admin, &b1, NULL, NULL, "before the tear"));
	coffer_buf_free(&b1);
}

/* The tail rules of the store: a partial record at the end (a crash in
 * mid-append, never acknowledged) is cut; nothing before it is lost. */
static void test_torn_tail_partial_appends(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	kt_key_new(e, &e->admin, &k);
	kt_env_close(e);
	char path[PATH_MAX + 32];
	store_path(e, path, sizeof(path));
	size_t n;
	uint8_t *orig = kt_read_file(path, &n);
	/* Two bytes of a length field; a length with a few zero bytes of the
	 * record it announces. */
	static const uint8_t part1[] = {0x00, 0x00};
	static const uint8_t part2[] = {0x00, 0x00, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0, 0};
	const struct {
		const uint8_t *p;
		size_t n;
	} tails[] = {{part1, sizeof(part1)}, {part2, sizeof(part2)}};
	for (size_t t = 0; t < 2; t++) {
		uint8_t *buf = malloc(n + tails[t].n);
		assert_non_null(buf);
		memcpy(buf, orig, n);
		memcpy(buf + n, tails[t].p, tails[t].n);
		kt_write_file(path, buf, n + tails[t].n);
		free(buf);
		kt_env_open(e);
		struct coffer_kms_key_info info;
		memset(&info, 0, sizeof(info));
		KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k.id, &info));
		coffer_kms_key_info_free(&info);
		/* Appends after the cut are readable after another reopen. */
		struct kt_key k2;
		kt_key_new(e, &e->admin, &k2);
		kt_env_reopen(e);
		memset(&info, 0, sizeof(info));
		KT_OK(coffer_kms_describe_key(e->kms, &e->admin, k2.id, &info));
		coffer_kms_key_info_free(&info);
		kt_env_close(e);
		kt_write_file(path, orig, n);
	}
	free(orig);
}

/* A damaged length field of a record that is not the last one must not pass
 * for a torn tail: that would silently drop every later record (keys!). */
static void test_damaged_length_is_not_a_torn_tail(void **state)
{
	struct kt_env *e = *state;
	struct kt_key keys[4];
	make_some_keys(e, keys, 4);
	kt_env_close(e);
	char path[PATH_MAX + 32];
	store_path(e, path, sizeof(path));
	size_t n;
	uint8_t *orig = kt_read_file(path, &n);
	uint8_t *bad = malloc(n);
	assert_non_null(bad);
	/* The first record starts after the 64-byte header (store.c's layout). */
	assert_true(n > 64 + 4);
	for (size_t off = 64; off < 68; off++) {
		static const uint8_t flips[] = {0x01, 0x10, 0x80};
		for (size_t f = 0; f < sizeof(flips); f++) {
			memcpy(bad, orig, n);
			bad[off] ^= flips[f];
			kt_write_file(path, bad, n);
			coffer_rc rc = kt_env_try_open(e);
			if (rc != COFFER_E_CORRUPT) {
				struct coffer_kms_key_info info;
				memset(&info, 0, sizeof(info));
				coffer_rc drc = coffer_kms_describe_key(e->kms, &e->admin, keys[3].id,
									&info);
				coffer_kms_key_info_free(&info);
				kt_env_close(e);
				struct stat st;
				assert_int_equal(stat(path, &st), 0);
				print_error("length byte at %zu xor 0x%02x of a %zu-byte store: opened; "
					    "a key created before is now %s; store.log is now %lld bytes\n",
					    off, flips[f], n, coffer_rc_name(drc), (long long)st.st_size);
			}
			KT_RC(rc, COFFER_E_CORRUPT);
			KT_MSG_HAS("store.log");
		}
	}
	kt_write_file(path, orig, n);
	kt_env_open(e);
	free(orig);
	free(bad);
}

static void test_modes(void **state)
{
	(void)state;
	struct kt_env *e = kt_env_new(NULL);
	char sub[PATH_MAX + 16];
	snprintf(sub, sizeof(sub), "%s/data", e->dir);
	e->cfg.data_dir = sub;
	mode_t old = umask(0);
	coffer_rc rc = kt_env_try_open(e);
	umask(old);
	KT_OK(rc);
	struct stat st;
	assert_int_equal(stat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/seal.key", sub);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);
	struct kt_key k;
	kt_key_new(e, &e->admin, &k);
	snprintf(p, sizeof(p), "%s/store.log", sub);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0077, 0);
	kt_env_free(e);
}

/* ---- the at-rest scan ------------------------------------------------------ */

enum { MAX_SECRETS = 64 };

struct secrets {
	uint8_t *p[MAX_SECRETS];
	size_t n[MAX_SECRETS];
	const char *what[MAX_SECRETS];
	size_t count;
	size_t files;
	size_t bytes;
	size_t hits;
};

static void keep(struct secrets *s, const void *p, size_t n, const char *what)
{
	assert_true(s->count < MAX_SECRETS);
	assert_true(n >= 16);
	s->p[s->count] = malloc(n);
	assert_non_null(s->p[s->count]);
	memcpy(s->p[s->count], p, n);
	s->n[s->count] = n;
	s->what[s->count] = what;
	s->count++;
}

static void scan_file(const char *path, void *arg)
{
	struct secrets *s = arg;
	size_t n;
	uint8_t *data = kt_read_file(path, &n);
	s->files++;
	s->bytes += n;
	for (size_t i = 0; i < s->count; i++) {
		if (kt_has_secret(data, n, s->p[i], s->n[i])) {
			print_error("%s (secret %zu) found in %s\n", s->what[i], i, path);
			s->hits++;
		}
	}
	free(data);
}

static void keep_principal(struct secrets *s, const struct kt_principal *p)
{
	keep(s, p->secret, COFFER_KMS_SECRET_KEY_LEN, "secret access key");
}

static void keep_access_key(struct kt_env *e, struct secrets *s, const char *name)
{
	struct coffer_kms_access_key ak;
	memset(&ak, 0, sizeof(ak));
	KT_OK(coffer_kms_principal_add_access_key(e->kms, name, &ak));
	keep(s, ak.secret.ptr, ak.secret.len, "secret access key (added)");
	coffer_kms_access_key_free(&ak);
}

static void gdk_keep(struct kt_env *e, const struct coffer_kms_caller *c, struct secrets *s,
		     const char *key, uint32_t nbytes, const struct coffer_kms_context *ctx,
		     struct coffer_buf *blob)
{
	struct coffer_secret dk = {NULL, 0}, back = {NULL, 0};
	char arn[COFFER_KMS_ARN_MAX];
	coffer_buf_reset(blob);
	KT_OK(coffer_kms_generate_data_key(e->kms, c, key, nbytes, ctx, &dk, blob, arn));
	keep(s, dk.ptr, dk.len, "data key");
	KT_OK(coffer_kms_decrypt(e->kms, c, coffer_buf_slice(blob), ctx, NULL, &back, arn));
	assert_int_equal(back.len, dk.len);
	assert_memory_equal(back.ptr, dk.ptr, dk.len);
	coffer_secret_free(&dk);
	coffer_secret_free(&back);
}

static void test_scan_no_secrets_at_rest(void **state)
{
	(void)state;
	struct kt_env *e = kt_env_new(NULL);
	e->cfg.audit_fd = -1; /* audit.log in the data dir, scanned too */
	kt_env_open(e);
	struct secrets s;
	memset(&s, 0, sizeof(s));
	struct kt_principal alice, bob;
	struct kt_key k1, k2;
	struct coffer_buf blob = {0}, blob2 = {0};
	char arn[COFFER_KMS_ARN_MAX], arn2[COFFER_KMS_ARN_MAX];
	const struct coffer_kms_context_pair p[] = {{"keyspace", "ks"}, {"table", "t"}};
	const struct coffer_kms_context ctx = {p, 2};

	kt_principal_new(e, "alice", &alice);
	kt_principal_new(e, "bob", &bob);
	keep_principal(&s, &alice);
	keep_principal(&s, &bob);
	keep_access_key(e, &s, "admin");
	keep_access_key(e, &s, "coffer-service");
	keep_access_key(e, &s, "alice");

	kt_key_new(e, &e->admin, &k1);
	kt_key_new(e, &e->admin, &k2);
	gdk_keep(e, &e->admin, &s, k1.id, 32, &ctx, &blob);
	gdk_keep(e, &e->admin, &s, k1.id, 32, NULL, &blob);
	gdk_keep(e, &e->admin, &s, k2.id, 16, &ctx, &blob);
	gdk_keep(e, &e->admin, &s, k2.id, 64, NULL, &blob);
	KT_OK(coffer_kms_rotate_key_on_demand(e->kms, &e->admin, k1.id));
	gdk_keep(e, &e->admin, &s, k1.id, 32, &ctx, &blob);
	KT_OK(coffer_kms_rotate_key_on_demand(e->kms, &e->admin, k1.id));
	KT_OK(coffer_kms_enable_key_rotation(e->kms, &e->admin, k1.id, 90));
	kt_advance_days(e, 91);
	KT_OK(coffer_kms_tick(e->kms));
	gdk_keep(e, &e->admin, &s, k1.id, 1024, &ctx, &blob);

	/* A data key made without plaintext, learnt through Decrypt. */
	for (int i = 0; i < 2; i++) {
		struct coffer_secret back = {NULL, 0};
		coffer_buf_reset(&blob);
		KT_OK(coffer_kms_generate_data_key_without_plaintext(e->kms, &e->admin, k2.id, 32, &ctx,
								     &blob, arn));
		KT_OK(coffer_kms_decrypt(e->kms, &e->admin, coffer_buf_slice(&blob), &ctx, NULL, &back,
					 arn));
		keep(&s, back.ptr, back.len, "data key (without plaintext)");
		coffer_secret_free(&back);
		/* Re-encrypted to the other key and decrypted again. */
		coffer_buf_reset(&blob2);
		KT_OK(coffer_kms_reencrypt(e->kms, &e->admin, coffer_buf_slice(&blob), &ctx, NULL, k1.id,
					   NULL, &blob2, arn, arn2));
		KT_OK(coffer_kms_decrypt(e->kms, &e->admin, coffer_buf_slice(&blob2), NULL, NULL, &back,
					 arn));
		coffer_secret_free(&back);
	}
	/* A user plaintext given to Encrypt. */
	uint8_t user[48];
	KT_OK(coffer_random_bytes(user, sizeof(user)));
	coffer_buf_reset(&blob);
	KT_OK(coffer_kms_encrypt(e->kms, &e->admin, k2.id, coffer_slice_of(user, sizeof(user)), &ctx,
				 &blob, arn));
	keep(&s, user, sizeof(user), "Encrypt plaintext");

	/* The service key, through the service principal, and a grant to alice. */
	char svc[COFFER_KMS_ARN_MAX];
	KT_OK(coffer_kms_service_key(e->kms, svc));
	gdk_keep(e, &e->service, &s, svc, 32, &ctx, &blob);
	struct coffer_kms_create_grant_req req = {
		k1.id, alice.arn, NULL, COFFER_KMS_OP_BIT(COFFER_KMS_OP_GENERATE_DATA_KEY) |
		COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT), NULL, NULL, "scan"};
	char gid[COFFER_KMS_GRANT_ID_MAX];
	char *tok = NULL;
	KT_OK(coffer_kms_create_grant(e->kms, &e->admin, &req, gid, &tok));
	free(tok);
	gdk_keep(e, &alice.caller, &s, k1.id, 32, &ctx, &blob);

	/* Scan with the engine open, closed, and after another open/close
	 * (which may compact the store). */
	kt_walk_files(e->dir, scan_file, &s);
	kt_env_close(e);
	kt_walk_files(e->dir, scan_file, &s);
	kt_env_open(e);
	gdk_keep(e, &e->admin, &s, k2.id, 32, &ctx, &blob);
	kt_env_close(e);
	kt_walk_files(e->dir, scan_file, &s);
	assert_true(s.files >= 3 * 2); /* store.log and seal.key at least, three scans */
	assert_true(s.bytes > 0);
	assert_int_equal(s.hits, 0);

	/* The search does find a secret that is there, in every encoding and
	 * alignment (so a zero count means something). */
	for (size_t shift = 0; shift < 3; shift++) {
		uint8_t buf[128];
		memset(buf, 'z', sizeof(buf));
		memcpy(buf + shift, s.p[0], s.n[0]);
		char *b64 = coffer_base64_encode(buf, shift + s.n[0] + 2);
		assert_true(kt_has_secret(b64, strlen(b64), s.p[0], s.n[0]));
		free(b64);
		char *hex = coffer_hex_encode(buf, shift + s.n[0]);
		assert_true(kt_has_secret(hex, strlen(hex), s.p[0], s.n[0]));
		free(hex);
		assert_true(kt_has_secret(buf, sizeof(buf), s.p[0], s.n[0]));
	}

	for (size_t i = 0; i < s.count; i++)
		free(s.p[i]);
	coffer_buf_free(&blob);
	coffer_buf_free(&blob2);
	kt_env_free(e);
}

/* One engine per data directory: a second open (another daemon, a cofferd,
 * `coffer-kms principal create` while the daemon runs) is refused while the
 * first is open, and works once it is closed. */
static void test_second_engine_refused(void **state)
{
	struct kt_env *e = *state;
	struct coffer_kms *second = NULL;
	assert_int_equal(coffer_kms_open(&e->cfg, &second), COFFER_E_STATE);
	assert_null(second);
	assert_non_null(strstr(coffer_error_msg(), "in use by another process"));
	kt_env_close(e);
	assert_int_equal(coffer_kms_open(&e->cfg, &second), COFFER_OK);
	coffer_kms_close(second);
	kt_env_open(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_tampered_store, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_wrong_seal_key, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_partial_appends, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_length_is_not_a_torn_tail, kt_setup,
						kt_teardown),
		cmocka_unit_test_setup_teardown(test_second_engine_refused, kt_setup, kt_teardown),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_scan_no_secrets_at_rest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
