/*
 * fuzz_response_smoke_test.c - the libFuzzer target fuzz/kms_client_response_fuzz.c
 * run briefly inside `make test` (and under ASan+UBSan in test-asan): every
 * seed of fuzz/corpus/kms_client_response/, a list of tricky inputs, and 20,000
 * deterministic mutations of the seeds. The target itself aborts on
 * a reply that is not a well-formed JSON error or success, so passing means
 * no crash, no sanitizer report and no malformed reply. The long runs are
 * `make fuzz` (fuzz/run-all).
 */
#define COFFER_FUZZ_ENTRY fuzz_kms_client_response
#include "../../../fuzz/kms_client_response_fuzz.c"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "util/alloc.h"
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
	char *dir = src_dir(), *corpus = coffer_xasprintf("%s/../../../fuzz/corpus/kms_client_response", dir);
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
	assert_true(s->n >= 5);
}

static void run(const void *p, size_t n)
{
	assert_int_equal(fuzz_kms_client_response(p, n), 0);
}

static void test_seeds_and_tricky_inputs(void **state)
{
	static const char *const tricky[] = {
		"",
		"H",
		"HTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffff\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}xx0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
		"HTTP/1.1 400 x\r\nx-amzn-ErrorType: #\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 400 x\r\nx-amzn-ErrorType: a#b#c:d\r\nContent-Length: 0\r\n\r\n",
		};
	struct seeds s;

	for (size_t i = 0; i < COFFER_ARRAY_LEN(tricky); i++)
		run(tricky[i], strlen(tricky[i]));
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
	static const char dict[][24] = {"\r\n", "\r\n\r\n", ":", " ", "0", "f", ";", "chunked",
					"Content-Length: ", "Transfer-Encoding: ", "Connection: close",
					"HTTP/1.1 ", "100", "204", "#", "9999999"};
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seeds_and_tricky_inputs),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
