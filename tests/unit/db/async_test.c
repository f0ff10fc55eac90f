/*
 * async_test.c - coffer_db_handle_async: plain writes (INSERT, UPDATE,
 * DELETE, an UNLOGGED BATCH on one table) are handed to the commit log and
 * answered through finish exactly once, with RESULT Void on the request's
 * stream, once durable (the storage test durability_test checks that the
 * write is applied before its completion runs); everything
 * else (conditions, counters, reads, DDL, errors found before the write) is
 * answered in `out` as coffer_db_handle does, and finish never runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <time.h>

#include "db/db_internal.h"
#include "dmlt_helper.h"

#define SIMPLE "{'class': 'SimpleStrategy', 'replication_factor': 1}"

struct finished {
	int calls;
	struct coffer_buf frame;
};

static void on_finish(void *arg, const struct coffer_buf *frame)
{
	struct finished *f = arg;
	f->calls++;
	coffer_buf_reset(&f->frame);
	coffer_buf_put(&f->frame, frame->ptr, frame->len);
}

/* Decodes the one response frame in b, which answers `stream`. */
static void decode_frame(struct dbt *e, const struct coffer_buf *b, int16_t stream, struct coffer_proto_response *r)
{
	struct coffer_proto_config pc = {.expect_responses = true};
	struct coffer_proto_frame fr;
	enum coffer_proto_status st;
	struct coffer_proto_err perr;
	assert_int_equal(coffer_proto_frame_decode(&pc, coffer_buf_slice(b), &fr, &st, NULL, &perr), COFFER_OK);
	assert_int_equal(st, COFFER_PROTO_COMPLETE);
	assert_int_equal(fr.hdr.stream, stream);
	memset(r, 0, sizeof(*r));
	assert_int_equal(coffer_proto_response_decode(&fr, &e->arena, r, &perr), COFFER_OK);
}

/* Runs cql through coffer_db_handle_async; returns whether it was deferred
 * and leaves the decoded answer (from `out` or from finish) in *r. */
static bool run_async(struct dbt *e, struct finished *f, const char *cql, struct coffer_proto_response *r)
{
	struct coffer_proto_request req;
	dbt_request(&req, cql);
	struct coffer_buf out = {0};
	int before = f->calls;
	bool deferred = coffer_db_handle_async(e->db, &e->session, &req, &out, on_finish, f);
	const struct coffer_buf *ans;
	if (deferred) {
		assert_int_equal(out.len, 0);
		/* this thread led the group: finish has run, once */
		assert_int_equal(f->calls, before + 1);
		ans = &f->frame;
	} else {
		assert_int_equal(f->calls, before);
		ans = &out;
	}
	decode_frame(e, ans, 7, r);
	coffer_buf_free(&out);
	return deferred;
}

static void test_deferred_writes(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("db-async");
	struct finished f = {0};
	struct coffer_proto_response r;
	dbt_ok(e, "CREATE KEYSPACE ks WITH replication = " SIMPLE);
	dbt_ok(e, "USE ks");
	dbt_ok(e, "CREATE TABLE t (k int PRIMARY KEY, v text)");
	dbt_ok(e, "CREATE TABLE c (k int PRIMARY KEY, n counter)");

	assert_true(run_async(e, &f, "INSERT INTO t (k, v) VALUES (1, 'one')", &r));
	assert_int_equal(r.opcode, COFFER_PROTO_OP_RESULT);
	assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_VOID);
	assert_string_equal(dbt_rows(e, "SELECT v FROM t WHERE k = 1"), "one\n");
	assert_true(run_async(e, &f, "UPDATE t SET v = 'uno' WHERE k = 1", &r));
	assert_true(run_async(e, &f, "BEGIN UNLOGGED BATCH INSERT INTO t (k, v) VALUES (2, 'two'); "
				     "INSERT INTO t (k, v) VALUES (3, 'three') APPLY BATCH",
			      &r));
	assert_int_equal(r.opcode, COFFER_PROTO_OP_RESULT);
	assert_string_equal(dbt_rows(e, "SELECT k, v FROM t"), "1|uno\n2|two\n3|three\n");
	assert_true(run_async(e, &f, "DELETE FROM t WHERE k = 3", &r));
	assert_string_equal(dbt_rows(e, "SELECT v FROM t WHERE k = 3"), "");

	/* answered in out, finish untouched */
	assert_false(run_async(e, &f, "INSERT INTO t (k, v) VALUES (1, 'x') IF NOT EXISTS", &r));
	assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_ROWS);
	assert_false(run_async(e, &f, "UPDATE c SET n = n + 1 WHERE k = 1", &r));
	assert_int_equal(r.opcode, COFFER_PROTO_OP_RESULT);
	assert_false(run_async(e, &f, "SELECT v FROM t WHERE k = 1", &r));
	assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_ROWS);
	assert_false(run_async(e, &f, "INSERT INTO t (k, v) VALUES ('nope', 'x')", &r));
	assert_int_equal(r.opcode, COFFER_PROTO_OP_ERROR);
	assert_int_equal(r.u.error.code, COFFER_CQL_INVALID);
	assert_false(run_async(e, &f, "INSERT INTO missing (k) VALUES (1)", &r));
	assert_int_equal(r.opcode, COFFER_PROTO_OP_ERROR);

	/* acknowledged deferred writes survive a restart */
	dbt_reopen(e);
	dbt_ok(e, "USE ks");
	assert_string_equal(dbt_rows(e, "SELECT k, v FROM t"), "1|uno\n2|two\n");
	coffer_buf_free(&f.frame);
	dbt_free(e);
}

/* ---- coffer_db_handle_on_loop -------------------------------------------------- */

/* finish runs on the commit log's leader pool here: counted under a lock. */
struct awaited {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
	struct coffer_buf frame;
	pthread_t thread; /* the last finish's */
};

static void on_awaited(void *arg, const struct coffer_buf *frame)
{
	struct awaited *w = arg;
	pthread_mutex_lock(&w->mu);
	w->calls++;
	w->thread = pthread_self();
	coffer_buf_reset(&w->frame);
	coffer_buf_put(&w->frame, frame->ptr, frame->len);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Waits (10 s at most) until finish has run `calls` times in all. */
static void await_calls(struct awaited *w, int calls)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&w->mu);
	while (w->calls < calls)
		assert_int_equal(pthread_cond_timedwait(&w->cv, &w->mu, &until), 0);
	assert_int_equal(w->calls, calls);
	pthread_mutex_unlock(&w->mu);
}

/* EXECUTE of id with values through coffer_db_handle_on_loop; what it
 * returned, with `out` decoded into *r when answered. */
static void execute_request(struct coffer_proto_request *req, const uint8_t *id, size_t idlen,
			    const struct coffer_proto_value *v, size_t n)
{
	memset(req, 0, sizeof(*req));
	req->opcode = COFFER_PROTO_OP_EXECUTE;
	req->version = 4;
	req->stream = 5;
	req->u.execute.id = coffer_slice_of(id, idlen);
	req->u.execute.params.consistency = COFFER_PROTO_CL_ONE;
	req->u.execute.params.page_size = -1;
	req->u.execute.params.flags = n ? COFFER_PROTO_QF_VALUES : 0;
	req->u.execute.params.values = v;
	req->u.execute.params.n_values = (uint16_t)n;
}

static enum coffer_db_handled on_loop(struct dbt *e, struct awaited *w, const uint8_t *id, size_t idlen,
				      const struct coffer_proto_value *v, size_t n, struct coffer_proto_response *r)
{
	struct coffer_proto_request req;
	execute_request(&req, id, idlen, v, n);
	coffer_manual_clock_advance(&e->clock, 1);
	struct coffer_buf out = {0};
	pthread_mutex_lock(&w->mu);
	int before = w->calls;
	pthread_mutex_unlock(&w->mu);
	enum coffer_db_handled h = coffer_db_handle_on_loop(e->db, &e->session, &req, &out, on_awaited, w);
	if (h == COFFER_DB_ANSWERED) {
		decode_frame(e, &out, 5, r);
	} else {
		assert_int_equal(out.len, 0);
		if (h == COFFER_DB_DECLINED) {
			pthread_mutex_lock(&w->mu);
			assert_int_equal(w->calls, before); /* finish never runs */
			pthread_mutex_unlock(&w->mu);
		}
	}
	coffer_buf_free(&out);
	return h;
}

/* The loop's share: plain prepared writes are queued and answered by the
 * leader pool (this thread never writes the group); reads, conditions,
 * counters, text queries, a schema change in progress and a table key due
 * for its check are declined with nothing changed; request errors are
 * answered at once. */
static void test_on_loop(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("db-on-loop");
	struct awaited w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	struct coffer_proto_response r;
	uint8_t ins[64], upd[64], del[64], sel[64], lwt[64], cnt[64];
	dmlt_ok(e, "CREATE TABLE t (k int PRIMARY KEY, v text)");
	dmlt_ok(e, "CREATE TABLE c (k int PRIMARY KEY, n counter)");
	size_t insn = dmlt_prepare(e, "INSERT INTO t (k, v) VALUES (?, ?)", ins, &r);
	size_t updn = dmlt_prepare(e, "UPDATE t SET v = ? WHERE k = ?", upd, &r);
	size_t deln = dmlt_prepare(e, "DELETE FROM t WHERE k = ?", del, &r);
	size_t seln = dmlt_prepare(e, "SELECT v FROM t WHERE k = ?", sel, &r);
	size_t lwtn = dmlt_prepare(e, "INSERT INTO t (k, v) VALUES (?, ?) IF NOT EXISTS", lwt, &r);
	size_t cntn = dmlt_prepare(e, "UPDATE c SET n = n + 1 WHERE k = ?", cnt, &r);
	int calls = 0;

	/* a table key not checked yet (just opened): declined; a worker's write
	 * checks it */
	struct coffer_proto_value first[] = {dmlt_int(1), dmlt_text("v1")};
	assert_int_equal(on_loop(e, &w, ins, insn, first, 2, &r), COFFER_DB_DECLINED);
	dmlt_ok(e, "INSERT INTO t (k, v) VALUES (0, 'zero')");
	for (int k = 1; k <= 50; k++) {
		char v[16];
		snprintf(v, sizeof(v), "v%d", k);
		struct coffer_proto_value vals[] = {dmlt_int(k), dmlt_text(v)};
		assert_int_equal(on_loop(e, &w, ins, insn, vals, 2, &r), COFFER_DB_DEFERRED);
	}
	await_calls(&w, calls += 50);
	assert_false(pthread_equal(w.thread, pthread_self())); /* the pool wrote the groups */
	decode_frame(e, &w.frame, 5, &r);
	assert_int_equal(r.opcode, COFFER_PROTO_OP_RESULT);
	assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_VOID);
	for (int k = 1; k <= 50; k++) {
		char want[16];
		snprintf(want, sizeof(want), "v%d\n", k);
		assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE k = %d", k), want);
	}
	struct coffer_proto_value uv[] = {dmlt_text("uno"), dmlt_int(1)};
	assert_int_equal(on_loop(e, &w, upd, updn, uv, 2, &r), COFFER_DB_DEFERRED);
	struct coffer_proto_value dv[] = {dmlt_int(50)};
	assert_int_equal(on_loop(e, &w, del, deln, dv, 1, &r), COFFER_DB_DEFERRED);
	await_calls(&w, calls += 2);
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE k = 1"), "uno\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE k = 50"), "");

	/* declined: reads, conditions, counters, text */
	struct coffer_proto_value one[] = {dmlt_int(1)};
	assert_int_equal(on_loop(e, &w, sel, seln, one, 1, &r), COFFER_DB_DECLINED);
	struct coffer_proto_value lv[] = {dmlt_int(99), dmlt_text("x")};
	assert_int_equal(on_loop(e, &w, lwt, lwtn, lv, 2, &r), COFFER_DB_DECLINED);
	assert_int_equal(on_loop(e, &w, cnt, cntn, one, 1, &r), COFFER_DB_DECLINED);
	struct coffer_proto_request q;
	dbt_request(&q, "INSERT INTO ks.t (k, v) VALUES (98, 'x')");
	struct coffer_buf out = {0};
	assert_int_equal(coffer_db_handle_on_loop(e->db, &e->session, &q, &out, on_awaited, &w), COFFER_DB_DECLINED);
	assert_int_equal(out.len, 0);
	assert_string_equal(dmlt_rows(e, "SELECT k FROM t WHERE k IN (98, 99)"), "");
	assert_string_equal(dmlt_rows(e, "SELECT n FROM c WHERE k = 1"), "");

	/* declined while a schema change holds the schema lock */
	pthread_rwlock_wrlock(&e->db->schema_lock);
	struct coffer_proto_value sv[] = {dmlt_int(60), dmlt_text("x")};
	assert_int_equal(on_loop(e, &w, ins, insn, sv, 2, &r), COFFER_DB_DECLINED);
	pthread_rwlock_unlock(&e->db->schema_lock);

	/* declined once the table key's last check is older than the interval
	 * (the check may ask the KMS); the worker's path checks it, after which
	 * the loop takes writes again */
	coffer_manual_clock_advance(&e->clock, 2 * COFFER_US_PER_SEC);
	assert_int_equal(on_loop(e, &w, ins, insn, sv, 2, &r), COFFER_DB_DECLINED);
	assert_string_equal(dmlt_rows(e, "SELECT k FROM t WHERE k = 60"), "");
	struct coffer_proto_request x;
	execute_request(&x, ins, insn, sv, 2);
	coffer_buf_reset(&out);
	assert_true(coffer_db_handle_async(e->db, &e->session, &x, &out, on_awaited, &w));
	await_calls(&w, calls += 1);
	struct coffer_proto_value sv2[] = {dmlt_int(61), dmlt_text("y")};
	assert_int_equal(on_loop(e, &w, ins, insn, sv2, 2, &r), COFFER_DB_DEFERRED);
	await_calls(&w, calls += 1);
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE k = 60"), "x\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE k = 61"), "y\n");

	/* answered on the loop: request errors */
	struct coffer_proto_value bad[] = {dmlt_text("bad"), dmlt_text("x")}; /* 3 bytes: no int */
	assert_int_equal(on_loop(e, &w, ins, insn, bad, 2, &r), COFFER_DB_ANSWERED);
	dmlt_is_err(&r, COFFER_CQL_INVALID, NULL);
	uint8_t unknown[16] = {1, 2, 3};
	assert_int_equal(on_loop(e, &w, unknown, sizeof(unknown), one, 1, &r), COFFER_DB_ANSWERED);
	dmlt_is_err(&r, COFFER_CQL_UNPREPARED, "not found");

	/* what the pool acknowledged survives a restart */
	dbt_reopen(e);
	dmlt_ok(e, "USE ks");
	assert_string_equal(dmlt_rows(e, "SELECT count(*) FROM t"), "52\n"); /* 0, 1-49, 60, 61 */
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE k = 1"), "uno\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE k = 49"), "v49\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE k = 61"), "y\n");
	coffer_buf_free(&out);
	coffer_buf_free(&w.frame);
	dbt_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deferred_writes),
		cmocka_unit_test(test_on_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
