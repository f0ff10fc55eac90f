/*
 * threads_test.c - kms.h promises that every function may be called from any
 * thread. Several threads encrypt, decrypt, generate data keys, create and
 * retire grants and rotate the same keys at once; every call must answer as
 * it would alone, and every blob made meanwhile must decrypt afterwards and
 * after a reopen.
 */
#include "kms/kms_test_helper.h"

#include <pthread.h>

enum { NTHREADS = 4, ROUNDS = 40 };

struct worker {
	struct kt_env *e;
	struct kt_key *keys;
	int idx;
	int failures;
	struct coffer_buf blobs[ROUNDS];
	char pts[ROUNDS][32];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct kt_env *e = w->e;
	char arn[COFFER_KMS_ARN_MAX];
	for (int i = 0; i < ROUNDS; i++) {
		const char *key = w->keys[(w->idx + i) % 2].id;
		snprintf(w->pts[i], sizeof(w->pts[i]), "t%d-r%d", w->idx, i);
		const struct coffer_kms_context_pair p[] = {{"thread", w->pts[i]}};
		const struct coffer_kms_context ctx = {p, 1};
		if (coffer_kms_encrypt(e->kms, &e->admin, key, coffer_slice_str(w->pts[i]), &ctx,
				       &w->blobs[i], arn) != COFFER_OK) {
			w->failures++;
			continue;
		}
		struct coffer_secret pt = {NULL, 0};
		if (coffer_kms_decrypt(e->kms, &e->admin, coffer_buf_slice(&w->blobs[i]), &ctx, NULL,
				       &pt, arn) != COFFER_OK ||
		    pt.len != strlen(w->pts[i]) || memcmp(pt.ptr, w->pts[i], pt.len) != 0)
			w->failures++;
		coffer_secret_free(&pt);
		struct coffer_secret dk = {NULL, 0};
		struct coffer_buf b = {0};
		if (coffer_kms_generate_data_key(e->kms, &e->admin, key, 32, &ctx, &dk, &b, arn) !=
		    COFFER_OK)
			w->failures++;
		coffer_secret_free(&dk);
		coffer_buf_free(&b);
		struct coffer_kms_create_grant_req req = {
			key, e->service_arn, NULL, COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT), NULL, NULL,
			NULL};
		char id[COFFER_KMS_GRANT_ID_MAX];
		char *tok = NULL;
		if (coffer_kms_create_grant(e->kms, &e->admin, &req, id, &tok) != COFFER_OK ||
		    coffer_kms_retire_grant(e->kms, &e->admin, tok, NULL, NULL) != COFFER_OK)
			w->failures++;
		free(tok);
		if (i % 10 == 0 &&
		    coffer_kms_rotate_key_on_demand(e->kms, &e->admin, key) != COFFER_OK)
			w->failures++;
	}
	return NULL;
}

static void test_concurrent_calls(void **state)
{
	struct kt_env *e = *state;
	struct kt_key keys[2];
	kt_key_new(e, &e->admin, &keys[0]);
	kt_key_new(e, &e->admin, &keys[1]);
	struct worker *w = calloc(NTHREADS, sizeof(*w));
	assert_non_null(w);
	pthread_t th[NTHREADS];
	for (int t = 0; t < NTHREADS; t++) {
		w[t].e = e;
		w[t].keys = keys;
		w[t].idx = t;
		assert_int_equal(pthread_create(&th[t], NULL, work, &w[t]), 0);
	}
	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(w[t].failures, 0);

	struct coffer_kms_grant_list l;
	memset(&l, 0, sizeof(l));
	KT_OK(coffer_kms_list_grants(e->kms, &e->admin, keys[0].id, NULL, NULL, 0, NULL, &l));
	assert_int_equal(l.n, 0);
	coffer_kms_grant_list_free(&l);

	kt_env_reopen(e);
	for (int t = 0; t < NTHREADS; t++) {
		for (int i = 0; i < ROUNDS; i++) {
			const struct coffer_kms_context_pair p[] = {{"thread", w[t].pts[i]}};
			const struct coffer_kms_context ctx = {p, 1};
			KT_OK(kt_decrypt(e, &e->admin, &w[t].blobs[i], &ctx, NULL, w[t].pts[i]));
			coffer_buf_free(&w[t].blobs[i]);
		}
	}
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_concurrent_calls, kt_setup, kt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
