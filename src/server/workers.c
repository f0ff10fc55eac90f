/*
 * workers.c - the worker pool (workers.h): a mutex-protected singly linked
 * FIFO and N threads waiting on a condition variable.
 *
 * Invariants:
 *  1. A job is run exactly once, by one thread.
 *  2. After stop is set no job is added; threads leave only when the queue
 *     is empty, so every submitted job runs before coffer_workers_free returns.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "server/workers.h"
#include "util/alloc.h"

struct job {
	struct job *next;
	coffer_job_fn fn;
	void *arg;
};

struct coffer_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	bool stop;
	int n;
	pthread_t *threads;
};

static void *worker_main(void *p)
{
	struct coffer_workers *w = p;
	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		struct job *j = w->head;
		if (!j) {
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->lock);
		j->fn(j->arg);
		free(j);
	}
}

struct coffer_workers *coffer_workers_new(int n)
{
	struct coffer_workers *w = COFFER_NEW(struct coffer_workers);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->threads = coffer_xcalloc((size_t)n, sizeof(*w->threads));
	for (int i = 0; i < n; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0)
			break;
		w->n++;
	}
	if (w->n == 0)
		abort(); /* no thread at all: nothing could ever run */
	return w;
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
	pthread_cond_signal(&w->cond);
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
		pthread_join(w->threads[i], NULL);
	free(w->threads);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
