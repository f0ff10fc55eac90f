/*
 * log_test.c - log lines through a pipe: exact format with a manual clock,
 * level filtering, one line per event (embedded newlines flattened), long
 * lines truncated, the null log, and level-name parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

struct pipe_log {
	int fds[2];
	struct coffer_manual_clock clock;
	struct coffer_log log;
};

static int setup(void **state)
{
	static struct pipe_log p;

	if (pipe2(p.fds, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	/* 2026-11-28T01:02:03.456Z */
	coffer_manual_clock_init(&p.clock, INT64_C(1795827723) * COFFER_US_PER_SEC + 456789);
	coffer_log_init(&p.log, p.fds[1], COFFER_LOG_INFO, &p.clock.clock);
	*state = &p;
	return 0;
}

static int teardown(void **state)
{
	struct pipe_log *p = *state;

	close(p->fds[0]);
	close(p->fds[1]);
	return 0;
}

/* Everything written so far ("" if nothing). */
static const char *drain(struct pipe_log *p)
{
	static char buf[65536];
	ssize_t n = read(p->fds[0], buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void test_format(void **state)
{
	struct pipe_log *p = *state;

	coffer_log_info(&p->log, "kms", "key %s disabled", "1234");
	assert_string_equal(drain(p), "2026-11-28T01:02:03.456Z INFO  kms: key 1234 disabled\n");
	coffer_log_warn(&p->log, "storage", "slow fsync %dms", 250);
	assert_string_equal(drain(p), "2026-11-28T01:02:03.456Z WARN  storage: slow fsync 250ms\n");
	coffer_manual_clock_advance(&p->clock, 1000);
	coffer_log_error(&p->log, "server", "boom");
	assert_string_equal(drain(p), "2026-11-28T01:02:03.457Z ERROR server: boom\n");
}

static void test_filtering(void **state)
{
	struct pipe_log *p = *state;

	coffer_log_debug(&p->log, "x", "hidden");
	assert_string_equal(drain(p), "");
	p->log.level = COFFER_LOG_DEBUG;
	coffer_log_debug(&p->log, "x", "shown");
	assert_string_equal(drain(p), "2026-11-28T01:02:03.456Z DEBUG x: shown\n");
	p->log.level = COFFER_LOG_ERROR;
	coffer_log_info(&p->log, "x", "hidden");
	coffer_log_warn(&p->log, "x", "hidden");
	assert_string_equal(drain(p), "");
	coffer_log_error(&p->log, "x", "shown");
	assert_non_null(strstr(drain(p), "ERROR x: shown\n"));
	p->log.level = COFFER_LOG_OFF;
	coffer_log_error(&p->log, "x", "hidden");
	assert_string_equal(drain(p), "");
	/* OFF is not a level to write at. */
	p->log.level = COFFER_LOG_DEBUG;
	coffer_log_write(&p->log, COFFER_LOG_OFF, "x", "hidden");
	assert_string_equal(drain(p), "");
}

static void test_one_line(void **state)
{
	struct pipe_log *p = *state;
	char big[10000];
	const char *out;

	coffer_log_info(&p->log, "x", "line one\nFAKE ERROR line two\r");
	assert_string_equal(drain(p),
			    "2026-11-28T01:02:03.456Z INFO  x: line one FAKE ERROR line two \n");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	coffer_log_info(&p->log, "x", "%s", big);
	out = drain(p);
	assert_int_equal(strlen(out), 4095);
	assert_memory_equal(out + 4095 - 4, "...\n", 4);
	assert_int_equal(strchr(out, '\n') - out, 4094);
}

static void test_null_and_closed(void **state)
{
	struct coffer_log closed;

	/* Neither crashes nor writes anywhere. */
	coffer_log_error(coffer_log_null(), "x", "dropped");
	coffer_log_init(&closed, -1, COFFER_LOG_DEBUG, NULL);
	assert_ptr_equal(closed.clock, coffer_clock_system());
	coffer_log_error(&closed, "x", "dropped");
	coffer_log_error(NULL, "x", "dropped");
}

static void test_system_clock_stamp(void **state)
{
	struct pipe_log *p = *state;
	struct coffer_log sys;
	const char *out;

	coffer_log_init(&sys, p->fds[1], COFFER_LOG_INFO, NULL);
	coffer_log_info(&sys, "x", "now");
	out = drain(p);
	/* "YYYY-MM-DDTHH:MM:SS.mmmZ " */
	assert_int_equal(out[4], '-');
	assert_int_equal(out[10], 'T');
	assert_int_equal(out[23], 'Z');
	assert_string_equal(out + 24, " INFO  x: now\n");
}

static void test_level_parse(void **state)
{
	enum coffer_log_level l = COFFER_LOG_OFF;

	assert_int_equal(coffer_log_level_parse("debug", &l), 0);
	assert_int_equal(l, COFFER_LOG_DEBUG);
	assert_int_equal(coffer_log_level_parse("info", &l), 0);
	assert_int_equal(l, COFFER_LOG_INFO);
	assert_int_equal(coffer_log_level_parse("WARN", &l), 0);
	assert_int_equal(l, COFFER_LOG_WARN);
	assert_int_equal(coffer_log_level_parse("error", &l), 0);
	assert_int_equal(l, COFFER_LOG_ERROR);
	assert_int_equal(coffer_log_level_parse("off", &l), 0);
	assert_int_equal(l, COFFER_LOG_OFF);
	assert_int_not_equal(coffer_log_level_parse("verbose", &l), 0);
	assert_int_not_equal(coffer_log_level_parse("", &l), 0);
	assert_int_not_equal(coffer_log_level_parse("info ", &l), 0);
	assert_int_not_equal(coffer_log_level_parse(NULL, &l), 0);
	assert_int_equal(l, COFFER_LOG_OFF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filtering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_line, setup, teardown),
		cmocka_unit_test(test_null_and_closed),
		cmocka_unit_test_setup_teardown(test_system_clock_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_parse, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
