/*
 * schema.h - the schema module's public header: CQL types, the codecs of their
 * serialized values (protocol v4 forms), and the catalog of keyspaces and tables.
 *
 * Types are immutable trees. A tree comes from one allocator: an arena (freed
 * with the arena, never with coffer_datatype_free()) or the heap (when the arena
 * argument is NULL; the caller owns the root and frees it with
 * coffer_datatype_free()). Functions that build a type deep-copy their inputs into
 * the target allocator, so trees never share nodes.
 *
 * Values are passed as borrowed slices holding the serialized form without its
 * [bytes] length prefix; the protocol's null (length -1) is the caller's to
 * handle before calling any value function.
 */
#ifndef COFFER_SCHEMA_SCHEMA_H
#define COFFER_SCHEMA_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/bytes.h"
#include "util/result.h"

/* ------------------------------------------------------------------ types */

/* Values are the native protocol v4 [option] ids (spec section 6), except that
 * duration (a v5 id) is sent as a custom type in v4. */
enum coffer_datatype_kind {
	COFFER_DT_CUSTOM = 0x0000,
	COFFER_DT_ASCII = 0x0001,
	COFFER_DT_BIGINT = 0x0002,
	COFFER_DT_BLOB = 0x0003,
	COFFER_DT_BOOLEAN = 0x0004,
	COFFER_DT_COUNTER = 0x0005,
	COFFER_DT_DECIMAL = 0x0006,
	COFFER_DT_DOUBLE = 0x0007,
	COFFER_DT_FLOAT = 0x0008,
	COFFER_DT_INT = 0x0009,
	COFFER_DT_TEXT = 0x000A, /* varchar is the same type */
	COFFER_DT_TIMESTAMP = 0x000B,
	COFFER_DT_UUID = 0x000C,
	COFFER_DT_VARINT = 0x000E,
	COFFER_DT_TIMEUUID = 0x000F,
	COFFER_DT_INET = 0x0010,
	COFFER_DT_DATE = 0x0011,
	COFFER_DT_TIME = 0x0012,
	COFFER_DT_SMALLINT = 0x0013,
	COFFER_DT_TINYINT = 0x0014,
	COFFER_DT_DURATION = 0x0015,
	COFFER_DT_LIST = 0x0020,
	COFFER_DT_MAP = 0x0021,
	COFFER_DT_SET = 0x0022,
	COFFER_DT_TUPLE = 0x0031,
};

/* Deepest nesting of type parameters accepted (list<frozen<list<...>>>). */
#define COFFER_DT_MAX_DEPTH 16
/* Most fields in a tuple type. */
#define COFFER_DT_MAX_TUPLE 256

struct coffer_datatype {
	enum coffer_datatype_kind kind;
	/* Collections only: frozen<...>. Tuples are always frozen, and collections
	 * nested in a collection or tuple are always frozen (as in Cassandra). */
	bool frozen;
	uint32_t nparams; /* list/set 1, map 2, tuple >= 1, others 0 */
	struct coffer_datatype **params;
};

/* "int", "text", "list", ... (the system_schema spelling); NULL if unknown. */
const char *coffer_datatype_kind_name(enum coffer_datatype_kind k);
/* Case-insensitive lookup of a type name (varchar maps to text). Parameterised
 * kinds (list, set, map, tuple) are found too; frozen is not a kind. */
bool coffer_datatype_kind_lookup(const char *name, size_t n, enum coffer_datatype_kind *out);
bool coffer_datatype_kind_is_collection(enum coffer_datatype_kind k);

/* A shared, static instance of a kind without parameters (never freed);
 * NULL for list/set/map/tuple/custom. */
const struct coffer_datatype *coffer_datatype_of(enum coffer_datatype_kind k);

/* Builds a type node from parameters, deep-copying them into `a` (or the heap
 * when `a` is NULL). Enforces Cassandra's rules: parameter counts; tuples are
 * always frozen; inside a frozen type (or a tuple) every nested collection is
 * frozen implicitly, while a non-frozen collection holding a non-frozen
 * collection is refused ("Non-frozen collections are not allowed inside
 * collections"); no counter inside anything; frozen only on collections and
 * tuples. Errors are COFFER_E_INVALID, COFFER_E_LIMIT past the depth. */
COFFER_RESULT coffer_datatype_make(struct coffer_arena *a, enum coffer_datatype_kind kind,
			       bool frozen, struct coffer_datatype *const *params,
			       uint32_t nparams, struct coffer_datatype **out);

/* Parses CQL type text ("map<text, frozen<list<int>>>", case-insensitive,
 * whitespace anywhere). Errors: COFFER_E_SYNTAX for bad text, COFFER_E_INVALID
 * for a rule broken (see coffer_datatype_make), COFFER_E_LIMIT past the depth. */
COFFER_RESULT coffer_datatype_parse(const char *text, size_t len, struct coffer_arena *a,
				struct coffer_datatype **out);

/* Appends the system_schema spelling ("frozen<map<text, int>>"). */
void coffer_datatype_format(const struct coffer_datatype *t, struct coffer_buf *out);
/* The same as a fresh heap string the caller frees. */
char *coffer_datatype_to_string(const struct coffer_datatype *t);

struct coffer_datatype *coffer_datatype_clone(const struct coffer_datatype *t, struct coffer_arena *a);
/* Frees a heap tree (NULL is fine). Never call on arena or static types. */
void coffer_datatype_free(struct coffer_datatype *t);
bool coffer_datatype_equal(const struct coffer_datatype *a, const struct coffer_datatype *b);
/* A non-frozen collection: stored cell by cell. */
bool coffer_datatype_is_multicell(const struct coffer_datatype *t);

/* Native protocol [option] id of the outer type, and the class name for custom
 * types (duration) or NULL. */
uint16_t coffer_datatype_option_id(const struct coffer_datatype *t);
const char *coffer_datatype_custom_class(const struct coffer_datatype *t);
/* Appends the full [option] (id plus parameters, recursively), protocol v4. */
void coffer_datatype_write_option(const struct coffer_datatype *t, struct coffer_buf *out);

/* ------------------------------------------------------------------ values */

/* Largest element count accepted in a serialized collection or tuple. */
#define COFFER_VALUE_MAX_ELEMENTS (1u << 24)

/* Checks that `v` is a valid serialized value of type `t`. Scalar types also
 * accept the empty value (zero bytes), as Cassandra does. COFFER_E_INVALID
 * names the type and the problem ("Invalid value for int: expected 4 bytes,
 * got 3"); it never contains the value. */
COFFER_RESULT coffer_value_validate(const struct coffer_datatype *t, struct coffer_slice v);

/* Orders two values as Cassandra orders the type in a clustering column
 * (negative, 0, positive). Values should be valid; invalid ones still order
 * deterministically (bytewise) and never read out of bounds. */
int coffer_value_compare(const struct coffer_datatype *t, struct coffer_slice a,
			 struct coffer_slice b);

/* Appends `v` as a CQL literal ('it''s', 0xcafe, 123, 1.5, true, uuids,
 * '2024-01-02T03:04:05.678Z', '2024-01-02', '03:04:05.000000000', [..], {..},
 * {k: v}, (..)). An invalid value is shown as a blob literal. */
void coffer_value_format(const struct coffer_datatype *t, struct coffer_slice v,
			 struct coffer_buf *out);

/* Reorders a serialized set (by element) or map (by key) into Cassandra's
 * canonical form: sorted by the type's comparator, duplicates dropped (the
 * last map entry wins). `v` must be valid; the result replaces out's content. */
COFFER_RESULT coffer_value_normalize(const struct coffer_datatype *t, struct coffer_slice v,
				     struct coffer_buf *out);

/* Helpers shared with the CQL module. */
#define COFFER_UUID_STR_LEN 36
void coffer_uuid_format(const uint8_t u[16], char out[COFFER_UUID_STR_LEN + 1]);
/* Parses exactly 8-4-4-4-12 hex digits (either case). */
bool coffer_uuid_parse(const char *s, size_t n, uint8_t out[16]);

/* Days since 1970-01-01 <-> proleptic Gregorian y/m/d (any int64 range that
 * fits; month 1..12, day 1..31). */
int64_t coffer_days_from_civil(int64_t y, unsigned m, unsigned d);
void coffer_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/* 'date' wire values: u32 with 2^31 = 1970-01-01. */
#define COFFER_DATE_EPOCH 2147483648u
/* Largest 'time' value: 23:59:59.999999999 in nanoseconds. */
#define COFFER_TIME_MAX 86399999999999LL

/* Arbitrary-precision integers in two's complement big-endian (varint).
 * coffer_varint_to_decimal appends the decimal digits ("-12345"; "0" for the
 * empty value). coffer_varint_from_decimal parses an optionally signed run of
 * decimal digits and appends the minimal two's complement encoding. */
void coffer_varint_to_decimal(struct coffer_slice v, struct coffer_buf *out);
COFFER_RESULT coffer_varint_from_decimal(const char *s, size_t n, struct coffer_buf *out);

/* ------------------------------------------------------------------ catalog */

enum coffer_column_kind {
	COFFER_COLUMN_PARTITION_KEY = 0,
	COFFER_COLUMN_CLUSTERING = 1,
	COFFER_COLUMN_REGULAR = 2,
	COFFER_COLUMN_STATIC = 3,
};

enum coffer_clustering_order {
	COFFER_ORDER_NONE = 0, /* not a clustering column */
	COFFER_ORDER_ASC = 1,
	COFFER_ORDER_DESC = 2,
};

/* "partition_key", "clustering", "regular", "static" / "none", "asc", "desc" */
const char *coffer_column_kind_name(enum coffer_column_kind k);
const char *coffer_clustering_order_name(enum coffer_clustering_order o);

/* An ordered string map (insertion order kept; keys unique, exact match). */
struct coffer_strmap_entry {
	char *key;
	char *value;
};
struct coffer_strmap {
	struct coffer_strmap_entry *items;
	size_t n;
};
/* Sets key to value (copies both), replacing an existing value. */
void coffer_strmap_set(struct coffer_strmap *m, const char *key, const char *value);
const char *coffer_strmap_get(const struct coffer_strmap *m, const char *key);
bool coffer_strmap_remove(struct coffer_strmap *m, const char *key);
void coffer_strmap_free(struct coffer_strmap *m);

struct coffer_column {
	char *name;                          /* exact (already case-folded if unquoted) */
	enum coffer_column_kind kind;
	int32_t position;                    /* in the key; -1 for regular and static */
	enum coffer_clustering_order order;  /* NONE unless clustering */
	struct coffer_datatype *type;            /* heap, owned by the column */
};

/* encryption_specification.encryption_type */
enum coffer_encryption_type {
	COFFER_ENC_AWS_OWNED = 0,          /* AWS_OWNED_KMS_KEY: the service-owned key */
	COFFER_ENC_CUSTOMER_MANAGED = 1,   /* CUSTOMER_MANAGED_KMS_KEY */
};

struct coffer_tabledef {
	char *keyspace;
	char *name;
	uint8_t id[16];
	/* Columns in Cassandra's order: partition key by position, clustering by
	 * position, then the others (static and regular) by name. Kept so by
	 * coffer_tabledef_add_column(). */
	struct coffer_column *columns;
	size_t ncolumns;
	size_t npartition;  /* count of partition key columns */
	size_t nclustering; /* count of clustering columns */
	int32_t default_time_to_live;
	char *comment;      /* never NULL once built ("" by default) */
	enum coffer_encryption_type encryption;
	char *kms_key_identifier; /* NULL unless CUSTOMER_MANAGED */
	bool pitr_enabled;        /* point_in_time_recovery.status = enabled */
	/* Other custom_properties, flattened "group.key" -> value as given
	 * (e.g. "capacity_mode.throughput_mode"), and other table options
	 * ("compaction" -> "{'class': ...}") kept as CQL text. */
	struct coffer_strmap custom_properties;
	struct coffer_strmap options;
};

struct coffer_keyspace {
	char *name;
	struct coffer_strmap replication;
	bool durable_writes;
	struct coffer_tabledef **tables;
	size_t ntables;
};

struct coffer_catalog {
	struct coffer_keyspace **keyspaces;
	size_t nkeyspaces;
};

/* Identifier matching as Cassandra does it: an unquoted identifier is folded
 * to lower case, a quoted one kept exact; then names compare exactly. */
bool coffer_ident_matches(const char *stored, const char *given, bool quoted);

/* A fresh table with no columns (comment ""; encryption AWS owned). Owned by
 * the caller until added to a keyspace; free with coffer_tabledef_free(). */
struct coffer_tabledef *coffer_tabledef_new(const char *keyspace, const char *name,
				      const uint8_t id[16]);
void coffer_tabledef_free(struct coffer_tabledef *t);
/* Adds a column (type deep-copied). Errors (COFFER_E_INVALID): duplicate name,
 * bad position (key positions must be unique), counter mixed with
 * non-counters, a non-frozen collection in the key, static without
 * clustering columns is checked by coffer_tabledef_validate(). */
COFFER_RESULT coffer_tabledef_add_column(struct coffer_tabledef *t, const char *name,
				      enum coffer_column_kind kind, int32_t position,
				      enum coffer_clustering_order order,
				      const struct coffer_datatype *type);
COFFER_RESULT coffer_tabledef_drop_column(struct coffer_tabledef *t, const char *name);
/* Checks the whole definition: a partition key, key positions 0..n-1
 * without gaps, static columns only with clustering columns, no duplicate
 * names, TTL >= 0, encryption fields consistent. */
COFFER_RESULT coffer_tabledef_validate(const struct coffer_tabledef *t);
const struct coffer_column *coffer_tabledef_column(const struct coffer_tabledef *t,
						const char *name, bool quoted);
struct coffer_tabledef *coffer_tabledef_clone(const struct coffer_tabledef *t);
void coffer_tabledef_set_comment(struct coffer_tabledef *t, const char *comment);
void coffer_tabledef_set_kms_key(struct coffer_tabledef *t, enum coffer_encryption_type e,
			      const char *kms_key_identifier);

/* Serialized table definition (see catalog.c for the layout). Decoding checks
 * every bound and the definition (coffer_tabledef_validate); errors are
 * COFFER_E_CORRUPT. The decoded table is owned by the caller. */
void coffer_tabledef_encode(const struct coffer_tabledef *t, struct coffer_buf *out);
COFFER_RESULT coffer_tabledef_decode(struct coffer_slice in, struct coffer_tabledef **out);

void coffer_catalog_init(struct coffer_catalog *c);
void coffer_catalog_free(struct coffer_catalog *c);
/* Adds a keyspace (COFFER_E_EXISTS if the name is taken). The returned pointer
 * is owned by the catalog and valid until the keyspace is dropped. */
COFFER_RESULT coffer_catalog_add_keyspace(struct coffer_catalog *c, const char *name,
					  const struct coffer_strmap *replication,
					  bool durable_writes, struct coffer_keyspace **out);
COFFER_RESULT coffer_catalog_drop_keyspace(struct coffer_catalog *c, const char *name);
struct coffer_keyspace *coffer_catalog_keyspace(const struct coffer_catalog *c,
						const char *name, bool quoted);
/* Takes ownership of `t` on success (t->keyspace must name `ks`);
 * COFFER_E_EXISTS if a table of that name exists. */
COFFER_RESULT coffer_keyspace_add_table(struct coffer_keyspace *ks, struct coffer_tabledef *t);
COFFER_RESULT coffer_keyspace_drop_table(struct coffer_keyspace *ks, const char *name);
struct coffer_tabledef *coffer_keyspace_table(const struct coffer_keyspace *ks,
					   const char *name, bool quoted);

/* Serialized keyspace definition (name, replication, durable_writes; tables
 * are persisted one by one with coffer_tabledef_encode). */
void coffer_keyspace_encode(const struct coffer_keyspace *ks, struct coffer_buf *out);
/* Decodes into fresh fields: *name and *replication are owned by the caller. */
COFFER_RESULT coffer_keyspace_decode(struct coffer_slice in, char **name,
				     struct coffer_strmap *replication, bool *durable_writes);

#endif
