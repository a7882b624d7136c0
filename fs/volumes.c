/* volumes.c — the volumes/ subtree: one read-only sparse image per thin LV.
 *
 * st_size is the LV size and st_blocks the mapped bytes, so cp, tar and
 * qemu-img look for holes; SEEK_DATA/SEEK_HOLE answer from the chunk map and
 * reads of holes touch no device.
 */
#include "fs.h"
#include "ino.h"

#include "core/base/err.h"
#include "core/pool/pool.h"
#include "core/vol/volume.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void vol_attr(struct tf_fs *fs, const struct tf_vol *v, struct stat *st)
{
	tf_fs_file_attr(fs, tf_ino_make(TF_IC_VOLUME, v->thin_id), v->size_bytes,
			v->mapped_chunks * v->chunk_bytes / 512, v->ctime, st);
}

static int volumes_lookup(struct tf_fs *fs, fuse_ino_t parent, const char *name,
			  struct fuse_entry_param *e)
{
	struct tf_voltab *t = tf_voltab_get(fs);
	struct tf_vol *v = t && parent == TF_INO_VOLUMES ? tf_voltab_by_name(t, name) : NULL;

	if (v) {
		e->ino = tf_ino_make(TF_IC_VOLUME, v->thin_id);
		vol_attr(fs, v, &e->attr);
	}
	tf_voltab_put(t);
	return v ? 0 : -ENOENT;
}

static int volumes_getattr(struct tf_fs *fs, fuse_ino_t ino, struct stat *st)
{
	struct tf_voltab *t;
	struct tf_vol *v;

	if (ino == TF_INO_VOLUMES) {
		tf_fs_dir_attr(fs, ino, st);
		return 0;
	}
	t = tf_voltab_get(fs);
	v = t ? tf_voltab_by_id(t, tf_ino_thin(ino)) : NULL;

	if (v)
		vol_attr(fs, v, st);
	tf_voltab_put(t);
	return v ? 0 : -ENOENT;
}

static int volumes_opendir(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h)
{
	(void)fs;
	(void)h;
	return ino == TF_INO_VOLUMES ? 0 : -ENOTDIR;
}

static int volumes_readdir(struct tf_fs *fs, fuse_ino_t ino, struct tf_dirh *h,
			   struct tf_dirbuf *db)
{
	struct tf_voltab *tab = h->tab;

	(void)fs;
	tf_dirbuf_dots(db, ino, TF_INO_ROOT);
	for (size_t i = 0; tab && i < tab->n; i++)
		if (!tf_dirbuf_add(db, tab->by_name[i]->name,
				   tf_ino_make(TF_IC_VOLUME, tab->by_name[i]->thin_id), S_IFREG))
			break;
	return 0;
}

static int volumes_open(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tf_voltab *t;
	struct tf_volume *vol;
	struct tf_vol *v;
	int rc;

	if (ino == TF_INO_VOLUMES)
		return -EISDIR;
	t = tf_voltab_get(fs);
	v = t ? tf_voltab_by_id(t, tf_ino_thin(ino)) : NULL;

	if (!v) {
		tf_voltab_put(t);
		return -ENOENT;
	}
	tf_vol_get(v);
	tf_voltab_put(t);
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		rc = tf_fail(EROFS,
			     "volumes/%s: volumes are read-only (write a delta stream into "
			     "receive/ instead)",
			     v->name);
		tf_vol_put(v); /* after the message: it may be the last reference */
		return rc;
	}
	rc = tf_vol_volume(fs, v, &vol);
	if (rc < 0) {
		tf_vol_put(v);
		return rc;
	}
	fi->fh = (uint64_t)(uintptr_t)v;
	/* An image never changes under us, and neither does a snapshot, so
	 * the kernel may keep what it read across opens; a refresh drops the
	 * pages of a thin id that became another device (voltab.c).  A live
	 * volume that is not a snapshot may change (an active origin is a live
	 * view): its pages go at every open. */
	fi->keep_cache = tf_pool_kind(fs->pool) == TF_POOL_IMAGE || v->origin != NULL;
	return 0;
}

static ssize_t volumes_read(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, char *buf,
			    size_t size, off_t off)
{
	struct tf_vol *v = (struct tf_vol *)(uintptr_t)fi->fh;

	(void)fs;
	(void)ino;
	return tf_volume_read(atomic_load(&v->volume), buf, size, (uint64_t)off);
}

/* The mapped ranges go to the kernel from the data image (image pools) or
 * the thin device (live pools) by splice; holes are zeros with no I/O. */
static ssize_t volumes_read_bufs(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi,
				 size_t size, off_t off, struct fuse_buf *bufs, size_t max,
				 size_t *n)
{
	struct tf_vol *v = (struct tf_vol *)(uintptr_t)fi->fh;
	struct tf_volume *vol = atomic_load(&v->volume);
	struct tf_volume_seg segs[max];
	uint64_t o = (uint64_t)off;
	size_t want =
	    o >= v->size_bytes ? 0 : (size_t)(v->size_bytes - o < size ? v->size_bytes - o : size);
	ssize_t got;

	(void)fs;
	(void)ino;
	if (size > TF_FS_ZEROS_BYTES)
		return -ENOTSUP;
	got = tf_volume_map(vol, o, size, segs, max, n);
	if (got < 0)
		return got;
	if ((size_t)got < want)
		return -ENOTSUP; /* more pieces than buffers: copy instead */
	for (size_t i = 0; i < *n; i++) {
		bufs[i] = (struct fuse_buf){.size = (size_t)segs[i].len};
		if (segs[i].fd < 0) {
			bufs[i].mem = (void *)tf_fs_zeros;
		} else {
			bufs[i].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
			bufs[i].fd = segs[i].fd;
			bufs[i].pos = (off_t)segs[i].fd_off;
		}
	}
	return got;
}

static int volumes_lseek(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, off_t off,
			 int whence, off_t *res)
{
	struct tf_vol *v = (struct tf_vol *)(uintptr_t)fi->fh;
	uint64_t r;
	int rc;

	(void)fs;
	(void)ino;
	if (off < 0)
		return -EINVAL;
	rc = tf_volume_seek(atomic_load(&v->volume), (uint64_t)off, whence, &r);
	if (rc == 0)
		*res = (off_t)r;
	return rc;
}

static void volumes_release(struct tf_fs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fs;
	(void)ino;
	tf_vol_put((struct tf_vol *)(uintptr_t)fi->fh);
}

const struct tf_subtree tf_volumes_subtree = {
    .name = "volumes",
    .getattr = volumes_getattr,
    .lookup = volumes_lookup,
    .opendir = volumes_opendir,
    .readdir = volumes_readdir,
    .open = volumes_open,
    .read = volumes_read,
    .read_bufs = volumes_read_bufs,
    .lseek = volumes_lseek,
    .release = volumes_release,
};
