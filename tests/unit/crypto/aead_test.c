/*
 * aead_test.c - AES-256-GCM against published vectors, and the behaviour
 * crypto.h promises around them.
 *
 * Vectors:
 *  - McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", revised
 *    2005, Appendix B, test cases 13-16 (the AES-256 cases with a 96-bit IV).
 *    Test cases 17 and 18 use a 64-bit and a 480-bit IV; coffer's API takes
 *    only 96-bit nonces (crypto.h), so they cannot be expressed and are left out.
 *  - NIST CAVP gcmEncryptExtIV256.rsp (GCMVS), sections named below, as
 *    excerpted in Chromium QUICHE's aes_256_gcm_encrypter_test.cc.
 *  - Wycheproof aes_gcm_test.json, group ivSize 96 / keySize 256 / tagSize
 *    128: tcId 91-106, 116-118, 128-156 in tests/data/wycheproof_aes_gcm_256.txt
 *    (valid cases, special-case tags, and 27 ModifiedTag invalid cases).
 *    Wycheproof's 96-bit group has no wrong-AAD or modified-ciphertext cases,
 *    so those are derived from its valid cases below (test_wycheproof_mutated).
 *
 * Every valid vector is checked through the one-shot functions and through a
 * keyed context on each backend (libsodium, where the CPU has AES-NI and
 * PCLMULQDQ, and the OpenSSL fallback, forced with
 * coffer_aead_ctx_new_backend): seal and open each way. Every invalid one
 * must fail with COFFER_E_AUTH and leave the output zeroed, on every path.
 *
 * Beyond the vectors: which backend coffer_aead_ctx_new picks (checked
 * against the CPU flags in /proc/cpuinfo, so a silent fallback fails), where
 * the libsodium state lives (secret memory, aligned, wiped on free), a
 * randomized differential test of the three paths with every single-bit
 * flip refused, GCM's length limit, and one context shared by four threads
 * on each backend.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "crypto/crypto_internal.h"
#include "crypto/vec_helper.h"
#include "util/alloc.h"

struct gcm_vec {
	const char *name;
	const char *key, *iv, *aad, *pt, *ct, *tag;
};

static const struct gcm_vec published[] = {
	/* McGrew & Viega, GCM spec Appendix B. */
	{"GCM spec test case 13",
	 "0000000000000000000000000000000000000000000000000000000000000000",
	 "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
	{"GCM spec test case 14",
	 "0000000000000000000000000000000000000000000000000000000000000000",
	 "000000000000000000000000", "", "00000000000000000000000000000000",
	 "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
	{"GCM spec test case 15",
	 "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	 "cafebabefacedbaddecaf888", "",
	 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	 "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	 "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	 "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	 "b094dac5d93471bdec1a502270e3cc6c"},
	{"GCM spec test case 16",
	 "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	 "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	 "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	 "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	 "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	 "76fc6ece0f4e1768cddf8853bb2d551b"},
	/* NIST CAVP gcmEncryptExtIV256.rsp. */
	{"CAVP gcmEncryptExtIV256 [PTlen=0][AADlen=0] Count=0",
	 "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
	 "516c33929df5a3284ff463d7", "", "", "", "bdc1ac884d332457a1d2664f168c76f0"},
	{"CAVP gcmEncryptExtIV256 [PTlen=0][AADlen=0] Count=1",
	 "5fe0861cdc2690ce69b3658c7f26f8458eec1c9243c5ba0845305d897e96ca0f",
	 "770ac1a5a3d476d5d96944a1", "", "", "", "196d691e1047093ca4b3d2ef4baba216"},
	{"CAVP gcmEncryptExtIV256 [PTlen=0][AADlen=128]",
	 "78dc4e0aaf52d935c3c01eea57428f00ca1fd475f5da86a49c8dd73d68c8e223",
	 "d79cf22d504cc793c3fb6c8a", "b96baa8c1c75a671bfb2d08d06be5f36", "", "",
	 "3e5d486aa2e30b22e040b85723a06e76"},
	{"CAVP gcmEncryptExtIV256 [PTlen=128][AADlen=0]",
	 "31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22",
	 "0d18e06c7c725ac9e362e1ce", "", "2db5168e932556f8089a0622981d017d",
	 "fa4362189661d163fcd6a56d8bf0405a", "d636ac1bbedd5cc3ee727dc2ab4a9489"},
	{"CAVP gcmEncryptExtIV256 [PTlen=408][AADlen=160]",
	 "24501ad384e473963d476edcfe08205237acfd49b5b8f33857f8114e863fec7f",
	 "9ff18563b978ec281b3f2794", "adb5ec720ccf9898500028bf34afccbcaca126ef",
	 "27f348f9cdc0c5bd5e66b1ccb63ad920ff2219d14e8d631b3872265cf117ee86757accb15"
	 "8bd9abb3868fdc0d0b074b5f01b2c",
	 "eb7cb754c824e8d96f7c6d9b76c7d26fb874ffbf1d65c6f64a698d839b0b06145dae82057"
	 "ad55994cf59ad7f67c0fa5e85fab8",
	 "bc95c532fecc594c36d1550286a7a3f0"},
	{"CAVP gcmEncryptExtIV256 [PTlen=408][AADlen=720]",
	 "148579a3cbca86d5520d66c0ec71ca5f7e41ba78e56dc6eebd566fed547fe691",
	 "b08a5ea1927499c6ecbfd4e0",
	 "e4f963f015ffbb99ee3349bbaf7e8e8e6c2a71c230a48f9d59860a29091d2747e01a5ca57"
	 "2347e247d25f56ba7ae8e05cde2be3c97931292c02370208ecd097ef692687fecf2f419d3"
	 "200162a6480a57dad408a0dfeb492e2c5d",
	 "9d0b15fdf1bd595f91f8b3abc0f7dec927dfd4799935a1795d9ce00c9b879434420fe42c2"
	 "75a7cd7b39d638fb81ca52b49dc41",
	 "2097e372950a5e9383c675e89eea1c314f999159f5611344b298cda45e62843716f215f82"
	 "ee663919c64002a5c198d7878fd3f",
	 "adbecdb0d5c2224d804d2886ff9a5760"},
	{"CAVP gcmEncryptExtIV256 [PTlen=104][AADlen=0]",
	 "82c4f12eeec3b2d3d157b0f992d292b237478d2cecc1d5f161389b97f999057a",
	 "7b40b20f5f397177990ef2d1", "", "982a296ee1cd7086afad976945",
	 "ec8e05a0471d6b43a59ca5335f", "113ddeafc62373cac2f5951bb9165249"},
};

/* One decoded vector. */
struct dvec {
	uint8_t *key, *iv, *aad, *pt, *ct, *tag;
	size_t key_len, iv_len, aad_len, pt_len, ct_len, tag_len;
};

static void dvec_decode(struct dvec *d, const char *key, const char *iv, const char *aad,
			const char *pt, const char *ct, const char *tag)
{
	d->key = vec_hex(key, &d->key_len);
	d->iv = vec_hex(iv, &d->iv_len);
	d->aad = vec_hex(aad, &d->aad_len);
	d->pt = vec_hex(pt, &d->pt_len);
	d->ct = vec_hex(ct, &d->ct_len);
	d->tag = vec_hex(tag, &d->tag_len);
	assert_int_equal(d->key_len, COFFER_AEAD_KEY_BYTES);
	assert_int_equal(d->iv_len, COFFER_AEAD_NONCE_BYTES);
	assert_int_equal(d->tag_len, COFFER_AEAD_TAG_BYTES);
	assert_int_equal(d->pt_len, d->ct_len);
}

static void dvec_free(struct dvec *d)
{
	free(d->key);
	free(d->iv);
	free(d->aad);
	free(d->pt);
	free(d->ct);
	free(d->tag);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- Backends ------------------------------------------------------------ */

/* Whether this CPU has what libsodium's AES-256-GCM needs, read from the
 * kernel rather than asked of libsodium, so that a broken detection cannot
 * make the tests skip the backend it should have picked. */
static bool cpu_has_aes_gcm(void)
{
	static int known = -1;
	char line[8192];
	bool aes = false, pclmul = false;

	if (known >= 0)
		return known;
	FILE *f = fopen("/proc/cpuinfo", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		char *save = NULL;
		for (char *w = strtok_r(line, " \t\n:", &save); w; w = strtok_r(NULL, " \t\n:", &save)) {
			aes |= strcmp(w, "aes") == 0;
			pclmul |= strcmp(w, "pclmulqdq") == 0;
		}
		break;
	}
	fclose(f);
	known = aes && pclmul;
	return known;
}

/* The backends this machine runs: both, or OpenSSL alone on a CPU without
 * AES-NI/PCLMULQDQ (test_default_backend checks libsodium refuses there). */
static size_t n_backends(void)
{
	return cpu_has_aes_gcm() ? 2 : 1;
}

static enum coffer_aead_backend backend_at(size_t i)
{
	return cpu_has_aes_gcm() && i == 0 ? COFFER_AEAD_BACKEND_LIBSODIUM
					   : COFFER_AEAD_BACKEND_OPENSSL;
}

/* A keyed context on `b`, checked to really run on it. */
static struct coffer_aead_ctx *ctx_on(const uint8_t *key, enum coffer_aead_backend b)
{
	struct coffer_aead_ctx *ctx = NULL;

	if (coffer_aead_ctx_new_backend(key, b, &ctx) != COFFER_OK)
		fail_msg("keyed context on %s: %s", coffer_aead_backend_name(b), coffer_error_msg());
	assert_int_equal(coffer_aead_ctx_backend(ctx), b);
	return ctx;
}

/* Checks a valid vector through the one-shot and the keyed-context API. */
static void check_valid(const struct dvec *d, const char *name)
{
	uint8_t *out = calloc(d->pt_len + 1, 1);
	uint8_t tag[COFFER_AEAD_TAG_BYTES];
	struct coffer_slice aad = coffer_slice_of(d->aad, d->aad_len);
	struct coffer_aead_ctx *ctx = NULL;

	(void)ctx; /* unused in a COFFER_BENCH_NULL_CIPHER build */
	assert_non_null(out);
	assert_int_equal(coffer_aead_seal(d->key, d->iv, aad, coffer_slice_of(d->pt, d->pt_len),
					  out, tag),
			 COFFER_OK);
	if (memcmp(out, d->ct, d->ct_len) != 0 || memcmp(tag, d->tag, sizeof tag) != 0)
		fail_msg("%s: one-shot seal differs from the published vector", name);

	memset(out, 0xaa, d->pt_len);
	assert_int_equal(coffer_aead_open(d->key, d->iv, aad, coffer_slice_of(d->ct, d->ct_len),
					  d->tag, out),
			 COFFER_OK);
	if (memcmp(out, d->pt, d->pt_len) != 0)
		fail_msg("%s: one-shot open differs from the published plaintext", name);

#ifndef COFFER_BENCH_NULL_CIPHER
	for (size_t b = 0; b < n_backends(); b++) {
		const char *bn = coffer_aead_backend_name(backend_at(b));
		ctx = ctx_on(d->key, backend_at(b));
		memset(out, 0, d->pt_len);
		assert_int_equal(coffer_aead_ctx_seal(ctx, d->iv, aad,
						      coffer_slice_of(d->pt, d->pt_len), out, tag),
				 COFFER_OK);
		if (memcmp(out, d->ct, d->ct_len) != 0 || memcmp(tag, d->tag, sizeof tag) != 0)
			fail_msg("%s: keyed-context seal (%s) differs from the published vector",
				 name, bn);
		memset(out, 0xaa, d->pt_len);
		assert_int_equal(coffer_aead_ctx_open(ctx, d->iv, aad,
						      coffer_slice_of(d->ct, d->ct_len), d->tag, out),
				 COFFER_OK);
		if (memcmp(out, d->pt, d->pt_len) != 0)
			fail_msg("%s: keyed-context open (%s) differs from the published plaintext",
				 name, bn);
		coffer_aead_ctx_free(ctx);
	}
#endif
	free(out);
}

/* Checks that opening fails with COFFER_E_AUTH and zeroes the output. */
static void check_invalid(const struct dvec *d, const char *name)
{
	uint8_t *out = calloc(d->ct_len + 1, 1);
	struct coffer_slice aad = coffer_slice_of(d->aad, d->aad_len);
	struct coffer_aead_ctx *ctx = NULL;

	(void)ctx; /* unused in a COFFER_BENCH_NULL_CIPHER build */
	assert_non_null(out);
	memset(out, 0xaa, d->ct_len);
	if (coffer_aead_open(d->key, d->iv, aad, coffer_slice_of(d->ct, d->ct_len), d->tag, out) !=
	    COFFER_E_AUTH)
		fail_msg("%s: one-shot open accepted an invalid vector", name);
	if (!all_zero(out, d->ct_len))
		fail_msg("%s: one-shot open left output after a failed tag", name);
	assert_string_equal(coffer_error_msg(), "AES-256-GCM open: authentication tag mismatch");

#ifndef COFFER_BENCH_NULL_CIPHER
	for (size_t b = 0; b < n_backends(); b++) {
		const char *bn = coffer_aead_backend_name(backend_at(b));
		ctx = ctx_on(d->key, backend_at(b));
		memset(out, 0xaa, d->ct_len);
		if (coffer_aead_ctx_open(ctx, d->iv, aad, coffer_slice_of(d->ct, d->ct_len), d->tag,
					 out) != COFFER_E_AUTH)
			fail_msg("%s: keyed-context open (%s) accepted an invalid vector", name, bn);
		if (!all_zero(out, d->ct_len))
			fail_msg("%s: keyed-context open (%s) left output after a failed tag", name,
				 bn);
		assert_string_equal(coffer_error_msg(),
				    "AES-256-GCM open: authentication tag mismatch");
		coffer_aead_ctx_free(ctx);
	}
#endif
	free(out);
}

static void test_published_vectors(void **state)
{
	for (size_t i = 0; i < sizeof published / sizeof published[0]; i++) {
		const struct gcm_vec *v = &published[i];
		struct dvec d;
		dvec_decode(&d, v->key, v->iv, v->aad, v->pt, v->ct, v->tag);
		check_valid(&d, v->name);
		dvec_free(&d);
	}
}

/* ---- Wycheproof ---------------------------------------------------------- */

struct wp_case {
	int tc_id;
	bool valid;
	struct dvec d;
};

/* Loads tests/data/wycheproof_aes_gcm_256.txt; returns the count. */
static size_t wp_load(struct wp_case **out)
{
	const char *dir = getenv("COFFER_TEST_DATA");
	char path[4096], line[8192];
	struct wp_case *cases = NULL;
	size_t n = 0, cap = 0;

	assert_non_null(dir);
	snprintf(path, sizeof path, "%s/wycheproof_aes_gcm_256.txt", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	while (fgets(line, sizeof line, f)) {
		char key[128], iv[64], aad[2048], msg[2048], ct[2048], tag[64], result[16];
		int id;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (strlen(line) == sizeof line - 1)
			fail_msg("%s: line too long", path);
		if (sscanf(line, "%d %127s %63s %2047s %2047s %2047s %63s %15s", &id, key, iv, aad,
			   msg, ct, tag, result) != 8)
			fail_msg("%s: cannot parse line: %s", path, line);
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			cases = realloc(cases, cap * sizeof *cases);
			assert_non_null(cases);
		}
		cases[n].tc_id = id;
		if (strcmp(result, "valid") == 0)
			cases[n].valid = true;
		else if (strcmp(result, "invalid") == 0)
			cases[n].valid = false;
		else
			fail_msg("%s: tcId %d: result \"%s\"", path, id, result);
		dvec_decode(&cases[n].d, key, iv, aad, msg, ct, tag);
		n++;
	}
	fclose(f);
	*out = cases;
	return n;
}

static void wp_free(struct wp_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dvec_free(&cases[i].d);
	free(cases);
}

static void test_wycheproof(void **state)
{
	struct wp_case *cases;
	size_t n = wp_load(&cases), valid = 0, invalid = 0;
	char name[64];

	assert_true(n >= 40);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof name, "Wycheproof aes_gcm tcId %d", cases[i].tc_id);
		if (cases[i].valid) {
			check_valid(&cases[i].d, name);
			valid++;
		} else {
			check_invalid(&cases[i].d, name);
			invalid++;
		}
	}
	print_message("Wycheproof AES-256-GCM: %zu valid, %zu invalid cases checked\n", valid,
		      invalid);
	assert_true(valid >= 20);
	assert_true(invalid >= 27);
	wp_free(cases, n);
}

/* Wycheproof tcId 130 is "Flipped bit 0 in tag"; flipping it back must give
 * the tag of the genuine message, which seal must reproduce. */
static void test_wycheproof_modified_tag_origin(void **state)
{
	struct wp_case *cases;
	size_t n = wp_load(&cases);
	uint8_t out[16], tag[COFFER_AEAD_TAG_BYTES];

	for (size_t i = 0; i < n; i++) {
		if (cases[i].tc_id != 130)
			continue;
		struct dvec *d = &cases[i].d;
		assert_int_equal(d->pt_len, sizeof out);
		assert_int_equal(coffer_aead_seal(d->key, d->iv, coffer_slice_of(d->aad, d->aad_len),
						  coffer_slice_of(d->pt, d->pt_len), out, tag),
				 COFFER_OK);
		assert_memory_equal(out, d->ct, sizeof out);
		d->tag[0] ^= 0x01;
		assert_memory_equal(tag, d->tag, sizeof tag);
		check_valid(d, "Wycheproof tcId 130 with bit 0 restored");
		wp_free(cases, n);
		return;
	}
	fail_msg("tcId 130 missing from the data file");
}

/* Negative cases Wycheproof's 96-bit group lacks, derived from each valid
 * case: wrong AAD (a byte flipped, a byte appended), a flipped ciphertext bit,
 * a truncated ciphertext, a wrong nonce and a wrong key. */
static void test_wycheproof_mutated(void **state)
{
	struct wp_case *cases;
	size_t n = wp_load(&cases), checked = 0;
	char name[96];

	for (size_t i = 0; i < n; i++) {
		if (!cases[i].valid)
			continue;
		/* m starts as a shallow copy of d: flipping a byte in d's buffers
		 * flips it in m too, and flipping it back restores both. */
		struct dvec d = cases[i].d, m;
		uint8_t *aad2 = calloc(d.aad_len + 1, 1);
		assert_non_null(aad2);

		/* wrong AAD: append one byte */
		memcpy(aad2, d.aad, d.aad_len);
		m = d;
		m.aad = aad2;
		m.aad_len = d.aad_len + 1;
		snprintf(name, sizeof name, "tcId %d, AAD with a byte appended", cases[i].tc_id);
		check_invalid(&m, name);
		/* wrong AAD: flip the last bit */
		if (d.aad_len) {
			aad2[d.aad_len - 1] ^= 0x80;
			m.aad_len = d.aad_len;
			snprintf(name, sizeof name, "tcId %d, AAD bit flipped", cases[i].tc_id);
			check_invalid(&m, name);
		}
		/* modified ciphertext */
		if (d.ct_len) {
			m = d;
			d.ct[d.ct_len / 2] ^= 0x01;
			snprintf(name, sizeof name, "tcId %d, ciphertext bit flipped",
				 cases[i].tc_id);
			check_invalid(&m, name);
			d.ct[d.ct_len / 2] ^= 0x01;
			m.ct_len = d.ct_len - 1;
			snprintf(name, sizeof name, "tcId %d, ciphertext truncated", cases[i].tc_id);
			check_invalid(&m, name);
		}
		/* wrong nonce, wrong key */
		m = d;
		d.iv[0] ^= 0x01;
		snprintf(name, sizeof name, "tcId %d, nonce changed", cases[i].tc_id);
		check_invalid(&m, name);
		d.iv[0] ^= 0x01;
		d.key[31] ^= 0x01;
		snprintf(name, sizeof name, "tcId %d, key changed", cases[i].tc_id);
		check_invalid(&m, name);
		d.key[31] ^= 0x01;
		free(aad2);
		checked++;
	}
	assert_true(checked >= 20);
	wp_free(cases, n);
}

/* ---- API behaviour ------------------------------------------------------- */

static const uint8_t key1[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t nonce1[12] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5,
				   0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};

static void test_wrong_aad_zeroes_output(void **state)
{
	uint8_t pt[100], ct[100], out[100], tag[16];
	const char *aad = "table 42 / block 7";
	const char *bad = "table 42 / block 8";

	for (size_t i = 0; i < sizeof pt; i++)
		pt[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(coffer_aead_seal(key1, nonce1, coffer_slice_str(aad),
					  coffer_slice_of(pt, sizeof pt), ct, tag),
			 COFFER_OK);
	memset(out, 0x55, sizeof out);
	assert_int_equal(coffer_aead_open(key1, nonce1, coffer_slice_str(bad),
					  coffer_slice_of(ct, sizeof ct), tag, out),
			 COFFER_E_AUTH);
	assert_true(all_zero(out, sizeof out));
	assert_int_equal(coffer_error_code(), COFFER_E_AUTH);
	assert_non_null(strstr(coffer_error_msg(), "AES-256-GCM open"));
	/* the right AAD still opens */
	assert_int_equal(coffer_aead_open(key1, nonce1, coffer_slice_str(aad),
					  coffer_slice_of(ct, sizeof ct), tag, out),
			 COFFER_OK);
	assert_memory_equal(out, pt, sizeof pt);
}

static void test_tag_flip_every_bit(void **state)
{
	uint8_t pt[33], ct[33], out[33], tag[16];

	memset(pt, 0x5a, sizeof pt);
	assert_int_equal(coffer_aead_seal(key1, nonce1, coffer_slice_of(NULL, 0),
					  coffer_slice_of(pt, sizeof pt), ct, tag),
			 COFFER_OK);
	for (int bit = 0; bit < 128; bit++) {
		tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(out, 0x55, sizeof out);
		assert_int_equal(coffer_aead_open(key1, nonce1, coffer_slice_of(NULL, 0),
						  coffer_slice_of(ct, sizeof ct), tag, out),
				 COFFER_E_AUTH);
		assert_true(all_zero(out, sizeof out));
		tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

static void test_error_message_names_no_key(void **state)
{
	uint8_t ct[8] = {0}, out[8], tag[16] = {0};
	char keyhex[65];

	assert_int_equal(coffer_aead_open(key1, nonce1, coffer_slice_of(NULL, 0),
					  coffer_slice_of(ct, sizeof ct), tag, out),
			 COFFER_E_AUTH);
	for (int i = 0; i < 32; i++)
		snprintf(keyhex + 2 * i, 3, "%02x", key1[i]);
	assert_null(strstr(coffer_error_msg(), keyhex));
	assert_null(strstr(coffer_error_msg(), "0102030405"));
}

#ifndef COFFER_BENCH_NULL_CIPHER
static void ctx_equals_one_shot_on(enum coffer_aead_backend be)
{
	static uint8_t pt[70000], a[70000], b[70000];
	uint8_t ta[16], tb[16], nonce[12], aad[37];
	struct coffer_aead_ctx *ctx;

	assert_int_equal(coffer_random_bytes(pt, sizeof pt), COFFER_OK);
	assert_int_equal(coffer_random_bytes(aad, sizeof aad), COFFER_OK);
	ctx = ctx_on(key1, be);
	/* Many sizes, interleaving seal and open on one context, so a direction
	 * switch or a stale nonce inside the reused context would show. */
	static const size_t sizes[] = {0, 1, 15, 16, 17, 255, 4096, 4097, 65536, 70000};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		assert_int_equal(coffer_random_bytes(nonce, sizeof nonce), COFFER_OK);
		struct coffer_slice s_aad = coffer_slice_of(aad, i % 2 ? sizeof aad : 0);
		assert_int_equal(coffer_aead_seal(key1, nonce, s_aad, coffer_slice_of(pt, n), a, ta),
				 COFFER_OK);
		assert_int_equal(coffer_aead_ctx_seal(ctx, nonce, s_aad, coffer_slice_of(pt, n), b, tb),
				 COFFER_OK);
		assert_memory_equal(ta, tb, 16);
		if (n)
			assert_memory_equal(a, b, n);
		assert_int_equal(coffer_aead_ctx_open(ctx, nonce, s_aad, coffer_slice_of(a, n), ta, b),
				 COFFER_OK);
		if (n)
			assert_memory_equal(b, pt, n);
		/* a failed open must not spoil the context for the next call */
		ta[0] ^= 1;
		assert_int_equal(coffer_aead_ctx_open(ctx, nonce, s_aad, coffer_slice_of(a, n), ta, b),
				 COFFER_E_AUTH);
		ta[0] ^= 1;
	}
	coffer_aead_ctx_free(ctx);
}

static void test_ctx_equals_one_shot(void **state)
{
	for (size_t b = 0; b < n_backends(); b++)
		ctx_equals_one_shot_on(backend_at(b));
}

/* One failing open on `ctx`: COFFER_E_AUTH, output zeroed. */
static void expect_ctx_auth_failure(struct coffer_aead_ctx *ctx, const uint8_t *nonce,
				    struct coffer_slice aad, const uint8_t *ct, size_t n,
				    const uint8_t *tag, const char *what, size_t i)
{
	uint8_t out[600];

	memset(out, 0x55, sizeof(out));
	if (coffer_aead_ctx_open(ctx, nonce, aad, coffer_slice_of(ct, n), tag, out) != COFFER_E_AUTH)
		fail_msg("message %zu: keyed-context open accepted %s", i, what);
	if (!all_zero(out, n))
		fail_msg("message %zu: keyed-context open left output after %s", i, what);
}

/* A keyed context sets the direction and the nonce on every call (aead.c
 * invariant 5). Hundreds of messages on one context, seals and opens
 * alternating, with a failed open of each kind (bad tag, wrong AAD, wrong
 * nonce, wrong key) before or after each good open, so that a seal often
 * follows a failed open: every seal must still match the one-shot (EVP) path
 * byte for byte and every good open must still succeed. A second context
 * under another key, used in between, must not disturb the first (the
 * other context runs on the other backend, where there are two). */
static void ctx_reuse_alternating_on(enum coffer_aead_backend be, enum coffer_aead_backend other_be)
{
	static const uint8_t key2[32] = {0xee, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
					 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 0x99};
	uint8_t pt[600], a[600], b[600], back[600], ta[16], tb[16], tk2[16], nonce[12], nonce2[12];
	uint8_t aad[80], aad2[80];
	struct coffer_aead_ctx *ctx, *other;

	ctx = ctx_on(key1, be);
	other = ctx_on(key2, other_be);
	for (size_t i = 0; i < 400; i++) {
		/* storage's commit-log shape (150 bytes, 59 of AAD) and odd sizes */
		size_t n = i % 5 == 0 ? 150 : (i * 37) % sizeof(pt);
		size_t aad_len = i % 3 == 0 ? 0 : i % 3 == 1 ? 59 : (i * 11) % sizeof(aad);
		struct coffer_slice s_aad = coffer_slice_of(aad, aad_len);

		assert_int_equal(coffer_random_bytes(pt, sizeof(pt)), COFFER_OK);
		assert_int_equal(coffer_random_bytes(aad, sizeof(aad)), COFFER_OK);
		assert_int_equal(coffer_random_bytes(nonce, sizeof(nonce)), COFFER_OK);
		assert_int_equal(coffer_aead_seal(key1, nonce, s_aad, coffer_slice_of(pt, n), a, ta),
				 COFFER_OK);
		assert_int_equal(coffer_aead_ctx_seal(ctx, nonce, s_aad, coffer_slice_of(pt, n), b, tb),
				 COFFER_OK);
		if (memcmp(ta, tb, sizeof(ta)) != 0 || (n && memcmp(a, b, n) != 0))
			fail_msg("message %zu (%zu bytes, %zu of AAD): keyed-context seal differs "
				 "from the one-shot seal",
				 i, n, aad_len);
		/* the other key's context, in between, gives another tag */
		assert_int_equal(coffer_aead_ctx_seal(other, nonce, s_aad, coffer_slice_of(pt, n), b,
						      tk2),
				 COFFER_OK);
		assert_memory_not_equal(tk2, ta, sizeof(ta));

		bool fail_first = i % 2 == 0;
		for (int round = 0; round < 2; round++) {
			if (round == (fail_first ? 1 : 0)) {
				memset(back, 0xaa, sizeof(back));
				assert_int_equal(coffer_aead_ctx_open(ctx, nonce, s_aad,
								      coffer_slice_of(a, n), ta, back),
						 COFFER_OK);
				if (n && memcmp(back, pt, n) != 0)
					fail_msg("message %zu: keyed-context open differs", i);
				continue;
			}
			switch (i % 4) {
			case 0:
				ta[i % 16] ^= (uint8_t)(1u << (i % 8));
				expect_ctx_auth_failure(ctx, nonce, s_aad, a, n, ta, "a bad tag", i);
				ta[i % 16] ^= (uint8_t)(1u << (i % 8));
				break;
			case 1:
				memcpy(aad2, aad, sizeof(aad));
				aad2[0] ^= 0x01;
				expect_ctx_auth_failure(ctx, nonce, coffer_slice_of(aad2, aad_len ? aad_len : 1),
							a, n, ta, "a wrong AAD", i);
				break;
			case 2:
				memcpy(nonce2, nonce, sizeof(nonce));
				nonce2[11] ^= 0x80;
				expect_ctx_auth_failure(ctx, nonce2, s_aad, a, n, ta, "a wrong nonce", i);
				break;
			case 3:
				expect_ctx_auth_failure(other, nonce, s_aad, a, n, ta, "a wrong key", i);
				break;
			}
		}
	}
	coffer_aead_ctx_free(other);
	coffer_aead_ctx_free(ctx);
}

static void test_ctx_reuse_alternating(void **state)
{
	for (size_t b = 0; b < n_backends(); b++)
		ctx_reuse_alternating_on(backend_at(b), backend_at(n_backends() - 1 - b));
}
#endif

/* ---- Backend choice, key state, differential, limits, threads ----------- */

/* coffer_aead_ctx_new picks libsodium exactly when the CPU has AES-NI and
 * PCLMULQDQ (per /proc/cpuinfo); elsewhere forcing libsodium is refused. */
static void test_default_backend(void **state)
{
	struct coffer_aead_ctx *ctx = NULL;

	assert_int_equal(coffer_aead_ctx_new(key1, &ctx), COFFER_OK);
	if (cpu_has_aes_gcm()) {
		assert_int_equal(coffer_aead_ctx_backend(ctx), COFFER_AEAD_BACKEND_LIBSODIUM);
		assert_true(coffer_crypto_sodium_gcm(NULL));
	} else {
		print_message("no AES-NI/PCLMULQDQ: only the OpenSSL backend is tested\n");
		assert_int_equal(coffer_aead_ctx_backend(ctx), COFFER_AEAD_BACKEND_OPENSSL);
		struct coffer_aead_ctx *s = (struct coffer_aead_ctx *)&s;
		assert_int_equal(coffer_aead_ctx_new_backend(key1, COFFER_AEAD_BACKEND_LIBSODIUM, &s),
				 COFFER_E_CRYPTO);
		assert_null(s);
		assert_non_null(strstr(coffer_error_msg(), "cannot be used"));
	}
	coffer_aead_ctx_free(ctx);
	assert_string_equal(coffer_aead_backend_name(COFFER_AEAD_BACKEND_LIBSODIUM), "libsodium");
	assert_string_equal(coffer_aead_backend_name(COFFER_AEAD_BACKEND_OPENSSL), "openssl");
	/* an unknown backend is a caller error, and *out is cleared */
	ctx = (struct coffer_aead_ctx *)&ctx;
	assert_int_equal(coffer_aead_ctx_new_backend(key1, (enum coffer_aead_backend)7, &ctx),
			 COFFER_E_INVALID);
	assert_null(ctx);
}

#ifndef COFFER_BENCH_NULL_CIPHER
/* The libsodium state (key schedule and GHASH key) lies whole in secret
 * memory, 16-byte aligned, holds something, is wiped when the context is
 * freed (secret.c keeps freed slots mapped as zeros, its invariant 3), and
 * the context does not keep the caller's key: changing the key buffer after
 * ctx_new changes nothing. The OpenSSL backend has no such state. */
static void test_key_state_in_secret_memory(void **state)
{
	uint8_t key[32], pt[150], ct[150], ref[150], tag[16], reft[16];
	size_t len = 1;

	for (size_t b = 0; b < n_backends(); b++) {
		struct coffer_aead_ctx *ctx;
		assert_int_equal(coffer_random_bytes(key, sizeof(key)), COFFER_OK);
		assert_int_equal(coffer_random_bytes(pt, sizeof(pt)), COFFER_OK);
		assert_int_equal(coffer_aead_seal(key, nonce1, coffer_slice_str("a"),
						  coffer_slice_of(pt, sizeof(pt)), ref, reft),
				 COFFER_OK);
		ctx = ctx_on(key, backend_at(b));
		memset(key, 0, sizeof(key)); /* not retained: the context must not care */
		const uint8_t *st = coffer_aead_ctx_key_state(ctx, &len);
		if (backend_at(b) == COFFER_AEAD_BACKEND_OPENSSL) {
			assert_null(st);
			assert_int_equal(len, 0);
		} else {
			assert_non_null(st);
			assert_true(len >= 512);
			assert_true(coffer_secret_contains(st));
			assert_true(coffer_secret_contains(st + len - 1));
			assert_int_equal((uintptr_t)st % 16, 0);
			assert_false(all_zero(st, len));
		}
		assert_int_equal(coffer_aead_ctx_seal(ctx, nonce1, coffer_slice_str("a"),
						      coffer_slice_of(pt, sizeof(pt)), ct, tag),
				 COFFER_OK);
		assert_memory_equal(ct, ref, sizeof(ct));
		assert_memory_equal(tag, reft, sizeof(tag));
		coffer_aead_ctx_free(ctx);
		if (st) {
			assert_true(coffer_secret_contains(st)); /* still mapped ... */
			assert_true(all_zero(st, len));          /* ... and wiped */
		}
	}
}

/* Splitmix64: the differential test's lengths, reproducible from the seed
 * it prints. The bytes themselves come from coffer_random_bytes. */
static uint64_t mix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

#define DIFF_MAX 100003
static uint8_t zeros[DIFF_MAX];

/* Opens must refuse: COFFER_E_AUTH and the whole output zeroed. */
static void expect_refused(struct coffer_aead_ctx *ctx, const uint8_t *nonce,
			   struct coffer_slice aad, const uint8_t *ct, size_t n, const uint8_t *tag,
			   uint8_t *out, const char *what, size_t bit, size_t msg)
{
	memset(out, 0x55, n);
	if (coffer_aead_ctx_open(ctx, nonce, aad, coffer_slice_of(ct, n), tag, out) != COFFER_E_AUTH)
		fail_msg("message %zu (%zu bytes, %zu of AAD), %s: %s bit %zu flipped was accepted",
			 msg, n, aad.len, coffer_aead_backend_name(coffer_aead_ctx_backend(ctx)),
			 what, bit);
	if (n && memcmp(out, zeros, n) != 0)
		fail_msg("message %zu, %s: output left after %s bit %zu flipped", msg,
			 coffer_aead_backend_name(coffer_aead_ctx_backend(ctx)), what, bit);
}

/* Whether to flip bit `i` of an n-bit ciphertext: all of them up to 4096
 * bytes; beyond, the first and last 1024 bits and every 61st in between. */
static bool flip_this(size_t i, size_t nbits)
{
	return nbits <= 4096 * 8 || i < 1024 || i >= nbits - 1024 || i % 61 == 0;
}

/* Random keys, nonces, AAD of 0..80 bytes and messages of 0..1100 bytes (and
 * the edges 0, 1, 15, 16, 17, 150, 965-1025, 4096 and a few larger): the one-shot path
 * and both keyed backends must give the same ciphertext and tag, each must
 * open the others' output, and every single-bit flip of the ciphertext,
 * tag, AAD or nonce must be refused with the output zeroed, on each
 * backend. */
static void test_differential(void **state)
{
	/* 965-1025: around SODIUM_MAX (aead.c), data + AAD past which the
	 * libsodium backend hands messages to OpenSSL */
	static const size_t edges[] = {0, 1, 15, 16, 17, 150, 965, 966, 1024, 1025, 4096, 4097, 16384 + 5, 65536, DIFF_MAX};
	enum { N_RANDOM = 40 };
	static uint8_t pt[DIFF_MAX], ct0[DIFF_MAX], ct[2][DIFF_MAX], back[DIFF_MAX];
	uint8_t key[32], nonce[12], aad[80], tag0[16], tag[2][16];
	uint64_t seed;
	size_t nb = n_backends(), flips = 0;

	assert_int_equal(coffer_random_bytes(&seed, sizeof(seed)), COFFER_OK);
	print_message("differential test seed %llu\n", (unsigned long long)seed);
	for (size_t m = 0; m < COFFER_ARRAY_LEN(edges) + N_RANDOM; m++) {
		size_t n = m < COFFER_ARRAY_LEN(edges) ? edges[m] : mix(&seed) % 1101;
		size_t aad_len = m % 7 == 0 ? 0 : m % 7 == 1 ? 59 : mix(&seed) % 81;
		struct coffer_slice s_aad = coffer_slice_of(aad, aad_len);
		struct coffer_aead_ctx *ctx[2];

		assert_int_equal(coffer_random_bytes(key, sizeof(key)), COFFER_OK);
		assert_int_equal(coffer_random_bytes(nonce, sizeof(nonce)), COFFER_OK);
		assert_int_equal(coffer_random_bytes(aad, sizeof(aad)), COFFER_OK);
		assert_int_equal(coffer_random_bytes(pt, n ? n : 1), COFFER_OK);
		assert_int_equal(coffer_aead_seal(key, nonce, s_aad, coffer_slice_of(pt, n), ct0, tag0),
				 COFFER_OK);
		for (size_t b = 0; b < nb; b++) {
			ctx[b] = ctx_on(key, backend_at(b));
			assert_int_equal(coffer_aead_ctx_seal(ctx[b], nonce, s_aad, coffer_slice_of(pt, n),
							      ct[b], tag[b]),
					 COFFER_OK);
			if (memcmp(tag[b], tag0, 16) != 0 || (n && memcmp(ct[b], ct0, n) != 0))
				fail_msg("message %zu (%zu bytes, %zu of AAD): %s seal differs from "
					 "the one-shot seal",
					 m, n, aad_len, coffer_aead_backend_name(backend_at(b)));
		}
		/* every path opens every path's output */
		for (size_t b = 0; b < nb; b++)
			for (size_t from = 0; from <= nb; from++) {
				const uint8_t *c = from == nb ? ct0 : ct[from];
				const uint8_t *t = from == nb ? tag0 : tag[from];
				memset(back, 0xaa, n);
				assert_int_equal(coffer_aead_ctx_open(ctx[b], nonce, s_aad,
								      coffer_slice_of(c, n), t, back),
						 COFFER_OK);
				if (n && memcmp(back, pt, n) != 0)
					fail_msg("message %zu: %s open differs", m,
						 coffer_aead_backend_name(backend_at(b)));
			}
		for (size_t b = 0; b < nb; b++) {
			memset(back, 0xaa, n);
			assert_int_equal(coffer_aead_open(key, nonce, s_aad, coffer_slice_of(ct[b], n),
							  tag[b], back),
					 COFFER_OK);
			if (n && memcmp(back, pt, n) != 0)
				fail_msg("message %zu: one-shot open of %s's output differs", m,
					 coffer_aead_backend_name(backend_at(b)));
		}
		/* every single-bit flip is refused, on each backend */
		for (size_t b = 0; b < nb; b++) {
			for (size_t i = 0; i < n * 8; i++) {
				if (!flip_this(i, n * 8))
					continue;
				ct0[i / 8] ^= (uint8_t)(1u << (i % 8));
				expect_refused(ctx[b], nonce, s_aad, ct0, n, tag0, back, "ciphertext", i, m);
				ct0[i / 8] ^= (uint8_t)(1u << (i % 8));
				flips++;
			}
			for (size_t i = 0; i < 128; i++) {
				tag0[i / 8] ^= (uint8_t)(1u << (i % 8));
				expect_refused(ctx[b], nonce, s_aad, ct0, n, tag0, back, "tag", i, m);
				tag0[i / 8] ^= (uint8_t)(1u << (i % 8));
			}
			for (size_t i = 0; i < aad_len * 8; i++) {
				aad[i / 8] ^= (uint8_t)(1u << (i % 8));
				expect_refused(ctx[b], nonce, s_aad, ct0, n, tag0, back, "AAD", i, m);
				aad[i / 8] ^= (uint8_t)(1u << (i % 8));
			}
			for (size_t i = 0; i < 96; i++) {
				nonce[i / 8] ^= (uint8_t)(1u << (i % 8));
				expect_refused(ctx[b], nonce, s_aad, ct0, n, tag0, back, "nonce", i, m);
				nonce[i / 8] ^= (uint8_t)(1u << (i % 8));
			}
			flips += 128 + aad_len * 8 + 96;
			/* and the untouched message still opens */
			assert_int_equal(coffer_aead_ctx_open(ctx[b], nonce, s_aad,
							      coffer_slice_of(ct0, n), tag0, back),
					 COFFER_OK);
		}
		for (size_t b = 0; b < nb; b++)
			coffer_aead_ctx_free(ctx[b]);
	}
	print_message("differential test: %zu messages, %zu bit flips refused\n",
		      COFFER_ARRAY_LEN(edges) + (size_t)N_RANDOM, flips);
}

/* GCM's limit (2^36 - 32 bytes a message) is refused with COFFER_E_CRYPTO
 * before anything is read or written: the buffers here are tiny, so a
 * backend reached with the huge length would abort (libsodium) or touch
 * memory it does not own. The tag is zeroed; open leaves `out` as it was. */
static void test_length_limit(void **state)
{
	const size_t too_long = ((size_t)1 << 36) - 31;
	uint8_t buf[32], out[32], tag[16];

	memset(buf, 0x11, sizeof(buf));
	for (size_t b = 0; b < n_backends(); b++) {
		struct coffer_aead_ctx *ctx = ctx_on(key1, backend_at(b));
		memset(tag, 0x77, sizeof(tag));
		assert_int_equal(coffer_aead_ctx_seal(ctx, nonce1, coffer_slice_of(NULL, 0),
						      coffer_slice_of(buf, too_long), out, tag),
				 COFFER_E_CRYPTO);
		assert_string_equal(coffer_error_msg(),
				    "AES-256-GCM seal: 68719476705 bytes exceed GCM's limit of "
				    "68719476704 bytes per message");
		assert_true(all_zero(tag, sizeof(tag)));
		memset(out, 0x55, sizeof(out));
		assert_int_equal(coffer_aead_ctx_open(ctx, nonce1, coffer_slice_of(NULL, 0),
						      coffer_slice_of(buf, too_long), tag, out),
				 COFFER_E_CRYPTO);
		assert_non_null(strstr(coffer_error_msg(), "AES-256-GCM open: 68719476705 bytes exceed"));
		for (size_t i = 0; i < sizeof(out); i++)
			assert_int_equal(out[i], 0x55);
		/* AAD: 2^61 bytes is one past GCM's 2^64 - 1 bits */
		assert_int_equal(coffer_aead_ctx_seal(ctx, nonce1, coffer_slice_of(buf, (size_t)1 << 61),
						      coffer_slice_of(buf, 1), out, tag),
				 COFFER_E_CRYPTO);
		assert_non_null(strstr(coffer_error_msg(), "bytes of AAD exceed GCM's limit"));
		/* and the context still works */
		assert_int_equal(coffer_aead_ctx_seal(ctx, nonce1, coffer_slice_of(NULL, 0),
						      coffer_slice_of(buf, sizeof(buf)), out, tag),
				 COFFER_OK);
		assert_int_equal(coffer_aead_ctx_open(ctx, nonce1, coffer_slice_of(NULL, 0),
						      coffer_slice_of(out, sizeof(out)), tag, out),
				 COFFER_OK);
		assert_memory_equal(out, buf, sizeof(buf));
		coffer_aead_ctx_free(ctx);
	}
}

/* One context shared by THREADS threads, each sealing and opening ITERS
 * messages of its own (sizes 0..300, AAD 0..80) and checking every result
 * against the one-shot path, with a failing open every 16th message. On the
 * OpenSSL backend this needs the context's mutex (the provider context holds
 * one message's state at a time); on libsodium the state is read-only. */
enum { THREADS = 4, ITERS = 2000 };

struct shared_run {
	struct coffer_aead_ctx *ctx;
	const uint8_t *key;
	unsigned id;
	size_t bad; /* results that differ: checked by the main thread */
	char first[160];
};

static void shared_bad(struct shared_run *r, const char *what, unsigned i)
{
	if (r->bad++ == 0)
		snprintf(r->first, sizeof(r->first), "thread %u message %u: %s (%s)", r->id, i, what,
			 coffer_error_msg());
}

static void *shared_worker(void *arg)
{
	struct shared_run *r = arg;
	uint8_t pt[300], ct[300], ref[300], back[300], aad[80], nonce[12], tag[16], reft[16];

	for (unsigned i = 0; i < ITERS; i++) {
		size_t n = (i * 37 + r->id * 11) % sizeof(pt), aad_len = (i * 13 + r->id) % 81;
		struct coffer_slice s_aad = coffer_slice_of(aad, aad_len);
		memset(pt, (int)(i ^ r->id), n);
		pt[0] = (uint8_t)r->id;
		memset(aad, (int)i, sizeof(aad));
		memset(nonce, 0, sizeof(nonce));
		nonce[0] = (uint8_t)r->id;
		memcpy(nonce + 4, &i, sizeof(i));
		if (coffer_aead_seal(r->key, nonce, s_aad, coffer_slice_of(pt, n), ref, reft) != COFFER_OK) {
			shared_bad(r, "one-shot seal failed", i);
			continue;
		}
		if (coffer_aead_ctx_seal(r->ctx, nonce, s_aad, coffer_slice_of(pt, n), ct, tag) != COFFER_OK ||
		    memcmp(tag, reft, 16) != 0 || (n && memcmp(ct, ref, n) != 0)) {
			shared_bad(r, "shared seal differs from the one-shot seal", i);
			continue;
		}
		if (i % 16 == 0) {
			tag[i % 16] ^= 0x01;
			memset(back, 0x55, sizeof(back));
			if (coffer_aead_ctx_open(r->ctx, nonce, s_aad, coffer_slice_of(ct, n), tag, back) !=
				    COFFER_E_AUTH ||
			    (n && memcmp(back, zeros, n) != 0))
				shared_bad(r, "shared open accepted a bad tag or left output", i);
			tag[i % 16] ^= 0x01;
		}
		memset(back, 0xaa, sizeof(back));
		if (coffer_aead_ctx_open(r->ctx, nonce, s_aad, coffer_slice_of(ct, n), tag, back) !=
			    COFFER_OK ||
		    (n && memcmp(back, pt, n) != 0))
			shared_bad(r, "shared open failed or differs", i);
	}
	return NULL;
}

static void test_shared_between_threads(void **state)
{
	uint8_t key[32];

	for (size_t b = 0; b < n_backends(); b++) {
		struct shared_run runs[THREADS];
		pthread_t th[THREADS];
		assert_int_equal(coffer_random_bytes(key, sizeof(key)), COFFER_OK);
		struct coffer_aead_ctx *ctx = ctx_on(key, backend_at(b));
		for (unsigned t = 0; t < THREADS; t++) {
			runs[t] = (struct shared_run){.ctx = ctx, .key = key, .id = t};
			assert_int_equal(pthread_create(&th[t], NULL, shared_worker, &runs[t]), 0);
		}
		for (unsigned t = 0; t < THREADS; t++) {
			assert_int_equal(pthread_join(th[t], NULL), 0);
			if (runs[t].bad)
				fail_msg("%s backend, shared by %d threads: %zu bad results; first: %s",
					 coffer_aead_backend_name(backend_at(b)), THREADS, runs[t].bad,
					 runs[t].first);
		}
		coffer_aead_ctx_free(ctx);
	}
}
#endif

/* Seals (or opens) buf in place, through `ctx`, or the one-shot path when
 * ctx is NULL. */
static coffer_rc in_place(struct coffer_aead_ctx *ctx, bool seal, uint8_t *buf, size_t n,
			  uint8_t tag[16])
{
	struct coffer_slice aad = coffer_slice_str("aad"), data = coffer_slice_of(buf, n);

	if (seal)
		return ctx ? coffer_aead_ctx_seal(ctx, nonce1, aad, data, buf, tag)
			   : coffer_aead_seal(key1, nonce1, aad, data, buf, tag);
	return ctx ? coffer_aead_ctx_open(ctx, nonce1, aad, data, tag, buf)
		   : coffer_aead_open(key1, nonce1, aad, data, tag, buf);
}

/* out == in works on every path (the one-shot, then each keyed backend), and
 * a failed in-place open zeroes the buffer. */
static void test_in_place(void **state)
{
	uint8_t buf[1000], orig[1000], ref[1000], tag[16], tag2[16];

	for (size_t i = 0; i < sizeof buf; i++)
		orig[i] = (uint8_t)(i ^ 0x3c);
	assert_int_equal(coffer_aead_seal(key1, nonce1, coffer_slice_str("aad"),
					  coffer_slice_of(orig, sizeof orig), ref, tag2),
			 COFFER_OK);
	for (size_t p = 0; p <= n_backends(); p++) {
		struct coffer_aead_ctx *ctx = p < n_backends() ? ctx_on(key1, backend_at(p)) : NULL;
		memcpy(buf, orig, sizeof buf);
		assert_int_equal(in_place(ctx, true, buf, sizeof buf, tag), COFFER_OK);
#ifdef COFFER_BENCH_NULL_CIPHER
		if (!ctx) /* the keyed context only copies in this build */
#endif
		{
			assert_memory_equal(buf, ref, sizeof buf);
			assert_memory_equal(tag, tag2, sizeof tag);
		}
		assert_int_equal(in_place(ctx, false, buf, sizeof buf, tag), COFFER_OK);
		assert_memory_equal(buf, orig, sizeof buf);
		assert_int_equal(in_place(ctx, true, buf, sizeof buf, tag), COFFER_OK);
		tag[15] ^= 0x80;
		assert_int_equal(in_place(ctx, false, buf, sizeof buf, tag), COFFER_E_AUTH);
		assert_true(all_zero(buf, sizeof buf));
		coffer_aead_ctx_free(ctx);
	}
}

static void test_ctx_free_null(void **state)
{
	coffer_aead_ctx_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_published_vectors),
		cmocka_unit_test(test_wycheproof),
		cmocka_unit_test(test_wycheproof_modified_tag_origin),
		cmocka_unit_test(test_wycheproof_mutated),
		cmocka_unit_test(test_wrong_aad_zeroes_output),
		cmocka_unit_test(test_tag_flip_every_bit),
		cmocka_unit_test(test_error_message_names_no_key),
#ifndef COFFER_BENCH_NULL_CIPHER
		cmocka_unit_test(test_ctx_equals_one_shot),
		cmocka_unit_test(test_ctx_reuse_alternating),
		cmocka_unit_test(test_key_state_in_secret_memory),
		cmocka_unit_test(test_differential),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_shared_between_threads),
#endif
		cmocka_unit_test(test_default_backend),
		cmocka_unit_test(test_in_place),
		cmocka_unit_test(test_ctx_free_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
