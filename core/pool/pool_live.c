/* pool_live.c — a live pool "VG/POOL" as a source.
 *
 * Names, sizes and origins come from LVM (vgcfgbackup's text metadata, run
 * without a shell).  Mappings come from a metadata snapshot: thinfs sends
 * reserve_metadata_snap only while it walks, reads the held superblock copy
 * with O_DIRECT (the kernel writes the metadata device behind the page
 * cache), and releases it afterwards — never a snapshot it did not reserve.
 *
 * Data is read through the kernel's own thin devices, so a chunk freed and
 * reused since the index was built can never be served (DESIGN.md rule 2):
 * an active LV through its own device; an inactive one through a private
 * read-only thin target "thinfs-<pid>-<thin id>" created on first read and
 * removed at close.  While that target is open the kernel refuses to delete
 * the thin device, so a snapshot being read cannot vanish under the reader.
 */
#include "core/base/err.h"
#include "core/base/run.h"
#include "core/base/vec.h"
#include "core/io/bio.h"
#include "core/lvm/dm.h"
#include "core/lvm/lvm_text.h"
#include "core/pool/pool_internal.h"
#include "core/thin/thin_meta.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct live_dev {
	uint32_t thin_id;
	int fd;
	bool private_target;
	char dm_name[128];
};

struct live {
	char vg[128], pool[128];
	char pool_dm[300]; /* the thin-pool target */
	char tmeta_path[320];
	struct tf_pool_opts opts;
	struct tf_bio *meta;
	/* Metadata views open at once share one held snapshot: the first
	 * reserves it (or finds another holder's), the last releases it. */
	pthread_mutex_t meta_lock; /* the three fields below; held for dm messages, never a walk */
	unsigned views;
	uint64_t held_root;
	bool reserved; /* we hold the metadata snapshot */
	pthread_mutex_t lock;
	struct live_dev *devs;
	size_t ndevs, devs_cap;
};

/* Runs vgcfgbackup into a private temp file and parses it.  LVM's own
 * complaints are caught, and the first one goes into our one message. */
static int read_vg(const char *vg, struct tf_lvm_vg **out)
{
	char path[] = "/tmp/thinfs-vg-XXXXXX", said[512];
	const char *argv[] = {"vgcfgbackup", "-q", "-f", path, vg, NULL};
	int fd = mkstemp(path), rc;
	struct tf_run_result r;

	if (fd < 0)
		return tf_fail(errno, "%s: cannot create a temp file: %s", vg, strerror(errno));
	close(fd);
	if ((rc = tf_run_with(argv, &(struct tf_run_opts){0}, &r)) < 0) {
		unlink(path);
		if (rc == -ENOENT)
			return tf_fail(ENOENT, "%s: cannot run vgcfgbackup: is LVM installed?", vg);
		return rc;
	}
	if (r.status != 0) {
		tf_run_first_line(r.err, said, sizeof(said));
		tf_run_free(&r);
		unlink(path);
		return tf_fail(ENOENT, "%s: no such volume group (vgcfgbackup: %s)", vg,
			       *said ? said : "failed");
	}
	tf_run_free(&r);
	rc = tf_lvm_parse_file(path, out);
	unlink(path);
	return rc;
}

static int live_refresh_lvs(struct tf_pool *p)
{
	struct live *lv = p->priv;
	struct tf_lvm_vg *vg;
	int rc;

	if ((rc = read_vg(lv->vg, &vg)) < 0)
		return rc;
	/* Readers look LVs up under the same lock (live_dev_fd). */
	pthread_mutex_lock(&lv->lock);
	rc = tf_pool_set_lvs(p, vg, lv->pool, NULL);
	pthread_mutex_unlock(&lv->lock);
	tf_lvm_free(vg);
	return rc;
}

/* Holds the metadata snapshot for one more view; *root is its superblock.
 * Called with meta_lock held. */
static int hold_snapshot(struct live *lv, uint64_t *root)
{
	struct tf_dm_pool_status st;
	int rc;

	if (lv->views) {
		lv->views++;
		*root = lv->held_root;
		return 0;
	}
	if ((rc = tf_dm_pool_status(lv->pool_dm, &st)) < 0)
		return rc;
	if (st.held && !lv->opts.reuse_held_snapshot)
		return tf_fail(EBUSY,
			       "%s/%s: a metadata snapshot is already held (block %" PRIu64
			       ") by another program; thinfs will not release it. Release it "
			       "(dmsetup message %s 0 release_metadata_snap) when that program is "
			       "done, or let thinfs read through it",
			       lv->vg, lv->pool, st.held_root, lv->pool_dm);
	if (!st.held) {
		if ((rc = tf_dm_message(lv->pool_dm, "reserve_metadata_snap")) < 0)
			return rc;
		lv->reserved = true;
		if ((rc = tf_dm_pool_status(lv->pool_dm, &st)) < 0 || !st.held) {
			tf_dm_message(lv->pool_dm, "release_metadata_snap");
			lv->reserved = false;
			return rc < 0 ? rc
				      : tf_fail(EIO,
						"%s: reserved a metadata snapshot but the "
						"status shows none",
						lv->pool_dm);
		}
	}
	lv->views = 1;
	lv->held_root = *root = st.held_root;
	return 0;
}

static void drop_snapshot(struct live *lv)
{
	pthread_mutex_lock(&lv->meta_lock);
	if (--lv->views == 0 && lv->reserved) {
		tf_dm_message(lv->pool_dm, "release_metadata_snap");
		lv->reserved = false;
	}
	pthread_mutex_unlock(&lv->meta_lock);
}

/* Views may be opened from several threads at once (a refresh and a delta
 * plan): they share the held snapshot, and the walks run unlocked. */
static int live_meta_begin(struct tf_pool *p, struct tf_thin_meta **view)
{
	struct live *lv = p->priv;
	uint64_t root = 0;
	int rc;

	pthread_mutex_lock(&lv->meta_lock);
	rc = hold_snapshot(lv, &root);
	pthread_mutex_unlock(&lv->meta_lock);
	if (rc < 0)
		return rc;
	if ((rc = tf_thin_open(lv->meta, root, view)) < 0)
		drop_snapshot(lv);
	return rc;
}

static void live_meta_end(struct tf_pool *p, struct tf_thin_meta *view)
{
	tf_thin_close(view);
	drop_snapshot(p->priv);
}

static int live_transaction_id(struct tf_pool *p, uint64_t *tid)
{
	struct tf_dm_pool_status st;
	int rc = tf_dm_pool_status(((struct live *)p->priv)->pool_dm, &st);

	if (rc == 0)
		*tid = st.transaction_id;
	return rc;
}

static const struct tf_lv *lv_by_thin(struct tf_pool *p, uint32_t thin_id)
{
	for (size_t i = 0; i < p->nlvs; i++)
		if (p->lvs[i].thin_id == thin_id)
			return &p->lvs[i];
	return NULL;
}

static int open_dm(const char *name, int *fd)
{
	uint32_t major, minor;
	bool exists;
	char path[64];
	int rc;

	if ((rc = tf_dm_info(name, &exists, &major, &minor)) < 0)
		return rc;
	if (!exists)
		return -ENOENT;
	snprintf(path, sizeof(path), "/dev/dm-%" PRIu32, minor);
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		char mapper[300];
		snprintf(mapper, sizeof(mapper), "/dev/mapper/%s", name);
		*fd = open(mapper, O_RDONLY | O_CLOEXEC);
	}
	return *fd < 0 ? tf_fail(errno, "%s: cannot open: %s", name, strerror(errno)) : 0;
}

/* The open device of a thin id: the LV's own if active, else a private
 * read-only thin target.  Called with lv->lock held. */
static int live_dev_fd(struct tf_pool *p, uint32_t thin_id, int *fd)
{
	struct live *lv = p->priv;
	const struct tf_lv *l;
	struct live_dev d = {.thin_id = thin_id, .fd = -1};
	struct live_dev *nd;
	char params[400];
	int rc;

	for (size_t i = 0; i < lv->ndevs; i++) {
		if (lv->devs[i].thin_id == thin_id) {
			*fd = lv->devs[i].fd;
			return 0;
		}
	}
	l = lv_by_thin(p, thin_id);
	if (!l)
		return tf_fail(ENOENT, "%s/%s: thin device %" PRIu32 " has no LV (removed?)",
			       lv->vg, lv->pool, thin_id);
	if ((rc = tf_dm_lvm_name(lv->vg, l->name, "", d.dm_name, sizeof(d.dm_name))) < 0)
		return rc;
	rc = open_dm(d.dm_name, &d.fd);
	if (rc == -ENOENT) {
		snprintf(d.dm_name, sizeof(d.dm_name), "thinfs-%ld-%" PRIu32, (long)getpid(),
			 thin_id);
		snprintf(params, sizeof(params), "/dev/mapper/%s %" PRIu32, lv->pool_dm, thin_id);
		if ((rc = tf_dm_create_ro(d.dm_name, l->size_bytes / 512, "thin", params)) < 0)
			return rc;
		d.private_target = true;
		if ((rc = open_dm(d.dm_name, &d.fd)) < 0) {
			tf_dm_remove(d.dm_name);
			return rc < 0 ? rc : tf_fail(EIO, "%s: vanished after creation", d.dm_name);
		}
	} else if (rc < 0) {
		return rc;
	}
	nd = TF_VEC_PUSH(lv->devs, lv->ndevs, lv->devs_cap);
	if (!nd) {
		close(d.fd);
		if (d.private_target)
			tf_dm_remove(d.dm_name);
		return tf_fail(ENOMEM, "%s: out of memory", d.dm_name);
	}
	*nd = d;
	*fd = d.fd;
	return 0;
}

static int live_read(struct tf_pool *p, uint32_t thin_id, void *buf, size_t len, uint64_t voff,
		     uint64_t poff)
{
	struct live *lv = p->priv;
	size_t done = 0;
	int fd, rc;

	(void)poff;
	pthread_mutex_lock(&lv->lock);
	rc = live_dev_fd(p, thin_id, &fd);
	pthread_mutex_unlock(&lv->lock);
	if (rc < 0)
		return rc;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(voff + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return tf_fail(
			    n < 0 ? errno : EIO,
			    "thin device %" PRIu32 " offset %" PRIu64 ": read failed: %s", thin_id,
			    voff + done, n < 0 ? strerror(errno) : "end of device");
		done += (size_t)n;
	}
	return 0;
}

static int live_data_fd(struct tf_pool *p, uint32_t thin_id, size_t len, uint64_t voff,
			uint64_t poff, int *fd, uint64_t *fd_off)
{
	struct live *lv = p->priv;
	int rc;

	(void)len;
	(void)poff;
	pthread_mutex_lock(&lv->lock);
	rc = live_dev_fd(p, thin_id, fd);
	pthread_mutex_unlock(&lv->lock);
	*fd_off = voff;
	return rc;
}

static void live_close(struct tf_pool *p)
{
	struct live *lv = p->priv;

	if (!lv)
		return;
	for (size_t i = 0; i < lv->ndevs; i++) {
		close(lv->devs[i].fd);
		if (lv->devs[i].private_target)
			tf_dm_remove(lv->devs[i].dm_name);
	}
	free(lv->devs);
	if (lv->reserved)
		tf_dm_message(lv->pool_dm, "release_metadata_snap");
	tf_bio_close(lv->meta);
	pthread_mutex_destroy(&lv->meta_lock);
	pthread_mutex_destroy(&lv->lock);
	free(lv);
}

static const struct tf_pool_backend live_backend = {
    .meta_begin = live_meta_begin,
    .meta_end = live_meta_end,
    .transaction_id = live_transaction_id,
    .read = live_read,
    .data_fd = live_data_fd,
    .refresh_lvs = live_refresh_lvs,
    .close = live_close,
};

/* The dm name of the pool's thin-pool target: LVM names it VG-POOL-tpool
 * while thin volumes are active, and VG-POOL when the pool alone is. */
static int find_pool_dm(struct live *lv)
{
	static const char *const suffixes[] = {"-tpool", ""};
	struct tf_dm_pool_status st;
	int rc = -ENOENT;

	for (size_t i = 0; i < 2; i++) {
		if ((rc = tf_dm_lvm_name(lv->vg, lv->pool, suffixes[i], lv->pool_dm,
					 sizeof(lv->pool_dm))) < 0)
			return rc;
		if ((rc = tf_dm_pool_status(lv->pool_dm, &st)) == 0)
			return 0;
	}
	return tf_fail(ENODEV,
		       "%s/%s: no active thin-pool device (activate the pool: "
		       "lvchange -ay %s/%s)",
		       lv->vg, lv->pool, lv->vg, lv->pool);
}

void tf_pool_live_source_key(char *buf, size_t len, const char *vg_id, const char *pool_id,
			     unsigned meta_major, unsigned meta_minor)
{
	snprintf(buf, len, "live:%s/%s@%u:%u", vg_id, pool_id, meta_major, meta_minor);
}

int tf_pool_open_live(struct tf_pool *p, const char *vg_pool, const struct tf_pool_opts *opts)
{
	const char *slash = strchr(vg_pool, '/');
	struct live *lv = calloc(1, sizeof(*lv));
	struct tf_lvm_vg *vg = NULL;
	const struct tf_lvm_pool *pool = NULL;
	char meta_dm[300];
	int rc;

	if (!lv)
		return tf_fail(ENOMEM, "%s: out of memory", vg_pool);
	p->kind = TF_POOL_LIVE;
	p->be = &live_backend;
	p->priv = lv;
	lv->opts = *opts;
	pthread_mutex_init(&lv->lock, NULL);
	pthread_mutex_init(&lv->meta_lock, NULL);
	snprintf(lv->vg, sizeof(lv->vg), "%.*s", (int)(slash - vg_pool), vg_pool);
	snprintf(lv->pool, sizeof(lv->pool), "%s", slash + 1);
	if ((rc = read_vg(lv->vg, &vg)) < 0)
		goto fail;
	for (size_t i = 0; i < vg->npools; i++)
		if (strcmp(vg->pools[i].name, lv->pool) == 0)
			pool = &vg->pools[i];
	if (!pool) {
		rc = tf_fail(ENOENT, "%s: volume group %s has no thin pool named %s", vg_pool,
			     lv->vg, lv->pool);
		goto fail;
	}
	snprintf(p->identity, sizeof(p->identity), "lvm:%s/%s", vg->id,
		 pool->id ? pool->id : pool->name);
	p->chunk_sectors = pool->chunk_sectors;
	if ((rc = tf_pool_set_lvs(p, vg, lv->pool, NULL)) < 0)
		goto fail;
	if ((rc = find_pool_dm(lv)) < 0)
		goto fail;
	if ((rc = tf_dm_lvm_name(lv->vg, pool->metadata_lv ? pool->metadata_lv : "", "", meta_dm,
				 sizeof(meta_dm))) < 0)
		goto fail;
	snprintf(lv->tmeta_path, sizeof(lv->tmeta_path), "/dev/mapper/%s", meta_dm);
	if ((rc = tf_bio_open_file(lv->tmeta_path, TF_BIO_DIRECT, &lv->meta)) < 0)
		goto fail;
	{
		struct stat ms = {0};
		stat(lv->tmeta_path, &ms);
		tf_pool_live_source_key(p->source_key, sizeof(p->source_key), vg->id,
					pool->id ? pool->id : pool->name, major(ms.st_rdev),
					minor(ms.st_rdev));
	}
	tf_lvm_free(vg);
	return 0;
fail:
	tf_lvm_free(vg);
	live_close(p);
	p->priv = NULL;
	p->be = NULL;
	return rc;
}
