/*
 * audit_test.c - the KMS engine's audit trail and usage counters: one JSON
 * line per call (time, principal, operation, key, encryption context, grant
 * used, result), failures logged with the AWS error name, no key material or
 * plaintext in the audit file, the default audit.log in the data directory,
 * and coffer_kms_usage() per key and operation.
 */
#include "kms/kms_test_helper.h"

#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	struct kt_env *e;
	char audit_path[PATH_MAX + 32];
	int fd;
	struct kt_principal alice;
	struct kt_principal bob;
	struct kt_key k;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->e = kt_env_new(NULL);
	snprintf(f->audit_path, sizeof(f->audit_path), "%s/audit-test.jsonl", f->e->dir);
	f->fd = open(f->audit_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(f->fd >= 0);
	f->e->cfg.audit_fd = f->fd;
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
	kt_env_close(f->e);
	close(f->fd);
	kt_env_free(f->e);
	free(f);
	return 0;
}

/* The audit lines so far; each must be a JSON object. */
static size_t audit_lines(struct fixture *f, json_t **last)
{
	size_t n;
	uint8_t *data = kt_read_file(f->audit_path, &n);
	size_t count = 0;
	size_t start = 0;
	if (last)
		*last = NULL;
	for (size_t i = 0; i < n; i++) {
		if (data[i] != '\n')
			continue;
		json_error_t err;
		json_t *o = json_loadb((const char *)data + start, i - start, 0, &err);
		if (!o || !json_is_object(o)) {
			print_error("audit line %zu is not a JSON object: %.*s\n", count, (int)(i - start),
				    (const char *)data + start);
			fail();
		}
		count++;
		if (last) {
			json_decref(*last);
			*last = o;
		} else {
			json_decref(o);
		}
		start = i + 1;
	}
	assert_int_equal(start, n); /* no partial line */
	free(data);
	return count;
}

static const char *str_field(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	if (!v || !json_is_string(v)) {
		char *dump = json_dumps(o, JSON_COMPACT);
		print_error("audit line has no string \"%s\": %s\n", name, dump ? dump : "?");
		free(dump);
		fail();
	}
	return json_string_value(v);
}

static void test_one_line_per_call(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	struct coffer_buf b = {0};
	json_t *last = NULL;
	const struct coffer_kms_context_pair p[] = {{"purpose", "audit-test"}, {"table", "t1"}};
	const struct coffer_kms_context ctx = {p, 2};

	size_t n0 = audit_lines(f, NULL);
	KT_OK(kt_encrypt(e, &e->admin, f->k.id, "USER-VALUE-must-not-be-logged", &ctx, &b));
	assert_int_equal(audit_lines(f, &last), n0 + 1);
	char when[32];
	coffer_time_iso8601(kt_now_us(e), when);
	assert_string_equal(str_field(last, "time"), when);
	assert_string_equal(str_field(last, "principal"), e->admin_arn);
	assert_string_equal(str_field(last, "operation"), "Encrypt");
	assert_non_null(strstr(str_field(last, "key"), f->k.id));
	assert_string_equal(str_field(last, "result"), "OK");
	json_t *c = json_object_get(last, "encryption_context");
	assert_non_null(c);
	assert_true(json_is_object(c));
	assert_string_equal(json_string_value(json_object_get(c, "purpose")), "audit-test");
	assert_string_equal(json_string_value(json_object_get(c, "table")), "t1");
	json_decref(last);

	/* A call through a grant names the grant. */
	struct coffer_kms_create_grant_req req = {
		f->k.id, f->alice.arn, NULL, COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT), NULL, NULL, NULL};
	char gid[COFFER_KMS_GRANT_ID_MAX];
	char *tok = NULL;
	KT_OK(coffer_kms_create_grant(e->kms, &e->admin, &req, gid, &tok));
	free(tok);
	assert_int_equal(audit_lines(f, &last), n0 + 2);
	assert_string_equal(str_field(last, "operation"), "CreateGrant");
	json_decref(last);
	kt_advance_us(e, 1500000);
	KT_OK(kt_decrypt(e, &f->alice.caller, &b, &ctx, NULL, "USER-VALUE-must-not-be-logged"));
	assert_int_equal(audit_lines(f, &last), n0 + 3);
	coffer_time_iso8601(kt_now_us(e), when);
	assert_string_equal(str_field(last, "time"), when);
	assert_string_equal(str_field(last, "principal"), f->alice.arn);
	assert_string_equal(str_field(last, "operation"), "Decrypt");
	assert_string_equal(str_field(last, "grant"), gid);
	assert_string_equal(str_field(last, "result"), "OK");
	json_decref(last);

	/* Failures are logged with the error name, and the caller keeps its
	 * error detail. */
	KT_RC(kt_decrypt(e, &f->bob.caller, &b, &ctx, NULL, NULL), COFFER_E_KMS_ACCESS_DENIED);
	KT_MSG_HAS(f->k.id);
	assert_int_equal(audit_lines(f, &last), n0 + 4);
	assert_string_equal(str_field(last, "principal"), f->bob.arn);
	assert_string_equal(str_field(last, "operation"), "Decrypt");
	assert_string_equal(str_field(last, "result"), "AccessDeniedException");
	json_decref(last);

	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_RC(coffer_kms_describe_key(e->kms, &e->admin, KT_UNKNOWN_KEY_ID, &info),
	      COFFER_E_KMS_NOT_FOUND);
	KT_MSG_HAS(KT_UNKNOWN_KEY_ID);
	assert_int_equal(audit_lines(f, &last), n0 + 5);
	assert_string_equal(str_field(last, "operation"), "DescribeKey");
	assert_string_equal(str_field(last, "result"), "NotFoundException");
	json_decref(last);

	KT_OK(coffer_kms_disable_key(e->kms, &e->admin, f->k.id));
	KT_RC(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b), COFFER_E_KMS_DISABLED);
	assert_int_equal(audit_lines(f, &last), n0 + 7);
	assert_string_equal(str_field(last, "result"), "DisabledException");
	json_decref(last);

	/* Calls that name no key still get a line. */
	struct coffer_secret r = {NULL, 0};
	KT_OK(coffer_kms_generate_random(e->kms, &e->admin, 32, &r));
	coffer_secret_free(&r);
	struct coffer_kms_key_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_keys(e->kms, &e->admin, 0, NULL, &l));
	coffer_kms_key_list_free(&l);
	assert_int_equal(audit_lines(f, &last), n0 + 9);
	assert_string_equal(str_field(last, "operation"), "ListKeys");
	json_decref(last);
	coffer_buf_free(&b);
}

static void test_no_key_material(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	const struct coffer_kms_context_pair p[] = {{"purpose", "audit-test"}};
	const struct coffer_kms_context ctx = {p, 1};
	enum { N = 4 };
	uint8_t keys[N][32];
	struct coffer_buf b = {0};
	char arn[COFFER_KMS_ARN_MAX];
	for (int i = 0; i < N; i++) {
		struct coffer_secret dk = {NULL, 0}, back = {NULL, 0};
		coffer_buf_reset(&b);
		KT_OK(coffer_kms_generate_data_key(e->kms, &e->admin, f->k.id, 32, &ctx, &dk, &b, arn));
		memcpy(keys[i], dk.ptr, 32);
		KT_OK(coffer_kms_decrypt(e->kms, &e->admin, coffer_buf_slice(&b), &ctx, NULL, &back, arn));
		coffer_secret_free(&dk);
		coffer_secret_free(&back);
	}
	uint8_t user[40];
	KT_OK(coffer_random_bytes(user, sizeof(user)));
	coffer_buf_reset(&b);
	KT_OK(coffer_kms_encrypt(e->kms, &e->admin, f->k.id, coffer_slice_of(user, sizeof(user)), &ctx,
				 &b, arn));
	struct coffer_secret back = {NULL, 0};
	KT_OK(coffer_kms_decrypt(e->kms, &e->admin, coffer_buf_slice(&b), &ctx, NULL, &back, arn));
	coffer_secret_free(&back);
	struct coffer_secret r = {NULL, 0};
	KT_OK(coffer_kms_generate_random(e->kms, &e->admin, 32, &r));
	uint8_t rnd[32];
	memcpy(rnd, r.ptr, 32);
	coffer_secret_free(&r);
	/* A failing call with a plaintext in hand. */
	struct coffer_buf b2 = {0};
	KT_RC(coffer_kms_encrypt(e->kms, &f->bob.caller, f->k.id, coffer_slice_of(user, sizeof(user)),
				 &ctx, &b2, arn),
	      COFFER_E_KMS_ACCESS_DENIED);

	size_t n;
	uint8_t *data = kt_read_file(f->audit_path, &n);
	assert_true(n > 0);
	for (int i = 0; i < N; i++)
		assert_false(kt_has_secret(data, n, keys[i], 32));
	assert_false(kt_has_secret(data, n, user, sizeof(user)));
	assert_false(kt_has_secret(data, n, rnd, sizeof(rnd)));
	/* Nor the principals' secret access keys. */
	assert_false(kt_has_secret(data, n, f->alice.secret, COFFER_KMS_SECRET_KEY_LEN));
	assert_false(kt_has_secret(data, n, f->bob.secret, COFFER_KMS_SECRET_KEY_LEN));
	/* But the context (not secret) is there. */
	assert_true(kt_mem_has(data, n, "audit-test", 10));
	free(data);
	coffer_buf_free(&b);
	coffer_buf_free(&b2);
}

static void test_usage_counters(void **state)
{
	struct fixture *f = *state;
	struct kt_env *e = f->e;
	struct kt_key k2;
	struct coffer_buf b = {0};
	kt_key_new(e, &e->admin, &k2);
	assert_int_equal(coffer_kms_usage(e->kms, f->k.id, COFFER_KMS_OP_ENCRYPT), 0);
	for (int i = 0; i < 3; i++)
		KT_OK(kt_encrypt(e, &e->admin, f->k.id, "x", NULL, &b));
	/* A refused call on a resolved key counts too. */
	KT_RC(kt_encrypt(e, &f->bob.caller, f->k.id, "x", NULL, &b), COFFER_E_KMS_ACCESS_DENIED);
	KT_OK(kt_encrypt(e, &e->admin, k2.id, "x", NULL, &b));
	KT_OK(kt_decrypt(e, &e->admin, &b, NULL, NULL, "x"));
	KT_OK(kt_decrypt(e, &e->admin, &b, NULL, NULL, "x"));
	assert_int_equal(coffer_kms_usage(e->kms, f->k.id, COFFER_KMS_OP_ENCRYPT), 4);
	assert_int_equal(coffer_kms_usage(e->kms, f->k.id, COFFER_KMS_OP_DECRYPT), 0);
	assert_int_equal(coffer_kms_usage(e->kms, k2.id, COFFER_KMS_OP_ENCRYPT), 1);
	assert_int_equal(coffer_kms_usage(e->kms, k2.id, COFFER_KMS_OP_DECRYPT), 2);
	struct coffer_secret dk = {NULL, 0};
	char arn[COFFER_KMS_ARN_MAX];
	KT_OK(coffer_kms_generate_data_key(e->kms, &e->admin, f->k.id, 32, NULL, &dk, &b, arn));
	coffer_secret_free(&dk);
	assert_int_equal(coffer_kms_usage(e->kms, f->k.id, COFFER_KMS_OP_GENERATE_DATA_KEY), 1);
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_describe_key(e->kms, &e->admin, f->k.id, &info));
	coffer_kms_key_info_free(&info);
	assert_int_equal(coffer_kms_usage(e->kms, f->k.id, COFFER_KMS_OP_DESCRIBE_KEY), 1);
	/* An unresolved key counts nowhere; unknown ids read 0. */
	KT_RC(kt_encrypt(e, &e->admin, KT_UNKNOWN_KEY_ID, "x", NULL, &b), COFFER_E_KMS_NOT_FOUND);
	assert_int_equal(coffer_kms_usage(e->kms, KT_UNKNOWN_KEY_ID, COFFER_KMS_OP_ENCRYPT), 0);
	/* Counters survive rotation (the key record is replaced). */
	KT_OK(coffer_kms_rotate_key_on_demand(e->kms, &e->admin, f->k.id));
	assert_int_equal(coffer_kms_usage(e->kms, f->k.id, COFFER_KMS_OP_ENCRYPT), 4);
	coffer_buf_free(&b);
}

static void test_default_audit_file(void **state)
{
	(void)state;
	struct kt_env *e = kt_env_new(NULL);
	e->cfg.audit_fd = -1;
	kt_env_open(e);
	struct kt_key k;
	kt_key_new(e, &e->admin, &k);
	struct coffer_buf b = {0};
	KT_OK(kt_encrypt(e, &e->admin, k.id, "x", NULL, &b));
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/audit.log", e->dir);
	size_t n;
	uint8_t *data = kt_read_file(p, &n);
	assert_true(kt_mem_has(data, n, "\"Encrypt\"", 9));
	assert_true(kt_mem_has(data, n, k.id, strlen(k.id)));
	free(data);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0077, 0);
	kt_env_free(e);
	coffer_buf_free(&b);

	/* -2: no audit at all. */
	e = kt_env_new(NULL);
	e->cfg.audit_fd = -2;
	kt_env_open(e);
	kt_key_new(e, &e->admin, &k);
	snprintf(p, sizeof(p), "%s/audit.log", e->dir);
	assert_int_not_equal(access(p, F_OK), 0);
	kt_env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_line_per_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_key_material, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage_counters, setup, teardown),
		cmocka_unit_test(test_default_audit_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
