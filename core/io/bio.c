/* bio.c — the block I/O backends: file/device, memory, fault injection. */
#include "core/io/bio.h"
#include "core/base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIRECT_ALIGN 4096

struct file_priv {
	int fd;
	int direct;
};

int tf_bio_pread(struct tf_bio *b, void *buf, size_t len, uint64_t off)
{
	if (off > b->size || len > b->size - off)
		return tf_fail(EIO,
			       "%s: read of %zu bytes at offset %llu is past its end (%llu bytes)",
			       b->name, len, (unsigned long long)off, (unsigned long long)b->size);
	return b->ops->pread(b, buf, len, off);
}

int tf_bio_pwrite(struct tf_bio *b, const void *buf, size_t len, uint64_t off)
{
	if (!b->ops->pwrite)
		return tf_fail(EROFS, "%s: opened read-only", b->name);
	if (off > b->size || len > b->size - off)
		return tf_fail(ENOSPC,
			       "%s: write of %zu bytes at offset %llu is past its end (%llu bytes)",
			       b->name, len, (unsigned long long)off, (unsigned long long)b->size);
	return b->ops->pwrite(b, buf, len, off);
}

void tf_bio_close(struct tf_bio *b)
{
	if (b)
		b->ops->close(b);
}

static struct tf_bio *bio_new(const struct tf_bio_ops *ops, const char *name, uint64_t size,
			      void *priv)
{
	struct tf_bio *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->ops = ops;
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->size = size;
	b->priv = priv;
	return b;
}

/* ---- file / block device ---- */

static int file_io_plain(struct tf_bio *b, void *buf, size_t len, uint64_t off, int write)
{
	struct file_priv *fp = b->priv;
	size_t done = 0;

	while (done < len) {
		ssize_t n =
		    write
			? pwrite(fp->fd, (const char *)buf + done, len - done, (off_t)(off + done))
			: pread(fp->fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tf_fail(errno, "%s: %s at offset %llu: %s", b->name,
				       write ? "write" : "read", (unsigned long long)(off + done),
				       strerror(errno));
		if (n == 0)
			return tf_fail(EIO, "%s: unexpected end of file at offset %llu", b->name,
				       (unsigned long long)(off + done));
		done += (size_t)n;
	}
	return 0;
}

/* O_DIRECT needs aligned offsets, lengths and buffers: read the aligned
 * covering range into a bounce buffer and copy out. */
static int file_pread_direct(struct tf_bio *b, void *buf, size_t len, uint64_t off)
{
	uint64_t a_off = off & ~(uint64_t)(DIRECT_ALIGN - 1);
	uint64_t a_end = (off + len + DIRECT_ALIGN - 1) & ~(uint64_t)(DIRECT_ALIGN - 1);
	size_t a_len = (size_t)(a_end - a_off);
	void *bounce;
	int rc;

	if (((uintptr_t)buf % DIRECT_ALIGN) == 0 && a_off == off && a_len == len)
		return file_io_plain(b, buf, len, off, 0);
	if (posix_memalign(&bounce, DIRECT_ALIGN, a_len))
		return tf_fail(ENOMEM, "%s: no memory for a %zu-byte aligned buffer", b->name,
			       a_len);
	rc = file_io_plain(b, bounce, a_len, a_off, 0);
	if (rc == 0)
		memcpy(buf, (char *)bounce + (off - a_off), len);
	free(bounce);
	return rc;
}

static int file_pread(struct tf_bio *b, void *buf, size_t len, uint64_t off)
{
	struct file_priv *fp = b->priv;

	if (fp->direct)
		return file_pread_direct(b, buf, len, off);
	return file_io_plain(b, buf, len, off, 0);
}

static int file_pwrite(struct tf_bio *b, const void *buf, size_t len, uint64_t off)
{
	return file_io_plain(b, (void *)buf, len, off, 1);
}

static void file_close(struct tf_bio *b)
{
	struct file_priv *fp = b->priv;

	close(fp->fd);
	free(fp);
	free(b);
}

static const struct tf_bio_ops file_ops_ro = {
    .pread = file_pread,
    .close = file_close,
};

static const struct tf_bio_ops file_ops_rw = {
    .pread = file_pread,
    .pwrite = file_pwrite,
    .close = file_close,
};

int tf_bio_open_file(const char *path, int flags, struct tf_bio **out)
{
	/* O_NONBLOCK: a FIFO in place of an image must not hang the open (it is
	 * refused below); regular files and block devices ignore the flag. */
	int oflags = O_CLOEXEC | O_NONBLOCK | ((flags & TF_BIO_WRITE) ? O_RDWR : O_RDONLY);
	struct file_priv *fp;
	struct stat st;
	uint64_t size;
	int fd;

	if (flags & TF_BIO_DIRECT)
		oflags |= O_DIRECT;
	fd = open(path, oflags);
	if (fd < 0 && errno == EINVAL && (flags & TF_BIO_DIRECT)) {
		/* tmpfs and some overlays refuse O_DIRECT; a copied image has no
		 * writer behind the cache, so the plain path is correct there. */
		flags &= ~TF_BIO_DIRECT;
		fd = open(path, oflags & ~O_DIRECT);
	}
	if (fd < 0)
		return tf_fail(errno, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return tf_fail(e, "%s: cannot stat: %s", path, strerror(e));
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
			int e = errno;
			close(fd);
			return tf_fail(e, "%s: cannot get device size: %s", path, strerror(e));
		}
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		close(fd);
		return tf_fail(EINVAL, "%s: not a regular file or block device", path);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	fp = calloc(1, sizeof(*fp));
	if (!fp) {
		close(fd);
		return tf_fail(ENOMEM, "%s: out of memory", path);
	}
	fp->fd = fd;
	fp->direct = !!(flags & TF_BIO_DIRECT);
	*out = bio_new((flags & TF_BIO_WRITE) ? &file_ops_rw : &file_ops_ro, path, size, fp);
	if (!*out) {
		close(fd);
		free(fp);
		return tf_fail(ENOMEM, "%s: out of memory", path);
	}
	return 0;
}

int tf_bio_fd(const struct tf_bio *b)
{
	const struct file_priv *fp = b->priv;

	if (b->ops != &file_ops_ro && b->ops != &file_ops_rw)
		return -1;
	return fp->direct ? -1 : fp->fd;
}

/* ---- memory ---- */

static int mem_pread(struct tf_bio *b, void *buf, size_t len, uint64_t off)
{
	memcpy(buf, (char *)b->priv + off, len);
	return 0;
}

static int mem_pwrite(struct tf_bio *b, const void *buf, size_t len, uint64_t off)
{
	memcpy((char *)b->priv + off, buf, len);
	return 0;
}

static void mem_close(struct tf_bio *b)
{
	free(b);
}

static const struct tf_bio_ops mem_ops = {
    .pread = mem_pread,
    .pwrite = mem_pwrite,
    .close = mem_close,
};

int tf_bio_open_mem(void *data, size_t len, const char *name, struct tf_bio **out)
{
	*out = bio_new(&mem_ops, name, len, data);
	return *out ? 0 : tf_fail(ENOMEM, "%s: out of memory", name);
}

/* ---- fault injection ---- */

struct faulty_priv {
	struct tf_bio *inner;
	struct tf_bio_fault f;
};

static bool faulty_hits(const struct faulty_priv *fp, size_t len, uint64_t off)
{
	return off < fp->f.off + fp->f.len && fp->f.off < off + len;
}

static int faulty_pread(struct tf_bio *b, void *buf, size_t len, uint64_t off)
{
	struct faulty_priv *fp = b->priv;

	if (fp->f.read_err && faulty_hits(fp, len, off))
		return tf_fail(fp->f.read_err, "%s: injected read error at offset %llu: %s",
			       b->name, (unsigned long long)off, strerror(fp->f.read_err));
	return tf_bio_pread(fp->inner, buf, len, off);
}

static int faulty_pwrite(struct tf_bio *b, const void *buf, size_t len, uint64_t off)
{
	struct faulty_priv *fp = b->priv;

	if (fp->f.write_err && faulty_hits(fp, len, off))
		return tf_fail(fp->f.write_err, "%s: injected write error at offset %llu: %s",
			       b->name, (unsigned long long)off, strerror(fp->f.write_err));
	return tf_bio_pwrite(fp->inner, buf, len, off);
}

static void faulty_close(struct tf_bio *b)
{
	free(b->priv);
	free(b);
}

static const struct tf_bio_ops faulty_ops = {
    .pread = faulty_pread,
    .pwrite = faulty_pwrite,
    .close = faulty_close,
};

int tf_bio_open_fault(struct tf_bio *inner, const struct tf_bio_fault *f, struct tf_bio **out)
{
	struct faulty_priv *fp = calloc(1, sizeof(*fp));

	if (!fp)
		return tf_fail(ENOMEM, "%s: out of memory", inner->name);
	fp->inner = inner;
	fp->f = *f;
	*out = bio_new(&faulty_ops, inner->name, inner->size, fp);
	if (!*out) {
		free(fp);
		return tf_fail(ENOMEM, "%s: out of memory", inner->name);
	}
	return 0;
}

int tf_bio_open_faulty(struct tf_bio *inner, uint64_t fail_off, uint64_t fail_len,
		       struct tf_bio **out)
{
	struct tf_bio_fault f = {.off = fail_off, .len = fail_len, .read_err = EIO};

	return tf_bio_open_fault(inner, &f, out);
}
