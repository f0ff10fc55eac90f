/*
 * keyhealth.c - the key-health thread and the grants of customer managed
 * keys (DESIGN.md section 2, rules 6 and 7, "Table key states", "Grants").
 *
 * Every key_check_interval (and at once when a request's path sees a table
 * key's state change: the keyring's on_key_state hook), one pass:
 *
 *   1. Under schema_lock held for reading, each ACTIVE or INACCESSIBLE table
 *      is probed. While its table key is cached, the probe makes no Decrypt
 *      for it (the cache is peeked, so the check does not count as a use
 *      and the key still expires after its idle period), except that a
 *      table on a customer managed key is re-validated once per idle period
 *      (coffer_keyring_revalidate: Decrypt with its grant tokens, the cache
 *      untouched), so revoked grants and a key policy that stopped allowing
 *      coffer are seen even on a table kept busy; otherwise
 *      coffer_table_key_check asks the KMS (Decrypt). A table on a customer
 *      managed key also gets DescribeKey, so a disabled or pending-deletion
 *      key is seen within one interval even while cached. A table whose
 *      storage could not be opened is opened again (into a local handle).
 *   2. Under schema_lock held for writing, the results are applied to the
 *      tables still there: ACTIVE -> INACCESSIBLE_ENCRYPTION_CREDENTIALS
 *      (reason naming table, key and the KMS error; the cached table key is
 *      wiped so the way back needs the KMS's word), INACCESSIBLE -> ACTIVE
 *      when the key answers again. Changes and their events are saved in
 *      the catalog before the lock is released.
 *   3. Events are delivered (notify.c) with no lock held; grants whose
 *      release time has come are retired.
 *
 *                 key check / DescribeKey refused
 *        ACTIVE ───────────────────────────────────► INACCESSIBLE_...
 *           ▲          key check (Decrypt) OK              │
 *           └──────────────────────────────────────────────┘
 *
 * A KMS that cannot be reached (UNAVAILABLE, TIMEOUT, throttling) changes
 * no status: the requests that need the key fail with a retryable error and
 * the cached ones keep working (rule 7).
 *
 * Grants: a table on a customer managed key holds "coffer-<table id>-ops"
 * and "coffer-<table id>-backup", with Keyspaces' operations and an
 * EncryptionContextSubset constraint of the table's context as the keyring
 * builds it minus the storage id ({"coffer:keyspace", "coffer:table"}): the
 * storage id changes at TRUNCATE, the table's name does not. DROP TABLE
 * schedules the first for now and the second for now + grant_release_delay
 * in the catalog's release list; due ones are retired by DROP itself and by
 * every pass, so the release survives restarts and KMS outages.
 *
 * The grace period (key_grace_period_us): each pass ends with pitr.c's
 * db_pitr_pass, which retires a table INACCESSIBLE for longer (a restorable
 * backup, no data decrypted; DELETING, then the table is gone, with events
 * BACKUP_TAKEN and DELETED) and expires old point-in-time history.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db_internal.h"
#include "keys/cache.h"
#include "keys/keyring.h"

#define DEFAULT_CHECK_INTERVAL_US (60 * COFFER_US_PER_SEC)
#define DEFAULT_RELEASE_DELAY_US (42 * COFFER_US_PER_DAY)

static const char *const grant_suffix[2] = {"ops", "backup"};

static bool transient(coffer_rc rc)
{
	return rc == COFFER_E_UNAVAILABLE || rc == COFFER_E_TIMEOUT || rc == COFFER_E_KMS_THROTTLING ||
	       rc == COFFER_E_KMS_DEPENDENCY_TIMEOUT || rc == COFFER_E_KMS_INTERNAL;
}

/* ---- KMS calls per table --------------------------------------------------------------- */

void db_kms_note(void *arg, const char *ks, const char *table, enum coffer_key_provider_op op, coffer_rc rc)
{
	struct coffer_db *db = arg;
	if (!ks || !table || op >= COFFER_KEY_OP_COUNT)
		return;
	int64_t now = coffer_clock_now_us(db->clock);
	pthread_mutex_lock(&db->kms_mu);
	struct db_kms_stat *st = NULL;
	for (size_t i = 0; i < db->n_kms_stats && !st; i++)
		if (strcmp(db->kms_stats[i].keyspace, ks) == 0 && strcmp(db->kms_stats[i].table, table) == 0)
			st = &db->kms_stats[i];
	if (!st) {
		db->kms_stats = coffer_xrealloc(db->kms_stats, sizeof(*db->kms_stats) * (db->n_kms_stats + 1));
		st = &db->kms_stats[db->n_kms_stats++];
		memset(st, 0, sizeof(*st));
		st->keyspace = coffer_xstrdup(ks);
		st->table = coffer_xstrdup(table);
	}
	st->op[op].calls++;
	st->op[op].last_us = now;
	snprintf(st->op[op].last_result, sizeof(st->op[op].last_result), "%s",
		 rc == COFFER_OK ? "Success" : coffer_rc_name(rc));
	pthread_mutex_unlock(&db->kms_mu);
}

void db_kms_stats_copy(struct coffer_db *db, struct db_kms_stat **out, size_t *n)
{
	pthread_mutex_lock(&db->kms_mu);
	*n = db->n_kms_stats;
	*out = coffer_xcalloc(*n ? *n : 1, sizeof(**out));
	for (size_t i = 0; i < *n; i++) {
		(*out)[i] = db->kms_stats[i];
		(*out)[i].keyspace = coffer_xstrdup(db->kms_stats[i].keyspace);
		(*out)[i].table = coffer_xstrdup(db->kms_stats[i].table);
	}
	pthread_mutex_unlock(&db->kms_mu);
}

void db_kms_stats_free(struct db_kms_stat *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].keyspace);
		free(s[i].table);
	}
	free(s);
}

/* One metric family: a line per table and operation with calls. Label
 * values are catalog names (letters, digits, underscores): nothing to
 * escape. */
static void render_family(struct coffer_buf *out, const struct db_kms_stat *st, size_t n, const char *name,
			  const char *help_type, bool last_call)
{
	coffer_buf_printf(out, "%s", help_type);
	for (size_t i = 0; i < n; i++)
		for (size_t op = 0; op < COFFER_KEY_OP_COUNT; op++) {
			const struct db_kms_op_stat *o = &st[i].op[op];
			if (!o->calls)
				continue;
			coffer_buf_printf(out, "%s{keyspace=\"%s\",table=\"%s\",operation=\"%s\"} ", name,
					  st[i].keyspace, st[i].table,
					  coffer_key_provider_op_name((enum coffer_key_provider_op)op));
			if (last_call)
				coffer_buf_printf(out, "%.3f\n", (double)o->last_us / 1e6);
			else
				coffer_buf_printf(out, "%llu\n", (unsigned long long)o->calls);
		}
}

void coffer_db_render_kms_metrics(struct coffer_db *db, struct coffer_buf *out)
{
	struct db_kms_stat *st;
	size_t n;
	db_kms_stats_copy(db, &st, &n);
	render_family(out, st, n, "coffer_table_kms_calls_total",
		      "# HELP coffer_table_kms_calls_total KMS calls cofferd made for a table, by operation, since "
		      "it started.\n# TYPE coffer_table_kms_calls_total counter\n",
		      false);
	render_family(out, st, n, "coffer_table_kms_last_call_seconds",
		      "# HELP coffer_table_kms_last_call_seconds Time of the last KMS call for a table, by "
		      "operation (Unix seconds).\n# TYPE coffer_table_kms_last_call_seconds gauge\n",
		      true);
	db_kms_stats_free(st, n);
}

/* DescribeKey for a table, counted for it. */
coffer_rc db_describe_key(struct coffer_db *db, const char *ks, const char *table, const char *key,
			  struct coffer_key_description *d)
{
	coffer_rc rc = coffer_key_provider_describe_key(db->cfg.provider, key, d);
	db_kms_note(db, ks, table, COFFER_KEY_OP_DESCRIBE_KEY, rc);
	return rc;
}

static coffer_rc retire_for(struct coffer_db *db, const struct db_table *t, const char *id)
{
	coffer_rc rc = coffer_key_provider_retire_grant(db->cfg.provider, t->kms_key_arn, id, NULL);
	db_kms_note(db, t->def->keyspace, t->def->name, COFFER_KEY_OP_RETIRE_GRANT, rc);
	return rc;
}

/* ---- grants ------------------------------------------------------------------------ */

void db_grants_free(struct db_table *t)
{
	for (size_t i = 0; i < 2; i++) {
		free(t->grant_tokens[i]);
		t->grant_tokens[i] = NULL;
		t->grant_ids[i][0] = 0;
	}
}

void db_grants_retire_now(struct coffer_db *db, struct db_table *t)
{
	for (size_t i = 0; i < 2; i++) {
		if (!t->grant_ids[i][0])
			continue;
		if (retire_for(db, t, t->grant_ids[i]) != COFFER_OK)
			coffer_log_warn(db->log, "db", "table %s.%s: retiring grant %s on %s: %s", t->def->keyspace,
					t->def->name, t->grant_ids[i], t->kms_key_arn, coffer_rc_name(coffer_error_code()));
	}
	db_grants_free(t);
}

COFFER_RESULT db_grants_create(struct coffer_db *db, struct db_table *t)
{
	const struct coffer_key_context_pair pairs[] = {
		{"coffer:keyspace", t->def->keyspace},
		{"coffer:table", t->def->name},
	};
	const struct coffer_key_context subset = {pairs, COFFER_ARRAY_LEN(pairs)};
	for (size_t i = 0; i < 2; i++) {
		char name[64];
		snprintf(name, sizeof(name), "coffer-%s-%s", t->storage_id, grant_suffix[i]);
		struct coffer_key_grant_request req = {
			.key_ref = t->kms_key_arn,
			.context_subset = &subset,
			.name = name,
		};
		coffer_rc rc = coffer_key_provider_create_grant(db->cfg.provider, &req, t->grant_ids[i],
								&t->grant_tokens[i]);
		if (rc == COFFER_OK)
			continue;
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
		t->grant_ids[i][0] = 0;
		t->grant_tokens[i] = NULL;
		db_grants_retire_now(db, t);
		if (rc == COFFER_E_KMS_LIMIT_EXCEEDED)
			BAIL(COFFER_E_KMS_LIMIT_EXCEEDED,
			     "Cannot create table %s.%s: the KMS key %s holds the most grants a key may have (50,000), "
			     "so coffer cannot add the table's grant (LimitExceededException: %s)",
			     t->def->keyspace, t->def->name, t->kms_key_arn, msg);
		return coffer_error_set(rc, COFFER_WHERE, "creating grant %s on %s: %s", name, t->kms_key_arn, msg);
	}
	coffer_log_info(db->log, "db", "table %s.%s: grants %s and %s created on %s", t->def->keyspace, t->def->name,
			t->grant_ids[0], t->grant_ids[1], t->kms_key_arn);
	return COFFER_OK;
}

static void release_add(struct coffer_db *db, const char *arn, const char *id, int64_t due)
{
	db->releases = coffer_xrealloc(db->releases, sizeof(*db->releases) * (db->n_releases + 1));
	struct db_grant_release *g = &db->releases[db->n_releases++];
	memset(g, 0, sizeof(*g));
	snprintf(g->key_arn, sizeof(g->key_arn), "%s", arn);
	snprintf(g->grant_id, sizeof(g->grant_id), "%s", id);
	g->due_us = due;
}

void db_grants_schedule_drop(struct coffer_db *db, struct db_table *t)
{
	int64_t now = coffer_clock_now_us(db->clock);
	int64_t delay = db->cfg.grant_release_delay_us > 0 ? db->cfg.grant_release_delay_us
							    : DEFAULT_RELEASE_DELAY_US;
	if (t->grant_ids[0][0])
		release_add(db, t->kms_key_arn, t->grant_ids[0], now);
	if (t->grant_ids[1][0])
		release_add(db, t->kms_key_arn, t->grant_ids[1], now + delay);
}

void db_grants_unschedule(struct coffer_db *db, const struct db_table *t)
{
	size_t k = 0;
	for (size_t i = 0; i < db->n_releases; i++) {
		const struct db_grant_release *g = &db->releases[i];
		bool held = strcmp(g->key_arn, t->kms_key_arn) == 0 &&
			    (strcmp(g->grant_id, t->grant_ids[0]) == 0 || strcmp(g->grant_id, t->grant_ids[1]) == 0);
		if (!held)
			db->releases[k++] = *g;
	}
	db->n_releases = k;
}

bool db_grants_release_due(struct coffer_db *db)
{
	int64_t now = coffer_clock_now_us(db->clock);
	bool changed = false;
	size_t k = 0;
	for (size_t i = 0; i < db->n_releases; i++) {
		struct db_grant_release *g = &db->releases[i];
		bool done = false;
		if (g->due_us <= now) {
			coffer_rc rc = coffer_key_provider_retire_grant(db->cfg.provider, g->key_arn, g->grant_id, NULL);
			/* Gone already (revoked, or the key deleted): nothing to retire. */
			done = rc == COFFER_OK || rc == COFFER_E_KMS_NOT_FOUND || rc == COFFER_E_KMS_INVALID_GRANT_ID ||
			       rc == COFFER_E_KMS_INVALID_GRANT_TOKEN;
			if (done)
				coffer_log_info(db->log, "db", "grant %s on %s retired", g->grant_id, g->key_arn);
			else
				coffer_log_warn(db->log, "db", "grant %s on %s: retiring failed (%s: %s); retried later",
						g->grant_id, g->key_arn, coffer_rc_name(rc), coffer_error_msg());
		}
		if (done) {
			changed = true;
			continue;
		}
		db->releases[k++] = *g;
	}
	db->n_releases = k;
	return changed;
}

/* ---- probes -------------------------------------------------------------------------- */

struct probe {
	struct db_table *t;              /* identity only; revalidated under the write lock */
	char storage_id[COFFER_UUID_STR_LEN + 1];
	coffer_rc rc;                    /* COFFER_OK: usable */
	char msg[768];
	struct coffer_table *opened;     /* storage opened by this pass */
};

static void probe_fail(struct probe *p, coffer_rc rc, const char *msg)
{
	p->rc = rc;
	snprintf(p->msg, sizeof(p->msg), "%s", msg);
}

/* Caller holds schema_lock for reading. */
static void probe_table(struct coffer_db *db, struct db_table *t, struct probe *p)
{
	p->rc = COFFER_OK;
	if (!t->store) {
		coffer_rc rc = db_table_open_store_to(db, t, false, &p->opened);
		if (rc != COFFER_OK) {
			p->opened = NULL;
			probe_fail(p, rc, coffer_error_msg());
			return;
		}
	} else {
		/* Peek first: a check must not keep an idle key alive (rule 6). */
		struct coffer_keyring_info ki;
		coffer_keyring_info(coffer_table_keyring(t->store), &ki);
		bool cached = t->status != COFFER_STATUS_INACCESSIBLE &&
			      coffer_key_cache_peek(db->cfg.cache, t->storage_id, ki.version);
		coffer_rc rc = COFFER_OK;
		if (!cached)
			rc = coffer_table_key_check(t->store);
		else if (t->def->encryption == COFFER_ENC_CUSTOMER_MANAGED)
			/* A busy table's key never leaves the cache: ask the KMS
			 * once per idle period anyway, with the grant tokens, so a
			 * revoked grant or a policy that stopped allowing coffer is
			 * seen within the idle period plus one interval. */
			rc = coffer_keyring_revalidate(coffer_table_keyring(t->store),
						       coffer_key_cache_idle_us(db->cfg.cache));
		if (rc != COFFER_OK) {
			probe_fail(p, rc, coffer_error_msg());
			return;
		}
	}
	if (t->def->encryption != COFFER_ENC_CUSTOMER_MANAGED)
		return;
	struct coffer_key_description d;
	memset(&d, 0, sizeof(d));
	coffer_rc rc = db_describe_key(db, t->def->keyspace, t->def->name, t->kms_key_arn, &d);
	if (rc != COFFER_OK) {
		if (!transient(rc))
			probe_fail(p, rc, coffer_error_msg());
		return;
	}
	char msg[COFFER_KEY_ARN_MAX + 32];
	if (d.state == COFFER_KEY_STATE_DISABLED) {
		snprintf(msg, sizeof(msg), "%s is disabled.", d.arn);
		probe_fail(p, COFFER_E_KMS_DISABLED, msg);
	} else if (d.state == COFFER_KEY_STATE_PENDING_DELETION) {
		snprintf(msg, sizeof(msg), "%s is pending deletion.", d.arn);
		probe_fail(p, COFFER_E_KMS_INVALID_STATE, msg);
	}
}

static struct db_table *find_probed(struct coffer_db *db, const struct probe *p)
{
	for (size_t i = 0; i < db->n_tables; i++)
		if (db->tables[i] == p->t && strcmp(p->t->storage_id, p->storage_id) == 0)
			return p->t;
	return NULL;
}

/* Applies one probe; returns an event to deliver, or NULL. Caller holds
 * schema_lock for writing. */
static struct db_event *apply_probe(struct coffer_db *db, struct probe *p, bool *changed)
{
	struct db_table *t = find_probed(db, p);
	if (!t) {
		if (p->opened)
			coffer_table_close(p->opened);
		return NULL;
	}
	if (p->opened) {
		if (!t->store)
			t->store = p->opened;
		else
			coffer_table_close(p->opened);
		p->opened = NULL;
	}
	if (p->rc == COFFER_OK && t->status == COFFER_STATUS_INACCESSIBLE && t->store) {
		t->status = COFFER_STATUS_ACTIVE;
		free(t->status_reason);
		t->status_reason = NULL;
		*changed = true;
		return db_event_record(db, t->def->keyspace, t->def->name, "ACTIVE", t->kms_key_arn,
				       "the KMS key is usable again");
	}
	if (p->rc != COFFER_OK && !transient(p->rc) && db_rc_is_key_error(p->rc) &&
	    t->status == COFFER_STATUS_ACTIVE) {
		db_table_set_inaccessible(t, p->rc, p->msg);
		/* The cached plaintext goes now: coming back takes a Decrypt. */
		coffer_key_cache_drop(db->cfg.cache, t->storage_id);
		*changed = true;
		return db_event_record(db, t->def->keyspace, t->def->name, coffer_table_status_name(t->status),
				       t->kms_key_arn, t->status_reason);
	}
	return NULL;
}

void db_keyhealth_run_once(struct coffer_db *db)
{
	struct probe *probes = NULL;
	size_t n = 0;
	bool any = false, due = false;
	int64_t now = coffer_clock_now_us(db->clock);

	db_batchlog_sweep(db);
	pthread_rwlock_rdlock(&db->schema_lock);
	probes = coffer_xcalloc(db->n_tables ? db->n_tables : 1, sizeof(*probes));
	for (size_t i = 0; i < db->n_tables; i++) {
		struct db_table *t = db->tables[i];
		if (t->status != COFFER_STATUS_ACTIVE && t->status != COFFER_STATUS_INACCESSIBLE)
			continue;
		struct probe *p = &probes[n++];
		p->t = t;
		memcpy(p->storage_id, t->storage_id, sizeof(p->storage_id));
		probe_table(db, t, p);
		bool inacc = t->status == COFFER_STATUS_INACCESSIBLE;
		if (p->opened || (p->rc == COFFER_OK && inacc) ||
		    (p->rc != COFFER_OK && !inacc && !transient(p->rc) && db_rc_is_key_error(p->rc)))
			any = true;
	}
	for (size_t i = 0; i < db->n_releases; i++)
		due = due || db->releases[i].due_us <= now;
	pthread_rwlock_unlock(&db->schema_lock);

	struct db_event **evs = NULL;
	size_t nev = 0;
	if (any || due) {
		bool changed = false;
		pthread_rwlock_wrlock(&db->schema_lock);
		evs = coffer_xcalloc(n ? n : 1, sizeof(*evs));
		for (size_t i = 0; i < n; i++) {
			struct db_event *e = apply_probe(db, &probes[i], &changed);
			if (e)
				evs[nev++] = e;
		}
		if (due && db_grants_release_due(db))
			changed = true;
		if (changed && db_save_catalog(db) != COFFER_OK)
			coffer_log_error(db->log, "db", "key health: saving the catalog: %s (the statuses hold in "
							"memory and are found again at the next start)",
					 coffer_error_msg());
		pthread_rwlock_unlock(&db->schema_lock);
	}
	for (size_t i = 0; i < nev; i++) {
		db_event_deliver(db, evs[i]);
		db_event_free(evs[i]);
	}
	free(evs);
	free(probes);
	db_pitr_pass(db);
}

/* ---- the thread ------------------------------------------------------------------------ */

void db_keyhealth_wake(struct coffer_db *db)
{
	pthread_mutex_lock(&db->health_mu);
	db->health_wake = true;
	pthread_cond_signal(&db->health_cv);
	pthread_mutex_unlock(&db->health_mu);
}

static void *health_main(void *arg)
{
	struct coffer_db *db = arg;
	int64_t interval = db->cfg.key_check_interval_us > 0 ? db->cfg.key_check_interval_us
							     : DEFAULT_CHECK_INTERVAL_US;
	for (;;) {
		/* The first pass runs at once: tables left INACCESSIBLE by the
		 * last run come back as soon as their key answers. */
		db_keyhealth_run_once(db);
		pthread_mutex_lock(&db->health_mu);
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		int64_t ns = (int64_t)until.tv_nsec + (interval % COFFER_US_PER_SEC) * 1000;
		until.tv_sec += (time_t)(interval / COFFER_US_PER_SEC + ns / 1000000000);
		until.tv_nsec = (long)(ns % 1000000000);
		while (!db->health_stop && !db->health_wake)
			if (pthread_cond_timedwait(&db->health_cv, &db->health_mu, &until) == ETIMEDOUT)
				break;
		bool stop = db->health_stop;
		db->health_wake = false;
		pthread_mutex_unlock(&db->health_mu);
		if (stop)
			return NULL;
	}
}

COFFER_RESULT db_keyhealth_start(struct coffer_db *db)
{
	if (db->cfg.key_check_interval_us < 0)
		return COFFER_OK;
	/* The condition variable waits on the monotonic clock. */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&db->health_cv);
	pthread_cond_init(&db->health_cv, &ca);
	pthread_condattr_destroy(&ca);
	db->health_stop = false;
	int err = pthread_create(&db->health_tid, NULL, health_main, db);
	ENSURE(err == 0, COFFER_E_IO, "starting the key-health thread: %s", strerror(err));
	db->health_running = true;
	return COFFER_OK;
}

void db_keyhealth_stop(struct coffer_db *db)
{
	if (!db->health_running)
		return;
	pthread_mutex_lock(&db->health_mu);
	db->health_stop = true;
	pthread_cond_signal(&db->health_cv);
	pthread_mutex_unlock(&db->health_mu);
	pthread_join(db->health_tid, NULL);
	db->health_running = false;
}
