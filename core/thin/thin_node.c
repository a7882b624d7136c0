/* thin_node.c — one mapping-tree node at a time, for callers that keep
 * each distinct node once (see tf_thin_node_read in thin_meta.h). */
#include "core/thin/thin_meta.h"

#include "core/base/endian.h"
#include "core/base/err.h"
#include "core/io/sha256.h"
#include "core/thin/btree.h"
#include "core/thin/thin_meta_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

int tf_thin_node_read(struct tf_thin_meta *m, uint64_t block, const char *what,
		      struct tf_thin_node *out, struct tf_walk_stats *st)
{
	struct tf_node *n = malloc(sizeof(*n));
	struct tf_sha256 h;
	uint8_t head[8];
	int rc;

	assert(m && what && out);
	if (!n)
		return tf_fail(ENOMEM, "%s: out of memory", what);
	rc = tf_node_read(&m->io, block, 8, what, n);
	if (rc < 0)
		goto out;
	if (st)
		st->nodes_read++;
	out->block = block;
	out->csum = tf_le32(n->raw);
	out->leaf = n->leaf;
	out->n = n->nr_entries;
	for (uint32_t i = 0; rc == 0 && i < n->nr_entries; i++) {
		const uint8_t *v = tf_node_value(n, i);

		out->key[i] = tf_node_key(n, i);
		if (n->leaf) {
			struct tf_thin_run r;

			rc = tf_thin_decode_mapping(m, out->key[i], v, what, &r);
			out->dblock[i] = r.dbegin;
			out->time[i] = r.time;
		} else {
			out->child[i] = tf_le64(v);
		}
	}
	if (rc < 0)
		goto out;
	/* The digest covers what the node means, not where it sits: the
	 * entries, not the block number, stale bytes or padding. */
	tf_put_le32(head, n->leaf);
	tf_put_le32(head + 4, n->nr_entries);
	tf_sha256_init(&h);
	tf_sha256_update(&h, head, sizeof(head));
	tf_sha256_update(&h, n->raw + sizeof(struct tf_disk_node_header),
			 8 * (size_t)n->nr_entries);
	tf_sha256_update(&h, tf_node_value(n, 0), 8 * (size_t)n->nr_entries);
	tf_sha256_final(&h, out->digest);
out:
	free(n);
	return rc;
}
