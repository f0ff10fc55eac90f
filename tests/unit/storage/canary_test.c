/* canary_test.c - unique strings written as partition keys, clustering keys
 * and values never appear in plaintext in any file under the data directory:
 * after writes (commit log), flush (SSTables, manifest), compaction, and a
 * crash (SIGKILL) followed by recovery. The writer is this binary run as
 * `canary_test canary DIR CANARY`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage_helper.h"
#include "util/alloc.h"
#include "util/fs.h"

#define N 300

static void configure(struct senv *e)
{
	e->cfg.vfs = NULL;
	e->cfg.memtable_bytes = 32 << 10;
	e->cfg.clock = NULL;
}

static void write_canaries(struct coffer_table *t, const char *canary, int from, int to)
{
	for (int i = from; i < to; i++) {
		char pk[64], ck[64], v[64];
		snprintf(pk, sizeof(pk), "%s-pk-%d", canary, i);
		snprintf(ck, sizeof(ck), "%s-ck-%d", canary, i);
		snprintf(v, sizeof(v), "%s-value-%d", canary, i);
		put(t, pk, i, ck, 1, v, i + 1, 0);
	}
}

static int canary_main(const char *dir, const char *canary)
{
	struct senv *e = senv_at(coffer_xstrdup(dir), false);
	configure(e);
	struct coffer_table *t = senv_open(e);
	write_canaries(t, canary, 0, N);
	if (coffer_table_flush(t) != COFFER_OK || coffer_table_compact(t) != COFFER_OK)
		return 2;
	write_canaries(t, canary, N, N + 50); /* only in the commit log */
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}

static void check_no_plaintext(const char *dir, const char *canary)
{
	int files = 0;
	int hits = scan_tree(dir, canary, &files);
	/* also the shorter pieces of each kind */
	char part[64];
	snprintf(part, sizeof(part), "%s-pk", canary);
	hits += scan_tree(dir, part, &files);
	snprintf(part, sizeof(part), "%s-value", canary);
	hits += scan_tree(dir, part, &files);
	print_message("scanned %d files: %d plaintext hits\n", files, hits);
	assert_true(files > 3);
	assert_int_equal(hits, 0);
}

static void test_canaries(void **state)
{
	(void)state;
	char *dir = test_tmpdir("canary");
	uint8_t r[8];
	assert_int_equal(coffer_random_bytes(r, sizeof(r)), COFFER_OK);
	char canary[40];
	snprintf(canary, sizeof(canary), "CANARY%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
		 r[4], r[5], r[6], r[7]);
	{
		struct senv *e = senv_at(coffer_xstrdup(dir), false);
		configure(e);
		coffer_table_close(senv_create(e));
		senv_free(e);
	}
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		execl("/proc/self/exe", "canary_test", "canary", dir, canary, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	char buf[16] = {0};
	ssize_t n = read(pfd[0], buf, sizeof(buf) - 1);
	assert_true(n > 0 && strncmp(buf, "ready", 5) == 0);
	kill(pid, SIGKILL); /* crash with data in the commit log */
	int status;
	waitpid(pid, &status, 0);
	close(pfd[0]);
	check_no_plaintext(dir, canary);

	/* recovery, then flush and compaction of the replayed data */
	struct senv *e = senv_at(coffer_xstrdup(dir), false);
	configure(e);
	struct coffer_table *t = senv_open(e);
	uint64_t cnt;
	struct coffer_read all = {0};
	assert_int_equal(coffer_table_count(t, &all, &cnt), COFFER_OK);
	assert_int_equal(cnt, N + 50); /* the canaries are really there */
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	assert_int_equal(coffer_table_compact(t), COFFER_OK);
	char *bk = coffer_path_join(dir, "backup");
	assert_int_equal(coffer_table_backup(t, bk), COFFER_OK);
	free(bk);
	coffer_table_close(t);
	senv_free(e);
	check_no_plaintext(dir, canary);
	rmtree(dir);
	free(dir);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "canary") == 0)
		return canary_main(argv[2], argv[3]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canaries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
