/*
 * handler.c - coffer_db_handle and coffer_db_login: the requests cofferd's
 * server hands over, turned into statement executions, and their outcomes
 * into RESULT or ERROR frames.
 *
 *   QUERY    parse the text, bind values (by position, or by name with flag
 *            0x40), execute
 *   PREPARE  parse, remember the statement under a 16-byte id (SHA-256 of the
 *            keyspace and the text, so the same text prepares to the same id
 *            across restarts and connections), answer its bind and result
 *            metadata
 *   EXECUTE  find the prepared statement (unknown id: ERROR 0x2500 Unprepared,
 *            and drivers prepare again), bind, execute
 *   BATCH    children by text or by id, each with its own values, executed as
 *            one BATCH statement
 *
 * Errors: the executor's result codes map to CQL error codes (table below);
 * an executor that needs another code (AlreadyExists, Unauthorized) sets
 * coffer_exec.err_code itself.
 *
 *   COFFER_E_SYNTAX                        0x2000 Syntax_error
 *   COFFER_E_INVALID, NOT_FOUND, LIMIT,
 *   KMS errors about a table's key         0x2200 Invalid
 *   COFFER_E_EXISTS                        0x2400 Already_exists
 *   COFFER_E_DENIED, KMS AccessDenied      0x2100 Unauthorized
 *   KMS throttling, UNAVAILABLE, TIMEOUT   0x1001 Overloaded (drivers retry)
 *   anything else (I/O, corruption, bugs)  0x0000 Server_error
 *
 * Invariants:
 *  1. A prepared statement a request uses is held (prepared.c) until the
 *     response is written, so evicting it meanwhile never frees it under
 *     the request; an id evicted earlier answers Unprepared.
 *  2. Every answer carries the request's stream id and the session's version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "db/db_internal.h"

/* The prepared statements a request holds (released when it is answered). */
struct holds {
	struct db_prepared **v;
	size_t n, cap;
};

static struct db_prepared *held(struct holds *h, struct db_prepared *p)
{
	if (p) {
		if (h->n == h->cap) {
			h->cap = h->cap ? 2 * h->cap : 4;
			h->v = coffer_xrealloc(h->v, h->cap * sizeof(*h->v));
		}
		h->v[h->n++] = p;
	}
	return p;
}

static void holds_release(struct coffer_db *db, struct holds *h)
{
	for (size_t i = 0; i < h->n; i++)
		db_prepared_release(&db->prepared, h->v[i]);
	free(h->v);
}

COFFER_RESULT coffer_db_login(struct coffer_db *db, struct coffer_slice user, struct coffer_slice password,
			      bool *ok)
{
	return db_role_check(db, user, password, ok);
}

/* ---- errors --------------------------------------------------------------------- */

static uint32_t cql_code(coffer_rc rc)
{
	switch (rc) {
	case COFFER_E_SYNTAX:
		return COFFER_CQL_SYNTAX_ERROR;
	case COFFER_E_INVALID:
	case COFFER_E_NOT_FOUND:
	case COFFER_E_LIMIT:
	case COFFER_E_STATE:
		return COFFER_CQL_INVALID;
	case COFFER_E_EXISTS:
		return COFFER_CQL_ALREADY_EXISTS;
	case COFFER_E_DENIED:
	case COFFER_E_KMS_ACCESS_DENIED:
		return COFFER_CQL_UNAUTHORIZED;
	case COFFER_E_KMS_THROTTLING:
	case COFFER_E_UNAVAILABLE:
	case COFFER_E_TIMEOUT:
	case COFFER_E_KMS_DEPENDENCY_TIMEOUT:
		return COFFER_CQL_OVERLOADED;
	default:
		if (rc >= COFFER_E_KMS_NOT_FOUND && rc < COFFER_E_KMS_LAST)
			return COFFER_CQL_INVALID;
		return COFFER_CQL_SERVER_ERROR;
	}
}

static void put_error(struct coffer_buf *out, uint8_t version, int16_t stream, const struct coffer_exec *x,
		      coffer_rc rc)
{
	struct coffer_proto_error_body e;
	if (x && x->err_code) {
		e = x->err;
		e.code = x->err_code;
	} else {
		memset(&e, 0, sizeof(e));
		e.code = cql_code(rc);
	}
	if (!e.message)
		e.message = coffer_error_msg()[0] ? coffer_error_msg() : coffer_rc_name(rc);
	if (e.code == COFFER_CQL_ALREADY_EXISTS && !e.keyspace) {
		/* AlreadyExists needs a keyspace; without one it is an Invalid. */
		e.code = COFFER_CQL_INVALID;
	}
	if (e.code == COFFER_CQL_UNAVAILABLE) {
		e.consistency = COFFER_PROTO_CL_ONE;
		e.required = 1;
		e.alive = 0;
	}
	size_t st = coffer_proto_frame_begin(out, version, true, 0, stream, COFFER_PROTO_OP_ERROR);
	if (coffer_proto_put_error(out, version, &e) != COFFER_OK || coffer_proto_frame_end(out, st, 0) != COFFER_OK)
		out->len = st;
}

/* ---- binding ------------------------------------------------------------------------ */

/* Values by position, or by name (flag 0x40) reordered to marker order. */
static COFFER_RESULT bind_values(struct coffer_exec *x, const struct coffer_cql_stmt *stmt,
				 const struct coffer_proto_params *p)
{
	x->values = p->n_values ? p->values : NULL;
	x->n_values = p->n_values;
	if (!(p->flags & COFFER_PROTO_QF_NAMES) || !p->names)
		return COFFER_OK;
	ENSURE(stmt->nbind >= 0 && p->n_values == (size_t)stmt->nbind, COFFER_E_INVALID,
	       "There were %u named values for %d bind markers", p->n_values, stmt->nbind);
	struct coffer_proto_value *ordered = coffer_arena_zalloc(x->arena, sizeof(*ordered) * (size_t)stmt->nbind + 1);
	for (int i = 0; i < stmt->nbind; i++) {
		const char *want = stmt->bind_names ? stmt->bind_names[i] : NULL;
		ENSURE(want, COFFER_E_INVALID, "Named values were sent for a statement with positional markers");
		size_t j;
		for (j = 0; j < p->n_values; j++)
			if (strcmp(p->names[j], want) == 0)
				break;
		ENSURE(j < p->n_values, COFFER_E_INVALID, "No value was given for the bind marker :%s", want);
		ordered[i] = p->values[j];
	}
	x->values = ordered;
	return COFFER_OK;
}

static void exec_init(struct coffer_exec *x, struct coffer_db *db, struct coffer_db_session *s,
		      struct coffer_arena *a, struct coffer_buf *body, const struct coffer_cql_stmt *stmt)
{
	memset(x, 0, sizeof(*x));
	x->db = db;
	x->session = s;
	x->version = s->version;
	x->arena = a;
	x->stmt = stmt;
	x->out = body;
	x->page_size = -1;
	x->now_us = coffer_clock_now_us(db->clock);
	x->timestamp_us = x->now_us;
}

static void exec_params(struct coffer_exec *x, const struct coffer_proto_params *p)
{
	x->page_size = (p->flags & COFFER_PROTO_QF_PAGE_SIZE) && p->page_size > 0 ? p->page_size : -1;
	if (p->flags & COFFER_PROTO_QF_PAGING_STATE)
		x->paging_state = p->paging_state;
	if (p->flags & COFFER_PROTO_QF_TIMESTAMP)
		x->timestamp_us = p->timestamp;
	x->skip_metadata = (p->flags & COFFER_PROTO_QF_SKIP_METADATA) != 0;
}

/* ---- execution ------------------------------------------------------------------------ */

static COFFER_RESULT run(struct coffer_exec *x)
{
	const struct coffer_cql_stmt *st = x->stmt;
	ENSURE(x->n_values == 0 || st->nbind < 0 || x->n_values == (size_t)st->nbind || x->batch_values,
	       COFFER_E_INVALID, "There were %zu markers(?) in CQL but %zu bound variables", (size_t)st->nbind,
	       x->n_values);
	switch (st->kind) {
	case COFFER_CQL_USE: return exec_use(x);
	case COFFER_CQL_CREATE_KEYSPACE:
	case COFFER_CQL_ALTER_KEYSPACE:
	case COFFER_CQL_DROP_KEYSPACE: return exec_keyspace(x);
	case COFFER_CQL_CREATE_TABLE: return exec_create_table(x);
	case COFFER_CQL_ALTER_TABLE: return exec_alter_table(x);
	case COFFER_CQL_DROP_TABLE:
	case COFFER_CQL_TRUNCATE: return exec_drop_table(x);
	case COFFER_CQL_INSERT: return exec_insert(x);
	case COFFER_CQL_UPDATE: return exec_update(x);
	case COFFER_CQL_DELETE: return exec_delete(x);
	case COFFER_CQL_BATCH: return exec_batch(x);
	case COFFER_CQL_SELECT: {
		const char *ks = st->u.select.table.keyspace ? st->u.select.table.keyspace : x->session->keyspace;
		if (db_is_system_keyspace(ks))
			return exec_system_select(x);
		return exec_select(x);
	}
	case COFFER_CQL_CREATE_ROLE:
	case COFFER_CQL_ALTER_ROLE:
	case COFFER_CQL_DROP_ROLE:
	case COFFER_CQL_LIST_ROLES: return exec_role(x);
	case COFFER_CQL_RESTORE_TABLE: return exec_restore_table(x);
	}
	BAIL(COFFER_E_INTERNAL, "statement kind %d has no executor", (int)st->kind);
}

static COFFER_RESULT do_query(struct coffer_exec *x, const struct coffer_proto_request *req)
{
	struct coffer_cql_stmt *stmt;
	TRY(coffer_cql_parse(x->arena, (const char *)req->u.query.query.ptr, req->u.query.query.len, &stmt));
	x->stmt = stmt;
	exec_params(x, &req->u.query.params);
	TRY(bind_values(x, stmt, &req->u.query.params));
	return run(x);
}

static COFFER_RESULT do_prepare(struct coffer_exec *x, const struct coffer_proto_request *req, struct holds *h)
{
	struct db_prepared *p;
	TRY(db_prepared_get(&x->db->prepared, x->session->keyspace, req->u.prepare.query, &p));
	held(h, p);
	x->stmt = p->stmt;
	struct coffer_proto_metadata bind, result;
	memset(&bind, 0, sizeof(bind));
	memset(&result, 0, sizeof(result));
	TRY(exec_prepare_metadata(x, &bind, &result));
	return coffer_proto_put_result_prepared(x->out, x->version, coffer_slice_of(p->id, DB_PREPARED_ID_BYTES), &bind,
						&result);
}

/* Runs a prepared statement with the keyspace it was prepared under, so an
 * unqualified table name means what it meant then. */
static COFFER_RESULT with_prepared_keyspace(struct coffer_exec *x, const struct db_prepared *p)
{
	if (!p->keyspace[0] || strcmp(p->keyspace, x->session->keyspace) == 0)
		return run(x);
	struct coffer_db_session tmp = *x->session;
	snprintf(tmp.keyspace, sizeof(tmp.keyspace), "%s", p->keyspace);
	struct coffer_db_session *orig = x->session;
	x->session = &tmp;
	coffer_rc rc = run(x);
	x->session = orig;
	/* USE inside a prepared statement changes the connection's keyspace. */
	if (rc == COFFER_OK && x->stmt->kind == COFFER_CQL_USE)
		snprintf(orig->keyspace, sizeof(orig->keyspace), "%s", tmp.keyspace);
	return rc;
}

static COFFER_RESULT do_execute(struct coffer_exec *x, const struct coffer_proto_request *req, struct holds *h)
{
	const struct db_prepared *p = held(h, db_prepared_find(&x->db->prepared, req->u.execute.id));
	if (!p) {
		x->err_code = COFFER_CQL_UNPREPARED;
		x->err.id = req->u.execute.id;
		char *hex = coffer_hex_encode(req->u.execute.id.ptr, req->u.execute.id.len > 64 ? 64 : req->u.execute.id.len);
		coffer_error_set(COFFER_E_NOT_FOUND, COFFER_WHERE,
				 "Prepared query with ID %s not found (either the query was not prepared on this "
				 "host (maybe the host has been restarted?) or you have prepared too many queries "
				 "and it has been evicted from the internal cache)",
				 hex);
		free(hex);
		return COFFER_E_NOT_FOUND;
	}
	if (x->on_loop && !db_dml_on_loop_ok(p->stmt))
		return db_decline(x, "not a plain write");
	x->stmt = p->stmt;
	exec_params(x, &req->u.execute.params);
	TRY(bind_values(x, p->stmt, &req->u.execute.params));
	return with_prepared_keyspace(x, p);
}

static COFFER_RESULT do_batch(struct coffer_exec *x, const struct coffer_proto_request *req, struct holds *h)
{
	const struct coffer_proto_batch *b = &req->u.batch;
	ENSURE(b->n > 0, COFFER_E_INVALID, "A BATCH needs at least one statement");
	struct coffer_cql_stmt *st = coffer_arena_zalloc(x->arena, sizeof(*st));
	st->kind = COFFER_CQL_BATCH;
	st->u.batch.type = b->type == COFFER_PROTO_BATCH_UNLOGGED ? COFFER_CQL_BATCH_UNLOGGED
			   : b->type == COFFER_PROTO_BATCH_COUNTER  ? COFFER_CQL_BATCH_COUNTER
								     : COFFER_CQL_BATCH_LOGGED;
	st->u.batch.nstmts = b->n;
	st->u.batch.stmts = coffer_arena_zalloc(x->arena, sizeof(*st->u.batch.stmts) * b->n);
	const struct coffer_proto_value **vals = coffer_arena_zalloc(x->arena, sizeof(*vals) * b->n);
	size_t *nvals = coffer_arena_zalloc(x->arena, sizeof(*nvals) * b->n);
	for (uint16_t i = 0; i < b->n; i++) {
		const struct coffer_proto_batch_stmt *c = &b->stmts[i];
		struct coffer_cql_stmt *child;
		if (c->kind == 0) {
			TRY(coffer_cql_parse(x->arena, (const char *)c->query.ptr, c->query.len, &child));
		} else {
			const struct db_prepared *p = held(h, db_prepared_find(&x->db->prepared, c->id));
			if (!p) {
				x->err_code = COFFER_CQL_UNPREPARED;
				x->err.id = c->id;
				BAIL(COFFER_E_NOT_FOUND, "Prepared query in BATCH position %u not found", i);
			}
			child = p->stmt;
		}
		ENSURE(child->kind == COFFER_CQL_INSERT || child->kind == COFFER_CQL_UPDATE ||
			       child->kind == COFFER_CQL_DELETE,
		       COFFER_E_INVALID, "Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed.");
		ENSURE(child->nbind < 0 || c->n_values == (size_t)child->nbind, COFFER_E_INVALID,
		       "There were %d markers(?) in CQL but %u bound variables (BATCH position %u)", child->nbind,
		       c->n_values, i);
		st->u.batch.stmts[i] = child;
		vals[i] = c->values;
		nvals[i] = c->n_values;
	}
	x->stmt = st;
	x->batch_values = vals;
	x->batch_n_values = nvals;
	if (b->flags & COFFER_PROTO_QF_TIMESTAMP)
		x->timestamp_us = b->timestamp;
	return run(x);
}

/* A write handed to the commit log by db_apply_later: what its answer needs. */
struct later {
	void (*finish)(void *arg, const struct coffer_buf *frame);
	void *arg;
	uint8_t version;
	int16_t stream;
};

/* The commit log's completion (on the leader's thread): the RESULT Void or
 * the error frame, then the server's finish. */
static void later_done(void *arg, coffer_rc rc, const char *msg)
{
	struct later *l = arg;
	struct coffer_buf out = {0};
	if (rc == COFFER_OK) {
		size_t st = coffer_proto_frame_begin(&out, l->version, true, 0, l->stream, COFFER_PROTO_OP_RESULT);
		coffer_proto_put_result_void(&out);
		if (coffer_proto_frame_end(&out, st, 0) != COFFER_OK)
			out.len = st;
	} else {
		coffer_error_set(rc, COFFER_WHERE, "%s", msg ? msg : coffer_rc_name(rc));
		put_error(&out, l->version, l->stream, NULL, rc);
	}
	l->finish(l->arg, &out);
	coffer_buf_free(&out);
	free(l);
}

coffer_rc db_apply_later(struct coffer_exec *x, struct coffer_table *store, struct coffer_mutation *const *m,
			 size_t n)
{
	struct later *l = COFFER_NEW(struct later);
	l->finish = x->finish;
	l->arg = x->finish_arg;
	l->version = x->version;
	l->stream = x->stream;
	bool must_lead = false;
	if (x->on_loop && !coffer_table_write_ready(store)) {
		free(l);
		return db_decline(x, "the table key is due for a check");
	}
	coffer_rc rc = coffer_table_apply_async(store, m, n, later_done, l, &must_lead);
	if (rc != COFFER_OK) {
		free(l);
		return rc;
	}
	/* l belongs to the commit log now (later_done may already have run) */
	x->deferred = true;
	x->lead = must_lead ? store : NULL;
	return COFFER_OK;
}

COFFER_RESULT db_decline(struct coffer_exec *x, const char *why)
{
	x->declined = true;
	BAIL(COFFER_E_STATE, "not on the event loop: %s", why);
}

static enum coffer_db_handled handle(struct coffer_db *db, struct coffer_db_session *s,
				     const struct coffer_proto_request *req, struct coffer_buf *out,
				     void (*finish)(void *arg, const struct coffer_buf *frame), void *arg, bool on_loop)
{
	/* the loop takes prepared statements only: parsing CQL text is left to workers */
	if (on_loop && req->opcode != COFFER_PROTO_OP_EXECUTE)
		return COFFER_DB_DECLINED;
	struct coffer_arena a;
	struct coffer_buf body = {0};
	struct coffer_exec x;
	coffer_arena_init(&a, 0);
	exec_init(&x, db, s, &a, &body, NULL);
	x.finish = finish;
	x.finish_arg = arg;
	x.stream = req->stream;
	x.on_loop = on_loop;
	coffer_error_clear();
	struct holds h = {0};
	coffer_rc rc;
	switch (req->opcode) {
	case COFFER_PROTO_OP_QUERY: rc = do_query(&x, req); break;
	case COFFER_PROTO_OP_PREPARE: rc = do_prepare(&x, req, &h); break;
	case COFFER_PROTO_OP_EXECUTE: rc = do_execute(&x, req, &h); break;
	case COFFER_PROTO_OP_BATCH: rc = do_batch(&x, req, &h); break;
	default:
		rc = coffer_error_set(COFFER_E_PROTOCOL, COFFER_WHERE, "%s is not a statement request",
				      coffer_proto_opcode_name(req->opcode));
	}
	enum coffer_db_handled r = x.deferred ? COFFER_DB_DEFERRED : COFFER_DB_ANSWERED;
	if (x.declined) {
		coffer_error_clear();
		r = COFFER_DB_DECLINED;
	} else if (x.deferred) {
		/* every lock of the statement is released: write the group */
		if (x.lead && on_loop)
			coffer_table_lead_soon(x.lead);
		else if (x.lead)
			coffer_table_lead(x.lead);
	} else if (rc == COFFER_OK) {
		size_t st = coffer_proto_frame_begin(out, s->version, true, 0, req->stream, COFFER_PROTO_OP_RESULT);
		coffer_buf_put(out, body.ptr, body.len);
		if (coffer_proto_frame_end(out, st, 0) != COFFER_OK) {
			out->len = st;
			put_error(out, s->version, req->stream, NULL, coffer_error_code());
		}
	} else {
		put_error(out, s->version, req->stream, &x, rc);
	}
	holds_release(db, &h); /* after put_error: x.err.id may point into a statement's id */
	coffer_buf_free(&body);
	coffer_arena_free(&a);
	return r;
}

void coffer_db_handle(struct coffer_db *db, struct coffer_db_session *s, const struct coffer_proto_request *req,
		      struct coffer_buf *out)
{
	handle(db, s, req, out, NULL, NULL, false);
}

bool coffer_db_handle_async(struct coffer_db *db, struct coffer_db_session *s,
			    const struct coffer_proto_request *req, struct coffer_buf *out,
			    void (*finish)(void *arg, const struct coffer_buf *frame), void *arg)
{
	return handle(db, s, req, out, finish, arg, false) == COFFER_DB_DEFERRED;
}

enum coffer_db_handled coffer_db_handle_on_loop(struct coffer_db *db, struct coffer_db_session *s,
						const struct coffer_proto_request *req, struct coffer_buf *out,
						void (*finish)(void *arg, const struct coffer_buf *frame), void *arg)
{
	return handle(db, s, req, out, finish, arg, true);
}
