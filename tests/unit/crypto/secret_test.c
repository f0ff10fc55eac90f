/*
 * secret_test.c - the secret pool: zeroed allocation, contains(), wipe on
 * free, mixed sizes, the kernel's view of the pages (locked, dont-dump, from
 * /proc/self/smaps), threads, misuse aborting, constant-time compare, and
 * coffer_crypto_init's hooks and hardening, and the alignment every
 * allocation keeps (COFFER_SECRET_ALIGN).
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "util/bytes.h"

static bool all_zero(const volatile uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_alloc_zeroed_and_contains(void **state)
{
	struct coffer_secret s;
	int on_stack = 0;

	coffer_secret_alloc(&s, 32);
	assert_non_null(s.ptr);
	assert_int_equal(s.len, 32);
	assert_true(all_zero(s.ptr, s.len));
	assert_true(coffer_secret_contains(s.ptr));
	assert_true(coffer_secret_contains(s.ptr + s.len - 1));
	assert_false(coffer_secret_contains(&on_stack));
	void *heap = malloc(32);
	assert_false(coffer_secret_contains(heap));
	free(heap);
	assert_false(coffer_secret_contains(NULL));
	memset(s.ptr, 0xff, s.len);
	coffer_secret_free(&s);
	assert_null(s.ptr);
	assert_int_equal(s.len, 0);
	coffer_secret_free(&s); /* {NULL, 0} is a no-op */
}

static void test_free_wipes(void **state)
{
	/* Sizes that land in each class, filled to the brim. Chunk memory stays
	 * mapped after free (secret.c invariant 3), so reading it is defined. */
	static const size_t sizes[] = {1, 32, 64, 65, 200, 256, 1000, 1024, 3000, 4096};

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		struct coffer_secret s;
		coffer_secret_alloc(&s, sizes[i]);
		memset(s.ptr, 0xab, s.len);
		volatile uint8_t *saved = s.ptr;
		size_t n = s.len;
		coffer_secret_free(&s);
		assert_true(coffer_secret_contains((const void *)saved));
		assert_true(all_zero(saved, n));
	}
}

static void test_from_copies(void **state)
{
	const uint8_t key[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
	struct coffer_secret s;

	coffer_secret_from(&s, key, sizeof key);
	assert_int_equal(s.len, sizeof key);
	assert_ptr_not_equal(s.ptr, key);
	assert_memory_equal(s.ptr, key, sizeof key);
	assert_true(coffer_secret_contains(s.ptr));
	coffer_secret_free(&s);
}

/* A simple deterministic generator for test sizes and orders. */
static uint32_t lcg(uint32_t *x)
{
	*x = *x * 1664525u + 1013904223u;
	return *x >> 8;
}

static void test_many_mixed_sizes(void **state)
{
	enum { N = 2000 };
	static struct coffer_secret s[N];
	uint32_t seed = 12345;

	for (size_t i = 0; i < N; i++) {
		size_t len = 1 + lcg(&seed) % (i % 50 == 0 ? 300000 : 5000);
		coffer_secret_alloc(&s[i], len);
		assert_true(all_zero(s[i].ptr, len));
		/* secret.c invariant 6: key schedules that need alignment fit */
		assert_int_equal((uintptr_t)s[i].ptr % COFFER_SECRET_ALIGN, 0);
		assert_true(coffer_secret_contains(s[i].ptr));
		assert_true(coffer_secret_contains(s[i].ptr + len - 1));
		memset(s[i].ptr, (int)(i & 0xff), len);
	}
	/* no two allocations overlap: each still holds its own pattern */
	for (size_t i = 0; i < N; i++)
		for (size_t j = 0; j < s[i].len; j++)
			if (s[i].ptr[j] != (uint8_t)(i & 0xff))
				fail_msg("allocation %zu byte %zu overwritten", i, j);
	/* free in a scrambled order, re-allocating some on the way */
	for (size_t k = 0; k < N; k++) {
		size_t i = (k * 7919) % N;
		coffer_secret_free(&s[i]);
		if (k % 3 == 0) {
			coffer_secret_alloc(&s[i], 1 + lcg(&seed) % 4096);
			assert_true(all_zero(s[i].ptr, s[i].len));
			coffer_secret_free(&s[i]);
		}
	}
	/* large allocations are released: their memory is no longer secret */
	struct coffer_secret big;
	coffer_secret_alloc(&big, 1 << 20);
	uint8_t *p = big.ptr;
	assert_true(coffer_secret_contains(p + (1 << 20) - 1));
	coffer_secret_free(&big);
	assert_false(coffer_secret_contains(p));
}

/* Finds the /proc/self/smaps entry holding p; fills its Locked: kB and whether
 * VmFlags has "dd" (VM_DONTDUMP). Returns false if not found. */
static bool smaps_lookup(const void *p, long *locked_kb, bool *dontdump)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[1024];
	bool in = false, found = false;
	uintptr_t a = (uintptr_t)p;

	assert_non_null(f);
	*locked_kb = -1;
	*dontdump = false;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perms[8];
		/* an entry starts "lo-hi perms offset dev inode [path]"; the field
		 * lines that follow ("Locked:   4 kB") never parse that way */
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3) {
			if (in)
				break; /* past our entry */
			in = a >= lo && a < hi;
			found |= in;
			continue;
		}
		if (!in)
			continue;
		if (strncmp(line, "Locked:", 7) == 0)
			*locked_kb = strtol(line + 7, NULL, 10);
		if (strncmp(line, "VmFlags:", 8) == 0)
			*dontdump = strstr(line, " dd") != NULL;
	}
	fclose(f);
	return found;
}

/* AddressSanitizer intercepts mlock() and returns success without locking
 * ("AddressSanitizer ignores mlock/mlockall/munlock/munlockall"). */
static bool sanitizer_ignores_mlock(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return true;
#else
	return false;
#endif
#else
	return false;
#endif
}

static void test_pages_locked_and_dontdump(void **state)
{
	struct coffer_secret small, big;
	long locked;
	bool dd;

	coffer_secret_alloc(&small, 32);
	coffer_secret_alloc(&big, 100000);
	const struct coffer_secret *both[] = {&small, &big};
	for (int i = 0; i < 2; i++) {
		assert_true(smaps_lookup(both[i]->ptr, &locked, &dd));
		assert_true(dd); /* excluded from core dumps */
		if (sanitizer_ignores_mlock())
			print_message("AddressSanitizer turns mlock into a no-op; "
				      "Locked: not checked in this build\n");
		else if (coffer_secret_unlocked_count() == 0)
			assert_true(locked > 0);
		else
			print_message("mlock refused %zu times; Locked: %ld kB\n",
				      coffer_secret_unlocked_count(), locked);
	}
	coffer_secret_free(&small);
	coffer_secret_free(&big);
}

static void *thread_body(void *arg)
{
	uint32_t seed = (uint32_t)(uintptr_t)arg;
	struct coffer_secret s[16] = {{0}};
	uint8_t fill = 0; /* what every live slot holds */

	for (int round = 0; round < 3000; round++) {
		int i = (int)(lcg(&seed) % 16);
		if (s[i].ptr) {
			for (size_t j = 0; j < s[i].len; j++)
				if (s[i].ptr[j] != fill)
					return (void *)1;
			coffer_secret_free(&s[i]);
		} else {
			coffer_secret_alloc(&s[i], 1 + lcg(&seed) % 2000);
			if (!all_zero(s[i].ptr, s[i].len))
				return (void *)1;
		}
		/* refill every live slot with this round's byte */
		fill = (uint8_t)round;
		for (int k = 0; k < 16; k++)
			if (s[k].ptr)
				memset(s[k].ptr, fill, s[k].len);
	}
	for (int k = 0; k < 16; k++)
		coffer_secret_free(&s[k]);
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[4];

	for (uintptr_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, thread_body, (void *)(i + 1)), 0);
	for (int i = 0; i < 4; i++) {
		void *rv;
		assert_int_equal(pthread_join(t[i], &rv), 0);
		assert_null(rv);
	}
}

/* Runs fn in a child process; returns the signal that ended it (0 if none). */
static int child_signal(void (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* keep the abort message out of the test log */
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		fn();
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static void double_free(void)
{
	void *p = coffer_secret_raw_alloc(32);
	coffer_secret_raw_free(p, 32);
	coffer_secret_raw_free(p, 32);
}

static void foreign_free(void)
{
	static uint8_t not_secret[64];
	coffer_secret_raw_free(not_secret, 64);
}

static void misaligned_free(void)
{
	uint8_t *p = coffer_secret_raw_alloc(32);
	coffer_secret_raw_free(p + 1, 31);
}

static void test_misuse_aborts(void **state)
{
	assert_int_equal(child_signal(double_free), SIGABRT);
	assert_int_equal(child_signal(foreign_free), SIGABRT);
	assert_int_equal(child_signal(misaligned_free), SIGABRT);
}

static void test_raw_hooks(void **state)
{
	uint8_t *p = coffer_secret_raw_alloc(0);
	assert_non_null(p);
	assert_true(coffer_secret_contains(p));
	assert_int_equal((uintptr_t)p % COFFER_SECRET_ALIGN, 0);
	coffer_secret_raw_free(p, 0);
	coffer_secret_raw_free(NULL, 10); /* no-op */
	/* larger than the 1 MiB coffer_secret_alloc limit is fine for raw use */
	p = coffer_secret_raw_alloc(3u << 20);
	assert_int_equal((uintptr_t)p % COFFER_SECRET_ALIGN, 0);
	assert_true(all_zero(p, 3u << 20));
	assert_true(coffer_secret_contains(p + (3u << 20) - 1));
	coffer_secret_raw_free(p, 3u << 20);
}

static void test_ct_equal(void **state)
{
	uint8_t a[100], b[100];

	for (size_t i = 0; i < sizeof a; i++)
		a[i] = b[i] = (uint8_t)i;
	assert_true(coffer_ct_equal(a, b, sizeof a));
	assert_true(coffer_ct_equal(a, b, 0));
	assert_true(coffer_ct_equal(NULL, NULL, 0));
	b[0] ^= 1;
	assert_false(coffer_ct_equal(a, b, sizeof a));
	b[0] ^= 1;
	b[99] ^= 0x80;
	assert_false(coffer_ct_equal(a, b, sizeof a));
	assert_true(coffer_ct_equal(a, b, 99));
}

static void test_init_installs_hooks(void **state)
{
	struct coffer_buf b;

	coffer_crypto_init(false);
	coffer_crypto_init(false); /* idempotent */
	coffer_buf_init_secure(&b);
	coffer_buf_put(&b, "key material", 12);
	assert_true(coffer_secret_contains(b.ptr));
	coffer_buf_reserve(&b, 10000); /* growth stays in secret memory */
	assert_true(coffer_secret_contains(b.ptr));
	assert_memory_equal(b.ptr, "key material", 12);
	coffer_buf_free(&b);
}

static void daemon_init(void)
{
	struct rlimit rl;

	coffer_crypto_init(true);
	if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
		_exit(1);
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		_exit(2);
	_exit(0);
}

static void test_init_daemon_hardening(void **state)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		daemon_init();
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_zeroed_and_contains),
		cmocka_unit_test(test_free_wipes),
		cmocka_unit_test(test_from_copies),
		cmocka_unit_test(test_many_mixed_sizes),
		cmocka_unit_test(test_pages_locked_and_dontdump),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_misuse_aborts),
		cmocka_unit_test(test_raw_hooks),
		cmocka_unit_test(test_ct_equal),
		cmocka_unit_test(test_init_installs_hooks),
		cmocka_unit_test(test_init_daemon_hardening),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
