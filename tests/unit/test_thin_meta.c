/* test_thin_meta.c — the metadata reader on kernel-written metadata: what
 * it reads, that a diff reads only what changed, and that every kind of
 * corruption ends in an error naming the block, never a crash or a hang. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#include "core/base/err.h"
#include "core/io/bio.h"
#include "core/io/crc32c.h"
#include "core/thin/btree.h"
#include "core/thin/thin_format.h"
#include "core/thin/thin_meta.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char workdir[] = "/tmp/thinfs-meta-XXXXXX";
static char big[512];  /* kernel-1m-mappings metadata, pristine */
static char demo[512]; /* kernel-pool-demo metadata */

static int setup(void **state)
{
	const char *src = getenv("THINFS_SRCDIR");

	(void)state;
	if (!src || !mkdtemp(workdir))
		return -1;
	snprintf(big, sizeof(big), "%s/big.meta", workdir);
	snprintf(demo, sizeof(demo), "%s/demo.meta", workdir);
	sh("zstd -q -d --sparse %s/tests/fixtures/kernel-1m-mappings/metadata.zst -o %s", src, big);
	sh("zstd -q -d %s/tests/fixtures/kernel-pool-demo/metadata.zst -o %s", src, demo);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sh("rm -rf %s", workdir);
	return 0;
}

struct runs {
	struct tf_thin_run v[64];
	size_t n;
	uint64_t chunks;
};

static int note_run(void *ctx, const struct tf_thin_run *r)
{
	struct runs *rs = ctx;

	if (rs->n < 64)
		rs->v[rs->n] = *r;
	rs->n++;
	rs->chunks += r->len;
	return 0;
}

static int note_change(void *ctx, enum tf_diff_kind kind, const struct tf_thin_run *r)
{
	(void)kind;
	return note_run(ctx, r);
}

static void reads_the_kernel_written_superblock_and_devices(void **state)
{
	struct tf_thin_meta *m;
	struct tf_thin_dev *d;
	struct tf_bio *b;
	size_t n;

	(void)state;
	assert_int_equal(tf_bio_open_file(demo, 0, &b), 0);
	assert_int_equal(tf_thin_open(b, 0, &m), 0);
	assert_int_equal(tf_thin_info(m)->transaction_id, 5);
	assert_int_equal(tf_thin_info(m)->data_block_size, 256);
	assert_int_equal(tf_thin_info(m)->data_nr_blocks, 768);
	assert_int_equal(tf_thin_devices(m, &d, &n), 0);
	assert_int_equal(n, 5);
	/* thin_dump: device 1 maps 48 blocks, device 5 maps 5. */
	assert_int_equal(d[0].dev_id, 1);
	assert_int_equal(d[0].mapped_blocks, 48);
	assert_int_equal(d[4].mapped_blocks, 5);
	free(d);
	tf_thin_close(m);
	tf_bio_close(b);
}

static void walk_coalesces_runs_as_thin_dump_does(void **state)
{
	struct tf_thin_meta *m;
	struct tf_bio *b;
	struct runs rs = {0};

	(void)state;
	assert_int_equal(tf_bio_open_file(demo, 0, &b), 0);
	assert_int_equal(tf_thin_open(b, 0, &m), 0);
	assert_int_equal(tf_thin_walk(m, 1, note_run, &rs, NULL), 0);
	/* thin_dump.xml, device 1: 16 entries, the 385+32 range among them. */
	assert_int_equal(rs.n, 16);
	assert_int_equal(rs.chunks, 48);
	assert_int_equal(rs.v[12].vbegin, 385);
	assert_int_equal(rs.v[12].dbegin, 4);
	assert_int_equal(rs.v[12].len, 32);
	assert_int_equal(tf_thin_walk(m, 99, note_run, &rs, NULL), -ENOENT);
	tf_thin_close(m);
	tf_bio_close(b);
}

static void diff_of_kernel_snapshots_reads_only_the_changed_paths(void **state)
{
	struct tf_walk_stats st = {0};
	struct tf_thin_meta *m;
	struct tf_bio *b;
	struct runs rs = {0};

	(void)state;
	assert_int_equal(tf_bio_open_file(big, 0, &b), 0);
	assert_int_equal(tf_thin_open(b, 0, &m), 0);
	assert_int_equal(tf_thin_diff(m, 2, 3, note_change, &rs, &st), 0);
	/* 100 chunks changed in 10 clusters of 10 starting at 777 + k*100000. */
	assert_int_equal(rs.chunks, 100);
	assert_int_equal(rs.n, 10);
	assert_int_equal(rs.v[0].vbegin, 777);
	assert_int_equal(rs.v[9].vbegin, 900777);
	/* The fixture's README measured 42 of 8,102 nodes. */
	assert_true(st.nodes_read <= 60);
	assert_true(st.nodes_skipped_shared > 0);
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(tf_thin_diff(m, 1, 3, note_change, &rs, NULL), 0);
	assert_int_equal(rs.n, 0); /* 3 was snapshotted from 1 after the changes */
	tf_thin_close(m);
	tf_bio_close(b);
}

/* ---- corruption ---- */

/* A private copy of the big image to damage. */
static void copy_big(char *path, size_t len)
{
	snprintf(path, len, "%s/damaged.meta", workdir);
	sh("cp --sparse=always %s %s", big, path);
}

static void put_block(const char *path, uint64_t block, const uint8_t *buf)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, TF_META_BLOCK_SIZE, (off_t)(block * TF_META_BLOCK_SIZE)),
			 TF_META_BLOCK_SIZE);
	close(fd);
}

static void get_block(const char *path, uint64_t block, uint8_t *buf)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, TF_META_BLOCK_SIZE, (off_t)(block * TF_META_BLOCK_SIZE)),
			 TF_META_BLOCK_SIZE);
	close(fd);
}

static void reseal(uint8_t *buf, uint32_t xor)
{
	uint32_t c = tf_crc32c(0xffffffffu, buf + 4, TF_META_BLOCK_SIZE - 4) ^ xor;

	memcpy(buf, &c, 4);
}

/* Blocks of device 1's tree: its root, an internal node below the root,
 * and a leaf; and the root of the details tree. */
struct landmarks {
	uint64_t root, internal, leaf, details_root;
};

static void find_landmarks(const char *path, struct landmarks *lm)
{
	struct tf_thin_meta *m;
	struct tf_thin_dev *d;
	struct tf_node *n = malloc(sizeof(*n));
	struct tf_btree_io io;
	struct tf_bio *b;
	size_t nd;

	assert_int_equal(tf_bio_open_file(path, 0, &b), 0);
	assert_int_equal(tf_thin_open(b, 0, &m), 0);
	assert_int_equal(tf_thin_devices(m, &d, &nd), 0);
	lm->root = d[0].mapping_root;
	lm->details_root = tf_thin_info(m)->device_details_root;
	io.bio = b;
	io.nr_blocks = tf_thin_info(m)->metadata_nr_blocks;
	assert_int_equal(tf_node_read(&io, lm->root, 8, "test", n), 0);
	assert_false(n->leaf); /* 1M mappings: at least three levels */
	memcpy(&lm->internal, tf_node_value(n, 0), 8);
	assert_int_equal(tf_node_read(&io, lm->internal, 8, "test", n), 0);
	assert_false(n->leaf);
	memcpy(&lm->leaf, tf_node_value(n, 1), 8);
	while (tf_node_read(&io, lm->leaf, 8, "test", n) == 0 && !n->leaf)
		memcpy(&lm->leaf, tf_node_value(n, 0), 8);
	assert_true(n->leaf);
	free(n);
	free(d);
	tf_thin_close(m);
	tf_bio_close(b);
}

/* Opens the image and walks everything; returns the first error. */
static int walk_all(const char *path)
{
	struct tf_thin_meta *m;
	struct tf_thin_dev *d = NULL;
	struct runs rs = {0};
	struct tf_bio *b;
	size_t nd = 0;
	int rc;

	assert_int_equal(tf_bio_open_file(path, 0, &b), 0);
	rc = tf_thin_open(b, 0, &m);
	if (rc == 0) {
		rc = tf_thin_devices(m, &d, &nd);
		for (size_t i = 0; rc == 0 && i < nd; i++)
			rc = tf_thin_walk(m, d[i].dev_id, note_run, &rs, NULL);
		if (rc == 0)
			rc = tf_thin_diff(m, 1, 2, note_change, &rs, NULL);
		free(d);
		tf_thin_close(m);
	}
	tf_bio_close(b);
	return rc;
}

static void expect_error_naming(int rc, uint64_t block, const char *cause)
{
	char want[64];

	snprintf(want, sizeof(want), "metadata block %" PRIu64, block);
	assert_true(rc < 0);
	if (!strstr(tf_errmsg(), want) || !strstr(tf_errmsg(), cause))
		fail_msg("message '%s' should name '%s' and '%s'", tf_errmsg(), want, cause);
}

static void flip_and_expect(uint64_t block, size_t byte, const char *cause)
{
	char path[600];
	uint8_t buf[TF_META_BLOCK_SIZE];

	copy_big(path, sizeof(path));
	get_block(path, block, buf);
	buf[byte] ^= 0x40;
	put_block(path, block, buf);
	expect_error_naming(walk_all(path), block, cause);
}

static void detects_a_flipped_byte_in_the_superblock(void **state)
{
	(void)state;
	flip_and_expect(0, 400, "checksum mismatch");
}

static void detects_a_flipped_byte_in_an_interior_node(void **state)
{
	struct landmarks lm;

	(void)state;
	find_landmarks(big, &lm);
	flip_and_expect(lm.internal, 100, "checksum mismatch");
}

static void detects_a_flipped_byte_in_a_leaf(void **state)
{
	struct landmarks lm;

	(void)state;
	find_landmarks(big, &lm);
	flip_and_expect(lm.leaf, 3000, "checksum mismatch");
}

static void detects_a_flipped_byte_in_the_device_details_tree(void **state)
{
	struct landmarks lm;

	(void)state;
	find_landmarks(big, &lm);
	flip_and_expect(lm.details_root, 40, "checksum mismatch");
}

static void refuses_a_child_pointing_at_its_parent(void **state)
{
	struct landmarks lm;
	char path[600];
	uint8_t buf[TF_META_BLOCK_SIZE];
	uint32_t max;

	(void)state;
	find_landmarks(big, &lm);
	copy_big(path, sizeof(path));
	/* The interior node's second child becomes the root again, with a valid
	 * checksum: only the cycle is wrong. */
	get_block(path, lm.internal, buf);
	memcpy(&max, buf + 20, 4);
	memcpy(buf + 32 + 8 * (size_t)max + 8, &lm.root, 8);
	reseal(buf, TF_NODE_CSUM_XOR);
	put_block(path, lm.internal, buf);
	assert_true(walk_all(path) < 0);
	assert_non_null(strstr(tf_errmsg(), "metadata block"));
	if (!strstr(tf_errmsg(), "reached twice") && !strstr(tf_errmsg(), "outside the range") &&
	    !strstr(tf_errmsg(), "deeper"))
		fail_msg("unexpected message: %s", tf_errmsg());
}

static void refuses_more_entries_than_fit(void **state)
{
	struct landmarks lm;
	char path[600];
	uint8_t buf[TF_META_BLOCK_SIZE];
	uint32_t nr = 1000;

	(void)state;
	find_landmarks(big, &lm);
	copy_big(path, sizeof(path));
	get_block(path, lm.leaf, buf);
	memcpy(buf + 16, &nr, 4);
	reseal(buf, TF_NODE_CSUM_XOR);
	put_block(path, lm.leaf, buf);
	expect_error_naming(walk_all(path), lm.leaf, "exceed");
}

static void refuses_a_mapping_past_the_data_device(void **state)
{
	struct landmarks lm;
	char path[600];
	uint8_t buf[TF_META_BLOCK_SIZE];
	uint32_t max;
	uint64_t v = (uint64_t)1 << 50;

	(void)state;
	find_landmarks(big, &lm);
	copy_big(path, sizeof(path));
	get_block(path, lm.leaf, buf);
	memcpy(&max, buf + 20, 4);
	memcpy(buf + 32 + 8 * (size_t)max, &v, 8);
	reseal(buf, TF_NODE_CSUM_XOR);
	put_block(path, lm.leaf, buf);
	assert_true(walk_all(path) < 0);
	assert_non_null(strstr(tf_errmsg(), "past the end of the data device"));
}

static void reports_a_truncated_image(void **state)
{
	char path[600];

	(void)state;
	copy_big(path, sizeof(path));
	assert_int_equal(truncate(path, 1 << 20), 0);
	assert_true(walk_all(path) < 0);
	assert_non_null(strstr(tf_errmsg(), "truncated"));
	assert_int_equal(truncate(path, 100), 0);
	assert_true(walk_all(path) < 0);
	assert_non_null(strstr(tf_errmsg(), "truncated"));
}

static void a_read_error_names_the_block(void **state)
{
	struct landmarks lm;
	struct tf_thin_meta *m;
	struct tf_bio *b, *f;
	struct runs rs = {0};

	(void)state;
	find_landmarks(big, &lm);
	assert_int_equal(tf_bio_open_file(big, 0, &b), 0);
	assert_int_equal(tf_bio_open_faulty(b, lm.leaf * TF_META_BLOCK_SIZE, 1, &f), 0);
	assert_int_equal(tf_thin_open(f, 0, &m), 0);
	expect_error_naming(tf_thin_walk(m, 1, note_run, &rs, NULL), lm.leaf, "injected");
	tf_thin_close(m);
	tf_bio_close(f);
	tf_bio_close(b);
}

/* ---- generated pools against the thin tools ---- */

/* Pools of every shape gen-pool.sh makes (range and single mappings, blocks
 * shared with a snapshot, a snapshot whose origin was deleted, a device with
 * no mappings), at the smallest chunk size with enough mappings for interior
 * nodes, and at a 1 GiB chunk. */
static const struct gen_case {
	const char *name;
	unsigned chunk;
	unsigned n;
} gen_cases[] = {
    {"g128", 128, 100000},
    {"g1g", 2097152, 3000},
};

static const char *kind_name(enum tf_diff_kind k)
{
	return k == TF_DIFF_LEFT_ONLY	 ? "left_only"
	       : k == TF_DIFF_RIGHT_ONLY ? "right_only"
					 : "different";
}

static int print_run(void *ctx, const struct tf_thin_run *r)
{
	for (uint64_t i = 0; i < r->len; i++)
		fprintf(ctx, "%" PRIu64 " %" PRIu64 " %" PRIu32 "\n", r->vbegin + i, r->dbegin + i,
			r->time);
	return 0;
}

static int print_change(void *ctx, enum tf_diff_kind kind, const struct tf_thin_run *r)
{
	for (uint64_t i = 0; i < r->len; i++)
		fprintf(ctx, "%s %" PRIu64 "\n", kind_name(kind), r->vbegin + i);
	return 0;
}

static void open_gen(const struct gen_case *gc, char *meta, size_t len, struct tf_bio **b,
		     struct tf_thin_meta **m)
{
	const char *src = getenv("THINFS_SRCDIR");

	snprintf(meta, len, "%s/%s/metadata", workdir, gc->name);
	if (access(meta, R_OK) != 0)
		sh(". %s/tests/gen-pool.sh && gen_pool %s/%s %u %u", src, workdir, gc->name,
		   gc->chunk, gc->n);
	assert_int_equal(tf_bio_open_file(meta, 0, b), 0);
	assert_int_equal(tf_thin_open(*b, 0, m), 0);
	assert_int_equal(tf_thin_info(*m)->data_block_size, gc->chunk);
}

static void walk_matches_thin_dump(void **state)
{
	static const uint32_t devs[] = {1, 2, 3, 5};
	const char *src = getenv("THINFS_SRCDIR");
	struct tf_thin_meta *m;
	struct tf_bio *b;
	char meta[600], out[600];

	(void)state;
	for (size_t c = 0; c < sizeof(gen_cases) / sizeof(gen_cases[0]); c++) {
		open_gen(&gen_cases[c], meta, sizeof(meta), &b, &m);
		for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
			struct tf_walk_stats st = {0};
			FILE *f;

			snprintf(out, sizeof(out), "%s/walk.%s.%u", workdir, gen_cases[c].name,
				 devs[i]);
			assert_non_null(f = fopen(out, "w"));
			assert_int_equal(tf_thin_walk(m, devs[i], print_run, f, &st), 0);
			fclose(f);
			if (gen_cases[c].n >= 100000 && devs[i] == 1)
				assert_true(st.nodes_read > 100); /* interior nodes were walked */
			sh("%s/tests/fixtures/gen/oracle.sh mappings %s %u >%s.expected && cmp -s "
			   "%s %s.expected",
			   src, meta, devs[i], out, out, out);
		}
		/* The deleted origin is gone; the snapshot made from it still walks. */
		assert_int_equal(tf_thin_walk(m, 4, print_run, stderr, NULL), -ENOENT);
		tf_thin_close(m);
		tf_bio_close(b);
	}
}

static void diff_matches_thin_delta(void **state)
{
	static const uint32_t pairs[][2] = {{1, 2}, {2, 1}, {1, 3}, {3, 2}, {5, 1}, {2, 2}};
	const char *src = getenv("THINFS_SRCDIR");
	struct tf_thin_meta *m;
	struct tf_bio *b;
	char meta[600], out[600];

	(void)state;
	for (size_t c = 0; c < sizeof(gen_cases) / sizeof(gen_cases[0]); c++) {
		open_gen(&gen_cases[c], meta, sizeof(meta), &b, &m);
		for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
			FILE *f;

			snprintf(out, sizeof(out), "%s/delta.%s.%u.%u", workdir, gen_cases[c].name,
				 pairs[i][0], pairs[i][1]);
			assert_non_null(f = fopen(out, "w"));
			assert_int_equal(
			    tf_thin_diff(m, pairs[i][0], pairs[i][1], print_change, f, NULL), 0);
			fclose(f);
			sh("%s/tests/fixtures/gen/oracle.sh delta %s %u %u >%s.expected && cmp -s "
			   "%s %s.expected",
			   src, meta, pairs[i][0], pairs[i][1], out, out, out);
		}
		tf_thin_close(m);
		tf_bio_close(b);
	}
}

/* Kernel metadata whose origin was provisioned in scrambled order: nearly
 * one run per chunk, and the diff must still read only the changed paths. */
static void diff_of_scrambled_kernel_snapshots_matches_thin_delta(void **state)
{
	static const uint32_t pairs[][2] = {{2, 3}, {3, 2}, {1, 2}, {1, 3}};
	const char *src = getenv("THINFS_SRCDIR");
	struct tf_thin_meta *m;
	struct tf_bio *b;
	char meta[600], out[600];

	(void)state;
	snprintf(meta, sizeof(meta), "%s/scrambled.meta", workdir);
	sh("zstd -q -d --sparse %s/tests/fixtures/kernel-1m-scrambled/metadata.zst -o %s", src,
	   meta);
	assert_int_equal(tf_bio_open_file(meta, 0, &b), 0);
	assert_int_equal(tf_thin_open(b, 0, &m), 0);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct tf_walk_stats st = {0};
		FILE *f;

		snprintf(out, sizeof(out), "%s/delta.scrambled.%u.%u", workdir, pairs[i][0],
			 pairs[i][1]);
		assert_non_null(f = fopen(out, "w"));
		assert_int_equal(tf_thin_diff(m, pairs[i][0], pairs[i][1], print_change, f, &st),
				 0);
		fclose(f);
		/* The fixture's README measured 44 of 9,188 nodes for 2 vs 3. */
		assert_true(st.nodes_read <= 60);
		sh("%s/tests/fixtures/gen/oracle.sh delta %s %u %u >%s.expected && cmp -s %s "
		   "%s.expected",
		   src, meta, pairs[i][0], pairs[i][1], out, out, out);
	}
	tf_thin_close(m);
	tf_bio_close(b);
	sh("rm -f %s", meta);
}

/* Every device of the kernel-written demo pool, against the thin_dump.xml
 * kept beside it (written by the kernel's pool at fixture time) and against
 * thin_dump run on the image now. */
static void walk_of_every_kernel_demo_device_matches_its_thin_dump(void **state)
{
	const char *src = getenv("THINFS_SRCDIR");
	struct tf_thin_meta *m;
	struct tf_thin_dev *d;
	struct tf_bio *b;
	char out[600];
	size_t n;

	(void)state;
	assert_int_equal(tf_bio_open_file(demo, 0, &b), 0);
	assert_int_equal(tf_thin_open(b, 0, &m), 0);
	assert_int_equal(tf_thin_devices(m, &d, &n), 0);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		struct runs rs = {0};
		FILE *f;

		snprintf(out, sizeof(out), "%s/walk.demo.%u", workdir, d[i].dev_id);
		assert_non_null(f = fopen(out, "w"));
		assert_int_equal(tf_thin_walk(m, d[i].dev_id, print_run, f, NULL), 0);
		fclose(f);
		assert_int_equal(tf_thin_walk(m, d[i].dev_id, note_run, &rs, NULL), 0);
		assert_int_equal(rs.chunks, d[i].mapped_blocks);
		sh("%s/tests/fixtures/gen/oracle.sh mappings "
		   "%s/tests/fixtures/kernel-pool-demo/thin_dump.xml %u"
		   " >%s.kept && cmp -s %s %s.kept",
		   src, src, d[i].dev_id, out, out, out);
		sh("%s/tests/fixtures/gen/oracle.sh mappings %s %u >%s.now && cmp -s %s %s.now",
		   src, demo, d[i].dev_id, out, out, out);
	}
	free(d);
	tf_thin_close(m);
	tf_bio_close(b);
}

/* A held metadata snapshot: a copy of the superblock at another block with
 * its own block number.  It opens like block 0 and sees the same devices;
 * a block number that does not match where it was read is refused. */
static void opens_a_held_metadata_snapshot(void **state)
{
	uint8_t blk[TF_META_BLOCK_SIZE];
	struct tf_thin_meta *m;
	struct tf_thin_dev *d0, *d1;
	struct tf_bio *b;
	char path[600];
	size_t n0, n1;
	uint64_t held, nr;

	(void)state;
	snprintf(path, sizeof(path), "%s/held.meta", workdir);
	sh("cp %s %s", demo, path);
	get_block(path, 0, blk);
	memcpy(&nr, blk + offsetof(struct tf_disk_sb, metadata_nr_blocks), 8);
	held = nr - 1;
	memcpy(blk + offsetof(struct tf_disk_sb, blocknr), &held, 8);
	reseal(blk, TF_SB_CSUM_XOR);
	put_block(path, held, blk);

	assert_int_equal(tf_bio_open_file(path, 0, &b), 0);
	assert_int_equal(tf_thin_open(b, 0, &m), 0);
	assert_int_equal(tf_thin_devices(m, &d0, &n0), 0);
	tf_thin_close(m);
	assert_int_equal(tf_thin_open(b, held, &m), 0);
	assert_int_equal(tf_thin_info(m)->sb_block, held);
	assert_int_equal(tf_thin_info(m)->data_nr_blocks, 768);
	assert_int_equal(tf_thin_devices(m, &d1, &n1), 0);
	assert_int_equal(n1, n0);
	assert_memory_equal(d1, d0, n0 * sizeof(*d0));
	tf_thin_close(m);
	free(d0);
	free(d1);
	/* Block 0 read as if it were the snapshot at block held - 1. */
	get_block(path, 0, blk);
	put_block(path, held - 1, blk);
	expect_error_naming(tf_thin_open(b, held - 1, &m), held - 1, "says it is block 0");
	tf_bio_close(b);
}

/* Structural damage that checksums do not catch: random bytes written into
 * the demo pool's blocks, each block resealed so only its content is wrong.
 * Every open, listing, walk and diff must end in success or in an error with
 * a message — never a crash, a sanitizer report or a hang. */
static int count_any(void *ctx, enum tf_diff_kind kind, const struct tf_thin_run *r)
{
	(void)kind;
	return note_run(ctx, r);
}

static void survives_resealed_random_damage(void **state)
{
	const size_t len = 4u << 20;
	uint8_t *pristine = malloc(len), *img = malloc(len);
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned errors = 0;
	FILE *f;

	(void)state;
	assert_non_null(pristine);
	assert_non_null(img);
	assert_non_null(f = fopen(demo, "rb"));
	assert_int_equal(fread(pristine, 1, len, f), len);
	fclose(f);
	/* The blocks worth damaging: the superblock and every btree node (its
	 * checksum verifies with the node salt); space-map blocks are not read. */
	uint64_t nodes[1024];
	size_t nn = 0;
	nodes[nn++] = 0;
	for (uint64_t blk = 1; blk < len / TF_META_BLOCK_SIZE && nn < 1024; blk++) {
		const uint8_t *p = pristine + blk * TF_META_BLOCK_SIZE;
		uint32_t c =
		    tf_crc32c(0xffffffffu, p + 4, TF_META_BLOCK_SIZE - 4) ^ TF_NODE_CSUM_XOR;

		if (memcmp(&c, p, 4) == 0)
			nodes[nn++] = blk;
	}
	assert_true(nn > 5);
	for (int iter = 0; iter < 400; iter++) {
		struct tf_thin_meta *m;
		struct tf_thin_dev *d;
		struct tf_bio *b;
		size_t n;
		int rc;

		memcpy(img, pristine, len);
		for (int k = 0; k < 1 + iter % 4; k++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t blk = nodes[(seed >> 33) % nn];
			size_t off = 4 + (size_t)((seed >> 8) % (TF_META_BLOCK_SIZE - 4));
			uint8_t *p = img + blk * TF_META_BLOCK_SIZE;

			/* Every other image: the node header (flags, blocknr, counts), where
			 * nearly any change is structural and must be refused. */
			if (iter % 2)
				off = 4 + off % 28;
			p[off] = (uint8_t)(seed >> 56);
			reseal(p, blk == 0 ? TF_SB_CSUM_XOR : TF_NODE_CSUM_XOR);
		}
		assert_int_equal(tf_bio_open_mem(img, len, "damaged", &b), 0);
		tf_err_clear();
		rc = tf_thin_open(b, 0, &m);
		if (rc == 0) {
			rc = tf_thin_devices(m, &d, &n);
			if (rc == 0) {
				for (size_t i = 0; i < n && rc >= 0; i++) {
					struct runs rs = {0};

					rc = tf_thin_walk(m, d[i].dev_id, note_run, &rs, NULL);
					if (rc >= 0 && i > 0)
						rc = tf_thin_diff(m, d[i - 1].dev_id, d[i].dev_id,
								  count_any, &rs, NULL);
				}
				free(d);
			}
			tf_thin_close(m);
		}
		if (rc < 0) {
			errors++;
			assert_true(strlen(tf_errmsg()) > 10);
		}
		tf_bio_close(b);
	}
	/* The damage is real and some of it must be noticed; much of it is not
	 * an error at all (a stale copy-on-write node no tree reaches still
	 * checksums as a node; a changed data block or unused slot is valid). */
	print_message("%u of 400 damaged images refused\n", errors);
	assert_true(errors >= 25);
	free(pristine);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reads_the_kernel_written_superblock_and_devices),
	    cmocka_unit_test(opens_a_held_metadata_snapshot),
	    cmocka_unit_test(walk_coalesces_runs_as_thin_dump_does),
	    cmocka_unit_test(diff_of_kernel_snapshots_reads_only_the_changed_paths),
	    cmocka_unit_test(detects_a_flipped_byte_in_the_superblock),
	    cmocka_unit_test(detects_a_flipped_byte_in_an_interior_node),
	    cmocka_unit_test(detects_a_flipped_byte_in_a_leaf),
	    cmocka_unit_test(detects_a_flipped_byte_in_the_device_details_tree),
	    cmocka_unit_test(refuses_a_child_pointing_at_its_parent),
	    cmocka_unit_test(refuses_more_entries_than_fit),
	    cmocka_unit_test(refuses_a_mapping_past_the_data_device),
	    cmocka_unit_test(reports_a_truncated_image),
	    cmocka_unit_test(a_read_error_names_the_block),
	    cmocka_unit_test(survives_resealed_random_damage),
	    cmocka_unit_test(walk_matches_thin_dump),
	    cmocka_unit_test(diff_matches_thin_delta),
	    cmocka_unit_test(walk_of_every_kernel_demo_device_matches_its_thin_dump),
	    cmocka_unit_test(diff_of_scrambled_kernel_snapshots_matches_thin_delta),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
