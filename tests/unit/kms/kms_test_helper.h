/*
 * kms_test_helper.h - shared fixtures for the KMS engine's unit tests.
 *
 * A struct kt_env is one engine over a fresh mkdtemp() data directory, driven
 * by a manual clock so deletion windows, rotation periods and quotas run in no
 * time. Every test gets its own env (kt_setup/kt_teardown) and the directory
 * is removed at teardown. Quotas are set high by default so that tests that
 * make many calls at one instant are not throttled; quota_test.c lowers them.
 *
 * The KT_OK/KT_RC checks print the AWS error name and the engine's message
 * when a call does not answer what the test expects.
 */
#ifndef COFFER_TESTS_KMS_TEST_HELPER_H
#define COFFER_TESTS_KMS_TEST_HELPER_H

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "kms/kms.h"

#define KT_START_US (INT64_C(1700000000) * COFFER_US_PER_SEC)
#define KT_ACCOUNT "000000000000"
#define KT_REGION "local"
#define KT_UNKNOWN_KEY_ID "11111111-2222-4333-8444-555555555555"
#define KT_UNKNOWN_KEY_ARN "arn:aws:kms:local:000000000000:key/11111111-2222-4333-8444-555555555555"

struct kt_env {
	char dir[PATH_MAX];
	struct coffer_manual_clock clk;
	struct coffer_kms_config cfg;
	struct coffer_kms *kms;
	char admin_arn[COFFER_KMS_ARN_MAX];
	char service_arn[COFFER_KMS_ARN_MAX];
	struct coffer_kms_caller admin;
	struct coffer_kms_caller service;
};

/* A principal created through coffer_kms_principal_create; `caller` points into
 * the struct itself, so keep it where it was filled. */
struct kt_principal {
	char name[65];
	char arn[COFFER_KMS_ARN_MAX];
	char access_key_id[COFFER_KMS_ACCESS_KEY_ID_MAX];
	char secret[COFFER_KMS_SECRET_KEY_LEN + 1];
	struct coffer_kms_caller caller;
};

/* A key created for a test. */
struct kt_key {
	char id[COFFER_KMS_KEY_ID_MAX];
	char arn[COFFER_KMS_ARN_MAX];
};

/* Checks `got` against `want`, failing the test with both names and the
 * engine's message otherwise. */
void kt_check_rc(coffer_rc got, coffer_rc want, const char *expr, const char *file, int line);
/* Accepts either of two codes (where AWS documents both). */
void kt_check_rc2(coffer_rc got, coffer_rc a, coffer_rc b, const char *expr, const char *file,
		  int line);
#define KT_OK(expr) kt_check_rc((expr), COFFER_OK, #expr, __FILE__, __LINE__)
#define KT_RC(expr, want) kt_check_rc((expr), (want), #expr, __FILE__, __LINE__)
#define KT_RC2(expr, a, b) kt_check_rc2((expr), (a), (b), #expr, __FILE__, __LINE__)
/* Fails unless this thread's last error message contains `needle`. */
void kt_msg_has(const char *needle, const char *file, int line);
#define KT_MSG_HAS(needle) kt_msg_has((needle), __FILE__, __LINE__)

/* Environment: new (dir under `base`, NULL for $TMPDIR or /tmp), then optional
 * cfg changes, then open. kt_env_free closes and removes the directory. */
struct kt_env *kt_env_new(const char *base);
coffer_rc kt_env_try_open(struct kt_env *e);
void kt_env_open(struct kt_env *e);
void kt_env_close(struct kt_env *e);
void kt_env_reopen(struct kt_env *e);
void kt_env_free(struct kt_env *e);
void kt_advance_days(struct kt_env *e, int64_t days);
void kt_advance_us(struct kt_env *e, int64_t us);
int64_t kt_now_us(const struct kt_env *e);
/* cmocka setup/teardown: *state is an opened struct kt_env. */
int kt_setup(void **state);
int kt_teardown(void **state);

/* Keys and principals. */
void kt_key_new(struct kt_env *e, const struct coffer_kms_caller *c, struct kt_key *out);
void kt_principal_new(struct kt_env *e, const char *name, struct kt_principal *p);
/* A caller for a principal ARN (no grant tokens). */
struct coffer_kms_caller kt_caller(const char *arn);

/* Crypto shortcuts: encrypt a string; decrypt and assert the plaintext. */
coffer_rc kt_encrypt(struct kt_env *e, const struct coffer_kms_caller *c, const char *key_ref,
		     const char *pt, const struct coffer_kms_context *ctx, struct coffer_buf *blob);
coffer_rc kt_decrypt(struct kt_env *e, const struct coffer_kms_caller *c, const struct coffer_buf *blob,
		     const struct coffer_kms_context *ctx, const char *key_ref, const char *want_pt);

/* Files. */
uint8_t *kt_read_file(const char *path, size_t *len);
void kt_write_file(const char *path, const void *p, size_t n);
void kt_rm_rf(const char *path);
bool kt_mem_has(const void *hay, size_t hay_len, const void *needle, size_t n);
/* Whether `secret` appears in `hay` raw, as hex (either case) or as base64 at
 * any of the three byte alignments. */
bool kt_has_secret(const void *hay, size_t hay_len, const void *secret, size_t n);
/* Calls fn(path) for every regular file under dir, recursively. */
void kt_walk_files(const char *dir, void (*fn)(const char *path, void *arg), void *arg);

#endif
