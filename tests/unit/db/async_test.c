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

#include "dbt_helper.h"

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
	struct coffer_proto_config pc = {.expect_responses = true};
	struct coffer_proto_frame fr;
	enum coffer_proto_status st;
	struct coffer_proto_err perr;
	assert_int_equal(coffer_proto_frame_decode(&pc, coffer_buf_slice(ans), &fr, &st, NULL, &perr), COFFER_OK);
	assert_int_equal(st, COFFER_PROTO_COMPLETE);
	assert_int_equal(fr.hdr.stream, 7);
	memset(r, 0, sizeof(*r));
	assert_int_equal(coffer_proto_response_decode(&fr, &e->arena, r, &perr), COFFER_OK);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deferred_writes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
