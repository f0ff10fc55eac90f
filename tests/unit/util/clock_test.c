/*
 * clock_test.c - the system clock, the manual clock (also under concurrent
 * advances), duration parsing (good and bad input) and ISO-8601 formatting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "util/clock.h"

static void test_system_clock(void **state)
{
	const struct coffer_clock *c = coffer_clock_system();
	int64_t now = coffer_clock_now_us(c);
	int64_t m1 = coffer_clock_mono_us(c);
	int64_t m2 = coffer_clock_mono_us(c);

	/* After 2020-01-01 and before 2200. */
	assert_true(now > INT64_C(1577836800) * COFFER_US_PER_SEC);
	assert_true(now < INT64_C(7258118400) * COFFER_US_PER_SEC);
	assert_true(m2 >= m1);
	assert_ptr_equal(coffer_clock_system(), c);
}

static void test_manual_clock(void **state)
{
	struct coffer_manual_clock m;
	const struct coffer_clock *c = &m.clock;
	int64_t mono0;

	coffer_manual_clock_init(&m, 1000);
	assert_int_equal(coffer_clock_now_us(c), 1000);
	mono0 = coffer_clock_mono_us(c);
	coffer_manual_clock_advance(&m, 7 * COFFER_US_PER_DAY);
	assert_int_equal(coffer_clock_now_us(c), 1000 + 7 * COFFER_US_PER_DAY);
	assert_int_equal(coffer_clock_mono_us(c), mono0 + 7 * COFFER_US_PER_DAY);
	/* Readings do not move by themselves. */
	assert_int_equal(coffer_clock_now_us(c), 1000 + 7 * COFFER_US_PER_DAY);
}

static void *advancer(void *arg)
{
	struct coffer_manual_clock *m = arg;
	int i;

	for (i = 0; i < 10000; i++)
		coffer_manual_clock_advance(m, 1);
	return NULL;
}

static void test_manual_clock_threads(void **state)
{
	struct coffer_manual_clock m;
	pthread_t t[4];
	int i;

	coffer_manual_clock_init(&m, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, advancer, &m), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(coffer_clock_now_us(&m.clock), 40000);
}

static void parse_ok(const char *s, int64_t want)
{
	int64_t got = -1;

	assert_int_equal(coffer_duration_parse(s, &got), COFFER_OK);
	assert_true(got == want);
}

static void parse_bad(const char *s, coffer_rc want)
{
	int64_t got = 12345;

	assert_int_equal(coffer_duration_parse(s, &got), want);
	assert_int_equal(got, 12345);
	assert_true(strlen(coffer_error_msg()) > 0);
}

static void test_duration_good(void **state)
{
	parse_ok("90", 90 * COFFER_US_PER_SEC);
	parse_ok("0", 0);
	parse_ok("5s", 5 * COFFER_US_PER_SEC);
	parse_ok("500ms", 500000);
	parse_ok("250us", 250);
	parse_ok("5m", 300000000);
	parse_ok("2h", 2 * 3600 * COFFER_US_PER_SEC);
	parse_ok("7d", 7 * COFFER_US_PER_DAY);
	parse_ok("007s", 7 * COFFER_US_PER_SEC);
	parse_ok("9223372036854775807us", INT64_MAX);
	parse_ok("106751991d", 106751991 * COFFER_US_PER_DAY);
}

static void test_duration_bad(void **state)
{
	parse_bad("", COFFER_E_SYNTAX);
	parse_bad("-5s", COFFER_E_SYNTAX);
	parse_bad("+5s", COFFER_E_SYNTAX);
	parse_bad(" 5s", COFFER_E_SYNTAX);
	parse_bad("5s ", COFFER_E_SYNTAX);
	parse_bad("s", COFFER_E_SYNTAX);
	parse_bad("5x", COFFER_E_SYNTAX);
	parse_bad("5 s", COFFER_E_SYNTAX);
	parse_bad("1.5s", COFFER_E_SYNTAX);
	parse_bad("5sec", COFFER_E_SYNTAX);
	parse_bad("5S", COFFER_E_SYNTAX);
	parse_bad("5mss", COFFER_E_SYNTAX);
	parse_bad("abc", COFFER_E_SYNTAX);
	assert_non_null(strstr(coffer_error_msg(), "\"abc\""));
	parse_bad("9223372036854775808us", COFFER_E_LIMIT);
	parse_bad("99999999999999999999999", COFFER_E_LIMIT);
	parse_bad("9223372036855s", COFFER_E_LIMIT);
	parse_bad("106751992d", COFFER_E_LIMIT);
	assert_non_null(strstr(coffer_error_msg(), "too large"));
}

static void test_iso8601(void **state)
{
	char out[32];

	coffer_time_iso8601(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00.000Z");
	/* 2026-11-28T01:02:03.456789Z */
	coffer_time_iso8601(INT64_C(1795827723) * COFFER_US_PER_SEC + 456789, out);
	assert_string_equal(out, "2026-11-28T01:02:03.456Z");
	coffer_time_iso8601(-1, out);
	assert_string_equal(out, "1969-12-31T23:59:59.999Z");
	coffer_time_iso8601(INT64_MAX, out);
	assert_string_equal(out, "(time out of range)");
	coffer_time_iso8601(INT64_MIN, out);
	assert_true(strlen(out) < 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_system_clock),
		cmocka_unit_test(test_manual_clock),
		cmocka_unit_test(test_manual_clock_threads),
		cmocka_unit_test(test_duration_good),
		cmocka_unit_test(test_duration_bad),
		cmocka_unit_test(test_iso8601),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
