/* pool_image.c — a pool-image directory as a source: DIR/metadata (a copy
 * of the pool's metadata device), DIR/data (its data device) and optional
 * DIR/lvm.cfg (the VG's text metadata).
 *
 * Images do not change under thinfs, so one metadata view is opened and
 * validated at open time (a corrupt pool fails before anything mounts) and
 * serves every walk.
 *
 * Identity: "lvm:<VG uuid>/<pool LV uuid>" when lvm.cfg names the pool;
 * otherwise "img:" and 16 hex digits of a 64-bit FNV-1a over the
 * superblock's fixed facts — data block size, data and metadata block
 * counts — and each device's id and creation time, which stay the same
 * across copies of one pool and its later states (the superblock uuid is
 * always zero, so it cannot serve).
 *
 * The source key (pool.h) tells look-alike directories apart: the
 * directory's canonical path and st_dev:st_ino, and the metadata and data
 * files' st_dev:st_ino.  Anything but a regular file or a block device
 * under the three names is refused without blocking (a FIFO could hang).
 */
#include "core/base/err.h"
#include "core/io/bio.h"
#include "core/lvm/lvm_text.h"
#include "core/pool/pool_internal.h"
#include "core/thin/thin_meta.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct image {
	struct tf_bio *meta;
	struct tf_bio *data; /* NULL if the directory has no data image */
	struct tf_thin_meta *view;
	char data_path[4096];
};

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static int image_fingerprint(struct tf_pool *p, struct tf_thin_meta *view)
{
	const struct tf_thin_info *in = tf_thin_info(view);
	uint64_t h = 0xcbf29ce484222325ull;
	struct tf_thin_dev *devs;
	size_t n;
	int rc;

	if ((rc = tf_thin_devices(view, &devs, &n)) < 0)
		return rc;
	h = fnv1a(h, &in->data_block_size, sizeof(in->data_block_size));
	h = fnv1a(h, &in->data_nr_blocks, sizeof(in->data_nr_blocks));
	h = fnv1a(h, &in->metadata_nr_blocks, sizeof(in->metadata_nr_blocks));
	for (size_t i = 0; i < n; i++) {
		h = fnv1a(h, &devs[i].dev_id, sizeof(devs[i].dev_id));
		h = fnv1a(h, &devs[i].creation_time, sizeof(devs[i].creation_time));
	}
	free(devs);
	snprintf(p->identity, sizeof(p->identity), "img:%016" PRIx64, h);
	return 0;
}

/* The pool in lvm.cfg whose facts match the metadata: the only one, or the
 * one with this chunk size and transaction id. */
static const struct tf_lvm_pool *match_pool(const struct tf_lvm_vg *vg,
					    const struct tf_thin_info *in)
{
	const struct tf_lvm_pool *found = NULL;

	if (vg->npools == 1)
		return &vg->pools[0];
	for (size_t i = 0; i < vg->npools; i++) {
		if (vg->pools[i].chunk_sectors == in->data_block_size &&
		    vg->pools[i].transaction_id == in->transaction_id) {
			if (found)
				return NULL; /* ambiguous */
			found = &vg->pools[i];
		}
	}
	return found;
}

static int image_meta_begin(struct tf_pool *p, struct tf_thin_meta **view)
{
	*view = ((struct image *)p->priv)->view;
	return 0;
}

static void image_meta_end(struct tf_pool *p, struct tf_thin_meta *view)
{
	(void)p;
	(void)view;
}

static int image_transaction_id(struct tf_pool *p, uint64_t *tid)
{
	*tid = tf_thin_info(((struct image *)p->priv)->view)->transaction_id;
	return 0;
}

static int image_read(struct tf_pool *p, uint32_t thin_id, void *buf, size_t len, uint64_t voff,
		      uint64_t poff)
{
	struct image *im = p->priv;
	int rc;

	if (!im->data)
		return tf_fail(EIO, "thin device %" PRIu32 " offset %" PRIu64 ": %s: no data image",
			       thin_id, voff, im->data_path);
	if (poff > im->data->size || len > im->data->size - poff)
		return tf_fail(EIO,
			       "thin device %" PRIu32 " offset %" PRIu64
			       ": maps to data offset %" PRIu64 ", past the end of %s (%" PRIu64
			       " bytes)",
			       thin_id, voff, poff, im->data_path, im->data->size);
	rc = tf_bio_pread(im->data, buf, len, poff);
	return rc < 0
		   ? tf_fail_ctx(rc, "thin device %" PRIu32 " offset %" PRIu64 ": ", thin_id, voff)
		   : 0;
}

static int image_data_fd(struct tf_pool *p, uint32_t thin_id, size_t len, uint64_t voff,
			 uint64_t poff, int *fd, uint64_t *fd_off)
{
	struct image *im = p->priv;
	struct stat st;
	int f;

	if (!im->data || (f = tf_bio_fd(im->data)) < 0)
		return -ENOTSUP; /* image_read says why, or reads through the wrapper */
	/* The size now, not at open: a short splice would reach the reader as
	 * an end of file, not as an error. */
	if (fstat(f, &st) < 0)
		return tf_fail(errno, "%s: cannot stat: %s", im->data_path, strerror(errno));
	if (poff > (uint64_t)st.st_size || len > (uint64_t)st.st_size - poff)
		return tf_fail(EIO,
			       "thin device %" PRIu32 " offset %" PRIu64
			       ": maps to data offset %" PRIu64 ", past the end of %s (%" PRIu64
			       " bytes now)",
			       thin_id, voff, poff, im->data_path, (uint64_t)st.st_size);
	*fd = f;
	*fd_off = poff;
	return 0;
}

static void image_close(struct tf_pool *p)
{
	struct image *im = p->priv;

	if (!im)
		return;
	if (im->view)
		tf_thin_close(im->view);
	tf_bio_close(im->meta);
	tf_bio_close(im->data);
	free(im);
}

static const struct tf_pool_backend image_backend = {
    .meta_begin = image_meta_begin,
    .meta_end = image_meta_end,
    .transaction_id = image_transaction_id,
    .read = image_read,
    .data_fd = image_data_fd,
    .close = image_close,
};

static int image_names(struct tf_pool *p, const char *dir, struct image *im)
{
	const struct tf_thin_info *in = tf_thin_info(im->view);
	const struct tf_lvm_pool *pool;
	struct tf_lvm_vg *vg = NULL;
	char path[4096];
	int rc;

	snprintf(path, sizeof(path), "%s/lvm.cfg", dir);
	if (access(path, F_OK) != 0) {
		if ((rc = image_fingerprint(p, im->view)) < 0)
			return rc;
		return tf_pool_set_lvs(p, NULL, NULL, im->view);
	}
	if ((rc = tf_lvm_parse_file(path, &vg)) < 0)
		return rc;
	pool = match_pool(vg, in);
	if (!pool) {
		rc = tf_fail(EINVAL,
			     "%s: no thin pool (or more than one) matches the metadata's "
			     "chunk size %u and transaction id %" PRIu64,
			     path, in->data_block_size, in->transaction_id);
	} else if (pool->chunk_sectors && pool->chunk_sectors != in->data_block_size) {
		rc = tf_fail(EINVAL,
			     "%s: pool %s has chunk size %u sectors but the metadata says %u", path,
			     pool->name, pool->chunk_sectors, in->data_block_size);
	} else {
		snprintf(p->identity, sizeof(p->identity), "lvm:%s/%s", vg->id,
			 pool->id ? pool->id : pool->name);
		rc = tf_pool_set_lvs(p, vg, pool->name, im->view);
	}
	tf_lvm_free(vg);
	return rc;
}

/* Refuses what is not a regular file or block device (lstat would refuse
 * symlinks, which images made by hand legitimately use; stat does not
 * open, so a FIFO cannot block here).  -ENOENT if absent. */
static int check_file(const char *path, struct stat *st)
{
	if (stat(path, st) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
		return tf_fail(EINVAL, "%s: not a regular file or block device", path);
	return 0;
}

static int source_key(struct tf_pool *p, const char *dir, struct image *im)
{
	struct stat d, m, b = {0};
	char *real = realpath(dir, NULL), path[4200];
	int rc = 0;

	if (!real)
		return tf_fail(errno, "%s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/metadata", dir);
	if (stat(dir, &d) < 0 || stat(path, &m) < 0)
		rc = tf_fail(errno, "%s: %s", dir, strerror(errno));
	else if (im->data && stat(im->data_path, &b) < 0)
		rc = tf_fail(errno, "%s: %s", im->data_path, strerror(errno));
	else
		snprintf(p->source_key, sizeof(p->source_key), "img:%s@%ju:%ju/m%ju:%ju/d%ju:%ju",
			 real, (uintmax_t)d.st_dev, (uintmax_t)d.st_ino, (uintmax_t)m.st_dev,
			 (uintmax_t)m.st_ino, (uintmax_t)b.st_dev, (uintmax_t)b.st_ino);
	p->data_bytes = im->data ? im->data->size : 0;
	free(real);
	return rc;
}

int tf_pool_open_image(struct tf_pool *p, const char *dir, const struct tf_pool_opts *opts)
{
	struct stat st;
	struct image *im = calloc(1, sizeof(*im));
	char path[4096];
	int rc;

	(void)opts;
	if (!im)
		return tf_fail(ENOMEM, "%s: out of memory", dir);
	p->kind = TF_POOL_IMAGE;
	p->be = &image_backend;
	p->priv = im;
	snprintf(path, sizeof(path), "%s/metadata", dir);
	if ((rc = check_file(path, &st)) < 0) {
		if (rc == -ENOENT)
			rc = tf_fail(ENOENT, "%s: no metadata file: not a pool-image directory",
				     dir);
		goto fail;
	}
	if ((rc = tf_bio_open_file(path, 0, &im->meta)) < 0)
		goto fail;
	if ((rc = tf_thin_open(im->meta, 0, &im->view)) < 0)
		goto fail;
	p->chunk_sectors = tf_thin_info(im->view)->data_block_size;
	snprintf(im->data_path, sizeof(im->data_path), "%s/data", dir);
	if ((rc = check_file(im->data_path, &st)) < 0 && rc != -ENOENT)
		goto fail;
	if (rc == 0 && (rc = tf_bio_open_file(im->data_path, 0, &im->data)) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/lvm.cfg", dir);
	if ((rc = check_file(path, &st)) < 0 && rc != -ENOENT)
		goto fail;
	if ((rc = image_names(p, dir, im)) < 0 || (rc = source_key(p, dir, im)) < 0)
		goto fail;
	return 0;
fail:
	image_close(p);
	p->priv = NULL;
	p->be = NULL;
	return rc;
}
