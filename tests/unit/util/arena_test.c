/*
 * arena_test.c - the bump allocator: alignment, large requests, copies, reset
 * keeping one chunk, and no leaks (checked by ASan in the sanitizer build).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/arena.h"

static void test_alignment_and_total(void **state)
{
	struct coffer_arena a;
	size_t i;

	coffer_arena_init(&a, 0);
	assert_int_equal(a.chunk_size, 16 * 1024);
	for (i = 0; i < 1000; i++) {
		uint8_t *p = coffer_arena_alloc(&a, i % 37 + 1);

		assert_int_equal((uintptr_t)p % 16, 0);
		memset(p, 0xee, i % 37 + 1);
	}
	assert_true(a.total > 0);
	coffer_arena_free(&a);
	assert_null(a.head);
	assert_int_equal(a.total, 0);
}

static void test_distinct_and_zero(void **state)
{
	struct coffer_arena a;
	uint8_t *p, *q, *z;
	size_t i;

	coffer_arena_init(&a, 256);
	p = coffer_arena_alloc(&a, 0);
	q = coffer_arena_alloc(&a, 0);
	assert_non_null(p);
	assert_ptr_not_equal(p, q);
	p = coffer_arena_alloc(&a, 40);
	memset(p, 0xff, 40);
	z = coffer_arena_zalloc(&a, 40);
	for (i = 0; i < 40; i++)
		assert_int_equal(z[i], 0);
	/* Writes to one allocation do not touch the other. */
	for (i = 0; i < 40; i++)
		assert_int_equal(p[i], 0xff);
	coffer_arena_free(&a);
}

static void test_large_and_copies(void **state)
{
	struct coffer_arena a;
	char big[5000];
	char *s, *t, *u;
	uint8_t *small, *huge;

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	coffer_arena_init(&a, 1024);
	small = coffer_arena_alloc(&a, 8);
	huge = coffer_arena_alloc(&a, 100000);
	assert_int_equal((uintptr_t)huge % 16, 0);
	memset(huge, 1, 100000);
	/* The head chunk still serves small requests after a large one. */
	assert_ptr_equal(coffer_arena_alloc(&a, 8), small + 16);

	s = coffer_arena_strdup(&a, big);
	assert_string_equal(s, big);
	t = coffer_arena_strndup(&a, "abcdef", 3);
	assert_string_equal(t, "abc");
	t = coffer_arena_strndup(&a, "ab", 10);
	assert_string_equal(t, "ab");
	u = coffer_arena_memdup(&a, "x\0y", 3);
	assert_memory_equal(u, "x\0y", 3);
	assert_non_null(coffer_arena_memdup(&a, NULL, 0));
	assert_true(a.total >= 100000 + 5000 + 16);
	coffer_arena_free(&a);
}

static void test_reset(void **state)
{
	struct coffer_arena a;
	int round;

	coffer_arena_init(&a, 512);
	for (round = 0; round < 3; round++) {
		int i;
		void *first;

		for (i = 0; i < 200; i++)
			memset(coffer_arena_alloc(&a, 64), round, 64);
		(void)coffer_arena_alloc(&a, 10000);
		coffer_arena_reset(&a);
		assert_int_equal(a.total, 0);
		/* One standard chunk is kept and reused. */
		assert_non_null(a.head);
		first = a.head;
		(void)coffer_arena_alloc(&a, 16);
		assert_ptr_equal(a.head, first);
	}
	coffer_arena_reset(&a);
	coffer_arena_free(&a);

	/* Reset of an arena that only ever held a large chunk frees it. */
	coffer_arena_init(&a, 512);
	(void)coffer_arena_alloc(&a, 4096);
	coffer_arena_reset(&a);
	assert_null(a.head);
	coffer_arena_free(&a);
	/* Reset and free of an empty arena are no-ops. */
	coffer_arena_reset(&a);
	coffer_arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alignment_and_total),
		cmocka_unit_test(test_distinct_and_zero),
		cmocka_unit_test(test_large_and_copies),
		cmocka_unit_test(test_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
