/* index.c — opening and closing the index, and where it lives by default.
 * A file that is not a usable index is moved aside and rebuilt: the index
 * is a cache, and a user should not have to find and delete it by hand. */
#include "index_internal.h"

#include "core/base/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tf_index_default_path(const char *identity, char *buf, size_t len)
{
	const char *dir = getenv("THINFS_INDEX_DIR");
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char base[4096];
	size_t o;
	int n;

	if (dir && *dir)
		n = snprintf(base, sizeof(base), "%s", dir);
	else if (geteuid() == 0)
		n = snprintf(base, sizeof(base), "/var/cache/thinfs");
	else if (xdg && *xdg)
		n = snprintf(base, sizeof(base), "%s/thinfs", xdg);
	else if (home && *home)
		n = snprintf(base, sizeof(base), "%s/.cache/thinfs", home);
	else
		return tf_fail(ENOENT, "index: no HOME to keep the index in; pass --index PATH");
	if (n < 0 || (size_t)n >= sizeof(base))
		return tf_fail(ENAMETOOLONG, "index: directory name too long");
	n = snprintf(buf, len, "%s/", base);
	if (n < 0 || (size_t)n >= len)
		return tf_fail(ENAMETOOLONG, "index: path too long");
	o = (size_t)n;
	for (const char *c = identity; *c && o + 4 < len; c++)
		buf[o++] =
		    (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.",
			    *c) &&
		     *c)
			? *c
			: '_';
	if (o + 4 >= len)
		return tf_fail(ENAMETOOLONG, "index: path too long");
	strcpy(buf + o, ".db");
	return 0;
}

static int open_db(struct tf_index *ix)
{
	int rc = sqlite3_open_v2(ix->path, &ix->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
				 NULL);

	if (rc != SQLITE_OK)
		return tf_sql_fail(ix, rc, "cannot open");
	sqlite3_busy_timeout(ix->db, 10000);
	return tf_schema_init(ix);
}

static void remove_files(const char *path)
{
	char aux[4200];

	unlink(path);
	snprintf(aux, sizeof(aux), "%s-wal", path);
	unlink(aux);
	snprintf(aux, sizeof(aux), "%s-shm", path);
	unlink(aux);
}

int tf_index_open(const char *path, struct tf_index **out)
{
	struct tf_index *ix = calloc(1, sizeof(*ix));
	int rc;

	if (!ix)
		return tf_fail(ENOMEM, "index %s: out of memory", path);
	if (snprintf(ix->path, sizeof(ix->path), "%s", path) >= (int)sizeof(ix->path)) {
		free(ix);
		return tf_fail(ENAMETOOLONG, "index %s: path too long", path);
	}
	rc = open_db(ix);
	if (rc == -EUCLEAN) {
		/* Not a database, or a damaged one: start again. */
		sqlite3_close(ix->db);
		ix->db = NULL;
		remove_files(path);
		rc = open_db(ix);
	}
	if (rc < 0) {
		sqlite3_close(ix->db);
		free(ix);
		return rc;
	}
	*out = ix;
	return 0;
}

void tf_index_set_progress(struct tf_index *ix, struct tf_progress *p)
{
	ix->progress = p;
}

void tf_index_close(struct tf_index *ix)
{
	if (!ix)
		return;
	sqlite3_close(ix->db);
	free(ix);
}
