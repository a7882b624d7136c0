/* index_internal.h — what the index's files share: the handle, the SQLite
 * error translator and the schema entry points. */
#ifndef THINFS_INDEX_INTERNAL_H
#define THINFS_INDEX_INTERNAL_H

#include <sqlite3.h>

#include "index.h"

struct tf_index {
	sqlite3 *db;
	char path[4096];
	struct tf_progress *progress; /* NULL: none (tf_index_set_progress) */
};

/* The one translator of SQLite result codes: records "index PATH: WHAT:
 * sqlite's message" and returns the matching -errno. */
int tf_sql_fail(struct tf_index *ix, int rc, const char *what);
/* Runs SQL with no results. */
int tf_sql_exec(struct tf_index *ix, const char *sql, const char *what);
int tf_sql_prepare(struct tf_index *ix, const char *sql, sqlite3_stmt **st);

/* Creates or migrates the schema; -EUCLEAN if the file is not a usable
 * index (the caller then starts a new one). */
int tf_schema_init(struct tf_index *ix);
/* Removes every row (a rebuild). */
int tf_schema_clear(struct tf_index *ix);

/* identity.c: whether the index was built from this pool's own metadata
 * (sets *rebuild if not), and recording that it now is.  Called inside a
 * refresh's transaction. */
int tf_index_source_check(struct tf_index *ix, struct tf_pool *p, struct tf_thin_meta *view,
			  bool *rebuild);
int tf_index_source_store(struct tf_index *ix, struct tf_pool *p, struct tf_thin_meta *view);

struct ix_nodes;
struct tf_thin_dev;
/* Recomputes exclusive/shared chunk counts of every device from the nodes'
 * reference counts (ix_nodes_refs) and the distinct leaves' runs. */
int tf_usage_update(struct tf_index *ix, const struct ix_nodes *t, const struct tf_thin_dev *devs,
		    const uint32_t *roots, size_t ndev);

/* What usage was before a refresh: the stored nodes' weights (indexed like
 * ix_nodes.v[0 .. n)) and each current device's exclusive count (0 if new). */
struct usage_before {
	const uint64_t *refs, *owners;
	size_t n;
	const int64_t *excl; /* aligned with the devices passed */
};
/* The same counts at the cost of what changed: only the data ranges of
 * leaves new, freed, or whose device count moved to or from 1 are swept,
 * with the weights before and after (falls back to a full sweep when most
 * leaves moved). */
int tf_usage_update_since(struct tf_index *ix, const struct ix_nodes *t,
			  const struct tf_thin_dev *devs, const uint32_t *roots, size_t ndev,
			  const struct usage_before *ub);

#endif
