/* test_run.c — core/base/run.c, the one way the command line runs programs:
 * output and exit status captured, missing programs and hangs reported,
 * no deadlock on large output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/base/run.h"

#include <errno.h>
#include <string.h>

#include <cmocka.h>

static void captures_stdout_stderr_and_the_exit_status(void **state)
{
	(void)state;
	const char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
	struct tf_run_result r;

	assert_int_equal(tf_run(argv, 10000, &r), 0);
	assert_int_equal(r.status, 3);
	assert_string_equal(r.out, "out\n");
	assert_string_equal(r.err, "err\n");
	assert_int_equal(r.out_len, 4);
	tf_run_free(&r);
}

static void a_missing_program_is_enoent_naming_it(void **state)
{
	(void)state;
	const char *argv[] = {"thinfs-no-such-program", "x", NULL};
	struct tf_run_result r;

	assert_int_equal(tf_run(argv, 10000, &r), -ENOENT);
	assert_non_null(strstr(tf_errmsg(), "thinfs-no-such-program"));
}

static void a_program_that_hangs_is_killed_at_the_timeout(void **state)
{
	(void)state;
	const char *argv[] = {"sleep", "600", NULL};
	struct tf_run_result r;

	assert_int_equal(tf_run(argv, 300, &r), -ETIMEDOUT);
	assert_non_null(strstr(tf_errmsg(), "sleep: no answer"));
}

static void megabytes_on_both_streams_do_not_deadlock(void **state)
{
	(void)state;
	const char *argv[] = {"sh", "-c",
			      "head -c 3000000 /dev/zero | tr '\\0' a; head -c 2000000 /dev/zero "
			      "| tr '\\0' b >&2",
			      NULL};
	struct tf_run_result r;

	assert_int_equal(tf_run(argv, 60000, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.out_len, 3000000);
	assert_int_equal(r.err_len, 2000000);
	assert_int_equal(strspn(r.out, "a"), 3000000);
	tf_run_free(&r);
}

static void a_program_killed_by_a_signal_is_128_plus_it(void **state)
{
	(void)state;
	const char *argv[] = {"sh", "-c", "kill -9 $$", NULL};
	struct tf_run_result r;

	assert_int_equal(tf_run(argv, 10000, &r), 0);
	assert_int_equal(r.status, 128 + 9);
	tf_run_free(&r);
}

static void the_first_line_skips_leading_blanks(void **state)
{
	(void)state;
	char b[16];

	tf_run_first_line("\n  lvs: error\nmore", b, sizeof(b));
	assert_string_equal(b, "lvs: error");
	tf_run_first_line("", b, sizeof(b));
	assert_string_equal(b, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(captures_stdout_stderr_and_the_exit_status),
	    cmocka_unit_test(a_missing_program_is_enoent_naming_it),
	    cmocka_unit_test(a_program_that_hangs_is_killed_at_the_timeout),
	    cmocka_unit_test(megabytes_on_both_streams_do_not_deadlock),
	    cmocka_unit_test(a_program_killed_by_a_signal_is_128_plus_it),
	    cmocka_unit_test(the_first_line_skips_leading_blanks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
