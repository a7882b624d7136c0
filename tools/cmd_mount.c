/* cmd_mount.c — `thinfs mount` and `thinfs umount`. */
#include "cli.h"

#include "core/base/err.h"
#include "fs/mount.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct mount_args {
	struct tf_fs_opts o;
	const char *cmdname;
	char *bad; /* first unknown -o option */
};

static int parse_uint(const char *s, int base, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, base);
	return (errno || end == s || *end || *out > max) ? -1 : 0;
}

/* -o a,b=c,... */
static int parse_o(struct mount_args *m, char *list)
{
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		char *eq = strchr(tok, '=');
		const char *val = eq ? eq + 1 : NULL;
		unsigned long v;

		if (eq)
			*eq = '\0';
		if (strcmp(tok, "allow_other") == 0 && !val)
			m->o.allow_other = true;
		else if (strcmp(tok, "uid") == 0 && val &&
			 parse_uint(val, 10, UINT_MAX - 1, &v) == 0)
			m->o.uid = (uid_t)v;
		else if (strcmp(tok, "gid") == 0 && val &&
			 parse_uint(val, 10, UINT_MAX - 1, &v) == 0)
			m->o.gid = (gid_t)v;
		else if (strcmp(tok, "mode") == 0 && val && parse_uint(val, 8, 0666, &v) == 0)
			m->o.file_mode = (mode_t)v;
		else if (strcmp(tok, "index") == 0 && val && *val)
			m->o.index_path = val;
		else if (strcmp(tok, "receive_dir") == 0 && val && *val)
			m->o.receive_dir = val;
		else if (strcmp(tok, "refresh") == 0 && val && parse_uint(val, 10, 3600, &v) == 0)
			m->o.refresh_seconds = (unsigned)v;
		else {
			m->bad = tok;
			return -1;
		}
	}
	return 0;
}

static int mount_extra(void *ctx, const char *name, const char *value)
{
	struct mount_args *m = ctx;

	if (strcmp(name, "f") == 0 || strcmp(name, "foreground") == 0)
		m->o.foreground = true;
	else if (strcmp(name, "d") == 0 || strcmp(name, "debug") == 0)
		m->o.debug = m->o.foreground = true;
	else if (strcmp(name, "o") == 0 && parse_o(m, (char *)value) < 0)
		return TF_EXIT_USAGE;
	return -1;
}

static int mount_run(const struct tf_cmd *cmd, int argc, char **argv)
{
	static const char *const extra[] = {"f", "foreground", "d", "debug", "o=", NULL};
	struct mount_args m = {.cmdname = cmd->name};
	struct tf_cli_common c = {0};
	char mnt[PATH_MAX], rdir[PATH_MAX], ix[PATH_MAX + 4096];
	struct stat st;
	const char *pos[2];
	size_t npos;
	int rc;

	m.o.uid = getuid();
	m.o.gid = getgid();
	m.o.file_mode = 0400;
	m.o.refresh_seconds = 2;
	rc = tf_cli_parse(cmd, argc, argv, &c, extra, mount_extra, &m, pos, 2, 2, &npos);
	if (m.bad)
		return tf_cli_usage(cmd, "unknown or malformed mount option '%s'", m.bad);
	if (rc >= 0)
		return rc;
	m.o.source = pos[0];
	/* The server leaves the working directory when it detaches: every
	 * path it keeps is made absolute here, and checked. */
	if (!realpath(pos[1], mnt)) {
		tf_fail(errno, "%s: mountpoint: %s", pos[1], strerror(errno));
		return tf_cli_fail(cmd);
	}
	if (stat(mnt, &st) < 0 || !S_ISDIR(st.st_mode)) {
		tf_fail(ENOTDIR, "%s: the mountpoint is not a directory", pos[1]);
		return tf_cli_fail(cmd);
	}
	m.o.mountpoint = mnt;
	if (m.o.receive_dir) {
		if (!realpath(m.o.receive_dir, rdir)) {
			tf_fail(errno, "receive_dir=%s: %s", m.o.receive_dir, strerror(errno));
			return tf_cli_fail(cmd);
		}
		if (stat(rdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			tf_fail(ENOTDIR, "receive_dir=%s: not a directory", m.o.receive_dir);
			return tf_cli_fail(cmd);
		}
		m.o.receive_dir = rdir;
	}
	if (c.index_path)
		m.o.index_path = c.index_path;
	if (m.o.index_path && m.o.index_path[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd))) {
			tf_fail(errno, "index %s: %s", m.o.index_path, strerror(errno));
			return tf_cli_fail(cmd);
		}
		snprintf(ix, sizeof(ix), "%s/%s", cwd, m.o.index_path);
		m.o.index_path = ix;
	}
	if (tf_fs_mount(&m.o) < 0)
		return tf_cli_fail(cmd);
	return TF_EXIT_OK;
}

const struct tf_cmd tf_cmd_mount = {
    .name = "mount",
    .summary = "mount a pool as a tree of sparse files",
    .usage = "Usage: thinfs mount SOURCE MOUNTPOINT [-f] [-d] [-o OPTIONS]\n"
	     "\n"
	     "Mounts the pool SOURCE (a pool-image directory or a live VG/POOL) on\n"
	     "MOUNTPOINT and returns once it is mounted; the server runs in the\n"
	     "background (-f keeps it in the foreground).  Unmount with\n"
	     "'thinfs umount MOUNTPOINT'.\n"
	     "\n"
	     "  MOUNTPOINT/volumes/<lv>     sparse image of each thin volume and snapshot\n"
	     "  MOUNTPOINT/files/<lv>/      the ext2/3/4 filesystem inside each volume\n"
	     "  MOUNTPOINT/deltas/<lv>/<base>  delta stream from <base> to <lv> (@full: all)\n"
	     "  MOUNTPOINT/receive/<lv>     write a delta stream here to apply it\n"
	     "  MOUNTPOINT/.thinfs/status   pool and index state as JSON\n"
	     "\n"
	     "Options (-o, comma-separated):\n"
	     "  allow_other     let other users in (needs user_allow_other for non-root)\n"
	     "  uid=N,gid=N     owner of every file (default: the mounting user)\n"
	     "  mode=OCTAL      permission bits of files (default 0400; dirs add x)\n"
	     "  index=PATH      the index file (default: per pool, see README)\n"
	     "  refresh=SECS    live pools: poll interval for changes (default 2, 0 = never)\n"
	     "  receive_dir=DIR image pools: streams written into receive/<lv> are\n"
	     "                  applied to the sparse file DIR/<lv> (live pools apply\n"
	     "                  them to their own LVs)\n"
	     "  -d              debug: log every FUSE request, stay in the foreground\n",
    .run = mount_run,
};

static int umount_run(const struct tf_cmd *cmd, int argc, char **argv)
{
	struct tf_cli_common c = {0};
	const char *pos[1];
	size_t npos;
	pid_t pid;
	int rc, status;

	rc = tf_cli_parse(cmd, argc, argv, &c, NULL, NULL, NULL, pos, 1, 1, &npos);
	if (rc >= 0)
		return rc;
	pid = fork();
	if (pid < 0) {
		tf_fail(errno, "%s: cannot fork: %s", pos[0], strerror(errno));
		return tf_cli_fail(cmd);
	}
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "--", pos[0], (char *)NULL);
		fprintf(stderr, "thinfs umount: cannot run fusermount3: %s\n", strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		tf_fail(EIO, "%s: fusermount3 -u failed (not a thinfs mount, or busy?)", pos[0]);
		return tf_cli_fail(cmd);
	}
	return TF_EXIT_OK;
}

const struct tf_cmd tf_cmd_umount = {
    .name = "umount",
    .summary = "unmount a thinfs mount",
    .usage = "Usage: thinfs umount MOUNTPOINT\n"
	     "\n"
	     "Unmounts MOUNTPOINT; the server releases every device it activated and\n"
	     "every metadata snapshot it reserved, then exits.\n",
    .run = umount_run,
};
