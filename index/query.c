/* query.c — what fs/ and tools/ read from the index: the pool row, the
 * devices, and one device's chunk map. */
#include "index_internal.h"

#include "core/base/err.h"
#include "core/base/vec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tf_index_pool(struct tf_index *ix, struct tf_ix_pool *out)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = tf_sql_prepare(ix,
				 "SELECT identity, source, chunk_sectors, transaction_id, "
				 "data_nr_blocks, data_nr_allocated, metadata_nr_blocks, "
				 "metadata_nr_allocated, built_at, checked_at FROM pool",
				 &st)) < 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out->identity, sizeof(out->identity), "%s",
			 (const char *)sqlite3_column_text(st, 0));
		snprintf(out->source, sizeof(out->source), "%s",
			 (const char *)sqlite3_column_text(st, 1));
		out->chunk_sectors = (uint32_t)sqlite3_column_int64(st, 2);
		out->transaction_id = (uint64_t)sqlite3_column_int64(st, 3);
		out->data_nr_blocks = (uint64_t)sqlite3_column_int64(st, 4);
		out->data_nr_allocated = (uint64_t)sqlite3_column_int64(st, 5);
		out->metadata_nr_blocks = (uint64_t)sqlite3_column_int64(st, 6);
		out->metadata_nr_allocated = (uint64_t)sqlite3_column_int64(st, 7);
		out->built_at = sqlite3_column_int64(st, 8);
		out->checked_at = sqlite3_column_int64(st, 9);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = tf_fail(ENODATA, "index %s: empty (never built)", ix->path);
	} else {
		rc = tf_sql_fail(ix, rc, "reading the pool row");
	}
	sqlite3_finalize(st);
	return rc;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? strdup((const char *)s) : NULL;
}

void tf_index_devices_free(struct tf_ix_dev *devs, size_t n)
{
	for (size_t i = 0; devs && i < n; i++) {
		free(devs[i].name);
		free(devs[i].lv_id);
		free(devs[i].origin);
	}
	free(devs);
}

int tf_index_devices(struct tf_index *ix, struct tf_ix_dev **devs, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	*devs = NULL;
	*n = 0;
	if ((rc = tf_sql_prepare(ix,
				 "SELECT thin_id, name, lv_id, origin, size_bytes, "
				 "creation_time, mapped_chunks, exclusive_chunks, shared_chunks, "
				 "mapping_root FROM devices ORDER BY name",
				 &st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tf_ix_dev *d;

		if (*n == cap) {
			struct tf_ix_dev *p =
			    realloc(*devs, (cap = cap ? 2 * cap : 16) * sizeof(*p));
			if (!p) {
				rc = SQLITE_NOMEM;
				break;
			}
			*devs = p;
		}
		d = &(*devs)[(*n)++];
		d->thin_id = (uint32_t)sqlite3_column_int64(st, 0);
		d->name = col_dup(st, 1);
		d->lv_id = col_dup(st, 2);
		d->origin = col_dup(st, 3);
		d->size_bytes = (uint64_t)sqlite3_column_int64(st, 4);
		d->creation_time = sqlite3_column_int64(st, 5);
		d->mapped_chunks = (uint64_t)sqlite3_column_int64(st, 6);
		d->exclusive_chunks = (uint64_t)sqlite3_column_int64(st, 7);
		d->shared_chunks = (uint64_t)sqlite3_column_int64(st, 8);
		d->mapping_root = (uint64_t)sqlite3_column_int64(st, 9);
		if (!d->name || !d->lv_id) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		tf_index_devices_free(*devs, *n);
		*devs = NULL;
		*n = 0;
		return tf_sql_fail(ix, rc, "reading devices");
	}
	return 0;
}

/* Appends r to the map, joining it to the last run where a leaf boundary
 * split one run of the tree. */
static int map_add(struct tf_thin_run **runs, size_t *n, size_t *cap, const struct tf_thin_run *r)
{
	struct tf_thin_run *last = *n ? &(*runs)[*n - 1] : NULL;

	if (last && last->vbegin + last->len == r->vbegin &&
	    last->dbegin + last->len == r->dbegin && last->time == r->time) {
		last->len += r->len;
		return 0;
	}
	if (!(last = TF_VEC_PUSH(*runs, *n, *cap)))
		return -ENOMEM;
	*last = *r;
	return 0;
}

/* A device's map: its root node's subtree in key order, one query per
 * node it holds. */
static int tree_runs(struct tf_index *ix, int64_t root, struct tf_thin_run **runs, size_t *n)
{
	sqlite3_stmt *kids = NULL, *leaf = NULL;
	int64_t *stack = NULL;
	size_t ns = 0, scap = 0, cap = 0;
	int rc;

	if ((rc = tf_sql_prepare(ix,
				 "SELECT child FROM children WHERE parent = ?1 ORDER BY idx DESC",
				 &kids)) < 0 ||
	    (rc = tf_sql_prepare(ix,
				 "SELECT vbegin, dbegin, len, time FROM runs WHERE leaf = ?1 "
				 "ORDER BY vbegin",
				 &leaf)) < 0)
		goto out;
	if (TF_VEC_RESERVE(stack, scap, 1) < 0) {
		rc = SQLITE_NOMEM;
		goto sqlfail;
	}
	stack[ns++] = root;
	while (ns > 0) {
		int64_t node = stack[--ns];
		bool internal = false;

		/* Children pushed in descending order pop in key order. */
		sqlite3_bind_int64(kids, 1, node);
		while ((rc = sqlite3_step(kids)) == SQLITE_ROW) {
			int64_t *k = TF_VEC_PUSH(stack, ns, scap);

			if (!k) {
				rc = SQLITE_NOMEM;
				break;
			}
			*k = sqlite3_column_int64(kids, 0);
			internal = true;
		}
		sqlite3_reset(kids);
		if (rc != SQLITE_DONE)
			goto sqlfail;
		if (internal)
			continue;
		sqlite3_bind_int64(leaf, 1, node);
		while ((rc = sqlite3_step(leaf)) == SQLITE_ROW) {
			struct tf_thin_run r = {
			    .vbegin = (uint64_t)sqlite3_column_int64(leaf, 0),
			    .dbegin = (uint64_t)sqlite3_column_int64(leaf, 1),
			    .len = (uint64_t)sqlite3_column_int64(leaf, 2),
			    .time = (uint32_t)sqlite3_column_int64(leaf, 3),
			};
			if (map_add(runs, n, &cap, &r) < 0) {
				rc = SQLITE_NOMEM;
				break;
			}
		}
		sqlite3_reset(leaf);
		if (rc != SQLITE_DONE)
			goto sqlfail;
	}
	rc = 0;
	goto out;
sqlfail:
	rc = rc == SQLITE_NOMEM ? tf_fail(ENOMEM, "index %s: out of memory", ix->path)
				: tf_sql_fail(ix, rc, "reading a device's map");
out:
	free(stack);
	sqlite3_finalize(kids);
	sqlite3_finalize(leaf);
	return rc;
}

int tf_index_extents(struct tf_index *ix, uint32_t thin_id, struct tf_thin_run **runs, size_t *n)
{
	sqlite3_stmt *st;
	int64_t root;
	int rc;

	*runs = NULL;
	*n = 0;
	if ((rc = tf_sql_prepare(ix, "SELECT root_node FROM devices WHERE thin_id = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, thin_id);
	rc = sqlite3_step(st);
	root = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return tf_fail(ENOENT, "index %s: no thin device %u", ix->path, thin_id);
	if (rc != SQLITE_ROW)
		return tf_sql_fail(ix, rc, "looking up a device");
	if ((rc = tree_runs(ix, root, runs, n)) < 0) {
		free(*runs);
		*runs = NULL;
		*n = 0;
	}
	return rc;
}
