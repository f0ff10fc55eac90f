/* crash_test.c - SIGKILL a writer process at random points, many times, and
 * check after each restart that every acknowledged write is there with its
 * value and that the table opens without corruption. In every other round a
 * thread also changes the table's KMS key back and forth without pause, so
 * kills land inside key changes (registry rewrites) too: the table must open
 * under whichever key the registry on disk names.
 *
 * The writer is this same binary run as `crash_test writer DIR ROUND`: four
 * threads write durable rows (group commit, background flushes and
 * compactions with a small memtable) and report each acknowledged write on
 * stdout (a pipe to the parent).
 *
 * Point-in-time recovery is on throughout, with a 200 ms window that a thread
 * expires every 5 ms: after each restart the table's history restored at
 * "now" into a new table must hold every acknowledged write too (retained
 * files, journal and archived segments survive the kills, including kills
 * inside key changes, journal rewrites and retained-file removals). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "storage_helper.h"
#include "util/alloc.h"

#define ROUNDS 20
#define THREADS 4
#define MAX_I 200000
#define PITR_WINDOW_US (200 * 1000)

static void configure(struct senv *e)
{
	e->cfg.vfs = NULL;
	e->cfg.foreground = false;
	e->cfg.memtable_bytes = 128 << 10;
	e->cfg.segment_bytes = 64 << 10;
	e->cfg.compaction_threshold = 3;
	e->cfg.clock = NULL; /* real time */
}

struct wt {
	struct coffer_table *t;
	int id, round;
};

static void *writer_thread(void *p)
{
	struct wt *w = p;
	for (int i = 0; i < MAX_I; i++) {
		char pk[48], v[48];
		snprintf(pk, sizeof(pk), "t%d-r%d-%d", w->id, w->round, i);
		snprintf(v, sizeof(v), "value-%d-%d-%d", w->id, w->round, i);
		uint8_t b[4];
		struct coffer_slice p1 = coffer_slice_str(pk);
		struct coffer_slice ck[2] = {be32(i, b), coffer_slice_str("c")};
		struct coffer_mutation *m = coffer_mutation_new(w->t, &p1, 1);
		coffer_mutation_set(m, ck, 2, 1, coffer_slice_str(v), i + 1, 0);
		if (coffer_table_apply(w->t, &m, 1) != COFFER_OK) {
			fprintf(stderr, "writer: %s\n", coffer_error_msg());
			_exit(3);
		}
		coffer_mutation_free(m);
		char ack[32];
		int n = snprintf(ack, sizeof(ack), "%d %d\n", w->id, i);
		if (write(1, ack, (size_t)n) != n)
			_exit(4);
	}
	return NULL;
}

struct kc {
	struct coffer_table *t;
	const char *keys[2];
};

/* Changes the table's KMS key back and forth as fast as it can, so SIGKILL
 * lands in the middle of registry rewrites too. */
static void *key_changer(void *p)
{
	struct kc *k = p;
	for (int i = 0;; i++) {
		if (coffer_table_change_key(k->t, k->keys[i & 1]) != COFFER_OK) {
			fprintf(stderr, "key change: %s\n", coffer_error_msg());
			_exit(5);
		}
	}
	return NULL;
}

/* Expires the history (a 200 ms window) every few milliseconds, so kills land
 * in journal rewrites and retained-file removals too. */
static void *expirer(void *p)
{
	struct coffer_table *t = p;
	for (;;) {
		if (coffer_table_backup_expire(t) != COFFER_OK) {
			fprintf(stderr, "expire: %s\n", coffer_error_msg());
			_exit(6);
		}
		usleep(5000);
	}
	return NULL;
}

static int writer_main(const char *dir, int round, const char *cmk)
{
	struct senv *e = senv_at(coffer_xstrdup(dir), false);
	configure(e);
	struct coffer_table *t;
	if (coffer_table_open(&e->cfg, &e->desc, &t) != COFFER_OK ||
	    coffer_table_set_pitr(t, true, PITR_WINDOW_US) != COFFER_OK) {
		fprintf(stderr, "writer open: %s\n", coffer_error_msg());
		return 2;
	}
	pthread_t eth;
	pthread_create(&eth, NULL, expirer, t);
	static struct kc k;
	pthread_t kth;
	if (cmk) {
		k = (struct kc){t, {cmk, e->svc_key}};
		pthread_create(&kth, NULL, key_changer, &k);
	}
	pthread_t th[THREADS];
	struct wt w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct wt){t, i, round};
		pthread_create(&th[i], NULL, writer_thread, &w[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	return 0;
}

struct seen {
	int round;
	uint8_t *present[THREADS];
	int bad_values;
};

static bool seen_fn(void *arg, const struct coffer_row_view *r)
{
	struct seen *s = arg;
	int id, rd, i;
	char pk[64];
	snprintf(pk, sizeof(pk), "%.*s", (int)r->partition_key.len, (const char *)r->partition_key.ptr);
	if (sscanf(pk, "t%d-r%d-%d", &id, &rd, &i) != 3 || rd != s->round || id < 0 || id >= THREADS ||
	    i < 0 || i >= MAX_I)
		return true;
	char want[48];
	snprintf(want, sizeof(want), "value-%d-%d-%d", id, rd, i);
	if (r->n_cells != 1 || r->cells[0].value.len != strlen(want) ||
	    memcmp(r->cells[0].value.ptr, want, strlen(want)) != 0)
		s->bad_values++;
	s->present[id][i] = 1;
	return true;
}

/* Every acknowledged write of the round is in t with its value. */
static void check_acked(struct coffer_table *t, int round, const int *acked, const char *what)
{
	struct seen s = {.round = round};
	for (int i = 0; i < THREADS; i++)
		s.present[i] = coffer_xcalloc(MAX_I, 1);
	struct coffer_read q = {0};
	struct coffer_read_result res = {0};
	assert_int_equal(coffer_table_read(t, &q, seen_fn, &s, &res), COFFER_OK);
	coffer_buf_free(&res.cursor);
	assert_int_equal(s.bad_values, 0);
	for (int id = 0; id < THREADS; id++) {
		for (int i = 0; i <= acked[id]; i++)
			if (!s.present[id][i])
				fail_msg("round %d: %s: acknowledged write t%d-r%d-%d lost", round, what, id, round, i);
		free(s.present[id]);
	}
}

static void test_crash_recovery(void **state)
{
	(void)state;
	char *dir = test_tmpdir("crash");
	char cmk[COFFER_KMS_ARN_MAX];
	{
		struct senv *e = senv_at(coffer_xstrdup(dir), false);
		configure(e);
		senv_new_cmk(e, cmk);
		struct coffer_table *t = senv_create(e);
		assert_int_equal(coffer_table_set_pitr(t, true, PITR_WINDOW_US), COFFER_OK);
		coffer_table_close(t);
		senv_free(e);
	}
	srand((unsigned)time(NULL));
	uint64_t total_acked = 0;
	uint32_t key_versions = 0;
	for (int round = 0; round < ROUNDS; round++) {
		int pfd[2];
		assert_int_equal(pipe(pfd), 0);
		pid_t pid = fork();
		if (pid == 0) {
			dup2(pfd[1], 1);
			close(pfd[0]);
			char r[16];
			snprintf(r, sizeof(r), "%d", round);
			/* every other round also changes the KMS key continuously */
			if (round % 2)
				execl("/proc/self/exe", "crash_test", "writer", dir, r, cmk, (char *)NULL);
			else
				execl("/proc/self/exe", "crash_test", "writer", dir, r, (char *)NULL);
			_exit(127);
		}
		close(pfd[1]);
		int acked[THREADS];
		for (int i = 0; i < THREADS; i++)
			acked[i] = -1;
		struct timespec start;
		clock_gettime(CLOCK_MONOTONIC, &start);
		int run_ms = 150 + rand() % 600;
		char buf[4096], line[64];
		size_t ll = 0;
		bool killed = false, eof = false;
		while (!eof) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long el = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
			if (!killed && el >= run_ms) {
				kill(pid, SIGKILL);
				killed = true;
			}
			struct pollfd p = {pfd[0], POLLIN, 0};
			if (poll(&p, 1, 20) <= 0)
				continue;
			ssize_t n = read(pfd[0], buf, sizeof(buf));
			if (n <= 0) {
				eof = true;
				break;
			}
			for (ssize_t k = 0; k < n; k++) {
				if (buf[k] != '\n') {
					if (ll < sizeof(line) - 1)
						line[ll++] = buf[k];
					continue;
				}
				line[ll] = 0;
				ll = 0;
				int id, i;
				if (sscanf(line, "%d %d", &id, &i) == 2 && id >= 0 && id < THREADS && i > acked[id])
					acked[id] = i;
			}
		}
		close(pfd[0]);
		int status;
		waitpid(pid, &status, 0);
		if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
			fail_msg("round %d: writer exited by itself (status %d)", round, status);

		struct senv *e = senv_at(coffer_xstrdup(dir), false);
		configure(e);
		struct coffer_table *t = NULL;
		coffer_rc rc = coffer_table_open(&e->cfg, &e->desc, &t);
		if (rc != COFFER_OK)
			fail_msg("round %d: reopen failed: %s", round, coffer_error_msg());
		struct coffer_keyring_info ki;
		coffer_keyring_info(coffer_table_keyring(t), &ki);
		if (ki.version > key_versions)
			key_versions = ki.version;
		assert_int_equal(coffer_table_set_pitr(t, true, PITR_WINDOW_US), COFFER_OK);
		check_acked(t, round, acked, "table");
		/* the history, restored at now, holds them too */
		struct coffer_restore *r;
		if (coffer_restore_open(&e->cfg, &e->desc, t, 0, &r) != COFFER_OK)
			fail_msg("round %d: restore_open: %s", round, coffer_error_msg());
		struct coffer_table_desc dd = e->desc;
		char id[40];
		snprintf(id, sizeof(id), "c0ffee00-0000-4000-8000-%012d", round);
		dd.name = "restored";
		dd.table_id = id;
		struct coffer_table *dst;
		assert_int_equal(coffer_table_create(&e->cfg, &dd, e->svc_key, &dst), COFFER_OK);
		if (coffer_restore_run(r, dst, NULL, NULL) != COFFER_OK)
			fail_msg("round %d: restore: %s", round, coffer_error_msg());
		coffer_restore_close(r);
		check_acked(dst, round, acked, "restored history");
		assert_int_equal(coffer_table_drop(dst), COFFER_OK);
		for (int id2 = 0; id2 < THREADS; id2++)
			total_acked += (uint64_t)(acked[id2] + 1);
		coffer_table_close(t);
		senv_free(e);
	}
	char *bdir = coffer_xasprintf("%s/data/%s/backup", dir, "5a1f0c2e7d3b4c8a9e6f0b1c2d3e4f50");
	int files = 0;
	scan_tree(bdir, "\x01never-there\x01", &files);
	free(bdir);
	print_message("%d crashes, %llu acknowledged writes, all present; %u table key versions; "
		      "%d files in backup/ at the end\n",
		      ROUNDS, (unsigned long long)total_acked, key_versions, files);
	assert_true(key_versions > 10); /* the key really changed, many times */
	assert_true(total_acked > 0);
	rmtree(dir);
	free(dir);
}

int main(int argc, char **argv)
{
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "writer") == 0)
		return writer_main(argv[2], atoi(argv[3]), argc == 5 ? argv[4] : NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_recovery),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
