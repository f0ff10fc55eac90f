/*
 * conn_test.c - the server's connection layer over real loopback sockets,
 * with a stand-in CQL handler: the session state machine (OPTIONS, STARTUP,
 * AUTHENTICATE, AUTH_RESPONSE, REGISTER), pipelining by stream id, schema
 * events, and every kind of bad frame answered without disturbing other
 * connections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "server/server.h"

/* ---- a stand-in handler ------------------------------------------------------- */

static coffer_rc fake_login(void *self, struct coffer_slice user, struct coffer_slice pw, bool *ok)
{
	(void)self;
	*ok = user.len == 6 && memcmp(user.ptr, "coffer", 6) == 0 && pw.len == 6 &&
	      memcmp(pw.ptr, "secret", 6) == 0;
	return COFFER_OK;
}

/* Answers QUERY "ks <name>" with SET_KEYSPACE after USE-ing it, "error" with
 * an Invalid error, anything else with VOID. */
static void fake_answer(struct coffer_session *s, const struct coffer_proto_request *req, struct coffer_buf *out)
{
	uint8_t v = coffer_session_version(s);
	size_t st = coffer_proto_frame_begin(out, v, true, 0, req->stream, COFFER_PROTO_OP_RESULT);
	if (req->opcode == COFFER_PROTO_OP_QUERY && req->u.query.query.len > 3 &&
	    memcmp(req->u.query.query.ptr, "ks ", 3) == 0) {
		char ks[64];
		snprintf(ks, sizeof(ks), "%.*s", (int)req->u.query.query.len - 3,
			 (const char *)req->u.query.query.ptr + 3);
		coffer_session_set_keyspace(s, ks);
		char back[COFFER_SESSION_KEYSPACE_MAX];
		coffer_session_keyspace(s, back);
		assert_int_equal(coffer_proto_put_result_set_keyspace(out, back), COFFER_OK);
	} else if (req->opcode == COFFER_PROTO_OP_QUERY && req->u.query.query.len == 5 &&
		   memcmp(req->u.query.query.ptr, "error", 5) == 0) {
		out->len = st;
		struct coffer_proto_err e = {.code = COFFER_CQL_INVALID, .version = v, .stream = req->stream};
		snprintf(e.message, sizeof(e.message), "bad query");
		assert_int_equal(coffer_proto_encode_error_frame(out, &e), COFFER_OK);
		return;
	} else {
		coffer_proto_put_result_void(out);
	}
	assert_int_equal(coffer_proto_frame_end(out, st, 0), COFFER_OK);
}

/* A deferred answer finished by another thread. */
struct later_job {
	struct coffer_cql_later *later;
	struct coffer_buf frame;
};

static void *finish_main(void *arg)
{
	struct later_job *lj = arg;
	coffer_cql_later_finish(lj->later, &lj->frame);
	coffer_buf_free(&lj->frame);
	free(lj);
	return NULL;
}

/* QUERY "later now" defers and finishes before returning; "later thread"
 * defers and leaves the answer to a new thread (which may finish before or
 * after handle returns); anything else goes to fake_answer. */
static bool fake_handle(void *self, struct coffer_session *s, const struct coffer_proto_request *req,
			struct coffer_buf *out, struct coffer_cql_later *later)
{
	(void)self;
	struct coffer_slice q = req->opcode == COFFER_PROTO_OP_QUERY ? req->u.query.query : coffer_slice_of(NULL, 0);
	bool now = q.len == 9 && memcmp(q.ptr, "later now", 9) == 0;
	bool thread = q.len == 12 && memcmp(q.ptr, "later thread", 12) == 0;
	if (!now && !thread) {
		fake_answer(s, req, out);
		return false;
	}
	struct later_job *lj = calloc(1, sizeof(*lj));
	lj->later = later;
	fake_answer(s, req, &lj->frame);
	if (now) {
		finish_main(lj);
	} else {
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, finish_main, lj), 0);
		pthread_detach(th);
	}
	return true;
}

/* EXECUTE offered on the loop: id "loop answer" is answered at once
 * (RESULT SetKeyspace "loop"), "loop later" deferred to a new thread
 * (SetKeyspace "loop later"); any other id is declined and fake_handle
 * answers it on a worker (RESULT Void). Records the thread it runs on. */
static int on_loop_calls;
static pthread_t on_loop_thread;

static void keyspace_frame(struct coffer_session *s, const struct coffer_proto_request *req, const char *ks,
			   struct coffer_buf *out)
{
	size_t st = coffer_proto_frame_begin(out, coffer_session_version(s), true, 0, req->stream,
					     COFFER_PROTO_OP_RESULT);
	assert_int_equal(coffer_proto_put_result_set_keyspace(out, ks), COFFER_OK);
	assert_int_equal(coffer_proto_frame_end(out, st, 0), COFFER_OK);
}

static int fake_handle_on_loop(void *self, struct coffer_session *s, const struct coffer_proto_request *req,
			       struct coffer_buf *out, struct coffer_cql_later *later)
{
	(void)self;
	assert_int_equal(req->opcode, COFFER_PROTO_OP_EXECUTE);
	__atomic_add_fetch(&on_loop_calls, 1, __ATOMIC_RELAXED);
	on_loop_thread = pthread_self();
	struct coffer_slice id = req->u.execute.id;
	if (id.len == 11 && memcmp(id.ptr, "loop answer", 11) == 0) {
		keyspace_frame(s, req, "loop", out);
		return COFFER_CQL_ANSWERED;
	}
	if (id.len == 10 && memcmp(id.ptr, "loop later", 10) == 0) {
		struct later_job *lj = calloc(1, sizeof(*lj));
		lj->later = later;
		keyspace_frame(s, req, "loop later", &lj->frame);
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, finish_main, lj), 0);
		pthread_detach(th);
		return COFFER_CQL_DEFERRED;
	}
	return COFFER_CQL_DECLINED;
}

static const struct coffer_cql_handler_ops fake_ops = {fake_login, fake_handle, fake_handle_on_loop};

struct env {
	struct coffer_server *srv;
	pthread_t loop;
	int port;
};

static void *loop_main(void *arg)
{
	struct env *e = arg;
	assert_int_equal(coffer_server_run(e->srv), COFFER_OK);
	return NULL;
}

static struct env *env_start(bool auth, uint32_t max_body)
{
	struct env *e = calloc(1, sizeof(*e));
	struct coffer_server_config cfg = {
		.listen = "127.0.0.1:0",
		.auth = auth,
		.max_frame_body = max_body,
		.workers = 4,
		.handler = {&fake_ops, NULL},
	};
	assert_int_equal(coffer_server_new(&cfg, &e->srv), COFFER_OK);
	const char *addr = coffer_server_address(e->srv);
	e->port = atoi(strrchr(addr, ':') + 1);
	assert_true(e->port > 0);
	pthread_create(&e->loop, NULL, loop_main, e);
	return e;
}

static void env_stop(struct env *e)
{
	coffer_server_stop(e->srv);
	pthread_join(e->loop, NULL);
	coffer_server_free(e->srv);
	free(e);
}

/* ---- a tiny client -------------------------------------------------------------- */

struct client {
	int fd;
	struct coffer_buf in;
	struct coffer_proto_config pcfg;
	struct coffer_arena arena;
};

static void client_open(struct client *c, int port)
{
	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	c->pcfg.expect_responses = true;
	coffer_arena_init(&c->arena, 0);
}

static void client_close(struct client *c)
{
	close(c->fd);
	coffer_buf_free(&c->in);
	coffer_arena_free(&c->arena);
}

static void client_send_raw(struct client *c, const void *p, size_t n)
{
	assert_int_equal(write(c->fd, p, n), (ssize_t)n);
}

static void client_send(struct client *c, uint8_t opcode, int16_t stream, const char *query)
{
	struct coffer_proto_request r;
	memset(&r, 0, sizeof(r));
	r.opcode = opcode;
	r.version = 4;
	r.stream = stream;
	static const char *const keys[] = {"CQL_VERSION"}, *const vals[] = {"3.0.0"};
	if (opcode == COFFER_PROTO_OP_STARTUP) {
		r.u.startup.options.n = 1;
		r.u.startup.options.keys = keys;
		r.u.startup.options.values = vals;
		r.u.startup.cql_version = "3.0.0";
	} else if (opcode == COFFER_PROTO_OP_QUERY) {
		r.u.query.query = coffer_slice_str(query);
		r.u.query.params.consistency = COFFER_PROTO_CL_ONE;
		r.u.query.params.page_size = -1;
	} else if (opcode == COFFER_PROTO_OP_EXECUTE) {
		r.u.execute.id = coffer_slice_str(query);
		r.u.execute.params.consistency = COFFER_PROTO_CL_ONE;
		r.u.execute.params.page_size = -1;
	} else if (opcode == COFFER_PROTO_OP_REGISTER) {
		static const char *const types[] = {"SCHEMA_CHANGE"};
		r.u.reg.types.n = 1;
		r.u.reg.types.items = types;
		r.u.reg.mask = COFFER_PROTO_EVENT_SCHEMA_CHANGE;
	}
	struct coffer_buf b = {0};
	assert_int_equal(coffer_proto_request_encode(&b, &r), COFFER_OK);
	client_send_raw(c, b.ptr, b.len);
	coffer_buf_free(&b);
}

/* Reads one response; returns false on EOF. */
static bool client_recv(struct client *c, struct coffer_proto_response *resp)
{
	for (;;) {
		struct coffer_proto_frame f;
		enum coffer_proto_status st = COFFER_PROTO_NEED_MORE;
		struct coffer_proto_err err;
		if (c->in.len) {
			assert_int_equal(coffer_proto_frame_decode(&c->pcfg, coffer_buf_slice(&c->in), &f, &st, NULL, &err),
					 COFFER_OK);
		}
		if (st == COFFER_PROTO_COMPLETE) {
			assert_int_equal(coffer_proto_response_decode(&f, &c->arena, resp, &err), COFFER_OK);
			/* The response borrows the frame: keep the bytes in the arena. */
			uint8_t *copy = coffer_arena_memdup(&c->arena, c->in.ptr, f.size);
			struct coffer_proto_frame f2 = f;
			f2.body = coffer_slice_of(copy + 9, f.size - 9);
			assert_int_equal(coffer_proto_response_decode(&f2, &c->arena, resp, &err), COFFER_OK);
			memmove(c->in.ptr, c->in.ptr + f.size, c->in.len - f.size);
			c->in.len -= f.size;
			return true;
		}
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		assert_int_equal(poll(&p, 1, 10000), 1);
		uint8_t buf[65536];
		ssize_t n = read(c->fd, buf, sizeof(buf));
		if (n <= 0)
			return false;
		coffer_buf_put(&c->in, buf, (size_t)n);
	}
}

static void expect(struct client *c, uint8_t opcode, int16_t stream, struct coffer_proto_response *r)
{
	assert_true(client_recv(c, r));
	if (r->opcode != opcode && r->opcode == COFFER_PROTO_OP_ERROR)
		print_error("unexpected ERROR 0x%04x: %s\n", r->u.error.code, r->u.error.message);
	assert_int_equal(r->opcode, opcode);
	assert_int_equal(r->stream, stream);
}

static void expect_error(struct client *c, uint32_t code, int16_t stream, const char *msg_part)
{
	struct coffer_proto_response r;
	expect(c, COFFER_PROTO_OP_ERROR, stream, &r);
	assert_int_equal(r.u.error.code, code);
	if (!strstr(r.u.error.message, msg_part))
		print_error("message '%s' lacks '%s'\n", r.u.error.message, msg_part);
	assert_non_null(strstr(r.u.error.message, msg_part));
}

static const char login_ok[] = "\0coffer\0secret";
static const char login_bad[] = "\0coffer\0wrong!";

static void auth_token(struct client *c, int16_t stream, const char *tok, size_t n)
{
	struct coffer_proto_request r;
	memset(&r, 0, sizeof(r));
	r.opcode = COFFER_PROTO_OP_AUTH_RESPONSE;
	r.version = 4;
	r.stream = stream;
	r.u.auth_response.token.kind = COFFER_PROTO_VALUE;
	r.u.auth_response.token.bytes = coffer_slice_of(tok, n);
	struct coffer_buf b = {0};
	assert_int_equal(coffer_proto_request_encode(&b, &r), COFFER_OK);
	client_send_raw(c, b.ptr, b.len);
	coffer_buf_free(&b);
}

static void ready_client(struct client *c, int port)
{
	struct coffer_proto_response r;
	client_open(c, port);
	client_send(c, COFFER_PROTO_OP_STARTUP, 1, NULL);
	expect(c, COFFER_PROTO_OP_AUTHENTICATE, 1, &r);
	auth_token(c, 2, login_ok, sizeof(login_ok) - 1);
	expect(c, COFFER_PROTO_OP_AUTH_SUCCESS, 2, &r);
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_options_startup_auth(void **state)
{
	(void)state;
	struct env *e = env_start(true, 0);
	struct client c;
	struct coffer_proto_response r;
	client_open(&c, e->port);
	client_send(&c, COFFER_PROTO_OP_OPTIONS, 7, NULL);
	expect(&c, COFFER_PROTO_OP_SUPPORTED, 7, &r);
	bool has_compression = false, has_cql = false;
	for (size_t i = 0; i < r.u.supported.n; i++) {
		has_compression |= strcmp(r.u.supported.keys[i], "COMPRESSION") == 0;
		has_cql |= strcmp(r.u.supported.keys[i], "CQL_VERSION") == 0;
	}
	assert_true(has_compression && has_cql);
	/* Nothing but OPTIONS/STARTUP before STARTUP. */
	client_send(&c, COFFER_PROTO_OP_QUERY, 8, "select");
	expect_error(&c, COFFER_CQL_PROTOCOL_ERROR, 8, "expecting STARTUP");
	client_send(&c, COFFER_PROTO_OP_STARTUP, 9, NULL);
	expect(&c, COFFER_PROTO_OP_AUTHENTICATE, 9, &r);
	assert_string_equal(r.u.authenticate, "org.apache.cassandra.auth.PasswordAuthenticator");
	/* Not yet authenticated: no queries. */
	client_send(&c, COFFER_PROTO_OP_QUERY, 10, "select");
	expect_error(&c, COFFER_CQL_UNAUTHORIZED, 10, "AUTH_RESPONSE");
	auth_token(&c, 11, login_bad, sizeof(login_bad) - 1);
	expect_error(&c, COFFER_CQL_BAD_CREDENTIALS, 11, "Provided username coffer and/or password are incorrect");
	auth_token(&c, 12, "garbage", 7);
	expect_error(&c, COFFER_CQL_BAD_CREDENTIALS, 12, "");
	auth_token(&c, 13, login_ok, sizeof(login_ok) - 1);
	expect(&c, COFFER_PROTO_OP_AUTH_SUCCESS, 13, &r);
	client_send(&c, COFFER_PROTO_OP_QUERY, 14, "ks Orders");
	expect(&c, COFFER_PROTO_OP_RESULT, 14, &r);
	assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_SET_KEYSPACE);
	assert_string_equal(r.u.result.keyspace, "Orders");
	client_send(&c, COFFER_PROTO_OP_QUERY, 15, "error");
	expect_error(&c, COFFER_CQL_INVALID, 15, "bad query");
	/* A second STARTUP is refused; the session goes on. */
	client_send(&c, COFFER_PROTO_OP_STARTUP, 16, NULL);
	expect_error(&c, COFFER_CQL_PROTOCOL_ERROR, 16, "already started");
	client_send(&c, COFFER_PROTO_OP_QUERY, 17, "select");
	expect(&c, COFFER_PROTO_OP_RESULT, 17, &r);
	client_close(&c);
	env_stop(e);
}

static void test_auth_off(void **state)
{
	(void)state;
	struct env *e = env_start(false, 0);
	struct client c;
	struct coffer_proto_response r;
	client_open(&c, e->port);
	client_send(&c, COFFER_PROTO_OP_STARTUP, 1, NULL);
	expect(&c, COFFER_PROTO_OP_READY, 1, &r);
	client_send(&c, COFFER_PROTO_OP_QUERY, 2, "select");
	expect(&c, COFFER_PROTO_OP_RESULT, 2, &r);
	auth_token(&c, 3, login_ok, sizeof(login_ok) - 1);
	expect_error(&c, COFFER_CQL_PROTOCOL_ERROR, 3, "AUTH_RESPONSE");
	client_close(&c);
	env_stop(e);
}

/* Sends n QUERYs in one write, on streams first.., cycling through kinds;
 * then checks that every stream is answered exactly once, with an ERROR for
 * the kind at index error_kind and a RESULT for the others. */
static void pipeline(struct client *c, int first, int n, const char *const *kinds, int nkinds, int error_kind)
{
	struct coffer_proto_response r;
	struct coffer_buf all = {0};
	for (int i = 0; i < n; i++) {
		struct coffer_proto_request q;
		memset(&q, 0, sizeof(q));
		q.opcode = COFFER_PROTO_OP_QUERY;
		q.version = 4;
		q.stream = (int16_t)(first + i);
		q.u.query.query = coffer_slice_str(kinds[i % nkinds]);
		q.u.query.params.consistency = COFFER_PROTO_CL_ONE;
		q.u.query.params.page_size = -1;
		assert_int_equal(coffer_proto_request_encode(&all, &q), COFFER_OK);
	}
	client_send_raw(c, all.ptr, all.len);
	coffer_buf_free(&all);
	bool *seen = calloc(n > 0 ? (size_t)n : 1, sizeof(*seen));
	for (int i = 0; i < n; i++) {
		assert_true(client_recv(c, &r));
		int k = r.stream - first;
		assert_true(k >= 0 && k < n);
		assert_false(seen[k]);
		seen[k] = true;
		assert_int_equal(r.opcode, k % nkinds == error_kind ? COFFER_PROTO_OP_ERROR : COFFER_PROTO_OP_RESULT);
	}
	free(seen);
}

static void test_pipelining(void **state)
{
	(void)state;
	struct env *e = env_start(true, 0);
	struct client c;
	ready_client(&c, e->port);
	/* 200 requests in one write; every stream id answered exactly once. */
	static const char *const kinds[] = {"error", "select"};
	pipeline(&c, 100, 200, kinds, 2, 0);
	client_close(&c);
	env_stop(e);
}

/* Answers sent after the handler returned (coffer_cql_later_finish), from
 * the worker itself or another thread, mixed with ordinary ones: each stream
 * answered exactly once, and the connection freed cleanly afterwards. */
static void test_deferred_answers(void **state)
{
	(void)state;
	struct env *e = env_start(true, 0);
	struct client c;
	ready_client(&c, e->port);
	static const char *const kinds[] = {"later now", "later thread", "select", "error"};
	pipeline(&c, 1000, 300, kinds, 4, 3);
	/* a client gone while deferred answers are still coming */
	client_send(&c, COFFER_PROTO_OP_QUERY, 7, "later thread");
	client_close(&c);
	env_stop(e);
}

/* EXECUTE goes to handle_on_loop first, on the loop thread: what it answers
 * or defers never reaches a worker; what it declines is answered by
 * `handle`. Other requests never go to handle_on_loop. Pipelined and mixed,
 * every stream is answered once, by the right side. */
static void test_execute_on_loop(void **state)
{
	(void)state;
	struct env *e = env_start(true, 0);
	struct client c;
	struct coffer_proto_response r;
	ready_client(&c, e->port);
	int before = __atomic_load_n(&on_loop_calls, __ATOMIC_RELAXED);
	client_send(&c, COFFER_PROTO_OP_QUERY, 3, "select");
	expect(&c, COFFER_PROTO_OP_RESULT, 3, &r);
	assert_int_equal(__atomic_load_n(&on_loop_calls, __ATOMIC_RELAXED), before);

	client_send(&c, COFFER_PROTO_OP_EXECUTE, 4, "loop answer");
	expect(&c, COFFER_PROTO_OP_RESULT, 4, &r);
	assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_SET_KEYSPACE);
	assert_string_equal(r.u.result.keyspace, "loop");
	assert_true(pthread_equal(on_loop_thread, e->loop));
	assert_int_equal(__atomic_load_n(&on_loop_calls, __ATOMIC_RELAXED), before + 1);

	enum { N = 300 };
	static const char *const ids[] = {"loop answer", "loop later", "declined"};
	struct coffer_buf all = {0};
	for (int i = 0; i < N; i++) {
		struct coffer_proto_request q;
		memset(&q, 0, sizeof(q));
		q.opcode = COFFER_PROTO_OP_EXECUTE;
		q.version = 4;
		q.stream = (int16_t)(100 + i);
		q.u.execute.id = coffer_slice_str(ids[i % 3]);
		q.u.execute.params.consistency = COFFER_PROTO_CL_ONE;
		q.u.execute.params.page_size = -1;
		assert_int_equal(coffer_proto_request_encode(&all, &q), COFFER_OK);
	}
	client_send_raw(&c, all.ptr, all.len);
	coffer_buf_free(&all);
	bool seen[N] = {false};
	for (int i = 0; i < N; i++) {
		assert_true(client_recv(&c, &r));
		int k = r.stream - 100;
		assert_true(k >= 0 && k < N && !seen[k]);
		seen[k] = true;
		assert_int_equal(r.opcode, COFFER_PROTO_OP_RESULT);
		if (k % 3 == 2) {
			assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_VOID); /* a worker's */
		} else {
			assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_SET_KEYSPACE);
			assert_string_equal(r.u.result.keyspace, k % 3 == 0 ? "loop" : "loop later");
		}
	}
	assert_int_equal(__atomic_load_n(&on_loop_calls, __ATOMIC_RELAXED), before + 1 + N);
	client_close(&c);
	env_stop(e);
}

static void test_bad_frames(void **state)
{
	(void)state;
	struct env *e = env_start(true, 4096);
	struct client good, c;
	struct coffer_proto_response r;
	ready_client(&good, e->port);
	ready_client(&c, e->port);
	/* Unknown opcode 0x04 and a server-only opcode: errors, connection stays. */
	static const uint8_t unknown[] = {0x04, 0, 0, 5, 0x04, 0, 0, 0, 0};
	client_send_raw(&c, unknown, sizeof(unknown));
	expect_error(&c, COFFER_CQL_PROTOCOL_ERROR, 5, "");
	static const uint8_t server_op[] = {0x04, 0, 0, 6, 0x08, 0, 0, 0, 0};
	client_send_raw(&c, server_op, sizeof(server_op));
	expect_error(&c, COFFER_CQL_PROTOCOL_ERROR, 6, "");
	/* A malformed QUERY body (string length past the end). */
	static const uint8_t bad_query[] = {0x04, 0, 0, 7, 0x07, 0, 0, 0, 4, 0, 0, 0, 100};
	client_send_raw(&c, bad_query, sizeof(bad_query));
	expect_error(&c, COFFER_CQL_PROTOCOL_ERROR, 7, "");
	client_send(&c, COFFER_PROTO_OP_QUERY, 8, "select");
	expect(&c, COFFER_PROTO_OP_RESULT, 8, &r);
	/* An oversize frame (limit 4096) is refused and skipped. */
	struct coffer_buf big = {0};
	uint8_t hdr[9] = {0x04, 0, 0, 9, 0x07, 0, 0, 0x20, 0};
	coffer_buf_put(&big, hdr, 9);
	uint8_t *z = coffer_buf_extend(&big, 8192);
	memset(z, 'x', 8192);
	client_send_raw(&c, big.ptr, big.len);
	coffer_buf_free(&big);
	expect_error(&c, COFFER_CQL_PROTOCOL_ERROR, 9, "4096");
	client_send(&c, COFFER_PROTO_OP_QUERY, 10, "select");
	expect(&c, COFFER_PROTO_OP_RESULT, 10, &r);
	/* The other connection never noticed. */
	client_send(&good, COFFER_PROTO_OP_QUERY, 3, "select");
	expect(&good, COFFER_PROTO_OP_RESULT, 3, &r);
	client_close(&c);
	client_close(&good);
	env_stop(e);
}

static void test_unsupported_version_closes(void **state)
{
	(void)state;
	struct env *e = env_start(true, 0);
	for (int v = 1; v <= 5; v++) {
		if (v == 3 || v == 4)
			continue;
		struct client c;
		client_open(&c, e->port);
		uint8_t f[9] = {(uint8_t)v, 0, 0, 3, 0x05, 0, 0, 0, 0};
		if (v <= 2) {
			/* v1/v2 have a one-byte stream id. */
			f[2] = 3;
			f[3] = 0x05;
			f[4] = 0;
			f[8] = 0;
			client_send_raw(&c, f, 8);
		} else {
			client_send_raw(&c, f, 9);
		}
		/* The answer is a v4 frame whatever was asked. */
		c.pcfg.version = 4;
		struct coffer_proto_response r;
		assert_true(client_recv(&c, &r));
		assert_int_equal(r.opcode, COFFER_PROTO_OP_ERROR);
		assert_int_equal(r.u.error.code, COFFER_CQL_PROTOCOL_ERROR);
		char want[128];
		snprintf(want, sizeof(want),
			 "Invalid or unsupported protocol version (%d); supported versions are (3/v3, 4/v4)", v);
		assert_string_equal(r.u.error.message, want);
		assert_false(client_recv(&c, &r)); /* then closed */
		client_close(&c);
	}
	env_stop(e);
}

static void test_schema_events(void **state)
{
	(void)state;
	struct env *e = env_start(true, 0);
	struct client reg, plain;
	struct coffer_proto_response r;
	ready_client(&reg, e->port);
	ready_client(&plain, e->port);
	client_send(&reg, COFFER_PROTO_OP_REGISTER, 4, NULL);
	expect(&reg, COFFER_PROTO_OP_READY, 4, &r);
	struct coffer_proto_schema_change sc = {.change = "CREATED", .target = "TABLE", .keyspace = "ks", .name = "t"};
	coffer_server_broadcast_schema_change(e->srv, &sc);
	expect(&reg, COFFER_PROTO_OP_EVENT, -1, &r);
	assert_string_equal(r.u.event.type, "SCHEMA_CHANGE");
	assert_string_equal(r.u.event.schema.change, "CREATED");
	assert_string_equal(r.u.event.schema.name, "t");
	/* The unregistered connection gets nothing: its next answer is its own. */
	client_send(&plain, COFFER_PROTO_OP_QUERY, 5, "select");
	expect(&plain, COFFER_PROTO_OP_RESULT, 5, &r);
	client_close(&reg);
	client_close(&plain);
	env_stop(e);
}

static void test_client_vanishes_mid_request(void **state)
{
	(void)state;
	struct env *e = env_start(true, 0);
	for (int i = 0; i < 20; i++) {
		struct client c;
		ready_client(&c, e->port);
		client_send(&c, COFFER_PROTO_OP_QUERY, 1, "select");
		static const uint8_t half[] = {0x04, 0, 0, 2, 0x07, 0, 0};
		client_send_raw(&c, half, sizeof(half));
		client_close(&c);
	}
	struct client c;
	struct coffer_proto_response r;
	ready_client(&c, e->port);
	client_send(&c, COFFER_PROTO_OP_QUERY, 1, "select");
	expect(&c, COFFER_PROTO_OP_RESULT, 1, &r);
	client_close(&c);
	env_stop(e);
}

static void test_bad_listen_address(void **state)
{
	(void)state;
	struct coffer_server *s;
	struct coffer_server_config cfg = {.listen = "nonsense", .handler = {&fake_ops, NULL}};
	assert_int_equal(coffer_server_new(&cfg, &s), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "nonsense"));
	cfg.listen = NULL;
	cfg.tls_listen = "127.0.0.1:0";
	assert_int_equal(coffer_server_new(&cfg, &s), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "--tls-cert"));
}

int main(void)
{
	coffer_crypto_init(false);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_startup_auth),
		cmocka_unit_test(test_auth_off),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_deferred_answers),
		cmocka_unit_test(test_execute_on_loop),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_unsupported_version_closes),
		cmocka_unit_test(test_schema_events),
		cmocka_unit_test(test_client_vanishes_mid_request),
		cmocka_unit_test(test_bad_listen_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
