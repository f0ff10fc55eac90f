/* dmlt_helper.c - see dmlt_helper.h. */
#include "dmlt_helper.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

struct dbt *dmlt_new(const char *tag)
{
	struct dbt *e = dbt_new(tag);
	dbt_ok(e, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
	dbt_ok(e, "USE ks");
	return e;
}

void dmlt_ok(struct dbt *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *q = NULL;
	if (vasprintf(&q, fmt, ap) < 0)
		abort();
	va_end(ap);
	coffer_manual_clock_advance(&e->clock, 1);
	dbt_ok(e, q);
	free(q);
}

const char *dmlt_rows(struct dbt *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *q = NULL;
	if (vasprintf(&q, fmt, ap) < 0)
		abort();
	va_end(ap);
	coffer_manual_clock_advance(&e->clock, 1);
	const char *s = dbt_rows(e, q);
	free(q);
	return s;
}

static void decode(struct dbt *e, struct coffer_proto_response *r)
{
	struct coffer_proto_config pc = {.expect_responses = true};
	struct coffer_proto_frame f;
	enum coffer_proto_status st;
	struct coffer_proto_err perr;
	assert_int_equal(coffer_proto_frame_decode(&pc, coffer_buf_slice(&e->frame), &f, &st, NULL, &perr), COFFER_OK);
	assert_int_equal(st, COFFER_PROTO_COMPLETE);
	memset(r, 0, sizeof(*r));
	if (coffer_proto_response_decode(&f, &e->arena, r, &perr) != COFFER_OK)
		fail_msg("response does not decode: %s", coffer_error_msg());
}

static void params(struct coffer_proto_params *p, const struct coffer_proto_value *v, size_t n, int32_t page_size,
		   struct coffer_slice ps)
{
	memset(p, 0, sizeof(*p));
	p->consistency = COFFER_PROTO_CL_ONE;
	p->page_size = -1;
	if (n) {
		p->flags |= COFFER_PROTO_QF_VALUES;
		p->values = v;
		p->n_values = (uint16_t)n;
	}
	if (page_size > 0) {
		p->flags |= COFFER_PROTO_QF_PAGE_SIZE;
		p->page_size = page_size;
	}
	if (ps.len) {
		p->flags |= COFFER_PROTO_QF_PAGING_STATE;
		p->paging_state = ps;
	}
}

/* The paging state may point into the previous response: copy it first. */
static struct coffer_buf ps_copy;

void dmlt_query(struct dbt *e, const char *cql, const struct coffer_proto_value *v, size_t n, int32_t page_size,
		struct coffer_slice paging_state, struct coffer_proto_response *r)
{
	struct coffer_proto_request req;
	coffer_buf_reset(&ps_copy);
	coffer_buf_put(&ps_copy, paging_state.ptr, paging_state.len);
	memset(&req, 0, sizeof(req));
	req.opcode = COFFER_PROTO_OP_QUERY;
	req.version = 4;
	req.stream = 9;
	req.u.query.query = coffer_slice_str(cql);
	params(&req.u.query.params, v, n, page_size, coffer_buf_slice(&ps_copy));
	coffer_manual_clock_advance(&e->clock, 1);
	coffer_buf_reset(&e->frame);
	coffer_arena_reset(&e->arena);
	coffer_db_handle(e->db, &e->session, &req, &e->frame);
	decode(e, r);
}

size_t dmlt_prepare(struct dbt *e, const char *cql, uint8_t id[64], struct coffer_proto_response *r)
{
	struct coffer_proto_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = COFFER_PROTO_OP_PREPARE;
	req.version = 4;
	req.stream = 9;
	req.u.prepare.query = coffer_slice_str(cql);
	coffer_buf_reset(&e->frame);
	coffer_arena_reset(&e->arena);
	coffer_db_handle(e->db, &e->session, &req, &e->frame);
	decode(e, r);
	dmlt_is_ok(r, cql);
	assert_int_equal(r->u.result.kind, COFFER_PROTO_RESULT_PREPARED);
	assert_true(r->u.result.id.len <= 64);
	memcpy(id, r->u.result.id.ptr, r->u.result.id.len);
	return r->u.result.id.len;
}

void dmlt_execute(struct dbt *e, const uint8_t *id, size_t idlen, const struct coffer_proto_value *v, size_t n,
		  int32_t page_size, struct coffer_slice paging_state, struct coffer_proto_response *r)
{
	struct coffer_proto_request req;
	coffer_buf_reset(&ps_copy);
	coffer_buf_put(&ps_copy, paging_state.ptr, paging_state.len);
	memset(&req, 0, sizeof(req));
	req.opcode = COFFER_PROTO_OP_EXECUTE;
	req.version = 4;
	req.stream = 9;
	req.u.execute.id = coffer_slice_of(id, idlen);
	params(&req.u.execute.params, v, n, page_size, coffer_buf_slice(&ps_copy));
	coffer_manual_clock_advance(&e->clock, 1);
	coffer_buf_reset(&e->frame);
	coffer_arena_reset(&e->arena);
	coffer_db_handle(e->db, &e->session, &req, &e->frame);
	decode(e, r);
}

void dmlt_is_err(const struct coffer_proto_response *r, uint32_t code, const char *substr)
{
	if (r->opcode != COFFER_PROTO_OP_ERROR)
		fail_msg("succeeded; expected error 0x%04x", code);
	if (r->u.error.code != code)
		fail_msg("error 0x%04x (%s); expected 0x%04x", r->u.error.code, r->u.error.message, code);
	if (substr && !strstr(r->u.error.message, substr))
		fail_msg("message \"%s\" lacks \"%s\"", r->u.error.message, substr);
}

void dmlt_is_ok(const struct coffer_proto_response *r, const char *what)
{
	if (r->opcode != COFFER_PROTO_OP_RESULT)
		fail_msg("[%s] failed: 0x%04x %s", what, r->u.error.code, r->u.error.message);
}

static uint8_t ring[64][64];
static unsigned ring_i;

struct coffer_proto_value dmlt_int(int32_t v)
{
	uint8_t *b = ring[ring_i++ % 64];
	coffer_store_u32(b, (uint32_t)v);
	return coffer_proto_value_of(b, 4);
}

struct coffer_proto_value dmlt_bigint(int64_t v)
{
	uint8_t *b = ring[ring_i++ % 64];
	coffer_store_u64(b, (uint64_t)v);
	return coffer_proto_value_of(b, 8);
}

struct coffer_proto_value dmlt_text(const char *s)
{
	return coffer_proto_value_of(s, strlen(s));
}
