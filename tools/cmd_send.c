/* cmd_send.c — `thinfs send`: a delta stream on stdout, for pipes and ssh. */
#include "cli.h"

#include "core/base/err.h"
#include "core/base/progress.h"
#include "core/io/fdio.h"
#include "core/pool/pool.h"
#include "core/stream/stream.h"
#include "index/delta.h"
#include "index/index.h"
#include "send_repl.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct send_opts {
	const char *from, *from_state;
	bool dry_run, progress, lineage, all;
	uint64_t offset;
	bool bad_offset;
};

static int send_extra(void *ctx, const char *name, const char *value)
{
	struct send_opts *o = ctx;
	char *end;

	if (strcmp(name, "from") == 0) {
		o->from = value;
	} else if (strcmp(name, "n") == 0 || strcmp(name, "dry-run") == 0) {
		o->dry_run = true;
	} else if (strcmp(name, "P") == 0 || strcmp(name, "progress") == 0) {
		o->progress = true;
	} else if (strcmp(name, "R") == 0) {
		o->lineage = true;
	} else if (strcmp(name, "all") == 0) {
		o->all = true;
	} else if (strcmp(name, "from-state") == 0) {
		o->from_state = value;
	} else if (strcmp(name, "offset") == 0) {
		errno = 0;
		o->offset = strtoull(value, &end, 10);
		o->bad_offset = errno || *end || end == value;
	}
	return -1;
}

static int stream_out(struct tf_delta *d, uint64_t off, bool progress)
{
	const size_t bufsize = 1 << 20;
	uint64_t size = tf_delta_size(d);
	struct tf_progress *pr = tf_progress_new("send", size - off, progress);
	char *buf = malloc(bufsize);
	int rc = 0;

	if (!buf) {
		tf_progress_end(pr);
		return tf_fail(ENOMEM, "send: out of memory");
	}
	while (off < size) {
		ssize_t n = tf_delta_read(d, buf, bufsize, off);
		if (n <= 0) {
			rc = n < 0 ? (int)n : tf_fail(EIO, "send: stream ended early");
			break;
		}
		if ((rc = tf_write_all(1, buf, (size_t)n, "stdout")) < 0)
			break;
		off += (uint64_t)n;
		tf_progress_add(pr, (uint64_t)n);
	}
	tf_progress_end(pr);
	free(buf);
	return rc;
}

static int send_repl_run(const struct tf_cmd *cmd, const struct tf_cli_common *c,
			 const struct send_opts *o, const char **pos, size_t npos)
{
	struct send_repl_opts ro = {.from = o->from,
				    .from_state = o->from_state,
				    .source = pos[0],
				    .dry_run = o->dry_run,
				    .progress = o->progress};
	struct tf_pool *pool;
	struct tf_index *ix;
	int rc;

	if (o->lineage == o->all)
		return tf_cli_usage(cmd, "-R and --all do not go together");
	if (o->all && npos != 1)
		return tf_cli_usage(cmd, "--all takes SOURCE only");
	if (o->lineage && npos != 2)
		return tf_cli_usage(cmd, "-R needs SOURCE and LV");
	if (o->all && o->from)
		return tf_cli_usage(cmd, "--from goes with -R (use --from-state with --all)");
	if (o->offset)
		return tf_cli_usage(cmd, "--offset is for single-volume streams");
	if (!o->dry_run && isatty(1))
		return tf_cli_usage(cmd,
				    "refusing to write a binary stream to a terminal; redirect "
				    "or pipe it (or use -n)");
	ro.lv = o->lineage ? pos[1] : NULL;
	signal(SIGPIPE, SIG_IGN);
	if (tf_cli_open(pos[0], c, &pool, &ix, NULL) < 0)
		return tf_cli_fail(cmd);
	rc = send_repl(pool, ix, &ro) < 0 ? tf_cli_fail(cmd) : TF_EXIT_OK;
	tf_cli_close(pool, ix);
	return rc;
}

static int send_run(const struct tf_cmd *cmd, int argc, char **argv)
{
	static const char *const extra[] = {"from=",   "n", "dry-run", "P",	      "progress",
					    "offset=", "R", "all",     "from-state=", NULL};
	struct tf_cli_common c = {0};
	struct send_opts o = {0};
	const struct tf_ix_dev *lv, *base = NULL;
	struct tf_ix_dev *devs = NULL;
	struct tf_delta *d = NULL;
	struct tf_pool *pool;
	struct tf_index *ix;
	const char *pos[2], *lv_name = NULL, *base_name = NULL;
	size_t npos, n = 0;
	int rc;

	rc = tf_cli_parse(cmd, argc, argv, &c, extra, send_extra, &o, pos, 1, 2, &npos);
	if (rc >= 0)
		return rc;
	if (o.lineage || o.all)
		return send_repl_run(cmd, &c, &o, pos, npos);
	if (npos != 2)
		return tf_cli_usage(cmd, "missing arguments");
	if (o.from_state)
		return tf_cli_usage(cmd, "--from-state goes with -R or --all");
	if (o.bad_offset)
		return tf_cli_usage(cmd, "--offset takes a byte count");
	if (!o.dry_run && isatty(1))
		return tf_cli_usage(cmd,
				    "refusing to write a binary stream to a terminal; redirect "
				    "or pipe it (or use -n)");
	signal(SIGPIPE, SIG_IGN);
	if (o.from && !c.rebuild) {
		/* An incremental needs no index: both maps and the changes come
		 * from one metadata view, and nothing is built first. */
		const struct tf_lv *l, *b;

		ix = NULL;
		if (tf_cli_open_pool(pos[0], &pool) < 0)
			return tf_cli_fail(cmd);
		rc = tf_cli_find_lv(pool, pos[1], pos[0], &l);
		if (rc == 0)
			rc = tf_cli_find_lv(pool, o.from, pos[0], &b);
		if (rc == 0) {
			lv_name = l->name;
			base_name = b->name;
			rc = tf_delta_open_pool(pool, l->thin_id, b->thin_id, &d);
		}
	} else {
		if (tf_cli_open(pos[0], &c, &pool, &ix, NULL) < 0)
			return tf_cli_fail(cmd);
		rc = tf_index_devices(ix, &devs, &n);
		if (rc == 0)
			rc = tf_cli_find_dev(devs, n, pos[1], pos[0], &lv);
		if (rc == 0 && o.from)
			rc = tf_cli_find_dev(devs, n, o.from, pos[0], &base);
		if (rc == 0) {
			lv_name = lv->name;
			base_name = base ? base->name : NULL;
			rc = tf_delta_open(ix, pool, lv->thin_id,
					   base ? base->thin_id : TF_STREAM_NO_BASE, &d);
		}
	}
	if (rc == 0 && o.offset > tf_delta_size(d))
		rc = tf_fail(EINVAL, "--offset %" PRIu64 " is past the stream's end (%" PRIu64 ")",
			     o.offset, tf_delta_size(d));
	if (rc == 0 && o.dry_run)
		printf("%" PRIu64 " bytes: %" PRIu64 " records, %" PRIu64
		       " bytes of changed chunks "
		       "(%s stream of %s%s%s)\n",
		       tf_delta_size(d), tf_delta_header(d)->record_count,
		       tf_delta_changed_bytes(d), base_name ? "incremental" : "full", lv_name,
		       base_name ? " from " : "", base_name ? base_name : "");
	else if (rc == 0)
		rc = stream_out(d, o.offset, o.progress);
	rc = rc < 0 ? tf_cli_fail(cmd) : TF_EXIT_OK;
	tf_delta_close(d);
	tf_index_devices_free(devs, n);
	tf_cli_close(pool, ix);
	return rc;
}

const struct tf_cmd tf_cmd_send = {
    .name = "send",
    .summary = "write a delta stream of a volume to stdout",
    .usage =
	"Usage: thinfs send SOURCE LV [--from BASE] [-n] [-P] [--offset N]\n"
	"       thinfs send SOURCE LV -R [--from SNAP | --from-state FILE] [-n] [-P]\n"
	"       thinfs send SOURCE --all [--from-state FILE] [-n] [-P]\n"
	"\n"
	"Writes the delta stream of LV to stdout: a full stream, or with --from the\n"
	"changes from BASE (reading only the chunks that differ).  The stream is\n"
	"self-checking; apply it with 'thinfs receive' or by writing it into a\n"
	"mount's receive/ directory.  Example:\n"
	"  thinfs send vg/pool vm1_tue --from vm1_mon | ssh backup thinfs receive /srv/vm vm1\n"
	"\n"
	"  --from BASE   incremental from BASE (an LV name or '#<thin id>')\n"
	"  -n            print the stream's size from the index; read no data\n"
	"  -P            progress on stderr (bytes sent of the stream's size, rate, ETA)\n"
	"  --offset N    start at stream byte N (to resume an interrupted receive)\n"
	"\n"
	"With -R, a replication stream of LV's lineage: LV, its origin chain and every\n"
	"snapshot descended from them, oldest first, each an increment over its\n"
	"nearest relative already at the target or in the stream, with a manifest\n"
	"(names, thin ids, origins, sizes, creation times, tags).  --all: every\n"
	"lineage of the pool.  'thinfs receive TARGET' recreates them, sharing blocks.\n"
	"  -R              LV's whole lineage\n"
	"  --all           every thin volume of the pool\n"
	"  --from SNAP     (-R) the target holds SNAP: send only what is newer\n"
	"  --from-state F  the target holds what F lists ('thinfs receive TARGET\n"
	"                  --state > F'): send only the rest\n"
	"Example:\n"
	"  thinfs send vg/pool vm1 -R | ssh backup thinfs receive backupvg/pool\n",
    .run = send_run,
};
