/*
 * credentials.c - AWS shared-credentials files for coffer-kms principals:
 * the text of one profile, and the admin's DIR/admin.credentials that both
 * coffer-kms and cofferd's embedded KMS write on first start.
 *
 * Invariants:
 *  1. The secret passes only through secure buffers and is written only to a
 *     0600 file created atomically (temp, fsync, rename, directory fsync).
 */
#include <stdlib.h>
#include <string.h>

#include "kmsapi/kmsapi.h"
#include "util/util.h"

void coffer_kmsapi_credentials_text(const char *profile, const struct coffer_kms_access_key *k,
				    struct coffer_buf *out)
{
	coffer_buf_init_secure(out);
	coffer_buf_printf(out, "# coffer-kms principal %s\n[%s]\naws_access_key_id = %s\n"
			       "aws_secret_access_key = ",
			  k->principal_arn, profile, k->access_key_id);
	coffer_buf_put(out, k->secret.ptr, k->secret.len);
	coffer_buf_put_u8(out, '\n');
}

COFFER_RESULT coffer_kmsapi_ensure_admin_credentials(struct coffer_kms *kms, const char *data_dir,
						     const struct coffer_log *log)
{
	struct coffer_kms_access_key key;
	struct coffer_buf text;
	char *path = coffer_path_join(data_dir, "admin.credentials");
	coffer_rc rc;

	if (coffer_fs_exists(path)) {
		free(path);
		return COFFER_OK;
	}
	/* The admin principal exists from the engine's first open without a key;
	 * a missing file (first start, or deleted) gets a fresh key. */
	memset(&key, 0, sizeof(key));
	if (coffer_kms_principal_exists(kms, COFFER_KMS_ADMIN_PRINCIPAL_NAME))
		rc = coffer_kms_principal_add_access_key(kms, COFFER_KMS_ADMIN_PRINCIPAL_NAME, &key);
	else
		rc = coffer_kms_principal_create(kms, COFFER_KMS_ADMIN_PRINCIPAL_NAME, &key);
	if (rc != COFFER_OK) {
		free(path);
		return rc;
	}
	coffer_kmsapi_credentials_text("default", &key, &text);
	rc = coffer_fs_write_atomic(path, coffer_buf_slice(&text), 0600);
	if (rc == COFFER_OK)
		coffer_log_info(log ? log : coffer_log_null(), "kms", "issued an admin access key; credentials in %s", path);
	free(path);
	coffer_buf_free(&text);
	coffer_kms_access_key_free(&key);
	return rc;
}
