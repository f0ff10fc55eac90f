/*
 * workers.h - a fixed pool of threads running queued jobs in FIFO order.
 * Jobs that block (fsync waits, password hashing, KMS calls) run here, never
 * on the event loop. Stopping drains the queue: every job submitted runs.
 */
#ifndef COFFER_SERVER_WORKERS_H
#define COFFER_SERVER_WORKERS_H

struct coffer_workers;
typedef void (*coffer_job_fn)(void *arg);

struct coffer_workers *coffer_workers_new(int n);
/* Queues fn(arg); never fails (the queue grows). */
void coffer_workers_submit(struct coffer_workers *w, coffer_job_fn fn, void *arg);
/* Threads waiting for a job right now (diagnostics and tests). */
int coffer_workers_sleeping(struct coffer_workers *w);
/* Runs every queued job, then joins the threads and frees the pool. */
void coffer_workers_free(struct coffer_workers *w);

#endif
