/* usage.c — exclusive and shared chunk counts per device.
 *
 * A data chunk is exclusive to a device when no other mapping in the pool
 * points at it (what thin_ls calls EXCLUSIVE); shared = mapped - exclusive.
 * Each distinct leaf is stored once, and nodes.c counts how many devices'
 * trees hold it (refs) and, when one does, which (owners).  One sweep over
 * the data-chunk ranges of the runs of the distinct leaves, each weighted
 * by its leaf's refs: between two consecutive range boundaries the weight
 * of the covering runs is constant, and where it is exactly 1 the span is
 * exclusive to the one device holding the one leaf.  Memory and time follow
 * the distinct leaves' runs (the pool's unique metadata), not devices x
 * mappings.
 */
#include "index_internal.h"
#include "nodes.h"

#include "core/base/err.h"
#include "core/base/vec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct edge {
	uint64_t pos;
	uint32_t leaf; /* index into ix_nodes.v */
	int32_t sign;  /* +1 where a run starts, -1 where it ends */
};

/* LSD radix sort of the edges by pos, one byte per pass, skipping bytes
 * that are the same in every edge: a scrambled pool has millions of runs
 * and qsort's comparisons were a quarter of a full build.  The order among
 * edges at one position does not matter: the sweep only counts spans
 * between distinct positions. */
static int sort_edges(struct edge *e, size_t n)
{
	size_t count[8][256] = {{0}};
	struct edge *tmp, *src = e, *dst;

	if (n < 2)
		return 0;
	if (!(tmp = malloc(n * sizeof(*tmp))))
		return tf_fail(ENOMEM, "index: out of memory computing usage");
	dst = tmp;
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++)
			count[b][(e[i].pos >> (8 * b)) & 0xff]++;
	for (int b = 0; b < 8; b++) {
		size_t sum = 0;

		if (count[b][(e[0].pos >> (8 * b)) & 0xff] == n)
			continue; /* every edge has this byte */
		for (int v = 0; v < 256; v++) {
			size_t c = count[b][v];

			count[b][v] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[b][(src[i].pos >> (8 * b)) & 0xff]++] = src[i];
		struct edge *t = src;
		src = dst;
		dst = t;
	}
	if (src != e)
		memcpy(e, src, n * sizeof(*e));
	free(tmp);
	return 0;
}

static int load_edges(struct tf_index *ix, const struct ix_nodes *t, struct edge **out, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0, li = t->n;
	uint64_t mapped = 0;
	int rc;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].leaf && t->v[i].refs)
			mapped += t->v[i].mapped;
	if ((rc = tf_sql_prepare(ix, "SELECT leaf, dbegin, len FROM runs", &st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t leaf = sqlite3_column_int64(st, 0);
		uint64_t b = (uint64_t)sqlite3_column_int64(st, 1);
		uint64_t l = (uint64_t)sqlite3_column_int64(st, 2);

		if (li == t->n || t->v[li].id != leaf)
			li = ix_nodes_find(t, leaf);
		if (li == t->n || !t->v[li].refs)
			continue; /* no device holds it */
		/* Runs <= mapped chunks: one reservation up front, whose
		 * untouched pages cost nothing. */
		if (!cap && TF_VEC_RESERVE(*out, cap, 2 * mapped + 2) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		if (TF_VEC_RESERVE(*out, cap, *n + 2) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		(*out)[(*n)++] = (struct edge){b, (uint32_t)li, 1};
		(*out)[(*n)++] = (struct edge){b + l, (uint32_t)li, -1};
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(*out);
		*out = NULL;
		return rc == SQLITE_NOMEM ? tf_fail(ENOMEM, "index: out of memory computing usage")
					  : tf_sql_fail(ix, rc, "reading runs");
	}
	return 0;
}

static bool dev_at_least(const void *elem, const void *key)
{
	return ((const struct tf_thin_dev *)elem)->dev_id >= *(const uint32_t *)key;
}

int tf_usage_update(struct tf_index *ix, const struct ix_nodes *t, const struct tf_thin_dev *devs,
		    const uint32_t *roots, size_t nd)
{
	uint64_t *excl = calloc(nd ? nd : 1, sizeof(*excl));
	struct edge *e = NULL;
	sqlite3_stmt *up = NULL;
	size_t ne = 0;
	int64_t depth = 0;
	uint64_t owners = 0; /* sum of the owners of the covering runs */
	int rc;

	if (!excl)
		return tf_fail(ENOMEM, "index: out of memory computing usage");
	if ((rc = load_edges(ix, t, &e, &ne)) < 0 || (rc = sort_edges(e, ne)) < 0)
		goto out;
	for (size_t i = 0; i < ne; i++) {
		if (depth == 1 && i > 0 && e[i].pos > e[i - 1].pos && owners <= UINT32_MAX) {
			uint32_t dev = (uint32_t)owners;
			size_t d = tf_partition_point(devs, nd, sizeof(*devs), &dev, dev_at_least);

			if (d < nd && devs[d].dev_id == dev)
				excl[d] += e[i].pos - e[i - 1].pos;
		}
		const struct ix_node *x = &t->v[e[i].leaf];

		depth += e[i].sign * (int64_t)x->refs;
		owners += e[i].sign > 0 ? x->owners : -x->owners;
	}
	if ((rc = tf_sql_prepare(ix,
				 "UPDATE devices SET exclusive_chunks = ?2, "
				 "shared_chunks = ?3 - ?2 WHERE thin_id = ?1",
				 &up)) < 0)
		goto out;
	for (size_t i = 0; i < nd; i++) {
		sqlite3_bind_int64(up, 1, devs[i].dev_id);
		sqlite3_bind_int64(up, 2, (sqlite3_int64)excl[i]);
		sqlite3_bind_int64(up, 3, (sqlite3_int64)t->v[roots[i]].mapped);
		rc = sqlite3_step(up);
		sqlite3_reset(up);
		if (rc != SQLITE_DONE) {
			rc = tf_sql_fail(ix, rc, "writing usage");
			goto out;
		}
	}
	rc = 0;
out:
	sqlite3_finalize(up);
	free(e);
	free(excl);
	return rc;
}
