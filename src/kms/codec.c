/*
 * codec.c - the plaintext of store records, and their replay into memory.
 *
 * Every record starts with a type byte (enum kms_record_type); strings are
 * varint-length-prefixed bytes; integers are big-endian; times are µs since
 * the epoch. A record "puts" a whole object (replacing any earlier version
 * with the same id) or deletes one, so replaying the log in order rebuilds
 * the state exactly.
 *
 *   PRINCIPAL     name, created, n keys, per key: id, secret (40), created
 *   KEY           id, creator, description, created, state u8, flags u8
 *                 (1 destroyed, 2 service-owned, 4 rotation enabled),
 *                 deletion, pending days u32, rotation days u32, next rotation,
 *                 last rotation, on-demand rotation, policy text,
 *                 n versions, per version: version u32, created, material (32)
 *   ALIAS         name, target key id, created, updated
 *   ALIAS_DELETE  name
 *   GRANT         key id, grant id, name (empty = none), created, grantee,
 *                 retiring, issuer, operations u64, flags u8 (1 subset, 2 equals),
 *                 subset pairs, equals pairs (count varint, then key/value)
 *   GRANT_DELETE  key id, grant id
 *
 * Invariants:
 *  1. Records holding key material are built in secure buffers by the callers.
 *  2. Decoding is bounds-checked; anything malformed is COFFER_E_CORRUPT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms_internal.h"

#define MAX_STR 65536

void kms_encode_principal(const struct kms_principal *p, struct coffer_buf *out)
{
	coffer_buf_put_u8(out, KMS_REC_PRINCIPAL);
	coffer_buf_put_str(out, p->name);
	coffer_buf_put_u64(out, (uint64_t)p->created_us);
	coffer_buf_put_varint(out, p->n_keys);
	for (size_t i = 0; i < p->n_keys; i++) {
		coffer_buf_put_str(out, p->keys[i].id);
		coffer_buf_put_lenbytes(out, p->keys[i].secret.ptr, p->keys[i].secret.len);
		coffer_buf_put_u64(out, (uint64_t)p->keys[i].created_us);
	}
}

void kms_encode_key(const struct kms_key *k, struct coffer_buf *out)
{
	coffer_buf_put_u8(out, KMS_REC_KEY);
	coffer_buf_put_str(out, k->id);
	coffer_buf_put_str(out, k->creator);
	coffer_buf_put_str(out, k->description ? k->description : "");
	coffer_buf_put_u64(out, (uint64_t)k->created_us);
	coffer_buf_put_u8(out, (uint8_t)k->state);
	coffer_buf_put_u8(out, (uint8_t)((k->destroyed ? 1 : 0) | (k->service_owned ? 2 : 0) |
					 (k->rotation_enabled ? 4 : 0)));
	coffer_buf_put_u64(out, (uint64_t)k->deletion_us);
	coffer_buf_put_u32(out, k->pending_days);
	coffer_buf_put_u32(out, k->rotation_days);
	coffer_buf_put_u64(out, (uint64_t)k->next_rotation_us);
	coffer_buf_put_u64(out, (uint64_t)k->last_rotation_us);
	coffer_buf_put_u64(out, (uint64_t)k->on_demand_rotation_us);
	coffer_buf_put_str(out, k->policy.text ? k->policy.text : "");
	coffer_buf_put_varint(out, k->n_versions);
	for (size_t i = 0; i < k->n_versions; i++) {
		coffer_buf_put_u32(out, k->versions[i].version);
		coffer_buf_put_u64(out, (uint64_t)k->versions[i].created_us);
		coffer_buf_put(out, k->versions[i].material.ptr, KMS_BACKING_KEY_BYTES);
	}
}

void kms_encode_alias(const struct kms_alias *a, struct coffer_buf *out)
{
	coffer_buf_put_u8(out, KMS_REC_ALIAS);
	coffer_buf_put_str(out, a->name);
	coffer_buf_put_str(out, a->target);
	coffer_buf_put_u64(out, (uint64_t)a->created_us);
	coffer_buf_put_u64(out, (uint64_t)a->updated_us);
}

void kms_encode_alias_delete(const char *name, struct coffer_buf *out)
{
	coffer_buf_put_u8(out, KMS_REC_ALIAS_DELETE);
	coffer_buf_put_str(out, name);
}

static void put_pairs(struct coffer_buf *out, const struct coffer_kms_context_pair *p, size_t n)
{
	coffer_buf_put_varint(out, n);
	for (size_t i = 0; i < n; i++) {
		coffer_buf_put_str(out, p[i].key);
		coffer_buf_put_str(out, p[i].value);
	}
}

void kms_encode_grant(const char *key_id, const struct kms_grant *g, struct coffer_buf *out)
{
	coffer_buf_put_u8(out, KMS_REC_GRANT);
	coffer_buf_put_str(out, key_id);
	coffer_buf_put_str(out, g->id);
	coffer_buf_put_str(out, g->name ? g->name : "");
	coffer_buf_put_u64(out, (uint64_t)g->created_us);
	coffer_buf_put_str(out, g->grantee);
	coffer_buf_put_str(out, g->retiring);
	coffer_buf_put_str(out, g->issuer);
	coffer_buf_put_u64(out, g->operations);
	coffer_buf_put_u8(out, (uint8_t)((g->has_subset ? 1 : 0) | (g->has_equals ? 2 : 0)));
	put_pairs(out, g->subset, g->n_subset);
	put_pairs(out, g->equals, g->n_equals);
}

void kms_encode_grant_delete(const char *key_id, const char *grant_id, struct coffer_buf *out)
{
	coffer_buf_put_u8(out, KMS_REC_GRANT_DELETE);
	coffer_buf_put_str(out, key_id);
	coffer_buf_put_str(out, grant_id);
}

/* ---- decoding ---------------------------------------------------------------- */

static COFFER_RESULT get_fixed_str(struct coffer_reader *r, char *dst, size_t cap)
{
	char *s;
	TRY(coffer_reader_str(r, cap - 1, &s));
	snprintf(dst, cap, "%s", s);
	free(s);
	return COFFER_OK;
}

static COFFER_RESULT get_i64(struct coffer_reader *r, int64_t *v)
{
	uint64_t u;
	TRY(coffer_reader_u64(r, &u));
	*v = (int64_t)u;
	return COFFER_OK;
}

static COFFER_RESULT apply_principal(struct coffer_kms *kms, struct coffer_reader *r)
{
	coffer_rc rc = COFFER_OK;
	struct kms_principal *p = COFFER_NEW(struct kms_principal);
	uint64_t n;
	TRY_FAIL(coffer_reader_str(r, 64, &p->name));
	TRY_FAIL(get_i64(r, &p->created_us));
	TRY_FAIL(coffer_reader_varint(r, &n));
	ENSURE_FAIL(n <= 1000, COFFER_E_CORRUPT, "principal record: %llu access keys", (unsigned long long)n);
	p->keys = n ? coffer_xcalloc(n, sizeof(*p->keys)) : NULL;
	for (uint64_t i = 0; i < n; i++) {
		struct coffer_slice sec;
		TRY_FAIL(get_fixed_str(r, p->keys[i].id, sizeof(p->keys[i].id)));
		TRY_FAIL(coffer_reader_lenbytes(r, 256, &sec));
		coffer_secret_from(&p->keys[i].secret, sec.ptr, sec.len);
		p->n_keys = i + 1;
		TRY_FAIL(get_i64(r, &p->keys[i].created_us));
	}
	snprintf(p->arn, sizeof(p->arn), "arn:aws:iam::%s:user/%s", kms->account, p->name);
	for (size_t i = 0; i < kms->n_principals; i++) {
		if (strcmp(kms->principals[i]->name, p->name) == 0) {
			struct kms_principal *old = kms->principals[i];
			for (size_t j = 0; j < old->n_keys; j++)
				coffer_secret_free(&old->keys[j].secret);
			free(old->keys);
			free(old->name);
			free(old);
			kms->principals[i] = p;
			return COFFER_OK;
		}
	}
	kms->principals = coffer_xrealloc(kms->principals, (kms->n_principals + 1) * sizeof(*kms->principals));
	kms->principals[kms->n_principals++] = p;
	return COFFER_OK;
fail:
	for (size_t j = 0; j < p->n_keys; j++)
		coffer_secret_free(&p->keys[j].secret);
	free(p->keys);
	free(p->name);
	free(p);
	return rc;
}

static COFFER_RESULT uuid_to_bin(const char *id, uint8_t out[16])
{
	struct coffer_buf hex = {0}, bin = {0};
	coffer_rc rc = COFFER_OK;
	for (const char *p = id; *p; p++)
		if (*p != '-')
			coffer_buf_put_u8(&hex, (uint8_t)*p);
	if (coffer_hex_decode(coffer_buf_cstr(&hex), &bin) != COFFER_OK || bin.len != 16)
		rc = coffer_error_set(COFFER_E_CORRUPT, COFFER_WHERE, "key record: bad key id");
	else
		memcpy(out, bin.ptr, 16);
	coffer_buf_free(&hex);
	coffer_buf_free(&bin);
	return rc;
}

static COFFER_RESULT apply_key(struct coffer_kms *kms, struct coffer_reader *r)
{
	coffer_rc rc = COFFER_OK;
	struct kms_key *k = COFFER_NEW(struct kms_key);
	char *policy = NULL;
	uint8_t state, flags;
	uint64_t n;
	TRY_FAIL(get_fixed_str(r, k->id, sizeof(k->id)));
	TRY_FAIL(uuid_to_bin(k->id, k->id_bin));
	TRY_FAIL(get_fixed_str(r, k->creator, sizeof(k->creator)));
	TRY_FAIL(coffer_reader_str(r, COFFER_KMS_MAX_DESCRIPTION, &k->description));
	TRY_FAIL(get_i64(r, &k->created_us));
	TRY_FAIL(coffer_reader_u8(r, &state));
	ENSURE_FAIL(state <= COFFER_KMS_KEY_PENDING_DELETION, COFFER_E_CORRUPT, "key record: state %u", state);
	k->state = (enum coffer_kms_key_state)state;
	TRY_FAIL(coffer_reader_u8(r, &flags));
	k->destroyed = flags & 1;
	k->service_owned = flags & 2;
	k->rotation_enabled = flags & 4;
	TRY_FAIL(get_i64(r, &k->deletion_us));
	TRY_FAIL(coffer_reader_u32(r, &k->pending_days));
	TRY_FAIL(coffer_reader_u32(r, &k->rotation_days));
	TRY_FAIL(get_i64(r, &k->next_rotation_us));
	TRY_FAIL(get_i64(r, &k->last_rotation_us));
	TRY_FAIL(get_i64(r, &k->on_demand_rotation_us));
	TRY_FAIL(coffer_reader_str(r, COFFER_KMS_MAX_POLICY, &policy));
	TRY_FAIL(kms_policy_parse(policy, &k->policy));
	TRY_FAIL(coffer_reader_varint(r, &n));
	ENSURE_FAIL(n <= 1000000, COFFER_E_CORRUPT, "key record: %llu versions", (unsigned long long)n);
	k->versions = n ? coffer_xcalloc(n, sizeof(*k->versions)) : NULL;
	for (uint64_t i = 0; i < n; i++) {
		struct coffer_slice m;
		TRY_FAIL(coffer_reader_u32(r, &k->versions[i].version));
		TRY_FAIL(get_i64(r, &k->versions[i].created_us));
		TRY_FAIL(coffer_reader_bytes(r, KMS_BACKING_KEY_BYTES, &m));
		ENSURE_FAIL(k->versions[i].version == i + 1, COFFER_E_CORRUPT,
			    "key record %s: version %u at position %llu", k->id, k->versions[i].version,
			    (unsigned long long)i);
		coffer_secret_from(&k->versions[i].material, m.ptr, m.len);
		k->n_versions = i + 1;
	}
	kms_format_key_arn(kms, k->id, k->arn);
	free(policy);
	for (size_t i = 0; i < kms->n_keys; i++) {
		if (strcmp(kms->keys[i]->id, k->id) == 0) {
			struct kms_key *old = kms->keys[i];
			k->grants = old->grants;
			k->n_grants = old->n_grants;
			k->cap_grants = old->cap_grants;
			old->grants = NULL;
			old->n_grants = old->cap_grants = 0;
			kms_key_free(old);
			kms->keys[i] = k;
			return COFFER_OK;
		}
	}
	kms->keys = coffer_xrealloc(kms->keys, (kms->n_keys + 1) * sizeof(*kms->keys));
	kms->keys[kms->n_keys++] = k;
	return COFFER_OK;
fail:
	free(policy);
	kms_key_free(k);
	return rc;
}

static COFFER_RESULT apply_alias(struct coffer_kms *kms, struct coffer_reader *r, bool del)
{
	char *name;
	TRY(coffer_reader_str(r, 256, &name));
	struct kms_alias *a = kms_alias_by_name(kms, name);
	if (del) {
		for (size_t i = 0; i < kms->n_aliases; i++) {
			if (kms->aliases[i] == a) {
				free(a->name);
				free(a);
				memmove(&kms->aliases[i], &kms->aliases[i + 1],
					(kms->n_aliases - i - 1) * sizeof(*kms->aliases));
				kms->n_aliases--;
				break;
			}
		}
		free(name);
		return COFFER_OK;
	}
	struct kms_alias next = {.name = name};
	coffer_rc rc = get_fixed_str(r, next.target, sizeof(next.target));
	if (rc == COFFER_OK)
		rc = get_i64(r, &next.created_us);
	if (rc == COFFER_OK)
		rc = get_i64(r, &next.updated_us);
	if (rc != COFFER_OK) {
		free(name);
		return rc;
	}
	if (a) {
		free(name);
		next.name = a->name;
		*a = next;
		return COFFER_OK;
	}
	a = COFFER_NEW(struct kms_alias);
	*a = next;
	kms->aliases = coffer_xrealloc(kms->aliases, (kms->n_aliases + 1) * sizeof(*kms->aliases));
	kms->aliases[kms->n_aliases++] = a;
	return COFFER_OK;
}

static COFFER_RESULT get_pairs(struct coffer_reader *r, struct coffer_kms_context_pair **out, size_t *n)
{
	uint64_t cnt;
	TRY(coffer_reader_varint(r, &cnt));
	ENSURE(cnt <= COFFER_KMS_MAX_CONTEXT_PAIRS, COFFER_E_CORRUPT, "grant record: %llu context pairs",
	       (unsigned long long)cnt);
	*out = cnt ? coffer_xcalloc(cnt, sizeof(**out)) : NULL;
	*n = 0;
	for (uint64_t i = 0; i < cnt; i++) {
		char *k, *v;
		TRY(coffer_reader_str(r, MAX_STR, &k));
		coffer_rc rc = coffer_reader_str(r, MAX_STR, &v);
		if (rc != COFFER_OK) {
			free(k);
			return rc;
		}
		(*out)[i].key = k;
		(*out)[i].value = v;
		*n = i + 1;
	}
	return COFFER_OK;
}

static COFFER_RESULT apply_grant(struct coffer_kms *kms, struct coffer_reader *r)
{
	coffer_rc rc = COFFER_OK;
	char key_id[COFFER_KMS_KEY_ID_MAX];
	struct kms_grant *g = COFFER_NEW(struct kms_grant);
	uint8_t flags;
	TRY_FAIL(get_fixed_str(r, key_id, sizeof(key_id)));
	TRY_FAIL(get_fixed_str(r, g->id, sizeof(g->id)));
	TRY_FAIL(coffer_reader_str(r, 256, &g->name));
	if (!g->name[0]) {
		free(g->name);
		g->name = NULL;
	}
	TRY_FAIL(get_i64(r, &g->created_us));
	TRY_FAIL(get_fixed_str(r, g->grantee, sizeof(g->grantee)));
	TRY_FAIL(get_fixed_str(r, g->retiring, sizeof(g->retiring)));
	TRY_FAIL(get_fixed_str(r, g->issuer, sizeof(g->issuer)));
	TRY_FAIL(coffer_reader_u64(r, &g->operations));
	TRY_FAIL(coffer_reader_u8(r, &flags));
	g->has_subset = flags & 1;
	g->has_equals = flags & 2;
	TRY_FAIL(get_pairs(r, &g->subset, &g->n_subset));
	TRY_FAIL(get_pairs(r, &g->equals, &g->n_equals));
	struct kms_key *k = kms_key_by_id(kms, key_id);
	ENSURE_FAIL(k, COFFER_E_CORRUPT, "grant record %s names unknown key %s", g->id, key_id);
	for (size_t i = 0; i < k->n_grants; i++) {
		if (strcmp(k->grants[i]->id, g->id) == 0) {
			kms_grant_free(k->grants[i]);
			k->grants[i] = g;
			return COFFER_OK;
		}
	}
	kms_key_add_grant(k, g);
	return COFFER_OK;
fail:
	kms_grant_free(g);
	return rc;
}

static COFFER_RESULT apply_grant_delete(struct coffer_kms *kms, struct coffer_reader *r)
{
	char key_id[COFFER_KMS_KEY_ID_MAX], grant_id[COFFER_KMS_GRANT_ID_MAX];
	TRY(get_fixed_str(r, key_id, sizeof(key_id)));
	TRY(get_fixed_str(r, grant_id, sizeof(grant_id)));
	struct kms_key *k = kms_key_by_id(kms, key_id);
	ENSURE(k, COFFER_E_CORRUPT, "grant delete record names unknown key %s", key_id);
	for (size_t i = 0; i < k->n_grants; i++) {
		if (strcmp(k->grants[i]->id, grant_id) == 0) {
			kms_grant_free(k->grants[i]);
			memmove(&k->grants[i], &k->grants[i + 1], (k->n_grants - i - 1) * sizeof(*k->grants));
			k->n_grants--;
			break;
		}
	}
	return COFFER_OK;
}

COFFER_RESULT kms_apply_record(struct coffer_kms *kms, struct coffer_slice rec)
{
	struct coffer_reader r;
	uint8_t type;
	coffer_reader_init(&r, rec, "kms store record");
	TRY(coffer_reader_u8(&r, &type));
	switch (type) {
	case KMS_REC_PRINCIPAL: TRY(apply_principal(kms, &r)); break;
	case KMS_REC_KEY: TRY(apply_key(kms, &r)); break;
	case KMS_REC_ALIAS: TRY(apply_alias(kms, &r, false)); break;
	case KMS_REC_ALIAS_DELETE: TRY(apply_alias(kms, &r, true)); break;
	case KMS_REC_GRANT: TRY(apply_grant(kms, &r)); break;
	case KMS_REC_GRANT_DELETE: TRY(apply_grant_delete(kms, &r)); break;
	default: BAIL(COFFER_E_CORRUPT, "kms store record: unknown type %u", type);
	}
	return coffer_reader_end(&r);
}
