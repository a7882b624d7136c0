/* build.c — building and refreshing the index from one metadata view.
 *
 * Everything happens in one transaction, so a reader sees the old index or
 * the new one.  The mapping trees are brought up to date node by node
 * (nodes.c: what is proven unchanged is not read, what several devices
 * share is stored once); the device rows point at their root nodes.  Names
 * come from the pool's LV list on every refresh (a rename does not touch
 * the metadata), and tf_index_refresh_names() refreshes only them.
 */
#include "index_internal.h"
#include "nodes.h"

#include "core/base/err.h"
#include "core/base/progress.h"
#include "core/base/vec.h"
#include "core/pool/pool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct old_dev {
	uint32_t thin_id;
	int64_t root_node;
	int64_t exclusive;
};

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int load_old(struct tf_index *ix, struct old_dev **out, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = tf_sql_prepare(
		 ix, "SELECT thin_id, root_node, exclusive_chunks FROM devices ORDER BY thin_id",
		 &st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct old_dev *o = TF_VEC_PUSH(*out, *n, cap);

		if (!o) {
			rc = SQLITE_NOMEM;
			break;
		}
		o->thin_id = (uint32_t)sqlite3_column_int64(st, 0);
		o->root_node = sqlite3_column_int64(st, 1);
		o->exclusive = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(*out);
		*out = NULL;
		*n = 0;
		return tf_sql_fail(ix, rc, "reading devices");
	}
	return 0;
}

static bool old_at_or_after(const void *elem, const void *key)
{
	return ((const struct old_dev *)elem)->thin_id >= *(const uint32_t *)key;
}

static const struct old_dev *old_find(const struct old_dev *o, size_t n, uint32_t id)
{
	size_t i = tf_partition_point(o, n, sizeof(*o), &id, old_at_or_after);

	return i < n && o[i].thin_id == id ? &o[i] : NULL;
}

static const struct tf_lv *lv_for(const struct tf_lv *lvs, size_t n, uint32_t thin_id)
{
	for (size_t i = 0; i < n; i++)
		if (lvs[i].thin_id == thin_id)
			return &lvs[i];
	return NULL;
}

/* Writes the device row: LV facts (or synthesized ones), the details, its
 * root node and mapped count. */
static int upsert_dev(struct tf_index *ix, sqlite3_stmt *st, const struct tf_thin_dev *d,
		      const struct tf_lv *lv, const struct ix_node *root, uint64_t chunk_bytes)
{
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "thin%" PRIu32, d->dev_id);
	sqlite3_bind_int64(st, 1, d->dev_id);
	sqlite3_bind_text(st, 2, lv ? lv->name : name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, lv ? lv->lv_id : "", -1, SQLITE_TRANSIENT);
	if (lv && lv->origin)
		sqlite3_bind_text(st, 4, lv->origin, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 4);
	/* Without an LV the size is where the last mapping ends. */
	sqlite3_bind_int64(st, 5,
			   (sqlite3_int64)(lv ? lv->size_bytes
					   : root->first <= root->last
					       ? (root->last + 1) * chunk_bytes
					       : 0));
	sqlite3_bind_int64(st, 6, lv ? lv->creation_time : 0);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)d->mapped_blocks);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)d->transaction_id);
	sqlite3_bind_int64(st, 9, d->creation_time);
	sqlite3_bind_int64(st, 10, d->snapshotted_time);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)d->mapping_root);
	sqlite3_bind_int64(st, 12, root->id);
	sqlite3_bind_int64(st, 13, (sqlite3_int64)root->mapped);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : tf_sql_fail(ix, rc, "writing a device");
}

/* Whether the index belongs to this pool; clears it if not (or if asked). */
static int check_pool(struct tf_index *ix, struct tf_pool *p, bool rebuild, bool *cleared)
{
	sqlite3_stmt *st;
	bool same = false;
	int rc;

	if ((rc = tf_sql_prepare(ix, "SELECT identity, chunk_sectors FROM pool", &st)) < 0)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		same = strcmp((const char *)sqlite3_column_text(st, 0), tf_pool_identity(p)) == 0 &&
		       (uint32_t)sqlite3_column_int64(st, 1) == tf_pool_chunk_sectors(p);
	sqlite3_finalize(st);
	*cleared = rebuild || !same;
	return *cleared ? tf_schema_clear(ix) : 0;
}

static int write_pool(struct tf_index *ix, struct tf_pool *p, const struct tf_thin_info *in,
		      bool changed)
{
	sqlite3_stmt *st;
	int64_t now = (int64_t)time(NULL);
	int rc;

	if ((rc = tf_sql_prepare(ix,
				 "INSERT INTO pool (id, identity, source, chunk_sectors, "
				 "transaction_id, data_nr_blocks, data_nr_allocated, "
				 "metadata_nr_blocks, metadata_nr_allocated, built_at, checked_at) "
				 "VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) "
				 "ON CONFLICT(id) DO UPDATE SET source = ?2, transaction_id = ?4, "
				 "data_nr_blocks = ?5, data_nr_allocated = ?6, "
				 "metadata_nr_blocks = ?7, metadata_nr_allocated = ?8, "
				 "built_at = CASE WHEN ?10 THEN ?9 ELSE built_at END, "
				 "checked_at = ?9",
				 &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, tf_pool_identity(p), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, tf_pool_source(p), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, in->data_block_size);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)in->transaction_id);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)in->data_nr_blocks);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)in->data_nr_allocated);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)in->metadata_nr_blocks);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)in->metadata_nr_allocated);
	sqlite3_bind_int64(st, 9, now);
	sqlite3_bind_int(st, 10, changed);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : tf_sql_fail(ix, rc, "writing the pool row");
}

/* The stored nodes' weights before the sync, for an incremental usage
 * update; false if the stored devices do not all name a stored root. */
static int weights_before(struct ix_nodes *t, const struct old_dev *old, size_t nold,
			  uint64_t **refs, uint64_t **owners, bool *ok)
{
	uint32_t *ids = calloc(nold ? nold : 1, sizeof(*ids));
	uint32_t *roots = calloc(nold ? nold : 1, sizeof(*roots));
	int rc = 0;

	*ok = false;
	*refs = *owners = NULL;
	if (!ids || !roots) {
		rc = tf_fail(ENOMEM, "index: out of memory");
		goto out;
	}
	for (size_t i = 0; i < nold; i++) {
		size_t x = ix_nodes_find(t, old[i].root_node);

		if (x == t->n)
			goto out;
		ids[i] = old[i].thin_id;
		roots[i] = (uint32_t)x;
	}
	if ((rc = ix_nodes_refs(t, ids, roots, nold, IX_STORED)) < 0)
		goto out;
	*refs = malloc((t->n ? t->n : 1) * sizeof(**refs));
	*owners = malloc((t->n ? t->n : 1) * sizeof(**owners));
	if (!*refs || !*owners) {
		free(*refs);
		free(*owners);
		*refs = *owners = NULL;
		rc = tf_fail(ENOMEM, "index: out of memory");
		goto out;
	}
	for (size_t i = 0; i < t->n; i++) {
		(*refs)[i] = t->v[i].refs;
		(*owners)[i] = t->v[i].owners;
	}
	*ok = true;
out:
	free(ids);
	free(roots);
	return rc;
}

/* Brings the nodes to the view; a contradiction in what the index kept
 * (nodes.c) costs one rebuild, never a wrong map.  *ub_ok says whether
 * ub_refs/ub_owners hold the weights before (not after a rebuild). */
static int sync_nodes(struct tf_index *ix, struct tf_thin_meta *view,
		      const struct tf_thin_dev *devs, size_t ndev, const struct old_dev *old,
		      size_t nold, struct ix_nodes *t, uint32_t *roots, struct ix_sync_stats *ss,
		      bool *cleared, uint64_t **ub_refs, uint64_t **ub_owners, bool *ub_ok)
{
	int rc = ix_nodes_load(ix, t);

	*ub_ok = false;
	if (rc == 0 && !*cleared)
		rc = weights_before(t, old, nold, ub_refs, ub_owners, ub_ok);
	t->keep_freed = *ub_ok;
	/* -EUCLEAN from the load is the index contradicting itself; from the
	 * sync it is the pool's metadata, which a rebuild would not mend. */
	if (rc == 0 && (rc = ix_nodes_sync(t, ix, view, devs, ndev, roots, ss)) != -EAGAIN)
		return rc;
	if (rc != -EAGAIN && rc != -EUCLEAN)
		return rc;
	ix_nodes_free(t);
	*cleared = true;
	*ub_ok = false;
	if ((rc = tf_sql_exec(ix, "DELETE FROM runs; DELETE FROM children; DELETE FROM nodes;",
			      "clearing the index")) < 0 ||
	    (rc = ix_nodes_load(ix, t)) < 0)
		return rc;
	return ix_nodes_sync(t, ix, view, devs, ndev, roots, ss);
}

/* Usage after the sync: incremental from the weights before when there
 * are any, else one full sweep. */
static int update_usage(struct tf_index *ix, struct ix_nodes *t, const struct tf_thin_dev *devs,
			const uint32_t *roots, size_t ndev, const struct old_dev *old, size_t nold,
			const uint64_t *ub_refs, const uint64_t *ub_owners, bool ub_ok)
{
	uint32_t *ids = calloc(ndev ? ndev : 1, sizeof(*ids));
	int64_t *excl = calloc(ndev ? ndev : 1, sizeof(*excl));
	int rc;

	if (!ids || !excl) {
		rc = tf_fail(ENOMEM, "index: out of memory");
		goto out;
	}
	for (size_t i = 0; i < ndev; i++) {
		const struct old_dev *o = old_find(old, nold, devs[i].dev_id);

		ids[i] = devs[i].dev_id;
		excl[i] = o ? o->exclusive : 0;
	}
	if ((rc = ix_nodes_refs(t, ids, roots, ndev, IX_ALIVE)) < 0)
		goto out;
	if (ub_ok)
		rc = tf_usage_update_since(
		    ix, t, devs, roots, ndev,
		    &(struct usage_before){ub_refs, ub_owners, t->nstored, excl});
	else
		rc = tf_usage_update(ix, t, devs, roots, ndev);
out:
	free(ids);
	free(excl);
	return rc;
}

static int refresh_in_txn(struct tf_index *ix, struct tf_pool *p, struct tf_thin_meta *view,
			  bool rebuild, struct tf_index_stats *stats)
{
	const struct tf_thin_info *in = tf_thin_info(view);
	const uint64_t chunk_bytes = (uint64_t)in->data_block_size * 512;
	sqlite3_stmt *upd = NULL, *gone = NULL;
	struct ix_nodes t = {0};
	struct ix_sync_stats ss = {0};
	struct old_dev *old = NULL;
	struct tf_thin_dev *devs = NULL;
	const struct tf_lv *lvs;
	uint32_t *roots = NULL;
	uint64_t *ub_refs = NULL, *ub_owners = NULL;
	size_t nold = 0, ndev = 0, nlv = 0;
	bool cleared, changed, ub_ok = false;
	int rc;

	if ((rc = check_pool(ix, p, rebuild, &cleared)) < 0 ||
	    (rc = tf_thin_devices(view, &devs, &ndev)) < 0 ||
	    (rc = tf_pool_lvs(p, &lvs, &nlv)) < 0 || (rc = load_old(ix, &old, &nold)) < 0)
		goto out;
	if (!(roots = calloc(ndev ? ndev : 1, sizeof(*roots)))) {
		rc = tf_fail(ENOMEM, "index: out of memory");
		goto out;
	}
	/* Progress (-P): metadata nodes read, of at most the blocks in use. */
	tf_progress_unit(ix->progress, "nodes");
	tf_progress_total(ix->progress, in->metadata_nr_allocated);
	if ((rc = sync_nodes(ix, view, devs, ndev, old, nold, &t, roots, &ss, &cleared, &ub_refs,
			     &ub_owners, &ub_ok)) < 0)
		goto out;
	/* The bound was the blocks in use; what was read is the whole job. */
	tf_progress_total(ix->progress, ss.nodes_read);
	tf_progress_set(ix->progress, ss.nodes_read);
	stats->rebuilt = cleared;
	stats->devices_walked = ss.devices_walked;
	stats->nodes_read = ss.nodes_read;
	stats->nodes_new = ss.nodes_new;
	stats->nodes_freed = ss.nodes_freed;
	changed = cleared || nold != ndev || ss.nodes_new || ss.nodes_freed;
	if ((rc = tf_sql_prepare(ix, "DELETE FROM devices WHERE thin_id = ?1", &gone)) < 0 ||
	    (rc =
		 tf_sql_prepare(ix,
				"INSERT INTO devices (thin_id, name, lv_id, origin, size_bytes, "
				"creation_time, mapped_blocks, dev_transaction_id, "
				"dev_creation_time, dev_snapshotted_time, mapping_root, root_node, "
				"mapped_chunks) "
				"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
				"ON CONFLICT(thin_id) DO UPDATE SET name = ?2, lv_id = ?3, "
				"origin = ?4, size_bytes = ?5, creation_time = ?6, "
				"mapped_blocks = ?7, dev_transaction_id = ?8, "
				"dev_creation_time = ?9, dev_snapshotted_time = ?10, "
				"mapping_root = ?11, root_node = ?12, mapped_chunks = ?13",
				&upd)) < 0)
		goto out;
	/* Devices that are gone (their nodes went with the sync). */
	for (size_t i = 0, j = 0; i < nold; i++) {
		while (j < ndev && devs[j].dev_id < old[i].thin_id)
			j++;
		if (j < ndev && devs[j].dev_id == old[i].thin_id)
			continue;
		changed = true;
		sqlite3_bind_int64(gone, 1, old[i].thin_id);
		rc = sqlite3_step(gone);
		sqlite3_reset(gone);
		if (rc != SQLITE_DONE) {
			rc = tf_sql_fail(ix, rc, "removing a device");
			goto out;
		}
	}
	for (size_t i = 0; i < ndev; i++) {
		const struct old_dev *o = old_find(old, nold, devs[i].dev_id);

		if (!o || o->root_node != t.v[roots[i]].id)
			changed = true;
		if ((rc = upsert_dev(ix, upd, &devs[i], lv_for(lvs, nlv, devs[i].dev_id),
				     &t.v[roots[i]], chunk_bytes)) < 0)
			goto out;
	}
	stats->devices_total = ndev;
	if (changed && (rc = update_usage(ix, &t, devs, roots, ndev, old, nold, ub_refs, ub_owners,
					  ub_ok)) < 0)
		goto out;
	rc = write_pool(ix, p, in, changed);
out:
	sqlite3_finalize(upd);
	sqlite3_finalize(gone);
	ix_nodes_free(&t);
	free(ub_refs);
	free(ub_owners);
	free(roots);
	free(old);
	free(devs);
	return rc;
}

static int count_extents(struct tf_index *ix, uint64_t *n)
{
	sqlite3_stmt *st;
	int rc = tf_sql_prepare(ix, "SELECT count(*) FROM runs", &st);

	if (rc < 0)
		return rc;
	rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : tf_sql_fail(ix, rc, "counting extents");
}

int tf_index_refresh(struct tf_index *ix, struct tf_pool *p, bool rebuild,
		     struct tf_index_stats *stats)
{
	struct tf_thin_meta *view;
	double t0 = now_seconds();
	int rc;

	memset(stats, 0, sizeof(*stats));
	if ((rc = tf_pool_meta_begin(p, &view)) < 0)
		return rc;
	stats->transaction_id = tf_thin_info(view)->transaction_id;
	rc = tf_sql_exec(ix, "BEGIN IMMEDIATE", "starting a refresh");
	if (rc == 0) {
		rc = tf_index_source_check(ix, p, view, &rebuild);
		if (rc == 0)
			rc = refresh_in_txn(ix, p, view, rebuild, stats);
		if (rc == 0)
			rc = tf_index_source_store(ix, p, view);
		if (rc == 0)
			rc = tf_sql_exec(ix, "COMMIT", "committing a refresh");
		if (rc < 0)
			sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
	}
	tf_pool_meta_end(p, view);
	if (rc == 0)
		rc = count_extents(ix, &stats->extents);
	stats->seconds = now_seconds() - t0;
	return rc;
}

/* Whether the device row differs from the LV. */
static bool lv_differs(sqlite3_stmt *st, const struct tf_lv *lv)
{
	const unsigned char *name = sqlite3_column_text(st, 1), *id = sqlite3_column_text(st, 2),
			    *origin = sqlite3_column_text(st, 3);

	return strcmp((const char *)name, lv->name) != 0 ||
	       strcmp((const char *)id, lv->lv_id) != 0 ||
	       (origin == NULL) != (lv->origin == NULL) ||
	       (origin && strcmp((const char *)origin, lv->origin) != 0) ||
	       (uint64_t)sqlite3_column_int64(st, 4) != lv->size_bytes ||
	       sqlite3_column_int64(st, 5) != lv->creation_time;
}

static int names_in_txn(struct tf_index *ix, struct tf_pool *p, bool *changed)
{
	sqlite3_stmt *sel = NULL, *upd = NULL, *chk = NULL;
	const struct tf_lv *lvs;
	size_t nlv;
	int rc;

	if ((rc = tf_pool_lvs(p, &lvs, &nlv)) < 0 ||
	    (rc = tf_sql_prepare(ix,
				 "SELECT thin_id, name, lv_id, origin, size_bytes, creation_time "
				 "FROM devices",
				 &sel)) < 0 ||
	    (rc = tf_sql_prepare(ix,
				 "UPDATE devices SET name = ?2, lv_id = ?3, origin = ?4, "
				 "size_bytes = ?5, creation_time = ?6 WHERE thin_id = ?1",
				 &upd)) < 0 ||
	    (rc = tf_sql_prepare(ix, "UPDATE pool SET checked_at = ?1", &chk)) < 0)
		goto out;
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		const struct tf_lv *lv = lv_for(lvs, nlv, (uint32_t)sqlite3_column_int64(sel, 0));

		if (!lv || !lv_differs(sel, lv))
			continue; /* a device without an LV keeps its synthesized facts */
		*changed = true;
		sqlite3_bind_int64(upd, 1, lv->thin_id);
		sqlite3_bind_text(upd, 2, lv->name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(upd, 3, lv->lv_id, -1, SQLITE_TRANSIENT);
		if (lv->origin)
			sqlite3_bind_text(upd, 4, lv->origin, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(upd, 4);
		sqlite3_bind_int64(upd, 5, (sqlite3_int64)lv->size_bytes);
		sqlite3_bind_int64(upd, 6, lv->creation_time);
		rc = sqlite3_step(upd);
		sqlite3_reset(upd);
		if (rc != SQLITE_DONE)
			break;
	}
	if (rc != SQLITE_DONE) {
		rc = tf_sql_fail(ix, rc, "refreshing names");
		goto out;
	}
	sqlite3_bind_int64(chk, 1, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(chk) == SQLITE_DONE
		 ? 0
		 : tf_sql_fail(ix, SQLITE_ERROR, "writing the pool row");
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	sqlite3_finalize(chk);
	return rc;
}

int tf_index_refresh_names(struct tf_index *ix, struct tf_pool *p, bool *changed)
{
	int rc;

	*changed = false;
	if ((rc = tf_sql_exec(ix, "BEGIN IMMEDIATE", "starting a refresh")) < 0)
		return rc;
	rc = names_in_txn(ix, p, changed);
	if (rc == 0)
		rc = tf_sql_exec(ix, "COMMIT", "committing a refresh");
	if (rc < 0)
		sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int tf_index_volume_now(struct tf_index *ix, struct tf_pool *p, uint32_t thin_id,
			struct tf_thin_run **runs, size_t *n)
{
	struct tf_index_stats st;
	int rc = tf_index_refresh(ix, p, false, &st);

	if (rc < 0) {
		*runs = NULL;
		*n = 0;
		return rc;
	}
	return tf_index_extents(ix, thin_id, runs, n);
}
