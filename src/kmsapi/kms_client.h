/*
 * kms_client.h - the SigV4-signing client of the AWS KMS JSON API, used by
 * cofferd to reach a remote KMS (coffer-kms, or AWS KMS itself).
 *
 * The calls mirror the engine's (kms.h): same arguments after the first, same
 * output structs, same error codes (COFFER_E_KMS_* from the reply's __type),
 * so code above the KMS provider cannot tell an embedded KMS from a remote
 * one. Two codes are the client's own: COFFER_E_UNAVAILABLE when the KMS
 * cannot be reached (after retries) and COFFER_E_TIMEOUT never escapes as such
 * (a timed-out attempt is retried and finally reported as UNAVAILABLE).
 *
 * Behaviour:
 *  - keep-alive: connections are pooled and reused; a pooled connection the
 *    server closed is replaced transparently;
 *  - every attempt has a deadline (timeout_us, connect + send + receive);
 *  - ThrottlingException, 5xx replies and connection failures are retried up
 *    to max_attempts times with capped exponential backoff and full jitter
 *    (sleep = random(0, min(backoff_max, backoff_base * 2^attempt)));
 *  - https verifies the server certificate and host name (ca_file or the
 *    system store).
 *
 * Thread-safety: one client may be shared by any number of threads; each call
 * takes a pooled connection (or opens one) for its duration.
 * The process must ignore SIGPIPE (cofferd and coffer-kms do), since a write
 * to a connection the server closed would otherwise kill it.
 *
 * Ownership: the caller's `caller` argument supplies only grant tokens (the
 * principal is whoever the access key belongs to). Outputs are as in kms.h:
 * released with the matching coffer_kms_*_free; plaintext is returned in a
 * struct coffer_secret the caller frees. Response buffers that carried
 * plaintext are wiped.
 */
#ifndef COFFER_KMSAPI_KMS_CLIENT_H
#define COFFER_KMSAPI_KMS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kms/kms.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/result.h"

struct coffer_kms_client;

struct coffer_kms_client_config {
	const char *endpoint;          /* "http://127.0.0.1:9000" or "https://kms.example:443" */
	const char *region;            /* signing region; NULL: "local" */
	const char *access_key_id;
	struct coffer_slice secret_access_key; /* copied into secret memory */
	const char *ca_file;           /* https trust anchors; NULL: the system store */
	int64_t timeout_us;            /* per attempt; 0: 10 s */
	uint32_t max_attempts;         /* 0: 6 */
	int64_t backoff_base_us;       /* 0: 25 ms */
	int64_t backoff_max_us;        /* 0: 2 s */
	uint32_t max_idle;             /* pooled idle connections; 0: 8 */
	const struct coffer_clock *clock; /* signing time; NULL: system */
};

/* Fills the defaults above (endpoint and credentials NULL). */
void coffer_kms_client_config_default(struct coffer_kms_client_config *cfg);

/* Reads `profile` ("default" if NULL) of an AWS shared-credentials file.
 * access_key_id receives a fresh string; the secret goes to secret memory. */
COFFER_RESULT coffer_kms_client_read_credentials(const char *path, const char *profile,
						 char **access_key_id, struct coffer_secret *secret);
/* The credentials coffer signs with as the coffer-service principal, as
 * cofferd's and the offline tools' --kms-credentials/--kms-profile read
 * them: `profile` when given, else "default", else "coffer-service". */
COFFER_RESULT coffer_kms_client_read_service_credentials(const char *path, const char *profile,
							 char **access_key_id, struct coffer_secret *secret);

/* Checks the config (endpoint syntax, TLS setup) but connects lazily. */
COFFER_RESULT coffer_kms_client_new(const struct coffer_kms_client_config *cfg,
				    struct coffer_kms_client **out);
/* Closes pooled connections, wipes the secret. NULL is a no-op. */
void coffer_kms_client_free(struct coffer_kms_client *c);

/* Statistics, for tests and metrics. */
struct coffer_kms_client_stats {
	uint64_t requests;         /* calls made */
	uint64_t attempts;         /* HTTP exchanges tried (>= requests) */
	uint64_t retries;          /* attempts after the first, per call */
	uint64_t connects;         /* connections opened */
	uint64_t throttled;        /* ThrottlingException replies seen */
};
void coffer_kms_client_stats(struct coffer_kms_client *c, struct coffer_kms_client_stats *out);

/* A raw call: `op` is the X-Amz-Target suffix, request_json the body. On
 * success *response_json is the reply body (owned, NUL-terminated; wipe it if
 * the operation returns plaintext). Errors as for the typed calls. */
COFFER_RESULT coffer_kms_client_call(struct coffer_kms_client *c, const char *op,
				     struct coffer_slice request_json, char **response_json);

/* ---- the typed calls (see kms.h for the meaning of each argument) ---------- */

COFFER_RESULT coffer_kms_client_create_key(struct coffer_kms_client *c,
					   const struct coffer_kms_caller *caller,
					   const struct coffer_kms_create_key_req *req,
					   struct coffer_kms_key_info *out);
COFFER_RESULT coffer_kms_client_describe_key(struct coffer_kms_client *c,
					     const struct coffer_kms_caller *caller,
					     const char *key_ref, struct coffer_kms_key_info *out);
COFFER_RESULT coffer_kms_client_enable_key(struct coffer_kms_client *c,
					   const struct coffer_kms_caller *caller,
					   const char *key_ref);
COFFER_RESULT coffer_kms_client_disable_key(struct coffer_kms_client *c,
					    const struct coffer_kms_caller *caller,
					    const char *key_ref);
COFFER_RESULT coffer_kms_client_create_alias(struct coffer_kms_client *c,
					     const struct coffer_kms_caller *caller,
					     const char *alias_name, const char *target_key_ref);
COFFER_RESULT coffer_kms_client_encrypt(struct coffer_kms_client *c,
					const struct coffer_kms_caller *caller, const char *key_ref,
					struct coffer_slice plaintext,
					const struct coffer_kms_context *ctx,
					struct coffer_buf *blob_out, char key_arn[COFFER_KMS_ARN_MAX]);
COFFER_RESULT coffer_kms_client_decrypt(struct coffer_kms_client *c,
					const struct coffer_kms_caller *caller,
					struct coffer_slice blob, const struct coffer_kms_context *ctx,
					const char *key_ref, struct coffer_secret *plaintext,
					char key_arn[COFFER_KMS_ARN_MAX]);
COFFER_RESULT coffer_kms_client_reencrypt(struct coffer_kms_client *c,
					  const struct coffer_kms_caller *caller,
					  struct coffer_slice blob,
					  const struct coffer_kms_context *src_ctx,
					  const char *src_key_ref, const char *dst_key_ref,
					  const struct coffer_kms_context *dst_ctx,
					  struct coffer_buf *blob_out,
					  char src_key_arn[COFFER_KMS_ARN_MAX],
					  char dst_key_arn[COFFER_KMS_ARN_MAX]);
COFFER_RESULT coffer_kms_client_generate_data_key(struct coffer_kms_client *c,
						  const struct coffer_kms_caller *caller,
						  const char *key_ref, uint32_t nbytes,
						  const struct coffer_kms_context *ctx,
						  struct coffer_secret *plaintext,
						  struct coffer_buf *blob_out,
						  char key_arn[COFFER_KMS_ARN_MAX]);
COFFER_RESULT coffer_kms_client_generate_data_key_without_plaintext(
	struct coffer_kms_client *c, const struct coffer_kms_caller *caller, const char *key_ref,
	uint32_t nbytes, const struct coffer_kms_context *ctx, struct coffer_buf *blob_out,
	char key_arn[COFFER_KMS_ARN_MAX]);
COFFER_RESULT coffer_kms_client_create_grant(struct coffer_kms_client *c,
					     const struct coffer_kms_caller *caller,
					     const struct coffer_kms_create_grant_req *req,
					     char grant_id[COFFER_KMS_GRANT_ID_MAX],
					     char **grant_token_out);
COFFER_RESULT coffer_kms_client_retire_grant(struct coffer_kms_client *c,
					     const struct coffer_kms_caller *caller,
					     const char *grant_token, const char *key_ref,
					     const char *grant_id);
COFFER_RESULT coffer_kms_client_revoke_grant(struct coffer_kms_client *c,
					     const struct coffer_kms_caller *caller,
					     const char *key_ref, const char *grant_id);
COFFER_RESULT coffer_kms_client_list_grants(struct coffer_kms_client *c,
					    const struct coffer_kms_caller *caller,
					    const char *key_ref, const char *grant_id,
					    const char *grantee_principal, uint32_t limit,
					    const char *marker, struct coffer_kms_grant_list *out);

#endif
