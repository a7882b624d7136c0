/* test_index.c — the SQLite index on real pools: the kernel-written demo
 * pool (names from lvs.txt, usage from thin_ls.txt), thin_restore-made
 * images, incremental refresh walking only changed devices, and a deleted
 * or corrupt index file being rebuilt (the index is a cache). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include "core/base/err.h"
#include "core/pool/pool.h"
#include "index/index.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char workdir[] = "/tmp/thinfs-index-XXXXXX";
static char demo[512]; /* image directory from kernel-pool-demo */

static int setup(void **state)
{
	const char *src = getenv("THINFS_SRCDIR");
	char cmd[8192];

	(void)state;
	if (!src || !mkdtemp(workdir))
		return -1;
	snprintf(demo, sizeof(demo), "%s/demo", workdir);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s && zstd -q -d %s/tests/fixtures/kernel-pool-demo/metadata.zst -o "
		 "%s/metadata"
		 " && zstd -q -d --sparse %s/tests/fixtures/kernel-pool-demo/data.zst -o %s/data"
		 " && cp %s/tests/fixtures/kernel-pool-demo/lvm.cfg %s/lvm.cfg",
		 demo, src, demo, src, demo, src, demo);
	return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[64];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", workdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* lvs.txt and thin_ls.txt of the fixture, as the kernel and LVM saw them. */
static void demo_index_equals_lvs_and_thin_ls(void **state)
{
	static const struct {
		const char *name, *origin;
		uint32_t id;
		uint64_t mib, mapped, exclusive, shared;
	} want[] = {
	    {"disk", NULL, 4, 64, 45, 45, 0},	       {"scratch", NULL, 5, 16, 5, 5, 0},
	    {"web", NULL, 1, 128, 48, 2, 46},	       {"web_monday", "web", 2, 128, 46, 7, 39},
	    {"web_tuesday", "web", 3, 128, 46, 0, 46},
	};
	char path[600];
	struct tf_pool *p;
	struct tf_index *ix;
	struct tf_index_stats st;
	struct tf_ix_dev *d;
	struct tf_ix_pool ip;
	size_t n;

	(void)state;
	snprintf(path, sizeof(path), "%s/demo.db", workdir);
	assert_int_equal(tf_pool_open(demo, NULL, &p), 0);
	assert_int_equal(tf_index_open(path, &ix), 0);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_int_equal(st.devices_total, 5);
	assert_int_equal(st.devices_walked, 5);
	assert_int_equal(st.transaction_id, 5);

	assert_int_equal(tf_index_pool(ix, &ip), 0);
	assert_int_equal(ip.transaction_id, 5);
	assert_int_equal(ip.chunk_sectors, 256);
	assert_int_equal(ip.data_nr_blocks, 768);

	assert_int_equal(tf_index_devices(ix, &d, &n), 0);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(d[i].name, want[i].name); /* sorted by name */
		assert_int_equal(d[i].thin_id, want[i].id);
		assert_int_equal(d[i].size_bytes, want[i].mib << 20);
		if (want[i].origin)
			assert_string_equal(d[i].origin, want[i].origin);
		else
			assert_null(d[i].origin);
		assert_int_equal(d[i].mapped_chunks, want[i].mapped);
		assert_int_equal(d[i].exclusive_chunks, want[i].exclusive);
		assert_int_equal(d[i].shared_chunks, want[i].shared);
	}
	tf_index_devices_free(d, n);

	/* web's extents as thin_dump.xml lists them: 16 runs, 48 chunks. */
	struct tf_thin_run *runs;
	uint64_t sum = 0;
	assert_int_equal(tf_index_extents(ix, 1, &runs, &n), 0);
	assert_int_equal(n, 16);
	for (size_t i = 0; i < n; i++) {
		sum += runs[i].len;
		if (i)
			assert_true(runs[i].vbegin >= runs[i - 1].vbegin + runs[i - 1].len);
	}
	assert_int_equal(sum, 48);
	assert_int_equal(runs[0].vbegin, 0);
	assert_int_equal(runs[0].dbegin, 46);
	assert_int_equal(runs[12].vbegin, 385);
	assert_int_equal(runs[12].dbegin, 4);
	assert_int_equal(runs[12].len, 32);
	free(runs);
	assert_int_equal(tf_index_extents(ix, 99, &runs, &n), -ENOENT);

	/* Nothing changed: nothing is walked. */
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_int_equal(st.devices_walked, 0);
	assert_false(st.rebuilt);
	tf_index_close(ix);
	tf_pool_close(p);
}

/* A two-device pool; with extra, device 2 also maps `extra` chunks at
 * virtual 800 (data 3000) in a later transaction.  The device set stays the
 * same, so an image without lvm.cfg keeps its identity (core hashes the
 * superblock's sizes and the devices' ids and creation times). */
static void write_xml(const char *file, uint32_t extra)
{
	FILE *f = fopen(file, "w");

	assert_non_null(f);
	fprintf(f,
		"<superblock uuid=\"\" time=\"1\" transaction=\"%u\" flags=\"0\" version=\"2\""
		" data_block_size=\"128\" nr_data_blocks=\"4096\">\n",
		extra ? 3u : 2u);
	fprintf(f,
		" <device dev_id=\"1\" mapped_blocks=\"300\" transaction=\"0\" creation_time=\"0\""
		" snap_time=\"1\">\n"
		"  <range_mapping origin_begin=\"0\" data_begin=\"0\" length=\"200\" time=\"0\"/>\n"
		"  <range_mapping origin_begin=\"500\" data_begin=\"1000\" length=\"100\" "
		"time=\"0\"/>\n"
		" </device>\n");
	fprintf(
	    f,
	    " <device dev_id=\"2\" mapped_blocks=\"%u\" transaction=\"%u\" creation_time=\"1\""
	    " snap_time=\"1\">\n"
	    "  <range_mapping origin_begin=\"0\" data_begin=\"0\" length=\"150\" time=\"0\"/>\n"
	    "  <range_mapping origin_begin=\"150\" data_begin=\"2000\" length=\"50\" time=\"1\"/>\n"
	    "  <range_mapping origin_begin=\"500\" data_begin=\"1000\" length=\"50\" "
	    "time=\"0\"/>\n",
	    250 + extra, extra ? 2u : 1u);
	if (extra)
		fprintf(f,
			"  <range_mapping origin_begin=\"800\" data_begin=\"3000\" length=\"%u\""
			" time=\"1\"/>\n",
			extra);
	fprintf(f, " </device>\n</superblock>\n");
	fclose(f);
}

/* A thin_restore-made image without lvm.cfg: names are thin<id>, usage
 * follows the shared ranges; a change re-walks only the changed device. */
static void restored_image_refreshes_only_what_changed(void **state)
{
	char dir[600], xml[700], ixp[700];
	struct tf_pool *p;
	struct tf_index *ix;
	struct tf_index_stats st;
	struct tf_ix_dev *d;
	size_t n;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/restored", workdir);
	snprintf(xml, sizeof(xml), "%s/pool.xml", workdir);
	snprintf(ixp, sizeof(ixp), "%s/restored.db", workdir);
	write_xml(xml, 0);
	sh("mkdir -p %s && truncate -s 8M %s/metadata && truncate -s 256M %s/data"
	   " && thin_restore -q -i %s -o %s/metadata",
	   dir, dir, dir, xml, dir);

	assert_int_equal(tf_pool_open(dir, NULL, &p), 0);
	assert_int_equal(tf_index_open(ixp, &ix), 0);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_int_equal(st.devices_walked, 2);
	assert_int_equal(st.extents, 6); /* device 1 spans two leaves: a run splits */
	assert_int_equal(tf_index_devices(ix, &d, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(d[0].name, "thin1");
	assert_int_equal(d[0].mapped_chunks, 300);
	assert_int_equal(d[0].exclusive_chunks, 300 - 150 - 50);
	assert_int_equal(d[0].shared_chunks, 200);
	assert_string_equal(d[1].name, "thin2");
	assert_int_equal(d[1].mapped_chunks, 250);
	assert_int_equal(d[1].exclusive_chunks, 50);
	assert_int_equal(d[1].shared_chunks, 200);
	tf_index_devices_free(d, n);
	tf_pool_close(p);

	/* Device 2 maps more: only it is walked; device 1's usage follows. */
	write_xml(xml, 7);
	sh("thin_restore -q -i %s -o %s/metadata", xml, dir);
	assert_int_equal(tf_pool_open(dir, NULL, &p), 0);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_false(st.rebuilt);
	assert_int_equal(st.transaction_id, 3);
	assert_int_equal(st.devices_total, 2);
	assert_int_equal(st.devices_walked, 1);
	assert_int_equal(st.extents, 8); /* device 2 now spans two leaves too */
	assert_int_equal(tf_index_devices(ix, &d, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(d[1].mapped_chunks, 257);
	assert_int_equal(d[1].exclusive_chunks, 57);
	assert_int_equal(d[0].exclusive_chunks, 100);
	tf_index_devices_free(d, n);
	struct tf_thin_run *runs;
	assert_int_equal(tf_index_extents(ix, 2, &runs, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(runs[3].vbegin, 800);
	assert_int_equal(runs[3].dbegin, 3000);
	assert_int_equal(runs[3].len, 7);
	free(runs);
	assert_int_equal(tf_index_extents(ix, 5, &runs, &n), -ENOENT);

	/* Unchanged again: nothing is walked. */
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_int_equal(st.devices_walked, 0);

	/* A forced rebuild walks everything. */
	assert_int_equal(tf_index_refresh(ix, p, true, &st), 0);
	assert_true(st.rebuilt);
	assert_int_equal(st.devices_walked, 2);
	tf_index_close(ix);

	/* A deleted index is rebuilt. */
	sh("rm -f %s %s-wal %s-shm", ixp, ixp, ixp);
	assert_int_equal(tf_index_open(ixp, &ix), 0);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_int_equal(st.devices_walked, 2);
	tf_index_close(ix);

	/* A corrupt index file (garbage bytes) is moved aside and rebuilt. */
	sh("rm -f %s-wal %s-shm && head -c 65536 /dev/urandom > %s", ixp, ixp, ixp);
	assert_int_equal(tf_index_open(ixp, &ix), 0);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_int_equal(st.devices_walked, 2);
	assert_int_equal(st.extents, 8);
	tf_index_close(ix);
	tf_pool_close(p);
}

/* tf_index_diff: changes between two devices; -ESTALE once the pool moved. */
static void diff_checks_transaction_id(void **state)
{
	char dir[600], xml[700], ixp[700];
	struct tf_pool *p;
	struct tf_index *ix;
	struct tf_index_stats st;
	struct tf_ix_change *ch;
	struct tf_walk_stats ws;
	size_t n;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/diffpool", workdir);
	snprintf(xml, sizeof(xml), "%s/diff.xml", workdir);
	snprintf(ixp, sizeof(ixp), "%s/diff.db", workdir);
	write_xml(xml, 0);
	sh("mkdir -p %s && truncate -s 8M %s/metadata && truncate -s 256M %s/data"
	   " && thin_restore -q -i %s -o %s/metadata",
	   dir, dir, dir, xml, dir);
	assert_int_equal(tf_pool_open(dir, NULL, &p), 0);
	assert_int_equal(tf_index_open(ixp, &ix), 0);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	memset(&ws, 0, sizeof(ws));
	assert_int_equal(tf_index_diff(ix, p, 1, 2, &ch, &n, &ws), 0);
	assert_true(n > 0);
	uint64_t different = 0, left_only = 0;
	for (size_t i = 0; i < n; i++) {
		if (ch[i].kind == TF_DIFF_DIFFERENT)
			different += ch[i].run.len;
		else if (ch[i].kind == TF_DIFF_LEFT_ONLY)
			left_only += ch[i].run.len;
		else
			fail_msg("no chunk is mapped in dev 2 only");
	}
	/* 150..199 remapped, 550..599 gone from dev 2. */
	assert_int_equal(different, 50);
	assert_int_equal(left_only, 50);
	free(ch);
	tf_pool_close(p);

	write_xml(xml, 3);
	sh("thin_restore -q -i %s -o %s/metadata", xml, dir);
	assert_int_equal(tf_pool_open(dir, NULL, &p), 0);
	assert_int_equal(tf_index_diff(ix, p, 1, 2, &ch, &n, &ws), -ESTALE);
	tf_index_close(ix);
	tf_pool_close(p);
}

/* The kernel-made 1M-mapping pool (no data, no lvm.cfg): usage equals
 * thin_ls on it (device 2 alone keeps the 100 chunks the origin rewrote
 * after it was snapshotted), and an unchanged pool is not walked again. */
static void big_kernel_pool_usage_equals_thin_ls(void **state)
{
	const char *src = getenv("THINFS_SRCDIR");
	char dir[600], ixp[700];
	struct tf_pool *p;
	struct tf_index *ix;
	struct tf_index_stats st;
	struct tf_ix_dev *d;
	size_t n;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/big", workdir);
	snprintf(ixp, sizeof(ixp), "%s/big.db", workdir);
	sh("mkdir -p %s && zstd -q -d --sparse %s/tests/fixtures/kernel-1m-mappings/metadata.zst"
	   " -o %s/metadata && truncate -s 64G %s/data",
	   dir, src, dir, dir);
	assert_int_equal(tf_pool_open(dir, NULL, &p), 0);
	assert_int_equal(tf_index_open(ixp, &ix), 0);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_int_equal(st.devices_walked, 3);
	assert_int_equal(tf_index_devices(ix, &d, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(d[i].thin_id, i + 1);
		assert_int_equal(d[i].mapped_chunks, 1000000);
		assert_int_equal(d[i].exclusive_chunks, i == 1 ? 100 : 0);
		assert_int_equal(d[i].shared_chunks, i == 1 ? 999900 : 1000000);
	}
	tf_index_devices_free(d, n);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_int_equal(st.devices_walked, 0);
	tf_index_close(ix);
	tf_pool_close(p);
	sh("rm -rf %s %s*", dir, ixp);
}

/* A rename moves no transaction id: the names-only refresh picks it up
 * from LVM's metadata, changes nothing else, and says so only once. */
static void names_refresh_follows_a_rename_without_the_metadata(void **state)
{
	char dir[600], path[700];
	struct tf_pool *p;
	struct tf_index *ix;
	struct tf_index_stats st;
	struct tf_ix_dev *d;
	size_t n;
	bool changed;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/renamed", workdir);
	snprintf(path, sizeof(path), "%s/renamed.db", workdir);
	sh("mkdir -p %s && cp %s/metadata %s/lvm.cfg %s/ && ln -s %s/data %s/data", dir, demo, demo,
	   dir, demo, dir);
	assert_int_equal(tf_pool_open(dir, NULL, &p), 0);
	assert_int_equal(tf_index_open(path, &ix), 0);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_int_equal(tf_index_refresh_names(ix, p, &changed), 0);
	assert_false(changed);
	tf_pool_close(p);

	sh("sed -i 's/^\\([[:space:]]*\\)scratch {/\\1scratch2 {/' %s/lvm.cfg", dir);
	assert_int_equal(tf_pool_open(dir, NULL, &p), 0);
	assert_int_equal(tf_index_refresh_names(ix, p, &changed), 0);
	assert_true(changed);
	assert_int_equal(tf_index_devices(ix, &d, &n), 0);
	assert_int_equal(n, 5);
	assert_string_equal(d[1].name, "scratch2"); /* sorted by name */
	assert_int_equal(d[1].thin_id, 5);
	assert_int_equal(d[1].mapped_chunks, 5);
	assert_int_equal(d[1].exclusive_chunks, 5);
	tf_index_devices_free(d, n);
	assert_int_equal(tf_index_refresh_names(ix, p, &changed), 0);
	assert_false(changed);
	tf_index_close(ix);
	tf_pool_close(p);
}

/* One device, 600 chunks from data block `base`, and an untouched second
 * device: thin_restore lays the trees out the same way each time, so a
 * second image reuses the first one's blocks for different nodes. */
static void write_reuse_xml(const char *file, unsigned base)
{
	FILE *f = fopen(file, "w");

	assert_non_null(f);
	fprintf(
	    f,
	    "<superblock uuid=\"\" time=\"1\" transaction=\"%u\" flags=\"0\" version=\"2\""
	    " data_block_size=\"128\" nr_data_blocks=\"8192\">\n"
	    " <device dev_id=\"1\" mapped_blocks=\"600\" transaction=\"0\" creation_time=\"0\""
	    " snap_time=\"0\">\n"
	    "  <range_mapping origin_begin=\"0\" data_begin=\"%u\" length=\"600\" time=\"0\"/>\n"
	    " </device>\n"
	    " <device dev_id=\"2\" mapped_blocks=\"10\" transaction=\"0\" creation_time=\"0\""
	    " snap_time=\"0\">\n"
	    "  <range_mapping origin_begin=\"5\" data_begin=\"7000\" length=\"10\" time=\"0\"/>\n"
	    " </device>\n</superblock>\n",
	    base ? 2u : 1u, base);
	fclose(f);
}

/* Blocks are freed and reused: a block that held one node when the index
 * was built holds another now.  The refresh proves nothing from the block
 * number, reads the new nodes and serves the new mappings, never the old. */
static void a_reused_block_serves_the_new_mappings(void **state)
{
	char dir[600], xml[700], ixp[700];
	struct tf_pool *p;
	struct tf_index *ix;
	struct tf_index_stats st;
	struct tf_thin_run *runs;
	struct tf_ix_dev *d;
	size_t n;
	uint64_t first_new, root_before;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/reuse", workdir);
	snprintf(xml, sizeof(xml), "%s/reuse.xml", workdir);
	snprintf(ixp, sizeof(ixp), "%s/reuse.db", workdir);
	write_reuse_xml(xml, 0);
	sh("mkdir -p %s && truncate -s 8M %s/metadata && truncate -s 512M %s/data"
	   " && thin_restore -q -i %s -o %s/metadata",
	   dir, dir, dir, xml, dir);
	assert_int_equal(tf_pool_open(dir, NULL, &p), 0);
	assert_int_equal(tf_index_open(ixp, &ix), 0);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	first_new = st.nodes_new;
	assert_true(first_new >= 4); /* device 1: a root over 3 leaves; device 2: one leaf */
	assert_int_equal(tf_index_devices(ix, &d, &n), 0);
	root_before = d[0].mapping_root;
	tf_index_devices_free(d, n);
	tf_pool_close(p);

	/* The same layout with device 1 mapped elsewhere: same blocks, other nodes. */
	write_reuse_xml(xml, 1000);
	sh("thin_restore -q -i %s -o %s/metadata", xml, dir);
	assert_int_equal(tf_pool_open(dir, NULL, &p), 0);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_false(st.rebuilt);
	assert_int_equal(st.devices_walked, 1);
	assert_int_equal(st.nodes_new, first_new - 1); /* all of device 1 again */
	assert_int_equal(st.nodes_freed, first_new - 1);
	assert_int_equal(tf_index_extents(ix, 1, &runs, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(runs[0].vbegin, 0);
	assert_int_equal(runs[0].dbegin, 1000);
	assert_int_equal(runs[0].len, 600);
	free(runs);
	assert_int_equal(tf_index_extents(ix, 2, &runs, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(runs[0].dbegin, 7000);
	free(runs);
	/* 1000..1599 no longer overlaps device 2's 7000..7009: all exclusive. */
	assert_int_equal(tf_index_devices(ix, &d, &n), 0);
	assert_int_equal(d[0].mapping_root, root_before); /* the very block, reused */
	assert_int_equal(d[0].exclusive_chunks, 600);
	assert_int_equal(d[1].exclusive_chunks, 10);
	tf_index_devices_free(d, n);
	tf_index_close(ix);
	tf_pool_close(p);
}

/* An index file of schema 1 (one row per run per device, extents a table)
 * is dropped and rebuilt into the sharing schema. */
static void an_old_schema_is_dropped_and_rebuilt(void **state)
{
	char path[600];
	struct tf_pool *p;
	struct tf_index *ix;
	struct tf_index_stats st;
	struct tf_thin_run *runs;
	size_t n;

	(void)state;
	snprintf(path, sizeof(path), "%s/v1.db", workdir);
	sh("sqlite3 %s \"CREATE TABLE pool (id INTEGER PRIMARY KEY, identity TEXT, source TEXT,"
	   " chunk_sectors INTEGER, transaction_id INTEGER);"
	   " CREATE TABLE devices (thin_id INTEGER PRIMARY KEY, name TEXT);"
	   " CREATE TABLE extents (dev INTEGER, vbegin INTEGER, dbegin INTEGER, len INTEGER,"
	   " time INTEGER, PRIMARY KEY (dev, vbegin)) WITHOUT ROWID;"
	   " INSERT INTO extents VALUES (1, 0, 999, 1, 0); PRAGMA user_version = 1;\"",
	   path);
	assert_int_equal(tf_pool_open(demo, NULL, &p), 0);
	assert_int_equal(tf_index_open(path, &ix), 0);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_true(st.rebuilt);
	assert_int_equal(st.devices_total, 5);
	assert_int_equal(tf_index_extents(ix, 1, &runs, &n), 0);
	assert_int_equal(n, 16);
	assert_int_equal(runs[0].dbegin, 46); /* not the old table's 999 */
	free(runs);
	tf_index_close(ix);
	tf_pool_close(p);
	sh("test \"$(sqlite3 %s 'PRAGMA user_version')\" = 2", path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(demo_index_equals_lvs_and_thin_ls),
	    cmocka_unit_test(restored_image_refreshes_only_what_changed),
	    cmocka_unit_test(diff_checks_transaction_id),
	    cmocka_unit_test(big_kernel_pool_usage_equals_thin_ls),
	    cmocka_unit_test(names_refresh_follows_a_rename_without_the_metadata),
	    cmocka_unit_test(a_reused_block_serves_the_new_mappings),
	    cmocka_unit_test(an_old_schema_is_dropped_and_rebuilt),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
