/* provider_remote_test.c - the remote provider against a real build/coffer-kms,
 * acting as the coffer-service principal (credentials from `coffer-kms
 * principal create coffer-service`), with the checks the embedded provider's
 * test makes: the service key (found by ListKeys + DescribeKey) and a customer
 * key carrying a table keyring, cached keys costing no KMS call, an online key
 * change both ways, a disabled key refused with COFFER_E_KMS_DISABLED and
 * recovering once enabled; plus unknown keys (NOT_FOUND), a wrong context
 * (INVALID_CIPHERTEXT), grants (tokens sent as GrantTokens, created and
 * retired through the provider), and the KMS stopped (COFFER_E_UNAVAILABLE
 * after the client's retries) then restarted on the same port (working
 * again, with the same provider). Skips when coffer-kms is not built. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keys/keys.h"
#include "keys_helper.h"
#include "kmsapi/kms_client.h"
#include "util/alloc.h"

/* The helper that runs coffer-kms lives with the kmsapi tests; the build
 * links only this folder's helpers, so it is compiled in here. */
#include "kmsapi/kmsapi_test_helper.c"

#define TID "0a7c1e55-3b1d-4c6e-8f00-92d1e3a4b5c6"
#define SERVICE_ARN "arn:aws:iam::000000000000:user/coffer-service"

#define OK(expr)                                                                           \
	do {                                                                               \
		coffer_rc rc_ = (expr);                                                    \
		if (rc_ != COFFER_OK)                                                      \
			fprintf(stderr, "%s: %s: %s\n", #expr, coffer_rc_name(rc_),        \
				coffer_error_msg());                                       \
		assert_int_equal(rc_, COFFER_OK);                                          \
	} while (0)

#define RC(expr, want)                                                                     \
	do {                                                                               \
		coffer_rc rc_ = (expr);                                                    \
		if (rc_ != (want))                                                         \
			fprintf(stderr, "%s: got %s (%s), want %s\n", #expr,               \
				coffer_rc_name(rc_), coffer_error_msg(), coffer_rc_name(want)); \
		assert_int_equal(rc_, (want));                                             \
	} while (0)

struct fixture {
	struct kat_server s;
	char *svc_akid;
	struct coffer_secret svc_secret;
};

/* `coffer-kms principal create coffer-service` before the daemon starts (the
 * store has one writer), its output kept as a shared-credentials file. */
static void make_service_credentials(struct fixture *f)
{
	char cmd[4 * PATH_MAX + 128], path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/service.credentials", f->s.dir);
	snprintf(cmd, sizeof(cmd), "umask 077; %s principal create coffer-service --data %s > %s",
		 kat_binary(), f->s.data, path);
	assert_int_equal(system(cmd), 0);
	OK(coffer_kms_client_read_credentials(path, "coffer-service", &f->svc_akid, &f->svc_secret));
}

static int setup(void **state)
{
	if (!kat_binary()) {
		fprintf(stderr, "coffer-kms not built; skipping\n");
		return 0;
	}
	coffer_crypto_init(false);
	struct fixture *f = COFFER_NEW(struct fixture);
	kat_init(&f->s, false);
	make_service_credentials(f);
	kat_start(&f->s, 0, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f) {
		kat_cleanup(&f->s);
		free(f->svc_akid);
		coffer_secret_free(&f->svc_secret);
		free(f);
	}
	return 0;
}

static void client_cfg(const struct fixture *f, bool service, struct coffer_kms_client_config *cfg)
{
	coffer_kms_client_config_default(cfg);
	cfg->endpoint = f->s.url;
	cfg->access_key_id = service ? f->svc_akid : f->s.akid;
	cfg->secret_access_key = service ? coffer_slice_of(f->svc_secret.ptr, f->svc_secret.len)
					 : coffer_slice_of(f->s.secret.ptr, f->s.secret.len);
	/* short, so the outage case is quick: 3 attempts of at most 1 s */
	cfg->timeout_us = COFFER_US_PER_SEC;
	cfg->max_attempts = 3;
	cfg->backoff_base_us = 20000;
	cfg->backoff_max_us = 200000;
}

static void create_key(struct coffer_kms_client *admin, const char *policy,
		       struct coffer_kms_key_info *out)
{
	struct coffer_kms_create_key_req req = {.description = "remote provider test", .policy = policy};
	memset(out, 0, sizeof(*out));
	OK(coffer_kms_client_create_key(admin, NULL, &req, out));
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_remote(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	struct coffer_kms_client_config cfg;
	struct coffer_kms_client *admin;
	struct coffer_key_provider *p;
	client_cfg(f, false, &cfg);
	OK(coffer_kms_client_new(&cfg, &admin));
	client_cfg(f, true, &cfg);
	OK(coffer_key_provider_remote(&cfg, &p));
	assert_string_equal(coffer_key_provider_remote_endpoint(p), f->s.url);

	/* The service key: found, service-owned, enabled; the admin cannot see it. */
	char svc[COFFER_KEY_ARN_MAX];
	OK(coffer_key_provider_remote_service_key(p, svc));
	struct coffer_key_description d;
	OK(coffer_key_provider_describe_key(p, svc, &d));
	assert_true(d.service_owned);
	assert_int_equal(d.state, COFFER_KEY_STATE_ENABLED);
	assert_string_equal(d.arn, svc);
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	RC(coffer_kms_client_describe_key(admin, NULL, svc, &info), COFFER_E_KMS_ACCESS_DENIED);

	/* A customer key whose policy lets the service principal use it. */
	char *policy = coffer_xasprintf(
		"{\"Version\":\"2012-10-17\",\"Statement\":["
		"{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::000000000000:root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"},"
		"{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"%s\"},\"Action\":[\"kms:Decrypt\",\"kms:GenerateDataKey\",\"kms:DescribeKey\",\"kms:ReEncrypt*\",\"kms:CreateGrant\",\"kms:RetireGrant\"],\"Resource\":\"*\"}]}",
		SERVICE_ARN);
	struct coffer_kms_key_info cmk;
	create_key(admin, policy, &cmk);

	/* A table keyring on the service key; cached data keys cost no KMS call. */
	char *dir = test_tmpdir("remote");
	struct coffer_key_cache *cache = coffer_key_cache_new(NULL);
	struct coffer_keyring_config kcfg = {
		.dir = dir, .table_id = TID, .keyspace = "ks", .table = "t",
		.provider = p, .cache = cache, .no_fsync = true,
	};
	struct coffer_keyring *kr;
	struct coffer_secret k, k2;
	OK(coffer_keyring_create(&kcfg, svc, &kr));
	OK(coffer_keyring_new_data_key(kr, 1, COFFER_KEY_PURPOSE_SSTABLE, &k));
	uint64_t calls = coffer_key_provider_total_calls(p);
	for (int i = 0; i < 50; i++) {
		OK(coffer_keyring_data_key(kr, 1, COFFER_KEY_PURPOSE_SSTABLE, &k2));
		coffer_secret_free(&k2);
	}
	assert_int_equal(coffer_key_provider_total_calls(p), calls);

	/* Online change to the customer key. */
	OK(coffer_keyring_change_key(kr, cmk.arn));
	struct coffer_keyring_info ki;
	coffer_keyring_info(kr, &ki);
	assert_string_equal(ki.kms_key_arn, cmk.arn);
	coffer_keyring_close(kr);

	/* Disabled customer key: a cold open fails with the KMS's own code. */
	OK(coffer_kms_client_disable_key(admin, NULL, cmk.key_id));
	OK(coffer_key_provider_describe_key(p, cmk.key_id, &d));
	assert_int_equal(d.state, COFFER_KEY_STATE_DISABLED);
	assert_false(d.service_owned);
	coffer_key_cache_drop(cache, TID);
	RC(coffer_keyring_open(&kcfg, &kr), COFFER_E_KMS_DISABLED);
	OK(coffer_kms_client_enable_key(admin, NULL, cmk.key_id));
	OK(coffer_keyring_open(&kcfg, &kr));
	OK(coffer_keyring_data_key(kr, 1, COFFER_KEY_PURPOSE_SSTABLE, &k2));
	assert_memory_equal(k.ptr, k2.ptr, 32);
	coffer_secret_free(&k2);
	/* and back to the service key */
	OK(coffer_keyring_change_key(kr, svc));
	coffer_keyring_close(kr);

	/* Unknown keys, and a blob used under the wrong context. */
	RC(coffer_key_provider_describe_key(p, "11111111-2222-3333-4444-555555555555", &d),
	   COFFER_E_KMS_NOT_FOUND);
	RC(coffer_key_provider_describe_key(p, "alias/no-such-alias", &d), COFFER_E_KMS_NOT_FOUND);
	struct coffer_key_context_pair tp[] = {{"keyspace", "ks"}, {"table", "t"}};
	struct coffer_key_context tctx = {tp, 2};
	struct coffer_key_context_pair up[] = {{"keyspace", "ks"}, {"table", "u"}};
	struct coffer_key_context uctx = {up, 2};
	struct coffer_buf blob = {0}, blob2 = {0};
	char arn[COFFER_KEY_ARN_MAX];
	struct coffer_secret pt;
	RC(coffer_key_provider_generate_data_key(p, "11111111-2222-3333-4444-555555555555", &tctx,
						 NULL, &pt, &blob, arn),
	   COFFER_E_KMS_NOT_FOUND);
	assert_null(pt.ptr);
	assert_int_equal(blob.len, 0);
	OK(coffer_key_provider_generate_data_key(p, cmk.arn, &tctx, NULL, &k2, &blob, arn));
	assert_string_equal(arn, cmk.arn);
	RC(coffer_key_provider_decrypt(p, coffer_buf_slice(&blob), &uctx, NULL, NULL, &pt, arn),
	   COFFER_E_KMS_INVALID_CIPHERTEXT);
	OK(coffer_key_provider_decrypt(p, coffer_buf_slice(&blob), &tctx, cmk.arn, NULL, &pt, arn));
	assert_memory_equal(pt.ptr, k2.ptr, 32);
	coffer_secret_free(&pt);
	/* ReEncrypt to the service key keeps the context and the key bytes. */
	OK(coffer_key_provider_reencrypt(p, coffer_buf_slice(&blob), &tctx, cmk.arn, svc, NULL,
					 &blob2, arn));
	assert_string_equal(arn, svc);
	OK(coffer_key_provider_decrypt(p, coffer_buf_slice(&blob2), &tctx, NULL, NULL, &pt, arn));
	assert_memory_equal(pt.ptr, k2.ptr, 32);
	coffer_secret_free(&pt);
	coffer_secret_free(&k2);
	coffer_buf_free(&blob);
	coffer_buf_free(&blob2);

	/* Grants: a key whose policy gives the service nothing. The admin's
	 * grant, sent as a GrantToken, is what lets the provider use it; once
	 * the provider retires it, access is gone. */
	struct coffer_kms_key_info locked;
	create_key(admin, NULL, &locked);
	RC(coffer_key_provider_generate_data_key(p, locked.arn, &tctx, NULL, &k2, &blob, arn),
	   COFFER_E_KMS_ACCESS_DENIED);
	struct coffer_kms_context_pair gp[] = {{"table", "t"}};
	struct coffer_kms_context gctx = {gp, 1};
	struct coffer_kms_create_grant_req greq = {
		.key_ref = locked.key_id,
		.grantee_principal = SERVICE_ARN,
		.operations = COFFER_KMS_OP_BIT(COFFER_KMS_OP_GENERATE_DATA_KEY) |
			      COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT) |
			      COFFER_KMS_OP_BIT(COFFER_KMS_OP_RETIRE_GRANT),
		.context_subset = &gctx,
	};
	char gid[COFFER_KMS_GRANT_ID_MAX];
	char *token = NULL;
	OK(coffer_kms_client_create_grant(admin, NULL, &greq, gid, &token));
	const char *toks[] = {token};
	struct coffer_key_grants grants = {toks, 1};
	OK(coffer_key_provider_generate_data_key(p, locked.arn, &tctx, &grants, &k2, &blob, arn));
	OK(coffer_key_provider_decrypt(p, coffer_buf_slice(&blob), &tctx, NULL, &grants, &pt, arn));
	assert_memory_equal(pt.ptr, k2.ptr, 32);
	coffer_secret_free(&pt);
	/* the grant's constraint binds the context */
	RC(coffer_key_provider_generate_data_key(p, locked.arn, &uctx, &grants, &k2, &blob2, arn),
	   COFFER_E_KMS_ACCESS_DENIED);
	OK(coffer_key_provider_retire_grant(p, locked.arn, gid, NULL));
	RC(coffer_key_provider_decrypt(p, coffer_buf_slice(&blob), &tctx, NULL, NULL, &pt, arn),
	   COFFER_E_KMS_ACCESS_DENIED);
	coffer_secret_free(&k2);
	coffer_buf_free(&blob);
	free(token);

	/* The provider's own grant (grantee and retiring principal: itself). */
	struct coffer_key_grant_request preq = {.key_ref = cmk.arn, .context_subset = &tctx,
						.name = "table-" TID};
	char pgid[COFFER_KEY_GRANT_ID_MAX];
	char *ptoken = NULL;
	OK(coffer_key_provider_create_grant(p, &preq, pgid, &ptoken));
	struct coffer_kms_grant_list gl;
	memset(&gl, 0, sizeof(gl));
	OK(coffer_kms_client_list_grants(admin, NULL, cmk.key_id, pgid, NULL, 0, NULL, &gl));
	assert_int_equal(gl.n, 1);
	assert_string_equal(gl.grants[0].grantee_principal, SERVICE_ARN);
	assert_string_equal(gl.grants[0].retiring_principal, SERVICE_ARN);
	coffer_kms_grant_list_free(&gl);
	OK(coffer_key_provider_retire_grant(p, NULL, NULL, ptoken));
	RC(coffer_key_provider_retire_grant(p, NULL, NULL, ptoken), COFFER_E_KMS_NOT_FOUND);
	free(ptoken);

	/* The KMS goes away: UNAVAILABLE after the client's retries, quickly. */
	uint16_t port = f->s.port;
	assert_int_equal(kat_stop(&f->s), 0);
	double t0 = now_s();
	RC(coffer_key_provider_describe_key(p, cmk.key_id, &d), COFFER_E_UNAVAILABLE);
	assert_non_null(strstr(coffer_error_msg(), f->s.url));
	coffer_key_cache_drop(cache, TID);
	RC(coffer_keyring_open(&kcfg, &kr), COFFER_E_UNAVAILABLE);
	assert_true(now_s() - t0 < 10.0);
	char svc2[COFFER_KEY_ARN_MAX];
	RC(coffer_key_provider_remote_service_key(p, svc2), COFFER_E_UNAVAILABLE);

	/* ... and comes back on the same port: the same provider works again. */
	kat_start(&f->s, port, NULL);
	OK(coffer_key_provider_remote_service_key(p, svc2));
	assert_string_equal(svc2, svc);
	OK(coffer_keyring_open(&kcfg, &kr));
	OK(coffer_keyring_data_key(kr, 1, COFFER_KEY_PURPOSE_SSTABLE, &k2));
	assert_memory_equal(k.ptr, k2.ptr, 32);
	coffer_secret_free(&k2);
	coffer_keyring_close(kr);

	coffer_secret_free(&k);
	coffer_key_cache_free(cache);
	coffer_key_provider_free(p);
	coffer_kms_client_free(admin);
	coffer_kms_key_info_free(&cmk);
	coffer_kms_key_info_free(&locked);
	free(policy);
	rmtree(dir);
	free(dir);
}

/* Wrong secret: the KMS's own refusal, not a transport error. */
static void test_bad_credentials(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	struct coffer_kms_client_config cfg;
	struct coffer_key_provider *p;
	client_cfg(f, true, &cfg);
	cfg.secret_access_key = coffer_slice_str("0000000000000000000000000000000000000000");
	OK(coffer_key_provider_remote(&cfg, &p));
	char svc[COFFER_KEY_ARN_MAX];
	RC(coffer_key_provider_remote_service_key(p, svc), COFFER_E_KMS_INVALID_SIGNATURE);
	coffer_key_provider_free(p);
	/* a bad endpoint is refused at creation */
	cfg.endpoint = "ftp://127.0.0.1:1";
	RC(coffer_key_provider_remote(&cfg, &p), COFFER_E_INVALID);
	assert_null(p);
	/* and the embedded provider is not a remote one */
	assert_null(coffer_key_provider_remote_endpoint(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remote),
		cmocka_unit_test(test_bad_credentials),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
