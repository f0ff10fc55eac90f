/*
 * metrics.c - counters behind GET /metrics, in the Prometheus text exposition
 * format (version 0.0.4):
 *
 *   coffer_kms_requests_total{operation="Decrypt",result="Success"} 12
 *   coffer_kms_throttles_total 3
 *   coffer_kms_request_duration_seconds_bucket{operation="Decrypt",le="0.001"} 10
 *   ... _sum / _count per operation
 *   coffer_kms_connections_accepted_total 2
 *
 * Results are "Success" or the AWS error name of the reply. Requests that
 * named no known operation count under operation="unknown".
 *
 * Invariants:
 *  1. Every counter only grows.
 *  2. One mutex guards everything, so the server may record from any thread.
 *  3. At most COFFER_METRICS_RESULTS distinct result names are kept; further
 *     names count as result="other" (names are static strings from errors.c,
 *     so this bound is never reached in practice).
 */
#include "kmsapi/kmsapi_internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

#define COFFER_METRICS_RESULTS 48
#define COFFER_METRICS_MAX_OPS 64

static const double bucket_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				   0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
#define N_BUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]))

struct op_stats {
	uint64_t results[COFFER_METRICS_RESULTS + 1]; /* last slot: "other" */
	uint64_t buckets[N_BUCKETS];                  /* non-cumulative */
	uint64_t count;
	double sum_seconds;
};

struct coffer_kmsapi_metrics {
	pthread_mutex_t lock;
	const char *result_names[COFFER_METRICS_RESULTS];
	size_t n_results;
	size_t n_ops;                 /* table ops + 1 ("unknown", the last) */
	struct op_stats ops[COFFER_METRICS_MAX_OPS + 1];
	uint64_t throttles;
	uint64_t connections;
};

struct coffer_kmsapi_metrics *coffer_kmsapi_metrics_new(void)
{
	struct coffer_kmsapi_metrics *m = COFFER_NEW(struct coffer_kmsapi_metrics);

	pthread_mutex_init(&m->lock, NULL);
	m->n_ops = coffer_kmsapi_op_count();
	if (m->n_ops > COFFER_METRICS_MAX_OPS)
		m->n_ops = COFFER_METRICS_MAX_OPS;
	m->n_ops++;
	return m;
}

void coffer_kmsapi_metrics_free(struct coffer_kmsapi_metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static size_t result_slot(struct coffer_kmsapi_metrics *m, const char *result)
{
	for (size_t i = 0; i < m->n_results; i++)
		if (strcmp(m->result_names[i], result) == 0)
			return i;
	if (m->n_results == COFFER_METRICS_RESULTS)
		return COFFER_METRICS_RESULTS;
	m->result_names[m->n_results] = result;
	return m->n_results++;
}

void coffer_kmsapi_metrics_record(struct coffer_kmsapi_metrics *m, int op_index,
				  const char *result, int64_t latency_us)
{
	size_t op = (op_index < 0 || (size_t)op_index >= m->n_ops - 1) ? m->n_ops - 1
								      : (size_t)op_index;
	double secs = (double)latency_us / 1e6;
	struct op_stats *s;

	pthread_mutex_lock(&m->lock);
	s = &m->ops[op];
	s->results[result_slot(m, result ? result : "other")]++;
	for (size_t b = 0; b < N_BUCKETS; b++) {
		if (secs <= bucket_le[b]) {
			s->buckets[b]++;
			break;
		}
	}
	s->count++;
	s->sum_seconds += secs;
	if (result && strcmp(result, "ThrottlingException") == 0)
		m->throttles++;
	pthread_mutex_unlock(&m->lock);
}

void coffer_kmsapi_metrics_connection(struct coffer_kmsapi_metrics *m, int delta)
{
	pthread_mutex_lock(&m->lock);
	m->connections += (uint64_t)delta;
	pthread_mutex_unlock(&m->lock);
}

static const char *op_label(const struct coffer_kmsapi_metrics *m, size_t op)
{
	return op == m->n_ops - 1 ? "unknown" : coffer_kmsapi_op_name(op);
}

void coffer_kmsapi_metrics_render(struct coffer_kmsapi_metrics *m, struct coffer_buf *out)
{
	pthread_mutex_lock(&m->lock);
	coffer_buf_printf(out, "# HELP coffer_kms_requests_total KMS API requests by operation "
			       "and result.\n# TYPE coffer_kms_requests_total counter\n");
	for (size_t op = 0; op < m->n_ops; op++) {
		for (size_t r = 0; r <= COFFER_METRICS_RESULTS; r++) {
			if (m->ops[op].results[r] == 0)
				continue;
			coffer_buf_printf(out,
					  "coffer_kms_requests_total{operation=\"%s\",result=\"%s\"} "
					  "%" PRIu64 "\n",
					  op_label(m, op),
					  r < m->n_results ? m->result_names[r] : "other",
					  m->ops[op].results[r]);
		}
	}
	coffer_buf_printf(out, "# HELP coffer_kms_throttles_total Requests refused with "
			       "ThrottlingException.\n# TYPE coffer_kms_throttles_total counter\n"
			       "coffer_kms_throttles_total %" PRIu64 "\n",
			  m->throttles);
	coffer_buf_printf(out, "# HELP coffer_kms_request_duration_seconds Time from a complete "
			       "request to its reply.\n"
			       "# TYPE coffer_kms_request_duration_seconds histogram\n");
	for (size_t op = 0; op < m->n_ops; op++) {
		uint64_t cum = 0;

		if (m->ops[op].count == 0)
			continue;
		for (size_t b = 0; b < N_BUCKETS; b++) {
			cum += m->ops[op].buckets[b];
			coffer_buf_printf(out,
					  "coffer_kms_request_duration_seconds_bucket{operation=\"%s\","
					  "le=\"%g\"} %" PRIu64 "\n",
					  op_label(m, op), bucket_le[b], cum);
		}
		coffer_buf_printf(out,
				  "coffer_kms_request_duration_seconds_bucket{operation=\"%s\","
				  "le=\"+Inf\"} %" PRIu64 "\n"
				  "coffer_kms_request_duration_seconds_sum{operation=\"%s\"} %.6f\n"
				  "coffer_kms_request_duration_seconds_count{operation=\"%s\"} %" PRIu64
				  "\n",
				  op_label(m, op), m->ops[op].count, op_label(m, op),
				  m->ops[op].sum_seconds, op_label(m, op), m->ops[op].count);
	}
	coffer_buf_printf(out, "# HELP coffer_kms_connections_accepted_total Client connections "
			       "accepted.\n# TYPE coffer_kms_connections_accepted_total counter\n"
			       "coffer_kms_connections_accepted_total %" PRIu64 "\n",
			  m->connections);
	pthread_mutex_unlock(&m->lock);
}
