/*
 * exec_ddl.c - the statements that change the schema or the roles: USE;
 * CREATE/ALTER/DROP KEYSPACE; CREATE/ALTER/DROP TABLE and TRUNCATE; CREATE/
 * ALTER/DROP ROLE (and USER) and LIST ROLES (and USERS).
 *
 * A table's storage lives under a KMS key: AWS_OWNED_KMS_KEY (the default)
 * is the coffer service key; CUSTOMER_MANAGED_KMS_KEY names a key that is
 * checked with DescribeKey before anything is created, so a key that does
 * not exist, is disabled, is pending deletion or may not be used fails the
 * statement with Invalid and a message saying which key and why (as Amazon
 * Keyspaces does). ALTER TABLE ... WITH CUSTOM_PROPERTIES changing the
 * encryption_specification changes the table's key online
 * (coffer_table_change_key: re-wraps keys, rewrites no data); the status is
 * UPDATING (persisted) while it runs, then ACTIVE.
 *
 * TRUNCATE crypto-shreds the table's storage (coffer_table_drop) and creates
 * an empty one under the same KMS key with a fresh storage id; the table id
 * that system_schema shows does not change, as in Cassandra.
 *
 * Invariants:
 *  1. Every statement here holds schema_lock for writing while it changes
 *     the schema (USE and LIST ROLES only read), and persists the catalog
 *     (db_save_catalog) before it answers. When the save fails the
 *     in-memory schema is put back as it was, and storage created for the
 *     statement is dropped again.
 *  2. Storage is destroyed only after the catalog that no longer names it
 *     is durable, so a crash never leaves the catalog naming shredded data.
 *  3. Role passwords are hashed (PBKDF2) before the lock is taken and never
 *     logged; role changes need a superuser (a role may change its own
 *     password).
 *  4. Error messages follow Cassandra 3.11's wording where drivers or users
 *     match on them; AlreadyExists carries keyspace and table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/crypto.h"
#include "db/db_internal.h"
#include "keys/keyring.h"

#define NAME_MAX_CHARS 48

/* ---- helpers --------------------------------------------------------------------- */

/* For calls whose failure cannot change the outcome (cleanup after an
 * earlier error, or removing what was just found). */
static void ignore_rc(coffer_rc rc)
{
	(void)rc;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NAME_MAX_CHARS)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

static void random_uuid(uint8_t u[16])
{
	if (coffer_random_bytes(u, 16) != COFFER_OK)
		abort(); /* the DRBG failing is not recoverable */
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
}

static const char *keyspace_of(struct coffer_exec *x, const struct coffer_cql_qname *q)
{
	if (q->keyspace)
		return q->keyspace;
	return x->session && x->session->keyspace[0] ? x->session->keyspace : NULL;
}

/* The answer to a successful schema change: the RESULT body now, the event
 * after the lock is released (schema_change_notify). */
static COFFER_RESULT schema_result(struct coffer_exec *x, const char *change, const char *target,
				   const char *ks, const char *name)
{
	struct coffer_proto_schema_change *sc = &x->change;
	memset(sc, 0, sizeof(*sc));
	sc->change = change;
	sc->target = target;
	sc->keyspace = coffer_arena_strdup(x->arena, ks);
	sc->name = name ? coffer_arena_strdup(x->arena, name) : NULL;
	x->schema_changed = true;
	db_schema_changed(x->db, NULL); /* new schema_version, under the lock */
	return coffer_proto_put_result_schema_change(x->out, x->version, sc);
}

static void schema_change_notify(struct coffer_exec *x)
{
	const struct coffer_db_config *cfg = &x->db->cfg;
	if (x->schema_changed && cfg->on_schema_change)
		cfg->on_schema_change(cfg->on_schema_change_arg, &x->change);
}

static coffer_rc already_exists(struct coffer_exec *x, const char *ks, const char *table)
{
	x->err_code = COFFER_CQL_ALREADY_EXISTS;
	x->err.keyspace = coffer_arena_strdup(x->arena, ks);
	x->err.table = coffer_arena_strdup(x->arena, table ? table : "");
	if (table)
		BAIL(COFFER_E_EXISTS, "Cannot add already existing table \"%s\" to keyspace \"%s\"", table, ks);
	BAIL(COFFER_E_EXISTS, "Cannot add already existing keyspace \"%s\"", ks);
}

static coffer_rc config_error(struct coffer_exec *x)
{
	x->err_code = COFFER_CQL_CONFIG_ERROR;
	return COFFER_E_INVALID;
}

static coffer_rc not_modifiable(const char *ks)
{
	BAIL(COFFER_E_DENIED, "System keyspace '%s' is not user-modifiable", ks);
}

/* Whether the session's role is a superuser (auth off: "" counts as one). */
static bool is_superuser(struct coffer_exec *x)
{
	const char *u = x->session ? x->session->user : NULL;
	if (!u || !*u)
		return true;
	struct role *r = db_role_find(x->db, u);
	return r && r->superuser;
}

/* ---- USE --------------------------------------------------------------------------- */

COFFER_RESULT exec_use(struct coffer_exec *x)
{
	const char *ks = x->stmt->u.use_keyspace;
	bool found;
	pthread_rwlock_rdlock(&x->db->schema_lock);
	found = db_is_system_keyspace(ks) || coffer_catalog_keyspace(&x->db->catalog, ks, true) != NULL;
	pthread_rwlock_unlock(&x->db->schema_lock);
	ENSURE(found, COFFER_E_INVALID, "Keyspace '%s' does not exist", ks);
	ENSURE(strlen(ks) < sizeof(x->session->keyspace), COFFER_E_INVALID, "Keyspace name too long");
	snprintf(x->session->keyspace, sizeof(x->session->keyspace), "%s", ks);
	return coffer_proto_put_result_set_keyspace(x->out, ks);
}

/* ---- KEYSPACE ------------------------------------------------------------------------ */

static bool class_is(const char *cls, const char *short_name)
{
	static const char prefix[] = "org.apache.cassandra.locator.";
	if (strcmp(cls, short_name) == 0)
		return true;
	return strncmp(cls, prefix, sizeof(prefix) - 1) == 0 && strcmp(cls + sizeof(prefix) - 1, short_name) == 0;
}

/* Replication as given, with a class coffer accepts (all are the same on one
 * node: the data is stored once). */
static COFFER_RESULT check_replication(struct coffer_exec *x, const struct coffer_strmap *r)
{
	const char *cls = coffer_strmap_get(r, "class");
	if (!cls) {
		coffer_error_set(COFFER_E_INVALID, COFFER_WHERE, "Missing replication strategy class");
		return config_error(x);
	}
	if (class_is(cls, "SimpleStrategy")) {
		const char *rf = coffer_strmap_get(r, "replication_factor");
		if (!rf) {
			coffer_error_set(COFFER_E_INVALID, COFFER_WHERE,
					 "SimpleStrategy requires a replication_factor strategy option.");
			return config_error(x);
		}
		char *end;
		long v = strtol(rf, &end, 10);
		if (*end || end == rf || v < 0) {
			coffer_error_set(COFFER_E_INVALID, COFFER_WHERE,
					 "Replication factor must be non-negative; found %s", rf);
			return config_error(x);
		}
		return COFFER_OK;
	}
	if (class_is(cls, "NetworkTopologyStrategy") || class_is(cls, "SingleRegionStrategy"))
		return COFFER_OK;
	coffer_error_set(COFFER_E_INVALID, COFFER_WHERE, "Unable to find replication strategy class '%s%s'",
			 strchr(cls, '.') ? "" : "org.apache.cassandra.locator.", cls);
	return config_error(x);
}

/* Keyspace options; a missing class is a ConfigurationException (0x2300) in
 * Cassandra 3.11, as the other replication errors are. */
static COFFER_RESULT keyspace_options(struct coffer_exec *x, const struct coffer_cql_options *o,
				      struct coffer_strmap *repl, bool *durable)
{
	coffer_rc rc = coffer_cql_keyspace_options(o, repl, durable);
	if (rc == COFFER_E_INVALID && strstr(coffer_error_msg(), "replication strategy class"))
		return config_error(x);
	TRY(rc);
	return check_replication(x, repl);
}

static COFFER_RESULT create_keyspace(struct coffer_exec *x)
{
	const struct coffer_cql_keyspace_stmt *k = &x->stmt->u.keyspace;
	struct coffer_db *db = x->db;
	struct coffer_strmap repl = {0};
	bool durable;
	coffer_rc rc;
	struct coffer_keyspace *ks;

	ENSURE(valid_name(k->name), COFFER_E_INVALID, "\"%s\" is not a valid keyspace name", k->name);
	TRY_FAIL(keyspace_options(x, &k->options, &repl, &durable));
	if (db_is_system_keyspace(k->name) || coffer_catalog_keyspace(&db->catalog, k->name, true)) {
		coffer_strmap_free(&repl);
		if (k->if_not_exists) {
			coffer_proto_put_result_void(x->out);
			return COFFER_OK;
		}
		return already_exists(x, k->name, NULL);
	}
	TRY_FAIL(coffer_catalog_add_keyspace(&db->catalog, k->name, &repl, durable, &ks));
	rc = db_save_catalog(db);
	if (rc != COFFER_OK) {
		ignore_rc(coffer_catalog_drop_keyspace(&db->catalog, k->name));
		goto fail;
	}
	coffer_log_info(db->log, "db", "keyspace %s created", k->name);
	rc = schema_result(x, "CREATED", "KEYSPACE", k->name, NULL);
fail:
	coffer_strmap_free(&repl);
	return rc;
}

static COFFER_RESULT alter_keyspace(struct coffer_exec *x)
{
	const struct coffer_cql_keyspace_stmt *k = &x->stmt->u.keyspace;
	struct coffer_db *db = x->db;
	struct coffer_strmap repl = {0}, old = {0};
	bool durable, old_durable;
	coffer_rc rc;

	if (db_is_system_keyspace(k->name))
		return not_modifiable(k->name);
	struct coffer_keyspace *ks = coffer_catalog_keyspace(&db->catalog, k->name, true);
	ENSURE(ks, COFFER_E_INVALID, "Unknown keyspace %s", k->name);
	if (coffer_cql_option(&k->options, "replication")) {
		TRY_FAIL(keyspace_options(x, &k->options, &repl, &durable));
	} else {
		/* durable_writes alone keeps the replication */
		struct coffer_cql_options only = k->options;
		const struct coffer_cql_term *dw = coffer_cql_option(&only, "durable_writes");
		ENSURE(dw || only.n == 0, COFFER_E_SYNTAX, "Unknown property '%s'", only.items[0].name);
		durable = ks->durable_writes;
		if (dw)
			durable = dw->kind == COFFER_CQL_TERM_BOOLEAN ? dw->boolean
								   : (dw->text && strcasecmp(dw->text, "true") == 0);
		for (size_t i = 0; i < ks->replication.n; i++)
			coffer_strmap_set(&repl, ks->replication.items[i].key, ks->replication.items[i].value);
	}
	old = ks->replication;
	old_durable = ks->durable_writes;
	ks->replication = repl;
	ks->durable_writes = durable;
	repl = (struct coffer_strmap){0};
	rc = db_save_catalog(db);
	if (rc != COFFER_OK) {
		repl = ks->replication;
		ks->replication = old;
		ks->durable_writes = old_durable;
		old = (struct coffer_strmap){0};
		goto fail;
	}
	rc = schema_result(x, "UPDATED", "KEYSPACE", ks->name, NULL);
fail:
	coffer_strmap_free(&repl);
	coffer_strmap_free(&old);
	return rc;
}

/* Drops the storage of tables the durable catalog no longer names. */
static void shred_tables(struct coffer_db *db, struct db_table **ts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct db_table *t = ts[i];
		if (t->store) {
			coffer_rc rc = coffer_table_drop(t->store);
			t->store = NULL; /* freed by coffer_table_drop either way */
			if (rc != COFFER_OK)
				coffer_log_error(db->log, "db", "table %s (storage %s): dropping its storage failed: %s",
						 t->def ? t->def->name : "?", t->storage_id, coffer_rc_name(rc));
		} else {
			coffer_log_warn(db->log, "db",
					"storage %s was not open (key unreachable): its files stay until removed",
					t->storage_id);
		}
		t->def = NULL;
		db_table_free(t);
	}
}

static COFFER_RESULT drop_keyspace(struct coffer_exec *x)
{
	const struct coffer_cql_keyspace_stmt *k = &x->stmt->u.keyspace;
	struct coffer_db *db = x->db;
	struct coffer_catalog *c = &db->catalog;
	coffer_rc rc;

	if (db_is_system_keyspace(k->name))
		return not_modifiable(k->name);
	size_t idx = 0;
	while (idx < c->nkeyspaces && strcmp(c->keyspaces[idx]->name, k->name) != 0)
		idx++;
	if (idx == c->nkeyspaces) {
		if (k->if_exists) {
			coffer_proto_put_result_void(x->out);
			return COFFER_OK;
		}
		coffer_error_set(COFFER_E_INVALID, COFFER_WHERE, "Cannot drop non existing keyspace '%s'.", k->name);
		return config_error(x);
	}
	struct coffer_keyspace *ks = c->keyspaces[idx];
	size_t n = ks->ntables;
	for (size_t i = 0; i < n; i++) {
		struct db_table *bt = db_table_of(db, ks->tables[i]);
		if (bt)
			TRY(db_pitr_check_busy(db, bt));
	}
	struct db_table **ts = coffer_xcalloc(n + 1, sizeof(*ts));
	bool *retire = coffer_xcalloc(n + 1, sizeof(*retire));
	size_t releases_before = db->n_releases, n_retired = 0;
	for (size_t i = 0; i < n; i++) {
		ts[i] = db_table_of(db, ks->tables[i]);
		if (ts[i]) {
			/* Issue 7: tables with PITR stay restorable (as DROP TABLE). */
			retire[i] = ks->tables[i]->pitr_enabled;
			if (retire[i]) {
				db_pitr_retire_add(db, ts[i], "dropped with DROP KEYSPACE");
				n_retired++;
			}
			db_tables_remove(db, ts[i]);
			db_grants_schedule_drop(db, ts[i]);
		}
	}
	/* Detach, persist, then free and shred (invariant 2). */
	memmove(&c->keyspaces[idx], &c->keyspaces[idx + 1], sizeof(*c->keyspaces) * (c->nkeyspaces - idx - 1));
	c->nkeyspaces--;
	rc = db_save_catalog(db);
	memmove(&c->keyspaces[idx + 1], &c->keyspaces[idx], sizeof(*c->keyspaces) * (c->nkeyspaces - idx));
	c->keyspaces[idx] = ks;
	c->nkeyspaces++;
	if (rc != COFFER_OK) {
		db->n_releases = releases_before;
		db_pitr_retire_undo(db, n_retired);
		for (size_t i = 0; i < n; i++)
			if (ts[i])
				db_tables_add(db, ts[i]);
		free(ts);
		free(retire);
		return rc;
	}
	char *name = coffer_arena_strdup(x->arena, ks->name);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (ts[i] && retire[i])
			db_pitr_retire_store(db, ts[i]);
		else if (ts[i])
			ts[m++] = ts[i];
	}
	free(retire);
	ignore_rc(coffer_catalog_drop_keyspace(c, name)); /* frees the definitions */
	if (db_grants_release_due(db) && db_save_catalog(db) != COFFER_OK)
		coffer_log_warn(db->log, "db", "grant releases not saved: %s (retried)", coffer_error_msg());
	shred_tables(db, ts, m);
	free(ts);
	if (strcmp(x->session->keyspace, name) == 0)
		x->session->keyspace[0] = 0;
	coffer_log_info(db->log, "db", "keyspace %s dropped (%zu tables shredded)", name, m);
	return schema_result(x, "DROPPED", "KEYSPACE", name, NULL);
}

COFFER_RESULT exec_keyspace(struct coffer_exec *x)
{
	coffer_rc rc;
	pthread_rwlock_wrlock(&x->db->schema_lock);
	switch (x->stmt->kind) {
	case COFFER_CQL_CREATE_KEYSPACE: rc = create_keyspace(x); break;
	case COFFER_CQL_ALTER_KEYSPACE: rc = alter_keyspace(x); break;
	case COFFER_CQL_DROP_KEYSPACE: rc = drop_keyspace(x); break;
	default: rc = coffer_error_set(COFFER_E_INTERNAL, COFFER_WHERE, "not a keyspace statement");
	}
	pthread_rwlock_unlock(&x->db->schema_lock);
	if (rc == COFFER_OK)
		schema_change_notify(x);
	return rc;
}

/* ---- KMS keys ------------------------------------------------------------------------- */

static const char *key_error_reason(coffer_rc rc)
{
	switch (rc) {
	case COFFER_E_KMS_NOT_FOUND: return "the KMS key does not exist";
	case COFFER_E_KMS_DISABLED: return "the KMS key is disabled";
	case COFFER_E_KMS_INVALID_STATE: return "the KMS key is pending deletion";
	case COFFER_E_KMS_ACCESS_DENIED: return "coffer is not allowed to use the KMS key (its key policy or grants do not allow it)";
	case COFFER_E_KMS_INVALID_ARN:
	case COFFER_E_KMS_VALIDATION: return "the key identifier is not a valid key id, key ARN, alias or alias ARN";
	case COFFER_E_KMS_THROTTLING: return "the KMS is throttling requests; retry later";
	case COFFER_E_UNAVAILABLE:
	case COFFER_E_TIMEOUT:
	case COFFER_E_KMS_DEPENDENCY_TIMEOUT: return "the KMS cannot be reached; retry later";
	default: return "the KMS refused the key";
	}
}

/* An Invalid naming the key, the table and why, from a KMS error. Transient
 * KMS trouble keeps its code (the handler answers Overloaded: retryable). */
static coffer_rc key_refused(const char *ks, const char *table, const char *key, coffer_rc rc)
{
	const char *why = key_error_reason(rc);
	coffer_rc code = rc == COFFER_E_KMS_THROTTLING || rc == COFFER_E_UNAVAILABLE || rc == COFFER_E_TIMEOUT ||
					 rc == COFFER_E_KMS_DEPENDENCY_TIMEOUT
				 ? rc : COFFER_E_INVALID;
	return coffer_error_set(code, COFFER_WHERE,
				"Invalid kms_key_identifier '%s' for table %s.%s: %s (%s: %s)", key, ks, table, why,
				coffer_rc_name(rc), coffer_error_msg());
}

/* The KMS key ARN a definition asks for, checked with DescribeKey. */
static COFFER_RESULT resolve_key(struct coffer_exec *x, const struct coffer_tabledef *def,
				 char arn[COFFER_KEY_ARN_MAX])
{
	struct coffer_db *db = x->db;
	if (def->encryption != COFFER_ENC_CUSTOMER_MANAGED) {
		snprintf(arn, COFFER_KEY_ARN_MAX, "%s", db->service_key);
		return COFFER_OK;
	}
	const char *key = def->kms_key_identifier;
	struct coffer_key_description d;
	memset(&d, 0, sizeof(d));
	ENSURE(key && *key, COFFER_E_INVALID, "CUSTOMER_MANAGED_KMS_KEY requires kms_key_identifier");
	coffer_rc rc = db_describe_key(db, def->keyspace, def->name, key, &d);
	if (rc != COFFER_OK)
		return key_refused(def->keyspace, def->name, key, rc);
	if (d.state == COFFER_KEY_STATE_DISABLED)
		BAIL(COFFER_E_INVALID, "Invalid kms_key_identifier '%s' for table %s.%s: the KMS key %s is disabled",
		     key, def->keyspace, def->name, d.arn);
	if (d.state == COFFER_KEY_STATE_PENDING_DELETION)
		BAIL(COFFER_E_INVALID,
		     "Invalid kms_key_identifier '%s' for table %s.%s: the KMS key %s is pending deletion", key,
		     def->keyspace, def->name, d.arn);
	if (d.service_owned)
		BAIL(COFFER_E_INVALID,
		     "Invalid kms_key_identifier '%s' for table %s.%s: the key is coffer's own service key; use "
		     "AWS_OWNED_KMS_KEY for it",
		     key, def->keyspace, def->name);
	snprintf(arn, COFFER_KEY_ARN_MAX, "%s", d.arn);
	return COFFER_OK;
}

/* ---- CREATE TABLE ------------------------------------------------------------------------ */

/* A CREATE TABLE refused because of its KMS key raises an event (DESIGN.md
 * "Notifications"): recorded and saved here (schema_lock held for
 * writing), delivered by the caller once the lock is released. Transient
 * KMS trouble (retryable) raises none. */
static struct db_event *refusal_event(struct coffer_db *db, const struct coffer_tabledef *def, const char *arn,
				      coffer_rc rc)
{
	if (rc == COFFER_E_KMS_THROTTLING || rc == COFFER_E_UNAVAILABLE || rc == COFFER_E_TIMEOUT ||
	    rc == COFFER_E_KMS_DEPENDENCY_TIMEOUT)
		return NULL;
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
	const char *key = def->kms_key_identifier && *def->kms_key_identifier ? def->kms_key_identifier : arn;
	struct db_event *e = db_event_record(db, def->keyspace, def->name, "CREATE_TABLE_REFUSED", key, msg);
	if (db_save_catalog(db) != COFFER_OK)
		coffer_log_warn(db->log, "db", "saving the refusal event of %s.%s: %s", def->keyspace, def->name,
				coffer_error_msg());
	coffer_error_set(rc, COFFER_WHERE, "%s", msg);
	return e;
}

/* The KMS key (checked), the grants and the new storage of a table being
 * created (CREATE TABLE, and RESTORE TABLE's target). On failure the grants
 * made are retired and t->store is NULL; the caller frees t. A refusal
 * because of the key also records an event in *refused (when not NULL) for
 * the caller to deliver once schema_lock is released. */
COFFER_RESULT db_table_provision(struct coffer_exec *x, struct db_table *t, struct db_event **refused)
{
	struct coffer_db *db = x->db;
	const struct coffer_tabledef *def = t->def;
	coffer_rc rc;
	rc = resolve_key(x, def, t->kms_key_arn);
	if (rc != COFFER_OK) {
		if (refused && def->encryption == COFFER_ENC_CUSTOMER_MANAGED && def->kms_key_identifier &&
		    *def->kms_key_identifier)
			*refused = refusal_event(db, def, t->kms_key_arn, rc);
		return rc;
	}
	if (def->encryption == COFFER_ENC_CUSTOMER_MANAGED) {
		/* The table's two grants (DESIGN.md "Grants"): its operations
		 * below need the first when the key policy alone does not
		 * allow coffer. */
		rc = db_grants_create(db, t);
		if (rc != COFFER_OK) {
			if (rc != COFFER_E_KMS_LIMIT_EXCEEDED && db_rc_is_key_error(rc))
				rc = key_refused(def->keyspace, def->name, def->kms_key_identifier, rc);
			else if (rc == COFFER_E_KMS_LIMIT_EXCEEDED)
				rc = coffer_error_set(COFFER_E_INVALID, COFFER_WHERE, "%s", coffer_error_msg());
			if (refused)
				*refused = refusal_event(db, def, t->kms_key_arn, rc);
			return rc;
		}
	}
	rc = db_table_open_store(db, t, true);
	if (rc != COFFER_OK) {
		t->store = NULL;
		if (db_rc_is_key_error(rc)) {
			rc = key_refused(def->keyspace, def->name,
					 def->kms_key_identifier ? def->kms_key_identifier : t->kms_key_arn, rc);
			if (refused)
				*refused = refusal_event(db, def, t->kms_key_arn, rc);
		} else {
			rc = coffer_error_set(rc, COFFER_WHERE, "%s", coffer_error_msg());
		}
		db_grants_retire_now(db, t);
	}
	return rc;
}

static COFFER_RESULT create_table(struct coffer_exec *x, struct db_event **refused)
{
	const struct coffer_cql_create_table *ct = &x->stmt->u.create_table;
	struct coffer_db *db = x->db;
	const char *ksname = keyspace_of(x, &ct->table);
	struct coffer_tabledef *def = NULL;
	struct db_table *t = NULL;
	uint8_t id[16];
	coffer_rc rc;

	ENSURE(ksname, COFFER_E_INVALID,
	       "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename");
	if (db_is_system_keyspace(ksname))
		return not_modifiable(ksname);
	struct coffer_keyspace *ks = coffer_catalog_keyspace(&db->catalog, ksname, true);
	ENSURE(ks, COFFER_E_INVALID, "Keyspace %s does not exist", ksname);
	if (coffer_keyspace_table(ks, ct->table.name, true)) {
		if (ct->if_not_exists) {
			coffer_proto_put_result_void(x->out);
			return COFFER_OK;
		}
		return already_exists(x, ks->name, ct->table.name);
	}
	ENSURE(valid_name(ct->table.name), COFFER_E_INVALID,
	       "Table name must not be empty, more than %d characters long, or contain non-alphanumeric-underscore "
	       "characters (got \"%s\")",
	       NAME_MAX_CHARS, ct->table.name);
	random_uuid(id);
	TRY(coffer_cql_build_table(ct, ks->name, id, &def));
	ENSURE_FAIL(def->nclustering <= COFFER_MAX_CLUSTERING, COFFER_E_INVALID,
		    "A table may have at most %d clustering columns", COFFER_MAX_CLUSTERING);
	t = db_table_new(def);
	for (size_t i = 0; i < def->ncolumns; i++) {
		uint32_t cid;
		TRY_FAIL(db_column_id(t, def->columns[i].name, true, &cid));
	}
	TRY_FAIL(db_table_provision(x, t, refused));
	rc = coffer_keyspace_add_table(ks, def);
	if (rc != COFFER_OK) {
		db_grants_retire_now(db, t);
		shred_tables(db, &t, 1); /* frees t; def is still ours */
		t = NULL;
		goto fail;
	}
	db_tables_add(db, t);
	rc = db_save_catalog(db);
	if (rc != COFFER_OK) {
		db_tables_remove(db, t);
		/* the keyspace frees def; t only holds the store */
		def = NULL;
		ignore_rc(coffer_keyspace_drop_table(ks, t->def->name));
		t->def = NULL;
		db_grants_retire_now(db, t);
		shred_tables(db, &t, 1);
		return rc;
	}
	coffer_log_info(db->log, "db", "table %s.%s created (storage %s, key %s)", ks->name, def->name,
			t->storage_id, t->kms_key_arn);
	/* Issue 7: a dropped table of this name is no longer restorable. */
	db_pitr_purge_name(db, ks->name, def->name);
	return schema_result(x, "CREATED", "TABLE", ks->name, def->name);
fail:
	if (t) {
		coffer_rc keep = rc;
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
		db_grants_retire_now(db, t); /* needs t->def */
		t->def = NULL;
		db_table_free(t);
		rc = coffer_error_set(keep, COFFER_WHERE, "%s", msg);
	}
	coffer_tabledef_free(def);
	return rc;
}

COFFER_RESULT exec_create_table(struct coffer_exec *x)
{
	struct db_event *refused = NULL;
	pthread_rwlock_wrlock(&x->db->schema_lock);
	coffer_rc rc = create_table(x, &refused);
	pthread_rwlock_unlock(&x->db->schema_lock);
	if (refused) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
		db_event_deliver(x->db, refused);
		db_event_free(refused);
		coffer_error_set(rc, COFFER_WHERE, "%s", msg);
	}
	if (rc == COFFER_OK)
		schema_change_notify(x);
	return rc;
}

/* ---- ALTER TABLE --------------------------------------------------------------------------- */

/* A copy of a table's column-id map, to put back when a save fails. */
struct colids_snapshot {
	struct db_col_id *ids;
	size_t n;
	uint32_t next;
};

static void colids_take(const struct db_table *t, struct colids_snapshot *s)
{
	s->n = t->n_col_ids;
	s->next = t->next_col_id;
	s->ids = coffer_xcalloc(s->n + 1, sizeof(*s->ids));
	for (size_t i = 0; i < s->n; i++) {
		s->ids[i].name = coffer_xstrdup(t->col_ids[i].name);
		s->ids[i].id = t->col_ids[i].id;
	}
}

static void colids_free(struct db_col_id *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i].name);
	free(ids);
}

/* Puts the snapshot back (restore) or discards it. */
static void colids_done(struct db_table *t, struct colids_snapshot *s, bool restore)
{
	if (!restore) {
		colids_free(s->ids, s->n);
		return;
	}
	colids_free(t->col_ids, t->n_col_ids);
	t->col_ids = s->ids;
	t->n_col_ids = s->n;
	/* next_col_id never goes back (invariant 3 of db.c) */
}

static void swap_defs(struct coffer_tabledef *a, struct coffer_tabledef *b)
{
	struct coffer_tabledef tmp = *a;
	*a = *b;
	*b = tmp;
}

static COFFER_RESULT alter_columns(struct coffer_exec *x, struct db_table *t, struct coffer_tabledef *nd)
{
	const struct coffer_cql_alter_table *a = &x->stmt->u.alter_table;
	if (a->kind == COFFER_CQL_ALTER_ADD) {
		for (size_t i = 0; i < a->nadd; i++) {
			const struct coffer_cql_column_def *c = &a->add[i];
			ENSURE(!coffer_tabledef_column(nd, c->name, true), COFFER_E_INVALID,
			       "Invalid column name %s because it conflicts with an existing column", c->name);
			ENSURE(!c->is_static || nd->nclustering > 0, COFFER_E_INVALID,
			       "Static columns are only useful (and thus allowed) if the table has at least one "
			       "clustering column");
			TRY(coffer_tabledef_add_column(nd, c->name, c->is_static ? COFFER_COLUMN_STATIC
										   : COFFER_COLUMN_REGULAR,
						       -1, COFFER_ORDER_NONE, c->type));
		}
		TRY(coffer_tabledef_validate(nd));
		for (size_t i = 0; i < a->nadd; i++) {
			uint32_t cid;
			TRY(db_column_id(t, a->add[i].name, true, &cid));
		}
		return COFFER_OK;
	}
	for (size_t i = 0; i < a->ndrop; i++) {
		const struct coffer_column *c = coffer_tabledef_column(nd, a->drop[i], true);
		ENSURE(c, COFFER_E_INVALID, "Column %s was not found in table %s", a->drop[i], nd->name);
		ENSURE(c->kind == COFFER_COLUMN_REGULAR || c->kind == COFFER_COLUMN_STATIC, COFFER_E_INVALID,
		       "Cannot drop PRIMARY KEY part %s", a->drop[i]);
		TRY(coffer_tabledef_drop_column(nd, a->drop[i]));
	}
	TRY(coffer_tabledef_validate(nd));
	for (size_t i = 0; i < a->ndrop; i++)
		db_column_forget(t, a->drop[i]);
	return COFFER_OK;
}

static bool key_changes(const struct coffer_tabledef *a, const struct coffer_tabledef *b)
{
	if (a->encryption != b->encryption)
		return true;
	if (a->encryption != COFFER_ENC_CUSTOMER_MANAGED)
		return false;
	return strcmp(a->kms_key_identifier ? a->kms_key_identifier : "",
		      b->kms_key_identifier ? b->kms_key_identifier : "") != 0;
}

/* An ALTER TABLE that changes the table's key runs in three steps, so the
 * KMS round trips never hold schema_lock for writing (reads and writes of
 * every table, this one included, go on throughout; DESIGN.md rule 5):
 *
 *   1. write lock: the table must be ACTIVE; status UPDATING is saved.
 *   2. read lock: DescribeKey of the new key; on a customer managed key the
 *      table's two grants are created on it; the keyring gets their tokens
 *      and changes the table key (coffer_table_change_key: a new table key
 *      under the new KMS key, every data key and previous table key
 *      re-wrapped, no data rewritten).
 *   3. write lock: the definition, ARN and grants switch; the old key's
 *      grants go to the release list as at DROP (operations grant now,
 *      backup grant after grant_release_delay), status ACTIVE, the catalog
 *      is saved and due releases retired.
 *
 * While UPDATING, other ALTERs and TRUNCATE of the table are refused
 * (retryable Invalid); a DROP is allowed and step 3 then retires the new
 * grants. A failure in step 2 retires the new grants, gives the keyring its
 * old tokens back and returns the table to ACTIVE on its old key. A crash
 * between the key switch and step 3's save leaves the keyring (the truth)
 * on the new key: open takes the ARN from it (db.c), and the new grants are
 * then not recorded in the catalog (they are not retired at DROP). */
struct key_change {
	struct db_table *t;                     /* NULL: no key change */
	char storage_id[COFFER_UUID_STR_LEN + 1];
	struct coffer_tabledef *nd;             /* the new definition (owned) */
};

static struct db_table *key_change_table(struct coffer_db *db, const struct key_change *kc)
{
	for (size_t i = 0; i < db->n_tables; i++)
		if (db->tables[i] == kc->t && strcmp(kc->t->storage_id, kc->storage_id) == 0)
			return kc->t;
	return NULL;
}

static coffer_rc table_updating(const struct db_table *t)
{
	return coffer_error_set(COFFER_E_INVALID, COFFER_WHERE,
				"Table %s.%s is UPDATING (its encryption key is being changed); retry when it is "
				"ACTIVE",
				t->def->keyspace, t->def->name);
}

/* Step 1; caller holds schema_lock for writing. Takes nd on success. */
static COFFER_RESULT key_change_begin(struct coffer_exec *x, struct db_table *t, struct coffer_tabledef *nd,
				      struct key_change *kc)
{
	struct coffer_db *db = x->db;
	TRY(db_table_usable(t));
	enum coffer_table_status before = t->status;
	t->status = COFFER_STATUS_UPDATING;
	coffer_rc rc = db_save_catalog(db);
	if (rc != COFFER_OK) {
		t->status = before;
		return rc;
	}
	kc->t = t;
	memcpy(kc->storage_id, t->storage_id, sizeof(kc->storage_id));
	kc->nd = nd;
	return COFFER_OK;
}

static void set_keyring_grants(struct db_table *t, char *const tokens[2])
{
	const char *tok[2];
	size_t n = 0;
	for (size_t i = 0; i < 2; i++)
		if (tokens[i])
			tok[n++] = tokens[i];
	struct coffer_key_grants g = {n ? tok : NULL, n};
	coffer_keyring_set_grants(coffer_table_keyring(t->store), &g);
}

/* Steps 2 and 3. */
static COFFER_RESULT key_change_finish(struct coffer_exec *x, struct key_change *kc)
{
	struct coffer_db *db = x->db;
	struct coffer_tabledef *nd = kc->nd;
	struct db_table *t;
	/* The new key's grants, held in a scratch table entry (never listed). */
	struct db_table fresh;
	memset(&fresh, 0, sizeof(fresh));
	coffer_rc rc;
	char msg[1024] = "";

	pthread_rwlock_rdlock(&db->schema_lock);
	t = key_change_table(db, kc);
	if (!t) {
		pthread_rwlock_unlock(&db->schema_lock);
		BAIL(COFFER_E_INVALID, "Table %s.%s was dropped while its key was being changed", nd->keyspace,
		     nd->name);
	}
	fresh.def = nd; /* same names; ours, so still valid if t is dropped meanwhile */
	memcpy(fresh.storage_id, t->storage_id, sizeof(fresh.storage_id));
	rc = resolve_key(x, nd, fresh.kms_key_arn);
	if (rc == COFFER_OK && nd->encryption == COFFER_ENC_CUSTOMER_MANAGED) {
		rc = db_grants_create(db, &fresh);
		if (rc == COFFER_E_KMS_LIMIT_EXCEEDED)
			rc = coffer_error_set(COFFER_E_INVALID, COFFER_WHERE, "%s", coffer_error_msg());
		else if (rc != COFFER_OK && db_rc_is_key_error(rc))
			rc = key_refused(nd->keyspace, nd->name, nd->kms_key_identifier, rc);
	}
	/* The current table key is fetched (into the cache) with the old
	 * key's grant tokens before the keyring is given the new ones. */
	if (rc == COFFER_OK) {
		rc = coffer_table_key_check(t->store);
		if (rc != COFFER_OK && db_rc_is_key_error(rc))
			rc = key_refused(nd->keyspace, nd->name, t->kms_key_arn, rc);
	}
	if (rc == COFFER_OK) {
		set_keyring_grants(t, fresh.grant_tokens);
		rc = coffer_table_change_key(t->store, fresh.kms_key_arn);
		if (rc != COFFER_OK) {
			set_keyring_grants(t, t->grant_tokens);
			if (db_rc_is_key_error(rc))
				rc = key_refused(nd->keyspace, nd->name,
						 nd->kms_key_identifier ? nd->kms_key_identifier : fresh.kms_key_arn,
						 rc);
		}
	}
	if (rc != COFFER_OK) {
		snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
		db_grants_retire_now(db, &fresh);
	}
	pthread_rwlock_unlock(&db->schema_lock);

	pthread_rwlock_wrlock(&db->schema_lock);
	t = key_change_table(db, kc);
	if (!t) {
		/* Dropped meanwhile: its storage is shredded; the new grants go. */
		if (rc == COFFER_OK)
			db_grants_retire_now(db, &fresh);
		pthread_rwlock_unlock(&db->schema_lock);
		if (rc != COFFER_OK)
			return coffer_error_set(rc, COFFER_WHERE, "%s", msg);
		BAIL(COFFER_E_INVALID, "Table %s.%s was dropped while its key was being changed", nd->keyspace,
		     nd->name);
	}
	t->status = COFFER_STATUS_ACTIVE;
	if (rc == COFFER_OK) {
		for (size_t i = 0; i < 2; i++) {
			char id[COFFER_KEY_GRANT_ID_MAX];
			char *tok = t->grant_tokens[i];
			memcpy(id, t->grant_ids[i], sizeof(id));
			memcpy(t->grant_ids[i], fresh.grant_ids[i], sizeof(id));
			memcpy(fresh.grant_ids[i], id, sizeof(id));
			t->grant_tokens[i] = fresh.grant_tokens[i];
			fresh.grant_tokens[i] = tok;
		}
		char old_arn[COFFER_KEY_ARN_MAX];
		memcpy(old_arn, t->kms_key_arn, sizeof(old_arn));
		memcpy(t->kms_key_arn, fresh.kms_key_arn, sizeof(old_arn));
		memcpy(fresh.kms_key_arn, old_arn, sizeof(old_arn));
		/* The old key's grants: released durably, as at DROP. */
		db_grants_schedule_drop(db, &fresh);
		db_grants_free(&fresh);
		/* Back on a key the table used before: CreateGrant with the same
		 * name answered the grant still waiting for its release; it is
		 * the table's again. */
		db_grants_unschedule(db, t);
		swap_defs(t->def, nd);
		coffer_log_info(db->log, "db", "table %s.%s: key changed from %s to %s", t->def->keyspace,
				t->def->name, old_arn, t->kms_key_arn);
	}
	if (db_save_catalog(db) != COFFER_OK)
		coffer_log_error(db->log, "db", "table %s.%s: saving the catalog after the key change: %s (the "
						"keyring holds the new key; open takes it from there)",
				 t->def->keyspace, t->def->name, coffer_error_msg());
	else if (rc == COFFER_OK && db_grants_release_due(db) && db_save_catalog(db) != COFFER_OK)
		coffer_log_warn(db->log, "db", "grant releases not saved: %s (retried)", coffer_error_msg());
	pthread_rwlock_unlock(&db->schema_lock);
	if (rc != COFFER_OK)
		return coffer_error_set(rc, COFFER_WHERE, "%s", msg);
	return schema_result(x, "UPDATED", "TABLE", nd->keyspace, nd->name);
}

static COFFER_RESULT alter_table(struct coffer_exec *x, struct key_change *kc)
{
	const struct coffer_cql_alter_table *a = &x->stmt->u.alter_table;
	struct coffer_db *db = x->db;
	struct db_table *t;
	struct colids_snapshot snap;
	coffer_rc rc;

	const char *ksname = keyspace_of(x, &a->table);
	if (ksname && db_is_system_keyspace(ksname))
		return not_modifiable(ksname);
	TRY(db_find_table(x, &a->table, &t));
	ENSURE(a->kind != COFFER_CQL_ALTER_RENAME, COFFER_E_INVALID,
	       "ALTER TABLE RENAME is not supported by coffer");
	if (t->status == COFFER_STATUS_UPDATING)
		return table_updating(t);
	struct coffer_tabledef *nd = coffer_tabledef_clone(t->def);
	colids_take(t, &snap);
	if (a->kind == COFFER_CQL_ALTER_WITH) {
		TRY_FAIL(coffer_cql_apply_table_options(nd, &a->options));
		if (key_changes(t->def, nd)) {
			/* The key change finishes after schema_lock is released
			 * (key_change_finish); a PITR change riding along could
			 * not be undone if it then failed (disabling erases the
			 * history), so the two take separate statements. */
			ENSURE_FAIL(nd->pitr_enabled == t->def->pitr_enabled, COFFER_E_INVALID,
				    "ALTER TABLE %s.%s cannot change the KMS key and point_in_time_recovery in one "
				    "statement: run one ALTER TABLE for each",
				    t->def->keyspace, t->def->name);
			TRY_FAIL(key_change_begin(x, t, nd, kc));
			colids_done(t, &snap, false);
			return COFFER_OK; /* key_change_finish answers */
		}
		if (nd->pitr_enabled != t->def->pitr_enabled)
			TRY_FAIL(db_pitr_alter(db, t, nd->pitr_enabled));
	} else {
		TRY_FAIL(alter_columns(x, t, nd));
	}
	swap_defs(t->def, nd);
	rc = db_save_catalog(db);
	if (rc != COFFER_OK) {
		swap_defs(t->def, nd);
		goto fail;
	}
	colids_done(t, &snap, false);
	coffer_tabledef_free(nd);
	return schema_result(x, "UPDATED", "TABLE", t->def->keyspace, t->def->name);
fail:
	colids_done(t, &snap, true);
	coffer_tabledef_free(nd);
	return rc;
}

COFFER_RESULT exec_alter_table(struct coffer_exec *x)
{
	struct key_change kc = {0};
	pthread_rwlock_wrlock(&x->db->schema_lock);
	coffer_rc rc = alter_table(x, &kc);
	pthread_rwlock_unlock(&x->db->schema_lock);
	if (rc == COFFER_OK && kc.t) {
		rc = key_change_finish(x, &kc);
		coffer_tabledef_free(kc.nd);
	}
	if (rc == COFFER_OK)
		schema_change_notify(x);
	return rc;
}

/* ---- DROP TABLE and TRUNCATE ---------------------------------------------------------------- */

static COFFER_RESULT drop_table(struct coffer_exec *x)
{
	const struct coffer_cql_drop_table *d = &x->stmt->u.drop_table;
	struct coffer_db *db = x->db;
	const char *ksname = keyspace_of(x, &d->table);
	coffer_rc rc;

	ENSURE(ksname, COFFER_E_INVALID,
	       "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename");
	if (db_is_system_keyspace(ksname))
		return not_modifiable(ksname);
	struct coffer_keyspace *ks = coffer_catalog_keyspace(&db->catalog, ksname, true);
	struct coffer_tabledef *def = ks ? coffer_keyspace_table(ks, d->table.name, true) : NULL;
	if (!def) {
		if (d->if_exists) {
			coffer_proto_put_result_void(x->out);
			return COFFER_OK;
		}
		ENSURE(ks, COFFER_E_INVALID, "Keyspace %s does not exist", ksname);
		coffer_error_set(COFFER_E_INVALID, COFFER_WHERE, "Cannot drop non existing table '%s' in keyspace '%s'.",
				 d->table.name, ks->name);
		return config_error(x);
	}
	struct db_table *t = db_table_of(db, def);
	if (t)
		TRY(db_pitr_check_busy(db, t));
	/* Issue 7: with PITR on, the storage is retired (restorable for the
	 * backup retention), not shredded; the record enters the catalog in
	 * the same save that removes the table. */
	bool retire = t && def->pitr_enabled;
	if (retire)
		db_pitr_retire_add(db, t, "dropped with DROP TABLE");
	size_t idx = 0;
	while (ks->tables[idx] != def)
		idx++;
	memmove(&ks->tables[idx], &ks->tables[idx + 1], sizeof(*ks->tables) * (ks->ntables - idx - 1));
	ks->ntables--;
	size_t releases_before = db->n_releases;
	if (t) {
		db_tables_remove(db, t);
		db_grants_schedule_drop(db, t);
	}
	rc = db_save_catalog(db);
	memmove(&ks->tables[idx + 1], &ks->tables[idx], sizeof(*ks->tables) * (ks->ntables - idx));
	ks->tables[idx] = def;
	ks->ntables++;
	if (rc != COFFER_OK) {
		db->n_releases = releases_before;
		if (retire)
			db_pitr_retire_undo(db, 1);
		if (t)
			db_tables_add(db, t);
		return rc;
	}
	char *name = coffer_arena_strdup(x->arena, def->name);
	if (t) {
		t->def = NULL;
		if (retire)
			db_pitr_retire_store(db, t);
		else
			shred_tables(db, &t, 1);
	}
	ignore_rc(coffer_keyspace_drop_table(ks, name));
	/* The operations grant goes now (the backup one when due). */
	if (db_grants_release_due(db) && db_save_catalog(db) != COFFER_OK)
		coffer_log_warn(db->log, "db", "grant releases not saved: %s (retried)", coffer_error_msg());
	coffer_log_info(db->log, "db", "table %s.%s dropped (storage %s)", ks->name, name,
			retire ? "retired: restorable with RESTORE TABLE" : "shredded");
	return schema_result(x, "DROPPED", "TABLE", ks->name, name);
}

static COFFER_RESULT truncate_table(struct coffer_exec *x)
{
	const struct coffer_cql_drop_table *d = &x->stmt->u.drop_table;
	struct coffer_db *db = x->db;
	struct db_table *t;
	uint8_t id[16];
	char old_id[sizeof(t->storage_id)];
	coffer_rc rc;

	const char *ksname = keyspace_of(x, &d->table);
	if (ksname && db_is_system_keyspace(ksname))
		return not_modifiable(ksname);
	TRY(db_find_table(x, &d->table, &t));
	if (t->status == COFFER_STATUS_UPDATING)
		return table_updating(t);
	TRY(db_table_usable(t));
	TRY(db_pitr_check_busy(db, t));
	struct coffer_table *old = t->store;
	memcpy(old_id, t->storage_id, sizeof(old_id));
	random_uuid(id);
	coffer_uuid_format(id, t->storage_id);
	rc = db_table_open_store(db, t, true);
	if (rc != COFFER_OK) {
		if (db_rc_is_key_error(rc))
			rc = key_refused(t->def->keyspace, t->def->name, t->kms_key_arn, rc);
		goto fail;
	}
	rc = db_save_catalog(db);
	if (rc != COFFER_OK) {
		coffer_rc drc = coffer_table_drop(t->store);
		(void)drc;
		goto fail;
	}
	rc = coffer_table_drop(old);
	if (rc != COFFER_OK)
		coffer_log_error(db->log, "db", "table %s.%s: dropping the truncated storage %s failed: %s",
				 t->def->keyspace, t->def->name, old_id, coffer_rc_name(rc));
	coffer_log_info(db->log, "db", "table %s.%s truncated (storage %s -> %s)", t->def->keyspace, t->def->name,
			old_id, t->storage_id);
	coffer_proto_put_result_void(x->out);
	return COFFER_OK;
fail:
	t->store = old;
	memcpy(t->storage_id, old_id, sizeof(old_id));
	return rc;
}

COFFER_RESULT exec_drop_table(struct coffer_exec *x)
{
	pthread_rwlock_wrlock(&x->db->schema_lock);
	coffer_rc rc = x->stmt->kind == COFFER_CQL_TRUNCATE ? truncate_table(x) : drop_table(x);
	pthread_rwlock_unlock(&x->db->schema_lock);
	if (rc == COFFER_OK)
		schema_change_notify(x);
	return rc;
}

/* ---- for pitr.c (RESTORE TABLE) ------------------------------------------------------------------ */

bool db_valid_name(const char *s)
{
	return valid_name(s);
}

void db_random_uuid(uint8_t u[16])
{
	random_uuid(u);
}

coffer_rc db_ddl_already_exists(struct coffer_exec *x, const char *ks, const char *table)
{
	return already_exists(x, ks, table);
}

COFFER_RESULT db_ddl_schema_result(struct coffer_exec *x, const char *change, const char *target, const char *ks,
				   const char *name)
{
	return schema_result(x, change, target, ks, name);
}

void db_ddl_notify(struct coffer_exec *x)
{
	schema_change_notify(x);
}

/* ---- roles ------------------------------------------------------------------------------------ */

/* A string option (literal, or a bound text value) as a fresh heap string. */
static COFFER_RESULT term_string(struct coffer_exec *x, const struct coffer_cql_term *t, const char *what,
				 char **out)
{
	if (t->kind == COFFER_CQL_TERM_STRING) {
		ENSURE(!memchr(t->text, 0, t->len), COFFER_E_INVALID, "Invalid %s", what);
		*out = coffer_xstrndup(t->text, t->len);
		return COFFER_OK;
	}
	if (t->kind == COFFER_CQL_TERM_BIND && x->values && t->bind_index >= 0 &&
	    (size_t)t->bind_index < x->n_values && x->values[t->bind_index].kind == COFFER_PROTO_VALUE) {
		struct coffer_slice v = x->values[t->bind_index].bytes;
		ENSURE(!memchr(v.ptr, 0, v.len), COFFER_E_INVALID, "Invalid %s", what);
		*out = coffer_xstrndup((const char *)v.ptr, v.len);
		return COFFER_OK;
	}
	BAIL(COFFER_E_INVALID, "Invalid value for %s: a string is expected", what);
}

static COFFER_RESULT term_bool(struct coffer_exec *x, const struct coffer_cql_term *t, const char *what, bool *out)
{
	if (t->kind == COFFER_CQL_TERM_BOOLEAN) {
		*out = t->boolean;
		return COFFER_OK;
	}
	if (t->kind == COFFER_CQL_TERM_STRING && (strcasecmp(t->text, "true") == 0 || strcasecmp(t->text, "false") == 0)) {
		*out = t->text[0] == 't' || t->text[0] == 'T';
		return COFFER_OK;
	}
	if (t->kind == COFFER_CQL_TERM_BIND && x->values && t->bind_index >= 0 &&
	    (size_t)t->bind_index < x->n_values && x->values[t->bind_index].kind == COFFER_PROTO_VALUE &&
	    x->values[t->bind_index].bytes.len == 1) {
		*out = x->values[t->bind_index].bytes.ptr[0] != 0;
		return COFFER_OK;
	}
	BAIL(COFFER_E_SYNTAX, "Invalid value for %s: a boolean is expected", what);
}

static coffer_rc unauthorized(struct coffer_exec *x)
{
	const char *u = x->session && x->session->user ? x->session->user : "";
	BAIL(COFFER_E_DENIED, "User %s does not have sufficient privileges to perform the requested operation", u);
}

static COFFER_RESULT create_role(struct coffer_exec *x, char *hash)
{
	const struct coffer_cql_role *r = &x->stmt->u.role;
	struct coffer_db *db = x->db;
	bool login = r->user_syntax, super = false;
	if (!is_superuser(x))
		return unauthorized(x);
	if (r->login)
		TRY(term_bool(x, r->login, "login", &login));
	if (r->superuser)
		TRY(term_bool(x, r->superuser, "superuser", &super));
	if (db_role_find(db, r->name)) {
		if (r->if_not_exists) {
			coffer_proto_put_result_void(x->out);
			return COFFER_OK;
		}
		BAIL(COFFER_E_INVALID, "%s %s already exists", r->user_syntax ? "User" : "Role", r->name);
	}
	ENSURE(*r->name, COFFER_E_INVALID, "Role name can't be an empty string");
	struct role *ro = db_role_add(db, r->name);
	ro->hash = hash ? coffer_xstrdup(hash) : NULL;
	ro->login = login;
	ro->superuser = super;
	coffer_rc rc = db_save_catalog(db);
	if (rc != COFFER_OK) {
		db_role_remove(db, r->name);
		return rc;
	}
	coffer_log_info(db->log, "db", "role created (login %d, superuser %d)", login, super);
	coffer_proto_put_result_void(x->out);
	return COFFER_OK;
}

static COFFER_RESULT alter_role(struct coffer_exec *x, char *hash)
{
	const struct coffer_cql_role *r = &x->stmt->u.role;
	struct coffer_db *db = x->db;
	struct role *ro = db_role_find(db, r->name);
	bool self = x->session && x->session->user && strcmp(x->session->user, r->name) == 0;
	bool super = is_superuser(x);
	ENSURE(ro, COFFER_E_INVALID, "%s %s doesn't exist", r->user_syntax ? "User" : "Role", r->name);
	if (!super && !(self && !r->superuser && (!r->login || r->user_syntax)))
		return unauthorized(x);
	if (r->superuser && self)
		BAIL(COFFER_E_DENIED, "You aren't allowed to alter your own superuser status");
	struct role saved = *ro;
	bool login = ro->login, su = ro->superuser;
	if (r->login && !r->user_syntax)
		TRY(term_bool(x, r->login, "login", &login));
	if (r->superuser)
		TRY(term_bool(x, r->superuser, "superuser", &su));
	ro->login = login;
	ro->superuser = su;
	if (r->password)
		ro->hash = coffer_xstrdup(hash);
	coffer_rc rc = db_save_catalog(db);
	if (rc != COFFER_OK) {
		if (r->password)
			free(ro->hash);
		*ro = saved;
		return rc;
	}
	if (r->password)
		free(saved.hash);
	coffer_proto_put_result_void(x->out);
	return COFFER_OK;
}

static COFFER_RESULT drop_role(struct coffer_exec *x)
{
	const struct coffer_cql_role *r = &x->stmt->u.role;
	struct coffer_db *db = x->db;
	if (!is_superuser(x))
		return unauthorized(x);
	struct role *ro = db_role_find(db, r->name);
	if (!ro) {
		if (r->if_exists) {
			coffer_proto_put_result_void(x->out);
			return COFFER_OK;
		}
		BAIL(COFFER_E_INVALID, "%s %s doesn't exist", r->user_syntax ? "User" : "Role", r->name);
	}
	ENSURE(!(x->session && x->session->user && strcmp(x->session->user, r->name) == 0), COFFER_E_INVALID,
	       "Cannot DROP primary role for current login");
	struct role saved = {coffer_xstrdup(ro->name), ro->hash ? coffer_xstrdup(ro->hash) : NULL, ro->login,
			     ro->superuser};
	db_role_remove(db, r->name);
	coffer_rc rc = db_save_catalog(db);
	if (rc != COFFER_OK) {
		struct role *back = db_role_add(db, saved.name);
		back->hash = saved.hash;
		back->login = saved.login;
		back->superuser = saved.superuser;
		free(saved.name);
		return rc;
	}
	free(saved.name);
	free(saved.hash);
	coffer_proto_put_result_void(x->out);
	return COFFER_OK;
}

static int cmp_role_ptr(const void *a, const void *b)
{
	const struct role *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

/* LIST ROLES: role, super, login, options (Cassandra 3.11); LIST USERS:
 * name, super. A non-superuser sees its own role only. */
static COFFER_RESULT list_roles(struct coffer_exec *x)
{
	const struct coffer_cql_role *r = &x->stmt->u.role;
	struct coffer_db *db = x->db;
	static const char *const role_cols[] = {"role", "super", "login", "options"};
	static const char *const user_cols[] = {"name", "super"};
	const char *const *names = r->user_syntax ? user_cols : role_cols;
	int ncols = r->user_syntax ? 2 : 4;
	struct coffer_proto_column cols[4];
	struct coffer_datatype *opt_type;
	TRY(coffer_datatype_parse("map<text, text>", 15, x->arena, &opt_type));
	for (int i = 0; i < ncols; i++) {
		cols[i].keyspace = "system_auth";
		cols[i].table = "roles";
		cols[i].name = names[i];
		cols[i].type = rows_proto_type(x->arena, i == 0 ? coffer_datatype_of(COFFER_DT_TEXT)
						       : i == 3 ? opt_type : coffer_datatype_of(COFFER_DT_BOOLEAN));
	}
	struct coffer_proto_metadata md;
	memset(&md, 0, sizeof(md));
	md.flags = COFFER_PROTO_MF_GLOBAL_TABLES_SPEC;
	md.keyspace = "system_auth";
	md.table = "roles";
	md.n_columns = ncols;
	md.columns = cols;
	bool super = is_superuser(x);
	const char *me = x->session && x->session->user ? x->session->user : "";
	if (r->of)
		ENSURE(db_role_find(db, r->of), COFFER_E_INVALID, "%s doesn't exist", r->of);
	struct role **sorted = coffer_arena_zalloc(x->arena, sizeof(*sorted) * (db->n_roles + 1));
	size_t n = 0;
	for (size_t i = 0; i < db->n_roles; i++) {
		struct role *ro = &db->roles[i];
		if (r->of && strcmp(ro->name, r->of) != 0)
			continue;
		if (!super && strcmp(ro->name, me) != 0)
			continue;
		if (r->user_syntax && !ro->login)
			continue;
		sorted[n++] = ro;
	}
	qsort(sorted, n, sizeof(*sorted), cmp_role_ptr);
	struct rows_writer w;
	TRY(rows_begin(&w, x, &md));
	static const uint8_t t1 = 1, f0 = 0;
	static const uint8_t empty_map[4] = {0, 0, 0, 0};
	for (size_t i = 0; i < n; i++) {
		rows_cell(&w, coffer_slice_str(sorted[i]->name), false);
		rows_cell(&w, coffer_slice_of(sorted[i]->superuser ? &t1 : &f0, 1), false);
		if (!r->user_syntax) {
			rows_cell(&w, coffer_slice_of(sorted[i]->login ? &t1 : &f0, 1), false);
			rows_cell(&w, coffer_slice_of(empty_map, 4), false);
		}
		rows_end_row(&w);
	}
	rows_end(&w);
	return COFFER_OK;
}

COFFER_RESULT exec_role(struct coffer_exec *x)
{
	const struct coffer_cql_role *r = &x->stmt->u.role;
	struct coffer_db *db = x->db;
	char *pw = NULL, *hash = NULL;
	coffer_rc rc;

	if (x->stmt->kind == COFFER_CQL_LIST_ROLES) {
		pthread_rwlock_rdlock(&db->schema_lock);
		rc = list_roles(x);
		pthread_rwlock_unlock(&db->schema_lock);
		return rc;
	}
	/* Hash before locking: PBKDF2 is slow on purpose (invariant 3). */
	if (r->password && x->stmt->kind != COFFER_CQL_DROP_ROLE) {
		TRY(term_string(x, r->password, "password", &pw));
		if (!*pw) {
			free(pw);
			BAIL(COFFER_E_INVALID, "Password must not be empty");
		}
		rc = coffer_proto_password_hash(pw, strlen(pw), db->cfg.password_iterations, &hash);
		coffer_wipe(pw, strlen(pw));
		free(pw);
		TRY(rc);
	}
	pthread_rwlock_wrlock(&db->schema_lock);
	switch (x->stmt->kind) {
	case COFFER_CQL_CREATE_ROLE: rc = create_role(x, hash); break;
	case COFFER_CQL_ALTER_ROLE: rc = alter_role(x, hash); break;
	case COFFER_CQL_DROP_ROLE: rc = drop_role(x); break;
	default: rc = coffer_error_set(COFFER_E_INTERNAL, COFFER_WHERE, "not a role statement");
	}
	pthread_rwlock_unlock(&db->schema_lock);
	free(hash);
	return rc;
}
