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
	COFFER_CLIENT_SCHEMA_CHANGE = 5,
	COFFER_CLIENT_ERROR = 100,
};

struct coffer_client_result {
	enum coffer_client_kind kind;
	/* ROWS: n_columns names and types, n_rows * n_columns cells row by row;
	 * a null cell has ptr == NULL. */
	size_t n_columns;
	const char **names;
	const struct coffer_proto_type **types;
	size_t n_rows;
	struct coffer_slice *cells;
	const char *keyspace;  /* SET_KEYSPACE */
	uint32_t error_code;   /* ERROR: enum coffer_cql_error */
	const char *message;   /* ERROR: the server's message */
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

#endif
