/*
 * proto.h - the CQL native protocol (v4, v3 accepted) as a pure codec: frames,
 * the protocol notations, request and response messages, SASL PLAIN and the
 * password hashes stored for roles. No sockets and no event loop: the server
 * feeds received bytes in and writes the bytes that come out.
 *
 * Spec: apache/cassandra doc/native_protocol_v4.spec (section numbers below
 * refer to it); v3 differences are handled where the spec's section 10 lists
 * them.
 *
 * Ownership, for every decoder here:
 *  - Slices (struct coffer_slice) and value bytes borrow the input frame body;
 *    they live as long as the caller keeps those bytes.
 *  - Strings ([string] notations, decoded to NUL-terminated C strings) and
 *    arrays are allocated from the caller's struct coffer_arena and live until
 *    it is reset.
 * Encoders append to a struct coffer_buf owned by the caller.
 *
 * Errors: every decoder returns COFFER_E_PROTOCOL (malformed input),
 * COFFER_E_LIMIT (a size limit) or COFFER_E_INVALID (bad credentials token)
 * with the usual thread-local detail, and also fills a struct coffer_proto_err
 * with the CQL error code, the version and stream to answer with, and whether
 * the connection must be closed. coffer_proto_encode_error_frame() turns that
 * into the ERROR frame to send. Messages never contain values, passwords or
 * token bytes; they name the message, the field and the offending sizes.
 */
#ifndef COFFER_PROTO_PROTO_H
#define COFFER_PROTO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/bytes.h"
#include "util/result.h"

/* ---- frames (spec section 2) ---------------------------------------------- */

#define COFFER_PROTO_HEADER_BYTES 9
#define COFFER_PROTO_VERSION_MIN 3
#define COFFER_PROTO_VERSION_MAX 4
#define COFFER_PROTO_DIRECTION_RESPONSE 0x80
/* Cassandra's native_transport_max_frame_size default; spec 2.5 "a frame is
 * limited to 256MB in length". */
#define COFFER_PROTO_DEFAULT_MAX_BODY (256u * 1024u * 1024u)
/* The stream id of server-pushed EVENTs (spec 2.3). */
#define COFFER_PROTO_EVENT_STREAM (-1)

/* Header flags (spec 2.2). Other bits are "unused and ignored". */
#define COFFER_PROTO_FLAG_COMPRESSION 0x01
#define COFFER_PROTO_FLAG_TRACING 0x02
#define COFFER_PROTO_FLAG_CUSTOM_PAYLOAD 0x04
#define COFFER_PROTO_FLAG_WARNING 0x08

enum coffer_proto_opcode {
	COFFER_PROTO_OP_ERROR = 0x00,
	COFFER_PROTO_OP_STARTUP = 0x01,
	COFFER_PROTO_OP_READY = 0x02,
	COFFER_PROTO_OP_AUTHENTICATE = 0x03,
	COFFER_PROTO_OP_OPTIONS = 0x05,
	COFFER_PROTO_OP_SUPPORTED = 0x06,
	COFFER_PROTO_OP_QUERY = 0x07,
	COFFER_PROTO_OP_RESULT = 0x08,
	COFFER_PROTO_OP_PREPARE = 0x09,
	COFFER_PROTO_OP_EXECUTE = 0x0A,
	COFFER_PROTO_OP_REGISTER = 0x0B,
	COFFER_PROTO_OP_EVENT = 0x0C,
	COFFER_PROTO_OP_BATCH = 0x0D,
	COFFER_PROTO_OP_AUTH_CHALLENGE = 0x0E,
	COFFER_PROTO_OP_AUTH_RESPONSE = 0x0F,
	COFFER_PROTO_OP_AUTH_SUCCESS = 0x10,
};

/* "QUERY", or NULL for a byte that is no opcode. */
const char *coffer_proto_opcode_name(unsigned opcode);
/* Whether a client may send this opcode. */
bool coffer_proto_opcode_is_request(unsigned opcode);

/* ---- CQL error codes (spec section 9) ------------------------------------- */

enum coffer_cql_error {
	COFFER_CQL_SERVER_ERROR = 0x0000,
	COFFER_CQL_PROTOCOL_ERROR = 0x000A,
	COFFER_CQL_BAD_CREDENTIALS = 0x0100,
	COFFER_CQL_UNAVAILABLE = 0x1000,
	COFFER_CQL_OVERLOADED = 0x1001,
	COFFER_CQL_IS_BOOTSTRAPPING = 0x1002,
	COFFER_CQL_TRUNCATE_ERROR = 0x1003,
	COFFER_CQL_WRITE_TIMEOUT = 0x1100,
	COFFER_CQL_READ_TIMEOUT = 0x1200,
	COFFER_CQL_READ_FAILURE = 0x1300,     /* v4 */
	COFFER_CQL_FUNCTION_FAILURE = 0x1400, /* v4 */
	COFFER_CQL_WRITE_FAILURE = 0x1500,    /* v4 */
	COFFER_CQL_SYNTAX_ERROR = 0x2000,
	COFFER_CQL_UNAUTHORIZED = 0x2100,
	COFFER_CQL_INVALID = 0x2200,
	COFFER_CQL_CONFIG_ERROR = 0x2300,
	COFFER_CQL_ALREADY_EXISTS = 0x2400,
	COFFER_CQL_UNPREPARED = 0x2500,
};

/* "Protocol_error", or NULL for an unknown code. */
const char *coffer_cql_error_name(uint32_t code);

/* What a failed decode asks the connection to answer. */
struct coffer_proto_err {
	uint32_t code;      /* enum coffer_cql_error */
	uint8_t version;    /* the version byte of the answer (0x80 | version) */
	int16_t stream;     /* the stream id of the answer */
	bool close;         /* framing is lost: send the answer, then close */
	size_t discard;     /* else: bytes of input the bad frame occupies (skip them) */
	char message[512];  /* the ERROR message text (names the problem, no values) */
};

/* ---- consistency, values, notations (spec section 3) ----------------------- */

enum coffer_proto_consistency {
	COFFER_PROTO_CL_ANY = 0x0000,
	COFFER_PROTO_CL_ONE = 0x0001,
	COFFER_PROTO_CL_TWO = 0x0002,
	COFFER_PROTO_CL_THREE = 0x0003,
	COFFER_PROTO_CL_QUORUM = 0x0004,
	COFFER_PROTO_CL_ALL = 0x0005,
	COFFER_PROTO_CL_LOCAL_QUORUM = 0x0006,
	COFFER_PROTO_CL_EACH_QUORUM = 0x0007,
	COFFER_PROTO_CL_SERIAL = 0x0008,
	COFFER_PROTO_CL_LOCAL_SERIAL = 0x0009,
	COFFER_PROTO_CL_LOCAL_ONE = 0x000A,
};
/* "LOCAL_QUORUM", or NULL. */
const char *coffer_proto_consistency_name(unsigned cl);

/* A [bytes] or [value]: bytes, null (length < 0 / -1) or not set (-2). */
enum coffer_proto_value_kind {
	COFFER_PROTO_VALUE = 0,
	COFFER_PROTO_VALUE_NULL = 1,
	COFFER_PROTO_VALUE_UNSET = 2, /* [value] only */
};
struct coffer_proto_value {
	enum coffer_proto_value_kind kind;
	struct coffer_slice bytes; /* kind VALUE: borrows the input */
};
static inline struct coffer_proto_value coffer_proto_value_of(const void *p, size_t n)
{
	struct coffer_proto_value v = {COFFER_PROTO_VALUE, {(const uint8_t *)p, n}};
	return v;
}
static inline struct coffer_proto_value coffer_proto_value_null(void)
{
	struct coffer_proto_value v = {COFFER_PROTO_VALUE_NULL, {NULL, 0}};
	return v;
}

struct coffer_proto_string_list {
	uint16_t n;
	const char *const *items;
};
struct coffer_proto_string_map {
	uint16_t n;
	const char *const *keys;
	const char *const *values;
};
struct coffer_proto_string_multimap {
	uint16_t n;
	const char *const *keys;
	const struct coffer_proto_string_list *values;
};
struct coffer_proto_bytes_map {
	uint16_t n;
	const char *const *keys;
	const struct coffer_proto_value *values;
};
/* [inet] (address + port) or [inetaddr] (address only; port 0). */
struct coffer_proto_inet {
	uint8_t len; /* 4 or 16 */
	uint8_t addr[16];
	int32_t port;
};

/* Readers. Each reads one notation at r's position and fails with
 * COFFER_E_PROTOCOL naming r->what, `item` and the offset when the bytes run
 * out or break the notation's rules; r's position is then unspecified.
 * [string]s become NUL-terminated arena copies (a NUL inside is refused). */
COFFER_RESULT coffer_proto_read_byte(struct coffer_reader *r, const char *item, uint8_t *v);
COFFER_RESULT coffer_proto_read_short(struct coffer_reader *r, const char *item, uint16_t *v);
COFFER_RESULT coffer_proto_read_int(struct coffer_reader *r, const char *item, int32_t *v);
COFFER_RESULT coffer_proto_read_long(struct coffer_reader *r, const char *item, int64_t *v);
COFFER_RESULT coffer_proto_read_string(struct coffer_reader *r, struct coffer_arena *a,
				       const char *item, const char **out);
COFFER_RESULT coffer_proto_read_long_string(struct coffer_reader *r, const char *item,
					    struct coffer_slice *out);
COFFER_RESULT coffer_proto_read_uuid(struct coffer_reader *r, const char *item, uint8_t out[16]);
COFFER_RESULT coffer_proto_read_string_list(struct coffer_reader *r, struct coffer_arena *a,
					    const char *item, struct coffer_proto_string_list *out);
COFFER_RESULT coffer_proto_read_bytes(struct coffer_reader *r, const char *item,
				      struct coffer_proto_value *out);
COFFER_RESULT coffer_proto_read_value(struct coffer_reader *r, const char *item,
				      struct coffer_proto_value *out);
COFFER_RESULT coffer_proto_read_short_bytes(struct coffer_reader *r, const char *item,
					    struct coffer_slice *out);
COFFER_RESULT coffer_proto_read_inet(struct coffer_reader *r, const char *item,
				     struct coffer_proto_inet *out);
COFFER_RESULT coffer_proto_read_inetaddr(struct coffer_reader *r, const char *item,
					 struct coffer_proto_inet *out);
/* Refuses codes outside ANY..LOCAL_ONE. */
COFFER_RESULT coffer_proto_read_consistency(struct coffer_reader *r, const char *item,
					    uint16_t *out);
COFFER_RESULT coffer_proto_read_string_map(struct coffer_reader *r, struct coffer_arena *a,
					   const char *item, struct coffer_proto_string_map *out);
COFFER_RESULT coffer_proto_read_string_multimap(struct coffer_reader *r, struct coffer_arena *a,
						const char *item,
						struct coffer_proto_string_multimap *out);
COFFER_RESULT coffer_proto_read_bytes_map(struct coffer_reader *r, struct coffer_arena *a,
					  const char *item, struct coffer_proto_bytes_map *out);

/* Writers. Those that can exceed a notation's length field return
 * COFFER_E_LIMIT (a caller bug or an oversize value) and append nothing. */
void coffer_proto_put_byte(struct coffer_buf *b, uint8_t v);
void coffer_proto_put_short(struct coffer_buf *b, uint16_t v);
void coffer_proto_put_int(struct coffer_buf *b, int32_t v);
void coffer_proto_put_long(struct coffer_buf *b, int64_t v);
COFFER_RESULT coffer_proto_put_string(struct coffer_buf *b, const char *s);
COFFER_RESULT coffer_proto_put_string_n(struct coffer_buf *b, const void *p, size_t n);
COFFER_RESULT coffer_proto_put_long_string(struct coffer_buf *b, const void *p, size_t n);
void coffer_proto_put_uuid(struct coffer_buf *b, const uint8_t uuid[16]);
COFFER_RESULT coffer_proto_put_string_list(struct coffer_buf *b,
					   const struct coffer_proto_string_list *l);
/* [bytes]: a VALUE_UNSET is refused (it exists only in [value]). */
COFFER_RESULT coffer_proto_put_bytes(struct coffer_buf *b, const struct coffer_proto_value *v);
COFFER_RESULT coffer_proto_put_value(struct coffer_buf *b, const struct coffer_proto_value *v);
COFFER_RESULT coffer_proto_put_short_bytes(struct coffer_buf *b, const void *p, size_t n);
COFFER_RESULT coffer_proto_put_inet(struct coffer_buf *b, const struct coffer_proto_inet *a);
COFFER_RESULT coffer_proto_put_inetaddr(struct coffer_buf *b, const struct coffer_proto_inet *a);
void coffer_proto_put_consistency(struct coffer_buf *b, uint16_t cl);
COFFER_RESULT coffer_proto_put_string_map(struct coffer_buf *b,
					  const struct coffer_proto_string_map *m);
COFFER_RESULT coffer_proto_put_string_multimap(struct coffer_buf *b,
					       const struct coffer_proto_string_multimap *m);
COFFER_RESULT coffer_proto_put_bytes_map(struct coffer_buf *b,
					 const struct coffer_proto_bytes_map *m);

/* ---- frame decoding and encoding ----------------------------------------- */

/* Per-connection decoding settings. Zero-initialised plus max_body is a
 * server connection before its first frame. */
struct coffer_proto_config {
	uint32_t max_body;      /* largest accepted body length; 0 means the default */
	uint8_t version;        /* 0 until the first frame fixes it (spec 2.1) */
	bool compression;       /* a compression was negotiated in STARTUP */
	bool expect_responses;  /* decoding a server's frames (client side) */
};

struct coffer_proto_header {
	uint8_t version;  /* without the direction bit */
	bool response;    /* the direction bit */
	uint8_t flags;
	int16_t stream;
	uint8_t opcode;
	uint32_t length;  /* body length */
};

struct coffer_proto_frame {
	struct coffer_proto_header hdr;
	struct coffer_slice body; /* borrows the input */
	size_t size;              /* header + body: bytes to consume */
};

enum coffer_proto_status {
	COFFER_PROTO_NEED_MORE = 0, /* *need says how many bytes the frame needs in all */
	COFFER_PROTO_COMPLETE = 1,  /* a whole frame is in `out` */
};

/* Decodes the frame at the start of `in` (a byte stream that may hold partial
 * or several frames). On COFFER_OK *status says whether a frame is complete;
 * `need`, when not NULL, receives the total bytes the frame needs when known
 * (9 before the header is complete). Failures fill `err`: an unsupported
 * version answers ERROR 0x000A "Invalid or unsupported protocol version (N);
 * supported versions are (3/v3, 4/v4)" with version byte 0x84 and closes; an
 * oversize frame, a compressed frame without negotiated compression or a
 * version change answer 0x000A and skip err->discard bytes. The first good
 * frame fixes cfg->version when it was 0. */
COFFER_RESULT coffer_proto_frame_decode(struct coffer_proto_config *cfg, struct coffer_slice in,
					struct coffer_proto_frame *out,
					enum coffer_proto_status *status, size_t *need,
					struct coffer_proto_err *err);

/* Appends a header with length 0 and returns its offset; finish the frame
 * with coffer_proto_frame_end() after appending the body. `version` is the
 * protocol version (3 or 4); responses get the direction bit. */
size_t coffer_proto_frame_begin(struct coffer_buf *b, uint8_t version, bool response,
				uint8_t flags, int16_t stream, uint8_t opcode);
/* Patches the body length of the frame begun at `start`. COFFER_E_LIMIT (and
 * the partial frame removed) when the body exceeds max_body (0: default). */
COFFER_RESULT coffer_proto_frame_end(struct coffer_buf *b, size_t start, uint32_t max_body);

/* ---- requests (spec 4.1) -------------------------------------------------- */

/* QUERY/EXECUTE flags (spec 4.1.4). */
#define COFFER_PROTO_QF_VALUES 0x01
#define COFFER_PROTO_QF_SKIP_METADATA 0x02
#define COFFER_PROTO_QF_PAGE_SIZE 0x04
#define COFFER_PROTO_QF_PAGING_STATE 0x08
#define COFFER_PROTO_QF_SERIAL_CONSISTENCY 0x10
#define COFFER_PROTO_QF_TIMESTAMP 0x20
#define COFFER_PROTO_QF_NAMES 0x40

struct coffer_proto_params {
	uint16_t consistency;
	uint8_t flags;                   /* COFFER_PROTO_QF_* */
	uint16_t n_values;
	const struct coffer_proto_value *values;
	const char *const *names;        /* n_values names with QF_NAMES, else NULL */
	int32_t page_size;               /* > 0 with QF_PAGE_SIZE; else -1 (no paging) */
	struct coffer_slice paging_state;/* with QF_PAGING_STATE (a null one reads as absent) */
	uint16_t serial_consistency;     /* SERIAL unless QF_SERIAL_CONSISTENCY */
	int64_t timestamp;               /* µs, with QF_TIMESTAMP */
};

enum coffer_proto_batch_type {
	COFFER_PROTO_BATCH_LOGGED = 0,
	COFFER_PROTO_BATCH_UNLOGGED = 1,
	COFFER_PROTO_BATCH_COUNTER = 2,
};

struct coffer_proto_batch_stmt {
	uint8_t kind;                 /* 0: query text, 1: prepared id */
	struct coffer_slice query;    /* kind 0 */
	struct coffer_slice id;       /* kind 1 */
	uint16_t n_values;
	const struct coffer_proto_value *values;
};

struct coffer_proto_batch {
	uint8_t type;                 /* enum coffer_proto_batch_type */
	uint16_t n;
	const struct coffer_proto_batch_stmt *stmts;
	uint16_t consistency;
	uint8_t flags;                /* only QF_SERIAL_CONSISTENCY, QF_TIMESTAMP */
	uint16_t serial_consistency;
	int64_t timestamp;
};

/* Event types for REGISTER, as a bit set. */
#define COFFER_PROTO_EVENT_TOPOLOGY_CHANGE 0x1
#define COFFER_PROTO_EVENT_STATUS_CHANGE 0x2
#define COFFER_PROTO_EVENT_SCHEMA_CHANGE 0x4

struct coffer_proto_request {
	uint8_t opcode;
	uint8_t version;
	int16_t stream;
	bool tracing;
	bool has_payload;
	struct coffer_proto_bytes_map payload; /* custom payload (flag 0x04, v4) */
	union {
		struct {
			struct coffer_proto_string_map options;
			const char *cql_version; /* required */
			const char *compression; /* NULL: none */
		} startup;
		struct {
			struct coffer_proto_value token;
		} auth_response;
		struct {
			struct coffer_slice query;
			struct coffer_proto_params params;
		} query;
		struct {
			struct coffer_slice query;
		} prepare;
		struct {
			struct coffer_slice id;
			struct coffer_proto_params params;
		} execute;
		struct coffer_proto_batch batch;
		struct {
			struct coffer_proto_string_list types;
			unsigned mask; /* COFFER_PROTO_EVENT_* */
		} reg;
	} u;
};

/* Decodes a request frame's body. Anything malformed (an unknown or response
 * opcode, a count or length past the end, bad consistency or flag bits, a
 * BATCH kind other than 0/1, trailing bytes) is COFFER_E_PROTOCOL with `err`
 * set to 0x000A naming the problem; the connection stays usable. */
COFFER_RESULT coffer_proto_request_decode(const struct coffer_proto_frame *f,
					  struct coffer_arena *a,
					  struct coffer_proto_request *out,
					  struct coffer_proto_err *err);

/* Appends a whole request frame (client side: the CLI, the benchmark, tests).
 * req->version/stream/opcode/tracing/payload go into the header. */
COFFER_RESULT coffer_proto_request_encode(struct coffer_buf *b,
					  const struct coffer_proto_request *req);

/* ---- responses (spec 4.2) ------------------------------------------------- */

/* Option ids of column types (spec 4.2.5.2). */
enum coffer_proto_type_id {
	COFFER_PROTO_TYPE_CUSTOM = 0x0000,
	COFFER_PROTO_TYPE_ASCII = 0x0001,
	COFFER_PROTO_TYPE_BIGINT = 0x0002,
	COFFER_PROTO_TYPE_BLOB = 0x0003,
	COFFER_PROTO_TYPE_BOOLEAN = 0x0004,
	COFFER_PROTO_TYPE_COUNTER = 0x0005,
	COFFER_PROTO_TYPE_DECIMAL = 0x0006,
	COFFER_PROTO_TYPE_DOUBLE = 0x0007,
	COFFER_PROTO_TYPE_FLOAT = 0x0008,
	COFFER_PROTO_TYPE_INT = 0x0009,
	COFFER_PROTO_TYPE_TIMESTAMP = 0x000B,
	COFFER_PROTO_TYPE_UUID = 0x000C,
	COFFER_PROTO_TYPE_VARCHAR = 0x000D,
	COFFER_PROTO_TYPE_VARINT = 0x000E,
	COFFER_PROTO_TYPE_TIMEUUID = 0x000F,
	COFFER_PROTO_TYPE_INET = 0x0010,
	COFFER_PROTO_TYPE_DATE = 0x0011,     /* v4 */
	COFFER_PROTO_TYPE_TIME = 0x0012,     /* v4 */
	COFFER_PROTO_TYPE_SMALLINT = 0x0013, /* v4 */
	COFFER_PROTO_TYPE_TINYINT = 0x0014,  /* v4 */
	COFFER_PROTO_TYPE_LIST = 0x0020,
	COFFER_PROTO_TYPE_MAP = 0x0021,
	COFFER_PROTO_TYPE_SET = 0x0022,
	COFFER_PROTO_TYPE_UDT = 0x0030,
	COFFER_PROTO_TYPE_TUPLE = 0x0031,
};

/* A column type: an [option] tree. LIST/SET have n = 1 sub-type, MAP n = 2,
 * TUPLE n components, UDT n fields named by field_names. */
struct coffer_proto_type {
	uint16_t id;
	const char *custom;                    /* CUSTOM: the class name */
	const char *keyspace;                  /* UDT */
	const char *name;                      /* UDT: the type name */
	uint16_t n;
	const struct coffer_proto_type *sub;   /* array of n */
	const char *const *field_names;        /* UDT: array of n */
};
/* Nesting deeper than this is refused when decoding (stack bound). */
#define COFFER_PROTO_TYPE_MAX_DEPTH 32

struct coffer_proto_column {
	const char *keyspace; /* ignored with GLOBAL_TABLES_SPEC */
	const char *table;
	const char *name;
	const struct coffer_proto_type *type;
};

#define COFFER_PROTO_MF_GLOBAL_TABLES_SPEC 0x0001
#define COFFER_PROTO_MF_HAS_MORE_PAGES 0x0002
#define COFFER_PROTO_MF_NO_METADATA 0x0004

/* Rows metadata (4.2.5.2), also a Prepared result's result metadata; a
 * Prepared result's bind metadata uses it with pk indexes (4.2.5.4). */
struct coffer_proto_metadata {
	uint32_t flags;                       /* COFFER_PROTO_MF_* */
	int32_t n_columns;
	struct coffer_slice paging_state;     /* HAS_MORE_PAGES */
	const char *keyspace;                 /* GLOBAL_TABLES_SPEC */
	const char *table;
	const struct coffer_proto_column *columns; /* n_columns unless NO_METADATA */
	int32_t n_pk;                         /* bind metadata, v4 */
	const uint16_t *pk_indexes;
};

enum coffer_proto_result_kind {
	COFFER_PROTO_RESULT_VOID = 0x0001,
	COFFER_PROTO_RESULT_ROWS = 0x0002,
	COFFER_PROTO_RESULT_SET_KEYSPACE = 0x0003,
	COFFER_PROTO_RESULT_PREPARED = 0x0004,
	COFFER_PROTO_RESULT_SCHEMA_CHANGE = 0x0005,
};

/* Schema change (Schema_change result and SCHEMA_CHANGE event, 4.2.6). */
struct coffer_proto_schema_change {
	const char *change;   /* "CREATED", "UPDATED", "DROPPED" */
	const char *target;   /* "KEYSPACE", "TABLE", "TYPE", "FUNCTION", "AGGREGATE" */
	const char *keyspace;
	const char *name;     /* TABLE/TYPE/FUNCTION/AGGREGATE */
	struct coffer_proto_string_list arg_types; /* FUNCTION/AGGREGATE */
};

struct coffer_proto_event {
	const char *type;     /* "TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE" */
	const char *change;   /* TOPOLOGY: NEW_NODE/REMOVED_NODE; STATUS: UP/DOWN */
	struct coffer_proto_inet node;
	struct coffer_proto_schema_change schema;
};

/* An ERROR body (4.2.1) with the code-specific extras of section 9. */
struct coffer_proto_error_body {
	uint32_t code;
	const char *message;
	uint16_t consistency;  /* UNAVAILABLE, *_TIMEOUT, *_FAILURE */
	int32_t required;      /* UNAVAILABLE */
	int32_t alive;         /* UNAVAILABLE */
	int32_t received;      /* *_TIMEOUT, *_FAILURE */
	int32_t blockfor;      /* *_TIMEOUT, *_FAILURE */
	int32_t num_failures;  /* *_FAILURE */
	bool data_present;     /* READ_TIMEOUT, READ_FAILURE */
	const char *write_type;/* WRITE_TIMEOUT, WRITE_FAILURE: SIMPLE, BATCH, ... */
	const char *keyspace;  /* ALREADY_EXISTS, FUNCTION_FAILURE */
	const char *table;     /* ALREADY_EXISTS ("" for a keyspace) */
	const char *function;  /* FUNCTION_FAILURE */
	struct coffer_proto_string_list arg_types; /* FUNCTION_FAILURE */
	struct coffer_slice id;/* UNPREPARED */
};

/* Response bodies. Each appends the body only; wrap it in
 * coffer_proto_frame_begin/_end. `version` matters where v3 differs. */

/* v3 has no *_FAILURE codes: as Cassandra does, READ_FAILURE goes out as
 * READ_TIMEOUT, WRITE_FAILURE as WRITE_TIMEOUT, FUNCTION_FAILURE as INVALID.
 * A message longer than a [string] is cut at a UTF-8 boundary. */
COFFER_RESULT coffer_proto_put_error(struct coffer_buf *b, uint8_t version,
				     const struct coffer_proto_error_body *e);
COFFER_RESULT coffer_proto_put_authenticate(struct coffer_buf *b, const char *class_name);
COFFER_RESULT coffer_proto_put_supported(struct coffer_buf *b,
					 const struct coffer_proto_string_multimap *m);
void coffer_proto_put_result_void(struct coffer_buf *b);
COFFER_RESULT coffer_proto_put_result_set_keyspace(struct coffer_buf *b, const char *keyspace);
/* Rows: writes kind, metadata and a row-count placeholder and returns in
 * *count_off where the count goes; append rows_count * n_columns [bytes]
 * (coffer_proto_put_bytes), then coffer_proto_rows_end(). */
COFFER_RESULT coffer_proto_rows_begin(struct coffer_buf *b, uint8_t version,
				      const struct coffer_proto_metadata *m, size_t *count_off);
void coffer_proto_rows_end(struct coffer_buf *b, size_t count_off, int32_t rows_count);
/* Prepared: id, bind metadata (pk indexes in v4 only), result metadata. */
COFFER_RESULT coffer_proto_put_result_prepared(struct coffer_buf *b, uint8_t version,
					       struct coffer_slice id,
					       const struct coffer_proto_metadata *bind,
					       const struct coffer_proto_metadata *result);
/* v3 knows no FUNCTION/AGGREGATE targets: as Cassandra does, those go out as
 * UPDATED KEYSPACE <keyspace>. */
COFFER_RESULT coffer_proto_put_result_schema_change(struct coffer_buf *b, uint8_t version,
						    const struct coffer_proto_schema_change *sc);
COFFER_RESULT coffer_proto_put_event(struct coffer_buf *b, uint8_t version,
				     const struct coffer_proto_event *ev);
/* AUTH_CHALLENGE and AUTH_SUCCESS bodies: one [bytes] token (may be null). */
COFFER_RESULT coffer_proto_put_auth_token(struct coffer_buf *b,
					  const struct coffer_proto_value *token);
/* A column type [option]; v3 gets date/time/smallint/tinyint as CUSTOM with
 * Cassandra's marshal class names. */
COFFER_RESULT coffer_proto_put_type(struct coffer_buf *b, uint8_t version,
				    const struct coffer_proto_type *t);

/* [option] as a column type tree (arena-allocated), and an [option list]. */
COFFER_RESULT coffer_proto_read_type(struct coffer_reader *r, struct coffer_arena *a,
				     struct coffer_proto_type *out);
COFFER_RESULT coffer_proto_read_option_list(struct coffer_reader *r, struct coffer_arena *a,
					    uint16_t *n, const struct coffer_proto_type **out);

/* Whole frames for the common answers. */
COFFER_RESULT coffer_proto_encode_error_frame(struct coffer_buf *b,
					      const struct coffer_proto_err *err);
COFFER_RESULT coffer_proto_encode_ready(struct coffer_buf *b, uint8_t version, int16_t stream);
/* SUPPORTED with CQL_VERSION [cql_version] and COMPRESSION [] (cql-drivers.md:
 * Python fails without the COMPRESSION key). */
COFFER_RESULT coffer_proto_encode_supported(struct coffer_buf *b, uint8_t version, int16_t stream,
					    const char *cql_version);

/* An EVENT frame, always on stream -1 (spec 4.2.6). */
COFFER_RESULT coffer_proto_encode_event(struct coffer_buf *b, uint8_t version,
					const struct coffer_proto_event *ev);

/* A decoded response (client side and tests). */
struct coffer_proto_response {
	uint8_t opcode;
	uint8_t version;
	int16_t stream;
	bool has_tracing_id;
	uint8_t tracing_id[16];
	struct coffer_proto_string_list warnings;
	bool has_payload;
	struct coffer_proto_bytes_map payload;
	union {
		struct coffer_proto_error_body error;
		const char *authenticate; /* class name */
		struct coffer_proto_string_multimap supported;
		struct {
			int32_t kind;
			struct coffer_proto_metadata metadata;  /* ROWS; PREPARED: result md */
			int32_t rows_count;
			struct coffer_slice rows_content;       /* ROWS: the cells, unparsed */
			const char *keyspace;                   /* SET_KEYSPACE */
			struct coffer_slice id;                 /* PREPARED */
			struct coffer_proto_metadata bind;      /* PREPARED */
			struct coffer_proto_schema_change schema; /* SCHEMA_CHANGE */
		} result;
		struct coffer_proto_event event;
		struct coffer_proto_value token; /* AUTH_CHALLENGE, AUTH_SUCCESS */
	} u;
};

/* Decodes a response frame's body (spec 4.2). Trailing bytes are allowed
 * (spec 4.2: "clients should support extra informations"). */
COFFER_RESULT coffer_proto_response_decode(const struct coffer_proto_frame *f,
					   struct coffer_arena *a,
					   struct coffer_proto_response *out,
					   struct coffer_proto_err *err);

/* ---- authentication (auth.c, password.c) ---------------------------------- */

#define COFFER_PROTO_PASSWORD_AUTHENTICATOR "org.apache.cassandra.auth.PasswordAuthenticator"

/* The first AUTH_RESPONSE of SASL PLAIN (RFC 4616): [authzid] NUL user NUL pass.
 * Slices borrow the token; the caller wipes the frame bytes when done. */
struct coffer_proto_plain {
	struct coffer_slice authzid; /* empty, or equal to username */
	struct coffer_slice username;
	struct coffer_slice password;
};
/* COFFER_E_INVALID with err code 0x0100 (Bad credentials) on a malformed
 * token; the message never quotes the token. */
COFFER_RESULT coffer_proto_sasl_plain_parse(const struct coffer_proto_value *token,
					    struct coffer_proto_plain *out,
					    struct coffer_proto_err *err);

#define COFFER_PROTO_PBKDF2_DEFAULT_ITERATIONS 100000u
#define COFFER_PROTO_PBKDF2_MIN_ITERATIONS 1000u     /* for a stored hash */
#define COFFER_PROTO_PBKDF2_MAX_ITERATIONS 10000000u /* refuse stored hashes that would stall */
#define COFFER_PROTO_PASSWORD_SALT_BYTES 16
#define COFFER_PROTO_PASSWORD_HASH_BYTES 32

/* PBKDF2-HMAC-SHA256 (RFC 8018 section 5.2). iterations >= 1, out_len >= 1. */
COFFER_RESULT coffer_proto_pbkdf2_sha256(const void *password, size_t password_len,
					 const void *salt, size_t salt_len, uint32_t iterations,
					 uint8_t *out, size_t out_len);
/* Hashes a password with a fresh random salt into
 * "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>"; *out is a heap string
 * the caller frees. iterations 0 means the default. */
COFFER_RESULT coffer_proto_password_hash(const void *password, size_t password_len,
					 uint32_t iterations, char **out);
/* Sets *ok to whether password matches `encoded` (constant-time compare).
 * COFFER_E_INVALID when `encoded` is not a well-formed hash of this scheme. */
COFFER_RESULT coffer_proto_password_verify(const void *password, size_t password_len,
					   const char *encoded, bool *ok);

/* ---- fuzzing entry --------------------------------------------------------- */

/* Decodes arbitrary bytes as a stream of frames (a small body limit), each
 * body as a request and as a response, and each AUTH_RESPONSE token as SASL
 * PLAIN; re-encodes what decoded. Returns the number of frames seen. Used by
 * fuzz/proto_frame_fuzz.c and by the unit test that replays the corpus. */
size_t coffer_proto_fuzz_one(const uint8_t *data, size_t size);

#endif
