/* storage_helper.h - shared helpers for the storage tests: an embedded KMS,
 * provider and key cache in a temporary directory; a standard table shape;
 * and rows rendered as text for easy comparison. */
#ifndef COFFER_TEST_STORAGE_HELPER_H
#define COFFER_TEST_STORAGE_HELPER_H

#include "keys/vfs_fault.h"
#include "kms/kms.h"
#include "storage/storage.h"

struct senv {
	char *dir;
	struct coffer_kms *kms;
	struct coffer_key_provider *provider;
	struct coffer_key_cache *cache;
	struct coffer_manual_clock clock;
	struct coffer_vfs_fault *fault;
	char svc_key[COFFER_KMS_ARN_MAX];
	char cmk[COFFER_KMS_ARN_MAX]; /* a customer key the service may use */
	struct coffer_storage_config cfg;
	struct coffer_table_desc desc;
	bool keep_dir;
};

/* Table shape: pk (blob), ck0 int ASC, ck1 text DESC; columns are ids. */
struct senv *senv_new(const char *tag);
/* An environment over an existing directory (taking ownership of the string);
 * fresh: first use (creates a customer key, removes the directory at free). */
struct senv *senv_at(char *dir, bool fresh);
void senv_free(struct senv *e);
/* A second customer key (for key changes). */
void senv_new_cmk(struct senv *e, char arn[COFFER_KMS_ARN_MAX]);
struct coffer_table *senv_create(struct senv *e);
struct coffer_table *senv_open(struct senv *e);

/* Writes one cell: pk text, ck0 int, ck1 text. */
void put(struct coffer_table *t, const char *pk, int32_t ck0, const char *ck1, uint32_t col,
	 const char *value, int64_t ts, uint32_t ttl);
struct coffer_slice be32(int32_t v, uint8_t buf[4]);
/* Reads with q (NULL: full scan) and renders rows, one per line:
 *   pk:ck0,ck1:col=value,...   (static rows as pk:S:col=value,...) */
char *render(struct coffer_table *t, const struct coffer_read *q);
char *render_partition(struct coffer_table *t, const char *pk);

char *test_tmpdir(const char *tag);
/* Counts the regular files under dir (recursively) that contain needle;
 * *files counts the non-empty files read. */
int scan_tree(const char *dir, const char *needle, int *files);
void rmtree(const char *dir);

#endif
