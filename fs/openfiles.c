/* openfiles.c — which files are open, so that unmount can release them.
 *
 * A lazy unmount with files still open, followed by SIGTERM, ends the FUSE
 * loop before the kernel sends their RELEASE: each open file's handle (a
 * volume reference, an ext view, a planned stream, a receive session) would
 * outlive the mount and leak.  Every successful open is recorded here, keyed
 * by (inode, handle) in a small hash, and forgotten at release; unmount
 * releases whatever is left, through the same release as the kernel's.
 */
#include "fs.h"

#include "core/base/err.h"

#include <errno.h>
#include <stdlib.h>

#define BUCKETS 256

struct open_file {
	fuse_ino_t ino;
	struct fuse_file_info fi;
	struct open_file *next;
};

struct tf_openfiles {
	pthread_mutex_t lock;
	struct open_file *b[BUCKETS];
};

static size_t bucket(fuse_ino_t ino, uint64_t fh)
{
	uint64_t h = (ino * 0x9e3779b97f4a7c15ull) ^ (fh * 0xff51afd7ed558ccdull);

	return (size_t)(h >> 56) % BUCKETS;
}

int tf_openfiles_new(struct tf_openfiles **out)
{
	if (!(*out = calloc(1, sizeof(**out))))
		return tf_fail(ENOMEM, "open files: out of memory");
	pthread_mutex_init(&(*out)->lock, NULL);
	return 0;
}

int tf_openfiles_add(struct tf_openfiles *o, fuse_ino_t ino, const struct fuse_file_info *fi)
{
	struct open_file *f = malloc(sizeof(*f));
	size_t b = bucket(ino, fi->fh);

	if (!f)
		return tf_fail(ENOMEM, "open files: out of memory");
	f->ino = ino;
	f->fi = *fi;
	pthread_mutex_lock(&o->lock);
	f->next = o->b[b];
	o->b[b] = f;
	pthread_mutex_unlock(&o->lock);
	return 0;
}

void tf_openfiles_forget(struct tf_openfiles *o, fuse_ino_t ino, const struct fuse_file_info *fi)
{
	size_t b = bucket(ino, fi->fh);
	struct open_file *f = NULL;

	pthread_mutex_lock(&o->lock);
	for (struct open_file **p = &o->b[b]; *p; p = &(*p)->next) {
		if ((*p)->ino == ino && (*p)->fi.fh == fi->fh) {
			f = *p;
			*p = f->next;
			break;
		}
	}
	pthread_mutex_unlock(&o->lock);
	free(f);
}

void tf_openfiles_free(struct tf_openfiles *o, struct tf_fs *fs,
		       void (*release)(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi))
{
	if (!o)
		return;
	for (size_t b = 0; b < BUCKETS; b++) {
		while (o->b[b]) {
			struct open_file *f = o->b[b];
			o->b[b] = f->next;
			release(fs, f->ino, &f->fi);
			free(f);
		}
	}
	pthread_mutex_destroy(&o->lock);
	free(o);
}
