/* cmd_receive.c — `thinfs receive`: apply a delta stream from stdin. */
#include "cli.h"
#include "feed_stdin.h"

#include "core/base/err.h"
#include "core/base/progress.h"
#include "core/stream/receive.h"
#include "core/stream/repl.h"
#include "core/stream/repl_recv.h"
#include "core/stream/stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct recv_args {
	struct tf_recv_opts o;
	bool print_offset, prune, print_state, progress;
	const char *prefix;
};

static int recv_extra(void *ctx, const char *name, const char *value)
{
	struct recv_args *a = ctx;

	if (strcmp(name, "prefix") == 0)
		a->prefix = value;
	else if (strcmp(name, "prune") == 0)
		a->prune = true;
	else if (strcmp(name, "state") == 0)
		a->print_state = true;
	else if (strcmp(name, "force") == 0)
		a->o.force = true;
	else if (strcmp(name, "resume") == 0)
		a->o.resume = true;
	else if (strcmp(name, "resume-offset") == 0)
		a->o.resume = a->print_offset = true;
	else if (strcmp(name, "P") == 0 || strcmp(name, "progress") == 0)
		a->progress = true;
	return -1;
}

/* The stream's size from its header, once the first read holds it. */
static void progress_total(struct tf_progress *pr, const char *buf, size_t n, uint64_t off)
{
	struct tf_stream_header h;

	if (pr && off == 0 && n >= TF_STREAM_HEADER_BYTES &&
	    tf_stream_header_decode((const uint8_t *)buf, &h) == 0)
		tf_progress_total(pr, h.stream_bytes);
}

static int volume_write(void *ctx, const char *buf, size_t n, uint64_t off, struct tf_progress *pr)
{
	if (off == 0 && tf_repl_is_repl(buf, n))
		return tf_fail(EINVAL, "this is a replication stream (thinfs send -R/--all): "
				       "receive it with 'thinfs receive TARGET', without LV");
	progress_total(pr, buf, n, off);
	return tf_recv_write(ctx, buf, n, off);
}

static int volume_finish(void *ctx)
{
	return tf_recv_finish(ctx);
}

static int recv_stdin(struct tf_recv *r, bool progress)
{
	const struct feed_sink sk = {.write = volume_write, .finish = volume_finish, .ctx = r};

	return feed_stdin(&sk, tf_recv_offset(r), progress);
}

static int repl_write(void *ctx, const char *buf, size_t n, uint64_t off, struct tf_progress *pr)
{
	(void)off;
	(void)pr;
	return tf_repl_recv_write(ctx, buf, n);
}

static int repl_finish(void *ctx)
{
	return tf_repl_recv_finish(ctx);
}

/* A replication stream: TARGET only. */
static int receive_repl(const struct tf_cmd *cmd, const struct recv_args *a, const char *target)
{
	struct tf_repl_recv_opts o = {
	    .prefix = a->prefix, .prune = a->prune, .force = a->o.force, .report = stdout};
	struct tf_repl_recv *r;
	int rc;

	if (a->print_state)
		return tf_repl_target_state(target, stdout) < 0 ? tf_cli_fail(cmd) : TF_EXIT_OK;
	if (a->o.resume || a->print_offset)
		return tf_cli_usage(cmd, "a replication receive resumes by itself: run it again");
	if (isatty(0))
		return tf_cli_usage(cmd, "stdin is a terminal; pipe a stream from 'thinfs send'");
	if (tf_repl_recv_open(target, &o, &r) < 0)
		return tf_cli_fail(cmd);
	const struct feed_sink sk = {.write = repl_write, .finish = repl_finish, .ctx = r};
	rc = feed_stdin(&sk, 0, a->progress) < 0 ? tf_cli_fail(cmd) : TF_EXIT_OK;
	tf_repl_recv_close(r);
	return rc;
}

static int receive_run(const struct tf_cmd *cmd, int argc, char **argv)
{
	static const char *const extra[] = {"force", "resume", "resume-offset", "prefix=", "prune",
					    "state", "P",      "progress",	NULL};
	struct tf_cli_common c = {0};
	struct recv_args a = {0};
	struct tf_recv *r;
	const char *pos[2];
	struct stat st;
	size_t npos;
	int rc;

	rc = tf_cli_parse(cmd, argc, argv, &c, extra, recv_extra, &a, pos, 1, 2, &npos);
	if (rc >= 0)
		return rc;
	if (npos == 1)
		return receive_repl(cmd, &a, pos[0]);
	if (a.prune || a.prefix || a.print_state)
		return tf_cli_usage(cmd, "--prune, --prefix and --state are for replication "
					 "streams (thinfs receive TARGET, without LV)");
	if (!a.print_offset && isatty(0))
		return tf_cli_usage(cmd, "stdin is a terminal; pipe a stream from 'thinfs send'");
	if (stat(pos[0], &st) == 0 && S_ISDIR(st.st_mode))
		rc = tf_recv_open_dir(pos[0], pos[1], &a.o, &r);
	else if (stat(pos[0], &st) == 0 || pos[0][0] == '/' || pos[0][0] == '.')
		rc = tf_fail(ENOTDIR,
			     "%s: not a directory (TARGET is a directory or a live pool "
			     "VG/POOL)",
			     pos[0]);
	else
		rc = tf_recv_open_lvm(pos[0], pos[1], &a.o, &r);
	if (rc < 0)
		return tf_cli_fail(cmd);
	if (a.print_offset) {
		printf("%" PRIu64 "\n", tf_recv_offset(r));
		rc = 0;
	} else {
		if (a.o.resume)
			fprintf(stderr,
				"thinfs receive: resuming %s at stream offset %" PRIu64 "\n",
				tf_recv_target_name(r), tf_recv_offset(r));
		rc = recv_stdin(r, a.progress);
	}
	if (rc < 0)
		rc = tf_cli_fail(cmd);
	tf_recv_close(r);
	return rc < 0 || rc == TF_EXIT_ERROR ? TF_EXIT_ERROR : TF_EXIT_OK;
}

const struct tf_cmd tf_cmd_receive = {
    .name = "receive",
    .summary = "apply a delta stream from stdin to a target volume",
    .usage = "Usage: thinfs receive TARGET LV [--force] [--resume | --resume-offset] [-P]\n"
	     "       thinfs receive TARGET [--prefix P] [--prune] [--force] [-P]   (replication)\n"
	     "       thinfs receive TARGET --state\n"
	     "\n"
	     "Reads a delta stream from stdin and applies it to LV, all or nothing.\n"
	     "TARGET is a directory (the target is the sparse file TARGET/LV; a full\n"
	     "stream creates it) or a live pool VG/POOL (a full stream creates the thin\n"
	     "LV; an incremental needs it at the stream's base).  A stream that is\n"
	     "corrupt, truncated or aimed at another base leaves the target as it was\n"
	     "and exits 1.\n"
	     "\n"
	     "  --force          apply an incremental even if the target's recorded\n"
	     "                   state is not the stream's base\n"
	     "  --resume-offset  print where an interrupted receive can resume\n"
	     "  --resume         continue it: feed the stream from that offset, e.g.\n"
	     "                   thinfs send SRC LV --from B --offset N | thinfs receive --resume "
	     "DIR LV\n"
	     "  -P               progress on stderr (bytes received of the stream's size,\n"
	     "                   rate, ETA; for a replication stream, bytes read)\n"
	     "\n"
	     "Without LV, stdin is a replication stream (thinfs send -R / --all): every\n"
	     "volume in it is created at TARGET as a copy of its relative there (a thin\n"
	     "snapshot in a pool; a reflink where the filesystem can, else a sparse copy,\n"
	     "in a directory) with its delta applied, each all or nothing; one line per\n"
	     "volume.  Volumes already there are skipped, so rerunning a cut replication\n"
	     "completes it.\n"
	     "  --prefix P       name every received volume P<name>\n"
	     "  --prune          remove volumes received from the same pool (lineage)\n"
	     "                   that the source no longer has\n"
	     "  --state          print what TARGET holds, for 'thinfs send --from-state'\n",
    .run = receive_run,
};
