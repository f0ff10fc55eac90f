/*
 * db.c - the database object: opening and closing, the sealed catalog file,
 * table handles over storage, name resolution, and roles.
 *
 * The catalog (every keyspace, table definition, storage column-id map,
 * table status and KMS key, the roles and the host id) is one file,
 * DIR/schema/catalog.bin, sealed with AES-256-GCM under a catalog data key.
 * That key comes from the key provider's GenerateDataKey on the service key
 * with encryption context {"coffer:purpose": "catalog"}; only its wrapped
 * form is on disk (DIR/schema/catalog.key), and it is unwrapped with the
 * provider's Decrypt at open. So the schema (names of keyspaces, tables and
 * columns, password hashes) is as protected at rest as the data.
 *
 * catalog.key:
 *   OFFSET  SIZE      MEANING
 *   0       4         magic "CFKY"
 *   4       1         format version (1)
 *   5       lenbytes  the KMS ciphertext blob of the catalog data key
 *
 * catalog.bin:
 *   OFFSET  SIZE      MEANING
 *   0       4         magic "CFCT"
 *   4       1         format version (1)
 *   5       8         catalog version counter (u64, +1 per save)
 *   13      12        GCM nonce (random per save)
 *   25      n         ciphertext of the payload below
 *   25+n    16        GCM tag
 *   AAD = "coffer:catalog" | bytes 0..12 (magic, format, counter)
 *
 * Payload (lenbytes = LEB128 length + bytes, integers big-endian):
 *   16        host id
 *   varint    role count; per role: lenbytes name, 1 flags (1 login,
 *             2 superuser, 4 has password), lenbytes hash ("" if none)
 *   varint    keyspace count; per keyspace: lenbytes coffer_keyspace_encode,
 *             varint table count; per table: lenbytes coffer_tabledef_encode,
 *             1 status, lenbytes KMS key ARN, lenbytes storage id (uuid
 *             text), 4 next column id, varint column-id count, then per
 *             entry lenbytes name, 4 id
 *   (format 2 onward; keyhealth.c and notify.c)
 *   varint    table-extra count; per entry: lenbytes storage id, 1 status
 *             (INACCESSIBLE kept here, not above), lenbytes status reason,
 *             1 grant count (0..2), per grant lenbytes id, lenbytes token
 *   varint    grant-release count; per entry: lenbytes key ARN, lenbytes
 *             grant id, 8 due (wall-clock us)
 *   varint    event count (at most DB_EVENTS_MAX); per event: 8 time (us),
 *             lenbytes keyspace, table, event, KMS key, reason
 *   (format 3 onward; pitr.c, where the layout is given)
 *   varint    retired-table count, records; varint inaccessible-since
 *             count, entries
 *
 * Invariants:
 *  1. The catalog on disk is replaced atomically (coffer_fs_write_atomic) and
 *     only while schema_lock is held for writing; a file that fails to
 *     authenticate or decode is an error naming it, never a reset.
 *  2. A table whose key cannot be reached at open keeps its definition and
 *     gets status INACCESSIBLE_ENCRYPTION_CREDENTIALS with a reason naming
 *     table, key and KMS error; the database still opens (DESIGN.md rule 7).
 *  3. Storage column ids only grow (next_col_id); a dropped column's name
 *     loses its mapping, so a re-added column gets a fresh id.
 *  4. No user value reaches a log line; names of tables and keys only.
 *  5. The catalog key is unwrapped (or, on first start, generated) with
 *     bounded retries: a KMS that cannot be reached (UNAVAILABLE, TIMEOUT,
 *     throttling) is retried with backoff for CATALOG_UNLOCK_BUDGET_US, then
 *     open fails with COFFER_E_UNAVAILABLE saying the catalog could not be
 *     unlocked. Any other KMS answer (disabled, denied, bad ciphertext) fails
 *     at once. The plaintext catalog key is never written anywhere, so with
 *     the KMS unreachable the database cannot be opened at all; cofferd
 *     (server/main.c invariant 4) then starts locked, refuses every login
 *     and request with a retryable error naming the KMS, and calls
 *     coffer_db_open again with backoff until it succeeds (DESIGN rule 7).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "crypto/crypto.h"
#include "db/db_internal.h"
#include "keys/keyring.h"

#define NAME_MAX_BYTES 65535
#define ROLE_LOGIN 1
#define ROLE_SUPER 2
#define ROLE_HASH 4
#define SUPERUSER_NAME "coffer"
#define GENERATED_PASSWORD_LEN 24


const char *coffer_table_status_name(enum coffer_table_status s)
{
	switch (s) {
	case COFFER_STATUS_ACTIVE: return "ACTIVE";
	case COFFER_STATUS_CREATING: return "CREATING";
	case COFFER_STATUS_UPDATING: return "UPDATING";
	case COFFER_STATUS_DELETING: return "DELETING";
	case COFFER_STATUS_DELETED: return "DELETED";
	case COFFER_STATUS_RESTORING: return "RESTORING";
	case COFFER_STATUS_INACCESSIBLE: return "INACCESSIBLE_ENCRYPTION_CREDENTIALS";
	}
	return "ACTIVE";
}

bool db_is_system_keyspace(const char *ks)
{
	static const char *const sys[] = COFFER_DB_SYSTEM_KEYSPACES;
	/* every name starts with "system" (db_internal.h): the common answer,
	 * no, costs one compare on every statement's path */
	if (!ks || strncmp(ks, "system", 6) != 0)
		return false;
	for (size_t i = 0; i < COFFER_ARRAY_LEN(sys); i++)
		if (strcmp(ks, sys[i]) == 0)
			return true;
	return false;
}

static char *path_in(const struct coffer_db *db, const char *rel)
{
	return coffer_path_join(db->data_dir, rel);
}

/* ---- table handles -------------------------------------------------------------- */

static enum coffer_type storage_type(const struct coffer_datatype *t)
{
	switch (t->kind) {
	case COFFER_DT_ASCII: return COFFER_TYPE_ASCII;
	case COFFER_DT_TEXT: return COFFER_TYPE_TEXT;
	case COFFER_DT_INT: return COFFER_TYPE_INT;
	case COFFER_DT_BIGINT:
	case COFFER_DT_COUNTER: return COFFER_TYPE_BIGINT;
	case COFFER_DT_SMALLINT: return COFFER_TYPE_SMALLINT;
	case COFFER_DT_TINYINT: return COFFER_TYPE_TINYINT;
	case COFFER_DT_TIMESTAMP: return COFFER_TYPE_TIMESTAMP;
	case COFFER_DT_UUID: return COFFER_TYPE_UUID;
	case COFFER_DT_TIMEUUID: return COFFER_TYPE_TIMEUUID;
	case COFFER_DT_BOOLEAN: return COFFER_TYPE_BOOLEAN;
	case COFFER_DT_DOUBLE: return COFFER_TYPE_DOUBLE;
	case COFFER_DT_FLOAT: return COFFER_TYPE_FLOAT;
	case COFFER_DT_VARINT: return COFFER_TYPE_VARINT;
	case COFFER_DT_DECIMAL: return COFFER_TYPE_DECIMAL;
	case COFFER_DT_DATE: return COFFER_TYPE_DATE;
	case COFFER_DT_TIME: return COFFER_TYPE_TIME;
	case COFFER_DT_INET: return COFFER_TYPE_INET;
	default:
		/* blob, duration, frozen collections and tuples: bytewise (a
		 * documented limitation of frozen collections as clustering keys). */
		return COFFER_TYPE_BLOB;
	}
}

/* The storage description of a table; `id` is the storage id text and must
 * outlive the use of `d`. */
void coffer_db_table_desc(const struct coffer_tabledef *def, const char *id, struct coffer_table_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->keyspace = def->keyspace;
	d->name = def->name;
	d->table_id = id;
	d->schema.n_partition = def->npartition;
	d->schema.n_clustering = def->nclustering;
	for (size_t i = 0, k = 0; i < def->ncolumns && k < COFFER_MAX_CLUSTERING; i++) {
		const struct coffer_column *c = &def->columns[i];
		if (c->kind != COFFER_COLUMN_CLUSTERING)
			continue;
		d->schema.clustering[k].type = storage_type(c->type);
		d->schema.clustering[k].desc = c->order == COFFER_ORDER_DESC;
		k++;
	}
	const char *gc = coffer_strmap_get(&def->options, "gc_grace_seconds");
	if (gc) {
		long long s = strtoll(gc, NULL, 10);
		if (s > 0)
			d->schema.gc_grace_us = (int64_t)s * COFFER_US_PER_SEC;
	}
}

/* The keyring's hook: a table's key state changed on some request's path;
 * the health thread looks at once rather than at its next interval. */
static void on_key_state(void *arg, const char *table_id, coffer_rc rc)
{
	(void)table_id;
	(void)rc;
	db_keyhealth_wake(arg);
}

COFFER_RESULT db_table_open_store_to(struct coffer_db *db, struct db_table *t, bool create,
				     struct coffer_table **out)
{
	struct coffer_table_desc d;
	ENSURE(t->def->nclustering <= COFFER_MAX_CLUSTERING, COFFER_E_INVALID,
	       "Table %s.%s has more than %d clustering columns", t->def->keyspace, t->def->name,
	       COFFER_MAX_CLUSTERING);
	coffer_db_table_desc(t->def, t->storage_id, &d);
	/* Per table: its grant tokens (the keyring copies them). */
	struct coffer_storage_config sc = db->storage;
	const char *tokens[2];
	size_t n = 0;
	for (size_t i = 0; i < 2; i++)
		if (t->grant_tokens[i])
			tokens[n++] = t->grant_tokens[i];
	sc.grants.tokens = n ? tokens : NULL;
	sc.grants.n = n;
	sc.on_key_state = on_key_state;
	sc.on_key_state_arg = db;
	coffer_rc rc = create ? coffer_table_create(&sc, &d, t->kms_key_arn, out) : coffer_table_open(&sc, &d, out);
	if (rc != COFFER_OK)
		return rc;
	/* Storage is told the catalog's PITR setting at every open (pitr.c). */
	rc = db_pitr_apply(db, t->def, *out);
	if (rc != COFFER_OK) {
		coffer_rc crc = rc;
		rc = coffer_error_wrap("table %s.%s: point-in-time recovery: ", t->def->keyspace, t->def->name);
		if (create)
			crc = coffer_table_drop(*out);
		else
			coffer_table_close(*out);
		(void)crc;
		*out = NULL;
	}
	return rc;
}

COFFER_RESULT db_table_open_store(struct coffer_db *db, struct db_table *t, bool create)
{
	return db_table_open_store_to(db, t, create, &t->store);
}

bool db_rc_is_key_error(coffer_rc rc)
{
	return (rc >= COFFER_E_KMS_NOT_FOUND && rc < COFFER_E_KMS_LAST) || rc == COFFER_E_UNAVAILABLE ||
	       rc == COFFER_E_TIMEOUT;
}

void db_table_set_inaccessible(struct db_table *t, coffer_rc rc, const char *msg)
{
	free(t->status_reason);
	t->status = COFFER_STATUS_INACCESSIBLE;
	t->status_reason = coffer_xasprintf("table %s.%s: KMS key %s is not usable: %s (%s)", t->def->keyspace,
					    t->def->name, t->kms_key_arn, coffer_rc_name(rc), msg);
}

struct db_table *db_table_new(struct coffer_tabledef *def)
{
	struct db_table *t = COFFER_NEW(struct db_table);
	t->def = def;
	t->status = COFFER_STATUS_ACTIVE;
	coffer_uuid_format(def->id, t->storage_id);
	return t;
}

void db_table_free(struct db_table *t)
{
	if (!t)
		return;
	if (t->store)
		coffer_table_close(t->store);
	free(t->status_reason);
	db_grants_free(t);
	for (size_t i = 0; i < t->n_col_ids; i++)
		free(t->col_ids[i].name);
	free(t->col_ids);
	free(t);
}

void db_tables_add(struct coffer_db *db, struct db_table *t)
{
	db->tables = coffer_xrealloc(db->tables, sizeof(*db->tables) * (db->n_tables + 1));
	db->tables[db->n_tables++] = t;
}

void db_tables_remove(struct coffer_db *db, struct db_table *t)
{
	for (size_t i = 0; i < db->n_tables; i++) {
		if (db->tables[i] != t)
			continue;
		memmove(&db->tables[i], &db->tables[i + 1], sizeof(*db->tables) * (db->n_tables - i - 1));
		db->n_tables--;
		return;
	}
}

struct db_table *db_table_of(struct coffer_db *db, const struct coffer_tabledef *def)
{
	for (size_t i = 0; i < db->n_tables; i++)
		if (db->tables[i]->def == def)
			return db->tables[i];
	return NULL;
}

COFFER_RESULT db_column_id(struct db_table *t, const char *column, bool create, uint32_t *out)
{
	for (size_t i = 0; i < t->n_col_ids; i++) {
		if (strcmp(t->col_ids[i].name, column) == 0) {
			*out = t->col_ids[i].id;
			return COFFER_OK;
		}
	}
	ENSURE(create, COFFER_E_NOT_FOUND, "Table %s.%s has no storage id for column %s", t->def->keyspace,
	       t->def->name, column);
	ENSURE(t->next_col_id < (1u << 31), COFFER_E_LIMIT, "Table %s.%s has used every column id",
	       t->def->keyspace, t->def->name);
	t->col_ids = coffer_xrealloc(t->col_ids, sizeof(*t->col_ids) * (t->n_col_ids + 1));
	t->col_ids[t->n_col_ids].name = coffer_xstrdup(column);
	t->col_ids[t->n_col_ids].id = t->next_col_id++;
	*out = t->col_ids[t->n_col_ids++].id;
	return COFFER_OK;
}

void db_column_forget(struct db_table *t, const char *column)
{
	for (size_t i = 0; i < t->n_col_ids; i++) {
		if (strcmp(t->col_ids[i].name, column) != 0)
			continue;
		free(t->col_ids[i].name);
		memmove(&t->col_ids[i], &t->col_ids[i + 1], sizeof(*t->col_ids) * (t->n_col_ids - i - 1));
		t->n_col_ids--;
		return;
	}
}

COFFER_RESULT db_table_usable(struct db_table *t)
{
	/* A RESTORING table is written by its restore only (pitr.c). */
	ENSURE(t->status != COFFER_STATUS_RESTORING, COFFER_E_INVALID,
	       "Table %s.%s is RESTORING: it can be used once its status is ACTIVE", t->def->keyspace,
	       t->def->name);
	if (t->store && t->status != COFFER_STATUS_INACCESSIBLE)
		return COFFER_OK;
	BAIL(COFFER_E_INVALID, "Table %s.%s is %s: %s", t->def->keyspace, t->def->name,
	     coffer_table_status_name(t->status),
	     t->status_reason ? t->status_reason : "its storage is not open");
}

/* ---- name resolution ----------------------------------------------------------- */

COFFER_RESULT db_find_table(struct coffer_exec *x, const struct coffer_cql_qname *name, struct db_table **out)
{
	const char *ks = name->keyspace;
	if (!ks && x->session && x->session->keyspace[0])
		ks = x->session->keyspace;
	ENSURE(ks, COFFER_E_INVALID,
	       "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename");
	struct coffer_keyspace *k = coffer_catalog_keyspace(&x->db->catalog, ks, true);
	if (!k) {
		ENSURE(!db_is_system_keyspace(ks), COFFER_E_INVALID, "unconfigured table %s", name->name);
		BAIL(COFFER_E_INVALID, "Keyspace %s does not exist", ks);
	}
	struct coffer_tabledef *def = coffer_keyspace_table(k, name->name, true);
	ENSURE(def, COFFER_E_INVALID, "unconfigured table %s", name->name);
	struct db_table *t = db_table_of(x->db, def);
	ENSURE(t, COFFER_E_INTERNAL, "table %s.%s has no handle", k->name, def->name);
	*out = t;
	return COFFER_OK;
}

/* ---- roles ------------------------------------------------------------------------ */

struct role *db_role_find(struct coffer_db *db, const char *name)
{
	for (size_t i = 0; i < db->n_roles; i++)
		if (strcmp(db->roles[i].name, name) == 0)
			return &db->roles[i];
	return NULL;
}

struct role *db_role_add(struct coffer_db *db, const char *name)
{
	db->roles = coffer_xrealloc(db->roles, sizeof(*db->roles) * (db->n_roles + 1));
	struct role *r = &db->roles[db->n_roles++];
	memset(r, 0, sizeof(*r));
	r->name = coffer_xstrdup(name);
	return r;
}

void db_role_remove(struct coffer_db *db, const char *name)
{
	for (size_t i = 0; i < db->n_roles; i++) {
		if (strcmp(db->roles[i].name, name) != 0)
			continue;
		free(db->roles[i].name);
		free(db->roles[i].hash);
		memmove(&db->roles[i], &db->roles[i + 1], sizeof(*db->roles) * (db->n_roles - i - 1));
		db->n_roles--;
		return;
	}
}

COFFER_RESULT db_role_check(struct coffer_db *db, struct coffer_slice user, struct coffer_slice pw, bool *ok)
{
	char *hash = NULL;
	bool login = false;
	*ok = false;
	if (user.len == 0 || user.len > NAME_MAX_BYTES || memchr(user.ptr, 0, user.len))
		return COFFER_OK;
	char *name = coffer_xstrndup((const char *)user.ptr, user.len);
	pthread_rwlock_rdlock(&db->schema_lock);
	struct role *r = db_role_find(db, name);
	if (r && r->hash) {
		hash = coffer_xstrdup(r->hash);
		login = r->login;
	}
	pthread_rwlock_unlock(&db->schema_lock);
	free(name);
	/* PBKDF2 outside the lock: it is slow on purpose. An unknown role (or
	 * one without a password) is checked against a dummy hash, so timing
	 * does not tell which roles exist. */
	bool match = false;
	coffer_rc rc = coffer_proto_password_verify(pw.ptr, pw.len, hash ? hash : db->dummy_hash, &match);
	bool known = hash != NULL;
	free(hash);
	TRY(rc);
	*ok = known && match && login;
	return COFFER_OK;
}

/* ---- schema version --------------------------------------------------------------- */

static void new_uuid(uint8_t u[16])
{
	if (coffer_random_bytes(u, 16) != COFFER_OK)
		abort(); /* the DRBG failing is not recoverable */
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
}

void db_schema_changed(struct coffer_db *db, const struct coffer_proto_schema_change *sc)
{
	new_uuid(db->schema_version);
	if (sc && db->cfg.on_schema_change)
		db->cfg.on_schema_change(db->cfg.on_schema_change_arg, sc);
}

/* ---- the catalog file ---------------------------------------------------------------- */

static void encode_payload(const struct coffer_db *db, struct coffer_buf *p)
{
	struct coffer_buf tmp = {0};
	coffer_buf_put(p, db->host_id, 16);
	coffer_buf_put_varint(p, db->n_roles);
	for (size_t i = 0; i < db->n_roles; i++) {
		const struct role *r = &db->roles[i];
		coffer_buf_put_str(p, r->name);
		coffer_buf_put_u8(p, (uint8_t)((r->login ? ROLE_LOGIN : 0) | (r->superuser ? ROLE_SUPER : 0) |
					       (r->hash ? ROLE_HASH : 0)));
		coffer_buf_put_str(p, r->hash ? r->hash : "");
	}
	coffer_buf_put_varint(p, db->catalog.nkeyspaces);
	for (size_t i = 0; i < db->catalog.nkeyspaces; i++) {
		const struct coffer_keyspace *ks = db->catalog.keyspaces[i];
		coffer_buf_reset(&tmp);
		coffer_keyspace_encode(ks, &tmp);
		coffer_buf_put_lenbytes(p, tmp.ptr, tmp.len);
		coffer_buf_put_varint(p, ks->ntables);
		for (size_t j = 0; j < ks->ntables; j++) {
			const struct db_table *t = NULL;
			for (size_t k = 0; k < db->n_tables && !t; k++)
				if (db->tables[k]->def == ks->tables[j])
					t = db->tables[k];
			coffer_buf_reset(&tmp);
			coffer_tabledef_encode(ks->tables[j], &tmp);
			coffer_buf_put_lenbytes(p, tmp.ptr, tmp.len);
			/* A table whose key is unreachable is persisted as ACTIVE:
			 * inaccessibility is found again at each open. */
			enum coffer_table_status st = t && t->status != COFFER_STATUS_INACCESSIBLE
							      ? t->status : COFFER_STATUS_ACTIVE;
			coffer_buf_put_u8(p, (uint8_t)st);
			coffer_buf_put_str(p, t ? t->kms_key_arn : "");
			coffer_buf_put_str(p, t ? t->storage_id : "");
			coffer_buf_put_u32(p, t ? t->next_col_id : 0);
			coffer_buf_put_varint(p, t ? t->n_col_ids : 0);
			for (size_t k = 0; t && k < t->n_col_ids; k++) {
				coffer_buf_put_str(p, t->col_ids[k].name);
				coffer_buf_put_u32(p, t->col_ids[k].id);
			}
		}
	}
	coffer_buf_free(&tmp);
	/* Format 2: table extras, grant releases, events. */
	coffer_buf_put_varint(p, db->n_tables);
	for (size_t i = 0; i < db->n_tables; i++) {
		const struct db_table *t = db->tables[i];
		uint8_t ng = 0;
		coffer_buf_put_str(p, t->storage_id);
		coffer_buf_put_u8(p, (uint8_t)t->status);
		coffer_buf_put_str(p, t->status_reason ? t->status_reason : "");
		for (size_t g = 0; g < 2; g++)
			ng = (uint8_t)(ng + (t->grant_ids[g][0] != 0));
		coffer_buf_put_u8(p, ng);
		for (size_t g = 0; g < 2; g++) {
			if (!t->grant_ids[g][0])
				continue;
			coffer_buf_put_str(p, t->grant_ids[g]);
			coffer_buf_put_str(p, t->grant_tokens[g] ? t->grant_tokens[g] : "");
		}
	}
	coffer_buf_put_varint(p, db->n_releases);
	for (size_t i = 0; i < db->n_releases; i++) {
		coffer_buf_put_str(p, db->releases[i].key_arn);
		coffer_buf_put_str(p, db->releases[i].grant_id);
		coffer_buf_put_u64(p, (uint64_t)db->releases[i].due_us);
	}
	coffer_buf_put_varint(p, db->n_events);
	for (size_t i = 0; i < db->n_events; i++) {
		const struct db_event *e = &db->events[i];
		coffer_buf_put_u64(p, (uint64_t)e->time_us);
		coffer_buf_put_str(p, e->keyspace);
		coffer_buf_put_str(p, e->table);
		coffer_buf_put_str(p, e->event);
		coffer_buf_put_str(p, e->kms_key);
		coffer_buf_put_str(p, e->reason);
	}
	/* Format 3. */
	db_pitr_encode(db, p);
}

COFFER_RESULT db_save_catalog(struct coffer_db *db)
{
	coffer_rc rc;
	struct coffer_buf payload, file = {0};
	coffer_buf_init_secure(&payload);
	char *path = path_in(db, "schema/catalog.bin");
	encode_payload(db, &payload);
	uint64_t version = db->catalog_version + 1;
	coffer_buf_put(&file, CATALOG_MAGIC, 4);
	coffer_buf_put_u8(&file, CATALOG_FORMAT);
	coffer_buf_put_u64(&file, version);
	uint8_t *nonce = coffer_buf_extend(&file, COFFER_AEAD_NONCE_BYTES);
	TRY_FAIL(coffer_random_bytes(nonce, COFFER_AEAD_NONCE_BYTES));
	struct coffer_buf aad = {0};
	coffer_buf_put(&aad, "coffer:catalog", 14);
	coffer_buf_put(&aad, file.ptr, CATALOG_HEADER);
	uint8_t *ct = coffer_buf_extend(&file, payload.len + COFFER_AEAD_TAG_BYTES);
	rc = coffer_aead_seal(db->catalog_key.ptr, file.ptr + CATALOG_HEADER, coffer_buf_slice(&aad),
			      coffer_buf_slice(&payload), ct, ct + payload.len);
	coffer_buf_free(&aad);
	TRY_FAIL(rc);
	TRY_FAIL(coffer_fs_write_atomic(path, coffer_buf_slice(&file), 0600));
	db->catalog_version = version;
fail:
	if (rc != COFFER_OK)
		coffer_error_wrap("saving the catalog %s: ", path);
	coffer_buf_free(&payload);
	coffer_buf_free(&file);
	free(path);
	return rc;
}

static COFFER_RESULT decode_roles(struct coffer_db *db, struct coffer_reader *r)
{
	uint64_t n;
	TRY(coffer_reader_varint(r, &n));
	ENSURE(n <= coffer_reader_left(r), COFFER_E_CORRUPT, "role count %llu past the end",
	       (unsigned long long)n);
	for (uint64_t i = 0; i < n; i++) {
		char *name = NULL, *hash = NULL;
		uint8_t flags;
		coffer_rc rc;
		TRY_FAIL(coffer_reader_str(r, NAME_MAX_BYTES, &name));
		TRY_FAIL(coffer_reader_u8(r, &flags));
		TRY_FAIL(coffer_reader_str(r, 4096, &hash));
		ENSURE_FAIL(!db_role_find(db, name), COFFER_E_CORRUPT, "duplicate role");
		struct role *ro = db_role_add(db, name);
		ro->login = flags & ROLE_LOGIN;
		ro->superuser = flags & ROLE_SUPER;
		if (flags & ROLE_HASH) {
			ro->hash = hash;
			hash = NULL;
		}
		free(name);
		free(hash);
		continue;
fail:
		free(name);
		free(hash);
		return rc;
	}
	return COFFER_OK;
}

static COFFER_RESULT decode_table(struct coffer_db *db, struct coffer_keyspace *ks, struct coffer_reader *r)
{
	struct coffer_slice s;
	struct coffer_tabledef *def = NULL;
	struct db_table *t = NULL;
	char *arn = NULL, *sid = NULL;
	uint8_t status;
	uint64_t n;
	coffer_rc rc;
	TRY(coffer_reader_lenbytes(r, CATALOG_MAX_BYTES, &s));
	TRY(coffer_tabledef_decode(s, &def));
	TRY_FAIL(coffer_reader_u8(r, &status));
	ENSURE_FAIL(status <= COFFER_STATUS_INACCESSIBLE, COFFER_E_CORRUPT, "bad table status %u", status);
	TRY_FAIL(coffer_reader_str(r, COFFER_KEY_ARN_MAX - 1, &arn));
	TRY_FAIL(coffer_reader_str(r, COFFER_UUID_STR_LEN, &sid));
	ENSURE_FAIL(strlen(sid) == COFFER_UUID_STR_LEN, COFFER_E_CORRUPT, "bad storage id");
	ENSURE_FAIL(strcmp(def->keyspace, ks->name) == 0, COFFER_E_CORRUPT, "table in the wrong keyspace");
	t = db_table_new(def);
	t->status = (enum coffer_table_status)status;
	snprintf(t->kms_key_arn, sizeof(t->kms_key_arn), "%s", arn);
	memcpy(t->storage_id, sid, COFFER_UUID_STR_LEN + 1);
	TRY_FAIL(coffer_reader_u32(r, &t->next_col_id));
	TRY_FAIL(coffer_reader_varint(r, &n));
	ENSURE_FAIL(n <= coffer_reader_left(r), COFFER_E_CORRUPT, "column id count past the end");
	for (uint64_t i = 0; i < n; i++) {
		char *name = NULL;
		uint32_t id;
		TRY_FAIL(coffer_reader_str(r, NAME_MAX_BYTES, &name));
		rc = coffer_reader_u32(r, &id);
		if (rc != COFFER_OK || id >= t->next_col_id) {
			free(name);
			if (rc == COFFER_OK)
				rc = coffer_error_set(COFFER_E_CORRUPT, COFFER_WHERE, "column id past next id");
			goto fail;
		}
		t->col_ids = coffer_xrealloc(t->col_ids, sizeof(*t->col_ids) * (t->n_col_ids + 1));
		t->col_ids[t->n_col_ids].name = name;
		t->col_ids[t->n_col_ids++].id = id;
	}
	rc = coffer_keyspace_add_table(ks, def);
	if (rc != COFFER_OK) {
		rc = coffer_error_set(COFFER_E_CORRUPT, COFFER_WHERE, "table does not fit its keyspace: %s",
				      coffer_error_msg());
		goto fail;
	}
	def = NULL; /* owned by the keyspace now */
	db_tables_add(db, t);
	free(arn);
	free(sid);
	return COFFER_OK;
fail:
	if (t)
		t->def = NULL;
	db_table_free(t);
	coffer_tabledef_free(def);
	free(arn);
	free(sid);
	return rc;
}

static struct db_table *table_by_storage_id(struct coffer_db *db, const char *sid)
{
	for (size_t i = 0; i < db->n_tables; i++)
		if (strcmp(db->tables[i]->storage_id, sid) == 0)
			return db->tables[i];
	return NULL;
}

/* A string field into a fixed buffer (cap includes the NUL). */
static COFFER_RESULT read_fixed(struct coffer_reader *r, char *dst, size_t cap)
{
	char *s = NULL;
	TRY(coffer_reader_str(r, cap - 1, &s));
	snprintf(dst, cap, "%s", s);
	free(s);
	return COFFER_OK;
}

static COFFER_RESULT decode_table_extra(struct coffer_db *db, struct coffer_reader *r)
{
	char sid[COFFER_UUID_STR_LEN + 1];
	char *reason = NULL, *tok = NULL;
	char gid[COFFER_KEY_GRANT_ID_MAX];
	uint8_t status, ng;
	coffer_rc rc;
	TRY(read_fixed(r, sid, sizeof(sid)));
	struct db_table *t = table_by_storage_id(db, sid);
	ENSURE(t, COFFER_E_CORRUPT, "table extras for an unknown storage id");
	TRY(coffer_reader_u8(r, &status));
	ENSURE(status <= COFFER_STATUS_INACCESSIBLE, COFFER_E_CORRUPT, "bad table status %u", status);
	TRY(coffer_reader_str(r, 8192, &reason));
	if (status == COFFER_STATUS_INACCESSIBLE) {
		t->status = COFFER_STATUS_INACCESSIBLE;
		free(t->status_reason);
		t->status_reason = reason[0] ? reason : NULL;
		if (!reason[0])
			free(reason);
	} else {
		free(reason);
	}
	TRY(coffer_reader_u8(r, &ng));
	ENSURE(ng <= 2, COFFER_E_CORRUPT, "bad grant count %u", ng);
	for (uint8_t g = 0; g < ng; g++) {
		TRY(read_fixed(r, gid, sizeof(gid)));
		TRY_FAIL(coffer_reader_str(r, 4096, &tok));
		snprintf(t->grant_ids[g], sizeof(t->grant_ids[g]), "%s", gid);
		free(t->grant_tokens[g]);
		t->grant_tokens[g] = tok[0] ? tok : NULL;
		if (!tok[0])
			free(tok);
		tok = NULL;
	}
	return COFFER_OK;
fail:
	free(tok);
	return rc;
}

static COFFER_RESULT decode_extras(struct coffer_db *db, struct coffer_reader *r)
{
	uint64_t n;
	TRY(coffer_reader_varint(r, &n));
	ENSURE(n <= coffer_reader_left(r), COFFER_E_CORRUPT, "table-extra count past the end");
	for (uint64_t i = 0; i < n; i++)
		TRY(decode_table_extra(db, r));
	TRY(coffer_reader_varint(r, &n));
	ENSURE(n <= coffer_reader_left(r), COFFER_E_CORRUPT, "grant-release count past the end");
	db->releases = coffer_xcalloc(n ? n : 1, sizeof(*db->releases));
	for (uint64_t i = 0; i < n; i++) {
		struct db_grant_release *g = &db->releases[db->n_releases];
		uint64_t due;
		TRY(read_fixed(r, g->key_arn, sizeof(g->key_arn)));
		TRY(read_fixed(r, g->grant_id, sizeof(g->grant_id)));
		TRY(coffer_reader_u64(r, &due));
		g->due_us = (int64_t)due;
		db->n_releases++;
	}
	TRY(coffer_reader_varint(r, &n));
	ENSURE(n <= DB_EVENTS_MAX && n <= coffer_reader_left(r), COFFER_E_CORRUPT, "bad event count");
	for (uint64_t i = 0; i < n; i++) {
		struct db_event *e = &db->events[db->n_events++];
		uint64_t ts;
		TRY(coffer_reader_u64(r, &ts));
		e->time_us = (int64_t)ts;
		TRY(coffer_reader_str(r, NAME_MAX_BYTES, &e->keyspace));
		TRY(coffer_reader_str(r, NAME_MAX_BYTES, &e->table));
		TRY(coffer_reader_str(r, 256, &e->event));
		TRY(coffer_reader_str(r, COFFER_KEY_ARN_MAX, &e->kms_key));
		TRY(coffer_reader_str(r, 8192, &e->reason));
	}
	return COFFER_OK;
}

COFFER_RESULT db_catalog_decode(struct coffer_db *db, struct coffer_slice p, uint8_t format)
{
	struct coffer_reader r;
	uint64_t nks;
	coffer_reader_init(&r, p, "catalog");
	TRY(coffer_reader_copy(&r, db->host_id, 16));
	TRY(decode_roles(db, &r));
	TRY(coffer_reader_varint(&r, &nks));
	ENSURE(nks <= coffer_reader_left(&r), COFFER_E_CORRUPT, "keyspace count past the end");
	for (uint64_t i = 0; i < nks; i++) {
		struct coffer_slice s;
		char *name = NULL;
		struct coffer_strmap repl = {0};
		bool durable;
		struct coffer_keyspace *ks;
		uint64_t nt;
		TRY(coffer_reader_lenbytes(&r, CATALOG_MAX_BYTES, &s));
		TRY(coffer_keyspace_decode(s, &name, &repl, &durable));
		coffer_rc rc = coffer_catalog_add_keyspace(&db->catalog, name, &repl, durable, &ks);
		free(name);
		coffer_strmap_free(&repl);
		ENSURE(rc == COFFER_OK, COFFER_E_CORRUPT, "bad keyspace entry: %s", coffer_error_msg());
		TRY(coffer_reader_varint(&r, &nt));
		ENSURE(nt <= coffer_reader_left(&r), COFFER_E_CORRUPT, "table count past the end");
		for (uint64_t j = 0; j < nt; j++)
			TRY(decode_table(db, ks, &r));
	}
	if (format >= 2)
		TRY(decode_extras(db, &r));
	if (format >= 3)
		TRY(db_pitr_decode(db, &r));
	return coffer_reader_end(&r);
}

static COFFER_RESULT load_catalog(struct coffer_db *db, const char *path)
{
	coffer_rc rc;
	struct coffer_buf pt;
	uint8_t format;
	uint64_t version;
	coffer_buf_init_secure(&pt);
	TRY_FAIL(db_catalog_unseal(&db->catalog_key, path, &pt, &format, &version));
	rc = db_catalog_decode(db, coffer_buf_slice(&pt), format);
	if (rc != COFFER_OK) {
		rc = coffer_error_set(COFFER_E_CORRUPT, COFFER_WHERE, "%s", coffer_error_msg());
		goto fail;
	}
	db->catalog_version = version;
fail:
	if (rc != COFFER_OK)
		coffer_error_wrap("catalog %s: ", path);
	coffer_buf_free(&pt);
	return rc;
}

/* Invariant 5. */
#define CATALOG_UNLOCK_BUDGET_US (6 * COFFER_US_PER_SEC)

static bool kms_unreachable(coffer_rc rc)
{
	return rc == COFFER_E_UNAVAILABLE || rc == COFFER_E_TIMEOUT || rc == COFFER_E_KMS_THROTTLING ||
	       rc == COFFER_E_KMS_DEPENDENCY_TIMEOUT;
}

/* One unwrap (blob non-empty) or generate (blob empty) of the catalog key,
 * retried while the KMS cannot be reached, within the budget. */
static COFFER_RESULT catalog_key_call(struct coffer_db *db, struct coffer_slice wrapped,
				      struct coffer_buf *blob, char arn[COFFER_KEY_ARN_MAX])
{
	int64_t start = coffer_clock_mono_us(db->clock);
	int64_t pause_us = 200000;
	int attempts = 0;
	for (;;) {
		coffer_rc rc;
		attempts++;
		if (wrapped.len)
			rc = coffer_key_provider_decrypt(db->cfg.provider, wrapped, &db_catalog_ctx, NULL, NULL,
							 &db->catalog_key, arn);
		else
			rc = coffer_key_provider_generate_data_key(db->cfg.provider, db->service_key,
								   &db_catalog_ctx, NULL, &db->catalog_key,
								   blob, arn);
		if (rc == COFFER_OK || !kms_unreachable(rc))
			return rc;
		int64_t spent = coffer_clock_mono_us(db->clock) - start;
		if (spent + pause_us > CATALOG_UNLOCK_BUDGET_US) {
			char msg[512];
			snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
			return coffer_error_set(COFFER_E_UNAVAILABLE, COFFER_WHERE,
						"KMS unreachable (%d attempts "
						"over %.1f s): %s",
						attempts, (double)spent / 1e6, msg);
		}
		coffer_log_warn(db->log, "db", "catalog key: KMS unreachable (%s); retrying in %lld ms",
				coffer_rc_name(rc), (long long)(pause_us / 1000));
		struct timespec ts = {(time_t)(pause_us / COFFER_US_PER_SEC),
				      (long)(pause_us % COFFER_US_PER_SEC) * 1000};
		nanosleep(&ts, NULL);
		pause_us = pause_us * 2 > COFFER_US_PER_SEC ? COFFER_US_PER_SEC : pause_us * 2;
	}
}

/* Reads (or on first start creates) the catalog data key. */
static COFFER_RESULT catalog_key(struct coffer_db *db, bool *created)
{
	coffer_rc rc;
	char arn[COFFER_KEY_ARN_MAX];
	struct coffer_buf file = {0}, blob = {0};
	char *path = path_in(db, "schema/catalog.key");
	*created = false;
	if (!coffer_fs_exists(path)) {
		TRY_FAIL(catalog_key_call(db, coffer_slice_of(NULL, 0), &blob, arn));
		coffer_buf_put(&file, CATALOG_KEY_MAGIC, 4);
		coffer_buf_put_u8(&file, CATALOG_KEY_FORMAT);
		coffer_buf_put_lenbytes(&file, blob.ptr, blob.len);
		TRY_FAIL(coffer_fs_write_atomic(path, coffer_buf_slice(&file), 0600));
		*created = true;
		goto fail; /* done */
	}
	TRY_FAIL(coffer_fs_read_all(path, 1u << 16, &file));
	struct coffer_slice b;
	TRY_FAIL(db_catalog_key_blob(coffer_buf_slice(&file), &b));
	TRY_FAIL(catalog_key_call(db, b, NULL, arn));
fail:
	if (rc != COFFER_OK)
		coffer_error_wrap("catalog key %s: ", path);
	free(path);
	coffer_buf_free(&file);
	coffer_buf_free(&blob);
	return rc;
}

static COFFER_RESULT make_superuser(struct coffer_db *db)
{
	static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
	char generated[GENERATED_PASSWORD_LEN + 2];
	const char *pw = db->cfg.superuser_password;
	coffer_rc rc = COFFER_OK;
	char *path = NULL;
	if (!pw || !*pw) {
		uint8_t rnd[GENERATED_PASSWORD_LEN];
		TRY(coffer_random_bytes(rnd, sizeof(rnd)));
		for (size_t i = 0; i < GENERATED_PASSWORD_LEN; i++)
			generated[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
		coffer_wipe(rnd, sizeof(rnd));
		generated[GENERATED_PASSWORD_LEN] = '\n';
		generated[GENERATED_PASSWORD_LEN + 1] = 0;
		path = path_in(db, "superuser.password");
		TRY_FAIL(coffer_fs_write_atomic(path, coffer_slice_of(generated, GENERATED_PASSWORD_LEN + 1), 0600));
		generated[GENERATED_PASSWORD_LEN] = 0;
		pw = generated;
		printf("coffer: superuser password written to %s\n", path);
		fflush(stdout);
	}
	char *hash = NULL;
	TRY_FAIL(coffer_proto_password_hash(pw, strlen(pw), db->cfg.password_iterations, &hash));
	struct role *r = db_role_add(db, SUPERUSER_NAME);
	r->hash = hash;
	r->login = true;
	r->superuser = true;
	coffer_log_info(db->log, "db", "first start: superuser role %s created", SUPERUSER_NAME);
fail:
	coffer_wipe(generated, sizeof(generated));
	free(path);
	return rc;
}

static bool dir_has_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool any = false;
	if (!d)
		return false;
	while (!any && (e = readdir(d)) != NULL)
		any = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return any;
}

/* Opens every table's storage. A table whose status changes here (into or
 * out of INACCESSIBLE) raises an event, returned in *evs. */
static void open_tables(struct coffer_db *db, struct db_event ***evs, size_t *n_evs, bool *arn_fixed)
{
	for (size_t i = 0; i < db->n_tables; i++) {
		struct db_table *t = db->tables[i];
		coffer_rc rc = db_table_open_store(db, t, false);
		if (rc == COFFER_OK) {
			if (t->status == COFFER_STATUS_UPDATING || t->status == COFFER_STATUS_CREATING)
				t->status = COFFER_STATUS_ACTIVE;
			/* A key change the catalog did not record (a crash between
			 * the keyring's switch and the save): the keyring is the truth. */
			struct coffer_keyring_info ki;
			coffer_keyring_info(coffer_table_keyring(t->store), &ki);
			if (strcmp(ki.kms_key_arn, t->kms_key_arn) != 0) {
				coffer_log_warn(db->log, "db", "table %s.%s: the catalog named key %s, its keyring %s; "
							       "using the keyring's",
						t->def->keyspace, t->def->name, t->kms_key_arn, ki.kms_key_arn);
				snprintf(t->kms_key_arn, sizeof(t->kms_key_arn), "%s", ki.kms_key_arn);
				*arn_fixed = true;
			}
			if (t->status == COFFER_STATUS_INACCESSIBLE) {
				/* The table key came from the KMS just now (the cache
				 * is fresh at open): access is back. */
				t->status = COFFER_STATUS_ACTIVE;
				free(t->status_reason);
				t->status_reason = NULL;
				*evs = coffer_xrealloc(*evs, sizeof(**evs) * (*n_evs + 1));
				(*evs)[(*n_evs)++] = db_event_record(db, t->def->keyspace, t->def->name, "ACTIVE",
								     t->kms_key_arn, "the KMS key is usable again");
			}
			continue;
		}
		t->store = NULL;
		bool was = t->status == COFFER_STATUS_INACCESSIBLE;
		db_table_set_inaccessible(t, rc, coffer_error_msg());
		if (!was && db_rc_is_key_error(rc)) {
			*evs = coffer_xrealloc(*evs, sizeof(**evs) * (*n_evs + 1));
			(*evs)[(*n_evs)++] = db_event_record(db, t->def->keyspace, t->def->name,
							     coffer_table_status_name(t->status), t->kms_key_arn,
							     t->status_reason);
		}
		if (!db_rc_is_key_error(rc)) {
			/* Not a key problem: the table's files are damaged or
			 * missing. Still never fatal for the other tables. */
			free(t->status_reason);
			t->status_reason = coffer_xasprintf("table %s.%s: storage could not be opened: %s (%s)",
							    t->def->keyspace, t->def->name, coffer_rc_name(rc),
							    coffer_error_msg());
		}
		coffer_log_warn(db->log, "db", "table %s.%s (key %s) not opened: %s", t->def->keyspace,
				t->def->name, t->kms_key_arn, coffer_rc_name(rc));
	}
}

void db_init_bare(struct coffer_db *db)
{
	pthread_rwlock_init(&db->schema_lock, NULL);
	db_prepared_cache_init(&db->prepared, db->cfg.prepared_max_entries, db->cfg.prepared_max_bytes);
	pthread_mutex_init(&db->health_mu, NULL);
	pthread_cond_init(&db->health_cv, NULL);
	if (!db->events)
		db->events = coffer_xcalloc(DB_EVENTS_MAX, sizeof(*db->events));
	for (size_t i = 0; i < DB_DML_LOCKS; i++)
		pthread_mutex_init(&db->dml_locks[i], NULL);
	db_batchlog_init(db);
	db_pitr_init(db);
	coffer_catalog_init(&db->catalog);
}

COFFER_RESULT coffer_db_open(const struct coffer_db_config *cfg, struct coffer_db **out)
{
	coffer_rc rc;
	bool key_created = false;
	char *schema_dir = NULL, *data = NULL, *cat = NULL;
	ENSURE(cfg && cfg->data_dir && cfg->provider && cfg->cache && cfg->service_key && *cfg->service_key,
	       COFFER_E_INVALID, "coffer_db_open: incomplete configuration");
	struct coffer_db *db = COFFER_NEW(struct coffer_db);
	db->cfg = *cfg;
	/* Every KMS call the database makes goes through a counting provider
	 * that attributes it to its table (keyhealth.c, db_kms_note). */
	pthread_mutex_init(&db->kms_mu, NULL);
	db->inner_provider = cfg->provider;
	db->cfg.provider = coffer_key_provider_counting(cfg->provider, db_kms_note, db);
	db->data_dir = coffer_xstrdup(cfg->data_dir);
	db->service_key = coffer_xstrdup(cfg->service_key);
	db->cfg.data_dir = db->data_dir;
	db->cfg.service_key = db->service_key;
	db->cfg.superuser_password = NULL; /* never kept */
	db->log = cfg->log ? cfg->log : coffer_log_null();
	db->clock = cfg->clock ? cfg->clock : coffer_clock_system();
	db_init_bare(db);
	db->notify_webhook = cfg->notify_webhook && *cfg->notify_webhook ? coffer_xstrdup(cfg->notify_webhook) : NULL;
	db->notify_command = cfg->notify_command && *cfg->notify_command ? coffer_xstrdup(cfg->notify_command) : NULL;
	db->cfg.notify_webhook = db->notify_webhook;
	db->cfg.notify_command = db->notify_command;
	schema_dir = path_in(db, "schema");
	data = path_in(db, "data");
	cat = path_in(db, "schema/catalog.bin");
	TRY_FAIL(coffer_fs_mkdirs(schema_dir, 0700));
	TRY_FAIL(coffer_fs_mkdirs(data, 0700));
	db->storage = (struct coffer_storage_config){
		.data_dir = data,
		.provider = db->cfg.provider,
		.cache = cfg->cache,
		.clock = db->clock,
		.log = db->log,
		.no_sync = cfg->no_sync,
	};
	TRY_FAIL(coffer_proto_password_hash("coffer:dummy", 12, cfg->password_iterations, &db->dummy_hash));
	TRY_FAIL(catalog_key(db, &key_created));
	if (coffer_fs_exists(cat)) {
		struct db_event **evs = NULL;
		size_t n_evs = 0;
		TRY_FAIL(load_catalog(db, cat));
		bool arn_fixed = false;
		db_pitr_open(db); /* restores and deletions a restart interrupted */
		open_tables(db, &evs, &n_evs, &arn_fixed);
		if ((n_evs || arn_fixed) && db_save_catalog(db) != COFFER_OK)
			coffer_log_error(db->log, "db", "saving table statuses: %s", coffer_error_msg());
		for (size_t i = 0; i < n_evs; i++) {
			db_event_deliver(db, evs[i]);
			db_event_free(evs[i]);
		}
		free(evs);
	} else {
		/* A missing catalog with table data beside it is damage, not a
		 * first start: refuse rather than start empty. */
		ENSURE_FAIL(key_created || !dir_has_entries(data), COFFER_E_CORRUPT,
			    "catalog %s is missing but %s holds tables", cat, data);
		new_uuid(db->host_id);
		db->cfg.superuser_password = cfg->superuser_password;
		rc = make_superuser(db);
		db->cfg.superuser_password = NULL;
		TRY_FAIL(rc);
		TRY_FAIL(db_save_catalog(db));
	}
	/* Logged batches a crash interrupted (batchlog.c). One that cannot be
	 * replayed is logged and kept; the database still opens. */
	size_t replayed;
	if (db_batchlog_replay(db, &replayed) != COFFER_OK)
		coffer_log_error(db->log, "db", "some batch logs were not replayed: %s", coffer_error_msg());
	else if (replayed)
		coffer_log_warn(db->log, "db", "%zu interrupted logged batches replayed", replayed);
	new_uuid(db->schema_version);
	TRY_FAIL(db_keyhealth_start(db));
	free(schema_dir);
	free(cat);
	/* `data` stays: db->storage.data_dir borrows it (freed at close). */
	*out = db;
	return COFFER_OK;
fail:
	free(schema_dir);
	free(cat);
	db->storage.data_dir = NULL;
	free(data);
	coffer_db_close(db);
	return rc;
}

void coffer_db_close(struct coffer_db *db)
{
	if (!db)
		return;
	db_keyhealth_stop(db);
	db_pitr_close(db);
	for (size_t i = 0; i < db->n_tables; i++)
		db_table_free(db->tables[i]);
	for (size_t i = 0; i < db->n_events; i++)
		db_event_clear(&db->events[i]);
	free(db->events);
	free(db->releases);
	free(db->notify_webhook);
	free(db->notify_command);
	coffer_key_provider_free(db->cfg.provider); /* the counting one */
	db_kms_stats_free(db->kms_stats, db->n_kms_stats);
	pthread_mutex_destroy(&db->kms_mu);
	pthread_mutex_destroy(&db->health_mu);
	pthread_cond_destroy(&db->health_cv);
	free(db->tables);
	coffer_catalog_free(&db->catalog);
	for (size_t i = 0; i < db->n_roles; i++) {
		free(db->roles[i].name);
		free(db->roles[i].hash);
	}
	free(db->roles);
	db_prepared_cache_free(&db->prepared);
	coffer_secret_free(&db->catalog_key);
	db_batchlog_close(db);
	pthread_rwlock_destroy(&db->schema_lock);
	for (size_t i = 0; i < DB_DML_LOCKS; i++)
		pthread_mutex_destroy(&db->dml_locks[i]);
	free((char *)db->storage.data_dir);
	free(db->data_dir);
	free(db->service_key);
	free(db->dummy_hash);
	free(db);
}

COFFER_RESULT coffer_db_flush_all(struct coffer_db *db)
{
	coffer_rc first = COFFER_OK;
	pthread_rwlock_rdlock(&db->schema_lock);
	for (size_t i = 0; i < db->n_tables; i++) {
		if (!db->tables[i]->store)
			continue;
		coffer_rc rc = coffer_table_flush(db->tables[i]->store);
		if (rc != COFFER_OK && first == COFFER_OK)
			first = coffer_error_wrap("flushing %s.%s: ", db->tables[i]->def->keyspace,
						  db->tables[i]->def->name);
	}
	pthread_rwlock_unlock(&db->schema_lock);
	return first;
}
