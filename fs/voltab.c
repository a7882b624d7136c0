/* voltab.c — the in-memory table of volumes, built from the index, and
 * each volume's chunk map.
 *
 * A refresh builds a new table and swaps one pointer under tab_lock;
 * readers take a reference and never block a refresh, and open files keep
 * their own reference to the struct tf_vol they opened.  The read path
 * itself is core/vol/volume.c.
 */
#include "fs.h"
#include "ino.h"

#include "core/base/err.h"
#include "core/base/vec.h"
#include "core/pool/pool.h"
#include "core/vol/volume.h"
#include "index/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tf_vol_get(struct tf_vol *v)
{
	atomic_fetch_add(&v->refs, 1);
}

void tf_vol_put(struct tf_vol *v)
{
	if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	tf_volume_put(atomic_load(&v->volume));
	free(v->name);
	free(v->origin);
	free(v->lv_id);
	free(v);
}

static void voltab_free(struct tf_voltab *t)
{
	for (size_t i = 0; i < t->n; i++)
		tf_vol_put(t->by_name[i]);
	free(t->by_name);
	free(t->by_id);
	free(t);
}

struct tf_voltab *tf_voltab_get(struct tf_fs *fs)
{
	struct tf_voltab *t;

	pthread_mutex_lock(&fs->tab_lock);
	t = fs->tab;
	if (t)
		atomic_fetch_add(&t->refs, 1);
	pthread_mutex_unlock(&fs->tab_lock);
	return t;
}

void tf_voltab_put(struct tf_voltab *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1)
		voltab_free(t);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp((*(struct tf_vol *const *)a)->name, (*(struct tf_vol *const *)b)->name);
}

static int cmp_id(const void *a, const void *b)
{
	uint32_t x = (*(struct tf_vol *const *)a)->thin_id;
	uint32_t y = (*(struct tf_vol *const *)b)->thin_id;

	return x < y ? -1 : x > y;
}

static bool name_at_or_after(const void *elem, const void *key)
{
	return strcmp((*(struct tf_vol *const *)elem)->name, key) >= 0;
}

static bool id_at_or_after(const void *elem, const void *key)
{
	return (*(struct tf_vol *const *)elem)->thin_id >= *(const uint32_t *)key;
}

struct tf_vol *tf_voltab_by_name(struct tf_voltab *t, const char *name)
{
	size_t i =
	    tf_partition_point(t->by_name, t->n, sizeof(*t->by_name), name, name_at_or_after);

	return i < t->n && strcmp(t->by_name[i]->name, name) == 0 ? t->by_name[i] : NULL;
}

struct tf_vol *tf_voltab_by_id(struct tf_voltab *t, uint32_t thin_id)
{
	size_t i = tf_partition_point(t->by_id, t->n, sizeof(*t->by_id), &thin_id, id_at_or_after);

	return i < t->n && t->by_id[i]->thin_id == thin_id ? t->by_id[i] : NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Keeps the old entry (and its loaded chunk map) when nothing about the
 * device changed, so a refresh does not make open files reload. */
static struct tf_vol *vol_reuse(struct tf_voltab *old, const struct tf_ix_dev *d)
{
	struct tf_vol *v = old ? tf_voltab_by_id(old, d->thin_id) : NULL;

	if (!v || strcmp(v->name, d->name) != 0 || v->size_bytes != d->size_bytes ||
	    v->mapped_chunks != d->mapped_chunks || v->mapping_root != d->mapping_root ||
	    v->ctime != d->creation_time || strcmp(v->lv_id, d->lv_id ? d->lv_id : "") != 0)
		return NULL;
	if ((v->origin == NULL) != (d->origin == NULL) ||
	    (v->origin && strcmp(v->origin, d->origin) != 0))
		return NULL;
	tf_vol_get(v);
	return v;
}

static struct tf_vol *vol_new(const struct tf_ix_dev *d, uint64_t chunk_bytes, uint64_t tid)
{
	struct tf_vol *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	atomic_init(&v->refs, 1);
	v->thin_id = d->thin_id;
	v->name = strdup(d->name);
	v->origin = dup_or_null(d->origin);
	v->lv_id = strdup(d->lv_id ? d->lv_id : "");
	v->size_bytes = d->size_bytes;
	v->ctime = d->creation_time;
	v->mapped_chunks = d->mapped_chunks;
	v->mapping_root = d->mapping_root;
	v->chunk_bytes = chunk_bytes;
	v->tid = tid;
	if (!v->name || !v->lv_id || (d->origin && !v->origin)) {
		tf_vol_put(v);
		return NULL;
	}
	return v;
}

/* The kernel keeps the pages of snapshots across opens (volumes.c), and a
 * volume's inode number is its thin id, which a new device may reuse after
 * a delete.  So every thin id whose entry did not carry over unchanged (new,
 * gone, or another device now) has its cached pages dropped. */
static void drop_stale_pages(struct tf_fs *fs, struct tf_voltab *old, struct tf_voltab *t)
{
	size_t i = 0, j = 0;

	if (!fs->se || !old)
		return;
	while (i < old->n || j < t->n) {
		struct tf_vol *a = i < old->n ? old->by_id[i] : NULL;
		struct tf_vol *b = j < t->n ? t->by_id[j] : NULL;
		uint32_t id = !b || (a && a->thin_id < b->thin_id) ? a->thin_id : b->thin_id;

		if (!(a && b && a == b))
			fuse_lowlevel_notify_inval_inode(fs->se, tf_ino_make(TF_IC_VOLUME, id), 0,
							 0);
		if (a && a->thin_id == id)
			i++;
		if (b && b->thin_id == id)
			j++;
	}
}

int tf_fs_reload(struct tf_fs *fs)
{
	struct tf_voltab *t, *old;
	struct tf_ix_dev *devs = NULL;
	struct tf_ix_pool pool;
	size_t n = 0;
	int rc;

	pthread_mutex_lock(&fs->ix_lock);
	rc = tf_index_pool(fs->ix, &pool);
	if (rc == 0)
		rc = tf_index_devices(fs->ix, &devs, &n);
	pthread_mutex_unlock(&fs->ix_lock);
	if (rc < 0)
		return rc;

	t = calloc(1, sizeof(*t));
	if (!t || !(t->by_name = calloc(n ? n : 1, sizeof(*t->by_name))) ||
	    !(t->by_id = calloc(n ? n : 1, sizeof(*t->by_id)))) {
		if (t)
			free(t->by_name);
		free(t);
		tf_index_devices_free(devs, n);
		return tf_fail(ENOMEM, "volume table: out of memory");
	}
	atomic_init(&t->refs, 1);
	t->tid = pool.transaction_id;
	old = tf_voltab_get(fs);
	for (size_t i = 0; i < n; i++) {
		struct tf_vol *v = vol_reuse(old, &devs[i]);
		if (!v)
			v = vol_new(&devs[i], (uint64_t)pool.chunk_sectors * 512,
				    pool.transaction_id);
		if (!v) {
			tf_voltab_put(old);
			t->n = i;
			voltab_free(t);
			tf_index_devices_free(devs, n);
			return tf_fail(ENOMEM, "volume table: out of memory");
		}
		t->by_name[i] = t->by_id[i] = v;
		t->n = i + 1;
	}
	tf_voltab_put(old);
	tf_index_devices_free(devs, n);
	qsort(t->by_name, t->n, sizeof(*t->by_name), cmp_name);
	qsort(t->by_id, t->n, sizeof(*t->by_id), cmp_id);

	pthread_mutex_lock(&fs->tab_lock);
	old = fs->tab;
	fs->tab = t;
	pthread_mutex_unlock(&fs->tab_lock);
	drop_stale_pages(fs, old, t);
	tf_voltab_put(old);
	return 0;
}

int tf_vol_volume(struct tf_fs *fs, struct tf_vol *v, struct tf_volume **out)
{
	struct tf_volume_info in = {.thin_id = v->thin_id,
				    .name = v->name,
				    .size_bytes = v->size_bytes,
				    .chunk_bytes = v->chunk_bytes};
	struct tf_volume *vol = atomic_load(&v->volume), *none = NULL;
	struct tf_thin_run *runs = NULL;
	size_t n = 0;
	int rc;

	if (vol) {
		*out = vol;
		return 0;
	}
	/* Two first opens may both load; the first to publish wins.  No lock
	 * but the index connection's is held, and only for the query. */
	pthread_mutex_lock(&fs->ix_lock);
	rc = tf_index_extents(fs->ix, v->thin_id, &runs, &n);
	pthread_mutex_unlock(&fs->ix_lock);
	if (rc < 0)
		return tf_fail_ctx(rc, "volume %s: ", v->name);
	if ((rc = tf_volume_open(fs->pool, &in, runs, n, &vol)) < 0)
		return rc;
	if (!atomic_compare_exchange_strong(&v->volume, &none, vol)) {
		tf_volume_put(vol);
		vol = none;
	}
	*out = vol;
	return 0;
}
