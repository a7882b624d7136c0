/* test_vec.c — the growable array and the partition-point binary search
 * (core/base/vec.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "testutil.h"

#include "core/base/vec.h"

struct run {
	uint64_t begin, len;
};

static void pushes_keep_every_element_in_order(void **state)
{
	(void)state;
	struct run *v = NULL;
	size_t n = 0, cap = 0;

	for (uint64_t i = 0; i < 100000; i++) {
		struct run *r = TF_VEC_PUSH(v, n, cap);
		assert_non_null(r);
		r->begin = i;
		r->len = i * 3;
	}
	assert_int_equal(n, 100000);
	assert_true(cap >= n && cap < 2 * n + 16);
	for (size_t i = 0; i < n; i++)
		assert_true(v[i].begin == i && v[i].len == i * 3);
	free(v);
}

static void an_impossible_size_fails_and_leaves_the_array_as_it_was(void **state)
{
	(void)state;
	struct run *v = NULL;
	size_t n = 0, cap = 0;

	assert_non_null(TF_VEC_PUSH(v, n, cap));
	v[0].begin = 42;
	size_t old_cap = cap;
	assert_int_equal(TF_VEC_RESERVE(v, cap, SIZE_MAX / 2), -ENOMEM);
	assert_int_equal(cap, old_cap);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].begin, 42);
	free(v);
}

static bool ends_after(const void *elem, const void *key)
{
	const struct run *r = elem;
	return r->begin + r->len > *(const uint64_t *)key;
}

static void partition_point_finds_the_first_run_ending_after_an_offset(void **state)
{
	(void)state;
	struct run runs[] = {{0, 10}, {20, 5}, {30, 1}, {100, 50}};
	size_t n = sizeof(runs) / sizeof(runs[0]);
	uint64_t k;

	k = 0, assert_int_equal(tf_partition_point(runs, n, sizeof(*runs), &k, ends_after), 0);
	k = 9, assert_int_equal(tf_partition_point(runs, n, sizeof(*runs), &k, ends_after), 0);
	k = 10, assert_int_equal(tf_partition_point(runs, n, sizeof(*runs), &k, ends_after), 1);
	k = 24, assert_int_equal(tf_partition_point(runs, n, sizeof(*runs), &k, ends_after), 1);
	k = 25, assert_int_equal(tf_partition_point(runs, n, sizeof(*runs), &k, ends_after), 2);
	k = 149, assert_int_equal(tf_partition_point(runs, n, sizeof(*runs), &k, ends_after), 3);
	k = 150, assert_int_equal(tf_partition_point(runs, n, sizeof(*runs), &k, ends_after), 4);
	assert_int_equal(tf_partition_point(runs, 0, sizeof(*runs), &k, ends_after), 0);
}

static void partition_point_agrees_with_a_linear_scan(void **state)
{
	(void)state;
	enum { N = 1000 };
	struct run *runs = malloc(N * sizeof(*runs));
	uint64_t pos = 0;

	assert_non_null(runs);
	srand(7);
	for (size_t i = 0; i < N; i++) {
		pos += (uint64_t)(rand() % 5);
		runs[i].begin = pos;
		runs[i].len = 1 + (uint64_t)(rand() % 4);
		pos += runs[i].len;
	}
	for (uint64_t k = 0; k <= pos + 2; k++) {
		size_t lin = 0;
		while (lin < N && !ends_after(&runs[lin], &k))
			lin++;
		assert_int_equal(tf_partition_point(runs, N, sizeof(*runs), &k, ends_after), lin);
	}
	free(runs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pushes_keep_every_element_in_order),
	    cmocka_unit_test(an_impossible_size_fails_and_leaves_the_array_as_it_was),
	    cmocka_unit_test(partition_point_finds_the_first_run_ending_after_an_offset),
	    cmocka_unit_test(partition_point_agrees_with_a_linear_scan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
