/*
 * parser_test.c - every statement form coffer parses (USE, keyspace DDL,
 * CREATE/ALTER/DROP TABLE with Keyspaces' CUSTOM_PROPERTIES, TRUNCATE, INSERT,
 * UPDATE with collection and counter updates and conditions, DELETE, BATCH,
 * SELECT with every clause, roles, RESTORE TABLE), terms as drivers send them,
 * bind markers, and the syntax errors with their Cassandra-style messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cql/cql.h"

static struct coffer_arena arena;

static int setup(void **state)
{
	coffer_arena_init(&arena, 0);
	return 0;
}

static int teardown(void **state)
{
	coffer_arena_free(&arena);
	return 0;
}

static struct coffer_cql_stmt *P(const char *q)
{
	struct coffer_cql_stmt *s = NULL;

	if (coffer_cql_parse(&arena, q, strlen(q), &s) != COFFER_OK)
		fail_msg("parse '%s': %s", q, coffer_error_msg());
	return s;
}

static void E(const char *q, coffer_rc code, const char *msg)
{
	struct coffer_cql_stmt *s = NULL;
	coffer_rc rc = coffer_cql_parse(&arena, q, strlen(q), &s);

	if (rc != code)
		fail_msg("'%s': got %s (%s), want %s", q, coffer_rc_name(rc), coffer_error_msg(),
			 coffer_rc_name(code));
	if (msg && strcmp(coffer_error_msg(), msg) != 0)
		fail_msg("'%s': message '%s', want '%s'", q, coffer_error_msg(), msg);
}

static char *type_str(const struct coffer_datatype *t)
{
	static char buf[256];
	struct coffer_buf b = {0};

	coffer_datatype_format(t, &b);
	snprintf(buf, sizeof(buf), "%s", coffer_buf_cstr(&b));
	coffer_buf_free(&b);
	return buf;
}

static void test_use_and_keyspaces(void **state)
{
	struct coffer_cql_stmt *s = P("USE \"MyKs\";");
	const struct coffer_cql_term *r;

	assert_int_equal(s->kind, COFFER_CQL_USE);
	assert_string_equal(s->u.use_keyspace, "MyKs");
	s = P("use MyKs");
	assert_string_equal(s->u.use_keyspace, "myks");

	s = P("CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'SimpleStrategy', "
	      "'replication_factor': 1} AND durable_writes = true");
	assert_int_equal(s->kind, COFFER_CQL_CREATE_KEYSPACE);
	assert_true(s->u.keyspace.if_not_exists);
	assert_string_equal(s->u.keyspace.name, "ks");
	assert_int_equal(s->u.keyspace.options.n, 2);
	r = coffer_cql_option(&s->u.keyspace.options, "replication");
	assert_non_null(r);
	assert_int_equal(r->kind, COFFER_CQL_TERM_MAP);
	assert_int_equal(r->nitems, 4);
	assert_string_equal(r->items[1]->text, "SimpleStrategy");
	assert_int_equal(r->items[3]->kind, COFFER_CQL_TERM_INTEGER);
	r = coffer_cql_option(&s->u.keyspace.options, "durable_writes");
	assert_int_equal(r->kind, COFFER_CQL_TERM_BOOLEAN);
	assert_true(r->boolean);
	assert_null(coffer_cql_option(&s->u.keyspace.options, "nope"));

	s = P("create schema k2 with REPLICATION = {'class' : 'NetworkTopologyStrategy', 'dc1' : 3} "
	      "and DURABLE_WRITES = FALSE");
	assert_int_equal(s->kind, COFFER_CQL_CREATE_KEYSPACE);
	assert_false(coffer_cql_option(&s->u.keyspace.options, "durable_writes")->boolean);
	s = P("ALTER KEYSPACE ks WITH durable_writes = false");
	assert_int_equal(s->kind, COFFER_CQL_ALTER_KEYSPACE);
	s = P("DROP KEYSPACE IF EXISTS ks");
	assert_int_equal(s->kind, COFFER_CQL_DROP_KEYSPACE);
	assert_true(s->u.keyspace.if_exists);
	s = P("DROP KEYSPACE ks");
	assert_false(s->u.keyspace.if_exists);

	E("CREATE KEYSPACE ks", COFFER_E_SYNTAX, "line 1:18 mismatched input '<EOF>' expecting WITH");
	E("CREATE KEYSPACE IF EXISTS ks WITH replication = {}", COFFER_E_SYNTAX,
	  "line 1:19 mismatched input 'EXISTS' expecting NOT");
	E("CREATE KEYSPACE ks WITH replication = {'a': 1} AND replication = {}", COFFER_E_SYNTAX,
	  "Multiple definition for property replication");
	E("CREATE KEYSPACE select WITH replication = {}", COFFER_E_SYNTAX,
	  "line 1:16 no viable alternative at input 'select'");
}

static void test_create_table(void **state)
{
	struct coffer_cql_stmt *s = P(
		"CREATE TABLE IF NOT EXISTS ks.events (\n"
		"  tenant uuid, day date, ts timestamp, seq int,\n"
		"  \"Body\" blob, tags set<text>, attrs map<text, frozen<list<int>>>,\n"
		"  owner text STATIC, pair tuple<int, text>,\n"
		"  PRIMARY KEY ((tenant, day), ts, seq)\n"
		") WITH CLUSTERING ORDER BY (ts DESC, seq ASC)\n"
		"  AND default_time_to_live = 3600\n"
		"  AND CUSTOM_PROPERTIES = {'encryption_specification': {'encryption_type': "
		"'CUSTOMER_MANAGED_KMS_KEY', 'kms_key_identifier': "
		"'arn:aws:kms:us-east-1:111122223333:key/abc'}, 'point_in_time_recovery': "
		"{'status': 'enabled'}}\n"
		"  AND comment = 'it''s mine'\n"
		"  AND compaction = {'class': 'SizeTieredCompactionStrategy'}\n"
		"  AND gc_grace_seconds = 864000 AND caching = ALL;");
	const struct coffer_cql_create_table *ct = &s->u.create_table;
	const struct coffer_cql_term *cp, *enc;

	assert_int_equal(s->kind, COFFER_CQL_CREATE_TABLE);
	assert_true(ct->if_not_exists);
	assert_string_equal(ct->table.keyspace, "ks");
	assert_string_equal(ct->table.name, "events");
	assert_int_equal(ct->ncolumns, 9);
	assert_string_equal(ct->columns[4].name, "Body");
	assert_string_equal(type_str(ct->columns[6].type), "map<text, frozen<list<int>>>");
	assert_string_equal(type_str(ct->columns[8].type), "frozen<tuple<int, text>>");
	assert_true(ct->columns[7].is_static);
	assert_int_equal(ct->npartition_key, 2);
	assert_string_equal(ct->partition_key[1], "day");
	assert_int_equal(ct->nclustering, 2);
	assert_string_equal(ct->clustering[0], "ts");
	assert_int_equal(ct->nclustering_order, 2);
	assert_true(ct->clustering_order[0].desc);
	assert_false(ct->clustering_order[1].desc);
	assert_int_equal(ct->options.n, 6);
	assert_int_equal(coffer_cql_option(&ct->options, "default_time_to_live")->kind,
			 COFFER_CQL_TERM_INTEGER);
	cp = coffer_cql_option(&ct->options, "custom_properties");
	assert_int_equal(cp->kind, COFFER_CQL_TERM_MAP);
	assert_int_equal(cp->nitems, 4);
	assert_string_equal(cp->items[0]->text, "encryption_specification");
	enc = cp->items[1];
	assert_int_equal(enc->kind, COFFER_CQL_TERM_MAP);
	assert_string_equal(enc->items[1]->text, "CUSTOMER_MANAGED_KMS_KEY");
	assert_string_equal(enc->items[3]->text, "arn:aws:kms:us-east-1:111122223333:key/abc");
	assert_string_equal(coffer_cql_option(&ct->options, "comment")->text, "it's mine");
	/* other options keep their text */
	assert_string_equal(coffer_cql_option(&ct->options, "compaction")->src,
			    "{'class': 'SizeTieredCompactionStrategy'}");
	assert_string_equal(coffer_cql_option(&ct->options, "caching")->text, "all");

	s = P("CREATE TABLE t (k int PRIMARY KEY, v text)");
	ct = &s->u.create_table;
	assert_null(ct->table.keyspace);
	assert_true(ct->columns[0].primary_key);
	assert_false(ct->has_primary_key_clause);
	s = P("CREATE TABLE t (k int, c int, v counter, PRIMARY KEY (k, c)) WITH COMPACT STORAGE");
	assert_true(s->u.create_table.compact_storage);
	assert_int_equal(s->u.create_table.npartition_key, 1);
	s = P("create columnfamily t (k int, primary key (k),)");
	assert_int_equal(s->kind, COFFER_CQL_CREATE_TABLE);

	E("CREATE TABLE t (k int PRIMARY KEY, v list<list<int>>)", COFFER_E_INVALID, NULL);
	assert_non_null(strstr(coffer_error_msg(), "line 1:37"));
	assert_non_null(strstr(coffer_error_msg(), "Non-frozen collections"));
	E("CREATE TABLE t (k int PRIMARY KEY, v frozen<int>)", COFFER_E_INVALID, NULL);
	E("CREATE TABLE t (k int PRIMARY KEY, v mytype)", COFFER_E_INVALID,
	  "line 1:37 Unknown type mytype");
	E("CREATE TABLE t (k int PRIMARY KEY, v 'org.Foo')", COFFER_E_INVALID, NULL);
	E("CREATE TABLE t (k int PRIMARY KEY, v list<int)", COFFER_E_SYNTAX,
	  "line 1:45 mismatched input ')' expecting '>'");
	E("CREATE TABLE t (k int, PRIMARY KEY (k), PRIMARY KEY (k))", COFFER_E_INVALID, NULL);
	E("CREATE TABLE t (k int PRIMARY KEY) WITH CLUSTERING ORDER (k DESC)", COFFER_E_SYNTAX,
	  "line 1:57 mismatched input '(' expecting BY");
	E("CREATE TABLE t (k int PRIMARY KEY", COFFER_E_SYNTAX,
	  "line 1:33 mismatched input '<EOF>' expecting ')'");
	E("CREATE TABLE t (from int PRIMARY KEY)", COFFER_E_SYNTAX,
	  "line 1:16 no viable alternative at input 'from'");
	E("CREATE TABLE t (\"from\" int PRIMARY KEY) WITH", COFFER_E_SYNTAX,
	  "line 1:44 no viable alternative at input '<EOF>'");
	E("CREATE TABLES t (k int PRIMARY KEY)", COFFER_E_SYNTAX,
	  "line 1:7 no viable alternative at input 'TABLES'");
}

static void test_alter_drop_truncate(void **state)
{
	struct coffer_cql_stmt *s = P("ALTER TABLE ks.t ADD v2 map<int, text>");

	assert_int_equal(s->kind, COFFER_CQL_ALTER_TABLE);
	assert_int_equal(s->u.alter_table.kind, COFFER_CQL_ALTER_ADD);
	assert_int_equal(s->u.alter_table.nadd, 1);
	assert_string_equal(type_str(s->u.alter_table.add[0].type), "map<int, text>");
	s = P("ALTER TABLE t ADD (a int, b text static)");
	assert_int_equal(s->u.alter_table.nadd, 2);
	assert_true(s->u.alter_table.add[1].is_static);
	s = P("ALTER TABLE t DROP v");
	assert_int_equal(s->u.alter_table.kind, COFFER_CQL_ALTER_DROP);
	assert_string_equal(s->u.alter_table.drop[0], "v");
	s = P("ALTER TABLE t DROP (a, b)");
	assert_int_equal(s->u.alter_table.ndrop, 2);
	s = P("ALTER TABLE t WITH CUSTOM_PROPERTIES = {'encryption_specification': "
	      "{'encryption_type': 'AWS_OWNED_KMS_KEY'}} AND comment = 'x'");
	assert_int_equal(s->u.alter_table.kind, COFFER_CQL_ALTER_WITH);
	assert_int_equal(s->u.alter_table.options.n, 2);
	s = P("ALTER TABLE t RENAME a TO b AND c TO d");
	assert_int_equal(s->u.alter_table.kind, COFFER_CQL_ALTER_RENAME);
	assert_int_equal(s->u.alter_table.nrename, 2);
	assert_string_equal(s->u.alter_table.rename_to[1], "d");
	E("ALTER TABLE t ALTER v TYPE int", COFFER_E_SYNTAX,
	  "line 1:14 no viable alternative at input 'ALTER'");
	E("ALTER TABLE t ADD k int PRIMARY KEY", COFFER_E_INVALID, NULL);
	E("ALTER TABLE t WITH CLUSTERING ORDER BY (c DESC)", COFFER_E_SYNTAX, NULL);

	s = P("DROP TABLE IF EXISTS ks.t");
	assert_int_equal(s->kind, COFFER_CQL_DROP_TABLE);
	assert_true(s->u.drop_table.if_exists);
	s = P("DROP COLUMNFAMILY t");
	assert_false(s->u.drop_table.if_exists);
	s = P("TRUNCATE ks.t");
	assert_int_equal(s->kind, COFFER_CQL_TRUNCATE);
	assert_string_equal(s->u.drop_table.table.keyspace, "ks");
	s = P("TRUNCATE TABLE t");
	assert_string_equal(s->u.drop_table.table.name, "t");
	E("TRUNCATE", COFFER_E_SYNTAX, "line 1:8 no viable alternative at input '<EOF>'");
	E("DROP TABLE IF t", COFFER_E_SYNTAX, "line 1:14 mismatched input 't' expecting EXISTS");
}

static void test_insert(void **state)
{
	struct coffer_cql_stmt *s = P(
		"INSERT INTO ks.t (k, \"V\", l, s, m, tu, b, u, f, n, d) VALUES "
		"('a''b', -5, [1, 2], {'x'}, {1: 'one', 2: 'two'}, (1, 'x'), 0xCAFE, "
		"123e4567-e89b-12d3-a456-426614174000, -1.5e3, NULL, $$dollar 'str'$$) "
		"IF NOT EXISTS USING TTL 86400 AND TIMESTAMP 1700000000000000");
	const struct coffer_cql_insert *in = &s->u.insert;

	assert_int_equal(s->kind, COFFER_CQL_INSERT);
	assert_int_equal(in->ncolumns, 11);
	assert_string_equal(in->columns[1], "V");
	assert_int_equal(in->values[0]->kind, COFFER_CQL_TERM_STRING);
	assert_string_equal(in->values[0]->text, "a'b");
	assert_string_equal(in->values[0]->src, "'a''b'");
	assert_int_equal(in->values[1]->kind, COFFER_CQL_TERM_INTEGER);
	assert_string_equal(in->values[1]->text, "-5");
	assert_int_equal(in->values[2]->kind, COFFER_CQL_TERM_LIST);
	assert_int_equal(in->values[2]->nitems, 2);
	assert_int_equal(in->values[3]->kind, COFFER_CQL_TERM_SET);
	assert_int_equal(in->values[4]->kind, COFFER_CQL_TERM_MAP);
	assert_int_equal(in->values[4]->nitems, 4);
	assert_int_equal(in->values[5]->kind, COFFER_CQL_TERM_TUPLE);
	assert_int_equal(in->values[6]->kind, COFFER_CQL_TERM_HEX);
	assert_string_equal(in->values[6]->text, "CAFE");
	assert_int_equal(in->values[7]->kind, COFFER_CQL_TERM_UUID);
	assert_int_equal(in->values[8]->kind, COFFER_CQL_TERM_FLOAT);
	assert_string_equal(in->values[8]->text, "-1.5e3");
	assert_int_equal(in->values[9]->kind, COFFER_CQL_TERM_NULL);
	assert_string_equal(in->values[10]->text, "dollar 'str'");
	assert_true(in->if_not_exists);
	assert_string_equal(in->using_.ttl->text, "86400");
	assert_string_equal(in->using_.timestamp->text, "1700000000000000");

	s = P("INSERT INTO t (a, b, c, d, e) VALUES (?, :name, NaN, -Infinity, TRUE) USING TIMESTAMP ?");
	in = &s->u.insert;
	assert_int_equal(s->nbind, 3);
	assert_int_equal(in->values[0]->kind, COFFER_CQL_TERM_BIND);
	assert_int_equal(in->values[0]->bind_index, 0);
	assert_null(s->bind_names[0]);
	assert_int_equal(in->values[1]->bind_index, 1);
	assert_string_equal(s->bind_names[1], "name");
	assert_int_equal(in->values[2]->kind, COFFER_CQL_TERM_NAN);
	assert_int_equal(in->values[3]->kind, COFFER_CQL_TERM_INFINITY);
	assert_true(in->values[3]->negative);
	assert_true(in->values[4]->boolean);
	assert_int_equal(in->using_.timestamp->bind_index, 2);
	assert_false(in->if_not_exists);

	s = P("INSERT INTO t (a) VALUES (1) USING TTL 5 IF NOT EXISTS");
	assert_true(s->u.insert.if_not_exists);
	s = P("INSERT INTO t (a, b) VALUES ({}, (int) ?)");
	assert_int_equal(s->u.insert.values[0]->kind, COFFER_CQL_TERM_MAP);
	assert_int_equal(s->u.insert.values[0]->nitems, 0);
	assert_int_equal(s->u.insert.values[1]->kind, COFFER_CQL_TERM_CAST);
	s = P("INSERT INTO t (a, b) VALUES (now(), toTimestamp(now()))");
	assert_int_equal(s->u.insert.values[0]->kind, COFFER_CQL_TERM_FUNCTION);
	assert_string_equal(s->u.insert.values[0]->text, "now");
	assert_int_equal(s->u.insert.values[1]->items[0]->kind, COFFER_CQL_TERM_FUNCTION);
	s = P("INSERT INTO t JSON '{\"a\": 1}' DEFAULT UNSET");
	assert_non_null(s->u.insert.json);
	assert_true(s->u.insert.json_default_unset);
	s = P("INSERT INTO t (d) VALUES (1h30m)");
	assert_int_equal(s->u.insert.values[0]->kind, COFFER_CQL_TERM_DURATION);

	E("INSERT INTO t (a, b) VALUES (1)", COFFER_E_INVALID, "Unmatched column names/values");
	E("INSERT INTO t (a) VALUES (1", COFFER_E_SYNTAX,
	  "line 1:27 mismatched input '<EOF>' expecting ')'");
	E("INSERT INTO t (a) VALUE (1)", COFFER_E_SYNTAX,
	  "line 1:18 mismatched input 'VALUE' expecting VALUES");
	E("INSERT t (a) VALUES (1)", COFFER_E_SYNTAX, "line 1:7 mismatched input 't' expecting INTO");
	E("INSERT INTO t (a) VALUES (1) USING TTL 1 AND TTL 2", COFFER_E_SYNTAX, NULL);
	E("INSERT INTO t (a) VALUES (1) USING FOO 1", COFFER_E_SYNTAX,
	  "line 1:35 mismatched input 'FOO' expecting TTL or TIMESTAMP");
	E("INSERT INTO t (a) VALUES (abc)", COFFER_E_SYNTAX,
	  "line 1:26 no viable alternative at input 'abc'");
	E("INSERT INTO t (a) VALUES ([1, 2)", COFFER_E_SYNTAX,
	  "line 1:31 mismatched input ')' expecting ']'");
	E("INSERT INTO t (a) VALUES ({1: 2, 3})", COFFER_E_SYNTAX,
	  "line 1:34 mismatched input '}' expecting ':'");
	E("INSERT INTO t (a) VALUES (())", COFFER_E_SYNTAX, NULL);
	E("INSERT INTO t (a) VALUES (- 'x')", COFFER_E_SYNTAX,
	  "line 1:28 no viable alternative at input ''x''");
}

static void test_update(void **state)
{
	struct coffer_cql_stmt *s = P(
		"UPDATE ks.t USING TTL 10 AND TIMESTAMP 5 SET a = 1, l = l + [2], l = [0] + l, "
		"s = s - {'x'}, m[ 'k' ] = 'v', m = m + {'a': 1}, cnt = cnt + 1, l[2] = 7, "
		"c2 = c2 -1, c3 += 4, s -= {'y'} WHERE k = 'key' AND c IN (1, 2) IF a = 1 AND m['k'] != 'z'");
	const struct coffer_cql_update *u = &s->u.update;

	assert_int_equal(s->kind, COFFER_CQL_UPDATE);
	assert_non_null(u->using_.ttl);
	assert_non_null(u->using_.timestamp);
	assert_int_equal(u->nassignments, 11);
	assert_int_equal(u->assignments[0].op, COFFER_CQL_SET_VALUE);
	assert_int_equal(u->assignments[1].op, COFFER_CQL_SET_ADD);
	assert_int_equal(u->assignments[1].value->kind, COFFER_CQL_TERM_LIST);
	assert_int_equal(u->assignments[2].op, COFFER_CQL_SET_PREPEND);
	assert_int_equal(u->assignments[3].op, COFFER_CQL_SET_REMOVE);
	assert_int_equal(u->assignments[4].op, COFFER_CQL_SET_ELEMENT);
	assert_string_equal(u->assignments[4].key->text, "k");
	assert_int_equal(u->assignments[5].op, COFFER_CQL_SET_ADD);
	assert_int_equal(u->assignments[6].op, COFFER_CQL_SET_ADD);
	assert_string_equal(u->assignments[6].column, "cnt");
	assert_int_equal(u->assignments[7].op, COFFER_CQL_SET_ELEMENT);
	assert_int_equal(u->assignments[8].op, COFFER_CQL_SET_REMOVE);
	assert_string_equal(u->assignments[8].value->text, "1");
	assert_int_equal(u->assignments[9].op, COFFER_CQL_SET_ADD);
	assert_int_equal(u->assignments[10].op, COFFER_CQL_SET_REMOVE);
	assert_int_equal(u->nwhere, 2);
	assert_int_equal(u->where[1].op, COFFER_CQL_OP_IN);
	assert_int_equal(u->where[1].nin, 2);
	assert_int_equal(u->nconditions, 2);
	assert_int_equal(u->conditions[1].op, COFFER_CQL_OP_NEQ);
	assert_non_null(u->conditions[1].element);
	assert_false(u->if_exists);

	s = P("UPDATE t SET c = c + -1 WHERE k = ? IF EXISTS");
	assert_true(s->u.update.if_exists);
	assert_string_equal(s->u.update.assignments[0].value->text, "-1");
	s = P("UPDATE t SET v = ? WHERE k = ? IF v IN (1, 2)");
	assert_int_equal(s->u.update.conditions[0].op, COFFER_CQL_OP_IN);
	assert_int_equal(s->nbind, 2);

	E("UPDATE t SET a = 1", COFFER_E_SYNTAX, "line 1:18 mismatched input '<EOF>' expecting WHERE");
	E("UPDATE t SET l = [1] + m WHERE k = 1", COFFER_E_INVALID, NULL);
	E("UPDATE t SET a == 1 WHERE k = 1", COFFER_E_SYNTAX,
	  "line 1:16 no viable alternative at input '='");
	E("UPDATE t SET a = 1 WHERE k = 1 IF", COFFER_E_SYNTAX,
	  "line 1:33 no viable alternative at input '<EOF>'");
	E("UPDATE t SET a = 1 WHERE k = 1 IF a", COFFER_E_SYNTAX,
	  "line 1:35 no viable alternative at input '<EOF>'");
	E("UPDATE t SET a = 1 WHERE", COFFER_E_SYNTAX,
	  "line 1:24 no viable alternative at input '<EOF>'");
}

static void test_delete(void **state)
{
	struct coffer_cql_stmt *s = P("DELETE a, m['k'], l[0] FROM ks.t USING TIMESTAMP 42 "
				      "WHERE k = 1 AND c >= 2 AND c < 5 IF EXISTS");
	const struct coffer_cql_delete *d = &s->u.del;

	assert_int_equal(s->kind, COFFER_CQL_DELETE);
	assert_int_equal(d->ncolumns, 3);
	assert_null(d->columns[0].element);
	assert_string_equal(d->columns[1].element->text, "k");
	assert_string_equal(d->columns[2].element->text, "0");
	assert_string_equal(d->using_.timestamp->text, "42");
	assert_int_equal(d->nwhere, 3);
	assert_int_equal(d->where[1].op, COFFER_CQL_OP_GE);
	assert_int_equal(d->where[2].op, COFFER_CQL_OP_LT);
	assert_true(d->if_exists);
	s = P("DELETE FROM t WHERE k = 1 IF v = 3");
	assert_int_equal(s->u.del.ncolumns, 0);
	assert_int_equal(s->u.del.nconditions, 1);
	E("DELETE FROM t USING TTL 5 WHERE k = 1", COFFER_E_SYNTAX,
	  "line 1:20 mismatched input 'TTL' expecting TIMESTAMP");
	E("DELETE a FORM t WHERE k = 1", COFFER_E_SYNTAX,
	  "line 1:9 mismatched input 'FORM' expecting FROM");
	E("DELETE FROM t", COFFER_E_SYNTAX, "line 1:13 mismatched input '<EOF>' expecting WHERE");
}

static void test_batch(void **state)
{
	struct coffer_cql_stmt *s = P(
		"BEGIN BATCH USING TIMESTAMP 10\n"
		"  INSERT INTO t (k, v) VALUES (1, ?);\n"
		"  UPDATE t SET v = ? WHERE k = 2;\n"
		"  DELETE FROM t WHERE k = ?\n"
		"APPLY BATCH;");

	assert_int_equal(s->kind, COFFER_CQL_BATCH);
	assert_int_equal(s->u.batch.type, COFFER_CQL_BATCH_LOGGED);
	assert_int_equal(s->u.batch.nstmts, 3);
	assert_int_equal(s->u.batch.stmts[1]->kind, COFFER_CQL_UPDATE);
	assert_string_equal(s->u.batch.using_.timestamp->text, "10");
	assert_int_equal(s->nbind, 3);
	assert_int_equal(s->u.batch.stmts[2]->u.del.where[0].value->bind_index, 2);
	s = P("BEGIN UNLOGGED BATCH INSERT INTO t (k) VALUES (1) APPLY BATCH");
	assert_int_equal(s->u.batch.type, COFFER_CQL_BATCH_UNLOGGED);
	s = P("begin counter batch update t set c = c + 1 where k = 1; apply batch");
	assert_int_equal(s->u.batch.type, COFFER_CQL_BATCH_COUNTER);
	s = P("BEGIN BATCH APPLY BATCH");
	assert_int_equal(s->u.batch.nstmts, 0);
	E("BEGIN BATCH SELECT * FROM t APPLY BATCH", COFFER_E_SYNTAX,
	  "line 1:12 mismatched input 'SELECT' expecting INSERT, UPDATE, DELETE or APPLY");
	E("BEGIN BATCH INSERT INTO t (k) VALUES (1);", COFFER_E_SYNTAX,
	  "line 1:41 mismatched input '<EOF>' expecting APPLY");
	E("BEGIN BATCH INSERT INTO t (k) VALUES (1) APPLY", COFFER_E_SYNTAX,
	  "line 1:46 mismatched input '<EOF>' expecting BATCH");
	E("BEGIN LOGGED INSERT", COFFER_E_SYNTAX,
	  "line 1:13 mismatched input 'INSERT' expecting BATCH");
}

static void test_select(void **state)
{
	struct coffer_cql_stmt *s = P(
		"SELECT k, v AS value, COUNT(*), count(1), writetime(v), TTL(v), token(a, b), "
		"CAST(v AS text), \"Col\", fn(k, 2) FROM ks.t WHERE token(a, b) > token(?) AND "
		"(c1, c2) > (1, 'x') AND c IN ? AND k = 'z' AND m CONTAINS KEY 'q' AND l CONTAINS 3 "
		"GROUP BY k ORDER BY c1 DESC, c2 PER PARTITION LIMIT 2 LIMIT 100 ALLOW FILTERING");
	const struct coffer_cql_select *sel = &s->u.select;

	assert_int_equal(s->kind, COFFER_CQL_SELECT);
	assert_false(sel->star);
	assert_int_equal(sel->nselectors, 10);
	assert_int_equal(sel->selectors[0]->kind, COFFER_CQL_SEL_COLUMN);
	assert_string_equal(sel->selectors[1]->alias, "value");
	assert_string_equal(sel->selectors[1]->src, "v");
	assert_int_equal(sel->selectors[2]->kind, COFFER_CQL_SEL_COUNT_STAR);
	assert_int_equal(sel->selectors[3]->kind, COFFER_CQL_SEL_COUNT_STAR);
	assert_int_equal(sel->selectors[4]->kind, COFFER_CQL_SEL_WRITETIME);
	assert_string_equal(sel->selectors[4]->name, "v");
	assert_int_equal(sel->selectors[5]->kind, COFFER_CQL_SEL_TTL);
	assert_int_equal(sel->selectors[6]->kind, COFFER_CQL_SEL_TOKEN);
	assert_int_equal(sel->selectors[6]->nargs, 2);
	assert_string_equal(sel->selectors[6]->src, "token(a, b)");
	assert_int_equal(sel->selectors[7]->kind, COFFER_CQL_SEL_CAST);
	assert_int_equal(sel->selectors[7]->cast_type->kind, COFFER_DT_TEXT);
	assert_string_equal(sel->selectors[8]->name, "Col");
	assert_int_equal(sel->selectors[9]->kind, COFFER_CQL_SEL_FUNCTION);
	assert_int_equal(sel->selectors[9]->args[1]->kind, COFFER_CQL_SEL_TERM);
	assert_int_equal(sel->nwhere, 6);
	assert_int_equal(sel->where[0].kind, COFFER_CQL_REL_TOKEN);
	assert_int_equal(sel->where[0].op, COFFER_CQL_OP_GT);
	assert_int_equal(sel->where[0].value->kind, COFFER_CQL_TERM_FUNCTION);
	assert_string_equal(sel->where[0].value->text, "token");
	assert_int_equal(sel->where[1].kind, COFFER_CQL_REL_MULTI);
	assert_int_equal(sel->where[1].ncolumns, 2);
	assert_int_equal(sel->where[1].value->kind, COFFER_CQL_TERM_TUPLE);
	assert_int_equal(sel->where[2].op, COFFER_CQL_OP_IN);
	assert_int_equal(sel->where[2].value->kind, COFFER_CQL_TERM_BIND);
	assert_int_equal(sel->where[4].op, COFFER_CQL_OP_CONTAINS_KEY);
	assert_int_equal(sel->where[5].op, COFFER_CQL_OP_CONTAINS);
	assert_int_equal(sel->ngroup_by, 1);
	assert_int_equal(sel->norder_by, 2);
	assert_true(sel->order_by[0].desc);
	assert_false(sel->order_by[1].desc);
	assert_string_equal(sel->per_partition_limit->text, "2");
	assert_string_equal(sel->limit->text, "100");
	assert_true(sel->allow_filtering);
	assert_int_equal(s->nbind, 2);

	s = P("SELECT JSON DISTINCT a FROM t");
	assert_true(s->u.select.json);
	assert_true(s->u.select.distinct);
	s = P("SELECT json, distinct FROM t");
	assert_false(s->u.select.json);
	assert_int_equal(s->u.select.nselectors, 2);
	s = P("select * from system.local where key='local'");
	assert_true(s->u.select.star);
	assert_string_equal(s->u.select.table.keyspace, "system");
	assert_string_equal(s->u.select.where[0].value->text, "local");
	s = P("SELECT * FROM t WHERE token(k) > -9223372036854775808 AND token(k) <= 0");
	assert_string_equal(s->u.select.where[0].value->text, "-9223372036854775808");
	s = P("SELECT * FROM t WHERE (c1, c2) IN ((1, 2), (3, 4)) AND k = :key LIMIT :lim");
	assert_int_equal(s->u.select.where[0].nin, 2);
	assert_string_equal(s->bind_names[1], "lim");
	s = P("SELECT * FROM t WHERE m['a'] = 1 ALLOW FILTERING");
	assert_non_null(s->u.select.where[0].map_key);

	E("SELECT * FORM t", COFFER_E_SYNTAX, "line 1:9 mismatched input 'FORM' expecting FROM");
	E("SELECT * FROM t WHERE", COFFER_E_SYNTAX, "line 1:21 no viable alternative at input '<EOF>'");
	E("SELECT * FROM t LIMIT", COFFER_E_SYNTAX, "line 1:21 no viable alternative at input '<EOF>'");
	E("SELECT FROM t", COFFER_E_SYNTAX, "line 1:7 no viable alternative at input 'FROM'");
	E("SELECT * FROM t WHERE k = 1 ALLOW", COFFER_E_SYNTAX,
	  "line 1:33 mismatched input '<EOF>' expecting FILTERING");
	E("SELECT * FROM t WHERE k == 1", COFFER_E_SYNTAX,
	  "line 1:25 no viable alternative at input '='");
	E("SELECT * FROM t; SELECT * FROM t", COFFER_E_SYNTAX,
	  "line 1:17 mismatched input 'SELECT' expecting EOF");
	E("SELECT * FROM t ORDER c", COFFER_E_SYNTAX, "line 1:22 mismatched input 'c' expecting BY");
	E("SELECT a, FROM t", COFFER_E_SYNTAX, "line 1:10 no viable alternative at input 'FROM'");
	E("SELECT token(1) FROM t", COFFER_E_INVALID, NULL);
	E("SELECT * FROM t WHERE (a, b) = 1 AND", COFFER_E_SYNTAX, NULL);
	E("SELECT * FROM t\nWHERE k = 'unterminated", COFFER_E_SYNTAX,
	  "line 2:23 mismatched character '<EOF>' expecting '''");
}

static void test_roles(void **state)
{
	struct coffer_cql_stmt *s = P("CREATE ROLE IF NOT EXISTS alice WITH PASSWORD = 'p''w' AND "
				      "LOGIN = true AND SUPERUSER = false");

	assert_int_equal(s->kind, COFFER_CQL_CREATE_ROLE);
	assert_true(s->u.role.if_not_exists);
	assert_string_equal(s->u.role.name, "alice");
	assert_string_equal(s->u.role.password->text, "p'w");
	assert_true(s->u.role.login->boolean);
	assert_false(s->u.role.superuser->boolean);
	s = P("CREATE ROLE 'Bob'");
	assert_string_equal(s->u.role.name, "Bob");
	assert_null(s->u.role.password);
	s = P("ALTER ROLE \"Bob\" WITH PASSWORD = 'x'");
	assert_int_equal(s->kind, COFFER_CQL_ALTER_ROLE);
	s = P("DROP ROLE IF EXISTS bob");
	assert_int_equal(s->kind, COFFER_CQL_DROP_ROLE);
	assert_true(s->u.role.if_exists);
	s = P("LIST ROLES");
	assert_int_equal(s->kind, COFFER_CQL_LIST_ROLES);
	s = P("LIST ROLES OF bob NORECURSIVE");
	assert_string_equal(s->u.role.of, "bob");
	assert_true(s->u.role.norecursive);
	s = P("LIST USERS");
	assert_true(s->u.role.user_syntax);
	s = P("CREATE USER carol WITH PASSWORD 'secret' SUPERUSER");
	assert_true(s->u.role.user_syntax);
	assert_true(s->u.role.superuser->boolean);
	assert_string_equal(s->u.role.password->text, "secret");
	E("CREATE ROLE bob WITH PASSWD = 'x'", COFFER_E_SYNTAX,
	  "line 1:21 mismatched input 'PASSWD' expecting PASSWORD, LOGIN, SUPERUSER or OPTIONS");
	E("CREATE ROLE bob WITH LOGIN = true AND LOGIN = false", COFFER_E_SYNTAX, NULL);
	E("ALTER ROLE bob", COFFER_E_SYNTAX, "line 1:14 mismatched input '<EOF>' expecting WITH");
	E("LIST KEYS", COFFER_E_SYNTAX, "line 1:5 mismatched input 'KEYS' expecting ROLES");
}

static void test_restore(void **state)
{
	struct coffer_cql_stmt *s = P(
		"RESTORE TABLE ks.new FROM TABLE ks.src WITH restore_timestamp = "
		"'2024-01-02T03:04:05.123456Z' AND custom_properties = {'encryption_specification': "
		"{'encryption_type': 'AWS_OWNED_KMS_KEY'}}");

	assert_int_equal(s->kind, COFFER_CQL_RESTORE_TABLE);
	assert_string_equal(s->u.restore.target.name, "new");
	assert_string_equal(s->u.restore.source.keyspace, "ks");
	assert_string_equal(coffer_cql_option(&s->u.restore.options, "restore_timestamp")->text,
			    "2024-01-02T03:04:05.123456Z");
	s = P("restore table t2 from table t1");
	assert_int_equal(s->u.restore.options.n, 0);
	E("RESTORE TABLE t2 FROM t1", COFFER_E_SYNTAX,
	  "line 1:22 mismatched input 't1' expecting TABLE");
}

static void test_general_errors(void **state)
{
	E("", COFFER_E_SYNTAX, "line 1:0 no viable alternative at input '<EOF>'");
	E(";", COFFER_E_SYNTAX, "line 1:0 no viable alternative at input ';'");
	E("SELEC * FROM t", COFFER_E_SYNTAX, "line 1:0 no viable alternative at input 'SELEC'");
	E("42", COFFER_E_SYNTAX, "line 1:0 no viable alternative at input '42'");
	E("CREATE INDEX i ON t (v)", COFFER_E_SYNTAX,
	  "line 1:7 no viable alternative at input 'INDEX'");
	/* comments are fine anywhere */
	(void)P("-- leading\nSELECT /* inline */ * FROM t // trailing");
	/* keywords in any case */
	(void)P("sElEcT * fRoM t wHeRe K = 1 LiMiT 1");
}

static void test_limits(void **state)
{
	char q[4096];
	size_t n = 0;
	int i;

	n += (size_t)snprintf(q + n, sizeof(q) - n, "INSERT INTO t (a) VALUES (");
	for (i = 0; i < 200; i++)
		q[n++] = '[';
	for (i = 0; i < 200; i++)
		q[n++] = ']';
	q[n++] = ')';
	q[n] = '\0';
	E(q, COFFER_E_LIMIT, NULL);
	n = 0;
	n += (size_t)snprintf(q + n, sizeof(q) - n, "CREATE TABLE t (k int PRIMARY KEY, v ");
	for (i = 0; i < 40; i++)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "frozen<list<");
	n += (size_t)snprintf(q + n, sizeof(q) - n, "int");
	for (i = 0; i < 80; i++)
		q[n++] = '>';
	q[n++] = ')';
	q[n] = '\0';
	E(q, COFFER_E_LIMIT, NULL);
	n = 0;
	n += (size_t)snprintf(q + n, sizeof(q) - n, "SELECT ");
	for (i = 0; i < 100; i++)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "f(");
	q[n++] = 'a';
	for (i = 0; i < 100; i++)
		q[n++] = ')';
	n += (size_t)snprintf(q + n, sizeof(q) - n, " FROM t");
	E(q, COFFER_E_LIMIT, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_use_and_keyspaces),
		cmocka_unit_test(test_create_table),
		cmocka_unit_test(test_alter_drop_truncate),
		cmocka_unit_test(test_insert),
		cmocka_unit_test(test_update),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_general_errors),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
