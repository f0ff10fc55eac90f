/*
 * fuzz_request_smoke_test.c - the libFuzzer target fuzz/kmsapi_request_fuzz.c
 * run briefly inside `make test` (and under ASan+UBSan in test-asan): every
 * seed of fuzz/corpus/kmsapi_request/, a list of tricky inputs, and 20,000
 * deterministic mutations of the seeds. The target itself aborts on
 * a reply that is not a well-formed JSON error or success, so passing means
 * no crash, no sanitizer report and no malformed reply. The long runs are
 * `make fuzz` (fuzz/run-all).
 */
#define COFFER_FUZZ_ENTRY fuzz_kmsapi_request
#include "../../../fuzz/kmsapi_request_fuzz.c"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "util/fs.h"


static char *src_dir(void)
{
	char *p = coffer_xstrdup(__FILE__), *slash = strrchr(p, '/');

	if (slash)
		*slash = '\0';
	return p;
}

struct seeds {
	struct coffer_buf *items;
	size_t n;
};

static void load_seeds(struct seeds *s)
{
	char *dir = src_dir(), *corpus = coffer_xasprintf("%s/../../../fuzz/corpus/kmsapi_request", dir);
	DIR *d = opendir(corpus);
	struct dirent *e;

	memset(s, 0, sizeof(*s));
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char *path;

		if (e->d_name[0] == '.')
			continue;
		path = coffer_xasprintf("%s/%s", corpus, e->d_name);
		s->items = coffer_xrealloc(s->items, (s->n + 1) * sizeof(*s->items));
		memset(&s->items[s->n], 0, sizeof(s->items[0]));
		assert_int_equal(coffer_fs_read_all(path, 1 << 20, &s->items[s->n]), COFFER_OK);
		s->n++;
		free(path);
	}
	closedir(d);
	free(corpus);
	free(dir);
	assert_true(s->n >= 10);
}

static void run(const void *p, size_t n)
{
	assert_int_equal(fuzz_kmsapi_request(p, n), 0);
}

static void test_seeds_and_tricky_inputs(void **state)
{
	static const char *const tricky[] = {
		"",
		"\x01",
		"\x01\n\n",
		"\x01POST\n\n{}",
		"\x01POST /\nX-Amz-Target: TrentService.Encrypt\n\n{\"KeyId\":\"alias/fuzz\",\"Plaintext\":\"\"}",
		"\x01POST /\nX-Amz-Target: TrentService.Encrypt\n\n{\"KeyId\":\"alias/fuzz\",\"Plaintext\":\"====\"}",
		"\x01POST /\nX-Amz-Target: TrentService.Decrypt\n\n{\"CiphertextBlob\":\"\\u0000\"}",
		"\x01POST /\nX-Amz-Target: TrentService.ListKeys\n\n{\"Limit\":1e400}",
		"\x01POST /\nX-Amz-Target: TrentService.ListKeys\n\n{\"Limit\":-1}",
		"\x01POST /\nX-Amz-Target: TrentService.ListKeys\n\n{\"Limit\":4294967297}",
		"\x01POST /\nX-Amz-Target: TrentService.CreateGrant\n\n{\"KeyId\":\"alias/fuzz\",\"GranteePrincipal\":\"x\",\"Operations\":[]}",
		"\x01POST /\nX-Amz-Target: TrentService.CreateGrant\n\n{\"KeyId\":\"alias/fuzz\",\"GranteePrincipal\":\"x\",\"Operations\":[\"Decrypt\"],\"Constraints\":[]}",
		"\x01POST /\nX-Amz-Target: TrentService.Encrypt\n\n{\"KeyId\":\"alias/fuzz\",\"Plaintext\":\"aA==\",\"GrantTokens\":[1]}",
		"\x01POST /\nX-Amz-Target: TrentService.Encrypt\n\n{\"KeyId\":\"alias/fuzz\",\"Plaintext\":\"aA==\",\"GrantTokens\":[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}",
		"\x01POST /%zz?%zz=%\nX-Amz-Target: TrentService.ListKeys\n\n{}",
		"\x01POST /../../..\nX-Amz-Target: TrentService.ListKeys\n\n{}",
		"\x01POST /\nHost:\nX-Amz-Target:\n\n{}",
		"\x00POST /\nAuthorization: AWS4-HMAC-SHA256 \n\n",
		"\x00POST /\nAuthorization: AWS4-HMAC-SHA256 Credential=////, SignedHeaders=;, Signature=\n"
		"X-Amz-Target: TrentService.ListKeys\n\n",
		"\x00POST /\nX-Amz-Target: TrentService.ListKeys\nX-Amz-Date: 99999999T999999Z\n"
		"Authorization: AWS4-HMAC-SHA256 Credential=a/99999999/local/kms/aws4_request, "
		"SignedHeaders=host;x-amz-date;x-amz-target, Signature="
		"0000000000000000000000000000000000000000000000000000000000000000\n\n",
		"\x02GET /metrics\n\n",
	};
	struct seeds s;

	for (size_t i = 0; i < COFFER_ARRAY_LEN(tricky); i++)
		run(tricky[i], i == 0 ? 0
				      : tricky[i][0] ? strlen(tricky[i]) : 1 + strlen(tricky[i] + 1));
	load_seeds(&s);
	for (size_t i = 0; i < s.n; i++) {
		run(s.items[i].ptr, s.items[i].len);
		coffer_buf_free(&s.items[i]);
	}
	free(s.items);
}

/* xorshift: the same mutations on every run, so a failure reproduces. */
static uint64_t rng(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void test_mutations(void **state)
{
	static const char dict[][24] = {"\"", "{", "}", "[", "]", ":", ",", "null", "true", "1e9",
					"-0", "\\u0000", "%", "\n", ";", "=", "/..", "alias/fuzz",
					"TrentService.", "\"KeyId\"", "AAAA"};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	struct seeds s;
	uint8_t buf[8192];

	load_seeds(&s);
	for (int it = 0; it < 20000; it++) {
		const struct coffer_buf *seed = &s.items[rng(&x) % s.n];
		size_t n = seed->len < sizeof(buf) ? seed->len : sizeof(buf);
		int edits = 1 + (int)(rng(&x) % 4);

		memcpy(buf, seed->ptr, n);
		for (int k = 0; k < edits && n > 1; k++) {
			size_t at = 1 + rng(&x) % (n - 1);

			switch (rng(&x) % 4) {
			case 0: /* flip a byte */
				buf[at] ^= (uint8_t)(1u << (rng(&x) % 8));
				break;
			case 1: /* truncate */
				n = at;
				break;
			case 2: { /* insert a dictionary token */
				const char *t = dict[rng(&x) % COFFER_ARRAY_LEN(dict)];
				size_t tl = strlen(t);

				if (n + tl < sizeof(buf)) {
					memmove(buf + at + tl, buf + at, n - at);
					memcpy(buf + at, t, tl);
					n += tl;
				}
				break;
			}
			default: /* delete a run */
				if (at < n) {
					size_t del = 1 + rng(&x) % (n - at);

					memmove(buf + at, buf + at + del, n - at - del);
					n -= del;
				}
			}
		}
		run(buf, n);
	}
	for (size_t i = 0; i < s.n; i++)
		coffer_buf_free(&s.items[i]);
	free(s.items);
}

static int cleanup(void **state)
{
	char *cmd;

	if (fz.ready) {
		coffer_kms_access_key_free(&fz.key);
		coffer_kms_close(fz.kms);
		cmd = coffer_xasprintf("rm -rf %s", fz.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", fz.dir);
		free(cmd);
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seeds_and_tricky_inputs),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, cleanup);
}
