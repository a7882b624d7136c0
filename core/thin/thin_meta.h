/* thin_meta.h — read-only access to dm-thin pool metadata, read natively.
 *
 * A struct tf_thin_meta is one consistent view of the metadata: either the
 * current superblock or a held metadata snapshot (the superblock copy whose
 * block number the pool status reports after reserve_metadata_snap).  Every
 * block read through it is validated (block number, checksum with the
 * per-block-type salt, node header bounds) before any field is used.  Walks
 * are bounded by the metadata device size and tree depth and refuse a block
 * seen twice in one tree, so corrupt images give an error naming the block
 * and the cause, never a crash or a hang.
 *
 * Units: virtual and data blocks are in chunks (data_block_size sectors).
 */
#ifndef THINFS_THIN_META_H
#define THINFS_THIN_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tf_bio;
struct tf_thin_meta;

struct tf_thin_info {
	uint64_t sb_block; /* 0, or the held metadata snapshot's block */
	uint32_t version;
	uint32_t flags;
	bool needs_check;
	uint64_t transaction_id;
	uint32_t time;
	uint64_t held_root;	      /* held metadata snapshot recorded in sb 0, or 0 */
	uint32_t data_block_size;     /* sectors per chunk */
	uint32_t metadata_block_size; /* sectors per metadata block (8) */
	uint64_t metadata_nr_blocks;
	uint64_t data_mapping_root;
	uint64_t device_details_root;
	uint64_t data_nr_blocks, data_nr_allocated;	       /* data space map root */
	uint64_t metadata_sm_nr_blocks, metadata_nr_allocated; /* metadata space map root */
};

struct tf_thin_dev {
	uint32_t dev_id;
	uint64_t mapped_blocks; /* as recorded in the device details */
	uint64_t transaction_id;
	uint32_t creation_time;
	uint32_t snapshotted_time;
	uint64_t mapping_root; /* root block of this device's bottom-level tree */
};

/* One run of consecutive virtual blocks mapped to consecutive data blocks
 * with the same time stamp. */
struct tf_thin_run {
	uint64_t vbegin;
	uint64_t dbegin;
	uint64_t len;
	uint32_t time;
};

enum tf_diff_kind {
	TF_DIFF_LEFT_ONLY,  /* mapped in left (base) only: unmapped in right */
	TF_DIFF_RIGHT_ONLY, /* mapped in right only */
	TF_DIFF_DIFFERENT,  /* mapped in both, to different data blocks */
};

/* Counters a walk reports, so tests and benchmarks can prove that a diff
 * touches only what differs. */
struct tf_walk_stats {
	uint64_t nodes_read;
	uint64_t nodes_skipped_shared; /* subtree roots skipped because both sides share them */
};

/* Opens a view.  sb_block 0 reads the current superblock; otherwise it is the
 * block of a held metadata snapshot.  The bio is borrowed. */
int tf_thin_open(struct tf_bio *meta, uint64_t sb_block, struct tf_thin_meta **out);
void tf_thin_close(struct tf_thin_meta *m);

const struct tf_thin_info *tf_thin_info(const struct tf_thin_meta *m);

/* All devices, sorted by dev_id; *devs is malloc'd (caller frees).  Fails if
 * the details tree and the top-level mapping tree disagree on the set. */
int tf_thin_devices(struct tf_thin_meta *m, struct tf_thin_dev **devs, size_t *n);

/* Calls fn for every run of the device's mappings in ascending vbegin, runs
 * coalesced as far as they go.  fn returning non-zero stops the walk and that
 * value is returned.  -ENOENT iff the device does not exist. */
typedef int (*tf_thin_run_fn)(void *ctx, const struct tf_thin_run *run);
int tf_thin_walk(struct tf_thin_meta *m, uint32_t dev_id, tf_thin_run_fn fn, void *ctx,
		 struct tf_walk_stats *st);

/* One past the highest mapped virtual block of a device (0 if none), by
 * descending the tree's last path: O(depth), not O(mappings). */
int tf_thin_mapped_end(struct tf_thin_meta *m, uint32_t dev_id, uint64_t *end);

/* One node of a device's bottom-level mapping tree, read on its own and
 * validated like every node a walk reads (checksum, block number, flags,
 * counts, value size, key order); leaf values are decoded and their data
 * blocks bounded by the data device.  This is for a caller that stores each
 * distinct node once (the index): within one view a block number is the
 * node's identity; across views only the node itself can prove it, so the
 * stored checksum and a digest of the entries come with it. */
#define TF_THIN_NODE_MAX 254 /* (4096 - 32) / (8-byte key + 8-byte value) */
struct tf_thin_node {
	uint64_t block;
	uint32_t csum;	    /* the checksum stored in the node */
	uint8_t digest[16]; /* 128-bit hash of the leaf flag, entry count, keys and values */
	bool leaf;
	uint32_t n;
	uint64_t key[TF_THIN_NODE_MAX];
	uint64_t child[TF_THIN_NODE_MAX];  /* internal: child block numbers */
	uint64_t dblock[TF_THIN_NODE_MAX]; /* leaf: data block of key[i] */
	uint32_t time[TF_THIN_NODE_MAX];   /* leaf: its time stamp */
};

/* Reads the mapping-tree node at block; what names the tree in messages.
 * Bumps st->nodes_read.  -EUCLEAN (with the block and the cause) if the
 * node is not a valid mapping-tree node. */
int tf_thin_node_read(struct tf_thin_meta *m, uint64_t block, const char *what,
		      struct tf_thin_node *out, struct tf_walk_stats *st);

/* Compares the mappings of left (base) and right.  Calls fn in ascending
 * vbegin for each run of virtual blocks whose mapping differs, with the kind
 * and, for RIGHT_ONLY/DIFFERENT, the right side's run (vbegin, dbegin, len,
 * time); for LEFT_ONLY, run->dbegin is the left data block.  Subtrees whose
 * root block is the same on both sides are skipped unread, so the cost is
 * proportional to what differs.  Runs are coalesced per kind. */
typedef int (*tf_thin_diff_fn)(void *ctx, enum tf_diff_kind kind, const struct tf_thin_run *run);
int tf_thin_diff(struct tf_thin_meta *m, uint32_t left_dev, uint32_t right_dev, tf_thin_diff_fn fn,
		 void *ctx, struct tf_walk_stats *st);

#endif
