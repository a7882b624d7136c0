/* cmd_index.c — `thinfs index`: build or refresh the index and say what it did. */
#include "cli.h"

#include "core/base/progress.h"
#include "index/index.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int index_extra(void *ctx, const char *name, const char *value)
{
	(void)name;
	(void)value;
	*(bool *)ctx = true; /* -P, --progress */
	return -1;
}

static int index_run(const struct tf_cmd *cmd, int argc, char **argv)
{
	struct tf_cli_common c = {0};
	struct tf_index_stats st = {0};
	struct tf_pool *pool;
	struct tf_index *ix;
	static const char *const extra[] = {"P", "progress", NULL};
	const char *pos[1];
	bool progress = false;
	size_t npos;
	int rc;

	rc = tf_cli_parse(cmd, argc, argv, &c, extra, index_extra, &progress, pos, 1, 1, &npos);
	if (rc >= 0)
		return rc;
	c.progress = tf_progress_new("index", 0, progress);
	rc = tf_cli_open(pos[0], &c, &pool, &ix, &st);
	tf_progress_end(c.progress);
	if (rc < 0)
		return tf_cli_fail(cmd);
	if (c.json)
		printf("{\"rebuilt\": %s, \"transaction_id\": %" PRIu64 ", \"devices\": %zu, "
		       "\"devices_walked\": %zu, \"nodes_read\": %" PRIu64
		       ", \"nodes_new\": %" PRIu64 ", \"nodes_freed\": %" PRIu64
		       ", \"extents\": %" PRIu64 ", \"seconds\": %.3f}\n",
		       st.rebuilt ? "true" : "false", st.transaction_id, st.devices_total,
		       st.devices_walked, st.nodes_read, st.nodes_new, st.nodes_freed, st.extents,
		       st.seconds);
	else
		printf("%s: transaction %" PRIu64 ", %zu devices (%zu walked), %" PRIu64
		       " metadata nodes read, %" PRIu64 " new, %" PRIu64 " freed, %" PRIu64
		       " extents, %.3f s\n",
		       st.rebuilt ? "rebuilt" : "refreshed", st.transaction_id, st.devices_total,
		       st.devices_walked, st.nodes_read, st.nodes_new, st.nodes_freed, st.extents,
		       st.seconds);
	tf_cli_close(pool, ix);
	return TF_EXIT_OK;
}

const struct tf_cmd tf_cmd_index = {
    .name = "index",
    .summary = "build or refresh the chunk index of a pool",
    .usage = "Usage: thinfs index SOURCE [--rebuild] [-P] [--json] [--index PATH]\n"
	     "\n"
	     "Builds the SQLite index of the pool's chunk mappings, or refreshes it.\n"
	     "Each distinct node of the pool's mapping trees is stored once (snapshots\n"
	     "share theirs); a refresh reads each device's root and the nodes that\n"
	     "changed, and keeps what it proves unchanged unread.\n"
	     "The index is a cache; deleting it loses nothing.\n"
	     "\n"
	     "  --rebuild     read every node again, into an empty index\n"
	     "  -P            progress on stderr (metadata nodes read of those in use,\n"
	     "                rate, ETA)\n"
	     "  --json        print the result as one JSON object\n"
	     "  --index PATH  the index file (default: per pool, see README)\n",
    .run = index_run,
};
