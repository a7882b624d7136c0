/* thin_meta.c — a validated view of dm-thin metadata: the superblock (or a
 * held metadata snapshot), the device list, and per-device mapping walks. */
#include "core/thin/thin_meta.h"

#include "core/base/endian.h"
#include "core/base/err.h"
#include "core/base/vec.h"
#include "core/io/bio.h"
#include "core/io/crc32c.h"
#include "core/thin/btree.h"
#include "core/thin/thin_format.h"
#include "core/thin/thin_meta_internal.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sb_parse(struct tf_thin_meta *m, const uint8_t *raw, uint64_t block)
{
	const struct tf_disk_sb *sb = (const void *)raw;
	struct tf_thin_info *in = &m->info;
	struct tf_disk_sm_root dsm, msm;
	uint32_t csum = tf_crc32c(0xffffffffu, raw + 4, TF_META_BLOCK_SIZE - 4) ^ TF_SB_CSUM_XOR;

	if (tf_le64(&sb->magic) != TF_THIN_MAGIC)
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 ": not a dm-thin superblock "
			       "(bad magic)",
			       block);
	if (csum != tf_le32(&sb->csum))
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 ": superblock checksum mismatch "
			       "(stored %08x, computed %08x)",
			       block, tf_le32(&sb->csum), csum);
	if (tf_le64(&sb->blocknr) != block)
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 ": superblock says it is block %" PRIu64,
			       block, tf_le64(&sb->blocknr));
	in->sb_block = block;
	in->version = tf_le32(&sb->version);
	in->flags = tf_le32(&sb->flags);
	in->needs_check = in->flags & TF_SB_FLAG_NEEDS_CHECK;
	in->transaction_id = tf_le64(&sb->trans_id);
	in->time = tf_le32(&sb->time);
	in->held_root = block == 0 ? tf_le64(&sb->held_root) : 0;
	in->data_block_size = tf_le32(&sb->data_block_size);
	in->metadata_block_size = tf_le32(&sb->metadata_block_size);
	in->metadata_nr_blocks = tf_le64(&sb->metadata_nr_blocks);
	in->data_mapping_root = tf_le64(&sb->data_mapping_root);
	in->device_details_root = tf_le64(&sb->device_details_root);
	memcpy(&dsm, sb->data_space_map_root, sizeof(dsm));
	memcpy(&msm, sb->metadata_space_map_root, sizeof(msm));
	in->data_nr_blocks = tf_le64(&dsm.nr_blocks);
	in->data_nr_allocated = tf_le64(&dsm.nr_allocated);
	in->metadata_sm_nr_blocks = tf_le64(&msm.nr_blocks);
	in->metadata_nr_allocated = tf_le64(&msm.nr_allocated);

	if (in->version < TF_THIN_VERSION_MIN || in->version > TF_THIN_VERSION_MAX)
		return tf_fail(EOPNOTSUPP,
			       "metadata block %" PRIu64 ": unsupported metadata "
			       "version %u",
			       block, in->version);
	if (in->metadata_block_size != TF_META_BLOCK_SIZE / 512)
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 ": metadata block size %u sectors, "
			       "expected 8",
			       block, in->metadata_block_size);
	/* dm-thin allows chunks of 64 KiB to 1 GiB in multiples of 64 KiB. */
	if (in->data_block_size < 128 || in->data_block_size > 2097152 || in->data_block_size % 128)
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 ": invalid data block size %u "
			       "sectors",
			       block, in->data_block_size);
	if (in->data_nr_allocated > in->data_nr_blocks)
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 ": data space map has %" PRIu64
			       " of %" PRIu64 " blocks allocated",
			       block, in->data_nr_allocated, in->data_nr_blocks);
	if (in->metadata_nr_blocks == 0 || block >= in->metadata_nr_blocks)
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 ": superblock gives %" PRIu64
			       " metadata blocks",
			       block, in->metadata_nr_blocks);
	return 0;
}

/* The kernel wipes the space-map roots of a held snapshot's superblock
 * copy, so the sizes that bound every mapping come from the live
 * superblock (the devices only grow). */
static int held_space_maps(struct tf_thin_meta *m, uint8_t *raw)
{
	struct tf_thin_meta live = {0};
	int rc = tf_bio_pread(m->bio, raw, TF_META_BLOCK_SIZE, 0);

	if (rc == 0)
		rc = sb_parse(&live, raw, 0);
	if (rc < 0)
		return tf_fail_ctx(rc, "reading the live superblock for a held snapshot: ");
	m->info.data_nr_blocks = live.info.data_nr_blocks;
	m->info.data_nr_allocated = live.info.data_nr_allocated;
	m->info.metadata_sm_nr_blocks = live.info.metadata_sm_nr_blocks;
	m->info.metadata_nr_allocated = live.info.metadata_nr_allocated;
	return 0;
}

int tf_thin_open(struct tf_bio *meta, uint64_t sb_block, struct tf_thin_meta **out)
{
	assert(meta && out);
	struct tf_thin_meta *m;
	uint8_t *raw;
	int rc;

	if (meta->size < TF_META_BLOCK_SIZE * (sb_block + 1))
		return tf_fail(EUCLEAN,
			       "%s: metadata image of %" PRIu64 " bytes is too short for "
			       "a superblock at metadata block %" PRIu64 " (truncated?)",
			       meta->name, meta->size, sb_block);
	m = calloc(1, sizeof(*m));
	raw = malloc(TF_META_BLOCK_SIZE);
	if (!m || !raw) {
		free(m);
		free(raw);
		return tf_fail(ENOMEM, "%s: out of memory", meta->name);
	}
	m->bio = meta;
	rc = tf_bio_pread(meta, raw, TF_META_BLOCK_SIZE, sb_block * TF_META_BLOCK_SIZE);
	if (rc == 0)
		rc = sb_parse(m, raw, sb_block);
	if (rc == 0 && sb_block != 0)
		rc = held_space_maps(m, raw);
	free(raw);
	if (rc == 0 && meta->size / TF_META_BLOCK_SIZE < m->info.metadata_nr_blocks)
		rc = tf_fail(EUCLEAN,
			     "%s: metadata image has %" PRIu64 " blocks but the superblock "
			     "gives %" PRIu64 " (truncated?)",
			     meta->name, meta->size / TF_META_BLOCK_SIZE,
			     m->info.metadata_nr_blocks);
	if (rc < 0) {
		free(m);
		return tf_fail_ctx(rc, "%s: ", meta->name);
	}
	m->io.bio = meta;
	m->io.nr_blocks = m->info.metadata_nr_blocks;
	*out = m;
	return 0;
}

void tf_thin_close(struct tf_thin_meta *m)
{
	free(m);
}

const struct tf_thin_info *tf_thin_info(const struct tf_thin_meta *m)
{
	return &m->info;
}

/* Collects the leaf entries of a one-level tree keyed by dev id. */
struct dev_entry {
	uint32_t dev_id;
	uint8_t value[24];
};

static int collect_devs(struct tf_thin_meta *m, uint64_t root, uint32_t vsize, const char *what,
			struct dev_entry **out, size_t *n)
{
	struct tf_cursor c;
	struct tf_item it;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = tf_cursor_init(&c, &m->io, root, vsize, what, NULL)) < 0)
		return rc;
	while ((rc = tf_cursor_next_entry(&c, &it)) == 0 && it.kind == TF_ITEM_ENTRY) {
		if (it.key > TF_THIN_ID_MAX) {
			rc = tf_fail(EUCLEAN, "%s: device id %" PRIu64 " exceeds 24 bits", what,
				     it.key);
			break;
		}
		if (TF_VEC_RESERVE(*out, cap, *n + 1) < 0) {
			rc = tf_fail(ENOMEM, "%s: out of memory", what);
			break;
		}
		(*out)[*n].dev_id = (uint32_t)it.key;
		memcpy((*out)[*n].value, it.value, vsize);
		(*n)++;
		tf_cursor_skip(&c);
	}
	tf_cursor_free(&c);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int tf_thin_devices(struct tf_thin_meta *m, struct tf_thin_dev **devs, size_t *n)
{
	struct dev_entry *det = NULL, *map = NULL;
	size_t ndet = 0, nmap = 0;
	int rc;

	*devs = NULL;
	*n = 0;
	rc = collect_devs(m, m->info.device_details_root, sizeof(struct tf_disk_device_details),
			  "device details tree", &det, &ndet);
	if (rc == 0)
		rc = collect_devs(m, m->info.data_mapping_root, 8, "top-level mapping tree", &map,
				  &nmap);
	if (rc == 0 && ndet != nmap)
		rc = tf_fail(EUCLEAN,
			     "metadata: the device details tree has %zu devices but the "
			     "mapping tree has %zu",
			     ndet, nmap);
	if (rc == 0 && !(*devs = calloc(ndet ? ndet : 1, sizeof(**devs))))
		rc = tf_fail(ENOMEM, "metadata: out of memory");
	for (size_t i = 0; rc == 0 && i < ndet; i++) {
		struct tf_disk_device_details d;
		struct tf_thin_dev *o = &(*devs)[i];

		if (det[i].dev_id != map[i].dev_id) {
			rc = tf_fail(EUCLEAN, "metadata: device %u has details but no mapping tree",
				     det[i].dev_id < map[i].dev_id ? det[i].dev_id : map[i].dev_id);
			break;
		}
		memcpy(&d, det[i].value, sizeof(d));
		o->dev_id = det[i].dev_id;
		o->mapped_blocks = d.mapped_blocks;
		o->transaction_id = d.transaction_id;
		o->creation_time = d.creation_time;
		o->snapshotted_time = d.snapshotted_time;
		o->mapping_root = tf_le64(map[i].value);
	}
	free(det);
	free(map);
	if (rc < 0) {
		free(*devs);
		*devs = NULL;
		return rc;
	}
	*n = ndet;
	return 0;
}

int tf_thin_dev_root(struct tf_thin_meta *m, uint32_t dev_id, uint64_t *root)
{
	struct tf_cursor c;
	struct tf_item it;
	int rc;

	if ((rc = tf_cursor_init(&c, &m->io, m->info.data_mapping_root, 8, "top-level mapping tree",
				 NULL)) < 0)
		return rc;
	/* The top level is small (one entry per device): a scan is cheap. */
	while ((rc = tf_cursor_next_entry(&c, &it)) == 0 && it.kind == TF_ITEM_ENTRY &&
	       it.key < dev_id)
		tf_cursor_skip(&c);
	if (rc == 0 && (it.kind != TF_ITEM_ENTRY || it.key != dev_id))
		rc = tf_fail(ENOENT, "metadata: no thin device %u", dev_id);
	if (rc == 0)
		*root = tf_le64(it.value);
	tf_cursor_free(&c);
	return rc;
}

int tf_thin_mapped_end(struct tf_thin_meta *m, uint32_t dev_id, uint64_t *end)
{
	struct tf_node *n = malloc(sizeof(*n));
	char what[64];
	uint64_t block;
	int rc;

	if (!n)
		return tf_fail(ENOMEM, "metadata: out of memory");
	*end = 0;
	snprintf(what, sizeof(what), "device %u mapping tree", dev_id);
	rc = tf_thin_dev_root(m, dev_id, &block);
	/* Down the last child of each level: the highest key is in the last
	 * leaf.  Depth-bounded, so a cycle cannot hold us. */
	for (int depth = 0; rc == 0; depth++) {
		if (depth >= TF_BTREE_MAX_DEPTH) {
			rc = tf_fail(EUCLEAN,
				     "metadata block %" PRIu64 " (%s): tree deeper than %d "
				     "levels (a cycle?)",
				     block, what, TF_BTREE_MAX_DEPTH);
			break;
		}
		if ((rc = tf_node_read(&m->io, block, 8, what, n)) < 0 || n->nr_entries == 0)
			break;
		if (n->leaf) {
			*end = tf_node_key(n, n->nr_entries - 1) + 1;
			break;
		}
		block = tf_le64(tf_node_value(n, n->nr_entries - 1));
	}
	free(n);
	return rc;
}

int tf_thin_decode_mapping(const struct tf_thin_meta *m, uint64_t vblock, const uint8_t *value,
			   const char *what, struct tf_thin_run *run)
{
	uint64_t v = tf_le64(value);

	run->vbegin = vblock;
	run->dbegin = v >> TF_TIME_BITS;
	run->len = 1;
	run->time = (uint32_t)(v & ((1u << TF_TIME_BITS) - 1));
	if (run->dbegin >= m->info.data_nr_blocks)
		return tf_fail(EUCLEAN,
			       "%s: virtual block %" PRIu64 " maps to data block %" PRIu64
			       " past the end of the data device (%" PRIu64 " blocks)",
			       what, vblock, run->dbegin, m->info.data_nr_blocks);
	return 0;
}

int tf_thin_walk(struct tf_thin_meta *m, uint32_t dev_id, tf_thin_run_fn fn, void *ctx,
		 struct tf_walk_stats *st)
{
	assert(m && fn);
	struct tf_thin_run cur = {0}, r;
	struct tf_cursor c;
	struct tf_item it;
	char what[64];
	uint64_t root;
	bool have = false;
	int rc;

	if ((rc = tf_thin_dev_root(m, dev_id, &root)) < 0)
		return rc;
	snprintf(what, sizeof(what), "device %u mapping tree", dev_id);
	if ((rc = tf_cursor_init(&c, &m->io, root, 8, what, st)) < 0)
		return rc;
	while ((rc = tf_cursor_next_entry(&c, &it)) == 0 && it.kind == TF_ITEM_ENTRY) {
		if ((rc = tf_thin_decode_mapping(m, it.key, it.value, what, &r)) < 0)
			break;
		tf_cursor_skip(&c);
		if (have && r.vbegin == cur.vbegin + cur.len && r.dbegin == cur.dbegin + cur.len &&
		    r.time == cur.time) {
			cur.len++;
			continue;
		}
		if (have && (rc = fn(ctx, &cur)) != 0)
			break;
		cur = r;
		have = true;
	}
	if (rc == 0 && have)
		rc = fn(ctx, &cur);
	tf_cursor_free(&c);
	return rc;
}
