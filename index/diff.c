/* diff.c — what changed between two devices, answered by core's walk of the
 * metadata that skips shared subtrees (cost ∝ changes), checked against the
 * index's transaction so a caller never mixes two states of the pool. */
#include "index_internal.h"

#include "core/base/err.h"
#include "core/pool/pool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

struct collect {
	struct tf_ix_change *v;
	size_t n, cap;
};

static int collect_change(void *arg, enum tf_diff_kind kind, const struct tf_thin_run *run)
{
	struct collect *c = arg;

	if (c->n == c->cap) {
		struct tf_ix_change *p =
		    realloc(c->v, (c->cap = c->cap ? 2 * c->cap : 64) * sizeof(*p));
		if (!p)
			return tf_fail(ENOMEM, "diff: out of memory");
		c->v = p;
	}
	c->v[c->n++] = (struct tf_ix_change){.kind = kind, .run = *run};
	return 0;
}

int tf_diff_from_metadata(struct tf_thin_meta *view, uint32_t base_id, uint32_t lv_id,
			  struct tf_ix_change **changes, size_t *n, struct tf_walk_stats *st)
{
	struct collect c = {0};
	int rc = tf_thin_diff(view, base_id, lv_id, collect_change, &c, st);

	if (rc < 0) {
		free(c.v);
		*changes = NULL;
		*n = 0;
		return rc;
	}
	*changes = c.v;
	*n = c.n;
	return 0;
}

int tf_pool_diff(struct tf_pool *p, uint32_t base_id, uint32_t lv_id, struct tf_ix_change **changes,
		 size_t *n, struct tf_walk_stats *st)
{
	struct tf_thin_meta *view;
	int rc;

	*changes = NULL;
	*n = 0;
	if ((rc = tf_pool_meta_begin(p, &view)) < 0)
		return rc;
	rc = tf_diff_from_metadata(view, base_id, lv_id, changes, n, st);
	tf_pool_meta_end(p, view);
	return rc;
}

int tf_index_diff(struct tf_index *ix, struct tf_pool *p, uint32_t base_id, uint32_t lv_id,
		  struct tf_ix_change **changes, size_t *n, struct tf_walk_stats *st)
{
	struct tf_thin_meta *view;
	struct tf_ix_pool ip;
	uint64_t tid;
	int rc;

	*changes = NULL;
	*n = 0;
	if ((rc = tf_index_pool(ix, &ip)) < 0)
		return rc;
	if ((rc = tf_pool_meta_begin(p, &view)) < 0)
		return rc;
	tid = tf_thin_info(view)->transaction_id;
	if (tid != ip.transaction_id)
		rc = tf_fail(ESTALE,
			     "index %s: built at pool transaction %" PRIu64 " but the pool is "
			     "at %" PRIu64 "; refresh it",
			     ix->path, ip.transaction_id, tid);
	else
		rc = tf_diff_from_metadata(view, base_id, lv_id, changes, n, st);
	tf_pool_meta_end(p, view);
	return rc;
}
