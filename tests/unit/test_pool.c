/* test_pool.c — the pool sources: an image directory (with and without
 * lvm.cfg) on the kernel-pool-demo fixture, and the pure helpers of the live
 * source (pool status line, LVM's dm name mangling). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include "core/base/err.h"
#include "core/lvm/dm.h"
#include "core/pool/pool.h"
#include "core/thin/thin_meta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char workdir[] = "/tmp/thinfs-pool-XXXXXX";
static char withcfg[600], nocfg[600];

static int setup(void **state)
{
	(void)state;
	const char *src = getenv("THINFS_SRCDIR");
	if (!src || !mkdtemp(workdir))
		return -1;
	snprintf(withcfg, sizeof(withcfg), "%s/cfg", workdir);
	snprintf(nocfg, sizeof(nocfg), "%s/nocfg", workdir);
	sh("mkdir -p %s %s", withcfg, nocfg);
	sh("zstd -q -d %s/tests/fixtures/kernel-pool-demo/metadata.zst -o %s/metadata", src,
	   withcfg);
	sh("zstd -q -d --sparse %s/tests/fixtures/kernel-pool-demo/data.zst -o %s/data", src,
	   withcfg);
	sh("cp %s/tests/fixtures/kernel-pool-demo/lvm.cfg %s/lvm.cfg", src, withcfg);
	sh("cp %s/metadata %s/metadata && truncate -s 1M %s/data", withcfg, nocfg, nocfg);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sh("rm -rf %s", workdir);
	return 0;
}

static const struct tf_lv *find_lv(const struct tf_lv *lvs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(lvs[i].name, name))
			return &lvs[i];
	return NULL;
}

static void image_with_lvm_cfg_has_lvm_names_and_sizes(void **state)
{
	(void)state;
	struct tf_pool *p;
	const struct tf_lv *lvs;
	size_t n;
	struct tf_pool_opts o = {0};

	assert_int_equal(tf_pool_open(withcfg, &o, &p), 0);
	assert_int_equal(tf_pool_kind(p), TF_POOL_IMAGE);
	assert_string_equal(
	    tf_pool_identity(p),
	    "lvm:5WrII3-FIKN-7mIQ-rpQa-4rTU-lY0y-gJlfc0/YD4ZIP-iop0-j8Tf-50lb-0wDr-irDw-15ELDk");
	assert_int_equal(tf_pool_chunk_sectors(p), 256);
	assert_int_equal(tf_pool_lvs(p, &lvs, &n), 0);
	assert_int_equal(n, 5);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(lvs[i - 1].name, lvs[i].name) < 0);
	assert_int_equal(find_lv(lvs, n, "web")->thin_id, 1);
	assert_int_equal(find_lv(lvs, n, "web")->size_bytes, 128u << 20);
	assert_string_equal(find_lv(lvs, n, "web_tuesday")->origin, "web");
	assert_int_equal(find_lv(lvs, n, "web_tuesday")->thin_id, 3);
	assert_int_equal(find_lv(lvs, n, "disk")->size_bytes, 64u << 20);
	assert_int_equal(find_lv(lvs, n, "scratch")->thin_id, 5);
	uint64_t tid;
	assert_int_equal(tf_pool_transaction_id(p, &tid), 0);
	assert_int_equal(tid, 5);

	/* A read inside the data image counts; one past its end is EIO naming the volume offset. */
	char buf[4096];
	struct tf_pool_counters c;
	assert_int_equal(tf_pool_read(p, 1, buf, sizeof(buf), 0, 0), 0);
	tf_pool_counters(p, &c);
	assert_int_equal(c.data_reads, 1);
	assert_int_equal(c.data_bytes_read, sizeof(buf));
	assert_int_equal(tf_pool_read(p, 1, buf, sizeof(buf), 12345, 1ull << 40), -EIO);
	assert_non_null(strstr(tf_errmsg(), "12345"));
	tf_pool_close(p);
}

static void image_without_lvm_cfg_synthesizes_names(void **state)
{
	(void)state;
	struct tf_pool *p;
	const struct tf_lv *lvs;
	size_t n;

	assert_int_equal(tf_pool_open(nocfg, NULL, &p), 0);
	assert_true(strncmp(tf_pool_identity(p), "img:", 4) == 0);
	assert_int_equal(tf_pool_lvs(p, &lvs, &n), 0);
	assert_int_equal(n, 5);
	const struct tf_lv *web = find_lv(lvs, n, "thin1");
	assert_non_null(web);
	assert_int_equal(web->thin_id, 1);
	assert_null(web->origin);
	/* Sized by the end of its last mapped chunk: a whole number of chunks, within the LV. */
	assert_true(web->size_bytes > 0);
	assert_int_equal(web->size_bytes % (256 * 512), 0);
	assert_true(web->size_bytes <= 128u << 20);
	assert_non_null(find_lv(lvs, n, "thin5"));
	/* Data past the (truncated) data image is an error, not zeros. */
	char buf[512];
	assert_int_equal(tf_pool_read(p, 1, buf, sizeof(buf), 0, 2u << 20), -EIO);

	struct tf_thin_meta *view;
	assert_int_equal(tf_pool_meta_begin(p, &view), 0);
	assert_int_equal(tf_thin_info(view)->data_block_size, 256);
	tf_pool_meta_end(p, view);
	tf_pool_close(p);

	/* The fingerprint is stable across opens. */
	struct tf_pool *p2, *p3;
	assert_int_equal(tf_pool_open(nocfg, NULL, &p2), 0);
	assert_int_equal(tf_pool_open(nocfg, NULL, &p3), 0);
	assert_string_equal(tf_pool_identity(p2), tf_pool_identity(p3));
	tf_pool_close(p2);
	tf_pool_close(p3);
}

static void missing_and_bad_sources_fail_clearly(void **state)
{
	(void)state;
	struct tf_pool *p;
	char dir[700];

	assert_true(tf_pool_open("/nonexistent-thinfs-dir", NULL, &p) < 0);
	assert_non_null(strstr(tf_errmsg(), "nonexistent-thinfs-dir"));
	snprintf(dir, sizeof(dir), "%s/empty", workdir);
	sh("mkdir -p %s", dir);
	assert_true(tf_pool_open(dir, NULL, &p) < 0);
	assert_non_null(strstr(tf_errmsg(), "metadata"));
	snprintf(dir, sizeof(dir), "%s/badcfg", workdir);
	sh("mkdir -p %s && cp %s/metadata %s/data %s/ && printf 'vg {\\n\\n x y\\n}\\n' > "
	   "%s/lvm.cfg",
	   dir, withcfg, withcfg, dir, dir);
	assert_int_equal(tf_pool_open(dir, NULL, &p), -EINVAL);
	assert_non_null(strstr(tf_errmsg(), "lvm.cfg:3"));
}

static void pool_status_lines_parse(void **state)
{
	(void)state;
	struct tf_dm_pool_status st;

	assert_int_equal(
	    tf_dm_parse_pool_status(
		"5 12/1024 100/768 - rw discard_passdown queue_if_no_space - 1024", &st),
	    0);
	assert_int_equal(st.transaction_id, 5);
	assert_int_equal(st.meta_used, 12);
	assert_int_equal(st.meta_total, 1024);
	assert_int_equal(st.data_used, 100);
	assert_int_equal(st.data_total, 768);
	assert_false(st.held);
	assert_false(st.read_only);
	assert_false(st.error_if_no_space);
	assert_string_equal(st.discards, "passdown");
	assert_int_equal(
	    tf_dm_parse_pool_status(
		"7 20/1024 100/768 17 ro no_discard_passdown error_if_no_space needs_check 1024",
		&st),
	    0);
	assert_true(st.held);
	assert_int_equal(st.held_root, 17);
	assert_true(st.read_only);
	assert_true(st.needs_check);
	assert_false(st.out_of_data_space);
	assert_true(st.error_if_no_space);
	assert_string_equal(st.discards, "nopassdown");
	assert_int_equal(tf_dm_parse_pool_status("9 20/1024 768/768 - out_of_data_space "
						 "ignore_discard queue_if_no_space - 1024",
						 &st),
			 0);
	assert_true(st.out_of_data_space);
	assert_true(st.read_only);
	assert_string_equal(st.discards, "ignore");
	assert_true(tf_dm_parse_pool_status("Fail", &st) < 0);
	assert_true(tf_dm_parse_pool_status("5 12/x 1/2 -", &st) < 0);
	assert_true(tf_dm_parse_pool_status("", &st) < 0);
}

static void dm_names_mangle_dashes(void **state)
{
	(void)state;
	char b[256];

	assert_int_equal(tf_dm_lvm_name("demo", "pool", "-tpool", b, sizeof(b)), 0);
	assert_string_equal(b, "demo-pool-tpool");
	assert_int_equal(tf_dm_lvm_name("my-vg", "thin-pool", "_tmeta", b, sizeof(b)), 0);
	assert_string_equal(b, "my--vg-thin--pool_tmeta");
	assert_true(tf_dm_lvm_name("vg", "lv", "", b, 4) < 0);
}

/* A copy of a pool is the same lineage (streams between them apply) but
 * not the same bytes: one identity, two source keys; and a path that names
 * the same directory another way is the same source. */
static void a_copy_has_the_identity_but_not_the_source_key(void **state)
{
	(void)state;
	struct tf_pool *a, *b, *c;
	char copy[700], other[700];

	snprintf(copy, sizeof(copy), "%s/copy", workdir);
	snprintf(other, sizeof(other), "%s/cfg/../cfg/", workdir);
	sh("cp -r %s %s", withcfg, copy);
	assert_int_equal(tf_pool_open(withcfg, NULL, &a), 0);
	assert_int_equal(tf_pool_open(copy, NULL, &b), 0);
	assert_int_equal(tf_pool_open(other, NULL, &c), 0);
	assert_string_equal(tf_pool_identity(a), tf_pool_identity(b));
	assert_string_not_equal(tf_pool_source_key(a), tf_pool_source_key(b));
	assert_string_equal(tf_pool_source_key(a), tf_pool_source_key(c));
	assert_true(strncmp(tf_pool_source_key(a), "img:/", 5) == 0);
	assert_int_equal(tf_pool_data_bytes(a), 96u << 20);
	tf_pool_close(a);
	tf_pool_close(b);
	tf_pool_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(image_with_lvm_cfg_has_lvm_names_and_sizes),
	    cmocka_unit_test(image_without_lvm_cfg_synthesizes_names),
	    cmocka_unit_test(missing_and_bad_sources_fail_clearly),
	    cmocka_unit_test(a_copy_has_the_identity_but_not_the_source_key),
	    cmocka_unit_test(pool_status_lines_parse),
	    cmocka_unit_test(dm_names_mangle_dashes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
