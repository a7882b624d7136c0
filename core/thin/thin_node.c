/* thin_node.c — one mapping-tree node at a time, for callers that keep
 * each distinct node once (see tf_thin_node_read in thin_meta.h). */
#include "core/thin/thin_meta.h"

#include "core/base/endian.h"
#include "core/base/err.h"
#include "core/thin/btree.h"
#include "core/thin/thin_format.h"
#include "core/thin/thin_meta_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

static uint64_t fmix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Two independent 64-bit multiply-xorshift lanes over the leaf flag, the
 * count, the keys and the values.  Not a cryptographic digest: it tells
 * nodes apart by accident-proof odds together with the node's own CRC
 * (whoever can write the metadata can write any mapping anyway), at a
 * fraction of SHA-256's cost on every node a build reads. */
static void digest_entries(const struct tf_node *n, uint8_t out[16])
{
	const uint8_t *keys = n->raw + sizeof(struct tf_disk_node_header);
	const uint8_t *vals = tf_node_value(n, 0);
	uint64_t a = 0x9e3779b97f4a7c15ull ^ n->leaf, b = 0xd6e8feb86659fd93ull ^ n->nr_entries;

	for (uint32_t i = 0; i < n->nr_entries; i++) {
		uint64_t k = tf_le64(keys + 8 * (size_t)i), v = tf_le64(vals + 8 * (size_t)i);

		a = (a ^ k) * 0x87c37b91114253d5ull;
		a = (a << 31 | a >> 33) ^ v;
		b = (b + v) * 0x4cf5ad432745937full;
		b = (b << 27 | b >> 37) ^ k;
	}
	a = fmix(a ^ n->nr_entries);
	b = fmix(b + a);
	tf_put_le64(out, a);
	tf_put_le64(out + 8, b);
}

int tf_thin_node_read(struct tf_thin_meta *m, uint64_t block, const char *what,
		      struct tf_thin_node *out, struct tf_walk_stats *st)
{
	struct tf_node *n = malloc(sizeof(*n));
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
	digest_entries(n, out->digest);
out:
	free(n);
	return rc;
}
