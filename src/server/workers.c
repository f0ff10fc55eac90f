/*
 * workers.c - the worker pool (workers.h): a mutex-protected singly linked
 * FIFO and N threads waiting on a condition variable.
 *
 * Wake-ups: a submit wakes a sleeping thread only when the queue holds more
 * than JOBS_PER_TAKER jobs per thread that will soon take one (threads
 * already signalled, and threads running a job that started less than
 * BUSY_FRESH_NS ago). A burst of short jobs (a read callback's worth of
 * pipelined requests) is thus taken by the threads already running instead
 * of waking one thread per job - every wake-up and sleep is a context switch,
 * which on a small machine costs more than a short job itself (cofferd's
 * context switches per durable CQL write fell from ~2 to ~1 with this).
 * A thread stuck in a long job (a commit-log leader writing group after
 * group, a KMS call, a password hash, a long scan) stops counting after
 * BUSY_FRESH_NS, so later submits wake a sleeping thread; and a watchdog
 * thread wakes one for any job that has waited STALE_NS without being taken,
 * so a job never waits behind a long one when idle threads exist.
 *
 * Invariants:
 *  1. A job is run exactly once, by one thread.
 *  2. After stop is set no job is added; threads leave only when the queue
 *     is empty, so every submitted job runs before coffer_workers_free returns.
 *  3. While jobs are queued the watchdog is in a timed wait (a submit that
 *     wakes no worker wakes an idle watchdog) and wakes a thread for the
 *     oldest job once it has waited STALE_NS: no job waits more than about
 *     2 x STALE_NS for a thread while one is idle.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "server/workers.h"
#include "util/alloc.h"

#define BUSY_FRESH_NS 200000 /* 0.2 ms: longer than a point read or a queued write */
#define JOBS_PER_TAKER 4     /* queued jobs one awake thread is trusted to take soon */
#define STALE_NS 1000000     /* 1 ms: a job waiting this long gets a thread woken */
#define QUIET_NS 100000000   /* 100 ms without a submit: the watchdog sleeps until the next */

struct job {
	struct job *next;
	coffer_job_fn fn;
	void *arg;
	int64_t queued_at; /* ns, CLOCK_MONOTONIC */
};

struct slot {
	struct coffer_workers *w;
	pthread_t th;
	int64_t busy_since; /* ns, CLOCK_MONOTONIC; 0: not running a job (under lock) */
};

struct coffer_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	bool stop;
	int n;
	int queued;    /* jobs in the list */
	int sleeping;  /* threads in pthread_cond_wait */
	int signalled; /* signals sent that no thread has consumed yet */
	struct slot *slots;
	pthread_cond_t dog_cond; /* the watchdog sleeps here */
	bool dog_idle;           /* ... without a timeout (quiet: nothing queued lately) */
	int64_t last_submit;     /* ns */
	bool dog_started;
	pthread_t dog;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void wake_one(struct coffer_workers *w)
{
	w->signalled++;
	pthread_cond_signal(&w->cond);
}

static void *worker_main(void *p)
{
	struct slot *me = p;
	struct coffer_workers *w = me->w;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->head && !w->stop) {
			w->sleeping++;
			pthread_cond_wait(&w->cond, &w->lock);
			w->sleeping--;
			if (w->signalled)
				w->signalled--;
		}
		struct job *j = w->head;
		if (!j)
			break;
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		w->queued--;
		me->busy_since = now_ns();
		pthread_mutex_unlock(&w->lock);
		j->fn(j->arg);
		free(j);
		pthread_mutex_lock(&w->lock);
		me->busy_since = 0;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Invariant 3. While submits keep coming it checks every STALE_NS (a
 * thousand wake-ups a second at most, whatever the request rate); after
 * QUIET_NS without one it sleeps until a submit finds it idle. */
static void *watchdog_main(void *p)
{
	struct coffer_workers *w = p;
	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		int64_t now = now_ns();
		if (!w->head && now - w->last_submit >= QUIET_NS) {
			w->dog_idle = true;
			pthread_cond_wait(&w->dog_cond, &w->lock);
			w->dog_idle = false;
			continue;
		}
		int64_t wait = STALE_NS;
		if (w->head) {
			int64_t age = now - w->head->queued_at;
			if (age >= STALE_NS && w->sleeping > w->signalled)
				wake_one(w); /* and give it STALE_NS to take the job */
			else if (age < STALE_NS)
				wait = STALE_NS - age;
		}
		int64_t until = now + wait;
		struct timespec ts = {.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
		pthread_cond_timedwait(&w->dog_cond, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct coffer_workers *coffer_workers_new(int n)
{
	struct coffer_workers *w = COFFER_NEW(struct coffer_workers);
	pthread_condattr_t ca;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->dog_cond, &ca);
	pthread_condattr_destroy(&ca);
	w->slots = coffer_xcalloc((size_t)n, sizeof(*w->slots));
	pthread_mutex_lock(&w->lock); /* the threads start once n is final */
	for (int i = 0; i < n; i++) {
		w->slots[w->n].w = w;
		if (pthread_create(&w->slots[w->n].th, NULL, worker_main, &w->slots[w->n]) != 0)
			break;
		w->n++;
	}
	w->dog_started = pthread_create(&w->dog, NULL, watchdog_main, w) == 0;
	pthread_mutex_unlock(&w->lock);
	if (w->n == 0)
		abort(); /* no thread at all: nothing could ever run */
	return w;
}

/* Threads that will take a queued job without a wake-up (lock held). */
static int takers(struct coffer_workers *w, int64_t now)
{
	int64_t fresh = now - BUSY_FRESH_NS;
	int k = w->signalled;
	for (int i = 0; i < w->n; i++)
		if (w->slots[i].busy_since >= fresh)
			k++;
	return k;
}

void coffer_workers_submit(struct coffer_workers *w, coffer_job_fn fn, void *arg)
{
	struct job *j = COFFER_NEW(struct job);
	j->fn = fn;
	j->arg = arg;
	pthread_mutex_lock(&w->lock);
	j->queued_at = now_ns();
	w->last_submit = j->queued_at;
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->queued++;
	if (w->sleeping > w->signalled && w->queued > JOBS_PER_TAKER * takers(w, j->queued_at))
		wake_one(w);
	else if (w->dog_idle)
		pthread_cond_signal(&w->dog_cond); /* invariant 3: the watchdog watches again */
	pthread_mutex_unlock(&w->lock);
}

int coffer_workers_sleeping(struct coffer_workers *w)
{
	pthread_mutex_lock(&w->lock);
	int n = w->sleeping;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void coffer_workers_free(struct coffer_workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_cond_signal(&w->dog_cond);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->n; i++)
		pthread_join(w->slots[i].th, NULL);
	if (w->dog_started)
		pthread_join(w->dog, NULL);
	free(w->slots);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	pthread_cond_destroy(&w->dog_cond);
	free(w);
}
