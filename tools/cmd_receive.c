/* cmd_receive.c — `thinfs receive`: apply a delta stream from stdin. */
#include "cli.h"

#include "core/base/err.h"
#include "core/stream/receive.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct recv_args {
	struct tf_recv_opts o;
	bool print_offset;
};

static int recv_extra(void *ctx, const char *name, const char *value)
{
	struct recv_args *a = ctx;

	(void)value;
	if (strcmp(name, "force") == 0)
		a->o.force = true;
	else if (strcmp(name, "resume") == 0)
		a->o.resume = true;
	else if (strcmp(name, "resume-offset") == 0)
		a->o.resume = a->print_offset = true;
	return -1;
}

static int recv_stdin(struct tf_recv *r)
{
	const size_t bufsize = 1 << 20;
	char *buf = malloc(bufsize);
	uint64_t off = tf_recv_offset(r);
	int rc = 0;

	if (!buf)
		return tf_fail(ENOMEM, "receive: out of memory");
	for (;;) {
		ssize_t n = read(0, buf, bufsize);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = tf_fail(errno, "stdin: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			rc = tf_recv_finish(r);
			break;
		}
		if ((rc = tf_recv_write(r, buf, (size_t)n, off)) < 0)
			break;
		off += (uint64_t)n;
	}
	free(buf);
	return rc;
}

static int receive_run(const struct tf_cmd *cmd, int argc, char **argv)
{
	static const char *const extra[] = {"force", "resume", "resume-offset", NULL};
	struct tf_cli_common c = {0};
	struct recv_args a = {0};
	struct tf_recv *r;
	const char *pos[2];
	struct stat st;
	size_t npos;
	int rc;

	rc = tf_cli_parse(cmd, argc, argv, &c, extra, recv_extra, &a, pos, 2, 2, &npos);
	if (rc >= 0)
		return rc;
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
		rc = recv_stdin(r);
	}
	if (rc < 0)
		rc = tf_cli_fail(cmd);
	tf_recv_close(r);
	return rc < 0 || rc == TF_EXIT_ERROR ? TF_EXIT_ERROR : TF_EXIT_OK;
}

const struct tf_cmd tf_cmd_receive = {
    .name = "receive",
    .summary = "apply a delta stream from stdin to a target volume",
    .usage = "Usage: thinfs receive TARGET LV [--force] [--resume | --resume-offset]\n"
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
	     "DIR LV\n",
    .run = receive_run,
};
