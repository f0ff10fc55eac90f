/*
 * prepared_test.c - the bounded prepared-statement cache (prepared.c): the
 * least recently used statement is evicted past the bound, an EXECUTE of its
 * id answers Unprepared and preparing again works; a statement held by a
 * request survives its eviction until released (ASan checks the frees).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "db/db_internal.h"
#include "dbt_helper.h"
#include "dmlt_helper.h"

static struct dbt *small_cache(const char *tag, size_t entries)
{
	struct dbt *e = dbt_env(tag);
	e->cfg.prepared_max_entries = entries;
	if (dbt_open(e) != COFFER_OK)
		fail_msg("db open: %s", coffer_error_msg());
	dbt_ok(e, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
	dbt_ok(e, "USE ks");
	dbt_ok(e, "CREATE TABLE t (k int PRIMARY KEY, v text)");
	dbt_ok(e, "INSERT INTO t (k, v) VALUES (1, 'one')");
	return e;
}

static void execute_expect(struct dbt *e, const uint8_t *id, size_t idn, bool ok)
{
	struct coffer_proto_response r;
	dmlt_execute(e, id, idn, NULL, 0, -1, coffer_slice_of(NULL, 0), &r);
	if (ok)
		assert_int_equal(r.opcode, COFFER_PROTO_OP_RESULT);
	else
		dmlt_is_err(&r, COFFER_CQL_UNPREPARED, "not found");
}

static void test_lru_eviction_answers_unprepared(void **state)
{
	(void)state;
	struct dbt *e = small_cache("prep-lru", 2);
	struct coffer_proto_response r;
	uint8_t a[64], b[64], c[64];
	size_t an = dmlt_prepare(e, "SELECT v FROM t WHERE k = 1", a, &r);
	size_t bn = dmlt_prepare(e, "SELECT k FROM t WHERE k = 1", b, &r);
	execute_expect(e, a, an, true); /* a is now the most recently used */
	size_t cn = dmlt_prepare(e, "SELECT k, v FROM t WHERE k = 1", c, &r);
	/* b was the least recently used: evicted; a and c stay */
	execute_expect(e, b, bn, false);
	execute_expect(e, a, an, true);
	execute_expect(e, c, cn, true);
	size_t n, bytes;
	uint64_t ev;
	db_prepared_stats(&e->db->prepared, &n, &bytes, &ev);
	assert_int_equal(n, 2);
	assert_int_equal(ev, 1);
	/* preparing again gives the same id (keyspace + text) and works */
	uint8_t b2[64];
	size_t b2n = dmlt_prepare(e, "SELECT k FROM t WHERE k = 1", b2, &r);
	assert_int_equal(b2n, bn);
	assert_memory_equal(b2, b, bn);
	execute_expect(e, b2, b2n, true);
	dbt_free(e);
}

static void test_held_statement_survives_eviction(void **state)
{
	(void)state;
	struct db_prepared_cache c;
	db_prepared_cache_init(&c, 1, 0);
	const char *q1 = "SELECT * FROM ks.t WHERE k = 1";
	struct db_prepared *p1, *p2, *again;
	assert_int_equal(db_prepared_get(&c, "", coffer_slice_of(q1, strlen(q1)), &p1), COFFER_OK);
	const char *q2 = "SELECT * FROM ks.t WHERE k = 2";
	assert_int_equal(db_prepared_get(&c, "", coffer_slice_of(q2, strlen(q2)), &p2), COFFER_OK);
	/* p1 is out of the table but still held: readable */
	assert_null(db_prepared_find(&c, coffer_slice_of(p1->id, DB_PREPARED_ID_BYTES)));
	assert_int_equal(p1->stmt->kind, COFFER_CQL_SELECT);
	db_prepared_release(&c, p1); /* freed here */
	/* p2 is cached: found again, and held twice */
	again = db_prepared_find(&c, coffer_slice_of(p2->id, DB_PREPARED_ID_BYTES));
	assert_ptr_equal(again, p2);
	db_prepared_release(&c, again);
	db_prepared_release(&c, p2);
	/* a bad statement is not cached */
	const char *bad = "SELEKT nothing";
	struct db_prepared *pb = NULL;
	assert_int_not_equal(db_prepared_get(&c, "", coffer_slice_of(bad, strlen(bad)), &pb), COFFER_OK);
	size_t n, bytes;
	uint64_t ev;
	db_prepared_stats(&c, &n, &bytes, &ev);
	assert_int_equal(n, 1);
	assert_int_equal(ev, 1);
	db_prepared_cache_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lru_eviction_answers_unprepared),
		cmocka_unit_test(test_held_statement_survives_eviction),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
