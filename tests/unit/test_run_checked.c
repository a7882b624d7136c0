/* test_run_checked.c — core/base/run.c as replicate, verify and the LVM
 * targets use it: a failed exit is one message with the program's last
 * words, output is kept whole up to a bound and refused beyond it, hooks
 * and streamed children are waited for, a left-behind daemon holds
 * nothing up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/base/run.h"
#include "core/io/fdio.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void a_listing_far_beyond_2_kib_is_kept_whole(void **state)
{
	(void)state;
	/* 20000 lines of an LV name each: what lvs prints for a big pool */
	const char *argv[] = {"sh", "-c", "seq -f 'lv_snapshot_%06g' 1 20000", NULL};
	char *out = NULL;

	assert_int_equal(tf_run_ok(argv, NULL, &out), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), 20000 * strlen("lv_snapshot_000001\n"));
	assert_non_null(strstr(out, "lv_snapshot_000001\n"));
	assert_non_null(strstr(out, "lv_snapshot_020000\n"));
	free(out);
}

static void stdout_beyond_the_bound_is_efbig_naming_the_program(void **state)
{
	(void)state;
	const char *argv[] = {"head", "-c", "1000000", "/dev/zero", NULL};
	const struct tf_run_opts o = {.max_out = 64 * 1024};
	char *out = (char *)"untouched";

	assert_int_equal(tf_run_ok(argv, &o, &out), -EFBIG);
	assert_null(out);
	assert_non_null(strstr(tf_errmsg(), "head: printed more than 64 KiB"));
}

static void stderr_beyond_the_bound_is_efbig_too(void **state)
{
	(void)state;
	const char *argv[] = {"sh", "-c", "head -c 1000000 /dev/zero >&2", NULL};
	const struct tf_run_opts o = {.max_out = 64 * 1024};
	struct tf_run_result r;

	assert_int_equal(tf_run_with(argv, &o, &r), -EFBIG);
	assert_null(r.out);
	assert_non_null(strstr(tf_errmsg(), "sh: printed more than 64 KiB"));
}

static void output_at_the_bound_is_kept(void **state)
{
	(void)state;
	const char *argv[] = {"head", "-c", "65536", "/dev/zero", NULL};
	const struct tf_run_opts o = {.max_out = 64 * 1024};
	struct tf_run_result r;

	assert_int_equal(tf_run_with(argv, &o, &r), 0);
	assert_int_equal(r.out_len, 65536);
	tf_run_free(&r);
}

static void a_program_that_prints_nothing_gives_an_empty_string(void **state)
{
	(void)state;
	const char *say[] = {"echo", "0.9.0", NULL}, *quiet[] = {"true", NULL};
	char *out;

	/* the buffer freed here is the one malloc hands the next run */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(tf_run_ok(say, NULL, &out), 0);
		assert_string_equal(out, "0.9.0\n");
		free(out);
		assert_int_equal(tf_run_ok(quiet, NULL, &out), 0);
		assert_string_equal(out, "");
		free(out);
	}
}

static void a_failed_exit_is_eio_with_the_last_line_it_said(void **state)
{
	(void)state;
	const char *argv[] = {"sh", "-c",
			      "echo partial; echo first >&2; echo 'last words' >&2; exit 5", NULL};
	char *out = (char *)"untouched";

	assert_int_equal(tf_run_ok(argv, NULL, &out), -EIO);
	assert_null(out);
	assert_string_equal(tf_errmsg(), "sh -c: exit 5: last words");
}

static void a_failed_exit_without_words_says_only_the_code(void **state)
{
	(void)state;
	const char *argv[] = {"false", NULL};

	assert_int_equal(tf_run_ok(argv, NULL, NULL), -EIO);
	assert_string_equal(tf_errmsg(), "false: exit 1");
}

static void a_killed_program_names_the_signal(void **state)
{
	(void)state;
	const char *argv[] = {"sh", "-c", "echo dying >&2; kill -9 $$", NULL};

	assert_int_equal(tf_run_ok(argv, NULL, NULL), -EIO);
	assert_string_equal(tf_errmsg(), "sh -c: killed by signal 9: dying");
}

static void a_missing_program_cannot_be_started(void **state)
{
	(void)state;
	const char *argv[] = {"thinfs-no-such-program", NULL};
	struct tf_child c;

	assert_int_equal(tf_run_ok(argv, NULL, NULL), -ENOENT);
	assert_non_null(strstr(tf_errmsg(), "cannot run thinfs-no-such-program"));
	assert_int_equal(tf_child_start(argv, true, false, false, &c), -ENOENT);
	assert_non_null(strstr(tf_errmsg(), "cannot run thinfs-no-such-program"));
}

static void a_hooks_stdout_is_discarded_and_its_failure_named(void **state)
{
	(void)state;
	assert_int_equal(tf_run_shell("head -c 1000000 /dev/zero; echo oops >&2; exit 2", "--pre"),
			 -EIO);
	assert_string_equal(tf_errmsg(), "--pre: exit 2: oops");
	assert_int_equal(tf_run_shell("exit 0", "--post"), 0);
}

static void a_daemon_left_behind_does_not_hold_the_run(void **state)
{
	(void)state;
	/* The daemon keeps stderr (as LVM's dmeventd or an ssh master could)
	 * but not stdout: the run ends when the program does. */
	const char *argv[] = {"sh", "-c", "sleep 600 >/dev/null & echo $!", NULL};
	const struct tf_run_opts o = {.timeout_ms = 60000};
	struct tf_run_result r;

	assert_int_equal(tf_run_with(argv, &o, &r), 0);
	assert_int_equal(r.status, 0);
	long pid = strtol(r.out, NULL, 10);
	assert_true(pid > 1);
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	tf_run_free(&r);
}

static void a_streamed_child_reads_what_we_write_and_its_exit_is_reported(void **state)
{
	(void)state;
	const char *argv[] = {"sh", "-c", "n=$(wc -c); echo \"got $n\" >&2; exit 3", NULL};
	struct tf_child c;
	char buf[100000];

	memset(buf, 'x', sizeof(buf));
	assert_int_equal(tf_child_start(argv, true, false, false, &c), 0);
	assert_int_equal(tf_write_all(c.in, buf, sizeof(buf), "child"), 0);
	assert_int_equal(tf_child_wait(&c, "ssh:host:/r"), -EIO);
	assert_string_equal(tf_errmsg(), "ssh:host:/r: exit 3: got 100000");
}

static void programs_run_in_the_c_locale_unless_asked_to_keep_the_users(void **state)
{
	(void)state;
	const char *argv[] = {"sh", "-c", "echo \"$LC_ALL\"", NULL};
	const struct tf_run_opts keep = {.keep_locale = true};
	char *out;

	setenv("LC_ALL", "xx_TEST", 1);
	assert_int_equal(tf_run_ok(argv, NULL, &out), 0);
	assert_string_equal(out, "C\n");
	free(out);
	assert_int_equal(tf_run_ok(argv, &keep, &out), 0);
	assert_string_equal(out, "xx_TEST\n");
	free(out);
	unsetenv("LC_ALL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_listing_far_beyond_2_kib_is_kept_whole),
	    cmocka_unit_test(stdout_beyond_the_bound_is_efbig_naming_the_program),
	    cmocka_unit_test(stderr_beyond_the_bound_is_efbig_too),
	    cmocka_unit_test(output_at_the_bound_is_kept),
	    cmocka_unit_test(a_program_that_prints_nothing_gives_an_empty_string),
	    cmocka_unit_test(a_failed_exit_is_eio_with_the_last_line_it_said),
	    cmocka_unit_test(a_failed_exit_without_words_says_only_the_code),
	    cmocka_unit_test(a_killed_program_names_the_signal),
	    cmocka_unit_test(a_missing_program_cannot_be_started),
	    cmocka_unit_test(a_hooks_stdout_is_discarded_and_its_failure_named),
	    cmocka_unit_test(a_daemon_left_behind_does_not_hold_the_run),
	    cmocka_unit_test(a_streamed_child_reads_what_we_write_and_its_exit_is_reported),
	    cmocka_unit_test(programs_run_in_the_c_locale_unless_asked_to_keep_the_users),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
