/* target_file.c — a receive target that is a plain sparse file DIR/LV.
 *
 * Staging is DIR/.LV.thinfs-partial: for an incremental, a copy of the
 * target (a reflink where the filesystem can, else a sparse copy of its
 * data ranges); records are applied to it, and only after the whole stream
 * checked out is it renamed over DIR/LV — an atomic replace, so the target
 * is always either the old volume or the new one.  The state a later
 * incremental is checked against lives in the xattr user.thinfs.state, or in
 * DIR/.LV.thinfs-state where xattrs are not supported.  An interrupted
 * receive leaves the partial and DIR/.LV.thinfs-resume (a checkpoint).
 *
 * One receive per target: DIR/.LV.thinfs-lock is flock'd from open to free
 * (target_lock.c).  Everything in DIR is opened relative to a directory fd
 * with O_NOFOLLOW, and created with O_EXCL, so a symlink planted under one
 * of these names is refused rather than followed; the target itself must be
 * a regular file.  A receive that fails before its first record leaves no
 * staging file behind.
 */
#include "core/stream/receive_internal.h"

#include "core/base/err.h"
#include "core/io/fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define STATE_XATTR "user.thinfs.state"

struct file_target {
	struct tf_target t;
	int dirfd;
	int lockfd;
	char lv[128];
	/* names inside dirfd */
	char partial[160], resume[160], sidecar[160], prev[160], lock[160];
	int fd; /* the partial */
};

static struct file_target *ft(struct tf_target *t)
{
	return (struct file_target *)t;
}

/* Opens a name in the receive directory, never through a symlink, never
 * hanging on a FIFO; only a regular file is accepted. */
static int open_in(struct file_target *f, const char *name, int flags, mode_t mode)
{
	struct stat st;
	int fd = openat(f->dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);

	if (fd < 0)
		return tf_fail(errno == ELOOP ? EPERM : errno, "%s: %s: %s%s", f->t.name, name,
			       strerror(errno),
			       errno == ELOOP ? " (a symlink; refusing to follow it)" : "");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return tf_fail(EPERM, "%s: %s is not a regular file; refusing", f->t.name, name);
	}
	/* Back to blocking I/O (O_NONBLOCK only guarded the open). */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

static int read_state(struct file_target *f, struct tf_target_state *st)
{
	char buf[1024];
	ssize_t n = -1;
	int fd = open_in(f, f->lv, O_RDONLY, 0);

	tf_err_clear();
	if (fd >= 0) {
		n = fgetxattr(fd, STATE_XATTR, buf, sizeof(buf));
		close(fd);
	}
	if (n < 0) {
		fd = openat(f->dirfd, f->sidecar, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return tf_fail(ENOENT,
				       "%s has no thinfs state: it was not made by thinfs "
				       "receive (--force applies the stream anyway)",
				       f->t.name);
		n = read(fd, buf, sizeof(buf));
		close(fd);
		if (n < 0)
			return tf_fail(errno, "%s: %s: %s", f->t.name, f->sidecar, strerror(errno));
	}
	return tf_fail_ctx(tf_target_state_parse(buf, (size_t)n, st), "%s: ", f->t.name);
}

/* Copies src's data ranges into dst (same size), keeping holes. */
static int sparse_copy(int src, int dst, const char *what)
{
	off_t end = lseek(src, 0, SEEK_END), data = 0, hole;

	if (ioctl(dst, FICLONE, src) == 0)
		return 0;
	if (ftruncate(dst, end) < 0)
		return tf_fail(errno, "%s: %s", what, strerror(errno));
	while ((data = lseek(src, data, SEEK_DATA)) >= 0) {
		hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0)
			break;
		for (off_t o = data; o < hole;) {
			loff_t in = o, out = o;
			ssize_t n = copy_file_range(src, &in, dst, &out, (size_t)(hole - o), 0);
			if (n <= 0)
				return tf_fail(n < 0 ? errno : EIO,
					       "%s: copying the current target: %s", what,
					       n < 0 ? strerror(errno) : "short copy");
			o += n;
		}
		data = hole;
	}
	return errno == ENXIO || data >= 0 ? 0 : tf_fail(errno, "%s: %s", what, strerror(errno));
}

/* Refuses a target another process has open (a VM, a loop device): a write
 * lease is granted only when nobody else holds the file open. */
static int check_not_open(struct file_target *f)
{
	int fd = openat(f->dirfd, f->lv, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return 0;
	if (fcntl(fd, F_SETLEASE, F_WRLCK) < 0) {
		if (errno == EAGAIN || errno == EBUSY)
			rc = tf_fail(EBUSY,
				     "%s is open elsewhere (a VM or a loop device?); close it "
				     "before receiving into it",
				     f->t.name);
	} else {
		fcntl(fd, F_SETLEASE, F_UNLCK);
	}
	close(fd);
	return rc;
}

/* Creates the staging file for a fresh receive (a copy of the target for an
 * incremental), sized to the volume. */
static int make_partial(struct file_target *f, const struct tf_stream_header *h)
{
	struct stat sb;
	int src, rc = 0;

	unlinkat(f->dirfd, f->partial, 0);
	unlinkat(f->dirfd, f->resume, 0);
	f->fd = open_in(f, f->partial, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (f->fd < 0)
		return f->fd;
	if (h->incremental) {
		if ((src = open_in(f, f->lv, O_RDONLY, 0)) < 0)
			return src;
		rc = sparse_copy(src, f->fd, f->t.name);
		/* The replacement keeps the target's permissions. */
		if (rc == 0 && fstat(src, &sb) == 0 && fchmod(f->fd, sb.st_mode & 07777) < 0)
			rc = tf_fail(errno, "%s: %s: %s", f->t.name, f->partial, strerror(errno));
		close(src);
		if (rc < 0)
			return rc;
	}
	if (ftruncate(f->fd, (off_t)h->volume_bytes) < 0)
		return tf_fail(errno, "%s: %s: cannot size it to %" PRIu64 " bytes: %s", f->t.name,
			       f->partial, h->volume_bytes, strerror(errno));
	return 0;
}

static int file_begin(struct tf_target *t, const struct tf_stream_header *h, bool force,
		      bool resuming)
{
	struct file_target *f = ft(t);
	struct tf_target_state st;
	struct stat sb;
	int rc;

	if ((rc = check_not_open(f)) < 0)
		return rc;
	if (resuming) {
		f->fd = open_in(f, f->partial, O_RDWR, 0);
		return f->fd < 0 ? f->fd : 0;
	}
	if (fstatat(f->dirfd, f->lv, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(sb.st_mode))
			return tf_fail(EPERM,
				       "%s is not a regular file (%s); refusing to receive "
				       "into it",
				       t->name, S_ISLNK(sb.st_mode) ? "a symlink" : "not a file");
		if (!force && (rc = tf_target_check_replay(
				   t->name, read_state(f, &st) == 0 ? &st : NULL, h)) < 0)
			return rc;
	} else if (h->incremental) {
		return tf_fail(ENOENT,
			       "%s does not exist: an incremental stream needs the "
			       "target at its base (send a full stream first)",
			       t->name);
	}
	if ((rc = make_partial(f, h)) < 0) {
		/* Nothing was received: leave nothing behind. */
		if (f->fd >= 0) {
			close(f->fd);
			f->fd = -1;
			unlinkat(f->dirfd, f->partial, 0);
		}
		return rc;
	}
	return 0;
}

static int file_data(struct tf_target *t, uint64_t off, const void *buf, size_t len)
{
	struct file_target *f = ft(t);

	return tf_pwrite_all(f->fd, buf, len, off, f->t.name);
}

static int file_zero(struct tf_target *t, uint64_t off, uint64_t len)
{
	struct file_target *f = ft(t);

	if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) ==
	    0)
		return 0;
	/* No hole punching here: write zeros, never leave stale bytes. */
	return tf_write_zeros(f->fd, off, len, f->t.name);
}

/* Writes name (replacing it) and makes it durable; created with O_EXCL so
 * nothing planted under the name is written through. */
static int write_synced(struct file_target *f, const char *name, const void *buf, size_t len)
{
	int fd, rc = 0;

	unlinkat(f->dirfd, name, 0);
	if ((fd = open_in(f, name, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		return fd;
	errno = 0;
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0)
		rc = tf_fail(errno ? errno : EIO, "%s: %s: %s", f->t.name, name,
			     errno ? strerror(errno) : "short write");
	close(fd);
	if (rc < 0)
		unlinkat(f->dirfd, name, 0);
	return rc;
}

/* Writes name atomically: a temp file, fsync, rename. */
static int write_atomic(struct file_target *f, const char *name, const void *buf, size_t len)
{
	char tmp[200];
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	if ((rc = write_synced(f, tmp, buf, len)) < 0)
		return rc;
	if (renameat(f->dirfd, tmp, f->dirfd, name) < 0) {
		rc = tf_fail(errno, "%s: %s: %s", f->t.name, name, strerror(errno));
		unlinkat(f->dirfd, tmp, 0);
	}
	return rc;
}

static int file_save_checkpoint(struct tf_target *t, const struct tf_parser_checkpoint *cp)
{
	struct file_target *f = ft(t);
	uint8_t file[TF_CHECKPOINT_FILE_BYTES];

	if (f->fd < 0)
		return -EBADF;
	if (fdatasync(f->fd) < 0)
		return tf_fail(errno, "%s: %s: %s", t->name, f->partial, strerror(errno));
	tf_checkpoint_encode(cp, file);
	return write_atomic(f, f->resume, file, sizeof(file));
}

static int file_load_checkpoint(struct tf_target *t, struct tf_parser_checkpoint *cp)
{
	struct file_target *f = ft(t);
	uint8_t file[TF_CHECKPOINT_FILE_BYTES + 1];
	struct stat st;
	char what[4500];
	ssize_t n;
	int fd;

	if (fstatat(f->dirfd, f->resume, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -ENOENT;
	if ((fd = open_in(f, f->resume, O_RDONLY, 0)) < 0)
		return fd;
	n = read(fd, file, sizeof(file));
	close(fd);
	snprintf(what, sizeof(what), "%s: %s", t->name, f->resume);
	if (fstatat(f->dirfd, f->partial, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
		return tf_fail(EBADMSG, "%s: the staged data (%s) is gone; start the receive again",
			       what, f->partial);
	return tf_checkpoint_decode(file, n < 0 ? 0 : (size_t)n, cp, what);
}

static int file_commit(struct tf_target *t, const struct tf_target_state *st, uint64_t volume_bytes)
{
	struct file_target *f = ft(t);
	char text[1024], staged[200];
	bool in_xattr;
	int n, rc;

	if (ftruncate(f->fd, (off_t)volume_bytes) < 0 || fsync(f->fd) < 0)
		return tf_fail(errno, "%s: %s: %s", t->name, f->partial, strerror(errno));
	if ((n = tf_target_state_format(st, text, sizeof(text))) < 0)
		return n;
	in_xattr = fsetxattr(f->fd, STATE_XATTR, text, (size_t)n, 0) == 0;
	/* Without xattrs the state goes in the sidecar, which must never
	 * describe data it does not sit beside: the new state is staged, the
	 * old one removed, the data renamed into place, then the new state.  A
	 * crash in between leaves no state, so the next incremental is refused
	 * rather than applied to the wrong base. */
	snprintf(staged, sizeof(staged), "%s.new", f->sidecar);
	if (!in_xattr && (rc = write_synced(f, staged, text, (size_t)n)) < 0)
		return rc;
	if (unlinkat(f->dirfd, f->sidecar, 0) < 0 && errno != ENOENT)
		return tf_fail(errno, "%s: %s: %s", t->name, f->sidecar, strerror(errno));
	if (t->keep_prev) {
		unlinkat(f->dirfd, f->prev, 0);
		if (linkat(f->dirfd, f->lv, f->dirfd, f->prev, 0) < 0 && errno != ENOENT)
			return tf_fail(errno, "%s: cannot keep the previous volume as %s: %s",
				       t->name, f->prev, strerror(errno));
	}
	if (renameat(f->dirfd, f->partial, f->dirfd, f->lv) < 0)
		return tf_fail(errno, "%s: cannot replace the target: %s", t->name,
			       strerror(errno));
	if (!in_xattr && renameat(f->dirfd, staged, f->dirfd, f->sidecar) < 0)
		return tf_fail(errno,
			       "%s: the new volume is in place but its state could not be "
			       "recorded in %s (%s); the next incremental needs --force",
			       t->name, f->sidecar, strerror(errno));
	unlinkat(f->dirfd, f->resume, 0);
	fsync(f->dirfd);
	close(f->fd);
	f->fd = -1;
	return 0;
}

static void file_abort(struct tf_target *t, bool keep)
{
	struct file_target *f = ft(t);
	char tmp[200];

	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	if (!keep) {
		unlinkat(f->dirfd, f->partial, 0);
		unlinkat(f->dirfd, f->resume, 0);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->resume);
	unlinkat(f->dirfd, tmp, 0);
	snprintf(tmp, sizeof(tmp), "%s.new", f->sidecar);
	unlinkat(f->dirfd, tmp, 0);
}

static void file_free(struct tf_target *t)
{
	struct file_target *f = ft(t);

	if (f->fd >= 0)
		close(f->fd);
	tf_target_unlock(f->dirfd, f->lock, f->lockfd);
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f);
}

static const struct tf_target_ops file_ops = {
    .begin = file_begin,
    .data = file_data,
    .zero = file_zero,
    .save_checkpoint = file_save_checkpoint,
    .load_checkpoint = file_load_checkpoint,
    .commit = file_commit,
    .abort = file_abort,
    .free = file_free,
};

int tf_target_file_open(const char *dir, const char *lv, struct tf_target **out)
{
	struct file_target *f;
	int rc;

	if (!tf_recv_valid_name(lv))
		return tf_fail(EINVAL,
			       "'%s' is not a valid target name (letters, digits, + _ . -; "
			       "not starting with '.' or '-')",
			       lv);
	f = calloc(1, sizeof(*f));
	if (!f)
		return tf_fail(ENOMEM, "receive: out of memory");
	f->t.ops = &file_ops;
	f->fd = f->lockfd = -1;
	snprintf(f->t.name, sizeof(f->t.name), "%s/%s", dir, lv);
	f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0) {
		rc = tf_fail(errno == ENOTDIR ? ENOTDIR : errno, "%s: %s", dir,
			     errno == ENOTDIR ? "not a directory" : strerror(errno));
		free(f);
		return rc;
	}
	snprintf(f->lv, sizeof(f->lv), "%s", lv);
	snprintf(f->partial, sizeof(f->partial), ".%s.thinfs-partial", lv);
	snprintf(f->resume, sizeof(f->resume), ".%s.thinfs-resume", lv);
	snprintf(f->sidecar, sizeof(f->sidecar), ".%s.thinfs-state", lv);
	snprintf(f->prev, sizeof(f->prev), ".%s.thinfs-prev", lv);
	snprintf(f->lock, sizeof(f->lock), ".%s.thinfs-lock", lv);
	if ((rc = tf_target_lock(f->dirfd, f->lock, f->t.name, &f->lockfd)) < 0) {
		close(f->dirfd);
		free(f);
		return rc;
	}
	*out = &f->t;
	return 0;
}
