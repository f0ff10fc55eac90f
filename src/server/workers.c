/*
 * workers.c - the worker pool (workers.h): a mutex-protected singly linked
 * FIFO and N threads waiting on a condition variable.
 *
 * Wake-ups: a submit wakes a sleeping thread only when the queue holds more
 * jobs than there are threads that will soon take one: threads already
 * signalled, and threads running a job that started less than BUSY_FRESH_NS
 * ago. A burst of short jobs (a read callback's worth of pipelined requests)
 * is thus taken by the threads already running instead of waking one thread
 * per job - every wake-up and sleep is a context switch, which on a small
 * machine costs more than a short job itself - while a thread stuck in a long
 * job (a commit-log leader writing group after group, a KMS call, a disk
 * read) stops counting after BUSY_FRESH_NS, so queued jobs then wake a
 * sleeping thread as before.
 *
 * Invariants:
 *  1. A job is run exactly once, by one thread.
 *  2. After stop is set no job is added; threads leave only when the queue
 *     is empty, so every submitted job runs before coffer_workers_free returns.
 *  3. A thread that finishes a job takes the next queued one before it may
 *     sleep, so a job queued without a wake-up waits at most for a job that
 *     was fresh when it was queued (or for a submit after that job went
 *     stale, which wakes a thread).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "server/workers.h"
#include "util/alloc.h"

#define BUSY_FRESH_NS 200000 /* 0.2 ms: longer than a point read or a queued write */

struct job {
	struct job *next;
	coffer_job_fn fn;
	void *arg;
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
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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

struct coffer_workers *coffer_workers_new(int n)
{
	struct coffer_workers *w = COFFER_NEW(struct coffer_workers);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->slots = coffer_xcalloc((size_t)n, sizeof(*w->slots));
	pthread_mutex_lock(&w->lock); /* the threads start once n is final */
	for (int i = 0; i < n; i++) {
		w->slots[w->n].w = w;
		if (pthread_create(&w->slots[w->n].th, NULL, worker_main, &w->slots[w->n]) != 0)
			break;
		w->n++;
	}
	pthread_mutex_unlock(&w->lock);
	if (w->n == 0)
		abort(); /* no thread at all: nothing could ever run */
	return w;
}

/* Threads that will take a queued job without a wake-up (lock held). */
static int takers(struct coffer_workers *w)
{
	int64_t fresh = now_ns() - BUSY_FRESH_NS;
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
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->queued++;
	if (w->sleeping > w->signalled && w->queued > takers(w)) {
		w->signalled++;
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
}

void coffer_workers_free(struct coffer_workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->n; i++)
		pthread_join(w->slots[i].th, NULL);
	free(w->slots);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
