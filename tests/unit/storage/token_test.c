/* token_test.c - Murmur3 tokens against the vectors the DataStax drivers test
 * Cassandra compatibility with, composite partition keys, and the clustering
 * comparators of each type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "storage/storage.h"

static int64_t tok(const void *p, size_t n)
{
	return coffer_token(coffer_slice_of(p, n));
}

static void test_cassandra_vectors(void **state)
{
	(void)state;
	uint8_t b[50];
	assert_true(tok("123", 3) == INT64_C(-7468325962851647638));
	for (int i = 0; i < 10; i++)
		memcpy(b + i * 5, "\x00\xff\x10\xfa\x99", 5);
	assert_true(tok(b, 50) == INT64_C(5837342703291459765));
	memset(b, 0xfe, 8);
	assert_true(tok(b, 8) == INT64_C(-8927430733708461935));
	memset(b, 0x10, 8);
	assert_true(tok(b, 8) == INT64_C(1446172840243228796));
	assert_true(tok("9223372036854775807", 19) == INT64_C(7162290910810015547));
	uint8_t seq[16];
	for (int i = 0; i < 16; i++)
		seq[i] = (uint8_t)(i + 1);
	assert_true(tok(seq, 16) == INT64_C(-5563837382979743776));
	assert_true(tok("", 0) == 0);
}

static void test_composite_key(void **state)
{
	(void)state;
	struct coffer_slice c[2] = {coffer_slice_str("ab"), coffer_slice_str("c")};
	struct coffer_buf b = {0};
	coffer_partition_key_encode(c, 2, &b);
	assert_int_equal(b.len, 2 + 2 + 1 + 2 + 1 + 1);
	assert_memory_equal(b.ptr, "\x00\x02" "ab" "\x00" "\x00\x01" "c" "\x00", 9);
	coffer_buf_free(&b);
	coffer_partition_key_encode(c, 1, &b);
	assert_int_equal(b.len, 2);
	coffer_buf_free(&b);
}

#define S(x) coffer_slice_of((x), sizeof(x) - 1)

static void test_comparators(void **state)
{
	(void)state;
	/* signed ints */
	assert_true(coffer_type_compare(COFFER_TYPE_INT, S("\xff\xff\xff\xff"), S("\x00\x00\x00\x01")) < 0);
	assert_true(coffer_type_compare(COFFER_TYPE_BIGINT, S("\x80\0\0\0\0\0\0\0"), S("\x7f\0\0\0\0\0\0\0")) < 0);
	assert_true(coffer_type_compare(COFFER_TYPE_TINYINT, S("\x05"), S("\x05")) == 0);
	assert_true(coffer_type_compare(COFFER_TYPE_SMALLINT, S("\xff\xfe"), S("\xff\xff")) < 0);
	assert_true(coffer_type_compare(COFFER_TYPE_TIMESTAMP, S("\xff\0\0\0\0\0\0\0"), S("\0\0\0\0\0\0\0\0")) < 0);
	/* empty first */
	assert_true(coffer_type_compare(COFFER_TYPE_INT, coffer_slice_of("", 0), S("\x80\0\0\0")) < 0);
	/* text bytewise */
	assert_true(coffer_type_compare(COFFER_TYPE_TEXT, S("abc"), S("abd")) < 0);
	assert_true(coffer_type_compare(COFFER_TYPE_TEXT, S("ab"), S("abc")) < 0);
	/* doubles: -1.0 < -0.5 < 0.5 < 2.0 */
	const char *d[] = {"\xbf\xf0\0\0\0\0\0\0", "\xbf\xe0\0\0\0\0\0\0", "\x3f\xe0\0\0\0\0\0\0",
			   "\x40\0\0\0\0\0\0\0"};
	for (int i = 0; i < 3; i++)
		assert_true(coffer_type_compare(COFFER_TYPE_DOUBLE, coffer_slice_of(d[i], 8),
						coffer_slice_of(d[i + 1], 8)) < 0);
	/* float: -2 < 1 */
	assert_true(coffer_type_compare(COFFER_TYPE_FLOAT, S("\xc0\0\0\0"), S("\x3f\x80\0\0")) < 0);
	/* varint: -300 < -1 < 0 < 127 < 128 < 300 */
	struct coffer_slice v[] = {S("\xfe\xd4"), S("\xff"), S("\x00"), S("\x7f"), S("\x00\x80"), S("\x01\x2c")};
	for (int i = 0; i < 5; i++)
		assert_true(coffer_type_compare(COFFER_TYPE_VARINT, v[i], v[i + 1]) < 0);
	/* boolean */
	assert_true(coffer_type_compare(COFFER_TYPE_BOOLEAN, S("\x00"), S("\x01")) < 0);
	/* timeuuid by time: time_low 2 (later) vs time_high larger (much later) */
	uint8_t a[16] = {0, 0, 0, 2, 0, 0, 0x10, 0, 0x80, 0, 0, 0, 0, 0, 0, 0};
	uint8_t b[16] = {0, 0, 0, 1, 0, 0, 0x10, 1, 0x80, 0, 0, 0, 0, 0, 0, 0};
	assert_true(coffer_type_compare(COFFER_TYPE_TIMEUUID, coffer_slice_of(a, 16), coffer_slice_of(b, 16)) < 0);
	assert_true(coffer_type_compare(COFFER_TYPE_BLOB, coffer_slice_of(a, 16), coffer_slice_of(b, 16)) > 0);
	assert_true(coffer_type_compare(COFFER_TYPE_UUID, coffer_slice_of(a, 16), coffer_slice_of(b, 16)) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cassandra_vectors),
		cmocka_unit_test(test_composite_key),
		cmocka_unit_test(test_comparators),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
