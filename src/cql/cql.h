/*
 * cql.h - the cql module's public header: the CQL statement parser (text to
 * an AST) and the coercion of literal terms to serialized values of a column
 * type.
 *
 * Ownership: every node of a parsed statement, every string in it and every
 * type it carries is allocated from the struct coffer_arena given to
 * coffer_cql_parse() and lives until that arena is reset or freed. Strings are
 * NUL-terminated; string literals also carry their length (they may hold NUL).
 *
 * Identifiers are normalised as Cassandra does: unquoted ones are folded to
 * lower case, "quoted" ones keep their case (with "" unescaped). Either way the
 * result compares exactly against catalog names (schema.h).
 */
#ifndef COFFER_CQL_CQL_H
#define COFFER_CQL_CQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/schema.h"
#include "util/arena.h"
#include "util/bytes.h"
#include "util/result.h"

/* Longest statement text accepted, and deepest nesting of terms. */
#define COFFER_CQL_MAX_TEXT (16u << 20)
#define COFFER_CQL_MAX_DEPTH 64

/* ------------------------------------------------------------ terms */

enum coffer_cql_term_kind {
	COFFER_CQL_TERM_NULL,
	COFFER_CQL_TERM_STRING,   /* '...' or $$...$$; text/len hold the unescaped bytes */
	COFFER_CQL_TERM_INTEGER,  /* text: optional '-' then digits */
	COFFER_CQL_TERM_FLOAT,    /* text: as written (1.5, -2e10, 3.) */
	COFFER_CQL_TERM_NAN,      /* NaN */
	COFFER_CQL_TERM_INFINITY, /* Infinity; negative set for -Infinity */
	COFFER_CQL_TERM_BOOLEAN,  /* boolean */
	COFFER_CQL_TERM_HEX,      /* text: hex digits after 0x (even count not checked) */
	COFFER_CQL_TERM_UUID,     /* text: the 36 characters */
	COFFER_CQL_TERM_DURATION, /* text: as written (1h30m, P1D, -2d) */
	COFFER_CQL_TERM_BIND,     /* ? or :name */
	COFFER_CQL_TERM_LIST,     /* [a, b] */
	COFFER_CQL_TERM_SET,      /* {a, b} */
	COFFER_CQL_TERM_MAP,      /* {k: v, ...}; items alternate key, value; {} is an empty map */
	COFFER_CQL_TERM_TUPLE,    /* (a, b) */
	COFFER_CQL_TERM_FUNCTION, /* name(args): now(), uuid(), token(?), ... */
	COFFER_CQL_TERM_CAST,     /* (type) term: a type hint */
};

struct coffer_cql_term {
	enum coffer_cql_term_kind kind;
	const char *text;  /* see the kinds above; function name for FUNCTION */
	size_t len;        /* length of text */
	bool boolean;      /* BOOLEAN */
	bool negative;     /* INFINITY */
	int bind_index;    /* BIND: 0-based position among all markers of the statement */
	const char *bind_name; /* BIND: name for :name, else NULL */
	struct coffer_cql_term **items;
	size_t nitems;
	struct coffer_datatype *cast_type; /* CAST */
	const char *src;   /* the term's source text, as written */
	int line, col;     /* where it starts (line 1-based, column 0-based) */
};

/* ------------------------------------------------------------ pieces */

struct coffer_cql_qname {
	const char *keyspace; /* NULL when not given */
	const char *name;
};

/* WITH name = value AND ... (the value is a term; map literals for
 * replication and custom_properties). */
struct coffer_cql_option {
	const char *name; /* lower-cased */
	struct coffer_cql_term *value;
};

struct coffer_cql_options {
	struct coffer_cql_option *items;
	size_t n;
};

enum coffer_cql_op {
	COFFER_CQL_OP_EQ,
	COFFER_CQL_OP_LT,
	COFFER_CQL_OP_LE,
	COFFER_CQL_OP_GT,
	COFFER_CQL_OP_GE,
	COFFER_CQL_OP_NEQ,
	COFFER_CQL_OP_IN,
	COFFER_CQL_OP_CONTAINS,
	COFFER_CQL_OP_CONTAINS_KEY,
	COFFER_CQL_OP_LIKE,
};
const char *coffer_cql_op_name(enum coffer_cql_op op);

enum coffer_cql_relation_kind {
	COFFER_CQL_REL_SINGLE, /* col op term, col IN (...), col[key] = term */
	COFFER_CQL_REL_MULTI,  /* (c1, c2) op (v1, v2), (c1, c2) IN ((..), (..)) */
	COFFER_CQL_REL_TOKEN,  /* token(a, b) op term */
};

struct coffer_cql_relation {
	enum coffer_cql_relation_kind kind;
	const char **columns; /* 1 for SINGLE */
	size_t ncolumns;
	struct coffer_cql_term *map_key; /* SINGLE on m[key] (filtering), else NULL */
	enum coffer_cql_op op;
	/* The right side: a term (for IN, a bind marker standing for the whole
	 * list), or for IN with a list, in_values. */
	struct coffer_cql_term *value;
	struct coffer_cql_term **in_values;
	size_t nin;
};

/* IF conditions of UPDATE and DELETE. */
struct coffer_cql_condition {
	const char *column;
	struct coffer_cql_term *element; /* c[element] op value, else NULL */
	enum coffer_cql_op op;           /* EQ, NEQ, LT, LE, GT, GE, IN */
	struct coffer_cql_term *value;   /* NULL for IN with a list */
	struct coffer_cql_term **in_values;
	size_t nin;
};

struct coffer_cql_using {
	struct coffer_cql_term *ttl;       /* NULL when not given */
	struct coffer_cql_term *timestamp; /* NULL when not given */
};

/* ------------------------------------------------------------ statements */

enum coffer_cql_stmt_kind {
	COFFER_CQL_USE,
	COFFER_CQL_CREATE_KEYSPACE,
	COFFER_CQL_ALTER_KEYSPACE,
	COFFER_CQL_DROP_KEYSPACE,
	COFFER_CQL_CREATE_TABLE,
	COFFER_CQL_ALTER_TABLE,
	COFFER_CQL_DROP_TABLE,
	COFFER_CQL_TRUNCATE,
	COFFER_CQL_INSERT,
	COFFER_CQL_UPDATE,
	COFFER_CQL_DELETE,
	COFFER_CQL_BATCH,
	COFFER_CQL_SELECT,
	COFFER_CQL_CREATE_ROLE,
	COFFER_CQL_ALTER_ROLE,
	COFFER_CQL_DROP_ROLE,
	COFFER_CQL_LIST_ROLES,
	COFFER_CQL_RESTORE_TABLE,
};
const char *coffer_cql_stmt_kind_name(enum coffer_cql_stmt_kind k);

struct coffer_cql_keyspace_stmt { /* CREATE / ALTER / DROP KEYSPACE */
	const char *name;
	bool if_not_exists; /* CREATE */
	bool if_exists;     /* DROP */
	struct coffer_cql_options options;
};

struct coffer_cql_column_def {
	const char *name;
	struct coffer_datatype *type;
	bool is_static;
	bool primary_key; /* declared "col type PRIMARY KEY" */
};

struct coffer_cql_order {
	const char *column;
	bool desc;
};

struct coffer_cql_create_table {
	struct coffer_cql_qname table;
	bool if_not_exists;
	struct coffer_cql_column_def *columns;
	size_t ncolumns;
	/* PRIMARY KEY ((a, b), c, d); empty when only an inline PRIMARY KEY */
	const char **partition_key;
	size_t npartition_key;
	const char **clustering;
	size_t nclustering;
	bool has_primary_key_clause;
	struct coffer_cql_order *clustering_order; /* WITH CLUSTERING ORDER BY */
	size_t nclustering_order;
	bool compact_storage;
	struct coffer_cql_options options; /* every other WITH option */
};

enum coffer_cql_alter_table_kind {
	COFFER_CQL_ALTER_ADD,
	COFFER_CQL_ALTER_DROP,
	COFFER_CQL_ALTER_WITH,
	COFFER_CQL_ALTER_RENAME,
};

struct coffer_cql_alter_table {
	struct coffer_cql_qname table;
	enum coffer_cql_alter_table_kind kind;
	struct coffer_cql_column_def *add; /* ADD */
	size_t nadd;
	const char **drop;                 /* DROP */
	size_t ndrop;
	const char **rename_from;          /* RENAME a TO b AND c TO d */
	const char **rename_to;
	size_t nrename;
	struct coffer_cql_options options; /* WITH */
};

struct coffer_cql_drop_table {
	struct coffer_cql_qname table;
	bool if_exists;
};

struct coffer_cql_insert {
	struct coffer_cql_qname table;
	const char **columns;
	size_t ncolumns;
	struct coffer_cql_term **values; /* ncolumns of them */
	struct coffer_cql_term *json;    /* INSERT JSON '...' (then no columns) */
	bool json_default_unset;         /* DEFAULT UNSET (DEFAULT NULL is the default) */
	bool if_not_exists;
	struct coffer_cql_using using_;
};

enum coffer_cql_assign_op {
	COFFER_CQL_SET_VALUE,   /* c = v */
	COFFER_CQL_SET_ELEMENT, /* c[k] = v */
	COFFER_CQL_SET_ADD,     /* c = c + v, c += v (counters, append, set/map add) */
	COFFER_CQL_SET_PREPEND, /* c = v + c */
	COFFER_CQL_SET_REMOVE,  /* c = c - v, c -= v */
};

struct coffer_cql_assignment {
	const char *column;
	enum coffer_cql_assign_op op;
	struct coffer_cql_term *key; /* SET_ELEMENT */
	struct coffer_cql_term *value;
};

struct coffer_cql_update {
	struct coffer_cql_qname table;
	struct coffer_cql_using using_;
	struct coffer_cql_assignment *assignments;
	size_t nassignments;
	struct coffer_cql_relation *where;
	size_t nwhere;
	bool if_exists;
	struct coffer_cql_condition *conditions; /* IF c = v AND ... */
	size_t nconditions;
};

struct coffer_cql_deletion { /* DELETE c, m[k], l[i] */
	const char *column;
	struct coffer_cql_term *element; /* NULL for the whole column */
};

struct coffer_cql_delete {
	struct coffer_cql_qname table;
	struct coffer_cql_deletion *columns; /* none: the whole row(s) */
	size_t ncolumns;
	struct coffer_cql_using using_;      /* TIMESTAMP only */
	struct coffer_cql_relation *where;
	size_t nwhere;
	bool if_exists;
	struct coffer_cql_condition *conditions;
	size_t nconditions;
};

enum coffer_cql_batch_type {
	COFFER_CQL_BATCH_LOGGED,
	COFFER_CQL_BATCH_UNLOGGED,
	COFFER_CQL_BATCH_COUNTER,
};

struct coffer_cql_stmt;

struct coffer_cql_batch {
	enum coffer_cql_batch_type type;
	struct coffer_cql_using using_; /* TIMESTAMP only */
	struct coffer_cql_stmt **stmts; /* INSERT, UPDATE, DELETE */
	size_t nstmts;
};

enum coffer_cql_selector_kind {
	COFFER_CQL_SEL_COLUMN,     /* name */
	COFFER_CQL_SEL_COUNT_STAR, /* COUNT(*) or COUNT(1) */
	COFFER_CQL_SEL_WRITETIME,  /* writetime(column) */
	COFFER_CQL_SEL_TTL,        /* ttl(column) */
	COFFER_CQL_SEL_TOKEN,      /* token(a, b): args are columns */
	COFFER_CQL_SEL_FUNCTION,   /* name(args...) */
	COFFER_CQL_SEL_CAST,       /* CAST(arg AS type) */
	COFFER_CQL_SEL_TERM,       /* a literal */
};

struct coffer_cql_selector {
	enum coffer_cql_selector_kind kind;
	const char *name;      /* column (COLUMN, WRITETIME, TTL) or function name */
	struct coffer_cql_selector **args;
	size_t nargs;
	struct coffer_datatype *cast_type;
	struct coffer_cql_term *term;
	const char *alias;     /* AS alias, else NULL */
	const char *src;       /* the selector's text, as written (without alias) */
};

struct coffer_cql_select {
	bool json;
	bool distinct;
	bool star;
	struct coffer_cql_selector **selectors;
	size_t nselectors;
	struct coffer_cql_qname table;
	struct coffer_cql_relation *where;
	size_t nwhere;
	const char **group_by;
	size_t ngroup_by;
	struct coffer_cql_order *order_by;
	size_t norder_by;
	struct coffer_cql_term *per_partition_limit; /* NULL when not given */
	struct coffer_cql_term *limit;
	bool allow_filtering;
};

struct coffer_cql_role {
	const char *name;
	bool if_not_exists; /* CREATE */
	bool if_exists;     /* DROP */
	/* Options: password, login, superuser, options (a map); NULL when absent */
	struct coffer_cql_term *password;
	struct coffer_cql_term *login;
	struct coffer_cql_term *superuser;
	struct coffer_cql_term *options;
	bool user_syntax;   /* CREATE USER / ALTER USER / DROP USER / LIST USERS */
	const char *of;     /* LIST ROLES OF name */
	bool norecursive;
};

struct coffer_cql_restore {
	struct coffer_cql_qname target;
	struct coffer_cql_qname source;
	struct coffer_cql_options options; /* restore_timestamp, custom_properties, ... */
};

struct coffer_cql_stmt {
	enum coffer_cql_stmt_kind kind;
	int nbind;                         /* count of bind markers */
	const char **bind_names;           /* nbind entries; NULL for '?' */
	union {
		const char *use_keyspace;
		struct coffer_cql_keyspace_stmt keyspace;
		struct coffer_cql_create_table create_table;
		struct coffer_cql_alter_table alter_table;
		struct coffer_cql_drop_table drop_table; /* DROP and TRUNCATE */
		struct coffer_cql_insert insert;
		struct coffer_cql_update update;
		struct coffer_cql_delete del;
		struct coffer_cql_batch batch;
		struct coffer_cql_select select;
		struct coffer_cql_role role;
		struct coffer_cql_restore restore;
	} u;
};

/* Parses exactly one statement (an optional trailing ';'). Syntax errors are
 * COFFER_E_SYNTAX with a message in Cassandra's form:
 *   "line 1:9 mismatched input 'FORM' expecting FROM"
 *   "line 1:14 no viable alternative at input 'x'"
 * (line 1-based, column 0-based). Rule violations the grammar can see (a bad
 * type, nesting past COFFER_CQL_MAX_DEPTH) are COFFER_E_INVALID or
 * COFFER_E_LIMIT. The statement lives in `a`. */
COFFER_RESULT coffer_cql_parse(struct coffer_arena *a, const char *text, size_t len,
			       struct coffer_cql_stmt **out);

/* Finds an option by (lower-case) name, or NULL. */
const struct coffer_cql_term *coffer_cql_option(const struct coffer_cql_options *o,
						const char *name);

/* ------------------------------------------------------------ lexer */

enum coffer_cql_token_kind {
	COFFER_CQL_TOK_EOF,
	COFFER_CQL_TOK_IDENT,    /* unquoted: keyword or identifier; text folded */
	COFFER_CQL_TOK_QIDENT,   /* "quoted" identifier, unescaped */
	COFFER_CQL_TOK_STRING,   /* '...' or $$...$$, unescaped */
	COFFER_CQL_TOK_INTEGER,
	COFFER_CQL_TOK_FLOAT,
	COFFER_CQL_TOK_HEX,      /* 0x...; text excludes the 0x */
	COFFER_CQL_TOK_UUID,
	COFFER_CQL_TOK_DURATION,
	COFFER_CQL_TOK_PUNCT,    /* ( ) , ; . * = < > <= >= != [ ] { } : ? + - += -= */
};

struct coffer_cql_token {
	enum coffer_cql_token_kind kind;
	const char *text; /* arena string: see kinds */
	size_t len;
	size_t start, end; /* byte span in the input */
	int line, col;
};

/* Splits `text` into tokens (the last is EOF). Lexical errors are
 * COFFER_E_SYNTAX in the same "line L:C ..." form. Tokens live in `a`. */
COFFER_RESULT coffer_cql_lex(struct coffer_arena *a, const char *text, size_t len,
			     struct coffer_cql_token **out, size_t *ntokens);

/* ------------------------------------------------------------ literals */

/* Coerces a literal term to a serialized value of `type` for column `column`
 * (protocol v4 form, appended to `out`). A NULL term sets *is_null and appends
 * nothing. Sets and maps come out sorted and deduplicated. Errors are
 * COFFER_E_INVALID in Cassandra's words:
 *   Invalid STRING constant (abc) for "id" of type uuid
 *   Invalid list literal for l of type set<int>
 * Bind markers and function calls are refused here: the caller binds them. */
COFFER_RESULT coffer_cql_literal_coerce(const struct coffer_cql_term *term,
					const struct coffer_datatype *type, const char *column,
					struct coffer_buf *out, bool *is_null);

/* Parses a timestamp string as Cassandra does ('2024-01-02', '2024-01-02
 * 03:04', '2024-01-02T03:04:05.678Z', '... +0100', '+01:00', digits = ms) to
 * microseconds since the epoch (fractions up to 9 digits, truncated to µs).
 * A zone-less string is UTC. */
COFFER_RESULT coffer_cql_parse_timestamp_us(const char *s, size_t n, int64_t *us);

/* ------------------------------------------------------------ DDL to catalog */

/* Builds a catalog table from CREATE TABLE (ddl.c): primary key (inline or
 * clause), STATIC, CLUSTERING ORDER, and the options (see
 * coffer_cql_apply_table_options). `keyspace` is used when the statement does
 * not name one. The table is owned by the caller. Errors are COFFER_E_INVALID
 * in Cassandra's words ("Unknown definition x referenced in PRIMARY KEY"). */
COFFER_RESULT coffer_cql_build_table(const struct coffer_cql_create_table *ct,
				     const char *keyspace, const uint8_t id[16],
				     struct coffer_tabledef **out);

/* Applies WITH options to a table (CREATE or ALTER): default_time_to_live,
 * comment, custom_properties (encryption_specification with encryption_type
 * AWS_OWNED_KMS_KEY or CUSTOMER_MANAGED_KMS_KEY and kms_key_identifier;
 * point_in_time_recovery with status enabled/disabled; other groups flattened
 * to "group.key"), and every other option kept as its CQL text. On error the
 * table is unchanged. */
COFFER_RESULT coffer_cql_apply_table_options(struct coffer_tabledef *t,
					     const struct coffer_cql_options *o);

/* RESTORE TABLE's WITH options (Amazon Keyspaces' syntax):
 *   restore_timestamp = 'ISO-8601'   the point to restore to, read as
 *       coffer_cql_parse_timestamp_us does (a zone-less time is UTC; digits
 *       alone are milliseconds) into *at_us (µs since the epoch); 0 when the
 *       option is absent (restore "now", or a dropped table at its drop).
 *   custom_properties = {...}        applied to `t` as on CREATE TABLE
 *       (encryption_specification, point_in_time_recovery, other groups).
 * `t` is the target's definition (the caller starts from a copy of the
 * source's). Anything else is COFFER_E_INVALID naming it; a timestamp that
 * does not parse or is not after the epoch is COFFER_E_INVALID quoting it.
 * On error t is unchanged. */
COFFER_RESULT coffer_cql_restore_options(const struct coffer_cql_options *o,
					 struct coffer_tabledef *t, int64_t *at_us);

/* Reads WITH replication = {...} into a string map (values as text) and
 * durable_writes (default true). Requires 'class'. */
COFFER_RESULT coffer_cql_keyspace_options(const struct coffer_cql_options *o,
					  struct coffer_strmap *replication, bool *durable_writes);

#endif
