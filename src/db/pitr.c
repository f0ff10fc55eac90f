/*
 * pitr.c - point-in-time recovery as the database sees it (issue 7;
 * docs/encryption.md "Backups and restore"): RESTORE TABLE and the
 * background restores it starts, tables retired instead of shredded (DROP
 * TABLE with point_in_time_recovery enabled, and the end of a key's grace
 * period) and kept restorable for the backup retention, and the periodic
 * pass that expires old history. Storage keeps the history itself
 * (coffer_table_set_pitr, coffer_restore_*; docs/storage.md).
 *
 * RESTORE TABLE ks.new FROM TABLE ks.src [WITH restore_timestamp = '...'
 * AND custom_properties = {...}] is validated while the statement runs, under
 * schema_lock held for writing: the target keyspace exists and the target
 * name is free (AlreadyExists), the source is a live table with PITR enabled
 * and usable, or else the newest retired table of that name; the timestamp
 * parses and lies in the restorable window, and the source's KMS key answers
 * (coffer_restore_open, which unwraps the source's table key). Then the
 * target is created under its own key (the source's specification unless
 * custom_properties gives one) with status RESTORING and the source's column
 * ids, the catalog is saved, the statement answers CREATED TABLE, and a
 * thread runs coffer_restore_run, logging every 10% and showing the
 * progress in custom_properties ('restore': {'progress': 'N%', ...}). At the
 * end the table becomes ACTIVE (event RESTORED), or is shredded and removed
 * (event RESTORE_FAILED naming the reason).
 *
 * Table states this file adds to keyhealth.c's diagram:
 *
 *   (RESTORE) ──► RESTORING ──run ok──► ACTIVE
 *                     │ run fails / restart: shredded, removed
 *   INACCESSIBLE ─grace period over─► DELETING ─► retired record (table gone)
 *   ACTIVE with PITR ─DROP TABLE─► retired record
 *   retired record ─retention over / CREATE of the same name─► purged
 *
 * Invariants:
 *  1. A retired record enters the catalog in the same save that removes its
 *     table, so the files of a table are always named by the catalog (as a
 *     table or a record) until purged; storage is purged only after the
 *     catalog no longer names it (as exec_ddl.c's invariant 2).
 *  2. A table that is the source or the target of a running restore cannot
 *     be dropped or truncated (db_pitr_check_busy), so the restore thread's
 *     pointers stay valid; a retired record being read is not purged.
 *  3. Retiring decrypts nothing and needs no key: it works while the KMS
 *     refuses the table key (the grace-period case).
 *  4. A restart never resumes a restore: the RESTORING table is shredded
 *     and removed with a RESTORE_FAILED event saying to run it again (the
 *     source is untouched, so running it again gives the same result).
 *  5. Messages and events name keyspaces, tables, keys and times, never
 *     user values.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"

#define DEFAULT_RETENTION_US (35 * COFFER_US_PER_DAY)
#define DEFAULT_GRACE_US (7 * COFFER_US_PER_DAY)
#define NAME_MAX_BYTES 65535

struct db_restore_job {
	struct coffer_db *db;
	struct db_table *dst;              /* the RESTORING table */
	char *keyspace, *name;             /* the target's names */
	char *source;                      /* "ks.src" */
	const struct db_table *src_live;   /* identity only (invariant 2) */
	const struct db_retired *src_ret;  /* identity only */
	struct coffer_restore *r;
	int64_t point_us;
	/* under db->pitr_mu */
	uint64_t done, total;
	int logged_pct;
	bool finished;                     /* no longer holds anything busy */
};

/* ---- small helpers ----------------------------------------------------------------- */

int64_t db_pitr_retention(const struct coffer_db *db)
{
	return db->cfg.backup_retention_us > 0 ? db->cfg.backup_retention_us : DEFAULT_RETENTION_US;
}

static int64_t grace_period(const struct coffer_db *db)
{
	return db->cfg.key_grace_period_us > 0 ? db->cfg.key_grace_period_us : DEFAULT_GRACE_US;
}

/* ISO-8601 with microseconds ("2024-06-30T04:05:00.123456Z"): what a user
 * copies into restore_timestamp must not be rounded out of the window. */
static void iso_us(int64_t us, char out[40])
{
	char ms[32];
	coffer_time_iso8601(us, ms);
	char *dot = strchr(ms, '.');
	if (!dot) {
		snprintf(out, 40, "%s", ms);
		return;
	}
	int64_t frac = us % COFFER_US_PER_SEC;
	if (frac < 0)
		frac += COFFER_US_PER_SEC;
	*dot = 0;
	snprintf(out, 40, "%s.%06lldZ", ms, (long long)frac);
}

/* A storage config carrying one table's grant tokens. */
static struct coffer_storage_config storage_for(const struct coffer_db *db, const char *const *tokens,
						size_t n)
{
	struct coffer_storage_config sc = db->storage;
	sc.grants.tokens = n ? tokens : NULL;
	sc.grants.n = n;
	return sc;
}

static void record_free(struct db_retired *rec)
{
	if (!rec)
		return;
	coffer_tabledef_free(rec->def);
	free(rec->reason);
	for (size_t i = 0; i < rec->n_col_ids; i++)
		free(rec->col_ids[i].name);
	free(rec->col_ids);
	free(rec->backup_grant_token);
	free(rec);
}

static void copy_col_ids(struct db_col_id **dst, size_t *n_dst, const struct db_col_id *src, size_t n)
{
	*dst = coffer_xcalloc(n ? n : 1, sizeof(**dst));
	for (size_t i = 0; i < n; i++) {
		(*dst)[i].name = coffer_xstrdup(src[i].name);
		(*dst)[i].id = src[i].id;
	}
	*n_dst = n;
}

/* Whether a running restore reads the record. Caller holds pitr_mu. */
static bool record_busy(const struct coffer_db *db, const struct db_retired *rec)
{
	for (size_t i = 0; i < db->n_restores; i++)
		if (!db->restores[i]->finished && db->restores[i]->src_ret == rec)
			return true;
	return false;
}

/* Purges records already out of the catalog (its save done): shreds their
 * storage, then frees them. */
static void purge_records(struct coffer_db *db, struct db_retired **recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct db_retired *rec = recs[i];
		struct coffer_table_desc d;
		coffer_db_table_desc(rec->def, rec->storage_id, &d);
		coffer_rc rc = coffer_table_purge(&db->storage, &d);
		if (rc != COFFER_OK)
			coffer_log_error(db->log, "db", "retired table %s.%s (storage %s): purging failed: %s: %s",
					 rec->def->keyspace, rec->def->name, rec->storage_id, coffer_rc_name(rc),
					 coffer_error_msg());
		else
			coffer_log_info(db->log, "db", "retired table %s.%s (storage %s) purged: its backup is gone",
					rec->def->keyspace, rec->def->name, rec->storage_id);
		record_free(rec);
	}
}

/* Takes the records `pick` selects out of db->retired into *out (caller
 * holds schema_lock for writing; records in use stay). */
static size_t take_records(struct coffer_db *db, bool (*pick)(const struct db_retired *, const void *),
			   const void *arg, struct db_retired ***out)
{
	size_t k = 0, n = 0;
	*out = coffer_xcalloc(db->n_retired ? db->n_retired : 1, sizeof(**out));
	pthread_mutex_lock(&db->pitr_mu);
	for (size_t i = 0; i < db->n_retired; i++) {
		struct db_retired *rec = db->retired[i];
		if (pick(rec, arg) && !record_busy(db, rec))
			(*out)[n++] = rec;
		else
			db->retired[k++] = rec;
	}
	pthread_mutex_unlock(&db->pitr_mu);
	db->n_retired = k;
	return n;
}

/* ---- init, open, close ----------------------------------------------------------- */

void db_pitr_init(struct coffer_db *db)
{
	pthread_mutex_init(&db->pitr_mu, NULL);
	pthread_cond_init(&db->pitr_cv, NULL);
}

void db_pitr_close(struct coffer_db *db)
{
	/* Invariant 2: the restore threads use the tables; they end first. */
	pthread_mutex_lock(&db->pitr_mu);
	if (db->n_restores)
		coffer_log_info(db->log, "db", "waiting for %zu restores to finish", db->n_restores);
	while (db->n_restores)
		pthread_cond_wait(&db->pitr_cv, &db->pitr_mu);
	pthread_mutex_unlock(&db->pitr_mu);
	for (size_t i = 0; i < db->n_retired; i++)
		record_free(db->retired[i]);
	free(db->retired);
	db->retired = NULL;
	db->n_retired = 0;
	free(db->restores);
	pthread_mutex_destroy(&db->pitr_mu);
	pthread_cond_destroy(&db->pitr_cv);
}

COFFER_RESULT db_pitr_apply(struct coffer_db *db, const struct coffer_tabledef *def, struct coffer_table *store)
{
	if (!def->pitr_enabled)
		return COFFER_OK;
	return coffer_table_set_pitr(store, true, db_pitr_retention(db));
}

COFFER_RESULT db_pitr_alter(struct coffer_db *db, struct db_table *t, bool enabled)
{
	TRY(db_table_usable(t));
	if (!enabled)
		TRY(db_pitr_check_busy(db, t));
	coffer_rc rc = coffer_table_set_pitr(t->store, enabled, db_pitr_retention(db));
	if (rc != COFFER_OK)
		return coffer_error_wrap("Table %s.%s: %s point-in-time recovery: ", t->def->keyspace, t->def->name,
					 enabled ? "enabling" : "disabling");
	coffer_log_info(db->log, "db", "table %s.%s: point-in-time recovery %s", t->def->keyspace, t->def->name,
			enabled ? "enabled (history starts now)" : "disabled (history erased)");
	return COFFER_OK;
}

/* ---- retiring ------------------------------------------------------------------------ */

void db_pitr_retire_add(struct coffer_db *db, struct db_table *t, const char *reason)
{
	struct db_retired *rec = COFFER_NEW(struct db_retired);
	int64_t now = coffer_clock_now_us(db->clock);
	rec->def = coffer_tabledef_clone(t->def);
	memcpy(rec->storage_id, t->storage_id, sizeof(rec->storage_id));
	snprintf(rec->kms_key_arn, sizeof(rec->kms_key_arn), "%s", t->kms_key_arn);
	rec->retired_us = now;
	rec->purge_us = now + db_pitr_retention(db);
	rec->reason = coffer_xstrdup(reason);
	copy_col_ids(&rec->col_ids, &rec->n_col_ids, t->col_ids, t->n_col_ids);
	rec->next_col_id = t->next_col_id;
	snprintf(rec->backup_grant_id, sizeof(rec->backup_grant_id), "%s", t->grant_ids[1]);
	rec->backup_grant_token = t->grant_tokens[1] ? coffer_xstrdup(t->grant_tokens[1]) : NULL;
	db->retired = coffer_xrealloc(db->retired, sizeof(*db->retired) * (db->n_retired + 1));
	db->retired[db->n_retired++] = rec;
}

void db_pitr_retire_undo(struct coffer_db *db, size_t n)
{
	while (n-- && db->n_retired)
		record_free(db->retired[--db->n_retired]);
}

void db_pitr_retire_store(struct coffer_db *db, struct db_table *t)
{
	if (t->store) {
		coffer_rc rc = coffer_table_retire(t->store);
		t->store = NULL; /* freed either way */
		if (rc != COFFER_OK)
			coffer_log_error(db->log, "db", "storage %s: retiring failed: %s: %s (its files stay)",
					 t->storage_id, coffer_rc_name(rc), coffer_error_msg());
	}
	coffer_log_info(db->log, "db", "storage %s retired: restorable for %lld s", t->storage_id,
			(long long)(db_pitr_retention(db) / COFFER_US_PER_SEC));
	t->def = NULL;
	db_table_free(t);
}

static bool same_name(const struct db_retired *rec, const void *arg)
{
	const char *const *kn = arg;
	return strcmp(rec->def->keyspace, kn[0]) == 0 && strcmp(rec->def->name, kn[1]) == 0;
}

void db_pitr_purge_name(struct coffer_db *db, const char *ks, const char *name)
{
	const char *kn[2] = {ks, name};
	struct db_retired **recs;
	size_t n = take_records(db, same_name, kn, &recs);
	if (n == 0) {
		free(recs);
		return;
	}
	if (db_save_catalog(db) != COFFER_OK) {
		/* Keep them: the catalog still names them (invariant 1). */
		coffer_log_error(db->log, "db", "retired tables of %s.%s not purged: %s (retried at expiry)", ks, name,
				 coffer_error_msg());
		for (size_t i = 0; i < n; i++) {
			db->retired = coffer_xrealloc(db->retired, sizeof(*db->retired) * (db->n_retired + 1));
			db->retired[db->n_retired++] = recs[i];
		}
		free(recs);
		return;
	}
	coffer_log_info(db->log, "db", "table %s.%s created: %zu retired tables of that name are no longer "
				       "restorable", ks, name, n);
	purge_records(db, recs, n);
	free(recs);
}

/* The newest retired table of a name, or NULL. */
static struct db_retired *newest_retired(struct coffer_db *db, const char *ks, const char *name)
{
	struct db_retired *best = NULL;
	for (size_t i = 0; i < db->n_retired; i++) {
		struct db_retired *rec = db->retired[i];
		if (strcmp(rec->def->keyspace, ks) == 0 && strcmp(rec->def->name, name) == 0 &&
		    (!best || rec->retired_us > best->retired_us))
			best = rec;
	}
	return best;
}

COFFER_RESULT db_pitr_check_busy(struct coffer_db *db, const struct db_table *t)
{
	coffer_rc rc = COFFER_OK;
	pthread_mutex_lock(&db->pitr_mu);
	for (size_t i = 0; i < db->n_restores; i++) {
		const struct db_restore_job *j = db->restores[i];
		if (j->finished || (j->dst != t && j->src_live != t))
			continue;
		rc = coffer_error_set(COFFER_E_INVALID, COFFER_WHERE,
				      "Table %s.%s is %s a running restore (%s.%s from %s); retry when it is ACTIVE",
				      t->def->keyspace, t->def->name, j->dst == t ? "the target of" : "the source of",
				      j->keyspace, j->name, j->source);
		break;
	}
	pthread_mutex_unlock(&db->pitr_mu);
	return rc;
}

/* ---- removing a table (grace expiry, failed or interrupted restores) ------------ */

/* Takes t out of its keyspace and db->tables; the caller saves, then
 * disposes of t->store and frees t (t->def is gone: kept in *keyspace and
 * *name for messages). Caller holds schema_lock for writing. */
static void detach_table(struct coffer_db *db, struct db_table *t)
{
	struct coffer_keyspace *ks = coffer_catalog_keyspace(&db->catalog, t->def->keyspace, true);
	db_tables_remove(db, t);
	if (ks) {
		char *name = coffer_xstrdup(t->def->name);
		coffer_rc rc = coffer_keyspace_drop_table(ks, name); /* frees t->def */
		(void)rc;                                             /* found just above */
		free(name);
	} else {
		coffer_tabledef_free(t->def);
	}
	t->def = NULL;
}

/* A RESTORING table that will not finish: its grants retired, it leaves the
 * catalog, its storage is shredded. Returns the event to deliver. */
static struct db_event *drop_restoring(struct coffer_db *db, struct db_table *t, const char *reason)
{
	char *ks = coffer_xstrdup(t->def->keyspace), *name = coffer_xstrdup(t->def->name);
	struct db_event *e = db_event_record(db, ks, name, "RESTORE_FAILED", t->kms_key_arn, reason);
	coffer_log_error(db->log, "db", "restore of %s.%s failed: %s; the table was removed", ks, name, reason);
	db_grants_retire_now(db, t);
	detach_table(db, t);
	coffer_rc rc = db_save_catalog(db);
	if (rc != COFFER_OK)
		coffer_log_error(db->log, "db", "saving the catalog after a failed restore: %s (the table is "
						"removed again at the next start)", coffer_error_msg());
	if (rc == COFFER_OK && t->store) {
		coffer_rc drc = coffer_table_drop(t->store);
		t->store = NULL;
		if (drc != COFFER_OK)
			coffer_log_error(db->log, "db", "storage %s of the failed restore: shredding failed: %s",
					 t->storage_id, coffer_rc_name(drc));
	}
	db_table_free(t);
	free(ks);
	free(name);
	return e;
}

/* The grace period is over (or a restart finds the table DELETING): the
 * table is retired (its files kept, nothing decrypted) and removed; events
 * BACKUP_TAKEN and DELETED. Caller holds schema_lock for writing and saves. */
static void expire_table(struct coffer_db *db, struct db_table *t, struct db_event ***evs, size_t *nev)
{
	char until[40];
	char *ks = coffer_xstrdup(t->def->keyspace), *name = coffer_xstrdup(t->def->name);
	char *reason = coffer_xasprintf("the KMS key %s stayed inaccessible past the key grace period (%lld s): %s",
					t->kms_key_arn, (long long)(grace_period(db) / COFFER_US_PER_SEC),
					t->status_reason ? t->status_reason : "no reason recorded");
	db_pitr_retire_add(db, t, reason);
	iso_us(db->retired[db->n_retired - 1]->purge_us, until);
	char *taken = coffer_xasprintf("a restorable backup of %s.%s was kept (no data decrypted); restore it "
				       "with RESTORE TABLE %s.<new name> FROM TABLE %s.%s until %s, once the key "
				       "is usable again",
				       ks, name, ks, ks, name, until);
	*evs = coffer_xrealloc(*evs, sizeof(**evs) * (*nev + 2));
	(*evs)[(*nev)++] = db_event_record(db, ks, name, "BACKUP_TAKEN", t->kms_key_arn, taken);
	(*evs)[(*nev)++] = db_event_record(db, ks, name, "DELETED", t->kms_key_arn, reason);
	db_grants_schedule_drop(db, t);
	if (!t->store) {
		/* Not open since a restart (the key was refused at open):
		 * marked retired as it lies, still without a key. */
		struct coffer_table_desc d;
		coffer_db_table_desc(t->def, t->storage_id, &d);
		if (coffer_table_retire_closed(&db->storage, &d) != COFFER_OK)
			coffer_log_error(db->log, "db", "table %s.%s: retiring storage %s: %s (its files stay)", ks,
					 name, t->storage_id, coffer_error_msg());
	}
	detach_table(db, t);
	db_pitr_retire_store(db, t);
	coffer_log_warn(db->log, "db", "table %s.%s deleted at the end of its key grace period; backup kept until %s",
			ks, name, until);
	free(taken);
	free(reason);
	free(ks);
	free(name);
}

static void deliver_all(struct coffer_db *db, struct db_event **evs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		db_event_deliver(db, evs[i]);
		db_event_free(evs[i]);
	}
	free(evs);
}

void db_pitr_open(struct coffer_db *db)
{
	struct db_event **evs = NULL;
	size_t nev = 0;
	bool changed = false;
	/* Invariant 4. Iterate over a copy: the list shrinks as we go. */
	size_t n = db->n_tables;
	struct db_table **ts = coffer_xcalloc(n ? n : 1, sizeof(*ts));
	if (n)
		memcpy(ts, db->tables, sizeof(*ts) * n);
	for (size_t i = 0; i < n; i++) {
		struct db_table *t = ts[i];
		if (t->status == COFFER_STATUS_RESTORING) {
			/* Not open yet: purge the directory as it is. */
			struct coffer_table_desc d;
			char *ks = coffer_xstrdup(t->def->keyspace), *name = coffer_xstrdup(t->def->name);
			evs = coffer_xrealloc(evs, sizeof(*evs) * (nev + 1));
			evs[nev++] = db_event_record(db, ks, name, "RESTORE_FAILED", t->kms_key_arn,
						     "the restore was interrupted by a restart; the partial table was "
						     "removed: run RESTORE TABLE again");
			coffer_log_warn(db->log, "db", "table %s.%s was being restored when cofferd stopped: removed",
					ks, name);
			db_grants_retire_now(db, t);
			struct coffer_tabledef *def = coffer_tabledef_clone(t->def);
			detach_table(db, t);
			if (db_save_catalog(db) == COFFER_OK) {
				coffer_db_table_desc(def, t->storage_id, &d);
				if (coffer_table_purge(&db->storage, &d) != COFFER_OK)
					coffer_log_error(db->log, "db", "storage %s: purging failed: %s", t->storage_id,
							 coffer_error_msg());
			}
			coffer_tabledef_free(def);
			db_table_free(t);
			free(ks);
			free(name);
			changed = true;
		} else if (t->status == COFFER_STATUS_DELETING) {
			expire_table(db, t, &evs, &nev);
			changed = true;
		}
	}
	free(ts);
	if (changed && db_save_catalog(db) != COFFER_OK)
		coffer_log_error(db->log, "db", "saving the catalog: %s", coffer_error_msg());
	deliver_all(db, evs, nev);
}

/* ---- the periodic pass ------------------------------------------------------------- */

static bool past_retention(const struct db_retired *rec, const void *arg)
{
	return rec->purge_us <= *(const int64_t *)arg;
}

/* Whether the pass has anything to change (caller holds schema_lock). */
static bool pass_due(const struct coffer_db *db, int64_t now)
{
	for (size_t i = 0; i < db->n_tables; i++) {
		const struct db_table *t = db->tables[i];
		bool inacc = t->status == COFFER_STATUS_INACCESSIBLE;
		if (inacc != (t->inaccessible_since_us != 0) ||
		    (inacc && now - t->inaccessible_since_us >= grace_period(db)))
			return true;
	}
	for (size_t i = 0; i < db->n_retired; i++)
		if (db->retired[i]->purge_us <= now)
			return true;
	return false;
}

/* History past the window; storage skips a table a restore is reading. */
static void expire_history(struct coffer_db *db)
{
	pthread_rwlock_rdlock(&db->schema_lock);
	for (size_t i = 0; i < db->n_tables; i++) {
		struct db_table *t = db->tables[i];
		if (!t->def->pitr_enabled || !t->store || t->status != COFFER_STATUS_ACTIVE)
			continue;
		if (coffer_table_backup_expire(t->store) != COFFER_OK)
			coffer_log_warn(db->log, "db", "table %s.%s: expiring old backups: %s", t->def->keyspace,
					t->def->name, coffer_error_msg());
	}
	pthread_rwlock_unlock(&db->schema_lock);
}

void db_pitr_pass(struct coffer_db *db)
{
	int64_t now = coffer_clock_now_us(db->clock);
	int64_t grace = grace_period(db);
	struct db_event **evs = NULL;
	size_t nev = 0;
	bool changed = false, expire = false;

	pthread_rwlock_rdlock(&db->schema_lock);
	bool due = pass_due(db, now);
	pthread_rwlock_unlock(&db->schema_lock);
	if (!due) {
		expire_history(db);
		return;
	}
	pthread_rwlock_wrlock(&db->schema_lock);
	/* Grace periods: counted from the first pass that sees a table
	 * INACCESSIBLE; DELETING is saved before the table goes. */
	for (size_t i = 0; i < db->n_tables; i++) {
		struct db_table *t = db->tables[i];
		if (t->status != COFFER_STATUS_INACCESSIBLE) {
			changed = changed || t->inaccessible_since_us != 0;
			t->inaccessible_since_us = 0;
			continue;
		}
		if (!t->inaccessible_since_us) {
			t->inaccessible_since_us = now;
			changed = true;
		}
		/* Invariant 2: not while a restore reads it (the next pass). */
		if (now - t->inaccessible_since_us >= grace && db_pitr_check_busy(db, t) == COFFER_OK) {
			t->status = COFFER_STATUS_DELETING;
			expire = true;
		}
	}
	if (expire) {
		if (db_save_catalog(db) != COFFER_OK)
			coffer_log_error(db->log, "db", "saving DELETING statuses: %s", coffer_error_msg());
		for (size_t i = 0; i < db->n_tables;) {
			if (db->tables[i]->status == COFFER_STATUS_DELETING)
				expire_table(db, db->tables[i], &evs, &nev); /* removes it */
			else
				i++;
		}
		changed = true;
	}
	struct db_retired **recs;
	size_t n = take_records(db, past_retention, &now, &recs);
	if (changed || n) {
		if (db_save_catalog(db) != COFFER_OK) {
			coffer_log_error(db->log, "db", "PITR pass: saving the catalog: %s", coffer_error_msg());
			for (size_t i = 0; i < n; i++) {
				db->retired = coffer_xrealloc(db->retired, sizeof(*db->retired) * (db->n_retired + 1));
				db->retired[db->n_retired++] = recs[i];
			}
			n = 0;
		}
	}
	purge_records(db, recs, n);
	free(recs);
	pthread_rwlock_unlock(&db->schema_lock);
	deliver_all(db, evs, nev);
	expire_history(db);
}

/* ---- custom_properties ----------------------------------------------------------------- */

void db_pitr_properties(struct coffer_db *db, const struct coffer_tabledef *def, const struct db_table *t,
			struct coffer_strmap *pitr, struct coffer_strmap *restore)
{
	bool on = def && def->pitr_enabled;
	coffer_strmap_set(pitr, "status", on ? "enabled" : "disabled");
	if (on && t && t->store) {
		int64_t e = coffer_table_earliest_restorable(t->store);
		if (e > 0) {
			char iso[40];
			iso_us(e, iso);
			coffer_strmap_set(pitr, "earliest_restorable_timestamp", iso);
		}
	}
	if (!t || t->status != COFFER_STATUS_RESTORING)
		return;
	pthread_mutex_lock(&db->pitr_mu);
	for (size_t i = 0; i < db->n_restores; i++) {
		const struct db_restore_job *j = db->restores[i];
		if (j->dst != t)
			continue;
		char pct[16], iso[40];
		int p = j->total ? (int)(j->done * 100 / j->total) : 0;
		snprintf(pct, sizeof(pct), "%d%%", p > 100 ? 100 : p);
		iso_us(j->point_us, iso);
		coffer_strmap_set(restore, "progress", pct);
		coffer_strmap_set(restore, "source_table", j->source);
		coffer_strmap_set(restore, "restore_timestamp", iso);
	}
	pthread_mutex_unlock(&db->pitr_mu);
}

/* ---- the catalog section ------------------------------------------------------------- */

/*
 * Format 3 of catalog.bin's payload appends (db.c holds the rest):
 *   varint    retired-table count; per record:
 *             lenbytes coffer_tabledef_encode, lenbytes storage id,
 *             lenbytes KMS key ARN, 8 retired (wall-clock us), 8 purge
 *             (us), lenbytes reason, 4 next column id, varint column-id
 *             count, per entry lenbytes name + 4 id, lenbytes backup grant
 *             id ("" if none), lenbytes its token ("" if none)
 *   varint    inaccessible-since count; per entry: lenbytes storage id,
 *             8 since (wall-clock us)
 */
void db_pitr_encode(const struct coffer_db *db, struct coffer_buf *p)
{
	struct coffer_buf tmp = {0};
	coffer_buf_put_varint(p, db->n_retired);
	for (size_t i = 0; i < db->n_retired; i++) {
		const struct db_retired *rec = db->retired[i];
		coffer_buf_reset(&tmp);
		coffer_tabledef_encode(rec->def, &tmp);
		coffer_buf_put_lenbytes(p, tmp.ptr, tmp.len);
		coffer_buf_put_str(p, rec->storage_id);
		coffer_buf_put_str(p, rec->kms_key_arn);
		coffer_buf_put_u64(p, (uint64_t)rec->retired_us);
		coffer_buf_put_u64(p, (uint64_t)rec->purge_us);
		coffer_buf_put_str(p, rec->reason ? rec->reason : "");
		coffer_buf_put_u32(p, rec->next_col_id);
		coffer_buf_put_varint(p, rec->n_col_ids);
		for (size_t k = 0; k < rec->n_col_ids; k++) {
			coffer_buf_put_str(p, rec->col_ids[k].name);
			coffer_buf_put_u32(p, rec->col_ids[k].id);
		}
		coffer_buf_put_str(p, rec->backup_grant_id);
		coffer_buf_put_str(p, rec->backup_grant_token ? rec->backup_grant_token : "");
	}
	coffer_buf_free(&tmp);
	size_t n = 0;
	for (size_t i = 0; i < db->n_tables; i++)
		n += db->tables[i]->inaccessible_since_us != 0;
	coffer_buf_put_varint(p, n);
	for (size_t i = 0; i < db->n_tables; i++) {
		const struct db_table *t = db->tables[i];
		if (!t->inaccessible_since_us)
			continue;
		coffer_buf_put_str(p, t->storage_id);
		coffer_buf_put_u64(p, (uint64_t)t->inaccessible_since_us);
	}
}

static COFFER_RESULT decode_record(struct coffer_reader *r, struct db_retired *rec)
{
	struct coffer_slice s;
	char *str = NULL;
	uint64_t v, n;
	TRY(coffer_reader_lenbytes(r, 1u << 28, &s));
	TRY(coffer_tabledef_decode(s, &rec->def));
	TRY(coffer_reader_str(r, COFFER_UUID_STR_LEN, &str));
	ENSURE(strlen(str) == COFFER_UUID_STR_LEN, COFFER_E_CORRUPT, "retired table: bad storage id");
	memcpy(rec->storage_id, str, COFFER_UUID_STR_LEN + 1);
	free(str);
	TRY(coffer_reader_str(r, COFFER_KEY_ARN_MAX - 1, &str));
	snprintf(rec->kms_key_arn, sizeof(rec->kms_key_arn), "%s", str);
	free(str);
	TRY(coffer_reader_u64(r, &v));
	rec->retired_us = (int64_t)v;
	TRY(coffer_reader_u64(r, &v));
	rec->purge_us = (int64_t)v;
	TRY(coffer_reader_str(r, 8192, &rec->reason));
	TRY(coffer_reader_u32(r, &rec->next_col_id));
	TRY(coffer_reader_varint(r, &n));
	ENSURE(n <= coffer_reader_left(r), COFFER_E_CORRUPT, "retired table: column id count past the end");
	rec->col_ids = coffer_xcalloc(n ? n : 1, sizeof(*rec->col_ids));
	for (uint64_t i = 0; i < n; i++) {
		TRY(coffer_reader_str(r, NAME_MAX_BYTES, &rec->col_ids[i].name));
		rec->n_col_ids++;
		TRY(coffer_reader_u32(r, &rec->col_ids[i].id));
		ENSURE(rec->col_ids[i].id < rec->next_col_id, COFFER_E_CORRUPT,
		       "retired table: column id past next id");
	}
	TRY(coffer_reader_str(r, COFFER_KEY_GRANT_ID_MAX - 1, &str));
	snprintf(rec->backup_grant_id, sizeof(rec->backup_grant_id), "%s", str);
	free(str);
	TRY(coffer_reader_str(r, 4096, &str));
	if (str[0])
		rec->backup_grant_token = str;
	else
		free(str);
	return COFFER_OK;
}

COFFER_RESULT db_pitr_decode(struct coffer_db *db, struct coffer_reader *r)
{
	uint64_t n;
	TRY(coffer_reader_varint(r, &n));
	ENSURE(n <= coffer_reader_left(r), COFFER_E_CORRUPT, "retired-table count past the end");
	for (uint64_t i = 0; i < n; i++) {
		struct db_retired *rec = COFFER_NEW(struct db_retired);
		coffer_rc rc = decode_record(r, rec);
		if (rc != COFFER_OK) {
			record_free(rec);
			return rc;
		}
		db->retired = coffer_xrealloc(db->retired, sizeof(*db->retired) * (db->n_retired + 1));
		db->retired[db->n_retired++] = rec;
	}
	TRY(coffer_reader_varint(r, &n));
	ENSURE(n <= coffer_reader_left(r), COFFER_E_CORRUPT, "inaccessible-since count past the end");
	for (uint64_t i = 0; i < n; i++) {
		char *sid = NULL;
		uint64_t since;
		TRY(coffer_reader_str(r, COFFER_UUID_STR_LEN, &sid));
		coffer_rc rc = coffer_reader_u64(r, &since);
		for (size_t k = 0; rc == COFFER_OK && k < db->n_tables; k++)
			if (strcmp(db->tables[k]->storage_id, sid) == 0)
				db->tables[k]->inaccessible_since_us = (int64_t)since;
		free(sid);
		TRY(rc);
	}
	return COFFER_OK;
}

/* ---- RESTORE TABLE ------------------------------------------------------------------- */

static void progress(void *arg, uint64_t done, uint64_t total)
{
	struct db_restore_job *j = arg;
	struct coffer_db *db = j->db;
	int log_pct = -1;
	pthread_mutex_lock(&db->pitr_mu);
	j->done = done;
	j->total = total;
	int p = total ? (int)(done * 100 / total) : 100;
	if (p >= j->logged_pct + 10) {
		j->logged_pct = p - p % 10;
		log_pct = j->logged_pct;
	}
	pthread_mutex_unlock(&db->pitr_mu);
	if (log_pct >= 0)
		coffer_log_info(db->log, "db", "restore of %s.%s from %s: %d%% (%llu of %llu bytes)", j->keyspace,
				j->name, j->source, log_pct, (unsigned long long)done, (unsigned long long)total);
}

static bool name_is(const struct db_retired *rec, const void *arg)
{
	const struct db_restore_job *j = arg;
	return strcmp(rec->def->keyspace, j->keyspace) == 0 && strcmp(rec->def->name, j->name) == 0;
}

/* The end of a restore: ACTIVE, or removed. */
static void restore_finish(struct db_restore_job *j, coffer_rc rc, const char *msg)
{
	struct coffer_db *db = j->db;
	struct db_event *e;
	struct db_retired **recs = NULL;
	size_t n = 0;
	char iso[40];
	iso_us(j->point_us, iso);
	pthread_rwlock_wrlock(&db->schema_lock);
	pthread_mutex_lock(&db->pitr_mu);
	j->finished = true; /* the source record may be purged from here on */
	pthread_mutex_unlock(&db->pitr_mu);
	struct db_table *t = j->dst;
	if (rc == COFFER_OK) {
		t->status = COFFER_STATUS_ACTIVE;
		char *why = coffer_xasprintf("restored from %s at %s", j->source, iso);
		e = db_event_record(db, j->keyspace, j->name, "RESTORED", t->kms_key_arn, why);
		free(why);
		/* A table of that name exists now: retired ones of the name end. */
		n = take_records(db, name_is, j, &recs);
		if (db_save_catalog(db) != COFFER_OK) {
			coffer_log_error(db->log, "db", "restore of %s.%s: saving ACTIVE: %s (ACTIVE in memory)",
					 j->keyspace, j->name, coffer_error_msg());
			for (size_t i = 0; i < n; i++) {
				db->retired = coffer_xrealloc(db->retired, sizeof(*db->retired) * (db->n_retired + 1));
				db->retired[db->n_retired++] = recs[i];
			}
			n = 0;
		}
		purge_records(db, recs, n);
		coffer_log_info(db->log, "db", "table %s.%s restored from %s at %s", j->keyspace, j->name, j->source,
				iso);
	} else {
		char *why = coffer_xasprintf("restoring from %s at %s failed: %s: %s", j->source, iso,
					     coffer_rc_name(rc), msg);
		e = drop_restoring(db, t, why);
		free(why);
	}
	free(recs);
	pthread_rwlock_unlock(&db->schema_lock);
	db_event_deliver(db, e);
	db_event_free(e);
}

static void job_free(struct db_restore_job *j)
{
	free(j->keyspace);
	free(j->name);
	free(j->source);
	free(j);
}

static void *restore_main(void *arg)
{
	struct db_restore_job *j = arg;
	struct coffer_db *db = j->db;
	char msg[1024] = "";
	pthread_mutex_lock(&db->pitr_mu);
	while (db->pitr_test_hold)
		pthread_cond_wait(&db->pitr_cv, &db->pitr_mu);
	pthread_mutex_unlock(&db->pitr_mu);
	coffer_rc rc = coffer_restore_run(j->r, j->dst->store, progress, j);
	if (rc != COFFER_OK)
		snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
	coffer_restore_close(j->r);
	j->r = NULL;
	restore_finish(j, rc, msg);
	/* Last: coffer_db_close may free db once the list is empty. */
	pthread_mutex_lock(&db->pitr_mu);
	for (size_t i = 0; i < db->n_restores; i++) {
		if (db->restores[i] != j)
			continue;
		memmove(&db->restores[i], &db->restores[i + 1], sizeof(*db->restores) * (db->n_restores - i - 1));
		db->n_restores--;
		break;
	}
	job_free(j);
	pthread_cond_broadcast(&db->pitr_cv);
	pthread_mutex_unlock(&db->pitr_mu);
	return NULL;
}

/* The KMS refusing the source's key, as an Invalid naming table, key and
 * reason (transient trouble keeps its code: retryable). */
static coffer_rc source_refused(const char *ks, const char *name, const char *arn, coffer_rc rc)
{
	bool transient = rc == COFFER_E_KMS_THROTTLING || rc == COFFER_E_UNAVAILABLE || rc == COFFER_E_TIMEOUT ||
			 rc == COFFER_E_KMS_DEPENDENCY_TIMEOUT;
	return coffer_error_set(transient ? rc : COFFER_E_INVALID, COFFER_WHERE,
				"Cannot restore from table %s.%s: its KMS key %s is not usable (%s: %s); a restore "
				"needs the last key the table used",
				ks, name, arn, coffer_rc_name(rc), coffer_error_msg());
}

/* What RESTORE resolved, before anything is created. */
struct restore_plan {
	const char *tks, *src_ks;
	struct db_table *live;
	struct db_retired *rec;
	struct coffer_tabledef *nd;       /* the target's definition (owned until added) */
	int64_t at_us;
	struct coffer_restore *r;
};

static COFFER_RESULT restore_resolve(struct coffer_exec *x, struct restore_plan *pl)
{
	const struct coffer_cql_restore *rs = &x->stmt->u.restore;
	struct coffer_db *db = x->db;
	const char *sess = x->session && x->session->keyspace[0] ? x->session->keyspace : NULL;
	pl->tks = rs->target.keyspace ? rs->target.keyspace : sess;
	pl->src_ks = rs->source.keyspace ? rs->source.keyspace : sess;
	ENSURE(pl->tks && pl->src_ks, COFFER_E_INVALID,
	       "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename");
	ENSURE(!db_is_system_keyspace(pl->tks), COFFER_E_DENIED, "System keyspace '%s' is not user-modifiable",
	       pl->tks);
	ENSURE(!db_is_system_keyspace(pl->src_ks), COFFER_E_INVALID, "Cannot restore from the system table %s.%s",
	       pl->src_ks, rs->source.name);
	struct coffer_keyspace *kt = coffer_catalog_keyspace(&db->catalog, pl->tks, true);
	ENSURE(kt, COFFER_E_INVALID, "Keyspace %s does not exist", pl->tks);
	if (coffer_keyspace_table(kt, rs->target.name, true))
		return db_ddl_already_exists(x, kt->name, rs->target.name);
	ENSURE(db_valid_name(rs->target.name), COFFER_E_INVALID,
	       "Table name must not be empty, more than 48 characters long, or contain non-alphanumeric-underscore "
	       "characters (got \"%s\")", rs->target.name);
	struct coffer_keyspace *ks = coffer_catalog_keyspace(&db->catalog, pl->src_ks, true);
	struct coffer_tabledef *sdef = ks ? coffer_keyspace_table(ks, rs->source.name, true) : NULL;
	if (sdef) {
		pl->live = db_table_of(db, sdef);
		ENSURE(pl->live, COFFER_E_INTERNAL, "table %s.%s has no handle", pl->src_ks, rs->source.name);
		ENSURE(sdef->pitr_enabled, COFFER_E_INVALID,
		       "Cannot restore from table %s.%s: point-in-time recovery is not enabled on it (ALTER TABLE "
		       "... WITH CUSTOM_PROPERTIES = {'point_in_time_recovery': {'status': 'enabled'}})",
		       pl->src_ks, rs->source.name);
		TRY(db_table_usable(pl->live));
	} else {
		pl->rec = newest_retired(db, pl->src_ks, rs->source.name);
		ENSURE(pl->rec, COFFER_E_INVALID,
		       "Cannot restore from table %s.%s: no such table, and no dropped table of that name is "
		       "restorable", pl->src_ks, rs->source.name);
		sdef = pl->rec->def;
	}
	pl->nd = coffer_tabledef_clone(sdef);
	free(pl->nd->keyspace);
	free(pl->nd->name);
	pl->nd->keyspace = coffer_xstrdup(kt->name);
	pl->nd->name = coffer_xstrdup(rs->target.name);
	db_random_uuid(pl->nd->id);
	return coffer_cql_restore_options(&rs->options, pl->nd, &pl->at_us);
}

/* Opens the source's history at the point asked for (checks the window and
 * the source's key). */
static COFFER_RESULT restore_open_source(struct coffer_exec *x, struct restore_plan *pl)
{
	struct coffer_db *db = x->db;
	const char *tokens[2];
	size_t n = 0;
	const struct coffer_tabledef *sdef = pl->live ? pl->live->def : pl->rec->def;
	const char *sid = pl->live ? pl->live->storage_id : pl->rec->storage_id;
	const char *arn = pl->live ? pl->live->kms_key_arn : pl->rec->kms_key_arn;
	if (pl->live) {
		for (size_t i = 0; i < 2; i++)
			if (pl->live->grant_tokens[i])
				tokens[n++] = pl->live->grant_tokens[i];
	} else if (pl->rec->backup_grant_token) {
		tokens[n++] = pl->rec->backup_grant_token;
	}
	struct coffer_storage_config sc = storage_for(db, tokens, n);
	struct coffer_table_desc d;
	coffer_db_table_desc(sdef, sid, &d);
	coffer_rc rc = coffer_restore_open(&sc, &d, pl->live ? pl->live->store : NULL, pl->at_us, &pl->r);
	if (rc == COFFER_OK)
		return COFFER_OK;
	pl->r = NULL;
	if (db_rc_is_key_error(rc))
		return source_refused(sdef->keyspace, sdef->name, arn, rc);
	/* storage's messages start "table ks.t: " already: said once */
	const char *msg = coffer_error_msg();
	char *prefix = coffer_xasprintf("table %s.%s: ", sdef->keyspace, sdef->name);
	if (strncmp(msg, prefix, strlen(prefix)) == 0)
		msg += strlen(prefix);
	rc = coffer_error_set(rc, COFFER_WHERE, "Cannot restore from table %s.%s: %s", sdef->keyspace, sdef->name,
			      msg);
	free(prefix);
	return rc;
}

/* Starts the restore thread for j (already in the catalog); false if the
 * thread could not start (j not listed then). */
static bool restore_start(struct coffer_db *db, struct db_restore_job *j)
{
	pthread_t tid;
	pthread_attr_t attr;
	pthread_mutex_lock(&db->pitr_mu);
	db->restores = coffer_xrealloc(db->restores, sizeof(*db->restores) * (db->n_restores + 1));
	db->restores[db->n_restores++] = j;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&tid, &attr, restore_main, j);
	pthread_attr_destroy(&attr);
	if (err != 0)
		db->n_restores--;
	pthread_mutex_unlock(&db->pitr_mu);
	return err == 0;
}

static struct db_restore_job *job_new(struct coffer_db *db, struct db_table *t, struct restore_plan *pl)
{
	struct db_restore_job *j = COFFER_NEW(struct db_restore_job);
	j->db = db;
	j->dst = t;
	j->keyspace = coffer_xstrdup(t->def->keyspace);
	j->name = coffer_xstrdup(t->def->name);
	j->source = pl->live ? coffer_xasprintf("%s.%s", pl->live->def->keyspace, pl->live->def->name)
			     : coffer_xasprintf("%s.%s (dropped)", pl->rec->def->keyspace, pl->rec->def->name);
	j->src_live = pl->live;
	j->src_ret = pl->rec;
	j->r = pl->r;
	j->point_us = coffer_restore_point(pl->r);
	j->total = coffer_restore_total_bytes(pl->r);
	pl->r = NULL;
	return j;
}

/* Caller holds schema_lock for writing; *ev (delivered by the caller after
 * unlocking) is the RESTORING event, or the RESTORE_FAILED one when the
 * table was made but its restore could not start. */
static COFFER_RESULT restore_table(struct coffer_exec *x, struct db_event **ev)
{
	struct coffer_db *db = x->db;
	struct restore_plan pl;
	struct db_table *t = NULL;
	coffer_rc rc;
	char iso[40];
	memset(&pl, 0, sizeof(pl));

	TRY_FAIL(restore_resolve(x, &pl));
	TRY_FAIL(restore_open_source(x, &pl));
	/* The target: its own key and grants per its specification, the
	 * source's column ids (the restored cells carry them). */
	t = db_table_new(pl.nd);
	t->status = COFFER_STATUS_RESTORING;
	free(t->col_ids);
	if (pl.live)
		copy_col_ids(&t->col_ids, &t->n_col_ids, pl.live->col_ids, pl.live->n_col_ids);
	else
		copy_col_ids(&t->col_ids, &t->n_col_ids, pl.rec->col_ids, pl.rec->n_col_ids);
	t->next_col_id = pl.live ? pl.live->next_col_id : pl.rec->next_col_id;
	TRY_FAIL(db_table_provision(x, t, NULL));
	rc = coffer_keyspace_add_table(coffer_catalog_keyspace(&db->catalog, pl.tks, true), pl.nd);
	if (rc != COFFER_OK) {
		db_grants_retire_now(db, t);
		if (coffer_table_drop(t->store) != COFFER_OK)
			coffer_log_error(db->log, "db", "storage %s: shredding failed", t->storage_id);
		t->store = NULL;
		goto fail;
	}
	pl.nd = NULL; /* the keyspace's now */
	db_tables_add(db, t);
	struct db_restore_job *j = job_new(db, t, &pl);
	iso_us(j->point_us, iso);
	rc = db_save_catalog(db);
	if (rc == COFFER_OK && restore_start(db, j)) {
		char *why = coffer_xasprintf("restoring from %s at %s", j->source, iso);
		*ev = db_event_record(db, j->keyspace, j->name, "RESTORING", t->kms_key_arn, why);
		free(why);
		coffer_log_info(db->log, "db", "table %s.%s: restore from %s at %s started (%llu bytes to read)",
				t->def->keyspace, t->def->name, j->source, iso, (unsigned long long)j->total);
		/* j belongs to its thread now (it may even be gone). */
		return db_ddl_schema_result(x, "CREATED", "TABLE", t->def->keyspace, t->def->name);
	}
	if (rc == COFFER_OK)
		rc = coffer_error_set(COFFER_E_IO, COFFER_WHERE, "Cannot restore into %s.%s: starting the restore "
						     "thread failed", j->keyspace, j->name);
	/* Not started: the table goes again. */
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
	coffer_restore_close(j->r);
	job_free(j);
	*ev = drop_restoring(db, t, msg);
	return coffer_error_set(rc, COFFER_WHERE, "%s", msg);
fail:
	if (t) {
		t->def = NULL;
		db_table_free(t);
	}
	coffer_restore_close(pl.r);
	coffer_tabledef_free(pl.nd);
	return rc;
}

COFFER_RESULT exec_restore_table(struct coffer_exec *x)
{
	struct db_event *ev = NULL;
	pthread_rwlock_wrlock(&x->db->schema_lock);
	coffer_rc rc = restore_table(x, &ev);
	pthread_rwlock_unlock(&x->db->schema_lock);
	if (ev) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
		db_event_deliver(x->db, ev);
		db_event_free(ev);
		if (rc != COFFER_OK)
			rc = coffer_error_set(rc, COFFER_WHERE, "%s", msg);
	}
	if (rc == COFFER_OK)
		db_ddl_notify(x);
	return rc;
}
