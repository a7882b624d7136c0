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
#include <sys/xattr.h>
#include <unistd.h>

#define STATE_XATTR "user.thinfs.state"

struct file_target {
	struct tf_target t;
	char dir[4096];
	char path[4200], partial[4200], resume[4200], sidecar[4200], prev[4200];
	int fd; /* the partial */
};

static struct file_target *ft(struct tf_target *t)
{
	return (struct file_target *)t;
}

static int read_state(struct file_target *f, struct tf_target_state *st)
{
	char buf[1024];
	ssize_t n = getxattr(f->path, STATE_XATTR, buf, sizeof(buf));
	int fd;

	if (n < 0) {
		fd = open(f->sidecar, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return tf_fail(ENOENT,
				       "%s has no thinfs state: it was not made by thinfs "
				       "receive (--force applies the stream anyway)",
				       f->t.name);
		n = read(fd, buf, sizeof(buf));
		close(fd);
		if (n < 0)
			return tf_fail(errno, "%s: %s", f->sidecar, strerror(errno));
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
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);
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

static int file_begin(struct tf_target *t, const struct tf_stream_header *h, bool force,
		      bool resuming)
{
	struct file_target *f = ft(t);
	struct tf_target_state st;
	struct stat sb;
	int src, rc;

	if ((rc = check_not_open(f)) < 0)
		return rc;
	if (resuming) {
		f->fd = open(f->partial, O_RDWR | O_CLOEXEC);
		return f->fd < 0 ? tf_fail(errno, "%s: %s", f->partial, strerror(errno)) : 0;
	}
	if (access(f->path, F_OK) == 0) {
		if (!force && (rc = tf_target_check_replay(
				   t->name, read_state(f, &st) == 0 ? &st : NULL, h)) < 0)
			return rc;
	} else if (h->incremental) {
		return tf_fail(ENOENT,
			       "%s does not exist: an incremental stream needs the "
			       "target at its base (send a full stream first)",
			       t->name);
	}
	unlink(f->partial);
	unlink(f->resume);
	f->fd = open(f->partial, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (f->fd < 0)
		return tf_fail(errno, "%s: %s", f->partial, strerror(errno));
	if (h->incremental) {
		src = open(f->path, O_RDONLY | O_CLOEXEC);
		if (src < 0)
			return tf_fail(errno, "%s: %s", f->path, strerror(errno));
		rc = sparse_copy(src, f->fd, f->partial);
		/* The replacement keeps the target's permissions. */
		if (rc == 0 && fstat(src, &sb) == 0 && fchmod(f->fd, sb.st_mode & 07777) < 0)
			rc = tf_fail(errno, "%s: %s", f->partial, strerror(errno));
		close(src);
		if (rc < 0)
			return rc;
	}
	if (ftruncate(f->fd, (off_t)h->volume_bytes) < 0)
		return tf_fail(errno, "%s: %s", f->partial, strerror(errno));
	return 0;
}

static int file_data(struct tf_target *t, uint64_t off, const void *buf, size_t len)
{
	struct file_target *f = ft(t);

	return tf_pwrite_all(f->fd, buf, len, off, f->partial);
}

static int file_zero(struct tf_target *t, uint64_t off, uint64_t len)
{
	struct file_target *f = ft(t);

	if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) ==
	    0)
		return 0;
	/* No hole punching here: write zeros, never leave stale bytes. */
	return tf_write_zeros(f->fd, off, len, f->partial);
}

/* Writes path (replacing it) and makes it durable. */
static int write_synced(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), rc = 0;

	if (fd < 0)
		return tf_fail(errno, "%s: %s", path, strerror(errno));
	errno = 0;
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0)
		rc = tf_fail(errno ? errno : EIO, "%s: %s", path,
			     errno ? strerror(errno) : "short write");
	close(fd);
	if (rc < 0)
		unlink(path);
	return rc;
}

/* Writes path atomically: a temp file, fsync, rename. */
static int write_atomic(const char *path, const void *buf, size_t len)
{
	char tmp[4300];
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((rc = write_synced(tmp, buf, len)) < 0)
		return rc;
	if (rename(tmp, path) < 0) {
		rc = tf_fail(errno, "%s: %s", path, strerror(errno));
		unlink(tmp);
	}
	return rc;
}

static int file_save_checkpoint(struct tf_target *t, const struct tf_parser_checkpoint *cp)
{
	struct file_target *f = ft(t);

	if (f->fd < 0)
		return -EBADF;
	if (fdatasync(f->fd) < 0)
		return tf_fail(errno, "%s: %s", f->partial, strerror(errno));
	uint8_t file[TF_CHECKPOINT_FILE_BYTES];

	tf_checkpoint_encode(cp, file);
	return write_atomic(f->resume, file, sizeof(file));
}

static int file_load_checkpoint(struct tf_target *t, struct tf_parser_checkpoint *cp)
{
	struct file_target *f = ft(t);
	int fd = open(f->resume, O_RDONLY | O_CLOEXEC);
	uint8_t file[TF_CHECKPOINT_FILE_BYTES + 1];
	ssize_t n;

	if (fd < 0)
		return -ENOENT;
	n = read(fd, file, sizeof(file));
	close(fd);
	if (access(f->partial, F_OK) != 0)
		return tf_fail(EBADMSG, "%s: the staged data (%s) is gone; start the receive again",
			       f->resume, f->partial);
	return tf_checkpoint_decode(file, n < 0 ? 0 : (size_t)n, cp, f->resume);
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static int file_commit(struct tf_target *t, const struct tf_target_state *st, uint64_t volume_bytes)
{
	struct file_target *f = ft(t);
	char text[1024], staged[4300];
	bool in_xattr;
	int n, rc;

	if (ftruncate(f->fd, (off_t)volume_bytes) < 0 || fsync(f->fd) < 0)
		return tf_fail(errno, "%s: %s", f->partial, strerror(errno));
	if ((n = tf_target_state_format(st, text, sizeof(text))) < 0)
		return n;
	in_xattr = fsetxattr(f->fd, STATE_XATTR, text, (size_t)n, 0) == 0;
	/* Without xattrs the state goes in the sidecar, which must never
	 * describe data it does not sit beside: the new state is staged, the
	 * old one removed, the data renamed into place, then the new state.  A
	 * crash in between leaves no state, so the next incremental is refused
	 * rather than applied to the wrong base. */
	snprintf(staged, sizeof(staged), "%s.new", f->sidecar);
	if (!in_xattr && (rc = write_synced(staged, text, (size_t)n)) < 0)
		return rc;
	if (unlink(f->sidecar) < 0 && errno != ENOENT)
		return tf_fail(errno, "%s: %s", f->sidecar, strerror(errno));
	if (t->keep_prev) {
		unlink(f->prev);
		if (link(f->path, f->prev) < 0 && errno != ENOENT)
			return tf_fail(errno, "%s: cannot keep the previous volume: %s", f->prev,
				       strerror(errno));
	}
	if (rename(f->partial, f->path) < 0)
		return tf_fail(errno, "%s: cannot replace the target: %s", t->name,
			       strerror(errno));
	if (!in_xattr && rename(staged, f->sidecar) < 0)
		return tf_fail(errno,
			       "%s: the new volume is in place but its state could not be "
			       "recorded (%s); the next incremental needs --force",
			       f->sidecar, strerror(errno));
	unlink(f->resume);
	fsync_dir(f->dir);
	close(f->fd);
	f->fd = -1;
	return 0;
}

static void file_abort(struct tf_target *t, bool keep)
{
	struct file_target *f = ft(t);

	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	if (!keep) {
		unlink(f->partial);
		unlink(f->resume);
	}
}

static void file_free(struct tf_target *t)
{
	struct file_target *f = ft(t);

	if (f->fd >= 0)
		close(f->fd);
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
	struct stat st;

	if (!tf_recv_valid_name(lv))
		return tf_fail(EINVAL,
			       "'%s' is not a valid target name (letters, digits, + _ . -; "
			       "not starting with '.' or '-')",
			       lv);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return tf_fail(ENOTDIR, "%s: not a directory", dir);
	f = calloc(1, sizeof(*f));
	if (!f)
		return tf_fail(ENOMEM, "receive: out of memory");
	f->t.ops = &file_ops;
	f->fd = -1;
	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	snprintf(f->path, sizeof(f->path), "%s/%s", dir, lv);
	snprintf(f->partial, sizeof(f->partial), "%s/.%s.thinfs-partial", dir, lv);
	snprintf(f->resume, sizeof(f->resume), "%s/.%s.thinfs-resume", dir, lv);
	snprintf(f->sidecar, sizeof(f->sidecar), "%s/.%s.thinfs-state", dir, lv);
	snprintf(f->prev, sizeof(f->prev), "%s/.%s.thinfs-prev", dir, lv);
	snprintf(f->t.name, sizeof(f->t.name), "%s", f->path);
	*out = &f->t;
	return 0;
}
