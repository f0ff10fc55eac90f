/* dbt_helper.h - shared helpers for the db tests (exec_ddl, exec_system,
 * the catalog): an embedded KMS, its provider, a key cache and a coffer_db
 * over a fresh temporary directory; CQL text run through coffer_db_handle
 * with the response decoded; rows rendered as text. */
#ifndef COFFER_TEST_DBT_HELPER_H
#define COFFER_TEST_DBT_HELPER_H

#include <stdbool.h>

#include "db/db.h"
#include "kms/kms.h"
#include "proto/proto.h"

struct dbt {
	char *dir;
	struct coffer_kms *kms;
	struct coffer_key_provider *provider;
	struct coffer_key_cache *cache;
	struct coffer_manual_clock clock;
	char svc_key[COFFER_KMS_ARN_MAX];
	struct coffer_db_config cfg;
	struct coffer_db *db;
	struct coffer_db_session session;
	struct coffer_arena arena;     /* responses of the last query */
	struct coffer_buf frame;       /* the last response frame */
	int schema_events;             /* on_schema_change calls */
	char last_event[256];          /* "CREATED TABLE ks t" */
};

/* A database with superuser password "pw" (so no password file), opened as
 * superuser `coffer`. */
struct dbt *dbt_new(const char *tag);
/* The same with cfg tweaks: no superuser password (a generated one). */
struct dbt *dbt_new_generated(const char *tag);
/* Opens only the KMS side (the db is opened by the caller with dbt_open). */
struct dbt *dbt_env(const char *tag);
coffer_rc dbt_open(struct dbt *e);
void dbt_close_db(struct dbt *e);
/* Closes and reopens the db (and the KMS engine) over the same directory. */
void dbt_reopen(struct dbt *e);
void dbt_free(struct dbt *e);

/* A customer managed key whose policy lets coffer's service principal use it. */
void dbt_cmk(struct dbt *e, char arn[COFFER_KMS_ARN_MAX]);
void dbt_key_disable(struct dbt *e, const char *arn);
void dbt_key_enable(struct dbt *e, const char *arn);
void dbt_key_schedule_deletion(struct dbt *e, const char *arn);

/* A QUERY request for cql on stream 7, consistency ONE, no paging. */
void dbt_request(struct coffer_proto_request *req, const char *cql);
/* Runs one statement (QUERY, optional positional values) and decodes the
 * response into *r (valid until the next call). */
void dbt_query_values(struct dbt *e, const char *cql, const struct coffer_proto_value *values, size_t n,
		      struct coffer_proto_response *r);
void dbt_query(struct dbt *e, const char *cql, struct coffer_proto_response *r);
/* Asserts a RESULT and returns its kind. */
int dbt_ok(struct dbt *e, const char *cql);
/* Asserts an ERROR with `code` whose message contains `substr` (NULL: any). */
void dbt_err(struct dbt *e, const char *cql, uint32_t code, const char *substr);
/* Runs a SELECT and renders the rows, one line each, cells joined by '|'
 * (text as is, numbers, true/false, uuids, inet, {a,b}, {k:v}, null).
 * The string lives until the next call. */
const char *dbt_rows(struct dbt *e, const char *cql);
/* Renders the ROWS result in r. */
const char *dbt_render(struct dbt *e, const struct coffer_proto_response *r);
/* "name:type,name:type" of a ROWS result's columns (types as CQL text). */
const char *dbt_columns(struct dbt *e, const struct coffer_proto_response *r);

char *dbt_tmpdir(const char *tag);
void dbt_rmtree(const char *dir);
/* Whether `needle` occurs in the file's bytes. */
bool dbt_file_contains(const char *path, const char *needle);

#endif
