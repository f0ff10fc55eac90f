/*
 * conn.c - one CQL connection: frames in, answers out, requests handed to
 * the workers (an EXECUTE is first offered to the handler on the loop:
 * execute()).
 *
 * State of a session (spec section 4.1.1 and 4.1.2):
 *
 *   new ──STARTUP──► started ──(auth off)──────────────► ready
 *                       │                                  ▲
 *                       └──(auth on) AUTHENTICATE ─AUTH_RESPONSE ok─┘
 *   OPTIONS is answered in every state; QUERY/PREPARE/EXECUTE/BATCH only when
 *   ready; anything else is a protocol error that leaves the connection open.
 *
 * Invariants:
 *  1. Lock order: a bufferevent's lock, then conn->lock / session.lock. A
 *     worker never writes to the bufferevent: it appends its answer to
 *     conn->outq under conn->lock and, if no flush is scheduled yet, activates
 *     conn->flush_ev; the loop moves the whole queue into the bufferevent
 *     (after dropping conn->lock), so a burst of answers costs one wake-up of
 *     the loop and goes out in one writev.
 *  2. A connection is freed when its loop reference and every request's
 *     reference are gone; the bufferevent lives as long as the connection,
 *     so a worker's late answer never touches freed memory.
 *  3. Frames are answered on their own stream id, in whatever order requests
 *     finish (spec 2.3: "responses may come in any order").
 *  4. The bytes of an AUTH_RESPONSE (a password) are wiped once checked.
 *  5. A frame that breaks framing (bad version, length past the limit) is
 *     answered with a protocol error and the connection closes once that
 *     answer is written; a malformed body only gets an error for its stream.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>

#include "server/server_internal.h"

/* A deferred request (server.h): who of run_job and the handler's finish
 * comes last ends the request (job_done), so the job outlives both. */
enum { LATER_RUNNING, LATER_RETURNED, LATER_FINISHED };

struct coffer_cql_later {
	int state; /* LATER_*, atomic */
};

struct job {
	struct coffer_conn *conn;
	struct coffer_proto_header hdr;
	struct coffer_buf frame; /* the whole frame */
	struct coffer_cql_later later;
};

static void conn_free(struct coffer_conn *c)
{
	struct coffer_server *s = c->server;
	pthread_mutex_lock(&s->conns_lock);
	if (c->prev)
		c->prev->next = c->next;
	else if (s->conns == c)
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&s->conns_lock);
	if (c->flush_ev)
		event_free(c->flush_ev);
	if (c->free_ev)
		event_free(c->free_ev);
	if (c->bev)
		bufferevent_free(c->bev);
	coffer_buf_free(&c->outq);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->session.lock);
	coffer_log_debug(s->log, "server", "connection %llu from %s closed", (unsigned long long)c->id, c->peer);
	free(c);
}

static void conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_free(arg);
}

static void conn_hold(struct coffer_conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->refs++;
	pthread_mutex_unlock(&c->lock);
}

/* Drops a reference; the last one frees the connection on the loop thread. */
static void conn_release(struct coffer_conn *c, bool on_loop)
{
	pthread_mutex_lock(&c->lock);
	bool last = --c->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (!last)
		return;
	if (on_loop)
		conn_free(c);
	else
		/* if the loop never runs it, coffer_conn_close_all frees c (and
		 * with it this pending event) */
		event_active(c->free_ev, EV_TIMEOUT, 0);
}

/* Stops reading and drops the loop's reference (loop thread). */
static void conn_close(struct coffer_conn *c)
{
	pthread_mutex_lock(&c->lock);
	bool was = c->closing;
	c->closing = true;
	pthread_mutex_unlock(&c->lock);
	if (was)
		return;
	bufferevent_disable(c->bev, EV_READ);
	conn_release(c, true);
}

static bool conn_is_closing(struct coffer_conn *c)
{
	pthread_mutex_lock(&c->lock);
	bool closing = c->closing;
	pthread_mutex_unlock(&c->lock);
	return closing;
}

/* Loop thread only: straight into the bufferevent (process_input looks at
 * its output length right after an error answer). */
static void send_buf(struct coffer_conn *c, const struct coffer_buf *b)
{
	if (b->len && !conn_is_closing(c))
		bufferevent_write(c->bev, b->ptr, b->len);
}

/* A worker's answer (or an event): queued for the loop's next flush
 * (invariant 1). */
void coffer_conn_send(struct coffer_conn *c, const struct coffer_buf *b)
{
	if (!b->len)
		return;
	pthread_mutex_lock(&c->lock);
	bool kick = false;
	if (!c->closing) {
		coffer_buf_put(&c->outq, b->ptr, b->len);
		kick = !c->flush_scheduled;
		c->flush_scheduled = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (kick)
		event_active(c->flush_ev, EV_WRITE, 0);
}

/* Loop thread: everything the workers queued since the last flush. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct coffer_conn *c = arg;
	pthread_mutex_lock(&c->lock);
	struct coffer_buf out = c->outq;
	c->outq = (struct coffer_buf){0};
	c->flush_scheduled = false;
	bool closing = c->closing;
	pthread_mutex_unlock(&c->lock);
	if (out.len && !closing)
		bufferevent_write(c->bev, out.ptr, out.len);
	coffer_buf_free(&out);
}

static void send_error(struct coffer_conn *c, uint8_t version, int16_t stream, uint32_t code,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void send_error(struct coffer_conn *c, uint8_t version, int16_t stream, uint32_t code,
		       const char *fmt, ...)
{
	struct coffer_proto_err e = {.code = code, .version = version, .stream = stream};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	struct coffer_buf b = {0};
	if (coffer_proto_encode_error_frame(&b, &e) == COFFER_OK)
		send_buf(c, &b);
	coffer_buf_free(&b);
}

/* An encoder that failed may have left part of a frame: drop the buffer. */
static void keep_whole(struct coffer_buf *b, coffer_rc rc)
{
	if (rc != COFFER_OK)
		b->len = 0;
}

/* ---- the workers' side ------------------------------------------------------- */

static void job_done(struct job *j)
{
	struct coffer_conn *c = j->conn;
	coffer_wipe(j->frame.ptr, j->frame.len);
	coffer_buf_free(&j->frame);
	free(j);
	pthread_mutex_lock(&c->lock);
	c->in_flight--;
	bool resume = c->read_paused && !c->closing && c->in_flight <= c->server->cfg.max_in_flight / 2;
	if (resume)
		c->read_paused = false;
	pthread_mutex_unlock(&c->lock);
	if (resume) {
		bufferevent_enable(c->bev, EV_READ);
		/* Frames already buffered get no new read event: run the read path. */
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	}
	conn_release(c, false);
}

static void do_auth(struct job *j, const struct coffer_proto_request *req, struct coffer_buf *out)
{
	struct coffer_conn *c = j->conn;
	struct coffer_proto_plain plain;
	struct coffer_proto_err perr = {0};
	uint8_t v = j->hdr.version;
	if (coffer_proto_sasl_plain_parse(&req->u.auth_response.token, &plain, &perr) != COFFER_OK) {
		struct coffer_proto_err e = perr;
		e.version = v;
		e.stream = j->hdr.stream;
		if (!e.code)
			e.code = COFFER_CQL_BAD_CREDENTIALS;
		keep_whole(out, coffer_proto_encode_error_frame(out, &e));
		return;
	}
	bool ok = false;
	const struct coffer_cql_handler *h = &c->server->cfg.handler;
	coffer_rc rc = h->ops->login(h->self, plain.username, plain.password, &ok);
	char user[256];
	size_t ul = plain.username.len < sizeof(user) - 1 ? plain.username.len : sizeof(user) - 1;
	memcpy(user, plain.username.ptr, ul);
	user[ul] = 0;
	if (rc != COFFER_OK) {
		struct coffer_proto_err e = {.code = COFFER_CQL_SERVER_ERROR, .version = v, .stream = j->hdr.stream};
		snprintf(e.message, sizeof(e.message), "Could not check the credentials: %s", coffer_error_msg());
		keep_whole(out, coffer_proto_encode_error_frame(out, &e));
		return;
	}
	if (!ok) {
		struct coffer_proto_err e = {.code = COFFER_CQL_BAD_CREDENTIALS, .version = v, .stream = j->hdr.stream};
		snprintf(e.message, sizeof(e.message), "Provided username %s and/or password are incorrect", user);
		keep_whole(out, coffer_proto_encode_error_frame(out, &e));
		coffer_log_info(c->server->log, "server", "connection %llu from %s: authentication failed",
				(unsigned long long)c->id, c->peer);
		return;
	}
	pthread_mutex_lock(&c->session.lock);
	c->session.ready = true;
	snprintf(c->session.user, sizeof(c->session.user), "%s", user);
	pthread_mutex_unlock(&c->session.lock);
	struct coffer_proto_value none = {.kind = COFFER_PROTO_VALUE_NULL};
	size_t st = coffer_proto_frame_begin(out, v, true, 0, j->hdr.stream, COFFER_PROTO_OP_AUTH_SUCCESS);
	if (coffer_proto_put_auth_token(out, &none) != COFFER_OK ||
	    coffer_proto_frame_end(out, st, 0) != COFFER_OK)
		out->len = st;
}

/* Ends a deferred request (counted in later_open since handle returned). */
static void later_end(struct job *j)
{
	struct coffer_server *s = j->conn->server;
	job_done(j);
	pthread_mutex_lock(&s->later_lock);
	if (--s->later_open == 0)
		pthread_cond_broadcast(&s->later_cv);
	pthread_mutex_unlock(&s->later_lock);
}

/* The handler kept j->later: coffer_cql_later_finish answers and, with this,
 * ends the request (whichever of the two comes last). */
static void job_deferred(struct job *j)
{
	struct coffer_server *s = j->conn->server;
	pthread_mutex_lock(&s->later_lock);
	s->later_open++;
	pthread_mutex_unlock(&s->later_lock);
	if (__atomic_exchange_n(&j->later.state, LATER_RETURNED, __ATOMIC_ACQ_REL) == LATER_FINISHED)
		later_end(j);
}

static void run_job(void *arg)
{
	struct job *j = arg;
	struct coffer_conn *c = j->conn;
	struct coffer_arena a;
	struct coffer_buf out = {0};
	coffer_arena_init(&a, 0);
	struct coffer_proto_frame f = {
		.hdr = j->hdr,
		.body = coffer_slice_of(j->frame.ptr + COFFER_PROTO_HEADER_BYTES,
					j->frame.len - COFFER_PROTO_HEADER_BYTES),
		.size = j->frame.len,
	};
	struct coffer_proto_request req;
	struct coffer_proto_err perr = {0};
	if (conn_is_closing(c)) {
		/* Nobody to answer. */
	} else if (coffer_proto_request_decode(&f, &a, &req, &perr) != COFFER_OK) {
		perr.version = j->hdr.version;
		perr.stream = j->hdr.stream;
		keep_whole(&out, coffer_proto_encode_error_frame(&out, &perr));
	} else if (req.opcode == COFFER_PROTO_OP_AUTH_RESPONSE) {
		do_auth(j, &req, &out);
	} else {
		const struct coffer_cql_handler *h = &c->server->cfg.handler;
		if (h->ops->handle(h->self, &c->session, &req, &out, &j->later)) {
			coffer_buf_free(&out);
			coffer_arena_free(&a);
			job_deferred(j);
			return;
		}
	}
	coffer_conn_send(c, &out);
	coffer_buf_free(&out);
	coffer_arena_free(&a);
	job_done(j);
}

void coffer_cql_later_finish(struct coffer_cql_later *l, const struct coffer_buf *frame)
{
	struct job *j = (struct job *)((char *)l - offsetof(struct job, later));
	coffer_conn_send(j->conn, frame);
	if (__atomic_exchange_n(&l->state, LATER_FINISHED, __ATOMIC_ACQ_REL) == LATER_RETURNED)
		later_end(j);
}

void coffer_conn_wait_deferred(struct coffer_server *s)
{
	pthread_mutex_lock(&s->later_lock);
	while (s->later_open)
		pthread_cond_wait(&s->later_cv, &s->later_lock);
	pthread_mutex_unlock(&s->later_lock);
}

/* ---- the loop's side ----------------------------------------------------------- */

/* A request of c in flight (job_done ends it). */
static struct job *job_new(struct coffer_conn *c, const struct coffer_proto_frame *f)
{
	struct job *j = COFFER_NEW(struct job);
	j->conn = c;
	j->hdr = f->hdr;
	conn_hold(c);
	pthread_mutex_lock(&c->lock);
	c->in_flight++;
	if (c->in_flight >= c->server->cfg.max_in_flight && !c->read_paused) {
		c->read_paused = true;
		bufferevent_disable(c->bev, EV_READ);
	}
	pthread_mutex_unlock(&c->lock);
	return j;
}

static void to_worker(struct job *j, const uint8_t *bytes, size_t size)
{
	coffer_buf_put(&j->frame, bytes, size);
	coffer_workers_submit(j->conn->server->workers, run_job, j);
}

static void submit(struct coffer_conn *c, const struct coffer_proto_frame *f, const uint8_t *bytes)
{
	to_worker(job_new(c, f), bytes, f->size);
}

/* An EXECUTE offered to the handler on the loop (server.h, handle_on_loop):
 * answered here, deferred to the commit log, or declined and submitted to a
 * worker like any other request. A body that does not decode goes to the
 * worker too, whose answer names the problem. A declined EXECUTE (a prepared
 * read, say) is decoded twice, here and by the worker: its decoded form
 * points into the input buffer, which is drained once this returns. */
static void execute(struct coffer_conn *c, const struct coffer_proto_frame *f, const uint8_t *bytes)
{
	const struct coffer_cql_handler *h = &c->server->cfg.handler;
	if (!h->ops->handle_on_loop) {
		submit(c, f, bytes);
		return;
	}
	struct coffer_arena a;
	struct coffer_proto_request req;
	struct coffer_proto_err perr = {0};
	coffer_arena_init(&a, 0);
	if (coffer_proto_request_decode(f, &a, &req, &perr) != COFFER_OK) {
		coffer_arena_free(&a);
		submit(c, f, bytes);
		return;
	}
	struct job *j = job_new(c, f);
	struct coffer_buf out = {0};
	int r = h->ops->handle_on_loop(h->self, &c->session, &req, &out, &j->later);
	coffer_arena_free(&a);
	if (r == COFFER_CQL_DECLINED) {
		to_worker(j, bytes, f->size);
	} else if (r == COFFER_CQL_DEFERRED) {
		job_deferred(j);
	} else {
		send_buf(c, &out);
		job_done(j);
	}
	coffer_buf_free(&out);
}

static void answer_startup(struct coffer_conn *c, const struct coffer_proto_frame *f)
{
	struct coffer_arena a;
	struct coffer_proto_request req;
	struct coffer_proto_err perr = {0};
	struct coffer_buf out = {0};
	uint8_t v = f->hdr.version;
	coffer_arena_init(&a, 0);
	if (coffer_proto_request_decode(f, &a, &req, &perr) != COFFER_OK) {
		perr.version = v;
		perr.stream = f->hdr.stream;
		keep_whole(&out, coffer_proto_encode_error_frame(&out, &perr));
	} else if (f->hdr.opcode == COFFER_PROTO_OP_OPTIONS) {
		keep_whole(&out, coffer_proto_encode_supported(&out, v, f->hdr.stream, c->server->cfg.cql_version));
	} else if (f->hdr.opcode == COFFER_PROTO_OP_STARTUP) {
		pthread_mutex_lock(&c->session.lock);
		bool again = c->session.started;
		pthread_mutex_unlock(&c->session.lock);
		if (again) {
			send_error(c, v, f->hdr.stream, COFFER_CQL_PROTOCOL_ERROR,
				   "Unexpected message STARTUP, the connection is already started");
		} else if (req.u.startup.compression) {
			send_error(c, v, f->hdr.stream, COFFER_CQL_PROTOCOL_ERROR,
				   "Unsupported compression %.64s: coffer offers none (SUPPORTED lists COMPRESSION [])",
				   req.u.startup.compression);
		} else {
			pthread_mutex_lock(&c->session.lock);
			c->session.started = true;
			c->session.version = v;
			c->session.ready = !c->server->cfg.auth;
			pthread_mutex_unlock(&c->session.lock);
			if (c->server->cfg.auth) {
				size_t st = coffer_proto_frame_begin(&out, v, true, 0, f->hdr.stream,
								     COFFER_PROTO_OP_AUTHENTICATE);
				if (coffer_proto_put_authenticate(&out, COFFER_PROTO_PASSWORD_AUTHENTICATOR) != COFFER_OK ||
				    coffer_proto_frame_end(&out, st, 0) != COFFER_OK)
					out.len = st;
			} else {
				keep_whole(&out, coffer_proto_encode_ready(&out, v, f->hdr.stream));
			}
		}
	} else if (f->hdr.opcode == COFFER_PROTO_OP_REGISTER) {
		pthread_mutex_lock(&c->session.lock);
		c->session.events |= req.u.reg.mask;
		pthread_mutex_unlock(&c->session.lock);
		keep_whole(&out, coffer_proto_encode_ready(&out, v, f->hdr.stream));
	}
	send_buf(c, &out);
	coffer_buf_free(&out);
	coffer_arena_free(&a);
}

static void handle_frame(struct coffer_conn *c, const struct coffer_proto_frame *f, const uint8_t *bytes)
{
	uint8_t op = f->hdr.opcode;
	uint8_t v = f->hdr.version;
	pthread_mutex_lock(&c->session.lock);
	bool started = c->session.started, ready = c->session.ready;
	pthread_mutex_unlock(&c->session.lock);
	const char *name = coffer_proto_opcode_name(op);
	switch (op) {
	case COFFER_PROTO_OP_OPTIONS:
	case COFFER_PROTO_OP_STARTUP:
		answer_startup(c, f);
		return;
	case COFFER_PROTO_OP_REGISTER:
		if (!ready) {
			send_error(c, v, f->hdr.stream, COFFER_CQL_PROTOCOL_ERROR,
				   "Unexpected message REGISTER, expecting %s", started ? "AUTH_RESPONSE" : "STARTUP");
			return;
		}
		answer_startup(c, f);
		return;
	case COFFER_PROTO_OP_AUTH_RESPONSE:
		if (!started || ready || !c->server->cfg.auth) {
			send_error(c, v, f->hdr.stream, COFFER_CQL_PROTOCOL_ERROR,
				   "Unexpected message AUTH_RESPONSE%s",
				   !started ? ", expecting STARTUP" : ": the connection is already authenticated");
			return;
		}
		submit(c, f, bytes);
		return;
	case COFFER_PROTO_OP_QUERY:
	case COFFER_PROTO_OP_PREPARE:
	case COFFER_PROTO_OP_EXECUTE:
	case COFFER_PROTO_OP_BATCH:
		if (!ready) {
			send_error(c, v, f->hdr.stream, started ? COFFER_CQL_UNAUTHORIZED : COFFER_CQL_PROTOCOL_ERROR,
				   "Unexpected message %s, expecting %s", name,
				   started ? "AUTH_RESPONSE: the connection is not authenticated" : "STARTUP");
			return;
		}
		if (op == COFFER_PROTO_OP_EXECUTE)
			execute(c, f, bytes);
		else
			submit(c, f, bytes);
		return;
	default:
		if (name)
			send_error(c, v, f->hdr.stream, COFFER_CQL_PROTOCOL_ERROR,
				   "%s is a server message; a client may not send it", name);
		else
			send_error(c, v, f->hdr.stream, COFFER_CQL_PROTOCOL_ERROR, "Unknown opcode 0x%02x", op);
	}
}

static void process_input(struct coffer_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	for (;;) {
		pthread_mutex_lock(&c->lock);
		bool stop = c->closing || c->read_paused || c->close_after_flush;
		pthread_mutex_unlock(&c->lock);
		if (stop)
			return;
		size_t len = evbuffer_get_length(in);
		if (c->skip && len) {
			size_t n = c->skip < len ? c->skip : len;
			evbuffer_drain(in, n);
			c->skip -= n;
			len -= n;
		}
		if (len == 0)
			return;
		size_t want = len < COFFER_PROTO_HEADER_BYTES ? len : COFFER_PROTO_HEADER_BYTES;
		struct coffer_proto_frame f;
		enum coffer_proto_status st;
		size_t need = 0;
		struct coffer_proto_err err = {0};
		const uint8_t *p = evbuffer_pullup(in, (ssize_t)want);
		coffer_rc rc = coffer_proto_frame_decode(&c->pcfg, coffer_slice_of(p, want), &f, &st, &need, &err);
		if (rc == COFFER_OK && st == COFFER_PROTO_NEED_MORE) {
			if (need > len)
				return; /* wait for the rest */
			p = evbuffer_pullup(in, (ssize_t)need);
			rc = coffer_proto_frame_decode(&c->pcfg, coffer_slice_of(p, need), &f, &st, &need, &err);
		}
		if (rc != COFFER_OK) {
			struct coffer_buf b = {0};
			if (coffer_proto_encode_error_frame(&b, &err) == COFFER_OK)
				send_buf(c, &b);
			coffer_buf_free(&b);
			coffer_log_info(c->server->log, "server", "connection %llu from %s: %s%s",
					(unsigned long long)c->id, c->peer, err.message,
					err.close ? " (closing)" : "");
			if (err.close || err.discard == 0) {
				pthread_mutex_lock(&c->lock);
				c->close_after_flush = true;
				pthread_mutex_unlock(&c->lock);
				bufferevent_disable(c->bev, EV_READ);
				if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
					conn_close(c);
				return;
			}
			if (err.discard > len) {
				/* Skip the rest of the refused frame as it arrives. */
				c->skip = err.discard - len;
				evbuffer_drain(in, len);
				return;
			}
			evbuffer_drain(in, err.discard);
			continue;
		}
		if (st != COFFER_PROTO_COMPLETE)
			return;
		handle_frame(c, &f, p);
		evbuffer_drain(in, f.size);
	}
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	process_input(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct coffer_conn *c = arg;
	pthread_mutex_lock(&c->lock);
	bool close_now = c->close_after_flush && evbuffer_get_length(bufferevent_get_output(bev)) == 0;
	pthread_mutex_unlock(&c->lock);
	if (close_now)
		conn_close(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct coffer_conn *c = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		if (what & BEV_EVENT_ERROR) {
			unsigned long ssl_err = bufferevent_get_openssl_error(c->bev);
			coffer_log_debug(c->server->log, "server", "connection %llu from %s: %s",
					 (unsigned long long)c->id, c->peer,
					 ssl_err ? "TLS error" : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		}
		conn_close(c);
	}
}

void coffer_conn_accept(struct coffer_server *s, evutil_socket_t fd, const struct sockaddr *addr, bool tls)
{
	struct coffer_conn *c = COFFER_NEW(struct coffer_conn);
	c->server = s;
	c->refs = 1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->session.lock, NULL);
	c->pcfg.max_body = s->cfg.max_frame_body;
	char ip[INET6_ADDRSTRLEN] = "?";
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, ntohs(a->sin_port));
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%d", ip, ntohs(a->sin6_port));
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_THREADSAFE | BEV_OPT_DEFER_CALLBACKS;
	if (tls) {
		SSL *ssl = SSL_new(s->ssl_ctx);
		if (ssl)
			c->bev = bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, opts);
	} else {
		c->bev = bufferevent_socket_new(s->base, fd, opts);
	}
	if (c->bev) {
		c->flush_ev = event_new(s->base, -1, 0, flush_cb, c);
		c->free_ev = event_new(s->base, -1, 0, conn_free_cb, c);
	}
	if (!c->bev || !c->flush_ev || !c->free_ev) {
		coffer_log_error(s->log, "server", "connection from %s: cannot set up its buffers", c->peer);
		if (c->flush_ev)
			event_free(c->flush_ev);
		if (c->free_ev)
			event_free(c->free_ev);
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		pthread_mutex_destroy(&c->lock);
		pthread_mutex_destroy(&c->session.lock);
		free(c);
		return;
	}
	pthread_mutex_lock(&s->conns_lock);
	c->id = ++s->next_conn_id;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	pthread_mutex_unlock(&s->conns_lock);
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	coffer_log_debug(s->log, "server", "connection %llu from %s%s", (unsigned long long)c->id, c->peer,
			 tls ? " (TLS)" : "");
}

void coffer_conn_close_all(struct coffer_server *s)
{
	/* Only after the workers are joined: no reference is held elsewhere. */
	for (;;) {
		pthread_mutex_lock(&s->conns_lock);
		struct coffer_conn *c = s->conns;
		pthread_mutex_unlock(&s->conns_lock);
		if (!c)
			break;
		conn_free(c);
	}
}

/* ---- sessions --------------------------------------------------------------------- */

uint8_t coffer_session_version(const struct coffer_session *s)
{
	return s->version;
}

const char *coffer_session_user(const struct coffer_session *s)
{
	return s->user;
}

void coffer_session_keyspace(struct coffer_session *s, char out[COFFER_SESSION_KEYSPACE_MAX])
{
	pthread_mutex_lock(&s->lock);
	size_t n = strnlen(s->keyspace, COFFER_SESSION_KEYSPACE_MAX - 1);
	memcpy(out, s->keyspace, n);
	out[n] = 0;
	pthread_mutex_unlock(&s->lock);
}

void coffer_session_set_keyspace(struct coffer_session *s, const char *ks)
{
	pthread_mutex_lock(&s->lock);
	snprintf(s->keyspace, sizeof(s->keyspace), "%s", ks ? ks : "");
	pthread_mutex_unlock(&s->lock);
}
