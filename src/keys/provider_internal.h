/*
 * provider_internal.h - what the provider implementations (embedded, remote)
 * share: translating the keys module's types into the KMS API's, which both
 * the engine (kms.h) and the client (kms_client.h) take.
 */
#ifndef COFFER_KEYS_PROVIDER_INTERNAL_H
#define COFFER_KEYS_PROVIDER_INTERNAL_H

#include "keys/provider.h"
#include "kms/kms.h"

/* Copies the pairs (pointers only; the strings stay borrowed) into `pairs`,
 * which has room for COFFER_KEY_MAX_CONTEXT_PAIRS, and points `out` at them.
 * The two pair structs have the same members, but nothing relies on layout. */
void coffer_key_ctx_to_kms(const struct coffer_key_context *in, struct coffer_kms_context_pair *pairs,
			   struct coffer_kms_context *out);
/* The operations of a table's grants: Amazon Keyspaces' grant (DescribeKey,
 * GenerateDataKey, Decrypt, Encrypt, ReEncryptFrom, ReEncryptTo, RetireGrant;
 * reference/kms-semantics.md "Grants"), the same for every provider. */
#define COFFER_KEY_GRANT_OPERATIONS                                                                          \
	(COFFER_KMS_OP_BIT(COFFER_KMS_OP_DESCRIBE_KEY) | COFFER_KMS_OP_BIT(COFFER_KMS_OP_GENERATE_DATA_KEY) |   \
	 COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT) | COFFER_KMS_OP_BIT(COFFER_KMS_OP_ENCRYPT) |                 \
	 COFFER_KMS_OP_BIT(COFFER_KMS_OP_REENCRYPT_FROM) | COFFER_KMS_OP_BIT(COFFER_KMS_OP_REENCRYPT_TO) |     \
	 COFFER_KMS_OP_BIT(COFFER_KMS_OP_RETIRE_GRANT))

/* snprintf of an ARN into a provider-sized buffer. */
void coffer_key_copy_arn(char dst[COFFER_KEY_ARN_MAX], const char *src);

#endif
