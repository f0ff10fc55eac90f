/*
 * hash_test.c - SHA-256, HMAC-SHA256 and HKDF-SHA256 against published
 * vectors:
 *  - SHA-256: FIPS 180-2 Appendix B / NIST CSRC example values ("abc", the
 *    448-bit message, one million 'a') and the empty-message digest.
 *  - HMAC-SHA256: RFC 4231 section 4, test cases 1, 2, 3, 4, 6 and 7
 *    (case 5 truncates the output to 128 bits, which the API does not do).
 *  - HKDF-SHA256: RFC 5869 Appendix A, test cases 1, 2 and 3.
 * Plus: incremental SHA-256 equals one-shot over every split point, and
 * HKDF's length limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "crypto/vec_helper.h"

static void assert_hex(const uint8_t *got, size_t n, const char *want_hex)
{
	size_t len;
	uint8_t *want = vec_hex(want_hex, &len);
	assert_int_equal(len, n);
	assert_memory_equal(got, want, n);
	free(want);
}

/* ---- SHA-256 ------------------------------------------------------------- */

static void test_sha256_nist(void **state)
{
	uint8_t d[32];

	/* FIPS 180-2 B.1: one-block message "abc" */
	coffer_sha256("abc", 3, d);
	assert_hex(d, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* the empty message */
	coffer_sha256(NULL, 0, d);
	assert_hex(d, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* FIPS 180-2 B.2: multi-block 448-bit message */
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	coffer_sha256(m448, strlen(m448), d);
	assert_hex(d, 32, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_million_a(void **state)
{
	/* FIPS 180-2 B.3: one million 'a', fed incrementally in odd-sized parts */
	char part[997];
	struct coffer_sha256_ctx *c = coffer_sha256_new();
	size_t left = 1000000;
	uint8_t d[32];

	memset(part, 'a', sizeof part);
	while (left) {
		size_t n = left < sizeof part ? left : sizeof part;
		coffer_sha256_update(c, part, n);
		left -= n;
	}
	coffer_sha256_final(c, d);
	assert_hex(d, 32, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_sha256_incremental_equals_one_shot(void **state)
{
	uint8_t msg[300], one[32], inc[32];

	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = (uint8_t)(i * 31 + 7);
	coffer_sha256(msg, sizeof msg, one);
	for (size_t split = 0; split <= sizeof msg; split++) {
		struct coffer_sha256_ctx *c = coffer_sha256_new();
		coffer_sha256_update(c, msg, split);
		coffer_sha256_update(c, NULL, 0);
		coffer_sha256_update(c, msg + split, sizeof msg - split);
		coffer_sha256_final(c, inc);
		assert_memory_equal(one, inc, 32);
	}
	/* an untouched context hashes the empty message */
	struct coffer_sha256_ctx *c = coffer_sha256_new();
	coffer_sha256_final(c, inc);
	assert_hex(inc, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ---- HMAC-SHA256, RFC 4231 ----------------------------------------------- */

struct hmac_vec {
	const char *name;
	const char *key_hex;
	const char *data; /* hex if data_is_hex, else text */
	bool data_is_hex;
	const char *mac;
};

static const struct hmac_vec rfc4231[] = {
	{"RFC 4231 test case 1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There", false,
	 "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
	{"RFC 4231 test case 2", "4a656665" /* "Jefe" */, "what do ya want for nothing?", false,
	 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	{"RFC 4231 test case 3", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	 "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	 "dddddddddddd",
	 true, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
	{"RFC 4231 test case 4", "0102030405060708090a0b0c0d0e0f10111213141516171819",
	 "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
	 "cdcdcdcdcdcd",
	 true, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
	{"RFC 4231 test case 6", NULL /* 131 bytes of 0xaa */,
	 "Test Using Larger Than Block-Size Key - Hash Key First", false,
	 "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	{"RFC 4231 test case 7", NULL /* 131 bytes of 0xaa */,
	 "This is a test using a larger than block-size key and a larger than block-size data. "
	 "The key needs to be hashed before being used by the HMAC algorithm.",
	 false, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
};

static void test_hmac_rfc4231(void **state)
{
	for (size_t i = 0; i < sizeof rfc4231 / sizeof rfc4231[0]; i++) {
		const struct hmac_vec *v = &rfc4231[i];
		uint8_t *key, *data, mac[32];
		size_t key_len, data_len;

		if (v->key_hex) {
			key = vec_hex(v->key_hex, &key_len);
		} else {
			key_len = 131;
			key = malloc(key_len);
			assert_non_null(key);
			memset(key, 0xaa, key_len);
		}
		if (v->data_is_hex) {
			data = vec_hex(v->data, &data_len);
		} else {
			data_len = strlen(v->data);
			data = (uint8_t *)strdup(v->data);
		}
		coffer_hmac_sha256(key, key_len, data, data_len, mac);
		print_message("%s\n", v->name);
		assert_hex(mac, 32, v->mac);
		free(key);
		free(data);
	}
}

static void test_hmac_empty(void **state)
{
	uint8_t a[32], b[32];

	/* An empty key is zero-padded to the block size, so it equals a key of
	 * 64 zero bytes (RFC 2104 step 1); the API must accept NULL for it. */
	static const uint8_t zeros[64];
	coffer_hmac_sha256(NULL, 0, NULL, 0, a);
	coffer_hmac_sha256(zeros, sizeof zeros, "", 0, b);
	assert_memory_equal(a, b, 32);
}

/* ---- HKDF-SHA256, RFC 5869 ----------------------------------------------- */

struct hkdf_vec {
	const char *name, *ikm, *salt, *info;
	size_t L;
	const char *okm;
};

static const struct hkdf_vec rfc5869[] = {
	{"RFC 5869 A.1 (test case 1)", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
	 "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42,
	 "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
	{"RFC 5869 A.2 (test case 2)",
	 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	 "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	 "404142434445464748494a4b4c4d4e4f",
	 "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	 "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
	 "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
	 "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
	 "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
	 "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
	 82,
	 "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
	 "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
	 "cc30c58179ec3e87c14c01d5c1f3434f1d87"},
	{"RFC 5869 A.3 (test case 3, empty salt and info)",
	 "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
	 "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
};

static void test_hkdf_rfc5869(void **state)
{
	for (size_t i = 0; i < sizeof rfc5869 / sizeof rfc5869[0]; i++) {
		const struct hkdf_vec *v = &rfc5869[i];
		size_t ikm_len, salt_len, info_len;
		uint8_t *ikm = vec_hex(v->ikm, &ikm_len);
		uint8_t *salt = vec_hex(v->salt, &salt_len);
		uint8_t *info = vec_hex(v->info, &info_len);
		uint8_t okm[128];

		print_message("%s\n", v->name);
		assert_int_equal(coffer_hkdf_sha256(ikm, ikm_len, salt, salt_len, info, info_len, okm,
						    v->L),
				 COFFER_OK);
		assert_hex(okm, v->L, v->okm);
		free(ikm);
		free(salt);
		free(info);
	}
}

static void test_hkdf_limits(void **state)
{
	static uint8_t out[255 * 32 + 1];
	const uint8_t ikm[32] = {7};

	/* RFC 5869 2.3: L <= 255*HashLen */
	assert_int_equal(coffer_hkdf_sha256(ikm, sizeof ikm, NULL, 0, NULL, 0, out, 255 * 32),
			 COFFER_OK);
	memset(out, 0x11, sizeof out);
	assert_int_equal(coffer_hkdf_sha256(ikm, sizeof ikm, NULL, 0, NULL, 0, out, 255 * 32 + 1),
			 COFFER_E_INVALID);
	assert_int_equal(coffer_hkdf_sha256(ikm, sizeof ikm, NULL, 0, NULL, 0, out, 0),
			 COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "HKDF-SHA256"));
	/* an expansion is a prefix of a longer one with the same inputs */
	uint8_t a[100], b[40];
	assert_int_equal(coffer_hkdf_sha256(ikm, sizeof ikm, "s", 1, "i", 1, a, sizeof a),
			 COFFER_OK);
	assert_int_equal(coffer_hkdf_sha256(ikm, sizeof ikm, "s", 1, "i", 1, b, sizeof b),
			 COFFER_OK);
	assert_memory_equal(a, b, sizeof b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_nist),
		cmocka_unit_test(test_sha256_million_a),
		cmocka_unit_test(test_sha256_incremental_equals_one_shot),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_hmac_empty),
		cmocka_unit_test(test_hkdf_rfc5869),
		cmocka_unit_test(test_hkdf_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
