/*
 * workers_test.c - the worker pool: every job runs exactly once, including
 * those queued at shutdown; and a job queued while the only awake thread is
 * stuck in a long job still gets a thread (workers.c invariant 3: the
 * submit wakes nobody, since the running thread counts as about to take it,
 * and the watchdog must wake a sleeping one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "server/workers.h"

static atomic_int counter;

static void count_job(void *arg)
{
	(void)arg;
	atomic_fetch_add(&counter, 1);
}

struct submitter {
	struct coffer_workers *w;
	int n;
};

static void *submit_main(void *p)
{
	struct submitter *s = p;
	for (int i = 0; i < s->n; i++)
		coffer_workers_submit(s->w, count_job, NULL);
	return NULL;
}

static void test_every_job_runs_once(void **state)
{
	(void)state;
	atomic_store(&counter, 0);
	struct coffer_workers *w = coffer_workers_new(4);
	pthread_t th[3];
	struct submitter s = {w, 5000};
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, submit_main, &s);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	coffer_workers_free(w); /* runs what is still queued */
	assert_int_equal(atomic_load(&counter), 15000);
}

/* The blocker waits for the releaser, a job submitted right after it. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool released, timed_out;
};

static void blocker(void *arg)
{
	struct gate *g = arg;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10; /* only so that a broken pool fails instead of hanging */
	pthread_mutex_lock(&g->mu);
	while (!g->released && !g->timed_out)
		g->timed_out = pthread_cond_timedwait(&g->cv, &g->mu, &until) == ETIMEDOUT;
	pthread_mutex_unlock(&g->mu);
}

static void releaser(void *arg)
{
	struct gate *g = arg;
	pthread_mutex_lock(&g->mu);
	g->released = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static void test_job_behind_a_long_one_runs(void **state)
{
	(void)state;
	for (int round = 0; round < 20; round++) {
		struct coffer_workers *w = coffer_workers_new(4);
		struct gate g = {.released = false};
		pthread_mutex_init(&g.mu, NULL);
		pthread_cond_init(&g.cv, NULL);
		while (coffer_workers_sleeping(w) < 4) {
			struct timespec ms = {0, 1000000};
			nanosleep(&ms, NULL);
		}
		/* back to back: the first submit wakes one thread, the next ones
		 * count on it (it is signalled, then running) and wake nobody;
		 * whichever threads take the blockers stay in them, so the
		 * releaser runs only because the watchdog wakes a fourth thread */
		for (int i = 0; i < 3; i++)
			coffer_workers_submit(w, blocker, &g);
		coffer_workers_submit(w, releaser, &g);
		coffer_workers_free(w);
		assert_true(g.released);
		assert_false(g.timed_out);
		pthread_mutex_destroy(&g.mu);
		pthread_cond_destroy(&g.cv);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_job_runs_once),
		cmocka_unit_test(test_job_behind_a_long_one_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
