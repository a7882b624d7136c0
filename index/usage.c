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

/* Appends the two edges of data run [b, b + l) of leaf li; 0 or -ENOMEM. */
static int push_run(struct edge **out, size_t *n, size_t *cap, uint64_t b, uint64_t l, uint32_t li)
{
	if (TF_VEC_RESERVE(*out, *cap, *n + 2) < 0)
		return -ENOMEM;
	(*out)[(*n)++] = (struct edge){b, li, 1};
	(*out)[(*n)++] = (struct edge){b + l, li, -1};
	return 0;
}

/* The table index of leaf, trying *li (the previous run's) first. */
static size_t leaf_at(const struct ix_nodes *t, int64_t leaf, size_t li)
{
	return li < t->n && t->v[li].id == leaf ? li : ix_nodes_find(t, leaf);
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

		li = leaf_at(t, leaf, li);
		if (li == t->n || !t->v[li].refs)
			continue; /* no device holds it */
		/* Runs <= mapped chunks: one reservation up front, whose
		 * untouched pages cost nothing. */
		if ((!cap && TF_VEC_RESERVE(*out, cap, 2 * mapped + 2) < 0) ||
		    push_run(out, n, &cap, b, l, (uint32_t)li) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
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

/* Adds sign x the chunks exclusive to each device over the edges, with
 * the leaves' weights taken from refs/owners. */
static void sweep(const struct edge *e, size_t ne, const uint64_t *refs, const uint64_t *owners,
		  const struct tf_thin_dev *devs, size_t nd, int64_t sign, int64_t *excl)
{
	int64_t depth = 0;
	uint64_t own = 0; /* sum of the owners of the covering runs */

	for (size_t i = 0; i < ne; i++) {
		if (depth == 1 && i > 0 && e[i].pos > e[i - 1].pos && own <= UINT32_MAX) {
			uint32_t dev = (uint32_t)own;
			size_t d = tf_partition_point(devs, nd, sizeof(*devs), &dev, dev_at_least);

			if (d < nd && devs[d].dev_id == dev)
				excl[d] += sign * (int64_t)(e[i].pos - e[i - 1].pos);
		}
		depth += e[i].sign * (int64_t)refs[e[i].leaf];
		own += e[i].sign > 0 ? owners[e[i].leaf] : -owners[e[i].leaf];
	}
}

static int write_usage(struct tf_index *ix, const struct ix_nodes *t,
		       const struct tf_thin_dev *devs, const uint32_t *roots, size_t nd,
		       const int64_t *excl)
{
	sqlite3_stmt *up;
	int rc;

	if ((rc = tf_sql_prepare(ix,
				 "UPDATE devices SET exclusive_chunks = ?2, "
				 "shared_chunks = ?3 - ?2 WHERE thin_id = ?1",
				 &up)) < 0)
		return rc;
	for (size_t i = 0; i < nd; i++) {
		sqlite3_bind_int64(up, 1, devs[i].dev_id);
		sqlite3_bind_int64(up, 2, excl[i]);
		sqlite3_bind_int64(up, 3, (sqlite3_int64)t->v[roots[i]].mapped);
		rc = sqlite3_step(up);
		sqlite3_reset(up);
		if (rc != SQLITE_DONE) {
			sqlite3_finalize(up);
			return tf_sql_fail(ix, rc, "writing usage");
		}
	}
	sqlite3_finalize(up);
	return 0;
}

/* The nodes' current weights as arrays indexed like t->v. */
static int weights(const struct ix_nodes *t, uint64_t **refs, uint64_t **owners)
{
	*refs = malloc((t->n ? t->n : 1) * sizeof(**refs));
	*owners = malloc((t->n ? t->n : 1) * sizeof(**owners));
	if (!*refs || !*owners) {
		free(*refs);
		free(*owners);
		return tf_fail(ENOMEM, "index: out of memory computing usage");
	}
	for (size_t i = 0; i < t->n; i++) {
		(*refs)[i] = t->v[i].refs;
		(*owners)[i] = t->v[i].owners;
	}
	return 0;
}

int tf_usage_update(struct tf_index *ix, const struct ix_nodes *t, const struct tf_thin_dev *devs,
		    const uint32_t *roots, size_t nd)
{
	int64_t *excl = calloc(nd ? nd : 1, sizeof(*excl));
	uint64_t *refs = NULL, *owners = NULL;
	struct edge *e = NULL;
	size_t ne = 0;
	int rc;

	if (!excl)
		return tf_fail(ENOMEM, "index: out of memory computing usage");
	if ((rc = weights(t, &refs, &owners)) < 0 || (rc = load_edges(ix, t, &e, &ne)) < 0 ||
	    (rc = sort_edges(e, ne)) < 0)
		goto out;
	sweep(e, ne, refs, owners, devs, nd, 1, excl);
	rc = write_usage(ix, t, devs, roots, nd, excl);
out:
	free(e);
	free(refs);
	free(owners);
	free(excl);
	return rc;
}

/* ---- the incremental update ---- */

struct span {
	uint64_t b, e;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return (x->b > y->b) - (x->b < y->b);
}

static bool span_ends_after(const void *elem, const void *key)
{
	return ((const struct span *)elem)->e > *(const uint64_t *)key;
}

/* Whether [b, b+len) meets one of the sorted disjoint spans. */
static bool meets(const struct span *s, size_t n, uint64_t b, uint64_t len)
{
	size_t i = tf_partition_point(s, n, sizeof(*s), &b, span_ends_after);

	return i < n && s[i].b < b + len;
}

/* The data ranges of the leaves whose weight moved in a way that can make
 * or unmake an exclusive chunk: any change where it was or is at most 1. */
static int affected_spans(struct tf_index *ix, const struct ix_nodes *t,
			  const struct usage_before *ub, struct span **out, size_t *n,
			  size_t *nleaves)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc = 0;

	*out = NULL;
	*n = *nleaves = 0;
	for (size_t i = 0; i < t->nfreed; i++) {
		struct span *sp = TF_VEC_PUSH(*out, *n, cap);

		if (!sp)
			return tf_fail(ENOMEM, "index: out of memory computing usage");
		*sp = (struct span){t->freed[i].dbegin, t->freed[i].dbegin + t->freed[i].len};
	}
	if ((rc = tf_sql_prepare(ix, "SELECT dbegin, len FROM runs WHERE leaf = ?1", &st)) < 0)
		return rc;
	for (size_t i = 0; i < t->n; i++) {
		const struct ix_node *x = &t->v[i];
		uint64_t r0 = i < ub->n ? ub->refs[i] : 0, o0 = i < ub->n ? ub->owners[i] : 0;

		if (!x->leaf || x->state != IX_ALIVE || (r0 == x->refs && o0 == x->owners) ||
		    (r0 >= 2 && x->refs >= 2))
			continue;
		(*nleaves)++;
		sqlite3_bind_int64(st, 1, x->id);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct span *sp = TF_VEC_PUSH(*out, *n, cap);
			uint64_t b = (uint64_t)sqlite3_column_int64(st, 0);

			if (!sp) {
				rc = SQLITE_NOMEM;
				break;
			}
			*sp = (struct span){b, b + (uint64_t)sqlite3_column_int64(st, 1)};
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			sqlite3_finalize(st);
			return rc == SQLITE_NOMEM
				   ? tf_fail(ENOMEM, "index: out of memory computing usage")
				   : tf_sql_fail(ix, rc, "reading runs");
		}
	}
	sqlite3_finalize(st);
	/* Sorted and merged into disjoint spans. */
	qsort(*out, *n, sizeof(**out), cmp_span);
	size_t m = 0;
	for (size_t i = 0; i < *n; i++) {
		if (m && (*out)[i].b <= (*out)[m - 1].e) {
			if ((*out)[i].e > (*out)[m - 1].e)
				(*out)[m - 1].e = (*out)[i].e;
		} else {
			(*out)[m++] = (*out)[i];
		}
	}
	*n = m;
	return 0;
}

/* Edges of every run (stored or freed) that meets the spans. */
static int edges_meeting(struct tf_index *ix, const struct ix_nodes *t, const struct span *sp,
			 size_t nsp, struct edge **out, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0, li = t->n;
	int rc;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < t->nfreed; i++) {
		const struct ix_freed_run *f = &t->freed[i];

		if (push_run(out, n, &cap, f->dbegin, f->len, f->leaf) < 0)
			return tf_fail(ENOMEM, "index: out of memory computing usage");
	}
	if ((rc = tf_sql_prepare(ix, "SELECT leaf, dbegin, len FROM runs", &st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t b = (uint64_t)sqlite3_column_int64(st, 1);
		uint64_t l = (uint64_t)sqlite3_column_int64(st, 2);
		int64_t leaf;

		if (!meets(sp, nsp, b, l))
			continue;
		leaf = sqlite3_column_int64(st, 0);
		li = leaf_at(t, leaf, li);
		if (li == t->n)
			continue;
		if (push_run(out, n, &cap, b, l, (uint32_t)li) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rc == SQLITE_NOMEM ? tf_fail(ENOMEM, "index: out of memory computing usage")
					  : tf_sql_fail(ix, rc, "reading runs");
	return 0;
}

int tf_usage_update_since(struct tf_index *ix, const struct ix_nodes *t,
			  const struct tf_thin_dev *devs, const uint32_t *roots, size_t nd,
			  const struct usage_before *ub)
{
	int64_t *excl = calloc(nd ? nd : 1, sizeof(*excl));
	uint64_t *refs = NULL, *owners = NULL, *refs0 = NULL, *owners0 = NULL;
	struct span *sp = NULL;
	struct edge *e = NULL;
	size_t nsp, ne = 0, nleaves = 0, leaves = 0;
	int rc;

	if (!excl)
		return tf_fail(ENOMEM, "index: out of memory computing usage");
	for (size_t i = 0; i < nd; i++)
		excl[i] = ub->excl[i];
	if ((rc = affected_spans(ix, t, ub, &sp, &nsp, &nleaves)) < 0)
		goto out;
	for (size_t i = 0; i < t->n; i++)
		leaves += t->v[i].leaf && t->v[i].state == IX_ALIVE;
	if (nleaves > leaves / 4) { /* most leaves moved: one full sweep is cheaper */
		rc = tf_usage_update(ix, t, devs, roots, nd);
		goto out;
	}
	if ((rc = weights(t, &refs, &owners)) < 0)
		goto out;
	/* The weights before: what the nodes had, the freed leaves included;
	 * nodes new in this view had none. */
	refs0 = calloc(t->n ? t->n : 1, sizeof(*refs0));
	owners0 = calloc(t->n ? t->n : 1, sizeof(*owners0));
	if (!refs0 || !owners0) {
		rc = tf_fail(ENOMEM, "index: out of memory computing usage");
		goto out;
	}
	memcpy(refs0, ub->refs, ub->n * sizeof(*refs0));
	memcpy(owners0, ub->owners, ub->n * sizeof(*owners0));
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].state != IX_ALIVE)
			refs[i] = owners[i] = 0; /* freed */
	if ((rc = edges_meeting(ix, t, sp, nsp, &e, &ne)) < 0 || (rc = sort_edges(e, ne)) < 0)
		goto out;
	/* Outside the spans every chunk is exclusive to the same device or
	 * to none, before and after, so the two sweeps cancel there. */
	sweep(e, ne, refs0, owners0, devs, nd, -1, excl);
	sweep(e, ne, refs, owners, devs, nd, 1, excl);
	rc = write_usage(ix, t, devs, roots, nd, excl);
out:
	free(sp);
	free(e);
	free(refs);
	free(owners);
	free(refs0);
	free(owners0);
	free(excl);
	return rc;
}
