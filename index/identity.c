/* identity.c — an index serves only the metadata it was read from.
 *
 * Two look-alike pools (thin_restore'd twice from one shape, or a copy with
 * one data block moved) have the same identity and the same mapping roots,
 * so the incremental refresh, which trusts unchanged roots, would keep one
 * pool's extents for the other.  Each index therefore records which source
 * it was built from and a few superblock facts, in the one-row table
 *
 *   source   source_key (tf_pool_source_key: canonical path and st_dev:st_ino
 *            of an image's directory and files, or a live pool's VG/pool
 *            uuids and metadata device), transaction_id and time of the
 *            superblock, data_nr_blocks, data_bytes (size of the data device)
 *
 * and every refresh compares them with the pool first.  A different source,
 * a transaction id or superblock time that went back, a data device that
 * shrank or changed size, or no record at all beside existing rows, rebuild
 * the index from the metadata.  (Roots that changed within one source are
 * the incremental refresh's business: dm-thin shadows every changed node, so
 * a kernel-written pool never reuses a root for other contents.)
 *
 * Default index paths also carry a digest of the source key, so look-alike
 * pools mounted side by side never share an index file.
 */
#include "index_internal.h"

#include "core/base/err.h"
#include "core/pool/pool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char source_sql[] = "CREATE TABLE IF NOT EXISTS source ("
				 " id INTEGER PRIMARY KEY CHECK (id = 1), source_key TEXT NOT NULL,"
				 " transaction_id INTEGER NOT NULL, sb_time INTEGER NOT NULL,"
				 " data_nr_blocks INTEGER NOT NULL, data_bytes INTEGER NOT NULL);";

static int has_rows(struct tf_index *ix, bool *yes)
{
	sqlite3_stmt *st;
	int rc = tf_sql_prepare(ix, "SELECT count(*) FROM pool", &st);

	if (rc < 0)
		return rc;
	rc = sqlite3_step(st);
	*yes = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : tf_sql_fail(ix, rc, "reading the pool row");
}

int tf_index_source_check(struct tf_index *ix, struct tf_pool *p, struct tf_thin_meta *view,
			  bool *rebuild)
{
	const struct tf_thin_info *in = tf_thin_info(view);
	sqlite3_stmt *st;
	bool recorded = false, same = false, rows;
	int rc;

	if ((rc = tf_sql_exec(ix, source_sql, "creating the source table")) < 0)
		return rc;
	if ((rc = tf_sql_prepare(ix,
				 "SELECT source_key, transaction_id, sb_time, data_nr_blocks, "
				 "data_bytes FROM source",
				 &st)) < 0)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		recorded = true;
		same = key && strcmp(key, tf_pool_source_key(p)) == 0 &&
		       (uint64_t)sqlite3_column_int64(st, 1) <= in->transaction_id &&
		       (uint64_t)sqlite3_column_int64(st, 2) <= in->time &&
		       (uint64_t)sqlite3_column_int64(st, 3) <= in->data_nr_blocks &&
		       (uint64_t)sqlite3_column_int64(st, 4) == tf_pool_data_bytes(p);
	}
	sqlite3_finalize(st);
	if (!recorded) {
		/* Rows without a record of their source: built by an older
		 * thinfs, or for whatever pool; start again. */
		if ((rc = has_rows(ix, &rows)) < 0)
			return rc;
		same = !rows;
	}
	if (!same)
		*rebuild = true;
	return 0;
}

int tf_index_source_store(struct tf_index *ix, struct tf_pool *p, struct tf_thin_meta *view)
{
	const struct tf_thin_info *in = tf_thin_info(view);
	sqlite3_stmt *st;
	int rc;

	if ((rc = tf_sql_prepare(
		 ix,
		 "INSERT OR REPLACE INTO source (id, source_key, transaction_id, "
		 "sb_time, data_nr_blocks, data_bytes) VALUES (1, ?1, ?2, ?3, ?4, ?5)",
		 &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, tf_pool_source_key(p), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)in->transaction_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)in->time);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)in->data_nr_blocks);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)tf_pool_data_bytes(p));
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : tf_sql_fail(ix, rc, "recording the index's source");
}

int tf_index_path_for(const char *identity, const char *source_key, char *buf, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	char name[300];

	for (const char *c = source_key; *c; c++)
		h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
	snprintf(name, sizeof(name), "%.200s-%016" PRIx64, identity, h);
	return tf_index_default_path(name, buf, len);
}

int tf_index_pool_path(struct tf_pool *p, char *buf, size_t len)
{
	return tf_index_path_for(tf_pool_identity(p), tf_pool_source_key(p), buf, len);
}
