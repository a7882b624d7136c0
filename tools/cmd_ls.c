/* cmd_ls.c — `thinfs ls`: one row per thin LV, from the index. */
#include "cli.h"

#include "core/base/strbuf.h"
#include "index/index.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static void print_json(const struct tf_ix_dev *d, size_t n, uint64_t chunk)
{
	struct tf_strbuf sb = {0};
	char *s;

	tf_sb_printf(&sb, "[");
	for (size_t i = 0; i < n; i++) {
		tf_sb_printf(&sb, "%s\n  {\"name\": ", i ? "," : "");
		tf_sb_json_str(&sb, d[i].name);
		tf_sb_printf(&sb, ", \"thin_id\": %" PRIu32 ", \"origin\": ", d[i].thin_id);
		tf_sb_json_str(&sb, d[i].origin);
		tf_sb_printf(&sb,
			     ", \"size_bytes\": %" PRIu64 ", \"mapped_bytes\": %" PRIu64
			     ", \"exclusive_bytes\": %" PRIu64 ", \"shared_bytes\": %" PRIu64 "}",
			     d[i].size_bytes, d[i].mapped_chunks * chunk,
			     d[i].exclusive_chunks * chunk, d[i].shared_chunks * chunk);
	}
	tf_sb_printf(&sb, "%s]\n", n ? "\n" : "");
	s = tf_sb_take(&sb, NULL);
	if (s)
		fputs(s, stdout);
	free(s);
}

static void print_table(const struct tf_ix_dev *d, size_t n, uint64_t chunk)
{
	char sz[32], mp[32], ex[32], sh[32];

	printf("%-24s %7s %-16s %12s %12s %12s %12s\n", "NAME", "THIN_ID", "ORIGIN", "SIZE",
	       "MAPPED", "EXCLUSIVE", "SHARED");
	for (size_t i = 0; i < n; i++) {
		tf_cli_human(d[i].size_bytes, sz, sizeof(sz));
		tf_cli_human(d[i].mapped_chunks * chunk, mp, sizeof(mp));
		tf_cli_human(d[i].exclusive_chunks * chunk, ex, sizeof(ex));
		tf_cli_human(d[i].shared_chunks * chunk, sh, sizeof(sh));
		printf("%-24s %7" PRIu32 " %-16s %12s %12s %12s %12s\n", d[i].name, d[i].thin_id,
		       d[i].origin ? d[i].origin : "-", sz, mp, ex, sh);
	}
}

static int ls_run(const struct tf_cmd *cmd, int argc, char **argv)
{
	struct tf_cli_common c = {0};
	struct tf_pool *pool;
	struct tf_index *ix;
	struct tf_ix_dev *devs;
	struct tf_ix_pool ip;
	const char *pos[1];
	size_t npos, n;
	int rc;

	rc = tf_cli_parse(cmd, argc, argv, &c, NULL, NULL, NULL, pos, 1, 1, &npos);
	if (rc >= 0)
		return rc;
	if (tf_cli_open(pos[0], &c, &pool, &ix, NULL) < 0)
		return tf_cli_fail(cmd);
	if (tf_index_pool(ix, &ip) < 0 || tf_index_devices(ix, &devs, &n) < 0) {
		rc = tf_cli_fail(cmd);
		tf_cli_close(pool, ix);
		return rc;
	}
	if (c.json)
		print_json(devs, n, (uint64_t)ip.chunk_sectors * 512);
	else
		print_table(devs, n, (uint64_t)ip.chunk_sectors * 512);
	tf_index_devices_free(devs, n);
	tf_cli_close(pool, ix);
	return TF_EXIT_OK;
}

const struct tf_cmd tf_cmd_ls = {
    .name = "ls",
    .summary = "list the thin volumes and snapshots of a pool",
    .usage = "Usage: thinfs ls SOURCE [--json] [--index PATH] [--rebuild]\n"
	     "\n"
	     "Lists every thin LV of the pool: name, thin id, origin, size, and the\n"
	     "mapped, exclusive and shared bytes (exclusive: data chunks no other thin\n"
	     "device maps).  SOURCE is a pool-image directory or a live VG/POOL.\n"
	     "\n"
	     "  --json          an array of objects with keys name, thin_id, origin,\n"
	     "                  size_bytes, mapped_bytes, exclusive_bytes, shared_bytes\n"
	     "  --index PATH    the index file (default: per pool, see README)\n"
	     "  --rebuild       rebuild the index from scratch first\n",
    .run = ls_run,
};
