/* ops.c — the FUSE low-level operations: find the subtree that owns the
 * node (from its inode number alone), call it once, then make exactly one
 * reply.
 *
 * Inode numbers are computed (ino.h), so there is no inode table to keep in
 * step with lookup counts: forget needs no work.
 */
#include "fs.h"
#include "ino.h"

#include "core/base/err.h"
#include "core/pool/pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/* The owner of every node: the fixed directories and files by number, all
 * other nodes by the class their inode number carries. */
static const struct tf_subtree *const by_fixed[] = {
    [TF_INO_ROOT] = &tf_root_subtree,	    [TF_INO_VOLUMES] = &tf_volumes_subtree,
    [TF_INO_FILES] = &tf_files_subtree,	    [TF_INO_DELTAS] = &tf_deltas_subtree,
    [TF_INO_RECEIVE] = &tf_receive_subtree, [TF_INO_META] = &tf_root_subtree,
    [TF_INO_STATUS] = &tf_status_subtree,
};

static const struct tf_subtree *const by_class[] = {
    [TF_IC_VOLUME] = &tf_volumes_subtree,  [TF_IC_DELTA_DIR] = &tf_deltas_subtree,
    [TF_IC_DELTA] = &tf_deltas_subtree,	   [TF_IC_FULL_STREAM] = &tf_deltas_subtree,
    [TF_IC_RECEIVE] = &tf_receive_subtree, [TF_IC_FILES_LV] = &tf_files_subtree,
    [TF_IC_PART] = &tf_files_subtree,	   [TF_IC_EXT] = &tf_files_subtree,
};

/* NULL for a number no subtree owns. */
static const struct tf_subtree *subtree_of(fuse_ino_t ino)
{
	enum tf_ino_class c = tf_ino_class(ino);

	if (c == TF_IC_FIXED)
		return ino < sizeof(by_fixed) / sizeof(by_fixed[0]) ? by_fixed[ino] : NULL;
	return (size_t)c < sizeof(by_class) / sizeof(by_class[0]) ? by_class[c] : NULL;
}

static struct tf_fs *fs_of(fuse_req_t req)
{
	struct tf_fs *fs = fuse_req_userdata(req);

	atomic_fetch_add(&fs->requests, 1);
	tf_err_clear();
	return fs;
}

/* Logs the message behind an error the user will only see as an errno. */
static int logged(struct tf_fs *fs, int rc, const char *op)
{
	if (rc < 0 && rc != -ENOENT && rc != -ENXIO) {
		if (fs->opts.foreground)
			fprintf(stderr, "thinfs: %s: %s\n", op, tf_errmsg());
		else
			syslog(LOG_ERR, "thinfs: %s: %s", op, tf_errmsg());
	}
	return rc;
}

/* ---- attributes and names ---- */

int tf_fs_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st)
{
	const struct tf_subtree *t = subtree_of(ino);

	return t ? t->getattr(fs, ino, st) : -ENOENT;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	struct stat st;
	int rc;

	(void)fi;
	rc = logged(fs, tf_fs_getattr(fs, ino, &st), "getattr");
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, 1.0);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(parent);
	struct fuse_entry_param e = {.attr_timeout = 1.0, .entry_timeout = 1.0};
	int rc;

	rc = t && t->lookup ? t->lookup(fs, parent, name, &e) : -ENOENT;
	rc = logged(fs, rc, "lookup");
	if (rc == -ENOENT) {
		/* A negative entry with a short timeout: volumes may appear. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = 1.0;
		fuse_reply_entry(req, &e);
	} else if (rc < 0) {
		fuse_reply_err(req, -rc);
	} else {
		fuse_reply_entry(req, &e);
	}
}

/* ---- directories ---- */

/* Undoes an open: through its subtree's release. */
static void do_release(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct tf_subtree *t = subtree_of(ino);

	if (t && t->release)
		t->release(fs, ino, fi);
}

/* Undoes an open the kernel knows about (or was about to). */
static void release_file(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	tf_openfiles_forget(fs->open_files, ino, fi);
	do_release(fs, ino, fi);
}

static void free_dir(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct tf_subtree *t = subtree_of(ino);
	struct tf_dirh *h = (struct tf_dirh *)(uintptr_t)fi->fh;

	if (t && t->releasedir)
		t->releasedir(fs, ino, h);
	tf_voltab_put(h->tab);
	free(h);
}

static void release_dir(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	tf_openfiles_forget(fs->open_dirs, ino, fi);
	free_dir(fs, ino, fi);
}

/* Files and directories still open when the session ended (a lazy
 * unmount, then SIGTERM): released at unmount, so nothing leaks. */
void tf_fs_release_open(struct tf_fs *fs)
{
	tf_openfiles_free(fs->open_files, fs, do_release);
	tf_openfiles_free(fs->open_dirs, fs, free_dir);
	fs->open_files = fs->open_dirs = NULL;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(ino);
	struct tf_dirh *h;
	int rc;

	if (!t) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (!(h = calloc(1, sizeof(*h)))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* A listing sees one generation of the volume table from start to end,
	 * so cookies stay meaningful across a refresh. */
	h->tab = tf_voltab_get(fs);
	rc = logged(fs, t->opendir ? t->opendir(fs, ino, h) : -ENOTDIR, "opendir");
	if (rc < 0) {
		tf_voltab_put(h->tab);
		free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->cache_readdir = h->cache;
	/* Recorded before the reply: the release may follow at once. */
	if (tf_openfiles_add(fs->open_dirs, ino, fi) < 0) {
		free_dir(fs, ino, fi);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_open(req, fi) == -ENOENT)
		release_dir(fs, ino, fi);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	release_dir(fs_of(req), ino, fi);
	fuse_reply_err(req, 0);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(ino);
	struct tf_dirh *h = (struct tf_dirh *)(uintptr_t)fi->fh;
	struct tf_dirbuf db = {.req = req, .size = size, .from = off};
	int rc;

	if (!(db.buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = logged(fs, t && t->readdir ? t->readdir(fs, ino, h, &db) : -ENOTDIR, "readdir");
	if (rc < 0 && db.used == 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, db.buf, db.used);
	free(db.buf);
}

/* ---- files ---- */

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(ino);
	int rc;

	rc = !t ? -ENOENT : t->open ? t->open(fs, ino, fi) : -EISDIR;
	rc = logged(fs, rc, "open");
	/* Recorded before the reply: the release may follow at once. */
	if (rc == 0 && (rc = tf_openfiles_add(fs->open_files, ino, fi)) < 0)
		do_release(fs, ino, fi);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_open(req, fi) == -ENOENT) /* interrupted: undo */
		release_file(fs, ino, fi);
}

/* One reusable buffer per FUSE worker thread: no allocation per read.  A
 * thread-specific key frees it when libfuse retires an idle worker. */
struct read_buf {
	char *p;
	size_t size;
};

static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;

static void read_buf_free(void *v)
{
	struct read_buf *b = v;

	free(b->p);
	free(b);
}

static void read_buf_init(void)
{
	pthread_key_create(&read_buf_key, read_buf_free);
}

static char *thread_buf(size_t size)
{
	struct read_buf *b;

	pthread_once(&read_buf_once, read_buf_init);
	b = pthread_getspecific(read_buf_key);
	if (!b) {
		if (!(b = calloc(1, sizeof(*b))))
			return NULL;
		pthread_setspecific(read_buf_key, b);
	}
	if (size > b->size) {
		char *p = realloc(b->p, size);
		if (!p)
			return NULL;
		b->p = p;
		b->size = size;
	}
	return b->p;
}

/* Holes of zero-copy replies point here: .bss, so the pages are the
 * kernel's shared zero page until something writes them, and nothing does. */
static char zeros[TF_FS_ZEROS_BYTES];
const char *const tf_fs_zeros = zeros;

/* Up to this many buffers per zero-copy reply: a 1 MiB read of a volume
 * with 64 KiB chunks, every other one a hole, needs 17. */
#define READ_BUFS 64

/* Replies with the buffers the subtree describes; false if it cannot. */
static bool read_zero_copy(struct tf_fs *fs, fuse_req_t req, const struct tf_subtree *t,
			   fuse_ino_t ino, struct fuse_file_info *fi, size_t size, off_t off)
{
	union {
		struct fuse_bufvec v;
		char space[sizeof(struct fuse_bufvec) + (READ_BUFS - 1) * sizeof(struct fuse_buf)];
	} u;
	size_t n = 0;
	ssize_t got;
	int rc;

	memset(&u, 0, sizeof(u));
	got = t->read_bufs(fs, ino, fi, size, off, u.v.buf, READ_BUFS, &n);
	if (got == -ENOTSUP)
		return false;
	if (got < 0) {
		fuse_reply_err(req, (int)-logged(fs, (int)got, "read"));
		return true;
	}
	u.v.count = n ? n : 1; /* an empty reply: one empty memory buffer */
	/* libfuse splices descriptor buffers to the kernel when the kernel
	 * allows it (op_init asks) and copies through memory otherwise.  No
	 * SPLICE_MOVE: a moved page leaves the data image's (or the thin
	 * device's) page cache, and snapshots share those chunks, so the next
	 * reader of a sharing volume would go to the disk. */
	rc = fuse_reply_data(req, &u.v, 0);
	if (rc == 0)
		atomic_fetch_add(&fs->bytes_served, (uint64_t)got);
	else
		logged(fs, tf_fail(-rc, "read: the reply of %zd bytes failed", got), "read");
	return true;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(ino);
	char *buf;
	ssize_t n;

	if (t && t->read_bufs && read_zero_copy(fs, req, t, ino, fi, size, off))
		return;
	if (!(buf = thread_buf(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = t && t->read ? t->read(fs, ino, fi, buf, size, off) : -EBADF;
	n = logged(fs, (int)n, "read");
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	atomic_fetch_add(&fs->bytes_served, (uint64_t)n);
	fuse_reply_buf(req, buf, (size_t)n);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(ino);
	off_t res = 0;
	int rc;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		rc = tf_fail(EINVAL, "lseek: only SEEK_DATA and SEEK_HOLE come here");
	else if (off < 0)
		rc = tf_fail(EINVAL, "lseek: negative offset %lld", (long long)off);
	else
		rc = t && t->lseek ? t->lseek(fs, ino, fi, off, whence, &res) : -EINVAL;
	rc = logged(fs, rc, "lseek");
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_lseek(req, res);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	release_file(fs_of(req), ino, fi);
	fuse_reply_err(req, 0);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(ino);
	char buf[4097];
	int rc;

	rc = t && t->readlink ? t->readlink(fs, ino, buf, sizeof(buf)) : -EINVAL;
	rc = logged(fs, rc, "readlink");
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, buf);
}

/* xattr replies: size 0 asks for the size needed. */
static void reply_xattr(fuse_req_t req, ssize_t n, size_t size, const char *buf)
{
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(ino);
	char *buf = size ? malloc(size) : NULL;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	reply_xattr(req, t && t->getxattr ? t->getxattr(fs, ino, name, buf, size) : -ENODATA, size,
		    buf);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(ino);
	char *buf = size ? malloc(size) : NULL;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	reply_xattr(req, t && t->listxattr ? t->listxattr(fs, ino, buf, size) : 0, size, buf);
	free(buf);
}

/* ---- writes (receive/) ---- */

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(parent);
	struct fuse_entry_param e = {.attr_timeout = 0, .entry_timeout = 0};
	int rc;

	(void)mode;
	rc = t && t->create ? t->create(fs, parent, name, &e, fi)
			    : tf_fail(EROFS, "%s: only receive/ takes new files", name);
	rc = logged(fs, rc, "create");
	if (rc == 0 && (rc = tf_openfiles_add(fs->open_files, e.ino, fi)) < 0)
		do_release(fs, e.ino, fi);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_create(req, &e, fi) == -ENOENT)
		release_file(fs, e.ino, fi);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(ino);
	ssize_t n;

	n = t && t->write ? t->write(fs, fi, buf, size, off) : -EBADF;
	n = logged(fs, (int)n, "write");
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(ino);
	int rc = 0;

	if (t && t->flush)
		rc = logged(fs, t->flush(fs, fi), t->name);
	fuse_reply_err(req, -rc);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(ino);
	struct stat st;
	int rc;

	(void)fi;
	rc = t && t->setattr ? t->setattr(fs, ino, attr, to_set, &st) : -EROFS;
	rc = logged(fs, rc, "setattr");
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, 0);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(parent);
	int rc;

	/* Renames stay inside one directory of one writable subtree. */
	rc = t && t->rename && newparent == parent
		 ? t->rename(fs, name, newname, flags)
		 : tf_fail(EROFS, "rename %s: only entries of receive/ can be renamed, within it",
			   name);
	fuse_reply_err(req, -logged(fs, rc, "rename"));
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct tf_fs *fs = fs_of(req);
	const struct tf_subtree *t = subtree_of(parent);
	int rc;

	rc = t && t->unlink ? t->unlink(fs, name) : -EROFS;
	fuse_reply_err(req, -logged(fs, rc, "unlink"));
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Large requests: copies move 1 MiB per round trip. */
	conn->max_read = TF_FS_MAX_READ; /* must equal the max_read mount option */
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	/* Zero-copy reads: replies splice pages from the data image or the
	 * thin device into the kernel, which copies them into the reader's
	 * pages (never moves them: see read_zero_copy). */
	conn->want |= conn->capable & FUSE_CAP_SPLICE_WRITE;
	/* Lookups and listings of one directory at once, so a lookup in
	 * deltas/<lv>/ that plans a stream does not hold up ls of it.  libfuse
	 * before 3.17.1 never tells the kernel (the kernel then serializes
	 * them per directory); this asks for it where libfuse does. */
	conn->want |= conn->capable & FUSE_CAP_PARALLEL_DIROPS;
}

static const struct fuse_lowlevel_ops thinfs_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .releasedir = op_releasedir,
    .open = op_open,
    .read = op_read,
    .lseek = op_lseek,
    .release = op_release,
    .readlink = op_readlink,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .statfs = tf_fs_statfs,
    .create = op_create,
    .write = op_write,
    .flush = op_flush,
    .setattr = op_setattr,
    .rename = op_rename,
    .unlink = op_unlink,
};

const struct fuse_lowlevel_ops *tf_fs_ops(void)
{
	return &thinfs_ops;
}
