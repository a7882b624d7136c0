/* fuse_floor.c — the read benchmark's yardstick: the least a FUSE server can
 * do to serve a file.  It mounts one file, MNT/file, whose reads splice
 * straight from FILE and whose SEEK_DATA/SEEK_HOLE are FILE's, with the
 * request size and read-ahead thinfs asks for.  Whatever a read through it
 * costs over a read of FILE is the price of FUSE itself on this machine, so
 * thinfs ÷ this floor says how much thinfs adds.  Not a test, not
 * installed.  Usage: fuse_floor FILE MNT (stays in the foreground). */
#include "fs/fs.h" /* FUSE_USE_VERSION, and TF_FS_MAX_READ: thinfs's request size */

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_INO 2

static int backing = -1;

static int attr_of(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	}
	if (ino != FILE_INO)
		return ENOENT;
	if (fstat(backing, st) != 0)
		return errno;
	st->st_ino = ino;
	st->st_mode = S_IFREG | 0444;
	return 0;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->max_read = TF_FS_MAX_READ;
	conn->max_readahead = 1 << 20;
	conn->want |= conn->capable & FUSE_CAP_SPLICE_WRITE;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = {.ino = FILE_INO, .attr_timeout = 3600, .entry_timeout = 3600};

	if (parent != FUSE_ROOT_ID || strcmp(name, "file") != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	int rc = attr_of(FILE_INO, &e.attr);
	if (rc)
		fuse_reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int rc = attr_of(ino, &st);

	(void)fi;
	if (rc)
		fuse_reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, 3600);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != FILE_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec v = FUSE_BUFVEC_INIT(size);

	(void)ino;
	(void)fi;
	v.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	v.buf[0].fd = backing;
	v.buf[0].pos = off;
	fuse_reply_data(req, &v, 0);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	off_t r = lseek(backing, off, whence);

	(void)ino;
	(void)fi;
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .open = op_open,
    .read = op_read,
    .lseek = op_lseek,
};

int main(int argc, char **argv)
{
	char o[128];
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se;
	struct fuse_loop_config *lc;
	int rc = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: fuse_floor FILE MNT\n");
		return 2;
	}
	backing = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (backing < 0) {
		fprintf(stderr, "fuse_floor: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	snprintf(o, sizeof(o), "fsname=fuse_floor,default_permissions,max_read=%u", TF_FS_MAX_READ);
	if (fuse_opt_add_arg(&args, "fuse_floor") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, o))
		return 1;
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se || fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, argv[2]) != 0) {
		fprintf(stderr, "fuse_floor: %s: cannot mount\n", argv[2]);
		return 1;
	}
	/* The same threads as thinfs's loop (fs/mount.c). */
	lc = fuse_loop_cfg_create();
	if (lc) {
		fuse_loop_cfg_set_max_threads(lc, 16);
		fuse_loop_cfg_set_idle_threads(lc, 4);
		rc = fuse_session_loop_mt(se, lc) == 0 ? 0 : 1;
		fuse_loop_cfg_destroy(lc);
	}
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	return rc;
}
