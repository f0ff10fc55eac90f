/*
 * pitr.c - point-in-time recovery: continuous backup of a table (work in
 * progress; the functions below report COFFER_E_UNSUPPORTED-like errors
 * until implemented).
 */
#include "storage/storage_internal.h"

COFFER_RESULT coffer_table_set_pitr(struct coffer_table *t, bool enabled, int64_t retention_us)
{
	(void)t; (void)enabled; (void)retention_us;
	BAIL(COFFER_E_STATE, "point-in-time recovery is not implemented yet");
}

int64_t coffer_table_earliest_restorable(struct coffer_table *t)
{
	(void)t;
	return 0;
}

COFFER_RESULT coffer_table_backup_expire(struct coffer_table *t)
{
	(void)t;
	return COFFER_OK;
}

COFFER_RESULT coffer_table_retire(struct coffer_table *t)
{
	(void)t;
	BAIL(COFFER_E_STATE, "retiring a table is not implemented yet");
}

COFFER_RESULT coffer_table_purge(const struct coffer_storage_config *cfg,
				 const struct coffer_table_desc *desc)
{
	(void)cfg; (void)desc;
	BAIL(COFFER_E_STATE, "purging a retired table is not implemented yet");
}

COFFER_RESULT coffer_restore_open(const struct coffer_storage_config *cfg,
				  const struct coffer_table_desc *src,
				  struct coffer_table *live_or_null, int64_t at_us,
				  struct coffer_restore **out)
{
	(void)cfg; (void)src; (void)live_or_null; (void)at_us;
	*out = NULL;
	BAIL(COFFER_E_STATE, "restore is not implemented yet");
}

int64_t coffer_restore_point(struct coffer_restore *r)
{
	(void)r;
	return 0;
}

uint64_t coffer_restore_total_bytes(struct coffer_restore *r)
{
	(void)r;
	return 0;
}

COFFER_RESULT coffer_restore_run(struct coffer_restore *r, struct coffer_table *dst,
				 void (*progress)(void *arg, uint64_t done_bytes,
						  uint64_t total_bytes),
				 void *arg)
{
	(void)r; (void)dst; (void)progress; (void)arg;
	BAIL(COFFER_E_STATE, "restore is not implemented yet");
}

void coffer_restore_close(struct coffer_restore *r)
{
	(void)r;
}
