/*
 * crypto_test.c - the KMS engine's cryptographic operations: Encrypt/Decrypt
 * with encryption context as authenticated data (exact pairs, order free),
 * IncorrectKey, tampered and truncated blobs (InvalidCiphertext, never a crash
 * or plaintext), size limits, GenerateDataKey(WithoutPlaintext), ReEncrypt,
 * GenerateRandom, blob size bound and ciphertext freshness.
 */
#include "kms/kms_test_helper.h"

static const struct coffer_kms_context_pair ctx_ab_pairs[] = {{"tenant", "acme"},
							       {"table", "orders"}};
static const struct coffer_kms_context ctx_ab = {ctx_ab_pairs, 2};

static void test_round_trip(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_buf b = {0};
	struct coffer_secret pt = {NULL, 0};
	char arn[COFFER_KMS_ARN_MAX] = "";
	kt_key_new(e, &e->admin, &k);

	KT_OK(coffer_kms_encrypt(e->kms, &e->admin, k.id, coffer_slice_str("plain text"), NULL, &b,
				 arn));
	assert_string_equal(arn, k.arn);
	assert_true(b.len > 10);
	assert_false(kt_mem_has(b.ptr, b.len, "plain text", 10));
	arn[0] = '\0';
	KT_OK(coffer_kms_decrypt(e->kms, &e->admin, coffer_buf_slice(&b), NULL, NULL, &pt, arn));
	assert_string_equal(arn, k.arn);
	assert_int_equal(pt.len, 10);
	assert_memory_equal(pt.ptr, "plain text", 10);
	coffer_secret_free(&pt);
	/* An empty context is the same as none. */
	struct coffer_kms_context empty = {NULL, 0};
	KT_OK(kt_decrypt(e, &e->admin, &b, &empty, NULL, "plain text"));
	/* KeyId given and right: by id and ARN. */
	KT_OK(kt_decrypt(e, &e->admin, &b, NULL, k.id, "plain text"));
	KT_OK(kt_decrypt(e, &e->admin, &b, NULL, k.arn, "plain text"));
	/* A blob made without context does not decrypt with one. */
	KT_RC(kt_decrypt(e, &e->admin, &b, &ctx_ab, NULL, NULL), COFFER_E_KMS_INVALID_CIPHERTEXT);

	/* With a context. */
	KT_OK(kt_encrypt(e, &e->admin, k.id, "with context", &ctx_ab, &b));
	KT_OK(kt_decrypt(e, &e->admin, &b, &ctx_ab, NULL, "with context"));
	/* Binary plaintext with NULs survives. */
	uint8_t bin[300];
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)(i * 7);
	coffer_buf_reset(&b);
	KT_OK(coffer_kms_encrypt(e->kms, &e->admin, k.id, coffer_slice_of(bin, sizeof(bin)), NULL,
				 &b, arn));
	KT_OK(coffer_kms_decrypt(e->kms, &e->admin, coffer_buf_slice(&b), NULL, NULL, &pt, arn));
	assert_int_equal(pt.len, sizeof(bin));
	assert_memory_equal(pt.ptr, bin, sizeof(bin));
	coffer_secret_free(&pt);
	coffer_buf_free(&b);
}

static void test_context_mismatch(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_buf b = {0};
	kt_key_new(e, &e->admin, &k);
	KT_OK(kt_encrypt(e, &e->admin, k.id, "ctx", &ctx_ab, &b));

	const struct coffer_kms_context_pair missing[] = {{"tenant", "acme"}};
	const struct coffer_kms_context_pair extra[] = {
		{"tenant", "acme"}, {"table", "orders"}, {"extra", "1"}};
	const struct coffer_kms_context_pair changed[] = {{"tenant", "acme"}, {"table", "Orders"}};
	const struct coffer_kms_context_pair key_case[] = {{"Tenant", "acme"}, {"table", "orders"}};
	const struct coffer_kms_context_pair other[] = {{"x", "y"}};
	const struct coffer_kms_context_pair reordered[] = {{"table", "orders"}, {"tenant", "acme"}};
	/* Pairs whose concatenations collide must still differ. */
	const struct coffer_kms_context_pair shifted[] = {{"tenanta", "cme"}, {"table", "orders"}};
	const struct coffer_kms_context bad[] = {
		{missing, 1}, {extra, 3}, {changed, 2}, {key_case, 2}, {other, 1}, {shifted, 2}, {NULL, 0},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		coffer_rc rc = kt_decrypt(e, &e->admin, &b, bad[i].n ? &bad[i] : NULL, NULL, NULL);
		if (rc != COFFER_E_KMS_INVALID_CIPHERTEXT)
			print_error("context case %zu\n", i);
		KT_RC(rc, COFFER_E_KMS_INVALID_CIPHERTEXT);
	}
	const struct coffer_kms_context ro = {reordered, 2};
	KT_OK(kt_decrypt(e, &e->admin, &b, &ro, NULL, "ctx"));
	/* Encrypting with the pairs in the other order gives a blob that decrypts
	 * with the first order too. */
	KT_OK(kt_encrypt(e, &e->admin, k.id, "ctx2", &ro, &b));
	KT_OK(kt_decrypt(e, &e->admin, &b, &ctx_ab, NULL, "ctx2"));
	coffer_buf_free(&b);
}

static void test_context_limits(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_buf b = {0};
	kt_key_new(e, &e->admin, &k);
	struct coffer_kms_context_pair pairs[COFFER_KMS_MAX_CONTEXT_PAIRS + 1];
	char names[COFFER_KMS_MAX_CONTEXT_PAIRS + 1][8];
	for (size_t i = 0; i <= COFFER_KMS_MAX_CONTEXT_PAIRS; i++) {
		snprintf(names[i], sizeof(names[i]), "k%zu", i);
		pairs[i].key = names[i];
		pairs[i].value = "v";
	}
	struct coffer_kms_context c64 = {pairs, COFFER_KMS_MAX_CONTEXT_PAIRS};
	struct coffer_kms_context c65 = {pairs, COFFER_KMS_MAX_CONTEXT_PAIRS + 1};
	KT_OK(kt_encrypt(e, &e->admin, k.id, "many", &c64, &b));
	KT_OK(kt_decrypt(e, &e->admin, &b, &c64, NULL, "many"));
	KT_RC(kt_encrypt(e, &e->admin, k.id, "too many", &c65, &b), COFFER_E_KMS_VALIDATION);
	/* Duplicate keys are not a context. */
	const struct coffer_kms_context_pair dup[] = {{"a", "1"}, {"a", "2"}};
	const struct coffer_kms_context cdup = {dup, 2};
	assert_int_not_equal(kt_encrypt(e, &e->admin, k.id, "dup", &cdup, &b), COFFER_OK);
	coffer_buf_free(&b);
}

static void test_incorrect_key(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k1, k2;
	struct coffer_buf b = {0};
	kt_key_new(e, &e->admin, &k1);
	kt_key_new(e, &e->admin, &k2);
	KT_OK(kt_encrypt(e, &e->admin, k1.id, "mine", &ctx_ab, &b));
	KT_RC(kt_decrypt(e, &e->admin, &b, &ctx_ab, k2.id, NULL), COFFER_E_KMS_INCORRECT_KEY);
	KT_RC(kt_decrypt(e, &e->admin, &b, &ctx_ab, k2.arn, NULL), COFFER_E_KMS_INCORRECT_KEY);
	/* An unknown KeyId is not found (it names no key at all). */
	KT_RC2(kt_decrypt(e, &e->admin, &b, &ctx_ab, KT_UNKNOWN_KEY_ID, NULL), COFFER_E_KMS_NOT_FOUND,
	       COFFER_E_KMS_INCORRECT_KEY);
	KT_OK(kt_decrypt(e, &e->admin, &b, &ctx_ab, k1.id, "mine"));
	coffer_buf_free(&b);
}

static void test_tampered_blobs(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_buf b = {0};
	kt_key_new(e, &e->admin, &k);
	/* A rotated key so the blob's version header is not the only version. */
	KT_OK(coffer_kms_rotate_key_on_demand(e->kms, &e->admin, k.id));
	KT_OK(kt_encrypt(e, &e->admin, k.id, "tamper-evident plaintext", &ctx_ab, &b));
	assert_true(b.len <= COFFER_KMS_MAX_BLOB);
	uint8_t *copy = malloc(b.len + 16);
	assert_non_null(copy);

	for (size_t i = 0; i < b.len; i++) {
		static const uint8_t flips[] = {0x01, 0x80, 0xff};
		for (size_t f = 0; f < sizeof(flips); f++) {
			memcpy(copy, b.ptr, b.len);
			copy[i] ^= flips[f];
			struct coffer_secret pt = {NULL, 0};
			char arn[COFFER_KMS_ARN_MAX];
			coffer_rc rc = coffer_kms_decrypt(e->kms, &e->admin,
							  coffer_slice_of(copy, b.len), &ctx_ab, NULL,
							  &pt, arn);
			if (rc != COFFER_E_KMS_INVALID_CIPHERTEXT)
				print_error("byte %zu of %zu xor 0x%02x\n", i, b.len, flips[f]);
			KT_RC(rc, COFFER_E_KMS_INVALID_CIPHERTEXT);
			assert_null(pt.ptr);
			assert_int_equal(pt.len, 0);
		}
	}
	/* Every truncation. */
	for (size_t n = 1; n < b.len; n++) {
		struct coffer_secret pt = {NULL, 0};
		char arn[COFFER_KMS_ARN_MAX];
		coffer_rc rc = coffer_kms_decrypt(e->kms, &e->admin, coffer_slice_of(b.ptr, n), &ctx_ab,
						  NULL, &pt, arn);
		if (rc != COFFER_E_KMS_INVALID_CIPHERTEXT)
			print_error("truncated to %zu of %zu\n", n, b.len);
		KT_RC(rc, COFFER_E_KMS_INVALID_CIPHERTEXT);
		assert_null(pt.ptr);
	}
	/* Empty blob, appended bytes, oversize blob. */
	struct coffer_secret pt = {NULL, 0};
	char arn[COFFER_KMS_ARN_MAX];
	KT_RC2(coffer_kms_decrypt(e->kms, &e->admin, coffer_slice_of(b.ptr, 0), &ctx_ab, NULL, &pt,
				  arn),
	       COFFER_E_KMS_VALIDATION, COFFER_E_KMS_INVALID_CIPHERTEXT);
	memcpy(copy, b.ptr, b.len);
	memset(copy + b.len, 0, 16);
	KT_RC(coffer_kms_decrypt(e->kms, &e->admin, coffer_slice_of(copy, b.len + 1), &ctx_ab, NULL,
				 &pt, arn),
	      COFFER_E_KMS_INVALID_CIPHERTEXT);
	KT_RC(coffer_kms_decrypt(e->kms, &e->admin, coffer_slice_of(copy, b.len + 16), &ctx_ab, NULL,
				 &pt, arn),
	      COFFER_E_KMS_INVALID_CIPHERTEXT);
	uint8_t *huge = calloc(1, COFFER_KMS_MAX_BLOB + 1);
	assert_non_null(huge);
	memcpy(huge, b.ptr, b.len);
	KT_RC2(coffer_kms_decrypt(e->kms, &e->admin, coffer_slice_of(huge, COFFER_KMS_MAX_BLOB + 1),
				  &ctx_ab, NULL, &pt, arn),
	       COFFER_E_KMS_VALIDATION, COFFER_E_KMS_INVALID_CIPHERTEXT);
	/* Random garbage of many lengths. */
	for (size_t n = 1; n < 200; n += 7) {
		KT_OK(coffer_random_bytes(huge, n));
		KT_RC(coffer_kms_decrypt(e->kms, &e->admin, coffer_slice_of(huge, n), NULL, NULL, &pt, arn),
		      COFFER_E_KMS_INVALID_CIPHERTEXT);
	}
	assert_null(pt.ptr);
	/* The original still decrypts. */
	KT_OK(kt_decrypt(e, &e->admin, &b, &ctx_ab, NULL, "tamper-evident plaintext"));
	free(huge);
	free(copy);
	coffer_buf_free(&b);
}

static void test_blob_from_other_kms(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_buf b = {0};
	kt_key_new(e, &e->admin, &k);
	KT_OK(kt_encrypt(e, &e->admin, k.id, "only here", NULL, &b));
	/* Another engine (its own seal key and keys) cannot read it. */
	struct kt_env *other = kt_env_new(NULL);
	kt_env_open(other);
	KT_RC2(kt_decrypt(other, &other->admin, &b, NULL, NULL, NULL), COFFER_E_KMS_INVALID_CIPHERTEXT,
	       COFFER_E_KMS_NOT_FOUND);
	kt_env_free(other);
	coffer_buf_free(&b);
}

static void test_plaintext_sizes(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_buf b = {0};
	char arn[COFFER_KMS_ARN_MAX];
	kt_key_new(e, &e->admin, &k);
	uint8_t *big = malloc(COFFER_KMS_MAX_PLAINTEXT + 1);
	assert_non_null(big);
	memset(big, 'p', COFFER_KMS_MAX_PLAINTEXT + 1);

	KT_RC(coffer_kms_encrypt(e->kms, &e->admin, k.id, coffer_slice_of(big, 0), NULL, &b, arn),
	      COFFER_E_KMS_VALIDATION);
	KT_RC(coffer_kms_encrypt(e->kms, &e->admin, k.id,
				 coffer_slice_of(big, COFFER_KMS_MAX_PLAINTEXT + 1), NULL, &b, arn),
	      COFFER_E_KMS_VALIDATION);
	assert_int_equal(b.len, 0);
	KT_OK(coffer_kms_encrypt(e->kms, &e->admin, k.id, coffer_slice_of(big, 1), NULL, &b, arn));
	coffer_buf_reset(&b);
	KT_OK(coffer_kms_encrypt(e->kms, &e->admin, k.id,
				 coffer_slice_of(big, COFFER_KMS_MAX_PLAINTEXT), &ctx_ab, &b, arn));
	assert_true(b.len <= COFFER_KMS_MAX_BLOB);
	struct coffer_secret pt = {NULL, 0};
	KT_OK(coffer_kms_decrypt(e->kms, &e->admin, coffer_buf_slice(&b), &ctx_ab, NULL, &pt, arn));
	assert_int_equal(pt.len, COFFER_KMS_MAX_PLAINTEXT);
	assert_memory_equal(pt.ptr, big, COFFER_KMS_MAX_PLAINTEXT);
	coffer_secret_free(&pt);

	/* A blob appended to a buffer that already holds bytes: the bytes stay. */
	coffer_buf_reset(&b);
	coffer_buf_put(&b, "HDR", 3);
	KT_OK(coffer_kms_encrypt(e->kms, &e->admin, k.id, coffer_slice_str("appended"), NULL, &b, arn));
	assert_memory_equal(b.ptr, "HDR", 3);
	KT_OK(coffer_kms_decrypt(e->kms, &e->admin, coffer_slice_of(b.ptr + 3, b.len - 3), NULL, NULL,
				 &pt, arn));
	assert_int_equal(pt.len, 8);
	coffer_secret_free(&pt);
	free(big);
	coffer_buf_free(&b);
}

static void test_generate_data_key(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	char arn[COFFER_KMS_ARN_MAX];
	kt_key_new(e, &e->admin, &k);
	static const uint32_t ok_sizes[] = {1, 16, 32, 1024};
	for (size_t i = 0; i < sizeof(ok_sizes) / sizeof(ok_sizes[0]); i++) {
		struct coffer_secret dk = {NULL, 0}, back = {NULL, 0};
		struct coffer_buf b = {0};
		arn[0] = '\0';
		KT_OK(coffer_kms_generate_data_key(e->kms, &e->admin, k.id, ok_sizes[i], &ctx_ab, &dk,
						   &b, arn));
		assert_string_equal(arn, k.arn);
		assert_int_equal(dk.len, ok_sizes[i]);
		assert_true(b.len <= COFFER_KMS_MAX_BLOB);
		if (dk.len >= 16)
			assert_false(kt_mem_has(b.ptr, b.len, dk.ptr, dk.len));
		KT_OK(coffer_kms_decrypt(e->kms, &e->admin, coffer_buf_slice(&b), &ctx_ab, NULL, &back,
					 arn));
		assert_int_equal(back.len, dk.len);
		assert_memory_equal(back.ptr, dk.ptr, dk.len);
		KT_RC(kt_decrypt(e, &e->admin, &b, NULL, NULL, NULL), COFFER_E_KMS_INVALID_CIPHERTEXT);
		coffer_secret_free(&dk);
		coffer_secret_free(&back);
		coffer_buf_free(&b);
	}
	struct coffer_secret dk = {NULL, 0};
	struct coffer_buf b = {0};
	KT_RC(coffer_kms_generate_data_key(e->kms, &e->admin, k.id, 0, NULL, &dk, &b, arn),
	      COFFER_E_KMS_VALIDATION);
	KT_RC(coffer_kms_generate_data_key(e->kms, &e->admin, k.id, COFFER_KMS_MAX_DATA_KEY + 1, NULL,
					   &dk, &b, arn),
	      COFFER_E_KMS_VALIDATION);
	assert_null(dk.ptr);
	assert_int_equal(b.len, 0);
	KT_RC(coffer_kms_generate_data_key_without_plaintext(e->kms, &e->admin, k.id, 0, NULL, &b, arn),
	      COFFER_E_KMS_VALIDATION);
	KT_RC(coffer_kms_generate_data_key_without_plaintext(e->kms, &e->admin, k.id, 1025, NULL, &b,
							     arn),
	      COFFER_E_KMS_VALIDATION);

	/* Two data keys differ, and so do their blobs. */
	struct coffer_secret d1 = {NULL, 0}, d2 = {NULL, 0};
	struct coffer_buf b1 = {0}, b2 = {0};
	KT_OK(coffer_kms_generate_data_key(e->kms, &e->admin, k.id, 32, NULL, &d1, &b1, arn));
	KT_OK(coffer_kms_generate_data_key(e->kms, &e->admin, k.id, 32, NULL, &d2, &b2, arn));
	assert_memory_not_equal(d1.ptr, d2.ptr, 32);
	assert_false(b1.len == b2.len && !memcmp(b1.ptr, b2.ptr, b1.len));
	coffer_secret_free(&d1);
	coffer_secret_free(&d2);
	coffer_buf_free(&b1);
	coffer_buf_free(&b2);
}

static void test_generate_data_key_without_plaintext(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_buf b = {0};
	struct coffer_secret pt = {NULL, 0};
	char arn[COFFER_KMS_ARN_MAX] = "";
	kt_key_new(e, &e->admin, &k);
	KT_OK(coffer_kms_generate_data_key_without_plaintext(e->kms, &e->admin, k.id, 32, &ctx_ab, &b,
							     arn));
	assert_string_equal(arn, k.arn);
	assert_true(b.len > 32 && b.len <= COFFER_KMS_MAX_BLOB);
	KT_OK(coffer_kms_decrypt(e->kms, &e->admin, coffer_buf_slice(&b), &ctx_ab, NULL, &pt, arn));
	assert_int_equal(pt.len, 32);
	coffer_secret_free(&pt);
	KT_RC(kt_decrypt(e, &e->admin, &b, NULL, NULL, NULL), COFFER_E_KMS_INVALID_CIPHERTEXT);
	coffer_buf_free(&b);
}

static void test_reencrypt(void **state)
{
	struct kt_env *e = *state;
	struct kt_key a, bkey;
	struct coffer_buf b = {0}, out = {0};
	char src_arn[COFFER_KMS_ARN_MAX] = "", dst_arn[COFFER_KMS_ARN_MAX] = "";
	kt_key_new(e, &e->admin, &a);
	kt_key_new(e, &e->admin, &bkey);
	const struct coffer_kms_context_pair p2[] = {{"purpose", "moved"}};
	const struct coffer_kms_context ctx2 = {p2, 1};

	KT_OK(kt_encrypt(e, &e->admin, a.id, "travelling", &ctx_ab, &b));
	KT_OK(coffer_kms_reencrypt(e->kms, &e->admin, coffer_buf_slice(&b), &ctx_ab, NULL, bkey.id,
				   &ctx2, &out, src_arn, dst_arn));
	assert_string_equal(src_arn, a.arn);
	assert_string_equal(dst_arn, bkey.arn);
	assert_true(out.len <= COFFER_KMS_MAX_BLOB);
	KT_OK(kt_decrypt(e, &e->admin, &out, &ctx2, NULL, "travelling"));
	KT_OK(kt_decrypt(e, &e->admin, &out, &ctx2, bkey.arn, "travelling"));
	KT_RC(kt_decrypt(e, &e->admin, &out, &ctx_ab, NULL, NULL), COFFER_E_KMS_INVALID_CIPHERTEXT);
	KT_RC(kt_decrypt(e, &e->admin, &out, &ctx2, a.id, NULL), COFFER_E_KMS_INCORRECT_KEY);
	/* The source blob is still valid under its own key. */
	KT_OK(kt_decrypt(e, &e->admin, &b, &ctx_ab, NULL, "travelling"));

	/* Same key, new context. */
	coffer_buf_reset(&out);
	KT_OK(coffer_kms_reencrypt(e->kms, &e->admin, coffer_buf_slice(&b), &ctx_ab, a.id, a.id, &ctx2,
				   &out, src_arn, dst_arn));
	KT_OK(kt_decrypt(e, &e->admin, &out, &ctx2, NULL, "travelling"));

	/* Wrong source context, wrong source key, unknown destination, tampering. */
	coffer_buf_reset(&out);
	KT_RC(coffer_kms_reencrypt(e->kms, &e->admin, coffer_buf_slice(&b), &ctx2, NULL, bkey.id, NULL,
				   &out, src_arn, dst_arn),
	      COFFER_E_KMS_INVALID_CIPHERTEXT);
	KT_RC(coffer_kms_reencrypt(e->kms, &e->admin, coffer_buf_slice(&b), &ctx_ab, bkey.id, bkey.id,
				   NULL, &out, src_arn, dst_arn),
	      COFFER_E_KMS_INCORRECT_KEY);
	KT_RC(coffer_kms_reencrypt(e->kms, &e->admin, coffer_buf_slice(&b), &ctx_ab, NULL,
				   KT_UNKNOWN_KEY_ID, NULL, &out, src_arn, dst_arn),
	      COFFER_E_KMS_NOT_FOUND);
	b.ptr[b.len - 1] ^= 1;
	KT_RC(coffer_kms_reencrypt(e->kms, &e->admin, coffer_buf_slice(&b), &ctx_ab, NULL, bkey.id,
				   NULL, &out, src_arn, dst_arn),
	      COFFER_E_KMS_INVALID_CIPHERTEXT);
	b.ptr[b.len - 1] ^= 1;
	assert_int_equal(out.len, 0);

	/* Destination disabled. */
	KT_OK(coffer_kms_disable_key(e->kms, &e->admin, bkey.id));
	KT_RC(coffer_kms_reencrypt(e->kms, &e->admin, coffer_buf_slice(&b), &ctx_ab, NULL, bkey.id,
				   NULL, &out, src_arn, dst_arn),
	      COFFER_E_KMS_DISABLED);
	KT_MSG_HAS(bkey.id);
	coffer_buf_free(&b);
	coffer_buf_free(&out);
}

static void test_generate_random(void **state)
{
	struct kt_env *e = *state;
	struct coffer_secret r1 = {NULL, 0}, r2 = {NULL, 0};
	KT_OK(coffer_kms_generate_random(e->kms, &e->admin, 32, &r1));
	KT_OK(coffer_kms_generate_random(e->kms, &e->admin, 32, &r2));
	assert_int_equal(r1.len, 32);
	assert_int_equal(r2.len, 32);
	assert_memory_not_equal(r1.ptr, r2.ptr, 32);
	coffer_secret_free(&r1);
	coffer_secret_free(&r2);
	KT_OK(coffer_kms_generate_random(e->kms, &e->admin, 1, &r1));
	assert_int_equal(r1.len, 1);
	coffer_secret_free(&r1);
	KT_OK(coffer_kms_generate_random(e->kms, &e->admin, 1024, &r1));
	assert_int_equal(r1.len, 1024);
	coffer_secret_free(&r1);
	KT_RC(coffer_kms_generate_random(e->kms, &e->admin, 0, &r1), COFFER_E_KMS_VALIDATION);
	KT_RC(coffer_kms_generate_random(e->kms, &e->admin, 1025, &r1), COFFER_E_KMS_VALIDATION);
	assert_null(r1.ptr);
}

static void test_ciphertexts_differ(void **state)
{
	struct kt_env *e = *state;
	struct kt_key k;
	struct coffer_buf b1 = {0}, b2 = {0};
	kt_key_new(e, &e->admin, &k);
	KT_OK(kt_encrypt(e, &e->admin, k.id, "same plaintext", &ctx_ab, &b1));
	KT_OK(kt_encrypt(e, &e->admin, k.id, "same plaintext", &ctx_ab, &b2));
	assert_false(b1.len == b2.len && !memcmp(b1.ptr, b2.ptr, b1.len));
	KT_OK(kt_decrypt(e, &e->admin, &b1, &ctx_ab, NULL, "same plaintext"));
	KT_OK(kt_decrypt(e, &e->admin, &b2, &ctx_ab, NULL, "same plaintext"));
	coffer_buf_free(&b1);
	coffer_buf_free(&b2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_context_mismatch, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_context_limits, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_incorrect_key, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_tampered_blobs, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_blob_from_other_kms, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_plaintext_sizes, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_generate_data_key, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_generate_data_key_without_plaintext, kt_setup,
						kt_teardown),
		cmocka_unit_test_setup_teardown(test_reencrypt, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_generate_random, kt_setup, kt_teardown),
		cmocka_unit_test_setup_teardown(test_ciphertexts_differ, kt_setup, kt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
