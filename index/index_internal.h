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

/* Recomputes exclusive/shared chunk counts of every device. */
int tf_usage_update(struct tf_index *ix);

#endif
