/*
 * ddl.c - from DDL statements to catalog definitions: CREATE TABLE into a
 * struct coffer_tabledef, table options (including Amazon Keyspaces'
 * custom_properties) onto a table, RESTORE TABLE's options (restore_timestamp
 * and the target's custom_properties), and keyspace options into a
 * replication map.
 *
 * Invariants:
 *  1. Options are applied to a clone and swapped in only when all of them are
 *     valid, so a refused ALTER leaves the table as it was.
 *  2. Messages follow Cassandra's CreateTableStatement and TableParams wording
 *     where one exists; they name options and columns, never values of user
 *     data (option values are schema, not data).
 */
#include "cql/cql.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"

/* A term used as an option value, as text: a string's content, else the
 * literal as written. */
static const char *term_text(const struct coffer_cql_term *t)
{
	return t->kind == COFFER_CQL_TERM_STRING ? t->text : t->src;
}

static coffer_rc need_map(const struct coffer_cql_term *t, const char *what)
{
	ENSURE(t->kind == COFFER_CQL_TERM_MAP, COFFER_E_INVALID, "%s must be a map", what);
	return COFFER_OK;
}

static coffer_rc apply_encryption(struct coffer_tabledef *t, const struct coffer_cql_term *m)
{
	const char *type = NULL, *key = NULL;
	size_t i;

	TRY(need_map(m, "encryption_specification"));
	for (i = 0; i + 1 < m->nitems; i += 2) {
		const char *k = term_text(m->items[i]);

		if (strcmp(k, "encryption_type") == 0)
			type = term_text(m->items[i + 1]);
		else if (strcmp(k, "kms_key_identifier") == 0)
			key = term_text(m->items[i + 1]);
		else
			BAIL(COFFER_E_INVALID, "Unknown property '%s' in encryption_specification", k);
	}
	ENSURE(type != NULL, COFFER_E_INVALID, "encryption_specification requires encryption_type");
	if (strcmp(type, "AWS_OWNED_KMS_KEY") == 0) {
		ENSURE(key == NULL, COFFER_E_INVALID,
		       "kms_key_identifier is only allowed with CUSTOMER_MANAGED_KMS_KEY");
		coffer_tabledef_set_kms_key(t, COFFER_ENC_AWS_OWNED, NULL);
		return COFFER_OK;
	}
	ENSURE(strcmp(type, "CUSTOMER_MANAGED_KMS_KEY") == 0, COFFER_E_INVALID,
	       "Invalid encryption_type '%s': expected AWS_OWNED_KMS_KEY or CUSTOMER_MANAGED_KMS_KEY",
	       type);
	ENSURE(key != NULL && *key, COFFER_E_INVALID,
	       "CUSTOMER_MANAGED_KMS_KEY requires kms_key_identifier");
	coffer_tabledef_set_kms_key(t, COFFER_ENC_CUSTOMER_MANAGED, key);
	return COFFER_OK;
}

static coffer_rc apply_custom(struct coffer_tabledef *t, const struct coffer_cql_term *m)
{
	size_t i, j;

	TRY(need_map(m, "custom_properties"));
	for (i = 0; i + 1 < m->nitems; i += 2) {
		const char *group = term_text(m->items[i]);
		const struct coffer_cql_term *v = m->items[i + 1];

		if (strcmp(group, "encryption_specification") == 0) {
			TRY(apply_encryption(t, v));
			continue;
		}
		TRY(need_map(v, group));
		for (j = 0; j + 1 < v->nitems; j += 2) {
			const char *k = term_text(v->items[j]);
			const char *val = term_text(v->items[j + 1]);
			char *flat;

			if (strcmp(group, "point_in_time_recovery") == 0) {
				ENSURE(strcmp(k, "status") == 0, COFFER_E_INVALID,
				       "Unknown property '%s' in point_in_time_recovery", k);
				ENSURE(strcmp(val, "enabled") == 0 || strcmp(val, "disabled") == 0,
				       COFFER_E_INVALID,
				       "point_in_time_recovery status must be 'enabled' or 'disabled'");
				t->pitr_enabled = val[0] == 'e';
				continue;
			}
			flat = coffer_xasprintf("%s.%s", group, k);
			coffer_strmap_set(&t->custom_properties, flat, val);
			free(flat);
		}
	}
	return COFFER_OK;
}

static coffer_rc apply_options(struct coffer_tabledef *t, const struct coffer_cql_options *o)
{
	size_t i;

	for (i = 0; i < o->n; i++) {
		const char *name = o->items[i].name;
		const struct coffer_cql_term *v = o->items[i].value;

		if (strcmp(name, "default_time_to_live") == 0) {
			char *end;
			long long ttl;

			ENSURE(v->kind == COFFER_CQL_TERM_INTEGER, COFFER_E_INVALID,
			       "Invalid value for default_time_to_live: an integer is expected");
			ttl = strtoll(v->text, &end, 10);
			ENSURE(ttl >= 0, COFFER_E_INVALID,
			       "default_time_to_live must be greater than or equal to 0 (got %lld)", ttl);
			ENSURE(ttl <= 630720000, COFFER_E_INVALID,
			       "default_time_to_live must be less than or equal to 630720000 (got %lld)", ttl);
			t->default_time_to_live = (int32_t)ttl;
		} else if (strcmp(name, "comment") == 0) {
			ENSURE(v->kind == COFFER_CQL_TERM_STRING, COFFER_E_INVALID,
			       "Invalid value for comment: a string is expected");
			coffer_tabledef_set_comment(t, v->text);
		} else if (strcmp(name, "custom_properties") == 0) {
			TRY(apply_custom(t, v));
		} else {
			coffer_strmap_set(&t->options, name, v->src ? v->src : term_text(v));
		}
	}
	return COFFER_OK;
}

COFFER_RESULT coffer_cql_apply_table_options(struct coffer_tabledef *t,
					     const struct coffer_cql_options *o)
{
	struct coffer_tabledef *c = coffer_tabledef_clone(t), tmp;
	coffer_rc rc = apply_options(c, o);

	if (rc == COFFER_OK)
		rc = coffer_tabledef_validate(c);
	if (rc == COFFER_OK) {
		/* swap contents so the caller's pointer stays valid */
		tmp = *t;
		*t = *c;
		*c = tmp;
	}
	coffer_tabledef_free(c);
	return rc;
}

static const struct coffer_cql_column_def *find_def(const struct coffer_cql_create_table *ct,
						    const char *name)
{
	size_t i;

	for (i = 0; i < ct->ncolumns; i++)
		if (strcmp(ct->columns[i].name, name) == 0)
			return &ct->columns[i];
	return NULL;
}

static coffer_rc key_kind(const struct coffer_cql_create_table *ct, const char *name,
			  enum coffer_column_kind *kind, int32_t *pos)
{
	size_t i;

	for (i = 0; i < ct->npartition_key; i++)
		if (strcmp(ct->partition_key[i], name) == 0) {
			*kind = COFFER_COLUMN_PARTITION_KEY;
			*pos = (int32_t)i;
			return COFFER_OK;
		}
	for (i = 0; i < ct->nclustering; i++)
		if (strcmp(ct->clustering[i], name) == 0) {
			*kind = COFFER_COLUMN_CLUSTERING;
			*pos = (int32_t)i;
			return COFFER_OK;
		}
	*kind = COFFER_COLUMN_REGULAR;
	*pos = -1;
	return COFFER_OK;
}

static coffer_rc check_key(const struct coffer_cql_create_table *ct)
{
	size_t i, j, inline_pk = 0;
	const char **all[2] = {ct->partition_key, ct->clustering};
	size_t nall[2] = {ct->npartition_key, ct->nclustering};

	for (i = 0; i < ct->ncolumns; i++)
		inline_pk += ct->columns[i].primary_key;
	inline_pk += ct->has_primary_key_clause ? 1 : 0;
	ENSURE(inline_pk <= 1, COFFER_E_INVALID,
	       "Multiple PRIMARY KEYs specified (exactly one required)");
	ENSURE(inline_pk == 1, COFFER_E_INVALID, "No PRIMARY KEY specifed (exactly one required)");
	for (int k = 0; k < 2; k++)
		for (i = 0; i < nall[k]; i++) {
			const struct coffer_cql_column_def *d = find_def(ct, all[k][i]);

			ENSURE(d != NULL, COFFER_E_INVALID, "Unknown definition %s referenced in PRIMARY KEY",
			       all[k][i]);
			ENSURE(!d->is_static, COFFER_E_INVALID,
			       "Static column %s cannot be part of the PRIMARY KEY", d->name);
			for (int k2 = 0; k2 < 2; k2++)
				for (j = 0; j < nall[k2]; j++)
					ENSURE((k2 == k && j == i) || strcmp(all[k2][j], all[k][i]) != 0,
					       COFFER_E_INVALID,
					       "Column %s appears twice in the PRIMARY KEY", all[k][i]);
		}
	for (i = 0; i < ct->ncolumns; i++)
		for (j = i + 1; j < ct->ncolumns; j++)
			ENSURE(strcmp(ct->columns[i].name, ct->columns[j].name) != 0, COFFER_E_INVALID,
			       "Multiple definition of identifier %s", ct->columns[i].name);
	/* CLUSTERING ORDER BY names the clustering columns, in key order */
	for (i = 0; i < ct->nclustering_order; i++) {
		const char *c = ct->clustering_order[i].column;

		for (j = 0; j < ct->nclustering && strcmp(ct->clustering[j], c) != 0; j++)
			;
		ENSURE(j < ct->nclustering, COFFER_E_INVALID,
		       "Only clustering key columns can be defined in CLUSTERING ORDER directive");
		ENSURE(j == i, COFFER_E_INVALID,
		       "The order of columns in the CLUSTERING ORDER directive must be the one of the "
		       "clustering key (%s must appear before %s)", ct->clustering[i], c);
	}
	ENSURE(ct->nclustering_order == 0 || ct->nclustering_order == ct->nclustering,
	       COFFER_E_INVALID, "Missing CLUSTERING ORDER for column %s",
	       ct->clustering[ct->nclustering_order < ct->nclustering ? ct->nclustering_order : 0]);
	return COFFER_OK;
}

COFFER_RESULT coffer_cql_build_table(const struct coffer_cql_create_table *ct,
				     const char *keyspace, const uint8_t id[16],
				     struct coffer_tabledef **out)
{
	struct coffer_cql_create_table inl;
	const char *ks = ct->table.keyspace ? ct->table.keyspace : keyspace;
	struct coffer_tabledef *t = NULL;
	const char *pk1[1] = {NULL};
	size_t i;
	coffer_rc rc;

	ENSURE(ks != NULL, COFFER_E_INVALID,
	       "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename");
	TRY(check_key(ct));
	inl = *ct;
	if (!ct->has_primary_key_clause) {
		for (i = 0; i < ct->ncolumns; i++)
			if (ct->columns[i].primary_key)
				pk1[0] = ct->columns[i].name;
		inl.partition_key = pk1;
		inl.npartition_key = 1;
		ENSURE(!find_def(ct, pk1[0])->is_static, COFFER_E_INVALID,
		       "Static column %s cannot be part of the PRIMARY KEY", pk1[0]);
	}
	ENSURE(!ct->compact_storage, COFFER_E_INVALID,
	       "COMPACT STORAGE tables are not supported");
	t = coffer_tabledef_new(ks, ct->table.name, id);
	for (i = 0; i < ct->ncolumns; i++) {
		const struct coffer_cql_column_def *d = &ct->columns[i];
		enum coffer_column_kind kind;
		enum coffer_clustering_order order = COFFER_ORDER_NONE;
		int32_t pos;

		TRY_FAIL(key_kind(&inl, d->name, &kind, &pos));
		if (kind == COFFER_COLUMN_REGULAR && d->is_static)
			kind = COFFER_COLUMN_STATIC;
		if (kind == COFFER_COLUMN_CLUSTERING)
			order = (size_t)pos < ct->nclustering_order && ct->clustering_order[pos].desc
					? COFFER_ORDER_DESC : COFFER_ORDER_ASC;
		TRY_FAIL(coffer_tabledef_add_column(t, d->name, kind, pos, order, d->type));
	}
	TRY_FAIL(apply_options(t, &ct->options));
	TRY_FAIL(coffer_tabledef_validate(t));
	*out = t;
	return COFFER_OK;
fail:
	coffer_tabledef_free(t);
	return rc;
}

COFFER_RESULT coffer_cql_restore_options(const struct coffer_cql_options *o,
					 struct coffer_tabledef *t, int64_t *at_us)
{
	const struct coffer_cql_term *ts = coffer_cql_option(o, "restore_timestamp");
	const struct coffer_cql_term *cp = coffer_cql_option(o, "custom_properties");
	size_t i;
	int64_t us = 0;

	/* (the parser refuses an option given twice) */
	for (i = 0; i < o->n; i++)
		ENSURE(strcmp(o->items[i].name, "restore_timestamp") == 0 ||
		       strcmp(o->items[i].name, "custom_properties") == 0,
		       COFFER_E_INVALID,
		       "Unknown property '%s' for RESTORE TABLE (expected restore_timestamp or "
		       "custom_properties)", o->items[i].name);
	if (ts) {
		/* Keyspaces takes an ISO-8601 string; a bare integer is read as
		 * milliseconds, as for any timestamp literal. */
		ENSURE(ts->kind == COFFER_CQL_TERM_STRING || ts->kind == COFFER_CQL_TERM_INTEGER,
		       COFFER_E_INVALID,
		       "Invalid value for restore_timestamp: an ISO-8601 timestamp string is expected");
		const char *txt = ts->text;
		size_t len = ts->kind == COFFER_CQL_TERM_STRING ? ts->len : strlen(ts->text);
		if (coffer_cql_parse_timestamp_us(txt, len, &us) != COFFER_OK || us <= 0)
			BAIL(COFFER_E_INVALID,
			     "Invalid restore_timestamp '%.*s': expected an ISO-8601 timestamp after "
			     "1970-01-01T00:00:00Z such as '2024-06-30T04:05:00.123456Z'",
			     (int)(len > 64 ? 64 : len), txt);
	}
	if (cp) {
		struct coffer_cql_option one = {"custom_properties", (struct coffer_cql_term *)cp};
		struct coffer_cql_options only = {&one, 1};

		TRY(coffer_cql_apply_table_options(t, &only));
	}
	*at_us = us;
	return COFFER_OK;
}

COFFER_RESULT coffer_cql_keyspace_options(const struct coffer_cql_options *o,
					  struct coffer_strmap *replication, bool *durable_writes)
{
	const struct coffer_cql_term *r = coffer_cql_option(o, "replication");
	const struct coffer_cql_term *dw = coffer_cql_option(o, "durable_writes");
	struct coffer_strmap m = {0};
	size_t i;

	for (i = 0; i < o->n; i++)
		ENSURE(strcmp(o->items[i].name, "replication") == 0 ||
		       strcmp(o->items[i].name, "durable_writes") == 0,
		       COFFER_E_SYNTAX, "Unknown property '%s'", o->items[i].name);
	*durable_writes = true;
	if (dw) {
		ENSURE(dw->kind == COFFER_CQL_TERM_BOOLEAN ||
		       (dw->kind == COFFER_CQL_TERM_STRING &&
			(strcasecmp(dw->text, "true") == 0 || strcasecmp(dw->text, "false") == 0)),
		       COFFER_E_SYNTAX, "Invalid boolean value for durable_writes");
		*durable_writes = dw->kind == COFFER_CQL_TERM_BOOLEAN ? dw->boolean
								      : strcasecmp(dw->text, "true") == 0;
	}
	if (!r) {
		*replication = m;
		return COFFER_OK;
	}
	ENSURE(r->kind == COFFER_CQL_TERM_MAP, COFFER_E_SYNTAX, "replication must be a map");
	for (i = 0; i + 1 < r->nitems; i += 2) {
		const struct coffer_cql_term *k = r->items[i], *v = r->items[i + 1];

		if (k->kind != COFFER_CQL_TERM_STRING || v->kind == COFFER_CQL_TERM_MAP ||
		    v->kind == COFFER_CQL_TERM_LIST || v->kind == COFFER_CQL_TERM_SET) {
			coffer_strmap_free(&m);
			BAIL(COFFER_E_SYNTAX, "Invalid value for property 'replication'");
		}
		coffer_strmap_set(&m, k->text, term_text(v));
	}
	if (!coffer_strmap_get(&m, "class")) {
		coffer_strmap_free(&m);
		BAIL(COFFER_E_INVALID, "Missing replication strategy class");
	}
	*replication = m;
	return COFFER_OK;
}
