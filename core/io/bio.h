/* bio.h — block I/O: the one way core/ reads and writes bytes.
 *
 * A struct tf_bio is a small function table plus state, so backends stack
 * (e2fsprogs io managers, thin-provisioning-tools io engines): a file or
 * block device (O_DIRECT where the kernel writes behind the page cache), an
 * in-memory buffer for tests, and a fault-injecting wrapper that can fail any
 * read.  Reads are positional and thread-safe; a read that cannot be
 * satisfied in full is an error naming the backend and the range.
 */
#ifndef THINFS_BIO_H
#define THINFS_BIO_H

#include <stddef.h>
#include <stdint.h>

struct tf_bio;

struct tf_bio_ops {
	/* Reads exactly len bytes at off, or returns -errno. */
	int (*pread)(struct tf_bio *b, void *buf, size_t len, uint64_t off);
	/* Writes exactly len bytes at off, or returns -errno (NULL: read-only). */
	int (*pwrite)(struct tf_bio *b, const void *buf, size_t len, uint64_t off);
	void (*close)(struct tf_bio *b);
};

struct tf_bio {
	const struct tf_bio_ops *ops;
	char name[256]; /* for messages: a path or a label */
	uint64_t size;	/* bytes */
	void *priv;
};

enum {
	TF_BIO_DIRECT = 1 << 0, /* O_DIRECT: bypass the page cache (live metadata) */
	TF_BIO_WRITE = 1 << 1,	/* open read-write */
};

int tf_bio_open_file(const char *path, int flags, struct tf_bio **out);
/* The buffer is borrowed, not copied; it must outlive the bio. */
int tf_bio_open_mem(void *data, size_t len, const char *name, struct tf_bio **out);

/* Faults to inject: reads and writes overlapping [off, off + len) fail
 * with -read_err / -write_err (0: they pass), with a message saying the
 * fault was injected. */
struct tf_bio_fault {
	uint64_t off, len;
	int read_err;
	int write_err;
};
/* A wrapper that injects f into I/O through it and passes everything else
 * to inner (which it does not own); writes pass only if inner takes them. */
int tf_bio_open_fault(struct tf_bio *inner, const struct tf_bio_fault *f, struct tf_bio **out);
/* The same with reads of [fail_off, fail_off + fail_len) failing with EIO. */
int tf_bio_open_faulty(struct tf_bio *inner, uint64_t fail_off, uint64_t fail_len,
		       struct tf_bio **out);

int tf_bio_pread(struct tf_bio *b, void *buf, size_t len, uint64_t off);
/* The descriptor behind a file or device backend opened without
 * TF_BIO_DIRECT, for zero-copy reads (splice); -1 for every other backend,
 * wrappers included, so a wrapper's faults are never bypassed. */
int tf_bio_fd(const struct tf_bio *b);
int tf_bio_pwrite(struct tf_bio *b, const void *buf, size_t len, uint64_t off);
void tf_bio_close(struct tf_bio *b);

#endif
