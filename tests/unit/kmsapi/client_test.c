/*
 * client_test.c - the SigV4 client (kms_client.h) against a running
 * build/coffer-kms: every typed call and the error codes it maps (the same
 * COFFER_E_KMS_* the engine returns), wrong secret and unknown access key,
 * throttling (server --quota-rate 5: without retries the client reports
 * ThrottlingException, with retries every call succeeds), a server restart in
 * the middle of a run (pooled connections die; the client reconnects and no
 * call fails), an unreachable endpoint and a server that never answers
 * (COFFER_E_UNAVAILABLE within the timeout), HTTPS with the server's
 * certificate, and a client shared by several threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kmsapi/kms_client.h"
#include "kmsapi/kmsapi_test_helper.h"
#include "util/alloc.h"

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

static struct coffer_kms_client *client_for(const struct kat_server *s, uint32_t attempts,
					    const char *secret_override)
{
	struct coffer_kms_client_config cfg;
	struct coffer_kms_client *c = NULL;

	coffer_kms_client_config_default(&cfg);
	cfg.endpoint = s->url;
	cfg.access_key_id = s->akid;
	cfg.secret_access_key = secret_override ? coffer_slice_str(secret_override)
						: coffer_slice_of(s->secret.ptr, s->secret.len);
	cfg.ca_file = s->cert[0] ? s->cert : NULL;
	cfg.timeout_us = 5 * COFFER_US_PER_SEC;
	cfg.max_attempts = attempts;
	cfg.backoff_base_us = 20000;
	cfg.backoff_max_us = 400000;
	OK(coffer_kms_client_new(&cfg, &c));
	return c;
}

static int setup(void **state)
{
	struct kat_server *s;

	if (!kat_binary()) {
		fprintf(stderr, "coffer-kms not built; skipping\n");
		return 0;
	}
	s = COFFER_NEW(struct kat_server);
	kat_init(s, false);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct kat_server *s = *state;

	if (s) {
		kat_cleanup(s);
		free(s);
	}
	return 0;
}

#define NEED_SERVER(state)                                                                 \
	do {                                                                               \
		if (!*(state))                                                             \
			skip();                                                            \
	} while (0)

/* The operations cofferd uses, end to end. */
static void roundtrip(struct kat_server *s)
{
	struct coffer_kms_client *c = client_for(s, 3, NULL);
	struct coffer_kms_key_info info = {0};
	struct coffer_kms_create_key_req kreq = {.description = "client test"};
	struct coffer_kms_context_pair pairs[] = {{"keyspace", "ks"}, {"table", "t"}};
	struct coffer_kms_context ctx = {pairs, 2};
	struct coffer_kms_context_pair wrong_pairs[] = {{"keyspace", "ks"}, {"table", "u"}};
	struct coffer_kms_context wrong = {wrong_pairs, 2};
	struct coffer_buf blob = {0}, blob2 = {0}, blob3 = {0};
	struct coffer_secret pt = {0}, pt2 = {0};
	struct coffer_kms_grant_list gl = {0};
	struct coffer_kms_create_grant_req greq = {0};
	char arn[COFFER_KMS_ARN_MAX], arn2[COFFER_KMS_ARN_MAX], key_id[COFFER_KMS_KEY_ID_MAX];
	char gid[COFFER_KMS_GRANT_ID_MAX], gid2[COFFER_KMS_GRANT_ID_MAX];
	char *token = NULL, *raw = NULL;
	struct coffer_kms_client_stats st;

	OK(coffer_kms_client_create_key(c, NULL, &kreq, &info));
	assert_string_equal(info.description, "client test");
	assert_int_equal(info.state, COFFER_KMS_KEY_ENABLED);
	assert_true(info.creation_us > 0);
	snprintf(key_id, sizeof(key_id), "%s", info.key_id);
	coffer_kms_key_info_free(&info);
	OK(coffer_kms_client_create_alias(c, NULL, "alias/client", key_id));
	OK(coffer_kms_client_describe_key(c, NULL, "alias/client", &info));
	assert_string_equal(info.key_id, key_id);
	coffer_kms_key_info_free(&info);

	/* data keys */
	OK(coffer_kms_client_generate_data_key(c, NULL, "alias/client", 32, &ctx, &pt, &blob, arn));
	assert_int_equal(pt.len, 32);
	assert_non_null(strstr(arn, key_id));
	OK(coffer_kms_client_decrypt(c, NULL, coffer_buf_slice(&blob), &ctx, NULL, &pt2, arn2));
	assert_int_equal(pt2.len, 32);
	assert_memory_equal(pt.ptr, pt2.ptr, 32);
	assert_string_equal(arn, arn2);
	coffer_secret_free(&pt2);
	RC(coffer_kms_client_decrypt(c, NULL, coffer_buf_slice(&blob), &wrong, NULL, &pt2, arn2),
	   COFFER_E_KMS_INVALID_CIPHERTEXT);
	RC(coffer_kms_client_decrypt(c, NULL, coffer_buf_slice(&blob), NULL, NULL, &pt2, arn2),
	   COFFER_E_KMS_INVALID_CIPHERTEXT);
	assert_null(pt2.ptr);
	OK(coffer_kms_client_generate_data_key_without_plaintext(c, NULL, key_id, 16, NULL, &blob2,
								 arn));
	OK(coffer_kms_client_decrypt(c, NULL, coffer_buf_slice(&blob2), NULL, key_id, &pt2, arn));
	assert_int_equal(pt2.len, 16);
	coffer_secret_free(&pt2);

	/* encrypt, re-encrypt */
	coffer_buf_reset(&blob2);
	OK(coffer_kms_client_encrypt(c, NULL, key_id, coffer_slice_str("hello"), &ctx, &blob2, arn));
	OK(coffer_kms_client_reencrypt(c, NULL, coffer_buf_slice(&blob2), &ctx, NULL, key_id, NULL,
				       &blob3, arn, arn2));
	OK(coffer_kms_client_decrypt(c, NULL, coffer_buf_slice(&blob3), NULL, NULL, &pt2, arn));
	assert_int_equal(pt2.len, 5);
	assert_memory_equal(pt2.ptr, "hello", 5);
	coffer_secret_free(&pt2);
	RC(coffer_kms_client_encrypt(c, NULL, "alias/none", coffer_slice_str("x"), NULL, &blob3, arn),
	   COFFER_E_KMS_NOT_FOUND);

	/* key states */
	OK(coffer_kms_client_disable_key(c, NULL, key_id));
	RC(coffer_kms_client_decrypt(c, NULL, coffer_buf_slice(&blob), &ctx, NULL, &pt2, arn),
	   COFFER_E_KMS_DISABLED);
	OK(coffer_kms_client_enable_key(c, NULL, key_id));

	/* grants */
	greq.key_ref = key_id;
	greq.grantee_principal = "arn:aws:iam::000000000000:user/admin";
	greq.operations = COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT) |
			  COFFER_KMS_OP_BIT(COFFER_KMS_OP_RETIRE_GRANT);
	greq.context_subset = &ctx;
	greq.name = "cofferd-table";
	OK(coffer_kms_client_create_grant(c, NULL, &greq, gid, &token));
	greq.context_subset = NULL;
	greq.name = NULL;
	OK(coffer_kms_client_create_grant(c, NULL, &greq, gid2, NULL));
	OK(coffer_kms_client_list_grants(c, NULL, key_id, NULL, NULL, 0, NULL, &gl));
	assert_int_equal(gl.n, 2);
	for (size_t i = 0; i < gl.n; i++) {
		assert_int_equal(gl.grants[i].operations, greq.operations);
		if (strcmp(gl.grants[i].grant_id, gid) == 0) {
			assert_true(gl.grants[i].has_context_subset);
			assert_int_equal(gl.grants[i].n_context_subset, 2);
			assert_string_equal(gl.grants[i].name, "cofferd-table");
		}
	}
	coffer_kms_grant_list_free(&gl);
	OK(coffer_kms_client_list_grants(c, NULL, key_id, NULL, NULL, 1, NULL, &gl));
	assert_int_equal(gl.n, 1);
	assert_true(gl.truncated);
	assert_non_null(gl.next_marker);
	coffer_kms_grant_list_free(&gl);
	OK(coffer_kms_client_retire_grant(c, NULL, token, NULL, NULL));
	OK(coffer_kms_client_revoke_grant(c, NULL, key_id, gid2));
	RC(coffer_kms_client_revoke_grant(c, NULL, key_id, gid2), COFFER_E_KMS_NOT_FOUND);
	OK(coffer_kms_client_list_grants(c, NULL, key_id, NULL, NULL, 0, NULL, &gl));
	assert_int_equal(gl.n, 0);
	coffer_kms_grant_list_free(&gl);

	/* the raw call */
	OK(coffer_kms_client_call(c, "ListKeys", coffer_slice_str("{}"), &raw));
	assert_non_null(strstr(raw, key_id));
	free(raw);
	RC(coffer_kms_client_call(c, "NoSuchOp", coffer_slice_str("{}"), &raw),
	   COFFER_E_KMS_UNSUPPORTED_OPERATION);

	/* everything above went over one kept-alive connection */
	coffer_kms_client_stats(c, &st);
	assert_int_equal(st.connects, 1);
	assert_int_equal(st.retries, 0);

	free(token);
	coffer_secret_free(&pt);
	coffer_buf_free(&blob);
	coffer_buf_free(&blob2);
	coffer_buf_free(&blob3);
	coffer_kms_client_free(c);
}

static void test_roundtrip_http(void **state)
{
	struct kat_server *s = *state;

	NEED_SERVER(state);
	kat_start(s, 0, NULL);
	roundtrip(s);
	assert_int_equal(kat_stop(s), 0);
}

static void test_roundtrip_https(void **state)
{
	struct kat_server *s = *state;
	struct coffer_kms_client_config cfg;
	struct coffer_kms_client *c;
	struct coffer_kms_key_info info = {0};

	NEED_SERVER(state);
	kat_cleanup(s);
	kat_init(s, true);
	kat_start(s, 0, NULL);
	assert_int_equal(strncmp(s->url, "https://", 8), 0);
	roundtrip(s);

	/* without the certificate in its trust store the client refuses */
	coffer_kms_client_config_default(&cfg);
	cfg.endpoint = s->url;
	cfg.access_key_id = s->akid;
	cfg.secret_access_key = coffer_slice_of(s->secret.ptr, s->secret.len);
	cfg.max_attempts = 1;
	OK(coffer_kms_client_new(&cfg, &c));
	RC(coffer_kms_client_describe_key(c, NULL, "alias/client", &info), COFFER_E_UNAVAILABLE);
	assert_non_null(strstr(coffer_error_msg(), "certificate"));
	coffer_kms_client_free(c);
	assert_int_equal(kat_stop(s), 0);
}

static void test_auth_errors(void **state)
{
	struct kat_server *s = *state;
	struct coffer_kms_client *c;
	struct coffer_kms_client_config cfg;
	char *raw = NULL;

	NEED_SERVER(state);
	kat_start(s, 0, NULL);
	c = client_for(s, 3, "0123456789012345678901234567890123456789");
	RC(coffer_kms_client_call(c, "ListKeys", coffer_slice_str("{}"), &raw),
	   COFFER_E_KMS_INVALID_SIGNATURE);
	coffer_kms_client_free(c);

	coffer_kms_client_config_default(&cfg);
	cfg.endpoint = s->url;
	cfg.access_key_id = "CKIAUNKNOWNUNKNOWN00";
	cfg.secret_access_key = coffer_slice_of(s->secret.ptr, s->secret.len);
	OK(coffer_kms_client_new(&cfg, &c));
	RC(coffer_kms_client_call(c, "ListKeys", coffer_slice_str("{}"), &raw),
	   COFFER_E_KMS_UNRECOGNIZED_CLIENT);
	coffer_kms_client_free(c);

	cfg.region = "us-east-1";
	cfg.access_key_id = s->akid;
	OK(coffer_kms_client_new(&cfg, &c));
	RC(coffer_kms_client_call(c, "ListKeys", coffer_slice_str("{}"), &raw),
	   COFFER_E_KMS_INVALID_SIGNATURE);
	coffer_kms_client_free(c);

	/* bad configurations are refused up front */
	cfg.endpoint = "ftp://x";
	RC(coffer_kms_client_new(&cfg, &c), COFFER_E_INVALID);
	cfg.endpoint = "http://127.0.0.1:99999";
	RC(coffer_kms_client_new(&cfg, &c), COFFER_E_INVALID);
	cfg.endpoint = "http://127.0.0.1:1/path";
	RC(coffer_kms_client_new(&cfg, &c), COFFER_E_INVALID);
	assert_int_equal(kat_stop(s), 0);
}

static void test_throttling(void **state)
{
	static const char *const args[] = {"--quota-rate", "5", NULL};
	struct kat_server *s = *state;
	struct coffer_kms_client *c, *admin;
	struct coffer_kms_key_info info = {0};
	struct coffer_kms_client_stats st;
	struct coffer_buf blob = {0};
	struct coffer_secret pt = {0};
	char arn[COFFER_KMS_ARN_MAX];
	int throttled = 0;
	coffer_rc rc;

	NEED_SERVER(state);
	kat_start(s, 0, args);
	admin = client_for(s, 10, NULL);
	OK(coffer_kms_client_create_key(admin, NULL, NULL, &info));
	OK(coffer_kms_client_generate_data_key_without_plaintext(admin, NULL, info.key_id, 32, NULL,
								 &blob, arn));

	/* No retries: a burst beyond the quota reports ThrottlingException. */
	c = client_for(s, 1, NULL);
	for (int i = 0; i < 30; i++) {
		rc = coffer_kms_client_decrypt(c, NULL, coffer_buf_slice(&blob), NULL, NULL, &pt, arn);
		if (rc == COFFER_E_KMS_THROTTLING)
			throttled++;
		else
			assert_int_equal(rc, COFFER_OK);
		coffer_secret_free(&pt);
	}
	assert_true(throttled > 0);
	coffer_kms_client_free(c);

	/* With retries and backoff every call gets through. */
	for (int i = 0; i < 15; i++) {
		OK(coffer_kms_client_decrypt(admin, NULL, coffer_buf_slice(&blob), NULL, NULL, &pt,
					     arn));
		coffer_secret_free(&pt);
	}
	coffer_kms_client_stats(admin, &st);
	assert_true(st.throttled > 0);
	assert_true(st.retries > 0);
	coffer_kms_key_info_free(&info);
	coffer_buf_free(&blob);
	coffer_kms_client_free(admin);
	assert_int_equal(kat_stop(s), 0);
}

struct restart_run {
	struct coffer_kms_client *c;
	struct coffer_buf *blob;
	volatile int done;
	int calls;
	int failures;
};

static void *restart_worker(void *arg)
{
	struct restart_run *r = arg;
	char arn[COFFER_KMS_ARN_MAX];

	while (!r->done) {
		struct coffer_secret pt = {0};

		if (coffer_kms_client_decrypt(r->c, NULL, coffer_buf_slice(r->blob), NULL, NULL, &pt,
					      arn) != COFFER_OK) {
			fprintf(stderr, "call failed during restart: %s: %s\n",
				coffer_rc_name(coffer_error_code()), coffer_error_msg());
			r->failures++;
		}
		coffer_secret_free(&pt);
		r->calls++;
	}
	return NULL;
}

static void test_server_restart(void **state)
{
	struct kat_server *s = *state;
	struct coffer_kms_key_info info = {0};
	struct coffer_kms_client_stats st;
	struct coffer_buf blob = {0};
	struct restart_run run;
	struct timespec pause = {0, 300 * 1000 * 1000};
	char arn[COFFER_KMS_ARN_MAX];
	pthread_t th;
	uint16_t port;
	int before;

	NEED_SERVER(state);
	kat_start(s, 0, NULL);
	port = s->port;
	memset(&run, 0, sizeof(run));
	run.c = client_for(s, 12, NULL);
	run.blob = &blob;
	OK(coffer_kms_client_create_key(run.c, NULL, NULL, &info));
	OK(coffer_kms_client_generate_data_key_without_plaintext(run.c, NULL, info.key_id, 32, NULL,
								 &blob, arn));
	assert_int_equal(pthread_create(&th, NULL, restart_worker, &run), 0);
	nanosleep(&pause, NULL);
	before = run.calls;
	assert_true(before > 0);
	/* stop in the middle of the run, stay down a moment, come back */
	assert_int_equal(kat_stop(s), 0);
	nanosleep(&pause, NULL);
	kat_start(s, port, NULL);
	nanosleep(&pause, NULL);
	nanosleep(&pause, NULL);
	run.done = 1;
	pthread_join(th, NULL);
	assert_int_equal(run.failures, 0);
	assert_true(run.calls > before + 1);
	coffer_kms_client_stats(run.c, &st);
	assert_true(st.connects >= 2);
	coffer_kms_key_info_free(&info);
	coffer_buf_free(&blob);
	coffer_kms_client_free(run.c);
	assert_int_equal(kat_stop(s), 0);
}

static void test_unreachable_and_timeout(void **state)
{
	struct coffer_kms_client_config cfg;
	struct coffer_kms_client *c;
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	char url[64], *raw = NULL;
	struct timespec t0, t1;
	int fd;

	/* a port nobody listens on */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(a.sin_port));
	coffer_kms_client_config_default(&cfg);
	cfg.endpoint = url;
	cfg.access_key_id = "CKIAAAAAAAAAAAAAAAAA";
	cfg.secret_access_key = coffer_slice_str("secret");
	cfg.max_attempts = 3;
	cfg.backoff_base_us = 1000;
	cfg.timeout_us = 300000;
	OK(coffer_kms_client_new(&cfg, &c));
	RC(coffer_kms_client_call(c, "ListKeys", coffer_slice_str("{}"), &raw), COFFER_E_UNAVAILABLE);

	/* a server that accepts (backlog) and never answers: the deadline holds */
	assert_int_equal(listen(fd, 4), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	RC(coffer_kms_client_call(c, "ListKeys", coffer_slice_str("{}"), &raw), COFFER_E_UNAVAILABLE);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 4);
	assert_non_null(strstr(coffer_error_msg(), "timed out"));
	coffer_kms_client_free(c);
	close(fd);
}

struct mt_arg {
	struct coffer_kms_client *c;
	const char *key_id;
	int failures;
};

static void *mt_worker(void *p)
{
	struct mt_arg *a = p;
	char arn[COFFER_KMS_ARN_MAX];

	for (int i = 0; i < 50; i++) {
		struct coffer_secret pt = {0}, pt2 = {0};
		struct coffer_buf blob = {0};

		if (coffer_kms_client_generate_data_key(a->c, NULL, a->key_id, 32, NULL, &pt, &blob,
							arn) != COFFER_OK ||
		    coffer_kms_client_decrypt(a->c, NULL, coffer_buf_slice(&blob), NULL, NULL, &pt2,
					      arn) != COFFER_OK ||
		    pt2.len != 32 || memcmp(pt.ptr, pt2.ptr, 32) != 0)
			a->failures++;
		coffer_secret_free(&pt);
		coffer_secret_free(&pt2);
		coffer_buf_free(&blob);
	}
	return NULL;
}

static void test_shared_by_threads(void **state)
{
	struct kat_server *s = *state;
	struct coffer_kms_key_info info = {0};
	struct mt_arg args[4];
	pthread_t th[4];
	struct coffer_kms_client *c;

	NEED_SERVER(state);
	kat_start(s, 0, NULL);
	c = client_for(s, 3, NULL);
	OK(coffer_kms_client_create_key(c, NULL, NULL, &info));
	for (int i = 0; i < 4; i++) {
		args[i] = (struct mt_arg){c, info.key_id, 0};
		assert_int_equal(pthread_create(&th[i], NULL, mt_worker, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	coffer_kms_key_info_free(&info);
	coffer_kms_client_free(c);
	assert_int_equal(kat_stop(s), 0);
}

static void test_read_credentials(void **state)
{
	char path[] = "/tmp/coffer-creds-XXXXXX";
	const char *text = "# comment\n[other]\naws_access_key_id = NOPE\n"
			   "[default]\r\naws_access_key_id = CKIAEXAMPLE\naws_secret_access_key= "
			   "abc/def+ghi \n";
	struct coffer_secret secret;
	char *akid;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	OK(coffer_kms_client_read_credentials(path, NULL, &akid, &secret));
	assert_string_equal(akid, "CKIAEXAMPLE");
	assert_int_equal(secret.len, 11);
	assert_memory_equal(secret.ptr, "abc/def+ghi", 11);
	free(akid);
	coffer_secret_free(&secret);
	RC(coffer_kms_client_read_credentials(path, "missing", &akid, &secret), COFFER_E_INVALID);
	unlink(path);
	RC(coffer_kms_client_read_credentials(path, NULL, &akid, &secret), COFFER_E_IO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_credentials),
		cmocka_unit_test(test_unreachable_and_timeout),
		cmocka_unit_test_setup_teardown(test_roundtrip_http, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_https, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throttling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_by_threads, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	coffer_crypto_init(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
