/* btree.c — node validation and the ordered btree cursor (see btree.h). */
#include "core/thin/btree.h"

#include "core/base/endian.h"
#include "core/base/err.h"
#include "core/io/bio.h"
#include "core/io/crc32c.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t tf_node_key(const struct tf_node *n, uint32_t i)
{
	return tf_le64(n->raw + sizeof(struct tf_disk_node_header) + 8 * (size_t)i);
}

const uint8_t *tf_node_value(const struct tf_node *n, uint32_t i)
{
	return n->raw + sizeof(struct tf_disk_node_header) + 8 * (size_t)n->max_entries +
	       (size_t)n->value_size * i;
}

int tf_node_read(const struct tf_btree_io *io, uint64_t block, uint32_t leaf_value_size,
		 const char *what, struct tf_node *n)
{
	const struct tf_disk_node_header *h = (const void *)n->raw;
	uint32_t flags, csum;
	int rc;

	if (block == 0 || block >= io->nr_blocks)
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 " (%s): reference outside the "
			       "metadata device (%" PRIu64 " blocks)",
			       block, what, io->nr_blocks);
	rc = tf_bio_pread(io->bio, n->raw, TF_META_BLOCK_SIZE, block * TF_META_BLOCK_SIZE);
	if (rc < 0)
		return tf_fail_ctx(rc, "metadata block %" PRIu64 " (%s): ", block, what);
	csum = tf_crc32c(0xffffffffu, n->raw + 4, TF_META_BLOCK_SIZE - 4) ^ TF_NODE_CSUM_XOR;
	if (csum != tf_le32(n->raw))
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 " (%s): checksum mismatch "
			       "(stored %08x, computed %08x)",
			       block, what, tf_le32(n->raw), csum);
	if (tf_le64((const uint8_t *)&h->blocknr) != block)
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 " (%s): node says it is block %" PRIu64,
			       block, what, tf_le64((const uint8_t *)&h->blocknr));
	flags = tf_le32((const uint8_t *)&h->flags);
	if (flags != TF_NODE_INTERNAL && flags != TF_NODE_LEAF)
		return tf_fail(EUCLEAN, "metadata block %" PRIu64 " (%s): bad node flags %#x",
			       block, what, flags);
	n->block = block;
	n->leaf = flags == TF_NODE_LEAF;
	n->nr_entries = tf_le32((const uint8_t *)&h->nr_entries);
	n->max_entries = tf_le32((const uint8_t *)&h->max_entries);
	n->value_size = tf_le32((const uint8_t *)&h->value_size);
	if (n->value_size != (n->leaf ? leaf_value_size : 8u))
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 " (%s): value size %u, expected %u", block,
			       what, n->value_size, n->leaf ? leaf_value_size : 8u);
	if ((uint64_t)n->max_entries * (8 + n->value_size) >
	    TF_META_BLOCK_SIZE - sizeof(struct tf_disk_node_header))
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 " (%s): max_entries %u does not "
			       "fit a block",
			       block, what, n->max_entries);
	if (n->nr_entries > n->max_entries)
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 " (%s): %u entries exceed the "
			       "maximum of %u",
			       block, what, n->nr_entries, n->max_entries);
	for (uint32_t i = 1; i < n->nr_entries; i++)
		if (tf_node_key(n, i) <= tf_node_key(n, i - 1))
			return tf_fail(EUCLEAN,
				       "metadata block %" PRIu64 " (%s): keys out of order "
				       "at entry %u",
				       block, what, i);
	return 0;
}

int tf_cursor_init(struct tf_cursor *c, const struct tf_btree_io *io, uint64_t root,
		   uint32_t leaf_value_size, const char *what, struct tf_walk_stats *st)
{
	memset(c, 0, sizeof(*c));
	c->io = io;
	c->leaf_value_size = leaf_value_size;
	snprintf(c->what, sizeof(c->what), "%s", what);
	c->st = st;
	c->root = root;
	c->root_pending = true;
	c->seen = calloc((size_t)(io->nr_blocks / 8 + 1), 1);
	return c->seen ? 0 : tf_fail(ENOMEM, "%s: out of memory", what);
}

void tf_cursor_free(struct tf_cursor *c)
{
	for (int i = 0; i < TF_BTREE_MAX_DEPTH; i++)
		free(c->lv[i]);
	free(c->seen);
	memset(c, 0, sizeof(*c));
}

void tf_cursor_front(struct tf_cursor *c, struct tf_item *it)
{
	struct tf_cursor_level *l;

	if (c->root_pending) {
		*it = (struct tf_item){.kind = TF_ITEM_SUBTREE, .key = 0, .block = c->root};
		return;
	}
	/* Levels that are used up give way to the next item of their parent. */
	while (c->depth > 0 && c->lv[c->depth - 1]->i >= c->lv[c->depth - 1]->node.nr_entries) {
		c->depth--;
		if (c->depth > 0)
			c->lv[c->depth - 1]->i++;
	}
	if (c->depth == 0) {
		*it = (struct tf_item){.kind = TF_ITEM_END};
		return;
	}
	l = c->lv[c->depth - 1];
	it->key = tf_node_key(&l->node, l->i);
	it->value = tf_node_value(&l->node, l->i);
	if (l->node.leaf) {
		it->kind = TF_ITEM_ENTRY;
		it->block = 0;
	} else {
		it->kind = TF_ITEM_SUBTREE;
		it->block = tf_le64(it->value);
	}
}

void tf_cursor_skip(struct tf_cursor *c)
{
	if (c->root_pending)
		c->root_pending = false;
	else if (c->depth > 0)
		c->lv[c->depth - 1]->i++;
}

int tf_cursor_expand(struct tf_cursor *c)
{
	struct tf_cursor_level *parent = c->depth > 0 ? c->lv[c->depth - 1] : NULL;
	struct tf_cursor_level *l;
	uint64_t block, lo = 0, hi = 0;
	bool has_hi = false;
	int rc;

	if (c->root_pending) {
		block = c->root;
	} else {
		if (!parent || parent->node.leaf || parent->i >= parent->node.nr_entries)
			return tf_fail(EINVAL, "%s: internal error: nothing to expand", c->what);
		block = tf_le64(tf_node_value(&parent->node, parent->i));
		lo = tf_node_key(&parent->node, parent->i);
		if (parent->i + 1 < parent->node.nr_entries) {
			hi = tf_node_key(&parent->node, parent->i + 1);
			has_hi = true;
		} else {
			hi = parent->hi;
			has_hi = parent->has_hi;
		}
	}
	if (c->depth >= TF_BTREE_MAX_DEPTH)
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 " (%s): tree deeper than %d levels "
			       "(a cycle?)",
			       block, c->what, TF_BTREE_MAX_DEPTH);
	if (block < c->io->nr_blocks) {
		if (c->seen[block / 8] & (1u << (block % 8)))
			return tf_fail(EUCLEAN,
				       "metadata block %" PRIu64 " (%s): reached twice in one "
				       "tree (a cycle or a shared child)",
				       block, c->what);
		c->seen[block / 8] |= (uint8_t)(1u << (block % 8));
	}
	if (!c->lv[c->depth] && !(c->lv[c->depth] = malloc(sizeof(struct tf_cursor_level))))
		return tf_fail(ENOMEM, "%s: out of memory", c->what);
	l = c->lv[c->depth];
	rc = tf_node_read(c->io, block, c->leaf_value_size, c->what, &l->node);
	if (rc < 0)
		return rc;
	if (c->st)
		c->st->nodes_read++;
	if (l->node.nr_entries > 0 && !c->root_pending &&
	    (tf_node_key(&l->node, 0) < lo ||
	     (has_hi && tf_node_key(&l->node, l->node.nr_entries - 1) >= hi)))
		return tf_fail(EUCLEAN,
			       "metadata block %" PRIu64 " (%s): keys outside the range "
			       "its parent gives it",
			       block, c->what);
	if (l->node.nr_entries == 0 && !c->root_pending)
		return tf_fail(EUCLEAN, "metadata block %" PRIu64 " (%s): empty non-root node",
			       block, c->what);
	l->i = 0;
	l->hi = hi;
	l->has_hi = has_hi;
	c->root_pending = false;
	c->depth++;
	return 0;
}

int tf_cursor_next_entry(struct tf_cursor *c, struct tf_item *it)
{
	for (;;) {
		int rc;

		tf_cursor_front(c, it);
		if (it->kind != TF_ITEM_SUBTREE)
			return 0;
		if ((rc = tf_cursor_expand(c)) < 0)
			return rc;
	}
}
