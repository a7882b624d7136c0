/* statfs.c — what df and statfs(2) show of a mount: the pool's data space
 * (size and chunks allocated, as the index last read them from the pool's
 * space map), so `df` of a mount reads like `lvs`'s Data% of the pool. */
#include "fs.h"

#include "index/index.h"

#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#define FRAGMENT 4096u /* f_frsize: every chunk size is a multiple of it */

static int do_statfs(struct tf_fs *fs, struct statvfs *sv)
{
	struct tf_ix_pool ip;
	struct tf_voltab *t;
	uint64_t chunk;
	int rc;

	pthread_mutex_lock(&fs->ix_lock);
	rc = tf_index_pool(fs->ix, &ip);
	pthread_mutex_unlock(&fs->ix_lock);
	if (rc < 0)
		return rc;
	chunk = (uint64_t)ip.chunk_sectors * 512;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = chunk ? (unsigned long)chunk : FRAGMENT; /* the pool's unit of allocation */
	sv->f_frsize = FRAGMENT;
	sv->f_blocks = (fsblkcnt_t)(ip.data_nr_blocks * chunk / FRAGMENT);
	sv->f_bfree =
	    ip.data_nr_allocated < ip.data_nr_blocks
		? (fsblkcnt_t)((ip.data_nr_blocks - ip.data_nr_allocated) * chunk / FRAGMENT)
		: 0;
	sv->f_bavail = sv->f_bfree;
	t = tf_voltab_get(fs);
	sv->f_files = t ? (fsfilcnt_t)t->n : 0; /* one file per thin volume */
	tf_voltab_put(t);
	sv->f_namemax = 255;
	return 0;
}

void tf_fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct tf_fs *fs = fuse_req_userdata(req);
	struct statvfs sv;
	int rc;

	(void)ino;
	atomic_fetch_add(&fs->requests, 1);
	rc = do_statfs(fs, &sv);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_statfs(req, &sv);
}
