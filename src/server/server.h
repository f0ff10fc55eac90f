/*
 * server.h - cofferd's network side: CQL native-protocol listeners (plain and
 * TLS) on one libevent loop, connections that decode frames and answer the
 * protocol's own messages, and a pool of worker threads that runs everything
 * that may block (password checks, queries) so that one slow request never
 * stalls the loop. A handler may answer later (coffer_cql_later_finish): a
 * plain durable write is answered by the thread that commits its group, so
 * no worker waits for an fsync.
 *
 * What the server answers itself: OPTIONS (SUPPORTED), STARTUP (AUTHENTICATE
 * or READY), AUTH_RESPONSE (through the handler's login, on a worker),
 * REGISTER, and every protocol error. QUERY, PREPARE, EXECUTE and BATCH go to
 * the handler (the CQL engine) on a worker, once the session is ready; an
 * EXECUTE is first offered to the handler on the loop itself
 * (handle_on_loop), which takes only what cannot block.
 *
 * Ownership: the server borrows its config's handler and log; sessions belong
 * to their connection and live until it closes and its last request is done.
 * Thread-safety: coffer_server_run on one thread; coffer_server_stop and
 * coffer_server_broadcast_schema_change from any thread.
 */
#ifndef COFFER_SERVER_SERVER_H
#define COFFER_SERVER_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/proto.h"
#include "util/util.h"

struct coffer_server;
struct coffer_session;

/* A request whose answer the handler sends after `handle` returned. */
struct coffer_cql_later;
/* Sends a deferred request's whole response frame and ends the request:
 * exactly once per deferred request, from any thread, never blocking. */
void coffer_cql_later_finish(struct coffer_cql_later *l, const struct coffer_buf *frame);

/* The CQL engine the server hands requests to. */
struct coffer_cql_handler_ops {
	/* Checks a user's password. Returns COFFER_OK with *ok set; an error
	 * only when the check itself could not be made. Runs on a worker. */
	coffer_rc (*login)(void *self, struct coffer_slice user, struct coffer_slice password, bool *ok);
	/* Handles QUERY, PREPARE, EXECUTE or BATCH for a ready session and
	 * appends the whole response frame (RESULT or ERROR, with req->stream and
	 * the session's version) to `out`, returning false. Or it returns true
	 * having kept `later`: the response then goes out through
	 * coffer_cql_later_finish(later, ...) (possibly called before handle
	 * returns), so a durable write need not hold the worker during its
	 * fsync. Runs on a worker; may block. */
	bool (*handle)(void *self, struct coffer_session *s, const struct coffer_proto_request *req,
		       struct coffer_buf *out, struct coffer_cql_later *later);
	/* Optional (NULL: never called): an EXECUTE offered to the event loop
	 * thread first. The handler takes it only if it can do so without
	 * blocking - CPU work and a commit-log append whose group another thread
	 * writes - and answers as handle does (COFFER_CQL_ANSWERED: the frame in
	 * `out`; COFFER_CQL_DEFERRED: through `later`). Otherwise it returns
	 * COFFER_CQL_DECLINED having changed nothing (no state, `out` untouched,
	 * `later` unused) and the request goes to a worker and `handle`. A plain
	 * prepared write thus costs no hand-off to a worker and no wake-up. */
	int (*handle_on_loop)(void *self, struct coffer_session *s, const struct coffer_proto_request *req,
			      struct coffer_buf *out, struct coffer_cql_later *later);
};

/* What handle_on_loop did with a request. */
enum {
	COFFER_CQL_ANSWERED = 0,
	COFFER_CQL_DEFERRED = 1,
	COFFER_CQL_DECLINED = 2,
};

struct coffer_cql_handler {
	const struct coffer_cql_handler_ops *ops;
	void *self;
};

struct coffer_server_config {
	const char *listen;           /* "HOST:PORT" for plain CQL; NULL: none */
	const char *tls_listen;       /* "HOST:PORT" for TLS; NULL: none */
	const char *tls_cert;         /* PEM certificate chain (with tls_listen) */
	const char *tls_key;          /* PEM private key */
	bool auth;                    /* PasswordAuthenticator (the default) */
	uint32_t max_frame_body;      /* 0: 256 MiB, as Cassandra */
	int workers;                  /* 0: 32 */
	uint32_t max_in_flight;       /* per connection; 0: 1024 */
	const char *cql_version;      /* "3.4.5" */
	struct coffer_cql_handler handler;
	const struct coffer_log *log;
};

/* Binds the listeners (a port of 0 picks a free one) and starts the workers. */
COFFER_RESULT coffer_server_new(const struct coffer_server_config *cfg, struct coffer_server **out);
/* The bound "HOST:PORT" of the plain / TLS listener ("" if none). */
const char *coffer_server_address(const struct coffer_server *s);
const char *coffer_server_tls_address(const struct coffer_server *s);
/* Runs the loop until coffer_server_stop. */
COFFER_RESULT coffer_server_run(struct coffer_server *s);
/* Asks the loop to stop: listeners close, requests in flight finish. */
void coffer_server_stop(struct coffer_server *s);
void coffer_server_free(struct coffer_server *s);

/* Pushes a SCHEMA_CHANGE event to every connection that REGISTERed for it. */
void coffer_server_broadcast_schema_change(struct coffer_server *s,
					   const struct coffer_proto_schema_change *sc);

/* ---- sessions (one per connection) ---------------------------------------- */

uint8_t coffer_session_version(const struct coffer_session *s);
/* The authenticated role ("" with auth off). */
const char *coffer_session_user(const struct coffer_session *s);
#define COFFER_SESSION_KEYSPACE_MAX 256
/* The keyspace of USE, or "", copied into out (requests of one connection run
 * concurrently, so the session keeps it under a lock). */
void coffer_session_keyspace(struct coffer_session *s, char out[COFFER_SESSION_KEYSPACE_MAX]);
void coffer_session_set_keyspace(struct coffer_session *s, const char *ks);

#endif
