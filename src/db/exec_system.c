/*
 * exec_system.c - SELECT on the system keyspaces that drivers and tools read:
 * system.local, system.peers, system.peers_v2, the system_schema tables of
 * Cassandra 3.11 (keyspaces, tables, columns, types, functions, aggregates,
 * views, indexes, triggers, dropped_columns) and Amazon Keyspaces'
 * system_schema_mcs.keyspaces and system_schema_mcs.tables; and coffer's own
 * system_coffer.events (key-status transitions, notify.c) and
 * system_coffer.kms_calls (KMS calls per table and operation since start,
 * keyhealth.c's db_kms_note).
 *
 * These tables are virtual: each query builds the table's rows from the
 * catalog (under schema_lock held for reading), then applies the WHERE
 * restrictions (= and IN, literal or bound, on any column), the LIMIT and
 * the projection (*, or columns in the order asked, with aliases; COUNT(*)).
 *
 * Invariants:
 *  1. Column names, order (partition key, clustering, then the rest by name)
 *     and types are exactly Cassandra 3.11's, because drivers parse them
 *     (reference/cql-drivers.md): tables.flags is {'compound'}, columns has
 *     clustering_order and kind, system.local.schema_version is never null.
 *  2. A table not listed here is COFFER_E_INVALID "unconfigured table X"
 *     (0x2200), which the Python driver expects for system_virtual_schema.
 *  3. Values are built in the request's arena; nothing here outlives it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "db/db_internal.h"
#include "keys/keyring.h"

#define RELEASE_VERSION "3.11.16"
#define CQL_VERSION "3.4.4"
#define PARTITIONER "org.apache.cassandra.dht.Murmur3Partitioner"
#define LOCAL_STRATEGY "org.apache.cassandra.locator.LocalStrategy"

/* ---- table specs ----------------------------------------------------------------- */

struct sys_col {
	const char *name;
	const char *type; /* CQL type text */
};

struct sys_ctx;

struct sys_table {
	const char *keyspace;
	const char *name;
	const struct sys_col *cols; /* NULL-terminated */
	int npk;                    /* the first npk columns are the partition key */
	int nck;                    /* the next nck are clustering (ascending) */
	void (*fill)(struct sys_ctx *c);
};

/* A row under construction: one cell per column of the table. */
struct sys_cell {
	const uint8_t *ptr;
	size_t len;
	bool set;
};

struct sys_ctx {
	struct coffer_exec *x;
	struct coffer_db *db;
	const struct sys_table *t;
	size_t ncols;
	struct coffer_datatype **types;
	struct sys_cell **rows;
	size_t nrows, caprows;
	struct sys_cell *cur;
};

static const struct sys_col local_cols[] = {
	{"key", "text"},
	{"bootstrapped", "text"},
	{"broadcast_address", "inet"},
	{"broadcast_port", "int"},
	{"cluster_name", "text"},
	{"cql_version", "text"},
	{"data_center", "text"},
	{"gossip_generation", "int"},
	{"host_id", "uuid"},
	{"listen_address", "inet"},
	{"listen_port", "int"},
	{"native_protocol_version", "text"},
	{"partitioner", "text"},
	{"rack", "text"},
	{"release_version", "text"},
	{"rpc_address", "inet"},
	{"rpc_port", "int"},
	{"schema_version", "uuid"},
	{"thrift_version", "text"},
	{"tokens", "set<text>"},
	{"truncated_at", "map<uuid, blob>"},
	{NULL, NULL},
};

static const struct sys_col peers_cols[] = {
	{"peer", "inet"},
	{"data_center", "text"},
	{"host_id", "uuid"},
	{"preferred_ip", "inet"},
	{"rack", "text"},
	{"release_version", "text"},
	{"rpc_address", "inet"},
	{"schema_version", "uuid"},
	{"tokens", "set<text>"},
	{NULL, NULL},
};

static const struct sys_col peers_v2_cols[] = {
	{"peer", "inet"},
	{"peer_port", "int"},
	{"data_center", "text"},
	{"host_id", "uuid"},
	{"native_address", "inet"},
	{"native_port", "int"},
	{"preferred_ip", "inet"},
	{"preferred_port", "int"},
	{"rack", "text"},
	{"release_version", "text"},
	{"schema_version", "uuid"},
	{"tokens", "set<text>"},
	{NULL, NULL},
};

static const struct sys_col keyspaces_cols[] = {
	{"keyspace_name", "text"},
	{"durable_writes", "boolean"},
	{"replication", "frozen<map<text, text>>"},
	{NULL, NULL},
};

#define TABLE_OPTION_COLS_A                                                                                 \
	{"bloom_filter_fp_chance", "double"}, {"caching", "frozen<map<text, text>>"}, {"cdc", "boolean"},   \
		{"comment", "text"}, {"compaction", "frozen<map<text, text>>"},                              \
		{"compression", "frozen<map<text, text>>"}, {"crc_check_chance", "double"}
#define TABLE_OPTION_COLS_B                                                                                 \
	{"dclocal_read_repair_chance", "double"}, {"default_time_to_live", "int"},                          \
		{"extensions", "frozen<map<text, blob>>"}
#define TABLE_OPTION_COLS_C                                                                                 \
	{"gc_grace_seconds", "int"}, {"id", "uuid"}, {"max_index_interval", "int"},                         \
		{"memtable_flush_period_in_ms", "int"}, {"min_index_interval", "int"},                       \
		{"read_repair_chance", "double"}, {"speculative_retry", "text"}

static const struct sys_col tables_cols[] = {
	{"keyspace_name", "text"},
	{"table_name", "text"},
	TABLE_OPTION_COLS_A,
	TABLE_OPTION_COLS_B,
	{"flags", "frozen<set<text>>"},
	TABLE_OPTION_COLS_C,
	{NULL, NULL},
};

static const struct sys_col mcs_tables_cols[] = {
	{"keyspace_name", "text"},
	{"table_name", "text"},
	TABLE_OPTION_COLS_A,
	{"custom_properties", "map<text, frozen<map<text, text>>>"},
	TABLE_OPTION_COLS_B,
	{"flags", "frozen<set<text>>"},
	TABLE_OPTION_COLS_C,
	{"status", "text"},
	{NULL, NULL},
};

/* system_coffer.events: PRIMARY KEY ((keyspace_name), event_time, table_name). */
static const struct sys_col events_cols[] = {
	{"keyspace_name", "text"},
	{"event_time", "timestamp"},
	{"table_name", "text"},
	{"event", "text"},
	{"kms_key", "text"},
	{"reason", "text"},
	{NULL, NULL},
};

/* system_coffer.kms_calls: PRIMARY KEY ((keyspace_name), table_name, operation). */
static const struct sys_col kms_calls_cols[] = {
	{"keyspace_name", "text"},
	{"table_name", "text"},
	{"operation", "text"},
	{"calls", "bigint"},
	{"last_call", "timestamp"},
	{"last_result", "text"},
	{NULL, NULL},
};

static const struct sys_col columns_cols[] = {
	{"keyspace_name", "text"},
	{"table_name", "text"},
	{"column_name", "text"},
	{"clustering_order", "text"},
	{"column_name_bytes", "blob"},
	{"kind", "text"},
	{"position", "int"},
	{"type", "text"},
	{NULL, NULL},
};

static const struct sys_col types_cols[] = {
	{"keyspace_name", "text"},
	{"type_name", "text"},
	{"field_names", "frozen<list<text>>"},
	{"field_types", "frozen<list<text>>"},
	{NULL, NULL},
};

static const struct sys_col functions_cols[] = {
	{"keyspace_name", "text"},
	{"function_name", "text"},
	{"argument_types", "frozen<list<text>>"},
	{"argument_names", "frozen<list<text>>"},
	{"body", "text"},
	{"called_on_null_input", "boolean"},
	{"language", "text"},
	{"return_type", "text"},
	{NULL, NULL},
};

static const struct sys_col aggregates_cols[] = {
	{"keyspace_name", "text"},
	{"aggregate_name", "text"},
	{"argument_types", "frozen<list<text>>"},
	{"final_func", "text"},
	{"initcond", "text"},
	{"return_type", "text"},
	{"state_func", "text"},
	{"state_type", "text"},
	{NULL, NULL},
};

static const struct sys_col views_cols[] = {
	{"keyspace_name", "text"},
	{"view_name", "text"},
	{"base_table_id", "uuid"},
	{"base_table_name", "text"},
	TABLE_OPTION_COLS_A,
	TABLE_OPTION_COLS_B,
	{"gc_grace_seconds", "int"},
	{"id", "uuid"},
	{"include_all_columns", "boolean"},
	{"max_index_interval", "int"},
	{"memtable_flush_period_in_ms", "int"},
	{"min_index_interval", "int"},
	{"read_repair_chance", "double"},
	{"speculative_retry", "text"},
	{"where_clause", "text"},
	{NULL, NULL},
};

static const struct sys_col indexes_cols[] = {
	{"keyspace_name", "text"},
	{"table_name", "text"},
	{"index_name", "text"},
	{"kind", "text"},
	{"options", "frozen<map<text, text>>"},
	{NULL, NULL},
};

static const struct sys_col triggers_cols[] = {
	{"keyspace_name", "text"},
	{"table_name", "text"},
	{"trigger_name", "text"},
	{"options", "frozen<map<text, text>>"},
	{NULL, NULL},
};

static const struct sys_col dropped_cols[] = {
	{"keyspace_name", "text"},
	{"table_name", "text"},
	{"column_name", "text"},
	{"dropped_time", "timestamp"},
	{"kind", "text"},
	{"type", "text"},
	{NULL, NULL},
};

static void fill_local(struct sys_ctx *c);
static void fill_none(struct sys_ctx *c);
static void fill_keyspaces(struct sys_ctx *c);
static void fill_tables(struct sys_ctx *c);
static void fill_columns(struct sys_ctx *c);
static void fill_events(struct sys_ctx *c);
static void fill_kms_calls(struct sys_ctx *c);

static const struct sys_table sys_tables[] = {
	{"system", "local", local_cols, 1, 0, fill_local},
	{"system", "peers", peers_cols, 1, 0, fill_none},
	{"system", "peers_v2", peers_v2_cols, 1, 1, fill_none},
	{"system_schema", "keyspaces", keyspaces_cols, 1, 0, fill_keyspaces},
	{"system_schema", "tables", tables_cols, 1, 1, fill_tables},
	{"system_schema", "columns", columns_cols, 1, 2, fill_columns},
	{"system_schema", "types", types_cols, 1, 1, fill_none},
	{"system_schema", "functions", functions_cols, 1, 2, fill_none},
	{"system_schema", "aggregates", aggregates_cols, 1, 2, fill_none},
	{"system_schema", "views", views_cols, 1, 1, fill_none},
	{"system_schema", "indexes", indexes_cols, 1, 2, fill_none},
	{"system_schema", "triggers", triggers_cols, 1, 2, fill_none},
	{"system_schema", "dropped_columns", dropped_cols, 1, 2, fill_none},
	{"system_schema_mcs", "keyspaces", keyspaces_cols, 1, 0, fill_keyspaces},
	{"system_schema_mcs", "tables", mcs_tables_cols, 1, 1, fill_tables},
	{"system_schema_mcs", "columns", columns_cols, 1, 2, fill_columns},
	{"system_coffer", "events", events_cols, 1, 2, fill_events},
	{"system_coffer", "kms_calls", kms_calls_cols, 1, 2, fill_kms_calls},
};

/* The system keyspaces listed in system_schema.keyspaces. */
static const char *const listed_keyspaces[] = {"system", "system_schema", "system_schema_mcs"};

static size_t ncols_of(const struct sys_table *t)
{
	size_t n = 0;
	while (t->cols[n].name)
		n++;
	return n;
}

static const struct sys_table *sys_table_find(const char *ks, const char *name)
{
	for (size_t i = 0; i < COFFER_ARRAY_LEN(sys_tables); i++)
		if (strcmp(sys_tables[i].keyspace, ks) == 0 && strcmp(sys_tables[i].name, name) == 0)
			return &sys_tables[i];
	return NULL;
}

static int col_index(const struct sys_table *t, const char *name)
{
	for (int i = 0; t->cols[i].name; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return i;
	return -1;
}

/* ---- cells ------------------------------------------------------------------------ */

static void row_begin(struct sys_ctx *c)
{
	if (c->nrows == c->caprows) {
		size_t cap = c->caprows ? c->caprows * 2 : 16;
		struct sys_cell **n = coffer_arena_alloc(c->x->arena, sizeof(*n) * cap);
		if (c->nrows)
			memcpy(n, c->rows, sizeof(*n) * c->nrows);
		c->rows = n;
		c->caprows = cap;
	}
	c->cur = coffer_arena_zalloc(c->x->arena, sizeof(*c->cur) * c->ncols);
	c->rows[c->nrows++] = c->cur;
}

static void cell_bytes(struct sys_ctx *c, const char *col, const void *p, size_t n)
{
	int i = col_index(c->t, col);
	if (i < 0)
		return; /* a column this variant of the table does not have */
	c->cur[i].ptr = n ? coffer_arena_memdup(c->x->arena, p, n) : (const uint8_t *)"";
	c->cur[i].len = n;
	c->cur[i].set = true;
}

static void cell_text(struct sys_ctx *c, const char *col, const char *s)
{
	cell_bytes(c, col, s, strlen(s));
}

static void cell_int(struct sys_ctx *c, const char *col, int32_t v)
{
	uint8_t b[4];
	coffer_store_u32(b, (uint32_t)v);
	cell_bytes(c, col, b, 4);
}

static void cell_double(struct sys_ctx *c, const char *col, double v)
{
	uint8_t b[8];
	uint64_t u;
	memcpy(&u, &v, 8);
	coffer_store_u64(b, u);
	cell_bytes(c, col, b, 8);
}

static void cell_bool(struct sys_ctx *c, const char *col, bool v)
{
	uint8_t b = v ? 1 : 0;
	cell_bytes(c, col, &b, 1);
}

static void cell_uuid(struct sys_ctx *c, const char *col, const uint8_t u[16])
{
	cell_bytes(c, col, u, 16);
}

static void cell_inet(struct sys_ctx *c, const char *col, const char *addr)
{
	uint8_t b[16];
	if (addr && inet_pton(AF_INET, addr, b) == 1)
		cell_bytes(c, col, b, 4);
	else if (addr && inet_pton(AF_INET6, addr, b) == 1)
		cell_bytes(c, col, b, 16);
	else {
		static const uint8_t lo[4] = {127, 0, 0, 1};
		cell_bytes(c, col, lo, 4);
	}
}

static void put_elem(struct coffer_buf *b, const void *p, size_t n)
{
	coffer_buf_put_u32(b, (uint32_t)n);
	coffer_buf_put(b, p, n);
}

/* A serialized list or set of text (protocol v3+ collection form). */
static void cell_texts(struct sys_ctx *c, const char *col, const char *const *items, size_t n)
{
	struct coffer_buf b = {0};
	coffer_buf_put_u32(&b, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		put_elem(&b, items[i], strlen(items[i]));
	cell_bytes(c, col, b.ptr, b.len);
	coffer_buf_free(&b);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct coffer_strmap_entry *x = a, *y = b;
	return strcmp(x->key, y->key);
}

/* A serialized map<text, text>, keys sorted (Cassandra's order for text). */
static void encode_textmap(const struct coffer_strmap *m, struct coffer_buf *b)
{
	struct coffer_strmap_entry *e = coffer_xcalloc(m->n + 1, sizeof(*e));
	if (m->n) {
		memcpy(e, m->items, sizeof(*e) * m->n);
		qsort(e, m->n, sizeof(*e), cmp_entry);
	}
	coffer_buf_put_u32(b, (uint32_t)m->n);
	for (size_t i = 0; i < m->n; i++) {
		put_elem(b, e[i].key, strlen(e[i].key));
		put_elem(b, e[i].value, strlen(e[i].value));
	}
	free(e);
}

static void cell_textmap(struct sys_ctx *c, const char *col, const struct coffer_strmap *m)
{
	struct coffer_buf b = {0};
	encode_textmap(m, &b);
	cell_bytes(c, col, b.ptr, b.len);
	coffer_buf_free(&b);
}

/* A map from literal pairs ("k", "v", ..., NULL). */
static void cell_pairs(struct sys_ctx *c, const char *col, const char *const *kv)
{
	struct coffer_strmap m = {0};
	for (size_t i = 0; kv[i]; i += 2)
		coffer_strmap_set(&m, kv[i], kv[i + 1]);
	cell_textmap(c, col, &m);
	coffer_strmap_free(&m);
}

/* ---- rows ------------------------------------------------------------------------- */

static void fill_none(struct sys_ctx *c)
{
	(void)c;
}

static void fill_local(struct sys_ctx *c)
{
	const struct coffer_db_config *cfg = &c->db->cfg;
	static const char *const tokens[] = {"0"};
	row_begin(c);
	cell_text(c, "key", "local");
	cell_text(c, "bootstrapped", "COMPLETED");
	cell_inet(c, "broadcast_address", cfg->rpc_address);
	cell_int(c, "broadcast_port", 7000);
	cell_text(c, "cluster_name", cfg->cluster_name ? cfg->cluster_name : "coffer");
	cell_text(c, "cql_version", CQL_VERSION);
	cell_text(c, "data_center", cfg->data_center ? cfg->data_center : "datacenter1");
	cell_int(c, "gossip_generation", (int32_t)(c->db->catalog_version & 0x7fffffff));
	cell_uuid(c, "host_id", c->db->host_id);
	cell_inet(c, "listen_address", cfg->rpc_address);
	cell_int(c, "listen_port", 7000);
	cell_text(c, "native_protocol_version", "4");
	cell_text(c, "partitioner", PARTITIONER);
	cell_text(c, "rack", cfg->rack ? cfg->rack : "rack1");
	cell_text(c, "release_version", RELEASE_VERSION);
	cell_inet(c, "rpc_address", cfg->rpc_address);
	cell_int(c, "rpc_port", cfg->rpc_port > 0 ? cfg->rpc_port : 9042);
	cell_uuid(c, "schema_version", c->db->schema_version);
	cell_text(c, "thrift_version", "20.1.0");
	cell_texts(c, "tokens", tokens, 1);
}

static const char *normalize_class(const char *cls)
{
	if (strcmp(cls, "SimpleStrategy") == 0)
		return "org.apache.cassandra.locator.SimpleStrategy";
	if (strcmp(cls, "NetworkTopologyStrategy") == 0)
		return "org.apache.cassandra.locator.NetworkTopologyStrategy";
	return cls;
}

static void fill_keyspaces(struct sys_ctx *c)
{
	static const char *const local[] = {"class", LOCAL_STRATEGY, NULL};
	for (size_t i = 0; i < COFFER_ARRAY_LEN(listed_keyspaces); i++) {
		row_begin(c);
		cell_text(c, "keyspace_name", listed_keyspaces[i]);
		cell_bool(c, "durable_writes", true);
		cell_pairs(c, "replication", local);
	}
	for (size_t i = 0; i < c->db->catalog.nkeyspaces; i++) {
		const struct coffer_keyspace *ks = c->db->catalog.keyspaces[i];
		struct coffer_strmap m = {0};
		for (size_t j = 0; j < ks->replication.n; j++) {
			const struct coffer_strmap_entry *e = &ks->replication.items[j];
			coffer_strmap_set(&m, e->key,
					  strcmp(e->key, "class") == 0 ? normalize_class(e->value) : e->value);
		}
		row_begin(c);
		cell_text(c, "keyspace_name", ks->name);
		cell_bool(c, "durable_writes", ks->durable_writes);
		cell_textmap(c, "replication", &m);
		coffer_strmap_free(&m);
	}
}

/* The options every table shows (Cassandra 3.11's defaults). */
static void table_options(struct sys_ctx *c, const char *comment, int32_t ttl, int32_t gc_grace,
			  const uint8_t id[16])
{
	static const char *const caching[] = {"keys", "ALL", "rows_per_partition", "NONE", NULL};
	static const char *const compaction[] = {
		"class", "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy",
		"max_threshold", "32", "min_threshold", "4", NULL};
	static const char *const compression[] = {
		"chunk_length_in_kb", "64", "class", "org.apache.cassandra.io.compress.LZ4Compressor", NULL};
	static const char *const none[] = {NULL};
	static const char *const flags[] = {"compound"};
	cell_double(c, "bloom_filter_fp_chance", 0.01);
	cell_pairs(c, "caching", caching);
	cell_bool(c, "cdc", false);
	cell_text(c, "comment", comment);
	cell_pairs(c, "compaction", compaction);
	cell_pairs(c, "compression", compression);
	cell_double(c, "crc_check_chance", 1.0);
	cell_double(c, "dclocal_read_repair_chance", 0.1);
	cell_int(c, "default_time_to_live", ttl);
	cell_pairs(c, "extensions", none);
	cell_texts(c, "flags", flags, 1);
	cell_int(c, "gc_grace_seconds", gc_grace);
	cell_uuid(c, "id", id);
	cell_int(c, "max_index_interval", 2048);
	cell_int(c, "memtable_flush_period_in_ms", 0);
	cell_int(c, "min_index_interval", 128);
	cell_double(c, "read_repair_chance", 0.0);
	cell_text(c, "speculative_retry", "99PERCENTILE");
}

/* A stable id for a virtual table (a name-based uuid, version 3 style). */
static void virtual_id(const char *ks, const char *name, uint8_t u[16])
{
	uint8_t h[COFFER_SHA256_BYTES];
	char *s = coffer_xasprintf("%s.%s", ks, name);
	coffer_sha256(s, strlen(s), h);
	free(s);
	memcpy(u, h, 16);
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x30);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
}

/* custom_properties as Keyspaces shows it: map<text, frozen<map<text, text>>>. */
static void cell_custom_properties(struct sys_ctx *c, const struct coffer_tabledef *def,
				   const struct db_table *t)
{
	/* group -> inner map, groups sorted by name */
	struct coffer_strmap groups = {0};
	struct coffer_strmap inner[64];
	size_t ng = 0;
	memset(inner, 0, sizeof(inner));
	coffer_strmap_set(&groups, "encryption_specification", "0");
	coffer_strmap_set(&inner[ng], "encryption_type", def && def->encryption == COFFER_ENC_CUSTOMER_MANAGED
							 ? "CUSTOMER_MANAGED_KMS_KEY" : "AWS_OWNED_KMS_KEY");
	if (def && def->encryption == COFFER_ENC_CUSTOMER_MANAGED)
		coffer_strmap_set(&inner[ng], "kms_key_identifier",
				  t && t->kms_key_arn[0] ? t->kms_key_arn : def->kms_key_identifier);
	ng++;
	/* point_in_time_recovery (status, earliest_restorable_timestamp) and,
	 * while the table is RESTORING, restore (progress, source). */
	coffer_strmap_set(&groups, "point_in_time_recovery", "1");
	db_pitr_properties(c->db, def, t, &inner[1], &inner[2]);
	ng = 2;
	if (inner[2].n) {
		coffer_strmap_set(&groups, "restore", "2");
		ng = 3;
	}
	for (size_t i = 0; def && i < def->custom_properties.n && ng < COFFER_ARRAY_LEN(inner); i++) {
		const char *k = def->custom_properties.items[i].key;
		const char *dot = strchr(k, '.');
		if (!dot)
			continue;
		char *g = coffer_xstrndup(k, (size_t)(dot - k));
		const char *idx = coffer_strmap_get(&groups, g);
		size_t gi;
		if (idx) {
			gi = (size_t)atoi(idx);
		} else {
			char num[24];
			gi = ng++;
			snprintf(num, sizeof(num), "%zu", gi);
			coffer_strmap_set(&groups, g, num);
		}
		coffer_strmap_set(&inner[gi], dot + 1, def->custom_properties.items[i].value);
		free(g);
	}
	struct coffer_strmap_entry *e = coffer_xcalloc(groups.n + 1, sizeof(*e));
	memcpy(e, groups.items, sizeof(*e) * groups.n);
	qsort(e, groups.n, sizeof(*e), cmp_entry);
	struct coffer_buf b = {0}, v = {0};
	coffer_buf_put_u32(&b, (uint32_t)groups.n);
	for (size_t i = 0; i < groups.n; i++) {
		coffer_buf_reset(&v);
		encode_textmap(&inner[atoi(e[i].value)], &v);
		put_elem(&b, e[i].key, strlen(e[i].key));
		put_elem(&b, v.ptr, v.len);
	}
	cell_bytes(c, "custom_properties", b.ptr, b.len);
	coffer_buf_free(&b);
	coffer_buf_free(&v);
	free(e);
	for (size_t i = 0; i < ng; i++)
		coffer_strmap_free(&inner[i]);
	coffer_strmap_free(&groups);
}

static void fill_tables(struct sys_ctx *c)
{
	for (size_t i = 0; i < COFFER_ARRAY_LEN(listed_keyspaces); i++) {
		for (size_t j = 0; j < COFFER_ARRAY_LEN(sys_tables); j++) {
			const struct sys_table *st = &sys_tables[j];
			uint8_t id[16];
			if (strcmp(st->keyspace, listed_keyspaces[i]) != 0)
				continue;
			virtual_id(st->keyspace, st->name, id);
			row_begin(c);
			cell_text(c, "keyspace_name", st->keyspace);
			cell_text(c, "table_name", st->name);
			table_options(c, "", 0, 0, id);
			cell_custom_properties(c, NULL, NULL);
			cell_text(c, "status", "ACTIVE");
		}
	}
	for (size_t i = 0; i < c->db->catalog.nkeyspaces; i++) {
		const struct coffer_keyspace *ks = c->db->catalog.keyspaces[i];
		for (size_t j = 0; j < ks->ntables; j++) {
			const struct coffer_tabledef *def = ks->tables[j];
			const struct db_table *t = db_table_of(c->db, def);
			const char *gc = coffer_strmap_get(&def->options, "gc_grace_seconds");
			row_begin(c);
			cell_text(c, "keyspace_name", ks->name);
			cell_text(c, "table_name", def->name);
			table_options(c, def->comment ? def->comment : "", def->default_time_to_live,
				      gc ? (int32_t)strtol(gc, NULL, 10) : 864000, def->id);
			cell_custom_properties(c, def, t);
			cell_text(c, "status", coffer_table_status_name(t ? t->status : COFFER_STATUS_ACTIVE));
		}
	}
}

/* Oldest first, as recorded (the newest DB_EVENTS_MAX are kept). */
static void fill_events(struct sys_ctx *c)
{
	for (size_t i = 0; i < c->db->n_events; i++) {
		const struct db_event *e = &c->db->events[i];
		uint8_t ms[8];
		coffer_store_u64(ms, (uint64_t)(e->time_us / 1000));
		row_begin(c);
		cell_text(c, "keyspace_name", e->keyspace);
		cell_bytes(c, "event_time", ms, 8);
		cell_text(c, "table_name", e->table);
		cell_text(c, "event", e->event);
		cell_text(c, "kms_key", e->kms_key);
		cell_text(c, "reason", e->reason);
	}
}

static void fill_kms_calls(struct sys_ctx *c)
{
	struct db_kms_stat *st;
	size_t n;
	db_kms_stats_copy(c->db, &st, &n);
	for (size_t i = 0; i < n; i++) {
		for (size_t op = 0; op < COFFER_KEY_OP_COUNT; op++) {
			const struct db_kms_op_stat *o = &st[i].op[op];
			if (!o->calls)
				continue;
			uint8_t ms[8], calls[8];
			coffer_store_u64(ms, (uint64_t)(o->last_us / 1000));
			coffer_store_u64(calls, o->calls);
			row_begin(c);
			cell_text(c, "keyspace_name", st[i].keyspace);
			cell_text(c, "table_name", st[i].table);
			cell_text(c, "operation", coffer_key_provider_op_name((enum coffer_key_provider_op)op));
			cell_bytes(c, "calls", calls, 8);
			cell_bytes(c, "last_call", ms, 8);
			cell_text(c, "last_result", o->last_result);
		}
	}
	db_kms_stats_free(st, n);
}

static void column_row(struct sys_ctx *c, const char *ks, const char *table, const char *name,
		       const char *kind, int32_t position, const char *order, const char *type)
{
	row_begin(c);
	cell_text(c, "keyspace_name", ks);
	cell_text(c, "table_name", table);
	cell_text(c, "column_name", name);
	cell_text(c, "clustering_order", order);
	cell_bytes(c, "column_name_bytes", name, strlen(name));
	cell_text(c, "kind", kind);
	cell_int(c, "position", position);
	cell_text(c, "type", type);
}

static void fill_columns(struct sys_ctx *c)
{
	for (size_t i = 0; i < COFFER_ARRAY_LEN(listed_keyspaces); i++) {
		for (size_t j = 0; j < COFFER_ARRAY_LEN(sys_tables); j++) {
			const struct sys_table *st = &sys_tables[j];
			if (strcmp(st->keyspace, listed_keyspaces[i]) != 0)
				continue;
			for (int k = 0; st->cols[k].name; k++) {
				bool pk = k < st->npk, ck = !pk && k < st->npk + st->nck;
				column_row(c, st->keyspace, st->name, st->cols[k].name,
					   pk ? "partition_key" : ck ? "clustering" : "regular",
					   pk ? k : ck ? k - st->npk : -1, ck ? "asc" : "none", st->cols[k].type);
			}
		}
	}
	for (size_t i = 0; i < c->db->catalog.nkeyspaces; i++) {
		const struct coffer_keyspace *ks = c->db->catalog.keyspaces[i];
		for (size_t j = 0; j < ks->ntables; j++) {
			const struct coffer_tabledef *def = ks->tables[j];
			for (size_t k = 0; k < def->ncolumns; k++) {
				const struct coffer_column *col = &def->columns[k];
				char *type = coffer_datatype_to_string(col->type);
				column_row(c, ks->name, def->name, col->name, coffer_column_kind_name(col->kind),
					   col->kind == COFFER_COLUMN_PARTITION_KEY ||
							   col->kind == COFFER_COLUMN_CLUSTERING
						   ? col->position : -1,
					   coffer_clustering_order_name(col->order), type);
				free(type);
			}
		}
	}
}

/* ---- the query -------------------------------------------------------------------- */

struct sys_query {
	const struct sys_table *t;
	struct coffer_datatype **types; /* per column (arena) */
	size_t ncols;
	int *proj;                      /* column index per output column; -1: COUNT(*) */
	const char **proj_names;
	size_t nproj;
	bool count;
};

static COFFER_RESULT resolve_table(struct coffer_exec *x, const struct sys_table **out)
{
	const struct coffer_cql_select *s = &x->stmt->u.select;
	const char *ks = s->table.keyspace ? s->table.keyspace : x->session->keyspace;
	const struct sys_table *t = sys_table_find(ks, s->table.name);
	ENSURE(t, COFFER_E_INVALID, "unconfigured table %s", s->table.name);
	*out = t;
	return COFFER_OK;
}

static COFFER_RESULT plan(struct coffer_exec *x, struct sys_query *q)
{
	const struct coffer_cql_select *s = &x->stmt->u.select;
	memset(q, 0, sizeof(*q));
	TRY(resolve_table(x, &q->t));
	ENSURE(!s->json, COFFER_E_INVALID, "SELECT JSON is not supported on system tables");
	ENSURE(s->ngroup_by == 0, COFFER_E_INVALID, "GROUP BY is not supported on system tables");
	q->ncols = ncols_of(q->t);
	q->types = coffer_arena_zalloc(x->arena, sizeof(*q->types) * q->ncols);
	for (size_t i = 0; i < q->ncols; i++) {
		const char *ty = q->t->cols[i].type;
		TRY(coffer_datatype_parse(ty, strlen(ty), x->arena, &q->types[i]));
	}
	if (s->star) {
		q->nproj = q->ncols;
		q->proj = coffer_arena_alloc(x->arena, sizeof(int) * q->nproj);
		q->proj_names = coffer_arena_alloc(x->arena, sizeof(char *) * q->nproj);
		for (size_t i = 0; i < q->ncols; i++) {
			q->proj[i] = (int)i;
			q->proj_names[i] = q->t->cols[i].name;
		}
	} else {
		q->nproj = s->nselectors;
		q->proj = coffer_arena_alloc(x->arena, sizeof(int) * (q->nproj + 1));
		q->proj_names = coffer_arena_alloc(x->arena, sizeof(char *) * (q->nproj + 1));
		for (size_t i = 0; i < s->nselectors; i++) {
			const struct coffer_cql_selector *sel = s->selectors[i];
			if (sel->kind == COFFER_CQL_SEL_COUNT_STAR) {
				ENSURE(s->nselectors == 1, COFFER_E_INVALID,
				       "COUNT(*) cannot be mixed with columns on system tables");
				q->count = true;
				q->proj[i] = -1;
				q->proj_names[i] = sel->alias ? sel->alias : "count";
				continue;
			}
			ENSURE(sel->kind == COFFER_CQL_SEL_COLUMN, COFFER_E_INVALID,
			       "Only columns and COUNT(*) can be selected from system tables");
			int ci = col_index(q->t, sel->name);
			ENSURE(ci >= 0, COFFER_E_INVALID, "Undefined column name %s", sel->name);
			q->proj[i] = ci;
			q->proj_names[i] = sel->alias ? sel->alias : sel->name;
		}
	}
	for (size_t i = 0; i < s->nwhere; i++) {
		const struct coffer_cql_relation *r = &s->where[i];
		ENSURE(r->kind == COFFER_CQL_REL_SINGLE && !r->map_key &&
			       (r->op == COFFER_CQL_OP_EQ || r->op == COFFER_CQL_OP_IN),
		       COFFER_E_INVALID, "Only = and IN restrictions are supported on system tables");
		ENSURE(col_index(q->t, r->columns[0]) >= 0, COFFER_E_INVALID, "Undefined column name %s",
		       r->columns[0]);
	}
	return COFFER_OK;
}

/* The serialized value of a term for a column type (literal or bound). */
static COFFER_RESULT term_bytes(struct coffer_exec *x, const struct coffer_cql_term *term,
				const struct coffer_datatype *type, const char *column, struct coffer_slice *out,
				bool *is_null)
{
	*is_null = false;
	if (term->kind == COFFER_CQL_TERM_BIND) {
		ENSURE(x->values && term->bind_index >= 0 && (size_t)term->bind_index < x->n_values, COFFER_E_INVALID,
		       "No value was bound for marker %d", term->bind_index);
		const struct coffer_proto_value *v = &x->values[term->bind_index];
		if (v->kind != COFFER_PROTO_VALUE) {
			*is_null = true;
			return COFFER_OK;
		}
		TRY(coffer_value_validate(type, v->bytes));
		*out = v->bytes;
		return COFFER_OK;
	}
	struct coffer_buf b = {0};
	coffer_rc rc = coffer_cql_literal_coerce(term, type, column, &b, is_null);
	if (rc == COFFER_OK) {
		*out = coffer_slice_of(b.len ? coffer_arena_memdup(x->arena, b.ptr, b.len) : (const void *)"", b.len);
	}
	coffer_buf_free(&b);
	return rc;
}

/* Whether a row's cell matches one of the relation's values. */
static COFFER_RESULT relation_matches(struct coffer_exec *x, const struct sys_query *q,
				      const struct coffer_cql_relation *r, const struct sys_cell *row, bool *ok)
{
	int ci = col_index(q->t, r->columns[0]);
	const struct coffer_datatype *ty = q->types[ci];
	const struct sys_cell *cell = &row[ci];
	struct coffer_slice v;
	bool is_null;
	*ok = false;
	if (r->op == COFFER_CQL_OP_EQ || (r->op == COFFER_CQL_OP_IN && r->value)) {
		if (r->op == COFFER_CQL_OP_IN) {
			/* IN ? : the marker stands for a list of the column's type */
			struct coffer_datatype *lt;
			struct coffer_datatype *params[1] = {(struct coffer_datatype *)ty};
			TRY(coffer_datatype_make(x->arena, COFFER_DT_LIST, true, params, 1, &lt));
			TRY(term_bytes(x, r->value, lt, r->columns[0], &v, &is_null));
			if (is_null)
				return COFFER_OK;
			struct coffer_reader rd;
			uint32_t n;
			coffer_reader_init(&rd, v, "IN list");
			TRY(coffer_reader_u32(&rd, &n));
			for (uint32_t i = 0; i < n; i++) {
				uint32_t len;
				struct coffer_slice e;
				TRY(coffer_reader_u32(&rd, &len));
				TRY(coffer_reader_bytes(&rd, len, &e));
				if (cell->set && coffer_slice_eq(e, coffer_slice_of(cell->ptr, cell->len)))
					*ok = true;
			}
			return COFFER_OK;
		}
		TRY(term_bytes(x, r->value, ty, r->columns[0], &v, &is_null));
		*ok = !is_null && cell->set && coffer_slice_eq(v, coffer_slice_of(cell->ptr, cell->len));
		return COFFER_OK;
	}
	for (size_t i = 0; i < r->nin; i++) {
		TRY(term_bytes(x, r->in_values[i], ty, r->columns[0], &v, &is_null));
		if (!is_null && cell->set && coffer_slice_eq(v, coffer_slice_of(cell->ptr, cell->len)))
			*ok = true;
	}
	return COFFER_OK;
}

static COFFER_RESULT limit_of(struct coffer_exec *x, const struct coffer_cql_term *t, uint64_t *out)
{
	struct coffer_slice v;
	bool is_null;
	*out = 0;
	if (!t)
		return COFFER_OK;
	TRY(term_bytes(x, t, coffer_datatype_of(COFFER_DT_INT), "[limit]", &v, &is_null));
	ENSURE(!is_null && v.len == 4, COFFER_E_INVALID, "Invalid null value of limit");
	int32_t n = (int32_t)coffer_load_u32(v.ptr);
	ENSURE(n > 0, COFFER_E_INVALID, "LIMIT must be strictly positive");
	*out = (uint64_t)n;
	return COFFER_OK;
}

static void metadata_of(struct coffer_exec *x, const struct sys_query *q, struct coffer_proto_metadata *md)
{
	struct coffer_proto_column *cols = coffer_arena_zalloc(x->arena, sizeof(*cols) * (q->nproj + 1));
	memset(md, 0, sizeof(*md));
	md->flags = COFFER_PROTO_MF_GLOBAL_TABLES_SPEC;
	md->keyspace = q->t->keyspace;
	md->table = q->t->name;
	md->n_columns = (int32_t)q->nproj;
	md->columns = cols;
	for (size_t i = 0; i < q->nproj; i++) {
		cols[i].keyspace = q->t->keyspace;
		cols[i].table = q->t->name;
		cols[i].name = q->proj_names[i];
		cols[i].type = q->proj[i] < 0 ? rows_proto_type(x->arena, coffer_datatype_of(COFFER_DT_BIGINT))
					      : rows_proto_type(x->arena, q->types[q->proj[i]]);
	}
}

COFFER_RESULT exec_system_select(struct coffer_exec *x)
{
	const struct coffer_cql_select *s = &x->stmt->u.select;
	struct sys_query q;
	struct sys_ctx c;
	uint64_t limit;
	coffer_rc rc;
	struct rows_writer w;
	bool writing = false;

	TRY(plan(x, &q));
	TRY(limit_of(x, s->limit, &limit));
	memset(&c, 0, sizeof(c));
	c.x = x;
	c.db = x->db;
	c.t = q.t;
	c.ncols = q.ncols;
	pthread_rwlock_rdlock(&x->db->schema_lock);
	q.t->fill(&c);
	pthread_rwlock_unlock(&x->db->schema_lock);

	struct coffer_proto_metadata md;
	metadata_of(x, &q, &md);
	TRY(rows_begin(&w, x, &md));
	writing = true;
	uint64_t matched = 0;
	for (size_t i = 0; i < c.nrows; i++) {
		bool ok = true;
		for (size_t j = 0; j < s->nwhere && ok; j++)
			TRY_FAIL(relation_matches(x, &q, &s->where[j], c.rows[i], &ok));
		if (!ok)
			continue;
		matched++;
		if (q.count)
			continue;
		for (size_t k = 0; k < q.nproj; k++) {
			const struct sys_cell *cell = &c.rows[i][q.proj[k]];
			rows_cell(&w, coffer_slice_of(cell->ptr, cell->len), !cell->set);
		}
		rows_end_row(&w);
		if (limit && matched >= limit)
			break;
	}
	if (q.count) {
		uint8_t b[8];
		coffer_store_u64(b, matched);
		rows_cell(&w, coffer_slice_of(b, 8), false);
		rows_end_row(&w);
	}
	rows_end(&w);
	return COFFER_OK;
fail:
	if (writing)
		rows_abort(&w);
	return rc;
}

COFFER_RESULT exec_system_prepare_metadata(struct coffer_exec *x, struct coffer_proto_metadata *bind,
					   struct coffer_proto_metadata *result)
{
	const struct coffer_cql_select *s = &x->stmt->u.select;
	struct sys_query q;
	TRY(plan(x, &q));
	metadata_of(x, &q, result);
	int n = x->stmt->nbind > 0 ? x->stmt->nbind : 0;
	struct coffer_proto_column *cols = coffer_arena_zalloc(x->arena, sizeof(*cols) * ((size_t)n + 1));
	memset(bind, 0, sizeof(*bind));
	bind->flags = COFFER_PROTO_MF_GLOBAL_TABLES_SPEC;
	bind->keyspace = q.t->keyspace;
	bind->table = q.t->name;
	bind->n_columns = n;
	bind->columns = cols;
	for (int i = 0; i < n; i++) {
		cols[i].keyspace = q.t->keyspace;
		cols[i].table = q.t->name;
		cols[i].name = x->stmt->bind_names && x->stmt->bind_names[i] ? x->stmt->bind_names[i] : "?";
		cols[i].type = rows_proto_type(x->arena, coffer_datatype_of(COFFER_DT_BLOB));
	}
	for (size_t i = 0; i < s->nwhere; i++) {
		const struct coffer_cql_relation *r = &s->where[i];
		int ci = col_index(q.t, r->columns[0]);
		const struct coffer_datatype *ty = q.types[ci];
		if (r->value && r->value->kind == COFFER_CQL_TERM_BIND && r->value->bind_index < n) {
			struct coffer_proto_column *bc = &cols[r->value->bind_index];
			bc->name = r->value->bind_name ? r->value->bind_name : q.t->cols[ci].name;
			if (r->op == COFFER_CQL_OP_IN) {
				struct coffer_datatype *lt;
				struct coffer_datatype *params[1] = {(struct coffer_datatype *)ty};
				TRY(coffer_datatype_make(x->arena, COFFER_DT_LIST, true, params, 1, &lt));
				bc->type = rows_proto_type(x->arena, lt);
			} else {
				bc->type = rows_proto_type(x->arena, ty);
			}
		}
		for (size_t j = 0; j < r->nin; j++) {
			const struct coffer_cql_term *t = r->in_values[j];
			if (t->kind == COFFER_CQL_TERM_BIND && t->bind_index < n) {
				cols[t->bind_index].name = t->bind_name ? t->bind_name : q.t->cols[ci].name;
				cols[t->bind_index].type = rows_proto_type(x->arena, ty);
			}
		}
	}
	if (s->limit && s->limit->kind == COFFER_CQL_TERM_BIND && s->limit->bind_index < n) {
		cols[s->limit->bind_index].name = "[limit]";
		cols[s->limit->bind_index].type = rows_proto_type(x->arena, coffer_datatype_of(COFFER_DT_INT));
	}
	return COFFER_OK;
}
