/*
 * fuzz_smoke.h - the driver the fuzz smoke tests share: a libFuzzer target's
 * entry (the test #includes the target's .c with COFFER_FUZZ_ENTRY renamed)
 * run over every seed of fuzz/corpus/<name>/ and over deterministic mutations of the seeds (bit flips,
 * truncations, dictionary tokens inserted, runs deleted; byte 0, which many
 * targets read as flags, is kept). The targets abort on anything wrong, so a
 * passing test means no crash, no sanitizer report and no broken invariant
 * in every build (`make test`, and ASan+UBSan in `make test-asan`); the long
 * runs are `make fuzz`.
 *
 * Header-only: each smoke test is one binary that includes it once.
 */
#ifndef COFFER_TEST_FUZZ_SMOKE_H
#define COFFER_TEST_FUZZ_SMOKE_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/fs.h"

struct fuzz_smoke {
	const char *name;                           /* the corpus: fuzz/corpus/<name>/ */
	int (*one)(const uint8_t *data, size_t size); /* the target's entry */
	size_t min_seeds;                           /* fewer seeds found fails the test */
	const char *const *dict;                    /* tokens mutations insert */
	size_t n_dict;
	int mutations;                              /* how many mutated inputs */
};

struct fuzz_seeds {
	struct coffer_buf *items;
	size_t n;
};

static void fuzz_seeds_load(const struct fuzz_smoke *f, struct fuzz_seeds *s)
{
	char *dir = coffer_xstrdup(__FILE__), *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	char *corpus = coffer_xasprintf("%s/../../fuzz/corpus/%s", dir, f->name);
	DIR *d = opendir(corpus);
	struct dirent *e;
	memset(s, 0, sizeof(*s));
	if (!d)
		fail_msg("no seed corpus %s", corpus);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char *path = coffer_xasprintf("%s/%s", corpus, e->d_name);
		s->items = coffer_xrealloc(s->items, (s->n + 1) * sizeof(*s->items));
		memset(&s->items[s->n], 0, sizeof(s->items[0]));
		assert_int_equal(coffer_fs_read_all(path, 1 << 20, &s->items[s->n]), COFFER_OK);
		s->n++;
		free(path);
	}
	closedir(d);
	free(corpus);
	free(dir);
	if (s->n < f->min_seeds)
		fail_msg("%zu seeds in fuzz/corpus/%s, expected at least %zu", s->n, f->name, f->min_seeds);
}

static void fuzz_seeds_free(struct fuzz_seeds *s)
{
	for (size_t i = 0; i < s->n; i++)
		coffer_buf_free(&s->items[i]);
	free(s->items);
}

/* Every seed as is. */
static void fuzz_smoke_seeds(const struct fuzz_smoke *f)
{
	struct fuzz_seeds s;
	fuzz_seeds_load(f, &s);
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(f->one(s.items[i].ptr, s.items[i].len), 0);
	fuzz_seeds_free(&s);
}

/* xorshift: the same mutations on every run, so a failure reproduces. */
static uint64_t fuzz_rng(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void fuzz_smoke_mutations(const struct fuzz_smoke *f)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	struct fuzz_seeds s;
	static uint8_t buf[8192];
	fuzz_seeds_load(f, &s);
	for (int it = 0; it < f->mutations; it++) {
		const struct coffer_buf *seed = &s.items[fuzz_rng(&x) % s.n];
		size_t n = seed->len < sizeof(buf) ? seed->len : sizeof(buf);
		int edits = 1 + (int)(fuzz_rng(&x) % 4);
		memcpy(buf, seed->ptr, n);
		for (int k = 0; k < edits && n > 1; k++) {
			size_t at = 1 + fuzz_rng(&x) % (n - 1);
			switch (fuzz_rng(&x) % 4) {
			case 0: /* flip a bit */
				buf[at] ^= (uint8_t)(1u << (fuzz_rng(&x) % 8));
				break;
			case 1: /* truncate */
				n = at;
				break;
			case 2: { /* insert a dictionary token */
				if (!f->n_dict)
					break;
				const char *t = f->dict[fuzz_rng(&x) % f->n_dict];
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
					size_t del = 1 + fuzz_rng(&x) % (n - at);
					memmove(buf + at, buf + at + del, n - at - del);
					n -= del;
				}
			}
		}
		assert_int_equal(f->one(buf, n), 0);
	}
	fuzz_seeds_free(&s);
}

static const struct fuzz_smoke *fuzz_smoke_current;

static void fuzz_smoke_test_seeds(void **state)
{
	(void)state;
	fuzz_smoke_seeds(fuzz_smoke_current);
	assert_int_equal(fuzz_smoke_current->one(NULL, 0), 0);
}

static void fuzz_smoke_test_mutations(void **state)
{
	(void)state;
	fuzz_smoke_mutations(fuzz_smoke_current);
}

/* A smoke test's whole main: the seeds (and the empty input), then the
 * mutations, as two cmocka tests. */
__attribute__((unused)) static int fuzz_smoke_main(const struct fuzz_smoke *f)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fuzz_smoke_test_seeds),
		cmocka_unit_test(fuzz_smoke_test_mutations),
	};
	fuzz_smoke_current = f;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
