/* thin_format.h — the on-disk format of dm-thin pool metadata.
 *
 * Map (all integers little-endian; metadata blocks are 4096 bytes):
 *
 *   block 0: superblock (struct tf_disk_sb); a held metadata snapshot is a
 *            copy of it at block held_root, with its own blocknr.
 *            csum = crc32c(~0, bytes 4..4095) ^ 160774.
 *   btree nodes anywhere else: struct tf_disk_node_header, then
 *            keys   le64[max_entries]
 *            values [max_entries][value_size]
 *            csum = crc32c(~0, bytes 4..4095) ^ 121107.
 *            Internal nodes: values are le64 child block numbers, and key[i]
 *            is a lower bound of every key below child i.
 *
 *   data_mapping_root   top level:    key dev_id  -> le64 root of that
 *                                     device's bottom-level tree
 *                       bottom level: key virtual block -> le64
 *                                     (data block << 24) | time (24 bits)
 *   device_details_root key dev_id -> struct tf_disk_device_details
 *   space map roots     (inside the superblock) struct tf_disk_sm_root:
 *                       block counts; thinfs reads only the totals.
 *
 * Facts from Linux drivers/md/dm-thin-metadata.c and persistent-data/.
 */
#ifndef THINFS_THIN_FORMAT_H
#define THINFS_THIN_FORMAT_H

#include <stdint.h>

#define TF_META_BLOCK_SIZE 4096u
#define TF_THIN_MAGIC 27022010ull
#define TF_SB_CSUM_XOR 160774u
#define TF_NODE_CSUM_XOR 121107u
#define TF_SB_FLAG_NEEDS_CHECK 1u
#define TF_NODE_INTERNAL 1u
#define TF_NODE_LEAF 2u
#define TF_THIN_VERSION_MIN 1u
#define TF_THIN_VERSION_MAX 2u
#define TF_TIME_BITS 24
/* Deeper than any tree of 2^64 keys with >= 3 entries a node: a deeper walk
 * is following a cycle. */
#define TF_BTREE_MAX_DEPTH 40

struct tf_disk_sm_root {
	uint64_t nr_blocks;
	uint64_t nr_allocated;
	uint64_t bitmap_root;
	uint64_t ref_count_root;
} __attribute__((packed));

struct tf_disk_sb {
	uint32_t csum;
	uint32_t flags;
	uint64_t blocknr;
	uint8_t uuid[16];
	uint64_t magic;
	uint32_t version;
	uint32_t time;
	uint64_t trans_id;
	uint64_t held_root;
	uint8_t data_space_map_root[128];
	uint8_t metadata_space_map_root[128];
	uint64_t data_mapping_root;
	uint64_t device_details_root;
	uint32_t data_block_size;     /* sectors */
	uint32_t metadata_block_size; /* sectors */
	uint64_t metadata_nr_blocks;
	uint32_t compat_flags;
	uint32_t compat_ro_flags;
	uint32_t incompat_flags;
} __attribute__((packed));

struct tf_disk_node_header {
	uint32_t csum;
	uint32_t flags;
	uint64_t blocknr;
	uint32_t nr_entries;
	uint32_t max_entries;
	uint32_t value_size;
	uint32_t padding;
} __attribute__((packed));

struct tf_disk_device_details {
	uint64_t mapped_blocks;
	uint64_t transaction_id;
	uint32_t creation_time;
	uint32_t snapshotted_time;
} __attribute__((packed));

_Static_assert(sizeof(struct tf_disk_sm_root) == 32, "sm root is 32 bytes");
_Static_assert(sizeof(struct tf_disk_sb) == 364, "superblock layout");
_Static_assert(__builtin_offsetof(struct tf_disk_sb, data_mapping_root) == 320, "sb offsets");
_Static_assert(sizeof(struct tf_disk_node_header) == 32, "node header is 32 bytes");
_Static_assert(sizeof(struct tf_disk_device_details) == 24, "device details are 24 bytes");

#endif
