/* status.c — .thinfs/status: the pool and index state as one JSON object. */
#include "files.h"
#include "fs.h"

#include "core/base/err.h"
#include "core/base/strbuf.h"
#include "core/pool/pool.h"
#include "index/index.h"

#include <errno.h>
#include <inttypes.h>
#include <time.h>

int tf_status_render(struct tf_fs *fs, char **out, size_t *len)
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
