/* test_index_sharing.c — the index mirrors the pool's sharing, on the
 * kernel-made pool of one volume and 30 snapshots (kernel-many-snapshots):
 * every device's map from the index equals `thin_dump --dev-id`, usage
 * equals thin_ls, each distinct node is read and stored once, and a
 * refresh to the pool one snapshot later (metadata-plus1) reads exactly the
 * nodes that are new plus one root per kept device, proven against an
 * independent walk of both metadata images. */
#include "testutil.h"

#include "core/base/err.h"
#include "core/io/bio.h"
#include "core/pool/pool.h"
#include "core/thin/thin_meta.h"
#include "index/index.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char workdir[] = "/tmp/thinfs-sharing-XXXXXX";
static char pool_dir[600], fixture[600];

static int setup(void **state)
{
	const char *src = getenv("THINFS_SRCDIR");
	char cmd[8192];

	(void)state;
	if (!src || !mkdtemp(workdir))
		return -1;
	snprintf(pool_dir, sizeof(pool_dir), "%s/pool", workdir);
	snprintf(fixture, sizeof(fixture), "%s/tests/fixtures/kernel-many-snapshots", src);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s && zstd -q -d %s/metadata.zst -o %s/metadata"
		 " && zstd -q -d %s/metadata-plus1.zst -o %s/metadata-plus1"
		 " && cp %s/lvm.cfg %s/lvm.cfg && truncate -s 13107200000 %s/data",
		 pool_dir, fixture, pool_dir, fixture, workdir, fixture, pool_dir, pool_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", workdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The device's map from the index, chunk by chunk, equals what
 * `thin_dump --dev-id` prints for it. */
static void assert_map_equals_thin_dump(struct tf_index *ix, uint32_t dev)
{
	char cmd[2048], line[128];
	struct tf_thin_run *runs;
	size_t n, i = 0;
	uint64_t off = 0, chunks = 0;
	FILE *f;

	assert_int_equal(tf_index_extents(ix, dev, &runs, &n), 0);
	snprintf(
	    cmd, sizeof(cmd),
	    "thin_dump --dev-id %u %s/metadata | awk '"
	    "function a(k) { match($0, k \"=\\\"[0-9]+\\\"\"); return substr($0, RSTART + "
	    "length(k) + 2, RLENGTH - length(k) - 3) + 0 }"
	    "/<single_mapping/ { print a(\"origin_block\"), a(\"data_block\"), a(\"time\") }"
	    "/<range_mapping/ { for (i = 0; i < a(\"length\"); i++) print a(\"origin_begin\") + "
	    "i, a(\"data_begin\") + i, a(\"time\") }'",
	    dev, pool_dir);
	assert_non_null(f = popen(cmd, "r"));
	while (fgets(line, sizeof(line), f)) {
		uint64_t v, d;
		unsigned t;

		assert_int_equal(sscanf(line, "%" SCNu64 " %" SCNu64 " %u", &v, &d, &t), 3);
		if (i < n && off == runs[i].len) {
			i++;
			off = 0;
		}
		if (i >= n)
			fail_msg("device %u: thin_dump maps chunk %" PRIu64 " past the index's map",
				 dev, v);
		if (runs[i].vbegin + off != v || runs[i].dbegin + off != d || runs[i].time != t)
			fail_msg(
			    "device %u: thin_dump maps %" PRIu64 " -> %" PRIu64 " (time %u), the "
			    "index %" PRIu64 " -> %" PRIu64 " (time %u)",
			    dev, v, d, t, runs[i].vbegin + off, runs[i].dbegin + off, runs[i].time);
		off++;
		chunks++;
	}
	assert_int_equal(pclose(f), 0);
	assert_true(i + 1 == n || (n == 0 && chunks == 0));
	assert_int_equal(off, n ? runs[n - 1].len : 0);
	free(runs);
}

static void assert_usage_equals_thin_ls(struct tf_index *ix)
{
	char cmd[1024];
	struct tf_ix_dev *d;
	size_t n, seen = 0;
	unsigned id;
	uint64_t mapped, excl, shared;
	FILE *f;

	assert_int_equal(tf_index_devices(ix, &d, &n), 0);
	snprintf(cmd, sizeof(cmd),
		 "thin_ls --no-headers -o DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS "
		 "%s/metadata",
		 pool_dir);
	assert_non_null(f = popen(cmd, "r"));
	while (fscanf(f, "%u %" SCNu64 " %" SCNu64 " %" SCNu64, &id, &mapped, &excl, &shared) ==
	       4) {
		size_t i = 0;

		while (i < n && d[i].thin_id != id)
			i++;
		assert_true(i < n);
		if (d[i].mapped_chunks != mapped || d[i].exclusive_chunks != excl ||
		    d[i].shared_chunks != shared)
			fail_msg("device %u: thin_ls says %" PRIu64 "/%" PRIu64 "/%" PRIu64
				 ", the index %" PRIu64 "/%" PRIu64 "/%" PRIu64,
				 id, mapped, excl, shared, d[i].mapped_chunks,
				 d[i].exclusive_chunks, d[i].shared_chunks);
		seen++;
	}
	assert_int_equal(pclose(f), 0);
	assert_int_equal(seen, n);
	tf_index_devices_free(d, n);
}

/* An independent census of a metadata image: every distinct node of the
 * mapping trees, as (block, checksum, digest). */
struct census {
	struct {
		uint64_t block;
		uint32_t csum;
		uint8_t digest[16];
	} * v;
	size_t n, cap;
};

static bool census_has(const struct census *c, uint64_t block)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].block == block)
			return true;
	return false;
}

static void census_walk(struct tf_thin_meta *m, uint64_t block, struct census *c)
{
	struct tf_thin_node *node;

	if (census_has(c, block))
		return;
	assert_non_null(node = malloc(sizeof(*node)));
	assert_int_equal(tf_thin_node_read(m, block, "census", node, NULL), 0);
	if (c->n == c->cap)
		assert_non_null(c->v = realloc(c->v, (c->cap = 2 * c->cap + 64) * sizeof(*c->v)));
	c->v[c->n].block = block;
	c->v[c->n].csum = node->csum;
	memcpy(c->v[c->n].digest, node->digest, 16);
	c->n++;
	for (uint32_t i = 0; !node->leaf && i < node->n; i++)
		census_walk(m, node->child[i], c);
	free(node);
}

static void census_take(const char *metadata, struct census *c, struct tf_thin_dev **devs,
			size_t *ndev)
{
	struct tf_bio *bio;
	struct tf_thin_meta *m;

	memset(c, 0, sizeof(*c));
	assert_int_equal(tf_bio_open_file(metadata, 0, &bio), 0);
	assert_int_equal(tf_thin_open(bio, 0, &m), 0);
	assert_int_equal(tf_thin_devices(m, devs, ndev), 0);
	for (size_t i = 0; i < *ndev; i++)
		census_walk(m, (*devs)[i].mapping_root, c);
	tf_thin_close(m);
	tf_bio_close(bio);
}

static void many_snapshots_share_nodes_and_refresh_reads_only_new_ones(void **state)
{
	char ixp[700], path[700];
	struct census before, after;
	struct tf_thin_dev *devs_before, *devs_after;
	size_t nbefore, nafter;
	struct tf_index_stats st;
	struct tf_ix_pool ip;
	struct tf_index *ix;
	struct tf_pool *p;

	(void)state;
	snprintf(ixp, sizeof(ixp), "%s/ix.db", workdir);
	snprintf(path, sizeof(path), "%s/metadata", pool_dir);
	census_take(path, &before, &devs_before, &nbefore);
	snprintf(path, sizeof(path), "%s/metadata-plus1", workdir);
	census_take(path, &after, &devs_after, &nafter);
	assert_int_equal(nbefore, 31);
	assert_int_equal(nafter, 32);

	/* A full build reads and stores each distinct node once. */
	assert_int_equal(tf_pool_open(pool_dir, NULL, &p), 0);
	assert_int_equal(tf_index_open(ixp, &ix), 0);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_true(st.rebuilt);
	assert_int_equal(st.devices_total, 31);
	assert_int_equal(st.nodes_new, before.n);
	assert_int_equal(st.nodes_read, before.n);
	assert_int_equal(tf_index_pool(ix, &ip), 0);
	/* Far fewer nodes than devices x leaves: 31 trees of ~100,000 mappings. */
	assert_true(before.n < ip.metadata_nr_allocated);
	for (uint32_t dev = 1; dev <= 31; dev++)
		assert_map_equals_thin_dump(ix, dev);
	assert_usage_equals_thin_ls(ix);
	tf_pool_close(p);

	/* One snapshot later: the new nodes are those whose block now holds
	 * something the first image did not have there. */
	size_t fresh = 0, kept_roots = 0;
	for (size_t i = 0; i < after.n; i++) {
		bool same = false;
		for (size_t j = 0; j < before.n && !same; j++)
			same = before.v[j].block == after.v[i].block &&
			       before.v[j].csum == after.v[i].csum &&
			       memcmp(before.v[j].digest, after.v[i].digest, 16) == 0;
		fresh += !same;
	}
	for (size_t i = 0; i < nafter; i++) {
		bool root_seen_before = false, dup = false;

		for (size_t j = 0; j < i; j++)
			dup |= devs_after[j].mapping_root == devs_after[i].mapping_root;
		for (size_t j = 0; j < nbefore; j++)
			root_seen_before |=
			    devs_before[j].mapping_root == devs_after[i].mapping_root;
		kept_roots += !dup && root_seen_before;
	}
	sh("cp %s/metadata-plus1 %s/metadata && cp %s/lvm-plus1.cfg %s/lvm.cfg", workdir, pool_dir,
	   fixture, pool_dir);
	assert_int_equal(tf_pool_open(pool_dir, NULL, &p), 0);
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_false(st.rebuilt);
	assert_int_equal(st.devices_total, 32);
	assert_int_equal(st.nodes_new, fresh);
	/* Each kept device's root is read once to prove it; below a proven
	 * root nothing is read; every new node is read once. */
	assert_int_equal(st.nodes_read, fresh + kept_roots);
	assert_true(st.nodes_read < after.n / 4);
	print_message("refresh to metadata-plus1: %" PRIu64 " of %zu distinct nodes read, %" PRIu64
		      " new, %" PRIu64 " freed\n",
		      st.nodes_read, after.n, st.nodes_new, st.nodes_freed);
	for (uint32_t dev = 1; dev <= 32; dev++)
		assert_map_equals_thin_dump(ix, dev);
	assert_usage_equals_thin_ls(ix);

	/* Nothing changed: one read per root, nothing stored. */
	assert_int_equal(tf_index_refresh(ix, p, false, &st), 0);
	assert_int_equal(st.nodes_new, 0);
	assert_int_equal(st.devices_walked, 0);
	tf_index_close(ix);
	tf_pool_close(p);
	free(before.v);
	free(after.v);
	free(devs_before);
	free(devs_after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(many_snapshots_share_nodes_and_refresh_reads_only_new_ones),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
