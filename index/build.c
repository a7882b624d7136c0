/* build.c — building and refreshing the index from one metadata view.
 *
 * Everything happens in one transaction, so a reader sees the old index or
 * the new one.  A device whose mapping root and details are unchanged keeps
 * its rows; only the others are walked again.  Names come from the pool's
 * LV list on every refresh (a rename does not touch the metadata).
 */
#include "index_internal.h"

#include "core/base/err.h"
#include "core/base/progress.h"
#include "core/pool/pool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct old_dev {
	uint32_t thin_id;
	uint64_t root, mapped_blocks, transaction_id;
	uint32_t ctime, stime;
};

struct insert_ctx {
	struct tf_index *ix;
	sqlite3_stmt *st;
	uint32_t dev;
	uint64_t chunks, rows;
	uint64_t end; /* one past the last mapped virtual chunk */
};

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int insert_run(void *arg, const struct tf_thin_run *r)
{
	struct insert_ctx *c = arg;
	int rc;

	sqlite3_bind_int64(c->st, 1, c->dev);
	sqlite3_bind_int64(c->st, 2, (sqlite3_int64)r->vbegin);
	sqlite3_bind_int64(c->st, 3, (sqlite3_int64)r->dbegin);
	sqlite3_bind_int64(c->st, 4, (sqlite3_int64)r->len);
	sqlite3_bind_int64(c->st, 5, r->time);
	rc = sqlite3_step(c->st);
	sqlite3_reset(c->st);
	if (rc != SQLITE_DONE)
		return tf_sql_fail(c->ix, rc, "inserting extents");
	c->chunks += r->len;
	c->rows++;
	tf_progress_add(c->ix->progress, r->len);
	c->end = r->vbegin + r->len;
	return 0;
}

static int load_old(struct tf_index *ix, struct old_dev **out, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = tf_sql_prepare(ix,
				 "SELECT thin_id, mapping_root, mapped_blocks, "
				 "dev_transaction_id, dev_creation_time, dev_snapshotted_time "
				 "FROM devices ORDER BY thin_id",
				 &st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			struct old_dev *p = realloc(*out, (cap = cap ? 2 * cap : 16) * sizeof(*p));
			if (!p) {
				sqlite3_finalize(st);
				free(*out);
				return tf_fail(ENOMEM, "index: out of memory");
			}
			*out = p;
		}
		(*out)[*n] = (struct old_dev){
		    .thin_id = (uint32_t)sqlite3_column_int64(st, 0),
		    .root = (uint64_t)sqlite3_column_int64(st, 1),
		    .mapped_blocks = (uint64_t)sqlite3_column_int64(st, 2),
		    .transaction_id = (uint64_t)sqlite3_column_int64(st, 3),
		    .ctime = (uint32_t)sqlite3_column_int64(st, 4),
		    .stime = (uint32_t)sqlite3_column_int64(st, 5),
		};
		(*n)++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(*out);
		return tf_sql_fail(ix, rc, "reading devices");
	}
	return 0;
}

static const struct old_dev *old_find(const struct old_dev *o, size_t n, uint32_t id)
{
	for (size_t lo = 0, hi = n; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;
		if (o[mid].thin_id == id)
			return &o[mid];
		if (o[mid].thin_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool dev_unchanged(const struct old_dev *o, const struct tf_thin_dev *d)
{
	return o && o->root == d->mapping_root && o->mapped_blocks == d->mapped_blocks &&
	       o->transaction_id == d->transaction_id && o->ctime == d->creation_time &&
	       o->stime == d->snapshotted_time;
}

static const struct tf_lv *lv_for(const struct tf_lv *lvs, size_t n, uint32_t thin_id)
{
	for (size_t i = 0; i < n; i++)
		if (lvs[i].thin_id == thin_id)
			return &lvs[i];
	return NULL;
}

/* Writes the device row: LV facts (or synthesized ones) and the details. */
static int upsert_dev(struct tf_index *ix, sqlite3_stmt *st, const struct tf_thin_dev *d,
		      const struct tf_lv *lv)
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
	/* Without an LV the size is where the last mapping ends: set after the
	 * walk (NULL keeps what an earlier walk found). */
	if (lv)
		sqlite3_bind_int64(st, 5, (sqlite3_int64)lv->size_bytes);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_int64(st, 6, lv ? lv->creation_time : 0);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)d->mapped_blocks);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)d->transaction_id);
	sqlite3_bind_int64(st, 9, d->creation_time);
	sqlite3_bind_int64(st, 10, d->snapshotted_time);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)d->mapping_root);
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

static int refresh_in_txn(struct tf_index *ix, struct tf_pool *p, struct tf_thin_meta *view,
			  bool rebuild, struct tf_index_stats *stats)
{
	const struct tf_thin_info *in = tf_thin_info(view);
	sqlite3_stmt *ins = NULL, *del = NULL, *upd = NULL, *gone = NULL, *cnt = NULL;
	struct old_dev *old = NULL;
	struct tf_thin_dev *devs = NULL;
	const struct tf_lv *lvs;
	size_t nold = 0, ndev = 0, nlv = 0;
	bool cleared, changed;
	int rc;

	if ((rc = check_pool(ix, p, rebuild, &cleared)) < 0 ||
	    (rc = tf_thin_devices(view, &devs, &ndev)) < 0 ||
	    (rc = tf_pool_lvs(p, &lvs, &nlv)) < 0 || (rc = load_old(ix, &old, &nold)) < 0)
		goto out;
	stats->rebuilt = cleared;
	changed = cleared || nold != ndev;
	if ((rc = tf_sql_prepare(ix, "INSERT INTO extents VALUES (?1, ?2, ?3, ?4, ?5)", &ins)) <
		0 ||
	    (rc = tf_sql_prepare(ix, "DELETE FROM extents WHERE dev = ?1", &del)) < 0 ||
	    (rc = tf_sql_prepare(ix, "DELETE FROM devices WHERE thin_id = ?1", &gone)) < 0 ||
	    (rc = tf_sql_prepare(ix,
				 "UPDATE devices SET mapped_chunks = ?2, size_bytes = "
				 "CASE WHEN ?3 THEN size_bytes ELSE ?4 END WHERE thin_id = ?1",
				 &cnt)) < 0 ||
	    (rc = tf_sql_prepare(
		 ix,
		 "INSERT INTO devices (thin_id, name, lv_id, origin, size_bytes, "
		 "creation_time, mapped_blocks, dev_transaction_id, "
		 "dev_creation_time, dev_snapshotted_time, mapping_root) "
		 "VALUES (?1, ?2, ?3, ?4, coalesce(?5, 0), ?6, ?7, ?8, ?9, ?10, ?11) "
		 "ON CONFLICT(thin_id) DO UPDATE SET name = ?2, lv_id = ?3, "
		 "origin = ?4, size_bytes = coalesce(?5, size_bytes), "
		 "creation_time = ?6, "
		 "mapped_blocks = ?7, dev_transaction_id = ?8, "
		 "dev_creation_time = ?9, dev_snapshotted_time = ?10, "
		 "mapping_root = ?11",
		 &upd)) < 0)
		goto out;
	/* Devices that are gone. */
	for (size_t i = 0, j = 0; i < nold; i++) {
		while (j < ndev && devs[j].dev_id < old[i].thin_id)
			j++;
		if (j < ndev && devs[j].dev_id == old[i].thin_id)
			continue;
		changed = true;
		sqlite3_bind_int64(del, 1, old[i].thin_id);
		sqlite3_bind_int64(gone, 1, old[i].thin_id);
		rc = sqlite3_step(del) == SQLITE_DONE && sqlite3_step(gone) == SQLITE_DONE
			 ? 0
			 : tf_sql_fail(ix, SQLITE_ERROR, "removing a device");
		sqlite3_reset(del);
		sqlite3_reset(gone);
		if (rc < 0)
			goto out;
	}
	/* Progress: the mapped chunks of the devices that will be walked. */
	if (ix->progress) {
		uint64_t total = 0;
		for (size_t i = 0; i < ndev; i++)
			if (cleared ||
			    !dev_unchanged(old_find(old, nold, devs[i].dev_id), &devs[i]))
				total += devs[i].mapped_blocks;
		tf_progress_unit(ix->progress, "chunks");
		tf_progress_total(ix->progress, total);
	}
	for (size_t i = 0; i < ndev; i++) {
		const struct old_dev *o = old_find(old, nold, devs[i].dev_id);
		struct insert_ctx c = {.ix = ix, .st = ins, .dev = devs[i].dev_id};

		const struct tf_lv *lv = lv_for(lvs, nlv, devs[i].dev_id);

		if ((rc = upsert_dev(ix, upd, &devs[i], lv)) < 0)
			goto out;
		if (!cleared && dev_unchanged(o, &devs[i]))
			continue;
		changed = true;
		stats->devices_walked++;
		sqlite3_bind_int64(del, 1, devs[i].dev_id);
		rc = sqlite3_step(del);
		sqlite3_reset(del);
		if (rc != SQLITE_DONE) {
			rc = tf_sql_fail(ix, rc, "replacing extents");
			goto out;
		}
		if ((rc = tf_thin_walk(view, devs[i].dev_id, insert_run, &c, NULL)) < 0)
			goto out;
		sqlite3_bind_int64(cnt, 1, devs[i].dev_id);
		sqlite3_bind_int64(cnt, 2, (sqlite3_int64)c.chunks);
		sqlite3_bind_int(cnt, 3, lv != NULL);
		sqlite3_bind_int64(cnt, 4, (sqlite3_int64)(c.end * in->data_block_size * 512ull));
		rc = sqlite3_step(cnt);
		sqlite3_reset(cnt);
		if (rc != SQLITE_DONE) {
			rc = tf_sql_fail(ix, rc, "counting chunks");
			goto out;
		}
	}
	stats->devices_total = ndev;
	if (changed && (rc = tf_usage_update(ix)) < 0)
		goto out;
	rc = write_pool(ix, p, in, changed);
out:
	sqlite3_finalize(ins);
	sqlite3_finalize(del);
	sqlite3_finalize(upd);
	sqlite3_finalize(gone);
	sqlite3_finalize(cnt);
	free(old);
	free(devs);
	return rc;
}

static int count_extents(struct tf_index *ix, uint64_t *n)
{
	sqlite3_stmt *st;
	int rc = tf_sql_prepare(ix, "SELECT count(*) FROM extents", &st);

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
		rc = refresh_in_txn(ix, p, view, rebuild, stats);
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
