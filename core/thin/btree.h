/* btree.h — validated reads of persistent-data btree nodes and an ordered
 * cursor over one btree, the building block of every walk and diff.
 *
 * A cursor presents a tree as a lazily expanded sequence of items in key
 * order: each item is either a subtree not yet read (its block and the
 * lower bound of its keys) or a leaf entry.  A walk expands every subtree;
 * a diff expands only where two cursors' fronts differ.  Every node read is
 * validated (checksum, block number, flags, counts, value size, key order
 * and key bounds from the parent), depth is bounded, and a block reached
 * twice in one tree is refused, so corrupt or cyclic trees end in an error
 * naming the block and the cause.
 */
#ifndef THINFS_BTREE_H
#define THINFS_BTREE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/thin/thin_format.h"
#include "core/thin/thin_meta.h"

struct tf_bio;

/* What the reads of one view share. */
struct tf_btree_io {
	struct tf_bio *bio;
	uint64_t nr_blocks; /* metadata blocks that may be referenced */
};

struct tf_node {
	uint64_t block;
	uint32_t nr_entries;
	uint32_t max_entries;
	uint32_t value_size;
	bool leaf;
	uint8_t raw[TF_META_BLOCK_SIZE];
};

/* Reads and validates a node; leaf_value_size is what the tree's leaves
 * must hold.  what names the tree in messages. */
int tf_node_read(const struct tf_btree_io *io, uint64_t block, uint32_t leaf_value_size,
		 const char *what, struct tf_node *n);
uint64_t tf_node_key(const struct tf_node *n, uint32_t i);
const uint8_t *tf_node_value(const struct tf_node *n, uint32_t i);

enum tf_item_kind { TF_ITEM_END, TF_ITEM_SUBTREE, TF_ITEM_ENTRY };

struct tf_item {
	enum tf_item_kind kind;
	uint64_t key;	      /* entry key, or the subtree's lower bound */
	uint64_t block;	      /* subtree root */
	const uint8_t *value; /* entry value (valid until the cursor moves) */
};

struct tf_cursor_level {
	struct tf_node node;
	uint32_t i;
	uint64_t hi; /* keys below this level are < hi, if has_hi */
	bool has_hi;
};

struct tf_cursor {
	const struct tf_btree_io *io;
	uint32_t leaf_value_size;
	char what[96];
	struct tf_walk_stats *st;
	uint8_t *seen; /* one bit per metadata block */
	bool root_pending;
	uint64_t root;
	int depth;
	struct tf_cursor_level *lv[TF_BTREE_MAX_DEPTH];
};

int tf_cursor_init(struct tf_cursor *c, const struct tf_btree_io *io, uint64_t root,
		   uint32_t leaf_value_size, const char *what, struct tf_walk_stats *st);
void tf_cursor_free(struct tf_cursor *c);
void tf_cursor_front(struct tf_cursor *c, struct tf_item *it);
/* Drops the front item (a subtree is skipped unread). */
void tf_cursor_skip(struct tf_cursor *c);
/* Replaces the front subtree by its contents. */
int tf_cursor_expand(struct tf_cursor *c);
/* Moves to the next leaf entry, expanding subtrees on the way. */
int tf_cursor_next_entry(struct tf_cursor *c, struct tf_item *it);

#endif
