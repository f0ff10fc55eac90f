/* dmlt_helper.h - helpers for the DML/SELECT tests (dml, select, paging,
 * types): a database with keyspace ks in use (over dbt_helper), statements
 * run with the clock moved 1 µs first (so each write has its own
 * timestamp), paged queries, and PREPARE/EXECUTE with bound values. */
#ifndef COFFER_TEST_DMLT_HELPER_H
#define COFFER_TEST_DMLT_HELPER_H

#include "dbt_helper.h"

/* dbt_new + CREATE KEYSPACE ks + USE ks. */
struct dbt *dmlt_new(const char *tag);
/* Runs a statement that must succeed (clock + 1 µs first). */
void dmlt_ok(struct dbt *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Rows of a SELECT rendered as dbt_rows does (clock + 1 µs first). */
const char *dmlt_rows(struct dbt *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A QUERY with values, page size (-1 none) and paging state. */
void dmlt_query(struct dbt *e, const char *cql, const struct coffer_proto_value *v, size_t n, int32_t page_size,
		struct coffer_slice paging_state, struct coffer_proto_response *r);
/* PREPARE: the id (copied into id, up to 64 bytes) and the response. */
size_t dmlt_prepare(struct dbt *e, const char *cql, uint8_t id[64], struct coffer_proto_response *r);
void dmlt_execute(struct dbt *e, const uint8_t *id, size_t idlen, const struct coffer_proto_value *v, size_t n,
		  int32_t page_size, struct coffer_slice paging_state, struct coffer_proto_response *r);
/* Asserts r is an ERROR with code and message containing substr. */
void dmlt_is_err(const struct coffer_proto_response *r, uint32_t code, const char *substr);
/* Asserts r is a RESULT. */
void dmlt_is_ok(const struct coffer_proto_response *r, const char *what);
/* Value helpers (bytes live in a static ring of buffers). */
struct coffer_proto_value dmlt_int(int32_t v);
struct coffer_proto_value dmlt_bigint(int64_t v);
struct coffer_proto_value dmlt_text(const char *s);

#endif
