/*
 * kms_test_helper.c - fixtures shared by every KMS unit test binary: a fresh
 * engine per test over a temporary directory and a manual clock, result checks
 * that print the engine's message, and file helpers for the at-rest scans.
 * The directory a test made is always removed at teardown.
 */
#include "kms/kms_test_helper.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/bytes.h"

void kt_check_rc(coffer_rc got, coffer_rc want, const char *expr, const char *file, int line)
{
	if (got == want)
		return;
	print_error("%s:%d: %s\n  expected %s, got %s: %s (at %s)\n", file, line, expr,
		    coffer_rc_name(want), coffer_rc_name(got), coffer_error_msg(),
		    coffer_error_where());
	_fail(file, line);
}

void kt_check_rc2(coffer_rc got, coffer_rc a, coffer_rc b, const char *expr, const char *file,
		  int line)
{
	if (got == a || got == b)
		return;
	print_error("%s:%d: %s\n  expected %s or %s, got %s: %s (at %s)\n", file, line, expr,
		    coffer_rc_name(a), coffer_rc_name(b), coffer_rc_name(got), coffer_error_msg(),
		    coffer_error_where());
	_fail(file, line);
}

void kt_msg_has(const char *needle, const char *file, int line)
{
	const char *msg = coffer_error_msg();
	if (msg && strstr(msg, needle))
		return;
	print_error("%s:%d: error message \"%s\" does not mention \"%s\"\n", file, line,
		    msg ? msg : "(null)", needle);
	_fail(file, line);
}

struct kt_env *kt_env_new(const char *base)
{
	struct kt_env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	coffer_crypto_init(false);
	if (!base) {
		base = getenv("TMPDIR");
		if (!base || !*base)
			base = "/tmp";
	}
	snprintf(e->dir, sizeof(e->dir), "%s/coffer-kms-test-XXXXXX", base);
	assert_non_null(mkdtemp(e->dir));
	coffer_manual_clock_init(&e->clk, KT_START_US);
	coffer_kms_config_default(&e->cfg);
	e->cfg.data_dir = e->dir;
	e->cfg.clock = &e->clk.clock;
	e->cfg.audit_fd = -2;
	e->cfg.quota_rate = 1e9;
	e->cfg.quota_burst = 1e9;
	return e;
}

coffer_rc kt_env_try_open(struct kt_env *e)
{
	assert_null(e->kms);
	coffer_rc rc = coffer_kms_open(&e->cfg, &e->kms);
	if (rc != COFFER_OK) {
		e->kms = NULL;
		return rc;
	}
	snprintf(e->admin_arn, sizeof(e->admin_arn), "%s", coffer_kms_admin_principal(e->kms));
	snprintf(e->service_arn, sizeof(e->service_arn), "%s",
		 coffer_kms_service_principal(e->kms));
	e->admin = kt_caller(e->admin_arn);
	e->service = kt_caller(e->service_arn);
	return COFFER_OK;
}

void kt_env_open(struct kt_env *e)
{
	KT_OK(kt_env_try_open(e));
}

void kt_env_close(struct kt_env *e)
{
	coffer_kms_close(e->kms);
	e->kms = NULL;
}

void kt_env_reopen(struct kt_env *e)
{
	kt_env_close(e);
	kt_env_open(e);
}

void kt_env_free(struct kt_env *e)
{
	if (!e)
		return;
	kt_env_close(e);
	kt_rm_rf(e->dir);
	free(e);
}

void kt_advance_us(struct kt_env *e, int64_t us)
{
	coffer_manual_clock_advance(&e->clk, us);
}

void kt_advance_days(struct kt_env *e, int64_t days)
{
	coffer_manual_clock_advance(&e->clk, days * COFFER_US_PER_DAY);
}

int64_t kt_now_us(const struct kt_env *e)
{
	return coffer_clock_now_us(&e->clk.clock);
}

int kt_setup(void **state)
{
	struct kt_env *e = kt_env_new(NULL);
	kt_env_open(e);
	*state = e;
	return 0;
}

int kt_teardown(void **state)
{
	kt_env_free(*state);
	*state = NULL;
	return 0;
}

struct coffer_kms_caller kt_caller(const char *arn)
{
	struct coffer_kms_caller c = {arn, NULL, 0};
	return c;
}

void kt_key_new(struct kt_env *e, const struct coffer_kms_caller *c, struct kt_key *out)
{
	struct coffer_kms_create_key_req req = {"test key", NULL, false};
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	KT_OK(coffer_kms_create_key(e->kms, c, &req, &info));
	snprintf(out->id, sizeof(out->id), "%s", info.key_id);
	snprintf(out->arn, sizeof(out->arn), "%s", info.arn);
	coffer_kms_key_info_free(&info);
	assert_int_equal(strlen(out->id), 36);
}

void kt_principal_new(struct kt_env *e, const char *name, struct kt_principal *p)
{
	struct coffer_kms_access_key ak;
	memset(&ak, 0, sizeof(ak));
	memset(p, 0, sizeof(*p));
	KT_OK(coffer_kms_principal_create(e->kms, name, &ak));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->arn, sizeof(p->arn), "%s", ak.principal_arn);
	snprintf(p->access_key_id, sizeof(p->access_key_id), "%s", ak.access_key_id);
	assert_int_equal(ak.secret.len, COFFER_KMS_SECRET_KEY_LEN);
	memcpy(p->secret, ak.secret.ptr, COFFER_KMS_SECRET_KEY_LEN);
	p->secret[COFFER_KMS_SECRET_KEY_LEN] = '\0';
	coffer_kms_access_key_free(&ak);
	p->caller = kt_caller(p->arn);
}

coffer_rc kt_encrypt(struct kt_env *e, const struct coffer_kms_caller *c, const char *key_ref,
		     const char *pt, const struct coffer_kms_context *ctx, struct coffer_buf *blob)
{
	char arn[COFFER_KMS_ARN_MAX] = "";
	coffer_buf_reset(blob);
	return coffer_kms_encrypt(e->kms, c, key_ref, coffer_slice_of(pt, strlen(pt)), ctx, blob,
				  arn);
}

coffer_rc kt_decrypt(struct kt_env *e, const struct coffer_kms_caller *c, const struct coffer_buf *blob,
		     const struct coffer_kms_context *ctx, const char *key_ref, const char *want_pt)
{
	struct coffer_secret pt = {NULL, 0};
	char arn[COFFER_KMS_ARN_MAX] = "";
	coffer_rc rc = coffer_kms_decrypt(e->kms, c, coffer_buf_slice(blob), ctx, key_ref, &pt, arn);
	if (rc != COFFER_OK) {
		/* A failed decrypt hands back nothing. */
		assert_null(pt.ptr);
		assert_int_equal(pt.len, 0);
		return rc;
	}
	if (want_pt) {
		assert_int_equal(pt.len, strlen(want_pt));
		assert_memory_equal(pt.ptr, want_pt, pt.len);
	}
	coffer_secret_free(&pt);
	return rc;
}

uint8_t *kt_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		print_error("cannot open %s: %s\n", path, strerror(errno));
		fail();
	}
	size_t cap = 4096, n = 0;
	uint8_t *p = malloc(cap);
	assert_non_null(p);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			p = realloc(p, cap);
			assert_non_null(p);
		}
		size_t got = fread(p + n, 1, cap - n, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	*len = n;
	return p;
}

void kt_write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

void kt_rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		if (d) {
			struct dirent *de;
			while ((de = readdir(d)) != NULL) {
				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				char sub[PATH_MAX];
				snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
				kt_rm_rf(sub);
			}
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

void kt_walk_files(const char *dir, void (*fn)(const char *path, void *arg), void *arg)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char sub[PATH_MAX];
		struct stat st;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (lstat(sub, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			kt_walk_files(sub, fn, arg);
		else if (S_ISREG(st.st_mode))
			fn(sub, arg);
	}
	closedir(d);
}

bool kt_mem_has(const void *hay, size_t hay_len, const void *needle, size_t n)
{
	if (n == 0 || hay_len < n)
		return false;
	return memmem(hay, hay_len, needle, n) != NULL;
}

static void kt_hex(const uint8_t *p, size_t n, bool upper, char *out)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

bool kt_has_secret(const void *hay, size_t hay_len, const void *secret, size_t n)
{
	const uint8_t *s = secret;
	if (kt_mem_has(hay, hay_len, s, n))
		return true;
	char *hex = malloc(2 * n + 1);
	assert_non_null(hex);
	bool hit = false;
	for (int upper = 0; upper < 2 && !hit; upper++) {
		kt_hex(s, n, upper, hex);
		hit = kt_mem_has(hay, hay_len, hex, 2 * n);
	}
	free(hex);
	/* Base64 at each alignment: encode the secret from byte `shift` on and
	 * search only the characters that do not depend on neighbouring bytes
	 * (whole 3-byte groups). */
	for (size_t shift = 0; shift < 3 && !hit && n > shift + 3; shift++) {
		size_t whole = ((n - shift) / 3) * 3;
		char *b64 = coffer_base64_encode(s + shift, whole);
		assert_non_null(b64);
		hit = kt_mem_has(hay, hay_len, b64, strlen(b64));
		free(b64);
	}
	return hit;
}
