/*
 * kms_call.h - the frame of every public KMS operation: take the lock, note
 * what the audit line needs as the call proceeds, write the audit line and
 * release the lock on the way out.
 *
 *   struct kms_call c;
 *   kms_call_begin(kms, &c, COFFER_KMS_OP_ENABLE_KEY, caller);
 *   return kms_call_end(&c, enable_locked(&c, key_ref));
 */
#ifndef COFFER_KMS_CALL_H
#define COFFER_KMS_CALL_H

#include "kms/kms_internal.h"

struct kms_call {
	struct coffer_kms *kms;
	enum coffer_kms_op op;
	const struct coffer_kms_caller *caller;
	char key_id[COFFER_KMS_KEY_ID_MAX];       /* "" until the key is known */
	const struct coffer_kms_context *ctx;
	const char *grant_used;
};

void kms_call_begin(struct coffer_kms *kms, struct kms_call *c, enum coffer_kms_op op,
		    const struct coffer_kms_caller *caller);
/* Records the key the call is about (for the audit line and usage counts). */
void kms_call_key(struct kms_call *c, const struct kms_key *k);
/* Audits, unlocks and returns rc. */
coffer_rc kms_call_end(struct kms_call *c, coffer_rc rc);

#endif
