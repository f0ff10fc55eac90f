/*
 * db.h - the database: the catalog (keyspaces, tables, roles) persisted
 * sealed under the service key, the open storage tables, and the execution
 * of CQL requests (QUERY, PREPARE, EXECUTE, BATCH) that cofferd's server
 * hands over (src/server wires them into its handler).
 *
 * Ownership: coffer_db_open returns a db the caller closes with
 * coffer_db_close; it borrows the provider, cache, clock and log, which must
 * outlive it. Thread-safety: every function may be called from any thread; the
 * handler runs on the server's workers concurrently.
 */
#ifndef COFFER_DB_DB_H
#define COFFER_DB_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "keys/keys.h"
#include "proto/proto.h"
#include "schema/schema.h"
#include "storage/storage.h"
#include "util/util.h"

struct coffer_db;

struct coffer_db_config {
	const char *data_dir;                 /* cofferd's DIR: DIR/schema, DIR/data */
	struct coffer_key_provider *provider; /* the KMS (embedded or remote) */
	struct coffer_key_cache *cache;
	const char *service_key;              /* ARN of the coffer service key: AWS_OWNED tables, the catalog */
	const struct coffer_clock *clock;     /* NULL: system */
	const struct coffer_log *log;         /* NULL: discard */
	/* First start: the superuser `coffer` gets this password; NULL: a
	 * generated one written to DIR/superuser.password (0600) and printed. */
	const char *superuser_password;
	const char *cluster_name;             /* "coffer" */
	const char *data_center;              /* "datacenter1" */
	const char *rack;                     /* "rack1" */
	const char *rpc_address;              /* the CQL listener's address, for system.local */
	int rpc_port;
	uint32_t password_iterations;         /* PBKDF2 iterations; 0: the default */
	bool no_sync;                         /* benchmarks only */
	/* Key health (keyhealth.c, DESIGN.md rules 6-7): how often every table's
	 * key is checked (0: 60 s; < 0: no background thread, tests call
	 * db_keyhealth_run_once); the grace period of an inaccessible table
	 * (0: 7 days; at its end the table is retired to a restorable backup
	 * and deleted, keyhealth.c); how long a dropped
	 * table's backup grant outlives it (0: 42 days). */
	int64_t key_check_interval_us;
	int64_t key_grace_period_us;
	int64_t grant_release_delay_us;
	/* Point-in-time recovery (issue 7, docs/encryption.md "Backups and
	 * restore"): how long a table's continuous backup reaches back, and
	 * how long a dropped table (or one deleted at the end of its grace
	 * period) stays restorable (0: 35 days). */
	int64_t backup_retention_us;
	/* Notifications of transitions into and out of INACCESSIBLE (notify.c):
	 * an http:// URL to POST a JSON event to, and a command run with
	 * /bin/sh -c and the event in COFFER_* variables. NULL: none. Copied. */
	const char *notify_webhook;
	const char *notify_command;
	/* Called after every schema change (to push SCHEMA_CHANGE events). */
	void (*on_schema_change)(void *arg, const struct coffer_proto_schema_change *sc);
	void *on_schema_change_arg;
	/* Prepared-statement cache bounds (least recently used evicted; an
	 * EXECUTE of an evicted id answers Unprepared and drivers re-prepare).
	 * 0: 10,000 statements, 64 MiB. */
	size_t prepared_max_entries;
	size_t prepared_max_bytes;
};

/* Opens (creating on first start) the catalog and every table. A table whose
 * key cannot be reached is still listed (and reported), never fatal. */
COFFER_RESULT coffer_db_open(const struct coffer_db_config *cfg, struct coffer_db **out);
/* Closes every table (their commit logs hold everything acknowledged). */
void coffer_db_close(struct coffer_db *db);

/* What the database needs of a connection's session. The keyspace is in and
 * out: USE changes it. */
#define COFFER_DB_KEYSPACE_MAX 256
struct coffer_db_session {
	uint8_t version;                    /* protocol version of the answers */
	const char *user;                   /* the authenticated role; "" with auth off */
	char keyspace[COFFER_DB_KEYSPACE_MAX];
};

/* Checks a role's password (PBKDF2, constant-time compare). *ok false for an
 * unknown role, a wrong password, or a role without LOGIN. */
COFFER_RESULT coffer_db_login(struct coffer_db *db, struct coffer_slice user,
			      struct coffer_slice password, bool *ok);
/* Runs QUERY, PREPARE, EXECUTE or BATCH and appends the whole response frame
 * (RESULT or ERROR, on req->stream) to `out`. May block (durable writes). */
void coffer_db_handle(struct coffer_db *db, struct coffer_db_session *s,
		      const struct coffer_proto_request *req, struct coffer_buf *out);
/* The same, letting a plain write (INSERT, UPDATE, DELETE or an UNLOGGED
 * BATCH on one table, without conditions or counters) be answered once its
 * commit-log group is durable instead of blocking the calling thread for the
 * fsync. Returns false with the response in `out` as coffer_db_handle does;
 * or true, `out` untouched: finish(arg, frame) runs exactly once with the
 * response frame, on the thread that wrote the group (maybe this one, maybe
 * before this call returns). finish must not block. */
bool coffer_db_handle_async(struct coffer_db *db, struct coffer_db_session *s,
			    const struct coffer_proto_request *req, struct coffer_buf *out,
			    void (*finish)(void *arg, const struct coffer_buf *frame), void *arg);

enum coffer_db_handled {
	COFFER_DB_ANSWERED, /* the response frame is in `out` */
	COFFER_DB_DEFERRED, /* finish will run with it */
	COFFER_DB_DECLINED, /* nothing done: run it with coffer_db_handle_async */
};
/* For the server's event loop, which must never block: runs an EXECUTE of a
 * plain prepared write (INSERT, UPDATE or DELETE without IF, counters or
 * collection read-modify-write) as coffer_db_handle_async does, except that
 * its commit-log group is written by the leader pool, never by this thread.
 * Declines (COFFER_DB_DECLINED, `out` untouched, finish never called, nothing
 * changed) anything else, and any write that would wait: a schema change
 * holding the schema lock, a table key due for its liveness check (which
 * may ask the KMS). Errors found in the request (unknown prepared id, wrong
 * bound types) are answered, as they cost no wait. */
enum coffer_db_handled coffer_db_handle_on_loop(struct coffer_db *db, struct coffer_db_session *s,
						const struct coffer_proto_request *req, struct coffer_buf *out,
						void (*finish)(void *arg, const struct coffer_buf *frame), void *arg);

/* The storage description of a catalog table (clustering types and orders
 * mapped to the storage engine's comparators) whose storage lives under
 * `storage_id`. The strings stay borrowed from def and storage_id. Shared by
 * the database and the offline tools (coffer verify, dump, keys status). */
void coffer_db_table_desc(const struct coffer_tabledef *def, const char *storage_id,
			  struct coffer_table_desc *out);

/* ---- the catalog, read-only (catalog_read.c) ------------------------------
 *
 * For the offline tools (coffer verify, dump, keys status), with cofferd
 * stopped: the catalog key is unwrapped once through `provider` (embedded
 * or remote KMS), catalog.bin is opened and decoded by the same code
 * cofferd uses, and nothing under DIR is written or opened for storage. */
struct coffer_db_catalog_table {
	const struct coffer_tabledef *def;
	const char *kms_key_arn;       /* the KMS key its table key lives under */
	const char *storage_id;        /* DIR/data/<storage id>/ */
	const char *status;            /* as stored: "ACTIVE", "INACCESSIBLE_ENCRYPTION_CREDENTIALS", ... */
	const char *status_reason;     /* why not ACTIVE, as stored; NULL when none */
	struct coffer_table_desc desc; /* what storage needs to open it read-only */
	const void *internal;
};

struct coffer_db_catalog {
	struct coffer_db_catalog_table *tables; /* catalog order */
	size_t n_tables;
	struct coffer_db *db;          /* owns everything the tables point to */
};

/* Loads DIR/schema/catalog.{key,bin}. A KMS refusal of the catalog key
 * comes back as the provider's error, wrapped with the key file's name.
 * Free *out with coffer_db_catalog_free. */
COFFER_RESULT coffer_db_catalog_load_readonly(const char *data_dir,
					      struct coffer_key_provider *provider,
					      struct coffer_db_catalog **out);
/* The name of a table's storage column id, NULL for a dropped column. */
const char *coffer_db_catalog_column_name(const struct coffer_db_catalog_table *t, uint32_t id);
void coffer_db_catalog_free(struct coffer_db_catalog *c);

/* Flushes every table's memtable (SIGTERM). */
COFFER_RESULT coffer_db_flush_all(struct coffer_db *db);
/* Appends the KMS calls per table and operation since open, in Prometheus
 * text: coffer_table_kms_calls_total{keyspace,table,operation} and
 * coffer_table_kms_last_call_seconds{...} (keyhealth.c). */
struct coffer_buf;
void coffer_db_render_kms_metrics(struct coffer_db *db, struct coffer_buf *out);

#endif
