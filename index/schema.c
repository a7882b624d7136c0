/* schema.c — the index's tables.
 *
 *   pool     one row: the pool's identity and source, chunk size, the
 *            transaction id and superblock facts the index was built from,
 *            space-map usage, built_at (last change) and checked_at (last
 *            refresh), unix seconds.
 *   devices  one row per thin device of the metadata: thin_id, the LV name
 *            ("thin<id>" without LVM), LV uuid, origin LV, LV size in bytes,
 *            LV creation time; the device details (mapped_blocks,
 *            transaction_id, creation and snapshot times) and the root block
 *            of its mapping tree — together they tell a refresh whether the
 *            device changed — and mapped/exclusive/shared chunk counts.
 *   extents  (dev, vbegin, dbegin, len, time): runs of consecutive virtual
 *            chunks mapped to consecutive data chunks with one time stamp;
 *            WITHOUT ROWID, keyed by (dev, vbegin), so a device's chunk map
 *            is one range scan in order.
 *
 * PRAGMA user_version holds the schema version; another version is dropped
 * and rebuilt (the index is a cache).
 */
#include "index_internal.h"

#include "core/base/err.h"

#include <errno.h>

#define SCHEMA_VERSION 1

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS pool ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), identity TEXT NOT NULL, source TEXT NOT NULL,"
    " chunk_sectors INTEGER NOT NULL, transaction_id INTEGER NOT NULL,"
    " data_nr_blocks INTEGER, data_nr_allocated INTEGER,"
    " metadata_nr_blocks INTEGER, metadata_nr_allocated INTEGER,"
    " built_at INTEGER, checked_at INTEGER);"
    "CREATE TABLE IF NOT EXISTS devices ("
    " thin_id INTEGER PRIMARY KEY, name TEXT NOT NULL, lv_id TEXT NOT NULL, origin TEXT,"
    " size_bytes INTEGER NOT NULL, creation_time INTEGER NOT NULL,"
    " mapped_blocks INTEGER NOT NULL, dev_transaction_id INTEGER NOT NULL,"
    " dev_creation_time INTEGER NOT NULL, dev_snapshotted_time INTEGER NOT NULL,"
    " mapping_root INTEGER NOT NULL, mapped_chunks INTEGER NOT NULL DEFAULT 0,"
    " exclusive_chunks INTEGER NOT NULL DEFAULT 0, shared_chunks INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS extents ("
    " dev INTEGER NOT NULL, vbegin INTEGER NOT NULL, dbegin INTEGER NOT NULL,"
    " len INTEGER NOT NULL, time INTEGER NOT NULL, PRIMARY KEY (dev, vbegin)) WITHOUT ROWID;";

static int user_version(struct tf_index *ix, int *v)
{
	sqlite3_stmt *st;
	int rc = tf_sql_prepare(ix, "PRAGMA user_version", &st);

	if (rc < 0)
		return rc;
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : tf_sql_fail(ix, rc, "reading the schema version");
}

int tf_schema_init(struct tf_index *ix)
{
	int v, rc;

	if ((rc = tf_sql_exec(ix, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
			      "setting the journal mode")) < 0)
		return rc;
	if ((rc = user_version(ix, &v)) < 0)
		return rc;
	if (v != 0 && v != SCHEMA_VERSION &&
	    (rc = tf_sql_exec(ix,
			      "DROP TABLE IF EXISTS extents; DROP TABLE IF EXISTS devices;"
			      " DROP TABLE IF EXISTS pool;",
			      "dropping an old schema")) < 0)
		return rc;
	if ((rc = tf_sql_exec(ix, schema_sql, "creating the schema")) < 0)
		return rc;
	return tf_sql_exec(ix, "PRAGMA user_version = 1", "setting the schema version");
}

int tf_schema_clear(struct tf_index *ix)
{
	return tf_sql_exec(ix, "DELETE FROM extents; DELETE FROM devices; DELETE FROM pool;",
			   "clearing the index");
}
