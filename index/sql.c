/* sql.c — SQLite result codes to -errno with a message, and small helpers. */
#include "index_internal.h"

#include "core/base/err.h"

#include <errno.h>

int tf_sql_fail(struct tf_index *ix, int rc, const char *what)
{
	int e;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		e = EBUSY;
		break;
	case SQLITE_NOMEM:
		e = ENOMEM;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		e = EUCLEAN;
		break;
	case SQLITE_FULL:
		e = ENOSPC;
		break;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		e = EACCES;
		break;
	case SQLITE_CANTOPEN:
		e = ENOENT;
		break;
	default:
		e = EIO;
	}
	return tf_fail(e, "index %s: %s: %s", ix->path, what,
		       ix->db ? sqlite3_errmsg(ix->db) : sqlite3_errstr(rc));
}

int tf_sql_exec(struct tf_index *ix, const char *sql, const char *what)
{
	int rc = sqlite3_exec(ix->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : tf_sql_fail(ix, rc, what);
}

int tf_sql_prepare(struct tf_index *ix, const char *sql, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v2(ix->db, sql, -1, st, NULL);

	return rc == SQLITE_OK ? 0 : tf_sql_fail(ix, rc, "preparing a query");
}
