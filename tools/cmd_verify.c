/* cmd_verify.c — `thinfs verify`: whether a snapshot and its replica hold
 * the same bytes.  Each end hashes its own data per 4 MiB range where the
 * data is (reading only allocated chunks, see rep_hash.h); only the hashes
 * cross (over ssh: `thinfs replicate --target-side hashes` there). */
#include "cli.h"
#include "rep_hash.h"
#include "rep_target.h"
#include "replicate.h"

#include "core/base/err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int rep_verify(const char *source_obj, struct rep_target *t, const char *name,
	       struct rep_verify_result *out)
{
	struct rep_hashes a = {0}, b = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	out->first_diff = -1;
	if ((rc = rep_hash_object(source_obj, &a)) < 0)
		return rc;
	if ((rc = t->ops->hashes(t, name, &b)) < 0) {
		rep_hashes_free(&a);
		return tf_fail_ctx(rc, "%s: ", t->spec);
	}
	out->size = a.size;
	out->other_size = b.size;
	out->read_here = a.read_bytes;
	out->read_there = b.read_bytes;
	out->ranges = a.n;
	out->first_diff = rep_hashes_first_diff(&a, &b);
	out->equal = a.size == b.size && out->first_diff < 0;
	if (out->first_diff < 0 && a.size != b.size)
		out->first_diff = (long)(a.n < b.n ? a.n : b.n);
	if (out->first_diff >= 0) {
		uint64_t big = a.size > b.size ? a.size : b.size;
		out->diff_begin = (uint64_t)out->first_diff * REP_HASH_RANGE;
		out->diff_end = out->diff_begin + REP_HASH_RANGE;
		if (out->diff_end > big)
			out->diff_end = big;
	}
	rep_hashes_free(&a);
	rep_hashes_free(&b);
	return 0;
}

void rep_verify_describe(const struct rep_verify_result *r, const char *a, const char *b, char *buf,
			 size_t len)
{
	char h1[32], h2[32], h3[32];

	tf_cli_human(r->size, h1, sizeof(h1));
	tf_cli_human(r->read_here, h2, sizeof(h2));
	tf_cli_human(r->read_there, h3, sizeof(h3));
	if (r->equal)
		snprintf(buf, len,
			 "%s and %s are equal: %s in %zu ranges of 4 MiB (read %s here, %s there)",
			 a, b, h1, r->ranges, h2, h3);
	else if (r->size != r->other_size)
		snprintf(buf, len,
			 "%s and %s differ: %" PRIu64 " bytes here, %" PRIu64
			 " there; first difference in bytes %" PRIu64 "-%" PRIu64,
			 a, b, r->size, r->other_size, r->diff_begin, r->diff_end - 1);
	else
		snprintf(buf, len,
			 "%s and %s differ: first in bytes %" PRIu64 "-%" PRIu64
			 " (range %ld of %zu, 4 MiB each)",
			 a, b, r->diff_begin, r->diff_end - 1, r->first_diff, r->ranges);
}

static int verify_extra(void *ctx, const char *name, const char *value)
{
	(void)value;
	if (strcmp(name, "hashes") == 0)
		*(bool *)ctx = true;
	return -1;
}

static int verify_run(const struct tf_cmd *cmd, int argc, char **argv)
{
	static const char *const extra[] = {"hashes", NULL};
	struct tf_cli_common c = {0};
	struct rep_verify_result r;
	struct rep_target *t = NULL;
	bool hashes = false;
	const char *pos[2], *snap;
	char line[8192];
	size_t npos;
	int rc;

	rc = tf_cli_parse(cmd, argc, argv, &c, extra, verify_extra, &hashes, pos, 1, 2, &npos);
	if (rc >= 0)
		return rc;
	if (hashes) { /* the far end of a verify: this object's hashes on stdout */
		struct rep_hashes h;
		if (npos != 1)
			return tf_cli_usage(cmd, "--hashes takes one OBJECT");
		if (rep_hash_object(pos[0], &h) < 0)
			return tf_cli_fail(cmd);
		rc = rep_hashes_write(&h, stdout);
		rep_hashes_free(&h);
		return rc < 0 ? tf_cli_fail(cmd) : TF_EXIT_OK;
	}
	if (npos != 2)
		return tf_cli_usage(cmd, "needs SOURCE/SNAPSHOT and TARGET");
	snap = strrchr(pos[0], '/');
	if (!snap || !snap[1])
		return tf_cli_usage(cmd, "'%s' is not VG/SNAPSHOT or IMAGE_DIR/SNAPSHOT", pos[0]);
	snap++;
	if (rep_target_open(pos[1], &t) < 0)
		return tf_cli_fail(cmd);
	rc = rep_verify(pos[0], t, snap, &r);
	t->ops->free(t);
	if (rc < 0)
		return tf_cli_fail(cmd);
	if (c.json) {
		printf("{\"equal\":%s,\"bytes\":%" PRIu64 ",\"target_bytes\":%" PRIu64
		       ",\"ranges\":%zu,\"range_bytes\":%u,\"read_source\":%" PRIu64
		       ",\"read_target\":%" PRIu64,
		       r.equal ? "true" : "false", r.size, r.other_size, r.ranges, REP_HASH_RANGE,
		       r.read_here, r.read_there);
		if (!r.equal)
			printf(",\"first_range\":%ld,\"first_begin\":%" PRIu64
			       ",\"first_end\":%" PRIu64,
			       r.first_diff, r.diff_begin, r.diff_end);
		printf("}\n");
	} else {
		rep_verify_describe(&r, pos[0], pos[1], line, sizeof(line));
		printf("thinfs verify: %s\n", line);
	}
	return r.equal ? TF_EXIT_OK : TF_EXIT_ERROR;
}

const struct tf_cmd tf_cmd_verify = {
    .name = "verify",
    .summary = "check that a snapshot and its replica hold the same bytes",
    .usage = "Usage: thinfs verify SOURCE/SNAPSHOT TARGET [--json]\n"
	     "       thinfs verify --hashes OBJECT\n"
	     "\n"
	     "Compares snapshot SNAPSHOT of SOURCE (a VG, or a pool-image directory)\n"
	     "with the snapshot of the same name at TARGET (VG/POOL, a directory, or\n"
	     "ssh:[USER@]HOST:VG/POOL|DIR, as for replicate).  Each end hashes its own\n"
	     "bytes with SHA-256 per 4 MiB range, reading only allocated data (holes\n"
	     "count as zeros without I/O); only the hashes cross.  Exit 0 if equal, 1\n"
	     "naming the first differing byte range.\n"
	     "\n"
	     "  --hashes OBJECT  print the hash list of OBJECT (a file, VG/LV or\n"
	     "                   IMAGE_DIR/LV): the other end of a verify\n"
	     "  --json           the result as JSON\n",
    .run = verify_run,
};
