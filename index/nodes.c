/* nodes.c — keeping each distinct mapping-tree node of the pool once, and
 * bringing that copy to a new metadata view at the cost of what changed.
 *
 * Snapshots share subtrees: within one view a block number is a node, so
 * a subtree reached from several devices is read and stored once.  Across
 * views blocks are freed and reused, so a refresh never trusts a block
 * number alone.  It proves a stored node unchanged from the node itself:
 * the same block must carry the same checksum and the same entries
 * (digest).  Below a proven node nothing is read: the kernel never
 * rewrites a committed block and a live node holds a reference on each of
 * its children, so a node that lived through both views kept its children.
 * A device root is read first; a snapshot whose root is proven keeps its
 * whole tree, and with it every leaf it still shares with a written origin,
 * so the origin's new nodes are the only ones read.
 *
 * What this trusts: that a freed block reused for a node with the very
 * same checksum and entries holds the same subtree.  That needs the
 * allocator to hand out the whole path again in the same order with the
 * same keys; the kernel's metadata allocator moves a cursor round the
 * device (Linux >= 5.13) rather than restarting at block 0 each commit.
 * If the proof ever contradicts itself (a kept node's block read as a
 * different node) the refresh fails with -EAGAIN and the caller rebuilds.
 */
#include "nodes.h"

#include "index_internal.h"

#include "core/base/err.h"
#include "core/base/progress.h"
#include "core/base/vec.h"
#include "core/thin/thin_format.h" /* TF_BTREE_MAX_DEPTH */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- block -> node index ---- */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static int bm_put(struct ix_blockmap *m, uint64_t block, uint32_t val)
{
	if (2 * (m->n + 1) > m->cap) {
		struct ix_blockmap g = {.cap = m->cap ? 2 * m->cap : 1024};

		g.keys = calloc(g.cap, sizeof(*g.keys));
		g.vals = malloc(g.cap * sizeof(*g.vals));
		if (!g.keys || !g.vals) {
			free(g.keys);
			free(g.vals);
			return tf_fail(ENOMEM, "index: out of memory");
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->keys[i]) {
				size_t j = mix(m->keys[i]) & (g.cap - 1);
				while (g.keys[j])
					j = (j + 1) & (g.cap - 1);
				g.keys[j] = m->keys[i];
				g.vals[j] = m->vals[i];
			}
		g.n = m->n;
		free(m->keys);
		free(m->vals);
		*m = g;
	}
	size_t j = mix(block + 1) & (m->cap - 1);
	while (m->keys[j] && m->keys[j] != block + 1)
		j = (j + 1) & (m->cap - 1);
	if (!m->keys[j])
		m->n++;
	m->keys[j] = block + 1;
	m->vals[j] = val;
	return 0;
}

static bool bm_get(const struct ix_blockmap *m, uint64_t block, uint32_t *val)
{
	if (!m->cap)
		return false;
	for (size_t j = mix(block + 1) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1))
		if (m->keys[j] == block + 1) {
			*val = m->vals[j];
			return true;
		}
	return false;
}

static void bm_free(struct ix_blockmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ---- loading ---- */

static bool id_at_least(const void *elem, const void *key)
{
	return ((const struct ix_node *)elem)->id >= *(const int64_t *)key;
}

size_t ix_nodes_find(const struct ix_nodes *t, int64_t id)
{
	size_t i = tf_partition_point(t->v, t->n, sizeof(*t->v), &id, id_at_least);

	return i < t->n && t->v[i].id == id ? i : t->n;
}

static int load_children(struct tf_index *ix, struct ix_nodes *t)
{
	sqlite3_stmt *st;
	size_t cur = t->n;
	int rc;

	if ((rc = tf_sql_prepare(ix, "SELECT parent, child FROM children ORDER BY parent, idx",
				 &st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t parent = sqlite3_column_int64(st, 0);
		size_t c = ix_nodes_find(t, sqlite3_column_int64(st, 1));
		uint32_t *k;

		if (cur == t->n || t->v[cur].id != parent) {
			cur = ix_nodes_find(t, parent);
			if (cur == t->n || t->v[cur].leaf || t->v[cur].nkids) {
				rc = SQLITE_CORRUPT;
				break;
			}
			t->v[cur].kids = (uint32_t)t->nkids;
		}
		if (c == t->n) {
			rc = SQLITE_CORRUPT;
			break;
		}
		if (!(k = TF_VEC_PUSH(t->kids, t->nkids, t->kcap))) {
			rc = SQLITE_NOMEM;
			break;
		}
		*k = (uint32_t)c;
		t->v[cur].nkids++;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_CORRUPT)
		return tf_fail(EUCLEAN, "index %s: a child names a node that is not there",
			       ix->path);
	return rc == SQLITE_DONE ? 0 : tf_sql_fail(ix, rc, "reading nodes");
}

int ix_nodes_load(struct tf_index *ix, struct ix_nodes *t)
{
	sqlite3_stmt *st;
	int rc;

	memset(t, 0, sizeof(*t));
	t->next_id = 1;
	if ((rc =
		 tf_sql_prepare(ix,
				"SELECT id, block, csum, digest, leaf, first_key, last_key, mapped "
				"FROM nodes ORDER BY id",
				&st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ix_node *x = TF_VEC_PUSH(t->v, t->n, t->cap);

		if (!x) {
			rc = SQLITE_NOMEM;
			break;
		}
		memset(x, 0, sizeof(*x));
		x->id = sqlite3_column_int64(st, 0);
		x->block = (uint64_t)sqlite3_column_int64(st, 1);
		x->csum = (uint32_t)sqlite3_column_int64(st, 2);
		if (sqlite3_column_bytes(st, 3) == sizeof(x->digest))
			memcpy(x->digest, sqlite3_column_blob(st, 3), sizeof(x->digest));
		x->leaf = sqlite3_column_int(st, 4) != 0;
		x->first = sqlite3_column_type(st, 5) == SQLITE_NULL
			       ? UINT64_MAX
			       : (uint64_t)sqlite3_column_int64(st, 5);
		x->last = (uint64_t)sqlite3_column_int64(st, 6);
		x->mapped = (uint64_t)sqlite3_column_int64(st, 7);
		x->state = IX_STORED;
		t->next_id = x->id + 1;
		if (bm_get(&t->stored, x->block, &(uint32_t){0})) {
			rc = SQLITE_CORRUPT;
			break;
		}
		if (bm_put(&t->stored, x->block, (uint32_t)(t->n - 1)) < 0) {
			sqlite3_finalize(st);
			return -ENOMEM;
		}
	}
	sqlite3_finalize(st);
	t->nstored = t->n;
	if (rc == SQLITE_CORRUPT)
		return tf_fail(EUCLEAN, "index %s: two nodes at one block", ix->path);
	if (rc != SQLITE_DONE)
		return tf_sql_fail(ix, rc, "reading nodes");
	return load_children(ix, t);
}

void ix_nodes_free(struct ix_nodes *t)
{
	free(t->v);
	free(t->kids);
	free(t->freed);
	bm_free(&t->stored);
	bm_free(&t->view);
	memset(t, 0, sizeof(*t));
}

/* ---- the sync ---- */

struct sync {
	struct ix_nodes *t;
	struct tf_index *ix;
	struct tf_thin_meta *view;
	struct ix_sync_stats *st;
	struct tf_walk_stats ws;
	sqlite3_stmt *ins_node, *ins_child, *ins_run, *sel_run;
	struct tf_thin_node *buf; /* one per depth */
	uint32_t dev;		  /* for messages */
	char what[64];
};

/* Marks a proven node and everything below it as this view's, unread. */
static int keep_subtree(struct sync *s, uint32_t x)
{
	struct ix_nodes *t = s->t;
	uint32_t *stack = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (TF_VEC_RESERVE(stack, cap, 1) < 0)
		return tf_fail(ENOMEM, "index: out of memory");
	stack[n++] = x;
	while (rc == 0 && n > 0) {
		struct ix_node *y = &t->v[stack[--n]];
		uint32_t other;

		if (y->state != IX_STORED)
			continue;
		if (bm_get(&t->view, y->block, &other) && other != (uint32_t)(y - t->v)) {
			rc = tf_fail(EAGAIN,
				     "metadata block %" PRIu64 ": the index kept a node there "
				     "but the pool holds another",
				     y->block);
			break;
		}
		y->state = IX_ALIVE;
		if ((rc = bm_put(&t->view, y->block, (uint32_t)(y - t->v))) < 0)
			break;
		if (TF_VEC_RESERVE(stack, cap, n + y->nkids) < 0) {
			rc = tf_fail(ENOMEM, "index: out of memory");
			break;
		}
		for (uint32_t i = 0; i < y->nkids; i++)
			stack[n++] = t->kids[y->kids + i];
	}
	free(stack);
	return rc;
}

static int step(struct tf_index *ix, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : tf_sql_fail(ix, rc, what);
}

static int write_runs(struct sync *s, int64_t id, const struct tf_thin_node *tn)
{
	struct tf_thin_run cur = {0};
	int rc = 0;

	for (uint32_t i = 0; rc == 0 && i <= tn->n; i++) {
		if (i < tn->n && i > 0 && tn->key[i] == cur.vbegin + cur.len &&
		    tn->dblock[i] == cur.dbegin + cur.len && tn->time[i] == cur.time) {
			cur.len++;
			continue;
		}
		if (i > 0) {
			sqlite3_bind_int64(s->ins_run, 1, id);
			sqlite3_bind_int64(s->ins_run, 2, (sqlite3_int64)cur.vbegin);
			sqlite3_bind_int64(s->ins_run, 3, (sqlite3_int64)cur.dbegin);
			sqlite3_bind_int64(s->ins_run, 4, (sqlite3_int64)cur.len);
			sqlite3_bind_int64(s->ins_run, 5, cur.time);
			rc = step(s->ix, s->ins_run, "writing runs");
		}
		if (i < tn->n)
			cur = (struct tf_thin_run){tn->key[i], tn->dblock[i], 1, tn->time[i]};
	}
	return rc;
}

static int write_node(struct sync *s, const struct ix_node *x)
{
	struct ix_nodes *t = s->t;
	int rc;

	sqlite3_bind_int64(s->ins_node, 1, x->id);
	sqlite3_bind_int64(s->ins_node, 2, (sqlite3_int64)x->block);
	sqlite3_bind_int64(s->ins_node, 3, x->csum);
	sqlite3_bind_blob(s->ins_node, 4, x->digest, sizeof(x->digest), SQLITE_STATIC);
	sqlite3_bind_int(s->ins_node, 5, x->leaf);
	if (x->first > x->last) {
		sqlite3_bind_null(s->ins_node, 6);
		sqlite3_bind_null(s->ins_node, 7);
	} else {
		sqlite3_bind_int64(s->ins_node, 6, (sqlite3_int64)x->first);
		sqlite3_bind_int64(s->ins_node, 7, (sqlite3_int64)x->last);
	}
	sqlite3_bind_int64(s->ins_node, 8, (sqlite3_int64)x->mapped);
	if ((rc = step(s->ix, s->ins_node, "writing a node")) < 0)
		return rc;
	for (uint32_t i = 0; rc == 0 && i < x->nkids; i++) {
		sqlite3_bind_int64(s->ins_child, 1, x->id);
		sqlite3_bind_int64(s->ins_child, 2, i);
		sqlite3_bind_int64(s->ins_child, 3, t->v[t->kids[x->kids + i]].id);
		rc = step(s->ix, s->ins_child, "writing a node's children");
	}
	return rc;
}

static int bad(struct sync *s, uint64_t block, const char *why)
{
	return tf_fail(EUCLEAN, "metadata block %" PRIu64 " (%s): %s", block, s->what, why);
}

/* The node index of the subtree at block, whose keys must lie in
 * [lo, hi) (hi only if has_hi); reads only what is not proven.  pre is the
 * node already read at block, or NULL. */
static int establish(struct sync *s, uint64_t block, uint64_t lo, uint64_t hi, bool has_hi,
		     int depth, const struct tf_thin_node *pre, uint32_t *out)
{
	struct ix_nodes *t = s->t;
	struct tf_thin_node *tn;
	struct ix_node *x;
	uint32_t xi, kids[TF_THIN_NODE_MAX];
	int rc;

	if (bm_get(&t->view, block, &xi))
		goto known;
	if (depth >= TF_BTREE_MAX_DEPTH)
		return bad(s, block, "tree deeper than the format allows (a cycle?)");
	tn = &s->buf[depth];
	if (pre)
		*tn = *pre;
	else if ((rc = tf_thin_node_read(s->view, block, s->what, tn, &s->ws)) < 0)
		return rc;
	else
		tf_progress_add(s->ix->progress, 1);
	if (bm_get(&t->stored, block, &xi) && t->v[xi].state == IX_STORED &&
	    t->v[xi].csum == tn->csum && t->v[xi].leaf == tn->leaf &&
	    memcmp(t->v[xi].digest, tn->digest, sizeof(t->v[xi].digest)) == 0) {
		s->st->nodes_verified++;
		if ((rc = keep_subtree(s, xi)) < 0)
			return rc;
		goto known;
	}
	if (tn->n == 0 && depth > 0)
		return bad(s, block, "empty non-root node");
	if (tn->n > 0 && (tn->key[0] < lo || (has_hi && tn->key[tn->n - 1] >= hi)))
		return bad(s, block, "keys outside the range its parent gives it");
	x = TF_VEC_PUSH(t->v, t->n, t->cap);
	if (!x)
		return tf_fail(ENOMEM, "index: out of memory");
	xi = (uint32_t)(t->n - 1);
	*x = (struct ix_node){.id = t->next_id++,
			      .block = block,
			      .csum = tn->csum,
			      .leaf = tn->leaf,
			      .state = IX_BUSY,
			      .first = UINT64_MAX};
	memcpy(x->digest, tn->digest, sizeof(x->digest));
	if ((rc = bm_put(&t->view, block, xi)) < 0)
		return rc;
	s->st->nodes_new++;
	if (tn->leaf) {
		if (tn->n) {
			x->first = tn->key[0];
			x->last = tn->key[tn->n - 1];
		}
		x->mapped = tn->n;
		if ((rc = write_runs(s, x->id, tn)) < 0)
			return rc;
	} else {
		uint64_t mapped = 0;

		for (uint32_t i = 0; i < tn->n; i++) {
			bool last = i + 1 == tn->n;

			rc = establish(s, tn->child[i], tn->key[i], last ? hi : tn->key[i + 1],
				       last ? has_hi : true, depth + 1, NULL, &kids[i]);
			if (rc < 0)
				return rc;
			mapped += t->v[kids[i]].mapped;
		}
		x = &t->v[xi]; /* the array may have moved */
		x->mapped = mapped;
		if (tn->n) {
			x->first = t->v[kids[0]].first;
			x->last = t->v[kids[tn->n - 1]].last;
		}
		x->kids = (uint32_t)t->nkids;
		x->nkids = tn->n;
		if (TF_VEC_RESERVE(t->kids, t->kcap, t->nkids + tn->n) < 0)
			return tf_fail(ENOMEM, "index: out of memory");
		memcpy(t->kids + t->nkids, kids, tn->n * sizeof(*kids));
		t->nkids += tn->n;
	}
	x->state = IX_ALIVE;
	if ((rc = write_node(s, x)) < 0)
		return rc;
	*out = xi;
	return 0;
known:
	x = &t->v[xi];
	if (x->state == IX_BUSY)
		return bad(s, block, "reached again below itself (a cycle)");
	if (depth > 0 && x->first <= x->last && (x->first < lo || (has_hi && x->last >= hi)))
		return bad(s, block, "keys outside the range its parent gives it");
	*out = xi;
	return 0;
}

/* Copies a leaf's runs before the leaf is deleted. */
static int keep_runs(struct sync *s, uint32_t leaf)
{
	struct ix_nodes *t = s->t;
	int rc;

	if (!s->sel_run &&
	    (rc = tf_sql_prepare(s->ix, "SELECT dbegin, len FROM runs WHERE leaf = ?1",
				 &s->sel_run)) < 0)
		return rc;
	sqlite3_bind_int64(s->sel_run, 1, t->v[leaf].id);
	while ((rc = sqlite3_step(s->sel_run)) == SQLITE_ROW) {
		struct ix_freed_run *f = TF_VEC_PUSH(t->freed, t->nfreed, t->fcap);

		if (!f) {
			sqlite3_reset(s->sel_run);
			return tf_fail(ENOMEM, "index: out of memory");
		}
		*f = (struct ix_freed_run){(uint64_t)sqlite3_column_int64(s->sel_run, 0),
					   (uint64_t)sqlite3_column_int64(s->sel_run, 1), leaf};
	}
	sqlite3_reset(s->sel_run);
	return rc == SQLITE_DONE ? 0 : tf_sql_fail(s->ix, rc, "reading runs");
}

static int delete_dead(struct sync *s)
{
	struct ix_nodes *t = s->t;
	sqlite3_stmt *dn = NULL, *dc = NULL, *dr = NULL;
	int rc;

	if ((rc = tf_sql_prepare(s->ix, "DELETE FROM nodes WHERE id = ?1", &dn)) < 0 ||
	    (rc = tf_sql_prepare(s->ix, "DELETE FROM children WHERE parent = ?1", &dc)) < 0 ||
	    (rc = tf_sql_prepare(s->ix, "DELETE FROM runs WHERE leaf = ?1", &dr)) < 0)
		goto out;
	for (size_t i = 0; rc == 0 && i < t->n; i++) {
		if (t->v[i].state != IX_STORED)
			continue;
		s->st->nodes_freed++;
		if (t->v[i].leaf && t->keep_freed && (rc = keep_runs(s, (uint32_t)i)) < 0)
			break;
		sqlite3_bind_int64(dn, 1, t->v[i].id);
		sqlite3_bind_int64(dc, 1, t->v[i].id);
		sqlite3_bind_int64(dr, 1, t->v[i].id);
		if ((rc = step(s->ix, dn, "deleting a node")) == 0)
			rc = step(s->ix, t->v[i].leaf ? dr : dc, "deleting a node");
	}
out:
	sqlite3_finalize(dn);
	sqlite3_finalize(dc);
	sqlite3_finalize(dr);
	return rc;
}

int ix_nodes_sync(struct ix_nodes *t, struct tf_index *ix, struct tf_thin_meta *view,
		  const struct tf_thin_dev *devs, size_t ndev, uint32_t *roots,
		  struct ix_sync_stats *st)
{
	struct sync s = {.t = t, .ix = ix, .view = view, .st = st};
	struct tf_thin_node **pre = NULL;
	struct ix_blockmap pending = {0}; /* root block -> the device whose pre[] holds it */
	const int64_t first_new = t->next_id;
	int rc;

	memset(st, 0, sizeof(*st));
	if (!(s.buf = malloc(TF_BTREE_MAX_DEPTH * sizeof(*s.buf))) ||
	    !(pre = calloc(ndev ? ndev : 1, sizeof(*pre)))) {
		rc = tf_fail(ENOMEM, "index: out of memory");
		goto out;
	}
	if ((rc = tf_sql_prepare(ix, "INSERT INTO nodes VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
				 &s.ins_node)) < 0 ||
	    (rc = tf_sql_prepare(ix, "INSERT INTO children VALUES (?1, ?2, ?3)", &s.ins_child)) <
		0 ||
	    (rc = tf_sql_prepare(ix, "INSERT INTO runs VALUES (?1, ?2, ?3, ?4, ?5)", &s.ins_run)) <
		0)
		goto out;
	/* Roots first: every snapshot proven unchanged keeps its subtrees, so
	 * a written origin's unchanged leaves, which a snapshot still holds,
	 * are known before the origin's new nodes are expanded. */
	for (size_t i = 0; i < ndev; i++) {
		uint64_t b = devs[i].mapping_root;
		uint32_t xi;

		snprintf(s.what, sizeof(s.what), "device %u mapping tree", devs[i].dev_id);
		if (bm_get(&t->view, b, &xi) || bm_get(&pending, b, &xi))
			continue; /* proven, or read for an earlier device */
		if ((rc = bm_put(&pending, b, (uint32_t)i)) < 0)
			goto out;
		if (!(pre[i] = malloc(sizeof(*pre[i])))) {
			rc = tf_fail(ENOMEM, "index: out of memory");
			goto out;
		}
		if ((rc = tf_thin_node_read(view, b, s.what, pre[i], &s.ws)) < 0)
			goto out;
		if (bm_get(&t->stored, b, &xi) && t->v[xi].state == IX_STORED &&
		    t->v[xi].csum == pre[i]->csum && t->v[xi].leaf == pre[i]->leaf &&
		    memcmp(t->v[xi].digest, pre[i]->digest, sizeof(t->v[xi].digest)) == 0) {
			st->nodes_verified++;
			if ((rc = keep_subtree(&s, xi)) < 0)
				goto out;
		}
	}
	for (size_t i = 0; i < ndev; i++) {
		const struct tf_thin_node *first_read = pre[i];
		uint32_t j;

		if (!first_read && bm_get(&pending, devs[i].mapping_root, &j))
			first_read = pre[j];
		snprintf(s.what, sizeof(s.what), "device %u mapping tree", devs[i].dev_id);
		rc = establish(&s, devs[i].mapping_root, 0, 0, false, 0, first_read, &roots[i]);
		if (rc < 0)
			goto out;
		if (t->v[roots[i]].id >= first_new) /* its root is new in this view */
			st->devices_walked++;
	}
	st->nodes_read = s.ws.nodes_read;
	rc = delete_dead(&s);
out:
	for (size_t i = 0; pre && i < ndev; i++)
		free(pre[i]);
	free(pre);
	bm_free(&pending);
	free(s.buf);
	sqlite3_finalize(s.ins_node);
	sqlite3_finalize(s.ins_child);
	sqlite3_finalize(s.ins_run);
	sqlite3_finalize(s.sel_run);
	return rc;
}

int ix_nodes_refs(struct ix_nodes *t, const uint32_t *dev_ids, const uint32_t *roots, size_t ndev,
		  uint8_t live)
{
	uint32_t *indeg = calloc(t->n ? t->n : 1, sizeof(*indeg));
	uint32_t *queue = malloc((t->n ? t->n : 1) * sizeof(*queue));
	size_t head = 0, tail = 0;

	if (!indeg || !queue) {
		free(indeg);
		free(queue);
		return tf_fail(ENOMEM, "index: out of memory computing usage");
	}
	for (size_t i = 0; i < t->n; i++) {
		t->v[i].refs = t->v[i].owners = 0;
		if (t->v[i].state == live)
			for (uint32_t k = 0; k < t->v[i].nkids; k++)
				indeg[t->kids[t->v[i].kids + k]]++;
	}
	for (size_t i = 0; i < ndev; i++) {
		t->v[roots[i]].refs++;
		t->v[roots[i]].owners += dev_ids[i];
	}
	/* Kahn's order: a node's count is final once all its parents gave
	 * theirs; a node sits at most once in one device's tree, so the
	 * parents' device sets are disjoint and the counts add. */
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].state == live && indeg[i] == 0)
			queue[tail++] = (uint32_t)i;
	while (head < tail) {
		const struct ix_node *x = &t->v[queue[head++]];

		for (uint32_t k = 0; k < x->nkids; k++) {
			uint32_t c = t->kids[x->kids + k];

			t->v[c].refs += x->refs;
			t->v[c].owners += x->owners;
			if (--indeg[c] == 0)
				queue[tail++] = c;
		}
	}
	free(indeg);
	free(queue);
	return 0;
}
