/* status.c — .thinfs/status: the pool and index state as one JSON object,
 * rendered at open so a reader sees one consistent text. */
#include "files.h"
#include "fs.h"

#include "core/base/err.h"
#include "core/base/strbuf.h"
#include "core/pool/pool.h"
#include "index/index.h"

#include <stdlib.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

static int status_render(struct tf_fs *fs, char **out, size_t *len)
{
	struct tf_strbuf sb = {0};
	struct tf_pool_counters pc;
	struct tf_ix_pool ip;
	struct tf_voltab *t;
	uint64_t chunk;
	int64_t now = (int64_t)time(NULL);
	int rc;

	pthread_mutex_lock(&fs->ix_lock);
	rc = tf_index_pool(fs->ix, &ip);
	pthread_mutex_unlock(&fs->ix_lock);
	if (rc < 0)
		return rc;
	chunk = (uint64_t)ip.chunk_sectors * 512;
	tf_pool_counters(fs->pool, &pc);
	t = tf_voltab_get(fs);

	tf_sb_printf(&sb, "{\n  \"source\": ");
	tf_sb_json_str(&sb, tf_pool_source(fs->pool));
	tf_sb_printf(&sb, ",\n  \"kind\": \"%s\",\n  \"identity\": ",
		     tf_pool_kind(fs->pool) == TF_POOL_LIVE ? "live" : "image");
	tf_sb_json_str(&sb, ip.identity);
	tf_sb_printf(
	    &sb,
	    ",\n  \"transaction_id\": %" PRIu64 ",\n  \"chunk_bytes\": %" PRIu64
	    ",\n  \"data\": {\"total_bytes\": %" PRIu64 ", \"used_bytes\": %" PRIu64 "}"
	    ",\n  \"metadata\": {\"total_bytes\": %" PRIu64 ", \"used_bytes\": %" PRIu64 "}",
	    ip.transaction_id, chunk, ip.data_nr_blocks * chunk, ip.data_nr_allocated * chunk,
	    ip.metadata_nr_blocks * 4096, ip.metadata_nr_allocated * 4096);
	tf_sb_printf(&sb, ",\n  \"index\": {\"path\": ");
	tf_sb_json_str(&sb, fs->index_path);
	tf_sb_printf(
	    &sb,
	    ", \"built_at\": %" PRId64 ", \"checked_at\": %" PRId64 ", \"age_seconds\": %" PRId64
	    ", \"refreshes\": %" PRIu64 ", \"refresh_errors\": %" PRIu64 ", \"last_error\": ",
	    ip.built_at, ip.checked_at, now - ip.built_at, (uint64_t)atomic_load(&fs->refreshes),
	    (uint64_t)atomic_load(&fs->refresh_errors));
	tf_sb_json_str(&sb, fs->last_refresh_error[0] ? fs->last_refresh_error : NULL);
	tf_sb_printf(&sb, "},\n  \"volumes\": %zu,\n  \"files\": ", t ? t->n : 0);
	tf_files_status(fs, &sb);
	tf_sb_printf(&sb,
		     ",\n  \"counters\": {\"requests\": %" PRIu64 ", \"bytes_served\": %" PRIu64
		     ", \"data_reads\": %" PRIu64 ", \"data_bytes_read\": %" PRIu64 "}",
		     (uint64_t)atomic_load(&fs->requests), (uint64_t)atomic_load(&fs->bytes_served),
		     pc.data_reads, pc.data_bytes_read);
	if (tf_pool_kind(fs->pool) == TF_POOL_LIVE)
		tf_sb_printf(&sb, ",\n  \"consistency\": \"volumes/ of an active origin is a live "
				  "view that changes while it is written, not a consistent copy; "
				  "copy a snapshot for a consistent image\"");
	tf_sb_printf(&sb, ",\n  \"mounted_at\": %" PRId64 "\n}\n", fs->mounted_at);
	tf_voltab_put(t);
	*out = tf_sb_take(&sb, len);
	return *out ? 0 : tf_fail(ENOMEM, ".thinfs/status: out of memory");
}

/* The text an open file reads: rendered once, at open. */
struct status_fh {
	char *text;
	size_t len;
};

static int status_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st)
{
	size_t len = 0;
	char *text;
	int rc = status_render(fs, &text, &len);

	if (rc == 0)
		free(text);
	tf_fs_file_attr(fs, ino, len, (len + 511) / 512, 0, st);
	return rc;
}

static int status_open(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct status_fh *h;
	int rc;

	(void)ino;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return tf_fail(EACCES, ".thinfs/status: read-only");
	if (!(h = calloc(1, sizeof(*h))))
		return tf_fail(ENOMEM, ".thinfs/status: out of memory");
	if ((rc = status_render(fs, &h->text, &h->len)) < 0) {
		free(h);
		return rc;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1; /* the size changes between opens */
	return 0;
}

static ssize_t status_read(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, char *buf,
			   size_t size, off_t off)
{
	struct status_fh *h = (struct status_fh *)(uintptr_t)fi->fh;
	size_t o = (uint64_t)off < h->len ? (size_t)off : h->len;
	size_t n = h->len - o < size ? h->len - o : size;

	(void)fs;
	(void)ino;
	memcpy(buf, h->text + o, n);
	return (ssize_t)n;
}

static void status_release(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct status_fh *h = (struct status_fh *)(uintptr_t)fi->fh;

	(void)fs;
	(void)ino;
	free(h->text);
	free(h);
}

const struct tf_subtree tf_status_subtree = {
    .name = ".thinfs/status",
    .getattr = status_getattr,
    .open = status_open,
    .read = status_read,
    .release = status_release,
};
