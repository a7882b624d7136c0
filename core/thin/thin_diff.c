/* thin_diff.c — the mappings that differ between two thin devices, from a
 * walk of both bottom-level trees that never reads a subtree they share.
 *
 * Two cursors present the trees as ordered sequences of subtrees and leaf
 * entries.  When both fronts are the same block, both skip it unread: a
 * snapshot shares every subtree its origin has not written since, so the
 * cost follows the changes, not the mapped size.  Otherwise the front with
 * the lower key bound is expanded (both on a tie) until two leaf entries
 * can be compared.
 */
#include "core/thin/thin_meta.h"

#include "core/base/err.h"
#include "core/thin/thin_meta_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

struct diff_emit {
	tf_thin_diff_fn fn;
	void *ctx;
	bool have;
	enum tf_diff_kind kind;
	struct tf_thin_run cur;
};

static int emit(struct diff_emit *e, enum tf_diff_kind kind, const struct tf_thin_run *r)
{
	int rc;

	if (e->have && e->kind == kind && r->vbegin == e->cur.vbegin + e->cur.len &&
	    r->dbegin == e->cur.dbegin + e->cur.len) {
		e->cur.len += r->len;
		return 0;
	}
	if (e->have && (rc = e->fn(e->ctx, e->kind, &e->cur)) != 0)
		return rc;
	e->have = true;
	e->kind = kind;
	e->cur = *r;
	return 0;
}

static int flush(struct diff_emit *e)
{
	int rc = e->have ? e->fn(e->ctx, e->kind, &e->cur) : 0;

	e->have = false;
	return rc;
}

/* Sort key of a front item: an exhausted cursor sorts last. */
static uint64_t item_key(const struct tf_item *it, bool *end)
{
	*end = it->kind == TF_ITEM_END;
	return it->key;
}

static bool key_le(uint64_t a, bool a_end, uint64_t b, bool b_end)
{
	if (a_end)
		return b_end;
	return b_end || a <= b;
}

static int diff_loop(struct tf_thin_meta *m, struct tf_cursor *a, struct tf_cursor *b,
		     struct diff_emit *e, struct tf_walk_stats *st)
{
	struct tf_thin_run ra, rb;
	struct tf_item fa, fb;
	bool ea, eb;
	int rc;

	for (;;) {
		tf_cursor_front(a, &fa);
		tf_cursor_front(b, &fb);
		if (fa.kind == TF_ITEM_END && fb.kind == TF_ITEM_END)
			return 0;
		uint64_t ka = item_key(&fa, &ea), kb = item_key(&fb, &eb);

		if (fa.kind == TF_ITEM_SUBTREE && fb.kind == TF_ITEM_SUBTREE &&
		    fa.block == fb.block) {
			tf_cursor_skip(a);
			tf_cursor_skip(b);
			if (st)
				st->nodes_skipped_shared++;
			continue;
		}
		if (fa.kind == TF_ITEM_SUBTREE || fb.kind == TF_ITEM_SUBTREE) {
			bool xa = fa.kind == TF_ITEM_SUBTREE && key_le(ka, ea, kb, eb);
			bool xb = fb.kind == TF_ITEM_SUBTREE && key_le(kb, eb, ka, ea);

			if (xa && (rc = tf_cursor_expand(a)) < 0)
				return rc;
			if (xb && (rc = tf_cursor_expand(b)) < 0)
				return rc;
			if (xa || xb)
				continue;
			/* A subtree whose keys all lie above the other side's
			 * entry: that entry has no partner. */
		}
		if (fa.kind == TF_ITEM_ENTRY &&
		    (rc = tf_thin_decode_mapping(m, ka, fa.value, a->what, &ra)) < 0)
			return rc;
		if (fb.kind == TF_ITEM_ENTRY &&
		    (rc = tf_thin_decode_mapping(m, kb, fb.value, b->what, &rb)) < 0)
			return rc;
		if (fa.kind == TF_ITEM_ENTRY && fb.kind == TF_ITEM_ENTRY && ka == kb) {
			tf_cursor_skip(a);
			tf_cursor_skip(b);
			if (ra.dbegin != rb.dbegin && (rc = emit(e, TF_DIFF_DIFFERENT, &rb)) != 0)
				return rc;
		} else if (fa.kind == TF_ITEM_ENTRY && key_le(ka, ea, kb, eb)) {
			tf_cursor_skip(a);
			if ((rc = emit(e, TF_DIFF_LEFT_ONLY, &ra)) != 0)
				return rc;
		} else {
			tf_cursor_skip(b);
			if ((rc = emit(e, TF_DIFF_RIGHT_ONLY, &rb)) != 0)
				return rc;
		}
	}
}

int tf_thin_diff(struct tf_thin_meta *m, uint32_t left_dev, uint32_t right_dev, tf_thin_diff_fn fn,
		 void *ctx, struct tf_walk_stats *st)
{
	assert(m && fn);
	struct diff_emit e = {.fn = fn, .ctx = ctx};
	struct tf_cursor a, b;
	uint64_t ra, rb;
	char wa[64], wb[64];
	int rc;

	if ((rc = tf_thin_dev_root(m, left_dev, &ra)) < 0 ||
	    (rc = tf_thin_dev_root(m, right_dev, &rb)) < 0)
		return rc;
	snprintf(wa, sizeof(wa), "device %u mapping tree", left_dev);
	snprintf(wb, sizeof(wb), "device %u mapping tree", right_dev);
	if ((rc = tf_cursor_init(&a, &m->io, ra, 8, wa, st)) < 0)
		return rc;
	if ((rc = tf_cursor_init(&b, &m->io, rb, 8, wb, st)) < 0) {
		tf_cursor_free(&a);
		return rc;
	}
	rc = diff_loop(m, &a, &b, &e, st);
	if (rc == 0)
		rc = flush(&e);
	tf_cursor_free(&a);
	tf_cursor_free(&b);
	return rc;
}
