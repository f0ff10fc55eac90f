/*
 * client.c - the CLI's blocking CQL client (client.h): a transport (plain
 * TCP or TLS behind a two-function vtable), the handshake, and QUERY with
 * paging.
 *
 * Invariants:
 *  1. The shell's own requests go one at a time on stream 1 (answers on
 *     other streams are skipped while waiting for it). COPY pipelines
 *     EXECUTE/BATCH requests on streams 2..COFFER_CLIENT_MAX_STREAM with
 *     coffer_client_send_*() and collects them with coffer_client_recv();
 *     it never mixes the two. EVENT frames (stream -1) are always skipped.
 *  2. Every wait is bounded by the request timeout (poll before each read;
 *     for TLS, bytes already buffered by OpenSSL are read without polling).
 *  3. The SASL PLAIN token holds the password; it lives in one heap buffer
 *     that is wiped right after it is encoded into the frame, and the output
 *     buffer that carried the frame is wiped after it is written.
 *  4. Results own copies of everything (the decode arena is reset per
 *     frame): names, type trees and cells are copied into the result arena.
 */
#include "cli/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "util/alloc.h"

#define CLIENT_STREAM 1
#define CLIENT_VERSION 4

/* ---- transports ------------------------------------------------------------- */

struct transport_ops {
	/* > 0 bytes, 0 on orderly close, < 0 on error (detail set). */
	long (*recv)(struct coffer_client *c, void *p, size_t n);
	COFFER_RESULT (*send_all)(struct coffer_client *c, const void *p, size_t n);
	/* Whether bytes are already buffered above the socket. */
	bool (*pending)(struct coffer_client *c);
};

struct coffer_client {
	int fd;
	int timeout_ms;
	SSL_CTX *ctx;
	SSL *ssl;
	const struct transport_ops *ops;
	struct coffer_proto_config pcfg;
	struct coffer_buf in, out;
	struct coffer_arena arena; /* decode arena, reset per frame */
};

static long plain_recv(struct coffer_client *c, void *p, size_t n)
{
	for (;;) {
		ssize_t r = recv(c->fd, p, n, 0);
		if (r >= 0)
			return (long)r;
		if (errno != EINTR)
			return -(long)coffer_error_set(COFFER_E_IO, COFFER_WHERE, "recv: %s",
						       strerror(errno));
	}
}

static COFFER_RESULT plain_send_all(struct coffer_client *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		ENSURE(w > 0, COFFER_E_IO, "send: %s", strerror(errno));
		b += w;
		n -= (size_t)w;
	}
	return COFFER_OK;
}

static bool plain_pending(struct coffer_client *c)
{
	return false;
}

static const struct transport_ops plain_ops = {plain_recv, plain_send_all, plain_pending};

static const char *tls_error(void)
{
	static __thread char buf[256];
	unsigned long e = ERR_get_error();
	if (!e)
		return "TLS failure";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static long tls_recv(struct coffer_client *c, void *p, size_t n)
{
	int r = SSL_read(c->ssl, p, n > 65536 ? 65536 : (int)n);
	if (r > 0)
		return r;
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	return -(long)coffer_error_set(COFFER_E_IO, COFFER_WHERE, "TLS read: %s", tls_error());
}

static COFFER_RESULT tls_send_all(struct coffer_client *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		int w = SSL_write(c->ssl, b, n > 65536 ? 65536 : (int)n);
		ENSURE(w > 0, COFFER_E_IO, "TLS write: %s", tls_error());
		b += w;
		n -= (size_t)w;
	}
	return COFFER_OK;
}

static bool tls_pending(struct coffer_client *c)
{
	return SSL_pending(c->ssl) > 0;
}

static const struct transport_ops tls_ops = {tls_recv, tls_send_all, tls_pending};

/* The wrappers: the only way the rest of this file touches a transport. */
static long transport_recv(struct coffer_client *c, void *p, size_t n)
{
	if (!n)
		return coffer_error_set(COFFER_E_INTERNAL, COFFER_WHERE, "zero-length read"), -1;
	return c->ops->recv(c, p, n);
}

static COFFER_RESULT transport_send(struct coffer_client *c, const void *p, size_t n)
{
	return n ? c->ops->send_all(c, p, n) : COFFER_OK;
}

static COFFER_RESULT tcp_connect(const char *host, const char *port, int *out)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int g = getaddrinfo(host, port, &hints, &res);
	ENSURE(g == 0, COFFER_E_UNAVAILABLE, "cannot resolve %s: %s", host, gai_strerror(g));
	int fd = -1, err = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	ENSURE(fd >= 0, COFFER_E_UNAVAILABLE, "cannot connect to %s:%s: %s", host, port,
	       strerror(err));
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*out = fd;
	return COFFER_OK;
}

static COFFER_RESULT tls_start(struct coffer_client *c, const struct coffer_client_opts *o)
{
	c->ctx = SSL_CTX_new(TLS_client_method());
	ENSURE(c->ctx, COFFER_E_CRYPTO, "TLS context: %s", tls_error());
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (o->ca) {
		ENSURE(SSL_CTX_load_verify_locations(c->ctx, o->ca, NULL) == 1, COFFER_E_INVALID,
		       "cannot load CA file %s: %s", o->ca, tls_error());
	} else {
		ENSURE(SSL_CTX_set_default_verify_paths(c->ctx) == 1, COFFER_E_CRYPTO,
		       "cannot load the system trust store: %s", tls_error());
	}
	c->ssl = SSL_new(c->ctx);
	ENSURE(c->ssl, COFFER_E_CRYPTO, "TLS session: %s", tls_error());
	/* Verify the name we dialled: an address as an IP SAN, else a DNS name. */
	struct in6_addr a6;
	struct in_addr a4;
	X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
	if (inet_pton(AF_INET, o->host, &a4) == 1 || inet_pton(AF_INET6, o->host, &a6) == 1) {
		ENSURE(X509_VERIFY_PARAM_set1_ip_asc(vp, o->host) == 1, COFFER_E_CRYPTO,
		       "TLS: bad address %s", o->host);
	} else {
		ENSURE(SSL_set1_host(c->ssl, o->host) == 1, COFFER_E_CRYPTO, "TLS: bad host %s",
		       o->host);
		SSL_set_tlsext_host_name(c->ssl, o->host);
	}
	SSL_set_fd(c->ssl, c->fd);
	if (SSL_connect(c->ssl) != 1) {
		long v = SSL_get_verify_result(c->ssl);
		if (v != X509_V_OK)
			BAIL(COFFER_E_AUTH, "TLS: the server's certificate does not verify: %s",
			     X509_verify_cert_error_string(v));
		BAIL(COFFER_E_IO, "TLS handshake with %s:%s failed: %s", o->host, o->port,
		     tls_error());
	}
	c->ops = &tls_ops;
	return COFFER_OK;
}

/* ---- frames ------------------------------------------------------------------ */

static COFFER_RESULT read_more(struct coffer_client *c)
{
	if (!c->ops->pending(c)) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int n;
		do
			n = poll(&p, 1, c->timeout_ms);
		while (n < 0 && errno == EINTR);
		ENSURE(n >= 0, COFFER_E_IO, "poll: %s", strerror(errno));
		ENSURE(n > 0, COFFER_E_TIMEOUT, "no answer from the server within %d ms",
		       c->timeout_ms);
	}
	uint8_t *dst;
	coffer_buf_reserve(&c->in, 65536);
	dst = c->in.ptr + c->in.len;
	long r = transport_recv(c, dst, c->in.cap - c->in.len);
	if (r < 0)
		return coffer_error_code();
	ENSURE(r > 0, COFFER_E_IO, "the server closed the connection");
	c->in.len += (size_t)r;
	return COFFER_OK;
}

static void consume(struct coffer_client *c, size_t n)
{
	memmove(c->in.ptr, c->in.ptr + n, c->in.len - n);
	c->in.len -= n;
}

/* Writes the encoded request in c->out and empties it (wiped: it may have
 * carried the SASL token). */
static COFFER_RESULT flush_out(struct coffer_client *c)
{
	coffer_rc rc = transport_send(c, c->out.ptr, c->out.len);
	coffer_wipe(c->out.ptr, c->out.len);
	coffer_buf_reset(&c->out);
	return rc;
}

/* Decodes the next answer whose stream `want` accepts into *resp (borrowing
 * c->in and c->arena); *size is the frame's size to consume once the caller
 * is done with it. want == 0 accepts any stream > 0. */
static COFFER_RESULT read_frame(struct coffer_client *c, int16_t want,
				struct coffer_proto_response *resp, size_t *size)
{
	for (;;) {
		struct coffer_proto_frame f;
		struct coffer_proto_err perr;
		enum coffer_proto_status st = COFFER_PROTO_NEED_MORE;
		if (c->in.len) {
			if (coffer_proto_frame_decode(&c->pcfg, coffer_buf_slice(&c->in), &f, &st,
						      NULL, &perr) != COFFER_OK)
				BAIL(COFFER_E_PROTOCOL, "bad frame from the server: %s",
				     perr.message);
		}
		if (st != COFFER_PROTO_COMPLETE) {
			TRY(read_more(c));
			continue;
		}
		coffer_arena_reset(&c->arena);
		if (coffer_proto_response_decode(&f, &c->arena, resp, &perr) != COFFER_OK)
			BAIL(COFFER_E_PROTOCOL, "bad %s from the server: %s",
			     coffer_proto_opcode_name(f.hdr.opcode), perr.message);
		if (want ? resp->stream != want : resp->stream <= 0) {
			consume(c, f.size);
			continue;
		}
		*size = f.size;
		return COFFER_OK;
	}
}

/* Sends the encoded request in c->out and decodes the answer on stream 1. */
static COFFER_RESULT roundtrip(struct coffer_client *c, struct coffer_proto_response *resp,
			       size_t *size)
{
	TRY(flush_out(c));
	return read_frame(c, CLIENT_STREAM, resp, size);
}

static COFFER_RESULT send_request(struct coffer_client *c, const struct coffer_proto_request *q,
				  struct coffer_proto_response *resp, size_t *size)
{
	TRY(coffer_proto_request_encode(&c->out, q));
	return roundtrip(c, resp, size);
}

static const char *error_text(const struct coffer_proto_response *r)
{
	return r->u.error.message ? r->u.error.message : "";
}

/* A request with its header fields set and everything else zero. */
static void request_init(struct coffer_proto_request *q, uint8_t opcode, int16_t stream)
{
	memset(q, 0, sizeof(*q));
	q->opcode = opcode;
	q->version = CLIENT_VERSION;
	q->stream = stream;
}

/* ---- handshake ----------------------------------------------------------------- */

static COFFER_RESULT login(struct coffer_client *c, const struct coffer_client_opts *o)
{
	struct coffer_proto_request q;
	struct coffer_proto_response r;
	size_t size;

	request_init(&q, COFFER_PROTO_OP_STARTUP, CLIENT_STREAM);
	q.u.startup.cql_version = "3.0.0";
	TRY(send_request(c, &q, &r, &size));
	if (r.opcode == COFFER_PROTO_OP_ERROR) {
		coffer_error_set(COFFER_E_DENIED, COFFER_WHERE, "STARTUP refused: %s",
				 error_text(&r));
		consume(c, size);
		return COFFER_E_DENIED;
	}
	consume(c, size);
	if (r.opcode == COFFER_PROTO_OP_READY)
		return COFFER_OK;
	ENSURE(r.opcode == COFFER_PROTO_OP_AUTHENTICATE, COFFER_E_PROTOCOL,
	       "unexpected %s after STARTUP", coffer_proto_opcode_name(r.opcode));
	ENSURE(o->password, COFFER_E_DENIED,
	       "the server asks for a password: give --password-file or COFFER_PASSWORD");

	/* RFC 4616: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
	size_t ul = strlen(o->user), pl = strlen(o->password), n = ul + pl + 2;
	uint8_t *tok = coffer_xmalloc(n);
	tok[0] = 0;
	memcpy(tok + 1, o->user, ul);
	tok[1 + ul] = 0;
	memcpy(tok + 2 + ul, o->password, pl);
	request_init(&q, COFFER_PROTO_OP_AUTH_RESPONSE, CLIENT_STREAM);
	q.u.auth_response.token = coffer_proto_value_of(tok, n);
	/* Room for the whole frame up front: a reallocation mid-encode would
	 * leave a copy of the token in freed memory. */
	coffer_buf_reserve(&c->out, n + 64);
	coffer_rc rc = coffer_proto_request_encode(&c->out, &q);
	coffer_wipe(tok, n);
	free(tok);
	TRY(rc);
	TRY(roundtrip(c, &r, &size));
	if (r.opcode == COFFER_PROTO_OP_ERROR) {
		coffer_error_set(COFFER_E_DENIED, COFFER_WHERE, "%s", error_text(&r));
		consume(c, size);
		return COFFER_E_DENIED;
	}
	consume(c, size);
	ENSURE(r.opcode == COFFER_PROTO_OP_AUTH_SUCCESS, COFFER_E_PROTOCOL,
	       "unexpected %s after AUTH_RESPONSE (only SASL PLAIN is supported)",
	       coffer_proto_opcode_name(r.opcode));
	return COFFER_OK;
}

COFFER_RESULT coffer_client_connect(const struct coffer_client_opts *o,
				    struct coffer_client **out)
{
	coffer_rc rc;
	struct coffer_client *c = coffer_xcalloc(1, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	c->ops = &plain_ops;
	c->pcfg.expect_responses = true;
	coffer_arena_init(&c->arena, 0);
	TRY_FAIL(tcp_connect(o->host, o->port, &c->fd));
	if (o->tls)
		TRY_FAIL(tls_start(c, o));
	TRY_FAIL(login(c, o));
	*out = c;
	return COFFER_OK;
fail:
	coffer_client_close(c);
	return rc;
}

void coffer_client_close(struct coffer_client *c)
{
	if (!c)
		return;
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	coffer_wipe(c->out.ptr, c->out.len);
	coffer_buf_free(&c->in);
	coffer_buf_free(&c->out);
	coffer_arena_free(&c->arena);
	free(c);
}

/* ---- results --------------------------------------------------------------------- */

static const struct coffer_proto_type *type_copy(struct coffer_arena *a,
						 const struct coffer_proto_type *t)
{
	struct coffer_proto_type *n = coffer_arena_zalloc(a, sizeof(*n));
	n->id = t->id;
	n->custom = t->custom ? coffer_arena_strdup(a, t->custom) : NULL;
	n->keyspace = t->keyspace ? coffer_arena_strdup(a, t->keyspace) : NULL;
	n->name = t->name ? coffer_arena_strdup(a, t->name) : NULL;
	n->n = t->n;
	if (t->n) {
		struct coffer_proto_type *sub = coffer_arena_zalloc(a, t->n * sizeof(*sub));
		for (uint16_t i = 0; i < t->n; i++)
			sub[i] = *type_copy(a, &t->sub[i]);
		n->sub = sub;
		if (t->field_names) {
			const char **fn = coffer_arena_zalloc(a, t->n * sizeof(*fn));
			for (uint16_t i = 0; i < t->n; i++)
				fn[i] = coffer_arena_strdup(a, t->field_names[i]);
			n->field_names = fn;
		}
	}
	return n;
}

/* The columns' names and types (or a PREPARED result's bind markers). */
static void take_columns(struct coffer_client_result *res, const struct coffer_proto_metadata *m)
{
	size_t nc = m->n_columns > 0 && !(m->flags & COFFER_PROTO_MF_NO_METADATA)
			    ? (size_t)m->n_columns : 0;
	res->n_columns = nc;
	res->names = coffer_arena_zalloc(&res->arena, (nc ? nc : 1) * sizeof(char *));
	res->types = coffer_arena_zalloc(&res->arena, (nc ? nc : 1) * sizeof(void *));
	for (size_t i = 0; i < nc; i++) {
		res->names[i] = coffer_arena_strdup(&res->arena, m->columns[i].name);
		res->types[i] = type_copy(&res->arena, m->columns[i].type);
	}
}

static COFFER_RESULT take_rows(struct coffer_client_result *res,
			       const struct coffer_proto_response *r)
{
	const struct coffer_proto_metadata *m = &r->u.result.metadata;
	ENSURE(!(m->flags & COFFER_PROTO_MF_NO_METADATA) && m->n_columns >= 0, COFFER_E_PROTOCOL,
	       "a ROWS result without metadata");
	size_t nc = (size_t)m->n_columns;
	if (!res->names)
		take_columns(res, m);
	ENSURE(nc == res->n_columns, COFFER_E_PROTOCOL, "the column count changed between pages");
	ENSURE(r->u.result.rows_count >= 0, COFFER_E_PROTOCOL, "negative row count");
	size_t nr = (size_t)r->u.result.rows_count;
	if (res->n_rows + nr > res->cap_rows) {
		size_t cap = res->cap_rows ? res->cap_rows : 64;
		while (cap < res->n_rows + nr)
			cap *= 2;
		res->cells = coffer_xrealloc(res->cells, cap * (nc ? nc : 1) * sizeof(*res->cells));
		res->cap_rows = cap;
	}
	struct coffer_reader rd;
	coffer_reader_init(&rd, r->u.result.rows_content, "rows");
	for (size_t i = 0; i < nr * nc; i++) {
		struct coffer_proto_value v;
		TRY(coffer_proto_read_bytes(&rd, "cell", &v));
		struct coffer_slice *cell = &res->cells[res->n_rows * nc + i];
		if (v.kind == COFFER_PROTO_VALUE) {
			uint8_t *p = coffer_arena_alloc(&res->arena, v.bytes.len ? v.bytes.len : 1);
			memcpy(p, v.bytes.ptr, v.bytes.len);
			*cell = coffer_slice_of(p, v.bytes.len);
		} else {
			*cell = coffer_slice_of(NULL, 0);
		}
	}
	res->n_rows += nr;
	return COFFER_OK;
}

static void result_init(struct coffer_client_result *res)
{
	memset(res, 0, sizeof(*res));
	coffer_arena_init(&res->arena, 0);
	res->kind = COFFER_CLIENT_VOID;
}

static struct coffer_slice arena_slice(struct coffer_arena *a, struct coffer_slice s)
{
	uint8_t *p = coffer_arena_alloc(a, s.len ? s.len : 1);
	memcpy(p, s.ptr, s.len);
	return coffer_slice_of(p, s.len);
}

/* Adds the answer *r (a frame of `size` bytes, consumed here) to *res: an
 * ERROR, or a RESULT of any kind; ROWS are appended to the rows already
 * there, and res->paging_state is the state for the next page or empty. */
static COFFER_RESULT take_answer(struct coffer_client *c, struct coffer_client_result *res,
				 const struct coffer_proto_response *r, size_t size)
{
	coffer_rc rc = COFFER_OK;
	res->paging_state = coffer_slice_of(NULL, 0);
	if (r->opcode == COFFER_PROTO_OP_ERROR) {
		res->kind = COFFER_CLIENT_ERROR;
		res->error_code = r->u.error.code;
		res->message = coffer_arena_strdup(&res->arena, error_text(r));
	} else if (r->opcode != COFFER_PROTO_OP_RESULT) {
		rc = coffer_error_set(COFFER_E_PROTOCOL, COFFER_WHERE, "unexpected %s answering a request",
				      coffer_proto_opcode_name(r->opcode));
	} else {
		res->kind = (enum coffer_client_kind)r->u.result.kind;
		if (r->u.result.kind == COFFER_PROTO_RESULT_SET_KEYSPACE)
			res->keyspace = coffer_arena_strdup(&res->arena, r->u.result.keyspace);
		if (r->u.result.kind == COFFER_PROTO_RESULT_ROWS) {
			const struct coffer_proto_metadata *m = &r->u.result.metadata;
			rc = take_rows(res, r);
			if (rc == COFFER_OK && (m->flags & COFFER_PROTO_MF_HAS_MORE_PAGES) &&
			    m->paging_state.len)
				res->paging_state = arena_slice(&res->arena, m->paging_state);
		}
		if (r->u.result.kind == COFFER_PROTO_RESULT_PREPARED) {
			/* The bind markers stand where a ROWS result has its columns. */
			const struct coffer_proto_metadata *m = &r->u.result.bind;
			res->prepared_id = arena_slice(&res->arena, r->u.result.id);
			take_columns(res, m);
		}
	}
	consume(c, size);
	return rc;
}

/* A QUERY for one page on `stream`. */
static void query_request(struct coffer_proto_request *q, int16_t stream, const char *cql,
			  int32_t page_size, struct coffer_slice paging)
{
	request_init(q, COFFER_PROTO_OP_QUERY, stream);
	q->u.query.query = coffer_slice_str(cql);
	q->u.query.params.consistency = COFFER_PROTO_CL_ONE;
	q->u.query.params.page_size = -1;
	if (page_size > 0) {
		q->u.query.params.flags |= COFFER_PROTO_QF_PAGE_SIZE;
		q->u.query.params.page_size = page_size;
	}
	if (paging.len) {
		q->u.query.params.flags |= COFFER_PROTO_QF_PAGING_STATE;
		q->u.query.params.paging_state = paging;
	}
}

static COFFER_RESULT query_page(struct coffer_client *c, const char *cql, int32_t page_size,
				struct coffer_slice paging, struct coffer_client_result *res)
{
	struct coffer_proto_request q;
	struct coffer_proto_response r;
	size_t size;
	query_request(&q, CLIENT_STREAM, cql, page_size, paging);
	TRY(send_request(c, &q, &r, &size));
	return take_answer(c, res, &r, size);
}

COFFER_RESULT coffer_client_query_page(struct coffer_client *c, const char *cql,
				       int32_t page_size, struct coffer_slice paging,
				       struct coffer_client_result *res)
{
	result_init(res);
	return query_page(c, cql, page_size, paging, res);
}

COFFER_RESULT coffer_client_query(struct coffer_client *c, const char *cql, int32_t page_size,
				  struct coffer_client_result *res)
{
	result_init(res);
	TRY(query_page(c, cql, page_size, coffer_slice_of(NULL, 0), res));
	while (res->kind == COFFER_CLIENT_ROWS && res->paging_state.len) {
		/* take_answer replaces paging_state: keep this page's own copy. */
		struct coffer_slice st = res->paging_state;
		TRY(query_page(c, cql, page_size, st, res));
		if (res->kind == COFFER_CLIENT_ERROR)
			break;
	}
	return COFFER_OK;
}

COFFER_RESULT coffer_client_prepare(struct coffer_client *c, const char *cql,
				    struct coffer_client_result *res)
{
	struct coffer_proto_request q;
	struct coffer_proto_response r;
	size_t size;
	result_init(res);
	request_init(&q, COFFER_PROTO_OP_PREPARE, CLIENT_STREAM);
	q.u.prepare.query = coffer_slice_str(cql);
	TRY(send_request(c, &q, &r, &size));
	TRY(take_answer(c, res, &r, size));
	ENSURE(res->kind == COFFER_CLIENT_ERROR || res->kind == COFFER_CLIENT_PREPARED,
	       COFFER_E_PROTOCOL, "PREPARE answered with result kind %d", (int)res->kind);
	return COFFER_OK;
}

static COFFER_RESULT check_stream(int16_t stream)
{
	ENSURE(stream > CLIENT_STREAM && stream <= COFFER_CLIENT_MAX_STREAM, COFFER_E_INVALID,
	       "stream %d is not one of COPY's (2..%d)", stream, COFFER_CLIENT_MAX_STREAM);
	return COFFER_OK;
}

COFFER_RESULT coffer_client_send_execute(struct coffer_client *c, int16_t stream,
					 struct coffer_slice id,
					 const struct coffer_proto_value *values, uint16_t n)
{
	struct coffer_proto_request q;
	TRY(check_stream(stream));
	request_init(&q, COFFER_PROTO_OP_EXECUTE, stream);
	q.u.execute.id = id;
	q.u.execute.params.consistency = COFFER_PROTO_CL_ONE;
	q.u.execute.params.page_size = -1;
	q.u.execute.params.flags = n ? COFFER_PROTO_QF_VALUES : 0;
	q.u.execute.params.n_values = n;
	q.u.execute.params.values = values;
	TRY(coffer_proto_request_encode(&c->out, &q));
	return flush_out(c);
}

COFFER_RESULT coffer_client_send_query(struct coffer_client *c, int16_t stream, const char *cql,
				       int32_t page_size, struct coffer_slice paging)
{
	struct coffer_proto_request q;
	TRY(check_stream(stream));
	query_request(&q, stream, cql, page_size, paging);
	TRY(coffer_proto_request_encode(&c->out, &q));
	return flush_out(c);
}

COFFER_RESULT coffer_client_send_batch(struct coffer_client *c, int16_t stream, uint8_t type,
				       struct coffer_slice id, size_t n_stmts,
				       const struct coffer_proto_value *values, uint16_t n_values)
{
	struct coffer_proto_request q;
	TRY(check_stream(stream));
	ENSURE(n_stmts > 0 && n_stmts <= UINT16_MAX, COFFER_E_INVALID,
	       "a batch of %zu statements", n_stmts);
	struct coffer_proto_batch_stmt *st = coffer_xcalloc(n_stmts, sizeof(*st));
	for (size_t i = 0; i < n_stmts; i++) {
		st[i].kind = 1;
		st[i].id = id;
		st[i].n_values = n_values;
		st[i].values = values + i * n_values;
	}
	request_init(&q, COFFER_PROTO_OP_BATCH, stream);
	q.u.batch.type = type;
	q.u.batch.n = (uint16_t)n_stmts;
	q.u.batch.stmts = st;
	q.u.batch.consistency = COFFER_PROTO_CL_ONE;
	coffer_rc rc = coffer_proto_request_encode(&c->out, &q);
	free(st);
	TRY(rc);
	return flush_out(c);
}

COFFER_RESULT coffer_client_recv(struct coffer_client *c, int16_t *stream,
				 struct coffer_client_result *res)
{
	struct coffer_proto_response r;
	size_t size;
	result_init(res);
	TRY(read_frame(c, 0, &r, &size));
	*stream = r.stream;
	return take_answer(c, res, &r, size);
}

void coffer_client_result_free(struct coffer_client_result *res)
{
	free(res->cells);
	coffer_arena_free(&res->arena);
	memset(res, 0, sizeof(*res));
}

/* ---- error names --------------------------------------------------------------------- */

/* As the DataStax Python driver names them (cassandra/protocol.py), which is
 * what cqlsh prints. */
static const struct {
	uint32_t code;
	const char *cls;
	const char *summary;
} error_names[] = {
	{COFFER_CQL_SERVER_ERROR, "ServerError", "Server error"},
	{COFFER_CQL_PROTOCOL_ERROR, "ProtocolError", "Protocol error"},
	{COFFER_CQL_BAD_CREDENTIALS, "AuthenticationFailed", "Bad credentials"},
	{COFFER_CQL_UNAVAILABLE, "Unavailable", "Unavailable exception"},
	{COFFER_CQL_OVERLOADED, "OverloadedErrorMessage", "Request was rejected because of overload"},
	{COFFER_CQL_IS_BOOTSTRAPPING, "IsBootstrappingErrorMessage", "Coordinator node is bootstrapping"},
	{COFFER_CQL_TRUNCATE_ERROR, "TruncateError", "Error during truncate"},
	{COFFER_CQL_WRITE_TIMEOUT, "WriteTimeout", "Coordinator node timed out waiting for replica nodes' responses"},
	{COFFER_CQL_READ_TIMEOUT, "ReadTimeout", "Coordinator node timed out waiting for replica nodes' responses"},
	{COFFER_CQL_READ_FAILURE, "ReadFailure", "Replica(s) failed to execute read"},
	{COFFER_CQL_FUNCTION_FAILURE, "FunctionFailure", "A user-defined function failed"},
	{COFFER_CQL_WRITE_FAILURE, "WriteFailure", "Replica(s) failed to execute write"},
	{COFFER_CQL_SYNTAX_ERROR, "SyntaxException", "Syntax error in CQL query"},
	{COFFER_CQL_UNAUTHORIZED, "Unauthorized", "Unauthorized"},
	{COFFER_CQL_INVALID, "InvalidRequest", "Invalid query"},
	{COFFER_CQL_CONFIG_ERROR, "ConfigurationException", "Query invalid because of configuration issue"},
	{COFFER_CQL_ALREADY_EXISTS, "AlreadyExists", "Already exists"},
	{COFFER_CQL_UNPREPARED, "PreparedQueryNotFound", "Unprepared"},
};

const char *coffer_client_error_class(uint32_t code)
{
	for (size_t i = 0; i < sizeof(error_names) / sizeof(error_names[0]); i++)
		if (error_names[i].code == code)
			return error_names[i].cls;
	return "ServerError";
}

const char *coffer_client_error_summary(uint32_t code)
{
	for (size_t i = 0; i < sizeof(error_names) / sizeof(error_names[0]); i++)
		if (error_names[i].code == code)
			return error_names[i].summary;
	return "Unknown error";
}

char *coffer_client_error_text(const struct coffer_client_result *r)
{
	return coffer_xasprintf("%s: Error from server: code=%04x [%s] message=\"%s\"",
				coffer_client_error_class(r->error_code), r->error_code,
				coffer_client_error_summary(r->error_code),
				r->message ? r->message : "");
}
