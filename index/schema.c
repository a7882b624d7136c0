/* schema.c — the index's tables.
 *
 * The index mirrors the pool's sharing: each distinct node of the mapping
 * trees is stored once, and a device is the id of its root node, so its
 * size follows the pool's unique metadata, not devices x mappings.
 *
 *   pool      one row: the pool's identity and source, chunk size, the
 *             transaction id and superblock facts the index was built from,
 *             space-map usage, built_at (last change) and checked_at (last
 *             refresh), unix seconds.
 *   devices   one row per thin device: thin_id, the LV name ("thin<id>"
 *             without LVM), LV uuid, origin LV, LV size in bytes, LV
 *             creation time; the device details, the root block of its
 *             mapping tree and root_node (nodes.id); mapped/exclusive/
 *             shared chunk counts.
 *   nodes     one row per distinct mapping-tree node of the last view:
 *             id, block, csum (the checksum the node carries), digest (16
 *             bytes: a 128-bit hash of its entries), leaf, first_key/last_key
 *             (lowest/highest virtual chunk below it, NULL if none), mapped
 *             (chunks mapped below it).  block + csum + digest is how a
 *             refresh proves a node unchanged (index/nodes.c).
 *   children  (parent, idx, child): an internal node's children in key
 *             order, WITHOUT ROWID.
 *   runs      (leaf, vbegin, dbegin, len, time): a leaf's mappings as runs
 *             of consecutive virtual chunks on consecutive data chunks with
 *             one time stamp, WITHOUT ROWID keyed by (leaf, vbegin).
 *   extents   a VIEW (dev, vbegin, dbegin, len, time): every device's runs,
 *             the trees expanded by a recursive query.  Runs break at leaf
 *             boundaries; ORDER BY dev, vbegin for a device's map in order.
 *             Example: which volumes map data chunk N?
 *               SELECT d.name, e.vbegin + (N - e.dbegin) AS chunk
 *                 FROM extents e JOIN devices d ON d.thin_id = e.dev
 *                WHERE N >= e.dbegin AND N < e.dbegin + e.len;
 *
 * PRAGMA user_version holds the schema version; another version is dropped
 * and rebuilt (the index is a cache).
 */
#include "index_internal.h"

#include "core/base/err.h"

#include <errno.h>

#define SCHEMA_VERSION 2
#define TF_STR_(x) #x
#define TF_STR(x) TF_STR_(x)

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
    " mapping_root INTEGER NOT NULL, root_node INTEGER NOT NULL DEFAULT 0,"
    " mapped_chunks INTEGER NOT NULL DEFAULT 0,"
    " exclusive_chunks INTEGER NOT NULL DEFAULT 0, shared_chunks INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS nodes ("
    " id INTEGER PRIMARY KEY, block INTEGER NOT NULL, csum INTEGER NOT NULL,"
    " digest BLOB NOT NULL, leaf INTEGER NOT NULL, first_key INTEGER, last_key INTEGER,"
    " mapped INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS children ("
    " parent INTEGER NOT NULL, idx INTEGER NOT NULL, child INTEGER NOT NULL,"
    " PRIMARY KEY (parent, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS runs ("
    " leaf INTEGER NOT NULL, vbegin INTEGER NOT NULL, dbegin INTEGER NOT NULL,"
    " len INTEGER NOT NULL, time INTEGER NOT NULL, PRIMARY KEY (leaf, vbegin)) WITHOUT ROWID;"
    "CREATE VIEW IF NOT EXISTS extents (dev, vbegin, dbegin, len, time) AS"
    " WITH RECURSIVE tree (dev, node) AS ("
    "  SELECT thin_id, root_node FROM devices"
    "  UNION ALL SELECT tree.dev, children.child FROM tree"
    "  JOIN children ON children.parent = tree.node)"
    " SELECT tree.dev, runs.vbegin, runs.dbegin, runs.len, runs.time"
    " FROM tree JOIN runs ON runs.leaf = tree.node;";

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
	/* extents was a table in version 1 and is a view since: drop what it is. */
	if (v != 0 && v != SCHEMA_VERSION &&
	    sqlite3_exec(ix->db, "DROP TABLE IF EXISTS extents", NULL, NULL, NULL) != SQLITE_OK &&
	    (rc = tf_sql_exec(ix, "DROP VIEW IF EXISTS extents", "dropping an old schema")) < 0)
		return rc;
	if (v != 0 && v != SCHEMA_VERSION &&
	    (rc = tf_sql_exec(ix,
			      "DROP TABLE IF EXISTS runs; DROP TABLE IF EXISTS children;"
			      " DROP TABLE IF EXISTS nodes; DROP TABLE IF EXISTS devices;"
			      " DROP TABLE IF EXISTS pool;",
			      "dropping an old schema")) < 0)
		return rc;
	if ((rc = tf_sql_exec(ix, schema_sql, "creating the schema")) < 0)
		return rc;
	return tf_sql_exec(ix, "PRAGMA user_version = " TF_STR(SCHEMA_VERSION),
			   "setting the schema version");
}

int tf_schema_clear(struct tf_index *ix)
{
	return tf_sql_exec(ix,
			   "DELETE FROM runs; DELETE FROM children; DELETE FROM nodes;"
			   " DELETE FROM devices; DELETE FROM pool;",
			   "clearing the index");
}
