/*
 * db_internal.h - what the files of the CQL executor share: the database
 * struct, table handles, the execution context of one statement, and the
 * entry points each file provides.
 *
 *   db.c          open/close, the sealed catalog file, table handles, roles
 *   handler.c     coffer_db_handle: QUERY/PREPARE/EXECUTE/BATCH dispatch,
 *                 prepared statements, errors to CQL error codes; coffer_db_login
 *   exec_ddl.c    CREATE/ALTER/DROP KEYSPACE and TABLE, TRUNCATE, USE, roles
 *   exec_system.c SELECT on system, system_schema and system_schema_mcs
 *   exec_dml.c    INSERT, UPDATE, DELETE, BATCH: terms and bind values to
 *                 storage mutations
 *   exec_select.c SELECT on user tables: restrictions to storage reads,
 *                 projection, paging, ORDER BY, LIMIT, filtering
 *   rows.c        writing ROWS results (metadata, cells), paging state
 *   keyhealth.c   the key-health thread: table key checks, status
 *                 transitions, grants (create, retire, delayed release)
 *   notify.c      events of status transitions: system_coffer.events, the
 *                 log, a webhook, a command
 *   pitr.c        point-in-time recovery: RESTORE TABLE and its background
 *                 restores, retired (dropped) tables kept restorable, the
 *                 key grace-period expiry, backup expiry
 *
 * Invariants:
 *  1. The catalog is read under db->schema_lock held for reading; DDL holds it
 *     for writing, so a statement sees one schema from start to end.
 *  2. Storage column ids are stable per table: assigned once per column name
 *     (db_table.col_ids) and never reused after a DROP, so a re-added column
 *     never sees the dropped one's cells.
 *  3. No user value reaches a log line.
 */
#ifndef COFFER_DB_DB_INTERNAL_H
#define COFFER_DB_DB_INTERNAL_H

#include <pthread.h>

#include "cql/cql.h"
#include "db/db.h"
#include "schema/schema.h"
#include "storage/storage.h"

/* Keyspaces answered by exec_system.c (never stored as tables). */
/* Each starts with "system" (db_is_system_keyspace relies on it). */
#define COFFER_DB_SYSTEM_KEYSPACES {"system", "system_schema", "system_schema_mcs", "system_auth", "system_distributed", "system_traces", "system_coffer"}

/* Keyspaces' table status values (system_schema_mcs.tables.status). */
enum coffer_table_status {
	COFFER_STATUS_ACTIVE,
	COFFER_STATUS_CREATING,
	COFFER_STATUS_UPDATING,
	COFFER_STATUS_DELETING,
	COFFER_STATUS_DELETED,
	COFFER_STATUS_RESTORING,
	COFFER_STATUS_INACCESSIBLE,  /* INACCESSIBLE_ENCRYPTION_CREDENTIALS */
};
const char *coffer_table_status_name(enum coffer_table_status s);

struct db_restore_job;

struct db_col_id {
	char *name;
	uint32_t id;
};

/* A table as the executor sees it: its definition and its storage. */
struct db_table {
	struct coffer_tabledef *def;      /* owned by the catalog (keyspace) */
	struct coffer_table *store;       /* NULL while its key is unreachable */
	enum coffer_table_status status;
	char *status_reason;              /* why not ACTIVE (names key and cause), or NULL */
	struct db_col_id *col_ids;        /* every column name ever used -> storage id */
	size_t n_col_ids;
	uint32_t next_col_id;
	char kms_key_arn[256];            /* the KMS key the table key lives under */
	/* (added by db.c) The storage table id (uuid text): the tabledef's id
	 * at CREATE, a fresh one after TRUNCATE (the old storage is
	 * crypto-shredded and a new one made under the same KMS key). */
	char storage_id[37];
	/* (added by keyhealth.c) The grants a table on a customer managed key
	 * holds on it: [0] its operations, [1] its backup (DESIGN.md "Grants").
	 * Empty id: none (AWS_OWNED_KMS_KEY tables). Tokens owned. */
	char grant_ids[2][COFFER_KEY_GRANT_ID_MAX];
	char *grant_tokens[2];
	/* (added by pitr.c) When the table was first seen INACCESSIBLE (wall
	 * clock; 0 while usable): its key grace period counts from here. */
	int64_t inaccessible_since_us;
};

/* (added by pitr.c) A table whose storage was retired rather than shredded
 * (DROP TABLE with point-in-time recovery on, or the end of its key grace
 * period): its directory, key registry and files stay as they were, and
 * RESTORE TABLE ... FROM TABLE <its name> reads them, until purge_us (then,
 * or when a table of the same name is created, coffer_table_purge shreds
 * them). Persisted in the catalog (format 3). */
struct db_retired {
	struct coffer_tabledef *def;      /* owned: the definition when retired */
	char storage_id[37];
	char kms_key_arn[COFFER_KEY_ARN_MAX];
	int64_t retired_us;               /* wall clock: what a restore without a timestamp gives */
	int64_t purge_us;                 /* retired_us + backup retention */
	char *reason;                     /* why it was retired (dropped, grace period) */
	struct db_col_id *col_ids;        /* the storage column ids at retirement */
	size_t n_col_ids;
	uint32_t next_col_id;
	char backup_grant_id[COFFER_KEY_GRANT_ID_MAX]; /* "" for AWS_OWNED_KMS_KEY tables */
	char *backup_grant_token;         /* or NULL */
};

/* (added by keyhealth.c) A grant to retire once due (durable in the catalog). */
struct db_grant_release {
	char key_arn[COFFER_KEY_ARN_MAX];
	char grant_id[COFFER_KEY_GRANT_ID_MAX];
	int64_t due_us;                   /* wall clock */
};

/* (added by notify.c) One transition into or out of INACCESSIBLE. */
struct db_event {
	int64_t time_us;                  /* wall clock */
	char *keyspace, *table, *event, *kms_key, *reason;
};
#define DB_EVENTS_MAX 1000

/* (added by keyhealth.c) KMS calls made for one table, per operation. */
struct db_kms_op_stat {
	uint64_t calls;
	int64_t last_us;                  /* wall clock of the last call */
	char last_result[48];             /* "Success" or the error's name */
};
struct db_kms_stat {
	char *keyspace, *table;
	struct db_kms_op_stat op[COFFER_KEY_OP_COUNT];
};

#define DB_DML_LOCKS 64

struct role {
	char *name;
	char *hash;        /* coffer_proto_password_hash() form; NULL: no password */
	bool login;
	bool superuser;
};

#define DB_PREPARED_ID_BYTES 16

/* A prepared statement (prepared.c). Immutable once cached but for refs,
 * cached and the links, which change under the cache's mu. */
struct db_prepared {
	uint8_t id[DB_PREPARED_ID_BYTES];
	char keyspace[COFFER_DB_KEYSPACE_MAX];
	struct coffer_arena arena;
	struct coffer_cql_stmt *stmt;
	size_t bytes;              /* what it counts against the byte bound */
	unsigned refs;             /* requests holding it */
	bool cached;               /* still in the table */
	struct db_prepared *hnext, *lru_prev, *lru_next;
};

struct db_prepared_cache {
	pthread_mutex_t mu;
	struct db_prepared **buckets;
	struct db_prepared *lru_head, *lru_tail; /* most recently used first */
	size_t entries, bytes;
	size_t max_entries, max_bytes;
	uint64_t evictions;
};

/* The catalog files (db.c's file comment has their layout; catalog_read.c
 * reads them, db.c writes them). */
#define CATALOG_MAGIC "CFCT"
#define CATALOG_KEY_MAGIC "CFKY"
#define CATALOG_FORMAT 3 /* 1: no table extras, grants or events; 2: no retired tables */
#define CATALOG_KEY_FORMAT 1
#define CATALOG_HEADER 13
#define CATALOG_MAX_BYTES (256u << 20)
/* The encryption context of the catalog data key. */
extern const struct coffer_key_context db_catalog_ctx;

struct coffer_db {
	struct coffer_db_config cfg;
	char *data_dir;
	char *service_key;
	const struct coffer_log *log;
	const struct coffer_clock *clock;
	pthread_rwlock_t schema_lock;
	struct coffer_catalog catalog;
	struct db_table **tables;          /* one per user table */
	size_t n_tables;
	struct role *roles;
	size_t n_roles;
	uint8_t schema_version[16];        /* changes on every schema change (system.local) */
	uint8_t host_id[16];
	struct coffer_storage_config storage;
	struct db_prepared_cache prepared;  /* prepared.c */
	/* The catalog file's data key (sealed under the service key). */
	struct coffer_secret catalog_key;
	/* (added by exec_dml.c) Striped locks for read-modify-write work:
	 * counters, collection updates, conditions (IF ...). A stripe is chosen
	 * by the partition's token. db.c initialises them with
	 * pthread_mutex_init (all-zero is also a valid unlocked mutex on glibc). */
	pthread_mutex_t dml_locks[DB_DML_LOCKS];
	/* (added by db.c) The catalog file's version counter (in its AAD). */
	uint64_t catalog_version;
	/* (added by db.c) A hash of no one's password, verified for unknown
	 * roles so a login takes as long whether the role exists or not. */
	char *dummy_hash;
	/* (added by batchlog.c) The batchlog key (made at the first logged
	 * multi-table batch) and its KMS ciphertext, under blog_lock. */
	pthread_mutex_t blog_lock;
	struct coffer_secret blog_key;
	struct coffer_buf blog_blob;
	int64_t blog_key_made_us, blog_key_used_us;
	/* (added by batchlog.c) Tests only: a logged batch writes its batch
	 * log and stops there, as if the process died before applying it. */
	bool batchlog_test_skip_apply;
	/* (added by keyhealth.c) Grants due for retirement and the newest
	 * DB_EVENTS_MAX events, oldest first: both under schema_lock and
	 * persisted in the catalog. */
	struct db_grant_release *releases;
	size_t n_releases;
	struct db_event *events;
	size_t n_events;
	/* (added by keyhealth.c) The health thread; health_mu guards the flags. */
	pthread_t health_tid;
	bool health_running;
	pthread_mutex_t health_mu;
	pthread_cond_t health_cv;
	bool health_stop, health_wake;
	char *notify_webhook, *notify_command;
	/* (added by pitr.c) Retired tables (under schema_lock, persisted) and
	 * the restores running in the background (under pitr_mu; pitr_cv is
	 * signalled as each one ends). */
	struct db_retired **retired;
	size_t n_retired;
	pthread_mutex_t pitr_mu;
	pthread_cond_t pitr_cv;
	struct db_restore_job **restores;
	size_t n_restores;
	/* (added by pitr.c) Tests only, under pitr_mu: restore threads wait
	 * before running while this is set (broadcast pitr_cv on clearing it),
	 * so a test can look at a table that is RESTORING. */
	bool pitr_test_hold;
	/* (added by keyhealth.c) KMS calls per table and operation, since
	 * start: cfg.provider is a counting provider over the configured one
	 * (inner_provider) reporting to db_kms_note; under kms_mu. */
	struct coffer_key_provider *inner_provider;
	pthread_mutex_t kms_mu;
	struct db_kms_stat *kms_stats;
	size_t n_kms_stats;
};

/* The execution of one statement. The caller (handler.c) fills the inputs;
 * an exec_* function writes a RESULT body into `out` and returns COFFER_OK,
 * or returns an error with the thread's error detail set and, where the CQL
 * code is not the default for the rc (see handler.c), sets `err_code` (and
 * the extras in `err`). */
struct coffer_exec {
	struct coffer_db *db;
	struct coffer_db_session *session;  /* keyspace of USE (in/out), user, version */
	uint8_t version;                    /* protocol version of the answer */
	struct coffer_arena *arena;         /* request-scoped memory */
	const struct coffer_cql_stmt *stmt;
	/* Bound values of the statement's markers, by marker index (EXECUTE or
	 * QUERY with values; names already resolved to indexes). NULL if none. */
	const struct coffer_proto_value *values;
	size_t n_values;
	int32_t page_size;                  /* -1: no paging */
	struct coffer_slice paging_state;   /* empty: first page */
	int64_t timestamp_us;               /* the write timestamp (client's, or now) */
	int64_t now_us;                     /* the statement's "now" */
	bool skip_metadata;                 /* EXECUTE with SKIP_METADATA */
	/* A protocol BATCH (opcode 0x0D): x->stmt is a BATCH whose children each
	 * carry their own values, so exec_batch binds child i's markers from
	 * batch_values[i] (batch_n_values[i] of them) instead of x->values. NULL
	 * for a CQL-text BEGIN BATCH, whose markers are numbered across the
	 * whole statement and bound from x->values. */
	const struct coffer_proto_value *const *batch_values;
	const size_t *batch_n_values;
	/* A plain write may be answered later (coffer_db_handle_async): run()
	 * hands it to db_apply_later instead of waiting for its fsync. */
	void (*finish)(void *arg, const struct coffer_buf *frame);
	void *finish_arg;
	int16_t stream;
	/* On the event loop (coffer_db_handle_on_loop): nothing may block. A
	 * step that would calls db_decline, before any state changed. */
	bool on_loop;
	/* outputs */
	bool declined;                      /* on_loop: a worker must run it */
	bool deferred;                      /* finish will send the answer */
	struct coffer_table *lead;          /* must coffer_table_lead once unlocked */
	struct coffer_buf *out;             /* the RESULT body (kind onward) */
	uint32_t err_code;                  /* 0: derived from the rc */
	struct coffer_proto_error_body err; /* extras for err_code (ALREADY_EXISTS, ...) */
	bool schema_changed;
	struct coffer_proto_schema_change change;
};

/* ---- handler.c ---- */
/* Applies m[0..n) to `store` with coffer_table_apply_async: the answer (RESULT
 * Void or the error) goes out through x->finish once durable; sets
 * x->deferred (and x->lead when this thread must lead the group after its
 * locks are released). An error means nothing was written or queued. */
COFFER_RESULT db_apply_later(struct coffer_exec *x, struct coffer_table *store, struct coffer_mutation *const *m,
			     size_t n);
/* On the event loop: gives the request back, unchanged, for a worker to run
 * (sets x->declined; the error it returns is never answered). */
COFFER_RESULT db_decline(struct coffer_exec *x, const char *why);

/* ---- db.c ---- */
/* The table of a possibly unqualified name (keyspace from the session when
 * NULL). Holds no lock: the caller holds schema_lock. COFFER_E_INVALID
 * "unconfigured table X" / "Keyspace X does not exist" when missing. */
COFFER_RESULT db_find_table(struct coffer_exec *x, const struct coffer_cql_qname *name,
			    struct db_table **out);
/* Storage column id of a column name (creating one with `create`). */
COFFER_RESULT db_column_id(struct db_table *t, const char *column, bool create, uint32_t *out);
/* Persists the whole catalog (keyspaces, tables, column ids, roles) sealed
 * under the catalog key; caller holds schema_lock for writing. */
COFFER_RESULT db_save_catalog(struct coffer_db *db);
/* New schema version (system.local.schema_version) and the event callback. */
void db_schema_changed(struct coffer_db *db, const struct coffer_proto_schema_change *sc);
/* Whether a table is readable/writable now; an error naming table, key and
 * reason otherwise (status INACCESSIBLE...). */
COFFER_RESULT db_table_usable(struct db_table *t);
bool db_is_system_keyspace(const char *ks);
/* Roles: check a login; find. (Caller need not hold schema_lock.) */
COFFER_RESULT db_role_check(struct coffer_db *db, struct coffer_slice user, struct coffer_slice pw,
			    bool *ok);

/* (added by db.c, for exec_ddl.c; the caller holds schema_lock for writing) */
struct db_table *db_table_new(struct coffer_tabledef *def); /* status ACTIVE, storage id = def id */
/* (catalog_read.c) The KMS blob in catalog.key's bytes (borrowed from them). */
COFFER_RESULT db_catalog_key_blob(struct coffer_slice file, struct coffer_slice *blob);
/* (catalog_read.c) Reads catalog.bin at `path` and opens its seal with
 * `key`: the payload into pt (a secure buffer the caller frees), its format
 * and version counter. COFFER_E_CORRUPT for a file that is not a catalog or
 * does not authenticate. */
COFFER_RESULT db_catalog_unseal(const struct coffer_secret *key, const char *path,
				struct coffer_buf *pt, uint8_t *format, uint64_t *version);
/* (db.c) Decodes a catalog payload into an empty db (db_init_bare): host id,
 * roles, keyspaces and tables, and the format-2 extras. Nothing is opened. */
COFFER_RESULT db_catalog_decode(struct coffer_db *db, struct coffer_slice p, uint8_t format);
/* (db.c) Initialises the locks, event array and catalog of a zeroed db;
 * coffer_db_close frees it. */
void db_init_bare(struct coffer_db *db);
void db_table_free(struct db_table *t);                      /* closes the store; not the def */
void db_tables_add(struct coffer_db *db, struct db_table *t);
void db_tables_remove(struct coffer_db *db, struct db_table *t);
struct db_table *db_table_of(struct coffer_db *db, const struct coffer_tabledef *def);
/* Creates (create) or opens t->store under t->kms_key_arn with t->storage_id. */
COFFER_RESULT db_table_open_store(struct coffer_db *db, struct db_table *t, bool create);
/* The same into *out, leaving t->store alone (the health thread opens under
 * schema_lock held for reading and installs under it held for writing). */
COFFER_RESULT db_table_open_store_to(struct coffer_db *db, struct db_table *t, bool create,
				     struct coffer_table **out);
/* Whether an rc is the KMS's (or the transport's) refusal of a key. */
bool db_rc_is_key_error(coffer_rc rc);
void db_table_set_inaccessible(struct db_table *t, coffer_rc rc, const char *msg);
/* Drops a column name's storage id (ALTER TABLE DROP; ids are never reused). */
void db_column_forget(struct db_table *t, const char *column);
struct role *db_role_find(struct coffer_db *db, const char *name);
struct role *db_role_add(struct coffer_db *db, const char *name);
void db_role_remove(struct coffer_db *db, const char *name);

/* ---- keyhealth.c: the key-health thread and grants (issue 6) ---- */
/* coffer_db_open starts the thread once the tables are open (not when
 * cfg.key_check_interval_us < 0); coffer_db_close stops it first. */
COFFER_RESULT db_keyhealth_start(struct coffer_db *db);
void db_keyhealth_stop(struct coffer_db *db);
/* One pass: every table's key checked, statuses changed (persisted, events
 * raised and delivered), due grants retired. Takes schema_lock itself. */
void db_keyhealth_run_once(struct coffer_db *db);
/* Asks the thread for a pass now (a table's key state changed). */
void db_keyhealth_wake(struct coffer_db *db);
/* CREATE TABLE on a customer managed key: the table's two grants
 * ("coffer-<table id>-ops", "coffer-<table id>-backup"), constrained to its
 * encryption context. A key at its grant limit is COFFER_E_KMS_LIMIT_EXCEEDED
 * with a message naming the key and LimitExceededException. The caller
 * holds schema_lock for writing. */
COFFER_RESULT db_grants_create(struct coffer_db *db, struct db_table *t);
/* Retires a table's grants now (a CREATE that failed after making them). */
void db_grants_retire_now(struct coffer_db *db, struct db_table *t);
/* DROP TABLE: schedules the operations grant for now and the backup grant
 * for now + grant_release_delay (caller saves the catalog, then calls
 * db_grants_release_due). */
void db_grants_schedule_drop(struct coffer_db *db, struct db_table *t);
/* Retires every grant whose time has come; caller holds schema_lock for
 * writing; a grant the KMS cannot retire now stays listed. Returns whether
 * the list changed (the caller saves the catalog). */
bool db_grants_release_due(struct coffer_db *db);
/* Drops from the release list the grants `t` holds (a table back on a key it
 * used before gets the same named grants back). Caller holds schema_lock
 * for writing and saves the catalog. */
void db_grants_unschedule(struct coffer_db *db, const struct db_table *t);
void db_grants_free(struct db_table *t);
/* Counts a KMS call for table ks.table (the counting provider's hook; also
 * called directly for DescribeKey and RetireGrant, which name no table).
 * NULL names: not attributed. Takes kms_mu. */
void db_kms_note(void *db, const char *ks, const char *table, enum coffer_key_provider_op op, coffer_rc rc);
/* A copy of the counts (caller frees with db_kms_stats_free). */
void db_kms_stats_copy(struct coffer_db *db, struct db_kms_stat **out, size_t *n);
void db_kms_stats_free(struct db_kms_stat *s, size_t n);
/* DescribeKey of `key` on behalf of table ks.table, counted for it. */
coffer_rc db_describe_key(struct coffer_db *db, const char *ks, const char *table, const char *key,
			  struct coffer_key_description *d);

/* ---- notify.c ---- */
/* Records an event (caller holds schema_lock for writing; it is persisted
 * with the next catalog save) and returns a copy the caller delivers with
 * db_event_deliver after unlocking, then frees with db_event_free. */
struct db_event *db_event_record(struct coffer_db *db, const char *ks, const char *table, const char *event,
				 const char *kms_key, const char *reason);
/* The log line, the webhook POST (5 s timeout) and the command (at most
 * 10 s); failures are logged, never fatal. */
void db_event_deliver(struct coffer_db *db, const struct db_event *e);
void db_event_free(struct db_event *e);   /* frees the strings and e */
void db_event_clear(struct db_event *e);  /* frees the strings only */

/* ---- prepared.c: the bounded prepared-statement cache ---- */
/* Looked up by id, held by a request while it runs (refs), freed once
 * evicted and released. */
void db_prepared_cache_init(struct db_prepared_cache *c, size_t max_entries, size_t max_bytes);
void db_prepared_cache_free(struct db_prepared_cache *c);
void db_prepared_id(const char *keyspace, struct coffer_slice query, uint8_t id[DB_PREPARED_ID_BYTES]);
/* The statement of an id, held; NULL if unknown or evicted. */
struct db_prepared *db_prepared_find(struct db_prepared_cache *c, struct coffer_slice id);
/* Parses and caches the statement (or finds it), held. */
COFFER_RESULT db_prepared_get(struct db_prepared_cache *c, const char *keyspace, struct coffer_slice query,
			      struct db_prepared **out);
void db_prepared_release(struct db_prepared_cache *c, struct db_prepared *p);
void db_prepared_stats(struct db_prepared_cache *c, size_t *entries, size_t *bytes, uint64_t *evictions);

/* ---- pitr.c: point-in-time recovery (issue 7) ---- */
/* coffer_db_open: init (before anything can fail); then, after the catalog
 * is loaded and before the tables are opened, db_pitr_open finishes what a
 * restart interrupted: a table left RESTORING is shredded and removed (event
 * RESTORE_FAILED), one left DELETING by the grace-period expiry is retired
 * (events BACKUP_TAKEN, DELETED). Saves the catalog when it changed. */
void db_pitr_init(struct coffer_db *db);
void db_pitr_open(struct coffer_db *db);
/* coffer_db_close: waits for the running restores, frees the records. */
void db_pitr_close(struct coffer_db *db);
/* The retention (cfg.backup_retention_us, or 35 days). */
int64_t db_pitr_retention(const struct coffer_db *db);
/* After a table's storage is opened or created: the catalog's PITR setting
 * handed to storage (coffer_table_set_pitr when enabled). */
COFFER_RESULT db_pitr_apply(struct coffer_db *db, const struct coffer_tabledef *def, struct coffer_table *store);
/* One periodic pass (from the key-health pass): grace-period expiry of
 * INACCESSIBLE tables, purge of retired tables past their retention,
 * coffer_table_backup_expire on tables with PITR. Takes schema_lock. */
void db_pitr_pass(struct coffer_db *db);
/* DROP TABLE / DROP KEYSPACE of t with PITR on: adds t's retired record
 * (caller holds schema_lock for writing, saves the catalog after; on a failed
 * save db_pitr_retire_undo removes the newest n records again). */
void db_pitr_retire_add(struct coffer_db *db, struct db_table *t, const char *reason);
void db_pitr_retire_undo(struct coffer_db *db, size_t n);
/* After the save: retires t's storage (kept on disk) and frees t (t->def
 * already detached). */
void db_pitr_retire_store(struct coffer_db *db, struct db_table *t);
/* CREATE TABLE of ks.name (after its catalog save): purges the retired
 * tables of that name, saving the catalog first (caller holds schema_lock
 * for writing). A failed save keeps them (purged at their expiry). */
void db_pitr_purge_name(struct coffer_db *db, const char *ks, const char *name);
/* DROP / TRUNCATE of a table a running restore reads or writes: refused with
 * a message naming the restore. Caller holds schema_lock. */
COFFER_RESULT db_pitr_check_busy(struct coffer_db *db, const struct db_table *t);
/* custom_properties' point_in_time_recovery group (status,
 * earliest_restorable_timestamp) and, while t is RESTORING, the "restore"
 * group (progress, source). Caller holds schema_lock for reading. */
void db_pitr_properties(struct coffer_db *db, const struct coffer_tabledef *def, const struct db_table *t,
			struct coffer_strmap *pitr, struct coffer_strmap *restore);
/* The catalog's format-3 section (after the events): retired tables and
 * inaccessible-since times. */
void db_pitr_encode(const struct coffer_db *db, struct coffer_buf *p);
COFFER_RESULT db_pitr_decode(struct coffer_db *db, struct coffer_reader *r);
/* ALTER TABLE switching point_in_time_recovery (disabling erases the
 * history; refused while a restore reads the table). */
COFFER_RESULT db_pitr_alter(struct coffer_db *db, struct db_table *t, bool enabled);
/* RESTORE TABLE. */
COFFER_RESULT exec_restore_table(struct coffer_exec *x);

/* ---- exec_ddl.c ---- */
COFFER_RESULT exec_use(struct coffer_exec *x);
COFFER_RESULT exec_keyspace(struct coffer_exec *x);      /* CREATE/ALTER/DROP KEYSPACE */
COFFER_RESULT exec_create_table(struct coffer_exec *x);
COFFER_RESULT exec_alter_table(struct coffer_exec *x);
COFFER_RESULT exec_drop_table(struct coffer_exec *x);    /* DROP TABLE and TRUNCATE */
COFFER_RESULT exec_role(struct coffer_exec *x);          /* CREATE/ALTER/DROP/LIST ROLES (and USERS) */
/* (added by exec_ddl.c for pitr.c) CREATE TABLE's pieces: the KMS key
 * (checked with DescribeKey), grants and new storage of t (on failure the
 * grants are retired and t->store is NULL; the caller frees t); the name
 * rule; a random v4 uuid; the AlreadyExists error; the SCHEMA_CHANGE answer
 * (under schema_lock) and its event (after unlocking). */
COFFER_RESULT db_table_provision(struct coffer_exec *x, struct db_table *t, struct db_event **refused);
bool db_valid_name(const char *s);
void db_random_uuid(uint8_t u[16]);
coffer_rc db_ddl_already_exists(struct coffer_exec *x, const char *ks, const char *table);
COFFER_RESULT db_ddl_schema_result(struct coffer_exec *x, const char *change, const char *target, const char *ks,
				   const char *name);
void db_ddl_notify(struct coffer_exec *x);

/* ---- exec_system.c ---- */
/* SELECT on a system keyspace (COFFER_E_INVALID "unconfigured table" for
 * tables that do not exist, as drivers expect 0x2200). */
COFFER_RESULT exec_system_select(struct coffer_exec *x);
/* (added by exec_system.c) PREPARE metadata of a SELECT on a system table:
 * bind markers in its WHERE (typed by their columns) and the result
 * columns. exec_prepare_metadata calls it for system keyspaces. */
COFFER_RESULT exec_system_prepare_metadata(struct coffer_exec *x, struct coffer_proto_metadata *bind,
					   struct coffer_proto_metadata *result);

/* ---- exec_dml.c ---- */
COFFER_RESULT exec_insert(struct coffer_exec *x);
/* Whether a statement may run on the event loop: INSERT, UPDATE or DELETE
 * that reads nothing first (no IF, no counter or collection read-modify-write). */
bool db_dml_on_loop_ok(const struct coffer_cql_stmt *st);
COFFER_RESULT exec_update(struct coffer_exec *x);
COFFER_RESULT exec_delete(struct coffer_exec *x);
COFFER_RESULT exec_batch(struct coffer_exec *x);
/* The value of a term for a column type: a literal coerced, or a bound value
 * (validated); *is_null / *is_unset say so. */
COFFER_RESULT exec_term_value(struct coffer_exec *x, const struct coffer_cql_term *term,
			      const struct coffer_datatype *type, const char *column,
			      struct coffer_slice *out, bool *is_null, bool *is_unset);

/* ---- batchlog.c: logged multi-table batches (DESIGN.md rule 8) ---- */
/* The mutations of a batch as exec_dml.c builds them. Owned by the caller;
 * its bytes live in secret memory and are wiped by db_blog_free. */
struct db_blog;
struct db_blog *db_blog_new(void);
void db_blog_free(struct db_blog *b);
/* Registers a new mutation of t (pk: its partition key components). b may
 * be NULL (nothing recorded). */
void db_blog_mutation(struct db_blog *b, const struct db_table *t, const struct coffer_mutation *m,
		      const struct coffer_slice *pk, size_t n);
/* The coffer_mutation_* builders, also recording into b when b is not NULL
 * (m must have been registered with db_blog_mutation). */
void db_mut_set(struct db_blog *b, struct coffer_mutation *m, const struct coffer_slice *ck, size_t n_ck,
		uint32_t column, struct coffer_slice value, int64_t ts, uint32_t ttl);
void db_mut_set_static(struct db_blog *b, struct coffer_mutation *m, uint32_t column, struct coffer_slice value,
		       int64_t ts, uint32_t ttl);
void db_mut_delete_cell(struct db_blog *b, struct coffer_mutation *m, const struct coffer_slice *ck, size_t n_ck,
			uint32_t column, int64_t ts);
void db_mut_delete_static(struct db_blog *b, struct coffer_mutation *m, uint32_t column, int64_t ts);
void db_mut_row_marker(struct db_blog *b, struct coffer_mutation *m, const struct coffer_slice *ck, size_t n_ck,
		       int64_t ts, uint32_t ttl);
void db_mut_delete_row(struct db_blog *b, struct coffer_mutation *m, const struct coffer_slice *ck, size_t n_ck,
		       int64_t ts);
void db_mut_delete_range(struct db_blog *b, struct coffer_mutation *m, const struct coffer_bound *start,
			 const struct coffer_bound *end, int64_t ts);
void db_mut_delete_partition(struct db_blog *b, struct coffer_mutation *m, int64_t ts);
/* Seals b into DIR/batchlog/<id>.blog, durable on return; *path (the
 * caller frees it) is what db_batchlog_done removes after the applies. */
COFFER_RESULT db_batchlog_write(struct coffer_db *db, const struct db_blog *b, char **path);
/* Wipes the batchlog key once idle or old (the key-health pass calls it). */
void db_batchlog_sweep(struct coffer_db *db);
COFFER_RESULT db_batchlog_done(struct coffer_db *db, const char *path);
/* coffer_db_open: init (before anything can fail), then replay once the
 * tables are open: every DIR/batchlog/<id>.blog is applied and removed. A file
 * that cannot be replayed is logged and kept; the first such error is
 * returned (naming the file) after all were tried. *replayed counts the
 * files applied. */
void db_batchlog_init(struct coffer_db *db);
COFFER_RESULT db_batchlog_replay(struct coffer_db *db, size_t *replayed);
void db_batchlog_close(struct coffer_db *db);

/* ---- exec_select.c ---- */
COFFER_RESULT exec_select(struct coffer_exec *x);
/* The result metadata of x->stmt (a SELECT on t); caller holds schema_lock. */
COFFER_RESULT select_result_metadata(struct coffer_exec *x, struct db_table *t, struct coffer_proto_metadata *md);

/* ---- prepare metadata (exec_dml.c / exec_select.c) ---- */
/* Bind metadata of a statement's markers (column specs with types, and the
 * partition key indexes) and, for SELECT, the result metadata. Arena-owned. */
COFFER_RESULT exec_prepare_metadata(struct coffer_exec *x, struct coffer_proto_metadata *bind,
				    struct coffer_proto_metadata *result);

/* ---- exec_where.c: WHERE clauses of SELECT, UPDATE and DELETE ---- */
/* Where a restricted value comes from in a row. */
enum where_src { WHERE_PK, WHERE_CK, WHERE_REGULAR, WHERE_STATIC };

/* A relation checked row by row (ALLOW FILTERING, or clustering restrictions
 * that no single slice expresses). Tuples: ncols columns, each value a
 * tuple of ncols slices. */
struct where_filter {
	size_t ncols;
	const struct coffer_column **cols;
	enum where_src *src;
	uint32_t *pos;                     /* pk/ck position, or storage column id */
	enum coffer_cql_op op;
	struct coffer_slice **vals;        /* nvals values, each ncols slices */
	size_t nvals;
};

struct where {
	/* Partition key: per column, its values (= one, IN several). */
	struct coffer_slice *pk_vals[COFFER_MAX_CLUSTERING];
	size_t pk_n[COFFER_MAX_CLUSTERING];
	bool pk_restricted[COFFER_MAX_CLUSTERING];
	bool pk_all;                       /* every pk column = or IN */
	bool pk_in;                        /* some pk column has several values */
	bool has_token;
	int64_t token_min, token_max;      /* inclusive */
	bool token_empty;                  /* the token range holds nothing */
	/* Clustering: an = prefix, then at most one slice. */
	size_t n_eq;
	struct coffer_slice eq[COFFER_MAX_CLUSTERING];
	bool ck_restricted;                /* any clustering relation */
	bool ck_in;                        /* some clustering column IN (rows: ck_rows) */
	struct coffer_slice lower_v[COFFER_MAX_CLUSTERING], upper_v[COFFER_MAX_CLUSTERING];
	struct coffer_bound lower, upper;  /* in clustering order; n = 0 unbounded */
	bool has_slice;                    /* a range beyond the = prefix */
	/* Every full clustering tuple the relations name, when each clustering
	 * column is = or IN (DML on several rows); NULL otherwise. */
	struct coffer_slice **ck_rows;
	size_t n_ck_rows;
	struct where_filter *filters;
	size_t nfilters;
	bool needs_filtering;              /* filters on non-key columns or a key gap */
	const char *filter_column;         /* the first regular column filtered */
};
COFFER_RESULT where_build(struct coffer_exec *x, struct db_table *t,
			  const struct coffer_cql_relation *rels, size_t n, struct where *w);
/* Serialized partition keys of the = / IN combinations (arena); sorted by
 * token and deduplicated when `sorted`. */
COFFER_RESULT where_partitions(struct coffer_exec *x, const struct where *w, bool sorted,
			       struct coffer_slice **out, size_t *n);
/* Values a row offers to filters: partition key components, clustering
 * values, and a lookup of cells by column id (false: null). */
struct where_row {
	const struct coffer_slice *pk;
	const struct coffer_slice *ck;
	size_t n_ck;
	bool (*cell)(void *arg, uint32_t column, bool is_static, struct coffer_slice *v);
	void *arg;
};
bool where_match(const struct where *w, const struct where_row *r);
/* op applied to a (possibly null) value against one or several values. */
bool where_compare(const struct coffer_datatype *t, enum coffer_cql_op op, struct coffer_slice v,
		   bool is_null, struct coffer_slice *const *vals, size_t nvals, size_t idx);
/* The values of a term for `=`-like use, or of an IN list / IN ? (arena). */
COFFER_RESULT where_values(struct coffer_exec *x, const struct coffer_cql_term *term,
			   struct coffer_cql_term *const *in_values, size_t nin, bool is_in,
			   const struct coffer_datatype *type, const char *column,
			   struct coffer_slice **out, size_t *n);
/* Decodes a serialized partition key into its components (arena). */
COFFER_RESULT where_pk_split(struct coffer_arena *a, struct coffer_slice pk, size_t n,
			     struct coffer_slice *out);

/* An arena copy of n bytes (n may be 0 and p NULL: a valid empty pointer). */
static inline const uint8_t *db_memdup(struct coffer_arena *a, const void *p, size_t n)
{
	return n ? (const uint8_t *)coffer_arena_memdup(a, p, n) : (const uint8_t *)"";
}

/* ---- rows.c ---- */
/* A ROWS result being built: columns, then rows of cells. */
struct rows_writer {
	struct coffer_buf *out;
	size_t count_off;
	int32_t rows;
	int32_t ncols;
	/* (added by exec_select/rows.c) The metadata goes before the rows but
	 * has_more_pages is known only after them: cells are gathered in `cells`
	 * and rows_end() writes metadata, count and cells to `out`. */
	struct coffer_proto_metadata md;
	uint8_t version;
	struct coffer_buf cells;
	struct coffer_slice paging_state; /* set with rows_set_paging_state() */
};
COFFER_RESULT rows_begin(struct rows_writer *w, struct coffer_exec *x, const struct coffer_proto_metadata *md);
/* Appends one cell ([bytes]; a NULL ptr with is_null = true writes null). */
void rows_cell(struct rows_writer *w, struct coffer_slice v, bool is_null);
void rows_end_row(struct rows_writer *w);
void rows_end(struct rows_writer *w);
/* Marks the result as having more pages, with this paging state (borrowed
 * until rows_end). */
void rows_set_paging_state(struct rows_writer *w, struct coffer_slice ps);
/* Frees what rows_begin allocated when rows_end is not reached (errors). */
void rows_abort(struct rows_writer *w);
/* The protocol type tree of a datatype (arena). */
const struct coffer_proto_type *rows_proto_type(struct coffer_arena *a, const struct coffer_datatype *t);

#endif
