/*
 * bytes_test.c - slices, buffers (plain and secure), readers at every width,
 * varints (canonical form, overlong, overflow, 11 bytes), hex, and base64
 * against the RFC 4648 section 10 test vectors plus strictness cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/bytes.h"

static struct coffer_reader reader_of(const void *p, size_t n)
{
	struct coffer_reader r;

	coffer_reader_init(&r, coffer_slice_of(p, n), "test blob");
	return r;
}

static void test_slices(void **state)
{
	struct coffer_slice a = coffer_slice_str("abc");
	struct coffer_slice e = coffer_slice_str("");

	assert_int_equal(a.len, 3);
	assert_true(coffer_slice_eq(a, coffer_slice_of("abc", 3)));
	assert_false(coffer_slice_eq(a, coffer_slice_of("abd", 3)));
	assert_false(coffer_slice_eq(a, coffer_slice_of("ab", 2)));
	assert_true(coffer_slice_eq(e, coffer_slice_of(NULL, 0)));
}

static void test_buf_basic(void **state)
{
	struct coffer_buf b = {0};
	static const uint8_t want[] = {0x7f, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef,
				       0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
	size_t i;

	coffer_buf_put_u8(&b, 0x7f);
	coffer_buf_put_u16(&b, 0x1234);
	coffer_buf_put_u32(&b, 0xdeadbeef);
	coffer_buf_put_u64(&b, 0x0102030405060708ULL);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.ptr, want, sizeof(want));

	coffer_buf_patch_u32(&b, 3, 0xcafebabe);
	assert_int_equal(coffer_load_u32(b.ptr + 3), 0xcafebabe);

	coffer_buf_reset(&b);
	assert_int_equal(b.len, 0);
	coffer_buf_printf(&b, "%s-%d", "x", 42);
	assert_string_equal(coffer_buf_cstr(&b), "x-42");
	assert_int_equal(b.len, 4);
	coffer_buf_printf(&b, "!");
	assert_string_equal(coffer_buf_cstr(&b), "x-42!");

	/* Growth through many doublings keeps content. */
	coffer_buf_reset(&b);
	for (i = 0; i < 10000; i++)
		coffer_buf_put_u8(&b, (uint8_t)i);
	for (i = 0; i < 10000; i++)
		assert_int_equal(b.ptr[i], (uint8_t)i);
	coffer_buf_free(&b);
	assert_null(b.ptr);
	assert_int_equal(b.len, 0);

	/* Empty buffer yields an empty C string, and put of nothing is harmless. */
	coffer_buf_put(&b, NULL, 0);
	assert_string_equal(coffer_buf_cstr(&b), "");
	assert_non_null(coffer_buf_extend(&b, 0));
	coffer_buf_free(&b);
}

/* A fake secure allocator that records its calls and checks wiping. */
static int sec_allocs, sec_frees;

static void *fake_sec_alloc(size_t n)
{
	sec_allocs++;
	return calloc(1, n);
}

static void fake_sec_free(void *p, size_t n)
{
	sec_frees++;
	/* Wiping exactly n bytes lets ASan catch a wrong capacity passed in. */
	coffer_wipe(p, n);
	free(p);
}

static void test_buf_secure(void **state)
{
	static const struct coffer_secure_alloc hooks = {fake_sec_alloc, fake_sec_free};
	struct coffer_buf b;
	size_t i;

	sec_allocs = sec_frees = 0;
	coffer_buf_set_secure_alloc(&hooks);
	coffer_buf_init_secure(&b);
	assert_true(b.secure);
	coffer_buf_put(&b, "secret", 6);
	assert_int_equal(sec_allocs, 1);
	/* Growth: new secure block, copy, old one released through the hook. */
	for (i = 0; i < 1000; i++)
		coffer_buf_put_u8(&b, 0xaa);
	assert_true(sec_allocs > 1);
	assert_int_equal(sec_frees, sec_allocs - 1);
	assert_memory_equal(b.ptr, "secret", 6);
	assert_int_equal(b.ptr[6 + 999], 0xaa);

	/* Reset wipes the bytes in place. */
	coffer_buf_reset(&b);
	for (i = 0; i < 1006; i++)
		assert_int_equal(b.ptr[i], 0);

	coffer_buf_put(&b, "k", 1);
	coffer_buf_free(&b);
	assert_int_equal(sec_frees, sec_allocs);
	assert_true(b.secure);
	assert_null(b.ptr);

	/* Back to the built-in heap hooks. */
	coffer_buf_set_secure_alloc(NULL);
	coffer_buf_init_secure(&b);
	coffer_buf_put(&b, "abc", 3);
	assert_string_equal(coffer_buf_cstr(&b), "abc");
	coffer_buf_free(&b);
	assert_int_equal(sec_allocs, sec_frees);
}

static void test_reader_widths(void **state)
{
	static const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				     0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
	struct coffer_reader r = reader_of(in, sizeof(in));
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	assert_int_equal(coffer_reader_u8(&r, &u8), COFFER_OK);
	assert_int_equal(u8, 0x01);
	assert_int_equal(coffer_reader_u16(&r, &u16), COFFER_OK);
	assert_int_equal(u16, 0x0203);
	assert_int_equal(coffer_reader_u32(&r, &u32), COFFER_OK);
	assert_int_equal(u32, 0x04050607);
	assert_int_equal(coffer_reader_u64(&r, &u64), COFFER_OK);
	assert_true(u64 == 0x08090a0b0c0d0e0fULL);
	assert_true(coffer_reader_done(&r));
	assert_int_equal(coffer_reader_end(&r), COFFER_OK);
}

static void test_reader_truncated(void **state)
{
	static const uint8_t in[16] = {0};
	struct coffer_reader r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	uint8_t dst[8];
	struct coffer_slice s;

	r = reader_of(in, 0);
	assert_int_equal(coffer_reader_u8(&r, &u8), COFFER_E_CORRUPT);
	assert_string_equal(coffer_error_msg(),
			    "test blob: truncated reading u8 at offset 0 (1 bytes needed, 0 left)");

	r = reader_of(in, 1);
	assert_int_equal(coffer_reader_u16(&r, &u16), COFFER_E_CORRUPT);
	assert_string_equal(coffer_error_msg(),
			    "test blob: truncated reading u16 at offset 0 (2 bytes needed, 1 left)");
	assert_int_equal(r.off, 0);

	r = reader_of(in, 14);
	assert_int_equal(coffer_reader_skip(&r, 12), COFFER_OK);
	assert_int_equal(coffer_reader_u32(&r, &u32), COFFER_E_CORRUPT);
	assert_string_equal(coffer_error_msg(),
			    "test blob: truncated reading u32 at offset 12 (4 bytes needed, 2 left)");
	assert_int_equal(r.off, 12);
	assert_int_equal(coffer_error_code(), COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_where(), "bytes.c:"));

	r = reader_of(in, 7);
	assert_int_equal(coffer_reader_u64(&r, &u64), COFFER_E_CORRUPT);
	assert_string_equal(coffer_error_msg(),
			    "test blob: truncated reading u64 at offset 0 (8 bytes needed, 7 left)");
	assert_int_equal(r.off, 0);

	r = reader_of(in, 5);
	assert_int_equal(coffer_reader_copy(&r, dst, 6), COFFER_E_CORRUPT);
	assert_int_equal(coffer_reader_bytes(&r, 6, &s), COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_msg(), "6 bytes needed, 5 left"));
	assert_int_equal(coffer_reader_skip(&r, 6), COFFER_E_CORRUPT);
	assert_int_equal(r.off, 0);
	assert_int_equal(coffer_reader_bytes(&r, 5, &s), COFFER_OK);
	assert_ptr_equal(s.ptr, in);
	assert_int_equal(s.len, 5);

	/* Reader end with bytes left over. */
	r = reader_of(in, 3);
	assert_int_equal(coffer_reader_u8(&r, &u8), COFFER_OK);
	assert_int_equal(coffer_reader_end(&r), COFFER_E_CORRUPT);
	assert_string_equal(coffer_error_msg(), "test blob: 2 trailing bytes at offset 1");

	/* NULL `what` defaults to "input". */
	coffer_reader_init(&r, coffer_slice_of(in, 0), NULL);
	assert_int_equal(coffer_reader_u8(&r, &u8), COFFER_E_CORRUPT);
	assert_int_equal(strncmp(coffer_error_msg(), "input: ", 7), 0);
}

static void varint_roundtrip(uint64_t v, size_t want_len)
{
	struct coffer_buf b = {0};
	struct coffer_reader r;
	uint64_t got = 0;

	coffer_buf_put_varint(&b, v);
	assert_int_equal(b.len, want_len);
	r = reader_of(b.ptr, b.len);
	assert_int_equal(coffer_reader_varint(&r, &got), COFFER_OK);
	assert_true(got == v);
	assert_true(coffer_reader_done(&r));
	coffer_buf_free(&b);
}

static void test_varint_good(void **state)
{
	static const uint8_t v300[] = {0xac, 0x02};
	static const uint8_t vmax[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	struct coffer_reader r;
	uint64_t v;

	varint_roundtrip(0, 1);
	varint_roundtrip(1, 1);
	varint_roundtrip(127, 1);
	varint_roundtrip(128, 2);
	varint_roundtrip(300, 2);
	varint_roundtrip(16383, 2);
	varint_roundtrip(16384, 3);
	varint_roundtrip(UINT32_MAX, 5);
	varint_roundtrip(1ULL << 63, 10);
	varint_roundtrip(UINT64_MAX, 10);

	r = reader_of(v300, sizeof(v300));
	assert_int_equal(coffer_reader_varint(&r, &v), COFFER_OK);
	assert_int_equal(v, 300);
	r = reader_of(vmax, sizeof(vmax));
	assert_int_equal(coffer_reader_varint(&r, &v), COFFER_OK);
	assert_true(v == UINT64_MAX);
}

static void test_varint_bad(void **state)
{
	static const uint8_t overlong2[] = {0x80, 0x00};
	static const uint8_t overlong3[] = {0x81, 0x80, 0x00};
	static const uint8_t overflow10[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
	static const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x00};
	static const uint8_t eleven_ff[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	static const uint8_t truncated[] = {0x01, 0x80, 0x80};
	struct coffer_reader r;
	uint64_t v = 99;
	uint8_t u8;

	r = reader_of(overlong2, sizeof(overlong2));
	assert_int_equal(coffer_reader_varint(&r, &v), COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_msg(), "overlong varint at offset 0"));
	assert_int_equal(r.off, 0);
	assert_int_equal(v, 99);

	r = reader_of(overlong3, sizeof(overlong3));
	assert_int_equal(coffer_reader_varint(&r, &v), COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_msg(), "overlong"));

	r = reader_of(overflow10, sizeof(overflow10));
	assert_int_equal(coffer_reader_varint(&r, &v), COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_msg(), "overflows 64 bits"));

	r = reader_of(eleven, sizeof(eleven));
	assert_int_equal(coffer_reader_varint(&r, &v), COFFER_E_CORRUPT);
	assert_int_equal(r.off, 0);
	r = reader_of(eleven_ff, sizeof(eleven_ff));
	assert_int_equal(coffer_reader_varint(&r, &v), COFFER_E_CORRUPT);
	assert_int_equal(r.off, 0);

	r = reader_of(truncated, sizeof(truncated));
	assert_int_equal(coffer_reader_u8(&r, &u8), COFFER_OK);
	assert_int_equal(coffer_reader_varint(&r, &v), COFFER_E_CORRUPT);
	assert_string_equal(coffer_error_msg(),
			    "test blob: truncated reading varint at offset 1 (2 bytes left)");
	assert_int_equal(r.off, 1);

	r = reader_of(truncated, 0);
	assert_int_equal(coffer_reader_varint(&r, &v), COFFER_E_CORRUPT);
	assert_int_equal(v, 99);
}

static void test_lenbytes_and_str(void **state)
{
	struct coffer_buf b = {0};
	struct coffer_reader r;
	struct coffer_slice s;
	char *str = NULL;

	coffer_buf_put_lenbytes(&b, "hello", 5);
	coffer_buf_put_str(&b, "world");
	coffer_buf_put_str(&b, "");
	r = reader_of(b.ptr, b.len);
	assert_int_equal(coffer_reader_lenbytes(&r, 5, &s), COFFER_OK);
	assert_true(coffer_slice_eq(s, coffer_slice_str("hello")));
	assert_int_equal(coffer_reader_str(&r, 100, &str), COFFER_OK);
	assert_string_equal(str, "world");
	free(str);
	assert_int_equal(coffer_reader_str(&r, 0, &str), COFFER_OK);
	assert_string_equal(str, "");
	free(str);
	assert_int_equal(coffer_reader_end(&r), COFFER_OK);

	/* Over the limit: error, position unchanged. */
	r = reader_of(b.ptr, b.len);
	assert_int_equal(coffer_reader_lenbytes(&r, 4, &s), COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_msg(), "length 5 at offset 0 exceeds the limit 4"));
	assert_int_equal(r.off, 0);

	/* Declared length longer than the input. */
	coffer_buf_reset(&b);
	coffer_buf_put_varint(&b, 10);
	coffer_buf_put(&b, "abc", 3);
	r = reader_of(b.ptr, b.len);
	assert_int_equal(coffer_reader_lenbytes(&r, 100, &s), COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_msg(), "10 bytes needed, 3 left"));
	assert_int_equal(r.off, 0);
	assert_int_equal(coffer_reader_str(&r, 100, &str), COFFER_E_CORRUPT);
	assert_int_equal(r.off, 0);

	/* Embedded NUL. */
	coffer_buf_reset(&b);
	coffer_buf_put_lenbytes(&b, "a\0b", 3);
	r = reader_of(b.ptr, b.len);
	str = NULL;
	assert_int_equal(coffer_reader_str(&r, 100, &str), COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_msg(), "NUL"));
	assert_null(str);
	assert_int_equal(r.off, 0);
	coffer_buf_free(&b);
}

static void test_hex(void **state)
{
	static const uint8_t raw[] = {0x00, 0x01, 0xab, 0xff, 0x7e};
	struct coffer_buf b = {0};
	char *h = coffer_hex_encode(raw, sizeof(raw));

	assert_string_equal(h, "0001abff7e");
	assert_int_equal(coffer_hex_decode(h, &b), COFFER_OK);
	assert_memory_equal(b.ptr, raw, sizeof(raw));
	free(h);

	coffer_buf_reset(&b);
	assert_int_equal(coffer_hex_decode("ABcdEF", &b), COFFER_OK);
	assert_int_equal(b.len, 3);
	assert_int_equal(b.ptr[0], 0xab);
	assert_int_equal(coffer_hex_decode("", &b), COFFER_OK);
	assert_int_equal(b.len, 3);

	h = coffer_hex_encode(NULL, 0);
	assert_string_equal(h, "");
	free(h);

	/* Negative: odd length, bad characters; nothing is appended. */
	assert_int_equal(coffer_hex_decode("abc", &b), COFFER_E_SYNTAX);
	assert_non_null(strstr(coffer_error_msg(), "odd length 3"));
	assert_int_equal(coffer_hex_decode("zz", &b), COFFER_E_SYNTAX);
	assert_int_equal(coffer_hex_decode("00g0", &b), COFFER_E_SYNTAX);
	assert_non_null(strstr(coffer_error_msg(), "invalid character at offset 2"));
	assert_int_equal(coffer_hex_decode("0 ", &b), COFFER_E_SYNTAX);
	assert_int_equal(coffer_hex_decode("0x00", &b), COFFER_E_SYNTAX);
	assert_int_equal(b.len, 3);
	coffer_buf_free(&b);
}

/* RFC 4648 section 10. */
static const struct {
	const char *raw;
	const char *b64;
} rfc4648[] = {
	{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
	{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

static void test_base64_vectors(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		struct coffer_buf b = {0};
		char *e = coffer_base64_encode(rfc4648[i].raw, strlen(rfc4648[i].raw));

		assert_string_equal(e, rfc4648[i].b64);
		free(e);
		assert_int_equal(coffer_base64_decode(rfc4648[i].b64, strlen(rfc4648[i].b64), &b),
				 COFFER_OK);
		assert_int_equal(b.len, strlen(rfc4648[i].raw));
		assert_string_equal(coffer_buf_cstr(&b), rfc4648[i].raw);
		coffer_buf_free(&b);
	}
}

static void test_base64_binary_roundtrip(void **state)
{
	uint8_t raw[256];
	size_t n, i;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(255 - i);
	for (n = 0; n <= sizeof(raw); n += 7) {
		struct coffer_buf b = {0};
		char *e = coffer_base64_encode(raw, n);

		assert_int_equal(strlen(e) % 4, 0);
		assert_int_equal(coffer_base64_decode(e, strlen(e), &b), COFFER_OK);
		assert_int_equal(b.len, n);
		if (n)
			assert_memory_equal(b.ptr, raw, n);
		free(e);
		coffer_buf_free(&b);
	}
	/* "+/" both appear: 0xfb 0xff -> "+/8=". */
	{
		static const uint8_t pm[] = {0xfb, 0xff};
		char *e = coffer_base64_encode(pm, 2);

		assert_string_equal(e, "+/8=");
		free(e);
	}
}

static void base64_bad(const char *s, size_t n, const char *msg_part)
{
	struct coffer_buf b = {0};

	coffer_buf_put(&b, "keep", 4);
	assert_int_equal(coffer_base64_decode(s, n, &b), COFFER_E_SYNTAX);
	if (msg_part)
		assert_non_null(strstr(coffer_error_msg(), msg_part));
	/* Nothing appended on failure. */
	assert_int_equal(b.len, 4);
	coffer_buf_free(&b);
}

static void test_base64_strict(void **state)
{
	base64_bad("Zg=", 3, "not a multiple of 4");
	base64_bad("Zg", 2, "not a multiple of 4");
	base64_bad("Zm9vY", 5, "not a multiple of 4");
	base64_bad("Zm9*", 4, "invalid character at offset 3");
	base64_bad("Zm9v\nYmFy", 9, NULL);
	base64_bad("Zm 9", 4, "invalid character");
	base64_bad("Zm-_", 4, "invalid character"); /* URL-safe alphabet is not accepted */
	base64_bad("Zm9\0", 4, "invalid character");
	/* Padding in the wrong place. */
	base64_bad("Zg==Zm9v", 8, "misplaced padding at offset 2");
	base64_bad("Z===", 4, "misplaced padding");
	base64_bad("====", 4, "misplaced padding");
	base64_bad("Zm=v", 4, "misplaced padding");
	base64_bad("=m9v", 4, "misplaced padding");
	/* Non-canonical trailing bits (RFC 4648 3.5). */
	base64_bad("Zh==", 4, "nonzero trailing bits");
	base64_bad("Zm9=", 4, "nonzero trailing bits");
	base64_bad("Zm8=Zm8=", 8, "misplaced padding");
	/* The same prefix with canonical bits is fine. */
	{
		struct coffer_buf b = {0};

		assert_int_equal(coffer_base64_decode("Zg==", 4, &b), COFFER_OK);
		assert_int_equal(coffer_base64_decode("Zm8=", 4, &b), COFFER_OK);
		assert_int_equal(b.len, 3);
		assert_memory_equal(b.ptr, "ffo", 3);
		coffer_buf_free(&b);
	}
}

static void test_base64_secure_out(void **state)
{
	struct coffer_buf b;

	coffer_buf_set_secure_alloc(NULL);
	coffer_buf_init_secure(&b);
	assert_int_equal(coffer_base64_decode("Zm9vYmFy", 8, &b), COFFER_OK);
	assert_int_equal(b.len, 6);
	assert_int_equal(coffer_base64_decode("Zm9vYmF!", 8, &b), COFFER_E_SYNTAX);
	assert_int_equal(b.len, 6);
	/* The partially decoded group was wiped. */
	assert_int_equal(b.ptr[6], 0);
	coffer_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slices),
		cmocka_unit_test(test_buf_basic),
		cmocka_unit_test(test_buf_secure),
		cmocka_unit_test(test_reader_widths),
		cmocka_unit_test(test_reader_truncated),
		cmocka_unit_test(test_varint_good),
		cmocka_unit_test(test_varint_bad),
		cmocka_unit_test(test_lenbytes_and_str),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_binary_roundtrip),
		cmocka_unit_test(test_base64_strict),
		cmocka_unit_test(test_base64_secure_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
