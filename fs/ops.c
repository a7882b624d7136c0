/* ops.c — the FUSE low-level operations: dispatch by inode class to the
 * subtree that owns the node, then exactly one reply.
 *
 * Inode numbers are computed (ino.h), so there is no inode table to keep in
 * step with lookup counts: forget needs no work.
 */
#include "files.h"
#include "fs.h"
#include "ino.h"

#include "core/base/err.h"
#include "core/pool/pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/* The directories and files that always exist. */
struct fixed_node {
	fuse_ino_t ino;
	fuse_ino_t parent;
	const char *name;
	mode_t type;
};

static const struct fixed_node fixed_nodes[] = {
    {TF_INO_ROOT, TF_INO_ROOT, "", S_IFDIR},
    {TF_INO_VOLUMES, TF_INO_ROOT, "volumes", S_IFDIR},
    {TF_INO_FILES, TF_INO_ROOT, "files", S_IFDIR},
    {TF_INO_DELTAS, TF_INO_ROOT, "deltas", S_IFDIR},
    {TF_INO_RECEIVE, TF_INO_ROOT, "receive", S_IFDIR},
    {TF_INO_META, TF_INO_ROOT, ".thinfs", S_IFDIR},
    {TF_INO_STATUS, TF_INO_META, "status", S_IFREG},
};

#define N_FIXED (sizeof(fixed_nodes) / sizeof(fixed_nodes[0]))

static const struct fixed_node *fixed_by_ino(fuse_ino_t ino)
{
	for (size_t i = 0; i < N_FIXED; i++)
		if (fixed_nodes[i].ino == ino)
			return &fixed_nodes[i];
	return NULL;
}

static struct tf_fs *fs_of(fuse_req_t req)
{
	struct tf_fs *fs = fuse_req_userdata(req);

	atomic_fetch_add(&fs->requests, 1);
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

/* ---- attributes ---- */

static int status_size(struct tf_fs *fs, size_t *len)
{
	char *s;
	int rc = tf_status_render(fs, &s, len);

	if (rc == 0)
		free(s);
	return rc;
}

static int do_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st)
{
	const struct fixed_node *f = fixed_by_ino(ino);

	if (f && f->type == S_IFDIR) {
		tf_fs_dir_attr(fs, ino, st);
		return 0;
	}
	if (ino == TF_INO_STATUS) {
		size_t len = 0;
		int rc = status_size(fs, &len);
		tf_fs_file_attr(fs, ino, len, 0, 0, st);
		st->st_blocks = (blkcnt_t)((len + 511) / 512);
		return rc;
	}
	switch (tf_ino_class(ino)) {
	case TF_IC_VOLUME:
		return tf_volumes_getattr(fs, ino, st);
	case TF_IC_FILES_LV:
	case TF_IC_PART:
	case TF_IC_EXT:
		return tf_files_getattr(fs, ino, st);
	case TF_IC_DELTA_DIR:
	case TF_IC_DELTA:
	case TF_IC_FULL_STREAM:
		return tf_deltas_getattr(fs, ino, st);
	case TF_IC_RECEIVE:
		return tf_recvdir_getattr(fs, ino, st);
	default:
		return -ENOENT;
	}
}

/* Whether a node lives below files/ (its work is in files.c). */
static bool in_files(fuse_ino_t ino)
{
	enum tf_ino_class c = tf_ino_class(ino);

	return ino == TF_INO_FILES || c == TF_IC_FILES_LV || c == TF_IC_PART || c == TF_IC_EXT;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	struct stat st;
	int rc;

	(void)fi;
	tf_err_clear();
	rc = logged(fs, do_getattr(fs, ino, &st), "getattr");
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, 1.0);
}

static int do_lookup(struct tf_fs *fs, fuse_ino_t parent, const char *name,
		     struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->attr_timeout = 1.0;
	e->entry_timeout = 1.0;
	for (size_t i = 1; i < N_FIXED; i++) {
		if (fixed_nodes[i].parent == parent && strcmp(fixed_nodes[i].name, name) == 0) {
			e->ino = fixed_nodes[i].ino;
			return do_getattr(fs, e->ino, &e->attr);
		}
	}
	if (parent == TF_INO_VOLUMES)
		return tf_volumes_lookup(fs, name, e);
	if (in_files(parent))
		return tf_files_lookup(fs, parent, name, e);
	if (parent == TF_INO_DELTAS || tf_ino_class(parent) == TF_IC_DELTA_DIR)
		return tf_deltas_lookup(fs, parent, name, e);
	if (parent == TF_INO_RECEIVE)
		return tf_recvdir_lookup(fs, name, e);
	return -ENOENT;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct tf_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	int rc;

	tf_err_clear();
	rc = logged(fs, do_lookup(fs, parent, name, &e), "lookup");
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

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	const struct fixed_node *f = fixed_by_ino(ino);
	struct tf_dirh *h = calloc(1, sizeof(*h));
	int rc = 0;

	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	tf_err_clear();
	/* A listing sees one generation of the volume table from start to end,
	 * so cookies stay meaningful across a refresh. */
	h->tab = tf_voltab_get(fs);
	if (in_files(ino))
		rc = logged(fs, tf_files_opendir(fs, ino, h), "opendir");
	else if ((!f || f->type != S_IFDIR) && tf_ino_class(ino) != TF_IC_DELTA_DIR)
		rc = -ENOTDIR;
	if (rc < 0) {
		tf_voltab_put(h->tab);
		free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->cache_readdir =
	    tf_pool_kind(fs->pool) == TF_POOL_IMAGE && tf_ino_class(ino) == TF_IC_EXT;
	fuse_reply_open(req, fi);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tf_dirh *h = (struct tf_dirh *)(uintptr_t)fi->fh;

	(void)ino;
	tf_files_releasedir(h);
	tf_voltab_put(h->tab);
	free(h);
	fuse_reply_err(req, 0);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	struct tf_dirh *h = (struct tf_dirh *)(uintptr_t)fi->fh;
	struct tf_dirbuf db = {.req = req, .size = size, .from = off};
	const struct fixed_node *self = fixed_by_ino(ino);
	int rc = 0;

	db.buf = malloc(size);
	if (!db.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	tf_err_clear();
	if (h->ed) {
		/* ext directories carry their own ".", ".." and cookies. */
		rc = tf_files_readdir(fs, ino, h, &db);
	} else {
		tf_dirbuf_add(&db, ".", ino, S_IFDIR);
		tf_dirbuf_add(&db, "..",
			      self				     ? self->parent
			      : tf_ino_class(ino) == TF_IC_DELTA_DIR ? TF_INO_DELTAS
								     : TF_INO_FILES,
			      S_IFDIR);
		for (size_t i = 1; i < N_FIXED; i++)
			if (fixed_nodes[i].parent == ino)
				tf_dirbuf_add(&db, fixed_nodes[i].name, fixed_nodes[i].ino,
					      fixed_nodes[i].type);
		if (ino == TF_INO_VOLUMES)
			rc = tf_volumes_readdir(fs, h->tab, &db);
		else if (in_files(ino))
			rc = tf_files_readdir(fs, ino, h, &db);
		else if (ino == TF_INO_DELTAS || tf_ino_class(ino) == TF_IC_DELTA_DIR)
			rc = tf_deltas_readdir(fs, ino, h->tab, &db);
		else if (ino == TF_INO_RECEIVE)
			rc = tf_recvdir_readdir(fs, &db);
	}
	rc = logged(fs, rc, "readdir");
	if (rc < 0 && db.used == 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, db.buf, db.used);
	free(db.buf);
}

/* ---- files ---- */

struct status_fh {
	char *text;
	size_t len;
};

static int do_open(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino == TF_INO_STATUS) {
		struct status_fh *h = calloc(1, sizeof(*h));
		int rc;

		if (!h)
			return -ENOMEM;
		if ((fi->flags & O_ACCMODE) != O_RDONLY) {
			free(h);
			return -EACCES;
		}
		rc = tf_status_render(fs, &h->text, &h->len);
		if (rc < 0) {
			free(h);
			return rc;
		}
		fi->fh = (uint64_t)(uintptr_t)h;
		fi->direct_io = 1; /* the size changes between opens */
		return 0;
	}
	switch (tf_ino_class(ino)) {
	case TF_IC_VOLUME:
		return tf_volumes_open(fs, ino, fi);
	case TF_IC_PART:
	case TF_IC_EXT:
		return tf_files_open(fs, ino, fi);
	case TF_IC_DELTA:
	case TF_IC_FULL_STREAM:
		return tf_deltas_open(fs, ino, fi);
	case TF_IC_RECEIVE:
		return tf_recvdir_open(fs, ino, fi);
	default:
		return fixed_by_ino(ino) ? -EISDIR : -ENOENT;
	}
}

/* Undoes what do_open set up. */
static void do_release(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino == TF_INO_STATUS) {
		struct status_fh *h = (struct status_fh *)(uintptr_t)fi->fh;
		free(h->text);
		free(h);
		return;
	}
	switch (tf_ino_class(ino)) {
	case TF_IC_VOLUME:
		tf_volumes_release(fs, fi);
		break;
	case TF_IC_PART:
	case TF_IC_EXT:
		tf_files_release(fs, ino, fi);
		break;
	case TF_IC_DELTA:
	case TF_IC_FULL_STREAM:
		tf_deltas_release(fi);
		break;
	case TF_IC_RECEIVE:
		tf_recvdir_release(fs, fi);
		break;
	default:
		break;
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	int rc;

	tf_err_clear();
	rc = logged(fs, do_open(fs, ino, fi), "open");
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_open(req, fi) == -ENOENT) /* interrupted: undo */
		do_release(fs, ino, fi);
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

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	ssize_t n;
	char *buf;

	tf_err_clear();
	if (ino == TF_INO_STATUS) {
		struct status_fh *h = (struct status_fh *)(uintptr_t)fi->fh;
		size_t o = (size_t)off < h->len ? (size_t)off : h->len;
		size_t len = h->len - o < size ? h->len - o : size;
		fuse_reply_buf(req, h->text + o, len);
		return;
	}
	buf = thread_buf(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	switch (tf_ino_class(ino)) {
	case TF_IC_VOLUME:
		n = tf_volumes_read(fs, fi, buf, size, off);
		break;
	case TF_IC_PART:
	case TF_IC_EXT:
		n = tf_files_read(fs, ino, fi, buf, size, off);
		break;
	case TF_IC_DELTA:
	case TF_IC_FULL_STREAM:
		n = tf_deltas_read(fi, buf, size, off);
		break;
	default:
		n = -EBADF;
	}
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
	off_t res = 0;
	int rc;

	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	switch (tf_ino_class(ino)) {
	case TF_IC_VOLUME:
		rc = tf_volumes_lseek(fs, fi, off, whence, &res);
		break;
	case TF_IC_PART:
	case TF_IC_EXT:
		rc = tf_files_lseek(fs, ino, fi, off, whence, &res);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_lseek(req, res);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	do_release(fs_of(req), ino, fi);
	fuse_reply_err(req, 0);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct tf_fs *fs = fs_of(req);
	char buf[4097];
	int rc;

	tf_err_clear();
	rc = logged(fs, tf_files_readlink(fs, ino, buf, sizeof(buf)), "readlink");
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
	char *buf = size ? malloc(size) : NULL;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	tf_err_clear();
	reply_xattr(req, in_files(ino) ? tf_files_getxattr(fs, ino, name, buf, size) : -ENODATA,
		    size, buf);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct tf_fs *fs = fs_of(req);
	char *buf = size ? malloc(size) : NULL;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	tf_err_clear();
	reply_xattr(req, in_files(ino) ? tf_files_listxattr(fs, ino, buf, size) : 0, size, buf);
	free(buf);
}

/* ---- receive/ ---- */

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	struct fuse_entry_param e = {.attr_timeout = 0, .entry_timeout = 0};
	int rc;

	(void)mode;
	tf_err_clear();
	rc = parent == TF_INO_RECEIVE ? tf_recvdir_create(fs, name, &e, fi)
				      : tf_fail(EROFS, "%s: only receive/ takes new files", name);
	rc = logged(fs, rc, "create");
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_create(req, &e, fi) == -ENOENT)
		tf_recvdir_release(fs, fi);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	ssize_t n;

	tf_err_clear();
	n = tf_ino_class(ino) == TF_IC_RECEIVE ? tf_recvdir_write(fs, fi, buf, size, off) : -EBADF;
	n = logged(fs, (int)n, "write");
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	int rc = 0;

	tf_err_clear();
	if (tf_ino_class(ino) == TF_IC_RECEIVE)
		rc = logged(fs, tf_recvdir_flush(fs, fi), "receive");
	fuse_reply_err(req, -rc);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct tf_fs *fs = fs_of(req);
	struct stat st;
	int rc;

	(void)fi;
	tf_err_clear();
	rc = tf_ino_class(ino) == TF_IC_RECEIVE ? tf_recvdir_setattr(fs, ino, attr, to_set, &st)
						: -EROFS;
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
	int rc;

	tf_err_clear();
	rc = parent == TF_INO_RECEIVE && newparent == TF_INO_RECEIVE && flags == 0
		 ? tf_recvdir_rename(fs, name, newname)
		 : -EROFS;
	fuse_reply_err(req, -logged(fs, rc, "rename"));
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct tf_fs *fs = fs_of(req);
	int rc;

	tf_err_clear();
	rc = parent == TF_INO_RECEIVE ? tf_recvdir_unlink(fs, name) : -EROFS;
	fuse_reply_err(req, -logged(fs, rc, "unlink"));
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Large requests: copies move 1 MiB per round trip. */
	conn->max_read = 1 << 20; /* must equal the max_read mount option */
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want &= ~FUSE_CAP_SPLICE_WRITE;
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
