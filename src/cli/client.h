/*
 * client.h - a small blocking CQL client for the command-line tool: one
 * connection (plain TCP or TLS), STARTUP, SASL PLAIN, and QUERY with every
 * page fetched before the call returns.
 *
 * Ownership:
 *  - struct coffer_client is opaque; coffer_client_connect() returns it and
 *    coffer_client_close() frees it.
 *  - A struct coffer_client_result is the caller's; everything it points to
 *    (column names and types, cells, messages) lives in its own arena until
 *    coffer_client_result_free().
 *  - The password given to connect is only borrowed: it is copied into the
 *    SASL token, which is wiped as soon as it is sent; the caller wipes its
 *    own copy.
 *
 * Errors: a connection, TLS or protocol failure is a non-OK COFFER_RESULT
 * with the thread's error detail. An ERROR answer from the server is not a
 * failure of the call: it comes back as a result with kind
 * COFFER_CLIENT_ERROR, the CQL error code and the server's message.
 */
#ifndef COFFER_CLI_CLIENT_H
#define COFFER_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"
#include "util/arena.h"
#include "util/bytes.h"
#include "util/result.h"

struct coffer_client;

struct coffer_client_opts {
	const char *host;     /* name or address */
	const char *port;     /* service or number */
	const char *user;     /* SASL PLAIN user */
	const char *password; /* borrowed; NULL: fail if the server asks for one */
	bool tls;             /* TLS, verifying the server against ca (or the system store) */
	const char *ca;       /* PEM trust anchors; NULL: OpenSSL's default paths */
	int timeout_ms;       /* per request; 0 means 30 s */
};

enum coffer_client_kind {
	COFFER_CLIENT_VOID = 1,
	COFFER_CLIENT_ROWS = 2,
	COFFER_CLIENT_SET_KEYSPACE = 3,
	COFFER_CLIENT_PREPARED = 4,
	COFFER_CLIENT_SCHEMA_CHANGE = 5,
	COFFER_CLIENT_ERROR = 100,
};

struct coffer_client_result {
	enum coffer_client_kind kind;
	/* ROWS: n_columns names and types, n_rows * n_columns cells row by row;
	 * a null cell has ptr == NULL. PREPARED: the bind markers' names and
	 * types (no rows). */
	size_t n_columns;
	const char **names;
	const struct coffer_proto_type **types;
	size_t n_rows;
	struct coffer_slice *cells;
	const char *keyspace;  /* SET_KEYSPACE */
	uint32_t error_code;   /* ERROR: enum coffer_cql_error */
	const char *message;   /* ERROR: the server's message */
	struct coffer_slice prepared_id;   /* PREPARED */
	struct coffer_slice paging_state;  /* ROWS from query_page: empty on the last page */
	struct coffer_arena arena;
	size_t cap_rows;       /* internal */
};

/* Connects, sends STARTUP and answers AUTHENTICATE with SASL PLAIN. A login
 * refused by the server is COFFER_E_DENIED with the server's message. */
COFFER_RESULT coffer_client_connect(const struct coffer_client_opts *o,
				    struct coffer_client **out);
void coffer_client_close(struct coffer_client *c);

/* Runs one CQL statement at consistency ONE, fetching all pages (page_size
 * rows each). *res is initialised by the call, also on failure; free it with
 * coffer_client_result_free(). */
COFFER_RESULT coffer_client_query(struct coffer_client *c, const char *cql, int32_t page_size,
				  struct coffer_client_result *res);
void coffer_client_result_free(struct coffer_client_result *res);

/* One page of a query: `paging` is empty for the first page, else the
 * paging_state of the previous page's result (which must stay alive until
 * this call returns). res->paging_state is empty on the last page. */
COFFER_RESULT coffer_client_query_page(struct coffer_client *c, const char *cql,
				       int32_t page_size, struct coffer_slice paging,
				       struct coffer_client_result *res);

/* PREPAREs a statement: a PREPARED result (prepared_id, and the bind
 * markers as columns) or an ERROR result. */
COFFER_RESULT coffer_client_prepare(struct coffer_client *c, const char *cql,
				    struct coffer_client_result *res);

/* Pipelining (COPY): requests go out at once on a caller-chosen stream in
 * 2..COFFER_CLIENT_MAX_STREAM, one request per stream at a time, and their
 * answers come back in any order through coffer_client_recv(). Values are
 * borrowed for the call only. Never interleave with the calls above while
 * answers are outstanding. */
#define COFFER_CLIENT_MAX_STREAM 1024
COFFER_RESULT coffer_client_send_execute(struct coffer_client *c, int16_t stream,
					 struct coffer_slice id,
					 const struct coffer_proto_value *values, uint16_t n);
/* One page of a query (as coffer_client_query_page), answered through
 * coffer_client_recv: COPY TO asks for the next page before writing out
 * the one it has. */
COFFER_RESULT coffer_client_send_query(struct coffer_client *c, int16_t stream, const char *cql,
				       int32_t page_size, struct coffer_slice paging);
/* A BATCH (type: enum coffer_proto_batch_type) of n_stmts executions of the
 * prepared statement `id`, statement i binding values[i*n_values ..]. */
COFFER_RESULT coffer_client_send_batch(struct coffer_client *c, int16_t stream, uint8_t type,
				       struct coffer_slice id, size_t n_stmts,
				       const struct coffer_proto_value *values, uint16_t n_values);
/* Waits (up to the request timeout) for the next answer on a COPY stream;
 * *stream says whose it is. *res as for coffer_client_query. */
COFFER_RESULT coffer_client_recv(struct coffer_client *c, int16_t *stream,
				 struct coffer_client_result *res);

/* The cell at (row, col). */
static inline struct coffer_slice coffer_client_cell(const struct coffer_client_result *r,
						     size_t row, size_t col)
{
	return r->cells[row * r->n_columns + col];
}

/* cqlsh's names for CQL error codes: the driver's exception class
 * ("InvalidRequest") and the bracketed summary ("Invalid query"). */
const char *coffer_client_error_class(uint32_t code);
const char *coffer_client_error_summary(uint32_t code);
/* An ERROR result as cqlsh prints it (heap, the caller frees):
 * InvalidRequest: Error from server: code=2200 [Invalid query] message="..." */
char *coffer_client_error_text(const struct coffer_client_result *r);

#endif
