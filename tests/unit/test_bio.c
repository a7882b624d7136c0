/* test_bio.c — the block I/O backends: bounds, short files, fault injection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/base/strbuf.h"
#include "core/io/bio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void reads_past_the_end_fail_naming_the_device(void **state)
{
	char data[100] = "hello";
	char buf[16];
	struct tf_bio *b;

	(void)state;
	assert_int_equal(tf_bio_open_mem(data, sizeof(data), "memdev", &b), 0);
	assert_int_equal(tf_bio_pread(b, buf, 5, 0), 0);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(tf_bio_pread(b, buf, 16, 90), -EIO);
	assert_non_null(strstr(tf_errmsg(), "memdev"));
	assert_non_null(strstr(tf_errmsg(), "past its end"));
	/* An offset whose sum with the length wraps around is refused too. */
	assert_int_equal(tf_bio_pread(b, buf, 16, UINT64_MAX - 4), -EIO);
	tf_bio_close(b);
}

static void file_backend_reads_what_was_written_with_and_without_o_direct(void **state)
{
	char path[] = "/tmp/thinfs-bio-XXXXXX";
	char *pattern = malloc(3 * 4096), buf[5000];
	struct tf_bio *b;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	for (int i = 0; i < 3 * 4096; i++)
		pattern[i] = (char)(i * 7);
	assert_int_equal(write(fd, pattern, 3 * 4096), 3 * 4096);
	close(fd);
	for (int direct = 0; direct < 2; direct++) {
		assert_int_equal(tf_bio_open_file(path, direct ? TF_BIO_DIRECT : 0, &b), 0);
		assert_int_equal(b->size, 3 * 4096);
		/* Unaligned in offset, length and buffer: O_DIRECT bounces. */
		assert_int_equal(tf_bio_pread(b, buf + 1, 4999, 123), 0);
		assert_memory_equal(buf + 1, pattern + 123, 4999);
		tf_bio_close(b);
	}
	assert_int_equal(tf_bio_open_file(path, 0, &b), 0);
	assert_int_equal(tf_bio_pwrite(b, "x", 1, 0), -EROFS);
	tf_bio_close(b);
	unlink(path);
	free(pattern);
}

static void missing_files_are_errors_naming_the_path(void **state)
{
	struct tf_bio *b;

	(void)state;
	assert_int_equal(tf_bio_open_file("/nonexistent/thinfs/meta", 0, &b), -ENOENT);
	assert_non_null(strstr(tf_errmsg(), "/nonexistent/thinfs/meta"));
}

static void faulty_wrapper_fails_only_the_chosen_range(void **state)
{
	char data[8192] = {0};
	char buf[512];
	struct tf_bio *inner, *f;

	(void)state;
	assert_int_equal(tf_bio_open_mem(data, sizeof(data), "mem", &inner), 0);
	assert_int_equal(tf_bio_open_faulty(inner, 4096, 512, &f), 0);
	assert_int_equal(tf_bio_pread(f, buf, 512, 0), 0);
	assert_int_equal(tf_bio_pread(f, buf, 512, 4096 - 256), -EIO);
	assert_non_null(strstr(tf_errmsg(), "injected"));
	assert_int_equal(tf_bio_pread(f, buf, 512, 4096 + 512), 0);
	tf_bio_close(f);
	tf_bio_close(inner);
}

static void errors_gain_context_on_the_way_up(void **state)
{
	(void)state;
	assert_int_equal(tf_fail_ctx(tf_fail(EIO, "block 7: bad checksum"), "volume %s: ", "web"),
			 -EIO);
	assert_string_equal(tf_errmsg(), "volume web: block 7: bad checksum");
}

static void json_strings_are_escaped(void **state)
{
	struct tf_strbuf sb = {0};
	char *s;

	(void)state;
	tf_sb_json_str(&sb, "a\"b\\c\n");
	tf_sb_printf(&sb, " %d", 42);
	s = tf_sb_take(&sb, NULL);
	assert_string_equal(s, "\"a\\\"b\\\\c\\u000a\" 42");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reads_past_the_end_fail_naming_the_device),
	    cmocka_unit_test(file_backend_reads_what_was_written_with_and_without_o_direct),
	    cmocka_unit_test(missing_files_are_errors_naming_the_path),
	    cmocka_unit_test(faulty_wrapper_fails_only_the_chosen_range),
	    cmocka_unit_test(errors_gain_context_on_the_way_up),
	    cmocka_unit_test(json_strings_are_escaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
